/* SPDX-License-Identifier: MIT */
/*
 * EXPERIMENTAL header/data split: the split-point parser
 * (vq_net_split_parse) over crafted frames, one test per protocol case.
 */
#include <errno.h>
#include <stdlib.h>

#include <virtq/net_split.h>

#include "../harness/test.h"
#include "net_split_fx.h"

static uint8_t fr[70000];

static int parse(const struct sf_spec *s, struct vq_net_split_info *o)
{
	return vq_net_split_parse(fr, s->frame_len, o);
}

static void expect_split(const struct sf_spec *s, unsigned l4_off_extra)
{
	struct vq_net_split_info o;
	size_t hl = sf_build(s, fr);

	ASSERT_GT(hl, 0);
	ASSERT_EQ(parse(s, &o), (int)hl);
	ASSERT_EQ(o.why, VQ_NET_SPLIT_OK);
	ASSERT_EQ(o.hdr_len, hl);
	ASSERT_EQ(o.l4_proto, s->l4);
	ASSERT_EQ(o.ip_version, s->ip);
	ASSERT_EQ(o.vlans, s->vlans);
	ASSERT_EQ(o.l3_off, 14 + 4 * s->vlans);
	ASSERT_EQ(o.l4_off, o.l3_off + l4_off_extra);
}

static void expect_no(const struct sf_spec *s, int rc, uint8_t why)
{
	struct vq_net_split_info o;

	ASSERT_EQ(parse(s, &o), rc);
	ASSERT_EQ(o.why, why);
}

TEST(split_parse_ipv4_tcp_udp)
{
	struct sf_spec s = { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 1514 };

	expect_split(&s, 20);
	ASSERT_EQ(vq_net_split_parse(fr, 1514, &(struct vq_net_split_info){ 0 }), 54);
	s.tcp_doff = 15; /* 40 bytes of TCP options */
	expect_split(&s, 20);
	s.ihl = 15;      /* 40 bytes of IP options */
	expect_split(&s, 60);
	s = (struct sf_spec){ .ip = 4, .l4 = IPPROTO_UDP, .frame_len = 64 };
	expect_split(&s, 20);
	s.frame_len = 65535; /* the largest IPv4 total length in a 14-byte frame */
	expect_split(&s, 20);
	s.frame_len = 42;    /* headers only: split point == len */
	expect_split(&s, 20);
}

TEST(split_parse_ipv4_bad_lengths)
{
	struct sf_spec s = { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 200 };
	struct vq_net_split_info o;

	sf_build(&s, fr);
	fr[14] = 0x44; /* IHL 4 < 5 */
	expect_no(&s, -EINVAL, VQ_NET_SPLIT_MALFORMED);
	sf_build(&s, fr);
	sf_w16(fr + 16, 201 - 14); /* total length past the frame */
	expect_no(&s, -EINVAL, VQ_NET_SPLIT_MALFORMED);
	sf_w16(fr + 16, 30);       /* total length ends inside the TCP header */
	expect_no(&s, -EINVAL, VQ_NET_SPLIT_MALFORMED);
	sf_build(&s, fr);
	fr[14 + 20 + 12] = 0x40;   /* TCP data offset 4 < 5 */
	expect_no(&s, -EINVAL, VQ_NET_SPLIT_MALFORMED);
	fr[14 + 20 + 12] = 0xf0;   /* 60 bytes: fits in 200 */
	ASSERT_EQ(parse(&s, &o), 14 + 20 + 60);
	fr[14] = 0x55;             /* version 5 */
	expect_no(&s, -EINVAL, VQ_NET_SPLIT_MALFORMED);
	/* every truncation of a valid frame's headers is refused, never read past */
	sf_build(&s, fr);
	for (size_t n = 0; n < 54; n++) {
		uint8_t *cut = malloc(n ? n : 1);

		memcpy(cut, fr, n);
		ASSERT_EQ(vq_net_split_parse(cut, n, &o), -EINVAL);
		free(cut);
	}
	ASSERT_EQ(vq_net_split_parse(NULL, 10, &o), -EINVAL);
	ASSERT_EQ(vq_net_split_parse(fr, 10, NULL), -EINVAL);
}

TEST(split_parse_ipv4_fragments_never_split)
{
	struct sf_spec s = { .ip = 4, .l4 = IPPROTO_UDP, .frame_len = 600, .frag = 0x2000 };

	sf_build(&s, fr); /* MF */
	expect_no(&s, -ENOENT, VQ_NET_SPLIT_FRAGMENT);
	s.frag = 0x0001;  /* offset 8 */
	sf_build(&s, fr);
	expect_no(&s, -ENOENT, VQ_NET_SPLIT_FRAGMENT);
	s.frag = 0x4000;  /* DF only: not a fragment */
	expect_split(&s, 20);
}

TEST(split_parse_vlan)
{
	struct sf_spec s = { .ip = 4, .l4 = IPPROTO_TCP, .vlans = 1, .frame_len = 1518 };

	expect_split(&s, 20);
	s.vlans = 2; /* 802.1ad outer, 802.1Q inner */
	s.ip = 6;
	expect_split(&s, 40);
	s.vlans = 3;
	sf_build(&s, fr);
	expect_no(&s, -ENOENT, VQ_NET_SPLIT_TOO_DEEP);
	s.vlans = 1;
	sf_build(&s, fr);
	s.frame_len = 16; /* tag cut short */
	expect_no(&s, -EINVAL, VQ_NET_SPLIT_MALFORMED);
}

TEST(split_parse_ipv6_ext_headers)
{
	static const uint8_t ok[] = { IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS };
	static const uint8_t frag[] = { IPPROTO_HOPOPTS, IPPROTO_FRAGMENT };
	static const uint8_t ah[] = { IPPROTO_AH };
	static const uint8_t deep[9] = { 0 }; /* nine hop-by-hop headers */
	struct sf_spec s = { .ip = 6, .l4 = IPPROTO_UDP, .frame_len = 1514 };
	struct vq_net_split_info o;

	expect_split(&s, 40);
	s.l4 = IPPROTO_TCP;
	s.ext = ok;
	s.ext_n = 3;
	expect_split(&s, 40 + 24);
	fr[14 + 40 + 8 + 1] = 1; /* routing header 16 bytes: the walk moves on */
	ASSERT_NE(parse(&s, &o), 14 + 40 + 24 + 20);
	fr[14 + 40 + 8 + 1] = 200; /* past the payload length */
	expect_no(&s, -EINVAL, VQ_NET_SPLIT_MALFORMED);
	s.ext = frag;
	s.ext_n = 2;
	sf_build(&s, fr);
	expect_no(&s, -ENOENT, VQ_NET_SPLIT_FRAGMENT);
	s.ext = ah;
	s.ext_n = 1;
	sf_build(&s, fr);
	expect_no(&s, -ENOENT, VQ_NET_SPLIT_UNKNOWN);
	s.ext = deep;
	s.ext_n = 8;
	expect_split(&s, 40 + 64);
	s.ext_n = 9;
	sf_build(&s, fr);
	expect_no(&s, -ENOENT, VQ_NET_SPLIT_TOO_DEEP);
	s.ext_n = 0;
	s.frame_len = 65535 + 14 + 40; /* the largest non-jumbo IPv6 packet */
	expect_split(&s, 40);
	sf_w16(fr + 18, 0); /* payload length 0 (jumbogram) */
	expect_no(&s, -EINVAL, VQ_NET_SPLIT_MALFORMED);
	s.frame_len = 1514;
	sf_build(&s, fr);
	s.frame_len = 1513; /* payload length says one byte more than there is */
	expect_no(&s, -EINVAL, VQ_NET_SPLIT_MALFORMED);
}

TEST(split_parse_unknown_protocols)
{
	struct sf_spec s = { .ip = 4, .l4 = IPPROTO_ICMP, .frame_len = 98 };

	sf_build(&s, fr);
	expect_no(&s, -ENOENT, VQ_NET_SPLIT_UNKNOWN);
	s.ip = 6;
	s.l4 = IPPROTO_SCTP;
	sf_build(&s, fr);
	expect_no(&s, -ENOENT, VQ_NET_SPLIT_UNKNOWN);
	sf_w16(fr + 12, ETH_P_ARP);
	expect_no(&s, -ENOENT, VQ_NET_SPLIT_UNKNOWN);
	sf_w16(fr + 12, 0x0600); /* an 802.3 length, not an ethertype */
	expect_no(&s, -ENOENT, VQ_NET_SPLIT_UNKNOWN);
}

/* Random bytes (and random mutations of valid frames) never make the
 * parser claim a split point outside the frame. */
TEST(split_parse_random_bytes_stay_in_bounds)
{
	uint64_t st = vq_test_seed();
	struct sf_spec s = { .ip = 6, .l4 = IPPROTO_TCP, .frame_len = 200 };
	struct vq_net_split_info o;

	for (int i = 0; i < 20000; i++) {
		size_t n = vq_test_rand(&st) % 200;
		uint8_t *b = malloc(n ? n : 1);
		int r;

		s.ip = i & 1 ? 6 : 4;
		sf_build(&s, fr);
		for (int k = 0; k < 3; k++)
			fr[vq_test_rand(&st) % 200] = (uint8_t)vq_test_rand(&st);
		memcpy(b, fr, n);
		r = vq_net_split_parse(b, n, &o);
		if (r > 0) {
			ASSERT_LE((size_t)r, n);
			ASSERT_EQ(o.hdr_len, (uint32_t)r);
			ASSERT_LT(o.l4_off, o.hdr_len);
		} else {
			ASSERT_TRUE(r == -EINVAL || r == -ENOENT);
			ASSERT_NE(o.why, VQ_NET_SPLIT_OK);
		}
		free(b);
	}
}
