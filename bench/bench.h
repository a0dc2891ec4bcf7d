/* SPDX-License-Identifier: BSD-3-Clause */
/* Benchmark cases: each runs in a child process and fills a result. */
#ifndef VFM_BENCH_H
#define VFM_BENCH_H

#include <stddef.h>
#include <stdint.h>

struct bench_result {
	double seconds;
	uint64_t bytes;
	double downtime_s;
	uint64_t peak_rss;
	double cpu_src, cpu_dst; /* CPU seconds of each side while it moved the state (TCP) */
};

struct bench_case {
	const char *name;
	const char *what;
	/* 0, -1 on failure, 1 when the case cannot run here (a peer is missing) */
	int (*run)(uint64_t size, struct bench_result *res);
	const char *sizes; /* default state sizes, e.g. "64M,1G" */
};

/* Cases from other files (vfio-user, ...): count and index. */
size_t bench_extra_count(void);
const struct bench_case *bench_extra(size_t i);

double bench_memcpy_gbps(void);
/* CPU seconds (user + system) of this process so far. */
double bench_cpu_s(void);
/* TCP loopback from a state-sized memory in this process into one in a child process
 * (bench/limits.c); res gets the time, the bytes and both sides' CPU. 0 or -1. */
int bench_tcp_state_gbps(size_t size, struct bench_result *res);
/* AES-128-GCM on one core, 16 KiB records, with the linked libcrypto (0: unmeasured). */
double bench_aead_gbps(void);
/* The libcrypto this program runs with, as it names itself. */
const char *bench_aead_library(void);

struct vfm_testdev;
/* The sample device makes its content on first use, a real device's state is resident:
 * one byte read in every chunk makes it so, before a case begins. */
void bench_resident(struct vfm_testdev *td);

/* A case's result from the engine's statistics. */
static inline void bench_from_stats(struct bench_result *res, double seconds, uint64_t bytes,
				    double downtime_s)
{
	res->seconds = seconds;
	res->bytes = bytes;
	res->downtime_s = downtime_s;
}

#endif /* VFM_BENCH_H */
