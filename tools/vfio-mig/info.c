// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig info: a device's migration flags, state and data size. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "vfio-mig.h"
#include "vfio-mig/fsm.h"

static void info_usage(FILE *f)
{
	fprintf(f,
		"usage: %s info DEVICE\n\n"
		"Shows the device's migration flags, its state and its stop-copy data size;\n"
		"for the sample device also the checksum of its state.\n",
		prog);
}

int info_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct vfm_handle *h;
	uint64_t flags, size;
	uint32_t state;
	char fl[64];
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			info_usage(stdout);
			return EXIT_OK;
		}
		info_usage(stderr);
		return EXIT_USAGE;
	}
	if (argc - optind != 1)
		return usage_error("info: expected one DEVICE");
	if (open_device(argv[optind], &h))
		return EXIT_FAIL;
	rc = vfm_handle_get_flags(h, &flags);
	if (rc) {
		fail("%s", vfm_handle_error(h));
		vfm_handle_close(h);
		return EXIT_FAIL;
	}
	vfm_flags_format(flags, fl, sizeof(fl));
	printf("device: %s\n", vfm_handle_name(h));
	printf("transport: %s\n", h->ops->kind);
	printf("flags: %s (0x%llx)\n", fl, (unsigned long long)flags);
	if (vfm_handle_get_state(h, &state) == 0)
		printf("state: %s\n", vfm_state_name(state));
	else
		printf("state: unknown (%s)\n", vfm_handle_error(h));
	if (vfm_handle_data_size(h, &size) == 0)
		printf("data size: %llu\n", (unsigned long long)size);
	else
		printf("data size: unknown\n");
	print_checksum(h, NULL);
	vfm_handle_close(h);
	return EXIT_OK;
}
