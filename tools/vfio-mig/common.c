// SPDX-License-Identifier: BSD-3-Clause
/* Helpers the subcommands share: errors, logging, device opening, progress. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "vfio-mig/fsm.h"
#include "vfio-mig/testdev.h"
#include "vfio-mig.h"

const char *prog = "vfio-mig";
int verbosity = 1;
volatile sig_atomic_t interrupted;

static int vreport(int code, const char *fmt, va_list ap)
{
	fputs("error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	return code;
}

int usage_error(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vreport(EXIT_USAGE, fmt, ap);
	va_end(ap);
	return rc;
}

int fail(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vreport(EXIT_FAIL, fmt, ap);
	va_end(ap);
	return rc;
}

static void log_stderr(void *opaque, enum vfm_log_level level, const char *msg)
{
	static const char *const names[] = {"error", "warning", "info", "debug", "trace"};

	(void)opaque;
	fprintf(stderr, "%s: %s\n", names[level], msg);
}

struct vfm_logger tool_logger(void)
{
	struct vfm_logger log = {.fn = log_stderr,
				 .max_level = (enum vfm_log_level)(verbosity < 0 ? 0 : verbosity)};

	return log;
}

int open_device(const char *spec, struct vfm_handle **out)
{
	struct vfm_open_opts opts = {.log = tool_logger()};
	char err[VFM_ERR_LEN];
	int rc = vfm_handle_open_cancellable(spec, &opts, &interrupted, out, err, sizeof(err));

	if (rc)
		fprintf(stderr, "error: %s\n", err);
	return rc;
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void progress_init(struct progress_state *ps, bool quiet)
{
	memset(ps, 0, sizeof(*ps));
	ps->tty = isatty(STDERR_FILENO);
	ps->quiet = quiet;
	ps->last_quarter = -1;
	ps->last_phase = VFM_PHASE_NR;
}

/* One bar per phase on a terminal: a new line when the phase changes. */
static void progress_tty(struct progress_state *ps, const struct vfm_progress *p, double pct,
			 const char *done, const char *total)
{
	char bar[32], extra[64] = "";
	int width = 24, fill = (int)(pct / 100 * width);

	if (p->elapsed_s - ps->last < 0.05 && p->phase == ps->last_phase && pct < 100)
		return;
	if (ps->last_phase != VFM_PHASE_NR && p->phase != ps->last_phase)
		fputc('\n', stderr);
	ps->last = p->elapsed_s;
	ps->last_phase = p->phase;
	fill = fill > width ? width : fill < 0 ? 0 : fill;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(width - fill));
	bar[width] = '\0';
	if (p->phase == VFM_PHASE_PRECOPY && p->round)
		snprintf(extra, sizeof(extra), "  round %u, est. downtime %.1f ms", p->round,
			 p->est_downtime_ms < 1e9 ? p->est_downtime_ms : -1.0);
	fprintf(stderr, "\r%-9s [%s] %10s / %-10s %6.2f GB/s%s\033[K", vfm_phase_name(p->phase),
		bar, done, total, p->rate / 1e9, extra);
}

void progress_cb(void *opaque, const struct vfm_progress *p)
{
	struct progress_state *ps = opaque;
	char done[32], total[32];
	double pct = p->total > p->bytes ? 100.0 * (double)p->bytes / (double)p->total : 100;
	int quarter = pct >= 99.5 ? 4 : (int)(pct / 25);

	if (ps->quiet || p->phase == VFM_PHASE_DONE)
		return;
	vfm_format_size(p->bytes, done, sizeof(done));
	vfm_format_size(p->total > p->bytes ? p->total : p->bytes, total, sizeof(total));
	if (ps->tty) {
		progress_tty(ps, p, pct, done, total);
		return;
	}
	/* Not a terminal: a line per phase and per quarter of the bytes. */
	if (p->phase == VFM_PHASE_SETUP ||
	    (p->phase == ps->last_phase && (quarter <= ps->last_quarter || quarter < 1)))
		return;
	ps->last_phase = p->phase;
	ps->last_quarter = quarter;
	fprintf(stderr, "%s: %s of %s, %.2f GB/s", vfm_phase_name(p->phase), done, total,
		p->rate / 1e9);
	if (p->phase == VFM_PHASE_PRECOPY && p->round)
		fprintf(stderr, ", round %u, est. downtime %.1f ms", p->round,
			p->est_downtime_ms < 1e9 ? p->est_downtime_ms : -1.0);
	fputc('\n', stderr);
}

int common_option(int c, bool *quiet, void (*usage)(FILE *f))
{
	switch (c) {
	case 'q':
		*quiet = true;
		return -1;
	case 'v':
		verbosity++;
		return -1;
	case 'h':
		usage(stdout);
		return EXIT_OK;
	default:
		usage(stderr);
		return EXIT_USAGE;
	}
}

void progress_opts(struct vfm_mig_opts *opts, struct progress_state *ps, bool quiet)
{
	progress_init(ps, quiet);
	opts->log = tool_logger();
	opts->progress = progress_cb;
	opts->progress_opaque = ps;
	opts->cancel = &interrupted;
}

int parse_buffer_size(const char *cmd, const char *arg, size_t *out)
{
	uint64_t v;

	if (vfm_parse_size(arg, &v) || v == 0 || v > VFM_MAX_BUF_SIZE) {
		usage_error("%s: bad buffer size '%s' (1 to 64M)", cmd, arg);
		return -EINVAL;
	}
	*out = (size_t)v;
	return 0;
}

int parse_timeout(const char *cmd, const char *arg, uint32_t *out_ms)
{
	uint64_t v;

	if (vfm_parse_size(arg, &v) || v == 0 || v > 86400) {
		usage_error("%s: bad timeout '%s' (1 to 86400 seconds)", cmd, arg);
		return -EINVAL;
	}
	*out_ms = (uint32_t)v * 1000;
	return 0;
}

void progress_end(struct progress_state *ps)
{
	if (ps->tty && !ps->quiet && ps->last_phase != VFM_PHASE_NR)
		fputc('\n', stderr);
	ps->last_phase = VFM_PHASE_NR;
}

void fprint_checksum(FILE *f, struct vfm_handle *h, const char *label)
{
	size_t n = label ? strlen(label) : 0;
	uint64_t sum;

	if (vfm_handle_checksum(h, &sum) == 0)
		fprintf(f, "%s%schecksum: %016llx\n", n ? label : "",
			n && label[n - 1] != ' ' ? " " : "", (unsigned long long)sum);
}

void print_checksum(struct vfm_handle *h, const char *label)
{
	fprint_checksum(stdout, h, label);
	print_dma_checksum(h, label);
}

void print_dma_checksum(struct vfm_handle *h, const char *label)
{
	size_t n = label ? strlen(label) : 0;
	uint64_t iova, size;
	void *ptr;

	if (vfm_handle_dma_memory(h, &ptr, &iova, &size))
		return;
	printf("%s%sdma checksum: %016llx (%llu bytes at 0x%llx)\n", n ? label : "",
	       n && label[n - 1] != ' ' ? " " : "",
	       (unsigned long long)vfm_testdev_hash(ptr, (size_t)size), (unsigned long long)size,
	       (unsigned long long)iova);
}

void fprint_stats(FILE *f, const char *what, const struct vfm_mig_stats *st)
{
	char bytes[32];
	double rate = st->total_s > 0 ? (double)st->bytes / st->total_s / 1e9 : 0;

	vfm_format_size(st->bytes, bytes, sizeof(bytes));
	fprintf(f, "%s: %s in %.3f s (%.2f GB/s), downtime %.1f ms", what, bytes, st->total_s, rate,
		st->downtime_s * 1e3);
	if (st->rounds)
		fprintf(f, ", %u pre-copy rounds (%.1f MiB while running)", st->rounds,
			(double)st->precopy_bytes / 1048576.0);
	fputc('\n', f);
}

void print_stats(const char *what, const struct vfm_mig_stats *st)
{
	fprint_stats(stdout, what, st);
}

void report_devices(const char *role, struct vfm_handle *const *devs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t state;
		uint64_t sum;

		if (!devs[i])
			continue;
		if (vfm_handle_get_state(devs[i], &state)) {
			fprintf(stderr, "%s %s: state unknown (%s)\n", role,
				vfm_handle_name(devs[i]), vfm_handle_error(devs[i]));
			continue;
		}
		if (vfm_handle_checksum(devs[i], &sum) == 0)
			fprintf(stderr, "%s %s: %s, checksum %016llx\n", role,
				vfm_handle_name(devs[i]), vfm_state_name(state),
				(unsigned long long)sum);
		else
			fprintf(stderr, "%s %s: %s\n", role, vfm_handle_name(devs[i]),
				vfm_state_name(state));
	}
}

int tls_option(int c, const char *arg, struct tool_tls *t, const char *cmd)
{
	switch (c) {
	case OPT_TLS_CREDS:
		t->o.x509_dir = arg;
		return 1;
	case OPT_TLS_PSK:
		t->o.psk_file = arg;
		return 1;
	case OPT_TLS_HOSTNAME:
		t->o.hostname = arg;
		return 1;
	case OPT_TLS_PSK_IDENTITY:
		t->o.psk_identity = arg;
		return 1;
	case OPT_TLS_AUTHZ:
		if (t->o.nr_authz == TOOL_TLS_MAX_AUTHZ) {
			usage_error("%s: at most %d --tls-authz", cmd, TOOL_TLS_MAX_AUTHZ);
			return -EINVAL;
		}
		t->authz[t->o.nr_authz++] = arg;
		t->o.authz = t->authz;
		return 1;
	default:
		return 0;
	}
}

int tls_finish(struct tool_tls *t, const char *cmd, const char *uri,
	       const struct vfm_tls_opts **out)
{
	const char *why = NULL;

	*out = NULL;
	if (!t->o.x509_dir && !t->o.psk_file && !t->o.hostname && !t->o.nr_authz &&
	    !t->o.psk_identity)
		return 0;
	if (t->o.x509_dir && t->o.psk_file)
		why = "--tls-creds and --tls-psk exclude each other";
	else if (t->o.psk_identity && !t->o.psk_file)
		why = "--tls-psk-identity needs --tls-psk";
	else if (!t->o.x509_dir && (t->o.hostname || t->o.nr_authz))
		why = t->o.hostname ? "--tls-hostname needs --tls-creds"
				    : "--tls-authz needs --tls-creds";
	else if (!t->o.x509_dir && !t->o.psk_file)
		why = "TLS needs --tls-creds DIR or --tls-psk FILE";
	else if (strncmp(uri, "tcp:", 4))
		why = "TLS runs over tcp: channels only";
	if (why) {
		usage_error("%s: %s", cmd, why);
		return -EINVAL;
	}
	*out = &t->o;
	return 0;
}
