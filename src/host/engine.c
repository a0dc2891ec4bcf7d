// SPDX-License-Identifier: BSD-3-Clause
/* The parts of the migration engine that save, load and migrate share. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "util.h"
#include "vfio-mig/fsm.h"

static const char *const phase_names[VFM_PHASE_NR] = {
	[VFM_PHASE_SETUP] = "setup",	     [VFM_PHASE_PRECOPY] = "pre-copy",
	[VFM_PHASE_STOP_COPY] = "stop-copy", [VFM_PHASE_LOAD] = "load",
	[VFM_PHASE_RESUME] = "resume",	     [VFM_PHASE_DONE] = "done",
};

const char *vfm_phase_name(enum vfm_phase p)
{
	return p < VFM_PHASE_NR ? phase_names[p] : "?";
}

void run_init(struct run *r, const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats,
	      char *err, size_t errlen)
{
	static const struct vfm_mig_opts defaults;

	memset(r, 0, sizeof(*r));
	r->opts = opts ? opts : &defaults;
	r->stats = stats;
	memset(stats, 0, sizeof(*stats));
	r->tl = r->opts->timeline;
	if (r->tl)
		memset(r->tl, 0, sizeof(*r->tl));
	pthread_mutex_init(&r->lock, NULL);
	r->err = err;
	r->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	r->t0 = vfm_now();
	r->last_sample = -1;
}

void run_destroy(struct run *r)
{
	pthread_mutex_destroy(&r->lock);
}

int run_fail(struct run *r, int rc, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->lock);
	/* The first, most precise reason wins. */
	if (r->err && r->errlen && !r->err[0]) {
		va_start(ap, fmt);
		vsnprintf(r->err, r->errlen, fmt, ap);
		va_end(ap);
		vfm_log(&r->opts->log, VFM_LOG_DEBUG, "%s", r->err);
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int run_fail_handle(struct run *r, int rc, struct vfm_handle *h)
{
	return run_fail(r, rc, "%s", vfm_handle_error(h));
}

bool run_cancelled(const struct run *r)
{
	return r->opts->cancel && *r->opts->cancel;
}

int run_timeout_ms(const struct run *r)
{
	return r->opts->timeout_ms ? (int)VFM_MIN(r->opts->timeout_ms, (uint32_t)INT32_MAX)
				   : VFM_CHAN_TIMEOUT_MS;
}

void run_chan(struct run *r, struct vfm_chan *ch)
{
	if (r->opts->timeout_ms)
		ch->timeout_ms = run_timeout_ms(r);
	if (!ch->cancel)
		ch->cancel = r->opts->cancel;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t check_round(uint64_t h, uint64_t w)
{
	h += w * 0xc2b2ae3d27d4eb4full;
	h = h << 31 | h >> 33;
	return h * 0x9e3779b185ebca87ull;
}

/* Four independent lanes of multiply-rotate rounds over 64-bit little-endian words, the
 * tail byte by byte, folded with the length and mixed: the same on every host. */
uint64_t ram_check(uint64_t iova, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t l[4] = {iova ^ 0x243f6a8885a308d3ull, ~iova, (uint64_t)len, 0x13198a2e03707344ull};
	uint64_t h;
	size_t i = 0;

	for (; i + 32 <= len; i += 32) {
		for (int k = 0; k < 4; k++)
			l[k] = check_round(l[k], le64(p + i + 8 * k));
	}
	for (; i < len; i++)
		l[i % 4] = check_round(l[i % 4], p[i]);
	h = (uint64_t)len;
	for (int k = 0; k < 4; k++)
		h = check_round(h ^ l[k], l[k] >> 29);
	h ^= h >> 32;
	return h * 0xff51afd7ed558ccdull ^ h >> 29;
}

double run_elapsed(const struct run *r)
{
	return vfm_now() - r->t0;
}

/* Called with r->lock held. */
static void progress_locked(struct run *r)
{
	double t = run_elapsed(r);
	struct vfm_progress p = {
		.phase = r->phase,
		.bytes = r->stats->bytes,
		.total = r->total,
		.elapsed_s = t,
		.rate = t > 0 ? (double)r->stats->bytes / t : 0,
		.round = r->round,
		.est_downtime_ms = r->est_downtime_ms,
	};

	if (r->opts->progress)
		r->opts->progress(r->opts->progress_opaque, &p);
}

static void sample_locked(struct run *r, bool force)
{
	double t = run_elapsed(r);

	if (!r->tl || (!force && t - r->last_sample < 0.005))
		return;
	if (r->tl->nr_samples == VFM_TL_MAX_SAMPLES) {
		/* Keep every other sample: the series stays spread over the whole run. */
		for (size_t i = 0; i < VFM_TL_MAX_SAMPLES / 2; i++)
			r->tl->samples[i] = r->tl->samples[2 * i + 1];
		r->tl->nr_samples = VFM_TL_MAX_SAMPLES / 2;
	}
	r->tl->samples[r->tl->nr_samples].t = t;
	r->tl->samples[r->tl->nr_samples].bytes = r->stats->bytes;
	r->tl->nr_samples++;
	r->last_sample = t;
}

void run_progress(struct run *r, enum vfm_phase phase)
{
	pthread_mutex_lock(&r->lock);
	r->phase = phase;
	sample_locked(r, true);
	progress_locked(r);
	pthread_mutex_unlock(&r->lock);
}

void run_set_total(struct run *r, uint64_t pending)
{
	pthread_mutex_lock(&r->lock);
	r->total = r->stats->bytes + pending;
	pthread_mutex_unlock(&r->lock);
}

void run_moved(struct run *r, uint64_t bytes)
{
	pthread_mutex_lock(&r->lock);
	r->stats->bytes += bytes;
	r->stats->blocks++;
	sample_locked(r, false);
	progress_locked(r);
	pthread_mutex_unlock(&r->lock);
}

void run_finish(struct run *r, int rc)
{
	r->stats->total_s = run_elapsed(r);
	if (r->tl) {
		r->tl->t_total = r->stats->total_s;
		snprintf(r->tl->result, sizeof(r->tl->result), "%s",
			 rc ? (r->err && r->err[0] ? r->err : strerror(-rc)) : "ok");
	}
	if (!rc)
		run_progress(r, VFM_PHASE_DONE);
}

struct vfm_tl_device *run_tl_dev(struct run *r, size_t i)
{
	static __thread struct vfm_tl_device scratch;

	if (!r->tl || i >= VFM_ARRAY_SIZE(r->tl->dev))
		return &scratch;
	if (r->tl->nr_devices <= i)
		r->tl->nr_devices = i + 1;
	return &r->tl->dev[i];
}

int probe_device(struct run *r, struct vfm_handle *h, uint64_t *flags)
{
	uint32_t state;
	int rc;

	rc = vfm_handle_get_flags(h, flags);
	if (rc)
		return run_fail_handle(r, rc, h);
	if (!(*flags & VFM_MIGRATION_STOP_COPY))
		return run_fail(r, -EOPNOTSUPP,
				"%s: the device does not advertise STOP_COPY; migration refused",
				vfm_handle_name(h));
	rc = vfm_handle_get_state(h, &state);
	if (rc)
		return run_fail_handle(r, rc, h);
	if (state != VFM_STATE_RUNNING && state != VFM_STATE_STOP)
		return run_fail(r, -EBUSY, "%s: the device is %s, expected RUNNING or STOP",
				vfm_handle_name(h), vfm_state_name(state));
	return 0;
}

size_t plan_buffer(struct run *r, struct vfm_handle *const *devs, size_t n)
{
	uint64_t largest = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t len;

		if (vfm_handle_data_size(devs[i], &len) == 0) {
			r->stats->stop_copy_size += len;
			r->stats->pending_size += len;
			largest = VFM_MAX(largest, len);
		} else {
			vfm_log(&r->opts->log, VFM_LOG_WARN,
				"%s: stop-copy size unknown, assuming 100 GiB",
				vfm_handle_name(devs[i]));
			r->stats->pending_size += VFM_STOP_COPY_SIZE_FALLBACK;
			largest = VFM_STOP_COPY_SIZE_FALLBACK;
		}
	}
	r->total = r->stats->pending_size;
	if (r->opts->buf_size)
		r->stats->buf_size = VFM_MIN(r->opts->buf_size, (size_t)VFM_MAX_BUF_SIZE);
	else
		r->stats->buf_size = (size_t)VFM_MIN(largest, (uint64_t)VFM_DEFAULT_BUF_SIZE);
	/* A device reporting 0 still gets a usable buffer (QEMU fails there). */
	r->stats->buf_size = VFM_MAX(r->stats->buf_size, (size_t)4096);
	return r->stats->buf_size;
}

uint64_t pending_bytes(struct vfm_handle *const *devs, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t len;

		sum += vfm_handle_data_size(devs[i], &len) == 0 ? len : VFM_STOP_COPY_SIZE_FALLBACK;
	}
	return sum;
}

int set_state_recover(struct run *r, struct vfm_handle *h, uint32_t state, uint32_t recover,
		      struct vfm_session **opened)
{
	int rc = vfm_handle_set_state(h, state, opened);

	if (!rc)
		return 0;
	run_fail_handle(r, rc, h);
	if (recover != VFM_STATE_ERROR && vfm_handle_set_state(h, recover, NULL) == 0)
		return rc;
	vfm_handle_reset(h);
	return rc;
}

int vfm_recover_source(struct vfm_handle *h)
{
	uint32_t state;

	if (vfm_handle_get_state(h, &state) == 0 && state == VFM_STATE_RUNNING)
		return 0;
	if (vfm_handle_set_state(h, VFM_STATE_RUNNING, NULL) == 0)
		return 0;
	return vfm_handle_reset(h);
}

int vfm_recover_destination(struct vfm_handle *h)
{
	return vfm_handle_reset(h);
}

/* ---- the read pump: a reader thread feeding the calling thread ------------------------ */

#define PUMP_SLOTS 4
/* A device that lends its bytes keeps them valid until the call after next (device.h),
 * so at most two of its calls are in flight: one being handed on, one read ahead. */
#define PUMP_LENT_SLOTS 2
/* A budgeted (pre-copy) pump also stops after this long, so that a round stays short
 * however slowly the device produces. */
#define PUMP_ROUND_S 0.1

struct pump_slot {
	uint8_t *buf;
	struct iovec iov[VFM_ENC_MAX_IOV]; /* the bytes: lent by the device, or in buf */
	int cnt;
	ssize_t len; /* > 0 data, 0 end of stream, < 0 error */
};

struct pump {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pump_slot slot[PUMP_SLOTS];
	unsigned head, count; /* filled slots, in order (the one being handed on counts) */
	bool stop;	      /* the consumer gave up */
	bool lend;	      /* the device lends its bytes (the reader's own) */
	struct vfm_session *src;
	size_t buf_size;
	uint64_t budget; /* stop reading after this many bytes (0: to the end) */
	double deadline; /* ... or after this time (0: none) */
	uint64_t read;
	const volatile sig_atomic_t *cancel;
};

static bool pump_round_over(const struct pump *p)
{
	return (p->budget && p->read >= p->budget) || (p->deadline && vfm_now() > p->deadline);
}

/* One read into slot s: lent in place where the device can, else copied into its buffer. */
static ssize_t pump_read(struct pump *p, struct pump_slot *s)
{
	ssize_t n;

	if (p->lend) {
		s->cnt = VFM_ENC_MAX_IOV;
		n = vfm_session_read_iov(p->src, s->iov, &s->cnt, p->buf_size);
		if (n != -EOPNOTSUPP)
			return n;
		p->lend = false;
		/* From now on a copy: let what earlier calls lent be handed on first. */
		pthread_mutex_lock(&p->lock);
		while (p->count > 0 && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		pthread_mutex_unlock(&p->lock);
	}
	n = vfm_session_read(p->src, s->buf, p->buf_size);
	s->iov[0].iov_base = s->buf;
	s->iov[0].iov_len = n > 0 ? (size_t)n : 0;
	s->cnt = 1;
	return n;
}

static void *pump_reader(void *arg)
{
	struct pump *p = arg;
	unsigned next = 0;

	for (;;) {
		struct pump_slot *s;
		ssize_t n;

		pthread_mutex_lock(&p->lock);
		while (p->count >= (p->lend ? PUMP_LENT_SLOTS : PUMP_SLOTS) && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		pthread_mutex_unlock(&p->lock);
		s = &p->slot[next];
		if (pump_round_over(p)) {
			n = 0;
		} else {
			do {
				n = pump_read(p, s);
			} while (n == -EINTR || n == -EAGAIN);
		}
		/* ENOMSG: the temporary end in PRE_COPY; it must not appear in STOP_COPY, but
		 * like QEMU take it as the end there too. */
		if (n == -ENOMSG)
			n = 0;
		if (n > 0)
			p->read += (uint64_t)n;
		if (p->cancel && *p->cancel)
			n = -ECANCELED;
		pthread_mutex_lock(&p->lock);
		s->len = n;
		p->count++;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		next = (next + 1) % PUMP_SLOTS;
		if (n <= 0)
			return NULL;
	}
}

static void pump_free(struct pump *p)
{
	for (unsigned i = 0; i < PUMP_SLOTS; i++)
		free(p->slot[i].buf);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

static int read_failed(struct run *r, struct vfm_session *src, int rc)
{
	char why[256];

	if (rc == -ECANCELED)
		return run_fail(r, rc, "migration cancelled");
	return run_fail(r, rc, "%s: reading the device's state failed: %s", vfm_handle_name(src->h),
			vfm_handle_explain(src->h, rc, why, sizeof(why)));
}

int pump_session(struct run *r, struct vfm_session *src, size_t buf_size, uint64_t budget,
		 block_sink sink, void *ctx)
{
	struct pump p = {.src = src,
			 .buf_size = buf_size,
			 .budget = budget,
			 .deadline = budget ? vfm_now() + PUMP_ROUND_S : 0,
			 .lend = true,
			 .cancel = r->opts->cancel};
	pthread_t thread;
	int rc = 0;

	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	for (unsigned i = 0; i < PUMP_SLOTS; i++) {
		p.slot[i].buf = malloc(buf_size);
		if (!p.slot[i].buf) {
			pump_free(&p);
			return run_fail(r, -ENOMEM, "out of memory for %zu-byte buffers", buf_size);
		}
	}
	if (pthread_create(&thread, NULL, pump_reader, &p)) {
		pump_free(&p);
		return run_fail(r, -EAGAIN, "cannot start the reader thread");
	}
	for (;;) {
		struct pump_slot *s;

		pthread_mutex_lock(&p.lock);
		while (p.count == 0)
			pthread_cond_wait(&p.cond, &p.lock);
		s = &p.slot[p.head];
		pthread_mutex_unlock(&p.lock);
		if (s->len < 0) {
			rc = read_failed(r, src, (int)s->len);
			break;
		}
		if (s->len == 0)
			break;
		rc = sink(ctx, s->iov, s->cnt, (size_t)s->len);
		if (rc)
			break;
		run_moved(r, (uint64_t)s->len);
		pthread_mutex_lock(&p.lock);
		p.head = (p.head + 1) % PUMP_SLOTS;
		p.count--;
		pthread_cond_broadcast(&p.cond);
		pthread_mutex_unlock(&p.lock);
	}
	pthread_mutex_lock(&p.lock);
	p.stop = true;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	pthread_join(thread, NULL);
	pump_free(&p);
	return rc;
}
