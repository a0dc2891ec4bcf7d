// SPDX-License-Identifier: BSD-3-Clause
/* vfio-mig report FILE.json --svg OUT.svg: a migration's timeline, drawn. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vfio-mig.h"

#define W     960.0
#define LEFT  170.0
#define RIGHT 30.0
#define LANE  26.0
#define CHART 180.0

static void report_usage(FILE *f)
{
	fprintf(f,
		"usage: %s report FILE.json --svg OUT.svg\n\n"
		"Draws the timeline of a migration written by 'migrate --json' or 'receive --json':\n"
		"the phases of every device, the bytes moved over time, the pre-copy rounds and\n"
		"the downtime window against the limit.\n",
		prog);
}

struct plot {
	FILE *f;
	double t_max;
	double top; /* y of the chart area */
};

static double x_of(const struct plot *p, double t)
{
	return LEFT + (W - LEFT - RIGHT) * (p->t_max > 0 ? t / p->t_max : 0);
}

static double num(json_object *o, const char *key, double dflt)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : dflt;
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

/* A device's name in the left margin: the whole name as a tooltip, and as much of its
 * start as fits (about 26 characters of 11 px). */
static void label(FILE *f, const char *name)
{
	char shown[32];
	size_t len = strlen(name);

	fputs("<title>", f);
	xml_text(f, name);
	fputs("</title>", f);
	if (len <= 26) {
		xml_text(f, name);
		return;
	}
	snprintf(shown, sizeof(shown), "%.24s...", name);
	xml_text(f, shown);
}

static void bar(const struct plot *p, json_object *phases, const char *key, double y,
		const char *colour)
{
	json_object *span;
	double a, b;

	if (!json_object_object_get_ex(phases, key, &span) ||
	    json_object_get_type(span) != json_type_array || json_object_array_length(span) != 2)
		return;
	a = json_object_get_double(json_object_array_get_idx(span, 0));
	b = json_object_get_double(json_object_array_get_idx(span, 1));
	if (b < a)
		b = a;
	fprintf(p->f,
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s "
		"%.3f-%.3f s</title></rect>\n",
		x_of(p, a), y, fmax(x_of(p, b) - x_of(p, a), 1.0), LANE - 8, colour, key, a, b);
}

/* The REINITs of a device (doc/uapi-7.x.md): a red tick across its lane at each. */
static void reinit_ticks(const struct plot *p, json_object *phases, double y)
{
	json_object *re;
	size_t n;

	if (!json_object_object_get_ex(phases, "reinit", &re) ||
	    json_object_get_type(re) != json_type_array)
		return;
	n = json_object_array_length(re);
	for (size_t i = 0; i < n; i++) {
		double t = json_object_get_double(json_object_array_get_idx(re, i));

		fprintf(p->f,
			"<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e15759\" "
			"stroke-width=\"2\"><title>REINIT at %.3f s: new initial data</title></line>\n",
			x_of(p, t), x_of(p, t), y - 2, y + LANE - 6, t);
	}
}

static void draw_lanes(struct plot *p, json_object *devs)
{
	size_t n = json_object_array_length(devs);

	for (size_t i = 0; i < n; i++) {
		json_object *d = json_object_array_get_idx(devs, i), *name, *ph;
		double y = 60 + (double)i * LANE;

		fprintf(p->f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">",
			LEFT - 8, y + 13);
		if (json_object_object_get_ex(d, "name", &name))
			label(p->f, json_object_get_string(name));
		fputs("</text>\n", p->f);
		if (!json_object_object_get_ex(d, "phases", &ph))
			continue;
		bar(p, ph, "pre-copy", y, "#4e79a7");
		bar(p, ph, "stopped", y, "#bab0ac");
		bar(p, ph, "stop-copy", y, "#f28e2b");
		reinit_ticks(p, ph, y);
	}
	p->top = 60 + (double)n * LANE + 30;
}

static void draw_bytes(struct plot *p, json_object *samples)
{
	size_t n = samples ? json_object_array_length(samples) : 0;
	double max = 1;

	for (size_t i = 0; i < n; i++)
		max = fmax(max, json_object_get_double(json_object_array_get_idx(
					json_object_array_get_idx(samples, i), 1)));
	fprintf(p->f,
		"<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">bytes moved</text>\n",
		LEFT - 8, p->top + 12);
	fprintf(p->f,
		"<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.1f MiB</text>\n",
		LEFT - 8, p->top + 26, max / 1048576.0);
	fprintf(p->f, "<polyline fill=\"none\" stroke=\"#59a14f\" stroke-width=\"2\" points=\"");
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(samples, i);
		double t = json_object_get_double(json_object_array_get_idx(s, 0));
		double b = json_object_get_double(json_object_array_get_idx(s, 1));

		fprintf(p->f, "%.1f,%.1f ", x_of(p, t), p->top + CHART - CHART * b / max);
	}
	fputs("\"/>\n", p->f);
}

static void draw_rounds(struct plot *p, json_object *rounds)
{
	size_t n = rounds ? json_object_array_length(rounds) : 0;

	for (size_t i = 0; i < n; i++) {
		double t = num(json_object_array_get_idx(rounds, i), "t", 0);

		fprintf(p->f,
			"<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#4e79a7\" "
			"stroke-opacity=\"0.35\"><title>pre-copy round %zu, est. downtime %.1f ms</title></line>\n",
			x_of(p, t), x_of(p, t), p->top + CHART, p->top + CHART + 8, i + 1,
			num(json_object_array_get_idx(rounds, i), "est_downtime_ms", -1));
	}
}

static void draw_axis(struct plot *p, double bottom)
{
	double step = pow(10, floor(log10(fmax(p->t_max, 1e-6) / 5)));

	if (p->t_max / step > 10)
		step *= 2;
	fprintf(p->f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
		LEFT, W - RIGHT, bottom, bottom);
	for (double t = 0; t <= p->t_max + step / 2; t += step) {
		fprintf(p->f,
			"<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
			x_of(p, t), x_of(p, t), bottom, bottom + 4);
		fprintf(p->f,
			"<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">%g s</text>\n",
			x_of(p, t), bottom + 16, t);
	}
}

static int draw(json_object *root, FILE *f)
{
	json_object *devs, *samples = NULL, *rounds = NULL, *win, *res;
	struct plot p = {.f = f, .t_max = num(root, "total_s", 0)};
	double height, bottom, dt = num(root, "downtime_ms", 0),
			       lim = num(root, "downtime_limit_ms", 0);

	if (!json_object_object_get_ex(root, "devices", &devs) ||
	    json_object_get_type(devs) != json_type_array)
		return -EINVAL;
	json_object_object_get_ex(root, "samples", &samples);
	json_object_object_get_ex(root, "rounds", &rounds);
	if (p.t_max <= 0)
		p.t_max = 1e-3;
	bottom = 60 + (double)json_object_array_length(devs) * LANE + 30 + CHART + 20;
	height = bottom + 60;
	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		W, height);
	fprintf(f,
		"<text x=\"%.1f\" y=\"24\" font-size=\"15\" font-weight=\"bold\">vfio-mig %s: %.1f MiB in %.3f s, downtime %.1f ms",
		LEFT, json_object_get_string(json_object_object_get(root, "command")),
		num(root, "bytes", 0) / 1048576.0, p.t_max, dt);
	if (lim > 0)
		fprintf(f, " (limit %.0f ms)", lim);
	fputs("</text>\n<text x=\"170\" y=\"42\" font-size=\"11\">", f);
	if (json_object_object_get_ex(root, "result", &res))
		xml_text(f, json_object_get_string(res));
	fprintf(f,
		" - %d pre-copy rounds. Blue: pre-copy, orange: stop-copy, grey: device stopped, "
		"red band: downtime.</text>\n",
		(int)num(root, "precopy_rounds", 0));
	if (json_object_object_get_ex(root, "downtime_window", &win) &&
	    json_object_array_length(win) == 2) {
		double a = json_object_get_double(json_object_array_get_idx(win, 0));
		double b = json_object_get_double(json_object_array_get_idx(win, 1));

		fprintf(f,
			"<rect x=\"%.1f\" y=\"50\" width=\"%.1f\" height=\"%.1f\" fill=\"#e15759\" "
			"fill-opacity=\"0.18\"><title>downtime %.1f ms</title></rect>\n",
			x_of(&p, a), fmax(x_of(&p, b) - x_of(&p, a), 1.5), bottom - 50,
			(b - a) * 1e3);
	}
	draw_lanes(&p, devs);
	draw_bytes(&p, samples);
	draw_rounds(&p, rounds);
	draw_axis(&p, bottom);
	fputs("</svg>\n", f);
	return 0;
}

int report_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"svg", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *svg = NULL;
	json_object *root;
	FILE *f;
	int c, rc;

	while ((c = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			svg = optarg;
			break;
		case 'h':
			report_usage(stdout);
			return EXIT_OK;
		default:
			report_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || !svg)
		return usage_error("report: expected FILE.json and --svg OUT.svg");
	root = json_object_from_file(argv[optind]);
	if (!root)
		return fail("report: cannot read %s: %s", argv[optind], json_util_get_last_err());
	f = fopen(svg, "w");
	if (!f) {
		json_object_put(root);
		return fail("report: cannot create %s: %s", svg, strerror(errno));
	}
	rc = draw(root, f);
	if (fclose(f))
		rc = -EIO;
	json_object_put(root);
	if (rc)
		return fail("report: %s is not a vfio-mig --json file", argv[optind]);
	return EXIT_OK;
}
