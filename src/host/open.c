// SPDX-License-Identifier: BSD-3-Clause
/* Opens a device handle from its spec string, by the transport the prefix names. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "util.h"
#include "vfio-mig/handle.h"
#ifdef VFM_HAVE_VFIO_USER
#include "vfio-mig/vfio-user.h"
#endif
#ifdef VFM_HAVE_KERNEL
#include "vfio-mig/kernel.h"
#endif

static bool has_prefix(const char *s, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);

	if (strncmp(s, prefix, n) != 0)
		return false;
	*rest = s + n;
	return true;
}

int vfm_handle_open(const char *spec, const struct vfm_open_opts *opts, struct vfm_handle **out,
		    char *err, size_t errlen)
{
	return vfm_handle_open_cancellable(spec, opts, NULL, out, err, errlen);
}

int vfm_handle_open_cancellable(const char *spec, const struct vfm_open_opts *opts,
				volatile sig_atomic_t *cancel, struct vfm_handle **out, char *err,
				size_t errlen)
{
	const char *rest;

	*out = NULL;
	if (!spec || !*spec)
		return vfm_errf(err, errlen, -EINVAL, "empty device spec");
	if (has_prefix(spec, "local:", &rest))
		return vfm_local_open(rest, opts, out, err, errlen);
#ifdef VFM_HAVE_VFIO_USER
	if (has_prefix(spec, "unix:", &rest))
		return vfm_vu_open_cancellable(rest, opts, cancel, out, err, errlen);
#endif
#ifdef VFM_HAVE_KERNEL
	if (has_prefix(spec, "vfio:", &rest))
		return vfm_kernel_open_cdev(rest, opts, out, err, errlen);
	if (has_prefix(spec, "vfio-group:", &rest))
		return vfm_kernel_open_group(rest, opts, out, err, errlen);
#endif
	return vfm_errf(err, errlen, -EINVAL,
			"unknown device spec '%s' (expected local:, unix:, vfio: or vfio-group:)",
			spec);
}
