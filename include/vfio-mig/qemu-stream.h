/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A reader of whole QEMU migration streams (the main channel of a precopy migration as
 * QEMU 8.0 to 11.1 write it for file:, exec:, tcp: and unix:, mapped-ram off): the file
 * header, the configuration record, commands (with postcopy packages), every section kind
 * with its footer, EOF and the vmdesc JSON trailer.
 *
 * Sections other than VFIO are stepped over exactly: RAM (idstr "ram") by its page
 * records, "dirty-bitmap" by its chunks, FULL sections by the size the vmdesc trailer
 * gives (read first when the input can seek), else by a scan for their footer. VFIO
 * sections ("<path>/vfio" or "vfio", and vfio-mig's own "vfio-mig-..." sections, which
 * use the same grammar) are decoded in full: every marker, every data block (read its
 * bytes with vfm_qs_data()) and the vfio-pci config state of the FULL section.
 *
 * Every size read from the input is checked against its limit before it is used; the
 * reader allocates only at vfm_qs_open(), never by sizes the input names. A malformed or
 * cut stream is refused with the byte offset and what was expected there. A reader
 * belongs to one thread at a time.
 */
#ifndef VFIO_MIG_QEMU_STREAM_H
#define VFIO_MIG_QEMU_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VFM_QS_ERR_LEN		  320
#define VFM_QS_MAX_SECTIONS	  512	      /* distinct section ids */
#define VFM_QS_MAX_FULL		  1024	      /* FULL sections kept for the trailer check */
#define VFM_QS_MAX_VMDESC	  (16u << 20) /* bytes of vmdesc JSON */
#define VFM_QS_MAX_VMDESC_DEVICES 1024
#define VFM_QS_MAX_JSON_DEPTH	  48
#define VFM_QS_MAX_RAM_BLOCKS	  64
#define VFM_QS_MAX_CAPS		  16
#define VFM_QS_MAX_BLOCK	  (64ull << 20)	 /* a VFIO data block (QEMU's are <= 1 MiB) */
#define VFM_QS_MAX_SCAN		  (256ull << 20) /* a FULL body found by a footer scan */
#define VFM_QS_MAX_MSIX		  2048
#define VFM_QS_MAX_PACKAGE	  (1u << 30)

/* What a section is, by its idstr. */
enum vfm_qs_kind {
	VFM_QS_KIND_OTHER = 0, /* a device's VMSD or old-style state (FULL only) */
	VFM_QS_KIND_RAM,
	VFM_QS_KIND_DIRTY_BITMAP,
	VFM_QS_KIND_VFIO, /* "<path>/vfio", "vfio" */
	VFM_QS_KIND_VFM,  /* vfio-mig's own "vfio-mig-..." sections (VFIO grammar) */
};

enum vfm_qs_ev_type {
	VFM_QS_EV_CONFIG = 1, /* the configuration record: vfm_qs_config() */
	VFM_QS_EV_COMMAND,    /* cmd, size = payload length, value (PING, PACKAGED) */
	VFM_QS_EV_SECTION,    /* a section header; sec names it */
	VFM_QS_EV_BODY,	      /* a non-VFIO body stepped over: size bytes, `how`, ram */
	VFM_QS_EV_MARKER,     /* a VFIO marker */
	VFM_QS_EV_DATA,	      /* a VFIO data block of size bytes: vfm_qs_data() reads them */
	VFM_QS_EV_PCI_CONFIG, /* the vfio-pci config state: vfm_qs_pci_config() */
	VFM_QS_EV_FOOTER,
	VFM_QS_EV_EOF,
	VFM_QS_EV_VMDESC, /* the trailer: size = JSON bytes, value = devices listed */
};

/* How a non-VFIO body was stepped over. */
enum vfm_qs_how {
	VFM_QS_HOW_RAM = 1,	 /* RAM page records */
	VFM_QS_HOW_DIRTY_BITMAP, /* dirty-bitmap chunks */
	VFM_QS_HOW_VMDESC,	 /* the size the vmdesc trailer gives */
	VFM_QS_HOW_FOOTER_SCAN,	 /* up to the next footer that a plausible record follows */
};

struct vfm_qs_section {
	uint32_t id;
	char idstr[256];
	uint32_t instance_id;
	uint32_t version_id;
	enum vfm_qs_kind kind;
	bool started, ended, full; /* START, END and FULL seen */
	uint32_t records;	   /* START/PART/END/FULL sections of this id */
	uint32_t parts;
	uint64_t blocks, data_bytes; /* VFIO data blocks */
	uint64_t body_bytes;	     /* bytes of all bodies */
};

/* The records of one RAM section body (or a dirty-bitmap body's chunks in `records`). */
struct vfm_qs_ram {
	uint64_t records, pages, zero_pages, xbzrle_pages, flushes;
	uint64_t mem_size; /* START: the total of the block list */
	uint32_t blocks;   /* START: blocks listed */
};

struct vfm_qs_ev {
	enum vfm_qs_ev_type type;
	uint64_t offset; /* stream offset where the element starts */
	uint64_t size;
	uint8_t section_type; /* 0x01 START .. 0x04 FULL */
	const struct vfm_qs_section *sec;
	uint64_t marker;
	uint16_t cmd;
	uint64_t value;
	bool in_package; /* inside a postcopy PACKAGED blob */
	enum vfm_qs_how how;
	struct vfm_qs_ram ram;
};

struct vfm_qs_config {
	char machine[256]; /* the resolved machine type, e.g. "pc-q35-11.1" */
	uint32_t nr_caps;
	char caps[VFM_QS_MAX_CAPS][256];
	bool has_page_bits, has_uuid;
	uint32_t page_bits;
	uint8_t uuid[16];
};

/* VMSD VFIOPCIDevice: what QEMU's vfio-pci writes between DEV_CONFIG_STATE and
 * END_OF_STATE. */
struct vfm_qs_pci_config {
	uint32_t pcidev_version;
	uint32_t config_size; /* 256 or 4096 */
	uint8_t config[4096];
	uint32_t irq_state[4];
	uint32_t msix_entries; /* 0: no MSI-X */
	uint8_t msix_table[VFM_QS_MAX_MSIX * 16];
	uint8_t msix_pba[VFM_QS_MAX_MSIX / 8];
	bool display; /* the VFIOPCIDevice/VFIODisplay subsection (ramfb) */
	uint64_t ramfb_addr;
	uint32_t ramfb_fourcc, ramfb_flags, ramfb_width, ramfb_height, ramfb_stride;
};

struct vfm_qs_reader;

/*
 * Opens a reader on fd (a file, pipe or socket; the reader does not close it). When fd
 * can seek, the vmdesc trailer is located and read first, so FULL sections are stepped
 * over by its sizes; otherwise by footer scans, and the trailer, when it comes, is
 * checked against them. Reads and checks the file header. 0 or a negative errno
 * (-EBADMSG malformed, -EPIPE cut short), the reason in err.
 */
int vfm_qs_open(struct vfm_qs_reader **out, int fd, char *err, size_t errlen);
void vfm_qs_close(struct vfm_qs_reader *rd);

/*
 * The next element. After VFM_QS_EV_DATA, unread bytes of the block are skipped by the
 * next call. After EOF (and the trailer, if one follows) the next call returns -ENODATA
 * once the stream has been read to its end and checked whole. Errors: -EBADMSG
 * for a malformed stream or one this reader cannot step over (vfm_qs_error() names the
 * byte offset and what was expected), -EPIPE for a stream cut short, or the read errno.
 */
int vfm_qs_next(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev);
/* Reads up to len bytes of the current data block: bytes read, 0 at its end, < 0 error. */
ssize_t vfm_qs_data(struct vfm_qs_reader *rd, void *buf, size_t len);

/* The reason of the last error ("" if none). */
const char *vfm_qs_error(const struct vfm_qs_reader *rd);
/* Bytes of the stream read so far. */
uint64_t vfm_qs_offset(const struct vfm_qs_reader *rd);
/* The configuration record, or NULL before it / when the stream has none. */
const struct vfm_qs_config *vfm_qs_config(const struct vfm_qs_reader *rd);
/* The last vfio-pci config state read (valid after VFM_QS_EV_PCI_CONFIG). */
const struct vfm_qs_pci_config *vfm_qs_pci_config(const struct vfm_qs_reader *rd);
/* The sections seen so far, in order of first appearance. */
size_t vfm_qs_nr_sections(const struct vfm_qs_reader *rd);
const struct vfm_qs_section *vfm_qs_section(const struct vfm_qs_reader *rd, size_t i);
/* Whether footers follow the sections (known after the first section). */
bool vfm_qs_footers(const struct vfm_qs_reader *rd);
/* The target page size the RAM sections use (4096 unless the stream says otherwise). */
uint32_t vfm_qs_page_size(const struct vfm_qs_reader *rd);
/* Whether the FULL sections are sized by a vmdesc trailer read up front. */
bool vfm_qs_vmdesc_first(const struct vfm_qs_reader *rd);

/* Names: "START", "DEV_DATA_STATE", "OPEN_RETURN_PATH", "ram"... ("?" if unknown). */
const char *vfm_qs_section_type_name(uint8_t type);
const char *vfm_qs_marker_name(uint64_t marker);
const char *vfm_qs_command_name(uint16_t cmd);
const char *vfm_qs_kind_name(enum vfm_qs_kind kind);

/*
 * Writes the VFIO section `idstr` (instance `instance`) of the QEMU stream rd reads as a
 * vfio-mig stream on out: the file header, its START, PART and END sections with their
 * data blocks in order (the FULL config section stays behind: it is QEMU's emulated PCI
 * state, not the device's), EOF. The QEMU stream is read and checked to its end before
 * EOF is written, so a stream that turns out malformed leaves `out` without EOF. 0 or a
 * negative errno with the reason in err (-ENOENT: no such VFIO section).
 */
struct vfm_chan;
int vfm_qs_extract(struct vfm_qs_reader *rd, const char *idstr, uint32_t instance,
		   struct vfm_chan *out, char *err, size_t errlen);

#endif /* VFIO_MIG_QEMU_STREAM_H */
