/* uapi-check: our uAPI definitions (include/vfio-mig/uapi.h) against the kernel's.
 *
 * Built and run on the host by run-tier.sh once per kernel of the tier (Linux 6.12 and
 * 7.3), with that kernel cache entry's uAPI headers first on the include path (the host's
 * own <linux/vfio.h> is 6.1):
 *   gcc -std=gnu11 -I<cache>/include -Iinclude tests/kernel/uapi-check.c
 * Compares every ioctl number, constant, struct size, alignment, field offset and field
 * size the kernel transport (src/kernel/) and the tier's helpers use, and the 7.1 names
 * (PRECOPY_INFOv2, VFIO_PRECOPY_INFO_REINIT) where the headers are 7.1 or later, where
 * they must be present. Prints each mismatch and a summary line naming the headers'
 * version; exit 0 iff everything matches.
 */
#include <stddef.h>
#include <stdio.h>

#include <linux/iommufd.h>
#include <linux/version.h>
#include <linux/vfio.h>

#include "vfio-mig/uapi.h"

#if !defined(VFIO_MIGRATION_PRE_COPY) || !defined(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE) ||            \
	!defined(VFIO_DEVICE_BIND_IOMMUFD)
#error "needs the Linux >= 6.6 uAPI headers first on the include path (-I<kernel cache>/include)"
#endif

/* Linux 7.1 added the pre-copy info opt-in and its output flag (doc/uapi-7.x.md). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 1, 0) &&                                               \
	(!defined(VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2) || !defined(VFIO_PRECOPY_INFO_REINIT))
#error "Linux >= 7.1 headers without VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 / VFIO_PRECOPY_INFO_REINIT"
#endif

static unsigned checked, failed;

static void eq(const char *what, unsigned long long ours, unsigned long long theirs)
{
	checked++;
	if (ours == theirs)
		return;
	failed++;
	printf("MISMATCH %s: ours 0x%llx (%llu), kernel 0x%llx (%llu)\n", what, ours, ours, theirs,
	       theirs);
}

#define EQ(ours, theirs)                                                                           \
	eq(#ours " == " #theirs, (unsigned long long)(ours), (unsigned long long)(theirs))
/* Same size and alignment. */
#define LAYOUT(ours, theirs)                                                                       \
	do {                                                                                       \
		eq("sizeof(" #ours ") == sizeof(" #theirs ")", sizeof(ours), sizeof(theirs));      \
		eq("_Alignof(" #ours ") == _Alignof(" #theirs ")", _Alignof(ours),                 \
		   _Alignof(theirs));                                                              \
	} while (0)
/* Ours is the first part of theirs, up to and including field tf: the kernel sizes these
 * structs by argsz and takes the older, shorter layout (its minsz), so newer kernels may
 * append fields (7.x: bind_iommufd's token_uuid_ptr, attach_iommufd_pt's pasid). */
#define PREFIX(ours, theirs, tf)                                                                   \
	do {                                                                                       \
		eq("sizeof(" #ours ") == offsetofend(" #theirs ", " #tf ")", sizeof(ours),         \
		   offsetof(theirs, tf) + sizeof(((theirs *)0)->tf));                              \
		eq("_Alignof(" #ours ") <= _Alignof(" #theirs ")",                                 \
		   _Alignof(ours) <= _Alignof(theirs), 1);                                         \
	} while (0)
/* Same offset and size of a field. */
#define FIELD(ours, of, theirs, tf)                                                                \
	do {                                                                                       \
		eq("offsetof(" #ours ", " #of ") == offsetof(" #theirs ", " #tf ")",               \
		   offsetof(ours, of), offsetof(theirs, tf));                                      \
		eq("sizeof(" #ours "." #of ") == sizeof(" #theirs "." #tf ")",                     \
		   sizeof(((ours *)0)->of), sizeof(((theirs *)0)->tf));                            \
	} while (0)

static void ioctls(void)
{
	EQ(VFM_TYPE, VFIO_TYPE);
	EQ(VFM_BASE, VFIO_BASE);
	EQ(VFM_GET_API_VERSION, VFIO_GET_API_VERSION);
	EQ(VFM_CHECK_EXTENSION, VFIO_CHECK_EXTENSION);
	EQ(VFM_SET_IOMMU, VFIO_SET_IOMMU);
	EQ(VFM_GROUP_GET_STATUS, VFIO_GROUP_GET_STATUS);
	EQ(VFM_GROUP_SET_CONTAINER, VFIO_GROUP_SET_CONTAINER);
	EQ(VFM_GROUP_UNSET_CONTAINER, VFIO_GROUP_UNSET_CONTAINER);
	EQ(VFM_GROUP_GET_DEVICE_FD, VFIO_GROUP_GET_DEVICE_FD);
	EQ(VFM_DEVICE_GET_INFO, VFIO_DEVICE_GET_INFO);
	EQ(VFM_DEVICE_GET_REGION_INFO, VFIO_DEVICE_GET_REGION_INFO);
	EQ(VFM_DEVICE_GET_IRQ_INFO, VFIO_DEVICE_GET_IRQ_INFO);
	EQ(VFM_DEVICE_SET_IRQS, VFIO_DEVICE_SET_IRQS);
	EQ(VFM_DEVICE_RESET, VFIO_DEVICE_RESET);
	EQ(VFM_DEVICE_FEATURE, VFIO_DEVICE_FEATURE);
	EQ(VFM_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_BIND_IOMMUFD);
	EQ(VFM_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_ATTACH_IOMMUFD_PT);
	EQ(VFM_DEVICE_DETACH_IOMMUFD_PT, VFIO_DEVICE_DETACH_IOMMUFD_PT);
	EQ(VFM_MIG_GET_PRECOPY_INFO, VFIO_MIG_GET_PRECOPY_INFO);
	EQ(VFM_IOMMUFD_CMD_BASE, IOMMUFD_CMD_BASE);
	EQ(VFM_IOMMU_DESTROY, IOMMU_DESTROY);
	EQ(VFM_IOMMU_IOAS_ALLOC, IOMMU_IOAS_ALLOC);
}

static void constants(void)
{
	EQ(VFM_API_VERSION, VFIO_API_VERSION);
	EQ(VFM_TYPE1v2_IOMMU, VFIO_TYPE1v2_IOMMU);
	EQ(VFM_GROUP_FLAGS_VIABLE, VFIO_GROUP_FLAGS_VIABLE);
	EQ(VFM_GROUP_FLAGS_CONTAINER_SET, VFIO_GROUP_FLAGS_CONTAINER_SET);
	EQ(VFM_DEVICE_FEATURE_MASK, VFIO_DEVICE_FEATURE_MASK);
	EQ(VFM_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_GET);
	EQ(VFM_DEVICE_FEATURE_SET, VFIO_DEVICE_FEATURE_SET);
	EQ(VFM_DEVICE_FEATURE_PROBE, VFIO_DEVICE_FEATURE_PROBE);
	EQ(VFM_DEVICE_FEATURE_PCI_VF_TOKEN, VFIO_DEVICE_FEATURE_PCI_VF_TOKEN);
	EQ(VFM_DEVICE_FEATURE_MIGRATION, VFIO_DEVICE_FEATURE_MIGRATION);
	EQ(VFM_DEVICE_FEATURE_MIG_DEVICE_STATE, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE);
	EQ(VFM_DEVICE_FEATURE_LOW_POWER_ENTRY, VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY);
	EQ(VFM_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP,
	   VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP);
	EQ(VFM_DEVICE_FEATURE_LOW_POWER_EXIT, VFIO_DEVICE_FEATURE_LOW_POWER_EXIT);
	EQ(VFM_DEVICE_FEATURE_DMA_LOGGING_START, VFIO_DEVICE_FEATURE_DMA_LOGGING_START);
	EQ(VFM_DEVICE_FEATURE_DMA_LOGGING_STOP, VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP);
	EQ(VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT);
	EQ(VFM_DEVICE_FEATURE_MIG_DATA_SIZE, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE);
#ifdef VFIO_DEVICE_FEATURE_BUS_MASTER
	EQ(VFM_DEVICE_FEATURE_BUS_MASTER, VFIO_DEVICE_FEATURE_BUS_MASTER);
#endif
#ifdef VFIO_DEVICE_FEATURE_DMA_BUF
	EQ(VFM_DEVICE_FEATURE_DMA_BUF, VFIO_DEVICE_FEATURE_DMA_BUF);
#endif
#ifdef VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2
	EQ(VFM_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2);
#endif
#ifdef VFIO_PRECOPY_INFO_REINIT
	EQ(VFM_PRECOPY_INFO_REINIT, VFIO_PRECOPY_INFO_REINIT);
#endif
	EQ(VFM_MIGRATION_STOP_COPY, VFIO_MIGRATION_STOP_COPY);
	EQ(VFM_MIGRATION_P2P, VFIO_MIGRATION_P2P);
	EQ(VFM_MIGRATION_PRE_COPY, VFIO_MIGRATION_PRE_COPY);
	EQ(VFM_STATE_ERROR, VFIO_DEVICE_STATE_ERROR);
	EQ(VFM_STATE_STOP, VFIO_DEVICE_STATE_STOP);
	EQ(VFM_STATE_RUNNING, VFIO_DEVICE_STATE_RUNNING);
	EQ(VFM_STATE_STOP_COPY, VFIO_DEVICE_STATE_STOP_COPY);
	EQ(VFM_STATE_RESUMING, VFIO_DEVICE_STATE_RESUMING);
	EQ(VFM_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_RUNNING_P2P);
	EQ(VFM_STATE_PRE_COPY, VFIO_DEVICE_STATE_PRE_COPY);
	EQ(VFM_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	EQ(VFM_STATE_NR, VFIO_DEVICE_STATE_NR);
	/* 256 = PAGE_SIZE / sizeof(range) on 4 KiB pages (the core's limit). */
	EQ(VFM_DMA_LOGGING_MAX_RANGES, 4096 / sizeof(struct vfio_device_feature_dma_logging_range));
}

static void feature_structs(void)
{
	LAYOUT(struct vfm_device_feature, struct vfio_device_feature);
	FIELD(struct vfm_device_feature, argsz, struct vfio_device_feature, argsz);
	FIELD(struct vfm_device_feature, flags, struct vfio_device_feature, flags);
	EQ(offsetof(struct vfm_device_feature, data), offsetof(struct vfio_device_feature, data));

	LAYOUT(struct vfm_device_feature_migration, struct vfio_device_feature_migration);
	FIELD(struct vfm_device_feature_migration, flags, struct vfio_device_feature_migration,
	      flags);

	LAYOUT(struct vfm_device_feature_mig_state, struct vfio_device_feature_mig_state);
	FIELD(struct vfm_device_feature_mig_state, device_state,
	      struct vfio_device_feature_mig_state, device_state);
	FIELD(struct vfm_device_feature_mig_state, data_fd, struct vfio_device_feature_mig_state,
	      data_fd);

	LAYOUT(struct vfm_device_feature_mig_data_size, struct vfio_device_feature_mig_data_size);
	FIELD(struct vfm_device_feature_mig_data_size, stop_copy_length,
	      struct vfio_device_feature_mig_data_size, stop_copy_length);

	LAYOUT(struct vfm_precopy_info, struct vfio_precopy_info);
	FIELD(struct vfm_precopy_info, argsz, struct vfio_precopy_info, argsz);
	FIELD(struct vfm_precopy_info, flags, struct vfio_precopy_info, flags);
	FIELD(struct vfm_precopy_info, initial_bytes, struct vfio_precopy_info, initial_bytes);
	FIELD(struct vfm_precopy_info, dirty_bytes, struct vfio_precopy_info, dirty_bytes);
}

static void logging_structs(void)
{
	LAYOUT(struct vfm_device_feature_dma_logging_control,
	       struct vfio_device_feature_dma_logging_control);
	FIELD(struct vfm_device_feature_dma_logging_control, page_size,
	      struct vfio_device_feature_dma_logging_control, page_size);
	FIELD(struct vfm_device_feature_dma_logging_control, num_ranges,
	      struct vfio_device_feature_dma_logging_control, num_ranges);
	FIELD(struct vfm_device_feature_dma_logging_control, reserved,
	      struct vfio_device_feature_dma_logging_control, __reserved);
	FIELD(struct vfm_device_feature_dma_logging_control, ranges,
	      struct vfio_device_feature_dma_logging_control, ranges);

	LAYOUT(struct vfm_device_feature_dma_logging_range,
	       struct vfio_device_feature_dma_logging_range);
	FIELD(struct vfm_device_feature_dma_logging_range, iova,
	      struct vfio_device_feature_dma_logging_range, iova);
	FIELD(struct vfm_device_feature_dma_logging_range, length,
	      struct vfio_device_feature_dma_logging_range, length);

	LAYOUT(struct vfm_device_feature_dma_logging_report,
	       struct vfio_device_feature_dma_logging_report);
	FIELD(struct vfm_device_feature_dma_logging_report, iova,
	      struct vfio_device_feature_dma_logging_report, iova);
	FIELD(struct vfm_device_feature_dma_logging_report, length,
	      struct vfio_device_feature_dma_logging_report, length);
	FIELD(struct vfm_device_feature_dma_logging_report, page_size,
	      struct vfio_device_feature_dma_logging_report, page_size);
	FIELD(struct vfm_device_feature_dma_logging_report, bitmap,
	      struct vfio_device_feature_dma_logging_report, bitmap);
}

static void open_structs(void)
{
	LAYOUT(struct vfm_group_status, struct vfio_group_status);
	FIELD(struct vfm_group_status, argsz, struct vfio_group_status, argsz);
	FIELD(struct vfm_group_status, flags, struct vfio_group_status, flags);

	PREFIX(struct vfm_device_bind_iommufd, struct vfio_device_bind_iommufd, out_devid);
	FIELD(struct vfm_device_bind_iommufd, argsz, struct vfio_device_bind_iommufd, argsz);
	FIELD(struct vfm_device_bind_iommufd, flags, struct vfio_device_bind_iommufd, flags);
	FIELD(struct vfm_device_bind_iommufd, iommufd, struct vfio_device_bind_iommufd, iommufd);
	FIELD(struct vfm_device_bind_iommufd, out_devid, struct vfio_device_bind_iommufd,
	      out_devid);

	PREFIX(struct vfm_device_attach_iommufd_pt, struct vfio_device_attach_iommufd_pt, pt_id);
	FIELD(struct vfm_device_attach_iommufd_pt, argsz, struct vfio_device_attach_iommufd_pt,
	      argsz);
	FIELD(struct vfm_device_attach_iommufd_pt, flags, struct vfio_device_attach_iommufd_pt,
	      flags);
	FIELD(struct vfm_device_attach_iommufd_pt, pt_id, struct vfio_device_attach_iommufd_pt,
	      pt_id);

	LAYOUT(struct vfm_device_info, struct vfio_device_info);
	FIELD(struct vfm_device_info, argsz, struct vfio_device_info, argsz);
	FIELD(struct vfm_device_info, flags, struct vfio_device_info, flags);
	FIELD(struct vfm_device_info, num_regions, struct vfio_device_info, num_regions);
	FIELD(struct vfm_device_info, num_irqs, struct vfio_device_info, num_irqs);
	FIELD(struct vfm_device_info, cap_offset, struct vfio_device_info, cap_offset);
	FIELD(struct vfm_device_info, pad, struct vfio_device_info, pad);

	LAYOUT(struct vfm_iommu_ioas_alloc, struct iommu_ioas_alloc);
	FIELD(struct vfm_iommu_ioas_alloc, size, struct iommu_ioas_alloc, size);
	FIELD(struct vfm_iommu_ioas_alloc, flags, struct iommu_ioas_alloc, flags);
	FIELD(struct vfm_iommu_ioas_alloc, out_ioas_id, struct iommu_ioas_alloc, out_ioas_id);
}

int main(void)
{
	ioctls();
	constants();
	feature_structs();
	logging_structs();
	open_structs();
	printf("uapi-check: %u values compared with the Linux %u.%u headers, %u mismatch%s\n",
	       checked, LINUX_VERSION_CODE >> 16, (LINUX_VERSION_CODE >> 8) & 0xff, failed,
	       failed == 1 ? "" : "es");
	return failed ? 1 : 0;
}
