/* SPDX-License-Identifier: MIT */
/*
 * The host side: Unix sockets in the hybrid protocol of vhost-device-vsock
 * and Firecracker (see <virtq/vsock.h>), all non-blocking, watched
 * edge-triggered through the model's epoll fd.  The listener's epoll data
 * is 0; a connection's is its pointer (valid until vq__vs_reap).
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

static int uds_addr(const char *path, uint32_t port, bool with_port, struct sockaddr_un *a)
{
	int n;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (with_port)
		n = snprintf(a->sun_path, sizeof(a->sun_path), "%s_%u", path, port);
	else
		n = snprintf(a->sun_path, sizeof(a->sun_path), "%s", path);
	return n < 0 || (size_t)n >= sizeof(a->sun_path) ? -ENAMETOOLONG : 0;
}

int vq__vs_listen(struct vq_vsock *v)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
	struct sockaddr_un a;
	int rc = uds_addr(v->uds, 0, false, &a);

	if (rc < 0)
		return rc;
	v->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->lfd < 0)
		return -errno;
	unlink(a.sun_path);
	if (bind(v->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(v->lfd, 64) < 0 ||
	    epoll_ctl(v->epfd, EPOLL_CTL_ADD, v->lfd, &ev) < 0)
		return -errno;
	return 0;
}

/* Connect to "<uds>_<port>" with the socket type matching the vsock type. */
int vq__vs_host_connect(struct vq_vsock *v, uint32_t port, uint16_t type, int *fd)
{
	int st = type == VIRTIO_VSOCK_TYPE_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM;
	struct sockaddr_un a;
	int s;

	if (!v->uds || uds_addr(v->uds, port, true, &a) < 0)
		return -ECONNREFUSED;
	s = socket(AF_UNIX, st | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (st == SOCK_SEQPACKET) { /* room for a whole message of buf_alloc */
		int sz = (int)v->p.buf_alloc + 4096;

		setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
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

/* Read the handshake a byte at a time: data after the line stays queued. */
static void handshake(struct vq_vsock *v, struct vs_conn *c)
{
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

static void accept_all(struct vq_vsock *v)
{
	for (;;) {
		int fd = accept4(v->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vs_conn *c;

		if (fd < 0)
			return;
		c = vq__vs_conn_new(v, 0, 0, VIRTIO_VSOCK_TYPE_STREAM, fd, false);
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
		if (ev[i].data.u64 == 0)
			accept_all(v);
		else
			conn_event(v, ev[i].data.ptr, ev[i].events);
	}
	return n;
}
