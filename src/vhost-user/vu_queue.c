/* SPDX-License-Identifier: MIT */
/*
 * vhost-user rings: SET_VRING_* / GET_VRING_BASE, queue start and stop, and
 * the accessors the device and its workers use.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "vu_internal.h"


static bool is_packed(const struct vq_vu_backend *b)
{
	return b->features & VQ_F_PACKED;
}

static void *ring_part(struct vq_vu_backend *b, const char *what, uint64_t ua, uint64_t len,
		       uint32_t prot, uint64_t align, int *rc)
{
	void *p;

	if (*rc < 0)
		return NULL;
	if (ua & (align - 1)) {
		*rc = vq__vu_fail(b, -EINVAL, "%s address 0x%" PRIx64 " not %" PRIu64
				  "-byte aligned", what, ua, align);
		return NULL;
	}
	p = vq_mem_uaddr_ptr(b->mem, ua, len, prot);
	if (!p)
		*rc = vq__vu_fail(b, -EFAULT, "%s 0x%" PRIx64 "+%" PRIu64
				  " outside the memory map", what, ua, len);
	else if ((uintptr_t)p & (align - 1))
		*rc = vq__vu_fail(b, -EINVAL, "%s maps to a misaligned host address", what);
	return *rc < 0 ? NULL : p;
}

/* Translate a ring's three parts (frontend VAs) through the memory map. */
static int ring_ptrs(struct vq_vu_backend *b, const struct vq_vu_queue *q,
		     const struct vhost_vring_addr *a, struct vq_ring_params *rc)
{
	uint64_t n = q->num, ev = (b->features & VQ_F_EVENT_IDX) ? 2 : 0;
	int err = 0;

	if (!b->mem || vq_mem_count(b->mem) == 0)
		return vq__vu_fail(b, -EPROTO, "ring address before SET_MEM_TABLE");
	memset(rc, 0, sizeof(*rc));
	rc->size = q->num;
	rc->features = b->features;
	rc->max_chain = q->max_chain;
	if (is_packed(b)) {
		rc->layout = VQ_LAYOUT_PACKED;
		rc->desc = ring_part(b, "descriptor ring", a->desc_user_addr, 16 * n, VQ_MEM_RW, 16, &err);
		rc->avail = ring_part(b, "driver event area", a->avail_user_addr, 4, VQ_MEM_READ, 4, &err);
		rc->used = ring_part(b, "device event area", a->used_user_addr, 4, VQ_MEM_RW, 4, &err);
	} else {
		rc->layout = VQ_LAYOUT_SPLIT;
		rc->desc = ring_part(b, "descriptor table", a->desc_user_addr, 16 * n, VQ_MEM_READ, 16, &err);
		rc->avail = ring_part(b, "avail ring", a->avail_user_addr, 4 + 2 * n + ev, VQ_MEM_READ, 2,
				      &err);
		rc->used = ring_part(b, "used ring", a->used_user_addr, 4 + 8 * n + ev, VQ_MEM_RW, 4, &err);
	}
	return err;
}

static int queue_state(struct vq_vu_backend *b, struct vq_vu_queue *q,
		       const struct vq_ring_params *rc, struct vq_state *s)
{
	*s = q->base;
	if (rc->layout == VQ_LAYOUT_SPLIT) {
		/* The used index lives in the ring: the frontend may have moved
		 * it (e.g. a guest reset) since we last ran. */
		s->used_idx = __atomic_load_n((uint16_t *)rc->used + 1, __ATOMIC_ACQUIRE);
		if ((uint16_t)(s->avail_idx - s->used_idx) != 0)
			vq__vu_log(b, VQ_VU_LOG_WARN, "queue %u starts with %u buffers in flight",
				   q->index, (uint16_t)(s->avail_idx - s->used_idx));
	}
	return 0;
}

/* Does the control loop watch q's kick fd (rather than the device's threads)? */
static bool kick_watched(const struct vq_vu_backend *b, const struct vq_vu_queue *q)
{
	return q->kick_fd >= 0 && b->cfg.ops->queue_kick && !q->kick_owned;
}

/* Create the vq_dev, publish it, tell the device.  0 or -errno. */
int vq__vu_queue_start(struct vq_vu_backend *b, struct vq_vu_queue *q)
{
	struct vq_ring_params rc;
	struct vq_state s;
	struct vq_dev *dev;
	int err;

	if (q->started)
		return 0;
	err = ring_ptrs(b, q, &q->addr, &rc);
	if (err < 0)
		return err;
	err = vq_dev_new(&rc, b->mem, &dev);
	if (err < 0)
		return vq__vu_fail(b, err, "cannot create queue %u (size %u)", q->index, q->num);
	queue_state(b, q, &rc, &s);
	err = vq_dev_set_state(dev, &s);
	if (err < 0) {
		vq_dev_free(dev);
		return vq__vu_fail(b, err, "bad ring base for queue %u (avail %u used %u)",
				   q->index, s.avail_idx, s.used_idx);
	}
	if (!(b->features & VQ_VU_F_PROTOCOL_FEATURES))
		atomic_store_explicit(&q->enabled, true, memory_order_release);
	q->dev = dev;
	q->started = true;
	/* Release: pairs with the acquire load in vq_vu_queue_dev(). */
	atomic_store_explicit(&q->live, dev, memory_order_release);
	atomic_fetch_add_explicit(&b->generation, 1, memory_order_release);
	err = b->cfg.ops->queue_start(b->cfg.dev, q);
	if (err < 0) {
		atomic_store_explicit(&q->live, NULL, memory_order_release);
		atomic_fetch_add_explicit(&b->generation, 1, memory_order_release);
		q->started = false;
		q->dev = NULL;
		vq_dev_free(dev);
		return vq__vu_fail(b, err, "device refused to start queue %u", q->index);
	}
	if (kick_watched(b, q))
		vq__vu_watch(b, q->kick_fd, VQ_VU_TAG_KICK(q->index));
	vq__vu_log(b, VQ_VU_LOG_DEBUG, "queue %u started (%s, size %u)", q->index,
		   rc.layout == VQ_LAYOUT_PACKED ? "packed" : "split", q->num);
	return 0;
}

/* Quiesce (the device's queue_stop), save the position, free the vq_dev. */
void vq__vu_queue_stop(struct vq_vu_backend *b, struct vq_vu_queue *q)
{
	if (!q->started)
		return;
	if (kick_watched(b, q))
		vq__vu_unwatch(b, q->kick_fd);
	atomic_store_explicit(&q->live, NULL, memory_order_release);
	atomic_fetch_add_explicit(&b->generation, 1, memory_order_release);
	b->cfg.ops->queue_stop(b->cfg.dev, q);
	vq_dev_get_state(q->dev, &q->base);
	vq_dev_free(q->dev);
	q->dev = NULL;
	q->started = false;
}

static void evfd_close(struct vq__vu_evfd *e)
{
	int fd = atomic_exchange(&e->fd, -1);

	atomic_store(&e->on, false);
	vq__vu_close(&fd);
}

/* Stop the queue and forget its configuration (disconnect, reset). */
void vq__vu_queue_reset(struct vq_vu_backend *b, struct vq_vu_queue *q)
{
	vq__vu_queue_stop(b, q);
	vq__vu_close(&q->kick_fd);
	evfd_close(&q->call);
	evfd_close(&q->err);
	q->kick_set = q->has_num = q->has_addr = q->resume = false;
	q->num = 0;
	memset(&q->addr, 0, sizeof(q->addr));
	memset(&q->base, 0, sizeof(q->base));
	atomic_store(&q->enabled, false);
}

void vq__vu_queues_pause(struct vq_vu_backend *b)
{
	for (unsigned i = 0; i < b->nq; i++) {
		struct vq_vu_queue *q = &b->queues[i];

		q->resume = q->started;
		vq__vu_queue_stop(b, q);
	}
}

void vq__vu_queues_resume(struct vq_vu_backend *b)
{
	for (unsigned i = 0; i < b->nq; i++) {
		struct vq_vu_queue *q = &b->queues[i];
		int rc;

		if (!q->resume)
			continue;
		q->resume = false;
		rc = vq__vu_queue_start(b, q);
		if (rc < 0)
			vq__vu_log(b, VQ_VU_LOG_ERR, "queue %u not restarted: %s", i, b->err);
	}
}

void vq__vu_queue_kicked(struct vq_vu_backend *b, struct vq_vu_queue *q)
{
	vq_vu_queue_drain_kick(q);
	if (q->started && b->cfg.ops->queue_kick)
		b->cfg.ops->queue_kick(b->cfg.dev, q);
}

/* ---- handlers */

static struct vq_vu_queue *msg_queue(struct vq_vu_backend *b, const struct vq__vu_msg *m)
{
	return &b->queues[m->p.state.index]; /* index validated by the table */
}

static struct vq_vu_queue *file_queue(struct vq_vu_backend *b, const struct vq__vu_msg *m)
{
	return &b->queues[m->p.u64 & VQ__VU_VRING_IDX_MASK];
}

int vq__vu_h_vring_num(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	struct vq_vu_queue *q = msg_queue(b, m);
	uint32_t n = m->p.state.num;

	if (q->started)
		return vq__vu_fail(b, -EBUSY, "queue %u is running", q->index);
	if (n == 0 || n > VQ_MAX_QUEUE_SIZE)
		return vq__vu_fail(b, -EINVAL, "queue size %u outside 1..%u", n, VQ_MAX_QUEUE_SIZE);
	if (!is_packed(b) && (n & (n - 1)))
		return vq__vu_fail(b, -EINVAL, "split queue size %u not a power of two", n);
	q->num = n;
	q->has_num = true;
	return 0;
}

int vq__vu_h_vring_addr(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	struct vq_vu_queue *q = msg_queue(b, m);
	const struct vhost_vring_addr *a = &m->p.addr;
	struct vq_ring_params rc;
	bool was = q->started;
	int err;

	if (a->flags & ~VQ__VU_VRING_F_LOG)
		return vq__vu_fail(b, -EINVAL, "unknown vring flags 0x%x", a->flags);
	if (!q->has_num)
		return vq__vu_fail(b, -EPROTO, "SET_VRING_ADDR before SET_VRING_NUM");
	/* a->log_guest_addr is only used with VHOST_F_LOG_ALL, which is never offered. */
	err = ring_ptrs(b, q, a, &rc);
	if (err < 0)
		return err;
	vq__vu_queue_stop(b, q);
	q->addr = *a;
	q->has_addr = true;
	return was ? vq__vu_queue_start(b, q) : 0;
}

/*
 * SET_VRING_BASE.  Split: num is the next avail index.  Packed (spec):
 * bits 0-14 avail index, 15 avail wrap, 16-30 used index, 31 used wrap.
 * Frontends that predate the used half (DPDK virtio-user) send 0 there: we
 * then take used = avail, which is right when nothing is in flight.
 */
int vq__vu_h_vring_base(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	struct vq_vu_queue *q = msg_queue(b, m);
	uint32_t n = m->p.state.num;

	if (q->started)
		return vq__vu_fail(b, -EBUSY, "queue %u is running", q->index);
	memset(&q->base, 0, sizeof(q->base));
	if (!is_packed(b)) {
		if (n > 0xffff)
			return vq__vu_fail(b, -EINVAL, "split ring base 0x%x > 0xffff", n);
		q->base.avail_idx = (uint16_t)n;
		return 0;
	}
	if ((n >> 16) == 0)
		n |= n << 16;
	q->base.avail_idx = n & 0x7fff;
	q->base.avail_wrap = n & 0x8000;
	q->base.used_idx = (n >> 16) & 0x7fff;
	q->base.used_wrap = n & 0x80000000u;
	return 0;
}

static uint32_t encode_base(const struct vq_vu_backend *b, const struct vq_state *s)
{
	if (!is_packed(b))
		return s->avail_idx;
	return (s->avail_idx & 0x7fffu) | (uint32_t)s->avail_wrap << 15 |
	       ((s->used_idx & 0x7fffu) | (uint32_t)s->used_wrap << 15) << 16;
}

/* GET_VRING_BASE stops the ring and closes its kick and call fds. */
int vq__vu_h_get_vring_base(struct vq_vu_backend *b, struct vq__vu_msg *m,
			    struct vq__vu_reply *r)
{
	struct vq_vu_queue *q = msg_queue(b, m);

	vq__vu_queue_stop(b, q);
	vq__vu_close(&q->kick_fd);
	q->kick_set = false;
	evfd_close(&q->call);
	r->p.state.index = q->index;
	r->p.state.num = encode_base(b, &q->base);
	r->size = sizeof(r->p.state);
	return 0;
}

/*
 * A kick, call or err fd must be an eventfd ("anon_inode:[eventfd]" in
 * /proc; without /proc, at least an anonymous inode): a pipe or socket
 * could block a worker or fill up.  It is made non-blocking, since the
 * frontend shares it and can drain a kick or fill a call counter under us.
 * (It can also clear O_NONBLOCK again: drain_kick reads with RWF_NOWAIT.)
 */
static int check_evfd(struct vq_vu_backend *b, int fd, const char *what)
{
	char path[40], link[64] = "";
	struct stat st;
	ssize_t n;
	int fl;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0)
		link[n] = '\0';
	if (fstat(fd, &st) < 0)
		return vq__vu_fail(b, -errno, "fstat on the %s fd: %s", what, strerror(errno));
	if (n > 0 ? strcmp(link, "anon_inode:[eventfd]") != 0 : (st.st_mode & S_IFMT) != 0)
		return vq__vu_fail(b, -EBADF, "the %s fd is not an eventfd (%s)", what,
				   n > 0 ? link : "not an anonymous inode");
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
		return vq__vu_fail(b, -errno, "cannot make the %s fd non-blocking: %s", what,
				   strerror(errno));
	return 0;
}

/* SET_VRING_KICK: the ring starts now (its fd, or NOFD: polling). */
int vq__vu_h_vring_kick(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	struct vq_vu_queue *q = file_queue(b, m);
	int rc;

	if (!q->has_num)
		return vq__vu_fail(b, -EPROTO, "SET_VRING_KICK before SET_VRING_NUM");
	if (!q->has_addr)
		return vq__vu_fail(b, -EPROTO, "SET_VRING_KICK before SET_VRING_ADDR");
	if (m->nfds && (rc = check_evfd(b, m->fds[0], "kick")) < 0)
		return rc;
	vq__vu_queue_stop(b, q);
	vq__vu_close(&q->kick_fd);
	if (m->nfds) {
		q->kick_fd = m->fds[0];
		m->fds[0] = -1;
	}
	q->kick_set = true;
	return vq__vu_queue_start(b, q);
}

static int evfd_set(struct vq_vu_backend *b, struct vq__vu_evfd *e, struct vq__vu_msg *m,
		    const char *what)
{
	int cur = atomic_load(&e->fd), fd, rc;

	if (!m->nfds) {
		atomic_store_explicit(&e->on, false, memory_order_release);
		return 0;
	}
	fd = m->fds[0];
	if ((rc = check_evfd(b, fd, what)) < 0)
		return rc;
	if (cur < 0) {
		m->fds[0] = -1;
		atomic_store_explicit(&e->fd, fd, memory_order_release);
	} else if (dup3(fd, cur, O_CLOEXEC) < 0) {
		return vq__vu_fail(b, -errno, "cannot install the eventfd: %s", strerror(errno));
	}
	atomic_store_explicit(&e->on, true, memory_order_release);
	return 0;
}

int vq__vu_h_vring_call(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	return evfd_set(b, &file_queue(b, m)->call, m, "call");
}

int vq__vu_h_vring_err(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	return evfd_set(b, &file_queue(b, m)->err, m, "err");
}

int vq__vu_h_vring_enable(struct vq_vu_backend *b, struct vq__vu_msg *m,
			  struct vq__vu_reply *r)
{
	struct vq_vu_queue *q = msg_queue(b, m);
	uint32_t n = m->p.state.num;

	if (n > 1)
		return vq__vu_fail(b, -EINVAL, "enable value %u is not 0 or 1", n);
	atomic_store_explicit(&q->enabled, n == 1, memory_order_release);
	if (b->cfg.ops->queue_enable)
		b->cfg.ops->queue_enable(b->cfg.dev, q, n == 1);
	return 0;
}

/* ---- public accessors */

unsigned vq_vu_queue_index(const struct vq_vu_queue *q)
{
	return q->index;
}

struct vq_vu_backend *vq_vu_queue_backend(const struct vq_vu_queue *q)
{
	return q->b;
}

struct vq_dev *vq_vu_queue_dev(const struct vq_vu_queue *q)
{
	/* Acquire: pairs with the release store in vq__vu_queue_start(). */
	return atomic_load_explicit(&((struct vq_vu_queue *)q)->live, memory_order_acquire);
}

bool vq_vu_queue_is_started(const struct vq_vu_queue *q)
{
	return vq_vu_queue_dev(q) != NULL;
}

bool vq_vu_queue_is_enabled(const struct vq_vu_queue *q)
{
	/* Acquire: pairs with the release stores in the enable handler. */
	return atomic_load_explicit(&((struct vq_vu_queue *)q)->enabled, memory_order_acquire);
}

int vq_vu_queue_kick_fd(const struct vq_vu_queue *q)
{
	return q->kick_fd;
}

int vq_vu_queue_drain_kick(const struct vq_vu_queue *q)
{
	uint64_t v;
	struct iovec iov = { .iov_base = &v, .iov_len = sizeof(v) };
	ssize_t n;

	if (q->kick_fd < 0)
		return 0;
	/* RWF_NOWAIT: never block, even if the frontend cleared O_NONBLOCK
	 * and drained the counter first (plain read where unsupported). */
	n = preadv2(q->kick_fd, &iov, 1, -1, RWF_NOWAIT);
	if (n < 0 && errno == EOPNOTSUPP)
		n = read(q->kick_fd, &v, sizeof(v));
	if (n == (ssize_t)sizeof(v))
		return 1;
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return -errno;
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int evfd_signal(struct vq__vu_evfd *e)
{
	uint64_t one = 1;
	ssize_t n;
	int fd;

	/* Acquire: pairs with the release stores in evfd_set(). */
	if (!atomic_load_explicit(&e->on, memory_order_acquire))
		return 0;
	fd = atomic_load_explicit(&e->fd, memory_order_acquire);
	if (fd < 0)
		return 0;
	atomic_store_explicit(&e->writer, pthread_self(), memory_order_relaxed);
	/* Release: pairs with the watchdog's acquire load (writer is set). */
	atomic_store_explicit(&e->since_ns, mono_ns() | 1, memory_order_release);
	n = write(fd, &one, sizeof(one));
	/* Release: pairs with the watchdog's acquire load (we are out). */
	atomic_store_explicit(&e->since_ns, 0, memory_order_release);
	if (n < 0 && errno != EAGAIN)
		return -errno;
	return 1;
}

static void wake_noop(int sig)
{
	(void)sig;
}

static void wake_install_once(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wake_noop; /* no SA_RESTART: the write returns EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(vq_vu_wake_signal(), NULL, &old) == 0 && old.sa_handler == SIG_DFL)
		sigaction(vq_vu_wake_signal(), &sa, NULL);
}

void vq__vu_wake_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, wake_install_once);
}

int vq_vu_wake_signal(void)
{
	return SIGRTMIN + 3;
}

/*
 * True when a write of 8 bytes to fd would block now: the frontend filled
 * its counter (or its pipe/socket).  A worker that has been inside the write
 * for long while the fd is writable was only descheduled (a busy host), and
 * is left alone.
 */
static bool evfd_is_full(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return fd >= 0 && poll(&p, 1, 0) == 0;
}

/* True while a worker is inside a write to e; wake it when it is stuck. */
static bool evfd_watch(struct vq_vu_backend *b, struct vq_vu_queue *q,
		       struct vq__vu_evfd *e, const char *what, uint64_t now)
{
	/* Acquire: pairs with the release stores in evfd_signal(). */
	uint64_t t = atomic_load_explicit(&e->since_ns, memory_order_acquire);

	if (!t || now - t < VQ__VU_STUCK_MS * 1000000ull)
		return t != 0;
	if (!evfd_is_full(atomic_load_explicit(&e->fd, memory_order_relaxed)))
		return true; /* preempted, not blocked: look again next round */
	/* Release: pairs with evfd_signal's acquire load: no further write. */
	atomic_store_explicit(&e->on, false, memory_order_release);
	pthread_kill(atomic_load_explicit(&e->writer, memory_order_relaxed), vq_vu_wake_signal());
	if (!b->stuck)
		vq__vu_log(b, VQ_VU_LOG_ERR, "queue %u: a worker blocked %u ms writing the %s "
			   "eventfd (the frontend filled its counter): woken", q->index,
			   VQ__VU_STUCK_MS, what);
	b->stuck = true;
	return true;
}

void vq__vu_watchdog(struct vq_vu_backend *b)
{
	uint64_t now = mono_ns();
	bool busy = false;

	for (unsigned i = 0; i < b->nq; i++) {
		struct vq_vu_queue *q = &b->queues[i];

		busy |= evfd_watch(b, q, &q->call, "call", now);
		busy |= evfd_watch(b, q, &q->err, "err", now);
	}
	if (b->stuck && !busy) {
		b->stuck = false;
		vq__vu_drop(b, "a worker was blocked on the frontend's call or err eventfd");
	}
}

int vq_vu_queue_signal(struct vq_vu_queue *q)
{
	return evfd_signal(&q->call);
}

int vq_vu_queue_signal_error(struct vq_vu_queue *q)
{
	return evfd_signal(&q->err);
}

int vq_vu_queue_notify(struct vq_vu_queue *q)
{
	struct vq_dev *dev = vq_vu_queue_dev(q);

	if (!dev || !vq_dev_need_notify(dev))
		return 0;
	return evfd_signal(&q->call);
}

void vq_vu_queue_set_priv(struct vq_vu_queue *q, void *priv)
{
	q->priv = priv;
}

void *vq_vu_queue_priv(const struct vq_vu_queue *q)
{
	return q->priv;
}
