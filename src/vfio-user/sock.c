// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user socket I/O: exact reads and writes over a UNIX stream socket, descriptors
 * as SCM_RIGHTS, and a listener that is ready before its path is visible.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sock.h"
#include "util.h"

void vu_fds_init(struct vu_fds *f, size_t max)
{
	f->n = 0;
	f->max = max > VFM_VU_HARD_MAX_FDS ? VFM_VU_HARD_MAX_FDS : max;
	f->overflow = false;
}

void vu_fds_close(struct vu_fds *f)
{
	for (size_t i = 0; i < f->n; i++) {
		if (f->fd[i] >= 0)
			close(f->fd[i]);
	}
	f->n = 0;
}

int vu_fds_take(struct vu_fds *f, size_t i)
{
	int fd;

	if (i >= f->n)
		return -1;
	fd = f->fd[i];
	f->fd[i] = -1;
	return fd;
}

int vu_sock_set_timeouts(int fd, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

void vu_sock_set_buffers(int fd, int bytes)
{
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

/* Keeps the descriptors of one control message, closing what does not fit. */
static void take_cmsg_fds(struct msghdr *mh, struct vu_fds *fds)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;
		int *p;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, p + i, sizeof(fd));
			if (fds && fds->n < fds->max) {
				fds->fd[fds->n++] = fd;
			} else {
				close(fd);
				if (fds)
					fds->overflow = true;
			}
		}
	}
	if ((mh->msg_flags & MSG_CTRUNC) && fds)
		fds->overflow = true;
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * A blocking call was interrupted (EINTR) or timed out (EAGAIN) with nothing moved since
 * last_ms: 0 to wait on, -ECANCELED or -ETIMEDOUT to give up.
 */
static int waited(const struct vu_sock *s, int err, double last_ms)
{
	if (s->stop && *s->stop && (!s->stop_when_idle || err != EINTR))
		return -ECANCELED; /* EAGAIN: a whole VU_POLL_MS passed without a byte */
	if (s->idle_ms > 0 && mono_ms() - last_ms >= s->idle_ms)
		return -ETIMEDOUT;
	return 0;
}

int vu_recv(struct vu_sock *s, void *buf, size_t len, struct vu_fds *fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VFM_VU_HARD_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	size_t got = 0;
	double last = mono_ms();

	while (got < len) {
		struct iovec iov = {(char *)buf + got, len - got};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n;

		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(s->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
				int rc = waited(s, errno, last);

				if (rc)
					return rc;
				continue;
			}
			return errno == ECONNRESET ? (got ? -EPIPE : -ENODATA) : -errno;
		}
		take_cmsg_fds(&mh, fds);
		if (n == 0)
			return got ? -EPIPE : -ENODATA;
		got += (size_t)n;
		last = mono_ms();
	}
	return 0;
}

int vu_discard(struct vu_sock *s, size_t len)
{
	char sink[4096];

	while (len) {
		size_t n = len < sizeof(sink) ? len : sizeof(sink);
		int rc = vu_recv(s, sink, n, NULL);

		if (rc)
			return rc == -ENODATA ? -EPIPE : rc;
		len -= n;
	}
	return 0;
}

/* Drops n sent bytes from the front of the vector. */
static void iov_advance(struct iovec **iov, int *iovcnt, size_t n)
{
	while (n && *iovcnt) {
		if (n < (*iov)->iov_len) {
			(*iov)->iov_base = (char *)(*iov)->iov_base + n;
			(*iov)->iov_len -= n;
			return;
		}
		n -= (*iov)->iov_len;
		(*iov)++;
		(*iovcnt)--;
	}
	while (*iovcnt && (*iov)->iov_len == 0) {
		(*iov)++;
		(*iovcnt)--;
	}
}

int vu_send(struct vu_sock *s, struct iovec *iov, int iovcnt, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VFM_VU_HARD_MAX_FDS)];
		struct cmsghdr align;
	} ctl;

	double last = mono_ms();

	if (nfds > VFM_VU_HARD_MAX_FDS)
		return -EINVAL;
	iov_advance(&iov, &iovcnt, 0);
	while (iovcnt > 0) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
		ssize_t n;

		if (nfds) {
			struct cmsghdr *c;

			memset(ctl.buf, 0, sizeof(ctl.buf));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		n = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
				int rc = waited(s, errno, last);

				if (rc)
					return rc;
				continue;
			}
			return errno == ECONNRESET ? -EPIPE : -errno;
		}
		last = mono_ms();
		nfds = 0;
		iov_advance(&iov, &iovcnt, (size_t)n);
	}
	return 0;
}

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int vu_connect(const char *path, int *fd, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int s, rc = fill_addr(&sa, path);

	if (rc)
		return vfm_errf(err, errlen, rc, "socket path too long: %s", path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return vfm_errf(err, errlen, -errno, "socket: %s", strerror(errno));
	while (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		rc = -errno;
		close(s);
		return vfm_errf(err, errlen, rc, "cannot connect to %s: %s", path, strerror(-rc));
	}
	*fd = s;
	return 0;
}

/* Refuses to replace anything but a dead socket. */
static int check_target(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT
			       ? 0
			       : vfm_errf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return vfm_errf(err, errlen, -EEXIST, "%s exists and is not a socket", path);
	rc = vu_connect(path, &fd, NULL, 0);
	if (rc == 0) {
		close(fd);
		return vfm_errf(err, errlen, -EADDRINUSE, "%s: a server is already listening",
				path);
	}
	return 0;
}

static int temp_name(const char *path, char *tmp, size_t len)
{
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path + 1) : 0;
	struct timespec ts;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(tmp, len, "%.*s.vfm-%d-%lx.tmp", dirlen, path, (int)getpid(),
		     (unsigned long)ts.tv_nsec);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int bind_listen_rename(int s, const char *path, const char *tmp, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int rc = fill_addr(&sa, tmp);

	if (rc)
		return vfm_errf(err, errlen, rc, "socket path too long: %s", path);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return vfm_errf(err, errlen, -errno, "bind %s: %s", tmp, strerror(errno));
	if (chmod(tmp, 0600) < 0 || listen(s, 8) < 0 || rename(tmp, path) < 0) {
		rc = -errno;
		unlink(tmp);
		return vfm_errf(err, errlen, rc, "cannot listen on %s: %s", path, strerror(-rc));
	}
	return 0;
}

int vu_listen(const char *path, int *fd, dev_t *dev, ino_t *ino, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	char tmp[sizeof(sa.sun_path)];
	struct stat st;
	int s, rc;

	if (!path || !*path)
		return vfm_errf(err, errlen, -EINVAL, "empty socket path");
	if (fill_addr(&sa, path) || temp_name(path, tmp, sizeof(tmp)))
		return vfm_errf(err, errlen, -ENAMETOOLONG, "socket path too long: %s", path);
	rc = check_target(path, err, errlen);
	if (rc)
		return rc;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return vfm_errf(err, errlen, -errno, "socket: %s", strerror(errno));
	rc = bind_listen_rename(s, path, tmp, err, errlen);
	if (rc) {
		close(s);
		return rc;
	}
	if (stat(path, &st) == 0) {
		*dev = st.st_dev;
		*ino = st.st_ino;
	} else {
		*dev = 0;
		*ino = 0;
	}
	*fd = s;
	return 0;
}

void vu_unlink_if_ours(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;

	if (!path || !*path || lstat(path, &st) < 0)
		return;
	if (S_ISSOCK(st.st_mode) && st.st_dev == dev && st.st_ino == ino)
		unlink(path);
}
