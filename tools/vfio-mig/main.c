// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig: the dispatcher. */
#include <stdio.h>
#include <string.h>

#include "vfio-mig.h"

static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *what;
} commands[] = {
	{"demo", demo_main, "migrate a 256 MiB sample device and show the result"},
	{"migrate", migrate_main, "live-migrate devices from a source to a destination"},
	{"receive", receive_main, "receive a migration over a channel into devices"},
	{"save", save_main, "save a device's state into a stream file"},
	{"load", load_main, "load a device's state from a stream file"},
	{"inspect", inspect_main, "show the sections, markers and blocks of a stream"},
	{"info", info_main, "show a device's migration flags, state and data size"},
	{"resume", resume_main, "start a stopped device again (a migrated source), or reset it"},
	{"report", report_main, "draw a migration's timeline from its --json file as SVG"},
	{"fsm", fsm_main, "print the kernel's migration path between two states"},
#ifdef VFM_HAVE_VFIO_USER
	{"serve", serve_main, "serve a sample device over vfio-user on a UNIX socket"},
#endif
#ifdef VFM_HAVE_CHECK
	{"check", check_main, "check a device against the VFIO migration uAPI"},
#endif
};

static void usage(FILE *f)
{
	fprintf(f, "usage: %s <command> [options]\n\ncommands:\n", prog);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].what);
	fprintf(f,
		"\n'%s <command> --help' describes a command.\n"
		"Devices: local:testdev,size=64M,seed=1 | unix:PATH | vfio:/dev/vfio/devices/vfioN"
		" | vfio-group:/dev/vfio/N:NAME\n",
		prog);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("vfio-mig %s\n", VFM_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].main(argc - 1, argv + 1);
	}
	fprintf(stderr, "error: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
