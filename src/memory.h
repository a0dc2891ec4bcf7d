/* SPDX-License-Identifier: BSD-3-Clause */
/* Host memory: how much this process may still use. Internal, not installed. */
#ifndef VFM_MEMORY_H
#define VFM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Whether `need` more bytes of memory fit: the least of the system's MemAvailable and the
 * room left under every memory cgroup limit above this process (cgroup v2 memory.max and
 * v1 memory.limit_in_bytes, minus what is charged). 0 when they fit or nothing can be
 * read; -ENOMEM otherwise, with "<need> needed, <room> available (<which limit>)" in why.
 */
int vfm_mem_fit(uint64_t need, char *why, size_t whylen);

#endif /* VFM_MEMORY_H */
