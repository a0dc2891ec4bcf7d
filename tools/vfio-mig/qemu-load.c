// SPDX-License-Identifier: BSD-3-Clause
/*
 * load from a whole QEMU stream: the VFIO section to take (named, or the only one), and
 * a thread that turns that section into a vfio-mig stream on a socket pair, which the
 * library's loader reads like any other stream.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qemu-load.h"
#include "vfio-mig.h"

bool qemu_stream_file(int fd)
{
	struct stat st;
	uint8_t b;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread(fd, &b, 1, 8) == 1 && b == 0x07;
}

/* Walks the whole stream once: the VFIO sections in it. */
static int list_vfio(int fd, const char *path, char names[][256], size_t max, size_t *n)
{
	struct vfm_qs_reader *rd;
	struct vfm_qs_ev ev;
	char err[VFM_QS_ERR_LEN];
	int rc = vfm_qs_open(&rd, fd, err, sizeof(err));

	*n = 0;
	if (rc)
		return fail("load: %s: %s", path, err);
	while ((rc = vfm_qs_next(rd, &ev)) == 0)
		;
	if (rc != -ENODATA) {
		rc = fail("load: %s: %s", path, vfm_qs_error(rd));
		vfm_qs_close(rd);
		return rc;
	}
	for (size_t i = 0; i < vfm_qs_nr_sections(rd); i++) {
		const struct vfm_qs_section *s = vfm_qs_section(rd, i);

		if (s->kind == VFM_QS_KIND_VFIO && s->started && *n < max)
			snprintf(names[(*n)++], 256, "%s", s->idstr);
	}
	vfm_qs_close(rd);
	return lseek(fd, 0, SEEK_SET) == 0 ? 0 : fail("load: %s: cannot rewind", path);
}

static int list_error(const char *path, const char *why, char names[][256], size_t n)
{
	fprintf(stderr, "error: load: %s: %s; its VFIO sections:%s\n", path, why, n ? "" : " none");
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "  %s\n", names[i]);
	return EXIT_USAGE;
}

int qemu_pick_section(int fd, const char *path, const char *section, char *out, size_t len)
{
	char names[64][256];
	size_t n;
	int rc;

	if (!qemu_stream_file(fd)) { /* a pipe, or a stream of ours: taken as named */
		snprintf(out, len, "%s", section);
		return 0;
	}
	rc = list_vfio(fd, path, names, 64, &n);
	if (rc)
		return rc;
	for (size_t i = 0; section && i < n; i++) {
		if (!strcmp(names[i], section)) {
			snprintf(out, len, "%s", section);
			return 0;
		}
	}
	if (section)
		return list_error(path, "no such VFIO section", names, n);
	if (n != 1)
		return list_error(path, "name the section with --section", names, n);
	snprintf(out, len, "%s", names[0]);
	return 0;
}

static void *feed_main(void *arg)
{
	struct qemu_feed *f = arg;
	struct vfm_qs_reader *rd;
	struct vfm_chan out;

	vfm_chan_init(&out, f->sv[1], "extracted section");
	f->rc = vfm_qs_open(&rd, f->fd, f->err, sizeof(f->err));
	if (!f->rc) {
		f->rc = vfm_qs_extract(rd, f->section, 0, &out, f->err, sizeof(f->err));
		vfm_qs_close(rd);
	}
	shutdown(f->sv[1], SHUT_WR);
	return NULL;
}

int qemu_feed_start(struct qemu_feed *f, int fd, const char *section)
{
	f->fd = fd;
	f->section = section;
	f->rc = 0;
	f->err[0] = '\0';
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv))
		return -errno;
	if (pthread_create(&f->thread, NULL, feed_main, f)) {
		close(f->sv[0]);
		close(f->sv[1]);
		return -EAGAIN;
	}
	return 0;
}

int qemu_feed_end(struct qemu_feed *f)
{
	shutdown(f->sv[0], SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->sv[0]);
	close(f->sv[1]);
	return f->rc;
}

bool qemu_feed_failed(const struct qemu_feed *f)
{
	return f->rc == -ENOENT || (f->rc && !strncmp(f->err, "QEMU stream", 11));
}
