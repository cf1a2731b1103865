/* SPDX-License-Identifier: MIT */
/*
 * EXPERIMENTAL virtio-net header/data split (issue 13, not in the VIRTIO
 * spec; virtio-spec issue #144 is open).  Off by default: nothing here runs
 * unless a caller asks for it.
 *
 * This header holds the split-point parser: given a received Ethernet frame
 * it finds where the protocol headers end and the payload begins, so that a
 * device can place the headers in one buffer and the payload, page-aligned,
 * in another.
 */
#ifndef VIRTQ_NET_SPLIT_H
#define VIRTQ_NET_SPLIT_H

#include <stddef.h>
#include <stdint.h>

/* At most this many VLAN tags (802.1Q / 802.1ad) are walked. */
#define VQ_NET_SPLIT_MAX_VLAN 2u
/* At most this many IPv6 extension headers are walked. */
#define VQ_NET_SPLIT_MAX_EXT 8u

/* Why a frame is not split (vq_net_split_info.why). */
enum vq_net_split_why {
	VQ_NET_SPLIT_OK = 0,      /* split at hdr_len */
	VQ_NET_SPLIT_UNKNOWN,     /* an ethertype, IP protocol or extension we do not walk */
	VQ_NET_SPLIT_FRAGMENT,    /* an IPv4 or IPv6 fragment: never split */
	VQ_NET_SPLIT_MALFORMED,   /* truncated, or a length field inconsistent with the frame */
	VQ_NET_SPLIT_TOO_DEEP,    /* more VLAN tags or IPv6 extensions than walked */
};

/* Where the headers of one frame lie.  Offsets are from the frame start. */
struct vq_net_split_info {
	uint32_t l3_off;    /* IPv4/IPv6 header */
	uint32_t l4_off;    /* TCP/UDP header */
	uint32_t hdr_len;   /* the split point: bytes of headers; payload follows */
	uint8_t l4_proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	uint8_t ip_version; /* 4 or 6 */
	uint8_t vlans;      /* VLAN tags walked */
	uint8_t why;        /* enum vq_net_split_why */
};

/*
 * Find the split point of the Ethernet frame frame[0..len) (no virtio-net
 * header in front).  Walks Ethernet, up to VQ_NET_SPLIT_MAX_VLAN VLAN tags,
 * IPv4 (IHL) or IPv6 with hop-by-hop, routing and destination-options
 * extension headers (up to VQ_NET_SPLIT_MAX_EXT), then TCP (data offset) or
 * UDP.  Every length is checked against len; the frame is only read.
 * Returns the header length (> 0, <= len) and fills *out with why ==
 * VQ_NET_SPLIT_OK; or -ENOENT when the frame must not be split (fragment,
 * unknown protocol, too deep: out->why says which), or -EINVAL when it is
 * malformed or truncated (why == VQ_NET_SPLIT_MALFORMED), or when frame or
 * out is NULL.
 */
int vq_net_split_parse(const void *frame, size_t len, struct vq_net_split_info *out);

#endif
