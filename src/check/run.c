// SPDX-License-Identifier: BSD-3-Clause
/*
 * The conformance checker's runner: the list of checks with their uAPI sections, the
 * groups that run them, results and their verdicts, and the promise that the device ends
 * RUNNING.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "util.h"
#ifdef VFM_HAVE_VFIO_USER
#include "vfio-mig/vfio-user.h"
#endif

static const struct vfm_check_info infos[CK_NR] = {
	[CK_STATE_INITIAL] = {"state.initial", "2.8", "", "the device is RUNNING when opened"},
	[CK_FEAT_ARGSZ] = {"feature.argsz", "1.2.1", "7.1",
			   "argsz below the 8-byte header is refused with EINVAL"},
	[CK_FEAT_FLAGS] = {"feature.flags", "1.2.1", "7.1",
			   "unknown flag bits (19-31) are refused with EINVAL"},
	[CK_FEAT_PRECEDENCE] =
		{"feature.precedence", "1.2.1", "7.1",
		 "GET|SET without PROBE is refused with EINVAL; PROBE|GET|SET is answered"},
	[CK_FEAT_MIGRATION] =
		{"feature.migration", "1.3", "7.3",
		 "MIGRATION: GET returns the flags with STOP_COPY, SET and short argsz refused"},
	[CK_FEAT_MIG_STATE] = {"feature.mig-state", "1.4", "7.4",
			       "MIG_DEVICE_STATE: GET returns {state, -1}, short argsz refused"},
	[CK_FEAT_DATA_SIZE] = {"feature.data-size", "1.5", "7.5",
			       "MIG_DATA_SIZE: GET answers, PROBE answers, SET is refused"},
	[CK_FEAT_UNKNOWN] = {"feature.unknown", "1.2.1", "7.2",
			     "an unknown feature index answers ENOTTY"},
	[CK_FSM_INVALID] =
		{"fsm.invalid-target", "3.4", "7.6",
		 "SET of ERROR, of a value >= 8 or of an unsupported state: EINVAL, state kept"},
	[CK_FSM_SAME] = {"fsm.same-state", "3.4", "7.7",
			 "SET of the current state succeeds, returns no fd, keeps the session"},
	[CK_FSM_PATH] = {"fsm.path", "3.4", "7.9",
			 "every supported (from, to) pair: SET succeeds and GET reads back `to`"},
	[CK_FSM_DATA_FD] =
		{"fsm.data-fd", "3.4", "7.9",
		 "a data fd is returned exactly when the path's last arc opens a session"},
	[CK_FSM_SESSION_END] = {"fsm.session-end", "2.3", "7.11",
				"the old session is dead after a path through an arc that ends it"},
	[CK_FSM_SESSION_KEPT] = {"fsm.session-kept", "2.3", "7.12",
				 "moves inside the saving group keep the session usable"},
	[CK_FSM_REFUSED] = {"fsm.refused-arcs", "3.6", "7.8",
			    "STOP_COPY -> PRE_COPY and -> PRE_COPY_P2P are refused with EINVAL"},
	[CK_STREAM_END] = {"stream.end", "2.6", "7.13",
			   "the STOP_COPY stream ends, and read() keeps returning 0 after the end"},
	[CK_STREAM_NO_ENOMSG] = {"stream.no-enomsg", "2.6", "7.13",
				 "read() never fails with ENOMSG in STOP_COPY"},
	[CK_STREAM_PRECOPY_END] = {"stream.precopy-end", "2.6", "7.13",
				   "the temporary end of a PRE_COPY stream reads ENOMSG"},
	[CK_PRECOPY_INFO] =
		{"precopy.info", "2.6", "7.14",
		 "PRECOPY_INFO: initial_bytes never grows while only reading; EINVAL outside "
		 "PRE_COPY"},
	[CK_PRECOPY_FLAGS_V1] =
		{"precopy.flags-v1", "1.9", "",
		 "without the PRECOPY_INFOv2 opt-in the flags read back 0 (as sent): "
		 "no REINIT"},
	[CK_FEAT_PRECOPY_V2] =
		{"feature.precopy-v2", "1.9", "",
		 "PRECOPY_INFOv2 (12): PROBE and PROBE|SET answered, GET refused, SET "
		 "opts in (EINVAL without PRE_COPY)"},
	[CK_PRECOPY_FLAGS_V2] = {"precopy.flags-v2", "1.9", "",
				 "after the opt-in the flags are output: the caller's bits do not "
				 "come back, only REINIT may be set"},
	[CK_PRECOPY_REINIT] = {"precopy.reinit", "1.9", "",
			       "with REINIT initial_bytes is non-zero, then never grows while "
			       "only reading"},
	[CK_STREAM_CONTINUOUS] =
		{"stream.continuous", "2.3", "7.12",
		 "one continuous stream across PRE_COPY, PRE_COPY_P2P and STOP_COPY"},
	[CK_RESUME_SEGMENTS] = {"resume.segmentation", "2.1", "7.15",
				"RESUMING accepts the stream in arbitrary write segments"},
	[CK_RESUME_INVALID] = {"resume.invalid-data", "2.3", "7.15",
			       "invalid data is refused (by write() or by RESUMING -> STOP)"},
	[CK_RESUME_INCOMPLETE] = {"resume.incomplete-data", "2.3", "7.15",
				  "an incomplete stream makes RESUMING -> STOP fail"},
	[CK_RESET_RUNNING] = {"reset.running", "1.7", "7.16",
			      "VFIO_DEVICE_RESET from every state succeeds and leaves RUNNING"},
	[CK_RESET_KILLS] = {"reset.kills-session", "1.7", "7.16",
			    "VFIO_DEVICE_RESET ends the data session"},
	[CK_DATA_SIZE_EVERY] = {"data-size.every-state", "2.7", "7.5",
				"MIG_DATA_SIZE can be read in every state"},
	[CK_ROUNDTRIP] =
		{"roundtrip.peer", "2.3", "",
		 "the state saved from the device loads into the peer and comes out equal"},
	[CK_FINAL_RUNNING] = {"final.running", "1.7", "7.16",
			      "the device is RUNNING when the check ends"},
};

struct ck_group {
	void (*run)(struct ck *c);
	enum ck_id ids[8];
	unsigned n;
};

static const struct ck_group groups[] = {
	{ck_run_initial, {CK_STATE_INITIAL}, 1},
	{ck_run_features,
	 {CK_FEAT_ARGSZ, CK_FEAT_FLAGS, CK_FEAT_PRECEDENCE, CK_FEAT_MIGRATION, CK_FEAT_MIG_STATE,
	  CK_FEAT_DATA_SIZE, CK_FEAT_UNKNOWN},
	 7},
	{ck_run_invalid_target, {CK_FSM_INVALID}, 1},
	{ck_run_same_state, {CK_FSM_SAME}, 1},
	{ck_run_pairs, {CK_FSM_PATH, CK_FSM_DATA_FD, CK_FSM_SESSION_END, CK_FSM_SESSION_KEPT}, 4},
	{ck_run_refused, {CK_FSM_REFUSED}, 1},
	{ck_run_stop_copy_stream, {CK_STREAM_END, CK_STREAM_NO_ENOMSG}, 2},
	{ck_run_precopy_end, {CK_STREAM_PRECOPY_END}, 1},
	{ck_run_precopy_info, {CK_PRECOPY_INFO}, 1},
	{ck_run_precopy_v2,
	 {CK_PRECOPY_FLAGS_V1, CK_FEAT_PRECOPY_V2, CK_PRECOPY_FLAGS_V2, CK_PRECOPY_REINIT},
	 4},
	{ck_run_continuous, {CK_STREAM_CONTINUOUS}, 1},
	{ck_run_segments, {CK_RESUME_SEGMENTS}, 1},
	{ck_run_invalid_data, {CK_RESUME_INVALID}, 1},
	{ck_run_incomplete, {CK_RESUME_INCOMPLETE}, 1},
	{ck_run_reset, {CK_RESET_RUNNING, CK_RESET_KILLS, CK_DATA_SIZE_EVERY}, 3},
	{ck_run_roundtrip, {CK_ROUNDTRIP}, 1},
};

const char *vfm_check_verdict_name(enum vfm_check_verdict v)
{
	static const char *const names[] = {"PASS", "WARN", "FAIL", "SKIP"};

	return (unsigned)v < VFM_ARRAY_SIZE(names) ? names[v] : "?";
}

size_t vfm_check_count(void)
{
	return CK_NR;
}

const struct vfm_check_info *vfm_check_get(size_t i)
{
	return i < CK_NR ? &infos[i] : NULL;
}

/* ---- results ---- */

bool ck_wanted(const struct ck *c, enum ck_id id)
{
	return c->res[id].selected;
}

bool ck_cancelled(const struct ck *c)
{
	return c->opts->cancel && *c->opts->cancel;
}

void ck_ok(struct ck *c, enum ck_id id)
{
	c->res[id].checked++;
}

static void vset(char *buf, size_t len, const char *fmt, va_list ap)
{
	vsnprintf(buf, len, fmt, ap);
}

void ck_fail(struct ck *c, enum ck_id id, const char *fmt, ...)
{
	struct ck_res *r = &c->res[id];
	va_list ap;

	r->checked++;
	if (r->fails++)
		return;
	r->verdict = VFM_CHECK_FAIL;
	va_start(ap, fmt);
	vset(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

void ck_fail_also(struct ck *c, enum ck_id id, const char *fmt, ...)
{
	struct ck_res *r = &c->res[id];
	size_t used = strlen(r->detail);
	va_list ap;

	r->checked++;
	r->verdict = VFM_CHECK_FAIL;
	r->listed = true;
	if (r->fails++ && used + 3 < sizeof(r->detail)) {
		memcpy(r->detail + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vset(r->detail + used, sizeof(r->detail) - used, fmt, ap);
	va_end(ap);
}

void ck_warn(struct ck *c, enum ck_id id, const char *fmt, ...)
{
	struct ck_res *r = &c->res[id];
	va_list ap;

	r->checked++;
	if (r->verdict != VFM_CHECK_PASS)
		return;
	r->verdict = VFM_CHECK_WARN;
	va_start(ap, fmt);
	vset(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

void ck_skip(struct ck *c, enum ck_id id, const char *fmt, ...)
{
	struct ck_res *r = &c->res[id];
	va_list ap;

	if (r->checked)
		return;
	r->verdict = VFM_CHECK_SKIP;
	va_start(ap, fmt);
	vset(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

void ck_unverified(struct ck *c, enum ck_id id, const char *fmt, ...)
{
	struct ck_res *r = &c->res[id];
	va_list ap;

	if (r->unverified++)
		return;
	va_start(ap, fmt);
	vset(r->unverified_why, sizeof(r->unverified_why), fmt, ap);
	va_end(ap);
}

void ck_note(struct ck *c, enum ck_id id, const char *fmt, ...)
{
	struct ck_res *r = &c->res[id];
	va_list ap;

	va_start(ap, fmt);
	vset(r->note, sizeof(r->note), fmt, ap);
	va_end(ap);
}

static void append(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* The verdict once every observation is in. */
static void finish(struct ck_res *r)
{
	if (r->verdict == VFM_CHECK_SKIP)
		return;
	if (r->verdict == VFM_CHECK_PASS && !r->checked) {
		r->verdict = VFM_CHECK_SKIP;
		snprintf(r->detail, sizeof(r->detail), "not verified: %s",
			 r->unverified ? r->unverified_why : "nothing to check");
		return;
	}
	if (r->verdict == VFM_CHECK_PASS)
		ck_copy(r->detail, sizeof(r->detail), r->note);
	if (r->fails > 1 && !r->listed)
		append(r->detail, sizeof(r->detail), " (%u failures in all)", r->fails);
	if (r->unverified)
		append(r->detail, sizeof(r->detail), "%s%u part%s not verified: %s",
		       r->detail[0] ? "; " : "", r->unverified, r->unverified > 1 ? "s" : "",
		       r->unverified_why);
}

/* ---- selection ---- */

static bool name_selected(const char *only, const char *name)
{
	char buf[512], *save = NULL;

	if (!only || !*only)
		return true;
	snprintf(buf, sizeof(buf), "%s", only);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*t && strncmp(name, t, strlen(t)) == 0)
			return true;
	}
	return false;
}

/* ---- the run ---- */

static void report(struct ck *c, enum ck_id id, vfm_check_report_fn cb, void *opaque,
		   struct vfm_check_summary *sum)
{
	struct ck_res *r = &c->res[id];
	struct vfm_check_result out = {
		.info = &infos[id], .verdict = r->verdict, .detail = r->detail};

	if (!r->selected)
		return;
	finish(r);
	out.verdict = r->verdict;
	switch (r->verdict) {
	case VFM_CHECK_PASS:
		sum->pass++;
		break;
	case VFM_CHECK_WARN:
		sum->warn++;
		break;
	case VFM_CHECK_FAIL:
		sum->fail++;
		break;
	case VFM_CHECK_SKIP:
		sum->skip++;
		break;
	}
	if (cb)
		cb(opaque, &out);
}

static bool group_wanted(const struct ck *c, const struct ck_group *g)
{
	for (unsigned i = 0; i < g->n; i++) {
		if (ck_wanted(c, g->ids[i]))
			return true;
	}
	return false;
}

static void skip_group(struct ck *c, const struct ck_group *g, const char *why)
{
	for (unsigned i = 0; i < g->n; i++)
		ck_skip(c, g->ids[i], "%s", why);
}

static void run_group(struct ck *c, const struct ck_group *g)
{
	if (c->broken) {
		skip_group(c, g, "not run: the device could not be brought back to RUNNING");
		return;
	}
	if (ck_cancelled(c)) {
		skip_group(c, g, "not run: cancelled");
		return;
	}
	/* state.initial looks at the device as found; everything else starts RUNNING. */
	if (g->run != ck_run_initial && ck_recover(c, c->dev, c->flags)) {
		c->broken = true;
		skip_group(c, g, c->why);
		return;
	}
	g->run(c);
	ck_close_all(c);
	if (ck_recover(c, c->dev, c->flags))
		c->broken = true;
}

static void run_final(struct ck *c)
{
	uint32_t st = VFM_STATE_NR, pst = VFM_STATE_RUNNING;
	int rc;

	ck_close_all(c);
	rc = ck_recover(c, c->dev, c->flags);
	if (!rc)
		rc = ck_get(c, c->dev, &st);
	if (rc || st != VFM_STATE_RUNNING) {
		ck_fail(c, CK_FINAL_RUNNING, "the device is left %s: %s",
			st < VFM_STATE_NR ? vfm_state_name(st) : "in an unknown state", c->why);
		return;
	}
	if (c->peer && (ck_recover(c, c->peer, c->peer_flags) || ck_get(c, c->peer, &pst) ||
			pst != VFM_STATE_RUNNING)) {
		ck_fail(c, CK_FINAL_RUNNING, "the peer is not RUNNING: %s", c->why);
		return;
	}
	ck_ok(c, CK_FINAL_RUNNING);
}

/* The most bytes one session may give before the stream counts as endless. */
static uint64_t stream_cap(struct ck *c)
{
	uint64_t size;

	if (c->opts->max_stream)
		return c->opts->max_stream;
	if (vfm_handle_data_size(c->dev, &size) || size > (1ull << 40))
		size = 256ull << 20;
	return 4 * size + (1u << 20);
}

static int setup(struct ck *c, struct vfm_handle *dev, struct vfm_handle *peer,
		 const struct vfm_check_opts *opts)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->dev = dev;
	c->peer = peer;
	c->opts = opts;
	for (size_t i = 0; i < CK_NR; i++)
		c->res[i].selected = name_selected(opts->only, infos[i].name);
	c->res[CK_FINAL_RUNNING].selected = true;
	c->sessions_visible = strcmp(dev->ops->kind, "vfio-user") != 0;
	c->vu = !c->sessions_visible;
#ifdef VFM_HAVE_VFIO_USER
	{
		struct vfm_vu_client_info info;

		if (c->vu && vfm_vu_client_info(dev, &info) == 0) {
			c->vu_data_size = info.mig_data_size;
			c->vu_precopy_info = info.precopy_info;
			c->vu_precopy_flags = info.precopy_flags;
		}
	}
#endif
	rc = vfm_handle_get_flags(dev, &c->flags);
	if (rc)
		return rc;
	if (peer && vfm_handle_get_flags(peer, &c->peer_flags))
		c->peer = NULL; /* roundtrip.peer reports it */
	c->cap = stream_cap(c);
	return 0;
}

int vfm_check_run(struct vfm_handle *dev, struct vfm_handle *peer,
		  const struct vfm_check_opts *opts, vfm_check_report_fn cb, void *opaque,
		  struct vfm_check_summary *sum)
{
	static const struct vfm_check_opts defaults;
	struct vfm_check_summary local;
	struct ck *c = calloc(1, sizeof(*c));
	int rc;

	if (!sum)
		sum = &local;
	memset(sum, 0, sizeof(*sum));
	if (!c)
		return -ENOMEM;
	rc = setup(c, dev, peer, opts ? opts : &defaults);
	if (rc) {
		free(c);
		return rc;
	}
	if (peer && !c->peer)
		ck_fail(c, CK_ROUNDTRIP, "the peer's migration flags cannot be read: %s",
			vfm_handle_error(peer));
	for (size_t i = 0; i < VFM_ARRAY_SIZE(groups); i++) {
		const struct ck_group *g = &groups[i];

		if (group_wanted(c, g))
			run_group(c, g);
		for (unsigned k = 0; k < g->n; k++)
			report(c, g->ids[k], cb, opaque, sum);
	}
	run_final(c);
	report(c, CK_FINAL_RUNNING, cb, opaque, sum);
	sum->left_running = c->res[CK_FINAL_RUNNING].verdict == VFM_CHECK_PASS;
	ck_close_all(c);
	ck_buf_free(&c->ref);
	free(c);
	return 0;
}
