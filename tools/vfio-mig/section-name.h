/* SPDX-License-Identifier: BSD-3-Clause */
/* save --section: the devices' sections renamed on their way into the output. */
#ifndef VFIO_MIG_SECTION_NAME_H
#define VFIO_MIG_SECTION_NAME_H

#include <pthread.h>
#include <stddef.h>

#include "vfio-mig/stream.h"

/* A thread between the engine and the output: it decodes the stream the engine writes
 * into sv[1] and writes it again into out, the k-th device section (START idstr other
 * than vfio-mig's own) named names[k] with instance 0, as QEMU names a vfio-pci device. */
struct renamer {
	int sv[2];
	struct vfm_chan *out;
	const char *const *names;
	size_t n;
	pthread_t thread;
	int rc;
	char err[VFM_STREAM_ERR_LEN];
};

/* 0 or a negative errno. The engine writes into r->sv[1]. */
int renamer_start(struct renamer *r, struct vfm_chan *out, const char *const *names, size_t n);
/* Ends the engine's side, joins the thread: 0, or its error (reason in r->err). */
int renamer_end(struct renamer *r);

#endif /* VFIO_MIG_SECTION_NAME_H */
