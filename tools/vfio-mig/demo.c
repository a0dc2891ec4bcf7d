// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig demo: migrate a sample device to a second one and show the result. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "vfio-mig.h"

static void demo_usage(FILE *f)
{
	fprintf(f,
		"usage: %s demo [--size N] [--seed N] [--local]\n\n"
		"Starts two vfio-user server processes, each serving a sample device of N bytes\n"
		"(default 256M; the first filled from the seed, the second from another one),\n"
		"live-migrates the first into the second with progress, and prints the state\n"
		"size, time, throughput and both checksums. --local uses in-process devices.\n",
		prog);
}

static int demo_run(const char *from, const char *to, uint64_t size)
{
	struct vfm_handle *src = NULL, *dst = NULL;
	struct vfm_mig_opts opts = {0};
	struct progress_state ps;
	struct vfm_mig_stats st;
	uint64_t a = 0, b = 0;
	char err[VFM_ERR_LEN], sz[32];
	int rc = EXIT_FAIL;

	if (open_device(from, &src) || open_device(to, &dst))
		goto out;
	if (vfm_handle_checksum(src, &a))
		goto out;
	vfm_format_size(size, sz, sizeof(sz));
	printf("source:      %s\n", from);
	printf("destination: %s\n", to);
	progress_opts(&opts, &ps, false);
	opts.precopy = true;
	if (vfm_migrate(&src, &dst, 1, &opts, &st, err, sizeof(err))) {
		progress_end(&ps);
		fail("demo: %s", err);
		goto out;
	}
	progress_end(&ps);
	if (vfm_handle_checksum(dst, &b)) {
		fail("demo: cannot read the destination's checksum");
		goto out;
	}
	printf("state size:  %s (%llu bytes of device data moved)\n", sz,
	       (unsigned long long)st.bytes);
	printf("time:        %.3f s (downtime %.1f ms)\n", st.total_s, st.downtime_s * 1e3);
	printf("throughput:  %.2f GB/s\n",
	       st.total_s > 0 ? (double)st.bytes / st.total_s / 1e9 : 0);
	printf("source checksum:      %016llx\n", (unsigned long long)a);
	printf("destination checksum: %016llx\n", (unsigned long long)b);
	printf("checksums %s\n", a == b ? "equal: the state moved intact" : "DIFFER");
	rc = a == b ? EXIT_OK : EXIT_FAIL;
out:
	vfm_handle_close(src);
	vfm_handle_close(dst);
	return rc;
}

#ifdef VFM_HAVE_VFIO_USER
/* Starts "vfio-mig serve" on path; waits until the socket is there. */
static pid_t start_server(const char *path, uint64_t size, uint64_t seed)
{
	struct timespec nap = {.tv_sec = 0, .tv_nsec = 20000000};
	char spec[128];
	struct stat st;
	pid_t pid;

	snprintf(spec, sizeof(spec), "testdev,size=%llu,seed=%llu", (unsigned long long)size,
		 (unsigned long long)seed);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "vfio-mig", "serve", "--socket", path, "--device", spec,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; pid > 0 && i < 1500; i++) {
		if (stat(path, &st) == 0)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		nanosleep(&nap, NULL);
	}
	return -1;
}

static void stop_server(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

static int demo_servers(uint64_t size, uint64_t seed)
{
	char dir[] = "/tmp/vfio-mig-demo.XXXXXX", a[64], b[64], from[80], to[80];
	pid_t pa, pb = -1;
	int rc = EXIT_FAIL;

	if (!mkdtemp(dir))
		return fail("demo: cannot create a temporary directory: %s", strerror(errno));
	snprintf(a, sizeof(a), "%s/a.sock", dir);
	snprintf(b, sizeof(b), "%s/b.sock", dir);
	printf("starting two vfio-user servers (vfio-mig serve), %llu bytes of state each\n",
	       (unsigned long long)size);
	pa = start_server(a, size, seed);
	if (pa > 0)
		pb = start_server(b, size, seed + 1);
	if (pa > 0 && pb > 0) {
		snprintf(from, sizeof(from), "unix:%s", a);
		snprintf(to, sizeof(to), "unix:%s", b);
		rc = demo_run(from, to, size);
	} else {
		fail("demo: a server did not start");
	}
	stop_server(pa);
	stop_server(pb);
	rmdir(dir);
	return rc;
}
#endif

int demo_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"size", required_argument, NULL, 's'},
		{"seed", required_argument, NULL, 'S'},
		{"local", no_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	uint64_t size = 256ull << 20, seed = 1;
	char from[128], to[128];
	bool local = false;
	int c;

	while ((c = getopt_long(argc, argv, "s:S:lh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (vfm_parse_size(optarg, &size))
				return usage_error("demo: bad size '%s'", optarg);
			break;
		case 'S':
			if (vfm_parse_size(optarg, &seed))
				return usage_error("demo: bad seed '%s'", optarg);
			break;
		case 'l':
			local = true;
			break;
		case 'h':
			demo_usage(stdout);
			return EXIT_OK;
		default:
			demo_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return usage_error("demo: unexpected argument '%s'", argv[optind]);
	install_signals();
#ifdef VFM_HAVE_VFIO_USER
	if (!local)
		return demo_servers(size, seed);
#else
	(void)local; /* without vfio-user the demo is always in-process */
#endif
	snprintf(from, sizeof(from), "local:testdev,size=%llu,seed=%llu", (unsigned long long)size,
		 (unsigned long long)seed);
	snprintf(to, sizeof(to), "local:testdev,size=%llu,seed=%llu", (unsigned long long)size,
		 (unsigned long long)seed + 1);
	return demo_run(from, to, size);
}
