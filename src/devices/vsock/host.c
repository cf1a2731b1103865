/* SPDX-License-Identifier: MIT */
/*
 * The host side: Unix sockets in the hybrid protocol of vhost-device-vsock
 * and Firecracker (see <virtq/vsock.h>), all non-blocking, watched
 * edge-triggered through the model's epoll fd.  The listeners' epoll data
 * is LISTEN_STREAM / LISTEN_SEQ; a connection's is its pointer (valid until
 * vq__vs_reap).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vsock_internal.h"

#define EV_BATCH 64
#define LISTEN_STREAM 0u /* "<uds>" */
#define LISTEN_SEQ    1u /* "<uds>_seqpacket" */

/* "<path>" + suffix, the suffix being "_<port>", VQ_VSOCK_SEQ_SUFFIX or "". */
static int uds_addr(const char *path, const char *suffix, struct sockaddr_un *a)
{
	int n;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	n = snprintf(a->sun_path, sizeof(a->sun_path), "%s%s", path, suffix);
	return n < 0 || (size_t)n >= sizeof(a->sun_path) ? -ENAMETOOLONG : 0;
}

static int listen_one(struct vq_vsock *v, const char *suffix, int type, uint64_t tag, int *fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	struct sockaddr_un a;
	int rc = uds_addr(v->uds, suffix, &a);

	if (rc < 0)
		return rc;
	*fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return -errno;
	unlink(a.sun_path);
	if (bind(*fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(*fd, 64) < 0 ||
	    epoll_ctl(v->epfd, EPOLL_CTL_ADD, *fd, &ev) < 0)
		return -errno;
	return 0;
}

int vq__vs_listen(struct vq_vsock *v)
{
	int rc = listen_one(v, "", SOCK_STREAM, LISTEN_STREAM, &v->lfd);

	return rc ? rc : listen_one(v, VQ_VSOCK_SEQ_SUFFIX, SOCK_SEQPACKET, LISTEN_SEQ, &v->lfd_seq);
}

void vq__vs_unlisten(struct vq_vsock *v)
{
	struct sockaddr_un a;

	if (v->lfd >= 0 && uds_addr(v->uds, "", &a) == 0)
		unlink(a.sun_path);
	if (v->lfd_seq >= 0 && uds_addr(v->uds, VQ_VSOCK_SEQ_SUFFIX, &a) == 0)
		unlink(a.sun_path);
	if (v->lfd >= 0)
		close(v->lfd);
	if (v->lfd_seq >= 0)
		close(v->lfd_seq);
	v->lfd = v->lfd_seq = -1;
}

/* Room for a whole message of buf_alloc on a seqpacket host socket. */
static void seq_sndbuf(struct vq_vsock *v, int s)
{
	int sz = (int)v->p.buf_alloc + 4096;

	setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

/* Connect to "<uds>_<port>" with the socket type matching the vsock type. */
int vq__vs_host_connect(struct vq_vsock *v, uint32_t port, uint16_t type, int *fd)
{
	int st = type == VIRTIO_VSOCK_TYPE_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM;
	struct sockaddr_un a;
	char suffix[16];
	int s;

	snprintf(suffix, sizeof(suffix), "_%u", port);
	if (!v->uds || uds_addr(v->uds, suffix, &a) < 0)
		return -ECONNREFUSED;
	s = socket(AF_UNIX, st | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (st == SOCK_SEQPACKET)
		seq_sndbuf(v, s);
	/* A full backlog (EAGAIN) is a refusal too: the guest may retry. */
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int rc = -errno;

		close(s);
		return rc;
	}
	*fd = s;
	return 0;
}

int vq__vs_host_watch(struct vq_vsock *v, struct vs_conn *c)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = c,
	};

	return epoll_ctl(v->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0 ? -errno : 0;
}

/* The guest accepted a host -> guest connection: tell the host program. */
void vq__vs_established(struct vq_vsock *v, struct vs_conn *c)
{
	char line[24];
	int n = snprintf(line, sizeof(line), "OK %u\n", c->hport);

	if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
		vq__vs_kill(v, c, true);
		return;
	}
	c->state = VS_ESTABLISHED;
	c->host_readable = true;
	vq__vs_want_rx(v, c);
}

static uint32_t free_hport(struct vq_vsock *v, uint32_t gport)
{
	for (unsigned tries = 0; tries < 65536; tries++) {
		uint32_t hp = v->next_hport++;

		if (v->next_hport == 0)
			v->next_hport = VS_FIRST_HPORT;
		if (hp >= VS_FIRST_HPORT && !vq__vs_find(v, gport, hp))
			return hp;
	}
	return 0;
}

/* "CONNECT <port>\n" complete in c->line: start the REQUEST. */
static void handshake_done(struct vq_vsock *v, struct vs_conn *c)
{
	unsigned long port;
	char *end;
	uint32_t hp;

	c->line[c->line_len] = '\0';
	if (strncmp(c->line, "CONNECT ", 8) || c->line[8] < '0' || c->line[8] > '9')
		goto bad;
	errno = 0;
	port = strtoul(c->line + 8, &end, 10);
	if (errno || port > UINT32_MAX || (strcmp(end, "\n") && strcmp(end, "\r\n")))
		goto bad;
	if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET && !v->seqpacket) {
		vq__vs_log(v, "host: a seqpacket CONNECT, but the driver did not negotiate SEQPACKET: closed");
		vq__vs_kill(v, c, false);
		return;
	}
	hp = free_hport(v, (uint32_t)port);
	if (!hp)
		goto bad;
	vq__vs_rehash(v, c, (uint32_t)port, hp);
	c->state = VS_CONNECTING;
	c->pend |= VS_P_REQUEST;
	vq__vs_want_rx(v, c);
	return;
bad:
	vq__vs_log(v, "host: bad handshake line (expected \"CONNECT <port>\\n\"): closed");
	vq__vs_kill(v, c, false);
}

/* Seqpacket: the line is one record. */
static void handshake_seq(struct vq_vsock *v, struct vs_conn *c)
{
	ssize_t n = recv(c->fd, c->line, sizeof(c->line) - 1, MSG_DONTWAIT | MSG_TRUNC);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0 || (size_t)n >= sizeof(c->line) - 1) {
		if (n > 0)
			vq__vs_log(v, "host: a %zd-byte handshake record: closed", n);
		vq__vs_kill(v, c, false);
		return;
	}
	c->line_len = (uint8_t)n;
	handshake_done(v, c);
}

/* Read the handshake a byte at a time: data after the line stays queued. */
static void handshake(struct vq_vsock *v, struct vs_conn *c)
{
	if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
		handshake_seq(v, c);
		return;
	}
	while (c->state == VS_HANDSHAKE) {
		char ch;
		ssize_t n = recv(c->fd, &ch, 1, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 || (size_t)c->line_len + 2 > sizeof(c->line)) {
			vq__vs_kill(v, c, false);
			return;
		}
		c->line[c->line_len++] = ch;
		if (ch == '\n')
			handshake_done(v, c);
	}
}

static void accept_all(struct vq_vsock *v, bool seq)
{
	for (;;) {
		int fd = accept4(seq ? v->lfd_seq : v->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vs_conn *c;

		if (fd < 0)
			return;
		if (seq)
			seq_sndbuf(v, fd);
		c = vq__vs_conn_new(v, 0, 0, seq ? VIRTIO_VSOCK_TYPE_SEQPACKET
						 : VIRTIO_VSOCK_TYPE_STREAM, fd, false);
		if (!c) {
			vq__vs_log(v, "host: %u connections open, refused", v->nconns);
			close(fd);
			continue;
		}
		c->state = VS_HANDSHAKE;
		c->buf_alloc = v->p.buf_alloc;
		if (vq__vs_host_watch(v, c) < 0)
			vq__vs_kill(v, c, false);
		else
			handshake(v, c);
	}
}

static void conn_event(struct vq_vsock *v, struct vs_conn *c, uint32_t events)
{
	if (c->fd < 0)
		return; /* killed earlier in this batch */
	if (c->state == VS_HANDSHAKE) {
		handshake(v, c);
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		c->host_readable = true;
		vq__vs_want_rx(v, c);
	}
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
		c->host_writable = true;
		if (vq__vs_flush_buf(v, c) < 0)
			vq__vs_kill(v, c, true);
	}
}

int vq__vs_host_events(struct vq_vsock *v)
{
	struct epoll_event ev[EV_BATCH];
	int n = epoll_wait(v->epfd, ev, EV_BATCH, 0);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 == LISTEN_STREAM || ev[i].data.u64 == LISTEN_SEQ)
			accept_all(v, ev[i].data.u64 == LISTEN_SEQ);
		else
			conn_event(v, ev[i].data.ptr, ev[i].events);
	}
	return n;
}
