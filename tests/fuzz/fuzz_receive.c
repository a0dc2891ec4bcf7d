// SPDX-License-Identifier: BSD-3-Clause
/*
 * libFuzzer target for both ends of a live migration over a socket: the stream path of
 * vfm_receive and the control protocol (ACK, READY, COMMIT, ABORT, DONE, FAIL) as either
 * side reads it. The first input byte picks the side and the devices:
 *
 *   bit 0 clear: the input is what a source sends; vfm_receive loads it into sample
 *                devices (bit 1: two devices, bit 2: with DMA memory).
 *   bit 0 set:   the input is what a destination answers; vfm_send migrates sample
 *                devices (bits 1, 2 as above; bit 3: through pre-copy) and reads it.
 *
 * The rest goes into one end of a UNIX socket pair, whose writing side is then shut, so
 * that every read ends at once. Findings: crashes, sanitizer reports, a hang, a failure
 * without an error text or with a positive code, and -- the promise of the engine -- a
 * source that is not RUNNING with its checksum unchanged after a failed send.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true && ninja -C build-fuzz
 *   build-fuzz/tests/fuzz/fuzz_receive -max_total_time=60 tests/fuzz/corpus-receive
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vfio-mig/engine.h"
#include "vfio-mig/fsm.h"
#include "vfio-mig/handle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (128u << 10)

static void finding(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_receive: %s (error: '%s')\n", what, err);
	abort();
}

static size_t open_devices(uint8_t mode, uint32_t seed, struct vfm_handle **devs)
{
	size_t n = mode & 2 ? 2 : 1;
	char spec[96], err[256];

	for (size_t i = 0; i < n; i++) {
		snprintf(spec, sizeof(spec), "testdev,size=4K,seed=%u%s", seed + (uint32_t)i,
			 mode & 4 ? ",dma=64K" : "");
		if (vfm_local_open(spec, NULL, &devs[i], err, sizeof(err)))
			finding("cannot open a sample device", err);
	}
	return n;
}

static void check_result(int rc, const char *err)
{
	if (rc > 0)
		finding("a positive return code", err);
	if (rc && !err[0])
		finding("a failure without an error text", err);
}

static void receive_side(uint8_t mode, int fd)
{
	struct vfm_handle *devs[2];
	struct vfm_mig_opts opts = {.timeout_ms = 50};
	struct vfm_mig_stats st;
	struct vfm_chan ch;
	char err[512];
	size_t n = open_devices(mode, 99, devs);
	int rc;

	vfm_chan_init(&ch, fd, "fuzz-source");
	rc = vfm_receive(devs, n, &ch, &opts, &st, err, sizeof(err));
	check_result(rc, err);
	for (size_t i = 0; i < n; i++)
		vfm_handle_close(devs[i]);
}

static void send_side(uint8_t mode, int fd)
{
	struct vfm_handle *devs[2];
	struct vfm_mig_opts opts = {
		.timeout_ms = 50, .precopy = mode & 8, .max_precopy_ms = 1, .allow_overrun = true};
	struct vfm_mig_stats st;
	uint64_t before[2], after;
	struct vfm_chan ch;
	uint32_t state;
	char err[512];
	size_t n = open_devices(mode, 5, devs);
	int rc;

	for (size_t i = 0; i < n; i++)
		vfm_handle_checksum(devs[i], &before[i]);
	vfm_chan_init(&ch, fd, "fuzz-destination");
	rc = vfm_send(devs, n, &ch, &opts, &st, err, sizeof(err));
	check_result(rc, err);
	for (size_t i = 0; rc && i < n; i++) {
		if (vfm_handle_get_state(devs[i], &state) || state != VFM_STATE_RUNNING)
			finding("a failed send left a source not RUNNING", err);
		if (vfm_handle_checksum(devs[i], &after) || after != before[i])
			finding("a failed send changed a source's state", err);
	}
	for (size_t i = 0; i < n; i++)
		vfm_handle_close(devs[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2], buf = 4 << 20;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	}
	if (size > 1 && write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	shutdown(sv[1], SHUT_WR);
	if (data[0] & 1)
		send_side(data[0], sv[0]);
	else
		receive_side(data[0], sv[0]);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
