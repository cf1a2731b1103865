/* SPDX-License-Identifier: MIT */
/*
 * The burst calls of the ring: vq_drv_add_burst / vq_drv_get_burst on the
 * driver side, vq_dev_pop_burst / vq_dev_push_burst on the device side.
 * They move the same buffers as the one-at-a-time calls, in the same order,
 * with the same checks: a bad entry ends a burst after the good ones before
 * it, and a peer's violation in the middle of a burst breaks the queue.
 */
#include <errno.h>
#include <string.h>

#include <virtq/ring.h>

#include "../harness/guest.h"
#include "../harness/test.h"
#include "ring/ring_wire.h"

#define QSZ   16u
#define BUF   64u

struct bfx {
	struct vq_test_guest g; /* the ring, then QSZ buffers of BUF bytes */
	struct vq_drv *drv;
	struct vq_dev *dev;
	struct vq_seg seg[QSZ];
	void *tok[QSZ];
	struct vq_elem e[QSZ];
	struct iovec iov[QSZ];
};

static void bfx_init(struct bfx *f, enum vq_layout layout, uint64_t features)
{
	memset(f, 0, sizeof(*f));
	vq_test_guest_init(&f->g, layout, QSZ, (size_t)QSZ * BUF);
	struct vq_drv_params dc = { .ring = vq_test_guest_ring(&f->g, features) };
	ASSERT_EQ(vq_drv_new(&dc, &f->drv), 0);
	ASSERT_EQ(vq_dev_new(&dc.ring, f->g.map, &f->dev), 0);
	for (unsigned i = 0; i < QSZ; i++) {
		f->seg[i] = (struct vq_seg){ VQ_TEST_GPA + f->g.free_off + (size_t)i * BUF, BUF };
		f->tok[i] = &f->seg[i];
		f->e[i].iov = &f->iov[i];
		f->e[i].iov_cap = 1;
	}
}

/* bfx_init on a packed ring: its descriptor ring, for a test that plays a
 * bad driver. */
static struct vring_packed_desc *bfx_packed(struct bfx *f, uint64_t features)
{
	bfx_init(f, VQ_LAYOUT_PACKED, features);
	return (struct vring_packed_desc *)(f->g.mem + f->g.lay.desc_off);
}

static void bfx_fini(struct bfx *f)
{
	vq_dev_free(f->dev);
	vq_drv_free(f->drv);
	vq_test_guest_fini(&f->g);
}

/* Buffers go round in order, lengths as pushed, for both layouts and with
 * IN_ORDER (where the device returns a run with one used entry). */
static void roundtrip(enum vq_layout layout, uint64_t features)
{
	struct bfx f;
	uint32_t len[QSZ], got_len[QSZ];
	void *got[QSZ];

	bfx_init(&f, layout, features);
	for (unsigned round = 0; round < 5; round++) { /* past the ring's wrap */
		ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 10, true, f.tok), 10);
		vq_drv_kick_prepare(f.drv);
		ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, QSZ), 10);
		ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, QSZ), 0);
		for (unsigned i = 0; i < 10; i++) {
			ASSERT_TRUE(f.iov[i].iov_base == f.g.mem + (f.seg[i].addr - VQ_TEST_GPA));
			ASSERT_EQ(f.e[i].in_len, BUF);
			len[i] = BUF; /* whole: an IN_ORDER device may batch them */
		}
		len[9] = 7 + round;
		ASSERT_EQ(vq_dev_push_burst(f.dev, f.e, len, 10), 10);
		vq_dev_flush(f.dev);
		ASSERT_EQ(vq_drv_get_burst(f.drv, got, got_len, 4), 4);
		ASSERT_EQ(vq_drv_get_burst(f.drv, got + 4, got_len + 4, QSZ), 6);
		ASSERT_EQ(vq_drv_get_burst(f.drv, got, got_len, QSZ), 0);
		for (unsigned i = 0; i < 4; i++)
			ASSERT_TRUE(got[i] == f.tok[i]);
		for (unsigned i = 4; i < 10; i++)
			ASSERT_TRUE(got[i] == f.tok[i]);
		ASSERT_EQ(got_len[0], BUF);
		ASSERT_EQ(got_len[9], 7 + round);
	}
	bfx_fini(&f);
}

TEST(burst_roundtrip_split) { roundtrip(VQ_LAYOUT_SPLIT, 0); }
TEST(burst_roundtrip_packed) { roundtrip(VQ_LAYOUT_PACKED, 0); }
TEST(burst_roundtrip_packed_in_order) { roundtrip(VQ_LAYOUT_PACKED, VQ_F_IN_ORDER | VQ_F_EVENT_IDX); }
TEST(burst_roundtrip_split_in_order) { roundtrip(VQ_LAYOUT_SPLIT, VQ_F_IN_ORDER | VQ_F_EVENT_IDX); }

/* A full ring takes what fits; a bad entry ends the burst and is refused
 * when it comes first. */
static void add_limits(enum vq_layout layout, uint64_t features)
{
	struct bfx f;
	uint64_t good;

	bfx_init(&f, layout, features);
	f.seg[3].len = 0;
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 8, false, f.tok), 3);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg + 3, 5, false, f.tok + 3), -EINVAL);
	f.seg[3].len = BUF;
	f.tok[4] = NULL;
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg + 3, 5, false, f.tok + 3), 1);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg + 4, 1, false, f.tok + 4), -EINVAL);
	f.tok[4] = &f.seg[4];
	good = f.seg[5].addr;
	f.seg[5].addr = UINT64_MAX - 8;
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg + 5, 1, false, f.tok + 5), -EINVAL);
	f.seg[5].addr = good;
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, QSZ, false, f.tok), QSZ - 4);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, QSZ, false, f.tok), 0);
	ASSERT_EQ(vq_drv_nfree(f.drv), 0);
	ASSERT_TRUE(!vq_drv_is_broken(f.drv));
	vq_drv_kick_prepare(f.drv);
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, QSZ), QSZ);
	bfx_fini(&f);
}

TEST(burst_add_limits_split) { add_limits(VQ_LAYOUT_SPLIT, 0); }
TEST(burst_add_limits_packed) { add_limits(VQ_LAYOUT_PACKED, 0); }
TEST(burst_add_limits_packed_in_order) { add_limits(VQ_LAYOUT_PACKED, VQ_F_IN_ORDER); }
TEST(burst_add_limits_split_in_order) { add_limits(VQ_LAYOUT_SPLIT, VQ_F_IN_ORDER); }

/* A chain outside guest memory in the middle of a burst: the chains before
 * it are popped, then the queue is broken. */
static void pop_violation(enum vq_layout layout)
{
	struct bfx f;

	bfx_init(&f, layout, 0);
	f.seg[2].addr = 0x7000000000ull; /* unmapped */
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 4, false, f.tok), 4);
	vq_drv_kick_prepare(f.drv);
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, QSZ), 2);
	ASSERT_TRUE(vq_dev_is_broken(f.dev));
	ASSERT_EQ(vq_dev_violation(f.dev), VQ_ERR_ADDR_UNMAPPED);
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, QSZ), -EIO);
	ASSERT_EQ(vq_dev_push_burst(f.dev, f.e, (uint32_t[2]){ 0, 0 }, 2), -EIO);
	bfx_fini(&f);
}

TEST(burst_pop_violation_split) { pop_violation(VQ_LAYOUT_SPLIT); }
TEST(burst_pop_violation_packed) { pop_violation(VQ_LAYOUT_PACKED); }

/* Too small an iov: nothing of that chain is consumed, the queue stays
 * healthy, and the next burst with room pops it. */
TEST(burst_pop_enobufs)
{
	struct bfx f;

	bfx_init(&f, VQ_LAYOUT_PACKED, 0);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 3, false, f.tok), 3);
	vq_drv_kick_prepare(f.drv);
	f.e[1].iov_cap = 0;
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, 3), 1);
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e + 1, 2), -ENOBUFS);
	ASSERT_TRUE(!vq_dev_is_broken(f.dev));
	f.e[1].iov_cap = 1;
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e + 1, 2), 2);
	/* a length beyond the writable bytes ends the push burst */
	ASSERT_EQ(vq_dev_push_burst(f.dev, f.e, (uint32_t[3]){ 0, BUF + 1, 0 }, 3), 1);
	ASSERT_EQ(vq_dev_push_burst(f.dev, f.e + 1, (uint32_t[2]){ BUF + 1, 0 }, 2), -EINVAL);
	bfx_fini(&f);
}

/* A used id the driver never added, after a good one: the good one is
 * returned, then the queue is broken. */
TEST(burst_get_violation)
{
	struct bfx f;
	void *got[QSZ];
	uint32_t len[QSZ];

	bfx_init(&f, VQ_LAYOUT_SPLIT, 0);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 2, true, f.tok), 2);
	vq_drv_kick_prepare(f.drv);
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, QSZ), 2);
	ASSERT_EQ(vq_dev_push_burst(f.dev, f.e, (uint32_t[2]){ 1, 1 }, 2), 2);
	vq_dev_flush(f.dev);
	/* the second used entry names id 9, which is not in flight */
	((struct vring_used *)(f.g.mem + f.g.lay.used_off))->ring[1].id = 9;
	ASSERT_EQ(vq_drv_get_burst(f.drv, got, len, QSZ), 1);
	ASSERT_TRUE(vq_drv_is_broken(f.drv));
	ASSERT_EQ(vq_drv_violation(f.drv), VQ_ERR_USED_ID);
	ASSERT_EQ(vq_drv_get_burst(f.drv, got, len, QSZ), -EIO);
	bfx_fini(&f);
}

/* EVENT_IDX with kicks on: the device's event index is written after a
 * burst, so the driver's next buffer asks for a kick. */
static void event_after_burst(enum vq_layout layout)
{
	struct bfx f;

	bfx_init(&f, layout, VQ_F_EVENT_IDX);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 4, false, f.tok), 4);
	ASSERT_TRUE(vq_drv_kick_prepare(f.drv));
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, QSZ), 4);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg + 4, 1, false, f.tok + 4), 1);
	ASSERT_TRUE(vq_drv_kick_prepare(f.drv));
	bfx_fini(&f);
}

TEST(burst_event_idx_split) { event_after_burst(VQ_LAYOUT_SPLIT); }
TEST(burst_event_idx_packed) { event_after_burst(VQ_LAYOUT_PACKED); }

/*
 * Filled in place: a peek shows the writable one-descriptor
 * buffers without changing the queue; vq_dev_use_peeked returns the first
 * k with their lengths, in order, past the ring's wrap; the rest stay
 * available for the next peek.
 */
static void peek_use(enum vq_layout layout, uint64_t features)
{
	struct bfx f;
	struct vq_peeked b[QSZ];
	uint32_t len[QSZ], got_len[QSZ];
	void *got[QSZ];

	bfx_init(&f, layout, features);
	for (unsigned round = 0; round < 5; round++) { /* 5 x 6 buffers: past the wrap */
		ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 6, true, f.tok), 6);
		vq_drv_kick_prepare(f.drv);
		ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 6);
		ASSERT_EQ(vq_dev_peek(f.dev, b, 2, true), 2); /* unchanged: again */
		ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 6);
		for (unsigned i = 0; i < 6; i++) {
			ASSERT_TRUE(b[i].base == f.g.mem + (f.seg[i].addr - VQ_TEST_GPA));
			ASSERT_EQ(b[i].len, BUF);
			len[i] = 10 + round + i;
		}
		ASSERT_EQ(vq_dev_use_peeked(f.dev, b, len, 4), 0);
		ASSERT_EQ(vq_dev_inflight(f.dev), 0);
		ASSERT_EQ(vq_dev_use_peeked(f.dev, b, len, 1), -EINVAL); /* that peek is spent */
		vq_dev_flush(f.dev);
		ASSERT_EQ(vq_drv_get_burst(f.drv, got, got_len, QSZ), 4);
		for (unsigned i = 0; i < 4; i++) {
			ASSERT_TRUE(got[i] == f.tok[i]);
			ASSERT_EQ(got_len[i], 10 + round + i);
		}
		ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 2); /* the last two */
		ASSERT_TRUE(b[0].base == f.g.mem + (f.seg[4].addr - VQ_TEST_GPA));
		ASSERT_EQ(vq_dev_use_peeked(f.dev, b, (uint32_t[2]){ 0, BUF }, 2), 0);
		vq_dev_flush(f.dev);
		ASSERT_EQ(vq_drv_get_burst(f.drv, got, got_len, QSZ), 2);
		ASSERT_TRUE(got[0] == f.tok[4] && got[1] == f.tok[5]);
		ASSERT_EQ(got_len[0], 0);
		ASSERT_EQ(got_len[1], BUF);
		ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), -EAGAIN); /* empty */
	}
	ASSERT_TRUE(!vq_dev_is_broken(f.dev) && !vq_drv_is_broken(f.drv));
	bfx_fini(&f);
}

TEST(burst_peek_use_packed) { peek_use(VQ_LAYOUT_PACKED, 0); }
TEST(burst_peek_use_packed_in_order) { peek_use(VQ_LAYOUT_PACKED, VQ_F_IN_ORDER | VQ_F_EVENT_IDX); }
TEST(burst_peek_use_split) { peek_use(VQ_LAYOUT_SPLIT, 0); }
TEST(burst_peek_use_split_in_order) { peek_use(VQ_LAYOUT_SPLIT, VQ_F_IN_ORDER | VQ_F_EVENT_IDX); }

/*
 * Readable buffers read in place: a writable peek sees none of them; each
 * goes back with length 0 (anything more is refused); then the ring is
 * empty (-EAGAIN).  Packed without IN_ORDER and split: each gets its used
 * entry; packed with IN_ORDER: one descriptor in the first slot names the
 * last buffer, and the driver takes all five from it.
 */
static void peek_read(enum vq_layout layout, uint64_t features)
{
	struct bfx f;
	struct vq_peeked b[QSZ];
	struct vring_packed_desc *d = NULL;
	struct vring_used *u;
	uint32_t zero[QSZ] = { 0 }, got_len[QSZ];
	void *got[QSZ];
	bool in_order = features & VQ_F_IN_ORDER;

	if (layout == VQ_LAYOUT_PACKED)
		d = bfx_packed(&f, features);
	else
		bfx_init(&f, layout, features);
	u = (struct vring_used *)(f.g.mem + f.g.lay.used_off);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 5, false, f.tok), 5);
	vq_drv_kick_prepare(f.drv);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 0);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, false), 5);
	ASSERT_EQ(b[4].len, BUF);
	ASSERT_EQ(vq_dev_use_peeked(f.dev, b, (uint32_t[5]){ 0, 0, 1, 0, 0 }, 5), -EINVAL);
	ASSERT_EQ(vq_dev_use_peeked(f.dev, b, zero, 5), 0);
	vq_dev_flush(f.dev);
	for (unsigned i = 0; i < 5 && d; i++) {
		if (in_order && i > 0)
			break;
		ASSERT_EQ(__atomic_load_n(&d[i].id, __ATOMIC_ACQUIRE), in_order ? 4 : i);
		ASSERT_EQ(d[i].len, 0);
	}
	for (unsigned i = 0; i < 5 && !d; i++) {
		ASSERT_EQ(__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE), 5);
		ASSERT_EQ(u->ring[i].id, b[i].id);
		ASSERT_EQ(u->ring[i].len, 0);
	}
	ASSERT_EQ(vq_drv_get_burst(f.drv, got, got_len, QSZ), 5);
	for (unsigned i = 0; i < 5; i++) {
		ASSERT_TRUE(got[i] == f.tok[i]);
		ASSERT_EQ(got_len[i], 0);
	}
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, false), -EAGAIN);
	ASSERT_TRUE(!vq_dev_is_broken(f.dev) && !vq_drv_is_broken(f.drv));
	bfx_fini(&f);
}

TEST(burst_peek_read_packed) { peek_read(VQ_LAYOUT_PACKED, 0); }
TEST(burst_peek_read_packed_in_order) { peek_read(VQ_LAYOUT_PACKED, VQ_F_IN_ORDER); }
TEST(burst_peek_read_split) { peek_read(VQ_LAYOUT_SPLIT, 0); }
TEST(burst_peek_read_split_in_order) { peek_read(VQ_LAYOUT_SPLIT, VQ_F_IN_ORDER); }

/*
 * What a peek leaves to pops: a readable buffer ends it, so does an id out
 * of range (the pop then breaks the queue); nothing while chains are in
 * flight; nothing on split rings.  A use that the peek does not cover is
 * refused and returns nothing.
 */
TEST(burst_peek_limits)
{
	struct bfx f;
	struct vq_peeked b[QSZ];
	struct vring_packed_desc *d;

	d = bfx_packed(&f, 0);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 2, true, f.tok), 2);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg + 2, 1, false, f.tok + 2), 1);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg + 3, 2, true, f.tok + 3), 2);
	vq_drv_kick_prepare(f.drv);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 2);
	ASSERT_EQ(vq_dev_use_peeked(f.dev, b, (uint32_t[3]){ 1, 1, 1 }, 3), -EINVAL);
	ASSERT_EQ(vq_dev_use_peeked(f.dev, b, (uint32_t[2]){ 1, BUF + 1 }, 2), -EINVAL);
	ASSERT_EQ(vq_dev_use_peeked(f.dev, b, (uint32_t[2]){ 1, 2 }, 2), 0);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 0); /* the readable one */
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, 1), 1);
	ASSERT_EQ(f.e[0].out_len, BUF);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 0); /* one in flight */
	ASSERT_EQ(vq_dev_push_burst(f.dev, f.e, (uint32_t[1]){ 0 }, 1), 1);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 2);
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, 1), 1); /* a pop after the peek */
	ASSERT_EQ(vq_dev_use_peeked(f.dev, b, (uint32_t[1]){ 1 }, 1), -EINVAL);
	ASSERT_EQ(vq_dev_push_burst(f.dev, f.e, (uint32_t[1]){ 0 }, 1), 1);
	/* the guest rewrites the last buffer's id out of range */
	__atomic_store_n(&d[4].id, (uint16_t)(QSZ + 3), __ATOMIC_RELAXED);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 0);
	ASSERT_TRUE(!vq_dev_is_broken(f.dev));
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, 1), -EBADSLT);
	ASSERT_EQ(vq_dev_violation(f.dev), VQ_ERR_PACKED_ID);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), -EIO);
	ASSERT_EQ(vq_dev_use_peeked(f.dev, b, (uint32_t[1]){ 1 }, 0), -EIO);
	bfx_fini(&f);

	bfx_init(&f, VQ_LAYOUT_SPLIT, 0);
	ASSERT_EQ(vq_dev_peek(f.dev, NULL, QSZ, true), -EINVAL);
	bfx_fini(&f);
}

/* The split ring's own cases: a peek leaves a head out of range and an
 * avail idx too far ahead to the pop, which breaks the queue; a chain ends
 * it as a readable buffer does. */
TEST(burst_peek_limits_split)
{
	struct bfx f;
	struct vq_peeked b[QSZ];
	struct vring_avail *a;
	struct vq_seg two[2];

	bfx_init(&f, VQ_LAYOUT_SPLIT, 0);
	a = (struct vring_avail *)(f.g.mem + f.g.lay.avail_off);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 2, true, f.tok), 2);
	two[0] = f.seg[2];
	two[1] = f.seg[5]; /* not adjacent: not coalesced */
	ASSERT_EQ(vq_drv_add(f.drv, two, 0, 2, f.tok[2]), 0); /* a chain */
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg + 3, 1, true, f.tok + 3), 1);
	vq_drv_kick_prepare(f.drv);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 2);
	ASSERT_EQ(vq_dev_use_peeked(f.dev, b, (uint32_t[2]){ 1, 2 }, 2), 0);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 0); /* the chain */
	f.e[0].iov_cap = 2; /* f.iov[0..1] */
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, 1), 1);
	ASSERT_EQ(f.e[0].in_len, 2 * BUF);
	ASSERT_EQ(vq_dev_push_burst(f.dev, f.e, (uint32_t[1]){ 0 }, 1), 1);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 1);
	ASSERT_EQ(vq_dev_use_peeked(f.dev, b, (uint32_t[1]){ 3 }, 1), 0);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), -EAGAIN);
	/* the guest makes one more available with a head out of range */
	a->ring[a->idx % QSZ] = QSZ + 1;
	__atomic_store_n(&a->idx, (uint16_t)(a->idx + 1), __ATOMIC_RELEASE);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 0);
	ASSERT_TRUE(!vq_dev_is_broken(f.dev));
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, 1), -ERANGE);
	ASSERT_EQ(vq_dev_violation(f.dev), VQ_ERR_HEAD_RANGE);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), -EIO);
	bfx_fini(&f);

	/* an avail idx more than the queue size ahead */
	bfx_init(&f, VQ_LAYOUT_SPLIT, 0);
	a = (struct vring_avail *)(f.g.mem + f.g.lay.avail_off);
	__atomic_store_n(&a->idx, (uint16_t)(QSZ + 1), __ATOMIC_RELEASE);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 0);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, false), 0);
	ASSERT_TRUE(!vq_dev_is_broken(f.dev));
	ASSERT_TRUE(vq_dev_pop_burst(f.dev, f.e, 1) < 0);
	ASSERT_EQ(vq_dev_violation(f.dev), VQ_ERR_AVAIL_IDX);
	bfx_fini(&f);
}

/* A head whose AVAIL and USED bits both match the wrap counter is no empty
 * ring to a peek: it says 0 (not -EAGAIN), and the pop that follows breaks
 * the queue. */
TEST(burst_peek_bad_wrap)
{
	struct bfx f;
	struct vq_peeked b[QSZ];
	struct vring_packed_desc *d;

	d = bfx_packed(&f, 0);
	d[0] = (struct vring_packed_desc){ .addr = f.seg[0].addr, .len = BUF, .id = 0 };
	__atomic_store_n(&d[0].flags, (uint16_t)(VQ__DESC_F_AVAIL | VQ__DESC_F_USED | VRING_DESC_F_WRITE),
			 __ATOMIC_RELEASE);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 0);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, false), 0);
	ASSERT_TRUE(vq_dev_pop_burst(f.dev, f.e, QSZ) < 0);
	ASSERT_EQ(vq_dev_violation(f.dev), VQ_ERR_PACKED_WRAP);
	bfx_fini(&f);
}

/*
 * Ids in a peek: out of order is fine (and leaves no id marked: the same
 * ids come round again); an id twice in one peek breaks the queue there,
 * as a pop of an id in flight does, and the buffers before it cannot be
 * used.
 */
TEST(burst_peek_ids)
{
	struct bfx f;
	struct vq_peeked b[QSZ];
	struct vring_packed_desc *d;
	uint32_t len[QSZ] = { 0 };

	d = bfx_packed(&f, 0);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 4, true, f.tok), 4);
	vq_drv_kick_prepare(f.drv);
	d[2].id = 3; /* ids 0 1 3 2 */
	d[3].id = 2;
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 4);
	ASSERT_EQ(b[2].id, 3);
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 4); /* nothing left marked */
	ASSERT_EQ(vq_dev_use_peeked(f.dev, b, len, 4), 0);
	ASSERT_TRUE(!vq_dev_is_broken(f.dev));
	bfx_fini(&f);

	d = bfx_packed(&f, 0);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 4, true, f.tok), 4);
	vq_drv_kick_prepare(f.drv);
	d[2].id = 0; /* ids 0 1 0 3 */
	ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 2);
	ASSERT_TRUE(vq_dev_is_broken(f.dev));
	ASSERT_EQ(vq_dev_violation(f.dev), VQ_ERR_ID_IN_USE);
	ASSERT_EQ(vq_dev_use_peeked(f.dev, b, len, 2), -EIO);
	bfx_fini(&f);

	/* split: the same with the avail ring's heads */
	for (unsigned dup = 0; dup < 2; dup++) {
		struct vring_avail *a;

		bfx_init(&f, VQ_LAYOUT_SPLIT, 0);
		a = (struct vring_avail *)(f.g.mem + f.g.lay.avail_off);
		ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 4, true, f.tok), 4);
		vq_drv_kick_prepare(f.drv);
		if (dup) {
			a->ring[2] = a->ring[0]; /* heads 0 1 0 3 */
		} else {
			uint16_t h = a->ring[2]; /* heads 0 1 3 2 */

			a->ring[2] = a->ring[3];
			a->ring[3] = h;
		}
		ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), dup ? 2 : 4);
		ASSERT_EQ(vq_dev_is_broken(f.dev), dup == 1);
		if (dup)
			ASSERT_EQ(vq_dev_violation(f.dev), VQ_ERR_ID_IN_USE);
		else
			ASSERT_EQ(vq_dev_peek(f.dev, b, QSZ, true), 4); /* nothing left marked */
		ASSERT_EQ(vq_dev_use_peeked(f.dev, b, len, dup ? 2 : 4), dup ? -EIO : 0);
		bfx_fini(&f);
	}
}

TEST(burst_null_arguments)
{
	struct bfx f;

	bfx_init(&f, VQ_LAYOUT_SPLIT, 0);
	ASSERT_EQ(vq_drv_add_burst(f.drv, NULL, 1, false, f.tok), -EINVAL);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 1, false, NULL), -EINVAL);
	ASSERT_EQ(vq_drv_get_burst(f.drv, NULL, (uint32_t[1]){ 0 }, 1), -EINVAL);
	ASSERT_EQ(vq_dev_pop_burst(f.dev, NULL, 1), -EINVAL);
	ASSERT_EQ(vq_dev_push_burst(f.dev, f.e, NULL, 1), -EINVAL);
	ASSERT_EQ(vq_drv_add_burst(f.drv, f.seg, 0, false, f.tok), 0);
	ASSERT_EQ(vq_dev_pop_burst(f.dev, f.e, 0), 0);
	bfx_fini(&f);
}
