/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vfio-user server's insides, shared by its files: server.c (lifecycle, connection,
 * dispatch), server-mig.c (version, features, migration data, reset), server-region.c
 * (device and region info, config space, BAR0), server-irq.c, server-dma.c.
 * Internal, not installed.
 */
#ifndef VFM_VU_SERVER_H
#define VFM_VU_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sock.h"
#include "vfio-mig/vfio-user.h"

struct vu_dma {
	uint64_t addr;
	uint64_t size;
	uint32_t flags; /* VFM_VU_DMA_F_* */
	void *map;	/* NULL: reached through DMA_READ / DMA_WRITE messages */
};

/* A DMA engine command, run after the reply to the write that started it. */
struct vu_dma_cmd {
	bool queued;
	uint32_t cmd; /* VFM_VU_DMA_CTRL_* */
	uint64_t addr, len;
};

/* One client connection (at most one at a time). */
struct vu_conn {
	bool active;
	struct vu_sock sock;
	bool negotiated;
	struct vfm_vu_caps peer; /* what the client proposed */
	bool ext;		 /* the client negotiated the vfio-mig extension */
	bool write_multi;
	struct vu_dma *dma;
	size_t nr_dma, cap_dma;
	int irq_fd[VFM_VU_PCI_NUM_IRQS][VFM_VU_MSIX_COUNT];
	bool intx_masked, intx_pending;
	bool logging;
	uint16_t next_id; /* for our DMA_READ / DMA_WRITE commands */
	bool in_dma;	  /* one of them is outstanding: requests are served meanwhile */
	struct vu_dma_cmd dma_cmd;
	bool broken; /* the stream lost sync during a DMA exchange */
};

/* A received command. */
struct vu_req {
	double t0; /* vfm_now() when its first byte arrived */
	struct vfm_vu_hdr hdr;
	uint8_t *body;
	size_t len;
	struct vu_fds fds;
};

struct vfm_vu_server {
	struct vfm_device *dev;
	struct vfm_testdev *td;
	struct vfm_dma *dma;
	struct vfm_logger log;
	uint32_t max_xfer, max_fds, max_dma_maps;
	bool no_ext;
	int listen_fd;
	char path[108];
	dev_t sock_dev;
	ino_t sock_ino;
	char err[VFM_ERR_LEN];
	struct vfm_vu_server_stats stats;
	struct vu_conn c;
	/* device model */
	uint8_t config[VFM_VU_CONFIG_SIZE];
	uint8_t config_wmask[VFM_VU_CONFIG_SIZE];
	uint8_t regs[VFM_VU_REG_END]; /* RW register shadow */
	uint8_t msix_table[VFM_VU_MSIX_COUNT * 16];
	uint8_t *dma_buf; /* the DMA engine's buffer, made on first use */
	/* buffers, grown on demand up to the negotiated maximum and kept */
	uint8_t *rx, *tx;
	size_t rx_cap, tx_cap;
};

#define VU_MSIX_TABLE 0x800u
#define VU_MSIX_PBA   0xc00u

/*
 * Handlers return a negative errno (the dispatcher sends the error reply), 0 after
 * sending their reply, VU_GONE when a send failed (the connection is over) or VU_CLOSE
 * when they answered and want the connection closed.
 */
#define VU_GONE	 1
#define VU_CLOSE 2

/*
 * A message once its first byte is here (or a reply to one of our commands once that is
 * sent) must keep coming: VU_MSG_IDLE_S without a byte, or VU_MSG_MAX_S in all, ends the
 * connection. Between messages a client may be silent as long as it likes.
 */
#define VU_MSG_IDLE_S 5.0
#define VU_MSG_MAX_S  60.0

/* server.c */
/* Reads len bytes of a message begun at t0 within those bounds, refusing other clients
 * meanwhile: 0, -ENODATA (the client left before a byte), -EPIPE, -ECANCELED (*stop),
 * -ETIMEDOUT, or another negative errno. */
int vu_recv_part(struct vfm_vu_server *srv, void *buf, size_t len, struct vu_fds *fds, double t0);
int vu_send_error(struct vfm_vu_server *srv, const struct vfm_vu_hdr *req, int rc);
int vu_buf_reserve(uint8_t **buf, size_t *cap, size_t need, size_t limit);
/* Reply with payload: 0 or VU_GONE. */
int vu_reply(struct vfm_vu_server *srv, const struct vu_req *rq, const void *payload, size_t len);
/* Sends tx[0 .. 16 + len) after filling its header as the reply to rq: 0 or VU_GONE. */
int vu_reply_tx(struct vfm_vu_server *srv, const struct vu_req *rq, size_t len);
int vu_fail(struct vfm_vu_server *srv, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Receives the body of a command whose header (with its descriptors, in rq->fds) was read
 * while a DMA request of ours is outstanding, handles it and replies. 0, or an error that
 * ends the connection.
 */
int vu_serve_nested(struct vfm_vu_server *srv, struct vu_req *rq);

/* server-mig.c */
int vu_handle_version(struct vfm_vu_server *srv, struct vu_req *rq);
int vu_handle_feature(struct vfm_vu_server *srv, struct vu_req *rq);
int vu_handle_mig_read(struct vfm_vu_server *srv, struct vu_req *rq);
int vu_handle_mig_write(struct vfm_vu_server *srv, struct vu_req *rq);
int vu_handle_reset(struct vfm_vu_server *srv, struct vu_req *rq);
/* Returns the device to RUNNING after a client left (a migrated source to STOP); stops
 * DMA logging the client started. */
void vu_recover_device(struct vfm_vu_server *srv);

/* server-region.c */
void vu_model_init(struct vfm_vu_server *srv);
int vu_handle_device_info(struct vfm_vu_server *srv, struct vu_req *rq);
int vu_handle_region_info(struct vfm_vu_server *srv, struct vu_req *rq);
int vu_handle_io_fds(struct vfm_vu_server *srv, struct vu_req *rq);
int vu_handle_region_read(struct vfm_vu_server *srv, struct vu_req *rq);
int vu_handle_region_write(struct vfm_vu_server *srv, struct vu_req *rq);
int vu_handle_write_multi(struct vfm_vu_server *srv, struct vu_req *rq);
/* Runs a queued DMA engine command: 0, or an error that ends the connection. */
int vu_run_deferred(struct vfm_vu_server *srv);

/* server-irq.c */
void vu_irq_init(struct vu_conn *c);
void vu_irq_close_all(struct vu_conn *c);
int vu_handle_irq_info(struct vfm_vu_server *srv, struct vu_req *rq);
int vu_handle_set_irqs(struct vfm_vu_server *srv, struct vu_req *rq);

/* server-dma.c */
int vu_handle_dma_map(struct vfm_vu_server *srv, struct vu_req *rq);
int vu_handle_dma_unmap(struct vfm_vu_server *srv, struct vu_req *rq);
void vu_dma_unmap_all(struct vfm_vu_server *srv);
/* true when every range lies in a mapping (n = 0: when any mapping exists). */
bool vu_dma_covers(const struct vu_conn *c, const struct vfm_vu_dma_logging_control *ctl,
		   const uint8_t *ranges);

#endif /* VFM_VU_SERVER_H */
