// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-mig resume: the explicit act that starts a stopped device again, a migrated source
 * above all (no transport ever runs one on its own).
 */
#include <getopt.h>
#include <stdio.h>

#include "vfio-mig.h"
#include "vfio-mig/fsm.h"

static void resume_usage(FILE *f)
{
	fprintf(f,
		"usage: %s resume DEVICE [--reset]\n\n"
		"Starts a stopped device: SET RUNNING, its state kept. A migrated source (its\n"
		"state saved to the end, then stopped) stays stopped for every later client\n"
		"until this, a load or a reset: run it only when the destination does not run\n"
		"(after a failed switch-over, say), or both copies will run.\n\n"
		"      --reset              reset the device instead (its power-on state)\n"
		"  -q, --quiet              print nothing but errors\n",
		prog);
}

enum {
	OPT_RESET = 256
};

int resume_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"reset", no_argument, NULL, OPT_RESET},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool quiet = false, reset = false;
	struct vfm_handle *h;
	uint32_t before = VFM_STATE_ERROR, after = VFM_STATE_ERROR;
	int c, rc;

	while ((c = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
		if (c == OPT_RESET) {
			reset = true;
			continue;
		}
		rc = common_option(c, &quiet, resume_usage);
		if (rc >= 0)
			return rc;
	}
	if (argc - optind != 1)
		return usage_error("resume: expected one DEVICE");
	if (open_device(argv[optind], &h))
		return EXIT_FAIL;
	(void)vfm_handle_get_state(h, &before);
	rc = reset ? vfm_handle_reset(h) : vfm_handle_set_state(h, VFM_STATE_RUNNING, NULL);
	if (rc) {
		fail("resume: %s", vfm_handle_error(h));
		vfm_handle_close(h);
		return EXIT_FAIL;
	}
	(void)vfm_handle_get_state(h, &after);
	if (!quiet) {
		printf("%s: %s -> %s%s\n", vfm_handle_name(h), vfm_state_name(before),
		       vfm_state_name(after), reset ? " (reset)" : "");
		print_checksum(h, NULL);
	}
	vfm_handle_close(h);
	return EXIT_OK;
}
