/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vfio-user wire format (shared/docs/vfio-user-protocol.rst, version 0.9.2) and its
 * codec: message header, flags, every command of the spec's command table, the version
 * capabilities JSON, and the limits checked before anything is allocated.
 *
 * The spec says "all data is in the endianness of the host system"; this project fixes it
 * to little-endian (the only byte order of the machines it runs on) and refuses to build
 * elsewhere. Every struct is packed and has the exact size the spec gives.
 *
 * Threads: the codec functions are pure and may be called from any thread.
 */
#ifndef VFIO_MIG_VFIO_USER_PROTO_H
#define VFIO_MIG_VFIO_USER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vfio-user wire structs are little-endian; this host is not"
#endif

#define VFM_VU_PACKED __attribute__((packed))

/* Protocol version we speak: 0.1 (the only major of the spec; minor as libvfio-user). */
#define VFM_VU_MAJOR 0
#define VFM_VU_MINOR 1

/* Command table. */
enum vfm_vu_cmd {
	VFM_VU_VERSION = 1,
	VFM_VU_DMA_MAP = 2,
	VFM_VU_DMA_UNMAP = 3,
	VFM_VU_DEVICE_GET_INFO = 4,
	VFM_VU_DEVICE_GET_REGION_INFO = 5,
	VFM_VU_DEVICE_GET_REGION_IO_FDS = 6,
	VFM_VU_DEVICE_GET_IRQ_INFO = 7,
	VFM_VU_DEVICE_SET_IRQS = 8,
	VFM_VU_REGION_READ = 9,
	VFM_VU_REGION_WRITE = 10,
	VFM_VU_DMA_READ = 11,
	VFM_VU_DMA_WRITE = 12,
	VFM_VU_DEVICE_RESET = 13,
	VFM_VU_REGION_WRITE_MULTI = 15,
	VFM_VU_DEVICE_FEATURE = 16,
	VFM_VU_MIG_DATA_READ = 17,
	VFM_VU_MIG_DATA_WRITE = 18,
	VFM_VU_CMD_MAX = 19,
};

/* Header flags. */
#define VFM_VU_F_TYPE_MASK    0xfu
#define VFM_VU_F_TYPE_COMMAND 0x0u
#define VFM_VU_F_TYPE_REPLY   0x1u
#define VFM_VU_F_NO_REPLY     (1u << 4)
#define VFM_VU_F_ERROR	      (1u << 5)

struct vfm_vu_hdr {
	uint16_t msg_id;
	uint16_t cmd;
	uint32_t msg_size; /* whole message including this header */
	uint32_t flags;
	uint32_t error; /* errno, valid in a reply with VFM_VU_F_ERROR */
} VFM_VU_PACKED;

/* VERSION: followed by optional NUL-terminated JSON. */
struct vfm_vu_version {
	uint16_t major;
	uint16_t minor;
	char data[];
} VFM_VU_PACKED;

/* DMA_MAP. */
#define VFM_VU_DMA_F_READ  (1u << 0)
#define VFM_VU_DMA_F_WRITE (1u << 1)
struct vfm_vu_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t offset;
	uint64_t addr;
	uint64_t size;
} VFM_VU_PACKED;

/* DMA_UNMAP (request and reply). The spec leaves flags unused; libvfio-user's and QEMU's
 * clients send the kernel's VFIO_DMA_UNMAP_FLAG_ALL with address and size 0 to drop every
 * mapping, and we accept it. */
#define VFM_VU_DMA_UNMAP_ALL (1u << 1)
struct vfm_vu_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t addr;
	uint64_t size;
} VFM_VU_PACKED;

/* DEVICE_GET_INFO. */
#define VFM_VU_DEV_F_RESET (1u << 0)
#define VFM_VU_DEV_F_PCI   (1u << 1)
struct vfm_vu_device_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t num_regions;
	uint32_t num_irqs;
} VFM_VU_PACKED;

/* PCI region and IRQ indices (linux/vfio.h). */
enum {
	VFM_VU_PCI_BAR0 = 0,
	VFM_VU_PCI_BAR5 = 5,
	VFM_VU_PCI_ROM = 6,
	VFM_VU_PCI_CONFIG = 7,
	VFM_VU_PCI_VGA = 8,
	VFM_VU_PCI_NUM_REGIONS = 9,
};
enum {
	VFM_VU_PCI_INTX_IRQ = 0,
	VFM_VU_PCI_MSI_IRQ = 1,
	VFM_VU_PCI_MSIX_IRQ = 2,
	VFM_VU_PCI_ERR_IRQ = 3,
	VFM_VU_PCI_REQ_IRQ = 4,
	VFM_VU_PCI_NUM_IRQS = 5,
};

/* DEVICE_GET_REGION_INFO. */
#define VFM_VU_REGION_F_READ  (1u << 0)
#define VFM_VU_REGION_F_WRITE (1u << 1)
#define VFM_VU_REGION_F_MMAP  (1u << 2)
#define VFM_VU_REGION_F_CAPS  (1u << 3)
struct vfm_vu_region_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t cap_offset;
	uint64_t size;
	uint64_t offset;
} VFM_VU_PACKED;

struct vfm_vu_cap_header {
	uint16_t id;
	uint16_t version;
	uint32_t next;
} VFM_VU_PACKED;

/* DEVICE_GET_REGION_IO_FDS. */
#define VFM_VU_IO_FD_TYPE_IOEVENTFD  0u
#define VFM_VU_IO_FD_TYPE_IOREGIONFD 1u
struct vfm_vu_region_io_fds {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
} VFM_VU_PACKED;

struct vfm_vu_sub_region_io_fd {
	uint64_t offset;
	uint64_t size;
	uint32_t fd_index;
	uint32_t type;
	uint32_t flags;
	uint32_t padding;
	uint64_t datamatch; /* or user_data for ioregionfd */
} VFM_VU_PACKED;

/* DEVICE_GET_IRQ_INFO. */
#define VFM_VU_IRQ_INFO_EVENTFD	   (1u << 0)
#define VFM_VU_IRQ_INFO_MASKABLE   (1u << 1)
#define VFM_VU_IRQ_INFO_AUTOMASKED (1u << 2)
#define VFM_VU_IRQ_INFO_NORESIZE   (1u << 3)
struct vfm_vu_irq_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
} VFM_VU_PACKED;

/* DEVICE_SET_IRQS. */
#define VFM_VU_IRQ_SET_DATA_NONE      (1u << 0)
#define VFM_VU_IRQ_SET_DATA_BOOL      (1u << 1)
#define VFM_VU_IRQ_SET_DATA_EVENTFD   (1u << 2)
#define VFM_VU_IRQ_SET_ACTION_MASK    (1u << 3)
#define VFM_VU_IRQ_SET_ACTION_UNMASK  (1u << 4)
#define VFM_VU_IRQ_SET_ACTION_TRIGGER (1u << 5)
#define VFM_VU_IRQ_SET_DATA_MASK      0x7u
#define VFM_VU_IRQ_SET_ACTION_MASKS   0x38u
struct vfm_vu_irq_set {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t start;
	uint32_t count;
	uint8_t data[];
} VFM_VU_PACKED;

/* REGION_READ / REGION_WRITE (request and reply; data follows where the spec says). */
struct vfm_vu_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	uint8_t data[];
} VFM_VU_PACKED;

/* DMA_READ / DMA_WRITE requests and the DMA_READ reply. */
struct vfm_vu_dma_access {
	uint64_t addr;
	uint64_t count;
	uint8_t data[];
} VFM_VU_PACKED;

/* The DMA_WRITE reply: the spec gives count 4 bytes here. A 16-byte reply (as
 * libvfio-user sends) is accepted too: its low half is the same field. */
struct vfm_vu_dma_write_reply {
	uint64_t addr;
	uint32_t count;
} VFM_VU_PACKED;

/* REGION_WRITE_MULTI. */
#define VFM_VU_WRITE_MULTI_DATA 8u
#define VFM_VU_WRITE_MULTI_MAX	1024u
struct vfm_vu_write_one {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	uint8_t data[VFM_VU_WRITE_MULTI_DATA];
} VFM_VU_PACKED;

struct vfm_vu_write_multi {
	uint64_t wr_cnt;
	struct vfm_vu_write_one wrs[];
} VFM_VU_PACKED;

/* DEVICE_FEATURE: same layout as struct vfm_device_feature. */
struct vfm_vu_feature {
	uint32_t argsz;
	uint32_t flags;
	uint8_t data[];
} VFM_VU_PACKED;

/* The DMA_LOGGING_START payload on the wire: ranges inline at offset 16. */
struct vfm_vu_dma_logging_control {
	uint64_t page_size;
	uint32_t num_ranges;
	uint32_t reserved;
} VFM_VU_PACKED;

struct vfm_vu_dma_logging_report {
	uint64_t iova;
	uint64_t length;
	uint64_t page_size;
	uint8_t bitmap[];
} VFM_VU_PACKED;

/* MIG_DATA_READ / MIG_DATA_WRITE (request and reply). */
struct vfm_vu_mig_data {
	uint32_t argsz;
	uint32_t size;
	uint8_t data[];
} VFM_VU_PACKED;

/*
 * Our extension, negotiated in the VERSION capabilities and confirmed with PROBE (see
 * src/vfio-user/EXTENSIONS.md). MIG_DATA_SIZE uses the kernel's index 9 and layout.
 */
#define VFM_VU_FEATURE_PRECOPY_INFO (0x8000u | 1u)
struct vfm_vu_precopy_info {
	uint64_t initial_bytes;
	uint64_t dirty_bytes;
} VFM_VU_PACKED;
/* With "precopy_flags" negotiated: the kernel's flags field follows (request: what the
 * caller sends, reply: the device's, VFM_PRECOPY_INFO_REINIT after the opt-in). */
struct vfm_vu_precopy_info_flags {
	uint64_t initial_bytes;
	uint64_t dirty_bytes;
	uint32_t flags;
	uint32_t reserved;
} VFM_VU_PACKED;

_Static_assert(sizeof(struct vfm_vu_hdr) == 16, "header");
_Static_assert(sizeof(struct vfm_vu_version) == 4, "version");
_Static_assert(sizeof(struct vfm_vu_dma_map) == 32, "dma map");
_Static_assert(sizeof(struct vfm_vu_dma_unmap) == 24, "dma unmap");
_Static_assert(sizeof(struct vfm_vu_device_info) == 16, "device info");
_Static_assert(sizeof(struct vfm_vu_region_info) == 32, "region info");
_Static_assert(sizeof(struct vfm_vu_region_io_fds) == 16, "io fds");
_Static_assert(sizeof(struct vfm_vu_sub_region_io_fd) == 40, "sub region");
_Static_assert(sizeof(struct vfm_vu_irq_info) == 16, "irq info");
_Static_assert(sizeof(struct vfm_vu_irq_set) == 20, "irq set");
_Static_assert(sizeof(struct vfm_vu_region_access) == 16, "region access");
_Static_assert(sizeof(struct vfm_vu_dma_access) == 16, "dma access");
_Static_assert(sizeof(struct vfm_vu_dma_write_reply) == 12, "dma write reply");
_Static_assert(sizeof(struct vfm_vu_write_one) == 24, "write one");
_Static_assert(sizeof(struct vfm_vu_feature) == 8, "feature");
_Static_assert(sizeof(struct vfm_vu_dma_logging_control) == 16, "logging control");
_Static_assert(sizeof(struct vfm_vu_dma_logging_report) == 24, "logging report");
_Static_assert(sizeof(struct vfm_vu_mig_data) == 8, "mig data");

/* ---- limits ---- */

/* Spec defaults when a capability is absent. */
#define VFM_VU_DEFAULT_MAX_FDS	    1u
#define VFM_VU_DEFAULT_MAX_XFER	    (1u << 20)
#define VFM_VU_DEFAULT_MAX_DMA_MAPS 65535u
#define VFM_VU_DEFAULT_PGSIZES	    4096u
/* What we propose and accept. */
#define VFM_VU_OUR_MAX_XFER	(4u << 20)
#define VFM_VU_HARD_MAX_XFER	(64u << 20) /* never more, whatever a peer says */
#define VFM_VU_OUR_MAX_FDS	8u
#define VFM_VU_HARD_MAX_FDS	64u
#define VFM_VU_OUR_MAX_DMA_MAPS 1024u
/* The most client memory one client may map, file-backed or not, all mappings together
 * (1 TiB: its dirty bitmap is 32 MiB and a report over all of it a few milliseconds). */
#define VFM_VU_OUR_MAX_DMA_BYTES (1ull << 40)
/* Room for fixed parts beyond the data of a transfer message. */
#define VFM_VU_MSG_SLACK 4096u
#define VFM_VU_MAX_JSON	 4096u

/* Largest message a side accepts when its max_data_xfer_size is xfer. */
static inline uint32_t vfm_vu_max_msg(uint32_t xfer)
{
	return (uint32_t)sizeof(struct vfm_vu_hdr) + xfer + VFM_VU_MSG_SLACK;
}

/* ---- codec ---- */

/* "VERSION", "DMA_MAP", ...; "UNKNOWN" for a number without a name. */
const char *vfm_vu_cmd_name(uint32_t cmd);

/* Fill a header: a command (msg_size counts the header), the reply to req, or an error
 * reply to req carrying errno err (either sign). */
void vfm_vu_hdr_command(struct vfm_vu_hdr *h, uint16_t id, uint16_t cmd, uint32_t msg_size,
			bool no_reply);
void vfm_vu_hdr_reply(struct vfm_vu_hdr *h, const struct vfm_vu_hdr *req, uint32_t msg_size);
void vfm_vu_hdr_error(struct vfm_vu_hdr *h, const struct vfm_vu_hdr *req, int err);

/*
 * Checks a received header before its body is read or any buffer is sized for it:
 * size within [16, max_msg], a known type, no reserved flag bits. 0 or -EINVAL/-E2BIG with
 * the reason in err.
 */
int vfm_vu_hdr_check(const struct vfm_vu_hdr *h, uint32_t max_msg, char *err, size_t errlen);

/* Checks a reply against the request it answers: type reply, same id and command,
 * size within [16 + min_body, max_msg]. Returns 0, -(the peer's errno) for an error reply
 * (-EIO if it gave none), or -EPROTO with the reason in err. */
int vfm_vu_reply_check(const struct vfm_vu_hdr *rep, uint16_t id, uint16_t cmd, uint32_t min_body,
		       uint32_t max_msg, char *err, size_t errlen);

/* The fixed part of each command's request body; -1 for commands unknown. */
int vfm_vu_request_min_body(uint32_t cmd);

/* Capabilities as in the VERSION JSON. `has_*` tell what was present. */
struct vfm_vu_caps {
	uint32_t max_msg_fds;
	uint32_t max_data_xfer_size;
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	bool has_migration;
	uint64_t mig_pgsize;
	uint64_t mig_max_bitmap_size;
	bool twin_supported;
	int32_t twin_fd_index; /* -1 if absent */
	bool write_multiple;
	/* vfio-mig extension ("migration": {"vfio-mig": {...}}) */
	bool ext_mig_data_size;
	bool ext_precopy_info;
	bool ext_precopy_flags; /* PRECOPY_INFO carries the flags field (Linux 7.1) */
};

/* The spec's defaults, nothing optional present. */
void vfm_vu_caps_default(struct vfm_vu_caps *c);

/*
 * Parses the version data: json points into the message, len bytes, which must hold the
 * terminating NUL within them (a missing NUL is an error, never read past). An empty
 * payload (len 0) is valid and gives the defaults. Bounds: max_msg_fds <= 1024,
 * max_data_xfer_size in [1, 1 GiB], pgsizes non-zero. 0 or -EINVAL with the reason.
 */
int vfm_vu_caps_parse(const char *json, size_t len, struct vfm_vu_caps *c, char *err,
		      size_t errlen);

/* Writes {"capabilities": {...}} with the NUL into buf. Returns the length including the
 * NUL, or -ENOSPC / -ENOMEM. The vfio-mig object is written when an ext_* flag is set;
 * twin_socket only when twin_supported. */
int vfm_vu_caps_format(const struct vfm_vu_caps *c, char *buf, size_t len);

#endif /* VFIO_MIG_VFIO_USER_PROTO_H */
