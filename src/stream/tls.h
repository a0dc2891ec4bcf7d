/* SPDX-License-Identifier: BSD-3-Clause */
/* Internal to the channels (and the loader's peek): the encrypted path of a channel. */
#ifndef VFM_STREAM_TLS_H
#define VFM_STREAM_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vfio-mig/stream.h"

/*
 * The TLS path waits as the plain one does: the socket is non-blocking, and whenever
 * OpenSSL wants it readable or writable (a record part way, a full socket buffer) the
 * wait is a poll of at most 100 ms that sees ch->cancel (-ECANCELED), until the deadline.
 */

/* now + the channel's timeout (0: VFM_CHAN_TIMEOUT_MS); 0 when it has none. */
double vfm_chan_deadline(const struct vfm_chan *ch);
/* Waits until the fd is ready for `events`, in ticks that see the channel's cancel flag,
 * until deadline (0: none). 0, -ECANCELED, -ETIMEDOUT or poll's error; no text. */
int vfm_chan_wait(const struct vfm_chan *ch, short events, double deadline);
/* Bytes read (> 0), 0 at the end of the stream, or a negative errno (reason:
 * vfm_tls_reason). A deferred handshake runs first. deadline 0: each wait for the peer
 * may last the channel's timeout. */
ssize_t vfm_tls_read_some(struct vfm_chan *ch, void *buf, size_t len, double deadline);
/* Writes all of iov and pushes it to the socket, each wait for room bounded by the
 * channel's timeout. 0 or a negative errno. */
int vfm_tls_writev(struct vfm_chan *ch, const struct iovec *iov, int cnt);
/* Why the last read or write failed. */
const char *vfm_tls_reason(const struct vfm_chan *ch);
/* The next byte of the decrypted stream, without taking it and without waiting: 1 (in
 * *b), or 0 when none has arrived (a failure is left to the next read). */
int vfm_tls_peek(struct vfm_chan *ch, uint8_t *b);
/* The next byte of a socket channel's stream, plain or TLS, as vfm_tls_peek. */
int vfm_chan_peek(struct vfm_chan *ch, uint8_t *b);
/* Decrypted or received bytes not yet read: readable without polling the socket. */
bool vfm_tls_has_pending(const struct vfm_chan *ch);
/* Says close_notify (when the channel is healthy) and frees the TLS state. */
void vfm_tls_close(struct vfm_chan *ch);

#endif /* VFM_STREAM_TLS_H */
