/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testdev: the sample migratable device. Its state is memory of any size, filled
 * deterministically from a seed; an optional workload modifies it at a set rate while
 * the device runs; switches turn P2P and PRE_COPY off; faults can be injected on any arc
 * and at any byte of the outgoing or incoming stream.
 *
 * The content is made on first use (a chunk nobody wrote reads as the seed's, generated
 * when read; the memory is committed at creation); a state larger than the memory
 * available (MemAvailable, memory cgroup limits) is refused by vfm_testdev_create() with
 * -ENOMEM and how much is available. A reset is a power-on: every chunk is the seed's
 * again.
 *
 * Spec string (comma separated, the leading "testdev" optional):
 *   size=64M seed=7 dirty-rate=32M p2p=off pre-copy=off enomsg=off
 *   precopy-v2=off  refuse the PRECOPY_INFOv2 opt-in (ENOTTY), as a kernel before 7.1
 *   zero-copy=off  neither lend saved bytes in place nor take restored bytes in place
 *                  (the save_iov and load_at callbacks of device.h): every byte copied
 *   reinit-at=K  once the pre-copy stream has passed byte K, re-initialise: every chunk
 *                already sent is new initial data (REINIT to a client that opted in,
 *                dirty bytes to one that did not; doc/uapi-7.x.md)
 *   reinit-query=N  the same at the Nth pre-copy info query of the session (N >= 1)
 *   dma=64M (local: memory mapped for the device's DMA) dma-rate=32M (DMA writes/s)
 *   fail-arc=STOP_COPY>STOP   error-arc=RUNNING>RUNNING_P2P
 *   fail-read-at=K fail-write-at=K corrupt-at=K reject-load=on
 *   bug=NAME   a deliberate uAPI violation, for testing conformance checkers (device.h,
 *              enum vfm_violation): wrong-path, fd-on-non-opening-arc,
 *              no-fd-on-opening-arc, stream-not-ending, session-survives-reset,
 *              session-survives-arc, enomsg-in-stop-copy, precopy-grows,
 *              accept-invalid-data, reset-not-running, refused-arc-accepted,
 *              feature-precedence, reinit-without-opt-in, reinit-no-initial,
 *              precopy-v2-get, precopy-flags-echo (repeatable; "bug=none" clears)
 *
 * Stream: 16-byte little-endian records {u32 type, u32 len, u64 arg}:
 *   HEADER (arg = state size), DATA (arg = offset, len payload bytes follow),
 *   END (arg = checksum of the whole state, as vfm_testdev_checksum()). The first pass sends every chunk once; in
 *   PRE_COPY chunks the workload dirtied are sent again.
 *
 * Threads: the testdev functions may be called from any thread.
 */
#ifndef VFIO_MIG_TESTDEV_H
#define VFIO_MIG_TESTDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "dma.h"

#define VFM_TESTDEV_MAX_SIZE   (64ull << 30)
#define VFM_TESTDEV_CHUNK      (64u << 10)
#define VFM_TESTDEV_REC_HEADER 0x54440001u
#define VFM_TESTDEV_REC_DATA   0x54440002u
#define VFM_TESTDEV_REC_END    0x54440003u
#define VFM_TESTDEV_REC_SIZE   16u

struct vfm_testdev_config {
	uint64_t size;
	uint64_t seed;
	uint64_t dirty_rate; /* bytes per second while running; 0 = none */
	uint64_t dma_rate;   /* bytes per second the device DMAs into client memory */
	uint64_t dma_size;   /* local: transport only: client memory to map for DMA */
	bool p2p;
	bool precopy;
	bool enomsg;	   /* temporary end of stream in PRE_COPY reads -ENOMSG (default) or 0 */
	bool precopy_v2;   /* accepts the PRECOPY_INFOv2 opt-in (default) */
	int64_t reinit_at; /* -1 = not by stream position */
	uint64_t reinit_query; /* 0 = not by query count */
	/* faults */
	bool fail_arc;
	uint32_t fail_from, fail_to;
	bool error_arc;
	uint32_t error_from, error_to;
	int64_t fail_read_at;  /* -1 = off */
	int64_t fail_write_at; /* -1 = off */
	int64_t corrupt_at;    /* -1 = off */
	bool reject_load;
	uint32_t violations; /* bug=: enum vfm_violation bits */
	bool zero_copy;	     /* lends its memory to the host side (save_iov, load_at; default) */
};

struct vfm_testdev;

/* The defaults: 64 MiB, seed 1, no workload, P2P and PRE_COPY on, -ENOMSG, no faults. */
void vfm_testdev_config_default(struct vfm_testdev_config *cfg);
/* Parses a spec into cfg (which holds defaults or earlier values). 0 or -EINVAL with the
 * reason in err. */
int vfm_testdev_parse(const char *spec, struct vfm_testdev_config *cfg, char *err, size_t errlen);

/* Creates the device and starts its workload thread (idle without a dirty rate). 0 or a
 * negative errno with the reason in err. */
int vfm_testdev_create(const struct vfm_testdev_config *cfg, const char *name,
		       const struct vfm_logger *log, struct vfm_testdev **out, char *err,
		       size_t errlen);
/* Stops the workload and frees everything (NULL is fine). */
void vfm_testdev_destroy(struct vfm_testdev *td);

/* The struct vfm_device it is, for vfm_local_wrap() or a vfio-user server. */
struct vfm_device *vfm_testdev_device(struct vfm_testdev *td);
/* The configuration it was created with. */
const struct vfm_testdev_config *vfm_testdev_config(const struct vfm_testdev *td);

/* Checksum of the whole state: the 64-bit hashes of its 64 KiB chunks, folded. */
uint64_t vfm_testdev_checksum(struct vfm_testdev *td);
/* The content generator and hash, exposed for tests and tools. */
uint64_t vfm_testdev_hash(const void *buf, size_t len);

/* Changes the workload rate at run time. */
void vfm_testdev_set_dirty_rate(struct vfm_testdev *td, uint64_t bytes_per_s);
/* Bytes the workload has written so far. */
uint64_t vfm_testdev_written(struct vfm_testdev *td);
/* Copies state bytes out (for tests and the vfio-user BAR). */
int vfm_testdev_peek(struct vfm_testdev *td, uint64_t off, void *buf, size_t len);
/* The device's DMA (client memory mapped by the transport, dirty logging over it). */
struct vfm_dma *vfm_testdev_dma(struct vfm_testdev *td);
/* Bytes the device has written by DMA so far. */
uint64_t vfm_testdev_dma_written(struct vfm_testdev *td);

/* The same, each line prefixed with the CLOCK_MONOTONIC nanoseconds of the arc, so that
 * the order of arcs across devices (even in other processes) can be checked. */
size_t vfm_testdev_arc_log_timed(struct vfm_testdev *td, char *buf, size_t len);
/* The arcs the device has executed, as "FROM>TO" lines, oldest first (the last 256). */
size_t vfm_testdev_arc_log(struct vfm_testdev *td, char *buf, size_t len);

#endif /* VFIO_MIG_TESTDEV_H */
