/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk I/O engine "uring": one io_uring per queue, owned by the queue
 * thread (see <virtq/blk.h>, "I/O engines").
 *
 * Reads and writes become readv/writev entries, FLUSH an fsync(DATASYNC)
 * entry, on the registered descriptors b->fd (index FILE_FD) and b->bfd
 * (FILE_BFD).  vq_blk_queue_poll prepares one entry per request and the
 * kick hook submits them all with one io_uring_enter.  A short transfer is
 * resubmitted for the rest, as rw_all does in blk_io.c.  What io_uring does
 * not take (discard, write zeroes, O_DIRECT bounce buffers), and any
 * request that finds the ring full, goes to the thread pool.
 *
 * Completions: the ring signals the queue's eventfd (registered), and the
 * reap hook reads it first, then takes the pool's list and the CQEs, so a
 * completion that lands after the read signals again.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "blk_internal.h"

#ifdef VQ_HAVE_LIBURING
#include <liburing.h>

#define SQ_ENTRIES 256u  /* entries prepared per submission, at most */
#define CQ_ENTRIES 1024u /* requests in flight on one ring, at most */

enum { FILE_FD, FILE_BFD };

struct vq__blk_uring {
	struct io_uring ring;
	unsigned busy; /* requests on the ring: prepared, no CQE yet */
};

/* A free entry; when the queue is full, submit what is there first. */
static struct io_uring_sqe *get_sqe(struct vq__blk_uring *u)
{
	struct io_uring_sqe *sqe;

	if (u->busy >= CQ_ENTRIES)
		return NULL; /* the CQ could overflow */
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe && io_uring_submit(&u->ring) >= 0)
		sqe = io_uring_get_sqe(&u->ring);
	if (sqe)
		u->busy++;
	return sqe;
}

/* Queue the rest of a read or write (io->cur..): false when the ring is full. */
static bool prep_rw(struct vq__blk_queue *q, struct vq__blk_io *io)
{
	struct io_uring_sqe *sqe = get_sqe(q->ur);
	unsigned n = io->ncur > IOV_MAX ? IOV_MAX : io->ncur; /* the rest: resubmitted */

	if (!sqe)
		return false;
	if (n == 1 && io->r.type == VIRTIO_BLK_T_OUT) { /* one segment: no iovec to import */
		io_uring_prep_write(sqe, io->cur_fd, io->cur->iov_base, (unsigned)io->cur->iov_len,
				    io->cur_off);
		sqe->rw_flags = vq__blk_write_flags(q->b);
	} else if (n == 1) {
		io_uring_prep_read(sqe, io->cur_fd, io->cur->iov_base, (unsigned)io->cur->iov_len,
				   io->cur_off);
	} else if (io->r.type == VIRTIO_BLK_T_OUT) {
		io_uring_prep_writev2(sqe, io->cur_fd, io->cur, n, io->cur_off,
				      vq__blk_write_flags(q->b));
	} else {
		io_uring_prep_readv(sqe, io->cur_fd, io->cur, n, io->cur_off);
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, io);
	return true;
}

static bool prep_flush(struct vq__blk_queue *q, struct vq__blk_io *io)
{
	struct io_uring_sqe *sqe = get_sqe(q->ur);

	if (!sqe)
		return false;
	io_uring_prep_fsync(sqe, FILE_FD, IORING_FSYNC_DATASYNC);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, io);
	return true;
}

static void uring_submit(struct vq__blk_queue *q, struct vq__blk_io *io)
{
	struct vq_blk *b = q->b;
	int fd;

	if (io->r.type == VIRTIO_BLK_T_FLUSH) {
		if (!prep_flush(q, io))
			vq__blk_pool_run(q, io);
		return;
	}
	fd = vq__blk_rw_fd(b, io);
	if ((io->r.type != VIRTIO_BLK_T_IN && io->r.type != VIRTIO_BLK_T_OUT) || fd < 0 ||
	    !io->r.len) {
		vq__blk_pool_run(q, io);
		return;
	}
	io->cur = io->data;
	io->ncur = io->ndata;
	io->cur_off = io->r.offset;
	io->cur_fd = fd == b->fd ? FILE_FD : FILE_BFD;
	if (!prep_rw(q, io))
		vq__blk_pool_run(q, io);
}

/*
 * Submit what was prepared.  Reads from the page cache complete inside the
 * submission; their CQEs need no eventfd signal (the caller reaps right
 * after: vq_blk_queue_poll and drain both do, and uring_reap loops while
 * CQEs are ready), so signalling is off meanwhile, saving the queue thread
 * a wakeup per batch.
 */
static void uring_kick(struct vq__blk_queue *q)
{
	struct io_uring *ring = &q->ur->ring;

	if (!io_uring_sq_ready(ring))
		return;
	io_uring_cq_eventfd_toggle(ring, false);
	io_uring_submit(ring); /* -EBUSY/-EAGAIN: the next kick retries */
	io_uring_cq_eventfd_toggle(ring, true);
}

/*
 * One CQE of io.  Returns true when io is finished (io->err set); false
 * when the rest of a short transfer went back on the ring.
 */
static bool on_cqe(struct vq__blk_queue *q, struct vq__blk_io *io, int res)
{
	bool write = io->r.type == VIRTIO_BLK_T_OUT;

	q->ur->busy--;
	if (res == -EINTR || res == -EAGAIN)
		res = 0; /* nothing moved: send it again */
	else if (res < 0 || io->r.type == VIRTIO_BLK_T_FLUSH)
		return io->err = res < 0 ? res : 0, true;
	else if (res == 0)
		return io->err = write ? -ENOSPC : -EIO, true; /* end of file */
	io->cur = vq__blk_iov_advance(io->cur, &io->ncur, (size_t)res);
	io->cur_off += (uint64_t)res;
	io->cur = vq__blk_iov_advance(io->cur, &io->ncur, 0);
	if (!io->ncur)
		return io->err = 0, true;
	if (prep_rw(q, io))
		return false;
	/* Ring full: finish the rest here, blocking (rare). */
	io->err = vq__blk_rw_all(io->cur_fd == FILE_FD ? q->b->fd : q->b->bfd, io->cur,
				 io->ncur, io->cur_off, write,
				 write ? vq__blk_write_flags(q->b) : 0);
	return true;
}

static struct vq__blk_io *uring_reap(struct vq__blk_queue *q, bool clear)
{
	struct vq__blk_io *head = vq__blk_take_done(q, clear), **tail = &head; /* efd first */
	struct io_uring *ring = &q->ur->ring;
	struct io_uring_cqe *cqe;
	unsigned at, n = 0;

	while (*tail)
		tail = &(*tail)->next;
	do {
		n = 0;
		io_uring_for_each_cqe(ring, at, cqe) {
			struct vq__blk_io *io = io_uring_cqe_get_data(cqe);

			n++;
			if (on_cqe(q, io, cqe->res)) {
				io->next = NULL;
				*tail = io;
				tail = &io->next;
			}
		}
		io_uring_cq_advance(ring, n);
		uring_kick(q); /* resubmitted rests */
	} while (io_uring_cq_ready(ring)); /* one may have come while the eventfd was off */
	return head;
}

/* Wait for every request on q's ring; finished ones go to q->done. */
static void uring_quiesce(struct vq__blk_queue *q)
{
	struct io_uring *ring = &q->ur->ring;
	struct io_uring_cqe *cqe;

	while (q->ur->busy) {
		int r = io_uring_submit_and_wait(ring, 1);

		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			break; /* the kernel cancels them when the ring closes */
		while (io_uring_peek_cqe(ring, &cqe) == 0) {
			struct vq__blk_io *io = io_uring_cqe_get_data(cqe);
			int res = cqe->res;

			io_uring_cqe_seen(ring, cqe);
			if (on_cqe(q, io, res))
				vq__blk_post_done(q, io);
		}
	}
}

static void uring_stop(struct vq_blk *b)
{
	for (unsigned i = 0; b->q && i < b->nq; i++) {
		struct vq__blk_queue *q = &b->q[i];

		if (!q->ur)
			continue;
		uring_quiesce(q);
		io_uring_queue_exit(&q->ur->ring);
		free(q->ur);
		q->ur = NULL;
	}
	vq__blk_pool_stop(b);
}

static int ring_new(struct vq_blk *b, struct vq__blk_queue *q)
{
	struct io_uring_params prm = { .flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES };
	int fds[2] = { b->fd, b->bfd };
	int r;

	q->ur = calloc(1, sizeof(*q->ur));
	if (!q->ur)
		return -ENOMEM;
	r = io_uring_queue_init_params(SQ_ENTRIES, &q->ur->ring, &prm);
	if (r < 0) {
		free(q->ur);
		q->ur = NULL;
		return r;
	}
	r = io_uring_register_files(&q->ur->ring, fds, b->bfd >= 0 ? 2 : 1);
	if (r == 0)
		r = io_uring_register_eventfd(&q->ur->ring, q->efd);
	return r;
}

static int uring_start(struct vq_blk *b)
{
	int r = vq__blk_pool_start(b);

	for (unsigned i = 0; r == 0 && i < b->nq; i++)
		r = ring_new(b, &b->q[i]);
	if (r < 0)
		uring_stop(b);
	return r;
}

const struct vq__blk_engine vq__blk_engine_uring = {
	.id = VQ_BLK_ENGINE_URING,
	.start = uring_start,
	.stop = uring_stop,
	.submit = uring_submit,
	.kick = uring_kick,
	.reap = uring_reap,
};

#else /* !VQ_HAVE_LIBURING: built without liburing, never starts */

static int uring_start(struct vq_blk *b)
{
	return -EOPNOTSUPP;
}

static void uring_kick(struct vq__blk_queue *q)
{
}

const struct vq__blk_engine vq__blk_engine_uring = {
	.id = VQ_BLK_ENGINE_URING,
	.start = uring_start,
	.stop = vq__blk_pool_stop,
	.submit = vq__blk_pool_run,
	.kick = uring_kick,
	.reap = vq__blk_take_done,
};

#endif
