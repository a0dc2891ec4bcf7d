// SPDX-License-Identifier: BSD-3-Clause
/*
 * The data stream (uAPI doc 2.3 and 2.6, checklist items 12 to 14): the STOP_COPY stream
 * ends and stays ended without ENOMSG, the PRE_COPY stream's temporary end, the pre-copy
 * accounting while reading, and one stream across the saving group.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "util.h"

#define AFTER_END_READS 3

static bool has_precopy(const struct ck *c)
{
	return vfm_state_supported(c->flags, VFM_STATE_PRE_COPY);
}

static bool has_p2p(const struct ck *c)
{
	return vfm_state_supported(c->flags, VFM_STATE_RUNNING_P2P);
}

/* Reaches `state` with its data fd, or marks the checks unverified. */
static struct vfm_session *open_at(struct ck *c, uint32_t state, const enum ck_id *ids, size_t n)
{
	struct vfm_session *s = NULL;

	if (ck_walk(c, c->dev, c->flags, state, &s) == 0 && !s)
		snprintf(c->why, sizeof(c->why), "no data fd on entering %s",
			 vfm_state_name(state));
	if (s)
		return s;
	for (size_t i = 0; i < n; i++)
		ck_unverified(c, ids[i], "cannot open a session in %s: %s", vfm_state_name(state),
			      c->why);
	return NULL;
}

/* A session that fails its very first call was never usable: fsm.data-fd's business. */
static bool unusable(struct ck *c, enum ck_id id, uint64_t bytes, int err)
{
	if (bytes || (err != -EBADF && err != -ENODEV))
		return false;
	ck_unverified(c, id, "the session is not usable: %s (see fsm.data-fd)",
		      ck_err(c, c->dev, err));
	return true;
}

/* ---- stream.end, stream.no-enomsg ---- */

/* After the end: read() keeps returning 0. */
static void after_end(struct ck *c, struct vfm_session *s, uint64_t bytes)
{
	bool ok = true;

	for (int i = 0; i < AFTER_END_READS; i++) {
		ssize_t n = vfm_session_read(s, c->scratch, sizeof(c->scratch));

		if (n == 0)
			continue;
		ok = false;
		if (n == -ENOMSG)
			ck_fail(c, CK_STREAM_NO_ENOMSG, "read() after the end failed with ENOMSG");
		else if (n > 0)
			ck_fail(c, CK_STREAM_END,
				"read() gave %zd more bytes after the end at byte %llu", n,
				(unsigned long long)bytes);
		else
			ck_fail(c, CK_STREAM_END, "read() after the end failed: %s",
				ck_err(c, c->dev, (int)n));
		break;
	}
	if (ok)
		ck_ok(c, CK_STREAM_END);
}

void ck_run_stop_copy_stream(struct ck *c)
{
	static const enum ck_id ids[] = {CK_STREAM_END, CK_STREAM_NO_ENOMSG};
	struct vfm_session *s;
	struct ck_read r;
	uint64_t est = 0;
	bool have_est = vfm_handle_data_size(c->dev, &est) == 0;

	s = open_at(c, VFM_STATE_STOP_COPY, ids, 2);
	if (!s)
		return;
	ck_read_stream(c, s, NULL, c->cap, 0, &r);
	switch (r.end) {
	case CK_END_CAPPED:
		ck_fail(c, CK_STREAM_END,
			"no end of stream after %llu bytes in %u reads (the "
			"limit: 4 x MIG_DATA_SIZE + 1 MiB)",
			(unsigned long long)r.bytes, r.calls);
		ck_unverified(c, CK_STREAM_NO_ENOMSG, "the stream does not end");
		return;
	case CK_END_ERROR:
		if (unusable(c, CK_STREAM_END, r.bytes, r.err)) {
			ck_unverified(c, CK_STREAM_NO_ENOMSG, "the session is not usable");
			return;
		}
		ck_fail(c, CK_STREAM_END, "read() failed after %llu bytes: %s",
			(unsigned long long)r.bytes, ck_err(c, c->dev, r.err));
		ck_unverified(c, CK_STREAM_NO_ENOMSG, "the stream cannot be read");
		return;
	case CK_END_ENOMSG:
		ck_fail(c, CK_STREAM_NO_ENOMSG,
			"the end of the STOP_COPY stream (after %llu bytes) read ENOMSG, not 0",
			(unsigned long long)r.bytes);
		break;
	case CK_END_ZERO:
		ck_ok(c, CK_STREAM_NO_ENOMSG);
		break;
	}
	after_end(c, s, r.bytes);
	if (have_est)
		ck_note(c, CK_STREAM_END, "%llu bytes; MIG_DATA_SIZE said %llu",
			(unsigned long long)r.bytes, (unsigned long long)est);
	else
		ck_note(c, CK_STREAM_END, "%llu bytes", (unsigned long long)r.bytes);
}

/* ---- stream.precopy-end ---- */

void ck_run_precopy_end(struct ck *c)
{
	struct vfm_session *s;
	struct ck_read r;
	uint64_t initial, dirty;
	enum ck_id id = CK_STREAM_PRECOPY_END;

	if (!has_precopy(c)) {
		ck_skip(c, id, "the device has no PRE_COPY");
		return;
	}
	s = open_at(c, VFM_STATE_PRE_COPY, &id, 1);
	if (!s)
		return;
	ck_read_stream(c, s, NULL, c->cap, 0, &r);
	if (r.end == CK_END_ERROR) {
		if (!unusable(c, id, r.bytes, r.err))
			ck_fail(c, id, "read() failed after %llu bytes: %s",
				(unsigned long long)r.bytes, ck_err(c, c->dev, r.err));
		return;
	}
	if (r.end == CK_END_CAPPED) {
		ck_warn(c, id,
			"no temporary end within %llu bytes (a device that dirties its "
			"state as fast as it is read never has one)",
			(unsigned long long)r.bytes);
		return;
	}
	/* vfio-user has no ENOMSG: a MIG_DATA_READ reply shorter than asked is its end. */
	if (r.end == CK_END_ZERO && c->sessions_visible)
		ck_warn(c, id,
			"read() returned 0 at the temporary end (after %llu bytes); the "
			"uAPI says it should fail with ENOMSG (mtty, hisi_acc and qat return 0, "
			"QEMU takes both)",
			(unsigned long long)r.bytes);
	else
		ck_ok(c, id);
	if ((!c->vu || c->vu_precopy_info) && vfm_session_precopy_info(s, &initial, &dirty) == 0 &&
	    initial)
		ck_warn(c, id,
			"at the temporary end initial_bytes is still %llu; the end is "
			"reached when initial_bytes and dirty_bytes are 0",
			(unsigned long long)initial);
	ck_note(c, id, "%s after %llu bytes", r.end == CK_END_ZERO ? "0 bytes" : "ENOMSG",
		(unsigned long long)r.bytes);
}

/* ---- precopy.info ---- */

static bool info_unsupported(int rc)
{
	return rc == -ENOTSUP || rc == -EOPNOTSUPP;
}

/* Reads in pieces while initial_bytes must not grow. Returns the bytes read. */
static uint64_t read_watching(struct ck *c, struct vfm_session *s, uint64_t initial)
{
	uint64_t prev = initial, now, dirty, total = 0;
	size_t piece = (size_t)VFM_MAX((uint64_t)4096, VFM_MIN(initial / 32, (uint64_t)1 << 20));

	for (unsigned i = 0; i < 256 && total < c->cap; i++) {
		struct ck_read r;
		int rc;

		ck_read_stream(c, s, NULL, piece, piece, &r);
		total += r.bytes;
		if (r.end == CK_END_ERROR) {
			ck_fail(c, CK_PRECOPY_INFO, "read() failed after %llu bytes: %s",
				(unsigned long long)total, ck_err(c, c->dev, r.err));
			break;
		}
		rc = vfm_session_precopy_info(s, &now, &dirty);
		if (rc) {
			ck_fail(c, CK_PRECOPY_INFO,
				"PRECOPY_INFO failed after reading %llu bytes: %s",
				(unsigned long long)total, ck_err(c, c->dev, rc));
			break;
		}
		if (now > prev) {
			ck_fail(c, CK_PRECOPY_INFO,
				"initial_bytes grew from %llu to %llu while "
				"reading (%llu bytes read)",
				(unsigned long long)prev, (unsigned long long)now,
				(unsigned long long)total);
			break;
		}
		ck_ok(c, CK_PRECOPY_INFO);
		prev = now;
		if (r.end != CK_END_CAPPED)
			break; /* the temporary end */
	}
	return total;
}

/* In the other saving states of the same session. */
static void info_elsewhere(struct ck *c, struct vfm_session *s)
{
	uint64_t initial, dirty;
	int rc;

	if (has_p2p(c)) {
		if (ck_set(c, c->dev, VFM_STATE_PRE_COPY_P2P, NULL)) {
			ck_unverified(c, CK_PRECOPY_INFO, "SET PRE_COPY_P2P: %s", c->why);
			return;
		}
		rc = vfm_session_precopy_info(s, &initial, &dirty);
		if (rc)
			ck_fail(c, CK_PRECOPY_INFO, "PRECOPY_INFO in PRE_COPY_P2P failed: %s",
				ck_err(c, c->dev, rc));
	}
	if (ck_set(c, c->dev, VFM_STATE_STOP_COPY, NULL)) {
		ck_unverified(c, CK_PRECOPY_INFO, "SET STOP_COPY: %s", c->why);
		return;
	}
	rc = vfm_session_precopy_info(s, &initial, &dirty);
	if (rc == -EINVAL)
		ck_ok(c, CK_PRECOPY_INFO);
	else
		ck_warn(c, CK_PRECOPY_INFO,
			"PRECOPY_INFO in STOP_COPY: %s; drivers should answer "
			"EINVAL outside the PRE_COPY states",
			rc ? ck_err(c, c->dev, rc) : "success");
}

void ck_run_precopy_info(struct ck *c)
{
	enum ck_id id = CK_PRECOPY_INFO;
	struct vfm_session *s;
	uint64_t initial, dirty, total;
	int rc;

	if (!has_precopy(c)) {
		ck_skip(c, id, "the device has no PRE_COPY");
		return;
	}
	if (c->vu && !c->vu_precopy_info) {
		ck_skip(c, id,
			"the server tells no pre-copy info: vfio-user has no such message (its "
			"spec: Device Features; vfio-mig's extension adds one); what the client "
			"estimates from its reads is not the device's to judge");
		return;
	}
	s = open_at(c, VFM_STATE_PRE_COPY, &id, 1);
	if (!s)
		return;
	rc = vfm_session_precopy_info(s, &initial, &dirty);
	if (info_unsupported(rc)) {
		ck_skip(c, id, "the %s transport offers no pre-copy info", c->dev->ops->kind);
		return;
	}
	if (rc) {
		if (!unusable(c, id, 0, rc))
			ck_fail(c, id,
				"PRECOPY_INFO in PRE_COPY failed: %s (it is mandatory with "
				"PRE_COPY)",
				ck_err(c, c->dev, rc));
		return;
	}
	if (!initial)
		ck_warn(c, id,
			"initial_bytes is 0 on entering PRE_COPY; it should start "
			"non-zero");
	total = read_watching(c, s, initial);
	info_elsewhere(c, s);
	ck_note(c, id, "initial_bytes %llu, %llu bytes read", (unsigned long long)initial,
		(unsigned long long)total);
}

/* ---- stream.continuous ---- */

/* How much to read in PRE_COPY before moving on: about half of what is there. */
static uint64_t first_part(struct ck *c, struct vfm_session *s)
{
	uint64_t initial, dirty, size;

	if (vfm_session_precopy_info(s, &initial, &dirty) == 0 && initial)
		return VFM_MAX(initial / 2, (uint64_t)1);
	if (vfm_handle_data_size(c->dev, &size) == 0 && size)
		return VFM_MAX(size / 2, (uint64_t)1);
	return 4096;
}

/* A saving-group move that must keep the session. */
static int move(struct ck *c, uint32_t to)
{
	struct vfm_session *n = NULL;

	if (ck_set(c, c->dev, to, &n)) {
		ck_unverified(c, CK_STREAM_CONTINUOUS, "SET %s: %s", vfm_state_name(to), c->why);
		return -EIO;
	}
	if (n) {
		ck_fail(c, CK_STREAM_CONTINUOUS, "the move to %s returned a new data fd",
			vfm_state_name(to));
		return -EIO;
	}
	return 0;
}

/* Reads on; the session must give the rest of the stream. */
static int read_on(struct ck *c, struct vfm_session *s, struct ck_buf *b, uint64_t limit,
		   const char *where, bool to_end)
{
	struct ck_read r;

	ck_read_stream(c, s, b, limit, 0, &r);
	if (r.end == CK_END_ERROR) {
		if (!unusable(c, CK_STREAM_CONTINUOUS, b->len, r.err))
			ck_fail(c, CK_STREAM_CONTINUOUS,
				"the session fails in %s after %zu bytes: %s", where, b->len,
				ck_err(c, c->dev, r.err));
		return -EIO;
	}
	if (to_end && r.end == CK_END_CAPPED) {
		ck_unverified(c, CK_STREAM_CONTINUOUS, "the stream does not end (see stream.end)");
		return -EIO;
	}
	return 0;
}

static void load_back(struct ck *c, const struct ck_buf *b)
{
	struct ck_load ld;

	ck_load(c, c->dev, c->flags, b->p, b->len, NULL, 0, &ld);
	if (!ld.reached)
		ck_unverified(c, CK_STREAM_CONTINUOUS, "cannot load it back: %s", c->why);
	else if (ld.write_rc)
		ck_fail(c, CK_STREAM_CONTINUOUS,
			"the device refused the stream read across the "
			"saving group (%zu bytes): write at byte %zu: %s",
			b->len, ld.w.bytes, ld.write_err);
	else if (ld.stop_rc)
		ck_fail(c, CK_STREAM_CONTINUOUS,
			"the device refused the stream read across the "
			"saving group (%zu bytes): RESUMING -> STOP: %s",
			b->len, ld.stop_err);
	else
		ck_ok(c, CK_STREAM_CONTINUOUS);
}

void ck_run_continuous(struct ck *c)
{
	enum ck_id id = CK_STREAM_CONTINUOUS;
	struct ck_buf b = {0};
	struct vfm_session *s;
	bool same;

	if (!has_precopy(c)) {
		ck_skip(c, id, "the device has no PRE_COPY: the saving group is STOP_COPY alone");
		return;
	}
	ck_reference(c);
	s = open_at(c, VFM_STATE_PRE_COPY, &id, 1);
	if (!s)
		return;
	if (read_on(c, s, &b, first_part(c, s), "PRE_COPY", false))
		goto out;
	if (has_p2p(c) &&
	    (move(c, VFM_STATE_PRE_COPY_P2P) || read_on(c, s, &b, 4096, "PRE_COPY_P2P", false)))
		goto out;
	if (move(c, VFM_STATE_STOP_COPY) || read_on(c, s, &b, c->cap, "STOP_COPY", true))
		goto out;
	same = c->ref_ok && b.len == c->ref.len && !memcmp(b.p, c->ref.p, b.len);
	ck_close_all(c);
	load_back(c, &b);
	ck_note(c, id, "%zu bytes through %s, loaded back%s", b.len,
		has_p2p(c) ? "PRE_COPY, PRE_COPY_P2P and STOP_COPY" : "PRE_COPY and STOP_COPY",
		same ? "; identical to a STOP_COPY stream" : "");
out:
	ck_buf_free(&b);
}
