// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user at process level: servers run in child processes listening on real socket
 * paths (as `vfio-mig serve` does), clients in this process or in children that are
 * killed mid-migration.
 *
 *   vu_procs                 the tests (cmocka; TAP with CMOCKA_MESSAGE_OUTPUT=TAP)
 *   vu_procs --bench SIZE [--buf BYTES] [--reps N]
 *                            source -> destination throughput between two servers
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vfio-mig/engine.h"
#include "vfio-mig/fsm.h"
#include "vfio-mig/testdev.h"
#include "vfio-mig/vfio-user.h"

static volatile sig_atomic_t child_stop;

static void on_term(int sig)
{
	(void)sig;
	child_stop = 1;
}

/* The child: what `vfio-mig serve --socket PATH --device SPEC` does. */
static void serve_child(const char *path, const char *spec)
{
	struct vfm_testdev_config cfg;
	struct vfm_testdev *td;
	struct vfm_vu_server *srv;
	struct vfm_vu_server_opts o = {0};
	struct sigaction sa = {.sa_handler = on_term};
	char err[512];
	int rc;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	vfm_testdev_config_default(&cfg);
	if (vfm_testdev_parse(spec, &cfg, err, sizeof(err)) ||
	    vfm_testdev_create(&cfg, path, NULL, &td, err, sizeof(err))) {
		fprintf(stderr, "child: %s\n", err);
		_exit(2);
	}
	o.testdev = td;
	if (vfm_vu_server_create(vfm_testdev_device(td), &o, &srv, err, sizeof(err))) {
		fprintf(stderr, "child: %s\n", err);
		_exit(2);
	}
	if (vfm_vu_server_listen(srv, path)) {
		fprintf(stderr, "child: %s\n", vfm_vu_server_error(srv));
		_exit(3);
	}
	rc = vfm_vu_server_run(srv, &child_stop);
	vfm_vu_server_destroy(srv);
	vfm_testdev_destroy(td);
	_exit(rc ? 4 : 0);
}

struct server {
	pid_t pid;
	char path[108];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_path(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Starts a server and connects the moment its path exists: that must never be refused. */
static int server_start(struct server *s, const char *tag, const char *spec)
{
	double t0 = now();

	snprintf(s->path, sizeof(s->path), "/tmp/vu-procs-%d-%s.sock", (int)getpid(), tag);
	unlink(s->path);
	s->pid = fork();
	if (s->pid == 0)
		serve_child(s->path, spec);
	while (access(s->path, F_OK) != 0) {
		if (now() - t0 > 20)
			return -ETIMEDOUT;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
			return -ECHILD;
	}
	{
		int fd = connect_path(s->path);

		if (fd < 0)
			return fd; /* refused although the path exists */
		close(fd);
	}
	return 0;
}

static int server_stop(struct server *s)
{
	int status = 0;

	kill(s->pid, SIGTERM);
	waitpid(s->pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static struct vfm_handle *open_path(const char *path)
{
	struct vfm_handle *h = NULL;
	char err[512];
	double t0 = now();

	/* The previous client of the server may still be being cleaned up. */
	while (vfm_vu_open(path, NULL, &h, err, sizeof(err))) {
		if (now() - t0 > 10) {
			fprintf(stderr, "open %s: %s\n", path, err);
			return NULL;
		}
		usleep(10000);
	}
	return h;
}

static uint32_t state_of(const char *path)
{
	struct vfm_handle *h = open_path(path);
	uint32_t st = VFM_STATE_NR;

	assert_non_null(h);
	assert_int_equal(vfm_handle_get_state(h, &st), 0);
	vfm_handle_close(h);
	return st;
}

static uint64_t checksum_of(const char *path)
{
	struct vfm_handle *h = open_path(path);
	uint64_t sum = 0;

	assert_non_null(h);
	assert_int_equal(vfm_handle_checksum(h, &sum), 0);
	vfm_handle_close(h);
	return sum;
}

static void test_socket_file(void **state)
{
	struct server s;
	struct stat st;

	(void)state;
	assert_int_equal(server_start(&s, "mode", "testdev,size=1M"), 0);
	assert_int_equal(lstat(s.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* A second server on the same live path is refused. */
	{
		pid_t pid = fork();
		int status;

		if (pid == 0)
			serve_child(s.path, "testdev,size=1M");
		waitpid(pid, &status, 0);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 3);
	}
	/* SIGTERM: clean exit, socket removed. */
	assert_int_equal(server_stop(&s), 0);
	assert_int_not_equal(access(s.path, F_OK), 0);
}

static void test_one_client_at_a_time(void **state)
{
	struct server s;
	struct vfm_handle *h, *h2 = NULL;
	char err[512];
	uint32_t st;

	(void)state;
	assert_int_equal(server_start(&s, "one", "testdev,size=1M"), 0);
	h = open_path(s.path);
	assert_non_null(h);
	assert_int_not_equal(vfm_vu_open(s.path, NULL, &h2, err, sizeof(err)), 0);
	assert_int_equal(vfm_handle_get_state(h, &st), 0);
	vfm_handle_close(h);
	/* Through the generic opener, with the "unix:" prefix. */
	{
		char spec[160];
		double t0 = now();

		snprintf(spec, sizeof(spec), "unix:%s", s.path);
		while (vfm_handle_open(spec, NULL, &h, err, sizeof(err)) && now() - t0 < 10)
			usleep(10000);
		assert_non_null(h);
		assert_string_equal(vfm_handle_name(h), spec);
		vfm_handle_close(h);
	}
	assert_int_equal(server_stop(&s), 0);
}

/* A client process killed in the middle of each phase. */
static void kill_client_in(const char *path, uint32_t target, bool data)
{
	int pipefd[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	if (pid == 0) {
		struct vfm_handle *h = open_path(path);
		struct vfm_session *s = NULL;
		uint8_t buf[65536];

		if (!h)
			_exit(1);
		if (target == VFM_STATE_RESUMING || target == VFM_STATE_STOP_COPY)
			vfm_handle_set_state(h, VFM_STATE_STOP, NULL);
		if (vfm_handle_set_state(h, target, &s))
			_exit(1);
		if (data && s && s->saving)
			vfm_session_read(s, buf, sizeof(buf));
		if (data && s && !s->saving)
			vfm_session_write(s, "\1\0\x44\x54", 4);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	close(pipefd[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_client_killed_mid_migration(void **state)
{
	static const uint32_t states[] = {VFM_STATE_STOP, VFM_STATE_PRE_COPY,
					  VFM_STATE_PRE_COPY_P2P, VFM_STATE_STOP_COPY,
					  VFM_STATE_RESUMING};
	struct server s;
	uint64_t sum;

	(void)state;
	assert_int_equal(server_start(&s, "kill", "testdev,size=4M,seed=9,dirty-rate=0"), 0);
	sum = checksum_of(s.path);
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		for (int data = 0; data < 2; data++) {
			kill_client_in(s.path, states[i], data);
			assert_int_equal(state_of(s.path), VFM_STATE_RUNNING);
			if (states[i] != VFM_STATE_RESUMING)
				assert_true(checksum_of(s.path) == sum);
		}
	}
	assert_int_equal(server_stop(&s), 0);
}

static void test_migrate_between_processes(void **state)
{
	struct server a, b;
	struct vfm_handle *ha, *hb;
	struct vfm_mig_opts o = {0};
	struct vfm_mig_stats st = {0};
	char err[512];
	uint64_t sum;

	(void)state;
	assert_int_equal(server_start(&a, "src", "testdev,size=16M,seed=1,dirty-rate=0"), 0);
	assert_int_equal(server_start(&b, "dst", "testdev,size=16M,seed=2,dirty-rate=0"), 0);
	sum = checksum_of(a.path);
	ha = open_path(a.path);
	hb = open_path(b.path);
	assert_non_null(ha);
	assert_non_null(hb);
	if (vfm_migrate(&ha, &hb, 1, &o, &st, err, sizeof(err)))
		fail_msg("%s", err);
	vfm_handle_close(ha);
	vfm_handle_close(hb);
	assert_true(checksum_of(b.path) == sum);
	assert_int_equal(state_of(b.path), VFM_STATE_RUNNING);
	assert_int_equal(server_stop(&a), 0);
	assert_int_equal(server_stop(&b), 0);
}

static int bench(int argc, char **argv)
{
	unsigned long long size = 512ull << 20, buf = 4 << 20;
	int reps = 3;
	char spec[128];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--bench") && i + 1 < argc)
			size = strtoull(argv[++i], NULL, 0) << 20;
		else if (!strcmp(argv[i], "--buf") && i + 1 < argc)
			buf = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
	}
	for (int r = 0; r < reps; r++) {
		struct server a, b;
		struct vfm_handle *ha, *hb;
		struct vfm_mig_opts o = {.buf_size = buf};
		struct vfm_mig_stats st = {0};
		char err[512];
		double t0;

		snprintf(spec, sizeof(spec), "testdev,size=%llu,seed=%d,dirty-rate=0", size, r + 1);
		if (server_start(&a, "bsrc", spec) || server_start(&b, "bdst", "testdev,size=1M"))
			return 1;
		snprintf(spec, sizeof(spec), "testdev,size=%llu,seed=77,dirty-rate=0", size);
		server_stop(&b);
		if (server_start(&b, "bdst", spec))
			return 1;
		ha = open_path(a.path);
		hb = open_path(b.path);
		t0 = now();
		if (!ha || !hb || vfm_migrate(&ha, &hb, 1, &o, &st, err, sizeof(err))) {
			fprintf(stderr, "migrate: %s\n", err);
			return 1;
		}
		t0 = now() - t0;
		printf("%llu MiB, buffer %llu: %.3f s, %.2f GB/s (engine: %.3f s, downtime %.3f "
		       "s)\n",
		       size >> 20, buf, t0, (double)st.bytes / t0 / 1e9, st.total_s, st.downtime_s);
		vfm_handle_close(ha);
		vfm_handle_close(hb);
		server_stop(&a);
		server_stop(&b);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_file),
		cmocka_unit_test(test_one_client_at_a_time),
		cmocka_unit_test(test_client_killed_mid_migration),
		cmocka_unit_test(test_migrate_between_processes),
	};

	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && !strcmp(argv[1], "--bench"))
		return bench(argc, argv);
	return cmocka_run_group_tests_name("vfio_user_procs", tests, NULL, NULL);
}
