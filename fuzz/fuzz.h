/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the libFuzzer targets in fuzz/: a byte reader over the
 * input (reads past the end yield zeros, so every input is a valid
 * program), and a CHECK that aborts with a message (libFuzzer then saves
 * the input as a crash).  Not part of the library.
 */
#ifndef VQ_FUZZ_H
#define VQ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline size_t fz_left(const struct fz *f)
{
	return f->n;
}

/* Copy len bytes out (zeros past the end). */
static inline void fz_bytes(struct fz *f, void *dst, size_t len)
{
	size_t k = len < f->n ? len : f->n;

	memcpy(dst, f->p, k);
	memset((uint8_t *)dst + k, 0, len - k);
	f->p += k;
	f->n -= k;
}

/* Borrow up to len bytes in place; *got is how many there were. */
static inline const uint8_t *fz_take(struct fz *f, size_t len, size_t *got)
{
	const uint8_t *p = f->p;

	*got = len < f->n ? len : f->n;
	f->p += *got;
	f->n -= *got;
	return p;
}

/* A hostile peer scribbling on shared memory: copy up to len input bytes
 * to base + off, clipped to the total bytes there (off < total). */
static inline void fz_scribble(struct fz *f, uint8_t *base, size_t total, size_t off, size_t len)
{
	size_t got;
	const uint8_t *p;

	if (len > total - off)
		len = total - off;
	p = fz_take(f, len, &got);
	memcpy(base + off, p, got);
}

static inline uint8_t fz_u8(struct fz *f)
{
	uint8_t v;

	fz_bytes(f, &v, 1);
	return v;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t v;

	fz_bytes(f, &v, 2);
	return v;
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t v;

	fz_bytes(f, &v, 4);
	return v;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t v;

	fz_bytes(f, &v, 8);
	return v;
}

/* An invariant of the library failed: report and abort (a libFuzzer crash). */
#define FZ_CHECK(c, ...)                                                         \
	do {                                                                     \
		if (!(c)) {                                                      \
			fprintf(stderr, "FUZZ INVARIANT %s:%d: %s: ", __FILE__,  \
				__LINE__, #c);                                   \
			fprintf(stderr, __VA_ARGS__);                            \
			fputc('\n', stderr);                                     \
			abort();                                                 \
		}                                                                \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
