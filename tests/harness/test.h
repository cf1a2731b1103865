/* SPDX-License-Identifier: MIT */
/*
 * virtq test harness.  One program per feature; each TEST runs in a forked
 * child with a timeout.  A child that exits 0 passed, 77 skipped (after
 * saying why with SKIP), anything else failed.  The program prints one line
 * per test ("PASS name", "FAIL name: why", "SKIP name: why") and ends with
 * "N passed, N failed, N skipped".
 *
 *   ./build/tests/ring_drv              run all tests
 *   ./build/tests/ring_drv pattern      run tests whose name contains pattern
 *   VQ_TEST_TIMEOUT=120                 per-test timeout in seconds (default 120)
 */
#ifndef VQ_TEST_H
#define VQ_TEST_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*vq_test_fn)(void);
void vq_test_register(const char *name, vq_test_fn fn, unsigned timeout_s);
_Noreturn void vq_test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
_Noreturn void vq_test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A seed for randomized tests: VQ_TEST_SEED or a fixed default; printed. */
uint64_t vq_test_seed(void);
uint64_t vq_test_rand(uint64_t *state); /* xorshift64* */

#define TEST_T(name, timeout_s)                                                  \
	static void name(void);                                                  \
	__attribute__((constructor)) static void vq_test_reg_##name(void)        \
	{ vq_test_register(#name, name, timeout_s); }                            \
	static void name(void)
#define TEST(name) TEST_T(name, 0)

#define SKIP(...) vq_test_skip(__VA_ARGS__)
#define FAIL(...) vq_test_fail(__FILE__, __LINE__, __VA_ARGS__)

#define ASSERT_TRUE(c)                                                           \
	do { if (!(c)) FAIL("expected true: %s", #c); } while (0)
#define ASSERT_FALSE(c)                                                          \
	do { if (c) FAIL("expected false: %s", #c); } while (0)

#define ASSERT_CMP_(a, op, b)                                                    \
	do {                                                                     \
		long long va_ = (long long)(a), vb_ = (long long)(b);            \
		if (!(va_ op vb_))                                               \
			FAIL("expected %s %s %s: %lld vs %lld", #a, #op, #b,     \
			     va_, vb_);                                          \
	} while (0)
#define ASSERT_EQ(a, b) ASSERT_CMP_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_CMP_(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_CMP_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_CMP_(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_CMP_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_CMP_(a, >=, b)

/* Unsigned 64-bit compare (sizes, addresses). */
#define ASSERT_EQ_U64(a, b)                                                      \
	do {                                                                     \
		uint64_t va_ = (uint64_t)(a), vb_ = (uint64_t)(b);               \
		if (va_ != vb_)                                                  \
			FAIL("expected %s == %s: %" PRIu64 " vs %" PRIu64, #a,   \
			     #b, va_, vb_);                                      \
	} while (0)

#define ASSERT_STR_EQ(a, b)                                                      \
	do {                                                                     \
		const char *sa_ = (a), *sb_ = (b);                               \
		if (strcmp(sa_, sb_) != 0)                                       \
			FAIL("expected %s == %s: \"%s\" vs \"%s\"", #a, #b, sa_, sb_); \
	} while (0)

#define ASSERT_MEM_EQ(a, b, n)                                                   \
	do {                                                                     \
		const unsigned char *ma_ = (const void *)(a), *mb_ = (const void *)(b); \
		size_t n_ = (n);                                                 \
		for (size_t i_ = 0; i_ < n_; i_++)                               \
			if (ma_[i_] != mb_[i_])                                  \
				FAIL("%s and %s differ at byte %zu of %zu: 0x%02x vs 0x%02x", \
				     #a, #b, i_, n_, ma_[i_], mb_[i_]);          \
	} while (0)

#endif /* VQ_TEST_H */
