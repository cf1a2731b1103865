/* SPDX-License-Identifier: MIT */
/*
 * The driver side of the ring drives the device side over shared memory.
 *
 * Guest memory is one mapping registered at VQ_TEST_GPA (harness/guest.h);
 * the ring, the indirect-table pool and the data buffers live in it and the
 * driver uses gpa = VQ_TEST_GPA + offset.  The k-th chain the device pops is the k-th
 * request the driver added (both process the ring in order), so both derive
 * the same patterns from k: the device checks every byte it reads, writes a
 * pattern into the first w(k) writable bytes and reports w(k); the driver
 * checks the reported length and the whole data region of the request
 * (segments, gaps between them, bytes the device must not have written).
 *
 * Matrix: split/packed x INDIRECT x EVENT_IDX x IN_ORDER, each once with
 * both sides interleaved on one thread (where a lost notification shows as
 * both sides asleep) and once on two threads (where it shows as a timeout).
 * (LARGE_CHAIN is in ring_xfer_large.c.)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <virtq/mem.h>
#include <virtq/ring.h>

#include "../harness/guest.h"
#include "../harness/test.h"

#define SLOT       (32u * 1024)   /* data bytes per request record */
#define HOLD       8              /* chains the device holds before pushing */
#define IOV_CAP    64
#define MAX_SEGS   48
#define CANARY     0xee
#define WAIT_S     10             /* a notification lost for this long fails */

struct xcfg {
	enum vq_layout layout;
	bool indirect, event_idx, in_order, threads;
	unsigned nreq;
	bool small;  /* short chains of few bytes: many requests, index wrap */
};

struct req {
	uint32_t seq;       /* add order = the device's pop order */
	unsigned nout, nin;
	uint64_t out_len, in_len, span;
	struct vq_seg sg[MAX_SEGS];
};

struct explen {
	uint64_t out_len, in_len;
};

struct held {
	struct vq_elem e;
	struct iovec iov[IOV_CAP];
	uint32_t k;
};

struct ctx {
	struct xcfg c;
	struct vq_test_guest g;
	size_t data_off;
	struct vq_drv *drv;
	struct vq_dev *dev;
	unsigned nreq, added, completed;
	struct req *reqs;        /* [size]; the token is &reqs[i] */
	uint32_t *free_reqs;
	unsigned nfree_reqs;
	struct req *pending;     /* built, not yet accepted by the ring */
	struct explen *exp;      /* [nreq], by seq: what the device must see */
	unsigned char *scratch;  /* expected image of a request's region */
	uint64_t rng_drv, rng_dev;
	/* device */
	struct held pool[HOLD];
	struct held *held[HOLD]; /* the first nheld in pop order, then free ones */
	unsigned nheld;
	uint32_t dev_seq;
	/* notifications (two threads) */
	int kick, irq, done;
};

static inline uint8_t pat_out(uint32_t k, uint64_t off)
{
	return (uint8_t)(k * 0x9du + off * 7u + (off >> 8) + 1u);
}

static inline uint8_t pat_in(uint32_t k, uint64_t off)
{
	return (uint8_t)(k * 0x3bu + off * 13u + (off >> 9) + 5u);
}

/* Bytes the device writes into request k's writable part. */
static uint64_t dev_len(uint32_t k, uint64_t in_len)
{
	uint64_t h = (k + 1) * 0x9E3779B97F4A7C15ull;

	h ^= h >> 29;
	if (in_len == 0 || (h & 3) == 0)
		return in_len;
	if ((h & 3) == 1)
		return 0;
	return (h >> 8) % (in_len + 1);
}

static unsigned char *slot_host(struct ctx *x, const struct req *r)
{
	return x->g.mem + x->data_off + (size_t)(r - x->reqs) * SLOT;
}

static uint64_t slot_gpa(struct ctx *x, const struct req *r)
{
	return VQ_TEST_GPA + x->data_off + (uint64_t)(r - x->reqs) * SLOT;
}

/* ---- setup */

static void ctx_init(struct ctx *x, const struct xcfg *c, unsigned nreq)
{
	const uint32_t size = c->layout == VQ_LAYOUT_SPLIT ? 64 : 60; /* packed: not a power of 2 */
	uint64_t features = 0;
	size_t pool_len;
	const uint32_t tables = 24, ind_len = 16;

	memset(x, 0, sizeof(*x));
	x->c = *c;
	x->nreq = nreq;
	x->rng_drv = vq_test_seed();
	x->rng_dev = x->rng_drv ^ 0xabcdef;
	features |= c->indirect ? VQ_F_INDIRECT : 0;
	features |= c->event_idx ? VQ_F_EVENT_IDX : 0;
	features |= c->in_order ? VQ_F_IN_ORDER : 0;
	/* the ring, the indirect pool from free_off, the data from the next page */
	pool_len = ((size_t)tables * ind_len * 16 + 4095) & ~(size_t)4095;
	vq_test_guest_init(&x->g, c->layout, size, pool_len + (size_t)size * SLOT);
	x->data_off = x->g.free_off + pool_len;

	struct vq_drv_params dc = {
		.ring = vq_test_guest_ring(&x->g, features),
		.indirect = x->g.mem + x->g.free_off,
		.indirect_gpa = VQ_TEST_GPA + x->g.free_off,
		.indirect_tables = tables, .indirect_len = ind_len,
	};
	ASSERT_EQ(vq_drv_new(&dc, &x->drv), 0);
	ASSERT_EQ(vq_dev_new(&dc.ring, x->g.map, &x->dev), 0);

	x->reqs = calloc(x->g.size, sizeof(*x->reqs));
	x->free_reqs = calloc(x->g.size, sizeof(*x->free_reqs));
	x->exp = calloc(nreq, sizeof(*x->exp));
	x->scratch = malloc(SLOT);
	ASSERT_TRUE(x->reqs && x->free_reqs && x->exp && x->scratch);
	for (uint32_t i = 0; i < x->g.size; i++)
		x->free_reqs[x->nfree_reqs++] = x->g.size - 1 - i;
	for (unsigned i = 0; i < HOLD; i++) {
		x->pool[i].e.iov = x->pool[i].iov;
		x->held[i] = &x->pool[i];
	}
}

static void ctx_fini(struct ctx *x)
{
	ASSERT_FALSE(vq_drv_is_broken(x->drv));
	ASSERT_FALSE(vq_dev_is_broken(x->dev));
	ASSERT_EQ(vq_drv_nfree(x->drv), x->g.size);
	ASSERT_TRUE(vq_drv_detach(x->drv) == NULL);
	vq_drv_free(x->drv);
	vq_dev_free(x->dev);
	vq_test_guest_fini(&x->g);
	free(x->reqs);
	free(x->free_reqs);
	free(x->exp);
	free(x->scratch);
}

/* ---- the driver's requests */

/* Write pattern bytes [from, to) of the chain's segments [first, first+n). */
static void segs_fill(struct ctx *x, const struct req *r, unsigned char *img, unsigned first,
		      unsigned n, uint64_t to, uint8_t (*pat)(uint32_t, uint64_t))
{
	uint64_t off = 0;

	for (unsigned i = first; i < first + n && off < to; i++) {
		unsigned char *p = img + (r->sg[i].addr - slot_gpa(x, r));

		for (uint32_t j = 0; j < r->sg[i].len && off < to; j++, off++)
			p[j] = pat(r->seq, off);
	}
}

/* A random chain inside the request's slot: segments adjacent (to exercise
 * coalescing) or separated by gaps; now and then a long one. */
static void req_build(struct ctx *x, struct req *r)
{
	uint64_t *rs = &x->rng_drv, base = slot_gpa(x, r), cur = vq_test_rand(rs) % 64;
	bool lng = vq_test_rand(rs) % 16 == 0;
	unsigned maxseg = lng ? 21 : 7, maxlen = lng ? 500 : 2000;

	if (x->c.small) {
		maxseg = 3;
		maxlen = 64;
	}

	r->nout = (unsigned)(vq_test_rand(rs) % maxseg);
	r->nin = (unsigned)(vq_test_rand(rs) % maxseg);
	if (r->nout + r->nin == 0)
		r->nout = 1;
	r->out_len = r->in_len = 0;
	for (unsigned i = 0; i < r->nout + r->nin; i++) {
		if (i == 0 || vq_test_rand(rs) % 2)
			cur += 1 + vq_test_rand(rs) % 256;
		r->sg[i].addr = base + cur;
		r->sg[i].len = 1 + (uint32_t)(vq_test_rand(rs) % maxlen);
		cur += r->sg[i].len;
		*(i < r->nout ? &r->out_len : &r->in_len) += r->sg[i].len;
	}
	r->span = cur;
	if (cur > SLOT)
		FAIL("request span %" PRIu64 " > slot", cur);
}

/* Add the pending request (building one if needed): 1 added, 0 no room. */
static int drv_add_one(struct ctx *x)
{
	struct req *r = x->pending;
	int rc;

	if (!r) {
		if (x->added == x->nreq || x->nfree_reqs == 0)
			return 0;
		r = &x->reqs[x->free_reqs[--x->nfree_reqs]];
		r->seq = x->added;
		req_build(x, r);
		memset(slot_host(x, r), CANARY, r->span);
		segs_fill(x, r, slot_host(x, r), 0, r->nout, UINT64_MAX, pat_out);
		x->exp[r->seq] = (struct explen){ r->out_len, r->in_len };
		x->pending = r;
	}
	rc = vq_drv_add(x->drv, r->sg, r->nout, r->nin, r);
	if (rc == -ENOSPC)
		return 0;
	ASSERT_EQ(rc, 0);
	x->pending = NULL;
	x->added++;
	return 1;
}

/* Check a completed request: its length and every byte of its region. */
static void drv_check(struct ctx *x, struct req *r, uint32_t len)
{
	uint64_t w = dev_len(r->seq, r->in_len);

	if (len != w)
		FAIL("request %u: used len %u, device wrote %" PRIu64, r->seq, len, w);
	memset(x->scratch, CANARY, r->span);
	segs_fill(x, r, x->scratch, 0, r->nout, UINT64_MAX, pat_out);
	segs_fill(x, r, x->scratch, r->nout, r->nin, w, pat_in);
	ASSERT_MEM_EQ(slot_host(x, r), x->scratch, r->span);
	x->free_reqs[x->nfree_reqs++] = (uint32_t)(r - x->reqs);
	x->completed++;
}

/* Get up to max used buffers; returns how many. */
static unsigned drv_get_some(struct ctx *x, unsigned max)
{
	unsigned n = 0;
	void *t;
	uint32_t len;
	int rc;

	while (n < max && (rc = vq_drv_get(x->drv, &t, &len)) == 1) {
		drv_check(x, t, len);
		n++;
	}
	if (n < max && rc != 0)
		FAIL("vq_drv_get: %d (%s)", rc, vq_drv_error(x->drv));
	return n;
}

/* ---- the device */

static uint32_t dev_process(struct ctx *x, struct held *h)
{
	struct vq_elem *e = &h->e;
	const struct explen *ex = &x->exp[h->k];
	uint64_t off = 0, w;

	if (e->out_len != ex->out_len || e->in_len != ex->in_len)
		FAIL("chain %u: device sees %" PRIu64 "+%" PRIu64 " bytes, driver added %"
		     PRIu64 "+%" PRIu64, h->k, e->out_len, e->in_len, ex->out_len, ex->in_len);
	for (uint32_t i = 0; i < e->out_num; i++) {
		const unsigned char *p = e->iov[i].iov_base;

		for (size_t j = 0; j < e->iov[i].iov_len; j++, off++)
			if (p[j] != pat_out(h->k, off))
				FAIL("chain %u: device read 0x%02x at %" PRIu64, h->k, p[j], off);
	}
	w = dev_len(h->k, e->in_len);
	off = 0;
	for (uint32_t i = e->out_num; i < e->out_num + e->in_num && off < w; i++) {
		unsigned char *p = e->iov[i].iov_base;

		for (size_t j = 0; j < e->iov[i].iov_len && off < w; j++, off++)
			p[j] = pat_in(h->k, off);
	}
	return (uint32_t)w;
}

/* Pop up to max chains into the held list; returns how many. */
static unsigned dev_pop_some(struct ctx *x, unsigned max)
{
	unsigned n = 0;

	while (n < max && x->nheld < HOLD) {
		struct held *h = x->held[x->nheld];
		int rc;

		h->e.iov_cap = IOV_CAP;
		rc = vq_dev_pop(x->dev, &h->e);
		if (rc == 0)
			break;
		if (rc != 1)
			FAIL("vq_dev_pop: %d (%s)", rc, vq_dev_error(x->dev));
		h->k = x->dev_seq++;
		x->nheld++;
		n++;
	}
	return n;
}

/* Push up to max held chains (in order with IN_ORDER, else in random order),
 * flush; returns whether the driver wants an interrupt. */
static bool dev_push_some(struct ctx *x, unsigned max)
{
	unsigned n = 0;

	while (n < max && x->nheld > 0) {
		unsigned i = x->c.in_order ? 0 : (unsigned)(vq_test_rand(&x->rng_dev) % x->nheld);
		struct held *h = x->held[i];

		ASSERT_EQ(vq_dev_push(x->dev, &h->e, dev_process(x, h)), 0);
		/* Keep the held list in pop order; h goes to the free part. */
		memmove(&x->held[i], &x->held[i + 1], (x->nheld - 1 - i) * sizeof(h));
		x->held[--x->nheld] = h;
		n++;
	}
	vq_dev_flush(x->dev);
	return n > 0 && vq_dev_need_notify(x->dev);
}

/* ---- one thread: both sides interleaved at random */

/* A side "sleeps" until the other notifies it; both asleep = a lost one. */
struct sleepers {
	bool dev, drv;
};

/* The driver publishes; a kick wakes a sleeping device. */
static void il_kick(struct ctx *x, struct sleepers *s)
{
	if (vq_drv_kick_prepare(x->drv) && s->dev) {
		s->dev = false;
		vq_dev_disable_notify(x->dev);
	}
}

static unsigned il_device(struct ctx *x, struct sleepers *s)
{
	uint64_t *rs = &x->rng_drv;
	unsigned p = dev_pop_some(x, (unsigned)(vq_test_rand(rs) % (HOLD + 1)));
	unsigned before = x->nheld;
	bool irq = dev_push_some(x, (unsigned)(vq_test_rand(rs) % (HOLD + 1)));

	if (irq && s->drv) {
		s->drv = false;
		vq_drv_disable_notify(x->drv);
	}
	if (p == 0 && x->nheld == 0) {
		bool more = vq_dev_enable_notify(x->dev);

		ASSERT_FALSE(vq_dev_is_broken(x->dev));
		if (!more)
			s->dev = true;
		else
			vq_dev_disable_notify(x->dev);
	}
	return p + (before - x->nheld);
}

static unsigned il_driver_get(struct ctx *x, struct sleepers *s)
{
	unsigned g = drv_get_some(x, (unsigned)(vq_test_rand(&x->rng_drv) % 16));

	if (g > 0)
		return g;
	if (vq_drv_enable_notify(x->drv)) {
		vq_drv_disable_notify(x->drv);
		return 0;
	}
	/* Nothing to get: sleep unless a request can be added now. */
	if (!drv_add_one(x)) {
		s->drv = true;
		return 0;
	}
	vq_drv_disable_notify(x->drv);
	il_kick(x, s);
	return 1;
}

static void run_interleaved(struct ctx *x)
{
	struct sleepers s = { false, false };
	unsigned idle = 0;

	vq_drv_disable_notify(x->drv);
	vq_dev_disable_notify(x->dev);
	while (x->completed < x->nreq) {
		unsigned progress = 0;

		if (!s.drv) {
			unsigned want = (unsigned)(vq_test_rand(&x->rng_drv) % 12), a = 0;

			while (a < want && drv_add_one(x))
				a++;
			if (a)
				il_kick(x, &s);
			progress += a;
		}
		if (!s.dev)
			progress += il_device(x, &s);
		if (!s.drv)
			progress += il_driver_get(x, &s);
		if (s.dev && s.drv)
			FAIL("lost notification: both sides asleep with %u of %u requests done "
			     "(%u added)", x->completed, x->nreq, x->added);
		idle = progress ? 0 : idle + 1;
		if (idle > 100000)
			FAIL("no progress: %u of %u done", x->completed, x->nreq);
	}
}

/* ---- two threads: the device on its own thread, notifications as flags */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait for *flag (consuming it) or *done; fails after WAIT_S seconds. */
static void wait_flag(int *flag, int *done, const char *what, struct ctx *x)
{
	double t0 = now_s();

	while (!__atomic_exchange_n(flag, 0, __ATOMIC_ACQ_REL)) {
		if (__atomic_load_n(done, __ATOMIC_ACQUIRE))
			return;
		if (now_s() - t0 > WAIT_S)
			FAIL("lost %s: %u of %u done, %u added", what, x->completed, x->nreq,
			     x->added);
		sched_yield();
	}
}

static void *dev_thread(void *arg)
{
	struct ctx *x = arg;

	vq_dev_disable_notify(x->dev);
	while (!__atomic_load_n(&x->done, __ATOMIC_ACQUIRE)) {
		unsigned p = dev_pop_some(x, (unsigned)(1 + vq_test_rand(&x->rng_dev) % HOLD));

		if (dev_push_some(x, HOLD))
			__atomic_store_n(&x->irq, 1, __ATOMIC_RELEASE);
		if (p > 0)
			continue;
		bool more = vq_dev_enable_notify(x->dev);

		ASSERT_FALSE(vq_dev_is_broken(x->dev));
		if (!more)
			wait_flag(&x->kick, &x->done, "kick", x);
		vq_dev_disable_notify(x->dev);
	}
	return NULL;
}

static void run_threads(struct ctx *x)
{
	pthread_t t;

	vq_drv_disable_notify(x->drv);
	ASSERT_EQ(pthread_create(&t, NULL, dev_thread, x), 0);
	while (x->completed < x->nreq) {
		unsigned a = 0, want = (unsigned)(1 + vq_test_rand(&x->rng_drv) % 16);

		while (a < want && drv_add_one(x))
			a++;
		if (a && vq_drv_kick_prepare(x->drv))
			__atomic_store_n(&x->kick, 1, __ATOMIC_RELEASE);
		if (drv_get_some(x, UINT32_MAX) || a)
			continue;
		if (!vq_drv_enable_notify(x->drv))
			wait_flag(&x->irq, &x->done, "interrupt", x);
		vq_drv_disable_notify(x->drv);
	}
	__atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(pthread_join(t, NULL), 0);
}

static void run_matrix(const struct xcfg *c)
{
	struct ctx x;

	ctx_init(&x, c, c->nreq ? c->nreq : 3000);
	if (c->threads)
		run_threads(&x);
	else
		run_interleaved(&x);
	ASSERT_EQ(x.completed, x.nreq);
	ASSERT_EQ(x.dev_seq, x.nreq);
	ctx_fini(&x);
}

#define XFER(name, lay, ind, evt, ord, thr)                                          \
	TEST(name)                                                                   \
	{                                                                            \
		struct xcfg c = { lay, ind, evt, ord, thr, 0, false };                       \
		run_matrix(&c);                                                      \
	}
#define XFER_LAYOUT(pfx, lay, thr)                                                   \
	XFER(pfx##_plain, lay, false, false, false, thr)                             \
	XFER(pfx##_inorder, lay, false, false, true, thr)                            \
	XFER(pfx##_event, lay, false, true, false, thr)                              \
	XFER(pfx##_event_inorder, lay, false, true, true, thr)                       \
	XFER(pfx##_indirect, lay, true, false, false, thr)                           \
	XFER(pfx##_indirect_inorder, lay, true, false, true, thr)                    \
	XFER(pfx##_indirect_event, lay, true, true, false, thr)                      \
	XFER(pfx##_indirect_event_inorder, lay, true, true, true, thr)

XFER_LAYOUT(xfer_split_1t, VQ_LAYOUT_SPLIT, false)
XFER_LAYOUT(xfer_packed_1t, VQ_LAYOUT_PACKED, false)
XFER_LAYOUT(xfer_split_2t, VQ_LAYOUT_SPLIT, true)
XFER_LAYOUT(xfer_packed_2t, VQ_LAYOUT_PACKED, true)

/* More than 65536 requests: the 16-bit split indexes and the EVENT_IDX
 * arithmetic wrap; packed wrap counters flip thousands of times. */
#define XFER_WRAP(name, lay, ind, evt, ord, thr)                                     \
	TEST(name)                                                                   \
	{                                                                            \
		struct xcfg c = { lay, ind, evt, ord, thr, 70000, true };            \
		run_matrix(&c);                                                      \
	}
XFER_WRAP(xfer_wrap_split_1t_event, VQ_LAYOUT_SPLIT, false, true, false, false)
XFER_WRAP(xfer_wrap_split_1t_indirect_event_inorder, VQ_LAYOUT_SPLIT, true, true, true, false)
XFER_WRAP(xfer_wrap_split_2t_event, VQ_LAYOUT_SPLIT, false, true, false, true)
XFER_WRAP(xfer_wrap_split_2t_plain, VQ_LAYOUT_SPLIT, false, false, false, true)
XFER_WRAP(xfer_wrap_packed_1t_event, VQ_LAYOUT_PACKED, false, true, false, false)
XFER_WRAP(xfer_wrap_packed_2t_indirect_event_inorder, VQ_LAYOUT_PACKED, true, true, true, true)
