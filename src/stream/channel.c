// SPDX-License-Identifier: BSD-3-Clause
/* A byte channel over a file descriptor that always moves whole buffers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "stream/tls.h"
#include "util.h"
#include "vfio-mig/stream.h"

void vfm_chan_init(struct vfm_chan *ch, int fd, const char *name)
{
	memset(ch, 0, sizeof(*ch));
	ch->fd = fd;
	snprintf(ch->name, sizeof(ch->name), "%s", name ? name : "channel");
}

static int tls_writev(struct vfm_chan *ch, struct iovec *iov, int cnt)
{
	int rc = vfm_tls_writev(ch, iov, cnt);
	char why[VFM_STREAM_ERR_LEN];

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
	while (cnt > 0) {
		ssize_t n = writev(ch->fd, iov, cnt);

		if (n < 0) {
			int e = errno;

			if (e == EINTR)
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

int vfm_chan_write2(struct vfm_chan *ch, const void *a, size_t alen, const void *b, size_t blen)
{
	struct iovec iov[2] = {
		{.iov_base = (void *)a, .iov_len = alen},
		{.iov_base = (void *)b, .iov_len = blen},
	};

	return chan_writev(ch, iov, 2);
}

/* Bytes read, 0 at the end, or a negative errno (EINTR retried). */
static ssize_t read_some(struct vfm_chan *ch, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = ch->tls ? vfm_tls_read_some(ch, buf, len) : read(ch->fd, buf, len);

		if (n >= 0 || ch->tls)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

int vfm_chan_read(struct vfm_chan *ch, void *buf, size_t len)
{
	char why[VFM_STREAM_ERR_LEN];
	size_t got = 0;

	while (got < len) {
		ssize_t n = read_some(ch, (char *)buf + got, len - got);

		if (n < 0) {
			snprintf(why, sizeof(why), "%s",
				 ch->tls ? vfm_tls_reason(ch) : strerror((int)-n));
			return vfm_errf(ch->err, sizeof(ch->err), (int)n,
					"%s: read at offset %llu: %s", ch->name,
					(unsigned long long)ch->pos, why);
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
