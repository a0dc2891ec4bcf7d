/* SPDX-License-Identifier: BSD-3-Clause */
/* Internal to the migration engine: what the source, the sinks and load share. */
#ifndef VFM_HOST_ENGINE_H
#define VFM_HOST_ENGINE_H

#include <pthread.h>

#include "vfio-mig/engine.h"

/* One run: options, statistics, error text, progress. Shared by the run's threads. */
struct run {
	const struct vfm_mig_opts *opts;
	struct vfm_mig_stats *stats;
	struct vfm_timeline *tl;
	pthread_mutex_t lock; /* err, stats, timeline samples, progress */
	char *err;
	size_t errlen;
	double t0;
	double t_stop;	/* first source left RUNNING (0 = not yet) */
	uint64_t total; /* expected bytes, for progress */
	double last_sample;
	enum vfm_phase phase;
	uint32_t round;
	double est_downtime_ms;
	struct vfm_tls *tls; /* the destination's credentials for its side channels */
};

void run_init(struct run *r, const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats,
	      char *err, size_t errlen);
void run_destroy(struct run *r);
int run_fail(struct run *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies the handle's error text into the run's. */
int run_fail_handle(struct run *r, int rc, struct vfm_handle *h);
bool run_cancelled(const struct run *r);
/* The run's timeout for silent peers and handshakes, in ms. */
int run_timeout_ms(const struct run *r);
/* Gives a channel the run's cancel flag and timeout. */
void run_chan(struct run *r, struct vfm_chan *ch);
void run_progress(struct run *r, enum vfm_phase phase);
/* The expected total: the bytes moved so far and `pending` more (any thread). */
void run_set_total(struct run *r, uint64_t pending);
/* Counts moved bytes (any thread) and reports progress. */
void run_moved(struct run *r, uint64_t bytes);
double run_elapsed(const struct run *r);
void run_finish(struct run *r, int rc);
/* Timeline entry of device i (a scratch entry when no timeline is kept). */
struct vfm_tl_device *run_tl_dev(struct run *r, size_t i);

/* Checks a device can migrate: GET MIGRATION, STOP_COPY present, state as expected.
 * Fills flags. */
int probe_device(struct run *r, struct vfm_handle *h, uint64_t *flags);
/* Stop-copy sizes of the sources; fills stats and returns the read buffer size. */
size_t plan_buffer(struct run *r, struct vfm_handle *const *devs, size_t n);
/* Sum of the devices' current stop-copy sizes (fallback for those that cannot tell). */
uint64_t pending_bytes(struct vfm_handle *const *devs, size_t n);
/* SET with a recover state, as QEMU's vfio_migration_set_state(): on failure SET the
 * recover state, and if that fails too (or recover is ERROR) reset the device. */
int set_state_recover(struct run *r, struct vfm_handle *h, uint32_t state, uint32_t recover,
		      struct vfm_session **opened);

/*
 * Reads a saving session on a helper thread until the (temporary) end of the stream or,
 * with a budget, after about that many bytes, while the calling thread hands each block
 * (len bytes in cnt pieces) to `sink`. A device that lends its bytes in place
 * (vfm_session_read_iov) is not copied: its pieces are handed on where they lie, with
 * one read ahead. Returns 0, or the first error.
 */
typedef int (*block_sink)(void *ctx, const struct iovec *iov, int cnt, size_t len);
int pump_session(struct run *r, struct vfm_session *src, size_t buf_size, uint64_t budget,
		 block_sink sink, void *ctx);

/*
 * Where a source's state goes: a stream (file or socket) or destination handles.
 * Calls come from the source's thread, except block/end_* during stop-copy, which come
 * from one thread per device when `parallel`.
 */
struct sink;
struct sink_ops {
	int (*setup)(struct sink *s, struct run *r, size_t n);
	int (*part_begin)(struct sink *s, size_t i);
	int (*block)(struct sink *s, size_t i, const struct iovec *iov, int cnt, size_t len);
	int (*part_end)(struct sink *s, size_t i, bool init_data_sent);
	/* Non-blocking: has the destination loaded device i's initial data? */
	int (*acked)(struct sink *s, size_t i, bool *yes);
	int (*end_begin)(struct sink *s, size_t i);
	int (*end_end)(struct sink *s, size_t i);
	/* The DMA memory of device i: announce it (the destination must have as much), and
	 * move a piece of it. */
	int (*ram_setup)(struct sink *s, size_t i, uint64_t iova, uint64_t size);
	int (*ram_block)(struct sink *s, size_t i, uint64_t iova, const void *buf, size_t len);
	/* All state sent: the destinations validate and start. */
	int (*complete)(struct sink *s);
	/* After a failure: the destinations are reset. */
	void (*abort)(struct sink *s);
	/* Optional: pre-copy moved nothing for a while; tell the destination we live. */
	int (*idle)(struct sink *s);
};

struct sink {
	const struct sink_ops *ops;
	struct run *r;
	bool parallel;
	/* stream sinks */
	struct vfm_chan *ch;
	bool control; /* the channel is a socket with a vfm_receive on the other end */
	/* switch-over ack: DEV_INIT_DATA_SENT markers sent and ACKs received per device; the
	 * initial data is confirmed when every marker has its ACK (a REINIT sends another
	 * marker, so a late ACK of the previous one does not count for the new data) */
	uint32_t announced[VFM_MAX_DEVICES], acks[VFM_MAX_DEVICES];
	/* side channels: device i's stop-copy data goes on side[i] */
	struct vfm_chan *side;
	size_t nr_side;
	bool side_active[VFM_MAX_DEVICES]; /* device i's stop-copy began (its thread's own) */
	uint8_t *bounce;		   /* DMA memory is copied here, checked and sent */
	size_t bounce_size;
	uint64_t main_bytes[VFM_MAX_DEVICES]; /* device bytes sent on the main channel */
	/* direct sinks */
	struct vfm_handle *const *dst;
	struct vfm_session *in[VFM_MAX_DEVICES];
	bool touched[VFM_MAX_DEVICES]; /* destinations this run changed */
	uint8_t *dst_ram[VFM_MAX_DEVICES];
	uint64_t dst_ram_iova[VFM_MAX_DEVICES], dst_ram_size[VFM_MAX_DEVICES];
	size_t n;
};

void sink_stream_init(struct sink *s, struct vfm_chan *ch, bool control);
/* Frees what a stream sink allocated. */
void sink_stream_destroy(struct sink *s);
/* Gives a stream sink one side channel per device for stop-copy (parallel). */
void sink_stream_sides(struct sink *s, struct vfm_chan *side, size_t n);

/* Side channels: at setup "VFMSIDE1" and be32 device; at stop-copy be64 bytes of that
 * device sent on the main channel before, then DEV_DATA_STATE blocks and END_OF_STATE.
 * Announced on the main channel, before their hellos, by a START section
 * "vfio-mig-channels" whose instance id is their number. */
#define SIDE_MAGIC     "VFMSIDE1"
#define SIDE_HELLO_LEN 12
#define CHANNELS_IDSTR "vfio-mig-channels"
#define CHANNELS_SID   0x2000u
void sink_direct_init(struct sink *s, struct vfm_handle *const *dst);

/* A device's DMA memory on the source side (src/host/ram.c). */
struct ram {
	bool present;
	bool logging; /* DMA dirty logging runs: pre-copy possible */
	void *ptr;
	uint64_t iova, size, page;
	uint64_t first_off; /* the first pass has sent [0, first_off) */
	uint64_t *bitmap;
	size_t words;
	uint64_t last_dirty; /* bytes of the last dirty pass: the estimate of the next */
	uint64_t bytes_sent;
};

/* The integrity check of a block of DMA memory in a stream: a 64-bit hash of its IOVA and
 * bytes (the stream carries it before the bytes). */
uint64_t ram_check(uint64_t iova, const void *buf, size_t len);

int ram_setup(struct run *r, struct vfm_handle *h, struct ram *ram, bool log);
int ram_round(struct run *r, struct vfm_handle *h, struct sink *sink, size_t i, struct ram *ram,
	      uint64_t budget, uint64_t *moved);
bool ram_initial_done(const struct ram *ram);
uint64_t ram_pending(const struct ram *ram);
/* After the device stopped: everything not sent yet, then the last dirty pages. */
int ram_final(struct run *r, struct vfm_handle *h, struct sink *sink, size_t i, struct ram *ram);
void ram_cleanup(struct vfm_handle *h, struct ram *ram);

/* The source side of every run: setup, pre-copy, switch-over, stop-copy, completion. */
int source_run(struct run *r, struct vfm_handle *const *devs, size_t n, struct sink *sink);

/* The destination side of a stream: load (and with `control`, answer on the socket);
 * side channels announced in the stream are accepted on listen_fd (-1: none allowed). */
int load_run(struct run *r, struct vfm_handle *const *devs, size_t n, struct vfm_chan *in,
	     bool control, int listen_fd);

#endif /* VFM_HOST_ENGINE_H */
