// SPDX-License-Identifier: BSD-3-Clause
/*
 * include/vfio-mig/uapi.h against the build host's <linux/vfio.h> (every name the host
 * header also defines: macros, enum values, ioctl numbers, struct sizes and offsets) and
 * against the literal numbers of the uAPI doc (shared/docs/vfio-migration-v2-uapi.md
 * sections 1 and 6). Debian 12 carries 6.1 headers, which lack PRE_COPY, MIG_DATA_SIZE,
 * the precopy info ioctl and the cdev/iommufd ioctls: those comparisons are compiled
 * only where the host defines the name, and the doc's literals cover them everywhere.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/ioctl.h>
#include <linux/vfio.h>
#if defined(__has_include)
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#define HAVE_IOMMUFD_H 1
#endif
#endif

#include <cmocka.h>

#include "vfio-mig/stream.h"
#include "vfio-mig/uapi.h"

static unsigned compared; /* how many host names were compared */

#define SAME(ours, theirs)                                                                         \
	do {                                                                                       \
		unsigned long long o_ = (unsigned long long)(ours);                                \
		unsigned long long t_ = (unsigned long long)(theirs);                              \
		if (o_ != t_)                                                                      \
			fail_msg("%s = 0x%llx but the host's %s = 0x%llx", #ours, o_, #theirs,     \
				 t_);                                                              \
		compared++;                                                                        \
	} while (0)

#define SAME_OFF(ours, theirs, ofield, tfield)                                                     \
	SAME(offsetof(struct ours, ofield), offsetof(struct theirs, tfield))

#define SAME_SIZE(ours, theirs) SAME(sizeof(struct ours), sizeof(struct theirs))

#define SAME_ALIGN(ours, theirs) SAME(alignof(struct ours), alignof(struct theirs))

/* ---- against the host header ---------------------------------------------------------- */

static void test_host_ioctl_numbers(void **st)
{
	(void)st;
	compared = 0;
	SAME(VFM_TYPE, VFIO_TYPE);
	SAME(VFM_BASE, VFIO_BASE);
#ifdef VFIO_GET_API_VERSION
	SAME(VFM_GET_API_VERSION, VFIO_GET_API_VERSION);
#endif
#ifdef VFIO_CHECK_EXTENSION
	SAME(VFM_CHECK_EXTENSION, VFIO_CHECK_EXTENSION);
#endif
#ifdef VFIO_SET_IOMMU
	SAME(VFM_SET_IOMMU, VFIO_SET_IOMMU);
#endif
#ifdef VFIO_GROUP_GET_STATUS
	SAME(VFM_GROUP_GET_STATUS, VFIO_GROUP_GET_STATUS);
#endif
#ifdef VFIO_GROUP_SET_CONTAINER
	SAME(VFM_GROUP_SET_CONTAINER, VFIO_GROUP_SET_CONTAINER);
#endif
#ifdef VFIO_GROUP_UNSET_CONTAINER
	SAME(VFM_GROUP_UNSET_CONTAINER, VFIO_GROUP_UNSET_CONTAINER);
#endif
#ifdef VFIO_GROUP_GET_DEVICE_FD
	SAME(VFM_GROUP_GET_DEVICE_FD, VFIO_GROUP_GET_DEVICE_FD);
#endif
#ifdef VFIO_DEVICE_GET_INFO
	SAME(VFM_DEVICE_GET_INFO, VFIO_DEVICE_GET_INFO);
#endif
#ifdef VFIO_DEVICE_GET_REGION_INFO
	SAME(VFM_DEVICE_GET_REGION_INFO, VFIO_DEVICE_GET_REGION_INFO);
#endif
#ifdef VFIO_DEVICE_GET_IRQ_INFO
	SAME(VFM_DEVICE_GET_IRQ_INFO, VFIO_DEVICE_GET_IRQ_INFO);
#endif
#ifdef VFIO_DEVICE_SET_IRQS
	SAME(VFM_DEVICE_SET_IRQS, VFIO_DEVICE_SET_IRQS);
#endif
#ifdef VFIO_DEVICE_RESET
	SAME(VFM_DEVICE_RESET, VFIO_DEVICE_RESET);
#endif
#ifdef VFIO_DEVICE_FEATURE
	SAME(VFM_DEVICE_FEATURE, VFIO_DEVICE_FEATURE);
#endif
#ifdef VFIO_DEVICE_BIND_IOMMUFD
	SAME(VFM_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_BIND_IOMMUFD);
#endif
#ifdef VFIO_DEVICE_ATTACH_IOMMUFD_PT
	SAME(VFM_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_ATTACH_IOMMUFD_PT);
#endif
#ifdef VFIO_DEVICE_DETACH_IOMMUFD_PT
	SAME(VFM_DEVICE_DETACH_IOMMUFD_PT, VFIO_DEVICE_DETACH_IOMMUFD_PT);
#endif
#ifdef VFIO_MIG_GET_PRECOPY_INFO
	SAME(VFM_MIG_GET_PRECOPY_INFO, VFIO_MIG_GET_PRECOPY_INFO);
#endif
#ifdef HAVE_IOMMUFD_H
#ifdef IOMMU_DESTROY
	SAME(VFM_IOMMU_DESTROY, IOMMU_DESTROY);
#endif
#ifdef IOMMU_IOAS_ALLOC
	SAME(VFM_IOMMU_IOAS_ALLOC, IOMMU_IOAS_ALLOC);
#endif
#ifdef IOMMUFD_TYPE
	SAME(VFM_TYPE, IOMMUFD_TYPE);
#endif
	SAME(VFM_IOMMUFD_CMD_BASE, IOMMUFD_CMD_BASE);
#endif
	/* The ioctls every migration-capable header has (5.18+). */
	assert_true(compared >= 2 + 13);
	print_message("# compared %u ioctl values with the host's headers\n", compared);
}

static void test_host_constants(void **st)
{
	(void)st;
	compared = 0;
#ifdef VFIO_API_VERSION
	SAME(VFM_API_VERSION, VFIO_API_VERSION);
#endif
#ifdef VFIO_TYPE1v2_IOMMU
	SAME(VFM_TYPE1v2_IOMMU, VFIO_TYPE1v2_IOMMU);
#endif
#ifdef VFIO_GROUP_FLAGS_VIABLE
	SAME(VFM_GROUP_FLAGS_VIABLE, VFIO_GROUP_FLAGS_VIABLE);
#endif
#ifdef VFIO_GROUP_FLAGS_CONTAINER_SET
	SAME(VFM_GROUP_FLAGS_CONTAINER_SET, VFIO_GROUP_FLAGS_CONTAINER_SET);
#endif
#ifdef VFIO_DEVICE_FEATURE_MASK
	SAME(VFM_DEVICE_FEATURE_MASK, VFIO_DEVICE_FEATURE_MASK);
#endif
#ifdef VFIO_DEVICE_FEATURE_GET
	SAME(VFM_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_GET);
#endif
#ifdef VFIO_DEVICE_FEATURE_SET
	SAME(VFM_DEVICE_FEATURE_SET, VFIO_DEVICE_FEATURE_SET);
#endif
#ifdef VFIO_DEVICE_FEATURE_PROBE
	SAME(VFM_DEVICE_FEATURE_PROBE, VFIO_DEVICE_FEATURE_PROBE);
#endif
#ifdef VFIO_DEVICE_FEATURE_PCI_VF_TOKEN
	SAME(VFM_DEVICE_FEATURE_PCI_VF_TOKEN, VFIO_DEVICE_FEATURE_PCI_VF_TOKEN);
#endif
#ifdef VFIO_DEVICE_FEATURE_MIGRATION
	SAME(VFM_DEVICE_FEATURE_MIGRATION, VFIO_DEVICE_FEATURE_MIGRATION);
#endif
#ifdef VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
	SAME(VFM_DEVICE_FEATURE_MIG_DEVICE_STATE, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE);
#endif
#ifdef VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY
	SAME(VFM_DEVICE_FEATURE_LOW_POWER_ENTRY, VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY);
#endif
#ifdef VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP
	SAME(VFM_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP,
	     VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP);
#endif
#ifdef VFIO_DEVICE_FEATURE_LOW_POWER_EXIT
	SAME(VFM_DEVICE_FEATURE_LOW_POWER_EXIT, VFIO_DEVICE_FEATURE_LOW_POWER_EXIT);
#endif
#ifdef VFIO_DEVICE_FEATURE_DMA_LOGGING_START
	SAME(VFM_DEVICE_FEATURE_DMA_LOGGING_START, VFIO_DEVICE_FEATURE_DMA_LOGGING_START);
#endif
#ifdef VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP
	SAME(VFM_DEVICE_FEATURE_DMA_LOGGING_STOP, VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP);
#endif
#ifdef VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT
	SAME(VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT);
#endif
#ifdef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
	SAME(VFM_DEVICE_FEATURE_MIG_DATA_SIZE, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE);
#endif
#ifdef VFIO_DEVICE_FEATURE_BUS_MASTER
	SAME(VFM_DEVICE_FEATURE_BUS_MASTER, VFIO_DEVICE_FEATURE_BUS_MASTER);
#endif
#ifdef VFIO_DEVICE_FEATURE_DMA_BUF
	SAME(VFM_DEVICE_FEATURE_DMA_BUF, VFIO_DEVICE_FEATURE_DMA_BUF);
#endif
#ifdef VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2
	SAME(VFM_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2);
#endif
#ifdef VFIO_MIGRATION_STOP_COPY
	SAME(VFM_MIGRATION_STOP_COPY, VFIO_MIGRATION_STOP_COPY);
#endif
#ifdef VFIO_MIGRATION_P2P
	SAME(VFM_MIGRATION_P2P, VFIO_MIGRATION_P2P);
#endif
#ifdef VFIO_MIGRATION_PRE_COPY
	SAME(VFM_MIGRATION_PRE_COPY, VFIO_MIGRATION_PRE_COPY);
#endif
#ifdef VFIO_PRECOPY_INFO_REINIT
	SAME(VFM_PRECOPY_INFO_REINIT, VFIO_PRECOPY_INFO_REINIT);
#endif
	assert_true(compared >= 14);
	print_message("# compared %u constants with the host's headers\n", compared);
}

static void test_host_states(void **st)
{
	(void)st;
	compared = 0;
#ifdef VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
	/* enum vfio_device_mig_state arrived with MIG_DEVICE_STATE (5.18) */
	SAME(VFM_STATE_ERROR, VFIO_DEVICE_STATE_ERROR);
	SAME(VFM_STATE_STOP, VFIO_DEVICE_STATE_STOP);
	SAME(VFM_STATE_RUNNING, VFIO_DEVICE_STATE_RUNNING);
	SAME(VFM_STATE_STOP_COPY, VFIO_DEVICE_STATE_STOP_COPY);
	SAME(VFM_STATE_RESUMING, VFIO_DEVICE_STATE_RESUMING);
	SAME(VFM_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_RUNNING_P2P);
	assert_int_equal(sizeof(enum vfio_device_mig_state) <= sizeof(uint32_t), 1);
#endif
#ifdef VFIO_MIGRATION_PRE_COPY
	SAME(VFM_STATE_PRE_COPY, VFIO_DEVICE_STATE_PRE_COPY);
	SAME(VFM_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_PRE_COPY_P2P);
#endif
	print_message("# compared %u state values with the host's headers\n", compared);
}

static void test_host_structs(void **st)
{
	(void)st;
	compared = 0;
	SAME_SIZE(vfm_device_feature, vfio_device_feature);
	SAME_ALIGN(vfm_device_feature, vfio_device_feature);
	SAME_OFF(vfm_device_feature, vfio_device_feature, argsz, argsz);
	SAME_OFF(vfm_device_feature, vfio_device_feature, flags, flags);
	SAME_OFF(vfm_device_feature, vfio_device_feature, data, data);

	SAME_SIZE(vfm_group_status, vfio_group_status);
	SAME_OFF(vfm_group_status, vfio_group_status, argsz, argsz);
	SAME_OFF(vfm_group_status, vfio_group_status, flags, flags);

	SAME_OFF(vfm_device_info, vfio_device_info, argsz, argsz);
	SAME_OFF(vfm_device_info, vfio_device_info, flags, flags);
	SAME_OFF(vfm_device_info, vfio_device_info, num_regions, num_regions);
	SAME_OFF(vfm_device_info, vfio_device_info, num_irqs, num_irqs);
	SAME_OFF(vfm_device_info, vfio_device_info, cap_offset, cap_offset);
	/* Newer headers end the struct with "__u32 pad" (24 bytes); 6.1 ends at
	 * cap_offset (20). Ours has the pad: equal where the host has it, else 4 more. */
	if (sizeof(struct vfio_device_info) == 24)
		SAME_SIZE(vfm_device_info, vfio_device_info);
	else
		SAME(sizeof(struct vfm_device_info), sizeof(struct vfio_device_info) + 4);

#ifdef VFIO_DEVICE_FEATURE_MIGRATION
	SAME_SIZE(vfm_device_feature_migration, vfio_device_feature_migration);
	SAME_ALIGN(vfm_device_feature_migration, vfio_device_feature_migration);
	SAME_OFF(vfm_device_feature_migration, vfio_device_feature_migration, flags, flags);
#endif
#ifdef VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE
	SAME_SIZE(vfm_device_feature_mig_state, vfio_device_feature_mig_state);
	SAME_ALIGN(vfm_device_feature_mig_state, vfio_device_feature_mig_state);
	SAME_OFF(vfm_device_feature_mig_state, vfio_device_feature_mig_state, device_state,
		 device_state);
	SAME_OFF(vfm_device_feature_mig_state, vfio_device_feature_mig_state, data_fd, data_fd);
#endif
#ifdef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
	SAME_SIZE(vfm_device_feature_mig_data_size, vfio_device_feature_mig_data_size);
	SAME_OFF(vfm_device_feature_mig_data_size, vfio_device_feature_mig_data_size,
		 stop_copy_length, stop_copy_length);
#endif
#ifdef VFIO_MIG_GET_PRECOPY_INFO
	SAME_SIZE(vfm_precopy_info, vfio_precopy_info);
	SAME_ALIGN(vfm_precopy_info, vfio_precopy_info);
	SAME_OFF(vfm_precopy_info, vfio_precopy_info, argsz, argsz);
	SAME_OFF(vfm_precopy_info, vfio_precopy_info, flags, flags);
	SAME_OFF(vfm_precopy_info, vfio_precopy_info, initial_bytes, initial_bytes);
	SAME_OFF(vfm_precopy_info, vfio_precopy_info, dirty_bytes, dirty_bytes);
#endif
#ifdef VFIO_DEVICE_FEATURE_DMA_LOGGING_START
	SAME_SIZE(vfm_device_feature_dma_logging_control, vfio_device_feature_dma_logging_control);
	SAME_ALIGN(vfm_device_feature_dma_logging_control, vfio_device_feature_dma_logging_control);
	SAME_OFF(vfm_device_feature_dma_logging_control, vfio_device_feature_dma_logging_control,
		 page_size, page_size);
	SAME_OFF(vfm_device_feature_dma_logging_control, vfio_device_feature_dma_logging_control,
		 num_ranges, num_ranges);
	SAME_OFF(vfm_device_feature_dma_logging_control, vfio_device_feature_dma_logging_control,
		 reserved, __reserved);
	SAME_OFF(vfm_device_feature_dma_logging_control, vfio_device_feature_dma_logging_control,
		 ranges, ranges);
	SAME_SIZE(vfm_device_feature_dma_logging_range, vfio_device_feature_dma_logging_range);
	SAME_OFF(vfm_device_feature_dma_logging_range, vfio_device_feature_dma_logging_range, iova,
		 iova);
	SAME_OFF(vfm_device_feature_dma_logging_range, vfio_device_feature_dma_logging_range,
		 length, length);
#endif
#ifdef VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT
	SAME_SIZE(vfm_device_feature_dma_logging_report, vfio_device_feature_dma_logging_report);
	SAME_OFF(vfm_device_feature_dma_logging_report, vfio_device_feature_dma_logging_report,
		 iova, iova);
	SAME_OFF(vfm_device_feature_dma_logging_report, vfio_device_feature_dma_logging_report,
		 length, length);
	SAME_OFF(vfm_device_feature_dma_logging_report, vfio_device_feature_dma_logging_report,
		 page_size, page_size);
	SAME_OFF(vfm_device_feature_dma_logging_report, vfio_device_feature_dma_logging_report,
		 bitmap, bitmap);
#endif
#ifdef VFIO_DEVICE_BIND_IOMMUFD
	/* Later headers append fields (a token pointer): compare the 6.6 prefix. */
	SAME_OFF(vfm_device_bind_iommufd, vfio_device_bind_iommufd, argsz, argsz);
	SAME_OFF(vfm_device_bind_iommufd, vfio_device_bind_iommufd, flags, flags);
	SAME_OFF(vfm_device_bind_iommufd, vfio_device_bind_iommufd, iommufd, iommufd);
	SAME_OFF(vfm_device_bind_iommufd, vfio_device_bind_iommufd, out_devid, out_devid);
	assert_true(sizeof(struct vfm_device_bind_iommufd) <=
		    sizeof(struct vfio_device_bind_iommufd));
#endif
#ifdef VFIO_DEVICE_ATTACH_IOMMUFD_PT
	SAME_OFF(vfm_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt, argsz, argsz);
	SAME_OFF(vfm_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt, flags, flags);
	SAME_OFF(vfm_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt, pt_id, pt_id);
	assert_true(sizeof(struct vfm_device_attach_iommufd_pt) <=
		    sizeof(struct vfio_device_attach_iommufd_pt));
#endif
#ifdef HAVE_IOMMUFD_H
	SAME_SIZE(vfm_iommu_ioas_alloc, iommu_ioas_alloc);
	SAME_OFF(vfm_iommu_ioas_alloc, iommu_ioas_alloc, size, size);
	SAME_OFF(vfm_iommu_ioas_alloc, iommu_ioas_alloc, flags, flags);
	SAME_OFF(vfm_iommu_ioas_alloc, iommu_ioas_alloc, out_ioas_id, out_ioas_id);
#endif
	assert_true(compared >= 20);
	print_message("# compared %u struct sizes and offsets with the host's headers\n", compared);
}

/* Every VFM ioctl is _IO(';', nr) as the kernel builds it, including the ones the host
 * header is too old to name. */
static void test_ioctl_encoding(void **st)
{
	(void)st;
	assert_int_equal(VFM_GET_API_VERSION, _IO(';', 100));
	assert_int_equal(VFM_CHECK_EXTENSION, _IO(';', 101));
	assert_int_equal(VFM_SET_IOMMU, _IO(';', 102));
	assert_int_equal(VFM_GROUP_GET_STATUS, _IO(';', 103));
	assert_int_equal(VFM_GROUP_SET_CONTAINER, _IO(';', 104));
	assert_int_equal(VFM_GROUP_UNSET_CONTAINER, _IO(';', 105));
	assert_int_equal(VFM_GROUP_GET_DEVICE_FD, _IO(';', 106));
	assert_int_equal(VFM_DEVICE_GET_INFO, _IO(';', 107));
	assert_int_equal(VFM_DEVICE_GET_REGION_INFO, _IO(';', 108));
	assert_int_equal(VFM_DEVICE_GET_IRQ_INFO, _IO(';', 109));
	assert_int_equal(VFM_DEVICE_SET_IRQS, _IO(';', 110));
	assert_int_equal(VFM_DEVICE_RESET, _IO(';', 111));
	assert_int_equal(VFM_DEVICE_FEATURE, _IO(';', 117));
	assert_int_equal(VFM_DEVICE_BIND_IOMMUFD, _IO(';', 118));
	assert_int_equal(VFM_DEVICE_ATTACH_IOMMUFD_PT, _IO(';', 119));
	assert_int_equal(VFM_DEVICE_DETACH_IOMMUFD_PT, _IO(';', 120));
	assert_int_equal(VFM_MIG_GET_PRECOPY_INFO, _IO(';', 121));
	assert_int_equal(VFM_IOMMU_DESTROY, _IO(';', 0x80));
	assert_int_equal(VFM_IOMMU_IOAS_ALLOC, _IO(';', 0x81));
}

/* ---- against the doc's literal numbers -------------------------------------------------- */

static void test_doc_ioctls(void **st)
{
	(void)st;
	/* section 1.1 */
	assert_int_equal(VFM_TYPE, 0x3b);
	assert_int_equal(VFM_TYPE, ';');
	assert_int_equal(VFM_BASE, 100);
	assert_int_equal(VFM_DEVICE_FEATURE, 0x3b75);
	assert_int_equal(VFM_DEVICE_RESET, 0x3b6f);
	assert_int_equal(VFM_MIG_GET_PRECOPY_INFO, 0x3b79);
}

static void test_doc_feature(void **st)
{
	(void)st;
	/* section 1.2 */
	assert_int_equal(sizeof(struct vfm_device_feature), 8);
	assert_int_equal(alignof(struct vfm_device_feature), 4);
	assert_int_equal(offsetof(struct vfm_device_feature, argsz), 0);
	assert_int_equal(offsetof(struct vfm_device_feature, flags), 4);
	assert_int_equal(offsetof(struct vfm_device_feature, data), 8);
	assert_int_equal(VFM_DEVICE_FEATURE_MASK, 0xffff);
	assert_int_equal(VFM_DEVICE_FEATURE_GET, 0x10000);
	assert_int_equal(VFM_DEVICE_FEATURE_SET, 0x20000);
	assert_int_equal(VFM_DEVICE_FEATURE_PROBE, 0x40000);
	assert_int_equal(VFM_DEVICE_FEATURE_PCI_VF_TOKEN, 0);
	assert_int_equal(VFM_DEVICE_FEATURE_MIGRATION, 1);
	assert_int_equal(VFM_DEVICE_FEATURE_MIG_DEVICE_STATE, 2);
	assert_int_equal(VFM_DEVICE_FEATURE_LOW_POWER_ENTRY, 3);
	assert_int_equal(VFM_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP, 4);
	assert_int_equal(VFM_DEVICE_FEATURE_LOW_POWER_EXIT, 5);
	assert_int_equal(VFM_DEVICE_FEATURE_DMA_LOGGING_START, 6);
	assert_int_equal(VFM_DEVICE_FEATURE_DMA_LOGGING_STOP, 7);
	assert_int_equal(VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT, 8);
	assert_int_equal(VFM_DEVICE_FEATURE_MIG_DATA_SIZE, 9);
	assert_int_equal(VFM_DEVICE_FEATURE_BUS_MASTER, 10);
	assert_int_equal(VFM_DEVICE_FEATURE_DMA_BUF, 11);
	assert_int_equal(VFM_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, 12);
}

static void test_doc_migration(void **st)
{
	(void)st;
	/* section 1.3 */
	assert_int_equal(sizeof(struct vfm_device_feature_migration), 8);
	assert_int_equal(alignof(struct vfm_device_feature_migration), 8);
	assert_int_equal(VFM_MIGRATION_STOP_COPY, 0x1);
	assert_int_equal(VFM_MIGRATION_P2P, 0x2);
	assert_int_equal(VFM_MIGRATION_PRE_COPY, 0x4);
	/* section 1.4 */
	assert_int_equal(sizeof(struct vfm_device_feature_mig_state), 8);
	assert_int_equal(alignof(struct vfm_device_feature_mig_state), 4);
	assert_int_equal(offsetof(struct vfm_device_feature_mig_state, device_state), 0);
	assert_int_equal(offsetof(struct vfm_device_feature_mig_state, data_fd), 4);
	{
		/* data_fd is signed (__s32): -1 must read back as -1 */
		struct vfm_device_feature_mig_state ms = {.data_fd = -1};

		assert_true(ms.data_fd < 0);
	}
	assert_int_equal(VFM_STATE_ERROR, 0);
	assert_int_equal(VFM_STATE_STOP, 1);
	assert_int_equal(VFM_STATE_RUNNING, 2);
	assert_int_equal(VFM_STATE_STOP_COPY, 3);
	assert_int_equal(VFM_STATE_RESUMING, 4);
	assert_int_equal(VFM_STATE_RUNNING_P2P, 5);
	assert_int_equal(VFM_STATE_PRE_COPY, 6);
	assert_int_equal(VFM_STATE_PRE_COPY_P2P, 7);
	assert_int_equal(VFM_STATE_NR, 8);
	/* section 1.5 */
	assert_int_equal(sizeof(struct vfm_device_feature_mig_data_size), 8);
	assert_int_equal(offsetof(struct vfm_device_feature_mig_data_size, stop_copy_length), 0);
	assert_int_equal(sizeof(struct vfm_precopy_info), 24);
	assert_int_equal(alignof(struct vfm_precopy_info), 8);
	assert_int_equal(offsetof(struct vfm_precopy_info, argsz), 0);
	assert_int_equal(offsetof(struct vfm_precopy_info, flags), 4);
	assert_int_equal(offsetof(struct vfm_precopy_info, initial_bytes), 8);
	assert_int_equal(offsetof(struct vfm_precopy_info, dirty_bytes), 16);
	/* section 1.9 */
	assert_int_equal(VFM_PRECOPY_INFO_REINIT, 1);
}

static void test_doc_dma_logging(void **st)
{
	(void)st;
	/* section 1.6 */
	assert_int_equal(sizeof(struct vfm_device_feature_dma_logging_control), 24);
	assert_int_equal(offsetof(struct vfm_device_feature_dma_logging_control, page_size), 0);
	assert_int_equal(offsetof(struct vfm_device_feature_dma_logging_control, num_ranges), 8);
	assert_int_equal(offsetof(struct vfm_device_feature_dma_logging_control, reserved), 12);
	assert_int_equal(offsetof(struct vfm_device_feature_dma_logging_control, ranges), 16);
	assert_int_equal(sizeof(struct vfm_device_feature_dma_logging_range), 16);
	assert_int_equal(offsetof(struct vfm_device_feature_dma_logging_range, iova), 0);
	assert_int_equal(offsetof(struct vfm_device_feature_dma_logging_range, length), 8);
	assert_int_equal(sizeof(struct vfm_device_feature_dma_logging_report), 32);
	assert_int_equal(offsetof(struct vfm_device_feature_dma_logging_report, iova), 0);
	assert_int_equal(offsetof(struct vfm_device_feature_dma_logging_report, length), 8);
	assert_int_equal(offsetof(struct vfm_device_feature_dma_logging_report, page_size), 16);
	assert_int_equal(offsetof(struct vfm_device_feature_dma_logging_report, bitmap), 24);
	/* PAGE_SIZE / 16 with 4 KiB pages */
	assert_int_equal(VFM_DMA_LOGGING_MAX_RANGES, 4096 / 16);
}

/* Section 6.1: the markers and their big-endian byte images; section 6.2: framing. */
static void test_doc_stream_constants(void **st)
{
	static const struct {
		uint64_t value;
		uint8_t image[8];
	} markers[] = {
		{VFM_MIG_FLAG_END_OF_STATE, {0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x01}},
		{VFM_MIG_FLAG_DEV_CONFIG_STATE, {0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x02}},
		{VFM_MIG_FLAG_DEV_SETUP_STATE, {0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x03}},
		{VFM_MIG_FLAG_DEV_DATA_STATE, {0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x04}},
		{VFM_MIG_FLAG_DEV_INIT_DATA_SENT, {0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x05}},
		{VFM_MIG_FLAG_DEV_CONFIG_LOAD_READY,
		 {0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x06}},
	};

	(void)st;
	assert_true(VFM_MIG_FLAG_END_OF_STATE == 0xffffffffef100001ULL);
	assert_true(VFM_MIG_FLAG_DEV_CONFIG_STATE == 0xffffffffef100002ULL);
	assert_true(VFM_MIG_FLAG_DEV_SETUP_STATE == 0xffffffffef100003ULL);
	assert_true(VFM_MIG_FLAG_DEV_DATA_STATE == 0xffffffffef100004ULL);
	assert_true(VFM_MIG_FLAG_DEV_INIT_DATA_SENT == 0xffffffffef100005ULL);
	assert_true(VFM_MIG_FLAG_DEV_CONFIG_LOAD_READY == 0xffffffffef100006ULL);
	/* The encoder writes each marker as its doc byte image. */
	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
		int p[2];
		struct vfm_chan ch;
		uint8_t got[9];

		assert_int_equal(pipe(p), 0);
		vfm_chan_init(&ch, p[1], "pipe");
		assert_int_equal(vfm_enc_marker(&ch, markers[i].value), 0);
		close(p[1]);
		assert_int_equal(read(p[0], got, sizeof(got)), 8);
		close(p[0]);
		assert_memory_equal(got, markers[i].image, 8);
	}
	assert_int_equal(VFM_QEMU_VM_FILE_MAGIC, 0x5145564d);
	{
		static const uint8_t qevm[4] = {0x51, 0x45, 0x56, 0x4d};

		assert_memory_equal("QEVM", qevm, 4);
	}
	assert_int_equal(VFM_QEMU_VM_FILE_VERSION, 3);
	assert_int_equal(VFM_QEMU_VM_EOF, 0x00);
	assert_int_equal(VFM_QEMU_VM_SECTION_START, 0x01);
	assert_int_equal(VFM_QEMU_VM_SECTION_PART, 0x02);
	assert_int_equal(VFM_QEMU_VM_SECTION_END, 0x03);
	assert_int_equal(VFM_QEMU_VM_SECTION_FULL, 0x04);
	assert_int_equal(VFM_QEMU_VM_SECTION_FOOTER, 0x7e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_ioctl_numbers),
		cmocka_unit_test(test_host_constants),
		cmocka_unit_test(test_host_states),
		cmocka_unit_test(test_host_structs),
		cmocka_unit_test(test_ioctl_encoding),
		cmocka_unit_test(test_doc_ioctls),
		cmocka_unit_test(test_doc_feature),
		cmocka_unit_test(test_doc_migration),
		cmocka_unit_test(test_doc_dma_logging),
		cmocka_unit_test(test_doc_stream_constants),
	};

	return cmocka_run_group_tests_name("uapi", tests, NULL, NULL);
}
