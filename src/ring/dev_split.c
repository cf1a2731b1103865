/* SPDX-License-Identifier: MIT */
/* Device side of the split virtqueue (VIRTIO 1.2 section 2.7). */
#include <errno.h>

#include "ring/dev_internal.h"

static uint16_t *used_event(const struct vq_dev *q)
{
	return &q->avail->ring[q->size];
}

static uint16_t *avail_event(const struct vq_dev *q)
{
	return (uint16_t *)&q->used->ring[q->size];
}

/*
 * Reads avail->idx into *idx; when it is at most the queue size ahead of
 * last_avail_idx, caches it (shadow_avail) and returns true.
 */
static inline bool avail_refresh(struct vq_dev *q, uint16_t *idx)
{
	/*
	 * Acquire: pairs with the driver's write barrier between filling
	 * descriptors and avail->ring[] and storing avail->idx.
	 */
	*idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
	if ((uint16_t)(*idx - q->avail_idx) > q->size)
		return false;
	q->shadow_avail = *idx;
	return true;
}

/* 1 and *head when an entry is available, 0 when none, or an errno. */
static int next_head(struct vq_dev *q, uint16_t *head)
{
	uint16_t last = q->avail_idx;
	uint16_t h;

	if (last == q->shadow_avail) {
		uint16_t idx;

		if (!avail_refresh(q, &idx))
			return vq__dev_fail(q, VQ_ERR_AVAIL_IDX,
					    "avail idx %u is %u ahead of last_avail_idx %u, queue size %u",
					    idx, (uint16_t)(idx - last), last, q->size);
		if (idx == last)
			return 0;
	}
	h = __atomic_load_n(&q->avail->ring[last & q->mask], __ATOMIC_RELAXED);
	if (h >= q->size)
		return vq__dev_fail(q, VQ_ERR_HEAD_RANGE, "head %u >= queue size %u",
				    h, q->size);
	*head = h;
	return 1;
}

/* Where a chain's descriptors are read from: the ring's table or an indirect one. */
struct split_level {
	const struct vring_desc *table;
	uint32_t n;      /* entries: loop bound and next bound */
	uint32_t limit;  /* chain length limit */
	bool indirect;
};

static int enter_indirect(struct vq_dev *q, struct vq__walk *w, struct split_level *lv,
			  const struct vq__desc *d)
{
	const void *table;
	uint32_t n;
	int rc;

	if (!q->indirect)
		return vq__dev_fail(q, VQ_ERR_INDIRECT_FEATURE,
				    "INDIRECT flag but VIRTIO_F_INDIRECT_DESC not negotiated");
	if (lv->indirect)
		return vq__dev_fail(q, VQ_ERR_INDIRECT_NESTED,
				    "indirect descriptor %u inside an indirect table", w->count - 1);
	if (d->id_or_flags & VRING_DESC_F_NEXT)
		return vq__dev_fail(q, VQ_ERR_INDIRECT_NEXT,
				    "indirect descriptor with NEXT (next %u)", d->w3);
	if (w->count > 1)
		return vq__dev_fail(q, VQ_ERR_INDIRECT_NEXT,
				    "indirect descriptor at chain position %u, not at the head",
				    w->count - 1);
	rc = vq__dev_indirect(q, d->addr, d->len, &table, &n);
	if (rc)
		return rc;
	*lv = (struct split_level){ table, n, n, true };
	w->count = 0;
	return 0;
}

static int check_count(struct vq_dev *q, const struct vq__walk *w,
		       const struct split_level *lv, uint16_t head)
{
	if (w->count > lv->n)
		return lv->indirect
		       ? vq__dev_fail(q, VQ_ERR_LOOP,
				      "chain in indirect table of head %u visits more than %u descriptors",
				      head, lv->n)
		       : vq__dev_fail(q, VQ_ERR_LOOP,
				      "chain from head %u visits more than queue size %u descriptors",
				      head, lv->n);
	if (w->count > lv->limit)
		return vq__dev_fail(q, VQ_ERR_CHAIN_LEN,
				    "chain from head %u longer than max chain %u", head, lv->limit);
	return 0;
}

/* Walk the chain at head into w; *ndesc gets the direct descriptors it used. */
static int walk(struct vq_dev *q, uint16_t head, struct vq__walk *w, uint16_t *ndesc)
{
	struct split_level lv = { q->desc, q->size, q->direct_max, false };
	uint16_t idx = head;
	struct vq__desc d;
	int rc;

	for (;;) {
		vq__desc_read(&lv.table[idx], &d);
		w->count++;
		rc = check_count(q, w, &lv, head);
		if (rc)
			return rc;
		if (d.id_or_flags & VRING_DESC_F_INDIRECT) {
			*ndesc = (uint16_t)w->count;
			rc = enter_indirect(q, w, &lv, &d);
			if (rc)
				return rc;
			idx = 0;
			continue;
		}
		rc = vq__walk_seg(q, w, d.addr, d.len, d.id_or_flags & VRING_DESC_F_WRITE);
		if (rc)
			return rc;
		if (!(d.id_or_flags & VRING_DESC_F_NEXT))
			break;
		if (d.w3 >= lv.n)
			return vq__dev_fail(q, VQ_ERR_NEXT_RANGE, "next %u >= %s %u", d.w3,
					    lv.indirect ? "indirect table size" : "queue size",
					    lv.n);
		idx = d.w3;
	}
	if (!lv.indirect)
		*ndesc = (uint16_t)w->count;
	return 0;
}

/* One direct descriptor in the last-hit region: 1 and e filled, else 0. */
static inline int pop_one(struct vq_dev *q, uint16_t head, struct vq_elem *e)
{
	struct vq__desc d;
	bool wr;
	void *hva;

	vq__desc_read((const struct vring_desc *)q->desc + head, &d);
	if ((d.id_or_flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) || d.len == 0 ||
	    e->iov_cap == 0)
		return 0;
	wr = d.id_or_flags & VRING_DESC_F_WRITE;
	hva = vq__mem_hint_ptr(q->mem, d.addr, d.len, wr ? VQ_MEM_WRITE : VQ_MEM_READ);
	if (!hva)
		return 0;
	if (q->pop_gpa)
		q->pop_gpa[0] = d.addr;
	e->iov[0].iov_base = hva;
	e->iov[0].iov_len = d.len;
	e->ndesc = 1;
	e->out_num = !wr;
	e->in_num = wr;
	e->out_len = wr ? 0 : d.len;
	e->in_len = wr ? d.len : 0;
	return 1;
}

static inline __attribute__((always_inline)) int split_pop(struct vq_dev *q, struct vq_elem *e)
{
	struct vq__walk w;
	uint16_t head = 0, ndesc = 0;
	int rc = next_head(q, &head);

	if (rc <= 0)
		return rc;
	if (vq__bit_test(q->inflight_bits, head))
		return vq__dev_fail(q, VQ_ERR_ID_IN_USE, "head %u is already in flight", head);
	if (pop_one(q, head, e))
		goto popped;
	vq__walk_init(&w, e);
	rc = walk(q, head, &w, &ndesc);
	if (rc)
		return rc;
	rc = vq__walk_finish(&w, ndesc);
	if (rc)
		return rc;
popped:
	e->id = head;
	vq__bit_set(q->inflight_bits, head);
	q->inflight++;
	q->avail_idx++;
	if (q->event_idx && q->kicks_enabled)
		vq__split_avail_event(q);
	return 1;
}

int vq__split_pop(struct vq_dev *q, struct vq_elem *e)
{
	return split_pop(q, e);
}

/*
 * The common case of a burst: heads whose descriptor is the whole chain (no
 * NEXT, no INDIRECT), not empty, in the last-hit memory region (read once),
 * not in flight, while e[i] has room: pop_one's checks, each descriptor
 * read once.  Stops at the first head that is not that case, leaving it for
 * split_pop, which reads it afresh and makes every check (so nothing read
 * here is used after a stop).  Returns the number popped; *rc is 1 when it
 * stopped at such a head, else next_head's 0 (empty) or violation.
 */
static unsigned pop_singles(struct vq_dev *q, struct vq_elem *e, unsigned n, int *rc)
{
	const struct vring_desc *desc = q->desc;
	const uint16_t *ring = q->avail->ring;
	uint16_t last = q->avail_idx, shadow = q->shadow_avail, mask = q->mask, size = q->size;
	struct vq__mem_hint rg;
	unsigned i;

	*rc = 1;
	if (q->pop_gpa || !vq__mem_hint_get(q->mem, &rg))
		return 0;
	for (i = 0; i < n; i++, last++) {
		struct vq__desc d;
		uint16_t head;
		uint8_t *hva;
		bool wr;

		/* Heads under the avail idx last read (with acquire) are read
		 * here; next_head reads the idx again, and reports a bad head. */
		if (last == shadow || (head = __atomic_load_n(&ring[last & mask], __ATOMIC_RELAXED)) >= size) {
			q->avail_idx = last;
			if ((*rc = next_head(q, &head)) != 1)
				break;
			shadow = q->shadow_avail;
		}
		if (vq__bit_test(q->inflight_bits, head) || e[i].iov_cap == 0)
			break;
		vq__desc_read(&desc[head], &d);
		wr = d.id_or_flags & VRING_DESC_F_WRITE;
		if ((d.id_or_flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) || d.len == 0 ||
		    !(hva = vq__mem_hint_at(&rg, d.addr, d.len, wr ? VQ_MEM_WRITE : VQ_MEM_READ)))
			break;
		e[i].iov[0] = (struct iovec){ hva, d.len };
		e[i].id = head;
		e[i].ndesc = 1;
		e[i].out_num = !wr;
		e[i].in_num = wr;
		e[i].out_len = wr ? 0 : d.len;
		e[i].in_len = wr ? d.len : 0;
		vq__bit_set(q->inflight_bits, head);
	}
	q->avail_idx = last;
	q->inflight += i;
	return i;
}

/*
 * Up to n pops: runs of single descriptors through pop_singles, anything
 * else through the inlined split_pop.  The count, or the first pop's error.
 * The caller (vq_dev_pop_burst) moves the event index afterwards.
 */
int vq__split_pop_burst(struct vq_dev *q, struct vq_elem *e, unsigned n)
{
	unsigned i = 0;
	int rc = 0;

	while (i < n) {
		if ((i += pop_singles(q, e + i, n - i, &rc)) == n || rc != 1)
			break;
		if ((rc = split_pop(q, &e[i])) != 1)
			break;
		i++;
	}
	return i ? (int)i : rc;
}

/*
 * vq_dev_peek on a split ring with nothing in flight: pop_singles' checks
 * for one direction, the heads read under an avail idx read with acquire.
 * The first entry that is not that case (a chain, the other direction, a
 * head out of range, an avail idx too far ahead) is left to split_pop,
 * which reports a violation; the queue is unchanged but for the avail idx
 * cached.  An id seen twice breaks the queue there (vq__peek_ids).
 */
static inline __attribute__((always_inline))
int peek_kind(struct vq_dev *q, struct vq_peeked *b, unsigned n, bool writable)
{
	const uint16_t sel = VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE;
	const uint16_t want = writable ? VRING_DESC_F_WRITE : 0;
	const uint32_t prot = writable ? VQ_MEM_WRITE : VQ_MEM_READ;
	const struct vring_desc *desc = q->desc;
	const uint16_t *ring = q->avail->ring;
	uint16_t last = q->avail_idx, shadow = q->shadow_avail, mask = q->mask, size = q->size;
	struct vq__mem_hint rg;
	unsigned i;

	q->peek_n = 0;
	if (q->inflight || q->pop_gpa || !vq__mem_hint_get(q->mem, &rg))
		return 0;
	for (i = 0; i < n; i++, last++) {
		struct vq__desc d;
		uint16_t head;
		uint8_t *hva;

		if (last == shadow) {
			if (!avail_refresh(q, &shadow)) /* next_head reports it */
				break;
			if (last == shadow) {
				if (i == 0)
					return -EAGAIN;
				break;
			}
		}
		head = __atomic_load_n(&ring[last & mask], __ATOMIC_RELAXED);
		if (head >= size)
			break;
		vq__desc_read(&desc[head], &d);
		if ((d.id_or_flags & sel) != want || d.len == 0 ||
		    !(hva = vq__mem_hint_at(&rg, d.addr, d.len, prot)))
			break;
		b[i] = (struct vq_peeked){ hva, d.len, head };
	}
	i = vq__peek_ids(q, b, i);
	q->peek_n = (uint16_t)i;
	q->peek_slot = q->avail_idx;
	q->peek_write = writable;
	return (int)i;
}

int vq__split_peek(struct vq_dev *q, struct vq_peeked *b, unsigned n, bool writable)
{
	return writable ? peek_kind(q, b, n, true) : peek_kind(q, b, n, false);
}

/*
 * vq_dev_use_peeked after its checks: a used entry a buffer, in the order
 * they were made available (staged: flush publishes the used idx); the
 * avail idx moves past them, as their pops would have moved it.
 */
void vq__split_use_peeked(struct vq_dev *q, const struct vq_peeked *b, const uint32_t *len,
			  unsigned k)
{
	struct vring_used_elem *ring = q->used->ring;
	uint16_t used = q->used_idx, mask = q->mask;

	for (unsigned i = 0; i < k; i++, used++) {
		struct vring_used_elem *u = &ring[used & mask];

		/* Published by the release store of used->idx in flush. */
		__atomic_store_n(&u->id, (uint32_t)b[i].id, __ATOMIC_RELAXED);
		__atomic_store_n(&u->len, len[i], __ATOMIC_RELAXED);
	}
	q->used_idx = used;
	q->batch_n += k;
	q->avail_idx = (uint16_t)(q->avail_idx + k);
	q->peek_n = 0;
}

/* EVENT_IDX: ask for a kick once the driver passes what was popped. */
void vq__split_avail_event(struct vq_dev *q)
{
	/* Ordered for the driver by vq_dev_enable_notify's full barrier or
	 * read late by it; a stale value costs one extra kick. */
	__atomic_store_n(avail_event(q), q->avail_idx, __ATOMIC_RELAXED);
}

static inline __attribute__((always_inline))
void split_push(struct vq_dev *q, uint16_t id, uint32_t len)
{
	struct vring_used_elem *u = &q->used->ring[q->used_idx & q->mask];

	/* Published by the release store of used->idx in flush. */
	__atomic_store_n(&u->id, (uint32_t)id, __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, len, __ATOMIC_RELAXED);
	q->used_idx++;
	q->batch_n++;
}

void vq__split_push(struct vq_dev *q, uint16_t id, uint32_t len)
{
	split_push(q, id, len);
}

/* vq_dev_push_burst after its broken check: the checks and push inlined. */
int vq__split_push_burst(struct vq_dev *q, const struct vq_elem *e, const uint32_t *len,
			 unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (len[i] > e[i].in_len || vq__push_take(q, e[i].id, e[i].ndesc))
			break;
		split_push(q, e[i].id, len[i]);
	}
	return i || n == 0 ? (int)i : -EINVAL;
}

void vq__split_flush(struct vq_dev *q)
{
	uint32_t n = q->batch_n;

	if (n == 0)
		return;
	/*
	 * Release: the used->ring[] entries become visible before the new
	 * idx.  Pairs with the driver's read barrier between reading
	 * used->idx and reading used->ring[].
	 */
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
	q->pub_used = q->used_idx;
	q->batch_n = 0;
	q->since_notify = q->since_notify + n < q->since_notify ? UINT32_MAX
							       : q->since_notify + n;
}

bool vq__split_need_notify(struct vq_dev *q, uint16_t old, uint32_t n)
{
	uint16_t ev, new = q->pub_used;

	/*
	 * Full barrier: our used->idx store must be visible before we read
	 * the driver's suppression.  Pairs with the driver's full barrier
	 * between writing used_event (or clearing NO_INTERRUPT) and
	 * re-reading used->idx.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(__atomic_load_n(&q->avail->flags, __ATOMIC_RELAXED) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	if (n > 0xffffu)
		return true; /* more than the 16-bit window: cannot tell, notify */
	ev = __atomic_load_n(used_event(q), __ATOMIC_RELAXED);
	/* The spec's vring_need_event(): did used idx step past ev? */
	return (uint16_t)(new - ev - 1) < (uint16_t)(new - old);
}

void vq__split_set_notify(struct vq_dev *q, bool enable)
{
	/* Ordering: see the full barrier in vq_dev_enable_notify. */
	if (q->event_idx) {
		if (enable)
			__atomic_store_n(avail_event(q), q->avail_idx, __ATOMIC_RELAXED);
		return; /* disabled: avail_event simply stops moving */
	}
	__atomic_store_n(&q->used->flags, enable ? 0 : VRING_USED_F_NO_NOTIFY,
			 __ATOMIC_RELAXED);
}

/* Moderation (EVENT_IDX): a kick once the driver makes the n-th buffer from
 * here available (avail_event n - 1 ahead, in the 16-bit index space). */
void vq__split_set_notify_after(struct vq_dev *q, uint16_t n)
{
	/* Relaxed: vq_dev_enable_notify_after's full fence orders it. */
	__atomic_store_n(avail_event(q), (uint16_t)(q->avail_idx + n - 1), __ATOMIC_RELAXED);
}

/* At least n buffers available (or an index too far ahead: pop reports it)? */
bool vq__split_has_avail_n(const struct vq_dev *q, uint16_t n)
{
	/* Acquire: pairs with the driver's release store of avail->idx. */
	uint16_t idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);

	return (uint16_t)(idx - q->avail_idx) >= n;
}

bool vq__split_has_avail(const struct vq_dev *q)
{
	/* Acquire: pairs with the driver's write barrier before avail->idx. */
	return __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE) != q->avail_idx;
}
