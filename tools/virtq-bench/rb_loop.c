/* SPDX-License-Identifier: MIT */
/*
 * The driver and device loops every ring runs under, and one timed run.
 *
 * Driver: reclaim every used buffer, then add up to `batch` free buffers and
 * publish them once; repeat until `count` buffers came back.  Device: pop up
 * to `batch` buffers, push them all back, flush once.  Both busy-poll; no
 * notifications are sent (the rings still count how many they asked for).
 * The clock runs on the driver from the start barrier to the last reclaim.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define POOL_GPA 0x100000ull

struct rb_shared {
	struct rb_run *run;
	struct rb *r;
	struct rb_buf *bufs;
	struct rb_pool pool;
	pthread_barrier_t start;
	uint64_t t0, t1;
	uint64_t publishes, flushes;
	int drv_ret, dev_ret;
	_Alignas(64) int stop; /* driver done, or a failure: both sides exit */
};

static bool should_stop(struct rb_shared *s)
{
	return __atomic_load_n(&s->stop, __ATOMIC_RELAXED);
}

static void set_stop(struct rb_shared *s)
{
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
}

static void thread_start(struct rb_shared *s, int cpu, const char *name)
{
	pthread_setname_np(pthread_self(), name); /* for perf report --sort comm */
	if (cpu >= 0 && bench_pin(cpu))
		__atomic_store_n(&s->run->unpinned, true, __ATOMIC_RELAXED);
	pthread_barrier_wait(&s->start);
}

/* Burst forms: asked for, offered by the ring, one segment per buffer. */
static bool rb_bursts(const struct rb_shared *s)
{
	return s->run->params.burst_api && s->run->ops->add_burst && s->run->params.segs == 1;
}

/* Reclaim all used buffers onto the free stack.  Returns the count or -errno. */
static int drv_reclaim(struct rb_shared *s, struct rb_buf **fl, uint32_t *nfree)
{
	const struct rb_ops *ops = s->run->ops;
	struct rb_buf *b;
	int n = 0, ret;

	if (rb_bursts(s)) { /* the free stack has room for every buffer in flight */
		while ((ret = ops->get_burst(s->r, fl + *nfree, s->run->params.size - *nfree)) > 0)
			for (int i = 0; i < ret; i++, n++)
				if (fl[(*nfree)++] < s->bufs ||
				    fl[*nfree - 1] >= s->bufs + s->run->params.size)
					return -EBADMSG;
		return ret < 0 ? ret : n;
	}
	while ((ret = ops->get_used(s->r, &b)) == 1) {
		if (b < s->bufs || b >= s->bufs + s->run->params.size)
			return -EBADMSG;
		fl[(*nfree)++] = b;
		n++;
	}
	return ret < 0 ? ret : n;
}

/* Add up to `want` buffers and publish them.  Returns the count or -errno. */
static int drv_add(struct rb_shared *s, struct rb_buf **fl, uint32_t *nfree,
		   uint64_t want)
{
	const struct rb_ops *ops = s->run->ops;
	uint32_t segs = s->run->params.segs;
	int n = 0, ret = 0;

	if (want > s->run->batch)
		want = s->run->batch;
	if (rb_bursts(s)) {
		if (want > *nfree)
			want = *nfree;
		n = want ? ops->add_burst(s->r, fl + *nfree - want, (uint32_t)want) : 0;
		if (n < 0)
			return n;
		*nfree -= (uint32_t)n;
		if (n)
			ops->publish(s->r);
		return n;
	}
	while ((uint64_t)n < want && *nfree) {
		ret = ops->add(s->r, fl[*nfree - 1], segs);
		if (ret)
			break;
		(*nfree)--;
		n++;
	}
	if (n)
		ops->publish(s->r);
	return ret && ret != -ENOSPC ? ret : n;
}

/* Driver state between turns. */
struct drv_ctx {
	struct rb_buf **fl; /* free stack */
	uint32_t nfree;
	uint64_t sent, done;
};

static int drv_init(struct rb_shared *s, struct drv_ctx *c)
{
	c->nfree = s->run->params.size;
	c->sent = c->done = 0;
	c->fl = malloc(c->nfree * sizeof(*c->fl));
	if (!c->fl)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->nfree; i++)
		c->fl[i] = &s->bufs[c->nfree - 1 - i];
	return 0;
}

/* One driver turn: reclaim, then add and publish.  Returns 0 or -errno. */
static int drv_turn(struct rb_shared *s, struct drv_ctx *c)
{
	int got = drv_reclaim(s, c->fl, &c->nfree), added;

	if (got < 0)
		return got;
	c->done += (uint64_t)got;
	added = drv_add(s, c->fl, &c->nfree, s->run->count - c->sent);
	if (added < 0)
		return added;
	c->sent += (uint64_t)added;
	s->publishes += added > 0;
	return 0;
}

/* One device turn: pop up to a batch, push it back, flush.  0 or -errno. */
static int dev_turn(struct rb_shared *s, struct rb_item *items)
{
	const struct rb_ops *ops = s->run->ops;
	uint32_t batch = s->run->batch, n, i;
	int ret = 0;

	if (rb_bursts(s)) {
		ret = ops->pop_burst(s->r, batch);
		if (ret > 0 && !(ret = ops->push_burst(s->r, (uint32_t)ret))) {
			ops->flush(s->r);
			s->flushes++;
		}
		return ret < 0 ? ret : 0;
	}
	for (n = 0; n < batch; n++) {
		ret = ops->pop(s->r, &items[n]);
		if (ret != 1)
			break;
	}
	ret = ret < 0 ? ret : 0;
	for (i = 0; i < n && !ret; i++)
		ret = ops->push(s->r, &items[i]);
	if (n) {
		ops->flush(s->r);
		s->flushes++;
	}
	return ret;
}

static void drv_finish(struct rb_shared *s, struct drv_ctx *c, int ret)
{
	s->t1 = vqt_now_ns();
	if (!ret && c->done < s->run->count)
		ret = -ETIMEDOUT;
	s->drv_ret = ret;
	set_stop(s);
	free(c->fl);
}

static void *drv_thread(void *arg)
{
	struct rb_shared *s = arg;
	struct drv_ctx c;
	int ret = drv_init(s, &c);

	thread_start(s, s->run->cpu_drv, "vq-driver");
	s->t0 = vqt_now_ns();
	while (!ret && c.done < s->run->count && !should_stop(s))
		ret = drv_turn(s, &c);
	drv_finish(s, &c, ret);
	return NULL;
}

static void *dev_thread(void *arg)
{
	struct rb_shared *s = arg;
	struct rb_item *items = calloc(s->run->batch, sizeof(*items));
	int ret = items ? 0 : -ENOMEM;

	thread_start(s, s->run->cpu_dev, "vq-device");
	while (!ret && !should_stop(s))
		ret = dev_turn(s, items);
	s->dev_ret = ret;
	set_stop(s);
	free(items);
	return NULL;
}

/* --inline: one thread takes driver and device turns in alternation, so
 * nothing crosses CPUs: the pure instruction cost of a round trip. */
static void *inline_thread(void *arg)
{
	struct rb_shared *s = arg;
	struct rb_item *items = calloc(s->run->batch, sizeof(*items));
	struct drv_ctx c;
	int ret = items ? drv_init(s, &c) : -ENOMEM;

	thread_start(s, s->run->cpu_drv, "vq-inline");
	s->t0 = vqt_now_ns();
	while (!ret && c.done < s->run->count && !should_stop(s)) {
		ret = drv_turn(s, &c);
		if (!ret)
			ret = dev_turn(s, items);
	}
	if (items)
		drv_finish(s, &c, ret);
	s->dev_ret = ret;
	free(items);
	return NULL;
}

static int pool_setup(struct rb_shared *s)
{
	const struct rb_params *p = &s->run->params;
	uint64_t stride = (uint64_t)p->segs * RB_SEG_STRIDE;

	s->pool.gpa = POOL_GPA;
	s->pool.bytes = (stride * p->size + 4095) & ~4095ull;
	s->pool.hva = aligned_alloc(4096, s->pool.bytes);
	s->bufs = calloc(p->size, sizeof(*s->bufs));
	if (!s->pool.hva || !s->bufs)
		return -ENOMEM;
	memset(s->pool.hva, 0x5a, s->pool.bytes); /* fault it in */
	for (uint32_t i = 0; i < p->size; i++) {
		s->bufs[i].gpa = s->pool.gpa + i * stride;
		s->bufs[i].hva = (char *)s->pool.hva + i * stride;
	}
	return 0;
}

/* Join the driver within the run's timeout; on expiry stop both sides. */
static void join_one(struct rb_shared *s, pthread_t drv)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += s->run->timeout_s ? s->run->timeout_s : 60;
	if (pthread_timedjoin_np(drv, NULL, &ts)) {
		set_stop(s);
		pthread_join(drv, NULL);
	}
}

static void join_both(struct rb_shared *s, pthread_t drv, pthread_t dev)
{
	join_one(s, drv);
	pthread_join(dev, NULL);
}

static int run_threads(struct rb_shared *s)
{
	pthread_t drv, dev;
	int ret;

	if (s->run->inline_mode) {
		pthread_barrier_init(&s->start, NULL, 1);
		ret = -pthread_create(&drv, NULL, inline_thread, s);
		if (!ret)
			join_one(s, drv);
		ret = ret ? ret : s->drv_ret;
		goto out;
	}
	pthread_barrier_init(&s->start, NULL, 2);
	ret = -pthread_create(&dev, NULL, dev_thread, s);
	if (ret)
		goto out;
	ret = -pthread_create(&drv, NULL, drv_thread, s);
	if (ret) {
		set_stop(s);
		pthread_barrier_wait(&s->start); /* release the device */
		pthread_join(dev, NULL);
		goto out;
	}
	join_both(s, drv, dev);
	ret = s->dev_ret ? s->dev_ret : s->drv_ret;
out:
	pthread_barrier_destroy(&s->start);
	return ret;
}

int rb_run_once(struct rb_run *run)
{
	struct rb_shared *s = aligned_alloc(64, sizeof(*s));
	int ret = -ENOMEM;

	run->err[0] = 0;
	run->ops_per_s = 0;
	if (!s)
		goto out;
	memset(s, 0, sizeof(*s));
	s->run = run;
	ret = pool_setup(s);
	if (!ret)
		ret = run->ops->create(&run->params, &s->pool, &s->r);
	if (ret) {
		snprintf(run->err, sizeof(run->err), "setup: %s", strerror(-ret));
		goto out;
	}
	ret = run_threads(s);
	if (ret)
		snprintf(run->err, sizeof(run->err), "%s%s%s", strerror(-ret),
			 *run->ops->error(s->r) ? ": " : "", run->ops->error(s->r));
	else
		run->ops_per_s = (double)run->count * 1e9 / (double)(s->t1 - s->t0);
	run->per_publish = s->publishes ? (double)run->count / (double)s->publishes : 0;
	run->per_flush = s->flushes ? (double)run->count / (double)s->flushes : 0;
	run->ops->counts(s->r, &run->counts);
	run->ops->destroy(s->r);
out:
	if (s) {
		free(s->bufs);
		free(s->pool.hva);
	}
	free(s);
	return ret;
}
