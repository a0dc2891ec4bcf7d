// SPDX-License-Identifier: BSD-3-Clause
/*
 * VFIO_DEVICE_RESET from every state (uAPI doc 1.7, checklist item 16): it succeeds, the
 * device is RUNNING afterwards and the session that was open is dead. On the way, in each
 * state, MIG_DATA_SIZE must answer (uAPI doc 2.7: "can be called on each device state").
 */
#include <errno.h>
#include <stdio.h>

#include "checks.h"
#include "util.h"
#ifdef VFM_HAVE_VFIO_USER
#include "vfio-mig/vfio-user.h"
#endif

static const uint32_t order[] = {
	VFM_STATE_RUNNING,  VFM_STATE_RUNNING_P2P,  VFM_STATE_STOP,	VFM_STATE_STOP_COPY,
	VFM_STATE_PRE_COPY, VFM_STATE_PRE_COPY_P2P, VFM_STATE_RESUMING,
};

static void data_size_in(struct ck *c, uint32_t state)
{
	uint64_t len;
	int rc;

	if (c->vu && !c->vu_data_size) {
		ck_skip(c, CK_DATA_SIZE_EVERY,
			"the server does not offer MIG_DATA_SIZE (vfio-user defines none)");
		return;
	}
	rc = vfm_handle_data_size(c->dev, &len);
	if (!rc)
		ck_ok(c, CK_DATA_SIZE_EVERY);
	else if (rc == -ENOTTY || rc == -ENOTSUP || rc == -EOPNOTSUPP)
		ck_skip(c, CK_DATA_SIZE_EVERY, "the device offers no MIG_DATA_SIZE");
	else
		ck_fail(c, CK_DATA_SIZE_EVERY, "MIG_DATA_SIZE in %s failed: %s",
			vfm_state_name(state), ck_err(c, c->dev, rc));
}

static void session_after_reset(struct ck *c, uint32_t state, struct vfm_session *held)
{
	enum ck_probe pb;
	int err;

	if (!held)
		return;
	if (!c->sessions_visible) {
		ck_skip(c, CK_RESET_KILLS,
			"not observable over %s: there is no data fd, the "
			"client ends its sessions itself",
			c->dev->ops->kind);
		return;
	}
	pb = ck_probe(c, held, &err);
	if (pb == CK_ALIVE)
		ck_fail(c, CK_RESET_KILLS, "the session opened for %s still %s after the reset",
			vfm_state_name(state), held->saving ? "gives data" : "takes data");
	else if (pb == CK_EOF)
		ck_warn(c, CK_RESET_KILLS,
			"the session opened for %s reads 0 after the reset "
			"instead of failing with ENODEV",
			vfm_state_name(state));
	else
		ck_ok(c, CK_RESET_KILLS);
}

/* The device's own reset: over vfio-user DEVICE_RESET alone, without the client's
 * completion of a reset that a server leaves in RESUMING. */
static int device_reset(struct ck *c)
{
#ifdef VFM_HAVE_VFIO_USER
	if (c->vu)
		return vfm_vu_device_reset(c->dev);
#endif
	return vfm_handle_reset(c->dev);
}

static void reset_in(struct ck *c, uint32_t state)
{
	struct vfm_session *held = NULL;
	uint32_t st;
	int rc, err;

	if (ck_walk(c, c->dev, c->flags, state, &held)) {
		ck_unverified(c, CK_RESET_RUNNING, "cannot reach %s: %s", vfm_state_name(state),
			      c->why);
		return;
	}
	if (!held && (state == VFM_STATE_RESUMING || vfm_state_is_saving(state)))
		ck_unverified(c, CK_RESET_KILLS, "no data fd on entering %s",
			      vfm_state_name(state));
	data_size_in(c, state);
	if (held && ck_probe(c, held, &err) == CK_DEAD) {
		ck_unverified(c, CK_RESET_KILLS,
			      "the session opened by entering %s is not usable: "
			      "%s",
			      vfm_state_name(state), ck_err(c, c->dev, err));
		held = NULL;
	}
	rc = device_reset(c);
	if (rc && c->vu) {
		ck_fail_also(c, CK_RESET_RUNNING, "refused in %s (%s)", vfm_state_name(state),
			     ck_err(c, c->dev, rc));
		return;
	}
	if (rc) {
		ck_fail(c, CK_RESET_RUNNING, "the reset in %s failed: %s", vfm_state_name(state),
			ck_err(c, c->dev, rc));
		return;
	}
	if (ck_get(c, c->dev, &st))
		ck_fail(c, CK_RESET_RUNNING, "after the reset in %s: %s", vfm_state_name(state),
			c->why);
	else if (st != VFM_STATE_RUNNING && c->vu)
		ck_fail_also(c, CK_RESET_RUNNING, "a reset in %s left %s", vfm_state_name(state),
			     vfm_state_name(st));
	else if (st != VFM_STATE_RUNNING)
		ck_fail(c, CK_RESET_RUNNING, "after a reset in %s the device is %s, not RUNNING",
			vfm_state_name(state), vfm_state_name(st));
	else
		ck_ok(c, CK_RESET_RUNNING);
	session_after_reset(c, state, held);
}

void ck_run_reset(struct ck *c)
{
	unsigned states = 0;

	for (size_t i = 0; i < VFM_ARRAY_SIZE(order) && !ck_cancelled(c); i++) {
		if (!vfm_state_supported(c->flags, order[i]))
			continue;
		if (ck_recover(c, c->dev, c->flags)) {
			c->broken = true;
			return;
		}
		reset_in(c, order[i]);
		ck_close_all(c);
		states++;
	}
	if (c->vu && c->res[CK_RESET_RUNNING].fails)
		ck_fail_also(c, CK_RESET_RUNNING,
			     "vfio-user's spec puts no state condition on VFIO_USER_DEVICE_RESET "
			     "and, with the uAPI, has a reset return the device to RUNNING "
			     "(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE)");
	ck_note(c, CK_RESET_RUNNING, "from %u states", states);
	ck_note(c, CK_DATA_SIZE_EVERY, "in %u states", states);
}
