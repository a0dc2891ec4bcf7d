// SPDX-License-Identifier: BSD-3-Clause
/*
 * The state machine seen from outside (uAPI doc 3.4, checklist items 6 to 12): refused
 * targets, SET of the current state, every supported (from, to) pair with its state read
 * back, its data fd and what it does to the session that was open, and the two refused
 * arcs of the saving group (only on request: they hang kernels without the 2026 fix).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "util.h"

/* The order states are visited in: the running ones first, RESUMING last. */
static const uint32_t order[] = {
	VFM_STATE_RUNNING,  VFM_STATE_RUNNING_P2P,  VFM_STATE_STOP,	VFM_STATE_STOP_COPY,
	VFM_STATE_PRE_COPY, VFM_STATE_PRE_COPY_P2P, VFM_STATE_RESUMING,
};

static bool refused_arc(uint32_t from, uint32_t to)
{
	return from == VFM_STATE_STOP_COPY && vfm_state_is_precopy(to);
}

/* ---- fsm.invalid-target ---- */

static void try_invalid(struct ck *c, uint32_t target, const char *what)
{
	struct vfm_session *s = NULL;
	uint32_t st = VFM_STATE_NR;
	int rc = ck_set(c, c->dev, target, &s);

	if (rc == 0)
		ck_fail(c, CK_FSM_INVALID, "SET %s was accepted", what);
	else if (rc != -EINVAL)
		ck_warn(c, CK_FSM_INVALID, "SET %s: %s, the kernel answers EINVAL", what,
			ck_err(c, c->dev, rc));
	else
		ck_ok(c, CK_FSM_INVALID);
	if (s)
		ck_fail(c, CK_FSM_INVALID, "SET %s returned a data fd", what);
	if (ck_get(c, c->dev, &st))
		ck_fail(c, CK_FSM_INVALID, "after SET %s: %s", what, c->why);
	else if (st != VFM_STATE_RUNNING)
		ck_fail(c, CK_FSM_INVALID, "SET %s moved the device from RUNNING to %s", what,
			vfm_state_name(st));
	if (st != VFM_STATE_RUNNING && ck_recover(c, c->dev, c->flags))
		c->broken = true;
}

void ck_run_invalid_target(struct ck *c)
{
	char what[64];

	try_invalid(c, VFM_STATE_ERROR, "ERROR");
	try_invalid(c, VFM_STATE_NR, "8 (past the last state)");
	try_invalid(c, 0xffffffffu, "0xffffffff");
	for (uint32_t s = VFM_STATE_STOP; s < VFM_STATE_NR && !c->broken; s++) {
		if (vfm_state_supported(c->flags, s))
			continue;
		snprintf(what, sizeof(what), "%s (not supported by the flags)", vfm_state_name(s));
		try_invalid(c, s, what);
	}
}

/* ---- fsm.same-state ---- */

/* SET(state) in state: success, no fd, same state, the session still usable. */
static void same_state(struct ck *c, uint32_t state)
{
	struct vfm_session *held = NULL, *s = NULL;
	uint32_t st;
	int err;

	if (ck_walk(c, c->dev, c->flags, state, &held)) {
		ck_unverified(c, CK_FSM_SAME, "cannot reach %s: %s", vfm_state_name(state), c->why);
		return;
	}
	if (held && ck_probe(c, held, &err) == CK_DEAD) {
		ck_unverified(c, CK_FSM_SAME, "the session opened by entering %s is not usable: %s",
			      vfm_state_name(state), ck_err(c, c->dev, err));
		held = NULL;
	}
	if (ck_set(c, c->dev, state, &s)) {
		ck_fail(c, CK_FSM_SAME, "SET %s in %s failed: %s", vfm_state_name(state),
			vfm_state_name(state), c->why);
		return;
	}
	if (s)
		ck_fail(c, CK_FSM_SAME, "SET %s in %s returned a data fd", vfm_state_name(state),
			vfm_state_name(state));
	else if (ck_get(c, c->dev, &st))
		ck_fail(c, CK_FSM_SAME, "after SET %s in %s: %s", vfm_state_name(state),
			vfm_state_name(state), c->why);
	else if (st != state)
		ck_fail(c, CK_FSM_SAME, "SET %s in %s left the device in %s", vfm_state_name(state),
			vfm_state_name(state), vfm_state_name(st));
	else if (held && ck_probe(c, held, &err) == CK_DEAD)
		ck_fail(c, CK_FSM_SAME, "SET %s in %s ended the session (%s)",
			vfm_state_name(state), vfm_state_name(state), ck_err(c, c->dev, err));
	else
		ck_ok(c, CK_FSM_SAME);
}

void ck_run_same_state(struct ck *c)
{
	ck_reference(c);
	for (size_t i = 0; i < VFM_ARRAY_SIZE(order) && !c->broken; i++) {
		if (!vfm_state_supported(c->flags, order[i]))
			continue;
		if (ck_recover(c, c->dev, c->flags)) {
			c->broken = true;
			break;
		}
		same_state(c, order[i]);
		ck_close_all(c);
	}
}

/* ---- the pairs: fsm.path, fsm.data-fd, fsm.session-end, fsm.session-kept ---- */

struct pair {
	uint32_t from, to;
	struct ck_path p;
	char text[160];
	struct vfm_session *held; /* the session reaching `from` opened */
	bool held_ok;		  /* and it worked before the SET */
};

/* Reaches `from`; from RESUMING the device's own stream is written so the pair can leave. */
static int pair_setup(struct ck *c, struct pair *pr)
{
	if (ck_recover(c, c->dev, c->flags)) {
		c->broken = true;
		return -EIO;
	}
	if (ck_walk(c, c->dev, c->flags, pr->from, &pr->held))
		return -EIO;
	if (pr->from != VFM_STATE_RESUMING) {
		int err;

		pr->held_ok = pr->held && ck_probe(c, pr->held, &err) != CK_DEAD;
		return 0;
	}
	if (!c->ref_ok)
		return vfm_errf(c->why, sizeof(c->why), -EIO, "no stream to load: %s", c->ref_why);
	if (!pr->held)
		return vfm_errf(c->why, sizeof(c->why), -EIO, "no data fd from STOP -> RESUMING");
	if (ck_write(pr->held, c->ref.p, c->ref.len, NULL, 0, NULL))
		return vfm_errf(c->why, sizeof(c->why), -EIO,
				"the device refused its own stream in RESUMING");
	pr->held_ok = true;
	return 0;
}

/* fsm.data-fd: a new session exactly when the last arc opens one, and a usable one. */
static void judge_fd(struct ck *c, const struct pair *pr, struct vfm_session *s)
{
	int err;

	if (!pr->p.opens && s) {
		ck_fail(c, CK_FSM_DATA_FD, "%s returned a data fd; its last arc opens no session",
			pr->text);
		return;
	}
	if (pr->p.opens && !s) {
		ck_fail(c, CK_FSM_DATA_FD,
			"%s returned no data fd; its last arc %s>%s opens a "
			"session",
			pr->text, vfm_state_name(pr->p.s[pr->p.len - 2]), vfm_state_name(pr->to));
		return;
	}
	if (s && (s->saving || c->ref_ok) && ck_probe(c, s, &err) == CK_DEAD) {
		ck_fail(c, CK_FSM_DATA_FD, "%s: the new session is not usable: %s %s", pr->text,
			s->saving ? "read" : "write", ck_err(c, c->dev, err));
		return;
	}
	ck_ok(c, CK_FSM_DATA_FD);
	if (!c->sessions_visible)
		ck_note(c, CK_FSM_DATA_FD,
			"%s has no data fd: checked that the opening arcs start "
			"a usable session",
			c->dev->ops->kind);
}

/* fsm.session-end and fsm.session-kept: what became of the session `from` had. */
static void judge_old(struct ck *c, const struct pair *pr)
{
	int err = 0;
	enum ck_probe pb;

	if (!pr->held_ok) {
		if (pr->from == VFM_STATE_RESUMING || vfm_state_is_saving(pr->from))
			ck_unverified(c, pr->p.ends ? CK_FSM_SESSION_END : CK_FSM_SESSION_KEPT,
				      "%s: no usable session was open in %s", pr->text,
				      vfm_state_name(pr->from));
		return;
	}
	if (pr->p.ends) {
		if (!c->sessions_visible) {
			ck_skip(c, CK_FSM_SESSION_END,
				"not observable over %s: there is no data "
				"fd, the client ends its sessions itself",
				c->dev->ops->kind);
			return;
		}
		pb = ck_probe(c, pr->held, &err);
		if (pb == CK_ALIVE)
			ck_fail(c, CK_FSM_SESSION_END, "%s: the old session still %s", pr->text,
				pr->held->saving ? "gives data" : "takes data");
		else if (pb == CK_EOF)
			ck_warn(c, CK_FSM_SESSION_END,
				"%s: the old session reads 0 (end of stream) instead of failing "
				"with ENODEV",
				pr->text);
		else
			ck_ok(c, CK_FSM_SESSION_END);
		return;
	}
	if (!vfm_state_is_saving(pr->from) || !vfm_state_is_saving(pr->to))
		return;
	pb = ck_probe(c, pr->held, &err);
	if (pb == CK_DEAD)
		ck_fail(c, CK_FSM_SESSION_KEPT, "%s: the session died (%s)", pr->text,
			ck_err(c, c->dev, err));
	else
		ck_ok(c, CK_FSM_SESSION_KEPT);
}

/* The fd and session judgements assume the path was taken. */
static void not_judged(struct ck *c, const struct pair *pr, const char *why)
{
	ck_unverified(c, CK_FSM_DATA_FD, "%s: %s", pr->text, why);
	if (pr->held && pr->p.ends)
		ck_unverified(c, CK_FSM_SESSION_END, "%s: %s", pr->text, why);
	else if (pr->held && vfm_state_is_saving(pr->from) && vfm_state_is_saving(pr->to))
		ck_unverified(c, CK_FSM_SESSION_KEPT, "%s: %s", pr->text, why);
}

/* Returns true when the pair could be set up and run. */
static bool run_pair(struct ck *c, uint32_t from, uint32_t to)
{
	struct pair pr = {.from = from, .to = to};
	struct vfm_session *s = NULL;
	char path[128];
	uint32_t st;

	ck_path(c->flags, from, to, &pr.p);
	snprintf(pr.text, sizeof(pr.text), "%s -> %s", vfm_state_name(from), vfm_state_name(to));
	if (pair_setup(c, &pr)) {
		ck_unverified(c, CK_FSM_PATH, "%s: %s", pr.text, c->why);
		not_judged(c, &pr, c->why);
		return false;
	}
	if (ck_set(c, c->dev, to, &s)) {
		ck_fail(c, CK_FSM_PATH, "%s", c->why);
		not_judged(c, &pr, "the SET failed (see fsm.path)");
		return true;
	}
	if (ck_get(c, c->dev, &st)) {
		ck_fail(c, CK_FSM_PATH, "%s: %s", pr.text, c->why);
		not_judged(c, &pr, "the state cannot be read (see fsm.path)");
		return true;
	}
	if (st != to) {
		ck_fail(c, CK_FSM_PATH, "SET %s from %s succeeded but GET reads %s (path %s)",
			vfm_state_name(to), vfm_state_name(from), vfm_state_name(st),
			ck_path_text(&pr.p, path, sizeof(path)));
		not_judged(c, &pr, "the device did not reach the target (see fsm.path)");
		return true;
	}
	ck_ok(c, CK_FSM_PATH);
	judge_fd(c, &pr, s);
	judge_old(c, &pr);
	return true;
}

void ck_run_pairs(struct ck *c)
{
	unsigned pairs = 0, run = 0;

	ck_reference(c);
	for (size_t i = 0; i < VFM_ARRAY_SIZE(order) && !c->broken; i++) {
		for (size_t j = 0; j < VFM_ARRAY_SIZE(order) && !c->broken; j++) {
			uint32_t from = order[i], to = order[j];

			if (from == to || !vfm_state_supported(c->flags, from) ||
			    !vfm_state_supported(c->flags, to) || refused_arc(from, to))
				continue;
			if (ck_cancelled(c))
				return;
			run += run_pair(c, from, to);
			ck_close_all(c);
			pairs++;
		}
	}
	if (run == pairs)
		ck_note(c, CK_FSM_PATH, "%u pairs", pairs);
	else
		ck_note(c, CK_FSM_PATH, "%u of %u pairs", run, pairs);
	if (!vfm_state_supported(c->flags, VFM_STATE_PRE_COPY))
		ck_skip(c, CK_FSM_SESSION_KEPT, "no PRE_COPY: the saving group is STOP_COPY alone");
}

/* ---- fsm.refused-arcs ---- */

static void refused(struct ck *c, uint32_t to)
{
	struct vfm_session *held = NULL, *s = NULL;
	uint32_t st;
	int rc, err;

	if (ck_recover(c, c->dev, c->flags) ||
	    ck_walk(c, c->dev, c->flags, VFM_STATE_STOP_COPY, &held)) {
		ck_unverified(c, CK_FSM_REFUSED, "cannot reach STOP_COPY: %s", c->why);
		return;
	}
	if (held && ck_probe(c, held, &err) == CK_DEAD)
		held = NULL; /* nothing to keep */
	rc = ck_set(c, c->dev, to, &s);
	if (rc == 0) {
		ck_fail(c, CK_FSM_REFUSED, "SET %s from STOP_COPY was accepted",
			vfm_state_name(to));
		return;
	}
	if (rc != -EINVAL)
		ck_warn(c, CK_FSM_REFUSED, "SET %s from STOP_COPY: %s, expected EINVAL",
			vfm_state_name(to), ck_err(c, c->dev, rc));
	if (ck_get(c, c->dev, &st))
		ck_fail(c, CK_FSM_REFUSED, "after the refused SET %s: %s", vfm_state_name(to),
			c->why);
	else if (st != VFM_STATE_STOP_COPY)
		ck_fail(c, CK_FSM_REFUSED, "the refused SET %s left the device in %s",
			vfm_state_name(to), vfm_state_name(st));
	else if (held && ck_probe(c, held, &err) == CK_DEAD)
		ck_fail(c, CK_FSM_REFUSED, "the refused SET %s ended the session",
			vfm_state_name(to));
	else
		ck_ok(c, CK_FSM_REFUSED);
}

void ck_run_refused(struct ck *c)
{
	if (!vfm_state_supported(c->flags, VFM_STATE_PRE_COPY)) {
		ck_skip(c, CK_FSM_REFUSED, "no PRE_COPY: the arcs do not exist");
		return;
	}
	if (!c->opts->refused_arcs) {
		ck_skip(c, CK_FSM_REFUSED,
			"not sent: they hang kernels without the 2026 fix "
			"(uAPI doc 3.6); --refused-arcs sends them");
		return;
	}
	refused(c, VFM_STATE_PRE_COPY);
	if (vfm_state_supported(c->flags, VFM_STATE_PRE_COPY_P2P))
		refused(c, VFM_STATE_PRE_COPY_P2P);
}
