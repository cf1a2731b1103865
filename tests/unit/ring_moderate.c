/* SPDX-License-Identifier: MIT */
/*
 * Moderated notifications (vq_dev_enable_notify_after,
 * vq_drv_enable_notify_after): the driver's own side of the ring drives the
 * device side over shared memory, and each test checks that the peer's
 * signal comes exactly with the n-th buffer, not before, that the re-check
 * before sleeping sees n buffers already there, and that this holds across
 * the split ring's 16-bit index wrap and the packed ring's wrap counter;
 * and on two threads, a stress test where a kick lost by the fence pairing
 * shows as n buffers waiting after the sleeping side's timeout with no
 * kick coming (timing-dependent: the single-thread tests are the ones that
 * pin the re-check down).
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_ring.h>
#include <virtq/mem.h>
#include <virtq/ring.h>

#include "../harness/guest.h"
#include "../harness/test.h"

#define BUF      64u         /* bytes per segment */
#define MAXQ     64u

struct fx {
	struct vq_test_guest g;
	struct vq_drv *drv;
	struct vq_dev *dev;
	struct vq_elem e[MAXQ];
	struct iovec iov[MAXQ][4];
	unsigned nheld;
	char tok[MAXQ];
	unsigned next_tok;
};

static void fx_init(struct fx *x, enum vq_layout layout, uint32_t size, uint64_t features)
{
	memset(x, 0, sizeof(*x));
	vq_test_guest_init(&x->g, layout, size, (size_t)MAXQ * 4 * 2 * BUF);
	struct vq_drv_params dc = { .ring = vq_test_guest_ring(&x->g, features) };
	ASSERT_EQ(vq_drv_new(&dc, &x->drv), 0);
	ASSERT_EQ(vq_dev_new(&dc.ring, x->g.map, &x->dev), 0);
	for (unsigned i = 0; i < MAXQ; i++) {
		x->e[i].iov = x->iov[i];
		x->e[i].iov_cap = 4;
	}
}

static void fx_fini(struct fx *x)
{
	ASSERT_FALSE(vq_drv_is_broken(x->drv));
	ASSERT_FALSE(vq_dev_is_broken(x->dev));
	vq_drv_free(x->drv);
	vq_dev_free(x->dev);
	vq_test_guest_fini(&x->g);
}

/* Add one writable buffer of nseg segments that do not merge (a gap
 * between them); not yet published. */
static void add(struct fx *x, unsigned nseg)
{
	unsigned t = x->next_tok++ % MAXQ;
	struct vq_seg sg[4];

	for (unsigned i = 0; i < nseg; i++)
		sg[i] = (struct vq_seg){ VQ_TEST_GPA + x->g.free_off + ((size_t)t * 4 + i) * 2 * BUF, BUF };
	ASSERT_EQ(vq_drv_add(x->drv, sg, 0, nseg, &x->tok[t]), 0);
}

/* The device pops everything available. */
static void pop_all(struct fx *x)
{
	int rc;

	while ((rc = vq_dev_pop(x->dev, &x->e[x->nheld])) == 1)
		x->nheld++;
	ASSERT_EQ(rc, 0);
}

/* The device uses held buffer i: pushed, flushed; returns need_notify. */
static bool use(struct fx *x, unsigned i)
{
	ASSERT_EQ(vq_dev_push(x->dev, &x->e[i], 1), 0);
	vq_dev_flush(x->dev);
	return vq_dev_need_notify(x->dev);
}

/* Use every held buffer and let the driver take them back. */
static void drain(struct fx *x)
{
	uint32_t len;
	void *tok;
	unsigned got = 0;

	for (unsigned i = 0; i < x->nheld; i++)
		(void)use(x, i);
	while (vq_drv_get(x->drv, &tok, &len) == 1)
		got++;
	ASSERT_EQ(got, x->nheld);
	x->nheld = 0;
}

/* Move both sides m buffers on, with notifications off. */
static void advance_by(struct fx *x, unsigned m)
{
	vq_dev_disable_notify(x->dev);
	vq_drv_disable_notify(x->drv);
	for (unsigned i = 0; i < m; i++)
		add(x, 1);
	(void)vq_drv_kick_prepare(x->drv);
	pop_all(x);
	ASSERT_EQ(x->nheld, m);
	drain(x);
}

/* Kicks: none before the n-th buffer, one with it; the re-check sees n. */
static void dev_round(struct fx *x, unsigned n, unsigned nseg)
{
	unsigned want = n < x->g.size ? n : x->g.size;

	vq_dev_disable_notify(x->dev);
	ASSERT_FALSE(vq_dev_enable_notify_after(x->dev, n));
	for (unsigned i = 1; i <= want / nseg; i++) {
		add(x, nseg);
		if (i * nseg < want)
			ASSERT_FALSE(vq_drv_kick_prepare(x->drv));
		else
			ASSERT_TRUE(vq_drv_kick_prepare(x->drv));
	}
	/* The re-check before sleeping: n there, so do not sleep. */
	ASSERT_TRUE(vq_dev_enable_notify_after(x->dev, n));
	vq_dev_disable_notify(x->dev);
	pop_all(x);
	ASSERT_EQ(x->nheld, want / nseg);
	drain(x);
	/* n - 1 there: sleep (the n-th kicks). */
	if (want / nseg > 1) {
		for (unsigned i = 1; i < want / nseg; i++)
			add(x, nseg);
		(void)vq_drv_kick_prepare(x->drv);
		ASSERT_FALSE(vq_dev_enable_notify_after(x->dev, n));
		vq_dev_disable_notify(x->dev);
		pop_all(x);
		drain(x);
	}
}

static void dev_case(enum vq_layout layout, uint32_t size, unsigned rounds, unsigned nseg)
{
	static const unsigned ns[] = { 2, 3, 8, 17, 32, 64, 100 };
	uint64_t rng = vq_test_seed();
	struct fx x;

	fx_init(&x, layout, size, VQ_F_EVENT_IDX);
	for (unsigned r = 0; r < rounds; r++) {
		advance_by(&x, (unsigned)(vq_test_rand(&rng) % x.g.size));
		dev_round(&x, ns[r % (sizeof(ns) / sizeof(ns[0]))] * nseg, nseg);
	}
	fx_fini(&x);
}

/* Split: 1200 rounds move the 16-bit avail index past its wrap. */
TEST(dev_after_split_kick_at_nth)
{
	dev_case(VQ_LAYOUT_SPLIT, 64, 1200, 1);
}

/* Packed (a size that is not a power of two): the event offset lands in
 * the next lap, with the other wrap counter, about every other round. */
TEST(dev_after_packed_kick_at_nth)
{
	dev_case(VQ_LAYOUT_PACKED, 60, 600, 1);
}

/* Interrupts: none before the n-th used buffer, one with it (n clamped to
 * the buffers in flight); the re-check sees the device past the event. */
static void drv_round(struct fx *x, unsigned n, unsigned shown, unsigned nseg)
{
	unsigned fire = n < shown ? n : shown; /* buffers whose use signals */

	vq_dev_disable_notify(x->dev);
	vq_drv_disable_notify(x->drv);
	for (unsigned i = 0; i < shown; i++)
		add(x, nseg);
	(void)vq_drv_kick_prepare(x->drv);
	pop_all(x);
	ASSERT_FALSE(vq_drv_enable_notify_after(x->drv, n * nseg));
	/* Used out of order (last popped first): positions count, not ids. */
	for (unsigned k = 1; k <= fire; k++) {
		bool irq = use(x, x->nheld - k);

		if (k < fire && fire > 1)
			ASSERT_FALSE(irq);
		else
			ASSERT_TRUE(irq);
	}
	ASSERT_TRUE(vq_drv_enable_notify_after(x->drv, n * nseg));
	vq_drv_disable_notify(x->drv);
	for (unsigned k = fire + 1; k <= x->nheld; k++)
		(void)use(x, x->nheld - k);
	x->nheld = 0;
	{
		uint32_t len;
		void *tok;
		unsigned got = 0;

		while (vq_drv_get(x->drv, &tok, &len) == 1)
			got++;
		ASSERT_EQ(got, shown);
	}
}

/* The re-check alone: n - 1 used buffers waiting is safe to sleep on. */
static void drv_recheck(struct fx *x, unsigned n, unsigned nseg)
{
	vq_drv_disable_notify(x->drv);
	for (unsigned i = 0; i < n + 1; i++)
		add(x, nseg);
	(void)vq_drv_kick_prepare(x->drv);
	pop_all(x);
	for (unsigned i = 0; i + 1 < n; i++)
		(void)use(x, i);
	ASSERT_FALSE(vq_drv_enable_notify_after(x->drv, n * nseg));
	(void)use(x, n - 1);
	ASSERT_TRUE(vq_drv_enable_notify_after(x->drv, n * nseg));
	vq_drv_disable_notify(x->drv);
	(void)use(x, n);
	x->nheld = 0;
	{
		uint32_t len;
		void *tok;

		while (vq_drv_get(x->drv, &tok, &len) == 1)
			;
	}
}

static void drv_case(enum vq_layout layout, uint32_t size, unsigned rounds, unsigned nseg)
{
	static const unsigned ns[] = { 2, 3, 5, 8, 13 };
	uint64_t rng = vq_test_seed();
	unsigned cap = size / nseg;
	struct fx x;

	fx_init(&x, layout, size, VQ_F_EVENT_IDX);
	for (unsigned r = 0; r < rounds; r++) {
		unsigned n = ns[r % (sizeof(ns) / sizeof(ns[0]))];
		unsigned shown = 1 + (unsigned)(vq_test_rand(&rng) % (n + 4));

		advance_by(&x, (unsigned)(vq_test_rand(&rng) % x.g.size));
		drv_round(&x, n, shown < cap ? shown : cap, nseg);
		if (n + 1 <= cap)
			drv_recheck(&x, n, nseg);
	}
	fx_fini(&x);
}

TEST(drv_after_split_call_at_nth)
{
	drv_case(VQ_LAYOUT_SPLIT, 64, 1200, 1);
}

TEST(drv_after_packed_call_at_nth)
{
	drv_case(VQ_LAYOUT_PACKED, 60, 600, 1);
}

/* Packed chains of 3 descriptors (no INDIRECT): the event counts slots,
 * and the re-check walks used descriptors by the slots each buffer took
 * (the slots inside a chain are never written as used). */
TEST(drv_after_packed_chains_walk)
{
	drv_case(VQ_LAYOUT_PACKED, 60, 400, 3);
}

TEST(dev_after_packed_chains)
{
	dev_case(VQ_LAYOUT_PACKED, 60, 400, 3);
}

/* A driver that makes the n-th slot available but never the next one: the
 * re-check says "sleep", not "more".  A caller told "more" pops, gets
 * nothing and asks again; the SVQ relay did that forever (a fuzz finding,
 * fuzz/corpus/svq/hang-packed-hole).  With the next slot made available
 * the same re-check says "more" and the pops take all n. */
TEST(dev_after_packed_hole_at_next)
{
	const uint16_t avail = 1u << VRING_PACKED_DESC_F_AVAIL;
	struct vring_packed_desc *d;
	struct fx x;

	fx_init(&x, VQ_LAYOUT_PACKED, 16, VQ_F_EVENT_IDX);
	d = (struct vring_packed_desc *)(x.g.mem + x.g.lay.desc_off);
	vq_dev_disable_notify(x.dev);
	for (unsigned i = 0; i < 4; i++)
		add(&x, 1);
	(void)vq_drv_kick_prepare(x.drv);
	d[0].flags ^= avail; /* the next slot: not available */
	ASSERT_FALSE(vq_dev_enable_notify_after(x.dev, 4));
	ASSERT_EQ(vq_dev_pop(x.dev, &x.e[0]), 0);
	ASSERT_FALSE(vq_dev_enable_notify_after(x.dev, 4));
	d[0].flags ^= avail;
	ASSERT_TRUE(vq_dev_enable_notify_after(x.dev, 4));
	vq_dev_disable_notify(x.dev);
	pop_all(&x);
	ASSERT_EQ(x.nheld, 4);
	drain(&x);
	fx_fini(&x);
}

/* Without EVENT_IDX the calls are the plain ones: a kick with the first
 * buffer, an interrupt with the first used. */
TEST(after_without_event_idx_is_plain)
{
	struct fx x;

	fx_init(&x, VQ_LAYOUT_SPLIT, 64, 0);
	vq_drv_disable_notify(x.drv);
	ASSERT_FALSE(vq_dev_enable_notify_after(x.dev, 16));
	add(&x, 1);
	ASSERT_TRUE(vq_drv_kick_prepare(x.drv));
	add(&x, 1);
	(void)vq_drv_kick_prepare(x.drv);
	pop_all(&x);
	ASSERT_FALSE(vq_drv_enable_notify_after(x.drv, 16));
	ASSERT_TRUE(use(&x, 0));
	ASSERT_TRUE(vq_drv_enable_notify_after(x.drv, 16));
	(void)use(&x, 1);
	x.nheld = 0;
	fx_fini(&x);
}

/* ---- two threads: the fence pairing, where a lost kick is a timeout */

struct race {
	struct fx x;
	unsigned n, target;
	int kick, done;
	unsigned popped, sleeps, timeouts;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait up to s seconds for the kick flag (consumed). */
static bool wait_kick(struct race *r, double s)
{
	double t0 = now_s();

	while (!__atomic_exchange_n(&r->kick, 0, __ATOMIC_ACQ_REL)) {
		if (__atomic_load_n(&r->done, __ATOMIC_ACQUIRE) || now_s() - t0 > s)
			return false;
		sched_yield();
	}
	return true;
}

/* Pop and use everything there; how many. */
static unsigned race_serve(struct race *r)
{
	unsigned n = 0;

	for (;;) {
		struct vq_elem e = { .iov = r->x.iov[0], .iov_cap = 4 };
		int rc = vq_dev_pop(r->x.dev, &e);

		ASSERT_GE(rc, 0);
		if (rc == 0)
			break;
		ASSERT_EQ(vq_dev_push(r->x.dev, &e, 1), 0);
		n++;
	}
	vq_dev_flush(r->x.dev);
	return n;
}

/* Read from the ring itself, not through the device side: has the driver
 * made n buffers available past the device's position? */
static bool ring_has_n(const struct fx *x, unsigned n)
{
	struct vq_state st;

	vq_dev_get_state(x->dev, &st);
	if (x->g.layout == VQ_LAYOUT_SPLIT) {
		const struct vring_avail *a = (const void *)(x->g.mem + x->g.lay.avail_off);

		return (uint16_t)(__atomic_load_n(&a->idx, __ATOMIC_ACQUIRE) - st.avail_idx) >= n;
	}
	uint32_t slot = st.avail_idx + n - 1;
	bool wrap = st.avail_wrap;

	if (slot >= x->g.size) {
		slot -= x->g.size;
		wrap = !wrap;
	}
	const struct vring_packed_desc *d = (const struct vring_packed_desc *)(x->g.mem + x->g.lay.desc_off) + slot;
	uint16_t f = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);

	return !!(f & (1u << VRING_PACKED_DESC_F_AVAIL)) == wrap;
}

/* The device sleeps moderated.  A wait that times out is the owner's
 * timer; it must find fewer than n buffers, or else the kick for them must
 * still come (the driver may be between publishing and kicking). */
static void *race_device(void *arg)
{
	struct race *r = arg;

	vq_dev_disable_notify(r->x.dev);
	while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE)) {
		unsigned got = race_serve(r);

		r->popped += got;
		if (got)
			continue;
		/* Now and then a pause between finding the ring empty and
		 * arming, so that the driver publishes past the event first
		 * (what the re-check must see). */
		if ((r->popped & 7) == 0)
			for (double t0 = now_s(); now_s() - t0 < 50e-6;)
				vq_cpu_relax();
		/* A kick from before the arm is for buffers served or seen
		 * by the re-check: only one that comes after it counts. */
		__atomic_store_n(&r->kick, 0, __ATOMIC_RELEASE);
		if (vq_dev_enable_notify_after(r->x.dev, r->n)) {
			vq_dev_disable_notify(r->x.dev);
			continue;
		}
		r->sleeps++;
		if (!wait_kick(r, 0.002)) {
			r->timeouts++;
			/* The timer: what is there must be below n, or its
			 * kick still to come (the driver between publishing
			 * and kicking). */
			if (ring_has_n(&r->x, r->n) && !wait_kick(r, 5.0) &&
			    !__atomic_load_n(&r->done, __ATOMIC_ACQUIRE))
				FAIL("lost kick: %u buffers waiting, moderation at %u", r->n, r->n);
		}
		vq_dev_disable_notify(r->x.dev);
	}
	return NULL;
}

static void race_case(enum vq_layout layout, uint32_t size, unsigned n)
{
	struct race r = { .n = n, .target = 40000 };
	unsigned added = 0, completed = 0;
	pthread_t t;

	fx_init(&r.x, layout, size, VQ_F_EVENT_IDX);
	vq_drv_disable_notify(r.x.drv);
	ASSERT_EQ(pthread_create(&t, NULL, race_device, &r), 0);
	while (completed < r.target) {
		unsigned burst = 1 + completed % 29, a = 0;
		uint32_t len;
		void *tok;

		while (a < burst && added < r.target && vq_drv_nfree(r.x.drv) > 0) {
			add(&r.x, 1);
			a++;
			added++;
		}
		if (a && vq_drv_kick_prepare(r.x.drv))
			__atomic_store_n(&r.kick, 1, __ATOMIC_RELEASE);
		while (vq_drv_get(r.x.drv, &tok, &len) == 1)
			completed++;
		if (!a)
			sched_yield();
	}
	__atomic_store_n(&r.done, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	ASSERT_EQ(r.popped, r.target);
	ASSERT_GT(r.sleeps, 0); /* the device did sleep moderated */
	fx_fini(&r.x);
}

TEST_T(race_split_device_moderated, 60)
{
	race_case(VQ_LAYOUT_SPLIT, 64, 16);
}

TEST_T(race_packed_device_moderated, 60)
{
	race_case(VQ_LAYOUT_PACKED, 60, 16);
}
