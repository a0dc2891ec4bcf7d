/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device-side DMA: the memory a client mapped for a device (vfio-user DMA_MAP, or an
 * in-process region), the device's DMA writes into it, and DMA dirty logging over it with
 * the uAPI's semantics (uAPI doc 1.6): only writes are logged, a report only sets bits and
 * clears what it reported.
 *
 * Threads: every function may be called from any thread; the object has its own lock.
 */
#ifndef VFIO_MIG_DMA_H
#define VFIO_MIG_DMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uapi.h"

#define VFM_DMA_MAX_REGIONS 64
#define VFM_DMA_LOG_PAGE    4096u

struct vfm_dma;

/* An empty DMA space (no regions, no logging). 0 or -ENOMEM. */
int vfm_dma_create(struct vfm_dma **out);
/* Frees it (NULL is fine); the mapped memory itself is the transport's. */
void vfm_dma_destroy(struct vfm_dma *dma);

/* The transport's side: vaddr is where [iova, iova + len) is mapped in this process.
 * Regions may not overlap. -EINVAL, -EEXIST, -ENOSPC. */
int vfm_dma_map(struct vfm_dma *dma, uint64_t iova, uint64_t len, void *vaddr, bool writable);
/* Removes the regions inside [iova, iova + len); -ENOENT if none. */
int vfm_dma_unmap(struct vfm_dma *dma, uint64_t iova, uint64_t len);
size_t vfm_dma_nr_regions(struct vfm_dma *dma);

/* The device's side: -EFAULT when [iova, iova + len) is not mapped (writable), or when the
 * memory behind it is gone (a file shrunk under its mapping: the copy catches the SIGBUS;
 * the first call installs that handler, which passes other SIGBUSes on). A region may end
 * exactly at 2^64. */
int vfm_dma_write(struct vfm_dma *dma, uint64_t iova, const void *buf, size_t len);
int vfm_dma_read(struct vfm_dma *dma, uint64_t iova, void *buf, size_t len);
/* The first mapped region (for a device that writes somewhere in it): 0 or -ENOENT. */
int vfm_dma_first_region(struct vfm_dma *dma, uint64_t *iova, uint64_t *len);

/* DMA logging, ready to serve as a device's log_* callbacks. Logging needs mapped
 * regions (-EINVAL without: "DMA logging on a device without DMA"); num_ranges 0 logs
 * every region. A second start without a stop is refused (-EBUSY); report without
 * logging is -EINVAL. */
int vfm_dma_log_start(struct vfm_dma *dma,
		      const struct vfm_device_feature_dma_logging_range *ranges, uint32_t n,
		      uint64_t *page_size);
int vfm_dma_log_stop(struct vfm_dma *dma);
int vfm_dma_log_report(struct vfm_dma *dma, uint64_t iova, uint64_t length, uint64_t page_size,
		       uint64_t *bitmap);

#endif /* VFIO_MIG_DMA_H */
