/* SPDX-License-Identifier: BSD-3-Clause */
/* Host memory: how much this process may still use, and copies through memory another
 * process can take away. Internal, not installed. */
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

/*
 * memcpy() for memory mapped from a file someone else controls (a client's memfd, which it
 * may shrink under us): a page no longer backed raises SIGBUS, which is caught and makes
 * this return -EFAULT instead of killing the process. 0 otherwise. The first call
 * installs a SIGBUS handler for the process that leaves every other SIGBUS to the
 * handler that was there before (or to the default action).
 */
int vfm_copy_guarded(void *dst, const void *src, size_t len);

#endif /* VFM_MEMORY_H */
