// SPDX-License-Identifier: BSD-3-Clause
/*
 * What the checks share: reaching a state one arc at a time, getting back to RUNNING,
 * keeping track of sessions, probing them, reading a stream with a bound, writing one in
 * segments, and the device's own stream as material for loading.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "util.h"

#define READ_PIECE    (1u << 20)
#define EINTR_RETRIES 100

void ck_copy(char *dst, size_t len, const char *src)
{
	size_t n;

	if (!len)
		return;
	n = strnlen(src, len - 1);
	memmove(dst, src, n);
	dst[n] = '\0';
}

const char *ck_err(struct ck *c, struct vfm_handle *h, int rc)
{
	char *buf = c->errs[c->next_err++ % VFM_ARRAY_SIZE(c->errs)];

	return vfm_handle_explain(h, rc, buf, sizeof(c->errs[0]));
}

int ck_get(struct ck *c, struct vfm_handle *h, uint32_t *state)
{
	int rc = vfm_handle_get_state(h, state);

	if (rc)
		snprintf(c->why, sizeof(c->why), "GET MIG_DEVICE_STATE failed: %s",
			 ck_err(c, h, rc));
	return rc;
}

void ck_keep(struct ck *c, struct vfm_session *s)
{
	if (!s)
		return;
	if (c->nbag == CK_BAG) {
		vfm_session_close(c->bag[0]);
		memmove(c->bag, c->bag + 1, (CK_BAG - 1) * sizeof(c->bag[0]));
		c->nbag--;
	}
	c->bag[c->nbag++] = s;
}

void ck_close_all(struct ck *c)
{
	while (c->nbag)
		vfm_session_close(c->bag[--c->nbag]);
}

int ck_set(struct ck *c, struct vfm_handle *h, uint32_t state, struct vfm_session **opened)
{
	struct vfm_session *s = NULL;
	int rc = vfm_handle_set_state(h, state, &s);

	ck_keep(c, s);
	if (opened)
		*opened = s;
	if (rc)
		snprintf(c->why, sizeof(c->why), "%s", vfm_handle_error(h));
	return rc;
}

int ck_path(uint64_t flags, uint32_t from, uint32_t to, struct ck_path *p)
{
	int rc = vfm_fsm_path(flags, from, to, p->s, &p->len);

	p->opens = false;
	p->ends = false;
	if (rc)
		return rc;
	for (size_t i = 1; i < p->len; i++)
		p->ends |= vfm_arc_ends_session(p->s[i - 1], p->s[i]);
	p->opens = p->len > 1 && vfm_arc_opens_session(p->s[p->len - 2], p->s[p->len - 1]);
	return 0;
}

const char *ck_path_text(const struct ck_path *p, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < p->len && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? ">" : "",
				 vfm_state_name(p->s[i]));

		if (n < 0)
			break;
		used += (size_t)n;
	}
	return buf;
}

int ck_walk(struct ck *c, struct vfm_handle *h, uint64_t flags, uint32_t target,
	    struct vfm_session **opened)
{
	struct ck_path p;
	uint32_t cur, now;
	int rc;

	if (opened)
		*opened = NULL;
	rc = ck_get(c, h, &cur);
	if (rc)
		return rc;
	if (ck_path(flags, cur, target, &p))
		return vfm_errf(c->why, sizeof(c->why), -EINVAL, "no path from %s to %s",
				vfm_state_name(cur), vfm_state_name(target));
	for (size_t i = 1; i < p.len; i++) {
		struct vfm_session *s = NULL;

		rc = ck_set(c, h, p.s[i], &s);
		if (rc)
			return rc;
		if (opened && s)
			*opened = s;
		rc = ck_get(c, h, &now);
		if (rc)
			return rc;
		if (now != p.s[i])
			return vfm_errf(c->why, sizeof(c->why), -EIO,
					"SET %s from %s (one arc) left the device in %s",
					vfm_state_name(p.s[i]), vfm_state_name(p.s[i - 1]),
					vfm_state_name(now));
	}
	return 0;
}

/* Walks to RUNNING unless the state needs a reset (RESUMING, ERROR, unknown). */
static int recover_by_arcs(struct ck *c, struct vfm_handle *h, uint64_t flags)
{
	uint32_t st;

	if (ck_get(c, h, &st))
		return -EIO;
	if (st == VFM_STATE_RUNNING)
		return 0;
	if (st == VFM_STATE_RESUMING || !vfm_state_supported(flags, st))
		return -EAGAIN;
	return ck_walk(c, h, flags, VFM_STATE_RUNNING, NULL) ? -EAGAIN : 0;
}

int ck_recover(struct ck *c, struct vfm_handle *h, uint64_t flags)
{
	char first[CK_TEXT / 2] = "";
	int rc;

	ck_close_all(c);
	if (recover_by_arcs(c, h, flags) == 0)
		return 0;
	ck_copy(first, sizeof(first), c->why);
	/* uAPI doc 2.3: resetting is the way out of RESUMING and of ERROR. */
	rc = vfm_handle_reset(h);
	if (rc)
		return vfm_errf(c->why, sizeof(c->why), -EIO,
				"cannot bring the device back to RUNNING: %s; reset failed: %s",
				first, ck_err(c, h, rc));
	if (recover_by_arcs(c, h, flags) == 0)
		return 0;
	/* c->why is the text to quote: copied first, never formatted into itself. */
	ck_copy(first, sizeof(first), c->why);
	return vfm_errf(c->why, sizeof(c->why), -EIO,
			"cannot bring the device back to RUNNING, even after a reset: %s", first);
}

enum ck_probe ck_probe(struct ck *c, struct vfm_session *s, int *err)
{
	ssize_t n;

	*err = 0;
	for (int i = 0; i < EINTR_RETRIES; i++) {
		if (s->saving) {
			n = vfm_session_read(s, c->scratch, sizeof(c->scratch));
		} else {
			uint8_t byte = c->ref_ok && c->ref.len ? c->ref.p[0] : 0;

			n = vfm_session_write(s, &byte, 1);
		}
		if (n != -EINTR && n != -EAGAIN)
			break;
	}
	if (n > 0 || n == -ENOMSG)
		return CK_ALIVE;
	if (n == 0)
		return CK_EOF;
	*err = (int)n;
	return CK_DEAD;
}

int ck_buf_append(struct ck_buf *b, const void *p, size_t len)
{
	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *np;

		while (cap - b->len < len) {
			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		/* Not past what the reader may still append. */
		if (b->max && cap > b->max)
			cap = VFM_MAX(b->max, b->len + len);
		np = realloc(b->p, cap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

void ck_buf_free(struct ck_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static ssize_t read_once(struct vfm_session *s, void *buf, size_t len)
{
	ssize_t n = -EINTR;

	for (int i = 0; i < EINTR_RETRIES && (n == -EINTR || n == -EAGAIN); i++)
		n = vfm_session_read(s, buf, len);
	return n;
}

void ck_read_stream(struct ck *c, struct vfm_session *s, struct ck_buf *out, uint64_t limit,
		    size_t piece, struct ck_read *r)
{
	uint8_t *buf;

	memset(r, 0, sizeof(*r));
	r->end = CK_END_CAPPED;
	piece = piece ? VFM_MIN(piece, (size_t)READ_PIECE) : READ_PIECE;
	buf = piece <= sizeof(c->scratch) ? c->scratch : malloc(piece);
	if (!buf) {
		r->end = CK_END_ERROR;
		r->err = -ENOMEM;
		return;
	}
	if (out)
		out->max = limit > SIZE_MAX - out->len ? 0 : out->len + (size_t)limit;
	while (r->bytes < limit) {
		size_t want = (size_t)VFM_MIN((uint64_t)piece, limit - r->bytes);
		ssize_t n = read_once(s, buf, want);

		r->calls++;
		if (n == 0 || n == -ENOMSG) {
			r->end = n ? CK_END_ENOMSG : CK_END_ZERO;
			break;
		}
		if (n < 0 || (size_t)n > want) {
			r->end = CK_END_ERROR;
			r->err = n < 0 ? (int)n : -EPROTO;
			break;
		}
		if (out && ck_buf_append(out, buf, (size_t)n)) {
			r->end = CK_END_ERROR;
			r->err = -ENOMEM;
			break;
		}
		r->bytes += (uint64_t)n;
	}
	if (buf != c->scratch)
		free(buf);
}

int ck_write(struct vfm_session *s, const uint8_t *p, size_t len, const size_t *segs, size_t nsegs,
	     struct ck_written *w)
{
	struct ck_written local;
	int rc = 0;

	if (!w)
		w = &local;
	memset(w, 0, sizeof(*w));
	while (w->bytes < len) {
		size_t seg = nsegs ? segs[w->writes % nsegs] : len;
		size_t want = VFM_MIN(seg ? seg : 1, len - w->bytes);
		ssize_t n = -EINTR;

		for (int i = 0; i < EINTR_RETRIES && (n == -EINTR || n == -EAGAIN); i++)
			n = vfm_session_write(s, p + w->bytes, want);
		w->writes++;
		if (n <= 0) {
			rc = n ? (int)n : -EIO;
			w->failed_len = want;
			break;
		}
		w->bytes += VFM_MIN((size_t)n, want);
	}
	return rc;
}

void ck_load(struct ck *c, struct vfm_handle *h, uint64_t flags, const uint8_t *p, size_t len,
	     const size_t *segs, size_t nsegs, struct ck_load *out)
{
	struct vfm_session *s = NULL;

	memset(out, 0, sizeof(*out));
	if (ck_recover(c, h, flags) || ck_walk(c, h, flags, VFM_STATE_RESUMING, &s))
		return;
	if (!s) {
		snprintf(c->why, sizeof(c->why), "STOP -> RESUMING returned no data fd");
		return;
	}
	out->reached = true;
	out->write_rc = ck_write(s, p, len, segs, nsegs, &out->w);
	if (out->write_rc)
		ck_copy(out->write_err, sizeof(out->write_err), ck_err(c, h, out->write_rc));
	out->stop_rc = ck_set(c, h, VFM_STATE_STOP, NULL);
	if (out->stop_rc)
		ck_copy(out->stop_err, sizeof(out->stop_err), ck_err(c, h, out->stop_rc));
}

/* Captures the STOP_COPY stream (device frozen) and, where readable, the checksum. */
static void capture_reference(struct ck *c)
{
	struct vfm_session *s;
	struct ck_read r;

	if (ck_recover(c, c->dev, c->flags) ||
	    ck_walk(c, c->dev, c->flags, VFM_STATE_STOP_COPY, &s)) {
		snprintf(c->ref_why, sizeof(c->ref_why), "cannot reach STOP_COPY: %.150s", c->why);
		return;
	}
	if (!s) {
		snprintf(c->ref_why, sizeof(c->ref_why), "STOP -> STOP_COPY returned no data fd");
		return;
	}
	ck_read_stream(c, s, &c->ref, c->cap, 0, &r);
	if (r.end == CK_END_CAPPED || r.end == CK_END_ERROR) {
		snprintf(c->ref_why, sizeof(c->ref_why), "the STOP_COPY stream %s",
			 r.end == CK_END_CAPPED ? "does not end" : "cannot be read");
		ck_buf_free(&c->ref);
		return;
	}
	c->ref_has_sum = vfm_handle_checksum(c->dev, &c->ref_sum) == 0;
	c->ref_ok = true;
}

bool ck_reference(struct ck *c)
{
	if (!c->ref_tried) {
		c->ref_tried = true;
		capture_reference(c);
		ck_close_all(c);
		if (ck_recover(c, c->dev, c->flags)) {
			c->broken = true;
			c->ref_ok = false;
			ck_copy(c->ref_why, sizeof(c->ref_why), c->why);
		}
	}
	return c->ref_ok;
}
