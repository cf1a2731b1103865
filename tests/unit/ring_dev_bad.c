/* SPDX-License-Identifier: MIT */
/*
 * Device side of the ring against hand-built malformed rings: a table of
 * malformed inputs, each run on the split and/or packed layout.  The pop must
 * return the exact errno and enum vq_violation, leave the queue sticky-broken,
 * and touch nothing (guest memory is snapshotted around the pop, sits between
 * canary pages, and is fenced by PROT_NONE guard pages; the read-only region
 * is mapped read-only on the host too).
 */
#include "ring_dev_fx.h"

/* ======================================================================
 * Malformed input table
 * ====================================================================== */

enum { L_SPLIT = 1, L_PACKED = 2, L_BOTH = 3 };

struct bad_case {
	const char *name;
	unsigned layouts;
	void (*setup)(struct fx *f);
	int err;
	enum vq_violation v;
	const char *msg;      /* expected substring of vq_dev_error (split), or NULL */
	unsigned good_pops;   /* pops that succeed before the bad one */
	uint32_t max_chain;
	bool no_indirect;
};

static void c_addr_overflow(struct fx *f) { put1(f, UINT64_MAX - 0xfff, 0x2000, 0, 1); }
static void c_addr_overflow_end(struct fx *f) { put1(f, UINT64_MAX, 1, VRING_DESC_F_WRITE, 1); }
static void c_unmapped(struct fx *f) { put1(f, GHOLE, 16, 0, 1); }
static void c_unmapped_zero(struct fx *f) { put1(f, 0, 8, VRING_DESC_F_WRITE, 1); }
static void c_unmapped_tail(struct fx *f) { put1(f, GB + 4 * PG - 8, 16, 0, 1); }
static void c_unmapped_second(struct fx *f)
{
	const struct td d[2] = { { BUF, 16, 0 }, { GHOLE + 0x1000, 64, VRING_DESC_F_WRITE } };

	put_chain(f, d, 2, 1);
}
static void c_write_ro(struct fx *f) { put1(f, GR + 0x40, 16, VRING_DESC_F_WRITE, 1); }
static void c_read_after_write(struct fx *f)
{
	const struct td d[3] = { { BUF, 16, 0 }, { BUF + 0x100, 16, VRING_DESC_F_WRITE }, { BUF + 0x200, 16, 0 } };

	put_chain(f, d, 3, 1);
}
static void c_chain_len(struct fx *f)
{
	const struct td d[5] = { { BUF, 1, 0 }, { BUF, 1, 0 }, { BUF, 1, 0 }, { BUF, 1, 0 },
				 { BUF, 1, 0 } };

	put_chain(f, d, 5, 1);
}
static void c_chain_bytes(struct fx *f)
{
	const struct td d[3] = { { GBIG, 0x80000000u, 0 }, { GBIG + 0x80000000u, 0x80000000u, 0 },
				 { GBIG, 1, VRING_DESC_F_WRITE } };

	put_chain(f, d, 3, 1);
}
static void c_ind_nested(struct fx *f)
{
	const struct td t[2] = { { BUF, 16, 0 }, { T2, 32, VRING_DESC_F_INDIRECT } };

	put_table(f, T1, t, 2, true);
	put1(f, T1, 32, VRING_DESC_F_INDIRECT, 1);
}
static void c_ind_with_next(struct fx *f)
{
	const struct td t[1] = { { BUF, 16, 0 } };
	const struct td d[2] = { { T1, 16, VRING_DESC_F_INDIRECT }, { BUF, 16, VRING_DESC_F_WRITE } };

	put_table(f, T1, t, 1, true);
	put_chain(f, d, 2, 1);
}
static void c_ind_not_head(struct fx *f)
{
	const struct td t[1] = { { BUF, 16, VRING_DESC_F_WRITE } };
	const struct td d[2] = { { BUF, 16, 0 }, { T1, 16, VRING_DESC_F_INDIRECT } };

	put_table(f, T1, t, 1, true);
	put_chain(f, d, 2, 1);
}
static void c_ind_len0(struct fx *f) { put1(f, T1, 0, VRING_DESC_F_INDIRECT, 1); }
static void c_ind_len17(struct fx *f) { put1(f, T1, 17, VRING_DESC_F_INDIRECT, 1); }
static void c_ind_feature(struct fx *f)
{
	const struct td t[1] = { { BUF, 16, 0 } };

	put_table(f, T1, t, 1, true);
	put1(f, T1, 16, VRING_DESC_F_INDIRECT, 1);
}
static void c_ind_unmapped(struct fx *f) { put1(f, GHOLE, 32, VRING_DESC_F_INDIRECT, 1); }
static void c_ind_tail_unmapped(struct fx *f) { put1(f, GB + 4 * PG - 16, 32, VRING_DESC_F_INDIRECT, 1); }
static void c_ind_overflow(struct fx *f) { put1(f, UINT64_MAX - 15, 32, VRING_DESC_F_INDIRECT, 1); }
static void c_ind_too_long(struct fx *f)
{
	struct td t[9];

	for (unsigned i = 0; i < 9; i++)
		t[i] = (struct td){ BUF, 4, 0 };
	put_table(f, T1, t, 9, true);
	put1(f, T1, 9 * 16, VRING_DESC_F_INDIRECT, 1);
}
static void c_ind_bad_buffer(struct fx *f)
{
	const struct td t[2] = { { BUF, 16, 0 }, { GHOLE, 16, VRING_DESC_F_WRITE } };

	put_table(f, T1, t, 2, true);
	put1(f, T1, 32, VRING_DESC_F_INDIRECT, 1);
}
static void c_ind_write_ro(struct fx *f)
{
	const struct td t[2] = { { BUF, 16, 0 }, { GR, 16, VRING_DESC_F_WRITE } };

	put_table(f, T1, t, 2, true);
	put1(f, T1, 32, VRING_DESC_F_INDIRECT, 1);
}
static void c_ind_raw(struct fx *f)
{
	const struct td t[2] = { { BUF, 16, VRING_DESC_F_WRITE }, { BUF + 0x40, 16, 0 } };

	put_table(f, T1, t, 2, true);
	put1(f, T1, 32, VRING_DESC_F_INDIRECT, 1);
}

/* split only */
static void s_head_range(struct fx *f) { s_desc(f, 0, BUF, 16, 0, 0); s_publish(f, 8); }
static void s_head_range_max(struct fx *f) { s_publish(f, 0xffff); }
static void s_next_range(struct fx *f) { s_desc(f, 0, BUF, 16, VRING_DESC_F_NEXT, 8); s_publish(f, 0); }
static void s_loop_self(struct fx *f) { s_desc(f, 3, BUF, 16, VRING_DESC_F_NEXT, 3); s_publish(f, 3); }
static void s_loop2(struct fx *f)
{
	s_desc(f, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
	s_desc(f, 1, BUF, 16, VRING_DESC_F_NEXT, 0);
	s_publish(f, 0);
}
static void s_loop_tail(struct fx *f)
{
	s_desc(f, 0, BUF, 16, VRING_DESC_F_NEXT, 1);
	s_desc(f, 1, BUF, 16, VRING_DESC_F_NEXT, 2);
	s_desc(f, 2, BUF, 16, VRING_DESC_F_NEXT, 1);
	s_publish(f, 0);
}
static void s_ind_loop(struct fx *f)
{
	uint8_t b[16];

	enc_desc(f, b, BUF, 16, VRING_DESC_F_NEXT, 1);
	gwrite(f, T1, b, 16);
	enc_desc(f, b, BUF, 16, VRING_DESC_F_NEXT, 0);
	gwrite(f, T1 + 16, b, 16);
	put1(f, T1, 32, VRING_DESC_F_INDIRECT, 1);
}
static void s_ind_next_range(struct fx *f)
{
	uint8_t b[16];

	enc_desc(f, b, BUF, 16, VRING_DESC_F_NEXT, 2);
	gwrite(f, T1, b, 16);
	enc_desc(f, b, BUF, 16, 0, 0);
	gwrite(f, T1 + 16, b, 16);
	put1(f, T1, 32, VRING_DESC_F_INDIRECT, 1);
}
static void s_avail_idx(struct fx *f) { __atomic_store_n(&s_avail(f)[1], 9, __ATOMIC_RELEASE); }
static void s_avail_back(struct fx *f) { __atomic_store_n(&s_avail(f)[1], 0xffff, __ATOMIC_RELEASE); }
static void s_id_in_use(struct fx *f)
{
	s_desc(f, 2, BUF, 16, 0, 0);
	s_publish(f, 2);
	s_publish(f, 2);
}

/* packed only */
static void p_wrap_head(struct fx *f) { p_desc(f, 0, BUF, 16, 1, VQ__DESC_F_AVAIL | VQ__DESC_F_USED); }
static void p_wrap_chain(struct fx *f)
{
	p_desc(f, 1, BUF, 16, 1, VRING_DESC_F_WRITE | VQ__DESC_F_USED); /* AVAIL/USED as for the other lap */
	p_desc(f, 0, BUF, 16, 0xeeee, VRING_DESC_F_NEXT | VQ__DESC_F_AVAIL);
}
static void p_wrap_chain_zero(struct fx *f)
{
	p_desc(f, 0, BUF, 16, 0xeeee, VRING_DESC_F_NEXT | VQ__DESC_F_AVAIL); /* slot 1 never written */
}
static void p_wrap_chain_used(struct fx *f)
{
	p_desc(f, 1, BUF, 16, 1, VQ__DESC_F_AVAIL | VQ__DESC_F_USED);
	p_desc(f, 0, BUF, 16, 0xeeee, VRING_DESC_F_NEXT | VQ__DESC_F_AVAIL);
}
static void p_id_range(struct fx *f) { put1(f, BUF, 16, 0, 8); }
static void p_id_range_max(struct fx *f)
{
	const struct td d[2] = { { BUF, 16, 0 }, { BUF, 16, VRING_DESC_F_WRITE } };

	put_chain(f, d, 2, 0xffff);
}
static void p_id_in_use(struct fx *f)
{
	put1(f, BUF, 16, 0, 3);
	put1(f, BUF, 16, 0, 3);
}
static void p_chain_ring(struct fx *f)
{
	for (uint16_t s = 1; s < 8; s++)
		p_desc(f, s, BUF, 16, 0xeeee, VRING_DESC_F_NEXT | VQ__DESC_F_AVAIL);
	p_desc(f, 0, BUF, 16, 0xeeee, VRING_DESC_F_NEXT | VQ__DESC_F_AVAIL);
}
static void p_ind_nested_direct_table(struct fx *f)
{
	const struct td t[1] = { { T2, 16, VRING_DESC_F_INDIRECT } };

	put_table(f, T1, t, 1, false);
	put1(f, T1, 16, VRING_DESC_F_INDIRECT, 1);
}

#define BAD(n, l, fn, e, viol, m, ...) \
	{ .name = n, .layouts = l, .setup = fn, .err = e, .v = viol, .msg = m, __VA_ARGS__ }
static const struct bad_case cases[] = {
	BAD("addr_overflow", L_BOTH, c_addr_overflow, -EOVERFLOW, VQ_ERR_ADDR_OVERFLOW, "wraps"),
	BAD("addr_overflow_end", L_BOTH, c_addr_overflow_end, -EOVERFLOW, VQ_ERR_ADDR_OVERFLOW, NULL),
	BAD("unmapped", L_BOTH, c_unmapped, -EFAULT, VQ_ERR_ADDR_UNMAPPED, "0x300000 len 16"),
	BAD("unmapped_zero_page", L_BOTH, c_unmapped_zero, -EFAULT, VQ_ERR_ADDR_UNMAPPED, NULL),
	BAD("unmapped_tail", L_BOTH, c_unmapped_tail, -EFAULT, VQ_ERR_ADDR_UNMAPPED, NULL),
	BAD("unmapped_second", L_BOTH, c_unmapped_second, -EFAULT, VQ_ERR_ADDR_UNMAPPED, NULL),
	BAD("write_ro", L_BOTH, c_write_ro, -EACCES, VQ_ERR_WRITE_RO, "read-only"),
	BAD("read_after_write", L_BOTH, c_read_after_write, -EBADMSG, VQ_ERR_READ_AFTER_WRITE, NULL),
	BAD("chain_len", L_BOTH, c_chain_len, -E2BIG, VQ_ERR_CHAIN_LEN, "max chain 4", .max_chain = 4),
	BAD("chain_bytes", L_BOTH, c_chain_bytes, -EFBIG, VQ_ERR_CHAIN_BYTES, "4294967297"),
	BAD("ind_nested", L_BOTH, c_ind_nested, -EMLINK, VQ_ERR_INDIRECT_NESTED, NULL),
	BAD("ind_nested_first", L_BOTH, p_ind_nested_direct_table, -EMLINK, VQ_ERR_INDIRECT_NESTED, NULL),
	BAD("ind_with_next", L_BOTH, c_ind_with_next, -ENOTUNIQ, VQ_ERR_INDIRECT_NEXT, NULL),
	BAD("ind_not_head", L_BOTH, c_ind_not_head, -ENOTUNIQ, VQ_ERR_INDIRECT_NEXT, NULL),
	BAD("ind_len0", L_BOTH, c_ind_len0, -EINVAL, VQ_ERR_INDIRECT_LEN, "length 0"),
	BAD("ind_len17", L_BOTH, c_ind_len17, -EINVAL, VQ_ERR_INDIRECT_LEN, "length 17"),
	BAD("ind_feature", L_BOTH, c_ind_feature, -EOPNOTSUPP, VQ_ERR_INDIRECT_FEATURE, NULL, .no_indirect = true),
	BAD("ind_unmapped", L_BOTH, c_ind_unmapped, -EFAULT, VQ_ERR_ADDR_UNMAPPED, NULL),
	BAD("ind_tail_unmapped", L_BOTH, c_ind_tail_unmapped, -EFAULT, VQ_ERR_ADDR_UNMAPPED, NULL),
	BAD("ind_overflow", L_BOTH, c_ind_overflow, -EOVERFLOW, VQ_ERR_ADDR_OVERFLOW, NULL),
	BAD("ind_too_long", L_BOTH, c_ind_too_long, -E2BIG, VQ_ERR_CHAIN_LEN, "9 descriptors > max chain 8"),
	BAD("ind_bad_buffer", L_BOTH, c_ind_bad_buffer, -EFAULT, VQ_ERR_ADDR_UNMAPPED, NULL),
	BAD("ind_write_ro", L_BOTH, c_ind_write_ro, -EACCES, VQ_ERR_WRITE_RO, NULL),
	BAD("ind_read_after_write", L_BOTH, c_ind_raw, -EBADMSG, VQ_ERR_READ_AFTER_WRITE, NULL),
	BAD("head_range", L_SPLIT, s_head_range, -ERANGE, VQ_ERR_HEAD_RANGE, "head 8 >= queue size 8"),
	BAD("head_range_max", L_SPLIT, s_head_range_max, -ERANGE, VQ_ERR_HEAD_RANGE, "head 65535 >= queue size 8"),
	BAD("next_range", L_SPLIT, s_next_range, -ERANGE, VQ_ERR_NEXT_RANGE, "next 8 >= queue size 8"),
	BAD("loop_self", L_SPLIT, s_loop_self, -ELOOP, VQ_ERR_LOOP, "head 3"),
	BAD("loop2", L_SPLIT, s_loop2, -ELOOP, VQ_ERR_LOOP, NULL),
	BAD("loop_tail", L_SPLIT, s_loop_tail, -ELOOP, VQ_ERR_LOOP, NULL),
	BAD("loop_short_max_chain", L_SPLIT, s_loop2, -E2BIG, VQ_ERR_CHAIN_LEN, NULL, .max_chain = 4),
	BAD("ind_loop", L_SPLIT, s_ind_loop, -ELOOP, VQ_ERR_LOOP, "indirect"),
	BAD("ind_next_range", L_SPLIT, s_ind_next_range, -ERANGE, VQ_ERR_NEXT_RANGE, "next 2 >= indirect table size 2"),
	BAD("avail_idx", L_SPLIT, s_avail_idx, -ENOSPC, VQ_ERR_AVAIL_IDX, "avail idx 9"),
	BAD("avail_idx_back", L_SPLIT, s_avail_back, -ENOSPC, VQ_ERR_AVAIL_IDX, NULL),
	BAD("id_in_use", L_SPLIT, s_id_in_use, -EBUSY, VQ_ERR_ID_IN_USE, "head 2", .good_pops = 1),
	BAD("wrap_head", L_PACKED, p_wrap_head, -EILSEQ, VQ_ERR_PACKED_WRAP, NULL),
	BAD("wrap_chain", L_PACKED, p_wrap_chain, -EILSEQ, VQ_ERR_PACKED_WRAP, NULL),
	BAD("wrap_chain_zero", L_PACKED, p_wrap_chain_zero, -EILSEQ, VQ_ERR_PACKED_WRAP, NULL),
	BAD("wrap_chain_used", L_PACKED, p_wrap_chain_used, -EILSEQ, VQ_ERR_PACKED_WRAP, NULL),
	BAD("packed_id", L_PACKED, p_id_range, -EBADSLT, VQ_ERR_PACKED_ID, "buffer id 8 >= queue size 8"),
	BAD("packed_id_max", L_PACKED, p_id_range_max, -EBADSLT, VQ_ERR_PACKED_ID, NULL),
	BAD("packed_id_in_use", L_PACKED, p_id_in_use, -EBUSY, VQ_ERR_ID_IN_USE, "buffer id 3", .good_pops = 1),
	BAD("packed_chain_ring", L_PACKED, p_chain_ring, -E2BIG, VQ_ERR_CHAIN_LEN, NULL),
};

/* Everything the test can see of the host mapping, guards excluded. */
static uint8_t *snapshot(struct fx *f)
{
	uint8_t *s = malloc((NPAGES - 2) * PG);

	ASSERT_TRUE(s != NULL);
	memcpy(s, f->host + PG, (NPAGES - 2) * PG);
	return s;
}

static void run_case(const struct bad_case *c, enum vq_layout layout, uint32_t cap)
{
	struct fx f;
	uint8_t *before;
	int rc;

	fx_init(&f, layout, 8);
	if (c->no_indirect)
		f.cfg.features &= ~VQ_F_INDIRECT;
	f.cfg.max_chain = c->max_chain;
	c->setup(&f);
	fx_dev(&f);
	for (unsigned i = 0; i < c->good_pops; i++)
		if ((rc = pop(&f)) != 1)
			FAIL("%s/%s: good pop %u returned %d (%s)", c->name,
			     layout ? "packed" : "split", i, rc, vq_dev_error(f.q));
	before = snapshot(&f);
	rc = pop_cap(&f, cap);
	if (rc != c->err || rc != vq_violation_errno(c->v) ||
	    vq_dev_violation(f.q) != c->v || !vq_dev_is_broken(f.q))
		FAIL("%s/%s cap %u: rc %d violation %s (%s), want %d %s", c->name,
		     layout ? "packed" : "split", cap, rc, vq_violation_str(vq_dev_violation(f.q)),
		     vq_dev_error(f.q), c->err, vq_violation_str(c->v));
	if (!vq_dev_error(f.q)[0] || (c->msg && !strstr(vq_dev_error(f.q), c->msg)))
		FAIL("%s: message \"%s\" lacks \"%s\"", c->name, vq_dev_error(f.q), c->msg);
	ASSERT_MEM_EQ(f.host + PG, before, (NPAGES - 2) * PG);
	free(before);
	/* Sticky: every later call fails or does nothing. */
	ASSERT_EQ(pop(&f), -EIO);
	ASSERT_EQ(vq_dev_push_id(f.q, 0, 1, 0), -EIO);
	ASSERT_TRUE(vq_dev_enable_notify(f.q)); /* look again, pop says -EIO */
	ASSERT_FALSE(vq_dev_has_avail(f.q));
	ASSERT_FALSE(vq_dev_need_notify(f.q));
	ASSERT_EQ(vq_dev_violation(f.q), c->v);
	fx_fini(&f);
}

static void run_table(enum vq_layout layout)
{
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!(cases[i].layouts & (layout == VQ_LAYOUT_PACKED ? L_PACKED : L_SPLIT)))
			continue;
		run_case(&cases[i], layout, 64);
		/* With no room for segments the violation still wins over -ENOBUFS. */
		run_case(&cases[i], layout, 0);
		n++;
	}
	printf("  %u malformed-input cases\n", n);
}

TEST(split_malformed_table)
{
	run_table(VQ_LAYOUT_SPLIT);
}

TEST(packed_malformed_table)
{
	run_table(VQ_LAYOUT_PACKED);
}

TEST(violation_errno_map)
{
	ASSERT_EQ(vq_violation_errno(VQ_ERR_HEAD_RANGE), -ERANGE);
	ASSERT_EQ(vq_violation_errno(VQ_ERR_ID_IN_USE), -EBUSY);
	ASSERT_EQ(vq_violation_errno(VQ_ERR_PACKED_ID), -EBADSLT);
}
