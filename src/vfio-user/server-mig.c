// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user server, migration side: VERSION negotiation, DEVICE_FEATURE (forwarded to
 * vfm_device_feature(), plus our pre-copy info extension), MIG_DATA_READ/WRITE on the
 * device's current session, DEVICE_RESET, and the recovery when a client leaves.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "server.h"
#include "util.h"
#include "vfio-mig/fsm.h"

#define FEAT_HDR sizeof(struct vfm_vu_feature)

/* ---- VERSION ---- */

static void reply_caps(const struct vfm_vu_server *srv, const struct vfm_vu_caps *peer,
		       struct vfm_vu_caps *out)
{
	vfm_vu_caps_default(out);
	out->max_msg_fds = srv->max_fds;
	out->max_data_xfer_size = srv->max_xfer;
	out->max_dma_maps = srv->max_dma_maps;
	out->pgsizes = 4096;
	/* The capability list is a subset of what the client proposed. */
	out->write_multiple = peer->write_multiple;
	out->has_migration = peer->has_migration;
	out->mig_pgsize = 4096;
	out->mig_max_bitmap_size = (uint64_t)srv->max_xfer;
	if (!srv->no_ext) {
		out->ext_mig_data_size = peer->ext_mig_data_size;
		out->ext_precopy_info = peer->ext_precopy_info;
		out->ext_precopy_flags = peer->ext_precopy_info && peer->ext_precopy_flags;
	}
}

int vu_handle_version(struct vfm_vu_server *srv, struct vu_req *rq)
{
	struct vu_version_buf rep;
	struct vfm_vu_version v;
	struct vfm_vu_caps caps;
	int n, rc;

	if (srv->c.negotiated)
		return vu_fail(srv, -EINVAL, "VERSION sent twice");
	memcpy(&v, rq->body, sizeof(v));
	if (v.major != VFM_VU_MAJOR) {
		vu_fail(srv, -ENOTSUP, "client proposes version %u.%u, we speak %u.x", v.major,
			v.minor, VFM_VU_MAJOR);
		return vu_send_error(srv, &rq->hdr, -ENOTSUP) ? VU_GONE : VU_CLOSE;
	}
	rc = vfm_vu_caps_parse((const char *)rq->body + sizeof(v), rq->len - sizeof(v),
			       &srv->c.peer, srv->err, sizeof(srv->err));
	if (rc) {
		vu_send_error(srv, &rq->hdr, rc);
		return VU_CLOSE;
	}
	reply_caps(srv, &srv->c.peer, &caps);
	n = vfm_vu_caps_format(&caps, rep.json, sizeof(rep.json));
	if (n < 0)
		return vu_fail(srv, n, "cannot format capabilities");
	rep.major = VFM_VU_MAJOR;
	rep.minor = VFM_MIN(v.minor, VFM_VU_MINOR);
	srv->c.negotiated = true;
	srv->c.ext = caps.ext_mig_data_size || caps.ext_precopy_info;
	srv->c.write_multi = caps.write_multiple;
	vfm_log(&srv->log, VFM_LOG_DEBUG, "vfio-user: version %u.%u, client caps: xfer %u fds %u%s",
		rep.major, rep.minor, srv->c.peer.max_data_xfer_size, srv->c.peer.max_msg_fds,
		srv->c.ext ? ", vfio-mig extension" : "");
	return vu_reply(srv, rq, &rep, VU_VERSION_FIXED + (size_t)n);
}

/* ---- DEVICE_FEATURE ---- */

/* The vendor pre-copy info feature, with the kernel core's check order. */
static int feat_precopy_info(struct vfm_vu_server *srv, struct vu_req *rq,
			     const struct vfm_vu_feature *f)
{
	struct {
		uint32_t argsz;
		uint32_t flags;
		struct vfm_vu_precopy_info_flags info;
	} VFM_VU_PACKED rep = {0};
	const size_t short_len = FEAT_HDR + sizeof(struct vfm_vu_precopy_info);
	/* The flags travel when negotiated and the client made room for them (argsz 32). */
	bool with_flags = srv->c.peer.ext_precopy_flags && !srv->no_ext && f->argsz >= sizeof(rep);
	uint64_t initial, dirty;
	uint32_t pflags = 0;
	int rc;

	if (f->flags & VFM_DEVICE_FEATURE_SET)
		return -EINVAL;
	if (f->flags & VFM_DEVICE_FEATURE_PROBE)
		return vu_reply(srv, rq, rq->body, FEAT_HDR);
	if (!(f->flags & VFM_DEVICE_FEATURE_GET) || f->argsz < short_len)
		return -EINVAL;
	if (with_flags && rq->len >= sizeof(rep))
		memcpy(&pflags,
		       rq->body + FEAT_HDR + offsetof(struct vfm_vu_precopy_info_flags, flags),
		       sizeof(pflags));
	rc = vfm_device_precopy_info(srv->dev, vfm_device_session(srv->dev), &initial, &dirty,
				     &pflags);
	if (rc)
		return rc;
	rep.argsz = with_flags ? (uint32_t)sizeof(rep) : (uint32_t)short_len;
	rep.flags = f->flags;
	rep.info.initial_bytes = initial;
	rep.info.dirty_bytes = dirty;
	rep.info.flags = pflags;
	return vu_reply(srv, rq, &rep, rep.argsz);
}

/* Space for the device's view of the feature at tx + 16. */
static int feature_buffer(struct vfm_vu_server *srv, size_t need)
{
	int rc = vu_buf_reserve(&srv->tx, &srv->tx_cap, sizeof(struct vfm_vu_hdr) + need,
				vfm_vu_max_msg(srv->max_xfer));

	return rc == -E2BIG ? vu_fail(srv, -EINVAL, "feature argsz %zu over the limit", need) : rc;
}

/*
 * DMA_LOGGING_START: the wire carries the ranges at offset 16 of the payload, the device
 * API after the kernel's 24-byte control. Translate both ways.
 */
static int feat_log_start(struct vfm_vu_server *srv, struct vu_req *rq,
			  const struct vfm_vu_feature *f)
{
	const size_t dctl = sizeof(struct vfm_device_feature_dma_logging_control);
	const size_t range = sizeof(struct vfm_device_feature_dma_logging_range);
	struct vfm_vu_dma_logging_control ctl;
	struct vfm_device_feature_dma_logging_control dc = {0};
	struct vfm_device_feature *df;
	size_t ranges_len, need, reply_len;
	const uint8_t *ranges = rq->body + FEAT_HDR + sizeof(ctl);
	int rc;

	if (rq->len < FEAT_HDR + sizeof(ctl))
		return vu_fail(srv, -EINVAL, "DMA_LOGGING_START: payload of %zu bytes", rq->len);
	memcpy(&ctl, rq->body + FEAT_HDR, sizeof(ctl));
	if (ctl.num_ranges > VFM_DMA_LOGGING_MAX_RANGES)
		return vu_fail(srv, -E2BIG, "DMA_LOGGING_START: %u ranges", ctl.num_ranges);
	ranges_len = (size_t)ctl.num_ranges * range;
	if (rq->len < FEAT_HDR + sizeof(ctl) + ranges_len)
		return vu_fail(srv, -EINVAL, "DMA_LOGGING_START: %u ranges, %zu bytes",
			       ctl.num_ranges, rq->len);
	if (!srv->c.nr_dma || !vu_dma_covers(&srv->c, &ctl, ranges))
		return vu_fail(srv, -EINVAL, "DMA_LOGGING_START: ranges outside the DMA mappings");
	need = FEAT_HDR + dctl + ranges_len;
	rc = feature_buffer(srv, need);
	if (rc)
		return rc;
	df = (struct vfm_device_feature *)(srv->tx + sizeof(struct vfm_vu_hdr));
	df->argsz = (uint32_t)need;
	df->flags = f->flags;
	dc.page_size = ctl.page_size;
	dc.num_ranges = ctl.num_ranges;
	memcpy(df->data, &dc, dctl);
	memcpy(df->data + dctl, ranges, ranges_len);
	rc = vfm_device_feature(srv->dev, df, need, &reply_len, NULL);
	if (rc)
		return rc;
	memcpy(&dc, df->data, dctl);
	ctl.page_size = dc.page_size;
	/* Reply in the wire layout: the request with the page size the device chose. */
	df->argsz = (uint32_t)(FEAT_HDR + sizeof(ctl) + ranges_len);
	memcpy(df->data, &ctl, sizeof(ctl));
	memmove(df->data + sizeof(ctl), ranges, ranges_len);
	srv->c.logging = true;
	return vu_reply_tx(srv, rq, FEAT_HDR + sizeof(ctl) + ranges_len);
}

static bool is_set(uint32_t flags)
{
	return (flags & VFM_DEVICE_FEATURE_SET) && !(flags & VFM_DEVICE_FEATURE_PROBE);
}

static void track_logging(struct vfm_vu_server *srv, uint32_t flags)
{
	if (is_set(flags) &&
	    (flags & VFM_DEVICE_FEATURE_MASK) == VFM_DEVICE_FEATURE_DMA_LOGGING_STOP)
		srv->c.logging = false;
}

int vu_handle_feature(struct vfm_vu_server *srv, struct vu_req *rq)
{
	struct vfm_vu_feature f;
	struct vfm_vu_feature *out;
	uint32_t index;
	size_t need, reply_len;
	int rc;

	memcpy(&f, rq->body, sizeof(f));
	index = f.flags & VFM_DEVICE_FEATURE_MASK;
	if (index == VFM_VU_FEATURE_PRECOPY_INFO && !srv->no_ext)
		return feat_precopy_info(srv, rq, &f);
	if (index == VFM_DEVICE_FEATURE_MIG_DATA_SIZE && srv->no_ext)
		return -ENOTTY;
	if (is_set(f.flags) && f.argsz > rq->len)
		return vu_fail(srv, -EINVAL, "FEATURE SET 0x%x: argsz %u, payload %zu bytes",
			       f.flags, f.argsz, rq->len);
	if (index == VFM_DEVICE_FEATURE_DMA_LOGGING_START && is_set(f.flags))
		return feat_log_start(srv, rq, &f);
	if (index == VFM_DEVICE_FEATURE_DMA_LOGGING_REPORT &&
	    !(f.flags & VFM_DEVICE_FEATURE_PROBE) && !srv->c.logging)
		return vu_fail(srv, -EINVAL, "DMA_LOGGING_REPORT without DMA_LOGGING_START");
	need = VFM_MAX(rq->len, (size_t)f.argsz);
	rc = feature_buffer(srv, need);
	if (rc)
		return rc;
	out = (struct vfm_vu_feature *)(srv->tx + sizeof(struct vfm_vu_hdr));
	memcpy(out, rq->body, rq->len);
	memset((uint8_t *)out + rq->len, 0, need - rq->len);
	rc = vfm_device_feature(srv->dev, out, need, &reply_len, NULL);
	if (rc)
		return rc;
	track_logging(srv, f.flags);
	if (f.flags & (VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_PROBE)) {
		/* SET and PROBE: the reply payload is the request payload. */
		reply_len = VFM_MAX(reply_len, rq->len);
		out->argsz = f.argsz;
	} else {
		out->argsz = (uint32_t)reply_len;
	}
	return vu_reply_tx(srv, rq, reply_len);
}

/* ---- migration data ---- */

/*
 * Fills buf with up to len bytes of the device's stream. Fewer bytes mean the end of the
 * data (the spec's rule for the reply): in STOP_COPY the end of the stream, in PRE_COPY
 * the temporary end a device signals with 0 bytes or, like its data fd would, ENOMSG.
 * ENOMSG in STOP_COPY breaks the uAPI: it goes to the client as the error it is.
 */
static ssize_t read_stream(struct vfm_vu_server *srv, uint8_t *buf, size_t len)
{
	vfm_session_id sid = vfm_device_session(srv->dev);
	bool precopy = vfm_device_get_state(srv->dev) != VFM_STATE_STOP_COPY;
	size_t got = 0;

	while (got < len) {
		ssize_t n = vfm_device_read(srv->dev, sid, buf + got, len - got);

		if (n == 0 || (n == -ENOMSG && precopy))
			break;
		if (n < 0)
			return n;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int vu_handle_mig_read(struct vfm_vu_server *srv, struct vu_req *rq)
{
	const size_t fixed = sizeof(struct vfm_vu_hdr) + sizeof(struct vfm_vu_mig_data);
	struct vfm_vu_mig_data md;
	struct vfm_vu_mig_data *out;
	uint32_t state = vfm_device_get_state(srv->dev);
	ssize_t n;
	int rc;

	memcpy(&md, rq->body, sizeof(md));
	if (md.size > srv->max_xfer)
		return vu_fail(srv, -EINVAL, "MIG_DATA_READ of %u bytes, max_data_xfer_size %u",
			       md.size, srv->max_xfer);
	if ((uint64_t)md.argsz < sizeof(md) + (uint64_t)md.size)
		return vu_fail(srv, -EINVAL, "MIG_DATA_READ: argsz %u cannot hold %u bytes",
			       md.argsz, md.size);
	if (!vfm_state_is_saving(state))
		return vu_fail(srv, -EINVAL, "MIG_DATA_READ in %s", vfm_state_name(state));
	rc = vu_buf_reserve(&srv->tx, &srv->tx_cap, fixed + md.size, vfm_vu_max_msg(srv->max_xfer));
	if (rc)
		return rc;
	n = read_stream(srv, srv->tx + fixed, md.size);
	if (n < 0)
		return (int)n;
	out = (struct vfm_vu_mig_data *)(srv->tx + sizeof(struct vfm_vu_hdr));
	out->argsz = (uint32_t)(sizeof(md) + (size_t)n);
	out->size = (uint32_t)n;
	srv->stats.bytes_read += (uint64_t)n;
	if ((size_t)n == md.size || srv->c.ext)
		return vu_reply_tx(srv, rq, sizeof(md) + (size_t)n);
	/*
	 * The end of the data, to a client that is not ours: zeros up to the size asked
	 * after what argsz and size count. libvfio-user's client takes no reply shorter
	 * than the buffer it offered; a client that frames by msg_size and reads size
	 * bytes, as the spec's fields allow, takes both.
	 */
	memset(srv->tx + fixed + n, 0, md.size - (size_t)n);
	return vu_reply_tx(srv, rq, sizeof(md) + md.size);
}

int vu_handle_mig_write(struct vfm_vu_server *srv, struct vu_req *rq)
{
	struct vfm_vu_mig_data md;
	uint32_t state = vfm_device_get_state(srv->dev);
	vfm_session_id sid = vfm_device_session(srv->dev);
	const uint8_t *p = rq->body + sizeof(md);
	size_t left;

	memcpy(&md, rq->body, sizeof(md));
	left = rq->len - sizeof(md);
	if (md.size != left)
		return vu_fail(srv, -EINVAL, "MIG_DATA_WRITE: size %u but %zu data bytes", md.size,
			       left);
	if (md.size > srv->max_xfer)
		return vu_fail(srv, -EINVAL, "MIG_DATA_WRITE of %u bytes, max_data_xfer_size %u",
			       md.size, srv->max_xfer);
	if (state != VFM_STATE_RESUMING)
		return vu_fail(srv, -EINVAL, "MIG_DATA_WRITE in %s", vfm_state_name(state));
	while (left) {
		ssize_t n = vfm_device_write(srv->dev, sid, p, left);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return vu_fail(srv, -EIO, "the device took no bytes");
		p += n;
		left -= (size_t)n;
	}
	srv->stats.bytes_written += md.size;
	return vu_reply(srv, rq, NULL, 0);
}

int vu_handle_reset(struct vfm_vu_server *srv, struct vu_req *rq)
{
	int rc = vfm_device_reset(srv->dev);

	if (rc)
		return rc;
	return vu_reply(srv, rq, NULL, 0);
}

/* ---- a client left ---- */

static void stop_logging(struct vfm_vu_server *srv)
{
	struct vfm_device_feature f = {
		.argsz = sizeof(f),
		.flags = VFM_DEVICE_FEATURE_SET | VFM_DEVICE_FEATURE_DMA_LOGGING_STOP,
	};

	if (!srv->c.logging)
		return;
	srv->c.logging = false;
	(void)vfm_device_feature(srv->dev, &f, sizeof(f), NULL, NULL);
}

/*
 * A migrated source never runs because a client left: its destination may run. It goes
 * back to STOP (from a save begun again) and stays there until a client sets a running
 * state, loads a state or resets it. false when that failed: the device is then reset,
 * never started.
 */
static bool keep_stopped(struct vfm_vu_server *srv, uint32_t state)
{
	if (state != VFM_STATE_STOP && state != VFM_STATE_STOP_COPY)
		return false;
	if (state == VFM_STATE_STOP_COPY && vfm_device_set_state(srv->dev, VFM_STATE_STOP, NULL))
		return false;
	vfm_log(&srv->log, VFM_LOG_INFO,
		"vfio-user: %s: client left; a migrated source stays STOP until it is started, "
		"loaded or reset",
		vfm_device_name(srv->dev));
	return true;
}

void vu_recover_device(struct vfm_vu_server *srv)
{
	uint32_t state = vfm_device_get_state(srv->dev);
	bool migrated = vfm_device_migrated(srv->dev);
	int rc = 0;

	stop_logging(srv);
	vfm_device_client_closed(srv->dev);
	if (state == VFM_STATE_RUNNING)
		return;
	if (migrated && keep_stopped(srv, state))
		return;
	srv->stats.recoveries++;
	if (migrated || state == VFM_STATE_RESUMING || state == VFM_STATE_ERROR)
		rc = -1;
	else
		rc = vfm_device_set_state(srv->dev, VFM_STATE_RUNNING, NULL);
	if (rc)
		rc = vfm_device_reset(srv->dev);
	vfm_log(&srv->log, rc ? VFM_LOG_ERROR : VFM_LOG_INFO,
		"vfio-user: %s: client left in %s; device %s%s", vfm_device_name(srv->dev),
		vfm_state_name(state), vfm_state_name(vfm_device_get_state(srv->dev)),
		rc ? " (reset failed)" : "");
}
