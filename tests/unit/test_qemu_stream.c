// SPDX-License-Identifier: BSD-3-Clause
/*
 * The QEMU stream reader (include/vfio-mig/qemu-stream.h) on real streams QEMU 11.1.3
 * wrote in the kernel tier (tests/data/, see README there) and on synthetic streams built
 * here with every record kind: configuration subsections, every command, a postcopy
 * package, RAM (block list, PAGE, ZERO, XBZRLE, CONTINUE, MULTIFD_FLUSH), dirty-bitmap
 * chunks, VFIO START/PART/END with INIT_DATA_SENT, the vfio-pci config (256 bytes, MSI-X,
 * ramfb display), CONFIG_LOAD_READY, FULL sections of other devices sized by the vmdesc
 * (fields, array_len, nested structs, subsections) or by footer scans, streams without
 * footers. Each stream is read from a file (vmdesc first) and from a pipe (footer scans,
 * trailer checked last); every prefix of a stream is refused with an offset, as are
 * bit flips, and the refusals of each grammar rule. The reader must not allocate after
 * vfm_qs_open() (counted through -Wl,--wrap). vfm_qs_extract() is checked through the
 * library's own decoder.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vfio-mig/qemu-stream.h"
#include "vfio-mig/stream.h"
#include "vfio-mig/uapi.h"

/* ---- allocation counting ------------------------------------------------------------ */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static volatile int counting;
static size_t n_allocs;

void *__wrap_malloc(size_t size)
{
	n_allocs += counting;
	return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	n_allocs += counting;
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	n_allocs += counting;
	return __real_realloc(p, size);
}

/* ---- a stream builder --------------------------------------------------------------- */

struct sb {
	uint8_t b[1 << 16];
	size_t n;
};

static void u8(struct sb *s, unsigned v)
{
	s->b[s->n++] = (uint8_t)v;
}

static void be16(struct sb *s, unsigned v)
{
	u8(s, v >> 8);
	u8(s, v);
}

static void be32(struct sb *s, uint32_t v)
{
	be16(s, v >> 16);
	be16(s, v & 0xffff);
}

static void le32(struct sb *s, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		u8(s, (v >> (8 * i)) & 0xff);
}

static void be64(struct sb *s, uint64_t v)
{
	be32(s, (uint32_t)(v >> 32));
	be32(s, (uint32_t)v);
}

static void raw(struct sb *s, const void *p, size_t n)
{
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

static void fill(struct sb *s, int c, size_t n)
{
	memset(s->b + s->n, c, n);
	s->n += n;
}

static void cstr(struct sb *s, const char *str)
{
	u8(s, (unsigned)strlen(str));
	raw(s, str, strlen(str));
}

static void header(struct sb *s)
{
	raw(s, "QEVM", 4);
	be32(s, 3);
}

static void sec_full(struct sb *s, uint8_t type, uint32_t id, const char *idstr, uint32_t inst,
		     uint32_t ver)
{
	u8(s, type);
	be32(s, id);
	cstr(s, idstr);
	be32(s, inst);
	be32(s, ver);
}

static void sec_short(struct sb *s, uint8_t type, uint32_t id)
{
	u8(s, type);
	be32(s, id);
}

static void footer(struct sb *s, uint32_t id)
{
	u8(s, 0x7e);
	be32(s, id);
}

static void cmd(struct sb *s, unsigned c, unsigned len)
{
	u8(s, 0x08);
	be16(s, c);
	be16(s, len);
}

static void vfio_data(struct sb *s, const char *bytes)
{
	be64(s, VFM_MIG_FLAG_DEV_DATA_STATE);
	be64(s, strlen(bytes));
	raw(s, bytes, strlen(bytes));
}

static void trailer(struct sb *s, const char *json)
{
	u8(s, 0x06);
	be32(s, (uint32_t)strlen(json));
	raw(s, json, strlen(json));
}

#define VFIO   "0000:00:04.0/vfio"
#define VFIO2  "0000:00:05.0/vfio"
#define CFG_SZ (8 + 4 + 256 + 16 + 3 * 16 + 1 + 59 + 8)

/* The vfio-pci config body: 256 bytes of config space with an MSI-X capability of 3
 * entries, INTx state, the MSI-X table and PBA, the ramfb display subsection. */
static void pci_config(struct sb *s)
{
	uint8_t cfg[256] = {0x48, 0x43, 0x53, 0x32};

	cfg[0x06] = 0x10;
	cfg[0x34] = 0x40;
	cfg[0x40] = 0x11;
	cfg[0x42] = 2;
	be64(s, VFM_MIG_FLAG_DEV_CONFIG_STATE);
	be32(s, 2);
	raw(s, cfg, sizeof(cfg));
	be32(s, 0);
	be32(s, 1);
	be32(s, 0);
	be32(s, 0);
	for (int i = 0; i < 3; i++) {
		le32(s, 0xfee00000u + (uint32_t)i);
		le32(s, 0);
		le32(s, 0x40u + (uint32_t)i);
		le32(s, i == 1);
	}
	u8(s, 0x04);
	u8(s, 5);
	cstr(s, "VFIOPCIDevice/VFIODisplay");
	be32(s, 1);
	be64(s, 0x12340000);
	be32(s, 0x34325258);
	be32(s, 0);
	be32(s, 640);
	be32(s, 480);
	be32(s, 2560);
	be64(s, VFM_MIG_FLAG_END_OF_STATE);
}

static const char vmdesc_a[] =
	"{\"page_size\": 4096, \"devices\": ["
	"{\"name\": \"timer\", \"instance_id\": 0, \"vmsd_name\": \"timer\", \"version\": 2, "
	"\"fields\": [{\"name\": \"a\", \"type\": \"int64\", \"size\": 8}, {\"name\": \"b\", "
	"\"type\": \"int64\", \"size\": 8, \"array_len\": 2}]}, "
	"{\"name\": \"0000:00:04.0\\/vfio\", \"instance_id\": 0, \"size\": 400, \"fields\": "
	"[{\"name\": \"data\", \"type\": \"buffer\", \"size\": 400}]}, "
	"{\"name\": \"dev\\u002fwith-sub\", \"instance_id\": 0, \"vmsd_name\": \"dev\", "
	"\"version\": 1, \"fields\": [{\"name\": \"x\", \"type\": \"struct\", \"size\": 4, "
	"\"struct\": {\"vmsd_name\": \"n\", \"version\": 1, \"fields\": [{\"name\": \"q\", "
	"\"size\": 99}]}}], \"subsections\": [{\"vmsd_name\": \"x/sub\", \"version\": 1, "
	"\"fields\": [{\"name\": \"y\", \"type\": \"uint16\", \"size\": 2, \"flag\": true, "
	"\"none\": null, \"f\": -1.5e3}]}]}, "
	"{\"name\": \"0000:00:05.0/vfio\", \"instance_id\": 0, \"size\": 8, \"fields\": "
	"[{\"name\": \"data\", \"type\": \"buffer\", \"size\": 8}]}]}";

/* Stream A: every record kind; with footers and a vmdesc when `desc`. */
static void stream_a(struct sb *s, bool footers, bool desc)
{
	uint8_t page[4096];

#define FOOT(id)                                                                                   \
	do {                                                                                       \
		if (footers)                                                                       \
			footer(s, id);                                                             \
	} while (0)
	memset(page, 0xa5, sizeof(page));
	s->n = 0;
	header(s);
	u8(s, 0x07);
	be32(s, 11);
	raw(s, "pc-q35-11.1", 11);
	u8(s, 0x05);
	cstr(s, "configuration/capabilities");
	be32(s, 1);
	be32(s, 1);
	cstr(s, "x-ignore-shared");
	u8(s, 0x05);
	cstr(s, "configuration/uuid");
	be32(s, 1);
	fill(s, 0x11, 16);
	u8(s, 0x05);
	cstr(s, "configuration/target-page-bits");
	be32(s, 1);
	be32(s, 12);
	cmd(s, 1, 0);
	cmd(s, 2, 4);
	be32(s, 1);
	cmd(s, 3, 0);
	/* RAM setup: two blocks (with their x-ignore-shared addresses), a flush, EOS */
	sec_full(s, 0x01, 1, "ram", 0, 4);
	be64(s, 0x3000 | 0x04);
	cstr(s, "pc.ram");
	be64(s, 0x2000);
	be64(s, 0x100000);
	cstr(s, "pc.bios");
	be64(s, 0x1000);
	be64(s, 0xfffff000);
	be64(s, 0x200);
	be64(s, 0x10);
	FOOT(1);
	sec_full(s, 0x01, 2, "dirty-bitmap", 0, 1);
	u8(s, 0x1c);
	cstr(s, "disk0");
	cstr(s, "bm0");
	be32(s, 0x10000);
	u8(s, 1);
	u8(s, 0x01);
	FOOT(2);
	sec_full(s, 0x01, 3, VFIO, 0, 1);
	be64(s, VFM_MIG_FLAG_DEV_SETUP_STATE);
	be64(s, VFM_MIG_FLAG_END_OF_STATE);
	FOOT(3);
	sec_short(s, 0x02, 1);
	be64(s, 0x0 | 0x08);
	cstr(s, "pc.ram");
	raw(s, page, sizeof(page));
	be64(s, 0x1000 | 0x22);
	u8(s, 0);
	be64(s, 0x1000 | 0x60);
	u8(s, 1);
	be16(s, 3);
	raw(s, "xyz", 3);
	be64(s, 0x10);
	FOOT(1);
	sec_short(s, 0x02, 2);
	u8(s, 0x01);
	FOOT(2);
	sec_short(s, 0x02, 3);
	vfio_data(s, "hello");
	be64(s, VFM_MIG_FLAG_DEV_INIT_DATA_SENT);
	FOOT(3);
	sec_short(s, 0x02, 3);
	be64(s, VFM_MIG_FLAG_END_OF_STATE);
	FOOT(3);
	cmd(s, 11, 0);
	sec_short(s, 0x03, 1);
	be64(s, 0x0 | 0x08);
	cstr(s, "pc.bios");
	raw(s, page, sizeof(page));
	be64(s, 0x10);
	FOOT(1);
	sec_short(s, 0x03, 2);
	u8(s, 0x42);
	be64(s, 0);
	be32(s, 0x800);
	u8(s, 0x40);
	be64(s, 0);
	be32(s, 8);
	be64(s, 2);
	raw(s, "\xff\x0f", 2);
	u8(s, 0x20);
	u8(s, 0x01);
	FOOT(2);
	sec_short(s, 0x03, 3);
	vfio_data(s, "abc");
	vfio_data(s, "de");
	be64(s, VFM_MIG_FLAG_END_OF_STATE);
	FOOT(3);
	sec_full(s, 0x04, 4, "timer", 0, 2);
	fill(s, 0x7e, 24); /* footer-like bytes that are no footer */
	FOOT(4);
	sec_full(s, 0x04, 3, VFIO, 0, 1);
	pci_config(s);
	FOOT(3);
	sec_full(s, 0x04, 5, "dev/with-sub", 0, 1);
	be32(s, 0xdeadbeef);
	u8(s, 0x05);
	cstr(s, "x/sub");
	be32(s, 1);
	be16(s, 7);
	FOOT(5);
	sec_full(s, 0x04, 6, VFIO2, 0, 1);
	be64(s, VFM_MIG_FLAG_DEV_CONFIG_LOAD_READY);
	FOOT(6);
	u8(s, 0x00);
	if (desc)
		trailer(s, vmdesc_a);
#undef FOOT
}

/* ---- running the reader ------------------------------------------------------------- */

struct result {
	int rc;
	char err[VFM_QS_ERR_LEN];
	size_t events[VFM_QS_EV_VMDESC + 1];
	size_t markers_init, markers_load_ready, cmds[12];
	uint64_t ram_pages, ram_zero, ram_xbzrle, ram_flushes, ram_blocks, dbm_chunks;
	uint64_t vfio_bytes, full_vmdesc, full_scan;
	char data[256];
	size_t data_len;
	bool vmdesc_first, footers;
	struct vfm_qs_pci_config pci;
	struct vfm_qs_section vfio;
	struct vfm_qs_config config;
	bool has_config;
	size_t allocs;
};

static void on_ev(struct vfm_qs_reader *rd, const struct vfm_qs_ev *ev, struct result *r)
{
	ssize_t n;

	r->events[ev->type]++;
	switch (ev->type) {
	case VFM_QS_EV_COMMAND:
		r->cmds[ev->cmd]++;
		break;
	case VFM_QS_EV_MARKER:
		r->markers_init += ev->marker == VFM_MIG_FLAG_DEV_INIT_DATA_SENT;
		r->markers_load_ready += ev->marker == VFM_MIG_FLAG_DEV_CONFIG_LOAD_READY;
		break;
	case VFM_QS_EV_BODY:
		r->ram_pages += ev->how == VFM_QS_HOW_RAM ? ev->ram.pages : 0;
		r->ram_zero += ev->ram.zero_pages;
		r->ram_xbzrle += ev->ram.xbzrle_pages;
		r->ram_flushes += ev->ram.flushes;
		r->ram_blocks += ev->ram.blocks;
		r->dbm_chunks += ev->how == VFM_QS_HOW_DIRTY_BITMAP ? ev->ram.records : 0;
		r->full_vmdesc += ev->how == VFM_QS_HOW_VMDESC;
		r->full_scan += ev->how == VFM_QS_HOW_FOOTER_SCAN;
		break;
	case VFM_QS_EV_DATA:
		/* every other block read, in two pieces; the rest skipped by the next call */
		if (r->events[VFM_QS_EV_DATA] % 2 && r->data_len + ev->size <= sizeof(r->data)) {
			n = vfm_qs_data(rd, r->data + r->data_len, 1);
			r->data_len += n > 0 ? (size_t)n : 0;
			n = vfm_qs_data(rd, r->data + r->data_len, sizeof(r->data));
			r->data_len += n > 0 ? (size_t)n : 0;
		}
		break;
	case VFM_QS_EV_PCI_CONFIG:
		r->pci = *vfm_qs_pci_config(rd);
		break;
	default:
		break;
	}
}

static void walk_fd(int fd, struct result *r)
{
	struct vfm_qs_reader *rd;
	struct vfm_qs_ev ev;
	size_t before;

	memset(r, 0, sizeof(*r));
	r->rc = vfm_qs_open(&rd, fd, r->err, sizeof(r->err));
	if (r->rc)
		return;
	before = n_allocs;
	counting = 1;
	while ((r->rc = vfm_qs_next(rd, &ev)) == 0)
		on_ev(rd, &ev, r);
	counting = 0;
	r->allocs = n_allocs - before;
	if (r->rc == -ENODATA)
		r->rc = 0;
	snprintf(r->err, sizeof(r->err), "%s", vfm_qs_error(rd));
	r->vmdesc_first = vfm_qs_vmdesc_first(rd);
	r->footers = vfm_qs_footers(rd);
	if (vfm_qs_config(rd)) {
		r->has_config = true;
		r->config = *vfm_qs_config(rd);
	}
	for (size_t i = 0; i < vfm_qs_nr_sections(rd); i++) {
		const struct vfm_qs_section *s = vfm_qs_section(rd, i);

		if (s->kind == VFM_QS_KIND_VFIO && s->started) {
			r->vfio = *s;
			r->vfio_bytes += s->data_bytes;
		}
	}
	vfm_qs_close(rd);
}

static int memfd_of(const void *p, size_t n)
{
	int fd = memfd_create("qemu-stream", 0);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, 0), (ssize_t)n);
	return fd;
}

static void walk_file(const void *p, size_t n, struct result *r)
{
	int fd = memfd_of(p, n);

	walk_fd(fd, r);
	close(fd);
}

struct writer {
	int fd;
	const uint8_t *p;
	size_t n;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (size_t done = 0; done < w->n;) {
		ssize_t k = write(w->fd, w->p + done, w->n - done);

		if (k <= 0)
			break;
		done += (size_t)k;
	}
	close(w->fd);
	return NULL;
}

static void walk_pipe(const void *p, size_t n, struct result *r)
{
	int pfd[2];
	pthread_t t;
	struct writer w;

	assert_int_equal(pipe(pfd), 0);
	w = (struct writer){.fd = pfd[1], .p = p, .n = n};
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	walk_fd(pfd[0], r);
	close(pfd[0]);
	pthread_join(t, NULL);
}

static void expect_fail(const struct sb *s, const char *needle)
{
	struct result r;

	walk_file(s->b, s->n, &r);
	if (r.rc == 0 || !strstr(r.err, needle) || !strstr(r.err, "offset "))
		fail_msg("expected a refusal with \"%s\", got %d \"%s\"", needle, r.rc, r.err);
}

/* ---- synthetic streams ---------------------------------------------------------------- */

static void check_a(const struct result *r)
{
	if (r->rc)
		fail_msg("%s", r->err);
	assert_true(r->has_config);
	assert_string_equal(r->config.machine, "pc-q35-11.1");
	assert_int_equal(r->config.nr_caps, 1);
	assert_string_equal(r->config.caps[0], "x-ignore-shared");
	assert_true(r->config.has_uuid && r->config.has_page_bits);
	assert_int_equal(r->config.page_bits, 12);
	assert_int_equal(r->cmds[1], 1);
	assert_int_equal(r->cmds[2], 1);
	assert_int_equal(r->cmds[3], 1);
	assert_int_equal(r->cmds[11], 1);
	assert_int_equal(r->ram_blocks, 2);
	assert_int_equal(r->ram_pages, 2);
	assert_int_equal(r->ram_zero, 1);
	assert_int_equal(r->ram_xbzrle, 1);
	assert_int_equal(r->ram_flushes, 1);
	assert_int_equal(r->dbm_chunks, 2 + 1 + 4);
	assert_string_equal(r->vfio.idstr, VFIO);
	assert_int_equal(r->vfio.blocks, 3);
	assert_int_equal(r->vfio.data_bytes, 10);
	assert_int_equal(r->vfio.parts, 2);
	assert_true(r->vfio.ended && r->vfio.full);
	assert_int_equal(r->markers_init, 1);
	assert_int_equal(r->markers_load_ready, 1);
	assert_int_equal(r->data_len, 5 + 2);
	assert_memory_equal(r->data, "hellode", 7);
	assert_int_equal(r->pci.pcidev_version, 2);
	assert_int_equal(r->pci.config_size, 256);
	assert_int_equal(r->pci.config[0], 0x48);
	assert_int_equal(r->pci.irq_state[1], 1);
	assert_int_equal(r->pci.msix_entries, 3);
	assert_int_equal(r->pci.msix_table[16 + 12], 1);
	assert_int_equal(r->pci.msix_pba[0], 0x04);
	assert_true(r->pci.display);
	assert_int_equal(r->pci.ramfb_width, 640);
	assert_int_equal(r->pci.ramfb_stride, 2560);
	assert_int_equal(r->events[VFM_QS_EV_PCI_CONFIG], 1);
	assert_int_equal(r->events[VFM_QS_EV_EOF], 1);
	assert_int_equal(r->allocs, 0);
}

static void test_synthetic_file(void **state)
{
	static struct sb s;
	struct result r;

	(void)state;
	stream_a(&s, true, true);
	walk_file(s.b, s.n, &r);
	check_a(&r);
	assert_true(r.vmdesc_first && r.footers);
	assert_int_equal(r.full_vmdesc, 2);
	assert_int_equal(r.events[VFM_QS_EV_VMDESC], 1);
}

static void test_synthetic_pipe(void **state)
{
	static struct sb s;
	struct result r;

	(void)state;
	stream_a(&s, true, true);
	walk_pipe(s.b, s.n, &r);
	check_a(&r);
	assert_false(r.vmdesc_first);
	assert_int_equal(r.full_scan, 2);
	assert_int_equal(r.events[VFM_QS_EV_VMDESC], 1);
	/* without a trailer: footer scans alone */
	stream_a(&s, true, false);
	walk_file(s.b, s.n, &r);
	check_a(&r);
	assert_int_equal(r.events[VFM_QS_EV_VMDESC], 0);
}

static void test_no_footers(void **state)
{
	static struct sb s;
	struct result r;

	(void)state;
	stream_a(&s, false, true);
	walk_file(s.b, s.n, &r);
	check_a(&r);
	assert_false(r.footers);
	stream_a(&s, false, true);
	walk_pipe(s.b, s.n, &r);
	assert_int_equal(r.rc, -EBADMSG);
	assert_non_null(strstr(r.err, "no vmdesc and no footers"));
}

/* Every prefix is refused with an offset, except the one ending right after EOF (a
 * stream without trailer); bit flips never crash and are refused with an offset or read. */
static void test_synthetic_cuts_and_flips(void **state)
{
	static struct sb s, t;
	struct result r;
	size_t eof_end;

	(void)state;
	stream_a(&s, true, true);
	eof_end = s.n - 5 - strlen(vmdesc_a);
	for (size_t len = 0; len < s.n; len++) {
		walk_file(s.b, len, &r);
		if (len == eof_end) {
			assert_int_equal(r.rc, 0);
			continue;
		}
		if (r.rc == 0 || !strstr(r.err, "offset "))
			fail_msg("prefix of %zu bytes: rc %d \"%s\"", len, r.rc, r.err);
	}
	for (size_t i = 0; i < s.n; i += 3) {
		t = s;
		t.b[i] ^= (uint8_t)(1u << (i % 8));
		walk_file(t.b, t.n, &r);
		if (r.rc && !strstr(r.err, "offset "))
			fail_msg("flip at %zu: rc %d \"%s\"", i, r.rc, r.err);
	}
}

static void test_package_and_commands(void **state)
{
	static struct sb s;
	struct result r;
	size_t lenpos, start, pkg;

	(void)state;
	s.n = 0;
	header(&s);
	cmd(&s, 3, 16);
	be64(&s, 4096);
	be64(&s, 4096);
	cmd(&s, 7, 4);
	lenpos = s.n;
	be32(&s, 0);
	start = s.n;
	cmd(&s, 4, 0);
	sec_full(&s, 0x04, 9, "pkgdev", 0, 1);
	raw(&s, "\x7e\x00\x00\x00\x09zz", 7); /* a footer not followed by a record */
	footer(&s, 9);
	cmd(&s, 6, 3);
	raw(&s, "\x00\x01\x00", 3);
	cmd(&s, 5, 0);
	pkg = s.n - start;
	s.b[lenpos + 3] = (uint8_t)pkg;
	cmd(&s, 10, 2);
	raw(&s, "\x01x", 2);
	u8(&s, 0x00);
	walk_file(s.b, s.n, &r);
	if (r.rc)
		fail_msg("%s", r.err);
	assert_int_equal(r.cmds[3] + r.cmds[4] + r.cmds[5] + r.cmds[6] + r.cmds[7] + r.cmds[10], 6);
	assert_int_equal(r.full_scan, 1);
	/* EOF inside the package */
	s.b[lenpos + 3] = (uint8_t)(pkg + 1);
	expect_fail(&s, "a record runs past the package's end");
}

/* One refusal per rule: build stream A, patch it, expect the reason. */
static void test_refusals(void **state)
{
	static struct sb s;
	uint8_t *p;

	(void)state;
#define PATCH(find, flen, repl)                                                                    \
	do {                                                                                       \
		stream_a(&s, true, true);                                                          \
		p = memmem(s.b, s.n, find, flen);                                                  \
		assert_non_null(p);                                                                \
		memcpy(p, repl, flen);                                                             \
	} while (0)
	PATCH("QEVM", 4, "QEVN");
	expect_fail(&s, "expected file magic");
	PATCH("\x00\x00\x00\x03\x07", 5, "\x00\x00\x00\x02\x07");
	expect_fail(&s, "expected file version 3");
	PATCH("x-ignore-shared", 15, "mapped-ram\0\0\0\0\0");
	s.b[p - s.b - 1] = 10;
	memmove(p + 10, p + 15, s.n - (size_t)(p + 15 - s.b));
	s.n -= 5;
	expect_fail(&s, "mapped-ram");
	PATCH("configuration/uuid", 18, "configuration/uuix");
	expect_fail(&s, "unknown configuration subsection");
	PATCH("\x08\x00\x02\x00\x04", 5, "\x08\x00\x0c\x00\x04");
	expect_fail(&s, "expected a command 1..11, got 12");
	PATCH("\x08\x00\x02\x00\x04", 5, "\x08\x00\x02\x00\x05");
	expect_fail(&s, "command PING with a 5-byte payload");
	PATCH("\x08\x00\x01\x00\x00", 5, "\x09\x00\x01\x00\x00");
	expect_fail(&s, "expected a record type");
	PATCH("\x03"
	      "ram",
	      4,
	      "\x03"
	      "rom");
	expect_fail(&s, "cannot step over");
	PATCH("\x00\x00\x00\x00\x00\x00\x00\x04", 8, "\x00\x00\x00\x00\x00\x00\x00\x05");
	expect_fail(&s, "version 5, expected 4");
	PATCH("\x06pc.ram\x00\x00\x00\x00\x00\x00\x20\x00", 15,
	      "\x06pc.ram\x00\x00\x00\x00\x00\x00\x40\x00");
	expect_fail(&s, "of 16384 bytes: only 12288 of the total left");
	PATCH("\x06pc.ram\xa5", 8, "\x06pc.rom\xa5");
	expect_fail(&s, "which the setup did not list");
	PATCH("\x00\x00\x00\x00\x00\x00\x10\x22", 8, "\x00\x00\x00\x00\x00\x00\x30\x22");
	expect_fail(&s, "a RAM page at 0x3000");
	PATCH("\x00\x00\x00\x00\x00\x00\x10\x60\x01", 9, "\x00\x00\x00\x00\x00\x00\x10\x60\x02");
	expect_fail(&s, "XBZRLE header");
	PATCH("\x00\x00\x00\x00\x00\x00\x10\x22", 8, "\x00\x00\x00\x00\x00\x00\x10\x01");
	expect_fail(&s, "flags 0x1");
	PATCH("\x02\x00\x00\x00\x03", 5, "\x02\x00\x00\x00\x63");
	expect_fail(&s, "never started");
	PATCH("\xff\xff\xff\xff\xef\x10\x00\x03", 8, "\xff\xff\xff\xff\xef\x10\x00\x04");
	expect_fail(&s, "expected DEV_SETUP_STATE");
	PATCH("\xff\xff\xff\xff\xef\x10\x00\x05", 8, "\xff\xff\xff\xff\xef\x10\x00\x02");
	expect_fail(&s, "expected DEV_DATA_STATE, END_OF_STATE or DEV_INIT_DATA_SENT");
	PATCH("\x00\x00\x00\x00\x00\x00\x00\x05hello", 13, "\x00\x00\x00\x01\x00\x00\x00\x05hello");
	expect_fail(&s, "exceeds the limit");
	PATCH("\x7e\x00\x00\x00\x03\x02", 6, "\x7e\x00\x00\x00\x04\x02");
	expect_fail(&s, "footer names section 4, expected 3");
	PATCH("\x19VFIOPCIDevice/VFIODisplay", 26, "\x19VFIOPCIDevice/VFIODisplaz");
	expect_fail(&s, "no layout");
	PATCH("\"size\": 400, \"fields\"", 21, "\"size\": 400, \"fieldz\"");
	expect_fail(&s, "400 bytes, the vmdesc trailer says 0");
	PATCH("\"size\": 400}", 12, "\"size\": 401}");
	expect_fail(&s, "400 bytes, the vmdesc trailer says 401");
	PATCH("\"array_len\": 2", 14, "\"array_len\": 1");
	expect_fail(&s, "footer names section");
	PATCH("\"name\": \"0000:00:05.0/vfio\"", 27, "\"name\": \"0000:00:06.0/vfio\"");
	expect_fail(&s, "not in the vmdesc trailer");
	PATCH("{\"page_size\"", 12, "{\"page_size]");
	expect_fail(&s, "vmdesc JSON");
	stream_a(&s, true, true);
	u8(&s, 0);
	expect_fail(&s, "bytes after the vmdesc trailer");
	stream_a(&s, true, false);
	u8(&s, 0x42);
	expect_fail(&s, "expected the vmdesc trailer (0x06)");
#undef PATCH
}

/* Two sections: a section id started twice, a PART after END, a configuration late. */
static void test_section_rules(void **state)
{
	static struct sb s;

	(void)state;
	s.n = 0;
	header(&s);
	sec_full(&s, 0x01, 3, "vfio", 0, 1);
	be64(&s, VFM_MIG_FLAG_DEV_SETUP_STATE);
	be64(&s, VFM_MIG_FLAG_END_OF_STATE);
	footer(&s, 3);
	sec_full(&s, 0x01, 3, "vfio", 0, 1);
	expect_fail(&s, "appears again");
	s.n = 0;
	header(&s);
	sec_full(&s, 0x01, 3, "vfio", 0, 1);
	be64(&s, VFM_MIG_FLAG_DEV_SETUP_STATE);
	be64(&s, VFM_MIG_FLAG_END_OF_STATE);
	footer(&s, 3);
	sec_short(&s, 0x03, 3);
	be64(&s, VFM_MIG_FLAG_END_OF_STATE);
	footer(&s, 3);
	sec_short(&s, 0x02, 3);
	expect_fail(&s, "after its END");
	s.n = 0;
	header(&s);
	cmd(&s, 1, 0);
	sec_full(&s, 0x01, 3, "vfio", 0, 1);
	be64(&s, VFM_MIG_FLAG_DEV_SETUP_STATE);
	be64(&s, VFM_MIG_FLAG_END_OF_STATE);
	footer(&s, 3);
	u8(&s, 0x07);
	be32(&s, 4);
	raw(&s, "none", 4);
	expect_fail(&s, "a configuration record after");
}

/* ---- real streams (tests/data) --------------------------------------------------------- */

static uint8_t *load_data(const char *name, size_t *n)
{
	const char *dir = getenv("VFM_TEST_DATA");
	char path[512];
	struct stat st;
	uint8_t *p;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/data", name);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		fail_msg("cannot open %s", path);
	p = malloc((size_t)st.st_size);
	assert_non_null(p);
	assert_int_equal(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return p;
}

static void check_real(const struct result *r)
{
	if (r->rc)
		fail_msg("%s", r->err);
	assert_string_equal(r->config.machine, "pc-q35-11.1");
	assert_string_equal(r->vfio.idstr, VFIO);
	assert_int_equal(r->vfio.data_bytes, 96); /* mtty-2's whole state */
	assert_int_equal(r->vfio.blocks, 2);
	assert_true(r->vfio.parts >= 1 && r->vfio.ended && r->vfio.full);
	assert_int_equal(r->pci.pcidev_version, 2);
	assert_int_equal(r->pci.config_size, 4096);
	assert_int_equal(r->pci.msix_entries, 0);
	assert_int_equal(r->pci.config[0] | r->pci.config[1] << 8, 0x4348);
	assert_int_equal(r->events[VFM_QS_EV_VMDESC], 1);
	assert_int_equal(r->allocs, 0);
}

static void real_stream(const char *name, bool ack)
{
	size_t n, step;
	uint8_t *p = load_data(name, &n);
	struct result r;

	walk_file(p, n, &r);
	check_real(&r);
	assert_true(r.vmdesc_first);
	assert_int_equal(r.markers_init, ack);
	assert_int_equal(r.cmds[1], ack); /* OPEN_RETURN_PATH */
	assert_int_equal(r.cmds[11], 1);  /* SWITCHOVER_START */
	walk_pipe(p, n, &r);
	check_real(&r);
	assert_false(r.vmdesc_first);
	/* cut short anywhere: refused with an offset (a sample of prefixes) */
	step = n / 61 + 1;
	for (size_t len = 1; len < n; len += step) {
		walk_file(p, len, &r);
		if (r.rc == 0 || !strstr(r.err, "offset "))
			fail_msg("%s cut at %zu: rc %d \"%s\"", name, len, r.rc, r.err);
	}
	free(p);
}

static void test_real_file_stream(void **state)
{
	(void)state;
	real_stream("qemu-11.1-mtty-file.mig", false);
}

static void test_real_ack_stream(void **state)
{
	(void)state;
	real_stream("qemu-11.1-mtty-ack.mig", true);
}

/* ---- extract ---------------------------------------------------------------------------- */

/* The extracted section through vfm_dec: its data blocks, in order, into out. */
static int decode_ours(int fd, char *out, size_t cap, size_t *len, size_t *sections)
{
	struct vfm_chan ch;
	struct vfm_dec dec;
	struct vfm_ev ev;
	int rc;

	*len = *sections = 0;
	lseek(fd, 0, SEEK_SET);
	vfm_chan_init(&ch, fd, "extracted");
	rc = vfm_dec_init(&dec, &ch, 0);
	while (!rc && !(rc = vfm_dec_next(&dec, &ev)) && ev.type != VFM_EV_EOF) {
		*sections += ev.type == VFM_EV_SECTION;
		if (ev.type == VFM_EV_DATA && *len + ev.size <= cap)
			*len += (size_t)vfm_dec_data(&dec, out + *len, (size_t)ev.size);
	}
	return rc;
}

static int extract(const void *p, size_t n, const char *idstr, int out, char *err)
{
	struct vfm_qs_reader *rd;
	struct vfm_chan ch;
	int in = memfd_of(p, n), rc;

	rc = vfm_qs_open(&rd, in, err, VFM_QS_ERR_LEN);
	if (!rc) {
		vfm_chan_init(&ch, out, "out");
		rc = vfm_qs_extract(rd, idstr, 0, &ch, err, VFM_QS_ERR_LEN);
		vfm_qs_close(rd);
	}
	close(in);
	return rc;
}

static void test_extract(void **state)
{
	static struct sb s;
	char err[VFM_QS_ERR_LEN], data[256];
	size_t len, secs, n;
	uint8_t *real;
	int out;

	(void)state;
	stream_a(&s, false, true);
	out = memfd_create("out", 0);
	if (extract(s.b, s.n, VFIO, out, err))
		fail_msg("%s", err);
	assert_int_equal(decode_ours(out, data, sizeof(data), &len, &secs), 0);
	assert_int_equal(secs, 4);
	assert_int_equal(len, 10);
	assert_memory_equal(data, "helloabcde", 10);
	close(out);
	out = memfd_create("out", 0);
	assert_int_equal(extract(s.b, s.n, VFIO2, out, err), -ENOENT);
	assert_non_null(strstr(err, "no VFIO section"));
	close(out);
	/* malformed after the section's END: no EOF written, our decoder sees a cut stream */
	stream_a(&s, true, false);
	u8(&s, 0x42);
	out = memfd_create("out", 0);
	assert_int_equal(extract(s.b, s.n, VFIO, out, err), -EBADMSG);
	assert_non_null(strstr(err, "QEMU stream: offset"));
	assert_int_equal(decode_ours(out, data, sizeof(data), &len, &secs), -EPIPE);
	close(out);
	real = load_data("qemu-11.1-mtty-ack.mig", &n);
	out = memfd_create("out", 0);
	if (extract(real, n, VFIO, out, err))
		fail_msg("%s", err);
	assert_int_equal(decode_ours(out, data, sizeof(data), &len, &secs), 0);
	assert_int_equal(len, 96);
	close(out);
	free(real);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_synthetic_file),
		cmocka_unit_test(test_synthetic_pipe),
		cmocka_unit_test(test_no_footers),
		cmocka_unit_test(test_synthetic_cuts_and_flips),
		cmocka_unit_test(test_package_and_commands),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_section_rules),
		cmocka_unit_test(test_real_file_stream),
		cmocka_unit_test(test_real_ack_stream),
		cmocka_unit_test(test_extract),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
