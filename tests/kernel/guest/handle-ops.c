/* vfm-handle-ops: the kernel transport's operations on a real mtty-2 device (runs inside
 * the test guest, linked statically against libvfio-mig.a).
 *
 *   vfm-handle-ops DEVICE      (vfio:/dev/vfio/devices/vfioN or vfio-group:/dev/vfio/N:<uuid>)
 *
 * Reaches what the vfio-mig commands do not: pre-copy info and the PRE_COPY -> STOP_COPY
 * stream continuing on one fd, a session ended by an arc (-ENODEV), a resume written in
 * pieces, a failed RESUMING -> STOP, the raw feature op (with an argsz beyond the buffer
 * and with a data fd handed over), DMA logging in the kernel's pointer layout, checksum
 * and the device fd accessor. mtty facts used (uAPI doc 4.1): flags 0x7, a 96-byte stream
 * of which the first 24 bytes (the header) are the PRE_COPY initial bytes, read() 0 at the
 * temporary end, no-op DMA logging (REPORT is -EOPNOTSUPP on a kernel without
 * CONFIG_IOMMUFD_DRIVER), reset returns 0 and ends every session.
 *
 * Prints "VFM-TAP: ok - handle (KIND): NAME" or "VFM-TAP: not ok - ..." per check (the
 * guest script counts them) and leaves the device RUNNING with its state as it found it.
 * Exit 0 iff every check passed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfio-mig/fsm.h"
#include "vfio-mig/handle.h"
#include "vfio-mig/kernel.h"
#include "vfio-mig/uapi.h"

#define MTTY2_SIZE  96u
#define MTTY_HEADER 24u

static struct vfm_handle *h;
static uint8_t image[MTTY2_SIZE]; /* the device's stream, read in pre_copy() */
static int failures;

/* Fails the current check with a reason; returns -1. */
static int why(const char *fmt, ...)
{
	va_list ap;

	printf("  reason: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" [%s]\n", vfm_handle_error(h));
	return -1;
}

static void check(const char *name, int (*fn)(void))
{
	int rc = fn();

	printf("VFM-TAP: %s - handle (%s): %s\n", rc ? "not ok" : "ok", h->ops->kind, name);
	failures += rc != 0;
	fflush(stdout);
}

static int expect_state(uint32_t want)
{
	uint32_t s;
	int rc = vfm_handle_get_state(h, &s);

	if (rc)
		return why("GET state: %d", rc);
	if (s != want)
		return why("state %s, expected %s", vfm_state_name(s), vfm_state_name(want));
	return 0;
}

/* Reads a session until read() returns 0; total bytes or a negative errno. */
static long read_all(struct vfm_session *s, uint8_t *buf, size_t cap)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = vfm_session_read(s, buf + got, cap - got);

		if (n < 0)
			return n;
		if (n == 0)
			return (long)got;
		got += (size_t)n;
		if (got == cap) {
			uint8_t extra;

			n = vfm_session_read(s, &extra, 1);
			return n == 0 ? (long)got : -EOVERFLOW;
		}
	}
}

static int basics(void)
{
	uint64_t flags, size;

	if (vfm_handle_get_flags(h, &flags) || flags != 7)
		return why("flags 0x%" PRIx64 ", expected 0x7", flags);
	if (vfm_handle_data_size(h, &size) || size != MTTY2_SIZE)
		return why("MIG_DATA_SIZE %" PRIu64 ", expected %u", size, MTTY2_SIZE);
	return expect_state(VFM_STATE_RUNNING);
}

static struct vfm_session *sess;

static int pre_copy(void)
{
	uint64_t initial = 0, dirty = 1;
	long n;
	int rc = vfm_handle_set_state(h, VFM_STATE_PRE_COPY, &sess);

	if (rc || !sess || !sess->saving)
		return why("RUNNING -> PRE_COPY: rc %d, session %p", rc, (void *)sess);
	rc = vfm_session_precopy_info(sess, &initial, &dirty);
	if (rc || initial != MTTY_HEADER || dirty != 0)
		return why("precopy_info rc %d initial %" PRIu64 " dirty %" PRIu64, rc, initial,
			   dirty);
	n = read_all(sess, image, sizeof(image));
	if (n != MTTY_HEADER)
		return why("PRE_COPY read %ld bytes, expected %u then 0", n, MTTY_HEADER);
	rc = vfm_session_precopy_info(sess, &initial, &dirty);
	if (rc || initial != 0 || dirty != 0)
		return why("after reading: rc %d initial %" PRIu64 " dirty %" PRIu64, rc, initial,
			   dirty);
	return 0;
}

static int to_stop_copy(void)
{
	struct vfm_session *more = NULL;
	uint64_t i, d;
	long n;

	if (!sess)
		return why("no PRE_COPY session");
	if (vfm_handle_set_state(h, VFM_STATE_PRE_COPY_P2P, &more) || more)
		return why("PRE_COPY -> PRE_COPY_P2P");
	if (vfm_handle_set_state(h, VFM_STATE_STOP_COPY, &more) || more)
		return why("PRE_COPY_P2P -> STOP_COPY must keep the fd (new session %p)",
			   (void *)more);
	n = read_all(sess, image + MTTY_HEADER, sizeof(image) - MTTY_HEADER);
	if (n != MTTY2_SIZE - MTTY_HEADER)
		return why("STOP_COPY read %ld more bytes, expected %u", n,
			   MTTY2_SIZE - MTTY_HEADER);
	if (vfm_session_precopy_info(sess, &i, &d) != -EINVAL)
		return why("precopy_info in STOP_COPY must be -EINVAL");
	return 0;
}

static int session_ends(void)
{
	uint8_t b;
	ssize_t n;

	if (!sess)
		return why("no session");
	if (vfm_handle_set_state(h, VFM_STATE_STOP, NULL))
		return why("STOP_COPY -> STOP");
	n = vfm_session_read(sess, &b, 1);
	vfm_session_close(sess);
	sess = NULL;
	if (n != -ENODEV)
		return why("read after STOP_COPY -> STOP gave %zd, expected -ENODEV", n);
	return expect_state(VFM_STATE_STOP);
}

static int resume_in_pieces(void)
{
	static const size_t piece[] = {10, 30, 56};
	struct vfm_session *s = NULL;
	size_t off = 0;

	if (vfm_handle_set_state(h, VFM_STATE_RESUMING, &s) || !s || s->saving)
		return why("STOP -> RESUMING: session %p", (void *)s);
	for (size_t i = 0; i < sizeof(piece) / sizeof(piece[0]); i++) {
		int rc = vfm_session_write_all(s, image + off, piece[i]);

		if (rc) {
			vfm_session_close(s);
			return why("writing %zu bytes at %zu: %d", piece[i], off, rc);
		}
		off += piece[i];
	}
	vfm_session_close(s);
	if (vfm_handle_set_state(h, VFM_STATE_RUNNING, NULL))
		return why("RESUMING -> STOP -> RUNNING after a complete stream");
	return expect_state(VFM_STATE_RUNNING);
}

static int resume_short_steps(struct vfm_session *s)
{
	uint8_t b = 0;
	int rc = vfm_session_write_all(s, image, MTTY_HEADER);

	if (rc)
		return why("writing the header: %d", rc);
	rc = vfm_handle_set_state(h, VFM_STATE_STOP, NULL);
	if (rc != -EINVAL)
		return why("RESUMING -> STOP on 24 bytes gave %d, expected -EINVAL", rc);
	if (expect_state(VFM_STATE_RESUMING))
		return -1;
	if (vfm_handle_reset(h))
		return why("reset");
	if (vfm_session_write(s, &b, 1) != -ENODEV)
		return why("the resume fd must be dead (-ENODEV) after a reset");
	return 0;
}

static int resume_short(void)
{
	struct vfm_session *s = NULL;
	int rc;

	if (vfm_handle_set_state(h, VFM_STATE_STOP, NULL) ||
	    vfm_handle_set_state(h, VFM_STATE_RESUMING, &s) || !s)
		return why("-> RESUMING");
	rc = resume_short_steps(s);
	vfm_session_close(s);
	return rc ? rc : expect_state(VFM_STATE_RUNNING);
}

static int refused(void)
{
	struct vfm_session *s = NULL;
	int rc = vfm_handle_set_state(h, VFM_STATE_ERROR, &s);

	if (rc != -EINVAL || s)
		return why("SET ERROR gave %d, expected -EINVAL and no session", rc);
	rc = vfm_handle_set_state(h, 8, &s);
	if (rc != -EINVAL || s)
		return why("SET 8 gave %d, expected -EINVAL", rc);
	return expect_state(VFM_STATE_RUNNING);
}

static int raw_feature(void)
{
	union {
		struct vfm_device_feature f;
		uint64_t w[3];
	} buf;
	struct vfm_session *s = NULL;
	uint64_t flags;
	int rc;

	memset(&buf, 0, sizeof(buf));
	buf.f.argsz = 16;
	buf.f.flags = VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_MIGRATION;
	rc = vfm_handle_feature(h, &buf, 16, &s);
	memcpy(&flags, buf.f.data, 8);
	if (rc || s || flags != 7)
		return why("raw GET MIGRATION: rc %d flags 0x%" PRIx64, rc, flags);
	buf.f.flags = VFM_DEVICE_FEATURE_PROBE | VFM_DEVICE_FEATURE_MIGRATION;
	if ((rc = vfm_handle_feature(h, &buf, 16, &s)))
		return why("raw PROBE MIGRATION: %d", rc);
	/* argsz far beyond the 16-byte buffer: the kernel sees a bounce buffer. */
	buf.f.argsz = 4096;
	buf.f.flags = VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_MIGRATION;
	memset(buf.f.data, 0, 8);
	rc = vfm_handle_feature(h, &buf, 16, &s);
	memcpy(&flags, buf.f.data, 8);
	if (rc || flags != 7)
		return why("raw GET with argsz 4096 > buffer: rc %d flags 0x%" PRIx64, rc, flags);
	if ((rc = vfm_handle_feature(h, &buf, 4, &s)) != -EFAULT)
		return why("a 4-byte buffer gave %d, expected -EFAULT", rc);
	buf.f.argsz = 7;
	if ((rc = vfm_handle_feature(h, &buf, 16, &s)) != -EINVAL)
		return why("argsz 7 gave %d, expected the kernel's -EINVAL", rc);
	buf.f.argsz = 16;
	buf.f.flags = VFM_DEVICE_FEATURE_GET | 11;
	if ((rc = vfm_handle_feature(h, &buf, 16, &s)) != -ENOTTY)
		return why("feature 11 on mtty gave %d, expected -ENOTTY", rc);
	return 0;
}

static int raw_session(void)
{
	union {
		struct vfm_device_feature f;
		uint64_t w[2];
	} buf;
	struct vfm_device_feature_mig_state ms = {.device_state = VFM_STATE_STOP_COPY,
						  .data_fd = -1};
	struct vfm_session *s = NULL;
	uint8_t tmp[MTTY2_SIZE];
	long n;
	int rc;

	memset(&buf, 0, sizeof(buf));
	buf.f.argsz = 16;
	buf.f.flags = VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_MIG_DEVICE_STATE;
	memcpy(buf.f.data, &ms, sizeof(ms));
	rc = vfm_handle_feature(h, &buf, sizeof(buf), &s);
	memcpy(&ms, buf.f.data, sizeof(ms));
	if (rc || !s || ms.data_fd < 0)
		return why("raw SET STOP_COPY: rc %d session %p data_fd %d", rc, (void *)s,
			   ms.data_fd);
	n = read_all(s, tmp, sizeof(tmp));
	vfm_session_close(s);
	if (n != MTTY2_SIZE || memcmp(tmp, image, MTTY2_SIZE))
		return why("the raw session read %ld bytes%s", n,
			   n == MTTY2_SIZE ? " that differ from the PRE_COPY/STOP_COPY image" : "");
	if (vfm_handle_set_state(h, VFM_STATE_RUNNING, NULL))
		return why("STOP_COPY -> RUNNING");
	return expect_state(VFM_STATE_RUNNING);
}

static int dma_logging(void)
{
	struct vfm_device_feature_dma_logging_range r = {.iova = 0, .length = 1u << 20};
	uint64_t page = 4096, bitmap[4] = {0};
	int rc = vfm_handle_log_start(h, &r, 1, &page);

	if (rc)
		return why("DMA_LOGGING_START: %d", rc);
	if (page != 4096)
		return why("page size %" PRIu64, page);
	/* The core walks the bitmap with iova_bitmap, a stub returning -EOPNOTSUPP unless
	 * CONFIG_IOMMUFD_DRIVER is set; the tier's kernel selects it (IOMMUFD_TEST), so the
	 * report must succeed (QEMU's vfio-pci needs it for its device dirty tracking). */
	rc = vfm_handle_log_report(h, 0, 1u << 20, 4096, bitmap);
	if (rc)
		return why("DMA_LOGGING_REPORT: %d (CONFIG_IOMMUFD_DRIVER missing?)", rc);
	if (bitmap[0] | bitmap[1] | bitmap[2] | bitmap[3])
		return why("mtty's no-op logging set bits");
	rc = vfm_handle_log_report(h, 0, 1u << 20, 1000, bitmap);
	if (rc != -EINVAL)
		return why("REPORT with page size 1000 gave %d, expected -EINVAL", rc);
	rc = vfm_handle_log_start(h, &r, 0, &page);
	if (rc != -EINVAL)
		return why("START with no range gave %d, expected -EINVAL", rc);
	rc = vfm_handle_log_stop(h);
	return rc ? why("DMA_LOGGING_STOP: %d", rc) : 0;
}

static int misc(void)
{
	uint64_t sum;
	int fd = vfm_kernel_device_fd(h);
	struct vfm_handle *local = NULL;
	char err[256];

	if (vfm_handle_checksum(h, &sum) != -ENOTSUP)
		return why("checksum must be -ENOTSUP");
	if (fd < 0)
		return why("vfm_kernel_device_fd %d", fd);
	if (vfm_handle_open("local:testdev,size=4K", NULL, &local, err, sizeof(err)) == 0) {
		int lfd = vfm_kernel_device_fd(local);

		vfm_handle_close(local);
		if (lfd != -EINVAL)
			return why("vfm_kernel_device_fd on a local handle gave %d", lfd);
	}
	if (vfm_handle_reset(h))
		return why("reset");
	return expect_state(VFM_STATE_RUNNING);
}

int main(int argc, char **argv)
{
	char err[VFM_ERR_LEN];
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DEVICE\n", argv[0]);
		return 2;
	}
	rc = vfm_handle_open(argv[1], NULL, &h, err, sizeof(err));
	if (rc) {
		printf("VFM-TAP: not ok - handle: open %s: %s\n", argv[1], err);
		return 1;
	}
	check("GET MIGRATION 0x7, MIG_DATA_SIZE 96, RUNNING", basics);
	check("PRE_COPY: precopy_info 24/0, 24 bytes then read() 0, then 0/0", pre_copy);
	check("PRE_COPY_P2P -> STOP_COPY keeps the fd: 72 more bytes, then 0", to_stop_copy);
	check("STOP_COPY -> STOP ends the session: read() -ENODEV", session_ends);
	check("RESUMING from 3 writes of the image, then RUNNING", resume_in_pieces);
	check("RESUMING -> STOP on 24 bytes: -EINVAL, stays RESUMING; reset kills the fd",
	      resume_short);
	check("SET ERROR and SET 8: -EINVAL, no session, state unchanged", refused);
	check("raw feature: GET, PROBE, argsz > buffer bounced, short buffer -EFAULT, "
	      "kernel errnos passed up",
	      raw_feature);
	check("raw SET STOP_COPY hands its data fd over as a session; same image", raw_session);
	check("DMA logging START/REPORT/STOP in the kernel pointer layout", dma_logging);
	check("checksum -ENOTSUP, vfm_kernel_device_fd, reset -> RUNNING", misc);
	vfm_handle_close(h);
	return failures ? 1 : 0;
}
