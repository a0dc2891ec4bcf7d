// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig check: a device against the VFIO migration uAPI, one line per check. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "vfio-mig.h"
#include "vfio-mig/check.h"
#include "vfio-mig/fsm.h"

static void check_usage(FILE *f)
{
	fprintf(f,
		"usage: %s check DEVICE [--peer DEVICE] [options]\n\n"
		"Drives DEVICE through the VFIO migration uAPI and prints one line per check:\n"
		"PASS, FAIL, WARN (a \"should\" broken or a documented driver quirk) or SKIP,\n"
		"the check's name, the uAPI doc section it enforces and why. Exits 0 iff no\n"
		"check FAILs. The device is left RUNNING, also when a check fails.\n\n"
		"  -p, --peer DEVICE      also migrate the state into DEVICE and compare\n"
		"      --refused-arcs     also send STOP_COPY -> PRE_COPY(_P2P), which hangs\n"
		"                         kernels without the 2026 fix (uAPI doc 3.6)\n"
		"      --only NAMES       run only these checks (comma-separated names or\n"
		"                         prefixes, e.g. 'fsm.,stream.end')\n"
		"      --max-stream SIZE  bytes read from one session before a stream counts\n"
		"                         as endless (default 4 x MIG_DATA_SIZE + 1M)\n"
		"  -j, --json             one JSON object on stdout instead of lines\n"
		"  -l, --list             list the checks and exit\n"
		"  -q, --quiet            print only WARN, FAIL and the summary\n"
		"  -v, --verbose          more messages on stderr (repeat for traces)\n",
		prog);
}

struct out {
	bool json, quiet;
	json_object *checks;
};

/* "§1.2.1" padded to `width` columns (the § is two bytes, one column). */
static void print_section(const char *section, int width)
{
	int cols = 1 + (int)strlen(section);

	printf("§%s%*s", section, cols < width ? width - cols : 0, "");
}

static void print_line(enum vfm_check_verdict v, const struct vfm_check_info *info,
		       const char *text)
{
	printf("%-4s  %-22s  ", vfm_check_verdict_name(v), info->name);
	print_section(info->section, 7);
	printf("  %s\n", text);
}

static void on_result(void *opaque, const struct vfm_check_result *r)
{
	struct out *o = opaque;
	char text[1024];

	if (o->json) {
		json_object *j = json_object_new_object();

		json_object_object_add(j, "name", json_object_new_string(r->info->name));
		json_object_object_add(j, "verdict",
				       json_object_new_string(vfm_check_verdict_name(r->verdict)));
		json_object_object_add(j, "section", json_object_new_string(r->info->section));
		json_object_object_add(j, "checklist", json_object_new_string(r->info->item));
		json_object_object_add(j, "rule", json_object_new_string(r->info->what));
		json_object_object_add(j, "detail", json_object_new_string(r->detail));
		json_object_array_add(o->checks, j);
		return;
	}
	if (o->quiet && (r->verdict == VFM_CHECK_PASS || r->verdict == VFM_CHECK_SKIP))
		return;
	if (r->verdict == VFM_CHECK_PASS && r->detail[0])
		snprintf(text, sizeof(text), "%s (%s)", r->info->what, r->detail);
	else
		snprintf(text, sizeof(text), "%s",
			 r->verdict == VFM_CHECK_PASS ? r->info->what : r->detail);
	print_line(r->verdict, r->info, text);
	fflush(stdout);
}

static void list_checks(void)
{
	for (size_t i = 0; i < vfm_check_count(); i++) {
		const struct vfm_check_info *in = vfm_check_get(i);

		printf("%-22s  ", in->name);
		print_section(in->section, 7);
		printf("  %s\n", in->what);
	}
}

static void print_header(struct vfm_handle *dev, struct vfm_handle *peer)
{
	uint64_t flags = 0;
	char fl[64] = "unknown";

	if (vfm_handle_get_flags(dev, &flags) == 0)
		vfm_flags_format(flags, fl, sizeof(fl));
	printf("device: %s (%s), flags %s\n", vfm_handle_name(dev), dev->ops->kind, fl);
	if (peer)
		printf("peer: %s (%s)\n", vfm_handle_name(peer), peer->ops->kind);
}

static void print_summary(const struct vfm_check_summary *s)
{
	printf("summary: %u PASS, %u WARN, %u FAIL, %u SKIP; %s\n", s->pass, s->warn, s->fail,
	       s->skip, s->left_running ? "device left RUNNING" : "device NOT left RUNNING");
}

static void print_json(struct out *o, struct vfm_handle *dev, struct vfm_handle *peer,
		       const struct vfm_check_summary *s)
{
	json_object *root = json_object_new_object(), *sum = json_object_new_object();
	int fmt = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE;
	uint64_t flags = 0;

	json_object_object_add(root, "device", json_object_new_string(vfm_handle_name(dev)));
	json_object_object_add(root, "transport", json_object_new_string(dev->ops->kind));
	if (vfm_handle_get_flags(dev, &flags) == 0)
		json_object_object_add(root, "flags", json_object_new_int64((int64_t)flags));
	if (peer)
		json_object_object_add(root, "peer", json_object_new_string(vfm_handle_name(peer)));
	json_object_object_add(root, "checks", o->checks);
	json_object_object_add(sum, "pass", json_object_new_int((int)s->pass));
	json_object_object_add(sum, "warn", json_object_new_int((int)s->warn));
	json_object_object_add(sum, "fail", json_object_new_int((int)s->fail));
	json_object_object_add(sum, "skip", json_object_new_int((int)s->skip));
	json_object_object_add(sum, "left_running", json_object_new_boolean(s->left_running));
	json_object_object_add(root, "summary", sum);
	json_object_object_add(root, "ok", json_object_new_boolean(s->fail == 0));
	printf("%s\n", json_object_to_json_string_ext(root, fmt));
	json_object_put(root);
}

struct check_args {
	const char *dev, *peer;
	struct vfm_check_opts opts;
	struct out out;
	bool list;
};

static int parse(int argc, char **argv, struct check_args *a)
{
	enum {
		O_REFUSED = 256,
		O_ONLY,
		O_MAX_STREAM
	};
	static const struct option longopts[] = {
		{"peer", required_argument, NULL, 'p'},
		{"refused-arcs", no_argument, NULL, O_REFUSED},
		{"only", required_argument, NULL, O_ONLY},
		{"max-stream", required_argument, NULL, O_MAX_STREAM},
		{"json", no_argument, NULL, 'j'},
		{"list", no_argument, NULL, 'l'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "p:jlqvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			a->peer = optarg;
			break;
		case O_REFUSED:
			a->opts.refused_arcs = true;
			break;
		case O_ONLY:
			a->opts.only = optarg;
			break;
		case O_MAX_STREAM:
			if (vfm_parse_size(optarg, &a->opts.max_stream) || !a->opts.max_stream)
				return usage_error("check: bad size '%s'", optarg);
			break;
		case 'j':
			a->out.json = true;
			break;
		case 'l':
			a->list = true;
			break;
		case 'q':
			a->out.quiet = true;
			break;
		case 'v':
			verbosity++;
			break;
		case 'h':
			check_usage(stdout);
			return -1;
		default:
			check_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (a->list)
		return 0;
	if (argc - optind != 1)
		return usage_error("check: expected one DEVICE");
	a->dev = argv[optind];
	return 0;
}

static int run(struct check_args *a, struct vfm_handle *dev, struct vfm_handle *peer)
{
	struct vfm_check_summary sum;
	int rc;

	a->opts.cancel = &interrupted;
	if (a->out.json)
		a->out.checks = json_object_new_array();
	else
		print_header(dev, peer);
	rc = vfm_check_run(dev, peer, &a->opts, on_result, &a->out, &sum);
	if (rc) {
		if (a->out.json)
			json_object_put(a->out.checks);
		return fail("%s", vfm_handle_error(dev));
	}
	if (a->out.json)
		print_json(&a->out, dev, peer, &sum);
	else
		print_summary(&sum);
	if (interrupted)
		return fail("check: interrupted");
	return sum.fail ? EXIT_FAIL : EXIT_OK;
}

int check_main(int argc, char **argv)
{
	struct check_args a = {0};
	struct vfm_handle *dev = NULL, *peer = NULL;
	int rc;

	/* The checks provoke device errors on purpose: their warnings only with -v. */
	verbosity = 0;
	rc = parse(argc, argv, &a);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (a.list) {
		list_checks();
		return EXIT_OK;
	}
	install_signals();
	if (open_device(a.dev, &dev))
		return EXIT_FAIL;
	if (a.peer && open_device(a.peer, &peer)) {
		vfm_handle_close(dev);
		return EXIT_FAIL;
	}
	rc = run(&a, dev, peer);
	vfm_handle_close(peer);
	vfm_handle_close(dev);
	return rc;
}
