// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user server: lifecycle, the listening socket, one connection at a time, message
 * reception (whole bodies, however the kernel splits them) and dispatch.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"
#include "vfio-mig/fsm.h"
#include "util.h"

int vu_fail(struct vfm_vu_server *srv, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(srv->err, sizeof(srv->err), fmt, ap);
	va_end(ap);
	vfm_log(&srv->log, VFM_LOG_DEBUG, "vfio-user server: %s", srv->err);
	return rc;
}

int vu_buf_reserve(uint8_t **buf, size_t *cap, size_t need, size_t limit)
{
	size_t n;
	uint8_t *p;

	if (need <= *cap)
		return 0;
	if (need > limit)
		return -E2BIG;
	n = *cap ? *cap : 4096;
	while (n < need)
		n *= 2;
	if (n > limit)
		n = limit;
	p = realloc(*buf, n);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

static size_t msg_limit(const struct vfm_vu_server *srv)
{
	return vfm_vu_max_msg(srv->max_xfer);
}

int vfm_vu_server_create(struct vfm_device *dev, const struct vfm_vu_server_opts *opts,
			 struct vfm_vu_server **out, char *err, size_t errlen)
{
	struct vfm_vu_server *srv;
	uint32_t xfer =
		opts && opts->max_data_xfer_size ? opts->max_data_xfer_size : VFM_VU_OUR_MAX_XFER;

	if (!dev || !out)
		return vfm_errf(err, errlen, -EINVAL, "vfio-user server: no device");
	if (xfer < 4096 || xfer > VFM_VU_HARD_MAX_XFER)
		return vfm_errf(err, errlen, -EINVAL,
				"vfio-user server: max_data_xfer_size %u outside [4096, %u]", xfer,
				VFM_VU_HARD_MAX_XFER);
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return vfm_errf(err, errlen, -ENOMEM, "vfio-user server: out of memory");
	srv->dev = dev;
	srv->max_xfer = xfer;
	srv->max_fds = VFM_VU_OUR_MAX_FDS;
	srv->max_dma_maps = VFM_VU_OUR_MAX_DMA_MAPS;
	if (opts) {
		srv->log = opts->log;
		srv->td = opts->testdev;
		srv->no_ext = opts->no_extensions;
		if (opts->max_msg_fds)
			srv->max_fds = VFM_MIN(opts->max_msg_fds, VFM_VU_HARD_MAX_FDS);
		srv->dma = opts->dma;
		if (opts->max_dma_maps)
			srv->max_dma_maps = opts->max_dma_maps;
	}
	srv->listen_fd = -1;
	vu_irq_init(&srv->c);
	vu_model_init(srv);
	*out = srv;
	return 0;
}

static void close_listener(struct vfm_vu_server *srv)
{
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	srv->listen_fd = -1;
	if (srv->path[0])
		vu_unlink_if_ours(srv->path, srv->sock_dev, srv->sock_ino);
	srv->path[0] = '\0';
}

static void conn_end(struct vfm_vu_server *srv);

void vfm_vu_server_destroy(struct vfm_vu_server *srv)
{
	if (!srv)
		return;
	if (srv->c.active)
		conn_end(srv);
	close_listener(srv);
	free(srv->rx);
	free(srv->tx);
	free(srv->dma_buf);
	free(srv);
}

int vfm_vu_server_listen(struct vfm_vu_server *srv, const char *path)
{
	int rc;

	if (srv->listen_fd >= 0)
		return vu_fail(srv, -EBUSY, "already listening on %s", srv->path);
	if (!path || strlen(path) >= sizeof(srv->path))
		return vu_fail(srv, -ENAMETOOLONG, "socket path too long");
	rc = vu_listen(path, &srv->listen_fd, &srv->sock_dev, &srv->sock_ino, srv->err,
		       sizeof(srv->err));
	if (rc)
		return rc;
	snprintf(srv->path, sizeof(srv->path), "%s", path);
	vfm_log(&srv->log, VFM_LOG_INFO, "vfio-user: %s listening on %s", vfm_device_name(srv->dev),
		path);
	return 0;
}

int vfm_vu_server_listen_fd(struct vfm_vu_server *srv, int fd)
{
	if (srv->listen_fd >= 0)
		return vu_fail(srv, -EBUSY, "already listening");
	if (fd < 0)
		return vu_fail(srv, -EBADF, "bad listening descriptor %d", fd);
	srv->listen_fd = fd;
	return 0;
}

const char *vfm_vu_server_error(const struct vfm_vu_server *srv)
{
	return srv->err;
}

const char *vfm_vu_server_path(const struct vfm_vu_server *srv)
{
	return srv->path;
}

void vfm_vu_server_get_stats(const struct vfm_vu_server *srv, struct vfm_vu_server_stats *st)
{
	*st = srv->stats;
}

/* ---- replies ---- */

static int sent(int rc)
{
	return rc ? VU_GONE : 0;
}

static int send_error(struct vfm_vu_server *srv, const struct vfm_vu_hdr *req, int rc)
{
	struct vfm_vu_hdr h;
	struct iovec iov = {&h, sizeof(h)};

	srv->stats.errors++;
	vfm_log(&srv->log, VFM_LOG_DEBUG, "vfio-user: -> error %d (%s) to %s id %u", -rc,
		strerror(-rc), vfm_vu_cmd_name(req->cmd), req->msg_id);
	if (req->flags & VFM_VU_F_NO_REPLY)
		return 0;
	vfm_vu_hdr_error(&h, req, rc);
	return sent(vu_send(&srv->c.sock, &iov, 1, NULL, 0));
}

int vu_send_error(struct vfm_vu_server *srv, const struct vfm_vu_hdr *req, int rc)
{
	return send_error(srv, req, rc);
}

int vu_reply(struct vfm_vu_server *srv, const struct vu_req *rq, const void *payload, size_t len)
{
	struct vfm_vu_hdr h;
	struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)payload, len}};

	if (rq->hdr.flags & VFM_VU_F_NO_REPLY)
		return 0;
	vfm_vu_hdr_reply(&h, &rq->hdr, (uint32_t)(sizeof(h) + len));
	return sent(vu_send(&srv->c.sock, iov, len ? 2 : 1, NULL, 0));
}

int vu_reply_tx(struct vfm_vu_server *srv, const struct vu_req *rq, size_t len)
{
	struct iovec iov = {srv->tx, sizeof(struct vfm_vu_hdr) + len};

	if (rq->hdr.flags & VFM_VU_F_NO_REPLY)
		return 0;
	vfm_vu_hdr_reply((struct vfm_vu_hdr *)srv->tx, &rq->hdr, (uint32_t)iov.iov_len);
	return sent(vu_send(&srv->c.sock, &iov, 1, NULL, 0));
}

/* ---- dispatch ---- */

typedef int (*vu_handler)(struct vfm_vu_server *srv, struct vu_req *rq);

static const vu_handler handlers[VFM_VU_CMD_MAX] = {
	[VFM_VU_VERSION] = vu_handle_version,
	[VFM_VU_DMA_MAP] = vu_handle_dma_map,
	[VFM_VU_DMA_UNMAP] = vu_handle_dma_unmap,
	[VFM_VU_DEVICE_GET_INFO] = vu_handle_device_info,
	[VFM_VU_DEVICE_GET_REGION_INFO] = vu_handle_region_info,
	[VFM_VU_DEVICE_GET_REGION_IO_FDS] = vu_handle_io_fds,
	[VFM_VU_DEVICE_GET_IRQ_INFO] = vu_handle_irq_info,
	[VFM_VU_DEVICE_SET_IRQS] = vu_handle_set_irqs,
	[VFM_VU_REGION_READ] = vu_handle_region_read,
	[VFM_VU_REGION_WRITE] = vu_handle_region_write,
	[VFM_VU_DEVICE_RESET] = vu_handle_reset,
	[VFM_VU_REGION_WRITE_MULTI] = vu_handle_write_multi,
	[VFM_VU_DEVICE_FEATURE] = vu_handle_feature,
	[VFM_VU_MIG_DATA_READ] = vu_handle_mig_read,
	[VFM_VU_MIG_DATA_WRITE] = vu_handle_mig_write,
};

/* Checks that apply to every command; the handler's errno otherwise. */
static int dispatch(struct vfm_vu_server *srv, struct vu_req *rq)
{
	uint32_t cmd = rq->hdr.cmd;
	int min = vfm_vu_request_min_body(cmd);

	if ((rq->hdr.flags & VFM_VU_F_TYPE_MASK) != VFM_VU_F_TYPE_COMMAND)
		return vu_fail(srv, -EINVAL, "a reply (id %u, %s) with no request outstanding",
			       rq->hdr.msg_id, vfm_vu_cmd_name(cmd));
	if (cmd >= VFM_VU_CMD_MAX || !handlers[cmd])
		return vu_fail(
			srv, cmd == VFM_VU_DMA_READ || cmd == VFM_VU_DMA_WRITE ? -EINVAL : -ENOSYS,
			"command %u (%s) is not served", cmd, vfm_vu_cmd_name(cmd));
	if (min < 0 || rq->len < (size_t)min)
		return vu_fail(srv, -EINVAL, "%s: body of %zu bytes, need %d", vfm_vu_cmd_name(cmd),
			       rq->len, min);
	if (!srv->c.negotiated && cmd != VFM_VU_VERSION)
		return vu_fail(srv, -EINVAL, "%s before VERSION", vfm_vu_cmd_name(cmd));
	if (rq->fds.overflow)
		return vu_fail(srv, -EINVAL, "%s: more than %u descriptors", vfm_vu_cmd_name(cmd),
			       srv->max_fds);
	return handlers[cmd](srv, rq);
}

static void reject_pending(struct vfm_vu_server *srv)
{
	int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd >= 0) {
		srv->stats.rejected++;
		vfm_log(&srv->log, VFM_LOG_WARN,
			"vfio-user: %s: refused a second client (one at a time)",
			vfm_device_name(srv->dev));
		close(fd);
	}
}

/*
 * Waits until the client's socket is readable, refusing other clients at once. t0 < 0:
 * between messages, no bound; otherwise the message's bounds, counted from t0 and from
 * the last byte (last). 0, -ECANCELED or -ETIMEDOUT.
 */
static int wait_readable(struct vfm_vu_server *srv, double t0, double last)
{
	volatile sig_atomic_t *stop = srv->c.sock.stop;
	struct pollfd p[2] = {{srv->c.sock.fd, POLLIN, 0}, {srv->listen_fd, POLLIN, 0}};

	for (;;) {
		int n = poll(p, srv->listen_fd >= 0 ? 2 : 1, VU_POLL_MS);
		double now;

		if (stop && *stop)
			return -ECANCELED;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && p[0].revents)
			return 0;
		if (n > 0 && (p[1].revents & POLLIN))
			reject_pending(srv);
		now = vfm_now();
		if (t0 >= 0 && (now - last >= VU_MSG_IDLE_S || now - t0 >= VU_MSG_MAX_S))
			return -ETIMEDOUT;
	}
}

int vu_recv_part(struct vfm_vu_server *srv, void *buf, size_t len, struct vu_fds *fds, double t0)
{
	double last = t0;
	size_t got = 0;

	while (got < len) {
		int avail = 0, rc;
		size_t n;

		/* Only what is there: the read never blocks, the bounds stay ours. Nothing
		 * there: wait (refusing others); still nothing is the end of the stream, which
		 * the read reports. */
		if (ioctl(srv->c.sock.fd, FIONREAD, &avail) < 0)
			return -errno;
		if (avail <= 0) {
			rc = wait_readable(srv, t0, last);
			if (rc)
				return rc;
			if (ioctl(srv->c.sock.fd, FIONREAD, &avail) < 0)
				return -errno;
		}
		n = avail > 0 ? VFM_MIN((size_t)avail, len - got) : len - got;
		rc = vu_recv(&srv->c.sock, (uint8_t *)buf + got, n, fds);
		if (rc)
			return rc == -ENODATA && got ? -EPIPE : rc;
		got += n;
		last = vfm_now();
	}
	return 0;
}

/* Receives the body of a message whose header (and descriptors) came already. */
static int recv_body(struct vfm_vu_server *srv, struct vu_req *rq)
{
	int rc = vfm_vu_hdr_check(&rq->hdr, (uint32_t)msg_limit(srv), srv->err, sizeof(srv->err));

	if (rc) {
		/* The stream cannot be trusted past a bad size: answer, then hang up. */
		send_error(srv, &rq->hdr, rc);
		return -EPROTO;
	}
	rq->len = rq->hdr.msg_size - sizeof(rq->hdr);
	rc = vu_buf_reserve(&srv->rx, &srv->rx_cap, rq->len ? rq->len : 1, msg_limit(srv));
	if (rc)
		return vu_fail(srv, rc, "no memory for a %zu-byte message", rq->len);
	rq->body = srv->rx;
	rc = vu_recv_part(srv, rq->body, rq->len, &rq->fds, rq->t0);
	if (rc == -ENODATA)
		rc = -EPIPE;
	if (rc == -ETIMEDOUT)
		return vu_fail(srv, rc,
			       "%s: the client sent the header of a %u-byte message and not the "
			       "rest in time; dropped",
			       vfm_vu_cmd_name(rq->hdr.cmd), rq->hdr.msg_size);
	if (rc)
		return vu_fail(srv, rc, "%s: body cut short (%s)", vfm_vu_cmd_name(rq->hdr.cmd),
			       strerror(-rc));
	return 0;
}

/* Receives one message into srv->rx. 0, -ENODATA when the client left, or an error that
 * ends the connection. */
static int recv_msg(struct vfm_vu_server *srv, struct vu_req *rq)
{
	int rc;

	vu_fds_init(&rq->fds, srv->max_fds);
	rq->t0 = vfm_now();
	rc = vu_recv_part(srv, &rq->hdr, sizeof(rq->hdr), &rq->fds, rq->t0);
	if (rc == -ETIMEDOUT)
		return vu_fail(srv, rc,
			       "the client sent part of a message header and no more "
			       "in time; dropped");
	return rc ? rc : recv_body(srv, rq);
}

/* Handles a received command and sends its reply: 0, or an error ending the connection. */
static int handle(struct vfm_vu_server *srv, struct vu_req *rq)
{
	int rc;

	srv->stats.messages++;
	vfm_log(&srv->log, VFM_LOG_TRACE, "vfio-user: <- %s id %u size %u",
		vfm_vu_cmd_name(rq->hdr.cmd), rq->hdr.msg_id, rq->hdr.msg_size);
	rc = dispatch(srv, rq);
	vu_fds_close(&rq->fds);
	if (srv->c.broken && rc <= 0) {
		if (rc < 0)
			send_error(srv, &rq->hdr, rc);
		return -EPIPE;
	}
	if (rc == VU_GONE)
		return srv->c.sock.stop && *srv->c.sock.stop ? -ECANCELED : -EPIPE;
	if (rc == VU_CLOSE)
		return -EPROTO;
	if (rc < 0)
		return send_error(srv, &rq->hdr, rc) ? -EPIPE : 0;
	return 0;
}

int vu_serve_nested(struct vfm_vu_server *srv, struct vu_req *rq)
{
	int rc = recv_body(srv, rq);

	if (rc) {
		vu_fds_close(&rq->fds);
		return rc;
	}
	return handle(srv, rq);
}

static int serve_one(struct vfm_vu_server *srv)
{
	struct vu_req rq;
	int rc = recv_msg(srv, &rq);

	if (rc) {
		vu_fds_close(&rq.fds);
		return rc;
	}
	rc = handle(srv, &rq);
	/* Work a command started but that may wait for the client runs after its reply. */
	return rc ? rc : vu_run_deferred(srv);
}

/* ---- connections ---- */

static void conn_begin(struct vfm_vu_server *srv, int fd, volatile sig_atomic_t *stop)
{
	struct vu_conn *c = &srv->c;

	memset(c, 0, sizeof(*c));
	c->active = true;
	c->sock.fd = fd;
	c->sock.stop = stop;
	/* A client that stops reading our replies is dropped like one silent mid-message. */
	c->sock.idle_ms = (int)(VU_MSG_IDLE_S * 1000);
	vu_irq_init(c);
	vfm_vu_caps_default(&c->peer);
	vu_sock_set_timeouts(fd, VU_POLL_MS);
	vu_sock_set_buffers(fd, 4 << 20);
	srv->stats.clients++;
	srv->err[0] = '\0';
	vfm_log(&srv->log, VFM_LOG_INFO, "vfio-user: %s: client connected",
		vfm_device_name(srv->dev));
}

static void conn_end(struct vfm_vu_server *srv)
{
	struct vu_conn *c = &srv->c;

	vu_recover_device(srv);
	vu_dma_unmap_all(srv);
	free(c->dma);
	c->dma = NULL;
	vu_irq_close_all(c);
	close(c->sock.fd);
	c->active = false;
	vfm_log(&srv->log, VFM_LOG_INFO, "vfio-user: %s: client gone, device %s",
		vfm_device_name(srv->dev), vfm_state_name(vfm_device_get_state(srv->dev)));
}

int vfm_vu_server_serve_fd(struct vfm_vu_server *srv, int fd, volatile sig_atomic_t *stop)
{
	int rc;

	if (srv->c.active) {
		close(fd);
		return vu_fail(srv, -EBUSY, "a client is already being served");
	}
	conn_begin(srv, fd, stop);
	for (;;) {
		rc = wait_readable(srv, -1, 0);
		if (rc < 0)
			break;
		rc = serve_one(srv);
		if (rc)
			break;
	}
	conn_end(srv);
	if (rc == -ENODATA)
		return 0;
	if (rc != -ECANCELED && !srv->err[0])
		vu_fail(srv, rc, "connection dropped: %s", strerror(-rc));
	return rc;
}

int vfm_vu_server_run(struct vfm_vu_server *srv, volatile sig_atomic_t *stop)
{
	struct pollfd p = {srv->listen_fd, POLLIN, 0};
	int rc = 0;

	if (srv->listen_fd < 0)
		return vu_fail(srv, -EINVAL, "not listening");
	while (!(stop && *stop)) {
		int n = poll(&p, 1, VU_POLL_MS), fd;

		if (n < 0 && errno != EINTR) {
			rc = vu_fail(srv, -errno, "poll: %s", strerror(errno));
			break;
		}
		if (n <= 0)
			continue;
		fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				continue;
			rc = vu_fail(srv, -errno, "accept: %s", strerror(errno));
			break;
		}
		rc = vfm_vu_server_serve_fd(srv, fd, stop);
		if (rc && rc != -ECANCELED)
			vfm_log(&srv->log, VFM_LOG_WARN, "vfio-user: %s: %s",
				vfm_device_name(srv->dev), srv->err);
		rc = 0;
	}
	close_listener(srv);
	return rc;
}
