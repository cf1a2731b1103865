/* SPDX-License-Identifier: MIT */
/*
 * Driver side of a virtqueue, layout-independent part: creation, the
 * indirect-table pool, planning a chain (validation and coalescing), the
 * per-id token table and the sticky broken state.  The ring layouts live in
 * drv_split.c and drv_packed.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "drv_internal.h"

/* ---- errors */

int vq__drv_violate(struct vq_drv *q, enum vq_violation v, const char *fmt, ...)
{
	va_list ap;

	if (q->violation == VQ_OK) {
		int n = snprintf(q->err, sizeof(q->err), "%s: ", vq_violation_str(v));

		va_start(ap, fmt);
		if (n > 0 && (size_t)n < sizeof(q->err))
			vsnprintf(q->err + n, sizeof(q->err) - (size_t)n, fmt, ap);
		va_end(ap);
		q->violation = v;
	}
	return vq_violation_errno(v);
}

bool vq_drv_is_broken(const struct vq_drv *q)
{
	return q->violation != VQ_OK;
}

enum vq_violation vq_drv_violation(const struct vq_drv *q)
{
	return q->violation;
}

const char *vq_drv_error(const struct vq_drv *q)
{
	return q->violation == VQ_OK ? "" : q->err;
}

/* ---- indirect table pool */

static void *drv_table(const struct vq_drv *q, uint32_t table, uint64_t *gpa)
{
	/* No overflow: tables * len * 16 was checked by drv_pool_init. */
	uint64_t off = (uint64_t)table * q->ind_len * sizeof(struct vring_desc);

	*gpa = q->ind_gpa + off;
	return q->ind + off;
}

/*
 * Fill chain c's indirect table (2.7.5.3, 2.8.7), one descriptor per
 * segment in the queue's format, and give its guest address in *gpa.  Split
 * descriptors are linked by next and NEXT; packed ones follow each other,
 * with only WRITE valid and the id reserved.  Both are 16 bytes.
 */
void vq__drv_fill_table(struct vq_drv *q, const struct vq__drv_chain *c, uint64_t *gpa)
{
	void *t = drv_table(q, c->table, gpa);
	struct vq__drv_iter it = { c->sg, 0, c->out_num, c->total };
	uint64_t addr;
	uint32_t len, k = 0;
	bool write;

	while (vq__drv_next(&it, &addr, &len, &write)) {
		uint16_t wf = write ? VRING_DESC_F_WRITE : 0;

		if (q->layout == VQ_LAYOUT_SPLIT) {
			struct vring_desc *d = (struct vring_desc *)t + k;

			d->addr = addr;
			d->len = len;
			d->flags = (uint16_t)(wf | (k + 1 < c->ndesc ? VRING_DESC_F_NEXT : 0));
			d->next = (uint16_t)(k + 1);
		} else {
			struct vring_packed_desc *d = (struct vring_packed_desc *)t + k;

			d->addr = addr;
			d->len = len;
			d->id = 0;
			d->flags = wf;
		}
		k++;
	}
}

static int drv_pool_init(struct vq_drv *q, const struct vq_drv_params *cfg)
{
	uint64_t bytes, end;

	if (!(cfg->ring.features & VQ_F_INDIRECT) || cfg->indirect_tables == 0)
		return 0; /* no pool: every chain uses direct descriptors */
	if (!cfg->indirect || cfg->indirect_len == 0)
		return -EINVAL;
	if (__builtin_mul_overflow((uint64_t)cfg->indirect_tables, cfg->indirect_len, &bytes) ||
	    __builtin_mul_overflow(bytes, sizeof(struct vring_desc), &bytes) ||
	    bytes > SIZE_MAX ||
	    __builtin_add_overflow(cfg->indirect_gpa, bytes, &end) ||
	    __builtin_add_overflow((uintptr_t)cfg->indirect, bytes, &end))
		return -EINVAL;
	q->ind_free = calloc(cfg->indirect_tables, sizeof(*q->ind_free));
	if (!q->ind_free)
		return -ENOMEM;
	q->ind = cfg->indirect;
	q->ind_gpa = cfg->indirect_gpa;
	q->ind_tables = cfg->indirect_tables;
	q->ind_len = cfg->indirect_len;
	/* Hand out table 0 first. */
	for (uint32_t i = 0; i < q->ind_tables; i++)
		q->ind_free[i] = q->ind_tables - 1 - i;
	q->ind_nfree = q->ind_tables;
	return 0;
}

/* ---- creation */

static int drv_check_config(const struct vq_drv_params *cfg, uint32_t *max_chain)
{
	const struct vq_ring_params *rc = &cfg->ring;
	struct vq_ring_layout lay;
	uint32_t mc = rc->max_chain ? rc->max_chain : rc->size;

	if (vq_ring_layout(rc->layout, rc->size, &lay) < 0)
		return -EINVAL;
	if (!rc->desc || !rc->avail || !rc->used)
		return -EINVAL;
	/* The spec's alignments (split 16/2/4, packed 16/4/4). */
	if (((uintptr_t)rc->desc & 15) || ((uintptr_t)rc->used & 3) ||
	    ((uintptr_t)rc->avail & (rc->layout == VQ_LAYOUT_SPLIT ? 1 : 3)))
		return -EINVAL;
	if (mc > VQ_MAX_CHAIN)
		return -EINVAL;
	if (mc > rc->size && !(rc->features & VQ_F_LARGE_CHAIN))
		return -EINVAL;
	*max_chain = mc;
	return 0;
}

int vq_drv_new(const struct vq_drv_params *cfg, struct vq_drv **out)
{
	struct vq_drv *q;
	uint32_t max_chain;
	int r;

	if (!cfg || !out)
		return -EINVAL;
	r = drv_check_config(cfg, &max_chain);
	if (r < 0)
		return r;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->layout = cfg->ring.layout;
	q->size = cfg->ring.size;
	q->mask = q->size - 1;
	q->max_chain = max_chain;
	q->event_idx = cfg->ring.features & VQ_F_EVENT_IDX;
	q->in_order = cfg->ring.features & VQ_F_IN_ORDER;
	q->desc = cfg->ring.desc;
	q->avail = cfg->ring.avail;
	q->used = cfg->ring.used;
	q->buf = calloc(q->size, sizeof(*q->buf));
	q->free_next = calloc(q->size, sizeof(*q->free_next));
	r = (q->buf && q->free_next) ? drv_pool_init(q, cfg) : -ENOMEM;
	if (r < 0) {
		vq_drv_free(q);
		return r;
	}
	if (q->layout == VQ_LAYOUT_SPLIT)
		vq__drv_split_init(q);
	else
		vq__drv_packed_init(q);
	*out = q;
	return 0;
}

void vq_drv_free(struct vq_drv *q)
{
	if (!q)
		return;
	free(q->ind_free);
	free(q->free_next);
	free(q->buf);
	free(q);
}

/* ---- adding a buffer */

/*
 * Validate the segments and count the descriptors they need after
 * coalescing (the same rule as vq__drv_next).  -EINVAL for a zero length,
 * a segment that wraps, or more than VQ_MAX_CHAIN_BYTES in total.
 */
static int drv_plan(struct vq__drv_chain *c)
{
	uint64_t bytes = 0, in_bytes = 0, prev_end = 0;
	uint64_t cur = 0;
	uint32_t n = 0;

	for (unsigned i = 0; i < c->total; i++) {
		const struct vq_seg *s = &c->sg[i];
		uint64_t end;

		if (s->len == 0 || __builtin_add_overflow(s->addr, (uint64_t)s->len, &end))
			return -EINVAL;
		bytes += s->len;
		if (bytes > VQ_MAX_CHAIN_BYTES)
			return -EINVAL;
		if (i >= c->out_num)
			in_bytes += s->len;
		if (i != 0 && i != c->out_num && s->addr == prev_end &&
		    cur + s->len <= UINT32_MAX) {
			cur += s->len;
		} else {
			n++;
			cur = s->len;
		}
		prev_end = end;
	}
	c->ndesc = n;
	c->in_len = in_bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)in_bytes;
	return 0;
}

/*
 * Indirect table or direct descriptors?  An indirect table for chains of
 * more than one descriptor when one is free and large enough; otherwise
 * direct descriptors when they fit now.  -E2BIG when the chain can never
 * be added, -ENOSPC when it cannot be added now.
 */
static int drv_choose(struct vq_drv *q, struct vq__drv_chain *c)
{
	c->table = VQ__DRV_NO_TABLE;
	if (c->ndesc > q->max_chain)
		return -E2BIG;
	if (c->ndesc > 1 && c->ndesc <= q->ind_len && q->ind_nfree > 0 && q->num_free > 0) {
		c->table = q->ind_free[--q->ind_nfree];
		return 0;
	}
	if (c->ndesc <= q->num_free)
		return 0;
	if (c->ndesc > q->size && c->ndesc > q->ind_len)
		return -E2BIG;
	return -ENOSPC;
}

/*
 * One segment (the common case): the checks of drv_plan and drv_choose for
 * a single descriptor, which never goes into an indirect table.
 */
static int drv_add1(struct vq_drv *q, const struct vq_seg *s, bool write, void *token)
{
	if (!vq__drv_seg_ok(s))
		return -EINVAL;
	if (q->num_free == 0)
		return -ENOSPC;
	if (q->layout == VQ_LAYOUT_SPLIT)
		vq__drv_split_add1(q, s, write, token);
	else
		vq__drv_packed_add1(q, s, write, token);
	q->add_seq++;
	q->inflight++;
	return 0;
}

/* Several segments: plan (validate, coalesce), choose, write.  Out of
 * line so that the one-segment path does not pay for its frame. */
static __attribute__((noinline)) int drv_add_chain(struct vq_drv *q, const struct vq_seg *sg,
						   unsigned out_num, unsigned total, void *token)
{
	struct vq__drv_chain c = { .sg = sg, .out_num = out_num, .total = total,
				   .token = token };
	int r;

	r = drv_plan(&c);
	if (r < 0)
		return r;
	r = drv_choose(q, &c);
	if (r < 0)
		return r;
	if (q->layout == VQ_LAYOUT_SPLIT)
		vq__drv_split_add(q, &c);
	else
		vq__drv_packed_add(q, &c);
	q->add_seq++;
	q->inflight++;
	return 0;
}

int vq_drv_add(struct vq_drv *q, const struct vq_seg *sg, unsigned out_num,
	       unsigned in_num, void *token)
{
	unsigned total;

	if (q->violation != VQ_OK)
		return -EIO;
	if (!token || !sg || __builtin_add_overflow(out_num, in_num, &total) || total == 0)
		return -EINVAL;
	if (total == 1)
		return drv_add1(q, sg, in_num == 1, token);
	return drv_add_chain(q, sg, out_num, total, token);
}

/* ---- used buffers: the checks and the IN_ORDER batches both layouts share */

/* The violation vq__drv_check_used found: the id, else the length. */
int vq__drv_used_bad(struct vq_drv *q, uint32_t id, uint32_t len)
{
	if (!vq__drv_returnable(q, id))
		return vq__drv_violate(q, VQ_ERR_USED_ID, "used id %u is not a buffer in flight", id);
	return vq__drv_violate(q, VQ_ERR_USED_LEN,
			       "used len %u for id %u exceeds its %u writable bytes",
			       len, id, q->buf[id].in_len);
}

/*
 * IN_ORDER (2.7.9, 2.8.9): a used entry naming id, not the oldest buffer,
 * returns every buffer from the oldest up to id, the last with len bytes
 * written and the others whole.  *n: how many.  A walk that leaves the
 * published buffers in flight without meeting id is a violation.  The next
 * buffer's id is the ring position after this one's descriptors (split:
 * the head index; packed: the head slot).
 */
int vq__drv_batch_start(struct vq_drv *q, uint16_t oldest, uint16_t id, uint32_t len,
			uint32_t *n)
{
	uint32_t k = 1, limit = vq__drv_pub_inflight(q), h = oldest;

	/* Every buffer in flight one descriptor (slot): they lie at oldest,
	 * oldest + 1, ... and id is the k-th, no walk (id is one: checked). */
	if (q->size - q->num_free == q->inflight) {
		k = (id >= oldest ? (uint32_t)id - oldest : id + q->size - oldest) + 1u;
		h = id;
	}
	if (k > limit)
		return vq__drv_violate(q, VQ_ERR_USED_ID, "used id %u is not a buffer in flight", id);
	while (h != id) {
		h += q->buf[h].ndesc;
		if (h >= q->size)
			h -= q->size;
		if (++k > limit || !q->buf[h].token)
			return vq__drv_violate(q, VQ_ERR_USED_ID,
					       "used id %u is not a buffer in flight", id);
	}
	q->batch_left = *n = k;
	q->batch_len = len;
	return 0;
}

/* IN_ORDER: return the next (oldest) buffer of the batch being returned. */
int vq__drv_batch_next(struct vq_drv *q, void **token, uint32_t *len)
{
	bool split = q->layout == VQ_LAYOUT_SPLIT;
	uint16_t id = split ? q->oldest : q->last_used;
	uint32_t l = q->batch_left == 1 ? q->batch_len : q->buf[id].in_len;

	q->batch_left--;
	if (split)
		return vq__drv_split_complete(q, id, l, token, len);
	return vq__drv_packed_complete(q, id, l, token, len);
}

/* Not IN_ORDER, at teardown: the next id in flight, round robin; -1 when none. */
int vq__drv_detach_scan(struct vq_drv *q)
{
	for (uint32_t n = 0; n < q->size; n++) {
		uint32_t id = q->detach_pos++;

		if (q->detach_pos >= q->size)
			q->detach_pos = 0;
		if (q->buf[id].token)
			return (int)id;
	}
	return -1;
}

int vq_drv_add_burst(struct vq_drv *q, const struct vq_seg *seg, unsigned n, bool write,
		     void *const *tokens)
{
	if (q->violation != VQ_OK)
		return -EIO;
	if (!seg || !tokens)
		return -EINVAL;
	if (q->layout == VQ_LAYOUT_SPLIT)
		return vq__drv_split_add_burst(q, seg, n, write, tokens);
	return vq__drv_packed_add_burst(q, seg, n, write, tokens);
}

int vq_drv_get_burst(struct vq_drv *q, void **tokens, uint32_t *lens, unsigned n)
{
	if (q->violation != VQ_OK)
		return -EIO;
	if (!tokens || !lens)
		return -EINVAL;
	if (q->layout == VQ_LAYOUT_SPLIT)
		return vq__drv_split_get_burst(q, tokens, lens, n);
	return vq__drv_packed_get_burst(q, tokens, lens, n);
}

/* ---- the rest of the API, by layout */

bool vq_drv_kick_prepare(struct vq_drv *q)
{
	if (q->violation != VQ_OK)
		return false;
	if (q->layout == VQ_LAYOUT_SPLIT)
		return vq__drv_split_kick_prepare(q);
	return vq__drv_packed_kick_prepare(q);
}

int vq_drv_get(struct vq_drv *q, void **token, uint32_t *len)
{
	if (q->violation != VQ_OK)
		return -EIO;
	if (!token || !len)
		return -EINVAL;
	if (q->batch_left)
		return vq__drv_batch_next(q, token, len);
	if (q->layout == VQ_LAYOUT_SPLIT)
		return vq__drv_split_get(q, token, len);
	return vq__drv_packed_get(q, token, len);
}

void *vq_drv_detach(struct vq_drv *q)
{
	if (q->inflight == 0)
		return NULL;
	if (q->layout == VQ_LAYOUT_SPLIT)
		return vq__drv_split_detach(q);
	return vq__drv_packed_detach(q);
}

unsigned vq_drv_nfree(const struct vq_drv *q)
{
	return q->num_free;
}

void vq_drv_disable_notify(struct vq_drv *q)
{
	if (q->layout == VQ_LAYOUT_SPLIT)
		vq__drv_split_disable_notify(q);
	else
		vq__drv_packed_disable_notify(q);
}

bool vq_drv_enable_notify(struct vq_drv *q)
{
	if (q->violation != VQ_OK)
		return true; /* look again: the next get reports -EIO */
	if (q->layout == VQ_LAYOUT_SPLIT)
		return vq__drv_split_enable_notify(q);
	return vq__drv_packed_enable_notify(q);
}

bool vq_drv_enable_notify_after(struct vq_drv *q, unsigned n)
{
	/* What the device was shown: buffers (split) or ring slots (packed;
	 * the buffers' count when some are not yet published: fewer). */
	uint32_t shown = vq__drv_pub_inflight(q);

	if (q->violation != VQ_OK)
		return true; /* look again: the next get reports -EIO */
	if (q->layout == VQ_LAYOUT_PACKED && q->add_seq == q->pub_seq)
		shown = q->size - q->num_free;
	n = n < shown ? n : shown; /* their completion always signals */
	if (n <= 1 || !q->event_idx || q->in_order || q->batch_left)
		return vq_drv_enable_notify(q);
	if (q->layout == VQ_LAYOUT_SPLIT)
		return vq__drv_split_enable_notify_after(q, (uint16_t)n);
	return vq__drv_packed_enable_notify_after(q, (uint16_t)n);
}
