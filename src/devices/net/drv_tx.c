/* SPDX-License-Identifier: MIT */
/*
 * virtio-net driver, transmit side and control queue.  Tx buffers are a
 * fixed array per queue with a LIFO free list (cache-warm reuse); a frame
 * larger than one buffer takes several, linked through next[].  The token
 * of a chain is its first buffer.  A buffer lent by vq_netdrv_tx_get has
 * next[] == LENT until vq_netdrv_tx_put takes it back; no other buffer
 * ever has that value (free ones hold NO_NEXT or a buffer index).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "drv_internal.h"

#define NO_NEXT UINT32_MAX
#define LENT    (UINT32_MAX - 1u)
#define PUTTING (UINT32_MAX - 2u) /* in vq_netdrv_tx_put's check only */

static void free_chain(struct vq__netdrv_txq *q, uint32_t b)
{
	while (b != NO_NEXT) {
		uint32_t nx = q->next[b];

		q->free[q->nfree++] = b;
		b = nx;
	}
}

#define RECLAIM_BURST 32u

static int reclaim(struct vq_netdrv *nd, unsigned qp)
{
	struct vq__netdrv_txq *q = &nd->tx[qp];
	void *tok[RECLAIM_BURST];
	uint32_t len[RECLAIM_BURST];
	int rc, n = 0;

	while ((rc = vq_drv_get_burst(q->vq, tok, len, RECLAIM_BURST)) > 0) {
		for (int i = 0; i < rc; i++) {
			uint32_t b = VQ__NETDRV_INDEX(tok[i]);

			if (b >= q->nbufs || q->inflight == 0)
				return vq__netdrv_fail(nd, 2 * qp + 1, "unknown tx buffer %u", b);
			free_chain(q, b);
			q->inflight--;
		}
		n += rc;
		if ((unsigned)rc < RECLAIM_BURST)
			break;
	}
	if (rc < 0)
		return vq__netdrv_fail(nd, 2 * qp + 1, "%s", vq_drv_error(q->vq));
	return n;
}

void vq__netdrv_tx_detach(struct vq_netdrv *nd, unsigned qp)
{
	struct vq__netdrv_txq *q = &nd->tx[qp];
	void *t;

	while (q->vq && (t = vq_drv_detach(q->vq)) != NULL)
		free_chain(q, VQ__NETDRV_INDEX(t));
	q->inflight = 0;
	q->vq = NULL;
}

/* The header at p: h (num_buffers cleared), or zeros.  Built in a local and
 * stored with a constant size (10 or 12 bytes): a few stores, no call. */
static inline void put_hdr(bool full, uint8_t *p, const struct virtio_net_hdr_v1 *h)
{
	struct virtio_net_hdr_v1 v = { 0 };

	if (h) {
		v = *h;
		v.num_buffers = 0;
	}
	if (full) /* 12 bytes (VERSION_1 or MRG_RXBUF), else 10 */
		memcpy(p, &v, sizeof(v));
	else
		memcpy(p, &v, sizeof(struct virtio_net_hdr));
}

/* A frame spanning several buffers.  1 queued, 0 no room, -errno. */
static int tx_multi(struct vq_netdrv *nd, struct vq__netdrv_txq *q,
		    const struct vq_netdrv_txpkt *pkt, uint32_t need)
{
	uint8_t hb[sizeof(struct virtio_net_hdr_v1)];
	const uint8_t *src = pkt->data;
	uint32_t first = NO_NEXT, prev = NO_NEXT, left = pkt->len, hleft = nd->hdr_size;
	int rc;

	put_hdr(nd->hdr_size >= sizeof(struct virtio_net_hdr_v1), hb, pkt->hdr);
	for (uint32_t i = 0; i < need; i++) {
		uint32_t b = q->free[--q->nfree], room = q->buf_bytes, h = hleft < room ? hleft : room;
		uint8_t *p = q->mem + (uint64_t)b * q->buf_bytes;
		uint32_t d;

		memcpy(p, hb + (nd->hdr_size - hleft), h);
		hleft -= h;
		d = left < room - h ? left : room - h;
		memcpy(p + h, src, d);
		src += d;
		left -= d;
		q->segs[i] = (struct vq_seg){ q->addr + (uint64_t)b * q->buf_bytes, h + d };
		q->next[b] = NO_NEXT;
		if (prev == NO_NEXT)
			first = b;
		else
			q->next[prev] = b;
		prev = b;
	}
	rc = vq_drv_add(q->vq, q->segs, need, 0, VQ__NETDRV_TOKEN(first));
	if (rc < 0) {
		free_chain(q, first);
		return rc == -ENOSPC ? 0 : rc;
	}
	return 1;
}

/* One frame.  1 queued, 0 no room now, -errno. */
static int tx_one(struct vq_netdrv *nd, struct vq__netdrv_txq *q, const struct vq_netdrv_txpkt *pkt)
{
	uint32_t total, need, b;
	uint8_t *p;
	struct vq_seg seg;
	int rc;

	if (pkt->len < VQ_NET_MIN_FRAME || pkt->len > VQ_NET_MAX_FRAME || !pkt->data)
		return -EINVAL;
	total = nd->hdr_size + pkt->len;
	need = (total + q->buf_bytes - 1) / q->buf_bytes;
	if (need > q->nfree)
		return 0;
	if (need > 1)
		return tx_multi(nd, q, pkt, need);
	b = q->free[--q->nfree];
	p = q->mem + (uint64_t)b * q->buf_bytes;
	put_hdr(nd->hdr_size >= sizeof(struct virtio_net_hdr_v1), p, pkt->hdr);
	memcpy(p + nd->hdr_size, pkt->data, pkt->len);
	q->next[b] = NO_NEXT;
	seg = (struct vq_seg){ q->addr + (uint64_t)b * q->buf_bytes, total };
	rc = vq_drv_add(q->vq, &seg, 1, 0, VQ__NETDRV_TOKEN(b));
	if (rc < 0) {
		q->free[q->nfree++] = b;
		return rc == -ENOSPC ? 0 : rc;
	}
	return 1;
}

/* Before a burst on pair qp: its queue, with completed buffers reclaimed.
 * 1, or -EINVAL (no such pair), -ENOTCONN, -EIO (broken). */
static int tx_begin(struct vq_netdrv *nd, unsigned qp, struct vq__netdrv_txq **out)
{
	if (qp >= nd->p.pairs)
		return -EINVAL;
	*out = &nd->tx[qp];
	if (!(*out)->vq)
		return -ENOTCONN;
	if (nd->broken[2 * qp + 1] || reclaim(nd, qp) < 0)
		return -EIO;
	return 1;
}

/* After a burst of i frames queued on pair qp (rc: the last frame's
 * result): count, publish and kick; the burst's return value. */
static int tx_end(struct vq_netdrv *nd, unsigned qp, unsigned i, int rc)
{
	struct vq__netdrv_txq *q = &nd->tx[qp];

	if (i) {
		q->inflight += i;
		nd->st[qp].tx_packets += i;
		if (vq_drv_kick_prepare(q->vq) && nd->p.kick)
			nd->p.kick(nd->p.ctx, 2 * qp + 1);
	}
	if (rc == 0)
		nd->st[qp].tx_full++;
	if (rc < 0 && rc != -EINVAL && vq_drv_is_broken(q->vq))
		vq__netdrv_fail(nd, 2 * qp + 1, "%s", vq_drv_error(q->vq));
	return rc < 0 && i == 0 ? (rc == -E2BIG ? -EINVAL : rc) : (int)i;
}

int vq_netdrv_tx_burst(struct vq_netdrv *nd, unsigned qp, const struct vq_netdrv_txpkt *pkts,
		       unsigned n)
{
	struct vq__netdrv_txq *q;
	unsigned i;
	int rc = tx_begin(nd, qp, &q);

	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++) {
		if ((rc = tx_one(nd, q, &pkts[i])) <= 0)
			break;
		nd->st[qp].tx_bytes += pkts[i].len;
	}
	return tx_end(nd, qp, i, rc);
}

/* ---- zero-copy transmit */

int vq_netdrv_tx_get(struct vq_netdrv *nd, unsigned qp, struct vq_netdrv_txbuf *b, unsigned n)
{
	struct vq__netdrv_txq *q;
	int rc = tx_begin(nd, qp, &q);

	if (rc < 0)
		return rc;
	/* Locals: the stores into b[] would otherwise reload q's fields. */
	const uint32_t hs = (uint32_t)nd->hdr_size, bb = q->buf_bytes, nfree = q->nfree;
	const unsigned m = n < nfree ? n : nfree;
	uint8_t *const mem = q->mem + hs;
	const uint32_t *const fl = q->free;
	uint32_t *const next = q->next;

	for (unsigned i = 0; i < m; i++) {
		uint32_t id = fl[nfree - 1 - i];

		next[id] = LENT;
		b[i] = (struct vq_netdrv_txbuf){ .data = mem + (uint64_t)id * bb,
						 .room = bb - hs, .id = id };
	}
	q->nfree = nfree - m;
	return (int)m;
}

/* Give lent buffer id back to the free list. */
static void unlend(struct vq__netdrv_txq *q, uint32_t id)
{
	q->next[id] = NO_NEXT;
	q->free[q->nfree++] = id;
}

#define PUT_BURST 32u

/*
 * Queue lent buffers b[0..k), PUT_BURST at a time: the headers, then one
 * vq_drv_add_burst per group.  Returns how many were queued; *rc is the
 * result that ended it (1 all queued, 0 no ring space, -EINVAL a bad
 * length, -errno from the ring).
 */
static unsigned put_all(struct vq_netdrv *nd, unsigned qp, const struct vq_netdrv_txbuf *b,
			unsigned k, int *rc)
{
	struct vq__netdrv_txq *q = &nd->tx[qp];
	/* Locals: the header stores (uint8_t) would make the compiler reload
	 * every field of q and nd after each one. */
	const uint32_t hs = (uint32_t)nd->hdr_size, bb = q->buf_bytes, maxlen = bb - hs;
	uint8_t *const mem = q->mem;
	const uint64_t addr = q->addr;
	const bool full_hdr = hs >= sizeof(struct virtio_net_hdr_v1);
	struct vq_seg seg[PUT_BURST];
	void *tok[PUT_BURST];
	unsigned sent = 0;
	uint64_t bytes = 0;

	*rc = 1;
	while (sent < k && *rc > 0) {
		unsigned m = 0, want = k - sent < PUT_BURST ? k - sent : PUT_BURST;

		for (; m < want; m++) {
			const struct vq_netdrv_txbuf *x = &b[sent + m];
			const uint32_t id = x->id, len = x->len;
			const uint64_t off = (uint64_t)id * bb;

			if (len < VQ_NET_MIN_FRAME || len > maxlen) {
				*rc = -EINVAL;
				break;
			}
			put_hdr(full_hdr, mem + off, x->hdr);
			seg[m] = (struct vq_seg){ addr + off, hs + len };
			tok[m] = VQ__NETDRV_TOKEN(id);
		}
		int r = m ? vq_drv_add_burst(q->vq, seg, m, false, tok) : 0;

		if (r < 0) {
			*rc = r;
			break;
		}
		for (int i = 0; i < r; i++) {
			q->next[b[sent + (unsigned)i].id] = NO_NEXT;
			bytes += b[sent + (unsigned)i].len;
		}
		sent += (unsigned)r;
		if ((unsigned)r < m)
			*rc = 0; /* the ring filled */
	}
	nd->st[qp].tx_bytes += bytes;
	return sent;
}

int vq_netdrv_tx_put(struct vq_netdrv *nd, unsigned qp, const struct vq_netdrv_txbuf *b,
		     unsigned n, unsigned k)
{
	struct vq__netdrv_txq *q;
	unsigned i, sent = 0;
	int rc = 1;

	if (qp >= nd->p.pairs)
		return -EINVAL;
	q = &nd->tx[qp];
	/* Every entry must be a buffer lent on this pair, each once. */
	for (i = 0; i < n; i++) {
		uint32_t id = b[i].id;

		if (id >= q->nbufs || q->next[id] != LENT)
			break;
		q->next[id] = PUTTING;
	}
	if (i < n) {
		while (i--)
			q->next[b[i].id] = LENT;
		return -EINVAL;
	}
	if (k > n)
		k = n;
	if (!q->vq)
		rc = -ENOTCONN;
	else if (nd->broken[2 * qp + 1])
		rc = -EIO;
	else
		sent = put_all(nd, qp, b, k, &rc);
	for (i = sent; i < n; i++)
		unlend(q, b[i].id);
	if (!q->vq || (nd->broken[2 * qp + 1] && !sent))
		return rc;
	return tx_end(nd, qp, sent, sent == k && rc > 0 ? 1 : rc);
}

int vq_netdrv_tx_reclaim(struct vq_netdrv *nd, unsigned qp)
{
	if (qp >= nd->p.pairs)
		return -EINVAL;
	if (!nd->tx[qp].vq)
		return -ENOTCONN;
	if (nd->broken[2 * qp + 1])
		return -EIO;
	return reclaim(nd, qp);
}

unsigned vq_netdrv_tx_inflight(const struct vq_netdrv *nd, unsigned qp)
{
	return qp < nd->p.pairs ? nd->tx[qp].inflight : 0;
}

/* ---- control queue */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int ctrl_wait(struct vq_netdrv *nd, int timeout_ms)
{
	unsigned idx = 2 * nd->p.pairs;
	uint64_t end = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1000);
	void *tok;
	uint32_t len;
	int rc;

	for (;;) {
		rc = vq_drv_get(nd->ctrl.vq, &tok, &len);
		if (rc == 1)
			break;
		if (rc < 0)
			return vq__netdrv_fail(nd, idx, "%s", vq_drv_error(nd->ctrl.vq));
		if (now_ms() > end) {
			vq__netdrv_fail(nd, idx, "no answer to a control command");
			return -ETIMEDOUT;
		}
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
	if (len < 1)
		return -EREMOTEIO;
	return nd->ctrl.mem[128] == VIRTIO_NET_OK ? 0 : -EREMOTEIO;
}

int vq_netdrv_ctrl(struct vq_netdrv *nd, uint8_t cls, uint8_t cmd, const void *data,
		   uint32_t len, int timeout_ms)
{
	uint8_t *m = nd->ctrl.mem;
	struct vq_seg sg[2];
	int rc;

	if (!nd->p.ctrl || !nd->ctrl.vq)
		return -ENOTCONN;
	if (nd->broken[2 * nd->p.pairs])
		return -EIO;
	if (len > VQ__NETDRV_CTRL_MAX || (len && !data))
		return -EINVAL;
	m[0] = cls;
	m[1] = cmd;
	if (len)
		memcpy(m + 2, data, len);
	m[128] = 0xff;
	sg[0] = (struct vq_seg){ nd->ctrl.addr, 2 + len };
	sg[1] = (struct vq_seg){ nd->ctrl.addr + 128, 1 };
	if ((rc = vq_drv_add(nd->ctrl.vq, sg, 1, 1, m)) < 0)
		return rc;
	if (vq_drv_kick_prepare(nd->ctrl.vq) && nd->p.kick)
		nd->p.kick(nd->p.ctx, 2 * nd->p.pairs);
	return ctrl_wait(nd, timeout_ms);
}

int vq_netdrv_set_pairs(struct vq_netdrv *nd, uint16_t pairs, int timeout_ms)
{
	uint16_t v = pairs; /* little-endian host */

	return vq_netdrv_ctrl(nd, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &v,
			      sizeof(v), timeout_ms);
}
