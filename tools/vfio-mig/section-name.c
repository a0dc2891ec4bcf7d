// SPDX-License-Identifier: BSD-3-Clause
/* save --section: re-encodes the engine's stream with the devices' sections renamed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "section-name.h"
#include "util.h"

static int copy_data(struct vfm_dec *dec, const struct vfm_ev *ev, struct vfm_chan *out)
{
	static __thread uint8_t buf[64 << 10];
	uint8_t hdr[16];
	uint64_t left = ev->size;
	int rc;

	vfm_put_be64(hdr, VFM_MIG_FLAG_DEV_DATA_STATE);
	vfm_put_be64(hdr + 8, ev->size);
	rc = vfm_chan_write(out, hdr, sizeof(hdr));
	while (!rc && left) {
		ssize_t n = vfm_dec_data(dec, buf, sizeof(buf));

		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE;
		rc = vfm_chan_write(out, buf, (size_t)n);
		left -= (uint64_t)n;
	}
	return rc;
}

static int copy_event(struct renamer *r, struct vfm_dec *dec, const struct vfm_ev *ev, size_t *devs)
{
	switch (ev->type) {
	case VFM_EV_SECTION:
		if (ev->section_type != VFM_QEMU_VM_SECTION_START)
			return vfm_enc_section(r->out, ev->section_type, ev->section_id);
		if (!strncmp(ev->idstr, "vfio-mig-", 9) || *devs >= r->n)
			return vfm_enc_section_start(r->out, ev->section_id, ev->idstr,
						     ev->instance_id, ev->version_id);
		return vfm_enc_section_start(r->out, ev->section_id, r->names[(*devs)++], 0,
					     ev->version_id);
	case VFM_EV_MARKER:
		return vfm_enc_marker(r->out, ev->marker);
	case VFM_EV_DATA:
		return copy_data(dec, ev, r->out);
	case VFM_EV_FOOTER:
		return vfm_enc_footer(r->out, ev->section_id);
	default:
		return vfm_enc_eof(r->out);
	}
}

static void *renamer_main(void *arg)
{
	struct renamer *r = arg;
	struct vfm_chan in;
	struct vfm_dec dec;
	struct vfm_ev ev;
	size_t devs = 0;
	int rc;

	vfm_chan_init(&in, r->sv[0], "the engine's stream");
	rc = vfm_dec_init(&dec, &in, 0);
	if (!rc)
		rc = vfm_enc_file_header(r->out);
	while (!rc && !(rc = vfm_dec_next(&dec, &ev))) {
		rc = copy_event(r, &dec, &ev, &devs);
		if (ev.type == VFM_EV_EOF)
			break;
	}
	if (rc)
		vfm_errf(r->err, sizeof(r->err), rc, "%s",
			 r->out->err[0] ? r->out->err
			 : dec.err[0]	? dec.err
					: strerror(-rc));
	if (!rc && devs < r->n)
		rc = vfm_errf(r->err, sizeof(r->err), -EINVAL,
			      "%zu --section names for %zu device sections", r->n, devs);
	r->rc = rc;
	shutdown(r->sv[0], SHUT_RDWR); /* an engine still writing sees EPIPE */
	return NULL;
}

int renamer_start(struct renamer *r, struct vfm_chan *out, const char *const *names, size_t n)
{
	r->out = out;
	r->names = names;
	r->n = n;
	r->rc = 0;
	r->err[0] = '\0';
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->sv))
		return -errno;
	if (pthread_create(&r->thread, NULL, renamer_main, r)) {
		close(r->sv[0]);
		close(r->sv[1]);
		return -EAGAIN;
	}
	return 0;
}

int renamer_end(struct renamer *r)
{
	shutdown(r->sv[1], SHUT_WR);
	pthread_join(r->thread, NULL);
	close(r->sv[0]);
	close(r->sv[1]);
	return r->rc;
}
