/* SPDX-License-Identifier: MIT */
/*
 * vsock driver, transmit side: control packets owed by sockets, copy and
 * zero-copy sends bounded by the peer's credit, tx completions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drv_internal.h"

#define ZC_SEGS 64u /* segments of one zero-copy packet */

void vq__drv_hdr(const struct vq_vsocksk *s, uint16_t op, struct vq_vsock_pkt *p)
{
	*p = (struct vq_vsock_pkt){
		.src_cid = s->d->cid, .dst_cid = VQ_VSOCK_HOST_CID,
		.src_port = s->lport, .dst_port = s->pport, .type = s->type, .op = op,
		.buf_alloc = s->buf_alloc, .fwd_cnt = s->fwd_cnt,
	};
}

/* Put a header-only packet on the tx ring: 0, or -EAGAIN. */
static int send_hdr(struct vq_vsockdrv *d, const struct vq_vsock_pkt *p)
{
	struct dtx *t = d->free_h;
	struct vq_seg sg;

	if (!t || !d->q[DQ_TX])
		return -EAGAIN;
	vq_vsock_hdr_encode(p, t->hdr);
	sg = (struct vq_seg){ vq__drv_addr(t->hdr), VQ_VSOCK_HDR_LEN };
	if (vq_drv_add(d->q[DQ_TX], &sg, 1, 0, t) < 0)
		return -EAGAIN;
	d->free_h = t->next;
	t->zc = NULL;
	d->kick[DQ_TX] = true;
	d->st.tx_pkts++;
	return 0;
}

static int send_pend(struct vq_vsocksk *s)
{
	static const struct { uint32_t bit; uint16_t op; } order[] = {
		{ DP_RST, VIRTIO_VSOCK_OP_RST },
		{ DP_REQUEST, VIRTIO_VSOCK_OP_REQUEST },
		{ DP_RESPONSE, VIRTIO_VSOCK_OP_RESPONSE },
		{ DP_CREDIT_UPDATE, VIRTIO_VSOCK_OP_CREDIT_UPDATE },
		{ DP_CREDIT_REQUEST, VIRTIO_VSOCK_OP_CREDIT_REQUEST },
		{ DP_SHUTDOWN, VIRTIO_VSOCK_OP_SHUTDOWN },
	};
	int n = 0;

	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]) && s->pend; i++) {
		struct vq_vsock_pkt p;

		if (!(s->pend & order[i].bit))
			continue;
		vq__drv_hdr(s, order[i].op, &p);
		if (order[i].op == VIRTIO_VSOCK_OP_SHUTDOWN)
			p.flags = s->shut_flags;
		if (send_hdr(s->d, &p) < 0)
			break;
		s->pend &= ~order[i].bit;
		s->fwd_told = s->fwd_cnt;
		if (order[i].op == VIRTIO_VSOCK_OP_CREDIT_UPDATE)
			s->d->st.credit_updates++;
		n++;
	}
	return n;
}

/* Free closed sockets the application gave up (closed or failed connect). */
static void sweep(struct vq_vsockdrv *d)
{
	struct vq_vsocksk **pp = &d->socks;

	while (*pp) {
		struct vq_vsocksk *s = *pp;

		if (s->freed && s->state == DS_CLOSED && !s->pend) {
			*pp = s->next;
			vq__dsk_free(d, s);
		} else {
			pp = &s->next;
		}
	}
}

int vq__drv_flush_ctrl(struct vq_vsockdrv *d)
{
	int n = 0;

	while (d->nrst) { /* RST answers to packets for unknown sockets */
		const struct vq_vsock_pkt *bad = &d->rst[d->nrst - 1];
		struct vq_vsock_pkt p = {
			.src_cid = d->cid, .dst_cid = VQ_VSOCK_HOST_CID,
			.src_port = bad->dst_port, .dst_port = bad->src_port,
			.type = bad->type, .op = VIRTIO_VSOCK_OP_RST,
		};

		if (send_hdr(d, &p) < 0)
			break;
		d->nrst--;
		n++;
	}
	for (struct vq_vsocksk *s = d->socks; s; s = s->next)
		if (s->pend)
			n += send_pend(s);
	sweep(d);
	vq__drv_kick_all(d);
	return n;
}

void vq__dsk_credit_check(struct vq_vsocksk *s)
{
	if (s->state == DS_ESTABLISHED &&
	    vq__vs_credit_update_due(s->buf_alloc, s->rx_cnt, s->fwd_cnt, s->fwd_told))
		s->pend |= DP_CREDIT_UPDATE;
}

/* A send waits for credit: ask the peer for its current fwd_cnt once (a
 * peer that only reports credit when its buffer ran half full would
 * otherwise never tell a sender of a whole large message). */
void vq__dsk_credit_ask(struct vq_vsocksk *s)
{
	if (s->credit_asked || s->state != DS_ESTABLISHED)
		return;
	s->credit_asked = true;
	s->pend |= DP_CREDIT_REQUEST;
	vq__drv_flush_ctrl(s->d);
}

static int send_check(const struct vq_vsocksk *s)
{
	if (s->d->broken)
		return -EIO;
	if (s->state == DS_CLOSED)
		return s->err ? s->err : -ECONNRESET;
	if (s->state != DS_ESTABLISHED)
		return -ENOTCONN;
	if (s->shut_send || s->peer_shut_rcv)
		return -EPIPE;
	return 0;
}

/* One copy packet of len bytes from buf. */
static int send_copy_pkt(struct vq_vsocksk *s, const uint8_t *buf, uint32_t len, uint32_t flags)
{
	struct vq_vsockdrv *d = s->d;
	struct dtx *t = d->free_c;
	struct vq_vsock_pkt p;
	struct vq_seg sg;

	if (!t || !d->q[DQ_TX])
		return -EAGAIN;
	vq__drv_hdr(s, VIRTIO_VSOCK_OP_RW, &p);
	p.len = len;
	p.flags = flags;
	vq_vsock_hdr_encode(&p, t->hdr);
	memcpy(t->data, buf, len);
	sg = (struct vq_seg){ vq__drv_addr(t->hdr), VQ_VSOCK_HDR_LEN + len };
	if (vq_drv_add(d->q[DQ_TX], &sg, 1, 0, t) < 0)
		return -EAGAIN;
	d->free_c = t->next;
	t->zc = NULL;
	s->tx_cnt += len;
	s->fwd_told = s->fwd_cnt;
	d->kick[DQ_TX] = true;
	d->st.tx_pkts++;
	d->st.tx_bytes += len;
	return 0;
}

ssize_t vq_vsocksk_send(struct vq_vsocksk *s, const void *buf, size_t len, bool eom)
{
	bool seq = s->type == VIRTIO_VSOCK_TYPE_SEQPACKET;
	uint32_t room = vq_vsocksk_send_room(s);
	size_t done = 0;
	int rc = send_check(s);

	if (rc < 0)
		return rc;
	if (seq && len > s->peer_buf_alloc)
		return -EMSGSIZE;
	if (seq && len > room) {
		vq__dsk_credit_ask(s);
		return -EAGAIN; /* a message goes whole */
	}
	if (seq && (size_t)(len + s->d->p.tx_pkt - 1) / s->d->p.tx_pkt > s->d->p.tx_bufs)
		return -EAGAIN;
	while (done < len && room) {
		uint32_t k = (uint32_t)(len - done < s->d->p.tx_pkt ? len - done : s->d->p.tx_pkt);
		uint32_t flags = 0;

		if (k > room)
			k = room;
		if (seq && eom && done + k == len)
			flags = VIRTIO_VSOCK_SEQ_EOM;
		if (send_copy_pkt(s, (const uint8_t *)buf + done, k, flags) < 0)
			break;
		done += k;
		room -= k;
	}
	if (seq && eom && !len && send_copy_pkt(s, buf, 0, VIRTIO_VSOCK_SEQ_EOM) == 0)
		return 0;
	if (!room && done < len)
		vq__dsk_credit_ask(s);
	vq__drv_kick_all(s->d);
	return done ? (ssize_t)done : -EAGAIN;
}

/* Segments for bytes [off, off+len) of iov after the header segment. */
static unsigned zc_segs(struct vq_vsockdrv *d, const struct iovec *iov, unsigned n,
			size_t off, uint32_t *len, struct vq_seg *sg)
{
	struct vq__iov_iter it;
	unsigned k = 1;
	uint32_t got = 0;
	uint8_t *p;
	size_t l;

	vq__iov_iter_init(&it, iov, n, off, *len);
	while (k < ZC_SEGS && (l = vq__iov_next(&it, &p)) > 0) {
		sg[k++] = (struct vq_seg){ vq__drv_addr(p), (uint32_t)l };
		got += (uint32_t)l;
	}
	*len = got;
	return k;
}

static int send_zc_pkt(struct vq_vsocksk *s, const struct iovec *iov, unsigned n, size_t off,
		       uint32_t *len, struct dzc *z)
{
	struct vq_vsockdrv *d = s->d;
	struct dtx *t = d->free_h;
	struct vq_seg sg[ZC_SEGS];
	struct vq_vsock_pkt p;
	unsigned k;

	if (!t || !d->q[DQ_TX])
		return -EAGAIN;
	k = zc_segs(d, iov, n, off, len, sg);
	vq__drv_hdr(s, VIRTIO_VSOCK_OP_RW, &p);
	p.len = *len;
	vq_vsock_hdr_encode(&p, t->hdr);
	sg[0] = (struct vq_seg){ vq__drv_addr(t->hdr), VQ_VSOCK_HDR_LEN };
	if (vq_drv_add(d->q[DQ_TX], sg, k, 0, t) < 0)
		return -EAGAIN;
	d->free_h = t->next;
	t->zc = z;
	z->left++;
	s->tx_cnt += *len;
	s->fwd_told = s->fwd_cnt;
	d->kick[DQ_TX] = true;
	d->st.tx_pkts++;
	d->st.tx_bytes += *len;
	return 0;
}

/* A send's record: one a reported send left, else a new one (no malloc
 * per send once the first round is out). */
static struct dzc *d_zc_get(struct vq_vsockdrv *d)
{
	struct dzc *z = d->zc_free;

	if (!z)
		return calloc(1, sizeof(*z));
	d->zc_free = z->next;
	*z = (struct dzc){ 0 };
	return z;
}

static void zc_finish(struct vq_vsockdrv *d, struct dzc *z)
{
	z->next = NULL;
	if (d->zc_done_tail)
		d->zc_done_tail->next = z;
	else
		d->zc_done = z;
	d->zc_done_tail = z;
}

ssize_t vq_vsocksk_send_zc(struct vq_vsocksk *s, const struct iovec *iov, unsigned n,
			   size_t len, uint64_t cookie)
{
	uint32_t room = vq_vsocksk_send_room(s);
	size_t done = 0;
	struct dzc *z;
	int rc = send_check(s);

	if (rc < 0)
		return rc;
	if (!room && len)
		vq__dsk_credit_ask(s);
	if (!room || !len)
		return -EAGAIN;
	z = d_zc_get(s->d);
	if (!z)
		return -ENOMEM;
	z->cookie = cookie;
	while (done < len && room) {
		uint32_t k = (uint32_t)(len - done < room ? len - done : room);

		if (k > s->d->p.tx_pkt) /* packets as large as copy ones: the device */
			k = s->d->p.tx_pkt; /* buffers less of a packet the host refuses */
		if (send_zc_pkt(s, iov, n, done, &k, z) < 0 || !k)
			break;
		done += k;
		room -= k;
	}
	if (!z->left) {
		z->next = s->d->zc_free;
		s->d->zc_free = z;
		return -EAGAIN;
	}
	vq__drv_kick_all(s->d);
	return (ssize_t)done;
}

unsigned vq_vsockdrv_zc_done(struct vq_vsockdrv *d, uint64_t *cookies, unsigned max)
{
	unsigned n = 0;

	while (d->zc_done && n < max) {
		struct dzc *z = d->zc_done;

		d->zc_done = z->next;
		if (!d->zc_done)
			d->zc_done_tail = NULL;
		cookies[n++] = z->cookie;
		z->next = d->zc_free;
		d->zc_free = z;
	}
	return n;
}

/* The device is done with slot t (or gone): free it; a zero-copy send
 * whose last packet this was is reported done. */
void vq__drv_tx_release(struct vq_vsockdrv *d, struct dtx *t)
{
	if (t->zc && --t->zc->left == 0)
		zc_finish(d, t->zc);
	t->zc = NULL;
	if (t >= d->txc && t < d->txc + d->p.tx_bufs) {
		t->next = d->free_c;
		d->free_c = t;
	} else {
		t->next = d->free_h;
		d->free_h = t;
	}
}

int vq__drv_tx_used(struct vq_vsockdrv *d)
{
	int n = 0, rc;
	void *tok;
	uint32_t len;

	while ((rc = vq_drv_get(d->q[DQ_TX], &tok, &len)) == 1) {
		vq__drv_tx_release(d, tok);
		n++;
	}
	if (rc < 0)
		vq__drv_fail(d, "tx queue: %s", vq_drv_error(d->q[DQ_TX]));
	return rc < 0 ? rc : n;
}
