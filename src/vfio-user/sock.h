/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user socket I/O shared by the server and the client: whole-buffer reads and
 * writes with SCM_RIGHTS, a cancellation flag, and the listening socket that exists
 * before its path appears. Internal, not installed.
 */
#ifndef VFM_VU_SOCK_H
#define VFM_VU_SOCK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vfio-mig/vfio-user-proto.h"

/* A VERSION body with room for the JSON (wire layout of struct vfm_vu_version). */
struct vu_version_buf {
	uint16_t major;
	uint16_t minor;
	char json[VFM_VU_MAX_JSON];
} VFM_VU_PACKED;
#define VU_VERSION_FIXED sizeof(struct vfm_vu_version)

struct vu_sock {
	int fd;
	/* Checked whenever a blocking call times out (the socket then has a receive and
	 * send timeout of VU_POLL_MS); NULL blocks for ever. */
	volatile sig_atomic_t *stop;
	/* A call that sees no byte move for idle_ms fails with -ETIMEDOUT (the server's sends
	 * to a client that stopped reading, the client's every call); with stop_when_idle
	 * (the client), *stop cancels only a call that has seen no byte move for VU_POLL_MS
	 * (a peer that answers finishes its message, so the connection stays usable to
	 * recover the device). */
	int idle_ms;
	bool stop_when_idle;
};

#define VU_POLL_MS 200

/* File descriptors that came with a message. */
struct vu_fds {
	int fd[VFM_VU_HARD_MAX_FDS];
	size_t n;
	size_t max;    /* accept at most this many; the rest are closed */
	bool overflow; /* more arrived than max (or the control data was cut) */
};

void vu_fds_init(struct vu_fds *f, size_t max);
void vu_fds_close(struct vu_fds *f);
/* Takes fd i out of the set (the caller owns it now); -1 if absent. */
int vu_fds_take(struct vu_fds *f, size_t i);

/* Sets the receive and send timeouts used for cancellation. */
int vu_sock_set_timeouts(int fd, int ms);
/* Enlarges the kernel buffers (best effort). */
void vu_sock_set_buffers(int fd, int bytes);

/*
 * Reads exactly len bytes. fds may be NULL (any descriptors received are closed).
 * Returns 0; -ENODATA for a clean end of stream before the first byte; -EPIPE for an
 * end part way; -ECANCELED when *stop was set; -ETIMEDOUT after idle_ms without a byte;
 * or another negative errno.
 */
int vu_recv(struct vu_sock *s, void *buf, size_t len, struct vu_fds *fds);

/* Writes every byte of the vector (fds, if any, travel with the first byte). The vector
 * is consumed. 0 or a negative errno (-EPIPE when the peer is gone, -ECANCELED,
 * -ETIMEDOUT). */
int vu_send(struct vu_sock *s, struct iovec *iov, int iovcnt, const int *fds, size_t nfds);

/* Reads and drops len bytes (a message body we do not want). */
int vu_discard(struct vu_sock *s, size_t len);

/*
 * Creates a listening UNIX socket at path: bind and listen on a temporary name in the
 * same directory, mode 0600, then rename() into place, so the path never names a socket
 * that refuses connections. An existing live socket at path is EADDRINUSE; anything
 * other than a socket there is EEXIST. On success *fd listens (non-blocking, cloexec)
 * and *dev / *ino identify the file for a later safe unlink.
 */
int vu_listen(const char *path, int *fd, dev_t *dev, ino_t *ino, char *err, size_t errlen);

/* Removes path only if it is still the socket we created. */
void vu_unlink_if_ours(const char *path, dev_t dev, ino_t ino);

/* Connects to a UNIX socket path (blocking, cloexec). 0 or negative errno. */
int vu_connect(const char *path, int *fd, char *err, size_t errlen);

#endif /* VFM_VU_SOCK_H */
