// SPDX-License-Identifier: BSD-3-Clause
/*
 * The FSM against the uAPI doc (shared/docs/vfio-migration-v2-uapi.md section 3), the
 * oracle. The doc's tables are transcribed below verbatim, as the markdown rows they are
 * (section 3.2: the raw table; section 3.4: for flags 1, 3, 5 and 7 the next-step table
 * and the full arc sequence of every request), and parsed here. Nothing below derives
 * expectations from the library. A second, independent model of the kernel's
 * vfio_mig_get_next_state() (section 3.4 pseudo code over the section 3.2/3.3 tables)
 * covers every flag set 0..7 (and unknown high bits), and is itself checked against the
 * doc's per-flag tables.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vfio-mig/fsm.h"

/* ---- the doc's tables, verbatim ---------------------------------------------------- */

static const char *const doc_raw_table[] = {
	"| **ERROR** | ERROR | ERROR | ERROR | ERROR | ERROR | ERROR | ERROR | ERROR |",
	"| **STOP** | ERROR | STOP | RUNNING_P2P | STOP_COPY | RESUMING | RUNNING_P2P | RUNNING_P2P | RUNNING_P2P |",
	"| **RUNNING** | ERROR | RUNNING_P2P | RUNNING | RUNNING_P2P | RUNNING_P2P | RUNNING_P2P | PRE_COPY | RUNNING_P2P |",
	"| **STOP_COPY** | ERROR | STOP | STOP | STOP_COPY | STOP | STOP | ERROR | ERROR |",
	"| **RESUMING** | ERROR | STOP | STOP | STOP | RESUMING | STOP | STOP | STOP |",
	"| **RUNNING_P2P** | ERROR | STOP | RUNNING | STOP | STOP | RUNNING_P2P | RUNNING | PRE_COPY_P2P |",
	"| **PRE_COPY** | ERROR | RUNNING | RUNNING | PRE_COPY_P2P | RUNNING | RUNNING | PRE_COPY | PRE_COPY_P2P |",
	"| **PRE_COPY_P2P** | ERROR | RUNNING_P2P | RUNNING_P2P | STOP_COPY | RUNNING_P2P | RUNNING_P2P | PRE_COPY | PRE_COPY_P2P |",
};

static const char *const doc_next_f1[] = {
	"| **ERROR** | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN |",
	"| **STOP** | EINVAL | (STOP) | RUNNING | STOP_COPY | RESUMING | EINVAL | EINVAL | EINVAL | EINVAL |",
	"| **RUNNING** | EINVAL | STOP | (RUNNING) | STOP | STOP | EINVAL | EINVAL | EINVAL | EINVAL |",
	"| **STOP_COPY** | EINVAL | STOP | STOP | (STOP_COPY) | STOP | EINVAL | EINVAL | EINVAL | EINVAL |",
	"| **RESUMING** | EINVAL | STOP | STOP | STOP | (RESUMING) | EINVAL | EINVAL | EINVAL | EINVAL |",
	"| **RUNNING_P2P** | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |",
	"| **PRE_COPY** | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |",
	"| **PRE_COPY_P2P** | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |",
};

static const char *const doc_arcs_f1[] = {
	"| STOP | RUNNING | STOP → RUNNING | data_fd=-1 |",
	"| STOP | STOP_COPY | STOP → STOP_COPY | returns NEW data_fd |",
	"| STOP | RESUMING | STOP → RESUMING | returns NEW data_fd |",
	"| RUNNING | STOP | RUNNING → STOP | data_fd=-1 |",
	"| RUNNING | STOP_COPY | RUNNING → STOP → STOP_COPY | returns NEW data_fd |",
	"| RUNNING | RESUMING | RUNNING → STOP → RESUMING | returns NEW data_fd |",
	"| STOP_COPY | STOP | STOP_COPY → STOP | data_fd=-1; terminates session via STOP_COPY→STOP |",
	"| STOP_COPY | RUNNING | STOP_COPY → STOP → RUNNING | data_fd=-1; terminates session via STOP_COPY→STOP |",
	"| STOP_COPY | RESUMING | STOP_COPY → STOP → RESUMING | returns NEW data_fd; terminates session via STOP_COPY→STOP |",
	"| RESUMING | STOP | RESUMING → STOP | data_fd=-1; terminates session via RESUMING→STOP |",
	"| RESUMING | RUNNING | RESUMING → STOP → RUNNING | data_fd=-1; terminates session via RESUMING→STOP |",
	"| RESUMING | STOP_COPY | RESUMING → STOP → STOP_COPY | returns NEW data_fd; terminates session via RESUMING→STOP |",
};

static const char *const doc_next_f3[] = {
	"| **ERROR** | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN |",
	"| **STOP** | EINVAL | (STOP) | RUNNING_P2P | STOP_COPY | RESUMING | RUNNING_P2P | EINVAL | EINVAL | EINVAL |",
	"| **RUNNING** | EINVAL | RUNNING_P2P | (RUNNING) | RUNNING_P2P | RUNNING_P2P | RUNNING_P2P | EINVAL | EINVAL | EINVAL |",
	"| **STOP_COPY** | EINVAL | STOP | STOP | (STOP_COPY) | STOP | STOP | EINVAL | EINVAL | EINVAL |",
	"| **RESUMING** | EINVAL | STOP | STOP | STOP | (RESUMING) | STOP | EINVAL | EINVAL | EINVAL |",
	"| **RUNNING_P2P** | EINVAL | STOP | RUNNING | STOP | STOP | (RUNNING_P2P) | EINVAL | EINVAL | EINVAL |",
	"| **PRE_COPY** | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |",
	"| **PRE_COPY_P2P** | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |",
};

static const char *const doc_arcs_f3[] = {
	"| STOP | RUNNING | STOP → RUNNING_P2P → RUNNING | data_fd=-1 |",
	"| STOP | STOP_COPY | STOP → STOP_COPY | returns NEW data_fd |",
	"| STOP | RESUMING | STOP → RESUMING | returns NEW data_fd |",
	"| STOP | RUNNING_P2P | STOP → RUNNING_P2P | data_fd=-1 |",
	"| RUNNING | STOP | RUNNING → RUNNING_P2P → STOP | data_fd=-1 |",
	"| RUNNING | STOP_COPY | RUNNING → RUNNING_P2P → STOP → STOP_COPY | returns NEW data_fd |",
	"| RUNNING | RESUMING | RUNNING → RUNNING_P2P → STOP → RESUMING | returns NEW data_fd |",
	"| RUNNING | RUNNING_P2P | RUNNING → RUNNING_P2P | data_fd=-1 |",
	"| STOP_COPY | STOP | STOP_COPY → STOP | data_fd=-1; terminates session via STOP_COPY→STOP |",
	"| STOP_COPY | RUNNING | STOP_COPY → STOP → RUNNING_P2P → RUNNING | data_fd=-1; terminates session via STOP_COPY→STOP |",
	"| STOP_COPY | RESUMING | STOP_COPY → STOP → RESUMING | returns NEW data_fd; terminates session via STOP_COPY→STOP |",
	"| STOP_COPY | RUNNING_P2P | STOP_COPY → STOP → RUNNING_P2P | data_fd=-1; terminates session via STOP_COPY→STOP |",
	"| RESUMING | STOP | RESUMING → STOP | data_fd=-1; terminates session via RESUMING→STOP |",
	"| RESUMING | RUNNING | RESUMING → STOP → RUNNING_P2P → RUNNING | data_fd=-1; terminates session via RESUMING→STOP |",
	"| RESUMING | STOP_COPY | RESUMING → STOP → STOP_COPY | returns NEW data_fd; terminates session via RESUMING→STOP |",
	"| RESUMING | RUNNING_P2P | RESUMING → STOP → RUNNING_P2P | data_fd=-1; terminates session via RESUMING→STOP |",
	"| RUNNING_P2P | STOP | RUNNING_P2P → STOP | data_fd=-1 |",
	"| RUNNING_P2P | RUNNING | RUNNING_P2P → RUNNING | data_fd=-1 |",
	"| RUNNING_P2P | STOP_COPY | RUNNING_P2P → STOP → STOP_COPY | returns NEW data_fd |",
	"| RUNNING_P2P | RESUMING | RUNNING_P2P → STOP → RESUMING | returns NEW data_fd |",
};

static const char *const doc_next_f5[] = {
	"| **ERROR** | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN |",
	"| **STOP** | EINVAL | (STOP) | RUNNING | STOP_COPY | RESUMING | EINVAL | RUNNING | EINVAL | EINVAL |",
	"| **RUNNING** | EINVAL | STOP | (RUNNING) | STOP | STOP | EINVAL | PRE_COPY | EINVAL | EINVAL |",
	"| **STOP_COPY** | EINVAL | STOP | STOP | (STOP_COPY) | STOP | EINVAL | EINVAL | EINVAL | EINVAL |",
	"| **RESUMING** | EINVAL | STOP | STOP | STOP | (RESUMING) | EINVAL | STOP | EINVAL | EINVAL |",
	"| **RUNNING_P2P** | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |",
	"| **PRE_COPY** | EINVAL | RUNNING | RUNNING | STOP_COPY | RUNNING | EINVAL | (PRE_COPY) | EINVAL | EINVAL |",
	"| **PRE_COPY_P2P** | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |",
};

static const char *const doc_arcs_f5[] = {
	"| STOP | RUNNING | STOP → RUNNING | data_fd=-1 |",
	"| STOP | STOP_COPY | STOP → STOP_COPY | returns NEW data_fd |",
	"| STOP | RESUMING | STOP → RESUMING | returns NEW data_fd |",
	"| STOP | PRE_COPY | STOP → RUNNING → PRE_COPY | returns NEW data_fd |",
	"| RUNNING | STOP | RUNNING → STOP | data_fd=-1 |",
	"| RUNNING | STOP_COPY | RUNNING → STOP → STOP_COPY | returns NEW data_fd |",
	"| RUNNING | RESUMING | RUNNING → STOP → RESUMING | returns NEW data_fd |",
	"| RUNNING | PRE_COPY | RUNNING → PRE_COPY | returns NEW data_fd |",
	"| STOP_COPY | STOP | STOP_COPY → STOP | data_fd=-1; terminates session via STOP_COPY→STOP |",
	"| STOP_COPY | RUNNING | STOP_COPY → STOP → RUNNING | data_fd=-1; terminates session via STOP_COPY→STOP |",
	"| STOP_COPY | RESUMING | STOP_COPY → STOP → RESUMING | returns NEW data_fd; terminates session via STOP_COPY→STOP |",
	"| STOP_COPY | PRE_COPY | — | -EINVAL (no arc executed, state unchanged) |",
	"| RESUMING | STOP | RESUMING → STOP | data_fd=-1; terminates session via RESUMING→STOP |",
	"| RESUMING | RUNNING | RESUMING → STOP → RUNNING | data_fd=-1; terminates session via RESUMING→STOP |",
	"| RESUMING | STOP_COPY | RESUMING → STOP → STOP_COPY | returns NEW data_fd; terminates session via RESUMING→STOP |",
	"| RESUMING | PRE_COPY | RESUMING → STOP → RUNNING → PRE_COPY | returns NEW data_fd; terminates session via RESUMING→STOP |",
	"| PRE_COPY | STOP | PRE_COPY → RUNNING → STOP | data_fd=-1; terminates session via PRE_COPY→RUNNING |",
	"| PRE_COPY | RUNNING | PRE_COPY → RUNNING | data_fd=-1; terminates session via PRE_COPY→RUNNING |",
	"| PRE_COPY | STOP_COPY | PRE_COPY → STOP_COPY | data_fd=-1 |",
	"| PRE_COPY | RESUMING | PRE_COPY → RUNNING → STOP → RESUMING | returns NEW data_fd; terminates session via PRE_COPY→RUNNING |",
};

static const char *const doc_next_f7[] = {
	"| **ERROR** | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN | EINVAL+WARN |",
	"| **STOP** | EINVAL | (STOP) | RUNNING_P2P | STOP_COPY | RESUMING | RUNNING_P2P | RUNNING_P2P | RUNNING_P2P | EINVAL |",
	"| **RUNNING** | EINVAL | RUNNING_P2P | (RUNNING) | RUNNING_P2P | RUNNING_P2P | RUNNING_P2P | PRE_COPY | RUNNING_P2P | EINVAL |",
	"| **STOP_COPY** | EINVAL | STOP | STOP | (STOP_COPY) | STOP | STOP | EINVAL | EINVAL | EINVAL |",
	"| **RESUMING** | EINVAL | STOP | STOP | STOP | (RESUMING) | STOP | STOP | STOP | EINVAL |",
	"| **RUNNING_P2P** | EINVAL | STOP | RUNNING | STOP | STOP | (RUNNING_P2P) | RUNNING | PRE_COPY_P2P | EINVAL |",
	"| **PRE_COPY** | EINVAL | RUNNING | RUNNING | PRE_COPY_P2P | RUNNING | RUNNING | (PRE_COPY) | PRE_COPY_P2P | EINVAL |",
	"| **PRE_COPY_P2P** | EINVAL | RUNNING_P2P | RUNNING_P2P | STOP_COPY | RUNNING_P2P | RUNNING_P2P | PRE_COPY | (PRE_COPY_P2P) | EINVAL |",
};

static const char *const doc_arcs_f7[] = {
	"| STOP | RUNNING | STOP → RUNNING_P2P → RUNNING | data_fd=-1 |",
	"| STOP | STOP_COPY | STOP → STOP_COPY | returns NEW data_fd |",
	"| STOP | RESUMING | STOP → RESUMING | returns NEW data_fd |",
	"| STOP | RUNNING_P2P | STOP → RUNNING_P2P | data_fd=-1 |",
	"| STOP | PRE_COPY | STOP → RUNNING_P2P → RUNNING → PRE_COPY | returns NEW data_fd |",
	"| STOP | PRE_COPY_P2P | STOP → RUNNING_P2P → PRE_COPY_P2P | returns NEW data_fd |",
	"| RUNNING | STOP | RUNNING → RUNNING_P2P → STOP | data_fd=-1 |",
	"| RUNNING | STOP_COPY | RUNNING → RUNNING_P2P → STOP → STOP_COPY | returns NEW data_fd |",
	"| RUNNING | RESUMING | RUNNING → RUNNING_P2P → STOP → RESUMING | returns NEW data_fd |",
	"| RUNNING | RUNNING_P2P | RUNNING → RUNNING_P2P | data_fd=-1 |",
	"| RUNNING | PRE_COPY | RUNNING → PRE_COPY | returns NEW data_fd |",
	"| RUNNING | PRE_COPY_P2P | RUNNING → RUNNING_P2P → PRE_COPY_P2P | returns NEW data_fd |",
	"| STOP_COPY | STOP | STOP_COPY → STOP | data_fd=-1; terminates session via STOP_COPY→STOP |",
	"| STOP_COPY | RUNNING | STOP_COPY → STOP → RUNNING_P2P → RUNNING | data_fd=-1; terminates session via STOP_COPY→STOP |",
	"| STOP_COPY | RESUMING | STOP_COPY → STOP → RESUMING | returns NEW data_fd; terminates session via STOP_COPY→STOP |",
	"| STOP_COPY | RUNNING_P2P | STOP_COPY → STOP → RUNNING_P2P | data_fd=-1; terminates session via STOP_COPY→STOP |",
	"| STOP_COPY | PRE_COPY | — | -EINVAL (no arc executed, state unchanged) |",
	"| STOP_COPY | PRE_COPY_P2P | — | -EINVAL (no arc executed, state unchanged) |",
	"| RESUMING | STOP | RESUMING → STOP | data_fd=-1; terminates session via RESUMING→STOP |",
	"| RESUMING | RUNNING | RESUMING → STOP → RUNNING_P2P → RUNNING | data_fd=-1; terminates session via RESUMING→STOP |",
	"| RESUMING | STOP_COPY | RESUMING → STOP → STOP_COPY | returns NEW data_fd; terminates session via RESUMING→STOP |",
	"| RESUMING | RUNNING_P2P | RESUMING → STOP → RUNNING_P2P | data_fd=-1; terminates session via RESUMING→STOP |",
	"| RESUMING | PRE_COPY | RESUMING → STOP → RUNNING_P2P → RUNNING → PRE_COPY | returns NEW data_fd; terminates session via RESUMING→STOP |",
	"| RESUMING | PRE_COPY_P2P | RESUMING → STOP → RUNNING_P2P → PRE_COPY_P2P | returns NEW data_fd; terminates session via RESUMING→STOP |",
	"| RUNNING_P2P | STOP | RUNNING_P2P → STOP | data_fd=-1 |",
	"| RUNNING_P2P | RUNNING | RUNNING_P2P → RUNNING | data_fd=-1 |",
	"| RUNNING_P2P | STOP_COPY | RUNNING_P2P → STOP → STOP_COPY | returns NEW data_fd |",
	"| RUNNING_P2P | RESUMING | RUNNING_P2P → STOP → RESUMING | returns NEW data_fd |",
	"| RUNNING_P2P | PRE_COPY | RUNNING_P2P → RUNNING → PRE_COPY | returns NEW data_fd |",
	"| RUNNING_P2P | PRE_COPY_P2P | RUNNING_P2P → PRE_COPY_P2P | returns NEW data_fd |",
	"| PRE_COPY | STOP | PRE_COPY → RUNNING → RUNNING_P2P → STOP | data_fd=-1; terminates session via PRE_COPY→RUNNING |",
	"| PRE_COPY | RUNNING | PRE_COPY → RUNNING | data_fd=-1; terminates session via PRE_COPY→RUNNING |",
	"| PRE_COPY | STOP_COPY | PRE_COPY → PRE_COPY_P2P → STOP_COPY | data_fd=-1 |",
	"| PRE_COPY | RESUMING | PRE_COPY → RUNNING → RUNNING_P2P → STOP → RESUMING | returns NEW data_fd; terminates session via PRE_COPY→RUNNING |",
	"| PRE_COPY | RUNNING_P2P | PRE_COPY → RUNNING → RUNNING_P2P | data_fd=-1; terminates session via PRE_COPY→RUNNING |",
	"| PRE_COPY | PRE_COPY_P2P | PRE_COPY → PRE_COPY_P2P | data_fd=-1 |",
	"| PRE_COPY_P2P | STOP | PRE_COPY_P2P → RUNNING_P2P → STOP | data_fd=-1; terminates session via PRE_COPY_P2P→RUNNING_P2P |",
	"| PRE_COPY_P2P | RUNNING | PRE_COPY_P2P → RUNNING_P2P → RUNNING | data_fd=-1; terminates session via PRE_COPY_P2P→RUNNING_P2P |",
	"| PRE_COPY_P2P | STOP_COPY | PRE_COPY_P2P → STOP_COPY | data_fd=-1 |",
	"| PRE_COPY_P2P | RESUMING | PRE_COPY_P2P → RUNNING_P2P → STOP → RESUMING | returns NEW data_fd; terminates session via PRE_COPY_P2P→RUNNING_P2P |",
	"| PRE_COPY_P2P | RUNNING_P2P | PRE_COPY_P2P → RUNNING_P2P | data_fd=-1; terminates session via PRE_COPY_P2P→RUNNING_P2P |",
	"| PRE_COPY_P2P | PRE_COPY | PRE_COPY_P2P → PRE_COPY | data_fd=-1 |",
};

/* Section 3.3, state_flags_table: the flags each state requires (ERROR: ~0U). */
static const uint64_t doc_state_flags[8] = {
	0xffffffffull, /* ERROR */
	1,	       /* STOP: STOP_COPY */
	1,	       /* RUNNING */
	1,	       /* STOP_COPY */
	1,	       /* RESUMING */
	1 | 2,	       /* RUNNING_P2P: STOP_COPY|P2P */
	1 | 4,	       /* PRE_COPY: STOP_COPY|PRE_COPY */
	1 | 2 | 4,     /* PRE_COPY_P2P */
};

/* Section 3.4 end: the four opening and the four ending arcs. */
static const uint32_t doc_open_arcs[4][2] = {{2, 6}, {5, 7}, {1, 3}, {1, 4}};
static const uint32_t doc_end_arcs[4][2] = {{6, 2}, {7, 5}, {3, 1}, {4, 1}};

/* ---- parsing the transcription ------------------------------------------------------ */

static const char *const names[8] = {"ERROR",	 "STOP",	"RUNNING",  "STOP_COPY",
				     "RESUMING", "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P"};

#define NOT_A_STATE 0xffffu

static uint32_t name_to_state(const char *s)
{
	for (uint32_t i = 0; i < 8; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return NOT_A_STATE;
}

/* Splits "| a | b | c |" into trimmed cells (markdown bold stars removed). */
static int split_row(const char *row, char cells[][160], int max)
{
	int n = 0;
	const char *p = strchr(row, '|');

	assert_non_null(p);
	p++;
	while (*p && n < max) {
		const char *q = strchr(p, '|');
		size_t len;

		if (!q)
			break;
		while (p < q && (*p == ' ' || *p == '*'))
			p++;
		len = (size_t)(q - p);
		while (len && (p[len - 1] == ' ' || p[len - 1] == '*'))
			len--;
		assert_true(len < 160);
		memcpy(cells[n], p, len);
		cells[n][len] = '\0';
		n++;
		p = q + 1;
	}
	return n;
}

/* "A → B → C" into states; returns the count (0 for "—"). */
static size_t parse_arrow_list(const char *text, uint32_t *out, size_t max)
{
	static const char arrow[] = "\xe2\x86\x92"; /* U+2192 */
	char buf[256];
	size_t n = 0;
	char *p = buf;

	if (strcmp(text, "\xe2\x80\x94") == 0) /* U+2014, "no arc executed" */
		return 0;
	snprintf(buf, sizeof(buf), "%s", text);
	for (;;) {
		char *a = strstr(p, arrow);
		char *s = p, *e;

		if (a)
			*a = '\0';
		while (*s == ' ')
			s++;
		e = s + strlen(s);
		while (e > s && e[-1] == ' ')
			*--e = '\0';
		assert_true(n < max);
		out[n] = name_to_state(s);
		if (out[n] == NOT_A_STATE)
			fail_msg("doc transcription: '%s' is not a state name", s);
		n++;
		if (!a)
			break;
		p = a + strlen(arrow);
	}
	return n;
}

/* The next-step cell: -EINVAL, or 0 with *next. */
static int parse_next_cell(const char *cell, uint32_t cur, uint32_t *next)
{
	if (!strcmp(cell, "EINVAL") || !strcmp(cell, "EINVAL+WARN") || !strcmp(cell, "n/a"))
		return -EINVAL;
	if (cell[0] == '(') {
		char s[64];
		size_t len = strlen(cell);

		assert_true(len > 2 && cell[len - 1] == ')');
		memcpy(s, cell + 1, len - 2);
		s[len - 2] = '\0';
		*next = name_to_state(s);
		assert_int_equal(*next, cur);
		return 0;
	}
	*next = name_to_state(cell);
	if (*next == NOT_A_STATE)
		fail_msg("doc transcription: bad next-step cell '%s'", cell);
	return 0;
}

struct doc_arc_row {
	uint32_t cur, target;
	int rc; /* 0 or -EINVAL */
	uint32_t path[16];
	size_t len; /* states in the path (arcs + 1) */
	bool new_fd;
	bool ends; /* "terminates session via X->Y" */
	uint32_t end_from, end_to;
};

static void parse_arc_row(const char *row, struct doc_arc_row *r)
{
	char cells[4][160];
	const char *via;

	memset(r, 0, sizeof(*r));
	assert_int_equal(split_row(row, cells, 4), 4);
	r->cur = name_to_state(cells[0]);
	r->target = name_to_state(cells[1]);
	assert_int_not_equal(r->cur, NOT_A_STATE);
	assert_int_not_equal(r->target, NOT_A_STATE);
	r->len = parse_arrow_list(cells[2], r->path, 16);
	if (r->len == 0) {
		assert_non_null(strstr(cells[3], "-EINVAL"));
		r->rc = -EINVAL;
		return;
	}
	r->new_fd = strncmp(cells[3], "returns NEW data_fd", 19) == 0;
	if (!r->new_fd)
		assert_int_equal(strncmp(cells[3], "data_fd=-1", 10), 0);
	via = strstr(cells[3], "terminates session via ");
	if (via) {
		uint32_t arc[4];

		assert_int_equal(parse_arrow_list(via + strlen("terminates session via "), arc, 4),
				 2);
		r->ends = true;
		r->end_from = arc[0];
		r->end_to = arc[1];
	}
}

struct doc_flags {
	uint64_t flags;
	const char *const *next;
	const char *const *arcs;
	size_t n_arcs;
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
static const struct doc_flags doc_flags[] = {
	{1, doc_next_f1, doc_arcs_f1, N(doc_arcs_f1)},
	{3, doc_next_f3, doc_arcs_f3, N(doc_arcs_f3)},
	{5, doc_next_f5, doc_arcs_f5, N(doc_arcs_f5)},
	{7, doc_next_f7, doc_arcs_f7, N(doc_arcs_f7)},
};

static uint32_t doc_raw(uint32_t cur, uint32_t target)
{
	char cells[9][160];

	assert_true(cur < 8 && target < 8);
	assert_int_equal(split_row(doc_raw_table[cur], cells, 9), 9);
	assert_int_equal(name_to_state(cells[0]), cur);
	return name_to_state(cells[1 + target]);
}

/* ---- an independent model of vfio_mig_get_next_state() (section 3.4) ---------------- */

static bool model_supported(uint64_t flags, uint32_t s)
{
	uint32_t need;

	if (s >= 8)
		return false;
	/* The kernel's table is unsigned int: ERROR needs ~0U, which no u64 flags word
	 * with bits 3..31 clear satisfies; the library must treat ERROR as never
	 * supported in any case. */
	if (s == 0)
		return false;
	need = (uint32_t)doc_state_flags[s];
	return (flags & need) == need;
}

static int model_next(uint64_t flags, uint32_t cur, uint32_t target, uint32_t *next)
{
	uint32_t n;

	if (!model_supported(flags, cur) || !model_supported(flags, target))
		return -EINVAL;
	n = doc_raw(cur, target);
	while (n != 0 && !model_supported(flags, n))
		n = doc_raw(n, target);
	if (n == 0)
		return -EINVAL;
	*next = n;
	return 0;
}

/* State values to try: every state, the first invalid ones and a few absurd ones. */
static const uint32_t probe_states[] = {0, 1, 2, 3,  4,	  5,	       6,
					7, 8, 9, 16, 255, 0x80000000u, 0xffffffffu};

/* ---- tests ---------------------------------------------------------------------------- */

/* Section 3.2 with every optional state supported (flags 7): one step is the raw table,
 * ERROR cells are refusals. */
static void test_raw_table_full_feature(void **st)
{
	(void)st;
	for (uint32_t cur = 1; cur < 8; cur++) {
		for (uint32_t t = 0; t < 8; t++) {
			uint32_t next = 0xdead, want = doc_raw(cur, t);
			int rc = vfm_fsm_next(7, cur, t, &next);

			if (want == 0) {
				assert_int_equal(rc, -EINVAL);
				assert_int_equal(next, 0xdead);
			} else {
				assert_int_equal(rc, 0);
				if (next != want)
					fail_msg("flags 7 %s->%s: next %s, doc %s", names[cur],
						 names[t], vfm_state_name(next), names[want]);
			}
		}
	}
	/* Row ERROR of the raw table is all ERROR: cur ERROR is always refused. */
	for (uint32_t t = 0; t < 8; t++) {
		uint32_t next;

		assert_int_equal(doc_raw(0, t), 0);
		assert_int_equal(vfm_fsm_next(7, 0, t, &next), -EINVAL);
	}
}

/* Section 3.4's per-flags next-step tables, including the ">= 8" column. */
static void test_next_tables_doc(void **st)
{
	(void)st;
	for (size_t f = 0; f < N(doc_flags); f++) {
		const struct doc_flags *d = &doc_flags[f];

		for (uint32_t cur = 0; cur < 8; cur++) {
			char cells[10][160];

			assert_int_equal(split_row(d->next[cur], cells, 10), 10);
			assert_int_equal(name_to_state(cells[0]), cur);
			for (uint32_t col = 0; col < 9; col++) {
				uint32_t want = 0, got = 0xdead, model = 0xbeef;
				int wrc = parse_next_cell(cells[1 + col], cur, &want);
				/* column 8 stands for every value >= 8 */
				size_t ntries = col == 8 ? 5 : 1;
				static const uint32_t big[] = {8, 9, 100, 0x80000000u, 0xffffffffu};

				for (size_t k = 0; k < ntries; k++) {
					uint32_t t = col == 8 ? big[k] : col;
					int rc = vfm_fsm_next(d->flags, cur, t, &got);
					int mrc = model_next(d->flags, cur, t, &model);

					if (rc != wrc || (wrc == 0 && got != want))
						fail_msg(
							"flags %llu %s -> %u: library rc %d next %s, "
							"doc rc %d next %s",
							(unsigned long long)d->flags, names[cur], t,
							rc, vfm_state_name(got), wrc,
							wrc ? "-" : names[want]);
					/* the model must agree with the doc (transcription check) */
					assert_int_equal(mrc, wrc);
					if (!wrc)
						assert_int_equal(model, want);
				}
			}
		}
	}
}

/* Every flag set 0..7 (and unknown high bits, which the kernel ignores) x every
 * (cur, new) pair including values >= 8, against the independent model. */
static void test_next_all_flags_model(void **st)
{
	static const uint64_t extra[] = {0, 8, 1ull << 31, 1ull << 40, 0xfffffff8ull};

	(void)st;
	for (size_t e = 0; e < N(extra); e++) {
		for (uint64_t f = 0; f < 8; f++) {
			uint64_t flags = f | extra[e];

			for (size_t i = 0; i < N(probe_states); i++) {
				for (size_t j = 0; j < N(probe_states); j++) {
					uint32_t cur = probe_states[i], t = probe_states[j];
					uint32_t got = 0xdead, want = 0xbeef;
					int rc = vfm_fsm_next(flags, cur, t, &got);
					int wrc = model_next(flags, cur, t, &want);

					if (rc != wrc || (!rc && got != want))
						fail_msg(
							"flags 0x%llx %u -> %u: library rc %d next %u, "
							"model rc %d next %u",
							(unsigned long long)flags, cur, t, rc, got,
							wrc, want);
				}
			}
		}
	}
}

/* Without STOP_COPY no state is supported: every request is refused. */
static void test_no_stop_copy_refuses_all(void **st)
{
	static const uint64_t flagsets[] = {0, 2, 4, 6, 8, 0xe, 0xfffffffffffffffeull};

	(void)st;
	for (size_t f = 0; f < N(flagsets); f++) {
		for (uint32_t s = 0; s < 10; s++) {
			assert_false(vfm_state_supported(flagsets[f], s));
			for (uint32_t t = 0; t < 10; t++) {
				uint32_t next, path[VFM_FSM_MAX_PATH];
				size_t len = 99;

				assert_int_equal(vfm_fsm_next(flagsets[f], s, t, &next), -EINVAL);
				assert_int_equal(vfm_fsm_path(flagsets[f], s, t, path, &len),
						 -EINVAL);
				assert_int_equal(len, 0);
			}
		}
	}
}

/* Section 3.4's full arc sequences, row by row, and that the rows cover every pair of
 * distinct supported states. */
static void test_paths_doc(void **st)
{
	(void)st;
	for (size_t f = 0; f < N(doc_flags); f++) {
		const struct doc_flags *d = &doc_flags[f];
		bool seen[8][8] = {{false}};
		size_t nsup = 0;

		for (uint32_t s = 0; s < 8; s++)
			nsup += model_supported(d->flags, s);
		assert_int_equal(d->n_arcs, nsup * (nsup - 1));
		for (size_t i = 0; i < d->n_arcs; i++) {
			struct doc_arc_row r;
			uint32_t path[VFM_FSM_MAX_PATH];
			size_t len = 99;
			int rc;

			parse_arc_row(d->arcs[i], &r);
			assert_false(seen[r.cur][r.target]);
			seen[r.cur][r.target] = true;
			rc = vfm_fsm_path(d->flags, r.cur, r.target, path, &len);
			if (r.rc) {
				if (rc != -EINVAL || len != 0)
					fail_msg(
						"flags %llu %s -> %s: doc -EINVAL, library rc %d len %zu",
						(unsigned long long)d->flags, names[r.cur],
						names[r.target], rc, len);
				continue;
			}
			assert_int_equal(rc, 0);
			assert_int_equal(r.path[0], r.cur);
			assert_int_equal(r.path[r.len - 1], r.target);
			if (len != r.len || memcmp(path, r.path, len * sizeof(path[0])) != 0)
				fail_msg(
					"flags %llu %s -> %s: library path differs from the doc (row "
					"%zu: %s)",
					(unsigned long long)d->flags, names[r.cur], names[r.target],
					i, d->arcs[i]);
		}
		for (uint32_t a = 0; a < 8; a++)
			for (uint32_t b = 0; b < 8; b++)
				assert_int_equal(seen[a][b], a != b &&
								     model_supported(d->flags, a) &&
								     model_supported(d->flags, b));
	}
}

static bool in_set(const uint32_t set[4][2], uint32_t from, uint32_t to)
{
	for (int i = 0; i < 4; i++)
		if (set[i][0] == from && set[i][1] == to)
			return true;
	return false;
}

/* The doc's data_fd and session columns: a new fd iff the last arc is one of the four
 * opening arcs; the session ends iff the path holds one of the four ending arcs (and
 * through that one arc). */
static void test_sessions_doc(void **st)
{
	(void)st;
	for (size_t f = 0; f < N(doc_flags); f++) {
		const struct doc_flags *d = &doc_flags[f];

		for (size_t i = 0; i < d->n_arcs; i++) {
			struct doc_arc_row r;
			uint32_t path[VFM_FSM_MAX_PATH];
			size_t len, nend = 0;
			bool fd = false;

			parse_arc_row(d->arcs[i], &r);
			if (r.rc)
				continue;
			assert_int_equal(vfm_fsm_path(d->flags, r.cur, r.target, path, &len), 0);
			for (size_t k = 0; k + 1 < len; k++) {
				bool opens = vfm_arc_opens_session(path[k], path[k + 1]);
				bool ends = vfm_arc_ends_session(path[k], path[k + 1]);

				if (opens && k + 2 != len)
					fail_msg("fd-opening arc %s->%s is interior to %s",
						 names[path[k]], names[path[k + 1]], d->arcs[i]);
				if (opens)
					fd = true;
				if (ends) {
					nend++;
					assert_true(r.ends);
					assert_int_equal(path[k], r.end_from);
					assert_int_equal(path[k + 1], r.end_to);
				}
			}
			if (fd != r.new_fd)
				fail_msg("data_fd: library %d, doc %d for %s", fd, r.new_fd,
					 d->arcs[i]);
			assert_int_equal(nend, r.ends ? 1 : 0);
		}
	}
}

/* Exactly four opening and four ending arcs, over every pair of values. */
static void test_arc_predicates(void **st)
{
	(void)st;
	for (size_t i = 0; i < N(probe_states); i++) {
		for (size_t j = 0; j < N(probe_states); j++) {
			uint32_t a = probe_states[i], b = probe_states[j];

			assert_int_equal(vfm_arc_opens_session(a, b), in_set(doc_open_arcs, a, b));
			assert_int_equal(vfm_arc_ends_session(a, b), in_set(doc_end_arcs, a, b));
		}
	}
}

/* Over every path of every flag set: a well-formed walk of vfm_fsm_next, no fd-opening
 * arc in the interior, sessions open/end only as the doc's rules say. */
static void test_all_paths_well_formed(void **st)
{
	(void)st;
	for (uint64_t flags = 0; flags < 8; flags++) {
		for (size_t i = 0; i < N(probe_states); i++) {
			for (size_t j = 0; j < N(probe_states); j++) {
				uint32_t cur = probe_states[i], t = probe_states[j];
				uint32_t path[VFM_FSM_MAX_PATH];
				size_t len = 99;
				int rc = vfm_fsm_path(flags, cur, t, path, &len);
				bool valid =
					model_supported(flags, cur) && model_supported(flags, t);
				bool seen[8] = {false};

				/* refused exactly when the model refuses some step */
				if (valid && cur != t) {
					uint32_t c = cur, n;
					int k = 0;

					while (c != t && model_next(flags, c, t, &n) == 0 &&
					       k++ < 10)
						c = n;
					valid = c == t;
				}
				if (!valid) {
					assert_int_equal(rc, -EINVAL);
					assert_int_equal(len, 0);
					continue;
				}
				assert_int_equal(rc, 0);
				assert_true(len >= 1 && len <= VFM_FSM_MAX_PATH);
				assert_int_equal(path[0], cur);
				assert_int_equal(path[len - 1], t);
				if (cur == t)
					assert_int_equal(len, 1);
				for (size_t k = 0; k < len; k++) {
					assert_true(model_supported(flags, path[k]));
					assert_false(seen[path[k]]); /* no state twice */
					seen[path[k]] = true;
				}
				for (size_t k = 0; k + 1 < len; k++) {
					uint32_t n;

					assert_int_equal(model_next(flags, path[k], t, &n), 0);
					assert_int_equal(n, path[k + 1]);
					if (vfm_arc_opens_session(path[k], path[k + 1]))
						assert_int_equal(k + 2, len);
				}
			}
		}
	}
}

/* The refusals the doc lists explicitly. */
static void test_einval_cases(void **st)
{
	uint32_t next, path[VFM_FSM_MAX_PATH];
	size_t len;

	(void)st;
	for (uint64_t flags = 1; flags < 8; flags += 2) {
		for (uint32_t cur = 0; cur < 8; cur++) {
			/* new == ERROR, new >= 8 */
			assert_int_equal(vfm_fsm_next(flags, cur, VFM_STATE_ERROR, &next), -EINVAL);
			assert_int_equal(vfm_fsm_next(flags, cur, VFM_STATE_NR, &next), -EINVAL);
			assert_int_equal(vfm_fsm_next(flags, cur, 0xffffffffu, &next), -EINVAL);
			len = 5;
			assert_int_equal(vfm_fsm_path(flags, cur, VFM_STATE_ERROR, path, &len),
					 -EINVAL);
			assert_int_equal(len, 0);
			/* cur ERROR (the kernel WARNs), cur >= 8 */
			assert_int_equal(vfm_fsm_next(flags, VFM_STATE_ERROR, cur, &next), -EINVAL);
			assert_int_equal(vfm_fsm_next(flags, VFM_STATE_NR + cur, cur, &next),
					 -EINVAL);
			len = 5;
			assert_int_equal(vfm_fsm_path(flags, VFM_STATE_ERROR, cur, path, &len),
					 -EINVAL);
			assert_int_equal(len, 0);
		}
	}
	/* SET(ERROR) while in ERROR is refused too (no "cur == new" shortcut for ERROR) */
	assert_int_equal(vfm_fsm_next(7, VFM_STATE_ERROR, VFM_STATE_ERROR, &next), -EINVAL);
	len = 5;
	assert_int_equal(vfm_fsm_path(7, VFM_STATE_ERROR, VFM_STATE_ERROR, path, &len), -EINVAL);
	assert_int_equal(len, 0);
	/* STOP_COPY -> PRE_COPY / PRE_COPY_P2P: not permitted (section 2.3) */
	assert_int_equal(vfm_fsm_next(5, VFM_STATE_STOP_COPY, VFM_STATE_PRE_COPY, &next), -EINVAL);
	assert_int_equal(vfm_fsm_next(7, VFM_STATE_STOP_COPY, VFM_STATE_PRE_COPY, &next), -EINVAL);
	assert_int_equal(vfm_fsm_next(7, VFM_STATE_STOP_COPY, VFM_STATE_PRE_COPY_P2P, &next),
			 -EINVAL);
	assert_int_equal(vfm_fsm_path(7, VFM_STATE_STOP_COPY, VFM_STATE_PRE_COPY_P2P, path, &len),
			 -EINVAL);
	assert_int_equal(len, 0);
	/* unsupported optional states, as cur and as new */
	assert_int_equal(vfm_fsm_next(1, VFM_STATE_RUNNING, VFM_STATE_RUNNING_P2P, &next), -EINVAL);
	assert_int_equal(vfm_fsm_next(5, VFM_STATE_RUNNING, VFM_STATE_RUNNING_P2P, &next), -EINVAL);
	assert_int_equal(vfm_fsm_next(3, VFM_STATE_RUNNING, VFM_STATE_PRE_COPY, &next), -EINVAL);
	assert_int_equal(vfm_fsm_next(5, VFM_STATE_RUNNING, VFM_STATE_PRE_COPY_P2P, &next),
			 -EINVAL);
	assert_int_equal(vfm_fsm_next(3, VFM_STATE_PRE_COPY, VFM_STATE_RUNNING, &next), -EINVAL);
	assert_int_equal(vfm_fsm_next(1, VFM_STATE_RUNNING_P2P, VFM_STATE_STOP, &next), -EINVAL);
	/* cur == new on a supported state: 0, next = cur */
	assert_int_equal(vfm_fsm_next(7, VFM_STATE_PRE_COPY, VFM_STATE_PRE_COPY, &next), 0);
	assert_int_equal(next, VFM_STATE_PRE_COPY);
	assert_int_equal(vfm_fsm_path(7, VFM_STATE_STOP, VFM_STATE_STOP, path, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(path[0], VFM_STATE_STOP);
}

/* Section 3.4 (flags=7): the longest path is 5 states; the bound holds. */
static void test_longest_path(void **st)
{
	uint32_t path[VFM_FSM_MAX_PATH];
	size_t len, longest = 0;

	(void)st;
	for (uint64_t flags = 0; flags < 8; flags++)
		for (uint32_t a = 0; a < 8; a++)
			for (uint32_t b = 0; b < 8; b++)
				if (vfm_fsm_path(flags, a, b, path, &len) == 0 && len > longest)
					longest = len;
	assert_int_equal(longest, 5);
	assert_int_equal(vfm_fsm_path(7, VFM_STATE_RESUMING, VFM_STATE_PRE_COPY, path, &len), 0);
	assert_int_equal(len, 5);
	assert_true(VFM_FSM_MAX_PATH >= 5);
}

static void test_state_names(void **st)
{
	(void)st;
	for (uint32_t s = 0; s < 8; s++)
		assert_string_equal(vfm_state_name(s), names[s]);
	assert_string_equal(vfm_state_name(8), "INVALID");
	assert_string_equal(vfm_state_name(9), "INVALID");
	assert_string_equal(vfm_state_name(0xffffffffu), "INVALID");
}

static void test_state_parse(void **st)
{
	static const struct {
		const char *text;
		uint32_t state;
	} good[] = {
		{"ERROR", 0},
		{"STOP", 1},
		{"RUNNING", 2},
		{"STOP_COPY", 3},
		{"RESUMING", 4},
		{"RUNNING_P2P", 5},
		{"PRE_COPY", 6},
		{"PRE_COPY_P2P", 7},
		{"stop_copy", 3},
		{"Pre_Copy_P2p", 7},
		{"VFIO_DEVICE_STATE_RUNNING_P2P", 5},
		{"vfio_device_state_resuming", 4},
		{"VFIO_DEVICE_STATE_STOP", 1},
	};
	static const char *const bad[] = {
		"",
		"STOPCOPY",
		"STOP-COPY",
		" STOP",
		"STOP ",
		"INVALID",
		"VFIO_DEVICE_STATE_",
		"VFIO_DEVICE_STATE",
		"STOP_COPY_",
		"RUNNING,STOP",
		"VFIO_DEVICE_STATE_VFIO_DEVICE_STATE_STOP",
		"8",
		"1",
		"PRE",
	};

	(void)st;
	for (size_t i = 0; i < N(good); i++) {
		uint32_t s = 0xdead;

		if (vfm_state_parse(good[i].text, &s) != 0)
			fail_msg("'%s' not parsed", good[i].text);
		assert_int_equal(s, good[i].state);
	}
	for (uint32_t s = 0; s < 8; s++) {
		uint32_t back = 0xdead;

		assert_int_equal(vfm_state_parse(vfm_state_name(s), &back), 0);
		assert_int_equal(back, s);
	}
	for (size_t i = 0; i < N(bad); i++) {
		uint32_t s = 0xdead;

		if (vfm_state_parse(bad[i], &s) != -EINVAL)
			fail_msg("'%s' accepted as state %u", bad[i], s);
		assert_int_equal(s, 0xdead); /* untouched on failure */
	}
	{
		uint32_t s = 0xdead;

		assert_int_equal(vfm_state_parse(NULL, &s), -EINVAL);
	}
}

static void test_flags_parse(void **st)
{
	static const struct {
		const char *text;
		uint64_t flags;
	} good[] = {
		{"7", 7},
		{"0x7", 7},
		{"0X7", 7},
		{"1", 1},
		{"0", 0},
		{"3", 3},
		{"0x5", 5},
		{"stop-copy,p2p,pre-copy", 7},
		{"pre-copy,stop-copy,p2p", 7},
		{"stop-copy", 1},
		{"stop-copy,p2p", 3},
		{"stop-copy,pre-copy", 5},
		{"p2p", 2},
		{"STOP-COPY,P2P", 3},
		{"stop-copy,stop-copy", 1},
		{"0xffffffffffffffff", 0xffffffffffffffffull},
	};
	static const char *const bad[] = {
		"",
		"stop-copy,",
		",p2p",
		"stop-copy,,p2p",
		"bogus",
		"stop_copy",
		"stopcopy",
		"p2p ,stop-copy",
		" 7",
		"7 ",
		"7x",
		"0x",
		"0xg",
		"-1",
		"+7",
		"99999999999999999999999",
		"0x10000000000000000",
		"stop-copy,7",
		"7,stop-copy",
		"pre-copy;p2p",
	};

	(void)st;
	for (size_t i = 0; i < N(good); i++) {
		uint64_t f = 0xdead;

		if (vfm_flags_parse(good[i].text, &f) != 0)
			fail_msg("'%s' not parsed", good[i].text);
		if (f != good[i].flags)
			fail_msg("'%s' parsed as 0x%llx", good[i].text, (unsigned long long)f);
	}
	for (size_t i = 0; i < N(bad); i++) {
		uint64_t f = 0xdead;

		if (vfm_flags_parse(bad[i], &f) != -EINVAL)
			fail_msg("'%s' accepted as 0x%llx", bad[i], (unsigned long long)f);
		assert_int_equal(f, 0xdead);
	}
	{
		uint64_t f = 0xdead;

		assert_int_equal(vfm_flags_parse(NULL, &f), -EINVAL);
	}
}

static void test_flags_format(void **st)
{
	char buf[64];

	(void)st;
	vfm_flags_format(7, buf, sizeof(buf));
	assert_string_equal(buf, "STOP_COPY|P2P|PRE_COPY");
	vfm_flags_format(1, buf, sizeof(buf));
	assert_string_equal(buf, "STOP_COPY");
	vfm_flags_format(5, buf, sizeof(buf));
	assert_string_equal(buf, "STOP_COPY|PRE_COPY");
	vfm_flags_format(2, buf, sizeof(buf));
	assert_string_equal(buf, "P2P");
	vfm_flags_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "none");
	vfm_flags_format(8, buf, sizeof(buf));
	assert_string_equal(buf, "0x8");
	vfm_flags_format(0xf, buf, sizeof(buf));
	assert_string_equal(buf, "STOP_COPY|P2P|PRE_COPY|0x8");
	/* a short buffer is never overrun and stays terminated */
	memset(buf, 'x', sizeof(buf));
	vfm_flags_format(7, buf, 6);
	assert_true(strlen(buf) < 6);
	assert_int_equal(buf[6], 'x');
	vfm_flags_format(7, buf, 0); /* no-op */
	assert_int_equal(buf[6], 'x');
	/* format then parse round trip for every known set */
	for (uint64_t f = 1; f < 8; f++) {
		char lower[64];
		uint64_t back;

		vfm_flags_format(f, buf, sizeof(buf));
		/* "STOP_COPY|P2P" -> "stop-copy,p2p" */
		size_t k;
		for (k = 0; buf[k]; k++)
			lower[k] = buf[k] == '|'   ? ','
				   : buf[k] == '_' ? '-'
						   : (char)(buf[k] | 0x20);
		lower[k] = '\0';
		assert_int_equal(vfm_flags_parse(lower, &back), 0);
		assert_int_equal(back, f);
	}
}

static void test_state_predicates(void **st)
{
	(void)st;
	for (uint32_t s = 0; s < 10; s++) {
		bool saving = s == 3 || s == 6 || s == 7;
		bool precopy = s == 6 || s == 7;
		bool running = s == 2 || s == 5 || s == 6 || s == 7;

		assert_int_equal(vfm_state_is_saving(s), saving);
		assert_int_equal(vfm_state_is_precopy(s), precopy);
		assert_int_equal(vfm_state_is_running(s), running);
		if (s < 8 && s != 0)
			assert_int_equal(vfm_state_required_flags(s), doc_state_flags[s]);
		else
			assert_true((vfm_state_required_flags(s) & 0xffffffffull) == 0xffffffffull);
		for (uint64_t f = 0; f < 16; f++)
			assert_int_equal(vfm_state_supported(f, s), model_supported(f, s));
	}
	/* ERROR is never supported, whatever the flags */
	assert_false(vfm_state_supported(~0ull, VFM_STATE_ERROR));
	assert_false(vfm_state_supported(0xffffffffull, VFM_STATE_ERROR));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_table_full_feature),
		cmocka_unit_test(test_next_tables_doc),
		cmocka_unit_test(test_next_all_flags_model),
		cmocka_unit_test(test_no_stop_copy_refuses_all),
		cmocka_unit_test(test_paths_doc),
		cmocka_unit_test(test_sessions_doc),
		cmocka_unit_test(test_arc_predicates),
		cmocka_unit_test(test_all_paths_well_formed),
		cmocka_unit_test(test_einval_cases),
		cmocka_unit_test(test_longest_path),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_state_parse),
		cmocka_unit_test(test_flags_parse),
		cmocka_unit_test(test_flags_format),
		cmocka_unit_test(test_state_predicates),
	};

	return cmocka_run_group_tests_name("fsm", tests, NULL, NULL);
}
