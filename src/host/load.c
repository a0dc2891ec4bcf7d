// SPDX-License-Identifier: BSD-3-Clause
/*
 * The destination side of a stream. Every destination goes to RESUMING at setup (QEMU's
 * load_setup); each data block is written to its device's session; at the end of the
 * stream RESUMING -> STOP validates the state and the devices are started. With
 * `control` (a socket from vfm_send) the loader also confirms the initial data of the
 * pre-copy devices, reports READY and starts the devices only on the source's COMMIT.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"
#include "stream/tls.h"
#include "util.h"
#include "vfio-mig/fsm.h"

#define SIDE_ACCEPT_TIMEOUT_MS 10000
#define HANDSHAKE_TIMEOUT_MS   10000
#define RAM_IDSTR	       "vfio-mig-ram"
#define DEV_IDSTR	       "vfio" /* ours; QEMU's is "<qdev path>/vfio" */
#define RAM_HEADER	       16     /* a memory block: be64 iova, be64 check, then the bytes */
#define TICK_MS		       100

/* What a section of the stream carries, by the decoder's section index. */
struct section_map {
	bool ram;     /* a device's DMA memory, not the device */
	uint32_t dev; /* which device */
};

struct dst_ram {
	uint8_t *ptr;
	uint64_t iova, size;
};

struct loader;

/* A side channel: one device's stop-copy data, written by its own thread. */
struct side {
	struct loader *l;
	struct vfm_chan ch;
	uint32_t dev;
	uint64_t after; /* bytes of the device the main channel carries first */
	uint64_t buf_size;
	pthread_t thread;
	bool started;
	int rc;
};

struct loader {
	struct run *r;
	struct vfm_handle *const *devs;
	size_t n;
	bool control;
	uint64_t flags[VFM_MAX_DEVICES];
	struct vfm_session *sess[VFM_MAX_DEVICES];
	bool init_sent[VFM_MAX_DEVICES]; /* DEV_INIT_DATA_SENT seen */
	bool touched[VFM_MAX_DEVICES];	 /* devices this run changed: reset them on failure */
	bool complete[VFM_MAX_DEVICES];	 /* END section closed */
	uint8_t *buf;
	size_t buf_size;
	struct vfm_dec dec;
	struct section_map map[VFM_STREAM_MAX_SECTIONS];
	size_t nr_dev_sections;
	struct dst_ram ram[VFM_MAX_DEVICES];
	/* side channels; under lock: */
	int listen_fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t written[VFM_MAX_DEVICES]; /* bytes the main channel wrote to each device */
	bool main_busy[VFM_MAX_DEVICES];   /* the main channel is writing the device */
	bool claimed[VFM_MAX_DEVICES];	   /* its side channel writes it: the main may not */
	bool main_done;			   /* the main channel reached its EOF */
	double activity;		   /* when a channel last moved a byte */
	bool failed;
	struct side side[VFM_MAX_DEVICES];
	size_t nr_side;
	bool has_side[VFM_MAX_DEVICES];
};

static int dec_fail(struct loader *l, int rc)
{
	return run_fail(l->r, rc, "stream: %s", l->dec.err[0] ? l->dec.err : strerror(-rc));
}

/* A channel moved a byte: the source lives. */
static void touch(struct loader *l)
{
	pthread_mutex_lock(&l->lock);
	l->activity = vfm_now();
	pthread_mutex_unlock(&l->lock);
}

/*
 * Waits until ch has a byte for as long as some channel of the run moves (a main channel
 * may be quiet while the side channels carry the stop-copy data, a side channel while the
 * main one carries pre-copy). Ends on cancel, on the run's failure (side channels), and
 * when no channel moved a byte for the run's timeout.
 */
static int wait_peer(struct loader *l, struct vfm_chan *ch, bool side)
{
	int ms = run_timeout_ms(l->r);

	for (;;) {
		int n = vfm_chan_poll(ch, TICK_MS);
		double idle;
		bool failed;

		if (n > 0)
			return 0;
		if (n < 0)
			return n;
		pthread_mutex_lock(&l->lock);
		idle = vfm_now() - l->activity;
		failed = l->failed;
		pthread_mutex_unlock(&l->lock);
		if (side && failed)
			return -ECANCELED;
		if (idle * 1e3 >= ms)
			return vfm_errf(ch->err, sizeof(ch->err), -ETIMEDOUT,
					"%s: the source sent nothing for %.1f s (at offset %llu)",
					ch->name, idle, (unsigned long long)ch->pos);
	}
}

static int load_setup(struct loader *l)
{
	int rc;

	for (size_t i = 0; i < l->n; i++) {
		rc = probe_device(l->r, l->devs[i], &l->flags[i]);
		if (rc)
			return rc;
		snprintf(run_tl_dev(l->r, i)->name, sizeof(run_tl_dev(l->r, i)->name), "%s",
			 vfm_handle_name(l->devs[i]));
		l->touched[i] = true;
		rc = set_state_recover(l->r, l->devs[i], VFM_STATE_RESUMING, VFM_STATE_ERROR,
				       &l->sess[i]);
		if (rc)
			return rc;
		if (!l->sess[i])
			return run_fail(l->r, -EBADF, "%s: RESUMING opened no data session",
					vfm_handle_name(l->devs[i]));
	}
	return 0;
}

/* A side channel failed: the run fails, and the other threads are told. */
static int side_failed(struct side *sd, int rc)
{
	pthread_mutex_lock(&sd->l->lock);
	sd->l->failed = true;
	pthread_cond_broadcast(&sd->l->cond);
	pthread_mutex_unlock(&sd->l->lock);
	return rc;
}

static int side_fail(struct side *sd, int rc, const char *what)
{
	run_fail(sd->l->r, rc, "side channel of device %u: %s: %s", sd->dev, what,
		 sd->ch.err[0] ? sd->ch.err : strerror(-rc));
	return side_failed(sd, rc);
}

static int side_fail_text(struct side *sd, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int side_fail_text(struct side *sd, int rc, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	run_fail(sd->l->r, rc, "side channel of device %u: %s", sd->dev, why);
	return side_failed(sd, rc);
}

/* Waits until the main channel has written exactly the device's pre-copy data, and takes
 * the device over: from then on only this thread writes it. */
static int side_claim(struct side *sd)
{
	struct loader *l = sd->l;
	uint64_t written;
	bool failed;

	pthread_mutex_lock(&l->lock);
	while (!l->failed && !l->main_done &&
	       (l->written[sd->dev] < sd->after || l->main_busy[sd->dev]))
		pthread_cond_wait(&l->cond, &l->lock);
	written = l->written[sd->dev];
	failed = l->failed;
	if (!failed && written == sd->after)
		l->claimed[sd->dev] = true;
	pthread_mutex_unlock(&l->lock);
	if (failed)
		return -ECANCELED;
	if (written == sd->after)
		return 0;
	return side_fail_text(sd, -EBADMSG,
			      "the source announced %llu bytes of the device on the main channel "
			      "before this one, the main channel carried %llu",
			      (unsigned long long)sd->after, (unsigned long long)written);
}

static int side_read(struct side *sd, void *buf, size_t len, const char *what)
{
	int rc = wait_peer(sd->l, &sd->ch, true);
	bool failed;

	if (!rc)
		rc = vfm_chan_read(&sd->ch, buf, len);
	pthread_mutex_lock(&sd->l->lock);
	failed = sd->l->failed;
	pthread_mutex_unlock(&sd->l->lock);
	if (rc)
		return failed ? rc : side_fail(sd, rc, what);
	touch(sd->l);
	return 0;
}

/*
 * Where the next bytes of a block for session s go, at most `left` and `size`: into the
 * device's own memory when it offers it (vfm_session_write_at), else into buf. Returns how
 * many bytes go to *to, or a negative errno.
 */
static ssize_t place_for(struct vfm_session *s, uint8_t *buf, size_t size, uint64_t left, void **to)
{
	size_t want = (size_t)VFM_MIN(left, (uint64_t)size);
	void *at = NULL;
	ssize_t n = vfm_session_write_at(s, &at, want);

	*to = buf;
	if (n == -EOPNOTSUPP)
		return (ssize_t)want;
	if (n > 0 && at)
		*to = at;
	return n;
}

static int side_blocks(struct side *sd, uint8_t *buf, size_t size)
{
	struct vfm_session *s = sd->l->sess[sd->dev];
	uint8_t b[16];

	for (;;) {
		uint64_t marker, len;
		int rc = side_read(sd, b, 8, "reading a marker");

		if (rc)
			return rc;
		marker = vfm_get_be64(b);
		if (marker == VFM_MIG_FLAG_END_OF_STATE)
			return 0;
		if (marker != VFM_MIG_FLAG_DEV_DATA_STATE)
			return side_fail(sd, -EBADMSG, "expected DEV_DATA_STATE or END_OF_STATE");
		rc = side_read(sd, b + 8, 8, "reading a block size");
		if (rc)
			return rc;
		len = vfm_get_be64(b + 8);
		if (len > VFM_STREAM_MAX_BLOCK)
			return side_fail(sd, -EBADMSG, "block size over the limit");
		while (len) {
			void *to;
			ssize_t n = place_for(s, buf, size, len, &to);

			if (n < 0)
				return side_fail(sd, (int)n, "writing the device's state");
			rc = side_read(sd, to, (size_t)n, "reading a block");
			if (rc)
				return rc;
			rc = vfm_session_write_all(s, to, (size_t)n);
			if (rc)
				return side_fail(sd, rc, "writing the device's state");
			run_moved(sd->l->r, (uint64_t)n);
			len -= (uint64_t)n;
		}
	}
}

/* A side channel: the count of bytes the main channel carries first, then the blocks. */
static void *side_main(void *arg)
{
	struct side *sd = arg;
	uint8_t *buf = malloc(sd->buf_size), b[8];

	if (!buf) {
		sd->rc = side_fail(sd, -ENOMEM, "out of memory");
	} else if (!(sd->rc = side_read(sd, b, 8, "reading the start of the stop-copy data"))) {
		sd->after = vfm_get_be64(b);
		sd->rc = side_claim(sd);
		if (!sd->rc)
			sd->rc = side_blocks(sd, buf, sd->buf_size);
	}
	free(buf);
	return NULL;
}

/* Accepts the side channels the stream announces (their hellos are already there: the
 * source sends them before the announcement) and starts a thread for each. */
static int accept_sides(struct loader *l, const struct vfm_ev *ev)
{
	uint8_t hello[SIDE_HELLO_LEN];
	char err[VFM_STREAM_ERR_LEN];

	if (l->listen_fd < 0 || l->nr_side || ev->instance_id > l->n)
		return run_fail(l->r, -EBADMSG, "stream offset %llu: unexpected side channels",
				(unsigned long long)ev->offset);
	for (uint32_t k = 0; k < ev->instance_id; k++) {
		struct side *sd = &l->side[l->nr_side];
		int rc = vfm_chan_accept_until(l->listen_fd, &sd->ch, run_timeout_ms(l->r),
					       l->r->opts->cancel, err, sizeof(err));

		if (rc)
			return run_fail(l->r, rc, "side channel %u: %s", k, err);
		sd->l = l;
		sd->buf_size = l->buf_size;
		l->nr_side++;
		run_chan(l->r, &sd->ch);
		rc = vfm_tls_accept(&sd->ch, l->r->tls, SIDE_ACCEPT_TIMEOUT_MS);
		if (rc)
			return run_fail(l->r, rc, "side channel %u: %s", k, sd->ch.err);
		rc = vfm_chan_read(&sd->ch, hello, sizeof(hello));
		if (rc || memcmp(hello, SIDE_MAGIC, 8))
			return run_fail(l->r, rc ? rc : -EBADMSG, "side channel %u: bad hello", k);
		sd->dev = vfm_get_be32(hello + 8);
		if (sd->dev >= l->n || l->has_side[sd->dev])
			return run_fail(l->r, -EBADMSG, "side channel %u names device %u", k,
					sd->dev);
		l->has_side[sd->dev] = true;
		sd->started = pthread_create(&sd->thread, NULL, side_main, sd) == 0;
		if (!sd->started)
			return run_fail(l->r, -EAGAIN, "cannot start a side channel thread");
	}
	return 0;
}

/* Stops (on failure) and joins the side threads; the first error wins. */
static int join_sides(struct loader *l, bool abort)
{
	int rc = 0;

	if (abort) {
		pthread_mutex_lock(&l->lock);
		l->failed = true;
		pthread_cond_broadcast(&l->cond);
		pthread_mutex_unlock(&l->lock);
		for (size_t i = 0; i < l->nr_side; i++)
			shutdown(l->side[i].ch.fd, SHUT_RDWR);
	}
	for (size_t i = 0; i < l->nr_side; i++) {
		if (l->side[i].started)
			pthread_join(l->side[i].thread, NULL);
		l->side[i].started = false;
		if (!rc)
			rc = l->side[i].rc;
		vfm_chan_close(&l->side[i].ch);
	}
	l->nr_side = 0;
	return rc;
}

/* A VFIO device's section: ours, or QEMU's "<qdev path>/vfio". */
static bool is_device_idstr(const char *idstr)
{
	size_t n = strlen(idstr), k = strlen(DEV_IDSTR);

	return !strcmp(idstr, DEV_IDSTR) ||
	       (n > k + 1 && idstr[n - k - 1] == '/' && !strcmp(idstr + n - k, DEV_IDSTR));
}

/* A START section: a device's state (in order), or a device's DMA memory. */
static int map_section(struct loader *l, const struct vfm_ev *ev)
{
	struct section_map *m = &l->map[ev->section_index];
	struct dst_ram *ram;
	void *ptr;

	if (!strcmp(ev->idstr, CHANNELS_IDSTR)) {
		m->ram = true; /* carries no data of its own */
		m->dev = 0;
		return accept_sides(l, ev);
	}
	if (strcmp(ev->idstr, RAM_IDSTR)) {
		if (!is_device_idstr(ev->idstr))
			return run_fail(l->r, -EBADMSG,
					"stream offset %llu: unknown section '%s' (instance %u): "
					"neither a device nor its DMA memory",
					(unsigned long long)ev->offset, ev->idstr, ev->instance_id);
		if (l->nr_dev_sections >= l->n)
			return run_fail(l->r, -EINVAL,
					"stream offset %llu: the stream holds more device sections "
					"than the %zu device(s) given",
					(unsigned long long)ev->offset, l->n);
		m->dev = (uint32_t)l->nr_dev_sections++;
		return 0;
	}
	if (ev->instance_id >= l->n)
		return run_fail(l->r, -EINVAL, "stream offset %llu: DMA memory of device %u of %zu",
				(unsigned long long)ev->offset, ev->instance_id, l->n);
	m->ram = true;
	m->dev = ev->instance_id;
	ram = &l->ram[m->dev];
	if (vfm_handle_dma_memory(l->devs[m->dev], &ptr, &ram->iova, &ram->size))
		return run_fail(l->r, -EINVAL,
				"%s: the source device has DMA memory, this device none",
				vfm_handle_name(l->devs[m->dev]));
	ram->ptr = ptr;
	return 0;
}

/* A block of DMA memory: be64 iova, be64 check, then the bytes, inside the destination's
 * memory; the bytes must match the check once they are in place. */
static int load_ram(struct loader *l, const struct vfm_ev *ev, struct dst_ram *ram)
{
	uint8_t b[RAM_HEADER];
	uint64_t iova, left, check;
	uint8_t *at;

	if (ev->size < RAM_HEADER)
		return run_fail(l->r, -EBADMSG, "stream offset %llu: short memory block",
				(unsigned long long)ev->offset);
	if (vfm_dec_data(&l->dec, b, RAM_HEADER) != RAM_HEADER)
		return dec_fail(l, -EPIPE);
	iova = vfm_get_be64(b);
	check = vfm_get_be64(b + 8);
	left = ev->size - RAM_HEADER;
	if (iova < ram->iova || iova - ram->iova > ram->size ||
	    left > ram->size - (iova - ram->iova))
		return run_fail(l->r, -EBADMSG,
				"stream offset %llu: memory block [0x%llx, +%llu) outside the "
				"device's DMA memory",
				(unsigned long long)ev->offset, (unsigned long long)iova,
				(unsigned long long)left);
	at = ram->ptr + (iova - ram->iova);
	for (uint64_t off = 0; off < ev->size - RAM_HEADER;) {
		ssize_t n = vfm_dec_data(&l->dec, at + off,
					 (size_t)VFM_MIN(left, (uint64_t)(64u << 20)));

		if (n <= 0)
			return dec_fail(l, n < 0 ? (int)n : -EPIPE);
		off += (uint64_t)n;
		left -= (uint64_t)n;
		run_moved(l->r, (uint64_t)n);
	}
	if (ram_check(iova, at, (size_t)(ev->size - RAM_HEADER)) != check)
		return run_fail(l->r, -EBADMSG,
				"stream offset %llu: DMA memory block [0x%llx, +%llu) fails its "
				"integrity check: the stream was corrupted",
				(unsigned long long)ev->offset, (unsigned long long)iova,
				(unsigned long long)(ev->size - RAM_HEADER));
	return 0;
}

/* One writer per device: once its side channel has it, the main channel may not; while
 * the main channel writes (into the device's own memory, maybe), the side waits. */
static bool main_take(struct loader *l, uint32_t dev)
{
	bool claimed;

	pthread_mutex_lock(&l->lock);
	claimed = l->claimed[dev];
	l->main_busy[dev] = !claimed;
	pthread_mutex_unlock(&l->lock);
	return !claimed;
}

static void main_release(struct loader *l, uint32_t dev, uint64_t written)
{
	pthread_mutex_lock(&l->lock);
	l->main_busy[dev] = false;
	l->written[dev] += written;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

/* The next piece of a block, at most `left` bytes, read to where the device wants it and
 * written; *moved gets its size. */
static int load_piece(struct loader *l, struct vfm_session *s, uint64_t left, uint64_t *moved)
{
	char why[256];
	void *to;
	ssize_t n = place_for(s, l->buf, l->buf_size, left, &to);
	int rc;

	if (n < 0)
		return run_fail(l->r, (int)n, "%s: no place for the state (stream offset %llu): %s",
				vfm_handle_name(s->h), (unsigned long long)l->dec.ch->pos,
				vfm_handle_explain(s->h, (int)n, why, sizeof(why)));
	n = vfm_dec_data(&l->dec, to, (size_t)n);
	if (n <= 0)
		return dec_fail(l, n < 0 ? (int)n : -EPIPE);
	rc = vfm_session_write_all(s, to, (size_t)n);
	if (rc)
		return run_fail(l->r, rc,
				"%s: writing %zd bytes of state (stream offset %llu) failed: %s",
				vfm_handle_name(s->h), n,
				(unsigned long long)(l->dec.ch->pos - (uint64_t)n),
				vfm_handle_explain(s->h, rc, why, sizeof(why)));
	*moved = (uint64_t)n;
	return 0;
}

static int load_block(struct loader *l, const struct vfm_ev *ev, uint32_t dev)
{
	uint64_t left = ev->size;

	while (left) {
		uint64_t moved = 0;
		int rc;

		if (!main_take(l, dev))
			return run_fail(l->r, -EBADMSG,
					"stream offset %llu: data of device %u on the main channel "
					"while its side channel carries its stop-copy data",
					(unsigned long long)ev->offset, dev);
		rc = load_piece(l, l->sess[dev], left, &moved);
		main_release(l, dev, moved);
		if (rc)
			return rc;
		left -= moved;
		run_moved(l->r, moved);
		touch(l);
		if (run_cancelled(l->r))
			return run_fail(l->r, -ECANCELED, "migration cancelled");
	}
	return 0;
}

/* Confirms a device's initial data (switch-over ack), as soon as it is loaded. */
static int send_ack(struct loader *l, uint32_t dev)
{
	uint8_t b[4];
	int rc;

	if (!l->control)
		return 0;
	vfm_put_be32(b, dev);
	rc = vfm_ctl_send(l->dec.ch, VFM_CTL_ACK, b, sizeof(b));
	return rc ? run_fail(l->r, rc, "cannot confirm the initial data: %s", l->dec.ch->err) : 0;
}

static int load_event(struct loader *l, const struct vfm_ev *ev)
{
	const struct section_map *m = &l->map[ev->section_index];
	uint32_t i = m->dev;
	int rc;

	if (ev->type == VFM_EV_EOF)
		return 0;
	if (ev->type == VFM_EV_SECTION && ev->section_type == VFM_QEMU_VM_SECTION_START) {
		rc = map_section(l, ev);
		if (rc)
			return rc;
	}
	if (m->ram)
		return ev->type == VFM_EV_DATA ? load_ram(l, ev, &l->ram[i]) : 0;
	if (ev->type != VFM_EV_FOOTER && ev->type != VFM_EV_SECTION && l->complete[i])
		return run_fail(l->r, -EINVAL,
				"stream offset %llu: data for device %u after its END section",
				(unsigned long long)ev->offset, i);
	switch (ev->type) {
	case VFM_EV_SECTION:
		if (ev->section_type == VFM_QEMU_VM_SECTION_END && !run_tl_dev(l->r, i)->t_stop)
			run_tl_dev(l->r, i)->t_stop = run_elapsed(l->r);
		return 0;
	case VFM_EV_DATA:
		return load_block(l, ev, i);
	case VFM_EV_MARKER:
		if (ev->marker != VFM_MIG_FLAG_DEV_INIT_DATA_SENT)
			return 0;
		l->init_sent[i] = true;
		run_tl_dev(l->r, i)->t_init_done = run_elapsed(l->r);
		return send_ack(l, i);
	case VFM_EV_FOOTER:
		if (ev->section_type == VFM_QEMU_VM_SECTION_END)
			l->complete[i] = true;
		return 0;
	default:
		return 0;
	}
}

/* A control message where a stream element should begin ('V' of "VMC1" starts none): the
 * source gave up part way, or speaks out of turn. */
static int stream_control(struct loader *l, struct vfm_chan *in)
{
	uint64_t at = in->pos;
	struct vfm_ctl_msg m;
	uint8_t b;
	int rc;

	if (!l->control || !in->sock || l->dec.data_left || vfm_chan_peek(in, &b) != 1 ||
	    b != (VFM_CTL_MAGIC >> 24))
		return 0;
	rc = vfm_ctl_recv(in, &m, run_timeout_ms(l->r));
	if (rc)
		return run_fail(l->r, rc == -EBADMSG ? rc : -EPROTO,
				"stream offset %llu: neither a stream element nor a control "
				"message: %s",
				(unsigned long long)at, in->err[0] ? in->err : strerror(-rc));
	if (m.type == VFM_CTL_ABORT)
		return run_fail(l->r, -ECANCELED,
				"the source aborted the migration (at stream offset %llu)",
				(unsigned long long)at);
	return run_fail(l->r, -EBADMSG,
			"stream offset %llu: control message %u in the middle of the stream",
			(unsigned long long)at, m.type);
}

/* After the EOF: a stream that is not a live migration must end there. */
static int stream_end(struct loader *l, struct vfm_chan *in)
{
	uint64_t at = in->pos;
	uint8_t b;
	int rc;

	if (l->control)
		return 0;
	rc = vfm_chan_read(in, &b, 1);
	if (rc == -ENODATA)
		return 0;
	if (rc == 0)
		return run_fail(l->r, -EBADMSG,
				"stream offset %llu: bytes after the end of the stream (0x%02x)",
				(unsigned long long)at, b);
	return run_fail(l->r, rc, "stream: after its end: %s", in->err);
}

static int load_stream(struct loader *l, struct vfm_chan *in)
{
	struct vfm_ev ev;
	int rc;

	run_chan(l->r, in);
	touch(l);
	rc = vfm_dec_init(&l->dec, in, 0);
	if (rc)
		return dec_fail(l, rc);
	run_progress(l->r, VFM_PHASE_LOAD);
	do {
		rc = wait_peer(l, in, false);
		if (rc)
			return run_fail(l->r, rc, "stream: %s", in->err);
		rc = stream_control(l, in);
		if (rc)
			return rc;
		rc = vfm_dec_next(&l->dec, &ev);
		if (rc)
			return dec_fail(l, rc);
		touch(l);
		rc = load_event(l, &ev);
		if (rc)
			return rc;
	} while (ev.type != VFM_EV_EOF);
	pthread_mutex_lock(&l->lock);
	l->main_done = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	rc = stream_end(l, in);
	if (!rc)
		rc = join_sides(l, false);
	if (rc)
		return rc;
	for (size_t i = 0; i < l->n; i++) {
		if (!l->complete[i])
			return run_fail(l->r, -EINVAL,
					"stream: no complete state for device %zu (%s)", i,
					vfm_handle_name(l->devs[i]));
	}
	return 0;
}

static void close_sessions(struct loader *l)
{
	for (size_t i = 0; i < l->n; i++) {
		vfm_session_close(l->sess[i]);
		l->sess[i] = NULL;
	}
}

/* RESUMING -> STOP: each device validates what it received. */
static int load_validate(struct loader *l)
{
	close_sessions(l);
	for (size_t i = 0; i < l->n; i++) {
		int rc = set_state_recover(l->r, l->devs[i], VFM_STATE_STOP, VFM_STATE_ERROR, NULL);

		if (rc)
			return rc;
	}
	return 0;
}

static int load_start(struct loader *l)
{
	run_progress(l->r, VFM_PHASE_RESUME);
	for (size_t i = 0; i < l->n; i++) {
		int rc = set_state_recover(l->r, l->devs[i], VFM_STATE_RUNNING, VFM_STATE_ERROR,
					   NULL);

		if (rc)
			return rc;
		run_tl_dev(l->r, i)->t_running = run_elapsed(l->r);
	}
	return 0;
}

/* READY, then COMMIT (start) or anything else (reset). */
static int load_handshake(struct loader *l)
{
	struct vfm_chan *ch = l->dec.ch;
	struct vfm_ctl_msg m;
	int rc = vfm_ctl_send(ch, VFM_CTL_READY, NULL, 0);

	if (rc)
		return run_fail(l->r, rc, "lost the source before READY: %s", ch->err);
	rc = vfm_ctl_recv(ch, &m, run_timeout_ms(l->r));
	if (rc)
		return run_fail(l->r, rc, "lost the source before it committed: %s",
				ch->err[0] ? ch->err : strerror(-rc));
	if (m.type == VFM_CTL_ABORT)
		return run_fail(l->r, -ECANCELED, "the source aborted the migration");
	if (m.type != VFM_CTL_COMMIT)
		return run_fail(l->r, -EBADMSG, "expected COMMIT from the source, got %u", m.type);
	rc = load_start(l);
	if (rc)
		return rc;
	if (vfm_ctl_send(ch, VFM_CTL_DONE, NULL, 0))
		vfm_log(&l->r->opts->log, VFM_LOG_WARN,
			"devices run, but the source did not hear it");
	return 0;
}

static int load_body(struct loader *l, struct vfm_chan *in)
{
	int rc = load_setup(l);

	if (!rc)
		rc = load_stream(l, in);
	if (rc)
		return rc;
	l->r->t_stop = vfm_now();
	rc = load_validate(l);
	if (!rc)
		rc = l->control ? load_handshake(l) : load_start(l);
	return rc;
}

int load_run(struct run *r, struct vfm_handle *const *devs, size_t n, struct vfm_chan *in,
	     bool control, int listen_fd)
{
	struct loader *l;
	int rc;

	if (n == 0 || n > VFM_MAX_DEVICES)
		return run_fail(r, -EINVAL, "between 1 and %d devices can be loaded",
				VFM_MAX_DEVICES);
	l = calloc(1, sizeof(*l));
	if (!l)
		return run_fail(r, -ENOMEM, "out of memory");
	l->r = r;
	l->devs = devs;
	l->n = n;
	l->control = control;
	l->listen_fd = listen_fd;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	l->dec.ch = in;
	l->buf_size = r->opts->buf_size ? VFM_MIN(r->opts->buf_size, (size_t)VFM_MAX_BUF_SIZE)
					: VFM_DEFAULT_BUF_SIZE;
	r->stats->buf_size = l->buf_size;
	l->buf = malloc(l->buf_size);
	if (!l->buf) {
		free(l);
		return run_fail(r, -ENOMEM, "out of memory");
	}
	run_progress(r, VFM_PHASE_SETUP);
	rc = load_body(l, in);
	join_sides(l, rc != 0);
	close_sessions(l);
	if (rc) {
		if (control)
			vfm_ctl_send_fail(in, rc, r->err && r->err[0] ? r->err : strerror(-rc));
		for (size_t i = 0; i < n; i++) {
			if (l->touched[i])
				vfm_recover_destination(devs[i]);
		}
	} else {
		r->stats->downtime_s = vfm_now() - r->t_stop;
	}
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	free(l->buf);
	free(l);
	return rc;
}

int vfm_load(struct vfm_handle *const *devs, size_t n, struct vfm_chan *in,
	     const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err, size_t errlen)
{
	struct run r;
	int rc;

	run_init(&r, opts, stats, err, errlen);
	rc = load_run(&r, devs, n, in, false, -1);
	run_finish(&r, rc);
	run_destroy(&r);
	return rc;
}

int vfm_receive(struct vfm_handle *const *devs, size_t n, struct vfm_chan *in,
		const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
		size_t errlen)
{
	struct run r;
	int rc;

	run_init(&r, opts, stats, err, errlen);
	rc = load_run(&r, devs, n, in, true, -1);
	run_finish(&r, rc);
	run_destroy(&r);
	return rc;
}

/* A failure of vfm_tls_accept that is the peer's: refuse it and wait for the next. */
static bool peer_refused(int rc)
{
	return rc != -ECANCELED && rc != -ENOMEM && rc != -EINVAL;
}

/*
 * The migration's connection: the first that passes the checks of vfm_tls_accept before
 * any device is touched. A refused peer (failed TLS checks, plain against TLS, silent,
 * gone) is logged and closed, and the wait goes on, all within timeout_ms.
 */
static int accept_source(struct run *r, int listen_fd, int timeout_ms, struct vfm_chan *ch)
{
	double deadline = timeout_ms < 0 ? 0 : vfm_now() + timeout_ms / 1e3;
	unsigned int refused = 0;

	for (;;) {
		int left = deadline ? (int)VFM_MAX((deadline - vfm_now()) * 1e3, 0.0) : -1;
		int rc = vfm_chan_accept_until(listen_fd, ch, left, r->opts->cancel, r->err,
					       r->errlen);

		if (rc == -ETIMEDOUT && refused)
			vfm_errf(r->err, r->errlen, rc,
				 "no migration connection passed the checks in %.0f s (%u refused)",
				 timeout_ms / 1e3, refused);
		if (rc)
			return rc;
		run_chan(r, ch);
		rc = vfm_tls_accept(ch, r->tls, HANDSHAKE_TIMEOUT_MS);
		if (!rc)
			return 0;
		if (!peer_refused(rc)) {
			run_fail(r, rc, "%s", ch->err);
			vfm_chan_close(ch);
			return rc;
		}
		vfm_log(&r->opts->log, VFM_LOG_WARN, "%s; waiting for another connection", ch->err);
		vfm_chan_close(ch);
		refused++;
	}
}

int vfm_receive_listen(struct vfm_handle *const *devs, size_t n, int listen_fd, int timeout_ms,
		       const struct vfm_mig_opts *opts, struct vfm_mig_stats *stats, char *err,
		       size_t errlen)
{
	struct vfm_chan ch;
	struct run r;
	int rc;

	run_init(&r, opts, stats, err, errlen);
	rc = opts && opts->tls ? vfm_tls_new(opts->tls, true, &r.tls, err, errlen) : 0;
	if (!rc)
		rc = accept_source(&r, listen_fd, timeout_ms, &ch);
	if (!rc) {
		rc = load_run(&r, devs, n, &ch, true, listen_fd);
		vfm_chan_close(&ch);
	}
	run_finish(&r, rc);
	vfm_tls_free(r.tls);
	run_destroy(&r);
	return rc;
}
