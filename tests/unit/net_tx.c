/* SPDX-License-Identifier: MIT */
/*
 * virtio-net device model, transmit: chain layouts, malformed chains, the
 * legacy 10-byte header.
 */
#include "net_fx.h"

/* ======================================================================
 * TX
 * ====================================================================== */

/* Header split 5+7, its second piece sharing a segment with data. */
static void post_split_header(struct port *p, const uint8_t *want, uintptr_t token)
{
	uint64_t a = galloc(p, 5), b = galloc(p, 7 + 300), c = galloc(p, 200), d = galloc(p, 500);
	uint8_t h[12];

	put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 100, 6);
	memcpy(host(p, a), h, 5);
	memcpy(host(p, b), h + 5, 7);
	memcpy(host(p, b) + 7, want, 300);
	memcpy(host(p, c), want + 300, 200);
	memcpy(host(p, d), want + 500, 500);
	post(p, 1, (struct vq_seg[]){ { a, 5 }, { b, 307 }, { c, 200 }, { d, 500 } }, 4, 0, token);
}

TEST(net_tx_layouts)
{
	struct port p;
	struct vq_net_pkt *pk[8];
	uint8_t out[2048], want[1000];
	uint64_t a, b, b1, a2;

	port_init(&p, VQ_F_VERSION_1 | F_CSUM);
	fill(want, sizeof(want), 1);
	/* 1: header in its own segment, data in another */
	a = galloc(&p, 12);
	b = galloc(&p, 1000);
	put_hdr(host(&p, a), VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 34, 16);
	memcpy(host(&p, b), want, 1000);
	post(&p, 1, (struct vq_seg[]){ { a, 12 }, { b, 1000 } }, 2, 0, 1);
	b1 = b;
	/* 2: header and data in one segment */
	a = a2 = galloc(&p, 12 + 1000);
	put_hdr(host(&p, a), 0, 0, 0, 0, 0);
	memcpy(host(&p, a) + 12, want, 1000);
	post(&p, 1, (struct vq_seg[]){ { a, 1012 } }, 1, 0, 2);
	post_split_header(&p, want, 3);

	ASSERT_EQ(vq_net_tx_burst(p.n, 0, pk, 8), 3);
	ASSERT_EQ(pk[0]->len, 1000);
	ASSERT_EQ(pk[0]->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	ASSERT_EQ(pk[0]->hdr.csum_start, 34);
	ASSERT_EQ(pk[0]->hdr.csum_offset, 16);
	ASSERT_TRUE(pk[0]->iov[0].iov_base == host(&p, b1)); /* zero-copy */
	ASSERT_EQ(pk[1]->hdr.flags, 0);
	ASSERT_EQ(pk[1]->iovcnt, 1);
	ASSERT_TRUE(pk[1]->iov[0].iov_base == host(&p, a2) + 12);
	ASSERT_EQ(pk[2]->iovcnt, 3);
	ASSERT_EQ(pk[2]->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM); /* DATA_VALID ignored */
	ASSERT_EQ(pk[2]->hdr.csum_start, 100);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(flatten(pk[i], out, sizeof(out)), 1000);
		ASSERT_MEM_EQ(out, want, 1000);
		ASSERT_EQ(pk[i]->hdr.num_buffers, 0);
	}
	ASSERT_EQ(vq_net_tx_burst(p.n, 0, pk, 8), -EBUSY);
	expect_no_used(&p, 1); /* nothing returned before tx_done */
	ASSERT_EQ(vq_net_tx_done(p.n, 0), 0);
	expect_used(&p, 1, 1, 0);
	expect_used(&p, 1, 2, 0);
	expect_used(&p, 1, 3, 0);
	ASSERT_EQ(notified[1], 1); /* one notify decision per burst */
	ASSERT_EQ(stats(&p, 1).packets, 3);
	ASSERT_EQ(stats(&p, 1).bytes, 3000);
	ASSERT_EQ(vq_net_tx_burst(p.n, 0, pk, 8), 0);
	ASSERT_EQ(vq_net_tx_burst(p.n, 1, pk, 8), -ENOTCONN);
}

TEST(net_tx_malformed)
{
	struct port p;
	struct vq_net_pkt *pk[16];
	uint64_t a;

	port_init(&p, VQ_F_VERSION_1 | F(VIRTIO_NET_F_CSUM)); /* no HOST_TSO */
	/* 1: shorter than the header */
	a = galloc(&p, 8);
	post(&p, 1, (struct vq_seg[]){ { a, 8 } }, 1, 0, 1);
	/* 2: a writable segment on tx */
	a = galloc(&p, 200);
	post(&p, 1, (struct vq_seg[]){ { a, 100 }, { a + 128, 64 } }, 1, 1, 2);
	/* 3: frame under 14 bytes */
	a = galloc(&p, 12 + 10);
	post(&p, 1, (struct vq_seg[]){ { a, 22 } }, 1, 0, 3);
	/* 4: frame over VQ_NET_MAX_FRAME */
	a = galloc(&p, 12 + VQ_NET_MAX_FRAME + 1);
	post(&p, 1, (struct vq_seg[]){ { a, 12 + VQ_NET_MAX_FRAME + 1 } }, 1, 0, 4);
	/* 5: GSO without HOST_TSO4 */
	a = galloc(&p, 12 + 100);
	put_hdr(host(&p, a), VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 50, 34, 16);
	post(&p, 1, (struct vq_seg[]){ { a, 112 } }, 1, 0, 5);
	/* 6: checksum field beyond the frame */
	a = galloc(&p, 12 + 100);
	put_hdr(host(&p, a), VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 90, 9);
	post(&p, 1, (struct vq_seg[]){ { a, 112 } }, 1, 0, 6);
	/* 7: a good one */
	a = galloc(&p, 12 + 100);
	post(&p, 1, (struct vq_seg[]){ { a, 112 } }, 1, 0, 7);
	/* 8: largest legal frame */
	a = galloc(&p, 12 + VQ_NET_MAX_FRAME);
	post(&p, 1, (struct vq_seg[]){ { a, 12 + VQ_NET_MAX_FRAME } }, 1, 0, 8);

	ASSERT_EQ(vq_net_tx_burst(p.n, 0, pk, 16), 2);
	ASSERT_EQ(pk[0]->len, 100);
	ASSERT_EQ(pk[1]->len, VQ_NET_MAX_FRAME);
	ASSERT_EQ(stats(&p, 1).errors, 6);
	ASSERT_EQ(stats(&p, 1).packets, 2);
	ASSERT_EQ(vq_net_tx_done(p.n, 0), 0);
	for (uintptr_t t = 1; t <= 8; t++)
		expect_used(&p, 1, t, 0); /* every chain back, in order, len 0 */
	ASSERT_FALSE(vq_dev_is_broken(p.dev[1]));

	/* a burst of only bad chains completes them by itself */
	a = galloc(&p, 8);
	post(&p, 1, (struct vq_seg[]){ { a, 8 } }, 1, 0, 9);
	ASSERT_EQ(vq_net_tx_burst(p.n, 0, pk, 16), 0);
	expect_used(&p, 1, 9, 0);
	ASSERT_EQ(vq_net_tx_burst(p.n, 0, pk, 16), 0); /* not -EBUSY */
}

TEST(net_tx_hdr10_legacy)
{
	struct port p;
	struct vq_net_pkt *pk[4];
	uint8_t out[64], want[60];
	uint64_t a;

	port_init(&p, 0); /* no VERSION_1, no MRG_RXBUF: 10-byte header */
	fill(want, sizeof(want), 9);
	a = galloc(&p, 70);
	memcpy(host(&p, a) + 10, want, 60);
	post(&p, 1, (struct vq_seg[]){ { a, 70 } }, 1, 0, 1);
	ASSERT_EQ(vq_net_tx_burst(p.n, 0, pk, 4), 1);
	ASSERT_EQ(pk[0]->len, 60);
	ASSERT_EQ(flatten(pk[0], out, sizeof(out)), 60);
	ASSERT_MEM_EQ(out, want, 60);
	ASSERT_EQ(vq_net_tx_done(p.n, 0), 0);
	expect_used(&p, 1, 1, 0);
}
