/* SPDX-License-Identifier: MIT */
/* The application's read of a received frame (see tool.h). */
#include <string.h>

#include "tool.h"

typedef uint64_t vqt_u64x2 __attribute__((vector_size(16)));

/*
 * Every byte is loaded once: 64 bytes a step as four 16-byte vectors into
 * four independent sums (SSE2 on x86-64, NEON on arm64: the speed of a
 * checksum or a hash over the data, not of one chain of 8-byte additions),
 * then 8-byte words, then the last 4, 2 and 1 bytes.  The sum is a sink,
 * not a checksum.
 */
uint64_t vqt_read_sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	vqt_u64x2 a0 = { 0, 0 }, a1 = a0, a2 = a0, a3 = a0, x0, x1, x2, x3;
	uint64_t s, v;
	uint32_t w;
	uint16_t h;
	size_t i = 0;

	for (; i + 64 <= n; i += 64) {
		memcpy(&x0, b + i, 16);
		memcpy(&x1, b + i + 16, 16);
		memcpy(&x2, b + i + 32, 16);
		memcpy(&x3, b + i + 48, 16);
		a0 += x0;
		a1 += x1;
		a2 += x2;
		a3 += x3;
	}
	a0 += a1 + a2 + a3;
	s = a0[0] + a0[1];
	for (; i + 8 <= n; i += 8) {
		memcpy(&v, b + i, 8);
		s += v;
	}
	if (i + 4 <= n) {
		memcpy(&w, b + i, 4);
		s += w;
		i += 4;
	}
	if (i + 2 <= n) {
		memcpy(&h, b + i, 2);
		s += h;
		i += 2;
	}
	if (i < n)
		s += b[i];
	return s;
}
