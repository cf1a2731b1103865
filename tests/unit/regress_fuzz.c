/* SPDX-License-Identifier: MIT */
/*
 * Regression tests for bugs the fuzz targets (fuzz/) found.  One test per
 * bug, named after the target that found it; docs/RELIABILITY.md lists them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/mem.h>
#include <virtq/net.h>
#include <virtq/ring.h>

#include "../harness/test.h"

#define QSIZE 8u
#define GBASE 0x40000ull

struct txq {
	struct vq_net *n;
	struct vq_mem *mem;
	struct vq_dev *q;
	uint8_t *ring;
	uint8_t guest[4096];
	struct vq_ring_layout lay;
};

static void txq_setup(struct txq *t, uint64_t features)
{
	struct vq_net_params p = { .max_pairs = 1 };
	struct vq_mem_region r = { .gpa = GBASE, .size = sizeof(t->guest), .hva = t->guest,
				   .prot = VQ_MEM_RW };
	struct vq_ring_params rc = { .layout = VQ_LAYOUT_SPLIT, .size = QSIZE };

	ASSERT_EQ(vq_net_new(&p, &t->n), 0);
	ASSERT_EQ(vq_net_set_features(t->n, features), 0);
	ASSERT_EQ(vq_mem_new(&t->mem), 0);
	ASSERT_EQ(vq_mem_add(t->mem, &r), 0);
	ASSERT_EQ(vq_ring_layout(rc.layout, rc.size, &t->lay), 0);
	t->ring = aligned_alloc(64, (t->lay.total + 63) & ~(size_t)63);
	ASSERT_TRUE(t->ring != NULL);
	memset(t->ring, 0, t->lay.total);
	rc.features = features;
	rc.desc = t->ring + t->lay.desc_off;
	rc.avail = t->ring + t->lay.avail_off;
	rc.used = t->ring + t->lay.used_off;
	ASSERT_EQ(vq_dev_new(&rc, t->mem, &t->q), 0);
	ASSERT_EQ(vq_net_set_queue(t->n, 1, t->q), 0);
}

/*
 * fuzz/net (tx burst): when the tx ring broke during vq_net_tx_burst, the
 * ring violation's own errno came back (here -ENOSPC for an avail idx too
 * far ahead; -EINVAL / -E2BIG for others, which the rx path mistook for
 * frame-level errors) instead of the documented -EIO.
 */
TEST(net_tx_burst_broken_ring_returns_eio)
{
	struct txq t;
	struct vq_net_pkt *pkts[VQ_NET_BURST_MAX];
	uint16_t *avail;

	txq_setup(&t, VQ_F_VERSION_1);
	avail = (uint16_t *)(void *)(t.ring + t.lay.avail_off);
	avail[1] = QSIZE + 1; /* avail->idx: more than the queue size ahead */
	ASSERT_EQ(vq_net_tx_burst(t.n, 0, pkts, VQ_NET_BURST_MAX), -EIO);
	ASSERT_TRUE(vq_dev_is_broken(t.q));
	ASSERT_EQ(vq_dev_violation(t.q), VQ_ERR_AVAIL_IDX);
	ASSERT_EQ(vq_net_tx_burst(t.n, 0, pkts, VQ_NET_BURST_MAX), -EIO);
}

/* The same through an indirect table of bad length (the ring says -EINVAL). */
TEST(net_tx_burst_bad_indirect_returns_eio)
{
	struct txq t;
	struct vq_net_pkt *pkts[VQ_NET_BURST_MAX];
	uint16_t *avail;
	uint64_t *desc;

	txq_setup(&t, VQ_F_VERSION_1 | VQ_F_INDIRECT);
	desc = (uint64_t *)(void *)(t.ring + t.lay.desc_off);
	desc[0] = GBASE;                    /* addr */
	desc[1] = 17 | (0x4ull << 32);      /* len 17, flags INDIRECT */
	avail = (uint16_t *)(void *)(t.ring + t.lay.avail_off);
	avail[2] = 0;                       /* ring[0] = head 0 */
	avail[1] = 1;                       /* idx */
	ASSERT_EQ(vq_net_tx_burst(t.n, 0, pkts, VQ_NET_BURST_MAX), -EIO);
	ASSERT_EQ(vq_dev_violation(t.q), VQ_ERR_INDIRECT_LEN);
}
