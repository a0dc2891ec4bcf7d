// SPDX-License-Identifier: BSD-3-Clause
/* Migrate straight from source handles to destination handles, no stream in between. */
#include "engine.h"

int vfm_migrate(struct vfm_handle *const *src, struct vfm_handle *const *dst, size_t n,
		const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
		size_t errlen)
{
	struct sink sink;
	struct run r;
	int rc;

	run_init(&r, opts, stats, err, errlen);
	sink_direct_init(&sink, dst);
	rc = source_run(&r, src, n, &sink);
	run_destroy(&r);
	return rc;
}
