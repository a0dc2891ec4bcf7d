// SPDX-License-Identifier: BSD-3-Clause
/*
 * The source side of a migration, whatever the sink: probe, pre-copy with a downtime
 * limit, switch-over with P2P quiescing, stop-copy (one thread per device when the sink
 * allows), completion. Any failure returns every source to RUNNING with its state intact
 * (one found STOP, a migrated source, to STOP) and has the sink reset the destinations.
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "util.h"
#include "vfio-mig/fsm.h"

#define DEFAULT_DOWNTIME_LIMIT_MS 300
#define DEFAULT_MAX_PRECOPY_MS	  60000
/* Pre-copy bytes read from one device per round before the others get their turn. */
#define ROUND_BUDGET (64ull << 20)
/* A pre-copy that moves nothing tells the sink this often, so that a destination can
 * tell a quiet source from a silent one. */
#define IDLE_HEARTBEAT_S 1.0

struct src_dev {
	struct vfm_handle *h;
	uint64_t flags;
	bool precopy;	/* in PRE_COPY now */
	bool v2;	/* opted in to PRECOPY_INFOv2: the pre-copy info flags are output */
	bool init_done; /* initial bytes all read (since the last REINIT) */
	struct vfm_session *sess;
	size_t index;
	struct run *r;
	struct sink *sink;
	struct ram ram;		  /* the client memory mapped for its DMA */
	bool touched;		  /* the engine changed its state: recover it on failure */
	bool found_stopped;	  /* STOP when the run began (a migrated source): never started */
	uint64_t stop_copy_bytes; /* counted by the device's own stop-copy thread */
	int rc;
};

struct source {
	struct run *r;
	struct sink *sink;
	struct src_dev *dev;
	size_t n;
	size_t buf_size;
	double set_latency; /* seconds one state change takes, measured at setup */
	double bandwidth;   /* bytes/s moved while transferring */
	double xfer_s;	    /* time spent transferring pre-copy data */
};

static uint32_t limit_ms(const struct run *r)
{
	return r->opts->downtime_limit_ms ? r->opts->downtime_limit_ms : DEFAULT_DOWNTIME_LIMIT_MS;
}

static uint32_t max_precopy_ms(const struct run *r)
{
	return r->opts->max_precopy_ms ? r->opts->max_precopy_ms : DEFAULT_MAX_PRECOPY_MS;
}

static int src_probe(struct source *s)
{
	bool all_p2p = true;
	int rc;

	for (size_t i = 0; i < s->n; i++) {
		rc = probe_device(s->r, s->dev[i].h, &s->dev[i].flags);
		if (rc)
			return rc;
		all_p2p = all_p2p && (s->dev[i].flags & VFM_MIGRATION_P2P);
		snprintf(run_tl_dev(s->r, i)->name, sizeof(run_tl_dev(s->r, i)->name), "%s",
			 vfm_handle_name(s->dev[i].h));
	}
	if (s->n > 1 && !all_p2p && !s->r->opts->allow_no_p2p) {
		for (size_t i = 0; i < s->n; i++) {
			if (!(s->dev[i].flags & VFM_MIGRATION_P2P))
				return run_fail(
					s->r, -EOPNOTSUPP,
					"%s lacks P2P: several devices can only stop together "
					"when all support RUNNING_P2P (--allow-no-p2p overrides)",
					vfm_handle_name(s->dev[i].h));
		}
	}
	return 0;
}

/* DMA memory: logged from now on; the destination must have as much. */
static int src_ram_setup(struct source *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct ram *ram = &s->dev[i].ram;
		int rc = ram_setup(s->r, s->dev[i].h, ram, s->r->opts->precopy);

		if (rc)
			return rc;
		if (!ram->present)
			continue;
		rc = s->sink->ops->ram_setup(s->sink, i, ram->iova, ram->size);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Opts in to PRECOPY_INFOv2 (Linux 7.1) before the session opens, as QEMU does at setup:
 * a device that refuses (ENOTTY before 7.1) is used exactly as before, its flags unread.
 */
static void src_opt_in(struct source *s, struct src_dev *d)
{
	int rc = vfm_handle_precopy_v2(d->h);

	d->v2 = rc == 0;
	run_tl_dev(s->r, d->index)->precopy_v2 = d->v2;
	vfm_log(&s->r->opts->log, VFM_LOG_DEBUG, "%s: PRECOPY_INFOv2 %s%s%s", vfm_handle_name(d->h),
		d->v2 ? "opted in: REINIT is read" : "not supported (", d->v2 ? "" : strerror(-rc),
		d->v2 ? "" : "): pre-copy info flags ignored");
	d->h->err[0] = '\0';
}

/* Devices with PRE_COPY enter it at setup (QEMU's save_setup). */
static int src_enter_precopy(struct source *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct src_dev *d = &s->dev[i];
		uint32_t state;
		double t;
		int rc;

		if (!s->r->opts->precopy || !(d->flags & VFM_MIGRATION_PRE_COPY))
			continue;
		if (vfm_handle_get_state(d->h, &state) || state != VFM_STATE_RUNNING)
			continue;
		src_opt_in(s, d);
		t = vfm_now();
		d->touched = true;
		rc = set_state_recover(s->r, d->h, VFM_STATE_PRE_COPY, VFM_STATE_RUNNING, &d->sess);
		if (rc)
			return rc;
		s->set_latency = VFM_MAX(s->set_latency, vfm_now() - t);
		if (!d->sess)
			return run_fail(s->r, -EBADF, "%s: PRE_COPY opened no data session",
					vfm_handle_name(d->h));
		d->precopy = true;
		run_tl_dev(s->r, i)->precopy = true;
		run_tl_dev(s->r, i)->t_precopy = run_elapsed(s->r);
	}
	return 0;
}

/* *flags: the device's flags, 0 unless it opted in (a kernel echoes what it was sent). */
static int precopy_info(struct source *s, struct src_dev *d, uint64_t *initial, uint64_t *dirty,
			uint32_t *flags)
{
	int rc = vfm_session_precopy_info_flags(d->sess, flags, initial, dirty);

	if (!d->v2)
		*flags = 0;
	if (rc)
		return run_fail(s->r, rc, "%s: VFIO_MIG_GET_PRECOPY_INFO failed: %s",
				vfm_handle_name(d->h),
				vfm_handle_explain(d->h, rc, d->h->why, sizeof(d->h->why)));
	return 0;
}

/* Time since t for the bandwidth; a coarse clock (jiffies under TCG) can say 0 for a small
 * transfer, which would leave the bandwidth unknown forever. */
static double xfer_time(double t)
{
	return VFM_MAX(vfm_now() - t, 1e-6);
}

struct precopy_sink {
	struct source *s;
	struct src_dev *d;
	bool open;
	uint64_t got;
};

/* Opens the device's PART section at its first block of the round. */
static int precopy_block(void *ctx, const struct iovec *iov, int cnt, size_t len)
{
	struct precopy_sink *ps = ctx;
	struct sink *sink = ps->s->sink;
	int rc;

	if (!ps->open) {
		rc = sink->ops->part_begin(sink, ps->d->index);
		if (rc)
			return rc;
		ps->open = true;
	}
	ps->got += len;
	return sink->ops->block(sink, ps->d->index, iov, cnt, len);
}

/*
 * REINIT (doc/uapi-7.x.md): new initial data is on the stream. As QEMU does, the
 * switch-over waits again until it is all read and the destination has confirmed loading
 * it (the stream carries DEV_INIT_DATA_SENT again, the sink counts a new ack), and the
 * downtime estimate starts again from the new pending data.
 */
static void on_reinit(struct source *s, struct src_dev *d, uint64_t initial)
{
	struct vfm_tl_device *tl = run_tl_dev(s->r, d->index);

	if (tl->reinits < VFM_TL_MAX_REINITS)
		tl->t_reinit[tl->reinits] = run_elapsed(s->r);
	tl->reinits++;
	s->r->stats->reinits++;
	d->init_done = false;
	vfm_log(&s->r->opts->log, VFM_LOG_INFO,
		"%s: the device re-initialised (REINIT): %llu bytes of new initial data; the "
		"switch-over waits until they are loaded",
		vfm_handle_name(d->h), (unsigned long long)initial);
}

/* One device's share of a round: read until the temporary end or the budget. */
static int precopy_device(struct source *s, struct src_dev *d, uint64_t *moved)
{
	struct precopy_sink ps = {.s = s, .d = d};
	uint64_t initial, dirty;
	uint32_t flags = 0;
	bool announce = false;
	double t = vfm_now();
	int rc;

	rc = pump_session(s->r, d->sess, s->buf_size, ROUND_BUDGET, precopy_block, &ps);
	if (rc)
		return rc;
	s->xfer_s += ps.got ? xfer_time(t) : 0;
	rc = precopy_info(s, d, &initial, &dirty, &flags);
	if (rc)
		return rc;
	if (flags & VFM_PRECOPY_INFO_REINIT)
		on_reinit(s, d, initial);
	if (!d->init_done && initial == 0) {
		d->init_done = true;
		announce = true;
		run_tl_dev(s->r, d->index)->t_init_done = run_elapsed(s->r);
	}
	if (announce && !ps.open) {
		rc = s->sink->ops->part_begin(s->sink, d->index);
		if (rc)
			return rc;
		ps.open = true;
	}
	if (ps.open) {
		rc = s->sink->ops->part_end(s->sink, d->index, announce);
		if (rc)
			return rc;
	}
	run_tl_dev(s->r, d->index)->precopy_bytes += ps.got;
	*moved += ps.got;
	return 0;
}

/* A round of one device: its pre-copy data, then a piece of its DMA memory. */
static int precopy_round(struct source *s, struct src_dev *d, uint64_t *moved)
{
	uint64_t ram_moved = 0;
	double t;
	int rc = 0;

	if (d->precopy)
		rc = precopy_device(s, d, moved);
	if (rc || !d->ram.logging)
		return rc;
	t = vfm_now();
	rc = ram_round(s->r, d->h, s->sink, d->index, &d->ram, ROUND_BUDGET, &ram_moved);
	s->xfer_s += ram_moved ? xfer_time(t) : 0;
	*moved += ram_moved;
	return rc;
}

static double estimate_ms(struct source *s, uint64_t pending)
{
	double overhead = 4.0 * s->set_latency * (double)s->n * 1e3;

	/* Nothing left to move needs no bandwidth (a device whose pre-copy moved nothing
	 * has none measured). */
	if (pending == 0)
		return overhead;
	if (s->bandwidth <= 0)
		return 1e12;
	return (double)pending / s->bandwidth * 1e3 + overhead;
}

static void record_round(struct source *s, uint64_t moved, uint64_t pending, double est)
{
	struct vfm_timeline *tl = s->r->tl;

	s->r->round++;
	s->r->est_downtime_ms = est;
	s->r->stats->rounds = s->r->round;
	if (!tl || tl->nr_rounds == VFM_TL_MAX_ROUNDS)
		return;
	tl->rounds[tl->nr_rounds++] = (struct vfm_tl_round){
		.t = run_elapsed(s->r),
		.bytes = moved,
		.pending = pending,
		.bandwidth = s->bandwidth,
		.est_downtime_ms = est,
	};
}

/* The destination confirmed the initial data of every device in pre-copy. */
static int src_acked(struct source *s, bool *all)
{
	*all = true;
	for (size_t i = 0; i < s->n; i++) {
		bool yes = true;
		int rc;

		if (!s->dev[i].precopy)
			continue;
		rc = s->sink->ops->acked(s->sink, i, &yes);
		if (rc)
			return rc;
		if (yes && s->dev[i].init_done &&
		    run_tl_dev(s->r, i)->t_acked < run_tl_dev(s->r, i)->t_init_done)
			run_tl_dev(s->r, i)->t_acked = run_elapsed(s->r);
		*all = *all && yes;
	}
	return 0;
}

static void nap(void)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 2000000};

	nanosleep(&ts, NULL);
}

/* At the switch-over decision, a last look at the devices that report REINIT (QEMU checks
 * the flag at switch-over too): *reinit when one re-initialised since its round. */
static int src_last_look(struct source *s, bool *reinit)
{
	*reinit = false;
	for (size_t i = 0; i < s->n; i++) {
		struct src_dev *d = &s->dev[i];
		uint64_t initial, dirty;
		uint32_t flags = 0;
		int rc;

		if (!d->precopy || !d->v2)
			continue;
		rc = precopy_info(s, d, &initial, &dirty, &flags);
		if (rc)
			return rc;
		if (flags & VFM_PRECOPY_INFO_REINIT) {
			on_reinit(s, d, initial);
			*reinit = true;
		}
	}
	return 0;
}

/* Pre-copy rounds until switch-over is allowed; 0 to switch over. */
static int src_precopy(struct source *s)
{
	double t0 = vfm_now(), last_move = t0;
	uint64_t total = 0;
	bool any = false;
	int rc;

	for (size_t i = 0; i < s->n; i++)
		any = any || s->dev[i].precopy || s->dev[i].ram.logging;
	if (!any)
		return 0;
	run_progress(s->r, VFM_PHASE_PRECOPY);
	for (;;) {
		uint64_t moved = 0, pending;
		bool all_init = true, acked = false;
		double est;

		for (size_t i = 0; i < s->n; i++) {
			rc = precopy_round(s, &s->dev[i], &moved);
			if (rc)
				return rc;
			all_init = all_init && (!s->dev[i].precopy || s->dev[i].init_done) &&
				   ram_initial_done(&s->dev[i].ram);
		}
		total += moved;
		if (s->xfer_s > 0)
			s->bandwidth = (double)total / s->xfer_s;
		pending = 0;
		for (size_t i = 0; i < s->n; i++)
			pending += pending_bytes(&s->dev[i].h, 1) + ram_pending(&s->dev[i].ram);
		est = estimate_ms(s, pending);
		run_set_total(s->r, pending);
		record_round(s, moved, pending, est);
		run_progress(s->r, VFM_PHASE_PRECOPY);
		rc = src_acked(s, &acked);
		if (rc)
			return rc;
		if (all_init && acked && est <= limit_ms(s->r)) {
			bool reinit;

			rc = src_last_look(s, &reinit);
			if (rc)
				return rc;
			if (!reinit)
				break;
			continue;
		}
		if ((vfm_now() - t0) * 1e3 > max_precopy_ms(s->r)) {
			if (s->r->opts->allow_overrun) {
				vfm_log(&s->r->opts->log, VFM_LOG_WARN,
					"switching over although the estimated downtime %.0f ms "
					"exceeds the limit of %u ms (--allow-overrun)",
					est, limit_ms(s->r));
				break;
			}
			char left[32];

			vfm_format_size(pending, left, sizeof(left));
			return run_fail(
				s->r, -ETIMEDOUT,
				"downtime limit cannot be met: after %.1f s of pre-copy the "
				"estimated downtime is %.0f ms (limit %u ms, %s pending at "
				"%.2f GB/s)%s; migration abandoned, the source keeps running",
				vfm_now() - t0, est, limit_ms(s->r), left, s->bandwidth / 1e9,
				!all_init ? ", initial data not all sent"
				: !acked  ? ", destination has not confirmed the initial data"
					  : "");
		}
		if (run_cancelled(s->r))
			return run_fail(s->r, -ECANCELED, "migration cancelled");
		if (moved) {
			last_move = vfm_now();
			continue;
		}
		if (s->sink->ops->idle && vfm_now() - last_move >= IDLE_HEARTBEAT_S) {
			rc = s->sink->ops->idle(s->sink);
			if (rc)
				return rc;
			last_move = vfm_now();
		}
		nap();
	}
	s->r->stats->precopy_s = vfm_now() - t0;
	s->r->stats->precopy_bytes = total;
	s->r->stats->est_downtime_ms = s->r->est_downtime_ms;
	return 0;
}

/* Quiesce P2P of every device before any stops, then stop each into STOP_COPY. */
static int src_stop(struct source *s)
{
	bool p2p = s->n > 1;
	int rc;

	for (size_t i = 0; i < s->n; i++)
		p2p = p2p && (s->dev[i].flags & VFM_MIGRATION_P2P);
	s->r->t_stop = vfm_now();
	if (s->r->tl)
		s->r->tl->t_downtime_begin = run_elapsed(s->r);
	if (s->r->round) {
		uint64_t pending = 0;

		for (size_t i = 0; i < s->n; i++)
			pending += pending_bytes(&s->dev[i].h, 1) + ram_pending(&s->dev[i].ram);
		run_set_total(s->r, pending);
	}
	run_progress(s->r, VFM_PHASE_STOP_COPY);
	if (p2p) {
		for (size_t i = 0; i < s->n; i++) {
			struct src_dev *d = &s->dev[i];
			uint32_t to = d->precopy ? VFM_STATE_PRE_COPY_P2P : VFM_STATE_RUNNING_P2P;

			d->touched = true;
			rc = set_state_recover(s->r, d->h, to,
					       d->precopy ? VFM_STATE_PRE_COPY : VFM_STATE_RUNNING,
					       NULL);
			if (rc)
				return rc;
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		struct src_dev *d = &s->dev[i];
		struct vfm_session *opened = NULL;

		run_tl_dev(s->r, i)->t_stop = run_elapsed(s->r);
		d->touched = true;
		/* A device in pre-copy keeps its session into STOP_COPY; others stop first and
		 * open one (QEMU: STOP at VM stop, STOP_COPY at save_complete). */
		if (!d->precopy) {
			rc = set_state_recover(s->r, d->h, VFM_STATE_STOP, VFM_STATE_RUNNING, NULL);
			if (rc)
				return rc;
		}
		rc = set_state_recover(s->r, d->h, VFM_STATE_STOP_COPY, VFM_STATE_STOP, &opened);
		if (rc)
			return rc;
		if (d->precopy && opened) {
			vfm_session_close(opened);
			return run_fail(
				s->r, -EBADF,
				"%s: data_fd out of sync: PRE_COPY_P2P -> STOP_COPY opened a "
				"new session",
				vfm_handle_name(d->h));
		}
		if (!d->precopy) {
			if (!opened)
				return run_fail(s->r, -EBADF,
						"%s: STOP_COPY opened no data session",
						vfm_handle_name(d->h));
			d->sess = opened;
		}
	}
	return 0;
}

/* The devices are stopped: no more DMA. What memory is left moves now. */
static int src_ram_final(struct source *s)
{
	for (size_t i = 0; i < s->n; i++) {
		int rc = ram_final(s->r, s->dev[i].h, s->sink, i, &s->dev[i].ram);

		if (rc)
			return rc;
	}
	return 0;
}

static int to_sink(void *ctx, const struct iovec *iov, int cnt, size_t len)
{
	struct src_dev *d = ctx;
	int rc = d->sink->ops->block(d->sink, d->index, iov, cnt, len);

	if (!rc)
		d->stop_copy_bytes += len;
	return rc;
}

static void *stopcopy_device(void *arg)
{
	struct src_dev *d = arg;
	struct run *r = d->r;
	struct vfm_tl_device *tl = run_tl_dev(r, d->index);

	tl->t_stop_copy = run_elapsed(r);
	d->rc = d->sink->ops->end_begin(d->sink, d->index);
	if (!d->rc)
		d->rc = pump_session(r, d->sess, r->stats->buf_size, 0, to_sink, d);
	if (!d->rc)
		d->rc = d->sink->ops->end_end(d->sink, d->index);
	tl->t_stop_copy_end = run_elapsed(r);
	tl->stop_copy_bytes = d->stop_copy_bytes;
	return NULL;
}

static int src_stopcopy(struct source *s)
{
	pthread_t threads[VFM_MAX_DEVICES];
	bool started[VFM_MAX_DEVICES] = {0};
	int rc = 0;

	for (size_t i = 0; i < s->n; i++) {
		s->dev[i].r = s->r;
		s->dev[i].sink = s->sink;
	}
	if (!s->sink->parallel || s->n == 1) {
		for (size_t i = 0; i < s->n && !rc; i++) {
			stopcopy_device(&s->dev[i]);
			rc = s->dev[i].rc;
		}
		return rc;
	}
	for (size_t i = 0; i < s->n; i++)
		started[i] = pthread_create(&threads[i], NULL, stopcopy_device, &s->dev[i]) == 0;
	for (size_t i = 0; i < s->n; i++) {
		if (!started[i]) {
			stopcopy_device(&s->dev[i]);
		} else {
			pthread_join(threads[i], NULL);
		}
		if (!rc)
			rc = s->dev[i].rc;
	}
	return rc;
}

static void src_close_sessions(struct source *s)
{
	for (size_t i = 0; i < s->n; i++) {
		vfm_session_close(s->dev[i].sess);
		s->dev[i].sess = NULL;
	}
}

/* After the destinations run: STOP_COPY -> STOP outside the downtime, as QEMU does. */
static int src_settle(struct source *s)
{
	int rc = 0;

	src_close_sessions(s);
	for (size_t i = 0; i < s->n && !rc; i++) {
		uint32_t to = s->r->opts->keep_running ? VFM_STATE_RUNNING : VFM_STATE_STOP;

		rc = set_state_recover(s->r, s->dev[i].h, to, VFM_STATE_ERROR, NULL);
	}
	return rc;
}

/* After a failure: a source found running runs again; one found stopped (a migrated
 * source, whose destination may run) goes back to STOP, or is reset. */
static void recover(struct src_dev *d)
{
	if (!d->found_stopped)
		vfm_recover_source(d->h);
	else if (vfm_handle_set_state(d->h, VFM_STATE_STOP, NULL))
		vfm_handle_reset(d->h);
}

static int src_body(struct source *s)
{
	int rc;

	rc = src_probe(s);
	if (rc)
		return rc;
	s->buf_size = s->r->stats->buf_size;
	run_progress(s->r, VFM_PHASE_SETUP);
	rc = s->sink->ops->setup(s->sink, s->r, s->n);
	if (!rc)
		rc = src_ram_setup(s);
	if (!rc)
		rc = src_enter_precopy(s);
	if (!rc)
		rc = src_precopy(s);
	if (!rc)
		rc = src_stop(s);
	if (!rc)
		rc = src_ram_final(s);
	if (!rc)
		rc = src_stopcopy(s);
	if (!rc) {
		s->r->stats->stop_copy_s = vfm_now() - s->r->t_stop;
		run_progress(s->r, VFM_PHASE_RESUME);
		rc = s->sink->ops->complete(s->sink);
	}
	if (!rc) {
		s->r->stats->downtime_s = vfm_now() - s->r->t_stop;
		if (s->r->tl)
			s->r->tl->t_downtime_end = run_elapsed(s->r);
		rc = src_settle(s);
	}
	return rc;
}

int source_run(struct run *r, struct vfm_handle *const *devs, size_t n, struct sink *sink)
{
	struct source s = {.r = r, .sink = sink, .n = n};
	struct src_dev dev[VFM_MAX_DEVICES];
	int rc;

	if (n == 0 || n > VFM_MAX_DEVICES)
		return run_fail(r, -EINVAL, "between 1 and %d devices can be migrated",
				VFM_MAX_DEVICES);
	memset(dev, 0, sizeof(dev));
	for (size_t i = 0; i < n; i++) {
		uint32_t state;

		dev[i].h = devs[i];
		dev[i].index = i;
		dev[i].found_stopped =
			vfm_handle_get_state(devs[i], &state) == 0 && state == VFM_STATE_STOP;
	}
	s.dev = dev;
	if (r->tl)
		r->tl->downtime_limit_ms = limit_ms(r);
	plan_buffer(r, devs, n);
	rc = src_body(&s);
	if (rc) {
		src_close_sessions(&s);
		sink->ops->abort(sink);
		/* Only devices this run changed: one refused as busy is someone else's. */
		for (size_t i = 0; i < n; i++) {
			if (dev[i].touched)
				recover(&dev[i]);
		}
	}
	for (size_t i = 0; i < n; i++)
		ram_cleanup(devs[i], &dev[i].ram);
	run_finish(r, rc);
	return rc;
}
