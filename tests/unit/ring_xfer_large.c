/* SPDX-License-Identifier: MIT */
/*
 * LARGE_CHAIN: the driver side of the ring sends a 128 MiB request of 32768
 * scattered 4 KiB segments in one chain through a 128-entry queue to the
 * device side over shared memory, and both check every byte; without the
 * feature the chain is refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/mem.h>
#include <virtq/ring.h>

#include "../harness/guest.h"
#include "../harness/test.h"

/* ---- LARGE_CHAIN: 128 MiB in one chain of 32768 scattered 4 KiB segments */

#define LC_QSIZE 128u
#define LC_SEGS  32768u
#define LC_SEG   4096u
#define LC_PITCH (2u * LC_SEG) /* a 4 KiB gap after every segment: nothing coalesces */

struct lc {
	struct vq_test_guest g;
	size_t pool_off, data_off;
	struct vq_drv *drv;
	struct vq_dev *dev;
	struct vq_seg *sg;
};

static void lc_init(struct lc *l, enum vq_layout layout)
{
	memset(l, 0, sizeof(*l));
	vq_test_guest_init(&l->g, layout, LC_QSIZE, (size_t)LC_SEGS * (16 + LC_PITCH));
	l->pool_off = l->g.free_off;
	l->data_off = l->pool_off + (size_t)LC_SEGS * 16;
	l->sg = calloc(LC_SEGS, sizeof(*l->sg));
	ASSERT_TRUE(l->sg);
	for (uint32_t i = 0; i < LC_SEGS; i++)
		l->sg[i] = (struct vq_seg){ VQ_TEST_GPA + l->data_off + (uint64_t)i * LC_PITCH,
					    LC_SEG };
}

/* Ring config with these features, and a driver with one table of 32768. */
static struct vq_ring_params lc_ring(struct lc *l, uint64_t features, uint32_t max_chain)
{
	struct vq_ring_params rc = vq_test_guest_ring(&l->g, features);

	rc.max_chain = max_chain;
	return rc;
}

static void lc_new_drv(struct lc *l, const struct vq_ring_params *rc)
{
	struct vq_drv_params dc = {
		.ring = *rc, .indirect = l->g.mem + l->pool_off,
		.indirect_gpa = VQ_TEST_GPA + l->pool_off, .indirect_tables = 1,
		.indirect_len = LC_SEGS,
	};

	ASSERT_EQ(vq_drv_new(&dc, &l->drv), 0);
}

static void lc_fini(struct lc *l)
{
	vq_drv_free(l->drv);
	vq_dev_free(l->dev);
	vq_test_guest_fini(&l->g);
	free(l->sg);
}

static inline uint64_t lc_out(uint64_t w)
{
	return w * 0x9E3779B97F4A7C15ull + 0x0123456789abcdefull;
}

static inline uint64_t lc_in(uint64_t w)
{
	return ~(w * 0xC2B2AE3D27D4EB4Full) ^ 0x55aa55aa55aa55aaull;
}

/* The device: check every word it reads, write every writable word. */
static uint64_t lc_device(struct vq_elem *e)
{
	uint64_t w = 0;

	for (uint32_t i = 0; i < e->out_num; i++) {
		const uint64_t *p = e->iov[i].iov_base;

		for (size_t j = 0; j < e->iov[i].iov_len / 8; j++, w++)
			if (p[j] != lc_out(w))
				FAIL("device read word %" PRIu64 " wrong", w);
	}
	w = 0;
	for (uint32_t i = e->out_num; i < e->out_num + e->in_num; i++) {
		uint64_t *p = e->iov[i].iov_base;

		for (size_t j = 0; j < e->iov[i].iov_len / 8; j++, w++)
			p[j] = lc_in(w);
	}
	return w * 8;
}

/* The driver: every word of every writable segment, and the gaps untouched. */
static void lc_check(struct lc *l, unsigned nout)
{
	uint64_t w = 0;

	for (uint32_t i = nout; i < LC_SEGS; i++) {
		const uint64_t *p = (const void *)(l->g.mem + (l->sg[i].addr - VQ_TEST_GPA));

		for (uint32_t j = 0; j < LC_SEG / 8; j++, w++)
			if (p[j] != lc_in(w))
				FAIL("segment %u word %u: 0x%" PRIx64, i, j, p[j]);
		if (p[LC_SEG / 8] != 0 || p[LC_PITCH / 8 - 1] != 0)
			FAIL("gap after segment %u written", i);
	}
}

static void large_chain(enum vq_layout layout)
{
	const uint64_t feat = VQ_F_INDIRECT | VQ_F_LARGE_CHAIN;
	const unsigned nout = LC_SEGS / 2, nin = LC_SEGS - nout;
	struct lc l;
	struct vq_elem e = { .iov_cap = LC_SEGS };
	void *t;
	uint32_t len;

	lc_init(&l, layout);
	struct vq_ring_params rc = lc_ring(&l, feat, LC_SEGS);
	lc_new_drv(&l, &rc);
	ASSERT_EQ(vq_dev_new(&rc, l.g.map, &l.dev), 0);
	for (uint32_t i = 0; i < nout; i++) {
		uint64_t *p = (void *)(l.g.mem + (l.sg[i].addr - VQ_TEST_GPA));

		for (uint32_t j = 0; j < LC_SEG / 8; j++)
			p[j] = lc_out((uint64_t)i * (LC_SEG / 8) + j);
	}
	e.iov = calloc(LC_SEGS, sizeof(*e.iov));
	ASSERT_TRUE(e.iov);
	ASSERT_EQ(vq_drv_add(l.drv, l.sg, nout, nin, &l), 0);
	ASSERT_EQ(vq_drv_nfree(l.drv), LC_QSIZE - 1); /* one ring descriptor */
	vq_drv_kick_prepare(l.drv);
	ASSERT_EQ(vq_dev_pop(l.dev, &e), 1);
	ASSERT_EQ(e.out_num, nout);
	ASSERT_EQ(e.in_num, nin);
	ASSERT_EQ_U64(e.out_len, (uint64_t)nout * LC_SEG);
	ASSERT_EQ_U64(e.in_len, (uint64_t)nin * LC_SEG);
	uint64_t wrote = lc_device(&e);
	ASSERT_EQ_U64(wrote, 64ull << 20);
	ASSERT_EQ(vq_dev_push(l.dev, &e, (uint32_t)wrote), 0);
	vq_dev_flush(l.dev);
	ASSERT_EQ(vq_drv_get(l.drv, &t, &len), 1);
	ASSERT_TRUE(t == &l);
	ASSERT_EQ_U64(len, wrote);
	lc_check(&l, nout);
	ASSERT_EQ(vq_drv_nfree(l.drv), LC_QSIZE);
	/* The table went back to the pool: the same request is accepted again. */
	ASSERT_EQ(vq_drv_add(l.drv, l.sg, nout, nin, &l), 0);
	ASSERT_TRUE(vq_drv_detach(l.drv) == &l);
	free(e.iov);
	lc_fini(&l);
}

TEST_T(xfer_large_chain_split, 60)
{
	large_chain(VQ_LAYOUT_SPLIT);
}

TEST_T(xfer_large_chain_packed, 60)
{
	large_chain(VQ_LAYOUT_PACKED);
}

/* Without VQ_F_LARGE_CHAIN the same request is refused on both sides. */
static void large_chain_refused(enum vq_layout layout)
{
	const unsigned nout = LC_SEGS / 2, nin = LC_SEGS - nout;
	struct lc l;
	struct vq_elem e = { .iov_cap = LC_SEGS };

	lc_init(&l, layout);
	/* Driver: the feature missing (max_chain = queue size)... */
	struct vq_ring_params rc = lc_ring(&l, VQ_F_INDIRECT, 0);
	lc_new_drv(&l, &rc);
	ASSERT_EQ(vq_drv_add(l.drv, l.sg, nout, nin, &l), -E2BIG);
	ASSERT_EQ(vq_drv_add(l.drv, l.sg, LC_QSIZE, 0, &l), 0); /* the limit itself */
	ASSERT_EQ(vq_drv_add(l.drv, l.sg, LC_QSIZE + 1, 0, &l), -E2BIG);
	vq_drv_free(l.drv);
	/* ...or the feature without indirect tables: it can never fit. */
	rc = lc_ring(&l, VQ_F_LARGE_CHAIN, LC_SEGS);
	ASSERT_EQ(vq_drv_new(&(struct vq_drv_params){ .ring = rc }, &l.drv), 0);
	ASSERT_EQ(vq_drv_add(l.drv, l.sg, nout, nin, &l), -E2BIG);
	vq_drv_free(l.drv);

	/* Device: a driver that does not play by the rules (it assumes the
	 * feature) hands it a chain longer than the queue size. */
	rc = lc_ring(&l, VQ_F_INDIRECT | VQ_F_LARGE_CHAIN, LC_SEGS);
	lc_new_drv(&l, &rc);
	rc = lc_ring(&l, VQ_F_INDIRECT, 0);
	ASSERT_EQ(vq_dev_new(&rc, l.g.map, &l.dev), 0);
	ASSERT_EQ(vq_drv_add(l.drv, l.sg, nout, nin, &l), 0);
	vq_drv_kick_prepare(l.drv);
	e.iov = calloc(LC_SEGS, sizeof(*e.iov));
	ASSERT_TRUE(e.iov);
	ASSERT_EQ(vq_dev_pop(l.dev, &e), vq_violation_errno(VQ_ERR_CHAIN_LEN));
	ASSERT_EQ(vq_violation_errno(VQ_ERR_CHAIN_LEN), -E2BIG);
	ASSERT_TRUE(vq_dev_is_broken(l.dev));
	ASSERT_EQ(vq_dev_violation(l.dev), VQ_ERR_CHAIN_LEN);
	printf("  device: %s\n", vq_dev_error(l.dev));
	ASSERT_EQ(vq_dev_pop(l.dev, &e), -EIO);
	vq_dev_free(l.dev);
	l.dev = NULL;

	/* With the feature but a smaller max_chain: refused the same way. */
	rc = lc_ring(&l, VQ_F_INDIRECT | VQ_F_LARGE_CHAIN, 1024);
	memset(l.g.mem, 0, l.g.lay.total);
	vq_drv_free(l.drv);
	rc.max_chain = LC_SEGS;
	lc_new_drv(&l, &rc);
	rc.max_chain = 1024;
	ASSERT_EQ(vq_dev_new(&rc, l.g.map, &l.dev), 0);
	ASSERT_EQ(vq_drv_add(l.drv, l.sg, 1025, 0, &l), 0);
	vq_drv_kick_prepare(l.drv);
	ASSERT_EQ(vq_dev_pop(l.dev, &e), -E2BIG);
	ASSERT_EQ(vq_dev_violation(l.dev), VQ_ERR_CHAIN_LEN);
	free(e.iov);
	lc_fini(&l);
}

TEST_T(xfer_large_chain_refused_split, 60)
{
	large_chain_refused(VQ_LAYOUT_SPLIT);
}

TEST_T(xfer_large_chain_refused_packed, 60)
{
	large_chain_refused(VQ_LAYOUT_PACKED);
}
