// SPDX-License-Identifier: BSD-3-Clause
/*
 * The device library (include/vfio-mig/device.h) against the uAPI doc's rules for a
 * migration driver (sections 1.2, 2, 3.4, 3.5 and the checklist of section 7), with a
 * small scripted device written here: it records every arc it is asked to run, can fail
 * any arc (optionally asking for ERROR), saves a known byte string (part of it readable
 * in PRE_COPY, the rest from STOP_COPY on) and checks restored bytes exactly.
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

#include "vfio-mig/device.h"
#include "vfio-mig/fsm.h"
#include "vfio-mig/uapi.h"

#define CONTENT 1000
#define PRE_LEN 300 /* bytes readable in PRE_COPY before the temporary end */

struct sdev {
	struct vfm_device *dev;
	uint64_t flags;
	uint32_t state; /* mirror, updated by step() */
	uint8_t content[CONTENT];
	size_t pos;	     /* save cursor */
	size_t avail_pre;    /* readable in PRE_COPY */
	bool more_after_end; /* misbehave: produce bytes again after a 0 */
	bool said_end;
	uint8_t loaded[CONTENT + 16];
	size_t loaded_len;
	size_t load_calls;
	bool lenient; /* RESUMING -> STOP accepts anything */
	/* scripted failure */
	bool fail_armed;
	uint32_t fail_from, fail_to;
	bool fail_error;
	int fail_rc;
	/* arcs executed (successful or not) */
	uint32_t arcs[64][2];
	size_t narcs;
	int resets;
	int reset_rc;
	/* DMA logging */
	int log_starts, log_stops, log_reports;
	uint32_t last_nr_ranges;
	struct vfm_device_feature_dma_logging_range last_ranges[4];
	uint64_t last_page_size;
	uint64_t report_args[3];
};

static int s_step(void *opaque, uint32_t from, uint32_t to, bool *enter_error)
{
	struct sdev *d = opaque;

	assert_true(d->narcs < 64);
	d->arcs[d->narcs][0] = from;
	d->arcs[d->narcs][1] = to;
	d->narcs++;
	/* the library hands over single arcs from the state it believes in */
	assert_int_equal(from, d->state);
	if (d->fail_armed && from == d->fail_from && to == d->fail_to) {
		*enter_error = d->fail_error;
		return d->fail_rc;
	}
	if (from == VFM_STATE_RESUMING && to == VFM_STATE_STOP && !d->lenient) {
		if (d->loaded_len != CONTENT || memcmp(d->loaded, d->content, CONTENT) != 0)
			return -EINVAL;
	}
	if (vfm_arc_opens_session(from, to)) {
		d->pos = 0;
		d->said_end = false;
		d->loaded_len = 0;
	}
	d->state = to;
	return 0;
}

static ssize_t s_save(void *opaque, void *buf, size_t len)
{
	struct sdev *d = opaque;
	size_t limit = vfm_state_is_precopy(d->state) ? d->avail_pre : CONTENT;
	size_t n;

	if (d->said_end && d->more_after_end && d->state == VFM_STATE_STOP_COPY) {
		/* a device that finds more bytes after it said "end": must not be seen */
		memset(buf, 0xee, len);
		return (ssize_t)len;
	}
	n = limit > d->pos ? limit - d->pos : 0;
	if (n > len)
		n = len;
	memcpy(buf, d->content + d->pos, n);
	d->pos += n;
	if (n == 0)
		d->said_end = true;
	return (ssize_t)n;
}

static ssize_t s_load(void *opaque, const void *buf, size_t len)
{
	struct sdev *d = opaque;

	d->load_calls++;
	if (d->loaded_len + len > sizeof(d->loaded))
		return -ENOSPC;
	if (buf != d->loaded + d->loaded_len) /* in place after s_load_at */
		memcpy(d->loaded + d->loaded_len, buf, len);
	d->loaded_len += len;
	return (ssize_t)len;
}

/* Zero copy: lends the content in pieces of at most 77 bytes, where it lies. */
static ssize_t s_save_iov(void *opaque, struct iovec *iov, int *cnt, size_t len)
{
	struct sdev *d = opaque;
	size_t limit = vfm_state_is_precopy(d->state) ? d->avail_pre : CONTENT, done = 0;
	int used = 0;

	while (used < *cnt && done < len && d->pos < limit) {
		size_t n = limit - d->pos;

		n = n > 77 ? 77 : n;
		n = n > len - done ? len - done : n;
		iov[used].iov_base = d->content + d->pos;
		iov[used++].iov_len = n;
		d->pos += n;
		done += n;
	}
	*cnt = used;
	return (ssize_t)done;
}

/* Zero copy: the first 7 bytes through load's copy, the rest straight into `loaded`. */
static ssize_t s_load_at(void *opaque, void **at, size_t len)
{
	struct sdev *d = opaque;

	if (d->loaded_len < 7) {
		*at = NULL;
		return (ssize_t)(len < 7 - d->loaded_len ? len : 7 - d->loaded_len);
	}
	if (d->loaded_len >= sizeof(d->loaded))
		return -ENOSPC;
	*at = d->loaded + d->loaded_len;
	return (ssize_t)(len < sizeof(d->loaded) - d->loaded_len
				 ? len
				 : sizeof(d->loaded) - d->loaded_len);
}

static int s_data_size(void *opaque, uint64_t *len)
{
	struct sdev *d = opaque;

	*len = CONTENT - d->pos;
	return 0;
}

static int s_precopy_info(void *opaque, uint64_t *initial, uint64_t *dirty)
{
	struct sdev *d = opaque;

	*initial = d->pos < PRE_LEN ? PRE_LEN - d->pos : 0;
	*dirty = d->avail_pre > PRE_LEN && d->pos < d->avail_pre ? d->avail_pre - d->pos : 0;
	return 0;
}

static int s_reset(void *opaque)
{
	struct sdev *d = opaque;

	d->resets++;
	d->state = VFM_STATE_RUNNING;
	return d->reset_rc;
}

static int s_log_start(void *opaque, const struct vfm_device_feature_dma_logging_range *ranges,
		       uint32_t nr, uint64_t *page_size)
{
	struct sdev *d = opaque;

	d->log_starts++;
	d->last_nr_ranges = nr;
	memcpy(d->last_ranges, ranges, (nr < 4 ? nr : 4) * sizeof(*ranges));
	d->last_page_size = *page_size;
	*page_size = 8192; /* the device picks its own */
	return 0;
}

static int s_log_stop(void *opaque)
{
	struct sdev *d = opaque;

	d->log_stops++;
	return 0;
}

static int s_log_report(void *opaque, uint64_t iova, uint64_t length, uint64_t page_size,
			uint64_t *bitmap)
{
	struct sdev *d = opaque;

	d->log_reports++;
	d->report_args[0] = iova;
	d->report_args[1] = length;
	d->report_args[2] = page_size;
	bitmap[0] |= 0x5;
	return 0;
}

static const struct vfm_device_ops s_ops = {
	.step = s_step,
	.save = s_save,
	.load = s_load,
	.data_size = s_data_size,
	.precopy_info = s_precopy_info,
	.reset = s_reset,
};

static const struct vfm_device_ops s_ops_zc = {
	.step = s_step,
	.save = s_save,
	.load = s_load,
	.data_size = s_data_size,
	.precopy_info = s_precopy_info,
	.reset = s_reset,
	.save_iov = s_save_iov,
	.load_at = s_load_at,
};

static const struct vfm_device_ops s_ops_log = {
	.step = s_step,
	.save = s_save,
	.load = s_load,
	.data_size = s_data_size,
	.precopy_info = s_precopy_info,
	.reset = s_reset,
	.log_start = s_log_start,
	.log_stop = s_log_stop,
	.log_report = s_log_report,
};

static struct sdev *sdev_new_ops(uint64_t flags, bool enomsg, const struct vfm_device_ops *ops)
{
	struct sdev *d = calloc(1, sizeof(*d));
	struct vfm_device_config cfg = {
		.name = "sdev", .flags = flags, .precopy_end_enomsg = enomsg};

	assert_non_null(d);
	d->flags = flags;
	d->state = VFM_STATE_RUNNING;
	d->avail_pre = PRE_LEN;
	d->fail_rc = -EIO;
	for (size_t i = 0; i < CONTENT; i++)
		d->content[i] = (uint8_t)(i * 131 + 17);
	assert_int_equal(vfm_device_create(&cfg, ops, d, &d->dev), 0);
	return d;
}

static struct sdev *sdev_new(uint64_t flags, bool enomsg)
{
	return sdev_new_ops(flags, enomsg, &s_ops);
}

static void sdev_free(struct sdev *d)
{
	vfm_device_destroy(d->dev);
	free(d);
}

/* Moves the device to `state` (lenient about RESUMING -> STOP). */
static void drive(struct sdev *d, uint32_t state, vfm_session_id *sid)
{
	bool lenient = d->lenient;
	vfm_session_id s = 0;

	d->lenient = true;
	assert_int_equal(vfm_device_set_state(d->dev, state, &s), 0);
	assert_int_equal(vfm_device_get_state(d->dev), state);
	d->lenient = lenient;
	d->narcs = 0;
	if (sid)
		*sid = s;
}

static ssize_t read_all(struct sdev *d, vfm_session_id sid, uint8_t *out, size_t max, size_t piece)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = vfm_device_read(d->dev, sid, out + got,
					    piece < max - got ? piece : max - got);

		if (n <= 0)
			return n < 0 && got == 0 ? n : (ssize_t)got;
		got += (size_t)n;
		if (got == max)
			return (ssize_t)got;
	}
}

/* ---- creation ---------------------------------------------------------------------------- */

static void test_create_rules(void **st)
{
	struct vfm_device *dev = NULL;
	struct vfm_device_config cfg = {.name = "x", .flags = 1};
	struct vfm_device_ops ops = s_ops;
	struct sdev d = {0};

	(void)st;
	assert_int_equal(vfm_device_create(NULL, &ops, &d, &dev), -EINVAL);
	assert_int_equal(vfm_device_create(&cfg, NULL, &d, &dev), -EINVAL);
	ops.step = NULL;
	assert_int_equal(vfm_device_create(&cfg, &ops, &d, &dev), -EINVAL);
	ops = s_ops;
	ops.save = NULL;
	assert_int_equal(vfm_device_create(&cfg, &ops, &d, &dev), -EINVAL);
	ops = s_ops;
	ops.load = NULL;
	assert_int_equal(vfm_device_create(&cfg, &ops, &d, &dev), -EINVAL);
	ops = s_ops;
	/* STOP_COPY is required (section 1.3) */
	for (uint64_t f = 0; f < 8; f += 2) {
		cfg.flags = f;
		assert_int_equal(vfm_device_create(&cfg, &ops, &d, &dev), -EINVAL);
	}
	/* PRE_COPY requires the pre-copy info (section 2.6: "mandatory") */
	cfg.flags = 5;
	ops.precopy_info = NULL;
	assert_int_equal(vfm_device_create(&cfg, &ops, &d, &dev), -EINVAL);
	cfg.flags = 3;
	assert_int_equal(vfm_device_create(&cfg, &ops, &d, &dev), 0);
	vfm_device_destroy(dev);
	/* DMA logging: all three or none */
	ops = s_ops_log;
	ops.log_stop = NULL;
	cfg.flags = 7;
	assert_int_equal(vfm_device_create(&cfg, &ops, &d, &dev), -EINVAL);
	ops = s_ops;
	ops.log_report = s_log_report;
	assert_int_equal(vfm_device_create(&cfg, &ops, &d, &dev), -EINVAL);
	/* a good one: RUNNING, no session, its name and flags */
	assert_int_equal(vfm_device_create(&cfg, &s_ops, &d, &dev), 0);
	assert_int_equal(vfm_device_get_state(dev), VFM_STATE_RUNNING);
	assert_int_equal(vfm_device_session(dev), 0);
	assert_int_equal(vfm_device_flags(dev), 7);
	assert_string_equal(vfm_device_name(dev), "x");
	vfm_device_destroy(dev);
	vfm_device_destroy(NULL);
}

/* ---- the FSM walk ------------------------------------------------------------------------- */

/* For flags 1, 3, 5, 7 and every (cur, target): the device sees exactly the kernel's path
 * arc by arc, ends where asked, and gets a new session exactly when the last arc opens
 * one; refusals change nothing. */
static void test_set_state_walks_paths(void **st)
{
	static const uint32_t targets[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xffffffffu};

	(void)st;
	for (uint64_t flags = 1; flags < 8; flags += 2) {
		for (uint32_t cur = 1; cur < 8; cur++) {
			if (!vfm_state_supported(flags, cur))
				continue;
			for (size_t ti = 0; ti < sizeof(targets) / sizeof(targets[0]); ti++) {
				uint32_t t = targets[ti], path[VFM_FSM_MAX_PATH];
				size_t len = 0;
				struct sdev *d = sdev_new(flags, true);
				vfm_session_id before, opened = 12345;
				int want_rc = vfm_fsm_path(flags, cur, t, path, &len);
				int rc;
				bool ends = false;

				d->lenient = true;
				drive(d, cur, NULL);
				before = vfm_device_session(d->dev);
				d->narcs = 0;
				rc = vfm_device_set_state(d->dev, t, &opened);
				if (want_rc) {
					assert_int_equal(rc, -EINVAL);
					assert_int_equal(opened, 0);
					assert_int_equal(d->narcs, 0);
					assert_int_equal(vfm_device_get_state(d->dev), cur);
					assert_int_equal(vfm_device_session(d->dev), before);
					sdev_free(d);
					continue;
				}
				assert_int_equal(rc, 0);
				assert_int_equal(vfm_device_get_state(d->dev), t);
				assert_int_equal(d->narcs, len - 1);
				for (size_t k = 0; k + 1 < len; k++) {
					assert_int_equal(d->arcs[k][0], path[k]);
					assert_int_equal(d->arcs[k][1], path[k + 1]);
					ends |= vfm_arc_ends_session(path[k], path[k + 1]);
				}
				if (len >= 2 &&
				    vfm_arc_opens_session(path[len - 2], path[len - 1])) {
					assert_true(opened != 0);
					assert_true(opened != before);
					assert_int_equal(vfm_device_session(d->dev), opened);
				} else {
					assert_int_equal(opened, 0);
					/* no new session; the old one survives unless ended */
					assert_int_equal(vfm_device_session(d->dev),
							 ends ? 0 : before);
				}
				sdev_free(d);
			}
		}
	}
}

/* SET(cur): success, nothing runs, the session is untouched (section 7 item 7). */
static void test_set_same_state(void **st)
{
	struct sdev *d = sdev_new(7, true);
	vfm_session_id sid, opened = 99;

	(void)st;
	drive(d, VFM_STATE_PRE_COPY, &sid);
	assert_true(sid != 0);
	d->narcs = 0;
	assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_PRE_COPY, &opened), 0);
	assert_int_equal(opened, 0);
	assert_int_equal(d->narcs, 0);
	assert_int_equal(vfm_device_session(d->dev), sid);
	/* NULL for opened is allowed */
	assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_PRE_COPY, NULL), 0);
	sdev_free(d);
}

/* ---- the data session ---------------------------------------------------------------------- */

/* STOP_COPY: end of stream is a 0-byte read and stays 0, never -ENOMSG, even when the
 * device would produce bytes again. */
static void test_stop_copy_end_of_stream(void **st)
{
	for (int enomsg = 0; enomsg < 2; enomsg++) {
		struct sdev *d = sdev_new(7, enomsg);
		vfm_session_id sid;
		uint8_t buf[CONTENT + 10];

		(void)st;
		d->more_after_end = true;
		drive(d, VFM_STATE_STOP_COPY, &sid);
		assert_true(sid != 0);
		assert_int_equal(read_all(d, sid, buf, sizeof(buf), 77), CONTENT);
		assert_memory_equal(buf, d->content, CONTENT);
		for (int i = 0; i < 5; i++)
			assert_int_equal(vfm_device_read(d->dev, sid, buf, sizeof(buf)), 0);
		/* a 0-byte read is 0 too */
		assert_int_equal(vfm_device_read(d->dev, sid, buf, 0), 0);
		sdev_free(d);
	}
}

/* Zero copy absent: both forms say so, and the device is untouched. */
static void test_zero_copy_absent(void **st)
{
	struct sdev *d = sdev_new(7, true);
	struct iovec iov[4];
	vfm_session_id sid;
	int cnt = 4;
	void *at = &cnt;

	(void)st;
	drive(d, VFM_STATE_STOP_COPY, &sid);
	assert_int_equal(vfm_device_read_iov(d->dev, sid, iov, &cnt, 100), -EOPNOTSUPP);
	assert_int_equal(cnt, 0);
	assert_int_equal(d->pos, 0);
	drive(d, VFM_STATE_STOP, NULL);
	drive(d, VFM_STATE_RESUMING, &sid);
	assert_int_equal(vfm_device_write_at(d->dev, sid, &at, 100), -EOPNOTSUPP);
	assert_null(at);
	sdev_free(d);
}

/* Lent reads: the same bytes as reads, the same end of stream, the same session rules. */
static void test_zero_copy_read(void **st)
{
	(void)st;
	for (int enomsg = 0; enomsg < 2; enomsg++) {
		struct sdev *d = sdev_new_ops(7, enomsg, &s_ops_zc);
		uint8_t got[CONTENT];
		struct iovec iov[3];
		vfm_session_id sid, old;
		size_t have = 0;
		ssize_t n;
		int cnt;

		/* PRE_COPY: the temporary end as read() has it */
		drive(d, VFM_STATE_PRE_COPY, &sid);
		do {
			cnt = 3;
			n = vfm_device_read_iov(d->dev, sid, iov, &cnt, 100);
			for (int i = 0; n > 0 && i < cnt; i++) {
				memcpy(got + have, iov[i].iov_base, iov[i].iov_len);
				have += iov[i].iov_len;
			}
			assert_true(n <= 100 && cnt <= 3);
		} while (n > 0);
		assert_int_equal(n, enomsg ? -ENOMSG : 0);
		assert_int_equal(have, PRE_LEN);
		/* on into STOP_COPY with the same session, to the end */
		drive(d, VFM_STATE_STOP_COPY, NULL);
		do {
			cnt = 3;
			n = vfm_device_read_iov(d->dev, sid, iov, &cnt, 100);
			for (int i = 0; n > 0 && i < cnt; i++) {
				memcpy(got + have, iov[i].iov_base, iov[i].iov_len);
				have += iov[i].iov_len;
			}
		} while (n > 0);
		assert_int_equal(n, 0);
		assert_int_equal(cnt, 0);
		assert_int_equal(have, CONTENT);
		assert_memory_equal(got, d->content, CONTENT);
		cnt = 3;
		assert_int_equal(vfm_device_read_iov(d->dev, sid, iov, &cnt, 100), 0);
		/* an ended session, and the wrong direction */
		old = sid;
		drive(d, VFM_STATE_STOP, NULL);
		cnt = 3;
		assert_int_equal(vfm_device_read_iov(d->dev, old, iov, &cnt, 100), -ENODEV);
		drive(d, VFM_STATE_RESUMING, &sid);
		cnt = 3;
		assert_int_equal(vfm_device_read_iov(d->dev, sid, iov, &cnt, 100), -EBADF);
		assert_int_equal(cnt, 0);
		sdev_free(d);
	}
}

/* Writes in place: where the device says, some through load's copy, and the result is
 * what a plain write gives (RESUMING -> STOP validates it). */
static void test_zero_copy_write(void **st)
{
	struct sdev *d = sdev_new_ops(7, true, &s_ops_zc);
	vfm_session_id sid, save;
	size_t done = 0, copied = 0;
	struct iovec iov[1];
	int cnt = 1;
	void *at;

	(void)st;
	drive(d, VFM_STATE_RESUMING, &sid);
	while (done < CONTENT) {
		ssize_t n = vfm_device_write_at(d->dev, sid, &at,
						CONTENT - done > 100 ? 100 : CONTENT - done);

		assert_true(n > 0 && n <= 100);
		if (at)
			memcpy(at, d->content + done, (size_t)n);
		else
			copied += (size_t)n;
		assert_int_equal(
			vfm_device_write(d->dev, sid, at ? at : d->content + done, (size_t)n), n);
		done += (size_t)n;
	}
	assert_int_equal(copied, 7);
	assert_int_equal(vfm_device_write_at(d->dev, sid, &at, 0), 0);
	d->lenient = false;
	assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_STOP, NULL), 0);
	/* the wrong direction */
	drive(d, VFM_STATE_STOP_COPY, &save);
	at = &cnt;
	assert_int_equal(vfm_device_write_at(d->dev, save, &at, 10), -EBADF);
	assert_null(at);
	assert_int_equal(vfm_device_read_iov(d->dev, save, iov, &cnt, 10), 10);
	sdev_free(d);
}

/* PRE_COPY: the temporary end reads -ENOMSG (or 0 with precopy_end_enomsg false), and
 * reading continues when more data appears. */
static void test_precopy_temporary_end(void **st)
{
	(void)st;
	for (int enomsg = 0; enomsg < 2; enomsg++) {
		for (uint32_t pre = VFM_STATE_PRE_COPY; pre <= VFM_STATE_PRE_COPY_P2P; pre++) {
			struct sdev *d = sdev_new(7, enomsg);
			vfm_session_id sid;
			uint8_t buf[CONTENT];
			uint64_t initial, dirty;

			drive(d, pre, &sid);
			assert_true(sid != 0);
			assert_int_equal(
				vfm_device_precopy_info(d->dev, sid, &initial, &dirty, NULL), 0);
			assert_int_equal(initial, PRE_LEN);
			assert_int_equal(read_all(d, sid, buf, sizeof(buf), 64), PRE_LEN);
			assert_memory_equal(buf, d->content, PRE_LEN);
			for (int i = 0; i < 3; i++)
				assert_int_equal(vfm_device_read(d->dev, sid, buf, 10),
						 enomsg ? -ENOMSG : 0);
			assert_int_equal(
				vfm_device_precopy_info(d->dev, sid, &initial, &dirty, NULL), 0);
			assert_int_equal(initial, 0);
			/* new (dirty) data: readable again in the same session */
			d->avail_pre = PRE_LEN + 50;
			assert_int_equal(vfm_device_read(d->dev, sid, buf, sizeof(buf)), 50);
			assert_memory_equal(buf, d->content + PRE_LEN, 50);
			sdev_free(d);
		}
	}
}

/* The saving group keeps its session: PRE_COPY -> PRE_COPY_P2P -> STOP_COPY with the
 * same id, and the bytes read in each state form one continuous stream. */
static void test_saving_group_one_stream(void **st)
{
	struct sdev *d = sdev_new(7, true);
	vfm_session_id sid, opened = 1;
	uint8_t buf[CONTENT + 1];
	size_t got = 0;
	ssize_t n;

	(void)st;
	drive(d, VFM_STATE_PRE_COPY, &sid);
	n = vfm_device_read(d->dev, sid, buf, 100);
	assert_int_equal(n, 100);
	got += 100;
	assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_PRE_COPY_P2P, &opened), 0);
	assert_int_equal(opened, 0);
	assert_int_equal(vfm_device_session(d->dev), sid);
	n = vfm_device_read(d->dev, sid, buf + got, 100);
	assert_int_equal(n, 100);
	got += 100;
	/* back and forth inside the group */
	assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_PRE_COPY, &opened), 0);
	assert_int_equal(opened, 0);
	assert_int_equal(vfm_device_session(d->dev), sid);
	n = vfm_device_read(d->dev, sid, buf + got, 50);
	assert_int_equal(n, 50);
	got += 50;
	assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_STOP_COPY, &opened), 0);
	assert_int_equal(opened, 0);
	assert_int_equal(vfm_device_session(d->dev), sid);
	got += (size_t)read_all(d, sid, buf + got, sizeof(buf) - got, 333);
	assert_int_equal(got, CONTENT);
	assert_memory_equal(buf, d->content, CONTENT);
	assert_int_equal(vfm_device_read(d->dev, sid, buf, 1), 0);
	sdev_free(d);
}

/* Sessions end on exactly the four ending arcs; the old id then gives -ENODEV. */
static void test_sessions_end_on_four_arcs(void **st)
{
	static const struct {
		uint32_t open_state, end_target;
		bool resume;
	} cases[] = {
		{VFM_STATE_PRE_COPY, VFM_STATE_RUNNING, false},
		{VFM_STATE_PRE_COPY_P2P, VFM_STATE_RUNNING_P2P, false},
		{VFM_STATE_STOP_COPY, VFM_STATE_STOP, false},
		{VFM_STATE_RESUMING, VFM_STATE_STOP, true},
	};

	(void)st;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sdev *d = sdev_new(7, true);
		vfm_session_id sid;
		uint8_t b[8] = {0};
		uint64_t x, y;

		d->lenient = true;
		drive(d, cases[i].open_state, &sid);
		assert_true(sid != 0);
		d->narcs = 0;
		assert_int_equal(vfm_device_set_state(d->dev, cases[i].end_target, NULL), 0);
		assert_int_equal(d->narcs, 1);
		assert_true(vfm_arc_ends_session(d->arcs[0][0], d->arcs[0][1]));
		assert_int_equal(vfm_device_session(d->dev), 0);
		if (cases[i].resume) {
			assert_int_equal(vfm_device_write(d->dev, sid, b, 8), -ENODEV);
		} else {
			assert_int_equal(vfm_device_read(d->dev, sid, b, 8), -ENODEV);
			/* precopy info: -EINVAL first, as the new state is not PRE_COPY */
			assert_int_equal(vfm_device_precopy_info(d->dev, sid, &x, &y, NULL),
					 -EINVAL);
		}
		sdev_free(d);
	}
	/* a dead session in a new PRE_COPY session: precopy info says -ENODEV */
	{
		struct sdev *d = sdev_new(7, true);
		vfm_session_id old, cur;
		uint64_t x, y;

		drive(d, VFM_STATE_PRE_COPY, &old);
		drive(d, VFM_STATE_RUNNING, NULL);
		drive(d, VFM_STATE_PRE_COPY, &cur);
		assert_true(cur > old);
		assert_int_equal(vfm_device_precopy_info(d->dev, old, &x, &y, NULL), -ENODEV);
		assert_int_equal(vfm_device_precopy_info(d->dev, cur, &x, &y, NULL), 0);
		sdev_free(d);
	}
}

/* No other arc ends a session: walk every arc of flags 7 out of a saving state and check
 * the session survives unless the arc is an ending one. */
static void test_only_ending_arcs_end(void **st)
{
	(void)st;
	for (uint32_t from = 1; from < 8; from++) {
		for (uint32_t to = 1; to < 8; to++) {
			uint32_t next;
			struct sdev *d;
			vfm_session_id sid;

			if (from == to || vfm_fsm_next(7, from, to, &next) || next != to)
				continue; /* only single arcs */
			d = sdev_new(7, true);
			d->lenient = true;
			drive(d, from, &sid);
			sid = vfm_device_session(d->dev);
			assert_int_equal(vfm_device_set_state(d->dev, to, NULL), 0);
			if (vfm_arc_ends_session(from, to))
				assert_int_equal(vfm_device_session(d->dev), 0);
			else if (vfm_arc_opens_session(from, to))
				assert_true(vfm_device_session(d->dev) > sid);
			else
				assert_int_equal(vfm_device_session(d->dev), sid);
			sdev_free(d);
		}
	}
}

/* Wrong direction and unknown ids; ids are never reused. */
static void test_session_ids(void **st)
{
	struct sdev *d = sdev_new(7, true);
	vfm_session_id sid, last = 0;
	uint8_t b[4] = {0};
	uint64_t x, y;

	(void)st;
	d->lenient = true;
	drive(d, VFM_STATE_PRE_COPY, &sid);
	assert_int_equal(vfm_device_write(d->dev, sid, b, 4), -EBADF); /* save fd */
	assert_int_equal(vfm_device_read(d->dev, 0, b, 4), -EBADF);
	assert_int_equal(vfm_device_read(d->dev, sid + 1, b, 4), -EBADF);
	assert_int_equal(vfm_device_precopy_info(d->dev, sid + 7, &x, &y, NULL), -EBADF);
	drive(d, VFM_STATE_RESUMING, &sid);
	assert_int_equal(vfm_device_read(d->dev, sid, b, 4), -EBADF); /* resume fd */
	assert_int_equal(vfm_device_precopy_info(d->dev, sid, &x, &y, NULL), -EINVAL);
	drive(d, VFM_STATE_RUNNING, NULL);
	for (int i = 0; i < 20; i++) {
		uint32_t t = i % 3 == 0	  ? VFM_STATE_PRE_COPY
			     : i % 3 == 1 ? VFM_STATE_STOP_COPY
					  : VFM_STATE_RESUMING;

		drive(d, t, &sid);
		assert_true(sid > last);
		last = sid;
		drive(d, VFM_STATE_RUNNING, NULL);
	}
	sdev_free(d);
}

/* RESUMING: the bytes arrive unchanged in any segmentation. */
static void test_resume_any_segmentation(void **st)
{
	uint64_t rng = 0x12345678;

	(void)st;
	for (int trial = 0; trial < 12; trial++) {
		struct sdev *d = sdev_new(trial & 1 ? 7 : 1, true);
		vfm_session_id sid;
		size_t off = 0;

		drive(d, VFM_STATE_RESUMING, &sid);
		while (off < CONTENT) {
			size_t n;
			ssize_t w;

			if (trial == 0) {
				n = 1; /* byte by byte */
			} else {
				rng = rng * 6364136223846793005ull + 1442695040888963407ull;
				n = 1 + (size_t)((rng >> 33) % (trial * 40 + 1));
			}
			if (n > CONTENT - off)
				n = CONTENT - off;
			w = vfm_device_write(d->dev, sid, d->content + off, n);
			assert_int_equal(w, (ssize_t)n);
			off += n;
			/* zero-length writes change nothing */
			assert_int_equal(vfm_device_write(d->dev, sid, d->content, 0), 0);
		}
		if (trial == 0)
			assert_int_equal(d->load_calls, CONTENT);
		assert_int_equal(d->loaded_len, CONTENT);
		assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_RUNNING, NULL), 0);
		assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_RUNNING);
		sdev_free(d);
	}
}

/* RESUMING -> STOP validates: incomplete or invalid data fail the SET, the device stays
 * RESUMING with its session, and the missing bytes can still come. */
static void test_resume_validation(void **st)
{
	struct sdev *d = sdev_new(7, true);
	vfm_session_id sid, opened = 5;
	uint8_t bad[CONTENT];

	(void)st;
	drive(d, VFM_STATE_RESUMING, &sid);
	assert_int_equal(vfm_device_write(d->dev, sid, d->content, CONTENT - 1), CONTENT - 1);
	/* incomplete */
	assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_STOP, &opened), -EINVAL);
	assert_int_equal(opened, 0);
	assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_RESUMING);
	assert_int_equal(vfm_device_session(d->dev), sid);
	/* a multi-arc request fails at its first arc too */
	assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_RUNNING, NULL), -EINVAL);
	assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_RESUMING);
	/* the last byte, then it validates */
	assert_int_equal(vfm_device_write(d->dev, sid, d->content + CONTENT - 1, 1), 1);
	assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_STOP, NULL), 0);
	assert_int_equal(vfm_device_session(d->dev), 0);
	assert_int_equal(vfm_device_write(d->dev, sid, bad, 1), -ENODEV);
	/* invalid: one byte corrupted */
	drive(d, VFM_STATE_RESUMING, &sid);
	memcpy(bad, d->content, CONTENT);
	bad[CONTENT / 2] ^= 1;
	assert_int_equal(vfm_device_write(d->dev, sid, bad, CONTENT), CONTENT);
	assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_STOP, NULL), -EINVAL);
	assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_RESUMING);
	/* "To abort a RESUMING session the device must be reset." */
	assert_int_equal(vfm_device_reset(d->dev), 0);
	assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_RUNNING);
	assert_int_equal(vfm_device_session(d->dev), 0);
	assert_int_equal(vfm_device_write(d->dev, sid, bad, 1), -ENODEV);
	sdev_free(d);
}

/* Reset from every state: RUNNING, any session dead, the author's reset called. */
static void test_reset(void **st)
{
	(void)st;
	for (uint32_t s = 0; s < 8; s++) {
		struct sdev *d = sdev_new(7, true);
		vfm_session_id sid = 0;
		uint8_t b[4];
		uint64_t x, y;

		d->lenient = true;
		if (s == VFM_STATE_ERROR)
			vfm_device_fail(d->dev);
		else
			drive(d, s, &sid);
		if (vfm_state_is_saving(s) || s == VFM_STATE_RESUMING)
			sid = vfm_device_session(d->dev);
		assert_int_equal(vfm_device_reset(d->dev), 0);
		assert_int_equal(d->resets, 1);
		assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_RUNNING);
		assert_int_equal(vfm_device_session(d->dev), 0);
		if (sid) {
			assert_int_equal(vfm_device_read(d->dev, sid, b, 4),
					 s == VFM_STATE_RESUMING ? -ENODEV : -ENODEV);
			assert_int_equal(vfm_device_write(d->dev, sid, b, 4), -ENODEV);
			assert_int_equal(vfm_device_precopy_info(d->dev, sid, &x, &y, NULL),
					 -EINVAL);
		}
		/* and it works normally afterwards */
		drive(d, VFM_STATE_STOP_COPY, &sid);
		assert_true(sid != 0);
		sdev_free(d);
	}
	/* a failing reset callback is reported */
	{
		struct sdev *d = sdev_new(1, true);

		d->reset_rc = -EIO;
		assert_int_equal(vfm_device_reset(d->dev), -EIO);
		sdev_free(d);
	}
}

/* ERROR (an arc that asks for it, or an asynchronous failure) is left only by reset. */
static void test_error_left_only_by_reset(void **st)
{
	(void)st;
	for (int how = 0; how < 3; how++) {
		struct sdev *d = sdev_new(7, true);
		vfm_session_id sid;
		uint8_t b[4];

		drive(d, VFM_STATE_PRE_COPY, &sid);
		if (how == 0) {
			/* error-arc on a later arc of a path: PRE_COPY -> ... -> STOP */
			d->fail_armed = true;
			d->fail_from = VFM_STATE_RUNNING;
			d->fail_to = VFM_STATE_RUNNING_P2P;
			d->fail_error = true;
			assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_STOP, NULL), -EIO);
		} else if (how == 1) {
			/* error-arc with a positive "error" from the callback */
			d->fail_armed = true;
			d->fail_from = VFM_STATE_PRE_COPY;
			d->fail_to = VFM_STATE_PRE_COPY_P2P;
			d->fail_error = true;
			d->fail_rc = 1;
			assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_STOP_COPY, NULL),
					 -EIO);
		} else {
			vfm_device_fail(d->dev);
		}
		assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_ERROR);
		assert_int_equal(vfm_device_session(d->dev), 0);
		assert_int_equal(vfm_device_read(d->dev, sid, b, 4), -ENODEV);
		d->fail_armed = false;
		d->narcs = 0;
		for (uint32_t t = 0; t < 10; t++) {
			vfm_session_id opened = 3;

			assert_int_equal(vfm_device_set_state(d->dev, t, &opened), -EINVAL);
			assert_int_equal(opened, 0);
			assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_ERROR);
		}
		assert_int_equal(d->narcs, 0);
		assert_int_equal(vfm_device_reset(d->dev), 0);
		assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_RUNNING);
		drive(d, VFM_STATE_STOP, NULL);
		sdev_free(d);
	}
}

/* A failed arc leaves the device in the last state reached: every arc of every path of
 * flags 7, from every start state (section 3.5). */
static void test_failed_arc_last_state(void **st)
{
	(void)st;
	/* the example: RUNNING -> STOP_COPY failing at the second arc */
	{
		struct sdev *d = sdev_new(7, true);
		vfm_session_id opened = 9;

		d->fail_armed = true;
		d->fail_from = VFM_STATE_RUNNING_P2P;
		d->fail_to = VFM_STATE_STOP;
		assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_STOP_COPY, &opened), -EIO);
		assert_int_equal(opened, 0);
		assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_RUNNING_P2P);
		assert_int_equal(vfm_device_session(d->dev), 0);
		assert_int_equal(d->narcs, 2);
		/* and a retry, once the fault is gone, finishes the path from there */
		d->fail_armed = false;
		d->narcs = 0;
		assert_int_equal(vfm_device_set_state(d->dev, VFM_STATE_STOP_COPY, &opened), 0);
		assert_true(opened != 0);
		assert_int_equal(d->narcs, 2);
		assert_int_equal(d->arcs[0][0], VFM_STATE_RUNNING_P2P);
		sdev_free(d);
	}
	for (int to_error = 0; to_error < 2; to_error++) {
		for (uint32_t cur = 1; cur < 8; cur++) {
			for (uint32_t t = 1; t < 8; t++) {
				uint32_t path[VFM_FSM_MAX_PATH];
				size_t len;

				if (vfm_fsm_path(7, cur, t, path, &len) || len < 2)
					continue;
				for (size_t k = 0; k + 1 < len; k++) {
					struct sdev *d = sdev_new(7, true);
					vfm_session_id before, opened = 77;
					bool ended = false;

					d->lenient = true;
					drive(d, cur, NULL);
					before = vfm_device_session(d->dev);
					d->fail_armed = true;
					d->fail_from = path[k];
					d->fail_to = path[k + 1];
					d->fail_error = to_error;
					d->narcs = 0;
					assert_int_equal(vfm_device_set_state(d->dev, t, &opened),
							 -EIO);
					assert_int_equal(opened, 0);
					assert_int_equal(d->narcs, k + 1);
					for (size_t j = 0; j < k; j++)
						ended |= vfm_arc_ends_session(path[j], path[j + 1]);
					if (to_error) {
						assert_int_equal(vfm_device_get_state(d->dev),
								 VFM_STATE_ERROR);
						assert_int_equal(vfm_device_session(d->dev), 0);
					} else {
						assert_int_equal(vfm_device_get_state(d->dev),
								 path[k]);
						assert_int_equal(vfm_device_session(d->dev),
								 ended ? 0 : before);
					}
					sdev_free(d);
				}
			}
		}
	}
}

static void test_data_size(void **st)
{
	struct sdev *d = sdev_new(1, true);
	struct vfm_device_ops ops = s_ops;
	struct vfm_device_config cfg = {.name = "n", .flags = 1};
	struct vfm_device *dev;
	uint64_t len = 0;

	(void)st;
	assert_int_equal(vfm_device_data_size(d->dev, &len), 0);
	assert_int_equal(len, CONTENT);
	sdev_free(d);
	ops.data_size = NULL;
	assert_int_equal(vfm_device_create(&cfg, &ops, NULL, &dev), 0);
	assert_int_equal(vfm_device_data_size(dev, &len), -ENOTTY);
	vfm_device_destroy(dev);
}

/* ---- VFIO_DEVICE_FEATURE ---------------------------------------------------------------------- */

#define FG VFM_DEVICE_FEATURE_GET
#define FS VFM_DEVICE_FEATURE_SET
#define FP VFM_DEVICE_FEATURE_PROBE

struct fbuf {
	uint8_t b[8 + 8192] __attribute__((aligned(8)));
	size_t reply_len;
	vfm_session_id opened;
};

static int feat(struct vfm_device *dev, struct fbuf *f, uint32_t argsz, uint32_t flags,
		const void *payload, size_t plen, size_t buf_len)
{
	memcpy(f->b, &argsz, 4);
	memcpy(f->b + 4, &flags, 4);
	memset(f->b + 8, 0xa5, sizeof(f->b) - 8);
	if (plen)
		memcpy(f->b + 8, payload, plen);
	f->reply_len = 12345;
	f->opened = 999;
	return vfm_device_feature(dev, f->b, buf_len ? buf_len : sizeof(f->b), &f->reply_len,
				  &f->opened);
}

static void test_feature_header_checks(void **st)
{
	struct sdev *d = sdev_new(7, true);
	struct fbuf f;
	static const uint32_t indices[] = {0, 1, 2, 3, 6, 7, 8, 9, 12, 0xffff};

	(void)st;
	/* shorter than the header: the kernel's copy_from_user faults */
	assert_int_equal(feat(d->dev, &f, 16, FG | 1, NULL, 0, 7), -EFAULT);
	for (size_t i = 0; i < sizeof(indices) / sizeof(indices[0]); i++) {
		uint32_t idx = indices[i];

		/* 1.2.1 step 2: argsz < 8 -> EINVAL, before anything else */
		for (uint32_t argsz = 0; argsz < 8; argsz++) {
			assert_int_equal(feat(d->dev, &f, argsz, FG | idx, NULL, 0, 0), -EINVAL);
			assert_int_equal(feat(d->dev, &f, argsz, FP | idx, NULL, 0, 0), -EINVAL);
		}
		/* step 3: any of bits 19..31 -> EINVAL (even for unknown indices) */
		for (unsigned bit = 19; bit < 32; bit++) {
			assert_int_equal(feat(d->dev, &f, 64, FG | idx | (1u << bit), NULL, 0, 0),
					 -EINVAL);
			assert_int_equal(feat(d->dev, &f, 64, FP | idx | (1u << bit), NULL, 0, 0),
					 -EINVAL);
		}
		/* step 4: GET|SET without PROBE -> EINVAL (even for unknown indices) */
		assert_int_equal(feat(d->dev, &f, 64, FG | FS | idx, NULL, 0, 0), -EINVAL);
		assert_int_equal(f.opened, 0);
	}
	/* step 5: unknown indices -> ENOTTY, with PROBE too */
	{
		static const uint32_t unknown[] = {0, 3, 4, 5, 10, 11, 12, 13, 0x100, 0xffff};

		for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
			assert_int_equal(feat(d->dev, &f, 64, FG | unknown[i], NULL, 0, 0),
					 -ENOTTY);
			assert_int_equal(feat(d->dev, &f, 64, FS | unknown[i], NULL, 0, 0),
					 -ENOTTY);
			assert_int_equal(feat(d->dev, &f, 64, FP | unknown[i], NULL, 0, 0),
					 -ENOTTY);
			assert_int_equal(feat(d->dev, &f, 8, FP | FG | FS | unknown[i], NULL, 0, 0),
					 -ENOTTY);
		}
	}
	/* DMA logging on a device without log ops: ENOTTY, also with PROBE */
	for (uint32_t idx = 6; idx <= 8; idx++) {
		assert_int_equal(feat(d->dev, &f, 64, FP | idx, NULL, 0, 0), -ENOTTY);
		assert_int_equal(feat(d->dev, &f, 64, FP | FG | FS | idx, NULL, 0, 0), -ENOTTY);
		assert_int_equal(feat(d->dev, &f, 64, FS | idx, NULL, 0, 0), -ENOTTY);
		assert_int_equal(feat(d->dev, &f, 64, FG | idx, NULL, 0, 0), -ENOTTY);
		assert_int_equal(feat(d->dev, &f, 8, FS | idx, NULL, 0, 0), -ENOTTY);
	}
	/* a failed call replies with the header only */
	assert_int_equal(feat(d->dev, &f, 4, FG | 1, NULL, 0, 0), -EINVAL);
	assert_int_equal(f.reply_len, 8);
	sdev_free(d);
}

/* vfio_check_feature (1.2.2) for MIGRATION, MIG_DEVICE_STATE and MIG_DATA_SIZE. */
static void test_feature_probe_and_minsz(void **st)
{
	struct sdev *d = sdev_new(7, true);
	struct fbuf f;

	(void)st;
	/* MIGRATION: GET only, minsz 8 */
	assert_int_equal(feat(d->dev, &f, 8, FP | 1, NULL, 0, 0), 0);
	assert_int_equal(feat(d->dev, &f, 8, FP | FG | 1, NULL, 0, 0), 0);
	assert_int_equal(feat(d->dev, &f, 8, FP | FS | 1, NULL, 0, 0), -EINVAL);
	assert_int_equal(feat(d->dev, &f, 8, FP | FG | FS | 1, NULL, 0, 0), -EINVAL);
	assert_int_equal(feat(d->dev, &f, 16, FS | 1, NULL, 0, 0), -EINVAL);
	assert_int_equal(feat(d->dev, &f, 16, 1, NULL, 0, 0), -EINVAL); /* no op at all */
	for (uint32_t argsz = 8; argsz < 16; argsz++)
		assert_int_equal(feat(d->dev, &f, argsz, FG | 1, NULL, 0, 0), -EINVAL);
	assert_int_equal(feat(d->dev, &f, 16, FG | 1, NULL, 0, 0), 0);
	{
		uint64_t flags;

		memcpy(&flags, f.b + 8, 8);
		assert_int_equal(flags, 7);
		assert_int_equal(f.reply_len, 16);
	}
	/* bigger argsz is fine */
	assert_int_equal(feat(d->dev, &f, 4096, FG | 1, NULL, 0, 0), 0);
	/* argsz says 16 but the buffer holds 12: the payload is not there */
	assert_int_equal(feat(d->dev, &f, 16, FG | 1, NULL, 0, 12), -EFAULT);

	/* MIG_DEVICE_STATE: GET and SET, minsz 8; PROBE ignores argsz */
	assert_int_equal(feat(d->dev, &f, 8, FP | FG | FS | 2, NULL, 0, 0), 0);
	assert_int_equal(feat(d->dev, &f, 8, FP | 2, NULL, 0, 0), 0);
	assert_int_equal(f.opened, 0);
	for (uint32_t argsz = 8; argsz < 16; argsz++) {
		assert_int_equal(feat(d->dev, &f, argsz, FG | 2, NULL, 0, 0), -EINVAL);
		assert_int_equal(feat(d->dev, &f, argsz, FS | 2, NULL, 0, 0), -EINVAL);
	}
	assert_int_equal(feat(d->dev, &f, 16, 2, NULL, 0, 0), -EINVAL);
	/* a probe that carries SET does not set anything */
	{
		struct vfm_device_feature_mig_state ms = {.device_state = VFM_STATE_STOP,
							  .data_fd = 0};

		assert_int_equal(feat(d->dev, &f, 16, FP | FS | 2, &ms, 8, 0), 0);
		assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_RUNNING);
	}

	/* MIG_DATA_SIZE: GET only, minsz 8 */
	assert_int_equal(feat(d->dev, &f, 8, FP | 9, NULL, 0, 0), 0);
	assert_int_equal(feat(d->dev, &f, 8, FP | FG | 9, NULL, 0, 0), 0);
	assert_int_equal(feat(d->dev, &f, 8, FP | FS | 9, NULL, 0, 0), -EINVAL);
	assert_int_equal(feat(d->dev, &f, 16, FS | 9, NULL, 0, 0), -EINVAL);
	for (uint32_t argsz = 8; argsz < 16; argsz++)
		assert_int_equal(feat(d->dev, &f, argsz, FG | 9, NULL, 0, 0), -EINVAL);
	assert_int_equal(feat(d->dev, &f, 16, FG | 9, NULL, 0, 0), 0);
	{
		uint64_t len;

		memcpy(&len, f.b + 8, 8);
		assert_int_equal(len, CONTENT);
	}
	/* callable in every state (2.7) */
	drive(d, VFM_STATE_STOP_COPY, NULL);
	assert_int_equal(feat(d->dev, &f, 16, FG | 9, NULL, 0, 0), 0);
	sdev_free(d);
}

static void get_ms(const struct fbuf *f, struct vfm_device_feature_mig_state *ms)
{
	memcpy(ms, f->b + 8, sizeof(*ms));
}

/* MIG_DEVICE_STATE write-back (1.4): GET {state, -1}; SET writes back the requested
 * state and data_fd -1 on success and failure; a session opened goes to *opened. */
static void test_feature_mig_state(void **st)
{
	struct sdev *d = sdev_new(7, true);
	struct fbuf f;
	struct vfm_device_feature_mig_state ms, in;

	(void)st;
	in = (struct vfm_device_feature_mig_state){.device_state = 0x5a5a, .data_fd = 1234};
	assert_int_equal(feat(d->dev, &f, 16, FG | 2, &in, 8, 0), 0);
	get_ms(&f, &ms);
	assert_int_equal(ms.device_state, VFM_STATE_RUNNING);
	assert_int_equal(ms.data_fd, -1);
	assert_int_equal(f.reply_len, 16);
	assert_int_equal(f.opened, 0);

	/* SET that opens a session */
	in = (struct vfm_device_feature_mig_state){.device_state = VFM_STATE_STOP_COPY,
						   .data_fd = 77};
	assert_int_equal(feat(d->dev, &f, 16, FS | 2, &in, 8, 0), 0);
	get_ms(&f, &ms);
	assert_int_equal(ms.device_state, VFM_STATE_STOP_COPY);
	assert_int_equal(ms.data_fd, -1);
	assert_true(f.opened != 0);
	assert_int_equal(f.opened, vfm_device_session(d->dev));
	assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_STOP_COPY);

	/* SET that opens none */
	in.device_state = VFM_STATE_STOP;
	assert_int_equal(feat(d->dev, &f, 16, FS | 2, &in, 8, 0), 0);
	get_ms(&f, &ms);
	assert_int_equal(ms.device_state, VFM_STATE_STOP);
	assert_int_equal(ms.data_fd, -1);
	assert_int_equal(f.opened, 0);

	/* refused SETs: the unchanged input value comes back, data_fd -1, state unchanged */
	{
		static const uint32_t bad[] = {VFM_STATE_ERROR, 8, 9, 0xdeadbeef};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			in = (struct vfm_device_feature_mig_state){.device_state = bad[i],
								   .data_fd = 55};
			assert_int_equal(feat(d->dev, &f, 16, FS | 2, &in, 8, 0), -EINVAL);
			get_ms(&f, &ms);
			assert_int_equal(ms.device_state, bad[i]);
			assert_int_equal(ms.data_fd, -1);
			assert_int_equal(f.opened, 0);
			assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_STOP);
		}
	}
	/* a failing arc: the error, the requested state written back */
	d->fail_armed = true;
	d->fail_from = VFM_STATE_RUNNING_P2P;
	d->fail_to = VFM_STATE_RUNNING;
	in = (struct vfm_device_feature_mig_state){.device_state = VFM_STATE_PRE_COPY,
						   .data_fd = 3};
	assert_int_equal(feat(d->dev, &f, 16, FS | 2, &in, 8, 0), -EIO);
	get_ms(&f, &ms);
	assert_int_equal(ms.device_state, VFM_STATE_PRE_COPY);
	assert_int_equal(ms.data_fd, -1);
	assert_int_equal(f.opened, 0);
	assert_int_equal(vfm_device_get_state(d->dev), VFM_STATE_RUNNING_P2P);
	sdev_free(d);
}

struct logbuf {
	struct vfm_device_feature_dma_logging_control ctl;
	struct vfm_device_feature_dma_logging_range r[300];
};

static int log_start(struct sdev *d, struct fbuf *f, uint64_t page_size,
		     const struct vfm_device_feature_dma_logging_range *r, uint32_t n)
{
	static struct logbuf lb;
	size_t plen = sizeof(lb.ctl) + (size_t)n * sizeof(*r);

	memset(&lb, 0, sizeof(lb));
	lb.ctl.page_size = page_size;
	lb.ctl.num_ranges = n;
	memcpy(lb.r, r, (size_t)n * sizeof(*r));
	return feat(d->dev, f, (uint32_t)(8 + plen), FS | 6, &lb, plen, 0);
}

static void test_feature_dma_logging(void **st)
{
	struct sdev *d = sdev_new_ops(7, true, &s_ops_log);
	struct fbuf f;
	struct vfm_device_feature_dma_logging_range r[2] = {{0x10000, 0x4000}, {0x40000, 0x1000}};
	struct vfm_device_feature_dma_logging_control ctl;

	(void)st;
	/* probes now succeed */
	assert_int_equal(feat(d->dev, &f, 8, FP | 6, NULL, 0, 0), 0);
	assert_int_equal(feat(d->dev, &f, 8, FP | FS | 6, NULL, 0, 0), 0);
	assert_int_equal(feat(d->dev, &f, 8, FP | FG | 6, NULL, 0, 0), -EINVAL);
	assert_int_equal(feat(d->dev, &f, 8, FP | FS | 7, NULL, 0, 0), 0);
	assert_int_equal(feat(d->dev, &f, 8, FP | FG | 8, NULL, 0, 0), 0);
	assert_int_equal(feat(d->dev, &f, 8, FP | FS | 8, NULL, 0, 0), -EINVAL);
	/* START: minsz 24 */
	assert_int_equal(feat(d->dev, &f, 8 + 23, FS | 6, NULL, 0, 0), -EINVAL);
	assert_int_equal(feat(d->dev, &f, 8 + 24, FG | 6, NULL, 0, 0), -EINVAL);
	assert_int_equal(log_start(d, &f, 4096, r, 2), 0);
	assert_int_equal(d->log_starts, 1);
	assert_int_equal(d->last_nr_ranges, 2);
	assert_int_equal(d->last_ranges[1].iova, 0x40000);
	assert_int_equal(d->last_page_size, 4096);
	memcpy(&ctl, f.b + 8, sizeof(ctl));
	assert_int_equal(ctl.page_size, 8192); /* the device's choice comes back */
	/* too many ranges, unaligned, overflowing, overlapping */
	{
		static struct vfm_device_feature_dma_logging_range many[257];

		for (int i = 0; i < 257; i++)
			many[i] = (struct vfm_device_feature_dma_logging_range){(uint64_t)i << 20,
										4096};
		assert_int_equal(log_start(d, &f, 4096, many, 257), -E2BIG);
		assert_int_equal(log_start(d, &f, 4096, many, 256), 0);
	}
	{
		struct vfm_device_feature_dma_logging_range bad = {0x10800, 0x1000};

		assert_int_equal(log_start(d, &f, 4096, &bad, 1), -EINVAL);
		bad = (struct vfm_device_feature_dma_logging_range){0x10000, 0x800};
		assert_int_equal(log_start(d, &f, 4096, &bad, 1), -EINVAL);
		bad = (struct vfm_device_feature_dma_logging_range){0xfffffffffffff000ull, 0x2000};
		assert_int_equal(log_start(d, &f, 4096, &bad, 1), -EOVERFLOW);
	}
	{
		struct vfm_device_feature_dma_logging_range ov[2] = {{0x10000, 0x4000},
								     {0x13000, 0x1000}};

		assert_int_equal(log_start(d, &f, 4096, ov, 2), -EINVAL);
	}
	/* STOP */
	assert_int_equal(feat(d->dev, &f, 8, FS | 7, NULL, 0, 0), 0);
	assert_int_equal(d->log_stops, 1);
	assert_int_equal(feat(d->dev, &f, 8, FG | 7, NULL, 0, 0), -EINVAL);
	/* REPORT: page size >= 4096 and a power of two, no overflow, room for the bitmap */
	{
		uint64_t req[3] = {0x10000, 64 * 4096, 4096};
		uint64_t bm;

		assert_int_equal(feat(d->dev, &f, 8 + 24 + 8, FG | 8, req, 24, 0), 0);
		assert_int_equal(d->report_args[0], 0x10000);
		assert_int_equal(d->report_args[1], 64 * 4096);
		assert_int_equal(d->report_args[2], 4096);
		memcpy(&bm, f.b + 8 + 24, 8);
		assert_int_equal(bm, 0x5);
		assert_int_equal(feat(d->dev, &f, 8 + 24 + 7, FG | 8, req, 24, 0), -EINVAL);
		assert_int_equal(feat(d->dev, &f, 8 + 24 + 8, FS | 8, req, 24, 0), -EINVAL);
		req[2] = 2048;
		assert_int_equal(feat(d->dev, &f, 8 + 24 + 8, FG | 8, req, 24, 0), -EINVAL);
		req[2] = 4096 + 4096 / 2;
		assert_int_equal(feat(d->dev, &f, 8 + 24 + 8, FG | 8, req, 24, 0), -EINVAL);
		req[0] = 0xfffffffffffff000ull;
		req[1] = 0x2000;
		req[2] = 4096;
		assert_int_equal(feat(d->dev, &f, 8 + 24 + 8, FG | 8, req, 24, 0), -EOVERFLOW);
	}
	sdev_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_rules),
		cmocka_unit_test(test_set_state_walks_paths),
		cmocka_unit_test(test_set_same_state),
		cmocka_unit_test(test_stop_copy_end_of_stream),
		cmocka_unit_test(test_precopy_temporary_end),
		cmocka_unit_test(test_zero_copy_absent),
		cmocka_unit_test(test_zero_copy_read),
		cmocka_unit_test(test_zero_copy_write),
		cmocka_unit_test(test_saving_group_one_stream),
		cmocka_unit_test(test_sessions_end_on_four_arcs),
		cmocka_unit_test(test_only_ending_arcs_end),
		cmocka_unit_test(test_session_ids),
		cmocka_unit_test(test_resume_any_segmentation),
		cmocka_unit_test(test_resume_validation),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_error_left_only_by_reset),
		cmocka_unit_test(test_failed_arc_last_state),
		cmocka_unit_test(test_data_size),
		cmocka_unit_test(test_feature_header_checks),
		cmocka_unit_test(test_feature_probe_and_minsz),
		cmocka_unit_test(test_feature_mig_state),
		cmocka_unit_test(test_feature_dma_logging),
	};

	return cmocka_run_group_tests_name("device", tests, NULL, NULL);
}
