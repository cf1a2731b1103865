/* SPDX-License-Identifier: MIT */
/*
 * Driver side of the ring against a hostile device: used ids, lengths and
 * indexes out of bounds, a bad IN_ORDER batch id; the ring breaks with the
 * exact violation and returns nothing it did not hand out.
 */
#include "ring_drv_fx.h"

/* ---- a hostile device */

static void expect_broken(struct fx *f, int r, enum vq_violation v)
{
	struct vq_seg sg = { 0x1000, 10 };
	void *t;
	uint32_t l;

	ASSERT_EQ(r, vq_violation_errno(v));
	ASSERT_TRUE(vq_drv_is_broken(f->q));
	ASSERT_EQ(vq_drv_violation(f->q), v);
	ASSERT_TRUE(strstr(vq_drv_error(f->q), vq_violation_str(v)) != NULL);
	printf("  %s\n", vq_drv_error(f->q));
	/* Sticky. */
	ASSERT_EQ(vq_drv_get(f->q, &t, &l), -EIO);
	ASSERT_EQ(vq_drv_add(f->q, &sg, 1, 0, &tok[9]), -EIO);
	ASSERT_FALSE(vq_drv_kick_prepare(f->q));
	ASSERT_EQ(vq_drv_violation(f->q), v);
}

/* Two buffers in flight, the first published, heads returned in h[]. */
static void hostile_setup(struct fx *f, enum vq_layout layout, int h[2], unsigned n[2])
{
	struct vq_seg sg[2] = { { 0x1000, 10 }, { 0x3000, 20 } };

	fx_init(f, layout, 8, 0, 0, 0, 0);
	ASSERT_EQ(vq_drv_add(f->q, sg, 1, 1, &tok[0]), 0);
	vq_drv_kick_prepare(f->q);
	ASSERT_EQ(vq_drv_add(f->q, sg, 1, 1, &tok[1]), 0); /* not published */
	if (layout == VQ_LAYOUT_SPLIT) {
		h[0] = dev_split_pop(f);
		h[1] = avail16(f)[2 + 1];
	} else {
		h[0] = dev_packed_pop(f, &n[0]);
		h[1] = pd(f)[3].id;
	}
}

static int hostile_use(struct fx *f, enum vq_layout layout, uint32_t id, uint32_t len)
{
	void *t;
	uint32_t l;

	if (layout == VQ_LAYOUT_SPLIT)
		dev_split_use(f, id, len);
	else
		dev_packed_use(f, (uint16_t)id, len, 2);
	return vq_drv_get(f->q, &t, &l);
}

TEST(drv_hostile_used_id)
{
	for (int layout = 0; layout < 2; layout++) {
		struct fx f;
		int h[2];
		unsigned n[2];
		uint32_t bad[4];

		/* Out of range; free; a buffer not yet published; a non-head. */
		hostile_setup(&f, (enum vq_layout)layout, h, n);
		bad[0] = 60000;
		bad[1] = layout ? 5 : (uint32_t)(h[0] + 4) & 7;
		bad[2] = (uint32_t)h[1];
		bad[3] = layout ? 8 : sd(&f)[h[0]].next;
		fx_fini(&f);
		for (int b = 0; b < 4; b++) {
			hostile_setup(&f, (enum vq_layout)layout, h, n);
			int r = hostile_use(&f, (enum vq_layout)layout, bad[b], 0);
			expect_broken(&f, r, VQ_ERR_USED_ID);
			fx_fini(&f);
		}
	}
}

TEST(drv_hostile_used_len)
{
	for (int layout = 0; layout < 2; layout++) {
		struct fx f;
		int h[2];
		unsigned n[2];

		hostile_setup(&f, (enum vq_layout)layout, h, n);
		int r = hostile_use(&f, (enum vq_layout)layout, (uint32_t)h[0], 21); /* 20 writable */
		expect_broken(&f, r, VQ_ERR_USED_LEN);
		fx_fini(&f);
		hostile_setup(&f, (enum vq_layout)layout, h, n);
		expect_none(&f);
		ASSERT_EQ(hostile_use(&f, (enum vq_layout)layout, (uint32_t)h[0], 20), 1);
		fx_fini(&f);
	}
}

TEST(drv_hostile_used_idx)
{
	struct fx f;
	int h[2];
	unsigned n[2];
	void *t;
	uint32_t l;

	/* Split: used idx two entries ahead with one buffer published. */
	hostile_setup(&f, VQ_LAYOUT_SPLIT, h, n);
	__atomic_store_n(&used16(&f)[1], 2, __ATOMIC_RELEASE);
	expect_broken(&f, vq_drv_get(f.q, &t, &l), VQ_ERR_USED_IDX);
	fx_fini(&f);
	/* Split: wildly ahead (the device ran off). */
	hostile_setup(&f, VQ_LAYOUT_SPLIT, h, n);
	__atomic_store_n(&used16(&f)[1], 40000, __ATOMIC_RELEASE);
	expect_broken(&f, vq_drv_get(f.q, &t, &l), VQ_ERR_USED_IDX);
	fx_fini(&f);
	/* Packed: AVAIL and USED disagree in a "used" descriptor. */
	hostile_setup(&f, VQ_LAYOUT_PACKED, h, n);
	pd(&f)[0].id = (uint16_t)h[0];
	__atomic_store_n(&pd(&f)[0].flags, VQ__DESC_F_USED, __ATOMIC_RELEASE);
	expect_broken(&f, vq_drv_get(f.q, &t, &l), VQ_ERR_PACKED_WRAP);
	fx_fini(&f);
}

TEST(drv_hostile_in_order_batch_id)
{
	struct fx f;
	struct vq_seg sg[2] = { { 0x1000, 10 }, { 0x3000, 20 } };

	for (int layout = 0; layout < 2; layout++) {
		fx_init(&f, (enum vq_layout)layout, 8, VQ_F_IN_ORDER, 0, 0, 0);
		ASSERT_EQ(vq_drv_add(f.q, sg, 1, 1, &tok[0]), 0);
		ASSERT_EQ(vq_drv_add(f.q, sg, 1, 1, &tok[1]), 0);
		vq_drv_kick_prepare(f.q);
		/* Head of the second buffer is 2; 1 is the middle of the first. */
		void *t;
		uint32_t l;
		if (layout == VQ_LAYOUT_SPLIT)
			dev_split_use(&f, 1, 0);
		else
			dev_packed_use(&f, 1, 0, 2);
		expect_broken(&f, vq_drv_get(f.q, &t, &l), VQ_ERR_USED_ID);
		fx_fini(&f);
	}
}
