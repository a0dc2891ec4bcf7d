// SPDX-License-Identifier: BSD-3-Clause
/*
 * Migrate: straight from source handles to destination handles, no stream in between.
 * Destinations enter RESUMING at setup; the sources stop together (P2P first); each
 * source's stop-copy data is read on a helper thread while the calling thread writes it
 * to the destination; then the destinations validate and start.
 */
#include <errno.h>
#include <string.h>

#include "engine.h"
#include "util.h"
#include "vfio-mig/fsm.h"

struct dev_sink {
	struct run *r;
	struct vfm_session *dst;
};

static int sink_to_device(void *ctx, const void *buf, size_t len)
{
	struct dev_sink *s = ctx;
	char why[256];
	int rc = vfm_session_write_all(s->dst, buf, len);

	if (rc)
		return run_fail(s->r, rc, "%s: writing %zu bytes of state failed: %s",
				vfm_handle_name(s->dst->h), len,
				vfm_handle_explain(s->dst->h, rc, why, sizeof(why)));
	return 0;
}

static int migrate_setup(struct run *r, struct vfm_handle *const *src,
			 struct vfm_handle *const *dst, size_t n, uint64_t *flags,
			 struct vfm_session **in)
{
	uint64_t dflags;
	int rc;

	for (size_t i = 0; i < n; i++) {
		rc = probe_device(r, src[i], &flags[i]);
		if (!rc)
			rc = probe_device(r, dst[i], &dflags);
		if (rc)
			return rc;
	}
	plan_buffer(r, src, n);
	for (size_t i = 0; i < n; i++) {
		rc = set_state_recover(r, dst[i], VFM_STATE_RESUMING, VFM_STATE_ERROR, &in[i]);
		if (rc)
			return rc;
		if (!in[i])
			return run_fail(r, -EBADF, "%s: RESUMING opened no data session",
					vfm_handle_name(dst[i]));
	}
	return 0;
}

static int migrate_device(struct run *r, struct vfm_handle *src, struct vfm_session *in)
{
	struct dev_sink sink = { .r = r, .dst = in };
	struct vfm_session *out = NULL;
	int rc;

	rc = set_state_recover(r, src, VFM_STATE_STOP_COPY, VFM_STATE_STOP, &out);
	if (rc)
		return rc;
	if (!out)
		return run_fail(r, -EBADF, "%s: STOP_COPY opened no data session",
				vfm_handle_name(src));
	rc = pump_session(r, out, r->stats->buf_size, sink_to_device, &sink);
	vfm_session_close(out);
	if (rc)
		return rc;
	return set_state_recover(r, src, VFM_STATE_STOP, VFM_STATE_ERROR, NULL);
}

int vfm_migrate(struct vfm_handle *const *src, struct vfm_handle *const *dst, size_t n,
		const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
		size_t errlen)
{
	struct vfm_session *in[VFM_MAX_DEVICES] = { 0 };
	uint64_t flags[VFM_MAX_DEVICES];
	struct run r;
	int rc;

	run_init(&r, opts, stats, err, errlen);
	if (n == 0 || n > VFM_MAX_DEVICES)
		return run_fail(&r, -EINVAL, "between 1 and %d device pairs can be migrated",
				VFM_MAX_DEVICES);
	run_progress(&r, VFM_PHASE_SETUP);
	rc = migrate_setup(&r, src, dst, n, flags, in);
	if (!rc)
		rc = stop_sources(&r, src, flags, n);
	for (size_t i = 0; !rc && i < n; i++)
		rc = migrate_device(&r, src[i], in[i]);
	r.stats->stop_copy_s = r.t_stop ? vfm_now() - r.t_stop : 0;
	for (size_t i = 0; i < n; i++) {
		vfm_session_close(in[i]);
		in[i] = NULL;
	}
	run_progress(&r, VFM_PHASE_RESUME);
	for (size_t i = 0; !rc && i < n; i++)
		rc = set_state_recover(&r, dst[i], VFM_STATE_RUNNING, VFM_STATE_ERROR, NULL);
	if (rc) {
		for (size_t i = 0; i < n; i++) {
			vfm_recover_destination(dst[i]);
			vfm_recover_source(src[i]);
		}
		return rc;
	}
	stats->downtime_s = vfm_now() - r.t_stop;
	run_finish(&r);
	return 0;
}
