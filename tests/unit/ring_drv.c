/* SPDX-License-Identifier: MIT */
/*
 * Driver side of the ring against a well-behaved fake device: add/get/detach/
 * nfree, -ENOSPC, -E2BIG, -EINVAL, coalescing, the indirect pool and its
 * fallback, notification suppression, IN_ORDER batches, LARGE_CHAIN.
 */
#include "ring_drv_fx.h"

/* ---- creation */

TEST(drv_new_rejects_bad_config)
{
	struct fx f;
	struct vq_drv *q;

	fx_init(&f, VQ_LAYOUT_SPLIT, 16, 0, 0, 0, 0);
	struct vq_drv_params c = f.cfg;

	ASSERT_EQ(vq_drv_new(NULL, &q), -EINVAL);
	c.ring.size = 12; /* split needs a power of two */
	ASSERT_EQ(vq_drv_new(&c, &q), -EINVAL);
	c = f.cfg;
	c.ring.size = 0;
	ASSERT_EQ(vq_drv_new(&c, &q), -EINVAL);
	c = f.cfg;
	c.ring.max_chain = 17; /* above the queue size without LARGE_CHAIN */
	ASSERT_EQ(vq_drv_new(&c, &q), -EINVAL);
	c.ring.features = VQ_F_LARGE_CHAIN;
	ASSERT_EQ(vq_drv_new(&c, &q), 0);
	vq_drv_free(q);
	c.ring.max_chain = VQ_MAX_CHAIN + 1;
	ASSERT_EQ(vq_drv_new(&c, &q), -EINVAL);
	c = f.cfg;
	c.ring.used = NULL;
	ASSERT_EQ(vq_drv_new(&c, &q), -EINVAL);
	c = f.cfg;
	c.ring.desc = f.ring + 8; /* descriptors need 16-byte alignment */
	ASSERT_EQ(vq_drv_new(&c, &q), -EINVAL);
	c = f.cfg;
	c.ring.features = VQ_F_INDIRECT;
	c.indirect_tables = 4; /* a pool without memory */
	c.indirect_len = 8;
	ASSERT_EQ(vq_drv_new(&c, &q), -EINVAL);
	c.indirect = f.ring;
	c.indirect_gpa = UINT64_MAX - 100; /* wraps */
	ASSERT_EQ(vq_drv_new(&c, &q), -EINVAL);
	ASSERT_EQ(vq_drv_nfree(f.q), 16);
	ASSERT_FALSE(vq_drv_is_broken(f.q));
	ASSERT_STR_EQ(vq_drv_error(f.q), "");
	fx_fini(&f);
}

/* ---- split basics */

TEST(drv_split_add_get_roundtrip)
{
	struct fx f;
	struct vq_seg sg[3] = { { 0x1000, 100 }, { 0x5000, 200 }, { 0x9000, 300 } };

	fx_init(&f, VQ_LAYOUT_SPLIT, 8, 0, 0, 0, 0);
	ASSERT_EQ(vq_drv_add(f.q, sg, 2, 1, &tok[0]), 0);
	ASSERT_EQ(vq_drv_nfree(f.q), 5);
	ASSERT_EQ(avail16(&f)[1], 0); /* not published before kick_prepare */
	ASSERT_TRUE(vq_drv_kick_prepare(f.q));
	ASSERT_FALSE(vq_drv_kick_prepare(f.q)); /* nothing new */
	ASSERT_EQ(avail16(&f)[1], 1);
	int head = dev_split_pop(&f);
	ASSERT_GE(head, 0);
	struct vring_desc *d = &sd(&f)[head];
	ASSERT_EQ_U64(d->addr, 0x1000);
	ASSERT_EQ(d->len, 100);
	ASSERT_EQ(d->flags, VRING_DESC_F_NEXT);
	d = &sd(&f)[d->next];
	ASSERT_EQ_U64(d->addr, 0x5000);
	ASSERT_EQ(d->flags, VRING_DESC_F_NEXT);
	d = &sd(&f)[d->next];
	ASSERT_EQ_U64(d->addr, 0x9000);
	ASSERT_EQ(d->len, 300);
	ASSERT_EQ(d->flags, VRING_DESC_F_WRITE);
	expect_none(&f);
	dev_split_use(&f, (uint32_t)head, 123);
	expect_get(&f, &tok[0], 123);
	expect_none(&f);
	ASSERT_EQ(vq_drv_nfree(f.q), 8);
	fx_fini(&f);
}

TEST(drv_split_enospc_and_reuse)
{
	struct fx f;
	struct vq_seg sg = { 0x2000, 64 };
	int heads[8];

	fx_init(&f, VQ_LAYOUT_SPLIT, 8, 0, 0, 0, 0);
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 8; i++)
			ASSERT_EQ(vq_drv_add(f.q, &sg, 0, 1, &tok[i]), 0);
		ASSERT_EQ(vq_drv_add(f.q, &sg, 0, 1, &tok[8]), -ENOSPC);
		ASSERT_EQ(vq_drv_nfree(f.q), 0);
		vq_drv_kick_prepare(f.q);
		for (int i = 0; i < 8; i++)
			heads[i] = dev_split_pop(&f);
		/* Return them out of order. */
		for (int i = 7; i >= 0; i--)
			dev_split_use(&f, (uint32_t)heads[i], (uint32_t)i);
		for (int i = 7; i >= 0; i--)
			expect_get(&f, &tok[i], (uint32_t)i);
		ASSERT_EQ(vq_drv_nfree(f.q), 8);
	}
	fx_fini(&f);
}

TEST(drv_einval_e2big)
{
	struct fx f;
	struct vq_seg sg[20];

	fx_init(&f, VQ_LAYOUT_SPLIT, 16, 0, 0, 0, 4);
	for (int i = 0; i < 20; i++)
		sg[i] = (struct vq_seg){ 0x10000 + 0x1000ull * (uint64_t)i * 2, 0x1000 };
	ASSERT_EQ(vq_drv_add(f.q, sg, 0, 0, &tok[0]), -EINVAL);    /* no segment */
	ASSERT_EQ(vq_drv_add(f.q, sg, 1, 0, NULL), -EINVAL);       /* no token */
	struct vq_seg z = { 0x1000, 0 };
	ASSERT_EQ(vq_drv_add(f.q, &z, 1, 0, &tok[0]), -EINVAL);    /* zero length */
	struct vq_seg w = { UINT64_MAX - 10, 100 };
	ASSERT_EQ(vq_drv_add(f.q, &w, 1, 0, &tok[0]), -EINVAL);    /* wraps */
	struct vq_seg big[3] = { { 0, UINT32_MAX }, { 1ull << 33, UINT32_MAX }, { 1ull << 34, 2 } };
	ASSERT_EQ(vq_drv_add(f.q, big, 3, 0, &tok[0]), -EINVAL);   /* > 4 GiB */
	ASSERT_EQ(vq_drv_add(f.q, sg, 5, 0, &tok[0]), -E2BIG);     /* 5 > max_chain 4 */
	ASSERT_EQ(vq_drv_add(f.q, sg, 2, 3, &tok[0]), -E2BIG);
	ASSERT_EQ(vq_drv_add(f.q, sg, 4, 0, &tok[0]), 0);
	ASSERT_EQ(vq_drv_nfree(f.q), 12);
	/* Exactly 4 GiB is allowed. */
	struct vq_seg four[2] = { { 0, 1u << 31 }, { 1ull << 40, 1u << 31 } };
	ASSERT_EQ(vq_drv_add(f.q, four, 1, 1, &tok[1]), 0);
	fx_fini(&f);

	/* max_chain 0 = queue size; beyond it -E2BIG, never -ENOSPC. */
	fx_init(&f, VQ_LAYOUT_PACKED, 16, 0, 0, 0, 0);
	ASSERT_EQ(vq_drv_add(f.q, sg, 17, 0, &tok[0]), -E2BIG);
	ASSERT_EQ(vq_drv_add(f.q, sg, 16, 0, &tok[0]), 0);
	ASSERT_EQ(vq_drv_nfree(f.q), 0);
	ASSERT_EQ(vq_drv_add(f.q, sg, 1, 0, &tok[1]), -ENOSPC);
	fx_fini(&f);
}

/* ---- coalescing */

TEST(drv_coalesce_adjacent_segments)
{
	struct fx f;
	/* out: 3 adjacent; in: 2 adjacent to the out run (must not merge
	 * across directions) then 1 adjacent to them, then a gap. */
	struct vq_seg sg[7] = {
		{ 0x1000, 0x100 }, { 0x1100, 0x200 }, { 0x1300, 0x100 },
		{ 0x1400, 0x10 }, { 0x1410, 0x10 }, { 0x1420, 0x20 }, { 0x9000, 8 },
	};

	fx_init(&f, VQ_LAYOUT_SPLIT, 8, 0, 0, 0, 3);
	/* 7 segments but 3 descriptors: fits max_chain 3. */
	ASSERT_EQ(vq_drv_add(f.q, sg, 3, 4, &tok[0]), 0);
	ASSERT_EQ(vq_drv_nfree(f.q), 5);
	vq_drv_kick_prepare(f.q);
	struct vring_desc *d = &sd(&f)[dev_split_pop(&f)];
	ASSERT_EQ_U64(d->addr, 0x1000);
	ASSERT_EQ(d->len, 0x400);
	ASSERT_EQ(d->flags, VRING_DESC_F_NEXT);
	d = &sd(&f)[d->next];
	ASSERT_EQ_U64(d->addr, 0x1400);
	ASSERT_EQ(d->len, 0x40);
	ASSERT_EQ(d->flags, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
	d = &sd(&f)[d->next];
	ASSERT_EQ_U64(d->addr, 0x9000);
	ASSERT_EQ(d->len, 8);
	ASSERT_EQ(d->flags, VRING_DESC_F_WRITE);
	fx_fini(&f);
}

TEST(drv_coalesce_respects_u32_limit)
{
	struct fx f;
	/* The first two merge (0xfffffff8); the third would overflow a
	 * descriptor's 32-bit length: a second descriptor.  4 GiB in all. */
	struct vq_seg sg[3] = {
		{ 0x100000000ull, 0xfffffff0u },
		{ 0x100000000ull + 0xfffffff0u, 0x8 },
		{ 0x100000000ull + 0xfffffff8u, 0x8 },
	};
	struct vq_seg exact[2] = { { 0x10, 0xfffffff0u }, { 0x10 + 0xfffffff0ull, 0xf } };

	fx_init(&f, VQ_LAYOUT_PACKED, 8, 0, 0, 0, 0);
	ASSERT_EQ(vq_drv_add(f.q, sg, 3, 0, &tok[0]), 0);
	ASSERT_EQ(vq_drv_nfree(f.q), 6);
	ASSERT_EQ(pd(&f)[0].len, 0xfffffff8u);
	ASSERT_EQ_U64(pd(&f)[1].addr, 0x100000000ull + 0xfffffff8u);
	ASSERT_EQ(pd(&f)[1].len, 0x8);
	/* Exactly UINT32_MAX merges into one descriptor. */
	ASSERT_EQ(vq_drv_add(f.q, exact, 2, 0, &tok[1]), 0);
	ASSERT_EQ(vq_drv_nfree(f.q), 5);
	ASSERT_EQ(pd(&f)[2].len, UINT32_MAX);
	fx_fini(&f);
}

/* ---- indirect pool */

TEST(drv_indirect_and_pool_fallback)
{
	struct fx f;
	struct vq_seg sg[8];

	for (int i = 0; i < 8; i++)
		sg[i] = (struct vq_seg){ 0x100000 + 0x10000ull * (uint64_t)i, 0x100u + (uint32_t)i };
	fx_init(&f, VQ_LAYOUT_SPLIT, 8, VQ_F_INDIRECT, 2, 4, 0);
	/* One segment: direct, never indirect. */
	ASSERT_EQ(vq_drv_add(f.q, sg, 1, 0, &tok[0]), 0);
	ASSERT_EQ(vq_drv_nfree(f.q), 7);
	/* Three: an indirect table, one ring descriptor. */
	ASSERT_EQ(vq_drv_add(f.q, sg, 2, 1, &tok[1]), 0);
	ASSERT_EQ(vq_drv_nfree(f.q), 6);
	/* Five: longer than a table (4): direct. */
	ASSERT_EQ(vq_drv_add(f.q, sg, 5, 0, &tok[2]), 0);
	ASSERT_EQ(vq_drv_nfree(f.q), 1);
	/* Four: the second table. */
	ASSERT_EQ(vq_drv_add(f.q, sg, 2, 2, &tok[3]), 0);
	ASSERT_EQ(vq_drv_nfree(f.q), 0);
	vq_drv_kick_prepare(f.q);
	int h0 = dev_split_pop(&f), h1 = dev_split_pop(&f), h2 = dev_split_pop(&f);
	int h3 = dev_split_pop(&f);
	ASSERT_EQ(sd(&f)[h0].flags, 0);
	ASSERT_EQ(sd(&f)[h1].flags, VRING_DESC_F_INDIRECT);
	ASSERT_EQ(sd(&f)[h1].len, 48);
	struct vring_desc *t = ind_host(&f, sd(&f)[h1].addr);
	ASSERT_EQ_U64(t[0].addr, sg[0].addr);
	ASSERT_EQ(t[0].flags, VRING_DESC_F_NEXT);
	ASSERT_EQ(t[0].next, 1);
	ASSERT_EQ(t[1].flags, VRING_DESC_F_NEXT);
	ASSERT_EQ_U64(t[2].addr, sg[2].addr);
	ASSERT_EQ(t[2].len, sg[2].len);
	ASSERT_EQ(t[2].flags, VRING_DESC_F_WRITE);
	ASSERT_EQ(sd(&f)[h2].flags, VRING_DESC_F_NEXT);
	ASSERT_EQ(sd(&f)[h3].flags, VRING_DESC_F_INDIRECT);
	ASSERT_NE(sd(&f)[h3].addr, sd(&f)[h1].addr);
	/* Return the first table; with the pool then empty again... */
	dev_split_use(&f, (uint32_t)h1, 0);
	expect_get(&f, &tok[1], 0);
	dev_split_use(&f, (uint32_t)h0, 0);
	expect_get(&f, &tok[0], 0);
	ASSERT_EQ(vq_drv_nfree(f.q), 2);
	ASSERT_EQ(vq_drv_add(f.q, sg, 3, 0, &tok[4]), 0); /* takes the table back */
	ASSERT_EQ(vq_drv_nfree(f.q), 1);
	/* Pool exhausted: a 2-descriptor chain needs 2 free, only 1: -ENOSPC. */
	ASSERT_EQ(vq_drv_add(f.q, sg, 2, 0, &tok[5]), -ENOSPC);
	ASSERT_EQ(vq_drv_add(f.q, sg, 1, 0, &tok[5]), 0);
	fx_fini(&f);
}

TEST(drv_packed_indirect_and_fallback)
{
	struct fx f;
	struct vq_seg sg[4];

	for (int i = 0; i < 4; i++)
		sg[i] = (struct vq_seg){ 0x200000 + 0x10000ull * (uint64_t)i, 0x80 };
	fx_init(&f, VQ_LAYOUT_PACKED, 4, VQ_F_INDIRECT, 1, 4, 0);
	ASSERT_EQ(vq_drv_add(f.q, sg, 1, 3, &tok[0]), 0); /* indirect */
	ASSERT_EQ(vq_drv_add(f.q, sg, 1, 1, &tok[1]), 0); /* pool empty: direct */
	ASSERT_EQ(vq_drv_nfree(f.q), 1);
	ASSERT_EQ(vq_drv_add(f.q, sg, 2, 0, &tok[2]), -ENOSPC);
	vq_drv_kick_prepare(f.q);
	ASSERT_EQ(pd(&f)[0].flags, VRING_DESC_F_INDIRECT | VQ__DESC_F_AVAIL);
	ASSERT_EQ(pd(&f)[0].len, 64);
	struct vring_packed_desc *t = ind_host(&f, pd(&f)[0].addr);
	ASSERT_EQ(t[0].flags, 0);
	ASSERT_EQ(t[1].flags, VRING_DESC_F_WRITE);
	ASSERT_EQ(t[3].flags, VRING_DESC_F_WRITE);
	ASSERT_EQ_U64(t[3].addr, sg[3].addr);
	ASSERT_EQ(pd(&f)[1].flags, VRING_DESC_F_NEXT | VQ__DESC_F_AVAIL);
	ASSERT_EQ(pd(&f)[2].flags, VRING_DESC_F_WRITE | VQ__DESC_F_AVAIL);
	/* The id is in every descriptor of the chain, the last included. */
	ASSERT_EQ(pd(&f)[1].id, pd(&f)[2].id);
	ASSERT_NE(pd(&f)[0].id, pd(&f)[2].id);
	fx_fini(&f);
}

/* ---- packed basics */

TEST(drv_packed_wraps_and_publishes_on_kick)
{
	struct fx f;
	uint64_t seed = vq_test_seed(), rs = seed;
	struct vq_seg sg[5];
	unsigned slots[64];
	int ids[64];

	fx_init(&f, VQ_LAYOUT_PACKED, 7, 0, 0, 0, 0); /* not a power of two */
	for (int round = 0; round < 200; round++) {
		unsigned n = 1 + (unsigned)(vq_test_rand(&rs) % 3), k = 0;
		int added = 0;

		for (;;) {
			for (unsigned i = 0; i < n; i++)
				sg[i] = (struct vq_seg){ 0x1000ull * (2 * i + 1), 16 };
			unsigned before = vq_drv_nfree(f.q);
			int r = vq_drv_add(f.q, sg, n - 1, 1, &tok[added]);
			if (r == -ENOSPC) {
				ASSERT_LT(before, n);
				break;
			}
			ASSERT_EQ(r, 0);
			added++;
		}
		ASSERT_GT(added, 0);
		/* The first head is held back until kick_prepare. */
		ASSERT_EQ(dev_packed_peek(&f), -1);
		ASSERT_TRUE(vq_drv_kick_prepare(f.q));
		for (int i = 0; i < added; i++) {
			ids[i] = dev_packed_pop(&f, &slots[i]);
			ASSERT_GE(ids[i], 0);
			k += slots[i];
		}
		ASSERT_EQ(dev_packed_peek(&f), -1);
		ASSERT_EQ(k, 7 - vq_drv_nfree(f.q));
		/* Use in reverse order: the used descriptors go in slot order. */
		for (int i = added - 1; i >= 0; i--)
			dev_packed_use(&f, (uint16_t)ids[i], 16, slots[i]);
		for (int i = added - 1; i >= 0; i--)
			expect_get(&f, &tok[i], 16);
		expect_none(&f);
		ASSERT_EQ(vq_drv_nfree(f.q), 7);
	}
	fx_fini(&f);
}

TEST(drv_packed_len_needs_write_flag)
{
	struct fx f;
	struct vq_seg sg = { 0x3000, 100 };
	unsigned n;

	fx_init(&f, VQ_LAYOUT_PACKED, 4, 0, 0, 0, 0);
	ASSERT_EQ(vq_drv_add(f.q, &sg, 0, 1, &tok[0]), 0);
	vq_drv_kick_prepare(f.q);
	int id = dev_packed_pop(&f, &n);
	/* A used descriptor without WRITE: len is reserved, reported as 0. */
	pd(&f)[0].id = (uint16_t)id;
	pd(&f)[0].len = 77;
	__atomic_store_n(&pd(&f)[0].flags, VQ__DESC_F_AVAIL | VQ__DESC_F_USED, __ATOMIC_RELEASE);
	expect_get(&f, &tok[0], 0);
	fx_fini(&f);
}

/* ---- IN_ORDER */

TEST(drv_split_in_order_batch)
{
	struct fx f;
	struct vq_seg sg[2] = { { 0x1000, 10 }, { 0x3000, 20 } };
	int h[6];

	fx_init(&f, VQ_LAYOUT_SPLIT, 8, VQ_F_IN_ORDER, 0, 0, 0);
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 3; i++)
			ASSERT_EQ(vq_drv_add(f.q, sg, 1, 1, &tok[i]), 0);
		vq_drv_kick_prepare(f.q);
		for (int i = 0; i < 3; i++) {
			h[i] = dev_split_pop(&f);
			/* Descriptors in ring order: next is x + 1, wrapping to 0. */
			ASSERT_EQ(sd(&f)[h[i]].next, (h[i] + 1) & 7);
			if (i)
				ASSERT_EQ(h[i], (h[i - 1] + 2) & 7);
		}
		/* One used entry for the batch, with the last buffer's id, at
		 * the batch's first slot; used idx moves by the batch size. */
		dev_split_use_n(&f, (uint32_t)h[2], 5, 3);
		expect_get(&f, &tok[0], 20);
		expect_get(&f, &tok[1], 20);
		expect_get(&f, &tok[2], 5);
		expect_none(&f);
		ASSERT_EQ(vq_drv_nfree(f.q), 8);
	}
	/* A batch entry whose used idx did not move by the batch size. */
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(vq_drv_add(f.q, sg, 1, 1, &tok[i]), 0);
	vq_drv_kick_prepare(f.q);
	for (int i = 0; i < 3; i++)
		h[i] = dev_split_pop(&f);
	dev_split_use_n(&f, (uint32_t)h[2], 5, 1);
	void *t;
	uint32_t l;
	ASSERT_EQ(vq_drv_get(f.q, &t, &l), vq_violation_errno(VQ_ERR_USED_IDX));
	ASSERT_EQ(vq_drv_violation(f.q), VQ_ERR_USED_IDX);
	ASSERT_TRUE(vq_drv_is_broken(f.q));
	fx_fini(&f);
	fx_init(&f, VQ_LAYOUT_SPLIT, 8, VQ_F_IN_ORDER, 0, 0, 0);
	/* And one by one. */
	ASSERT_EQ(vq_drv_add(f.q, sg, 1, 1, &tok[0]), 0);
	ASSERT_EQ(vq_drv_add(f.q, sg, 1, 1, &tok[1]), 0);
	vq_drv_kick_prepare(f.q);
	h[0] = dev_split_pop(&f);
	h[1] = dev_split_pop(&f);
	dev_split_use(&f, (uint32_t)h[0], 1);
	dev_split_use(&f, (uint32_t)h[1], 2);
	expect_get(&f, &tok[0], 1);
	expect_get(&f, &tok[1], 2);
	fx_fini(&f);
}

TEST(drv_packed_in_order_batch)
{
	struct fx f;
	struct vq_seg sg[2] = { { 0x1000, 10 }, { 0x3000, 20 } };
	unsigned n[4];
	int id[4];

	fx_init(&f, VQ_LAYOUT_PACKED, 10, VQ_F_IN_ORDER, 0, 0, 0);
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 4; i++)
			ASSERT_EQ(vq_drv_add(f.q, sg, 1, (unsigned)(i & 1), &tok[i]), 0);
		vq_drv_kick_prepare(f.q);
		unsigned total = 0;
		for (int i = 0; i < 4; i++) {
			id[i] = dev_packed_pop(&f, &n[i]);
			total += n[i];
		}
		/* One used descriptor, at the first buffer's slot, with the id of
		 * the last; the device then skips the whole batch. */
		dev_packed_use(&f, (uint16_t)id[3], 7, total);
		expect_get(&f, &tok[0], 0);
		expect_get(&f, &tok[1], 20);
		expect_get(&f, &tok[2], 0);
		expect_get(&f, &tok[3], 7);
		expect_none(&f);
		ASSERT_EQ(vq_drv_nfree(f.q), 10);
	}
	fx_fini(&f);
}

/* ---- detach */

TEST(drv_detach_returns_every_token_once)
{
	for (int layout = 0; layout < 2; layout++) {
		for (int inorder = 0; inorder < 2; inorder++) {
			struct fx f;
			struct vq_seg sg[2] = { { 0x1000, 10 }, { 0x3000, 20 } };
			int seen[8] = { 0 };
			void *t;

			fx_init(&f, (enum vq_layout)layout, 16, inorder ? VQ_F_IN_ORDER : 0, 0, 0, 0);
			ASSERT_TRUE(vq_drv_detach(f.q) == NULL);
			for (int i = 0; i < 8; i++)
				ASSERT_EQ(vq_drv_add(f.q, sg, 1, (unsigned)(i & 1), &tok[i]), 0);
			vq_drv_kick_prepare(f.q);
			while ((t = vq_drv_detach(f.q)) != NULL) {
				int i = (int)((int *)t - tok);
				ASSERT_TRUE(i >= 0 && i < 8);
				ASSERT_EQ(seen[i], 0);
				seen[i] = 1;
			}
			for (int i = 0; i < 8; i++)
				ASSERT_EQ(seen[i], 1);
			ASSERT_EQ(vq_drv_nfree(f.q), 16);
			fx_fini(&f);
		}
	}
}

/* ---- notifications */

TEST(drv_split_kick_suppression)
{
	struct fx f;
	struct vq_seg sg = { 0x1000, 10 };

	fx_init(&f, VQ_LAYOUT_SPLIT, 8, 0, 0, 0, 0);
	used16(&f)[0] = 1; /* NO_NOTIFY */
	ASSERT_EQ(vq_drv_add(f.q, &sg, 1, 0, &tok[0]), 0);
	ASSERT_FALSE(vq_drv_kick_prepare(f.q));
	used16(&f)[0] = 0;
	ASSERT_EQ(vq_drv_add(f.q, &sg, 1, 0, &tok[1]), 0);
	ASSERT_TRUE(vq_drv_kick_prepare(f.q));
	fx_fini(&f);

	fx_init(&f, VQ_LAYOUT_SPLIT, 8, VQ_F_EVENT_IDX, 0, 0, 0);
	uint16_t *avail_event = &used16(&f)[2 + 4 * 8];
	*avail_event = 2; /* kick when entry 2 becomes available */
	ASSERT_EQ(vq_drv_add(f.q, &sg, 1, 0, &tok[0]), 0);
	ASSERT_FALSE(vq_drv_kick_prepare(f.q)); /* idx 0 -> 1 */
	ASSERT_EQ(vq_drv_add(f.q, &sg, 1, 0, &tok[1]), 0);
	ASSERT_FALSE(vq_drv_kick_prepare(f.q)); /* 1 -> 2 */
	ASSERT_EQ(vq_drv_add(f.q, &sg, 1, 0, &tok[2]), 0);
	ASSERT_EQ(vq_drv_add(f.q, &sg, 1, 0, &tok[3]), 0);
	ASSERT_TRUE(vq_drv_kick_prepare(f.q)); /* 2 -> 4 passes 2 */
	fx_fini(&f);
}

TEST(drv_packed_kick_suppression)
{
	struct fx f;
	struct vq_seg sg = { 0x1000, 10 };

	fx_init(&f, VQ_LAYOUT_PACKED, 4, VQ_F_EVENT_IDX, 0, 0, 0);
	uint16_t *dev_evt = used16(&f); /* off_wrap, flags */
	dev_evt[1] = 1; /* DISABLE */
	ASSERT_EQ(vq_drv_add(f.q, &sg, 1, 0, &tok[0]), 0);
	ASSERT_FALSE(vq_drv_kick_prepare(f.q));
	dev_evt[1] = 2; /* DESC: slot 2 of wrap 1 */
	dev_evt[0] = 2 | 0x8000;
	ASSERT_EQ(vq_drv_add(f.q, &sg, 1, 0, &tok[1]), 0);
	ASSERT_FALSE(vq_drv_kick_prepare(f.q)); /* slot 1 */
	ASSERT_EQ(vq_drv_add(f.q, &sg, 1, 0, &tok[2]), 0);
	ASSERT_TRUE(vq_drv_kick_prepare(f.q)); /* slot 2 */
	/* Wrap: event slot 0 of the next lap (wrap 0). */
	dev_evt[0] = 0;
	ASSERT_EQ(vq_drv_add(f.q, &sg, 1, 0, &tok[3]), 0);
	ASSERT_FALSE(vq_drv_kick_prepare(f.q)); /* slot 3, lap 1 */
	for (int i = 0; i < 4; i++) {
		unsigned n;
		int id = dev_packed_pop(&f, &n);
		dev_packed_use(&f, (uint16_t)id, 0, n);
		void *t;
		uint32_t l;
		ASSERT_EQ(vq_drv_get(f.q, &t, &l), 1);
	}
	ASSERT_EQ(vq_drv_add(f.q, &sg, 1, 0, &tok[4]), 0);
	ASSERT_TRUE(vq_drv_kick_prepare(f.q)); /* slot 0, lap 2 */
	dev_evt[1] = 0; /* ENABLE */
	ASSERT_EQ(vq_drv_add(f.q, &sg, 1, 0, &tok[5]), 0);
	ASSERT_TRUE(vq_drv_kick_prepare(f.q));
	fx_fini(&f);
}

TEST(drv_callbacks_enable_disable)
{
	struct fx f;
	struct vq_seg sg = { 0x1000, 10 };

	fx_init(&f, VQ_LAYOUT_SPLIT, 8, 0, 0, 0, 0);
	vq_drv_disable_notify(f.q);
	ASSERT_EQ(avail16(&f)[0], 1); /* NO_INTERRUPT */
	ASSERT_FALSE(vq_drv_enable_notify(f.q));
	ASSERT_EQ(avail16(&f)[0], 0);
	ASSERT_EQ(vq_drv_add(f.q, &sg, 0, 1, &tok[0]), 0);
	vq_drv_kick_prepare(f.q);
	vq_drv_disable_notify(f.q);
	dev_split_use(&f, (uint32_t)dev_split_pop(&f), 3);
	ASSERT_TRUE(vq_drv_enable_notify(f.q)); /* pending: poll again */
	expect_get(&f, &tok[0], 3);
	ASSERT_FALSE(vq_drv_enable_notify(f.q));
	fx_fini(&f);

	fx_init(&f, VQ_LAYOUT_SPLIT, 8, VQ_F_EVENT_IDX, 0, 0, 0);
	uint16_t *used_event = &avail16(&f)[2 + 8];
	ASSERT_EQ(vq_drv_add(f.q, &sg, 0, 1, &tok[0]), 0);
	vq_drv_kick_prepare(f.q);
	dev_split_use(&f, (uint32_t)dev_split_pop(&f), 3);
	expect_get(&f, &tok[0], 3);
	ASSERT_EQ(*used_event, 1); /* interrupt at the next entry */
	vq_drv_disable_notify(f.q);
	ASSERT_EQ(avail16(&f)[0], 0); /* flags stay 0 with EVENT_IDX */
	ASSERT_EQ(*used_event, 0);    /* an index already passed */
	ASSERT_FALSE(vq_drv_enable_notify(f.q));
	ASSERT_EQ(*used_event, 1);
	fx_fini(&f);

	fx_init(&f, VQ_LAYOUT_PACKED, 4, VQ_F_EVENT_IDX, 0, 0, 0);
	uint16_t *drv_evt = avail16(&f);
	vq_drv_disable_notify(f.q);
	ASSERT_EQ(drv_evt[1], 1);
	ASSERT_EQ(vq_drv_add(f.q, &sg, 0, 1, &tok[0]), 0);
	vq_drv_kick_prepare(f.q);
	ASSERT_FALSE(vq_drv_enable_notify(f.q));
	ASSERT_EQ(drv_evt[1], 2);         /* DESC */
	ASSERT_EQ(drv_evt[0], 0 | 0x8000); /* slot 0, wrap 1 */
	unsigned n;
	int id = dev_packed_pop(&f, &n);
	vq_drv_disable_notify(f.q);
	dev_packed_use(&f, (uint16_t)id, 4, n);
	ASSERT_TRUE(vq_drv_enable_notify(f.q));
	expect_get(&f, &tok[0], 4);
	fx_fini(&f);
}

/* ---- LARGE_CHAIN on the driver side */

TEST(drv_large_chain_needs_feature_and_table)
{
	struct fx f;
	static struct vq_seg sg[300];

	for (int i = 0; i < 300; i++)
		sg[i] = (struct vq_seg){ 0x100000ull + 0x2000ull * (uint64_t)i, 0x1000 };
	fx_init(&f, VQ_LAYOUT_SPLIT, 16, VQ_F_INDIRECT, 1, 512, 0);
	ASSERT_EQ(vq_drv_add(f.q, sg, 150, 150, &tok[0]), -E2BIG); /* > queue size */
	fx_fini(&f);
	fx_init(&f, VQ_LAYOUT_PACKED, 16, VQ_F_INDIRECT | VQ_F_LARGE_CHAIN, 1, 512, 512);
	ASSERT_EQ(vq_drv_add(f.q, sg, 150, 150, &tok[0]), 0);
	ASSERT_EQ(vq_drv_nfree(f.q), 15);
	/* Table busy: the chain cannot go direct now, but could later. */
	ASSERT_EQ(vq_drv_add(f.q, sg, 150, 150, &tok[1]), -ENOSPC);
	/* Longer than the table: it can never be added. */
	fx_fini(&f);
	fx_init(&f, VQ_LAYOUT_PACKED, 16, VQ_F_INDIRECT | VQ_F_LARGE_CHAIN, 1, 256, 512);
	ASSERT_EQ(vq_drv_add(f.q, sg, 150, 150, &tok[0]), -E2BIG);
	fx_fini(&f);
}
