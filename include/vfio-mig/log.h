/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging: the library never prints; it hands messages to a callback.
 *
 * Threads: the engine calls the callback from its helper threads too, possibly at the
 * same time: the callback must be safe to call from several threads.
 */
#ifndef VFIO_MIG_LOG_H
#define VFIO_MIG_LOG_H

enum vfm_log_level {
	VFM_LOG_ERROR = 0,
	VFM_LOG_WARN = 1,
	VFM_LOG_INFO = 2,
	VFM_LOG_DEBUG = 3,
	VFM_LOG_TRACE = 4, /* every arc, every state change */
};

typedef void (*vfm_log_fn)(void *opaque, enum vfm_log_level level, const char *msg);

struct vfm_logger {
	vfm_log_fn fn;
	void *opaque;
	enum vfm_log_level max_level;
};

#endif /* VFIO_MIG_LOG_H */
