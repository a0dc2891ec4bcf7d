// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user server over a real socketpair, driven by a raw test client: negotiation,
 * device model, messages split at every byte, the largest message, bad input of every
 * kind, disconnects in every migration state, interrupts, DMA (mapped and over the
 * socket).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>

#include <cmocka.h>

#include "vu_harness.h"

#define SPEC "testdev,size=1M,seed=3,dirty-rate=0"
#define EXT_JSON                                                                                   \
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":4194304,"                     \
	"\"migration\":{\"pgsize\":4096,\"vfio-mig\":{\"mig_data_size\":true,"                     \
	"\"precopy_info\":true}}}}"

static int setup(void **state)
{
	struct vu_harness *h = calloc(1, sizeof(*h));

	if (!h || vh_start(h, SPEC))
		return -1;
	if (vh_version(h, EXT_JSON))
		return -1;
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct vu_harness *h = *state;

	vh_stop(h);
	free(h);
	return 0;
}

static uint32_t dev_state(struct vu_harness *h)
{
	return vfm_device_get_state(h->dev);
}

/* Ends the connection, checks the device is RUNNING, and starts a fresh one. */
static void reconnect(struct vu_harness *h)
{
	vh_disconnect(h);
	assert_int_equal(dev_state(h), VFM_STATE_RUNNING);
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(vh_version(h, EXT_JSON), 0);
}

static void test_version_and_info(void **state)
{
	struct vu_harness *h = *state;
	struct vfm_vu_device_info di = {.argsz = sizeof(di)};
	struct vfm_vu_region_info ri = {.argsz = sizeof(ri), .index = VFM_VU_PCI_CONFIG};
	struct vfm_vu_irq_info ii = {.argsz = sizeof(ii), .index = VFM_VU_PCI_MSIX_IRQ};
	uint16_t id[2];

	assert_int_equal(vh_call(h, VFM_VU_DEVICE_GET_INFO, &di, sizeof(di), &di, sizeof(di), NULL),
			 0);
	assert_int_equal(di.num_regions, VFM_VU_PCI_NUM_REGIONS);
	assert_true(di.flags & VFM_VU_DEV_F_PCI);
	assert_true(di.flags & VFM_VU_DEV_F_RESET);
	assert_int_equal(
		vh_call(h, VFM_VU_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), &ri, sizeof(ri), NULL),
		0);
	assert_int_equal(ri.size, VFM_VU_CONFIG_SIZE);
	ri = (struct vfm_vu_region_info){.argsz = sizeof(ri), .index = 99};
	assert_int_equal(
		vh_call(h, VFM_VU_DEVICE_GET_REGION_INFO, &ri, sizeof(ri), &ri, sizeof(ri), NULL),
		-EINVAL);
	assert_int_equal(vh_region_read(h, VFM_VU_PCI_CONFIG, 0, id, sizeof(id)), 0);
	assert_int_equal(id[0], VFM_VU_PCI_VENDOR);
	assert_int_equal(id[1], VFM_VU_PCI_DEVICE_TESTDEV);
	assert_int_equal(
		vh_call(h, VFM_VU_DEVICE_GET_IRQ_INFO, &ii, sizeof(ii), &ii, sizeof(ii), NULL), 0);
	assert_int_equal(ii.count, VFM_VU_MSIX_COUNT);
	/* A second VERSION is refused, the connection stays usable. */
	assert_int_equal(vh_version(h, NULL), -EINVAL);
	assert_int_equal(vh_call(h, VFM_VU_DEVICE_GET_INFO, &di, sizeof(di), &di, sizeof(di), NULL),
			 0);
}

static void test_version_reply_caps(void **state)
{
	struct vu_harness *h = *state;
	char buf[4096];
	struct vfm_vu_version *v = (struct vfm_vu_version *)buf;
	struct vfm_vu_caps caps;
	char err[256];
	size_t n;

	vh_disconnect(h);
	assert_int_equal(vh_connect(h), 0);
	v->major = 0;
	v->minor = 7; /* a later minor: the server answers with its own */
	strcpy(v->data, EXT_JSON);
	assert_int_equal(
		vh_call(h, VFM_VU_VERSION, buf, 4 + strlen(EXT_JSON) + 1, buf, sizeof(buf), &n), 0);
	assert_int_equal(v->major, 0);
	assert_int_equal(v->minor, 1);
	assert_int_equal(vfm_vu_caps_parse(v->data, n - 4, &caps, err, sizeof(err)), 0);
	assert_int_equal(caps.max_data_xfer_size, VFM_VU_OUR_MAX_XFER);
	assert_true(caps.ext_mig_data_size && caps.ext_precopy_info);
	/* A client that did not propose the extension does not get it. */
	reconnect(h);
	vh_disconnect(h);
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(vh_call(h, VFM_VU_VERSION, "\0\0\1\0", 4, buf, sizeof(buf), &n), 0);
	assert_int_equal(vfm_vu_caps_parse(v->data, n - 4, &caps, err, sizeof(err)), 0);
	assert_false(caps.ext_mig_data_size || caps.ext_precopy_info || caps.has_migration);
}

static void test_before_version(void **state)
{
	struct vu_harness *h = *state;
	struct vfm_vu_device_info di = {.argsz = sizeof(di)};
	char buf[64];

	vh_disconnect(h);
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(vh_call(h, VFM_VU_DEVICE_GET_INFO, &di, sizeof(di), &di, sizeof(di), NULL),
			 -EINVAL);
	/* Bad JSON: error reply and the connection is closed. */
	memcpy(buf, "\0\0\1\0{", 5);
	assert_int_equal(vh_call(h, VFM_VU_VERSION, buf, 6, buf, sizeof(buf), NULL), -EINVAL);
	assert_int_equal(vh_disconnect(h), -EPROTO);
	/* Major 1: refused, connection closed. */
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(vh_call(h, VFM_VU_VERSION, "\1\0\0\0", 4, buf, sizeof(buf), NULL),
			 -ENOTSUP);
	assert_int_equal(vh_disconnect(h), -EPROTO);
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(vh_version(h, EXT_JSON), 0);
}

static uint64_t bar_u64(struct vu_harness *h, uint64_t off)
{
	uint64_t v = 0;

	assert_int_equal(vh_region_read(h, VFM_VU_PCI_BAR0, off, &v, 8), 0);
	return v;
}

static void test_bar0(void **state)
{
	struct vu_harness *h = *state;
	uint64_t rate = 12345, v;
	uint32_t magic = 0;

	assert_int_equal(vh_region_read(h, VFM_VU_PCI_BAR0, VFM_VU_REG_MAGIC, &magic, 4), 0);
	assert_int_equal(magic, VFM_VU_MAGIC);
	assert_true(bar_u64(h, VFM_VU_REG_CHECKSUM) == vfm_testdev_checksum(h->td));
	assert_int_equal(bar_u64(h, VFM_VU_REG_STATE_SIZE), 1 << 20);
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_DIRTY_RATE, &rate, 8), 0);
	assert_int_equal(bar_u64(h, VFM_VU_REG_DIRTY_RATE), rate);
	rate = 0;
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_DIRTY_RATE, &rate, 8), 0);
	/* Read-only registers refuse writes. */
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_CHECKSUM, &rate, 8),
			 -EINVAL);
	assert_int_equal(bar_u64(h, VFM_VU_REG_MIG_STATE) & 0xffffffff, VFM_STATE_RUNNING);
	/* Out of bounds, zero counts, unknown regions. */
	assert_int_equal(vh_region_read(h, VFM_VU_PCI_BAR0, VFM_VU_BAR0_SIZE - 4, &v, 8), -EINVAL);
	assert_int_equal(vh_region_read(h, VFM_VU_PCI_BAR0, UINT64_MAX - 2, &v, 8), -EINVAL);
	assert_int_equal(vh_region_read(h, VFM_VU_PCI_BAR0 + 1, 0, &v, 8), -EINVAL);
	assert_int_equal(vh_region_read(h, 1000, 0, &v, 8), -EINVAL);
	/* Config space: BAR sizing through the write mask. */
	v = 0xffffffff;
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_CONFIG, 0x10, &v, 4), 0);
	v = 0;
	assert_int_equal(vh_region_read(h, VFM_VU_PCI_CONFIG, 0x10, &v, 4), 0);
	assert_int_equal(v, ~(VFM_VU_BAR0_SIZE - 1) & 0xffffffffu);
	v = 0x12345678; /* vendor id is read-only */
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_CONFIG, 0, &v, 4), 0);
	assert_int_equal(vh_region_read(h, VFM_VU_PCI_CONFIG, 0, &v, 2), 0);
	assert_int_equal(v & 0xffff, VFM_VU_PCI_VENDOR);
}

static void test_write_multi(void **state)
{
	struct vu_harness *h = *state;
	struct {
		uint64_t cnt;
		struct vfm_vu_write_one w[2];
	} m = {2,
	       {{VFM_VU_REG_DMA_ADDR, VFM_VU_PCI_BAR0, 8, {1, 2, 3, 4, 5, 6, 7, 8}},
		{VFM_VU_REG_DMA_LEN, VFM_VU_PCI_BAR0, 4, {9, 0, 0, 0}}}};
	uint64_t done = 0;

	assert_int_equal(
		vh_call(h, VFM_VU_REGION_WRITE_MULTI, &m, sizeof(m), &done, sizeof(done), NULL), 0);
	assert_int_equal(done, 2);
	assert_int_equal(bar_u64(h, VFM_VU_REG_DMA_ADDR), 0x0807060504030201ull);
	assert_int_equal(bar_u64(h, VFM_VU_REG_DMA_LEN), 9);
	m.w[1].count = 9;
	assert_int_equal(
		vh_call(h, VFM_VU_REGION_WRITE_MULTI, &m, sizeof(m), &done, sizeof(done), NULL),
		-EINVAL);
	m.cnt = 3; /* more writes than the message holds */
	assert_int_equal(
		vh_call(h, VFM_VU_REGION_WRITE_MULTI, &m, sizeof(m), &done, sizeof(done), NULL),
		-EINVAL);
}

/* Sends the message in two parts split at `at`, with a pause between. */
static void send_split(struct vu_harness *h, uint16_t cmd, const void *body, size_t len, size_t at)
{
	uint8_t msg[512];
	struct vfm_vu_hdr *hdr = (struct vfm_vu_hdr *)msg;
	struct timespec ts = {0, 100000};

	assert_true(sizeof(*hdr) + len <= sizeof(msg));
	*hdr = (struct vfm_vu_hdr){++h->id, cmd, (uint32_t)(sizeof(*hdr) + len), 0, 0};
	memcpy(msg + sizeof(*hdr), body, len);
	assert_int_equal(write(h->cfd, msg, at), (ssize_t)at);
	nanosleep(&ts, NULL);
	assert_int_equal(write(h->cfd, msg + at, sizeof(*hdr) + len - at),
			 (ssize_t)(sizeof(*hdr) + len - at));
}

static void test_split_every_byte(void **state)
{
	struct vu_harness *h = *state;
	struct vfm_vu_region_access ra = {VFM_VU_REG_MAGIC, VFM_VU_PCI_BAR0, 4};
	struct {
		struct vfm_vu_feature f;
		struct vfm_device_feature_mig_state ms;
	} feat = {{16, VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE}, {0, 0}};
	uint8_t rep[64];

	for (size_t at = 1; at < 16 + sizeof(ra); at++) {
		struct vfm_vu_hdr hdr;
		uint32_t magic;

		send_split(h, VFM_VU_REGION_READ, &ra, sizeof(ra), at);
		assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
		assert_int_equal(hdr.msg_id, h->id);
		assert_false(hdr.flags & VFM_VU_F_ERROR);
		memcpy(&magic, rep + sizeof(ra), 4);
		assert_int_equal(magic, VFM_VU_MAGIC);
	}
	for (size_t at = 1; at < 16 + sizeof(feat); at++) {
		struct vfm_vu_hdr hdr;

		send_split(h, VFM_VU_DEVICE_FEATURE, &feat, sizeof(feat), at);
		assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
		assert_false(hdr.flags & VFM_VU_F_ERROR);
		assert_int_equal(rep[8], VFM_STATE_RUNNING);
	}
	/* Byte by byte. */
	{
		uint8_t msg[32];
		struct vfm_vu_hdr hdr = {++h->id, VFM_VU_REGION_READ, 32, 0, 0};

		memcpy(msg, &hdr, 16);
		memcpy(msg + 16, &ra, 16);
		for (size_t i = 0; i < sizeof(msg); i++)
			assert_int_equal(write(h->cfd, msg + i, 1), 1);
		assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
		assert_false(hdr.flags & VFM_VU_F_ERROR);
	}
}

/* Reads the whole STOP_COPY stream of h into a new buffer. */
static uint8_t *save_stream(struct vu_harness *h, size_t *len, uint32_t chunk)
{
	size_t cap = 64 << 20, n = 0;
	uint8_t *buf = malloc(cap);
	uint8_t *rep = malloc(chunk + 8);

	assert_non_null(buf);
	assert_int_equal(vh_set_state(h, VFM_STATE_STOP), 0);
	assert_int_equal(vh_set_state(h, VFM_STATE_STOP_COPY), 0);
	for (;;) {
		struct vfm_vu_mig_data md = {8 + chunk, chunk};
		size_t rl;

		assert_int_equal(
			vh_call(h, VFM_VU_MIG_DATA_READ, &md, sizeof(md), rep, chunk + 8, &rl), 0);
		memcpy(&md, rep, sizeof(md));
		assert_true(md.size <= chunk);
		assert_int_equal(rl, 8 + md.size);
		assert_int_equal(md.argsz, 8 + md.size);
		if (md.size == 0)
			break;
		assert_true(n + md.size <= cap);
		memcpy(buf + n, rep + 8, md.size);
		n += md.size;
	}
	free(rep);
	*len = n;
	return buf;
}

static void test_mig_read_semantics(void **state)
{
	struct vu_harness *h = *state;
	uint64_t sum = vfm_testdev_checksum(h->td);
	size_t len;
	uint8_t *s = save_stream(h, &len, 1000);
	struct vfm_vu_mig_data md = {8 + 64, 64};
	uint8_t rep[128];
	size_t rl;

	assert_true(len > (1 << 20));
	free(s);
	/* After the end: still 0 bytes, never padding. */
	assert_int_equal(vh_call(h, VFM_VU_MIG_DATA_READ, &md, sizeof(md), rep, sizeof(rep), &rl),
			 0);
	assert_int_equal(rl, 8);
	/* Too large, and argsz too small. */
	md = (struct vfm_vu_mig_data){8 + VFM_VU_OUR_MAX_XFER + 1, VFM_VU_OUR_MAX_XFER + 1};
	assert_int_equal(vh_call(h, VFM_VU_MIG_DATA_READ, &md, sizeof(md), rep, sizeof(rep), &rl),
			 -EINVAL);
	md = (struct vfm_vu_mig_data){8, 64};
	assert_int_equal(vh_call(h, VFM_VU_MIG_DATA_READ, &md, sizeof(md), rep, sizeof(rep), &rl),
			 -EINVAL);
	assert_int_equal(vh_set_state(h, VFM_STATE_STOP), 0);
	md = (struct vfm_vu_mig_data){8 + 64, 64};
	assert_int_equal(vh_call(h, VFM_VU_MIG_DATA_READ, &md, sizeof(md), rep, sizeof(rep), &rl),
			 -EINVAL);
	assert_int_equal(vh_set_state(h, VFM_STATE_RUNNING), 0);
	assert_true(vfm_testdev_checksum(h->td) == sum);
}

/* Writes the stream with MIG_DATA_WRITE messages of `chunk` bytes, sent in odd pieces. */
static void load_stream(struct vu_harness *h, const uint8_t *s, size_t len, size_t chunk)
{
	uint8_t *msg = malloc(16 + 8 + chunk);

	assert_int_equal(vh_set_state(h, VFM_STATE_STOP), 0);
	assert_int_equal(vh_set_state(h, VFM_STATE_RESUMING), 0);
	for (size_t off = 0; off < len;) {
		size_t n = len - off < chunk ? len - off : chunk;
		struct vfm_vu_hdr hdr = {++h->id, VFM_VU_MIG_DATA_WRITE, (uint32_t)(24 + n), 0, 0};
		struct vfm_vu_mig_data md = {8, (uint32_t)n};
		size_t total = 24 + n, sent = 0, piece = 1;
		uint8_t rep[16];

		memcpy(msg, &hdr, 16);
		memcpy(msg + 16, &md, 8);
		memcpy(msg + 24, s + off, n);
		while (sent < total) { /* 1, 7, 49, ... bytes at a time */
			size_t k = total - sent < piece ? total - sent : piece;

			assert_int_equal(write(h->cfd, msg + sent, k), (ssize_t)k);
			sent += k;
			piece = piece * 7 + 3;
		}
		assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
		assert_int_equal(hdr.flags & VFM_VU_F_ERROR, 0);
		assert_int_equal(hdr.msg_size, 16);
		off += n;
	}
	free(msg);
	assert_int_equal(vh_set_state(h, VFM_STATE_RUNNING), 0);
}

/* Ends the connection and starts a fresh one, whatever state the device is left in. */
static void next_client(struct vu_harness *h)
{
	vh_disconnect(h);
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(vh_version(h, EXT_JSON), 0);
}

/*
 * A migrated source (its stream read to the end, then STOP) stays STOP for every later
 * client, also one that begins a save again and leaves in the middle, until a client
 * starts it; a reset and a load end it too.
 */
static void test_migrated_source_stays_stopped(void **state)
{
	struct vu_harness *h = *state;
	uint64_t sum = vfm_testdev_checksum(h->td);
	struct vfm_vu_mig_data md = {8 + 4096, 4096};
	uint8_t rep[8 + 4096];
	size_t len, rl;
	uint8_t *s = save_stream(h, &len, 1 << 16);

	assert_int_equal(vh_set_state(h, VFM_STATE_STOP), 0);
	assert_true(vfm_device_migrated(h->dev));
	for (int i = 0; i < 4; i++) {
		next_client(h);
		assert_int_equal(dev_state(h), VFM_STATE_STOP);
		assert_true(vfm_device_migrated(h->dev));
	}
	/* A save begun again and cut: back to STOP, still migrated. */
	assert_int_equal(vh_set_state(h, VFM_STATE_STOP_COPY), 0);
	assert_int_equal(vh_call(h, VFM_VU_MIG_DATA_READ, &md, sizeof(md), rep, sizeof(rep), &rl),
			 0);
	next_client(h);
	assert_int_equal(dev_state(h), VFM_STATE_STOP);
	assert_true(vfm_device_migrated(h->dev));
	next_client(h);
	assert_int_equal(dev_state(h), VFM_STATE_STOP);
	/* The explicit act: a client starts it; it then recovers like any device. */
	assert_int_equal(vh_set_state(h, VFM_STATE_RUNNING), 0);
	assert_false(vfm_device_migrated(h->dev));
	assert_true(vfm_testdev_checksum(h->td) == sum);
	assert_int_equal(vh_set_state(h, VFM_STATE_STOP), 0);
	next_client(h);
	assert_int_equal(dev_state(h), VFM_STATE_RUNNING);
	/* A reset ends it as well, and so does a load. */
	free(save_stream(h, &rl, 1 << 16));
	assert_int_equal(vh_set_state(h, VFM_STATE_STOP), 0);
	next_client(h);
	assert_int_equal(vh_call(h, VFM_VU_DEVICE_RESET, NULL, 0, rep, sizeof(rep), NULL), 0);
	assert_false(vfm_device_migrated(h->dev));
	next_client(h);
	assert_int_equal(dev_state(h), VFM_STATE_RUNNING);
	free(save_stream(h, &rl, 1 << 16));
	assert_int_equal(vh_set_state(h, VFM_STATE_STOP), 0);
	next_client(h);
	load_stream(h, s, len, 1 << 16);
	assert_false(vfm_device_migrated(h->dev));
	assert_int_equal(dev_state(h), VFM_STATE_RUNNING);
	free(s);
}

static void test_max_size_message(void **state)
{
	struct vu_harness *src = *state, dst;
	uint64_t sum = vfm_testdev_checksum(src->td);
	size_t len;
	uint8_t *s;

	vh_stop(src);
	assert_int_equal(vh_start(src, "testdev,size=9M,seed=5,dirty-rate=0"), 0);
	assert_int_equal(vh_version(src, EXT_JSON), 0);
	sum = vfm_testdev_checksum(src->td);
	s = save_stream(src, &len, VFM_VU_OUR_MAX_XFER);
	assert_true(len > 2 * VFM_VU_OUR_MAX_XFER);
	assert_int_equal(vh_start(&dst, "testdev,size=9M,seed=99,dirty-rate=0"), 0);
	assert_int_equal(vh_version(&dst, EXT_JSON), 0);
	assert_true(vfm_testdev_checksum(dst.td) != sum);
	load_stream(&dst, s, len, VFM_VU_OUR_MAX_XFER);
	assert_true(vfm_testdev_checksum(dst.td) == sum);
	/* One byte more than the limit: E2BIG, and the connection is closed. */
	{
		struct vfm_vu_hdr hdr = {1, VFM_VU_MIG_DATA_WRITE,
					 vfm_vu_max_msg(VFM_VU_OUR_MAX_XFER) + 1, 0, 0};
		uint8_t rep[16];

		assert_int_equal(write(dst.cfd, &hdr, 16), 16);
		assert_int_equal(vh_recv(&dst, &hdr, rep, sizeof(rep), NULL), 0);
		assert_int_equal(hdr.error, E2BIG);
		assert_int_equal(vh_disconnect(&dst), -EPROTO);
	}
	vh_stop(&dst);
	free(s);
	assert_int_equal(vh_set_state(src, VFM_STATE_RUNNING), 0);
}

static void test_bad_input(void **state)
{
	struct vu_harness *h = *state;
	struct vfm_device_feature_mig_state ms = {VFM_STATE_STOP, -1};
	struct vfm_vu_device_info di = {.argsz = sizeof(di)};
	uint8_t rep[256], body[64] = {0};
	static const uint16_t unknown[] = {0, 14, 19, 200, 0xffff};

	/* SET MIG_DEVICE_STATE with only the 8-byte header, and with argsz lying. */
	assert_int_equal(vh_feature(h, VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE,
				    8, NULL, 0, rep, sizeof(rep), NULL),
			 -EINVAL);
	assert_int_equal(vh_feature(h, VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE,
				    16, NULL, 0, rep, sizeof(rep), NULL),
			 -EINVAL);
	assert_int_equal(vh_feature(h, VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE,
				    16, &ms, 4, rep, sizeof(rep), NULL),
			 -EINVAL);
	assert_int_equal(dev_state(h), VFM_STATE_RUNNING);
	/* GET and SET together, a huge argsz. */
	assert_int_equal(vh_feature(h,
				    VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_GET |
					    VFM_DEVICE_FEATURE_MIG_DEVICE_STATE,
				    16, &ms, sizeof(ms), rep, sizeof(rep), NULL),
			 -EINVAL);
	assert_int_not_equal(vh_feature(h, VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_MIGRATION,
					0xffffffffu, NULL, 0, rep, sizeof(rep), NULL),
			     0);
	/* DMA logging with no DMA mapping: an error, never an abort. */
	{
		struct {
			struct vfm_vu_dma_logging_control c;
			struct vfm_device_feature_dma_logging_range r;
		} st = {{4096, 1, 0}, {0, 1 << 20}};
		struct vfm_vu_dma_logging_report rr = {0, 1 << 20, 4096};

		assert_int_not_equal(
			vh_feature(h, VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_START,
				   8 + sizeof(st), &st, sizeof(st), rep, sizeof(rep), NULL),
			0);
		st.c.num_ranges = 0;
		assert_int_not_equal(
			vh_feature(h, VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_START,
				   8 + 16, &st, 16, rep, sizeof(rep), NULL),
			0);
		assert_int_not_equal(
			vh_feature(h,
				   VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				   8 + 24 + 32, &rr, sizeof(rr), rep, sizeof(rep), NULL),
			0);
		(void)vh_feature(h, VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_STOP, 8,
				 NULL, 0, rep, sizeof(rep), NULL);
	}
	/* Unknown commands, replies as requests, server-to-client commands. */
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_int_equal(vh_call(h, unknown[i], body, 16, rep, sizeof(rep), NULL), -ENOSYS);
	{
		struct vfm_vu_hdr hdr;

		assert_int_equal(vh_send_fds(h, VFM_VU_DEVICE_GET_INFO, VFM_VU_F_TYPE_REPLY, &di,
					     sizeof(di), NULL, 0),
				 0);
		assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
		assert_int_equal(hdr.error, EINVAL);
		assert_int_equal(
			vh_send_fds(h, VFM_VU_DEVICE_GET_INFO, 7, &di, sizeof(di), NULL, 0),
			0); /* unknown type: closes */
		assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
		assert_int_equal(hdr.error, EINVAL);
		reconnect(h);
	}
	assert_int_equal(vh_call(h, VFM_VU_DMA_READ, body, 16, rep, sizeof(rep), NULL), -EINVAL);
	assert_int_equal(vh_call(h, VFM_VU_DMA_WRITE, body, 16, rep, sizeof(rep), NULL), -EINVAL);
	/* Bodies shorter than the fixed part, size fields beyond the data. */
	assert_int_equal(vh_call(h, VFM_VU_DEVICE_GET_INFO, body, 15, rep, sizeof(rep), NULL),
			 -EINVAL);
	assert_int_equal(vh_call(h, VFM_VU_DMA_MAP, body, 31, rep, sizeof(rep), NULL), -EINVAL);
	{
		struct vfm_vu_region_access ra = {0x18, VFM_VU_PCI_BAR0, 8};

		assert_int_equal(
			vh_call(h, VFM_VU_REGION_WRITE, &ra, sizeof(ra), rep, sizeof(rep), NULL),
			-EINVAL);
		ra.count = 0xffffffff;
		assert_int_equal(
			vh_call(h, VFM_VU_REGION_READ, &ra, sizeof(ra), rep, sizeof(rep), NULL),
			-EINVAL);
	}
	{
		struct vfm_vu_mig_data md = {8, 100};

		assert_int_equal(
			vh_call(h, VFM_VU_MIG_DATA_WRITE, &md, sizeof(md), rep, sizeof(rep), NULL),
			-EINVAL);
	}
	/* MIG_DATA_WRITE outside RESUMING. */
	{
		uint8_t m[24] = {8, 0, 0, 0, 16, 0, 0, 0};

		assert_int_equal(
			vh_call(h, VFM_VU_MIG_DATA_WRITE, m, sizeof(m), rep, sizeof(rep), NULL),
			-EINVAL);
		assert_int_equal(vh_set_state(h, VFM_STATE_STOP), 0);
		assert_int_equal(vh_set_state(h, VFM_STATE_STOP_COPY), 0);
		assert_int_equal(
			vh_call(h, VFM_VU_MIG_DATA_WRITE, m, sizeof(m), rep, sizeof(rep), NULL),
			-EINVAL);
		assert_int_equal(vh_set_state(h, VFM_STATE_RUNNING), 0);
	}
	/* SET_IRQS nonsense. */
	{
		struct vfm_vu_irq_set s = {20,
					   VFM_VU_IRQ_SET_DATA_NONE | VFM_VU_IRQ_SET_DATA_BOOL |
						   VFM_VU_IRQ_SET_ACTION_TRIGGER,
					   VFM_VU_PCI_MSIX_IRQ, 0, 1};

		assert_int_equal(
			vh_call(h, VFM_VU_DEVICE_SET_IRQS, &s, sizeof(s), rep, sizeof(rep), NULL),
			-EINVAL);
		s.flags = VFM_VU_IRQ_SET_DATA_NONE | VFM_VU_IRQ_SET_ACTION_TRIGGER;
		s.start = 0xffffffff;
		assert_int_equal(
			vh_call(h, VFM_VU_DEVICE_SET_IRQS, &s, sizeof(s), rep, sizeof(rep), NULL),
			-EINVAL);
		s.start = 0;
		s.flags = VFM_VU_IRQ_SET_DATA_BOOL | VFM_VU_IRQ_SET_ACTION_TRIGGER;
		s.count = 4;
		assert_int_equal(
			vh_call(h, VFM_VU_DEVICE_SET_IRQS, &s, sizeof(s), rep, sizeof(rep), NULL),
			-EINVAL);
	}
	/* Still serving, device RUNNING. */
	assert_int_equal(
		vh_call(h, VFM_VU_DEVICE_GET_INFO, &di, sizeof(di), rep, sizeof(rep), NULL), 0);
	assert_int_equal(dev_state(h), VFM_STATE_RUNNING);
}

static void test_broken_framing(void **state)
{
	struct vu_harness *h = *state;
	struct vfm_vu_hdr hdr = {1, VFM_VU_DEVICE_GET_INFO, 8, 0, 0};
	uint8_t rep[64];

	/* A size below the header: error reply, then the connection closes. */
	assert_int_equal(write(h->cfd, &hdr, 16), 16);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	assert_int_equal(hdr.error, EINVAL);
	assert_int_equal(vh_disconnect(h), -EPROTO);
	/* A short header, then gone. */
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(write(h->cfd, &hdr, 8), 8);
	vh_disconnect(h);
	assert_int_equal(dev_state(h), VFM_STATE_RUNNING);
	/* A size larger than the data that follows, then gone. */
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(vh_version(h, EXT_JSON), 0);
	hdr = (struct vfm_vu_hdr){2, VFM_VU_REGION_WRITE, 16 + 1000, 0, 0};
	assert_int_equal(write(h->cfd, &hdr, 16), 16);
	assert_int_equal(write(h->cfd, rep, 50), 50);
	assert_int_equal(vh_disconnect(h), -EPIPE);
	assert_int_equal(dev_state(h), VFM_STATE_RUNNING);
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(vh_version(h, EXT_JSON), 0);
}

/* A partial save or load, then the client vanishes: the device is RUNNING and intact. */
static void disconnect_in(struct vu_harness *h, uint32_t target, bool touch_data)
{
	uint64_t sum = vfm_testdev_checksum(h->td);
	uint8_t rep[4096 + 8];

	if (target == VFM_STATE_RESUMING || target == VFM_STATE_STOP_COPY)
		assert_int_equal(vh_set_state(h, VFM_STATE_STOP), 0);
	assert_int_equal(vh_set_state(h, target), 0);
	assert_int_equal(dev_state(h), target);
	if (touch_data && vfm_state_is_saving(target)) {
		struct vfm_vu_mig_data md = {8 + 4096, 4096};

		assert_int_equal(
			vh_call(h, VFM_VU_MIG_DATA_READ, &md, sizeof(md), rep, sizeof(rep), NULL),
			0);
	}
	if (touch_data && target == VFM_STATE_RESUMING) {
		uint8_t m[8 + 16] = {8, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0x44, 0x54};

		(void)vh_call(h, VFM_VU_MIG_DATA_WRITE, m, sizeof(m), rep, sizeof(rep), NULL);
	}
	vh_disconnect(h);
	assert_int_equal(dev_state(h), VFM_STATE_RUNNING);
	if (target != VFM_STATE_RESUMING)
		assert_true(vfm_testdev_checksum(h->td) == sum);
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(vh_version(h, EXT_JSON), 0);
	/* The next client sees a device that migrates normally. */
	assert_int_equal(vh_set_state(h, VFM_STATE_STOP), 0);
	assert_int_equal(vh_set_state(h, VFM_STATE_RUNNING), 0);
}

static void test_disconnect_every_state(void **state)
{
	static const uint32_t states[] = {
		VFM_STATE_RUNNING,  VFM_STATE_STOP,	    VFM_STATE_RUNNING_P2P,
		VFM_STATE_PRE_COPY, VFM_STATE_PRE_COPY_P2P, VFM_STATE_STOP_COPY,
		VFM_STATE_RESUMING,
	};
	struct vu_harness *h = *state;

	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		disconnect_in(h, states[i], false);
		disconnect_in(h, states[i], true);
	}
	/* ERROR: only a reset leaves it. */
	vfm_device_fail(h->dev);
	assert_int_equal(dev_state(h), VFM_STATE_ERROR);
	vh_disconnect(h);
	assert_int_equal(dev_state(h), VFM_STATE_RUNNING);
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(vh_version(h, EXT_JSON), 0);
}

static void test_extension_features(void **state)
{
	struct vu_harness *h = *state;
	uint64_t v[4];
	size_t n;

	assert_int_equal(vh_feature(h,
				    VFM_DEVICE_FEATURE_PROBE | VFM_DEVICE_FEATURE_GET |
					    VFM_VU_FEATURE_PRECOPY_INFO,
				    8, NULL, 0, v, sizeof(v), &n),
			 0);
	assert_int_equal(vh_feature(h, VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_MIG_DATA_SIZE,
				    16, NULL, 0, v, sizeof(v), &n),
			 0);
	assert_int_equal(n, 16);
	assert_true(v[1] > (1 << 20));
	/* Pre-copy info only in PRE_COPY. */
	assert_int_equal(vh_feature(h, VFM_DEVICE_FEATURE_GET | VFM_VU_FEATURE_PRECOPY_INFO, 24,
				    NULL, 0, v, sizeof(v), &n),
			 -EINVAL);
	assert_int_equal(vh_set_state(h, VFM_STATE_PRE_COPY), 0);
	assert_int_equal(vh_feature(h, VFM_DEVICE_FEATURE_GET | VFM_VU_FEATURE_PRECOPY_INFO, 24,
				    NULL, 0, v, sizeof(v), &n),
			 0);
	assert_int_equal(n, 24);
	assert_true(v[1] > 0); /* initial bytes */
	assert_int_equal(vh_feature(h, VFM_DEVICE_FEATURE_GET | VFM_VU_FEATURE_PRECOPY_INFO, 16,
				    NULL, 0, v, sizeof(v), &n),
			 -EINVAL); /* argsz too small */
	assert_int_equal(vh_feature(h, VFM_DEVICE_FEATURE_SET | VFM_VU_FEATURE_PRECOPY_INFO, 24, v,
				    16, v, sizeof(v), &n),
			 -EINVAL);
	assert_int_equal(vh_set_state(h, VFM_STATE_RUNNING), 0);
	/* Other vendor indices: ENOTTY as the kernel. */
	assert_int_equal(
		vh_feature(h, VFM_DEVICE_FEATURE_GET | 0x8002, 24, NULL, 0, v, sizeof(v), &n),
		-ENOTTY);
}

static void test_no_extensions_server(void **state)
{
	struct vu_harness h2;
	struct vfm_vu_server_opts o = {.no_extensions = true};
	uint64_t v[4];

	(void)state;
	assert_int_equal(vh_start_opts(&h2, SPEC, &o), 0);
	assert_int_equal(vh_version(&h2, EXT_JSON), 0);
	assert_int_equal(vh_feature(&h2,
				    VFM_DEVICE_FEATURE_PROBE | VFM_DEVICE_FEATURE_GET |
					    VFM_VU_FEATURE_PRECOPY_INFO,
				    8, NULL, 0, v, sizeof(v), NULL),
			 -ENOTTY);
	assert_int_equal(vh_feature(&h2, VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_MIG_DATA_SIZE,
				    16, NULL, 0, v, sizeof(v), NULL),
			 -ENOTTY);
	vh_stop(&h2);
}

static void set_irq_fd(struct vu_harness *h, uint32_t index, uint32_t sub, int fd)
{
	struct vfm_vu_irq_set s = {20, VFM_VU_IRQ_SET_DATA_EVENTFD | VFM_VU_IRQ_SET_ACTION_TRIGGER,
				   index, sub, 1};
	struct vfm_vu_hdr hdr;
	uint8_t rep[32];

	assert_int_equal(vh_send_fds(h, VFM_VU_DEVICE_SET_IRQS, 0, &s, sizeof(s), &fd, 1), 0);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	assert_int_equal(hdr.flags & VFM_VU_F_ERROR, 0);
}

static uint64_t efd_count(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, 8) != 8)
		return 0;
	return v;
}

static void test_irqs(void **state)
{
	struct vu_harness *h = *state;
	int msix = eventfd(0, EFD_NONBLOCK), intx = eventfd(0, EFD_NONBLOCK);
	uint32_t v;
	struct vfm_vu_irq_set s = {20, VFM_VU_IRQ_SET_DATA_NONE | VFM_VU_IRQ_SET_ACTION_UNMASK,
				   VFM_VU_PCI_INTX_IRQ, 0, 1};
	uint8_t rep[32];

	set_irq_fd(h, VFM_VU_PCI_MSIX_IRQ, 2, msix);
	set_irq_fd(h, VFM_VU_PCI_INTX_IRQ, 0, intx);
	v = 1 + 2;
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_IRQ, &v, 4), 0);
	assert_int_equal(efd_count(msix), 1);
	v = 1 + 1; /* vector 1 has no eventfd */
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_IRQ, &v, 4), -ENOENT);
	v = 0;
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_IRQ, &v, 4), 0);
	assert_int_equal(efd_count(intx), 1);
	/* INTx is automasked: the next one waits for UNMASK. */
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_IRQ, &v, 4), 0);
	assert_int_equal(efd_count(intx), 0);
	assert_int_equal(vh_call(h, VFM_VU_DEVICE_SET_IRQS, &s, sizeof(s), rep, sizeof(rep), NULL),
			 0);
	assert_int_equal(efd_count(intx), 1);
	/* Disable all of MSI-X. */
	s = (struct vfm_vu_irq_set){20, VFM_VU_IRQ_SET_DATA_NONE | VFM_VU_IRQ_SET_ACTION_TRIGGER,
				    VFM_VU_PCI_MSIX_IRQ, 0, 0};
	assert_int_equal(vh_call(h, VFM_VU_DEVICE_SET_IRQS, &s, sizeof(s), rep, sizeof(rep), NULL),
			 0);
	v = 1 + 2;
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_IRQ, &v, 4), -ENOENT);
	close(msix);
	close(intx);
}

static void dma_regs(struct vu_harness *h, uint64_t addr, uint64_t len, uint32_t cmd)
{
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_DMA_ADDR, &addr, 8), 0);
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_DMA_LEN, &len, 8), 0);
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_DMA_CTRL, &cmd, 4), 0);
}

static void test_dma_mapped(void **state)
{
	struct vu_harness *h = *state;
	const size_t size = 64 << 10;
	int fd = memfd_create("vu-dma", MFD_CLOEXEC);
	struct vfm_vu_dma_map m = {32, VFM_VU_DMA_F_READ | VFM_VU_DMA_F_WRITE, 0, 0x100000, size};
	struct vfm_vu_dma_unmap u = {24, 0, 0x100000, size};
	struct vfm_vu_hdr hdr;
	uint8_t rep[64], *mem, *expect;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mem != MAP_FAILED);
	assert_int_equal(vh_send_fds(h, VFM_VU_DMA_MAP, 0, &m, sizeof(m), &fd, 1), 0);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	assert_int_equal(hdr.flags & VFM_VU_F_ERROR, 0);
	/* The DMA engine writes its pattern into our memory and hashes what it reads. */
	dma_regs(h, 0x100000 + 4096, 1000, VFM_VU_DMA_CTRL_WRITE);
	assert_int_equal(bar_u64(h, VFM_VU_REG_DMA_STATUS) & 0xffffffff, 0);
	expect = malloc(1000);
	for (int i = 0; i < 1000; i++)
		expect[i] = (uint8_t)(i * 7 + 1);
	assert_memory_equal(mem + 4096, expect, 1000);
	mem[4096] = 42;
	expect[0] = 42;
	dma_regs(h, 0x100000 + 4096, 1000, VFM_VU_DMA_CTRL_READ);
	assert_true(bar_u64(h, VFM_VU_REG_DMA_RESULT) == vfm_testdev_hash(expect, 1000));
	/* Outside the mapping: ENOENT in the status register. */
	dma_regs(h, 0x100000 + size - 10, 100, VFM_VU_DMA_CTRL_READ);
	assert_int_equal(bar_u64(h, VFM_VU_REG_DMA_STATUS) & 0xffffffff, ENOENT);
	/* Overlaps, bad files, bad flags. */
	assert_int_equal(vh_send_fds(h, VFM_VU_DMA_MAP, 0, &m, sizeof(m), &fd, 1), 0);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	assert_int_equal(hdr.error, EEXIST);
	m.addr = 0x900000;
	m.size = size * 2; /* beyond the file */
	assert_int_equal(vh_send_fds(h, VFM_VU_DMA_MAP, 0, &m, sizeof(m), &fd, 1), 0);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	assert_int_equal(hdr.error, EINVAL);
	m.size = size;
	m.flags = 0x80;
	assert_int_equal(vh_call(h, VFM_VU_DMA_MAP, &m, sizeof(m), rep, sizeof(rep), NULL),
			 -EINVAL);
	/* DMA logging now has a mapping to refer to: whatever the device says, no crash. */
	{
		struct {
			struct vfm_vu_dma_logging_control c;
			struct vfm_device_feature_dma_logging_range r;
		} st = {{4096, 1, 0}, {0x100000, size}};

		(void)vh_feature(h, VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_START,
				 8 + sizeof(st), &st, sizeof(st), rep, sizeof(rep), NULL);
	}
	/* Unmap: exact match only, the reply echoes the request. */
	u.size = 4096;
	assert_int_equal(vh_call(h, VFM_VU_DMA_UNMAP, &u, sizeof(u), rep, sizeof(rep), NULL),
			 -ENOENT);
	u.size = size;
	assert_int_equal(vh_call(h, VFM_VU_DMA_UNMAP, &u, sizeof(u), rep, sizeof(rep), NULL), 0);
	assert_memory_equal(rep, &u, sizeof(u));
	free(expect);
	munmap(mem, size);
	close(fd);
}

/* Answers one DMA_READ / DMA_WRITE of the server against mem. */
static void answer_dma(struct vu_harness *h, const struct vfm_vu_hdr *hdr, const uint8_t *body,
		       size_t n, uint8_t *mem, uint64_t base)
{
	struct vfm_vu_dma_access a;

	memcpy(&a, body, sizeof(a));
	assert_true(a.addr >= base && a.addr + a.count <= base + (1 << 20));
	if (hdr->cmd == VFM_VU_DMA_WRITE) {
		struct vfm_vu_dma_write_reply r = {a.addr, (uint32_t)a.count};
		struct vfm_vu_hdr rh = {hdr->msg_id, hdr->cmd, 16 + sizeof(r), 1, 0};

		assert_int_equal(n, sizeof(a) + a.count);
		memcpy(mem + (a.addr - base), body + sizeof(a), a.count);
		assert_int_equal(write(h->cfd, &rh, 16), 16);
		assert_int_equal(write(h->cfd, &r, sizeof(r)), (ssize_t)sizeof(r));
	} else {
		struct vfm_vu_hdr rh = {hdr->msg_id, hdr->cmd, (uint32_t)(16 + sizeof(a) + a.count),
					1, 0};

		assert_int_equal(hdr->cmd, VFM_VU_DMA_READ);
		assert_int_equal(write(h->cfd, &rh, 16), 16);
		assert_int_equal(write(h->cfd, &a, sizeof(a)), (ssize_t)sizeof(a));
		assert_int_equal(write(h->cfd, mem + (a.addr - base), a.count), (ssize_t)a.count);
	}
}

static uint32_t status_of(const struct vfm_vu_hdr *hdr, const uint8_t *body, size_t n)
{
	uint32_t v;

	assert_int_equal(hdr->flags & (VFM_VU_F_TYPE_MASK | VFM_VU_F_ERROR), VFM_VU_F_TYPE_REPLY);
	assert_int_equal(n, sizeof(struct vfm_vu_region_access) + 4);
	memcpy(&v, body + sizeof(struct vfm_vu_region_access), 4);
	return v;
}

/*
 * Polls DMA_STATUS while serving the server's DMA requests, as a VMM's vCPU would. The
 * first poll reaches the server while it waits for our answer to its first request: it
 * must be served there, and read EINPROGRESS; so must any other register meanwhile.
 */
static uint32_t dma_status_serving(struct vu_harness *h, uint8_t *mem, uint64_t base, int *requests)
{
	static uint8_t body[(1 << 20) + 64];
	struct vfm_vu_region_access ra = {VFM_VU_REG_DMA_STATUS, VFM_VU_PCI_BAR0, 4};
	struct vfm_vu_hdr hdr, first;
	uint32_t v;
	size_t n;

	assert_int_equal(vh_send(h, VFM_VU_REGION_READ, &ra, sizeof(ra)), 0);
	assert_int_equal(vh_recv(h, &first, body, sizeof(body), &n), 0);
	assert_int_equal(first.flags & VFM_VU_F_TYPE_MASK, VFM_VU_F_TYPE_COMMAND);
	{
		uint8_t *cmd = malloc(n);

		memcpy(cmd, body, n);
		size_t m;

		assert_int_equal(vh_recv(h, &hdr, body, sizeof(body), &m), 0);
		assert_int_equal(status_of(&hdr, body, m), EINPROGRESS);
		assert_int_equal(vh_region_read(h, VFM_VU_PCI_BAR0, VFM_VU_REG_MAGIC, &v, 4), 0);
		assert_int_equal(v, VFM_VU_MAGIC);
		(*requests)++;
		answer_dma(h, &first, cmd, n, mem, base);
		free(cmd);
	}
	assert_int_equal(vh_send(h, VFM_VU_REGION_READ, &ra, sizeof(ra)), 0);
	for (;;) {
		assert_int_equal(vh_recv(h, &hdr, body, sizeof(body), &n), 0);
		if ((hdr.flags & VFM_VU_F_TYPE_MASK) == VFM_VU_F_TYPE_COMMAND) {
			(*requests)++;
			answer_dma(h, &hdr, body, n, mem, base);
			continue;
		}
		v = status_of(&hdr, body, n);
		if (v != EINPROGRESS)
			return v;
		assert_int_equal(vh_send(h, VFM_VU_REGION_READ, &ra, sizeof(ra)), 0);
	}
}

static uint32_t dma_cmd_over_socket(struct vu_harness *h, uint64_t addr, uint64_t len, uint32_t cmd,
				    uint8_t *mem, int *requests)
{
	/* The write is answered first; the DMA follows. */
	dma_regs(h, addr, len, cmd);
	return dma_status_serving(h, mem, 0x200000, requests);
}

static void test_dma_over_socket(void **state)
{
	struct vu_harness *h = *state;
	struct vfm_vu_dma_map m = {32, VFM_VU_DMA_F_READ | VFM_VU_DMA_F_WRITE, 0, 0x200000,
				   1 << 20};
	uint8_t rep[64], *mem = calloc(1, 1 << 20), *expect = malloc(1 << 20);
	int requests = 0;

	assert_int_equal(vh_call(h, VFM_VU_DMA_MAP, &m, sizeof(m), rep, sizeof(rep), NULL), 0);
	assert_int_equal(dma_cmd_over_socket(h, 0x200000 + 100, 1 << 19, VFM_VU_DMA_CTRL_WRITE, mem,
					     &requests),
			 0);
	assert_true(requests >= 1);
	for (int i = 0; i < (1 << 19); i++)
		expect[i] = (uint8_t)(i * 7 + 1);
	assert_memory_equal(mem + 100, expect, 1 << 19);
	for (int i = 0; i < (1 << 20); i++)
		mem[i] = (uint8_t)(i ^ (i >> 9));
	requests = 0;
	assert_int_equal(
		dma_cmd_over_socket(h, 0x200000, 1 << 20, VFM_VU_DMA_CTRL_READ, mem, &requests), 0);
	assert_true(bar_u64(h, VFM_VU_REG_DMA_RESULT) == vfm_testdev_hash(mem, 1 << 20));
	free(mem);
	free(expect);
}

/* The server with the device's DMA behind it, as `vfio-mig serve` runs it. */
static int setup_dma(void **state)
{
	struct vu_harness *h = calloc(1, sizeof(*h));
	struct vfm_testdev_config cfg;
	struct vfm_vu_server_opts o = {0};
	char err[256];

	if (!h)
		return -1;
	h->cfd = -1;
	vfm_testdev_config_default(&cfg);
	if (vfm_testdev_parse(SPEC, &cfg, err, sizeof(err)) ||
	    vfm_testdev_create(&cfg, "vu-test", NULL, &h->td, err, sizeof(err)))
		return -1;
	h->dev = vfm_testdev_device(h->td);
	o.testdev = h->td;
	o.dma = vfm_testdev_dma(h->td);
	if (vfm_vu_server_create(h->dev, &o, &h->srv, err, sizeof(err)) || vh_connect(h) ||
	    vh_version(h, EXT_JSON))
		return -1;
	*state = h;
	return 0;
}

static int dma_map_fd(struct vu_harness *h, uint64_t addr, uint64_t size, int fd)
{
	struct vfm_vu_dma_map m = {32, VFM_VU_DMA_F_READ | VFM_VU_DMA_F_WRITE, 0, addr, size};
	struct vfm_vu_hdr hdr;
	uint8_t rep[64];

	assert_int_equal(vh_send_fds(h, VFM_VU_DMA_MAP, 0, &m, sizeof(m), &fd, fd >= 0), 0);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	return hdr.flags & VFM_VU_F_ERROR ? -(int)hdr.error : 0;
}

/*
 * What one request may cost is bounded by what is really mapped: at most
 * VFM_VU_OUR_MAX_DMA_BYTES per client, file-backed or not (a file-less DMA_MAP of 2^46
 * bytes was taken on the client's word, and a report over it pinned the CPU for seconds);
 * a report costs one pass over the logged range's bitmap, whatever its page size. A
 * mapping may end exactly at 2^64.
 */
static void test_dma_bounds(void **state)
{
	struct vu_harness *h = *state;
	const uint64_t tib = VFM_VU_OUR_MAX_DMA_BYTES, base = 0 - tib;
	int fd = memfd_create("vu-sparse", MFD_CLOEXEC);
	struct {
		struct vfm_vu_dma_logging_control c;
		struct vfm_device_feature_dma_logging_range r;
	} st = {{4096, 1, 0}, {base, tib - 4096}};
	uint64_t req[3] = {base, tib - 4096, 1ull << 30}, bitmap[16 + 4], pattern[4096 / 8];
	struct vfm_vu_dma_unmap u = {24, 0, base, tib};
	uint8_t rep[64], *page;

	assert_true(fd >= 0);
	/* A sparse file of 2^46 bytes: more than one client may map. */
	assert_int_equal(ftruncate(fd, (off_t)(1ull << 46)), 0);
	assert_int_equal(dma_map_fd(h, 0, 1ull << 46, fd), -ENOSPC);
	assert_int_equal(dma_map_fd(h, 0, 1ull << 46, -1), -ENOSPC);
	/* Exactly the limit, ending at 2^64; then nothing more fits. */
	assert_int_equal(dma_map_fd(h, base, tib, fd), 0);
	assert_int_equal(dma_map_fd(h, 0, 4096, -1), -ENOSPC);
	assert_int_equal(dma_map_fd(h, 0 - 4096ull, 4096, -1), -EEXIST);
	/* The device writes the last page before 2^64 and one in the logged range. */
	assert_int_equal(vh_feature(h,
				    VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_START,
				    8 + sizeof(st), &st, sizeof(st), rep, sizeof(rep), NULL),
			 0);
	dma_regs(h, 0 - 4096ull, 4096, VFM_VU_DMA_CTRL_WRITE);
	assert_int_equal(bar_u64(h, VFM_VU_REG_DMA_STATUS) & 0xffffffff, 0);
	dma_regs(h, base + (700ull << 30) + 12345, 100, VFM_VU_DMA_CTRL_WRITE);
	assert_int_equal(bar_u64(h, VFM_VU_REG_DMA_STATUS) & 0xffffffff, 0);
	page = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)(tib - 4096));
	assert_true(page != MAP_FAILED);
	for (int i = 0; i < 4096; i++)
		((uint8_t *)pattern)[i] = (uint8_t)(i * 7 + 1);
	assert_memory_equal(page, pattern, 4096);
	munmap(page, 4096);
	/* A 48-byte request over the whole TiB at 1 GiB pages: the one dirty GiB, at once. */
	memset(bitmap, 0xee, sizeof(bitmap));
	assert_int_equal(vh_feature(h,
				    VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				    8 + 24 + 128, req, sizeof(req), bitmap, sizeof(bitmap), NULL),
			 0);
	for (int w = 0; w < 16; w++)
		assert_true(bitmap[4 + w] == (w == 700 / 64 ? 1ull << (700 % 64) : 0));
	assert_int_equal(vh_call(h, VFM_VU_DMA_UNMAP, &u, sizeof(u), rep, sizeof(rep), NULL), 0);
	close(fd);
}

/* Maps a memfd of size bytes at addr; returns the fd and its mapping in *mem. */
static int map_memfd(struct vu_harness *h, uint64_t addr, size_t size, uint8_t **mem)
{
	int fd = memfd_create("vu-dma", MFD_CLOEXEC);
	struct vfm_vu_dma_map m = {32, VFM_VU_DMA_F_READ | VFM_VU_DMA_F_WRITE, 0, addr, size};
	struct vfm_vu_hdr hdr;
	uint8_t rep[64];

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	*mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(*mem != MAP_FAILED);
	assert_int_equal(vh_send_fds(h, VFM_VU_DMA_MAP, 0, &m, sizeof(m), &fd, 1), 0);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	assert_int_equal(hdr.flags & VFM_VU_F_ERROR, 0);
	return fd;
}

/* VFIO_DMA_UNMAP_FLAG_ALL, as libvfio-user's and QEMU's clients send it. */
static void test_dma_unmap_all(void **state)
{
	struct vu_harness *h = *state;
	struct vfm_vu_dma_map sock_map = {32, VFM_VU_DMA_F_READ, 0, 0x400000, 4096};
	struct vfm_vu_dma_unmap u = {24, VFM_VU_DMA_UNMAP_ALL, 0x100000, 0};
	uint8_t rep[64], *m1, *m2;
	int fd1 = map_memfd(h, 0x100000, 8192, &m1), fd2 = map_memfd(h, 0x200000, 4096, &m2);

	assert_int_equal(
		vh_call(h, VFM_VU_DMA_MAP, &sock_map, sizeof(sock_map), rep, sizeof(rep), NULL), 0);
	/* With ALL, address and size must be 0; other flags are refused. */
	assert_int_equal(vh_call(h, VFM_VU_DMA_UNMAP, &u, sizeof(u), rep, sizeof(rep), NULL),
			 -EINVAL);
	u = (struct vfm_vu_dma_unmap){24, 1, 0x100000, 8192}; /* GET_DIRTY_BITMAP */
	assert_int_equal(vh_call(h, VFM_VU_DMA_UNMAP, &u, sizeof(u), rep, sizeof(rep), NULL),
			 -EINVAL);
	u = (struct vfm_vu_dma_unmap){24, VFM_VU_DMA_UNMAP_ALL, 0, 0};
	assert_int_equal(vh_call(h, VFM_VU_DMA_UNMAP, &u, sizeof(u), rep, sizeof(rep), NULL), 0);
	assert_memory_equal(rep, &u, sizeof(u));
	/* Nothing is left: the engine finds no mapping, the same ranges map again. */
	dma_regs(h, 0x100000, 64, VFM_VU_DMA_CTRL_WRITE);
	assert_int_equal(bar_u64(h, VFM_VU_REG_DMA_STATUS) & 0xffffffff, ENOENT);
	assert_int_equal(
		vh_call(h, VFM_VU_DMA_MAP, &sock_map, sizeof(sock_map), rep, sizeof(rep), NULL), 0);
	assert_int_equal(vh_call(h, VFM_VU_DMA_UNMAP, &u, sizeof(u), rep, sizeof(rep), NULL), 0);
	munmap(m1, 8192);
	munmap(m2, 4096);
	close(fd1);
	close(fd2);
}

/* What the DMA engine writes into shared memory shows in the DMA logging report. */
static void test_dma_engine_logged(void **state)
{
	struct vu_harness *h = *state;
	const size_t size = 64 << 10;
	struct {
		struct vfm_vu_dma_logging_control c;
		struct vfm_device_feature_dma_logging_range r;
	} st = {{4096, 1, 0}, {0x100000, size}};
	struct vfm_vu_dma_logging_report rq = {0x100000, size, 4096};
	uint8_t rep[128], *mem;
	uint64_t bitmap;
	size_t rl;
	int fd = map_memfd(h, 0x100000, size, &mem);

	assert_int_equal(vh_feature(h,
				    VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_START,
				    8 + sizeof(st), &st, sizeof(st), rep, sizeof(rep), NULL),
			 0);
	/* Pages 2 and 3 (5000 bytes from 8192); a read dirties nothing. */
	dma_regs(h, 0x100000 + 8192, 5000, VFM_VU_DMA_CTRL_WRITE);
	assert_int_equal(bar_u64(h, VFM_VU_REG_DMA_STATUS) & 0xffffffff, 0);
	dma_regs(h, 0x100000 + 40960, 4096, VFM_VU_DMA_CTRL_READ);
	assert_int_equal(bar_u64(h, VFM_VU_REG_DMA_STATUS) & 0xffffffff, 0);
	assert_int_equal(vh_feature(h,
				    VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				    8 + sizeof(rq) + 8, &rq, sizeof(rq), rep, sizeof(rep), &rl),
			 0);
	assert_int_equal(rl, 8 + sizeof(rq) + 8);
	memcpy(&bitmap, rep + 8 + sizeof(rq), 8);
	assert_int_equal(bitmap, 0xc);
	munmap(mem, size);
	close(fd);
}

/*
 * The temporary end of PRE_COPY data is a reply shorter than asked, as the spec says,
 * also from a device whose own read fails with ENOMSG there; a read in between is filled
 * to the size asked.
 */
static void test_precopy_temporary_end(void **state)
{
	struct vu_harness *h = *state;
	struct vfm_vu_mig_data md = {8 + 4096, 4096};
	uint8_t *rep = malloc(16 + 8 + 4096);
	size_t rl, total = 0;
	bool ended = false;

	assert_int_equal(vh_set_state(h, VFM_STATE_PRE_COPY), 0);
	for (int i = 0; i < 10000 && !ended; i++) {
		struct vfm_vu_mig_data r;

		assert_int_equal(
			vh_call(h, VFM_VU_MIG_DATA_READ, &md, sizeof(md), rep, 16 + 8 + 4096, &rl),
			0);
		memcpy(&r, rep, sizeof(r));
		assert_int_equal(rl, 8 + r.size);
		assert_int_equal(r.argsz, 8 + r.size);
		ended = r.size < md.size;
		total += r.size;
	}
	assert_true(ended);
	assert_true(total > (64 << 10)); /* the whole first pass came before the end */
	/* Again at the end: an empty reply, not an error. */
	assert_int_equal(vh_call(h, VFM_VU_MIG_DATA_READ, &md, sizeof(md), rep, 16 + 8 + 4096, &rl),
			 0);
	assert_int_equal(rl, 8);
	assert_int_equal(vh_set_state(h, VFM_STATE_RUNNING), 0);
	free(rep);
}

/*
 * A client without our extension (these are the caps libvfio-user's sample client
 * sends) gets the end of the data padded to the size it asked, size and argsz counting
 * only the data; ours gets it exact (test_precopy_temporary_end).
 */
static void test_padded_end_for_plain_client(void **state)
{
	struct vu_harness *h = *state;
	struct vfm_vu_mig_data md = {8 + 4096, 4096}, r;
	uint8_t *rep = malloc(16 + 8 + 4096);
	size_t rl, total = 0;

	vh_disconnect(h);
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(
		vh_version(h,
			   "{\"capabilities\":{\"max_msg_fds\":32,\"max_data_xfer_size\":1024}}"),
		0);
	md = (struct vfm_vu_mig_data){8 + 1024, 1024};
	assert_int_equal(vh_set_state(h, VFM_STATE_STOP), 0);
	assert_int_equal(vh_set_state(h, VFM_STATE_STOP_COPY), 0);
	for (;;) {
		assert_int_equal(
			vh_call(h, VFM_VU_MIG_DATA_READ, &md, sizeof(md), rep, 16 + 8 + 4096, &rl),
			0);
		assert_int_equal(rl, 8 + 1024);
		memcpy(&r, rep, sizeof(r));
		assert_int_equal(r.argsz, 8 + r.size);
		total += r.size;
		if (r.size < md.size)
			break;
	}
	for (size_t i = 8 + r.size; i < rl; i++)
		assert_int_equal(rep[i], 0);
	assert_true(total > (1 << 20));
	assert_int_equal(vh_call(h, VFM_VU_MIG_DATA_READ, &md, sizeof(md), rep, 16 + 8 + 4096, &rl),
			 0);
	memcpy(&r, rep, sizeof(r));
	assert_int_equal(rl, 8 + 1024);
	assert_int_equal(r.size, 0);
	assert_int_equal(r.argsz, 8);
	assert_int_equal(vh_set_state(h, VFM_STATE_STOP), 0);
	assert_int_equal(vh_set_state(h, VFM_STATE_RUNNING), 0);
	free(rep);
}

static int setup_enomsg(void **state)
{
	struct vu_harness *h = calloc(1, sizeof(*h));

	if (!h || vh_start(h, "testdev,size=64K,seed=5,enomsg=on"))
		return -1;
	if (vh_version(h, EXT_JSON))
		return -1;
	*state = h;
	return 0;
}

/*
 * The client unmaps the memory while a DMA_READ of ours into it is outstanding: the
 * unmap is served there and then, and the engine stops at the next message (ENOENT).
 * A client that leaves with our request unanswered ends the connection cleanly.
 */
static void test_unmap_during_dma(void **state)
{
	struct vu_harness *h = *state;
	struct vfm_vu_dma_map m = {32, VFM_VU_DMA_F_READ | VFM_VU_DMA_F_WRITE, 0, 0x200000,
				   1 << 20};
	struct vfm_vu_dma_unmap u = {24, VFM_VU_DMA_UNMAP_ALL, 0, 0};
	static uint8_t body[(1 << 20) + 64];
	uint8_t rep[64], *mem = calloc(1, 1 << 20);
	struct vfm_vu_hdr hdr;
	size_t n;

	assert_int_equal(vh_call(h, VFM_VU_DMA_MAP, &m, sizeof(m), rep, sizeof(rep), NULL), 0);
	dma_regs(h, 0x200000, 256 << 10, VFM_VU_DMA_CTRL_READ);
	assert_int_equal(vh_recv(h, &hdr, body, sizeof(body), &n), 0);
	assert_int_equal(hdr.cmd, VFM_VU_DMA_READ);
	assert_int_equal(vh_call(h, VFM_VU_DMA_UNMAP, &u, sizeof(u), rep, sizeof(rep), NULL), 0);
	answer_dma(h, &hdr, body, n, mem, 0x200000);
	/* No further request comes: the next reply is the one to this read. */
	assert_int_equal(bar_u64(h, VFM_VU_REG_DMA_STATUS) & 0xffffffff, ENOENT);
	/* Again, and this time the client leaves instead of answering. */
	assert_int_equal(vh_call(h, VFM_VU_DMA_MAP, &m, sizeof(m), rep, sizeof(rep), NULL), 0);
	dma_regs(h, 0x200000, 256 << 10, VFM_VU_DMA_CTRL_READ);
	assert_int_equal(vh_recv(h, &hdr, body, sizeof(body), &n), 0);
	assert_int_equal(hdr.cmd, VFM_VU_DMA_READ);
	vh_disconnect(h);
	assert_int_equal(dev_state(h), VFM_STATE_RUNNING);
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(vh_version(h, EXT_JSON), 0);
	free(mem);
}

static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* Descriptors that come with any message are closed when not kept, and everything a
 * client handed over is closed when it leaves. */
static void test_no_fd_leaks(void **state)
{
	struct vu_harness *h = *state;
	struct vfm_vu_device_info di = {.argsz = sizeof(di)};
	struct vfm_vu_irq_set s = {20, VFM_VU_IRQ_SET_DATA_EVENTFD | VFM_VU_IRQ_SET_ACTION_TRIGGER,
				   VFM_VU_PCI_MSIX_IRQ, 0, 4};
	int fds[8], base, mfd = memfd_create("leak", MFD_CLOEXEC);
	struct vfm_vu_dma_map m = {32, VFM_VU_DMA_F_READ, 0, 0x400000, 4096};
	struct vfm_vu_hdr hdr;
	uint8_t rep[64];

	assert_int_equal(ftruncate(mfd, 4096), 0);
	for (int i = 0; i < 8; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	base = count_fds();
	/* Unwanted descriptors on a GET_INFO, too many on a SET_IRQS, a refused mapping. */
	assert_int_equal(vh_send_fds(h, VFM_VU_DEVICE_GET_INFO, 0, &di, sizeof(di), fds, 3), 0);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	assert_int_equal(hdr.flags & VFM_VU_F_ERROR, 0);
	assert_int_equal(vh_send_fds(h, VFM_VU_DEVICE_SET_IRQS, 0, &s, sizeof(s), fds, 8), 0);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	assert_int_equal(hdr.error, EINVAL);
	assert_int_equal(vh_send_fds(h, VFM_VU_DMA_MAP, 0, &m, sizeof(m), fds, 1), 0);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	assert_int_equal(hdr.error, EINVAL); /* an eventfd is no file to map */
	assert_int_equal(count_fds(), base);
	/* Kept ones: four MSI-X eventfds and a mapping. */
	assert_int_equal(vh_send_fds(h, VFM_VU_DEVICE_SET_IRQS, 0, &s, sizeof(s), fds, 4), 0);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	assert_int_equal(hdr.flags & VFM_VU_F_ERROR, 0);
	assert_int_equal(vh_send_fds(h, VFM_VU_DMA_MAP, 0, &m, sizeof(m), &mfd, 1), 0);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	assert_int_equal(hdr.flags & VFM_VU_F_ERROR, 0);
	assert_int_equal(count_fds(), base + 4);
	/* Gone with the client (the socketpair's two ends go too). */
	vh_disconnect(h);
	assert_int_equal(count_fds(), base + 4 - 4 - 2);
	assert_int_equal(vh_connect(h), 0);
	assert_int_equal(vh_version(h, EXT_JSON), 0);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	close(mfd);
}

static void test_no_reply_flag(void **state)
{
	struct vu_harness *h = *state;
	uint64_t rate = 777;
	uint8_t msg[24];
	struct vfm_vu_region_access ra = {VFM_VU_REG_DIRTY_RATE, VFM_VU_PCI_BAR0, 8};

	memcpy(msg, &ra, 16);
	memcpy(msg + 16, &rate, 8);
	assert_int_equal(
		vh_send_fds(h, VFM_VU_REGION_WRITE, VFM_VU_F_NO_REPLY, msg, sizeof(msg), NULL, 0),
		0);
	/* A failing no-reply command stays silent too. */
	assert_int_equal(vh_send_fds(h, 99, VFM_VU_F_NO_REPLY, msg, sizeof(msg), NULL, 0), 0);
	/* The next reply is the one to this read, and it sees the write. */
	assert_int_equal(bar_u64(h, VFM_VU_REG_DIRTY_RATE), 777);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version_and_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_unmap_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_engine_logged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precopy_temporary_end, setup_enomsg, teardown),
		cmocka_unit_test_setup_teardown(test_precopy_temporary_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_padded_end_for_plain_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_during_dma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_reply_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_before_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_multi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_every_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mig_read_semantics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrated_source_stays_stopped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_max_size_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_framing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_every_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extension_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_extensions_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irqs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_mapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_bounds, setup_dma, teardown),
		cmocka_unit_test_setup_teardown(test_dma_over_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_fd_leaks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_reply_flag, setup, teardown),
	};

	return cmocka_run_group_tests_name("vfio_user_server", tests, NULL, NULL);
}
