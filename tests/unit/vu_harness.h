/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test harness for the vfio-user tests: a server serving a sample device in a thread
 * over a socketpair, and a raw client that sends hand-made messages. Header-only; each
 * test program includes it once.
 */
#ifndef VFM_TEST_VU_HARNESS_H
#define VFM_TEST_VU_HARNESS_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vfio-mig/fsm.h"
#include "vfio-mig/testdev.h"
#include "vfio-mig/vfio-user.h"

struct vu_harness {
	struct vfm_testdev *td;
	struct vfm_device *dev;
	struct vfm_vu_server *srv;
	pthread_t thr;
	bool running;
	int sfd, cfd;
	volatile sig_atomic_t stop;
	int rc;
	uint16_t id;
};

static inline void *vh_serve(void *arg)
{
	struct vu_harness *h = arg;

	h->rc = vfm_vu_server_serve_fd(h->srv, h->sfd, &h->stop);
	return NULL;
}

/* Starts a new connection: a socketpair, the server thread on one end. */
static inline int vh_connect(struct vu_harness *h)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	h->sfd = sv[0];
	h->cfd = sv[1];
	h->stop = 0;
	h->running = pthread_create(&h->thr, NULL, vh_serve, h) == 0;
	return h->running ? 0 : -EAGAIN;
}

/* Closes the client end and waits until the server has cleaned up. */
static inline int vh_disconnect(struct vu_harness *h)
{
	if (h->cfd >= 0)
		close(h->cfd);
	h->cfd = -1;
	if (h->running)
		pthread_join(h->thr, NULL);
	h->running = false;
	return h->rc;
}

static inline int vh_start_opts(struct vu_harness *h, const char *spec,
				const struct vfm_vu_server_opts *opts_in)
{
	struct vfm_testdev_config cfg;
	struct vfm_vu_server_opts opts = {0};
	char err[256];
	int rc;

	memset(h, 0, sizeof(*h));
	h->cfd = -1;
	vfm_testdev_config_default(&cfg);
	rc = vfm_testdev_parse(spec, &cfg, err, sizeof(err));
	if (!rc)
		rc = vfm_testdev_create(&cfg, "vu-test", NULL, &h->td, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "testdev: %s\n", err);
		return rc;
	}
	h->dev = vfm_testdev_device(h->td);
	if (opts_in)
		opts = *opts_in;
	opts.testdev = h->td;
	if (!opts.dma)
		opts.dma = vfm_testdev_dma(h->td); /* as vfio-mig serve does */
	rc = vfm_vu_server_create(h->dev, &opts, &h->srv, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "server: %s\n", err);
		return rc;
	}
	return vh_connect(h);
}

static inline int vh_start(struct vu_harness *h, const char *spec)
{
	return vh_start_opts(h, spec, NULL);
}

static inline void vh_stop(struct vu_harness *h)
{
	vh_disconnect(h);
	vfm_vu_server_destroy(h->srv);
	vfm_testdev_destroy(h->td);
}

/* ---- raw client ---- */

static inline int vh_send_fds(struct vu_harness *h, uint16_t cmd, uint32_t flags, const void *body,
			      size_t len, const int *fds, size_t nfds)
{
	struct vfm_vu_hdr hdr = {.msg_id = ++h->id,
				 .cmd = cmd,
				 .msg_size = (uint32_t)(sizeof(hdr) + len),
				 .flags = flags};
	struct iovec iov[2] = {{&hdr, sizeof(hdr)}, {(void *)body, len}};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	size_t total = sizeof(hdr) + len, sent = 0;

	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (sent < total) {
		ssize_t n = sendmsg(h->cfd, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		sent += (size_t)n;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (n > 0 && mh.msg_iovlen) {
			if ((size_t)n >= mh.msg_iov->iov_len) {
				n -= (ssize_t)mh.msg_iov->iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
				mh.msg_iov->iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 0;
}

static inline int vh_send(struct vu_harness *h, uint16_t cmd, const void *body, size_t len)
{
	return vh_send_fds(h, cmd, 0, body, len, NULL, 0);
}

static inline int vh_read_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		got += (size_t)n;
	}
	return 0;
}

/* Reads one message: header into *hdr, body (at most cap bytes, rest dropped) into body. */
static inline int vh_recv(struct vu_harness *h, struct vfm_vu_hdr *hdr, void *body, size_t cap,
			  size_t *len)
{
	size_t n;
	int rc = vh_read_all(h->cfd, hdr, sizeof(*hdr));

	if (rc)
		return rc;
	if (hdr->msg_size < sizeof(*hdr))
		return -EPROTO;
	n = hdr->msg_size - sizeof(*hdr);
	if (len)
		*len = n;
	if (n <= cap)
		return vh_read_all(h->cfd, body, n);
	rc = vh_read_all(h->cfd, body, cap);
	for (size_t left = n - cap; !rc && left;) {
		char sink[4096];
		size_t k = left < sizeof(sink) ? left : sizeof(sink);

		rc = vh_read_all(h->cfd, sink, k);
		left -= k;
	}
	return rc;
}

/* A command and its reply: 0, or minus the errno of an error reply, or -EPROTO. */
static inline int vh_call(struct vu_harness *h, uint16_t cmd, const void *body, size_t len,
			  void *rep, size_t cap, size_t *rep_len)
{
	struct vfm_vu_hdr hdr;
	int rc = vh_send(h, cmd, body, len);

	if (!rc)
		rc = vh_recv(h, &hdr, rep, cap, rep_len);
	if (rc)
		return rc;
	if ((hdr.flags & VFM_VU_F_TYPE_MASK) != VFM_VU_F_TYPE_REPLY || hdr.msg_id != h->id ||
	    hdr.cmd != cmd)
		return -EPROTO;
	if (hdr.flags & VFM_VU_F_ERROR)
		return -(int)hdr.error;
	return 0;
}

static inline int vh_version(struct vu_harness *h, const char *json)
{
	char buf[4096];
	struct vfm_vu_version *v = (struct vfm_vu_version *)buf;
	size_t n = json ? strlen(json) + 1 : 0;

	v->major = 0;
	v->minor = 1;
	if (json)
		memcpy(v->data, json, n);
	return vh_call(h, VFM_VU_VERSION, buf, sizeof(*v) + n, buf, sizeof(buf), NULL);
}

static inline int vh_feature(struct vu_harness *h, uint32_t flags, uint32_t argsz, const void *data,
			     size_t len, void *out, size_t cap, size_t *out_len)
{
	uint8_t buf[256];
	struct vfm_vu_feature *f = (struct vfm_vu_feature *)buf;

	if (len > sizeof(buf) - sizeof(*f))
		return -E2BIG;
	f->argsz = argsz;
	f->flags = flags;
	if (len)
		memcpy(f->data, data, len);
	return vh_call(h, VFM_VU_DEVICE_FEATURE, buf, sizeof(*f) + len, out, cap, out_len);
}

static inline int vh_set_state(struct vu_harness *h, uint32_t state)
{
	struct vfm_device_feature_mig_state ms = {state, -1};
	uint8_t out[64];

	return vh_feature(h, VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE,
			  8 + sizeof(ms), &ms, sizeof(ms), out, sizeof(out), NULL);
}

static inline int vh_region_read(struct vu_harness *h, uint32_t region, uint64_t off, void *buf,
				 uint32_t count)
{
	struct vfm_vu_region_access ra = {off, region, count};
	uint8_t *rep = malloc(sizeof(ra) + count);
	size_t n = 0;
	int rc = rep ? vh_call(h, VFM_VU_REGION_READ, &ra, sizeof(ra), rep, sizeof(ra) + count, &n)
		     : -ENOMEM;

	if (!rc && n != sizeof(ra) + count)
		rc = -EPROTO;
	if (!rc)
		memcpy(buf, rep + sizeof(ra), count);
	free(rep);
	return rc;
}

static inline int vh_region_write(struct vu_harness *h, uint32_t region, uint64_t off,
				  const void *buf, uint32_t count)
{
	uint8_t msg[256];
	struct vfm_vu_region_access *ra = (struct vfm_vu_region_access *)msg;

	if (count > sizeof(msg) - sizeof(*ra))
		return -E2BIG;
	*ra = (struct vfm_vu_region_access){off, region, count};
	memcpy(ra->data, buf, count);
	return vh_call(h, VFM_VU_REGION_WRITE, msg, sizeof(*ra) + count, msg, sizeof(msg), NULL);
}

#endif /* VFM_TEST_VU_HARNESS_H */
