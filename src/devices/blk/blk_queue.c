/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk request queues: pop, parse, start, and complete requests.
 * Everything here runs on the queue's own thread (the one calling
 * vq_blk_queue_poll / vq_blk_queue_drain), the only one that touches the
 * queue's ring.  I/O threads meet it through the completion list only.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "blk_internal.h"

int vq__blk_queue_init(struct vq_blk *b, struct vq__blk_queue *q, unsigned idx)
{
	memset(q, 0, sizeof(*q));
	q->b = b;
	q->idx = idx;
	atomic_init(&q->done, NULL);
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return q->efd < 0 ? -errno : 0;
}

static void io_free(struct vq__blk_io *io)
{
	free(io->elem.iov);
	free(io->data);
	free(io->ranges);
	free(io);
}

void vq__blk_queue_fini(struct vq__blk_queue *q)
{
	struct vq__blk_io *io;

	while ((io = q->free) != NULL) {
		q->free = io->next;
		io_free(io);
	}
	if (q->efd >= 0)
		close(q->efd);
	q->efd = -1;
}

/* ---- request objects */

static int io_grow(struct vq__blk_io *io, unsigned cap)
{
	struct iovec *a = realloc(io->elem.iov, cap * sizeof(*a));

	if (!a)
		return -ENOMEM;
	io->elem.iov = a;
	a = realloc(io->data, cap * sizeof(*a));
	if (!a)
		return -ENOMEM; /* elem.iov is larger than needed: harmless */
	io->data = a;
	io->elem.iov_cap = cap;
	return 0;
}

static struct vq__blk_io *io_get(struct vq__blk_queue *q)
{
	struct vq__blk_io *io = q->free;

	if (io) {
		q->free = io->next;
		return io;
	}
	io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	io->q = q;
	io->ranges = calloc(VQ_BLK_MAX_SEGS, sizeof(*io->ranges));
	if (!io->ranges || io_grow(io, VQ__BLK_IOV0) < 0) {
		io_free(io);
		return NULL;
	}
	q->nio++;
	return io;
}

static void io_put(struct vq__blk_queue *q, struct vq__blk_io *io)
{
	io->next = q->free;
	q->free = io;
}

/* Pop one chain into a request.  1, 0 (empty), -errno. */
static int pop(struct vq__blk_queue *q, struct vq__blk_io **out)
{
	struct vq__blk_io *io = io_get(q);
	int r;

	if (!io)
		return -ENOMEM;
	for (;;) {
		r = vq_dev_pop(q->vq, &io->elem);
		if (r != -ENOBUFS)
			break;
		if (io->elem.iov_cap >= VQ__BLK_IOV_MAX ||
		    (r = io_grow(io, io->elem.iov_cap * 2)) < 0)
			break;
	}
	if (r != 1) {
		io_put(q, io);
		return r;
	}
	*out = io;
	return 1;
}

/* ---- completion */

static void count_ok(struct vq__blk_queue *q, const struct vq__blk_io *io)
{
	switch (io->r.type) {
	case VIRTIO_BLK_T_IN:
		vq__blk_count(q, VQ__BLK_C_READS, 1);
		vq__blk_count(q, VQ__BLK_C_RBYTES, io->r.len);
		break;
	case VIRTIO_BLK_T_OUT:
		vq__blk_count(q, VQ__BLK_C_WRITES, 1);
		vq__blk_count(q, VQ__BLK_C_WBYTES, io->r.len);
		break;
	case VIRTIO_BLK_T_FLUSH:
		vq__blk_count(q, VQ__BLK_C_FLUSHES, 1);
		break;
	case VIRTIO_BLK_T_GET_ID:
		vq__blk_count(q, VQ__BLK_C_GETID, 1);
		break;
	case VIRTIO_BLK_T_DISCARD:
		vq__blk_count(q, VQ__BLK_C_DISCARDS, 1);
		break;
	default:
		vq__blk_count(q, VQ__BLK_C_WZ, 1);
		break;
	}
}

static void count(struct vq__blk_queue *q, const struct vq__blk_io *io, uint8_t st)
{
	if (st == VIRTIO_BLK_S_OK) {
		count_ok(q, io);
	} else if (st == VIRTIO_BLK_S_UNSUPP) {
		vq__blk_count(q, VQ__BLK_C_UNSUPP, 1);
	} else {
		vq__blk_count(q, VQ__BLK_C_IOERR, 1);
		if (io->err)
			vq__blk_count(q, VQ__BLK_C_IOFAILED, 1);
	}
}

/* Write the status byte, push the chain, recycle the request. */
static void complete(struct vq__blk_queue *q, struct vq__blk_io *io, uint8_t st)
{
	*io->r.status_ptr = st; /* writable guest byte: the ring checked it */
	count(q, io, st);
	vq_dev_push(q->vq, &io->elem, io->r.used_len); /* -EIO when broken: nothing to do */
	q->unflushed++;
	q->inflight--;
	io_put(q, io);
}

/* Push everything the engine finished (clear: see vq__blk_engine.reap).
 * Returns the number pushed. */
static unsigned reap(struct vq__blk_queue *q, bool clear)
{
	struct vq__blk_io *io, *next;
	unsigned n = 0;

	for (io = q->b->eng->reap(q, clear); io; io = next, n++) {
		next = io->next;
		complete(q, io, io->err ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
	}
	return n;
}

static void flush_notify(struct vq__blk_queue *q)
{
	struct vq_blk *b = q->b;

	if (!q->unflushed)
		return;
	q->unflushed = 0;
	vq__host_flush(&b->host, q->vq, q->idx);
}

/* ---- starting requests */

/* The data segments: r.len bytes from (data_idx, data_off). */
static void build_data(struct vq__blk_io *io)
{
	const struct vq_elem *e = &io->elem;
	unsigned n = e->out_num + e->in_num, k = 0;
	uint64_t left = io->r.len;
	size_t off = io->r.data_off;

	for (unsigned i = io->r.data_idx; i < n && left; i++, off = 0) {
		size_t len = e->iov[i].iov_len - off;

		if (len > left)
			len = (size_t)left;
		io->data[k++] = (struct iovec){ (uint8_t *)e->iov[i].iov_base + off, len };
		left -= len;
	}
	io->ndata = k;
}

static void get_id(struct vq_blk *b, struct vq__blk_io *io)
{
	const uint8_t *src = (const uint8_t *)b->serial;

	for (unsigned i = 0; i < io->ndata; i++) { /* r.len <= 20 in total */
		memcpy(io->data[i].iov_base, src, io->data[i].iov_len);
		src += io->data[i].iov_len;
	}
}

static void drop(struct vq__blk_queue *q, struct vq__blk_io *io)
{
	vq__blk_count(q, VQ__BLK_C_DROPPED, 1);
	vq_dev_push(q->vq, &io->elem, 0);
	q->unflushed++;
	q->inflight--;
	io_put(q, io);
}

static void start(struct vq__blk_queue *q, struct vq__blk_io *io)
{
	struct vq_blk *b = q->b;
	const struct vq_elem *e = &io->elem;
	int r = vq_blk_parse(&b->lim, e->iov, e->out_num, e->in_num, io->ranges,
			     VQ_BLK_MAX_SEGS, &io->r);

	q->inflight++;
	io->err = 0;
	if (r < 0) {
		drop(q, io);
	} else if (r > 0) {
		complete(q, io, io->r.status);
	} else if (io->r.type == VIRTIO_BLK_T_GET_ID) {
		build_data(io);
		get_id(b, io);
		complete(q, io, VIRTIO_BLK_S_OK);
	} else {
		build_data(io);
		b->eng->submit(q, io);
	}
}

/* ---- public */

int vq_blk_queue_poll(struct vq_blk *b, unsigned i, unsigned budget)
{
	struct vq__blk_queue *q;
	unsigned popped = 0;
	int r = 0;

	if (!b || i >= b->nq)
		return -EINVAL;
	q = &b->q[i];
	if (!q->vq)
		return -ENOTCONN;
	if (budget > INT_MAX)
		budget = INT_MAX;
	reap(q, true);
	while (popped < budget) {
		struct vq__blk_io *io = NULL;

		r = pop(q, &io);
		if (r <= 0)
			break;
		popped++;
		start(q, io);
	}
	if (popped) {
		q->b->eng->kick(q); /* one submission for the whole batch */
		reap(q, false);     /* what finished inline is pushed now; a
				     * later signal wakes the next poll */
	}
	flush_notify(q);
	if (r < 0)
		return vq_dev_is_broken(q->vq) ? -EIO : r;
	return (int)popped;
}

int vq_blk_queue_drain(struct vq_blk *b, unsigned i)
{
	struct vq__blk_queue *q;

	if (!b || i >= b->nq)
		return -EINVAL;
	q = &b->q[i];
	for (;;) {
		b->eng->kick(q);
		reap(q, true);
		if (!q->inflight)
			break;
		struct pollfd pfd = { .fd = q->efd, .events = POLLIN };

		poll(&pfd, 1, -1); /* EINTR: just look again */
	}
	if (q->vq)
		flush_notify(q);
	return 0;
}

unsigned vq_blk_queue_inflight(const struct vq_blk *b, unsigned i)
{
	return b && i < b->nq ? b->q[i].inflight : 0;
}

int vq_blk_queue_fd(const struct vq_blk *b, unsigned i)
{
	return b && i < b->nq ? b->q[i].efd : -EINVAL;
}

int vq_blk_set_queue(struct vq_blk *b, unsigned i, struct vq_dev *vq)
{
	if (!b || i >= b->nq)
		return -EINVAL;
	if (b->q[i].vq)
		vq_blk_queue_drain(b, i);
	b->q[i].vq = vq;
	b->q[i].unflushed = 0;
	return 0;
}

/* At vq_blk_free, after the pool stopped: forget finished requests. */
void vq__blk_queue_forget(struct vq__blk_queue *q)
{
	struct vq__blk_io *io = atomic_exchange(&q->done, NULL);

	while (io) {
		struct vq__blk_io *next = io->next;

		io_free(io);
		io = next;
	}
}
