// SPDX-License-Identifier: BSD-3-Clause
/*
 * Load: devices from a stream. Every destination goes to RESUMING at setup (QEMU's
 * load_setup); each data block is written to its device's session; at the end of the
 * stream RESUMING -> STOP validates the state and the devices are started.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "util.h"
#include "vfio-mig/fsm.h"

struct loader {
	struct run *r;
	struct vfm_handle *const *devs;
	size_t n;
	struct vfm_session *sess[VFM_MAX_DEVICES];
	bool started[VFM_MAX_DEVICES];	/* START section seen */
	bool complete[VFM_MAX_DEVICES]; /* END section closed */
	uint8_t *buf;
	size_t buf_size;
	struct vfm_dec dec;
};

static int dec_fail(struct loader *l, int rc)
{
	return run_fail(l->r, rc, "stream: %s", l->dec.err[0] ? l->dec.err : strerror(-rc));
}

static int load_setup(struct loader *l)
{
	uint64_t flags;
	int rc;

	for (size_t i = 0; i < l->n; i++) {
		rc = probe_device(l->r, l->devs[i], &flags);
		if (rc)
			return rc;
		rc = set_state_recover(l->r, l->devs[i], VFM_STATE_RESUMING, VFM_STATE_ERROR,
				       &l->sess[i]);
		if (rc)
			return rc;
		if (!l->sess[i])
			return run_fail(l->r, -EBADF, "%s: RESUMING opened no data session",
					vfm_handle_name(l->devs[i]));
	}
	return 0;
}

static int load_block(struct loader *l, const struct vfm_ev *ev)
{
	struct vfm_session *s = l->sess[ev->section_index];
	uint64_t left = ev->size;
	char why[256];

	while (left) {
		ssize_t n = vfm_dec_data(&l->dec, l->buf, l->buf_size);
		int rc;

		if (n <= 0)
			return dec_fail(l, n < 0 ? (int)n : -EPIPE);
		rc = vfm_session_write_all(s, l->buf, (size_t)n);
		if (rc)
			return run_fail(l->r, rc,
					"%s: writing %zd bytes of state (stream offset %llu) failed: %s",
					vfm_handle_name(s->h), n,
					(unsigned long long)(l->dec.ch->pos - (uint64_t)n),
					vfm_handle_explain(s->h, rc, why, sizeof(why)));
		left -= (uint64_t)n;
		l->r->stats->bytes += (uint64_t)n;
		run_progress(l->r, VFM_PHASE_LOAD);
		if (run_cancelled(l->r))
			return run_fail(l->r, -ECANCELED, "migration cancelled");
	}
	l->r->stats->blocks++;
	return 0;
}

static int load_event(struct loader *l, const struct vfm_ev *ev)
{
	uint32_t i = ev->section_index;

	if (ev->type == VFM_EV_EOF)
		return 0;
	if (i >= l->n)
		return run_fail(l->r, -EINVAL,
				"stream offset %llu: the stream holds more device sections than the "
				"%zu device(s) given",
				(unsigned long long)ev->offset, l->n);
	switch (ev->type) {
	case VFM_EV_SECTION:
		if (ev->section_type == VFM_QEMU_VM_SECTION_START)
			l->started[i] = true;
		else if (l->complete[i])
			return run_fail(l->r, -EINVAL,
					"stream offset %llu: data for device %u after its END section",
					(unsigned long long)ev->offset, i);
		return 0;
	case VFM_EV_DATA:
		return load_block(l, ev);
	case VFM_EV_FOOTER:
		if (ev->section_type == VFM_QEMU_VM_SECTION_END)
			l->complete[i] = true;
		return 0;
	default:
		return 0;
	}
}

static int load_stream(struct loader *l, struct vfm_chan *in)
{
	struct vfm_ev ev;
	int rc = vfm_dec_init(&l->dec, in, 0);

	if (rc)
		return dec_fail(l, rc);
	do {
		rc = vfm_dec_next(&l->dec, &ev);
		if (rc)
			return dec_fail(l, rc);
		rc = load_event(l, &ev);
		if (rc)
			return rc;
	} while (ev.type != VFM_EV_EOF);
	for (size_t i = 0; i < l->n; i++) {
		if (!l->complete[i])
			return run_fail(l->r, -EINVAL,
					"stream: no complete state for device %zu (%s)", i,
					vfm_handle_name(l->devs[i]));
	}
	return 0;
}

/* RESUMING -> STOP (validation) -> RUNNING for every device. */
static int load_start(struct loader *l)
{
	for (size_t i = 0; i < l->n; i++) {
		int rc;

		vfm_session_close(l->sess[i]);
		l->sess[i] = NULL;
		rc = set_state_recover(l->r, l->devs[i], VFM_STATE_RUNNING, VFM_STATE_ERROR, NULL);
		if (rc)
			return rc;
	}
	return 0;
}

int vfm_load(struct vfm_handle *const *devs, size_t n, struct vfm_chan *in,
	     const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
	     size_t errlen)
{
	struct loader *l;
	struct run r;
	int rc;

	run_init(&r, opts, stats, err, errlen);
	if (n == 0 || n > VFM_MAX_DEVICES)
		return run_fail(&r, -EINVAL, "between 1 and %d devices can be loaded",
				VFM_MAX_DEVICES);
	l = calloc(1, sizeof(*l));
	if (!l)
		return run_fail(&r, -ENOMEM, "out of memory");
	l->r = &r;
	l->devs = devs;
	l->n = n;
	l->buf_size = opts && opts->buf_size ? VFM_MIN(opts->buf_size, (size_t)VFM_MAX_BUF_SIZE)
					     : VFM_DEFAULT_BUF_SIZE;
	stats->buf_size = l->buf_size;
	l->buf = malloc(l->buf_size);
	if (!l->buf) {
		free(l);
		return run_fail(&r, -ENOMEM, "out of memory");
	}
	run_progress(&r, VFM_PHASE_SETUP);
	rc = load_setup(l);
	if (!rc)
		rc = load_stream(l, in);
	if (!rc) {
		r.t_stop = vfm_now();
		rc = load_start(l);
	}
	for (size_t i = 0; i < n; i++)
		vfm_session_close(l->sess[i]);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			vfm_recover_destination(devs[i]);
	} else {
		stats->downtime_s = vfm_now() - r.t_stop;
		run_finish(&r);
	}
	free(l->buf);
	free(l);
	return rc;
}
