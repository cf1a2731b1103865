/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock packet headers: the pure parser of a tx chain's header and
 * the encoder of rx headers.  Fields are little-endian on the wire; virtq
 * targets little-endian hosts, and le*toh keeps the intent visible.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <virtq/vsock.h>

#include "devices/iov.h"

_Static_assert(sizeof(struct virtio_vsock_hdr) == VQ_VSOCK_HDR_LEN,
	       "virtio_vsock_hdr is 44 bytes on the wire");

void vq_vsock_hdr_decode(const struct virtio_vsock_hdr *in, struct vq_vsock_pkt *p)
{
	p->src_cid = le64toh(in->src_cid);
	p->dst_cid = le64toh(in->dst_cid);
	p->src_port = le32toh(in->src_port);
	p->dst_port = le32toh(in->dst_port);
	p->len = le32toh(in->len);
	p->type = le16toh(in->type);
	p->op = le16toh(in->op);
	p->flags = le32toh(in->flags);
	p->buf_alloc = le32toh(in->buf_alloc);
	p->fwd_cnt = le32toh(in->fwd_cnt);
}

void vq_vsock_hdr_encode(const struct vq_vsock_pkt *p, struct virtio_vsock_hdr *out)
{
	out->src_cid = htole64(p->src_cid);
	out->dst_cid = htole64(p->dst_cid);
	out->src_port = htole32(p->src_port);
	out->dst_port = htole32(p->dst_port);
	out->len = htole32(p->len);
	out->type = htole16(p->type);
	out->op = htole16(p->op);
	out->flags = htole32(p->flags);
	out->buf_alloc = htole32(p->buf_alloc);
	out->fwd_cnt = htole32(p->fwd_cnt);
}

static const char *check_rules(const struct vq_vsock_pkt *p, uint64_t payload_room,
			       uint64_t guest_cid, bool seqpacket)
{
	if (p->src_cid != guest_cid)
		return "source cid is not the guest's";
	if (p->dst_cid != VQ_VSOCK_HOST_CID)
		return "destination cid is not the host";
	if (p->type != VIRTIO_VSOCK_TYPE_STREAM &&
	    !(seqpacket && p->type == VIRTIO_VSOCK_TYPE_SEQPACKET))
		return "unknown or unnegotiated socket type";
	if (p->op < VIRTIO_VSOCK_OP_REQUEST || p->op > VIRTIO_VSOCK_OP_CREDIT_REQUEST)
		return "unknown op";
	if (p->len > payload_room)
		return "payload length beyond the chain";
	if (p->op != VIRTIO_VSOCK_OP_RW && p->len != 0)
		return "payload on a control packet";
	if (p->op == VIRTIO_VSOCK_OP_RW &&
	    (p->flags & ~(uint32_t)(VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR)))
		return "unknown RW flags";
	if (p->op == VIRTIO_VSOCK_OP_RW && p->type == VIRTIO_VSOCK_TYPE_STREAM && p->flags)
		return "message flags on a stream";
	if (p->op == VIRTIO_VSOCK_OP_SHUTDOWN &&
	    (p->flags & ~(uint32_t)(VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)))
		return "unknown SHUTDOWN flags";
	return NULL;
}

int vq_vsock_parse(const struct iovec *iov, unsigned niov, uint64_t out_len,
		   uint64_t guest_cid, bool seqpacket, struct vq_vsock_pkt *pkt,
		   const char **why)
{
	struct virtio_vsock_hdr h;
	const char *bad;

	if (out_len < VQ_VSOCK_HDR_LEN || vq__iov_to_buf(iov, niov, 0, &h, sizeof(h)) != sizeof(h)) {
		if (why)
			*why = "chain shorter than a packet header";
		return -EMSGSIZE;
	}
	vq_vsock_hdr_decode(&h, pkt);
	bad = check_rules(pkt, out_len - VQ_VSOCK_HDR_LEN, guest_cid, seqpacket);
	if (why)
		*why = bad ? bad : "";
	return bad ? -EBADMSG : 0;
}
