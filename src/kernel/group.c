// SPDX-License-Identifier: BSD-3-Clause
/*
 * "vfio-group:/dev/vfio/N:<device name>": the legacy group + container. Open the group,
 * check it is viable, open a container, check the API version and the type1v2 IOMMU, put
 * the group into the container, set the IOMMU type and get the device fd by name.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "khandle.h"
#include "util.h"
#include "vfio-mig/kernel.h"
#include "vfio-mig/uapi.h"

#define CONTAINER_DEV "/dev/vfio/vfio"

struct group_spec {
	char path[PATH_MAX];
	const char *name; /* inside the caller's string */
};

/* "PATH:NAME" (the first ':' splits: device names may hold ':'); "N:NAME" = /dev/vfio/N. */
static int parse_spec(const char *rest, struct group_spec *gs, char *err, size_t errlen)
{
	const char *colon = strchr(rest, ':');
	size_t len;
	int n;

	if (!colon || colon == rest || !colon[1])
		return vfm_errf(err, errlen, -EINVAL,
				"vfio-group:%s: expected vfio-group:/dev/vfio/N:<device name>",
				rest);
	len = (size_t)(colon - rest);
	if (memchr(rest, '/', len))
		n = snprintf(gs->path, sizeof(gs->path), "%.*s", (int)len, rest);
	else
		n = snprintf(gs->path, sizeof(gs->path), "/dev/vfio/%.*s", (int)len, rest);
	if (n < 0 || (size_t)n >= sizeof(gs->path))
		return vfm_errf(err, errlen, -ENAMETOOLONG, "vfio-group:%s: group path too long",
				rest);
	gs->name = colon + 1;
	return 0;
}

static int step_fail(struct vfm_khandle *k, int rc, const char *step, const char *hint)
{
	return vfm_handle_fail(&k->h, rc, "%s failed: %s%s", step, strerror(-rc), hint);
}

static const char *device_fd_hint(int rc)
{
	if (rc == -ENODEV || rc == -EINVAL)
		return " (no device of that name in the group)";
	if (rc == -EBUSY)
		return " (the device is in use through its cdev)";
	return "";
}

static const char *group_open_hint(int rc)
{
	if (rc == -ENOENT)
		return " (no such group node; kernel without CONFIG_VFIO_GROUP?)";
	if (rc == -EBUSY)
		return " (the group is open elsewhere, or a device of it is in use through its "
		       "cdev)";
	return "";
}

static int group_open(struct vfm_khandle *k, const char *path)
{
	struct vfm_group_status st = {.argsz = sizeof(st)};
	int rc = vfm_kopen(path);

	if (rc < 0)
		return step_fail(k, rc, "opening the group", group_open_hint(rc));
	k->group_fd = rc;
	rc = vfm_kioctl(k->group_fd, VFM_GROUP_GET_STATUS, &st);
	if (rc < 0)
		return step_fail(k, rc, "VFIO_GROUP_GET_STATUS", "");
	if (!(st.flags & VFM_GROUP_FLAGS_VIABLE))
		return vfm_handle_fail(&k->h, -EPERM,
				       "the group is not viable (flags 0x%x): bind every device "
				       "of the IOMMU group to a VFIO driver",
				       st.flags);
	if (st.flags & VFM_GROUP_FLAGS_CONTAINER_SET)
		return vfm_handle_fail(&k->h, -EBUSY, "the group already has a container");
	return 0;
}

static int container_open(struct vfm_khandle *k)
{
	int rc = vfm_kopen(CONTAINER_DEV);

	if (rc < 0)
		return step_fail(k, rc, "opening " CONTAINER_DEV,
				 rc == -ENOENT ? " (kernel without CONFIG_VFIO_CONTAINER?)" : "");
	k->container_fd = rc;
	rc = vfm_kioctl(k->container_fd, VFM_GET_API_VERSION, NULL);
	if (rc < 0)
		return step_fail(k, rc, "VFIO_GET_API_VERSION", "");
	if (rc != VFM_API_VERSION)
		return vfm_handle_fail(&k->h, -EPROTO, "VFIO_GET_API_VERSION: %d, expected %d", rc,
				       VFM_API_VERSION);
	rc = vfm_kioctl(k->container_fd, VFM_CHECK_EXTENSION, (void *)(uintptr_t)VFM_TYPE1v2_IOMMU);
	if (rc < 0)
		return step_fail(k, rc, "VFIO_CHECK_EXTENSION(VFIO_TYPE1v2_IOMMU)", "");
	if (rc == 0)
		return vfm_handle_fail(&k->h, -EOPNOTSUPP,
				       "the container does not offer VFIO_TYPE1v2_IOMMU");
	return 0;
}

static int group_attach(struct vfm_khandle *k, const char *name)
{
	int rc = vfm_kioctl(k->group_fd, VFM_GROUP_SET_CONTAINER, &k->container_fd);

	if (rc < 0)
		return step_fail(k, rc, "VFIO_GROUP_SET_CONTAINER", "");
	rc = vfm_kioctl(k->container_fd, VFM_SET_IOMMU, (void *)(uintptr_t)VFM_TYPE1v2_IOMMU);
	if (rc < 0)
		return step_fail(k, rc, "VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU)", "");
	rc = vfm_kioctl(k->group_fd, VFM_GROUP_GET_DEVICE_FD, (void *)name);
	if (rc < 0)
		return vfm_handle_fail(&k->h, rc, "VFIO_GROUP_GET_DEVICE_FD(%s) failed: %s%s", name,
				       strerror(-rc), device_fd_hint(rc));
	k->device_fd = rc;
	vfm_log(&k->h.log, VFM_LOG_DEBUG, "%s: group viable, type1v2 container, device fd %d",
		k->h.name, k->device_fd);
	return 0;
}

int vfm_kernel_open_group(const char *rest, const struct vfm_open_opts *opts,
			  struct vfm_handle **out, char *err, size_t errlen)
{
	struct group_spec gs;
	struct vfm_khandle *k;
	int rc;

	*out = NULL;
	if (!rest)
		rest = "";
	rc = parse_spec(rest, &gs, err, errlen);
	if (rc)
		return rc;
	k = vfm_khandle_new(&vfm_khandle_group_ops, "vfio-group:", rest, opts);
	if (!k)
		return vfm_errf(err, errlen, -ENOMEM, "vfio-group:%s: out of memory", rest);
	rc = group_open(k, gs.path);
	if (!rc)
		rc = container_open(k);
	if (!rc)
		rc = group_attach(k, gs.name);
	if (rc) {
		vfm_errf(err, errlen, rc, "%s", k->h.err);
		vfm_khandle_free(k);
		return rc;
	}
	*out = &k->h;
	return 0;
}
