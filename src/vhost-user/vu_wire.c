/* SPDX-License-Identifier: MIT */
/*
 * vhost-user wire: one message = 12-byte header + payload, fds in the
 * SCM_RIGHTS ancillary data of the header's first byte.  The connected
 * socket is non-blocking; a message that has started is read to its end
 * with a bounded wait, so a stalled peer cannot wedge the control thread.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vu_internal.h"

#define VQ__VU_IO_TIMEOUT_MS 1000

void vq__vu_close_fds(struct vq__vu_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		vq__vu_close(&m->fds[i]);
	m->nfds = 0;
}

static int wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc;

	do
		rc = poll(&p, 1, VQ__VU_IO_TIMEOUT_MS);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}

/* Read exactly len bytes (the message has begun). */
int vq__vu_read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);

		if (n > 0) {
			got += (size_t)n;
		} else if (n == 0) {
			return -ECONNRESET;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int rc = wait_fd(fd, POLLIN);

			if (rc < 0)
				return rc;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

unsigned vq__vu_take_fds(struct msghdr *mh, int *fds, unsigned *nfds, unsigned max)
{
	unsigned cnt = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < max)
				fds[(*nfds)++] = fd;
			else
				close(fd);
			cnt++;
		}
	}
	return cnt;
}

/* Collect SCM_RIGHTS fds; -EMSGSIZE (fds closed) when the peer sent more. */
static int take_fds(struct msghdr *mh, struct vq__vu_msg *m)
{
	vq__vu_take_fds(mh, m->fds, &m->nfds, VQ_VU_MAX_FDS);
	if (mh->msg_flags & MSG_CTRUNC) {
		vq__vu_close_fds(m);
		return -EMSGSIZE;
	}
	return 0;
}

static int recv_header(struct vq_vu_backend *b, struct vq__vu_msg *m)
{
	union {
		char buf[CMSG_SPACE(VQ_VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &m->hdr, .iov_len = sizeof(m->hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	ssize_t n;
	int rc;

	do
		n = recvmsg(b->conn_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0)
		return 0;
	rc = take_fds(&mh, m);
	if (rc < 0)
		return vq__vu_fail(b, rc, "more than %u fds in one message", VQ_VU_MAX_FDS);
	if ((size_t)n < sizeof(m->hdr)) {
		rc = vq__vu_read_full(b->conn_fd, (char *)&m->hdr + n, sizeof(m->hdr) - (size_t)n);
		if (rc < 0)
			return vq__vu_fail(b, rc, "short header (%zd of %zu bytes): %s",
					   n, sizeof(m->hdr), strerror(-rc));
	}
	return 1;
}

/*
 * Receive one message.  Returns 1 with *m (fds owned by m), 0 when the peer
 * closed cleanly between messages, -EAGAIN when nothing was there, or
 * another -errno for a violation (b->err says which; no fd left open).
 */
int vq__vu_recv(struct vq_vu_backend *b, struct vq__vu_msg *m)
{
	int rc;

	m->nfds = 0;
	rc = recv_header(b, m);
	if (rc == 0 && vq__vu_mem_faulted(b))
		rc = -EFAULT; /* the SIGBUS guard shut the socket down */
	if (rc <= 0) {
		vq__vu_close_fds(m);
		return rc;
	}
	if ((m->hdr.flags & VQ__VU_VERSION_MASK) != VQ__VU_VERSION)
		rc = vq__vu_fail(b, -EPROTO, "bad version %u in flags 0x%x (request %u)",
				 m->hdr.flags & VQ__VU_VERSION_MASK, m->hdr.flags,
				 m->hdr.request);
	else if (m->hdr.flags & VQ__VU_FLAG_REPLY)
		rc = vq__vu_fail(b, -EPROTO, "reply flag set in a request (request %u)",
				 m->hdr.request);
	else if (m->hdr.size > VQ_VU_MAX_PAYLOAD)
		rc = vq__vu_fail(b, -EMSGSIZE, "payload size %u > max %u (request %u)",
				 m->hdr.size, VQ_VU_MAX_PAYLOAD, m->hdr.request);
	else if (m->hdr.size && (rc = vq__vu_read_full(b->conn_fd, &m->p, m->hdr.size)) < 0)
		rc = vq__vu_fail(b, rc, "truncated payload (request %u, size %u): %s",
				 m->hdr.request, m->hdr.size, strerror(-rc));
	else
		return 1;
	vq__vu_close_fds(m);
	return rc;
}

int vq__vu_write_msg(int fd, struct msghdr *mh)
{
	while (mh->msg_iovlen) {
		ssize_t n = sendmsg(fd, mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			int rc = errno;

			if (rc == EINTR)
				continue;
			if (rc != EAGAIN && rc != EWOULDBLOCK)
				return -rc;
			rc = wait_fd(fd, POLLOUT);
			if (rc < 0)
				return rc;
			continue;
		}
		while (mh->msg_iovlen && (size_t)n >= mh->msg_iov->iov_len) {
			n -= (ssize_t)mh->msg_iov->iov_len;
			mh->msg_iov++;
			mh->msg_iovlen--;
		}
		if (mh->msg_iovlen) {
			mh->msg_iov->iov_base = (char *)mh->msg_iov->iov_base + n;
			mh->msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* Send a reply to `request` with `size` payload bytes.  0 or -errno. */
int vq__vu_send(struct vq_vu_backend *b, uint32_t request, const void *payload,
		uint32_t size)
{
	struct vq__vu_hdr h = {
		.request = request,
		.flags = VQ__VU_VERSION | VQ__VU_FLAG_REPLY,
		.size = size,
	};
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)payload, .iov_len = size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };

	return vq__vu_write_msg(b->conn_fd, &mh);
}
