// SPDX-License-Identifier: BSD-3-Clause
/*
 * The memory a client mapped for a device's DMA moves with the device: logged with DMA
 * dirty logging from setup, sent whole while the device runs, then page-granular rounds
 * on the dirty bitmap, and a last pass once the device is stopped and can write no more,
 * so that the destination's memory equals the source's at the moment the device stopped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "util.h"

#define RAM_BLOCK (1u << 20)

int ram_setup(struct run *r, struct vfm_handle *h, struct ram *ram, bool log)
{
	struct vfm_device_feature_dma_logging_range range;
	uint64_t page = 4096, pages;
	void *ptr;

	memset(ram, 0, sizeof(*ram));
	if (vfm_handle_dma_memory(h, &ptr, &ram->iova, &ram->size) || !ram->size)
		return 0;
	ram->present = true;
	ram->ptr = ptr;
	if (!log)
		return 0;
	range.iova = ram->iova;
	range.length = ram->size;
	if (vfm_handle_log_start(h, &range, 1, &page) || page < 4096 || (page & (page - 1))) {
		vfm_log(&r->opts->log, VFM_LOG_WARN,
			"%s: no DMA dirty logging (%s): its memory moves while it is stopped",
			vfm_handle_name(h), vfm_handle_error(h));
		return 0;
	}
	pages = (ram->size + page - 1) / page;
	ram->words = (size_t)(pages / 64 + 1);
	ram->bitmap = calloc(ram->words, 8);
	if (!ram->bitmap) {
		vfm_handle_log_stop(h);
		return run_fail(r, -ENOMEM, "out of memory for the dirty bitmap");
	}
	ram->page = page;
	ram->logging = true;
	return 0;
}

void ram_cleanup(struct vfm_handle *h, struct ram *ram)
{
	if (ram->logging)
		vfm_handle_log_stop(h);
	ram->logging = false;
	free(ram->bitmap);
	ram->bitmap = NULL;
}

static int send_range(struct sink *sink, size_t i, struct ram *ram, uint64_t off, uint64_t len)
{
	while (len) {
		uint64_t n = VFM_MIN(len, (uint64_t)RAM_BLOCK);
		int rc = sink->ops->ram_block(sink, i, ram->iova + off, (uint8_t *)ram->ptr + off,
					      (size_t)n);

		if (rc)
			return rc;
		run_moved(sink->r, n);
		ram->bytes_sent += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* The rest of the first pass, at most `budget` bytes of it. */
static int first_pass(struct sink *sink, size_t i, struct ram *ram, uint64_t budget,
		      uint64_t *moved)
{
	uint64_t n = VFM_MIN(budget, ram->size - ram->first_off);
	int rc = send_range(sink, i, ram, ram->first_off, n);

	if (rc)
		return rc;
	ram->first_off += n;
	*moved += n;
	return 0;
}

/* Reports the dirty pages and sends them, runs of pages at a time. */
static int dirty_pass(struct run *r, struct vfm_handle *h, struct sink *sink, size_t i,
		      struct ram *ram, uint64_t *moved)
{
	uint64_t pages = (ram->size + ram->page - 1) / ram->page, sent = 0;
	int rc;

	memset(ram->bitmap, 0, ram->words * 8);
	rc = vfm_handle_log_report(h, ram->iova, ram->size, ram->page, ram->bitmap);
	if (rc)
		return run_fail_handle(r, rc, h);
	for (uint64_t p = 0; p < pages;) {
		uint64_t q = p;

		if (!(ram->bitmap[p / 64] >> (p % 64) & 1)) {
			p++;
			continue;
		}
		while (q < pages && (ram->bitmap[q / 64] >> (q % 64) & 1))
			q++;
		rc = send_range(sink, i, ram, p * ram->page,
				VFM_MIN(q * ram->page, ram->size) - p * ram->page);
		if (rc)
			return rc;
		sent += VFM_MIN(q * ram->page, ram->size) - p * ram->page;
		p = q;
	}
	ram->last_dirty = sent;
	*moved += sent;
	return 0;
}

int ram_round(struct run *r, struct vfm_handle *h, struct sink *sink, size_t i, struct ram *ram,
	      uint64_t budget, uint64_t *moved)
{
	if (!ram->present || !ram->logging)
		return 0;
	if (ram->first_off < ram->size)
		return first_pass(sink, i, ram, budget, moved);
	return dirty_pass(r, h, sink, i, ram, moved);
}

bool ram_initial_done(const struct ram *ram)
{
	return !ram->present || !ram->logging || ram->first_off >= ram->size;
}

uint64_t ram_pending(const struct ram *ram)
{
	if (!ram->present)
		return 0;
	if (!ram->logging)
		return ram->size;
	return ram->size - ram->first_off + ram->last_dirty;
}

int ram_final(struct run *r, struct vfm_handle *h, struct sink *sink, size_t i, struct ram *ram)
{
	uint64_t moved = 0;
	int rc;

	if (!ram->present)
		return 0;
	rc = send_range(sink, i, ram, ram->first_off, ram->size - ram->first_off);
	ram->first_off = ram->size;
	if (!rc && ram->logging)
		rc = dirty_pass(r, h, sink, i, ram, &moved);
	return rc;
}
