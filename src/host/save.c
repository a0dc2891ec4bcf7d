// SPDX-License-Identifier: BSD-3-Clause
/*
 * Save: devices into a stream, as QEMU's VFIO migration writes them (uAPI doc 6.3):
 * a START section per device at setup, then with every device stopped an END section
 * per device holding its stop-copy data, then EOF.
 */
#include <errno.h>
#include <string.h>

#include "engine.h"
#include "util.h"
#include "vfio-mig/fsm.h"

#define SECTION_IDSTR "vfio"

static uint32_t section_id(size_t i)
{
	return (uint32_t)i + 1;
}

static int enc_fail(struct run *r, int rc, struct vfm_chan *ch)
{
	return run_fail(r, rc, "writing the stream: %s", ch->err);
}

static int save_setup(struct run *r, struct vfm_handle *const *devs, size_t n,
		      struct vfm_chan *out)
{
	int rc = vfm_enc_file_header(out);

	for (size_t i = 0; !rc && i < n; i++) {
		rc = vfm_enc_section_start(out, section_id(i), SECTION_IDSTR, (uint32_t)i, 1);
		if (!rc)
			rc = vfm_enc_marker(out, VFM_MIG_FLAG_DEV_SETUP_STATE);
		if (!rc)
			rc = vfm_enc_marker(out, VFM_MIG_FLAG_END_OF_STATE);
		if (!rc)
			rc = vfm_enc_footer(out, section_id(i));
	}
	(void)devs;
	return rc ? enc_fail(r, rc, out) : 0;
}

struct enc_sink {
	struct run *r;
	struct vfm_chan *out;
};

static int sink_to_stream(void *ctx, const void *buf, size_t len)
{
	struct enc_sink *s = ctx;
	int rc = vfm_enc_data(s->out, buf, len);

	return rc ? enc_fail(s->r, rc, s->out) : 0;
}

/* The END section of one stopped device: STOP_COPY, data until the end, STOP. */
static int save_device(struct run *r, struct vfm_handle *h, size_t i, struct vfm_chan *out)
{
	struct enc_sink sink = { .r = r, .out = out };
	struct vfm_session *s = NULL;
	int rc;

	rc = vfm_enc_section(out, VFM_QEMU_VM_SECTION_END, section_id(i));
	if (rc)
		return enc_fail(r, rc, out);
	rc = set_state_recover(r, h, VFM_STATE_STOP_COPY, VFM_STATE_STOP, &s);
	if (rc)
		return rc;
	if (!s)
		return run_fail(r, -EBADF, "%s: STOP_COPY opened no data session",
				vfm_handle_name(h));
	rc = pump_session(r, s, r->stats->buf_size, sink_to_stream, &sink);
	vfm_session_close(s);
	if (rc)
		return rc;
	rc = vfm_enc_marker(out, VFM_MIG_FLAG_END_OF_STATE);
	if (!rc)
		rc = vfm_enc_footer(out, section_id(i));
	if (rc)
		return enc_fail(r, rc, out);
	return set_state_recover(r, h, VFM_STATE_STOP, VFM_STATE_ERROR, NULL);
}

int vfm_save(struct vfm_handle *const *devs, size_t n, struct vfm_chan *out,
	     const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
	     size_t errlen)
{
	uint64_t flags[VFM_MAX_DEVICES];
	struct run r;
	int rc = 0;

	run_init(&r, opts, stats, err, errlen);
	if (n == 0 || n > VFM_MAX_DEVICES)
		return run_fail(&r, -EINVAL, "between 1 and %d devices can be saved",
				VFM_MAX_DEVICES);
	for (size_t i = 0; !rc && i < n; i++)
		rc = probe_device(&r, devs[i], &flags[i]);
	if (rc)
		return rc;
	plan_buffer(&r, devs, n);
	run_progress(&r, VFM_PHASE_SETUP);
	rc = save_setup(&r, devs, n, out);
	if (!rc)
		rc = stop_sources(&r, devs, flags, n);
	for (size_t i = 0; !rc && i < n; i++)
		rc = save_device(&r, devs[i], i, out);
	if (!rc && vfm_enc_eof(out))
		rc = enc_fail(&r, -EIO, out);
	r.stats->stop_copy_s = vfm_now() - r.t_stop;
	if (!rc && r.opts->keep_running) {
		for (size_t i = 0; !rc && i < n; i++)
			rc = set_state_recover(&r, devs[i], VFM_STATE_RUNNING, VFM_STATE_ERROR,
					       NULL);
	}
	if (rc) {
		for (size_t i = 0; i < n; i++)
			vfm_recover_source(devs[i]);
		return rc;
	}
	run_finish(&r);
	return 0;
}
