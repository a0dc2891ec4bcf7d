// SPDX-License-Identifier: BSD-3-Clause
/* One VFIO device's sections out of a whole QEMU stream, as a vfio-mig stream. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qemu-int.h"
#include "util.h"
#include "vfio-mig/stream.h"

#define COPY_CHUNK (64u << 10)

static bool wanted(const struct vfm_qs_ev *ev, const char *idstr, uint32_t instance)
{
	return ev->sec && ev->sec->kind == VFM_QS_KIND_VFIO && ev->sec->instance_id == instance &&
	       ev->section_type != VFM_QEMU_VM_SECTION_FULL && !strcmp(ev->sec->idstr, idstr);
}

/* A data block: the marker and size, then its bytes as the reader gives them. */
static int copy_block(struct vfm_qs_reader *rd, const struct vfm_qs_ev *ev, struct vfm_chan *out,
		      uint8_t *buf)
{
	uint8_t hdr[16];
	uint64_t left = ev->size;
	int rc;

	vfm_put_be64(hdr, VFM_MIG_FLAG_DEV_DATA_STATE);
	vfm_put_be64(hdr + 8, ev->size);
	rc = vfm_chan_write(out, hdr, sizeof(hdr));
	while (!rc && left) {
		ssize_t n = vfm_qs_data(rd, buf, COPY_CHUNK);

		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE;
		rc = vfm_chan_write(out, buf, (size_t)n);
		left -= (uint64_t)n;
	}
	return rc;
}

/* Writes one element of the wanted section. Footers are ours: written after each body's
 * terminator whether or not the QEMU stream has them. */
static int copy_event(struct vfm_qs_reader *rd, const struct vfm_qs_ev *ev, struct vfm_chan *out,
		      uint8_t *buf)
{
	int rc;

	switch (ev->type) {
	case VFM_QS_EV_SECTION:
		if (ev->section_type == VFM_QEMU_VM_SECTION_START)
			return vfm_enc_section_start(out, ev->sec->id, ev->sec->idstr,
						     ev->sec->instance_id, ev->sec->version_id);
		return vfm_enc_section(out, ev->section_type, ev->sec->id);
	case VFM_QS_EV_MARKER:
		rc = vfm_enc_marker(out, ev->marker);
		if (!rc && ev->marker != VFM_MIG_FLAG_DEV_SETUP_STATE)
			rc = vfm_enc_footer(out, ev->sec->id);
		return rc;
	case VFM_QS_EV_DATA:
		return copy_block(rd, ev, out, buf);
	default:
		return 0;
	}
}

int vfm_qs_extract(struct vfm_qs_reader *rd, const char *idstr, uint32_t instance,
		   struct vfm_chan *out, char *err, size_t errlen)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	struct vfm_qs_ev ev;
	bool found = false;
	int rc;

	if (!buf)
		return vfm_errf(err, errlen, -ENOMEM, "out of memory");
	rc = vfm_enc_file_header(out);
	while (!rc && (rc = vfm_qs_next(rd, &ev)) == 0) {
		if (!wanted(&ev, idstr, instance))
			continue;
		found = true;
		rc = copy_event(rd, &ev, out, buf);
		if (rc && out->err[0])
			vfm_errf(err, errlen, rc, "%s", out->err);
	}
	free(buf);
	if (rc != -ENODATA) {
		if (rd->err[0])
			vfm_errf(err, errlen, rc, "QEMU stream: %s", rd->err);
		else if (!out->err[0])
			vfm_errf(err, errlen, rc, "%s", strerror(-rc));
		return rc;
	}
	if (!found)
		return vfm_errf(err, errlen, -ENOENT, "no VFIO section \"%s\" instance %u", idstr,
				instance);
	rc = vfm_enc_eof(out);
	return rc ? vfm_errf(err, errlen, rc, "%s", out->err) : 0;
}
