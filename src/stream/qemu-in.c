// SPDX-License-Identifier: BSD-3-Clause
/* The QEMU stream reader's input: a fixed look-ahead buffer and bounded primitives. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "qemu-int.h"
#include "util.h"

int qs_fail(struct vfm_qs_reader *rd, int rc, uint64_t off, const char *fmt, ...)
{
	char what[VFM_QS_ERR_LEN - 32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return vfm_errf(rd->err, sizeof(rd->err), rc, "offset %llu: %s", (unsigned long long)off,
			what);
}

ssize_t qs_fill(struct qs_in *in, size_t n)
{
	if (n > QS_BUF_SIZE)
		n = QS_BUF_SIZE;
	if (in->tail - in->head >= n)
		return (ssize_t)n;
	if (in->head) {
		memmove(in->buf, in->buf + in->head, in->tail - in->head);
		in->tail -= in->head;
		in->head = 0;
	}
	while (in->tail < n && !in->eof) {
		size_t room = QS_BUF_SIZE - in->tail;
		ssize_t r = in->use_pread
				    ? pread(in->fd, in->buf + in->tail, room, (off_t)in->pread_off)
				    : read(in->fd, in->buf + in->tail, room);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			in->eof = true;
		in->tail += (size_t)r;
		in->pread_off += (uint64_t)r;
	}
	return (ssize_t)VFM_MIN(in->tail - in->head, n);
}

int qs_need(struct vfm_qs_reader *rd, size_t n, const char *what)
{
	ssize_t got = qs_fill(&rd->in, n);

	if (got < 0)
		return qs_fail(rd, (int)got, rd->in.pos, "reading %s: %s", what,
			       strerror((int)-got));
	if ((size_t)got < n)
		return qs_fail(rd, -EPIPE, rd->in.pos + (uint64_t)got, "stream ends, expected %s",
			       what);
	return 0;
}

int qs_read(struct vfm_qs_reader *rd, void *out, size_t n, const char *what)
{
	int rc = qs_need(rd, n, what);

	if (rc)
		return rc;
	memcpy(out, qs_peek(&rd->in), n);
	qs_take(&rd->in, n);
	return 0;
}

int qs_u8(struct vfm_qs_reader *rd, uint8_t *v, const char *what)
{
	return qs_read(rd, v, 1, what);
}

int qs_be16(struct vfm_qs_reader *rd, uint16_t *v, const char *what)
{
	uint8_t b[2];
	int rc = qs_read(rd, b, 2, what);

	*v = (uint16_t)(b[0] << 8 | b[1]);
	return rc;
}

int qs_be32(struct vfm_qs_reader *rd, uint32_t *v, const char *what)
{
	uint8_t b[4];
	int rc = qs_read(rd, b, 4, what);

	*v = rc ? 0 : vfm_get_be32(b);
	return rc;
}

int qs_be64(struct vfm_qs_reader *rd, uint64_t *v, const char *what)
{
	uint8_t b[8];
	int rc = qs_read(rd, b, 8, what);

	*v = rc ? 0 : vfm_get_be64(b);
	return rc;
}

int qs_cstr(struct vfm_qs_reader *rd, char *out, bool allow_empty, const char *what)
{
	uint64_t off = rd->in.pos;
	uint8_t len;
	int rc = qs_u8(rd, &len, what);

	if (rc)
		return rc;
	if (!len && !allow_empty)
		return qs_fail(rd, -EBADMSG, off, "expected %s of 1..255 bytes, got length 0",
			       what);
	rc = qs_read(rd, out, len, what);
	if (rc)
		return rc;
	out[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			return qs_fail(rd, -EBADMSG, off + 1 + i,
				       "%s holds the non-printable byte 0x%02x", what,
				       (unsigned char)out[i]);
	}
	return 0;
}

int qs_skip(struct vfm_qs_reader *rd, uint64_t n, const char *what)
{
	while (n) {
		size_t chunk = (size_t)VFM_MIN(n, (uint64_t)QS_BUF_SIZE);
		ssize_t got = qs_fill(&rd->in, chunk);

		if (got < 0)
			return qs_fail(rd, (int)got, rd->in.pos, "reading %s: %s", what,
				       strerror((int)-got));
		if (got == 0)
			return qs_fail(rd, -EPIPE, rd->in.pos, "stream ends, expected %s", what);
		qs_take(&rd->in, (size_t)got);
		n -= (uint64_t)got;
	}
	return 0;
}
