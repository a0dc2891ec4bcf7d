// SPDX-License-Identifier: BSD-3-Clause
/*
 * RESUMING (uAPI doc 2.1 and 2.3, checklist item 15): the device's own stream is taken
 * in any write segmentation, and invalid or incomplete data is refused. The material is
 * the device's own STOP_COPY stream: for invalid data its first 8 bytes are inverted
 * (the rest stays sane, so a driver that accepts it anyway loads nothing wild).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "util.h"

/* Odd and even, below and above page and message sizes. */
static const size_t segments[] = {
	1, 2, 3, 5, 7, 16, 17, 31, 4095, 4096, 4097, 65537, (1u << 20) - 1, 3};

static bool need_stream(struct ck *c, enum ck_id id)
{
	if (!ck_reference(c)) {
		ck_unverified(c, id, "no stream to load: %s", c->ref_why);
		return false;
	}
	if (!c->ref.len) {
		ck_skip(c, id, "the device's STOP_COPY stream is empty");
		return false;
	}
	return true;
}

void ck_run_segments(struct ck *c)
{
	enum ck_id id = CK_RESUME_SEGMENTS;
	struct ck_load ld;
	uint64_t sum;

	if (!need_stream(c, id))
		return;
	ck_load(c, c->dev, c->flags, c->ref.p, c->ref.len, segments, VFM_ARRAY_SIZE(segments), &ld);
	if (!ld.reached) {
		ck_unverified(c, id, "cannot reach RESUMING: %s", c->why);
		return;
	}
	if (ld.write_rc) {
		ck_fail(c, id, "a write of %zu bytes at byte %zu failed: %s", ld.w.failed_len,
			ld.w.bytes, ld.write_err);
		return;
	}
	if (ld.stop_rc) {
		ck_fail(c, id, "RESUMING -> STOP refused the stream written in %u pieces: %s",
			ld.w.writes, ld.stop_err);
		return;
	}
	if (c->ref_has_sum && vfm_handle_checksum(c->dev, &sum) == 0 && sum != c->ref_sum) {
		ck_fail(c, id,
			"the state loaded in pieces differs from the saved one (checksum "
			"%016llx, expected %016llx)",
			(unsigned long long)sum, (unsigned long long)c->ref_sum);
		return;
	}
	ck_ok(c, id);
	ck_note(c, id, "%zu bytes in %u writes of 1 to %zu bytes%s", ld.w.bytes, ld.w.writes,
		VFM_MIN(c->ref.len, (size_t)(1u << 20) - 1),
		c->ref_has_sum ? ", state intact" : "");
}

static void refused(struct ck *c, enum ck_id id, const char *by, const char *err)
{
	ck_ok(c, id);
	ck_note(c, id, "refused by %s: %s", by, err);
}

void ck_run_invalid_data(struct ck *c)
{
	enum ck_id id = CK_RESUME_INVALID;
	struct ck_load ld;
	uint8_t *bad;

	if (!need_stream(c, id))
		return;
	bad = malloc(c->ref.len);
	if (!bad) {
		ck_unverified(c, id, "out of memory");
		return;
	}
	memcpy(bad, c->ref.p, c->ref.len);
	for (size_t i = 0; i < VFM_MIN(c->ref.len, (size_t)8); i++)
		bad[i] ^= 0xff;
	ck_load(c, c->dev, c->flags, bad, c->ref.len, NULL, 0, &ld);
	free(bad);
	if (!ld.reached)
		ck_unverified(c, id, "cannot reach RESUMING: %s", c->why);
	else if (ld.stop_rc)
		refused(c, id, ld.write_rc ? "write()" : "RESUMING -> STOP",
			ld.write_rc ? ld.write_err : ld.stop_err);
	else if (ld.write_rc)
		ck_warn(c, id,
			"write() refused the data (%s) but RESUMING -> STOP then accepted "
			"it; invalid data must fail the SET (mtty quirk, uAPI doc 4.1)",
			ld.write_err);
	else
		ck_fail(c, id,
			"the device's stream with its first 8 bytes inverted was accepted "
			"by write() and by RESUMING -> STOP");
}

void ck_run_incomplete(struct ck *c)
{
	enum ck_id id = CK_RESUME_INCOMPLETE;
	struct ck_load ld;

	if (!need_stream(c, id))
		return;
	ck_load(c, c->dev, c->flags, c->ref.p, c->ref.len - 1, NULL, 0, &ld);
	if (!ld.reached)
		ck_unverified(c, id, "cannot reach RESUMING: %s", c->why);
	else if (ld.write_rc)
		ck_unverified(c, id, "writing the stream failed: %s", ld.write_err);
	else if (ld.stop_rc)
		refused(c, id, "RESUMING -> STOP", ld.stop_err);
	else
		ck_fail(c, id,
			"RESUMING -> STOP accepted the stream without its last byte (%zu of "
			"%zu bytes)",
			c->ref.len - 1, c->ref.len);
}
