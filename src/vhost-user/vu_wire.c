/* SPDX-License-Identifier: MIT */
/*
 * vhost-user wire: one message = 12-byte header + payload, fds in the
 * SCM_RIGHTS ancillary data of the header's first byte.  The connected
 * socket is non-blocking and messages are read incrementally: whatever part
 * of a message has arrived waits in the connection's buffer (b->rx, at most
 * a header, VQ_VU_MAX_PAYLOAD bytes and VQ_VU_MAX_FDS fds) while the loop
 * serves everyone else, and a message not complete VQ__VU_MSG_TIMEOUT_MS
 * after its first byte drops the connection (the loop's timer).  Replies
 * are written without waiting either: what the socket refuses waits in the
 * connection's out-buffer (b->tx), bounded in bytes and time.  Only the
 * frontend (fe_*.c, one backend per frontend) writes with a bounded wait.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vq__vu_rx_reset(struct vq_vu_backend *b)
{
	vq__vu_close_fds(&b->rx.m);
	b->rx.got = 0;
	b->rx.deadline_ns = 0;
}

/* Where the next bytes of the message go, and how many are still due. */
static size_t rx_want(struct vq__vu_rx *x, char **at)
{
	const uint32_t hs = sizeof(x->m.hdr);

	if (x->got < hs) {
		*at = (char *)&x->m.hdr + x->got;
		return hs - x->got;
	}
	*at = (char *)&x->m.p + (x->got - hs);
	return x->m.hdr.size - (x->got - hs);
}

/* One recvmsg of what is due, fds collected.  Bytes read, 0 at EOF, -errno. */
static ssize_t rx_read(struct vq_vu_backend *b, char *at, size_t len)
{
	union {
		char buf[CMSG_SPACE(VQ_VU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = at, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	ssize_t n;

	do
		n = recvmsg(b->conn_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	vq__vu_take_fds(&mh, b->rx.m.fds, &b->rx.m.nfds, VQ_VU_MAX_FDS);
	if (mh.msg_flags & MSG_CTRUNC)
		return vq__vu_fail(b, -EMSGSIZE, "more than %u fds in one message", VQ_VU_MAX_FDS);
	return n;
}

/* The header is complete: refuse it before any payload is read. */
static int check_header(struct vq_vu_backend *b, const struct vq__vu_hdr *h)
{
	if ((h->flags & VQ__VU_VERSION_MASK) != VQ__VU_VERSION)
		return vq__vu_fail(b, -EPROTO, "bad version %u in flags 0x%x (request %u)",
				   h->flags & VQ__VU_VERSION_MASK, h->flags, h->request);
	if (h->flags & VQ__VU_FLAG_REPLY)
		return vq__vu_fail(b, -EPROTO, "reply flag set in a request (request %u)",
				   h->request);
	if (h->size > VQ_VU_MAX_PAYLOAD)
		return vq__vu_fail(b, -EMSGSIZE, "payload size %u > max %u (request %u)",
				   h->size, VQ_VU_MAX_PAYLOAD, h->request);
	return 0;
}

static int rx_eof(struct vq_vu_backend *b)
{
	const struct vq__vu_rx *x = &b->rx;

	if (x->got == 0)
		return 0;
	if (x->got < sizeof(x->m.hdr))
		return vq__vu_fail(b, -ECONNRESET, "short header (%u of %zu bytes): the "
				   "frontend closed the connection", x->got, sizeof(x->m.hdr));
	return vq__vu_fail(b, -ECONNRESET, "truncated payload (request %u, size %u, %zu "
			   "bytes came): the frontend closed the connection", x->m.hdr.request,
			   x->m.hdr.size, x->got - sizeof(x->m.hdr));
}

/* Read what the socket holds of the current message.  1: complete. */
static int rx_fill(struct vq_vu_backend *b)
{
	const uint32_t hs = sizeof(b->rx.m.hdr);
	struct vq__vu_rx *x = &b->rx;

	for (;;) {
		char *at;
		size_t due = rx_want(x, &at); /* > 0: a complete message returned */
		uint32_t prev = x->got;
		ssize_t n = rx_read(b, at, due);
		int rc;

		if (n <= 0)
			return n == 0 ? rx_eof(b) : (int)n;
		if (prev == 0)
			x->deadline_ns = now_ns() + VQ__VU_MSG_TIMEOUT_MS * 1000000ull;
		x->got += (uint32_t)n;
		if (prev < hs && x->got == hs && (rc = check_header(b, &x->m.hdr)) < 0)
			return rc;
		if (x->got >= hs && x->got - hs == x->m.hdr.size)
			return 1;
	}
}

/*
 * Receive what is there of one message, without waiting.  Returns 1 with
 * *m complete (fds owned by m), -EAGAIN when the message is not complete
 * yet (the part kept in b->rx), 0 when the peer closed cleanly between
 * messages, or another -errno for a violation (b->err says which; no fd
 * left open).
 */
int vq__vu_recv(struct vq_vu_backend *b, struct vq__vu_msg *m)
{
	int rc = rx_fill(b);

	if (rc == 0 && vq__vu_mem_faulted(b))
		rc = -EFAULT; /* the SIGBUS guard shut the socket down */
	if (rc == -EAGAIN)
		return rc;
	if (rc == 1)
		memcpy(m, &b->rx.m, sizeof(*m));
	else
		vq__vu_close_fds(&b->rx.m);
	b->rx.m.nfds = 0; /* the fds are m's now, or closed */
	vq__vu_rx_reset(b);
	return rc;
}

int vq__vu_rx_timeout_ms(const struct vq_vu_backend *b)
{
	uint64_t now;

	if (!b->rx.deadline_ns)
		return -1;
	now = now_ns();
	return now >= b->rx.deadline_ns ? 0
					: (int)((b->rx.deadline_ns - now + 999999) / 1000000);
}

bool vq__vu_rx_is_stalled(struct vq_vu_backend *b)
{
	const struct vq__vu_rx *x = &b->rx;

	if (vq__vu_rx_timeout_ms(b) != 0)
		return false;
	vq__vu_fail(b, -ETIMEDOUT, "message stalled: %u of %zu bytes in %u ms (request %u)",
		    x->got, sizeof(x->m.hdr) + (x->got >= sizeof(x->m.hdr) ? x->m.hdr.size : 0),
		    VQ__VU_MSG_TIMEOUT_MS, x->got >= sizeof(x->m.hdr) ? x->m.hdr.request : 0);
	return true;
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

/* Append len bytes to the pending replies, within the bound. */
static int tx_queue(struct vq_vu_backend *b, const void *p, size_t len)
{
	struct vq__vu_tx *t = &b->tx;

	if (len > VQ__VU_TX_MAX - t->len)
		return vq__vu_fail(b, -ENOBUFS, "frontend stopped reading: %zu reply bytes "
				   "pending > max %u", t->len + len, VQ__VU_TX_MAX);
	if (!t->len)
		t->deadline_ns = now_ns() + VQ__VU_TX_TIMEOUT_MS * 1000000ull;
	memcpy(t->buf + t->len, p, len);
	t->len += (uint32_t)len;
	return 0;
}

/* One non-blocking send: bytes taken (0 when the socket is full), -errno. */
static ssize_t tx_send(int fd, struct msghdr *mh)
{
	ssize_t n;

	do
		n = sendmsg(fd, mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	return n;
}

int vq__vu_tx_flush(struct vq_vu_backend *b)
{
	struct vq__vu_tx *t = &b->tx;
	struct iovec iov = { .iov_base = t->buf, .iov_len = t->len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (!t->len)
		return 0;
	n = tx_send(b->conn_fd, &mh);
	if (n < 0)
		return vq__vu_fail(b, (int)n, "cannot send replies: %s", strerror((int)-n));
	memmove(t->buf, t->buf + n, t->len - (size_t)n);
	t->len -= (uint32_t)n;
	if (!t->len) {
		t->deadline_ns = 0;
		return 0;
	}
	if (now_ns() >= t->deadline_ns)
		return vq__vu_fail(b, -ETIMEDOUT, "frontend stopped reading: %u reply bytes "
				   "pending for %u ms", t->len, VQ__VU_TX_TIMEOUT_MS);
	return 0;
}

int vq__vu_tx_timeout_ms(const struct vq_vu_backend *b)
{
	uint64_t now, due;

	if (!b->tx.len)
		return -1;
	now = now_ns();
	due = now + VQ__VU_TX_RETRY_MS * 1000000ull;
	if (due > b->tx.deadline_ns)
		due = b->tx.deadline_ns;
	return now >= due ? 0 : (int)((due - now + 999999) / 1000000);
}

void vq__vu_tx_reset(struct vq_vu_backend *b)
{
	b->tx.len = 0;
	b->tx.deadline_ns = 0;
}

/*
 * Send a reply to `request` with `size` payload bytes, never waiting: what
 * the socket does not take now waits in b->tx (behind earlier replies,
 * flushed by vq__vu_tx_flush from the loop).  0 or -errno (b->err set; the
 * caller drops the connection).
 */
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
	size_t done = 0;
	ssize_t n;
	int rc;

	if (!b->tx.len) { /* nothing queued before it: try the socket first */
		n = tx_send(b->conn_fd, &mh);
		if (n < 0)
			return vq__vu_fail(b, (int)n, "cannot send the reply: %s",
					   strerror((int)-n));
		done = (size_t)n;
	}
	if (done < sizeof(h) && (rc = tx_queue(b, (char *)&h + done, sizeof(h) - done)) < 0)
		return rc;
	done = done > sizeof(h) ? done - sizeof(h) : 0;
	if (done < size && (rc = tx_queue(b, (const char *)payload + done, size - done)) < 0)
		return rc;
	return 0;
}
