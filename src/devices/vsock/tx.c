/* SPDX-License-Identifier: MIT */
/*
 * Packets from the driver (the tx queue): the connection state machine.
 * Every header goes through vq_vsock_parse first; what follows trusts only
 * the checked header, and every count the driver reports is bounded by
 * what this side gave (credit) before it is used.
 */
#include <errno.h>
#include <unistd.h>

#include "vsock_internal.h"

#define OP_NAME(op) ((op) < 8 ? op_names[op] : "?")
static const char *const op_names[8] = {
	"INVALID", "REQUEST", "RESPONSE", "RST", "SHUTDOWN", "RW",
	"CREDIT_UPDATE", "CREDIT_REQUEST",
};

/* The driver broke a rule on connection c (may be NULL): RST it. */
static void conn_fault(struct vq_vsock *v, struct vs_conn *c,
		       const struct vq_vsock_pkt *p, const char *why)
{
	vq__vs_fault(v, "tx: %s %u->%u: %s: reset", OP_NAME(p->op), p->src_port,
		     p->dst_port, why);
	if (c)
		vq__vs_kill(v, c, true);
	else
		vq__vs_rst_queue(v, p); /* room checked before the pop */
}

static void on_request(struct vq_vsock *v, struct vs_conn *c, const struct vq_vsock_pkt *p)
{
	int fd, rc;

	if (c) {
		conn_fault(v, c, p, "REQUEST on an open connection");
		return;
	}
	rc = vq__vs_host_connect(v, p->dst_port, p->type, &fd);
	if (rc < 0) { /* nobody listens there: the spec's answer is RST */
		vq__vs_rst_queue(v, p);
		return;
	}
	c = vq__vs_conn_new(v, p->src_port, p->dst_port, p->type, fd, true);
	if (!c) {
		vq__vs_fault(v, "tx: REQUEST %u->%u: %u connections open, refused",
			   p->src_port, p->dst_port, v->nconns);
		vq__vs_rst_queue(v, p);
		close(fd);
		return;
	}
	c->peer_buf_alloc = p->buf_alloc;
	c->peer_fwd_cnt = p->fwd_cnt;
	c->state = VS_ESTABLISHED;
	c->host_readable = true;
	c->pend |= VS_P_RESPONSE;
	if (vq__vs_host_watch(v, c) < 0)
		vq__vs_kill(v, c, true);
	vq__vs_want_rx(v, c);
}

static void on_shutdown(struct vq_vsock *v, struct vs_conn *c, const struct vq_vsock_pkt *p)
{
	if (p->flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
		c->guest_shut_rcv = true;
	if (p->flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
		c->guest_shut_send = true;
	if (c->guest_shut_rcv && c->guest_shut_send)
		c->state = VS_CLOSING;
	/* flush_buf shuts the host side down once the buffer is empty */
	if (vq__vs_flush_buf(v, c) < 0)
		vq__vs_kill(v, c, true);
}

/* Driver -> host payload.  -EAGAIN: park the chain (seqpacket backlog). */
static int on_rw(struct vq_vsock *v, struct vs_conn *c, const struct vq_elem *e,
		 const struct vq_vsock_pkt *p)
{
	uint32_t inflight = c->rx_cnt - c->fwd_told; /* the credit it was given */
	bool eom = p->flags & VIRTIO_VSOCK_SEQ_EOM;
	unsigned n;

	if (c->state != VS_ESTABLISHED || c->guest_shut_send) {
		conn_fault(v, c, p, "data on a connection that is not open for it");
		return 0;
	}
	if (p->len > c->buf_alloc - inflight) {
		v->st.credit_violations++;
		vq__vs_fault(v, "tx: RW %u->%u: %u bytes beyond the credit (%u of %u in use): reset",
			     p->src_port, p->dst_port, p->len, inflight, c->buf_alloc);
		vq__vs_kill(v, c, true);
		return 0;
	}
	if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET && eom && c->msg_n == VS_MSGS_MAX)
		return -EAGAIN;
	n = vq__iov_slice(e->iov, e->out_num, VQ_VSOCK_HDR_LEN, p->len, v->iov, VS_IOV_MAX);
	c->rx_cnt += p->len;
	v->st.tx_bytes += p->len;
	if (vq__vs_host_write(v, c, v->iov, n, p->len, eom) < 0)
		vq__vs_kill(v, c, true);
	return 0;
}

static int on_conn_pkt(struct vq_vsock *v, struct vs_conn *c, const struct vq_elem *e,
		       const struct vq_vsock_pkt *p)
{
	if (p->type != c->type) {
		conn_fault(v, c, p, "socket type differs from the connection's");
		return 0;
	}
	c->peer_buf_alloc = p->buf_alloc;
	c->peer_fwd_cnt = p->fwd_cnt;
	if (vq__vs_peer_credit(c))
		c->credit_asked = false;
	vq__vs_want_rx(v, c); /* credit may have opened */
	switch (p->op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state != VS_CONNECTING)
			conn_fault(v, c, p, "RESPONSE without a REQUEST");
		else
			vq__vs_established(v, c);
		return 0;
	case VIRTIO_VSOCK_OP_RST:
		vq__vs_kill(v, c, false);
		return 0;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		on_shutdown(v, c, p);
		return 0;
	case VIRTIO_VSOCK_OP_RW:
		return on_rw(v, c, e, p);
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pend |= VS_P_CREDIT_UPDATE;
		return 0;
	default: /* CREDIT_UPDATE: the header said it all */
		return 0;
	}
}

/* One tx chain.  0: done with it; -EAGAIN: keep it and stop the queue. */
int vq__vs_tx_chain(struct vq_vsock *v, struct vq_elem *e)
{
	struct vq_vsock_pkt p;
	struct vs_conn *c;
	const char *why;
	int rc;

	rc = vq_vsock_parse(e->iov, e->out_num, e->out_len, v->p.guest_cid,
			    v->seqpacket, &p, &why);
	if (rc == -EMSGSIZE) {
		v->st.bad_hdr++;
		vq__vs_fault(v, "tx: %s (%llu bytes): dropped", why,
			     (unsigned long long)e->out_len);
		return 0;
	}
	c = rc == 0 || p.src_cid == v->p.guest_cid ? vq__vs_find(v, p.src_port, p.dst_port) : NULL;
	if (c && c->state == VS_DEAD)
		c = NULL;
	if (rc < 0) {
		v->st.bad_hdr++;
		conn_fault(v, c, &p, why);
		return 0;
	}
	v->st.tx_pkts++;
	if (p.op == VIRTIO_VSOCK_OP_REQUEST) {
		on_request(v, c, &p);
		return 0;
	}
	if (!c) { /* no such connection: RST (never for an RST) */
		vq__vs_rst_queue(v, &p);
		return 0;
	}
	return on_conn_pkt(v, c, e, &p);
}

static void tx_broken(struct vq_vsock *v, int rc)
{
	v->tx_broken = true;
	vq__vs_log(v, "tx queue broken: %s (%d)",
		   rc == -ENOBUFS ? "chain of too many segments" : vq_dev_error(v->q[VQ_VSOCK_TX]),
		   rc);
	vq__vs_queue_broken(v, VQ_VSOCK_TX);
}

/* Serve the tx queue; returns chains consumed. */
int vq__vs_tx(struct vq_vsock *v)
{
	struct vq_dev *q = v->q[VQ_VSOCK_TX];
	struct vq_elem *e = &v->park;
	int done = 0, rc;

	if (!q || v->tx_broken || !v->enabled[VQ_VSOCK_TX])
		return 0;
	while (done < (int)VS_BUDGET) {
		if (!v->parked) {
			if (v->rst_n == VS_RST_QUEUE)
				break; /* back-pressure: the driver owes rx buffers */
			*e = (struct vq_elem){ .iov = v->park_iov, .iov_cap = VS_IOV_MAX };
			rc = vq_dev_pop(q, e);
			if (rc == 0 && vq_dev_enable_notify(q) == 1)
				continue;
			if (rc == 0)
				break;
			if (rc < 0) {
				tx_broken(v, rc);
				break;
			}
		}
		v->parked = vq__vs_tx_chain(v, e) == -EAGAIN;
		if (v->parked)
			break;
		vq_dev_push(q, e, 0);
		v->dirty[VQ_VSOCK_TX] = true;
		done++;
	}
	return done;
}
