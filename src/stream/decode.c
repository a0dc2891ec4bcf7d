// SPDX-License-Identifier: BSD-3-Clause
/*
 * Decoder of the migration stream. A pull parser: every element is checked against the
 * grammar in stream.h before anything is done with it, every size against its limit
 * before it is used, and an error names the byte offset and what was expected there.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "vfio-mig/stream.h"

enum {
	DS_TOP = 0, /* expecting a section type or EOF */
	DS_BODY,    /* expecting a marker inside a section */
	DS_DATA,    /* inside a data block */
	DS_FOOTER,  /* expecting the section footer */
	DS_DONE,
	DS_ERROR,
};

/* What a section body may hold next. */
enum {
	BODY_SETUP = 0, /* START: DEV_SETUP_STATE */
	BODY_SETUP_END, /* START: END_OF_STATE after SETUP */
	BODY_DATA,	/* PART/END: data blocks, then the end marker */
};

static int dec_fail(struct vfm_dec *dec, int rc, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int dec_fail(struct vfm_dec *dec, int rc, uint64_t off, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	vfm_errf(dec->err, sizeof(dec->err), rc, "offset %llu: %s", (unsigned long long)off, what);
	dec->state = DS_ERROR;
	return rc;
}

/* Reads len bytes; a short stream is reported as missing `expected`. */
static int dec_read(struct vfm_dec *dec, void *buf, size_t len, const char *expected)
{
	uint64_t off = dec->ch->pos;
	int rc = vfm_chan_read(dec->ch, buf, len);

	if (rc == -ENODATA || rc == -EPIPE)
		return dec_fail(dec, -EPIPE, off, "stream ends, expected %s", expected);
	if (rc)
		return dec_fail(dec, rc, off, "%s", dec->ch->err);
	return 0;
}

int vfm_dec_init(struct vfm_dec *dec, struct vfm_chan *ch, uint64_t max_block)
{
	uint8_t b[8];
	int rc;

	memset(dec, 0, sizeof(*dec));
	dec->ch = ch;
	dec->max_block = max_block ? max_block : VFM_STREAM_MAX_BLOCK;
	rc = dec_read(dec, b, 8, "the file header (QEVM, version 3)");
	if (rc)
		return rc;
	if (vfm_get_be32(b) != VFM_QEMU_VM_FILE_MAGIC)
		return dec_fail(dec, -EBADMSG, ch->pos - 8,
				"expected file magic 0x5145564d (QEVM), got 0x%08x",
				vfm_get_be32(b));
	if (vfm_get_be32(b + 4) != VFM_QEMU_VM_FILE_VERSION)
		return dec_fail(dec, -EBADMSG, ch->pos - 4, "expected file version 3, got %u",
				vfm_get_be32(b + 4));
	dec->state = DS_TOP;
	return 0;
}

static struct vfm_dec_section *dec_find(struct vfm_dec *dec, uint32_t sid, uint32_t *index)
{
	for (size_t i = 0; i < dec->nr_sections; i++) {
		if (dec->sections[i].id == sid) {
			*index = (uint32_t)i;
			return &dec->sections[i];
		}
	}
	return NULL;
}

static int dec_section_start(struct vfm_dec *dec, struct vfm_ev *ev)
{
	uint8_t b[4], len;
	struct vfm_dec_section *s;
	uint32_t idx;
	int rc;

	rc = dec_read(dec, b, 4, "a section id");
	if (rc)
		return rc;
	ev->section_id = vfm_get_be32(b);
	if (dec_find(dec, ev->section_id, &idx))
		return dec_fail(dec, -EBADMSG, ev->offset + 1, "section id %u started twice",
				ev->section_id);
	if (dec->nr_sections >= VFM_STREAM_MAX_SECTIONS)
		return dec_fail(dec, -EBADMSG, ev->offset, "more than %d device sections",
				VFM_STREAM_MAX_SECTIONS);
	rc = dec_read(dec, &len, 1, "the id string length");
	if (rc)
		return rc;
	if (len == 0)
		return dec_fail(dec, -EBADMSG, dec->ch->pos - 1,
				"expected an id string length of 1..255, got 0");
	rc = dec_read(dec, ev->idstr, len, "the id string");
	if (rc)
		return rc;
	ev->idstr[len] = '\0';
	if (memchr(ev->idstr, '\0', len))
		return dec_fail(dec, -EBADMSG, dec->ch->pos - len, "id string holds a NUL byte");
	rc = dec_read(dec, b, 4, "the instance id");
	if (rc)
		return rc;
	ev->instance_id = vfm_get_be32(b);
	rc = dec_read(dec, b, 4, "the version id");
	if (rc)
		return rc;
	ev->version_id = vfm_get_be32(b);
	if (ev->version_id != 1)
		return dec_fail(dec, -EBADMSG, dec->ch->pos - 4,
				"expected VFIO section version 1, got %u", ev->version_id);
	s = &dec->sections[dec->nr_sections];
	s->id = ev->section_id;
	s->instance_id = ev->instance_id;
	memcpy(s->idstr, ev->idstr, (size_t)len + 1);
	ev->section_index = (uint32_t)dec->nr_sections++;
	dec->cur_index = ev->section_index;
	return 0;
}

static int dec_top(struct vfm_dec *dec, struct vfm_ev *ev)
{
	uint8_t type, b[4];
	uint32_t idx;
	int rc;

	rc = dec_read(dec, &type, 1, "a section type or EOF (0x00)");
	if (rc)
		return rc;
	ev->section_type = type;
	switch (type) {
	case VFM_QEMU_VM_EOF:
		ev->type = VFM_EV_EOF;
		dec->state = DS_DONE;
		return 0;
	case VFM_QEMU_VM_SECTION_START:
		rc = dec_section_start(dec, ev);
		if (rc)
			return rc;
		dec->cur_type = type;
		dec->cur_sid = ev->section_id;
		dec->state = DS_BODY;
		dec->body_step = BODY_SETUP;
		ev->type = VFM_EV_SECTION;
		return 0;
	case VFM_QEMU_VM_SECTION_PART:
	case VFM_QEMU_VM_SECTION_END:
		rc = dec_read(dec, b, 4, "a section id");
		if (rc)
			return rc;
		ev->section_id = vfm_get_be32(b);
		if (!dec_find(dec, ev->section_id, &idx))
			return dec_fail(dec, -EBADMSG, ev->offset + 1,
					"section id %u was never started", ev->section_id);
		ev->section_index = idx;
		snprintf(ev->idstr, sizeof(ev->idstr), "%s", dec->sections[idx].idstr);
		ev->instance_id = dec->sections[idx].instance_id;
		dec->cur_type = type;
		dec->cur_sid = ev->section_id;
		dec->cur_index = idx;
		dec->state = DS_BODY;
		dec->body_step = BODY_DATA;
		ev->type = VFM_EV_SECTION;
		return 0;
	case VFM_QEMU_VM_SECTION_FULL:
		return dec_fail(dec, -EBADMSG, ev->offset,
				"device configuration sections (FULL, 0x04) are not supported");
	default:
		return dec_fail(dec, -EBADMSG, ev->offset,
				"expected a section type (0x01..0x04) or EOF (0x00), got 0x%02x",
				type);
	}
}

static const char *body_expect(const struct vfm_dec *dec)
{
	if (dec->cur_type == VFM_QEMU_VM_SECTION_START)
		return dec->body_step == BODY_SETUP ? "DEV_SETUP_STATE" : "END_OF_STATE";
	if (dec->cur_type == VFM_QEMU_VM_SECTION_PART)
		return "DEV_DATA_STATE, END_OF_STATE or DEV_INIT_DATA_SENT";
	return "DEV_DATA_STATE or END_OF_STATE";
}

static int dec_body(struct vfm_dec *dec, struct vfm_ev *ev)
{
	uint8_t b[8];
	uint64_t m;
	int rc;

	rc = dec_read(dec, b, 8, body_expect(dec));
	if (rc)
		return rc;
	m = vfm_get_be64(b);
	ev->section_type = dec->cur_type;
	ev->section_id = dec->cur_sid;
	ev->section_index = dec->cur_index;
	ev->marker = m;
	if (dec->cur_type == VFM_QEMU_VM_SECTION_START) {
		uint64_t want = dec->body_step == BODY_SETUP ? VFM_MIG_FLAG_DEV_SETUP_STATE
							     : VFM_MIG_FLAG_END_OF_STATE;
		if (m != want)
			return dec_fail(dec, -EBADMSG, ev->offset, "expected %s, got 0x%016llx",
					body_expect(dec), (unsigned long long)m);
		ev->type = VFM_EV_MARKER;
		if (m == VFM_MIG_FLAG_END_OF_STATE)
			dec->state = DS_FOOTER;
		else
			dec->body_step = BODY_SETUP_END;
		return 0;
	}
	if (m == VFM_MIG_FLAG_END_OF_STATE ||
	    (m == VFM_MIG_FLAG_DEV_INIT_DATA_SENT && dec->cur_type == VFM_QEMU_VM_SECTION_PART)) {
		ev->type = VFM_EV_MARKER;
		dec->state = DS_FOOTER;
		return 0;
	}
	if (m != VFM_MIG_FLAG_DEV_DATA_STATE)
		return dec_fail(dec, -EBADMSG, ev->offset, "expected %s, got 0x%016llx",
				body_expect(dec), (unsigned long long)m);
	rc = dec_read(dec, b, 8, "a data block size");
	if (rc)
		return rc;
	ev->size = vfm_get_be64(b);
	if (ev->size > dec->max_block)
		return dec_fail(dec, -EBADMSG, ev->offset + 8,
				"data block of %llu bytes exceeds the limit of %llu",
				(unsigned long long)ev->size, (unsigned long long)dec->max_block);
	ev->type = VFM_EV_DATA;
	dec->data_left = ev->size;
	dec->state = DS_DATA;
	return 0;
}

static int dec_footer(struct vfm_dec *dec, struct vfm_ev *ev)
{
	uint8_t b[5];
	int rc;

	rc = dec_read(dec, b, 5, "the section footer (0x7e, section id)");
	if (rc)
		return rc;
	if (b[0] != VFM_QEMU_VM_SECTION_FOOTER)
		return dec_fail(dec, -EBADMSG, ev->offset,
				"expected the section footer 0x7e, got 0x%02x", b[0]);
	if (vfm_get_be32(b + 1) != dec->cur_sid)
		return dec_fail(dec, -EBADMSG, ev->offset + 1,
				"footer names section %u, expected %u", vfm_get_be32(b + 1),
				dec->cur_sid);
	ev->type = VFM_EV_FOOTER;
	ev->section_type = dec->cur_type;
	ev->section_id = dec->cur_sid;
	ev->section_index = dec->cur_index;
	dec->state = DS_TOP;
	return 0;
}

static int dec_skip(struct vfm_dec *dec)
{
	uint8_t buf[4096];

	while (dec->data_left) {
		ssize_t n = vfm_dec_data(dec, buf, sizeof(buf));

		if (n < 0)
			return (int)n;
	}
	dec->state = DS_BODY;
	return 0;
}

int vfm_dec_next(struct vfm_dec *dec, struct vfm_ev *ev)
{
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (dec->state == DS_DATA) {
		rc = dec_skip(dec);
		if (rc)
			return rc;
	}
	ev->offset = dec->ch->pos;
	switch (dec->state) {
	case DS_TOP:
		return dec_top(dec, ev);
	case DS_BODY:
		return dec_body(dec, ev);
	case DS_FOOTER:
		return dec_footer(dec, ev);
	case DS_DONE:
		return vfm_errf(dec->err, sizeof(dec->err), -EBADMSG,
				"offset %llu: read past the end of the stream",
				(unsigned long long)ev->offset);
	default:
		return -EBADMSG;
	}
}

ssize_t vfm_dec_data(struct vfm_dec *dec, void *buf, size_t len)
{
	size_t n;
	int rc;

	if (dec->state != DS_DATA || len == 0)
		return 0;
	n = (size_t)VFM_MIN((uint64_t)len, dec->data_left);
	if (n == 0) {
		dec->state = DS_BODY;
		return 0;
	}
	rc = dec_read(dec, buf, n, "data block bytes");
	if (rc)
		return rc;
	dec->data_left -= n;
	if (dec->data_left == 0)
		dec->state = DS_BODY;
	return (ssize_t)n;
}
