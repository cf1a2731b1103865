/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net device model driven in-process by the driver side of the
 * ring over shared memory: a port (guest memory, rings, a vq_net), driver-side
 * helpers, and checksum helpers independent of the device's.  Shared by the
 * net_* test programs.
 */
#ifndef VQ_TEST_NET_FX_H
#define VQ_TEST_NET_FX_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <virtq/net.h>

#include "../harness/test.h"

#define GBASE 0x100000ull
#define GSIZE (8u << 20)
#define QSIZE 256u
#define MAC0 { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }

#define F(b) VQ_NET_F(b)
#define F_MRG F(VIRTIO_NET_F_MRG_RXBUF)
#define F_CSUM (F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM))
#define F_HTSO (F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6))
#define F_GTSO (F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) | \
		F(VIRTIO_NET_F_GUEST_TSO6))
#define F_CTRL (F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) | \
		F(VIRTIO_NET_F_CTRL_MAC_ADDR))

static unsigned notified[8];
static enum vq_layout g_layout = VQ_LAYOUT_SPLIT; /* tests run forked */
static uint16_t g_split_thresh; /* vq_net_params.split_thresh of the next port */

static inline void on_notify(void *opaque, unsigned idx)
{
	(void)opaque;
	if (idx < 8)
		notified[idx]++;
}

struct port {
	struct vq_net *n;
	struct vq_mem *mem;
	uint8_t *g;      /* guest memory at GBASE */
	uint64_t next;   /* bump allocator, in gpa */
	struct vq_drv *drv[3]; /* rx, tx, ctrl */
	struct vq_dev *dev[3];
};

static inline uint64_t galloc(struct port *p, size_t len)
{
	uint64_t a = p->next;

	/* 64 bytes of gap: the driver coalesces adjacent segments */
	p->next = (a + len + 64 + 63) & ~63ull;
	ASSERT_LE(p->next, GBASE + GSIZE);
	return a;
}

static inline uint8_t *host(struct port *p, uint64_t gpa)
{
	return p->g + (gpa - GBASE);
}

static inline void ring_setup(struct port *p, int slot, unsigned idx, uint64_t feats)
{
	struct vq_ring_layout l;
	uint8_t *r;

	ASSERT_EQ(vq_ring_layout(g_layout, QSIZE, &l), 0);
	r = aligned_alloc(64, (l.total + 63) & ~(size_t)63);
	ASSERT_TRUE(r != NULL);
	memset(r, 0, l.total);
	struct vq_ring_params rc = { g_layout, QSIZE, feats, 0, r + l.desc_off,
				     r + l.avail_off, r + l.used_off };
	struct vq_drv_params dc = { .ring = rc };

	if (feats & VQ_F_INDIRECT) { /* tables in guest memory */
		dc.indirect_tables = 4;
		dc.indirect_len = QSIZE;
		dc.indirect_gpa = galloc(p, 4 * QSIZE * 16);
		dc.indirect = host(p, dc.indirect_gpa);
	}

	ASSERT_EQ(vq_drv_new(&dc, &p->drv[slot]), 0);
	ASSERT_EQ(vq_dev_new(&rc, p->mem, &p->dev[slot]), 0);
	ASSERT_EQ(vq_net_set_queue(p->n, idx, p->dev[slot]), 0);
}

/* A port whose device offers offer (0: VQ_NET_FEATURES_DEFAULT) and
 * accepted feats: guest memory, rx and tx rings, and the control ring when
 * feats has CTRL_VQ. */
static inline void port_init_offer(struct port *p, uint64_t offer, uint64_t feats,
				   uint16_t pairs, uint16_t mtu)
{
	struct vq_net_params np = { .mac = MAC0, .max_pairs = pairs, .mtu = mtu,
				    .features = offer, .notify = on_notify,
				    .split_thresh = g_split_thresh };
	struct vq_mem_region reg;

	memset(p, 0, sizeof(*p));
	memset(notified, 0, sizeof(notified));
	ASSERT_EQ(vq_net_new(&np, &p->n), 0);
	ASSERT_EQ(vq_net_set_features(p->n, feats), 0);
	p->g = aligned_alloc(4096, GSIZE);
	ASSERT_TRUE(p->g != NULL);
	memset(p->g, 0, GSIZE);
	ASSERT_EQ(vq_mem_new(&p->mem), 0);
	reg = (struct vq_mem_region){ GBASE, GSIZE, p->g, 0, VQ_MEM_RW };
	ASSERT_EQ(vq_mem_add(p->mem, &reg), 0);
	p->next = GBASE;
	ring_setup(p, 0, 0, feats);
	ring_setup(p, 1, 1, feats);
	if (feats & F(VIRTIO_NET_F_CTRL_VQ))
		ring_setup(p, 2, 2u * pairs, feats);
}

static inline void port_init_pairs(struct port *p, uint64_t feats, uint16_t pairs, uint16_t mtu)
{
	port_init_offer(p, 0, feats, pairs, mtu);
}

static inline void port_init(struct port *p, uint64_t feats)
{
	port_init_pairs(p, feats, 1, 0);
}

/* ---- driver-side helpers */

static inline void post(struct port *p, int slot, const struct vq_seg *sg, unsigned out,
		 unsigned in, uintptr_t token)
{
	ASSERT_EQ(vq_drv_add(p->drv[slot], sg, out, in, (void *)token), 0);
	vq_drv_kick_prepare(p->drv[slot]);
}

/* Expect the next used buffer to be token with len. */
static inline void expect_used(struct port *p, int slot, uintptr_t token, uint32_t len)
{
	void *t = NULL;
	uint32_t l = 0;

	ASSERT_EQ(vq_drv_get(p->drv[slot], &t, &l), 1);
	ASSERT_EQ((uintptr_t)t, token);
	ASSERT_EQ(l, len);
}

static inline void expect_no_used(struct port *p, int slot)
{
	void *t;
	uint32_t l;

	ASSERT_EQ(vq_drv_get(p->drv[slot], &t, &l), 0);
}

/* Post n single-segment receive buffers of len bytes; returns first gpa. */
static inline uint64_t post_rx(struct port *p, unsigned n, uint32_t len, uintptr_t token0,
			uint64_t *gpas)
{
	for (unsigned i = 0; i < n; i++) {
		struct vq_seg s = { galloc(p, len), len };

		gpas[i] = s.addr;
		post(p, 0, &s, 0, 1, token0 + i);
	}
	return gpas[0];
}

static inline void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

static inline size_t flatten(const struct vq_net_pkt *pk, uint8_t *out, size_t cap)
{
	size_t done = 0;

	for (unsigned i = 0; i < pk->iovcnt && done < pk->len; i++) {
		size_t n = pk->iov[i].iov_len;

		if (n > pk->len - done)
			n = pk->len - done;
		ASSERT_LE(done + n, cap);
		memcpy(out + done, pk->iov[i].iov_base, n);
		done += n;
	}
	return done;
}

/* A frame owned by the test, as the switch would hand it to rx_burst. */
struct frame {
	struct vq_net_pkt pkt;
	struct iovec iov[4];
	uint8_t *data;
};

static inline void frame_init(struct frame *f, uint8_t *data, uint32_t len, unsigned nseg)
{
	uint32_t per = len / nseg, off = 0;

	memset(f, 0, sizeof(*f));
	f->data = data;
	for (unsigned i = 0; i < nseg; i++) {
		uint32_t l = i + 1 == nseg ? len - off : per;

		f->iov[i] = (struct iovec){ data + off, l };
		off += l;
	}
	f->pkt.iov = f->iov;
	f->pkt.iovcnt = nseg;
	f->pkt.len = len;
}

/* Counters of queue idx: a pair's rx (even) or tx (odd), or the control queue. */
static inline struct vq_net_queue_stats stats(struct port *p, unsigned idx)
{
	struct vq_net_queue_stats c;
	unsigned nq = vq_net_num_queues(p->n);
	struct vq_net_stats s;

	if ((nq & 1) && idx == nq - 1) {
		ASSERT_EQ(vq_net_get_ctrl_stats(p->n, &c), 0);
		return c;
	}
	ASSERT_EQ(vq_net_get_stats(p->n, idx / 2, &s), 0);
	return idx & 1 ? s.tx : s.rx;
}

/* ---- checksum helpers, independent of the device's */

static inline uint32_t be_sum(const uint8_t *b, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	return s;
}

static inline uint16_t be_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) << 16 | rd16(p + 2); }
static inline void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* Pseudo-header sum for a TCP segment of tcplen bytes in frame f. */
static inline uint32_t pseudo(const uint8_t *f, bool v6, uint32_t tcplen)
{
	uint32_t s = v6 ? be_sum(f + 14 + 8, 32, 0) : be_sum(f + 14 + 12, 8, 0);

	return s + 6 + tcplen;
}

/* Build Ethernet + IPv4/IPv6 + TCP with payload; checksum field holds the
 * pseudo-header sum (NEEDS_CSUM convention).  Returns the frame length. */
static inline uint32_t tcp_frame(uint8_t *f, bool v6, uint32_t payload, uint8_t tcpflags)
{
	uint32_t l3 = v6 ? 40 : 20, tcplen = 20 + payload, len = 14 + l3 + tcplen;
	uint8_t *ip = f + 14, *tcp = ip + l3;

	memset(f, 0, 14 + l3 + 20);
	memcpy(f, (uint8_t[])MAC0, 6);
	memcpy(f + 6, (uint8_t[]){ 0x52, 0x54, 0, 0, 0, 1 }, 6);
	wr16(f + 12, v6 ? 0x86dd : 0x0800);
	if (v6) {
		ip[0] = 0x60;
		wr16(ip + 4, tcplen);
		ip[6] = 6;
		ip[7] = 64;
		for (int i = 0; i < 32; i++)
			ip[8 + i] = (uint8_t)(0x20 + i);
	} else {
		ip[0] = 0x45;
		wr16(ip + 2, l3 + tcplen);
		wr16(ip + 4, 0x1234);
		ip[8] = 64;
		ip[9] = 6;
		memcpy(ip + 12, (uint8_t[]){ 10, 0, 0, 1, 10, 0, 0, 2 }, 8);
		wr16(ip + 10, (uint16_t)~be_fold(be_sum(ip, 20, 0)));
	}
	wr16(tcp, 1000);
	wr16(tcp + 2, 2000);
	memcpy(tcp + 4, (uint8_t[]){ 0xff, 0xff, 0xfc, 0x00 }, 4); /* seq wraps */
	tcp[12] = 5 << 4;
	tcp[13] = tcpflags;
	wr16(tcp + 14, 65535);
	fill(tcp + 20, payload, 3);
	wr16(tcp + 16, be_fold(pseudo(f, v6, tcplen)));
	return len;
}

/* Does the TCP (and IPv4) checksum of this frame verify? */
static inline bool tcp_csum_ok(const uint8_t *f, uint32_t len, bool v6)
{
	uint32_t l3 = v6 ? 40 : 20;

	if (!v6 && be_fold(be_sum(f + 14, 20, 0)) != 0xffff)
		return false;
	return be_fold(be_sum(f + 14 + l3, len - 14 - l3,
			      pseudo(f, v6, len - 14 - l3))) == 0xffff;
}

static inline void put_hdr(uint8_t *b, uint8_t flags, uint8_t gso, uint16_t gso_size,
		    uint16_t cstart, uint16_t coff)
{
	struct virtio_net_hdr_v1 h = { .flags = flags, .gso_type = gso, .gso_size = gso_size,
				       .csum_start = cstart, .csum_offset = coff };

	memcpy(b, &h, sizeof(h));
}

#endif
