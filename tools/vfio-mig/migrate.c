// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig migrate: devices from sources straight to destinations. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "vfio-mig.h"

static void migrate_usage(FILE *f)
{
	fprintf(f, "usage: %s migrate --from DEVICE --to DEVICE [--from ... --to ...] [options]\n\n"
		   "Migrates each --from device to the --to device given in the same position.\n"
		   "The destinations end RUNNING with the sources' state; the sources are left\n"
		   "stopped, as QEMU leaves a migrated source. Any failure returns the sources to\n"
		   "RUNNING with their state intact and resets the destinations.\n\n"
		   "  -f, --from DEVICE      a source device (repeatable)\n"
		   "  -t, --to DEVICE        a destination device (repeatable)\n"
		   "  -b, --buffer-size N    read buffer (default: MIN(1 MiB, stop-copy size))\n"
		   "  -q, --quiet            no progress\n"
		   "  -v, --verbose          more messages (repeat for traces)\n",
		prog);
}

int migrate_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "buffer-size", required_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *from[VFM_MAX_DEVICES], *to[VFM_MAX_DEVICES];
	struct vfm_handle *src[VFM_MAX_DEVICES] = { 0 }, *dst[VFM_MAX_DEVICES] = { 0 };
	struct vfm_mig_opts opts = { 0 };
	struct progress_state ps;
	struct vfm_mig_stats st;
	char err[VFM_ERR_LEN];
	size_t nf = 0, nt = 0;
	bool quiet = false;
	uint64_t v;
	int c, rc, ret = EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "f:t:b:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (nf == VFM_MAX_DEVICES)
				return usage_error("migrate: at most %d devices", VFM_MAX_DEVICES);
			from[nf++] = optarg;
			break;
		case 't':
			if (nt == VFM_MAX_DEVICES)
				return usage_error("migrate: at most %d devices", VFM_MAX_DEVICES);
			to[nt++] = optarg;
			break;
		case 'b':
			if (vfm_parse_size(optarg, &v) || v == 0 || v > VFM_MAX_BUF_SIZE)
				return usage_error("migrate: bad buffer size '%s'", optarg);
			opts.buf_size = (size_t)v;
			break;
		case 'q':
			quiet = true;
			break;
		case 'v':
			verbosity++;
			break;
		case 'h':
			migrate_usage(stdout);
			return EXIT_OK;
		default:
			migrate_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!nf || nf != nt || optind != argc)
		return usage_error("migrate: expected as many --to as --from devices");
	install_signals();
	for (size_t i = 0; i < nf; i++) {
		if (open_device(from[i], &src[i]) || open_device(to[i], &dst[i]))
			goto out;
	}
	progress_init(&ps, quiet);
	opts.log = tool_logger();
	opts.progress = progress_cb;
	opts.progress_opaque = &ps;
	opts.cancel = &interrupted;
	rc = vfm_migrate(src, dst, nf, &opts, &st, err, sizeof(err));
	progress_end(&ps);
	if (rc) {
		fail("migrate: %s", err[0] ? err : strerror(-rc));
		report_sources(src, nf);
		goto out;
	}
	if (!quiet)
		print_stats("migrated", &st);
	for (size_t i = 0; i < nf; i++) {
		print_checksum(src[i], "source ");
		print_checksum(dst[i], "destination ");
	}
	ret = EXIT_OK;
out:
	for (size_t i = 0; i < nf; i++) {
		vfm_handle_close(src[i]);
		vfm_handle_close(dst[i]);
	}
	return ret;
}
