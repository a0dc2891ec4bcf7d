// SPDX-License-Identifier: BSD-3-Clause
/*
 * libFuzzer target for the stream decoder (src/stream/decode.c): the input is a migration
 * stream, fed through a memfd to vfm_dec_init / vfm_dec_next / vfm_dec_data until EOF or
 * the first error. Data blocks are read in pieces of varying size or skipped, so both the
 * reading and the skipping paths run. Crashes, sanitizer reports, reads past the input,
 * endless loops and errors without a byte offset are findings.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true && ninja -C build-fuzz
 *   build-fuzz/tests/fuzz/fuzz_stream -max_total_time=60 tests/fuzz/corpus-stream
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vfio-mig/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int stream_fd = -1;

static void report(const char *what, const struct vfm_dec *dec)
{
	fprintf(stderr, "fuzz_stream: %s (decoder error: '%s')\n", what, dec->err);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[8192];
	struct vfm_chan ch;
	struct vfm_dec dec;
	struct vfm_ev ev;
	uint64_t events = 0, data_read = 0;
	unsigned piece = 1;
	int rc;

	if (stream_fd < 0) {
		stream_fd = memfd_create("fuzz-stream", 0);
		if (stream_fd < 0)
			abort();
	}
	if (ftruncate(stream_fd, 0) ||
	    (size && pwrite(stream_fd, data, size, 0) != (ssize_t)size) ||
	    lseek(stream_fd, 0, SEEK_SET) != 0)
		abort();
	vfm_chan_init(&ch, stream_fd, "fuzz");
	/* a small block limit so absurd sizes are common, and the default one */
	rc = vfm_dec_init(&dec, &ch, size & 1 ? 4096 : 0);
	while (!rc) {
		rc = vfm_dec_next(&dec, &ev);
		if (rc)
			break;
		if (++events > size + 1)
			report("more elements than input bytes", &dec);
		if (ev.offset > size)
			report("an element beyond the end of the input", &dec);
		if (ev.type == VFM_EV_EOF)
			break;
		if (ev.type != VFM_EV_DATA)
			continue;
		if (ev.size > (size & 1 ? 4096u : VFM_STREAM_MAX_BLOCK))
			report("a block above the limit was accepted", &dec);
		/* read every other block, in pieces of 1, 2, 3, ... bytes; skip the rest */
		if (events % 2) {
			uint64_t got = 0;
			ssize_t n;

			while ((n = vfm_dec_data(&dec, buf, piece)) > 0) {
				got += (uint64_t)n;
				if (got > ev.size)
					report("more block bytes than announced", &dec);
			}
			if (n < 0) {
				rc = (int)n;
				break;
			}
			if (got != ev.size)
				report("fewer block bytes than announced without an error", &dec);
			data_read += got;
			piece = piece % sizeof(buf) + 1 + piece / 2;
			if (piece > sizeof(buf))
				piece = 1;
		}
	}
	if (ch.pos > size)
		report("read past the end of the input", &dec);
	if (rc) {
		if (rc != -EBADMSG && rc != -EPIPE)
			report("an error other than EBADMSG or EPIPE", &dec);
		if (!strstr(dec.err, "offset "))
			report("an error without a byte offset", &dec);
	}
	(void)data_read;
	return 0;
}
