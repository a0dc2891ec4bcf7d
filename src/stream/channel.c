// SPDX-License-Identifier: BSD-3-Clause
/*
 * A byte channel over a file descriptor that always moves whole buffers. Every wait is a
 * poll of at most TICK_MS, so that a cancel flag set by a signal handler (which may run on
 * any thread) is seen within a tick, and a peer that moves nothing is given up on after
 * the channel's timeout. Over TLS, stream/tls.c waits in the same ticks whenever OpenSSL
 * wants the (then non-blocking) socket, in the middle of a record too.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "stream/tls.h"
#include "util.h"
#include "vfio-mig/stream.h"

#define TICK_MS 100

void vfm_chan_init(struct vfm_chan *ch, int fd, const char *name)
{
	struct stat st;

	memset(ch, 0, sizeof(*ch));
	ch->fd = fd;
	if (fd >= 0 && fstat(fd, &st) == 0) {
		ch->sock = S_ISSOCK(st.st_mode);
		ch->fifo = S_ISFIFO(st.st_mode);
	}
	snprintf(ch->name, sizeof(ch->name), "%s", name ? name : "channel");
}

double vfm_chan_deadline(const struct vfm_chan *ch)
{
	int ms = ch->timeout_ms ? ch->timeout_ms : VFM_CHAN_TIMEOUT_MS;

	return ms < 0 ? 0 : vfm_now() + ms / 1e3;
}

int vfm_chan_wait(const struct vfm_chan *ch, short events, double deadline)
{
	struct pollfd p = {.fd = ch->fd, .events = events};

	for (;;) {
		int n;

		if (ch->cancel && *ch->cancel)
			return -ECANCELED;
		n = poll(&p, 1, TICK_MS);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (deadline && vfm_now() >= deadline)
			return -ETIMEDOUT;
	}
}

/* vfm_chan_wait, with the reason in ch->err. */
static int chan_wait(struct vfm_chan *ch, short events, double deadline)
{
	double t0 = vfm_now();
	int rc;

	if (ch->fd < 0)
		return vfm_errf(ch->err, sizeof(ch->err), -EBADF, "%s: not open", ch->name);
	rc = vfm_chan_wait(ch, events, deadline);
	if (rc == -ECANCELED)
		return vfm_errf(ch->err, sizeof(ch->err), rc, "%s: cancelled at offset %llu",
				ch->name, (unsigned long long)ch->pos);
	if (rc == -ETIMEDOUT)
		return vfm_errf(ch->err, sizeof(ch->err), rc,
				"%s: the peer moved nothing for %.1f s (at offset %llu)", ch->name,
				vfm_now() - t0, (unsigned long long)ch->pos);
	if (rc)
		return vfm_errf(ch->err, sizeof(ch->err), rc, "%s: poll: %s", ch->name,
				strerror(-rc));
	return 0;
}

/* One write that cannot block once the fd is writable: a socket without waiting, a pipe
 * at most PIPE_BUF bytes (a pipe that polls writable has room for that much). */
static ssize_t write_some(struct vfm_chan *ch, struct iovec *iov, int cnt)
{
	struct iovec one;

	if (ch->sock) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};

		return sendmsg(ch->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	if (ch->fifo && iov->iov_len > PIPE_BUF) {
		one.iov_base = iov->iov_base;
		one.iov_len = PIPE_BUF;
		return writev(ch->fd, &one, 1);
	}
	return writev(ch->fd, iov, ch->fifo ? 1 : cnt);
}

static int tls_writev(struct vfm_chan *ch, struct iovec *iov, int cnt)
{
	char why[VFM_STREAM_ERR_LEN];
	int rc = vfm_tls_writev(ch, iov, cnt);

	if (rc) {
		snprintf(why, sizeof(why), "%s", vfm_tls_reason(ch));
		return vfm_errf(ch->err, sizeof(ch->err), rc, "%s: write at offset %llu: %s",
				ch->name, (unsigned long long)ch->pos, why);
	}
	for (int i = 0; i < cnt; i++)
		ch->pos += iov[i].iov_len;
	return 0;
}

static int chan_writev(struct vfm_chan *ch, struct iovec *iov, int cnt)
{
	if (ch->tls)
		return tls_writev(ch, iov, cnt);
	while (cnt > 0 && iov->iov_len == 0) {
		iov++;
		cnt--;
	}
	while (cnt > 0) {
		ssize_t n;
		int rc = chan_wait(ch, POLLOUT, vfm_chan_deadline(ch));

		if (rc)
			return rc;
		n = write_some(ch, iov, cnt);
		if (n < 0) {
			int e = errno;

			if (e == EINTR || e == EAGAIN)
				continue;
			return vfm_errf(ch->err, sizeof(ch->err), -e,
					"%s: write at offset %llu: %s", ch->name,
					(unsigned long long)ch->pos, strerror(e));
		}
		ch->pos += (uint64_t)n;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int vfm_chan_write(struct vfm_chan *ch, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	return chan_writev(ch, &iov, 1);
}

int vfm_chan_writev(struct vfm_chan *ch, struct iovec *iov, int cnt)
{
	return chan_writev(ch, iov, cnt);
}

int vfm_chan_write2(struct vfm_chan *ch, const void *a, size_t alen, const void *b, size_t blen)
{
	struct iovec iov[2] = {
		{.iov_base = (void *)a, .iov_len = alen},
		{.iov_base = (void *)b, .iov_len = blen},
	};

	return chan_writev(ch, iov, 2);
}

/* deadline 0: the channel's timeout, counted afresh for each wait. */
static int chan_read(struct vfm_chan *ch, void *buf, size_t len, double deadline)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;
		int rc = ch->tls ? 0
				 : chan_wait(ch, POLLIN,
					     deadline ? deadline : vfm_chan_deadline(ch));

		if (rc)
			return rc;
		n = ch->tls ? vfm_tls_read_some(ch, (char *)buf + got, len - got, deadline)
			    : read(ch->fd, (char *)buf + got, len - got);
		if (n < 0 && ch->tls) {
			char why[VFM_STREAM_ERR_LEN];

			snprintf(why, sizeof(why), "%s", vfm_tls_reason(ch));
			return vfm_errf(ch->err, sizeof(ch->err), (int)n,
					"%s: read at offset %llu: %s", ch->name,
					(unsigned long long)ch->pos, why);
		}
		if (n < 0) {
			int e = errno;

			if (e == EINTR || e == EAGAIN)
				continue;
			return vfm_errf(ch->err, sizeof(ch->err), -e, "%s: read at offset %llu: %s",
					ch->name, (unsigned long long)ch->pos, strerror(e));
		}
		if (n == 0) {
			ch->eof = true;
			if (got == 0)
				return vfm_errf(ch->err, sizeof(ch->err), -ENODATA,
						"%s: end of stream at offset %llu", ch->name,
						(unsigned long long)ch->pos);
			return vfm_errf(ch->err, sizeof(ch->err), -EPIPE,
					"%s: stream ends at offset %llu, %zu bytes short", ch->name,
					(unsigned long long)ch->pos, len - got);
		}
		got += (size_t)n;
		ch->pos += (uint64_t)n;
	}
	return 0;
}

int vfm_chan_read(struct vfm_chan *ch, void *buf, size_t len)
{
	return chan_read(ch, buf, len, 0);
}

int vfm_chan_read_by(struct vfm_chan *ch, void *buf, size_t len, double deadline)
{
	return chan_read(ch, buf, len, deadline > 0 ? deadline : 1e-9);
}

int vfm_chan_peek(struct vfm_chan *ch, uint8_t *b)
{
	if (ch->tls) /* the socket holds ciphertext */
		return vfm_tls_peek(ch, b);
	return ch->sock && recv(ch->fd, b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

int vfm_chan_poll(struct vfm_chan *ch, int timeout_ms)
{
	double deadline = timeout_ms < 0 ? 0 : vfm_now() + timeout_ms / 1e3;
	struct pollfd p = {.fd = ch->fd, .events = POLLIN};
	int n;

	if (vfm_tls_has_pending(ch))
		return 1;
	if (timeout_ms == 0) {
		do {
			n = poll(&p, 1, 0);
		} while (n < 0 && errno == EINTR);
		return n < 0 ? -errno : n > 0;
	}
	n = chan_wait(ch, POLLIN, deadline);
	if (n == -ETIMEDOUT)
		ch->err[0] = '\0';
	return n == 0 ? 1 : n == -ETIMEDOUT ? 0 : n;
}
