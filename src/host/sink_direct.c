// SPDX-License-Identifier: BSD-3-Clause
/*
 * The direct sink: state goes straight into destination handles, no stream in between.
 * Destinations enter RESUMING at setup; each block is written to its device as it comes
 * (so the initial data is loaded as soon as it is read: the switch-over "ack" is
 * immediate); at completion each destination validates (RESUMING -> STOP) and starts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "util.h"
#include "vfio-mig/fsm.h"

static int d_setup(struct sink *s, struct run *r, size_t n)
{
	uint64_t flags;
	int rc;

	s->r = r;
	s->n = n;
	for (size_t i = 0; i < n; i++) {
		rc = probe_device(r, s->dst[i], &flags);
		if (rc)
			return rc;
		s->touched[i] = true;
		rc = set_state_recover(r, s->dst[i], VFM_STATE_RESUMING, VFM_STATE_ERROR,
				       &s->in[i]);
		if (rc)
			return rc;
		if (!s->in[i])
			return run_fail(r, -EBADF, "%s: RESUMING opened no data session",
					vfm_handle_name(s->dst[i]));
	}
	return 0;
}

static int d_nothing(struct sink *s, size_t i)
{
	(void)s;
	(void)i;
	return 0;
}

static int d_part_end(struct sink *s, size_t i, bool init_data_sent)
{
	(void)s;
	(void)i;
	(void)init_data_sent;
	return 0;
}

static int d_block(struct sink *s, size_t i, const struct iovec *iov, int cnt, size_t len)
{
	struct vfm_handle *h = s->dst[i];
	char why[256];
	int rc = 0;

	for (int k = 0; k < cnt && !rc; k++)
		rc = vfm_session_write_all(s->in[i], iov[k].iov_base, iov[k].iov_len);

	if (rc)
		return run_fail(s->r, rc, "%s: writing %zu bytes of state failed: %s",
				vfm_handle_name(h), len,
				vfm_handle_explain(h, rc, why, sizeof(why)));
	return 0;
}

static int d_ram_setup(struct sink *s, size_t i, uint64_t iova, uint64_t size)
{
	void *ptr;

	if (vfm_handle_dma_memory(s->dst[i], &ptr, &s->dst_ram_iova[i], &s->dst_ram_size[i]))
		return run_fail(
			s->r, -EINVAL,
			"%s: the source device has %llu bytes of DMA memory, the destination "
			"none",
			vfm_handle_name(s->dst[i]), (unsigned long long)size);
	if (s->dst_ram_iova[i] != iova || s->dst_ram_size[i] != size)
		return run_fail(s->r, -EINVAL,
				"%s: DMA memory differs: source [0x%llx, +%llu), destination "
				"[0x%llx, +%llu)",
				vfm_handle_name(s->dst[i]), (unsigned long long)iova,
				(unsigned long long)size, (unsigned long long)s->dst_ram_iova[i],
				(unsigned long long)s->dst_ram_size[i]);
	s->dst_ram[i] = ptr;
	return 0;
}

static int d_ram_block(struct sink *s, size_t i, uint64_t iova, const void *buf, size_t len)
{
	if (!s->dst_ram[i] || iova < s->dst_ram_iova[i] ||
	    iova - s->dst_ram_iova[i] > s->dst_ram_size[i] ||
	    len > s->dst_ram_size[i] - (iova - s->dst_ram_iova[i]))
		return run_fail(s->r, -EINVAL, "DMA memory block outside the destination's memory");
	memcpy(s->dst_ram[i] + (iova - s->dst_ram_iova[i]), buf, len);
	return 0;
}

static int d_acked(struct sink *s, size_t i, bool *yes)
{
	(void)s;
	(void)i;
	*yes = true;
	return 0;
}

static void d_close(struct sink *s)
{
	for (size_t i = 0; i < s->n; i++) {
		vfm_session_close(s->in[i]);
		s->in[i] = NULL;
	}
}

static int d_complete(struct sink *s)
{
	int rc = 0;

	d_close(s);
	for (size_t i = 0; i < s->n && !rc; i++) {
		rc = set_state_recover(s->r, s->dst[i], VFM_STATE_RUNNING, VFM_STATE_ERROR, NULL);
		run_tl_dev(s->r, i)->t_running = run_elapsed(s->r);
	}
	return rc;
}

static void d_abort(struct sink *s)
{
	d_close(s);
	for (size_t i = 0; i < s->n; i++) {
		if (s->touched[i])
			vfm_recover_destination(s->dst[i]);
	}
}

static const struct sink_ops direct_ops = {
	.setup = d_setup,
	.part_begin = d_nothing,
	.block = d_block,
	.part_end = d_part_end,
	.acked = d_acked,
	.end_begin = d_nothing,
	.end_end = d_nothing,
	.ram_setup = d_ram_setup,
	.ram_block = d_ram_block,
	.complete = d_complete,
	.abort = d_abort,
};

void sink_direct_init(struct sink *s, struct vfm_handle *const *dst)
{
	memset(s, 0, sizeof(*s));
	s->ops = &direct_ops;
	s->dst = dst;
	s->parallel = true;
}
