/* SPDX-License-Identifier: MIT */
/*
 * vsock connections: the table keyed by (guest port, host port), the rx
 * work list, credit arithmetic, and how a connection dies.
 *
 * A connection is never freed while host-socket events for it may still be
 * in hand: killing it closes its socket and unhashes it at once, and the
 * memory goes at the end of vq_vsock_process (vq__vs_reap).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vsock_internal.h"

static unsigned bucket(uint32_t gport, uint32_t hport)
{
	return (gport * 2654435761u ^ hport) % VS_HASH;
}

struct vs_conn *vq__vs_find(struct vq_vsock *v, uint32_t gport, uint32_t hport)
{
	struct vs_conn *c = v->hash[bucket(gport, hport)];

	while (c && !(c->gport == gport && c->hport == hport))
		c = c->hnext;
	return c;
}

static void unhash(struct vq_vsock *v, struct vs_conn *c)
{
	struct vs_conn **pp = &v->hash[bucket(c->gport, c->hport)];

	if (!c->hashed)
		return;
	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	c->hashed = false;
}

static void hash(struct vq_vsock *v, struct vs_conn *c)
{
	unsigned b = bucket(c->gport, c->hport);

	c->hnext = v->hash[b];
	v->hash[b] = c;
	c->hashed = true;
}

void vq__vs_rehash(struct vq_vsock *v, struct vs_conn *c, uint32_t gport, uint32_t hport)
{
	unhash(v, c);
	c->gport = gport;
	c->hport = hport;
	hash(v, c);
}

struct vs_conn *vq__vs_conn_new(struct vq_vsock *v, uint32_t gport, uint32_t hport,
				uint16_t type, int fd, bool hashed)
{
	struct vs_conn *c;

	if (v->nconns >= v->p.max_conns)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->gport = gport;
	c->hport = hport;
	c->type = type;
	c->fd = fd;
	c->buf_alloc = v->p.buf_alloc;
	c->host_writable = true;
	c->anext = v->all;
	v->all = c;
	if (hashed)
		hash(v, c);
	v->nconns++;
	v->st.conns_opened++;
	return c;
}

static void close_fd(struct vq_vsock *v, struct vs_conn *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(v->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

void vq__vs_conn_free(struct vq_vsock *v, struct vs_conn *c)
{
	struct vs_conn **pp = &v->all;

	close_fd(v, c);
	unhash(v, c);
	while (*pp && *pp != c)
		pp = &(*pp)->anext;
	if (*pp)
		*pp = c->anext;
	if (c->in_rx) { /* unlink from the rx list */
		struct vs_conn **rp = &v->rx_head, *prev = NULL;

		while (*rp != c) {
			prev = *rp;
			rp = &(*rp)->rnext;
		}
		*rp = c->rnext;
		if (v->rx_tail == c)
			v->rx_tail = prev;
	}
	free(c->buf);
	free(c->rec);
	free(c);
	v->nconns--;
	v->st.conns_closed++;
}

/* Close the host side now; with rst the driver is owed an RST first. */
void vq__vs_kill(struct vq_vsock *v, struct vs_conn *c, bool rst)
{
	close_fd(v, c);
	unhash(v, c);
	c->state = VS_DEAD;
	c->pend = rst ? VS_P_RST : 0;
	if (rst) {
		vq__vs_want_rx(v, c);
		return;
	}
	if (!c->reaped) {
		c->reaped = true;
		c->znext = v->zombies;
		v->zombies = c;
	}
}

void vq__vs_reap(struct vq_vsock *v)
{
	while (v->zombies) {
		struct vs_conn *c = v->zombies;

		v->zombies = c->znext;
		vq__vs_conn_free(v, c);
	}
}

void vq__vs_close_all(struct vq_vsock *v)
{
	vq__vs_reap(v);
	while (v->all)
		vq__vs_conn_free(v, v->all);
	v->rx_head = v->rx_tail = NULL;
	v->rst_n = 0;
}

void vq__vs_want_rx(struct vq_vsock *v, struct vs_conn *c)
{
	if (c->in_rx || c->reaped)
		return;
	c->in_rx = true;
	c->rnext = NULL;
	if (v->rx_tail)
		v->rx_tail->rnext = c;
	else
		v->rx_head = c;
	v->rx_tail = c;
}

/* Bytes the driver can still take on c (0 when it over-reported fwd_cnt). */
uint32_t vq__vs_peer_credit(const struct vs_conn *c)
{
	return vq__vs_credit_room(c->peer_buf_alloc, c->peer_fwd_cnt, c->tx_cnt);
}

/* Queue an RST answering pkt; -ENOSPC when the queue is full. */
int vq__vs_rst_queue(struct vq_vsock *v, const struct vq_vsock_pkt *pkt)
{
	if (pkt->op == VIRTIO_VSOCK_OP_RST)
		return 0; /* never answer an RST */
	if (v->rst_n == VS_RST_QUEUE)
		return -ENOSPC;
	v->rst[(v->rst_head + v->rst_n) % VS_RST_QUEUE].pkt = *pkt;
	v->rst_n++;
	return 0;
}
