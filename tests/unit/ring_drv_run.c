/* SPDX-License-Identifier: MIT */
/*
 * vq_drv_get_burst's IN_ORDER run fast path (split_run / packed_run in
 * src/ring/drv_*.c): runs of used entries taken at once, across the split
 * 16-bit index wrap and the packed wrap counter, batches taken in one loop,
 * chains of several descriptors falling back to the walk, and a hostile
 * device at the end and in the middle of a run.  The test plays the device
 * through ring_drv_fx.h.
 */
#include "ring_drv_fx.h"

#define BURST 32u

/* Add k one-segment buffers, tokens &tok[base + i]: rx ones with 100 + i
 * writable bytes, tx ones device-readable; then publish them. */
static void post(struct fx *f, unsigned k, bool rx, unsigned base)
{
	for (unsigned i = 0; i < k; i++) {
		struct vq_seg s = { 0x10000 + 0x100 * (uint64_t)i, rx ? 100 + i : 60 };

		ASSERT_EQ(vq_drv_add(f->q, &s, rx ? 0 : 1, rx ? 1 : 0, &tok[base + i]), 0);
	}
	vq_drv_kick_prepare(f->q);
}

/* The device uses the next k buffers, one entry each, buffer i with len
 * lens ? lens[i] : 0; the heads they had in h[]. */
static void use_each(struct fx *f, unsigned k, const uint32_t *lens, int *h)
{
	for (unsigned i = 0; i < k; i++) {
		uint32_t l = lens ? lens[i] : 0;
		unsigned ns = 1;
		int id;

		if (f->cfg.ring.layout == VQ_LAYOUT_SPLIT) {
			id = dev_split_pop(f);
			ASSERT_GE(id, 0);
			dev_split_use(f, (uint32_t)id, l);
		} else {
			id = dev_packed_pop(f, &ns);
			ASSERT_GE(id, 0);
			dev_packed_use(f, (uint16_t)id, l, ns);
		}
		if (h)
			h[i] = id;
	}
}

/* Split: the used entry the device wrote j entries before its position. */
static uint32_t *split_entry(struct fx *f, unsigned back)
{
	uint16_t pos = (uint16_t)(f->dev_used - back);

	return (uint32_t *)(f->ring + f->lay.used_off + 4 + 8 * (pos & (f->size - 1)));
}

/* One get_burst of up to BURST: k buffers back, tokens base.., lens. */
static void expect_burst(struct fx *f, unsigned k, unsigned base, const uint32_t *lens)
{
	void *t[BURST];
	uint32_t l[BURST];

	ASSERT_EQ(vq_drv_get_burst(f->q, t, l, BURST), (int)k);
	for (unsigned i = 0; i < k; i++) {
		ASSERT_TRUE(t[i] == &tok[base + i]);
		ASSERT_EQ(l[i], lens ? lens[i] : 0);
	}
	ASSERT_EQ(vq_drv_get_burst(f->q, t, l, BURST), 0);
	ASSERT_FALSE(vq_drv_is_broken(f->q));
}

/* The event the driver asks for after taking everything: the next entry. */
static void expect_event_caught_up(struct fx *f)
{
	if (f->cfg.ring.layout == VQ_LAYOUT_SPLIT)
		ASSERT_EQ(avail16(f)[2 + f->size], f->dev_used);
	else
		ASSERT_EQ(avail16(f)[0], (uint16_t)(f->dev_used | (f->dev_used_wrap ? 0x8000 : 0)));
}

static void expect_broken(struct fx *f, enum vq_violation v)
{
	void *t[BURST];
	uint32_t l[BURST];

	ASSERT_TRUE(vq_drv_is_broken(f->q));
	ASSERT_EQ(vq_drv_violation(f->q), v);
	printf("  %s\n", vq_drv_error(f->q));
	ASSERT_EQ(vq_drv_get_burst(f->q, t, l, BURST), -EIO);
}

/* Detach returns exactly the tokens base.. base + k - 1, each once. */
static void expect_detach(struct fx *f, unsigned base, unsigned k)
{
	bool seen[BURST] = { false };

	for (unsigned i = 0; i < k; i++) {
		int *p = vq_drv_detach(f->q);

		ASSERT_TRUE(p >= &tok[base] && p < &tok[base + k]);
		unsigned j = (unsigned)(p - &tok[base]);
		ASSERT_FALSE(seen[j]);
		seen[j] = true;
	}
	ASSERT_TRUE(vq_drv_detach(f->q) == NULL);
}

/*
 * Runs of k = 1..8 tx and rx buffers, one used entry each, both layouts,
 * with EVENT_IDX; split far past the 16-bit used index wrap, packed (size
 * 10, not a power of two) across many wrap counter flips.  Tokens in
 * order, lens as written, the event at the next entry, nothing left.
 */
TEST(drv_run_one_entry_each_wraps)
{
	uint32_t lens[8];
	struct fx f;

	for (int layout = 0; layout < 2; layout++) {
		uint32_t size = layout == VQ_LAYOUT_SPLIT ? 8 : 10;
		unsigned total = 0, round = 0;

		fx_init(&f, (enum vq_layout)layout, size, VQ_F_IN_ORDER | VQ_F_EVENT_IDX, 0, 0, 0);
		while (total < 70000) {
			unsigned k = 1 + round % 8, base = (round * 8) % 4000;
			bool rx = round % 3 == 0;

			for (unsigned i = 0; i < k; i++)
				lens[i] = rx ? (round + i) % (101 + i) : 0;
			post(&f, k, rx, base);
			use_each(&f, k, lens, NULL);
			expect_burst(&f, k, base, lens);
			expect_event_caught_up(&f);
			ASSERT_EQ(vq_drv_nfree(f.q), size);
			total += k;
			round++;
		}
		ASSERT_TRUE(vq_drv_detach(f.q) == NULL);
		fx_fini(&f);
	}
}

/*
 * Split, tx: the run's last entry stands for the run; the entries before it
 * are not read (their len is 0 whatever they say, as in a batch).  Proven
 * by garbage ids there: the burst takes the run; taken one at a time
 * (bursts of 1, no run), the same ring breaks at the first garbage id.
 */
TEST(drv_run_split_checks_only_the_last_entry)
{
	void *t[BURST];
	uint32_t l[BURST];
	struct fx f;

	for (int burst1 = 0; burst1 < 2; burst1++) {
		fx_init(&f, VQ_LAYOUT_SPLIT, 8, VQ_F_IN_ORDER, 0, 0, 0);
		for (unsigned round = 0; round < 40; round++) {
			unsigned k = 2 + round % 7;

			post(&f, k, false, 0);
			use_each(&f, k, NULL, NULL);
			for (unsigned j = 2; j <= k; j++)
				split_entry(&f, j)[0] = 0xdead;
			if (burst1) {
				ASSERT_EQ(vq_drv_get_burst(f.q, t, l, 1),
					  vq_violation_errno(VQ_ERR_USED_ID));
				expect_broken(&f, VQ_ERR_USED_ID);
				expect_detach(&f, 0, k);
				break;
			}
			expect_burst(&f, k, 0, NULL);
		}
		fx_fini(&f);
	}
}

/*
 * A device that batches (one entry for k buffers, 2.7.9 / 2.8.9) behind
 * one that wrote an entry per buffer: split's stale entry at the run's
 * end must not be read as this lap's; the batch is taken in one loop, the
 * buffers before the last whole.  Both layouts, rx, many laps.
 */
TEST(drv_run_batches_after_single_entries)
{
	uint32_t lens[8], want[8];
	struct fx f;

	for (int layout = 0; layout < 2; layout++) {
		uint32_t size = layout == VQ_LAYOUT_SPLIT ? 8 : 10;

		fx_init(&f, (enum vq_layout)layout, size, VQ_F_IN_ORDER, 0, 0, 0);
		for (unsigned round = 0; round < 300; round++) {
			unsigned k = 2 + round % 7, base = (round * 8) % 4000, ns, total = 0;
			int last = -1;

			if (round % 2 == 0) { /* one entry each, fills the lap */
				for (unsigned i = 0; i < k; i++)
					lens[i] = 1 + i;
				post(&f, k, true, base);
				use_each(&f, k, lens, NULL);
				expect_burst(&f, k, base, lens);
				continue;
			}
			post(&f, k, true, base);
			for (unsigned i = 0; i < k; i++) {
				last = layout == VQ_LAYOUT_SPLIT ? dev_split_pop(&f)
								 : dev_packed_pop(&f, &ns);
				ASSERT_GE(last, 0);
				total += layout == VQ_LAYOUT_SPLIT ? 1 : ns;
				want[i] = 100 + i;
			}
			want[k - 1] = 3;
			if (layout == VQ_LAYOUT_SPLIT)
				dev_split_use_n(&f, (uint32_t)last, 3, (uint16_t)k);
			else
				dev_packed_use(&f, (uint16_t)last, 3, total);
			expect_burst(&f, k, base, want);
			ASSERT_EQ(vq_drv_nfree(f.q), size);
		}
		fx_fini(&f);
	}
}

/*
 * Chains of two descriptors among single ones: no run while one is in
 * flight (the walk takes them), runs again once they are back.  Tokens and
 * lens in order either way.
 */
TEST(drv_run_mixed_chains_fall_back)
{
	struct vq_seg two[2] = { { 0x1000, 10 }, { 0x3000, 20 } };
	uint32_t lens[8];
	struct fx f;

	for (int layout = 0; layout < 2; layout++) {
		uint32_t size = layout == VQ_LAYOUT_SPLIT ? 16 : 13;

		fx_init(&f, (enum vq_layout)layout, size, VQ_F_IN_ORDER, 0, 0, 0);
		for (unsigned round = 0; round < 200; round++) {
			unsigned k = 3 + round % 4, chain = round % 5, base = (round * 8) % 4000;

			for (unsigned i = 0; i < k; i++) {
				struct vq_seg s = { 0x10000, 50 + i };

				if (i == chain)
					ASSERT_EQ(vq_drv_add(f.q, two, 1, 1, &tok[base + i]), 0);
				else
					ASSERT_EQ(vq_drv_add(f.q, &s, 0, 1, &tok[base + i]), 0);
				lens[i] = (i * 7 + round) % 20;
			}
			vq_drv_kick_prepare(f.q);
			use_each(&f, k, lens, NULL);
			expect_burst(&f, k, base, lens);
			ASSERT_EQ(vq_drv_nfree(f.q), size);
		}
		fx_fini(&f);
	}
}

/*
 * A hostile device at the end of a run: split, an id that is not the one
 * expected there (another buffer in flight, or none); packed, a wrong id,
 * and flags whose AVAIL and USED bits disagree.  The buffers before it come
 * back, the ring breaks with today's violation, and detach returns every
 * other buffer once: nothing stranded, nothing twice.
 */
TEST(drv_run_hostile_end)
{
	void *t[BURST];
	uint32_t l[BURST];
	struct fx f;

	for (int c = 0; c < 4; c++) {
		enum vq_layout layout = c < 2 ? VQ_LAYOUT_SPLIT : VQ_LAYOUT_PACKED;
		enum vq_violation v = c == 3 ? VQ_ERR_PACKED_WRAP : VQ_ERR_USED_ID;
		int h[8];

		fx_init(&f, layout, 8, VQ_F_IN_ORDER, 0, 0, 0);
		post(&f, 8, false, 0);
		use_each(&f, 5, NULL, h);
		if (c == 0) /* a later buffer in flight, not yet used: a batch past used idx */
			split_entry(&f, 1)[0] = (uint32_t)h[4] + 2;
		else if (c == 1)
			split_entry(&f, 1)[0] = 8; /* out of the ring */
		else if (c == 2)
			pd(&f)[4].id = 9;
		else
			__atomic_store_n(&pd(&f)[4].flags, VQ__DESC_F_USED, __ATOMIC_RELEASE);
		if (c == 0)
			v = VQ_ERR_USED_IDX;
		/* The four before it come back; the ring is broken at it. */
		ASSERT_EQ(vq_drv_get_burst(f.q, t, l, BURST), 4);
		for (int i = 0; i < 4; i++)
			ASSERT_TRUE(t[i] == &tok[i]);
		expect_broken(&f, v);
		expect_detach(&f, 4, 4);
		fx_fini(&f);
	}
}

/*
 * A hostile device in the middle of a run of rx buffers (their lens are
 * read, so each entry is checked): split, a wrong id; packed, a wrong id,
 * and a len beyond the buffer.  The run stops there, the walk reports it.
 * And a split used idx beyond what is in flight breaks the ring before any
 * run is taken.
 */
TEST(drv_run_hostile_middle)
{
	uint32_t lens[6] = { 1, 2, 3, 4, 5, 6 };
	void *t[BURST];
	uint32_t l[BURST];
	struct fx f;

	for (int c = 0; c < 4; c++) {
		enum vq_layout layout = c < 2 ? VQ_LAYOUT_SPLIT : VQ_LAYOUT_PACKED;
		enum vq_violation v = c == 3 ? VQ_ERR_USED_LEN : VQ_ERR_USED_ID;
		int got;

		fx_init(&f, layout, 8, VQ_F_IN_ORDER, 0, 0, 0);
		post(&f, 6, true, 0);
		use_each(&f, 6, lens, NULL);
		if (c == 0) {
			split_entry(&f, 4)[0] = 0x4000; /* entry 2 of 6 */
		} else if (c == 1) {
			f.dev_used = (uint16_t)(f.dev_used + 3); /* 9 used, 6 in flight */
			__atomic_store_n(&used16(&f)[1], f.dev_used, __ATOMIC_RELEASE);
			v = VQ_ERR_USED_IDX;
		} else if (c == 2) {
			pd(&f)[2].id = 7; /* in flight, later, not used */
		} else {
			pd(&f)[2].len = 500;
		}
		got = vq_drv_get_burst(f.q, t, l, BURST);
		if (c == 1) {
			ASSERT_EQ(got, vq_violation_errno(VQ_ERR_USED_IDX));
			expect_broken(&f, v);
			expect_detach(&f, 0, 6);
			fx_fini(&f);
			continue;
		}
		ASSERT_EQ(got, 2);
		for (int i = 0; i < 2; i++) {
			ASSERT_TRUE(t[i] == &tok[i]);
			ASSERT_EQ(l[i], lens[i]);
		}
		expect_broken(&f, v);
		expect_detach(&f, 2, 4);
		fx_fini(&f);
	}
}
