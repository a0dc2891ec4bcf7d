// SPDX-License-Identifier: BSD-3-Clause
/* vfio-user codec: header checks, reply checks, minimum sizes, capabilities JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vfio-mig/vfio-user-proto.h"

static void test_struct_offsets(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct vfm_vu_hdr, msg_size), 4);
	assert_int_equal(offsetof(struct vfm_vu_hdr, flags), 8);
	assert_int_equal(offsetof(struct vfm_vu_hdr, error), 12);
	assert_int_equal(offsetof(struct vfm_vu_dma_map, offset), 8);
	assert_int_equal(offsetof(struct vfm_vu_dma_map, addr), 16);
	assert_int_equal(offsetof(struct vfm_vu_region_info, size), 16);
	assert_int_equal(offsetof(struct vfm_vu_irq_set, data), 20);
	assert_int_equal(offsetof(struct vfm_vu_region_access, data), 16);
	assert_int_equal(offsetof(struct vfm_vu_write_one, data), 16);
	assert_int_equal(offsetof(struct vfm_vu_mig_data, data), 8);
	assert_int_equal(offsetof(struct vfm_vu_dma_logging_report, bitmap), 24);
	assert_int_equal(offsetof(struct vfm_vu_sub_region_io_fd, datamatch), 32);
}

static void test_hdr_check(void **state)
{
	struct vfm_vu_hdr h;
	char err[256];

	(void)state;
	vfm_vu_hdr_command(&h, 7, VFM_VU_VERSION, 16, false);
	assert_int_equal(vfm_vu_hdr_check(&h, 4096, err, sizeof(err)), 0);
	h.msg_size = 15;
	assert_int_equal(vfm_vu_hdr_check(&h, 4096, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "below the header"));
	h.msg_size = 4097;
	assert_int_equal(vfm_vu_hdr_check(&h, 4096, err, sizeof(err)), -E2BIG);
	h.msg_size = 0xffffffffu;
	assert_int_equal(vfm_vu_hdr_check(&h, 4096, err, sizeof(err)), -E2BIG);
	h.msg_size = 16;
	h.flags = 2; /* unknown type */
	assert_int_equal(vfm_vu_hdr_check(&h, 4096, err, sizeof(err)), -EINVAL);
	h.flags = 1u << 6; /* reserved bit */
	assert_int_equal(vfm_vu_hdr_check(&h, 4096, err, sizeof(err)), -EINVAL);
	h.flags = VFM_VU_F_TYPE_REPLY | VFM_VU_F_ERROR | VFM_VU_F_NO_REPLY;
	assert_int_equal(vfm_vu_hdr_check(&h, 4096, err, sizeof(err)), 0);
}

static void test_reply_check(void **state)
{
	struct vfm_vu_hdr req, rep;
	char err[256];

	(void)state;
	vfm_vu_hdr_command(&req, 3, VFM_VU_DEVICE_GET_INFO, 32, false);
	vfm_vu_hdr_reply(&rep, &req, 32);
	assert_int_equal(vfm_vu_reply_check(&rep, 3, VFM_VU_DEVICE_GET_INFO, 16, 64, err, 256), 0);
	assert_int_equal(vfm_vu_reply_check(&rep, 3, VFM_VU_DEVICE_GET_INFO, 17, 64, err, 256),
			 -EPROTO);
	assert_int_equal(vfm_vu_reply_check(&rep, 4, VFM_VU_DEVICE_GET_INFO, 16, 64, err, 256),
			 -EPROTO);
	assert_int_equal(vfm_vu_reply_check(&rep, 3, VFM_VU_VERSION, 16, 64, err, 256), -EPROTO);
	assert_int_equal(vfm_vu_reply_check(&req, 3, VFM_VU_DEVICE_GET_INFO, 16, 64, err, 256),
			 -EPROTO); /* a command is no reply */
	vfm_vu_hdr_error(&rep, &req, -ENOENT);
	assert_int_equal(rep.msg_size, 16);
	assert_int_equal(rep.error, ENOENT);
	assert_int_equal(vfm_vu_reply_check(&rep, 3, VFM_VU_DEVICE_GET_INFO, 16, 64, err, 256),
			 -ENOENT);
	rep.error = 0; /* error bit without errno */
	assert_int_equal(vfm_vu_reply_check(&rep, 3, VFM_VU_DEVICE_GET_INFO, 16, 64, err, 256),
			 -EIO);
	rep.error = 100000; /* nonsense errno */
	assert_int_equal(vfm_vu_reply_check(&rep, 3, VFM_VU_DEVICE_GET_INFO, 16, 64, err, 256),
			 -EIO);
}

static void test_min_body(void **state)
{
	(void)state;
	assert_int_equal(vfm_vu_request_min_body(VFM_VU_VERSION), 4);
	assert_int_equal(vfm_vu_request_min_body(VFM_VU_DMA_MAP), 32);
	assert_int_equal(vfm_vu_request_min_body(VFM_VU_DMA_UNMAP), 24);
	assert_int_equal(vfm_vu_request_min_body(VFM_VU_DEVICE_SET_IRQS), 20);
	assert_int_equal(vfm_vu_request_min_body(VFM_VU_DEVICE_RESET), 0);
	assert_int_equal(vfm_vu_request_min_body(VFM_VU_MIG_DATA_WRITE), 8);
	assert_int_equal(vfm_vu_request_min_body(14), -1);
	assert_int_equal(vfm_vu_request_min_body(0), -1);
	assert_int_equal(vfm_vu_request_min_body(1000), -1);
	assert_string_equal(vfm_vu_cmd_name(14), "UNKNOWN");
	assert_string_equal(vfm_vu_cmd_name(VFM_VU_MIG_DATA_READ), "MIG_DATA_READ");
}

static int parse(const char *json, struct vfm_vu_caps *c)
{
	char err[256];

	return vfm_vu_caps_parse(json, strlen(json) + 1, c, err, sizeof(err));
}

static void test_caps_defaults(void **state)
{
	struct vfm_vu_caps c;
	char err[256];

	(void)state;
	assert_int_equal(vfm_vu_caps_parse("", 0, &c, err, sizeof(err)), 0);
	assert_int_equal(c.max_msg_fds, 1);
	assert_int_equal(c.max_data_xfer_size, 1 << 20);
	assert_int_equal(c.max_dma_maps, 65535);
	assert_int_equal(c.pgsizes, 4096);
	assert_false(c.has_migration);
	assert_int_equal(c.twin_fd_index, -1);
	assert_int_equal(parse("{}", &c), 0);
	assert_int_equal(parse("{\"capabilities\":{}}", &c), 0);
	assert_int_equal(c.max_data_xfer_size, 1 << 20);
}

static void test_caps_parse(void **state)
{
	struct vfm_vu_caps c;

	(void)state;
	assert_int_equal(
		parse("{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":4194304,"
		      "\"max_dma_maps\":10,\"pgsizes\":12288,\"write_multiple\":true,"
		      "\"twin_socket\":{\"supported\":true,\"fd_index\":0},"
		      "\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":1024,"
		      "\"vfio-mig\":{\"mig_data_size\":true,\"precopy_info\":false}},"
		      "\"unknown\":[1,2]}}",
		      &c),
		0);
	assert_int_equal(c.max_msg_fds, 16);
	assert_int_equal(c.max_data_xfer_size, 4 << 20);
	assert_int_equal(c.max_dma_maps, 10);
	assert_int_equal(c.pgsizes, 12288);
	assert_true(c.write_multiple);
	assert_true(c.twin_supported);
	assert_int_equal(c.twin_fd_index, 0);
	assert_true(c.has_migration);
	assert_int_equal(c.mig_pgsize, 4096);
	assert_int_equal(c.mig_max_bitmap_size, 1024);
	assert_true(c.ext_mig_data_size);
	assert_false(c.ext_precopy_info);
	assert_false(c.ext_precopy_flags); /* absent: a peer of before Linux 7.1's flags */
}

static void test_caps_bad(void **state)
{
	static const char *const bad[] = {
		"not json",
		"[]",
		"{\"capabilities\":[]}",
		"{\"capabilities\":{\"max_msg_fds\":\"8\"}}",
		"{\"capabilities\":{\"max_msg_fds\":-1}}",
		"{\"capabilities\":{\"max_msg_fds\":100000}}",
		"{\"capabilities\":{\"max_data_xfer_size\":0}}",
		"{\"capabilities\":{\"max_data_xfer_size\":2147483648}}",
		"{\"capabilities\":{\"max_data_xfer_size\":1.5}}",
		"{\"capabilities\":{\"pgsizes\":0}}",
		"{\"capabilities\":{\"write_multiple\":1}}",
		"{\"capabilities\":{\"twin_socket\":true}}",
		"{\"capabilities\":{\"twin_socket\":{\"fd_index\":1000}}}",
		"{\"capabilities\":{\"migration\":{\"pgsize\":0}}}",
		"{\"capabilities\":{\"migration\":{\"vfio-mig\":{\"mig_data_size\":\"yes\"}}}}",
		"{} {}",
		"{\"a\":1",
	};
	struct vfm_vu_caps c;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse(bad[i], &c) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	}
	/* No NUL within the payload: never read past it. */
	assert_int_equal(vfm_vu_caps_parse("{}", 2, &c, err, sizeof(err)), -EINVAL);
	/* Over the size limit. */
	{
		static char big[VFM_VU_MAX_JSON + 2];

		memset(big, ' ', sizeof(big));
		big[0] = '{';
		big[sizeof(big) - 2] = '}';
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(vfm_vu_caps_parse(big, sizeof(big), &c, err, sizeof(err)),
				 -EINVAL);
	}
}

static void test_caps_roundtrip(void **state)
{
	struct vfm_vu_caps in, out;
	char buf[1024], err[256];
	int n;

	(void)state;
	vfm_vu_caps_default(&in);
	in.max_msg_fds = 8;
	in.max_data_xfer_size = 4 << 20;
	in.has_migration = true;
	in.mig_pgsize = 4096;
	in.ext_mig_data_size = true;
	in.ext_precopy_info = true;
	in.ext_precopy_flags = true;
	in.twin_supported = true;
	in.write_multiple = true;
	n = vfm_vu_caps_format(&in, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(buf[n - 1], '\0');
	assert_non_null(strstr(buf, "\"vfio-mig\""));
	assert_int_equal(vfm_vu_caps_parse(buf, (size_t)n, &out, err, sizeof(err)), 0);
	assert_int_equal(out.max_msg_fds, 8);
	assert_int_equal(out.max_data_xfer_size, 4 << 20);
	assert_true(out.ext_mig_data_size && out.ext_precopy_info && out.ext_precopy_flags);
	assert_non_null(strstr(buf, "\"precopy_flags\":true"));
	assert_true(out.twin_supported && out.write_multiple);
	assert_int_equal(out.twin_fd_index, -1);
	/* Without the extension flags the vfio-mig object is absent. */
	in.ext_mig_data_size = in.ext_precopy_info = false;
	n = vfm_vu_caps_format(&in, buf, sizeof(buf));
	assert_true(n > 0);
	assert_null(strstr(buf, "vfio-mig"));
	assert_int_equal(vfm_vu_caps_format(&in, buf, 10), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_struct_offsets), cmocka_unit_test(test_hdr_check),
		cmocka_unit_test(test_reply_check),    cmocka_unit_test(test_min_body),
		cmocka_unit_test(test_caps_defaults),  cmocka_unit_test(test_caps_parse),
		cmocka_unit_test(test_caps_bad),       cmocka_unit_test(test_caps_roundtrip),
	};

	return cmocka_run_group_tests_name("vfio_user_codec", tests, NULL, NULL);
}
