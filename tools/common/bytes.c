/* SPDX-License-Identifier: MIT */
/* The application's read of a received frame (see tool.h). */
#include <string.h>

#include "tool.h"

uint64_t vqt_read_sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t s = 0, v;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&v, b + i, 8);
		s += v;
	}
	for (; i < n; i++)
		s += b[i];
	return s;
}
