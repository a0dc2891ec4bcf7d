/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The conformance checker: drives one device (and optionally a peer) through the VFIO
 * migration uAPI and judges every rule of the uAPI doc's checklist (section 7) that can
 * be observed through a device handle (handle.h), on any transport.
 *
 * Each check has a name ("fsm.path"), the uAPI doc section whose rule it enforces and a
 * verdict:
 *   PASS  the rule holds;
 *   WARN  a "should" of the uAPI is broken, or a documented driver quirk (mtty, uAPI doc
 *         4.1) was seen;
 *   FAIL  a "must" is broken;
 *   SKIP  the check cannot run here (feature not advertised, not observable on this
 *         transport, no --peer, a risky request not enabled), or another rule's failure
 *         left nothing to test (the detail says which).
 * A check that could run only in part keeps its verdict and says what was not verified.
 *
 * The device is reached only through vfm_handle_* and vfm_session_*: start states are
 * reached by SETting one arc at a time along the kernel's path (so a device that gets
 * multi-arc requests wrong still reaches them), results are read back with GET. Every
 * read loop is bounded (a stream that never ends FAILs, it does not hang). Between checks
 * and at the end the device is brought back to RUNNING (SET, else VFIO_DEVICE_RESET),
 * also when a check fails.
 *
 * Transports: raw feature checks need vfm_handle_feature() (SKIP where it returns
 * -EOPNOTSUPP). On vfio-user there is no data fd: the client ends its session objects
 * itself and the protocol refuses MIG_DATA_READ/WRITE outside the data states, so the
 * fd-lifetime checks (fsm.session-end, reset.kills-session) SKIP there, and fsm.data-fd
 * checks that the session an opening arc starts is usable.
 *
 * The two requests that hang kernels without the 2026 fix (STOP_COPY -> PRE_COPY and
 * -> PRE_COPY_P2P, uAPI doc 3.6) are sent only with opts.refused_arcs.
 *
 * Threads: a run uses its handles from the calling thread only.
 */
#ifndef VFIO_MIG_CHECK_H
#define VFIO_MIG_CHECK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handle.h"

enum vfm_check_verdict {
	VFM_CHECK_PASS = 0,
	VFM_CHECK_WARN,
	VFM_CHECK_FAIL,
	VFM_CHECK_SKIP,
};

/* "PASS", "WARN", "FAIL", "SKIP". */
const char *vfm_check_verdict_name(enum vfm_check_verdict v);

/* What a check is, independent of any run. */
struct vfm_check_info {
	const char *name;    /* "fsm.path" */
	const char *section; /* uAPI doc section of the rule, "3.4" */
	const char *item;    /* the doc's checklist item, "7.9" ("" if none) */
	const char *what;    /* one line: the rule */
};

/* The checks in the order they run. */
size_t vfm_check_count(void);
const struct vfm_check_info *vfm_check_get(size_t i);

struct vfm_check_result {
	const struct vfm_check_info *info;
	enum vfm_check_verdict verdict;
	const char *detail; /* why (WARN, FAIL, SKIP) or a short note (PASS); "" if none */
};

typedef void (*vfm_check_report_fn)(void *opaque, const struct vfm_check_result *r);

struct vfm_check_opts {
	/* Also send STOP_COPY -> PRE_COPY(_P2P): hangs kernels without the 2026 fix. */
	bool refused_arcs;
	/* Most bytes read from one session; 0 = 4 x MIG_DATA_SIZE + 1 MiB (256 MiB + 1 MiB
	 * when the device has no MIG_DATA_SIZE). */
	uint64_t max_stream;
	/* Comma-separated names or name prefixes ("fsm.,stream.end"); NULL or "" = all. */
	const char *only;
	/* Checked between steps; when it becomes non-zero the remaining checks SKIP and the
	 * device is still brought back to RUNNING. May be NULL. */
	const volatile sig_atomic_t *cancel;
};

struct vfm_check_summary {
	unsigned pass, warn, fail, skip;
	bool left_running; /* the device (and the peer) ended RUNNING */
};

/*
 * Runs the checks on dev (and, for the round trip, peer; NULL for none), calling cb once
 * per check as it completes. Returns 0 when the suite ran (whatever the verdicts: see
 * *sum), or a negative errno when it could not start (the device's migration flags cannot
 * be read), with the reason in vfm_handle_error(dev).
 */
int vfm_check_run(struct vfm_handle *dev, struct vfm_handle *peer,
		  const struct vfm_check_opts *opts, vfm_check_report_fn cb, void *opaque,
		  struct vfm_check_summary *sum);

#endif /* VFIO_MIG_CHECK_H */
