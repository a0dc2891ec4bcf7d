/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device side: a migratable device = the FSM + a data session + the author's
 * callbacks. The library walks the kernel's path arc by arc, owns the data session and
 * enforces the data-fd rules (uAPI doc sections 2 and 3.4), so a device author only says
 * what each arc, each saved byte and each restored byte means.
 *
 * Threads: every function here may be called from several threads at once; the device
 * serialises them with its own lock and calls the callbacks with that lock held (a
 * callback must not call back into the library for the same device).
 */
#ifndef VFIO_MIG_DEVICE_H
#define VFIO_MIG_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "log.h"
#include "uapi.h"

struct vfm_device;

struct vfm_device_ops {
	/* One arc of a path (from -> to), never a multi-step request. 0 on success or a
	 * negative errno; the device then stays in `from`. Setting *enter_error makes a
	 * failure move the device to ERROR (only a reset leaves it). Required. */
	int (*step)(void *opaque, uint32_t from, uint32_t to, bool *enter_error);
	/* Produce up to len bytes of the saved state of the current session. Returns the
	 * number of bytes (> 0), 0 when there is nothing more now (the end of the stream
	 * in STOP_COPY, the temporary end in PRE_COPY), or a negative errno. Required. */
	ssize_t (*save)(void *opaque, void *buf, size_t len);
	/* Consume restored bytes, in whatever segmentation they arrive. Returns len or a
	 * negative errno. Required. */
	ssize_t (*load)(void *opaque, const void *buf, size_t len);
	/* Estimated bytes still needed to complete stop-copy; callable in every state. */
	int (*data_size)(void *opaque, uint64_t *stop_copy_length);
	/* Pre-copy accounting (required when PRE_COPY is advertised). */
	int (*precopy_info)(void *opaque, uint64_t *initial_bytes, uint64_t *dirty_bytes);
	/* The same for a client that opted in to VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2
	 * (Linux 7.1, doc/uapi-7.x.md), with *reinit set when the device re-initialised since
	 * the last call: new initial data is on the stream, initial_bytes counts it from the
	 * current read position and dirty_bytes restarts from there. Optional: a device
	 * without it refuses the opt-in with ENOTTY, as a kernel before 7.1 does. */
	int (*precopy_info_v2)(void *opaque, uint64_t *initial_bytes, uint64_t *dirty_bytes,
			       bool *reinit);
	/* A device reset: the library has already ended any session and will set RUNNING.
	 * Optional. */
	int (*reset)(void *opaque);
	/* DMA logging; all three or none (none: the features answer ENOTTY). */
	int (*log_start)(void *opaque, const struct vfm_device_feature_dma_logging_range *ranges,
			 uint32_t nr_ranges, uint64_t *page_size);
	int (*log_stop)(void *opaque);
	/* Sets (never clears) bit (addr - iova) / page_size of bitmap for every page written
	 * since the last report, and forgets them. */
	int (*log_report)(void *opaque, uint64_t iova, uint64_t length, uint64_t page_size,
			  uint64_t *bitmap);
	/* Zero copy, for a device whose saved bytes lie in its own memory. Optional: as save,
	 * but the next bytes of the stream (up to len in all) are described where they lie,
	 * in iov[0] to iov[*cnt - 1] (*cnt: the room on entry, the entries used on return),
	 * and consumed. They must stay valid and unchanged until the second save_iov or
	 * save call after this one (so that a caller may read ahead by one while it sends)
	 * and until the next arc or reset. Returns their total (> 0), 0 as save does,
	 * -EOPNOTSUPP when the next bytes cannot be lent now (the caller uses save
	 * instead), or a negative errno. */
	ssize_t (*save_iov)(void *opaque, struct iovec *iov, int *cnt, size_t len);
	/* Zero copy for restoring. Optional: where the next restored bytes belong. Returns n
	 * (1 to len) and sets *at to the device's memory for the next n bytes, which the
	 * caller stores there and then hands to load at that very address (load must not
	 * copy them onto themselves); or sets *at to NULL: the next n bytes have no place of
	 * their own and reach load from the caller's buffer. A negative errno on failure. */
	ssize_t (*load_at)(void *opaque, void **at, size_t len);
};

/*
 * Deliberate uAPI violations, for testing conformance checkers (vfio-mig check) only: each
 * bit makes the device break exactly one rule of the uAPI doc. Never set outside tests.
 */
enum vfm_violation {
	VFM_VIOLATE_WRONG_PATH = 1u << 0,	      /* a multi-arc SET stops one arc short */
	VFM_VIOLATE_FD_ON_NON_OPENING_ARC = 1u << 1,  /* saving-group moves open a new session */
	VFM_VIOLATE_NO_FD_ON_OPENING_ARC = 1u << 2,   /* opening arcs open no session */
	VFM_VIOLATE_STREAM_NOT_ENDING = 1u << 3,      /* STOP_COPY reads never return 0 */
	VFM_VIOLATE_SESSION_SURVIVES_RESET = 1u << 4, /* reset leaves the session open */
	VFM_VIOLATE_SESSION_SURVIVES_ARC = 1u << 5,   /* ending arcs leave the session open */
	VFM_VIOLATE_ENOMSG_IN_STOP_COPY = 1u << 6,    /* STOP_COPY's end reads -ENOMSG */
	VFM_VIOLATE_PRECOPY_GROWS = 1u << 7,	      /* initial_bytes grows while reading */
	VFM_VIOLATE_ACCEPT_INVALID_DATA = 1u << 8,    /* load errors and RESUMING->STOP
							 refusals are ignored */
	VFM_VIOLATE_RESET_NOT_RUNNING = 1u << 9,      /* reset leaves the device in STOP */
	VFM_VIOLATE_REFUSED_ARC_ACCEPTED = 1u << 10,  /* STOP_COPY->PRE_COPY(_P2P) is taken */
	VFM_VIOLATE_FEATURE_PRECEDENCE = 1u << 11,    /* GET|SET without PROBE is accepted */
	VFM_VIOLATE_REINIT_WITHOUT_OPT_IN = 1u << 12, /* REINIT reported to a client that
							 did not opt in */
	VFM_VIOLATE_REINIT_NO_INITIAL = 1u << 13,     /* initial_bytes 0 with REINIT */
	VFM_VIOLATE_PRECOPY_V2_GET = 1u << 14,	      /* PRECOPY_INFOv2 takes GET */
	VFM_VIOLATE_PRECOPY_FLAGS_ECHO = 1u << 15,    /* after the opt-in the caller's
							 flags come back */
};

struct vfm_device_config {
	const char *name;	 /* for traces and errors */
	uint64_t flags;		 /* VFM_MIGRATION_*; STOP_COPY is required */
	bool precopy_end_enomsg; /* temporary end in PRE_COPY: true = -ENOMSG (the "should"
				     of the uAPI), false = 0 (as mtty does) */
	uint32_t violations;	 /* enum vfm_violation bits; 0 for a conforming device */
	struct vfm_logger log;
};

/* A session id: 0 = none; each session opened gets a new, never reused id. */
typedef uint64_t vfm_session_id;

/* Creates a device in RUNNING; opaque is handed to every callback. The config is copied;
 * ops must outlive the device. -EINVAL without STOP_COPY in flags, without step, save or
 * load, without precopy_info for PRE_COPY, or with only some of the log_* callbacks;
 * -ENOMEM. */
int vfm_device_create(const struct vfm_device_config *cfg, const struct vfm_device_ops *ops,
		      void *opaque, struct vfm_device **out);
/* Frees the device (NULL is fine); no other thread may be using it. */
void vfm_device_destroy(struct vfm_device *dev);

/* The VFM_MIGRATION_* flags the device was created with. */
uint64_t vfm_device_flags(const struct vfm_device *dev);
/* The deliberate violations the device was created with (enum vfm_violation). */
uint32_t vfm_device_violations(const struct vfm_device *dev);
/* The config's name (a copy kept by the device). */
const char *vfm_device_name(const struct vfm_device *dev);

/* SET MIG_DEVICE_STATE: runs the kernel's path. On success *opened is the id of the
 * session the last arc opened, or 0. On failure the device is in the last state reached
 * (or ERROR when a callback asked for it) and *opened is 0. Refusals: -EINVAL. */
int vfm_device_set_state(struct vfm_device *dev, uint32_t target, vfm_session_id *opened);
uint32_t vfm_device_get_state(struct vfm_device *dev);
/*
 * Whether the device is the source of a completed migration: its STOP_COPY stream was
 * read to the end, then it went STOP. The fact belongs to the device, not to whoever
 * drove it: it lasts through later stopped states (STOP, STOP_COPY: a save begun again
 * and cut keeps it) until an explicit act says otherwise: a SET into a running state
 * (RUNNING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P), into RESUMING (a load), or a reset.
 * Transports never run such a device on their own (a client that leaves it, for one).
 */
bool vfm_device_migrated(struct vfm_device *dev);
int vfm_device_data_size(struct vfm_device *dev, uint64_t *len);

/* The data fd: -ENODEV once the session has ended, -EBADF for the wrong direction. */
ssize_t vfm_device_read(struct vfm_device *dev, vfm_session_id sid, void *buf, size_t len);
ssize_t vfm_device_write(struct vfm_device *dev, vfm_session_id sid, const void *buf, size_t len);
/* The zero-copy forms of the two (the save_iov and load_at callbacks, with the same
 * session checks): -EOPNOTSUPP when the device has no such callback, or for read_iov
 * when the device was made to violate the uAPI (its reads then go through read). */
ssize_t vfm_device_read_iov(struct vfm_device *dev, vfm_session_id sid, struct iovec *iov, int *cnt,
			    size_t len);
ssize_t vfm_device_write_at(struct vfm_device *dev, vfm_session_id sid, void **at, size_t len);
/* VFIO_MIG_GET_PRECOPY_INFO: -EINVAL outside PRE_COPY states, -ENODEV for a dead session.
 * flags (may be NULL) holds the caller's flags field on entry and the device's on return:
 * 0 unless the client opted in to PRECOPY_INFOv2, then VFM_PRECOPY_INFO_REINIT when the
 * device re-initialised since the last call. */
int vfm_device_precopy_info(struct vfm_device *dev, vfm_session_id sid, uint64_t *initial,
			    uint64_t *dirty, uint32_t *flags);
/* Whether the client opted in to PRECOPY_INFOv2 (feature 12 SET). */
bool vfm_device_precopy_v2(struct vfm_device *dev);
/* The client that opened the device is gone (vfio-user disconnect, local handle closed):
 * its opt-ins end, as the kernel clears them at the device's last close. */
void vfm_device_client_closed(struct vfm_device *dev);
/* The session currently open (0 if none). */
vfm_session_id vfm_device_session(struct vfm_device *dev);

/* VFIO_DEVICE_RESET: ends any session, state RUNNING. */
int vfm_device_reset(struct vfm_device *dev);

/* From inside a callback: the human reason for the error it is about to return, kept
 * until the next failing call and offered to the host side with the errno. */
void vfm_device_reason(struct vfm_device *dev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The reason given for the last failure ("" if none), copied into buf. */
void vfm_device_last_reason(struct vfm_device *dev, char *buf, size_t len);

/* Moves the device to ERROR asynchronously (a device failure), ending any session. */
void vfm_device_fail(struct vfm_device *dev);

/*
 * VFIO_DEVICE_FEATURE with the kernel core's exact checks and their precedence (uAPI doc
 * 1.2): buf holds the 8-byte header and the payload, buf_len is how many bytes of buf are
 * valid and writable. Where the kernel passes user pointers, this takes the data inline:
 * DMA_LOGGING_START's ranges follow the kernel's 24-byte control (the vfio-user server
 * converts from the wire, where they start at offset 16), and DMA_LOGGING_REPORT writes
 * the bitmap after the 24-byte {iova, length, page_size} request. MIG_PRECOPY_INFOv2 (12)
 * follows Linux 7.3: EINVAL without PRE_COPY, SET only, no payload, ENOTTY for a device
 * without the precopy_info_v2 callback (as 6.12). *reply_len is set to the bytes of buf
 * that form the reply. For a SET of
 * MIG_DEVICE_STATE that opens a session, *opened gets its id (data_fd is written as -1).
 */
int vfm_device_feature(struct vfm_device *dev, void *buf, size_t buf_len, size_t *reply_len,
		       vfm_session_id *opened);

#endif /* VFIO_MIG_DEVICE_H */
