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
	sink_stream_destroy(&sink);
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

/* Connects, and over TLS checks the destination (and is accepted by it) before any
 * state moves; side channels shake hands at their first write (see setup_sides). */
static int open_channel(struct run *r, const char *uri, struct vfm_tls *tls, bool defer,
			struct vfm_chan *ch)
{
	char host[256];
	int rc = vfm_chan_open_out(uri, ch, r->err, r->errlen);

	if (rc || !tls)
		return rc;
	run_chan(r, ch); /* the handshake sees the run's cancel flag and timeout */
	if (vfm_chan_uri_host(uri, host, sizeof(host)))
		host[0] = '\0';
	/* As long as any wait for the destination: it checks one connection at a time, and
	 * silent ones ahead of this one may hold it for 10 s each. */
	rc = vfm_tls_connect(ch, tls, host, defer, run_timeout_ms(r));
	if (rc) {
		run_fail(r, rc, "%s", ch->err);
		vfm_chan_close(ch);
	}
	return rc;
}

int vfm_send_uri(struct vfm_handle *const *devs, size_t n, const char *uri,
		 const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
		 size_t errlen)
{
	bool file = !strncmp(uri, "file:", 5); /* a file has no destination to answer */
	struct vfm_chan ch, *side = NULL;
	struct vfm_tls *tls = NULL;
	size_t nr_side = 0;
	struct sink sink;
	struct run r;
	int rc = 0;

	run_init(&r, opts, stats, err, errlen);
	if (opts && opts->tls && strncmp(uri, "tcp:", 4))
		rc = run_fail(&r, -EINVAL, "%s: TLS runs over tcp: channels only", uri);
	else if (opts && opts->tls)
		rc = vfm_tls_new(opts->tls, false, &tls, err, errlen);
	if (!rc)
		rc = open_channel(&r, uri, tls, false, &ch);
	if (rc)
		goto out;
	/* Several devices: one channel each for their stop-copy data, read in parallel. */
	if (n > 1 && !file && !(opts && opts->single_channel)) {
		side = calloc(n, sizeof(*side));
		if (!side)
			rc = run_fail(&r, -ENOMEM, "out of memory");
		for (; !rc && nr_side < n; nr_side++) {
			rc = open_channel(&r, uri, tls, true, &side[nr_side]);
			if (rc)
				break;
		}
	}
	if (!rc) {
		sink_stream_init(&sink, &ch, !file);
		sink_stream_sides(&sink, side, nr_side);
		rc = source_run(&r, devs, n, &sink);
		sink_stream_destroy(&sink);
	}
	for (size_t i = 0; i < nr_side; i++)
		vfm_chan_close(&side[i]);
	free(side);
	vfm_chan_close(&ch);
out:
	vfm_tls_free(tls);
	run_destroy(&r);
	return rc;
}
