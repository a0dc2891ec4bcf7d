/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The migration state machine exactly as the kernel's vfio_mig_get_next_state() chooses
 * paths (uAPI doc section 3). Pure functions, no I/O, safe from any thread.
 */
#ifndef VFIO_MIG_FSM_H
#define VFIO_MIG_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uapi.h"

/* The longest path the table yields (RESUMING -> STOP -> RUNNING_P2P -> RUNNING ->
 * PRE_COPY is 5 states); room for the start state plus every state once. */
#define VFM_FSM_MAX_PATH (VFM_STATE_NR + 1)

/* "STOP", "RUNNING", ...; "INVALID" for values >= VFM_STATE_NR. */
const char *vfm_state_name(uint32_t state);

/* Parses a state name (case-insensitive, with or without "VFIO_DEVICE_STATE_").
 * Returns 0 or -EINVAL. */
int vfm_state_parse(const char *name, uint32_t *state);

/* Parses migration flags: a number ("7", "0x7") or a comma list of
 * "stop-copy,p2p,pre-copy". Returns 0 or -EINVAL. */
int vfm_flags_parse(const char *text, uint64_t *flags);

/* Writes "STOP_COPY|P2P|PRE_COPY" (or "none") into buf. */
void vfm_flags_format(uint64_t flags, char *buf, size_t len);

/* The migration flags a state requires (state_flags_table); ~0 for ERROR. */
uint64_t vfm_state_required_flags(uint32_t state);

/* true iff the device with these flags supports the state. */
bool vfm_state_supported(uint64_t flags, uint32_t state);

/* One step: the kernel's vfio_mig_get_next_state(). 0 with *next set, or -EINVAL. */
int vfm_fsm_next(uint64_t flags, uint32_t cur, uint32_t target, uint32_t *next);

/* The whole path from cur to target: path[0] = cur, path[*len - 1] = target. For
 * cur == target the path is just { cur }. Returns 0 or -EINVAL (with *len = 0). */
int vfm_fsm_path(uint64_t flags, uint32_t cur, uint32_t target, uint32_t path[VFM_FSM_MAX_PATH],
		 size_t *len);

/* The arcs that start a data transfer session and return a new data_fd:
 * RUNNING->PRE_COPY, RUNNING_P2P->PRE_COPY_P2P, STOP->STOP_COPY, STOP->RESUMING. */
bool vfm_arc_opens_session(uint32_t from, uint32_t to);

/* The arcs that end the current session: PRE_COPY->RUNNING,
 * PRE_COPY_P2P->RUNNING_P2P, STOP_COPY->STOP, RESUMING->STOP. */
bool vfm_arc_ends_session(uint32_t from, uint32_t to);

/* PRE_COPY, PRE_COPY_P2P and STOP_COPY: the saving group. */
bool vfm_state_is_saving(uint32_t state);

/* PRE_COPY and PRE_COPY_P2P. */
bool vfm_state_is_precopy(uint32_t state);

/* States in which the device runs (RUNNING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P). */
bool vfm_state_is_running(uint32_t state);

#endif /* VFIO_MIG_FSM_H */
