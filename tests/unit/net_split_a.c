/* SPDX-License-Identifier: MIT */
/*
 * EXPERIMENTAL header/data split, Method A (VQ_NET_F_SPLIT_A): the device
 * model driven in-process over split and packed rings.  Every frame type
 * (IPv4/IPv6, TCP/UDP, 64 B / 1500 B / 64 KiB) is received into a chain of
 * one header segment and payload pages; the bytes are reassembled and
 * compared.  Fallbacks (fragments, unknown protocols, headers longer than
 * segment 0, one-segment chains) and hostile chains are covered.
 */
#include <virtq/net_split.h>

#include "net_fx.h"
#include "net_split_fx.h"

#define PAGE 4096u
#define HSEG 256u
#define T0 0x100

static uint8_t fr[VQ_NET_MAX_FRAME];

static uint64_t galloc_page(struct port *p, size_t len)
{
	p->next = (p->next + PAGE - 1) & ~(uint64_t)(PAGE - 1);
	return galloc(p, len);
}

static void port_split(struct port *p, uint64_t feats)
{
	port_init_offer(p, VQ_NET_FEATURES_DEFAULT | VQ_NET_F_SPLIT_ALL, feats, 1, 0);
	ASSERT_EQ_U64(vq_net_host_features(p->n) & VQ_NET_F_SPLIT_ALL, VQ_NET_F_SPLIT_IMPLEMENTED);
	/* refused, and nothing changes */
	ASSERT_EQ(vq_net_set_features(p->n, VQ_NET_F_SPLIT_B), -EINVAL); /* B needs MRG_RXBUF */
	ASSERT_EQ_U64(vq_net_features(p->n), feats);
}

/* One rx chain: a header segment of hlen bytes, then npages pages. */
struct chain {
	uint64_t hdr, page[20];
	unsigned npages;
	uint32_t hlen;
};

static void post_chain(struct port *p, struct chain *c, uint32_t hlen, unsigned npages,
		       uintptr_t token)
{
	struct vq_seg sg[21];

	ASSERT_LE(npages, 20);
	c->hlen = hlen;
	c->npages = npages;
	c->hdr = galloc(p, hlen);
	sg[0] = (struct vq_seg){ c->hdr, hlen };
	for (unsigned i = 0; i < npages; i++) {
		c->page[i] = galloc_page(p, PAGE);
		sg[i + 1] = (struct vq_seg){ c->page[i], PAGE };
	}
	post(p, 0, sg, 0, 1 + npages, token);
}

/* The chain's bytes [off, off+len) in order into out. */
static void chain_read(struct port *p, const struct chain *c, size_t off, uint8_t *out,
		       size_t len)
{
	for (unsigned i = 0; i <= c->npages && len; i++) {
		uint64_t a = i ? c->page[i - 1] : c->hdr;
		size_t sl = i ? PAGE : c->hlen, n;

		if (off >= sl) {
			off -= sl;
			continue;
		}
		n = sl - off < len ? sl - off : len;
		memcpy(out, host(p, a) + off, n);
		out += n;
		len -= n;
		off = 0;
	}
	ASSERT_EQ(len, 0);
}

static void rx_one_rc(struct port *p, uint32_t len, int rc)
{
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;

	frame_init(&f, fr, len, len > 3000 ? 3 : 1);
	ASSERT_EQ(vq_net_rx_burst(p->n, 0, &pk, 1), rc);
}

static void rx_one(struct port *p, uint32_t len)
{
	rx_one_rc(p, len, 1);
}

/* Expect frame fr[0..len) split at hl in chain c (token T0). */
static void expect_split(struct port *p, const struct chain *c, uint32_t len, size_t hl)
{
	size_t hs = vq_net_hdr_size(vq_net_features(p->n));
	static uint8_t got[VQ_NET_MAX_FRAME];
	struct virtio_net_hdr_v1 h = { 0 };

	expect_used(p, 0, T0, c->hlen + len - (uint32_t)hl);
	memcpy(&h, host(p, c->hdr), hs);
	ASSERT_EQ(h.flags & VQ_NET_HDR_F_SPLIT, VQ_NET_HDR_F_SPLIT);
	ASSERT_EQ(h.hdr_len, hl);
	ASSERT_EQ(h.num_buffers, 1);
	ASSERT_MEM_EQ(host(p, c->hdr) + hs, fr, hl);
	chain_read(p, c, c->hlen, got, len - hl); /* payload from page 0, offset 0 */
	ASSERT_MEM_EQ(got, fr + hl, len - hl);
}

/* Expect fr[0..len) placed unsplit (linear after the header) in chain c. */
static void expect_unsplit(struct port *p, const struct chain *c, uint32_t len)
{
	size_t hs = vq_net_hdr_size(vq_net_features(p->n));
	static uint8_t got[VQ_NET_MAX_FRAME + 12];
	struct virtio_net_hdr_v1 h = { 0 };

	expect_used(p, 0, T0, (uint32_t)hs + len);
	chain_read(p, c, 0, got, hs + len);
	memcpy(&h, got, hs);
	ASSERT_EQ(h.flags & VQ_NET_HDR_F_SPLIT, 0);
	ASSERT_MEM_EQ(got + hs, fr, len);
}

static void every_frame(enum vq_layout lay)
{
	/* 64 B, or the least that holds IPv6+TCP and some payload (86 B) */
	static const uint32_t sizes[2][3] = { { 64, 1500, 65536 }, { 86, 1500, 65536 } };
	struct port p;

	g_layout = lay;
	port_split(&p, VQ_F_VERSION_1 | VQ_NET_F_SPLIT_A | (lay ? VQ_F_PACKED : 0));
	for (int ip = 4; ip <= 6; ip += 2)
		for (int t = 0; t < 2; t++)
			for (unsigned s = 0; s < 3; s++) {
				uint32_t len = sizes[ip == 6][s];
				struct sf_spec sp = { .ip = ip, .frame_len = len,
						      .l4 = t ? IPPROTO_UDP : IPPROTO_TCP };
				struct chain c;
				size_t hl = sf_build(&sp, fr);

				ASSERT_GT(hl, 0);
				post_chain(&p, &c, HSEG, 17, T0);
				rx_one(&p, len);
				expect_split(&p, &c, len, hl);
				p.next = GBASE + (1u << 20); /* reuse the memory */
			}
}

TEST(split_a_every_frame_split_ring) { every_frame(VQ_LAYOUT_SPLIT); }
TEST(split_a_every_frame_packed_ring) { every_frame(VQ_LAYOUT_PACKED); }

TEST(split_a_off_by_default)
{
	struct vq_net_params np = { .mac = MAC0, .max_pairs = 1 };
	struct vq_net *n;

	ASSERT_EQ(vq_net_new(&np, &n), 0);
	ASSERT_EQ_U64(vq_net_host_features(n) & VQ_NET_F_SPLIT_ALL, 0);
	ASSERT_EQ(vq_net_set_features(n, VQ_F_VERSION_1 | VQ_NET_F_SPLIT_A), -EINVAL);
	vq_net_free(n);
	np.features = VQ_NET_FEATURES_ALL | VQ_NET_F_SPLIT_ALL;
	ASSERT_EQ(vq_net_new(&np, &n), 0);
	ASSERT_EQ_U64(vq_net_host_features(n) & VQ_NET_F_SPLIT_ALL, VQ_NET_F_SPLIT_IMPLEMENTED);
	vq_net_free(n);
}

/* Fragments, unknown protocols, a too-small header segment, a one-segment
 * chain, and payload longer than the pages: placed unsplit. */
TEST(split_a_fallbacks_unsplit)
{
	struct sf_spec frag = { .ip = 4, .l4 = IPPROTO_UDP, .frame_len = 1500, .frag = 0x2000 };
	struct sf_spec icmp = { .ip = 6, .l4 = IPPROTO_ICMPV6, .frame_len = 1500 };
	struct sf_spec tcp = { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 1500, .tcp_doff = 15 };
	struct port p;
	struct chain c;

	g_layout = VQ_LAYOUT_SPLIT;
	port_split(&p, VQ_F_VERSION_1 | VQ_NET_F_SPLIT_A);
	sf_build(&frag, fr);
	post_chain(&p, &c, HSEG, 1, T0);
	rx_one(&p, 1500);
	expect_unsplit(&p, &c, 1500);
	sf_build(&icmp, fr);
	post_chain(&p, &c, HSEG, 1, T0);
	rx_one(&p, 1500);
	expect_unsplit(&p, &c, 1500);
	sf_build(&tcp, fr);               /* 94 bytes of headers + 12 > 100 */
	post_chain(&p, &c, 100, 1, T0);
	rx_one(&p, 1500);
	expect_unsplit(&p, &c, 1500);
	post_chain(&p, &c, 2048, 0, T0); /* one segment */
	rx_one(&p, 1500);
	expect_unsplit(&p, &c, 1500);
	tcp.frame_len = 6000;             /* 5906 payload bytes, one page, 8000-byte segment 0 */
	sf_build(&tcp, fr);
	post_chain(&p, &c, 8000, 1, T0);
	rx_one(&p, 6000);
	expect_unsplit(&p, &c, 6000);
	post_chain(&p, &c, HSEG, 2, T0);  /* and the queue still splits */
	rx_one(&p, 6000);
	expect_split(&p, &c, 6000, 94);
	ASSERT_FALSE(vq_dev_is_broken(p.dev[0]));
}

/* A chain too small for the frame: the frame is dropped and the chain kept
 * for the next frame (as without the feature), which it then takes split.
 * A chain with a device-readable segment: returned empty and counted.  The
 * queue goes on splitting and is never broken. */
TEST(split_a_hostile_chains)
{
	struct sf_spec big = { .ip = 6, .l4 = IPPROTO_TCP, .frame_len = 9000 };
	struct sf_spec small = { .ip = 4, .l4 = IPPROTO_UDP, .frame_len = 1500 };
	struct port p;
	struct chain c, c2;
	struct vq_seg bad[2];
	size_t hl;

	g_layout = VQ_LAYOUT_SPLIT;
	port_split(&p, VQ_F_VERSION_1 | VQ_NET_F_SPLIT_A);
	sf_build(&big, fr);
	post_chain(&p, &c, HSEG, 1, T0);  /* 256 + 4096 < 12 + 9000 */
	rx_one(&p, 9000);
	ASSERT_EQ(stats(&p, 0).drops, 1);
	expect_no_used(&p, 0);
	bad[0] = (struct vq_seg){ galloc(&p, 64), 64 };
	bad[1] = (struct vq_seg){ galloc(&p, PAGE), PAGE };
	post(&p, 0, bad, 1, 1, 0x77);     /* readable header segment */
	hl = sf_build(&small, fr);
	rx_one(&p, 1500);                 /* into the held chain, split */
	expect_split(&p, &c, 1500, hl);
	rx_one_rc(&p, 1500, 0);           /* the bad chain back; then no buffers */
	ASSERT_EQ(stats(&p, 0).errors, 1);
	expect_used(&p, 0, 0x77, 0);
	hl = sf_build(&big, fr);
	post_chain(&p, &c2, HSEG, 3, T0);
	rx_one(&p, 9000);
	expect_split(&p, &c2, 9000, hl);
	ASSERT_FALSE(vq_dev_is_broken(p.dev[0]));
}
