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

/*
 * EXPERIMENTAL feature bits, not in the VIRTIO spec.  Bits 42..45 lie in the
 * range the spec reserves for future extensions (42..49, beside
 * VQ_F_LARGE_CHAIN at 47); they will move if a design is standardised.  Off
 * by default: a vq_net offers one only when vq_net_params.features names it,
 * and only the implemented ones (VQ_NET_F_SPLIT_IMPLEMENTED) can be offered.
 *
 * VQ_NET_F_SPLIT_A: descriptor-chain split.  A receive chain's first
 *   writable segment holds the virtio-net header and the protocol headers,
 *   the following segments (typically one page) the payload, from their
 *   first byte.  A split frame has VQ_NET_HDR_F_SPLIT in flags and the
 *   protocol header length in hdr_len; its used length is the full length
 *   of segment 0 plus the payload bytes (the gap after the headers counts,
 *   so byte offsets in the chain stay linear).  A frame that is not split
 *   (fragment, unknown protocol, headers longer than segment 0, a chain of
 *   one segment, no payload, payload longer than the chain) is placed as
 *   without the feature, flag clear.  num_buffers is 1 for a split frame.
 * VQ_NET_F_SPLIT_B: mergeable page buffers, headers at an offset so that the
 *   payload starts page-aligned in the next buffer.  Reserved, not built.
 * VQ_NET_F_SPLIT_C: separate small header buffers and page buffers in a
 *   driver-chosen ratio.  Reserved, not built.
 * VQ_NET_F_SPLIT_HDR_RING: a per-rx-queue ring of fixed-size header
 *   buffers configured once.  Reserved, not built.
 */
#define VQ_NET_F_SPLIT_A_BIT        42
#define VQ_NET_F_SPLIT_B_BIT        43
#define VQ_NET_F_SPLIT_C_BIT        44
#define VQ_NET_F_SPLIT_HDR_RING_BIT 45
#define VQ_NET_F_SPLIT_A        (1ull << VQ_NET_F_SPLIT_A_BIT)
#define VQ_NET_F_SPLIT_B        (1ull << VQ_NET_F_SPLIT_B_BIT)
#define VQ_NET_F_SPLIT_C        (1ull << VQ_NET_F_SPLIT_C_BIT)
#define VQ_NET_F_SPLIT_HDR_RING (1ull << VQ_NET_F_SPLIT_HDR_RING_BIT)
#define VQ_NET_F_SPLIT_ALL (VQ_NET_F_SPLIT_A | VQ_NET_F_SPLIT_B | VQ_NET_F_SPLIT_C | \
			    VQ_NET_F_SPLIT_HDR_RING)
/* The ones a vq_net can offer today. */
#define VQ_NET_F_SPLIT_IMPLEMENTED VQ_NET_F_SPLIT_A

/* virtio_net_hdr.flags: this frame was split (EXPERIMENTAL, a bit that no
 * VIRTIO_NET_HDR_F_* uses). */
#define VQ_NET_HDR_F_SPLIT 0x80u
/* Longest protocol header the device splits off (longer: not split). */
#define VQ_NET_SPLIT_HDR_MAX 256u

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

/*
 * The same over the first buflen bytes of a frame of frame_len bytes (a
 * device copies a bounded prefix first): headers must lie inside
 * buf[0..buflen), IP length fields are checked against frame_len.  Returns
 * as vq_net_split_parse; -EINVAL also when buflen > frame_len.
 */
int vq_net_split_parse_prefix(const void *buf, size_t buflen, size_t frame_len,
			      struct vq_net_split_info *out);

#endif
