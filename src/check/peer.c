// SPDX-License-Identifier: BSD-3-Clause
/*
 * The round trip (uAPI doc 2.3): the device's state, saved through PRE_COPY (when it has
 * it) and STOP_COPY, loads into the peer, and the peer's state equals the source's: by
 * the sample device's checksum where both can tell it, else by saving both again and
 * comparing the streams (a WARN only if they differ: a stream need not be deterministic).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "util.h"

/* Saves the device's state into b, through PRE_COPY when it has it; ends in STOP. */
static int save(struct ck *c, struct ck_buf *b)
{
	bool pre = vfm_state_supported(c->flags, VFM_STATE_PRE_COPY);
	struct vfm_session *s = NULL;
	struct ck_read r;

	if (ck_walk(c, c->dev, c->flags, pre ? VFM_STATE_PRE_COPY : VFM_STATE_STOP_COPY, &s))
		return -EIO;
	if (!s)
		return vfm_errf(c->why, sizeof(c->why), -EIO, "no data fd");
	if (pre) {
		ck_read_stream(c, s, b, c->cap, 0, &r);
		if (r.end == CK_END_ERROR)
			return vfm_errf(c->why, sizeof(c->why), -EIO, "PRE_COPY read: %s",
					ck_err(c, c->dev, r.err));
		if (ck_set(c, c->dev, VFM_STATE_STOP_COPY, NULL))
			return -EIO;
	}
	ck_read_stream(c, s, b, c->cap, 0, &r);
	if (r.end == CK_END_ERROR || r.end == CK_END_CAPPED)
		return vfm_errf(c->why, sizeof(c->why), -EIO, "the STOP_COPY stream %s",
				r.end == CK_END_CAPPED ? "does not end" : "cannot be read");
	return ck_set(c, c->dev, VFM_STATE_STOP, NULL);
}

/* A direct STOP_COPY stream of h (from STOP or wherever it is). */
static int resave(struct ck *c, struct vfm_handle *h, uint64_t flags, struct ck_buf *b)
{
	struct vfm_session *s = NULL;
	struct ck_read r;

	if (ck_walk(c, h, flags, VFM_STATE_STOP_COPY, &s) || !s)
		return -EIO;
	ck_read_stream(c, s, b, c->cap, 0, &r);
	return r.end == CK_END_ZERO || r.end == CK_END_ENOMSG ? 0 : -EIO;
}

static void same_streams(struct ck *c, size_t bytes)
{
	ck_ok(c, CK_ROUNDTRIP);
	ck_note(c, CK_ROUNDTRIP, "%zu bytes, streams saved again are identical", bytes);
}

/* Both stopped: compare their states. */
static void compare(struct ck *c, size_t bytes)
{
	struct ck_buf a = {0}, p = {0};
	uint64_t src, dst;

	if (vfm_handle_checksum(c->dev, &src) == 0 && vfm_handle_checksum(c->peer, &dst) == 0) {
		if (src != dst)
			ck_fail(c, CK_ROUNDTRIP,
				"the peer's state differs: checksum %016llx, the source's %016llx",
				(unsigned long long)dst, (unsigned long long)src);
		else
			ck_ok(c, CK_ROUNDTRIP);
		ck_note(c, CK_ROUNDTRIP, "%zu bytes, checksums equal", bytes);
		return;
	}
	if (resave(c, c->dev, c->flags, &a) || resave(c, c->peer, c->peer_flags, &p))
		ck_unverified(c, CK_ROUNDTRIP, "cannot save both again to compare: %s", c->why);
	else if (a.len != p.len || memcmp(a.p, p.p, a.len))
		ck_warn(c, CK_ROUNDTRIP,
			"saved again, the peer's stream differs from the source's "
			"(%zu and %zu bytes; a device's stream need not be deterministic)",
			p.len, a.len);
	else
		same_streams(c, bytes);
	ck_buf_free(&a);
	ck_buf_free(&p);
}

void ck_run_roundtrip(struct ck *c)
{
	struct ck_buf b = {0};
	struct ck_load ld;

	if (!c->peer) {
		ck_skip(c, CK_ROUNDTRIP, "no --peer given");
		return;
	}
	if (ck_recover(c, c->peer, c->peer_flags)) {
		ck_fail(c, CK_ROUNDTRIP, "the peer cannot be brought to RUNNING: %s", c->why);
		return;
	}
	if (save(c, &b)) {
		ck_unverified(c, CK_ROUNDTRIP, "cannot save the device: %s", c->why);
		goto out;
	}
	ck_close_all(c);
	ck_load(c, c->peer, c->peer_flags, b.p, b.len, NULL, 0, &ld);
	if (!ld.reached)
		ck_fail(c, CK_ROUNDTRIP, "the peer cannot reach RESUMING: %s", c->why);
	else if (ld.write_rc)
		ck_fail(c, CK_ROUNDTRIP, "the peer refused the stream at byte %zu of %zu: %s",
			ld.w.bytes, b.len, ld.write_err);
	else if (ld.stop_rc)
		ck_fail(c, CK_ROUNDTRIP, "the peer refused the stream at RESUMING -> STOP: %s",
			ld.stop_err);
	else
		compare(c, b.len);
out:
	ck_buf_free(&b);
	ck_close_all(c);
	if (ck_recover(c, c->peer, c->peer_flags))
		ck_fail(c, CK_ROUNDTRIP, "the peer cannot be brought back to RUNNING: %s", c->why);
}
