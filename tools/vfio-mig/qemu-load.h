/* SPDX-License-Identifier: BSD-3-Clause */
/* load from a whole QEMU stream (qemu-load.c). */
#ifndef VFIO_MIG_QEMU_LOAD_H
#define VFIO_MIG_QEMU_LOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "vfio-mig/qemu-stream.h"
#include "vfio-mig/stream.h"

/* Whether fd is a file holding a whole QEMU stream (a CONFIGURATION record first). */
bool qemu_stream_file(int fd);
/* The VFIO section to load into out: `section` (checked against the stream when fd is a
 * QEMU stream file), or with section NULL the file's only VFIO section. Prints the
 * stream's VFIO sections when there is no such section or several; returns an exit code
 * (0 = picked). Leaves fd at offset 0. */
int qemu_pick_section(int fd, const char *path, const char *section, char *out, size_t len);

/* The extracting thread: reads fd (a QEMU stream), writes the section as a vfio-mig
 * stream into sv[1]; sv[0] is the read end for the loader. */
struct qemu_feed {
	int fd, sv[2];
	const char *section;
	pthread_t thread;
	int rc;
	char err[VFM_QS_ERR_LEN];
};

/* 0 or a negative errno. */
int qemu_feed_start(struct qemu_feed *f, int fd, const char *section);
/* Stops reading, joins the thread; the thread's result (0, or an error in f->err). */
int qemu_feed_end(struct qemu_feed *f);

/* Whether the QEMU stream (not the loader) ended the run: malformed, or no such section. */
bool qemu_feed_failed(const struct qemu_feed *f);

#endif /* VFIO_MIG_QEMU_LOAD_H */
