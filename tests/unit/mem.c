/* SPDX-License-Identifier: MIT */
/* Guest-memory map: translation, permissions, overflow, add/remove errors. */
#include <errno.h>
#include <pthread.h>

#include <virtq/mem.h>

#include "../harness/test.h"

static char host[4][0x4000] __attribute__((aligned(64)));

static struct vq_mem *new_map(void)
{
	struct vq_mem *m = NULL;

	ASSERT_EQ(vq_mem_new(&m), 0);
	ASSERT_TRUE(m != NULL);
	return m;
}

static void add(struct vq_mem *m, uint64_t gpa, uint64_t size, void *hva, uint64_t uaddr,
		uint32_t prot)
{
	struct vq_mem_region r = { gpa, size, hva, uaddr, prot };

	ASSERT_EQ(vq_mem_add(m, &r), 0);
}

static int try_add(struct vq_mem *m, uint64_t gpa, uint64_t size, void *hva, uint64_t uaddr,
		   uint32_t prot)
{
	struct vq_mem_region r = { gpa, size, hva, uaddr, prot };

	return vq_mem_add(m, &r);
}

/* Two adjacent RW regions at 0x10000 (host[0]) and 0x14000 (host[1]), a
 * read-only one at 0x20000 (host[2]), a write-only one at 0x30000 (host[3]). */
static struct vq_mem *std_map(void)
{
	struct vq_mem *m = new_map();

	add(m, 0x14000, 0x4000, host[1], 0x7f0000014000ull, VQ_MEM_RW);
	add(m, 0x10000, 0x4000, host[0], 0x7f0000010000ull, VQ_MEM_RW);
	add(m, 0x20000, 0x4000, host[2], 0, VQ_MEM_READ);
	add(m, 0x30000, 0x4000, host[3], 0x7f0000030000ull, VQ_MEM_WRITE);
	return m;
}

TEST(mem_translate_single_region)
{
	struct vq_mem *m = std_map();
	struct iovec iov[4];

	ASSERT_EQ(vq_mem_translate(m, 0x10100, 0x200, VQ_MEM_READ, iov, 4), 1);
	ASSERT_TRUE(iov[0].iov_base == host[0] + 0x100);
	ASSERT_EQ(iov[0].iov_len, 0x200);
	ASSERT_EQ(vq_mem_translate(m, 0x10000, 0x4000, VQ_MEM_RW, iov, 1), 1);
	ASSERT_TRUE(iov[0].iov_base == host[0]);
	ASSERT_EQ(iov[0].iov_len, 0x4000);
	ASSERT_EQ(vq_mem_translate(m, 0x13fff, 1, VQ_MEM_WRITE, iov, 1), 1);
	ASSERT_TRUE(iov[0].iov_base == host[0] + 0x3fff);
	vq_mem_free(m);
}

TEST(mem_translate_across_regions)
{
	struct vq_mem *m = std_map();
	struct iovec iov[4];

	/* host[0] and host[1] are adjacent in gpa space only. */
	ASSERT_EQ(vq_mem_translate(m, 0x13f00, 0x200, VQ_MEM_WRITE, iov, 4), 2);
	ASSERT_TRUE(iov[0].iov_base == host[0] + 0x3f00);
	ASSERT_EQ(iov[0].iov_len, 0x100);
	ASSERT_TRUE(iov[1].iov_base == host[1]);
	ASSERT_EQ(iov[1].iov_len, 0x100);
	ASSERT_EQ(vq_mem_translate(m, 0x10000, 0x8000, VQ_MEM_READ, iov, 2), 2);
	ASSERT_EQ(iov[0].iov_len + iov[1].iov_len, 0x8000);
	vq_mem_free(m);
}

TEST(mem_translate_zero_length)
{
	struct vq_mem *m = std_map();
	struct iovec iov[1] = { { (void *)1, 7 } };

	ASSERT_EQ(vq_mem_translate(m, 0x10000, 0, VQ_MEM_READ, iov, 1), 0);
	ASSERT_EQ(vq_mem_translate(m, 0xdead0000, 0, VQ_MEM_READ, iov, 0), 0);
	ASSERT_TRUE(iov[0].iov_base == (void *)1); /* untouched */
	vq_mem_free(m);
}

TEST(mem_translate_out_of_map)
{
	struct vq_mem *m = std_map();
	struct iovec iov[4];

	ASSERT_EQ(vq_mem_translate(m, 0x0, 1, VQ_MEM_READ, iov, 4), -EFAULT);
	ASSERT_EQ(vq_mem_translate(m, 0xffff, 2, VQ_MEM_READ, iov, 4), -EFAULT); /* starts before */
	ASSERT_EQ(vq_mem_translate(m, 0x17fff, 2, VQ_MEM_READ, iov, 4), -EFAULT); /* runs past */
	ASSERT_EQ(vq_mem_translate(m, 0x18000, 1, VQ_MEM_READ, iov, 4), -EFAULT);
	ASSERT_EQ(vq_mem_translate(m, 0x24000, 1, VQ_MEM_READ, iov, 4), -EFAULT);
	ASSERT_EQ(vq_mem_translate(m, UINT64_MAX, 1, VQ_MEM_READ, iov, 4), -EOVERFLOW);
	ASSERT_EQ(vq_mem_translate(m, 0x10000, UINT64_MAX, VQ_MEM_READ, iov, 4), -EOVERFLOW);
	ASSERT_EQ(vq_mem_translate(m, UINT64_MAX - 0xf, 0x10, VQ_MEM_READ, iov, 4), -EOVERFLOW);
	vq_mem_free(m);
}

TEST(mem_translate_permissions)
{
	struct vq_mem *m = std_map();
	struct iovec iov[4];

	ASSERT_EQ(vq_mem_translate(m, 0x20000, 16, VQ_MEM_READ, iov, 4), 1);
	ASSERT_EQ(vq_mem_translate(m, 0x20000, 16, VQ_MEM_WRITE, iov, 4), -EACCES);
	ASSERT_EQ(vq_mem_translate(m, 0x20000, 16, VQ_MEM_RW, iov, 4), -EACCES);
	ASSERT_EQ(vq_mem_translate(m, 0x30000, 16, VQ_MEM_WRITE, iov, 4), 1);
	ASSERT_EQ(vq_mem_translate(m, 0x30000, 16, VQ_MEM_READ, iov, 4), -EACCES);
	vq_mem_free(m);
}

TEST(mem_translate_max_iov)
{
	struct vq_mem *m = std_map();
	struct iovec iov[2];

	ASSERT_EQ(vq_mem_translate(m, 0x13f00, 0x200, VQ_MEM_READ, iov, 1), -ENOBUFS);
	ASSERT_EQ(vq_mem_translate(m, 0x13f00, 0x200, VQ_MEM_READ, NULL, 0), -ENOBUFS);
	/* A fault past the iov limit is still a fault, not -ENOBUFS. */
	ASSERT_EQ(vq_mem_translate(m, 0x13f00, 0x4200, VQ_MEM_READ, iov, 1), -EFAULT);
	ASSERT_EQ(vq_mem_translate(m, 0x13f00, 0x200, VQ_MEM_READ, iov, 2), 2);
	vq_mem_free(m);
}

TEST(mem_ptr)
{
	struct vq_mem *m = std_map();

	ASSERT_TRUE(vq_mem_ptr(m, 0x10010, 0x10, VQ_MEM_READ) == host[0] + 0x10);
	ASSERT_TRUE(vq_mem_ptr(m, 0x10000, 0x4000, VQ_MEM_RW) == host[0]);
	ASSERT_TRUE(vq_mem_ptr(m, 0x13f00, 0x200, VQ_MEM_READ) == NULL); /* spans */
	ASSERT_TRUE(vq_mem_ptr(m, 0x20000, 16, VQ_MEM_WRITE) == NULL);
	ASSERT_TRUE(vq_mem_ptr(m, 0x20000, 16, VQ_MEM_READ) == host[2]);
	ASSERT_TRUE(vq_mem_ptr(m, 0x40000, 1, VQ_MEM_READ) == NULL);
	ASSERT_TRUE(vq_mem_ptr(m, 0x10000, UINT64_MAX, VQ_MEM_READ) == NULL);
	ASSERT_TRUE(vq_mem_ptr(m, UINT64_MAX, 2, VQ_MEM_READ) == NULL);
	vq_mem_free(m);
}

TEST(mem_uaddr_ptr)
{
	struct vq_mem *m = std_map();

	ASSERT_TRUE(vq_mem_uaddr_ptr(m, 0x7f0000014010ull, 16, VQ_MEM_RW) == host[1] + 0x10);
	ASSERT_TRUE(vq_mem_uaddr_ptr(m, 0x7f0000010000ull, 0x4000, VQ_MEM_READ) == host[0]);
	ASSERT_TRUE(vq_mem_uaddr_ptr(m, 0x7f0000013ff0ull, 0x20, VQ_MEM_READ) == NULL);
	ASSERT_TRUE(vq_mem_uaddr_ptr(m, 0x7f0000030000ull, 4, VQ_MEM_READ) == NULL);
	ASSERT_TRUE(vq_mem_uaddr_ptr(m, 0x7f0000030000ull, 4, VQ_MEM_WRITE) == host[3]);
	/* Region host[2] has no uaddr: 0 and small addresses find nothing. */
	ASSERT_TRUE(vq_mem_uaddr_ptr(m, 0, 1, VQ_MEM_READ) == NULL);
	ASSERT_TRUE(vq_mem_uaddr_ptr(m, 0x10, 1, VQ_MEM_READ) == NULL);
	ASSERT_TRUE(vq_mem_uaddr_ptr(m, 0x7f0000018000ull, 1, VQ_MEM_READ) == NULL);
	ASSERT_TRUE(vq_mem_uaddr_ptr(m, UINT64_MAX, 2, VQ_MEM_READ) == NULL);
	vq_mem_free(m);
}

TEST(mem_add_errors)
{
	struct vq_mem *m = new_map();

	ASSERT_EQ(try_add(m, 0x1000, 0, host[0], 0, VQ_MEM_RW), -EINVAL);
	ASSERT_EQ(try_add(m, 0x1000, 0x1000, NULL, 0, VQ_MEM_RW), -EINVAL);
	ASSERT_EQ(try_add(m, 0x1000, 0x1000, host[0], 0, 0), -EINVAL);
	ASSERT_EQ(try_add(m, 0x1000, 0x1000, host[0], 0, 0x4), -EINVAL);
	ASSERT_EQ(vq_mem_add(m, NULL), -EINVAL);
	ASSERT_EQ(try_add(m, UINT64_MAX - 0xfff, 0x1000, host[0], 0, VQ_MEM_RW), -EOVERFLOW);
	ASSERT_EQ(try_add(m, 0x1000, 0x1000, host[0], UINT64_MAX - 0x10, VQ_MEM_RW), -EOVERFLOW);
	ASSERT_EQ(try_add(m, 0x1000, 0x1000, (void *)(UINTPTR_MAX - 0x10), 0, VQ_MEM_RW),
		  -EOVERFLOW);
	ASSERT_EQ(vq_mem_count(m), 0);

	add(m, 0x10000, 0x1000, host[0], 0, VQ_MEM_RW);
	ASSERT_EQ(try_add(m, 0x10000, 0x1000, host[1], 0, VQ_MEM_RW), -EEXIST); /* same */
	ASSERT_EQ(try_add(m, 0x10800, 0x1000, host[1], 0, VQ_MEM_RW), -EEXIST); /* tail */
	ASSERT_EQ(try_add(m, 0xf000, 0x1001, host[1], 0, VQ_MEM_RW), -EEXIST);  /* head */
	ASSERT_EQ(try_add(m, 0x10100, 0x10, host[1], 0, VQ_MEM_RW), -EEXIST);   /* inside */
	ASSERT_EQ(try_add(m, 0x0, 0x100000, host[1], 0, VQ_MEM_RW), -EEXIST);   /* around */
	ASSERT_EQ(try_add(m, 0xf000, 0x1000, host[1], 0, VQ_MEM_RW), 0);       /* adjacent */
	ASSERT_EQ(try_add(m, 0x11000, 0x1000, host[2], 0, VQ_MEM_RW), 0);      /* adjacent */
	ASSERT_EQ(vq_mem_count(m), 3);
	vq_mem_free(m);
}

TEST(mem_add_full)
{
	struct vq_mem *m = new_map();

	for (unsigned i = 0; i < VQ_MEM_MAX_REGIONS; i++)
		add(m, 0x100000ull * (VQ_MEM_MAX_REGIONS - i), 0x1000, host[0], 0, VQ_MEM_READ);
	ASSERT_EQ(vq_mem_count(m), VQ_MEM_MAX_REGIONS);
	ASSERT_EQ(try_add(m, 0x1, 0x10, host[0], 0, VQ_MEM_READ), -ENOSPC);
	/* Sorted by gpa whatever the insertion order. */
	for (unsigned i = 0; i < VQ_MEM_MAX_REGIONS; i++) {
		struct vq_mem_region r;

		ASSERT_EQ(vq_mem_region_at(m, i, &r), 0);
		ASSERT_EQ_U64(r.gpa, 0x100000ull * (i + 1));
	}
	vq_mem_clear(m);
	ASSERT_EQ(vq_mem_count(m), 0);
	vq_mem_free(m);
}

TEST(mem_remove)
{
	struct vq_mem *m = std_map();
	struct vq_mem_region r;
	struct iovec iov[2];

	ASSERT_EQ(vq_mem_remove(m, 0x14000, 0x1000), -ENOENT); /* wrong size */
	ASSERT_EQ(vq_mem_remove(m, 0x14001, 0x4000), -ENOENT); /* wrong start */
	ASSERT_EQ(vq_mem_remove(m, 0x50000, 0x4000), -ENOENT);
	/* Warm the hint on the region, then remove it: lookups must miss. */
	ASSERT_EQ(vq_mem_translate(m, 0x14000, 1, VQ_MEM_READ, iov, 2), 1);
	ASSERT_EQ(vq_mem_remove(m, 0x14000, 0x4000), 0);
	ASSERT_EQ(vq_mem_count(m), 3);
	ASSERT_EQ(vq_mem_translate(m, 0x14000, 1, VQ_MEM_READ, iov, 2), -EFAULT);
	ASSERT_EQ(vq_mem_translate(m, 0x13f00, 0x200, VQ_MEM_READ, iov, 2), -EFAULT);
	ASSERT_EQ(vq_mem_region_at(m, 1, &r), 0);
	ASSERT_EQ_U64(r.gpa, 0x20000);
	ASSERT_EQ(vq_mem_region_at(m, 3, &r), -EINVAL);
	vq_mem_free(m);
}

/* Compare the binary search + hint against a linear scan over many regions. */
TEST(mem_many_regions_random)
{
	struct vq_mem *m = new_map();
	uint64_t seed = vq_test_seed();

	for (unsigned i = 0; i < VQ_MEM_MAX_REGIONS; i++)
		add(m, 0x10000ull * i + (i & 1) * 0x100, 0x8000 + 0x10 * i, host[i & 3], 0,
		    VQ_MEM_RW);
	for (unsigned k = 0; k < 200000; k++) {
		uint64_t a = vq_test_rand(&seed) % (0x10000ull * VQ_MEM_MAX_REGIONS + 0x10000);
		unsigned i = (unsigned)(a / 0x10000);
		uint64_t start = 0x10000ull * i + (i & 1) * 0x100;
		bool hit = i < VQ_MEM_MAX_REGIONS && a >= start && a < start + 0x8000 + 0x10 * i;
		void *p = vq_mem_ptr(m, a, 1, VQ_MEM_READ);

		if (hit)
			ASSERT_TRUE(p == host[i & 3] + (a - start));
		else
			ASSERT_TRUE(p == NULL);
	}
	vq_mem_free(m);
}

static struct vq_mem *shared_map;

static void *reader(void *arg)
{
	uintptr_t bad = 0;

	for (unsigned k = 0; k < 200000; k++) {
		unsigned r = (unsigned)((k * 7 + (uintptr_t)arg) & 3);
		uint64_t base = r == 0 ? 0x10000 : r == 1 ? 0x14000 : r == 2 ? 0x20000 : 0x30000;
		void *p = vq_mem_ptr(shared_map, base + (k & 0xfff), 1, 0);

		bad += p != (void *)(host[r] + (k & 0xfff));
	}
	return (void *)bad;
}

TEST(mem_concurrent_readers)
{
	pthread_t t[4];

	shared_map = std_map();
	for (uintptr_t i = 0; i < 4; i++)
		ASSERT_EQ(pthread_create(&t[i], NULL, reader, (void *)i), 0);
	for (unsigned i = 0; i < 4; i++) {
		void *bad;

		ASSERT_EQ(pthread_join(t[i], &bad), 0);
		ASSERT_EQ((uintptr_t)bad, 0);
	}
	vq_mem_free(shared_map);
}
