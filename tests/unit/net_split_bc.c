/* SPDX-License-Identifier: MIT */
/*
 * EXPERIMENTAL header/data split, Methods B (VQ_NET_F_SPLIT_B, mergeable
 * pages, headers at the end of the first) and C (VQ_NET_F_SPLIT_C, header
 * buffers and page buffers): the device model in-process over split and
 * packed rings.  Every frame type (IPv4/IPv6, TCP/UDP, VLAN, IPv6
 * extension headers, IP options; fragments and unknown protocols, which
 * must stay whole) is received and reassembled from the used buffers the
 * way a driver would, and compared with the frame.  Fallbacks (first buffer
 * too short, wrong buffer kinds, ring empty) and a hostile driver (readable
 * chain, unmapped buffer) are covered.
 */
#include <virtq/net_split.h>

#include "net_fx.h"
#include "net_split_fx.h"

#define PAGE 4096u
#define HBUF 256u
#define T0 0x100
#define HS 12u

static uint8_t fr[VQ_NET_MAX_FRAME];

struct bport {
	struct port p;
	uint64_t method;
	uint64_t gpa[96];
	uint32_t len[96];
	unsigned nb;
};

static void bp_init(struct bport *b, uint64_t method, enum vq_layout lay)
{
	uint64_t feats = VQ_F_VERSION_1 | F_MRG | method | (lay ? VQ_F_PACKED : 0);
	struct port *p = &b->p;

	memset(b, 0, sizeof(*b));
	b->method = method;
	g_layout = lay;
	port_init_offer(p, VQ_NET_FEATURES_DEFAULT | VQ_NET_F_SPLIT_ALL, feats, 1, 0);
	/* refused, and nothing changes */
	ASSERT_EQ(vq_net_set_features(p->n, VQ_F_VERSION_1 | method), -EINVAL); /* needs MRG */
	ASSERT_EQ_U64(vq_net_features(p->n), feats);
	p->next = GBASE + (1u << 20);
}

/* Post one buffer of len bytes at a page-aligned address. */
static void bp_post(struct bport *b, uint32_t len)
{
	struct port *p = &b->p;
	struct vq_seg s;

	ASSERT_LT(b->nb, 96);
	p->next = (p->next + PAGE - 1) & ~(uint64_t)(PAGE - 1);
	s = (struct vq_seg){ galloc(p, len), len };
	b->gpa[b->nb] = s.addr;
	b->len[b->nb] = len;
	post(p, 0, &s, 0, 1, T0 + b->nb);
	b->nb++;
}

static void bp_posts(struct bport *b, unsigned n, uint32_t len)
{
	while (n--)
		bp_post(b, len);
}

/* Every buffer consumed: start over with the memory and the tokens. */
static void bp_reset(struct bport *b)
{
	expect_no_used(&b->p, 0);
	b->nb = 0;
	b->p.next = GBASE + (1u << 20);
}

struct got {
	struct virtio_net_hdr_v1 h;
	const uint8_t *hdrs; /* split: the protocol headers */
	size_t n;            /* bytes in data */
	unsigned nbuf;
	uint8_t data[VQ_NET_MAX_FRAME + PAGE];
};
static struct got g;

/* Reassemble the next frame as a driver of the method does. */
static void take(struct bport *b)
{
	struct port *p = &b->p;
	unsigned nb = 1;

	g.n = 0;
	g.hdrs = NULL;
	for (unsigned k = 0; k < nb; k++) {
		void *t;
		uint32_t l, i;
		uint8_t *at;

		ASSERT_EQ(vq_drv_get(p->drv[0], &t, &l), 1);
		i = (uint32_t)((uintptr_t)t - T0);
		ASSERT_LT(i, b->nb);
		ASSERT_LE(l, b->len[i]);
		at = host(p, b->gpa[i]);
		if (k == 0) {
			ASSERT_GE(l, HS);
			memcpy(&g.h, at, HS);
			nb = g.h.num_buffers;
			ASSERT_GE(nb, 1);
			if (g.h.flags & VQ_NET_HDR_F_SPLIT) {
				ASSERT_GE(nb, 2);
				if (b->method == VQ_NET_F_SPLIT_B) { /* headers end the buffer */
					ASSERT_EQ(l, b->len[i]);
					g.hdrs = at + l - g.h.hdr_len;
				} else {                              /* right after the header */
					ASSERT_EQ(l, HS + g.h.hdr_len);
					g.hdrs = at + HS;
				}
				continue;
			}
			at += HS;
			l -= HS;
		} else if (k + 1 < nb) {
			ASSERT_EQ(l, b->len[i]); /* all but the last used in full */
		}
		memcpy(g.data + g.n, at, l);
		g.n += l;
	}
	g.nbuf = nb;
}

static void expect_split(struct bport *b, uint32_t len, size_t hl)
{
	take(b);
	ASSERT_EQ(g.h.flags & VQ_NET_HDR_F_SPLIT, VQ_NET_HDR_F_SPLIT);
	ASSERT_EQ(g.h.hdr_len, hl);
	ASSERT_MEM_EQ(g.hdrs, fr, hl);
	ASSERT_EQ(g.n, len - hl);   /* the payload from offset 0 of buffer 1 */
	ASSERT_MEM_EQ(g.data, fr + hl, len - hl);
}

static void expect_unsplit(struct bport *b, uint32_t len)
{
	take(b);
	ASSERT_EQ(g.h.flags & VQ_NET_HDR_F_SPLIT, 0);
	ASSERT_EQ(g.n, len);
	ASSERT_MEM_EQ(g.data, fr, len);
}

static int rx_len(struct bport *b, uint32_t len)
{
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;

	frame_init(&f, fr, len, len > 3000 ? 3 : 1);
	return vq_net_rx_burst(b->p.n, 0, &pk, 1);
}

static unsigned pages(uint64_t bytes) { return (unsigned)((bytes + PAGE - 1) / PAGE); }

static const uint8_t ext3[] = { 0, IPPROTO_ROUTING, IPPROTO_DSTOPTS }; /* HBH first */
static const uint8_t ext1[] = { IPPROTO_DSTOPTS };
static const uint8_t extf[] = { IPPROTO_FRAGMENT };

struct fcase {
	struct sf_spec s;
	bool split;
};

static const struct fcase cases[] = {
	{ { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 64 }, true },
	{ { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 1500 }, true },
	{ { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 65536 }, true },
	{ { .ip = 4, .l4 = IPPROTO_UDP, .frame_len = 64 }, true },
	{ { .ip = 4, .l4 = IPPROTO_UDP, .frame_len = 1500 }, true },
	{ { .ip = 4, .l4 = IPPROTO_UDP, .frame_len = 65536 }, true },
	{ { .ip = 6, .l4 = IPPROTO_TCP, .frame_len = 86 }, true },
	{ { .ip = 6, .l4 = IPPROTO_TCP, .frame_len = 1500 }, true },
	{ { .ip = 6, .l4 = IPPROTO_TCP, .frame_len = 65536 }, true },
	{ { .ip = 6, .l4 = IPPROTO_UDP, .frame_len = 86 }, true },
	{ { .ip = 6, .l4 = IPPROTO_UDP, .frame_len = 1500 }, true },
	{ { .ip = 6, .l4 = IPPROTO_UDP, .frame_len = 65536 }, true },
	{ { .ip = 4, .l4 = IPPROTO_TCP, .vlans = 1, .frame_len = 1500 }, true },
	{ { .ip = 6, .l4 = IPPROTO_UDP, .vlans = 2, .frame_len = 9000 }, true },
	{ { .ip = 6, .l4 = IPPROTO_TCP, .ext = ext3, .ext_n = 3, .frame_len = 1500 }, true },
	{ { .ip = 6, .l4 = IPPROTO_UDP, .ext = ext1, .ext_n = 1, .frame_len = 20000 }, true },
	{ { .ip = 4, .l4 = IPPROTO_TCP, .ihl = 15, .tcp_doff = 15, .frame_len = 3000 }, true },
	{ { .ip = 4, .l4 = IPPROTO_UDP, .frag = 0x2000, .frame_len = 1500 }, false }, /* MF */
	{ { .ip = 4, .l4 = IPPROTO_TCP, .frag = 0x0010, .frame_len = 9000 }, false }, /* offset */
	{ { .ip = 6, .l4 = IPPROTO_UDP, .ext = extf, .ext_n = 1, .frame_len = 1500 }, false },
	{ { .ip = 6, .l4 = IPPROTO_ICMPV6, .frame_len = 1500 }, false },
	{ { .ip = 4, .l4 = IPPROTO_GRE, .frame_len = 3000 }, false },
	{ { .ip = 4, .l4 = IPPROTO_TCP, .vlans = 3, .frame_len = 1500 }, false }, /* too deep */
};

/* Post exactly the buffers the frame takes, receive it, reassemble it. */
static void one_case(struct bport *b, const struct fcase *c)
{
	uint32_t len = (uint32_t)c->s.frame_len;
	size_t hl = sf_build(&c->s, fr);
	bool c_whole = b->method == VQ_NET_F_SPLIT_C && HS + len <= HBUF;

	ASSERT_GT(hl, 0);
	if (b->method == VQ_NET_F_SPLIT_B) {
		bp_posts(b, c->split ? 1 + pages(len - hl) : pages(HS + len), PAGE);
	} else {
		bp_post(b, HBUF);
		if (!c_whole)
			bp_posts(b, c->split ? pages(len - hl) : pages(HS + len - HBUF), PAGE);
	}
	ASSERT_EQ(rx_len(b, len), 1);
	if (c->split && !c_whole)
		expect_split(b, len, hl);
	else
		expect_unsplit(b, len);
	bp_reset(b);
}

static void every_frame(uint64_t method, enum vq_layout lay)
{
	struct bport b;

	bp_init(&b, method, lay);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		one_case(&b, &cases[i]);
	ASSERT_EQ(stats(&b.p, 0).errors, 0);
	ASSERT_EQ(stats(&b.p, 0).drops, 0);
	ASSERT_EQ(stats(&b.p, 0).packets, sizeof(cases) / sizeof(cases[0]));
}

TEST(split_b_every_frame_split_ring) { every_frame(VQ_NET_F_SPLIT_B, VQ_LAYOUT_SPLIT); }
TEST(split_b_every_frame_packed_ring) { every_frame(VQ_NET_F_SPLIT_B, VQ_LAYOUT_PACKED); }
TEST(split_c_every_frame_split_ring) { every_frame(VQ_NET_F_SPLIT_C, VQ_LAYOUT_SPLIT); }
TEST(split_c_every_frame_packed_ring) { every_frame(VQ_NET_F_SPLIT_C, VQ_LAYOUT_PACKED); }

/* B: a first buffer too short for the headers: unsplit in the same
 * buffers.  Ring empty half-way: nothing used, the chains held, and the
 * frame split once the driver posts more. */
TEST(split_b_fallbacks)
{
	struct sf_spec tcp = { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 1500 };
	size_t hl = sf_build(&tcp, fr);
	struct bport b;

	bp_init(&b, VQ_NET_F_SPLIT_B, VQ_LAYOUT_SPLIT);
	bp_post(&b, 40);               /* < 12 + 54 */
	bp_post(&b, PAGE);
	ASSERT_EQ(rx_len(&b, 1500), 1);
	expect_unsplit(&b, 1500);
	ASSERT_EQ(g.nbuf, 2);
	bp_reset(&b);
	tcp.frame_len = 9000;
	hl = sf_build(&tcp, fr);
	bp_posts(&b, 2, PAGE);         /* needs 1 + 3 */
	ASSERT_EQ(rx_len(&b, 9000), 0);
	expect_no_used(&b.p, 0);
	ASSERT_EQ(stats(&b.p, 0).nobuf, 1);
	bp_posts(&b, 2, PAGE);
	ASSERT_EQ(rx_len(&b, 9000), 1);
	expect_split(&b, 9000, hl);
	ASSERT_EQ(g.nbuf, 4);
	bp_reset(&b);
	ASSERT_EQ(stats(&b.p, 0).errors, 0);
}

/* C: a data buffer where the header buffer should be; a header buffer
 * inside the payload (the ratio does not suit the frame); headers longer
 * than the header buffer: every one placed unsplit, every buffer in full
 * but the last.  Then a frame that fits takes the split shape again. */
TEST(split_c_fallbacks)
{
	struct sf_spec tcp = { .ip = 6, .l4 = IPPROTO_TCP, .frame_len = 9000 };
	struct sf_spec opts = { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 1500, .tcp_doff = 15 };
	size_t hl = sf_build(&tcp, fr);
	struct bport b;

	bp_init(&b, VQ_NET_F_SPLIT_C, VQ_LAYOUT_PACKED);
	bp_posts(&b, 3, PAGE);          /* no header buffer */
	ASSERT_EQ(rx_len(&b, 9000), 1);
	expect_unsplit(&b, 9000);
	bp_reset(&b);
	bp_post(&b, HBUF);              /* H P H P P: 1:1 is wrong for 9000 bytes */
	bp_post(&b, PAGE);
	bp_post(&b, HBUF);
	bp_posts(&b, 2, PAGE);
	ASSERT_EQ(rx_len(&b, 9000), 1);
	expect_unsplit(&b, 9000);
	ASSERT_EQ(g.nbuf, 5);
	bp_reset(&b);
	sf_build(&opts, fr);            /* 94 bytes of headers + 12 > 100 */
	bp_post(&b, 100);
	bp_post(&b, PAGE);
	ASSERT_EQ(rx_len(&b, 1500), 1);
	expect_unsplit(&b, 1500);
	bp_reset(&b);
	sf_build(&tcp, fr);
	bp_post(&b, HBUF);
	bp_posts(&b, 2, PAGE);          /* ring empty half-way: held */
	ASSERT_EQ(rx_len(&b, 9000), 0);
	expect_no_used(&b.p, 0);
	bp_post(&b, PAGE);
	ASSERT_EQ(rx_len(&b, 9000), 1);
	expect_split(&b, 9000, hl);
	ASSERT_EQ(g.nbuf, 4);
	bp_reset(&b);
	ASSERT_EQ(stats(&b.p, 0).errors, 0);
}

/* A hostile driver: a readable chain among the payload buffers is handed
 * back empty and counted, the frame placed unsplit, the next one split;
 * a buffer outside guest memory breaks the ring (an error, no crash). */
static void hostile(uint64_t method, enum vq_layout lay)
{
	struct sf_spec udp = { .ip = 4, .l4 = IPPROTO_UDP, .frame_len = 6000 };
	size_t hl = sf_build(&udp, fr);
	struct vq_seg bad[2];
	struct bport b;
	void *t;
	uint32_t l;

	bp_init(&b, method, lay);
	bp_post(&b, method == VQ_NET_F_SPLIT_B ? PAGE : HBUF);
	bad[0] = (struct vq_seg){ galloc(&b.p, 64), 64 };
	bad[1] = (struct vq_seg){ galloc(&b.p, PAGE), PAGE };
	post(&b.p, 0, bad, 1, 1, 0x77);
	bp_posts(&b, method == VQ_NET_F_SPLIT_B ? 1 : 2, PAGE); /* the unsplit frame takes all */
	ASSERT_EQ(rx_len(&b, 6000), 1);
	ASSERT_EQ(vq_drv_get(b.p.drv[0], &t, &l), 1);
	ASSERT_EQ((uintptr_t)t, 0x77);
	ASSERT_EQ(l, 0);
	expect_unsplit(&b, 6000);
	ASSERT_EQ(stats(&b.p, 0).errors, 1);
	bp_reset(&b);
	bp_post(&b, method == VQ_NET_F_SPLIT_B ? PAGE : HBUF);
	bp_posts(&b, 2, PAGE);
	ASSERT_EQ(rx_len(&b, 6000), 1);
	expect_split(&b, 6000, hl);
	bad[0] = (struct vq_seg){ GBASE + GSIZE + PAGE, PAGE }; /* not guest memory */
	post(&b.p, 0, bad, 0, 1, 0x78);
	ASSERT_LT(rx_len(&b, 6000), 0);
	ASSERT_TRUE(vq_dev_is_broken(b.p.dev[0]));
	ASSERT_LT(rx_len(&b, 6000), 0); /* sticky */
}

TEST(split_b_hostile_driver) { hostile(VQ_NET_F_SPLIT_B, VQ_LAYOUT_SPLIT); }
TEST(split_c_hostile_driver) { hostile(VQ_NET_F_SPLIT_C, VQ_LAYOUT_PACKED); }
