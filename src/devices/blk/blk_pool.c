/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk I/O engine "threads": a pool of threads doing blocking system
 * calls, and the per-queue completion list they post to.  The io_uring
 * engine (blk_uring.c) hands it what io_uring does not take.
 *
 * Submission: one FIFO under a mutex, shared by all queues; a condition
 * variable wakes one thread per request.  Completion: per queue, a
 * lock-free LIFO (Treiber stack) that I/O threads push onto and the queue
 * thread empties all at once with an exchange (so there is no ABA), plus
 * an eventfd written on every empty -> non-empty transition.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>

#include "blk_internal.h"

void vq__blk_post_done(struct vq__blk_queue *q, struct vq__blk_io *io)
{
	struct vq__blk_io *head = atomic_load_explicit(&q->done, memory_order_relaxed);

	/* Release: the request (status, err, guest data written by the
	 * system call) is visible to the queue thread, which empties the
	 * list with an acquire exchange in vq__blk_reap. */
	do {
		io->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&q->done, &head, io,
							memory_order_release,
							memory_order_relaxed));
	if (!head)
		eventfd_write(q->efd, 1); /* the queue thread drains it before reaping */
}

static struct vq__blk_io *take(struct vq__blk_pool *p)
{
	struct vq__blk_io *io;

	pthread_mutex_lock(&p->lock);
	while (!p->head && !p->stop)
		pthread_cond_wait(&p->cond, &p->lock);
	io = p->head;
	if (io) {
		p->head = io->next;
		if (!p->head)
			p->tail = &p->head;
	}
	pthread_mutex_unlock(&p->lock);
	return io; /* NULL: stop, and nothing left to do */
}

static void *io_thread(void *arg)
{
	struct vq_blk *b = arg;
	struct vq__blk_io *io;

	while ((io = take(&b->pool)) != NULL) {
		vq__blk_execute(b, io);
		vq__blk_post_done(io->q, io);
	}
	return NULL;
}

/* Everything posted so far, oldest first. */
struct vq__blk_io *vq__blk_take_done(struct vq__blk_queue *q, bool clear)
{
	struct vq__blk_io *io, *rev = NULL;
	eventfd_t v;

	if (clear)
		eventfd_read(q->efd, &v); /* before the exchange: see vq__blk_post_done */
	/* Acquire: pairs with the release CAS in vq__blk_post_done. */
	io = atomic_exchange_explicit(&q->done, NULL, memory_order_acquire);
	while (io) { /* LIFO -> FIFO */
		struct vq__blk_io *next = io->next;

		io->next = rev;
		rev = io;
		io = next;
	}
	return rev;
}

/* Execute io on a pool thread, or right here when the pool has none; it
 * shows up in vq__blk_take_done either way. */
void vq__blk_pool_run(struct vq__blk_queue *q, struct vq__blk_io *io)
{
	struct vq__blk_pool *p = &q->b->pool;

	if (!p->nthreads) {
		vq__blk_execute(q->b, io);
		vq__blk_post_done(q, io);
		return;
	}
	io->next = NULL;
	pthread_mutex_lock(&p->lock);
	*p->tail = io;
	p->tail = &io->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

int vq__blk_pool_start(struct vq_blk *b)
{
	struct vq__blk_pool *p = &b->pool;
	int r;

	p->head = NULL;
	p->tail = &p->head;
	p->stop = false;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->th = calloc(b->p.iothreads ? b->p.iothreads : 1, sizeof(*p->th));
	if (!p->th)
		return -ENOMEM;
	for (p->nthreads = 0; p->nthreads < b->p.iothreads; p->nthreads++) {
		r = pthread_create(&p->th[p->nthreads], NULL, io_thread, b);
		if (r) {
			vq__blk_pool_stop(b);
			return -r;
		}
	}
	return 0;
}

/* Wait for every submitted request to execute, then join the threads. */
void vq__blk_pool_stop(struct vq_blk *b)
{
	struct vq__blk_pool *p = &b->pool;

	if (!p->th)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->th[i], NULL);
	free(p->th);
	p->th = NULL;
	p->nthreads = 0;
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

static void no_kick(struct vq__blk_queue *q)
{
}

const struct vq__blk_engine vq__blk_engine_threads = {
	.id = VQ_BLK_ENGINE_THREADS,
	.start = vq__blk_pool_start,
	.stop = vq__blk_pool_stop,
	.submit = vq__blk_pool_run,
	.kick = no_kick,
	.reap = vq__blk_take_done,
};
