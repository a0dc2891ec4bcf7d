// SPDX-License-Identifier: BSD-3-Clause
/*
 * The device handle: thin wrappers over a transport's operations that trace every state
 * change and leave an error text naming the device, the request and the state.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "vfio-mig/fsm.h"
#include "vfio-mig/handle.h"

void vfm_handle_init(struct vfm_handle *h, const struct vfm_handle_ops *ops, const char *name,
		     const struct vfm_logger *log)
{
	h->ops = ops;
	snprintf(h->name, sizeof(h->name), "%s", name ? name : ops->kind);
	h->err[0] = '\0';
	if (log)
		h->log = *log;
	h->last_state = VFM_STATE_RUNNING;
}

const char *vfm_handle_name(const struct vfm_handle *h)
{
	return h->name;
}

const char *vfm_handle_error(const struct vfm_handle *h)
{
	return h->err[0] ? h->err : "no error";
}

int vfm_handle_fail(struct vfm_handle *h, int rc, const char *fmt, ...)
{
	char what[VFM_ERR_LEN - 140];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(h->err, sizeof(h->err), "%s: %s", h->name, what);
	vfm_log(&h->log, VFM_LOG_DEBUG, "%s", h->err);
	return rc;
}

const char *vfm_handle_explain(struct vfm_handle *h, int rc, char *buf, size_t len)
{
	char reason[200] = "";

	if (h->ops->last_reason)
		h->ops->last_reason(h, reason, sizeof(reason));
	if (reason[0])
		snprintf(buf, len, "%s (%s)", strerror(rc < 0 ? -rc : rc), reason);
	else
		snprintf(buf, len, "%s", strerror(rc < 0 ? -rc : rc));
	return buf;
}

/* The errno's text with the device's reason; valid until the next call on h. */
#define err_name(rc) vfm_handle_explain(h, (rc), h->why, sizeof(h->why))

int vfm_handle_get_flags(struct vfm_handle *h, uint64_t *flags)
{
	int rc = h->ops->get_flags(h, flags);

	if (rc == -ENOTTY)
		return vfm_handle_fail(h, rc, "the device does not support VFIO migration (v2)");
	if (rc)
		return vfm_handle_fail(h, rc, "GET MIGRATION failed: %s", err_name(rc));
	return 0;
}

int vfm_handle_get_state(struct vfm_handle *h, uint32_t *state)
{
	int rc = h->ops->get_state(h, state);

	if (rc)
		return vfm_handle_fail(h, rc, "GET MIG_DEVICE_STATE failed: %s", err_name(rc));
	h->last_state = *state;
	return 0;
}

int vfm_handle_set_state(struct vfm_handle *h, uint32_t state, struct vfm_session **opened)
{
	uint32_t before = h->last_state, now;
	struct vfm_session *s = NULL;
	double t0 = vfm_now();
	int rc;

	rc = h->ops->set_state(h, state, &s);
	if (opened)
		*opened = s;
	else if (s)
		h->ops->session_close(s);
	if (rc) {
		if (h->ops->get_state(h, &now) == 0)
			h->last_state = now;
		else
			now = VFM_STATE_NR;
		vfm_log(&h->log, VFM_LOG_TRACE, "%s: SET %s -> %s failed: %s", h->name,
			vfm_state_name(before), vfm_state_name(state), err_name(rc));
		return vfm_handle_fail(h, rc, "SET %s (from %s) failed: %s; device now %s",
				       vfm_state_name(state), vfm_state_name(before), err_name(rc),
				       now < VFM_STATE_NR ? vfm_state_name(now) : "unknown");
	}
	h->last_state = state;
	vfm_log(&h->log, VFM_LOG_TRACE, "%s: SET %s -> %s%s (%.0f us)", h->name,
		vfm_state_name(before), vfm_state_name(state), s ? ", new data session" : "",
		(vfm_now() - t0) * 1e6);
	return 0;
}

int vfm_handle_data_size(struct vfm_handle *h, uint64_t *len)
{
	int rc = h->ops->data_size ? h->ops->data_size(h, len) : -ENOTTY;

	if (rc)
		return vfm_handle_fail(h, rc, "GET MIG_DATA_SIZE failed: %s", err_name(rc));
	return 0;
}

int vfm_handle_reset(struct vfm_handle *h)
{
	int rc = h->ops->reset(h);

	vfm_log(&h->log, VFM_LOG_TRACE, "%s: RESET%s", h->name, rc ? " failed" : "");
	if (rc)
		return vfm_handle_fail(h, rc, "VFIO_DEVICE_RESET failed: %s", err_name(rc));
	h->last_state = VFM_STATE_RUNNING;
	return 0;
}

int vfm_handle_feature(struct vfm_handle *h, void *buf, size_t buf_len, struct vfm_session **opened)
{
	*opened = NULL;
	if (!h->ops->feature)
		return -EOPNOTSUPP;
	return h->ops->feature(h, buf, buf_len, opened);
}

ssize_t vfm_session_read(struct vfm_session *s, void *buf, size_t len)
{
	return s->h->ops->read(s, buf, len);
}

ssize_t vfm_session_write(struct vfm_session *s, const void *buf, size_t len)
{
	return s->h->ops->write(s, buf, len);
}

int vfm_session_write_all(struct vfm_session *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = s->h->ops->write(s, p, len);

		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t vfm_session_read_iov(struct vfm_session *s, struct iovec *iov, int *cnt, size_t len)
{
	if (!s->h->ops->read_iov) {
		*cnt = 0;
		return -EOPNOTSUPP;
	}
	return s->h->ops->read_iov(s, iov, cnt, len);
}

ssize_t vfm_session_write_at(struct vfm_session *s, void **at, size_t len)
{
	*at = NULL;
	if (!s->h->ops->write_at)
		return -EOPNOTSUPP;
	return s->h->ops->write_at(s, at, len);
}

int vfm_session_precopy_info(struct vfm_session *s, uint64_t *initial, uint64_t *dirty)
{
	uint32_t flags = 0;

	return vfm_session_precopy_info_flags(s, &flags, initial, dirty);
}

int vfm_session_precopy_info_flags(struct vfm_session *s, uint32_t *flags, uint64_t *initial,
				   uint64_t *dirty)
{
	if (!s->h->ops->precopy_info)
		return -ENOTTY;
	return s->h->ops->precopy_info(s, initial, dirty, flags);
}

int vfm_handle_precopy_v2(struct vfm_handle *h)
{
	struct vfm_device_feature f = {
		.argsz = sizeof(f),
		.flags = VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_MIG_PRECOPY_INFOv2,
	};
	struct vfm_session *opened = NULL;
	int rc;

	if (!h->ops->feature)
		return -ENOTTY;
	rc = h->ops->feature(h, &f, sizeof(f), &opened);
	vfm_session_close(opened);
	return rc;
}

void vfm_session_close(struct vfm_session *s)
{
	if (s)
		s->h->ops->session_close(s);
}

int vfm_handle_log_start(struct vfm_handle *h,
			 const struct vfm_device_feature_dma_logging_range *ranges, uint32_t n,
			 uint64_t *page_size)
{
	int rc = h->ops->log_start ? h->ops->log_start(h, ranges, n, page_size) : -ENOTTY;

	if (rc)
		return vfm_handle_fail(h, rc, "DMA_LOGGING_START failed: %s", err_name(rc));
	return 0;
}

int vfm_handle_log_stop(struct vfm_handle *h)
{
	int rc = h->ops->log_stop ? h->ops->log_stop(h) : -ENOTTY;

	if (rc)
		return vfm_handle_fail(h, rc, "DMA_LOGGING_STOP failed: %s", err_name(rc));
	return 0;
}

int vfm_handle_log_report(struct vfm_handle *h, uint64_t iova, uint64_t length, uint64_t page_size,
			  uint64_t *bitmap)
{
	int rc = h->ops->log_report ? h->ops->log_report(h, iova, length, page_size, bitmap)
				    : -ENOTTY;

	if (rc)
		return vfm_handle_fail(h, rc, "DMA_LOGGING_REPORT failed: %s", err_name(rc));
	return 0;
}

int vfm_handle_checksum(struct vfm_handle *h, uint64_t *sum)
{
	if (!h->ops->checksum)
		return -ENOTSUP;
	return h->ops->checksum(h, sum);
}

int vfm_handle_dma_memory(struct vfm_handle *h, void **ptr, uint64_t *iova, uint64_t *size)
{
	if (!h->ops->dma_memory)
		return -ENOENT;
	return h->ops->dma_memory(h, ptr, iova, size);
}

void vfm_handle_close(struct vfm_handle *h)
{
	if (h)
		h->ops->close(h);
}
