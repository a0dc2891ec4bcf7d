// SPDX-License-Identifier: BSD-3-Clause
/*
 * Stepping over RAM ("ram", version 4) and dirty-bitmap bodies of a QEMU stream, record
 * by record, with every block name and page offset checked against the block list the
 * RAM setup gave.
 */
#include <errno.h>
#include <string.h>

#include "qemu-int.h"
#include "util.h"
#include "vfio-mig/uapi.h"

#define RAM_ZERO	  0x002
#define RAM_MEM_SIZE	  0x004
#define RAM_PAGE	  0x008
#define RAM_EOS		  0x010
#define RAM_CONTINUE	  0x020
#define RAM_XBZRLE	  0x040
#define RAM_MULTIFD_FLUSH 0x200
#define XBZRLE_ENCODING	  0x01

#define DBM_EOS		0x01
#define DBM_ZEROES	0x02
#define DBM_BITMAP_NAME 0x04
#define DBM_DEVICE_NAME 0x08
#define DBM_START	0x10
#define DBM_BITS	0x40
#define DBM_EXTRA	0x80
#define DBM_MAX_BITS	(64ull << 20)

static bool has_cap(const struct vfm_qs_reader *rd, const char *cap)
{
	for (uint32_t i = 0; rd->has_config && i < rd->config.nr_caps; i++) {
		if (!strcmp(rd->config.caps[i], cap))
			return true;
	}
	return false;
}

/* The block list after MEM_SIZE: names and used lengths that sum to the total. */
static int ram_blocks(struct vfm_qs_reader *rd, uint64_t total, struct vfm_qs_ram *st)
{
	bool shared = has_cap(rd, "x-ignore-shared");
	uint64_t left = total, v;
	int rc;

	if (rd->postcopy_advised && (rd->postcopy_page_summary & (rd->postcopy_page_summary - 1)))
		return qs_fail(rd, -EBADMSG, rd->in.pos,
			       "RAM blocks of several page sizes under postcopy: not supported");
	st->mem_size = total;
	rd->nr_ram = 0;
	while (left) {
		struct qs_ram_block *b = &rd->ram[rd->nr_ram];
		uint64_t off = rd->in.pos;

		if (rd->nr_ram >= VFM_QS_MAX_RAM_BLOCKS)
			return qs_fail(rd, -EBADMSG, off, "more than %d RAM blocks",
				       VFM_QS_MAX_RAM_BLOCKS);
		rc = qs_cstr(rd, b->name, false, "a RAM block name");
		if (!rc)
			rc = qs_be64(rd, &b->used_length, "the RAM block's length");
		if (!rc && shared)
			rc = qs_be64(rd, &v, "the RAM block's address (x-ignore-shared)");
		if (rc)
			return rc;
		if (b->used_length > left)
			return qs_fail(
				rd, -EBADMSG, off,
				"RAM block \"%s\" of %llu bytes: only %llu of the total left",
				b->name, (unsigned long long)b->used_length,
				(unsigned long long)left);
		left -= b->used_length;
		rd->nr_ram++;
		st->blocks++;
	}
	return 0;
}

static int ram_block(struct vfm_qs_reader *rd, bool cont, uint64_t rec_off)
{
	char name[256];
	int rc;

	if (cont) {
		if (rd->ram_last < 0)
			return qs_fail(rd, -EBADMSG, rec_off,
				       "a RAM page record with CONTINUE before any named block");
		return rd->ram_last;
	}
	rc = qs_cstr(rd, name, false, "a RAM block name");
	if (rc)
		return rc;
	for (size_t i = 0; i < rd->nr_ram; i++) {
		if (!strcmp(rd->ram[i].name, name))
			return rd->ram_last = (int)i;
	}
	return qs_fail(rd, -EBADMSG, rec_off + 8,
		       "a RAM page of block \"%s\", which the setup "
		       "did not list",
		       name);
}

static int ram_page(struct vfm_qs_reader *rd, uint64_t flags, uint64_t addr, uint64_t off,
		    struct vfm_qs_ram *st)
{
	uint8_t b[3];
	int blk = ram_block(rd, flags & RAM_CONTINUE, off), rc;

	if (blk < 0)
		return blk;
	if (addr >= rd->ram[blk].used_length)
		return qs_fail(rd, -EBADMSG, off,
			       "a RAM page at 0x%llx of block \"%s\", which has 0x%llx bytes",
			       (unsigned long long)addr, rd->ram[blk].name,
			       (unsigned long long)rd->ram[blk].used_length);
	switch (flags & ~(uint64_t)RAM_CONTINUE) {
	case RAM_ZERO:
		st->zero_pages++;
		return qs_read(rd, b, 1, "the zero page's fill byte");
	case RAM_PAGE:
		st->pages++;
		return qs_skip(rd, rd->page_size, "a RAM page");
	default:
		st->xbzrle_pages++;
		rc = qs_read(rd, b, 3, "the XBZRLE header");
		if (rc)
			return rc;
		if (b[0] != XBZRLE_ENCODING || (uint32_t)(b[1] << 8 | b[2]) > rd->page_size)
			return qs_fail(rd, -EBADMSG, rd->in.pos - 3,
				       "XBZRLE header %02x %02x%02x (expected 01, length <= %u)",
				       b[0], b[1], b[2], rd->page_size);
		return qs_skip(rd, (uint64_t)(b[1] << 8 | b[2]), "XBZRLE-encoded bytes");
	}
}

int qs_ram_body(struct vfm_qs_reader *rd, uint8_t type, struct vfm_qs_ram *st)
{
	uint64_t mask = rd->page_size - 1;

	for (;;) {
		uint64_t off = rd->in.pos, w, flags, addr;
		int rc = qs_be64(rd, &w, "a RAM page record");

		if (rc)
			return rc;
		flags = w & mask;
		addr = w & ~mask;
		st->records++;
		switch (flags) {
		case RAM_MEM_SIZE:
			if (type != VFM_QEMU_VM_SECTION_START || st->records != 1)
				return qs_fail(rd, -EBADMSG, off,
					       "a RAM block list outside the RAM setup");
			rc = ram_blocks(rd, addr, st);
			break;
		case RAM_EOS:
			if (type == VFM_QEMU_VM_SECTION_START && st->records == 1)
				return qs_fail(rd, -EBADMSG, off,
					       "a RAM setup without its block list");
			return 0;
		case RAM_MULTIFD_FLUSH:
			st->flushes++;
			break;
		case RAM_ZERO:
		case RAM_ZERO | RAM_CONTINUE:
		case RAM_PAGE:
		case RAM_PAGE | RAM_CONTINUE:
		case RAM_XBZRLE:
		case RAM_XBZRLE | RAM_CONTINUE:
			rc = type == VFM_QEMU_VM_SECTION_START && st->records == 1
				     ? qs_fail(rd, -EBADMSG, off,
					       "a RAM setup without its block list")
				     : ram_page(rd, flags, addr, off, st);
			break;
		default:
			return qs_fail(rd, -EBADMSG, off,
				       "a RAM page record with flags 0x%llx (expected ZERO, PAGE, "
				       "XBZRLE, MEM_SIZE, EOS or MULTIFD_FLUSH)",
				       (unsigned long long)flags);
		}
		if (rc)
			return rc;
	}
}

/* Flags of a dirty-bitmap chunk: 1, 2 or 4 bytes, the low byte last. */
static int dbm_flags(struct vfm_qs_reader *rd, uint8_t *flags)
{
	uint8_t b[2];
	int rc = qs_u8(rd, flags, "a dirty-bitmap chunk's flags");

	if (rc || !(*flags & DBM_EXTRA))
		return rc;
	rc = qs_u8(rd, flags, "a dirty-bitmap chunk's flags");
	if (rc || !(*flags & DBM_EXTRA))
		return rc;
	rc = qs_read(rd, b, 2, "a dirty-bitmap chunk's flags");
	*flags = b[1];
	return rc;
}

static int dbm_chunk(struct vfm_qs_reader *rd, uint8_t flags)
{
	char name[256];
	uint8_t b[12];
	uint64_t size, off;
	int rc = 0;

	if (flags & DBM_DEVICE_NAME)
		rc = qs_cstr(rd, name, true, "a dirty-bitmap node alias");
	if (!rc && (flags & DBM_BITMAP_NAME))
		rc = qs_cstr(rd, name, true, "a dirty-bitmap alias");
	if (!rc && (flags & DBM_START))
		rc = qs_read(rd, b, 5, "the dirty bitmap's granularity and flags");
	if (rc || !(flags & DBM_BITS))
		return rc;
	rc = qs_read(rd, b, 12, "the dirty-bitmap bits' start and count");
	if (rc || (flags & DBM_ZEROES))
		return rc;
	off = rd->in.pos;
	rc = qs_be64(rd, &size, "the dirty-bitmap bits' size");
	if (rc)
		return rc;
	if (size > DBM_MAX_BITS)
		return qs_fail(rd, -EBADMSG, off, "dirty-bitmap bits of %llu bytes (limit %llu)",
			       (unsigned long long)size, (unsigned long long)DBM_MAX_BITS);
	return qs_skip(rd, size, "dirty-bitmap bits");
}

int qs_dirty_bitmap_body(struct vfm_qs_reader *rd, struct vfm_qs_ram *st)
{
	for (;;) {
		uint64_t off = rd->in.pos;
		uint8_t flags;
		int rc = dbm_flags(rd, &flags);

		if (rc)
			return rc;
		st->records++;
		if (flags & DBM_EXTRA)
			return qs_fail(rd, -EBADMSG, off, "dirty-bitmap flags longer than 4 bytes");
		rc = dbm_chunk(rd, flags);
		if (rc)
			return rc;
		if (flags & DBM_EOS)
			return 0;
	}
}
