// SPDX-License-Identifier: BSD-3-Clause
/*
 * The migration engine (include/vfio-mig/engine.h) through in-process handles onto
 * testdev: save -> load and migrate keep the state for odd and large sizes; a fault at
 * every arc either side traverses, and at a byte of either side's stream, leaves the
 * source RUNNING with its state unchanged and the destination reset (DESIGN.md: "This is
 * tested, not hoped"); devices without STOP_COPY are refused; corrupt and truncated
 * streams are refused with the byte offset, the destination reset.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "vfio-mig/engine.h"
#include "vfio-mig/fsm.h"
#include "vfio-mig/handle.h"
#include "vfio-mig/stream.h"
#include "vfio-mig/testdev.h"

#define ERRLEN 512

static struct vfm_handle *open_dev(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static struct vfm_handle *open_dev(const char *fmt, ...)
{
	char spec[256], err[ERRLEN] = "";
	struct vfm_handle *h = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(spec, sizeof(spec), fmt, ap);
	va_end(ap);
	if (vfm_local_open(spec, NULL, &h, err, sizeof(err)))
		fail_msg("cannot open '%s': %s", spec, err);
	return h;
}

static uint64_t csum(struct vfm_handle *h)
{
	uint64_t sum = 0;

	assert_int_equal(vfm_handle_checksum(h, &sum), 0);
	return sum;
}

static uint32_t state_of(struct vfm_handle *h)
{
	uint32_t s = 0xdead;

	assert_int_equal(vfm_handle_get_state(h, &s), 0);
	return s;
}

static void arc_log(struct vfm_handle *h, char *buf, size_t len)
{
	struct vfm_testdev *td = vfm_local_testdev(h);

	assert_non_null(td);
	vfm_testdev_arc_log(td, buf, len);
}

static bool was_reset(struct vfm_handle *h)
{
	char log[16384];

	arc_log(h, log, sizeof(log));
	return strstr(log, "RESET\n") != NULL;
}

/* The distinct arcs a handle's testdev executed successfully, in order. */
static size_t arcs_of(struct vfm_handle *h, char arcs[][32], size_t max)
{
	char log[16384], *save = NULL;
	size_t n = 0;

	arc_log(h, log, sizeof(log));
	for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		bool dup = false;

		if (!strcmp(line, "RESET") || strchr(line, '!'))
			continue;
		for (size_t i = 0; i < n; i++)
			dup = dup || !strcmp(arcs[i], line);
		if (!dup && n < max)
			snprintf(arcs[n++], 32, "%s", line);
	}
	return n;
}

static int memfd(void)
{
	int fd = memfd_create("stream", 0);

	assert_true(fd >= 0);
	return fd;
}

/* save src into a fresh memfd; returns the fd (rewound) or -1 with rc set. */
static int save_to_memfd(struct vfm_handle *src, const struct vfm_mig_opts *opts, int *rc,
			 char *err)
{
	struct vfm_mig_stats stats;
	struct vfm_chan ch;
	int fd = memfd();

	vfm_chan_init(&ch, fd, "memfd");
	*rc = vfm_save(&src, 1, &ch, opts, &stats, err, ERRLEN);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static int load_from_fd(struct vfm_handle *dst, int fd, const struct vfm_mig_opts *opts, char *err)
{
	struct vfm_mig_stats stats;
	struct vfm_chan ch;

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	vfm_chan_init(&ch, fd, "memfd");
	return vfm_load(&dst, 1, &ch, opts, &stats, err, ERRLEN);
}

static uint8_t *fd_bytes(int fd, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	uint8_t *b = malloc((size_t)end + 1);
	ssize_t n;

	assert_true(end >= 0);
	assert_non_null(b);
	n = pread(fd, b, (size_t)end, 0);
	assert_int_equal(n, end);
	*len = (size_t)end;
	return b;
}

static int fd_of_bytes(const uint8_t *b, size_t len)
{
	int fd = memfd();

	if (len)
		assert_int_equal(write(fd, b, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* ---- state is kept ------------------------------------------------------------------------- */

static const char *const sizes[] = {"0", "1", "1048575", "1048577", "64M"};

static void test_save_load_sizes(void **st)
{
	(void)st;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct vfm_handle *src = open_dev("testdev,size=%s,seed=1", sizes[i]);
		struct vfm_handle *dst = open_dev("testdev,size=%s,seed=2", sizes[i]);
		char err[ERRLEN];
		uint64_t sum = csum(src);
		int rc, fd;

		if (strcmp(sizes[i], "0") != 0)
			assert_true(csum(dst) != sum);
		fd = save_to_memfd(src, NULL, &rc, err);
		if (rc)
			fail_msg("save of %s bytes: %s", sizes[i], err);
		/* a successful save leaves the source STOP, its state intact */
		assert_int_equal(state_of(src), VFM_STATE_STOP);
		assert_true(csum(src) == sum);
		rc = load_from_fd(dst, fd, NULL, err);
		if (rc)
			fail_msg("load of %s bytes: %s", sizes[i], err);
		assert_int_equal(state_of(dst), VFM_STATE_RUNNING);
		assert_true(csum(dst) == sum);
		close(fd);
		vfm_handle_close(src);
		vfm_handle_close(dst);
	}
}

static void test_migrate_sizes(void **st)
{
	(void)st;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int precopy = 0; precopy < 2; precopy++) {
			struct vfm_handle *src = open_dev("testdev,size=%s,seed=5", sizes[i]);
			struct vfm_handle *dst = open_dev("testdev,size=%s,seed=6", sizes[i]);
			struct vfm_mig_opts opts = {.precopy = precopy};
			struct vfm_mig_stats stats;
			char err[ERRLEN];
			uint64_t sum = csum(src);
			int rc;

			rc = vfm_migrate(&src, &dst, 1, &opts, &stats, err, sizeof(err));
			if (rc)
				fail_msg("migrate of %s bytes (pre-copy %d): %s", sizes[i], precopy,
					 err);
			assert_int_equal(state_of(src), VFM_STATE_STOP);
			assert_int_equal(state_of(dst), VFM_STATE_RUNNING);
			assert_true(csum(dst) == sum);
			assert_true(csum(src) == sum);
			assert_true(stats.bytes >= (uint64_t)strtoull(sizes[i], NULL, 10));
			vfm_handle_close(src);
			vfm_handle_close(dst);
		}
	}
}

/* keep_running: the source is RUNNING again after a successful save. */
static void test_keep_running(void **st)
{
	struct vfm_handle *src = open_dev("testdev,size=300K,seed=8");
	struct vfm_handle *dst = open_dev("testdev,size=300K");
	struct vfm_mig_opts opts = {.keep_running = true};
	char err[ERRLEN];
	int rc, fd;

	(void)st;
	fd = save_to_memfd(src, &opts, &rc, err);
	assert_int_equal(rc, 0);
	assert_int_equal(state_of(src), VFM_STATE_RUNNING);
	assert_int_equal(load_from_fd(dst, fd, NULL, err), 0);
	assert_true(csum(dst) == csum(src));
	close(fd);
	vfm_handle_close(src);
	vfm_handle_close(dst);
}

struct saver {
	struct vfm_handle *src;
	int fd;
	int rc;
	char err[ERRLEN];
};

static void *saver_main(void *p)
{
	struct saver *s = p;
	struct vfm_mig_stats stats;
	struct vfm_chan ch;

	vfm_chan_init(&ch, s->fd, "pipe");
	s->rc = vfm_save(&s->src, 1, &ch, NULL, &stats, s->err, sizeof(s->err));
	close(s->fd);
	return NULL;
}

/* Through a pipe, the saver and the loader running at the same time. */
static void test_save_load_pipe(void **st)
{
	struct saver s = {.src = open_dev("testdev,size=5M,seed=13")};
	struct vfm_handle *dst = open_dev("testdev,size=5M");
	struct vfm_mig_stats stats;
	struct vfm_chan ch;
	char err[ERRLEN];
	pthread_t t;
	int p[2];

	(void)st;
	assert_int_equal(pipe(p), 0);
	s.fd = p[1];
	assert_int_equal(pthread_create(&t, NULL, saver_main, &s), 0);
	vfm_chan_init(&ch, p[0], "pipe");
	assert_int_equal(vfm_load(&dst, 1, &ch, NULL, &stats, err, sizeof(err)), 0);
	pthread_join(t, NULL);
	close(p[0]);
	assert_int_equal(s.rc, 0);
	assert_true(csum(dst) == csum(s.src));
	assert_true(stats.bytes > 5u << 20);
	vfm_handle_close(s.src);
	vfm_handle_close(dst);
}

/* Pre-copy with a workload: the destination ends with the source's final state. */
static void test_migrate_precopy_dirty(void **st)
{
	struct vfm_handle *src = open_dev("testdev,size=4M,seed=31,dirty-rate=16M");
	struct vfm_handle *dst = open_dev("testdev,size=4M");
	struct vfm_mig_opts opts = {.precopy = true, .max_precopy_ms = 20000};
	struct vfm_mig_stats stats;
	char err[ERRLEN];
	int rc;

	(void)st;
	rc = vfm_migrate(&src, &dst, 1, &opts, &stats, err, sizeof(err));
	if (rc)
		fail_msg("pre-copy migration: %s", err);
	assert_int_equal(state_of(src), VFM_STATE_STOP);
	assert_true(csum(dst) == csum(src));
	assert_true(stats.rounds >= 1);
	assert_true(stats.precopy_bytes >= 4u << 20);
	vfm_handle_close(src);
	vfm_handle_close(dst);
}

/* Several devices: every source is quiesced (RUNNING_P2P) before any stops. */
struct trace {
	pthread_mutex_t lock;
	char lines[256][160];
	size_t n;
};

static void trace_fn(void *opaque, enum vfm_log_level level, const char *msg)
{
	struct trace *t = opaque;

	(void)level;
	pthread_mutex_lock(&t->lock);
	if (t->n < 256 && strstr(msg, ": arc "))
		snprintf(t->lines[t->n++], sizeof(t->lines[0]), "%s", msg);
	pthread_mutex_unlock(&t->lock);
}

static void test_migrate_two_devices_p2p(void **st)
{
	struct trace tr = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct vfm_open_opts oo = {
		.log = {.fn = trace_fn, .opaque = &tr, .max_level = VFM_LOG_TRACE}};
	struct vfm_handle *src[2], *dst[2];
	char err[ERRLEN];
	struct vfm_mig_stats stats;
	size_t first_stop = SIZE_MAX, last_p2p = 0, nquiesce = 0;

	(void)st;
	assert_int_equal(vfm_local_open("testdev,size=200K,seed=1", &oo, &src[0], err, ERRLEN), 0);
	assert_int_equal(vfm_local_open("testdev,size=300K,seed=2", &oo, &src[1], err, ERRLEN), 0);
	dst[0] = open_dev("testdev,size=200K");
	dst[1] = open_dev("testdev,size=300K");
	assert_int_equal(vfm_migrate(src, dst, 2, NULL, &stats, err, sizeof(err)), 0);
	assert_true(csum(dst[0]) == csum(src[0]));
	assert_true(csum(dst[1]) == csum(src[1]));
	for (size_t i = 0; i < tr.n; i++) {
		if (strstr(tr.lines[i], "arc RUNNING -> RUNNING_P2P")) {
			last_p2p = i;
			nquiesce++;
		}
		if (strstr(tr.lines[i], "arc RUNNING_P2P -> STOP") && first_stop == SIZE_MAX)
			first_stop = i;
	}
	assert_int_equal(nquiesce, 2);
	assert_true(first_stop != SIZE_MAX);
	if (last_p2p > first_stop)
		fail_msg("a source stopped (trace line %zu) before every source was quiesced "
			 "(line %zu)",
			 first_stop, last_p2p);
	/* and through a stream, in order */
	{
		struct vfm_handle *s2[2] = {open_dev("testdev,size=100K,seed=3"),
					    open_dev("testdev,size=1,seed=4")};
		struct vfm_handle *d2[2] = {open_dev("testdev,size=100K"),
					    open_dev("testdev,size=1")};
		struct vfm_chan ch;
		int fd = memfd();

		vfm_chan_init(&ch, fd, "memfd");
		assert_int_equal(vfm_save(s2, 2, &ch, NULL, &stats, err, sizeof(err)), 0);
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		vfm_chan_init(&ch, fd, "memfd");
		assert_int_equal(vfm_load(d2, 2, &ch, NULL, &stats, err, sizeof(err)), 0);
		assert_true(csum(d2[0]) == csum(s2[0]));
		assert_true(csum(d2[1]) == csum(s2[1]));
		/* loading two sections into one device is refused, naming the offset */
		{
			struct vfm_handle *one = open_dev("testdev,size=100K");

			assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
			vfm_chan_init(&ch, fd, "memfd");
			assert_true(vfm_load(&one, 1, &ch, NULL, &stats, err, sizeof(err)) < 0);
			assert_non_null(strstr(err, "offset"));
			assert_int_equal(state_of(one), VFM_STATE_RUNNING);
			assert_true(was_reset(one));
			vfm_handle_close(one);
		}
		/* and one section for two devices too */
		{
			struct vfm_handle *a = open_dev("testdev,size=100K,seed=9");
			struct vfm_handle *b[2] = {open_dev("testdev,size=100K"),
						   open_dev("testdev,size=1")};
			int rc, fd1 = save_to_memfd(a, NULL, &rc, err);

			assert_int_equal(rc, 0);
			vfm_chan_init(&ch, fd1, "memfd");
			assert_true(vfm_load(b, 2, &ch, NULL, &stats, err, sizeof(err)) < 0);
			assert_int_equal(state_of(b[0]), VFM_STATE_RUNNING);
			assert_int_equal(state_of(b[1]), VFM_STATE_RUNNING);
			assert_true(was_reset(b[0]));
			close(fd1);
			vfm_handle_close(a);
			vfm_handle_close(b[0]);
			vfm_handle_close(b[1]);
		}
		close(fd);
		for (int i = 0; i < 2; i++) {
			vfm_handle_close(s2[i]);
			vfm_handle_close(d2[i]);
		}
	}
	for (int i = 0; i < 2; i++) {
		vfm_handle_close(src[i]);
		vfm_handle_close(dst[i]);
	}
}

/* Several devices where one lacks P2P: refused (unless allowed), nothing touched. */
static void test_multi_without_p2p(void **st)
{
	struct vfm_handle *src[2] = {open_dev("testdev,size=64K,seed=1"),
				     open_dev("testdev,size=64K,seed=2,p2p=off")};
	struct vfm_handle *dst[2] = {open_dev("testdev,size=64K"),
				     open_dev("testdev,size=64K,p2p=off")};
	struct vfm_mig_opts opts = {.allow_no_p2p = true};
	struct vfm_mig_stats stats;
	char err[ERRLEN], log[4096];

	(void)st;
	assert_int_equal(vfm_migrate(src, dst, 2, NULL, &stats, err, sizeof(err)), -EOPNOTSUPP);
	assert_non_null(strstr(err, "P2P"));
	arc_log(src[0], log, sizeof(log));
	assert_string_equal(log, "");
	assert_int_equal(state_of(src[0]), VFM_STATE_RUNNING);
	assert_int_equal(vfm_migrate(src, dst, 2, &opts, &stats, err, sizeof(err)), 0);
	assert_true(csum(dst[1]) == csum(src[1]));
	for (int i = 0; i < 2; i++) {
		vfm_handle_close(src[i]);
		vfm_handle_close(dst[i]);
	}
}

/* ---- faults ---------------------------------------------------------------------------------- */

enum how {
	MIGRATE,
	SAVE_LOAD
};

struct outcome {
	int rc;
	char err[ERRLEN];
};

/* Runs one migration src -> dst (directly or through a memfd). */
static void run_one(enum how how, struct vfm_handle *src, struct vfm_handle *dst, bool precopy,
		    struct outcome *o)
{
	struct vfm_mig_opts opts = {.precopy = precopy, .max_precopy_ms = 20000};
	struct vfm_mig_stats stats;

	o->err[0] = '\0';
	if (how == MIGRATE) {
		o->rc = vfm_migrate(&src, &dst, 1, &opts, &stats, o->err, sizeof(o->err));
	} else {
		int fd = save_to_memfd(src, &opts, &o->rc, o->err);

		if (!o->rc)
			o->rc = load_from_fd(dst, fd, &opts, o->err);
		close(fd);
	}
}

/* After a failed run: source RUNNING with its state, destination RUNNING after a reset
 * (when the run got as far as touching it). */
static void check_recovered(const char *what, const struct outcome *o, struct vfm_handle *src,
			    uint64_t src_sum, struct vfm_handle *dst, bool dst_touched)
{
	uint32_t s = state_of(src), d = state_of(dst);

	if (o->rc >= 0)
		fail_msg("%s: the migration succeeded", what);
	if (!o->err[0])
		fail_msg("%s: failed (%d) without a reason", what, o->rc);
	if (s != VFM_STATE_RUNNING)
		fail_msg("%s: source left %s (%s)", what, vfm_state_name(s), o->err);
	if (csum(src) != src_sum)
		fail_msg("%s: the source's state changed", what);
	if (d != VFM_STATE_RUNNING)
		fail_msg("%s: destination left %s (%s)", what, vfm_state_name(d), o->err);
	if (dst_touched && !was_reset(dst))
		fail_msg("%s: destination not reset (%s)", what, o->err);
}

/* A fault at each arc either side traverses, as fail-arc and as error-arc. */
static void fault_matrix_arcs(enum how how, const char *base, bool precopy)
{
	char src_arcs[16][32], dst_arcs[16][32];
	size_t ns, nd;
	struct outcome o;

	/* the clean run tells which arcs each side goes through */
	{
		struct vfm_handle *src = open_dev("%s,seed=3", base);
		struct vfm_handle *dst = open_dev("%s,seed=4", base);

		run_one(how, src, dst, precopy, &o);
		if (o.rc)
			fail_msg("clean run (%s): %s", base, o.err);
		ns = arcs_of(src, src_arcs, 16);
		nd = arcs_of(dst, dst_arcs, 16);
		assert_true(ns >= 2);
		assert_true(nd >= 4);
		vfm_handle_close(src);
		vfm_handle_close(dst);
	}
	for (int kind = 0; kind < 2; kind++) {
		const char *knob = kind ? "error-arc" : "fail-arc";

		for (size_t i = 0; i < ns; i++) {
			struct vfm_handle *src =
				open_dev("%s,seed=3,%s=%s", base, knob, src_arcs[i]);
			struct vfm_handle *dst = open_dev("%s,seed=4", base);
			uint64_t sum = csum(src);
			char what[160];

			snprintf(what, sizeof(what), "%s %s, source %s=%s%s",
				 how == MIGRATE ? "migrate" : "save/load", base, knob, src_arcs[i],
				 precopy ? " (pre-copy)" : "");
			run_one(how, src, dst, precopy, &o);
			check_recovered(what, &o, src, sum, dst, how == MIGRATE);
			vfm_handle_close(src);
			vfm_handle_close(dst);
		}
		for (size_t i = 0; i < nd; i++) {
			struct vfm_handle *src = open_dev("%s,seed=3", base);
			struct vfm_handle *dst =
				open_dev("%s,seed=4,%s=%s", base, knob, dst_arcs[i]);
			uint64_t sum = csum(src);
			char what[160];

			snprintf(what, sizeof(what), "%s %s, destination %s=%s%s",
				 how == MIGRATE ? "migrate" : "save/load", base, knob, dst_arcs[i],
				 precopy ? " (pre-copy)" : "");
			run_one(how, src, dst, precopy, &o);
			if (how == SAVE_LOAD) {
				/* the save itself went fine: the source is STOP, as after any save */
				if (o.rc >= 0)
					fail_msg("%s: the load succeeded", what);
				assert_int_equal(state_of(dst), VFM_STATE_RUNNING);
				assert_true(was_reset(dst));
				assert_true(csum(src) == sum);
			} else {
				check_recovered(what, &o, src, sum, dst, true);
			}
			vfm_handle_close(src);
			vfm_handle_close(dst);
		}
	}
}

static void test_faults_arcs_migrate(void **st)
{
	(void)st;
	fault_matrix_arcs(MIGRATE, "testdev,size=256K", false);
	fault_matrix_arcs(MIGRATE, "testdev,size=256K", true);
	fault_matrix_arcs(MIGRATE, "testdev,size=256K,p2p=off,pre-copy=off", false);
	fault_matrix_arcs(MIGRATE, "testdev,size=256K,p2p=off", true);
}

static void test_faults_arcs_save_load(void **st)
{
	(void)st;
	fault_matrix_arcs(SAVE_LOAD, "testdev,size=256K", false);
	fault_matrix_arcs(SAVE_LOAD, "testdev,size=256K", true);
	fault_matrix_arcs(SAVE_LOAD, "testdev,size=256K,p2p=off,pre-copy=off", false);
}

/* Faults at a byte of the outgoing or incoming stream. */
static void test_faults_bytes(void **st)
{
	static const struct {
		const char *src_knob, *dst_knob;
		bool src_side; /* the source's own failure (the save fails) */
	} faults[] = {
		{"fail-read-at=0", "", true},	   {"fail-read-at=17", "", true},
		{"fail-read-at=100000", "", true}, {"", "fail-write-at=0", false},
		{"", "fail-write-at=40", false},   {"", "fail-write-at=200000", false},
		{"corrupt-at=50", "", false},	   {"corrupt-at=150000", "", false},
		{"", "reject-load=on", false},
	};

	(void)st;
	for (int how = MIGRATE; how <= SAVE_LOAD; how++) {
		for (int precopy = 0; precopy < 2; precopy++) {
			for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
				struct vfm_handle *src = open_dev("testdev,size=256K,seed=3%s%s",
								  faults[i].src_knob[0] ? "," : "",
								  faults[i].src_knob);
				struct vfm_handle *dst = open_dev("testdev,size=256K,seed=4%s%s",
								  faults[i].dst_knob[0] ? "," : "",
								  faults[i].dst_knob);
				uint64_t sum = csum(src);
				struct outcome o;
				char what[160];

				snprintf(what, sizeof(what), "%s%s: %s%s",
					 how == MIGRATE ? "migrate" : "save/load",
					 precopy ? " (pre-copy)" : "", faults[i].src_knob,
					 faults[i].dst_knob);
				run_one((enum how)how, src, dst, precopy, &o);
				if (how == MIGRATE || faults[i].src_side) {
					check_recovered(what, &o, src, sum, dst, how == MIGRATE);
				} else {
					if (o.rc >= 0)
						fail_msg("%s: the load succeeded", what);
					assert_int_equal(state_of(dst), VFM_STATE_RUNNING);
					assert_true(was_reset(dst));
				}
				vfm_handle_close(src);
				vfm_handle_close(dst);
			}
		}
	}
}

/* A cancel request stops the run the same way. */
static void test_cancel(void **st)
{
	volatile sig_atomic_t cancel = 1;
	struct vfm_handle *src = open_dev("testdev,size=256K,seed=3");
	struct vfm_handle *dst = open_dev("testdev,size=256K");
	struct vfm_mig_opts opts = {.cancel = &cancel};
	struct vfm_mig_stats stats;
	struct outcome o;
	uint64_t sum = csum(src);

	(void)st;
	o.rc = vfm_migrate(&src, &dst, 1, &opts, &stats, o.err, sizeof(o.err));
	assert_int_equal(o.rc, -ECANCELED);
	check_recovered("cancelled", &o, src, sum, dst, true);
	vfm_handle_close(src);
	vfm_handle_close(dst);
}

/* The stream's channel fails under the saver (the reader went away, a read-only fd): the
 * save fails with the channel's error and the source is RUNNING with its state. */
static void test_save_channel_fails(void **st)
{
	(void)st;
	for (int how = 0; how < 2; how++) {
		for (int precopy = 0; precopy < 2; precopy++) {
			struct vfm_handle *src = open_dev("testdev,size=2M,seed=3");
			struct vfm_handle *dst = open_dev("testdev,size=2M");
			struct vfm_mig_opts opts = {.precopy = precopy};
			struct vfm_mig_stats stats;
			struct vfm_chan ch;
			struct outcome o;
			uint64_t sum = csum(src);
			int p[2];

			assert_int_equal(pipe(p), 0);
			if (how == 0) {
				close(p[0]); /* nobody reads: EPIPE */
				vfm_chan_init(&ch, p[1], "pipe");
			} else {
				close(p[1]); /* the read end: EBADF on write */
				vfm_chan_init(&ch, p[0], "pipe");
			}
			o.rc = vfm_save(&src, 1, &ch, &opts, &stats, o.err, sizeof(o.err));
			assert_int_equal(o.rc, how == 0 ? -EPIPE : -EBADF);
			check_recovered(how ? "save into a read-only fd"
					    : "save into a closed pipe",
					&o, src, sum, dst, false);
			close(how == 0 ? p[1] : p[0]);
			vfm_handle_close(src);
			vfm_handle_close(dst);
		}
	}
}

/* ---- devices the engine must refuse --------------------------------------------------------- */

struct fake {
	struct vfm_handle h;
	uint64_t flags;
	int flags_rc;
	uint32_t state;
	int sets, resets;
};

static int f_get_flags(struct vfm_handle *h, uint64_t *flags)
{
	struct fake *f = (struct fake *)h;

	*flags = f->flags;
	return f->flags_rc;
}

static int f_set_state(struct vfm_handle *h, uint32_t state, struct vfm_session **opened)
{
	struct fake *f = (struct fake *)h;

	(void)state;
	f->sets++;
	*opened = NULL;
	return -EIO;
}

static int f_get_state(struct vfm_handle *h, uint32_t *state)
{
	*state = ((struct fake *)h)->state;
	return 0;
}

static int f_reset(struct vfm_handle *h)
{
	((struct fake *)h)->resets++;
	return 0;
}

static void f_close(struct vfm_handle *h)
{
	(void)h;
}

static const struct vfm_handle_ops fake_ops = {
	.kind = "fake",
	.get_flags = f_get_flags,
	.set_state = f_set_state,
	.get_state = f_get_state,
	.reset = f_reset,
	.close = f_close,
};

static void fake_init(struct fake *f, uint64_t flags, int flags_rc, uint32_t state)
{
	memset(f, 0, sizeof(*f));
	vfm_handle_init(&f->h, &fake_ops, "fake0", NULL);
	f->flags = flags;
	f->flags_rc = flags_rc;
	f->state = state;
}

static void test_refuse_without_stop_copy(void **st)
{
	static const uint64_t bad_flags[] = {0, VFM_MIGRATION_P2P,
					     VFM_MIGRATION_P2P | VFM_MIGRATION_PRE_COPY};

	(void)st;
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		struct fake f;
		struct vfm_handle *fh = &f.h;
		struct vfm_handle *good = open_dev("testdev,size=64K,seed=3");
		struct vfm_mig_stats stats;
		char err[ERRLEN];
		uint64_t sum = csum(good);
		int rc, fd;

		/* as a source of a save */
		fake_init(&f, bad_flags[i], 0, VFM_STATE_RUNNING);
		fd = save_to_memfd(fh, NULL, &rc, err);
		assert_int_equal(rc, -EOPNOTSUPP);
		assert_non_null(strstr(err, "STOP_COPY"));
		assert_non_null(strstr(err, "fake0"));
		assert_int_equal(f.sets, 0);
		close(fd);
		/* as the source of a migration */
		fake_init(&f, bad_flags[i], 0, VFM_STATE_RUNNING);
		rc = vfm_migrate(&fh, &good, 1, NULL, &stats, err, sizeof(err));
		assert_int_equal(rc, -EOPNOTSUPP);
		assert_int_equal(f.sets, 0);
		assert_int_equal(state_of(good), VFM_STATE_RUNNING);
		/* as the destination of a migration: the source is left alone */
		fake_init(&f, bad_flags[i], 0, VFM_STATE_RUNNING);
		rc = vfm_migrate(&good, &fh, 1, NULL, &stats, err, sizeof(err));
		assert_int_equal(rc, -EOPNOTSUPP);
		assert_non_null(strstr(err, "STOP_COPY"));
		assert_int_equal(f.sets, 0);
		assert_int_equal(state_of(good), VFM_STATE_RUNNING);
		assert_true(csum(good) == sum);
		/* as the destination of a load */
		fake_init(&f, bad_flags[i], 0, VFM_STATE_RUNNING);
		{
			struct vfm_handle *src = open_dev("testdev,size=64K");

			fd = save_to_memfd(src, NULL, &rc, err);
			assert_int_equal(rc, 0);
			assert_int_equal(load_from_fd(fh, fd, NULL, err), -EOPNOTSUPP);
			assert_int_equal(f.sets, 0);
			close(fd);
			vfm_handle_close(src);
		}
		vfm_handle_close(good);
	}
	/* no migration support at all (GET MIGRATION: ENOTTY) */
	{
		struct fake f;
		struct vfm_handle *fh = &f.h;
		char err[ERRLEN];
		int rc, fd;

		fake_init(&f, 0, -ENOTTY, VFM_STATE_RUNNING);
		fd = save_to_memfd(fh, NULL, &rc, err);
		assert_int_equal(rc, -ENOTTY);
		assert_true(strlen(err) > 0);
		assert_int_equal(f.sets, 0);
		close(fd);
	}
}

/* A device busy with something else (here: RESUMING or STOP_COPY for another user) is
 * refused with -EBUSY - and left exactly as it was: the run never touched it, so there is
 * nothing to recover, and SET RUNNING or a reset would destroy the other user's session. */
static void busy_device(struct vfm_handle *h, uint32_t state, struct vfm_session **sess)
{
	*sess = NULL;
	assert_int_equal(vfm_handle_set_state(h, state, sess), 0);
	assert_non_null(*sess);
}

static void check_untouched(const char *what, struct vfm_handle *h, uint32_t state,
			    struct vfm_session *sess, int rc, const char *err)
{
	uint32_t now = state_of(h);
	uint8_t b[16] = {0};
	ssize_t n;

	if (rc != -EBUSY)
		fail_msg("%s: rc %d (%s), expected -EBUSY", what, rc, err);
	if (now != state)
		fail_msg("%s: the busy device was moved from %s to %s%s", what,
			 vfm_state_name(state), vfm_state_name(now),
			 was_reset(h) ? " (reset)" : "");
	if (was_reset(h))
		fail_msg("%s: the busy device was reset", what);
	/* A live session answers; a dead one says ENODEV (the zero bytes are no valid
	 * restore data, so the device may refuse them with EINVAL: that is an answer). */
	n = state == VFM_STATE_RESUMING ? vfm_session_write(sess, b, sizeof(b))
					: vfm_session_read(sess, b, sizeof(b));
	if (n == -ENODEV || n == -EBADF)
		fail_msg("%s: the other user's session is dead (%zd)", what, n);
}

static void test_busy_devices_left_alone(void **st)
{
	static const uint32_t busy_states[] = {VFM_STATE_RESUMING, VFM_STATE_STOP_COPY};

	(void)st;
	for (size_t i = 0; i < sizeof(busy_states) / sizeof(busy_states[0]); i++) {
		uint32_t bs = busy_states[i];
		struct vfm_mig_stats stats;
		struct vfm_session *sess;
		char err[ERRLEN], what[96];
		int rc, fd;

		/* vfm_save of a busy source */
		{
			struct vfm_handle *busy = open_dev("testdev,size=64K,seed=3");

			busy_device(busy, bs, &sess);
			fd = save_to_memfd(busy, NULL, &rc, err);
			close(fd);
			snprintf(what, sizeof(what), "save of a %s source", vfm_state_name(bs));
			check_untouched(what, busy, bs, sess, rc, err);
			vfm_session_close(sess);
			vfm_handle_close(busy);
		}
		/* vfm_migrate from a busy source */
		{
			struct vfm_handle *busy = open_dev("testdev,size=64K,seed=3");
			struct vfm_handle *dst = open_dev("testdev,size=64K");

			busy_device(busy, bs, &sess);
			rc = vfm_migrate(&busy, &dst, 1, NULL, &stats, err, sizeof(err));
			snprintf(what, sizeof(what), "migrate from a %s source",
				 vfm_state_name(bs));
			check_untouched(what, busy, bs, sess, rc, err);
			assert_int_equal(state_of(dst), VFM_STATE_RUNNING);
			vfm_session_close(sess);
			vfm_handle_close(busy);
			vfm_handle_close(dst);
		}
		/* vfm_migrate to a busy destination */
		{
			struct vfm_handle *src = open_dev("testdev,size=64K,seed=3");
			struct vfm_handle *busy = open_dev("testdev,size=64K");
			uint64_t sum = csum(src);

			busy_device(busy, bs, &sess);
			rc = vfm_migrate(&src, &busy, 1, NULL, &stats, err, sizeof(err));
			snprintf(what, sizeof(what), "migrate to a %s destination",
				 vfm_state_name(bs));
			check_untouched(what, busy, bs, sess, rc, err);
			assert_int_equal(state_of(src), VFM_STATE_RUNNING);
			assert_true(csum(src) == sum);
			vfm_session_close(sess);
			vfm_handle_close(src);
			vfm_handle_close(busy);
		}
		/* vfm_load into a busy destination */
		{
			struct vfm_handle *src = open_dev("testdev,size=64K,seed=3");
			struct vfm_handle *busy = open_dev("testdev,size=64K");

			fd = save_to_memfd(src, NULL, &rc, err);
			assert_int_equal(rc, 0);
			busy_device(busy, bs, &sess);
			rc = load_from_fd(busy, fd, NULL, err);
			close(fd);
			snprintf(what, sizeof(what), "load into a %s destination",
				 vfm_state_name(bs));
			check_untouched(what, busy, bs, sess, rc, err);
			vfm_session_close(sess);
			vfm_handle_close(src);
			vfm_handle_close(busy);
		}
	}
}

static void test_device_counts(void **st)
{
	struct vfm_handle *h = open_dev("testdev,size=4K");
	struct vfm_mig_stats stats;
	struct vfm_chan ch;
	char err[ERRLEN];
	int fd = memfd();

	(void)st;
	vfm_chan_init(&ch, fd, "memfd");
	assert_int_equal(vfm_save(&h, 0, &ch, NULL, &stats, err, sizeof(err)), -EINVAL);
	assert_int_equal(vfm_load(&h, 0, &ch, NULL, &stats, err, sizeof(err)), -EINVAL);
	assert_int_equal(vfm_migrate(&h, &h, 0, NULL, &stats, err, sizeof(err)), -EINVAL);
	assert_int_equal(vfm_save(&h, VFM_MAX_DEVICES + 1, &ch, NULL, &stats, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(state_of(h), VFM_STATE_RUNNING);
	close(fd);
	vfm_handle_close(h);
}

/* ---- bad streams -------------------------------------------------------------------------------- */

/* A stream cut at every byte offset: refused with the offset, the destination reset. */
static void test_load_truncated_everywhere(void **st)
{
	struct vfm_handle *src = open_dev("testdev,size=1,seed=3");
	struct vfm_handle *dst = open_dev("testdev,size=1");
	char err[ERRLEN];
	size_t len;
	uint8_t *b;
	int rc, fd;

	(void)st;
	fd = save_to_memfd(src, NULL, &rc, err);
	assert_int_equal(rc, 0);
	b = fd_bytes(fd, &len);
	close(fd);
	assert_true(len > 100 && len < 400);
	for (size_t cut = 0; cut < len; cut++) {
		int cfd = fd_of_bytes(b, cut);
		char log_after[16384];

		rc = load_from_fd(dst, cfd, NULL, err);
		close(cfd);
		if (rc >= 0)
			fail_msg("a stream cut at %zu of %zu was loaded", cut, len);
		if (!strstr(err, "offset"))
			fail_msg("cut at %zu: error '%s' names no offset", cut, err);
		assert_int_equal(state_of(dst), VFM_STATE_RUNNING);
		arc_log(dst, log_after, sizeof(log_after));
		/* the last thing done to the destination: a reset */
		assert_non_null(
			strstr(log_after + (strlen(log_after) > 6 ? strlen(log_after) - 6 : 0),
			       "RESET\n"));
	}
	/* the whole stream still loads into the same destination */
	fd = fd_of_bytes(b, len);
	assert_int_equal(load_from_fd(dst, fd, NULL, err), 0);
	assert_true(csum(dst) == csum(src));
	close(fd);
	free(b);
	vfm_handle_close(src);
	vfm_handle_close(dst);
}

/* Every framing element replaced: refused naming the element's offset; device bytes
 * corrupted: refused by the device; the destination reset either way. */
static void test_load_corrupt(void **st)
{
	struct vfm_handle *src = open_dev("testdev,size=100K,seed=3");
	struct vfm_handle *dst = open_dev("testdev,size=100K");
	char err[ERRLEN];
	size_t len, nel = 0;
	uint64_t offs[64];
	uint8_t *b;
	int rc, fd;

	(void)st;
	fd = save_to_memfd(src, NULL, &rc, err);
	assert_int_equal(rc, 0);
	b = fd_bytes(fd, &len);
	/* where the framing elements are (the decoder is tested on its own) */
	{
		struct vfm_chan ch;
		struct vfm_dec dec;
		struct vfm_ev ev;

		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		vfm_chan_init(&ch, fd, "memfd");
		assert_int_equal(vfm_dec_init(&dec, &ch, 0), 0);
		do {
			assert_int_equal(vfm_dec_next(&dec, &ev), 0);
			assert_true(nel < 64);
			offs[nel++] = ev.offset;
		} while (ev.type != VFM_EV_EOF);
	}
	close(fd);
	offs[nel++] = 0; /* the file magic */
	offs[nel++] = 4; /* the file version */
	for (size_t i = 0; i < nel; i++) {
		uint8_t *c = malloc(len);
		char want[48];

		memcpy(c, b, len);
		c[offs[i]] ^= offs[i] == 4 ? 0x07 : 0xa5;
		fd = fd_of_bytes(c, len);
		rc = load_from_fd(dst, fd, NULL, err);
		close(fd);
		if (rc >= 0)
			fail_msg("stream with byte %llu changed was loaded",
				 (unsigned long long)offs[i]);
		snprintf(want, sizeof(want), "offset %llu", (unsigned long long)offs[i]);
		if (!strstr(err, want))
			fail_msg("byte %llu changed: error '%s' does not name %s",
				 (unsigned long long)offs[i], err, want);
		assert_int_equal(state_of(dst), VFM_STATE_RUNNING);
		free(c);
	}
	/* device bytes: the destination validates and refuses */
	for (size_t k = len / 3; k < len; k += len / 3) {
		uint8_t *c = malloc(len);

		memcpy(c, b, len);
		c[k] ^= 0x01;
		fd = fd_of_bytes(c, len);
		rc = load_from_fd(dst, fd, NULL, err);
		close(fd);
		if (k < len - 1 && rc >= 0)
			fail_msg("stream with device byte %zu changed was loaded", k);
		assert_int_equal(state_of(dst), VFM_STATE_RUNNING);
		free(c);
	}
	/* a stream of another device size */
	{
		struct vfm_handle *other = open_dev("testdev,size=99K");

		fd = fd_of_bytes(b, len);
		assert_true(load_from_fd(other, fd, NULL, err) < 0);
		assert_int_equal(state_of(other), VFM_STATE_RUNNING);
		assert_true(was_reset(other));
		close(fd);
		vfm_handle_close(other);
	}
	/* garbage and nothing */
	{
		static const uint8_t junk[] = "this is not a migration stream at all";

		fd = fd_of_bytes(junk, sizeof(junk));
		assert_true(load_from_fd(dst, fd, NULL, err) < 0);
		assert_non_null(strstr(err, "offset 0"));
		close(fd);
		fd = fd_of_bytes(NULL, 0);
		assert_true(load_from_fd(dst, fd, NULL, err) < 0);
		assert_non_null(strstr(err, "offset 0"));
		close(fd);
		assert_int_equal(state_of(dst), VFM_STATE_RUNNING);
	}
	free(b);
	vfm_handle_close(src);
	vfm_handle_close(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_save_load_sizes),
		cmocka_unit_test(test_migrate_sizes),
		cmocka_unit_test(test_keep_running),
		cmocka_unit_test(test_save_load_pipe),
		cmocka_unit_test(test_migrate_precopy_dirty),
		cmocka_unit_test(test_migrate_two_devices_p2p),
		cmocka_unit_test(test_multi_without_p2p),
		cmocka_unit_test(test_faults_arcs_migrate),
		cmocka_unit_test(test_faults_arcs_save_load),
		cmocka_unit_test(test_faults_bytes),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_save_channel_fails),
		cmocka_unit_test(test_refuse_without_stop_copy),
		cmocka_unit_test(test_busy_devices_left_alone),
		cmocka_unit_test(test_device_counts),
		cmocka_unit_test(test_load_truncated_everywhere),
		cmocka_unit_test(test_load_corrupt),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
