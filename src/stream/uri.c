// SPDX-License-Identifier: BSD-3-Clause
/* Migration channels named by URI: tcp:HOST:PORT, sock:PATH, file:PATH. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "stream/tls.h"
#include "util.h"
#include "vfio-mig/stream.h"

#define SOCK_BUF (4 << 20)
/* vfm_chan_accept_until looks at its cancel flag this often. */
#define ACCEPT_TICK_MS 100

bool vfm_chan_is_uri(const char *s)
{
	return !strncmp(s, "tcp:", 4) || !strncmp(s, "sock:", 5) || !strncmp(s, "file:", 5);
}

/* "HOST:PORT" or "[V6]:PORT" into host and port. */
static int split_host_port(const char *hp, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon;

	if (hp[0] == '[') {
		const char *close = strchr(hp, ']');

		if (!close || close[1] != ':' || (size_t)(close - hp - 1) >= hlen)
			return -EINVAL;
		memcpy(host, hp + 1, (size_t)(close - hp - 1));
		host[close - hp - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon || (size_t)(colon - hp) >= hlen)
			return -EINVAL;
		memcpy(host, hp, (size_t)(colon - hp));
		host[colon - hp] = '\0';
	}
	if (!colon[1] || strlen(colon + 1) >= plen ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -EINVAL;
	snprintf(port, plen, "%s", colon + 1);
	return 0;
}

int vfm_chan_uri_host(const char *uri, char *host, size_t len)
{
	char port[16];

	if (strncmp(uri, "tcp:", 4))
		return -EINVAL;
	return split_host_port(uri + 4, host, len, port, sizeof(port));
}

bool vfm_chan_uri_is_loopback(const char *uri)
{
	struct in6_addr a6;
	struct in_addr a4;
	char host[256];

	if (vfm_chan_uri_host(uri, host, sizeof(host)))
		return false;
	if (!strcmp(host, "localhost"))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/*
 * Large buffers; and for TCP, a cut link must end the migration within seconds, not after
 * the kernel's 15 minutes of retransmissions: unacknowledged data times out after
 * TCP_USER_TIMEOUT, and keepalive probes find a silent peer.
 */
static void tune_socket(int fd, bool tcp)
{
	int one = 1, buf = SOCK_BUF, idle = 2, intvl = 1, cnt = 3;
	unsigned int user_timeout_ms = 5000;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (!tcp)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
}

static int tcp_resolve(const char *hp, bool passive, struct addrinfo **res, char *err,
		       size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0};
	char host[256], port[16];
	int rc;

	if (split_host_port(hp, host, sizeof(host), port, sizeof(port)))
		return vfm_errf(err, errlen, -EINVAL, "tcp:%s: expected tcp:HOST:PORT", hp);
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, res);
	if (rc)
		return vfm_errf(err, errlen, -EHOSTUNREACH, "tcp:%s: %s", hp, gai_strerror(rc));
	return 0;
}

/* Connects (or, passive, binds and listens) on the first address of hp that works. */
static int tcp_socket(const char *hp, bool passive, int *out, char *err, size_t errlen)
{
	struct addrinfo *res, *ai;
	int fd = -1, e = passive ? EADDRNOTAVAIL : ECONNREFUSED, one = 1;

	if (tcp_resolve(hp, passive, &res, err, errlen))
		return -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (passive)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		tune_socket(fd, true);
		if (passive ? bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0
			    : connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return vfm_errf(err, errlen, -e, "tcp:%s: cannot %s: %s", hp,
				passive ? "listen" : "connect", strerror(e));
	*out = fd;
	return 0;
}

static int tcp_connect(const char *hp, struct vfm_chan *ch, char *err, size_t errlen)
{
	int fd = -1, rc = tcp_socket(hp, false, &fd, err, errlen);

	if (rc)
		return rc;
	vfm_chan_init(ch, fd, "tcp channel");
	snprintf(ch->name, sizeof(ch->name), "tcp:%.80s", hp);
	return 0;
}

static int sock_addr(const char *path, struct sockaddr_un *sa, char *err, size_t errlen)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!*path || strlen(path) >= sizeof(sa->sun_path))
		return vfm_errf(err, errlen, -ENAMETOOLONG, "sock:%s: bad socket path", path);
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
	return 0;
}

static int sock_connect(const char *path, struct vfm_chan *ch, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd, rc = sock_addr(path, &sa, err, errlen);

	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vfm_errf(err, errlen, -errno, "socket: %s", strerror(errno));
	tune_socket(fd, false);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		rc = -errno;
		close(fd);
		return vfm_errf(err, errlen, rc, "sock:%s: cannot connect: %s", path,
				strerror(-rc));
	}
	vfm_chan_init(ch, fd, "sock channel");
	snprintf(ch->name, sizeof(ch->name), "sock:%.80s", path);
	return 0;
}

static void tune_accepted(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		tune_socket(fd, ss.ss_family != AF_UNIX);
}

int vfm_chan_open_out(const char *uri, struct vfm_chan *ch, char *err, size_t errlen)
{
	if (!strncmp(uri, "tcp:", 4))
		return tcp_connect(uri + 4, ch, err, errlen);
	if (!strncmp(uri, "sock:", 5))
		return sock_connect(uri + 5, ch, err, errlen);
	if (!strncmp(uri, "file:", 5)) {
		int fd = open(uri + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0)
			return vfm_errf(err, errlen, -errno, "%s: %s", uri, strerror(errno));
		vfm_chan_init(ch, fd, uri);
		return 0;
	}
	return vfm_errf(err, errlen, -EINVAL, "'%s' is not a channel (tcp:, sock:, file:)", uri);
}

/* Listens on a temporary name and renames it into place, so the path appears only once
 * a client can connect. */
static int sock_listen(const char *path, int *lfd, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	char tmp[sizeof(sa.sun_path)];
	int fd, rc = sock_addr(path, &sa, err, errlen);

	if (rc)
		return rc;
	if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp))
		return vfm_errf(err, errlen, -ENAMETOOLONG, "sock:%s: path too long", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vfm_errf(err, errlen, -errno, "socket: %s", strerror(errno));
	tune_socket(fd, false);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", tmp);
	unlink(tmp);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(tmp, 0600) || listen(fd, 128) ||
	    rename(tmp, path)) {
		rc = -errno;
		close(fd);
		unlink(tmp);
		return vfm_errf(err, errlen, rc, "sock:%s: cannot listen: %s", path, strerror(-rc));
	}
	*lfd = fd;
	return 0;
}

int vfm_chan_listen(const char *uri, int *listen_fd, struct vfm_chan *ch, char *err, size_t errlen)
{
	*listen_fd = -1;
	if (!strncmp(uri, "tcp:", 4))
		return tcp_socket(uri + 4, true, listen_fd, err, errlen);
	if (!strncmp(uri, "sock:", 5))
		return sock_listen(uri + 5, listen_fd, err, errlen);
	if (!strncmp(uri, "file:", 5)) {
		int fd = open(uri + 5, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return vfm_errf(err, errlen, -errno, "%s: %s", uri, strerror(errno));
		vfm_chan_init(ch, fd, uri);
		return 0;
	}
	return vfm_errf(err, errlen, -EINVAL, "'%s' is not a channel (tcp:, sock:, file:)", uri);
}

int vfm_chan_accept(int listen_fd, struct vfm_chan *ch, int timeout_ms, char *err, size_t errlen)
{
	struct pollfd p = {.fd = listen_fd, .events = POLLIN};
	int fd, n;

	do {
		n = poll(&p, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return vfm_errf(err, errlen, -ETIMEDOUT, "no migration connection arrived");
	if (n < 0)
		return vfm_errf(err, errlen, -errno, "poll: %s", strerror(errno));
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return vfm_errf(err, errlen, -errno, "accept: %s", strerror(errno));
	tune_accepted(fd);
	vfm_chan_init(ch, fd, "migration connection");
	return 0;
}

int vfm_chan_accept_until(int listen_fd, struct vfm_chan *ch, int timeout_ms,
			  const volatile sig_atomic_t *cancel, char *err, size_t errlen)
{
	double deadline = timeout_ms < 0 ? 0 : vfm_now() + timeout_ms / 1e3;

	for (;;) {
		int rc = vfm_chan_accept(listen_fd, ch, ACCEPT_TICK_MS, err, errlen);

		if (rc != -ETIMEDOUT)
			return rc;
		if (cancel && *cancel)
			return vfm_errf(err, errlen, -ECANCELED,
					"cancelled while waiting for a migration connection");
		if (deadline && vfm_now() >= deadline)
			return vfm_errf(err, errlen, -ETIMEDOUT,
					"no migration connection arrived in %.0f s",
					timeout_ms / 1e3);
		err[0] = '\0'; /* one tick's timeout is not the caller's error */
	}
}

void vfm_chan_close(struct vfm_chan *ch)
{
	vfm_tls_close(ch);
	if (ch->fd >= 0)
		close(ch->fd);
	ch->fd = -1;
}
