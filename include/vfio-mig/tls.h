/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TLS 1.3 on migration channels (OpenSSL), with the credentials QEMU's migration takes:
 *
 * x509:  a directory in QEMU's layout: ca-cert.pem (the CA both sides trust),
 *        server-cert.pem + server-key.pem (the destination's), client-cert.pem +
 *        client-key.pem (the source's). Both sides verify the peer: the source checks the
 *        destination's certificate against the CA and a host name (or IP address), the
 *        destination requires a client certificate from the CA and, with `authz`, one of
 *        the listed subject names (RFC 4514, most specific first: "CN=src,O=Example").
 * PSK:   a file in QEMU's keys.psk format, "identity:hexkey" per line. The source offers
 *        the key of its identity (psk_identity, by default "qemu" as QEMU's client); the
 *        destination looks up the identity the source sends in its own file. The key is
 *        mixed with an ephemeral (EC)DHE exchange (forward secrecy).
 *
 * A connection is refused before any migration byte moves when a check fails; both ends
 * say why in the channel's error text. A TLS destination refuses a plain source, and a
 * plain destination (vfm_tls_accept with no credentials) refuses a TLS source.
 *
 * Waits: while a channel carries TLS its socket is non-blocking (the flags are restored
 * by vfm_chan_close), and every wait, in the handshake or in the middle of a record, is a
 * poll of at most 100 ms that sees the channel's cancel flag (-ECANCELED) and ends after
 * the channel's timeout (-ETIMEDOUT), as on a plain channel.
 *
 * Threads: a struct vfm_tls may be shared by the connections of several threads once
 * made; a connection (its channel) belongs to one thread at a time.
 */
#ifndef VFIO_MIG_TLS_H
#define VFIO_MIG_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "stream.h"

/* Credentials: exactly one of x509_dir and psk_file. */
struct vfm_tls_opts {
	const char *x509_dir; /* QEMU's x509 layout (see above) */
	const char *psk_file; /* QEMU's keys.psk */
	/* Source: the name the destination's certificate must carry; NULL: the host of the
	 * channel URI. An IP address is matched against the certificate's IP addresses. */
	const char *hostname;
	/* Destination, x509: the subject names allowed to send; none: any the CA signed. */
	const char *const *authz;
	size_t nr_authz;
	/* Source, PSK: the identity whose key of psk_file is offered; NULL: "qemu", the
	 * default of QEMU's tls-creds-psk username. */
	const char *psk_identity;
};

/* Credentials loaded for one role, shared by that role's connections. */
struct vfm_tls;

/* Loads the credentials for the source (server = false) or the destination. 0 or a
 * negative errno with the reason (the file and what is wrong with it) in err. */
int vfm_tls_new(const struct vfm_tls_opts *opts, bool server, struct vfm_tls **out, char *err,
		size_t errlen);
void vfm_tls_free(struct vfm_tls *t);

/*
 * The source's end on a connected channel: the handshake, the checks of the destination
 * and its answer that it accepted this source, within timeout_ms (or the channel's
 * timeout when shorter; the channel's cancel flag ends it). host: the name to check
 * (NULL: opts->hostname, which must then be set). With `defer`, only prepares the channel:
 * the handshake runs at its first read or write (for side channels the destination
 * accepts only after the main channel announces them). 0 or a negative errno, the reason
 * in ch->err. Afterwards the channel's reads and writes are encrypted.
 */
int vfm_tls_connect(struct vfm_chan *ch, struct vfm_tls *t, const char *host, bool defer,
		    int timeout_ms);

/*
 * The destination's end on an accepted channel, within timeout_ms (or the channel's
 * timeout when shorter; the channel's cancel flag ends it: -ECANCELED). With t, the handshake
 * and the checks of the source (a plain source is refused: it gets a FAIL control
 * message saying that TLS is required); without t (a plain destination), refuses a
 * source that opens with a TLS hello (it gets a TLS protocol_version alert) and accepts
 * a plain one. Nothing is read beyond the handshake. 0 or a negative errno (-EPROTO for
 * a mismatch of plain and TLS, -EACCES for a peer that failed a check), reason in ch->err.
 */
int vfm_tls_accept(struct vfm_chan *ch, struct vfm_tls *t, int timeout_ms);

#endif /* VFIO_MIG_TLS_H */
