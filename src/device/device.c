// SPDX-License-Identifier: BSD-3-Clause
/*
 * The device library: runs the kernel's path arc by arc over the author's callbacks and
 * owns the data session, enforcing the data-fd rules of uAPI doc sections 2 and 3.4.
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vfio-mig/device.h"
#include "vfio-mig/fsm.h"

enum session_kind {
	SESSION_NONE = 0,
	SESSION_SAVE,
	SESSION_RESUME,
};

struct vfm_device {
	pthread_mutex_t lock;
	struct vfm_device_config cfg;
	char name[64];
	const struct vfm_device_ops *ops;
	void *opaque;
	uint32_t state;
	vfm_session_id session; /* the open session, 0 if none */
	vfm_session_id last_id; /* ids are never reused */
	enum session_kind kind;
	bool end_of_stream;    /* STOP_COPY read returned 0: it stays 0 */
	uint64_t session_read; /* bytes read from the open session */
	bool migrated;	       /* a source whose whole state was saved (vfm_device_migrated) */
	bool precopy_v2;       /* the client opted in to PRECOPY_INFOv2 */
	char reason[160];      /* why the last call failed, from the callback */
};

int vfm_device_create(const struct vfm_device_config *cfg, const struct vfm_device_ops *ops,
		      void *opaque, struct vfm_device **out)
{
	struct vfm_device *dev;
	bool any_log, all_log;

	if (!cfg || !ops || !ops->step || !ops->save || !ops->load)
		return -EINVAL;
	if (!(cfg->flags & VFM_MIGRATION_STOP_COPY))
		return -EINVAL;
	if ((cfg->flags & VFM_MIGRATION_PRE_COPY) && !ops->precopy_info)
		return -EINVAL;
	any_log = ops->log_start || ops->log_stop || ops->log_report;
	all_log = ops->log_start && ops->log_stop && ops->log_report;
	if (any_log && !all_log)
		return -EINVAL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	if (pthread_mutex_init(&dev->lock, NULL)) {
		free(dev);
		return -ENOMEM;
	}
	dev->cfg = *cfg;
	snprintf(dev->name, sizeof(dev->name), "%s", cfg->name ? cfg->name : "device");
	dev->cfg.name = dev->name;
	dev->ops = ops;
	dev->opaque = opaque;
	dev->state = VFM_STATE_RUNNING;
	*out = dev;
	return 0;
}

void vfm_device_destroy(struct vfm_device *dev)
{
	if (!dev)
		return;
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

uint64_t vfm_device_flags(const struct vfm_device *dev)
{
	return dev->cfg.flags;
}

uint32_t vfm_device_violations(const struct vfm_device *dev)
{
	return dev->cfg.violations;
}

/* A deliberate violation the device was configured with (device.h, for checkers). */
static bool violates(const struct vfm_device *dev, enum vfm_violation v)
{
	return (dev->cfg.violations & v) != 0;
}

const char *vfm_device_name(const struct vfm_device *dev)
{
	return dev->name;
}

static void end_session(struct vfm_device *dev)
{
	if (dev->session)
		vfm_log(&dev->cfg.log, VFM_LOG_TRACE, "%s: session %llu ended", dev->name,
			(unsigned long long)dev->session);
	dev->session = 0;
	dev->kind = SESSION_NONE;
	dev->end_of_stream = false;
	dev->session_read = 0;
}

static void open_session(struct vfm_device *dev, uint32_t to)
{
	dev->session = ++dev->last_id;
	dev->kind = to == VFM_STATE_RESUMING ? SESSION_RESUME : SESSION_SAVE;
	dev->end_of_stream = false;
	dev->session_read = 0;
	vfm_log(&dev->cfg.log, VFM_LOG_TRACE, "%s: session %llu opened (%s)", dev->name,
		(unsigned long long)dev->session, dev->kind == SESSION_SAVE ? "save" : "resume");
}

/*
 * The device is the source of a completed migration once its STOP_COPY stream was read
 * to the end and it went STOP. That stays true through later stopped states (a save
 * begun again and cut keeps it) until the device runs again, resumes a state or is reset.
 */
static void note_migrated(struct vfm_device *dev, uint32_t from, uint32_t to)
{
	if (from == VFM_STATE_STOP_COPY && to == VFM_STATE_STOP && dev->end_of_stream)
		dev->migrated = true;
	else if (vfm_state_is_running(to) || to == VFM_STATE_RESUMING)
		dev->migrated = false;
}

/* One arc; on success the session bookkeeping follows the arc. */
static int run_arc(struct vfm_device *dev, uint32_t from, uint32_t to)
{
	bool to_error = false;
	int rc = dev->ops->step(dev->opaque, from, to, &to_error);

	if (rc && from == VFM_STATE_RESUMING && violates(dev, VFM_VIOLATE_ACCEPT_INVALID_DATA)) {
		rc = 0;
		to_error = false;
	}
	if (rc) {
		vfm_log(&dev->cfg.log, VFM_LOG_TRACE, "%s: arc %s -> %s failed: %s%s", dev->name,
			vfm_state_name(from), vfm_state_name(to), strerror(-rc),
			to_error ? " (device now ERROR)" : "");
		if (to_error) {
			end_session(dev);
			dev->state = VFM_STATE_ERROR;
		}
		return rc < 0 ? rc : -EIO;
	}
	vfm_log(&dev->cfg.log, VFM_LOG_TRACE, "%s: arc %s -> %s", dev->name, vfm_state_name(from),
		vfm_state_name(to));
	note_migrated(dev, from, to);
	if (vfm_arc_ends_session(from, to) && !violates(dev, VFM_VIOLATE_SESSION_SURVIVES_ARC))
		end_session(dev);
	if (vfm_arc_opens_session(from, to) && !violates(dev, VFM_VIOLATE_NO_FD_ON_OPENING_ARC))
		open_session(dev, to);
	else if (vfm_state_is_saving(from) && vfm_state_is_saving(to) &&
		 violates(dev, VFM_VIOLATE_FD_ON_NON_OPENING_ARC))
		open_session(dev, to);
	dev->state = to;
	return 0;
}

/* The violation that executes an arc the kernel refuses (uAPI doc 3.6). */
static bool take_refused_arc(const struct vfm_device *dev, uint32_t target)
{
	return violates(dev, VFM_VIOLATE_REFUSED_ARC_ACCEPTED) &&
	       dev->state == VFM_STATE_STOP_COPY && vfm_state_is_precopy(target) &&
	       vfm_state_supported(dev->cfg.flags, target);
}

int vfm_device_set_state(struct vfm_device *dev, uint32_t target, vfm_session_id *opened)
{
	vfm_session_id before;
	unsigned arcs = 0;
	int rc = 0;

	if (opened)
		*opened = 0;
	pthread_mutex_lock(&dev->lock);
	dev->reason[0] = '\0';
	before = dev->session;
	if (dev->state == VFM_STATE_ERROR) {
		/* Only a reset leaves ERROR; the kernel's next-state function refuses it. */
		rc = -EINVAL;
		goto out;
	}
	if (take_refused_arc(dev, target))
		rc = run_arc(dev, dev->state, target);
	while (!rc && dev->state != target) {
		uint32_t next;

		rc = vfm_fsm_next(dev->cfg.flags, dev->state, target, &next);
		if (rc)
			break;
		if (next == target && arcs && violates(dev, VFM_VIOLATE_WRONG_PATH))
			break; /* one arc short */
		rc = run_arc(dev, dev->state, next);
		arcs++;
	}
	/* fd-opening arcs are always last, so a new session means the request opened it. */
	if (!rc && dev->session && dev->session != before && opened)
		*opened = dev->session;
out:
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

bool vfm_device_migrated(struct vfm_device *dev)
{
	bool m;

	pthread_mutex_lock(&dev->lock);
	m = dev->migrated;
	pthread_mutex_unlock(&dev->lock);
	return m;
}

uint32_t vfm_device_get_state(struct vfm_device *dev)
{
	uint32_t s;

	pthread_mutex_lock(&dev->lock);
	s = dev->state;
	pthread_mutex_unlock(&dev->lock);
	return s;
}

int vfm_device_data_size(struct vfm_device *dev, uint64_t *len)
{
	int rc;

	if (!dev->ops->data_size)
		return -ENOTTY;
	pthread_mutex_lock(&dev->lock);
	rc = dev->ops->data_size(dev->opaque, len);
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

/* The session checks shared by read, write and precopy info. */
static int check_session(struct vfm_device *dev, vfm_session_id sid, enum session_kind kind)
{
	if (sid == 0 || sid > dev->last_id)
		return -EBADF;
	if (sid != dev->session)
		return -ENODEV;
	if (kind != dev->kind)
		return -EBADF;
	return 0;
}

/* What a read at the end of the STOP_COPY stream returns: 0, unless a violation says not. */
static ssize_t stop_copy_end(const struct vfm_device *dev, void *buf, size_t len)
{
	if (violates(dev, VFM_VIOLATE_STREAM_NOT_ENDING)) {
		memset(buf, 0, len);
		return (ssize_t)len;
	}
	return violates(dev, VFM_VIOLATE_ENOMSG_IN_STOP_COPY) ? -ENOMSG : 0;
}

ssize_t vfm_device_read(struct vfm_device *dev, vfm_session_id sid, void *buf, size_t len)
{
	ssize_t n;
	int rc;

	pthread_mutex_lock(&dev->lock);
	dev->reason[0] = '\0';
	rc = check_session(dev, sid, SESSION_SAVE);
	if (rc) {
		n = rc;
		goto out;
	}
	if (len == 0) {
		n = 0;
		goto out;
	}
	n = dev->end_of_stream && dev->state == VFM_STATE_STOP_COPY
		    ? 0
		    : dev->ops->save(dev->opaque, buf, len);
	if (n > (ssize_t)len)
		n = -EIO;
	if (n == 0 && dev->state == VFM_STATE_STOP_COPY) {
		dev->end_of_stream = true;
		n = stop_copy_end(dev, buf, len);
	} else if (n == 0 && dev->cfg.precopy_end_enomsg) {
		n = -ENOMSG;
	}
	if (n > 0)
		dev->session_read += (uint64_t)n;
out:
	pthread_mutex_unlock(&dev->lock);
	return n;
}

ssize_t vfm_device_read_iov(struct vfm_device *dev, vfm_session_id sid, struct iovec *iov, int *cnt,
			    size_t len)
{
	int room = *cnt;
	ssize_t n;
	int rc;

	*cnt = 0;
	if (!dev->ops->save_iov || dev->cfg.violations)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&dev->lock);
	dev->reason[0] = '\0';
	rc = check_session(dev, sid, SESSION_SAVE);
	if (rc) {
		n = rc;
	} else if (len == 0 || room <= 0 ||
		   (dev->end_of_stream && dev->state == VFM_STATE_STOP_COPY)) {
		n = 0;
	} else {
		*cnt = room;
		n = dev->ops->save_iov(dev->opaque, iov, cnt, len);
		if (n > (ssize_t)len || *cnt < 0 || *cnt > room || (n > 0 && *cnt == 0))
			n = -EIO;
		if (n <= 0)
			*cnt = 0;
		if (n == 0 && dev->state == VFM_STATE_STOP_COPY)
			dev->end_of_stream = true;
		else if (n == 0 && dev->cfg.precopy_end_enomsg)
			n = -ENOMSG;
	}
	if (n > 0)
		dev->session_read += (uint64_t)n;
	pthread_mutex_unlock(&dev->lock);
	return n;
}

ssize_t vfm_device_write_at(struct vfm_device *dev, vfm_session_id sid, void **at, size_t len)
{
	ssize_t n;
	int rc;

	*at = NULL;
	if (!dev->ops->load_at)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&dev->lock);
	dev->reason[0] = '\0';
	rc = check_session(dev, sid, SESSION_RESUME);
	if (rc)
		n = rc;
	else if (len == 0)
		n = 0;
	else
		n = dev->ops->load_at(dev->opaque, at, len);
	if (n > (ssize_t)len || (n == 0 && len))
		n = -EIO;
	if (n < 0)
		*at = NULL;
	pthread_mutex_unlock(&dev->lock);
	return n;
}

ssize_t vfm_device_write(struct vfm_device *dev, vfm_session_id sid, const void *buf, size_t len)
{
	ssize_t n;
	int rc;

	pthread_mutex_lock(&dev->lock);
	dev->reason[0] = '\0';
	rc = check_session(dev, sid, SESSION_RESUME);
	if (rc)
		n = rc;
	else if (len == 0)
		n = 0;
	else
		n = dev->ops->load(dev->opaque, buf, len);
	if (!rc && n < 0 && violates(dev, VFM_VIOLATE_ACCEPT_INVALID_DATA))
		n = (ssize_t)len;
	if (n > (ssize_t)len)
		n = -EIO;
	pthread_mutex_unlock(&dev->lock);
	return n;
}

/* The callback for the client's uAPI version, and the flags it reports. */
static int precopy_numbers(struct vfm_device *dev, uint64_t *initial, uint64_t *dirty,
			   uint32_t *flags)
{
	/* A client that did not opt in gets the v1 numbers and flags 0, unless the device
	 * deliberately reports REINIT to it. */
	bool v2 = dev->ops->precopy_info_v2 &&
		  (dev->precopy_v2 || violates(dev, VFM_VIOLATE_REINIT_WITHOUT_OPT_IN));
	uint32_t in = *flags;
	bool reinit = false;
	int rc;

	*flags = 0;
	if (v2)
		rc = dev->ops->precopy_info_v2(dev->opaque, initial, dirty, &reinit);
	else
		rc = dev->ops->precopy_info(dev->opaque, initial, dirty);
	if (rc)
		return rc;
	if (reinit) {
		*flags = VFM_PRECOPY_INFO_REINIT;
		if (violates(dev, VFM_VIOLATE_REINIT_NO_INITIAL)) {
			*dirty += *initial;
			*initial = 0;
		}
	}
	if (dev->precopy_v2 && violates(dev, VFM_VIOLATE_PRECOPY_FLAGS_ECHO))
		*flags |= in;
	return 0;
}

int vfm_device_precopy_info(struct vfm_device *dev, vfm_session_id sid, uint64_t *initial,
			    uint64_t *dirty, uint32_t *flags)
{
	uint32_t f = flags ? *flags : 0;
	int rc;

	pthread_mutex_lock(&dev->lock);
	if (!vfm_state_is_precopy(dev->state))
		rc = -EINVAL;
	else
		rc = check_session(dev, sid, SESSION_SAVE);
	if (!rc)
		rc = precopy_numbers(dev, initial, dirty, &f);
	if (!rc && violates(dev, VFM_VIOLATE_PRECOPY_GROWS))
		*initial += 2 * dev->session_read; /* grows by what was read */
	pthread_mutex_unlock(&dev->lock);
	if (!rc && flags)
		*flags = f;
	return rc;
}

bool vfm_device_precopy_v2(struct vfm_device *dev)
{
	bool on;

	pthread_mutex_lock(&dev->lock);
	on = dev->precopy_v2;
	pthread_mutex_unlock(&dev->lock);
	return on;
}

void vfm_device_client_closed(struct vfm_device *dev)
{
	pthread_mutex_lock(&dev->lock);
	dev->precopy_v2 = false;
	pthread_mutex_unlock(&dev->lock);
}

/* For feature.c: the opt-in of PRECOPY_INFOv2, once its checks passed. */
void vfm_device_set_precopy_v2(struct vfm_device *dev);

void vfm_device_set_precopy_v2(struct vfm_device *dev)
{
	pthread_mutex_lock(&dev->lock);
	dev->precopy_v2 = true;
	vfm_log(&dev->cfg.log, VFM_LOG_TRACE, "%s: client opted in to PRECOPY_INFOv2", dev->name);
	pthread_mutex_unlock(&dev->lock);
}

vfm_session_id vfm_device_session(struct vfm_device *dev)
{
	vfm_session_id s;

	pthread_mutex_lock(&dev->lock);
	s = dev->session;
	pthread_mutex_unlock(&dev->lock);
	return s;
}

int vfm_device_reset(struct vfm_device *dev)
{
	int rc = 0;

	pthread_mutex_lock(&dev->lock);
	if (!violates(dev, VFM_VIOLATE_SESSION_SURVIVES_RESET))
		end_session(dev);
	if (dev->ops->reset)
		rc = dev->ops->reset(dev->opaque);
	dev->migrated = false;
	dev->state =
		violates(dev, VFM_VIOLATE_RESET_NOT_RUNNING) ? VFM_STATE_STOP : VFM_STATE_RUNNING;
	vfm_log(&dev->cfg.log, VFM_LOG_TRACE, "%s: reset, now %s", dev->name,
		vfm_state_name(dev->state));
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

void vfm_device_reason(struct vfm_device *dev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->reason, sizeof(dev->reason), fmt, ap);
	va_end(ap);
}

void vfm_device_last_reason(struct vfm_device *dev, char *buf, size_t len)
{
	pthread_mutex_lock(&dev->lock);
	snprintf(buf, len, "%s", dev->reason);
	pthread_mutex_unlock(&dev->lock);
}

void vfm_device_fail(struct vfm_device *dev)
{
	pthread_mutex_lock(&dev->lock);
	end_session(dev);
	dev->state = VFM_STATE_ERROR;
	vfm_log(&dev->cfg.log, VFM_LOG_TRACE, "%s: device failed, now ERROR", dev->name);
	pthread_mutex_unlock(&dev->lock);
}

/* For feature.c: the callbacks under the device lock. */
const struct vfm_device_ops *vfm_device_ops_locked(struct vfm_device *dev, void **opaque);
void vfm_device_unlock(struct vfm_device *dev);

const struct vfm_device_ops *vfm_device_ops_locked(struct vfm_device *dev, void **opaque)
{
	pthread_mutex_lock(&dev->lock);
	*opaque = dev->opaque;
	return dev->ops;
}

void vfm_device_unlock(struct vfm_device *dev)
{
	pthread_mutex_unlock(&dev->lock);
}
