/* SPDX-License-Identifier: MIT */
/*
 * Pure parsers of what the guest sends: the tx virtio header and control
 * commands.  No device state, no side effects: fuzz targets call these.
 */
#include <errno.h>
#include <string.h>

#include <virtq/net_split.h>

#include "net_internal.h"

static int hdr_check_csum(uint64_t f, const struct virtio_net_hdr_v1 *h, uint64_t frame_len)
{
	uint32_t end;

	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return 0;
	if (!VQ__NET_HAS(f, VIRTIO_NET_F_CSUM))
		return -EINVAL; /* driver MUST set flags to zero */
	/* csum_start + csum_offset + 2 bytes of checksum inside the frame */
	end = (uint32_t)h->csum_start + h->csum_offset + 2u;
	return end <= frame_len ? 0 : -EINVAL;
}

static int hdr_check_gso(uint64_t f, const struct virtio_net_hdr_v1 *h)
{
	uint8_t type = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	switch (type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return (h->gso_type & VIRTIO_NET_HDR_GSO_ECN) ? -EINVAL : 0;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!VQ__NET_HAS(f, VIRTIO_NET_F_HOST_TSO4))
			return -EINVAL;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!VQ__NET_HAS(f, VIRTIO_NET_F_HOST_TSO6))
			return -EINVAL;
		break;
	default: /* UFO and USO are not offered */
		return -EINVAL;
	}
	/* A GSO frame needs a partial checksum and an MSS. */
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || h->gso_size == 0)
		return -EINVAL;
	return 0;
}

int vq_net_hdr_parse(uint64_t features, const void *buf, size_t buflen,
		     uint64_t frame_len, struct virtio_net_hdr_v1 *out)
{
	size_t hs = vq_net_hdr_size(features);
	struct virtio_net_hdr_v1 h;
	int r;

	if (!buf || !out || buflen < hs)
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	memcpy(&h, buf, sizeof(struct virtio_net_hdr)); /* 10 bytes; num_buffers ignored */
	if (frame_len < VQ_NET_MIN_FRAME || frame_len > VQ_NET_MAX_FRAME)
		return -EINVAL;
	/* The device ignores flag bits it does not recognise (DATA_VALID and
	 * RSC_INFO are not for the driver to set). */
	h.flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM;
	if ((r = hdr_check_csum(features, &h, frame_len)) < 0 ||
	    (r = hdr_check_gso(features, &h)) < 0)
		return r;
	if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		h.csum_start = h.csum_offset = 0; /* MUST NOT be used */
	*out = h;
	return 0;
}

/* ---- control commands */

static int parse_rx(const uint8_t *d, size_t len, struct vq_net_ctrl_cmd *c)
{
	if (c->cmd > VIRTIO_NET_CTRL_RX_NOBCAST)
		return -EOPNOTSUPP;
	if (len != 1)
		return -EINVAL;
	c->u.on = d[0];
	return 0;
}

/* One struct virtio_net_ctrl_mac { le32 entries; u8 macs[entries][6]; }. */
static int parse_mac_list(const uint8_t *d, size_t len, size_t *used, uint32_t *n,
			  const uint8_t **macs)
{
	uint32_t entries;
	uint64_t bytes;

	if (len < 4)
		return -EINVAL;
	memcpy(&entries, d, 4);
	bytes = 4 + (uint64_t)entries * 6; /* cannot wrap: entries < 2^32 */
	if (bytes > len)
		return -EINVAL;
	*n = entries;
	*macs = d + 4;
	*used = (size_t)bytes;
	return 0;
}

static int parse_mac(const uint8_t *d, size_t len, struct vq_net_ctrl_cmd *c)
{
	size_t a, b;

	switch (c->cmd) {
	case VIRTIO_NET_CTRL_MAC_ADDR_SET:
		if (len != 6)
			return -EINVAL;
		memcpy(c->u.mac, d, 6);
		return 0;
	case VIRTIO_NET_CTRL_MAC_TABLE_SET:
		if (parse_mac_list(d, len, &a, &c->u.table.n_uni, &c->u.table.uni) < 0 ||
		    parse_mac_list(d + a, len - a, &b, &c->u.table.n_multi,
				   &c->u.table.multi) < 0 || a + b != len)
			return -EINVAL;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static int parse_mq(const uint8_t *d, size_t len, struct vq_net_ctrl_cmd *c)
{
	if (c->cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET)
		return -EOPNOTSUPP;
	if (len != 2)
		return -EINVAL;
	memcpy(&c->u.pairs, d, 2);
	return 0;
}

/* The experimental class must not be one <linux/virtio_net.h> hands out. */
_Static_assert(VQ_NET_CTRL_SPLIT != VIRTIO_NET_CTRL_RX && VQ_NET_CTRL_SPLIT != VIRTIO_NET_CTRL_MAC &&
	       VQ_NET_CTRL_SPLIT != VIRTIO_NET_CTRL_VLAN &&
	       VQ_NET_CTRL_SPLIT != VIRTIO_NET_CTRL_ANNOUNCE &&
	       VQ_NET_CTRL_SPLIT != VIRTIO_NET_CTRL_MQ &&
	       VQ_NET_CTRL_SPLIT != VIRTIO_NET_CTRL_GUEST_OFFLOADS,
	       "VQ_NET_CTRL_SPLIT collides with a VIRTIO_NET_CTRL_* class");
#ifdef VIRTIO_NET_CTRL_NOTF_COAL
_Static_assert(VQ_NET_CTRL_SPLIT != VIRTIO_NET_CTRL_NOTF_COAL, "class collides");
#endif
#ifdef VIRTIO_NET_CTRL_STATS
_Static_assert(VQ_NET_CTRL_SPLIT != VIRTIO_NET_CTRL_STATS, "class collides");
#endif
_Static_assert(sizeof(struct vq_net_ctrl_split_hdr_ring) == 24, "wire layout");

/* EXPERIMENTAL: struct vq_net_ctrl_split_hdr_ring, exactly. */
static int parse_split(const uint8_t *d, size_t len, struct vq_net_ctrl_cmd *c)
{
	struct vq_net_ctrl_split_hdr_ring w;

	if (c->cmd != VQ_NET_CTRL_SPLIT_HDR_RING_SET)
		return -EOPNOTSUPP;
	if (len != sizeof(w))
		return -EINVAL;
	memcpy(&w, d, sizeof(w)); /* little-endian host */
	c->u.hdr_ring.ring_addr = w.ring_addr;
	c->u.hdr_ring.tail_addr = w.tail_addr;
	c->u.hdr_ring.entry_size = w.entry_size;
	c->u.hdr_ring.count = w.count;
	c->u.hdr_ring.qp = w.qp;
	return 0;
}

int vq_net_ctrl_parse(const void *buf, size_t len, struct vq_net_ctrl_cmd *out)
{
	const uint8_t *b = buf;

	if (!out || (!buf && len))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (len < 2)
		return -EINVAL;
	out->cls = b[0];
	out->cmd = b[1];
	switch (out->cls) {
	case VIRTIO_NET_CTRL_RX:
		return parse_rx(b + 2, len - 2, out);
	case VIRTIO_NET_CTRL_MAC:
		return parse_mac(b + 2, len - 2, out);
	case VIRTIO_NET_CTRL_MQ:
		return parse_mq(b + 2, len - 2, out);
	case VQ_NET_CTRL_SPLIT:
		return parse_split(b + 2, len - 2, out);
	default:
		return -EOPNOTSUPP;
	}
}
