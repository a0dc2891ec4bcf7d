// SPDX-License-Identifier: BSD-3-Clause
/* Save into a stream (file or pipe), and send over a socket to a vfm_receive. */
#include "engine.h"

static int save_common(struct vfm_handle *const *devs, size_t n, struct vfm_chan *out,
		       bool control, const struct vfm_mig_opts *opts,
		       struct vfm_mig_stats *stats, char *err, size_t errlen)
{
	struct sink sink;
	struct run r;
	int rc;

	run_init(&r, opts, stats, err, errlen);
	sink_stream_init(&sink, out, control);
	rc = source_run(&r, devs, n, &sink);
	run_destroy(&r);
	return rc;
}

int vfm_save(struct vfm_handle *const *devs, size_t n, struct vfm_chan *out,
	     const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
	     size_t errlen)
{
	return save_common(devs, n, out, false, opts, stats, err, errlen);
}

int vfm_send(struct vfm_handle *const *devs, size_t n, struct vfm_chan *out,
	     const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
	     size_t errlen)
{
	return save_common(devs, n, out, true, opts, stats, err, errlen);
}
