// SPDX-License-Identifier: BSD-3-Clause
/*
 * The state the device was found in, and the VFIO_DEVICE_FEATURE plumbing through the
 * raw feature op: argsz, flag bits and their precedence, and each migration feature's
 * supported operations (uAPI doc 1.2 to 1.5, checklist items 1 to 5).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "util.h"

#define F_GET	VFM_DEVICE_FEATURE_GET
#define F_SET	VFM_DEVICE_FEATURE_SET
#define F_PROBE VFM_DEVICE_FEATURE_PROBE
#define F_MIG	VFM_DEVICE_FEATURE_MIGRATION
#define F_STATE VFM_DEVICE_FEATURE_MIG_DEVICE_STATE
#define F_SIZE	VFM_DEVICE_FEATURE_MIG_DATA_SIZE
#define HDR	sizeof(struct vfm_device_feature)
/* No kernel or vfio-user feature uses this index. */
#define F_UNKNOWN 0x7ff0u

/* One raw call: header {argsz, flags}, then payload (in and out, 8 bytes). */
struct raw {
	uint32_t argsz, flags;
	uint64_t payload;
	int rc;
};

static int call(struct ck *c, struct raw *r)
{
	union {
		struct vfm_device_feature f;
		uint8_t b[HDR + 64];
	} buf;
	struct vfm_session *s = NULL;

	memset(&buf, 0, sizeof(buf));
	buf.f.argsz = r->argsz;
	buf.f.flags = r->flags;
	memcpy(buf.b + HDR, &r->payload, sizeof(r->payload));
	r->rc = vfm_handle_feature(c->dev, buf.b, sizeof(buf.b), &s);
	ck_keep(c, s);
	memcpy(&r->payload, buf.b + HDR, sizeof(r->payload));
	return r->rc;
}

static const char *flags_text(uint32_t flags, char *buf, size_t len)
{
	char bits[16] = "";

	if (flags & 0xfff80000u)
		snprintf(bits, sizeof(bits), "0x%x|", flags & 0xfff80000u);
	snprintf(buf, len, "%s%s%s%sindex %u", flags & F_PROBE ? "PROBE|" : "",
		 flags & F_GET ? "GET|" : "", flags & F_SET ? "SET|" : "", bits,
		 flags & VFM_DEVICE_FEATURE_MASK);
	return buf;
}

/* Expects exactly `want` (0 or a negative errno) from {argsz, flags}. */
static void expect(struct ck *c, enum ck_id id, uint32_t argsz, uint32_t flags, uint64_t payload,
		   int want)
{
	struct raw r = {.argsz = argsz, .flags = flags, .payload = payload};
	char f[64];

	call(c, &r);
	if (r.rc == want) {
		ck_ok(c, id);
		return;
	}
	ck_fail(c, id, "argsz %u, flags %s: %s, expected %s", argsz,
		flags_text(flags, f, sizeof(f)), r.rc ? ck_err(c, c->dev, r.rc) : "success",
		want ? strerror(-want) : "success");
}

static void check_argsz(struct ck *c)
{
	static const uint32_t sizes[] = {0, 4, 7};

	for (size_t i = 0; i < VFM_ARRAY_SIZE(sizes); i++) {
		expect(c, CK_FEAT_ARGSZ, sizes[i], F_GET | F_MIG, 0, -EINVAL);
		expect(c, CK_FEAT_ARGSZ, sizes[i], F_GET | F_STATE, 0, -EINVAL);
	}
}

static void check_flags(struct ck *c)
{
	static const uint32_t bits[] = {1u << 19, 1u << 24, 1u << 31};

	for (size_t i = 0; i < VFM_ARRAY_SIZE(bits); i++) {
		expect(c, CK_FEAT_FLAGS, HDR + 8, F_GET | F_MIG | bits[i], 0, -EINVAL);
		expect(c, CK_FEAT_FLAGS, HDR + 8, F_PROBE | F_MIG | bits[i], 0, -EINVAL);
	}
}

static void check_precedence(struct ck *c)
{
	struct vfm_device_feature_mig_state ms = {.device_state = VFM_STATE_STOP, .data_fd = -1};
	uint64_t p;
	uint32_t st;

	memcpy(&p, &ms, sizeof(p));
	/* GET|SET without PROBE: refused by the core before the feature is looked at. */
	expect(c, CK_FEAT_PRECEDENCE, HDR + 8, F_GET | F_SET | F_STATE, p, -EINVAL);
	expect(c, CK_FEAT_PRECEDENCE, HDR + 8, F_GET | F_SET | F_UNKNOWN, p, -EINVAL);
	expect(c, CK_FEAT_PRECEDENCE, HDR + 8, F_GET | F_UNKNOWN | (1u << 20), 0, -EINVAL);
	/* With PROBE the same combination is a question, answered for GET|SET features. */
	expect(c, CK_FEAT_PRECEDENCE, HDR + 8, F_PROBE | F_GET | F_SET | F_STATE, p, 0);
	if (ck_get(c, c->dev, &st) == 0 && st != VFM_STATE_RUNNING)
		ck_fail(c, CK_FEAT_PRECEDENCE, "a refused GET|SET of STOP moved the device to %s",
			vfm_state_name(st));
}

static void check_migration(struct ck *c)
{
	struct raw r = {.argsz = HDR + 8, .flags = F_GET | F_MIG};

	if (call(c, &r))
		ck_fail(c, CK_FEAT_MIGRATION, "GET MIGRATION failed: %s", ck_err(c, c->dev, r.rc));
	else if (r.payload != c->flags)
		ck_fail(c, CK_FEAT_MIGRATION, "GET MIGRATION says 0x%llx, the handle 0x%llx",
			(unsigned long long)r.payload, (unsigned long long)c->flags);
	else if (!(r.payload & VFM_MIGRATION_STOP_COPY))
		ck_fail(c, CK_FEAT_MIGRATION, "flags 0x%llx lack STOP_COPY, which is required",
			(unsigned long long)r.payload);
	else
		ck_ok(c, CK_FEAT_MIGRATION);
	expect(c, CK_FEAT_MIGRATION, HDR + 8, F_SET | F_MIG, 0, -EINVAL);
	expect(c, CK_FEAT_MIGRATION, HDR + 8, F_PROBE | F_GET | F_MIG, 0, 0);
	expect(c, CK_FEAT_MIGRATION, HDR, F_PROBE | F_MIG, 0, 0);
	expect(c, CK_FEAT_MIGRATION, HDR + 8, F_PROBE | F_SET | F_MIG, 0, -EINVAL);
	expect(c, CK_FEAT_MIGRATION, HDR + 8, F_PROBE | F_GET | F_SET | F_MIG, 0, -EINVAL);
	expect(c, CK_FEAT_MIGRATION, HDR, F_GET | F_MIG, 0, -EINVAL);
	expect(c, CK_FEAT_MIGRATION, HDR + 7, F_GET | F_MIG, 0, -EINVAL);
}

static void check_mig_state(struct ck *c)
{
	struct vfm_device_feature_mig_state ms = {.device_state = VFM_STATE_ERROR, .data_fd = 77};
	struct raw r = {.argsz = HDR + 8, .flags = F_GET | F_STATE};

	memcpy(&r.payload, &ms, sizeof(ms));
	if (call(c, &r)) {
		ck_fail(c, CK_FEAT_MIG_STATE, "GET failed: %s", ck_err(c, c->dev, r.rc));
	} else {
		memcpy(&ms, &r.payload, sizeof(ms));
		/* vfio-user: "data_fd is unused" (its spec, MIG_DEVICE_STATE). */
		if (c->vu && ms.device_state != VFM_STATE_RUNNING)
			ck_fail(c, CK_FEAT_MIG_STATE, "GET returned state %u, expected RUNNING (2)",
				ms.device_state);
		else if (!c->vu && (ms.device_state != VFM_STATE_RUNNING || ms.data_fd != -1))
			ck_fail(c, CK_FEAT_MIG_STATE,
				"GET returned {%u, %d}, expected {RUNNING (2), -1}",
				ms.device_state, ms.data_fd);
		else
			ck_ok(c, CK_FEAT_MIG_STATE);
		if (c->vu)
			ck_note(c, CK_FEAT_MIG_STATE,
				"data_fd not judged: unused in vfio-user (spec: "
				"VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE)");
	}
	expect(c, CK_FEAT_MIG_STATE, HDR + 4, F_GET | F_STATE, 0, -EINVAL);
	expect(c, CK_FEAT_MIG_STATE, HDR + 7, F_SET | F_STATE, 0, -EINVAL);
	expect(c, CK_FEAT_MIG_STATE, HDR, F_PROBE | F_GET | F_STATE, 0, 0);
	/* SET of the current state through the raw op: success, data_fd -1. */
	ms = (struct vfm_device_feature_mig_state){.device_state = VFM_STATE_RUNNING,
						   .data_fd = 77};
	r = (struct raw){.argsz = HDR + 8, .flags = F_SET | F_STATE};
	memcpy(&r.payload, &ms, sizeof(ms));
	if (call(c, &r)) {
		ck_fail(c, CK_FEAT_MIG_STATE, "SET RUNNING in RUNNING failed: %s",
			ck_err(c, c->dev, r.rc));
		return;
	}
	memcpy(&ms, &r.payload, sizeof(ms));
	if (!c->vu && ms.data_fd != -1)
		ck_fail(c, CK_FEAT_MIG_STATE, "SET RUNNING in RUNNING wrote back data_fd %d",
			ms.data_fd);
	else
		ck_ok(c, CK_FEAT_MIG_STATE);
}

static void check_data_size(struct ck *c)
{
	struct raw r = {.argsz = HDR, .flags = F_PROBE | F_GET | F_SIZE};

	if (c->vu && !c->vu_data_size) {
		ck_skip(c, CK_FEAT_DATA_SIZE,
			"the server does not offer MIG_DATA_SIZE: vfio-user defines no such "
			"feature (its spec: Device Features; vfio-mig's extension adds it)");
		return;
	}
	if (call(c, &r) == -ENOTTY) {
		ck_skip(c, CK_FEAT_DATA_SIZE,
			"ENOTTY: the device has no MIG_DATA_SIZE (kernels before 6.3, plain "
			"vfio-user servers)");
		return;
	}
	if (r.rc)
		ck_fail(c, CK_FEAT_DATA_SIZE, "PROBE|GET failed: %s", ck_err(c, c->dev, r.rc));
	r = (struct raw){.argsz = HDR + 8, .flags = F_GET | F_SIZE};
	if (call(c, &r)) {
		ck_fail(c, CK_FEAT_DATA_SIZE, "GET failed: %s", ck_err(c, c->dev, r.rc));
	} else {
		ck_ok(c, CK_FEAT_DATA_SIZE);
		ck_note(c, CK_FEAT_DATA_SIZE, "stop-copy length %llu",
			(unsigned long long)r.payload);
	}
	expect(c, CK_FEAT_DATA_SIZE, HDR + 8, F_SET | F_SIZE, 0, -EINVAL);
	expect(c, CK_FEAT_DATA_SIZE, HDR + 4, F_GET | F_SIZE, 0, -EINVAL);
}

static void check_unknown(struct ck *c)
{
	struct raw r = {.argsz = HDR + 8, .flags = F_GET | F_UNKNOWN};

	call(c, &r);
	if (r.rc == -ENOTTY)
		ck_ok(c, CK_FEAT_UNKNOWN);
	else if (r.rc == -EINVAL && c->vu)
		ck_warn(c, CK_FEAT_UNKNOWN,
			"GET of index 0x%x: EINVAL; vfio-user's DEVICE_FEATURE is the kernel's "
			"VFIO_DEVICE_FEATURE (its spec: VFIO_USER_DEVICE_FEATURE), which answers "
			"ENOTTY for an index it does not know (uAPI doc 1.2.1)",
			F_UNKNOWN);
	else if (r.rc == -EINVAL)
		ck_warn(c, CK_FEAT_UNKNOWN,
			"GET of index 0x%x: EINVAL (kernels before ~6.6; 6.12 "
			"answers ENOTTY)",
			F_UNKNOWN);
	else
		ck_fail(c, CK_FEAT_UNKNOWN, "GET of index 0x%x: %s, expected ENOTTY", F_UNKNOWN,
			r.rc ? ck_err(c, c->dev, r.rc) : "success");
}

void ck_run_features(struct ck *c)
{
	static const enum ck_id ids[] = {CK_FEAT_ARGSZ,	    CK_FEAT_FLAGS,     CK_FEAT_PRECEDENCE,
					 CK_FEAT_MIGRATION, CK_FEAT_MIG_STATE, CK_FEAT_DATA_SIZE,
					 CK_FEAT_UNKNOWN};
	struct raw r = {.argsz = HDR + 8, .flags = F_GET | F_MIG};

	if (call(c, &r) == -EOPNOTSUPP) {
		for (size_t i = 0; i < VFM_ARRAY_SIZE(ids); i++)
			ck_skip(c, ids[i], "the %s transport offers no raw VFIO_DEVICE_FEATURE",
				c->dev->ops->kind);
		return;
	}
	check_argsz(c);
	check_flags(c);
	check_precedence(c);
	check_migration(c);
	check_mig_state(c);
	check_data_size(c);
	check_unknown(c);
}

void ck_run_initial(struct ck *c)
{
	uint32_t st;

	if (ck_get(c, c->dev, &st)) {
		ck_fail(c, CK_STATE_INITIAL, "%s", c->why);
		return;
	}
	if (st == VFM_STATE_RUNNING)
		ck_ok(c, CK_STATE_INITIAL);
	else
		ck_warn(c, CK_STATE_INITIAL,
			"the device was %s when opened; the uAPI does not say, vfio-pci drivers "
			"set RUNNING on open, mtty keeps the state across close and reopen",
			vfm_state_name(st));
}
