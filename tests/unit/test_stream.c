// SPDX-License-Identifier: BSD-3-Clause
/*
 * The stream codec (include/vfio-mig/stream.h, uAPI doc section 6): the encoder's bytes
 * against a stream built by hand here, the decoder's events against what was encoded,
 * and the decoder's refusals: a stream cut at every byte offset, every marker replaced
 * or bit-flipped, absurd block sizes (with the library's allocations counted through
 * -Wl,--wrap: the decoder must not allocate at all), unknown section types, wrong
 * footers, PART/END of sections never started, START twice, empty id strings, versions
 * other than 1, FULL sections.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "vfio-mig/device.h"
#include "vfio-mig/stream.h"
#include "vfio-mig/uapi.h"

/* ---- allocation counting (the library's calls, redirected by -Wl,--wrap) ------------ */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static volatile int counting;
static size_t n_allocs, biggest_alloc;

static void note_alloc(size_t size)
{
	if (!counting)
		return;
	n_allocs++;
	if (size > biggest_alloc)
		biggest_alloc = size;
}

void *__wrap_malloc(size_t size)
{
	note_alloc(size);
	return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	note_alloc(n * size);
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	note_alloc(size);
	return __real_realloc(p, size);
}

static void count_start(void)
{
	n_allocs = 0;
	biggest_alloc = 0;
	counting = 1;
}

static void count_stop(void)
{
	counting = 0;
}

/* ---- a stream built by hand --------------------------------------------------------- */

#define MAXB	4096
#define MAXMARK 512

enum mark_kind {
	MK_MAGIC,   /* be32 file magic */
	MK_VERSION, /* be32 file version */
	MK_TYPE,    /* u8 section type */
	MK_MARKER,  /* be64 VFIO marker */
	MK_FOOTER,  /* u8 0x7e */
	MK_EOF,	    /* u8 0x00 */
};

struct mark {
	enum mark_kind kind;
	size_t off;
	uint8_t section_type; /* for MK_MARKER: the enclosing section's type */
	uint64_t value;
};

struct bytes {
	uint8_t b[MAXB];
	size_t len;
	struct mark marks[MAXMARK];
	size_t nmarks;
};

static void put(struct bytes *s, const void *p, size_t n)
{
	assert_true(s->len + n <= MAXB);
	if (n)
		memcpy(s->b + s->len, p, n);
	s->len += n;
}

static void put8(struct bytes *s, uint8_t v)
{
	put(s, &v, 1);
}

static void put32(struct bytes *s, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	put(s, b, 4);
}

static void put64(struct bytes *s, uint64_t v)
{
	put32(s, (uint32_t)(v >> 32));
	put32(s, (uint32_t)v);
}

static void mark(struct bytes *s, enum mark_kind k, uint8_t section_type, uint64_t value)
{
	assert_true(s->nmarks < MAXMARK);
	s->marks[s->nmarks++] = (struct mark){k, s->len, section_type, value};
}

static void h_file(struct bytes *s)
{
	mark(s, MK_MAGIC, 0, 0);
	put32(s, 0x5145564d);
	mark(s, MK_VERSION, 0, 0);
	put32(s, 3);
}

static void h_start(struct bytes *s, uint32_t sid, const char *id, uint32_t inst, uint32_t ver)
{
	mark(s, MK_TYPE, 0x01, 0x01);
	put8(s, 0x01);
	put32(s, sid);
	put8(s, (uint8_t)strlen(id));
	put(s, id, strlen(id));
	put32(s, inst);
	put32(s, ver);
}

static void h_section(struct bytes *s, uint8_t type, uint32_t sid)
{
	mark(s, MK_TYPE, type, type);
	put8(s, type);
	put32(s, sid);
}

static void h_marker(struct bytes *s, uint8_t section_type, uint64_t m)
{
	mark(s, MK_MARKER, section_type, m);
	put64(s, m);
}

static void h_data(struct bytes *s, uint8_t section_type, const void *p, uint64_t n)
{
	h_marker(s, section_type, VFM_MIG_FLAG_DEV_DATA_STATE);
	put64(s, n);
	put(s, p, (size_t)n);
}

static void h_footer(struct bytes *s, uint32_t sid)
{
	mark(s, MK_FOOTER, 0, 0x7e);
	put8(s, 0x7e);
	put32(s, sid);
}

static void h_eof(struct bytes *s)
{
	mark(s, MK_EOF, 0, 0);
	put8(s, 0x00);
}

static const char id0[] = "dev0";
static const char id1[] = "0000:00:03.0/vfio";
static const uint8_t part0[5] = "hello";
static const uint8_t end0a[3] = {0x00, 0xff, 0x7e};
static const uint8_t end1a[7] = {0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00};

/* Two devices: START x2, PART (data) for device 0, PART (INIT_DATA_SENT) for device 1,
 * END for both (device 0 with an empty block), EOF. */
static void build_small(struct bytes *s)
{
	memset(s, 0, sizeof(*s));
	h_file(s);
	h_start(s, 1, id0, 0, 1);
	h_marker(s, 0x01, VFM_MIG_FLAG_DEV_SETUP_STATE);
	h_marker(s, 0x01, VFM_MIG_FLAG_END_OF_STATE);
	h_footer(s, 1);
	h_start(s, 7, id1, 3, 1);
	h_marker(s, 0x01, VFM_MIG_FLAG_DEV_SETUP_STATE);
	h_marker(s, 0x01, VFM_MIG_FLAG_END_OF_STATE);
	h_footer(s, 7);
	h_section(s, 0x02, 1);
	h_data(s, 0x02, part0, sizeof(part0));
	h_marker(s, 0x02, VFM_MIG_FLAG_END_OF_STATE);
	h_footer(s, 1);
	h_section(s, 0x02, 7);
	h_marker(s, 0x02, VFM_MIG_FLAG_DEV_INIT_DATA_SENT);
	h_footer(s, 7);
	h_section(s, 0x03, 1);
	h_data(s, 0x03, end0a, sizeof(end0a));
	h_data(s, 0x03, NULL, 0);
	h_marker(s, 0x03, VFM_MIG_FLAG_END_OF_STATE);
	h_footer(s, 1);
	h_section(s, 0x03, 7);
	h_data(s, 0x03, end1a, sizeof(end1a));
	h_marker(s, 0x03, VFM_MIG_FLAG_END_OF_STATE);
	h_footer(s, 7);
	h_eof(s);
}

/* The same stream through the encoder. */
static int encode_small(struct vfm_chan *ch)
{
	int rc = 0;

	rc |= vfm_enc_file_header(ch);
	rc |= vfm_enc_section_start(ch, 1, id0, 0, 1);
	rc |= vfm_enc_marker(ch, VFM_MIG_FLAG_DEV_SETUP_STATE);
	rc |= vfm_enc_marker(ch, VFM_MIG_FLAG_END_OF_STATE);
	rc |= vfm_enc_footer(ch, 1);
	rc |= vfm_enc_section_start(ch, 7, id1, 3, 1);
	rc |= vfm_enc_marker(ch, VFM_MIG_FLAG_DEV_SETUP_STATE);
	rc |= vfm_enc_marker(ch, VFM_MIG_FLAG_END_OF_STATE);
	rc |= vfm_enc_footer(ch, 7);
	rc |= vfm_enc_section(ch, VFM_QEMU_VM_SECTION_PART, 1);
	rc |= vfm_enc_data(ch, part0, sizeof(part0));
	rc |= vfm_enc_marker(ch, VFM_MIG_FLAG_END_OF_STATE);
	rc |= vfm_enc_footer(ch, 1);
	rc |= vfm_enc_section(ch, VFM_QEMU_VM_SECTION_PART, 7);
	rc |= vfm_enc_marker(ch, VFM_MIG_FLAG_DEV_INIT_DATA_SENT);
	rc |= vfm_enc_footer(ch, 7);
	rc |= vfm_enc_section(ch, VFM_QEMU_VM_SECTION_END, 1);
	rc |= vfm_enc_data(ch, end0a, sizeof(end0a));
	rc |= vfm_enc_data(ch, NULL, 0);
	rc |= vfm_enc_marker(ch, VFM_MIG_FLAG_END_OF_STATE);
	rc |= vfm_enc_footer(ch, 1);
	rc |= vfm_enc_section(ch, VFM_QEMU_VM_SECTION_END, 7);
	rc |= vfm_enc_data(ch, end1a, sizeof(end1a));
	rc |= vfm_enc_marker(ch, VFM_MIG_FLAG_END_OF_STATE);
	rc |= vfm_enc_footer(ch, 7);
	rc |= vfm_enc_eof(ch);
	return rc;
}

/* ---- feeding bytes to the decoder ------------------------------------------------------ */

static int mem_fd(const void *buf, size_t len)
{
	int fd = memfd_create("stream", 0);

	assert_true(fd >= 0);
	if (len)
		assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void slurp_fd(int fd, struct bytes *out)
{
	ssize_t n;

	memset(out, 0, sizeof(*out));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while ((n = read(fd, out->b + out->len, MAXB - out->len)) > 0)
		out->len += (size_t)n;
	assert_int_equal(n, 0);
}

enum data_mode {
	SKIP_DATA,  /* never call vfm_dec_data: the decoder skips blocks itself */
	READ_BYTES, /* read every block one byte at a time */
	READ_WHOLE, /* read every block with one big buffer */
};

struct ev_rec {
	struct vfm_ev ev;
	uint8_t data[64];
	size_t data_len;
};

struct result {
	int rc;
	bool eof;
	size_t nev;
	struct ev_rec ev[64];
	char err[VFM_STREAM_ERR_LEN];
	uint64_t end_pos; /* channel position after the last call */
};

/* Decodes the whole of buf; stops at EOF or the first error. */
static void decode(const void *buf, size_t len, uint64_t max_block, enum data_mode mode,
		   struct result *r)
{
	struct vfm_chan ch;
	struct vfm_dec *dec = calloc(1, sizeof(*dec));
	int fd = mem_fd(buf, len);

	assert_non_null(dec);
	memset(r, 0, sizeof(*r));
	vfm_chan_init(&ch, fd, "mem");
	r->rc = vfm_dec_init(dec, &ch, max_block);
	while (!r->rc) {
		struct vfm_ev ev;

		r->rc = vfm_dec_next(dec, &ev);
		if (r->rc)
			break;
		/* only the first 64 events are kept; all are counted */
		struct ev_rec spare, *e = r->nev < 64 ? &r->ev[r->nev] : &spare;

		memset(e, 0, sizeof(*e));
		e->ev = ev;
		if (ev.type == VFM_EV_DATA && mode != SKIP_DATA) {
			uint8_t big[256];

			for (;;) {
				ssize_t n = vfm_dec_data(dec, mode == READ_BYTES ? big : big,
							 mode == READ_BYTES ? 1 : sizeof(big));
				if (n < 0) {
					r->rc = (int)n;
					break;
				}
				if (n == 0)
					break;
				if (e->data_len + (size_t)n <= sizeof(e->data))
					memcpy(e->data + e->data_len, big, (size_t)n);
				e->data_len += (size_t)n;
			}
		}
		r->nev++;
		if (ev.type == VFM_EV_EOF) {
			r->eof = true;
			break;
		}
	}
	snprintf(r->err, sizeof(r->err), "%s", dec->err);
	r->end_pos = ch.pos;
	close(fd);
	free(dec);
}

/* The number after the first "offset " in an error message; -1 if none. */
static long long err_offset(const char *err)
{
	const char *p = strstr(err, "offset ");

	if (!p)
		return -1;
	return strtoll(p + 7, NULL, 10);
}

static void expect_reject_at(const struct bytes *s, long long at, const char *what)
{
	struct result r;

	decode(s->b, s->len, 0, READ_WHOLE, &r);
	if (r.rc == 0 || r.eof)
		fail_msg("%s: accepted (rc %d, eof %d)", what, r.rc, r.eof);
	if (err_offset(r.err) != at)
		fail_msg("%s: error '%s' should name offset %lld", what, r.err, at);
}

/* ---- tests ------------------------------------------------------------------------------ */

/* The encoder writes exactly the doc's layout (section 6.2/6.3). */
static void test_encoder_bytes(void **st)
{
	struct bytes want, got;
	struct vfm_chan ch;
	int fd = memfd_create("enc", 0);

	(void)st;
	assert_true(fd >= 0);
	build_small(&want);
	vfm_chan_init(&ch, fd, "mem");
	assert_int_equal(encode_small(&ch), 0);
	assert_int_equal(ch.pos, want.len);
	slurp_fd(fd, &got);
	close(fd);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.b, want.b, want.len);
	/* spot checks against the doc's byte images */
	assert_memory_equal(got.b, "QEVM\0\0\0\3", 8);
	{
		static const uint8_t start[] = {0x01, 0, 0, 0, 1, 4, 'd', 'e', 'v',
						'0',  0, 0, 0, 0, 0, 0,	  0,   1};

		assert_memory_equal(got.b + 8, start, sizeof(start));
	}
}

static void check_small_events(const struct result *r, enum data_mode mode)
{
	struct bytes s;
	size_t i = 0;

	build_small(&s);
	assert_int_equal(r->rc, 0);
	assert_true(r->eof);
	assert_int_equal(r->end_pos, s.len);
	/* START 1 */
	assert_int_equal(r->ev[i].ev.type, VFM_EV_SECTION);
	assert_int_equal(r->ev[i].ev.offset, 8);
	assert_int_equal(r->ev[i].ev.section_type, 0x01);
	assert_int_equal(r->ev[i].ev.section_id, 1);
	assert_int_equal(r->ev[i].ev.section_index, 0);
	assert_string_equal(r->ev[i].ev.idstr, id0);
	assert_int_equal(r->ev[i].ev.instance_id, 0);
	assert_int_equal(r->ev[i].ev.version_id, 1);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_MARKER);
	assert_true(r->ev[i].ev.marker == VFM_MIG_FLAG_DEV_SETUP_STATE);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_MARKER);
	assert_true(r->ev[i].ev.marker == VFM_MIG_FLAG_END_OF_STATE);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_FOOTER);
	assert_int_equal(r->ev[i].ev.section_id, 1);
	i++;
	/* START 7 */
	assert_int_equal(r->ev[i].ev.type, VFM_EV_SECTION);
	assert_int_equal(r->ev[i].ev.section_id, 7);
	assert_int_equal(r->ev[i].ev.section_index, 1);
	assert_string_equal(r->ev[i].ev.idstr, id1);
	assert_int_equal(r->ev[i].ev.instance_id, 3);
	i += 4;
	/* PART 1 with "hello" */
	assert_int_equal(r->ev[i].ev.type, VFM_EV_SECTION);
	assert_int_equal(r->ev[i].ev.section_type, 0x02);
	assert_int_equal(r->ev[i].ev.section_id, 1);
	assert_int_equal(r->ev[i].ev.section_index, 0);
	assert_string_equal(r->ev[i].ev.idstr, id0);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_DATA);
	assert_int_equal(r->ev[i].ev.size, 5);
	assert_int_equal(r->ev[i].ev.section_index, 0);
	if (mode != SKIP_DATA) {
		assert_int_equal(r->ev[i].data_len, 5);
		assert_memory_equal(r->ev[i].data, part0, 5);
	}
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_MARKER);
	assert_true(r->ev[i].ev.marker == VFM_MIG_FLAG_END_OF_STATE);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_FOOTER);
	i++;
	/* PART 7: INIT_DATA_SENT */
	assert_int_equal(r->ev[i].ev.type, VFM_EV_SECTION);
	assert_int_equal(r->ev[i].ev.section_index, 1);
	assert_int_equal(r->ev[i].ev.instance_id, 3);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_MARKER);
	assert_true(r->ev[i].ev.marker == VFM_MIG_FLAG_DEV_INIT_DATA_SENT);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_FOOTER);
	assert_int_equal(r->ev[i].ev.section_id, 7);
	i++;
	/* END 1: 3 bytes, 0 bytes */
	assert_int_equal(r->ev[i].ev.type, VFM_EV_SECTION);
	assert_int_equal(r->ev[i].ev.section_type, 0x03);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_DATA);
	assert_int_equal(r->ev[i].ev.size, 3);
	if (mode != SKIP_DATA)
		assert_memory_equal(r->ev[i].data, end0a, 3);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_DATA);
	assert_int_equal(r->ev[i].ev.size, 0);
	assert_int_equal(r->ev[i].data_len, 0);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_MARKER);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_FOOTER);
	i++;
	/* END 7: 7 bytes that look like a marker */
	assert_int_equal(r->ev[i].ev.type, VFM_EV_SECTION);
	assert_int_equal(r->ev[i].ev.section_id, 7);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_DATA);
	assert_int_equal(r->ev[i].ev.size, 7);
	assert_int_equal(r->ev[i].ev.section_index, 1);
	if (mode != SKIP_DATA)
		assert_memory_equal(r->ev[i].data, end1a, 7);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_MARKER);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_FOOTER);
	i++;
	assert_int_equal(r->ev[i].ev.type, VFM_EV_EOF);
	assert_int_equal(r->ev[i].ev.offset, s.len - 1);
	i++;
	assert_int_equal(r->nev, i);
	/* every element's offset is where the hand-built stream put it */
	for (size_t k = 0, m = 0; k < r->nev; k++) {
		const struct vfm_ev *ev = &r->ev[k].ev;

		if (ev->type == VFM_EV_MARKER || ev->type == VFM_EV_DATA) {
			while (m < s.nmarks && s.marks[m].kind != MK_MARKER)
				m++;
			assert_true(m < s.nmarks);
			assert_int_equal(ev->offset, s.marks[m].off);
			m++;
		} else if (ev->type == VFM_EV_SECTION || ev->type == VFM_EV_FOOTER) {
			enum mark_kind want = ev->type == VFM_EV_SECTION ? MK_TYPE : MK_FOOTER;

			while (m < s.nmarks && s.marks[m].kind != want)
				m++;
			assert_true(m < s.nmarks);
			assert_int_equal(ev->offset, s.marks[m].off);
			m++;
		}
	}
}

/* Encoder -> memfd -> decoder, with blocks skipped, read byte by byte and read whole. */
static void test_round_trip(void **st)
{
	struct bytes s;
	struct result r;
	struct vfm_chan ch;
	int fd = memfd_create("rt", 0);

	(void)st;
	vfm_chan_init(&ch, fd, "mem");
	assert_int_equal(encode_small(&ch), 0);
	slurp_fd(fd, &s);
	close(fd);
	decode(s.b, s.len, 0, SKIP_DATA, &r);
	check_small_events(&r, SKIP_DATA);
	decode(s.b, s.len, 0, READ_BYTES, &r);
	check_small_events(&r, READ_BYTES);
	decode(s.b, s.len, 0, READ_WHOLE, &r);
	check_small_events(&r, READ_WHOLE);
}

struct writer_arg {
	int fd;
	size_t block;
	int rc;
};

static void *writer_main(void *p)
{
	struct writer_arg *a = p;
	struct vfm_chan ch;
	uint8_t *buf = malloc(a->block);
	int rc = 0;

	for (size_t i = 0; i < a->block; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	vfm_chan_init(&ch, a->fd, "pipe-w");
	rc |= vfm_enc_file_header(&ch);
	for (uint32_t d = 0; d < 3; d++) {
		char id[16];

		snprintf(id, sizeof(id), "dev%u", d);
		rc |= vfm_enc_section_start(&ch, d + 1, id, d, 1);
		rc |= vfm_enc_marker(&ch, VFM_MIG_FLAG_DEV_SETUP_STATE);
		rc |= vfm_enc_marker(&ch, VFM_MIG_FLAG_END_OF_STATE);
		rc |= vfm_enc_footer(&ch, d + 1);
	}
	for (uint32_t d = 0; d < 3; d++) {
		rc |= vfm_enc_section(&ch, VFM_QEMU_VM_SECTION_END, d + 1);
		rc |= vfm_enc_data(&ch, buf, a->block);
		rc |= vfm_enc_data(&ch, buf, d);
		rc |= vfm_enc_marker(&ch, VFM_MIG_FLAG_END_OF_STATE);
		rc |= vfm_enc_footer(&ch, d + 1);
	}
	rc |= vfm_enc_eof(&ch);
	close(a->fd);
	free(buf);
	a->rc = rc;
	return NULL;
}

/* A multi-device stream with blocks larger than the pipe, over a real pipe with a
 * concurrent writer (short reads and writes on both sides). */
static void test_round_trip_pipe(void **st)
{
	int p[2];
	pthread_t t;
	struct writer_arg a = {.block = 300000};
	struct vfm_chan ch;
	struct vfm_dec dec;
	struct vfm_ev ev;
	uint8_t *buf = malloc(a.block);
	uint64_t total = 0;
	unsigned nsec = 0, nblocks = 0;

	(void)st;
	assert_int_equal(pipe(p), 0);
	a.fd = p[1];
	assert_int_equal(pthread_create(&t, NULL, writer_main, &a), 0);
	vfm_chan_init(&ch, p[0], "pipe-r");
	assert_int_equal(vfm_dec_init(&dec, &ch, 0), 0);
	for (;;) {
		assert_int_equal(vfm_dec_next(&dec, &ev), 0);
		if (ev.type == VFM_EV_EOF)
			break;
		if (ev.type == VFM_EV_SECTION && ev.section_type == VFM_QEMU_VM_SECTION_START)
			nsec++;
		if (ev.type == VFM_EV_DATA) {
			uint64_t got = 0;
			ssize_t n;

			nblocks++;
			while ((n = vfm_dec_data(&dec, buf + got, 65536)) > 0)
				got += (uint64_t)n;
			assert_int_equal(n, 0);
			assert_int_equal(got, ev.size);
			if (ev.size == a.block)
				for (size_t i = 0; i < a.block; i += 997)
					assert_int_equal(buf[i], (uint8_t)(i * 7 + 3));
			total += got;
		}
	}
	pthread_join(t, NULL);
	close(p[0]);
	free(buf);
	assert_int_equal(a.rc, 0);
	assert_int_equal(nsec, 3);
	assert_int_equal(nblocks, 6);
	assert_int_equal(total, 3 * a.block + 0 + 1 + 2);
}

/* Cut at every byte offset: always an error, never EOF, never a crash; the message
 * names an offset not beyond the cut. */
static void test_cut_everywhere(void **st)
{
	struct bytes s;

	(void)st;
	build_small(&s);
	for (size_t cut = 0; cut < s.len; cut++) {
		for (int mode = SKIP_DATA; mode <= READ_WHOLE; mode++) {
			struct result r;
			long long off;

			decode(s.b, cut, 0, (enum data_mode)mode, &r);
			if (r.rc == 0 || r.eof)
				fail_msg("stream cut at %zu of %zu accepted (mode %d)", cut, s.len,
					 mode);
			assert_int_equal(r.rc, -EPIPE);
			off = err_offset(r.err);
			/* the offset is that of the element (or field) the cut falls into: not
			 * before the element's start, not after the cut */
			{
				long long start = 0;

				/* (the file header, magic and version, is one element) */
				for (size_t m = 0; m < s.nmarks; m++)
					if (s.marks[m].off <= cut && s.marks[m].kind != MK_VERSION)
						start = (long long)s.marks[m].off;
				if (off < start || off > (long long)cut)
					fail_msg("cut at %zu (element at %lld): error '%s' names a "
						 "wrong offset",
						 cut, start, r.err);
			}
			assert_non_null(strstr(r.err, "expected"));
		}
	}
}

static bool legal_swap(uint8_t section_type, uint64_t a, uint64_t b)
{
	/* In a PART section END_OF_STATE and DEV_INIT_DATA_SENT may stand for each other. */
	return section_type == 0x02 &&
	       ((a == VFM_MIG_FLAG_END_OF_STATE && b == VFM_MIG_FLAG_DEV_INIT_DATA_SENT) ||
		(b == VFM_MIG_FLAG_END_OF_STATE && a == VFM_MIG_FLAG_DEV_INIT_DATA_SENT));
}

static void put_at(struct bytes *s, size_t off, uint64_t v, unsigned width)
{
	for (unsigned i = 0; i < width; i++)
		s->b[off + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

/* Every be64 marker replaced by values that are no marker at all: rejected exactly at
 * the marker's offset. */
static void test_markers_replaced(void **st)
{
	static const uint64_t junk[] = {
		0,
		0xffffffffffffffffull,
		0xffffffffef100000ull,
		0xffffffffef100007ull,
		0xffffffffef100101ull,
		0x7fffffffef100001ull,
		0xffffffffef100002ull, /* DEV_CONFIG_STATE: not ours to accept */
		0xffffffffef100006ull, /* DEV_CONFIG_LOAD_READY */
	};
	struct bytes base;

	(void)st;
	build_small(&base);
	for (size_t m = 0; m < base.nmarks; m++) {
		const struct mark *mk = &base.marks[m];

		if (mk->kind != MK_MARKER)
			continue;
		for (size_t j = 0; j < sizeof(junk) / sizeof(junk[0]); j++) {
			struct bytes s = base;
			char what[96];

			put_at(&s, mk->off, junk[j], 8);
			snprintf(what, sizeof(what), "marker at %zu replaced by 0x%016llx", mk->off,
				 (unsigned long long)junk[j]);
			expect_reject_at(&s, (long long)mk->off, what);
		}
	}
}

/* Every single-bit flip of every be64 marker: rejected with an offset at or after the
 * marker, unless the flip makes another marker the grammar allows there. */
static void test_markers_bit_flipped(void **st)
{
	struct bytes base;
	unsigned rejected = 0, legal = 0;

	(void)st;
	build_small(&base);
	for (size_t m = 0; m < base.nmarks; m++) {
		const struct mark *mk = &base.marks[m];

		if (mk->kind != MK_MARKER)
			continue;
		for (unsigned bit = 0; bit < 64; bit++) {
			struct bytes s = base;
			uint64_t v = mk->value ^ (1ull << bit);
			struct result r;
			long long off;

			put_at(&s, mk->off, v, 8);
			decode(s.b, s.len, 0, READ_WHOLE, &r);
			if (legal_swap(mk->section_type, mk->value, v)) {
				assert_int_equal(r.rc, 0);
				assert_true(r.eof);
				legal++;
				continue;
			}
			if (r.rc == 0 || r.eof)
				fail_msg("marker 0x%016llx at %zu flipped to 0x%016llx: accepted",
					 (unsigned long long)mk->value, mk->off,
					 (unsigned long long)v);
			off = err_offset(r.err);
			if (off < (long long)mk->off || off >= (long long)s.len)
				fail_msg("flip at %zu: error '%s' names a wrong offset", mk->off,
					 r.err);
			rejected++;
		}
	}
	assert_int_equal(legal, 2); /* PART: END_OF_STATE <-> INIT_DATA_SENT */
	if (rejected != 12 * 64 - 2)
		fail_msg("%u flips rejected, %u legal", rejected, legal);
}

/* The other framing bytes: file magic and version, section types, footers, EOF. */
static void test_framing_replaced(void **st)
{
	static const uint8_t bad_types[] = {0x04, 0x05, 0x06, 0x07, 0x08, 0x7e, 0x7f, 0x80, 0xff};
	struct bytes base;

	(void)st;
	build_small(&base);
	for (size_t m = 0; m < base.nmarks; m++) {
		const struct mark *mk = &base.marks[m];
		char what[96];

		switch (mk->kind) {
		case MK_MAGIC:
			for (unsigned bit = 0; bit < 32; bit++) {
				struct bytes s = base;

				s.b[mk->off + bit / 8] ^= (uint8_t)(1u << (bit % 8));
				snprintf(what, sizeof(what), "file magic bit %u", bit);
				expect_reject_at(&s, 0, what);
			}
			break;
		case MK_VERSION:
			for (unsigned v = 0; v < 8; v++) {
				struct bytes s = base;

				if (v == 3)
					continue;
				put_at(&s, mk->off, v, 4);
				snprintf(what, sizeof(what), "file version %u", v);
				expect_reject_at(&s, 4, what);
			}
			break;
		case MK_TYPE:
		case MK_EOF:
			for (size_t j = 0; j < sizeof(bad_types); j++) {
				struct bytes s = base;

				s.b[mk->off] = bad_types[j];
				snprintf(what, sizeof(what), "type byte at %zu = 0x%02x", mk->off,
					 bad_types[j]);
				expect_reject_at(&s, (long long)mk->off, what);
			}
			break;
		case MK_FOOTER:
			for (unsigned bit = 0; bit < 8; bit++) {
				struct bytes s = base;

				s.b[mk->off] ^= (uint8_t)(1u << bit);
				snprintf(what, sizeof(what), "footer byte at %zu bit %u", mk->off,
					 bit);
				expect_reject_at(&s, (long long)mk->off, what);
			}
			break;
		default:
			break;
		}
	}
}

/* A DATA block header with the given size after a valid START and END. */
static void build_sized(struct bytes *s, uint64_t size, size_t *size_off)
{
	memset(s, 0, sizeof(*s));
	h_file(s);
	h_start(s, 1, "d", 0, 1);
	h_marker(s, 0x01, VFM_MIG_FLAG_DEV_SETUP_STATE);
	h_marker(s, 0x01, VFM_MIG_FLAG_END_OF_STATE);
	h_footer(s, 1);
	h_section(s, 0x03, 1);
	h_marker(s, 0x03, VFM_MIG_FLAG_DEV_DATA_STATE);
	*size_off = s->len;
	put64(s, size);
	put(s, "abcdefgh", 8); /* a few bytes, far fewer than announced */
}

/* Absurd block sizes are refused at the size field, before any byte of the block is
 * read, and the decoder allocates nothing (not even a little). */
static void test_absurd_sizes(void **st)
{
	const uint64_t sizes[] = {
		1ull << 63, 0xffffffffffffffffull, VFM_STREAM_MAX_BLOCK + 1,
		1ull << 32, (1ull << 62) + 12345,
	};

	(void)st;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct bytes s;
		size_t size_off;
		struct result r;

		build_sized(&s, sizes[i], &size_off);
		count_start();
		decode(s.b, s.len, 0, READ_WHOLE, &r);
		count_stop();
		if (r.rc != -EBADMSG)
			fail_msg("block of %llu bytes: rc %d (%s)", (unsigned long long)sizes[i],
				 r.rc, r.err);
		assert_int_equal(err_offset(r.err), (long long)size_off);
		/* refused at the size field: the block's bytes were not consumed */
		assert_int_equal(r.end_pos, size_off + 8);
		/* decode() itself calloc()s the decoder: that one allocation only */
		if (n_allocs != 1 || biggest_alloc != sizeof(struct vfm_dec))
			fail_msg("decoding allocated %zu times, up to %zu bytes", n_allocs,
				 biggest_alloc);
	}
	/* the limit itself is accepted (the stream then ends inside the block: EPIPE) */
	{
		struct bytes s;
		size_t size_off;
		struct result r;

		build_sized(&s, VFM_STREAM_MAX_BLOCK, &size_off);
		count_start();
		decode(s.b, s.len, 0, SKIP_DATA, &r);
		count_stop();
		assert_int_equal(r.rc, -EPIPE);
		assert_int_equal(n_allocs, 1);
	}
	/* a caller's own limit */
	{
		struct bytes s;
		size_t size_off;
		struct result r;

		build_sized(&s, 9, &size_off);
		decode(s.b, s.len, 8, READ_WHOLE, &r);
		assert_int_equal(r.rc, -EBADMSG);
		assert_int_equal(err_offset(r.err), (long long)size_off);
		build_sized(&s, 8, &size_off);
		put64(&s, VFM_MIG_FLAG_END_OF_STATE);
		h_footer(&s, 1);
		h_eof(&s);
		decode(s.b, s.len, 8, READ_WHOLE, &r);
		assert_int_equal(r.rc, 0);
		assert_true(r.eof);
	}
}

static int nop_step(void *o, uint32_t from, uint32_t to, bool *e)
{
	(void)o, (void)from, (void)to, (void)e;
	return 0;
}

static ssize_t nop_save(void *o, void *b, size_t l)
{
	(void)o, (void)b, (void)l;
	return 0;
}

static ssize_t nop_load(void *o, const void *b, size_t l)
{
	(void)o, (void)b;
	return (ssize_t)l;
}

/* A whole valid stream decodes without the library allocating anything. */
static void test_decoder_never_allocates(void **st)
{
	struct bytes s;
	struct result r;

	(void)st;
	/* the counting sees the library's allocations at all (device create allocates) */
	{
		static const struct vfm_device_ops ops = {
			.step = nop_step, .save = nop_save, .load = nop_load};
		struct vfm_device_config cfg = {.name = "x", .flags = VFM_MIGRATION_STOP_COPY};
		struct vfm_device *dev;

		count_start();
		assert_int_equal(vfm_device_create(&cfg, &ops, NULL, &dev), 0);
		count_stop();
		assert_true(n_allocs >= 1);
		vfm_device_destroy(dev);
	}
	build_small(&s);
	for (int mode = SKIP_DATA; mode <= READ_WHOLE; mode++) {
		count_start();
		decode(s.b, s.len, 0, (enum data_mode)mode, &r);
		count_stop();
		assert_int_equal(r.rc, 0);
		assert_int_equal(n_allocs, 1); /* decode()'s own calloc of the decoder */
	}
}

static void start_min(struct bytes *s, uint32_t sid)
{
	h_start(s, sid, "d", 0, 1);
	h_marker(s, 0x01, VFM_MIG_FLAG_DEV_SETUP_STATE);
	h_marker(s, 0x01, VFM_MIG_FLAG_END_OF_STATE);
	h_footer(s, sid);
}

static void test_unknown_section_types(void **st)
{
	(void)st;
	for (unsigned t = 0x05; t <= 0xff; t++) {
		struct bytes s = {0};
		size_t at;
		char what[64];

		h_file(&s);
		start_min(&s, 1);
		at = s.len;
		put8(&s, (uint8_t)t);
		put32(&s, 1);
		h_eof(&s);
		snprintf(what, sizeof(what), "section type 0x%02x", t);
		expect_reject_at(&s, (long long)at, what);
	}
}

static void test_footer_wrong_id(void **st)
{
	struct bytes s = {0};
	size_t at;

	(void)st;
	h_file(&s);
	h_start(&s, 1, "d", 0, 1);
	h_marker(&s, 0x01, VFM_MIG_FLAG_DEV_SETUP_STATE);
	h_marker(&s, 0x01, VFM_MIG_FLAG_END_OF_STATE);
	at = s.len;
	h_footer(&s, 2);
	h_eof(&s);
	expect_reject_at(&s, (long long)at + 1, "footer naming section 2 in section 1");
	/* and in an END section, naming another started section */
	memset(&s, 0, sizeof(s));
	h_file(&s);
	start_min(&s, 1);
	start_min(&s, 2);
	h_section(&s, 0x03, 1);
	h_marker(&s, 0x03, VFM_MIG_FLAG_END_OF_STATE);
	at = s.len;
	h_footer(&s, 2);
	h_eof(&s);
	expect_reject_at(&s, (long long)at + 1, "END of 1 with the footer of 2");
}

static void test_part_end_never_started(void **st)
{
	(void)st;
	for (uint8_t type = 0x02; type <= 0x03; type++) {
		struct bytes s = {0};
		size_t at;

		h_file(&s);
		start_min(&s, 1);
		at = s.len;
		h_section(&s, type, 5);
		h_marker(&s, type, VFM_MIG_FLAG_END_OF_STATE);
		h_footer(&s, 5);
		h_eof(&s);
		expect_reject_at(&s, (long long)at + 1, "PART/END of a section never started");
		/* also with no START at all */
		memset(&s, 0, sizeof(s));
		h_file(&s);
		h_section(&s, type, 1);
		h_eof(&s);
		expect_reject_at(&s, 9, "PART/END before any START");
	}
}

static void test_start_twice(void **st)
{
	struct bytes s = {0};
	size_t at;

	(void)st;
	h_file(&s);
	start_min(&s, 4);
	at = s.len;
	start_min(&s, 4);
	h_eof(&s);
	expect_reject_at(&s, (long long)at + 1, "START twice");
}

static void test_idstr(void **st)
{
	struct bytes s = {0};
	size_t at;
	struct result r;
	char long_id[256];
	struct vfm_chan ch;
	int fd;

	(void)st;
	/* length 0 */
	h_file(&s);
	put8(&s, 0x01);
	put32(&s, 1);
	at = s.len;
	put8(&s, 0);
	put32(&s, 0);
	put32(&s, 1);
	h_eof(&s);
	expect_reject_at(&s, (long long)at, "empty id string");
	/* a NUL inside */
	memset(&s, 0, sizeof(s));
	h_file(&s);
	h_start(&s, 1, "ab", 0, 1);
	s.b[s.len - 8 - 1] = 0; /* the 'b' */
	h_marker(&s, 0x01, VFM_MIG_FLAG_DEV_SETUP_STATE);
	h_marker(&s, 0x01, VFM_MIG_FLAG_END_OF_STATE);
	h_footer(&s, 1);
	h_eof(&s);
	decode(s.b, s.len, 0, READ_WHOLE, &r);
	assert_int_equal(r.rc, -EBADMSG);
	assert_true(err_offset(r.err) >= 14);
	/* 255 bytes: the longest, round trip through the encoder */
	memset(long_id, 'x', 255);
	long_id[255] = '\0';
	fd = memfd_create("id", 0);
	vfm_chan_init(&ch, fd, "mem");
	assert_int_equal(vfm_enc_file_header(&ch), 0);
	assert_int_equal(vfm_enc_section_start(&ch, 9, long_id, 2, 1), 0);
	assert_int_equal(vfm_enc_marker(&ch, VFM_MIG_FLAG_DEV_SETUP_STATE), 0);
	assert_int_equal(vfm_enc_marker(&ch, VFM_MIG_FLAG_END_OF_STATE), 0);
	assert_int_equal(vfm_enc_footer(&ch, 9), 0);
	assert_int_equal(vfm_enc_eof(&ch), 0);
	slurp_fd(fd, &s);
	decode(s.b, s.len, 0, READ_WHOLE, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.ev[0].ev.idstr, long_id);
	/* the encoder refuses 0 and 256 bytes, and writes nothing then */
	{
		char too_long[257];
		uint64_t before = ch.pos;

		memset(too_long, 'y', 256);
		too_long[256] = '\0';
		assert_int_equal(vfm_enc_section_start(&ch, 10, too_long, 0, 1), -EINVAL);
		assert_int_equal(vfm_enc_section_start(&ch, 10, "", 0, 1), -EINVAL);
		assert_int_equal(ch.pos, before);
		assert_true(strlen(ch.err) > 0);
	}
	close(fd);
}

static void test_version_not_1(void **st)
{
	static const uint32_t versions[] = {0, 2, 3, 0x100, 0xffffffffu};

	(void)st;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct bytes s = {0};

		h_file(&s);
		h_start(&s, 1, "dev", 0, versions[i]);
		h_marker(&s, 0x01, VFM_MIG_FLAG_DEV_SETUP_STATE);
		h_marker(&s, 0x01, VFM_MIG_FLAG_END_OF_STATE);
		h_footer(&s, 1);
		h_eof(&s);
		/* the version is the 4 bytes before the SETUP marker */
		expect_reject_at(&s, (long long)s.marks[3].off - 4, "section version");
	}
}

static void test_full_section(void **st)
{
	struct bytes s = {0};
	size_t at;
	struct result r;

	(void)st;
	h_file(&s);
	start_min(&s, 1);
	at = s.len;
	put8(&s, 0x04);
	put32(&s, 2);
	put8(&s, 1);
	put8(&s, 'c');
	put32(&s, 0);
	put32(&s, 1);
	put64(&s, VFM_MIG_FLAG_DEV_CONFIG_STATE);
	put64(&s, VFM_MIG_FLAG_END_OF_STATE);
	h_footer(&s, 2);
	h_eof(&s);
	expect_reject_at(&s, (long long)at, "FULL section");
	decode(s.b, s.len, 0, READ_WHOLE, &r);
	assert_non_null(strstr(r.err, "FULL"));
}

/* Markers the grammar does not allow where they stand. */
static void test_marker_grammar(void **st)
{
	struct bytes s;
	size_t at;

	(void)st;
	/* DATA inside START */
	memset(&s, 0, sizeof(s));
	h_file(&s);
	h_start(&s, 1, "d", 0, 1);
	at = s.len;
	h_data(&s, 0x01, "ab", 2);
	h_eof(&s);
	expect_reject_at(&s, (long long)at, "DATA in START");
	/* START without SETUP */
	memset(&s, 0, sizeof(s));
	h_file(&s);
	h_start(&s, 1, "d", 0, 1);
	at = s.len;
	h_marker(&s, 0x01, VFM_MIG_FLAG_END_OF_STATE);
	h_footer(&s, 1);
	h_eof(&s);
	expect_reject_at(&s, (long long)at, "START without SETUP");
	/* INIT_DATA_SENT in END */
	memset(&s, 0, sizeof(s));
	h_file(&s);
	start_min(&s, 1);
	h_section(&s, 0x03, 1);
	at = s.len;
	h_marker(&s, 0x03, VFM_MIG_FLAG_DEV_INIT_DATA_SENT);
	h_footer(&s, 1);
	h_eof(&s);
	expect_reject_at(&s, (long long)at, "INIT_DATA_SENT in END");
	/* SETUP in PART */
	memset(&s, 0, sizeof(s));
	h_file(&s);
	start_min(&s, 1);
	h_section(&s, 0x02, 1);
	at = s.len;
	h_marker(&s, 0x02, VFM_MIG_FLAG_DEV_SETUP_STATE);
	h_footer(&s, 1);
	h_eof(&s);
	expect_reject_at(&s, (long long)at, "SETUP in PART");
}

static void test_too_many_sections(void **st)
{
	struct bytes s = {0};
	size_t at = 0;
	struct result r;

	(void)st;
	h_file(&s);
	for (uint32_t i = 0; i < VFM_STREAM_MAX_SECTIONS; i++)
		start_min(&s, i + 1);
	h_eof(&s);
	decode(s.b, s.len, 0, SKIP_DATA, &r);
	assert_int_equal(r.rc, 0);
	assert_true(r.eof);
	s.len--;
	at = s.len;
	start_min(&s, 1000);
	h_eof(&s);
	expect_reject_at(&s, (long long)at, "one section too many");
}

static void test_past_eof_and_empty(void **st)
{
	struct bytes s;
	struct vfm_chan ch;
	struct vfm_dec dec;
	struct vfm_ev ev;
	int fd;

	(void)st;
	build_small(&s);
	fd = mem_fd(s.b, s.len);
	vfm_chan_init(&ch, fd, "mem");
	assert_int_equal(vfm_dec_init(&dec, &ch, 0), 0);
	do
		assert_int_equal(vfm_dec_next(&dec, &ev), 0);
	while (ev.type != VFM_EV_EOF);
	assert_int_equal(vfm_dec_next(&dec, &ev), -EBADMSG);
	assert_int_equal(vfm_dec_next(&dec, &ev), -EBADMSG);
	close(fd);
	/* an empty stream */
	fd = mem_fd(NULL, 0);
	vfm_chan_init(&ch, fd, "mem");
	assert_int_equal(vfm_dec_init(&dec, &ch, 0), -EPIPE);
	assert_int_equal(err_offset(dec.err), 0);
	close(fd);
	/* just the header and EOF: a valid, empty stream */
	memset(&s, 0, sizeof(s));
	h_file(&s);
	h_eof(&s);
	{
		struct result r;

		decode(s.b, s.len, 0, SKIP_DATA, &r);
		assert_int_equal(r.rc, 0);
		assert_true(r.eof);
		assert_int_equal(r.nev, 1);
	}
}

/* Once the decoder has failed it stays failed. */
static void test_error_is_sticky(void **st)
{
	struct bytes s;
	struct vfm_chan ch;
	struct vfm_dec dec;
	struct vfm_ev ev;
	int fd;

	(void)st;
	build_small(&s);
	s.b[8] = 0x55; /* first section type */
	fd = mem_fd(s.b, s.len);
	vfm_chan_init(&ch, fd, "mem");
	assert_int_equal(vfm_dec_init(&dec, &ch, 0), 0);
	assert_int_equal(vfm_dec_next(&dec, &ev), -EBADMSG);
	for (int i = 0; i < 3; i++)
		assert_true(vfm_dec_next(&dec, &ev) < 0);
	{
		uint8_t b[4];

		assert_true(vfm_dec_data(&dec, b, sizeof(b)) <= 0);
	}
	close(fd);
}

/*
 * vfm_dec_data() with len 0 in the middle of a block must not end the block: "returns
 * bytes read (0 at its end)" - a zero-length read reads nothing and the block's bytes
 * are still to be skipped by the next vfm_dec_next(). Otherwise the block's payload is
 * parsed as framing (here: payload bytes that spell END_OF_STATE).
 */
static void test_dec_data_zero_len_keeps_block(void **st)
{
	struct bytes s = {0};
	struct vfm_chan ch;
	struct vfm_dec dec;
	struct vfm_ev ev;
	uint8_t payload[8], b[8];
	size_t eos_off;
	int fd;

	(void)st;
	for (int i = 0; i < 8; i++)
		payload[i] = (uint8_t)(VFM_MIG_FLAG_END_OF_STATE >> (56 - 8 * i));
	h_file(&s);
	start_min(&s, 1);
	h_section(&s, 0x03, 1);
	h_data(&s, 0x03, payload, 8);
	eos_off = s.len;
	h_marker(&s, 0x03, VFM_MIG_FLAG_END_OF_STATE);
	h_footer(&s, 1);
	h_eof(&s);
	fd = mem_fd(s.b, s.len);
	vfm_chan_init(&ch, fd, "mem");
	assert_int_equal(vfm_dec_init(&dec, &ch, 0), 0);
	do
		assert_int_equal(vfm_dec_next(&dec, &ev), 0);
	while (ev.type != VFM_EV_DATA);
	assert_int_equal(ev.size, 8);
	assert_int_equal(vfm_dec_data(&dec, b, 0), 0);
	assert_int_equal(vfm_dec_next(&dec, &ev), 0);
	if (ev.type != VFM_EV_MARKER || ev.offset != eos_off)
		fail_msg("after a 0-byte vfm_dec_data() the next element is type %d at offset "
			 "%llu, expected END_OF_STATE at %zu: the block's payload was parsed as "
			 "framing",
			 ev.type, (unsigned long long)ev.offset, eos_off);
	assert_int_equal(vfm_dec_next(&dec, &ev), 0);
	assert_int_equal(ev.type, VFM_EV_FOOTER);
	assert_int_equal(vfm_dec_next(&dec, &ev), 0);
	assert_int_equal(ev.type, VFM_EV_EOF);
	close(fd);
}

static void test_channel(void **st)
{
	int p[2];
	struct vfm_chan w, r;
	uint8_t b[16];

	(void)st;
	assert_int_equal(pipe(p), 0);
	vfm_chan_init(&w, p[1], NULL);
	vfm_chan_init(&r, p[0], "reader");
	assert_string_equal(w.name, "channel");
	assert_int_equal(vfm_chan_write2(&w, "abc", 3, "defg", 4), 0);
	assert_int_equal(vfm_chan_write2(&w, "", 0, "h", 1), 0);
	assert_int_equal(w.pos, 8);
	assert_int_equal(vfm_chan_read(&r, b, 0), 0);
	assert_int_equal(vfm_chan_read(&r, b, 8), 0);
	assert_memory_equal(b, "abcdefgh", 8);
	assert_int_equal(r.pos, 8);
	assert_int_equal(vfm_chan_write(&w, "xy", 2), 0);
	close(p[1]);
	/* 2 bytes left, 4 asked: cut part way */
	assert_int_equal(vfm_chan_read(&r, b, 4), -EPIPE);
	assert_true(r.eof);
	assert_non_null(strstr(r.err, "offset 10"));
	/* nothing left: a clean end */
	assert_int_equal(vfm_chan_read(&r, b, 1), -ENODATA);
	close(p[0]);
	/* writing into a pipe nobody reads */
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	{
		struct sigaction sa = {.sa_handler = SIG_IGN}, old;

		sigaction(SIGPIPE, &sa, &old);
		vfm_chan_init(&w, p[1], "dead");
		assert_int_equal(vfm_chan_write(&w, "z", 1), -EPIPE);
		assert_non_null(strstr(w.err, "offset 0"));
		sigaction(SIGPIPE, &old, NULL);
	}
	close(p[1]);
	/* a bad fd */
	vfm_chan_init(&r, -1, "bad");
	assert_int_equal(vfm_chan_read(&r, b, 1), -EBADF);
}

static void test_enc_section_types(void **st)
{
	struct vfm_chan ch;
	int fd = memfd_create("t", 0);

	(void)st;
	vfm_chan_init(&ch, fd, "mem");
	assert_int_equal(vfm_enc_section(&ch, VFM_QEMU_VM_SECTION_START, 1), -EINVAL);
	assert_int_equal(vfm_enc_section(&ch, VFM_QEMU_VM_SECTION_FULL, 1), -EINVAL);
	assert_int_equal(vfm_enc_section(&ch, 0, 1), -EINVAL);
	assert_int_equal(ch.pos, 0);
	assert_int_equal(vfm_enc_section(&ch, VFM_QEMU_VM_SECTION_PART, 0x01020304), 0);
	assert_int_equal(vfm_enc_section(&ch, VFM_QEMU_VM_SECTION_END, 0xa0b0c0d0), 0);
	{
		struct bytes got;
		static const uint8_t want[] = {0x02, 0x01, 0x02, 0x03, 0x04,
					       0x03, 0xa0, 0xb0, 0xc0, 0xd0};

		slurp_fd(fd, &got);
		assert_int_equal(got.len, sizeof(want));
		assert_memory_equal(got.b, want, sizeof(want));
	}
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoder_bytes),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_pipe),
		cmocka_unit_test(test_cut_everywhere),
		cmocka_unit_test(test_markers_replaced),
		cmocka_unit_test(test_markers_bit_flipped),
		cmocka_unit_test(test_framing_replaced),
		cmocka_unit_test(test_absurd_sizes),
		cmocka_unit_test(test_decoder_never_allocates),
		cmocka_unit_test(test_unknown_section_types),
		cmocka_unit_test(test_footer_wrong_id),
		cmocka_unit_test(test_part_end_never_started),
		cmocka_unit_test(test_start_twice),
		cmocka_unit_test(test_idstr),
		cmocka_unit_test(test_version_not_1),
		cmocka_unit_test(test_full_section),
		cmocka_unit_test(test_marker_grammar),
		cmocka_unit_test(test_too_many_sections),
		cmocka_unit_test(test_past_eof_and_empty),
		cmocka_unit_test(test_error_is_sticky),
		cmocka_unit_test(test_dec_data_zero_len_keeps_block),
		cmocka_unit_test(test_channel),
		cmocka_unit_test(test_enc_section_types),
	};

	return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
