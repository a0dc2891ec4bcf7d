// SPDX-License-Identifier: BSD-3-Clause
/*
 * The conformance checker (include/vfio-mig/check.h): it passes the sample device, fails
 * each deliberate violation of the device library (device.h, enum vfm_violation) in the
 * check that enforces the rule, turns an mtty-like device's documented quirks (uAPI doc
 * 4.1) into WARN and not FAIL, always leaves the device RUNNING, and does the same over
 * vfio-user when that transport is built.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vfio-mig/check.h"
#include "vfio-mig/device.h"
#include "vfio-mig/fsm.h"
#include "vfio-mig/handle.h"
#include "vfio-mig/testdev.h"
#ifdef VFM_HAVE_VFIO_USER
#include "vfio-mig/vfio-user.h"
#endif

#define MAX_CHECKS 64

/* What a run reported, by check name. */
struct results {
	size_t n;
	char name[MAX_CHECKS][32];
	enum vfm_check_verdict v[MAX_CHECKS];
	char detail[MAX_CHECKS][512];
	struct vfm_check_summary sum;
};

static void collect(void *opaque, const struct vfm_check_result *r)
{
	struct results *res = opaque;

	assert_true(res->n < MAX_CHECKS);
	snprintf(res->name[res->n], sizeof(res->name[0]), "%s", r->info->name);
	res->v[res->n] = r->verdict;
	snprintf(res->detail[res->n], sizeof(res->detail[0]), "%s", r->detail);
	res->n++;
}

/* The verdict of a check; fails the test if it was not reported. */
static enum vfm_check_verdict verdict(const struct results *res, const char *name)
{
	for (size_t i = 0; i < res->n; i++) {
		if (!strcmp(res->name[i], name))
			return res->v[i];
	}
	fail_msg("check %s not reported", name);
	return VFM_CHECK_SKIP;
}

static void print_non_pass(const struct results *res)
{
	for (size_t i = 0; i < res->n; i++) {
		if (res->v[i] != VFM_CHECK_PASS)
			print_message("#   %s %s: %s\n", vfm_check_verdict_name(res->v[i]),
				      res->name[i], res->detail[i]);
	}
}

static void run(struct vfm_handle *dev, struct vfm_handle *peer, const struct vfm_check_opts *o,
		struct results *res)
{
	memset(res, 0, sizeof(*res));
	assert_int_equal(vfm_check_run(dev, peer, o, collect, res, &res->sum), 0);
	assert_int_equal(res->sum.pass + res->sum.warn + res->sum.fail + res->sum.skip, res->n);
}

static struct vfm_handle *open_spec(const char *spec)
{
	struct vfm_handle *h;
	char err[512];
	int rc = vfm_handle_open(spec, NULL, &h, err, sizeof(err));

	if (rc)
		fail_msg("%s: %s", spec, err);
	return h;
}

static void assert_running(struct vfm_handle *h)
{
	uint32_t st;

	assert_int_equal(vfm_handle_get_state(h, &st), 0);
	assert_int_equal(st, VFM_STATE_RUNNING);
}

/* ---- the list ---- */

static void test_list(void **state)
{
	(void)state;
	assert_true(vfm_check_count() >= 20);
	for (size_t i = 0; i < vfm_check_count(); i++) {
		const struct vfm_check_info *a = vfm_check_get(i);

		assert_non_null(a->name);
		assert_true(strlen(a->section) > 0);
		assert_true(strlen(a->what) > 0);
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(a->name, vfm_check_get(k)->name);
	}
	assert_null(vfm_check_get(vfm_check_count()));
	assert_string_equal(vfm_check_verdict_name(VFM_CHECK_FAIL), "FAIL");
}

/* ---- the sample device ---- */

static void expect_clean(const struct results *res, bool with_peer)
{
	if (res->sum.fail || res->sum.warn)
		print_non_pass(res);
	assert_int_equal(res->sum.fail, 0);
	assert_int_equal(res->sum.warn, 0);
	assert_true(res->sum.left_running);
	assert_int_equal(verdict(res, "roundtrip.peer"),
			 with_peer ? VFM_CHECK_PASS : VFM_CHECK_SKIP);
}

static void test_testdev_passes(void **state)
{
	static const char *const specs[] = {
		"local:testdev,size=256K",
		"local:testdev,size=256K,p2p=off",
		"local:testdev,size=256K,pre-copy=off",
		"local:testdev,size=256K,p2p=off,pre-copy=off",
		"local:testdev,size=0",
		"local:testdev,size=300K,dirty-rate=32M",
	};
	struct vfm_check_opts o = {.refused_arcs = true};
	struct results res;

	(void)state;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct vfm_handle *dev = open_spec(specs[i]);
		struct vfm_handle *peer = open_spec("local:testdev,size=256K,seed=5");
		bool same_size = strstr(specs[i], "size=256K") != NULL;

		print_message("# %s\n", specs[i]);
		run(dev, same_size ? peer : NULL, &o, &res);
		expect_clean(&res, same_size);
		assert_int_equal(verdict(&res, "fsm.refused-arcs"), strstr(specs[i], "pre-copy=off")
									    ? VFM_CHECK_SKIP
									    : VFM_CHECK_PASS);
		assert_running(dev);
		vfm_handle_close(peer);
		vfm_handle_close(dev);
	}
}

/* ---- every violation, in the check that enforces its rule ---- */

struct bug {
	const char *name;
	const char *check;    /* FAILs on the in-process transport */
	const char *vu_check; /* over vfio-user; NULL: not observable there (SKIP or PASS) */
	const char *vu_skip;  /* the check that says why over vfio-user, if it SKIPs */
};

static const struct bug bugs[] = {
	{"wrong-path", "fsm.path", "fsm.path", NULL},
	{"fd-on-non-opening-arc", "fsm.data-fd", NULL, NULL},
	{"no-fd-on-opening-arc", "fsm.data-fd", "fsm.data-fd", NULL},
	{"stream-not-ending", "stream.end", "stream.end", NULL},
	{"session-survives-reset", "reset.kills-session", NULL, "reset.kills-session"},
	{"session-survives-arc", "fsm.session-end", NULL, "fsm.session-end"},
	{"enomsg-in-stop-copy", "stream.no-enomsg", "stream.no-enomsg", NULL},
	{"precopy-grows", "precopy.info", "precopy.info", NULL},
	{"accept-invalid-data", "resume.invalid-data", "resume.invalid-data", NULL},
	{"reset-not-running", "reset.running", "reset.running", NULL},
	{"refused-arc-accepted", "fsm.refused-arcs", "fsm.refused-arcs", NULL},
	{"feature-precedence", "feature.precedence", "feature.precedence", NULL},
};

static void test_bugs_fail_local(void **state)
{
	struct vfm_check_opts o = {.refused_arcs = true};
	struct results res;
	char spec[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bugs) / sizeof(bugs[0]); i++) {
		struct vfm_handle *dev;

		snprintf(spec, sizeof(spec), "local:testdev,size=128K,bug=%s", bugs[i].name);
		dev = open_spec(spec);
		print_message("# %s\n", spec);
		run(dev, NULL, &o, &res);
		if (verdict(&res, bugs[i].check) != VFM_CHECK_FAIL)
			print_non_pass(&res);
		assert_int_equal(verdict(&res, bugs[i].check), VFM_CHECK_FAIL);
		assert_true(res.sum.left_running);
		assert_int_equal(verdict(&res, "final.running"), VFM_CHECK_PASS);
		assert_running(dev);
		vfm_handle_close(dev);
	}
}

/* The refused arcs are sent only on request. */
static void test_refused_arcs_need_the_option(void **state)
{
	struct vfm_handle *dev = open_spec("local:testdev,size=64K,bug=refused-arc-accepted");
	struct vfm_check_opts o = {0};
	struct results res;

	(void)state;
	run(dev, NULL, &o, &res);
	assert_int_equal(verdict(&res, "fsm.refused-arcs"), VFM_CHECK_SKIP);
	assert_int_equal(res.sum.fail, 0);
	vfm_handle_close(dev);
}

/* ---- an mtty-like device: its documented quirks are WARN, not FAIL ---- */

#define M_HDR	24
#define M_SIZE	(M_HDR + 36)
#define M_MAGIC 0x7e9d09898c3e2c4eull

struct mtty {
	struct vfm_device *dev;
	uint8_t regs[M_SIZE];
	uint8_t buf[M_SIZE];
	size_t filled, pos;
};

static void m_header(uint8_t *b)
{
	uint64_t magic = M_MAGIC;
	uint32_t words[4] = {1, 0, 1, 0}; /* major, minor, ports, flags */

	memcpy(b, &magic, 8);
	memcpy(b + 8, words, sizeof(words));
}

/* mtty_step_state (uAPI doc 4.1), for one port. */
static int m_step(void *opaque, uint32_t from, uint32_t to, bool *enter_error)
{
	struct mtty *m = opaque;

	(void)enter_error;
	if (from == VFM_STATE_RESUMING && to == VFM_STATE_STOP) {
		if (m->filled < M_SIZE)
			return -EINVAL; /* only the length is checked */
		memcpy(m->regs + M_HDR, m->buf + M_HDR, M_SIZE - M_HDR);
	}
	if (vfm_arc_ends_session(from, to))
		m->filled = m->pos = 0;
	if (vfm_arc_opens_session(from, to)) {
		m->filled = m->pos = 0;
		if (to != VFM_STATE_RESUMING) {
			m_header(m->buf);
			m->filled = M_HDR;
		}
	}
	if (to == VFM_STATE_STOP_COPY) {
		memcpy(m->buf + M_HDR, m->regs + M_HDR, M_SIZE - M_HDR);
		m->filled = M_SIZE;
	}
	return 0;
}

static ssize_t m_save(void *opaque, void *buf, size_t len)
{
	struct mtty *m = opaque;
	size_t n = len < m->filled - m->pos ? len : m->filled - m->pos;

	memcpy(buf, m->buf + m->pos, n);
	m->pos += n;
	return (ssize_t)n; /* 0 at the temporary end: no ENOMSG */
}

static ssize_t m_load(void *opaque, const void *buf, size_t len)
{
	struct mtty *m = opaque;
	size_t before = m->pos;
	uint64_t magic;

	if (m->pos + len > M_SIZE)
		return -ENOMEM;
	memcpy(m->buf + m->pos, buf, len);
	m->pos += len;
	m->filled += len;
	memcpy(&magic, m->buf, 8);
	if (before < M_HDR && m->pos >= M_HDR && magic != M_MAGIC)
		return -EFAULT; /* the bytes are consumed all the same */
	return (ssize_t)len;
}

static int m_data_size(void *opaque, uint64_t *len)
{
	(void)opaque;
	*len = M_SIZE;
	return 0;
}

static int m_precopy_info(void *opaque, uint64_t *initial, uint64_t *dirty)
{
	struct mtty *m = opaque;

	*initial = m->filled - m->pos;
	*dirty = 0;
	return 0;
}

static const struct vfm_device_ops mtty_ops = {
	.step = m_step,
	.save = m_save,
	.load = m_load,
	.data_size = m_data_size,
	.precopy_info = m_precopy_info,
};

static void test_mtty_quirks_warn(void **state)
{
	struct vfm_device_config cfg = {.name = "mtty-model", .flags = 7};
	struct vfm_check_opts o = {.refused_arcs = true};
	struct mtty m = {0};
	struct vfm_handle *h;
	struct results res;

	(void)state;
	for (size_t i = 0; i < M_SIZE; i++)
		m.regs[i] = (uint8_t)(i * 3);
	assert_int_equal(vfm_device_create(&cfg, &mtty_ops, &m, &m.dev), 0);
	/* The state persists over close and reopen: found in STOP. */
	assert_int_equal(vfm_device_set_state(m.dev, VFM_STATE_STOP, NULL), 0);
	assert_int_equal(vfm_local_wrap(m.dev, "mtty-model", NULL, &h), 0);
	run(h, NULL, &o, &res);
	print_non_pass(&res);
	assert_int_equal(res.sum.fail, 0);
	assert_int_equal(verdict(&res, "state.initial"), VFM_CHECK_WARN);
	assert_int_equal(verdict(&res, "stream.precopy-end"), VFM_CHECK_WARN);
	assert_int_equal(verdict(&res, "resume.invalid-data"), VFM_CHECK_WARN);
	assert_int_equal(verdict(&res, "resume.incomplete-data"), VFM_CHECK_PASS);
	assert_int_equal(verdict(&res, "stream.continuous"), VFM_CHECK_PASS);
	assert_int_equal(res.sum.warn, 3);
	assert_running(h);
	vfm_handle_close(h);
	vfm_device_destroy(m.dev);
}

/* ---- RUNNING at the end, whatever happened ---- */

static void test_left_running_from_resuming(void **state)
{
	struct vfm_handle *dev = open_spec("local:testdev,size=64K");
	struct vfm_session *s = NULL;
	struct results res;

	(void)state;
	assert_int_equal(vfm_handle_set_state(dev, VFM_STATE_RESUMING, &s), 0);
	assert_non_null(s);
	run(dev, NULL, NULL, &res);
	assert_int_equal(verdict(&res, "state.initial"), VFM_CHECK_WARN);
	assert_int_equal(res.sum.fail, 0);
	assert_running(dev);
	vfm_session_close(s);
	vfm_handle_close(dev);
}

static void test_only_and_cancel(void **state)
{
	struct vfm_handle *dev = open_spec("local:testdev,size=64K");
	static volatile sig_atomic_t stop = 1;
	struct vfm_check_opts o = {.only = "fsm.path,stream."};
	struct results res;

	(void)state;
	run(dev, NULL, &o, &res);
	/* fsm.path, the four stream.* and final.running */
	assert_int_equal(res.n, 6);
	assert_int_equal(verdict(&res, "fsm.path"), VFM_CHECK_PASS);
	assert_int_equal(verdict(&res, "stream.continuous"), VFM_CHECK_PASS);
	o = (struct vfm_check_opts){.cancel = &stop};
	run(dev, NULL, &o, &res);
	assert_int_equal(res.sum.skip, res.n - 1);
	assert_int_equal(verdict(&res, "final.running"), VFM_CHECK_PASS);
	assert_running(dev);
	vfm_handle_close(dev);
}

/* ---- over vfio-user ---- */

#ifdef VFM_HAVE_VFIO_USER
struct vu_srv {
	struct vfm_testdev *td;
	struct vfm_vu_server *srv;
	pthread_t thread;
	volatile sig_atomic_t stop;
	char path[108];
};

static void *serve(void *arg)
{
	struct vu_srv *v = arg;

	vfm_vu_server_run(v->srv, &v->stop);
	return NULL;
}

static void vu_start(struct vu_srv *v, const char *spec)
{
	struct vfm_testdev_config cfg;
	struct vfm_vu_server_opts so = {0};
	char err[512];

	memset(v, 0, sizeof(*v));
	snprintf(v->path, sizeof(v->path), "/tmp/vfm-test-check-%d.sock", (int)getpid());
	unlink(v->path);
	vfm_testdev_config_default(&cfg);
	assert_int_equal(vfm_testdev_parse(spec, &cfg, err, sizeof(err)), 0);
	assert_int_equal(vfm_testdev_create(&cfg, "vu", NULL, &v->td, err, sizeof(err)), 0);
	so.testdev = v->td;
	assert_int_equal(
		vfm_vu_server_create(vfm_testdev_device(v->td), &so, &v->srv, err, sizeof(err)), 0);
	assert_int_equal(vfm_vu_server_listen(v->srv, v->path), 0);
	assert_int_equal(pthread_create(&v->thread, NULL, serve, v), 0);
}

static void vu_stop(struct vu_srv *v)
{
	v->stop = 1;
	pthread_join(v->thread, NULL);
	vfm_vu_server_destroy(v->srv);
	vfm_testdev_destroy(v->td);
}

static struct vfm_handle *vu_open(struct vu_srv *v)
{
	char spec[128];

	snprintf(spec, sizeof(spec), "unix:%s", v->path);
	return open_spec(spec);
}

static void test_vfio_user(void **state)
{
	struct vfm_check_opts o = {.refused_arcs = true};
	struct results res;
	struct vu_srv v;
	char spec[128];

	(void)state;
	vu_start(&v, "testdev,size=128K");
	{
		struct vfm_handle *dev = vu_open(&v);

		run(dev, NULL, &o, &res);
		print_non_pass(&res);
		assert_int_equal(res.sum.fail, 0);
		assert_int_equal(res.sum.warn, 0);
		assert_int_equal(verdict(&res, "fsm.session-end"), VFM_CHECK_SKIP);
		assert_int_equal(verdict(&res, "reset.kills-session"), VFM_CHECK_SKIP);
		assert_running(dev);
		vfm_handle_close(dev);
	}
	vu_stop(&v);
	for (size_t i = 0; i < sizeof(bugs) / sizeof(bugs[0]); i++) {
		struct vfm_handle *dev;

		snprintf(spec, sizeof(spec), "testdev,size=128K,bug=%s", bugs[i].name);
		print_message("# vfio-user %s\n", spec);
		vu_start(&v, spec);
		dev = vu_open(&v);
		run(dev, NULL, &o, &res);
		if (bugs[i].vu_check) {
			assert_int_equal(verdict(&res, bugs[i].vu_check), VFM_CHECK_FAIL);
		} else {
			/* Not observable without data fds: nothing FAILs. */
			assert_int_equal(res.sum.fail, 0);
			if (bugs[i].vu_skip)
				assert_int_equal(verdict(&res, bugs[i].vu_skip), VFM_CHECK_SKIP);
		}
		assert_true(res.sum.left_running);
		vfm_handle_close(dev);
		vu_stop(&v);
	}
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_testdev_passes),
		cmocka_unit_test(test_bugs_fail_local),
		cmocka_unit_test(test_refused_arcs_need_the_option),
		cmocka_unit_test(test_mtty_quirks_warn),
		cmocka_unit_test(test_left_running_from_resuming),
		cmocka_unit_test(test_only_and_cancel),
#ifdef VFM_HAVE_VFIO_USER
		cmocka_unit_test(test_vfio_user),
#endif
	};

	return cmocka_run_group_tests_name("check", tests, NULL, NULL);
}
