// SPDX-License-Identifier: BSD-3-Clause
/*
 * Live migration with the devices' own records as witnesses: P2P quiescing of several
 * devices checked against each device's timed arc log, and DMA: dirty logging reports
 * exactly the pages written, and no DMA write is lost by a migration under a high write
 * rate (directly and through a stream).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vfio-mig/dma.h"
#include "vfio-mig/engine.h"
#include "vfio-mig/handle.h"
#include "vfio-mig/testdev.h"

#define ERRLEN 512

static struct vfm_handle *open_dev(const char *spec)
{
	char err[ERRLEN], full[256];
	struct vfm_handle *h = NULL;

	snprintf(full, sizeof(full), "local:%s", spec);
	if (vfm_handle_open(full, NULL, &h, err, sizeof(err)))
		fail_msg("open %s: %s", spec, err);
	return h;
}

static uint32_t state_of(struct vfm_handle *h)
{
	uint32_t s = VFM_STATE_NR;

	assert_int_equal(vfm_handle_get_state(h, &s), 0);
	return s;
}

/* The time of the first arc named `arc` ("RUNNING>RUNNING_P2P") in h's log, or 0. */
static uint64_t arc_time(struct vfm_handle *h, const char *arc)
{
	static char log[65536];
	char *line, *save = NULL;

	vfm_testdev_arc_log_timed(vfm_local_testdev(h), log, sizeof(log));
	for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');

		if (sp && !strcmp(sp + 1, arc))
			return strtoull(line, NULL, 10);
	}
	return 0;
}

/* Every device entered its P2P state before any device stopped. */
static void check_p2p_order(struct vfm_handle **src, size_t n, bool precopy)
{
	const char *quiesce = precopy ? "PRE_COPY>PRE_COPY_P2P" : "RUNNING>RUNNING_P2P";
	const char *stop = precopy ? "PRE_COPY_P2P>STOP_COPY" : "RUNNING_P2P>STOP";
	uint64_t last_quiesce = 0, first_stop = UINT64_MAX;

	for (size_t i = 0; i < n; i++) {
		uint64_t q = arc_time(src[i], quiesce), s = arc_time(src[i], stop);

		if (!q || !s)
			fail_msg("device %zu: no %s or %s arc in its log", i, quiesce, stop);
		last_quiesce = q > last_quiesce ? q : last_quiesce;
		first_stop = s < first_stop ? s : first_stop;
	}
	if (last_quiesce > first_stop)
		fail_msg("a device stopped (%llu ns) before the last one quiesced P2P (%llu ns)",
			 (unsigned long long)first_stop, (unsigned long long)last_quiesce);
}

static void p2p_devices(size_t n, bool precopy)
{
	struct vfm_handle *src[4], *dst[4];
	struct vfm_mig_opts opts = {.precopy = precopy};
	struct vfm_mig_stats st;
	char err[ERRLEN], spec[128];
	uint64_t before[4], after;

	for (size_t i = 0; i < n; i++) {
		snprintf(spec, sizeof(spec), "testdev,size=%zuK,seed=%zu", 256 * (i + 1), i + 1);
		src[i] = open_dev(spec);
		snprintf(spec, sizeof(spec), "testdev,size=%zuK", 256 * (i + 1));
		dst[i] = open_dev(spec);
		assert_int_equal(vfm_handle_checksum(src[i], &before[i]), 0);
	}
	if (vfm_migrate(src, dst, n, &opts, &st, err, sizeof(err)))
		fail_msg("migrate %zu devices: %s", n, err);
	check_p2p_order(src, n, precopy);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(vfm_handle_checksum(dst[i], &after), 0);
		assert_int_equal(after, before[i]);
		assert_int_equal(state_of(dst[i]), VFM_STATE_RUNNING);
		vfm_handle_close(src[i]);
		vfm_handle_close(dst[i]);
	}
}

static void test_p2p_two(void **st)
{
	(void)st;
	p2p_devices(2, false);
	p2p_devices(2, true);
}

static void test_p2p_four(void **st)
{
	(void)st;
	p2p_devices(4, false);
	p2p_devices(4, true);
}

/* DMA logging reports exactly the pages the device wrote, and clears what it reported. */
static void test_dma_logging_exact(void **st)
{
	struct vfm_handle *h = open_dev("testdev,size=4K,dma=1M");
	struct vfm_dma *dma = vfm_testdev_dma(vfm_local_testdev(h));
	struct vfm_device_feature_dma_logging_range r = {.iova = 0, .length = 1 << 20};
	static const uint64_t pages[] = {0, 1, 17, 63, 64, 200, 255};
	uint64_t page = 4096, bitmap[4] = {0}, want[4] = {0};
	uint8_t data[4096];
	void *mem;
	uint64_t iova, size;

	(void)st;
	assert_int_equal(vfm_handle_dma_memory(h, &mem, &iova, &size), 0);
	assert_int_equal(size, 1 << 20);
	assert_int_equal(vfm_handle_log_start(h, &r, 1, &page), 0);
	assert_int_equal(page, 4096);
	memset(data, 0x5a, sizeof(data));
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		/* a partial write inside the page dirties the page */
		assert_int_equal(vfm_dma_write(dma, pages[i] * 4096 + 100, data, 200), 0);
		want[pages[i] / 64] |= 1ull << (pages[i] % 64);
	}
	assert_int_equal(vfm_handle_log_report(h, 0, 1 << 20, 4096, bitmap), 0);
	assert_memory_equal(bitmap, want, sizeof(want));
	assert_memory_equal((uint8_t *)mem + 17 * 4096 + 100, data, 200);
	memset(bitmap, 0, sizeof(bitmap));
	assert_int_equal(vfm_handle_log_report(h, 0, 1 << 20, 4096, bitmap), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(bitmap[i], 0);
	/* a write spanning two pages dirties both */
	assert_int_equal(vfm_dma_write(dma, 3 * 4096 - 8, data, 16), 0);
	assert_int_equal(vfm_handle_log_report(h, 0, 1 << 20, 4096, bitmap), 0);
	assert_int_equal(bitmap[0], (1ull << 2) | (1ull << 3));
	/* outside the mapping: refused, nothing logged */
	assert_int_equal(vfm_dma_write(dma, 1 << 20, data, 1), -EFAULT);
	assert_int_equal(vfm_handle_log_stop(h), 0);
	assert_int_not_equal(vfm_handle_log_report(h, 0, 1 << 20, 4096, bitmap), 0);
	vfm_handle_close(h);
}

/* Logging without any DMA memory is refused with an error, not a crash. */
static void test_dma_logging_without_memory(void **st)
{
	struct vfm_handle *h = open_dev("testdev,size=4K");
	struct vfm_device_feature_dma_logging_range r = {.iova = 0, .length = 1 << 20};
	uint64_t page = 4096;

	(void)st;
	assert_int_not_equal(vfm_handle_log_start(h, &r, 1, &page), 0);
	assert_int_equal(state_of(h), VFM_STATE_RUNNING);
	vfm_handle_close(h);
}

static void memory_equal(struct vfm_handle *a, struct vfm_handle *b)
{
	void *pa, *pb;
	uint64_t ia, ib, sa, sb;

	assert_int_equal(vfm_handle_dma_memory(a, &pa, &ia, &sa), 0);
	assert_int_equal(vfm_handle_dma_memory(b, &pb, &ib, &sb), 0);
	assert_int_equal(sa, sb);
	if (memcmp(pa, pb, (size_t)sa)) {
		size_t first = 0;

		while (((uint8_t *)pa)[first] == ((uint8_t *)pb)[first])
			first++;
		fail_msg("destination memory differs from the source's, first at byte %zu", first);
	}
}

/* Writes by the device at the last moment: when the engine starts stopping the devices,
 * after its last pre-copy pass over the dirty pages. */
struct late_writes {
	struct vfm_dma *dma;
	bool done;
};

static void write_late(void *opaque, const struct vfm_progress *p)
{
	struct late_writes *lw = opaque;
	uint8_t page[4096];

	if (p->phase != VFM_PHASE_STOP_COPY || lw->done)
		return;
	lw->done = true;
	memset(page, 0xa5, sizeof(page));
	for (uint64_t i = 0; i < 16; i++)
		assert_int_equal(vfm_dma_write(lw->dma, i * 65536 + 4096, page, sizeof(page)), 0);
}

/* A running device writing its memory fast: after migration the destination's memory is
 * the source's as the device stopped (the source is stopped, so it is still that). */
static void test_dma_no_write_lost(void **st)
{
	struct vfm_handle *src = open_dev("testdev,size=1M,seed=3,dma=16M,dma-rate=1G");
	struct vfm_handle *dst = open_dev("testdev,size=1M,dma=16M");
	struct late_writes lw = {.dma = vfm_testdev_dma(vfm_local_testdev(src))};
	struct vfm_mig_opts opts = {.precopy = true,
				    .downtime_limit_ms = 300,
				    .progress = write_late,
				    .progress_opaque = &lw};
	struct timespec run = {.tv_sec = 0, .tv_nsec = 100000000};
	struct vfm_mig_stats stats;
	char err[ERRLEN];
	uint64_t written;

	(void)st;
	nanosleep(&run, NULL);
	if (vfm_migrate(&src, &dst, 1, &opts, &stats, err, sizeof(err)))
		fail_msg("migrate: %s", err);
	written = vfm_testdev_dma_written(vfm_local_testdev(src));
	assert_true(written > (16u << 20)); /* the device really wrote, during the migration */
	assert_true(stats.rounds > 0);
	assert_true(lw.done);
	assert_int_equal(state_of(src), VFM_STATE_STOP);
	memory_equal(src, dst);
	nanosleep(&run, NULL);
	/* stopped: no more DMA */
	assert_int_equal(vfm_testdev_dma_written(vfm_local_testdev(src)), written);
	vfm_handle_close(src);
	vfm_handle_close(dst);
}

/* The same through a stream: DMA memory travels in its own sections. */
static void test_dma_through_stream(void **st)
{
	struct vfm_handle *src = open_dev("testdev,size=256K,seed=4,dma=4M,dma-rate=256M");
	struct vfm_handle *dst = open_dev("testdev,size=256K,dma=4M");
	struct vfm_mig_opts opts = {.precopy = true};
	struct timespec run = {.tv_sec = 0, .tv_nsec = 50000000};
	struct vfm_mig_stats stats;
	struct vfm_chan ch;
	char err[ERRLEN];
	int fd = memfd_create("stream", 0);

	(void)st;
	assert_true(fd >= 0);
	nanosleep(&run, NULL);
	vfm_chan_init(&ch, fd, "memfd");
	if (vfm_save(&src, 1, &ch, &opts, &stats, err, sizeof(err)))
		fail_msg("save: %s", err);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	vfm_chan_init(&ch, fd, "memfd");
	if (vfm_load(&dst, 1, &ch, NULL, &stats, err, sizeof(err)))
		fail_msg("load: %s", err);
	memory_equal(src, dst);
	close(fd);
	vfm_handle_close(src);
	vfm_handle_close(dst);
}

/* A destination without memory for a source with memory: refused, source RUNNING. */
static void test_dma_destination_without_memory(void **st)
{
	struct vfm_handle *src = open_dev("testdev,size=64K,dma=1M");
	struct vfm_handle *dst = open_dev("testdev,size=64K");
	struct vfm_mig_opts opts = {.precopy = true};
	struct vfm_mig_stats stats;
	char err[ERRLEN];

	(void)st;
	assert_int_not_equal(vfm_migrate(&src, &dst, 1, &opts, &stats, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "DMA memory"));
	assert_int_equal(state_of(src), VFM_STATE_RUNNING);
	assert_int_equal(state_of(dst), VFM_STATE_RUNNING);
	vfm_handle_close(src);
	vfm_handle_close(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_p2p_two),
		cmocka_unit_test(test_p2p_four),
		cmocka_unit_test(test_dma_logging_exact),
		cmocka_unit_test(test_dma_logging_without_memory),
		cmocka_unit_test(test_dma_no_write_lost),
		cmocka_unit_test(test_dma_through_stream),
		cmocka_unit_test(test_dma_destination_without_memory),
	};

	return cmocka_run_group_tests_name("live", tests, NULL, NULL);
}
