/* SPDX-License-Identifier: MIT */
/*
 * Driver side of the ring: the queue object and what drv.c shares with
 * drv_split.c and drv_packed.c.  Not installed.
 *
 * Ids: a buffer is known by its id.  Split: the head descriptor index.
 * Packed: the buffer id written into the descriptors (with IN_ORDER, the
 * ring slot of the chain's head, so the oldest buffer is always the one at
 * the next used slot).  Per-id state lives in q->buf[], private memory the
 * device cannot touch; nothing the driver trusts is read back from the ring.
 */
#ifndef VQ_RING_DRV_INTERNAL_H
#define VQ_RING_DRV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ring_internal.h"

#define VQ__DRV_NO_TABLE UINT32_MAX

/* Per-id state of a buffer in flight. */
struct vq__drv_buf {
	void *token;      /* NULL when the id is free */
	uint32_t in_len;  /* writable bytes, clamped to UINT32_MAX */
	uint32_t seq;     /* add sequence number: published iff before q->pub_seq */
	uint32_t table;   /* indirect table index, or VQ__DRV_NO_TABLE */
	uint16_t ndesc;   /* split: descriptors in the table; packed: ring slots */
	uint16_t last;    /* split: last descriptor of the chain */
};

struct vq_drv {
	/* Configuration. */
	enum vq_layout layout;
	uint32_t size;
	uint32_t mask;      /* split: size - 1 */
	uint32_t max_chain;
	bool event_idx;
	bool in_order;

	/* Available side. */
	uint32_t num_free;  /* split: free descriptors; packed: free ring slots */
	uint16_t free_head; /* split: first free descriptor (IN_ORDER: the next one) */
	uint16_t free_id;   /* packed without IN_ORDER: first free id */
	uint16_t avail_idx; /* split: shadow avail idx; packed: next avail slot */
	bool avail_wrap;    /* packed */
	uint16_t kick_idx;  /* split: avail idx at the last publish */
	uint32_t kick_slots; /* packed: slots made available since the last kick check */
	uint32_t add_seq;   /* buffers ever added */
	uint32_t pub_seq;   /* add_seq at the last publish */
	bool pending;       /* packed: a head whose flags are not yet written */
	uint16_t pend_slot;
	uint16_t pend_flags;

	/* Used side. */
	uint32_t inflight;  /* buffers added and not yet returned */
	uint16_t last_used; /* split: next used entry; packed: next used slot */
	uint16_t used_idx;  /* split: last used->idx read (cached) */
	bool used_wrap;     /* packed */
	uint16_t oldest;    /* IN_ORDER: id of the oldest buffer in flight */
	uint32_t batch_left; /* IN_ORDER: buffers of a batched used entry still to return */
	uint32_t batch_len;  /* used length of that batch's last buffer */
	bool cb_disabled;
	uint32_t detach_pos;

	struct vq__drv_buf *buf;  /* [size] */
	uint16_t *free_next;      /* [size] private free-list links */

	/* Ring memory. */
	void *desc;
	void *avail;  /* split: struct vring_avail; packed: driver event suppression */
	void *used;   /* split: struct vring_used;  packed: device event suppression */

	/* Indirect table pool. */
	unsigned char *ind;
	uint64_t ind_gpa;
	uint32_t ind_tables;
	uint32_t ind_len;
	uint32_t ind_nfree;
	uint32_t *ind_free;       /* [ind_tables] stack of free table indexes */

	enum vq_violation violation;
	char err[160];
};

/* A chain after coalescing, before it is written. */
struct vq__drv_chain {
	const struct vq_seg *sg;
	unsigned out_num;
	unsigned total;     /* out_num + in_num */
	uint32_t ndesc;     /* descriptors after coalescing */
	uint32_t table;     /* indirect table index, or VQ__DRV_NO_TABLE */
	uint32_t in_len;    /* writable bytes, clamped */
	void *token;
};

/* Walks the segments of a chain, merging adjacent ones. */
struct vq__drv_iter {
	const struct vq_seg *sg;
	unsigned i, out_num, total;
};

/*
 * Next descriptor of the chain: segments adjacent in driver addresses and
 * of the same direction merge while the length fits in 32 bits.  The
 * segments were validated by vq__drv_plan (no zero length, no wrap).
 */
static inline bool vq__drv_next(struct vq__drv_iter *it, uint64_t *addr,
				uint32_t *len, bool *write)
{
	if (it->i >= it->total)
		return false;
	const struct vq_seg *s = &it->sg[it->i];
	uint64_t a = s->addr, l = s->len;

	*write = it->i >= it->out_num;
	for (it->i++; it->i < it->total && it->i != it->out_num; it->i++) {
		s = &it->sg[it->i];
		if (s->addr != a + l || l + s->len > UINT32_MAX)
			break;
		l += s->len;
	}
	*addr = a;
	*len = (uint32_t)l;
	return true;
}

/* A segment vq_drv_add takes: not empty, and not wrapping around. */
static inline bool vq__drv_seg_ok(const struct vq_seg *s)
{
	uint64_t end;

	return s->len != 0 && !__builtin_add_overflow(s->addr, (uint64_t)s->len, &end);
}

/* Buffers the device has been shown and not yet returned. */
static inline uint32_t vq__drv_pub_inflight(const struct vq_drv *q)
{
	return q->inflight - (q->add_seq - q->pub_seq);
}

/* May the device return this id?  In flight and published. */
static inline bool vq__drv_returnable(const struct vq_drv *q, uint32_t id)
{
	return id < q->size && q->buf[id].token &&
	       (int32_t)(q->pub_seq - q->buf[id].seq) > 0;
}

/* Record a buffer just added, with add sequence number seq (a burst loop
 * keeps the queue's in a local). */
static inline void vq__drv_buf_set(struct vq__drv_buf *b, void *token, uint32_t in_len,
				   uint32_t seq, uint32_t table, uint16_t ndesc, uint16_t last)
{
	*b = (struct vq__drv_buf){ .token = token, .in_len = in_len, .seq = seq,
				   .table = table, .ndesc = ndesc, .last = last };
}

static inline void vq__drv_set_buf(struct vq_drv *q, uint16_t id,
				   const struct vq__drv_chain *c, uint16_t ndesc, uint16_t last)
{
	vq__drv_buf_set(&q->buf[id], c->token, c->in_len, q->add_seq, c->table, ndesc, last);
}

/* Forget buffer id (its ring resources are the layout's business). */
static inline void *vq__drv_finish(struct vq_drv *q, uint16_t id)
{
	struct vq__drv_buf *b = &q->buf[id];
	void *token = b->token;

	b->token = NULL;
	if (b->table != VQ__DRV_NO_TABLE)
		q->ind_free[q->ind_nfree++] = b->table;
	q->inflight--;
	return token;
}

int vq__drv_used_bad(struct vq_drv *q, uint32_t id, uint32_t len);

/* May the device return buffer id with len bytes written?  0, or the violation. */
static inline int vq__drv_check_used(struct vq_drv *q, uint32_t id, uint32_t len)
{
	if (__builtin_expect(vq__drv_returnable(q, id) && len <= q->buf[id].in_len, 1))
		return 0;
	return vq__drv_used_bad(q, id, len);
}

/* drv.c */
int vq__drv_violate(struct vq_drv *q, enum vq_violation v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vq__drv_fill_table(struct vq_drv *q, const struct vq__drv_chain *c, uint64_t *gpa);
int vq__drv_batch_start(struct vq_drv *q, uint16_t oldest, uint16_t id, uint32_t len,
			uint32_t *n);
int vq__drv_batch_next(struct vq_drv *q, void **token, uint32_t *len);
int vq__drv_detach_scan(struct vq_drv *q);

/*
 * IN_ORDER, and every buffer in flight takes one descriptor (split) or
 * one ring slot (packed): the buffers lie at consecutive ids from the
 * oldest, and a run of them can be taken in one loop (the layouts' _run).
 */
static inline bool vq__drv_all_single(const struct vq_drv *q)
{
	return q->in_order && q->size - q->num_free == q->inflight;
}

/*
 * vq_drv_get_burst for one layout: up to n used buffers.  Under
 * vq__drv_all_single, RUN first (the layout's always-inline run: a batch in
 * progress, or a run of used entries, taken in one loop).  RUN returns how
 * many it took (0 when nothing is used yet), or a violation; it sets *walk
 * when there are entries it does not take this way, and then one buffer
 * comes from an IN_ORDER batch in progress (NEXT, the layout's batch_next)
 * or from GET (its get), as without RUN.  GET stays the authority: every
 * entry RUN does not take is walked by it, with today's checks.  Returns
 * how many were taken, or the last result (0 or -errno) when none was.
 */
static inline __attribute__((always_inline)) int
vq__drv_get_burst_with(struct vq_drv *q, void **tokens, uint32_t *lens, unsigned n,
		       int (*get)(struct vq_drv *, void **, uint32_t *),
		       int (*next)(struct vq_drv *, void **, uint32_t *),
		       int (*run)(struct vq_drv *, void **, uint32_t *, unsigned, bool *))
{
	unsigned i = 0;
	int r = 0;

	if (!q->in_order) { /* the loop without the run check */
		for (; i < n; i++) {
			r = get(q, &tokens[i], &lens[i]);
			if (r != 1)
				break;
		}
		return i ? (int)i : r;
	}
	while (i < n) {
		if (vq__drv_all_single(q)) {
			bool walk = false;

			r = run(q, tokens + i, lens + i, n - i, &walk);
			if (r < 0)
				break;
			i += (unsigned)r;
			if (!walk) {
				if (r == 0)
					break;
				continue;
			}
			if (i == n)
				break;
		}
		r = q->batch_left ? next(q, &tokens[i], &lens[i]) : get(q, &tokens[i], &lens[i]);
		if (r != 1)
			break;
		i++;
	}
	return i ? (int)i : r;
}

/*
 * The calls drv.c makes into one layout, around its always-inline get,
 * batch_next, run, is_idle and add1 (L_get, L_batch_next, L_run,
 * L_is_idle, L_add1 in drv_L.c; is_idle: nothing used to take, looked at
 * before the burst loop, out of line, sets up its frame: an empty poll is
 * cheap):
 * vq__drv_L_get and vq__drv_L_add1 for the
 * single calls, and vq__drv_L_get_burst with the loop inlined.  Instantiated
 * once in each layout's file, which defines its vq__drv_L_add_burst itself.
 */
#define VQ__DRV_LAYOUT_CALLS(L)                                                              \
	int vq__drv_##L##_get(struct vq_drv *q, void **token, uint32_t *len)                 \
	{                                                                                    \
		return L##_get(q, token, len);                                               \
	}                                                                                    \
	static __attribute__((noinline)) int                                                 \
	vq__drv_##L##_get_loop(struct vq_drv *q, void **tokens, uint32_t *lens, unsigned n)  \
	{                                                                                    \
		return vq__drv_get_burst_with(q, tokens, lens, n, L##_get, L##_batch_next,   \
					      L##_run);                                      \
	}                                                                                    \
	int vq__drv_##L##_get_burst(struct vq_drv *q, void **tokens, uint32_t *lens,         \
				    unsigned n)                                              \
	{                                                                                    \
		return L##_is_idle(q) ? 0 : vq__drv_##L##_get_loop(q, tokens, lens, n);     \
	}                                                                                    \
	void vq__drv_##L##_add1(struct vq_drv *q, const struct vq_seg *s, bool write,        \
				void *token)                                                 \
	{                                                                                    \
		L##_add1(q, s, write, token);                                                \
	}

/* drv_split.c */
void vq__drv_split_init(struct vq_drv *q);
void vq__drv_split_add(struct vq_drv *q, const struct vq__drv_chain *c);
void vq__drv_split_add1(struct vq_drv *q, const struct vq_seg *s, bool write, void *token);
bool vq__drv_split_kick_prepare(struct vq_drv *q);
int vq__drv_split_complete(struct vq_drv *q, uint16_t id, uint32_t len, void **token,
			   uint32_t *plen);
int vq__drv_split_get(struct vq_drv *q, void **token, uint32_t *len);
int vq__drv_split_get_burst(struct vq_drv *q, void **tokens, uint32_t *lens, unsigned n);
int vq__drv_split_add_burst(struct vq_drv *q, const struct vq_seg *seg, unsigned n, bool write,
			 void *const *tokens);
void *vq__drv_split_detach(struct vq_drv *q);
void vq__drv_split_disable_notify(struct vq_drv *q);
bool vq__drv_split_enable_notify(struct vq_drv *q);
bool vq__drv_split_enable_notify_after(struct vq_drv *q, uint16_t n);

/* drv_packed.c */
void vq__drv_packed_init(struct vq_drv *q);
void vq__drv_packed_add(struct vq_drv *q, const struct vq__drv_chain *c);
void vq__drv_packed_add1(struct vq_drv *q, const struct vq_seg *s, bool write, void *token);
bool vq__drv_packed_kick_prepare(struct vq_drv *q);
int vq__drv_packed_complete(struct vq_drv *q, uint16_t id, uint32_t len, void **token,
			    uint32_t *plen);
int vq__drv_packed_get(struct vq_drv *q, void **token, uint32_t *len);
int vq__drv_packed_get_burst(struct vq_drv *q, void **tokens, uint32_t *lens, unsigned n);
int vq__drv_packed_add_burst(struct vq_drv *q, const struct vq_seg *seg, unsigned n, bool write,
			 void *const *tokens);
void *vq__drv_packed_detach(struct vq_drv *q);
void vq__drv_packed_disable_notify(struct vq_drv *q);
bool vq__drv_packed_enable_notify(struct vq_drv *q);
bool vq__drv_packed_enable_notify_after(struct vq_drv *q, uint16_t n);

#endif /* VQ_RING_DRV_INTERNAL_H */
