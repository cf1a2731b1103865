/* SPDX-License-Identifier: MIT */
/*
 * virtio-net device model, the burst paths: receive bursts that pop their
 * chains with one ring call (readable and small chains among them), and
 * transmit bursts that pop with one ring call and fall back to single pops
 * for a chain with many segments.  Split, packed, and packed with IN_ORDER
 * (which changes what happens to chains held before a readable one).
 */
#include "net_fx.h"

enum cfg { CFG_SPLIT, CFG_PACKED, CFG_PACKED_IN_ORDER };

static void port_cfg(struct port *p, enum cfg c)
{
	uint64_t f = VQ_F_VERSION_1 | F_MRG;

	g_layout = c == CFG_SPLIT ? VQ_LAYOUT_SPLIT : VQ_LAYOUT_PACKED;
	if (c != CFG_SPLIT)
		f |= VQ_F_PACKED;
	if (c == CFG_PACKED_IN_ORDER)
		f |= VQ_F_IN_ORDER;
	port_init_offer(p, VQ_NET_FEATURES_ALL, f, 1, 0);
}

/* A readable chain (one readable segment, one writable) posted on rx. */
static void post_readable(struct port *p, uintptr_t token)
{
	uint64_t a = galloc(p, 4096);

	post(p, 0, (struct vq_seg[]){ { a, 64 }, { a + 128, 2048 } }, 1, 1, token);
}

static uint16_t num_buffers(struct port *p, uint64_t gpa)
{
	struct virtio_net_hdr_v1 h;

	memcpy(&h, host(p, gpa), sizeof(h));
	return h.num_buffers;
}

/* Eight frames of different lengths into eight chains: one burst, in order. */
static void many_frames(enum cfg c)
{
	static uint8_t data[8][80];
	struct frame f[8];
	struct vq_net_pkt *pk[8];
	struct port p;
	uint64_t g[8], bytes = 0;

	port_cfg(&p, c);
	post_rx(&p, 8, 2048, 1, g);
	for (unsigned i = 0; i < 8; i++) {
		fill(data[i], sizeof(data[i]), i + 3);
		frame_init(&f[i], data[i], 60 + i, 1);
		pk[i] = &f[i].pkt;
		bytes += 60 + i;
	}
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk, 8), 8);
	for (unsigned i = 0; i < 8; i++) {
		expect_used(&p, 0, 1 + i, 12 + 60 + i);
		ASSERT_EQ(num_buffers(&p, g[i]), 1);
		ASSERT_MEM_EQ(host(&p, g[i]) + 12, data[i], 60 + i);
	}
	expect_no_used(&p, 0);
	ASSERT_EQ(stats(&p, 0).packets, 8);
	ASSERT_EQ(stats(&p, 0).bytes, bytes);
	ASSERT_EQ(notified[0], 1);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk, 8), 0); /* ring empty */
	ASSERT_EQ(stats(&p, 0).nobuf, 1);
}

TEST(net_rx_burst_many_frames_split) { many_frames(CFG_SPLIT); }
TEST(net_rx_burst_many_frames_packed) { many_frames(CFG_PACKED); }
TEST(net_rx_burst_many_frames_in_order) { many_frames(CFG_PACKED_IN_ORDER); }

/*
 * The header a burst of one-piece frames gets: with GUEST_CSUM, the
 * checksum flags (and csum_start/offset only under NEEDS_CSUM); without
 * it, flags zero.  A frame's other header fields never reach the guest.
 */
static void csum_hdrs(bool guest_csum)
{
	static uint8_t data[3][80];
	static const uint8_t flags[3] = { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_DATA_VALID, 0 };
	unsigned first = guest_csum ? 0 : 1; /* NEEDS_CSUM alone takes rx_csum */
	struct frame f[3];
	struct vq_net_pkt *pk[3];
	struct port p;
	uint64_t g[3];

	port_init_offer(&p, VQ_NET_FEATURES_ALL, VQ_F_VERSION_1 | F_MRG | (guest_csum ? F_CSUM : 0),
			1, 0);
	post_rx(&p, 3, 2048, 1, g);
	for (unsigned i = first; i < 3; i++) {
		fill(data[i], sizeof(data[i]), i + 5);
		frame_init(&f[i], data[i], 80, 1);
		f[i].pkt.hdr.flags = flags[i];
		f[i].pkt.hdr.csum_start = 34; /* junk unless NEEDS_CSUM */
		f[i].pkt.hdr.csum_offset = 6;
		f[i].pkt.hdr.hdr_len = 42; /* junk: no GSO */
		f[i].pkt.hdr.num_buffers = 7;
		pk[i] = &f[i].pkt;
	}
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk + first, 3 - first), (int)(3 - first));
	for (unsigned i = first; i < 3; i++) {
		struct virtio_net_hdr_v1 h;
		bool needs = flags[i] == VIRTIO_NET_HDR_F_NEEDS_CSUM;

		expect_used(&p, 0, 1 + i - first, 12 + 80);
		memcpy(&h, host(&p, g[i - first]), sizeof(h));
		ASSERT_EQ(h.flags, guest_csum ? flags[i] : 0);
		ASSERT_EQ(h.csum_start, needs ? 34 : 0);
		ASSERT_EQ(h.csum_offset, needs ? 6 : 0);
		ASSERT_EQ(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		ASSERT_EQ(h.gso_size, 0);
		ASSERT_EQ(h.hdr_len, 0);
		ASSERT_EQ(h.num_buffers, 1);
		ASSERT_MEM_EQ(host(&p, g[i - first]) + 12, data[i], 80);
	}
	expect_no_used(&p, 0);
}

TEST(net_rx_burst_csum_hdrs) { csum_hdrs(true); }
TEST(net_rx_burst_no_guest_csum_hdrs) { csum_hdrs(false); }

/* A readable chain in the middle of a burst goes back empty, counted; the
 * frames go on into the chains after it. */
static void readable_mid(enum cfg c)
{
	static uint8_t data[4][100];
	struct frame f[4];
	struct vq_net_pkt *pk[4];
	struct port p;
	uint64_t g[4];

	port_cfg(&p, c);
	post_rx(&p, 2, 2048, 1, g);
	post_readable(&p, 3);
	post_rx(&p, 2, 2048, 4, g + 2);
	for (unsigned i = 0; i < 4; i++) {
		fill(data[i], sizeof(data[i]), 7 * i);
		frame_init(&f[i], data[i], 100, 1);
		pk[i] = &f[i].pkt;
	}
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk, 4), 4);
	expect_used(&p, 0, 1, 112);
	expect_used(&p, 0, 2, 112);
	expect_used(&p, 0, 3, 0);
	expect_used(&p, 0, 4, 112);
	expect_used(&p, 0, 5, 112);
	expect_no_used(&p, 0);
	for (unsigned i = 0; i < 4; i++)
		ASSERT_MEM_EQ(host(&p, g[i]) + 12, data[i], 100);
	ASSERT_EQ(stats(&p, 0).errors, 1);
	ASSERT_EQ(stats(&p, 0).packets, 4);
	ASSERT_EQ(stats(&p, 0).nobuf, 0);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk, 1), 0); /* the ring ran dry */
	ASSERT_EQ(stats(&p, 0).nobuf, 1);
	post_rx(&p, 1, 2048, 6, g);
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk, 1), 1);
	expect_used(&p, 0, 6, 112);
	ASSERT_MEM_EQ(host(&p, g[0]) + 12, data[0], 100);
}

TEST(net_rx_burst_readable_mid_split) { readable_mid(CFG_SPLIT); }
TEST(net_rx_burst_readable_mid_packed) { readable_mid(CFG_PACKED); }
TEST(net_rx_burst_readable_mid_in_order) { readable_mid(CFG_PACKED_IN_ORDER); }

/* A chain too small for its frame stops the burst: it is held, and the
 * frame takes it and the next one (mergeable); the burst goes on. */
static void small_mid(enum cfg c)
{
	static uint8_t data[4][100];
	struct frame f[4];
	struct vq_net_pkt *pk[4];
	struct port p;
	uint64_t g[5];

	port_cfg(&p, c);
	post_rx(&p, 2, 2048, 1, g);
	post_rx(&p, 1, 40, 3, g + 2);
	post_rx(&p, 2, 2048, 4, g + 3);
	for (unsigned i = 0; i < 4; i++) {
		fill(data[i], sizeof(data[i]), 5 * i + 1);
		frame_init(&f[i], data[i], 100, 1);
		pk[i] = &f[i].pkt;
	}
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk, 4), 4);
	expect_used(&p, 0, 1, 112);
	expect_used(&p, 0, 2, 112);
	expect_used(&p, 0, 3, 40);
	expect_used(&p, 0, 4, 72);
	expect_used(&p, 0, 5, 112);
	ASSERT_EQ(num_buffers(&p, g[2]), 2);
	ASSERT_MEM_EQ(host(&p, g[2]) + 12, data[2], 28);
	ASSERT_MEM_EQ(host(&p, g[3]), data[2] + 28, 72);
	ASSERT_MEM_EQ(host(&p, g[4]) + 12, data[3], 100);
	ASSERT_EQ(stats(&p, 0).packets, 4);
	ASSERT_EQ(stats(&p, 0).errors, 0);
}

TEST(net_rx_burst_small_mid_split) { small_mid(CFG_SPLIT); }
TEST(net_rx_burst_small_mid_packed) { small_mid(CFG_PACKED); }
TEST(net_rx_burst_small_mid_in_order) { small_mid(CFG_PACKED_IN_ORDER); }

/*
 * A readable chain after a small one, both left over when the burst stops:
 * as if popped one at a time with the small one held.  Without IN_ORDER
 * the readable one goes back empty and the small one stays held; with
 * IN_ORDER the held one goes back empty before it (used in pop order).
 */
static void readable_after_small(enum cfg c)
{
	static uint8_t data[3][100];
	struct frame f[3];
	struct vq_net_pkt *pk[3];
	struct port p;
	uint64_t g[4];

	port_cfg(&p, c);
	post_rx(&p, 1, 2048, 1, g);
	post_rx(&p, 1, 40, 2, g + 1);
	post_readable(&p, 3);
	post_rx(&p, 2, 2048, 4, g + 2);
	for (unsigned i = 0; i < 3; i++) {
		fill(data[i], sizeof(data[i]), 11 * i + 2);
		frame_init(&f[i], data[i], 100, 1);
		pk[i] = &f[i].pkt;
	}
	ASSERT_EQ(vq_net_rx_burst(p.n, 0, pk, 3), 3);
	expect_used(&p, 0, 1, 112);
	ASSERT_MEM_EQ(host(&p, g[0]) + 12, data[0], 100);
	if (c == CFG_PACKED_IN_ORDER) {
		expect_used(&p, 0, 2, 0);
		expect_used(&p, 0, 3, 0);
		expect_used(&p, 0, 4, 112);
		expect_used(&p, 0, 5, 112);
		ASSERT_MEM_EQ(host(&p, g[2]) + 12, data[1], 100);
		ASSERT_MEM_EQ(host(&p, g[3]) + 12, data[2], 100);
	} else {
		expect_used(&p, 0, 3, 0);
		expect_used(&p, 0, 2, 40);
		expect_used(&p, 0, 4, 72);
		expect_used(&p, 0, 5, 112);
		ASSERT_EQ(num_buffers(&p, g[1]), 2);
		ASSERT_MEM_EQ(host(&p, g[1]) + 12, data[1], 28);
		ASSERT_MEM_EQ(host(&p, g[2]), data[1] + 28, 72);
		ASSERT_MEM_EQ(host(&p, g[3]) + 12, data[2], 100);
	}
	expect_no_used(&p, 0);
	ASSERT_EQ(stats(&p, 0).errors, 1);
	ASSERT_EQ(stats(&p, 0).packets, 3);
}

TEST(net_rx_burst_readable_after_small_split) { readable_after_small(CFG_SPLIT); }
TEST(net_rx_burst_readable_after_small_packed) { readable_after_small(CFG_PACKED); }
TEST(net_rx_burst_readable_after_small_in_order) { readable_after_small(CFG_PACKED_IN_ORDER); }

/*
 * Forty transmit chains, one with eight segments in the middle (more iovecs
 * than the burst's slice for it): the twenty one-buffer frames before the
 * chain are read in place (vq_dev_peek), and the chain starts the next
 * burst, which pops it and the rest.  In order, and tx_done returns them
 * all.
 */
static void tx_many(enum cfg c)
{
	static uint8_t want[40][64];
	struct vq_net_pkt *pk[VQ_NET_BURST_MAX];
	uint8_t out[128];
	struct port p;

	port_cfg(&p, c);
	for (unsigned i = 0; i < 40; i++) {
		uint64_t a = galloc(&p, 12 + 64);

		fill(want[i], 64, i);
		put_hdr(host(&p, a), 0, 0, 0, 0, 0);
		if (i != 20) {
			memcpy(host(&p, a) + 12, want[i], 64);
			post(&p, 1, (struct vq_seg[]){ { a, 12 + 64 } }, 1, 0, 100 + i);
			continue;
		}
		struct vq_seg sg[8] = { { a, 12 } };

		for (unsigned k = 1; k < 8; k++) { /* 8+8+...+16 bytes, apart */
			uint32_t n = k < 7 ? 8 : 16;

			sg[k] = (struct vq_seg){ galloc(&p, n), n };
			memcpy(host(&p, sg[k].addr), want[i] + 8 * (k - 1), n);
		}
		post(&p, 1, sg, 8, 0, 100 + i);
	}
	for (unsigned got = 0; got < 40;) {
		int r = vq_net_tx_burst(p.n, 0, pk, VQ_NET_BURST_MAX);

		ASSERT_EQ(r, 20); /* 20 in place, then 20 popped */
		for (unsigned j = 0, i = got; j < (unsigned)r; j++, i++) {
			ASSERT_EQ(pk[j]->len, 64);
			ASSERT_EQ(pk[j]->iovcnt, i == 20 ? 7u : 1u);
			ASSERT_EQ(flatten(pk[j], out, sizeof(out)), 64);
			ASSERT_MEM_EQ(out, want[i], 64);
		}
		ASSERT_EQ(vq_net_tx_done(p.n, 0), 0);
		got += (unsigned)r;
	}
	for (unsigned i = 0; i < 40; i++)
		expect_used(&p, 1, 100 + i, 0);
	expect_no_used(&p, 1);
	ASSERT_EQ(stats(&p, 1).packets, 40);
	ASSERT_EQ(vq_net_tx_burst(p.n, 0, pk, VQ_NET_BURST_MAX), 0);
}

TEST(net_tx_burst_many_split) { tx_many(CFG_SPLIT); }
TEST(net_tx_burst_many_packed) { tx_many(CFG_PACKED); }
TEST(net_tx_burst_many_in_order) { tx_many(CFG_PACKED_IN_ORDER); }
