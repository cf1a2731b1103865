/* SPDX-License-Identifier: MIT */
/*
 * Data path: tx bursts (zero-copy views of guest frames) and rx bursts
 * (copies into the guest's receive buffers: mergeable, big or small).
 *
 * Receive buffers and rollback.  Pops are final, so the device never pushes
 * a chain before it knows the frame fits.  For each frame it gathers chains
 * into the queue's pool (struct vq__net_pool) until their writable bytes
 * cover header + frame; only then does it copy, write num_buffers and push
 * them.  When the ring runs dry first, the gathered chains stay in the pool,
 * in pop order, and the burst stops (backpressure): the next frame, in this
 * burst or the next, starts with them.  A frame that can never fit (no
 * MRG_RXBUF and a chain too small; more chains than the pool may hold) is
 * dropped and counted, and its chains are kept for the next frame.  So the
 * guest only ever sees whole frames, and no empty buffers.
 */
#include <errno.h>
#include <string.h>

#include <virtq/net_split.h>

#include "net_internal.h"

static struct vq__net_queue *pair_queue(struct vq_net *n, unsigned qp, unsigned tx)
{
	if (qp >= n->p.max_pairs)
		return NULL;
	return &n->q[2u * qp + tx];
}

/* ======================================================================
 * TX
 * ====================================================================== */

/* Validate one tx chain and describe its frame in pkt.  0 or -errno. */
static int tx_prepare_slow(const struct vq_net *n, struct vq_elem *e, struct vq_net_pkt *pkt)
{
	uint8_t hb[sizeof(struct virtio_net_hdr_v1)];
	size_t hs = n->hdr_size, skip = hs;
	uint64_t flen;
	unsigned k = 0;
	int r;

	if (e->in_num || e->out_len < hs)
		return -EINVAL;
	flen = e->out_len - hs;
	if (e->iov[0].iov_len >= hs)
		memcpy(hb, e->iov[0].iov_base, hs);
	else
		vq__iov_to_buf(e->iov, e->out_num, 0, hb, hs); /* split header */
	if ((r = vq_net_hdr_parse(n->features, hb, hs, flen, &pkt->hdr)) < 0)
		return r;
	if (VQ__NET_HAS(n->features, VIRTIO_NET_F_MTU) &&
	    pkt->hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE && flen > n->p.mtu + 18u)
		return -EMSGSIZE; /* Ethernet + VLAN tag over the MTU */
	while (k < e->out_num && skip >= e->iov[k].iov_len) /* the frame starts in k */
		skip -= e->iov[k++].iov_len;
	e->iov[k].iov_base = (uint8_t *)e->iov[k].iov_base + skip; /* k < out_num: flen >= 14 */
	e->iov[k].iov_len -= skip;
	pkt->iov = e->iov + k;
	pkt->iovcnt = e->out_num - k;
	pkt->len = (uint32_t)flen;
	return 0;
}

/*
 * The same, inline for the layout virtio-user and Linux use ("can_push"):
 * header and frame start in the first readable segment v[0], longer than
 * the header; out_num readable segments, out_len bytes.  Same checks; the
 * header is copied out of guest memory once, then validated.
 */
static inline __attribute__((always_inline))
int tx_prepare_in(const struct vq_net *n, struct iovec *v, unsigned out_num, uint64_t out_len,
		  struct vq_net_pkt *pkt)
{
	struct virtio_net_hdr_v1 h = { 0 };
	size_t hs = n->hdr_size;
	uint64_t flen = out_len - hs; /* out_len >= iov_len > hs */

	memcpy(&h, v[0].iov_base, sizeof(struct virtio_net_hdr)); /* 10 bytes */
	if (vq__net_hdr_parse_fast(n->features, &h, flen, &pkt->hdr) < 0)
		return -EINVAL;
	if (VQ__NET_HAS(n->features, VIRTIO_NET_F_MTU) &&
	    pkt->hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE && flen > n->p.mtu + 18u)
		return -EMSGSIZE; /* Ethernet + VLAN tag over the MTU */
	v[0].iov_base = (uint8_t *)v[0].iov_base + hs;
	v[0].iov_len -= hs;
	pkt->iov = v;
	pkt->iovcnt = out_num;
	pkt->len = (uint32_t)flen;
	return 0;
}

/* A popped chain: tx_prepare_in when it has that layout, else the slow way. */
static inline __attribute__((always_inline))
int tx_prepare(const struct vq_net *n, struct vq_elem *e, struct vq_net_pkt *pkt)
{
	if (e->in_num || e->out_num == 0 || e->iov[0].iov_len <= n->hdr_size)
		return tx_prepare_slow(n, e, pkt);
	return tx_prepare_in(n, e->iov, e->out_num, e->out_len, pkt);
}

/* Nothing written into a tx chain: the used length of each. */
static const uint32_t tx_used_len[VQ_NET_BURST_MAX];

static int tx_complete(struct vq_net *n, struct vq__net_queue *q, unsigned qp)
{
	/* Pop order: IN_ORDER safe.  ne <= VQ_NET_BURST_MAX (the tx pool's most). */
	int r = q->npeek ? vq_dev_use_peeked(q->vq, q->peek, tx_used_len, q->npeek) :
			   vq_dev_push_burst(q->vq, q->pool.elem, tx_used_len, q->pool.ne);

	r = r < 0 ? r : 0;
	q->npeek = 0;
	q->pool.ne = q->pool.ni = 0;
	q->busy = false;
	vq__net_notify(n, 2u * qp + 1);
	return r;
}

void vq__net_tx_release(struct vq_net *n, struct vq__net_queue *q, unsigned qp)
{
	if (q->busy)
		tx_complete(n, q, qp);
}

/* A tx burst's end: its counts; with no frame for the caller, the bad
 * buffers go back now.  Returns cnt. */
static int tx_handed(struct vq_net *n, struct vq__net_queue *q, unsigned qp, int cnt,
		     uint64_t bytes, unsigned errs)
{
	VQ__NET_COUNT(q->st.packets, (unsigned)cnt);
	VQ__NET_COUNT(q->st.bytes, bytes);
	VQ__NET_COUNT(q->st.errors, errs);
	if (cnt == 0)
		tx_complete(n, q, qp);
	return cnt;
}

/* The frames of k buffers vq_dev_peek returned, for the caller until
 * vq_net_tx_done (which returns the buffers with vq_dev_use_peeked).  The
 * count handed out, as vq_net_tx_burst. */
static int tx_peeked(struct vq_net *n, struct vq__net_queue *q, unsigned qp,
		     struct vq_net_pkt **pkts, unsigned k)
{
	size_t hs = n->hdr_size;
	uint64_t bytes = 0;
	unsigned errs = 0;
	int cnt = 0;

	for (unsigned i = 0; i < k; i++)
		__builtin_prefetch(q->peek[i].base);
	q->npeek = k;
	q->busy = true;
	for (unsigned i = 0; i < k; i++) {
		struct vq_net_pkt *pkt = &q->pkt[cnt];
		struct iovec *v = &q->pool.iov[i]; /* the pool is empty: its iovecs are free */

		*v = (struct iovec){ q->peek[i].base, q->peek[i].len };
		if (q->peek[i].len <= hs || tx_prepare_in(n, v, 1, q->peek[i].len, pkt) < 0) {
			errs++; /* as tx_prepare_slow: no frame after the header */
			continue;
		}
		bytes += pkt->len;
		pkts[cnt++] = pkt;
	}
	return tx_handed(n, q, qp, cnt, bytes, errs);
}

int vq_net_tx_burst(struct vq_net *n, unsigned qp, struct vq_net_pkt **pkts, unsigned max)
{
	struct vq__net_queue *q = pair_queue(n, qp, 1);
	uint64_t bytes = 0;
	struct vq_elem *e;
	unsigned ne, errs = 0;
	int r = 0, cnt = 0;

	if (!q || !q->vq)
		return -ENOTCONN;
	if (q->busy)
		return -EBUSY;
	if (max > VQ_NET_BURST_MAX)
		max = VQ_NET_BURST_MAX;
	q->pool.ne = q->pool.ni = 0;
	/* Frames read in place, each in one buffer.  When every one of them
	 * was bad (each went back already), on to what follows them. */
	if ((r = vq_dev_peek(q->vq, q->peek, max, false)) < 0)
		return r == -EAGAIN ? 0 : r;
	if (r > 0 && (r = tx_peeked(n, q, qp, pkts, (unsigned)r)) != 0)
		return r;
	/* Pop the burst first (one ring call; one at a time for the rest when
	 * a chain needed more iovecs), starting the loads of every header. */
	r = vq__net_pool_pop_burst(&q->pool, q->vq, max);
	while (r > 0 && q->pool.ne < max && (r = vq__net_pool_pop(&q->pool, q->vq, &e)) > 0)
		;
	if ((ne = q->pool.ne) == 0)
		return r < 0 ? r : 0;
	for (unsigned i = 0; i < ne; i++)
		if (q->pool.elem[i].out_num)
			__builtin_prefetch(q->pool.elem[i].iov[0].iov_base);
	q->busy = true;
	/* Second pass: the pool may have moved while popping. */
	for (unsigned i = 0; i < ne; i++) {
		struct vq_net_pkt *pkt = &q->pkt[cnt];

		if (tx_prepare(n, &q->pool.elem[i], pkt) < 0) {
			errs++;
			continue;
		}
		bytes += pkt->len;
		pkts[cnt++] = pkt;
	}
	return tx_handed(n, q, qp, cnt, bytes, errs);
}

int vq_net_tx_done(struct vq_net *n, unsigned qp)
{
	struct vq__net_queue *q = pair_queue(n, qp, 1);

	if (!q || !q->vq)
		return -ENOTCONN;
	return q->busy ? tx_complete(n, q, qp) : 0;
}

/* ======================================================================
 * RX
 * ====================================================================== */

struct rx_ctx {
	struct vq_net *n;
	struct vq__net_queue *q;
	unsigned pushed; /* chains pushed since the last flush */
};

/* Writes across the writable segments of consecutive chains. */
struct rx_dst {
	struct vq_elem *e;
	unsigned ne, ei, si;
	size_t so;
};

static void dst_write(struct rx_dst *d, const void *src, size_t len)
{
	const uint8_t *s = src;

	while (len && d->ei < d->ne) {
		struct vq_elem *e = &d->e[d->ei];
		struct iovec *v;
		size_t room;

		if (d->si == e->in_num) {
			d->ei++;
			d->si = 0;
			continue;
		}
		v = &e->iov[e->out_num + d->si];
		room = v->iov_len - d->so;
		if (room > len)
			room = len;
		memcpy((uint8_t *)v->iov_base + d->so, s, room);
		s += room;
		len -= room;
		d->so += room;
		if (d->so == v->iov_len) {
			d->si++;
			d->so = 0;
		}
	}
}

static void dst_copy(struct rx_dst *d, const struct vq__net_src *s)
{
	struct vq__iov_iter it;
	uint8_t *p;
	size_t n;

	vq__iov_iter_init(&it, s->iov, s->cnt, s->off, s->len);
	while ((n = vq__iov_next(&it, &p)) > 0)
		dst_write(d, p, n);
}

/* A receive chain with device-readable segments (the last one popped into
 * the pool): return it empty, counted.  With IN_ORDER the chains held
 * before it go back empty too (used in pop order). */
int vq__net_rx_bad_chain(struct vq_net *n, struct vq__net_queue *q, unsigned *pushed)
{
	struct vq__net_pool *p = &q->pool;
	struct vq_elem *bad = &p->elem[p->ne - 1];
	int r = 0;

	VQ__NET_COUNT(q->st.errors, 1);
	if (n->features & VQ_F_IN_ORDER) {
		for (unsigned i = 0; i < p->ne && r == 0; i++)
			r = vq_dev_push(q->vq, &p->elem[i], 0);
		*pushed += p->ne;
		p->ne = p->ni = 0;
		return r;
	}
	r = vq_dev_push(q->vq, bad, 0);
	p->ni -= bad->out_num + bad->in_num;
	p->ne--;
	(*pushed)++;
	return r;
}

static int rx_bad_chain(struct rx_ctx *c)
{
	return vq__net_rx_bad_chain(c->n, c->q, &c->pushed);
}

/*
 * Gather chains covering need bytes.  Returns their number (>= 1), 0 when
 * the ring ran dry (chains kept), -EMSGSIZE when the frame cannot fit
 * (chains kept), or the ring's error.
 */
static int rx_gather(struct rx_ctx *c, uint64_t need)
{
	struct vq__net_pool *p = &c->q->pool;
	bool mrg = VQ__NET_HAS(c->n->features, VIRTIO_NET_F_MRG_RXBUF);
	uint64_t have = 0;
	unsigned k = 0;
	struct vq_elem *e;
	int r;

	for (;;) {
		if (k == p->ne) {
			r = vq__net_pool_pop(p, c->q->vq, &e);
			if (r <= 0)
				return r == -ENOBUFS ? -EMSGSIZE : r;
			if (e->out_num) {
				if ((r = rx_bad_chain(c)) < 0)
					return r;
				k = p->ne < k ? p->ne : k;
				have = 0;
				for (unsigned i = 0; i < k; i++)
					have += p->elem[i].in_len;
				continue;
			}
		}
		/* in_len <= 2^32 and k <= 2^16 chains: no overflow */
		have += p->elem[k++].in_len;
		if (have >= need)
			return (int)k;
		if (!mrg)
			return -EMSGSIZE; /* one chain per frame */
	}
}

/*
 * Copy one frame (hdr, then the pieces src[0..nsrc)) into the rx ring.
 * Returns 1 when delivered, 0 when out of buffers, -EMSGSIZE when it cannot
 * fit, or the ring's error.
 */
static int rx_deliver(struct rx_ctx *c, const struct virtio_net_hdr_v1 *hdr,
		      const struct vq__net_src *src, unsigned nsrc, uint32_t len)
{
	struct vq__net_pool *p = &c->q->pool;
	size_t hs = c->n->hdr_size;
	uint64_t left = hs + (uint64_t)len;
	struct virtio_net_hdr_v1 h = *hdr;
	struct rx_dst d;
	int k, r = 0;

	if ((k = rx_gather(c, left)) <= 0)
		return k;
	h.num_buffers = (uint16_t)k; /* absent from a 10-byte header */
	d = (struct rx_dst){ .e = p->elem, .ne = (unsigned)k };
	dst_write(&d, &h, hs);
	for (unsigned i = 0; i < nsrc; i++)
		dst_copy(&d, &src[i]);
	for (int i = 0; i < k && r == 0; i++) { /* all but the last used in full */
		uint32_t used = (uint32_t)(p->elem[i].in_len < left ? p->elem[i].in_len : left);

		left -= used;
		r = vq_dev_push(c->q->vq, &p->elem[i], used);
	}
	vq__net_pool_consume(p, (unsigned)k);
	c->pushed += (unsigned)k;
	return r < 0 ? r : 1;
}

/* Map a delivery result to the frame's fate; counts.  1 consumed, 0 stop. */
static int rx_account(struct rx_ctx *c, int r, uint32_t len)
{
	if (r == 1) {
		VQ__NET_COUNT(c->q->st.packets, 1);
		VQ__NET_COUNT(c->q->st.bytes, len);
	} else if (r == -EMSGSIZE) {
		VQ__NET_COUNT(c->q->st.drops, 1);
		r = 1;
	}
	return r;
}

/* rx_hdr's checksum part, all of it for a frame without GSO (csum: the
 * receiver negotiated VIRTIO_NET_F_GUEST_CSUM).  Inline for rx_fast. */
static inline __attribute__((always_inline))
void rx_hdr_csum(bool csum, const struct virtio_net_hdr_v1 *in, struct virtio_net_hdr_v1 *out)
{
	memset(out, 0, sizeof(*out));
	if (!csum)
		return; /* flags MUST be zero */
	out->flags = in->flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID);
	if (out->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		out->csum_start = in->csum_start;
		out->csum_offset = in->csum_offset;
	}
}

/* The header the receiver may see: offloads it negotiated, nothing else. */
static void rx_hdr(const struct vq_net *n, const struct virtio_net_hdr_v1 *in,
		   struct virtio_net_hdr_v1 *out)
{
	bool csum = VQ__NET_HAS(n->features, VIRTIO_NET_F_GUEST_CSUM);

	rx_hdr_csum(csum, in, out);
	if (csum && in->gso_type != VIRTIO_NET_HDR_GSO_NONE) { /* rx_gso_ok said yes */
		out->gso_type = in->gso_type;
		out->gso_size = in->gso_size;
		out->hdr_len = in->hdr_len;
	}
}

/*
 * The common case of rx_deliver, inline: no chain held, the next chain is
 * one writable segment that takes header and frame, the frame is one piece.
 * Returns 1 when delivered, 0 when the ring is empty, -EAGAIN when the case
 * is not that one (then rx_deliver goes on with the chain, if any, held in
 * the pool), or the ring's error.
 */
static inline __attribute__((always_inline))
int rx_fill_one(struct rx_ctx *c, const struct vq_elem *e, const struct virtio_net_hdr_v1 *h,
		const uint8_t *src, uint32_t len);

static inline __attribute__((always_inline))
int rx_deliver_one(struct rx_ctx *c, const struct virtio_net_hdr_v1 *h,
		   const struct vq_net_pkt *pkt)
{
	struct vq__net_pool *p = &c->q->pool;
	uint32_t used = (uint32_t)c->n->hdr_size + pkt->len; /* <= 12 + VQ_NET_MAX_FRAME */
	struct vq_elem *e;
	int r;

	if (p->ne || pkt->iovcnt != 1 || pkt->iov[0].iov_len < pkt->len)
		return -EAGAIN;
	if ((r = vq__net_pool_pop(p, c->q->vq, &e)) <= 0)
		return r == -ENOBUFS ? -EAGAIN : r;
	if (e->out_num) /* what rx_gather does with it; then it pops afresh */
		return (r = rx_bad_chain(c)) < 0 ? r : -EAGAIN;
	if (e->in_num != 1 || e->iov[0].iov_len < used)
		return -EAGAIN; /* held: rx_gather takes it from the pool */
	return rx_fill_one(c, e, h, pkt->iov[0].iov_base, pkt->len);
}

/*
 * Header and src[0..len) into chain e, the only chain in the pool, which is
 * one writable segment holding them (the caller checked); pushed.  1 or the
 * ring's error.
 */
static inline __attribute__((always_inline))
int rx_fill_one(struct rx_ctx *c, const struct vq_elem *e, const struct virtio_net_hdr_v1 *h,
		const uint8_t *src, uint32_t len)
{
	size_t hs = c->n->hdr_size;
	uint8_t *dst = e->iov[0].iov_base;
	int r;

	if (hs == sizeof(*h)) /* constant sizes: a few moves, no call */
		memcpy(dst, h, sizeof(*h));
	else
		memcpy(dst, h, sizeof(struct virtio_net_hdr)); /* no num_buffers */
	memcpy(dst + hs, src, len);
	r = vq_dev_push_id(c->q->vq, e->id, e->ndesc, (uint32_t)hs + len);
	c->q->pool.ne = c->q->pool.ni = 0;
	c->pushed++;
	return r < 0 ? r : 1;
}

/* Hold one receive chain in the pool: 1, 0 (ring empty), -EAGAIN (a
 * readable chain, returned), or the ring's error. */
static int rx_hold_one(struct rx_ctx *c)
{
	struct vq_elem *e;
	int r = vq__net_pool_pop(&c->q->pool, c->q->vq, &e);

	if (r <= 0)
		return r == -ENOBUFS ? -EAGAIN : r;
	if (e->out_num)
		return (r = rx_bad_chain(c)) < 0 ? r : -EAGAIN;
	return 1;
}

/* The frame from byte off on (one piece) into the one chain held, when it
 * is one writable segment that holds it: the common case of a split frame
 * with the header ring.  -EAGAIN otherwise (rx_deliver then). */
static int rx_deliver_held(struct rx_ctx *c, const struct virtio_net_hdr_v1 *h,
			   const struct vq_net_pkt *pkt, uint32_t off)
{
	const struct vq_elem *e = &c->q->pool.elem[0];
	uint32_t len = pkt->len - off;

	if (c->q->pool.ne != 1 || pkt->iovcnt != 1 || pkt->iov[0].iov_len < pkt->len ||
	    e->in_num != 1 || e->iov[0].iov_len < c->n->hdr_size + len)
		return -EAGAIN;
	return rx_fill_one(c, e, h, (const uint8_t *)pkt->iov[0].iov_base + off, len);
}

/* EXPERIMENTAL header/data split (split.c): -EAGAIN when not split here. */
static int rx_split(struct rx_ctx *c, struct virtio_net_hdr_v1 *h, const struct vq_net_pkt *pkt)
{
	unsigned qp = (unsigned)(c->q - c->n->q) / 2u;
	struct vq__net_src s = { pkt->iov, pkt->iovcnt, 0, pkt->len };
	int r;

	if (!vq__net_split_long(c->n, pkt))
		return -EAGAIN; /* short: unsplit, as plain receive */
	if (c->n->features & VQ_NET_F_SPLIT_HDR_RING) {
		/* A buffer first, then the ring's tail: the driver frees
		 * entries before it posts the buffers that came back with them,
		 * so the tail read after the pop sees them (hr_refill). */
		if (!c->q->pool.ne && (r = rx_hold_one(c)) <= 0)
			return r == -EAGAIN ? r : rx_account(c, r, pkt->len);
		if (!(s.off = vq__net_hdr_ring_put(c->n, qp, h, pkt)))
			return -EAGAIN;
		s.len -= s.off;
		r = rx_deliver_held(c, h, pkt, (uint32_t)s.off);
		if (r == -EAGAIN)
			r = rx_deliver(c, h, &s, 1, (uint32_t)s.len);
		if (r == 1)
			vq__net_hdr_ring_commit(c->n, qp);
		return rx_account(c, r, pkt->len);
	}
	r = vq__net_rx_split(c->n, c->q, h, pkt, &c->pushed);
	return r == -EAGAIN ? r : rx_account(c, r, pkt->len);
}

static int rx_plain(struct rx_ctx *c, const struct vq_net_pkt *pkt)
{
	struct virtio_net_hdr_v1 h;
	struct vq__net_src s = { pkt->iov, pkt->iovcnt, 0, pkt->len };
	int r;

	rx_hdr(c->n, &pkt->hdr, &h);
	h.num_buffers = 1;
	/* EXPERIMENTAL header/data split (split.c), only when negotiated. */
	if (__builtin_expect(c->n->features & VQ_NET_F_SPLIT_ALL, 0) &&
	    (r = rx_split(c, &h, pkt)) != -EAGAIN)
		return r;
	r = rx_deliver_one(c, &h, pkt);
	if (r == -EAGAIN)
		r = rx_deliver(c, &h, &s, 1, pkt->len);
	return rx_account(c, r, pkt->len);
}

static int rx_csum(struct rx_ctx *c, const struct vq_net_pkt *pkt)
{
	struct virtio_net_hdr_v1 h = { 0 };
	struct vq__net_src s[3];
	struct iovec v;
	uint16_t val;
	size_t pos;
	int r;

	if (vq__net_csum_complete(pkt, &pos, &val) < 0) {
		VQ__NET_COUNT(c->q->st.errors, 1);
		return 1;
	}
	v = (struct iovec){ &val, 2 };
	s[0] = (struct vq__net_src){ pkt->iov, pkt->iovcnt, 0, pos };
	s[1] = (struct vq__net_src){ &v, 1, 0, 2 };
	s[2] = (struct vq__net_src){ pkt->iov, pkt->iovcnt, pos + 2, pkt->len - pos - 2 };
	r = rx_deliver(c, &h, s, 3, pkt->len);
	if (r == 1)
		VQ__NET_COUNT(c->q->st.csum_sw, 1);
	return rx_account(c, r, pkt->len);
}

static int rx_emit(void *ctx, const struct vq__net_seg *seg, unsigned idx)
{
	struct rx_ctx *c = ctx;

	return rx_account(c, rx_deliver(c, &seg->hdr, seg->src, 2, seg->len), seg->len);
}

/*
 * Software TCP segmentation.  When buffers run out after the first segment
 * the rest of the frame is dropped (counted): TCP retransmits it.
 */
static int rx_gso(struct rx_ctx *c, const struct vq_net_pkt *pkt)
{
	unsigned nseg;
	int r = vq__net_gso_tcp(pkt, rx_emit, c, &nseg);

	if (r == 1) {
		VQ__NET_COUNT(c->q->st.gso_sw, 1);
		return 1;
	}
	if (r == 0 && nseg == 0)
		return 0; /* nothing delivered: backpressure, frame not consumed */
	if (r == 0)
		VQ__NET_COUNT(c->q->st.drops, 1);
	else if (r == -EINVAL || r == -E2BIG)
		VQ__NET_COUNT(c->q->st.errors, 1); /* not a TCP frame we can cut */
	else
		return r;          /* the ring broke */
	return 1;
}

static bool rx_gso_ok(uint64_t f, uint8_t gso_type)
{
	uint8_t t = gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	if ((gso_type & VIRTIO_NET_HDR_GSO_ECN) && !VQ__NET_HAS(f, VIRTIO_NET_F_GUEST_ECN))
		return false;
	return (t == VIRTIO_NET_HDR_GSO_TCPV4 && VQ__NET_HAS(f, VIRTIO_NET_F_GUEST_TSO4)) ||
	       (t == VIRTIO_NET_HDR_GSO_TCPV6 && VQ__NET_HAS(f, VIRTIO_NET_F_GUEST_TSO6));
}

/* The frame's length, and its checksum field inside it. */
static inline __attribute__((always_inline)) bool rx_frame_fits(const struct vq_net_pkt *pkt)
{
	return pkt->len >= VQ_NET_MIN_FRAME && pkt->len <= VQ_NET_MAX_FRAME &&
	       !((pkt->hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		 (uint32_t)pkt->hdr.csum_start + pkt->hdr.csum_offset + 2u > pkt->len);
}

/* rx_frame_fits, and the frame's views hold len bytes. */
static bool rx_frame_ok(const struct vq_net_pkt *pkt)
{
	uint64_t have = 0;

	if (!rx_frame_fits(pkt))
		return false;
	for (unsigned i = 0; i < pkt->iovcnt && have < pkt->len; i++)
		have += pkt->iov[i].iov_len;
	return have >= pkt->len;
}

/* One frame: 1 consumed (delivered or dropped), 0 out of buffers, < 0 error. */
static int rx_frame(struct rx_ctx *c, const struct vq_net_pkt *pkt)
{
	uint64_t f = c->n->features;
	uint8_t gso = pkt->hdr.gso_type;

	if (!rx_frame_ok(pkt)) {
		VQ__NET_COUNT(c->q->st.errors, 1);
		return 1;
	}
	if (gso != VIRTIO_NET_HDR_GSO_NONE) {
		if (rx_gso_ok(f, gso))
			return rx_plain(c, pkt);
		gso &= (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
		if (gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6)
			return rx_gso(c, pkt);
		VQ__NET_COUNT(c->q->st.drops, 1); /* UFO/USO: nobody here can segment it */
		return 1;
	}
	if (VQ__NET_HAS(f, VIRTIO_NET_F_MTU) && pkt->len > c->n->p.mtu + 18u) {
		VQ__NET_COUNT(c->q->st.drops, 1); /* MUST NOT pass frames over the MTU */
		return 1;
	}
	if ((pkt->hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    !VQ__NET_HAS(f, VIRTIO_NET_F_GUEST_CSUM))
		return rx_csum(c, pkt);
	return rx_plain(c, pkt);
}

/*
 * rx_frame would take pkt to rx_plain and rx_deliver_one (no split): a
 * plain frame in one piece.  Conservative: anything else goes to rx_frame,
 * which makes every check itself.
 */
static inline __attribute__((always_inline))
bool rx_is_plain(const struct vq_net *n, const struct vq_net_pkt *pkt)
{
	uint64_t f = n->features;

	/* one view holding len bytes: rx_frame_ok without its loop */
	return pkt->iovcnt == 1 && pkt->iov[0].iov_len >= pkt->len && rx_frame_fits(pkt) &&
	       pkt->hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE &&
	       !(VQ__NET_HAS(f, VIRTIO_NET_F_MTU) && pkt->len > n->p.mtu + 18u) &&
	       !((pkt->hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		 !VQ__NET_HAS(f, VIRTIO_NET_F_GUEST_CSUM));
}

/*
 * Chains left in the pool by rx_fast: each readable one goes back empty,
 * counted, as when rx_gather pops one with these chains held (with
 * IN_ORDER the held chains before it go back empty too: used in pop
 * order).  The others stay in the pool, in pop order.  0 or the ring's
 * error.
 */
static int rx_hold_rest(struct rx_ctx *c)
{
	struct vq__net_pool *p = &c->q->pool;
	bool in_order = c->n->features & VQ_F_IN_ORDER;
	unsigned keep = 0, i;
	int r = 0;

	for (i = 0; i < p->ne && r == 0; i++) {
		if (!p->elem[i].out_num) {
			p->elem[keep++] = p->elem[i]; /* the slices stay in order */
			continue;
		}
		VQ__NET_COUNT(c->q->st.errors, 1);
		for (unsigned k = 0; in_order && k < keep && r == 0; k++)
			r = vq_dev_push(c->q->vq, &p->elem[k], 0);
		c->pushed += in_order ? keep + 1 : 1;
		keep = in_order ? 0 : keep;
		if (r == 0)
			r = vq_dev_push(c->q->vq, &p->elem[i], 0);
	}
	while (i < p->ne) /* after an error: keep the rest */
		p->elem[keep++] = p->elem[i++];
	p->ne = keep;
	return r;
}

/* How many of the first frames (at least one, at most a burst) are plain:
 * pkts[0] is. */
static inline __attribute__((always_inline))
unsigned rx_plain_run(const struct vq_net *n, struct vq_net_pkt *const *pkts, unsigned cnt)
{
	unsigned m;

	for (m = 1; m < cnt && m < VQ_NET_BURST_MAX && rx_is_plain(n, pkts[m]); m++)
		;
	return m;
}

/* Header h and the frame from byte off into dst (a one-piece frame that
 * fits): the bytes written. */
static inline __attribute__((always_inline))
uint32_t rx_put(uint8_t *dst, size_t hs, const struct virtio_net_hdr_v1 *h,
		const struct vq_net_pkt *pkt, uint32_t off)
{
	if (hs == sizeof(*h)) /* constant sizes: a few moves, no call */
		memcpy(dst, h, sizeof(*h));
	else
		memcpy(dst, h, sizeof(struct virtio_net_hdr)); /* no num_buffers */
	memcpy(dst + hs, (const uint8_t *)pkt->iov[0].iov_base + off, pkt->len - off);
	return (uint32_t)hs + pkt->len - off;
}

/*
 * rx_fast with no chain held, on a ring that lets buffers be filled where
 * they lie (vq_dev_peek): the leading plain frames go into
 * the next available one-descriptor writable buffers, which go back with
 * vq_dev_use_peeked, never popped.  A buffer too small for its frame ends
 * it (it and the rest stay available, for rx_fast's pops or rx_deliver;
 * rx_fast rests, as after a small chain).  1 and *done when it delivered
 * frames, 0 when it delivered none (pop instead), -EAGAIN when the ring
 * has no buffer, or the ring's error.
 */
static inline __attribute__((always_inline))
int rx_peeked(struct rx_ctx *c, struct vq_net_pkt *const *pkts, unsigned cnt, unsigned *done,
	      bool csum)
{
	struct vq__net_queue *q = c->q;
	struct vq_peeked b[VQ_NET_BURST_MAX];
	uint32_t used[VQ_NET_BURST_MAX];
	size_t hs = c->n->hdr_size;
	uint64_t bytes = 0;
	unsigned j, m;
	int k, r;

	/* the ring first: with no buffer this is all it costs */
	if ((k = vq_dev_peek(q->vq, b, cnt < VQ_NET_BURST_MAX ? cnt : VQ_NET_BURST_MAX, true)) <= 0)
		return k;
	m = rx_plain_run(c->n, pkts, (unsigned)k);
	for (j = 0; j < m; j++) {
		const struct vq_net_pkt *pkt = pkts[j];
		struct virtio_net_hdr_v1 h;

		if (b[j].len < hs + pkt->len) {
			q->rx_fast_skip = 64;
			break;
		}
		rx_hdr_csum(csum, &pkt->hdr, &h);
		h.num_buffers = 1;
		used[j] = rx_put(b[j].base, hs, &h, pkt, 0);
		bytes += pkt->len;
	}
	if (j == 0)
		return 0;
	if ((r = vq_dev_use_peeked(q->vq, b, used, j)) < 0)
		return r;
	c->pushed += j;
	VQ__NET_COUNT(q->st.packets, j);
	VQ__NET_COUNT(q->st.bytes, bytes);
	*done = j;
	return 1;
}

/*
 * The common case of a burst: frames delivered one to a chain, each chain
 * one writable segment holding header and frame.  Pops the chains for the
 * leading plain frames with one ring call, fills them in order (a readable
 * chain goes back empty, counted, as in rx_gather) and pushes them with one
 * call.  Stops at the first chain that is not that case: it and the chains
 * after it stay in the pool for rx_deliver, and rx_fast rests for a while
 * (a guest posting small mergeable buffers would stop every burst there).
 * With the header ring, a split frame's headers go to its entry and only
 * the payload into the chain.  *done gets the frames delivered; returns 1, 0 when the ring had no chain
 * (as rx_frame), or the ring's error.
 */
static inline __attribute__((always_inline))
int rx_fast_kind(struct rx_ctx *c, struct vq_net_pkt *const *pkts, unsigned cnt,
		 unsigned *done, bool hring)
{
	struct vq__net_queue *q = c->q;
	struct vq__net_pool *p = &q->pool;
	size_t hs = c->n->hdr_size;
	uint32_t used[VQ_NET_BURST_MAX], off;
	uint64_t bytes = 0;
	bool csum = VQ__NET_HAS(c->n->features, VIRTIO_NET_F_GUEST_CSUM);
	unsigned m, f = 0, j, qp = (unsigned)(q - c->n->q) / 2u;
	struct vq_elem *e;
	int r;

	*done = 0;
	if (q->rx_fast_skip) {
		q->rx_fast_skip--;
		return 1;
	}
	if (cnt == 0 || !rx_is_plain(c->n, pkts[0]))
		return 1;
	if (!hring && (r = rx_peeked(c, pkts, cnt, done, csum)) != 0)
		return r == -EAGAIN ? 0 : r; /* no buffer: as a pop that finds none */
	/* One chain first: an empty ring costs one look, not a scan of the frames. */
	if ((r = vq__net_pool_pop(p, q->vq, &e)) <= 0)
		return r == -ENOBUFS ? 1 : r;
	m = rx_plain_run(c->n, pkts, cnt);
	if ((r = vq__net_pool_pop_burst(p, q->vq, m)) < 0)
		return r;
	for (j = 0; j < p->ne; j++) { /* good chains <= ne <= m: f < m */
		const struct vq_net_pkt *pkt = pkts[f];
		struct virtio_net_hdr_v1 h;

		e = &p->elem[j];
		if (e->out_num) {
			VQ__NET_COUNT(q->st.errors, 1);
			used[j] = 0;
			continue;
		}
		rx_hdr_csum(csum, &pkt->hdr, &h); /* rx_is_plain: no GSO */
		h.num_buffers = 1;
		/* EXPERIMENTAL header ring: the headers into its next entry (the
		 * chain is popped already, as hr_refill wants), only the payload
		 * here; committed once placed.  off 0: unsplit. */
		off = hring && vq__net_split_long(c->n, pkt) ? /* short: no call */
			      vq__net_hdr_ring_put(c->n, qp, &h, pkt) : 0;
		if (e->in_num != 1 || e->iov[0].iov_len < hs + pkt->len - off) {
			q->rx_fast_skip = 64;
			break;
		}
		used[j] = rx_put(e->iov[0].iov_base, hs, &h, pkt, off);
		if (off)
			vq__net_hdr_ring_commit(c->n, qp);
		bytes += pkt->len;
		f++;
	}
	r = j ? vq_dev_push_burst(q->vq, p->elem, used, j) : 0; /* pop order */
	vq__net_pool_consume(p, j);
	c->pushed += j;
	VQ__NET_COUNT(q->st.packets, f);
	VQ__NET_COUNT(q->st.bytes, bytes);
	*done = f;
	if (r >= 0 && p->ne)
		r = rx_hold_rest(c);
	return r < 0 ? r : 1;
}

/* rx_fast_kind, built twice: plain receive as it is, and with the header
 * ring (hring a constant in each). */
static inline __attribute__((always_inline))
int rx_fast(struct rx_ctx *c, struct vq_net_pkt *const *pkts, unsigned cnt, unsigned *done)
{
	if (c->n->features & VQ_NET_F_SPLIT_HDR_RING)
		return rx_fast_kind(c, pkts, cnt, done, true);
	return rx_fast_kind(c, pkts, cnt, done, false);
}

int vq_net_rx_burst(struct vq_net *n, unsigned qp, struct vq_net_pkt *const *pkts,
		    unsigned cnt)
{
	struct vq__net_queue *q = pair_queue(n, qp, 0);
	struct rx_ctx c = { n, q, 0 };
	unsigned i = 0;
	int r = 1;

	if (!q || !q->vq)
		return -ENOTCONN;
	/* the header ring places split frames one to a chain as well */
	if (!q->pool.ne && !(n->features & VQ_NET_F_SPLIT_ALL & ~VQ_NET_F_SPLIT_HDR_RING)) {
		r = rx_fast(&c, pkts, cnt, &i);
		if (r <= 0)
			cnt = 0; /* no chain (counted below), or the ring broke */
	}
	for (; i < cnt; i++) {
		if (i + 1 < cnt && pkts[i + 1]->iovcnt)
			__builtin_prefetch(pkts[i + 1]->iov[0].iov_base);
		if ((r = rx_frame(&c, pkts[i])) <= 0)
			break;
	}
	if (r == 0)
		VQ__NET_COUNT(q->st.nobuf, 1);
	if (c.pushed)
		vq__net_notify(n, 2u * qp);
	return r < 0 && i == 0 ? r : (int)i;
}

void vq__net_rx_release(struct vq_net *n, struct vq__net_queue *q)
{
	struct vq__net_pool *p = &q->pool;
	unsigned idx = (unsigned)(q - n->q);

	if (!p->ne)
		return;
	for (unsigned i = 0; i < p->ne; i++)
		if (vq_dev_push(q->vq, &p->elem[i], 0) < 0)
			break;
	p->ne = p->ni = 0;
	vq__net_notify(n, idx);
}
