// SPDX-License-Identifier: BSD-3-Clause
/*
 * testdev, the sample device (include/vfio-mig/testdev.h): its spec, its content, its
 * stream format, every fault knob and its pre-copy accounting, driven through the device
 * library's API.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "vfio-mig/device.h"
#include "vfio-mig/engine.h"
#include "vfio-mig/fsm.h"
#include "vfio-mig/handle.h"
#include "vfio-mig/testdev.h"

#define REC   VFM_TESTDEV_REC_SIZE
#define CHUNK VFM_TESTDEV_CHUNK

static struct vfm_testdev *td_new(const char *spec)
{
	struct vfm_testdev_config cfg;
	struct vfm_testdev *td = NULL;
	char err[256] = "";

	vfm_testdev_config_default(&cfg);
	if (vfm_testdev_parse(spec, &cfg, err, sizeof(err)))
		fail_msg("spec '%s': %s", spec, err);
	if (vfm_testdev_create(&cfg, "td", NULL, &td, err, sizeof(err)))
		fail_msg("create '%s': %s", spec, err);
	return td;
}

static struct vfm_device *dev_of(struct vfm_testdev *td)
{
	return vfm_testdev_device(td);
}

static uint64_t stream_len(uint64_t size)
{
	uint64_t chunks = (size + CHUNK - 1) / CHUNK;

	return REC + chunks * REC + size + REC;
}

/* SET target; returns the session (must open one). */
static vfm_session_id open_session(struct vfm_testdev *td, uint32_t target)
{
	vfm_session_id sid = 0;

	assert_int_equal(vfm_device_set_state(dev_of(td), target, &sid), 0);
	assert_true(sid != 0);
	return sid;
}

/* Reads the session to its end (0 or -ENOMSG) in pieces; returns bytes or the error. */
static int64_t read_stream(struct vfm_testdev *td, vfm_session_id sid, uint8_t *buf, size_t max,
			   size_t piece, int *end_rc)
{
	size_t got = 0;

	for (;;) {
		size_t want = piece < max - got ? piece : max - got;
		ssize_t n;

		assert_true(want > 0);
		n = vfm_device_read(dev_of(td), sid, buf + got, want);
		if (n <= 0) {
			if (end_rc)
				*end_rc = (int)n;
			return n < 0 && n != -ENOMSG ? n : (int64_t)got;
		}
		got += (size_t)n;
	}
}

/* A whole STOP_COPY stream of a RUNNING device (malloc'ed). */
static uint8_t *save_all(struct vfm_testdev *td, size_t piece, uint64_t *len)
{
	uint64_t size = vfm_testdev_config(td)->size;
	size_t max = (size_t)stream_len(size) + 64;
	uint8_t *buf = malloc(max);
	vfm_session_id sid;
	int end_rc = 1;
	int64_t n;

	assert_non_null(buf);
	sid = open_session(td, VFM_STATE_STOP_COPY);
	n = read_stream(td, sid, buf, max, piece, &end_rc);
	assert_true(n >= 0);
	assert_int_equal(end_rc, 0);
	*len = (uint64_t)n;
	assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_RUNNING, NULL), 0);
	return buf;
}

/* Writes buf into a RESUMING session in pieces; returns bytes accepted or the error. */
static int64_t load_stream(struct vfm_testdev *td, vfm_session_id sid, const uint8_t *buf,
			   size_t len, size_t piece)
{
	size_t off = 0;

	while (off < len) {
		size_t n = piece < len - off ? piece : len - off;
		ssize_t w = vfm_device_write(dev_of(td), sid, buf + off, n);

		if (w < 0)
			return off ? (int64_t)off : w;
		assert_true(w > 0);
		off += (size_t)w;
	}
	return (int64_t)off;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* ---- spec ------------------------------------------------------------------------------ */

static void test_defaults(void **st)
{
	struct vfm_testdev_config c;

	(void)st;
	memset(&c, 0x5a, sizeof(c));
	vfm_testdev_config_default(&c);
	assert_int_equal(c.size, 64ull << 20);
	assert_int_equal(c.seed, 1);
	assert_int_equal(c.dirty_rate, 0);
	assert_true(c.p2p);
	assert_true(c.precopy);
	assert_true(c.enomsg);
	assert_false(c.fail_arc);
	assert_false(c.error_arc);
	assert_int_equal(c.fail_read_at, -1);
	assert_int_equal(c.fail_write_at, -1);
	assert_int_equal(c.corrupt_at, -1);
	assert_false(c.reject_load);
}

static void test_parse_all_options(void **st)
{
	struct vfm_testdev_config c;
	char err[256];

	(void)st;
	vfm_testdev_config_default(&c);
	assert_int_equal(vfm_testdev_parse("testdev,size=3M,seed=7,dirty-rate=32M,p2p=off,"
					   "pre-copy=off,enomsg=off,fail-arc=STOP_COPY>STOP,"
					   "error-arc=RUNNING>RUNNING_P2P,fail-read-at=100,"
					   "fail-write-at=4K,corrupt-at=1.5K,reject-load=on",
					   &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.size, 3ull << 20);
	assert_int_equal(c.seed, 7);
	assert_int_equal(c.dirty_rate, 32ull << 20);
	assert_false(c.p2p);
	assert_false(c.precopy);
	assert_false(c.enomsg);
	assert_true(c.fail_arc);
	assert_int_equal(c.fail_from, VFM_STATE_STOP_COPY);
	assert_int_equal(c.fail_to, VFM_STATE_STOP);
	assert_true(c.error_arc);
	assert_int_equal(c.error_from, VFM_STATE_RUNNING);
	assert_int_equal(c.error_to, VFM_STATE_RUNNING_P2P);
	assert_int_equal(c.fail_read_at, 100);
	assert_int_equal(c.fail_write_at, 4096);
	assert_int_equal(c.corrupt_at, 1536);
	assert_true(c.reject_load);
	/* without the leading "testdev"; later values override; bool spellings */
	assert_int_equal(vfm_testdev_parse("size=4K,p2p=on,pre-copy=yes,enomsg=1,reject-load=false,"
					   "size=1G,seed=0",
					   &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.size, 1ull << 30);
	assert_int_equal(c.seed, 0);
	assert_true(c.p2p);
	assert_true(c.precopy);
	assert_true(c.enomsg);
	assert_false(c.reject_load);
	/* earlier values stay when not mentioned */
	assert_int_equal(c.fail_read_at, 100);
	/* sizes */
	{
		static const struct {
			const char *s;
			uint64_t v;
		} sizes[] = {{"size=0", 0},	   {"size=1", 1},
			     {"size=4096", 4096},  {"size=4k", 4096},
			     {"size=4KiB", 4096},  {"size=4KB", 4096},
			     {"size=2M", 2 << 20}, {"size=64G", 64ull << 30},
			     {"size=0.5K", 512}};

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			assert_int_equal(vfm_testdev_parse(sizes[i].s, &c, err, sizeof(err)), 0);
			assert_int_equal(c.size, sizes[i].v);
		}
	}
	/* the state names in arcs: any case, with or without the VFIO prefix */
	assert_int_equal(
		vfm_testdev_parse("fail-arc=stop>vfio_device_state_resuming", &c, err, sizeof(err)),
		0);
	assert_int_equal(c.fail_from, VFM_STATE_STOP);
	assert_int_equal(c.fail_to, VFM_STATE_RESUMING);
	/* just "testdev" */
	vfm_testdev_config_default(&c);
	assert_int_equal(vfm_testdev_parse("testdev", &c, err, sizeof(err)), 0);
	assert_int_equal(c.size, 64ull << 20);
}

static void test_parse_bad_input(void **st)
{
	static const char *const bad[] = {
		"size",
		"size=",
		"size=abc",
		"size=-1",
		"size=1X",
		"size=65G",
		"size=1.3",
		"size=99999999999999999999999",
		"seed=x",
		"dirty-rate=fast",
		"p2p=maybe",
		"pre-copy=",
		"enomsg=2",
		"reject-load=please",
		"fail-arc=STOP",
		"fail-arc=STOP>",
		"fail-arc=>STOP",
		"fail-arc=STOP>BOGUS",
		"fail-arc=STOP->RUNNING",
		"error-arc=RUNNING",
		"fail-read-at=-5",
		"fail-read-at=x",
		"fail-write-at=",
		"corrupt-at=1.5",
		"colour=blue",
		"testdev,bogus",
		"size=4K,testdev",
		"testdevx",
		"=4K",
	};
	char err[256];

	(void)st;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vfm_testdev_config c;

		vfm_testdev_config_default(&c);
		err[0] = '\0';
		if (vfm_testdev_parse(bad[i], &c, err, sizeof(err)) != -EINVAL)
			fail_msg("spec '%s' accepted", bad[i]);
		if (!err[0])
			fail_msg("spec '%s': no reason given", bad[i]);
	}
	/* the reason names the option */
	{
		struct vfm_testdev_config c;

		vfm_testdev_config_default(&c);
		assert_int_equal(vfm_testdev_parse("colour=blue", &c, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "colour"));
		assert_int_equal(vfm_testdev_parse("size=65G", &c, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "size"));
	}
	/* far too long */
	{
		char spec[1024];
		struct vfm_testdev_config c;

		memset(spec, 'a', sizeof(spec) - 1);
		spec[sizeof(spec) - 1] = '\0';
		vfm_testdev_config_default(&c);
		assert_int_equal(vfm_testdev_parse(spec, &c, err, sizeof(err)), -EINVAL);
	}
	/* a size above the limit given straight to create */
	{
		struct vfm_testdev_config c;
		struct vfm_testdev *td = NULL;

		vfm_testdev_config_default(&c);
		c.size = VFM_TESTDEV_MAX_SIZE + 1;
		assert_int_equal(vfm_testdev_create(&c, "x", NULL, &td, err, sizeof(err)), -EINVAL);
		assert_null(td);
	}
}

/* ---- content ---------------------------------------------------------------------------- */

static void test_content_from_seed(void **st)
{
	struct vfm_testdev *a = td_new("size=200K,seed=5");
	struct vfm_testdev *b = td_new("size=200K,seed=5");
	struct vfm_testdev *c = td_new("size=200K,seed=6");
	struct vfm_testdev *e = td_new("size=199K,seed=5");
	uint8_t pa[4096], pb[4096];

	(void)st;
	assert_true(vfm_testdev_checksum(a) == vfm_testdev_checksum(b));
	assert_true(vfm_testdev_checksum(a) != vfm_testdev_checksum(c));
	assert_true(vfm_testdev_checksum(a) != vfm_testdev_checksum(e));
	/* same bytes, not just the same hash */
	assert_int_equal(vfm_testdev_peek(a, 100000, pa, sizeof(pa)), 0);
	assert_int_equal(vfm_testdev_peek(b, 100000, pb, sizeof(pb)), 0);
	assert_memory_equal(pa, pb, sizeof(pa));
	assert_int_equal(vfm_testdev_peek(c, 100000, pb, sizeof(pb)), 0);
	assert_memory_not_equal(pa, pb, sizeof(pa));
	/* the whole content is equal, byte for byte */
	{
		uint8_t *x = malloc(200 << 10), *y = malloc(200 << 10);

		assert_int_equal(vfm_testdev_peek(a, 0, x, 200 << 10), 0);
		assert_int_equal(vfm_testdev_peek(b, 0, y, 200 << 10), 0);
		assert_memory_equal(x, y, 200 << 10);
		free(x);
		free(y);
	}
	/* peek bounds */
	assert_int_equal(vfm_testdev_peek(a, 200 << 10, pa, 1), -EINVAL);
	assert_int_equal(vfm_testdev_peek(a, (200 << 10) - 10, pa, 11), -EINVAL);
	assert_int_equal(vfm_testdev_peek(a, 0xffffffffffffffffull, pa, 1), -EINVAL);
	assert_int_equal(vfm_testdev_peek(a, (200 << 10) - 10, pa, 10), 0);
	/* the hash depends on length and on every byte */
	assert_true(vfm_testdev_hash("", 0) != vfm_testdev_hash("\0", 1));
	assert_true(vfm_testdev_hash("abc", 3) == vfm_testdev_hash("abc", 3));
	assert_true(vfm_testdev_hash("abc", 3) != vfm_testdev_hash("abd", 3));
	vfm_testdev_destroy(a);
	vfm_testdev_destroy(b);
	vfm_testdev_destroy(c);
	vfm_testdev_destroy(e);
	vfm_testdev_destroy(NULL);
}

/* The documented stream: HEADER {size}, DATA {offset, bytes} per chunk, END {checksum}. */
static void test_stream_format(void **st)
{
	struct vfm_testdev *td = td_new("size=150000,seed=3");
	uint64_t len, off = 0, covered = 0;
	uint8_t *s = save_all(td, 1000, &len);
	uint8_t *mem = malloc(150000);

	(void)st;
	assert_int_equal(len, stream_len(150000));
	assert_int_equal(vfm_testdev_peek(td, 0, mem, 150000), 0);
	assert_int_equal(get_le32(s), VFM_TESTDEV_REC_HEADER);
	assert_int_equal(get_le32(s + 4), 0);
	assert_int_equal(get_le64(s + 8), 150000);
	off = REC;
	while (get_le32(s + off) == VFM_TESTDEV_REC_DATA) {
		uint32_t n = get_le32(s + off + 4);
		uint64_t at = get_le64(s + off + 8);

		assert_int_equal(at, covered);
		assert_int_equal(n, 150000 - at < CHUNK ? 150000 - at : CHUNK);
		assert_memory_equal(s + off + REC, mem + at, n);
		covered += n;
		off += REC + n;
	}
	assert_int_equal(covered, 150000);
	assert_int_equal(get_le32(s + off), VFM_TESTDEV_REC_END);
	assert_true(get_le64(s + off + 8) == vfm_testdev_checksum(td));
	assert_int_equal(off + REC, len);
	free(s);
	free(mem);
	vfm_testdev_destroy(td);
}

/* Save and load round trips, also for 0- and 1-byte devices, in odd read/write pieces. */
static void test_round_trip_sizes(void **st)
{
	static const char *const sizes[] = {"0", "1", "15", "65535", "65536", "65537", "300000"};

	(void)st;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char spec[64];
		struct vfm_testdev *src, *dst;
		uint64_t len, size;
		uint8_t *s;
		vfm_session_id sid;

		snprintf(spec, sizeof(spec), "size=%s,seed=11", sizes[i]);
		src = td_new(spec);
		snprintf(spec, sizeof(spec), "size=%s,seed=12", sizes[i]);
		dst = td_new(spec);
		size = vfm_testdev_config(src)->size;
		s = save_all(src, 1 + i * 333, &len);
		assert_int_equal(len, stream_len(size));
		if (size)
			assert_true(vfm_testdev_checksum(src) != vfm_testdev_checksum(dst));
		/* the data-size estimate covers the whole stream */
		{
			uint64_t est;

			assert_int_equal(vfm_device_data_size(dev_of(src), &est), 0);
			assert_true(est >= len);
		}
		sid = open_session(dst, VFM_STATE_RESUMING);
		assert_int_equal(load_stream(dst, sid, s, (size_t)len, 1 + i * 777), (int64_t)len);
		assert_int_equal(vfm_device_set_state(dev_of(dst), VFM_STATE_RUNNING, NULL), 0);
		assert_true(vfm_testdev_checksum(src) == vfm_testdev_checksum(dst));
		free(s);
		vfm_testdev_destroy(src);
		vfm_testdev_destroy(dst);
	}
}

/* The flags follow p2p= and pre-copy=. */
static void test_flags_switches(void **st)
{
	static const struct {
		const char *spec;
		uint64_t flags;
	} cases[] = {
		{"size=4K", 7},
		{"size=4K,p2p=off", 5},
		{"size=4K,pre-copy=off", 3},
		{"size=4K,p2p=off,pre-copy=off", 1},
	};

	(void)st;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vfm_testdev *td = td_new(cases[i].spec);
		vfm_session_id sid = 0;

		assert_int_equal(vfm_device_flags(dev_of(td)), cases[i].flags);
		/* and the FSM follows them */
		assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_PRE_COPY, &sid),
				 cases[i].flags & 4 ? 0 : -EINVAL);
		vfm_device_reset(dev_of(td));
		assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_RUNNING_P2P, NULL),
				 cases[i].flags & 2 ? 0 : -EINVAL);
		vfm_testdev_destroy(td);
	}
}

/* ---- faults ---------------------------------------------------------------------------- */

static bool arc_log_has(struct vfm_testdev *td, const char *line)
{
	char buf[8192];

	vfm_testdev_arc_log(td, buf, sizeof(buf));
	return strstr(buf, line) != NULL;
}

static void test_fail_arc(void **st)
{
	struct vfm_testdev *td = td_new("size=4K,fail-arc=RUNNING_P2P>STOP");
	vfm_session_id sid = 7;

	(void)st;
	assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_STOP_COPY, &sid), -EIO);
	assert_int_equal(sid, 0);
	assert_int_equal(vfm_device_get_state(dev_of(td)), VFM_STATE_RUNNING_P2P);
	assert_true(arc_log_has(td, "RUNNING>RUNNING_P2P\n"));
	assert_true(arc_log_has(td, "RUNNING_P2P>STOP!\n"));
	/* it keeps failing; other arcs work */
	assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_STOP, NULL), -EIO);
	assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_RUNNING, NULL), 0);
	assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_PRE_COPY, &sid), 0);
	assert_true(sid != 0);
	vfm_testdev_destroy(td);
}

static void test_error_arc(void **st)
{
	struct vfm_testdev *td = td_new("size=4K,error-arc=STOP>STOP_COPY");
	uint64_t before = vfm_testdev_checksum(td);

	(void)st;
	assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_STOP_COPY, NULL), -EIO);
	assert_int_equal(vfm_device_get_state(dev_of(td)), VFM_STATE_ERROR);
	assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_RUNNING, NULL), -EINVAL);
	assert_int_equal(vfm_device_get_state(dev_of(td)), VFM_STATE_ERROR);
	assert_int_equal(vfm_device_reset(dev_of(td)), 0);
	assert_int_equal(vfm_device_get_state(dev_of(td)), VFM_STATE_RUNNING);
	assert_true(arc_log_has(td, "STOP>STOP_COPY!\nRESET\n"));
	assert_true(vfm_testdev_checksum(td) == before);
	vfm_testdev_destroy(td);
}

/* fail-read-at=K: exactly K bytes come out, then -EIO, whatever the read size. */
static void test_fail_read_at(void **st)
{
	static const uint64_t ks[] = {0, 1, 15, 16, 17, 32, 100, 65536 + 32, 65536 + 48};
	static const size_t pieces[] = {1, 7, 4096, 1 << 20};

	(void)st;
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
			char spec[96];
			struct vfm_testdev *td;
			uint8_t *buf;
			vfm_session_id sid;
			size_t got = 0;
			ssize_t n;

			if (pieces[p] == 1 && ks[i] > 1000)
				continue;
			buf = malloc(1 << 20);
			snprintf(spec, sizeof(spec), "size=200K,fail-read-at=%llu",
				 (unsigned long long)ks[i]);
			td = td_new(spec);
			sid = open_session(td, VFM_STATE_STOP_COPY);
			while ((n = vfm_device_read(dev_of(td), sid, buf, pieces[p])) > 0)
				got += (size_t)n;
			if (got != ks[i] || n != -EIO)
				fail_msg("fail-read-at=%llu, reads of %zu: %zu bytes then %zd",
					 (unsigned long long)ks[i], pieces[p], got, n);
			/* and it stays failed */
			assert_int_equal(vfm_device_read(dev_of(td), sid, buf, 1), -EIO);
			free(buf);
			vfm_testdev_destroy(td);
		}
	}
}

/* fail-write-at=K: exactly K bytes are accepted, then -EIO. */
static void test_fail_write_at(void **st)
{
	static const uint64_t ks[] = {0, 1, 16, 40, 65536 + 40};
	struct vfm_testdev *src = td_new("size=200K,seed=4");
	uint64_t len;
	uint8_t *s = save_all(src, 1 << 20, &len);

	(void)st;
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		for (size_t piece = 1; piece <= 1 << 20; piece *= 64) {
			char spec[96];
			struct vfm_testdev *dst;
			vfm_session_id sid;
			size_t off = 0;
			ssize_t w = 0;

			if (piece == 1 && ks[i] > 1000)
				continue;
			snprintf(spec, sizeof(spec), "size=200K,fail-write-at=%llu",
				 (unsigned long long)ks[i]);
			dst = td_new(spec);
			sid = open_session(dst, VFM_STATE_RESUMING);
			while (off < len) {
				size_t n = piece < len - off ? piece : (size_t)(len - off);

				w = vfm_device_write(dev_of(dst), sid, s + off, n);
				if (w <= 0)
					break;
				off += (size_t)w;
			}
			if (off != ks[i] || w != -EIO)
				fail_msg("fail-write-at=%llu, writes of %zu: %zu bytes then %zd",
					 (unsigned long long)ks[i], piece, off, w);
			/* the incomplete state does not validate */
			assert_int_equal(vfm_device_set_state(dev_of(dst), VFM_STATE_STOP, NULL),
					 -EINVAL);
			assert_int_equal(vfm_device_get_state(dev_of(dst)), VFM_STATE_RESUMING);
			vfm_testdev_destroy(dst);
		}
	}
	free(s);
	vfm_testdev_destroy(src);
}

/* corrupt-at=K flips exactly byte K of the outgoing stream, and the destination refuses
 * the state at RESUMING -> STOP. */
static void test_corrupt_at(void **st)
{
	struct vfm_testdev *clean = td_new("size=200K,seed=9");
	uint64_t clen;
	uint8_t *c = save_all(clean, 1 << 20, &clen);
	/* in the first payload, deep in a payload, in the last payload byte */
	const uint64_t ks[] = {2 * REC, 2 * REC + 1000, 3 * REC + CHUNK + 5, clen - REC - 1};

	(void)st;
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		char spec[96];
		struct vfm_testdev *src, *dst;
		uint64_t len;
		uint8_t *s;
		vfm_session_id sid;

		snprintf(spec, sizeof(spec), "size=200K,seed=9,corrupt-at=%llu",
			 (unsigned long long)ks[i]);
		src = td_new(spec);
		s = save_all(src, 1000, &len);
		assert_int_equal(len, clen);
		for (uint64_t k = 0; k < len; k++) {
			if (k == ks[i])
				assert_int_equal(s[k], c[k] ^ 0xff);
			else if (s[k] != c[k])
				fail_msg("corrupt-at=%llu changed byte %llu too",
					 (unsigned long long)ks[i], (unsigned long long)k);
		}
		dst = td_new("size=200K,seed=1");
		sid = open_session(dst, VFM_STATE_RESUMING);
		assert_int_equal(load_stream(dst, sid, s, (size_t)len, 4096), (int64_t)len);
		assert_int_equal(vfm_device_set_state(dev_of(dst), VFM_STATE_STOP, NULL), -EINVAL);
		assert_int_equal(vfm_device_get_state(dev_of(dst)), VFM_STATE_RESUMING);
		/* the source's own state is untouched */
		assert_true(vfm_testdev_checksum(src) == vfm_testdev_checksum(clean));
		free(s);
		vfm_testdev_destroy(src);
		vfm_testdev_destroy(dst);
	}
	free(c);
	vfm_testdev_destroy(clean);
}

/* corrupt-at=K on any byte of a record header (type, len, arg) of the HEADER, the first
 * DATA and the END record: refused no later than RESUMING -> STOP. The format fixes every
 * field (HEADER and END carry len 0), so no corrupted byte may go unnoticed. */
static void test_corrupt_record_headers(void **st)
{
	const uint64_t size = 100 << 10, len = stream_len(100 << 10);
	uint64_t ks[3 * REC];
	size_t nk = 0;
	char accepted[256] = "";

	(void)st;
	for (uint64_t k = 0; k < 2 * REC; k++)
		ks[nk++] = k; /* HEADER, first DATA header */
	for (uint64_t k = len - REC; k < len; k++)
		ks[nk++] = k; /* END */
	for (size_t i = 0; i < nk; i++) {
		char spec[96];
		struct vfm_testdev *src, *dst;
		uint64_t got;
		uint8_t *s;
		vfm_session_id sid;

		snprintf(spec, sizeof(spec), "size=%llu,seed=9,corrupt-at=%llu",
			 (unsigned long long)size, (unsigned long long)ks[i]);
		src = td_new(spec);
		s = save_all(src, 1 << 20, &got);
		assert_int_equal(got, len);
		dst = td_new("size=100K");
		sid = open_session(dst, VFM_STATE_RESUMING);
		(void)load_stream(dst, sid, s, (size_t)len, 1 << 20);
		if (vfm_device_set_state(dev_of(dst), VFM_STATE_STOP, NULL) == 0) {
			size_t l = strlen(accepted);

			snprintf(accepted + l, sizeof(accepted) - l, " %llu",
				 (unsigned long long)ks[i]);
		} else {
			assert_int_equal(vfm_device_get_state(dev_of(dst)), VFM_STATE_RESUMING);
		}
		free(s);
		vfm_testdev_destroy(src);
		vfm_testdev_destroy(dst);
	}
	if (accepted[0])
		fail_msg("a stream corrupted at byte(s)%s of %llu was loaded", accepted,
			 (unsigned long long)len);
}

static void test_reject_load(void **st)
{
	struct vfm_testdev *src = td_new("size=100K,seed=2");
	struct vfm_testdev *dst = td_new("size=100K,reject-load=on");
	struct vfm_testdev *ok = td_new("size=100K");
	uint64_t len;
	uint8_t *s = save_all(src, 1 << 20, &len);
	vfm_session_id sid;

	(void)st;
	sid = open_session(dst, VFM_STATE_RESUMING);
	assert_int_equal(load_stream(dst, sid, s, (size_t)len, 1 << 20), (int64_t)len);
	assert_int_equal(vfm_device_set_state(dev_of(dst), VFM_STATE_STOP, NULL), -EINVAL);
	assert_int_equal(vfm_device_get_state(dev_of(dst)), VFM_STATE_RESUMING);
	/* the same stream loads into a device without the knob */
	sid = open_session(ok, VFM_STATE_RESUMING);
	assert_int_equal(load_stream(ok, sid, s, (size_t)len, 1 << 20), (int64_t)len);
	assert_int_equal(vfm_device_set_state(dev_of(ok), VFM_STATE_STOP, NULL), 0);
	assert_true(vfm_testdev_checksum(ok) == vfm_testdev_checksum(src));
	free(s);
	vfm_testdev_destroy(src);
	vfm_testdev_destroy(dst);
	vfm_testdev_destroy(ok);
}

/* A state of another size is refused. */
static void test_size_mismatch(void **st)
{
	struct vfm_testdev *src = td_new("size=100K");
	struct vfm_testdev *dst = td_new("size=101K");
	uint64_t len;
	uint8_t *s = save_all(src, 1 << 20, &len);
	vfm_session_id sid;

	(void)st;
	sid = open_session(dst, VFM_STATE_RESUMING);
	assert_true(load_stream(dst, sid, s, (size_t)len, 1 << 20) < (int64_t)len ||
		    vfm_device_set_state(dev_of(dst), VFM_STATE_STOP, NULL) != 0);
	assert_int_equal(vfm_device_set_state(dev_of(dst), VFM_STATE_STOP, NULL), -EINVAL);
	free(s);
	vfm_testdev_destroy(src);
	vfm_testdev_destroy(dst);
}

/* ---- pre-copy ------------------------------------------------------------------------------ */

/* Without a workload: initial_bytes starts at the first pass, never grows while reading
 * and reaches 0; dirty stays 0; the temporary end reads -ENOMSG (0 with enomsg=off). */
static void test_precopy_accounting(void **st)
{
	(void)st;
	for (int enomsg = 0; enomsg < 2; enomsg++) {
		struct vfm_testdev *td = td_new(enomsg ? "size=300K" : "size=300K,enomsg=off");
		vfm_session_id sid = open_session(td, VFM_STATE_PRE_COPY);
		uint64_t initial, dirty, prev, total = 0;
		uint8_t buf[5000];
		ssize_t n;

		assert_int_equal(vfm_device_precopy_info(dev_of(td), sid, &initial, &dirty, NULL),
				 0);
		assert_int_equal(initial, stream_len(300 << 10) - REC); /* all but END */
		assert_int_equal(dirty, 0);
		prev = initial;
		while ((n = vfm_device_read(dev_of(td), sid, buf, sizeof(buf))) > 0) {
			total += (uint64_t)n;
			assert_int_equal(
				vfm_device_precopy_info(dev_of(td), sid, &initial, &dirty, NULL),
				0);
			assert_true(initial <= prev);
			assert_int_equal(initial, prev - (uint64_t)n);
			assert_int_equal(dirty, 0);
			prev = initial;
		}
		assert_int_equal(n, enomsg ? -ENOMSG : 0);
		assert_int_equal(initial, 0);
		assert_int_equal(total, stream_len(300 << 10) - REC);
		/* STOP_COPY then sends just the END record */
		assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_STOP_COPY, NULL), 0);
		assert_int_equal(vfm_device_read(dev_of(td), sid, buf, sizeof(buf)), REC);
		assert_int_equal(get_le32(buf), VFM_TESTDEV_REC_END);
		assert_int_equal(vfm_device_read(dev_of(td), sid, buf, sizeof(buf)), 0);
		vfm_testdev_destroy(td);
	}
}

/* ---- pre-copy info v2 (Linux 7.1: the opt-in and REINIT, doc/uapi-7.x.md) ------------------ */

/* VFIO_DEVICE_FEATURE of index 12 with these flags, no payload. */
static int precopy_v2_feature(struct vfm_testdev *td, uint32_t flags)
{
	struct vfm_device_feature f = {.argsz = sizeof(f),
				       .flags = flags | VFM_DEVICE_FEATURE_MIG_PRECOPY_INFOv2};

	return vfm_device_feature(dev_of(td), &f, sizeof(f), NULL, NULL);
}

/* The opt-in as Linux 7.3's core answers it, and ENOTTY where a 6.12 kernel would. */
static void test_precopy_v2_opt_in(void **st)
{
	const uint32_t G = VFM_DEVICE_FEATURE_GET, S = VFM_DEVICE_FEATURE_SET,
		       P = VFM_DEVICE_FEATURE_PROBE;
	struct vfm_testdev *td = td_new("size=64K");
	struct vfm_testdev *v1 = td_new("size=64K,precopy-v2=off");
	struct vfm_testdev *nopre = td_new("size=64K,pre-copy=off");
	struct vfm_testdev *bug = td_new("size=64K,bug=precopy-v2-get");

	(void)st;
	assert_int_equal(precopy_v2_feature(td, G), -EINVAL);
	assert_int_equal(precopy_v2_feature(td, G | S), -EINVAL);
	assert_int_equal(precopy_v2_feature(td, P | G), -EINVAL);
	assert_int_equal(precopy_v2_feature(td, 0), -EINVAL);
	assert_int_equal(precopy_v2_feature(td, P), 0);
	assert_int_equal(precopy_v2_feature(td, P | S), 0);
	assert_false(vfm_device_precopy_v2(dev_of(td))); /* probes set nothing */
	assert_int_equal(precopy_v2_feature(td, S), 0);
	assert_true(vfm_device_precopy_v2(dev_of(td)));
	/* a reset keeps it; the client leaving ends it */
	assert_int_equal(vfm_device_reset(dev_of(td)), 0);
	assert_true(vfm_device_precopy_v2(dev_of(td)));
	vfm_device_client_closed(dev_of(td));
	assert_false(vfm_device_precopy_v2(dev_of(td)));
	for (uint32_t f = 0; f <= (P | G | S); f += 1u << 16) {
		bool get_set = (f & G) && (f & S) && !(f & P); /* refused before any index */

		assert_int_equal(precopy_v2_feature(v1, f), get_set ? -EINVAL : -ENOTTY);
		assert_int_equal(precopy_v2_feature(nopre, f), -EINVAL);
	}
	assert_false(vfm_device_precopy_v2(dev_of(v1)));
	assert_int_equal(precopy_v2_feature(bug, G), 0); /* the deliberate violation */
	vfm_testdev_destroy(td);
	vfm_testdev_destroy(v1);
	vfm_testdev_destroy(nopre);
	vfm_testdev_destroy(bug);
}

struct reinit_run {
	unsigned reinits;   /* queries that said REINIT */
	uint64_t at_reinit; /* initial_bytes on that query */
	uint64_t before;    /* initial_bytes on the query before it */
	bool initial_grew;  /* at any other query */
	bool other_flags;   /* a flag other than REINIT, or one without the opt-in */
	uint64_t total, dirty_max;
};

/* Reads a PRE_COPY session to its temporary end, querying after every read. */
static void reinit_read(struct vfm_testdev *td, vfm_session_id sid, bool opted,
			struct reinit_run *r)
{
	uint64_t initial, dirty, prev = UINT64_MAX;
	uint8_t buf[7000];
	ssize_t n;

	memset(r, 0, sizeof(*r));
	do {
		uint32_t flags = 0x80000000u; /* the caller's bits never come back */

		assert_int_equal(vfm_device_precopy_info(dev_of(td), sid, &initial, &dirty, &flags),
				 0);
		if (flags & VFM_PRECOPY_INFO_REINIT) {
			r->reinits++;
			r->at_reinit = initial;
			r->before = prev;
		} else if (prev != UINT64_MAX && initial > prev) {
			r->initial_grew = true;
		}
		r->other_flags |= (flags & ~VFM_PRECOPY_INFO_REINIT) || (flags && !opted);
		r->dirty_max = dirty > r->dirty_max ? dirty : r->dirty_max;
		prev = initial;
		n = vfm_device_read(dev_of(td), sid, buf, sizeof(buf));
		r->total += n > 0 ? (uint64_t)n : 0;
	} while (n > 0);
	assert_int_equal(n, -ENOMSG);
	assert_int_equal(initial, 0);
	assert_int_equal(dirty, 0);
}

/* reinit-at=K: to a client that opted in, REINIT once with the chunks already sent as new
 * initial data; to one that did not, flags 0 and the same bytes as dirty data. Either way
 * the stream loads into a state equal to the source's. */
static void test_precopy_reinit(void **st)
{
	const uint64_t size = 300 << 10, first = stream_len(300 << 10) - REC;

	(void)st;
	for (int opted = 0; opted < 2; opted++) {
		struct vfm_testdev *src = td_new("size=300K,seed=5,reinit-at=100K");
		struct vfm_testdev *dst = td_new("size=300K,seed=6");
		size_t cap = 4 << 20;
		uint8_t *s = malloc(cap);
		struct reinit_run r;
		vfm_session_id sid, rid;
		int end_rc;
		int64_t n;

		assert_non_null(s);
		if (opted)
			assert_int_equal(precopy_v2_feature(src, VFM_DEVICE_FEATURE_SET), 0);
		sid = open_session(src, VFM_STATE_PRE_COPY);
		reinit_read(src, sid, opted, &r);
		assert_false(r.other_flags);
		assert_false(r.initial_grew);
		assert_int_equal(r.reinits, opted ? 1 : 0);
		if (opted) {
			/* the new initial data: the chunks sent by then, on top of what was left */
			assert_true(r.at_reinit > r.before);
			assert_true(r.at_reinit >= 100 << 10);
			assert_int_equal(r.dirty_max, 0);
		} else {
			assert_true(r.dirty_max >= 100 << 10);
		}
		assert_true(r.total > first + (100 << 10));
		vfm_testdev_destroy(src);
		/* the whole stream loads: same again, kept, then STOP_COPY's END */
		src = td_new("size=300K,seed=5,reinit-at=100K");
		if (opted)
			assert_int_equal(precopy_v2_feature(src, VFM_DEVICE_FEATURE_SET), 0);
		sid = open_session(src, VFM_STATE_PRE_COPY);
		n = read_stream(src, sid, s, cap, 7000, &end_rc);
		assert_true(n > (int64_t)first);
		assert_int_equal(end_rc, -ENOMSG);
		assert_int_equal(vfm_device_set_state(dev_of(src), VFM_STATE_STOP_COPY, NULL), 0);
		n += read_stream(src, sid, s + n, cap - (size_t)n, 7000, &end_rc);
		assert_int_equal(end_rc, 0);
		rid = open_session(dst, VFM_STATE_RESUMING);
		assert_int_equal(load_stream(dst, rid, s, (size_t)n, 4096), n);
		assert_int_equal(vfm_device_set_state(dev_of(dst), VFM_STATE_RUNNING, NULL), 0);
		assert_int_equal(vfm_testdev_checksum(dst), vfm_testdev_checksum(src));
		(void)size;
		free(s);
		vfm_testdev_destroy(src);
		vfm_testdev_destroy(dst);
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* With a workload: dirty bytes appear, the dirtied chunks are sent again, and the state
 * loaded at the end equals the source's state when it stopped. */
static void test_precopy_dirty(void **st)
{
	struct vfm_testdev *src = td_new("size=1M,seed=21,dirty-rate=64M");
	struct vfm_testdev *dst = td_new("size=1M");
	size_t cap = 8 << 20, len = 0;
	uint8_t *s = malloc(cap);
	vfm_session_id sid, rid;
	uint64_t initial, dirty, first = stream_len(1 << 20) - REC;
	int end_rc;
	int64_t n;
	bool saw_dirty = false;

	(void)st;
	assert_non_null(s);
	sid = open_session(src, VFM_STATE_PRE_COPY);
	/* the first pass */
	n = read_stream(src, sid, s, cap, 1 << 16, &end_rc);
	assert_true(n >= (int64_t)first);
	len = (size_t)n;
	assert_int_equal(vfm_device_precopy_info(dev_of(src), sid, &initial, &dirty, NULL), 0);
	assert_int_equal(initial, 0);
	/* let the workload dirty some chunks: they show up and are sent again */
	for (int tries = 0; tries < 200 && !saw_dirty; tries++) {
		sleep_ms(5);
		assert_int_equal(vfm_device_precopy_info(dev_of(src), sid, &initial, &dirty, NULL),
				 0);
		assert_int_equal(initial, 0); /* never grows back */
		saw_dirty = dirty > 0;
	}
	assert_true(saw_dirty);
	assert_true(vfm_testdev_written(src) > 0);
	n = read_stream(src, sid, s + len, cap - len, 1 << 16, &end_rc);
	assert_true(n > 0);
	/* what came again are DATA records of chunks already sent */
	assert_int_equal(get_le32(s + len), VFM_TESTDEV_REC_DATA);
	assert_true(get_le64(s + len + 8) < (1 << 20));
	len += (size_t)n;
	/* stop, drain, load */
	assert_int_equal(vfm_device_set_state(dev_of(src), VFM_STATE_STOP_COPY, NULL), 0);
	n = read_stream(src, sid, s + len, cap - len, 1 << 16, &end_rc);
	assert_true(n >= REC);
	assert_int_equal(end_rc, 0);
	len += (size_t)n;
	assert_true(len < cap);
	rid = open_session(dst, VFM_STATE_RESUMING);
	assert_int_equal(load_stream(dst, rid, s, len, 100000), (int64_t)len);
	assert_int_equal(vfm_device_set_state(dev_of(dst), VFM_STATE_STOP, NULL), 0);
	assert_true(vfm_testdev_checksum(dst) == vfm_testdev_checksum(src));
	/* the source did change while it ran */
	{
		struct vfm_testdev *orig = td_new("size=1M,seed=21");

		assert_true(vfm_testdev_checksum(orig) != vfm_testdev_checksum(src));
		vfm_testdev_destroy(orig);
	}
	free(s);
	vfm_testdev_destroy(src);
	vfm_testdev_destroy(dst);
}

/* The workload writes only while the device runs, and follows the rate at run time. */
static void test_workload_stops(void **st)
{
	struct vfm_testdev *td = td_new("size=256K,dirty-rate=0");
	uint64_t w, sum;

	(void)st;
	sleep_ms(20);
	assert_int_equal(vfm_testdev_written(td), 0);
	vfm_testdev_set_dirty_rate(td, 64 << 20);
	for (int i = 0; i < 200 && vfm_testdev_written(td) == 0; i++)
		sleep_ms(5);
	assert_true(vfm_testdev_written(td) > 0);
	assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_STOP, NULL), 0);
	sleep_ms(10);
	w = vfm_testdev_written(td);
	sum = vfm_testdev_checksum(td);
	sleep_ms(40);
	assert_int_equal(vfm_testdev_written(td), w);
	assert_true(vfm_testdev_checksum(td) == sum);
	vfm_testdev_destroy(td);
}

static void test_arc_log(void **st)
{
	struct vfm_testdev *td = td_new("size=4K");
	char buf[4096];
	size_t n;

	(void)st;
	assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_STOP_COPY, NULL), 0);
	n = vfm_testdev_arc_log(td, buf, sizeof(buf));
	assert_string_equal(buf, "RUNNING>RUNNING_P2P\nRUNNING_P2P>STOP\nSTOP>STOP_COPY\n");
	assert_int_equal(n, strlen(buf));
	/* a small buffer: whole lines only, terminated */
	n = vfm_testdev_arc_log(td, buf, 25);
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf, "RUNNING>RUNNING_P2P\n");
	/* the last 256 are kept */
	for (int i = 0; i < 200; i++) {
		assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_STOP, NULL), 0);
		assert_int_equal(vfm_device_set_state(dev_of(td), VFM_STATE_STOP_COPY, NULL), 0);
	}
	{
		char *big = malloc(1 << 16);
		size_t lines = 0;

		vfm_testdev_arc_log(td, big, 1 << 16);
		for (char *p = big; *p; p++)
			lines += *p == '\n';
		assert_int_equal(lines, 256);
		assert_non_null(strstr(big, "STOP>STOP_COPY\n"));
		free(big);
	}
	vfm_testdev_destroy(td);
}

/* Peeking at 0 bytes is valid for every device, a 0-byte one included (there the state
 * has no memory: the copy must not touch a NULL pointer - UBSan checks this). Last in the
 * list: with halt_on_error a finding ends the program. */
static void test_peek_empty(void **st)
{
	(void)st;
	for (int sz = 0; sz < 3; sz++) {
		char spec[32];
		struct vfm_testdev *td;
		uint8_t one[4] = {0};

		snprintf(spec, sizeof(spec), "size=%d", sz);
		td = td_new(spec);
		assert_int_equal(vfm_testdev_peek(td, (uint64_t)sz, one, 0), 0);
		assert_int_equal(vfm_testdev_peek(td, 0, one, 0), 0);
		assert_int_equal(vfm_testdev_peek(td, (uint64_t)sz, one, 1), -EINVAL);
		assert_int_equal(vfm_testdev_peek(td, (uint64_t)sz + 1, one, 0), -EINVAL);
		if (sz)
			assert_int_equal(vfm_testdev_peek(td, 0, one, (size_t)sz), 0);
		vfm_testdev_destroy(td);
	}
}

/*
 * local: a migrated source stays stopped for every later handle onto it (each one a new
 * client of the same device), until one of them starts it.
 */
static void test_migrated_local_source(void **state)
{
	struct vfm_testdev *a = td_new("size=1M,seed=4"), *b = td_new("size=1M,seed=5");
	struct vfm_handle *src, *dst;
	struct vfm_mig_opts opts = {.precopy = true, .downtime_limit_ms = 300};
	struct vfm_mig_stats st;
	uint64_t sum = vfm_testdev_checksum(a);
	uint32_t s;
	char err[512];

	(void)state;
	assert_int_equal(vfm_local_wrap(dev_of(a), "a", NULL, &src), 0);
	assert_int_equal(vfm_local_wrap(dev_of(b), "b", NULL, &dst), 0);
	if (vfm_migrate(&src, &dst, 1, &opts, &st, err, sizeof(err)))
		fail_msg("migrate: %s", err);
	vfm_handle_close(src);
	vfm_handle_close(dst);
	assert_true(vfm_testdev_checksum(b) == sum);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vfm_local_wrap(dev_of(a), "a", NULL, &src), 0);
		assert_int_equal(vfm_handle_get_state(src, &s), 0);
		assert_int_equal(s, VFM_STATE_STOP);
		assert_true(vfm_device_migrated(dev_of(a)));
		vfm_handle_close(src);
	}
	assert_int_equal(vfm_local_wrap(dev_of(a), "a", NULL, &src), 0);
	assert_int_equal(vfm_handle_set_state(src, VFM_STATE_RUNNING, NULL), 0);
	assert_false(vfm_device_migrated(dev_of(a)));
	vfm_handle_close(src);
	assert_true(vfm_testdev_checksum(a) == sum);
	vfm_testdev_destroy(a);
	vfm_testdev_destroy(b);
}

/*
 * A reset is a power-on: the content is the seed's again, whatever was loaded or written
 * since (a destination reset after a failed migration holds none of the source's state).
 * The content is made lazily; the checksum and every byte stay exact.
 */
static void test_reset_power_on(void **state)
{
	struct vfm_testdev *a = td_new("size=1M,seed=8"), *b = td_new("size=1M,seed=9");
	uint64_t sum_a = vfm_testdev_checksum(a), sum_b = vfm_testdev_checksum(b), len;
	uint8_t *s = save_all(a, 4096, &len), first[64], again[64];
	vfm_session_id sid;

	(void)state;
	assert_int_equal(vfm_testdev_peek(b, 1000, first, sizeof(first)), 0);
	assert_int_equal(vfm_device_set_state(dev_of(b), VFM_STATE_STOP, NULL), 0);
	sid = open_session(b, VFM_STATE_RESUMING);
	assert_int_equal(load_stream(b, sid, s, (size_t)len / 2, 4096), (int64_t)len / 2);
	assert_int_equal(vfm_device_reset(dev_of(b)), 0);
	assert_true(vfm_testdev_checksum(b) == sum_b);
	/* Loaded whole, then written by the workload: a reset still brings back the seed's. */
	assert_int_equal(vfm_device_set_state(dev_of(b), VFM_STATE_STOP, NULL), 0);
	sid = open_session(b, VFM_STATE_RESUMING);
	assert_int_equal(load_stream(b, sid, s, (size_t)len, 4096), (int64_t)len);
	assert_int_equal(vfm_device_set_state(dev_of(b), VFM_STATE_RUNNING, NULL), 0);
	assert_true(vfm_testdev_checksum(b) == sum_a);
	vfm_testdev_set_dirty_rate(b, 64 << 20);
	while (vfm_testdev_written(b) == 0)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	/* The workload quiet again (no write for 50 ms), so nothing lands after the reset. */
	vfm_testdev_set_dirty_rate(b, 0);
	for (uint64_t w = 0; w != vfm_testdev_written(b);) {
		w = vfm_testdev_written(b);
		nanosleep(&(struct timespec){0, 50000000}, NULL);
	}
	assert_int_equal(vfm_device_reset(dev_of(b)), 0);
	assert_true(vfm_testdev_checksum(b) == sum_b);
	assert_int_equal(vfm_testdev_peek(b, 1000, again, sizeof(again)), 0);
	assert_memory_equal(first, again, sizeof(first));
	free(s);
	vfm_testdev_destroy(a);
	vfm_testdev_destroy(b);
}

/* A state that cannot fit in the memory there is is refused before it is touched. */
static void test_size_beyond_memory(void **state)
{
	struct vfm_testdev_config cfg;
	struct vfm_testdev *td = NULL;
	char err[512] = "";

	char line[128];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	(void)state;
	while (f && fgets(line, sizeof(line), f) && sscanf(line, "MemAvailable: %llu kB", &kb) != 1)
		;
	if (f)
		fclose(f);
	if (!kb || kb * 1024 >= VFM_TESTDEV_MAX_SIZE)
		skip(); /* no MemAvailable, or room for the largest device */
	vfm_testdev_config_default(&cfg);
	cfg.size = VFM_TESTDEV_MAX_SIZE;
	assert_int_equal(vfm_testdev_create(&cfg, "big", NULL, &td, err, sizeof(err)), -ENOMEM);
	assert_null(td);
	assert_non_null(strstr(err, "available (MemAvailable"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse_all_options),
		cmocka_unit_test(test_parse_bad_input),
		cmocka_unit_test(test_content_from_seed),
		cmocka_unit_test(test_stream_format),
		cmocka_unit_test(test_round_trip_sizes),
		cmocka_unit_test(test_flags_switches),
		cmocka_unit_test(test_fail_arc),
		cmocka_unit_test(test_error_arc),
		cmocka_unit_test(test_fail_read_at),
		cmocka_unit_test(test_fail_write_at),
		cmocka_unit_test(test_corrupt_at),
		cmocka_unit_test(test_corrupt_record_headers),
		cmocka_unit_test(test_reject_load),
		cmocka_unit_test(test_size_mismatch),
		cmocka_unit_test(test_precopy_accounting),
		cmocka_unit_test(test_precopy_dirty),
		cmocka_unit_test(test_precopy_v2_opt_in),
		cmocka_unit_test(test_precopy_reinit),
		cmocka_unit_test(test_workload_stops),
		cmocka_unit_test(test_arc_log),
		cmocka_unit_test(test_peek_empty),
		cmocka_unit_test(test_migrated_local_source),
		cmocka_unit_test(test_reset_power_on),
		cmocka_unit_test(test_size_beyond_memory),
	};

	return cmocka_run_group_tests_name("testdev", tests, NULL, NULL);
}
