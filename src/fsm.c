// SPDX-License-Identifier: BSD-3-Clause
/*
 * The migration FSM as the kernel's vfio_mig_get_next_state() implements it
 * (uAPI doc section 3): one raw table for the full-feature graph, a table of the flags
 * each state needs, and a loop that skips states the device does not support.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vfio-mig/fsm.h"

#define ERR VFM_STATE_ERROR
#define STP VFM_STATE_STOP
#define RUN VFM_STATE_RUNNING
#define SCP VFM_STATE_STOP_COPY
#define RES VFM_STATE_RESUMING
#define RP2 VFM_STATE_RUNNING_P2P
#define PRE VFM_STATE_PRE_COPY
#define PP2 VFM_STATE_PRE_COPY_P2P

/* vfio_from_fsm_table[cur][new], uAPI doc section 3.2. */
static const uint8_t fsm_table[VFM_STATE_NR][VFM_STATE_NR] = {
	/*            ERR  STP  RUN  SCP  RES  RP2  PRE  PP2 */
	[ERR] = {ERR, ERR, ERR, ERR, ERR, ERR, ERR, ERR},
	[STP] = {ERR, STP, RP2, SCP, RES, RP2, RP2, RP2},
	[RUN] = {ERR, RP2, RUN, RP2, RP2, RP2, PRE, RP2},
	[SCP] = {ERR, STP, STP, SCP, STP, STP, ERR, ERR},
	[RES] = {ERR, STP, STP, STP, RES, STP, STP, STP},
	[RP2] = {ERR, STP, RUN, STP, STP, RP2, RUN, PP2},
	[PRE] = {ERR, RUN, RUN, PP2, RUN, RUN, PRE, PP2},
	[PP2] = {ERR, RP2, RP2, SCP, RP2, RP2, PRE, PP2},
};

static const char *const state_names[VFM_STATE_NR] = {
	[ERR] = "ERROR",    [STP] = "STOP",	   [RUN] = "RUNNING",  [SCP] = "STOP_COPY",
	[RES] = "RESUMING", [RP2] = "RUNNING_P2P", [PRE] = "PRE_COPY", [PP2] = "PRE_COPY_P2P",
};

const char *vfm_state_name(uint32_t state)
{
	if (state >= VFM_STATE_NR)
		return "INVALID";
	return state_names[state];
}

int vfm_state_parse(const char *name, uint32_t *state)
{
	static const char prefix[] = "VFIO_DEVICE_STATE_";

	if (!name)
		return -EINVAL;
	if (strncasecmp(name, prefix, sizeof(prefix) - 1) == 0)
		name += sizeof(prefix) - 1;
	for (uint32_t s = 0; s < VFM_STATE_NR; s++) {
		if (strcasecmp(name, state_names[s]) == 0) {
			*state = s;
			return 0;
		}
	}
	return -EINVAL;
}

static const struct {
	const char *name;
	uint64_t bit;
} flag_names[] = {
	{"stop-copy", VFM_MIGRATION_STOP_COPY},
	{"p2p", VFM_MIGRATION_P2P},
	{"pre-copy", VFM_MIGRATION_PRE_COPY},
};

static int flag_word(const char *word, size_t len, uint64_t *bit)
{
	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (strlen(flag_names[i].name) == len &&
		    strncasecmp(word, flag_names[i].name, len) == 0) {
			*bit = flag_names[i].bit;
			return 0;
		}
	}
	return -EINVAL;
}

int vfm_flags_parse(const char *text, uint64_t *flags)
{
	uint64_t out = 0;
	char *end;

	if (!text || !*text)
		return -EINVAL;
	if (text[0] >= '0' && text[0] <= '9') {
		errno = 0;
		unsigned long long v = strtoull(text, &end, 0);
		if (errno || *end)
			return -EINVAL;
		*flags = v;
		return 0;
	}
	while (*text) {
		const char *comma = strchr(text, ',');
		size_t len = comma ? (size_t)(comma - text) : strlen(text);
		uint64_t bit;

		if (flag_word(text, len, &bit))
			return -EINVAL;
		out |= bit;
		text += len;
		if (*text == ',') {
			text++;
			if (!*text)
				return -EINVAL;
		}
	}
	*flags = out;
	return 0;
}

void vfm_flags_format(uint64_t flags, char *buf, size_t len)
{
	static const char *const names[] = {"STOP_COPY", "P2P", "PRE_COPY"};
	size_t used = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (unsigned i = 0; i < 3; i++) {
		if (!(flags & (1ull << i)))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? "|" : "", names[i]);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
	if (flags >> 3) {
		int n = snprintf(buf + used, len - used, "%s0x%llx", used ? "|" : "",
				 (unsigned long long)(flags & ~7ull));
		if (n > 0 && (size_t)n < len - used)
			used += (size_t)n;
	}
	if (!used)
		snprintf(buf, len, "none");
}

uint64_t vfm_state_required_flags(uint32_t state)
{
	switch (state) {
	case STP:
	case RUN:
	case SCP:
	case RES:
		return VFM_MIGRATION_STOP_COPY;
	case RP2:
		return VFM_MIGRATION_STOP_COPY | VFM_MIGRATION_P2P;
	case PRE:
		return VFM_MIGRATION_STOP_COPY | VFM_MIGRATION_PRE_COPY;
	case PP2:
		return VFM_MIGRATION_STOP_COPY | VFM_MIGRATION_P2P | VFM_MIGRATION_PRE_COPY;
	default:
		return ~0ull;
	}
}

bool vfm_state_supported(uint64_t flags, uint32_t state)
{
	uint64_t need = vfm_state_required_flags(state);

	/* The kernel's table holds unsigned ints; ERROR needs ~0U, never satisfiable. */
	if (state >= VFM_STATE_NR || state == ERR)
		return false;
	return (flags & need) == need;
}

int vfm_fsm_next(uint64_t flags, uint32_t cur, uint32_t target, uint32_t *next)
{
	uint32_t n;

	if (!vfm_state_supported(flags, cur) || !vfm_state_supported(flags, target))
		return -EINVAL;
	n = fsm_table[cur][target];
	while (n != ERR && !vfm_state_supported(flags, n))
		n = fsm_table[n][target];
	if (n == ERR)
		return -EINVAL;
	*next = n;
	return 0;
}

int vfm_fsm_path(uint64_t flags, uint32_t cur, uint32_t target, uint32_t path[VFM_FSM_MAX_PATH],
		 size_t *len)
{
	size_t n = 0;

	*len = 0;
	if (!vfm_state_supported(flags, cur) || !vfm_state_supported(flags, target))
		return -EINVAL;
	path[n++] = cur;
	while (cur != target) {
		uint32_t next;

		/* The table has no cycles towards a fixed target; the bound is a guard. */
		if (vfm_fsm_next(flags, cur, target, &next) || n >= VFM_FSM_MAX_PATH)
			return -EINVAL;
		path[n++] = next;
		cur = next;
	}
	*len = n;
	return 0;
}

bool vfm_arc_opens_session(uint32_t from, uint32_t to)
{
	return (from == RUN && to == PRE) || (from == RP2 && to == PP2) ||
	       (from == STP && to == SCP) || (from == STP && to == RES);
}

bool vfm_arc_ends_session(uint32_t from, uint32_t to)
{
	return (from == PRE && to == RUN) || (from == PP2 && to == RP2) ||
	       (from == SCP && to == STP) || (from == RES && to == STP);
}

bool vfm_state_is_saving(uint32_t state)
{
	return state == PRE || state == PP2 || state == SCP;
}

bool vfm_state_is_precopy(uint32_t state)
{
	return state == PRE || state == PP2;
}

bool vfm_state_is_running(uint32_t state)
{
	return state == RUN || state == RP2 || state == PRE || state == PP2;
}
