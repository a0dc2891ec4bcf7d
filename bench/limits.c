// SPDX-License-Identifier: BSD-3-Clause
/*
 * Limits of the TCP cases that the hot-buffer loopback does not show, measured in the same
 * run: TCP loopback from a state-sized memory in one process into a state-sized memory in
 * another (every byte read from and written to DRAM once, as a migration must), and the
 * speed of the TLS cipher on one core.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "util.h"

#define STEP (1u << 20)

double bench_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* Memory as the sample device holds its state: anonymous, populated at once. */
static uint8_t *state_memory(size_t size, uint8_t fill)
{
	uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	memset(m, fill, size);
	return m;
}

static int read_full(int fd, uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The receiving process: its memory, "r" when ready, then every byte into it; reports
 * its CPU seconds on `report`. */
static void state_receiver(int lfd, size_t size, int report)
{
	uint8_t *m = state_memory(size, 2);
	int c = accept(lfd, NULL, NULL);
	double cpu;

	if (!m || c < 0 || write(c, "r", 1) != 1)
		_exit(1);
	cpu = bench_cpu_s();
	for (size_t off = 0; off < size; off += STEP)
		if (read_full(c, m + off, VFM_MIN((size_t)STEP, size - off)))
			_exit(1);
	cpu = bench_cpu_s() - cpu;
	_exit(write(report, &cpu, sizeof(cpu)) == (ssize_t)sizeof(cpu) ? 0 : 1);
}

int bench_tcp_state_gbps(size_t size, struct bench_result *res)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), s = -1, p[2] = {-1, -1}, status, rc = -1;
	uint8_t *m = NULL;
	double t, cpu;
	pid_t pid = -1;
	char c;

	memset(res, 0, sizeof(*res));
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) || pipe(p))
		goto out;
	pid = fork();
	if (pid == 0)
		state_receiver(l, size, p[1]);
	m = state_memory(size, 1);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (pid < 0 || !m || s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) ||
	    read(s, &c, 1) != 1)
		goto out;
	t = vfm_now();
	cpu = bench_cpu_s();
	for (size_t off = 0; off < size; off += STEP)
		if (write_full(s, m + off, VFM_MIN((size_t)STEP, size - off)))
			goto out;
	res->cpu_src = bench_cpu_s() - cpu;
	if (read(p[0], &res->cpu_dst, sizeof(res->cpu_dst)) != (ssize_t)sizeof(res->cpu_dst))
		goto out;
	res->seconds = vfm_now() - t;
	res->bytes = size;
	rc = 0;
out:
	if (s >= 0)
		close(s);
	if (pid > 0 && (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)))
		rc = -1;
	if (m)
		munmap(m, size);
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
	if (l >= 0)
		close(l);
	return rc;
}

/* AES-128-GCM sealing 16 KiB records (TLS's largest) on one core, with the libcrypto
 * this program runs with; 0 if it cannot be measured. */
double bench_aead_gbps(void)
{
	static const unsigned char key[16] = {1}, iv[12] = {2};
	size_t rec = 16u << 10, done = 0;
	unsigned char *in = calloc(1, rec), *out = malloc(rec + 16), tag[16];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	double t0 = vfm_now(), t = 0;
	int ok = in && out && ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, key, iv) == 1;

	while (ok && (t = vfm_now() - t0) < 0.5) {
		int len, fin;

		ok = EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) == 1 &&
		     EVP_EncryptUpdate(ctx, out, &len, in, (int)rec) == 1 &&
		     EVP_EncryptFinal_ex(ctx, out + len, &fin) == 1 &&
		     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
		done += rec;
	}
	EVP_CIPHER_CTX_free(ctx);
	free(in);
	free(out);
	return ok && t > 0 ? (double)done / t / 1e9 : 0;
}

const char *bench_aead_library(void)
{
	return OpenSSL_version(OPENSSL_VERSION);
}
