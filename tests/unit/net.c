/* SPDX-License-Identifier: MIT */
/*
 * virtio-net device model: features, header sizes and config space; the pure
 * parsers (the fuzz entry points); many-segment chains and the packed ring.
 */
#include "net_fx.h"

/* ======================================================================
 * Features and config
 * ====================================================================== */

TEST(net_features_and_hdr_size)
{
	struct vq_net_params np = { .mac = MAC0, .max_pairs = 1 };
	struct vq_net *n;
	uint64_t hf;

	ASSERT_EQ(vq_net_hdr_size(0), 10);
	ASSERT_EQ(vq_net_hdr_size(F_MRG), 12);
	ASSERT_EQ(vq_net_hdr_size(VQ_F_VERSION_1), 12);
	ASSERT_EQ(vq_net_new(&np, &n), 0);
	hf = vq_net_host_features(n);
	ASSERT_TRUE(hf & F_MRG);
	ASSERT_TRUE(hf & VQ_F_VERSION_1);
	ASSERT_FALSE(hf & F(VIRTIO_NET_F_MQ));  /* one pair */
	ASSERT_FALSE(hf & F(VIRTIO_NET_F_MTU)); /* no mtu */
	ASSERT_FALSE(hf & VQ_F_IN_ORDER);
	ASSERT_EQ(vq_net_set_features(n, F(VIRTIO_NET_F_GUEST_TSO4)), -EINVAL);
	ASSERT_EQ(vq_net_set_features(n, F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_CSUM)),
		  -EINVAL);
	ASSERT_EQ(vq_net_set_features(n, F(VIRTIO_NET_F_MQ)), -EINVAL); /* not offered */
	ASSERT_EQ(vq_net_set_features(n, F_GTSO | F_MRG), 0);
	ASSERT_EQ_U64(vq_net_features(n), F_GTSO | F_MRG);
	ASSERT_EQ(vq_net_num_queues(n), 3);
	vq_net_free(n);

	np.max_pairs = 4;
	np.mtu = 1500;
	ASSERT_EQ(vq_net_new(&np, &n), 0);
	hf = vq_net_host_features(n);
	ASSERT_TRUE(hf & F(VIRTIO_NET_F_MQ));
	ASSERT_TRUE(hf & F(VIRTIO_NET_F_MTU));
	ASSERT_EQ(vq_net_num_queues(n), 9);
	ASSERT_EQ(vq_net_set_queue(n, 9, NULL), -EINVAL);
	vq_net_free(n);

	np.max_pairs = 0;
	ASSERT_EQ(vq_net_new(&np, &n), -EINVAL);
	np.max_pairs = 1;
	np.mtu = 67;
	ASSERT_EQ(vq_net_new(&np, &n), -EINVAL);
}

TEST(net_config_space)
{
	struct vq_net_params np = { .mac = MAC0, .max_pairs = 3, .mtu = 9000 };
	struct virtio_net_config c;
	struct vq_net *n;
	uint8_t b[4];

	ASSERT_EQ(vq_net_new(&np, &n), 0);
	ASSERT_EQ(vq_net_get_config(n, 0, &c, sizeof(c)), 0);
	ASSERT_MEM_EQ(c.mac, ((uint8_t[])MAC0), 6);
	ASSERT_EQ(c.status, VIRTIO_NET_S_LINK_UP);
	ASSERT_EQ(c.max_virtqueue_pairs, 3);
	ASSERT_EQ(c.mtu, 9000);
	ASSERT_EQ(vq_net_get_config(n, 6, b, 2), 0);
	ASSERT_EQ(b[0], VIRTIO_NET_S_LINK_UP);
	ASSERT_EQ(vq_net_get_config(n, sizeof(c) - 1, b, 2), -EINVAL);
	ASSERT_EQ(vq_net_get_config(n, UINT32_MAX, b, 2), -EINVAL);
	ASSERT_EQ(vq_net_get_config(n, sizeof(c), b, 0), 0);
	ASSERT_EQ(vq_net_set_config(n, 0, b, 2), -EPERM);
	ASSERT_EQ(vq_net_set_config(n, sizeof(c), b, 1), -EINVAL);
	/* link: a change is reported only when STATUS was negotiated */
	ASSERT_FALSE(vq_net_set_link(n, false));
	ASSERT_EQ(vq_net_get_config(n, 6, b, 2), 0);
	ASSERT_EQ(b[0], 0);
	ASSERT_EQ(vq_net_set_features(n, F(VIRTIO_NET_F_STATUS)), 0);
	ASSERT_TRUE(vq_net_set_link(n, true));
	ASSERT_FALSE(vq_net_set_link(n, true));
	vq_net_free(n);
}

/* ======================================================================
 * Pure parsers (the fuzz entry points)
 * ====================================================================== */

TEST(net_parse_hdr)
{
	uint64_t f = VQ_F_VERSION_1 | F_HTSO;
	struct virtio_net_hdr_v1 h, o;

	h = (struct virtio_net_hdr_v1){ .flags = 1, .gso_type = VIRTIO_NET_HDR_GSO_TCPV6,
					.gso_size = 1400, .csum_start = 54, .csum_offset = 16,
					.num_buffers = 7 };
	ASSERT_EQ(vq_net_hdr_parse(f, &h, 12, 3000, &o), 0);
	ASSERT_EQ(o.num_buffers, 0);
	ASSERT_EQ(o.gso_size, 1400);
	ASSERT_EQ(vq_net_hdr_parse(f, &h, 11, 3000, &o), -EINVAL); /* short buffer */
	ASSERT_EQ(vq_net_hdr_parse(f, &h, 12, 71, &o), -EINVAL);   /* csum field at 70..71 */
	ASSERT_EQ(vq_net_hdr_parse(f, &h, 12, 72, &o), 0);
	h.gso_size = 0;
	ASSERT_EQ(vq_net_hdr_parse(f, &h, 12, 3000, &o), -EINVAL);
	h.gso_size = 1400;
	h.flags = 0;
	ASSERT_EQ(vq_net_hdr_parse(f, &h, 12, 3000, &o), -EINVAL); /* GSO without NEEDS_CSUM */
	h.gso_type = VIRTIO_NET_HDR_GSO_ECN;
	ASSERT_EQ(vq_net_hdr_parse(f, &h, 12, 3000, &o), -EINVAL);
	h.gso_type = 0;
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID | 0x40;
	h.csum_start = 0xffff;
	ASSERT_EQ(vq_net_hdr_parse(f, &h, 12, 3000, &o), 0);
	ASSERT_EQ(o.flags, 0);
	ASSERT_EQ(o.csum_start, 0);
	h.flags = 1;
	h.csum_offset = 0xffff;
	ASSERT_EQ(vq_net_hdr_parse(f, &h, 12, VQ_NET_MAX_FRAME, &o), -EINVAL); /* no wrap */
	ASSERT_EQ(vq_net_hdr_parse(f, &h, 12, 13, &o), -EINVAL);
	ASSERT_EQ(vq_net_hdr_parse(0, &h, 10, 100, &o), -EINVAL); /* NEEDS_CSUM without CSUM */
	ASSERT_EQ(vq_net_hdr_parse(0, NULL, 10, 100, &o), -EINVAL);
}

TEST(net_parse_ctrl)
{
	struct vq_net_ctrl_cmd c;
	uint8_t t[2 + 4 + 12 + 4 + 6] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 2 };

	t[18] = 1;
	ASSERT_EQ(vq_net_ctrl_parse(t, sizeof(t), &c), 0);
	ASSERT_EQ(c.u.table.n_uni, 2);
	ASSERT_EQ(c.u.table.n_multi, 1);
	ASSERT_TRUE(c.u.table.uni == t + 6);
	ASSERT_TRUE(c.u.table.multi == t + 22);
	ASSERT_EQ(vq_net_ctrl_parse(t, sizeof(t) - 1, &c), -EINVAL);
	ASSERT_EQ(vq_net_ctrl_parse(t, 2, &c), -EINVAL);
	ASSERT_EQ(vq_net_ctrl_parse(t, 0, &c), -EINVAL);
	ASSERT_EQ(vq_net_ctrl_parse((uint8_t[]){ VIRTIO_NET_CTRL_VLAN, 0, 1, 0 }, 4, &c),
		  -EOPNOTSUPP);
	ASSERT_EQ(vq_net_ctrl_parse((uint8_t[]){ VIRTIO_NET_CTRL_MQ, 0, 0x34, 0x12 }, 4, &c), 0);
	ASSERT_EQ(c.u.pairs, 0x1234);
	ASSERT_EQ(vq_net_ctrl_parse(NULL, 3, &c), -EINVAL);
}

/* Chains with hundreds of segments (indirect): the pools grow, frames stay intact. */
TEST(net_many_segments_pool_growth)
{
	static uint8_t data[60000], out[60000];
	struct port p;
	struct vq_net_pkt *pk[4];
	struct vq_seg sg[240];
	uint64_t hdr;

	port_init(&p, VQ_F_VERSION_1 | F_MRG | VQ_F_INDIRECT);
	fill(data, sizeof(data), 21);
	for (uintptr_t c = 1; c <= 2; c++) {
		hdr = galloc(&p, 12);
		sg[0] = (struct vq_seg){ hdr, 12 };
		for (int i = 1; i < 240; i++) {
			sg[i] = (struct vq_seg){ galloc(&p, 200), 200 };
			memcpy(host(&p, sg[i].addr), data + (i - 1) * 200, 200);
		}
		post(&p, 1, sg, 240, 0, c);
	}
	ASSERT_EQ(vq_net_tx_burst(p.n, 0, pk, 4), 2);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(pk[i]->len, 239 * 200);
		ASSERT_EQ(flatten(pk[i], out, sizeof(out)), 239 * 200);
		ASSERT_MEM_EQ(out, data, 239 * 200);
	}
	/* rx: one mergeable buffer of 240 small segments per chain */
	uint64_t first[3];
	for (uintptr_t c = 0; c < 3; c++) {
		for (int i = 0; i < 240; i++)
			sg[i] = (struct vq_seg){ galloc(&p, 100), 100 };
		first[c] = sg[0].addr;
		post(&p, 0, sg, 0, 240, 50 + c);
	}
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk, 1), 1);
	expect_used(&p, 0, 50, 24000);
	expect_used(&p, 0, 51, 12 + 239 * 200 - 24000);
	expect_no_used(&p, 0);
	ASSERT_EQ(((struct virtio_net_hdr_v1 *)host(&p, first[0]))->num_buffers, 2);
	ASSERT_MEM_EQ(host(&p, first[0]) + 12, data, 88);
	ASSERT_MEM_EQ(host(&p, first[1]), data + 23988, 100);
	ASSERT_EQ(vq_net_tx_done(p.n, 0), 0);
	expect_used(&p, 1, 1, 0);
	expect_used(&p, 1, 2, 0);
}

TEST(net_packed_ring)
{
	static uint8_t data[9000];
	struct port p;
	struct vq_net_pkt *pk[2];
	uint64_t g[4], a;
	struct virtio_net_hdr_v1 h;

	g_layout = VQ_LAYOUT_PACKED;
	port_init(&p, VQ_F_VERSION_1 | VQ_F_PACKED | F_MRG);
	fill(data, sizeof(data), 17);
	a = galloc(&p, 12 + 9000);
	memcpy(host(&p, a) + 12, data, 9000);
	post(&p, 1, (struct vq_seg[]){ { a, 12 }, { a + 12, 9000 } }, 2, 0, 1);
	post_rx(&p, 4, 4096, 60, g);
	ASSERT_EQ(vq_net_tx_burst(p.n, 0, pk, 2), 1);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk, 1), 1);
	ASSERT_EQ(vq_net_tx_done(p.n, 0), 0);
	expect_used(&p, 1, 1, 0);
	expect_used(&p, 0, 60, 4096);
	expect_used(&p, 0, 61, 4096);
	expect_used(&p, 0, 62, 820);
	memcpy(&h, host(&p, g[0]), 12);
	ASSERT_EQ(h.num_buffers, 3);
	ASSERT_MEM_EQ(host(&p, g[1]), data + 4084, 4096);
}
