// SPDX-License-Identifier: BSD-3-Clause
/*
 * Benchmark cases beyond the in-process path: vfio-user servers in their own processes,
 * pre-copy with a workload, several devices, TCP.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "util.h"
#include "vfio-mig/engine.h"
#include "vfio-mig/handle.h"
#include "vfio-mig/testdev.h"
#ifdef VFM_HAVE_VFIO_USER
#include "vfio-mig/vfio-user.h"
#endif

static int open_local(uint64_t size, uint64_t seed, const char *extra, struct vfm_handle **h)
{
	char spec[160], err[VFM_ERR_LEN];

	snprintf(spec, sizeof(spec), "local:testdev,size=%llu,seed=%llu%s",
		 (unsigned long long)size, (unsigned long long)seed, extra);
	if (vfm_handle_open(spec, NULL, h, err, sizeof(err)))
		return fprintf(stderr, "%s\n", err), -1;
	bench_resident(vfm_local_testdev(*h));
	return 0;
}

static int live(uint64_t size, const char *rate, struct bench_result *res)
{
	struct vfm_mig_opts opts = {.precopy = true, .downtime_limit_ms = 300};
	struct vfm_handle *a, *b;
	struct vfm_mig_stats st;
	char err[VFM_ERR_LEN], extra[64];
	struct timespec settle = {.tv_sec = 0, .tv_nsec = 200000000};

	snprintf(extra, sizeof(extra), ",dirty-rate=%s", rate);
	if (open_local(size, 1, extra, &a) || open_local(size, 2, "", &b))
		return -1;
	nanosleep(&settle, NULL); /* let the workload run before the migration starts */
	if (vfm_migrate(&a, &b, 1, &opts, &st, err, sizeof(err)))
		return fprintf(stderr, "%s\n", err), -1;
	bench_from_stats(res, st.total_s, st.bytes, st.downtime_s);
	vfm_handle_close(a);
	vfm_handle_close(b);
	return 0;
}

static int live_0(uint64_t size, struct bench_result *res)
{
	return live(size, "0", res);
}

static int live_64(uint64_t size, struct bench_result *res)
{
	return live(size, "64M", res);
}

static int live_256(uint64_t size, struct bench_result *res)
{
	return live(size, "256M", res);
}

static int four_devices(uint64_t size, struct bench_result *res)
{
	struct vfm_mig_opts opts = {.precopy = false};
	struct vfm_handle *a[4], *b[4];
	struct vfm_mig_stats st;
	char err[VFM_ERR_LEN];

	for (int i = 0; i < 4; i++) {
		if (open_local(size / 4, (uint64_t)i + 1, "", &a[i]) ||
		    open_local(size / 4, 9, "", &b[i]))
			return -1;
	}
	if (vfm_migrate(a, b, 4, &opts, &st, err, sizeof(err)))
		return fprintf(stderr, "%s\n", err), -1;
	bench_from_stats(res, st.total_s, st.bytes, st.downtime_s);
	for (int i = 0; i < 4; i++) {
		vfm_handle_close(a[i]);
		vfm_handle_close(b[i]);
	}
	return 0;
}

static int one_device(uint64_t size, struct bench_result *res)
{
	struct vfm_mig_opts opts = {.precopy = false};
	struct vfm_handle *a, *b;
	struct vfm_mig_stats st;
	char err[VFM_ERR_LEN];

	if (open_local(size, 1, "", &a) || open_local(size, 9, "", &b))
		return -1;
	if (vfm_migrate(&a, &b, 1, &opts, &st, err, sizeof(err)))
		return fprintf(stderr, "%s\n", err), -1;
	bench_from_stats(res, st.total_s, st.bytes, st.downtime_s);
	vfm_handle_close(a);
	vfm_handle_close(b);
	return 0;
}

/* ---- TCP over loopback: the receiver in a child process, as on another host ---------- */

/* The child: its own device, says so on `ready`, then vfm_receive_listen on lfd, then
 * the CPU seconds that took on `ready`; exits 0 on success. */
static void receive_child(uint64_t size, const char *extra, int lfd, int ready,
			  const struct vfm_tls_opts *tls)
{
	struct vfm_mig_opts opts = {.tls = tls};
	struct vfm_mig_stats st;
	struct vfm_handle *h;
	char err[VFM_ERR_LEN];
	double cpu;

	if (open_local(size, 2, extra, &h) || write(ready, "r", 1) != 1)
		_exit(1);
	cpu = bench_cpu_s();
	if (vfm_receive_listen(&h, 1, lfd, 30000, &opts, &st, err, sizeof(err))) {
		fprintf(stderr, "receive: %s\n", err);
		_exit(1);
	}
	cpu = bench_cpu_s() - cpu;
	if (write(ready, &cpu, sizeof(cpu)) != (ssize_t)sizeof(cpu))
		_exit(1);
	vfm_handle_close(h);
	_exit(0);
}

/*
 * send_uri -> tcp:127.0.0.1 -> receive_listen, the paths of 'migrate' and 'receive', in
 * two processes (with both ends in one, OpenSSL's shared state makes their threads
 * contend in a way two hosts never do).
 */
static int tcp_run(uint64_t size, const char *extra, const struct vfm_tls_opts *tls,
		   struct bench_result *res)
{
	struct vfm_mig_opts opts = {.precopy = false, .tls = tls};
	struct vfm_chan dummy;
	struct vfm_handle *a;
	struct vfm_mig_stats st;
	char err[VFM_ERR_LEN], uri[64];
	int lfd, status, rc, p[2];
	double cpu;
	pid_t pid;
	char c;

	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%d", 20000 + (int)(getpid() % 20000));
	if (open_local(size, 1, extra, &a) ||
	    vfm_chan_listen(uri, &lfd, &dummy, err, sizeof(err)) || pipe(p))
		return -1;
	pid = fork();
	if (pid == 0)
		receive_child(size, extra, lfd, p[1], tls);
	close(lfd);
	close(p[1]);
	/* The clock starts once the destination's device exists, as in the other cases. */
	if (pid < 0 || read(p[0], &c, 1) != 1)
		return -1;
	cpu = bench_cpu_s();
	rc = vfm_send_uri(&a, 1, uri, &opts, &st, err, sizeof(err));
	res->cpu_src = bench_cpu_s() - cpu;
	if (rc)
		fprintf(stderr, "%s\n", err);
	else if (read(p[0], &res->cpu_dst, sizeof(res->cpu_dst)) != (ssize_t)sizeof(res->cpu_dst))
		rc = -1;
	close(p[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		rc = -1;
	bench_from_stats(res, st.total_s, st.bytes, st.downtime_s);
	vfm_handle_close(a);
	return rc ? -1 : 0;
}

static int tcp_case(uint64_t size, struct bench_result *res)
{
	return tcp_run(size, "", NULL, res);
}

/* The same with every byte copied, as a device behind a data fd has it. */
static int tcp_copy_case(uint64_t size, struct bench_result *res)
{
	return tcp_run(size, ",zero-copy=off", NULL, res);
}

/* x509 credentials in QEMU's layout for 127.0.0.1, made by bench/run.sh. */
static int tcp_tls_case(uint64_t size, struct bench_result *res)
{
	struct vfm_tls_opts tls = {.x509_dir = getenv("VFM_BENCH_TLS_DIR")};

	if (!tls.x509_dir)
		return fprintf(stderr, "tcp-tls: VFM_BENCH_TLS_DIR names no credentials\n"), -1;
	return tcp_run(size, "", &tls, res);
}

/* ---- vfio-user: servers in their own processes --------------------------------------- */

#ifdef VFM_HAVE_VFIO_USER
static volatile sig_atomic_t server_stop;

static void on_term(int sig)
{
	(void)sig;
	server_stop = 1;
}

static pid_t serve(const char *path, uint64_t size, uint64_t seed)
{
	struct timespec nap = {.tv_sec = 0, .tv_nsec = 10000000};
	struct stat st;
	pid_t pid = fork();

	if (pid == 0) {
		struct vfm_testdev_config cfg;
		struct vfm_vu_server_opts o = {0};
		struct vfm_testdev *td;
		struct vfm_vu_server *srv;
		char err[VFM_ERR_LEN];

		signal(SIGTERM, on_term);
		vfm_testdev_config_default(&cfg);
		cfg.size = size;
		cfg.seed = seed;
		if (vfm_testdev_create(&cfg, path, NULL, &td, err, sizeof(err)))
			_exit(1);
		bench_resident(td);
		o.testdev = td;
		if (vfm_vu_server_create(vfm_testdev_device(td), &o, &srv, err, sizeof(err)) ||
		    vfm_vu_server_listen(srv, path))
			_exit(1);
		vfm_vu_server_run(srv, &server_stop);
		vfm_vu_server_destroy(srv);
		vfm_testdev_destroy(td);
		_exit(0);
	}
	for (int i = 0; pid > 0 && i < 3000; i++) {
		if (stat(path, &st) == 0)
			return pid;
		nanosleep(&nap, NULL);
	}
	return -1;
}

static void unserve(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static int vu_open(const char *path, struct vfm_handle **h)
{
	char spec[128], err[VFM_ERR_LEN];

	snprintf(spec, sizeof(spec), "unix:%s", path);
	if (vfm_handle_open(spec, NULL, h, err, sizeof(err)))
		return fprintf(stderr, "%s\n", err), -1;
	return 0;
}

static int vu_read_only(uint64_t size, struct bench_result *res)
{
	char path[64];
	struct vfm_handle *h;
	struct vfm_session *s;
	uint8_t *buf = malloc(1u << 20);
	pid_t pid;
	double t0;
	ssize_t n;

	snprintf(path, sizeof(path), "/tmp/vfm-bench-%d.sock", (int)getpid());
	pid = serve(path, size, 1);
	if (pid < 0 || !buf || vu_open(path, &h))
		return -1;
	t0 = vfm_now();
	if (vfm_handle_set_state(h, VFM_STATE_STOP_COPY, &s) || !s)
		return -1;
	while ((n = vfm_session_read(s, buf, 1u << 20)) > 0)
		res->bytes += (uint64_t)n;
	res->seconds = vfm_now() - t0;
	vfm_session_close(s);
	vfm_handle_set_state(h, VFM_STATE_RUNNING, NULL);
	vfm_handle_close(h);
	unserve(pid);
	free(buf);
	return n < 0 ? -1 : 0;
}

static int vu_migrate(uint64_t size, struct bench_result *res)
{
	struct vfm_mig_opts opts = {.precopy = false};
	char a[64], b[64], err[VFM_ERR_LEN];
	struct vfm_handle *ha, *hb;
	struct vfm_mig_stats st;
	pid_t pa, pb;

	snprintf(a, sizeof(a), "/tmp/vfm-bench-%d-a.sock", (int)getpid());
	snprintf(b, sizeof(b), "/tmp/vfm-bench-%d-b.sock", (int)getpid());
	pa = serve(a, size, 1);
	pb = serve(b, size, 2);
	if (pa < 0 || pb < 0 || vu_open(a, &ha) || vu_open(b, &hb))
		return -1;
	if (vfm_migrate(&ha, &hb, 1, &opts, &st, err, sizeof(err)))
		return fprintf(stderr, "%s\n", err), -1;
	bench_from_stats(res, st.total_s, st.bytes, st.downtime_s);
	vfm_handle_close(ha);
	vfm_handle_close(hb);
	unserve(pa);
	unserve(pb);
	return 0;
}

/*
 * Two devices built on libvfio-user (the interop tier's lvu-device, named by
 * $VFM_LVU_DEVICE; bench/run.sh builds it), migrated through our client. The
 * destination checks every byte it is given, so a run that returns 0 moved the state
 * intact.
 */
static pid_t lvu_start(const char *dev, const char *path, uint64_t size, uint64_t seed)
{
	struct timespec nap = {.tv_sec = 0, .tv_nsec = 10000000};
	char ready[80], sz[32], sd[32];
	struct stat st;
	pid_t pid;

	snprintf(ready, sizeof(ready), "%s.ready", path);
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	snprintf(sd, sizeof(sd), "%llu", (unsigned long long)seed);
	unlink(ready);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execl(dev, dev, "--socket", path, "--size", sz, "--seed", sd, "--ready", ready,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; pid > 0 && i < 3000; i++) {
		if (stat(ready, &st) == 0)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		nanosleep(&nap, NULL);
	}
	return -1;
}

static void lvu_stop(pid_t pid, const char *path)
{
	char ready[80];

	unserve(pid);
	snprintf(ready, sizeof(ready), "%s.ready", path);
	unlink(ready);
	unlink(path);
}

static int lvu_migrate(uint64_t size, struct bench_result *res)
{
	struct vfm_mig_opts opts = {.precopy = false};
	const char *dev = getenv("VFM_LVU_DEVICE");
	char a[64], b[64], err[VFM_ERR_LEN];
	struct vfm_handle *ha, *hb;
	struct vfm_mig_stats st;
	pid_t pa, pb;
	int rc = -1;

	if (!dev || !*dev)
		return 1; /* no libvfio-user: bench/run.sh said why */
	snprintf(a, sizeof(a), "/tmp/vfm-bench-%d-la.sock", (int)getpid());
	snprintf(b, sizeof(b), "/tmp/vfm-bench-%d-lb.sock", (int)getpid());
	pa = lvu_start(dev, a, size, 1);
	pb = lvu_start(dev, b, 4096, 2);
	if (pa > 0 && pb > 0 && !vu_open(a, &ha)) {
		if (!vu_open(b, &hb)) {
			rc = vfm_migrate(&ha, &hb, 1, &opts, &st, err, sizeof(err));
			if (rc)
				fprintf(stderr, "%s\n", err);
			else
				bench_from_stats(res, st.total_s, st.bytes, st.downtime_s);
			vfm_handle_close(hb);
		}
		vfm_handle_close(ha);
	}
	if (pa > 0)
		lvu_stop(pa, a);
	if (pb > 0)
		lvu_stop(pb, b);
	return rc ? -1 : 0;
}

/* State changes per second: RUNNING -> STOP -> RUNNING round trips (two SETs each). */
static int vu_latency(uint64_t size, struct bench_result *res)
{
	struct vfm_handle *h;
	char path[64];
	const int rounds = 2000;
	pid_t pid;
	double t0;

	(void)size;
	snprintf(path, sizeof(path), "/tmp/vfm-bench-%d.sock", (int)getpid());
	pid = serve(path, 4096, 1);
	if (pid < 0 || vu_open(path, &h))
		return -1;
	t0 = vfm_now();
	for (int i = 0; i < rounds; i++) {
		if (vfm_handle_set_state(h, VFM_STATE_STOP, NULL) ||
		    vfm_handle_set_state(h, VFM_STATE_RUNNING, NULL))
			return -1;
	}
	res->seconds = vfm_now() - t0;
	res->downtime_s = res->seconds / (2.0 * rounds); /* per state change */
	res->bytes = 0;
	vfm_handle_close(h);
	unserve(pid);
	return 0;
}
#endif

static const struct bench_case cases[] = {
#ifdef VFM_HAVE_VFIO_USER
	{"vu-read", "vfio-user: STOP_COPY read only", vu_read_only, "64M,512M"},
	{"vu-migrate", "vfio-user: server -> client -> server", vu_migrate, "64M,512M"},
	{"lvu-migrate", "vfio-user: libvfio-user device -> client -> libvfio-user device",
	 lvu_migrate, "512M"},
	{"vu-latency", "vfio-user: one SET round trip (downtime column = ms per SET)", vu_latency,
	 "4K"},
#endif
	{"live-0", "live, pre-copy, dirty 0 B/s, limit 300 ms", live_0, "1G"},
	{"live-64", "live, pre-copy, dirty 64 MiB/s, limit 300 ms", live_64, "1G"},
	{"live-256", "live, pre-copy, dirty 256 MiB/s, limit 300 ms", live_256, "1G"},
	{"one", "1 device, stop-copy", one_device, "1G"},
	{"four", "4 devices of 1/4 the size each, in parallel", four_devices, "1G"},
	{"tcp", "send -> TCP loopback -> receive", tcp_case, "1G"},
	{"tcp-copy", "send -> TCP loopback -> receive, zero-copy=off", tcp_copy_case, "1G"},
	{"tcp-tls", "send -> TCP loopback -> receive, TLS 1.3 (x509)", tcp_tls_case, "1G"},
};

size_t bench_extra_count(void)
{
	return VFM_ARRAY_SIZE(cases);
}

const struct bench_case *bench_extra(size_t i)
{
	return i < VFM_ARRAY_SIZE(cases) ? &cases[i] : NULL;
}
