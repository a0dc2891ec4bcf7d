// SPDX-License-Identifier: BSD-3-Clause
/* Save into a stream (file or pipe), and send over a socket to a vfm_receive. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static int save_common(struct vfm_handle *const *devs, size_t n, struct vfm_chan *out, bool control,
		       const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
		       size_t errlen)
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
	     const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err, size_t errlen)
{
	return save_common(devs, n, out, false, opts, stats, err, errlen);
}

int vfm_send(struct vfm_handle *const *devs, size_t n, struct vfm_chan *out,
	     const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err, size_t errlen)
{
	return save_common(devs, n, out, true, opts, stats, err, errlen);
}

int vfm_send_uri(struct vfm_handle *const *devs, size_t n, const char *uri,
		 const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
		 size_t errlen)
{
	bool file = !strncmp(uri, "file:", 5); /* a file has no destination to answer */
	struct vfm_chan ch, *side = NULL;
	size_t nr_side = 0;
	struct sink sink;
	struct run r;
	int rc;

	run_init(&r, opts, stats, err, errlen);
	rc = vfm_chan_open_out(uri, &ch, err, errlen);
	if (rc)
		goto out;
	/* Several devices: one channel each for their stop-copy data, read in parallel. */
	if (n > 1 && !file && !(opts && opts->single_channel)) {
		side = calloc(n, sizeof(*side));
		if (!side)
			rc = run_fail(&r, -ENOMEM, "out of memory");
		for (; !rc && nr_side < n; nr_side++) {
			rc = vfm_chan_open_out(uri, &side[nr_side], err, errlen);
			if (rc)
				break;
		}
	}
	if (!rc) {
		sink_stream_init(&sink, &ch, !file);
		sink_stream_sides(&sink, side, nr_side);
		rc = source_run(&r, devs, n, &sink);
	}
	for (size_t i = 0; i < nr_side; i++)
		vfm_chan_close(&side[i]);
	free(side);
	vfm_chan_close(&ch);
out:
	run_destroy(&r);
	return rc;
}
