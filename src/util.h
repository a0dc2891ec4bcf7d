/* SPDX-License-Identifier: BSD-3-Clause */
/* Small internal helpers shared by the library's layers. Not installed. */
#ifndef VFM_UTIL_H
#define VFM_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "vfio-mig/log.h"

#define VFM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VFM_MIN(a, b)	  ((a) < (b) ? (a) : (b))
#define VFM_MAX(a, b)	  ((a) > (b) ? (a) : (b))

/* snprintf into an error buffer (no-op for a NULL buffer); returns rc. */
int vfm_errf(char *buf, size_t len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

void vfm_log(const struct vfm_logger *log, enum vfm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void vfm_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void vfm_put_be64(uint8_t *p, uint64_t v)
{
	vfm_put_be32(p, (uint32_t)(v >> 32));
	vfm_put_be32(p + 4, (uint32_t)v);
}

static inline uint32_t vfm_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t vfm_get_be64(const uint8_t *p)
{
	return (uint64_t)vfm_get_be32(p) << 32 | vfm_get_be32(p + 4);
}

/* Monotonic seconds. */
double vfm_now(void);

/* "64M", "1G", "4096", "1.5G"; K/M/G/T are powers of 1024. 0 or -EINVAL/-ERANGE. */
int vfm_parse_size(const char *text, uint64_t *out);
/* "1.0 GiB"-style formatting. */
void vfm_format_size(uint64_t bytes, char *buf, size_t len);

#endif /* VFM_UTIL_H */
