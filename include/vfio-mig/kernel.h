/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel VFIO transport: a struct vfm_handle on a device the Linux kernel exports
 * through VFIO, reached either way the kernel offers:
 *
 *   "vfio:/dev/vfio/devices/vfioN"        the device cdev + iommufd (Linux >= 6.6 with
 *                                          CONFIG_VFIO_DEVICE_CDEV and CONFIG_IOMMUFD):
 *                                          open the cdev, open /dev/iommu, IOMMU_IOAS_ALLOC,
 *                                          VFIO_DEVICE_BIND_IOMMUFD,
 *                                          VFIO_DEVICE_ATTACH_IOMMUFD_PT
 *   "vfio-group:/dev/vfio/N:<device name>" the legacy group + container: VFIO_GROUP_GET_STATUS
 *                                          (viable), /dev/vfio/vfio, VFIO_GET_API_VERSION,
 *                                          VFIO_CHECK_EXTENSION(TYPE1v2),
 *                                          VFIO_GROUP_SET_CONTAINER, VFIO_SET_IOMMU(TYPE1v2),
 *                                          VFIO_GROUP_GET_DEVICE_FD(<device name>)
 *                                          ("vfio-group:N:<name>" means /dev/vfio/N; the name
 *                                          may hold ':', e.g. a PCI address 0000:00:03.0)
 *
 * The functions take the spec after its prefix (vfm_handle_open() strips it). The handle's
 * kind is "vfio" or "vfio-group"; its name is the whole spec. Every operation of the
 * migration uAPI maps onto one ioctl, read() or write(); errors are the kernel's errno
 * (negative), never translated. The definitions used are our own (uapi.h), checked
 * against the Linux 6.12 headers by the kernel test tier (tests/kernel/uapi-check.c).
 *
 * Operations, as the kernel sees them:
 *   get_flags     VFIO_DEVICE_FEATURE GET MIGRATION (-ENOTTY: no v2 migration)
 *   set_state     SET MIG_DEVICE_STATE; a returned data_fd >= 0 becomes the session
 *                 (the session owns the fd and closes it in session_close)
 *   get_state     GET MIG_DEVICE_STATE
 *   data_size     GET MIG_DATA_SIZE
 *   reset         VFIO_DEVICE_RESET
 *   feature       raw VFIO_DEVICE_FEATURE on the device fd with the caller's buffer, passed
 *                 as is: the DMA logging payloads are the KERNEL layout, i.e. `ranges`
 *                 (START) and `bitmap` (REPORT) are user pointers, not inline arrays as
 *                 over vfio-user. The buffer is bounced through a copy 64 bytes longer
 *                 than buf_len, so an argsz larger than the buffer never lets the kernel
 *                 touch memory past it. A SET MIG_DEVICE_STATE that opens a data fd hands
 *                 it to *opened (which owns it: do not close the data_fd of the reply).
 *   read, write   read()/write() on the data fd: EINTR retried, short counts returned as
 *                 they come, -ENOMSG passed up (PRE_COPY temporary end, like 0)
 *   precopy_info  VFIO_MIG_GET_PRECOPY_INFO on the data fd (argsz 24)
 *   log_start     SET DMA_LOGGING_START; `ranges` passed to the kernel as a pointer
 *   log_stop      SET DMA_LOGGING_STOP
 *   log_report    GET DMA_LOGGING_REPORT; the kernel sets bits in `bitmap`, which must
 *                 hold DIV_ROUND_UP(length / page_size, 64) words (it never clears any)
 *   checksum      -ENOTSUP (a kernel device has no sample-device checksum)
 *   last_reason   none: the kernel gives only an errno
 *   close         device fd, then the iommufd (cdev) or the group, then the container
 *
 * Threads: as handle.h (one thread at a time per handle; sessions may be read from a
 * helper thread while the handle is idle).
 */
#ifndef VFIO_MIG_KERNEL_H
#define VFIO_MIG_KERNEL_H

#include <stddef.h>

#include "handle.h"

/* "vfio:" devices: path is the device cdev, e.g. "/dev/vfio/devices/vfio3". */
int vfm_kernel_open_cdev(const char *path, const struct vfm_open_opts *opts,
			 struct vfm_handle **out, char *err, size_t errlen);

/* "vfio-group:" devices: rest is "/dev/vfio/N:<device name>" (or "N:<device name>"). */
int vfm_kernel_open_group(const char *rest, const struct vfm_open_opts *opts,
			  struct vfm_handle **out, char *err, size_t errlen);

/* The device fd of a kernel handle (for region access by tools and tests), or -EINVAL if
 * h is not a kernel handle. The handle keeps ownership. */
int vfm_kernel_device_fd(struct vfm_handle *h);

#endif /* VFIO_MIG_KERNEL_H */
