/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vfio-user client's insides, shared by client.c (connection, requests, open) and
 * client-mig.c (the handle operations). Internal, not installed.
 */
#ifndef VFM_VU_CLIENT_H
#define VFM_VU_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "sock.h"
#include "vfio-mig/vfio-user.h"

struct vu_session;

struct vu_client {
	struct vfm_handle h; /* first: the handle ops get &h */
	struct vu_sock sock;
	uint16_t next_id;
	bool broken;
	int broken_rc; /* why: -ECANCELED, -ETIMEDOUT, or another negative errno */
	uint32_t our_xfer;
	uint32_t write_chunk; /* per write to a server without the extension */
	bool estimate_warned; /* the notice about estimated pre-copy numbers was given */
	struct vfm_vu_client_info info;
	struct vu_session *cur; /* the session the device has open, as far as we know */
	bool closing;		/* closed while cur was open: cur's close frees us */
	int send_fd;		/* a descriptor to send with the next request, or -1 */
	uint8_t *dma_mem;	/* "unix:PATH,dma=SIZE": memory mapped for the device's DMA */
	uint64_t dma_size;
};

struct vu_session {
	struct vfm_session base;
	struct vu_client *c;
	bool live;
	/* Pre-copy as the client sees it, for a server without pre-copy info and data size:
	 * a read that ended with no data marks a temporary end. */
	bool precopy;	     /* the session began in PRE_COPY */
	bool initial_done;   /* a temporary end was seen */
	uint64_t since_end;  /* bytes read since the last temporary end */
	uint64_t last_round; /* bytes read between the last two temporary ends */
};

static inline struct vu_client *vu_client_of(struct vfm_handle *h)
{
	return (struct vu_client *)h;
}

/*
 * One request and its reply: sends the header and req[0..n), waits for the reply (server
 * requests arriving meanwhile are answered with an error), checks it and reads its body
 * into rep (at least rep_min, at most rep_max bytes; *rep_len gets the size). 0, the
 * server's negative errno, or -EPROTO / -EPIPE (the connection is then unusable).
 */
int vu_call(struct vu_client *c, uint16_t cmd, struct iovec *req, int n, void *rep, size_t rep_min,
	    size_t rep_max, size_t *rep_len);

/* The first half of vu_call for callers that read the body themselves. On success the
 * reply header is in *h and its body is still unread. */
int vu_call_begin(struct vu_client *c, uint16_t cmd, struct iovec *req, int n, uint32_t min_body,
		  uint32_t max_body, struct vfm_vu_hdr *h);
/* Marks the connection unusable; returns rc. */
int vu_client_break(struct vu_client *c, int rc);
/* A socket call failed with rc while doing what fmt says: the reason into the handle's
 * error (a timeout, a cancel, a lost peer), the connection marked unusable. Returns rc
 * (-ETIMEDOUT, -ECANCELED) or -EPIPE. */
int vu_client_lost(struct vu_client *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* DEVICE_FEATURE: sends argsz/flags/payload; the reply payload (after the 8-byte header)
 * goes to out (out_len bytes expected at least, reply_len gets the payload size). */
int vu_feature(struct vu_client *c, uint32_t flags, uint32_t argsz, const void *payload, size_t len,
	       void *out, size_t out_min, size_t out_max, size_t *reply_len);

/* client-mig.c */
extern const struct vfm_handle_ops vu_handle_ops;
void vu_client_probe_ext(struct vu_client *c);

#endif /* VFM_VU_CLIENT_H */
