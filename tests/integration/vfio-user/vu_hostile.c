// SPDX-License-Identifier: BSD-3-Clause
/*
 * Hostile clients against a real `vfio-mig serve` process (VFIO_MIG names the tool): this
 * process is the client, speaking raw vfio-user.
 *   - it shrinks the memfd it mapped with DMA_MAP, then has the device DMA into it (the
 *     DMA engine and the workload): the DMA fails, serve lives on;
 *   - it sends half a message and goes silent: serve drops it after a bound, and refuses a
 *     second client at once meanwhile, then serves the next one;
 *   - it sends requests and never reads the replies: serve drops it once it cannot send;
 *   - it maps a sparse file larger than one client may map, then logs and reports over
 *     the most it may map: refused, then answered at once; SIGTERM ends serve right after.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../unit/vu_harness.h"

#define JSON                                                                                       \
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":4194304,"                     \
	"\"migration\":{\"pgsize\":4096}}}"

struct serve {
	pid_t pid;
	char path[108];
};

static pid_t running = -1; /* the serve a test started and has not reaped */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void serve_start(struct serve *s, const char *tag, const char *spec)
{
	const char *tool = getenv("VFIO_MIG");
	double t0 = now();

	assert_non_null(tool);
	snprintf(s->path, sizeof(s->path), "/tmp/vu-hostile-%d-%s.sock", (int)getpid(), tag);
	unlink(s->path);
	s->pid = fork();
	assert_true(s->pid >= 0);
	running = s->pid;
	if (s->pid == 0) {
		execl(tool, "vfio-mig", "serve", "--socket", s->path, "--device", spec,
		      (char *)NULL);
		_exit(127);
	}
	while (access(s->path, F_OK) != 0) {
		assert_true(now() - t0 < 30);
		assert_int_equal(waitpid(s->pid, NULL, WNOHANG), 0);
		usleep(10000);
	}
}

/* serve's exit status, or -1 if it has not exited within `seconds`. */
static int serve_wait(struct serve *s, double seconds)
{
	double t0 = now();
	int status;

	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (now() - t0 > seconds)
			return -1;
		usleep(10000);
	}
	running = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void serve_stop(struct serve *s)
{
	kill(s->pid, SIGTERM);
	assert_int_equal(serve_wait(s, 30), 0);
}

static int connect_to(const struct serve *s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* A negotiated raw client. */
static void client(struct vu_harness *h, const struct serve *s)
{
	memset(h, 0, sizeof(*h));
	h->cfd = connect_to(s);
	assert_int_equal(vh_version(h, JSON), 0);
}

/* True when the server closes fd within `seconds` (read() sees the end). */
static bool closed_within(int fd, double seconds)
{
	struct pollfd p = {fd, POLLIN, 0};
	char c;

	if (poll(&p, 1, (int)(seconds * 1000)) != 1)
		return false;
	return read(fd, &c, 1) <= 0;
}

static int map_fd(struct vu_harness *h, uint64_t addr, uint64_t size, int fd)
{
	struct vfm_vu_dma_map m = {32, VFM_VU_DMA_F_READ | VFM_VU_DMA_F_WRITE, 0, addr, size};
	struct vfm_vu_hdr hdr;
	uint8_t rep[64];

	assert_int_equal(vh_send_fds(h, VFM_VU_DMA_MAP, 0, &m, sizeof(m), &fd, 1), 0);
	assert_int_equal(vh_recv(h, &hdr, rep, sizeof(rep), NULL), 0);
	return hdr.flags & VFM_VU_F_ERROR ? -(int)hdr.error : 0;
}

static uint32_t dma_engine(struct vu_harness *h, uint64_t addr, uint64_t len, uint32_t cmd)
{
	uint64_t status = 0;

	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_DMA_ADDR, &addr, 8), 0);
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_DMA_LEN, &len, 8), 0);
	assert_int_equal(vh_region_write(h, VFM_VU_PCI_BAR0, VFM_VU_REG_DMA_CTRL, &cmd, 4), 0);
	assert_int_equal(vh_region_read(h, VFM_VU_PCI_BAR0, VFM_VU_REG_DMA_STATUS, &status, 4), 0);
	return (uint32_t)status;
}

static void test_shrunk_memfd(void **state)
{
	struct serve s;
	struct vu_harness h;
	uint32_t magic = 0;
	int fd = memfd_create("hostile", MFD_CLOEXEC);

	(void)state;
	serve_start(&s, "bus", "testdev,size=1M,dma-rate=256M");
	client(&h, &s);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	assert_int_equal(map_fd(&h, 0, 1 << 20, fd), 0);
	assert_int_equal(dma_engine(&h, 4096, 4096, VFM_VU_DMA_CTRL_WRITE), 0);
	/* The memory goes away under the server's mapping. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(dma_engine(&h, 4096, 4096, VFM_VU_DMA_CTRL_READ), EFAULT);
	assert_int_equal(dma_engine(&h, 8192, 100, VFM_VU_DMA_CTRL_WRITE), EFAULT);
	/* The workload writes 256 MiB/s of pages into it meanwhile. */
	usleep(300000);
	assert_int_equal(waitpid(s.pid, NULL, WNOHANG), 0);
	assert_int_equal(vh_region_read(&h, VFM_VU_PCI_BAR0, VFM_VU_REG_MAGIC, &magic, 4), 0);
	assert_int_equal(magic, VFM_VU_MAGIC);
	close(h.cfd);
	close(fd);
	client(&h, &s);
	close(h.cfd);
	serve_stop(&s);
}

/* One silent client, cut in the header or in the body: a second is refused at once, the
 * silent one is dropped after the bound, and the next is served. */
static void silent_in(const struct serve *s, size_t sent)
{
	struct vfm_vu_hdr hdr = {.msg_id = 1, .cmd = VFM_VU_VERSION, .msg_size = 16 + 200};
	uint8_t msg[16 + 200] = {0};
	struct vu_harness h;
	int a = connect_to(s), b;

	memcpy(msg, &hdr, sizeof(hdr));
	assert_int_equal(write(a, msg, sent), (ssize_t)sent);
	usleep(200000); /* the server is inside the message now */
	b = connect_to(s);
	assert_true(closed_within(b, 3));
	close(b);
	assert_true(closed_within(a, 30));
	close(a);
	client(&h, s);
	close(h.cfd);
}

static void test_half_message(void **state)
{
	struct serve s;

	(void)state;
	serve_start(&s, "half", "testdev,size=1M");
	silent_in(&s, 10);	/* part of the header */
	silent_in(&s, 16 + 50); /* the header and part of the body */
	serve_stop(&s);
}

/* A client that sends requests and never reads the replies is dropped once the server
 * cannot send; the next client is served then. */
static void test_unread_replies(void **state)
{
	struct vfm_vu_region_access ra = {0, VFM_VU_PCI_BAR0, VFM_VU_BAR0_SIZE};
	struct vu_harness h, next;
	struct serve s;
	struct pollfd p;
	struct timeval tv = {.tv_sec = 20};

	(void)state;

	serve_start(&s, "deaf", "testdev,size=1M");
	client(&h, &s);
	/* Bounded here too: a server that never gives up must not hang the test. */
	assert_int_equal(setsockopt(h.cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	/* 4 KiB replies: 4000 of them fill every socket buffer between us; our own sends
	 * stall too, until the server gives up on us (ECONNRESET). */
	for (int i = 0; i < 4000 && vh_send(&h, VFM_VU_REGION_READ, &ra, sizeof(ra)) == 0; i++)
		;
	memset(&next, 0, sizeof(next));
	next.cfd = connect_to(&s);
	assert_int_equal(vh_send(&next, VFM_VU_VERSION, (uint8_t[]){0, 0, 1, 0}, 4), 0);
	p = (struct pollfd){next.cfd, POLLIN, 0};
	assert_int_equal(poll(&p, 1, 30000), 1);
	close(h.cfd);
	close(next.cfd);
	serve_stop(&s);
}

static void test_bounded_dma_requests(void **state)
{
	const uint64_t tib = 1ull << 40;
	struct {
		struct vfm_vu_dma_logging_control c;
		struct vfm_device_feature_dma_logging_range r;
	} st = {{4096, 1, 0}, {0, tib}};
	uint64_t req[3] = {0, tib, 1ull << 40};
	uint8_t rep[256], body[8 + 24];
	struct vfm_vu_feature *f = (struct vfm_vu_feature *)body;
	struct serve s;
	struct vu_harness h;
	int fd = memfd_create("sparse", MFD_CLOEXEC);

	(void)state;
	serve_start(&s, "bound", "testdev,size=1M");
	client(&h, &s);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(1ull << 46)), 0);
	assert_int_equal(map_fd(&h, 0, 1ull << 46, fd), -ENOSPC);
	assert_int_equal(map_fd(&h, 0, tib, fd), 0);
	assert_int_equal(vh_feature(&h,
				    VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_START,
				    8 + sizeof(st), &st, sizeof(st), rep, sizeof(rep), NULL),
			 0);
	/* 48 bytes asking for one bit per TiB: one pass over the bitmap, answered. */
	assert_int_equal(vh_feature(&h,
				    VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				    8 + 24 + 8, req, sizeof(req), rep, sizeof(rep), NULL),
			 0);
	/* The same again, and SIGTERM while it is being answered. */
	f->argsz = 8 + 24 + 8;
	f->flags = VFM_DEVICE_FEATURE_GET | VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT;
	memcpy(f->data, req, sizeof(req));
	assert_int_equal(vh_send(&h, VFM_VU_DEVICE_FEATURE, body, sizeof(body)), 0);
	kill(s.pid, SIGTERM);
	assert_int_equal(serve_wait(&s, 10), 0);
	close(h.cfd);
	close(fd);
}

/* A test that failed half-way leaves no server behind. */
static int reap(void **state)
{
	(void)state;
	if (running > 0) {
		kill(running, SIGKILL);
		waitpid(running, NULL, 0);
	}
	running = -1;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_shrunk_memfd, reap),
		cmocka_unit_test_teardown(test_half_message, reap),
		cmocka_unit_test_teardown(test_unread_replies, reap),
		cmocka_unit_test_teardown(test_bounded_dma_requests, reap),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("vfio_user_hostile", tests, NULL, NULL);
}
