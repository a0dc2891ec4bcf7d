// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user server, interrupts: GET_IRQ_INFO and SET_IRQS for INTx (one, maskable,
 * automasked) and MSI-X (VFM_VU_MSIX_COUNT vectors), eventfds as SCM_RIGHTS.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "server.h"
#include "util.h"

static uint32_t irq_count(uint32_t index)
{
	if (index == VFM_VU_PCI_INTX_IRQ)
		return 1;
	if (index == VFM_VU_PCI_MSIX_IRQ)
		return VFM_VU_MSIX_COUNT;
	return 0;
}

void vu_irq_init(struct vu_conn *c)
{
	for (unsigned i = 0; i < VFM_VU_PCI_NUM_IRQS; i++) {
		for (unsigned j = 0; j < VFM_VU_MSIX_COUNT; j++)
			c->irq_fd[i][j] = -1;
	}
	c->intx_masked = false;
	c->intx_pending = false;
}

static void irq_close(struct vu_conn *c, uint32_t index, uint32_t sub)
{
	if (c->irq_fd[index][sub] >= 0)
		close(c->irq_fd[index][sub]);
	c->irq_fd[index][sub] = -1;
}

void vu_irq_close_all(struct vu_conn *c)
{
	for (uint32_t i = 0; i < VFM_VU_PCI_NUM_IRQS; i++) {
		for (uint32_t j = 0; j < VFM_VU_MSIX_COUNT; j++)
			irq_close(c, i, j);
	}
	c->intx_masked = false;
	c->intx_pending = false;
}

int vu_handle_irq_info(struct vfm_vu_server *srv, struct vu_req *rq)
{
	struct vfm_vu_irq_info in, out;

	memcpy(&in, rq->body, sizeof(in));
	if (in.argsz < sizeof(out) || in.index >= VFM_VU_PCI_NUM_IRQS)
		return vu_fail(srv, -EINVAL, "GET_IRQ_INFO: argsz %u index %u", in.argsz, in.index);
	out = (struct vfm_vu_irq_info){.argsz = sizeof(out), .index = in.index};
	out.count = irq_count(in.index);
	out.flags = VFM_VU_IRQ_INFO_EVENTFD;
	if (in.index == VFM_VU_PCI_INTX_IRQ)
		out.flags |= VFM_VU_IRQ_INFO_MASKABLE | VFM_VU_IRQ_INFO_AUTOMASKED;
	else
		out.flags |= VFM_VU_IRQ_INFO_NORESIZE;
	return vu_reply(srv, rq, &out, sizeof(out));
}

static int fire(struct vu_conn *c, uint32_t index, uint32_t sub)
{
	uint64_t one = 1;
	int fd = c->irq_fd[index][sub];

	if (fd < 0)
		return -ENOENT;
	if (index == VFM_VU_PCI_INTX_IRQ) {
		if (c->intx_masked) {
			c->intx_pending = true;
			return -EAGAIN;
		}
		c->intx_masked = true; /* automasked */
	}
	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -EIO;
}

int vfm_vu_server_irq(struct vfm_vu_server *srv, uint32_t index, uint32_t sub)
{
	if (!srv->c.active)
		return -ENOTCONN;
	if (index >= VFM_VU_PCI_NUM_IRQS || sub >= irq_count(index))
		return -EINVAL;
	return fire(&srv->c, index, sub);
}

static bool one_bit(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int set_eventfds(struct vu_conn *c, const struct vfm_vu_irq_set *s, struct vu_fds *fds)
{
	if (fds->n && fds->n != s->count)
		return -EINVAL;
	if (!(s->flags & VFM_VU_IRQ_SET_ACTION_TRIGGER))
		return -EINVAL; /* mask / unmask eventfds: not supported */
	for (uint32_t i = 0; i < s->count; i++) {
		irq_close(c, s->index, s->start + i);
		if (fds->n)
			c->irq_fd[s->index][s->start + i] = vu_fds_take(fds, i);
	}
	return 0;
}

static int set_action(struct vu_conn *c, const struct vfm_vu_irq_set *s, const uint8_t *bools)
{
	for (uint32_t i = 0; i < s->count; i++) {
		uint32_t sub = s->start + i;

		if (bools && !bools[i])
			continue;
		if (s->flags & VFM_VU_IRQ_SET_ACTION_TRIGGER) {
			(void)fire(c, s->index, sub);
		} else if (s->flags & VFM_VU_IRQ_SET_ACTION_MASK) {
			c->intx_masked = true;
		} else {
			c->intx_masked = false;
			if (c->intx_pending) {
				c->intx_pending = false;
				(void)fire(c, s->index, sub);
			}
		}
	}
	return 0;
}

static int check_set(const struct vfm_vu_irq_set *s, size_t len)
{
	uint32_t data = s->flags & VFM_VU_IRQ_SET_DATA_MASK;
	uint32_t action = s->flags & VFM_VU_IRQ_SET_ACTION_MASKS;

	if (s->flags & ~(VFM_VU_IRQ_SET_DATA_MASK | VFM_VU_IRQ_SET_ACTION_MASKS))
		return -EINVAL;
	if (!one_bit(data) || !one_bit(action) || s->index >= VFM_VU_PCI_NUM_IRQS)
		return -EINVAL;
	if (s->argsz < sizeof(*s) || s->argsz > len)
		return -EINVAL;
	if ((uint64_t)s->start + s->count > irq_count(s->index))
		return -EINVAL;
	if (action != VFM_VU_IRQ_SET_ACTION_TRIGGER && s->index != VFM_VU_PCI_INTX_IRQ)
		return -EINVAL; /* only INTx is maskable */
	if (data == VFM_VU_IRQ_SET_DATA_BOOL && len < sizeof(*s) + s->count)
		return -EINVAL;
	return 0;
}

int vu_handle_set_irqs(struct vfm_vu_server *srv, struct vu_req *rq)
{
	struct vfm_vu_irq_set s;
	uint32_t data;
	int rc;

	memcpy(&s, rq->body, sizeof(s));
	data = s.flags & VFM_VU_IRQ_SET_DATA_MASK;
	rc = check_set(&s, rq->len);
	if (rc)
		return vu_fail(srv, rc, "SET_IRQS: flags 0x%x index %u start %u count %u", s.flags,
			       s.index, s.start, s.count);
	if (s.count == 0) {
		if (data != VFM_VU_IRQ_SET_DATA_NONE || s.start ||
		    !(s.flags & VFM_VU_IRQ_SET_ACTION_TRIGGER))
			return vu_fail(srv, -EINVAL, "SET_IRQS: count 0");
		for (uint32_t i = 0; i < irq_count(s.index); i++)
			irq_close(&srv->c, s.index, i);
	} else if (data == VFM_VU_IRQ_SET_DATA_EVENTFD) {
		rc = set_eventfds(&srv->c, &s, &rq->fds);
	} else {
		rc = set_action(&srv->c, &s,
				data == VFM_VU_IRQ_SET_DATA_BOOL ? rq->body + sizeof(s) : NULL);
	}
	if (rc)
		return vu_fail(srv, rc, "SET_IRQS: flags 0x%x refused", s.flags);
	return vu_reply(srv, rq, NULL, 0);
}
