// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user client handle against our server over socketpairs: negotiation, identity,
 * states and sessions, save/load and pre-copy through the handle API, the extension and
 * its absence, DMA logging refusals, the raw feature path, the engine between two
 * servers and between a server and an in-process device, and a server that vanishes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "vfio-mig/engine.h"
#include "vu_harness.h"

#define SPEC_A "testdev,size=3M,seed=11,dirty-rate=0"
#define SPEC_B "testdev,size=3M,seed=22,dirty-rate=0"

struct pair {
	struct vu_harness a, b;
	struct vfm_handle *ha, *hb;
};

static struct vfm_handle *open_on(struct vu_harness *h, const char *name,
				  const struct vfm_vu_client_opts *opts)
{
	struct vfm_handle *hd = NULL;
	char err[512];
	int rc = vfm_vu_open_fd(h->cfd, name, opts, &hd, err, sizeof(err));

	h->cfd = -1; /* the handle owns it */
	if (rc)
		fail_msg("open %s: %s", name, err);
	return hd;
}

static int setup_opts(void **state, const struct vfm_vu_server_opts *so,
		      const struct vfm_vu_client_opts *co)
{
	struct pair *p = calloc(1, sizeof(*p));

	if (!p || vh_start_opts(&p->a, SPEC_A, so) || vh_start_opts(&p->b, SPEC_B, so))
		return -1;
	p->ha = open_on(&p->a, "unix:a", co);
	p->hb = open_on(&p->b, "unix:b", co);
	*state = p;
	return 0;
}

static int setup(void **state)
{
	return setup_opts(state, NULL, NULL);
}

static int setup_plain(void **state)
{
	struct vfm_vu_server_opts so = {.no_extensions = true};

	return setup_opts(state, &so, NULL);
}

static int teardown(void **state)
{
	struct pair *p = *state;

	if (p->ha)
		vfm_handle_close(p->ha);
	if (p->hb)
		vfm_handle_close(p->hb);
	vh_stop(&p->a);
	vh_stop(&p->b);
	free(p);
	return 0;
}

static uint64_t sum_of(struct vfm_handle *h)
{
	uint64_t s = 0;

	assert_int_equal(vfm_handle_checksum(h, &s), 0);
	return s;
}

static void test_open_info(void **state)
{
	struct pair *p = *state;
	struct vfm_vu_client_info info;
	uint64_t flags, len;
	uint32_t st;

	assert_int_equal(vfm_vu_client_info(p->ha, &info), 0);
	assert_true(info.testdev);
	assert_true(info.mig_data_size && info.precopy_info);
	assert_int_equal(info.max_read, VFM_VU_OUR_MAX_XFER);
	assert_int_equal(info.max_write, VFM_VU_OUR_MAX_XFER);
	assert_true(info.max_read >= (1u << 20));
	assert_int_equal(vfm_handle_get_flags(p->ha, &flags), 0);
	assert_int_equal(flags,
			 VFM_MIGRATION_STOP_COPY | VFM_MIGRATION_P2P | VFM_MIGRATION_PRE_COPY);
	assert_int_equal(vfm_handle_get_state(p->ha, &st), 0);
	assert_int_equal(st, VFM_STATE_RUNNING);
	assert_int_equal(vfm_handle_data_size(p->ha, &len), 0);
	assert_true(len >= (3u << 20));
	assert_true(sum_of(p->ha) == vfm_testdev_checksum(p->a.td));
	assert_true(sum_of(p->ha) != sum_of(p->hb));
	assert_string_equal(p->ha->ops->kind, "vfio-user");
}

/* Copies everything a saving session gives into a resuming one. */
static uint64_t pump(struct vfm_session *out, struct vfm_session *in, size_t buf_size)
{
	uint8_t *buf = malloc(buf_size);
	uint64_t total = 0;

	for (;;) {
		ssize_t n = vfm_session_read(out, buf, buf_size);

		if (n == -ENOMSG || n == 0)
			break;
		assert_true(n > 0);
		assert_int_equal(vfm_session_write_all(in, buf, (size_t)n), 0);
		total += (uint64_t)n;
	}
	free(buf);
	return total;
}

static void test_save_load(void **state)
{
	struct pair *p = *state;
	struct vfm_session *out = NULL, *in = NULL;
	uint64_t want = sum_of(p->ha);
	uint8_t one;

	assert_int_equal(vfm_handle_set_state(p->hb, VFM_STATE_STOP, &in), 0);
	assert_null(in);
	assert_int_equal(vfm_handle_set_state(p->hb, VFM_STATE_RESUMING, &in), 0);
	assert_non_null(in);
	assert_false(in->saving);
	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_STOP_COPY, &out), 0);
	assert_non_null(out);
	assert_true(out->saving);
	/* Wrong directions. */
	assert_int_equal(vfm_session_read(in, &one, 1), -EBADF);
	assert_int_equal(vfm_session_write(out, &one, 1), -EBADF);
	assert_true(pump(out, in, 1 << 20) > (3u << 20));
	assert_int_equal(vfm_session_read(out, &one, 1), 0);
	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_STOP, NULL), 0);
	/* The session ended with the arc. */
	assert_int_equal(vfm_session_read(out, &one, 1), -ENODEV);
	vfm_session_close(out);
	assert_int_equal(vfm_handle_set_state(p->hb, VFM_STATE_RUNNING, NULL), 0);
	assert_int_equal(vfm_session_write(in, &one, 1), -ENODEV);
	vfm_session_close(in);
	assert_true(sum_of(p->hb) == want);
	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_RUNNING, NULL), 0);
}

static void test_precopy(void **state)
{
	struct pair *p = *state;
	struct vfm_session *out = NULL, *in = NULL, *again = NULL;
	uint64_t want = sum_of(p->ha), initial, dirty;

	assert_int_equal(vfm_handle_set_state(p->hb, VFM_STATE_RESUMING, &in), 0);
	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_PRE_COPY, &out), 0);
	assert_non_null(out);
	assert_int_equal(vfm_session_precopy_info(out, &initial, &dirty), 0);
	assert_true(initial > 0);
	assert_true(pump(out, in, 300000) >= initial);
	assert_int_equal(vfm_session_precopy_info(out, &initial, &dirty), 0);
	assert_int_equal(initial, 0);
	/* PRE_COPY -> STOP_COPY keeps the session. */
	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_STOP_COPY, &again), 0);
	assert_null(again);
	assert_int_equal(vfm_session_precopy_info(out, &initial, &dirty), -EINVAL);
	pump(out, in, 1 << 20);
	vfm_session_close(out);
	assert_int_equal(vfm_handle_set_state(p->hb, VFM_STATE_RUNNING, NULL), 0);
	vfm_session_close(in);
	assert_true(sum_of(p->hb) == want);
	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_RUNNING, NULL), 0);
}

static void test_reset_ends_session(void **state)
{
	struct pair *p = *state;
	struct vfm_session *out = NULL;
	uint8_t buf[16];
	uint32_t st;

	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_STOP_COPY, &out), 0);
	assert_true(vfm_session_read(out, buf, sizeof(buf)) > 0);
	assert_int_equal(vfm_handle_reset(p->ha), 0);
	assert_int_equal(vfm_session_read(out, buf, sizeof(buf)), -ENODEV);
	vfm_session_close(out);
	assert_int_equal(vfm_handle_get_state(p->ha, &st), 0);
	assert_int_equal(st, VFM_STATE_RUNNING);
	/* A refused SET names the device and the states. */
	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_STOP_COPY, &out), 0);
	assert_int_not_equal(vfm_handle_set_state(p->ha, VFM_STATE_PRE_COPY, NULL), 0);
	assert_non_null(strstr(vfm_handle_error(p->ha), "unix:a"));
	vfm_session_close(out);
	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_RUNNING, NULL), 0);
}

static void test_logging_refused(void **state)
{
	struct pair *p = *state;
	struct vfm_device_feature_dma_logging_range r = {0, 1 << 20};
	uint64_t page = 4096, bitmap[8];

	assert_int_not_equal(vfm_handle_log_start(p->ha, &r, 1, &page), 0);
	assert_int_not_equal(vfm_handle_log_report(p->ha, 0, 1 << 20, 4096, bitmap), 0);
	(void)vfm_handle_log_stop(p->ha);
	assert_int_equal(vfm_handle_get_state(p->ha, &(uint32_t){0}), 0);
}

static void test_raw_feature(void **state)
{
	struct pair *p = *state;
	struct {
		struct vfm_device_feature f;
		struct vfm_device_feature_mig_state ms;
	} b = {{16, VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE},
	       {VFM_STATE_STOP_COPY, 0}};
	struct vfm_session *s = NULL;
	uint8_t buf[8];

	assert_int_equal(vfm_handle_feature(p->ha, &b, sizeof(b), &s), 0);
	assert_non_null(s);
	assert_int_equal(b.ms.data_fd, -1);
	assert_true(vfm_session_read(s, buf, sizeof(buf)) == sizeof(buf));
	vfm_session_close(s);
	b.f.flags = VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE;
	assert_int_equal(vfm_handle_feature(p->ha, &b, sizeof(b), &s), 0);
	assert_null(s);
	assert_int_equal(b.ms.device_state, VFM_STATE_STOP_COPY);
	/* The header alone on a SET: EINVAL from the server. */
	b.f.argsz = 8;
	b.f.flags = VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE;
	assert_int_equal(vfm_handle_feature(p->ha, &b, 8, &s), -EINVAL);
	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_RUNNING, NULL), 0);
}

static void test_engine_between_servers(void **state)
{
	struct pair *p = *state;
	struct vfm_mig_opts o = {.buf_size = 4 << 20};
	struct vfm_mig_stats st = {0};
	uint64_t want = sum_of(p->ha);
	char err[512];
	uint32_t s;

	if (vfm_migrate(&p->ha, &p->hb, 1, &o, &st, err, sizeof(err)))
		fail_msg("migrate: %s", err);
	assert_true(sum_of(p->hb) == want);
	assert_int_equal(vfm_handle_get_state(p->hb, &s), 0);
	assert_int_equal(s, VFM_STATE_RUNNING);
	assert_true(st.bytes >= (3u << 20));
}

static void test_engine_with_local(void **state)
{
	struct pair *p = *state;
	struct vfm_handle *loc = NULL;
	struct vfm_mig_opts o = {0};
	struct vfm_mig_stats st = {0};
	char err[512];
	uint64_t want;

	assert_int_equal(vfm_handle_open("local:testdev,size=3M,seed=33,dirty-rate=0", NULL, &loc,
					 err, sizeof(err)),
			 0);
	want = sum_of(loc);
	if (vfm_migrate(&loc, &p->ha, 1, &o, &st, err, sizeof(err)))
		fail_msg("local -> unix: %s", err);
	assert_true(sum_of(p->ha) == want);
	assert_int_equal(vfm_handle_set_state(loc, VFM_STATE_RUNNING, NULL), 0);
	want = sum_of(p->hb);
	if (vfm_migrate(&p->hb, &loc, 1, &o, &st, err, sizeof(err)))
		fail_msg("unix -> local: %s", err);
	assert_true(sum_of(loc) == want);
	vfm_handle_close(loc);
}

static void test_plain_server(void **state)
{
	struct pair *p = *state;
	struct vfm_vu_client_info info;
	struct vfm_session *out = NULL, *in = NULL;
	uint64_t len, a, b, want = sum_of(p->ha);

	assert_int_equal(vfm_vu_client_info(p->ha, &info), 0);
	assert_false(info.mig_data_size || info.precopy_info);
	/* No extension: writes in pieces a one-recv() server takes. */
	assert_int_equal(info.max_write, VFM_VU_PLAIN_WRITE_CHUNK);
	assert_int_equal(vfm_handle_data_size(p->ha, &len), -ENOTSUP);
	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_PRE_COPY, &out), 0);
	/* Neither number from the server: the client estimates them from its reads. */
	assert_int_equal(vfm_session_precopy_info(out, &a, &b), 0);
	assert_true(a == info.max_read && b == 0); /* before the first temporary end */
	assert_int_equal(vfm_handle_data_size(p->ha, &len), -ENOTSUP);
	assert_int_equal(vfm_handle_set_state(p->hb, VFM_STATE_RESUMING, &in), 0);
	assert_true(pump(out, in, 65536) > 0); /* to the temporary end */
	assert_int_equal(vfm_session_precopy_info(out, &a, &b), 0);
	assert_true(a == 0 && b == 0);
	assert_int_equal(vfm_handle_data_size(p->ha, &len), 0);
	assert_int_equal(len, 0); /* nothing since: the first end is the initial data's */
	assert_int_equal(pump(out, in, 65536), 0); /* no workload: nothing more */
	assert_int_equal(vfm_handle_data_size(p->ha, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_STOP_COPY, NULL), 0);
	/* Only in PRE_COPY: stop-copy has no estimate. */
	assert_int_equal(vfm_handle_data_size(p->ha, &len), -ENOTSUP);
	pump(out, in, 65536);
	vfm_session_close(out);
	assert_int_equal(vfm_handle_set_state(p->hb, VFM_STATE_RUNNING, NULL), 0);
	vfm_session_close(in);
	assert_true(sum_of(p->hb) == want);
	/* And the engine copes without a stop-copy size. */
	{
		struct vfm_mig_opts o = {0};
		struct vfm_mig_stats st = {0};
		char err[512];

		assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_RUNNING, NULL), 0);
		if (vfm_migrate(&p->hb, &p->ha, 1, &o, &st, err, sizeof(err)))
			fail_msg("migrate: %s", err);
		assert_true(sum_of(p->ha) == want);
	}
}

static void test_client_without_ext(void **state)
{
	struct vu_harness h;
	struct vfm_vu_client_opts co = {.no_extensions = true};
	struct vfm_vu_client_info info;
	struct vfm_handle *hd;

	(void)state;
	assert_int_equal(vh_start(&h, SPEC_A), 0);
	hd = open_on(&h, "unix:noext", &co);
	assert_int_equal(vfm_vu_client_info(hd, &info), 0);
	assert_false(info.server_caps.ext_mig_data_size);
	assert_false(info.precopy_info);
	vfm_handle_close(hd);
	vh_stop(&h);
}

static int setup_small(void **state)
{
	struct vfm_vu_server_opts so = {.max_data_xfer_size = VFM_VU_MIN_SERVER_XFER};

	return setup_opts(state, &so, NULL);
}

/* The smallest server limit the client takes: every size follows it, nothing breaks. */
static void test_small_server(void **state)
{
	struct pair *p = *state;
	struct vfm_vu_client_info info;
	struct vfm_mig_opts o = {0};
	struct vfm_mig_stats st = {0};
	uint64_t want = sum_of(p->ha);
	char err[512];

	assert_int_equal(vfm_vu_client_info(p->ha, &info), 0);
	assert_int_equal(info.max_read, VFM_VU_MIN_SERVER_XFER);
	assert_int_equal(info.max_write, VFM_VU_MIN_SERVER_XFER);
	if (vfm_migrate(&p->ha, &p->hb, 1, &o, &st, err, sizeof(err)))
		fail_msg("migrate: %s", err);
	assert_true(sum_of(p->hb) == want);
}

/* A server answering VERSION with this max_data_xfer_size, then hanging up. */
struct tiny_server {
	int fd;
	unsigned xfer;
};

static void *tiny_serve(void *arg)
{
	struct tiny_server *t = arg;
	struct vfm_vu_hdr h;
	uint8_t body[512];
	char json[200];
	int n = snprintf(json, sizeof(json),
			 "{\"capabilities\":{\"max_data_xfer_size\":%u,\"migration\":"
			 "{\"pgsize\":4096}}}",
			 t->xfer);

	if (read(t->fd, &h, sizeof(h)) == (ssize_t)sizeof(h) && h.msg_size <= sizeof(h) + 4096 &&
	    read(t->fd, body, h.msg_size - sizeof(h)) >= 0) {
		struct vfm_vu_hdr r;
		uint8_t ver[4] = {0, 0, 1, 0};

		vfm_vu_hdr_reply(&r, &h, (uint32_t)(sizeof(r) + sizeof(ver) + (size_t)n + 1));
		if (write(t->fd, &r, sizeof(r)) < 0 || write(t->fd, ver, sizeof(ver)) < 0 ||
		    write(t->fd, json, (size_t)n + 1) < 0)
			t->xfer = 0;
	}
	shutdown(t->fd, SHUT_RDWR);
	return NULL;
}

/* A server that negotiates less than the client needs is refused, with the reason. */
static void test_tiny_server(void **state)
{
	struct tiny_server t = {.xfer = 1024};
	struct vfm_handle *hd = NULL;
	char err[512] = "";
	pthread_t thr;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	t.fd = sv[1];
	assert_int_equal(pthread_create(&thr, NULL, tiny_serve, &t), 0);
	assert_int_equal(vfm_vu_open_fd(sv[0], "unix:tiny", NULL, &hd, err, sizeof(err)), -EPROTO);
	assert_null(hd);
	assert_non_null(strstr(err, "takes 1024 bytes per message"));
	pthread_join(thr, NULL);
	close(sv[1]);
}

static void test_close_handle_first(void **state)
{
	struct pair *p = *state;
	struct vfm_session *s = NULL;
	uint8_t buf[8];

	assert_int_equal(vfm_handle_set_state(p->ha, VFM_STATE_STOP_COPY, &s), 0);
	assert_non_null(s);
	vfm_handle_close(p->ha);
	p->ha = NULL;
	assert_int_equal(vfm_session_read(s, buf, sizeof(buf)), -ENODEV);
	vfm_session_close(s);
	/* The server noticed the client leaving and put the device back to RUNNING. */
	vh_disconnect(&p->a);
	assert_int_equal(vfm_device_get_state(p->a.dev), VFM_STATE_RUNNING);
}

static void test_server_vanishes(void **state)
{
	struct pair *p = *state;
	uint32_t st;

	p->a.stop = 1; /* the server thread gives up within 200 ms */
	vh_disconnect(&p->a);
	assert_int_equal(vfm_handle_get_state(p->ha, &st), -EPIPE);
	assert_int_equal(vfm_handle_get_state(p->ha, &st), -ENOTCONN);
	assert_true(strlen(vfm_handle_error(p->ha)) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precopy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_ends_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logging_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_feature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_between_servers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_with_local, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_server, setup_plain, teardown),
		cmocka_unit_test(test_client_without_ext),
		cmocka_unit_test_setup_teardown(test_small_server, setup_small, teardown),
		cmocka_unit_test(test_tiny_server),
		cmocka_unit_test_setup_teardown(test_close_handle_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_vanishes, setup, teardown),
	};

	return cmocka_run_group_tests_name("vfio_user_client", tests, NULL, NULL);
}
