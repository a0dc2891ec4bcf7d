// SPDX-License-Identifier: BSD-3-Clause
/*
 * libFuzzer target for the vfio-user client's handling of what a server sends: a hostile
 * server, played by a thread on the other end of a real socketpair, answers each request
 * the client makes from the fuzzer's input, while the client opens the handle and runs
 * through every operation (flags, states, pre-copy and stop-copy reads, pre-copy info,
 * data size, writes, DMA logging, register reads, reset, close).
 *
 * Input: byte 0 chooses the VERSION reply. Bit 0 set: a valid one is made (bit 1: with
 * the vfio-mig extension; bytes 1-2: max_data_xfer_size in KiB, 0 for none, so tiny
 * sizes are tried). Then one record per message the server sends, in order:
 *   mode (1 byte), len (2 bytes, little endian), then len bytes (fewer if the input ends)
 *   mode & 3 = 0: a reply to the pending request (its id and command), body = the bytes;
 *                 mode & 4: with the error flag and errno = mode >> 3
 *   mode & 3 = 1: a raw message: the bytes are sent as they are, then the server hangs up
 *   mode & 3 = 2: a request of the server's own (DMA_READ, body = the bytes) before the
 *                 reply; the client must refuse it and keep waiting
 *   mode & 3 = 3: a reply whose header claims 4096 more bytes than follow, then hang up
 * When the input ends, the server hangs up. Nothing here may crash, leak, read out of
 * bounds or wait for ever.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vfio-mig/fsm.h"
#include "vfio-mig/vfio-user.h"

struct server {
	int fd;
	const uint8_t *data;
	size_t len, pos;
};

static int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* One message of the client: its header; the body is read and dropped. */
static int next_message(struct server *s, struct vfm_vu_hdr *h)
{
	uint8_t sink[4096];
	size_t left;

	if (read_all(s->fd, h, sizeof(*h)) || h->msg_size < sizeof(*h))
		return -1;
	for (left = h->msg_size - sizeof(*h); left;) {
		size_t n = left < sizeof(sink) ? left : sizeof(sink);

		if (read_all(s->fd, sink, n))
			return -1;
		left -= n;
	}
	return 0;
}

static void send_msg(struct server *s, const struct vfm_vu_hdr *h, const void *body, size_t len)
{
	write_all(s->fd, h, sizeof(*h));
	write_all(s->fd, body, len);
}

static void version_reply(struct server *s, const struct vfm_vu_hdr *req)
{
	uint8_t mode = s->data[0];
	unsigned kib = 0;
	char body[512];
	struct vfm_vu_hdr h = {req->msg_id, req->cmd, 0, VFM_VU_F_TYPE_REPLY, 0};
	int n;

	if (s->len >= 3)
		kib = (unsigned)s->data[1] | (unsigned)s->data[2] << 8;
	s->pos = 3;
	body[0] = 0;
	body[1] = 0; /* major 0 */
	body[2] = 1;
	body[3] = 0; /* minor 1 */
	n = snprintf(
		body + 4, sizeof(body) - 4,
		"{\"capabilities\":{\"max_msg_fds\":8%s%.0u,\"migration\":{\"pgsize\":4096%s}}}",
		kib ? ",\"max_data_xfer_size\":" : "", kib ? kib * 1024u : 0u,
		mode & 2 ? ",\"vfio-mig\":{\"mig_data_size\":true,\"precopy_info\":true}" : "");
	h.msg_size = (uint32_t)(sizeof(h) + 4 + (size_t)n + 1);
	send_msg(s, &h, body, 4 + (size_t)n + 1);
}

/* Answers one pending request from the next record; false to hang up. */
static bool answer(struct server *s, const struct vfm_vu_hdr *req)
{
	for (;;) {
		struct vfm_vu_hdr h = {req->msg_id, req->cmd, 0, VFM_VU_F_TYPE_REPLY, 0};
		const uint8_t *body;
		uint8_t mode;
		size_t len;

		if (s->pos + 3 > s->len)
			return false;
		mode = s->data[s->pos];
		len = (size_t)s->data[s->pos + 1] | (size_t)s->data[s->pos + 2] << 8;
		s->pos += 3;
		len = len < s->len - s->pos ? len : s->len - s->pos;
		body = s->data + s->pos;
		s->pos += len;
		switch (mode & 3) {
		case 0:
			if (mode & 4) {
				h.flags |= VFM_VU_F_ERROR;
				h.error = mode >> 3;
			}
			h.msg_size = (uint32_t)(sizeof(h) + len);
			send_msg(s, &h, body, len);
			return true;
		case 1:
			write_all(s->fd, body, len);
			return false;
		case 2:
			h = (struct vfm_vu_hdr){
				0x7777, VFM_VU_DMA_READ, (uint32_t)(sizeof(h) + len),
				VFM_VU_F_TYPE_COMMAND | (mode & 4 ? VFM_VU_F_NO_REPLY : 0), 0};
			send_msg(s, &h, body, len);
			if (!(mode & 4) && next_message(s, &h))
				return false; /* the client's refusal */
			continue;
		default:
			h.msg_size = (uint32_t)(sizeof(h) + len + 4096);
			send_msg(s, &h, body, len);
			return false;
		}
	}
}

static void *serve(void *arg)
{
	struct server *s = arg;
	struct vfm_vu_hdr req;
	bool first = true;

	while (next_message(s, &req) == 0) {
		if (first && req.cmd == VFM_VU_VERSION && (s->data[0] & 1)) {
			version_reply(s, &req);
			first = false;
			continue;
		}
		if (first) {
			s->pos = 1;
			first = false;
		}
		if (!answer(s, &req))
			break;
	}
	shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

static void saving(struct vfm_handle *h, uint8_t *buf, size_t len)
{
	struct vfm_session *s = NULL;
	uint64_t a, b;

	if (vfm_handle_set_state(h, VFM_STATE_PRE_COPY, &s) || !s)
		return;
	for (int i = 0; i < 4; i++) {
		vfm_session_precopy_info(s, &a, &b);
		vfm_handle_data_size(h, &a);
		if (vfm_session_read(s, buf, len) < 0)
			break;
	}
	if (vfm_handle_set_state(h, VFM_STATE_STOP_COPY, NULL) == 0)
		for (int i = 0; i < 4 && vfm_session_read(s, buf, len) > 0; i++)
			;
	vfm_session_close(s);
}

static void resuming(struct vfm_handle *h, uint8_t *buf, size_t len)
{
	struct vfm_session *s = NULL;

	vfm_handle_set_state(h, VFM_STATE_STOP, NULL);
	if (vfm_handle_set_state(h, VFM_STATE_RESUMING, &s) || !s)
		return;
	vfm_session_write_all(s, buf, len);
	vfm_handle_set_state(h, VFM_STATE_STOP, NULL);
	vfm_session_close(s);
}

static void logging(struct vfm_handle *h)
{
	struct vfm_device_feature_dma_logging_range r = {0, 1u << 20};
	uint64_t page = 4096, bitmap[4];

	if (vfm_handle_log_start(h, &r, 1, &page) == 0) {
		vfm_handle_log_report(h, 0, 1u << 20, 4096, bitmap);
		vfm_handle_log_stop(h);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[70000];
	struct server s = {.data = data, .len = size};
	struct vfm_handle *h = NULL;
	char err[256];
	pthread_t t;
	uint64_t flags;
	uint32_t st, reg;
	int sv[2];

	if (size < 1 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 0;
	s.fd = sv[1];
	if (pthread_create(&t, NULL, serve, &s)) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	if (vfm_vu_open_fd(sv[0], "fuzz", NULL, &h, err, sizeof(err)) == 0) {
		vfm_handle_get_flags(h, &flags);
		vfm_handle_get_state(h, &st);
		vfm_handle_data_size(h, &flags);
		saving(h, buf, sizeof(buf));
		resuming(h, buf, sizeof(buf));
		logging(h);
		vfm_vu_region_read(h, VFM_VU_PCI_BAR0, 0, &reg, sizeof(reg));
		vfm_handle_reset(h);
		vfm_handle_close(h);
	}
	pthread_join(t, NULL);
	close(sv[1]);
	return 0;
}
