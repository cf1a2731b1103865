/* SPDX-License-Identifier: MIT */
/*
 * 9p requests in flight: the tag table, the workers that serve requests
 * concurrently, and Tflush.
 *
 * A connection started with vq_9p_conn_start has max_tags slots and a pool
 * of worker threads, each with its own scratch (struct p9_ctx) and io_uring.
 * vq_9p_conn_submit frames a request on the caller's thread, refuses a tag
 * already in flight (the connection breaks: 9P forbids reusing a tag before
 * its answer), and queues it; a worker serves it and calls done.  Tversion
 * and Tflush are served on the submitting thread:
 *  - Tversion flushes everything in flight first (a new session);
 *  - Tflush(oldtag) cancels oldtag: still queued, it is answered
 *    Rlerror(EINTR) at once; running, its cancel flag is set and its thread
 *    signalled (SIGURG) until it returns, so a blocking read ends early.
 *    Either way oldtag's done has returned before Rflush's done is called:
 *    the flushed request's answer precedes Rflush, as 9P requires.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p9_internal.h"

#define P9_KICK_NS 10000000L /* re-signal a flushed request every 10 ms */

static void on_cancel_signal(int sig)
{
	(void)sig; /* only there to make blocking calls return EINTR */
}

/* SIGURG is ignored by default; a handler without SA_RESTART makes it cut
 * a blocking system call short.  A handler the host set is left alone. */
static void install_signal(void)
{
	struct sigaction old, sa = { .sa_handler = on_cancel_signal };

	if (sigaction(SIGURG, NULL, &old) == 0 &&
	    (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN))
		sigaction(SIGURG, &sa, NULL);
}

bool vq__p9_is_cancelled(const struct p9_ctx *x)
{
	return x->cancel && atomic_load(x->cancel);
}

/* ---- workers */

static void slot_finish(struct p9_async *a, struct p9_slot *m)
{
	pthread_mutex_lock(&a->mx);
	m->state = P9_SLOT_FREE;
	a->busy--;
	pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->mx);
}

static struct p9_slot *queue_pop(struct p9_async *a)
{
	struct p9_slot *m = a->head;

	a->head = m->next;
	if (!a->head)
		a->tail = NULL;
	m->next = NULL;
	return m;
}

struct worker_arg {
	struct vq_9p_conn *c;
	unsigned idx;
};

static void *worker_main(void *arg)
{
	struct vq_9p_conn *c = ((struct worker_arg *)arg)->c;
	struct p9_async *a = c->async;
	struct p9_ctx *x = &a->ctx[((struct worker_arg *)arg)->idx];
	sigset_t set;

	free(arg);
	sigemptyset(&set); /* the creator's mask stays, but Tflush's signal gets in */
	sigaddset(&set, SIGURG);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	pthread_mutex_lock(&a->mx);
	for (;;) {
		while (!a->stop && !a->head)
			pthread_cond_wait(&a->work, &a->mx);
		if (!a->head)
			break;
		struct p9_slot *m = queue_pop(a);

		m->state = P9_SLOT_RUNNING;
		m->worker = pthread_self();
		pthread_mutex_unlock(&a->mx);
		x->cancel = &m->cancel;
		int n = atomic_load(&m->cancel) ? vq__p9_error_reply(c, x, m, -EINTR)
						 : vq__p9_serve(c, x, m);
		x->cancel = NULL;
		pthread_mutex_lock(&a->mx);
		m->state = P9_SLOT_ANSWERING;
		pthread_mutex_unlock(&a->mx);
		a->done(a->opaque, m->cookie, n);
		slot_finish(a, m);
		pthread_mutex_lock(&a->mx);
	}
	pthread_mutex_unlock(&a->mx);
	return NULL;
}

/* ---- flushing */

/* Cancel m (a->mx held): queued, answer it here; running, signal it until
 * it is done; answering, wait for its done.  Returns with m free and a->mx
 * held. */
static void slot_cancel(struct vq_9p_conn *c, struct p9_slot *m)
{
	struct p9_async *a = c->async;

	atomic_store(&m->cancel, true);
	if (m->state == P9_SLOT_QUEUED) {
		struct p9_slot **pp = &a->head;

		while (*pp != m)
			pp = &(*pp)->next;
		*pp = m->next;
		a->tail = NULL;
		for (struct p9_slot *t = a->head; t; t = t->next)
			a->tail = t;
		m->state = P9_SLOT_ANSWERING; /* ours now */
		pthread_mutex_unlock(&a->mx);
		a->done(a->opaque, m->cookie, vq__p9_error_reply(c, &c->ictx, m, -EINTR));
		slot_finish(a, m);
		pthread_mutex_lock(&a->mx);
		return;
	}
	while (m->state != P9_SLOT_FREE) {
		struct timespec ts;

		if (m->state == P9_SLOT_RUNNING)
			pthread_kill(m->worker, SIGURG);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += P9_KICK_NS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&a->idle, &a->mx, &ts);
	}
}

/* The request with tag whose answer is not out yet; with answering, also
 * one whose done is running (after which the client may reuse the tag). */
static struct p9_slot *slot_find(struct p9_async *a, uint16_t tag, bool answering)
{
	struct p9_slot *found = NULL;

	for (unsigned i = 0; i < a->nslots; i++) {
		struct p9_slot *m = &a->slots[i];

		if (m->tag != tag || m->state == P9_SLOT_FREE)
			continue;
		if (m->state != P9_SLOT_ANSWERING)
			return m;
		if (answering)
			found = m;
	}
	return found;
}

/* Cancel every request in flight and wait for all of them. */
static void flush_all(struct vq_9p_conn *c)
{
	struct p9_async *a = c->async;

	pthread_mutex_lock(&a->mx);
	for (unsigned i = 0; i < a->nslots; i++)
		if (a->slots[i].state != P9_SLOT_FREE)
			slot_cancel(c, &a->slots[i]);
	pthread_mutex_unlock(&a->mx);
}

/* Tflush: the flushed request's answer (if any) is out before Rflush. */
static void serve_flush(struct vq_9p_conn *c, const struct p9_slot *f)
{
	struct p9_async *a = c->async;
	uint8_t b[P9_HDR + 2];

	if (f->size == sizeof(b)) {
		struct p9_slot *m;
		uint16_t oldtag;

		vq__p9_iov_copy(f->req, f->req_n, 0, b, sizeof(b), false);
		oldtag = (uint16_t)(b[P9_HDR] | b[P9_HDR + 1] << 8);
		pthread_mutex_lock(&a->mx);
		m = slot_find(a, oldtag, true);
		if (m)
			slot_cancel(c, m);
		pthread_mutex_unlock(&a->mx);
	}
	a->done(a->opaque, f->cookie, vq__p9_serve(c, &c->ictx, f));
}

/* ---- the public side */

static int async_spawn(struct vq_9p_conn *c, unsigned n)
{
	struct p9_async *a = c->async;

	for (; a->nthreads < n; a->nthreads++) {
		struct worker_arg *w = malloc(sizeof(*w));
		int err;

		if (!w)
			return -ENOMEM;
		*w = (struct worker_arg){ c, a->nthreads };
		err = vq__p9_ctx_init(&a->ctx[a->nthreads]);
		if (!err)
			err = -pthread_create(&a->threads[a->nthreads], NULL, worker_main, w);
		if (err) {
			vq__p9_ctx_fini(&a->ctx[a->nthreads]);
			free(w);
			return err;
		}
	}
	return 0;
}

int vq_9p_conn_start(struct vq_9p_conn *c, const struct vq_9p_async_params *p)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	unsigned nw = p && p->workers ? p->workers : P9_DEF_WORKERS;
	unsigned nt = p && p->max_tags ? p->max_tags : P9_DEF_TAGS;
	struct p9_async *a;
	int err;

	if (!p || !p->done || c->async || nw > P9_MAX_WORKERS || nt > P9_MAX_TAGS)
		return -EINVAL;
	pthread_once(&once, install_signal);
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->slots = calloc(nt, sizeof(*a->slots));
	a->threads = calloc(nw, sizeof(*a->threads));
	a->ctx = calloc(nw, sizeof(*a->ctx));
	a->nslots = nt;
	a->done = p->done;
	a->opaque = p->opaque;
	pthread_mutex_init(&a->mx, NULL);
	pthread_cond_init(&a->work, NULL);
	pthread_cond_init(&a->idle, NULL);
	c->async = a;
	err = (a->slots && a->threads && a->ctx) ? async_spawn(c, nw) : -ENOMEM;
	if (err)
		vq__p9_async_stop(c);
	return err;
}

void vq__p9_async_stop(struct vq_9p_conn *c)
{
	struct p9_async *a = c->async;

	if (!a)
		return;
	if (a->slots)
		flush_all(c);
	pthread_mutex_lock(&a->mx);
	a->stop = true;
	pthread_cond_broadcast(&a->work);
	pthread_mutex_unlock(&a->mx);
	for (unsigned i = 0; i < a->nthreads; i++) {
		pthread_join(a->threads[i], NULL);
		vq__p9_ctx_fini(&a->ctx[i]);
	}
	pthread_mutex_destroy(&a->mx);
	pthread_cond_destroy(&a->work);
	pthread_cond_destroy(&a->idle);
	free(a->ctx);
	free(a->threads);
	free(a->slots);
	free(a);
	c->async = NULL;
}

/* A free slot for m, waiting while all are taken (a->mx held). */
static struct p9_slot *slot_take(struct p9_async *a)
{
	while (a->busy == a->nslots)
		pthread_cond_wait(&a->idle, &a->mx);
	for (unsigned i = 0; i < a->nslots; i++)
		if (a->slots[i].state == P9_SLOT_FREE)
			return &a->slots[i];
	return NULL; /* busy < nslots: not reached */
}

static int submit_queue(struct vq_9p_conn *c, const struct p9_slot *m)
{
	struct p9_async *a = c->async;
	struct p9_slot *q;

	pthread_mutex_lock(&a->mx);
	if (slot_find(a, m->tag, false)) {
		pthread_mutex_unlock(&a->mx);
		vq__p9_log(c, "9p: tag %u reused while in flight", m->tag);
		return -EPROTO;
	}
	if (m->type == P9_TFLUSH) {
		pthread_mutex_unlock(&a->mx);
		serve_flush(c, m);
		return 0;
	}
	q = slot_take(a);
	*q = *m;
	q->state = P9_SLOT_QUEUED;
	atomic_store(&q->cancel, false);
	if (a->tail)
		a->tail->next = q;
	else
		a->head = q;
	a->tail = q;
	a->busy++;
	pthread_cond_signal(&a->work);
	pthread_mutex_unlock(&a->mx);
	return 0;
}

int vq_9p_conn_submit(struct vq_9p_conn *c, const struct iovec *req, unsigned req_n,
		      const struct iovec *resp, unsigned resp_n, void *cookie)
{
	struct p9_slot m = { .req = req, .req_n = req_n, .resp = resp, .resp_n = resp_n,
			     .cookie = cookie };

	if (!c->async)
		return -EINVAL;
	if (c->broken)
		return -EPROTO;
	if (vq__p9_iov_len(resp, resp_n) < P9_RLERROR_LEN)
		return -ENOBUFS;
	if (vq__p9_frame(c, req, req_n, &m.size, &m.type, &m.tag) ||
	    (m.type != P9_TVERSION && submit_queue(c, &m))) {
		c->broken = true;
		return -EPROTO;
	}
	if (m.type == P9_TVERSION) { /* a new session: nothing stays in flight */
		flush_all(c);
		c->async->done(c->async->opaque, cookie, vq__p9_serve(c, &c->ictx, &m));
	}
	return 0;
}

void vq_9p_conn_drain(struct vq_9p_conn *c)
{
	struct p9_async *a = c->async;

	if (!a)
		return;
	pthread_mutex_lock(&a->mx);
	while (a->busy)
		pthread_cond_wait(&a->idle, &a->mx);
	pthread_mutex_unlock(&a->mx);
}

unsigned vq_9p_conn_inflight(struct vq_9p_conn *c)
{
	unsigned n;

	if (!c->async)
		return 0;
	pthread_mutex_lock(&c->async->mx);
	n = c->async->busy;
	pthread_mutex_unlock(&c->async->mx);
	return n;
}
