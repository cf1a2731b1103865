/* SPDX-License-Identifier: MIT */
/*
 * vsock driver, receive side: used rx buffers are checked and dispatched.
 * A data buffer is queued on its socket as it is (no copy); recv copies
 * out of it and recycles it once consumed, recv_zc lends it.  fwd_cnt
 * grows only when a buffer goes back to the ring.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "drv_internal.h"

int vq__drv_rx_post(struct vq_vsockdrv *d, struct drx *b)
{
	struct vq_seg sg[2] = {
		{ vq__drv_addr(b->hdr), VQ_VSOCK_HDR_LEN },
		{ vq__drv_addr(b->data), d->p.rx_buf_pages * DRV_PAGE },
	};
	int rc;

	b->len = b->off = b->flags = 0;
	if (!d->q[DQ_RX] || d->down) { /* back on the ring when the device is */
		b->next = d->rx_idle;
		d->rx_idle = b;
		return 0;
	}
	b->next = NULL;
	rc = vq_drv_add(d->q[DQ_RX], sg, 0, 2, b);
	if (rc < 0)
		return rc;
	d->kick[DQ_RX] = true;
	return 0;
}

/* A consumed buffer goes back; its bytes count as forwarded. */
static void recycle(struct vq_vsocksk *s, struct drx *b, bool credit)
{
	if (credit)
		s->fwd_cnt += b->len;
	if (vq__drv_rx_post(s->d, b) == 0)
		s->d->st.rx_reposted++;
}

void vq__dsk_drop_rx(struct vq_vsocksk *s)
{
	while (s->rxq) {
		struct drx *b = s->rxq;

		s->rxq = b->next;
		recycle(s, b, true);
	}
	s->rxq_tail = NULL;
	s->rx_avail = 0;
	for (unsigned i = 0; i < s->nlent; i++)
		recycle(s, s->lent[i], true);
	s->nlent = 0;
}

static void queue_rx(struct vq_vsocksk *s, struct drx *b)
{
	if (s->rxq_tail)
		s->rxq_tail->next = b;
	else
		s->rxq = b;
	s->rxq_tail = b;
	s->rx_avail += b->len;
}

/* RW: -EPROTO when the device broke this socket's rules. */
static int on_rw(struct vq_vsocksk *s, struct drx *b, const struct vq_vsock_pkt *p)
{
	uint32_t used = s->rx_cnt - s->fwd_told;

	if (s->state != DS_ESTABLISHED || s->peer_shut_send || p->len > s->buf_alloc - used)
		return -EPROTO;
	if (!p->len) {
		recycle(s, b, false);
		return 0;
	}
	b->len = p->len;
	b->flags = p->flags;
	s->rx_cnt += p->len;
	queue_rx(s, b);
	return 1;
}

static void on_request(struct vq_vsockdrv *d, const struct vq_vsock_pkt *p)
{
	int i = vq__dsk_listener(d, p->dst_port);
	struct vq_vsocksk *s;

	if (i < 0 || (p->type == VIRTIO_VSOCK_TYPE_SEQPACKET &&
		      !(d->features & VQ_VSOCK_F_SEQPACKET)) ||
	    !(s = vq__dsk_new(d, p->dst_port, p->src_port, p->type))) {
		if (d->nrst < sizeof(d->rst) / sizeof(d->rst[0]))
			d->rst[d->nrst++] = *p;
		return;
	}
	s->state = DS_ESTABLISHED;
	s->peer_buf_alloc = p->buf_alloc;
	s->peer_fwd_cnt = p->fwd_cnt;
	s->pend = DP_RESPONSE;
	if (d->listen[i].tail)
		d->listen[i].tail->anext = s;
	else
		d->listen[i].q = s;
	d->listen[i].tail = s;
}

/* One packet for socket s.  Returns 1 when b was queued (kept). */
static int on_sock(struct vq_vsocksk *s, struct drx *b, const struct vq_vsock_pkt *p)
{
	if (p->buf_alloc != s->peer_buf_alloc || p->fwd_cnt != s->peer_fwd_cnt ||
	    p->op == VIRTIO_VSOCK_OP_CREDIT_UPDATE)
		s->credit_asked = false; /* news: a later shortage may ask again */
	s->peer_buf_alloc = p->buf_alloc;
	s->peer_fwd_cnt = p->fwd_cnt;
	switch (p->op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (s->state != DS_CONNECTING)
			return -EPROTO;
		s->state = DS_ESTABLISHED;
		return 0;
	case VIRTIO_VSOCK_OP_RST:
		vq__dsk_reset(s, s->state == DS_CONNECTING ? -ECONNREFUSED : -ECONNRESET, false);
		return 0;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		s->peer_shut_send |= !!(p->flags & VIRTIO_VSOCK_SHUTDOWN_SEND);
		s->peer_shut_rcv |= !!(p->flags & VIRTIO_VSOCK_SHUTDOWN_RCV);
		if (s->peer_shut_send && s->peer_shut_rcv)
			vq__dsk_reset(s, -ECONNRESET, true);
		return 0;
	case VIRTIO_VSOCK_OP_RW:
		return on_rw(s, b, p);
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		s->pend |= DP_CREDIT_UPDATE;
		return 0;
	case VIRTIO_VSOCK_OP_REQUEST:
		return -EPROTO; /* on an existing connection */
	default:
		return 0;
	}
}

static int dispatch(struct vq_vsockdrv *d, struct drx *b, uint32_t len)
{
	struct vq_vsock_pkt p;
	struct vq_vsocksk *s;
	int rc;

	vq_vsock_hdr_decode(b->hdr, &p);
	if (len < VQ_VSOCK_HDR_LEN || p.len != len - VQ_VSOCK_HDR_LEN ||
	    p.src_cid != VQ_VSOCK_HOST_CID || p.dst_cid != d->cid ||
	    (p.type != VIRTIO_VSOCK_TYPE_STREAM && p.type != VIRTIO_VSOCK_TYPE_SEQPACKET) ||
	    (p.op != VIRTIO_VSOCK_OP_RW && p.len)) {
		d->st.bad_pkts++;
		return 0;
	}
	d->st.rx_pkts++;
	d->st.rx_bytes += p.len;
	s = vq__dsk_find(d, p.dst_port, p.src_port);
	if (!s) {
		if (p.op == VIRTIO_VSOCK_OP_REQUEST)
			on_request(d, &p);
		else if (p.op != VIRTIO_VSOCK_OP_RST &&
			 d->nrst < sizeof(d->rst) / sizeof(d->rst[0]))
			d->rst[d->nrst++] = p;
		return 0;
	}
	if (p.type != s->type)
		rc = -EPROTO;
	else
		rc = on_sock(s, b, &p);
	if (rc == -EPROTO) {
		d->st.bad_pkts++;
		vq__dsk_reset(s, -ECONNRESET, true);
		return 0;
	}
	return rc;
}

int vq__drv_rx_used(struct vq_vsockdrv *d)
{
	int n = 0, rc;
	void *tok;
	uint32_t len;

	while ((rc = vq_drv_get(d->q[DQ_RX], &tok, &len)) == 1) {
		struct drx *b = tok;

		/* A TRANSPORT_RESET the device published before this packet is
		 * visible now (the acquire of the rx used index pairs with the
		 * device's release in vq__vs_event's flush): act on it first. */
		if (!n && (rc = vq__drv_evt_used(d)) < 0)
			return rc;
		n++;
		if (dispatch(d, b, len) != 1 && vq__drv_rx_post(d, b) == 0)
			d->st.rx_reposted++;
	}
	if (rc < 0)
		vq__drv_fail(d, "rx queue: %s", vq_drv_error(d->q[DQ_RX]));
	return rc < 0 ? rc : n;
}

/*
 * TRANSPORT_RESET (spec 5.10.6.6): the device forgot every connection and
 * our cid may have changed.  Every connection is reset (-ECONNRESET, no RST:
 * the device knows nothing of them); RSTs owed for the old state are
 * dropped; the cid is read again.  A connect in progress is left alone: the
 * device sends the event before it takes any packet of its new session, and
 * we read it before any rx packet (vq__drv_rx_used), so its REQUEST, sent
 * or not, reaches the new state, and its RESPONSE or RST is still to come.
 */
static int transport_reset(struct vq_vsockdrv *d)
{
	int rc;

	d->st.transport_resets++;
	d->nrst = 0;
	for (struct vq_vsocksk *k = d->socks; k; k = k->next)
		if (k->state != DS_CONNECTING)
			vq__dsk_reset(k, -ECONNRESET, false);
	rc = vq__drv_read_cid(d);
	if (rc < 0)
		d->broken = true;
	return rc;
}

int vq__drv_evt_used(struct vq_vsockdrv *d)
{
	int n = 0, rc;
	void *tok;
	uint32_t len;

	while ((rc = vq_drv_get(d->q[DQ_EVT], &tok, &len)) == 1) {
		struct virtio_vsock_event *e = tok;
		struct vq_seg s = { vq__drv_addr(e), sizeof(*e) };

		if (len >= sizeof(*e) && le32toh(e->id) == VIRTIO_VSOCK_EVENT_TRANSPORT_RESET &&
		    (rc = transport_reset(d)) < 0)
			return rc;
		vq_drv_add(d->q[DQ_EVT], &s, 0, 1, e);
		d->kick[DQ_EVT] = true;
		n++;
	}
	if (rc < 0)
		vq__drv_fail(d, "event queue: %s", vq_drv_error(d->q[DQ_EVT]));
	return rc < 0 ? rc : n;
}

/* ---- recv */

static int recv_state(const struct vq_vsocksk *s)
{
	if (s->rxq)
		return 1;
	if (s->state == DS_CLOSED)
		return s->err ? s->err : -ECONNRESET;
	return s->peer_shut_send ? 0 : -EAGAIN;
}

/* Take the head buffer off the queue and give it back. */
static void consume(struct vq_vsocksk *s)
{
	struct drx *b = s->rxq;

	s->rx_avail -= b->len - b->off;
	s->rxq = b->next;
	if (!s->rxq)
		s->rxq_tail = NULL;
	recycle(s, b, true);
}

/* The tail of a message a short read truncated: drop what has come of it
 * (the rest is dropped when it arrives). */
static void skip_msg(struct vq_vsocksk *s)
{
	while (s->skip_msg && s->rxq) {
		bool end = s->rxq->flags & VIRTIO_VSOCK_SEQ_EOM;

		consume(s);
		s->skip_msg = !end;
	}
}

ssize_t vq_vsocksk_recv(struct vq_vsocksk *s, void *buf, size_t len, bool *eom)
{
	bool seq = s->type == VIRTIO_VSOCK_TYPE_SEQPACKET, ended = false;
	size_t got = 0;
	int rc;

	if (eom)
		*eom = false;
	skip_msg(s);
	rc = recv_state(s);
	if (rc <= 0)
		return rc;
	while (s->rxq && got < len && !ended) {
		struct drx *b = s->rxq;
		size_t k = b->len - b->off < len - got ? b->len - b->off : len - got;

		memcpy((uint8_t *)buf + got, b->data + b->off, k);
		got += k;
		b->off += (uint32_t)k;
		s->rx_avail -= k;
		ended = seq && (b->flags & VIRTIO_VSOCK_SEQ_EOM);
		if (b->off < b->len && !seq)
			break;
		consume(s); /* SEQPACKET: a partly read buffer is a truncated message */
	}
	if (seq && !ended && got == len && len) { /* truncated: drop the rest */
		s->skip_msg = true;
		skip_msg(s);
		ended = true;
	}
	if (eom)
		*eom = ended;
	vq__dsk_credit_check(s);
	return (ssize_t)got;
}

int vq_vsocksk_recv_zc(struct vq_vsocksk *s, unsigned max_pages, struct vq_vsock_zc *zc)
{
	size_t bytes = 0;
	unsigned pages = 0, n = 0;
	int rc;

	if (s->nlent)
		return -EBUSY;
	skip_msg(s);
	rc = recv_state(s);
	if (rc <= 0)
		return rc;
	while (s->rxq && n < DRV_ZC_MAX) {
		struct drx *b = s->rxq;
		unsigned bp = (b->len - b->off + DRV_PAGE - 1) / DRV_PAGE;

		if (n && pages + bp > max_pages)
			break;
		s->rxq = b->next;
		s->zc_page[n] = (struct vq_vsock_zc_hdr){ b->len - b->off, b->flags };
		s->lent[n] = b;
		s->lent_data[n] = b->data + b->off;
		bytes += b->len - b->off;
		pages += bp;
		n++;
	}
	if (!s->rxq)
		s->rxq_tail = NULL;
	s->zc_page[n] = (struct vq_vsock_zc_hdr){ 0, 0 };
	s->rx_avail -= bytes;
	s->nlent = n;
	s->d->st.zc_handed += n;
	*zc = (struct vq_vsock_zc){ s->zc_page, s->lent_data, n, bytes };
	return (int)n;
}

int vq_vsocksk_release_zc(struct vq_vsocksk *s, struct vq_vsock_zc *zc)
{
	for (unsigned i = 0; i < s->nlent; i++)
		recycle(s, s->lent[i], true);
	s->d->st.zc_released += s->nlent;
	s->nlent = 0;
	zc->n = 0;
	/* as recv: a CREDIT_UPDATE owed and the re-posted buffers go out with
	 * the next poll, not one notification per release */
	vq__dsk_credit_check(s);
	return 0;
}
