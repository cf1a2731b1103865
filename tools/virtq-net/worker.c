/* SPDX-License-Identifier: MIT */
/*
 * Worker threads: poll the owned lanes' tx rings (and TAP ports), switch,
 * deliver.  Busy polling by default; in kick mode an idle worker re-enables
 * guest kicks (re-checking the rings) and sleeps in epoll on the kick fds.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vn.h"

#define IDLE_SPINS 1024u /* empty polls before a kick-mode worker sleeps */
#define EV_WAKE 0u
#define EV_KICK 1u
#define EV_TAP  2u

static void lane_error(struct vn_port *p, struct vq_vu_queue *q, int err)
{
	if (err != -ENOTCONN && err != -EBUSY)
		vn_port_broken(p, q);
}

/*
 * Sink mode: read every frame of the burst into the worker's buffer, one
 * after another (64-byte aligned, from the start again each burst, as
 * recycled mbufs are): the work of a switch copying into its destination.
 */
static void sink_copy(struct vn_worker *w, struct vq_net_pkt **pkts, unsigned n)
{
	size_t off = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct vq_net_pkt *p = pkts[i];
		uint8_t *dst = w->tapbuf + off;
		size_t len = p->len < VN_TAP_FRAME ? p->len : VN_TAP_FRAME, left = len;

		for (unsigned k = 0; k < p->iovcnt && left; k++) {
			size_t c = p->iov[k].iov_len < left ? p->iov[k].iov_len : left;

			memcpy(dst, p->iov[k].iov_base, c);
			dst += c;
			left -= c;
		}
		off += (len + 63u) & ~(size_t)63u; /* VN_TAP_FRAME is a multiple of 64 */
	}
}

/* Guest TX of one lane: switch (or drop, for sink mode and disabled rings). */
static unsigned lane_tx(struct vn_worker *w, struct vn_lane *l)
{
	struct vn_port *p = l->port;
	struct vq_net_pkt *pkts[VN_BURST];
	int n, r;

	/* Seq_cst: pairs with op_queue_stop's store and vn_quiesce. */
	if (!atomic_load_explicit(&l->tx_on, memory_order_seq_cst) ||
	    atomic_load_explicit(&p->broken, memory_order_relaxed))
		return 0;
	n = vq_net_tx_burst(p->net, l->pair, pkts, VN_BURST);
	if (n <= 0) {
		if (n < 0)
			lane_error(p, l->txq, n);
		return 0;
	}
	if (w->d->o.mode == VN_SINK && w->tapbuf)
		sink_copy(w, pkts, (unsigned)n);
	else if (w->d->o.mode != VN_SWITCH)
		;
	else if (vq_vu_queue_is_enabled(l->txq))
		vn_switch_burst(w, p, l->pair, pkts, (unsigned)n);
	else
		vn_add(&w->pc[p->idx].drops, (unsigned)n); /* disabled: process, discard */
	if ((r = vq_net_tx_done(p->net, l->pair)) < 0)
		lane_error(p, l->txq, r);
	return (unsigned)n;
}

static unsigned lane_poll(struct vn_worker *w, struct vn_lane *l)
{
	if (w->d->o.mode == VN_SOURCE)
		return vn_source_lane(w, l) + lane_tx(w, l);
	return lane_tx(w, l);
}

static unsigned poll_taps(struct vn_worker *w)
{
	unsigned n = 0;

	if (!w->ntaps)
		return 0;
	if (w->tap_skip) { /* busy mode: an idle TAP costs a syscall per poll */
		w->tap_skip--;
		return 0;
	}
	for (unsigned i = 0; i < w->ntaps; i++)
		n += vn_tap_poll(w, w->taps[i]);
	if (!n && w->d->o.poll == VN_POLL_BUSY)
		w->tap_skip = 16;
	return n;
}

/* The rings this worker would sleep on, for lane l (tx; rx in source mode). */
static struct vq_dev *lane_ring(struct vn_worker *w, struct vn_lane *l, bool rx)
{
	if (rx && w->d->o.mode != VN_SOURCE)
		return NULL;
	if (!atomic_load_explicit(rx ? &l->rx_on : &l->tx_on, memory_order_seq_cst))
		return NULL;
	return vq_vu_queue_dev(rx ? l->rxq : l->txq);
}

static bool lanes_active(struct vn_worker *w)
{
	if (w->ntaps)
		return true;
	for (unsigned i = 0; i < w->nlanes; i++)
		if (lane_ring(w, w->lanes[i], false) || lane_ring(w, w->lanes[i], true))
			return true;
	return false;
}

static void wait_events(struct vn_worker *w, int timeout_ms)
{
	struct epoll_event ev[16];
	uint64_t v;
	int n = epoll_wait(w->epfd, ev, 16, timeout_ms);

	for (int i = 0; i < n; i++) {
		unsigned kind = (unsigned)(ev[i].data.u64 >> 32);
		int fd = (int)(uint32_t)ev[i].data.u64;

		/* RWF_NOWAIT: a frontend may drain its kick eventfd first and
		 * clear O_NONBLOCK on it; the read must not wait then. */
		if (kind != EV_TAP && preadv2(fd, &(struct iovec){ &v, sizeof(v) }, 1, -1,
					      RWF_NOWAIT) < 0 && errno == EOPNOTSUPP &&
		    read(fd, &v, sizeof(v)) < 0)
			continue; /* already drained: nothing to do */
	}
}

/* Kick mode: enable kicks (re-checking every ring), sleep, disable again. */
static void kick_sleep(struct vn_worker *w)
{
	bool pending = false;

	for (unsigned i = 0; i < w->nlanes; i++)
		for (int rx = 0; rx < 2; rx++) {
			struct vq_dev *q = lane_ring(w, w->lanes[i], rx);

			if (q && vq_dev_enable_notify(q))
				pending = true; /* buffers arrived, or broken: poll sees it */
		}
	if (!pending)
		wait_events(w, 1000);
	for (unsigned i = 0; i < w->nlanes; i++)
		for (int rx = 0; rx < 2; rx++) {
			struct vq_dev *q = lane_ring(w, w->lanes[i], rx);

			if (q)
				vq_dev_disable_notify(q);
		}
}

static void pin(struct vn_worker *w)
{
	cpu_set_t set;

	if (w->cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
		vn_log("worker %u: cannot pin to CPU %d", w->id, w->cpu);
}

static void *worker_main(void *arg)
{
	struct vn_worker *w = arg;
	struct vn_daemon *d = w->d;
	unsigned idle = 0;

	pin(w);
	while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
		unsigned work = 0;

		/* Quiescent point.  Seq_cst RMW (a full barrier): pairs with the
		 * seq_cst epoch loads in vn_quiesce. */
		atomic_fetch_add_explicit(&w->epoch, 1, memory_order_seq_cst);
		for (unsigned i = 0; i < w->nlanes; i++)
			work += lane_poll(w, w->lanes[i]);
		work += poll_taps(w);
		if (work) {
			idle = 0;
			continue;
		}
		if (++idle < IDLE_SPINS) {
			vq_cpu_relax();
			continue;
		}
		idle = 0;
		if (!lanes_active(w))
			wait_events(w, 100); /* nothing to poll: woken by queue_start */
		else if (d->o.poll == VN_POLL_KICK)
			kick_sleep(w);
	}
	return NULL;
}

void vn_worker_wake(struct vn_worker *w)
{
	uint64_t one = 1;

	if (write(w->wakefd, &one, sizeof(one)) < 0)
		return; /* counter saturated: a wakeup is pending anyway */
}

int vn_worker_watch(struct vn_worker *w, int fd, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN };

	ev.data.u64 = (uint64_t)EV_KICK << 32 | (uint32_t)fd;
	if (!on)
		return epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/*
 * Wait until every worker passed a quiescent point after the caller
 * unpublished something.  Sleeping workers are woken through their eventfd.
 */
void vn_quiesce(struct vn_daemon *d)
{
	uint_fast64_t e[VN_MAX_WORKERS];

	for (unsigned i = 0; i < d->nworkers; i++) {
		if (!d->workers[i] || !d->workers[i]->running)
			continue;
		e[i] = atomic_load_explicit(&d->workers[i]->epoch, memory_order_seq_cst);
		vn_worker_wake(d->workers[i]);
	}
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct vn_worker *w = d->workers[i];
		unsigned spins = 0;

		if (!w || !w->running)
			continue;
		while (atomic_load_explicit(&w->epoch, memory_order_seq_cst) == e[i]) {
			if (++spins < 1000)
				vq_cpu_relax();
			else
				usleep(20);
			if (spins == 1000 + 250000)
				vn_log("worker %u: no quiescent point for 5 s", w->id);
		}
	}
}

/* ---- setup */

static int add_fd(struct vn_worker *w, int fd, unsigned kind)
{
	struct epoll_event ev = { .events = EPOLLIN };

	ev.data.u64 = (uint64_t)kind << 32 | (uint32_t)fd;
	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int worker_new(struct vn_daemon *d, unsigned id, struct vn_worker **out)
{
	struct vn_worker *w = aligned_alloc(VN_CACHELINE, sizeof(*w));
	size_t nl = (size_t)d->nports * d->o.queues;

	if (!w)
		return -ENOMEM;
	memset(w, 0, sizeof(*w));
	*out = w;
	w->d = d;
	w->id = id;
	w->cpu = d->o.ncpus ? d->o.cpus[id % d->o.ncpus] : -1;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->lanes = calloc(nl ? nl : 1, sizeof(*w->lanes));
	w->taps = calloc(d->nports, sizeof(*w->taps));
	w->pc = aligned_alloc(VN_CACHELINE, VN_MAX_PORTS * sizeof(*w->pc));
	if (w->epfd < 0 || w->wakefd < 0 || !w->lanes || !w->taps || !w->pc)
		return -ENOMEM;
	memset(w->pc, 0, VN_MAX_PORTS * sizeof(*w->pc));
	return add_fd(w, w->wakefd, EV_WAKE);
}

static void worker_free(struct vn_worker *w)
{
	if (!w)
		return;
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wakefd >= 0)
		close(w->wakefd);
	free(w->tapbuf);
	free(w->lanes);
	free(w->taps);
	free(w->pc);
	free(w);
}

/*
 * Lane (port p, pair i) goes to worker i % N when there are at least as
 * many pairs as workers (pair i of every port on one worker: its deliveries
 * stay local), else round robin over all lanes.  TAP ports follow.
 */
static int assign(struct vn_daemon *d)
{
	unsigned k = 0, nw = d->nworkers;

	for (unsigned p = 0; p < d->nports; p++) {
		struct vn_port *port = d->ports[p];

		for (unsigned i = 0; i < port->npairs; i++, k++) {
			struct vn_lane *l = &port->lanes[i];
			struct vn_worker *w;

			l->worker = d->o.queues >= nw ? i % nw : k % nw;
			w = d->workers[l->worker];
			w->lanes[w->nlanes++] = l;
		}
		if (port->tap) {
			struct vn_worker *w = d->workers[k++ % nw];

			port->tap_worker = w->id;
			w->taps[w->ntaps++] = port;
			if (!w->tapbuf && !(w->tapbuf = malloc((size_t)VN_BURST * VN_TAP_FRAME)))
				return -ENOMEM;
			if (add_fd(w, vn_tap_fd(port), EV_TAP) < 0)
				return -errno;
		}
	}
	return 0;
}

int vn_workers_start(struct vn_daemon *d)
{
	sigset_t all, old;
	int r = 0;

	d->nworkers = d->o.workers;
	for (unsigned i = 0; i < d->nworkers; i++) {
		if ((r = worker_new(d, i, &d->workers[i])) < 0)
			return r;
		if (d->o.mode == VN_SINK && !d->o.sink_discard &&
		    !(d->workers[i]->tapbuf = malloc((size_t)VN_BURST * VN_TAP_FRAME)))
			return -ENOMEM;
	}
	if ((r = assign(d)) < 0)
		return r;
	/* Signals go to the control thread, except SIGBUS: a guest-memory
	 * fault must reach the SIGBUS guard in the thread that faulted (a
	 * blocked synchronous SIGBUS kills the process). */
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, vq_vu_wake_signal()); /* the eventfd watchdog's */
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < d->nworkers && r == 0; i++) {
		struct vn_worker *w = d->workers[i];

		r = -pthread_create(&w->th, NULL, worker_main, w);
		w->running = r == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

void vn_workers_stop(struct vn_daemon *d)
{
	atomic_store(&d->stop, true);
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct vn_worker *w = d->workers[i];

		if (!w)
			continue;
		if (w->running) {
			vn_worker_wake(w);
			pthread_join(w->th, NULL);
			w->running = false;
		}
	}
}

void vn_workers_free(struct vn_daemon *d)
{
	for (unsigned i = 0; i < d->nworkers; i++) {
		worker_free(d->workers[i]);
		d->workers[i] = NULL;
	}
}
