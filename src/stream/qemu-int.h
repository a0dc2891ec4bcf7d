/* SPDX-License-Identifier: BSD-3-Clause */
/* Internals of the QEMU stream reader (qemu.c, qemu-ram.c, qemu-vmdesc.c). Not installed. */
#ifndef VFM_QEMU_INT_H
#define VFM_QEMU_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfio-mig/qemu-stream.h"

#define QS_BUF_SIZE (256u << 10) /* look-ahead: a whole vfio-pci config fits */

/* Buffered input with look-ahead, over read() or pread() from a fixed offset. */
struct qs_in {
	int fd;
	bool use_pread;
	uint64_t pread_off; /* file offset of the next pread */
	uint8_t *buf;
	size_t head, tail;
	uint64_t pos; /* stream offset of buf[head] */
	bool eof;
};

/* A device entry of the vmdesc trailer: the bytes its FULL body takes. */
struct qs_vmdesc_dev {
	char name[256];
	uint32_t instance_id;
	uint64_t size;
	bool used;
};

struct qs_vmdesc {
	struct qs_vmdesc_dev *dev; /* VFM_QS_MAX_VMDESC_DEVICES entries */
	size_t nr;
	uint64_t page_size;
	bool has_page_size;
};

struct qs_full {
	uint32_t sec; /* index into sections */
	uint64_t size;
};

struct qs_ram_block {
	char name[256];
	uint64_t used_length;
};

struct vfm_qs_reader {
	struct qs_in in;
	int state;
	struct vfm_qs_section sec[VFM_QS_MAX_SECTIONS];
	size_t nr_sec;
	struct vfm_qs_section *cur;
	uint8_t cur_type;
	uint64_t body_start;
	int body_step;
	uint64_t data_left;
	int footers; /* -1 unknown, 0 off, 1 on */
	bool has_config;
	struct vfm_qs_config config;
	uint32_t page_size;
	/* commands that decide the RAM layout */
	bool postcopy_advised;
	uint64_t postcopy_page_summary;
	/* RAM */
	struct qs_ram_block ram[VFM_QS_MAX_RAM_BLOCKS];
	size_t nr_ram;
	int ram_last; /* block of the last page record, -1 none */
	/* postcopy package */
	bool in_package;
	uint64_t package_end;
	/* vmdesc */
	bool vmdesc_first; /* read up front: FULL bodies sized by it */
	uint64_t vmdesc_off;
	struct qs_vmdesc vmdesc;
	struct qs_full full[VFM_QS_MAX_FULL];
	size_t nr_full;
	bool full_overflow;
	struct vfm_qs_pci_config pci;
	char err[VFM_QS_ERR_LEN];
};

/* Fails the reader: "offset N: what". Returns rc. */
int qs_fail(struct vfm_qs_reader *rd, int rc, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Makes n (<= QS_BUF_SIZE) bytes available; returns how many are (< n only at the end
 * of the input), or a negative errno. */
ssize_t qs_fill(struct qs_in *in, size_t n);
/* n bytes available, or -EPIPE "stream ends, expected WHAT" at their offset. */
int qs_need(struct vfm_qs_reader *rd, size_t n, const char *what);
static inline const uint8_t *qs_peek(const struct qs_in *in)
{
	return in->buf + in->head;
}
static inline void qs_take(struct qs_in *in, size_t n)
{
	in->head += n;
	in->pos += n;
}
/* Reads n (<= QS_BUF_SIZE) bytes into out. */
int qs_read(struct vfm_qs_reader *rd, void *out, size_t n, const char *what);
int qs_u8(struct vfm_qs_reader *rd, uint8_t *v, const char *what);
int qs_be16(struct vfm_qs_reader *rd, uint16_t *v, const char *what);
int qs_be32(struct vfm_qs_reader *rd, uint32_t *v, const char *what);
int qs_be64(struct vfm_qs_reader *rd, uint64_t *v, const char *what);
/* A counted string (u8 n, n bytes) into out[256], NUL-terminated; 1..255 printable bytes
 * unless allow_empty. */
int qs_cstr(struct vfm_qs_reader *rd, char *out, bool allow_empty, const char *what);
/* Consumes n bytes of any size. */
int qs_skip(struct vfm_qs_reader *rd, uint64_t n, const char *what);

/* RAM and dirty-bitmap bodies (qemu-ram.c): reads the whole body up to and including
 * its EOS record. */
int qs_ram_body(struct vfm_qs_reader *rd, uint8_t type, struct vfm_qs_ram *st);
int qs_dirty_bitmap_body(struct vfm_qs_reader *rd, struct vfm_qs_ram *st);

/* vmdesc (qemu-vmdesc.c). Locates the trailer of a seekable input and parses it into
 * rd->vmdesc (0 also when there is none: vmdesc_first stays false). */
int qs_vmdesc_locate(struct vfm_qs_reader *rd, uint64_t file_size);
/* Parses len bytes of JSON from the main input into rd->vmdesc. */
int qs_vmdesc_parse(struct vfm_qs_reader *rd, struct qs_in *in, uint64_t len);

#endif /* VFM_QEMU_INT_H */
