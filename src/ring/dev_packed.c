/* SPDX-License-Identifier: MIT */
/*
 * Device side of the packed virtqueue (VIRTIO 1.2 section 2.8).  A chain
 * takes consecutive slots; its buffer id is in the LAST descriptor of the
 * chain ("Buffer ID is included in the last descriptor in the list").  One
 * used descriptor per buffer is written at the used slot, which then skips
 * forward by the chain's slot count.
 */
#include <errno.h>

#include "ring/dev_internal.h"

static struct vring_packed_desc *slot_desc(const struct vq_dev *q, uint16_t slot)
{
	return (struct vring_packed_desc *)q->desc + slot;
}

/* Step a (slot, wrap) position forward by n <= size slots. */
static void advance(const struct vq_dev *q, uint16_t *slot, bool *wrap, uint32_t n)
{
	uint32_t s = (uint32_t)*slot + n;

	if (s >= q->size) {
		s -= q->size;
		*wrap = !*wrap;
	}
	*slot = (uint16_t)s;
}

static bool is_avail(uint16_t flags, bool wrap)
{
	return !!(flags & VQ__DESC_F_AVAIL) == wrap && !!(flags & VQ__DESC_F_USED) != wrap;
}

static uint32_t sat_add(uint32_t a, uint32_t b)
{
	return a + b < a ? UINT32_MAX : a + b;
}

static int walk_indirect(struct vq_dev *q, struct vq__walk *w, const struct vq__desc *d,
			 uint16_t flags, uint16_t slot)
{
	const struct vring_packed_desc *t;
	const void *table;
	uint32_t n;
	int rc;

	if (!q->indirect)
		return vq__dev_fail(q, VQ_ERR_INDIRECT_FEATURE,
				    "INDIRECT flag at slot %u but VIRTIO_F_INDIRECT_DESC not negotiated",
				    slot);
	if (flags & VRING_DESC_F_NEXT)
		return vq__dev_fail(q, VQ_ERR_INDIRECT_NEXT,
				    "indirect descriptor with NEXT at slot %u", slot);
	if (w->count > 1)
		return vq__dev_fail(q, VQ_ERR_INDIRECT_NEXT,
				    "indirect descriptor at slot %u is chain position %u, not the head",
				    slot, w->count - 1);
	rc = vq__dev_indirect(q, d->addr, d->len, &table, &n);
	if (rc)
		return rc;
	t = table;
	for (uint32_t i = 0; i < n; i++) {
		struct vq__desc td;

		vq__desc_read(&t[i], &td);
		/* Only WRITE is meaningful in a table (NEXT is ignored). */
		if (td.w3 & VRING_DESC_F_INDIRECT)
			return vq__dev_fail(q, VQ_ERR_INDIRECT_NESTED,
					    "indirect descriptor %u inside the indirect table at slot %u",
					    i, slot);
		rc = vq__walk_seg(q, w, td.addr, td.len, td.w3 & VRING_DESC_F_WRITE);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Walk the chain starting at the avail slot, whose flags (head_flags) were
 * already loaded with acquire.  *id is the last descriptor's buffer id.
 */
static int walk(struct vq_dev *q, struct vq__walk *w, uint16_t head_flags,
		uint16_t *id, uint16_t *ndesc)
{
	uint16_t slot = q->avail_idx;
	bool wrap = q->avail_wrap;
	struct vq__desc d;
	int rc;

	for (;;) {
		uint16_t flags;

		vq__desc_read(slot_desc(q, slot), &d);
		/* The head's flags: the acquire-loaded copy, not this re-read. */
		flags = w->count == 0 ? head_flags : d.w3;
		if (++w->count > q->direct_max)
			return vq__dev_fail(q, VQ_ERR_CHAIN_LEN,
					    "chain at slot %u longer than max chain %u",
					    q->avail_idx, q->direct_max);
		if (w->count > 1 && !is_avail(flags, wrap))
			return vq__dev_fail(q, VQ_ERR_PACKED_WRAP,
					    "slot %u (chain at slot %u) flags 0x%x not available for wrap counter %u",
					    slot, q->avail_idx, flags, wrap);
		if (flags & VRING_DESC_F_INDIRECT)
			rc = walk_indirect(q, w, &d, flags, slot);
		else
			rc = vq__walk_seg(q, w, d.addr, d.len, flags & VRING_DESC_F_WRITE);
		if (rc)
			return rc;
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		advance(q, &slot, &wrap, 1);
	}
	*id = d.id_or_flags;
	*ndesc = (uint16_t)w->count;
	return 0;
}

static int check_id(struct vq_dev *q, uint16_t id)
{
	if (id >= q->size)
		return vq__dev_fail(q, VQ_ERR_PACKED_ID,
				    "buffer id %u >= queue size %u (chain at slot %u)",
				    id, q->size, q->avail_idx);
	if (vq__bit_test(q->inflight_bits, id))
		return vq__dev_fail(q, VQ_ERR_ID_IN_USE,
				    "buffer id %u is already in flight (chain at slot %u)",
				    id, q->avail_idx);
	return 0;
}

/*
 * The common case, inline: the head is the whole chain (no NEXT, no
 * INDIRECT), one non-empty buffer in the last-hit memory region, with a
 * free buffer id.  Fills e and returns true; false changes nothing that
 * counts, and the general walk then reads the descriptor afresh and makes
 * every check itself (so nothing read here is used after a false).
 */
static inline __attribute__((always_inline))
bool pop_one(struct vq_dev *q, struct vq_elem *e, uint16_t flags)
{
	bool write = flags & VRING_DESC_F_WRITE;
	struct vq__desc d;
	void *hva;

	if ((flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) || e->iov_cap == 0)
		return false;
	vq__desc_read(slot_desc(q, q->avail_idx), &d);
	if (d.len == 0 || d.id_or_flags >= q->size || vq__bit_test(q->inflight_bits, d.id_or_flags))
		return false;
	/* d.len < 2^32 <= VQ_MAX_CHAIN_BYTES; hint_ptr checks the bounds. */
	hva = vq__mem_hint_ptr(q->mem, d.addr, d.len, write ? VQ_MEM_WRITE : VQ_MEM_READ);
	if (!hva)
		return false;
	if (q->pop_gpa)
		q->pop_gpa[0] = d.addr;
	e->iov[0].iov_base = hva;
	e->iov[0].iov_len = d.len;
	e->id = d.id_or_flags;
	e->ndesc = 1;
	e->out_num = !write;
	e->in_num = write;
	e->out_len = write ? 0 : d.len;
	e->in_len = write ? d.len : 0;
	return true;
}

static inline __attribute__((always_inline)) int packed_pop(struct vq_dev *q, struct vq_elem *e)
{
	struct vq__walk w;
	uint16_t flags, id = 0, ndesc = 0;
	int rc;

	/*
	 * Acquire: pairs with the driver's write barrier before it stores
	 * the head descriptor's flags (after the rest of the chain).
	 */
	flags = __atomic_load_n(&slot_desc(q, q->avail_idx)->flags, __ATOMIC_ACQUIRE);
	if (!!(flags & VQ__DESC_F_AVAIL) != q->avail_wrap)
		return 0;
	if (!!(flags & VQ__DESC_F_USED) == q->avail_wrap)
		return vq__dev_fail(q, VQ_ERR_PACKED_WRAP,
				    "head slot %u flags 0x%x: AVAIL and USED both match wrap counter %u",
				    q->avail_idx, flags, q->avail_wrap);
	if (pop_one(q, e, flags)) {
		id = e->id;
		ndesc = 1;
	} else {
		vq__walk_init(&w, e);
		rc = walk(q, &w, flags, &id, &ndesc);
		if (!rc)
			rc = check_id(q, id);
		if (!rc)
			rc = vq__walk_finish(&w, ndesc);
		if (rc)
			return rc;
	}
	e->id = id;
	vq__bit_set(q->inflight_bits, id);
	q->ndesc_of[id] = ndesc;
	if (q->in_order) {
		q->slot_of[id] = q->avail_idx;
		q->full_len_of[id] = e->in_len < UINT32_MAX ? (uint32_t)e->in_len : UINT32_MAX;
	}
	q->inflight++;
	advance(q, &q->avail_idx, &q->avail_wrap, ndesc);
	if (q->event_idx && q->kicks_enabled)
		vq__packed_avail_event(q);
	return 1;
}

/* EVENT_IDX: ask for a kick once the driver passes what was popped. */
void vq__packed_avail_event(struct vq_dev *q)
{
	/* Ordered by vq_dev_enable_notify's barrier; stale = one extra kick. */
	__atomic_store_n(&q->dev_event->off_wrap,
			 (uint16_t)(q->avail_idx | (q->avail_wrap ? VQ__EVENT_F_WRAP : 0)),
			 __ATOMIC_RELAXED);
}

int vq__packed_pop(struct vq_dev *q, struct vq_elem *e)
{
	return packed_pop(q, e);
}

/*
 * The common case of a burst in locals: single-descriptor chains (no NEXT,
 * no INDIRECT), not empty, in the last-hit memory region, with a free id,
 * while e[i] has room.  The same checks as pop_one, each descriptor read
 * once; the first slot that is not that case (not available, a chain,
 * anything refused) is left for packed_pop, which reads it afresh and makes
 * every check.  At the start of each cache line of descriptors (four a
 * line) it starts reading the next line.  Returns the number popped.
 */
static unsigned pop_singles(struct vq_dev *q, struct vq_elem *e, unsigned n)
{
	const uint16_t sel = VQ__DESC_F_AVAIL | VQ__DESC_F_USED | VRING_DESC_F_NEXT |
			     VRING_DESC_F_INDIRECT;
	struct vring_packed_desc *ring = q->desc;
	uint16_t slot = q->avail_idx, size = q->size;
	bool wrap = q->avail_wrap;
	uint16_t want = wrap ? VQ__DESC_F_AVAIL : VQ__DESC_F_USED;
	struct vq__mem_hint rg;
	unsigned i;

	if (q->pop_gpa || !vq__mem_hint_get(q->mem, &rg))
		return 0;
	for (i = 0; i < n; i++) {
		struct vq__desc d;
		uint16_t flags;
		uint8_t *hva;
		bool write;

		if ((slot & 3u) == 0 && slot + 4u < size)
			__builtin_prefetch(&ring[slot + 4u], 0, 3);
		/* Acquire: pairs with the driver's write barrier before it
		 * stores the head descriptor's flags. */
		flags = __atomic_load_n(&ring[slot].flags, __ATOMIC_ACQUIRE);
		if ((flags & sel) != want || e[i].iov_cap == 0)
			break;
		vq__desc_read(&ring[slot], &d);
		write = flags & VRING_DESC_F_WRITE;
		if (d.len == 0 || d.id_or_flags >= size || vq__bit_test(q->inflight_bits, d.id_or_flags) ||
		    !(hva = vq__mem_hint_at(&rg, d.addr, d.len, write ? VQ_MEM_WRITE : VQ_MEM_READ)))
			break;
		e[i].iov[0] = (struct iovec){ hva, d.len };
		e[i].id = d.id_or_flags;
		e[i].ndesc = 1;
		e[i].out_num = !write;
		e[i].in_num = write;
		e[i].out_len = write ? 0 : d.len;
		e[i].in_len = write ? d.len : 0;
		vq__bit_set(q->inflight_bits, d.id_or_flags);
		q->ndesc_of[d.id_or_flags] = 1;
		if (q->in_order) {
			q->slot_of[d.id_or_flags] = slot;
			q->full_len_of[d.id_or_flags] = write ? d.len : 0;
		}
		if (++slot == size) {
			slot = 0;
			wrap = !wrap;
			want = wrap ? VQ__DESC_F_AVAIL : VQ__DESC_F_USED;
		}
	}
	q->avail_idx = slot;
	q->avail_wrap = wrap;
	q->inflight += i;
	return i;
}

/*
 * Up to n pops: runs of single descriptors through pop_singles, anything
 * else through the inlined packed_pop.  The count, or the first pop's
 * error.  The caller (vq_dev_pop_burst) moves the event index afterwards.
 */
int vq__packed_pop_burst(struct vq_dev *q, struct vq_elem *e, unsigned n)
{
	unsigned i = 0;
	int rc = 0;

	while (i < n) {
		if ((i += pop_singles(q, e + i, n - i)) == n)
			break;
		if ((rc = packed_pop(q, &e[i])) != 1)
			break;
		i++;
	}
	return i ? (int)i : rc;
}

/* The staged batch of used descriptors: the queue's, or a copy of it in
 * locals for a loop (the ring stores would make the compiler reload the
 * queue's after each one). */
struct used_batch {
	uint32_t n;
	uint16_t slot, flags; /* the first one's, stored by flush */
};

/* Write one used descriptor at (slot, wrap) of ring for buffer id. */
static inline __attribute__((always_inline))
void write_used_in(struct vring_packed_desc *ring, struct used_batch *bt, uint16_t slot, bool wrap,
		   uint16_t id, uint32_t len)
{
	struct vring_packed_desc *d = ring + slot;
	uint16_t flags = wrap ? (VQ__DESC_F_AVAIL | VQ__DESC_F_USED) : 0;

	if (len)
		flags |= VRING_DESC_F_WRITE;
	__atomic_store_n(&d->id, id, __ATOMIC_RELAXED);
	__atomic_store_n(&d->len, len, __ATOMIC_RELAXED);
	if (bt->n == 0) {
		bt->slot = slot; /* its flags are stored by flush */
		bt->flags = flags;
	} else {
		/* The driver reads this slot only after the batch's first one,
		 * which flush publishes with release after this store. */
		__atomic_store_n(&d->flags, flags, __ATOMIC_RELAXED);
	}
	bt->n++;
}

static inline __attribute__((always_inline))
void write_used(struct vq_dev *q, uint16_t slot, bool wrap, uint16_t id, uint32_t len)
{
	struct used_batch bt = { q->batch_n, q->batch_slot, q->batch_flags };

	write_used_in(q->desc, &bt, slot, wrap, id, len);
	q->batch_n = bt.n;
	q->batch_slot = bt.slot;
	q->batch_flags = bt.flags;
}

/* IN_ORDER: return the pending run of buffers with one used descriptor. */
static inline __attribute__((always_inline)) void run_close(struct vq_dev *q)
{
	write_used(q, q->run_slot, q->run_wrap, q->run_id, q->run_len);
	q->run_n = 0;
}

/*
 * IN_ORDER (2.8.x "In-order use of descriptors"): buffers pushed in the
 * order they were popped join a run, returned by one used descriptor at
 * the run's first slot with the id of its last buffer; the driver takes
 * the skipped ones as used completely.  So a buffer may be followed in a
 * run only when its len is its whole writable length (len 0 without a
 * writable part).  Returns false when id was not pushed in order, or
 * starts no run: the caller writes its used descriptor.
 */
static inline __attribute__((always_inline))
bool run_push(struct vq_dev *q, uint16_t id, uint32_t len)
{
	bool in_seq = q->slot_of[id] == q->used_idx;

	if (q->run_n && (!in_seq || !q->run_full))
		run_close(q);
	if (!in_seq)
		return false;
	if (q->run_n == 0) {
		/* Nothing may follow it: a run of one, written now (a receive
		 * buffer the frame did not fill, the common case there). */
		if (len != q->full_len_of[id] || len == UINT32_MAX)
			return false;
		q->run_slot = q->used_idx;
		q->run_wrap = q->used_wrap;
	}
	q->run_n++;
	q->run_id = id;
	q->run_len = len;
	q->run_full = len == q->full_len_of[id] && len != UINT32_MAX;
	return true;
}

static inline __attribute__((always_inline))
void packed_push(struct vq_dev *q, uint16_t id, uint16_t ndesc, uint32_t len)
{
	if (!q->in_order || !run_push(q, id, len))
		write_used(q, q->used_idx, q->used_wrap, id, len);
	q->batch_slots += ndesc;
	advance(q, &q->used_idx, &q->used_wrap, ndesc);
}

void vq__packed_push(struct vq_dev *q, uint16_t id, uint16_t ndesc, uint32_t len)
{
	packed_push(q, id, ndesc, len);
}

/* vq_dev_push_burst after its broken check: the checks and push inlined. */
int vq__packed_push_burst(struct vq_dev *q, const struct vq_elem *e, const uint32_t *len,
			  unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (len[i] > e[i].in_len || vq__push_take(q, e[i].id, e[i].ndesc))
			break;
		packed_push(q, e[i].id, e[i].ndesc, len[i]);
	}
	return i || n == 0 ? (int)i : -EINVAL;
}

/*
 * vq_dev_peek on a packed ring with nothing in flight: pop_singles' checks
 * for one direction.  The first slot that is not that case is left to
 * packed_pop.  An id seen twice in one peek is what pop calls an id
 * already in flight (both were available at once): the queue breaks there,
 * the buffers before it are returned (their use then says -EIO), as a pop
 * burst does (vq__peek_ids).
 */
static inline __attribute__((always_inline))
unsigned peek_kind(struct vq_dev *q, struct vq_peeked *b, unsigned n, bool writable)
{
	const uint16_t sel = VQ__DESC_F_AVAIL | VQ__DESC_F_USED | VRING_DESC_F_NEXT |
			     VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE;
	const uint16_t wbit = writable ? VRING_DESC_F_WRITE : 0;
	const uint32_t prot = writable ? VQ_MEM_WRITE : VQ_MEM_READ;
	struct vring_packed_desc *ring = q->desc;
	uint16_t slot = q->avail_idx, size = q->size;
	bool wrap = q->avail_wrap;
	uint16_t want = (wrap ? VQ__DESC_F_AVAIL : VQ__DESC_F_USED) | wbit;
	struct vq__mem_hint rg;
	unsigned i;

	q->peek_n = 0;
	if (q->inflight || q->pop_gpa || !vq__mem_hint_get(q->mem, &rg))
		return 0;
	for (i = 0; i < n; i++) {
		struct vq__desc d;
		uint8_t *hva;

		if ((slot & 3u) == 0 && slot + 4u < size)
			__builtin_prefetch(&ring[slot + 4u], 0, 3);
		/* Acquire: as in pop_singles. */
		if ((__atomic_load_n(&ring[slot].flags, __ATOMIC_ACQUIRE) & sel) != want)
			break;
		vq__desc_read(&ring[slot], &d);
		if (d.len == 0 || d.id_or_flags >= size ||
		    !(hva = vq__mem_hint_at(&rg, d.addr, d.len, prot)))
			break;
		b[i] = (struct vq_peeked){ hva, d.len, d.id_or_flags };
		if (++slot == size) {
			slot = 0;
			wrap = !wrap;
			want = (wrap ? VQ__DESC_F_AVAIL : VQ__DESC_F_USED) | wbit;
		}
	}
	i = vq__peek_ids(q, b, i);
	q->peek_n = (uint16_t)i;
	q->peek_slot = q->avail_idx;
	q->peek_write = writable;
	return i;
}

/* Would a pop act on the next slot?  Its AVAIL bit matches the wrap counter:
 * a buffer, or flags that packed_pop reports as a violation (so a peek of
 * such a slot says 0, and the caller's pop breaks the queue). */
static bool next_to_pop(const struct vq_dev *q)
{
	uint16_t flags = __atomic_load_n(&slot_desc(q, q->avail_idx)->flags, __ATOMIC_RELAXED);

	return !!(flags & VQ__DESC_F_AVAIL) == q->avail_wrap;
}

int vq__packed_peek(struct vq_dev *q, struct vq_peeked *b, unsigned n, bool writable)
{
	unsigned k = writable ? peek_kind(q, b, n, true) : peek_kind(q, b, n, false);

	if (k == 0 && n && !q->inflight && !next_to_pop(q))
		return -EAGAIN;
	return (int)k;
}

/*
 * vq_dev_use_peeked after its checks: used descriptors at the used
 * position, in the order the buffers were made available (which IN_ORDER
 * asks for), one a buffer; with runs (IN_ORDER, readable buffers: each
 * used whole) one for all, the last one's, as a run of pushes ends.  The
 * avail position moves past them, as their pops would have moved it.
 */
static inline __attribute__((always_inline))
void use_kind(struct vq_dev *q, const struct vq_peeked *b, const uint32_t *len, unsigned k,
	      bool runs)
{
	struct vring_packed_desc *ring = q->desc;
	struct used_batch bt;
	uint16_t slot, size = q->size;
	bool wrap;

	if (q->run_n)
		run_close(q);
	bt = (struct used_batch){ q->batch_n, q->batch_slot, q->batch_flags };
	slot = q->used_idx;
	wrap = q->used_wrap;
	for (unsigned i = 0; i < k; i++) {
		unsigned run = 1;

		while (runs && i + 1 < k && len[i] == 0) {
			i++; /* used whole: the next one's descriptor covers it */
			run++;
		}
		write_used_in(ring, &bt, slot, wrap, b[i].id, len[i]);
		if ((slot += run) >= size) { /* as advance */
			slot -= size;
			wrap = !wrap;
		}
	}
	q->used_idx = slot;
	q->used_wrap = wrap;
	q->batch_n = bt.n;
	q->batch_slot = bt.slot;
	q->batch_flags = bt.flags;
	q->batch_slots += k;
	advance(q, &q->avail_idx, &q->avail_wrap, k);
	q->peek_n = 0;
}

void vq__packed_use_peeked(struct vq_dev *q, const struct vq_peeked *b, const uint32_t *len,
			   unsigned k)
{
	/* Runs for readable buffers (always used whole) only: a buffer filled
	 * in place is rarely filled to its end, and one descriptor a buffer is
	 * what IN_ORDER allows too. */
	if (q->in_order && !q->peek_write)
		use_kind(q, b, len, k, true);
	else
		use_kind(q, b, len, k, false);
}

void vq__packed_flush(struct vq_dev *q)
{
	if (q->run_n)
		run_close(q);
	if (q->batch_n == 0)
		return;
	/*
	 * Release: ids, lengths and the later flags of the batch become
	 * visible before its first descriptor turns used.  Pairs with the
	 * driver's read barrier between reading a descriptor's flags and
	 * reading its id and len.
	 */
	__atomic_store_n(&slot_desc(q, q->batch_slot)->flags, q->batch_flags,
			 __ATOMIC_RELEASE);
	q->pub_used = q->used_idx;
	q->pub_wrap = q->used_wrap;
	q->since_notify = sat_add(q->since_notify, q->batch_slots);
	q->batch_n = 0;
	q->batch_slots = 0;
}

bool vq__packed_need_notify(struct vq_dev *q, uint16_t old, uint32_t n)
{
	uint16_t flags, off_wrap;
	int32_t ev, new = q->pub_used;

	(void)old;
	/*
	 * Full barrier: the used flags stored by flush must be visible before
	 * we read the driver event suppression.  Pairs with the driver's full
	 * barrier between writing it and re-checking for used descriptors.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = __atomic_load_n(&q->drv_event->flags, __ATOMIC_RELAXED) & VQ__EVENT_F_MASK;
	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !q->event_idx || n >= q->size)
		return true; /* ENABLE, reserved, or too far to tell */
	off_wrap = __atomic_load_n(&q->drv_event->off_wrap, __ATOMIC_RELAXED);
	ev = off_wrap & ~VQ__EVENT_F_WRAP;
	if (!!(off_wrap & VQ__EVENT_F_WRAP) != q->pub_wrap)
		ev -= q->size; /* the event lies in the previous lap */
	/* vring_need_event(ev, new, old) with old = new - n, in one lap. */
	return (uint16_t)(new - ev - 1) < (uint16_t)n;
}

void vq__packed_set_notify(struct vq_dev *q, bool enable)
{
	uint16_t flags = VRING_PACKED_EVENT_FLAG_DISABLE;

	if (enable && q->event_idx) {
		__atomic_store_n(&q->dev_event->off_wrap,
				 (uint16_t)(q->avail_idx | (q->avail_wrap ? VQ__EVENT_F_WRAP : 0)),
				 __ATOMIC_RELAXED);
		flags = VRING_PACKED_EVENT_FLAG_DESC;
	} else if (enable) {
		flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	}
	/* Release: off_wrap before flags for a driver that reads flags first;
	 * the rest of the ordering is vq_dev_enable_notify's full barrier. */
	__atomic_store_n(&q->dev_event->flags, flags, __ATOMIC_RELEASE);
}

/* Moderation (EVENT_IDX): a kick once the driver makes available the slot
 * n - 1 after the next one (its lap's wrap counter with it): n more
 * single-slot buffers, fewer when chains take several slots. */
void vq__packed_set_notify_after(struct vq_dev *q, uint16_t n)
{
	uint16_t slot = q->avail_idx;
	bool wrap = q->avail_wrap;

	advance(q, &slot, &wrap, n - 1u);
	__atomic_store_n(&q->dev_event->off_wrap,
			 (uint16_t)(slot | (wrap ? VQ__EVENT_F_WRAP : 0)), __ATOMIC_RELAXED);
	/* Release: off_wrap before flags for a driver that reads flags first;
	 * the rest is vq_dev_enable_notify_after's full fence. */
	__atomic_store_n(&q->dev_event->flags, (uint16_t)VRING_PACKED_EVENT_FLAG_DESC,
			 __ATOMIC_RELEASE);
}

/* Did the driver make the slot n - 1 after the next one available?  Every
 * slot up to a published head has its flags written before that head's
 * release store, so a slot not yet available means the driver has not
 * passed it (a chain's tail written before its head only says "look").
 * And the next slot too: a caller told "yes" pops, and a driver that marks
 * a later slot but never the next one would have it pop nothing, again and
 * again.  An honest driver caught between the two (a batch's head flags
 * written last) still kicks: it reads the event after its last store. */
bool vq__packed_has_avail_n(const struct vq_dev *q, uint16_t n)
{
	uint16_t slot = q->avail_idx, f;
	bool wrap = q->avail_wrap;

	if (!vq__packed_has_avail(q))
		return false;
	advance(q, &slot, &wrap, n - 1u);
	/* Acquire: pairs with the driver's release store of head flags. */
	f = __atomic_load_n(&slot_desc(q, slot)->flags, __ATOMIC_ACQUIRE);
	return !!(f & VQ__DESC_F_AVAIL) == wrap;
}

bool vq__packed_has_avail(const struct vq_dev *q)
{
	/* Acquire: pairs with the driver's write barrier before head flags. */
	uint16_t f = __atomic_load_n(&slot_desc(q, q->avail_idx)->flags, __ATOMIC_ACQUIRE);

	return !!(f & VQ__DESC_F_AVAIL) == q->avail_wrap;
}
