/* SPDX-License-Identifier: MIT */
/*
 * Crafted frames for the header/data split tests: Ethernet, optional VLAN
 * tags, IPv4 or IPv6 (with optional extension headers), TCP or UDP, and a
 * patterned payload.  Builders write big-endian fields by hand so that a
 * mistake in the parser cannot hide behind a shared helper.
 */
#ifndef VQ_TEST_NET_SPLIT_FX_H
#define VQ_TEST_NET_SPLIT_FX_H

#include <stdint.h>
#include <string.h>

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>

struct sf_spec {
	int ip;             /* 4 or 6 */
	uint8_t l4;         /* IPPROTO_TCP or IPPROTO_UDP (or anything) */
	unsigned vlans;     /* tags in front, 0..3; the first is 802.1ad when 2+ */
	unsigned ihl;       /* IPv4 IHL in words (0: 5) */
	unsigned tcp_doff;  /* TCP data offset in words (0: 5) */
	const uint8_t *ext; /* IPv6 extension types, in order, ext_n of them */
	unsigned ext_n;
	uint16_t frag;      /* IPv4 flags/fragment-offset field */
	size_t frame_len;   /* total frame bytes; the payload fills the rest */
};

static inline void sf_w16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static inline uint8_t sf_pat(size_t i) { return (uint8_t)(i * 7u + (i >> 8) * 13u + 1u); }

/* Writes the frame into buf (size >= s->frame_len); returns the header
 * length the parser should find, or 0 when the headers alone exceed
 * frame_len. */
static inline size_t sf_build(const struct sf_spec *s, uint8_t *buf)
{
	size_t off = 12, l3, l4, hl, ip_end;
	unsigned v, ihl = s->ihl ? s->ihl : 5, doff = s->tcp_doff ? s->tcp_doff : 5;
	size_t need = 14 + 4u * s->vlans + (s->ip == 4 ? ihl * 4u : 40u + 8u * s->ext_n) +
		      (s->l4 == IPPROTO_TCP ? doff * 4u : 8u);

	if (need > s->frame_len)
		return 0;
	memset(buf, 0, need);
	for (size_t i = 0; i < 12; i++)
		buf[i] = (uint8_t)(0x10 + i);
	for (v = 0; v < s->vlans; v++, off += 4) {
		sf_w16(buf + off, v == 0 && s->vlans > 1 ? ETH_P_8021AD : ETH_P_8021Q);
		sf_w16(buf + off + 2, 100 + v);
	}
	sf_w16(buf + off, s->ip == 4 ? ETH_P_IP : ETH_P_IPV6);
	l3 = off + 2;
	ip_end = s->frame_len;
	if (s->ip == 4) {
		buf[l3] = (uint8_t)(0x40 | ihl);
		sf_w16(buf + l3 + 2, (unsigned)(ip_end - l3));
		sf_w16(buf + l3 + 6, s->frag);
		buf[l3 + 8] = 64;
		buf[l3 + 9] = s->l4;
		l4 = l3 + ihl * 4u;
	} else {
		uint8_t *nh = buf + l3 + 6;

		buf[l3] = 0x60;
		sf_w16(buf + l3 + 4, (unsigned)(ip_end - l3 - 40));
		buf[l3 + 7] = 64;
		l4 = l3 + 40;
		for (v = 0; v < s->ext_n; v++, l4 += 8) {
			*nh = s->ext[v];
			nh = buf + l4; /* its next-header byte; hdr ext len 0 = 8 bytes */
		}
		*nh = s->l4;
	}
	hl = l4 + (s->l4 == IPPROTO_TCP ? doff * 4u : 8u);
	sf_w16(buf + l4, 40000);
	sf_w16(buf + l4 + 2, 5201);
	if (s->l4 == IPPROTO_TCP)
		buf[l4 + 12] = (uint8_t)(doff << 4);
	else
		sf_w16(buf + l4 + 4, (unsigned)(ip_end - l4 > 0xffff ? 0 : ip_end - l4));
	for (size_t i = hl; i < s->frame_len; i++)
		buf[i] = sf_pat(i - hl);
	return hl;
}

#endif
