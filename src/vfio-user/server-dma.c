// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user server, client memory: DMA_MAP (file-backed regions are mmap()ed; the others
 * are reached with DMA_READ/DMA_WRITE messages to the client), DMA_UNMAP, and the
 * accessors device code uses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"
#include "vfio-mig/dma.h"
#include "memory.h"
#include "util.h"

/* Non-empty ranges, compared by their last bytes: one may end exactly at 2^64. */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a <= b + (blen - 1) && b <= a + (alen - 1);
}

static uint64_t mapped_bytes(const struct vu_conn *c)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < c->nr_dma; i++)
		sum += c->dma[i].size;
	return sum;
}

static int find_overlap(const struct vu_conn *c, uint64_t addr, uint64_t size)
{
	for (size_t i = 0; i < c->nr_dma; i++) {
		if (ranges_overlap(addr, size, c->dma[i].addr, c->dma[i].size))
			return (int)i;
	}
	return -1;
}

/* The mapping holding all of [addr, addr + len), or NULL. */
static struct vu_dma *find_dma(struct vu_conn *c, uint64_t addr, uint64_t len)
{
	for (size_t i = 0; i < c->nr_dma; i++) {
		struct vu_dma *d = &c->dma[i];

		if (addr >= d->addr && len <= d->size && addr - d->addr <= d->size - len)
			return d;
	}
	return NULL;
}

bool vu_dma_covers(const struct vu_conn *c, const struct vfm_vu_dma_logging_control *ctl,
		   const uint8_t *ranges)
{
	for (uint32_t i = 0; i < ctl->num_ranges; i++) {
		struct vfm_device_feature_dma_logging_range r;

		memcpy(&r, ranges + i * sizeof(r), sizeof(r));
		if (!r.length || r.iova + r.length < r.iova ||
		    !find_dma((struct vu_conn *)c, r.iova, r.length))
			return false;
	}
	return c->nr_dma > 0;
}

static int map_file(struct vfm_vu_server *srv, const struct vfm_vu_dma_map *m, int fd, void **out)
{
	int prot = ((m->flags & VFM_VU_DMA_F_READ) ? PROT_READ : 0) |
		   ((m->flags & VFM_VU_DMA_F_WRITE) ? PROT_WRITE : 0);
	long pg = sysconf(_SC_PAGESIZE);
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return vu_fail(srv, -EINVAL, "DMA_MAP: the descriptor is not a regular file");
	if (m->offset % (uint64_t)pg || m->offset > (uint64_t)st.st_size ||
	    m->size > (uint64_t)st.st_size - m->offset || m->size > SIZE_MAX)
		return vu_fail(
			srv, -EINVAL,
			"DMA_MAP: [%llu, +%llu) not page-aligned or beyond the %lld-byte file",
			(unsigned long long)m->offset, (unsigned long long)m->size,
			(long long)st.st_size);
	p = mmap(NULL, (size_t)m->size, prot ? prot : PROT_NONE, MAP_SHARED, fd, (off_t)m->offset);
	if (p == MAP_FAILED)
		return vu_fail(srv, -errno, "DMA_MAP: mmap: %s", strerror(errno));
	*out = p;
	return 0;
}

static int dma_add(struct vfm_vu_server *srv, const struct vu_dma *d)
{
	struct vu_conn *c = &srv->c;

	if (c->nr_dma >= srv->max_dma_maps)
		return vu_fail(srv, -ENOSPC, "DMA_MAP: %zu mappings, the limit", c->nr_dma);
	if (c->nr_dma == c->cap_dma) {
		size_t n = c->cap_dma ? c->cap_dma * 2 : 8;
		struct vu_dma *p;

		n = VFM_MIN(n, (size_t)srv->max_dma_maps);
		p = realloc(c->dma, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->dma = p;
		c->cap_dma = n;
	}
	c->dma[c->nr_dma++] = *d;
	return 0;
}

int vu_handle_dma_map(struct vfm_vu_server *srv, struct vu_req *rq)
{
	struct vfm_vu_dma_map m;
	struct vu_dma d = {0};
	int fd, rc;

	memcpy(&m, rq->body, sizeof(m));
	if (m.argsz < sizeof(m) || m.flags & ~(VFM_VU_DMA_F_READ | VFM_VU_DMA_F_WRITE) || !m.size ||
	    m.size - 1 > UINT64_MAX - m.addr || rq->fds.n > 1)
		return vu_fail(srv, -EINVAL, "DMA_MAP: argsz %u flags 0x%x [0x%llx, +%llu) %zu fds",
			       m.argsz, m.flags, (unsigned long long)m.addr,
			       (unsigned long long)m.size, rq->fds.n);
	if (find_overlap(&srv->c, m.addr, m.size) >= 0)
		return vu_fail(srv, -EEXIST, "DMA_MAP: [0x%llx, +%llu) overlaps a mapping",
			       (unsigned long long)m.addr, (unsigned long long)m.size);
	/* Without a file the size is only the client's word: it is bounded all the same. */
	if (m.size > VFM_VU_OUR_MAX_DMA_BYTES - mapped_bytes(&srv->c))
		return vu_fail(srv, -ENOSPC,
			       "DMA_MAP: %llu more bytes would be over the %llu one client may map "
			       "(%llu mapped)",
			       (unsigned long long)m.size,
			       (unsigned long long)VFM_VU_OUR_MAX_DMA_BYTES,
			       (unsigned long long)mapped_bytes(&srv->c));
	d.addr = m.addr;
	d.size = m.size;
	d.flags = m.flags;
	fd = vu_fds_take(&rq->fds, 0);
	if (fd >= 0) {
		rc = map_file(srv, &m, fd, &d.map);
		close(fd);
		if (rc)
			return rc;
	}
	rc = dma_add(srv, &d);
	if (!rc && d.map && srv->dma) {
		rc = vfm_dma_map(srv->dma, d.addr, d.size, d.map, d.flags & VFM_VU_DMA_F_WRITE);
		if (rc)
			srv->c.nr_dma--;
	}
	if (rc) {
		if (d.map)
			munmap(d.map, (size_t)d.size);
		return rc;
	}
	return vu_reply(srv, rq, NULL, 0);
}

static void dma_drop(struct vfm_vu_server *srv, size_t i)
{
	struct vu_conn *c = &srv->c;

	/* The device stops using the memory before it goes away. */
	if (c->dma[i].map && srv->dma)
		vfm_dma_unmap(srv->dma, c->dma[i].addr, c->dma[i].size);
	if (c->dma[i].map)
		munmap(c->dma[i].map, (size_t)c->dma[i].size);
	c->dma[i] = c->dma[--c->nr_dma];
}

int vu_handle_dma_unmap(struct vfm_vu_server *srv, struct vu_req *rq)
{
	struct vfm_vu_dma_unmap u;
	struct vu_conn *c = &srv->c;

	memcpy(&u, rq->body, sizeof(u));
	if (u.argsz < sizeof(u) || (u.flags & ~VFM_VU_DMA_UNMAP_ALL) ||
	    (u.flags == VFM_VU_DMA_UNMAP_ALL && (u.addr || u.size)))
		return vu_fail(srv, -EINVAL, "DMA_UNMAP: flags 0x%x argsz %u [0x%llx, +%llu)",
			       u.flags, u.argsz, (unsigned long long)u.addr,
			       (unsigned long long)u.size);
	if (u.flags == VFM_VU_DMA_UNMAP_ALL) {
		while (c->nr_dma)
			dma_drop(srv, c->nr_dma - 1);
		return vu_reply(srv, rq, &u, sizeof(u));
	}
	for (size_t i = 0; i < c->nr_dma; i++) {
		if (c->dma[i].addr == u.addr && c->dma[i].size == u.size) {
			dma_drop(srv, i);
			return vu_reply(srv, rq, &u, sizeof(u));
		}
	}
	return vu_fail(srv, -ENOENT, "DMA_UNMAP: no mapping [0x%llx, +%llu)",
		       (unsigned long long)u.addr, (unsigned long long)u.size);
}

void vu_dma_unmap_all(struct vfm_vu_server *srv)
{
	struct vu_conn *c = &srv->c;

	while (c->nr_dma)
		dma_drop(srv, c->nr_dma - 1);
	c->cap_dma = 0;
}

/* ---- DMA over the socket ---- */

/* Reads the rest of a reply, within the bounds of a message, into buf (NULL: dropped). */
static int reply_part(struct vfm_vu_server *srv, void *buf, size_t len)
{
	uint8_t sink[4096];
	double t0 = vfm_now();

	if (buf)
		return vu_recv_part(srv, buf, len, NULL, t0);
	for (size_t n; len; len -= n) {
		int rc;

		n = VFM_MIN(len, sizeof(sink));
		rc = vu_recv_part(srv, sink, n, NULL, t0);
		if (rc)
			return rc;
	}
	return 0;
}

static int discard(struct vfm_vu_server *srv, size_t len)
{
	return reply_part(srv, NULL, len);
}

/*
 * Waits for the reply to our command id. Commands the client sends meanwhile are served
 * as usual: a client may need their answers before it can answer ours. 0 with *h filled,
 * or an errno; failures that leave the stream unusable are returned as -EPIPE.
 */
static int await_reply(struct vfm_vu_server *srv, uint16_t id, uint16_t cmd, struct vfm_vu_hdr *h)
{
	int rc;

	for (;;) {
		struct vu_req rq;

		vu_fds_init(&rq.fds, srv->max_fds);
		rq.t0 = vfm_now();
		rc = vu_recv_part(srv, &rq.hdr, sizeof(rq.hdr), &rq.fds, rq.t0);
		if (rc) {
			vu_fds_close(&rq.fds);
			return rc == -ENODATA ? -EPIPE : rc;
		}
		if ((rq.hdr.flags & VFM_VU_F_TYPE_MASK) == VFM_VU_F_TYPE_REPLY) {
			vu_fds_close(&rq.fds);
			*h = rq.hdr;
			break;
		}
		srv->c.in_dma = true;
		rc = vu_serve_nested(srv, &rq);
		srv->c.in_dma = false;
		if (rc)
			return -EPIPE;
	}
	if (vfm_vu_hdr_check(h, vfm_vu_max_msg(srv->max_xfer), srv->err, sizeof(srv->err)))
		return -EPIPE;
	rc = vfm_vu_reply_check(h, id, cmd, 0, vfm_vu_max_msg(srv->max_xfer), srv->err,
				sizeof(srv->err));
	if (rc == -EPROTO)
		return -EPIPE;
	if (rc && discard(srv, h->msg_size - sizeof(*h)))
		return -EPIPE;
	return rc;
}

static int send_dma_cmd(struct vfm_vu_server *srv, uint16_t cmd, uint64_t addr, const void *data,
			uint32_t count, uint16_t *id)
{
	struct {
		struct vfm_vu_hdr h;
		struct vfm_vu_dma_access a;
	} m;
	struct iovec iov[2] = {{&m, sizeof(m)}, {(void *)data, data ? count : 0}};

	*id = srv->c.next_id++;
	vfm_vu_hdr_command(&m.h, *id, cmd, (uint32_t)(sizeof(m) + iov[1].iov_len), false);
	m.a.addr = addr;
	m.a.count = count;
	return vu_send(&srv->c.sock, iov, data ? 2 : 1, NULL, 0) ? -EPIPE : 0;
}

static int sock_dma_read(struct vfm_vu_server *srv, uint64_t addr, uint8_t *buf, uint32_t n)
{
	struct vfm_vu_hdr h;
	struct vfm_vu_dma_access a;
	uint16_t id;
	int rc = send_dma_cmd(srv, VFM_VU_DMA_READ, addr, NULL, n, &id);

	if (!rc)
		rc = await_reply(srv, id, VFM_VU_DMA_READ, &h);
	if (rc)
		return rc;
	if (h.msg_size != sizeof(h) + sizeof(a) + n) {
		discard(srv, h.msg_size - sizeof(h));
		return vu_fail(srv, -EIO, "DMA_READ reply of %u bytes for %u", h.msg_size, n);
	}
	rc = reply_part(srv, &a, sizeof(a));
	if (!rc)
		rc = reply_part(srv, buf, n);
	if (rc)
		return -EPIPE;
	return a.addr == addr && a.count == n ? 0 : vu_fail(srv, -EIO, "DMA_READ reply mismatch");
}

static int sock_dma_write(struct vfm_vu_server *srv, uint64_t addr, const uint8_t *buf, uint32_t n)
{
	struct vfm_vu_hdr h;
	struct vfm_vu_dma_write_reply r;
	uint16_t id;
	int rc = send_dma_cmd(srv, VFM_VU_DMA_WRITE, addr, buf, n, &id);

	if (!rc)
		rc = await_reply(srv, id, VFM_VU_DMA_WRITE, &h);
	if (rc)
		return rc;
	if (h.msg_size < sizeof(h) + sizeof(r)) {
		discard(srv, h.msg_size - sizeof(h));
		return vu_fail(srv, -EIO, "DMA_WRITE reply of %u bytes", h.msg_size);
	}
	rc = reply_part(srv, &r, sizeof(r));
	if (!rc)
		rc = discard(srv, h.msg_size - sizeof(h) - sizeof(r));
	if (rc)
		return -EPIPE;
	return r.addr == addr && r.count == n ? 0 : vu_fail(srv, -EIO, "DMA_WRITE reply mismatch");
}

/* Memory the client shared: through the device's DMA object when there is one, so the
 * device's writes are logged like the rest of its DMA. */
static int mapped_access(struct vfm_vu_server *srv, const struct vu_dma *d, uint64_t addr,
			 void *buf, size_t len, bool write)
{
	uint8_t *p = (uint8_t *)d->map + (addr - d->addr);

	int rc;

	if (srv->dma)
		rc = write ? vfm_dma_write(srv->dma, addr, buf, len)
			   : vfm_dma_read(srv->dma, addr, buf, len);
	else
		rc = write ? vfm_copy_guarded(p, buf, len) : vfm_copy_guarded(buf, p, len);
	/* The client shrank the file under its mapping: its memory is gone, we live on. */
	return rc ? vu_fail(srv, -EFAULT, "DMA at 0x%llx: the client's memory is no longer there",
			    (unsigned long long)addr)
		  : 0;
}

/*
 * The most a DMA_READ asks for. QEMU 11.1 sends each message with one non-blocking write
 * and takes a short write for a whole one (hw/vfio-user/proxy.c, vfio_user_send_qio):
 * a reply larger than its socket's free send buffer (about 208 KiB by default) arrives
 * cut, and the connection hangs. Replies this small fit whenever we keep reading.
 */
#define VU_DMA_READ_CHUNK (64u << 10)

static int dma_access(struct vfm_vu_server *srv, uint64_t addr, void *buf, size_t len, bool write)
{
	uint32_t need = write ? VFM_VU_DMA_F_WRITE : VFM_VU_DMA_F_READ;
	uint32_t chunk = VFM_MIN(srv->c.peer.max_data_xfer_size, srv->max_xfer);

	if (!write)
		chunk = VFM_MIN(chunk, VU_DMA_READ_CHUNK);

	if (!srv->c.active || !srv->c.negotiated || srv->c.broken)
		return -ENOTCONN;
	if (srv->c.in_dma)
		return -EBUSY;
	for (size_t done = 0; done < len;) {
		/* Looked up again for every message: the client may unmap meanwhile. */
		struct vu_dma *d = find_dma(&srv->c, addr + done, len - done);
		uint32_t n = (uint32_t)VFM_MIN((size_t)chunk, len - done);
		int rc;

		if (!d)
			return -ENOENT;
		if (!(d->flags & need))
			return -EACCES;
		if (d->map)
			return mapped_access(srv, d, addr + done, (uint8_t *)buf + done, len - done,
					     write);
		rc = write ? sock_dma_write(srv, addr + done, (uint8_t *)buf + done, n)
			   : sock_dma_read(srv, addr + done, (uint8_t *)buf + done, n);
		if (rc == -EPIPE || rc == -ECANCELED || rc == -ETIMEDOUT)
			srv->c.broken = true;
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

int vfm_vu_server_dma_read(struct vfm_vu_server *srv, uint64_t addr, void *buf, size_t len)
{
	return dma_access(srv, addr, buf, len, false);
}

int vfm_vu_server_dma_write(struct vfm_vu_server *srv, uint64_t addr, const void *buf, size_t len)
{
	return dma_access(srv, addr, (void *)buf, len, true);
}
