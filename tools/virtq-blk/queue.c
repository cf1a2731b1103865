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

/* Called by the device model on the queue thread after a flush. */
void vb_notify(void *opaque, unsigned q)
{
	struct vb_daemon *d = opaque;

	if (q < d->o.queues && d->qt[q].have)
		vq_vu_queue_signal(d->qt[q].have);
}

static void watch(struct vb_qthread *t, int fd, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (epoll_ctl(t->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) < 0)
		vb_log("queue %u: epoll_ctl(%d): %s", t->idx, fd, strerror(errno));
}

/* Drain in-flight requests of the queue and let go of it. */
static void detach(struct vb_qthread *t)
{
	vq_blk_queue_drain(t->d->blk, t->idx);
	vq_blk_set_queue(t->d->blk, t->idx, NULL);
	t->dev = NULL;
	if (t->kick_fd >= 0)
		watch(t, t->kick_fd, false);
	t->kick_fd = -1;
	t->broken = false;
}

static void attach(struct vb_qthread *t, struct vq_vu_queue *q)
{
	/* NULL when the queue was stopped meanwhile: serve() then idles
	 * until the control thread's stop reaches sync_state(). */
	t->dev = vq_vu_queue_dev(q);
	vq_blk_set_queue(t->d->blk, t->idx, t->dev);
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

/* ---- vhost-user device callbacks (control thread) */

/* Hand q to its queue thread (or take it back) and wait until it did. */
static void handover(struct vb_daemon *d, struct vq_vu_queue *q, bool start)
{
	struct vb_qthread *t = &d->qt[vq_vu_queue_index(q)];
	struct vq_vu_queue *want = start ? q : NULL;

	tell(t, want, false);
	pthread_mutex_lock(&t->lock);
	while (t->have != want)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
}

static int dev_queue_start(void *dev, struct vq_vu_queue *q)
{
	struct vb_daemon *d = dev;

	if (vq_vu_queue_index(q) >= d->o.queues)
		return -EINVAL;
	handover(d, q, true);
	if (d->o.verbose)
		vb_log("queue %u started", vq_vu_queue_index(q));
	return 0;
}

static void dev_queue_stop(void *dev, struct vq_vu_queue *q)
{
	struct vb_daemon *d = dev;

	if (vq_vu_queue_index(q) >= d->o.queues)
		return;
	handover(d, q, false); /* returns after in-flight I/O was pushed */
	if (d->o.verbose)
		vb_log("queue %u stopped", vq_vu_queue_index(q));
}

static void dev_queue_enable(void *dev, struct vq_vu_queue *q, bool on)
{
	struct vb_daemon *d = dev;
	unsigned i = vq_vu_queue_index(q);

	if (i < d->o.queues)
		eventfd_write(d->qt[i].wakefd, 1); /* look at the ring again */
}

static int dev_set_features(void *dev, uint64_t f)
{
	struct vb_daemon *d = dev;

	f &= ~VQ_VU_F_PROTOCOL_FEATURES;
	if (f == d->features)
		return 0; /* QEMU repeats it while rings run */
	d->features = f;
	return vq_blk_set_features(d->blk, f);
}

static int dev_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct vb_daemon *d = dev;
	uint32_t have = sizeof(struct vq_blk_config);
	uint32_t n = off < have ? (len < have - off ? len : have - off) : 0;

	/* A frontend with a larger struct reads zeros past ours. */
	memset(buf, 0, len);
	return n ? vq_blk_get_config(d->blk, off, buf, n) : 0;
}

static void dev_reset(void *dev)
{
	struct vb_daemon *d = dev;

	vq_blk_reset(d->blk); /* every queue is stopped already */
	d->features = 0;
	if (d->o.verbose)
		vb_log("device reset");
}

static const struct vq_vu_device_ops ops = {
	.set_features = dev_set_features,
	.get_config = dev_get_config,
	.queue_start = dev_queue_start,
	.queue_stop = dev_queue_stop,
	.queue_enable = dev_queue_enable,
	.reset = dev_reset,
};

const struct vq_vu_device_ops *vb_device_ops(void)
{
	return &ops;
}
