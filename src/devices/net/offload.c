/* SPDX-License-Identifier: MIT */
/*
 * Offloads done in software for a receiver that did not negotiate them:
 * checksum completion (NEEDS_CSUM without GUEST_CSUM) and TCP segmentation
 * (GSO TCPv4/TCPv6 without GUEST_TSO4/6).  The frame bytes may live in
 * another guest's memory and change under us: every header we act on is
 * copied first and parsed from the copy; a changing payload can only yield
 * a wrong checksum, never an out-of-bounds access.
 *
 * Checksums are RFC 1071 sums in host order (byte-order independent): add
 * 16-bit words as loaded, fold, complement, store as loaded.
 */
#include <errno.h>
#include <string.h>

#include "net_internal.h"

static uint32_t fold32(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

/* Sum of buf as if it began at an even (odd: at an odd) offset. */
uint32_t vq__net_csum_add(uint32_t sum, const void *buf, size_t len, bool odd)
{
	const uint8_t *p = buf;
	uint64_t s = 0;
	uint32_t w;
	uint16_t h;

	for (; len >= 4; p += 4, len -= 4) {
		memcpy(&w, p, 4);
		s += w;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		s += h;
		p += 2;
		len -= 2;
	}
	if (len)
		s += *p; /* the low byte in memory order on a little-endian host */
	w = fold32(s);
	if (odd)
		w = ((w & 0xff) << 8) | (w >> 8);
	return fold32((uint64_t)sum + w);
}

uint32_t vq__net_csum_iov(const struct iovec *iov, unsigned cnt, size_t off, size_t len,
			  uint32_t sum)
{
	struct vq__iov_iter it;
	size_t done = 0, n;
	uint8_t *p;

	vq__iov_iter_init(&it, iov, cnt, off, len);
	for (; (n = vq__iov_next(&it, &p)) > 0; done += n)
		sum = vq__net_csum_add(sum, p, n, done & 1);
	return sum;
}

uint16_t vq__net_csum_fold(uint32_t sum)
{
	return (uint16_t)fold32(sum);
}

/*
 * NEEDS_CSUM completion: the ones' complement of the sum from csum_start to
 * the end (the field holds the pseudo-header sum), stored at
 * csum_start + csum_offset.  Returns 0, *pos and *val, or -EINVAL.
 */
int vq__net_csum_complete(const struct vq_net_pkt *pkt, size_t *pos, uint16_t *val)
{
	uint32_t start = pkt->hdr.csum_start, at = start + pkt->hdr.csum_offset;
	uint16_t v;

	if (at + 2 > pkt->len)
		return -EINVAL;
	v = (uint16_t)~vq__net_csum_fold(vq__net_csum_iov(pkt->iov, pkt->iovcnt, start,
							   pkt->len - start, 0));
	*pos = at;
	*val = v ? v : 0xffff; /* +0 and -0 verify alike; UDP needs -0 */
	return 0;
}

/* ---- TCP segmentation */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }
static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v); }

struct gso_frame {
	uint8_t h[VQ__NET_L234_MAX];
	unsigned l2, l3, l4; /* Ethernet, IP, TCP header lengths */
	bool v6;
};

static int gso_parse_ip(struct gso_frame *g, size_t got, uint16_t etype, uint8_t type)
{
	const uint8_t *ip = g->h + g->l2;

	if (etype == 0x0800 && type == VIRTIO_NET_HDR_GSO_TCPV4) {
		if (got < g->l2 + 20u || ip[0] >> 4 != 4 || (ip[0] & 15) < 5 || ip[9] != 6)
			return -EINVAL;
		g->l3 = (ip[0] & 15) * 4u;
		return 0;
	}
	if (etype == 0x86dd && type == VIRTIO_NET_HDR_GSO_TCPV6) {
		/* Extension headers are not followed: segment plain TCP only. */
		if (got < g->l2 + 40u || ip[0] >> 4 != 6 || ip[6] != 6)
			return -EINVAL;
		g->l3 = 40;
		g->v6 = true;
		return 0;
	}
	return -EINVAL;
}

static int gso_parse(const struct vq_net_pkt *pkt, struct gso_frame *g)
{
	size_t want = pkt->len < sizeof(g->h) ? pkt->len : sizeof(g->h);
	size_t got = vq__iov_to_buf(pkt->iov, pkt->iovcnt, 0, g->h, want);
	uint16_t etype;
	unsigned t;
	int r;

	g->l2 = ETH_HLEN;
	g->v6 = false;
	if (got < 18)
		return -EINVAL;
	etype = get16(g->h + 12);
	if (etype == 0x8100) { /* one VLAN tag */
		g->l2 = 18;
		etype = get16(g->h + 16);
	}
	r = gso_parse_ip(g, got, etype, pkt->hdr.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN);
	if (r < 0)
		return r;
	t = g->l2 + g->l3;
	if (got < t + 20u || (g->h[t + 12] >> 4) < 5)
		return -EINVAL;
	g->l4 = (g->h[t + 12] >> 4) * 4u;
	return got >= t + g->l4 ? 0 : -EINVAL;
}

/* Headers of segment k (payload bytes seglen), with IP and TCP checksums. */
static void gso_seg_headers(const struct vq_net_pkt *pkt, const struct gso_frame *g,
			    struct vq__net_seg *s, unsigned k, unsigned nseg, uint32_t seglen)
{
	unsigned hl = g->l2 + g->l3 + g->l4;
	uint8_t *ip = s->hbuf + g->l2, *tcp = ip + g->l3, fl;
	uint32_t tcplen = g->l4 + seglen, sum;
	uint16_t c;

	memcpy(s->hbuf, g->h, hl);
	if (g->v6) {
		put16(ip + 4, tcplen);
		sum = vq__net_csum_add(0, ip + 8, 32, false);
	} else {
		put16(ip + 2, g->l3 + tcplen);
		put16(ip + 4, get16(g->h + g->l2 + 4) + k);
		ip[10] = ip[11] = 0;
		c = (uint16_t)~vq__net_csum_fold(vq__net_csum_add(0, ip, g->l3, false));
		memcpy(ip + 10, &c, 2);
		sum = vq__net_csum_add(0, ip + 12, 8, false);
	}
	put32(tcp + 4, get32(g->h + g->l2 + g->l3 + 4) + k * (uint32_t)pkt->hdr.gso_size);
	fl = tcp[13];
	if (k > 0)
		fl &= (uint8_t)~0x80; /* CWR on the first segment only */
	if (k + 1 < nseg)
		fl &= (uint8_t)~0x09; /* FIN and PSH on the last only */
	tcp[13] = fl;
	tcp[16] = tcp[17] = 0;
	uint8_t ph[4] = { 0, 6, (uint8_t)(tcplen >> 8), (uint8_t)tcplen };
	sum = vq__net_csum_add(sum, ph, 4, false);
	sum = vq__net_csum_add(sum, tcp, g->l4, false);
	sum = vq__net_csum_iov(pkt->iov, pkt->iovcnt, hl + (size_t)k * pkt->hdr.gso_size,
			       seglen, sum);
	c = (uint16_t)~vq__net_csum_fold(sum);
	memcpy(tcp + 16, &c, 2);
}

/*
 * Cut a TCP GSO frame into gso_size segments and emit each.  Returns 1 when
 * every segment was emitted, the first non-positive emit() result
 * otherwise (*nseg: segments emitted before), -EINVAL for a frame we cannot
 * parse, -E2BIG for more than VQ__NET_GSO_SEGS segments.
 */
int vq__net_gso_tcp(const struct vq_net_pkt *pkt, vq__net_emit_fn emit, void *ctx,
		    unsigned *nseg)
{
	struct gso_frame g;
	struct vq__net_seg s;
	uint32_t mss = pkt->hdr.gso_size, hl, payload, cnt;
	int r;

	*nseg = 0;
	if (mss == 0 || gso_parse(pkt, &g) < 0)
		return -EINVAL;
	hl = g.l2 + g.l3 + g.l4;
	if (pkt->len < hl)
		return -EINVAL;
	payload = pkt->len - hl;
	cnt = payload ? (payload + mss - 1) / mss : 1;
	if (cnt > VQ__NET_GSO_SEGS)
		return -E2BIG;
	memset(&s.hdr, 0, sizeof(s.hdr));
	s.hiov = (struct iovec){ s.hbuf, hl };
	for (uint32_t k = 0; k < cnt; k++) {
		uint32_t seglen = payload - k * mss < mss ? payload - k * mss : mss;

		gso_seg_headers(pkt, &g, &s, k, cnt, seglen);
		s.src[0] = (struct vq__net_src){ &s.hiov, 1, 0, hl };
		s.src[1] = (struct vq__net_src){ pkt->iov, pkt->iovcnt, hl + (size_t)k * mss, seglen };
		s.len = hl + seglen;
		if ((r = emit(ctx, &s, k)) <= 0)
			return r;
		*nseg = k + 1;
	}
	return 1;
}
