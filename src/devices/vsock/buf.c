/* SPDX-License-Identifier: MIT */
/*
 * Driver -> host data.  Payload goes from the driver's buffer straight to
 * the host socket; the bytes the socket refuses are copied into the
 * connection's ring of buf_alloc bytes, which credit bounds.  Seqpacket
 * messages are gathered there until EOM and sent as one record each.
 * fwd_cnt counts bytes the host socket took; CREDIT_UPDATE goes out when
 * the driver's view of its credit fell below half.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "vsock_internal.h"

static int ensure_buf(struct vs_conn *c)
{
	if (!c->buf)
		c->buf = malloc(c->buf_alloc);
	return c->buf ? 0 : -ENOMEM;
}

/* Append the bytes of iov after skip (credit guarantees they fit). */
static void ring_put(struct vs_conn *c, const struct iovec *iov, unsigned n, size_t skip)
{
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *s = iov[i].iov_base;
		size_t len = iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		s += skip;
		len -= skip;
		skip = 0;
		while (len) {
			uint32_t tail = (c->buf_head + c->buf_used) % c->buf_alloc;
			size_t k = c->buf_alloc - tail < len ? c->buf_alloc - tail : len;

			memcpy(c->buf + tail, s, k);
			c->buf_used += (uint32_t)k;
			s += k;
			len -= k;
		}
	}
}

/* The first len buffered bytes as at most two segments. */
static unsigned ring_iov(const struct vs_conn *c, uint32_t len, struct iovec io[2])
{
	uint32_t first = c->buf_alloc - c->buf_head;

	io[0] = (struct iovec){ c->buf + c->buf_head, len < first ? len : first };
	if (len <= first)
		return 1;
	io[1] = (struct iovec){ c->buf, len - first };
	return 2;
}

static void ring_drop(struct vs_conn *c, uint32_t len)
{
	c->buf_head = (c->buf_head + len) % c->buf_alloc;
	c->buf_used -= len;
	c->fwd_cnt += len;
}

/* sendmsg without blocking or SIGPIPE: bytes sent, 0 on EAGAIN, -errno. */
static ssize_t send_iov(struct vs_conn *c, const struct iovec *iov, unsigned n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	ssize_t r = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->host_writable = false;
		return 0;
	}
	return -errno;
}

static void credit_check(struct vq_vsock *v, struct vs_conn *c)
{
	if (vq__vs_credit_update_due(c->buf_alloc, c->rx_cnt, c->fwd_cnt, c->fwd_told)) {
		c->pend |= VS_P_CREDIT_UPDATE;
		vq__vs_want_rx(v, c);
	}
}

static int flush_stream(struct vs_conn *c)
{
	while (c->buf_used && c->host_writable) {
		struct iovec io[2];
		unsigned k = ring_iov(c, c->buf_used, io);
		ssize_t r = send_iov(c, io, k);

		if (r < 0)
			return (int)r;
		ring_drop(c, (uint32_t)r);
	}
	return 0;
}

static int flush_seqpacket(struct vs_conn *c)
{
	while (c->msg_n && c->host_writable) {
		uint32_t len = c->msg_len[c->msg_head];
		struct iovec io[2];
		unsigned k = len ? ring_iov(c, len, io) : 0;
		ssize_t r = send_iov(c, io, k);

		if (r < 0)
			return (int)r;
		if (!c->host_writable)
			break;
		ring_drop(c, len);
		c->msg_head = (c->msg_head + 1) % VS_MSGS_MAX;
		c->msg_n--;
	}
	return 0;
}

int vq__vs_flush_buf(struct vq_vsock *v, struct vs_conn *c)
{
	bool seq = c->type == VIRTIO_VSOCK_TYPE_SEQPACKET;
	int rc;

	if (c->fd < 0)
		return 0;
	rc = seq ? flush_seqpacket(c) : flush_stream(c);
	if (rc < 0)
		return rc;
	if (seq ? c->msg_n == 0 : c->buf_used == 0) {
		if (c->state == VS_CLOSING) { /* all out: close, and the RST Linux waits for */
			vq__vs_kill(v, c, true);
			return 0;
		}
		if (c->guest_shut_send && !c->host_shut_wr) {
			shutdown(c->fd, SHUT_WR);
			c->host_shut_wr = true;
		}
	}
	credit_check(v, c);
	return 0;
}

static int write_stream(struct vq_vsock *v, struct vs_conn *c, const struct iovec *iov,
			unsigned n, uint32_t len)
{
	ssize_t sent = 0;

	if (c->buf_used == 0 && c->host_writable) {
		sent = send_iov(c, iov, n);
		if (sent < 0)
			return (int)sent;
		c->fwd_cnt += (uint32_t)sent;
	}
	if ((uint32_t)sent < len) {
		if (ensure_buf(c) < 0)
			return -ENOMEM;
		ring_put(c, iov, n, (size_t)sent);
	}
	return vq__vs_flush_buf(v, c);
}

static int write_seqpacket(struct vq_vsock *v, struct vs_conn *c, const struct iovec *iov,
			   unsigned n, uint32_t len, bool eom)
{
	if (eom && !c->msg_n && !c->msg_open && c->host_writable) {
		ssize_t r = send_iov(c, iov, n); /* the whole message, as one record */

		if (r < 0)
			return (int)r;
		if (c->host_writable) {
			c->fwd_cnt += len;
			return vq__vs_flush_buf(v, c);
		}
	}
	if (len && ensure_buf(c) < 0)
		return -ENOMEM;
	if (len)
		ring_put(c, iov, n, 0);
	c->msg_open += len;
	if (eom) {
		c->msg_len[(c->msg_head + c->msg_n) % VS_MSGS_MAX] = c->msg_open;
		c->msg_n++;
		c->msg_open = 0;
	}
	return vq__vs_flush_buf(v, c);
}

int vq__vs_host_write(struct vq_vsock *v, struct vs_conn *c, const struct iovec *iov,
		      unsigned n, uint32_t len, bool eom)
{
	if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET)
		return write_seqpacket(v, c, iov, n, len, eom);
	return len ? write_stream(v, c, iov, n, len) : 0;
}
