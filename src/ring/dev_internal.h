/* SPDX-License-Identifier: MIT */
/*
 * Device side of the ring: the queue object and the helpers shared by
 * dev.c (common), dev_split.c and dev_packed.c.  Not installed.
 */
#ifndef VQ_DEV_INTERNAL_H
#define VQ_DEV_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/mem_internal.h"
#include "ring/ring_internal.h"

/* Shared memory is read through this alias so no type rule is broken. */
typedef uint64_t __attribute__((may_alias)) dev_u64;

struct vq_dev {
	/* ---- fixed at creation */
	uint16_t size;
	uint16_t mask;        /* split: size - 1 */
	uint32_t max_chain;   /* descriptors in one chain / indirect table */
	uint32_t direct_max;  /* min(max_chain, size): direct descriptors */
	bool packed;
	bool indirect;        /* VQ_F_INDIRECT negotiated */
	bool event_idx;       /* VQ_F_EVENT_IDX negotiated */
	bool in_order;        /* packed and VQ_F_IN_ORDER negotiated: used runs */
	const struct vq_mem *mem;
	void *desc;                    /* split or packed descriptors */
	struct vring_avail *avail; /* split */
	struct vring_used *used;   /* split */
	struct vring_packed_desc_event *drv_event;   /* packed: driver area, we read */
	struct vring_packed_desc_event *dev_event;   /* packed: device area, we write */

	/* ---- position */
	uint16_t avail_idx;   /* split: last_avail_idx; packed: next avail slot */
	uint16_t shadow_avail;/* split: avail->idx last read */
	uint16_t used_idx;    /* split: next used idx; packed: next used slot (staged) */
	uint16_t pub_used;    /* the same, as last published by flush */
	bool avail_wrap, used_wrap, pub_wrap;

	/* ---- packed: staged used descriptors, head flags written by flush */
	uint16_t batch_slot;
	uint16_t batch_flags;
	uint32_t batch_n;     /* pushes since the last flush (both layouts) */
	uint32_t batch_slots; /* packed: ring slots those pushes advanced */

	/* ---- packed IN_ORDER: a run of pushed buffers, one used descriptor */
	uint32_t run_n;       /* buffers in the run, 0 = none */
	uint16_t run_slot;    /* used slot of its first buffer */
	bool run_wrap;        /* used wrap counter there */
	bool run_full;        /* the last buffer's len is its whole writable length */
	uint16_t run_id;      /* id and len of its last buffer */
	uint32_t run_len;

	/* ---- notification state */
	uint16_t notify_old;   /* published used position at the last need_notify */
	bool notify_valid;     /* notify_old is meaningful (false after set_state) */
	bool kicks_enabled;
	uint32_t since_notify; /* entries (split) / slots (packed) published since */

	/* ---- in flight */
	unsigned inflight;
	uint64_t *inflight_bits; /* size bits, by head / buffer id */
	uint16_t *ndesc_of;      /* packed: slots each in-flight id took */
	uint16_t *slot_of;       /* in_order: avail slot of each in-flight id */
	uint32_t *full_len_of;   /* in_order: writable bytes of each (clamped) */
	void *scratch;           /* max_chain * 16 bytes, for copied indirect tables */
	uint64_t *pop_gpa;       /* vq_dev_pop_gpa: driver address of each iov entry */
	uint16_t peek_n;         /* buffers the last vq_dev_peek returned */
	uint16_t peek_slot;      /* and the avail slot it looked from */
	bool peek_write;         /* and whether they were writable */

	/* ---- errors */
	bool broken;
	enum vq_violation violation;
	char err[192];
};

/* One chain being turned into iovecs. */
struct vq__walk {
	struct vq_elem *e;
	uint32_t niov;      /* segments written so far */
	uint32_t out_num;
	uint32_t count;     /* descriptors seen at the current level */
	uint64_t out_len, in_len;
	bool seen_write;
	bool nobufs;        /* e->iov ran out; keep validating, then -ENOBUFS */
};

/* A descriptor read once from shared memory. */
struct vq__desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id_or_flags; /* split: flags; packed: id */
	uint16_t w3;          /* split: next;  packed: flags */
};

static inline void vq__desc_read(const void *p, struct vq__desc *d)
{
	const dev_u64 *w = p;
	/* Exactly one load of each half: a racing driver cannot make the
	 * checks and the use see different values (no double fetch). */
	uint64_t hi = __atomic_load_n(&w[1], __ATOMIC_RELAXED);

	d->addr = __atomic_load_n(&w[0], __ATOMIC_RELAXED);
	d->len = (uint32_t)hi;
	d->id_or_flags = (uint16_t)(hi >> 32);
	d->w3 = (uint16_t)(hi >> 48);
}

/* dev.c: the general case of vq__walk_seg below. */
int vq__walk_seg_slow(struct vq_dev *q, struct vq__walk *w, uint64_t addr, uint32_t len,
		      bool write);

static inline void vq__walk_init(struct vq__walk *w, struct vq_elem *e)
{
	*w = (struct vq__walk){ .e = e };
}

/*
 * Check one buffer descriptor and append its host segments to w->e->iov.
 * Returns 0 (also when iov ran out: w->nobufs), or a violation's errno.
 * Inline: the case where every check passes and the buffer lies in the
 * last-hit region; anything else (a violation, len 0, a full iov, several
 * regions) goes to vq__walk_seg_slow, which repeats every check.
 */
static inline __attribute__((always_inline))
int vq__walk_seg(struct vq_dev *q, struct vq__walk *w, uint64_t addr, uint32_t len, bool write)
{
	struct vq_elem *e = w->e;
	uint64_t end, total;
	void *hva;

	if ((!write && w->seen_write) || len == 0 || w->nobufs || w->niov >= e->iov_cap ||
	    __builtin_add_overflow(addr, (uint64_t)len, &end) ||
	    __builtin_add_overflow(w->out_len + w->in_len, (uint64_t)len, &total) ||
	    total > VQ_MAX_CHAIN_BYTES)
		return vq__walk_seg_slow(q, w, addr, len, write);
	hva = vq__mem_hint_ptr(q->mem, addr, len, write ? VQ_MEM_WRITE : VQ_MEM_READ);
	if (!hva)
		return vq__walk_seg_slow(q, w, addr, len, write);
	if (q->pop_gpa)
		q->pop_gpa[w->niov] = addr;
	e->iov[w->niov].iov_base = hva;
	e->iov[w->niov].iov_len = len;
	w->niov++;
	w->seen_write |= write;
	if (write) {
		w->in_len += len;
	} else {
		w->out_num++;
		w->out_len += len;
	}
	return 0;
}

/* Fill the element from a completed walk; -ENOBUFS if iov was too small. */
static inline int vq__walk_finish(struct vq__walk *w, uint16_t ndesc)
{
	struct vq_elem *e = w->e;

	if (w->nobufs)
		return -ENOBUFS;
	e->ndesc = ndesc;
	e->out_num = w->out_num;
	e->in_num = w->niov - w->out_num;
	e->out_len = w->out_len;
	e->in_len = w->in_len;
	return 0;
}

static inline bool vq__bit_test(const uint64_t *b, unsigned i)
{
	return (b[i >> 6] >> (i & 63)) & 1;
}

static inline void vq__bit_set(uint64_t *b, unsigned i)
{
	b[i >> 6] |= 1ull << (i & 63);
}

static inline void vq__bit_clear(uint64_t *b, unsigned i)
{
	b[i >> 6] &= ~(1ull << (i & 63));
}

/*
 * vq_dev_push's checks of a buffer the caller names: in flight, and (packed)
 * the slot count it was popped with.  0 or -EINVAL.  On 0 the buffer leaves
 * the in-flight set; the layout's push then writes its used entry.
 */
static inline __attribute__((always_inline))
int vq__push_take(struct vq_dev *q, uint16_t id, uint16_t ndesc)
{
	if (id >= q->size || !vq__bit_test(q->inflight_bits, id))
		return -EINVAL;
	if (q->packed && ndesc != q->ndesc_of[id])
		return -EINVAL;
	vq__bit_clear(q->inflight_bits, id);
	q->inflight--;
	return 0;
}

/* dev.c */
int vq__dev_fail(struct vq_dev *q, enum vq_violation v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
unsigned vq__peek_ids_marked(struct vq_dev *q, const struct vq_peeked *b, unsigned k);
int vq__dev_indirect(struct vq_dev *q, uint64_t addr, uint32_t len,
		     const void **table, uint32_t *entries);

/* dev_split.c */
int vq__split_pop(struct vq_dev *q, struct vq_elem *e);
void vq__split_push(struct vq_dev *q, uint16_t id, uint32_t len);
void vq__split_flush(struct vq_dev *q);
bool vq__split_need_notify(struct vq_dev *q, uint16_t old, uint32_t n);
void vq__split_set_notify(struct vq_dev *q, bool enable);
bool vq__split_has_avail(const struct vq_dev *q);
void vq__split_avail_event(struct vq_dev *q);
void vq__split_set_notify_after(struct vq_dev *q, uint16_t n);
bool vq__split_has_avail_n(const struct vq_dev *q, uint16_t n);
int vq__split_pop_burst(struct vq_dev *q, struct vq_elem *e, unsigned n);
int vq__split_push_burst(struct vq_dev *q, const struct vq_elem *e, const uint32_t *len,
			 unsigned n);
int vq__split_peek(struct vq_dev *q, struct vq_peeked *b, unsigned n, bool writable);
void vq__split_use_peeked(struct vq_dev *q, const struct vq_peeked *b, const uint32_t *len,
			  unsigned k);

/* dev_packed.c */
int vq__packed_pop(struct vq_dev *q, struct vq_elem *e);
void vq__packed_push(struct vq_dev *q, uint16_t id, uint16_t ndesc, uint32_t len);
void vq__packed_flush(struct vq_dev *q);
bool vq__packed_need_notify(struct vq_dev *q, uint16_t old, uint32_t n);
void vq__packed_set_notify(struct vq_dev *q, bool enable);
bool vq__packed_has_avail(const struct vq_dev *q);
void vq__packed_avail_event(struct vq_dev *q);
void vq__packed_set_notify_after(struct vq_dev *q, uint16_t n);
bool vq__packed_has_avail_n(const struct vq_dev *q, uint16_t n);
int vq__packed_pop_burst(struct vq_dev *q, struct vq_elem *e, unsigned n);
int vq__packed_peek(struct vq_dev *q, struct vq_peeked *b, unsigned n, bool writable);
void vq__packed_use_peeked(struct vq_dev *q, const struct vq_peeked *b, const uint32_t *len,
			   unsigned k);
int vq__packed_push_burst(struct vq_dev *q, const struct vq_elem *e, const uint32_t *len,
			  unsigned n);

/*
 * The k buffers of a peek, up to the first id seen twice (both available
 * at once: what pop calls an id already in flight; the queue breaks
 * there).  Ids one after another (mod size) are all different, as a peek
 * sees at most size buffers: the common case (IN_ORDER) costs a compare a
 * buffer; others are marked in the in-flight bits one by one.
 */
static inline unsigned vq__peek_ids(struct vq_dev *q, const struct vq_peeked *b, unsigned k)
{
	uint32_t want = k ? b[0].id : 0;

	for (unsigned i = 1; i < k; i++) {
		if (++want == q->size)
			want = 0;
		if (b[i].id != want)
			return vq__peek_ids_marked(q, b, k);
	}
	return k;
}

#endif
