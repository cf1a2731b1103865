/* SPDX-License-Identifier: MIT */
/*
 * Regression tests for bugs the fuzz targets (fuzz/) found.  One test per
 * bug, named after the target that found it; docs/RELIABILITY.md lists them.
 */
#include <errno.h>

#include <virtq/net.h>
#include <virtq/ring.h>

#include "../harness/guest.h"
#include "../harness/test.h"

#define QSIZE 8u

struct txq {
	struct vq_test_guest g; /* a split ring of QSIZE, then a page */
	struct vq_net *n;
	struct vq_dev *q;
	uint8_t *desc, *avail;
};

static void txq_setup(struct txq *t, uint64_t features)
{
	struct vq_net_params p = { .max_pairs = 1 };

	ASSERT_EQ(vq_net_new(&p, &t->n), 0);
	ASSERT_EQ(vq_net_set_features(t->n, features), 0);
	vq_test_guest_init(&t->g, VQ_LAYOUT_SPLIT, QSIZE, 4096);
	struct vq_ring_params rc = vq_test_guest_ring(&t->g, features);
	t->desc = rc.desc;
	t->avail = rc.avail;
	ASSERT_EQ(vq_dev_new(&rc, t->g.map, &t->q), 0);
	ASSERT_EQ(vq_net_set_queue(t->n, 1, t->q), 0);
}

static void txq_teardown(struct txq *t)
{
	vq_net_free(t->n);
	vq_dev_free(t->q);
	vq_test_guest_fini(&t->g);
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
	avail = (uint16_t *)(void *)t.avail;
	avail[1] = QSIZE + 1; /* avail->idx: more than the queue size ahead */
	ASSERT_EQ(vq_net_tx_burst(t.n, 0, pkts, VQ_NET_BURST_MAX), -EIO);
	ASSERT_TRUE(vq_dev_is_broken(t.q));
	ASSERT_EQ(vq_dev_violation(t.q), VQ_ERR_AVAIL_IDX);
	ASSERT_EQ(vq_net_tx_burst(t.n, 0, pkts, VQ_NET_BURST_MAX), -EIO);
	txq_teardown(&t);
}

/* The same through an indirect table of bad length (the ring says -EINVAL). */
TEST(net_tx_burst_bad_indirect_returns_eio)
{
	struct txq t;
	struct vq_net_pkt *pkts[VQ_NET_BURST_MAX];
	uint16_t *avail;
	uint64_t *desc;

	txq_setup(&t, VQ_F_VERSION_1 | VQ_F_INDIRECT);
	desc = (uint64_t *)(void *)t.desc;
	desc[0] = VQ_TEST_GPA + t.g.free_off; /* addr */
	desc[1] = 17 | (0x4ull << 32);      /* len 17, flags INDIRECT */
	avail = (uint16_t *)(void *)t.avail;
	avail[2] = 0;                       /* ring[0] = head 0 */
	avail[1] = 1;                       /* idx */
	ASSERT_EQ(vq_net_tx_burst(t.n, 0, pkts, VQ_NET_BURST_MAX), -EIO);
	ASSERT_EQ(vq_dev_violation(t.q), VQ_ERR_INDIRECT_LEN);
	txq_teardown(&t);
}
