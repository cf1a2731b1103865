/* SPDX-License-Identifier: MIT */
/*
 * EXPERIMENTAL header/data split, device side (include/virtq/net_split.h).
 * Reached from rx_plain only when a VQ_NET_F_SPLIT_* feature is negotiated.
 * Method A: segment 0 of a receive chain takes the virtio-net header and the
 * protocol headers, segments 1.. the payload.  Anything that does not fit
 * that shape goes back to the caller (-EAGAIN) for unsplit placement.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/mem.h>

#include <virtq/net_split.h>

#include "net_internal.h"

/* Payload bytes from the frame into segments 1.. of e. */
static void a_copy_payload(const struct vq_elem *e, const struct vq_net_pkt *pkt, size_t off,
			   size_t left)
{
	for (unsigned i = 1; i < e->in_num && left; i++) {
		const struct iovec *v = &e->iov[e->out_num + i];
		size_t n = v->iov_len < left ? v->iov_len : left;

		n = vq__iov_to_buf(pkt->iov, pkt->iovcnt, off, v->iov_base, n);
		off += n;
		left -= n;
	}
}

/* Does e have Method A's shape for hs + hl header bytes and plen payload? */
static bool a_fits(const struct vq_elem *e, size_t hs, size_t hl, size_t plen)
{
	uint64_t room = 0;

	if (e->out_num || e->in_num < 2 || e->iov[0].iov_len < hs + hl)
		return false;
	for (unsigned i = 1; i < e->in_num; i++)
		room += e->iov[i].iov_len;
	return room >= plen;
}

/* The chain in the pool is readable: return it empty (as rx_bad_chain). */
static int a_bad_chain(struct vq__net_queue *q, struct vq_elem *e, unsigned *pushed)
{
	int r = vq_dev_push(q->vq, e, 0);

	VQ__NET_COUNT(q->st.errors, 1);
	q->pool.ne = q->pool.ni = 0;
	(*pushed)++;
	return r < 0 ? r : -EAGAIN;
}

int vq__net_rx_split(struct vq_net *n, struct vq__net_queue *q,
		     const struct virtio_net_hdr_v1 *h, const struct vq_net_pkt *pkt,
		     unsigned *pushed)
{
	struct vq__net_pool *p = &q->pool;
	uint8_t hb[sizeof(struct virtio_net_hdr_v1) + VQ_NET_SPLIT_HDR_MAX];
	struct virtio_net_hdr_v1 sh = *h;
	struct vq_net_split_info si;
	size_t hs = n->hdr_size, got;
	struct vq_elem *e;
	int hl, r;

	if (n->features & (VQ_NET_F_SPLIT_B | VQ_NET_F_SPLIT_C))
		return vq__net_rx_split_mrg(n, q, h, pkt, pushed);
	if (!(n->features & VQ_NET_F_SPLIT_A) || p->ne > 1)
		return -EAGAIN;
	/* Parse a copy: the frame may change under us; the copy is what we write. */
	got = vq__iov_to_buf(pkt->iov, pkt->iovcnt, 0, hb + hs,
			     pkt->len < VQ_NET_SPLIT_HDR_MAX ? pkt->len : VQ_NET_SPLIT_HDR_MAX);
	if ((hl = vq_net_split_parse_prefix(hb + hs, got, pkt->len, &si)) <= 0 ||
	    (uint32_t)hl == pkt->len)
		return -EAGAIN; /* not split: no payload, or must not be */
	if (p->ne == 1) { /* held by an earlier frame that did not fit it */
		e = &p->elem[0];
	} else {
		if ((r = vq__net_pool_pop(p, q->vq, &e)) <= 0)
			return r == -ENOBUFS ? -EAGAIN : r;
		if (e->out_num)
			return a_bad_chain(q, e, pushed);
	}
	if (!a_fits(e, hs, (size_t)hl, pkt->len - (size_t)hl))
		return -EAGAIN; /* held: the unsplit path takes it from the pool */
	sh.flags |= VQ_NET_HDR_F_SPLIT;
	sh.hdr_len = (uint16_t)hl;
	sh.num_buffers = 1;
	memcpy(hb, &sh, hs); /* a 10-byte header has no num_buffers */
	memcpy(e->iov[0].iov_base, hb, hs + (size_t)hl);
	a_copy_payload(e, pkt, (size_t)hl, pkt->len - (size_t)hl);
	/* iov_len of segment 0 <= chain length <= 2^32; payload <= 64 KiB */
	r = vq_dev_push_id(q->vq, e->id, e->ndesc,
			   (uint32_t)(e->iov[0].iov_len + pkt->len - (size_t)hl));
	p->ne = p->ni = 0;
	(*pushed)++;
	return r < 0 ? r : 1;
}

/* ======================================================================
 * Header ring (VQ_NET_F_SPLIT_HDR_RING)
 *
 * The control thread configures a ring (vq_net_split_set_hdr_ring, or the
 * VQ_NET_CTRL_SPLIT command) while the thread serving the pair may be
 * placing frames.  state hands the ring over: the configuring side writes
 * r and head only while state is not HR_ON and then stores HR_ON with
 * release; the data path uses r and head only after an acquire load saw
 * HR_ON, and gives the ring up (hostile tail) by storing HR_DISABLED with
 * release, after its last use of head.
 * ====================================================================== */

enum { HR_OFF = VQ__NET_HR_OFF, HR_ON = VQ__NET_HR_ON, HR_DISABLED = VQ__NET_HR_DISABLED };

int vq__net_split_init(struct vq_net *n)
{
	if (!(n->host_features & VQ_NET_F_SPLIT_HDR_RING))
		return 0;
	n->hring = calloc(n->p.max_pairs, sizeof(*n->hring));
	return n->hring ? 0 : -ENOMEM;
}

/* Every queue is stopped: no data path runs. */
void vq__net_split_reset(struct vq_net *n)
{
	if (n->hring)
		memset(n->hring, 0, n->p.max_pairs * sizeof(*n->hring));
}

void vq__net_split_fini(struct vq_net *n)
{
	free(n->hring);
	n->hring = NULL;
}

/* Can r be used as a header ring, through mem?  0 or -errno. */
static int hr_check(const struct vq_net_split_hdr_ring *r, const struct vq_mem *mem)
{
	uint64_t bytes, end, tend;

	if (r->entry_size < VQ_NET_SPLIT_ENTRY_MIN || r->entry_size > VQ_NET_SPLIT_ENTRY_MAX ||
	    r->entry_size % VQ_NET_SPLIT_ENTRY_ALIGN || !r->count ||
	    r->count > VQ_NET_SPLIT_COUNT_MAX || (r->count & (r->count - 1u)) ||
	    r->gpa % VQ_NET_SPLIT_ENTRY_ALIGN || (r->tail_gpa & 1))
		return -EINVAL;
	bytes = (uint64_t)r->entry_size * r->count; /* <= 2^27: no overflow */
	if (__builtin_add_overflow(r->gpa, bytes, &end) ||
	    __builtin_add_overflow(r->tail_gpa, 2u, &tend))
		return -EOVERFLOW;
	if (r->tail_gpa < end && tend > r->gpa)
		return -EINVAL; /* the tail inside the entries */
	if (!mem || !vq_mem_ptr(mem, r->gpa, bytes, VQ_MEM_WRITE) ||
	    !vq_mem_ptr(mem, r->tail_gpa, 2, VQ_MEM_READ))
		return -EFAULT;
	return 0;
}

/* Check r through mem and hand it to the data path of pair qp. */
static int hr_install(struct vq_net *n, unsigned qp, const struct vq_net_split_hdr_ring *r,
		      const struct vq_mem *mem)
{
	struct vq__net_hdr_ring *h;
	int e;

	if (!n->hring || qp >= n->p.max_pairs || !(n->features & VQ_NET_F_SPLIT_HDR_RING))
		return -EINVAL;
	h = &n->hring[qp];
	/* Acquire: pairs with the data path's release store of HR_DISABLED:
	 * its last use of head comes before our writes. */
	if (__atomic_load_n(&h->state, __ATOMIC_ACQUIRE) == HR_ON)
		return -EBUSY; /* configured once */
	if ((e = hr_check(r, mem)) < 0)
		return e;
	h->r = *r;
	h->head = 0;
	h->avail = 0;   /* the data path reads the tail at its first frame */
	h->base = NULL; /* and translates the ring then */
	h->tail = NULL;
	/* Release: r, head and the cache before HR_ON.  Pairs with the acquire load in
	 * vq__net_hdr_ring_put. */
	__atomic_store_n(&h->state, HR_ON, __ATOMIC_RELEASE);
	return 0;
}

int vq_net_split_set_hdr_ring(struct vq_net *n, unsigned qp,
			      const struct vq_net_split_hdr_ring *r)
{
	if (!n || !n->hring || qp >= n->p.max_pairs ||
	    !(n->features & VQ_NET_F_SPLIT_HDR_RING))
		return -EINVAL;
	if (!r) { /* the data path's own thread, or no traffic */
		__atomic_store_n(&n->hring[qp].state, HR_OFF, __ATOMIC_RELEASE);
		return 0;
	}
	if (!r->mem)
		return -EINVAL;
	return hr_install(n, qp, r, r->mem);
}

int vq__net_split_ctrl(struct vq_net *n, const struct vq_net_ctrl_cmd *c,
		       const struct vq_mem *mem)
{
	struct vq_net_split_hdr_ring r = {
		.mem = NULL, /* at every use: the rx queue's map, which follows the driver's */
		.gpa = c->u.hdr_ring.ring_addr, .tail_gpa = c->u.hdr_ring.tail_addr,
		.entry_size = c->u.hdr_ring.entry_size, .count = c->u.hdr_ring.count,
	};

	if (c->cmd != VQ_NET_CTRL_SPLIT_HDR_RING_SET)
		return -EOPNOTSUPP;
	return hr_install(n, c->u.hdr_ring.qp, &r, mem);
}

/* Translate the ring and the tail through the rx queue's map (or the one
 * given in-process), once per queue start: true when both are mapped. */
static bool hr_map(struct vq_net *n, struct vq__net_hdr_ring *h, unsigned qp)
{
	const struct vq_mem *mem = h->r.mem ? h->r.mem : vq_dev_mem(n->q[2u * qp].vq);

	/* entry_size * count <= 2^27 and gpa + that does not wrap (hr_check) */
	h->base = vq_mem_ptr(mem, h->r.gpa, (uint64_t)h->r.entry_size * h->r.count,
			     VQ_MEM_WRITE);
	h->tail = vq_mem_ptr(mem, h->r.tail_gpa, 2, VQ_MEM_READ);
	if (!h->base || !h->tail)
		h->base = NULL; /* unmapped since: fail closed, unsplit; retried */
	return h->base != NULL;
}

/*
 * Make sure the ring is mapped and an entry is known free: the entries the
 * last tail read said free are used up before the tail is read again.
 * Returns the free entries (> 0), 0 (none, or not mapped), or -1 when the
 * tail is hostile (the ring is then disabled, counted).  The caller holds
 * the frame's first receive buffer already (rx_split): a driver frees
 * entries before it posts the buffers it got back with them, so a tail
 * read before that buffer was popped could be stale and leave a frame
 * unsplit although an entry was free.
 */
static int hr_refill(struct vq_net *n, unsigned qp)
{
	struct vq__net_hdr_ring *h = &n->hring[qp];
	uint16_t tail, avail;

	if (!h->base && !hr_map(n, h, qp))
		return 0;
	if (h->avail)
		return h->avail;
	/* Acquire: pairs with the driver's release store of tail after it
	 * stopped reading the entries it hands back. */
	tail = __atomic_load_n(h->tail, __ATOMIC_ACQUIRE);
	avail = (uint16_t)(tail - h->head);
	if (avail > h->r.count) {
		/* Release: our uses of head before; pairs with hr_install's
		 * acquire load. */
		__atomic_store_n(&h->state, HR_DISABLED, __ATOMIC_RELEASE);
		VQ__NET_COUNT(n->q[2u * qp].st.errors, 1); /* the queue goes on unsplit */
		return -1;
	}
	h->avail = avail;
	return avail;
}

/* n bytes, 32 <= n <= 256, as two fixed-size copies that overlap: a few
 * moves, no call (headers are short and their length varies). */
static inline void copy_32_256(uint8_t *d, const uint8_t *src, size_t n)
{
	if (n <= 64) {
		memcpy(d, src, 32);
		memcpy(d + n - 32, src + n - 32, 32);
	} else if (n <= 128) {
		memcpy(d, src, 64);
		memcpy(d + n - 64, src + n - 64, 64);
	} else {
		memcpy(d, src, 128);
		memcpy(d + n - 128, src + n - 128, 128);
	}
}

_Static_assert(VQ_NET_SPLIT_HDR_MAX == 256, "copy_32_256 covers the parsed prefix");

/* The frame's first bytes, up to VQ_NET_SPLIT_HDR_MAX, into hb: a copy,
 * so the header we write is the one we parsed.  Returns the bytes. */
static size_t hr_copy_head(const struct vq_net_pkt *pkt, uint8_t *hb)
{
	size_t want = pkt->len < VQ_NET_SPLIT_HDR_MAX ? pkt->len : VQ_NET_SPLIT_HDR_MAX;

	if (want >= 32 && pkt->iovcnt && pkt->iov[0].iov_len >= want) { /* one piece */
		copy_32_256(hb, pkt->iov[0].iov_base, want);
		return want;
	}
	return vq__iov_to_buf(pkt->iov, pkt->iovcnt, 0, hb, want);
}

uint32_t vq__net_hdr_ring_put(struct vq_net *n, unsigned qp, struct virtio_net_hdr_v1 *h,
			      const struct vq_net_pkt *pkt)
{
	struct vq__net_hdr_ring *hr = n->hring ? &n->hring[qp] : NULL;
	uint8_t hb[VQ_NET_SPLIT_HDR_MAX];
	struct vq_net_split_info si;
	size_t got;
	int hl;

	/* Acquire: pairs with hr_install's release store of HR_ON. */
	if (!hr || __atomic_load_n(&hr->state, __ATOMIC_ACQUIRE) != HR_ON)
		return 0;
	if (__builtin_expect(!hr->avail || !hr->base, 0) && hr_refill(n, qp) <= 0)
		return 0;
	got = hr_copy_head(pkt, hb);
	hl = vq_net_split_parse_prefix(hb, got, pkt->len, &si);
	if (hl < 32 || (uint32_t)hl == pkt->len || (uint32_t)hl > hr->r.entry_size)
		return 0; /* a header is >= 14 + 20 + 8 bytes (Ethernet, IPv4, UDP) */
	/* count is a power of two: the index follows head across its wrap;
	 * the entry lies in the ring mapped whole (hr_map), hl <= entry_size */
	copy_32_256(hr->base + (size_t)(hr->head & (hr->r.count - 1u)) * hr->r.entry_size, hb,
		    (size_t)hl);
	h->flags |= VQ_NET_HDR_F_SPLIT;
	h->hdr_len = (uint16_t)hl;
	return (uint32_t)hl;
}

void vq__net_split_queue_set(struct vq_net *n, unsigned idx)
{
	if (n->hring && !(idx & 1) && idx / 2 < n->p.max_pairs)
		n->hring[idx / 2].base = NULL; /* translated again at the next frame */
}
