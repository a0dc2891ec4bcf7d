// SPDX-License-Identifier: BSD-3-Clause
/*
 * Pre-copy info v2 (Linux 7.1, uAPI doc 1.9 and doc/uapi-7.x.md): the flags of
 * VFIO_MIG_GET_PRECOPY_INFO before and after the PRECOPY_INFOv2 opt-in, the opt-in's own
 * feature rules, and what REINIT promises about initial_bytes. The opt-in lasts until the
 * device is closed, so the check without it runs first and the opt-in is the last thing
 * the feature check does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "util.h"

#define F_GET	VFM_DEVICE_FEATURE_GET
#define F_SET	VFM_DEVICE_FEATURE_SET
#define F_PROBE VFM_DEVICE_FEATURE_PROBE
#define F_V2	VFM_DEVICE_FEATURE_MIG_PRECOPY_INFOv2
#define REINIT	VFM_PRECOPY_INFO_REINIT
/* What the caller puts in the flags field after the opt-in: every bit but REINIT. */
#define CALLER_BITS (~REINIT)

static const enum ck_id v2_ids[] = {CK_PRECOPY_FLAGS_V1, CK_FEAT_PRECOPY_V2, CK_PRECOPY_FLAGS_V2,
				    CK_PRECOPY_REINIT};

static void skip_ids(struct ck *c, const enum ck_id *ids, size_t n, const char *why)
{
	for (size_t i = 0; i < n; i++)
		ck_skip(c, ids[i], "%s", why);
}

/* Feature 12 with these flags and argsz = the header: 0 or the negative errno. */
static int v2_call(struct ck *c, uint32_t flags)
{
	struct vfm_device_feature f = {.argsz = sizeof(f), .flags = flags | F_V2};
	struct vfm_session *s = NULL;
	int rc = vfm_handle_feature(c->dev, &f, sizeof(f), &s);

	ck_keep(c, s);
	return rc;
}

static void v2_expect(struct ck *c, uint32_t flags, int want, const char *what)
{
	int rc = v2_call(c, flags);

	if (rc == want)
		ck_ok(c, CK_FEAT_PRECOPY_V2);
	else
		ck_fail(c, CK_FEAT_PRECOPY_V2, "%s: %s, expected %s", what,
			rc ? ck_err(c, c->dev, rc) : "success", want ? strerror(-want) : "success");
}

/* One pass over a PRE_COPY session, a query before every read. */
struct v2_read {
	enum ck_id id;	  /* the check the flags belong to */
	uint32_t send;	  /* the flags field sent */
	bool opted;	  /* REINIT is allowed */
	unsigned reinits; /* REINITs seen */
	bool reinit_fail; /* a REINIT rule broken (already reported) */
	uint64_t total;
};

static bool v2_query(struct ck *c, struct vfm_session *s, struct v2_read *v, uint64_t *initial,
		     uint32_t *flags)
{
	uint64_t dirty;
	int rc;

	*flags = v->send;
	rc = vfm_session_precopy_info_flags(s, flags, initial, &dirty);
	if (rc) {
		ck_fail(c, v->id, "PRECOPY_INFO failed after %llu bytes: %s",
			(unsigned long long)v->total, ck_err(c, c->dev, rc));
		return false;
	}
	if (*flags & (v->opted ? ~REINIT : ~0u)) {
		ck_fail(c, v->id, "%s the flags read 0x%x (0x%x sent, after %llu bytes)%s",
			v->opted ? "after the opt-in" : "without the opt-in", *flags, v->send,
			(unsigned long long)v->total,
			v->opted ? ": only REINIT may be set, the caller's bits must not come back"
				 : ": the flags field is reserved, REINIT needs the opt-in");
		return false;
	}
	ck_ok(c, v->id);
	return true;
}

/* After a REINIT: initial_bytes non-zero, then never growing while only reading. */
static void v2_reinit_rules(struct ck *c, struct v2_read *v, uint32_t flags, uint64_t initial,
			    uint64_t *prev)
{
	if (!(flags & REINIT)) {
		if (v->reinits && initial > *prev && !v->reinit_fail) {
			ck_fail(c, CK_PRECOPY_REINIT,
				"after the REINIT initial_bytes grew from %llu to %llu while "
				"reading (%llu bytes read)",
				(unsigned long long)*prev, (unsigned long long)initial,
				(unsigned long long)v->total);
			v->reinit_fail = true;
		} else if (v->reinits) {
			ck_ok(c, CK_PRECOPY_REINIT);
		}
		*prev = initial;
		return;
	}
	v->reinits++;
	if (initial == 0 && !v->reinit_fail) {
		ck_fail(c, CK_PRECOPY_REINIT,
			"REINIT with initial_bytes 0 (after %llu bytes): new initial data must "
			"be counted in initial_bytes",
			(unsigned long long)v->total);
		v->reinit_fail = true;
	} else {
		ck_ok(c, CK_PRECOPY_REINIT);
	}
	*prev = initial;
}

/* Opens PRE_COPY from RUNNING and reads it to its temporary end, querying as it goes. */
static void v2_pass(struct ck *c, struct v2_read *v)
{
	struct vfm_session *s = NULL;
	uint64_t initial, prev = 0;
	uint32_t flags;
	size_t piece = 4096;
	int rc = ck_walk(c, c->dev, c->flags, VFM_STATE_PRE_COPY, &s);

	if (rc || !s) {
		ck_unverified(c, v->id, "cannot open a PRE_COPY session: %s",
			      rc ? c->why : "no data fd");
		return;
	}
	for (unsigned i = 0; i < 4096 && v->total < c->cap; i++) {
		struct ck_read r;

		if (!v2_query(c, s, v, &initial, &flags))
			return;
		if (v->opted)
			v2_reinit_rules(c, v, flags, initial, &prev);
		ck_read_stream(c, s, NULL, piece, piece, &r);
		v->total += r.bytes;
		if (r.end == CK_END_ERROR) {
			ck_fail(c, v->id, "read() failed after %llu bytes: %s",
				(unsigned long long)v->total, ck_err(c, c->dev, r.err));
			return;
		}
		if (r.end != CK_END_CAPPED)
			break; /* the temporary end */
		piece = (size_t)VFM_MIN((uint64_t)piece * 2, (uint64_t)1 << 20);
	}
	if (v2_query(c, s, v, &initial, &flags) && v->opted)
		v2_reinit_rules(c, v, flags, initial, &prev);
}

/* Back to RUNNING with no session, between the parts. */
static bool v2_reset(struct ck *c, enum ck_id id)
{
	ck_close_all(c);
	if (ck_recover(c, c->dev, c->flags) == 0)
		return true;
	ck_unverified(c, id, "the device could not be brought back to RUNNING: %s", c->why);
	return false;
}

/* The opt-in's rules (Linux 7.3 core): SET only, no payload; PROBE answered. Opts in. */
static bool v2_feature(struct ck *c)
{
	int rc;

	/* Over vfio-user the opt-in is an extension: judged only where it is advertised. */
	if (c->vu && !c->vu_precopy_flags) {
		skip_ids(c, v2_ids + 1, VFM_ARRAY_SIZE(v2_ids) - 1,
			 "the vfio-user server does not advertise precopy_flags (EXTENSIONS.md)");
		return false;
	}
	rc = v2_call(c, F_PROBE);
	if (rc == -ENOTTY || rc == -EOPNOTSUPP) {
		skip_ids(c, v2_ids + 1, VFM_ARRAY_SIZE(v2_ids) - 1,
			 "no PRECOPY_INFOv2: the device answers ENOTTY to its PROBE (Linux "
			 "before 7.1, or a device without the opt-in)");
		return false;
	}
	v2_expect(c, F_PROBE, 0, "PROBE");
	v2_expect(c, F_PROBE | F_SET, 0, "PROBE|SET");
	v2_expect(c, F_PROBE | F_GET, -EINVAL, "PROBE|GET (the feature is SET only)");
	v2_expect(c, F_GET, -EINVAL, "GET (the feature is SET only)");
	v2_expect(c, 0, -EINVAL, "neither GET nor SET");
	rc = v2_call(c, F_SET);
	if (rc) {
		ck_fail(c, CK_FEAT_PRECOPY_V2, "the opt-in (SET) failed: %s",
			ck_err(c, c->dev, rc));
		skip_ids(c, v2_ids + 2, 2, "the opt-in failed (see feature.precopy-v2)");
		return false;
	}
	ck_ok(c, CK_FEAT_PRECOPY_V2);
	return true;
}

/* A device without PRE_COPY: the opt-in is refused (EINVAL from 7.1, ENOTTY before). */
static void v2_no_precopy(struct ck *c)
{
	int rc = v2_call(c, F_SET);

	skip_ids(c,
		 (const enum ck_id[]){CK_PRECOPY_FLAGS_V1, CK_PRECOPY_FLAGS_V2, CK_PRECOPY_REINIT},
		 3, "the device has no PRE_COPY");
	if (rc == -EINVAL || rc == -ENOTTY || rc == -EOPNOTSUPP)
		ck_ok(c, CK_FEAT_PRECOPY_V2);
	else
		ck_fail(c, CK_FEAT_PRECOPY_V2,
			"the opt-in on a device without PRE_COPY: %s, expected EINVAL (ENOTTY "
			"before Linux 7.1)",
			rc ? ck_err(c, c->dev, rc) : "success");
}

void ck_run_precopy_v2(struct ck *c)
{
	struct v2_read v1 = {.id = CK_PRECOPY_FLAGS_V1};
	struct v2_read v2 = {.id = CK_PRECOPY_FLAGS_V2, .send = CALLER_BITS, .opted = true};

	if (!vfm_state_supported(c->flags, VFM_STATE_PRE_COPY)) {
		v2_no_precopy(c);
		return;
	}
	if (ck_wanted(c, CK_PRECOPY_FLAGS_V1)) {
		v2_pass(c, &v1);
		ck_note(c, CK_PRECOPY_FLAGS_V1, "flags 0 over %llu bytes",
			(unsigned long long)v1.total);
		if (!v2_reset(c, CK_FEAT_PRECOPY_V2))
			return;
	}
	if (!v2_feature(c) || !v2_reset(c, CK_PRECOPY_FLAGS_V2))
		return;
	v2_pass(c, &v2);
	ck_note(c, CK_PRECOPY_FLAGS_V2, "0x%x sent, only REINIT back, over %llu bytes", CALLER_BITS,
		(unsigned long long)v2.total);
	if (!v2.reinits)
		ck_skip(c, CK_PRECOPY_REINIT,
			"the device reported no REINIT while its pre-copy stream was read (mtty "
			"never does; testdev with reinit-at= or reinit-query=)");
	else
		ck_note(c, CK_PRECOPY_REINIT, "%u REINIT, %llu bytes read", v2.reinits,
			(unsigned long long)v2.total);
}
