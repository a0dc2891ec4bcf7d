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
	[VFM_PHASE_SETUP] = "setup",	   [VFM_PHASE_PRECOPY] = "pre-copy",
	[VFM_PHASE_STOP_COPY] = "stop-copy", [VFM_PHASE_LOAD] = "load",
	[VFM_PHASE_RESUME] = "resume",	   [VFM_PHASE_DONE] = "done",
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
	r->err = err;
	r->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	r->t0 = vfm_now();
}

int run_fail(struct run *r, int rc, const char *fmt, ...)
{
	va_list ap;

	/* The first, most precise reason wins. */
	if (!r->err || !r->errlen || r->err[0])
		return rc;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
	vfm_log(&r->opts->log, VFM_LOG_DEBUG, "%s", r->err);
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

void run_progress(struct run *r, enum vfm_phase phase)
{
	struct vfm_progress p = {
		.phase = phase,
		.bytes = r->stats->bytes,
		.total = r->total,
		.elapsed_s = vfm_now() - r->t0,
	};

	if (r->opts->progress)
		r->opts->progress(r->opts->progress_opaque, &p);
}

void run_finish(struct run *r)
{
	r->stats->total_s = vfm_now() - r->t0;
	run_progress(r, VFM_PHASE_DONE);
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

int stop_sources(struct run *r, struct vfm_handle *const *devs, const uint64_t *flags, size_t n)
{
	bool all_p2p = n > 1;
	int rc;

	for (size_t i = 0; i < n; i++)
		all_p2p = all_p2p && (flags[i] & VFM_MIGRATION_P2P);
	r->t_stop = vfm_now();
	/* Quiesce peer-to-peer DMA of every device before any device stops. */
	if (all_p2p) {
		for (size_t i = 0; i < n; i++) {
			rc = set_state_recover(r, devs[i], VFM_STATE_RUNNING_P2P,
					       VFM_STATE_RUNNING, NULL);
			if (rc)
				return rc;
		}
	}
	for (size_t i = 0; i < n; i++) {
		rc = set_state_recover(r, devs[i], VFM_STATE_STOP, VFM_STATE_RUNNING, NULL);
		if (rc)
			return rc;
	}
	return 0;
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

struct pump_slot {
	uint8_t *buf;
	ssize_t len; /* > 0 data, 0 end of stream, < 0 error */
};

struct pump {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pump_slot slot[PUMP_SLOTS];
	unsigned head, count; /* filled slots, in order */
	bool stop;	      /* the consumer gave up */
	struct vfm_session *src;
	size_t buf_size;
	const volatile sig_atomic_t *cancel;
};

static void *pump_reader(void *arg)
{
	struct pump *p = arg;
	unsigned next = 0;

	for (;;) {
		struct pump_slot *s;
		ssize_t n;

		pthread_mutex_lock(&p->lock);
		while (p->count == PUMP_SLOTS && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		pthread_mutex_unlock(&p->lock);
		s = &p->slot[next];
		do {
			n = vfm_session_read(p->src, s->buf, p->buf_size);
		} while (n == -EINTR || n == -EAGAIN);
		/* ENOMSG must not appear in STOP_COPY; like QEMU, take it as the end. */
		if (n == -ENOMSG)
			n = 0;
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

int pump_session(struct run *r, struct vfm_session *src, size_t buf_size, block_sink sink,
		 void *ctx)
{
	struct pump p = { .src = src, .buf_size = buf_size, .cancel = r->opts->cancel };
	pthread_t thread;
	char why[256];
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
			rc = (int)s->len;
			if (rc == -ECANCELED)
				run_fail(r, rc, "migration cancelled");
			else
				run_fail(r, rc, "%s: reading device state failed: %s",
					 vfm_handle_name(src->h),
					 vfm_handle_explain(src->h, rc, why, sizeof(why)));
			break;
		}
		if (s->len == 0)
			break;
		rc = sink(ctx, s->buf, (size_t)s->len);
		if (rc)
			break;
		r->stats->bytes += (uint64_t)s->len;
		r->stats->blocks++;
		run_progress(r, VFM_PHASE_STOP_COPY);
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
