// SPDX-License-Identifier: BSD-3-Clause
/*
 * The in-process transport: a handle straight onto a device of the device library.
 * "local:testdev,size=64M,seed=1" creates a sample device owned by the handle.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "memory.h"
#include "util.h"
#include "vfio-mig/device.h"
#include "vfio-mig/handle.h"
#include "vfio-mig/testdev.h"

struct local_handle {
	struct vfm_handle h;
	struct vfm_device *dev;
	struct vfm_testdev *td; /* owned, when the handle made it */
	uint8_t *dma_mem;	/* client memory mapped for the device's DMA (dma=SIZE) */
	uint64_t dma_size;
};

struct local_session {
	struct vfm_session s;
	vfm_session_id sid;
};

static struct local_handle *to_local(struct vfm_handle *h)
{
	return (struct local_handle *)h;
}

static int session_new(struct local_handle *lh, vfm_session_id sid, struct vfm_session **out)
{
	struct local_session *ls;

	*out = NULL;
	if (!sid)
		return 0;
	ls = calloc(1, sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	ls->s.h = &lh->h;
	ls->s.saving = vfm_device_get_state(lh->dev) != VFM_STATE_RESUMING;
	ls->sid = sid;
	*out = &ls->s;
	return 0;
}

static int l_get_flags(struct vfm_handle *h, uint64_t *flags)
{
	*flags = vfm_device_flags(to_local(h)->dev);
	return 0;
}

static int l_set_state(struct vfm_handle *h, uint32_t state, struct vfm_session **opened)
{
	struct local_handle *lh = to_local(h);
	vfm_session_id sid = 0;
	int rc = vfm_device_set_state(lh->dev, state, &sid);

	*opened = NULL;
	if (rc)
		return rc;
	return session_new(lh, sid, opened);
}

static int l_get_state(struct vfm_handle *h, uint32_t *state)
{
	*state = vfm_device_get_state(to_local(h)->dev);
	return 0;
}

static int l_data_size(struct vfm_handle *h, uint64_t *len)
{
	return vfm_device_data_size(to_local(h)->dev, len);
}

static int l_reset(struct vfm_handle *h)
{
	return vfm_device_reset(to_local(h)->dev);
}

static int l_feature(struct vfm_handle *h, void *buf, size_t buf_len, struct vfm_session **opened)
{
	struct local_handle *lh = to_local(h);
	vfm_session_id sid = 0;
	int rc = vfm_device_feature(lh->dev, buf, buf_len, NULL, &sid);

	*opened = NULL;
	if (rc)
		return rc;
	return session_new(lh, sid, opened);
}

static ssize_t l_read(struct vfm_session *s, void *buf, size_t len)
{
	struct local_session *ls = (struct local_session *)s;

	return vfm_device_read(to_local(s->h)->dev, ls->sid, buf, len);
}

static ssize_t l_write(struct vfm_session *s, const void *buf, size_t len)
{
	struct local_session *ls = (struct local_session *)s;

	return vfm_device_write(to_local(s->h)->dev, ls->sid, buf, len);
}

static ssize_t l_read_iov(struct vfm_session *s, struct iovec *iov, int *cnt, size_t len)
{
	struct local_session *ls = (struct local_session *)s;

	return vfm_device_read_iov(to_local(s->h)->dev, ls->sid, iov, cnt, len);
}

static ssize_t l_write_at(struct vfm_session *s, void **at, size_t len)
{
	struct local_session *ls = (struct local_session *)s;

	return vfm_device_write_at(to_local(s->h)->dev, ls->sid, at, len);
}

static int l_precopy_info(struct vfm_session *s, uint64_t *initial, uint64_t *dirty,
			  uint32_t *flags)
{
	struct local_session *ls = (struct local_session *)s;

	return vfm_device_precopy_info(to_local(s->h)->dev, ls->sid, initial, dirty, flags);
}

static void l_session_close(struct vfm_session *s)
{
	free(s);
}

/* DMA logging through the feature interface, so its checks apply here too. */
static int l_log_start(struct vfm_handle *h,
		       const struct vfm_device_feature_dma_logging_range *ranges, uint32_t n,
		       uint64_t *page_size)
{
	struct vfm_device_feature_dma_logging_control ctl = {.page_size = *page_size,
							     .num_ranges = n};
	size_t len = sizeof(struct vfm_device_feature) + sizeof(ctl) + (size_t)n * sizeof(*ranges);
	struct vfm_device_feature *f;
	int rc;

	if (n > VFM_DMA_LOGGING_MAX_RANGES)
		return -E2BIG;
	f = calloc(1, len);
	if (!f)
		return -ENOMEM;
	f->argsz = (uint32_t)len;
	f->flags = VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_START;
	memcpy(f->data, &ctl, sizeof(ctl));
	memcpy(f->data + sizeof(ctl), ranges, (size_t)n * sizeof(*ranges));
	rc = vfm_device_feature(to_local(h)->dev, f, len, NULL, NULL);
	if (!rc) {
		memcpy(&ctl, f->data, sizeof(ctl));
		*page_size = ctl.page_size;
	}
	free(f);
	return rc;
}

static int l_log_stop(struct vfm_handle *h)
{
	struct vfm_device_feature f = {
		.argsz = sizeof(f),
		.flags = VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_STOP,
	};

	return vfm_device_feature(to_local(h)->dev, &f, sizeof(f), NULL, NULL);
}

static int l_log_report(struct vfm_handle *h, uint64_t iova, uint64_t length, uint64_t page_size,
			uint64_t *bitmap)
{
	uint64_t pages = page_size ? (length + page_size - 1) / page_size : 0;
	size_t words = (size_t)((pages + 63) / 64);
	size_t len = sizeof(struct vfm_device_feature) + 24 + words * 8;
	uint64_t req[3] = {iova, length, page_size};
	struct vfm_device_feature *f;
	int rc;

	if (words > (1u << 24))
		return -E2BIG;
	f = calloc(1, len);
	if (!f)
		return -ENOMEM;
	f->argsz = (uint32_t)len;
	f->flags = VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT;
	memcpy(f->data, req, sizeof(req));
	rc = vfm_device_feature(to_local(h)->dev, f, len, NULL, NULL);
	if (!rc) {
		/* REPORT only sets bits: merge into the caller's bitmap. */
		for (size_t i = 0; i < words; i++) {
			uint64_t w;

			memcpy(&w, f->data + 24 + i * 8, 8);
			bitmap[i] |= w;
		}
	}
	free(f);
	return rc;
}

static void l_last_reason(struct vfm_handle *h, char *buf, size_t len)
{
	vfm_device_last_reason(to_local(h)->dev, buf, len);
}

static int l_dma_memory(struct vfm_handle *h, void **ptr, uint64_t *iova, uint64_t *size)
{
	struct local_handle *lh = to_local(h);

	if (!lh->dma_mem)
		return -ENOENT;
	*ptr = lh->dma_mem;
	*iova = 0;
	*size = lh->dma_size;
	return 0;
}

static int l_checksum(struct vfm_handle *h, uint64_t *sum)
{
	struct local_handle *lh = to_local(h);

	if (!lh->td)
		return -ENOTSUP;
	*sum = vfm_testdev_checksum(lh->td);
	return 0;
}

static void l_close(struct vfm_handle *h)
{
	struct local_handle *lh = to_local(h);

	/* A wrapped device outlives the handle: its client's opt-ins end here. */
	vfm_device_client_closed(lh->dev);
	/* The device (and its workload) go first: nothing writes the memory after. */
	vfm_testdev_destroy(lh->td);
	if (lh->dma_mem)
		munmap(lh->dma_mem, (size_t)lh->dma_size);
	free(lh);
}

static const struct vfm_handle_ops local_ops = {
	.kind = "local",
	.get_flags = l_get_flags,
	.set_state = l_set_state,
	.get_state = l_get_state,
	.data_size = l_data_size,
	.reset = l_reset,
	.feature = l_feature,
	.read = l_read,
	.write = l_write,
	.precopy_info = l_precopy_info,
	.session_close = l_session_close,
	.log_start = l_log_start,
	.log_stop = l_log_stop,
	.log_report = l_log_report,
	.last_reason = l_last_reason,
	.dma_memory = l_dma_memory,
	.checksum = l_checksum,
	.close = l_close,
	.read_iov = l_read_iov,
	.write_at = l_write_at,
};

int vfm_local_wrap(struct vfm_device *dev, const char *name, const struct vfm_open_opts *opts,
		   struct vfm_handle **out)
{
	struct local_handle *lh = calloc(1, sizeof(*lh));

	if (!lh)
		return -ENOMEM;
	lh->dev = dev;
	vfm_handle_init(&lh->h, &local_ops, name, opts ? &opts->log : NULL);
	*out = &lh->h;
	return 0;
}

/* In-process "client memory" for the device's DMA, at IOVA 0. */
static int map_dma(struct local_handle *lh, uint64_t size, char *err, size_t errlen)
{
	char why[256];
	void *p;
	int rc;

	if (vfm_mem_fit(size, why, sizeof(why)))
		return vfm_errf(err, errlen, -ENOMEM, "local: %llu bytes for DMA do not fit: %s",
				(unsigned long long)size, why);
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return vfm_errf(err, errlen, -ENOMEM, "local: cannot map %llu bytes for DMA",
				(unsigned long long)size);
	lh->dma_mem = p;
	lh->dma_size = size;
	rc = vfm_dma_map(vfm_testdev_dma(lh->td), 0, size, p, true);
	return rc ? vfm_errf(err, errlen, rc, "local: DMA map: %s", strerror(-rc)) : 0;
}

int vfm_local_open(const char *spec, const struct vfm_open_opts *opts, struct vfm_handle **out,
		   char *err, size_t errlen)
{
	struct vfm_testdev_config cfg;
	struct vfm_testdev *td;
	struct vfm_handle *h;
	char name[160];
	int rc;

	if (strncmp(spec, "testdev", 7) != 0 || (spec[7] != '\0' && spec[7] != ','))
		return vfm_errf(err, errlen, -EINVAL,
				"local: unknown device '%s' (the in-process device is testdev)",
				spec);
	vfm_testdev_config_default(&cfg);
	rc = vfm_testdev_parse(spec, &cfg, err, errlen);
	if (rc)
		return rc;
	snprintf(name, sizeof(name), "local:%.150s", spec);
	rc = vfm_testdev_create(&cfg, name, opts ? &opts->log : NULL, &td, err, errlen);
	if (rc)
		return rc;
	rc = vfm_local_wrap(vfm_testdev_device(td), name, opts, &h);
	if (rc) {
		vfm_testdev_destroy(td);
		return vfm_errf(err, errlen, rc, "local: out of memory");
	}
	to_local(h)->td = td;
	if (cfg.dma_size) {
		rc = map_dma(to_local(h), cfg.dma_size, err, errlen);
		if (rc) {
			l_close(h);
			return rc;
		}
	}
	*out = h;
	return 0;
}

struct vfm_testdev *vfm_local_testdev(struct vfm_handle *h)
{
	if (!h || h->ops != &local_ops)
		return NULL;
	return to_local(h)->td;
}
