/* SPDX-License-Identifier: MIT */
/*
 * virtio-net device model, driven in-process by the driver side of the ring
 * over shared memory: tx layouts and malformed chains, rx into mergeable,
 * big and small buffers, header sizes, checksum completion, software TCP
 * segmentation, the control queue, the pure parsers.
 */
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

static void on_notify(void *opaque, unsigned idx)
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

static uint64_t galloc(struct port *p, size_t len)
{
	uint64_t a = p->next;

	/* 64 bytes of gap: the driver coalesces adjacent segments */
	p->next = (a + len + 64 + 63) & ~63ull;
	ASSERT_LE(p->next, GBASE + GSIZE);
	return a;
}

static uint8_t *host(struct port *p, uint64_t gpa)
{
	return p->g + (gpa - GBASE);
}

static void ring_setup(struct port *p, int slot, unsigned idx, uint64_t feats)
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

static void port_init_pairs(struct port *p, uint64_t feats, uint16_t pairs, uint16_t mtu)
{
	struct vq_net_params np = { .mac = MAC0, .max_pairs = pairs, .mtu = mtu,
				    .notify = on_notify };
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

static void port_init(struct port *p, uint64_t feats)
{
	port_init_pairs(p, feats, 1, 0);
}

/* ---- driver-side helpers */

static void post(struct port *p, int slot, const struct vq_seg *sg, unsigned out,
		 unsigned in, uintptr_t token)
{
	ASSERT_EQ(vq_drv_add(p->drv[slot], sg, out, in, (void *)token), 0);
	vq_drv_kick_prepare(p->drv[slot]);
}

/* Expect the next used buffer to be token with len. */
static void expect_used(struct port *p, int slot, uintptr_t token, uint32_t len)
{
	void *t = NULL;
	uint32_t l = 0;

	ASSERT_EQ(vq_drv_get(p->drv[slot], &t, &l), 1);
	ASSERT_EQ((uintptr_t)t, token);
	ASSERT_EQ(l, len);
}

static void expect_no_used(struct port *p, int slot)
{
	void *t;
	uint32_t l;

	ASSERT_EQ(vq_drv_get(p->drv[slot], &t, &l), 0);
}

/* Post n single-segment receive buffers of len bytes; returns first gpa. */
static uint64_t post_rx(struct port *p, unsigned n, uint32_t len, uintptr_t token0,
			uint64_t *gpas)
{
	for (unsigned i = 0; i < n; i++) {
		struct vq_seg s = { galloc(p, len), len };

		gpas[i] = s.addr;
		post(p, 0, &s, 0, 1, token0 + i);
	}
	return gpas[0];
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

static size_t flatten(const struct vq_net_pkt *pk, uint8_t *out, size_t cap)
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

static void frame_init(struct frame *f, uint8_t *data, uint32_t len, unsigned nseg)
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
static struct vq_net_queue_stats stats(struct port *p, unsigned idx)
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

static uint32_t be_sum(const uint8_t *b, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	return s;
}

static uint16_t be_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) << 16 | rd16(p + 2); }
static void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* Pseudo-header sum for a TCP segment of tcplen bytes in frame f. */
static uint32_t pseudo(const uint8_t *f, bool v6, uint32_t tcplen)
{
	uint32_t s = v6 ? be_sum(f + 14 + 8, 32, 0) : be_sum(f + 14 + 12, 8, 0);

	return s + 6 + tcplen;
}

/* Build Ethernet + IPv4/IPv6 + TCP with payload; checksum field holds the
 * pseudo-header sum (NEEDS_CSUM convention).  Returns the frame length. */
static uint32_t tcp_frame(uint8_t *f, bool v6, uint32_t payload, uint8_t tcpflags)
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
static bool tcp_csum_ok(const uint8_t *f, uint32_t len, bool v6)
{
	uint32_t l3 = v6 ? 40 : 20;

	if (!v6 && be_fold(be_sum(f + 14, 20, 0)) != 0xffff)
		return false;
	return be_fold(be_sum(f + 14 + l3, len - 14 - l3,
			      pseudo(f, v6, len - 14 - l3))) == 0xffff;
}

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
 * TX
 * ====================================================================== */

static void put_hdr(uint8_t *b, uint8_t flags, uint8_t gso, uint16_t gso_size,
		    uint16_t cstart, uint16_t coff)
{
	struct virtio_net_hdr_v1 h = { .flags = flags, .gso_type = gso, .gso_size = gso_size,
				       .csum_start = cstart, .csum_offset = coff };

	memcpy(b, &h, sizeof(h));
}

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

/* ======================================================================
 * Control queue
 * ====================================================================== */

/* Send one command (readable bytes cmd[0..len)), return the ack byte. */
static int ctrl(struct port *p, const void *cmd, uint32_t len)
{
	uint64_t a = galloc(p, len), ack = galloc(p, 1);
	void *t;
	uint32_t l;

	memcpy(host(p, a), cmd, len);
	host(p, ack)[0] = 0xaa;
	post(p, 2, (struct vq_seg[]){ { a, len }, { ack, 1 } }, 1, 1, 77);
	ASSERT_EQ(vq_net_ctrl_poll(p->n), 1);
	ASSERT_EQ(vq_drv_get(p->drv[2], &t, &l), 1);
	ASSERT_EQ(l, 1);
	return host(p, ack)[0];
}

TEST(net_ctrl_commands)
{
	struct port p;
	struct vq_net_rx_filter f;
	struct virtio_net_config c;
	uint8_t other[6] = { 0x52, 0x54, 0, 0, 0, 9 }, mc[6] = { 0x01, 0, 0x5e, 0, 0, 1 };
	uint8_t mc2[6] = { 0x01, 0, 0x5e, 0, 0, 2 };

	port_init_pairs(&p, VQ_F_VERSION_1 | F_CTRL | F(VIRTIO_NET_F_MQ), 4, 0);
	ASSERT_TRUE(vq_net_rx_accept(p.n, other)); /* promiscuous by default */
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 }, 3),
		  VIRTIO_NET_OK);
	ASSERT_FALSE(vq_net_rx_accept(p.n, other));
	ASSERT_TRUE(vq_net_rx_accept(p.n, (uint8_t[])MAC0));
	ASSERT_FALSE(vq_net_rx_accept(p.n, mc));
	ASSERT_TRUE(vq_net_rx_accept(p.n, (uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }));
	/* table: 1 unicast, 1 multicast */
	uint8_t t[2 + 4 + 6 + 4 + 6] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1 };
	memcpy(t + 6, other, 6);
	t[12] = 1;
	memcpy(t + 16, mc, 6);
	ASSERT_EQ(ctrl(&p, t, sizeof(t)), VIRTIO_NET_OK);
	ASSERT_TRUE(vq_net_rx_accept(p.n, other));
	ASSERT_TRUE(vq_net_rx_accept(p.n, mc));
	ASSERT_FALSE(vq_net_rx_accept(p.n, mc2));
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 1 }, 3),
		  VIRTIO_NET_OK);
	ASSERT_TRUE(vq_net_rx_accept(p.n, mc2));
	/* address */
	uint8_t as[8] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 2, 0, 0, 0, 0, 7 };
	ASSERT_EQ(ctrl(&p, as, 8), VIRTIO_NET_OK);
	ASSERT_EQ(vq_net_get_config(p.n, 0, &c, sizeof(c)), 0);
	ASSERT_MEM_EQ(c.mac, as + 2, 6);
	/* pairs */
	ASSERT_EQ(vq_net_active_pairs(p.n), 1);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 3, 0 },
		       4), VIRTIO_NET_OK);
	ASSERT_EQ(vq_net_active_pairs(p.n), 3);
	vq_net_get_rx_filter(p.n, &f);
	ASSERT_FALSE(f.promisc);
	ASSERT_TRUE(f.allmulti);
	ASSERT_EQ(f.n_uni, 1);
	ASSERT_EQ(f.n_multi, 1);
	ASSERT_MEM_EQ(f.mac, as + 2, 6);
	ASSERT_EQ(stats(&p, 8).packets, 5);
	ASSERT_EQ(stats(&p, 8).errors, 0);
	/* a table larger than ours: overflow means accept all unicast */
	static uint8_t big[2 + 4 + 65 * 6 + 4];
	big[0] = VIRTIO_NET_CTRL_MAC;
	big[1] = VIRTIO_NET_CTRL_MAC_TABLE_SET;
	big[2] = 65;
	ASSERT_EQ(ctrl(&p, big, sizeof(big)), VIRTIO_NET_OK);
	vq_net_get_rx_filter(p.n, &f);
	ASSERT_TRUE(f.uni_overflow);
	ASSERT_TRUE(vq_net_rx_accept(p.n, (uint8_t[]){ 2, 3, 4, 5, 6, 7 }));
}

/* The filter is read by other threads (a switch asks any port whether it
 * takes a frame) while the port's control path changes it.  The table
 * alternates between {X} and {Y}; Z is X's first four bytes and Y's last
 * two: a reader that saw the entry half-written would take Z.  It must
 * never, and X must be taken in some reads and refused in others. */
struct filter_race {
	struct vq_net *n;
	atomic_bool stop;
	_Atomic uint64_t z_taken, x_taken, x_refused;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *filter_reader(void *arg)
{
	static const uint8_t x[6] = { 0x52, 0x54, 0, 0, 0, 0x11 }, z[6] = { 0x52, 0x54, 0, 0, 0, 0x22 };
	struct filter_race *r = arg;

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		if (vq_net_rx_accept(r->n, z))
			atomic_fetch_add_explicit(&r->z_taken, 1, memory_order_relaxed);
		if (vq_net_rx_accept(r->n, x))
			atomic_fetch_add_explicit(&r->x_taken, 1, memory_order_relaxed);
		else
			atomic_fetch_add_explicit(&r->x_refused, 1, memory_order_relaxed);
	}
	return NULL;
}

TEST(net_filter_concurrent_reader)
{
	struct port p;
	struct filter_race r = { 0 };
	pthread_t t;
	uint64_t mark;
	double t0;
	/* X = 52:54:0:0:0:11 and Y = ff:ff:ff:ff:0:22 differ in both words */
	uint8_t tx[2 + 4 + 6 + 4] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1, 0, 0, 0,
				      0x52, 0x54, 0, 0, 0, 0x11 };
	uint8_t ty[sizeof(tx)] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1, 0, 0, 0,
				   0xfe, 0xff, 0xff, 0xff, 0, 0x22 };

	port_init_pairs(&p, VQ_F_VERSION_1 | F_CTRL, 1, 0);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 }, 3),
		  VIRTIO_NET_OK);
	r.n = p.n;
	ASSERT_EQ(pthread_create(&t, NULL, filter_reader, &r), 0);
	t0 = now_s();
	mark = p.next;
	/* At least 20000 changes, and until the reader saw both states often
	 * (it may start late, or share a CPU), at most 10 s. */
	for (int i = 0; i < 20000 || atomic_load(&r.x_taken) < 1000 || atomic_load(&r.x_refused) < 1000;
	     i++) {
		ASSERT_EQ(ctrl(&p, i & 1 ? ty : tx, sizeof(tx)), VIRTIO_NET_OK);
		p.next = mark; /* the command is done: reuse its buffers */
		if ((i & 1023) == 0 && now_s() > t0 + 10)
			break;
	}
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	printf("  reads: X taken %llu, refused %llu; Z taken %llu\n",
	       (unsigned long long)atomic_load(&r.x_taken), (unsigned long long)atomic_load(&r.x_refused),
	       (unsigned long long)atomic_load(&r.z_taken));
	ASSERT_EQ(atomic_load(&r.z_taken), 0);
	ASSERT_GT(atomic_load(&r.x_taken), 0);
	ASSERT_GT(atomic_load(&r.x_refused), 0);
}

TEST(net_ctrl_malformed)
{
	struct port p;
	uint8_t huge[3000] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 };

	port_init_pairs(&p, VQ_F_VERSION_1 | F_CTRL | F(VIRTIO_NET_F_MQ), 4, 0);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX }, 1), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, 0, 0, 0 }, 4), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, 0, 2 }, 3), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, 1 }, 3),
		  VIRTIO_NET_ERR); /* needs CTRL_RX_EXTRA */
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ 99, 0, 0 }, 3), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MQ, 0, 0, 0 }, 4), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MQ, 0, 5, 0 }, 4), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MQ, 0, 2 }, 3), VIRTIO_NET_ERR);
	/* table claiming 2^32-1 entries */
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MAC, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 },
		       10), VIRTIO_NET_ERR);
	/* table with trailing garbage */
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MAC, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9 }, 11),
		  VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MAC, 1, 1, 2, 3 }, 5), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, huge, sizeof(huge)), VIRTIO_NET_ERR);
	ASSERT_EQ(stats(&p, 8).errors, 12);
	ASSERT_EQ(vq_net_active_pairs(p.n), 1);
	ASSERT_TRUE(vq_net_rx_accept(p.n, (uint8_t[]){ 2, 3, 4, 5, 6, 7 })); /* still promisc */
	/* no room for the ack: used with length 0 */
	uint64_t a = galloc(&p, 3);
	void *t;
	uint32_t l = 99;
	memcpy(host(&p, a), (uint8_t[]){ VIRTIO_NET_CTRL_RX, 0, 0 }, 3);
	post(&p, 2, (struct vq_seg[]){ { a, 3 } }, 1, 0, 5);
	ASSERT_EQ(vq_net_ctrl_poll(p.n), 1);
	ASSERT_EQ(vq_drv_get(p.drv[2], &t, &l), 1);
	ASSERT_EQ(l, 0);
	ASSERT_EQ(stats(&p, 8).errors, 13);
}

TEST(net_ctrl_features_gate)
{
	struct port p;

	/* CTRL_VQ alone: RX, MAC and MQ commands are refused */
	port_init(&p, VQ_F_VERSION_1 | F(VIRTIO_NET_F_CTRL_VQ));
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, 0, 0 }, 3), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MAC, 1, 1, 2, 3, 4, 5, 6 }, 8),
		  VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MQ, 0, 1, 0 }, 4), VIRTIO_NET_ERR);
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
