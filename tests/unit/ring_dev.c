/* SPDX-License-Identifier: MIT */
/*
 * Device side of the ring against hand-built rings that are correct: chains,
 * indirect tables, regions, notifications, kick suppression, state
 * save/restore, push errors, in-order and out-of-order completion.
 */
#include "ring_dev_fx.h"

/* ======================================================================
 * Hand-built rings that are correct
 * ====================================================================== */

static void expect_iov(struct fx *f, unsigned k, uint64_t gpa, size_t len)
{
	if (f->iov[k].iov_base != hp(f, gpa) || f->iov[k].iov_len != len)
		FAIL("iov[%u] = %p/%zu, want gpa 0x%llx (%p)/%zu", k, f->iov[k].iov_base,
		     f->iov[k].iov_len, (unsigned long long)gpa, (void *)hp(f, gpa), len);
}

/* Driver adds a one-descriptor chain; device pops, pushes len, flushes. */
static uint16_t cycle(struct fx *f, uint16_t id, uint32_t len)
{
	put1(f, BUF, 64, VRING_DESC_F_WRITE, id);
	ASSERT_EQ(pop(f), 1);
	ASSERT_EQ(vq_dev_push(f->q, &f->e, len), 0);
	vq_dev_flush(f->q);
	return f->e.id;
}

static void simple_chain(enum vq_layout layout)
{
	struct fx f;
	const struct td d[5] = {
		{ BUF, 100, 0 }, { GB - 0x10, 0x20, 0 }, /* spans A -> B */
		{ BUF + 0x400, 0, 0 },                   /* zero length: no segment */
		{ BUF + 0x800, 200, VRING_DESC_F_WRITE }, { BUF + 0x900, 0, VRING_DESC_F_WRITE },
	};
	struct vq_elem e;
	uint32_t id, len;

	fx_init(&f, layout, 8);
	fx_dev(&f);
	ASSERT_EQ(pop(&f), 0);
	ASSERT_FALSE(vq_dev_has_avail(f.q));
	put_chain(&f, d, 5, 5);
	ASSERT_TRUE(vq_dev_has_avail(f.q));
	ASSERT_EQ(pop(&f), 1);
	ASSERT_EQ(f.e.id, layout == VQ_LAYOUT_PACKED ? 5 : 0);
	ASSERT_EQ(f.e.ndesc, 5);
	ASSERT_EQ(f.e.out_num, 3);
	ASSERT_EQ(f.e.in_num, 1);
	ASSERT_EQ_U64(f.e.out_len, 132);
	ASSERT_EQ_U64(f.e.in_len, 200);
	expect_iov(&f, 0, BUF, 100);
	expect_iov(&f, 1, GB - 0x10, 0x10);
	expect_iov(&f, 2, GB, 0x10);
	expect_iov(&f, 3, BUF + 0x800, 200);
	e = f.e;
	ASSERT_EQ(pop(&f), 0);
	ASSERT_EQ(vq_dev_inflight(f.q), 1);
	ASSERT_EQ(vq_dev_push(f.q, &e, 150), 0);
	ASSERT_EQ(vq_dev_inflight(f.q), 0);
	if (layout == VQ_LAYOUT_SPLIT) {
		ASSERT_EQ(s_used_idx(&f), 0); /* staged until flush */
		vq_dev_flush(f.q);
		ASSERT_EQ(s_used_idx(&f), 1);
		s_used_elem(&f, 0, &id, &len);
		ASSERT_EQ(id, 0);
		ASSERT_EQ(len, 150);
		ASSERT_EQ(cycle(&f, 0, 0), 5);
		s_used_elem(&f, 1, &id, &len);
		ASSERT_EQ(id, 5);
		ASSERT_EQ(len, 0);
	} else {
		ASSERT_EQ(p_get16(&f, 0, 14), VQ__DESC_F_AVAIL | VRING_DESC_F_NEXT); /* staged until flush */
		vq_dev_flush(f.q);
		ASSERT_EQ(p_get16(&f, 0, 14), VQ__DESC_F_AVAIL | VQ__DESC_F_USED | VRING_DESC_F_WRITE);
		ASSERT_EQ(p_get16(&f, 0, 12), 5);
		memcpy(&len, p_slot(&f, 0) + 8, 4);
		ASSERT_EQ(len, 150);
		ASSERT_EQ(cycle(&f, 2, 0), 2); /* the next chain sits at slot 5 */
		ASSERT_EQ(p_get16(&f, 5, 14), VQ__DESC_F_AVAIL | VQ__DESC_F_USED);
		ASSERT_EQ(p_get16(&f, 5, 12), 2);
	}
	ASSERT_FALSE(vq_dev_is_broken(f.q));
	ASSERT_STR_EQ(vq_dev_error(f.q), "");
	fx_fini(&f);
}

TEST(split_simple_chain) { simple_chain(VQ_LAYOUT_SPLIT); }
TEST(packed_simple_chain) { simple_chain(VQ_LAYOUT_PACKED); }

/* Indirect tables: read-only region, spanning two regions, misaligned. */
static void indirect(enum vq_layout layout)
{
	struct fx f;
	const struct td t[2] = { { BUF + 0x100, 16, 0 }, { BUF + 0x200, 32, VRING_DESC_F_WRITE } };
	const uint64_t where[3] = { GR, GB - 16, T1 + 4 };

	fx_init(&f, layout, 8);
	fx_dev(&f);
	put_table(&f, GB - 16, t, 2, true);
	put_table(&f, T1 + 4, t, 2, true);
	for (unsigned i = 0; i < 3; i++) {
		put1(&f, where[i], 32, VRING_DESC_F_INDIRECT | (i == 2 ? VRING_DESC_F_WRITE : 0), 3);
		ASSERT_EQ(pop(&f), 1);
		ASSERT_EQ(f.e.ndesc, 1);
		ASSERT_EQ(f.e.out_num, 1);
		ASSERT_EQ(f.e.in_num, 1);
		expect_iov(&f, 0, BUF + 0x100, 16);
		expect_iov(&f, 1, BUF + 0x200, 32);
		ASSERT_EQ(vq_dev_push(f.q, &f.e, 32), 0);
		vq_dev_flush(f.q);
	}
	fx_fini(&f);
}

TEST(split_indirect) { indirect(VQ_LAYOUT_SPLIT); }
TEST(packed_indirect) { indirect(VQ_LAYOUT_PACKED); }

static void enobufs(enum vq_layout layout)
{
	struct fx f;
	const struct td d[2] = { { GB - 8, 16, 0 }, { BUF, 16, VRING_DESC_F_WRITE } };

	fx_init(&f, layout, 8);
	fx_dev(&f);
	put_chain(&f, d, 2, 1);
	ASSERT_EQ(pop_cap(&f, 2), -ENOBUFS);
	ASSERT_EQ(pop_cap(&f, 0), -ENOBUFS);
	ASSERT_FALSE(vq_dev_is_broken(f.q));
	ASSERT_EQ(vq_dev_inflight(f.q), 0);
	ASSERT_TRUE(vq_dev_has_avail(f.q));
	ASSERT_EQ(pop_cap(&f, 3), 1);
	ASSERT_EQ(f.e.out_num, 2);
	ASSERT_EQ(f.e.in_num, 1);
	fx_fini(&f);
}

TEST(split_enobufs) { enobufs(VQ_LAYOUT_SPLIT); }
TEST(packed_enobufs) { enobufs(VQ_LAYOUT_PACKED); }

static void chain_4gib(enum vq_layout layout)
{
	struct fx f;
	const struct td d[2] = { { GBIG, 0x80000000u, 0 }, { GBIG + 0x80000000u, 0x80000000u, VRING_DESC_F_WRITE } };

	fx_init(&f, layout, 8);
	fx_dev(&f);
	put_chain(&f, d, 2, 1);
	ASSERT_EQ(pop(&f), 1);
	ASSERT_EQ_U64(f.e.out_len + f.e.in_len, VQ_MAX_CHAIN_BYTES);
	fx_fini(&f);
}

TEST(split_chain_exactly_4gib) { chain_4gib(VQ_LAYOUT_SPLIT); }
TEST(packed_chain_exactly_4gib) { chain_4gib(VQ_LAYOUT_PACKED); }

TEST(split_event_idx_notify)
{
	struct fx f;
	uint16_t *used_event;

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	f.cfg.features |= VQ_F_EVENT_IDX;
	fx_dev(&f);
	used_event = &s_avail(&f)[2 + 8];
	ASSERT_FALSE(vq_dev_need_notify(f.q)); /* nothing published */
	*used_event = 0;
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q)); /* used 0 -> 1 passes 0 */
	ASSERT_FALSE(vq_dev_need_notify(f.q));
	*used_event = 5;
	cycle(&f, 0, 1);
	ASSERT_FALSE(vq_dev_need_notify(f.q)); /* 1 -> 2 */
	cycle(&f, 0, 1);
	cycle(&f, 0, 1);
	cycle(&f, 0, 1);
	ASSERT_FALSE(vq_dev_need_notify(f.q)); /* 2 -> 5 */
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));  /* 5 -> 6 passes 5 */
	*used_event = 6;
	s_avail(&f)[0] = 1; /* NO_INTERRUPT is ignored with EVENT_IDX */
	cycle(&f, 0, 1);
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));  /* 6 -> 8 in one batch */
	fx_fini(&f);
}

TEST(split_no_interrupt_flag)
{
	struct fx f;

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	fx_dev(&f);
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));
	s_avail(&f)[0] = 1; /* VRING_AVAIL_F_NO_INTERRUPT */
	cycle(&f, 0, 1);
	ASSERT_FALSE(vq_dev_need_notify(f.q));
	s_avail(&f)[0] = 0;
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));
	ASSERT_FALSE(vq_dev_need_notify(f.q));
	fx_fini(&f);
}

TEST(packed_event_suppression)
{
	struct fx f;
	uint16_t *ev;

	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	f.cfg.features |= VQ_F_EVENT_IDX;
	fx_dev(&f);
	ev = p_drv_event(&f);
	ev[1] = 0; /* ENABLE */
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));
	ev[1] = 1; /* DISABLE */
	cycle(&f, 0, 1);
	ASSERT_FALSE(vq_dev_need_notify(f.q));
	ev[1] = 2; /* DESC: slot 3, wrap 1 */
	ev[0] = 3 | 0x8000;
	cycle(&f, 0, 1);
	ASSERT_FALSE(vq_dev_need_notify(f.q)); /* used slot 2 -> 3 */
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));  /* 3 -> 4: slot 3 used */
	ev[0] = 2;                             /* slot 2 of the next lap */
	for (unsigned i = 0; i < 6; i++) {     /* 4 -> 8/0 -> 2 */
		cycle(&f, 0, 1);
		ASSERT_FALSE(vq_dev_need_notify(f.q));
	}
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));  /* slot 2, wrap 0 */
	fx_fini(&f);

	/* DESC without EVENT_IDX is not valid: notify as if enabled. */
	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	fx_dev(&f);
	p_drv_event(&f)[1] = 2;
	p_drv_event(&f)[0] = 7 | 0x8000;
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));
	fx_fini(&f);
}

TEST(split_kicks)
{
	struct fx f;

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	fx_dev(&f);
	vq_dev_disable_notify(f.q);
	ASSERT_EQ(*(uint16_t *)s_used(&f), 1); /* VRING_USED_F_NO_NOTIFY */
	ASSERT_FALSE(vq_dev_enable_notify(f.q));
	ASSERT_EQ(*(uint16_t *)s_used(&f), 0);
	vq_dev_disable_notify(f.q);
	put1(&f, BUF, 16, 0, 0); /* the driver races with re-enabling */
	ASSERT_TRUE(vq_dev_enable_notify(f.q));
	fx_fini(&f);

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	f.cfg.features |= VQ_F_EVENT_IDX;
	fx_dev(&f);
	ASSERT_FALSE(vq_dev_enable_notify(f.q));
	ASSERT_EQ(s_avail_event(&f), 0);
	put1(&f, BUF, 16, 0, 0);
	put1(&f, BUF, 16, 0, 0);
	ASSERT_EQ(pop(&f), 1);
	ASSERT_EQ(s_avail_event(&f), 1); /* follows pops while enabled */
	vq_dev_disable_notify(f.q);
	ASSERT_EQ(pop(&f), 1);
	ASSERT_EQ(s_avail_event(&f), 1); /* frozen while disabled */
	ASSERT_FALSE(vq_dev_enable_notify(f.q));
	ASSERT_EQ(s_avail_event(&f), 2);
	put1(&f, BUF, 16, 0, 0);
	ASSERT_TRUE(vq_dev_enable_notify(f.q));
	fx_fini(&f);
}

TEST(packed_kicks)
{
	struct fx f;

	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	fx_dev(&f);
	vq_dev_disable_notify(f.q);
	ASSERT_EQ(p_dev_event(&f)[1], 1);
	ASSERT_FALSE(vq_dev_enable_notify(f.q));
	ASSERT_EQ(p_dev_event(&f)[1], 0);
	vq_dev_disable_notify(f.q);
	put1(&f, BUF, 16, 0, 0);
	ASSERT_TRUE(vq_dev_enable_notify(f.q));
	fx_fini(&f);

	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	f.cfg.features |= VQ_F_EVENT_IDX;
	fx_dev(&f);
	ASSERT_FALSE(vq_dev_enable_notify(f.q));
	ASSERT_EQ(p_dev_event(&f)[1], 2);
	ASSERT_EQ(p_dev_event(&f)[0], 0x8000);
	const struct td d[3] = { { BUF, 1, 0 }, { BUF, 1, 0 }, { BUF, 1, 0 } };
	put_chain(&f, d, 3, 4);
	ASSERT_EQ(pop(&f), 1);
	ASSERT_EQ(p_dev_event(&f)[0], 0x8000 | 3);
	vq_dev_disable_notify(f.q);
	ASSERT_EQ(p_dev_event(&f)[1], 1);
	fx_fini(&f);
}

TEST(split_state_round_trip)
{
	struct fx f;
	struct vq_state s = { 65534, 65534, false, false }, g;
	struct vq_dev *q2;
	uint32_t id, len;

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	fx_dev(&f);
	ASSERT_EQ(vq_dev_set_state(f.q, &s), 0);
	vq_dev_get_state(f.q, &g);
	ASSERT_EQ(g.avail_idx, 65534);
	ASSERT_EQ(g.used_idx, 65534);
	f.aidx = 65534;
	for (unsigned i = 0; i < 3; i++)
		cycle(&f, 0, 10 + i); /* across the 16-bit wrap */
	ASSERT_EQ(s_used_idx(&f), 1);
	s_used_elem(&f, 65535, &id, &len);
	ASSERT_EQ(len, 11);
	s_used_elem(&f, 0, &id, &len);
	ASSERT_EQ(len, 12);
	vq_dev_get_state(f.q, &g);
	ASSERT_EQ(g.avail_idx, 1);
	ASSERT_EQ(g.used_idx, 1);
	/* A second queue object resumes where the first stopped. */
	ASSERT_EQ(vq_dev_new(&f.cfg, f.mem, &q2), 0);
	ASSERT_EQ(vq_dev_set_state(q2, &g), 0);
	vq_dev_free(f.q);
	f.q = q2;
	cycle(&f, 0, 13);
	ASSERT_EQ(s_used_idx(&f), 2);
	s_used_elem(&f, 1, &id, &len);
	ASSERT_EQ(len, 13);
	ASSERT_TRUE(vq_dev_need_notify(f.q)); /* position restored: notify */
	fx_fini(&f);
}

TEST(packed_state_round_trip_odd_size)
{
	struct fx f;
	struct vq_state g, bad;
	struct vq_dev *q2;
	uint16_t used = 0;
	bool wrap = true;
	const struct td d[2] = { { BUF, 16, 0 }, { BUF + 0x100, 16, VRING_DESC_F_WRITE } };

	fx_init(&f, VQ_LAYOUT_PACKED, 5);
	fx_dev(&f);
	for (unsigned i = 0; i < 10; i++) {
		if (i == 7) { /* stop and resume with a fresh queue object */
			vq_dev_get_state(f.q, &g);
			ASSERT_EQ(g.avail_idx, used);
			ASSERT_EQ(g.used_wrap, wrap);
			ASSERT_EQ(vq_dev_new(&f.cfg, f.mem, &q2), 0);
			bad = g;
			bad.avail_idx = 5;
			ASSERT_EQ(vq_dev_set_state(q2, &bad), -EINVAL);
			bad = g;
			bad.used_idx = 5;
			ASSERT_EQ(vq_dev_set_state(q2, &bad), -EINVAL);
			ASSERT_EQ(vq_dev_set_state(q2, &g), 0);
			vq_dev_free(f.q);
			f.q = q2;
		}
		put_chain(&f, d, 2, (uint16_t)(i % 5));
		ASSERT_EQ(pop(&f), 1);
		ASSERT_EQ(f.e.id, i % 5);
		ASSERT_EQ(vq_dev_push(f.q, &f.e, 16), 0);
		vq_dev_flush(f.q);
		ASSERT_EQ(p_get16(&f, used, 12), i % 5);
		ASSERT_EQ(p_get16(&f, used, 14),
			  VRING_DESC_F_WRITE | (wrap ? VQ__DESC_F_AVAIL | VQ__DESC_F_USED : 0));
		used += 2;
		if (used >= 5) {
			used -= 5;
			wrap = !wrap;
		}
	}
	fx_fini(&f);
}

TEST(large_chain_feature)
{
	struct fx f;
	struct vq_dev *q;
	struct td t[17];

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	f.cfg.max_chain = 9;
	ASSERT_EQ(vq_dev_new(&f.cfg, f.mem, &q), -EINVAL);
	f.cfg.features |= VQ_F_LARGE_CHAIN;
	f.cfg.max_chain = VQ_MAX_CHAIN + 1;
	ASSERT_EQ(vq_dev_new(&f.cfg, f.mem, &q), -EINVAL);
	f.cfg.max_chain = 16;
	fx_dev(&f);
	for (unsigned i = 0; i < 17; i++)
		t[i] = (struct td){ BUF + 0x40 * i, 0x40, 0 };
	put_table(&f, T1, t, 16, true);
	put1(&f, T1, 16 * 16, VRING_DESC_F_INDIRECT, 0);
	ASSERT_EQ(pop(&f), 1);
	ASSERT_EQ(f.e.out_num, 16);
	ASSERT_EQ(vq_dev_push(f.q, &f.e, 0), 0);
	put_table(&f, T1, t, 17, true);
	put1(&f, T1, 17 * 16, VRING_DESC_F_INDIRECT, 0);
	ASSERT_EQ(pop(&f), -E2BIG);
	ASSERT_EQ(vq_dev_violation(f.q), VQ_ERR_CHAIN_LEN);
	fx_fini(&f);
}

TEST(dev_new_bad_config)
{
	struct fx f;
	struct vq_dev *q;
	struct vq_ring_params c;

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	c = f.cfg;
	c.size = 6; /* split needs a power of two */
	ASSERT_EQ(vq_dev_new(&c, f.mem, &q), -EINVAL);
	c.size = 0;
	ASSERT_EQ(vq_dev_new(&c, f.mem, &q), -EINVAL);
	c = f.cfg;
	c.desc = (char *)c.desc + 8;
	ASSERT_EQ(vq_dev_new(&c, f.mem, &q), -EINVAL);
	c = f.cfg;
	c.used = NULL;
	ASSERT_EQ(vq_dev_new(&c, f.mem, &q), -EINVAL);
	ASSERT_EQ(vq_dev_new(&f.cfg, NULL, &q), -EINVAL);
	c = f.cfg;
	c.layout = VQ_LAYOUT_PACKED;
	c.size = 6; /* packed: any size */
	ASSERT_EQ(vq_dev_new(&c, f.mem, &q), 0);
	vq_dev_free(q);
	c.size = VQ_MAX_QUEUE_SIZE + 1;
	ASSERT_EQ(vq_dev_new(&c, f.mem, &q), -EINVAL);
	fx_fini(&f);
}

static void push_errors(enum vq_layout layout)
{
	struct fx f;
	const struct td d[2] = { { BUF, 16, 0 }, { BUF, 16, VRING_DESC_F_WRITE } };
	struct vq_elem e;

	fx_init(&f, layout, 8);
	fx_dev(&f);
	put_chain(&f, d, 2, 6);
	ASSERT_EQ(pop(&f), 1);
	e = f.e;
	ASSERT_EQ(vq_dev_push(f.q, &e, 17), -EINVAL); /* more than in_len */
	ASSERT_EQ(vq_dev_push_id(f.q, (uint16_t)(e.id ^ 1), e.ndesc, 0), -EINVAL);
	ASSERT_EQ(vq_dev_push_id(f.q, 8, 1, 0), -EINVAL);
	if (layout == VQ_LAYOUT_PACKED)
		ASSERT_EQ(vq_dev_push_id(f.q, e.id, 1, 0), -EINVAL); /* ndesc is 2 */
	ASSERT_FALSE(vq_dev_is_broken(f.q));
	ASSERT_EQ(vq_dev_push(f.q, &e, 16), 0);
	ASSERT_EQ(vq_dev_push(f.q, &e, 16), -EINVAL); /* no longer in flight */
	fx_fini(&f);
}

TEST(split_push_errors) { push_errors(VQ_LAYOUT_SPLIT); }
TEST(packed_push_errors) { push_errors(VQ_LAYOUT_PACKED); }

TEST(packed_out_of_order_batch)
{
	struct fx f;
	struct vq_elem e[3];
	const struct td two[2] = { { BUF, 16, 0 }, { BUF, 16, VRING_DESC_F_WRITE } };

	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	fx_dev(&f);
	put1(&f, BUF, 16, VRING_DESC_F_WRITE, 7);
	put_chain(&f, two, 2, 1);
	put1(&f, BUF, 16, VRING_DESC_F_WRITE, 4);
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_EQ(pop(&f), 1);
		e[i] = f.e;
	}
	ASSERT_EQ(e[0].id, 7);
	ASSERT_EQ(e[1].id, 1);
	ASSERT_EQ(e[2].id, 4);
	ASSERT_EQ(vq_dev_push(f.q, &e[1], 5), 0); /* slot 0, skips 2 */
	ASSERT_EQ(vq_dev_push(f.q, &e[0], 6), 0); /* slot 2 */
	ASSERT_EQ(vq_dev_push(f.q, &e[2], 0), 0); /* slot 3 */
	ASSERT_EQ(p_get16(&f, 0, 14), VQ__DESC_F_AVAIL | VRING_DESC_F_WRITE); /* first not yet used */
	vq_dev_flush(f.q);
	ASSERT_EQ(p_get16(&f, 0, 12), 1);
	ASSERT_EQ(p_get16(&f, 0, 14), VQ__DESC_F_AVAIL | VQ__DESC_F_USED | VRING_DESC_F_WRITE);
	ASSERT_EQ(p_get16(&f, 2, 12), 7);
	ASSERT_EQ(p_get16(&f, 2, 14), VQ__DESC_F_AVAIL | VQ__DESC_F_USED | VRING_DESC_F_WRITE);
	ASSERT_EQ(p_get16(&f, 3, 12), 4);
	ASSERT_EQ(p_get16(&f, 3, 14), VQ__DESC_F_AVAIL | VQ__DESC_F_USED);
	fx_fini(&f);
}

TEST(split_in_order_sparse_ids)
{
	struct fx f;
	const uint16_t heads[3] = { 5, 2, 7 };
	uint32_t id, len;

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	f.cfg.features |= VQ_F_IN_ORDER;
	fx_dev(&f);
	for (unsigned i = 0; i < 3; i++) {
		s_desc(&f, heads[i], BUF, 16, VRING_DESC_F_WRITE, 0);
		s_publish(&f, heads[i]);
	}
	struct vq_elem e[3];
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_EQ(pop(&f), 1);
		e[i] = f.e;
		ASSERT_EQ(e[i].id, heads[i]);
	}
	for (unsigned i = 0; i < 3; i++)
		ASSERT_EQ(vq_dev_push(f.q, &e[i], i), 0);
	vq_dev_flush(f.q);
	ASSERT_EQ(s_used_idx(&f), 3);
	for (unsigned i = 0; i < 3; i++) {
		s_used_elem(&f, (uint16_t)i, &id, &len);
		ASSERT_EQ(id, heads[i]);
		ASSERT_EQ(len, i);
	}
	fx_fini(&f);
}

/* Packed, first lap: slot holds a used descriptor for buffer id, len bytes
 * written (a macro: a failure names the caller's line). */
#define USED_AT(f, slot, id, len)                                                    \
	do {                                                                         \
		ASSERT_EQ(p_get16(f, slot, 12), id);                                 \
		ASSERT_EQ(p_get16(f, slot, 8), len);                                 \
		ASSERT_EQ(p_get16(f, slot, 14),                                      \
			  VQ__DESC_F_AVAIL | VQ__DESC_F_USED | VRING_DESC_F_WRITE);   \
	} while (0)

/* Pop n buffers in turn, pushing each as it comes with lens[i]. */
static void pop_push(struct fx *f, const uint32_t *lens, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		ASSERT_EQ(pop(f), 1);
		ASSERT_EQ(vq_dev_push(f->q, &f->e, lens[i]), 0);
	}
}

/*
 * Packed IN_ORDER: buffers pushed in pop order are returned as runs, one
 * used descriptor per run at its first slot with the id and len of its
 * last buffer (the driver takes the others as used completely).  A buffer
 * whose len is below its writable length ends a run.
 */
TEST(packed_in_order_runs)
{
	struct fx f;
	const struct td two[2] = { { BUF, 16, 0 }, { BUF, 16, VRING_DESC_F_WRITE } };
	const uint32_t lens[7] = { 16, 16, 5, 0, 0, 3, 16 };

	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	f.cfg.features |= VQ_F_IN_ORDER;
	fx_dev(&f);
	put1(&f, BUF, 16, VRING_DESC_F_WRITE, 0);  /* slot 0 */
	put_chain(&f, two, 2, 1);       /* slots 1-2 */
	put1(&f, BUF, 16, VRING_DESC_F_WRITE, 3);  /* slot 3 */
	put1(&f, BUF, 16, 0, 4);        /* slot 4, nothing writable */
	put1(&f, BUF, 16, 0, 5);        /* slot 5 */
	put1(&f, BUF, 16, VRING_DESC_F_WRITE, 6);  /* slot 6 */
	put1(&f, BUF, 16, VRING_DESC_F_WRITE, 7);  /* slot 7 */
	pop_push(&f, lens, 7);
	ASSERT_EQ(p_get16(&f, 0, 14), VQ__DESC_F_AVAIL | VRING_DESC_F_WRITE); /* not before flush */
	vq_dev_flush(f.q);
	/* Run 0..3: full, full, then 5 of 16 ends it. */
	USED_AT(&f, 0, 3, 5);
	ASSERT_EQ(p_get16(&f, 3, 14), VQ__DESC_F_AVAIL | VRING_DESC_F_WRITE); /* skipped, untouched */
	/* Run 4..6: len 0 with nothing writable is full; 3 of 16 ends it. */
	USED_AT(&f, 4, 6, 3);
	ASSERT_EQ(p_get16(&f, 5, 14), VQ__DESC_F_AVAIL);
	/* Slot 7 on its own: the flush ends the run. */
	USED_AT(&f, 7, 7, 16);
	ASSERT_EQ(vq_dev_inflight(f.q), 0);
	fx_fini(&f);
}

/* IN_ORDER packed: a buffer short of its writable length with no run open
 * is written at once as a run of one (a receive buffer a frame did not
 * fill); full buffers after it open a run of their own, and the batch's
 * first flags still wait for the flush. */
TEST(packed_in_order_short_first)
{
	struct fx f;
	const uint32_t lens[5] = { 5, 7, 16, 16, 2 };

	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	f.cfg.features |= VQ_F_IN_ORDER;
	fx_dev(&f);
	for (uint16_t i = 0; i < 5; i++)
		put1(&f, BUF, 16, VRING_DESC_F_WRITE, i);
	pop_push(&f, lens, 5);
	ASSERT_EQ(p_get16(&f, 0, 14), VQ__DESC_F_AVAIL | VRING_DESC_F_WRITE); /* not before flush */
	vq_dev_flush(f.q);
	USED_AT(&f, 0, 0, 5);
	USED_AT(&f, 1, 1, 7);
	/* Run 2..4: full, full, then 2 of 16 ends it, at slot 2. */
	USED_AT(&f, 2, 4, 2);
	ASSERT_EQ(p_get16(&f, 3, 14), VQ__DESC_F_AVAIL | VRING_DESC_F_WRITE); /* skipped, untouched */
	ASSERT_EQ(vq_dev_inflight(f.q), 0);
	fx_fini(&f);
}
