/* SPDX-License-Identifier: MIT */
/*
 * virtio-net driver, receive side: posting buffers, reassembling frames by
 * num_buffers, handing out zero-copy views, recycling.
 *
 * Buffer b of a queue is one page (mergeable), one small buffer, or a chain
 * of pages (big).  A big chain's pages are strided (page s of buffer b is
 * page s * nbufs + b of the queue's memory) so that they are not adjacent
 * and vq_drv keeps them as separate descriptors: the point of the strategy
 * is to show what a chain of pages costs in ring entries.
 */
#include <errno.h>
#include <string.h>

#include "drv_internal.h"

static uint64_t seg_off(const struct vq__netdrv_rxq *q, uint32_t b, uint32_t s)
{
	if (q->nsegs == 1)
		return (uint64_t)b * q->buf_bytes;
	return ((uint64_t)s * q->nbufs + b) * q->seg_bytes;
}

#define RX_BURST 32u

/* One-buffer-a-segment queues (mergeable, small): add free buffers RX_BURST
 * at a time with vq_drv_add_burst.  Returns how many, or -errno. */
static int post_burst(struct vq__netdrv_rxq *q)
{
	struct vq_seg seg[RX_BURST];
	void *tok[RX_BURST];
	unsigned m = q->nfree < RX_BURST ? q->nfree : RX_BURST;
	int rc;

	for (unsigned i = 0; i < m; i++) {
		uint32_t b = q->free[q->nfree - 1 - i];

		seg[i] = (struct vq_seg){ q->addr + (uint64_t)b * q->buf_bytes, q->seg_bytes };
		tok[i] = VQ__NETDRV_TOKEN(b);
	}
	rc = vq_drv_add_burst(q->vq, seg, m, true, tok);
	if (rc > 0) {
		q->nfree -= (uint32_t)rc;
		q->posted += (uint32_t)rc;
	}
	return rc == 0 ? -ENOSPC : rc;
}

/* A chain of segments (big buffers): one vq_drv_add.  1 or -errno. */
static int post_chain(struct vq__netdrv_rxq *q)
{
	uint32_t b = q->free[q->nfree - 1];
	int rc;

	for (uint32_t s = 0; s < q->nsegs; s++)
		q->segs[s] = (struct vq_seg){ q->addr + seg_off(q, b, s), q->seg_bytes };
	rc = vq_drv_add(q->vq, q->segs, 0, q->nsegs, VQ__NETDRV_TOKEN(b));
	if (rc < 0)
		return rc;
	q->nfree--;
	q->posted++;
	return 1;
}

int vq__netdrv_rx_post(struct vq_netdrv *nd, unsigned qp)
{
	struct vq__netdrv_rxq *q = &nd->rx[qp];
	unsigned added = 0;
	int rc = 0;

	while (q->vq && q->nfree) {
		rc = q->nsegs == 1 ? post_burst(q) : post_chain(q);
		if (rc < 0)
			break;
		added += (unsigned)rc;
	}
	if (rc < 0 && rc != -ENOSPC)
		return vq__netdrv_fail(nd, 2 * qp, "posting a receive buffer: %s",
				       vq_drv_is_broken(q->vq) ? vq_drv_error(q->vq) : strerror(-rc));
	if (added && vq_drv_kick_prepare(q->vq) && nd->p.kick)
		nd->p.kick(nd->p.ctx, 2 * qp);
	return (int)added;
}

void vq__netdrv_rx_detach(struct vq_netdrv *nd, unsigned qp)
{
	struct vq__netdrv_rxq *q = &nd->rx[qp];
	void *t;

	while (q->vq && (t = vq_drv_detach(q->vq)) != NULL)
		q->free[q->nfree++] = VQ__NETDRV_INDEX(t);
	for (uint32_t i = 0; i < q->nheld; i++)
		q->free[q->nfree++] = q->held[i];
	q->nheld = q->niov = q->out = q->posted = 0;
	q->fr.active = false;
	q->vq = NULL;
}

/* Views of bytes [skip, skip+len) of buffer b, a chain of pages (big). */
static void add_views_chain(struct vq__netdrv_rxq *q, uint32_t b, uint32_t skip, uint32_t len)
{
	for (uint32_t s = 0; s < q->nsegs && len; s++) {
		uint32_t n;

		if (skip >= q->seg_bytes) {
			skip -= q->seg_bytes;
			continue;
		}
		n = q->seg_bytes - skip < len ? q->seg_bytes - skip : len;
		q->iov[q->niov++] = (struct iovec){ q->mem + seg_off(q, b, s) + skip, n };
		len -= n;
		skip = 0;
	}
}

/* Views of bytes [skip, skip+len) of buffer b: inline for a one-segment
 * buffer (len <= seg_bytes - skip: vq_drv checked the used length). */
static inline void add_views(struct vq__netdrv_rxq *q, uint32_t b, uint32_t skip, uint32_t len)
{
	if (q->nsegs != 1)
		add_views_chain(q, b, skip, len);
	else if (len)
		q->iov[q->niov++] = (struct iovec){ q->mem + (uint64_t)b * q->buf_bytes + skip, len };
}

/* First buffer of a frame: header, num_buffers.  1 started, 0 dropped, -EIO. */
static int frame_start(struct vq_netdrv *nd, unsigned qp, uint32_t b, uint32_t len)
{
	struct vq__netdrv_rxq *q = &nd->rx[qp];
	struct vq__netdrv_frame *f = &q->fr;
	uint32_t nb = 1;

	if (len < nd->hdr_size) {
		/* No num_buffers: the next buffers cannot be attributed.  But
		 * length 0 is a buffer given back unused (a device that stopped
		 * holding it, as virtq-svq does): dropped like a short frame. */
		if (nd->mrg && len != 0)
			return vq__netdrv_fail(nd, 2 * qp, "used length %u < header size %u",
					       len, nd->hdr_size);
		nd->st[qp].rx_errors++;
		return 0;
	}
	/* constant sizes: a few loads and stores, no call */
	if (nd->hdr_size >= sizeof(f->hdr)) {
		memcpy(&f->hdr, q->mem + seg_off(q, b, 0), sizeof(f->hdr));
	} else {
		memset(&f->hdr, 0, sizeof(f->hdr));
		memcpy(&f->hdr, q->mem + seg_off(q, b, 0), sizeof(struct virtio_net_hdr));
	}
	if (nd->mrg) {
		nb = f->hdr.num_buffers; /* little-endian on a little-endian host */
		if (nb == 0 || nb - 1 > q->posted)
			return vq__netdrv_fail(nd, 2 * qp,
					       "num_buffers %u but the device holds only %u more buffers",
					       nb, q->posted);
	}
	f->active = true;
	f->need = nb - 1;
	f->held0 = q->nheld - 1;
	f->iov0 = q->niov;
	f->bytes = len;
	add_views(q, b, nd->hdr_size, len - nd->hdr_size);
	return 1;
}

/* Used buffer b of len bytes.  1 a frame completed, 2 more to come or
 * dropped, -EIO. */
static int rx_take(struct vq_netdrv *nd, unsigned qp, void *tok, uint32_t len)
{
	struct vq__netdrv_rxq *q = &nd->rx[qp];
	uint32_t b = VQ__NETDRV_INDEX(tok);
	int rc;

	if (b >= q->nbufs || q->posted == 0)
		return vq__netdrv_fail(nd, 2 * qp, "unknown receive buffer %u", b);
	q->posted--;
	q->held[q->nheld++] = b;
	nd->st[qp].rx_bufs++;
	if (!q->fr.active) {
		rc = frame_start(nd, qp, b, len);
		if (rc <= 0)
			return rc < 0 ? rc : 2;
	} else {
		q->fr.bytes += len;
		q->fr.need--;
		add_views(q, b, 0, len);
	}
	return q->fr.need == 0 ? 1 : 2;
}

/* A used buffer not looked at (the queue broke before it): held, so that
 * rx_done recycles it.  The ring checked that it is one of ours. */
static void hold_unread(struct vq__netdrv_rxq *q, void *tok)
{
	uint32_t b = VQ__NETDRV_INDEX(tok);

	if (b < q->nbufs && q->posted) {
		q->posted--;
		q->held[q->nheld++] = b;
	}
}

/* A completed frame: hand it out, or drop it.  Returns 1 when handed out. */
static int frame_done(struct vq_netdrv *nd, unsigned qp, struct vq_netdrv_rxpkt *pkt)
{
	struct vq__netdrv_rxq *q = &nd->rx[qp];
	struct vq__netdrv_frame *f = &q->fr;
	uint64_t flen = f->bytes - nd->hdr_size;

	f->active = false;
	if (flen < VQ_NET_MIN_FRAME || flen > VQ_NET_MAX_FRAME) {
		nd->st[qp].rx_errors++;
		return 0;
	}
	pkt->hdr = f->hdr;
	pkt->len = (uint32_t)flen;
	pkt->iovcnt = q->niov - f->iov0;
	pkt->iov = &q->iov[f->iov0];
	nd->st[qp].rx_packets++;
	nd->st[qp].rx_bytes += flen;
	return 1;
}

/*
 * The common frame in one pass: a whole frame in one one-segment buffer
 * (num_buffers 1, or no mergeable buffers), no frame being reassembled, and
 * a header of at least struct virtio_net_hdr_v1.  The same checks and
 * results as rx_take + frame_start + frame_done, without the frame state.
 * Returns 1 handed out in *pkt, 0 dropped (too short or long: counted in
 * *errs), or -1 when it is not that case (the queue untouched: rx_take
 * takes it).
 */
static inline int rx_one(struct vq_netdrv *nd, struct vq__netdrv_rxq *q, void *tok,
			 uint32_t len, struct vq_netdrv_rxpkt *pkt, uint64_t *errs)
{
	uint32_t b = VQ__NETDRV_INDEX(tok);
	uint8_t *p;
	uint32_t flen;

	if (b >= q->nbufs || q->posted == 0 || len < nd->hdr_size)
		return -1;
	p = q->mem + (uint64_t)b * q->buf_bytes;
	memcpy(&pkt->hdr, p, sizeof(pkt->hdr));
	if (nd->mrg && pkt->hdr.num_buffers != 1)
		return -1;
	q->posted--;
	q->held[q->nheld++] = b;
	flen = len - nd->hdr_size;
	if (flen < VQ_NET_MIN_FRAME || flen > VQ_NET_MAX_FRAME) {
		(*errs)++;
		return 0;
	}
	q->iov[q->niov] = (struct iovec){ p + nd->hdr_size, flen };
	pkt->len = flen;
	pkt->iovcnt = 1;
	pkt->iov = &q->iov[q->niov++];
	return 1;
}

/*
 * The frames of a burst, from got >= 1 used buffers already in tok/len;
 * more are taken while max allows.  Out of line, so that a poll that finds
 * nothing (vq_netdrv_rx_burst alone) stays cheap.
 */
static __attribute__((noinline)) int rx_collect(struct vq_netdrv *nd, unsigned qp,
						struct vq_netdrv_rxpkt *pkts, unsigned max,
						void **tok, uint32_t *len, int got)
{
	struct vq__netdrv_rxq *q = &nd->rx[qp];
	bool one_ok = q->nsegs == 1 && nd->hdr_size >= sizeof(struct virtio_net_hdr_v1);
	unsigned n = 0, n1 = 0, took = 0, want = max < RX_BURST ? max : RX_BURST;
	uint64_t bytes = 0, errs = 0;
	int rc = 0;

	/* Each used buffer completes at most one frame: asking for max - n
	 * buffers never completes a frame beyond max. */
	for (;;) {
		for (int i = 0; i < got; i++) {
			if (rc < 0) { /* broken: keep the rest for rx_done to recycle */
				hold_unread(q, tok[i]);
				continue;
			}
			if (one_ok && !q->fr.active) {
				int k = rx_one(nd, q, tok[i], len[i], &pkts[n], &errs);

				if (k >= 0) {
					took++;
					bytes += k ? pkts[n].len : 0;
					n1 += (unsigned)k;
					n += (unsigned)k;
					continue;
				}
			}
			if ((rc = rx_take(nd, qp, tok[i], len[i])) == 1)
				n += (unsigned)frame_done(nd, qp, &pkts[n]);
		}
		if (rc < 0 || (unsigned)got < want || n >= max)
			break;
		want = max - n < RX_BURST ? max - n : RX_BURST;
		got = vq_drv_get_burst(q->vq, tok, len, want);
		if (got < 0) {
			rc = vq__netdrv_fail(nd, 2 * qp, "%s", vq_drv_error(q->vq));
			break;
		}
	}
	if (took) { /* what rx_one took, counted here once a burst */
		nd->st[qp].rx_bufs += took;
		nd->st[qp].rx_packets += n1;
		nd->st[qp].rx_bytes += bytes;
		nd->st[qp].rx_errors += errs;
	}
	q->out = n;
	return rc < 0 && n == 0 ? rc : (int)n;
}

int vq_netdrv_rx_burst(struct vq_netdrv *nd, unsigned qp, struct vq_netdrv_rxpkt *pkts,
		       unsigned max)
{
	struct vq__netdrv_rxq *q;
	void *tok[RX_BURST];
	uint32_t len[RX_BURST];
	int got;

	if (qp >= nd->p.pairs)
		return -EINVAL;
	q = &nd->rx[qp];
	if (!q->vq)
		return -ENOTCONN;
	if (nd->broken[2 * qp])
		return -EIO;
	if (q->out)
		return -EBUSY;
	if (max == 0)
		return 0;
	got = vq_drv_get_burst(q->vq, tok, len, max < RX_BURST ? max : RX_BURST);
	if (got < 0)
		return vq__netdrv_fail(nd, 2 * qp, "%s", vq_drv_error(q->vq));
	if (got == 0)
		return 0;
	return rx_collect(nd, qp, pkts, max, tok, len, got);
}

int vq_netdrv_rx_done(struct vq_netdrv *nd, unsigned qp)
{
	struct vq__netdrv_rxq *q;
	uint32_t keep, ikeep;

	if (qp >= nd->p.pairs)
		return -EINVAL;
	q = &nd->rx[qp];
	if (!q->vq)
		return -ENOTCONN;
	keep = q->fr.active ? q->fr.held0 : q->nheld;    /* recycled: [0, keep) */
	ikeep = q->fr.active ? q->fr.iov0 : q->niov;
	for (uint32_t i = 0; i < keep; i++)
		q->free[q->nfree++] = q->held[i];
	if (keep < q->nheld) /* a frame still being reassembled */
		memmove(q->held, q->held + keep, (q->nheld - keep) * sizeof(*q->held));
	if (ikeep < q->niov)
		memmove(q->iov, q->iov + ikeep, (q->niov - ikeep) * sizeof(*q->iov));
	q->nheld -= keep;
	q->niov -= ikeep;
	q->fr.held0 = q->fr.iov0 = 0;
	q->out = 0;
	if (nd->broken[2 * qp])
		return -EIO;
	return vq__netdrv_rx_post(nd, qp) < 0 ? -EIO : 0;
}

size_t vq_netdrv_rx_copy(const struct vq_netdrv_rxpkt *pkt, void *buf, size_t cap)
{
	return vq__iov_to_buf(pkt->iov, pkt->iovcnt, 0, buf, pkt->len < cap ? pkt->len : cap);
}
