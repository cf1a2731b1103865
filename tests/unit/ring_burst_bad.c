/* SPDX-License-Identifier: MIT */
/*
 * vq_dev_pop_burst against hand-built hostile rings: the burst's fast loop
 * over single descriptors (pop_singles) must make every check the single
 * pop makes.  In each case good single descriptors come first, then the
 * bad one: the burst pops the good ones, and the bad one breaks the queue
 * with the violation a single pop reports, or (when legal but not the fast
 * case: a chain, two regions, an empty descriptor) is popped by the
 * general walk.  Split and packed.
 */
#include "ring_dev_fx.h"

#define N 8u

struct bx {
	struct fx f;
	struct vq_elem e[N];
	struct iovec iov[N][4];
};

static void bx_init(struct bx *b, enum vq_layout layout)
{
	fx_init(&b->f, layout, 16);
	fx_dev(&b->f);
}

/* Pop a burst of up to N chains into 4-iovec elements. */
static int burst(struct bx *b)
{
	memset(b->e, 0, sizeof(b->e));
	for (unsigned i = 0; i < N; i++) {
		b->e[i].iov = b->iov[i];
		b->e[i].iov_cap = 4;
	}
	return vq_dev_pop_burst(b->f.q, b->e, N);
}

/* Two good single descriptors (readable, 64 bytes, ids 0 and 1). */
static void two_good(struct bx *b)
{
	put1(&b->f, BUF, 64, 0, 0);
	put1(&b->f, BUF + 64, 64, 0, 1);
}

/* The good ones are popped (the first at gpa first), then the queue is
 * broken with violation v. */
static void expect_broken_at(struct bx *b, int good, enum vq_violation v, uint64_t first)
{
	ASSERT_EQ(burst(b), good);
	ASSERT_TRUE(b->e[0].iov[0].iov_base == hp(&b->f, first));
	ASSERT_TRUE(vq_dev_is_broken(b->f.q));
	ASSERT_EQ(vq_dev_violation(b->f.q), v);
	ASSERT_EQ(burst(b), -EIO);
	fx_fini(&b->f);
}

static void expect_broken_after(struct bx *b, int good, enum vq_violation v)
{
	expect_broken_at(b, good, v, BUF);
}

static void unmapped(enum vq_layout l)
{
	struct bx b;

	bx_init(&b, l);
	two_good(&b);
	put1(&b.f, GHOLE, 64, 0, 2);
	expect_broken_after(&b, 2, VQ_ERR_ADDR_UNMAPPED);
}

/* Writable in read-only memory, after readable buffers in the same
 * region (the one the fast loop then holds as the last hit). */
static void write_ro(enum vq_layout l)
{
	struct bx b;

	bx_init(&b, l);
	put1(&b.f, GR + 0x100, 64, 0, 0);
	put1(&b.f, GR + 0x200, 64, 0, 1);
	put1(&b.f, GR + 0x300, 64, VRING_DESC_F_WRITE, 2);
	ASSERT_EQ(pop(&b.f), 1); /* the region of the last hit: R */
	expect_broken_at(&b, 1, VQ_ERR_WRITE_RO, GR + 0x200);
}

static void overflow(enum vq_layout l)
{
	struct bx b;

	bx_init(&b, l);
	two_good(&b);
	put1(&b.f, 0xfffffffffffffff0ull, 64, 0, 2);
	expect_broken_after(&b, 2, VQ_ERR_ADDR_OVERFLOW);
}

/* The same id (packed) or head (split) twice in one burst. */
static void dup_id(enum vq_layout l)
{
	struct bx b;

	bx_init(&b, l);
	two_good(&b);
	if (l == VQ_LAYOUT_PACKED) {
		put1(&b.f, BUF + 128, 64, 0, 1);
	} else {
		s_publish(&b.f, 1); /* head 1 again */
	}
	expect_broken_after(&b, 2, VQ_ERR_ID_IN_USE);
}

TEST(burst_bad_unmapped_split) { unmapped(VQ_LAYOUT_SPLIT); }
TEST(burst_bad_unmapped_packed) { unmapped(VQ_LAYOUT_PACKED); }
TEST(burst_bad_write_ro_split) { write_ro(VQ_LAYOUT_SPLIT); }
TEST(burst_bad_write_ro_packed) { write_ro(VQ_LAYOUT_PACKED); }
TEST(burst_bad_overflow_split) { overflow(VQ_LAYOUT_SPLIT); }
TEST(burst_bad_overflow_packed) { overflow(VQ_LAYOUT_PACKED); }
TEST(burst_bad_dup_id_split) { dup_id(VQ_LAYOUT_SPLIT); }
TEST(burst_bad_dup_id_packed) { dup_id(VQ_LAYOUT_PACKED); }

TEST(burst_bad_packed_id_range)
{
	struct bx b;

	bx_init(&b, VQ_LAYOUT_PACKED);
	two_good(&b);
	put1(&b.f, BUF + 128, 64, 0, 16);
	expect_broken_after(&b, 2, VQ_ERR_PACKED_ID);
}

/* AVAIL and USED both matching the wrap counter, after two good slots. */
TEST(burst_bad_packed_wrap)
{
	struct bx b;

	bx_init(&b, VQ_LAYOUT_PACKED);
	two_good(&b);
	p_desc(&b.f, b.f.aidx, BUF + 128, 64, 2, VQ__DESC_F_AVAIL | VQ__DESC_F_USED);
	b.f.aidx++;
	expect_broken_after(&b, 2, VQ_ERR_PACKED_WRAP);
}

TEST(burst_bad_split_head_range)
{
	struct bx b;

	bx_init(&b, VQ_LAYOUT_SPLIT);
	two_good(&b);
	s_publish(&b.f, 300);
	expect_broken_after(&b, 2, VQ_ERR_HEAD_RANGE);
}

/* avail idx 200 ahead after two entries: the first look at it refuses it
 * (nothing popped); the fast loop reads idx the way split_pop does. */
TEST(burst_bad_split_avail_idx)
{
	struct bx b;

	bx_init(&b, VQ_LAYOUT_SPLIT);
	two_good(&b);
	__atomic_store_n(&s_avail(&b.f)[1], (uint16_t)200, __ATOMIC_RELEASE);
	ASSERT_EQ(burst(&b), -ENOSPC);
	ASSERT_EQ(vq_dev_violation(b.f.q), VQ_ERR_AVAIL_IDX);
	fx_fini(&b.f);
}

/*
 * Legal chains that are not the fast case, between single descriptors: a
 * two-descriptor chain, a buffer across two regions (two segments), an
 * empty descriptor (no segment).  All popped in order, nothing broken.
 */
static void mixed(enum vq_layout l)
{
	const struct td chain[2] = { { BUF + 256, 16, 0 }, { BUF + 512, 32, VRING_DESC_F_WRITE } };
	struct bx b;

	bx_init(&b, l);
	put1(&b.f, BUF, 64, 0, 0);
	put_chain(&b.f, chain, 2, 1);
	put1(&b.f, BUF + 64, 64, 0, 3);
	put1(&b.f, GB - 32, 64, VRING_DESC_F_WRITE, 4); /* A's last 32 bytes, B's first 32 */
	put1(&b.f, BUF + 128, 0, 0, 5);
	put1(&b.f, BUF + 192, 64, VRING_DESC_F_WRITE, 6);
	ASSERT_EQ(burst(&b), 6);
	ASSERT_TRUE(!vq_dev_is_broken(b.f.q));
	ASSERT_EQ(b.e[0].out_num, 1);
	ASSERT_EQ(b.e[1].out_num, 1);
	ASSERT_EQ(b.e[1].in_num, 1);
	ASSERT_EQ(b.e[1].in_len, 32);
	ASSERT_EQ(b.e[2].out_len, 64);
	ASSERT_EQ(b.e[3].in_num, 2);
	ASSERT_EQ(b.e[3].in_len, 64);
	ASSERT_TRUE(b.e[3].iov[1].iov_base == hp(&b.f, GB));
	ASSERT_EQ(b.e[4].out_num + b.e[4].in_num, 0);
	ASSERT_EQ(b.e[5].in_len, 64);
	ASSERT_TRUE(b.e[5].iov[0].iov_base == hp(&b.f, BUF + 192));
	if (l == VQ_LAYOUT_PACKED) {
		ASSERT_EQ(b.e[1].id, 1);
		ASSERT_EQ(b.e[5].id, 6);
	}
	ASSERT_EQ(vq_dev_inflight(b.f.q), 6);
	ASSERT_EQ(burst(&b), 0);
	fx_fini(&b.f);
}

TEST(burst_mixed_split) { mixed(VQ_LAYOUT_SPLIT); }
TEST(burst_mixed_packed) { mixed(VQ_LAYOUT_PACKED); }
