/* SPDX-License-Identifier: BSD-3-Clause */
/* --section: the devices' sections named (save, migrate) or checked (receive) on the way. */
#ifndef VFIO_MIG_SECTION_NAME_H
#define VFIO_MIG_SECTION_NAME_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "vfio-mig/stream.h"

/*
 * A thread between the engine (sv[1]) and the outside (ext: a file or a socket) that
 * decodes the stream and writes it again. Outgoing, the k-th device section (START idstr
 * other than vfio-mig's own) gets the name names[k] and instance 0, as QEMU names a
 * vfio-pci device; incoming, a k-th device section named otherwise ends the stream there
 * (the engine sees it cut and resets its devices). With `control` (ext is a socket between
 * migrate and receive) what follows the stream's EOF passes as it is, and a second thread
 * passes the control messages going the other way.
 */
struct renamer {
	int sv[2], ext;
	bool incoming, control;
	const char *const *names;
	size_t n;
	pthread_t thread, back;
	int rc;
	char err[VFM_STREAM_ERR_LEN];
};

/* 0 or a negative errno. The engine uses r->sv[1] as its channel. */
int renamer_start(struct renamer *r, int ext, bool incoming, bool control, const char *const *names,
		  size_t n);
/* Ends the engine's side, joins the threads: 0, or the stream's error (reason in r->err). */
int renamer_end(struct renamer *r);

#endif /* VFIO_MIG_SECTION_NAME_H */
