/* SPDX-License-Identifier: MIT */
/*
 * EXPERIMENTAL header/data split, driver side (vq_splitdrv): the split-aware
 * receive queue against the device model in-process, for plain mergeable,
 * A, B, C and the header ring, over split and packed rings.  Every frame is
 * received zero-copy, its headers and payload put back together and
 * compared; frames are held and released out of order.  A hostile device
 * (lying num_buffers, used lengths, split flags, header-ring overruns)
 * breaks the queue with a clear error and no crash.
 */
#include <virtq/net_split.h>

#include "net_fx.h"
#include "net_split_fx.h"

#define PAGE 4096u

static uint8_t fr[VQ_NET_MAX_FRAME];
static uint8_t got[VQ_NET_MAX_FRAME];

static void *galloc_cb(void *ctx, size_t size, uint64_t *addr)
{
	struct port *p = ctx;

	p->next = (p->next + PAGE - 1) & ~(uint64_t)(PAGE - 1);
	*addr = galloc(p, size);
	return host(p, *addr);
}

struct dport {
	struct port p;
	struct vq_splitdrv *s;
	uint64_t method;
};

static uint32_t g_hdr_bufs; /* header-ring entries (0: the default) */

static void dp_init(struct dport *d, uint64_t method, enum vq_layout lay, uint32_t ratio)
{
	uint64_t feats = VQ_F_VERSION_1 | (method == VQ_NET_F_SPLIT_A ? 0 : F_MRG) | method |
			 (lay ? VQ_F_PACKED : 0);
	struct vq_splitdrv_params sp = { .features = feats, .queue_size = QSIZE, .ratio = ratio,
					 .hdr_bufs = g_hdr_bufs, .alloc = galloc_cb };
	struct port *p = &d->p;

	memset(d, 0, sizeof(*d));
	d->method = method;
	g_layout = lay;
	port_init_offer(p, VQ_NET_FEATURES_DEFAULT | VQ_NET_F_SPLIT_ALL, feats, 1, 0);
	sp.ctx = p;
	ASSERT_EQ(vq_splitdrv_new(&sp, &d->s), 0);
	if (method == VQ_NET_F_SPLIT_HDR_RING) {
		struct vq_net_split_hdr_ring r;

		ASSERT_EQ(vq_splitdrv_hdr_ring(d->s, &r), 0);
		r.mem = p->mem;
		ASSERT_EQ(vq_net_split_set_hdr_ring(p->n, 0, &r), 0);
	} else {
		struct vq_net_split_hdr_ring r;

		ASSERT_EQ(vq_splitdrv_hdr_ring(d->s, &r), -EINVAL);
	}
	ASSERT_EQ(vq_splitdrv_attach(d->s, p->drv[0]), 0);
}

static void send(struct dport *d, uint32_t len)
{
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;

	frame_init(&f, fr, len, len > 3000 ? 3 : 1);
	ASSERT_EQ(vq_net_rx_burst(d->p.n, 0, &pk, 1), 1);
}

/* The frame fr[0..len) as received: whole, split as expected. */
static void check(const struct vq_splitdrv_pkt *pk, uint32_t len, size_t hl, bool split)
{
	ASSERT_EQ(pk->len, len);
	ASSERT_EQ(vq_splitdrv_copy(pk, got, sizeof(got)), len);
	ASSERT_MEM_EQ(got, fr, len);
	if (!split) {
		ASSERT_TRUE(pk->head == NULL);
		return;
	}
	ASSERT_TRUE(pk->head != NULL);
	ASSERT_EQ(pk->head_len, hl);
	ASSERT_TRUE(pk->aligned);
	ASSERT_MEM_EQ(pk->iov[0].iov_base, fr + hl, pk->iov[0].iov_len);
}

static const uint8_t ext2[] = { 0, IPPROTO_DSTOPTS };
static const uint8_t extf[] = { IPPROTO_FRAGMENT };

static const struct {
	struct sf_spec s;
	bool split;
} cases[] = {
	{ { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 1500 }, true },
	{ { .ip = 4, .l4 = IPPROTO_UDP, .frame_len = 1500 }, true },
	{ { .ip = 6, .l4 = IPPROTO_TCP, .frame_len = 1500 }, true },
	{ { .ip = 6, .l4 = IPPROTO_UDP, .frame_len = 1500 }, true },
	{ { .ip = 4, .l4 = IPPROTO_TCP, .vlans = 2, .frame_len = 1500 }, true },
	{ { .ip = 6, .l4 = IPPROTO_TCP, .ext = ext2, .ext_n = 2, .frame_len = 1500 }, true },
	{ { .ip = 4, .l4 = IPPROTO_UDP, .frag = 0x2000, .frame_len = 1500 }, false },
	{ { .ip = 6, .l4 = IPPROTO_UDP, .ext = extf, .ext_n = 1, .frame_len = 1500 }, false },
	{ { .ip = 6, .l4 = IPPROTO_ICMPV6, .frame_len = 1500 }, false },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* MTU frames of every type, then 64 KiB TCP frames; all held, then
 * released newest first; then the queue goes on (buffers came back). */
static void every_frame(uint64_t method, enum vq_layout lay)
{
	struct vq_splitdrv_pkt pk[NCASES];
	struct vq_splitdrv_stats st;
	struct dport d;
	bool has = method != 0;

	dp_init(&d, method, lay, 1);
	for (unsigned round = 0; round < 3; round++) {
		for (size_t i = 0; i < NCASES; i++) {
			size_t hl = sf_build(&cases[i].s, fr);

			send(&d, (uint32_t)cases[i].s.frame_len);
			ASSERT_EQ(vq_splitdrv_recv(d.s, &pk[i], 1), 1);
			check(&pk[i], (uint32_t)cases[i].s.frame_len, hl, has && cases[i].split);
		}
		for (size_t i = NCASES; i-- > 0;)
			ASSERT_EQ(vq_splitdrv_release(d.s, &pk[i]), 0);
		ASSERT_EQ(vq_splitdrv_release(d.s, &pk[0]), -EINVAL); /* twice */
	}
	vq_splitdrv_get_stats(d.s, &st);
	ASSERT_EQ(st.packets, 3 * NCASES);
	ASSERT_EQ(st.split, has ? 3 * 6u : 0);
	ASSERT_EQ(st.aligned, st.split);
	ASSERT_FALSE(vq_splitdrv_is_broken(d.s));
}

/* 64 KiB TCP frames over IPv4 and IPv6 (C and A with 16 pages per header
 * buffer); the header ring's payload is aligned at its start only. */
static void big_frames(uint64_t method, enum vq_layout lay)
{
	struct vq_splitdrv_pkt pk;
	struct dport d;

	dp_init(&d, method, lay, method == VQ_NET_F_SPLIT_A || method == VQ_NET_F_SPLIT_C ? 16 : 1);
	for (int i = 0; i < 6; i++) {
		struct sf_spec sp = { .ip = i & 1 ? 6 : 4, .l4 = IPPROTO_TCP, .frame_len = 65536 };
		size_t hl = sf_build(&sp, fr);

		send(&d, 65536);
		ASSERT_EQ(vq_splitdrv_recv(d.s, &pk, 1), 1);
		check(&pk, 65536, hl, method != 0);
		ASSERT_EQ(vq_splitdrv_release(d.s, &pk), 0);
	}
}

#define BOTH(name, m) \
	TEST(drv_##name##_split_ring) { every_frame(m, VQ_LAYOUT_SPLIT); big_frames(m, VQ_LAYOUT_SPLIT); } \
	TEST(drv_##name##_packed_ring) { every_frame(m, VQ_LAYOUT_PACKED); big_frames(m, VQ_LAYOUT_PACKED); }
BOTH(plain, 0)
BOTH(a, VQ_NET_F_SPLIT_A)
BOTH(b, VQ_NET_F_SPLIT_B)
BOTH(c, VQ_NET_F_SPLIT_C)
BOTH(hring, VQ_NET_F_SPLIT_HDR_RING)

/* none and the header ring with buffers of 16 contiguous pages: a 64 KiB
 * frame takes one buffer with the header ring (its payload one view, from
 * a page boundary on) and two without split; frames of every size come back
 * whole, in order, over split and packed rings. */
static void multi_page(uint64_t method, enum vq_layout lay)
{
	static const uint32_t lens[] = { 64, 1500, 65536, 9000, 65536, 86 };
	struct vq_splitdrv_stats st;
	struct vq_splitdrv_pkt pk;
	struct dport d;
	uint64_t slots = 0;

	dp_init(&d, method, lay, 16);
	for (int round = 0; round < 3; round++) /* 3 x 6 frames: the 16 buffers go round */
		for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			struct sf_spec sp = { .ip = i & 1 ? 6 : 4, .l4 = IPPROTO_TCP,
					      .frame_len = lens[i] };
			size_t hl = sf_build(&sp, fr);

			send(&d, lens[i]);
			ASSERT_EQ(vq_splitdrv_recv(d.s, &pk, 1), 1);
			check(&pk, lens[i], hl, method != 0);
			if (method)
				ASSERT_EQ(pk.iovcnt, 1);  /* the payload in one piece */
			vq_splitdrv_get_stats(d.s, &st);
			ASSERT_EQ(st.slots - slots, method || lens[i] + 12 <= 16 * PAGE ? 1 : 2);
			slots = st.slots;
			ASSERT_EQ(vq_splitdrv_release(d.s, &pk), 0);
		}
	ASSERT_FALSE(vq_splitdrv_is_broken(d.s));
}

TEST(drv_multi_page_buffers_split_ring)
{
	multi_page(0, VQ_LAYOUT_SPLIT);
	multi_page(VQ_NET_F_SPLIT_HDR_RING, VQ_LAYOUT_SPLIT);
}

TEST(drv_multi_page_buffers_packed_ring)
{
	multi_page(0, VQ_LAYOUT_PACKED);
	multi_page(VQ_NET_F_SPLIT_HDR_RING, VQ_LAYOUT_PACKED);
}

/* Frames lent to the application hold their buffers: with every page lent
 * the device has none and backs off; releasing one lets traffic go on. */
TEST(drv_lent_pages_backpressure)
{
	struct sf_spec sp = { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 1500 };
	static struct vq_splitdrv_pkt pk[QSIZE];
	struct frame f;
	struct vq_net_pkt *np = &f.pkt;
	struct dport d;
	unsigned n = 0;

	dp_init(&d, VQ_NET_F_SPLIT_B, VQ_LAYOUT_SPLIT, 1);
	sf_build(&sp, fr);
	frame_init(&f, fr, 1500, 1);
	while (vq_net_rx_burst(d.p.n, 0, &np, 1) == 1) {
		ASSERT_LT(n, QSIZE);
		ASSERT_EQ(vq_splitdrv_recv(d.s, &pk[n], 1), 1);
		n++;
	}
	ASSERT_EQ(n, QSIZE / 2); /* two pages a frame */
	ASSERT_EQ(vq_splitdrv_recv(d.s, pk, 1), 0);
	ASSERT_EQ(vq_splitdrv_release(d.s, &pk[7]), 0);
	ASSERT_EQ(vq_splitdrv_recv(d.s, &pk[7], 1), 0); /* re-posts */
	ASSERT_EQ(vq_net_rx_burst(d.p.n, 0, &np, 1), 1);
	ASSERT_EQ(vq_splitdrv_recv(d.s, &pk[7], 1), 1);
	check(&pk[7], 1500, 54, true);
}

/* The driver takes used buffers from the ring in bursts: those of frames
 * beyond what one call returns wait for the next call, in order, and go
 * back to the free lists at a detach (a re-attach posts every buffer). */
TEST(drv_burst_leftovers)
{
	static const uint32_t lens[5] = { 1500, 1400, 9000, 1200, 100 };
	struct vq_splitdrv_pkt pk;
	struct dport d;

	for (int m = 0; m < 2; m++) {
		dp_init(&d, m ? VQ_NET_F_SPLIT_HDR_RING : 0, VQ_LAYOUT_SPLIT, 1);
		for (unsigned i = 0; i < 5; i++) {
			struct sf_spec sp = { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = lens[i] };

			sf_build(&sp, fr);
			send(&d, lens[i]);
		}
		for (unsigned i = 0; i < 3; i++) { /* one a call: the rest wait */
			ASSERT_EQ(vq_splitdrv_recv(d.s, &pk, 1), 1);
			ASSERT_EQ(pk.len, lens[i]);
			ASSERT_EQ(vq_splitdrv_release(d.s, &pk), 0);
		}
		ASSERT_EQ(vq_splitdrv_attach(d.s, NULL), 0); /* two frames left unread */
		ASSERT_EQ(vq_splitdrv_attach(d.s, d.p.drv[0]), 0);
		ASSERT_EQ(vq_drv_nfree(d.p.drv[0]), 0);    /* every buffer posted again */
		ASSERT_FALSE(vq_splitdrv_is_broken(d.s));
	}
}

/* ---- a hostile device: pops the driver's buffers and pushes lies */

static struct vq_elem el;
static struct iovec eiov[32];

static void pop(struct dport *d)
{
	el = (struct vq_elem){ .iov = eiov, .iov_cap = 32 };
	ASSERT_EQ(vq_dev_pop(d->p.dev[0], &el), 1);
}

static void lie(struct dport *d, uint8_t flags, uint16_t hdr_len, uint16_t nb, uint32_t used)
{
	struct virtio_net_hdr_v1 h = { .flags = flags, .hdr_len = hdr_len, .num_buffers = nb };

	memcpy(eiov[el.out_num].iov_base, &h, sizeof(h));
	ASSERT_EQ(vq_dev_push(d->p.dev[0], &el, used), 0);
	vq_dev_flush(d->p.dev[0]);
}

static void expect_broken(struct dport *d, const char *why)
{
	struct vq_splitdrv_pkt pk[4];

	ASSERT_EQ(vq_splitdrv_recv(d->s, pk, 4), -EIO);
	ASSERT_TRUE(vq_splitdrv_is_broken(d->s));
	ASSERT_TRUE(strstr(vq_splitdrv_error(d->s), why) != NULL);
	ASSERT_EQ(vq_splitdrv_recv(d->s, pk, 4), -EIO); /* sticky */
	ASSERT_EQ(vq_splitdrv_attach(d->s, NULL), 0);    /* buffers taken back */
	ASSERT_FALSE(vq_splitdrv_is_broken(d->s));
}

TEST(drv_hostile_num_buffers_and_lengths)
{
	struct dport d;

	dp_init(&d, VQ_NET_F_SPLIT_B, VQ_LAYOUT_SPLIT, 1);
	pop(&d);
	lie(&d, 0, 0, 1000, 100);                  /* more buffers than posted */
	expect_broken(&d, "num_buffers");
	dp_init(&d, VQ_NET_F_SPLIT_C, VQ_LAYOUT_PACKED, 1);
	pop(&d);
	lie(&d, 0, 0, 1, 8);                       /* shorter than the header */
	expect_broken(&d, "header size");
	dp_init(&d, VQ_NET_F_SPLIT_B, VQ_LAYOUT_SPLIT, 1);
	pop(&d);
	lie(&d, 0, 0, 0, 100);                     /* num_buffers 0 */
	expect_broken(&d, "num_buffers");
}

TEST(drv_hostile_split_layouts)
{
	struct dport d;

	dp_init(&d, 0, VQ_LAYOUT_SPLIT, 1);        /* no method: no split flag */
	pop(&d);
	lie(&d, VQ_NET_HDR_F_SPLIT, 54, 1, 1000);
	expect_broken(&d, "split flag");
	dp_init(&d, VQ_NET_F_SPLIT_B, VQ_LAYOUT_SPLIT, 1);
	pop(&d);
	lie(&d, VQ_NET_HDR_F_SPLIT, 54, 2, 1000);  /* B: first buffer not used in full */
	pop(&d);
	ASSERT_EQ(vq_dev_push(d.p.dev[0], &el, 100), 0);
	vq_dev_flush(d.p.dev[0]);
	expect_broken(&d, "method B");
	dp_init(&d, VQ_NET_F_SPLIT_B, VQ_LAYOUT_PACKED, 1);
	pop(&d);
	lie(&d, VQ_NET_HDR_F_SPLIT, 300, 1, PAGE); /* hdr_len beyond the limit */
	expect_broken(&d, "hdr_len 300");
	dp_init(&d, VQ_NET_F_SPLIT_C, VQ_LAYOUT_PACKED, 1);
	pop(&d);                                   /* the header buffer */
	lie(&d, VQ_NET_HDR_F_SPLIT, 54, 1, 66);    /* split, but nothing after it */
	expect_broken(&d, "method C");
	dp_init(&d, VQ_NET_F_SPLIT_A, VQ_LAYOUT_SPLIT, 1);
	pop(&d);
	lie(&d, VQ_NET_HDR_F_SPLIT, 250, 1, 256 + 100); /* 12 + 250 > 256 */
	expect_broken(&d, "method A");
}

TEST(drv_hostile_header_ring_overrun)
{
	struct vq_splitdrv_pkt pk[4];
	struct dport d;

	g_hdr_bufs = 2;
	dp_init(&d, VQ_NET_F_SPLIT_HDR_RING, VQ_LAYOUT_SPLIT, 1);
	for (int i = 0; i < 2; i++) {              /* both entries, held by the app */
		pop(&d);
		lie(&d, VQ_NET_HDR_F_SPLIT, 54, 1, 12 + 1000);
		ASSERT_EQ(vq_splitdrv_recv(d.s, &pk[i], 1), 1);
	}
	pop(&d);                                   /* a third: not free */
	lie(&d, VQ_NET_HDR_F_SPLIT, 54, 1, 12 + 1000);
	expect_broken(&d, "header ring");
	ASSERT_EQ(vq_splitdrv_release(d.s, &pk[1]), 0); /* lent frames survive a detach */
	ASSERT_EQ(vq_splitdrv_release(d.s, &pk[0]), 0);
}

TEST(drv_bad_params)
{
	struct port p;
	struct vq_splitdrv_params sp = { .features = VQ_F_VERSION_1 | VQ_NET_F_SPLIT_B,
					 .queue_size = QSIZE, .alloc = galloc_cb, .ctx = &p };
	struct vq_splitdrv *s;

	ASSERT_EQ(vq_splitdrv_new(&sp, &s), -EINVAL);   /* B without MRG_RXBUF */
	sp.features |= F_MRG | VQ_NET_F_SPLIT_C;
	ASSERT_EQ(vq_splitdrv_new(&sp, &s), -EINVAL);   /* two methods */
	sp.features = VQ_F_VERSION_1 | VQ_NET_F_SPLIT_C | F_MRG;
	sp.hdr_size = 2048;
	ASSERT_EQ(vq_splitdrv_new(&sp, &s), -EINVAL);   /* a header buffer that reads as data */
	sp.hdr_size = 0;
	sp.ratio = 17;
	ASSERT_EQ(vq_splitdrv_new(&sp, &s), -EINVAL);
}
