// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-mig benchmarks. Prints a table: the machine's own limits measured in the same run
 * (memcpy, UNIX socket), then migration throughput and peak memory per case, each case
 * in its own child process so that its peak RSS is its own.
 *
 *   bench [--sizes 64M,1G] [--cases local,save-load,tcp-compare] [--repeat N]
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "util.h"
#include "vfio-mig/engine.h"
#include "vfio-mig/handle.h"
#include "vfio-mig/testdev.h"

double bench_memcpy_gbps(void)
{
	size_t len = 256u << 20;
	char *a = malloc(len), *b = malloc(len);
	double best = 0;

	if (!a || !b) {
		free(a);
		free(b);
		return 0;
	}
	memset(a, 1, len);
	memset(b, 2, len);
	for (int i = 0; i < 5; i++) {
		double t = vfm_now();

		memcpy(b, a, len);
		t = vfm_now() - t;
		best = VFM_MAX(best, (double)len / t / 1e9);
		a[i] = b[len - 1 - (size_t)i];
	}
	free(a);
	free(b);
	return best;
}

struct sock_writer {
	int fd;
	size_t total, chunk;
};

static void *sock_write_main(void *arg)
{
	struct sock_writer *w = arg;
	char *buf = calloc(1, w->chunk);
	size_t sent = 0;

	while (buf && sent < w->total) {
		ssize_t n = write(w->fd, buf, VFM_MIN(w->chunk, w->total - sent));

		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	free(buf);
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

double bench_socket_gbps(int domain_fds[2], size_t total)
{
	struct sock_writer w = {.fd = domain_fds[0], .total = total, .chunk = 1u << 20};
	char *buf = malloc(1u << 20);
	size_t got = 0;
	pthread_t t;
	double t0;

	if (!buf)
		return 0;
	t0 = vfm_now();
	pthread_create(&t, NULL, sock_write_main, &w);
	for (;;) {
		ssize_t n = read(domain_fds[1], buf, 1u << 20);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	pthread_join(t, NULL);
	free(buf);
	return (double)got / (vfm_now() - t0) / 1e9;
}

/* TCP over loopback with 1 MiB writes: the limit of the TCP cases. */
static double tcp_loopback_gbps(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), fds[2] = {-1, -1};
	double r = 0;

	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &len))
		goto out;
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)))
		goto out;
	fds[1] = accept(l, NULL, NULL);
	if (fds[1] >= 0)
		r = bench_socket_gbps(fds, 4ull << 30);
out:
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (l >= 0)
		close(l);
	return r;
}

static double unix_socket_gbps(void)
{
	int fds[2];
	double r;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds))
		return 0;
	r = bench_socket_gbps(fds, 4ull << 30);
	close(fds[0]);
	close(fds[1]);
	return r;
}

/* ---- cases, each run in a child ------------------------------------------------------ */

void bench_resident(struct vfm_testdev *td)
{
	uint64_t size = td ? vfm_testdev_config(td)->size : 0;
	uint8_t byte;

	for (uint64_t off = 0; off < size; off += VFM_TESTDEV_CHUNK)
		(void)vfm_testdev_peek(td, off, &byte, 1);
}

static int open_pair(uint64_t size, struct vfm_handle **a, struct vfm_handle **b)
{
	char spec[128], err[VFM_ERR_LEN];

	snprintf(spec, sizeof(spec), "local:testdev,size=%llu,seed=1", (unsigned long long)size);
	if (vfm_handle_open(spec, NULL, a, err, sizeof(err)))
		return fprintf(stderr, "%s\n", err), -1;
	snprintf(spec, sizeof(spec), "local:testdev,size=%llu,seed=2", (unsigned long long)size);
	if (vfm_handle_open(spec, NULL, b, err, sizeof(err)))
		return fprintf(stderr, "%s\n", err), -1;
	bench_resident(vfm_local_testdev(*a));
	bench_resident(vfm_local_testdev(*b));
	return 0;
}

static int case_local(uint64_t size, struct bench_result *res)
{
	struct vfm_handle *a, *b;
	struct vfm_mig_stats st;
	char err[VFM_ERR_LEN];

	if (open_pair(size, &a, &b))
		return -1;
	if (vfm_migrate(&a, &b, 1, NULL, &st, err, sizeof(err)))
		return fprintf(stderr, "%s\n", err), -1;
	bench_from_stats(res, st.total_s, st.bytes, st.downtime_s);
	vfm_handle_close(a);
	vfm_handle_close(b);
	return 0;
}

struct saver {
	struct vfm_handle *h;
	struct vfm_chan ch;
	int rc;
	char err[VFM_ERR_LEN];
};

static void *save_main(void *arg)
{
	struct saver *s = arg;
	struct vfm_mig_stats st;

	s->rc = vfm_save(&s->h, 1, &s->ch, NULL, &st, s->err, sizeof(s->err));
	close(s->ch.fd);
	return NULL;
}

static int case_save_load(uint64_t size, struct bench_result *res)
{
	struct saver s = {0};
	struct vfm_handle *b;
	struct vfm_mig_stats st;
	struct vfm_chan in;
	char err[VFM_ERR_LEN];
	int fds[2];
	pthread_t t;
	double t0;

	if (open_pair(size, &s.h, &b) || socketpair(AF_UNIX, SOCK_STREAM, 0, fds))
		return -1;
	vfm_chan_init(&s.ch, fds[0], "save");
	vfm_chan_init(&in, fds[1], "load");
	t0 = vfm_now();
	pthread_create(&t, NULL, save_main, &s);
	if (vfm_load(&b, 1, &in, NULL, &st, err, sizeof(err)))
		return fprintf(stderr, "%s\n", err), -1;
	pthread_join(t, NULL);
	if (s.rc)
		return fprintf(stderr, "%s\n", s.err), -1;
	res->seconds = vfm_now() - t0;
	res->bytes = st.bytes;
	res->downtime_s = res->seconds;
	close(fds[1]);
	vfm_handle_close(s.h);
	vfm_handle_close(b);
	return 0;
}

static const struct bench_case local_cases[] = {
	{"local", "migrate, in-process (direct)", case_local, "64M,1G"},
	{"save-load", "save -> UNIX socket -> load", case_save_load, "64M,1G"},
};

/* Runs fn in a child; the child's peak RSS comes back through wait4. */
int bench_in_child(const struct bench_case *c, uint64_t size, struct bench_result *res)
{
	int p[2], status;
	struct rusage ru;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct bench_result r = {0};
		int rc = c->run(size, &r);

		close(p[0]);
		if (write(p[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(3);
		_exit(rc < 0 ? 1 : rc > 0 ? 2 : 0);
	}
	close(p[1]);
	memset(res, 0, sizeof(*res));
	if (read(p[0], res, sizeof(*res)) != (ssize_t)sizeof(*res))
		res->seconds = 0;
	close(p[0]);
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status))
		return -1;
	if (WEXITSTATUS(status) == 2)
		return 1;
	if (WEXITSTATUS(status))
		return -1;
	res->peak_rss = (uint64_t)ru.ru_maxrss * 1024;
	return 0;
}

static bool wanted(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		if (!strncmp(p, name, n) && (p[n] == ',' || !p[n]))
			return true;
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	return false;
}

static const struct bench_case *extra_case(const char *name)
{
	for (size_t i = 0; i < bench_extra_count(); i++) {
		if (!strcmp(bench_extra(i)->name, name))
			return bench_extra(i);
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Medians of the TCP section's runs; CPU in seconds per GB. */
struct tcp_row {
	double gbps[32], cpu_src[32], cpu_dst[32];
};

static void tcp_note(struct tcp_row *row, int k, const struct bench_result *r)
{
	double gb = (double)r->bytes / 1e9;

	row->gbps[k] = gb / r->seconds;
	row->cpu_src[k] = r->cpu_src / gb;
	row->cpu_dst[k] = r->cpu_dst / gb;
}

static void tcp_print(const char *what, struct tcp_row *row, int n, double hot, double state,
		      double clear)
{
	double g = median(row->gbps, n);

	printf("| %s | %.2f | %.2f | %.2f | ", what, g, g / hot, g / state);
	if (clear > 0)
		printf("%.2f |", g / clear);
	else
		printf(" |");
	printf(" %.3f | %.3f |\n", median(row->cpu_src, n), median(row->cpu_dst, n));
}

/*
 * What TLS can reach at best here: the in-clear path's own work on each side plus the
 * cipher over every byte (sealing on the source, opening on the destination, at the
 * measured one-core speed), one core per side and two cores in all.
 */
static double tls_bound(double cpu_src, double cpu_dst, double aead)
{
	double per_side = 1 / VFM_MAX(cpu_src + 1 / aead, cpu_dst + 1 / aead);
	double both = 2 / (cpu_src + cpu_dst + 2 / aead);

	return VFM_MIN(per_side, both);
}

/*
 * TCP, 1 GiB: the loopback limits (one hot buffer; state-sized memory to memory),
 * send -> receive in clear and with TLS, measured in turns so that each sees the same
 * load of the machine; medians, as the machine is shared and noisy.
 */
static void tcp_section(int runs)
{
	const struct bench_case *plain = extra_case("tcp"), *tls = extra_case("tcp-tls");
	const struct bench_case *copy = extra_case("tcp-copy");
	static struct tcp_row state, clear, copied, enc;
	double hot[32], aead = bench_aead_gbps(), m_hot, m_state, m_clear;
	struct bench_result r;
	int n = 0;

	runs = runs > 32 ? 32 : runs;
	for (int k = 0; k < runs && plain && tls && copy; k++) {
		hot[n] = tcp_loopback_gbps();
		if (bench_tcp_state_gbps(1ull << 30, &r) || !r.seconds)
			break;
		tcp_note(&state, n, &r);
		if (bench_in_child(plain, 1ull << 30, &r) || !r.seconds)
			break;
		tcp_note(&clear, n, &r);
		if (bench_in_child(copy, 1ull << 30, &r) || !r.seconds)
			break;
		tcp_note(&copied, n, &r);
		if (bench_in_child(tls, 1ull << 30, &r) || !r.seconds)
			break;
		tcp_note(&enc, n++, &r);
	}
	if (!n) {
		printf("\nTCP with and without TLS: failed\n");
		return;
	}
	m_hot = median(hot, n);
	m_state = median(state.gbps, n);
	m_clear = median(clear.gbps, n);
	printf("\nTCP over loopback, 1 GiB, median of %d runs taken in turns; CPU in seconds per "
	       "GB on each side; AES-128-GCM on one core (16 KiB records, %s): %.2f GB/s\n\n",
	       n, bench_aead_library(), aead);
	printf("| path | GB/s | / loopback, hot buffer | / loopback, memory to memory | / in clear "
	       "| CPU source | CPU destination |\n|---|---|---|---|---|---|---|\n");
	printf("| TCP loopback, 1 MiB writes from one hot 1 MiB buffer | %.2f | 1.00 | %.2f | | | "
	       "|\n",
	       m_hot, m_hot / m_state);
	tcp_print("TCP loopback, 1 GiB of memory into 1 GiB of memory, 1 MiB writes", &state, n,
		  m_hot, m_state, 0);
	tcp_print("send -> receive, in clear", &clear, n, m_hot, m_state, m_clear);
	tcp_print("send -> receive, in clear, every byte copied (zero-copy=off)", &copied, n, m_hot,
		  m_state, m_clear);
	tcp_print("send -> receive, TLS 1.3 x509 (AES-128-GCM)", &enc, n, m_hot, m_state, m_clear);
	if (aead > 0) {
		double b = tls_bound(median(clear.cpu_src, n), median(clear.cpu_dst, n), aead);

		printf("| bound for TLS: in clear + AES-128-GCM on every byte, each side | %.2f | "
		       "%.2f | %.2f | %.2f | | |\n",
		       b, b / m_hot, b / m_state, b / m_clear);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"sizes", required_argument, NULL, 's'},
		{"cases", required_argument, NULL, 'c'},
		{"repeat", required_argument, NULL, 'r'},
		{0},
	};
	const char *sizes = NULL, *cases = NULL;
	int c, repeat = 3;
	double mem, sock, tcp;

	while ((c = getopt_long(argc, argv, "s:c:r:", longopts, NULL)) != -1) {
		if (c == 's')
			sizes = optarg;
		else if (c == 'c')
			cases = optarg;
		else if (c == 'r')
			repeat = atoi(optarg) > 0 ? atoi(optarg) : 1;
		else
			return 2;
	}
	mem = bench_memcpy_gbps();
	sock = unix_socket_gbps();
	tcp = tcp_loopback_gbps();
	printf("machine limits (same run): memcpy %.2f GB/s, UNIX socket %.2f GB/s, TCP loopback "
	       "%.2f GB/s (1 MiB writes)\n\n",
	       mem, sock, tcp);
	printf("| case | state | time (s) | GB/s | / memcpy | / socket | downtime (ms) | peak RSS | RSS - 2 x state |\n");
	printf("|---|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < VFM_ARRAY_SIZE(local_cases) + bench_extra_count(); i++) {
		const struct bench_case *bc =
			i < VFM_ARRAY_SIZE(local_cases)
				? &local_cases[i]
				: bench_extra(i - VFM_ARRAY_SIZE(local_cases));

		if (cases && !wanted(cases, bc->name))
			continue;
		for (const char *p = sizes ? sizes : bc->sizes; p && *p;) {
			char tok[32], a[32], b[32];
			size_t n = strcspn(p, ",");
			struct bench_result best = {0}, r;
			uint64_t size;

			snprintf(tok, sizeof(tok), "%.*s", (int)n, p);
			p = p[n] ? p + n + 1 : NULL;
			if (vfm_parse_size(tok, &size))
				continue;
			for (int k = 0; k < repeat; k++) {
				int rc = bench_in_child(bc, size, &r);

				if (rc) {
					printf("| %s | %s | %s |\n", bc->what, tok,
					       rc > 0 ? "not run (see above)" : "failed");
					break;
				}
				if (!best.seconds || r.seconds < best.seconds)
					best = r;
			}
			if (!best.seconds)
				continue;
			double gbps = (double)best.bytes / best.seconds / 1e9;
			int64_t over = (int64_t)best.peak_rss - (int64_t)(2 * size);

			vfm_format_size(best.peak_rss, a, sizeof(a));
			vfm_format_size(over > 0 ? (uint64_t)over : 0, b, sizeof(b));
			if (over < 0)
				snprintf(b, sizeof(b), "(state in other processes)");
			printf("| %s | %s | %.3f | %.2f | %.2f | %.2f | %.3f | %s | %s |\n",
			       bc->what, tok, best.seconds, gbps, gbps / mem, gbps / sock,
			       best.downtime_s * 1e3, a, b);
			fflush(stdout);
		}
	}
	printf("\n(best of %d runs; each case in its own process; peak RSS includes both devices' "
	       "state)\n",
	       repeat);
	if (!cases || wanted(cases, "tcp-compare"))
		tcp_section(repeat < 5 ? 5 : repeat);
	return 0;
}
