/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The migration stream: QEMU's savevm framing around QEMU's VFIO device sections
 * (uAPI doc section 6), over a byte channel that always moves whole buffers.
 *
 * File:    be32 "QEVM", be32 3, sections..., u8 EOF (0x00)
 * Device:  START  (idstr, instance, version 1): DEV_SETUP_STATE, END_OF_STATE, footer
 *          PART*  : [DEV_DATA_STATE be64 n, n bytes], END_OF_STATE | DEV_INIT_DATA_SENT, footer
 *          END    : {DEV_DATA_STATE be64 n, n bytes}*, END_OF_STATE, footer
 * Footer:  u8 0x7e, be32 section id.
 *
 * Threads: a channel, an encoder use or a decoder belongs to one thread at a time.
 */
#ifndef VFIO_MIG_STREAM_H
#define VFIO_MIG_STREAM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "uapi.h"

#define VFM_STREAM_ERR_LEN 256

/* How long a channel waits, by default, for its peer to move a byte. */
#define VFM_CHAN_TIMEOUT_MS 60000

/*
 * A byte channel over a file descriptor (file, pipe, UNIX or TCP socket). Every read and
 * write waits at most timeout_ms for the peer to move at least one byte, and ends within
 * 100 ms once *cancel is set (by another thread or a signal handler).
 */
struct vfm_tls_conn;
struct vfm_chan {
	int fd;
	uint64_t pos; /* bytes moved so far */
	bool eof;
	bool sock;	/* a socket: written without blocking (MSG_DONTWAIT) */
	bool fifo;	/* a pipe: written in pieces that never block once writable */
	int timeout_ms; /* 0: VFM_CHAN_TIMEOUT_MS, < 0: no limit */
	const volatile sig_atomic_t *cancel; /* NULL: not cancellable */
	char name[96];
	char err[VFM_STREAM_ERR_LEN];
	struct vfm_tls_conn *tls; /* set by vfm_tls_connect/vfm_tls_accept (vfio-mig/tls.h) */
};

/* Sets up ch over fd (not owned until vfm_chan_close()); name is for messages. The
 * default timeout, no cancel flag. */
void vfm_chan_init(struct vfm_chan *ch, int fd, const char *name);
/* Writes all of buf (retrying short writes and EINTR). 0, -ETIMEDOUT when the peer takes
 * nothing for the timeout, -ECANCELED, or another negative errno. */
int vfm_chan_write(struct vfm_chan *ch, const void *buf, size_t len);
int vfm_chan_write2(struct vfm_chan *ch, const void *a, size_t alen, const void *b, size_t blen);
/* Writes all of iov[0] to iov[cnt - 1], as vfm_chan_write(); the array is used up (its
 * entries change as they are written). */
int vfm_chan_writev(struct vfm_chan *ch, struct iovec *iov, int cnt);
/* Reads exactly len bytes. 0, -ENODATA at a clean end before the first byte, -EPIPE when
 * the channel ends part way, -ETIMEDOUT when the peer sends nothing for the timeout,
 * -ECANCELED, or another negative errno. */
int vfm_chan_read(struct vfm_chan *ch, void *buf, size_t len);
/* The same, but all len bytes must arrive before `deadline` (CLOCK_MONOTONIC, seconds). */
int vfm_chan_read_by(struct vfm_chan *ch, void *buf, size_t len, double deadline);

/*
 * Migration channels by URI: "tcp:HOST:PORT" (HOST may be [v6]), "sock:PATH" (a UNIX
 * stream socket), "file:PATH". 0 or a negative errno with the reason in err.
 */
bool vfm_chan_is_uri(const char *s);
/* Source side: connects (tcp, sock) or creates the file. */
int vfm_chan_open_out(const char *uri, struct vfm_chan *ch, char *err, size_t errlen);
/* Destination side: listens (tcp, sock: the path appears only once listening) or opens
 * the file; *listen_fd is -1 for files, which are opened straight into ch. */
int vfm_chan_listen(const char *uri, int *listen_fd, struct vfm_chan *ch, char *err, size_t errlen);
/* Accepts one connection on a listening socket, waiting at most timeout_ms (< 0 forever). */
int vfm_chan_accept(int listen_fd, struct vfm_chan *ch, int timeout_ms, char *err, size_t errlen);
/* The same, and ends with -ECANCELED within 100 ms once *cancel is set (NULL: never). */
int vfm_chan_accept_until(int listen_fd, struct vfm_chan *ch, int timeout_ms,
			  const volatile sig_atomic_t *cancel, char *err, size_t errlen);
/* Ends TLS on the channel, if any, and closes its descriptor. */
void vfm_chan_close(struct vfm_chan *ch);
/* The host of a tcp:HOST:PORT URI (without the brackets of [v6]). 0 or -EINVAL. */
int vfm_chan_uri_host(const char *uri, char *host, size_t len);
/* Whether a tcp: URI names only loopback addresses (127.0.0.0/8, ::1, localhost). */
bool vfm_chan_uri_is_loopback(const char *uri);

/* Waits until the channel is readable: 1 readable, 0 after timeout_ms (< 0: no limit),
 * -ECANCELED once *ch->cancel is set, < 0 another error. */
int vfm_chan_poll(struct vfm_chan *ch, int timeout_ms);

/*
 * Control messages of a live migration over a socket (not part of QEMU's format): the
 * destination answers on the stream's socket, and after the stream's EOF the source
 * commits or aborts. Framing: be32 magic "VMC1", u8 type, u8 0, be16 length, payload.
 */
#define VFM_CTL_MAGIC	    0x564d4331u
#define VFM_CTL_MAX_PAYLOAD 1024
enum vfm_ctl_type {
	VFM_CTL_ACK = 1,    /* dest: the initial data of every pre-copy device is loaded */
	VFM_CTL_READY = 2,  /* dest: all state loaded and validated; devices stopped */
	VFM_CTL_COMMIT = 3, /* source: start the devices, the source stays stopped */
	VFM_CTL_ABORT = 4,  /* source: give up; reset the devices */
	VFM_CTL_DONE = 5,   /* dest: devices RUNNING */
	VFM_CTL_FAIL = 6,   /* dest: payload = be32 errno, then the reason (text) */
};

struct vfm_ctl_msg {
	uint8_t type;
	uint16_t len;
	char payload[VFM_CTL_MAX_PAYLOAD + 1]; /* NUL-terminated for convenience */
};

/* Sends one message (enum vfm_ctl_type): 0, -EINVAL beyond VFM_CTL_MAX_PAYLOAD, or the
 * channel's error. */
int vfm_ctl_send(struct vfm_chan *ch, uint8_t type, const void *payload, uint16_t len);
/* Sends FAIL with an errno and a reason. */
int vfm_ctl_send_fail(struct vfm_chan *ch, int err, const char *reason);
/* Reads one message: waits at most timeout_ms (< 0: no limit) for it to begin, and then at
 * most the channel's timeout for all of it. -ETIMEDOUT, -EBADMSG for a malformed message
 * (reason in ch->err), or the channel's error. */
int vfm_ctl_recv(struct vfm_chan *ch, struct vfm_ctl_msg *msg, int timeout_ms);

/* The most pieces vfm_enc_data_iov() takes for one block. */
#define VFM_ENC_MAX_IOV 64
/* Encoder: each call writes one element. 0 or a negative errno (reason in ch->err). */
int vfm_enc_file_header(struct vfm_chan *ch);
int vfm_enc_section_start(struct vfm_chan *ch, uint32_t section_id, const char *idstr,
			  uint32_t instance_id, uint32_t version_id);
/* type: VFM_QEMU_VM_SECTION_PART or VFM_QEMU_VM_SECTION_END */
int vfm_enc_section(struct vfm_chan *ch, uint8_t type, uint32_t section_id);
int vfm_enc_marker(struct vfm_chan *ch, uint64_t marker);
/* DEV_DATA_STATE, be64 len, the bytes. */
int vfm_enc_data(struct vfm_chan *ch, const void *buf, uint64_t len);
/* The same for bytes in pieces: one block of len bytes, iov[0] to iov[cnt - 1] (at most
 * VFM_ENC_MAX_IOV of them, len in all: -EINVAL otherwise). */
int vfm_enc_data_iov(struct vfm_chan *ch, const struct iovec *iov, int cnt, uint64_t len);
/* The section's footer; the stream's end. */
int vfm_enc_footer(struct vfm_chan *ch, uint32_t section_id);
int vfm_enc_eof(struct vfm_chan *ch);

/* Largest data block the decoder accepts (QEMU's blocks are at most 1 MiB). */
#define VFM_STREAM_MAX_BLOCK	(64ull << 20)
#define VFM_STREAM_MAX_SECTIONS 64

enum vfm_ev_type {
	VFM_EV_SECTION = 1, /* a section header: type, sid, and for START idstr etc. */
	VFM_EV_MARKER,	    /* SETUP_STATE, END_OF_STATE, INIT_DATA_SENT */
	VFM_EV_DATA,	    /* a data block of `size` bytes: read them with vfm_dec_data() */
	VFM_EV_FOOTER,
	VFM_EV_EOF,
};

struct vfm_ev {
	enum vfm_ev_type type;
	uint64_t offset; /* stream offset where the element starts */
	uint8_t section_type;
	uint32_t section_id;
	uint32_t section_index; /* 0.. in order of START sections */
	char idstr[257];
	uint32_t instance_id;
	uint32_t version_id;
	uint64_t marker;
	uint64_t size;
};

struct vfm_dec_section {
	uint32_t id;
	char idstr[257];
	uint32_t instance_id;
};

struct vfm_dec {
	struct vfm_chan *ch;
	uint64_t max_block;
	int state;
	uint8_t cur_type;
	uint32_t cur_sid;
	uint32_t cur_index;
	uint64_t data_left;
	int body_step;
	size_t nr_sections;
	struct vfm_dec_section sections[VFM_STREAM_MAX_SECTIONS];
	char err[VFM_STREAM_ERR_LEN];
};

/* max_block 0 = VFM_STREAM_MAX_BLOCK. Reads and checks the file header. */
int vfm_dec_init(struct vfm_dec *dec, struct vfm_chan *ch, uint64_t max_block);
/* The next element. After VFM_EV_DATA, unread block bytes are skipped by the next call.
 * Errors: -EBADMSG for a malformed stream (dec->err names the byte offset and what was
 * expected there), -EPIPE for a stream cut short, or the channel's errno. */
int vfm_dec_next(struct vfm_dec *dec, struct vfm_ev *ev);
/* Reads up to len bytes of the current data block; returns bytes read (0 at its end). */
ssize_t vfm_dec_data(struct vfm_dec *dec, void *buf, size_t len);

#endif /* VFIO_MIG_STREAM_H */
