/*
 * vfm-qmp: the QEMU tier's small client and relay (runs inside the test guest, static).
 *
 *   vfm-qmp SOCKET CMD...   connects to QEMU's QMP socket (retrying for up to 30 s while
 *                           QEMU starts), negotiates, then for each CMD:
 *       JSON                   sends it and prints the reply line (events skipped);
 *       wait-migrate:STATUS    polls query-migrate until its status is STATUS (fails on
 *                              "failed"/"cancelled" unless that is STATUS);
 *       wait-status:STATUS     polls query-status until the run state is STATUS;
 *       each wait gives up after 60 s. Exit 0 iff every reply was a "return".
 *   vfm-qmp relay LPORT DPORT FILE [OFFSET]
 *                           accepts one TCP connection on 127.0.0.1:LPORT, connects to
 *                           127.0.0.1:DPORT and copies both ways until both ends close;
 *                           the LPORT->DPORT bytes (the migration stream) also go to
 *                           FILE, and the byte at OFFSET, if given, is inverted in
 *                           transit (a stream corrupted on the way).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define WAIT_S 60

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int qmp_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	double end = now() + 30;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		if (now() > end) {
			fprintf(stderr, "vfm-qmp: cannot connect to %s: %s\n", path,
				strerror(errno));
			return -1;
		}
		usleep(50000);
	}
}

static char rbuf[1 << 16];
static size_t rlen;

/* One line of QMP output (without CR LF) into line; 0 or -1 (closed, error). */
static int read_line(int fd, char *line, size_t cap)
{
	for (;;) {
		char *nl = memchr(rbuf, '\n', rlen);
		ssize_t r;

		if (nl) {
			size_t n = (size_t)(nl - rbuf);

			if (n && rbuf[n - 1] == '\r')
				rbuf[n - 1] = '\0';
			rbuf[n] = '\0';
			snprintf(line, cap, "%s", rbuf);
			memmove(rbuf, nl + 1, rlen - n - 1);
			rlen -= n + 1;
			return 0;
		}
		if (rlen == sizeof(rbuf))
			return -1;
		r = read(fd, rbuf + rlen, sizeof(rbuf) - rlen);
		if (r <= 0)
			return -1;
		rlen += (size_t)r;
	}
}

/* Sends cmd and reads its reply (not an event) into reply. */
static int execute(int fd, const char *cmd, char *reply, size_t cap)
{
	size_t len = strlen(cmd);

	if (write(fd, cmd, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		return -1;
	do {
		if (read_line(fd, reply, cap))
			return -1;
	} while (strstr(reply, "\"event\""));
	return strstr(reply, "\"return\"") ? 0 : 1;
}

/* Polls cmd until its reply holds "status": "want"; "failed"/"cancelled" end it. */
static int wait_for(int fd, const char *cmd, const char *want, char *reply, size_t cap)
{
	char pat[96];
	double end = now() + WAIT_S;

	snprintf(pat, sizeof(pat), "\"status\": \"%s\"", want);
	for (;;) {
		if (execute(fd, cmd, reply, cap) < 0)
			return -1;
		if (strstr(reply, pat))
			return 0;
		if (strstr(reply, "\"status\": \"failed\"") ||
		    strstr(reply, "\"status\": \"cancelled\"") || now() > end)
			return 1;
		usleep(20000);
	}
}

static int qmp_main(int argc, char **argv)
{
	static char line[1 << 16];
	int fd = qmp_connect(argv[1]), ret = 0;

	if (fd < 0 || read_line(fd, line, sizeof(line)) ||
	    execute(fd, "{\"execute\":\"qmp_capabilities\"}", line, sizeof(line))) {
		fprintf(stderr, "vfm-qmp: no QMP greeting on %s\n", argv[1]);
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		int rc;

		if (!strncmp(argv[i], "wait-migrate:", 13))
			rc = wait_for(fd, "{\"execute\":\"query-migrate\"}", argv[i] + 13, line,
				      sizeof(line));
		else if (!strncmp(argv[i], "wait-status:", 12))
			rc = wait_for(fd, "{\"execute\":\"query-status\"}", argv[i] + 12, line,
				      sizeof(line));
		else
			rc = execute(fd, argv[i], line, sizeof(line));
		printf("%s\n", line);
		if (rc) {
			fprintf(stderr, "vfm-qmp: %s: %s\n", argv[i],
				rc < 0 ? "connection lost" : line);
			ret = 1;
			if (rc < 0)
				break;
		}
	}
	close(fd);
	return ret;
}

static int tcp_fd(int port, int listening)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	double end = now() + 30;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (listening) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1))
			return -1;
		return fd;
	}
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (now() > end)
			return -1;
		usleep(50000);
	}
	return fd;
}

/* Copies what a has into b (and forward bytes into out); 0 at a's end. */
static ssize_t pump(int a, int b, int out, long long corrupt, long long *pos)
{
	static char buf[1 << 16];
	ssize_t n = read(a, buf, sizeof(buf));

	if (n <= 0)
		return n;
	if (out >= 0) {
		if (corrupt >= *pos && corrupt < *pos + n)
			buf[corrupt - *pos] = (char)~buf[corrupt - *pos];
		*pos += n;
		if (write(out, buf, (size_t)n) != n)
			return -1;
	}
	for (ssize_t done = 0; done < n;) {
		ssize_t w = write(b, buf + done, (size_t)(n - done));

		if (w <= 0)
			return -1;
		done += w;
	}
	return n;
}

static int relay_main(int argc, char **argv)
{
	int lfd = tcp_fd(atoi(argv[2]), 1), src, dst, out;
	long long corrupt = argc > 5 ? atoll(argv[5]) : -1, pos = 0;
	struct pollfd p[2];
	int open_ends = 2;

	if (lfd < 0)
		return perror("vfm-qmp relay: listen"), 1;
	printf("relay listening\n");
	fflush(stdout);
	src = accept(lfd, NULL, NULL);
	dst = tcp_fd(atoi(argv[3]), 0);
	out = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (src < 0 || dst < 0 || out < 0)
		return perror("vfm-qmp relay"), 1;
	p[0] = (struct pollfd){.fd = src, .events = POLLIN};
	p[1] = (struct pollfd){.fd = dst, .events = POLLIN};
	while (open_ends) {
		if (poll(p, 2, WAIT_S * 1000) <= 0)
			break;
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = i == 0 ? pump(src, dst, out, corrupt, &pos)
				   : pump(dst, src, -1, -1, &pos);
			if (n <= 0) {
				shutdown(i == 0 ? dst : src, SHUT_WR);
				p[i].fd = -1;
				open_ends--;
			}
		}
	}
	printf("relay: %lld bytes forwarded\n", pos);
	close(out);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "relay"))
		return relay_main(argc, argv);
	if (argc < 2) {
		fprintf(stderr,
			"usage: vfm-qmp SOCKET CMD... | vfm-qmp relay LPORT DPORT FILE [OFFSET]\n");
		return 2;
	}
	return qmp_main(argc, argv);
}
