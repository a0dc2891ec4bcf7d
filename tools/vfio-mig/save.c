// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig save: devices into a stream file. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "section-name.h"
#include "util.h"
#include "vfio-mig.h"

static void save_usage(FILE *f)
{
	fprintf(f,
		"usage: %s save --device DEVICE [--device DEVICE...] -o FILE [options]\n\n"
		"Stops the devices and writes their state into FILE ('-' for stdout) in QEMU's\n"
		"VFIO stream format. The devices are left stopped, as after a migration.\n\n"
		"  -d, --device DEVICE    a device to save (repeatable, saved in order)\n"
		"  -o, --output FILE      the stream file\n"
		"  -S, --section IDSTR    name the next device's section IDSTR (default \"vfio\"),\n"
		"                         e.g. 0000:00:04.0/vfio as QEMU's vfio-pci names it\n"
		"  -b, --buffer-size N    read buffer (default: MIN(1 MiB, stop-copy size))\n"
		"  -k, --keep-running     return the devices to RUNNING afterwards\n"
		"  -T, --timeout S        give up when the output takes nothing for S seconds\n"
		"                         (a pipe, default 60)\n"
		"  -q, --quiet            no progress\n"
		"  -v, --verbose          more messages (repeat for traces)\n",
		prog);
}

int save_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"device", required_argument, NULL, 'd'},
		{"output", required_argument, NULL, 'o'},
		{"section", required_argument, NULL, 'S'},
		{"buffer-size", required_argument, NULL, 'b'},
		{"keep-running", no_argument, NULL, 'k'},
		{"timeout", required_argument, NULL, 'T'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *specs[VFM_MAX_DEVICES], *names[VFM_MAX_DEVICES], *out_path = NULL;
	struct renamer ren;
	size_t nn = 0;
	struct vfm_handle *devs[VFM_MAX_DEVICES];
	struct vfm_mig_opts opts = {0};
	struct progress_state ps;
	struct vfm_mig_stats st;
	struct vfm_chan ch;
	char err[VFM_ERR_LEN], tmp[4096];
	FILE *report = stdout;
	size_t n = 0, opened = 0;
	bool quiet = false;
	int c, fd, rc, ret = EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "d:o:S:b:kT:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (n == VFM_MAX_DEVICES)
				return usage_error("save: at most %d devices", VFM_MAX_DEVICES);
			specs[n++] = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'S':
			if (nn == VFM_MAX_DEVICES || !optarg[0] || strlen(optarg) > 255)
				return usage_error(
					"save: --section takes 1..255 bytes, once per device");
			names[nn++] = optarg;
			break;
		case 'b':
			if (parse_buffer_size("save", optarg, &opts.buf_size))
				return EXIT_USAGE;
			break;
		case 'k':
			opts.keep_running = true;
			break;
		case 'T':
			if (parse_timeout("save", optarg, &opts.timeout_ms))
				return EXIT_USAGE;
			break;
		default:
			rc = common_option(c, &quiet, save_usage);
			if (rc >= 0)
				return rc;
		}
	}
	if (!n || !out_path || optind != argc)
		return usage_error("save: expected --device DEVICE and -o FILE");
	if (nn > n)
		return usage_error("save: more --section names than devices");
	install_signals();
	for (opened = 0; opened < n; opened++) {
		if (open_device(specs[opened], &devs[opened]))
			goto out;
	}
	if (!strcmp(out_path, "-")) {
		fd = STDOUT_FILENO;
	} else {
		snprintf(tmp, sizeof(tmp), "%s.partial", out_path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fail("save: cannot create %s: %s", tmp, strerror(errno));
			goto out;
		}
	}
	vfm_chan_init(&ch, fd, out_path);
	progress_opts(&opts, &ps, quiet);
	if (nn && (rc = renamer_start(&ren, fd, false, false, names, nn))) {
		fail("save: cannot start renaming the sections: %s", strerror(-rc));
		goto out;
	}
	if (nn) {
		struct vfm_chan eng;

		vfm_chan_init(&eng, ren.sv[1], out_path);
		rc = vfm_save(devs, n, &eng, &opts, &st, err, sizeof(err));
		if (renamer_end(&ren) && !rc)
			rc = vfm_errf(err, sizeof(err), ren.rc, "%s", ren.err);
	} else {
		rc = vfm_save(devs, n, &ch, &opts, &st, err, sizeof(err));
	}
	progress_end(&ps);
	if (fd != STDOUT_FILENO) {
		if (!rc && ((fsync(fd) && errno != EINVAL) || rename(tmp, out_path)))
			rc = -errno;
		close(fd);
		if (rc)
			unlink(tmp);
	}
	if (rc) {
		fail("save: %s", err[0] ? err : strerror(-rc));
		report_devices("source", devs, n);
		goto out;
	}
	/* With the stream on stdout, the report goes to stderr. */
	if (fd == STDOUT_FILENO)
		report = stderr;
	if (!quiet)
		fprint_stats(report, "saved", &st);
	for (size_t i = 0; i < n; i++)
		fprint_checksum(report, devs[i], n > 1 ? specs[i] : NULL);
	ret = EXIT_OK;
out:
	for (size_t i = 0; i < opened; i++)
		vfm_handle_close(devs[i]);
	return ret;
}
