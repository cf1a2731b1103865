/* SPDX-License-Identifier: MIT */
/*
 * EXPERIMENTAL: the header/data split-point parser (include/virtq/net_split.h).
 * A pure function over bytes the guest or the wire controls: every read is
 * preceded by a bounds check against the frame length, every walk is bounded.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>

#include <virtq/net_split.h>

#define IP4_HLEN  20u  /* minimal IPv4 header */
#define IP6_HLEN  40u  /* fixed IPv6 header */
#define TCP_HLEN  20u  /* minimal TCP header */
#define UDP_HLEN  8u
#define VLAN_HLEN 4u
#define IP4_MF    0x2000u
#define IP4_OFF   0x1fffu

struct walk {
	const uint8_t *p;
	size_t len;  /* bytes we may read */
	size_t flen; /* the frame's length: IP length fields are checked against it */
	struct vq_net_split_info *o;
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static bool has(const struct walk *w, size_t off, size_t n)
{
	return off <= w->len && n <= w->len - off;
}

static int stop(struct walk *w, uint8_t why)
{
	w->o->why = why;
	return why == VQ_NET_SPLIT_MALFORMED ? -EINVAL : -ENOENT;
}

static inline __attribute__((always_inline))
int walk_l4(struct walk *w, size_t off, size_t l3_end, uint8_t proto)
{
	size_t hl;

	w->o->l4_off = (uint32_t)off;
	w->o->l4_proto = proto;
	if (proto == IPPROTO_TCP) {
		if (!has(w, off, TCP_HLEN))
			return stop(w, VQ_NET_SPLIT_MALFORMED);
		hl = (size_t)(w->p[off + 12] >> 4) * 4u;
		if (hl < TCP_HLEN)
			return stop(w, VQ_NET_SPLIT_MALFORMED);
	} else if (proto == IPPROTO_UDP) {
		hl = UDP_HLEN;
	} else {
		return stop(w, VQ_NET_SPLIT_UNKNOWN);
	}
	if (!has(w, off, hl) || off + hl > l3_end)
		return stop(w, VQ_NET_SPLIT_MALFORMED);
	w->o->hdr_len = (uint32_t)(off + hl);
	w->o->why = VQ_NET_SPLIT_OK;
	return (int)(off + hl);
}

static int walk_ip4(struct walk *w, size_t off)
{
	const uint8_t *h = w->p + off;
	size_t ihl, tot;

	w->o->ip_version = 4;
	if (!has(w, off, IP4_HLEN) || (h[0] >> 4) != 4)
		return stop(w, VQ_NET_SPLIT_MALFORMED);
	ihl = (size_t)(h[0] & 0xf) * 4u;
	tot = rd16(h + 2);
	if (ihl < IP4_HLEN || tot < ihl || off > w->flen || tot > w->flen - off)
		return stop(w, VQ_NET_SPLIT_MALFORMED);
	if (rd16(h + 6) & (IP4_MF | IP4_OFF))
		return stop(w, VQ_NET_SPLIT_FRAGMENT);
	return walk_l4(w, off + ihl, off + tot, h[9]);
}

/* One IPv6 extension header at off; its length in *hl.  0, or stop(). */
static int ip6_ext(struct walk *w, size_t off, uint8_t nh, size_t *hl)
{
	switch (nh) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
		if (!has(w, off, 8))
			return stop(w, VQ_NET_SPLIT_MALFORMED);
		*hl = ((size_t)w->p[off + 1] + 1u) * 8u;
		return 0;
	case IPPROTO_FRAGMENT:
		return stop(w, VQ_NET_SPLIT_FRAGMENT);
	default: /* ESP, AH, no-next-header, anything else */
		return stop(w, VQ_NET_SPLIT_UNKNOWN);
	}
}

static int walk_ip6(struct walk *w, size_t off)
{
	size_t end, hl = 0;
	uint8_t nh;
	int r;

	w->o->ip_version = 6;
	if (!has(w, off, IP6_HLEN) || (w->p[off] >> 4) != 6)
		return stop(w, VQ_NET_SPLIT_MALFORMED);
	end = off + IP6_HLEN + rd16(w->p + off + 4);
	if (rd16(w->p + off + 4) == 0 || end > w->flen) /* jumbograms are not walked */
		return stop(w, VQ_NET_SPLIT_MALFORMED);
	nh = w->p[off + 6];
	off += IP6_HLEN;
	for (unsigned i = 0; nh != IPPROTO_TCP && nh != IPPROTO_UDP; i++) {
		if (i == VQ_NET_SPLIT_MAX_EXT)
			return stop(w, VQ_NET_SPLIT_TOO_DEEP);
		if ((r = ip6_ext(w, off, nh, &hl)) < 0)
			return r;
		if (hl > end - off)
			return stop(w, VQ_NET_SPLIT_MALFORMED);
		nh = w->p[off];
		off += hl;
	}
	return walk_l4(w, off, end, nh);
}

int vq_net_split_parse_prefix(const void *buf, size_t buflen, size_t frame_len,
			      struct vq_net_split_info *out)
{
	struct walk w = { buf, buflen, frame_len, out };
	size_t off = ETH_HLEN;
	uint16_t type;

	if (!buf || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (buflen > frame_len)
		return stop(&w, VQ_NET_SPLIT_MALFORMED);
	if (!has(&w, 0, ETH_HLEN))
		return stop(&w, VQ_NET_SPLIT_MALFORMED);
	type = rd16(w.p + 12);
	while (type == ETH_P_8021Q || type == ETH_P_8021AD) {
		if (out->vlans == VQ_NET_SPLIT_MAX_VLAN)
			return stop(&w, VQ_NET_SPLIT_TOO_DEEP);
		if (!has(&w, off, VLAN_HLEN))
			return stop(&w, VQ_NET_SPLIT_MALFORMED);
		type = rd16(w.p + off + 2);
		off += VLAN_HLEN;
		out->vlans++;
	}
	out->l3_off = (uint32_t)off;
	if (type == ETH_P_IP)
		return walk_ip4(&w, off);
	if (type == ETH_P_IPV6)
		return walk_ip6(&w, off);
	return stop(&w, VQ_NET_SPLIT_UNKNOWN);
}

int vq_net_split_parse(const void *frame, size_t len, struct vq_net_split_info *out)
{
	return vq_net_split_parse_prefix(frame, len, len, out);
}
