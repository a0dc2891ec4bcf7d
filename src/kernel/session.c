// SPDX-License-Identifier: BSD-3-Clause
/*
 * Kernel data transfer sessions: the migration data fd a SET MIG_DEVICE_STATE returned.
 * read()/write() as the kernel answers them (short counts and -ENOMSG passed up; the
 * engine loops), VFIO_MIG_GET_PRECOPY_INFO, close.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "khandle.h"
#include "vfio-mig/uapi.h"

static struct vfm_ksession *to_ks(struct vfm_session *s)
{
	return (struct vfm_ksession *)s;
}

int vfm_ksession_new(struct vfm_khandle *k, int fd, uint32_t state, struct vfm_session **out)
{
	struct vfm_ksession *ks = calloc(1, sizeof(*ks));

	if (!ks) {
		close(fd);
		return vfm_handle_fail(&k->h, -ENOMEM, "out of memory for a data session");
	}
	ks->s.h = &k->h;
	ks->s.saving = state != VFM_STATE_RESUMING;
	ks->fd = fd;
	*out = &ks->s;
	return 0;
}

ssize_t vfm_ksession_read(struct vfm_session *s, void *buf, size_t len)
{
	ssize_t n;

	do {
		n = read(to_ks(s)->fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n > len)
		return vfm_handle_fail(s->h, -EPROTO, "read() on the data fd returned %zd > %zu", n,
				       len);
	return n;
}

ssize_t vfm_ksession_write(struct vfm_session *s, const void *buf, size_t len)
{
	ssize_t n;

	do {
		n = write(to_ks(s)->fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n > len)
		return vfm_handle_fail(s->h, -EPROTO, "write() on the data fd returned %zd > %zu",
				       n, len);
	return n;
}

int vfm_ksession_precopy_info(struct vfm_session *s, uint64_t *initial, uint64_t *dirty,
			      uint32_t *flags)
{
	struct vfm_precopy_info info = {.argsz = sizeof(info), .flags = *flags};
	int rc = vfm_kioctl(to_ks(s)->fd, VFM_MIG_GET_PRECOPY_INFO, &info);

	if (rc < 0)
		return rc;
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	*flags = info.flags;
	return 0;
}

void vfm_ksession_close(struct vfm_session *s)
{
	struct vfm_ksession *ks = to_ks(s);

	if (ks->fd >= 0)
		close(ks->fd);
	free(ks);
}
