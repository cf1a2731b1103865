/* SPDX-License-Identifier: MIT */
/*
 * virtio-net driver: receive-buffer strategies and their arithmetic,
 * creation, attaching rings, state.  Data path in drv_rx.c and drv_tx.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drv_internal.h"

#define HAS(f, bit) (((f) >> (bit)) & 1u)

static uint32_t div_up(uint64_t a, uint64_t b)
{
	return (uint32_t)((a + b - 1) / b);
}

const char *vq_netdrv_rxmode_str(enum vq_netdrv_rxmode m)
{
	switch (m) {
	case VQ_NETDRV_RX_AUTO: return "auto";
	case VQ_NETDRV_RX_MERGEABLE: return "mergeable";
	case VQ_NETDRV_RX_BIG: return "big";
	case VQ_NETDRV_RX_SMALL: return "small";
	}
	return "?";
}

int vq_netdrv_rxmode_for(uint64_t features, enum vq_netdrv_rxmode want,
			 enum vq_netdrv_rxmode *out)
{
	bool mrg = HAS(features, VIRTIO_NET_F_MRG_RXBUF);

	switch (want) {
	case VQ_NETDRV_RX_AUTO:
		if (mrg)
			*out = VQ_NETDRV_RX_MERGEABLE;
		else if (HAS(features, VIRTIO_NET_F_GUEST_TSO4) ||
			 HAS(features, VIRTIO_NET_F_GUEST_TSO6) ||
			 HAS(features, VIRTIO_NET_F_GUEST_UFO))
			*out = VQ_NETDRV_RX_BIG;
		else
			*out = VQ_NETDRV_RX_SMALL;
		return 0;
	case VQ_NETDRV_RX_MERGEABLE:
		if (!mrg)
			return -EINVAL;
		*out = want;
		return 0;
	case VQ_NETDRV_RX_BIG:
	case VQ_NETDRV_RX_SMALL:
		*out = want;
		return 0;
	}
	return -EINVAL;
}

/* Buffer geometry of a strategy: bytes, descriptors. */
static void geometry(enum vq_netdrv_rxmode m, uint32_t hs, uint32_t *bytes, uint32_t *descs)
{
	if (m == VQ_NETDRV_RX_MERGEABLE) {
		*bytes = VQ_NETDRV_PAGE;
		*descs = 1;
	} else if (m == VQ_NETDRV_RX_BIG) {
		*descs = div_up(VQ_NETDRV_BIG_BYTES, VQ_NETDRV_PAGE);
		*bytes = *descs * VQ_NETDRV_PAGE;
	} else {
		*bytes = hs + VQ_NETDRV_SMALL_FRAME;
		*descs = 1;
	}
}

int vq_netdrv_rx_mem(enum vq_netdrv_rxmode mode, uint64_t features, uint32_t queue_size,
		     bool indirect, struct vq_netdrv_rxmem *out)
{
	struct vq_netdrv_rxmem r = { 0 };
	uint64_t all;

	if (vq_netdrv_rxmode_for(features, mode, &r.mode) < 0 || queue_size == 0 ||
	    queue_size > VQ_MAX_QUEUE_SIZE)
		return -EINVAL;
	r.hdr_size = (uint32_t)vq_net_hdr_size(features);
	geometry(r.mode, r.hdr_size, &r.buf_bytes, &r.descs_per_buf);
	r.entries_per_buf = indirect ? 1 : r.descs_per_buf;
	r.bufs = queue_size / r.entries_per_buf;
	if (r.bufs == 0)
		return -EINVAL; /* a big chain longer than the ring, no indirect */
	r.pinned = (uint64_t)r.bufs * r.buf_bytes;
	all = HAS(features, VIRTIO_NET_F_MRG_RXBUF) ? r.pinned : r.buf_bytes;
	all -= r.hdr_size;
	r.max_frame = all > VQ_NET_MAX_FRAME ? VQ_NET_MAX_FRAME : (uint32_t)all;
	/* Buffers one frame of a size needs: merged, or exactly one. */
	r.pkts_mtu = r.bufs / div_up(r.hdr_size + VQ_NETDRV_SMALL_FRAME, r.buf_bytes);
	if (r.max_frame >= VQ_NETDRV_BIG_BYTES - r.hdr_size)
		r.pkts_max = r.bufs / div_up(VQ_NETDRV_BIG_BYTES, r.buf_bytes);
	if (!HAS(features, VIRTIO_NET_F_MRG_RXBUF) && r.buf_bytes < r.hdr_size + VQ_NETDRV_SMALL_FRAME)
		r.pkts_mtu = 0;
	*out = r;
	return 0;
}

/* ---- memory plan */

static uint64_t page_up(uint64_t v)
{
	return (v + VQ_NETDRV_PAGE - 1) & ~(uint64_t)(VQ_NETDRV_PAGE - 1);
}

static int check_params(const struct vq_netdrv_params *p)
{
	if (!p || !p->alloc || p->pairs == 0 || p->pairs > VQ_NET_MAX_PAIRS)
		return -EINVAL;
	if (p->queue_size == 0 || p->queue_size > VQ_MAX_QUEUE_SIZE)
		return -EINVAL;
	if (p->tx_buf_size && (p->tx_buf_size < 64 || p->tx_buf_size > (1u << 20)))
		return -EINVAL;
	enum vq_netdrv_rxmode m;

	return vq_netdrv_rxmode_for(p->features, p->rxmode, &m);
}

static uint32_t tx_buf_size(const struct vq_netdrv_params *p)
{
	return p->tx_buf_size ? p->tx_buf_size : VQ__NETDRV_TXBUF_DEFAULT;
}

int vq_netdrv_mem_needed(const struct vq_netdrv_params *p, size_t *bytes)
{
	struct vq_netdrv_rxmem r;
	uint64_t per, all;

	if (check_params(p) < 0 ||
	    vq_netdrv_rx_mem(p->rxmode, p->features, p->queue_size, p->indirect, &r) < 0)
		return -EINVAL;
	per = page_up(r.pinned) + page_up((uint64_t)p->queue_size * tx_buf_size(p));
	all = per * p->pairs + VQ_NETDRV_PAGE;
	if (all > SIZE_MAX)
		return -EOVERFLOW;
	*bytes = (size_t)all;
	return 0;
}

/* ---- creation */

static int rxq_init(struct vq_netdrv *nd, struct vq__netdrv_rxq *q, const struct vq_netdrv_rxmem *r)
{
	q->nbufs = r->bufs;
	q->nsegs = r->descs_per_buf;
	q->buf_bytes = r->buf_bytes;
	q->seg_bytes = q->nsegs > 1 ? VQ_NETDRV_PAGE : r->buf_bytes;
	q->iov_cap = q->nbufs * q->nsegs;
	q->mem = nd->p.alloc(nd->p.ctx, page_up(r->pinned), &q->addr);
	q->free = calloc(q->nbufs, sizeof(*q->free));
	q->held = calloc(q->nbufs, sizeof(*q->held));
	q->iov = calloc(q->iov_cap, sizeof(*q->iov));
	q->segs = calloc(q->nsegs, sizeof(*q->segs));
	if (!q->mem || !q->free || !q->held || !q->iov || !q->segs)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->nbufs; i++)
		q->free[i] = q->nbufs - 1 - i;
	q->nfree = q->nbufs;
	return 0;
}

static int txq_init(struct vq_netdrv *nd, struct vq__netdrv_txq *q)
{
	q->nbufs = nd->p.queue_size;
	q->buf_bytes = tx_buf_size(&nd->p);
	q->max_segs = div_up(nd->hdr_size + VQ_NET_MAX_FRAME, q->buf_bytes);
	q->mem = nd->p.alloc(nd->p.ctx, page_up((uint64_t)q->nbufs * q->buf_bytes), &q->addr);
	q->free = calloc(q->nbufs, sizeof(*q->free));
	q->next = calloc(q->nbufs, sizeof(*q->next));
	q->segs = calloc(q->max_segs, sizeof(*q->segs));
	if (!q->mem || !q->free || !q->next || !q->segs)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->nbufs; i++)
		q->free[i] = q->nbufs - 1 - i;
	q->nfree = q->nbufs;
	return 0;
}

static int nd_init(struct vq_netdrv *nd)
{
	struct vq_netdrv_rxmem r;
	unsigned nq = 2 * nd->p.pairs + 1;
	int rc;

	if ((rc = vq_netdrv_rx_mem(nd->p.rxmode, nd->p.features, nd->p.queue_size,
				   nd->p.indirect, &r)) < 0)
		return rc;
	nd->mode = r.mode;
	nd->hdr_size = r.hdr_size;
	nd->mrg = HAS(nd->p.features, VIRTIO_NET_F_MRG_RXBUF);
	nd->rx = calloc(nd->p.pairs, sizeof(*nd->rx));
	nd->tx = calloc(nd->p.pairs, sizeof(*nd->tx));
	nd->st = calloc(nd->p.pairs, sizeof(*nd->st));
	nd->broken = calloc(nq, sizeof(*nd->broken));
	if (!nd->rx || !nd->tx || !nd->st || !nd->broken)
		return -ENOMEM;
	for (unsigned i = 0; i < nd->p.pairs; i++)
		if ((rc = rxq_init(nd, &nd->rx[i], &r)) < 0 || (rc = txq_init(nd, &nd->tx[i])) < 0)
			return rc;
	if (nd->p.ctrl) {
		nd->ctrl.mem = nd->p.alloc(nd->p.ctx, VQ_NETDRV_PAGE, &nd->ctrl.addr);
		if (!nd->ctrl.mem)
			return -ENOMEM;
	}
	return 0;
}

int vq_netdrv_new(const struct vq_netdrv_params *p, struct vq_netdrv **out)
{
	struct vq_netdrv *nd;
	int rc;

	if (check_params(p) < 0 || !out)
		return -EINVAL;
	nd = calloc(1, sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	nd->p = *p;
	if ((rc = nd_init(nd)) < 0) {
		vq_netdrv_free(nd);
		return rc;
	}
	*out = nd;
	return 0;
}

void vq_netdrv_free(struct vq_netdrv *nd)
{
	if (!nd)
		return;
	for (unsigned i = 0; nd->rx && i < nd->p.pairs; i++) {
		free(nd->rx[i].free);
		free(nd->rx[i].held);
		free(nd->rx[i].iov);
		free(nd->rx[i].segs);
	}
	for (unsigned i = 0; nd->tx && i < nd->p.pairs; i++) {
		free(nd->tx[i].free);
		free(nd->tx[i].next);
		free(nd->tx[i].segs);
	}
	free(nd->rx);
	free(nd->tx);
	free(nd->st);
	free(nd->broken);
	free(nd);
}

enum vq_netdrv_rxmode vq_netdrv_rxmode(const struct vq_netdrv *nd) { return nd->mode; }
size_t vq_netdrv_hdr_size(const struct vq_netdrv *nd) { return nd->hdr_size; }

/* ---- attaching rings */

int vq_netdrv_set_queue(struct vq_netdrv *nd, unsigned vq_index, struct vq_drv *q)
{
	unsigned qp = vq_index / 2;

	if (vq_index > 2 * nd->p.pairs || (vq_index == 2 * nd->p.pairs && !nd->p.ctrl))
		return -EINVAL;
	nd->broken[vq_index] = false;
	if (vq_index == 2 * nd->p.pairs) {
		while (nd->ctrl.vq && vq_drv_detach(nd->ctrl.vq))
			;
		nd->ctrl.vq = q;
		return 0;
	}
	if (vq_index & 1) {
		vq__netdrv_tx_detach(nd, qp);
		nd->tx[qp].vq = q;
		return 0;
	}
	vq__netdrv_rx_detach(nd, qp);
	nd->rx[qp].vq = q;
	if (!q)
		return 0;
	return vq__netdrv_rx_post(nd, qp) < 0 ? -EIO : 0;
}

void vq_netdrv_fe_queue_event(void *nd, unsigned i, struct vq_drv *q, struct vq_drv *old)
{
	vq_netdrv_set_queue(nd, i, q);
}

/* ---- state */

int vq__netdrv_fail(struct vq_netdrv *nd, unsigned vq_index, const char *fmt, ...)
{
	va_list ap;
	int n;

	nd->broken[vq_index] = true;
	n = snprintf(nd->err, sizeof(nd->err), "queue %u: ", vq_index);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(nd->err))
		vsnprintf(nd->err + n, sizeof(nd->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EIO;
}

int vq_netdrv_get_stats(const struct vq_netdrv *nd, unsigned qp, struct vq_netdrv_stats *out)
{
	if (qp >= nd->p.pairs)
		return -EINVAL;
	*out = nd->st[qp];
	return 0;
}

bool vq_netdrv_is_broken(const struct vq_netdrv *nd, unsigned vq_index)
{
	return vq_index <= 2 * nd->p.pairs && nd->broken[vq_index];
}

const char *vq_netdrv_error(const struct vq_netdrv *nd)
{
	return nd->err;
}
