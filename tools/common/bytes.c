/* SPDX-License-Identifier: MIT */
/* The application's read of a received frame (see tool.h). */
#include <string.h>

#include "tool.h"

/*
 * Every byte is loaded once: 32 bytes a step into four independent sums
 * (so the loads are not serialised behind one chain of additions, as a
 * checksum or a hash over the data would run), then 8-byte words, then the
 * last 4, 2 and 1 bytes.  The sum is a sink, not a checksum.
 */
uint64_t vqt_read_sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, v[4];
	uint32_t w;
	uint16_t h;
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		memcpy(v, b + i, 32);
		s0 += v[0];
		s1 += v[1];
		s2 += v[2];
		s3 += v[3];
	}
	for (; i + 8 <= n; i += 8) {
		memcpy(v, b + i, 8);
		s0 += v[0];
	}
	if (i + 4 <= n) {
		memcpy(&w, b + i, 4);
		s1 += w;
		i += 4;
	}
	if (i + 2 <= n) {
		memcpy(&h, b + i, 2);
		s2 += h;
		i += 2;
	}
	if (i < n)
		s3 += b[i];
	return s0 + s1 + s2 + s3;
}
