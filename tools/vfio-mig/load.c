// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig load: devices from a stream file. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "qemu-load.h"
#include "util.h"
#include "vfio-mig.h"

static void load_usage(FILE *f)
{
	fprintf(f,
		"usage: %s load --device DEVICE [--device DEVICE...] -i FILE [options]\n\n"
		"Loads device state from FILE ('-' for stdin), written by 'save', into the\n"
		"devices (in order) and starts them. On failure the devices are reset.\n"
		"FILE may also be a whole QEMU migration stream: the data of one of its VFIO\n"
		"sections (--section, or its only one) goes into the one DEVICE.\n\n"
		"  -d, --device DEVICE    a destination device (repeatable)\n"
		"  -i, --input FILE       the stream file\n"
		"  -S, --section IDSTR    the QEMU stream's VFIO section, e.g. 0000:00:04.0/vfio\n"
		"  -b, --buffer-size N    write buffer (default 1 MiB)\n"
		"  -T, --timeout S        give up when the input brings nothing for S seconds\n"
		"                         (a pipe, default 60)\n"
		"  -q, --quiet            no progress\n"
		"  -v, --verbose          more messages (repeat for traces)\n",
		prog);
}

int load_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"device", required_argument, NULL, 'd'},
		{"input", required_argument, NULL, 'i'},
		{"section", required_argument, NULL, 'S'},
		{"buffer-size", required_argument, NULL, 'b'},
		{"timeout", required_argument, NULL, 'T'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *specs[VFM_MAX_DEVICES], *in_path = NULL, *section = NULL;
	struct qemu_feed feed;
	char picked[256];
	bool qemu = false;
	struct vfm_handle *devs[VFM_MAX_DEVICES];
	struct vfm_mig_opts opts = {0};
	struct progress_state ps;
	struct vfm_mig_stats st;
	struct vfm_chan ch;
	char err[VFM_ERR_LEN];
	size_t n = 0, opened = 0;
	bool quiet = false;
	int c, fd = -1, rc, ret = EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "d:i:S:b:T:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (n == VFM_MAX_DEVICES)
				return usage_error("load: at most %d devices", VFM_MAX_DEVICES);
			specs[n++] = optarg;
			break;
		case 'i':
			in_path = optarg;
			break;
		case 'S':
			section = optarg;
			break;
		case 'b':
			if (parse_buffer_size("load", optarg, &opts.buf_size))
				return EXIT_USAGE;
			break;
		case 'T':
			if (parse_timeout("load", optarg, &opts.timeout_ms))
				return EXIT_USAGE;
			break;
		default:
			rc = common_option(c, &quiet, load_usage);
			if (rc >= 0)
				return rc;
		}
	}
	if (!n || !in_path || optind != argc)
		return usage_error("load: expected --device DEVICE and -i FILE");
	install_signals();
	fd = strcmp(in_path, "-") ? open(in_path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0)
		return fail("load: cannot open %s: %s", in_path, strerror(errno));
	qemu = section || qemu_stream_file(fd);
	if (qemu && n != 1)
		ret = usage_error("load: a QEMU stream's section goes into one --device");
	else if (qemu)
		ret = qemu_pick_section(fd, in_path, section, picked, sizeof(picked));
	if (qemu && ret != EXIT_OK)
		goto out;
	ret = EXIT_FAIL;
	for (opened = 0; opened < n; opened++) {
		if (open_device(specs[opened], &devs[opened]))
			goto out;
	}
	if (qemu && (rc = qemu_feed_start(&feed, fd, picked))) {
		fail("load: cannot start reading the QEMU stream: %s", strerror(-rc));
		goto out;
	}
	vfm_chan_init(&ch, qemu ? feed.sv[0] : fd, in_path);
	progress_opts(&opts, &ps, quiet);
	rc = vfm_load(devs, n, &ch, &opts, &st, err, sizeof(err));
	progress_end(&ps);
	if (qemu && qemu_feed_end(&feed) && !rc)
		rc = -EBADMSG;
	if (rc) {
		fail("load: %s", qemu && qemu_feed_failed(&feed) ? feed.err
				 : err[0]			 ? err
								 : strerror(-rc));
		goto out;
	}
	if (qemu && !quiet)
		printf("section \"%s\" loaded\n", picked);
	if (!quiet)
		print_stats("loaded", &st);
	for (size_t i = 0; i < n; i++)
		print_checksum(devs[i], n > 1 ? specs[i] : NULL);
	ret = EXIT_OK;
out:
	for (size_t i = 0; i < opened; i++)
		vfm_handle_close(devs[i]);
	if (fd != STDIN_FILENO)
		close(fd);
	return ret;
}
