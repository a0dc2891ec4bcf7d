// SPDX-License-Identifier: BSD-3-Clause
/*
 * The kernel VFIO handle: every device operation of the migration uAPI as one ioctl on
 * the device fd (VFIO_DEVICE_FEATURE, VFIO_DEVICE_RESET), with each reply checked.
 * Opening is in cdev.c and group.c; the data fd's operations in session.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "khandle.h"
#include "util.h"
#include "vfio-mig/fsm.h"
#include "vfio-mig/kernel.h"
#include "vfio-mig/uapi.h"

#define FEATURE_HDR sizeof(struct vfm_device_feature)
/* The largest payload the kernel reads or writes inside a feature buffer (the DMA logging
 * report, 32 bytes), with room to spare. */
#define FEATURE_MAX_PAYLOAD 64u

static struct vfm_khandle *to_k(struct vfm_handle *h)
{
	return (struct vfm_khandle *)h;
}

int vfm_kioctl(int fd, unsigned long request, void *arg)
{
	int rc;

	do {
		rc = ioctl(fd, request, arg);
	} while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : rc;
}

int vfm_kopen(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* VFIO_DEVICE_FEATURE with a payload of at most FEATURE_MAX_PAYLOAD bytes, copied in and
 * (on success) out; argsz covers exactly the payload. */
static int feature(struct vfm_khandle *k, uint32_t flags, void *payload, size_t len)
{
	union {
		struct vfm_device_feature f;
		uint64_t align[(FEATURE_HDR + FEATURE_MAX_PAYLOAD) / 8];
	} buf;
	int rc;

	if (len > FEATURE_MAX_PAYLOAD)
		return -EINVAL;
	memset(&buf, 0, sizeof(buf));
	buf.f.argsz = (uint32_t)(FEATURE_HDR + len);
	buf.f.flags = flags;
	if (len)
		memcpy(buf.f.data, payload, len);
	rc = vfm_kioctl(k->device_fd, VFM_DEVICE_FEATURE, &buf.f);
	if (rc < 0)
		return rc;
	if (len)
		memcpy(payload, buf.f.data, len);
	return 0;
}

static int k_get_flags(struct vfm_handle *h, uint64_t *flags)
{
	struct vfm_device_feature_migration mig = {0};
	int rc = feature(to_k(h), VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_MIGRATION, &mig,
			 sizeof(mig));

	if (rc)
		return rc;
	*flags = mig.flags;
	return 0;
}

static int k_get_state(struct vfm_handle *h, uint32_t *state)
{
	struct vfm_device_feature_mig_state ms = {.data_fd = -1};
	int rc = feature(to_k(h), VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE, &ms,
			 sizeof(ms));

	if (rc)
		return rc;
	if (ms.device_state >= VFM_STATE_NR)
		return vfm_handle_fail(h, -EPROTO, "GET MIG_DEVICE_STATE returned state %u",
				       ms.device_state);
	*state = ms.device_state;
	return 0;
}

/* A data_fd from the kernel: -1 (none) or an fd that becomes a session. */
static int take_data_fd(struct vfm_khandle *k, int32_t fd, uint32_t state,
			struct vfm_session **opened)
{
	if (fd == -1)
		return 0;
	if (fd < 0)
		return vfm_handle_fail(&k->h, -EPROTO, "SET %s returned data_fd %d",
				       vfm_state_name(state), fd);
	return vfm_ksession_new(k, fd, state, opened);
}

static int k_set_state(struct vfm_handle *h, uint32_t state, struct vfm_session **opened)
{
	struct vfm_device_feature_mig_state ms = {.device_state = state, .data_fd = -1};
	int rc;

	*opened = NULL;
	rc = feature(to_k(h), VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE, &ms,
		     sizeof(ms));
	if (rc)
		return rc;
	return take_data_fd(to_k(h), ms.data_fd, state, opened);
}

static int k_data_size(struct vfm_handle *h, uint64_t *len)
{
	struct vfm_device_feature_mig_data_size ds = {0};
	int rc = feature(to_k(h), VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_MIG_DATA_SIZE, &ds,
			 sizeof(ds));

	if (rc)
		return rc;
	*len = ds.stop_copy_length;
	return 0;
}

static int k_reset(struct vfm_handle *h)
{
	int rc = vfm_kioctl(to_k(h)->device_fd, VFM_DEVICE_RESET, NULL);

	return rc < 0 ? rc : 0;
}

/* A raw SET MIG_DEVICE_STATE that opened a data fd: hand it over as a session. */
static int raw_session(struct vfm_khandle *k, const uint8_t *reply, struct vfm_session **opened)
{
	struct vfm_device_feature hdr;
	struct vfm_device_feature_mig_state ms;
	uint32_t op;

	memcpy(&hdr, reply, sizeof(hdr));
	op = hdr.flags &
	     (VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_PROBE);
	if ((hdr.flags & VFM_DEVICE_FEATURE_MASK) != VFM_DEVICE_FEATURE_MIG_DEVICE_STATE ||
	    op != VFM_DEVICE_FEATURE_SET || hdr.argsz < FEATURE_HDR + sizeof(ms))
		return 0;
	memcpy(&ms, reply + FEATURE_HDR, sizeof(ms));
	return take_data_fd(k, ms.data_fd, ms.device_state, opened);
}

static int k_feature(struct vfm_handle *h, void *buf, size_t buf_len, struct vfm_session **opened)
{
	struct vfm_khandle *k = to_k(h);
	uint8_t *bounce;
	int rc;

	*opened = NULL;
	if (!buf || buf_len < FEATURE_HDR)
		return vfm_handle_fail(h, -EFAULT,
				       "feature buffer of %zu bytes, less than the "
				       "8-byte header",
				       buf_len);
	if (buf_len > SIZE_MAX - FEATURE_MAX_PAYLOAD)
		return -EINVAL;
	bounce = calloc(1, buf_len + FEATURE_MAX_PAYLOAD);
	if (!bounce)
		return vfm_handle_fail(h, -ENOMEM, "out of memory for a feature buffer");
	memcpy(bounce, buf, buf_len);
	rc = vfm_kioctl(k->device_fd, VFM_DEVICE_FEATURE, bounce);
	memcpy(buf, bounce, buf_len);
	if (rc >= 0)
		rc = raw_session(k, bounce, opened);
	free(bounce);
	return rc;
}

static int k_log_start(struct vfm_handle *h,
		       const struct vfm_device_feature_dma_logging_range *ranges, uint32_t n,
		       uint64_t *page_size)
{
	struct vfm_device_feature_dma_logging_control ctl = {
		.page_size = *page_size,
		.num_ranges = n,
		.ranges = (uint64_t)(uintptr_t)ranges,
	};
	int rc = feature(to_k(h), VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_START,
			 &ctl, sizeof(ctl));

	if (rc)
		return rc;
	*page_size = ctl.page_size;
	return 0;
}

static int k_log_stop(struct vfm_handle *h)
{
	return feature(to_k(h), VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL,
		       0);
}

static int k_log_report(struct vfm_handle *h, uint64_t iova, uint64_t length, uint64_t page_size,
			uint64_t *bitmap)
{
	struct vfm_device_feature_dma_logging_report rep = {
		.iova = iova,
		.length = length,
		.page_size = page_size,
		.bitmap = (uint64_t)(uintptr_t)bitmap,
	};

	return feature(to_k(h), VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT,
		       &rep, sizeof(rep));
}

static int k_checksum(struct vfm_handle *h, uint64_t *sum)
{
	(void)h;
	(void)sum;
	return -ENOTSUP;
}

static void k_close(struct vfm_handle *h)
{
	vfm_khandle_free(to_k(h));
}

#define KERNEL_OPS(kind_name)                                                                      \
	{                                                                                          \
		.kind = kind_name, .get_flags = k_get_flags, .set_state = k_set_state,             \
		.get_state = k_get_state, .data_size = k_data_size, .reset = k_reset,              \
		.feature = k_feature, .read = vfm_ksession_read, .write = vfm_ksession_write,      \
		.precopy_info = vfm_ksession_precopy_info, .session_close = vfm_ksession_close,    \
		.log_start = k_log_start, .log_stop = k_log_stop, .log_report = k_log_report,      \
		.last_reason = NULL, .checksum = k_checksum, .close = k_close,                     \
	}

const struct vfm_handle_ops vfm_khandle_cdev_ops = KERNEL_OPS("vfio");
const struct vfm_handle_ops vfm_khandle_group_ops = KERNEL_OPS("vfio-group");

struct vfm_khandle *vfm_khandle_new(const struct vfm_handle_ops *ops, const char *prefix,
				    const char *spec, const struct vfm_open_opts *opts)
{
	struct vfm_khandle *k = calloc(1, sizeof(*k));
	char name[sizeof(k->h.name)];

	if (!k)
		return NULL;
	k->device_fd = k->iommufd = k->group_fd = k->container_fd = -1;
	snprintf(name, sizeof(name), "%s%s", prefix, spec);
	vfm_handle_init(&k->h, ops, name, opts ? &opts->log : NULL);
	return k;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vfm_khandle_free(struct vfm_khandle *k)
{
	if (!k)
		return;
	/* The device first: it unbinds from the iommufd / leaves the group's container. */
	close_fd(&k->device_fd);
	close_fd(&k->iommufd);
	close_fd(&k->group_fd);
	close_fd(&k->container_fd);
	free(k);
}

int vfm_kernel_device_fd(struct vfm_handle *h)
{
	if (!h || (h->ops != &vfm_khandle_cdev_ops && h->ops != &vfm_khandle_group_ops))
		return -EINVAL;
	return to_k(h)->device_fd;
}
