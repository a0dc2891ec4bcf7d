// SPDX-License-Identifier: BSD-3-Clause
/*
 * Embedding the migration engine: migrate two devices at once, watching progress.
 *
 *   migrate-two                       two in-process sample devices (local:testdev)
 *   migrate-two SRC1 DST1 SRC2 DST2   any device specs: unix:PATH (vfio-user),
 *                                     vfio:/dev/vfio/devices/vfioN, local:testdev,...
 *
 * A VMM does the same with the devices it already has open: it hands the engine one
 * handle per source and one per destination, and the engine walks every device through
 * the migration uAPI (pre-copy where offered, P2P quiescing across the devices, stop-copy,
 * resume), moving each source's data into its destination. On failure the sources are
 * RUNNING again with their state intact and the destinations are reset.
 *
 * Build: cc migrate-two.c $(pkg-config --cflags --libs vfio-mig)
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <vfio-mig/engine.h>
#include <vfio-mig/fsm.h>
#include <vfio-mig/handle.h>

#define NR_DEVICES 2

static volatile sig_atomic_t cancel;

static void on_signal(int sig)
{
	(void)sig;
	cancel = 1; /* the engine stops at its next step and recovers the sources */
}

struct watch {
	enum vfm_phase last;
	unsigned calls;
	unsigned phases_seen; /* bit per enum vfm_phase */
};

/*
 * Called by the engine as data moves and at every phase change; possibly from its helper
 * threads, but never twice at once. Keep it short: the migration waits for it.
 */
static void on_progress(void *opaque, const struct vfm_progress *p)
{
	struct watch *w = opaque;

	w->calls++;
	if (w->phases_seen & (1u << p->phase))
		return;
	w->phases_seen |= 1u << p->phase;
	w->last = p->phase;
	printf("progress: %-9s %10llu bytes moved of ~%llu, %.1f MB/s, round %u\n",
	       vfm_phase_name(p->phase), (unsigned long long)p->bytes, (unsigned long long)p->total,
	       p->rate / 1e6, p->round);
}

/* The library never prints: its messages come here (from any of its threads). */
static void on_log(void *opaque, enum vfm_log_level level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "vfio-mig[%d]: %s\n", (int)level, msg);
}

static int open_all(const char *const *specs, struct vfm_handle **h, size_t n)
{
	struct vfm_open_opts oo = {.log = {.fn = on_log, .max_level = VFM_LOG_WARN}};
	char err[VFM_ERR_LEN];

	for (size_t i = 0; i < n; i++) {
		if (vfm_handle_open(specs[i], &oo, &h[i], err, sizeof(err))) {
			fprintf(stderr, "migrate-two: %s\n", err);
			return -1;
		}
	}
	return 0;
}

/* Where the transport can read the device's checksum (the sample device can), compare. */
static int compare(struct vfm_handle *src, struct vfm_handle *dst)
{
	uint64_t a, b;
	uint32_t state = VFM_STATE_ERROR;

	if (vfm_handle_get_state(dst, &state) || state != VFM_STATE_RUNNING) {
		fprintf(stderr, "migrate-two: %s is %s, not RUNNING\n", vfm_handle_name(dst),
			vfm_state_name(state));
		return -1;
	}
	if (vfm_handle_checksum(src, &a) || vfm_handle_checksum(dst, &b)) {
		printf("%s -> %s: RUNNING (no checksum to compare)\n", vfm_handle_name(src),
		       vfm_handle_name(dst));
		return 0;
	}
	printf("%s -> %s: RUNNING, checksum %016llx %s\n", vfm_handle_name(src),
	       vfm_handle_name(dst), (unsigned long long)b, a == b ? "matches" : "DIFFERS");
	return a == b ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const char *const local[2 * NR_DEVICES] = {
		"local:testdev,size=32M,seed=1,dirty-rate=8M", "local:testdev,size=32M,seed=91",
		"local:testdev,size=16M,seed=2", "local:testdev,size=16M,seed=92"};
	const char *const *specs =
		argc == 1 + 2 * NR_DEVICES ? (const char *const *)argv + 1 : local;
	struct vfm_handle *h[2 * NR_DEVICES] = {0};
	struct vfm_handle *src[NR_DEVICES], *dst[NR_DEVICES];
	struct watch w = {0};
	struct vfm_mig_stats st;
	char err[VFM_ERR_LEN];
	int rc = -1;

	if (argc != 1 && argc != 1 + 2 * NR_DEVICES) {
		fprintf(stderr, "usage: %s [SRC1 DST1 SRC2 DST2]\n", argv[0]);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (open_all(specs, h, 2 * NR_DEVICES))
		goto out;
	for (size_t i = 0; i < NR_DEVICES; i++) {
		src[i] = h[2 * i];
		dst[i] = h[2 * i + 1];
	}

	struct vfm_mig_opts opts = {
		.precopy = true,	  /* iterate while the sources run, where offered */
		.downtime_limit_ms = 300, /* switch over once the rest fits in this */
		.log = {.fn = on_log, .max_level = VFM_LOG_WARN},
		.progress = on_progress,
		.progress_opaque = &w,
		.cancel = &cancel,
	};
	if (vfm_migrate(src, dst, NR_DEVICES, &opts, &st, err, sizeof(err))) {
		fprintf(stderr, "migrate-two: %s\n", err);
		goto out;
	}
	printf("migrated %d devices: %llu bytes in %.3f s, downtime %.1f ms, %u pre-copy "
	       "rounds, %u progress calls\n",
	       NR_DEVICES, (unsigned long long)st.bytes, st.total_s, st.downtime_s * 1e3, st.rounds,
	       w.calls);
	rc = 0;
	for (size_t i = 0; i < NR_DEVICES; i++)
		rc |= compare(src[i], dst[i]);
	if (!(w.phases_seen & (1u << VFM_PHASE_DONE)))
		rc = -1;
out:
	for (size_t i = 0; i < 2 * NR_DEVICES; i++)
		vfm_handle_close(h[i]); /* NULL is fine */
	return rc ? 1 : 0;
}
