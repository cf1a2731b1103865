/* SPDX-License-Identifier: MIT */
/*
 * The upper bound for any ring: a minimal lock-free single-producer
 * single-consumer ring of pointers.  A round trip uses two of them, like a
 * virtqueue: `req` carries buffers driver -> device, `resp` device -> driver.
 *
 * Each ring keeps its two published indexes on their own cache lines and each
 * side's private state (unpublished index, cached copy of the remote index)
 * on a third and fourth, so the only lines that move between the CPUs are the
 * published indexes and the slots themselves.  No validation: this is what a
 * ring costs when it trusts its peer and carries nothing but a pointer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define CL 64

struct spsc {
	_Alignas(CL) size_t head; /* published by the producer */
	_Alignas(CL) size_t tail; /* published by the consumer */
	_Alignas(CL) struct {     /* producer private */
		size_t head, tail_cache;
	} p;
	_Alignas(CL) struct {     /* consumer private */
		size_t tail, head_cache;
	} c;
	_Alignas(CL) size_t mask;
	void **slots;
};

struct rb {
	struct spsc req, resp;
	void *slots; /* both slot arrays, cache-line aligned */
};

static int spsc_put(struct spsc *q, void *p)
{
	if (q->p.head - q->p.tail_cache > q->mask) {
		/* Pairs with the release store of tail in spsc_publish_tail:
		 * the consumer is done with the slots before we reuse them. */
		q->p.tail_cache = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
		if (q->p.head - q->p.tail_cache > q->mask)
			return -ENOSPC;
	}
	q->slots[q->p.head & q->mask] = p;
	q->p.head++;
	return 0;
}

static void spsc_publish_head(struct spsc *q)
{
	/* Pairs with the acquire load of head in spsc_take: slots first. */
	__atomic_store_n(&q->head, q->p.head, __ATOMIC_RELEASE);
}

static void *spsc_take(struct spsc *q)
{
	void *p;

	if (q->c.tail == q->c.head_cache) {
		/* Pairs with the release store in spsc_publish_head. */
		q->c.head_cache = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
		if (q->c.tail == q->c.head_cache)
			return NULL;
	}
	p = q->slots[q->c.tail & q->mask];
	q->c.tail++;
	return p;
}

static void spsc_publish_tail(struct spsc *q)
{
	/* Pairs with the acquire load of tail in spsc_put: our reads of
	 * the slots happen before the producer overwrites them. */
	__atomic_store_n(&q->tail, q->c.tail, __ATOMIC_RELEASE);
}

static int spsc_create(const struct rb_params *p, const struct rb_pool *pool,
		       struct rb **out)
{
	struct rb *r;
	size_t size = 1, bytes;

	while (size < p->size)
		size <<= 1;
	r = aligned_alloc(CL, sizeof(*r));
	bytes = (2 * size * sizeof(void *) + CL - 1) & ~(size_t)(CL - 1);
	if (!r || !(r->slots = aligned_alloc(CL, bytes))) {
		free(r);
		return -ENOMEM;
	}
	memset(&r->req, 0, sizeof(r->req));
	memset(&r->resp, 0, sizeof(r->resp));
	memset(r->slots, 0, bytes);
	r->req.mask = r->resp.mask = size - 1;
	r->req.slots = r->slots;
	r->resp.slots = (void **)r->slots + size;
	*out = r;
	return 0;
}

static void spsc_destroy(struct rb *r)
{
	if (r)
		free(r->slots);
	free(r);
}

static int spsc_add(struct rb *r, struct rb_buf *b, uint32_t segs)
{
	return spsc_put(&r->req, b);
}

static void spsc_publish(struct rb *r)
{
	spsc_publish_head(&r->req);
}

static int spsc_get_used(struct rb *r, struct rb_buf **b)
{
	void *p = spsc_take(&r->resp);

	if (!p)
		return 0;
	/* The driver frees as it goes, like vq_drv_get. */
	spsc_publish_tail(&r->resp);
	*b = p;
	return 1;
}

static int spsc_pop(struct rb *r, struct rb_item *it)
{
	it->ptr = spsc_take(&r->req);
	return it->ptr != NULL;
}

static int spsc_push(struct rb *r, struct rb_item *it)
{
	return spsc_put(&r->resp, it->ptr);
}

static void spsc_flush(struct rb *r)
{
	spsc_publish_tail(&r->req);
	spsc_publish_head(&r->resp);
}

static const char *spsc_error(struct rb *r)
{
	return "";
}

static void spsc_counts(struct rb *r, struct rb_counts *c)
{
	memset(c, 0, sizeof(*c));
}

const struct rb_ops rb_spsc_ops = {
	.name = "spsc",
	.create = spsc_create,
	.destroy = spsc_destroy,
	.add = spsc_add,
	.publish = spsc_publish,
	.get_used = spsc_get_used,
	.pop = spsc_pop,
	.push = spsc_push,
	.flush = spsc_flush,
	.error = spsc_error,
	.counts = spsc_counts,
};
