// SPDX-License-Identifier: BSD-3-Clause
/*
 * The vmdesc trailer of a QEMU stream: where it is in a file, and a bounded streaming
 * walk of its JSON that keeps, per device entry, the name, the instance and the bytes
 * its FULL body takes: the sum of its fields' sizes (times array_len) and of its
 * subsections (marker, counted name, version, then their own fields and subsections).
 * Nothing is allocated: the JSON is read through the reader's look-ahead buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qemu-int.h"
#include "util.h"

#define SIZE_LIMIT (1ull << 48) /* no device state is this large */

struct js {
	struct vfm_qs_reader *rd;
	struct qs_in *in;
	uint64_t end;
};

static int js_fail(struct js *j, const char *what)
{
	return qs_fail(j->rd, -EBADMSG, j->in->pos, "vmdesc JSON: %s", what);
}

/* The next byte (whitespace skipped if ws), not consumed. */
static int js_peek(struct js *j, uint8_t *c, bool ws)
{
	for (;;) {
		ssize_t got;

		if (j->in->pos >= j->end)
			return js_fail(j, "ends early");
		got = qs_fill(j->in, 1);
		if (got < 0)
			return qs_fail(j->rd, (int)got, j->in->pos, "reading the vmdesc: %s",
				       strerror((int)-got));
		if (got == 0)
			return qs_fail(j->rd, -EPIPE, j->in->pos, "stream ends inside the vmdesc");
		*c = *qs_peek(j->in);
		if (!ws || (*c != ' ' && *c != '\n' && *c != '\r' && *c != '\t'))
			return 0;
		qs_take(j->in, 1);
	}
}

static int js_byte(struct js *j, uint8_t *c)
{
	int rc = js_peek(j, c, false);

	if (!rc)
		qs_take(j->in, 1);
	return rc;
}

static int js_expect(struct js *j, uint8_t want, const char *what)
{
	uint8_t c;
	int rc = js_peek(j, &c, true);

	if (rc)
		return rc;
	if (c != want)
		return js_fail(j, what);
	qs_take(j->in, 1);
	return 0;
}

static int js_hex4(struct js *j, unsigned int *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t c;
		int rc = js_byte(j, &c);

		if (rc)
			return rc;
		if (c >= '0' && c <= '9')
			*v = *v << 4 | (unsigned int)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			*v = *v << 4 | (unsigned int)((c | 0x20) - 'a' + 10);
		else
			return js_fail(j, "a bad \\u escape");
	}
	return 0;
}

/* A string into out[cap] (NULL: dropped); *len = its length. */
static int js_string(struct js *j, char *out, size_t cap, size_t *len)
{
	static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
	size_t n = 0;
	int rc = js_expect(j, '"', "expected a string");

	while (!rc) {
		uint8_t c;
		unsigned int u;
		const char *e;

		rc = js_byte(j, &c);
		if (rc || c == '"')
			break;
		if (c < 0x20)
			return js_fail(j, "a control byte in a string");
		if (c == '\\') {
			rc = js_byte(j, &c);
			if (rc)
				break;
			e = c == 'u' ? NULL : strchr(esc_in, c);
			if (c == 'u') {
				rc = js_hex4(j, &u);
				c = u < 0x80 ? (uint8_t)u : '?';
			} else if (!e || !c) {
				return js_fail(j, "a bad escape in a string");
			} else {
				c = (uint8_t)esc_out[e - esc_in];
			}
		}
		if (out && n + 1 >= cap)
			return js_fail(j, "a name longer than 255 bytes");
		if (out)
			out[n] = (char)c;
		n++;
	}
	if (out && !rc)
		out[n] = '\0';
	if (len)
		*len = n;
	return rc;
}

/* A number; *v gets it when it is a plain unsigned integer (*exact). */
static int js_number(struct js *j, uint64_t *v, bool *exact)
{
	uint8_t c;
	size_t digits = 0;
	int rc = js_peek(j, &c, true);

	*v = 0;
	*exact = true;
	while (!rc) {
		if (c >= '0' && c <= '9') {
			if (*v > (UINT64_MAX - 9) / 10)
				*exact = false;
			*v = *v * 10 + (uint64_t)(c - '0');
			digits++;
		} else if (c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			*exact = false;
		} else {
			break;
		}
		qs_take(j->in, 1);
		rc = js_peek(j, &c, false);
	}
	if (!rc && !digits)
		return js_fail(j, "expected a number");
	return rc;
}

static int js_uint(struct js *j, uint64_t *v, const char *what)
{
	bool exact;
	int rc = js_number(j, v, &exact);

	if (!rc && (!exact || *v > SIZE_LIMIT))
		return js_fail(j, what);
	return rc;
}

static int js_word(struct js *j, const char *w)
{
	for (; *w; w++) {
		uint8_t c;
		int rc = js_byte(j, &c);

		if (rc)
			return rc;
		if (c != (uint8_t)*w)
			return js_fail(j, "expected true, false or null");
	}
	return 0;
}

typedef int (*js_member_fn)(struct js *j, const char *key, void *ctx, int depth);
typedef int (*js_elem_fn)(struct js *j, void *ctx, int depth);

static int js_skip(struct js *j, int depth);

static int js_object(struct js *j, int depth, js_member_fn fn, void *ctx)
{
	char key[256];
	uint8_t c;
	int rc;

	if (depth > VFM_QS_MAX_JSON_DEPTH)
		return js_fail(j, "nested too deep");
	rc = js_expect(j, '{', "expected an object");
	if (!rc)
		rc = js_peek(j, &c, true);
	if (!rc && c == '}') {
		qs_take(j->in, 1);
		return 0;
	}
	while (!rc) {
		rc = js_string(j, key, sizeof(key), NULL);
		if (!rc)
			rc = js_expect(j, ':', "expected ':'");
		if (!rc)
			rc = fn ? fn(j, key, ctx, depth + 1) : js_skip(j, depth + 1);
		if (!rc)
			rc = js_peek(j, &c, true);
		if (rc)
			return rc;
		qs_take(j->in, 1);
		if (c == '}')
			return 0;
		if (c != ',')
			return js_fail(j, "expected ',' or '}'");
	}
	return rc;
}

static int js_array(struct js *j, int depth, js_elem_fn fn, void *ctx)
{
	uint8_t c;
	int rc;

	if (depth > VFM_QS_MAX_JSON_DEPTH)
		return js_fail(j, "nested too deep");
	rc = js_expect(j, '[', "expected an array");
	if (!rc)
		rc = js_peek(j, &c, true);
	if (!rc && c == ']') {
		qs_take(j->in, 1);
		return 0;
	}
	while (!rc) {
		rc = fn ? fn(j, ctx, depth + 1) : js_skip(j, depth + 1);
		if (!rc)
			rc = js_peek(j, &c, true);
		if (rc)
			return rc;
		qs_take(j->in, 1);
		if (c == ']')
			return 0;
		if (c != ',')
			return js_fail(j, "expected ',' or ']'");
	}
	return rc;
}

static int js_skip(struct js *j, int depth)
{
	uint64_t v;
	bool exact;
	uint8_t c;
	int rc = js_peek(j, &c, true);

	if (rc)
		return rc;
	switch (c) {
	case '{':
		return js_object(j, depth, NULL, NULL);
	case '[':
		return js_array(j, depth, NULL, NULL);
	case '"':
		return js_string(j, NULL, 0, NULL);
	case 't':
		return js_word(j, "true");
	case 'f':
		return js_word(j, "false");
	case 'n':
		return js_word(j, "null");
	default:
		return js_number(j, &v, &exact);
	}
}

/* ---- the schema ------------------------------------------------------------------------ */

/* The bytes of one VMSD description: its fields, then its subsections. */
struct vmsd_size {
	uint64_t size;
	size_t name_len; /* a subsection's vmsd_name */
};

struct field_size {
	uint64_t size, array_len;
	bool has_len;
};

static int add_size(struct js *j, uint64_t *sum, uint64_t add)
{
	if (add > SIZE_LIMIT || *sum > SIZE_LIMIT - add)
		return js_fail(j, "a device state too large");
	*sum += add;
	return 0;
}

static int field_member(struct js *j, const char *key, void *ctx, int depth)
{
	struct field_size *f = ctx;

	if (!strcmp(key, "size"))
		return js_uint(j, &f->size, "a field size that is not an integer");
	if (!strcmp(key, "array_len")) {
		f->has_len = true;
		return js_uint(j, &f->array_len, "an array_len that is not an integer");
	}
	return js_skip(j, depth);
}

static int field_elem(struct js *j, void *ctx, int depth)
{
	struct vmsd_size *v = ctx;
	struct field_size f = {0};
	int rc = js_object(j, depth, field_member, &f);

	if (rc)
		return rc;
	if (f.has_len && f.array_len && f.size > SIZE_LIMIT / f.array_len)
		return js_fail(j, "a field too large");
	return add_size(j, &v->size, f.has_len ? f.size * f.array_len : f.size);
}

static int sub_elem(struct js *j, void *ctx, int depth);

static int vmsd_member(struct js *j, const char *key, void *ctx, int depth)
{
	struct vmsd_size *v = ctx;

	if (!strcmp(key, "fields"))
		return js_array(j, depth, field_elem, v);
	if (!strcmp(key, "subsections"))
		return js_array(j, depth, sub_elem, v);
	if (!strcmp(key, "vmsd_name"))
		return js_string(j, NULL, 0, &v->name_len);
	return js_skip(j, depth);
}

static int sub_elem(struct js *j, void *ctx, int depth)
{
	struct vmsd_size *parent = ctx, sub = {0};
	int rc = js_object(j, depth, vmsd_member, &sub);

	if (rc)
		return rc;
	if (sub.name_len == 0 || sub.name_len > 255)
		return js_fail(j, "a subsection without a vmsd_name of 1..255 bytes");
	return add_size(j, &parent->size, 1 + 1 + sub.name_len + 4 + sub.size);
}

struct dev_ctx {
	struct qs_vmdesc_dev *d;
	struct vmsd_size v;
	bool has_name, has_instance;
};

static int dev_member(struct js *j, const char *key, void *ctx, int depth)
{
	struct dev_ctx *c = ctx;
	uint64_t v;
	int rc;

	if (!strcmp(key, "name")) {
		c->has_name = true;
		return js_string(j, c->d->name, sizeof(c->d->name), NULL);
	}
	if (!strcmp(key, "instance_id")) {
		rc = js_uint(j, &v, "an instance_id that is not an integer");
		if (!rc && v > UINT32_MAX)
			return js_fail(j, "an instance_id over 32 bits");
		c->d->instance_id = (uint32_t)v;
		c->has_instance = true;
		return rc;
	}
	return vmsd_member(j, key, &c->v, depth);
}

static int dev_elem(struct js *j, void *ctx, int depth)
{
	struct qs_vmdesc *vd = ctx;
	struct dev_ctx c = {0};
	int rc;

	if (vd->nr >= VFM_QS_MAX_VMDESC_DEVICES)
		return js_fail(j, "more device entries than the limit of 1024");
	c.d = &vd->dev[vd->nr];
	memset(c.d, 0, sizeof(*c.d));
	rc = js_object(j, depth, dev_member, &c);
	if (rc)
		return rc;
	if (!c.has_name || !c.has_instance)
		return js_fail(j, "a device entry without name or instance_id");
	c.d->size = c.v.size;
	vd->nr++;
	return 0;
}

static int top_member(struct js *j, const char *key, void *ctx, int depth)
{
	struct qs_vmdesc *vd = ctx;

	if (!strcmp(key, "devices"))
		return js_array(j, depth, dev_elem, vd);
	if (!strcmp(key, "page_size")) {
		vd->has_page_size = true;
		return js_uint(j, &vd->page_size, "a page_size that is not an integer");
	}
	return js_skip(j, depth);
}

int qs_vmdesc_parse(struct vfm_qs_reader *rd, struct qs_in *in, uint64_t len)
{
	struct js j = {.rd = rd, .in = in, .end = in->pos + len};
	uint64_t start = in->pos;
	int rc;

	rd->vmdesc.nr = 0;
	rd->vmdesc.has_page_size = false;
	rc = js_object(&j, 0, top_member, &rd->vmdesc);
	while (!rc && in->pos < j.end) {
		uint8_t c;

		rc = js_peek(&j, &c, false);
		if (!rc && c != ' ' && c != '\n' && c != '\r' && c != '\t')
			rc = js_fail(&j, "bytes after the JSON object");
		if (!rc)
			qs_take(in, 1);
	}
	if (rc)
		return rc;
	if (rd->vmdesc.has_page_size) {
		uint64_t ps = rd->vmdesc.page_size;

		if (ps < 512 || ps > (1u << 21) || (ps & (ps - 1)))
			return qs_fail(rd, -EBADMSG, start, "vmdesc page_size %llu",
				       (unsigned long long)ps);
		rd->page_size = (uint32_t)ps;
	}
	return 0;
}

/* Looks for 0x06 at p with be32(p+1) == size - p - 5 and '{' at p+5, from the end. */
static int find_trailer(struct vfm_qs_reader *rd, uint64_t size, uint8_t *buf, size_t cap,
			uint64_t *at)
{
	uint64_t lo = size > VFM_QS_MAX_VMDESC + 5 + 9 ? size - VFM_QS_MAX_VMDESC - 5 : 9;
	uint64_t top = size - 5; /* candidates p in [lo, top): p + 5 < size */

	*at = 0;
	while (top > lo) {
		uint64_t a = top - lo > cap - 8 ? top - (cap - 8) : lo;
		size_t want = (size_t)VFM_MIN(size - a, (uint64_t)cap);
		ssize_t got = pread(rd->in.fd, buf, want, (off_t)a);

		if (got < 0)
			return qs_fail(rd, -errno, a, "reading the stream's tail: %s",
				       strerror(errno));
		for (uint64_t p = top; p-- > a;) {
			size_t i = (size_t)(p - a);

			if (i + 6 <= (size_t)got && buf[i] == 0x06 && buf[i + 5] == '{' &&
			    vfm_get_be32(buf + i + 1) == size - p - 5) {
				*at = p;
				return 0;
			}
		}
		top = a;
	}
	return 0;
}

int qs_vmdesc_locate(struct vfm_qs_reader *rd, uint64_t size)
{
	struct qs_in in = {.fd = rd->in.fd, .use_pread = true};
	uint8_t last;
	uint64_t at;
	int rc;

	if (size < 8 + 1 + 5 + 2 || pread(rd->in.fd, &last, 1, (off_t)(size - 1)) != 1 ||
	    last != '}')
		return 0;
	rc = find_trailer(rd, size, rd->in.buf, QS_BUF_SIZE, &at);
	if (rc || !at)
		return rc;
	in.buf = malloc(QS_BUF_SIZE);
	if (!in.buf)
		return vfm_errf(rd->err, sizeof(rd->err), -ENOMEM, "out of memory");
	in.pread_off = at + 5;
	in.pos = at + 5;
	rc = qs_vmdesc_parse(rd, &in, size - at - 5);
	free(in.buf);
	if (rc)
		return rc;
	rd->vmdesc_first = true;
	rd->vmdesc_off = at;
	return 0;
}
