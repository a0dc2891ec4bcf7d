/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The host side's one device handle, over any transport (in-process, vfio-user, the
 * kernel). Every operation of the migration uAPI; errors are negative errnos and the
 * reason, naming the device and the state, is left in vfm_handle_error().
 *
 * Threads: a handle and its sessions are used by one thread at a time; different
 * handles may be used from different threads.
 */
#ifndef VFIO_MIG_HANDLE_H
#define VFIO_MIG_HANDLE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "log.h"
#include "uapi.h"

struct vfm_handle;
struct vfm_session;

/* What a transport implements. Sessions are allocated by the transport and embed
 * struct vfm_session. */
struct vfm_handle_ops {
	const char *kind; /* "local", "vfio-user", "vfio", "vfio-group" */
	int (*get_flags)(struct vfm_handle *h, uint64_t *flags);
	int (*set_state)(struct vfm_handle *h, uint32_t state, struct vfm_session **opened);
	int (*get_state)(struct vfm_handle *h, uint32_t *state);
	int (*data_size)(struct vfm_handle *h, uint64_t *len);
	int (*reset)(struct vfm_handle *h);
	/* Raw VFIO_DEVICE_FEATURE (header + payload in buf, argsz from the header) for the
	 * conformance checker; *data_fd_session gets a session a SET opened. Optional. */
	int (*feature)(struct vfm_handle *h, void *buf, size_t buf_len,
		       struct vfm_session **opened);
	ssize_t (*read)(struct vfm_session *s, void *buf, size_t len);
	ssize_t (*write)(struct vfm_session *s, const void *buf, size_t len);
	/* *flags: the caller's flags field in, the device's out (never NULL). */
	int (*precopy_info)(struct vfm_session *s, uint64_t *initial, uint64_t *dirty,
			    uint32_t *flags);
	void (*session_close)(struct vfm_session *s);
	/* DMA logging, optional (NULL: -ENOTTY). */
	int (*log_start)(struct vfm_handle *h,
			 const struct vfm_device_feature_dma_logging_range *ranges, uint32_t n,
			 uint64_t *page_size);
	int (*log_stop)(struct vfm_handle *h);
	int (*log_report)(struct vfm_handle *h, uint64_t iova, uint64_t length, uint64_t page_size,
			  uint64_t *bitmap);
	/* The device's own words for its last failure ("" if it gave none). Optional. */
	void (*last_reason)(struct vfm_handle *h, char *buf, size_t len);
	/* The memory this client mapped for the device's DMA (vfio-user DMA_MAP, or the
	 * in-process region of local:...,dma=SIZE), if any: -ENOENT otherwise. The engine
	 * migrates it alongside the device. Optional. */
	int (*dma_memory)(struct vfm_handle *h, void **ptr, uint64_t *iova, uint64_t *size);
	/* The sample device's checksum, where the transport can read it. Optional. */
	int (*checksum)(struct vfm_handle *h, uint64_t *sum);
	void (*close)(struct vfm_handle *h);
	/* Zero copy, for a device in this process whose state lies in its memory
	 * (vfm_device_read_iov, vfm_device_write_at). Optional: NULL is -EOPNOTSUPP. */
	ssize_t (*read_iov)(struct vfm_session *s, struct iovec *iov, int *cnt, size_t len);
	ssize_t (*write_at)(struct vfm_session *s, void **at, size_t len);
};

#define VFM_ERR_LEN 512

struct vfm_handle {
	const struct vfm_handle_ops *ops;
	char name[128];
	char err[VFM_ERR_LEN];
	char why[256]; /* scratch for vfm_handle_explain() */
	struct vfm_logger log;
	uint32_t last_state; /* the last state read or set, for messages */
};

struct vfm_session {
	struct vfm_handle *h;
	bool saving; /* opened by an arc into the saving group */
};

/* Options for opening a device from a spec string. */
struct vfm_open_opts {
	struct vfm_logger log;
};

/*
 * Opens "local:testdev,...", "unix:PATH", "vfio:/dev/vfio/devices/vfioN" or
 * "vfio-group:/dev/vfio/N:NAME". 0 or a negative errno with the reason in err.
 */
int vfm_handle_open(const char *spec, const struct vfm_open_opts *opts, struct vfm_handle **out,
		    char *err, size_t errlen);
/*
 * The same, and a transport that waits on a peer (vfio-user) gives up a wait, from the
 * first one on, when *cancel is set (from a signal handler, say) and the peer has been
 * silent for a moment: the call fails with -ECANCELED. NULL: as vfm_handle_open().
 */
int vfm_handle_open_cancellable(const char *spec, const struct vfm_open_opts *opts,
				volatile sig_atomic_t *cancel, struct vfm_handle **out, char *err,
				size_t errlen);
void vfm_handle_close(struct vfm_handle *h);

/* For transports: fills the common fields. */
void vfm_handle_init(struct vfm_handle *h, const struct vfm_handle_ops *ops, const char *name,
		     const struct vfm_logger *log);

/* The handle's name in its messages (for vfm_handle_open(), the spec). */
const char *vfm_handle_name(const struct vfm_handle *h);
/* The reason for the handle's last failure, naming the device and the state. */
const char *vfm_handle_error(const struct vfm_handle *h);

/*
 * The migration uAPI, one call each; 0 or a negative errno with the reason in
 * vfm_handle_error(). get_flags: VFM_MIGRATION_*. set_state: SET MIG_DEVICE_STATE, *opened
 * gets the new session or NULL. get_state: GET MIG_DEVICE_STATE. data_size:
 * MIG_DATA_SIZE (the stop-copy length). reset: VFIO_DEVICE_RESET (the device is RUNNING
 * after it). feature: a raw VFIO_DEVICE_FEATURE (header and payload in buf), for the
 * conformance checker; -EOPNOTSUPP where the transport has none.
 */
int vfm_handle_get_flags(struct vfm_handle *h, uint64_t *flags);
int vfm_handle_set_state(struct vfm_handle *h, uint32_t state, struct vfm_session **opened);
int vfm_handle_get_state(struct vfm_handle *h, uint32_t *state);
int vfm_handle_data_size(struct vfm_handle *h, uint64_t *len);
int vfm_handle_reset(struct vfm_handle *h);
int vfm_handle_feature(struct vfm_handle *h, void *buf, size_t buf_len,
		       struct vfm_session **opened);
/* The data fd of a session: bytes read (0 at the end of the stream; in PRE_COPY, 0 or
 * -ENOMSG when there is nothing more for now) or written, or a negative errno. */
ssize_t vfm_session_read(struct vfm_session *s, void *buf, size_t len);
ssize_t vfm_session_write(struct vfm_session *s, const void *buf, size_t len);
/* Writes all of buf, retrying short writes. 0 or a negative errno. */
int vfm_session_write_all(struct vfm_session *s, const void *buf, size_t len);
/* Zero-copy read: the next bytes of the stream where the device holds them, in iov[0] to
 * iov[*cnt - 1] (*cnt: the room on entry, the entries used on return), up to len in all;
 * valid until the second read after this one, and until the next state change. Returns as
 * vfm_session_read(), or -EOPNOTSUPP: use vfm_session_read() for these bytes. */
ssize_t vfm_session_read_iov(struct vfm_session *s, struct iovec *iov, int *cnt, size_t len);
/* Zero-copy write: n (1 to len) and *at, the device's memory for its next n bytes (store
 * them there, then vfm_session_write_all() them from *at), or *at NULL: write those n
 * bytes from a buffer of your own. -EOPNOTSUPP: the device has no such place; a negative
 * errno on failure. */
ssize_t vfm_session_write_at(struct vfm_session *s, void **at, size_t len);
/* VFIO_MIG_GET_PRECOPY_INFO on the session (a PRE_COPY state only), with flags 0 and the
 * flags it returns ignored (pre-7.1 use). */
int vfm_session_precopy_info(struct vfm_session *s, uint64_t *initial, uint64_t *dirty);
/* The same with the flags field: *flags is sent and replaced by what the device returned.
 * Only meaningful after vfm_handle_precopy_v2() succeeded (doc/uapi-7.x.md): without the
 * opt-in a kernel echoes what was sent, our devices return 0. */
int vfm_session_precopy_info_flags(struct vfm_session *s, uint32_t *flags, uint64_t *initial,
				   uint64_t *dirty);
/* Opts in to VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 (SET of feature 12, Linux 7.1+): the
 * flags of the pre-copy info become output (VFM_PRECOPY_INFO_REINIT) for every later
 * session, until the device is closed. -ENOTTY from a device or kernel without it, -EINVAL
 * from a device without PRE_COPY. Leaves no error text: refusal is an answer. */
int vfm_handle_precopy_v2(struct vfm_handle *h);
/* Closes the data fd (NULL is fine); sessions are closed before their handle. */
void vfm_session_close(struct vfm_session *s);
/* DMA dirty logging (uAPI DMA_LOGGING_START / STOP / REPORT): -ENOTTY where the device
 * has none. report sets a bit per page of [iova, iova + length) written since the last
 * report. */
int vfm_handle_log_start(struct vfm_handle *h,
			 const struct vfm_device_feature_dma_logging_range *ranges, uint32_t n,
			 uint64_t *page_size);
int vfm_handle_log_stop(struct vfm_handle *h);
int vfm_handle_log_report(struct vfm_handle *h, uint64_t iova, uint64_t length, uint64_t page_size,
			  uint64_t *bitmap);
/* The sample device's checksum (vfm_testdev_checksum()), where the transport can read
 * it: -ENOTSUP otherwise. */
int vfm_handle_checksum(struct vfm_handle *h, uint64_t *sum);
/* The client memory mapped for the device's DMA: 0, or -ENOENT when there is none. */
int vfm_handle_dma_memory(struct vfm_handle *h, void **ptr, uint64_t *iova, uint64_t *size);
/* "errno text" or "errno text (device's reason)" for a failure rc of this handle. */
const char *vfm_handle_explain(struct vfm_handle *h, int rc, char *buf, size_t len);

/* Sets h->err (printf-style) and returns rc; used by transports and the engine. */
int vfm_handle_fail(struct vfm_handle *h, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The in-process transport: spec after "local:", e.g. "testdev,size=64M,seed=1". */
int vfm_local_open(const char *spec, const struct vfm_open_opts *opts, struct vfm_handle **out,
		   char *err, size_t errlen);
/* A handle onto any device of the device library (the caller keeps the device). */
struct vfm_device;
int vfm_local_wrap(struct vfm_device *dev, const char *name, const struct vfm_open_opts *opts,
		   struct vfm_handle **out);
/* The testdev behind a local handle (NULL for other transports). */
struct vfm_testdev *vfm_local_testdev(struct vfm_handle *h);

#endif /* VFIO_MIG_HANDLE_H */
