/* SPDX-License-Identifier: BSD-3-Clause */
/* Internal to the kernel transport: the handle, its sessions and the ioctl helpers. */
#ifndef VFM_KERNEL_KHANDLE_H
#define VFM_KERNEL_KHANDLE_H

#include <stddef.h>
#include <stdint.h>

#include "vfio-mig/handle.h"

/* A device handle on a kernel VFIO device. Unused fds are -1. */
struct vfm_khandle {
	struct vfm_handle h;
	int device_fd;
	int iommufd;	  /* cdev path */
	int group_fd;	  /* group path */
	int container_fd; /* group path */
};

/* A data transfer session: the data fd a SET MIG_DEVICE_STATE returned. */
struct vfm_ksession {
	struct vfm_session s;
	int fd;
};

extern const struct vfm_handle_ops vfm_khandle_cdev_ops;
extern const struct vfm_handle_ops vfm_khandle_group_ops;

/* A handle with every fd -1, named prefix + spec; NULL when out of memory. */
struct vfm_khandle *vfm_khandle_new(const struct vfm_handle_ops *ops, const char *prefix,
				    const char *spec, const struct vfm_open_opts *opts);
/* Closes every fd in the right order and frees the handle. */
void vfm_khandle_free(struct vfm_khandle *k);

/* ioctl(): the (non-negative) result or -errno. */
int vfm_kioctl(int fd, unsigned long request, void *arg);
/* Opens a device node O_RDWR | O_CLOEXEC: the fd or -errno. */
int vfm_kopen(const char *path);

/* Wraps a data fd in a session (saving unless the state is RESUMING). Closes the fd and
 * returns -ENOMEM when out of memory. */
int vfm_ksession_new(struct vfm_khandle *k, int fd, uint32_t state, struct vfm_session **out);
ssize_t vfm_ksession_read(struct vfm_session *s, void *buf, size_t len);
ssize_t vfm_ksession_write(struct vfm_session *s, const void *buf, size_t len);
int vfm_ksession_precopy_info(struct vfm_session *s, uint64_t *initial, uint64_t *dirty,
			      uint32_t *flags);
void vfm_ksession_close(struct vfm_session *s);

#endif /* VFM_KERNEL_KHANDLE_H */
