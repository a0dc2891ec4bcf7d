// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig inspect: the sections, markers and data blocks of a stream. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vfio-mig.h"
#include "vfio-mig/stream.h"

static void inspect_usage(FILE *f)
{
	fprintf(f,
		"usage: %s inspect [--summary] FILE\n\n"
		"Lists every element of a migration stream ('-' for stdin) with its offset and\n"
		"checks the whole stream; a malformed stream is rejected with the byte offset\n"
		"and what was expected there.\n\n"
		"  -s, --summary   only the per-device totals\n",
		prog);
}

static const char *marker_name(uint64_t m)
{
	switch (m) {
	case VFM_MIG_FLAG_END_OF_STATE:
		return "END_OF_STATE";
	case VFM_MIG_FLAG_DEV_CONFIG_STATE:
		return "DEV_CONFIG_STATE";
	case VFM_MIG_FLAG_DEV_SETUP_STATE:
		return "DEV_SETUP_STATE";
	case VFM_MIG_FLAG_DEV_DATA_STATE:
		return "DEV_DATA_STATE";
	case VFM_MIG_FLAG_DEV_INIT_DATA_SENT:
		return "DEV_INIT_DATA_SENT";
	default:
		return "?";
	}
}

static const char *section_name(uint8_t t)
{
	switch (t) {
	case VFM_QEMU_VM_SECTION_START:
		return "START";
	case VFM_QEMU_VM_SECTION_PART:
		return "PART";
	case VFM_QEMU_VM_SECTION_END:
		return "END";
	default:
		return "?";
	}
}

struct totals {
	uint64_t blocks, bytes, sections;
};

static void print_event(const struct vfm_ev *ev)
{
	switch (ev->type) {
	case VFM_EV_SECTION:
		if (ev->section_type == VFM_QEMU_VM_SECTION_START)
			printf("%10llu  section START id %u \"%s\" instance %u version %u\n",
			       (unsigned long long)ev->offset, ev->section_id, ev->idstr,
			       ev->instance_id, ev->version_id);
		else
			printf("%10llu  section %s id %u (\"%s\" instance %u)\n",
			       (unsigned long long)ev->offset, section_name(ev->section_type),
			       ev->section_id, ev->idstr, ev->instance_id);
		break;
	case VFM_EV_MARKER:
		printf("%10llu    %s\n", (unsigned long long)ev->offset, marker_name(ev->marker));
		break;
	case VFM_EV_DATA:
		printf("%10llu    DEV_DATA_STATE %llu bytes\n", (unsigned long long)ev->offset,
		       (unsigned long long)ev->size);
		break;
	case VFM_EV_FOOTER:
		printf("%10llu    footer of section %u\n", (unsigned long long)ev->offset,
		       ev->section_id);
		break;
	case VFM_EV_EOF:
		printf("%10llu  EOF\n", (unsigned long long)ev->offset);
		break;
	}
}

int inspect_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"summary", no_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct totals tot[VFM_STREAM_MAX_SECTIONS] = {0};
	bool summary = false;
	struct vfm_chan ch;
	struct vfm_dec dec;
	struct vfm_ev ev;
	const char *path;
	int c, fd, rc;

	while ((c = getopt_long(argc, argv, "sh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			summary = true;
			break;
		case 'h':
			inspect_usage(stdout);
			return EXIT_OK;
		default:
			inspect_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return usage_error("inspect: expected one FILE");
	path = argv[optind];
	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0)
		return fail("inspect: cannot open %s: %s", path, strerror(errno));
	vfm_chan_init(&ch, fd, path);
	rc = vfm_dec_init(&dec, &ch, 0);
	if (!rc && !summary)
		printf("%10d  file header QEVM version 3\n", 0);
	while (!rc) {
		rc = vfm_dec_next(&dec, &ev);
		if (rc)
			break;
		if (!summary)
			print_event(&ev);
		if (ev.type == VFM_EV_SECTION)
			tot[ev.section_index].sections++;
		if (ev.type == VFM_EV_DATA) {
			tot[ev.section_index].blocks++;
			tot[ev.section_index].bytes += ev.size;
		}
		if (ev.type == VFM_EV_EOF)
			break;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc)
		return fail("inspect: %s: %s", path, dec.err[0] ? dec.err : strerror(-rc));
	for (size_t i = 0; i < dec.nr_sections; i++)
		printf("device %zu: \"%s\" instance %u: %llu sections, %llu data blocks, %llu bytes\n",
		       i, dec.sections[i].idstr, dec.sections[i].instance_id,
		       (unsigned long long)tot[i].sections, (unsigned long long)tot[i].blocks,
		       (unsigned long long)tot[i].bytes);
	printf("stream: %llu bytes, %zu device(s), well-formed\n", (unsigned long long)ch.pos,
	       dec.nr_sections);
	return EXIT_OK;
}
