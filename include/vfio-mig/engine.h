/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The migration engine: what QEMU's VFIO migration does, for any handle. Save a device
 * into a stream, load it from one, or migrate straight from source handles to
 * destination handles. A failed or cancelled run leaves every source device RUNNING with
 * its state intact and every destination reset.
 *
 * Threads: one call runs on the calling thread (plus helper threads it starts and joins);
 * the handles it is given must not be used by others meanwhile. `cancel` may be set from
 * another thread or a signal handler.
 */
#ifndef VFIO_MIG_ENGINE_H
#define VFIO_MIG_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handle.h"
#include "log.h"
#include "stream.h"
#include "tls.h"

#define VFM_DEFAULT_BUF_SIZE (1u << 20)
#define VFM_MAX_BUF_SIZE     (64u << 20)
/* Pending-size estimate when a device cannot tell its stop-copy size (QEMU's value). */
#define VFM_STOP_COPY_SIZE_FALLBACK (100ull << 30)
#define VFM_MAX_DEVICES		    VFM_STREAM_MAX_SECTIONS

enum vfm_phase {
	VFM_PHASE_SETUP = 0,
	VFM_PHASE_PRECOPY,
	VFM_PHASE_STOP_COPY,
	VFM_PHASE_LOAD,
	VFM_PHASE_RESUME,
	VFM_PHASE_DONE,
	VFM_PHASE_NR,
};

/* "setup", "pre-copy", "stop-copy", "load", "resume", "done"; "?" out of range. */
const char *vfm_phase_name(enum vfm_phase p);

struct vfm_progress {
	enum vfm_phase phase;
	uint64_t bytes; /* bytes moved so far in this run */
	uint64_t total; /* expected total (an estimate; 0 if unknown) */
	double elapsed_s;
	double rate;		/* bytes/s measured over the run so far */
	uint32_t round;		/* pre-copy round */
	double est_downtime_ms; /* pre-copy: the estimate for stopping now */
};

/* What a run did, over time, for --json and the SVG report. Caller-owned, optional. */
#define VFM_TL_MAX_ROUNDS  2048
#define VFM_TL_MAX_SAMPLES 1024
#define VFM_TL_MAX_REINITS 16

struct vfm_tl_device {
	char name[128];
	bool precopy;	 /* went through PRE_COPY */
	bool precopy_v2; /* opted in to PRECOPY_INFOv2: its pre-copy info flags are read */
	/* seconds from the start of the run; 0 = did not happen. t_init_done is the last
	 * time the initial data was all sent (again after a REINIT). */
	double t_precopy, t_init_done, t_stop, t_stop_copy, t_stop_copy_end, t_running;
	double t_acked; /* the destination confirmed the latest initial data (switch-over ack) */
	uint64_t precopy_bytes, stop_copy_bytes;
	/* REINITs the device reported (new initial data, doc/uapi-7.x.md), the first
	 * VFM_TL_MAX_REINITS of them timed */
	uint32_t reinits;
	double t_reinit[VFM_TL_MAX_REINITS];
};

struct vfm_tl_round {
	double t;	  /* end of the round */
	uint64_t bytes;	  /* pre-copy bytes moved in the round */
	uint64_t pending; /* stop-copy bytes the devices still report */
	double bandwidth; /* bytes/s estimate after the round */
	double est_downtime_ms;
};

struct vfm_tl_sample {
	double t;
	uint64_t bytes; /* cumulative */
};

struct vfm_timeline {
	size_t nr_devices;
	struct vfm_tl_device dev[64];
	size_t nr_rounds;
	struct vfm_tl_round rounds[VFM_TL_MAX_ROUNDS];
	size_t nr_samples;
	struct vfm_tl_sample samples[VFM_TL_MAX_SAMPLES];
	double t_downtime_begin, t_downtime_end, t_total;
	double downtime_limit_ms;
	char result[256]; /* "ok" or the error */
};

typedef void (*vfm_progress_fn)(void *opaque, const struct vfm_progress *p);

struct vfm_mig_opts {
	size_t buf_size;   /* 0: MIN(1 MiB, stop-copy size), as QEMU does */
	bool keep_running; /* after a successful save, return the source to RUNNING */
	/* Live migration (vfm_migrate and vfm_save): */
	bool precopy;		    /* take devices with PRE_COPY through pre-copy first */
	uint32_t downtime_limit_ms; /* 0: 300 */
	uint32_t max_precopy_ms;    /* 0: 60000; then give up, or switch over with allow_overrun */
	bool allow_overrun;	    /* switch over even when the estimate exceeds the limit */
	bool allow_no_p2p;	    /* several devices although one lacks P2P */
	bool no_switchover_ack;	    /* do not wait for the destination's confirmation */
	bool single_channel;	    /* vfm_send_uri: no side channels for several devices */
	struct vfm_timeline *timeline; /* filled when set */
	struct vfm_logger log;
	vfm_progress_fn progress;
	void *progress_opaque;
	/* Set (by a signal handler, say): every wait ends within 100 ms, the run fails with
	 * -ECANCELED and the sources return to RUNNING. */
	volatile sig_atomic_t *cancel;
	/* vfm_send_uri (tcp: only) and vfm_receive_listen: TLS 1.3 on the main channel and
	 * every side channel with these credentials (vfio-mig/tls.h); the source's host name
	 * check defaults to the URI's host. NULL: in clear, and a TLS source is refused. */
	const struct vfm_tls_opts *tls;
	/* The longest the other end of a channel may stay silent, and the longest each
	 * handshake (READY, COMMIT, DONE) may take; 0: VFM_CHAN_TIMEOUT_MS. */
	uint32_t timeout_ms;
};

struct vfm_mig_stats {
	uint64_t bytes;		 /* device data bytes moved */
	uint64_t blocks;	 /* data blocks */
	uint64_t stop_copy_size; /* sum of the devices' reported stop-copy sizes */
	uint64_t pending_size;	 /* same, with the fallback for devices that cannot tell */
	size_t buf_size;	 /* read buffer used */
	double total_s;
	double downtime_s; /* first source leaves RUNNING .. last destination RUNNING */
	double stop_copy_s;
	double precopy_s;
	uint32_t rounds; /* pre-copy rounds */
	uint64_t precopy_bytes;
	double est_downtime_ms; /* the estimate at switch-over */
	uint32_t reinits;	/* REINITs reported in pre-copy, all devices */
};

/* Saves n devices into the channel. On success the sources are left STOP (as QEMU leaves a
 * migrated source) unless opts->keep_running. */
int vfm_save(struct vfm_handle *const *devs, size_t n, struct vfm_chan *out,
	     const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
	     size_t errlen);

/* Loads n devices from the channel (sections matched in order) and starts them. */
int vfm_load(struct vfm_handle *const *devs, size_t n, struct vfm_chan *in,
	     const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
	     size_t errlen);

/* Migrates src[i] to dst[i] directly, reading sources while writing destinations. */
int vfm_migrate(struct vfm_handle *const *src, struct vfm_handle *const *dst, size_t n,
		const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
		size_t errlen);

/*
 * Live migration over a channel to a `vfm_receive` on the other side (another process or
 * host): the stream goes out on `out`, the destination's answers (switch-over ack, ready,
 * done) come back on the same socket.
 */
int vfm_send(struct vfm_handle *const *devs, size_t n, struct vfm_chan *out,
	     const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
	     size_t errlen);
/* The destination of vfm_send: loads from `in` and answers on the same socket. */
int vfm_receive(struct vfm_handle *const *devs, size_t n, struct vfm_chan *in,
		const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
		size_t errlen);

/*
 * The same over a channel URI (tcp:HOST:PORT, sock:PATH): connects, and with several
 * devices opens one more connection per device, so that their stop-copy data moves in
 * parallel, in order per device.
 */
int vfm_send_uri(struct vfm_handle *const *devs, size_t n, const char *uri,
		 const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
		 size_t errlen);
/*
 * The destination of vfm_send_uri: accepts the migration on a listening socket (waiting at
 * most timeout_ms, < 0 forever), and its side channels when the stream announces them.
 * A connection refused before any device is touched (it fails the TLS checks of opts->tls,
 * opens with a TLS hello to a plain destination or in clear to a TLS one, says nothing
 * for the handshake's 10 s (or opts->timeout_ms when shorter), or closes) is logged at
 * VFM_LOG_WARN with the reason, closed, and the wait goes on for the next one, until
 * timeout_ms has passed since the call or opts->cancel is set.
 */
int vfm_receive_listen(struct vfm_handle *const *devs, size_t n, int listen_fd, int timeout_ms,
		       const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
		       size_t errlen);

/* Puts a source back to RUNNING after a failure: SET RUNNING, reset if that fails. */
int vfm_recover_source(struct vfm_handle *h);
/* Resets a destination after a failure. */
int vfm_recover_destination(struct vfm_handle *h);

#endif /* VFIO_MIG_ENGINE_H */
