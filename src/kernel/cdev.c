// SPDX-License-Identifier: BSD-3-Clause
/*
 * "vfio:/dev/vfio/devices/vfioN": the device cdev + iommufd. Open the cdev, open
 * /dev/iommu, allocate an IOAS, bind the device to the iommufd and attach it to the IOAS
 * (no DMA mappings: migration needs none).
 */
#include <errno.h>
#include <string.h>

#include "khandle.h"
#include "util.h"
#include "vfio-mig/kernel.h"
#include "vfio-mig/uapi.h"

#define IOMMU_DEV "/dev/iommu"

static const char *open_hint(int rc)
{
	switch (rc) {
	case -ENOENT:
		return " (no such node: is the device bound to a VFIO driver, and the kernel "
		       "built with CONFIG_VFIO_DEVICE_CDEV?)";
	case -EACCES:
	case -EPERM:
		return " (permission denied: VFIO needs root or access to the node)";
	case -EBUSY:
		return " (the device is in use, by another process or through its group)";
	default:
		return "";
	}
}

/* What the kernel means by a failed bind (vfio_df_open(): the cdev path allows one
 * opener at a time; a device opened through its group is busy). */
static const char *bind_hint(int rc)
{
	if (rc == -EINVAL)
		return " (is the device already open by another process? its cdev allows one "
		       "user at a time)";
	if (rc == -EBUSY)
		return " (the device is in use through its group)";
	return "";
}

/* A failed step: the error text names the device, the step and the errno. */
static int step_fail(struct vfm_khandle *k, int rc, const char *step, const char *hint)
{
	return vfm_handle_fail(&k->h, rc, "%s failed: %s%s", step, strerror(-rc), hint);
}

static int cdev_open(struct vfm_khandle *k, const char *path)
{
	int rc = vfm_kopen(path);

	if (rc < 0)
		return step_fail(k, rc, "opening the device cdev", open_hint(rc));
	k->device_fd = rc;
	rc = vfm_kopen(IOMMU_DEV);
	if (rc < 0)
		return step_fail(k, rc, "opening " IOMMU_DEV,
				 rc == -ENOENT ? " (kernel without CONFIG_IOMMUFD?)" : "");
	k->iommufd = rc;
	return 0;
}

static int cdev_bind(struct vfm_khandle *k)
{
	struct vfm_iommu_ioas_alloc alloc = {.size = sizeof(alloc)};
	struct vfm_device_bind_iommufd bind = {.argsz = sizeof(bind)};
	struct vfm_device_attach_iommufd_pt attach = {.argsz = sizeof(attach)};
	int rc;

	rc = vfm_kioctl(k->iommufd, VFM_IOMMU_IOAS_ALLOC, &alloc);
	if (rc < 0)
		return step_fail(k, rc, "IOMMU_IOAS_ALLOC", "");
	bind.iommufd = k->iommufd;
	rc = vfm_kioctl(k->device_fd, VFM_DEVICE_BIND_IOMMUFD, &bind);
	if (rc < 0)
		return step_fail(k, rc, "VFIO_DEVICE_BIND_IOMMUFD", bind_hint(rc));
	attach.pt_id = alloc.out_ioas_id;
	rc = vfm_kioctl(k->device_fd, VFM_DEVICE_ATTACH_IOMMUFD_PT, &attach);
	if (rc < 0)
		return step_fail(k, rc, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", "");
	vfm_log(&k->h.log, VFM_LOG_DEBUG, "%s: iommufd IOAS %u, device id %u, attached to pt %u",
		k->h.name, alloc.out_ioas_id, bind.out_devid, attach.pt_id);
	return 0;
}

int vfm_kernel_open_cdev(const char *path, const struct vfm_open_opts *opts,
			 struct vfm_handle **out, char *err, size_t errlen)
{
	struct vfm_khandle *k;
	int rc;

	*out = NULL;
	if (!path || !*path)
		return vfm_errf(err, errlen, -EINVAL,
				"vfio: expects a device cdev, e.g. vfio:/dev/vfio/devices/vfio0");
	k = vfm_khandle_new(&vfm_khandle_cdev_ops, "vfio:", path, opts);
	if (!k)
		return vfm_errf(err, errlen, -ENOMEM, "vfio:%s: out of memory", path);
	rc = cdev_open(k, path);
	if (!rc)
		rc = cdev_bind(k);
	if (rc) {
		vfm_errf(err, errlen, rc, "%s", k->h.err);
		vfm_khandle_free(k);
		return rc;
	}
	*out = &k->h;
	return 0;
}
