// SPDX-License-Identifier: BSD-3-Clause
/*
 * The stream sink: QEMU's framing on a channel (uAPI doc 6.3). With `control` the channel
 * is a socket to vfm_receive, which confirms the initial data (switch-over ack), reports
 * READY once everything is loaded and validated, starts its devices on COMMIT and says
 * DONE. Without it (a file or pipe) the stream just ends with EOF.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "util.h"

#define SECTION_IDSTR "vfio"
/* Our own section for a device's DMA memory: blocks of {be64 iova, be64 check, bytes}. */
#define RAM_IDSTR    "vfio-mig-ram"
#define RAM_SID_BASE 0x1000u

static uint32_t sid(size_t i)
{
	return (uint32_t)i + 1;
}

static int chan_fail(struct sink *s, int rc)
{
	return run_fail(s->r, rc, "migration stream: %s",
			s->ch->err[0] ? s->ch->err : strerror(-rc));
}

static int side_fail(struct sink *s, size_t i, int rc)
{
	return run_fail(s->r, rc, "side channel of device %zu: %s", i,
			s->side[i].err[0] ? s->side[i].err : strerror(-rc));
}

/* Announces the side channels on the main channel, then says hello on each: the
 * destination accepts them, in the order they connected, only after the announcement
 * (over TLS each hello waits for the destination's side of the handshake). */
static int setup_sides(struct sink *s)
{
	uint8_t hello[SIDE_HELLO_LEN];
	int rc =
		vfm_enc_section_start(s->ch, CHANNELS_SID, CHANNELS_IDSTR, (uint32_t)s->nr_side, 1);

	if (!rc)
		rc = vfm_enc_marker(s->ch, VFM_MIG_FLAG_DEV_SETUP_STATE);
	if (!rc)
		rc = vfm_enc_marker(s->ch, VFM_MIG_FLAG_END_OF_STATE);
	if (!rc)
		rc = vfm_enc_footer(s->ch, CHANNELS_SID);
	if (rc)
		return chan_fail(s, rc);
	for (size_t i = 0; i < s->nr_side; i++) {
		memcpy(hello, SIDE_MAGIC, 8);
		vfm_put_be32(hello + 8, (uint32_t)i);
		rc = vfm_chan_write(&s->side[i], hello, sizeof(hello));
		if (rc)
			return side_fail(s, i, rc);
	}
	return 0;
}

static int s_setup(struct sink *s, struct run *r, size_t n)
{
	int rc;

	s->r = r;
	s->n = n;
	run_chan(r, s->ch);
	for (size_t i = 0; i < s->nr_side; i++)
		run_chan(r, &s->side[i]);
	rc = vfm_enc_file_header(s->ch);
	for (size_t i = 0; !rc && i < n; i++) {
		rc = vfm_enc_section_start(s->ch, sid(i), SECTION_IDSTR, (uint32_t)i, 1);
		if (!rc)
			rc = vfm_enc_marker(s->ch, VFM_MIG_FLAG_DEV_SETUP_STATE);
		if (!rc)
			rc = vfm_enc_marker(s->ch, VFM_MIG_FLAG_END_OF_STATE);
		if (!rc)
			rc = vfm_enc_footer(s->ch, sid(i));
	}
	if (rc)
		return chan_fail(s, rc);
	return s->nr_side ? setup_sides(s) : 0;
}

static int s_part_begin(struct sink *s, size_t i)
{
	int rc = vfm_enc_section(s->ch, VFM_QEMU_VM_SECTION_PART, sid(i));

	return rc ? chan_fail(s, rc) : 0;
}

static int s_block(struct sink *s, size_t i, const struct iovec *iov, int cnt, size_t len)
{
	int rc;

	if (s->side_active[i]) {
		rc = vfm_enc_data_iov(&s->side[i], iov, cnt, len);
		return rc ? side_fail(s, i, rc) : 0;
	}
	rc = vfm_enc_data_iov(s->ch, iov, cnt, len);
	s->main_bytes[i] += len;
	return rc ? chan_fail(s, rc) : 0;
}

static int s_part_end(struct sink *s, size_t i, bool init_data_sent)
{
	int rc = vfm_enc_marker(s->ch, init_data_sent ? VFM_MIG_FLAG_DEV_INIT_DATA_SENT
						      : VFM_MIG_FLAG_END_OF_STATE);

	if (!rc && init_data_sent)
		s->announced[i]++;
	if (!rc)
		rc = vfm_enc_footer(s->ch, sid(i));
	return rc ? chan_fail(s, rc) : 0;
}

/* With side channels the device's END section on the main channel holds only
 * END_OF_STATE (as QEMU's multifd device state); it is written at completion. */
static int s_end_begin(struct sink *s, size_t i)
{
	uint8_t before[8];
	int rc;

	if (s->nr_side) {
		s->side_active[i] = true;
		vfm_put_be64(before, s->main_bytes[i]);
		rc = vfm_chan_write(&s->side[i], before, sizeof(before));
		return rc ? side_fail(s, i, rc) : 0;
	}
	rc = vfm_enc_section(s->ch, VFM_QEMU_VM_SECTION_END, sid(i));
	return rc ? chan_fail(s, rc) : 0;
}

static int end_section(struct sink *s, size_t i)
{
	int rc = vfm_enc_marker(s->ch, VFM_MIG_FLAG_END_OF_STATE);

	if (!rc)
		rc = vfm_enc_footer(s->ch, sid(i));
	return rc ? chan_fail(s, rc) : 0;
}

static int s_end_end(struct sink *s, size_t i)
{
	int rc;

	if (!s->nr_side)
		return end_section(s, i);
	rc = vfm_enc_marker(&s->side[i], VFM_MIG_FLAG_END_OF_STATE);
	return rc ? side_fail(s, i, rc) : 0;
}

static int s_ram_setup(struct sink *s, size_t i, uint64_t iova, uint64_t size)
{
	uint32_t id = RAM_SID_BASE + (uint32_t)i;
	int rc = vfm_enc_section_start(s->ch, id, RAM_IDSTR, (uint32_t)i, 1);

	(void)iova;
	(void)size;
	if (!rc)
		rc = vfm_enc_marker(s->ch, VFM_MIG_FLAG_DEV_SETUP_STATE);
	if (!rc)
		rc = vfm_enc_marker(s->ch, VFM_MIG_FLAG_END_OF_STATE);
	if (!rc)
		rc = vfm_enc_footer(s->ch, id);
	return rc ? chan_fail(s, rc) : 0;
}

static int s_ram_block(struct sink *s, size_t i, uint64_t iova, const void *buf, size_t len)
{
	uint32_t id = RAM_SID_BASE + (uint32_t)i;
	uint8_t h[8 + 8 + 8 + 8];
	int rc;

	/* The device may write the memory meanwhile (pre-copy): check and send one copy. */
	if (len > s->bounce_size) {
		uint8_t *b = realloc(s->bounce, len);

		if (!b)
			return run_fail(s->r, -ENOMEM, "out of memory for the DMA memory");
		s->bounce = b;
		s->bounce_size = len;
	}
	if (len)
		memcpy(s->bounce, buf, len);
	vfm_put_be64(h, VFM_MIG_FLAG_DEV_DATA_STATE);
	vfm_put_be64(h + 8, 16 + (uint64_t)len);
	vfm_put_be64(h + 16, iova);
	vfm_put_be64(h + 24, ram_check(iova, s->bounce, len));
	rc = vfm_enc_section(s->ch, VFM_QEMU_VM_SECTION_PART, id);
	if (!rc)
		rc = vfm_chan_write2(s->ch, h, sizeof(h), s->bounce, len);
	if (!rc)
		rc = vfm_enc_marker(s->ch, VFM_MIG_FLAG_END_OF_STATE);
	if (!rc)
		rc = vfm_enc_footer(s->ch, id);
	return rc ? chan_fail(s, rc) : 0;
}

/* A FAIL from the destination, as the run's error. */
static int dest_failed(struct sink *s, const struct vfm_ctl_msg *m)
{
	uint32_t e = m->len >= 4 ? vfm_get_be32((const uint8_t *)m->payload) : EIO;

	/* The peer's errno: only a plausible one is passed on (never 0, never positive). */
	if (e == 0 || e > 4095)
		e = EIO;
	return run_fail(s->r, -(int)e, "destination: %s", m->len > 4 ? m->payload + 4 : "failed");
}

/* ACK names the device whose initial data is loaded. */
static void note_ack(struct sink *s, const struct vfm_ctl_msg *m)
{
	uint32_t i = m->len >= 4 ? vfm_get_be32((const uint8_t *)m->payload) : UINT32_MAX;

	if (i < VFM_MAX_DEVICES)
		s->acks[i]++;
}

/* Waits for a message of `want` (or FAIL); -ETIMEDOUT / channel errors otherwise. */
static int expect(struct sink *s, uint8_t want, int timeout_ms, const char *what)
{
	struct vfm_ctl_msg m;

	for (;;) {
		int rc = vfm_ctl_recv(s->ch, &m, timeout_ms);

		if (rc == -ETIMEDOUT)
			return run_fail(s->r, rc, "destination did not answer (%s)", what);
		if (rc)
			return run_fail(s->r, rc, "lost the destination while waiting for %s: %s",
					what, s->ch->err[0] ? s->ch->err : strerror(-rc));
		if (m.type == VFM_CTL_FAIL)
			return dest_failed(s, &m);
		if (m.type == want)
			return 0;
		if (m.type == VFM_CTL_ACK) {
			note_ack(s, &m);
			continue;
		}
		return run_fail(s->r, -EBADMSG,
				"unexpected control message %u while waiting for %s", m.type, what);
	}
}

static int s_acked(struct sink *s, size_t i, bool *yes)
{
	struct vfm_ctl_msg m;

	if (!s->control || s->r->opts->no_switchover_ack) {
		*yes = true;
		return 0;
	}
	while (s->acks[i] < s->announced[i] || !s->announced[i]) {
		int rc = vfm_ctl_recv(s->ch, &m, 0);

		if (rc == -ETIMEDOUT)
			break;
		if (rc)
			return run_fail(s->r, rc, "lost the destination: %s",
					s->ch->err[0] ? s->ch->err : strerror(-rc));
		if (m.type == VFM_CTL_FAIL)
			return dest_failed(s, &m);
		if (m.type != VFM_CTL_ACK)
			return run_fail(s->r, -EBADMSG, "unexpected control message %u", m.type);
		note_ack(s, &m);
	}
	*yes = s->announced[i] && s->acks[i] >= s->announced[i];
	return 0;
}

static int s_complete(struct sink *s)
{
	struct vfm_ctl_msg m;
	int rc = 0;

	for (size_t i = 0; i < s->nr_side && !rc; i++) {
		rc = vfm_enc_section(s->ch, VFM_QEMU_VM_SECTION_END, sid(i));
		if (rc)
			return chan_fail(s, rc);
		rc = end_section(s, i);
	}
	if (!rc)
		rc = vfm_enc_eof(s->ch);
	if (rc)
		return chan_fail(s, rc);
	if (!s->control)
		return 0;
	rc = expect(s, VFM_CTL_READY, run_timeout_ms(s->r), "its devices to load the state");
	if (rc)
		return rc;
	rc = vfm_ctl_send(s->ch, VFM_CTL_COMMIT, NULL, 0);
	if (rc)
		return chan_fail(s, rc);
	/* Committed: from here the destination owns the devices' state, so a missing DONE
	 * is only a warning, not the run's error. */
	rc = vfm_ctl_recv(s->ch, &m, run_timeout_ms(s->r));
	for (size_t i = 0; i < s->n; i++)
		run_tl_dev(s->r, i)->t_running = run_elapsed(s->r);
	if (rc || m.type != VFM_CTL_DONE)
		vfm_log(&s->r->opts->log, VFM_LOG_WARN,
			"committed, but the destination did not confirm its devices run (%s)",
			rc ? strerror(-rc) : "unexpected message");
	return 0;
}

static void s_abort(struct sink *s)
{
	if (s->control)
		vfm_ctl_send(s->ch, VFM_CTL_ABORT, NULL, 0);
}

/* An empty PART section of the first device: the destination hears from a source whose
 * pre-copy has nothing to move for now, and tells it from a silent one. */
static int s_idle(struct sink *s)
{
	int rc;

	if (!s->control)
		return 0;
	rc = vfm_enc_section(s->ch, VFM_QEMU_VM_SECTION_PART, sid(0));
	if (!rc)
		rc = vfm_enc_marker(s->ch, VFM_MIG_FLAG_END_OF_STATE);
	if (!rc)
		rc = vfm_enc_footer(s->ch, sid(0));
	return rc ? chan_fail(s, rc) : 0;
}

static const struct sink_ops stream_ops = {
	.setup = s_setup,
	.part_begin = s_part_begin,
	.block = s_block,
	.part_end = s_part_end,
	.acked = s_acked,
	.end_begin = s_end_begin,
	.end_end = s_end_end,
	.ram_setup = s_ram_setup,
	.ram_block = s_ram_block,
	.complete = s_complete,
	.abort = s_abort,
	.idle = s_idle,
};

void sink_stream_init(struct sink *s, struct vfm_chan *ch, bool control)
{
	memset(s, 0, sizeof(*s));
	s->ops = &stream_ops;
	s->ch = ch;
	s->control = control;
}

void sink_stream_destroy(struct sink *s)
{
	free(s->bounce);
	s->bounce = NULL;
	s->bounce_size = 0;
}

void sink_stream_sides(struct sink *s, struct vfm_chan *side, size_t n)
{
	s->side = side;
	s->nr_side = n;
	s->parallel = n > 0;
}
