// SPDX-License-Identifier: BSD-3-Clause
/*
 * vfio-user codec: headers, replies, per-command minimum sizes and the VERSION
 * capabilities JSON. Pure functions; nothing here touches a socket.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <json-c/json.h>

#include "util.h"
#include "vfio-mig/vfio-user-proto.h"

static const char *const cmd_names[VFM_VU_CMD_MAX] = {
	[VFM_VU_VERSION] = "VERSION",
	[VFM_VU_DMA_MAP] = "DMA_MAP",
	[VFM_VU_DMA_UNMAP] = "DMA_UNMAP",
	[VFM_VU_DEVICE_GET_INFO] = "DEVICE_GET_INFO",
	[VFM_VU_DEVICE_GET_REGION_INFO] = "DEVICE_GET_REGION_INFO",
	[VFM_VU_DEVICE_GET_REGION_IO_FDS] = "DEVICE_GET_REGION_IO_FDS",
	[VFM_VU_DEVICE_GET_IRQ_INFO] = "DEVICE_GET_IRQ_INFO",
	[VFM_VU_DEVICE_SET_IRQS] = "DEVICE_SET_IRQS",
	[VFM_VU_REGION_READ] = "REGION_READ",
	[VFM_VU_REGION_WRITE] = "REGION_WRITE",
	[VFM_VU_DMA_READ] = "DMA_READ",
	[VFM_VU_DMA_WRITE] = "DMA_WRITE",
	[VFM_VU_DEVICE_RESET] = "DEVICE_RESET",
	[VFM_VU_REGION_WRITE_MULTI] = "REGION_WRITE_MULTI",
	[VFM_VU_DEVICE_FEATURE] = "DEVICE_FEATURE",
	[VFM_VU_MIG_DATA_READ] = "MIG_DATA_READ",
	[VFM_VU_MIG_DATA_WRITE] = "MIG_DATA_WRITE",
};

const char *vfm_vu_cmd_name(uint32_t cmd)
{
	if (cmd >= VFM_VU_CMD_MAX || !cmd_names[cmd])
		return "UNKNOWN";
	return cmd_names[cmd];
}

void vfm_vu_hdr_command(struct vfm_vu_hdr *h, uint16_t id, uint16_t cmd, uint32_t msg_size,
			bool no_reply)
{
	h->msg_id = id;
	h->cmd = cmd;
	h->msg_size = msg_size;
	h->flags = VFM_VU_F_TYPE_COMMAND | (no_reply ? VFM_VU_F_NO_REPLY : 0);
	h->error = 0;
}

void vfm_vu_hdr_reply(struct vfm_vu_hdr *h, const struct vfm_vu_hdr *req, uint32_t msg_size)
{
	h->msg_id = req->msg_id;
	h->cmd = req->cmd;
	h->msg_size = msg_size;
	h->flags = VFM_VU_F_TYPE_REPLY;
	h->error = 0;
}

void vfm_vu_hdr_error(struct vfm_vu_hdr *h, const struct vfm_vu_hdr *req, int err)
{
	vfm_vu_hdr_reply(h, req, sizeof(*h));
	h->flags |= VFM_VU_F_ERROR;
	h->error = (uint32_t)(err < 0 ? -err : err);
}

int vfm_vu_hdr_check(const struct vfm_vu_hdr *h, uint32_t max_msg, char *err, size_t errlen)
{
	uint32_t type = h->flags & VFM_VU_F_TYPE_MASK;

	if (h->msg_size < sizeof(*h))
		return vfm_errf(err, errlen, -EINVAL, "message %u (%s): size %u below the header",
				h->msg_id, vfm_vu_cmd_name(h->cmd), h->msg_size);
	if (h->msg_size > max_msg)
		return vfm_errf(err, errlen, -E2BIG, "message %u (%s): size %u over the limit %u",
				h->msg_id, vfm_vu_cmd_name(h->cmd), h->msg_size, max_msg);
	if (type != VFM_VU_F_TYPE_COMMAND && type != VFM_VU_F_TYPE_REPLY)
		return vfm_errf(err, errlen, -EINVAL, "message %u: unknown type %u", h->msg_id,
				type);
	if (h->flags & ~(VFM_VU_F_TYPE_MASK | VFM_VU_F_NO_REPLY | VFM_VU_F_ERROR))
		return vfm_errf(err, errlen, -EINVAL, "message %u: reserved flags 0x%x", h->msg_id,
				h->flags);
	return 0;
}

int vfm_vu_reply_check(const struct vfm_vu_hdr *rep, uint16_t id, uint16_t cmd, uint32_t min_body,
		       uint32_t max_msg, char *err, size_t errlen)
{
	int rc = vfm_vu_hdr_check(rep, max_msg, err, errlen);

	if (rc)
		return -EPROTO;
	if ((rep->flags & VFM_VU_F_TYPE_MASK) != VFM_VU_F_TYPE_REPLY || rep->msg_id != id ||
	    rep->cmd != cmd)
		return vfm_errf(err, errlen, -EPROTO,
				"expected the reply to %s id %u, got %s %s id %u",
				vfm_vu_cmd_name(cmd), id,
				(rep->flags & VFM_VU_F_TYPE_MASK) ? "reply" : "command",
				vfm_vu_cmd_name(rep->cmd), rep->msg_id);
	if (rep->flags & VFM_VU_F_ERROR) {
		int e = rep->error && rep->error < 4096 ? (int)rep->error : EIO;

		return vfm_errf(err, errlen, -e, "%s failed on the server: %s",
				vfm_vu_cmd_name(cmd), strerror(e));
	}
	if (rep->msg_size - sizeof(*rep) < min_body)
		return vfm_errf(err, errlen, -EPROTO, "reply to %s: %u bytes, need at least %u",
				vfm_vu_cmd_name(cmd), rep->msg_size, (unsigned)(min_body + 16));
	return 0;
}

int vfm_vu_request_min_body(uint32_t cmd)
{
	switch (cmd) {
	case VFM_VU_VERSION:
		return sizeof(struct vfm_vu_version);
	case VFM_VU_DMA_MAP:
		return sizeof(struct vfm_vu_dma_map);
	case VFM_VU_DMA_UNMAP:
		return sizeof(struct vfm_vu_dma_unmap);
	case VFM_VU_DEVICE_GET_INFO:
		return sizeof(struct vfm_vu_device_info);
	case VFM_VU_DEVICE_GET_REGION_INFO:
		return sizeof(struct vfm_vu_region_info);
	case VFM_VU_DEVICE_GET_REGION_IO_FDS:
		return sizeof(struct vfm_vu_region_io_fds);
	case VFM_VU_DEVICE_GET_IRQ_INFO:
		return sizeof(struct vfm_vu_irq_info);
	case VFM_VU_DEVICE_SET_IRQS:
		return sizeof(struct vfm_vu_irq_set);
	case VFM_VU_REGION_READ:
	case VFM_VU_REGION_WRITE:
		return sizeof(struct vfm_vu_region_access);
	case VFM_VU_DMA_READ:
	case VFM_VU_DMA_WRITE:
		return sizeof(struct vfm_vu_dma_access);
	case VFM_VU_DEVICE_RESET:
		return 0;
	case VFM_VU_REGION_WRITE_MULTI:
		return sizeof(struct vfm_vu_write_multi);
	case VFM_VU_DEVICE_FEATURE:
		return sizeof(struct vfm_vu_feature);
	case VFM_VU_MIG_DATA_READ:
	case VFM_VU_MIG_DATA_WRITE:
		return sizeof(struct vfm_vu_mig_data);
	default:
		return -1;
	}
}

void vfm_vu_caps_default(struct vfm_vu_caps *c)
{
	memset(c, 0, sizeof(*c));
	c->max_msg_fds = VFM_VU_DEFAULT_MAX_FDS;
	c->max_data_xfer_size = VFM_VU_DEFAULT_MAX_XFER;
	c->max_dma_maps = VFM_VU_DEFAULT_MAX_DMA_MAPS;
	c->pgsizes = VFM_VU_DEFAULT_PGSIZES;
	c->twin_fd_index = -1;
}

/* ---- parsing ---- */

struct caps_parse {
	char *err;
	size_t errlen;
};

static json_object *get_typed(json_object *obj, const char *key, json_type type, int *rc,
			      const struct caps_parse *p)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return NULL;
	if (!json_object_is_type(v, type)) {
		*rc = vfm_errf(p->err, p->errlen, -EINVAL, "capability \"%s\" has the wrong type",
			       key);
		return NULL;
	}
	return v;
}

static int get_uint(json_object *obj, const char *key, uint64_t lo, uint64_t hi, uint64_t *out,
		    bool *present, const struct caps_parse *p)
{
	int rc = 0;
	json_object *v = get_typed(obj, key, json_type_int, &rc, p);
	int64_t s;
	uint64_t u;

	if (!v)
		return rc;
	s = json_object_get_int64(v);
	if (s < 0)
		return vfm_errf(p->err, p->errlen, -EINVAL, "capability \"%s\" is negative", key);
	u = json_object_get_uint64(v);
	if (u < lo || u > hi)
		return vfm_errf(p->err, p->errlen, -EINVAL,
				"capability \"%s\" = %" PRIu64 " outside [%" PRIu64 ", %" PRIu64
				"]",
				key, u, lo, hi);
	*out = u;
	if (present)
		*present = true;
	return 0;
}

static int get_bool(json_object *obj, const char *key, bool *out, const struct caps_parse *p)
{
	int rc = 0;
	json_object *v = get_typed(obj, key, json_type_boolean, &rc, p);

	if (v)
		*out = json_object_get_boolean(v);
	return rc;
}

static int parse_twin(json_object *caps, struct vfm_vu_caps *c, const struct caps_parse *p)
{
	int rc = 0;
	json_object *t = get_typed(caps, "twin_socket", json_type_object, &rc, p);
	uint64_t idx;
	bool has_idx = false;

	if (!t)
		return rc;
	rc = get_bool(t, "supported", &c->twin_supported, p);
	if (!rc)
		rc = get_uint(t, "fd_index", 0, VFM_VU_HARD_MAX_FDS - 1, &idx, &has_idx, p);
	if (!rc && has_idx)
		c->twin_fd_index = (int32_t)idx;
	return rc;
}

static int parse_migration(json_object *caps, struct vfm_vu_caps *c, const struct caps_parse *p)
{
	int rc = 0;
	json_object *m = get_typed(caps, "migration", json_type_object, &rc, p);
	json_object *ext;

	if (!m)
		return rc;
	c->has_migration = true;
	rc = get_uint(m, "pgsize", 1, UINT64_MAX, &c->mig_pgsize, NULL, p);
	if (!rc)
		rc = get_uint(m, "max_bitmap_size", 0, UINT64_MAX, &c->mig_max_bitmap_size, NULL,
			      p);
	if (rc)
		return rc;
	ext = get_typed(m, "vfio-mig", json_type_object, &rc, p);
	if (!ext)
		return rc;
	rc = get_bool(ext, "mig_data_size", &c->ext_mig_data_size, p);
	if (!rc)
		rc = get_bool(ext, "precopy_info", &c->ext_precopy_info, p);
	if (!rc)
		rc = get_bool(ext, "precopy_flags", &c->ext_precopy_flags, p);
	return rc;
}

static int parse_caps(json_object *caps, struct vfm_vu_caps *c, const struct caps_parse *p)
{
	uint64_t v;
	bool has;
	int rc;

	has = false;
	rc = get_uint(caps, "max_msg_fds", 0, 1024, &v, &has, p);
	if (!rc && has)
		c->max_msg_fds = (uint32_t)v;
	has = false;
	if (!rc)
		rc = get_uint(caps, "max_data_xfer_size", 1, 1u << 30, &v, &has, p);
	if (!rc && has)
		c->max_data_xfer_size = (uint32_t)v;
	has = false;
	if (!rc)
		rc = get_uint(caps, "max_dma_maps", 0, UINT32_MAX, &v, &has, p);
	if (!rc && has)
		c->max_dma_maps = (uint32_t)v;
	if (!rc)
		rc = get_uint(caps, "pgsizes", 1, UINT64_MAX, &c->pgsizes, NULL, p);
	if (!rc)
		rc = get_bool(caps, "write_multiple", &c->write_multiple, p);
	if (!rc)
		rc = parse_twin(caps, c, p);
	if (!rc)
		rc = parse_migration(caps, c, p);
	return rc;
}

int vfm_vu_caps_parse(const char *json, size_t len, struct vfm_vu_caps *c, char *err, size_t errlen)
{
	struct caps_parse p = {err, errlen};
	const char *nul;
	json_tokener *tok;
	json_object *root, *caps;
	int rc = 0;

	vfm_vu_caps_default(c);
	if (len == 0)
		return 0;
	if (len > VFM_VU_MAX_JSON)
		return vfm_errf(err, errlen, -EINVAL, "version data of %zu bytes, limit %u", len,
				VFM_VU_MAX_JSON);
	nul = memchr(json, '\0', len);
	if (!nul)
		return vfm_errf(err, errlen, -EINVAL, "version data lacks its terminating NUL");
	tok = json_tokener_new_ex(16);
	if (!tok)
		return vfm_errf(err, errlen, -ENOMEM, "out of memory parsing version data");
	root = json_tokener_parse_ex(tok, json, (int)(nul - json));
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)(nul - json)) {
		json_object_put(root);
		json_tokener_free(tok);
		return vfm_errf(err, errlen, -EINVAL, "version data is not one JSON object");
	}
	json_tokener_free(tok);
	if (!json_object_is_type(root, json_type_object)) {
		rc = vfm_errf(err, errlen, -EINVAL, "version data is not a JSON object");
		goto out;
	}
	caps = get_typed(root, "capabilities", json_type_object, &rc, &p);
	if (caps)
		rc = parse_caps(caps, c, &p);
out:
	json_object_put(root);
	return rc;
}

/* ---- formatting ---- */

static int add_int(json_object *o, const char *key, int64_t v)
{
	json_object *n = json_object_new_int64(v);

	if (!n || json_object_object_add(o, key, n)) {
		json_object_put(n);
		return -ENOMEM;
	}
	return 0;
}

static int add_bool(json_object *o, const char *key, bool v)
{
	json_object *n = json_object_new_boolean(v);

	if (!n || json_object_object_add(o, key, n)) {
		json_object_put(n);
		return -ENOMEM;
	}
	return 0;
}

static int add_obj(json_object *o, const char *key, json_object **child)
{
	*child = json_object_new_object();
	if (!*child || json_object_object_add(o, key, *child)) {
		json_object_put(*child);
		return -ENOMEM;
	}
	return 0;
}

static int format_migration(const struct vfm_vu_caps *c, json_object *caps)
{
	json_object *m, *ext;
	int rc = add_obj(caps, "migration", &m);

	if (!rc)
		rc = add_int(m, "pgsize", (int64_t)c->mig_pgsize);
	if (!rc && c->mig_max_bitmap_size)
		rc = add_int(m, "max_bitmap_size", (int64_t)c->mig_max_bitmap_size);
	if (rc || !(c->ext_mig_data_size || c->ext_precopy_info))
		return rc;
	rc = add_obj(m, "vfio-mig", &ext);
	if (!rc)
		rc = add_bool(ext, "mig_data_size", c->ext_mig_data_size);
	if (!rc)
		rc = add_bool(ext, "precopy_info", c->ext_precopy_info);
	if (!rc && c->ext_precopy_flags)
		rc = add_bool(ext, "precopy_flags", true);
	return rc;
}

static int format_caps(const struct vfm_vu_caps *c, json_object *caps)
{
	json_object *twin;
	int rc = add_int(caps, "max_msg_fds", c->max_msg_fds);

	if (!rc)
		rc = add_int(caps, "max_data_xfer_size", c->max_data_xfer_size);
	if (!rc)
		rc = add_int(caps, "max_dma_maps", c->max_dma_maps);
	if (!rc)
		rc = add_int(caps, "pgsizes", (int64_t)c->pgsizes);
	if (!rc && c->write_multiple)
		rc = add_bool(caps, "write_multiple", true);
	if (!rc && c->twin_supported) {
		rc = add_obj(caps, "twin_socket", &twin);
		if (!rc)
			rc = add_bool(twin, "supported", true);
		if (!rc && c->twin_fd_index >= 0)
			rc = add_int(twin, "fd_index", c->twin_fd_index);
	}
	if (!rc && c->has_migration)
		rc = format_migration(c, caps);
	return rc;
}

int vfm_vu_caps_format(const struct vfm_vu_caps *c, char *buf, size_t len)
{
	json_object *root = json_object_new_object();
	json_object *caps;
	const char *s;
	size_t n;
	int rc;

	if (!root)
		return -ENOMEM;
	rc = add_obj(root, "capabilities", &caps);
	if (!rc)
		rc = format_caps(c, caps);
	if (rc) {
		json_object_put(root);
		return rc;
	}
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	n = s ? strlen(s) + 1 : 0;
	if (!s || n > len || n > INT32_MAX)
		rc = s ? -ENOSPC : -ENOMEM;
	else
		memcpy(buf, s, n);
	json_object_put(root);
	return rc ? rc : (int)n;
}
