/* SPDX-License-Identifier: BSD-3-Clause */
/* Internal to the migration engine: what save, load and migrate share. */
#ifndef VFM_HOST_ENGINE_H
#define VFM_HOST_ENGINE_H

#include "vfio-mig/engine.h"

/* One run: options, statistics, error text, progress. */
struct run {
	const struct vfm_mig_opts *opts;
	struct vfm_mig_stats *stats;
	char *err;
	size_t errlen;
	double t0;
	double t_stop;	 /* first source left RUNNING (0 = not yet) */
	uint64_t total;	 /* expected bytes, for progress */
};

void run_init(struct run *r, const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats,
	      char *err, size_t errlen);
int run_fail(struct run *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies the handle's error text into the run's. */
int run_fail_handle(struct run *r, int rc, struct vfm_handle *h);
bool run_cancelled(const struct run *r);
void run_progress(struct run *r, enum vfm_phase phase);
void run_finish(struct run *r);

/* Checks a device can migrate: GET MIGRATION, STOP_COPY present, state as expected.
 * Fills flags. */
int probe_device(struct run *r, struct vfm_handle *h, uint64_t *flags);
/* Stop-copy sizes of the sources; fills stats and returns the read buffer size. */
size_t plan_buffer(struct run *r, struct vfm_handle *const *devs, size_t n);
/* RUNNING -> (RUNNING_P2P for all when every device has P2P) -> STOP. */
int stop_sources(struct run *r, struct vfm_handle *const *devs, const uint64_t *flags, size_t n);
/* SET with a recover state, as QEMU's vfio_migration_set_state(): on failure SET the
 * recover state, and if that fails too (or recover is ERROR) reset the device. */
int set_state_recover(struct run *r, struct vfm_handle *h, uint32_t state, uint32_t recover,
		      struct vfm_session **opened);

/*
 * Reads a saving session to its end on a helper thread while the calling thread hands
 * each block to `sink`. Returns 0 at the end of the stream, or the first error.
 */
typedef int (*block_sink)(void *ctx, const void *buf, size_t len);
int pump_session(struct run *r, struct vfm_session *src, size_t buf_size, block_sink sink,
		 void *ctx);

#endif /* VFM_HOST_ENGINE_H */
