/* SPDX-License-Identifier: MIT */
/*
 * vsock driver: the object over a vq_fe, pools in shared memory, the poll
 * loop, sockets and listeners.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "drv_internal.h"

void vq__drv_fail(struct vq_vsockdrv *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
}

/* A ring goes away (q NULL: take its buffers back) or comes (q). */
static void on_queue(void *opaque, unsigned i, struct vq_drv *q, struct vq_drv *old)
{
	struct vq_vsockdrv *d = opaque;
	void *tok;

	if (i >= 3)
		return;
	d->q[i] = q;
	while (!q && old && (tok = vq_drv_detach(old))) {
		if (i == DQ_RX) {
			struct drx *b = tok;

			b->next = d->rx_idle; /* posted again on the next ring */
			d->rx_idle = b;
		} else if (i == DQ_TX) {
			vq__drv_tx_release(d, tok);
		} /* event buffers: all posted again */
	}
}

void *vq__drv_alloc(struct vq_vsockdrv *d, size_t size, size_t align)
{
	uintptr_t base, at;

	if (d->fe)
		return vq_fe_alloc(d->fe, size, align);
	base = (uintptr_t)d->local.mem;
	at = (base + d->local_used + align - 1) & ~(uintptr_t)(align - 1);
	if (at - base > d->local.mem_size || size > d->local.mem_size - (at - base))
		return NULL;
	d->local_used = at - base + size;
	return (void *)at;
}

static int pools(struct vq_vsockdrv *d)
{
	const struct vq_vsockdrv_params *p = &d->p;
	uint32_t rxb = p->rx_buf_pages * DRV_PAGE;
	struct virtio_vsock_hdr *h;
	uint8_t *m;

	d->rx = calloc(p->rx_bufs, sizeof(*d->rx));
	d->txc = calloc(p->tx_bufs, sizeof(*d->txc));
	d->txh = calloc(p->queue_size, sizeof(*d->txh));
	h = vq__drv_alloc(d, (size_t)(p->rx_bufs + p->queue_size) * sizeof(*h), 64);
	m = vq__drv_alloc(d, (size_t)p->rx_bufs * rxb, DRV_PAGE);
	d->evt = vq__drv_alloc(d, 8 * sizeof(*d->evt), 64);
	if (!d->rx || !d->txc || !d->txh || !h || !m || !d->evt)
		return -ENOMEM;
	for (unsigned i = 0; i < p->rx_bufs; i++) { /* start() posts them */
		d->rx[i] = (struct drx){ .hdr = &h[i], .data = m + (size_t)i * rxb,
					 .next = d->rx_idle };
		d->rx_idle = &d->rx[i];
	}
	for (unsigned i = 0; i < p->queue_size; i++) {
		d->txh[i] = (struct dtx){ .hdr = &h[p->rx_bufs + i], .next = d->free_h };
		d->free_h = &d->txh[i];
	}
	for (unsigned i = 0; i < p->tx_bufs; i++) {
		uint8_t *b = vq__drv_alloc(d, VQ_VSOCK_HDR_LEN + p->tx_pkt, 64);

		if (!b)
			return -ENOMEM;
		d->txc[i] = (struct dtx){ .hdr = (void *)b, .data = b + VQ_VSOCK_HDR_LEN,
					  .next = d->free_c };
		d->free_c = &d->txc[i];
	}
	return 0;
}

/* guest_cid from the config space (at start and after TRANSPORT_RESET). */
int vq__drv_read_cid(struct vq_vsockdrv *d)
{
	uint64_t cid = 0;
	int rc;

	if (d->fe) {
		rc = vq_fe_get_config(d->fe, 0, &cid, sizeof(cid));
		if (rc < 0) {
			vq__drv_fail(d, "GET_CONFIG (guest_cid): %s", strerror(-rc));
			return rc;
		}
		cid = le64toh(cid);
	} else {
		cid = d->local.cid;
	}
	if (cid < 3 || cid > UINT32_MAX - 1) {
		vq__drv_fail(d, "the device gave guest cid %llu", (unsigned long long)cid);
		return -EPROTO;
	}
	d->cid = cid;
	return 0;
}

static int start(struct vq_vsockdrv *d)
{
	int rc;

	if ((rc = vq__drv_read_cid(d)) < 0)
		return rc;
	d->features = d->fe ? vq_fe_features(d->fe) : d->p.features;
	d->down = false;
	while (d->rx_idle) {
		struct drx *b = d->rx_idle;

		d->rx_idle = b->next;
		if ((rc = vq__drv_rx_post(d, b)) < 0)
			return rc;
	}
	for (unsigned i = 0; i < 8; i++) {
		struct vq_seg s = { vq__drv_addr(&d->evt[i]), sizeof(d->evt[i]) };

		if (vq_drv_add(d->q[DQ_EVT], &s, 0, 1, &d->evt[i]) < 0)
			return -ENOSPC;
	}
	d->kick[DQ_RX] = d->kick[DQ_EVT] = true;
	return vq_vsockdrv_poll(d) < 0 ? -EIO : 0;
}

static void defaults(struct vq_vsockdrv_params *p)
{
	if (!p->features)
		p->features = VQ_VSOCK_F_SEQPACKET | VQ_F_EVENT_IDX | VQ_F_INDIRECT;
	p->features |= VQ_F_VERSION_1;
	if (!p->queue_size)
		p->queue_size = 1024;
	if (!p->rx_bufs || p->rx_bufs > p->queue_size / 2)
		p->rx_bufs = p->queue_size / 2; /* two descriptors each */
	if (!p->rx_buf_pages)
		p->rx_buf_pages = 1;
	if (!p->tx_bufs)
		p->tx_bufs = 64;
	if (!p->tx_pkt)
		p->tx_pkt = 64u << 10;
	if (!p->buf_alloc)
		p->buf_alloc = p->rx_bufs * p->rx_buf_pages * DRV_PAGE / 2;
	if (!p->zc_mem)
		p->zc_mem = 16u << 20;
}

size_t vq_vsockdrv_mem_size(const struct vq_vsockdrv_params *params)
{
	struct vq_vsockdrv_params q = *params, *p = &q;
	size_t rx;

	defaults(p);
	rx = (size_t)p->rx_bufs * (p->rx_buf_pages * DRV_PAGE + 64);
	return rx + (size_t)p->tx_bufs * (p->tx_pkt + 128) + (size_t)p->queue_size * 64 +
	       p->zc_mem + (1u << 20);
}

/* The caller's rings and callbacks (vq_vsockdrv_params.local). */
static int local_open(struct vq_vsockdrv *d)
{
	const struct vq_vsockdrv_local *l = d->p.local;

	if (!l->mem || !l->kick || !l->wait || !l->queues[0] || !l->queues[1] || !l->queues[2]) {
		vq__drv_fail(d, "local transport: a queue, mem or a callback is missing");
		return -EINVAL;
	}
	d->local = *l;
	d->p.local = NULL;
	for (unsigned i = 0; i < 3; i++)
		d->q[i] = l->queues[i];
	return 0;
}

/* No indirect tables: a packet is two or a few descriptors, and a table
 * costs the device one more translation and walk per chain
 * (bench/vsock_ir.sh). */
static int fe_open(struct vq_vsockdrv *d)
{
	const struct vq_vsockdrv_params *p = &d->p;
	struct vq_fe_params fp = {
		.path = p->path, .mode = VQ_FE_CLIENT, .features = p->features,
		.required_features = VQ_F_VERSION_1, .num_queues = 3,
		.queue_size = p->queue_size,
		.queue_event = on_queue, .opaque = d,
	};
	int rc;

	fp.mem_size = vq_vsockdrv_mem_size(p);
	rc = vq_fe_new(&fp, &d->fe);
	if (rc < 0) {
		vq__drv_fail(d, "frontend: %s", strerror(-rc));
		return rc;
	}
	rc = vq_fe_connect(d->fe);
	if (rc < 0)
		vq__drv_fail(d, "connect %s: %s", p->path, vq_fe_error(d->fe));
	return rc;
}

static int watch_calls(struct vq_vsockdrv *d)
{
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;
	for (unsigned i = 0; i < 3; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, vq_fe_call_fd(d->fe, i), &ev) < 0)
			return -errno;
	}
	return 0;
}

int vq_vsockdrv_new(const struct vq_vsockdrv_params *p, struct vq_vsockdrv **out)
{
	struct vq_vsockdrv *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return -ENOMEM;
	d->p = *p;
	d->epfd = -1;
	d->next_port = DRV_FIRST_PORT;
	d->down = true; /* until start() */
	defaults(&d->p);
	rc = d->p.local ? local_open(d) : fe_open(d);
	if (!rc)
		rc = pools(d);
	if (!rc && d->fe)
		rc = watch_calls(d);
	if (!rc)
		rc = start(d);
	if (rc < 0) {
		vq_vsockdrv_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

static void free_zc_list(struct dzc *z)
{
	while (z) {
		struct dzc *next = z->next;

		free(z);
		z = next;
	}
}

void vq_vsockdrv_free(struct vq_vsockdrv *d)
{
	if (!d)
		return;
	while (d->socks) {
		struct vq_vsocksk *s = d->socks;

		d->socks = s->next;
		free(s);
	}
	free_zc_list(d->zc_done);
	free_zc_list(d->zc_free);
	free(d->zc_pages);
	vq_fe_free(d->fe);
	if (d->epfd >= 0)
		close(d->epfd);
	free(d->rx);
	free(d->txc);
	free(d->txh);
	free(d);
}

uint64_t vq_vsockdrv_cid(const struct vq_vsockdrv *d) { return d->cid; }
bool vq_vsockdrv_is_up(const struct vq_vsockdrv *d) { return !d->down && !d->broken; }
uint64_t vq_vsockdrv_features(const struct vq_vsockdrv *d) { return d->features; }
const char *vq_vsockdrv_error(const struct vq_vsockdrv *d) { return d->err; }
int vq_vsockdrv_fd(const struct vq_vsockdrv *d) { return d->epfd; }

void vq_vsockdrv_get_stats(const struct vq_vsockdrv *d, struct vq_vsockdrv_stats *s)
{
	*s = d->st;
}

void *vq_vsockdrv_alloc(struct vq_vsockdrv *d, size_t size)
{
	return vq__drv_alloc(d, size, size % DRV_PAGE ? 64 : DRV_PAGE);
}

static void drain_calls(struct vq_vsockdrv *d)
{
	for (unsigned i = 0; d->fe && i < 3; i++) {
		uint64_t v;

		if (read(vq_fe_call_fd(d->fe, i), &v, sizeof(v)) == sizeof(v))
			d->st.calls++;
	}
}

void vq__drv_kick_all(struct vq_vsockdrv *d)
{
	for (unsigned i = 0; i < 3; i++) {
		if (!d->kick[i] || !d->q[i])
			continue;
		d->kick[i] = false;
		if (vq_drv_kick_prepare(d->q[i])) {
			if (d->fe)
				vq_fe_kick(d->fe, i);
			else
				d->local.kick(d->local.ctx, i);
			d->st.kicks++;
		}
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The device went away: its connections are gone with it. */
static void went_away(struct vq_vsockdrv *d)
{
	d->down = true;
	d->nrst = 0;
	for (struct vq_vsocksk *s = d->socks; s; s = s->next)
		vq__dsk_reset(s, -ECONNRESET, false);
	d->next_try_ns = 0;
}

/* reconnect_ms: try to get the device back.  0 when it is. */
static int come_back(struct vq_vsockdrv *d)
{
	uint64_t t = now_ns();

	if (t < d->next_try_ns)
		return -EAGAIN;
	d->next_try_ns = t + (uint64_t)d->p.reconnect_ms * 1000000ull;
	if (vq_fe_connect(d->fe) < 0)
		return -EAGAIN;
	if (start(d) < 0) { /* e.g. a bad cid: drop it, try again later */
		vq_fe_disconnect(d->fe);
		d->down = true;
		return -EAGAIN;
	}
	d->st.reconnects++;
	return 0;
}

int vq_vsockdrv_reconnect(struct vq_vsockdrv *d)
{
	if (!d->fe)
		return -EOPNOTSUPP;
	if (d->broken)
		return -EIO;
	vq_fe_disconnect(d->fe); /* on_queue takes the buffers back */
	if (!d->down)
		went_away(d);
	if (come_back(d) == 0)
		return 0;
	if (d->p.reconnect_ms <= 0) {
		d->broken = true;
		return -EIO;
	}
	return -EAGAIN; /* vq_vsockdrv_poll tries again */
}

int vq_vsockdrv_poll(struct vq_vsockdrv *d)
{
	int work = 0, rc;

	if (d->broken)
		return -EIO;
	if ((d->fe && vq_fe_poll(d->fe) != VQ_FE_READY) || !d->q[0] || !d->q[1] || !d->q[2]) {
		vq__drv_fail(d, "the device went away: %s", d->fe ? vq_fe_error(d->fe) : "no queue");
		if (!d->fe || d->p.reconnect_ms <= 0) {
			d->broken = true;
			return -EIO;
		}
		if (!d->down)
			went_away(d);
		if (come_back(d) < 0)
			return 0;
	}
	drain_calls(d);
	for (int pass = 0; pass < 2; pass++) {
		if ((rc = vq__drv_tx_used(d)) < 0 || (work += rc, rc = vq__drv_rx_used(d)) < 0 ||
		    (work += rc, rc = vq__drv_evt_used(d)) < 0) {
			d->broken = true;
			return rc;
		}
		work += rc;
		work += vq__drv_flush_ctrl(d);
		vq__drv_kick_all(d);
		/* re-arm interrupts; something may have come meanwhile */
		if (!vq_drv_enable_notify(d->q[DQ_RX]) && !vq_drv_enable_notify(d->q[DQ_TX]))
			break;
	}
	return work;
}

int vq_vsockdrv_wait(struct vq_vsockdrv *d, int timeout_ms)
{
	struct pollfd pf = { d->epfd, POLLIN, 0 };

	if (!d->fe)
		d->local.wait(d->local.ctx, timeout_ms);
	else if (poll(&pf, 1, timeout_ms) < 0 && errno != EINTR)
		return -errno;
	return vq_vsockdrv_poll(d);
}

/* ---- sockets */

struct vq_vsocksk *vq__dsk_find(struct vq_vsockdrv *d, uint32_t lport, uint32_t pport)
{
	for (struct vq_vsocksk *s = d->socks; s; s = s->next)
		if (s->lport == lport && s->pport == pport && s->state != DS_CLOSED)
			return s;
	return NULL;
}

struct vq_vsocksk *vq__dsk_new(struct vq_vsockdrv *d, uint32_t lport, uint32_t pport,
			       uint16_t type)
{
	struct vq_vsocksk *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->zc_page = d->nzc_pages ? d->zc_pages[--d->nzc_pages]
				  : vq__drv_alloc(d, DRV_PAGE, DRV_PAGE);
	if (!s->zc_page) {
		free(s);
		return NULL;
	}
	s->d = d;
	s->lport = lport;
	s->pport = pport;
	s->type = type;
	s->buf_alloc = d->p.buf_alloc;
	s->next = d->socks;
	d->socks = s;
	return s;
}

/* Free s (unlinked already); its header page is kept for the next socket
 * (arena memory is never given back). */
void vq__dsk_free(struct vq_vsockdrv *d, struct vq_vsocksk *s)
{
	if (d->nzc_pages == d->zc_pages_cap) {
		unsigned n = d->zc_pages_cap ? d->zc_pages_cap * 2 : 16;
		void **pg = realloc(d->zc_pages, n * sizeof(*pg));

		if (!pg) { /* the page is lost to the arena, nothing else */
			free(s);
			return;
		}
		d->zc_pages = pg;
		d->zc_pages_cap = n;
	}
	d->zc_pages[d->nzc_pages++] = s->zc_page;
	free(s);
}

/* The socket is finished: its queued buffers go back; RST if asked. */
void vq__dsk_reset(struct vq_vsocksk *s, int err, bool send_rst)
{
	if (s->state == DS_CLOSED)
		return;
	s->state = DS_CLOSED;
	s->err = err;
	s->pend = send_rst ? DP_RST : 0;
	vq__dsk_drop_rx(s);
	s->d->st.resets++;
}

int vq_vsocksk_connect(struct vq_vsockdrv *d, uint32_t port, uint16_t type, int timeout_ms,
		       struct vq_vsocksk **out)
{
	struct vq_vsocksk *s;
	int rc;

	if (type == VIRTIO_VSOCK_TYPE_SEQPACKET ? !(d->features & VQ_VSOCK_F_SEQPACKET)
						 : type != VIRTIO_VSOCK_TYPE_STREAM)
		return -EOPNOTSUPP;
	s = vq__dsk_new(d, d->next_port++, port, type);
	if (!s)
		return -ENOMEM;
	if (d->next_port == 0)
		d->next_port = DRV_FIRST_PORT;
	s->state = DS_CONNECTING;
	s->pend = DP_REQUEST;
	for (int waited = 0; s->state == DS_CONNECTING && waited <= timeout_ms; waited += 10)
		if ((rc = vq_vsockdrv_wait(d, 10)) < 0)
			return rc;
	if (s->state == DS_ESTABLISHED) {
		*out = s;
		return 0;
	}
	rc = s->state == DS_CLOSED ? -ECONNREFUSED : -ETIMEDOUT;
	if (rc == -ETIMEDOUT)
		vq__dsk_reset(s, rc, true);
	s->freed = true; /* collected by the socket sweep */
	return rc;
}

int vq__dsk_listener(struct vq_vsockdrv *d, uint32_t port)
{
	for (unsigned i = 0; i < DRV_MAX_LISTEN; i++)
		if (d->listen[i].used && d->listen[i].port == port)
			return (int)i;
	return -ENOENT;
}

int vq_vsockdrv_listen(struct vq_vsockdrv *d, uint32_t port)
{
	if (vq__dsk_listener(d, port) >= 0)
		return -EADDRINUSE;
	for (unsigned i = 0; i < DRV_MAX_LISTEN; i++)
		if (!d->listen[i].used) {
			d->listen[i].used = true;
			d->listen[i].port = port;
			d->listen[i].q = d->listen[i].tail = NULL;
			return 0;
		}
	return -ENOMEM;
}

int vq_vsockdrv_accept(struct vq_vsockdrv *d, uint32_t port, struct vq_vsocksk **out)
{
	int i = vq__dsk_listener(d, port);
	struct vq_vsocksk *s;

	if (i < 0)
		return i;
	s = d->listen[i].q;
	if (!s)
		return -EAGAIN;
	d->listen[i].q = s->anext;
	if (!s->anext)
		d->listen[i].tail = NULL;
	s->accepted = true;
	*out = s;
	return 0;
}

uint32_t vq_vsocksk_send_room(const struct vq_vsocksk *s)
{
	if (s->state != DS_ESTABLISHED)
		return 0;
	return vq__vs_credit_room(s->peer_buf_alloc, s->peer_fwd_cnt, s->tx_cnt);
}

size_t vq_vsocksk_recv_avail(const struct vq_vsocksk *s) { return s->rx_avail; }
bool vq_vsocksk_is_connected(const struct vq_vsocksk *s) { return s->state == DS_ESTABLISHED; }
uint32_t vq_vsocksk_local_port(const struct vq_vsocksk *s) { return s->lport; }

int vq_vsocksk_shutdown(struct vq_vsocksk *s, uint32_t how)
{
	how &= VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND;
	if (s->state != DS_ESTABLISHED)
		return -ENOTCONN;
	s->shut_flags |= how;
	if (how & VIRTIO_VSOCK_SHUTDOWN_SEND)
		s->shut_send = true;
	s->pend |= DP_SHUTDOWN;
	vq__drv_flush_ctrl(s->d);
	return 0;
}

void vq_vsocksk_close(struct vq_vsocksk *s)
{
	struct vq_vsockdrv *d = s->d;

	if (s->state == DS_ESTABLISHED) {
		s->shut_flags = VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND;
		s->pend |= DP_SHUTDOWN;
	}
	vq__dsk_drop_rx(s);
	s->freed = true; /* stays findable until the peer's RST, then swept */
	vq__drv_flush_ctrl(d);
	vq__drv_kick_all(d);
}
