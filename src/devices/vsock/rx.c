/* SPDX-License-Identifier: MIT */
/*
 * Packets to the driver (the rx queue): queued RSTs first, then the
 * connections on the rx work list, one packet per connection per turn
 * (round robin).  Host data is read straight into the driver's buffer
 * (stream) or copied from one gathered record (seqpacket).  A popped rx
 * buffer that finds nothing to carry is kept for the next turn.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "vsock_internal.h"

static void hdr_for(const struct vq_vsock *v, const struct vs_conn *c, uint16_t op,
		    struct vq_vsock_pkt *p)
{
	*p = (struct vq_vsock_pkt){
		.src_cid = VQ_VSOCK_HOST_CID, .dst_cid = v->p.guest_cid,
		.src_port = c->hport, .dst_port = c->gport,
		.type = c->type, .op = op,
		.buf_alloc = c->buf_alloc, .fwd_cnt = c->fwd_cnt,
	};
}

static uint32_t put_hdr(struct vq_vsock *v, const struct vq_elem *e, struct vq_vsock_pkt *p)
{
	struct virtio_vsock_hdr h;

	vq_vsock_hdr_encode(p, &h);
	vq__iov_from_buf(e->iov + e->out_num, e->in_num, 0, &h, sizeof(h));
	v->st.rx_pkts++;
	v->st.rx_bytes += p->len;
	return VQ_VSOCK_HDR_LEN + p->len;
}

static uint32_t send_queued_rst(struct vq_vsock *v, const struct vq_elem *e)
{
	const struct vq_vsock_pkt *bad = &v->rst[v->rst_head].pkt;
	struct vq_vsock_pkt p = {
		.src_cid = VQ_VSOCK_HOST_CID, .dst_cid = v->p.guest_cid,
		.src_port = bad->dst_port, .dst_port = bad->src_port,
		.type = bad->type, .op = VIRTIO_VSOCK_OP_RST,
	};

	if (p.type != VIRTIO_VSOCK_TYPE_SEQPACKET)
		p.type = VIRTIO_VSOCK_TYPE_STREAM;
	v->rst_head = (v->rst_head + 1) % VS_RST_QUEUE;
	v->rst_n--;
	v->st.rst_sent++;
	return put_hdr(v, e, &p);
}

/* The highest-priority control packet c owes, as an op (0: none). */
static uint16_t take_pend(struct vs_conn *c, uint32_t *flags)
{
	static const struct { uint32_t bit; uint16_t op; } order[] = {
		{ VS_P_RST, VIRTIO_VSOCK_OP_RST },
		{ VS_P_REQUEST, VIRTIO_VSOCK_OP_REQUEST },
		{ VS_P_RESPONSE, VIRTIO_VSOCK_OP_RESPONSE },
		{ VS_P_SHUTDOWN, VIRTIO_VSOCK_OP_SHUTDOWN },
		{ VS_P_CREDIT_UPDATE, VIRTIO_VSOCK_OP_CREDIT_UPDATE },
		{ VS_P_CREDIT_REQUEST, VIRTIO_VSOCK_OP_CREDIT_REQUEST },
	};

	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (c->pend & order[i].bit) {
			c->pend &= ~order[i].bit;
			*flags = order[i].op == VIRTIO_VSOCK_OP_SHUTDOWN ? c->shut_flags : 0;
			return order[i].op;
		}
	return 0;
}

static bool wants_data(const struct vs_conn *c)
{
	return c->state == VS_ESTABLISHED && !c->guest_shut_rcv && !c->host_eof &&
	       (c->host_readable || c->rec_off < c->rec_len);
}

/* Read one host record (seqpacket) into c->rec.  1 got one, 0 none, -errno. */
static int read_record(struct vq_vsock *v, struct vs_conn *c)
{
	uint32_t cap = c->buf_alloc;
	struct iovec iov;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (!c->rec && !(c->rec = malloc(cap)))
		return -ENOMEM;
	iov = (struct iovec){ c->rec, cap };
	n = recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if ((size_t)n > cap) {
		vq__vs_log(v, "host %u: a %zd-byte record is larger than %u: reset",
			   c->hport, n, cap);
		return -EMSGSIZE;
	}
	if (n == 0) { /* seqpacket: 0 is EOF (a 0-byte record cannot be told apart) */
		c->host_eof = true;
		return 0;
	}
	c->rec_len = (uint32_t)n;
	c->rec_off = 0;
	c->rec_eor = m.msg_flags & MSG_EOR;
	return 1;
}

/* Payload bytes into e after the header: 0 when the host had none. */
static int fill_data(struct vq_vsock *v, struct vs_conn *c, const struct vq_elem *e,
		     uint32_t room, uint32_t *flags)
{
	unsigned n;
	ssize_t got;

	if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
		int rc = c->rec_off < c->rec_len ? 1 : read_record(v, c);

		if (rc <= 0) {
			c->host_readable = false;
			return rc;
		}
		got = c->rec_len - c->rec_off < room ? c->rec_len - c->rec_off : room;
		vq__iov_from_buf(e->iov + e->out_num, e->in_num, VQ_VSOCK_HDR_LEN,
				 c->rec + c->rec_off, (size_t)got);
		c->rec_off += (uint32_t)got;
		if (c->rec_off == c->rec_len)
			*flags = VIRTIO_VSOCK_SEQ_EOM | (c->rec_eor ? VIRTIO_VSOCK_SEQ_EOR : 0);
		return (int)got;
	}
	n = vq__iov_slice(e->iov + e->out_num, e->in_num, VQ_VSOCK_HDR_LEN, room,
			  v->iov, VS_IOV_MAX);
	got = readv(c->fd, v->iov, (int)n);
	if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->host_readable = false;
		return 0;
	}
	if (got == 0)
		c->host_eof = true;
	return got < 0 ? -errno : (int)got;
}

static uint32_t data_packet(struct vq_vsock *v, struct vs_conn *c, const struct vq_elem *e)
{
	struct vq_vsock_pkt p;
	uint32_t flags = 0, room = vq__vs_peer_credit(c);
	uint64_t space = e->in_len - VQ_VSOCK_HDR_LEN;
	int got;

	if (!room) { /* out of credit: ask once, the driver's update re-queues us */
		if (c->credit_asked)
			return 0;
		c->credit_asked = true;
		hdr_for(v, c, VIRTIO_VSOCK_OP_CREDIT_REQUEST, &p);
		return put_hdr(v, e, &p);
	}
	if (space < room)
		room = (uint32_t)space;
	got = fill_data(v, c, e, room, &flags);
	if (got < 0) {
		vq__vs_kill(v, c, true);
		return 0;
	}
	if (got == 0 && !c->host_eof)
		return 0;
	if (got == 0) { /* the host peer will send no more */
		hdr_for(v, c, VIRTIO_VSOCK_OP_SHUTDOWN, &p);
		p.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
		return put_hdr(v, e, &p);
	}
	hdr_for(v, c, VIRTIO_VSOCK_OP_RW, &p);
	p.len = (uint32_t)got;
	p.flags = flags;
	c->tx_cnt += (uint32_t)got;
	c->fwd_told = c->fwd_cnt;
	return put_hdr(v, e, &p);
}

/* The next packet of c into e: bytes written, 0 when c had nothing. */
static uint32_t conn_packet(struct vq_vsock *v, struct vs_conn *c, const struct vq_elem *e)
{
	struct vq_vsock_pkt p;
	uint32_t flags = 0;
	uint16_t op = take_pend(c, &flags);

	if (!op)
		return wants_data(c) ? data_packet(v, c, e) : 0;
	hdr_for(v, c, op, &p);
	p.flags = flags;
	c->fwd_told = c->fwd_cnt;
	if (op == VIRTIO_VSOCK_OP_RST) {
		v->st.rst_sent++;
		vq__vs_kill(v, c, false);
	}
	return put_hdr(v, e, &p);
}

/* Pop an rx buffer into v->rx_elem: 1, or 0 when none (or the queue broke). */
static int pop_rx(struct vq_vsock *v, struct vq_dev *q)
{
	struct vq_elem *e = &v->rx_elem;
	int rc;

	for (;;) {
		*e = (struct vq_elem){ .iov = v->rx_iov, .iov_cap = VS_IOV_MAX };
		rc = vq_dev_pop(q, e);
		if (rc == 0 && vq_dev_enable_notify(q) == 1)
			continue;
		if (rc <= 0)
			break;
		if (e->out_num == 0 && e->in_len > VQ_VSOCK_HDR_LEN)
			return 1;
		vq__vs_fault(v, "rx: buffer of %llu writable bytes after %u readable segments: no room for a packet",
			     (unsigned long long)e->in_len, e->out_num);
		vq_dev_push(q, e, 0);
		v->dirty[VQ_VSOCK_RX] = true;
	}
	if (rc < 0) {
		v->rx_broken = true;
		vq__vs_log(v, "rx queue broken: %s (%d)",
			   rc == -ENOBUFS ? "chain of too many segments" : vq_dev_error(q), rc);
		vq__vs_queue_broken(v, VQ_VSOCK_RX);
	}
	return 0;
}

static struct vs_conn *rx_next(struct vq_vsock *v)
{
	struct vs_conn *c = v->rx_head;

	v->rx_head = c->rnext;
	if (!v->rx_head)
		v->rx_tail = NULL;
	c->in_rx = false;
	return c;
}

/* Serve the rx queue; returns packets delivered. */
int vq__vs_rx(struct vq_vsock *v)
{
	struct vq_dev *q = v->q[VQ_VSOCK_RX];
	int done = 0;

	if (!q || v->rx_broken || !v->enabled[VQ_VSOCK_RX])
		return 0;
	while (done < (int)VS_BUDGET && (v->rst_n || v->rx_head)) {
		uint32_t len;

		if (!v->rx_have && !(v->rx_have = pop_rx(v, q)))
			break;
		if (v->rst_n) {
			len = send_queued_rst(v, &v->rx_elem);
		} else {
			struct vs_conn *c = rx_next(v);

			len = conn_packet(v, c, &v->rx_elem);
			if (len && (c->pend || wants_data(c)))
				vq__vs_want_rx(v, c);
		}
		if (!len)
			continue;
		vq_dev_push(q, &v->rx_elem, len);
		v->dirty[VQ_VSOCK_RX] = true;
		v->rx_have = false;
		done++;
	}
	return done;
}

/* Deliver an owed TRANSPORT_RESET on the event queue. */
int vq__vs_event(struct vq_vsock *v)
{
	struct vq_dev *q = v->q[VQ_VSOCK_EVENT];
	struct virtio_vsock_event ev = { .id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) };
	struct vq_elem e = { .iov = v->iov, .iov_cap = VS_IOV_MAX };
	int rc;

	if (!v->evt_pending || !q || !v->enabled[VQ_VSOCK_EVENT])
		return 0;
	rc = vq_dev_pop(q, &e);
	if (rc <= 0) {
		if (rc == 0 && !v->evt_wait_said) { /* a driver that never posts one halts only itself */
			v->evt_wait_said = true;
			vq__vs_log(v, "a TRANSPORT_RESET is owed and the event queue has no buffer: "
				   "tx and rx wait for one");
		}
		if (rc < 0) {
			v->evt_pending = false;
			vq__vs_log(v, "event queue broken: %s (%d)", vq_dev_error(q), rc);
			vq__vs_queue_broken(v, VQ_VSOCK_EVENT);
		}
		return 0;
	}
	if (e.out_num || e.in_len < sizeof(ev)) {
		vq__vs_fault(v, "event: buffer of %llu writable bytes, %zu needed",
			     (unsigned long long)e.in_len, sizeof(ev));
		vq_dev_push(q, &e, 0);
	} else {
		vq__iov_from_buf(e.iov, e.in_num, 0, &ev, sizeof(ev));
		vq_dev_push(q, &e, sizeof(ev));
		v->evt_pending = false;
		v->st.events++;
	}
	/* Published now, before any rx packet of this session: the used-index
	 * store (release, in vq_dev_flush) pairs with the driver's acquire of
	 * an rx used index, after which it reads the event queue. */
	v->dirty[VQ_VSOCK_EVENT] = false;
	vq__host_flush(&v->host, q, VQ_VSOCK_EVENT);
	return 1;
}

bool vq__vs_event_is_owed(const struct vq_vsock *v)
{
	return v->evt_pending && v->q[VQ_VSOCK_EVENT] && v->enabled[VQ_VSOCK_EVENT];
}
