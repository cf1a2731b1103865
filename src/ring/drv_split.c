/* SPDX-License-Identifier: MIT */
/*
 * Driver side of a split virtqueue (VIRTIO 1.2, 2.7).
 *
 * Free descriptors form a list linked through q->free_next, private memory:
 * a chain takes descriptors in list order, so desc.next is simply the list
 * link, and returning a chain splices it back in O(1) through the
 * remembered last descriptor.  With IN_ORDER the driver must use
 * descriptors in ring order (2.7.5), and the list is never spliced: it
 * stays 0, 1, ..., size-1, 0, ... and buffers complete in that order too.
 */
#include <errno.h>

#include "drv_internal.h"

static inline struct vring_avail *avail_ring(const struct vq_drv *q)
{
	return q->avail;
}

static inline struct vring_used *used_ring(const struct vq_drv *q)
{
	return q->used;
}

static inline uint16_t *used_event(const struct vq_drv *q)
{
	return &avail_ring(q)->ring[q->size];
}

static inline uint16_t *avail_event(const struct vq_drv *q)
{
	return (uint16_t *)&used_ring(q)->ring[q->size];
}

void vq__drv_split_init(struct vq_drv *q)
{
	q->num_free = q->size;
	q->free_head = 0;
	for (uint32_t i = 0; i < q->size; i++)
		q->free_next[i] = (uint16_t)((i + 1) & q->mask);
}

/* ---- adding */

/* Write a direct chain from descriptor head on; returns its last descriptor. */
static uint16_t split_write_chain(struct vq_drv *q, const struct vq__drv_chain *c, uint16_t head)
{
	struct vring_desc *d = q->desc;
	struct vq__drv_iter it = { c->sg, 0, c->out_num, c->total };
	uint16_t i = head, last = head;
	uint64_t addr;
	uint32_t len, k = 0;
	bool write;

	while (vq__drv_next(&it, &addr, &len, &write)) {
		k++;
		d[i].addr = addr;
		d[i].len = len;
		d[i].flags = (uint16_t)((write ? VRING_DESC_F_WRITE : 0) |
					(k < c->ndesc ? VRING_DESC_F_NEXT : 0));
		d[i].next = q->free_next[i];
		last = i;
		i = q->free_next[i];
	}
	return last;
}

void vq__drv_split_add(struct vq_drv *q, const struct vq__drv_chain *c)
{
	struct vring_desc *d = q->desc;
	uint16_t head = q->free_head, last = head, ndesc = 1;

	if (c->table != VQ__DRV_NO_TABLE) {
		uint64_t gpa;

		vq__drv_fill_table(q, c, &gpa);
		d[head].addr = gpa;
		d[head].len = c->ndesc * (uint32_t)sizeof(struct vring_desc);
		d[head].flags = VRING_DESC_F_INDIRECT;
		d[head].next = 0;
	} else {
		last = split_write_chain(q, c, head);
		ndesc = (uint16_t)c->ndesc;
	}
	q->free_head = q->free_next[last];
	q->num_free -= ndesc;
	/* Plain store: published by the release store of avail->idx. */
	avail_ring(q)->ring[q->avail_idx & q->mask] = head;
	q->avail_idx++;
	vq__drv_set_buf(q, head, c, ndesc, last);
}

/* One checked segment: one direct descriptor (vq_drv_add's fast path). */
static inline __attribute__((always_inline))
void split_add1(struct vq_drv *q, const struct vq_seg *s, bool write, void *token)
{
	struct vq__drv_chain c = { .token = token, .in_len = write ? s->len : 0,
				   .table = VQ__DRV_NO_TABLE };
	struct vring_desc *d = q->desc;
	uint16_t head = q->free_head;

	d[head].addr = s->addr;
	d[head].len = s->len;
	d[head].flags = write ? VRING_DESC_F_WRITE : 0;
	d[head].next = q->free_next[head];
	q->free_head = q->free_next[head];
	q->num_free--;
	/* Plain store: published by the release store of avail->idx. */
	avail_ring(q)->ring[q->avail_idx & q->mask] = head;
	q->avail_idx++;
	vq__drv_set_buf(q, head, &c, 1, head);
}

/*
 * Up to n one-segment buffers while descriptors are free: split_add1 for
 * each, with the free list's head, the avail idx and the counters in locals
 * for the burst, written back once.  How many were added, or -EINVAL when
 * the first segment or token is bad.
 */
int vq__drv_split_add_burst(struct vq_drv *q, const struct vq_seg *seg, unsigned n, bool write,
			    void *const *tokens)
{
	struct vring_desc *d = q->desc;
	uint16_t *ring = avail_ring(q)->ring;
	const uint16_t *next = q->free_next;
	struct vq__drv_buf *buf = q->buf;
	uint16_t head = q->free_head, idx = q->avail_idx;
	uint32_t mask = q->mask;
	uint16_t flags = write ? VRING_DESC_F_WRITE : 0;
	uint32_t seq = q->add_seq;
	unsigned i, m = n < q->num_free ? n : q->num_free;

	for (i = 0; i < m; i++) {
		if (!vq__drv_seg_ok(&seg[i]) || !tokens[i])
			break;
		d[head] = (struct vring_desc){ .addr = seg[i].addr, .len = seg[i].len,
					       .flags = flags, .next = next[head] };
		/* Plain store: published by the release store of avail->idx. */
		ring[idx++ & mask] = head;
		vq__drv_buf_set(&buf[head], tokens[i], write ? seg[i].len : 0, seq++,
				VQ__DRV_NO_TABLE, 1, head);
		head = next[head];
	}
	q->free_head = head;
	q->avail_idx = idx;
	q->add_seq = seq;
	q->num_free -= i;
	q->inflight += i;
	return i == 0 && m ? -EINVAL : (int)i;
}

bool vq__drv_split_kick_prepare(struct vq_drv *q)
{
	uint16_t new_idx = q->avail_idx, old_idx = q->kick_idx;

	q->pub_seq = q->add_seq;
	if (new_idx == old_idx)
		return false;
	/*
	 * Release: the descriptors, indirect tables and avail->ring entries
	 * written by add become visible before the new index.  Pairs with the
	 * device's acquire load of avail->idx before it reads the ring.
	 */
	__atomic_store_n(&avail_ring(q)->idx, new_idx, __ATOMIC_RELEASE);
	q->kick_idx = new_idx;
	/*
	 * Full fence: the index store is globally visible before we read the
	 * device's suppression state.  Pairs with the device's full fence
	 * between writing avail_event / clearing NO_NOTIFY and re-reading
	 * avail->idx (vq_dev_enable_notify), so one side always sees the other.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->event_idx) {
		uint16_t e = __atomic_load_n(avail_event(q), __ATOMIC_RELAXED);

		return (uint16_t)(new_idx - e - 1) < (uint16_t)(new_idx - old_idx);
	}
	return !(__atomic_load_n(&used_ring(q)->flags, __ATOMIC_RELAXED) & VRING_USED_F_NO_NOTIFY);
}

/* ---- used buffers */

/*
 * After taking used buffers: with EVENT_IDX, ask for an interrupt at the
 * next entry.  Only once caught up with the used idx last read: an event
 * behind it asks for nothing the device has not already passed, so the
 * stores in between would change no decision, only move the line.
 */
static inline __attribute__((always_inline)) void split_note_used(struct vq_drv *q)
{
	if (q->event_idx && !q->cb_disabled && q->last_used == q->used_idx && !q->batch_left)
		/* Relaxed: a hint; vq_drv_enable_notify fences before sleeping. */
		__atomic_store_n(used_event(q), q->last_used, __ATOMIC_RELAXED);
}

/* Give buffer id back to the caller and its descriptors to the free list. */
static inline __attribute__((always_inline))
int split_complete(struct vq_drv *q, uint16_t id, uint32_t len, void **token, uint32_t *plen)
{
	struct vq__drv_buf *b = &q->buf[id];

	if (q->in_order) {
		q->oldest = (uint16_t)((id + b->ndesc) & q->mask);
	} else {
		q->free_next[b->last] = q->free_head;
		q->free_head = id;
	}
	q->num_free += b->ndesc;
	*token = vq__drv_finish(q, id);
	*plen = len;
	split_note_used(q);
	return 1;
}

int vq__drv_split_complete(struct vq_drv *q, uint16_t id, uint32_t len, void **token, uint32_t *plen)
{
	return split_complete(q, id, len, token, plen);
}

/* vq__drv_batch_next for this layout, inline in the burst loop. */
static inline __attribute__((always_inline))
int split_batch_next(struct vq_drv *q, void **token, uint32_t *len)
{
	uint16_t id = q->oldest;
	uint32_t l = q->batch_left == 1 ? q->batch_len : q->buf[id].in_len;

	q->batch_left--;
	return split_complete(q, id, l, token, len);
}

/* Read used->idx; 1 when entries are pending, 0 when none, or a violation. */
static int split_refresh(struct vq_drv *q)
{
	/* Acquire: pairs with the device's release store of used->idx in
	 * vq_dev_flush; the used entries are read after this. */
	uint16_t idx = __atomic_load_n(&used_ring(q)->idx, __ATOMIC_ACQUIRE);
	uint16_t pending = (uint16_t)(idx - q->last_used);

	if (pending == 0)
		return 0;
	if (pending > vq__drv_pub_inflight(q))
		return vq__drv_violate(q, VQ_ERR_USED_IDX,
				       "used idx %u is %u entries past %u with %u buffers in flight",
				       idx, pending, q->last_used, vq__drv_pub_inflight(q));
	q->used_idx = idx;
	return 1;
}

/*
 * IN_ORDER (2.7.9): the device wrote one entry, at the batch's first slot,
 * and advanced used idx by the batch size.  Skip the slots it did not
 * write; a used idx that did not move that far is a lie.
 */
static int split_batch_start(struct vq_drv *q, uint16_t id, uint32_t len, void **token,
			     uint32_t *plen)
{
	uint32_t n;
	int r = vq__drv_batch_start(q, q->oldest, id, len, &n);

	if (r < 0)
		return r;
	if ((uint16_t)(q->used_idx - q->last_used) < n - 1 && (r = split_refresh(q)) < 0)
		return r;
	if ((uint16_t)(q->used_idx - q->last_used) < n - 1)
		return vq__drv_violate(q, VQ_ERR_USED_IDX,
				       "in-order batch of %u buffers ending at id %u, but used idx %u is only %u past it",
				       n, id, q->used_idx, (uint16_t)(q->used_idx - q->last_used));
	q->last_used = (uint16_t)(q->last_used + n - 1);
	return vq__drv_batch_next(q, token, plen);
}

static inline __attribute__((always_inline))
int split_get(struct vq_drv *q, void **token, uint32_t *len)
{
	const struct vring_used_elem *e;
	uint32_t id, l;
	int r;

	if (q->last_used == q->used_idx) {
		r = split_refresh(q);
		if (r <= 0)
			return r;
	}
	e = &used_ring(q)->ring[q->last_used & q->mask];
	/* Relaxed: ordered after the acquire load of used->idx. */
	id = __atomic_load_n(&e->id, __ATOMIC_RELAXED);
	l = __atomic_load_n(&e->len, __ATOMIC_RELAXED);
	q->last_used++;
	if ((r = vq__drv_check_used(q, id, l)) < 0)
		return r;
	if (q->in_order && id != q->oldest)
		return split_batch_start(q, (uint16_t)id, l, token, len);
	return split_complete(q, (uint16_t)id, l, token, len);
}

/*
 * vq__drv_all_single holds: the buffers in flight are descriptors oldest,
 * oldest + 1, ... (mod size).  Take up to n of a batch in progress, whole
 * but the last (2.7.9), in one loop.
 */
static inline __attribute__((always_inline))
int split_run_batch(struct vq_drv *q, void **tokens, uint32_t *lens, unsigned n)
{
	uint32_t k = q->batch_left < n ? q->batch_left : n, id = q->oldest;

	for (uint32_t i = 0; i < k; i++, id = (id + 1) & q->mask) {
		lens[i] = q->buf[id].in_len;
		tokens[i] = vq__drv_finish(q, (uint16_t)id);
	}
	q->batch_left -= k;
	if (q->batch_left == 0)
		lens[k - 1] = q->batch_len;
	q->oldest = (uint16_t)id;
	q->num_free += k;
	split_note_used(q);
	return (int)k;
}

/*
 * The run fast path of vq_drv_get_burst (vq__drv_get_burst_with), under
 * vq__drv_all_single.  A batch in progress goes through split_run_batch.
 * Otherwise, with k entries published (used idx, whose release store
 * publishes them all) and k >= 2: in order, they return the k oldest
 * buffers, so one check of the run's last entry (its id, the one expected
 * there, and its len) stands for the run.  A buffer with no writable bytes
 * has len 0 whatever its entry says (len <= 0), so its entry is not read;
 * one with writable bytes needs its len, and its entry is read and checked
 * (id and len) in the same loop: a mismatch ends the run there.  *walk
 * when entries are left that get must walk (a single entry, a last entry
 * that does not match: the device batched, or lies; a mismatch in the
 * loop); get reports any violation as it always did.  Returns how many were
 * taken, or split_refresh's violation.
 */
static inline __attribute__((always_inline))
int split_run(struct vq_drv *q, void **tokens, uint32_t *lens, unsigned n, bool *walk)
{
	const struct vring_used_elem *ring = used_ring(q)->ring, *e;
	uint32_t k, i, first = q->oldest, last, id;
	int r;

	if (q->batch_left)
		return split_run_batch(q, tokens, lens, n);
	if (q->last_used == q->used_idx && (r = split_refresh(q)) <= 0)
		return r;
	k = (uint16_t)(q->used_idx - q->last_used);
	if (k > n)
		k = n;
	*walk = true;
	if (k < 2)
		return 0;
	last = (first + k - 1) & q->mask;
	e = &ring[(q->last_used + k - 1) & q->mask];
	/* Relaxed: ordered after the acquire load of used->idx. */
	if (__atomic_load_n(&e->id, __ATOMIC_RELAXED) != last ||
	    __atomic_load_n(&e->len, __ATOMIC_RELAXED) > q->buf[last].in_len)
		return 0;
	for (i = 0, id = first; i < k; i++, id = (id + 1) & q->mask) {
		uint32_t in_len = q->buf[id].in_len, l = 0;

		if (in_len) {
			e = &ring[(q->last_used + i) & q->mask];
			if (__atomic_load_n(&e->id, __ATOMIC_RELAXED) != id ||
			    (l = __atomic_load_n(&e->len, __ATOMIC_RELAXED)) > in_len)
				break;
		}
		lens[i] = l;
		tokens[i] = vq__drv_finish(q, (uint16_t)id);
	}
	*walk = i < k;
	q->last_used = (uint16_t)(q->last_used + i);
	q->oldest = (uint16_t)id;
	q->num_free += i;
	split_note_used(q);
	return (int)i;
}

/* Nothing to take: no batch in progress, no entry past the used idx read,
 * and used idx has not moved.  Acquire: as split_refresh's, whose work
 * follows when it has moved. */
static inline __attribute__((always_inline)) bool split_is_idle(const struct vq_drv *q)
{
	return !q->batch_left && q->last_used == q->used_idx &&
	       __atomic_load_n(&used_ring(q)->idx, __ATOMIC_ACQUIRE) == q->last_used;
}

VQ__DRV_LAYOUT_CALLS(split)

void *vq__drv_split_detach(struct vq_drv *q)
{
	uint32_t len;
	void *token;

	int id = q->in_order ? q->oldest : vq__drv_detach_scan(q);

	q->batch_left = 0;
	if (id < 0)
		return NULL;
	vq__drv_split_complete(q, (uint16_t)id, 0, &token, &len);
	return token;
}

/* ---- interrupt suppression */

void vq__drv_split_disable_notify(struct vq_drv *q)
{
	q->cb_disabled = true;
	/* Relaxed: suppression is a hint to the device. */
	if (q->event_idx)
		/* An event index already passed: need_event stays false. */
		__atomic_store_n(used_event(q), (uint16_t)(q->last_used - 1), __ATOMIC_RELAXED);
	else
		__atomic_store_n(&avail_ring(q)->flags, VRING_AVAIL_F_NO_INTERRUPT, __ATOMIC_RELAXED);
}

bool vq__drv_split_enable_notify(struct vq_drv *q)
{
	q->cb_disabled = false;
	if (q->event_idx)
		__atomic_store_n(used_event(q), q->last_used, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&avail_ring(q)->flags, 0, __ATOMIC_RELAXED);
	/*
	 * Full fence: the re-enabled state is visible before we re-read
	 * used->idx.  Pairs with the device's full fence between publishing
	 * used->idx and reading used_event / avail->flags (vq_dev_need_notify):
	 * either it sees callbacks enabled or we see its entries.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->batch_left)
		return true;
	return __atomic_load_n(&used_ring(q)->idx, __ATOMIC_ACQUIRE) != q->last_used;
}

bool vq__drv_split_enable_notify_after(struct vq_drv *q, uint16_t n)
{
	q->cb_disabled = false;
	/* Relaxed: ordered by the full fence below. */
	__atomic_store_n(used_event(q), (uint16_t)(q->last_used + n - 1), __ATOMIC_RELAXED);
	/*
	 * Full fence: the event n - 1 ahead is visible before we re-read
	 * used->idx.  Pairs with the device's full fence between publishing
	 * used->idx and reading used_event (vq_dev_need_notify): either it
	 * signals when it passes the event, or we see that it has.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* A device's idx too far ahead counts too: the get reports it. */
	return (uint16_t)(__atomic_load_n(&used_ring(q)->idx, __ATOMIC_ACQUIRE) - q->last_used) >=
	       n;
}
