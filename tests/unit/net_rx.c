/* SPDX-License-Identifier: MIT */
/*
 * virtio-net device model, receive: mergeable, big and small buffers, header
 * split, checksum completion, software TCP segmentation, held chains and
 * notification suppression.
 */
#include "net_fx.h"

/* ======================================================================
 * RX
 * ====================================================================== */

TEST(net_rx_mergeable_9000)
{
	static uint8_t data[9000];
	struct port p;
	struct frame f;
	struct vq_net_pkt *pk;
	uint64_t g[8];
	struct virtio_net_hdr_v1 h;

	port_init(&p, VQ_F_VERSION_1 | F_MRG);
	post_rx(&p, 8, 4096, 100, g);
	fill(data, sizeof(data), 5);
	frame_init(&f, data, 9000, 3);
	pk = &f.pkt;
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	expect_used(&p, 0, 100, 4096);
	expect_used(&p, 0, 101, 4096);
	expect_used(&p, 0, 102, 9012 - 8192);
	expect_no_used(&p, 0);
	memcpy(&h, host(&p, g[0]), 12);
	ASSERT_EQ(h.num_buffers, 3);
	ASSERT_EQ(h.flags, 0);
	ASSERT_EQ(h.gso_type, 0);
	ASSERT_MEM_EQ(host(&p, g[0]) + 12, data, 4084);
	ASSERT_MEM_EQ(host(&p, g[1]), data + 4084, 4096);
	ASSERT_MEM_EQ(host(&p, g[2]), data + 8180, 820);
	ASSERT_EQ(stats(&p, 0).packets, 1);
	ASSERT_EQ(stats(&p, 0).bytes, 9000);
	ASSERT_EQ(notified[0], 1);

	/* a burst of 4 small frames: 4 buffers, one notify */
	struct vq_net_pkt *four[4] = { pk, pk, pk, pk };
	f.pkt.len = 64;
	f.iov[0].iov_len = 64;
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, four, 4), 4);
	for (uintptr_t t = 103; t < 107; t++)
		expect_used(&p, 0, t, 76);
	ASSERT_EQ(notified[0], 2);
	memcpy(&h, host(&p, g[3]), 12);
	ASSERT_EQ(h.num_buffers, 1);
}

TEST(net_rx_mergeable_backpressure)
{
	static uint8_t data[9000];
	struct port p;
	struct frame f, s;
	struct vq_net_pkt *pk[2];
	uint64_t g[4];
	struct virtio_net_hdr_v1 h;

	port_init(&p, VQ_F_VERSION_1 | F_MRG);
	fill(data, sizeof(data), 11);
	frame_init(&f, data, 9000, 1);
	frame_init(&s, data, 100, 1);
	pk[0] = &f.pkt;
	pk[1] = &s.pkt;
	post_rx(&p, 2, 4096, 200, g);
	/* 8192 bytes posted, 9012 needed: nothing consumed, nothing used */
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk, 2), 0);
	expect_no_used(&p, 0);
	ASSERT_EQ(stats(&p, 0).nobuf, 1);
	ASSERT_EQ(stats(&p, 0).drops, 0);
	ASSERT_EQ(vq_dev_inflight(p.dev[0]), 2); /* held, not lost */
	post_rx(&p, 2, 4096, 202, g + 2);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk, 2), 2);
	expect_used(&p, 0, 200, 4096); /* the held chains come first */
	expect_used(&p, 0, 201, 4096);
	expect_used(&p, 0, 202, 820);
	expect_used(&p, 0, 203, 112);
	memcpy(&h, host(&p, g[0]), 12);
	ASSERT_EQ(h.num_buffers, 3);
	ASSERT_MEM_EQ(host(&p, g[2]), data + 8180, 820);
	memcpy(&h, host(&p, g[3]), 12);
	ASSERT_EQ(h.num_buffers, 1);
	ASSERT_EQ(vq_dev_inflight(p.dev[0]), 0);
}

TEST(net_rx_small_buffers_drop_oversized)
{
	static uint8_t data[2000];
	struct port p;
	struct frame big, small;
	struct vq_net_pkt *pk[3];
	uint64_t g[2];

	port_init(&p, VQ_F_VERSION_1); /* no MRG, no GSO: 1526-byte buffers */
	post_rx(&p, 2, 1526, 300, g);
	fill(data, sizeof(data), 2);
	frame_init(&big, data, 2000, 2);
	frame_init(&small, data, 100, 1);
	pk[0] = &big.pkt;
	pk[1] = &small.pkt;
	pk[2] = &big.pkt;
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk, 3), 3);
	/* the chain the big frame did not fit served the small one */
	expect_used(&p, 0, 300, 112);
	expect_no_used(&p, 0);
	ASSERT_EQ(stats(&p, 0).drops, 2);
	ASSERT_EQ(stats(&p, 0).packets, 1);
	ASSERT_MEM_EQ(host(&p, g[0]) + 12, data, 100);
	ASSERT_EQ(((struct virtio_net_hdr_v1 *)host(&p, g[0]))->num_buffers, 1);
	/* exactly 1514 fits */
	small.pkt.len = 1514;
	small.iov[0].iov_len = 1514;
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk + 1, 1), 1);
	expect_used(&p, 0, 301, 1526);
	/* ring empty now: backpressure, not a drop */
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk + 1, 1), 0);
	ASSERT_EQ(stats(&p, 0).drops, 2);
	ASSERT_EQ(stats(&p, 0).nobuf, 1);
}

TEST(net_rx_big_chain_gso_passthrough)
{
	static uint8_t data[65000];
	struct port p;
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;
	struct vq_seg sg[18];
	struct virtio_net_hdr_v1 h;

	port_init(&p, VQ_F_VERSION_1 | F_GTSO); /* big packets: no MRG */
	sg[0] = (struct vq_seg){ galloc(&p, 12), 12 };
	for (int i = 1; i < 18; i++)
		sg[i] = (struct vq_seg){ galloc(&p, 4096), 4096 };
	post(&p, 0, sg, 0, 18, 400);
	uint32_t len = tcp_frame(data, false, 65000 - 54, 0x18);
	ASSERT_EQ(len, 65000);
	frame_init(&f, data, len, 4);
	f.pkt.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	f.pkt.hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	f.pkt.hdr.gso_size = 1448;
	f.pkt.hdr.hdr_len = 54;
	f.pkt.hdr.csum_start = 34;
	f.pkt.hdr.csum_offset = 16;
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	expect_used(&p, 0, 400, 65012);
	memcpy(&h, host(&p, sg[0].addr), 12);
	ASSERT_EQ(h.num_buffers, 1);
	ASSERT_EQ(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	ASSERT_EQ(h.gso_size, 1448);
	ASSERT_EQ(h.hdr_len, 54);
	ASSERT_EQ(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	ASSERT_EQ(h.csum_start, 34);
	ASSERT_EQ(h.csum_offset, 16);
	for (int i = 1; i < 16; i++)
		ASSERT_MEM_EQ(host(&p, sg[i].addr), data + (i - 1) * 4096, 4096);
	ASSERT_MEM_EQ(host(&p, sg[16].addr), data + 15 * 4096, 65000 - 15 * 4096);
	ASSERT_EQ(stats(&p, 0).gso_sw, 0);
}

TEST(net_rx_header_split_any_layout)
{
	static uint8_t data[500];
	struct port p;
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;
	struct vq_seg sg[3];
	uint8_t h[12];

	port_init(&p, VQ_F_VERSION_1 | F_MRG | F_CSUM);
	sg[0] = (struct vq_seg){ galloc(&p, 5), 5 };
	sg[1] = (struct vq_seg){ galloc(&p, 10), 10 };
	sg[2] = (struct vq_seg){ galloc(&p, 1000), 1000 };
	post(&p, 0, sg, 0, 3, 500);
	fill(data, sizeof(data), 4);
	frame_init(&f, data, 500, 2);
	f.pkt.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	f.pkt.hdr.csum_start = 34;
	f.pkt.hdr.csum_offset = 16;
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	expect_used(&p, 0, 500, 512);
	memcpy(h, host(&p, sg[0].addr), 5);
	memcpy(h + 5, host(&p, sg[1].addr), 7);
	struct virtio_net_hdr_v1 hv;
	memcpy(&hv, h, 12);
	ASSERT_EQ(hv.num_buffers, 1);
	ASSERT_EQ(hv.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM); /* GUEST_CSUM: passed on */
	ASSERT_EQ(hv.csum_start, 34);
	ASSERT_MEM_EQ(host(&p, sg[1].addr) + 7, data, 3);
	ASSERT_MEM_EQ(host(&p, sg[2].addr), data + 3, 497);
}

TEST(net_rx_hdr10_legacy)
{
	static uint8_t data[300];
	struct port p;
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;
	uint64_t g[1];

	port_init(&p, 0);
	post_rx(&p, 1, 1524, 600, g);
	memset(host(&p, g[0]), 0xee, 1524);
	fill(data, sizeof(data), 6);
	frame_init(&f, data, 300, 1);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	expect_used(&p, 0, 600, 310);
	ASSERT_MEM_EQ(host(&p, g[0]), ((uint8_t[10]){ 0 }), 10);
	ASSERT_MEM_EQ(host(&p, g[0]) + 10, data, 300);
	ASSERT_EQ(host(&p, g[0])[310], 0xee);
}

TEST(net_rx_checksum_completion)
{
	static uint8_t data[1200];
	struct port p;
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;
	uint64_t g[2];
	uint32_t len;

	port_init(&p, VQ_F_VERSION_1 | F_MRG); /* no GUEST_CSUM */
	post_rx(&p, 2, 2048, 700, g);
	len = tcp_frame(data, false, 1001, 0x18); /* odd payload */
	ASSERT_FALSE(tcp_csum_ok(data, len, false));
	frame_init(&f, data, len, 3); /* odd split points too */
	f.iov[0].iov_len = 37;
	f.iov[1].iov_base = data + 37;
	f.iov[1].iov_len = 501;
	f.iov[2].iov_base = data + 538;
	f.iov[2].iov_len = len - 538;
	f.pkt.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	f.pkt.hdr.csum_start = 34;
	f.pkt.hdr.csum_offset = 16;
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	expect_used(&p, 0, 700, 12 + len);
	ASSERT_EQ(host(&p, g[0])[0], 0); /* flags cleared */
	ASSERT_TRUE(tcp_csum_ok(host(&p, g[0]) + 12, len, false));
	ASSERT_MEM_EQ(host(&p, g[0]) + 12, data, 50); /* all but the field unchanged */
	ASSERT_MEM_EQ(host(&p, g[0]) + 12 + 52, data + 52, len - 52);
	ASSERT_FALSE(tcp_csum_ok(data, len, false)); /* source untouched */
	ASSERT_EQ(stats(&p, 0).csum_sw, 1);

	/* a bad csum_offset is an error, not a crash */
	f.pkt.hdr.csum_offset = (uint16_t)(len - 34);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	ASSERT_EQ(stats(&p, 0).errors, 1);
	expect_no_used(&p, 0);
}

static void check_segments(struct port *p, const uint64_t *g, const uint8_t *src, bool v6,
			   uint32_t payload, uint32_t mss, uint8_t flags0)
{
	uint32_t l3 = v6 ? 40 : 20, hl = 14 + l3 + 20, nseg = (payload + mss - 1) / mss;

	for (uint32_t k = 0; k < nseg; k++) {
		uint32_t seg = payload - k * mss < mss ? payload - k * mss : mss;
		uint8_t *b = host(p, g[k]), *fr = b + 12, *tcp = fr + 14 + l3;
		struct virtio_net_hdr_v1 h;

		expect_used(p, 0, 800 + k, 12 + hl + seg);
		memcpy(&h, b, 12);
		ASSERT_EQ(h.num_buffers, 1);
		ASSERT_EQ(h.gso_type, 0);
		ASSERT_EQ(h.flags, 0);
		ASSERT_TRUE(tcp_csum_ok(fr, hl + seg, v6));
		if (v6)
			ASSERT_EQ(rd16(fr + 14 + 4), 20 + seg);
		else {
			ASSERT_EQ(rd16(fr + 14 + 2), 40 + seg);
			ASSERT_EQ(rd16(fr + 14 + 4), 0x1234 + k);
		}
		ASSERT_EQ(rd32(tcp + 4), (uint32_t)(0xfffffc00u + k * mss));
		uint8_t want = flags0;
		if (k + 1 < nseg)
			want &= (uint8_t)~0x09;
		if (k > 0)
			want &= (uint8_t)~0x80;
		ASSERT_EQ(tcp[13], want);
		ASSERT_MEM_EQ(tcp + 20, src + hl + k * mss, seg);
	}
	expect_no_used(p, 0);
}

TEST(net_rx_gso_software_tcp4)
{
	static uint8_t data[4000];
	struct port p;
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;
	uint64_t g[8];
	uint32_t len;

	port_init(&p, VQ_F_VERSION_1 | F_MRG | F(VIRTIO_NET_F_GUEST_CSUM)); /* no TSO */
	post_rx(&p, 8, 2048, 800, g);
	len = tcp_frame(data, false, 3000, 0x80 | 0x18 | 0x01); /* CWR PSH ACK FIN */
	frame_init(&f, data, len, 4);
	f.pkt.hdr = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1000, .hdr_len = 54,
		.csum_start = 34, .csum_offset = 16 };
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	check_segments(&p, g, data, false, 3000, 1000, 0x99);
	ASSERT_EQ(stats(&p, 0).gso_sw, 1);
	ASSERT_EQ(stats(&p, 0).packets, 3);
}

TEST(net_rx_gso_software_tcp6)
{
	static uint8_t data[4000];
	struct port p;
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;
	uint64_t g[8];
	uint32_t len;

	port_init(&p, VQ_F_VERSION_1); /* small buffers, no offloads at all */
	post_rx(&p, 3, 1526, 800, g);
	len = tcp_frame(data, true, 2501, 0x18);
	frame_init(&f, data, len, 3);
	f.pkt.hdr = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN, .gso_size = 1000,
		.csum_start = 54, .csum_offset = 16 };
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	check_segments(&p, g, data, true, 2501, 1000, 0x18);
	ASSERT_EQ(stats(&p, 0).gso_sw, 1);

	/* buffers for one segment only: the first goes, the rest is dropped */
	post_rx(&p, 1, 1526, 900, g);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	expect_used(&p, 0, 900, 12 + 74 + 1000);
	ASSERT_EQ(stats(&p, 0).drops, 1);
	/* no buffers at all: not consumed */
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 0);
	/* not TCP: an error, counted */
	post_rx(&p, 1, 1526, 901, g);
	data[14 + 6] = 17;
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	ASSERT_EQ(stats(&p, 0).errors, 1);
	/* UFO cannot be segmented here: dropped */
	f.pkt.hdr.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	ASSERT_EQ(stats(&p, 0).drops, 2);
	expect_no_used(&p, 0);
}

TEST(net_tx_to_rx_switch)
{
	static uint8_t data[3000];
	struct port a, b;
	struct vq_net_pkt *pk[4];
	uint64_t g[4], s;
	uint32_t len;

	/* a sends TSO; b takes neither TSO nor checksum offload */
	port_init(&a, VQ_F_VERSION_1 | F_MRG | F_HTSO);
	port_init(&b, VQ_F_VERSION_1 | F_MRG);
	len = tcp_frame(data, false, 2000, 0x18);
	s = galloc(&a, 12 + len);
	put_hdr(host(&a, s), VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 1000, 34, 16);
	memcpy(host(&a, s) + 12, data, len);
	post(&a, 1, (struct vq_seg[]){ { s, 12 + len } }, 1, 0, 1);
	post_rx(&b, 4, 4096, 800, g);
	ASSERT_EQ(vq_net_tx_burst(a.n, 0, pk, 4), 1);
	ASSERT_EQ(vq_net_rx_burst(b.n, 0, pk, 1), 1);
	ASSERT_EQ(vq_net_tx_done(a.n, 0), 0);
	expect_used(&a, 1, 1, 0);
	check_segments(&b, g, data, false, 2000, 1000, 0x18);
}

TEST(net_detach_returns_held_rx_chains)
{
	static uint8_t data[9000];
	struct port p;
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;
	uint64_t g[2];

	port_init(&p, VQ_F_VERSION_1 | F_MRG);
	post_rx(&p, 2, 4096, 1, g);
	frame_init(&f, data, 9000, 1);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 0);
	expect_no_used(&p, 0);
	ASSERT_EQ(vq_net_set_queue(p.n, 0, NULL), 0);
	expect_used(&p, 0, 1, 0);
	expect_used(&p, 0, 2, 0);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), -ENOTCONN);
}

TEST(net_rx_held_chains_serve_smaller_frames)
{
	static uint8_t data[9000];
	struct port p;
	struct frame big, small;
	struct vq_net_pkt *pb = &big.pkt, *ps = &small.pkt;
	uint64_t g[4];
	struct virtio_net_hdr_v1 h;

	port_init(&p, VQ_F_VERSION_1 | F_MRG);
	fill(data, sizeof(data), 13);
	frame_init(&big, data, 9000, 2);
	frame_init(&small, data + 1, 200, 1);
	post_rx(&p, 2, 4096, 10, g);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pb, 1), 0); /* holds 10 and 11 */
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &ps, 1), 1); /* takes 10, keeps 11 */
	expect_used(&p, 0, 10, 212);
	expect_no_used(&p, 0);
	ASSERT_MEM_EQ(host(&p, g[0]) + 12, data + 1, 200);
	post_rx(&p, 2, 4096, 12, g + 2);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pb, 1), 1);
	expect_used(&p, 0, 11, 4096);
	expect_used(&p, 0, 12, 4096);
	expect_used(&p, 0, 13, 820);
	memcpy(&h, host(&p, g[1]), 12);
	ASSERT_EQ(h.num_buffers, 3);
	ASSERT_MEM_EQ(host(&p, g[1]) + 12, data, 4084);
	ASSERT_MEM_EQ(host(&p, g[2]), data + 4084, 4096);
	ASSERT_MEM_EQ(host(&p, g[3]), data + 8180, 820);
}

TEST(net_rx_notify_suppressed)
{
	static uint8_t data[100];
	struct port p;
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;
	uint64_t g[2];

	port_init(&p, VQ_F_VERSION_1 | F_MRG);
	post_rx(&p, 2, 2048, 1, g);
	frame_init(&f, data, 100, 1);
	vq_drv_disable_notify(p.drv[0]);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	ASSERT_EQ(notified[0], 0);
	vq_drv_enable_notify(p.drv[0]);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	ASSERT_EQ(notified[0], 1);
	expect_used(&p, 0, 1, 112);
	expect_used(&p, 0, 2, 112);
}

TEST(net_rx_readable_chain_returned_empty)
{
	static uint8_t data[100];
	struct port p;
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;
	uint64_t a = 0, g[1];

	port_init(&p, VQ_F_VERSION_1 | F_MRG);
	a = galloc(&p, 4096);
	post(&p, 0, (struct vq_seg[]){ { a, 64 }, { a + 128, 2048 } }, 1, 1, 1);
	post_rx(&p, 1, 2048, 2, g);
	fill(data, sizeof(data), 1);
	frame_init(&f, data, 100, 1);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, &pk, 1), 1);
	expect_used(&p, 0, 1, 0);
	expect_used(&p, 0, 2, 112);
	ASSERT_EQ(stats(&p, 0).errors, 1);
	ASSERT_EQ(stats(&p, 0).packets, 1);
	ASSERT_MEM_EQ(host(&p, g[0]) + 12, data, 100);
}
