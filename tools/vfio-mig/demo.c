// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig demo: migrate a sample device to a second one and show the result. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "vfio-mig.h"

static void demo_usage(FILE *f)
{
	fprintf(f, "usage: %s demo [--size N] [--seed N]\n\n"
		   "Creates a sample device of N bytes (default 256M) filled from the seed and a\n"
		   "second, empty one, migrates the first into the second with progress, and\n"
		   "prints the state size, time, throughput and both checksums.\n",
		prog);
}

static int demo_run(const char *from, const char *to, uint64_t size)
{
	struct vfm_handle *src = NULL, *dst = NULL;
	struct vfm_mig_opts opts = { 0 };
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
	progress_init(&ps, false);
	opts.log = tool_logger();
	opts.progress = progress_cb;
	opts.progress_opaque = &ps;
	opts.cancel = &interrupted;
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
	printf("throughput:  %.2f GB/s\n", st.total_s > 0 ? (double)st.bytes / st.total_s / 1e9 : 0);
	printf("source checksum:      %016llx\n", (unsigned long long)a);
	printf("destination checksum: %016llx\n", (unsigned long long)b);
	printf("checksums %s\n", a == b ? "equal: the state moved intact" : "DIFFER");
	rc = a == b ? EXIT_OK : EXIT_FAIL;
out:
	vfm_handle_close(src);
	vfm_handle_close(dst);
	return rc;
}

int demo_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t size = 256ull << 20, seed = 1;
	char from[128], to[128];
	int c;

	while ((c = getopt_long(argc, argv, "s:S:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (vfm_parse_size(optarg, &size))
				return usage_error("demo: bad size '%s'", optarg);
			break;
		case 'S':
			if (vfm_parse_size(optarg, &seed))
				return usage_error("demo: bad seed '%s'", optarg);
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
	snprintf(from, sizeof(from), "local:testdev,size=%llu,seed=%llu", (unsigned long long)size,
		 (unsigned long long)seed);
	snprintf(to, sizeof(to), "local:testdev,size=%llu,seed=%llu", (unsigned long long)size,
		 (unsigned long long)seed + 1);
	return demo_run(from, to, size);
}
