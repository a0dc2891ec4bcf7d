// SPDX-License-Identifier: BSD-3-Clause
/*
 * DMA logging through vfio-user with a device that implements it: the wire layout of
 * DMA_LOGGING_START (ranges at offset 16) reaches the device API intact, the page size the
 * device picks comes back, reports are split to fit max_data_xfer_size, and a device that
 * is not the sample device has no checksum register.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "vu_harness.h"

struct fake {
	uint64_t page_size;
	uint32_t nr;
	struct vfm_device_feature_dma_logging_range r[4];
	int started, stopped, reports;
};

static int f_step(void *o, uint32_t from, uint32_t to, bool *err)
{
	(void)o, (void)from, (void)to, (void)err;
	return 0;
}

static ssize_t f_save(void *o, void *buf, size_t len)
{
	(void)o, (void)buf, (void)len;
	return 0;
}

static ssize_t f_load(void *o, const void *buf, size_t len)
{
	(void)o, (void)buf;
	return (ssize_t)len;
}

static int f_log_start(void *o, const struct vfm_device_feature_dma_logging_range *r, uint32_t n,
		       uint64_t *page_size)
{
	struct fake *f = o;

	if (n > 4)
		return -E2BIG;
	f->nr = n;
	memcpy(f->r, r, n * sizeof(*r));
	f->page_size = *page_size;
	*page_size = 8192; /* the device's own granularity */
	f->started++;
	return 0;
}

static int f_log_stop(void *o)
{
	((struct fake *)o)->stopped++;
	return 0;
}

/* Page k of the report is dirty iff its absolute page number is a multiple of 3. */
static int f_log_report(void *o, uint64_t iova, uint64_t length, uint64_t page_size,
			uint64_t *bitmap)
{
	uint64_t pages = (length + page_size - 1) / page_size;

	((struct fake *)o)->reports++;
	for (uint64_t k = 0; k < pages; k++) {
		if ((iova / page_size + k) % 3 == 0)
			bitmap[k / 64] |= 1ull << (k % 64);
	}
	return 0;
}

static const struct vfm_device_ops fake_ops = {
	.step = f_step,
	.save = f_save,
	.load = f_load,
	.log_start = f_log_start,
	.log_stop = f_log_stop,
	.log_report = f_log_report,
};

struct ctx {
	struct fake fake;
	struct vu_harness h;
	struct vfm_handle *hd;
	int memfd;
};

#define BASE  0x10000000ull
#define PAGES 100000ull

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct vfm_device_config cfg = {.name = "fake", .flags = VFM_MIGRATION_STOP_COPY};
	struct vfm_vu_server_opts so = {.max_data_xfer_size = 4096};
	struct vfm_vu_client_info info;
	char err[256];

	if (!c || vfm_device_create(&cfg, &fake_ops, &c->fake, &c->h.dev))
		return -1;
	if (vfm_vu_server_create(c->h.dev, &so, &c->h.srv, err, sizeof(err)))
		return -1;
	c->h.cfd = -1;
	if (vh_connect(&c->h) ||
	    vfm_vu_open_fd(c->h.cfd, "unix:fake", NULL, &c->hd, err, sizeof(err)))
		return -1;
	c->h.cfd = -1;
	if (vfm_vu_client_info(c->hd, &info) || info.max_read != 4096)
		return -1;
	c->memfd = memfd_create("guest", MFD_CLOEXEC);
	if (c->memfd < 0 || ftruncate(c->memfd, (off_t)(PAGES * 4096)))
		return -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	if (c->hd)
		vfm_handle_close(c->hd);
	vh_disconnect(&c->h);
	vfm_vu_server_destroy(c->h.srv);
	vfm_device_destroy(c->h.dev);
	close(c->memfd);
	free(c);
	return 0;
}

static void test_identity(void **state)
{
	struct ctx *c = *state;
	struct vfm_vu_client_info info;
	uint64_t sum;

	assert_int_equal(vfm_vu_client_info(c->hd, &info), 0);
	assert_int_equal(info.vendor, VFM_VU_PCI_VENDOR);
	assert_int_equal(info.device, VFM_VU_PCI_DEVICE);
	assert_false(info.testdev);
	assert_int_equal(vfm_handle_checksum(c->hd, &sum), -ENOTSUP);
	/* No data_size callback: the server answers MIG_DATA_SIZE with an error. */
	assert_false(info.mig_data_size && vfm_handle_data_size(c->hd, &sum) == 0);
}

static void test_logging_needs_mapping(void **state)
{
	struct ctx *c = *state;
	struct vfm_device_feature_dma_logging_range r = {BASE, 1 << 20};
	uint64_t page = 4096;

	assert_int_equal(vfm_handle_log_start(c->hd, &r, 1, &page), -EINVAL);
	assert_int_equal(c->fake.started, 0);
	assert_int_equal(vfm_vu_dma_map(c->hd, BASE, PAGES * 4096, VFM_VU_DMA_F_READ, c->memfd, 0),
			 0);
	/* A range reaching past the mapping is refused too. */
	r.length = PAGES * 4096 + 4096;
	assert_int_equal(vfm_handle_log_start(c->hd, &r, 1, &page), -EINVAL);
	assert_int_equal(c->fake.started, 0);
	assert_int_equal(vfm_vu_dma_unmap(c->hd, BASE, PAGES * 4096), 0);
	assert_int_equal(vfm_vu_dma_unmap(c->hd, BASE, PAGES * 4096), -ENOENT);
}

static void test_logging_roundtrip(void **state)
{
	struct ctx *c = *state;
	struct vfm_device_feature_dma_logging_range r[2] = {{BASE, 1 << 20},
							    {BASE + (8 << 20), 4 << 20}};
	uint64_t page = 4096, *bitmap, words = (PAGES + 63) / 64;

	assert_int_equal(vfm_vu_dma_map(c->hd, BASE, PAGES * 4096,
					VFM_VU_DMA_F_READ | VFM_VU_DMA_F_WRITE, c->memfd, 0),
			 0);
	assert_int_equal(vfm_handle_log_start(c->hd, r, 2, &page), 0);
	assert_int_equal(page, 8192);
	assert_int_equal(c->fake.started, 1);
	assert_int_equal(c->fake.page_size, 4096);
	assert_int_equal(c->fake.nr, 2);
	assert_memory_equal(c->fake.r, r, sizeof(r));
	/* A report far larger than one message: split by the client. */
	bitmap = calloc(words, 8);
	assert_int_equal(vfm_handle_log_report(c->hd, BASE, PAGES * 4096, 4096, bitmap), 0);
	assert_true(c->fake.reports > 1);
	for (uint64_t k = 0; k < PAGES; k++) {
		bool want = (BASE / 4096 + k) % 3 == 0;
		bool got = (bitmap[k / 64] >> (k % 64)) & 1;

		if (want != got)
			fail_msg("page %llu: bit %d, expected %d", (unsigned long long)k, got,
				 want);
	}
	free(bitmap);
	assert_int_equal(vfm_handle_log_stop(c->hd), 0);
	assert_int_equal(c->fake.stopped, 1);
	/* Reports after the stop are refused by the server. */
	{
		uint64_t one[2] = {0, 0};

		assert_int_equal(vfm_handle_log_report(c->hd, BASE, 4096 * 64, 4096, one), -EINVAL);
	}
}

static void test_logging_stopped_on_disconnect(void **state)
{
	struct ctx *c = *state;
	struct vfm_device_feature_dma_logging_range r = {BASE, 1 << 20};
	uint64_t page = 4096;

	assert_int_equal(vfm_vu_dma_map(c->hd, BASE, PAGES * 4096, VFM_VU_DMA_F_READ, c->memfd, 0),
			 0);
	assert_int_equal(vfm_handle_log_start(c->hd, &r, 1, &page), 0);
	vfm_handle_close(c->hd);
	c->hd = NULL;
	vh_disconnect(&c->h);
	assert_int_equal(c->fake.stopped, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logging_needs_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logging_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logging_stopped_on_disconnect, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("vfio_user_logging", tests, NULL, NULL);
}
