/* SPDX-License-Identifier: MIT */
/*
 * virtq-blk queue threads and the vhost-user device callbacks.  See vb.h
 * for the threading model.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vb.h"

/* ---- queue thread */

static void watch(struct vb_qthread *t, int fd, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (epoll_ctl(t->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) < 0)
		vb_log("queue %u: epoll_ctl(%d): %s", t->idx, fd, strerror(errno));
}

/* Drain in-flight requests of the queue and let go of it (the model's
 * queue_stop detaches the ring afterwards, on the control thread). */
static void detach(struct vb_qthread *t)
{
	vq_blk_queue_drain(t->d->blk, t->idx);
	t->dev = NULL;
	if (t->kick_fd >= 0)
		watch(t, t->kick_fd, false);
	t->kick_fd = -1;
	t->broken = false;
}

/* The model's queue_start attached the ring already (control thread). */
static void attach(struct vb_qthread *t, struct vq_vu_queue *q)
{
	/* NULL when the queue was stopped meanwhile: serve() then idles
	 * until the control thread's stop reaches sync_state(). */
	t->dev = vq_vu_queue_dev(q);
	t->kick_fd = vq_vu_queue_kick_fd(q);
	if (t->kick_fd >= 0)
		watch(t, t->kick_fd, true);
}

/* Adopt what the control thread wants.  Returns true when asked to exit. */
static bool sync_state(struct vb_qthread *t)
{
	struct vq_vu_queue *want;
	eventfd_t v;
	bool stop;

	eventfd_read(t->wakefd, &v);
	pthread_mutex_lock(&t->lock);
	want = t->want;
	stop = t->stop;
	pthread_mutex_unlock(&t->lock);
	if (want != t->have) {
		struct vq_vu_queue *old = t->have;

		if (old)
			detach(t);
		if (want)
			attach(t, want);
		pthread_mutex_lock(&t->lock);
		t->have = want;
		pthread_cond_broadcast(&t->cond);
		pthread_mutex_unlock(&t->lock);
	}
	return stop;
}

static void broke(struct vb_qthread *t)
{
	struct vq_dev *dev = t->dev;

	vb_log("queue %u: ring broken: %s (%s); serving stops until the next start",
	       t->idx, dev ? vq_dev_error(dev) : "?",
	       dev ? vq_violation_str(vq_dev_violation(dev)) : "?");
	vq_vu_queue_signal_error(t->have);
	atomic_fetch_add(&t->d->broken, 1); /* the statistics' errors */
	t->broken = true;
}

/* Process the queue until its ring is empty (kick mode: with kicks on). */
static void serve(struct vb_qthread *t)
{
	struct vq_blk *blk = t->d->blk;
	int r;

	if (t->broken || !t->dev || !vq_vu_queue_is_enabled(t->have)) {
		vq_blk_queue_poll(blk, t->idx, 0); /* completions only */
		return;
	}
	if (t->kick_fd >= 0)
		vq_vu_queue_drain_kick(t->have);
	for (;;) {
		r = vq_blk_queue_poll(blk, t->idx, VB_BUDGET);
		if (r < 0) {
			broke(t);
			return;
		}
		if ((unsigned)r == VB_BUDGET)
			continue;
		if (t->d->o.poll == VB_POLL_BUSY)
			return;
		/* Kicks are on; the full barrier inside pairs with the
		 * driver's: true means a buffer slipped in (or the ring
		 * broke, which the next poll reports), look again. */
		if (!vq_dev_enable_notify(t->dev))
			return;
	}
}

static void *qthread_main(void *arg)
{
	struct vb_qthread *t = arg;
	bool busy = t->d->o.poll == VB_POLL_BUSY;
	struct epoll_event ev[8];

	for (;;) {
		/* no kick fd: the frontend wants the ring polled */
		int tmo = busy ? 0 : (t->have && t->kick_fd < 0) ? 1 : -1;

		if (epoll_wait(t->epfd, ev, 8, tmo) < 0 && errno != EINTR)
			vb_log("queue %u: epoll_wait: %s", t->idx, strerror(errno));
		if (sync_state(t))
			break;
		if (t->have)
			serve(t);
	}
	return NULL;
}

static int qthread_init(struct vb_daemon *d, struct vb_qthread *t, unsigned idx)
{
	memset(t, 0, sizeof(*t));
	t->d = d;
	t->idx = idx;
	t->kick_fd = -1;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->epfd < 0 || t->wakefd < 0)
		return -errno;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	watch(t, t->wakefd, true);
	watch(t, vq_blk_queue_fd(d->blk, idx), true);
	return 0;
}

int vb_qthreads_start(struct vb_daemon *d)
{
	sigset_t all, old;
	int r = 0;

	d->qt = calloc(d->o.queues, sizeof(*d->qt));
	if (!d->qt)
		return -ENOMEM;
	/* Signals go to the control thread, except SIGBUS: a guest-memory
	 * fault must reach the SIGBUS guard in the thread that faulted (a
	 * blocked synchronous SIGBUS kills the process). */
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, vq_vu_wake_signal()); /* the eventfd watchdog's */
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < d->o.queues && r == 0; i++) {
		r = qthread_init(d, &d->qt[i], i);
		if (r == 0)
			r = -pthread_create(&d->qt[i].th, NULL, qthread_main, &d->qt[i]);
		d->qt[i].running = r == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

static void tell(struct vb_qthread *t, struct vq_vu_queue *want, bool stop)
{
	pthread_mutex_lock(&t->lock);
	t->want = want;
	t->stop = stop;
	pthread_mutex_unlock(&t->lock);
	eventfd_write(t->wakefd, 1);
}

void vb_qthreads_stop(struct vb_daemon *d)
{
	for (unsigned i = 0; d->qt && i < d->o.queues; i++) {
		struct vb_qthread *t = &d->qt[i];

		if (t->running) {
			tell(t, NULL, true);
			pthread_join(t->th, NULL);
		}
		if (t->epfd > 0)
			close(t->epfd);
		if (t->wakefd > 0)
			close(t->wakefd);
	}
	free(d->qt);
	d->qt = NULL;
}

/* ---- vq_vu_serve hooks (control thread): the device model (vq_blk's ops
 * table) is served by the library; these hand its started queues to the
 * queue threads and take them back. */

/* Hand q to its queue thread (or take it back) and wait until it did. */
static void handover(struct vb_daemon *d, unsigned idx, struct vq_vu_queue *q, bool start)
{
	struct vb_qthread *t = &d->qt[idx];
	struct vq_vu_queue *want = start ? q : NULL;

	tell(t, want, false);
	pthread_mutex_lock(&t->lock);
	while (t->have != want)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
}

/* The queue thread reads the kick fd from now on: returns 1. */
static int hook_queue_started(void *hook, unsigned idx, struct vq_vu_queue *q)
{
	struct vb_daemon *d = hook;

	if (idx >= d->o.queues)
		return -EINVAL;
	handover(d, idx, q, true);
	if (d->o.verbose)
		vb_log("queue %u started", idx);
	return 1;
}

static void hook_queue_stopping(void *hook, unsigned idx, struct vq_vu_queue *q)
{
	struct vb_daemon *d = hook;

	if (idx >= d->o.queues)
		return;
	handover(d, idx, q, false); /* returns after in-flight I/O was pushed */
	if (d->o.verbose)
		vb_log("queue %u stopped", idx);
}

static void hook_queue_enabled(void *hook, unsigned idx, struct vq_vu_queue *q, bool on)
{
	struct vb_daemon *d = hook;

	if (idx < d->o.queues)
		eventfd_write(d->qt[idx].wakefd, 1); /* look at the ring again */
}

static void hook_reset(void *hook)
{
	struct vb_daemon *d = hook;

	if (d->o.verbose)
		vb_log("device reset");
}

static const struct vq_vu_serve_hooks hooks = {
	.queue_started = hook_queue_started,
	.queue_stopping = hook_queue_stopping,
	.queue_enabled = hook_queue_enabled,
	.reset = hook_reset,
};

const struct vq_vu_serve_hooks *vb_serve_hooks(void)
{
	return &hooks;
}
