// SPDX-License-Identifier: BSD-3-Clause
/* Encoder of QEMU's savevm framing and VFIO device sections (uAPI doc 6.2, 6.3). */
#include <errno.h>
#include <string.h>

#include "util.h"
#include "vfio-mig/stream.h"

int vfm_enc_file_header(struct vfm_chan *ch)
{
	uint8_t b[8];

	vfm_put_be32(b, VFM_QEMU_VM_FILE_MAGIC);
	vfm_put_be32(b + 4, VFM_QEMU_VM_FILE_VERSION);
	return vfm_chan_write(ch, b, sizeof(b));
}

int vfm_enc_section_start(struct vfm_chan *ch, uint32_t section_id, const char *idstr,
			  uint32_t instance_id, uint32_t version_id)
{
	size_t len = strlen(idstr);
	uint8_t b[1 + 4 + 1 + 255 + 4 + 4];
	size_t n = 0;

	if (len == 0 || len > 255)
		return vfm_errf(ch->err, sizeof(ch->err), -EINVAL,
				"section id string must be 1 to 255 bytes, not %zu", len);
	b[n++] = VFM_QEMU_VM_SECTION_START;
	vfm_put_be32(b + n, section_id);
	n += 4;
	b[n++] = (uint8_t)len;
	memcpy(b + n, idstr, len);
	n += len;
	vfm_put_be32(b + n, instance_id);
	n += 4;
	vfm_put_be32(b + n, version_id);
	n += 4;
	return vfm_chan_write(ch, b, n);
}

int vfm_enc_section(struct vfm_chan *ch, uint8_t type, uint32_t section_id)
{
	uint8_t b[5];

	if (type != VFM_QEMU_VM_SECTION_PART && type != VFM_QEMU_VM_SECTION_END)
		return vfm_errf(ch->err, sizeof(ch->err), -EINVAL, "not a PART/END section: %u",
				type);
	b[0] = type;
	vfm_put_be32(b + 1, section_id);
	return vfm_chan_write(ch, b, sizeof(b));
}

int vfm_enc_marker(struct vfm_chan *ch, uint64_t marker)
{
	uint8_t b[8];

	vfm_put_be64(b, marker);
	return vfm_chan_write(ch, b, sizeof(b));
}

int vfm_enc_data(struct vfm_chan *ch, const void *buf, uint64_t len)
{
	struct iovec v = {.iov_base = (void *)buf, .iov_len = (size_t)len};

	return vfm_enc_data_iov(ch, &v, 1, len);
}

int vfm_enc_data_iov(struct vfm_chan *ch, const struct iovec *iov, int cnt, uint64_t len)
{
	struct iovec v[VFM_ENC_MAX_IOV + 1];
	uint64_t sum = 0;
	uint8_t b[16];

	if (cnt < 0 || cnt > VFM_ENC_MAX_IOV)
		return vfm_errf(ch->err, sizeof(ch->err), -EINVAL, "%d pieces in one data block",
				cnt);
	for (int i = 0; i < cnt; i++) {
		sum += iov[i].iov_len;
		v[i + 1] = iov[i];
	}
	if (sum != len)
		return vfm_errf(ch->err, sizeof(ch->err), -EINVAL,
				"data block of %llu bytes in pieces of %llu",
				(unsigned long long)len, (unsigned long long)sum);
	vfm_put_be64(b, VFM_MIG_FLAG_DEV_DATA_STATE);
	vfm_put_be64(b + 8, len);
	v[0].iov_base = b;
	v[0].iov_len = sizeof(b);
	return vfm_chan_writev(ch, v, cnt + 1);
}

int vfm_enc_footer(struct vfm_chan *ch, uint32_t section_id)
{
	uint8_t b[5];

	b[0] = VFM_QEMU_VM_SECTION_FOOTER;
	vfm_put_be32(b + 1, section_id);
	return vfm_chan_write(ch, b, sizeof(b));
}

int vfm_enc_eof(struct vfm_chan *ch)
{
	uint8_t b = VFM_QEMU_VM_EOF;

	return vfm_chan_write(ch, &b, 1);
}
