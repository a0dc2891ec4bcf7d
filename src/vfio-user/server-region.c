// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user server, device model: DEVICE_GET_INFO, regions (PCI config space with an
 * MSI-X capability, BAR0 with the sample device's registers), REGION_READ/WRITE and
 * REGION_WRITE_MULTI, GET_REGION_IO_FDS.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "util.h"

#define PCI_COMMAND  0x04
#define PCI_STATUS   0x06
#define PCI_BAR0     0x10
#define PCI_SUBSYS   0x2c
#define PCI_CAP_PTR  0x34
#define PCI_INT_LINE 0x3c
#define PCI_INT_PIN  0x3d
#define MSIX_CAP     0x40
#define PCI_CAP_MSIX 0x11

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void set_wmask(uint8_t *m, unsigned off, unsigned len, uint32_t bits)
{
	for (unsigned i = 0; i < len; i++)
		m[off + i] = (uint8_t)(bits >> (8 * i));
}

void vu_model_init(struct vfm_vu_server *srv)
{
	uint8_t *c = srv->config;
	uint16_t devid = srv->td ? VFM_VU_PCI_DEVICE_TESTDEV : VFM_VU_PCI_DEVICE;

	put16(c + 0x00, VFM_VU_PCI_VENDOR);
	put16(c + 0x02, devid);
	put16(c + PCI_STATUS, 0x0010); /* capability list */
	c[0x08] = 1;		       /* revision */
	c[0x0b] = 0xff;		       /* class: does not fit any class */
	put16(c + PCI_SUBSYS, VFM_VU_PCI_VENDOR);
	put16(c + PCI_SUBSYS + 2, devid);
	c[PCI_CAP_PTR] = MSIX_CAP;
	c[PCI_INT_PIN] = 1;
	c[MSIX_CAP] = PCI_CAP_MSIX;
	put16(c + MSIX_CAP + 2, VFM_VU_MSIX_COUNT - 1);
	put32(c + MSIX_CAP + 4, VU_MSIX_TABLE); /* BIR 0 */
	put32(c + MSIX_CAP + 8, VU_MSIX_PBA);
	set_wmask(srv->config_wmask, PCI_COMMAND, 2, 0x0547);
	set_wmask(srv->config_wmask, PCI_BAR0, 4, ~(VFM_VU_BAR0_SIZE - 1));
	set_wmask(srv->config_wmask, PCI_INT_LINE, 1, 0xff);
	set_wmask(srv->config_wmask, MSIX_CAP + 2, 2, 0xc000);
	if (srv->td)
		put64(srv->regs + VFM_VU_REG_DIRTY_RATE, vfm_testdev_config(srv->td)->dirty_rate);
}

int vu_handle_device_info(struct vfm_vu_server *srv, struct vu_req *rq)
{
	struct vfm_vu_device_info in, out = {
					      .argsz = sizeof(out),
					      .flags = VFM_VU_DEV_F_RESET | VFM_VU_DEV_F_PCI,
					      .num_regions = VFM_VU_PCI_NUM_REGIONS,
					      .num_irqs = VFM_VU_PCI_NUM_IRQS,
				      };

	memcpy(&in, rq->body, sizeof(in));
	if (in.argsz < sizeof(out))
		return vu_fail(srv, -EINVAL, "DEVICE_GET_INFO: argsz %u", in.argsz);
	return vu_reply(srv, rq, &out, sizeof(out));
}

static uint64_t region_size(uint32_t index)
{
	if (index == VFM_VU_PCI_BAR0)
		return VFM_VU_BAR0_SIZE;
	if (index == VFM_VU_PCI_CONFIG)
		return VFM_VU_CONFIG_SIZE;
	return 0;
}

int vu_handle_region_info(struct vfm_vu_server *srv, struct vu_req *rq)
{
	struct vfm_vu_region_info in, out;

	memcpy(&in, rq->body, sizeof(in));
	if (in.argsz < sizeof(out))
		return vu_fail(srv, -EINVAL, "GET_REGION_INFO: argsz %u", in.argsz);
	if (in.index >= VFM_VU_PCI_NUM_REGIONS)
		return vu_fail(srv, -EINVAL, "GET_REGION_INFO: no region %u", in.index);
	memset(&out, 0, sizeof(out));
	out.argsz = sizeof(out);
	out.index = in.index;
	out.size = region_size(in.index);
	if (out.size)
		out.flags = VFM_VU_REGION_F_READ | VFM_VU_REGION_F_WRITE;
	return vu_reply(srv, rq, &out, sizeof(out));
}

int vu_handle_io_fds(struct vfm_vu_server *srv, struct vu_req *rq)
{
	struct vfm_vu_region_io_fds in, out;

	memcpy(&in, rq->body, sizeof(in));
	if (in.argsz < sizeof(out) || in.flags || in.index >= VFM_VU_PCI_NUM_REGIONS)
		return vu_fail(srv, -EINVAL, "GET_REGION_IO_FDS: bad request");
	/* No region of ours has ioeventfd or ioregionfd sub-regions. */
	out = (struct vfm_vu_region_io_fds){.argsz = sizeof(out), .index = in.index};
	return vu_reply(srv, rq, &out, sizeof(out));
}

/* ---- config space ---- */

static void config_write(struct vfm_vu_server *srv, uint64_t off, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t m = srv->config_wmask[off + i];

		srv->config[off + i] = (uint8_t)((srv->config[off + i] & ~m) | (p[i] & m));
	}
}

/* ---- BAR0 ---- */

static bool overlaps(uint64_t off, size_t n, unsigned reg, unsigned len)
{
	return off < reg + len && reg < off + n;
}

/* The register file as it reads now; expensive values only when asked for. */
static void regs_snapshot(struct vfm_vu_server *srv, uint64_t off, size_t n, uint8_t *r)
{
	memcpy(r, srv->regs, VFM_VU_REG_END);
	put32(r + VFM_VU_REG_MAGIC, VFM_VU_MAGIC);
	put32(r + VFM_VU_REG_VERSION, 1);
	put32(r + VFM_VU_REG_MIG_STATE, vfm_device_get_state(srv->dev));
	put32(r + VFM_VU_REG_DMA_CTRL, 0);
	put32(r + VFM_VU_REG_IRQ, 0);
	if (!srv->td)
		return;
	if (overlaps(off, n, VFM_VU_REG_CHECKSUM, 8))
		put64(r + VFM_VU_REG_CHECKSUM, vfm_testdev_checksum(srv->td));
	put64(r + VFM_VU_REG_STATE_SIZE, vfm_testdev_config(srv->td)->size);
	put64(r + VFM_VU_REG_WRITTEN, vfm_testdev_written(srv->td));
}

static void bar_read(struct vfm_vu_server *srv, uint64_t off, uint8_t *out, size_t n)
{
	uint8_t r[VFM_VU_REG_END];

	memset(out, 0, n);
	if (off < VFM_VU_REG_END) {
		regs_snapshot(srv, off, n, r);
		memcpy(out, r + off, VFM_MIN(n, VFM_VU_REG_END - off));
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t a = off + i;

		if (a >= VU_MSIX_TABLE && a < VU_MSIX_TABLE + sizeof(srv->msix_table))
			out[i] = srv->msix_table[a - VU_MSIX_TABLE];
	}
}

static bool writable_reg(uint64_t a)
{
	return (a >= VFM_VU_REG_DIRTY_RATE && a < VFM_VU_REG_DIRTY_RATE + 8) ||
	       (a >= VFM_VU_REG_DMA_ADDR && a < VFM_VU_REG_DMA_CTRL + 4) ||
	       (a >= VFM_VU_REG_IRQ && a < VFM_VU_REG_IRQ + 4);
}

static int dma_engine_run(struct vfm_vu_server *srv, const struct vu_dma_cmd *c)
{
	int rc;

	if (!srv->dma_buf) {
		srv->dma_buf = malloc(VFM_VU_DMA_ENGINE_MAX);
		if (!srv->dma_buf)
			return -ENOMEM;
	}
	if (c->cmd == VFM_VU_DMA_CTRL_READ) {
		rc = vfm_vu_server_dma_read(srv, c->addr, srv->dma_buf, c->len);
		if (!rc)
			put64(srv->regs + VFM_VU_REG_DMA_RESULT,
			      vfm_testdev_hash(srv->dma_buf, c->len));
		return rc;
	}
	for (uint64_t i = 0; i < c->len; i++)
		srv->dma_buf[i] = (uint8_t)(i * 7 + 1);
	return vfm_vu_server_dma_write(srv, c->addr, srv->dma_buf, c->len);
}

/*
 * A write to DMA_CTRL queues the command; it runs once the write is answered, because
 * DMA over the socket needs the client's attention and a client waiting for that answer
 * may not give it (QEMU holds its big lock meanwhile). DMA_STATUS reads EINPROGRESS
 * until the command is done.
 */
static int dma_engine_queue(struct vfm_vu_server *srv, uint32_t cmd)
{
	struct vu_dma_cmd *c = &srv->c.dma_cmd;
	uint64_t len = get64(srv->regs + VFM_VU_REG_DMA_LEN);

	if (c->queued)
		return -EBUSY;
	if ((cmd != VFM_VU_DMA_CTRL_READ && cmd != VFM_VU_DMA_CTRL_WRITE) || len == 0 ||
	    len > VFM_VU_DMA_ENGINE_MAX)
		return -EINVAL;
	c->queued = true;
	c->cmd = cmd;
	c->addr = get64(srv->regs + VFM_VU_REG_DMA_ADDR);
	c->len = len;
	return -EINPROGRESS;
}

int vu_run_deferred(struct vfm_vu_server *srv)
{
	struct vu_dma_cmd c = srv->c.dma_cmd;
	int rc;

	if (!c.queued)
		return 0;
	rc = dma_engine_run(srv, &c);
	srv->c.dma_cmd.queued = false;
	if (srv->c.broken)
		return srv->c.sock.stop && *srv->c.sock.stop ? -ECANCELED : -EPIPE;
	put32(srv->regs + VFM_VU_REG_DMA_STATUS, (uint32_t)-rc);
	return 0;
}

/* Side effects of a register write, after the shadow took the bytes. */
static int regs_apply(struct vfm_vu_server *srv, uint64_t off, size_t n)
{
	int rc;

	if (overlaps(off, n, VFM_VU_REG_DIRTY_RATE, 8)) {
		if (!srv->td)
			return -EINVAL;
		vfm_testdev_set_dirty_rate(srv->td, get64(srv->regs + VFM_VU_REG_DIRTY_RATE));
	}
	if (overlaps(off, n, VFM_VU_REG_DMA_CTRL, 4)) {
		rc = dma_engine_queue(srv, get32(srv->regs + VFM_VU_REG_DMA_CTRL));
		if (rc == -EBUSY)
			return vu_fail(srv, rc, "DMA_CTRL: a DMA command is already queued");
		put32(srv->regs + VFM_VU_REG_DMA_STATUS, (uint32_t)-rc);
	}
	if (overlaps(off, n, VFM_VU_REG_IRQ, 4)) {
		uint32_t v = get32(srv->regs + VFM_VU_REG_IRQ);

		rc = v == 0 ? vfm_vu_server_irq(srv, VFM_VU_PCI_INTX_IRQ, 0)
			    : vfm_vu_server_irq(srv, VFM_VU_PCI_MSIX_IRQ, v - 1);
		if (rc && rc != -EAGAIN)
			return rc;
	}
	return 0;
}

static int bar_write(struct vfm_vu_server *srv, uint64_t off, const uint8_t *p, size_t n)
{
	bool regs = false;

	for (size_t i = 0; i < n; i++) {
		uint64_t a = off + i;

		if (a < VFM_VU_REG_END && !writable_reg(a))
			return vu_fail(srv, -EINVAL, "BAR0 0x%llx is read-only",
				       (unsigned long long)a);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t a = off + i;

		if (a < VFM_VU_REG_END) {
			srv->regs[a] = p[i];
			regs = true;
		} else if (a >= VU_MSIX_TABLE && a < VU_MSIX_TABLE + sizeof(srv->msix_table)) {
			srv->msix_table[a - VU_MSIX_TABLE] = p[i];
		}
	}
	return regs ? regs_apply(srv, off, n) : 0;
}

/* ---- REGION_READ / REGION_WRITE ---- */

static int check_access(struct vfm_vu_server *srv, const struct vfm_vu_region_access *ra,
			uint32_t max)
{
	uint64_t size = ra->region < VFM_VU_PCI_NUM_REGIONS ? region_size(ra->region) : 0;

	if (!size)
		return vu_fail(srv, -EINVAL, "no region %u", ra->region);
	if (ra->count == 0 || ra->count > max)
		return vu_fail(srv, -EINVAL, "region access of %u bytes (max %u)", ra->count, max);
	if (ra->offset > size || ra->count > size - ra->offset)
		return vu_fail(srv, -EINVAL, "region %u: [0x%llx, +%u) outside %llu bytes",
			       ra->region, (unsigned long long)ra->offset, ra->count,
			       (unsigned long long)size);
	return 0;
}

int vu_handle_region_read(struct vfm_vu_server *srv, struct vu_req *rq)
{
	const size_t fixed = sizeof(struct vfm_vu_hdr) + sizeof(struct vfm_vu_region_access);
	struct vfm_vu_region_access ra;
	uint32_t max = VFM_MIN(srv->max_xfer, srv->c.peer.max_data_xfer_size);
	int rc;

	memcpy(&ra, rq->body, sizeof(ra));
	rc = check_access(srv, &ra, max);
	if (!rc)
		rc = vu_buf_reserve(&srv->tx, &srv->tx_cap, fixed + ra.count,
				    vfm_vu_max_msg(srv->max_xfer));
	if (rc)
		return rc;
	memcpy(srv->tx + sizeof(struct vfm_vu_hdr), &ra, sizeof(ra));
	if (ra.region == VFM_VU_PCI_CONFIG)
		memcpy(srv->tx + fixed, srv->config + ra.offset, ra.count);
	else
		bar_read(srv, ra.offset, srv->tx + fixed, ra.count);
	return vu_reply_tx(srv, rq, sizeof(ra) + ra.count);
}

static int region_write(struct vfm_vu_server *srv, const struct vfm_vu_region_access *ra,
			const uint8_t *data)
{
	if (ra->region == VFM_VU_PCI_CONFIG) {
		config_write(srv, ra->offset, data, ra->count);
		return 0;
	}
	return bar_write(srv, ra->offset, data, ra->count);
}

int vu_handle_region_write(struct vfm_vu_server *srv, struct vu_req *rq)
{
	struct vfm_vu_region_access ra;
	int rc;

	memcpy(&ra, rq->body, sizeof(ra));
	if (ra.count != rq->len - sizeof(ra))
		return vu_fail(srv, -EINVAL, "REGION_WRITE: count %u but %zu data bytes", ra.count,
			       rq->len - sizeof(ra));
	rc = check_access(srv, &ra, srv->max_xfer);
	if (!rc)
		rc = region_write(srv, &ra, rq->body + sizeof(ra));
	if (rc)
		return rc;
	return vu_reply(srv, rq, &ra, sizeof(ra));
}

int vu_handle_write_multi(struct vfm_vu_server *srv, struct vu_req *rq)
{
	const struct vfm_vu_write_one *w;
	uint64_t cnt, done = 0;
	int rc = 0;

	memcpy(&cnt, rq->body, sizeof(cnt));
	if (cnt == 0 || cnt > VFM_VU_WRITE_MULTI_MAX || rq->len < sizeof(cnt) + cnt * sizeof(*w))
		return vu_fail(srv, -EINVAL, "REGION_WRITE_MULTI: %llu writes in %zu bytes",
			       (unsigned long long)cnt, rq->len);
	w = (const struct vfm_vu_write_one *)(rq->body + sizeof(cnt));
	for (; done < cnt && !rc; done++) {
		struct vfm_vu_write_one one;
		struct vfm_vu_region_access ra;

		memcpy(&one, &w[done], sizeof(one));
		ra = (struct vfm_vu_region_access){one.offset, one.region, one.count};
		if (one.count > VFM_VU_WRITE_MULTI_DATA)
			rc = vu_fail(srv, -EINVAL, "REGION_WRITE_MULTI: a write of %u bytes",
				     one.count);
		else
			rc = check_access(srv, &ra, VFM_VU_WRITE_MULTI_DATA);
		if (!rc)
			rc = region_write(srv, &ra, one.data);
	}
	if (rc)
		return rc;
	return vu_reply(srv, rq, &done, sizeof(done));
}
