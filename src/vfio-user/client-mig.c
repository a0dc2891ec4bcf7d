// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user client, the handle operations: migration features, data sessions over
 * MIG_DATA_READ/WRITE (read straight into the caller's buffer, written from it), the
 * vfio-mig extension, DMA logging, and the sample device's checksum.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "client.h"
#include "util.h"
#include "vfio-mig/fsm.h"

#define F_GET	VFM_DEVICE_FEATURE_GET
#define F_SET	VFM_DEVICE_FEATURE_SET
#define F_PROBE VFM_DEVICE_FEATURE_PROBE
#define FHDR	sizeof(struct vfm_vu_feature)

static int get_u64(struct vu_client *c, uint32_t index, uint64_t *v)
{
	return vu_feature(c, F_GET | index, FHDR + 8, NULL, 0, v, 8, 8, NULL);
}

void vu_client_probe_ext(struct vu_client *c)
{
	uint8_t sink[16];

	/* MIG_DATA_SIZE is the kernel's own index: probe it whatever the server said. */
	c->info.mig_data_size = vu_feature(c, F_PROBE | F_GET | VFM_DEVICE_FEATURE_MIG_DATA_SIZE,
					   FHDR, NULL, 0, sink, 0, sizeof(sink), NULL) == 0;
	/* The vendor index means something else elsewhere: only when negotiated. */
	c->info.precopy_info = c->info.server_caps.ext_precopy_info &&
			       vu_feature(c, F_PROBE | F_GET | VFM_VU_FEATURE_PRECOPY_INFO, FHDR,
					  NULL, 0, sink, 0, sizeof(sink), NULL) == 0;
	c->info.precopy_flags = c->info.precopy_info && c->info.server_caps.ext_precopy_flags;
	c->h.err[0] = '\0';
}

static int vu_get_flags(struct vfm_handle *h, uint64_t *flags)
{
	return get_u64(vu_client_of(h), VFM_DEVICE_FEATURE_MIGRATION, flags);
}

static int vu_get_state(struct vfm_handle *h, uint32_t *state)
{
	struct vfm_device_feature_mig_state ms;
	int rc = vu_feature(vu_client_of(h), F_GET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE,
			    FHDR + sizeof(ms), NULL, 0, &ms, sizeof(ms), sizeof(ms), NULL);

	if (!rc)
		*state = ms.device_state;
	return rc;
}

/* ---- sessions ---- */

enum group {
	G_NONE,
	G_SAVE,
	G_RESUME
};

static enum group group_of(uint32_t state)
{
	if (vfm_state_is_saving(state))
		return G_SAVE;
	return state == VFM_STATE_RESUMING ? G_RESUME : G_NONE;
}

static void end_session(struct vu_client *c)
{
	if (c->cur) {
		c->cur->live = false;
		c->cur->c = NULL;
	}
	c->cur = NULL;
}

static int new_session(struct vu_client *c, uint32_t state, struct vfm_session **opened)
{
	struct vu_session *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->base.h = &c->h;
	s->base.saving = group_of(state) == G_SAVE;
	s->precopy = state == VFM_STATE_PRE_COPY || state == VFM_STATE_PRE_COPY_P2P;
	s->c = c;
	s->live = true;
	c->cur = s;
	*opened = &s->base;
	return 0;
}

/* After a SET (good or bad), the old session survives only inside its group. */
static void settle_session(struct vu_client *c, uint32_t before)
{
	uint32_t now;

	if (vu_get_state(&c->h, &now) || group_of(now) != group_of(before) ||
	    group_of(now) == G_NONE)
		end_session(c);
}

static int vu_set_state(struct vfm_handle *h, uint32_t state, struct vfm_session **opened)
{
	struct vu_client *c = vu_client_of(h);
	struct vfm_device_feature_mig_state ms = {.device_state = state, .data_fd = -1};
	uint32_t before;
	int rc;

	*opened = NULL;
	rc = vu_get_state(h, &before);
	if (rc)
		return rc;
	rc = vu_feature(c, F_SET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE, FHDR + sizeof(ms), &ms,
			sizeof(ms), &ms, 0, sizeof(ms), NULL);
	if (rc) {
		settle_session(c, before);
		return rc;
	}
	if (group_of(state) == group_of(before) && group_of(state) != G_NONE) {
		/* PRE_COPY -> STOP_COPY keeps the session */
		if (c->cur)
			c->cur->precopy =
				state == VFM_STATE_PRE_COPY || state == VFM_STATE_PRE_COPY_P2P;
		return 0;
	}
	end_session(c);
	if (group_of(state) == G_NONE)
		return 0;
	return new_session(c, state, opened);
}

static bool estimating(const struct vu_client *c)
{
	return !c->info.precopy_info && !c->info.mig_data_size;
}

/* Once per handle: how the numbers are made when the server cannot tell them. */
static void estimate_notice(struct vu_client *c)
{
	if (c->estimate_warned)
		return;
	c->estimate_warned = true;
	vfm_log(&c->h.log, VFM_LOG_WARN,
		"%s: the server tells neither pre-copy info nor MIG_DATA_SIZE: pre-copy "
		"takes the first read with no data as the end of the initial data, and the "
		"stop-copy size as the data read between the last two such reads (what the "
		"device sends only once stopped is not foreseen)",
		c->h.name);
}

static int vu_data_size(struct vfm_handle *h, uint64_t *len)
{
	struct vu_client *c = vu_client_of(h);

	if (!c->info.mig_data_size && estimating(c) && c->cur && c->cur->precopy &&
	    c->cur->initial_done) {
		estimate_notice(c);
		*len = VFM_MAX(c->cur->last_round, c->cur->since_end);
		return 0;
	}
	if (!c->info.mig_data_size)
		return vfm_handle_fail(h, -ENOTSUP, "the server offers no MIG_DATA_SIZE");
	return get_u64(c, VFM_DEVICE_FEATURE_MIG_DATA_SIZE, len);
}

int vfm_vu_device_reset(struct vfm_handle *h)
{
	struct vu_client *c = vu_client_of(h);
	char sink[16];
	int rc;

	if (!h || h->ops != &vu_handle_ops)
		return -EINVAL;
	rc = vu_call(c, VFM_VU_DEVICE_RESET, NULL, 0, sink, 0, sizeof(sink), NULL);
	end_session(c);
	return rc;
}

/*
 * A reset ends in RUNNING (the spec's MIG_DEVICE_STATE text, the kernel's uAPI). A server
 * that keeps its migration state across DEVICE_RESET (libvfio-user since its #844: a
 * destination stays RESUMING, a source PRE_COPY) is taken on from there to RUNNING,
 * after the device's own reset has run.
 */
static int vu_reset(struct vfm_handle *h)
{
	struct vfm_session *none;
	uint32_t state;
	int rc = vfm_vu_device_reset(h);

	if (rc || vu_get_state(h, &state) || state == VFM_STATE_RUNNING)
		return rc;
	vfm_log(&h->log, VFM_LOG_WARN,
		"%s: the server kept %s across DEVICE_RESET; the client finishes the reset "
		"by a SET to RUNNING",
		h->name, vfm_state_name(state));
	rc = vu_set_state(h, VFM_STATE_RUNNING, &none);
	if (rc)
		return vfm_handle_fail(h, rc,
				       "the reset left the device %s (%s on the way to "
				       "RUNNING)",
				       vfm_state_name(state), strerror(-rc));
	return 0;
}

/* A usable session of the right direction. */
static int session_check(struct vu_session *s, bool saving)
{
	if (!s->live || !s->c)
		return -ENODEV;
	if (s->base.saving != saving)
		return -EBADF;
	return 0;
}

/*
 * Pre-copy seen from the reads, for a server that tells neither its pre-copy info nor its
 * data size: a read with no data is a temporary end; the initial data is done at the
 * first one; the data between the last two is what the device produced per round.
 */
static void count_read(struct vu_session *s, uint32_t n)
{
	if (!s->precopy)
		return;
	if (n) {
		s->since_end += n;
		return;
	}
	s->last_round = s->initial_done ? s->since_end : 0;
	s->initial_done = true;
	s->since_end = 0;
}

static ssize_t vu_read(struct vfm_session *base, void *buf, size_t len)
{
	struct vu_session *s = (struct vu_session *)base;
	struct vu_client *c = s->c;
	struct vfm_vu_mig_data md;
	struct iovec iov = {&md, sizeof(md)};
	struct vfm_vu_hdr h;
	int rc = session_check(s, true);

	if (rc)
		return rc;
	if (len == 0)
		return 0;
	md.size = (uint32_t)VFM_MIN(len, (size_t)c->info.max_read);
	md.argsz = (uint32_t)sizeof(md) + md.size;
	rc = vu_call_begin(c, VFM_VU_MIG_DATA_READ, &iov, 1, sizeof(md), sizeof(md) + md.size, &h);
	if (rc == -ENOMSG)
		count_read(s, 0);
	if (rc)
		return rc;
	len = md.size;
	rc = vu_recv(&c->sock, &md, sizeof(md), NULL);
	if (rc)
		return vu_client_lost(c, rc, "the reply to MIG_DATA_READ");
	/* libvfio-user sizes the reply to the bytes asked, also when it returns fewer:
	 * the padding after the data is read and dropped. */
	if (md.size > len || h.msg_size < sizeof(h) + sizeof(md) + md.size)
		return vu_client_break(
			c, vfm_handle_fail(&c->h, -EPROTO,
					   "MIG_DATA_READ reply: size %u for %zu asked, message %u",
					   md.size, len, h.msg_size));
	rc = vu_recv(&c->sock, buf, md.size, NULL);
	if (!rc)
		rc = vu_discard(&c->sock, h.msg_size - sizeof(h) - sizeof(md) - md.size);
	if (rc)
		return vu_client_lost(c, rc, "the reply to MIG_DATA_READ");
	count_read(s, md.size);
	return md.size;
}

static ssize_t vu_write(struct vfm_session *base, const void *buf, size_t len)
{
	struct vu_session *s = (struct vu_session *)base;
	const uint8_t *p = buf;
	size_t done = 0;
	int rc = session_check(s, false);

	if (rc)
		return rc;
	while (done < len) {
		struct vfm_vu_mig_data md;
		struct iovec iov[2];
		uint8_t sink[16];

		md.size = (uint32_t)VFM_MIN(len - done, (size_t)s->c->info.max_write);
		/* The reply has no payload, so the spec's argsz could be 8; libvfio-user
		 * insists on 8 + size, which satisfies both readings. */
		md.argsz = (uint32_t)sizeof(md) + md.size;
		iov[0] = (struct iovec){&md, sizeof(md)};
		iov[1] = (struct iovec){(void *)(p + done), md.size};
		rc = vu_call(s->c, VFM_VU_MIG_DATA_WRITE, iov, 2, sink, 0, sizeof(sink), NULL);
		if (rc)
			return done ? (ssize_t)done : rc;
		done += md.size;
	}
	return (ssize_t)done;
}

static int vu_precopy_info(struct vfm_session *base, uint64_t *initial, uint64_t *dirty,
			   uint32_t *flags)
{
	struct vu_session *s = (struct vu_session *)base;
	struct vfm_vu_precopy_info_flags pi = {.flags = *flags};
	/* Without the flags in the extension: the short layout, and flags 0 (our server's
	 * devices say 0 to a client that cannot read them). */
	size_t len = s->c->info.precopy_flags ? sizeof(pi) : sizeof(struct vfm_vu_precopy_info);
	int rc = session_check(s, true);

	if (rc)
		return rc;
	if (!s->c->info.precopy_info && estimating(s->c) && s->precopy) {
		estimate_notice(s->c);
		/* Before the first temporary end: at least one more read's worth. */
		*initial = s->initial_done ? 0 : s->c->info.max_read;
		*dirty = s->since_end;
		*flags = 0;
		return 0;
	}
	if (!s->c->info.precopy_info)
		return vfm_handle_fail(&s->c->h, -ENOTSUP, "the server offers no pre-copy info");
	rc = vu_feature(s->c, F_GET | VFM_VU_FEATURE_PRECOPY_INFO, (uint32_t)(FHDR + len),
			s->c->info.precopy_flags ? &pi : NULL, s->c->info.precopy_flags ? len : 0,
			&pi, len, len, NULL);
	if (!rc) {
		*initial = pi.initial_bytes;
		*dirty = pi.dirty_bytes;
		*flags = s->c->info.precopy_flags ? pi.flags : 0;
	}
	return rc;
}

static void vu_session_close(struct vfm_session *base)
{
	struct vu_session *s = (struct vu_session *)base;

	struct vu_client *c = s->c;

	if (c && c->cur == s) {
		c->cur = NULL;
		if (c->closing)
			free(c);
	}
	free(s);
}

/* ---- DMA logging ---- */

static int vu_log_start(struct vfm_handle *h,
			const struct vfm_device_feature_dma_logging_range *ranges, uint32_t n,
			uint64_t *page_size)
{
	struct vfm_vu_dma_logging_control ctl = {.page_size = *page_size, .num_ranges = n};
	const size_t rlen = (size_t)n * sizeof(*ranges);
	const size_t need = sizeof(ctl) + rlen;
	uint8_t *p;
	int rc;

	if (n > VFM_DMA_LOGGING_MAX_RANGES)
		return -E2BIG;
	p = malloc(need);
	if (!p)
		return -ENOMEM;
	memcpy(p, &ctl, sizeof(ctl));
	if (rlen)
		memcpy(p + sizeof(ctl), ranges, rlen);
	rc = vu_feature(vu_client_of(h), F_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_START,
			(uint32_t)(FHDR + need), p, need, p, sizeof(ctl), need, NULL);
	if (!rc) {
		memcpy(&ctl, p, sizeof(ctl));
		*page_size = ctl.page_size;
	}
	free(p);
	return rc;
}

/* The raw DMA_LOGGING_START in the device API's layout (24-byte control, inline ranges). */
static int raw_log_start(struct vfm_handle *h, void *buf, size_t buf_len)
{
	struct vfm_device_feature_dma_logging_control dc;
	const size_t hdr = sizeof(struct vfm_device_feature);
	int rc;

	if (buf_len < hdr + sizeof(dc))
		return -EINVAL;
	memcpy(&dc, (uint8_t *)buf + hdr, sizeof(dc));
	if (dc.num_ranges > VFM_DMA_LOGGING_MAX_RANGES)
		return -E2BIG;
	if (buf_len < hdr + sizeof(dc) + (size_t)dc.num_ranges * 16)
		return -EINVAL;
	rc = vu_log_start(h, (const void *)((uint8_t *)buf + hdr + sizeof(dc)), dc.num_ranges,
			  &dc.page_size);
	if (!rc)
		memcpy((uint8_t *)buf + hdr, &dc, sizeof(dc));
	return rc;
}

/* ---- raw feature ---- */

static int vu_raw_feature(struct vfm_handle *h, void *buf, size_t buf_len,
			  struct vfm_session **opened)
{
	struct vu_client *c = vu_client_of(h);
	struct vfm_device_feature f;
	uint32_t before = VFM_STATE_NR, index;
	size_t send_len, reply_len = 0;
	bool set_state;
	int rc;

	*opened = NULL;
	if (buf_len < sizeof(f) || buf_len > c->info.max_write)
		return -EINVAL;
	memcpy(&f, buf, sizeof(f));
	index = f.flags & VFM_DEVICE_FEATURE_MASK;
	set_state = index == VFM_DEVICE_FEATURE_MIG_DEVICE_STATE && (f.flags & F_SET) &&
		    !(f.flags & (F_PROBE | F_GET));
	if (index == VFM_DEVICE_FEATURE_DMA_LOGGING_START && f.flags == (F_SET | index))
		return raw_log_start(h, buf, buf_len);
	if (set_state && vu_get_state(h, &before))
		return -EIO;
	send_len = VFM_MIN(buf_len, (size_t)VFM_MAX(f.argsz, (uint32_t)sizeof(f)));
	rc = vu_feature(c, f.flags, f.argsz, (uint8_t *)buf + sizeof(f), send_len - sizeof(f),
			(uint8_t *)buf + sizeof(f), 0, buf_len - sizeof(f), &reply_len);
	if (!set_state)
		return rc;
	if (rc) {
		settle_session(c, before);
		return rc;
	}
	if (buf_len >= sizeof(f) + sizeof(struct vfm_device_feature_mig_state)) {
		struct vfm_device_feature_mig_state ms;

		memcpy(&ms, (uint8_t *)buf + sizeof(f), sizeof(ms));
		ms.data_fd = -1;
		memcpy((uint8_t *)buf + sizeof(f), &ms, sizeof(ms));
		if (group_of(ms.device_state) != group_of(before) || group_of(before) == G_NONE) {
			end_session(c);
			if (group_of(ms.device_state) != G_NONE)
				return new_session(c, ms.device_state, opened);
		}
	}
	return 0;
}

static int vu_log_stop(struct vfm_handle *h)
{
	uint8_t sink[16];

	return vu_feature(vu_client_of(h), F_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_STOP, FHDR, NULL,
			  0, sink, 0, sizeof(sink), NULL);
}

/* One report of at most the server's reply limit; bitmap words for [iova, iova+len). */
static int report_chunk(struct vu_client *c, uint64_t iova, uint64_t len, uint64_t page_size,
			uint64_t *bitmap, size_t words)
{
	struct vfm_vu_dma_logging_report req = {iova, len, page_size};
	size_t reply_len;
	uint8_t *out = malloc(sizeof(req) + words * 8);
	int rc;

	if (!out)
		return -ENOMEM;
	rc = vu_feature(c, F_GET | VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT,
			(uint32_t)(FHDR + sizeof(req) + words * 8), &req, sizeof(req), out,
			sizeof(req) + words * 8, sizeof(req) + words * 8, &reply_len);
	if (!rc)
		memcpy(bitmap, out + sizeof(req), words * 8);
	free(out);
	return rc;
}

static int vu_log_report(struct vfm_handle *h, uint64_t iova, uint64_t length, uint64_t page_size,
			 uint64_t *bitmap)
{
	struct vu_client *c = vu_client_of(h);
	uint64_t max_words = (c->info.max_read - FHDR - 64) / 8;
	uint64_t pages, done = 0;

	if (!page_size || (page_size & (page_size - 1)) || iova + length < iova)
		return -EINVAL;
	pages = length / page_size + (length % page_size ? 1 : 0);
	while (done < pages) {
		uint64_t n = VFM_MIN(pages - done, max_words * 64);
		uint64_t off = done * page_size;
		uint64_t len = VFM_MIN(n * page_size, length - off);
		int rc = report_chunk(c, iova + off, len, page_size, bitmap + done / 64,
				      (size_t)((n + 63) / 64));

		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

static int vu_checksum(struct vfm_handle *h, uint64_t *sum)
{
	struct vu_client *c = vu_client_of(h);

	if (!c->info.testdev)
		return vfm_handle_fail(h, -ENOTSUP, "not the sample device: no checksum register");
	return vfm_vu_region_read(h, VFM_VU_PCI_BAR0, VFM_VU_REG_CHECKSUM, sum, sizeof(*sum));
}

static int vu_dma_memory(struct vfm_handle *h, void **ptr, uint64_t *iova, uint64_t *size)
{
	struct vu_client *c = vu_client_of(h);

	if (!c->dma_mem)
		return -ENOENT;
	*ptr = c->dma_mem;
	*iova = 0;
	*size = c->dma_size;
	return 0;
}

static void vu_close(struct vfm_handle *h)
{
	struct vu_client *c = vu_client_of(h);

	/* Closing the connection unmaps the memory on the server's side first. */
	close(c->sock.fd);
	if (c->dma_mem)
		munmap(c->dma_mem, (size_t)c->dma_size);
	c->dma_mem = NULL;
	c->broken = true;
	if (c->cur) {
		/* The session still points at us: its close frees the client. */
		c->cur->live = false;
		c->closing = true;
		return;
	}
	free(c);
}

const struct vfm_handle_ops vu_handle_ops = {
	.kind = "vfio-user",
	.get_flags = vu_get_flags,
	.set_state = vu_set_state,
	.get_state = vu_get_state,
	.data_size = vu_data_size,
	.reset = vu_reset,
	.feature = vu_raw_feature,
	.read = vu_read,
	.write = vu_write,
	.precopy_info = vu_precopy_info,
	.session_close = vu_session_close,
	.log_start = vu_log_start,
	.log_stop = vu_log_stop,
	.log_report = vu_log_report,
	.checksum = vu_checksum,
	.dma_memory = vu_dma_memory,
	.close = vu_close,
};
