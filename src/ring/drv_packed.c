/* SPDX-License-Identifier: MIT */
/*
 * Driver side of a packed virtqueue (VIRTIO 1.2, 2.8).
 *
 * Buffer ids come from a private free list; with IN_ORDER the id is the
 * ring slot of the chain's head, so the oldest buffer in flight is always
 * the one at the next used slot and a batched used descriptor (2.8.9) is
 * resolved by walking forward from there.  The buffer id is written into
 * every descriptor of a chain: the spec puts it in the last one (2.8.6),
 * and devices that read it elsewhere find it too.
 *
 * Publication: the flags of the first head added since the last
 * vq_drv_kick_prepare are held back and written there with one release
 * store.  Later heads are written at once: a device processes the ring in
 * order and cannot reach them before that first head, so one release
 * store publishes the whole batch, as the avail->idx store does for split.
 */
#include <errno.h>

#include "drv_internal.h"

static inline struct vring_packed_desc *ring(const struct vq_drv *q)
{
	return q->desc;
}

static inline struct vring_packed_desc_event *driver_event(const struct vq_drv *q)
{
	return q->avail;
}

static inline struct vring_packed_desc_event *device_event(const struct vq_drv *q)
{
	return q->used;
}

/* AVAIL matches the wrap counter, USED its inverse (2.8.1). */
static inline uint16_t avail_bits(bool wrap)
{
	return wrap ? VQ__DESC_F_AVAIL : VQ__DESC_F_USED;
}

void vq__drv_packed_init(struct vq_drv *q)
{
	q->num_free = q->size;
	q->avail_wrap = true;
	q->used_wrap = true;
	q->free_id = 0;
	for (uint32_t i = 0; i < q->size; i++)
		q->free_next[i] = (uint16_t)(i + 1);
}

/* ---- adding */

/* Write a direct chain at the next avail slots; returns the head's flags,
 * which the caller exposes.  Advances the avail slot and wrap counter. */
static uint16_t packed_write_chain(struct vq_drv *q, const struct vq__drv_chain *c, uint16_t id)
{
	struct vq__drv_iter it = { c->sg, 0, c->out_num, c->total };
	uint32_t slot = q->avail_idx, k = 0;
	bool wrap = q->avail_wrap, write;
	uint16_t head_flags = 0;
	uint64_t addr;
	uint32_t len;

	while (vq__drv_next(&it, &addr, &len, &write)) {
		struct vring_packed_desc *d = &ring(q)[slot];
		uint16_t f = (uint16_t)((write ? VRING_DESC_F_WRITE : 0) | avail_bits(wrap) |
					(++k < c->ndesc ? VRING_DESC_F_NEXT : 0));

		d->addr = addr;
		d->len = len;
		d->id = id;
		if (k == 1)
			head_flags = f;
		else /* Relaxed: published by the release store of the head's flags. */
			__atomic_store_n(&d->flags, f, __ATOMIC_RELAXED);
		if (++slot == q->size) {
			slot = 0;
			wrap = !wrap;
		}
	}
	q->avail_idx = (uint16_t)slot;
	q->avail_wrap = wrap;
	return head_flags;
}

static void packed_expose_head(struct vq_drv *q, uint16_t slot, uint16_t flags)
{
	if (!q->pending) {
		q->pending = true;
		q->pend_slot = slot;
		q->pend_flags = flags;
		return;
	}
	/* Relaxed: the device cannot reach this head before the pending one,
	 * whose release store in kick_prepare publishes this one too. */
	__atomic_store_n(&ring(q)[slot].flags, flags, __ATOMIC_RELAXED);
}

void vq__drv_packed_add(struct vq_drv *q, const struct vq__drv_chain *c)
{
	uint16_t head = q->avail_idx, id = head, nslots = 1, flags;

	if (!q->in_order) {
		id = q->free_id;
		q->free_id = q->free_next[id];
	}
	if (c->table != VQ__DRV_NO_TABLE) {
		struct vring_packed_desc *d = &ring(q)[head];
		uint64_t gpa;

		vq__drv_fill_table(q, c, &gpa);
		d->addr = gpa;
		d->len = c->ndesc * (uint32_t)sizeof(struct vring_packed_desc);
		d->id = id;
		flags = (uint16_t)(VRING_DESC_F_INDIRECT | avail_bits(q->avail_wrap));
		if (++q->avail_idx == q->size) {
			q->avail_idx = 0;
			q->avail_wrap = !q->avail_wrap;
		}
	} else {
		flags = packed_write_chain(q, c, id);
		nslots = (uint16_t)c->ndesc;
	}
	packed_expose_head(q, head, flags);
	q->kick_slots += nslots;
	q->num_free -= nslots;
	vq__drv_set_buf(q, id, c, nslots, head);
}

/* One checked segment: one direct descriptor (vq_drv_add's fast path). */
static inline __attribute__((always_inline))
void packed_add1(struct vq_drv *q, const struct vq_seg *s, bool write, void *token)
{
	struct vq__drv_chain c = { .token = token, .in_len = write ? s->len : 0,
				   .table = VQ__DRV_NO_TABLE };
	uint16_t head = q->avail_idx, id = head;
	struct vring_packed_desc *d = &ring(q)[head];
	uint16_t flags = (uint16_t)((write ? VRING_DESC_F_WRITE : 0) | avail_bits(q->avail_wrap));

	if (!q->in_order) {
		id = q->free_id;
		q->free_id = q->free_next[id];
	}
	d->addr = s->addr;
	d->len = s->len;
	d->id = id;
	if (++q->avail_idx == q->size) {
		q->avail_idx = 0;
		q->avail_wrap = !q->avail_wrap;
	}
	packed_expose_head(q, head, flags);
	q->kick_slots++;
	q->num_free--;
	vq__drv_set_buf(q, id, &c, 1, head);
}

/*
 * vq_drv_add_burst under IN_ORDER: packed_add1 for each segment (a buffer's
 * id is its slot, no free list), with the queue's position, counters and
 * the pending head in locals for the burst, written back once.  The same
 * checks and result as vq__drv_packed_add_burst's loop without IN_ORDER.
 */
static int add_run(struct vq_drv *q, const struct vq_seg *seg, unsigned n, bool write,
		   void *const *tokens)
{
	struct vring_packed_desc *r = ring(q);
	struct vq__drv_buf *buf = q->buf;
	uint16_t slot = q->avail_idx, size = q->size;
	uint16_t wbit = write ? VRING_DESC_F_WRITE : 0;
	uint32_t seq = q->add_seq;
	bool wrap = q->avail_wrap, pending = q->pending;
	unsigned i, m = n < q->num_free ? n : q->num_free;

	for (i = 0; i < m; i++) {
		uint16_t flags = (uint16_t)(wbit | avail_bits(wrap));

		if (!vq__drv_seg_ok(&seg[i]) || !tokens[i])
			break;
		r[slot].addr = seg[i].addr;
		r[slot].len = seg[i].len;
		r[slot].id = slot;
		if (!pending) { /* as packed_expose_head */
			pending = true;
			q->pend_slot = slot;
			q->pend_flags = flags;
		} else {
			__atomic_store_n(&r[slot].flags, flags, __ATOMIC_RELAXED);
		}
		vq__drv_buf_set(&buf[slot], tokens[i], write ? seg[i].len : 0, seq++,
				VQ__DRV_NO_TABLE, 1, slot);
		if (++slot == size) {
			slot = 0;
			wrap = !wrap;
		}
	}
	q->avail_idx = slot;
	q->avail_wrap = wrap;
	q->pending = pending;
	q->add_seq = seq;
	q->kick_slots += i;
	q->num_free -= i;
	q->inflight += i;
	return i == 0 && m ? -EINVAL : (int)i;
}

/* Up to n one-segment buffers while slots are free: how many were added, or
 * -EINVAL when the first segment or token is bad. */
int vq__drv_packed_add_burst(struct vq_drv *q, const struct vq_seg *seg, unsigned n, bool write,
			     void *const *tokens)
{
	unsigned i;

	if (q->in_order)
		return add_run(q, seg, n, write, tokens);
	for (i = 0; i < n && q->num_free; i++) {
		if (!vq__drv_seg_ok(&seg[i]) || !tokens[i])
			return i ? (int)i : -EINVAL;
		packed_add1(q, &seg[i], write, tokens[i]);
		q->add_seq++;
		q->inflight++;
	}
	return (int)i;
}

/* 2.8.10 with EVENT_IDX: did the slots made available since the last check
 * pass the device's event offset? */
static bool packed_need_event(const struct vq_drv *q, uint16_t off_wrap, uint32_t added)
{
	uint16_t new_idx = q->avail_idx;
	uint16_t old_idx = (uint16_t)(new_idx - added);
	uint16_t event = off_wrap & ~VQ__EVENT_F_WRAP;

	if (((off_wrap & VQ__EVENT_F_WRAP) != 0) != q->avail_wrap)
		event = (uint16_t)(event - q->size); /* an offset in the previous lap */
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool vq__drv_packed_kick_prepare(struct vq_drv *q)
{
	uint32_t added = q->kick_slots;
	uint16_t flags;

	if (q->pending) {
		/*
		 * Release: every descriptor and indirect table written since
		 * the last publish, later heads included, is visible before
		 * this head's flags.  Pairs with the device's acquire load of
		 * the head's flags before it reads the chain.
		 */
		__atomic_store_n(&ring(q)[q->pend_slot].flags, q->pend_flags, __ATOMIC_RELEASE);
		q->pending = false;
	}
	q->pub_seq = q->add_seq;
	if (added == 0)
		return false;
	q->kick_slots = 0;
	/*
	 * Full fence: the flags stores are globally visible before we read the
	 * device event suppression.  Pairs with the device's full fence between
	 * writing its event suppression and re-checking the ring
	 * (vq_dev_enable_notify).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = __atomic_load_n(&device_event(q)->flags, __ATOMIC_RELAXED) & 0x3u;
	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !q->event_idx)
		return true;
	return packed_need_event(q, __atomic_load_n(&device_event(q)->off_wrap, __ATOMIC_RELAXED),
				 added);
}

/* ---- used buffers */

static void packed_update_event(struct vq_drv *q)
{
	/* Relaxed: a hint; vq_drv_enable_notify fences before sleeping. */
	__atomic_store_n(&driver_event(q)->off_wrap,
			 (uint16_t)(q->last_used | (q->used_wrap ? VQ__EVENT_F_WRAP : 0)), __ATOMIC_RELAXED);
}

/* Give buffer id back to the caller; skip its slots (2.8.6). */
static inline __attribute__((always_inline))
int packed_complete(struct vq_drv *q, uint16_t id, uint32_t len, void **token, uint32_t *plen)
{
	uint32_t n = q->buf[id].ndesc, next = q->last_used + n;

	if (next >= q->size) {
		next -= q->size;
		q->used_wrap = !q->used_wrap;
	}
	q->last_used = (uint16_t)next;
	q->num_free += n;
	if (!q->in_order) {
		q->free_next[id] = q->free_id;
		q->free_id = id;
	}
	*token = vq__drv_finish(q, id);
	*plen = len;
	if (q->event_idx && !q->cb_disabled)
		packed_update_event(q);
	return 1;
}

int vq__drv_packed_complete(struct vq_drv *q, uint16_t id, uint32_t len, void **token, uint32_t *plen)
{
	return packed_complete(q, id, len, token, plen);
}

/* vq__drv_batch_next for this layout, inline in the burst loop. */
static inline __attribute__((always_inline))
int packed_batch_next(struct vq_drv *q, void **token, uint32_t *len)
{
	uint16_t id = q->last_used;
	uint32_t l = q->batch_left == 1 ? q->batch_len : q->buf[id].in_len;

	q->batch_left--;
	return packed_complete(q, id, l, token, len);
}

/* IN_ORDER: the used descriptor names buffer id, not the oldest one: the
 * device used every buffer from the oldest up to id (2.8.9). */
static int packed_batch_start(struct vq_drv *q, uint16_t id, uint32_t len, void **token,
			      uint32_t *plen)
{
	uint32_t n;
	int r = vq__drv_batch_start(q, q->last_used, id, len, &n);

	return r < 0 ? r : vq__drv_batch_next(q, token, plen);
}

static inline __attribute__((always_inline))
int packed_get(struct vq_drv *q, void **token, uint32_t *len)
{
	struct vring_packed_desc *d = &ring(q)[q->last_used];
	uint16_t flags, id;
	uint32_t l;
	int r;

	/* Nothing published in flight: the slot holds no used descriptor. */
	if (vq__drv_pub_inflight(q) == 0)
		return 0;
	/* Acquire: pairs with the device's release store of the used flags;
	 * id and len are read after this. */
	flags = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
	if (!(flags & VQ__DESC_F_USED) != !q->used_wrap)
		return 0;
	if (!(flags & VQ__DESC_F_AVAIL) != !q->used_wrap)
		return vq__drv_violate(q, VQ_ERR_PACKED_WRAP,
				       "used slot %u has flags 0x%x with wrap counter %u",
				       q->last_used, flags, q->used_wrap);
	id = __atomic_load_n(&d->id, __ATOMIC_RELAXED);
	/* len is reserved without WRITE (2.8.4): nothing was written. */
	l = (flags & VRING_DESC_F_WRITE) ? __atomic_load_n(&d->len, __ATOMIC_RELAXED) : 0;
	if ((r = vq__drv_check_used(q, id, l)) < 0)
		return r;
	if (q->in_order && id != q->last_used)
		return packed_batch_start(q, id, l, token, len);
	return packed_complete(q, id, l, token, len);
}

/* Advance the used slot by k single-slot buffers (k <= size). */
static inline __attribute__((always_inline)) void packed_skip(struct vq_drv *q, uint32_t k)
{
	uint32_t next = q->last_used + k;

	if (next >= q->size) {
		next -= q->size;
		q->used_wrap = !q->used_wrap;
	}
	q->last_used = (uint16_t)next;
	q->num_free += k;
	if (q->event_idx && !q->cb_disabled)
		packed_update_event(q);
}

/*
 * vq__drv_all_single holds: the buffers in flight are slots last_used,
 * last_used + 1, ... (mod size).  Take up to n of a batch in progress,
 * whole but the last (2.8.9), in one loop.
 */
static inline __attribute__((always_inline))
int packed_run_batch(struct vq_drv *q, void **tokens, uint32_t *lens, unsigned n)
{
	uint32_t k = q->batch_left < n ? q->batch_left : n, id = q->last_used;

	for (uint32_t i = 0; i < k; i++) {
		lens[i] = q->buf[id].in_len;
		tokens[i] = vq__drv_finish(q, (uint16_t)id);
		if (++id == q->size)
			id = 0;
	}
	q->batch_left -= k;
	if (q->batch_left == 0)
		lens[k - 1] = q->batch_len;
	packed_skip(q, k);
	return (int)k;
}

/*
 * The run fast path of vq_drv_get_burst (vq__drv_get_burst_with), under
 * vq__drv_all_single.  A batch in progress goes through packed_run_batch.
 * Otherwise the used descriptors of a device that writes one per buffer,
 * each at its buffer's slot and naming it, are taken in one tight loop:
 * each slot's flags (used in the current lap), id (the slot) and len (<=
 * the writable bytes) are checked, without the batch machinery.  Each
 * slot, not only the run's last: nothing orders a device's flags stores
 * within a run (DPDK's vhost writes a flush's first flags last), so a used
 * slot says nothing of the slots before it, and a slot taken and reused
 * before the device's store to it lands would lose the new descriptor.
 * The first slot that does not match ends the run: not used yet (stop),
 * or used but not as expected (*walk: a batch, or a violation), and get
 * walks from there, reporting any violation as it always did.  Returns how
 * many were taken.
 */
static inline __attribute__((always_inline))
int packed_run(struct vq_drv *q, void **tokens, uint32_t *lens, unsigned n, bool *walk)
{
	uint32_t i, k = vq__drv_pub_inflight(q), slot = q->last_used;
	uint16_t want = q->used_wrap ? (VQ__DESC_F_AVAIL | VQ__DESC_F_USED) : 0;

	if (q->batch_left) {
		*walk = false;
		return packed_run_batch(q, tokens, lens, n);
	}
	if (k > n)
		k = n;
	for (i = 0; i < k; i++) {
		struct vring_packed_desc *d = &ring(q)[slot];
		/* Acquire: pairs with the device's release store of the used
		 * flags; id and len are read after this. */
		uint16_t flags = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
		uint32_t l = 0;

		if ((flags & (VQ__DESC_F_AVAIL | VQ__DESC_F_USED)) != want ||
		    __atomic_load_n(&d->id, __ATOMIC_RELAXED) != slot) {
			/* Not used yet (its USED bit is not this lap's): stop. */
			*walk = !(flags & VQ__DESC_F_USED) == !(want & VQ__DESC_F_USED);
			break;
		}
		/* len is reserved without WRITE (2.8.4): nothing was written. */
		if ((flags & VRING_DESC_F_WRITE) &&
		    (l = __atomic_load_n(&d->len, __ATOMIC_RELAXED)) > q->buf[slot].in_len) {
			*walk = true;
			break;
		}
		lens[i] = l;
		tokens[i] = vq__drv_finish(q, (uint16_t)slot);
		if (++slot == q->size) {
			slot = 0;
			want ^= VQ__DESC_F_AVAIL | VQ__DESC_F_USED;
		}
	}
	if (i)
		packed_skip(q, i);
	return (int)i;
}

/* Nothing to take: no batch in progress, and nothing published in flight
 * or the next used slot not used in this lap.  Acquire: as packed_get's. */
static inline __attribute__((always_inline)) bool packed_is_idle(const struct vq_drv *q)
{
	if (q->batch_left)
		return false;
	if (vq__drv_pub_inflight(q) == 0)
		return true;
	return !(__atomic_load_n(&ring(q)[q->last_used].flags, __ATOMIC_ACQUIRE) &
		 VQ__DESC_F_USED) != !q->used_wrap;
}

VQ__DRV_LAYOUT_CALLS(packed)

void *vq__drv_packed_detach(struct vq_drv *q)
{
	uint32_t len;
	void *token;

	int id;

	q->batch_left = 0;
	if (q->in_order) {
		vq__drv_packed_complete(q, q->last_used, 0, &token, &len);
		return token;
	}
	if ((id = vq__drv_detach_scan(q)) < 0)
		return NULL;
	q->num_free += q->buf[id].ndesc;
	q->free_next[id] = q->free_id;
	q->free_id = (uint16_t)id;
	return vq__drv_finish(q, (uint16_t)id);
}

/* ---- interrupt suppression */

void vq__drv_packed_disable_notify(struct vq_drv *q)
{
	q->cb_disabled = true;
	/* Relaxed: suppression is a hint to the device. */
	__atomic_store_n(&driver_event(q)->flags, VRING_PACKED_EVENT_FLAG_DISABLE, __ATOMIC_RELAXED);
}

bool vq__drv_packed_enable_notify(struct vq_drv *q)
{
	uint16_t flags;

	q->cb_disabled = false;
	if (q->event_idx) {
		packed_update_event(q);
		__atomic_store_n(&driver_event(q)->flags, VRING_PACKED_EVENT_FLAG_DESC, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&driver_event(q)->flags, VRING_PACKED_EVENT_FLAG_ENABLE, __ATOMIC_RELAXED);
	}
	/*
	 * Full fence: the re-enabled state is visible before we re-read the
	 * next used slot.  Pairs with the device's full fence between writing
	 * used descriptors and reading the driver event suppression
	 * (vq_dev_need_notify): either it notifies or we see the descriptor.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->batch_left)
		return true;
	if (vq__drv_pub_inflight(q) == 0)
		return false;
	flags = __atomic_load_n(&ring(q)[q->last_used].flags, __ATOMIC_ACQUIRE);
	return !(flags & VQ__DESC_F_USED) == !q->used_wrap;
}

/*
 * Has the device's used position reached n slots past the next used slot?
 * Walks its used descriptors from there by the slots each buffer took (a
 * used descriptor covers its buffer's ndesc slots; at most n steps).  A
 * slot not yet used: false.  Anything a get would reject (an id out of
 * range or not in flight): true, so that the get reports it.
 */
static bool packed_used_reach(const struct vq_drv *q, uint32_t n)
{
	uint32_t slot = q->last_used, walked = 0;
	bool wrap = q->used_wrap;

	while (walked < n) {
		const struct vring_packed_desc *d = &ring(q)[slot];
		/* Acquire: pairs with the device's release store of the used
		 * flags; the id is read after it. */
		uint16_t flags = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
		uint16_t id;

		if (!(flags & VQ__DESC_F_USED) != !wrap)
			return false;
		id = __atomic_load_n(&d->id, __ATOMIC_RELAXED);
		if (id >= q->size || !q->buf[id].token || q->buf[id].ndesc == 0)
			return true;
		walked += q->buf[id].ndesc;
		slot += q->buf[id].ndesc;
		if (slot >= q->size) {
			slot -= q->size;
			wrap = !wrap;
		}
	}
	return true;
}

bool vq__drv_packed_enable_notify_after(struct vq_drv *q, uint16_t n)
{
	uint32_t slot = q->last_used + n - 1u;
	bool wrap = q->used_wrap;

	if (slot >= q->size) {
		slot -= q->size;
		wrap = !wrap;
	}
	q->cb_disabled = false;
	/* Relaxed: ordered by the full fence below. */
	__atomic_store_n(&driver_event(q)->off_wrap,
			 (uint16_t)(slot | (wrap ? VQ__EVENT_F_WRAP : 0)), __ATOMIC_RELAXED);
	__atomic_store_n(&driver_event(q)->flags, VRING_PACKED_EVENT_FLAG_DESC, __ATOMIC_RELAXED);
	/*
	 * Full fence: the event n - 1 slots ahead is visible before we walk
	 * the used slots.  Pairs with the device's full fence between writing
	 * used descriptors and reading the driver event suppression
	 * (vq_dev_need_notify): either it signals when it passes the event,
	 * or we see the descriptors that passed it.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return packed_used_reach(q, n);
}
