// SPDX-License-Identifier: BSD-3-Clause
/* Control messages of a live migration over a socket (see stream.h). */
#include <errno.h>
#include <string.h>

#include "util.h"
#include "vfio-mig/stream.h"

int vfm_ctl_send(struct vfm_chan *ch, uint8_t type, const void *payload, uint16_t len)
{
	uint8_t h[8];

	if (len > VFM_CTL_MAX_PAYLOAD)
		return -EINVAL;
	vfm_put_be32(h, VFM_CTL_MAGIC);
	h[4] = type;
	h[5] = 0;
	h[6] = (uint8_t)(len >> 8);
	h[7] = (uint8_t)len;
	return vfm_chan_write2(ch, h, sizeof(h), payload, len);
}

int vfm_ctl_send_fail(struct vfm_chan *ch, int err, const char *reason)
{
	uint8_t buf[VFM_CTL_MAX_PAYLOAD];
	size_t n = strnlen(reason, sizeof(buf) - 4);

	vfm_put_be32(buf, (uint32_t)(err < 0 ? -err : err));
	memcpy(buf + 4, reason, n);
	return vfm_ctl_send(ch, VFM_CTL_FAIL, buf, (uint16_t)(n + 4));
}

int vfm_ctl_recv(struct vfm_chan *ch, struct vfm_ctl_msg *msg, int timeout_ms)
{
	int ms = ch->timeout_ms ? ch->timeout_ms : VFM_CHAN_TIMEOUT_MS;
	double deadline;
	uint8_t h[8];
	int rc;

	rc = vfm_chan_poll(ch, timeout_ms);
	if (rc <= 0)
		return rc == 0 ? -ETIMEDOUT : rc;
	/* Once it begins, the whole message within the channel's timeout: a peer that sends
	 * a byte and falls silent must not hold the wait open. */
	deadline = ms < 0 ? 0 : vfm_now() + ms / 1e3;
	rc = deadline ? vfm_chan_read_by(ch, h, sizeof(h), deadline)
		      : vfm_chan_read(ch, h, sizeof(h));
	if (rc)
		return rc;
	if (vfm_get_be32(h) != VFM_CTL_MAGIC || h[4] < VFM_CTL_ACK || h[4] > VFM_CTL_FAIL)
		return vfm_errf(ch->err, sizeof(ch->err), -EBADMSG,
				"%s: malformed control message at offset %llu", ch->name,
				(unsigned long long)(ch->pos - sizeof(h)));
	msg->type = h[4];
	msg->len = (uint16_t)(h[6] << 8 | h[7]);
	if (msg->len > VFM_CTL_MAX_PAYLOAD)
		return vfm_errf(ch->err, sizeof(ch->err), -EBADMSG,
				"%s: control message of %u bytes exceeds %d", ch->name, msg->len,
				VFM_CTL_MAX_PAYLOAD);
	rc = deadline ? vfm_chan_read_by(ch, msg->payload, msg->len, deadline)
		      : vfm_chan_read(ch, msg->payload, msg->len);
	if (rc)
		return rc;
	msg->payload[msg->len] = '\0';
	return 0;
}
