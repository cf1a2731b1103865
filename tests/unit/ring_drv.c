/* SPDX-License-Identifier: MIT */
/*
 * Driver side of the ring, alone: the test plays the device by reading and
 * writing the ring memory directly, following the spec layouts (it does not
 * use the library's device side).  Covers add/get/detach/nfree, -ENOSPC,
 * -E2BIG, -EINVAL, coalescing, the indirect pool and its fallback,
 * notification suppression, IN_ORDER batches, and a hostile device.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/ring.h>

#include "../harness/test.h"

#define F_NEXT     0x1u
#define F_WRITE    0x2u
#define F_INDIRECT 0x4u
#define F_AVAIL    (1u << 7)
#define F_USED     (1u << 15)
#define IND_GPA    0x40000000ull

struct sdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct pdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t id, flags;
};

struct fx {
	struct vq_drv *q;
	struct vq_drv_params cfg;
	struct vq_ring_layout lay;
	unsigned char *ring, *ind;
	uint32_t size;
	/* The fake device's position. */
	uint16_t dev_avail, dev_used;
	bool dev_avail_wrap, dev_used_wrap;
};

static void fx_init(struct fx *f, enum vq_layout layout, uint32_t size, uint64_t features,
		    uint32_t tables, uint32_t ind_len, uint32_t max_chain)
{
	memset(f, 0, sizeof(*f));
	ASSERT_EQ(vq_ring_layout(layout, size, &f->lay), 0);
	f->ring = aligned_alloc(64, f->lay.total);
	ASSERT_TRUE(f->ring);
	memset(f->ring, 0, f->lay.total);
	f->size = size;
	f->dev_avail_wrap = f->dev_used_wrap = true;
	f->cfg.ring = (struct vq_ring_params){
		.layout = layout, .size = size, .features = features, .max_chain = max_chain,
		.desc = f->ring + f->lay.desc_off, .avail = f->ring + f->lay.avail_off,
		.used = f->ring + f->lay.used_off,
	};
	if (tables) {
		size_t bytes = (size_t)tables * ind_len * 16;

		f->ind = calloc(1, bytes);
		ASSERT_TRUE(f->ind);
		f->cfg.indirect = f->ind;
		f->cfg.indirect_gpa = IND_GPA;
		f->cfg.indirect_tables = tables;
		f->cfg.indirect_len = ind_len;
	}
	ASSERT_EQ(vq_drv_new(&f->cfg, &f->q), 0);
}

static void fx_fini(struct fx *f)
{
	vq_drv_free(f->q);
	free(f->ring);
	free(f->ind);
}

static struct sdesc *sd(struct fx *f)
{
	return (struct sdesc *)(f->ring + f->lay.desc_off);
}

static struct pdesc *pd(struct fx *f)
{
	return (struct pdesc *)(f->ring + f->lay.desc_off);
}

static uint16_t *avail16(struct fx *f)
{
	return (uint16_t *)(f->ring + f->lay.avail_off);
}

static uint16_t *used16(struct fx *f)
{
	return (uint16_t *)(f->ring + f->lay.used_off);
}

static void *ind_host(struct fx *f, uint64_t gpa)
{
	ASSERT_TRUE(gpa >= IND_GPA);
	return f->ind + (gpa - IND_GPA);
}

/* ---- the fake device */

/* Split: pop the next head from the avail ring (-1 when empty). */
static int dev_split_pop(struct fx *f)
{
	uint16_t idx = __atomic_load_n(&avail16(f)[1], __ATOMIC_ACQUIRE);

	if (idx == f->dev_avail)
		return -1;
	return avail16(f)[2 + (f->dev_avail++ & (f->size - 1))];
}

/* Write one used entry for a batch of n buffers (n = 1 outside IN_ORDER):
 * at the batch's first slot, then used idx advances by n (2.7.9). */
static void dev_split_use_n(struct fx *f, uint32_t id, uint32_t len, uint16_t n)
{
	uint32_t *e = (uint32_t *)(f->ring + f->lay.used_off + 4 + 8 * (f->dev_used & (f->size - 1)));

	e[0] = id;
	e[1] = len;
	f->dev_used = (uint16_t)(f->dev_used + n);
	__atomic_store_n(&used16(f)[1], f->dev_used, __ATOMIC_RELEASE);
}

static void dev_split_use(struct fx *f, uint32_t id, uint32_t len)
{
	dev_split_use_n(f, id, len, 1);
}

/* Packed: is the next slot available?  Returns its slot or -1. */
static int dev_packed_peek(struct fx *f)
{
	uint16_t fl = __atomic_load_n(&pd(f)[f->dev_avail].flags, __ATOMIC_ACQUIRE);

	if (!(fl & F_AVAIL) != !f->dev_avail_wrap || !(fl & F_USED) == !f->dev_avail_wrap)
		return -1;
	return f->dev_avail;
}

/* Packed: consume the chain at the next avail slot; returns its id and slots. */
static int dev_packed_pop(struct fx *f, unsigned *nslots)
{
	int s = dev_packed_peek(f);
	unsigned n = 0;
	uint16_t id = 0, fl;

	if (s < 0)
		return -1;
	do {
		fl = pd(f)[f->dev_avail].flags;
		id = pd(f)[f->dev_avail].id;
		n++;
		if (++f->dev_avail == f->size) {
			f->dev_avail = 0;
			f->dev_avail_wrap = !f->dev_avail_wrap;
		}
	} while (fl & F_NEXT);
	*nslots = n;
	return id;
}

static void dev_packed_use(struct fx *f, uint16_t id, uint32_t len, unsigned nslots)
{
	struct pdesc *d = &pd(f)[f->dev_used];
	uint16_t fl = (uint16_t)((f->dev_used_wrap ? F_AVAIL | F_USED : 0) | (len ? F_WRITE : 0));

	d->id = id;
	d->len = len;
	__atomic_store_n(&d->flags, fl, __ATOMIC_RELEASE);
	f->dev_used = (uint16_t)(f->dev_used + nslots);
	if (f->dev_used >= f->size) {
		f->dev_used = (uint16_t)(f->dev_used - f->size);
		f->dev_used_wrap = !f->dev_used_wrap;
	}
}

static void expect_get(struct fx *f, void *token, uint32_t len)
{
	void *t = NULL;
	uint32_t l = 0;

	ASSERT_EQ(vq_drv_get(f->q, &t, &l), 1);
	ASSERT_TRUE(t == token);
	ASSERT_EQ(l, len);
}

static void expect_none(struct fx *f)
{
	void *t;
	uint32_t l;

	ASSERT_EQ(vq_drv_get(f->q, &t, &l), 0);
}

static int tok[4096]; /* tokens: &tok[i] */

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
	struct sdesc *d = &sd(&f)[head];
	ASSERT_EQ_U64(d->addr, 0x1000);
	ASSERT_EQ(d->len, 100);
	ASSERT_EQ(d->flags, F_NEXT);
	d = &sd(&f)[d->next];
	ASSERT_EQ_U64(d->addr, 0x5000);
	ASSERT_EQ(d->flags, F_NEXT);
	d = &sd(&f)[d->next];
	ASSERT_EQ_U64(d->addr, 0x9000);
	ASSERT_EQ(d->len, 300);
	ASSERT_EQ(d->flags, F_WRITE);
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
	struct sdesc *d = &sd(&f)[dev_split_pop(&f)];
	ASSERT_EQ_U64(d->addr, 0x1000);
	ASSERT_EQ(d->len, 0x400);
	ASSERT_EQ(d->flags, F_NEXT);
	d = &sd(&f)[d->next];
	ASSERT_EQ_U64(d->addr, 0x1400);
	ASSERT_EQ(d->len, 0x40);
	ASSERT_EQ(d->flags, F_NEXT | F_WRITE);
	d = &sd(&f)[d->next];
	ASSERT_EQ_U64(d->addr, 0x9000);
	ASSERT_EQ(d->len, 8);
	ASSERT_EQ(d->flags, F_WRITE);
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
	ASSERT_EQ(sd(&f)[h1].flags, F_INDIRECT);
	ASSERT_EQ(sd(&f)[h1].len, 48);
	struct sdesc *t = ind_host(&f, sd(&f)[h1].addr);
	ASSERT_EQ_U64(t[0].addr, sg[0].addr);
	ASSERT_EQ(t[0].flags, F_NEXT);
	ASSERT_EQ(t[0].next, 1);
	ASSERT_EQ(t[1].flags, F_NEXT);
	ASSERT_EQ_U64(t[2].addr, sg[2].addr);
	ASSERT_EQ(t[2].len, sg[2].len);
	ASSERT_EQ(t[2].flags, F_WRITE);
	ASSERT_EQ(sd(&f)[h2].flags, F_NEXT);
	ASSERT_EQ(sd(&f)[h3].flags, F_INDIRECT);
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
	ASSERT_EQ(pd(&f)[0].flags, F_INDIRECT | F_AVAIL);
	ASSERT_EQ(pd(&f)[0].len, 64);
	struct pdesc *t = ind_host(&f, pd(&f)[0].addr);
	ASSERT_EQ(t[0].flags, 0);
	ASSERT_EQ(t[1].flags, F_WRITE);
	ASSERT_EQ(t[3].flags, F_WRITE);
	ASSERT_EQ_U64(t[3].addr, sg[3].addr);
	ASSERT_EQ(pd(&f)[1].flags, F_NEXT | F_AVAIL);
	ASSERT_EQ(pd(&f)[2].flags, F_WRITE | F_AVAIL);
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
	__atomic_store_n(&pd(&f)[0].flags, F_AVAIL | F_USED, __ATOMIC_RELEASE);
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
	__atomic_store_n(&pd(&f)[0].flags, F_USED, __ATOMIC_RELEASE);
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
