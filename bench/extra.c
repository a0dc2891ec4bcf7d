// SPDX-License-Identifier: BSD-3-Clause
/* Benchmark cases of the transports built into this tree. */
#include "bench.h"

size_t bench_extra_count(void)
{
	return 0;
}

const struct bench_case *bench_extra(size_t i)
{
	(void)i;
	return NULL;
}
