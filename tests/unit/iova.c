/* SPDX-License-Identifier: MIT */
/*
 * IOVA allocator and trees: first fit with alignment, reserved ranges, the
 * window, merging on release; the seed's aliasing layouts (contiguous GPA
 * over fragmented HVA, overlapping HVA, a read-only alias over RW memory);
 * and randomized runs against linear-list reference models.
 */
#include <errno.h>
#include <stdbool.h>

#include <virtq/iova.h>
#include <virtq/mem.h>

#include "../harness/test.h"

static struct vq_iova *space(uint64_t base, uint64_t size, uint64_t align)
{
	struct vq_iova_params p = { .base = base, .size = size, .align = align };
	struct vq_iova *t = NULL;

	ASSERT_EQ(vq_iova_new(&p, &t), 0);
	ASSERT_TRUE(t != NULL);
	return t;
}

static uint64_t alloc_ok(struct vq_iova *t, uint64_t size, uint64_t align)
{
	uint64_t a = 0;

	ASSERT_EQ(vq_iova_alloc(t, size, align, &a), 0);
	return a;
}

TEST(iova_new_rejects_bad_windows)
{
	struct vq_iova_params p = { .base = 0, .size = 0 };
	struct vq_iova *t = (void *)1;

	ASSERT_EQ(vq_iova_new(&p, &t), -EINVAL);
	ASSERT_TRUE(t == NULL);
	p = (struct vq_iova_params){ .base = UINT64_MAX - 10, .size = 12 };
	ASSERT_EQ(vq_iova_new(&p, &t), -EINVAL);
	p = (struct vq_iova_params){ .base = 0, .size = 4096, .align = 3 };
	ASSERT_EQ(vq_iova_new(&p, &t), -EINVAL);
	p = (struct vq_iova_params){ .base = UINT64_MAX - 4095, .size = 4096 };
	ASSERT_EQ(vq_iova_new(&p, &t), 0);
	vq_iova_free(t);
}

TEST(iova_alloc_first_fit_with_alignment)
{
	struct vq_iova *t = space(0x1000, 0x100000, 0x1000);

	ASSERT_EQ_U64(alloc_ok(t, 0x10, 1), 0x1000);
	ASSERT_EQ_U64(alloc_ok(t, 0x10, 0x100), 0x1100);   /* aligned past 0x1010 */
	ASSERT_EQ_U64(alloc_ok(t, 0x10, 0x10), 0x1010);    /* first fit: the gap */
	ASSERT_EQ_U64(alloc_ok(t, 0x2000, 0), 0x2000);     /* space's alignment */
	ASSERT_EQ_U64(vq_iova_free_bytes(t), 0x100000 - 0x30 - 0x2000);
	ASSERT_EQ(vq_iova_free_ranges(t), 3);   /* [1020,1100) [1110,2000) [4000,..) */
	uint64_t a;
	ASSERT_EQ(vq_iova_alloc(t, 0, 1, &a), -EINVAL);
	ASSERT_EQ(vq_iova_alloc(t, 1, 3, &a), -EINVAL);
	ASSERT_EQ(vq_iova_alloc(t, 0x200000, 1, &a), -ENOSPC);
	vq_iova_free(t);
}

TEST(iova_window_is_bounded)
{
	struct vq_iova *t = space(0x10000, 0x4000, 0);
	uint64_t a;

	ASSERT_EQ_U64(alloc_ok(t, 0x4000, 0), 0x10000);
	ASSERT_EQ(vq_iova_alloc(t, 1, 1, &a), -ENOSPC);
	ASSERT_EQ(vq_iova_release(t, 0xf000, 0x1000), -EINVAL);   /* below */
	ASSERT_EQ(vq_iova_release(t, 0x13000, 0x2000), -EINVAL);  /* past the end */
	ASSERT_EQ(vq_iova_release(t, UINT64_MAX, 2), -EINVAL);    /* wraps */
	ASSERT_EQ(vq_iova_release(t, 0x10000, 0x4000), 0);
	ASSERT_EQ(vq_iova_reserve(t, 0x13000, 0x2000), -EBUSY);   /* crosses the end */
	vq_iova_free(t);
}

TEST(iova_reserved_ranges_are_never_allocated)
{
	struct vq_iova *t = space(0, 0x10000, 0x1000);
	uint64_t a;

	ASSERT_EQ(vq_iova_reserve(t, 0, 0x1000), 0);         /* page 0 */
	ASSERT_EQ(vq_iova_reserve(t, 0x8000, 0x1000), 0);
	ASSERT_EQ(vq_iova_reserve(t, 0x8800, 0x10), -EBUSY); /* already reserved */
	ASSERT_EQ(vq_iova_reserve(t, 0, 0), -EINVAL);
	ASSERT_EQ_U64(alloc_ok(t, 0x7000, 0), 0x1000);
	ASSERT_EQ_U64(alloc_ok(t, 0x1000, 0), 0x9000);       /* skips 0x8000 */
	ASSERT_EQ(vq_iova_reserve(t, 0x9000, 0x1000), -EBUSY); /* allocated */
	ASSERT_EQ(vq_iova_alloc(t, 0x7000, 0, &a), -ENOSPC);
	ASSERT_EQ_U64(alloc_ok(t, 0x6000, 0), 0xa000);
	ASSERT_EQ_U64(vq_iova_free_bytes(t), 0);
	vq_iova_free(t);
}

TEST(iova_release_merges_neighbours)
{
	struct vq_iova *t = space(0, 0x10000, 0x1000);
	uint64_t a = alloc_ok(t, 0x1000, 0), b = alloc_ok(t, 0x1000, 0),
		 c = alloc_ok(t, 0x1000, 0);

	ASSERT_EQ(vq_iova_free_ranges(t), 1);
	ASSERT_EQ(vq_iova_release(t, a, 0x1000), 0);
	ASSERT_EQ(vq_iova_free_ranges(t), 2);
	ASSERT_EQ(vq_iova_release(t, c, 0x1000), 0);        /* merges with the tail */
	ASSERT_EQ(vq_iova_free_ranges(t), 2);
	ASSERT_EQ(vq_iova_release(t, b, 0x1000), 0);        /* merges both sides */
	ASSERT_EQ(vq_iova_free_ranges(t), 1);
	ASSERT_EQ_U64(vq_iova_free_bytes(t), 0x10000);
	ASSERT_EQ_U64(alloc_ok(t, 0x10000, 0), 0);          /* one range again */
	vq_iova_free(t);
}

TEST(iova_release_rejects_double_free)
{
	struct vq_iova *t = space(0, 0x10000, 0x1000);
	uint64_t a = alloc_ok(t, 0x2000, 0);

	ASSERT_EQ(vq_iova_release(t, a + 0x1000, 0x1000), 0); /* part of a block */
	ASSERT_EQ(vq_iova_release(t, a + 0x1000, 0x1000), -EINVAL);
	ASSERT_EQ(vq_iova_release(t, a, 0x2000), -EINVAL);    /* half is free */
	ASSERT_EQ(vq_iova_release(t, a, 0), -EINVAL);
	ASSERT_EQ(vq_iova_release(t, a, 0x1000), 0);
	ASSERT_EQ_U64(vq_iova_free_bytes(t), 0x10000);
	vq_iova_free(t);
}

static char hostmem[4][0x4000] __attribute__((aligned(4096)));

/* Host address of [iova, iova + len) through the device's view m. */
static void *dev_ptr(struct vq_mem *m, uint64_t iova, uint64_t len, uint32_t prot)
{
	return vq_mem_ptr(m, iova, len, prot);
}

static struct vq_mem *device_view(struct vq_iova *t)
{
	struct vq_mem *m = NULL;

	ASSERT_EQ(vq_mem_new(&m), 0);
	ASSERT_EQ(vq_iova_to_mem(t, m), 0);
	return m;
}

static uint64_t map_guest(struct vq_iova *t, uint64_t gpa, uint64_t size, void *hva,
			  uint32_t prot)
{
	struct vq_mem_region r = { .gpa = gpa, .size = size, .hva = hva, .prot = prot };
	uint64_t iova = 0;

	ASSERT_EQ(vq_iova_map_guest(t, &r, &iova), 0);
	return iova;
}

/*
 * The seed's example: GPA [0, 0x1000) -> host A, GPA [0x1000, 0x2000) ->
 * host B, and the IOVAs handed out in the other order.  One guest buffer at
 * 0x500 of 0x1000 bytes is two IOVA segments, each landing on the right
 * host bytes.
 */
TEST(iova_alias_contiguous_gpa_fragmented_hva)
{
	struct vq_iova *t = space(0x1000, 0x100000, 0x1000);
	struct vq_iova_seg seg[4];
	struct vq_mem *m;

	ASSERT_EQ(vq_iova_reserve(t, 0x1000, 0x2000), 0);
	uint64_t i1 = map_guest(t, 0x1000, 0x1000, hostmem[1], VQ_MEM_RW);
	ASSERT_EQ(vq_iova_release(t, 0x1000, 0x2000), 0);
	uint64_t i0 = map_guest(t, 0, 0x1000, hostmem[0], VQ_MEM_RW);
	ASSERT_TRUE(i0 < i1); /* IOVA order is not GPA order */
	ASSERT_EQ(vq_iova_translate(t, 0x500, 0x1000, VQ_MEM_READ, seg, 4), 2);
	ASSERT_EQ_U64(seg[0].iova, i0 + 0x500);
	ASSERT_EQ_U64(seg[0].len, 0xb00);
	ASSERT_EQ_U64(seg[1].iova, i1);
	ASSERT_EQ_U64(seg[1].len, 0x500);
	m = device_view(t);
	ASSERT_TRUE(dev_ptr(m, seg[0].iova, seg[0].len, VQ_MEM_READ) == hostmem[0] + 0x500);
	ASSERT_TRUE(dev_ptr(m, seg[1].iova, seg[1].len, VQ_MEM_READ) == hostmem[1]);
	ASSERT_EQ(vq_iova_translate(t, 0x500, 0x1000, VQ_MEM_READ, seg, 1), -ENOBUFS);
	vq_mem_free(m);
	vq_iova_free(t);
}

/*
 * Overlapping host ranges: a big region and a small alias inside it (as
 * QEMU's aliased RAM).  A search by host address could pick the small one
 * and come up short; by GPA each buffer gets its own map, whole.
 */
TEST(iova_alias_overlapping_hva)
{
	struct vq_iova *t = space(0, 1ull << 32, 0x1000);
	struct vq_iova_seg seg[4];
	struct vq_mem *m;

	uint64_t small = map_guest(t, 0x40000, 0x1000, hostmem[0] + 0x2000, VQ_MEM_RW);
	uint64_t big = map_guest(t, 0x10000, 0x4000, hostmem[0], VQ_MEM_RW);

	/* The buffer's host bytes [0x1800, 0x2800) include the alias's. */
	ASSERT_EQ(vq_iova_translate(t, 0x11800, 0x1000, VQ_MEM_WRITE, seg, 4), 1);
	ASSERT_EQ_U64(seg[0].iova, big + 0x1800);
	ASSERT_EQ_U64(seg[0].len, 0x1000);
	ASSERT_EQ(vq_iova_translate(t, 0x40800, 0x800, VQ_MEM_WRITE, seg, 4), 1);
	ASSERT_EQ_U64(seg[0].iova, small + 0x800);
	m = device_view(t);
	ASSERT_TRUE(dev_ptr(m, big + 0x1800, 0x1000, VQ_MEM_WRITE) == hostmem[0] + 0x1800);
	ASSERT_TRUE(dev_ptr(m, small + 0x800, 0x800, VQ_MEM_WRITE) == hostmem[0] + 0x2800);
	/* Past the alias's end is outside every guest map. */
	ASSERT_EQ(vq_iova_translate(t, 0x40800, 0x1000, VQ_MEM_READ, seg, 4), -EFAULT);
	vq_mem_free(m);
	vq_iova_free(t);
}

/* A read-only alias over RW memory: writes through it fail closed, reads
 * through it and both through the RW mapping work. */
TEST(iova_alias_readonly_over_rw)
{
	struct vq_iova *t = space(0, 1ull << 32, 0x1000);
	struct vq_iova_seg seg[4];

	uint64_t rw = map_guest(t, 0x100000, 0x4000, hostmem[2], VQ_MEM_RW);
	uint64_t ro = map_guest(t, 0x200000, 0x4000, hostmem[2], VQ_MEM_READ);
	ASSERT_EQ(vq_iova_translate(t, 0x200100, 0x100, VQ_MEM_WRITE, seg, 4), -EACCES);
	ASSERT_EQ(vq_iova_translate(t, 0x200100, 0x100, VQ_MEM_READ, seg, 4), 1);
	ASSERT_EQ_U64(seg[0].iova, ro + 0x100);
	ASSERT_EQ(vq_iova_translate(t, 0x100100, 0x100, VQ_MEM_READ, seg, 4), 1);
	ASSERT_EQ_U64(seg[0].iova, rw + 0x100);
	ASSERT_EQ(vq_iova_translate(t, 0x100100, 0x100, VQ_MEM_WRITE, seg, 4), 1);
	ASSERT_EQ_U64(seg[0].iova, rw + 0x100);
	/* A writable buffer that runs from RW memory into a read-only map. */
	map_guest(t, 0x104000, 0x1000, hostmem[3], VQ_MEM_READ);
	ASSERT_EQ(vq_iova_translate(t, 0x103f00, 0x200, VQ_MEM_WRITE, seg, 4), -EACCES);
	ASSERT_EQ(vq_iova_translate(t, 0x103f00, 0x200, VQ_MEM_READ, seg, 4), 2);
	vq_iova_free(t);
}

TEST(iova_translate_fails_closed)
{
	struct vq_iova *t = space(0, 1ull << 32, 0x1000);
	struct vq_iova_seg seg[4];
	struct vq_mem_region r = { .gpa = UINT64_MAX - 0xfff, .size = 0x1000,
				   .hva = hostmem[0], .prot = VQ_MEM_RW };
	uint64_t iova;

	map_guest(t, 0x1000, 0x1000, hostmem[0], VQ_MEM_RW);
	ASSERT_EQ(vq_iova_translate(t, 0x1000, 0, VQ_MEM_READ, seg, 4), 0);
	ASSERT_EQ(vq_iova_translate(t, 0x800, 0x1000, VQ_MEM_READ, seg, 4), -EFAULT);
	ASSERT_EQ(vq_iova_translate(t, 0x1800, 0x1000, VQ_MEM_READ, seg, 4), -EFAULT);
	ASSERT_EQ(vq_iova_translate(t, UINT64_MAX, 2, VQ_MEM_READ, seg, 4), -EOVERFLOW);
	ASSERT_EQ(vq_iova_map_guest(t, &r, &iova), 0);       /* the last page of 2^64 */
	ASSERT_EQ(vq_iova_translate(t, UINT64_MAX, 1, VQ_MEM_READ, seg, 4), 1);
	r.gpa = 0x1800;
	ASSERT_EQ(vq_iova_map_guest(t, &r, &iova), -EEXIST);
	r.gpa = 0x2000;
	r.prot = 0;
	ASSERT_EQ(vq_iova_map_guest(t, &r, &iova), -EINVAL);
	ASSERT_EQ(vq_iova_unmap_guest(t, 0x1000, 0x800), -ENOENT);
	ASSERT_EQ(vq_iova_unmap_guest(t, 0x1000, 0x1000), 0);
	ASSERT_EQ(vq_iova_translate(t, 0x1000, 1, VQ_MEM_READ, seg, 4), -EFAULT);
	ASSERT_EQ(vq_iova_guest_iova(t, 0x1000, &iova), -EFAULT);
	vq_iova_free(t);
}

TEST(iova_host_maps)
{
	struct vq_iova *t = space(0x10000, 0x100000, 0x1000);
	uint64_t a, b;

	ASSERT_EQ(vq_iova_map_host(t, hostmem[0], 0x4000, VQ_MEM_RW, &a), 0);
	ASSERT_EQ(vq_iova_map_host(t, hostmem[1], 0x100, VQ_MEM_READ, &b), 0);
	ASSERT_EQ_U64(a, 0x10000);
	ASSERT_EQ_U64(b, 0x14000);
	ASSERT_TRUE(vq_iova_host_ptr(t, a + 0x10, 0x20, VQ_MEM_WRITE) == hostmem[0] + 0x10);
	ASSERT_TRUE(vq_iova_host_ptr(t, b, 0x100, VQ_MEM_WRITE) == NULL);
	ASSERT_TRUE(vq_iova_host_ptr(t, b, 0x101, VQ_MEM_READ) == NULL);
	ASSERT_TRUE(vq_iova_host_ptr(t, b + 0x100, 1, VQ_MEM_READ) == NULL); /* the gap */
	ASSERT_EQ(vq_iova_map_host(t, NULL, 1, VQ_MEM_RW, &b), -EINVAL);
	ASSERT_EQ(vq_iova_map_host(t, (void *)(UINTPTR_MAX - 1), 4, VQ_MEM_RW, &b), -EOVERFLOW);
	ASSERT_EQ(vq_iova_host_count(t), 2);
	ASSERT_EQ(vq_iova_unmap_host(t, a + 1), -ENOENT);
	ASSERT_EQ(vq_iova_unmap_host(t, a), 0);
	ASSERT_TRUE(vq_iova_host_ptr(t, a, 1, VQ_MEM_READ) == NULL);
	ASSERT_EQ(vq_iova_host_count(t), 1);
	ASSERT_EQ_U64(alloc_ok(t, 0x4000, 0), a);             /* the range came back */
	vq_iova_free(t);
}

/* ---- randomized: the allocator against a sorted list of free ranges */

#define MAXR 4096

struct ref_alloc {
	uint64_t base, last;
	uint64_t s[MAXR], n[MAXR]; /* free ranges, sorted */
	unsigned cnt;
};

static void ref_cut(struct ref_alloc *r, unsigned i, uint64_t at, uint64_t size)
{
	uint64_t s = r->s[i], n = r->n[i], head = at - s, tail = n - head - size;

	memmove(&r->s[i], &r->s[i + 1], (r->cnt - i - 1) * sizeof(r->s[0]));
	memmove(&r->n[i], &r->n[i + 1], (r->cnt - i - 1) * sizeof(r->n[0]));
	r->cnt--;
	if (tail) {
		memmove(&r->s[i + 1], &r->s[i], (r->cnt - i) * sizeof(r->s[0]));
		memmove(&r->n[i + 1], &r->n[i], (r->cnt - i) * sizeof(r->n[0]));
		r->s[i] = at + size, r->n[i] = tail, r->cnt++;
	}
	if (head) {
		memmove(&r->s[i + 1], &r->s[i], (r->cnt - i) * sizeof(r->s[0]));
		memmove(&r->n[i + 1], &r->n[i], (r->cnt - i) * sizeof(r->n[0]));
		r->s[i] = s, r->n[i] = head, r->cnt++;
	}
}

static int ref_alloc(struct ref_alloc *r, uint64_t size, uint64_t align, uint64_t *out)
{
	for (unsigned i = 0; i < r->cnt; i++) {
		uint64_t at = (r->s[i] + align - 1) & ~(align - 1);

		if (at >= r->s[i] && r->n[i] >= size && at - r->s[i] <= r->n[i] - size) {
			ref_cut(r, i, at, size);
			*out = at;
			return 0;
		}
	}
	return -ENOSPC;
}

static int ref_reserve(struct ref_alloc *r, uint64_t at, uint64_t size)
{
	for (unsigned i = 0; i < r->cnt; i++)
		if (at >= r->s[i] && at - r->s[i] < r->n[i] && r->n[i] - (at - r->s[i]) >= size) {
			ref_cut(r, i, at, size);
			return 0;
		}
	return -EBUSY;
}

static int ref_release(struct ref_alloc *r, uint64_t at, uint64_t size)
{
	unsigned i;

	if (at < r->base || at + size - 1 > r->last || at + size - 1 < at)
		return -EINVAL;
	for (i = 0; i < r->cnt; i++)
		if (r->s[i] < at + size && at < r->s[i] + r->n[i])
			return -EINVAL;
	for (i = 0; i < r->cnt && r->s[i] < at; i++)
		;
	memmove(&r->s[i + 1], &r->s[i], (r->cnt - i) * sizeof(r->s[0]));
	memmove(&r->n[i + 1], &r->n[i], (r->cnt - i) * sizeof(r->n[0]));
	r->s[i] = at, r->n[i] = size, r->cnt++;
	for (i = 0; i + 1 < r->cnt;) {       /* merge adjacent ranges */
		if (r->s[i] + r->n[i] == r->s[i + 1]) {
			r->n[i] += r->n[i + 1];
			memmove(&r->s[i + 1], &r->s[i + 2], (r->cnt - i - 2) * sizeof(r->s[0]));
			memmove(&r->n[i + 1], &r->n[i + 2], (r->cnt - i - 2) * sizeof(r->n[0]));
			r->cnt--;
		} else {
			i++;
		}
	}
	return 0;
}

static uint64_t ref_bytes(const struct ref_alloc *r)
{
	uint64_t b = 0;

	for (unsigned i = 0; i < r->cnt; i++)
		b += r->n[i];
	return b;
}

TEST_T(iova_random_allocator_matches_linear_model, 60)
{
	uint64_t seed = vq_test_seed(), x = seed;
	static struct ref_alloc ref;
	struct vq_iova *t = space(0x3000, 0x100000, 0x1000);
	uint64_t blk_at[512], blk_n[512];
	unsigned nblk = 0;

	ref = (struct ref_alloc){ .base = 0x3000, .last = 0x3000 + 0x100000 - 1, .cnt = 1 };
	ref.s[0] = 0x3000, ref.n[0] = 0x100000;
	for (unsigned step = 0; step < 20000; step++) {
		unsigned op = vq_test_rand(&x) % 8;
		uint64_t size = 1 + vq_test_rand(&x) % 0x3000, a1 = 0, a2 = 0;
		uint64_t align = 1ull << (vq_test_rand(&x) % 13);
		int rc1, rc2;

		if (op < 3 && nblk < 512) {                 /* alloc */
			rc1 = vq_iova_alloc(t, size, align, &a1);
			rc2 = ref_alloc(&ref, size, align, &a2);
			if (rc1 == 0 && rc2 == 0)
				blk_at[nblk] = a1, blk_n[nblk++] = size;
		} else if (op < 6 && nblk) {                /* release a block, or part of it */
			unsigned k = vq_test_rand(&x) % nblk;
			uint64_t n = blk_n[k] > 1 && op == 5 ? blk_n[k] / 2 : blk_n[k];

			rc1 = vq_iova_release(t, blk_at[k] + blk_n[k] - n, n);
			rc2 = ref_release(&ref, blk_at[k] + blk_n[k] - n, n);
			blk_n[k] -= n;
			if (!blk_n[k])
				blk_at[k] = blk_at[--nblk], blk_n[k] = blk_n[nblk];
		} else if (op == 6) {                       /* reserve anywhere */
			a1 = vq_test_rand(&x) % 0x104000;
			rc1 = vq_iova_reserve(t, a1, size);
			rc2 = ref_reserve(&ref, a1, size);
		} else {                                    /* release anywhere */
			a1 = vq_test_rand(&x) % 0x104000;
			rc1 = vq_iova_release(t, a1, size);
			rc2 = ref_release(&ref, a1, size);
		}
		if (rc1 != rc2 || (a1 != a2 && op < 3))
			FAIL("step %u op %u size 0x%" PRIx64 " align 0x%" PRIx64
			     ": tree %d at 0x%" PRIx64 ", model %d at 0x%" PRIx64,
			     step, op, size, align, rc1, a1, rc2, a2);
		ASSERT_EQ_U64(vq_iova_free_bytes(t), ref_bytes(&ref));
		ASSERT_EQ(vq_iova_free_ranges(t), ref.cnt);
	}
	vq_iova_free(t);
}

/* ---- randomized: translation against a linear list of guest maps */

struct ref_map {
	uint64_t gpa, size, iova;
	uint32_t prot;
};

static int ref_translate(const struct ref_map *mp, unsigned n, uint64_t gpa, uint64_t len,
			 uint32_t prot, struct vq_iova_seg *seg, unsigned max)
{
	unsigned ns = 0;

	if (len && gpa + (len - 1) < gpa)
		return -EOVERFLOW;
	while (len) {
		const struct ref_map *m = NULL;

		for (unsigned i = 0; i < n; i++)
			if (gpa >= mp[i].gpa && gpa - mp[i].gpa < mp[i].size)
				m = &mp[i];
		if (!m)
			return -EFAULT;
		if ((m->prot & prot) != prot)
			return -EACCES;
		uint64_t piece = m->size - (gpa - m->gpa);
		if (piece > len)
			piece = len;
		if (ns && seg[ns - 1].iova + seg[ns - 1].len == m->iova + (gpa - m->gpa)) {
			seg[ns - 1].len += piece;
		} else {
			if (ns == max)
				return -ENOBUFS;
			seg[ns++] = (struct vq_iova_seg){ m->iova + (gpa - m->gpa), piece };
		}
		gpa += piece;
		len -= piece;
	}
	return (int)ns;
}

TEST_T(iova_random_translation_matches_linear_model, 60)
{
	uint64_t seed = vq_test_seed(), x = seed ^ 0x9e3779b97f4a7c15ull;
	struct vq_iova *t = space(0x100000, 1ull << 40, 0x1000);
	static struct ref_map mp[256];
	unsigned n = 0;

	for (unsigned step = 0; step < 20000; step++) {
		unsigned op = vq_test_rand(&x) % 10;

		if (op < 2 && n < 256) {            /* map a region of a 1 MiB GPA space */
			struct vq_mem_region r = {
				.gpa = vq_test_rand(&x) % 0x100000,
				.size = 1 + vq_test_rand(&x) % 0x4000,
				.hva = hostmem[vq_test_rand(&x) % 4],
				.prot = 1 + vq_test_rand(&x) % 3,
			};
			bool clash = false;
			uint64_t iova;

			for (unsigned i = 0; i < n; i++)
				clash |= r.gpa < mp[i].gpa + mp[i].size &&
					 mp[i].gpa < r.gpa + r.size;
			int rc = vq_iova_map_guest(t, &r, &iova);
			ASSERT_EQ(rc, clash ? -EEXIST : 0);
			if (!clash)
				mp[n++] = (struct ref_map){ r.gpa, r.size, iova, r.prot };
		} else if (op == 2 && n) {          /* unmap one */
			unsigned k = vq_test_rand(&x) % n;

			ASSERT_EQ(vq_iova_unmap_guest(t, mp[k].gpa, mp[k].size), 0);
			mp[k] = mp[--n];
		} else {                            /* translate */
			uint64_t gpa = vq_test_rand(&x) % 0x104000, len = vq_test_rand(&x) % 0x6000;
			uint32_t prot = 1 + vq_test_rand(&x) % 3;
			unsigned max = 1 + vq_test_rand(&x) % 4;
			struct vq_iova_seg s1[4], s2[4];
			int rc1 = vq_iova_translate(t, gpa, len, prot, s1, max);
			int rc2 = ref_translate(mp, n, gpa, len, prot, s2, max);

			if (rc1 != rc2)
				FAIL("step %u: gpa 0x%" PRIx64 " len 0x%" PRIx64
				     " prot %u: tree %d, model %d", step, gpa, len, prot, rc1, rc2);
			for (int i = 0; i < rc1; i++) {
				ASSERT_EQ_U64(s1[i].iova, s2[i].iova);
				ASSERT_EQ_U64(s1[i].len, s2[i].len);
			}
		}
		ASSERT_EQ(vq_iova_guest_count(t), n);
	}
	vq_iova_free(t);
}

/* ---- the tree itself: AVL balance and subtree maxima after random changes */

#include <stdlib.h>

#include "iova/itree.h"

/* Height of n, checking order, balance and the maxima; -1 on a violation. */
static int check_tree(const struct vq__inode *n, uint64_t lo, uint64_t hi, uint64_t *max)
{
	uint64_t ml = 0, mr = 0;
	int hl, hr;

	if (!n) {
		*max = 0;
		return 0;
	}
	if (n->start < lo || n->start > hi)
		return -1;
	hl = check_tree(n->l, lo, n->start ? n->start - 1 : 0, &ml);
	hr = check_tree(n->r, n->start + 1, hi, &mr);
	if (hl < 0 || hr < 0 || hl - hr > 1 || hr - hl > 1 || n->h != 1 + (hl > hr ? hl : hr))
		return -1;
	*max = n->size > ml ? n->size : ml;
	if (mr > *max)
		*max = mr;
	return n->max == *max ? n->h : -1;
}

TEST(iova_tree_stays_balanced)
{
	uint64_t x = vq_test_seed() | 1, max;
	struct vq__inode *root = NULL, *gone;
	static uint64_t keys[4096];
	unsigned n = 0;

	for (unsigned step = 0; step < 20000; step++) {
		if (n < 4096 && (vq_test_rand(&x) % 3 || !n)) {
			uint64_t k = vq_test_rand(&x) % 100000 * 16;
			struct vq__inode *node;

			if (vq__itree_find(root, k))
				continue;
			node = calloc(1, sizeof(*node));
			ASSERT_TRUE(node != NULL);
			node->start = k;
			node->size = 1 + vq_test_rand(&x) % 16;
			root = vq__itree_insert(root, node);
			keys[n++] = k;
		} else {
			unsigned i = vq_test_rand(&x) % n;

			root = vq__itree_remove(root, keys[i], &gone);
			ASSERT_TRUE(gone != NULL && gone->start == keys[i]);
			free(gone);
			keys[i] = keys[--n];
		}
		if (step % 64 == 0 || n < 8) {
			int h = check_tree(root, 0, UINT64_MAX, &max);

			ASSERT_GE(h, 0);
			/* AVL height bound: 1.44 log2(n + 2) */
			ASSERT_LE(h, 1 + (int)(1.45 * (64 - __builtin_clzll(n + 2))));
		}
	}
	vq__itree_destroy(root);
}

/* The guest maps follow a guest memory map through changes; maps that
 * stay keep their IOVAs, and translation agrees with the map. */
TEST(iova_sync_guest_follows_the_memory_map)
{
	struct vq_iova *t = space(0x100000, 1ull << 32, 0x1000);
	struct vq_mem *m = NULL;
	struct vq_mem_region a = { .gpa = 0x10000, .size = 0x4000, .hva = hostmem[0],
				   .prot = VQ_MEM_RW };
	struct vq_mem_region b = { .gpa = 0x14000, .size = 0x4000, .hva = hostmem[1],
				   .prot = VQ_MEM_RW };
	struct vq_mem_region c = { .gpa = 0x40000, .size = 0x2000, .hva = hostmem[1],
				   .prot = VQ_MEM_READ };
	struct vq_iova_seg seg[4];
	uint64_t ia, ia2, ib;

	ASSERT_EQ(vq_mem_new(&m), 0);
	ASSERT_EQ(vq_mem_add(m, &a), 0);
	ASSERT_EQ(vq_mem_add(m, &b), 0);
	ASSERT_EQ(vq_iova_sync_guest(t, m), 2);
	ASSERT_EQ(vq_iova_sync_guest(t, m), 0);              /* nothing to do */
	ASSERT_EQ(vq_iova_guest_iova(t, 0x10000, &ia), 0);
	ASSERT_EQ(vq_iova_guest_iova(t, 0x14000, &ib), 0);
	/* a and b got adjacent IOVAs: one merged segment. */
	ASSERT_EQ(vq_iova_translate(t, 0x13f00, 0x200, VQ_MEM_WRITE, seg, 4), 1);
	ASSERT_EQ_U64(seg[0].iova, ia + 0x3f00);
	/* REM_MEM_REG b, ADD_MEM_REG c (aliasing b's host memory, read-only). */
	ASSERT_EQ(vq_mem_remove(m, b.gpa, b.size), 0);
	ASSERT_EQ(vq_mem_add(m, &c), 0);
	ASSERT_EQ(vq_iova_sync_guest(t, m), 2);
	ASSERT_EQ(vq_iova_guest_count(t), 2);
	ASSERT_EQ(vq_iova_guest_iova(t, 0x10000, &ia2), 0);
	ASSERT_EQ_U64(ia2, ia);                               /* a stayed put */
	ASSERT_EQ(vq_iova_translate(t, 0x13f00, 0x200, VQ_MEM_READ, seg, 4), -EFAULT);
	ASSERT_EQ(vq_iova_translate(t, 0x40000, 0x10, VQ_MEM_WRITE, seg, 4), -EACCES);
	ASSERT_EQ(vq_iova_translate(t, 0x40000, 0x10, VQ_MEM_READ, seg, 4), 1);
	/* SET_MEM_TABLE with a changed a (now read-only): remapped. */
	a.prot = VQ_MEM_READ;
	vq_mem_clear(m);
	ASSERT_EQ(vq_mem_add(m, &a), 0);
	ASSERT_EQ(vq_iova_sync_guest(t, m), 3);              /* a out and in, c out */
	ASSERT_EQ(vq_iova_translate(t, 0x10000, 0x10, VQ_MEM_WRITE, seg, 4), -EACCES);
	ASSERT_EQ(vq_iova_guest_count(t), 1);
	vq_mem_clear(m);
	ASSERT_EQ(vq_iova_sync_guest(t, m), 1);
	ASSERT_EQ(vq_iova_guest_count(t), 0);
	ASSERT_EQ_U64(vq_iova_free_bytes(t), 1ull << 32);    /* every range back */
	vq_mem_free(m);
	vq_iova_free(t);
}
