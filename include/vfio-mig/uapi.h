/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Linux VFIO migration uAPI (protocol v2), as our own definitions.
 *
 * Build hosts carry old kernel headers (Debian 12 ships 6.1, which lacks PRE_COPY,
 * MIG_DATA_SIZE and the cdev/iommufd ioctls), so every value the project uses is defined
 * here with a VFM_ prefix in place of VFIO_. tests/unit/test_uapi.c checks each value
 * against <linux/vfio.h> wherever the host header defines the same name.
 *
 * Values: shared/docs/vfio-migration-v2-uapi.md section 1 (Linux 6.12).
 * Definitions only: no objects, nothing about threads.
 */
#ifndef VFIO_MIG_UAPI_H
#define VFIO_MIG_UAPI_H

#include <stdint.h>

/* ioctl numbers: all _IO(';', 100 + n), i.e. (0x3b << 8) | nr. */
#define VFM_TYPE   0x3b
#define VFM_BASE   100
#define VFM_IO(nr) ((unsigned long)((VFM_TYPE << 8) | (nr)))

#define VFM_GET_API_VERSION	     VFM_IO(VFM_BASE + 0)
#define VFM_CHECK_EXTENSION	     VFM_IO(VFM_BASE + 1)
#define VFM_SET_IOMMU		     VFM_IO(VFM_BASE + 2)
#define VFM_GROUP_GET_STATUS	     VFM_IO(VFM_BASE + 3)
#define VFM_GROUP_SET_CONTAINER	     VFM_IO(VFM_BASE + 4)
#define VFM_GROUP_UNSET_CONTAINER    VFM_IO(VFM_BASE + 5)
#define VFM_GROUP_GET_DEVICE_FD	     VFM_IO(VFM_BASE + 6)
#define VFM_DEVICE_GET_INFO	     VFM_IO(VFM_BASE + 7)
#define VFM_DEVICE_GET_REGION_INFO   VFM_IO(VFM_BASE + 8)
#define VFM_DEVICE_GET_IRQ_INFO	     VFM_IO(VFM_BASE + 9)
#define VFM_DEVICE_SET_IRQS	     VFM_IO(VFM_BASE + 10)
#define VFM_DEVICE_RESET	     VFM_IO(VFM_BASE + 11)
#define VFM_DEVICE_FEATURE	     VFM_IO(VFM_BASE + 17)
#define VFM_DEVICE_BIND_IOMMUFD	     VFM_IO(VFM_BASE + 18)
#define VFM_DEVICE_ATTACH_IOMMUFD_PT VFM_IO(VFM_BASE + 19)
#define VFM_DEVICE_DETACH_IOMMUFD_PT VFM_IO(VFM_BASE + 20)
#define VFM_MIG_GET_PRECOPY_INFO     VFM_IO(VFM_BASE + 21)

#define VFM_API_VERSION		      0
#define VFM_TYPE1v2_IOMMU	      3
#define VFM_GROUP_FLAGS_VIABLE	      (1u << 0)
#define VFM_GROUP_FLAGS_CONTAINER_SET (1u << 1)

/* struct vfio_device_feature: an 8-byte header followed by the payload. */
struct vfm_device_feature {
	uint32_t argsz;
	uint32_t flags;
	uint8_t data[];
};

#define VFM_DEVICE_FEATURE_MASK	 0xffffu
#define VFM_DEVICE_FEATURE_GET	 (1u << 16)
#define VFM_DEVICE_FEATURE_SET	 (1u << 17)
#define VFM_DEVICE_FEATURE_PROBE (1u << 18)

/* Feature indices (low 16 bits of flags). */
#define VFM_DEVICE_FEATURE_PCI_VF_TOKEN		       0
#define VFM_DEVICE_FEATURE_MIGRATION		       1
#define VFM_DEVICE_FEATURE_MIG_DEVICE_STATE	       2
#define VFM_DEVICE_FEATURE_LOW_POWER_ENTRY	       3
#define VFM_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP 4
#define VFM_DEVICE_FEATURE_LOW_POWER_EXIT	       5
#define VFM_DEVICE_FEATURE_DMA_LOGGING_START	       6
#define VFM_DEVICE_FEATURE_DMA_LOGGING_STOP	       7
#define VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT	       8
#define VFM_DEVICE_FEATURE_MIG_DATA_SIZE	       9
#define VFM_DEVICE_FEATURE_BUS_MASTER		       10
#define VFM_DEVICE_FEATURE_DMA_BUF		       11
#define VFM_DEVICE_FEATURE_MIG_PRECOPY_INFOv2	       12

/* VFIO_DEVICE_FEATURE_MIGRATION payload. */
struct vfm_device_feature_migration {
	uint64_t flags;
};
#define VFM_MIGRATION_STOP_COPY (1u << 0)
#define VFM_MIGRATION_P2P	(1u << 1)
#define VFM_MIGRATION_PRE_COPY	(1u << 2)

/* VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE payload. */
struct vfm_device_feature_mig_state {
	uint32_t device_state;
	int32_t data_fd;
};

/* enum vfio_device_mig_state */
enum vfm_state {
	VFM_STATE_ERROR = 0,
	VFM_STATE_STOP = 1,
	VFM_STATE_RUNNING = 2,
	VFM_STATE_STOP_COPY = 3,
	VFM_STATE_RESUMING = 4,
	VFM_STATE_RUNNING_P2P = 5,
	VFM_STATE_PRE_COPY = 6,
	VFM_STATE_PRE_COPY_P2P = 7,
	VFM_STATE_NR = 8,
};

/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE payload. */
struct vfm_device_feature_mig_data_size {
	uint64_t stop_copy_length;
};

/* VFIO_MIG_GET_PRECOPY_INFO, on the data fd. */
struct vfm_precopy_info {
	uint32_t argsz;
	uint32_t flags;
	uint64_t initial_bytes;
	uint64_t dirty_bytes;
};
#define VFM_PRECOPY_INFO_REINIT (1u << 0)

/* DMA logging. */
struct vfm_device_feature_dma_logging_control {
	uint64_t page_size;
	uint32_t num_ranges;
	uint32_t reserved;
	uint64_t ranges; /* pointer to struct vfm_device_feature_dma_logging_range[] */
};

struct vfm_device_feature_dma_logging_range {
	uint64_t iova;
	uint64_t length;
};

struct vfm_device_feature_dma_logging_report {
	uint64_t iova;
	uint64_t length;
	uint64_t page_size;
	uint64_t bitmap; /* pointer to uint64_t[] */
};

/* The core refuses more ranges than fit in one page (4 KiB / 16). */
#define VFM_DMA_LOGGING_MAX_RANGES 256

/* Group + container path. */
struct vfm_group_status {
	uint32_t argsz;
	uint32_t flags;
};

/* cdev + iommufd path. */
struct vfm_device_bind_iommufd {
	uint32_t argsz;
	uint32_t flags;
	int32_t iommufd;
	uint32_t out_devid;
};

struct vfm_device_attach_iommufd_pt {
	uint32_t argsz;
	uint32_t flags;
	uint32_t pt_id;
};

struct vfm_device_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t num_regions;
	uint32_t num_irqs;
	uint32_t cap_offset;
	uint32_t pad;
};

/* iommufd: _IO(';', 0x80 + n) */
#define VFM_IOMMUFD_CMD_BASE 0x80
#define VFM_IOMMU_DESTROY    ((unsigned long)((VFM_TYPE << 8) | (VFM_IOMMUFD_CMD_BASE + 0)))
#define VFM_IOMMU_IOAS_ALLOC ((unsigned long)((VFM_TYPE << 8) | (VFM_IOMMUFD_CMD_BASE + 1)))

struct vfm_iommu_ioas_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_ioas_id;
};

/* QEMU's VFIO migration stream markers (be64), uAPI doc section 6.1. */
#define VFM_MIG_FLAG_END_OF_STATE	   0xffffffffef100001ULL
#define VFM_MIG_FLAG_DEV_CONFIG_STATE	   0xffffffffef100002ULL
#define VFM_MIG_FLAG_DEV_SETUP_STATE	   0xffffffffef100003ULL
#define VFM_MIG_FLAG_DEV_DATA_STATE	   0xffffffffef100004ULL
#define VFM_MIG_FLAG_DEV_INIT_DATA_SENT	   0xffffffffef100005ULL
#define VFM_MIG_FLAG_DEV_CONFIG_LOAD_READY 0xffffffffef100006ULL

/* QEMU savevm framing, uAPI doc section 6.2. */
#define VFM_QEMU_VM_FILE_MAGIC	   0x5145564du
#define VFM_QEMU_VM_FILE_VERSION   3u
#define VFM_QEMU_VM_EOF		   0x00
#define VFM_QEMU_VM_SECTION_START  0x01
#define VFM_QEMU_VM_SECTION_PART   0x02
#define VFM_QEMU_VM_SECTION_END	   0x03
#define VFM_QEMU_VM_SECTION_FULL   0x04
#define VFM_QEMU_VM_SECTION_FOOTER 0x7e

#endif /* VFIO_MIG_UAPI_H */
