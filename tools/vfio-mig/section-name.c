// SPDX-License-Identifier: BSD-3-Clause
/* --section: re-encodes a stream with its device sections named, or checks their names. */
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

/* A START section: named (outgoing) or checked (incoming), if it is a device's. */
static int copy_start(struct renamer *r, const struct vfm_ev *ev, struct vfm_chan *out,
		      size_t *devs)
{
	const char *name = ev->idstr;
	uint32_t inst = ev->instance_id;

	if (strncmp(ev->idstr, "vfio-mig-", 9) && *devs < r->n) {
		if (r->incoming && strcmp(ev->idstr, r->names[*devs]))
			return vfm_errf(r->err, sizeof(r->err), -EBADMSG,
					"stream offset %llu: device section %zu is \"%s\", not the "
					"--section \"%s\"",
					(unsigned long long)ev->offset, *devs, ev->idstr,
					r->names[*devs]);
		if (!r->incoming) {
			name = r->names[*devs];
			inst = 0;
		}
		(*devs)++;
	}
	return vfm_enc_section_start(out, ev->section_id, name, inst, ev->version_id);
}

static int copy_event(struct renamer *r, struct vfm_dec *dec, const struct vfm_ev *ev,
		      struct vfm_chan *out, size_t *devs)
{
	switch (ev->type) {
	case VFM_EV_SECTION:
		if (ev->section_type == VFM_QEMU_VM_SECTION_START)
			return copy_start(r, ev, out, devs);
		return vfm_enc_section(out, ev->section_type, ev->section_id);
	case VFM_EV_MARKER:
		return vfm_enc_marker(out, ev->marker);
	case VFM_EV_DATA:
		return copy_data(dec, ev, out);
	case VFM_EV_FOOTER:
		return vfm_enc_footer(out, ev->section_id);
	default:
		return vfm_enc_eof(out);
	}
}

/* Copies from `from` to `to` until from ends (or either fails). */
static void pass_on(int from, int to)
{
	uint8_t buf[4096];
	ssize_t n;

	while ((n = read(from, buf, sizeof(buf))) > 0) {
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(to, buf + done, (size_t)(n - done));

			if (w <= 0)
				return;
			done += w;
		}
	}
}

static void *back_main(void *arg)
{
	struct renamer *r = arg;
	int from = r->incoming ? r->sv[0] : r->ext, to = r->incoming ? r->ext : r->sv[0];

	pass_on(from, to);
	shutdown(to, SHUT_WR);
	return NULL;
}

static void *renamer_main(void *arg)
{
	struct renamer *r = arg;
	int from = r->incoming ? r->ext : r->sv[0], to = r->incoming ? r->sv[0] : r->ext;
	struct vfm_chan in, out;
	struct vfm_dec dec;
	struct vfm_ev ev;
	size_t devs = 0;
	int rc;

	vfm_chan_init(&in, from, "stream");
	vfm_chan_init(&out, to, "stream");
	rc = vfm_dec_init(&dec, &in, 0);
	if (!rc)
		rc = vfm_enc_file_header(&out);
	while (!rc && !(rc = vfm_dec_next(&dec, &ev))) {
		rc = copy_event(r, &dec, &ev, &out, &devs);
		if (ev.type == VFM_EV_EOF)
			break;
	}
	if (rc && !r->err[0])
		vfm_errf(r->err, sizeof(r->err), rc, "%s",
			 out.err[0]   ? out.err
			 : dec.err[0] ? dec.err
				      : strerror(-rc));
	if (!rc && devs < r->n)
		rc = vfm_errf(r->err, sizeof(r->err), -EINVAL,
			      "%zu --section names for %zu device sections", r->n, devs);
	if (!rc && r->control)
		pass_on(from, to); /* COMMIT or ABORT after the stream */
	r->rc = rc;
	shutdown(r->sv[0], SHUT_RDWR); /* the engine sees the end, or EPIPE */
	if (r->control)
		shutdown(r->ext, SHUT_WR);
	return NULL;
}

int renamer_start(struct renamer *r, int ext, bool incoming, bool control, const char *const *names,
		  size_t n)
{
	*r = (struct renamer){
		.ext = ext, .incoming = incoming, .control = control, .names = names, .n = n};
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->sv))
		return -errno;
	if (control && pthread_create(&r->back, NULL, back_main, r)) {
		close(r->sv[0]);
		close(r->sv[1]);
		return -EAGAIN;
	}
	if (pthread_create(&r->thread, NULL, renamer_main, r)) {
		shutdown(r->sv[0], SHUT_RDWR);
		if (control) {
			shutdown(r->ext, SHUT_RD);
			pthread_join(r->back, NULL);
		}
		close(r->sv[0]);
		close(r->sv[1]);
		return -EAGAIN;
	}
	return 0;
}

int renamer_end(struct renamer *r)
{
	shutdown(r->sv[1], SHUT_WR);
	if (r->control)
		shutdown(r->ext, SHUT_RD);
	pthread_join(r->thread, NULL);
	if (r->control)
		pthread_join(r->back, NULL);
	close(r->sv[0]);
	close(r->sv[1]);
	return r->rc;
}
