/* SPDX-License-Identifier: MIT */
/* The monotonic clock of the tools (see tool.h). */
#include <time.h>

#include "tool.h"

uint64_t vqt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t vqt_now_ms(void)
{
	return vqt_now_ns() / 1000000u;
}

double vqt_now(void)
{
	return (double)vqt_now_ns() * 1e-9;
}
