// SPDX-License-Identifier: BSD-3-Clause
/*
 * libFuzzer target for the QEMU stream reader (src/stream/qemu*.c): the input is a whole
 * QEMU migration stream, read from a memfd (a file: the vmdesc trailer is read first) or,
 * for every fourth input up to a pipe's capacity, from a pipe (footer scans, the trailer
 * checked last), with vfm_qs_next / vfm_qs_data until the end or the first error; then
 * vfm_qs_extract copies its VFIO section "0000:00:04.0/vfio" into a vfio-mig stream.
 * Crashes, sanitizer reports, reads past the input, more elements than input bytes,
 * block bytes other than announced and errors without a byte offset are findings.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true && ninja -C build-fuzz
 *   build-fuzz/tests/fuzz/fuzz_qemu_stream -max_total_time=60 tests/fuzz/corpus-qemu_stream
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vfio-mig/qemu-stream.h"
#include "vfio-mig/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int mem_fd = -1, out_fd = -1;

static void report(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_qemu_stream: %s (reader error: '%s')\n", what, err);
	abort();
}

static void check_error(int rc, const char *err)
{
	if (rc == -ENODATA)
		return;
	if (rc != -EBADMSG && rc != -EPIPE)
		report("an error other than EBADMSG or EPIPE", err);
	if (!strstr(err, "offset "))
		report("an error without a byte offset", err);
}

static int input_fd(const uint8_t *data, size_t size, bool pipe_it)
{
	int p[2];

	if (pipe_it) {
		if (pipe(p))
			abort();
		if (size && write(p[1], data, size) != (ssize_t)size)
			abort();
		close(p[1]);
		return p[0];
	}
	if (ftruncate(mem_fd, 0) || (size && pwrite(mem_fd, data, size, 0) != (ssize_t)size) ||
	    lseek(mem_fd, 0, SEEK_SET) != 0)
		abort();
	return mem_fd;
}

static void walk(const uint8_t *data, size_t size, bool pipe_it)
{
	static uint8_t buf[4096];
	int fd = input_fd(data, size, pipe_it), rc;
	struct vfm_qs_reader *rd;
	char err[VFM_QS_ERR_LEN];
	struct vfm_qs_ev ev;
	uint64_t events = 0;
	size_t piece = 1;

	rc = vfm_qs_open(&rd, fd, err, sizeof(err));
	if (rc) {
		check_error(rc, err);
		goto out;
	}
	while ((rc = vfm_qs_next(rd, &ev)) == 0) {
		if (++events > size + 1)
			report("more elements than input bytes", vfm_qs_error(rd));
		if (ev.offset > size || vfm_qs_offset(rd) > size)
			report("an element beyond the end of the input", vfm_qs_error(rd));
		if (ev.type == VFM_QS_EV_DATA && events % 2) {
			uint64_t got = 0;
			ssize_t n;

			while ((n = vfm_qs_data(rd, buf, piece)) > 0)
				got += (uint64_t)n;
			if (n < 0) {
				rc = (int)n;
				break;
			}
			if (got != ev.size)
				report("block bytes other than announced", vfm_qs_error(rd));
			piece = piece % sizeof(buf) + 1 + piece / 2;
		}
	}
	check_error(rc, vfm_qs_error(rd));
	vfm_qs_close(rd);
out:
	if (pipe_it)
		close(fd);
}

static void extract(const uint8_t *data, size_t size)
{
	int fd = input_fd(data, size, false), rc;
	struct vfm_qs_reader *rd;
	char err[VFM_QS_ERR_LEN];
	struct vfm_chan out;

	if (vfm_qs_open(&rd, fd, err, sizeof(err)))
		return;
	if (ftruncate(out_fd, 0) || lseek(out_fd, 0, SEEK_SET) != 0)
		abort();
	vfm_chan_init(&out, out_fd, "extract");
	rc = vfm_qs_extract(rd, "0000:00:04.0/vfio", 0, &out, err, sizeof(err));
	if (rc && rc != -ENOENT && !strstr(err, "offset "))
		report("an extract error without a byte offset", err);
	vfm_qs_close(rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (mem_fd < 0) {
		mem_fd = memfd_create("fuzz-qemu-stream", 0);
		out_fd = memfd_create("fuzz-qemu-out", 0);
		if (mem_fd < 0 || out_fd < 0)
			abort();
	}
	walk(data, size, size % 4 == 3 && size <= 65536);
	extract(data, size);
	return 0;
}
