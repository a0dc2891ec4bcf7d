// SPDX-License-Identifier: BSD-3-Clause
/*
 * TLS 1.3 on migration channels with OpenSSL (see vfio-mig/tls.h).
 *
 * After the handshake the destination sends its verdict on the source, encrypted:
 * "VMT1", be16 n, n bytes of reason (n = 0: accepted). In TLS 1.3 the client's handshake
 * ends before the server has checked the client's certificate, so without the verdict a
 * refused source would only learn of it after it started sending.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream/tls.h"
#include "util.h"
#include "vfio-mig/tls.h"

#define CIPHERS	  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define WRITE_BUF (256u << 10) /* records gathered into one write(2) */
/* Read ahead: several records per read(2). Not more: before each record OpenSSL moves the
 * unread rest of this buffer to its front (to align the payload), so a larger buffer
 * costs more per record (256 KiB took 0.2-0.35 s more CPU per GB than 64 KiB in bench/). */
#define READ_BUF	   (64u << 10)
#define VERDICT_MAGIC	   "VMT1"
#define VERDICT_MAX	   512
#define PSK_MAX_ID	   128
#define PSK_MAX_KEY	   256
#define PSK_MAX_KEYS	   64
#define PSK_LINE	   1024
#define DRAIN_MS	   5000
#define LINGER_MS	   1000
#define PSK_DEFAULT_ID	   "qemu" /* QEMU's tls-creds-psk username when none is set */
#define RECORD_HANDSHAKE   0x16
#define ALERT_PROTOCOL_VER 70

struct psk_key {
	char id[PSK_MAX_ID + 1];
	uint8_t key[PSK_MAX_KEY];
	size_t len;
};

struct vfm_tls {
	SSL_CTX *ctx;
	bool server;
	bool psk;
	char dir[256];
	char hostname[256];
	char **authz;
	size_t nr_authz;
	struct psk_key *keys;
	size_t nr_keys;
	size_t key; /* the source's: the key of its identity */
};

struct vfm_tls_conn {
	SSL *ssl;
	BIO *wbio; /* the write buffer in front of the socket */
	struct vfm_tls *t;
	bool pending; /* the handshake runs at the first read or write */
	bool failed;
	int timeout_ms; /* the handshake's bound (the channel's timeout when shorter) */
	int fl;		/* the socket's file status flags before it was made non-blocking */
	char host[256];
	char psk_id[PSK_MAX_ID + 1];
	int alert;     /* fatal alert the peer sent, or -1 */
	char why[256]; /* what this side's checks of the peer refused */
	char reason[VFM_STREAM_ERR_LEN];
};

/* ---- credentials ----------------------------------------------------------------- */

static int ossl_fail(char *err, size_t errlen, int rc, const char *what)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return vfm_errf(err, errlen, rc, "%s: %s", what, r ? r : "failed");
}

static int readable(const char *path, char *err, size_t errlen)
{
	if (access(path, R_OK))
		return vfm_errf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	return 0;
}

static int load_x509(struct vfm_tls *t, const char *dir, char *err, size_t errlen)
{
	const char *role = t->server ? "server" : "client";
	char ca[300], cert[300], key[300], what[400];
	int rc;

	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", dir);
	snprintf(cert, sizeof(cert), "%s/%s-cert.pem", dir, role);
	snprintf(key, sizeof(key), "%s/%s-key.pem", dir, role);
	if ((rc = readable(ca, err, errlen)) || (rc = readable(cert, err, errlen)) ||
	    (rc = readable(key, err, errlen)))
		return rc;
	snprintf(what, sizeof(what), "%s: not a CA certificate in PEM", ca);
	if (SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1)
		return ossl_fail(err, errlen, -EINVAL, what);
	snprintf(what, sizeof(what), "%s: not a certificate in PEM", cert);
	if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1)
		return ossl_fail(err, errlen, -EINVAL, what);
	snprintf(what, sizeof(what), "%s: not a private key in PEM", key);
	if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1)
		return ossl_fail(err, errlen, -EINVAL, what);
	snprintf(what, sizeof(what), "%.190s is not the key of %.190s", key, cert);
	if (SSL_CTX_check_private_key(t->ctx) != 1)
		return ossl_fail(err, errlen, -EINVAL, what);
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	return 0;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "identity:hexkey" into k. */
static int parse_psk_line(char *line, struct psk_key *k)
{
	char *colon = strchr(line, ':'), *hex;
	size_t idlen, hexlen;

	if (!colon)
		return -EINVAL;
	idlen = (size_t)(colon - line);
	hex = colon + 1;
	hexlen = strlen(hex);
	if (!idlen || idlen > PSK_MAX_ID || !hexlen || hexlen % 2 || hexlen / 2 > PSK_MAX_KEY)
		return -EINVAL;
	for (size_t i = 0; i < hexlen / 2; i++) {
		int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		k->key[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(k->id, line, idlen);
	k->id[idlen] = '\0';
	k->len = hexlen / 2;
	return 0;
}

static int load_psk(struct vfm_tls *t, const char *path, char *err, size_t errlen)
{
	char line[PSK_LINE + 2];
	FILE *f = fopen(path, "re");
	int lineno = 0, rc = 0;

	if (!f)
		return vfm_errf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	t->keys = calloc(PSK_MAX_KEYS, sizeof(*t->keys));
	if (!t->keys)
		rc = vfm_errf(err, errlen, -ENOMEM, "out of memory");
	while (!rc && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		lineno++;
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (n > PSK_LINE)
			rc = vfm_errf(err, errlen, -EINVAL, "%s:%d: line too long", path, lineno);
		if (rc || !n)
			continue;
		if (t->nr_keys == PSK_MAX_KEYS)
			rc = vfm_errf(err, errlen, -EINVAL, "%s: more than %d keys", path,
				      PSK_MAX_KEYS);
		else if (parse_psk_line(line, &t->keys[t->nr_keys]))
			rc = vfm_errf(err, errlen, -EINVAL,
				      "%s:%d: expected identity:hexkey (at most %d bytes of key)",
				      path, lineno, PSK_MAX_KEY);
		else
			t->nr_keys++;
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	if (!rc && !t->nr_keys)
		rc = vfm_errf(err, errlen, -EINVAL, "%s: no identity:hexkey line", path);
	return rc;
}

static SSL_SESSION *psk_session(SSL *ssl, const struct psk_key *k)
{
	static const unsigned char aes128gcm[2] = {0x13, 0x01};
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm);
	SSL_SESSION *s = SSL_SESSION_new();

	if (!s || !cipher || !SSL_SESSION_set1_master_key(s, k->key, k->len) ||
	    !SSL_SESSION_set_cipher(s, cipher) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

/* The source picks the key of its identity, as QEMU's client does (default "qemu"). */
static int psk_pick(struct vfm_tls *t, const struct vfm_tls_opts *o, char *err, size_t errlen)
{
	const char *id = o->psk_identity ? o->psk_identity : PSK_DEFAULT_ID;

	for (t->key = 0; t->key < t->nr_keys; t->key++) {
		if (!strcmp(t->keys[t->key].id, id))
			return 0;
	}
	return vfm_errf(err, errlen, -ENOENT, "%s: no key for the identity '%s'%s", o->psk_file, id,
			o->psk_identity ? "" : " (the default identity, as QEMU's)");
}

/* The source offers the key of its identity. */
static int psk_use(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
		   SSL_SESSION **sess)
{
	struct vfm_tls_conn *c = SSL_get_app_data(ssl);
	const struct psk_key *k = &c->t->keys[c->t->key];

	*sess = NULL;
	if (md && EVP_MD_get_type(md) != NID_sha256)
		return 1;
	*sess = psk_session(ssl, k);
	if (!*sess)
		return 0;
	*id = (const unsigned char *)k->id;
	*idlen = strlen(k->id);
	snprintf(c->psk_id, sizeof(c->psk_id), "%s", k->id);
	return 1;
}

/* Printable characters of what a peer sent, for error text. */
static void printable(char *out, size_t outlen, const unsigned char *in, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < n && j + 1 < outlen; i++)
		out[j++] = in[i] >= 0x20 && in[i] < 0x7f ? (char)in[i] : '?';
	out[j] = '\0';
}

static int psk_find(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	struct vfm_tls_conn *c = SSL_get_app_data(ssl);

	*sess = NULL;
	printable(c->psk_id, sizeof(c->psk_id), id, idlen);
	for (size_t i = 0; i < c->t->nr_keys; i++) {
		const struct psk_key *k = &c->t->keys[i];

		if (strlen(k->id) == idlen && !memcmp(k->id, id, idlen)) {
			*sess = psk_session(ssl, k);
			return *sess != NULL;
		}
	}
	snprintf(c->why, sizeof(c->why), "its pre-shared key identity '%s' is not in the key file",
		 c->psk_id);
	return 1;
}

static const char *verify_text(struct vfm_tls_conn *c, int e, char *buf, size_t len)
{
	switch (e) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		snprintf(buf, len, "its certificate is not for '%.180s'", c->host);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		snprintf(buf, len, "its certificate is not signed by %.180s/ca-cert.pem",
			 c->t->dir);
		break;
	default:
		snprintf(buf, len, "its certificate: %s", X509_verify_cert_error_string(e));
	}
	return buf;
}

static int verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct vfm_tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;

	if (!ok && c && !c->why[0])
		verify_text(c, X509_STORE_CTX_get_error(x), c->why, sizeof(c->why));
	return ok;
}

/* The peer's fatal alerts, to say why it refused. */
static void info_cb(const SSL *ssl, int where, int ret)
{
	struct vfm_tls_conn *c = SSL_get_app_data(ssl);

	if ((where & SSL_CB_ALERT) && (where & SSL_CB_READ) && (ret >> 8) == SSL3_AL_FATAL && c)
		c->alert = ret & 0xff;
}

static int ctx_new(struct vfm_tls *t, char *err, size_t errlen)
{
	t->ctx = SSL_CTX_new(TLS_method());
	if (!t->ctx)
		return ossl_fail(err, errlen, -ENOMEM, "TLS");
	if (SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(t->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(t->ctx, CIPHERS) != 1)
		return ossl_fail(err, errlen, -EINVAL, "TLS 1.3");
	/* The stream's own framing finds a cut; a missing close_notify is a plain end. */
	SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_read_ahead(t->ctx, 1);
	SSL_CTX_set_default_read_buffer_len(t->ctx, READ_BUF);
	SSL_CTX_set_info_callback(t->ctx, info_cb);
	if (t->server)
		SSL_CTX_set_num_tickets(t->ctx, 0);
	return 0;
}

static int copy_authz(struct vfm_tls *t, const struct vfm_tls_opts *o, char *err, size_t errlen)
{
	if (!o->nr_authz)
		return 0;
	t->authz = calloc(o->nr_authz, sizeof(*t->authz));
	if (!t->authz)
		return vfm_errf(err, errlen, -ENOMEM, "out of memory");
	for (; t->nr_authz < o->nr_authz; t->nr_authz++) {
		t->authz[t->nr_authz] = strdup(o->authz[t->nr_authz]);
		if (!t->authz[t->nr_authz])
			return vfm_errf(err, errlen, -ENOMEM, "out of memory");
	}
	return 0;
}

static int check_opts(const struct vfm_tls_opts *o, bool server, char *err, size_t errlen)
{
	if (!o || !o->x509_dir == !o->psk_file)
		return vfm_errf(err, errlen, -EINVAL,
				"TLS: give either an x509 directory or a pre-shared key file");
	if (o->nr_authz && (!server || !o->x509_dir))
		return vfm_errf(err, errlen, -EINVAL,
				"TLS: allowed names apply to a destination with x509 credentials");
	if (o->hostname && (server || !o->x509_dir || strlen(o->hostname) >= 256))
		return vfm_errf(err, errlen, -EINVAL,
				"TLS: a host name applies to a source with x509 credentials");
	if (o->psk_identity &&
	    (server || !o->psk_file || !*o->psk_identity || strlen(o->psk_identity) > PSK_MAX_ID))
		return vfm_errf(err, errlen, -EINVAL,
				"TLS: a pre-shared key identity (1..%d bytes) applies to a source "
				"with a key file",
				PSK_MAX_ID);
	if (o->x509_dir && strlen(o->x509_dir) >= 256)
		return vfm_errf(err, errlen, -ENAMETOOLONG, "TLS: directory name too long");
	return 0;
}

int vfm_tls_new(const struct vfm_tls_opts *opts, bool server, struct vfm_tls **out, char *err,
		size_t errlen)
{
	struct vfm_tls *t;
	int rc = check_opts(opts, server, err, errlen);

	*out = NULL;
	if (rc)
		return rc;
	t = calloc(1, sizeof(*t));
	if (!t)
		return vfm_errf(err, errlen, -ENOMEM, "out of memory");
	t->server = server;
	t->psk = opts->psk_file != NULL;
	if (opts->hostname)
		snprintf(t->hostname, sizeof(t->hostname), "%s", opts->hostname);
	rc = ctx_new(t, err, errlen);
	if (!rc)
		rc = copy_authz(t, opts, err, errlen);
	if (!rc && t->psk) {
		rc = load_psk(t, opts->psk_file, err, errlen);
		if (!rc && !server)
			rc = psk_pick(t, opts, err, errlen);
		if (server)
			SSL_CTX_set_psk_find_session_callback(t->ctx, psk_find);
		else
			SSL_CTX_set_psk_use_session_callback(t->ctx, psk_use);
	} else if (!rc) {
		rc = load_x509(t, opts->x509_dir, err, errlen);
		SSL_CTX_set_verify(t->ctx,
				   SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
				   verify_cb);
	}
	if (rc) {
		vfm_tls_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void vfm_tls_free(struct vfm_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	for (size_t i = 0; i < t->nr_authz; i++)
		free(t->authz[i]);
	free(t->authz);
	if (t->keys)
		OPENSSL_cleanse(t->keys, PSK_MAX_KEYS * sizeof(*t->keys));
	free(t->keys);
	free(t);
}

/* ---- connections ------------------------------------------------------------------ */

/* Reads and drops what the peer sends until it closes (or ms pass, or a cancel), so that
 * closing sends no reset over the refusal. */
static void drain(const struct vfm_chan *ch, int ms)
{
	double end = vfm_now() + ms / 1000.0;
	static char sink[65536];

	while (!vfm_chan_wait(ch, POLLIN, end)) {
		ssize_t n = recv(ch->fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;
	}
}

/* After a refusal: the peer reads the alert or verdict before the connection closes. */
static void linger_close(const struct vfm_chan *ch)
{
	shutdown(ch->fd, SHUT_WR);
	drain(ch, LINGER_MS);
}

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		port = ntohs(s4->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		port = ntohs(s6->sin6_port);
	}
	snprintf(buf, len, port ? "%s port %d" : "%s", a, port);
}

static struct vfm_tls_conn *conn_new(struct vfm_chan *ch, struct vfm_tls *t)
{
	struct vfm_tls_conn *c = calloc(1, sizeof(*c));
	BIO *rbio = NULL, *sock = NULL, *buf = NULL;

	if (!c)
		return NULL;
	c->t = t;
	c->alert = -1;
	c->ssl = SSL_new(t->ctx);
	rbio = BIO_new_socket(ch->fd, BIO_NOCLOSE);
	sock = BIO_new_socket(ch->fd, BIO_NOCLOSE);
	buf = BIO_new(BIO_f_buffer());
	if (!c->ssl || !rbio || !sock || !buf || BIO_set_write_buffer_size(buf, WRITE_BUF) != 1) {
		BIO_free(rbio);
		BIO_free(sock);
		BIO_free(buf);
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	c->wbio = BIO_push(buf, sock);
	SSL_set_bio(c->ssl, rbio, c->wbio);
	SSL_set_app_data(c->ssl, c);
	return c;
}

static void conn_free(struct vfm_tls_conn *c)
{
	if (!c)
		return;
	SSL_free(c->ssl);
	free(c);
}

/* The channel's socket goes non-blocking while it carries TLS: OpenSSL's reads and
 * writes then never block, and every wait is vfm_chan_wait's. */
static int conn_attach(struct vfm_chan *ch, struct vfm_tls_conn *c)
{
	c->fl = fcntl(ch->fd, F_GETFL);
	if (c->fl < 0 || fcntl(ch->fd, F_SETFL, c->fl | O_NONBLOCK))
		return -errno;
	ch->tls = c;
	return 0;
}

static const char *peer_of(const struct vfm_tls_conn *c)
{
	return c->t->server ? "the source" : "the destination";
}

static const char *alert_hint(const struct vfm_tls_conn *c)
{
	switch (c->alert) {
	case SSL_AD_UNKNOWN_CA:
		return c->t->server ? "its CA did not sign this destination's certificate"
				    : "its CA did not sign this source's certificate";
	case SSL_AD_CERTIFICATE_EXPIRED:
		return c->t->server ? "this destination's certificate has expired"
				    : "this source's certificate has expired";
	case SSL_AD_DECRYPT_ERROR:
	case SSL_AD_ILLEGAL_PARAMETER:
		return c->t->psk ? "the pre-shared keys differ" : "the handshake did not verify";
	case SSL_AD_CERTIFICATE_REQUIRED:
		return "it requires a certificate";
	case SSL_AD_BAD_CERTIFICATE:
		return "it rejects this side's certificate: its name or its CA";
	default:
		return c->t->psk ? "no common pre-shared key" : "credentials not accepted";
	}
}

/*
 * Why the handshake (or a read or write) failed: this side's checks, the peer's alert,
 * the connection, or the library. The peer is "the destination" or "the source".
 */
static int conn_error(struct vfm_tls_conn *c, int ret, const char *peer)
{
	int saved = errno, e = SSL_get_error(c->ssl, ret), rc;
	unsigned long oe = ERR_peek_error();

	c->failed = true;
	if (c->why[0]) {
		rc = -EACCES;
		snprintf(c->reason, sizeof(c->reason), "refused %s: %.200s", peer, c->why);
	} else if (c->alert == ALERT_PROTOCOL_VER && !c->t->server) {
		rc = -EPROTO;
		snprintf(c->reason, sizeof(c->reason),
			 "the destination does not accept TLS: it expects a plain migration");
	} else if (c->alert == SSL_AD_HANDSHAKE_FAILURE && c->t->psk && !c->t->server) {
		/* The destination found no key for the identity (and has no certificate). */
		rc = -EACCES;
		snprintf(c->reason, sizeof(c->reason),
			 "the destination refused this source (TLS alert 'handshake failure'): it "
			 "has no key for the identity '%s'",
			 c->psk_id);
	} else if (c->alert >= 0) {
		rc = -EACCES;
		snprintf(c->reason, sizeof(c->reason), "%s refused this %s (TLS alert '%s': %s)",
			 peer, c->t->server ? "destination" : "source",
			 SSL_alert_desc_string_long(c->alert), alert_hint(c));
	} else if (ERR_GET_REASON(oe) == SSL_R_BINDER_DOES_NOT_VERIFY) {
		rc = -EACCES;
		snprintf(c->reason, sizeof(c->reason),
			 "refused %s: its pre-shared key for '%s' differs from this side's", peer,
			 c->psk_id);
	} else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !oe && !saved)) {
		rc = -ECONNRESET;
		snprintf(c->reason, sizeof(c->reason), "%s closed the connection", peer);
	} else if (e == SSL_ERROR_SYSCALL && !oe) {
		rc = -saved;
		snprintf(c->reason, sizeof(c->reason), "%s", strerror(saved));
	} else {
		rc = -EPROTO;
		snprintf(c->reason, sizeof(c->reason), "TLS: %s",
			 oe ? ERR_reason_error_string(oe) : "failed");
	}
	ERR_clear_error();
	return rc;
}

/* A wait of the connection failed: why, in c->reason. */
static int wait_failed(struct vfm_tls_conn *c, int rc, bool handshake, double waited)
{
	c->failed = true;
	if (rc == -ECANCELED)
		snprintf(c->reason, sizeof(c->reason), "cancelled");
	else if (rc == -ETIMEDOUT && handshake)
		snprintf(c->reason, sizeof(c->reason),
			 "%s did not finish the TLS handshake in %.1f s", peer_of(c),
			 c->timeout_ms / 1e3);
	else if (rc == -ETIMEDOUT)
		snprintf(c->reason, sizeof(c->reason), "%s moved nothing for %.1f s", peer_of(c),
			 waited);
	else
		snprintf(c->reason, sizeof(c->reason), "poll: %s", strerror(-rc));
	return rc;
}

/*
 * OpenSSL's call returned ret: when it wants the socket readable or writable, waits for
 * that until deadline (0: the channel's timeout, counted from now); any other failure
 * fails the connection. 0 (call again) or a negative errno, the reason in c->reason.
 */
static int conn_wait(struct vfm_chan *ch, struct vfm_tls_conn *c, int ret, double deadline,
		     bool handshake)
{
	int saved = errno, e = SSL_get_error(c->ssl, ret), rc;
	double t0 = vfm_now();

	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
		errno = saved;
		return conn_error(c, ret, peer_of(c));
	}
	rc = vfm_chan_wait(ch, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
			   deadline ? deadline : vfm_chan_deadline(ch));
	return rc ? wait_failed(c, rc, handshake, vfm_now() - t0) : 0;
}

static int full_read(struct vfm_chan *ch, struct vfm_tls_conn *c, void *buf, size_t len,
		     double deadline)
{
	size_t got = 0, n;
	int rc = 0;

	while (!rc && got < len) {
		int ret;

		errno = 0;
		ret = SSL_read_ex(c->ssl, (char *)buf + got, len - got, &n);
		if (ret == 1)
			got += n;
		else
			rc = conn_wait(ch, c, ret, deadline, true);
	}
	return rc;
}

/* The destination's verdict on this source. */
static int read_verdict(struct vfm_chan *ch, struct vfm_tls_conn *c, double deadline)
{
	uint8_t h[6];
	char text[VERDICT_MAX + 1], clean[VERDICT_MAX + 1];
	size_t n;
	int rc = full_read(ch, c, h, sizeof(h), deadline);

	if (rc)
		return rc;
	n = (size_t)(h[4] << 8 | h[5]);
	if (memcmp(h, VERDICT_MAGIC, 4) || n > VERDICT_MAX) {
		c->failed = true;
		snprintf(c->reason, sizeof(c->reason), "the destination sent no TLS verdict");
		return -EPROTO;
	}
	rc = full_read(ch, c, text, n, deadline);
	if (rc || !n)
		return rc;
	printable(clean, sizeof(clean), (const unsigned char *)text, n);
	c->failed = true;
	snprintf(c->reason, sizeof(c->reason), "the destination refused this source: %.200s",
		 clean);
	return -EACCES;
}

/* Pushes the write buffer to the socket, waiting for room until deadline (0: the
 * channel's timeout, counted from now). */
static int flush(struct vfm_chan *ch, struct vfm_tls_conn *c, double deadline, bool handshake)
{
	for (;;) {
		double t0 = vfm_now();
		int rc;

		errno = 0;
		if (BIO_flush(c->wbio) == 1)
			return 0;
		if (!BIO_should_retry(c->wbio)) {
			rc = errno ? -errno : -EIO;
			c->failed = true;
			snprintf(c->reason, sizeof(c->reason), "%s", strerror(-rc));
			return rc;
		}
		rc = vfm_chan_wait(ch, POLLOUT, deadline ? deadline : vfm_chan_deadline(ch));
		if (rc)
			return wait_failed(c, rc, handshake, vfm_now() - t0);
	}
}

static int send_verdict(struct vfm_chan *ch, struct vfm_tls_conn *c, double deadline);

/*
 * The handshake and the verdict (the source reads it, the destination checks the source
 * and sends it), all within c->timeout_ms, or the channel's timeout when that is shorter.
 */
static int handshake(struct vfm_chan *ch, struct vfm_tls_conn *c)
{
	double deadline;
	int ret, rc = 0;

	if (ch->timeout_ms > 0 && ch->timeout_ms < c->timeout_ms)
		c->timeout_ms = ch->timeout_ms;
	deadline = vfm_now() + c->timeout_ms / 1e3;
	do {
		ERR_clear_error();
		errno = 0;
		ret = SSL_do_handshake(c->ssl);
		if (ret != 1)
			rc = conn_wait(ch, c, ret, deadline, true);
	} while (ret != 1 && !rc);
	if (!rc)
		rc = c->t->server ? send_verdict(ch, c, deadline) : read_verdict(ch, c, deadline);
	return rc;
}

static int client_handshake(struct vfm_chan *ch, struct vfm_tls_conn *c)
{
	int rc = handshake(ch, c);

	c->pending = false;
	if (rc)
		linger_close(ch);
	return rc;
}

static int prepare_client(struct vfm_tls_conn *c, const char *host)
{
	X509_VERIFY_PARAM *p = SSL_get0_param(c->ssl);
	unsigned char addr[sizeof(struct in6_addr)];
	bool ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;

	snprintf(c->host, sizeof(c->host), "%s", host);
	SSL_set_connect_state(c->ssl);
	if (c->t->psk)
		return 0;
	X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (ip)
		return X509_VERIFY_PARAM_set1_ip_asc(p, host) == 1 ? 0 : -EINVAL;
	if (SSL_set_tlsext_host_name(c->ssl, host) != 1)
		return -EINVAL;
	return X509_VERIFY_PARAM_set1_host(p, host, 0) == 1 ? 0 : -EINVAL;
}

int vfm_tls_connect(struct vfm_chan *ch, struct vfm_tls *t, const char *host, bool defer,
		    int timeout_ms)
{
	struct vfm_tls_conn *c;
	int rc;

	if (!host || !*host)
		host = t->hostname;
	if (t->server || (!t->psk && !*host) || strlen(host) >= sizeof(c->host))
		return vfm_errf(ch->err, sizeof(ch->err), -EINVAL,
				"%s: TLS: source credentials and a host name to check are needed",
				ch->name);
	c = conn_new(ch, t);
	if (!c)
		return vfm_errf(ch->err, sizeof(ch->err), -ENOMEM, "%s: TLS: out of memory",
				ch->name);
	c->timeout_ms = timeout_ms < 0 ? VFM_CHAN_TIMEOUT_MS : timeout_ms;
	if (prepare_client(c, t->hostname[0] ? t->hostname : host)) {
		conn_free(c);
		return vfm_errf(ch->err, sizeof(ch->err), -EINVAL, "%s: TLS: bad host name '%s'",
				ch->name, host);
	}
	rc = conn_attach(ch, c);
	if (rc) {
		conn_free(c);
		return vfm_errf(ch->err, sizeof(ch->err), rc, "%s: TLS: %s", ch->name,
				strerror(-rc));
	}
	c->pending = true;
	if (defer)
		return 0;
	rc = client_handshake(ch, c);
	if (rc)
		vfm_errf(ch->err, sizeof(ch->err), rc, "%s: %s", ch->name, c->reason);
	return rc;
}

/* Waits for the peer's first byte and looks at it without taking it. */
static int peek_first(struct vfm_chan *ch, uint8_t *b, int timeout_ms, const char *peer)
{
	ssize_t n;
	int rc = vfm_chan_wait(ch, POLLIN, vfm_now() + timeout_ms / 1e3);

	if (rc == -ECANCELED)
		return vfm_errf(ch->err, sizeof(ch->err), rc,
				"cancelled while waiting for the first bytes from %s", peer);
	if (rc == -ETIMEDOUT)
		return vfm_errf(ch->err, sizeof(ch->err), rc, "%s sent nothing within %.1f s", peer,
				timeout_ms / 1e3);
	if (rc)
		return vfm_errf(ch->err, sizeof(ch->err), rc,
				"waiting for the first bytes from %s: %s", peer, strerror(-rc));
	do {
		n = recv(ch->fd, b, 1, MSG_PEEK);
	} while (n < 0 && errno == EINTR);
	if (n == 1)
		return 0;
	return vfm_errf(ch->err, sizeof(ch->err), n == 0 ? -ECONNRESET : -errno,
			"%s closed the connection before saying anything", peer);
}

/* A plain destination and a source that opens with a TLS hello. */
static int refuse_tls(struct vfm_chan *ch, const char *peer)
{
	static const uint8_t alert[7] = {0x15, 0x03, 0x03, 0x00, 0x02, 2, ALERT_PROTOCOL_VER};
	ssize_t n;

	n = send(ch->fd, alert, sizeof(alert), MSG_NOSIGNAL);
	(void)n;
	shutdown(ch->fd, SHUT_WR);
	drain(ch, DRAIN_MS);
	return vfm_errf(ch->err, sizeof(ch->err), -EPROTO,
			"refused a TLS migration from %s: this destination has no TLS credentials",
			peer);
}

/* A TLS destination and a source that speaks in clear. */
static int refuse_plain(struct vfm_chan *ch, const char *peer)
{
	vfm_ctl_send_fail(ch, EPROTO,
			  "this destination requires TLS: it refused a plain migration");
	shutdown(ch->fd, SHUT_WR);
	drain(ch, DRAIN_MS);
	return vfm_errf(ch->err, sizeof(ch->err), -EPROTO,
			"refused a plain migration from %s: this destination requires TLS", peer);
}

static bool authz_allows(struct vfm_tls *t, X509 *cert, char *dn, size_t len)
{
	BIO *m = BIO_new(BIO_s_mem());
	int n = -1;

	dn[0] = '\0';
	if (m && cert &&
	    X509_NAME_print_ex(m, X509_get_subject_name(cert), 0,
			       XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
		n = BIO_read(m, dn, (int)len - 1);
	BIO_free(m);
	dn[n > 0 ? n : 0] = '\0';
	for (size_t i = 0; i < t->nr_authz; i++) {
		if (n > 0 && !strcmp(dn, t->authz[i]))
			return true;
	}
	return !t->nr_authz;
}

/* After the handshake: the allowed names, then the verdict to the source. */
static int send_verdict(struct vfm_chan *ch, struct vfm_tls_conn *c, double deadline)
{
	uint8_t msg[6 + VERDICT_MAX];
	X509 *cert = c->t->psk ? NULL : SSL_get1_peer_certificate(c->ssl);
	char dn[256] = "";
	size_t n = 0, done;
	int rc = 0;

	if (!c->t->psk && !authz_allows(c->t, cert, dn, sizeof(dn))) {
		snprintf(c->why, sizeof(c->why), "its name '%.200s' is not among the allowed names",
			 dn);
		n = (size_t)snprintf((char *)msg + 6, VERDICT_MAX, "%s", c->why);
		rc = -EACCES;
	}
	X509_free(cert);
	memcpy(msg, VERDICT_MAGIC, 4);
	msg[4] = (uint8_t)(n >> 8);
	msg[5] = (uint8_t)n;
	for (int ret; (ret = SSL_write_ex(c->ssl, msg, 6 + n, &done)) != 1;) {
		int wrc = conn_wait(ch, c, ret, deadline, true);

		if (wrc)
			return wrc;
	}
	if (!rc)
		rc = flush(ch, c, deadline, true);
	else
		flush(ch, c, deadline, true);
	if (c->why[0]) {
		c->failed = true;
		snprintf(c->reason, sizeof(c->reason), "refused the source: %.200s", c->why);
	}
	return rc;
}

static int server_handshake(struct vfm_chan *ch, struct vfm_tls *t, int timeout_ms,
			    const char *peer)
{
	struct vfm_tls_conn *c = conn_new(ch, t);
	int rc;

	if (!c)
		return vfm_errf(ch->err, sizeof(ch->err), -ENOMEM, "TLS: out of memory");
	rc = conn_attach(ch, c);
	if (rc) {
		conn_free(c);
		return vfm_errf(ch->err, sizeof(ch->err), rc, "TLS: %s", strerror(-rc));
	}
	SSL_set_accept_state(c->ssl);
	c->timeout_ms = timeout_ms;
	rc = handshake(ch, c);
	if (rc) {
		linger_close(ch);
		vfm_errf(ch->err, sizeof(ch->err), rc, "TLS from %s: %s", peer, c->reason);
	}
	return rc;
}

int vfm_tls_accept(struct vfm_chan *ch, struct vfm_tls *t, int timeout_ms)
{
	char peer[80];
	uint8_t first;
	int rc;

	if (t && !t->server)
		return vfm_errf(ch->err, sizeof(ch->err), -EINVAL,
				"TLS: destination credentials are needed");
	if (timeout_ms < 0)
		timeout_ms = VFM_CHAN_TIMEOUT_MS;
	if (ch->timeout_ms > 0 && ch->timeout_ms < timeout_ms)
		timeout_ms = ch->timeout_ms;
	peer_name(ch->fd, peer, sizeof(peer)); /* now: a peer that resets takes its name along */
	rc = peek_first(ch, &first, timeout_ms, peer);
	if (rc)
		return rc;
	if (!t)
		return first == RECORD_HANDSHAKE ? refuse_tls(ch, peer) : 0;
	if (first != RECORD_HANDSHAKE)
		return refuse_plain(ch, peer);
	return server_handshake(ch, t, timeout_ms, peer);
}

/* ---- the channel's reads and writes --------------------------------------------- */

/* Before a read or write, as a plain channel's wait does: a cancel ends it; then a
 * deferred handshake runs. */
static int begin_io(struct vfm_chan *ch, struct vfm_tls_conn *c)
{
	if (ch->cancel && *ch->cancel)
		return wait_failed(c, -ECANCELED, false, 0);
	return c->pending ? client_handshake(ch, c) : 0;
}

ssize_t vfm_tls_read_some(struct vfm_chan *ch, void *buf, size_t len, double deadline)
{
	struct vfm_tls_conn *c = ch->tls;
	size_t n;
	int rc = begin_io(ch, c);

	while (!rc) {
		int ret, e;

		errno = 0;
		ret = SSL_read_ex(c->ssl, buf, len, &n);
		if (ret == 1)
			return (ssize_t)n;
		e = SSL_get_error(c->ssl, ret);
		if (e == SSL_ERROR_ZERO_RETURN ||
		    (e == SSL_ERROR_SYSCALL && !ERR_peek_error() && !errno))
			return 0;
		rc = conn_wait(ch, c, ret, deadline, false);
	}
	return rc;
}

int vfm_tls_writev(struct vfm_chan *ch, const struct iovec *iov, int cnt)
{
	struct vfm_tls_conn *c = ch->tls;
	int rc = begin_io(ch, c);

	for (int i = 0; !rc && i < cnt; i++) {
		const char *p = iov[i].iov_base;
		size_t left = iov[i].iov_len, n;

		while (!rc && left) {
			int ret;

			errno = 0;
			ret = SSL_write_ex(c->ssl, p, left, &n);
			if (ret == 1) {
				p += n;
				left -= n;
			} else {
				rc = conn_wait(ch, c, ret, 0, false);
			}
		}
	}
	return rc ? rc : flush(ch, c, 0, false);
}

const char *vfm_tls_reason(const struct vfm_chan *ch)
{
	const struct vfm_tls_conn *c = ch->tls;

	return c && c->reason[0] ? c->reason : "TLS failed";
}

int vfm_tls_peek(struct vfm_chan *ch, uint8_t *b)
{
	struct vfm_tls_conn *c = ch->tls;
	size_t n;
	int ok;

	if (c->pending || c->failed)
		return 0;
	ok = SSL_peek_ex(c->ssl, b, 1, &n) == 1 && n == 1;
	if (!ok)
		ERR_clear_error();
	return ok;
}

bool vfm_tls_has_pending(const struct vfm_chan *ch)
{
	const struct vfm_tls_conn *c = ch->tls;

	return c && !c->pending && SSL_has_pending(c->ssl);
}

void vfm_tls_close(struct vfm_chan *ch)
{
	struct vfm_tls_conn *c = ch->tls;

	if (!c)
		return;
	if (!c->failed && !c->pending && ch->fd >= 0) {
		SSL_shutdown(c->ssl);
		flush(ch, c, vfm_now() + LINGER_MS / 1e3, false);
	}
	ERR_clear_error();
	if (ch->fd >= 0)
		fcntl(ch->fd, F_SETFL, c->fl);
	conn_free(c);
	ch->tls = NULL;
}
