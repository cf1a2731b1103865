/* SPDX-License-Identifier: MIT */
/* vu_client: vhost-user wire helpers for test peers (see vu_client.h). */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vhost-user/unix_sock.h"
#include "vu_client.h"

int vuc_connect(const char *path, int timeout_ms)
{
	for (int waited = 0;; waited += 20) {
		int fd = vq__unix_connect(path, 0);

		if (fd >= 0 || (fd != -ENOENT && fd != -ECONNREFUSED) || waited >= timeout_ms)
			return fd;
		nanosleep(&(struct timespec){ 0, 20 * 1000000 }, NULL);
	}
}

int vuc_listen(const char *path)
{
	return vq__unix_listen(path, 0, 4);
}

static int wait_in(int fd, int timeout_ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&pf, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r == 0 ? -ETIMEDOUT : 0;
}

int vuc_accept(int lfd, int timeout_ms)
{
	int r = wait_in(lfd, timeout_ms), fd;

	if (r)
		return r;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int vuc_send_raw(int fd, const void *p, size_t n, const int *fds, unsigned nfds)
{
	struct iovec iov = { (void *)p, n };
	union { char buf[CMSG_SPACE(VUC_MAX_FDS * sizeof(int))]; struct cmsghdr a; } ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t w;

	if (nfds > VUC_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	w = sendmsg(fd, &mh, MSG_NOSIGNAL);
	if (w < 0)
		return -errno;
	return (size_t)w == n ? 0 : -EIO;
}

int vuc_send(int fd, uint32_t req, uint32_t flags, const void *p, uint32_t size,
	     const int *fds, unsigned nfds)
{
	uint8_t buf[sizeof(struct vuc_hdr) + VUC_MAX_PAYLOAD + 64];
	struct vuc_hdr h = { req, flags, size };

	if (size > sizeof(buf) - sizeof(h))
		return -E2BIG;
	memcpy(buf, &h, sizeof(h));
	if (size)
		memcpy(buf + sizeof(h), p, size);
	return vuc_send_raw(fd, buf, sizeof(h) + size, fds, nfds);
}

static void take_fds(struct msghdr *mh, struct vuc_msg *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned n = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int fds[VUC_MAX_FDS];

		if (n > VUC_MAX_FDS)
			n = VUC_MAX_FDS;
		memcpy(fds, CMSG_DATA(c), n * sizeof(int));
		for (unsigned i = 0; i < n; i++)
			m->fds[m->nfds++] = fds[i];
	}
}

static int read_full(int fd, void *p, size_t n, int timeout_ms)
{
	size_t got = 0;

	while (got < n) {
		int r = wait_in(fd, timeout_ms);
		ssize_t k;

		if (r)
			return r;
		k = recv(fd, (char *)p + got, n - got, 0);
		if (k == 0)
			return -ECONNRESET;
		if (k < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		if (k > 0)
			got += (size_t)k;
	}
	return 0;
}

int vuc_recv(int fd, struct vuc_msg *m, int timeout_ms)
{
	union { char buf[CMSG_SPACE(VUC_MAX_FDS * sizeof(int))]; struct cmsghdr a; } ctl;
	struct iovec iov = { &m->h, sizeof(m->h) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t k;
	int r;

	m->nfds = 0;
	if ((r = wait_in(fd, timeout_ms)))
		return r;
	k = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	if (k < 0)
		return -errno;
	take_fds(&mh, m);
	if (k == 0)
		return -ECONNRESET;
	if ((size_t)k < sizeof(m->h))
		return -EPROTO;
	if (m->h.size > VUC_MAX_PAYLOAD)
		return -EPROTO;
	return m->h.size ? read_full(fd, m->p, m->h.size, timeout_ms) : 0;
}

void vuc_msg_close_fds(struct vuc_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

int vuc_reply(int fd, uint32_t req, struct vuc_msg *m, int timeout_ms)
{
	int r = vuc_recv(fd, m, timeout_ms);

	if (r)
		return r;
	vuc_msg_close_fds(m); /* replies carry no fds */
	if (m->h.req != req || m->h.flags != (VUC_V1 | VUC_REPLY))
		return -EPROTO;
	return 0;
}

/* Send a request with flags, then read its reply: one u64 into *out. */
static int request_u64(int fd, uint32_t req, uint32_t flags, const void *p, uint32_t size,
		       const int *fds, unsigned nfds, uint64_t *out)
{
	static struct vuc_msg m;
	int r = vuc_send(fd, req, flags, p, size, fds, nfds);

	if (!r)
		r = vuc_reply(fd, req, &m, 5000);
	if (!r && m.h.size != 8)
		r = -EPROTO;
	if (!r)
		*out = m.u64;
	return r;
}

int vuc_get_u64(int fd, uint32_t req, uint64_t *v)
{
	return request_u64(fd, req, VUC_V1, NULL, 0, NULL, 0, v);
}

int vuc_ack(int fd, uint32_t req, const void *p, uint32_t size, const int *fds,
	    unsigned nfds, uint64_t *ack)
{
	return request_u64(fd, req, VUC_V1 | VUC_NEED_REPLY, p, size, fds, nfds, ack);
}

bool vuc_closed(int fd, int timeout_ms)
{
	char buf[256];

	for (;;) {
		ssize_t n;

		if (wait_in(fd, timeout_ms))
			return false;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		/* ECONNRESET: the peer closed with our bytes still unread. */
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return false;
		/* Bytes (a reply) before the close: keep reading. */
	}
}

int vuc_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}
