/* SPDX-License-Identifier: MIT */
/*
 * Frontend side of the vhost-user wire: send a request (with fds), read and
 * validate its reply.  The message structs and the bounded-wait I/O helpers
 * are the backend's (vu_internal.h, vu_wire.c).
 *
 * A reply is accepted only when: the version bits are 1, the REPLY flag is
 * set, no flag outside version/REPLY/NEED_REPLY is set (libvhost-user echoes
 * NEED_REPLY), the request code is the one we sent, the payload size is
 * exactly what that request answers, and no fd came with it.  Anything else
 * is a protocol violation: the caller drops the connection.  A zero-size
 * payload where one was expected is the vhost-user way to say "failed"
 * (QEMU, DPDK, our backend): -EREMOTEIO, the stream stays in sync.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fe_internal.h"

#define FE_REPLY_FLAGS_OK (VQ__VU_VERSION_MASK | VQ__VU_FLAG_REPLY | VQ__VU_FLAG_NEED_REPLY)

int vq__fe_fail(struct vq_fe *fe, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fe->err, sizeof(fe->err), fmt, ap);
	va_end(ap);
	return err;
}

static const char *req_name(uint32_t req)
{
	const struct vq__vu_req *r = vq__vu_req_lookup(req);

	return r ? r->name : "UNKNOWN";
}

/* Send one message; fds ride on its first byte. */
int vq__fe_send(struct vq_fe *fe, uint32_t req, uint32_t flags, const void *payload,
		uint32_t size, const int *fds, unsigned nfds)
{
	struct vq__vu_hdr h = { .request = req, .flags = VQ__VU_VERSION | flags, .size = size };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, size } };
	union {
		char buf[CMSG_SPACE(VQ_VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	size_t total = sizeof(h) + size;
	ssize_t n;

	if (fe->sock < 0)
		return -ENOTCONN;
	if (nfds > VQ_VU_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(fe->sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return vq__fe_fail(fe, -errno, "sending %s: %s", req_name(req), strerror(errno));
	if ((size_t)n == total)
		return 0;
	/* Partial write: the fds went with the first byte; finish without them. */
	mh.msg_control = NULL;
	mh.msg_controllen = 0;
	while (mh.msg_iovlen && (size_t)n >= mh.msg_iov->iov_len) {
		n -= (ssize_t)mh.msg_iov->iov_len;
		mh.msg_iov++;
		mh.msg_iovlen--;
	}
	mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
	mh.msg_iov->iov_len -= (size_t)n;
	n = vq__vu_write_msg(fe->sock, &mh);
	return n < 0 ? vq__fe_fail(fe, (int)n, "sending %s: %s", req_name(req),
				   strerror((int)-n)) : 0;
}

static int wait_readable(struct vq_fe *fe, uint32_t req)
{
	struct pollfd p = { .fd = fe->sock, .events = POLLIN };
	int rc;

	do
		rc = poll(&p, 1, fe->cfg.timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	if (rc == 0)
		return vq__fe_fail(fe, -ETIMEDOUT, "no reply to %s within %d ms",
				   req_name(req), fe->cfg.timeout_ms);
	return 0;
}

/* Close every fd of a received control message; return how many. */
static unsigned drop_fds(struct msghdr *mh)
{
	unsigned kept = 0;
	unsigned cnt = vq__vu_take_fds(mh, NULL, &kept, 0);

	return cnt + ((mh->msg_flags & MSG_CTRUNC) ? 1 : 0);
}

static int recv_hdr(struct vq_fe *fe, uint32_t req, struct vq__vu_hdr *h)
{
	union {
		char buf[CMSG_SPACE(VQ_VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { h, sizeof(*h) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	unsigned nfds;
	ssize_t n;
	int rc;

	if ((rc = wait_readable(fe, req)) < 0)
		return rc;
	do
		n = recvmsg(fe->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return vq__fe_fail(fe, -errno, "reading the reply to %s: %s", req_name(req),
				   strerror(errno));
	if (n == 0)
		return vq__fe_fail(fe, -ECONNRESET, "backend closed the connection (awaiting %s)",
				   req_name(req));
	if ((nfds = drop_fds(&mh)) != 0)
		return vq__fe_fail(fe, -EPROTO, "reply to %s carries %u fds", req_name(req), nfds);
	if ((size_t)n < sizeof(*h) &&
	    (rc = vq__vu_read_full(fe->sock, (char *)h + n, sizeof(*h) - (size_t)n)) < 0)
		return vq__fe_fail(fe, rc, "short reply header to %s", req_name(req));
	return 0;
}

/*
 * Receive the reply to req with exactly size payload bytes into payload.
 * 0; -EREMOTEIO for an empty (failure) reply; -EPROTO and friends for a
 * violation (fe->err says which).
 */
int vq__fe_recv(struct vq_fe *fe, uint32_t req, void *payload, uint32_t size)
{
	struct vq__vu_hdr h;
	int rc = recv_hdr(fe, req, &h);

	if (rc < 0)
		return rc;
	if ((h.flags & VQ__VU_VERSION_MASK) != VQ__VU_VERSION)
		return vq__fe_fail(fe, -EPROTO, "reply to %s: bad version in flags 0x%x",
				   req_name(req), h.flags);
	if (!(h.flags & VQ__VU_FLAG_REPLY) || (h.flags & ~FE_REPLY_FLAGS_OK))
		return vq__fe_fail(fe, -EPROTO, "reply to %s: bad flags 0x%x", req_name(req),
				   h.flags);
	if (h.request != req)
		return vq__fe_fail(fe, -EPROTO, "reply to %s (%u) has request code %u",
				   req_name(req), req, h.request);
	if (h.size == 0 && size != 0)
		return vq__fe_fail(fe, -EREMOTEIO, "backend refused %s (empty reply)",
				   req_name(req));
	if (h.size != size)
		return vq__fe_fail(fe, -EPROTO, "reply to %s: payload size %u, expected %u",
				   req_name(req), h.size, size);
	if (size && (rc = vq__vu_read_full(fe->sock, payload, size)) < 0)
		return vq__fe_fail(fe, rc == -ETIMEDOUT ? -EPROTO : rc,
				   "reply to %s: truncated payload", req_name(req));
	return 0;
}

/*
 * A request without a reply by definition.  With REPLY_ACK negotiated it
 * asks for an ack: a non-zero ack is -EREMOTEIO.
 */
int vq__fe_request(struct vq_fe *fe, uint32_t req, const void *payload, uint32_t size,
		   const int *fds, unsigned nfds)
{
	bool ack = fe->pfeatures & VQ_VU_PROTOCOL_F_REPLY_ACK;
	uint64_t v;
	int rc;

	rc = vq__fe_send(fe, req, ack ? VQ__VU_FLAG_NEED_REPLY : 0, payload, size, fds, nfds);
	if (rc < 0 || !ack)
		return rc;
	if ((rc = vq__fe_recv(fe, req, &v, sizeof(v))) < 0)
		return rc;
	if (v != 0)
		return vq__fe_fail(fe, -EREMOTEIO, "backend refused %s (ack 0x%llx)",
				   req_name(req), (unsigned long long)v);
	return 0;
}

/* A request with a reply of exactly reply_size bytes. */
int vq__fe_query(struct vq_fe *fe, uint32_t req, const void *payload, uint32_t size,
		 void *reply, uint32_t reply_size)
{
	int rc = vq__fe_send(fe, req, 0, payload, size, NULL, 0);

	return rc < 0 ? rc : vq__fe_recv(fe, req, reply, reply_size);
}

int vq__fe_get_u64(struct vq_fe *fe, uint32_t req, uint64_t *val)
{
	return vq__fe_query(fe, req, NULL, 0, val, sizeof(*val));
}
