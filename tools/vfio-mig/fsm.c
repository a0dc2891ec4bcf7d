// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig fsm: the kernel's path between two states, or its next-step table. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "vfio-mig.h"
#include "vfio-mig/fsm.h"

static void fsm_usage(FILE *f)
{
	fprintf(f,
		"usage: %s fsm --flags FLAGS FROM TO\n"
		"       %s fsm --flags FLAGS --table\n\n"
		"Prints the path the kernel takes from state FROM to state TO for a device\n"
		"with migration FLAGS (a number such as 7, or a comma list of\n"
		"stop-copy,p2p,pre-copy), or the 8x8 table of next steps.\n"
		"States: ERROR STOP RUNNING STOP_COPY RESUMING RUNNING_P2P PRE_COPY PRE_COPY_P2P\n",
		prog, prog);
}

/* Why the kernel refuses cur -> target. */
static void refusal(uint64_t flags, uint32_t cur, uint32_t target, char *buf, size_t len)
{
	char fl[64];

	vfm_flags_format(flags, fl, sizeof(fl));
	if (!(flags & VFM_MIGRATION_STOP_COPY))
		snprintf(buf, len, "flags %s lack STOP_COPY: no state is supported", fl);
	else if (cur == VFM_STATE_ERROR)
		snprintf(buf, len, "a device in ERROR must be reset, no state change leaves it");
	else if (target == VFM_STATE_ERROR)
		snprintf(buf, len, "ERROR cannot be requested as a device state");
	else if (!vfm_state_supported(flags, cur))
		snprintf(buf, len, "%s is not supported with flags %s", vfm_state_name(cur), fl);
	else if (!vfm_state_supported(flags, target))
		snprintf(buf, len, "%s is not supported with flags %s", vfm_state_name(target), fl);
	else
		snprintf(buf, len, "the arc %s -> %s is not permitted", vfm_state_name(cur),
			 vfm_state_name(target));
}

static void print_table(uint64_t flags)
{
	printf("%-13s", "from \\ to");
	for (uint32_t t = 0; t < VFM_STATE_NR; t++)
		printf(" %-13s", vfm_state_name(t));
	printf("\n");
	for (uint32_t c = 0; c < VFM_STATE_NR; c++) {
		printf("%-13s", vfm_state_name(c));
		for (uint32_t t = 0; t < VFM_STATE_NR; t++) {
			uint32_t next;
			char cell[16];

			if (vfm_fsm_next(flags, c, t, &next))
				snprintf(cell, sizeof(cell), "-");
			else if (c == t)
				snprintf(cell, sizeof(cell), "(%s)", vfm_state_name(c));
			else
				snprintf(cell, sizeof(cell), "%s", vfm_state_name(next));
			printf(" %-13s", cell);
		}
		printf("\n");
	}
}

int fsm_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"flags", required_argument, NULL, 'f'},
		{"table", no_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	uint32_t path[VFM_FSM_MAX_PATH], cur, target;
	const char *flags_text = NULL;
	bool table = false;
	uint64_t flags;
	size_t len;
	int c;

	while ((c = getopt_long(argc, argv, "f:th", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			flags_text = optarg;
			break;
		case 't':
			table = true;
			break;
		case 'h':
			fsm_usage(stdout);
			return EXIT_OK;
		default:
			fsm_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!flags_text)
		return usage_error("fsm: --flags is required");
	if (vfm_flags_parse(flags_text, &flags))
		return usage_error("fsm: bad flags '%s' (a number, or stop-copy,p2p,pre-copy)",
				   flags_text);
	if (table) {
		if (optind != argc)
			return usage_error("fsm: --table takes no states");
		print_table(flags);
		return EXIT_OK;
	}
	if (argc - optind != 2)
		return usage_error("fsm: expected FROM and TO states");
	if (vfm_state_parse(argv[optind], &cur))
		return usage_error("fsm: unknown state '%s'", argv[optind]);
	if (vfm_state_parse(argv[optind + 1], &target))
		return usage_error("fsm: unknown state '%s'", argv[optind + 1]);
	if (vfm_fsm_path(flags, cur, target, path, &len)) {
		char why[160];

		refusal(flags, cur, target, why, sizeof(why));
		return usage_error("%s", why);
	}
	for (size_t i = 0; i < len; i++)
		printf("%s%s", i ? " -> " : "", vfm_state_name(path[i]));
	printf("\n");
	return EXIT_OK;
}
