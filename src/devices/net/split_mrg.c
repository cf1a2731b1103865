/* SPDX-License-Identifier: MIT */
/*
 * EXPERIMENTAL header/data split over mergeable buffers (net_split.h):
 * Method B (page buffers, protocol headers at the end of the first so the
 * payload starts at offset 0 of the second) and Method C (small header
 * buffers and page buffers in the ring, in the driver's ratio).  Reached
 * from vq__net_rx_split.  Chains are gathered in the queue's pool as
 * rx_gather does; anything that does not have the method's shape returns
 * -EAGAIN with the chains held, and the unsplit path places the frame in
 * them (mergeable: every chain used in full but the last).
 */
#include <errno.h>
#include <string.h>

#include <virtq/net_split.h>

#include "net_internal.h"

/* Write len bytes of src at byte off of e's writable segments. */
static void elem_write(const struct vq_elem *e, uint64_t off, const void *src, size_t len)
{
	const uint8_t *s = src;

	for (unsigned i = 0; i < e->in_num && len; i++) {
		const struct iovec *v = &e->iov[e->out_num + i];
		size_t n;

		if (off >= v->iov_len) {
			off -= v->iov_len;
			continue;
		}
		n = v->iov_len - off < len ? v->iov_len - off : len;
		memcpy((uint8_t *)v->iov_base + off, s, n);
		s += n;
		len -= n;
		off = 0;
	}
}

/* Payload bytes [off, off+len) of pkt into e's writable segments from 0. */
static size_t elem_fill(const struct vq_elem *e, const struct vq_net_pkt *pkt, size_t off,
			size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < e->in_num && done < len; i++) {
		const struct iovec *v = &e->iov[e->out_num + i];
		size_t n = v->iov_len < len - done ? v->iov_len : len - done;

		done += vq__iov_to_buf(pkt->iov, pkt->iovcnt, off + done, v->iov_base, n);
	}
	return done;
}

/*
 * Make chain k of the pool available, popping when k == ne.  1 ready, 0 the
 * ring is empty (chains held), -EAGAIN the pool may not grow or a readable
 * chain was handed back (the unsplit path goes on), or the ring's error.
 */
static int chain_at(struct vq_net *n, struct vq__net_queue *q, unsigned k, unsigned *pushed)
{
	struct vq__net_pool *p = &q->pool;
	struct vq_elem *e;
	int r;

	if (k < p->ne)
		return 1;
	if ((r = vq__net_pool_pop(p, q->vq, &e)) <= 0)
		return r == -ENOBUFS ? -EAGAIN : r;
	if (!e->out_num)
		return 1;
	r = vq__net_rx_bad_chain(n, q, pushed);
	return r < 0 ? r : -EAGAIN;
}

/* The split point of pkt, its headers copied to hb[0..ret).  0: no split. */
static uint32_t split_point(const struct vq_net_pkt *pkt, uint8_t hb[VQ_NET_SPLIT_HDR_MAX])
{
	struct vq_net_split_info si;
	size_t got = vq__iov_to_buf(pkt->iov, pkt->iovcnt, 0, hb,
				    pkt->len < VQ_NET_SPLIT_HDR_MAX ? pkt->len : VQ_NET_SPLIT_HDR_MAX);
	int hl = vq_net_split_parse_prefix(hb, got, pkt->len, &si);

	return hl <= 0 || (uint32_t)hl == pkt->len ? 0 : (uint32_t)hl;
}

/*
 * Gather the payload chains 1.. after chain 0 until they hold plen bytes.
 * Method C (hdr_max > 0): a chain shorter than hdr_max is a header buffer
 * and may not carry payload.  Returns the chains of the frame (>= 2), 0 dry,
 * -EAGAIN not this shape, or the ring's error.
 */
static int gather_payload(struct vq_net *n, struct vq__net_queue *q, uint64_t plen,
			  uint64_t hdr_max, unsigned *pushed)
{
	uint64_t room = 0;
	unsigned k = 1;
	int r;

	while (room < plen) {
		if ((r = chain_at(n, q, k, pushed)) <= 0)
			return r;
		if (q->pool.elem[k].in_len < hdr_max)
			return -EAGAIN; /* C: a header buffer inside the payload */
		room += q->pool.elem[k++].in_len; /* <= 2^16 chains of <= 2^32 */
		if (k > UINT16_MAX)
			return -EAGAIN; /* num_buffers cannot say it */
	}
	return (int)k;
}

/*
 * Write the frame: header sh at 0 of chain 0, the protocol headers hb at
 * hoff of it (used: used0), the payload into chains 1..k-1 (all but the
 * last used in full); push the k chains.  Returns 1 or the ring's error.
 */
static int place(struct vq__net_queue *q, struct virtio_net_hdr_v1 *sh, size_t hs,
		 const uint8_t *hb, uint32_t hl, uint64_t hoff, uint32_t used0,
		 const struct vq_net_pkt *pkt, unsigned k, unsigned *pushed)
{
	struct vq_elem *e = q->pool.elem;
	size_t off = hl, left = pkt->len - hl;
	int r;

	sh->flags |= VQ_NET_HDR_F_SPLIT;
	sh->hdr_len = (uint16_t)hl;
	sh->num_buffers = (uint16_t)k;
	elem_write(&e[0], 0, sh, hs);
	elem_write(&e[0], hoff, hb, hl);
	for (unsigned i = 1; i < k; i++) {
		size_t got = elem_fill(&e[i], pkt, off, left);

		off += got;
		left -= got;
	}
	r = vq_dev_push(q->vq, &e[0], used0);
	left = pkt->len - hl;
	for (unsigned i = 1; i < k && r >= 0; i++) {
		uint32_t u = (uint32_t)(e[i].in_len < left ? e[i].in_len : left);

		left -= u;
		r = vq_dev_push(q->vq, &e[i], u);
	}
	vq__net_pool_consume(&q->pool, k);
	*pushed += k;
	return r < 0 ? r : 1;
}

/* Method B: chain 0 holds the virtio-net header at 0 and the protocol
 * headers at its end; used in full. */
static int rx_b(struct vq_net *n, struct vq__net_queue *q, struct virtio_net_hdr_v1 *sh,
		const struct vq_net_pkt *pkt, unsigned *pushed)
{
	uint8_t hb[VQ_NET_SPLIT_HDR_MAX];
	size_t hs = n->hdr_size;
	uint32_t hl = split_point(pkt, hb);
	uint64_t len0;
	int r, k;

	if (!hl)
		return -EAGAIN;
	if ((r = chain_at(n, q, 0, pushed)) <= 0)
		return r;
	len0 = q->pool.elem[0].in_len;
	if (len0 < hs + hl || len0 > UINT32_MAX)
		return -EAGAIN; /* held: placed unsplit */
	if ((k = gather_payload(n, q, pkt->len - hl, 0, pushed)) <= 0)
		return k;
	return place(q, sh, hs, hb, hl, len0 - hl, (uint32_t)len0, pkt, (unsigned)k, pushed);
}

/* Method C: chain 0 is a header buffer holding header and protocol headers
 * back to back; the payload chains are data buffers. */
static int rx_c(struct vq_net *n, struct vq__net_queue *q, struct virtio_net_hdr_v1 *sh,
		const struct vq_net_pkt *pkt, unsigned *pushed)
{
	uint8_t hb[VQ_NET_SPLIT_HDR_MAX];
	size_t hs = n->hdr_size;
	uint32_t hl;
	uint64_t len0;
	int r, k;

	if ((r = chain_at(n, q, 0, pushed)) <= 0)
		return r;
	len0 = q->pool.elem[0].in_len;
	/* A data buffer first, or a frame that fits whole: unsplit. */
	if (len0 >= VQ_NET_SPLIT_C_DATA_MIN || hs + pkt->len <= len0)
		return -EAGAIN;
	if (!(hl = split_point(pkt, hb)) || hs + hl > len0)
		return -EAGAIN;
	if ((k = gather_payload(n, q, pkt->len - hl, VQ_NET_SPLIT_C_DATA_MIN, pushed)) <= 0)
		return k;
	return place(q, sh, hs, hb, hl, hs, (uint32_t)(hs + hl), pkt, (unsigned)k, pushed);
}

int vq__net_rx_split_mrg(struct vq_net *n, struct vq__net_queue *q,
			 const struct virtio_net_hdr_v1 *h, const struct vq_net_pkt *pkt,
			 unsigned *pushed)
{
	struct virtio_net_hdr_v1 sh = *h;

	if (n->features & VQ_NET_F_SPLIT_B)
		return rx_b(n, q, &sh, pkt, pushed);
	if (n->features & VQ_NET_F_SPLIT_C)
		return rx_c(n, q, &sh, pkt, pushed);
	return -EAGAIN;
}
