// SPDX-License-Identifier: BSD-3-Clause
/* Device-side DMA regions, DMA writes and dirty logging (see include/vfio-mig/dma.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "util.h"
#include "vfio-mig/dma.h"

struct dma_region {
	uint64_t iova, len;
	uint8_t *vaddr;
	bool writable;
};

struct log_range {
	uint64_t iova, len;
	uint64_t *dirty; /* one bit per VFM_DMA_LOG_PAGE */
};

struct vfm_dma {
	pthread_mutex_t lock;
	size_t nr;
	struct dma_region region[VFM_DMA_MAX_REGIONS];
	bool logging;
	size_t nr_ranges;
	struct log_range *ranges;
};

int vfm_dma_create(struct vfm_dma **out)
{
	struct vfm_dma *dma = calloc(1, sizeof(*dma));

	if (!dma)
		return -ENOMEM;
	pthread_mutex_init(&dma->lock, NULL);
	*out = dma;
	return 0;
}

static void log_free(struct vfm_dma *dma)
{
	for (size_t i = 0; i < dma->nr_ranges; i++)
		free(dma->ranges[i].dirty);
	free(dma->ranges);
	dma->ranges = NULL;
	dma->nr_ranges = 0;
	dma->logging = false;
}

void vfm_dma_destroy(struct vfm_dma *dma)
{
	if (!dma)
		return;
	log_free(dma);
	pthread_mutex_destroy(&dma->lock);
	free(dma);
}

/* Non-empty ranges, compared by their last bytes: one may end exactly at 2^64. */
static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a <= b + (blen - 1) && b <= a + (alen - 1);
}

int vfm_dma_map(struct vfm_dma *dma, uint64_t iova, uint64_t len, void *vaddr, bool writable)
{
	int rc = 0;

	if (!len || !vaddr || len - 1 > UINT64_MAX - iova)
		return -EINVAL;
	pthread_mutex_lock(&dma->lock);
	for (size_t i = 0; i < dma->nr && !rc; i++) {
		if (overlaps(iova, len, dma->region[i].iova, dma->region[i].len))
			rc = -EEXIST;
	}
	if (!rc && dma->nr == VFM_DMA_MAX_REGIONS)
		rc = -ENOSPC;
	if (!rc)
		dma->region[dma->nr++] = (struct dma_region){iova, len, vaddr, writable};
	pthread_mutex_unlock(&dma->lock);
	return rc;
}

int vfm_dma_unmap(struct vfm_dma *dma, uint64_t iova, uint64_t len)
{
	size_t kept = 0, removed = 0;

	pthread_mutex_lock(&dma->lock);
	for (size_t i = 0; i < dma->nr; i++) {
		struct dma_region *r = &dma->region[i];

		if (len && r->iova >= iova && r->iova - iova <= len - 1 &&
		    r->len - 1 <= len - 1 - (r->iova - iova)) {
			removed++;
			continue;
		}
		dma->region[kept++] = *r;
	}
	dma->nr = kept;
	pthread_mutex_unlock(&dma->lock);
	return removed ? 0 : -ENOENT;
}

size_t vfm_dma_nr_regions(struct vfm_dma *dma)
{
	size_t n;

	pthread_mutex_lock(&dma->lock);
	n = dma->nr;
	pthread_mutex_unlock(&dma->lock);
	return n;
}

int vfm_dma_first_region(struct vfm_dma *dma, uint64_t *iova, uint64_t *len)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&dma->lock);
	if (dma->nr) {
		*iova = dma->region[0].iova;
		*len = dma->region[0].len;
		rc = 0;
	}
	pthread_mutex_unlock(&dma->lock);
	return rc;
}

/* The region holding all of [iova, iova + len), or NULL. */
static struct dma_region *find(struct vfm_dma *dma, uint64_t iova, uint64_t len)
{
	for (size_t i = 0; i < dma->nr; i++) {
		struct dma_region *r = &dma->region[i];

		if (iova >= r->iova && len <= r->len && iova - r->iova <= r->len - len)
			return r;
	}
	return NULL;
}

/* The overlap of [iova, iova + len) and a logged range, as the pages [*p0, *p1] of the
 * range; false if none. Last bytes, not ends: a range may end at 2^64. */
static bool range_pages(const struct log_range *lr, uint64_t iova, uint64_t len, uint64_t *p0,
			uint64_t *p1)
{
	uint64_t a = VFM_MAX(iova, lr->iova);
	uint64_t b = VFM_MIN(iova + (len - 1), lr->iova + (lr->len - 1));

	if (!len || !lr->len || a > b)
		return false;
	*p0 = (a - lr->iova) / VFM_DMA_LOG_PAGE;
	*p1 = (b - lr->iova) / VFM_DMA_LOG_PAGE;
	return true;
}

static void log_write(struct vfm_dma *dma, uint64_t iova, uint64_t len)
{
	for (size_t i = 0; i < dma->nr_ranges; i++) {
		struct log_range *lr = &dma->ranges[i];
		uint64_t p0, p1;

		for (uint64_t p = 0; range_pages(lr, iova, len, &p0, &p1) && p <= p1 - p0; p++)
			lr->dirty[(p0 + p) / 64] |= 1ull << ((p0 + p) % 64);
	}
}

int vfm_dma_write(struct vfm_dma *dma, uint64_t iova, const void *buf, size_t len)
{
	struct dma_region *r;
	int rc = 0;

	pthread_mutex_lock(&dma->lock);
	r = find(dma, iova, len);
	if (!r || !r->writable)
		rc = -EFAULT;
	else
		rc = vfm_copy_guarded(r->vaddr + (iova - r->iova), buf, len);
	if (!rc && dma->logging)
		log_write(dma, iova, len);
	pthread_mutex_unlock(&dma->lock);
	return rc;
}

int vfm_dma_read(struct vfm_dma *dma, uint64_t iova, void *buf, size_t len)
{
	struct dma_region *r;
	int rc = 0;

	pthread_mutex_lock(&dma->lock);
	r = find(dma, iova, len);
	rc = r ? vfm_copy_guarded(buf, r->vaddr + (iova - r->iova), len) : -EFAULT;
	pthread_mutex_unlock(&dma->lock);
	return rc;
}

static int log_add_range(struct vfm_dma *dma, uint64_t iova, uint64_t len)
{
	struct log_range *lr = &dma->ranges[dma->nr_ranges];
	uint64_t pages = len / VFM_DMA_LOG_PAGE + (len % VFM_DMA_LOG_PAGE != 0);

	lr->iova = iova;
	lr->len = len;
	lr->dirty = calloc((size_t)(pages / 64 + 1), 8);
	if (!lr->dirty)
		return -ENOMEM;
	dma->nr_ranges++;
	return 0;
}

int vfm_dma_log_start(struct vfm_dma *dma,
		      const struct vfm_device_feature_dma_logging_range *ranges, uint32_t n,
		      uint64_t *page_size)
{
	size_t count;
	int rc = 0;

	pthread_mutex_lock(&dma->lock);
	count = n ? n : dma->nr;
	if (dma->logging)
		rc = -EBUSY;
	else if (!dma->nr)
		rc = -EINVAL;
	else if (!(dma->ranges = calloc(count, sizeof(*dma->ranges))))
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < count; i++) {
		if (n)
			rc = log_add_range(dma, ranges[i].iova, ranges[i].length);
		else
			rc = log_add_range(dma, dma->region[i].iova, dma->region[i].len);
	}
	if (rc && rc != -EBUSY)
		log_free(dma);
	if (!rc) {
		dma->logging = true;
		*page_size = VFM_DMA_LOG_PAGE;
	}
	pthread_mutex_unlock(&dma->lock);
	return rc;
}

int vfm_dma_log_stop(struct vfm_dma *dma)
{
	pthread_mutex_lock(&dma->lock);
	log_free(dma);
	pthread_mutex_unlock(&dma->lock);
	return 0;
}

/*
 * Reports and clears the logged pages of one range that fall in [iova, iova + length).
 * A word of 64 pages at a time, so the work is one pass over the range's bitmap plus one
 * step per dirty page, whatever the page size asked.
 */
static void report_range(struct log_range *lr, uint64_t iova, uint64_t length, uint64_t page_size,
			 uint64_t *bitmap)
{
	uint64_t p0, p1;

	if (!range_pages(lr, iova, length, &p0, &p1))
		return;
	for (uint64_t w = p0 / 64; w <= p1 / 64; w++) {
		uint64_t lo = w == p0 / 64 ? p0 % 64 : 0, hi = w == p1 / 64 ? p1 % 64 : 63;
		uint64_t bits = lr->dirty[w] & (~0ull << lo) & (~0ull >> (63 - hi));

		lr->dirty[w] &= ~bits;
		while (bits) {
			uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(bits), addr, bit;

			bits &= bits - 1;
			addr = VFM_MAX(lr->iova + p * VFM_DMA_LOG_PAGE, iova);
			bit = (addr - iova) / page_size;
			bitmap[bit / 64] |= 1ull << (bit % 64);
		}
	}
}

int vfm_dma_log_report(struct vfm_dma *dma, uint64_t iova, uint64_t length, uint64_t page_size,
		       uint64_t *bitmap)
{
	int rc = 0;

	if (page_size < VFM_DMA_LOG_PAGE || (page_size & (page_size - 1)) || iova + length < iova)
		return -EINVAL;
	pthread_mutex_lock(&dma->lock);
	if (!dma->logging)
		rc = -EINVAL;
	for (size_t i = 0; !rc && i < dma->nr_ranges; i++)
		report_range(&dma->ranges[i], iova, length, page_size, bitmap);
	pthread_mutex_unlock(&dma->lock);
	return rc;
}
