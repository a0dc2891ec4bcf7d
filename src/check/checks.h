/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside the conformance checker: the run's context, the result of each check, and the
 * helpers the checks share (reaching states, bounded reads, probes of sessions, loading a
 * stream). Not installed.
 */
#ifndef VFM_CHECK_CHECKS_H
#define VFM_CHECK_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vfio-mig/check.h"
#include "vfio-mig/fsm.h"
#include "vfio-mig/handle.h"

/* The checks, in the order they run and are reported (run.c holds their text). */
enum ck_id {
	CK_STATE_INITIAL,
	CK_FEAT_ARGSZ,
	CK_FEAT_FLAGS,
	CK_FEAT_PRECEDENCE,
	CK_FEAT_MIGRATION,
	CK_FEAT_MIG_STATE,
	CK_FEAT_DATA_SIZE,
	CK_FEAT_UNKNOWN,
	CK_FSM_INVALID,
	CK_FSM_SAME,
	CK_FSM_PATH,
	CK_FSM_DATA_FD,
	CK_FSM_SESSION_END,
	CK_FSM_SESSION_KEPT,
	CK_FSM_REFUSED,
	CK_STREAM_END,
	CK_STREAM_NO_ENOMSG,
	CK_STREAM_PRECOPY_END,
	CK_PRECOPY_INFO,
	CK_PRECOPY_FLAGS_V1,
	CK_FEAT_PRECOPY_V2,
	CK_PRECOPY_FLAGS_V2,
	CK_PRECOPY_REINIT,
	CK_STREAM_CONTINUOUS,
	CK_RESUME_SEGMENTS,
	CK_RESUME_INVALID,
	CK_RESUME_INCOMPLETE,
	CK_RESET_RUNNING,
	CK_RESET_KILLS,
	CK_DATA_SIZE_EVERY,
	CK_ROUNDTRIP,
	CK_FINAL_RUNNING,
	CK_NR
};

#define CK_TEXT 400

struct ck_res {
	enum vfm_check_verdict verdict;
	bool selected;
	unsigned checked;    /* observations made */
	unsigned fails;	     /* observations that broke a "must" */
	unsigned unverified; /* parts that could not run */
	bool listed;	     /* every failure's text is in detail (ck_fail_also) */
	char detail[CK_TEXT];
	char note[CK_TEXT / 2];
	char unverified_why[CK_TEXT / 2];
};

struct ck_buf {
	uint8_t *p;
	size_t len, cap;
	size_t max; /* growth stops here (0: none); set by ck_read_stream() */
};

#define CK_BAG 32

struct ck {
	struct vfm_handle *dev, *peer;
	const struct vfm_check_opts *opts;
	uint64_t flags, peer_flags;
	uint64_t cap;	       /* bytes read from one session at most */
	bool sessions_visible; /* session objects are the device's own (not vfio-user) */
	/* A vfio-user device, judged by vfio-user's rules: data_fd unused, MIG_DATA_SIZE and
	 * pre-copy info only when the server offers them (vfio-mig's extension). */
	bool vu;
	bool vu_data_size, vu_precopy_info, vu_precopy_flags;
	bool broken;			 /* dev could not be brought back to RUNNING */
	struct vfm_session *bag[CK_BAG]; /* sessions to close after the current check */
	size_t nbag;
	/* The device's own STOP_COPY stream, captured once, for loading. */
	struct ck_buf ref;
	bool ref_tried, ref_ok, ref_has_sum;
	uint64_t ref_sum;
	char ref_why[CK_TEXT / 2];
	struct ck_res res[CK_NR];
	char why[CK_TEXT];	   /* what the last failing helper said */
	char errs[4][CK_TEXT / 2]; /* ck_err()'s rotating buffers */
	unsigned next_err;
	uint8_t scratch[4096];
};

/* ---- results (run.c) ---- */
bool ck_wanted(const struct ck *c, enum ck_id id);
bool ck_cancelled(const struct ck *c);
/* One observation that conforms. */
void ck_ok(struct ck *c, enum ck_id id);
/* One observation that breaks a "must": the first one's text is kept. */
void ck_fail(struct ck *c, enum ck_id id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same, its text added to the first one's (for a check that lists what it saw). */
void ck_fail_also(struct ck *c, enum ck_id id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A "should" broken or a documented quirk (kept unless something FAILs). */
void ck_warn(struct ck *c, enum ck_id id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The check cannot run here at all. */
void ck_skip(struct ck *c, enum ck_id id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A part that could not run because something else broke. */
void ck_unverified(struct ck *c, enum ck_id id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A short note shown with PASS. */
void ck_note(struct ck *c, enum ck_id id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- reaching states and sessions (walk.c) ---- */
/* Copies src into dst (len bytes), cut if need be. */
void ck_copy(char *dst, size_t len, const char *src);
/* errno text with the device's reason, valid for the next three calls. */
const char *ck_err(struct ck *c, struct vfm_handle *h, int rc);
/* GET; on failure c->why says so. */
int ck_get(struct ck *c, struct vfm_handle *h, uint32_t *state);
/* Moves h to target one arc at a time along the kernel's path, checking each arc with
 * GET; *opened (may be NULL) gets the session the last arc opened, kept in the bag. */
int ck_walk(struct ck *c, struct vfm_handle *h, uint64_t flags, uint32_t target,
	    struct vfm_session **opened);
/* Back to RUNNING: arcs by SET, else VFIO_DEVICE_RESET (and arcs again if the reset left
 * another state). 0 or -EIO with c->why. */
int ck_recover(struct ck *c, struct vfm_handle *h, uint64_t flags);
/* Sessions: kept until ck_close_all() (after every check, by the runner). */
void ck_keep(struct ck *c, struct vfm_session *s);
void ck_close_all(struct ck *c);
/* SET as one request; *opened (may be NULL) gets the new session, kept in the bag. */
int ck_set(struct ck *c, struct vfm_handle *h, uint32_t state, struct vfm_session **opened);

/* The path of a one-request SET and what its arcs do. */
struct ck_path {
	uint32_t s[VFM_FSM_MAX_PATH];
	size_t len;
	bool opens; /* the last arc opens a session */
	bool ends;  /* an arc ends the current session */
};
int ck_path(uint64_t flags, uint32_t from, uint32_t to, struct ck_path *p);
/* "RUNNING>RUNNING_P2P>STOP" into buf. */
const char *ck_path_text(const struct ck_path *p, char *buf, size_t len);

/* How a session answers one probe. */
enum ck_probe {
	CK_ALIVE, /* a read gave data (or the temporary end), a write took a byte */
	CK_EOF,	  /* a read returned 0 */
	CK_DEAD,  /* the call failed; the errno is in *err */
};
/* Reads up to 4 KiB (saving session) or writes one byte (resuming session). */
enum ck_probe ck_probe(struct ck *c, struct vfm_session *s, int *err);

/* ---- streams (walk.c) ---- */
enum ck_end {
	CK_END_ZERO,   /* read() returned 0 */
	CK_END_ENOMSG, /* read() failed with ENOMSG */
	CK_END_CAPPED, /* the limit was reached first */
	CK_END_ERROR,  /* read() failed otherwise (err) */
};
struct ck_read {
	uint64_t bytes;
	unsigned calls;
	enum ck_end end;
	int err;
};
/* Reads s until the end or `limit` bytes, appending to out (NULL: discard). Chunks of at
 * most `piece` bytes (0: 1 MiB). */
void ck_read_stream(struct ck *c, struct vfm_session *s, struct ck_buf *out, uint64_t limit,
		    size_t piece, struct ck_read *r);
int ck_buf_append(struct ck_buf *b, const void *p, size_t len);
void ck_buf_free(struct ck_buf *b);

/* The device's own STOP_COPY stream (captured once; false with c->ref_why if none).
 * Closes the sessions held: call it before opening any. */
bool ck_reference(struct ck *c);

struct ck_written {
	size_t bytes;	   /* the session took these */
	unsigned writes;   /* calls made */
	size_t failed_len; /* the size of the write that failed */
};
/* Writes len bytes to a resuming session, in segments cycling through segs (nsegs 0: all
 * at once), stopping at the first error. 0 or that error; w (may be NULL) says how far. */
int ck_write(struct vfm_session *s, const uint8_t *p, size_t len, const size_t *segs, size_t nsegs,
	     struct ck_written *w);

struct ck_load {
	bool reached; /* RESUMING with a data fd (else c->why says why not) */
	struct ck_written w;
	int write_rc; /* the first write error, 0 if every byte was taken */
	int stop_rc;  /* RESUMING -> STOP, tried even after a write error */
	char write_err[CK_TEXT / 2], stop_err[CK_TEXT / 2];
};
/* From wherever h is: back to RUNNING, to RESUMING, write p, SET STOP. */
void ck_load(struct ck *c, struct vfm_handle *h, uint64_t flags, const uint8_t *p, size_t len,
	     const size_t *segs, size_t nsegs, struct ck_load *out);

/* ---- the checks (one group per function) ---- */
void ck_run_initial(struct ck *c);
void ck_run_features(struct ck *c);
void ck_run_invalid_target(struct ck *c);
void ck_run_same_state(struct ck *c);
void ck_run_pairs(struct ck *c);
void ck_run_refused(struct ck *c);
void ck_run_stop_copy_stream(struct ck *c);
void ck_run_precopy_end(struct ck *c);
void ck_run_precopy_info(struct ck *c);
void ck_run_precopy_v2(struct ck *c);
void ck_run_continuous(struct ck *c);
void ck_run_segments(struct ck *c);
void ck_run_invalid_data(struct ck *c);
void ck_run_incomplete(struct ck *c);
void ck_run_reset(struct ck *c);
void ck_run_roundtrip(struct ck *c);

#endif /* VFM_CHECK_CHECKS_H */
