// SPDX-License-Identifier: BSD-3-Clause
/*
 * The QEMU stream reader: records, section headers and footers, commands, the
 * configuration record, VFIO bodies (markers, data blocks, the vfio-pci config state) and
 * FULL bodies of other devices (by the vmdesc size or a footer scan). RAM and
 * dirty-bitmap bodies: qemu-ram.c; the vmdesc trailer: qemu-vmdesc.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qemu-int.h"
#include "util.h"
#include "vfio-mig/uapi.h"

enum {
	ST_TOP = 0, /* a record type */
	ST_SKIP,    /* a non-VFIO body to step over */
	ST_VFIO,    /* a VFIO marker */
	ST_DATA,    /* inside a VFIO data block */
	ST_FOOTER,  /* the section's footer (if footers are on) */
	ST_TRAILER, /* after EOF: the vmdesc trailer */
	ST_DONE,    /* read and checked to the end */
	ST_ERROR,
};

/* What a VFIO body may hold next. */
enum {
	BS_SETUP = 0,  /* START: DEV_SETUP_STATE */
	BS_SETUP_END,  /* START: END_OF_STATE */
	BS_PART,       /* PART: data, then END_OF_STATE or DEV_INIT_DATA_SENT */
	BS_END,	       /* END: data, then END_OF_STATE */
	BS_FULL,       /* FULL: DEV_CONFIG_STATE, END_OF_STATE or DEV_CONFIG_LOAD_READY */
	BS_CONFIG,     /* after DEV_CONFIG_STATE: the config, or END_OF_STATE */
	BS_CONFIG_END, /* after the config: END_OF_STATE */
};

#define MIG_CMD_MAX	 11
#define MIG_CMD_PING	 2
#define MIG_CMD_ADVISE	 3
#define MIG_CMD_PACKAGED 7
#define FOOTER_LOOKAHEAD 280 /* footer + the longest plausible record header */
#define PCI_CONFIG_MAX	 (4 + 4096 + 16 + VFM_QS_MAX_MSIX * 16 + VFM_QS_MAX_MSIX / 8 + 59 + 8)
#define DISPLAY_NAME	 "VFIOPCIDevice/VFIODisplay"
#define DISPLAY_SUB_LEN	 (1 + 1 + 25 + 4 + 28)

static const char *const cmd_names[] = {
	"INVALID",	"OPEN_RETURN_PATH",	"PING",	    "POSTCOPY_ADVISE", "POSTCOPY_LISTEN",
	"POSTCOPY_RUN", "POSTCOPY_RAM_DISCARD", "PACKAGED", "ENABLE_COLO",     "POSTCOPY_RESUME",
	"RECV_BITMAP",	"SWITCHOVER_START",
};

const char *vfm_qs_command_name(uint16_t cmd)
{
	return cmd < VFM_ARRAY_SIZE(cmd_names) ? cmd_names[cmd] : "?";
}

const char *vfm_qs_section_type_name(uint8_t type)
{
	switch (type) {
	case VFM_QEMU_VM_SECTION_START:
		return "START";
	case VFM_QEMU_VM_SECTION_PART:
		return "PART";
	case VFM_QEMU_VM_SECTION_END:
		return "END";
	case VFM_QEMU_VM_SECTION_FULL:
		return "FULL";
	default:
		return "?";
	}
}

const char *vfm_qs_marker_name(uint64_t m)
{
	switch (m) {
	case VFM_MIG_FLAG_END_OF_STATE:
		return "END_OF_STATE";
	case VFM_MIG_FLAG_DEV_CONFIG_STATE:
		return "DEV_CONFIG_STATE";
	case VFM_MIG_FLAG_DEV_SETUP_STATE:
		return "DEV_SETUP_STATE";
	case VFM_MIG_FLAG_DEV_DATA_STATE:
		return "DEV_DATA_STATE";
	case VFM_MIG_FLAG_DEV_INIT_DATA_SENT:
		return "DEV_INIT_DATA_SENT";
	case VFM_MIG_FLAG_DEV_CONFIG_LOAD_READY:
		return "DEV_CONFIG_LOAD_READY";
	default:
		return "?";
	}
}

const char *vfm_qs_kind_name(enum vfm_qs_kind kind)
{
	switch (kind) {
	case VFM_QS_KIND_RAM:
		return "ram";
	case VFM_QS_KIND_DIRTY_BITMAP:
		return "dirty-bitmap";
	case VFM_QS_KIND_VFIO:
		return "vfio";
	case VFM_QS_KIND_VFM:
		return "vfio-mig";
	default:
		return "device";
	}
}

static enum vfm_qs_kind kind_of(const char *idstr)
{
	size_t len = strlen(idstr);

	if (!strcmp(idstr, "ram"))
		return VFM_QS_KIND_RAM;
	if (!strcmp(idstr, "dirty-bitmap"))
		return VFM_QS_KIND_DIRTY_BITMAP;
	if (!strcmp(idstr, "vfio") || (len > 5 && !strcmp(idstr + len - 5, "/vfio")))
		return VFM_QS_KIND_VFIO;
	if (!strncmp(idstr, "vfio-mig-", 9))
		return VFM_QS_KIND_VFM;
	return VFM_QS_KIND_OTHER;
}

static bool is_vfio_grammar(enum vfm_qs_kind k)
{
	return k == VFM_QS_KIND_VFIO || k == VFM_QS_KIND_VFM;
}

int vfm_qs_open(struct vfm_qs_reader **out, int fd, char *err, size_t errlen)
{
	struct vfm_qs_reader *rd = calloc(1, sizeof(*rd));
	struct stat stbuf;
	uint8_t hdr[8];
	int rc;

	*out = NULL;
	if (!rd)
		return vfm_errf(err, errlen, -ENOMEM, "out of memory");
	rd->in.buf = malloc(QS_BUF_SIZE);
	rd->vmdesc.dev = calloc(VFM_QS_MAX_VMDESC_DEVICES, sizeof(*rd->vmdesc.dev));
	if (!rd->in.buf || !rd->vmdesc.dev) {
		vfm_qs_close(rd);
		return vfm_errf(err, errlen, -ENOMEM, "out of memory");
	}
	rd->in.fd = fd;
	rd->footers = -1;
	rd->page_size = 4096;
	rd->ram_last = -1;
	if (fstat(fd, &stbuf) == 0 && S_ISREG(stbuf.st_mode) && lseek(fd, 0, SEEK_CUR) == 0) {
		rc = qs_vmdesc_locate(rd, (uint64_t)stbuf.st_size);
		if (rc)
			goto fail;
	}
	rc = qs_read(rd, hdr, 8, "the file header (QEVM, version 3)");
	if (rc)
		goto fail;
	if (vfm_get_be32(hdr) != VFM_QEMU_VM_FILE_MAGIC) {
		rc = qs_fail(rd, -EBADMSG, 0, "expected file magic 0x5145564d (QEVM), got 0x%08x",
			     vfm_get_be32(hdr));
		goto fail;
	}
	if (vfm_get_be32(hdr + 4) != VFM_QEMU_VM_FILE_VERSION) {
		rc = qs_fail(rd, -EBADMSG, 4, "expected file version 3, got %u",
			     vfm_get_be32(hdr + 4));
		goto fail;
	}
	*out = rd;
	return 0;
fail:
	vfm_errf(err, errlen, rc, "%s", rd->err);
	vfm_qs_close(rd);
	return rc;
}

void vfm_qs_close(struct vfm_qs_reader *rd)
{
	if (!rd)
		return;
	free(rd->in.buf);
	free(rd->vmdesc.dev);
	free(rd);
}

const char *vfm_qs_error(const struct vfm_qs_reader *rd)
{
	return rd->err;
}

uint64_t vfm_qs_offset(const struct vfm_qs_reader *rd)
{
	return rd->in.pos;
}

const struct vfm_qs_config *vfm_qs_config(const struct vfm_qs_reader *rd)
{
	return rd->has_config ? &rd->config : NULL;
}

const struct vfm_qs_pci_config *vfm_qs_pci_config(const struct vfm_qs_reader *rd)
{
	return &rd->pci;
}

size_t vfm_qs_nr_sections(const struct vfm_qs_reader *rd)
{
	return rd->nr_sec;
}

const struct vfm_qs_section *vfm_qs_section(const struct vfm_qs_reader *rd, size_t i)
{
	return i < rd->nr_sec ? &rd->sec[i] : NULL;
}

bool vfm_qs_footers(const struct vfm_qs_reader *rd)
{
	return rd->footers == 1;
}

uint32_t vfm_qs_page_size(const struct vfm_qs_reader *rd)
{
	return rd->page_size;
}

bool vfm_qs_vmdesc_first(const struct vfm_qs_reader *rd)
{
	return rd->vmdesc_first;
}

static int fail(struct vfm_qs_reader *rd, int rc, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct vfm_qs_reader *rd, int rc, uint64_t off, const char *fmt, ...)
{
	char what[VFM_QS_ERR_LEN - 32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	rd->state = ST_ERROR;
	return qs_fail(rd, rc, off, "%s", what);
}

/* Any failure of a primitive also ends the reader. */
static int ended(struct vfm_qs_reader *rd, int rc)
{
	if (rc)
		rd->state = ST_ERROR;
	return rc;
}

/* ---- the configuration record ------------------------------------------------------ */

static int config_caps(struct vfm_qs_reader *rd)
{
	uint64_t off = rd->in.pos;
	uint32_t n;
	int rc = qs_be32(rd, &n, "the capability count");

	if (rc)
		return rc;
	if (n > VFM_QS_MAX_CAPS)
		return fail(rd, -EBADMSG, off, "%u capabilities (limit %d)", n, VFM_QS_MAX_CAPS);
	rd->config.nr_caps = n;
	for (uint32_t i = 0; i < n; i++) {
		off = rd->in.pos;
		rc = qs_cstr(rd, rd->config.caps[i], false, "a capability name");
		if (rc)
			return rc;
		if (!strcmp(rd->config.caps[i], "mapped-ram"))
			return fail(rd, -EBADMSG, off,
				    "capability mapped-ram: its RAM layout is not supported");
	}
	return 0;
}

static int config_sub(struct vfm_qs_reader *rd)
{
	char name[256];
	uint64_t off;
	uint32_t ver;
	int rc;

	qs_take(&rd->in, 1);
	off = rd->in.pos;
	rc = qs_cstr(rd, name, false, "a configuration subsection name");
	if (!rc)
		rc = qs_be32(rd, &ver, "a subsection version");
	if (rc)
		return rc;
	if (!strcmp(name, "configuration/capabilities"))
		return config_caps(rd);
	if (!strcmp(name, "configuration/uuid")) {
		rd->config.has_uuid = true;
		return qs_read(rd, rd->config.uuid, 16, "the VM's UUID");
	}
	if (strcmp(name, "configuration/target-page-bits"))
		return fail(rd, -EBADMSG, off, "unknown configuration subsection \"%s\"", name);
	off = rd->in.pos;
	rc = qs_be32(rd, &rd->config.page_bits, "the target page bits");
	if (rc)
		return rc;
	if (rd->config.page_bits < 9 || rd->config.page_bits > 21)
		return fail(rd, -EBADMSG, off, "target page bits %u (expected 9..21)",
			    rd->config.page_bits);
	rd->config.has_page_bits = true;
	rd->page_size = 1u << rd->config.page_bits;
	return 0;
}

static int read_config(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev)
{
	uint32_t len;
	ssize_t got;
	int rc;

	if (rd->has_config || rd->nr_sec)
		return fail(rd, -EBADMSG, ev->offset,
			    "a configuration record after the stream's first records");
	rc = qs_be32(rd, &len, "the machine type length");
	if (rc)
		return rc;
	if (len == 0 || len > 255)
		return fail(rd, -EBADMSG, ev->offset + 1,
			    "expected a machine type name of 1..255 bytes, got %u", len);
	rc = qs_read(rd, rd->config.machine, len, "the machine type name");
	if (rc)
		return rc;
	rd->config.machine[len] = '\0';
	for (;;) {
		got = qs_fill(&rd->in, 1);
		if (got < 0)
			return fail(rd, (int)got, rd->in.pos, "%s", strerror((int)-got));
		if (got == 0 || *qs_peek(&rd->in) != 0x05)
			break;
		rc = config_sub(rd);
		if (rc)
			return rc;
	}
	rd->has_config = true;
	ev->type = VFM_QS_EV_CONFIG;
	ev->size = rd->in.pos - ev->offset;
	return 0;
}

/* ---- commands ------------------------------------------------------------------------ */

/* The payload length each command must have (-1: any). */
static int cmd_len(uint16_t cmd)
{
	static const int lens[] = {0, 0, 4, -1, 0, 0, -1, 4, 0, 0, -1, 0};

	return lens[cmd];
}

static int read_command(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev)
{
	uint16_t cmd, len;
	uint8_t pl[16];
	int rc;

	rc = qs_be16(rd, &cmd, "a command number");
	if (!rc)
		rc = qs_be16(rd, &len, "a command length");
	if (rc)
		return rc;
	if (cmd == 0 || cmd > MIG_CMD_MAX)
		return fail(rd, -EBADMSG, ev->offset + 1, "expected a command 1..%d, got %u",
			    MIG_CMD_MAX, cmd);
	if ((cmd_len(cmd) >= 0 && len != cmd_len(cmd)) ||
	    (cmd == MIG_CMD_ADVISE && len != 0 && len != 16))
		return fail(rd, -EBADMSG, ev->offset + 3, "command %s with a %u-byte payload",
			    vfm_qs_command_name(cmd), len);
	ev->type = VFM_QS_EV_COMMAND;
	ev->cmd = cmd;
	ev->size = len;
	ev->in_package = rd->in_package;
	if (len > sizeof(pl))
		return ended(rd, qs_skip(rd, len, "the command's payload"));
	rc = qs_read(rd, pl, len, "the command's payload");
	if (rc)
		return rc;
	if (cmd == MIG_CMD_PING)
		ev->value = vfm_get_be32(pl);
	if (cmd == MIG_CMD_ADVISE && len == 16) {
		rd->postcopy_advised = true;
		rd->postcopy_page_summary = vfm_get_be64(pl);
		ev->value = rd->postcopy_page_summary;
	}
	if (cmd == MIG_CMD_PACKAGED) {
		ev->value = vfm_get_be32(pl);
		if (rd->in_package)
			return fail(rd, -EBADMSG, ev->offset, "a package inside a package");
		if (ev->value > VFM_QS_MAX_PACKAGE)
			return fail(rd, -EBADMSG, ev->offset + 5,
				    "a package of %llu bytes (limit %u)",
				    (unsigned long long)ev->value, VFM_QS_MAX_PACKAGE);
		rd->in_package = ev->value > 0;
		rd->package_end = rd->in.pos + ev->value;
	}
	return 0;
}

/* ---- section headers ----------------------------------------------------------------- */

static struct vfm_qs_section *find_sec(struct vfm_qs_reader *rd, uint32_t id)
{
	for (size_t i = 0; i < rd->nr_sec; i++) {
		if (rd->sec[i].id == id)
			return &rd->sec[i];
	}
	return NULL;
}

static int check_version(struct vfm_qs_reader *rd, const struct vfm_qs_section *s, uint64_t off)
{
	uint32_t want = s->kind == VFM_QS_KIND_RAM ? 4 : 1;

	if (s->kind == VFM_QS_KIND_OTHER || s->version_id == want)
		return 0;
	return fail(rd, -EBADMSG, off, "section \"%s\" has version %u, expected %u", s->idstr,
		    s->version_id, want);
}

static int full_header(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev, uint8_t type)
{
	struct vfm_qs_section *s, hdr = {0};
	uint64_t off;
	int rc;

	rc = qs_be32(rd, &hdr.id, "a section id");
	if (!rc)
		rc = qs_cstr(rd, hdr.idstr, false, "the section's id string");
	if (!rc)
		rc = qs_be32(rd, &hdr.instance_id, "the instance id");
	off = rd->in.pos;
	if (!rc)
		rc = qs_be32(rd, &hdr.version_id, "the version id");
	if (rc)
		return rc;
	hdr.kind = kind_of(hdr.idstr);
	s = find_sec(rd, hdr.id);
	if (s && (type == VFM_QEMU_VM_SECTION_START || s->full || strcmp(s->idstr, hdr.idstr) ||
		  s->instance_id != hdr.instance_id))
		return fail(rd, -EBADMSG, ev->offset + 1,
			    "section id %u (\"%s\") appears again as %s \"%s\" instance %u", hdr.id,
			    s->idstr, vfm_qs_section_type_name(type), hdr.idstr, hdr.instance_id);
	if (type == VFM_QEMU_VM_SECTION_START && hdr.kind == VFM_QS_KIND_OTHER)
		return fail(rd, -EBADMSG, ev->offset,
			    "START section \"%s\": an iterable section of a kind this reader "
			    "cannot step over",
			    hdr.idstr);
	if (type == VFM_QEMU_VM_SECTION_FULL &&
	    (hdr.kind == VFM_QS_KIND_RAM || hdr.kind == VFM_QS_KIND_DIRTY_BITMAP))
		return fail(rd, -EBADMSG, ev->offset, "a FULL section \"%s\"", hdr.idstr);
	if (!s) {
		if (rd->nr_sec >= VFM_QS_MAX_SECTIONS)
			return fail(rd, -EBADMSG, ev->offset, "more than %d sections",
				    VFM_QS_MAX_SECTIONS);
		s = &rd->sec[rd->nr_sec++];
		*s = hdr;
	} else if (s->version_id != hdr.version_id) {
		return fail(rd, -EBADMSG, off, "section \"%s\": version %u, its START said %u",
			    s->idstr, hdr.version_id, s->version_id);
	}
	if (type == VFM_QEMU_VM_SECTION_START)
		s->started = true;
	else
		s->full = true;
	rd->cur = s;
	return check_version(rd, s, off);
}

static int short_header(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev, uint8_t type)
{
	struct vfm_qs_section *s;
	uint32_t id;
	int rc = qs_be32(rd, &id, "a section id");

	if (rc)
		return rc;
	s = find_sec(rd, id);
	if (!s || !s->started)
		return fail(rd, -EBADMSG, ev->offset + 1,
			    "%s of section id %u, which never started",
			    vfm_qs_section_type_name(type), id);
	if (s->ended)
		return fail(rd, -EBADMSG, ev->offset, "%s of section %u (\"%s\") after its END",
			    vfm_qs_section_type_name(type), id, s->idstr);
	if (type == VFM_QEMU_VM_SECTION_END)
		s->ended = true;
	else
		s->parts++;
	rd->cur = s;
	return 0;
}

static int read_section(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev, uint8_t type)
{
	int rc = type == VFM_QEMU_VM_SECTION_START || type == VFM_QEMU_VM_SECTION_FULL
			 ? full_header(rd, ev, type)
			 : short_header(rd, ev, type);

	if (rc)
		return ended(rd, rc);
	rd->cur->records++;
	rd->cur_type = type;
	rd->body_start = rd->in.pos;
	ev->type = VFM_QS_EV_SECTION;
	ev->sec = rd->cur;
	ev->in_package = rd->in_package;
	if (!is_vfio_grammar(rd->cur->kind)) {
		rd->state = ST_SKIP;
		return 0;
	}
	rd->state = ST_VFIO;
	rd->body_step = type == VFM_QEMU_VM_SECTION_START  ? BS_SETUP
			: type == VFM_QEMU_VM_SECTION_PART ? BS_PART
			: type == VFM_QEMU_VM_SECTION_END  ? BS_END
							   : BS_FULL;
	return 0;
}

static int read_top(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev)
{
	uint8_t type;
	int rc;

	if (rd->in_package && rd->in.pos == rd->package_end)
		rd->in_package = false;
	if (rd->in_package && rd->in.pos > rd->package_end)
		return fail(rd, -EBADMSG, rd->package_end, "a record runs past the package's end");
	ev->offset = rd->in.pos;
	rc = qs_u8(rd, &type, "a record type or EOF (0x00)");
	if (rc)
		return ended(rd, rc);
	ev->section_type = type;
	switch (type) {
	case VFM_QEMU_VM_EOF:
		if (rd->in_package)
			return fail(rd, -EBADMSG, ev->offset, "EOF inside a postcopy package");
		ev->type = VFM_QS_EV_EOF;
		rd->state = ST_TRAILER;
		return 0;
	case VFM_QEMU_VM_SECTION_START:
	case VFM_QEMU_VM_SECTION_PART:
	case VFM_QEMU_VM_SECTION_END:
	case VFM_QEMU_VM_SECTION_FULL:
		return read_section(rd, ev, type);
	case 0x07:
		return ended(rd, read_config(rd, ev));
	case 0x08:
		return ended(rd, read_command(rd, ev));
	default:
		return fail(rd, -EBADMSG, ev->offset,
			    "expected a record type (0x00..0x04, 0x07, 0x08), got 0x%02x", type);
	}
}

/* ---- FULL bodies of other devices ---------------------------------------------------- */

/* Whether the bytes after a candidate footer start a record QEMU could write there. */
static bool plausible(struct vfm_qs_reader *rd, const uint8_t *p, size_t n)
{
	const struct vfm_qs_section *s;
	size_t len;

	if (n == 0)
		return false;
	switch (p[0]) {
	case VFM_QEMU_VM_EOF:
		return n == 1 || (n >= 7 && p[1] == 0x06 && p[6] == '{');
	case VFM_QEMU_VM_SECTION_START:
	case VFM_QEMU_VM_SECTION_FULL:
		if (n < 6 || p[5] == 0 || n < 6 + (size_t)p[5] + 8)
			return false;
		len = p[5];
		for (size_t i = 0; i < len; i++) {
			if (p[6 + i] < 0x20 || p[6 + i] > 0x7e)
				return false;
		}
		return vfm_get_be32(p + 6 + len) < 0x10000 && vfm_get_be32(p + 10 + len) < 0x10000;
	case VFM_QEMU_VM_SECTION_PART:
	case VFM_QEMU_VM_SECTION_END:
		s = n >= 5 ? find_sec(rd, vfm_get_be32(p + 1)) : NULL;
		return s && s->started && !s->ended;
	case 0x08:
		return n >= 3 && p[1] == 0 && p[2] >= 1 && p[2] <= MIG_CMD_MAX;
	default:
		return false;
	}
}

static int footer_scan(struct vfm_qs_reader *rd, uint64_t *size)
{
	uint32_t id = rd->cur->id;

	for (;;) {
		ssize_t got = qs_fill(&rd->in, FOOTER_LOOKAHEAD);
		const uint8_t *p = qs_peek(&rd->in), *hit;

		if (got < 0)
			return fail(rd, (int)got, rd->in.pos, "%s", strerror((int)-got));
		if (got < 5)
			return fail(rd, -EPIPE, rd->body_start,
				    "stream ends inside FULL section \"%s\": no footer found",
				    rd->cur->idstr);
		if (p[0] == VFM_QEMU_VM_SECTION_FOOTER && vfm_get_be32(p + 1) == id &&
		    plausible(rd, p + 5, (size_t)got - 5))
			break;
		hit = memchr(p + 1, VFM_QEMU_VM_SECTION_FOOTER, (size_t)got - 1);
		qs_take(&rd->in, hit ? (size_t)(hit - p) : (size_t)got);
		if (rd->in.pos - rd->body_start > VFM_QS_MAX_SCAN)
			return fail(rd, -EBADMSG, rd->body_start,
				    "no footer of FULL section \"%s\" within %llu bytes",
				    rd->cur->idstr, (unsigned long long)VFM_QS_MAX_SCAN);
	}
	rd->footers = 1;
	*size = rd->in.pos - rd->body_start;
	return 0;
}

/* The vmdesc entry for the current FULL section: the next unused one of its name and
 * instance. */
static struct qs_vmdesc_dev *vmdesc_entry(struct vfm_qs_reader *rd)
{
	for (size_t i = 0; i < rd->vmdesc.nr; i++) {
		struct qs_vmdesc_dev *d = &rd->vmdesc.dev[i];

		if (!d->used && d->instance_id == rd->cur->instance_id &&
		    !strcmp(d->name, rd->cur->idstr))
			return d;
	}
	return NULL;
}

static int skip_full(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev)
{
	struct qs_vmdesc_dev *d;

	if (!rd->vmdesc_first) {
		if (rd->footers == 0)
			return fail(rd, -EBADMSG, rd->body_start,
				    "FULL section \"%s\": no vmdesc and no footers, its end cannot "
				    "be found",
				    rd->cur->idstr);
		ev->how = VFM_QS_HOW_FOOTER_SCAN;
		return footer_scan(rd, &ev->size);
	}
	d = vmdesc_entry(rd);
	if (!d)
		return fail(rd, -EBADMSG, rd->body_start,
			    "FULL section \"%s\" instance %u is not in the vmdesc trailer",
			    rd->cur->idstr, rd->cur->instance_id);
	ev->how = VFM_QS_HOW_VMDESC;
	ev->size = d->size;
	return ended(rd, qs_skip(rd, d->size, "the FULL section's state (vmdesc size)"));
}

static int read_skip(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev)
{
	int rc;

	ev->type = VFM_QS_EV_BODY;
	ev->offset = rd->body_start;
	ev->section_type = rd->cur_type;
	ev->sec = rd->cur;
	ev->in_package = rd->in_package;
	switch (rd->cur->kind) {
	case VFM_QS_KIND_RAM:
		ev->how = VFM_QS_HOW_RAM;
		rc = qs_ram_body(rd, rd->cur_type, &ev->ram);
		break;
	case VFM_QS_KIND_DIRTY_BITMAP:
		ev->how = VFM_QS_HOW_DIRTY_BITMAP;
		rc = qs_dirty_bitmap_body(rd, &ev->ram);
		break;
	default:
		rc = skip_full(rd, ev);
	}
	if (rc)
		return ended(rd, rc);
	ev->size = rd->in.pos - rd->body_start;
	rd->state = ST_FOOTER;
	return 0;
}

/* ---- VFIO bodies ----------------------------------------------------------------------- */

static const char *vfio_expect(int step)
{
	switch (step) {
	case BS_SETUP:
		return "DEV_SETUP_STATE";
	case BS_PART:
		return "DEV_DATA_STATE, END_OF_STATE or DEV_INIT_DATA_SENT";
	case BS_END:
		return "DEV_DATA_STATE or END_OF_STATE";
	case BS_FULL:
		return "DEV_CONFIG_STATE, END_OF_STATE or DEV_CONFIG_LOAD_READY";
	default:
		return "END_OF_STATE";
	}
}

/* MSI-X table entries the config space's capability list announces (0: none). */
static uint32_t msix_entries(const uint8_t *cfg)
{
	unsigned int ptr, steps = 0;

	if (!(cfg[0x06] & 0x10))
		return 0;
	for (ptr = cfg[0x34] & 0xfc; ptr >= 0x40 && ptr < 0xfc && steps < 48; steps++) {
		if (cfg[ptr] == 0x11)
			return ((cfg[ptr + 2] | (uint32_t)cfg[ptr + 3] << 8) & 0x7ff) + 1;
		ptr = cfg[ptr + 1] & 0xfc;
	}
	return 0;
}

/* Whether a config of this shape ends at `at` (END_OF_STATE, maybe after the display
 * subsection); *display says which. */
static bool config_ends(const uint8_t *p, size_t avail, size_t at, bool *display)
{
	if (at + 8 <= avail && vfm_get_be64(p + at) == VFM_MIG_FLAG_END_OF_STATE) {
		*display = false;
		return true;
	}
	if (at + DISPLAY_SUB_LEN + 8 > avail || p[at] != 0x05 || p[at + 1] != 25 ||
	    memcmp(p + at + 2, DISPLAY_NAME, 25))
		return false;
	*display = true;
	return vfm_get_be64(p + at + DISPLAY_SUB_LEN) == VFM_MIG_FLAG_END_OF_STATE;
}

static void config_fill(struct vfm_qs_pci_config *c, const uint8_t *p, uint32_t cfg, uint32_t n,
			bool display)
{
	const uint8_t *q = p + 4 + cfg;
	uint32_t tbl = n * 16;

	memset(c, 0, sizeof(*c));
	c->pcidev_version = vfm_get_be32(p);
	c->config_size = cfg;
	memcpy(c->config, p + 4, cfg);
	for (int i = 0; i < 4; i++)
		c->irq_state[i] = vfm_get_be32(q + 4 * i);
	q += 16;
	c->msix_entries = n;
	memcpy(c->msix_table, q, tbl);
	memcpy(c->msix_pba, q + tbl, (n + 7) / 8);
	q += tbl + (n + 7) / 8;
	c->display = display;
	if (display) {
		q += 1 + 1 + 25 + 4;
		c->ramfb_addr = vfm_get_be64(q);
		c->ramfb_fourcc = vfm_get_be32(q + 8);
		c->ramfb_flags = vfm_get_be32(q + 12);
		c->ramfb_width = vfm_get_be32(q + 16);
		c->ramfb_height = vfm_get_be32(q + 20);
		c->ramfb_stride = vfm_get_be32(q + 24);
	}
}

/* VFIOPCIDevice: the layout (256 or 4096 bytes of config space, MSI-X or none) after
 * which END_OF_STATE follows. */
static int read_pci_config(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev)
{
	static const uint32_t cfgs[] = {4096, 256};
	ssize_t got = qs_fill(&rd->in, PCI_CONFIG_MAX);
	const uint8_t *p = qs_peek(&rd->in);
	bool display;

	if (got < 0)
		return fail(rd, (int)got, rd->in.pos, "%s", strerror((int)-got));
	if (got < 4 + 256 + 16 + 8)
		return fail(rd, -EPIPE, rd->in.pos + (uint64_t)got,
			    "stream ends, expected the vfio-pci config state");
	if (vfm_get_be32(p) != 2)
		return fail(rd, -EBADMSG, rd->in.pos,
			    "expected the PCIDevice state version 2, got %u", vfm_get_be32(p));
	for (size_t i = 0; i < VFM_ARRAY_SIZE(cfgs); i++) {
		uint32_t cfg = cfgs[i], n;

		if ((size_t)got < 4 + cfg + 16 + 8)
			continue;
		n = msix_entries(p + 4);
		for (int with = n ? 1 : 0; with >= 0; with--) {
			uint32_t m = with ? n : 0;
			size_t at = 4 + cfg + 16 + m * 16 + (m + 7) / 8;

			if (!config_ends(p, (size_t)got, at, &display))
				continue;
			config_fill(&rd->pci, p, cfg, m, display);
			ev->type = VFM_QS_EV_PCI_CONFIG;
			ev->size = at + (display ? DISPLAY_SUB_LEN : 0);
			qs_take(&rd->in, (size_t)ev->size);
			rd->body_step = BS_CONFIG_END;
			return 0;
		}
	}
	return fail(rd, -EBADMSG, rd->in.pos,
		    "vfio-pci config state: no layout (4096 or 256 bytes of config space, with or "
		    "without the MSI-X its capability announces) is followed by END_OF_STATE");
}

static int vfio_data(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev)
{
	int rc = qs_be64(rd, &ev->size, "a data block size");

	if (rc)
		return ended(rd, rc);
	if (ev->size > VFM_QS_MAX_BLOCK)
		return fail(rd, -EBADMSG, ev->offset + 8,
			    "data block of %llu bytes exceeds the limit of %llu",
			    (unsigned long long)ev->size, (unsigned long long)VFM_QS_MAX_BLOCK);
	ev->type = VFM_QS_EV_DATA;
	rd->cur->blocks++;
	rd->cur->data_bytes += ev->size;
	rd->data_left = ev->size;
	rd->state = ST_DATA;
	return 0;
}

/* Whether marker m ends the body at this step. */
static bool vfio_terminates(int step, uint64_t m)
{
	switch (step) {
	case BS_SETUP_END:
	case BS_END:
	case BS_CONFIG:
	case BS_CONFIG_END:
		return m == VFM_MIG_FLAG_END_OF_STATE;
	case BS_PART:
		return m == VFM_MIG_FLAG_END_OF_STATE || m == VFM_MIG_FLAG_DEV_INIT_DATA_SENT;
	case BS_FULL:
		return m == VFM_MIG_FLAG_END_OF_STATE || m == VFM_MIG_FLAG_DEV_CONFIG_LOAD_READY;
	default:
		return false;
	}
}

static int read_vfio(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev)
{
	uint64_t m;
	int rc;

	ev->section_type = rd->cur_type;
	ev->sec = rd->cur;
	if (rd->body_step == BS_CONFIG) {
		rc = qs_need(rd, 8, "the vfio-pci config state or END_OF_STATE");
		if (rc)
			return ended(rd, rc);
		if (vfm_get_be64(qs_peek(&rd->in)) != VFM_MIG_FLAG_END_OF_STATE)
			return read_pci_config(rd, ev);
	}
	rc = qs_be64(rd, &m, vfio_expect(rd->body_step));
	if (rc)
		return ended(rd, rc);
	ev->marker = m;
	ev->type = VFM_QS_EV_MARKER;
	if (vfio_terminates(rd->body_step, m)) {
		rd->state = ST_FOOTER;
		return 0;
	}
	switch (rd->body_step) {
	case BS_SETUP:
		if (m != VFM_MIG_FLAG_DEV_SETUP_STATE)
			break;
		rd->body_step = BS_SETUP_END;
		return 0;
	case BS_PART:
	case BS_END:
		if (m != VFM_MIG_FLAG_DEV_DATA_STATE)
			break;
		return vfio_data(rd, ev);
	case BS_FULL:
		if (m != VFM_MIG_FLAG_DEV_CONFIG_STATE)
			break;
		rd->body_step = BS_CONFIG;
		return 0;
	default:
		break;
	}
	return fail(rd, -EBADMSG, ev->offset, "expected %s, got 0x%016llx",
		    vfio_expect(rd->body_step), (unsigned long long)m);
}

ssize_t vfm_qs_data(struct vfm_qs_reader *rd, void *buf, size_t len)
{
	size_t n;
	int rc;

	if (rd->state != ST_DATA || len == 0)
		return 0;
	n = (size_t)VFM_MIN((uint64_t)VFM_MIN(len, (size_t)QS_BUF_SIZE), rd->data_left);
	if (n) {
		rc = qs_read(rd, buf, n, "data block bytes");
		if (rc)
			return ended(rd, rc);
	}
	rd->data_left -= n;
	if (rd->data_left == 0)
		rd->state = ST_VFIO;
	return (ssize_t)n;
}

/* ---- footers, EOF and the trailer -------------------------------------------------- */

/* A finished FULL body: checked against (vmdesc first) or kept for (trailer later) the
 * vmdesc trailer. */
static int full_done(struct vfm_qs_reader *rd, uint64_t size)
{
	struct qs_vmdesc_dev *d;

	if (rd->vmdesc_first) {
		d = vmdesc_entry(rd);
		if (!d)
			return fail(rd, -EBADMSG, rd->body_start,
				    "FULL section \"%s\" instance %u is not in the vmdesc trailer",
				    rd->cur->idstr, rd->cur->instance_id);
		if (d->size != size)
			return fail(rd, -EBADMSG, rd->body_start,
				    "FULL section \"%s\": %llu bytes, the vmdesc trailer says %llu",
				    rd->cur->idstr, (unsigned long long)size,
				    (unsigned long long)d->size);
		d->used = true;
		return 0;
	}
	if (rd->nr_full >= VFM_QS_MAX_FULL) {
		rd->full_overflow = true;
		return 0;
	}
	rd->full[rd->nr_full].sec = (uint32_t)(rd->cur - rd->sec);
	rd->full[rd->nr_full++].size = size;
	return 0;
}

static int read_footer(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev)
{
	uint64_t size = rd->in.pos - rd->body_start;
	ssize_t got;
	int rc;

	rd->cur->body_bytes += size;
	if (rd->cur_type == VFM_QEMU_VM_SECTION_FULL) {
		rc = full_done(rd, size);
		if (rc)
			return rc;
	}
	if (rd->footers < 0) {
		got = qs_fill(&rd->in, 1);
		if (got < 0)
			return fail(rd, (int)got, rd->in.pos, "%s", strerror((int)-got));
		rd->footers = got == 1 && *qs_peek(&rd->in) == VFM_QEMU_VM_SECTION_FOOTER;
	}
	if (!rd->footers) {
		rd->state = ST_TOP;
		return read_top(rd, ev);
	}
	ev->offset = rd->in.pos;
	rc = qs_need(rd, 5, "the section footer (0x7e, section id)");
	if (rc)
		return ended(rd, rc);
	if (qs_peek(&rd->in)[0] != VFM_QEMU_VM_SECTION_FOOTER)
		return fail(rd, -EBADMSG, ev->offset,
			    "expected the section footer 0x7e, got 0x%02x", qs_peek(&rd->in)[0]);
	if (vfm_get_be32(qs_peek(&rd->in) + 1) != rd->cur->id)
		return fail(rd, -EBADMSG, ev->offset + 1, "footer names section %u, expected %u",
			    vfm_get_be32(qs_peek(&rd->in) + 1), rd->cur->id);
	qs_take(&rd->in, 5);
	ev->type = VFM_QS_EV_FOOTER;
	ev->section_type = rd->cur_type;
	ev->sec = rd->cur;
	ev->in_package = rd->in_package;
	rd->state = ST_TOP;
	return 0;
}

/* The trailer read at the end matches the FULL sections walked by footer scans. */
static int check_trailer(struct vfm_qs_reader *rd, uint64_t off)
{
	if (rd->full_overflow)
		return 0;
	for (size_t i = 0; i < rd->nr_full; i++) {
		rd->cur = &rd->sec[rd->full[i].sec];
		rd->vmdesc_first = true;
		if (full_done(rd, rd->full[i].size)) {
			rd->vmdesc_first = false;
			return fail(rd, -EBADMSG, off, "the vmdesc trailer does not match: %s",
				    rd->err);
		}
		rd->vmdesc_first = false;
	}
	return 0;
}

static int all_used(struct vfm_qs_reader *rd, uint64_t off)
{
	for (size_t i = 0; i < rd->vmdesc.nr; i++) {
		if (!rd->vmdesc.dev[i].used)
			return fail(
				rd, -EBADMSG, off,
				"the vmdesc trailer lists \"%s\" instance %u, which has no FULL "
				"section",
				rd->vmdesc.dev[i].name, rd->vmdesc.dev[i].instance_id);
	}
	return 0;
}

static int read_trailer(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev)
{
	ssize_t got = qs_fill(&rd->in, 1);
	uint32_t len;
	int rc;

	ev->offset = rd->in.pos;
	if (got < 0)
		return fail(rd, (int)got, rd->in.pos, "%s", strerror((int)-got));
	if (got == 0) {
		if (rd->vmdesc_first)
			return fail(
				rd, -EBADMSG, ev->offset,
				"the stream ends at EOF, but a vmdesc trailer was found at %llu",
				(unsigned long long)rd->vmdesc_off);
		rd->state = ST_DONE;
		return -ENODATA;
	}
	if (*qs_peek(&rd->in) != 0x06)
		return fail(rd, -EBADMSG, ev->offset,
			    "expected the vmdesc trailer (0x06) or the end of the stream after "
			    "EOF, got 0x%02x",
			    *qs_peek(&rd->in));
	if (rd->vmdesc_first && ev->offset != rd->vmdesc_off)
		return fail(rd, -EBADMSG, ev->offset, "the vmdesc trailer was found at %llu",
			    (unsigned long long)rd->vmdesc_off);
	qs_take(&rd->in, 1);
	rc = qs_be32(rd, &len, "the vmdesc length");
	if (rc)
		return ended(rd, rc);
	if (len > VFM_QS_MAX_VMDESC)
		return fail(rd, -EBADMSG, ev->offset + 1, "a vmdesc of %u bytes (limit %u)", len,
			    VFM_QS_MAX_VMDESC);
	ev->type = VFM_QS_EV_VMDESC;
	ev->size = len;
	if (rd->vmdesc_first) {
		rc = qs_skip(rd, len, "the vmdesc JSON");
	} else {
		rc = qs_vmdesc_parse(rd, &rd->in, len);
		if (!rc)
			rc = check_trailer(rd, ev->offset);
	}
	if (!rc)
		rc = all_used(rd, ev->offset);
	if (rc)
		return ended(rd, rc);
	ev->value = rd->vmdesc.nr;
	got = qs_fill(&rd->in, 1);
	if (got != 0)
		return fail(rd, got < 0 ? (int)got : -EBADMSG, rd->in.pos,
			    "bytes after the vmdesc trailer");
	rd->state = ST_DONE;
	return 0;
}

static int skip_data(struct vfm_qs_reader *rd)
{
	int rc = qs_skip(rd, rd->data_left, "data block bytes");

	if (rc)
		return ended(rd, rc);
	rd->data_left = 0;
	rd->state = ST_VFIO;
	return 0;
}

int vfm_qs_next(struct vfm_qs_reader *rd, struct vfm_qs_ev *ev)
{
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (rd->state == ST_DATA) {
		rc = skip_data(rd);
		if (rc)
			return rc;
	}
	ev->offset = rd->in.pos;
	switch (rd->state) {
	case ST_TOP:
		return read_top(rd, ev);
	case ST_SKIP:
		return read_skip(rd, ev);
	case ST_VFIO:
		return read_vfio(rd, ev);
	case ST_FOOTER:
		return read_footer(rd, ev);
	case ST_TRAILER:
		return read_trailer(rd, ev);
	case ST_DONE:
		return -ENODATA;
	default:
		return -EBADMSG;
	}
}
