/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user transport: a server that exports one struct vfm_device over a UNIX socket,
 * and a client that is a struct vfm_handle over such a socket ("unix:PATH").
 *
 * Wire format and codec: vfio-user-proto.h. Our extension to the protocol (MIG_DATA_SIZE
 * and pre-copy info as device features, negotiated in VERSION): src/vfio-user/EXTENSIONS.md.
 *
 * Threads: a server is driven by one thread (the one in vfm_vu_server_run() or
 * vfm_vu_server_serve_fd()); the exported device may be used by other threads meanwhile
 * (it has its own lock). A client handle follows handle.h: one thread at a time.
 */
#ifndef VFIO_MIG_VFIO_USER_H
#define VFIO_MIG_VFIO_USER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "handle.h"
#include "log.h"
#include "testdev.h"
#include "vfio-user-proto.h"

/*
 * The PCI identity the server puts in config space. Not registered with the PCI-SIG:
 * these are test identities for software devices; do not hand them to a real guest
 * driver. The device id tells a client whether BAR0 carries the sample device's
 * registers (the client's checksum operation relies on it).
 */
#define VFM_VU_PCI_VENDOR	  0x4d56u /* "VM" */
#define VFM_VU_PCI_DEVICE	  0x4d47u /* "MG": any vfm_device */
#define VFM_VU_PCI_DEVICE_TESTDEV 0x5444u /* "TD": a vfm_testdev, registers in BAR0 */

/* BAR0 register map (little-endian; read-only unless marked). */
#define VFM_VU_BAR0_SIZE      4096u
#define VFM_VU_REG_MAGIC      0x00 /* u32 "VFMT" = 0x544d4656 */
#define VFM_VU_REG_VERSION    0x04 /* u32 1 */
#define VFM_VU_REG_CHECKSUM   0x08 /* u64 vfm_testdev_checksum(), computed on read */
#define VFM_VU_REG_STATE_SIZE 0x10 /* u64 state bytes */
#define VFM_VU_REG_DIRTY_RATE 0x18 /* u64 RW workload bytes/s (vfm_testdev_set_dirty_rate) */
#define VFM_VU_REG_WRITTEN    0x20 /* u64 bytes the workload wrote */
#define VFM_VU_REG_MIG_STATE  0x28 /* u32 current migration state */
#define VFM_VU_REG_DMA_ADDR   0x40 /* u64 RW client address for the DMA engine */
#define VFM_VU_REG_DMA_LEN    0x48 /* u64 RW length (at most VFM_VU_DMA_ENGINE_MAX) */
/* DMA_CTRL (u32, write): 1 = read [addr, addr + len) and hash it into DMA_RESULT,
 * 2 = write byte i = i * 7 + 1 to [addr, addr + len). The command runs after the write
 * is answered (DMA_STATUS reads EINPROGRESS until it is done); a second command while
 * one is queued is refused with EBUSY. Writes into shared memory are DMA-logged. */
#define VFM_VU_REG_DMA_CTRL   0x50
#define VFM_VU_REG_DMA_STATUS 0x54 /* u32 0, EINPROGRESS, or the errno of the last command */
#define VFM_VU_REG_DMA_RESULT 0x58 /* u64 vfm_testdev_hash() of the bytes read */
#define VFM_VU_REG_IRQ	      0x60 /* u32 W: 0 = raise INTx, 1 + n = MSI-X vector n */
#define VFM_VU_REG_END	      0x68
#define VFM_VU_MAGIC	      0x544d4656u
#define VFM_VU_DMA_CTRL_READ  1u
#define VFM_VU_DMA_CTRL_WRITE 2u
#define VFM_VU_DMA_ENGINE_MAX (1u << 20)
#define VFM_VU_MSIX_COUNT     4u
#define VFM_VU_CONFIG_SIZE    256u

/* ---- server ---- */

struct vfm_vu_server;

struct vfm_vu_server_opts {
	struct vfm_logger log;
	/* Optional: the sample device behind dev; adds its registers to BAR0. */
	struct vfm_testdev *testdev;
	/* Optional: the device's DMA; the client's file-backed DMA_MAPs are mirrored into it
	 * (vfm_dma_map), so the device can write client memory and log what it writes. */
	struct vfm_dma *dma;
	uint32_t max_data_xfer_size; /* 0: VFM_VU_OUR_MAX_XFER; at most VFM_VU_HARD_MAX_XFER */
	uint32_t max_msg_fds;	     /* 0: VFM_VU_OUR_MAX_FDS */
	uint32_t max_dma_maps;	     /* 0: VFM_VU_OUR_MAX_DMA_MAPS */
	bool no_extensions;	     /* behave as a plain vfio-user server (for tests) */
};

struct vfm_vu_server_stats {
	uint64_t clients;	/* connections served */
	uint64_t rejected;	/* connections refused while one was active */
	uint64_t messages;	/* commands handled */
	uint64_t errors;	/* error replies sent */
	uint64_t bytes_read;	/* MIG_DATA_READ payload bytes */
	uint64_t bytes_written; /* MIG_DATA_WRITE payload bytes */
	uint64_t recoveries;	/* disconnects that had to return the device to RUNNING */
};

/* dev is not owned; it must outlive the server. 0 or a negative errno with the reason. */
int vfm_vu_server_create(struct vfm_device *dev, const struct vfm_vu_server_opts *opts,
			 struct vfm_vu_server **out, char *err, size_t errlen);
/* Closes any client and the listener, removing the socket file if it is still ours. */
void vfm_vu_server_destroy(struct vfm_vu_server *srv);

/* Listens on path (created mode 0600, connectable from the moment it exists). */
int vfm_vu_server_listen(struct vfm_vu_server *srv, const char *path);
/* Uses an already-listening socket (e.g. the spec's --fd=N); the server owns it now. */
int vfm_vu_server_listen_fd(struct vfm_vu_server *srv, int fd);

/*
 * Serves clients one at a time until *stop becomes non-zero (checked at least every
 * 200 ms, and at once when a signal interrupts the wait). A connection arriving while
 * another is active is closed at once, also while a message is being received. On return
 * the listener is closed and the socket file removed. 0 when stopped, or a negative errno
 * for a listener failure.
 *
 * What a client can do to the server is bounded. A client may be silent between messages
 * as long as it likes, but once the first byte of a message has arrived (or one of our
 * DMA commands is sent) the rest (the reply) must follow: 5 s without a byte, or 60 s in
 * all, drops the client (-ETIMEDOUT; its device recovered as on any disconnect). All its
 * DMA mappings together, file-backed or not, hold at most VFM_VU_OUR_MAX_DMA_BYTES, so a
 * dirty-logging report costs one pass over at most a 32 MiB bitmap. A client that shrinks
 * a file it mapped makes the DMA into it fail with EFAULT, not the server: the first DMA
 * access installs a SIGBUS handler that catches faults in the server's copies to and
 * from client memory and leaves every other SIGBUS to the handler installed before it.
 */
int vfm_vu_server_run(struct vfm_vu_server *srv, volatile sig_atomic_t *stop);

/*
 * Serves one connected socket (the server takes ownership of fd) until the client
 * leaves, the connection breaks, or *stop (may be NULL) is set; then undoes the client's
 * DMA mappings and IRQ descriptors and returns the device to RUNNING with its state
 * intact; a migrated source (vfm_device_migrated()) is left STOP instead. 0 for a client that left, -ECANCELED if stopped, or a negative errno for a
 * connection dropped for a protocol error (reason in vfm_vu_server_error()).
 */
int vfm_vu_server_serve_fd(struct vfm_vu_server *srv, int fd, volatile sig_atomic_t *stop);

/* The reason for the server's last failure. */
const char *vfm_vu_server_error(const struct vfm_vu_server *srv);
/* The socket path it listens on ("" for a socket given by fd). */
const char *vfm_vu_server_path(const struct vfm_vu_server *srv);
/* A copy of the counters (struct vfm_vu_server_stats). */
void vfm_vu_server_get_stats(const struct vfm_vu_server *srv, struct vfm_vu_server_stats *st);

/*
 * For device code running in the serving thread between messages: access client memory
 * through the client's DMA mappings (a mapped file, through opts.dma when given so writes
 * are logged, or DMA_READ/DMA_WRITE messages for mappings without one; requests the
 * client sends while such a message waits for its answer are served meanwhile). 0,
 * -ENOENT outside every mapping, -EACCES against the mapping's permissions, -EFAULT from
 * opts.dma, -EBUSY when called from a request served during such a wait, -ENOTCONN with
 * no client.
 */
int vfm_vu_server_dma_read(struct vfm_vu_server *srv, uint64_t addr, void *buf, size_t len);
int vfm_vu_server_dma_write(struct vfm_vu_server *srv, uint64_t addr, const void *buf, size_t len);
/* Signals an interrupt: index VFM_VU_PCI_INTX_IRQ or VFM_VU_PCI_MSIX_IRQ, vector sub.
 * 0, or -ENOENT when the client has set no eventfd for it (-EAGAIN when masked). */
int vfm_vu_server_irq(struct vfm_vu_server *srv, uint32_t index, uint32_t sub);

/* ---- client ---- */

struct vfm_vu_client_opts {
	struct vfm_logger log;
	uint32_t max_data_xfer_size; /* proposed; 0: VFM_VU_OUR_MAX_XFER */
	bool no_extensions;	     /* do not propose or use the vfio-mig extension */
};

/* Bytes of data per MIG_DATA_WRITE / REGION_WRITE to a server that does not echo the
 * vfio-mig extension (the spec option chunk=SIZE overrides; never above the server's
 * max_data_xfer_size; a server with the extension reads whole messages and gets its
 * max_data_xfer_size). libvfio-user reads a message body with one recv(), so a body must
 * arrive in one piece (one UNIX socket buffer of about 36 KiB on Linux); 32 KiB bodies
 * were the largest that never desynchronised it. */
#define VFM_VU_PLAIN_WRITE_CHUNK (32u << 10)
/* A request whose reply sees no byte for this long fails with -ETIMEDOUT and the
 * connection is dropped (the spec option timeout=SECONDS overrides). */
#define VFM_VU_DEFAULT_TIMEOUT_MS 30000u
/* Servers offering less than this per message are refused (a register read, a page of
 * dirty bitmap must fit). */
#define VFM_VU_MIN_SERVER_XFER 4096u

/*
 * The "unix:PATH[,OPT...]" transport (path with or without the "unix:" prefix): connects,
 * negotiates the version (max_data_xfer_size >= 1 MiB proposed at 4 MiB), reads the
 * device's identity and probes the extension. Options: dma=SIZE (client memory mapped
 * for the device's DMA), timeout=SECONDS (VFM_VU_DEFAULT_TIMEOUT_MS), chunk=SIZE
 * (VFM_VU_PLAIN_WRITE_CHUNK). 0 or a negative errno with the reason.
 */
int vfm_vu_open(const char *path, const struct vfm_open_opts *opts, struct vfm_handle **out,
		char *err, size_t errlen);
/*
 * The same, and every wait on the server, from the first, ends when *cancel is set (from
 * a signal handler, say) and the server has been silent for 200 ms: the call fails with
 * -ECANCELED and the connection is dropped; a server that answers finishes its reply
 * first, so the device can still be recovered. NULL: never.
 */
int vfm_vu_open_cancellable(const char *path, const struct vfm_open_opts *opts,
			    volatile sig_atomic_t *cancel, struct vfm_handle **out, char *err,
			    size_t errlen);
/* Same over a connected socket (owned by the handle from now on, even on failure). */
int vfm_vu_open_fd(int fd, const char *name, const struct vfm_vu_client_opts *opts,
		   struct vfm_handle **out, char *err, size_t errlen);

/* What a client negotiated; -EINVAL if h is not a vfio-user handle. */
struct vfm_vu_client_info {
	uint16_t major, minor;
	struct vfm_vu_caps server_caps; /* as the server replied */
	uint32_t max_write;		/* bytes per MIG_DATA_WRITE / REGION_WRITE */
	uint32_t max_read;		/* bytes per MIG_DATA_READ / REGION_READ */
	bool mig_data_size;		/* extension usable */
	bool precopy_info;
	bool precopy_flags; /* ... and it carries the flags field (EXTENSIONS.md) */
	bool testdev;	    /* BAR0 carries the sample registers */
	uint16_t vendor, device;
};
/* Fills info for a vfio-user handle: 0, or -EINVAL for another kind of handle. */
int vfm_vu_client_info(struct vfm_handle *h, struct vfm_vu_client_info *info);

/*
 * DEVICE_RESET and nothing more. vfm_handle_reset() on a vfio-user handle also finishes
 * a reset that a server leaves in RESUMING (libvfio-user keeps the migration state
 * across DEVICE_RESET): it moves the device RESUMING -> STOP -> RUNNING, as the spec's
 * reset would have. This one does not, for checkers. -EINVAL if h is not a vfio-user
 * handle.
 */
int vfm_vu_device_reset(struct vfm_handle *h);

/* Raw register access through REGION_READ / REGION_WRITE (count up to max_read/write). */
int vfm_vu_region_read(struct vfm_handle *h, uint32_t region, uint64_t offset, void *buf,
		       uint32_t count);
int vfm_vu_region_write(struct vfm_handle *h, uint32_t region, uint64_t offset, const void *buf,
			uint32_t count);

/*
 * Exports client memory to the server (DMA_MAP with fd as SCM_RIGHTS; the server mmap()s
 * [offset, offset + size) of the file at iova; flags VFM_VU_DMA_F_READ / _WRITE). Needed
 * before DMA logging, which refers to mapped IOVA ranges. The caller keeps its fd.
 * The client serves no DMA_READ / DMA_WRITE requests: only file-backed memory is exported.
 */
int vfm_vu_dma_map(struct vfm_handle *h, uint64_t iova, uint64_t size, uint32_t flags, int fd,
		   uint64_t offset);
int vfm_vu_dma_unmap(struct vfm_handle *h, uint64_t iova, uint64_t size);

#endif /* VFIO_MIG_VFIO_USER_H */
