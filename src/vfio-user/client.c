// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user client: the connection, one request at a time, version negotiation, and
 * vfm_vu_open() for "unix:PATH" handles.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client.h"
#include "memory.h"
#include "util.h"

int vu_client_break(struct vu_client *c, int rc)
{
	if (!c->broken)
		c->broken_rc = rc;
	c->broken = true;
	return rc;
}

int vu_client_lost(struct vu_client *c, int rc, const char *fmt, ...)
{
	char what[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (rc == -ETIMEDOUT)
		return vu_client_break(
			c, vfm_handle_fail(&c->h, rc,
					   "%s: the server was silent for %u s (stopped "
					   "or hung?); the connection is dropped",
					   what, (unsigned)(c->sock.idle_ms / 1000)));
	if (rc == -ECANCELED)
		return vu_client_break(c, vfm_handle_fail(&c->h, rc, "%s: cancelled", what));
	return vu_client_break(c, vfm_handle_fail(&c->h, -EPIPE, "%s: %s", what,
						  rc == -ENODATA ? "server closed the connection"
								 : strerror(-rc)));
}

/* A request from the server (DMA_READ / DMA_WRITE): we export no memory, so refuse it. */
static int refuse_server_request(struct vu_client *c, const struct vfm_vu_hdr *h)
{
	struct vfm_vu_hdr e;
	struct iovec iov = {&e, sizeof(e)};
	int rc = vu_discard(&c->sock, h->msg_size - sizeof(*h));

	if (rc)
		return rc;
	vfm_log(&c->h.log, VFM_LOG_DEBUG, "%s: refused server request %s (no DMA memory)",
		c->h.name, vfm_vu_cmd_name(h->cmd));
	if (h->flags & VFM_VU_F_NO_REPLY)
		return 0;
	vfm_vu_hdr_error(&e, h, -ENOENT);
	return vu_send(&c->sock, &iov, 1, NULL, 0);
}

static int send_request(struct vu_client *c, uint16_t cmd, struct iovec *req, int n, uint16_t *id)
{
	struct iovec iov[8];
	struct vfm_vu_hdr h;
	size_t size = sizeof(h);

	if (n > 7)
		return -EINVAL;
	iov[0] = (struct iovec){&h, sizeof(h)};
	for (int i = 0; i < n; i++) {
		iov[i + 1] = req[i];
		size += req[i].iov_len;
	}
	if (size > UINT32_MAX)
		return -E2BIG;
	*id = c->next_id++;
	vfm_vu_hdr_command(&h, *id, cmd, (uint32_t)size, false);
	if (c->send_fd >= 0) {
		int fd = c->send_fd;

		c->send_fd = -1;
		return vu_send(&c->sock, iov, n + 1, &fd, 1);
	}
	return vu_send(&c->sock, iov, n + 1, NULL, 0);
}

int vu_call_begin(struct vu_client *c, uint16_t cmd, struct iovec *req, int n, uint32_t min_body,
		  uint32_t max_body, struct vfm_vu_hdr *h)
{
	char why[256];
	uint16_t id;
	int rc;

	if (c->broken && (c->broken_rc == -ECANCELED || c->broken_rc == -ETIMEDOUT))
		return vfm_handle_fail(
			&c->h, c->broken_rc, "the connection to the server was dropped: %s",
			c->broken_rc == -ECANCELED ? "cancelled" : "the server was silent");
	if (c->broken)
		return vfm_handle_fail(&c->h, -ENOTCONN, "the connection to the server is broken");
	rc = send_request(c, cmd, req, n, &id);
	if (rc)
		return vu_client_lost(c, rc, "sending %s", vfm_vu_cmd_name(cmd));
	for (;;) {
		rc = vu_recv(&c->sock, h, sizeof(*h), NULL);
		if (rc)
			return vu_client_lost(c, rc, "no reply to %s", vfm_vu_cmd_name(cmd));
		if (vfm_vu_hdr_check(h, vfm_vu_max_msg(VFM_MAX(max_body, c->our_xfer)), why,
				     sizeof(why)))
			return vu_client_break(c, vfm_handle_fail(&c->h, -EPROTO, "%s", why));
		if ((h->flags & VFM_VU_F_TYPE_MASK) == VFM_VU_F_TYPE_REPLY)
			break;
		rc = refuse_server_request(c, h);
		if (rc)
			return vu_client_lost(c, rc, "a request of the server");
	}
	rc = vfm_vu_reply_check(h, id, cmd, min_body, sizeof(*h) + max_body, why, sizeof(why));
	if (rc == -EPROTO)
		return vu_client_break(c, vfm_handle_fail(&c->h, rc, "%s", why));
	if (rc) {
		int drc = vu_discard(&c->sock, h->msg_size - sizeof(*h));

		if (drc)
			return vu_client_lost(c, drc, "the error reply to %s",
					      vfm_vu_cmd_name(cmd));
	}
	if (rc)
		return vfm_handle_fail(&c->h, rc, "%s", why);
	return 0;
}

int vu_call(struct vu_client *c, uint16_t cmd, struct iovec *req, int n, void *rep, size_t rep_min,
	    size_t rep_max, size_t *rep_len)
{
	struct vfm_vu_hdr h;
	size_t len;
	int rc = vu_call_begin(c, cmd, req, n, (uint32_t)rep_min, (uint32_t)rep_max, &h);

	if (rc)
		return rc;
	len = h.msg_size - sizeof(h);
	rc = vu_recv(&c->sock, rep, len, NULL);
	if (rc)
		return vu_client_lost(c, rc, "the reply to %s", vfm_vu_cmd_name(cmd));
	if (rep_len)
		*rep_len = len;
	return 0;
}

int vu_feature(struct vu_client *c, uint32_t flags, uint32_t argsz, const void *payload, size_t len,
	       void *out, size_t out_min, size_t out_max, size_t *reply_len)
{
	struct vfm_vu_feature f = {.argsz = argsz, .flags = flags};
	struct iovec iov[2] = {{&f, sizeof(f)}, {(void *)payload, len}};
	struct vfm_vu_hdr h;
	size_t body;
	int rc =
		vu_call_begin(c, VFM_VU_DEVICE_FEATURE, iov, len ? 2 : 1,
			      (uint32_t)(sizeof(f) + out_min), (uint32_t)(sizeof(f) + out_max), &h);

	if (rc)
		return rc;
	body = h.msg_size - sizeof(h) - sizeof(f);
	rc = vu_recv(&c->sock, &f, sizeof(f), NULL);
	if (!rc)
		rc = vu_recv(&c->sock, out, body, NULL);
	if (rc)
		return vu_client_lost(c, rc, "the reply to DEVICE_FEATURE");
	if (reply_len)
		*reply_len = body;
	return 0;
}

/* ---- negotiation ---- */

/*
 * Bytes per request from the server's max_data_xfer_size. A server that echoed the
 * vfio-mig extension reads whole messages; any other gets write_chunk-sized writes,
 * which a server reading a body with one recv() takes without losing its place.
 */
static int set_limits(struct vu_client *c)
{
	const struct vfm_vu_caps *sc = &c->info.server_caps;
	uint32_t xfer = VFM_MIN(sc->max_data_xfer_size, VFM_VU_HARD_MAX_XFER);

	if (xfer < VFM_VU_MIN_SERVER_XFER)
		return vfm_handle_fail(&c->h, -EPROTO,
				       "the server takes %u bytes per message, less than the %u "
				       "this client needs",
				       xfer, VFM_VU_MIN_SERVER_XFER);
	c->info.max_read = VFM_MIN(xfer, c->our_xfer);
	c->info.max_write = xfer;
	if (!sc->ext_mig_data_size && !sc->ext_precopy_info)
		c->info.max_write = VFM_MIN(xfer, c->write_chunk);
	return 0;
}

static int negotiate(struct vu_client *c, bool ext)
{
	struct vfm_vu_caps ours;
	struct vu_version_buf req, rep;
	struct iovec iov;
	size_t len = 0;
	char why[256];
	int n, rc;

	vfm_vu_caps_default(&ours);
	ours.max_msg_fds = VFM_VU_OUR_MAX_FDS;
	ours.max_data_xfer_size = c->our_xfer;
	ours.has_migration = true;
	ours.mig_pgsize = 4096;
	ours.ext_mig_data_size = ext;
	ours.ext_precopy_info = ext;
	ours.ext_precopy_flags = ext;
	n = vfm_vu_caps_format(&ours, req.json, sizeof(req.json));
	if (n < 0)
		return vfm_handle_fail(&c->h, n, "cannot format capabilities");
	req.major = VFM_VU_MAJOR;
	req.minor = VFM_VU_MINOR;
	iov = (struct iovec){&req, VU_VERSION_FIXED + (size_t)n};
	rc = vu_call(c, VFM_VU_VERSION, &iov, 1, &rep, VU_VERSION_FIXED, sizeof(rep) - 1, &len);
	if (rc)
		return rc;
	if (rep.major != VFM_VU_MAJOR || rep.minor > VFM_VU_MINOR)
		return vfm_handle_fail(&c->h, -EPROTO, "server answered version %u.%u to %u.%u",
				       rep.major, rep.minor, VFM_VU_MAJOR, VFM_VU_MINOR);
	rc = vfm_vu_caps_parse(rep.json, len - VU_VERSION_FIXED, &c->info.server_caps, why,
			       sizeof(why));
	if (rc)
		return vfm_handle_fail(&c->h, -EPROTO, "server capabilities: %s", why);
	c->info.major = rep.major;
	c->info.minor = rep.minor;
	return set_limits(c);
}

int vfm_vu_region_read(struct vfm_handle *h, uint32_t region, uint64_t offset, void *buf,
		       uint32_t count)
{
	struct vu_client *c = vu_client_of(h);
	struct vfm_vu_region_access ra = {offset, region, count};
	struct iovec iov = {&ra, sizeof(ra)};
	struct vfm_vu_hdr rh;
	int rc;

	if (h->ops != &vu_handle_ops || count == 0 || count > c->info.max_read)
		return -EINVAL;
	rc = vu_call_begin(c, VFM_VU_REGION_READ, &iov, 1, sizeof(ra) + count, sizeof(ra) + count,
			   &rh);
	if (rc)
		return rc;
	if (rh.msg_size != sizeof(rh) + sizeof(ra) + count)
		return vu_client_break(
			c, vfm_handle_fail(h, -EPROTO, "REGION_READ reply size %u", rh.msg_size));
	rc = vu_recv(&c->sock, &ra, sizeof(ra), NULL);
	if (!rc)
		rc = vu_recv(&c->sock, buf, count, NULL);
	if (rc)
		return vu_client_break(c,
				       vfm_handle_fail(h, -EPIPE, "REGION_READ reply cut short"));
	if (ra.count != count)
		return vfm_handle_fail(h, -EIO, "REGION_READ returned %u of %u bytes", ra.count,
				       count);
	return 0;
}

int vfm_vu_region_write(struct vfm_handle *h, uint32_t region, uint64_t offset, const void *buf,
			uint32_t count)
{
	struct vu_client *c = vu_client_of(h);
	struct vfm_vu_region_access ra = {offset, region, count};
	struct iovec iov[2] = {{&ra, sizeof(ra)}, {(void *)buf, count}};

	if (h->ops != &vu_handle_ops || count == 0 || count > c->info.max_write)
		return -EINVAL;
	return vu_call(c, VFM_VU_REGION_WRITE, iov, 2, &ra, sizeof(ra), sizeof(ra), NULL);
}

/* Reads the PCI identity; BAR0's magic confirms the sample device. */
static void identify(struct vu_client *c)
{
	uint16_t id[2] = {0, 0};
	uint32_t magic = 0;

	if (vfm_vu_region_read(&c->h, VFM_VU_PCI_CONFIG, 0, id, sizeof(id)))
		return;
	c->info.vendor = id[0];
	c->info.device = id[1];
	if (id[0] != VFM_VU_PCI_VENDOR || id[1] != VFM_VU_PCI_DEVICE_TESTDEV)
		return;
	if (vfm_vu_region_read(&c->h, VFM_VU_PCI_BAR0, VFM_VU_REG_MAGIC, &magic, sizeof(magic)))
		return;
	c->info.testdev = magic == VFM_VU_MAGIC;
}

/* The device is in STOP or STOP_COPY (asked through MIG_DEVICE_STATE). */
static bool stopped(struct vu_client *c)
{
	uint32_t state;

	return vu_handle_ops.get_state(&c->h, &state) == 0 &&
	       (state == VFM_STATE_STOP || state == VFM_STATE_STOP_COPY);
}

static int check_device(struct vu_client *c)
{
	struct vfm_vu_device_info di = {.argsz = sizeof(di)};
	struct iovec iov = {&di, sizeof(di)};
	/* The reply may carry more than the fixed part (a later spec's capabilities): room
	 * for it, only the fixed part is used. */
	union {
		struct vfm_vu_device_info di;
		uint8_t raw[4096];
	} rep;
	int rc = vu_call(c, VFM_VU_DEVICE_GET_INFO, &iov, 1, &rep, sizeof(di), sizeof(rep), NULL);

	if (rc == -EINVAL && stopped(c)) {
		/* libvfio-user refuses DEVICE_GET_INFO while the device is in STOP or
		 * STOP_COPY; the migration features still answer. */
		vfm_log(&c->h.log, VFM_LOG_DEBUG,
			"%s: DEVICE_GET_INFO refused in a stopped state; taken as a PCI device",
			c->h.name);
		c->h.err[0] = '\0';
		return 0;
	}
	if (rc)
		return rc;
	di = rep.di;
	if (!(di.flags & VFM_VU_DEV_F_PCI) || di.num_regions <= VFM_VU_PCI_CONFIG)
		return vfm_handle_fail(&c->h, -ENODEV, "not a PCI device (flags 0x%x, %u regions)",
				       di.flags, di.num_regions);
	return 0;
}

/* What a spec string sets beyond struct vfm_vu_client_opts. */
struct vu_spec_opts {
	uint32_t write_chunk; /* 0: VFM_VU_PLAIN_WRITE_CHUNK */
	uint32_t timeout_ms;  /* 0: VFM_VU_DEFAULT_TIMEOUT_MS */
	volatile sig_atomic_t *cancel;
};

static int open_fd(int fd, const char *name, const struct vfm_vu_client_opts *opts,
		   const struct vu_spec_opts *so, struct vfm_handle **out, char *err, size_t errlen)
{
	struct vu_client *c = calloc(1, sizeof(*c));
	uint32_t xfer =
		opts && opts->max_data_xfer_size ? opts->max_data_xfer_size : VFM_VU_OUR_MAX_XFER;
	bool ext = !(opts && opts->no_extensions);
	int rc;

	*out = NULL;
	if (!c) {
		close(fd);
		return vfm_errf(err, errlen, -ENOMEM, "%s: out of memory", name);
	}
	vfm_handle_init(&c->h, &vu_handle_ops, name, opts ? &opts->log : NULL);
	c->sock.fd = fd;
	c->sock.stop = so->cancel;
	c->sock.stop_when_idle = true;
	c->sock.idle_ms = (int)(so->timeout_ms ? so->timeout_ms : VFM_VU_DEFAULT_TIMEOUT_MS);
	c->send_fd = -1;
	c->our_xfer = VFM_MIN(VFM_MAX(xfer, 4096u), VFM_VU_HARD_MAX_XFER);
	c->write_chunk = so->write_chunk ? so->write_chunk : VFM_VU_PLAIN_WRITE_CHUNK;
	vu_sock_set_timeouts(fd, VU_POLL_MS);
	vu_sock_set_buffers(fd, 4 << 20);
	rc = negotiate(c, ext);
	if (!rc)
		rc = check_device(c);
	if (rc) {
		vfm_errf(err, errlen, rc, "%s", c->h.err);
		close(fd);
		free(c);
		return rc;
	}
	identify(c);
	if (ext)
		vu_client_probe_ext(c);
	vfm_log(&c->h.log, VFM_LOG_DEBUG,
		"%s: vfio-user %u.%u, xfer read %u write %u, data size %s, pre-copy info %s%s",
		name, c->info.major, c->info.minor, c->info.max_read, c->info.max_write,
		c->info.mig_data_size ? "yes" : "no",
		!c->info.precopy_info	? "no"
		: c->info.precopy_flags ? "yes, with flags"
					: "yes",
		c->info.testdev ? ", sample device" : "");
	c->h.err[0] = '\0';
	*out = &c->h;
	return 0;
}

int vfm_vu_open_fd(int fd, const char *name, const struct vfm_vu_client_opts *opts,
		   struct vfm_handle **out, char *err, size_t errlen)
{
	const struct vu_spec_opts none = {0};

	return open_fd(fd, name, opts, &none, out, err, errlen);
}

/*
 * "dma=SIZE": a memfd of SIZE bytes mapped here and exported at IOVA 0 for the device's
 * DMA; the engine migrates it with the device.
 */
static int map_dma(struct vfm_handle *h, uint64_t size, char *err, size_t errlen)
{
	struct vu_client *c = vu_client_of(h);
	char why[256];
	void *p;
	int fd, rc;

	if (vfm_mem_fit(size, why, sizeof(why)))
		return vfm_errf(err, errlen, -ENOMEM, "%s: %llu bytes for DMA do not fit: %s",
				h->name, (unsigned long long)size, why);
	/* Sealed at its size: the server gets the fd, and a server that could shrink the
	 * file would turn this process's accesses to the mapping into SIGBUS. */
	fd = memfd_create("vfio-mig-dma", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)size) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return vfm_errf(err, errlen, rc, "%s: DMA memory: %s", h->name, strerror(-rc));
	}
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		close(fd);
		return vfm_errf(err, errlen, rc, "%s: DMA memory: %s", h->name, strerror(-rc));
	}
	c->dma_mem = p;
	c->dma_size = size;
	rc = vfm_vu_dma_map(h, 0, size, VFM_VU_DMA_F_READ | VFM_VU_DMA_F_WRITE, fd, 0);
	close(fd);
	return rc ? vfm_errf(err, errlen, rc, "%s", h->err) : 0;
}

/* One "KEY=VALUE" of a unix: spec (len bytes at opt). */
static int parse_option(const char *opt, size_t len, struct vu_spec_opts *co, uint64_t *dma)
{
	char buf[64];
	uint64_t v;

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, opt, len);
	buf[len] = '\0';
	if (strncmp(buf, "dma=", 4) == 0)
		return vfm_parse_size(buf + 4, dma) || !*dma ? -EINVAL : 0;
	if (strncmp(buf, "chunk=", 6) == 0) {
		if (vfm_parse_size(buf + 6, &v) || v < 1024 || v > VFM_VU_HARD_MAX_XFER)
			return -EINVAL;
		co->write_chunk = (uint32_t)v;
		return 0;
	}
	if (strncmp(buf, "timeout=", 8) == 0) {
		char *end;
		double secs;

		errno = 0;
		secs = strtod(buf + 8, &end);
		if (errno || end == buf + 8 || *end || !(secs >= 0.001 && secs <= 86400))
			return -EINVAL;
		co->timeout_ms = (uint32_t)(secs * 1000);
		return 0;
	}
	return -EINVAL;
}

/* "PATH[,OPT]...": the socket path into sock, the options into co and dma. */
static int parse_spec(const char *path, char *sock, size_t socklen, struct vu_spec_opts *co,
		      uint64_t *dma, char *err, size_t errlen)
{
	const char *comma = strchr(path, ',');
	size_t plen = comma ? (size_t)(comma - path) : strlen(path);

	if (plen >= socklen)
		return vfm_errf(err, errlen, -ENAMETOOLONG, "unix:%s: path too long", path);
	memcpy(sock, path, plen);
	sock[plen] = '\0';
	while (comma) {
		const char *opt = comma + 1;

		comma = strchr(opt, ',');
		if (parse_option(opt, comma ? (size_t)(comma - opt) : strlen(opt), co, dma))
			return vfm_errf(err, errlen, -EINVAL,
					"unix:%s: bad option '%.*s' (dma=SIZE, timeout=SECONDS, "
					"chunk=SIZE of 1K to 64M)",
					path, (int)(comma ? comma - opt : (ptrdiff_t)strlen(opt)),
					opt);
	}
	return 0;
}

int vfm_vu_open(const char *path, const struct vfm_open_opts *opts, struct vfm_handle **out,
		char *err, size_t errlen)
{
	return vfm_vu_open_cancellable(path, opts, NULL, out, err, errlen);
}

int vfm_vu_open_cancellable(const char *path, const struct vfm_open_opts *opts,
			    volatile sig_atomic_t *cancel, struct vfm_handle **out, char *err,
			    size_t errlen)
{
	struct vfm_vu_client_opts co = {0};
	struct vu_spec_opts so = {.cancel = cancel};
	char name[128], sock[108];
	uint64_t dma = 0;
	int fd, rc;

	*out = NULL;
	if (!path)
		return vfm_errf(err, errlen, -EINVAL, "no socket path");
	if (strncmp(path, "unix:", 5) == 0)
		path += 5;
	if (opts)
		co.log = opts->log;
	rc = parse_spec(path, sock, sizeof(sock), &so, &dma, err, errlen);
	if (rc)
		return rc;
	snprintf(name, sizeof(name), "unix:%s", path);
	rc = vu_connect(sock, &fd, err, errlen);
	if (rc)
		return rc;
	rc = open_fd(fd, name, &co, &so, out, err, errlen);
	if (!rc && dma) {
		rc = map_dma(*out, dma, err, errlen);
		if (rc) {
			vfm_handle_close(*out);
			*out = NULL;
		}
	}
	return rc;
}

int vfm_vu_client_info(struct vfm_handle *h, struct vfm_vu_client_info *info)
{
	if (!h || h->ops != &vu_handle_ops)
		return -EINVAL;
	*info = vu_client_of(h)->info;
	return 0;
}

int vfm_vu_dma_map(struct vfm_handle *h, uint64_t iova, uint64_t size, uint32_t flags, int fd,
		   uint64_t offset)
{
	struct vu_client *c = vu_client_of(h);
	struct vfm_vu_dma_map m = {sizeof(m), flags, offset, iova, size};
	struct iovec iov = {&m, sizeof(m)};
	uint8_t sink[16];
	int rc;

	if (!h || h->ops != &vu_handle_ops || fd < 0)
		return -EINVAL;
	c->send_fd = fd;
	rc = vu_call(c, VFM_VU_DMA_MAP, &iov, 1, sink, 0, sizeof(sink), NULL);
	c->send_fd = -1;
	return rc;
}

int vfm_vu_dma_unmap(struct vfm_handle *h, uint64_t iova, uint64_t size)
{
	struct vu_client *c = vu_client_of(h);
	struct vfm_vu_dma_unmap u = {sizeof(u), 0, iova, size};
	struct iovec iov = {&u, sizeof(u)};

	if (!h || h->ops != &vu_handle_ops)
		return -EINVAL;
	return vu_call(c, VFM_VU_DMA_UNMAP, &iov, 1, &u, 0, sizeof(u), NULL);
}
