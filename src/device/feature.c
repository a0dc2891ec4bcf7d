// SPDX-License-Identifier: BSD-3-Clause
/*
 * VFIO_DEVICE_FEATURE for library devices, with the kernel core's checks in the kernel's
 * order (uAPI doc 1.2.1 to 1.6), over the vfio-user payload layout (ranges and bitmap
 * inline instead of user pointers).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vfio-mig/device.h"
#include "vfio-mig/fsm.h"

const struct vfm_device_ops *vfm_device_ops_locked(struct vfm_device *dev, void **opaque);
void vfm_device_unlock(struct vfm_device *dev);
void vfm_device_set_precopy_v2(struct vfm_device *dev);

#define FEAT_GET   VFM_DEVICE_FEATURE_GET
#define FEAT_SET   VFM_DEVICE_FEATURE_SET
#define FEAT_PROBE VFM_DEVICE_FEATURE_PROBE
#define HDR	   sizeof(struct vfm_device_feature)

struct feat_call {
	struct vfm_device *dev;
	uint8_t *buf;	/* header + payload */
	size_t buf_len; /* valid, writable bytes of buf */
	uint32_t flags;
	size_t argsz; /* payload bytes the caller declared (argsz - 8) */
	size_t *reply_len;
	vfm_session_id *opened;
};

/* vfio_check_feature(): 1 = go on, 0 = probe answered, < 0 = error. */
static int check_feature(uint32_t flags, size_t argsz, uint32_t supported, size_t minsz)
{
	if ((flags & (FEAT_GET | FEAT_SET)) & ~supported)
		return -EINVAL;
	if (flags & FEAT_PROBE)
		return 0;
	if (!(flags & (FEAT_GET | FEAT_SET)))
		return -EINVAL;
	if (argsz < minsz)
		return -EINVAL;
	return 1;
}

/* The payload must really be there: the kernel's copy_from_user would fault. */
static int need_bytes(const struct feat_call *c, size_t payload)
{
	return c->buf_len < HDR + payload ? -EFAULT : 0;
}

static int feat_migration(struct feat_call *c)
{
	uint64_t flags = vfm_device_flags(c->dev);
	int rc = check_feature(c->flags, c->argsz, FEAT_GET, 8);

	if (rc <= 0)
		return rc;
	if (need_bytes(c, 8))
		return -EFAULT;
	memcpy(c->buf + HDR, &flags, 8);
	*c->reply_len = HDR + 8;
	return 0;
}

static void put_mig_state(struct feat_call *c, uint32_t state)
{
	struct vfm_device_feature_mig_state ms = {.device_state = state, .data_fd = -1};

	memcpy(c->buf + HDR, &ms, sizeof(ms));
	*c->reply_len = HDR + sizeof(ms);
}

static int feat_mig_state(struct feat_call *c)
{
	struct vfm_device_feature_mig_state ms;
	int rc = check_feature(c->flags, c->argsz, FEAT_GET | FEAT_SET, sizeof(ms));

	if (rc <= 0)
		return rc;
	if (need_bytes(c, sizeof(ms)))
		return -EFAULT;
	memcpy(&ms, c->buf + HDR, sizeof(ms));
	if (c->flags & FEAT_GET) {
		put_mig_state(c, vfm_device_get_state(c->dev));
		return 0;
	}
	rc = vfm_device_set_state(c->dev, ms.device_state, c->opened);
	/* The kernel writes back the requested state and data_fd -1 in either case. */
	put_mig_state(c, ms.device_state);
	return rc;
}

static int feat_data_size(struct feat_call *c)
{
	uint64_t len;
	int rc = check_feature(c->flags, c->argsz, FEAT_GET, 8);

	if (rc <= 0)
		return rc;
	if (need_bytes(c, 8))
		return -EFAULT;
	rc = vfm_device_data_size(c->dev, &len);
	if (rc)
		return rc;
	memcpy(c->buf + HDR, &len, 8);
	*c->reply_len = HDR + 8;
	return 0;
}

static bool is_aligned(uint64_t x, uint64_t page_size)
{
	return (x & (page_size - 1)) == 0;
}

static int check_ranges(const struct vfm_device_feature_dma_logging_range *r, uint32_t n,
			uint64_t page_size)
{
	for (uint32_t i = 0; i < n; i++) {
		if (!is_aligned(r[i].iova, page_size) || !is_aligned(r[i].length, page_size))
			return -EINVAL;
		if (r[i].iova + r[i].length < r[i].iova)
			return -EOVERFLOW;
	}
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = i + 1; j < n; j++) {
			if (r[i].iova < r[j].iova + r[j].length &&
			    r[j].iova < r[i].iova + r[i].length)
				return -EINVAL;
		}
	}
	return 0;
}

static int feat_log_start(struct feat_call *c, const struct vfm_device_ops *ops, void *opaque)
{
	struct vfm_device_feature_dma_logging_control ctl;
	const size_t csz = sizeof(ctl);
	struct vfm_device_feature_dma_logging_range ranges[VFM_DMA_LOGGING_MAX_RANGES];
	int rc = check_feature(c->flags, c->argsz, FEAT_SET, csz);

	if (rc <= 0)
		return rc;
	if (need_bytes(c, csz))
		return -EFAULT;
	memcpy(&ctl, c->buf + HDR, csz);
	/* vfio-user: num_ranges 0 asks for every write to be logged. */
	if (ctl.num_ranges > VFM_DMA_LOGGING_MAX_RANGES)
		return -E2BIG;
	if (need_bytes(c, csz + (size_t)ctl.num_ranges * sizeof(ranges[0])))
		return -EFAULT;
	memcpy(ranges, c->buf + HDR + csz, (size_t)ctl.num_ranges * sizeof(ranges[0]));
	rc = check_ranges(ranges, ctl.num_ranges, ctl.page_size);
	if (rc)
		return rc;
	rc = ops->log_start(opaque, ranges, ctl.num_ranges, &ctl.page_size);
	if (rc)
		return rc;
	memcpy(c->buf + HDR, &ctl, csz);
	*c->reply_len = HDR + csz + (size_t)ctl.num_ranges * sizeof(ranges[0]);
	return 0;
}

static int feat_log_stop(struct feat_call *c, const struct vfm_device_ops *ops, void *opaque)
{
	int rc = check_feature(c->flags, c->argsz, FEAT_SET, 0);

	if (rc <= 0)
		return rc;
	return ops->log_stop(opaque);
}

static int feat_log_report(struct feat_call *c, const struct vfm_device_ops *ops, void *opaque)
{
	uint64_t req[3]; /* iova, length, page_size */
	uint64_t pages, words;
	int rc = check_feature(c->flags, c->argsz, FEAT_GET, sizeof(req));

	if (rc <= 0)
		return rc;
	if (need_bytes(c, sizeof(req)))
		return -EFAULT;
	memcpy(req, c->buf + HDR, sizeof(req));
	if (req[2] < 4096 || (req[2] & (req[2] - 1)))
		return -EINVAL;
	if (req[0] + req[1] < req[0])
		return -EOVERFLOW;
	pages = req[1] / req[2] + (req[1] % req[2] ? 1 : 0);
	words = pages / 64 + (pages % 64 ? 1 : 0);
	if (words > (SIZE_MAX - HDR - sizeof(req)) / 8 || c->argsz < sizeof(req) + words * 8)
		return -EINVAL;
	if (need_bytes(c, sizeof(req) + words * 8))
		return -EFAULT;
	memset(c->buf + HDR + sizeof(req), 0, words * 8);
	/* The bitmap lives in the caller's buffer; copy through an aligned view. */
	uint64_t *bitmap = calloc(words ? words : 1, 8);
	if (!bitmap)
		return -ENOMEM;
	rc = ops->log_report(opaque, req[0], req[1], req[2], bitmap);
	if (!rc) {
		memcpy(c->buf + HDR + sizeof(req), bitmap, words * 8);
		*c->reply_len = HDR + sizeof(req) + words * 8;
	}
	free(bitmap);
	return rc;
}

/* MIG_PRECOPY_INFOv2 as Linux 7.3's core: PRE_COPY first, then SET only, no payload. */
static int feat_precopy_v2(struct feat_call *c)
{
	void *opaque;
	bool supported = vfm_device_ops_locked(c->dev, &opaque)->precopy_info_v2 != NULL;
	uint32_t ops = FEAT_SET;
	int rc;

	vfm_device_unlock(c->dev);
	if (!supported)
		return -ENOTTY;
	if (!(vfm_device_flags(c->dev) & VFM_MIGRATION_PRE_COPY))
		return -EINVAL;
	if (vfm_device_violations(c->dev) & VFM_VIOLATE_PRECOPY_V2_GET)
		ops |= FEAT_GET;
	rc = check_feature(c->flags, c->argsz, ops, 0);
	if (rc <= 0)
		return rc;
	vfm_device_set_precopy_v2(c->dev);
	return 0;
}

static int feat_logging(struct feat_call *c, uint32_t index)
{
	void *opaque;
	const struct vfm_device_ops *ops = vfm_device_ops_locked(c->dev, &opaque);
	int rc;

	if (!ops->log_start)
		rc = -ENOTTY;
	else if (index == VFM_DEVICE_FEATURE_DMA_LOGGING_START)
		rc = feat_log_start(c, ops, opaque);
	else if (index == VFM_DEVICE_FEATURE_DMA_LOGGING_STOP)
		rc = feat_log_stop(c, ops, opaque);
	else
		rc = feat_log_report(c, ops, opaque);
	vfm_device_unlock(c->dev);
	return rc;
}

int vfm_device_feature(struct vfm_device *dev, void *buf, size_t buf_len, size_t *reply_len,
		       vfm_session_id *opened)
{
	struct vfm_device_feature hdr;
	struct feat_call c = {.dev = dev, .buf = buf, .buf_len = buf_len};
	size_t dummy_len;
	vfm_session_id dummy_sid;
	uint32_t index;

	c.reply_len = reply_len ? reply_len : &dummy_len;
	c.opened = opened ? opened : &dummy_sid;
	*c.reply_len = VFM_MIN(buf_len, HDR);
	*c.opened = 0;
	if (buf_len < HDR)
		return -EFAULT;
	memcpy(&hdr, buf, HDR);
	if (hdr.argsz < HDR)
		return -EINVAL;
	if (hdr.flags & ~(VFM_DEVICE_FEATURE_MASK | FEAT_GET | FEAT_SET | FEAT_PROBE))
		return -EINVAL;
	if (!(hdr.flags & FEAT_PROBE) && (hdr.flags & FEAT_SET) && (hdr.flags & FEAT_GET) &&
	    !(vfm_device_violations(dev) & VFM_VIOLATE_FEATURE_PRECEDENCE))
		return -EINVAL;
	c.flags = hdr.flags;
	c.argsz = hdr.argsz - HDR;
	index = hdr.flags & VFM_DEVICE_FEATURE_MASK;
	switch (index) {
	case VFM_DEVICE_FEATURE_MIGRATION:
		return feat_migration(&c);
	case VFM_DEVICE_FEATURE_MIG_DEVICE_STATE:
		return feat_mig_state(&c);
	case VFM_DEVICE_FEATURE_MIG_DATA_SIZE:
		return feat_data_size(&c);
	case VFM_DEVICE_FEATURE_MIG_PRECOPY_INFOv2:
		return feat_precopy_v2(&c);
	case VFM_DEVICE_FEATURE_DMA_LOGGING_START:
	case VFM_DEVICE_FEATURE_DMA_LOGGING_STOP:
	case VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		return feat_logging(&c, index);
	default:
		return -ENOTTY;
	}
}
