/* SPDX-License-Identifier: MIT */
/*
 * Device side of the ring, common part: creation, state, errors, and the
 * checks that turn one descriptor into iovecs.  The layouts live in
 * dev_split.c and dev_packed.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem_internal.h"
#include "ring/dev_internal.h"

/* ---- errors */

int vq__dev_fail(struct vq_dev *q, enum vq_violation v, const char *fmt, ...)
{
	va_list ap;
	int n;

	q->broken = true;
	q->violation = v;
	n = snprintf(q->err, sizeof(q->err), "%s: ", vq_violation_str(v));
	if (n < 0 || (size_t)n >= sizeof(q->err))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(q->err + n, sizeof(q->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return vq_violation_errno(v);
}

bool vq_dev_is_broken(const struct vq_dev *q)
{
	return q->broken;
}

uint32_t vq_dev_size(const struct vq_dev *q)
{
	return q->size;
}

const struct vq_mem *vq_dev_mem(const struct vq_dev *q)
{
	return q->mem;
}

enum vq_violation vq_dev_violation(const struct vq_dev *q)
{
	return q->violation;
}

const char *vq_dev_error(const struct vq_dev *q)
{
	return q->broken ? q->err : "";
}

/* ---- creation */

static int check_config(const struct vq_ring_params *cfg, uint32_t *max_chain)
{
	struct vq_ring_layout lay;
	uint32_t mc = cfg->max_chain ? cfg->max_chain : cfg->size;

	if (vq_ring_layout(cfg->layout, cfg->size, &lay))
		return -EINVAL;
	if (!cfg->desc || !cfg->avail || !cfg->used)
		return -EINVAL;
	/* Spec alignments (split 16/2/4, packed 16/4/4). */
	if (((uintptr_t)cfg->desc & 15) || ((uintptr_t)cfg->used & 3) ||
	    ((uintptr_t)cfg->avail & (cfg->layout == VQ_LAYOUT_SPLIT ? 1 : 3)))
		return -EINVAL;
	if (mc > VQ_MAX_CHAIN)
		return -EINVAL;
	if (mc > cfg->size && !(cfg->features & VQ_F_LARGE_CHAIN))
		return -EINVAL;
	*max_chain = mc;
	return 0;
}

int vq_dev_new(const struct vq_ring_params *cfg, const struct vq_mem *mem,
	       struct vq_dev **out)
{
	struct vq_dev *q;
	uint32_t mc;
	size_t words;

	if (!cfg || !mem || !out || check_config(cfg, &mc))
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	words = (cfg->size + 63u) / 64u;
	q->inflight_bits = calloc(words, sizeof(uint64_t));
	q->ndesc_of = calloc(cfg->size, sizeof(uint16_t));
	q->in_order = cfg->layout == VQ_LAYOUT_PACKED && (cfg->features & VQ_F_IN_ORDER);
	if (q->in_order) {
		q->slot_of = calloc(cfg->size, sizeof(uint16_t));
		q->full_len_of = calloc(cfg->size, sizeof(uint32_t));
	}
	if (!q->inflight_bits || !q->ndesc_of ||
	    (q->in_order && (!q->slot_of || !q->full_len_of))) {
		vq_dev_free(q);
		return -ENOMEM;
	}
	q->size = (uint16_t)cfg->size;
	q->mask = (uint16_t)(cfg->size - 1);
	q->max_chain = mc;
	q->direct_max = mc < cfg->size ? mc : cfg->size;
	q->packed = cfg->layout == VQ_LAYOUT_PACKED;
	q->indirect = cfg->features & VQ_F_INDIRECT;
	q->event_idx = cfg->features & VQ_F_EVENT_IDX;
	q->mem = mem;
	q->desc = cfg->desc;
	if (q->packed) {
		q->drv_event = cfg->avail;
		q->dev_event = cfg->used;
	} else {
		q->avail = cfg->avail;
		q->used = cfg->used;
	}
	q->avail_wrap = q->used_wrap = q->pub_wrap = true;
	q->notify_valid = true;
	q->kicks_enabled = true;
	*out = q;
	return 0;
}

void vq_dev_free(struct vq_dev *q)
{
	if (!q)
		return;
	free(q->inflight_bits);
	free(q->ndesc_of);
	free(q->slot_of);
	free(q->full_len_of);
	free(q->scratch);
	free(q);
}

/* ---- chain walking */

static int seg_fault(struct vq_dev *q, int rc, uint64_t addr, uint32_t len, bool write)
{
	if (rc == -EOVERFLOW)
		return vq__dev_fail(q, VQ_ERR_ADDR_OVERFLOW,
				    "addr 0x%llx + len %u wraps",
				    (unsigned long long)addr, len);
	if (rc == -EACCES && write)
		return vq__dev_fail(q, VQ_ERR_WRITE_RO,
				    "writable buffer 0x%llx len %u is in read-only memory",
				    (unsigned long long)addr, len);
	return vq__dev_fail(q, VQ_ERR_ADDR_UNMAPPED,
			    "%s buffer 0x%llx len %u is not in %s guest memory",
			    write ? "writable" : "readable", (unsigned long long)addr,
			    len, write ? "writable" : "readable");
}

/*
 * Check one buffer descriptor and append its host segments to w->e->iov.
 * Returns 0 (also when iov ran out: w->nobufs), or a violation's errno.
 * The general case of vq__walk_seg: every check, every outcome.
 */
int vq__walk_seg_slow(struct vq_dev *q, struct vq__walk *w, uint64_t addr, uint32_t len,
		      bool write)
{
	struct vq_elem *e = w->e;
	uint64_t end, total;
	uint32_t cap;
	int rc;

	if (!write && w->seen_write)
		return vq__dev_fail(q, VQ_ERR_READ_AFTER_WRITE,
				    "readable descriptor 0x%llx len %u after a writable one",
				    (unsigned long long)addr, len);
	w->seen_write |= write;
	if (__builtin_add_overflow(addr, (uint64_t)len, &end))
		return seg_fault(q, -EOVERFLOW, addr, len, write);
	if (__builtin_add_overflow(w->out_len + w->in_len, (uint64_t)len, &total) ||
	    total > VQ_MAX_CHAIN_BYTES)
		return vq__dev_fail(q, VQ_ERR_CHAIN_BYTES,
				    "chain of %llu bytes > %llu",
				    (unsigned long long)total, VQ_MAX_CHAIN_BYTES);
	if (len == 0)
		return 0; /* legal, and yields no segment */
	cap = w->nobufs ? 0 : e->iov_cap - w->niov;
	rc = vq_mem_translate(q->mem, addr, len, write ? VQ_MEM_WRITE : VQ_MEM_READ,
			      cap ? e->iov + w->niov : NULL, cap);
	if (rc == -ENOBUFS) {
		w->nobufs = true;
		rc = 0;
	} else if (rc < 0) {
		return seg_fault(q, rc, addr, len, write);
	}
	if (q->pop_gpa && rc > 0) {
		uint64_t a = addr;

		for (int i = 0; i < rc; i++) {
			q->pop_gpa[w->niov + i] = a;
			a += e->iov[w->niov + i].iov_len;
		}
	}
	w->niov += (uint32_t)rc;
	if (write) {
		w->in_len += len;
	} else {
		w->out_num += (uint32_t)rc;
		w->out_len += len;
	}
	return 0;
}

static int indirect_copy(struct vq_dev *q, uint64_t addr, uint32_t len)
{
	int rc;

	if (!q->scratch) {
		/* Lazily, once: only tables that span regions need it. */
		q->scratch = malloc((size_t)q->max_chain * 16u);
		if (!q->scratch)
			return -ENOMEM;
	}
	rc = vq__mem_read(q->mem, addr, q->scratch, len);
	if (rc == -EOVERFLOW)
		return vq__dev_fail(q, VQ_ERR_ADDR_OVERFLOW,
				    "indirect table 0x%llx + len %u wraps",
				    (unsigned long long)addr, len);
	if (rc)
		return vq__dev_fail(q, VQ_ERR_ADDR_UNMAPPED,
				    "indirect table 0x%llx len %u is not in readable guest memory",
				    (unsigned long long)addr, len);
	return 0;
}

/*
 * Validate an indirect descriptor's table and make it readable: in place
 * when it is contiguous (and 8-byte aligned) in host memory, else copied
 * into the queue's scratch buffer.  Returns 0, -ENOMEM (nothing consumed,
 * queue not broken), or a violation's errno.
 */
int vq__dev_indirect(struct vq_dev *q, uint64_t addr, uint32_t len,
		     const void **table, uint32_t *entries)
{
	void *p;
	int rc;

	if (len == 0 || (len & 15))
		return vq__dev_fail(q, VQ_ERR_INDIRECT_LEN,
				    "indirect table length %u is zero or not a multiple of 16",
				    len);
	if ((len >> 4) > q->max_chain)
		return vq__dev_fail(q, VQ_ERR_CHAIN_LEN,
				    "indirect table of %u descriptors > max chain %u",
				    len >> 4, q->max_chain);
	p = vq_mem_ptr(q->mem, addr, len, VQ_MEM_READ);
	if (!p || ((uintptr_t)p & 7)) {
		rc = indirect_copy(q, addr, len);
		if (rc)
			return rc;
		p = q->scratch;
	}
	*table = p;
	*entries = len >> 4;
	return 0;
}

/* ---- public entry points */

int vq_dev_pop(struct vq_dev *q, struct vq_elem *e)
{
	if (q->broken)
		return -EIO;
	if (!e)
		return -EINVAL;
	return q->packed ? vq__packed_pop(q, e) : vq__split_pop(q, e);
}

int vq_dev_pop_gpa(struct vq_dev *q, struct vq_elem *e, uint64_t *gpa)
{
	int rc;

	if (!gpa)
		return -EINVAL;
	q->pop_gpa = gpa;
	rc = vq_dev_pop(q, e);
	q->pop_gpa = NULL;
	return rc;
}

/* vq_dev_push_id after its broken check (shared with vq_dev_push). */
static inline int dev_push(struct vq_dev *q, uint16_t id, uint16_t ndesc, uint32_t len)
{
	if (vq__push_take(q, id, ndesc))
		return -EINVAL;
	if (q->packed)
		vq__packed_push(q, id, ndesc, len);
	else
		vq__split_push(q, id, len);
	return 0;
}

int vq_dev_push_id(struct vq_dev *q, uint16_t id, uint16_t ndesc, uint32_t len)
{
	if (q->broken)
		return -EIO;
	return dev_push(q, id, ndesc, len);
}

int vq_dev_push(struct vq_dev *q, const struct vq_elem *e, uint32_t len)
{
	if (q->broken)
		return -EIO;
	if (!e || len > e->in_len)
		return -EINVAL;
	return dev_push(q, e->id, e->ndesc, len);
}

int vq_dev_pop_burst(struct vq_dev *q, struct vq_elem *e, unsigned n)
{
	bool kicks = q->kicks_enabled;
	int rc;

	if (q->broken)
		return -EIO;
	if (!e)
		return -EINVAL;
	q->kicks_enabled = false; /* the event index moves once, after the burst */
	rc = q->packed ? vq__packed_pop_burst(q, e, n) : vq__split_pop_burst(q, e, n);
	q->kicks_enabled = kicks;
	if (rc > 0 && kicks && q->event_idx && !q->broken) {
		if (q->packed)
			vq__packed_avail_event(q);
		else
			vq__split_avail_event(q);
	}
	return rc;
}

/* vq__peek_ids when the ids are not one after another: the in-flight bits
 * mark them one by one (clear again after). */
unsigned vq__peek_ids_marked(struct vq_dev *q, const struct vq_peeked *b, unsigned k)
{
	unsigned i;

	for (i = 0; i < k; i++) {
		if (vq__bit_test(q->inflight_bits, b[i].id)) {
			vq__dev_fail(q, VQ_ERR_ID_IN_USE,
				     "buffer id %u available twice in one peek (buffer %u of it, from avail position %u)",
				     b[i].id, i, q->avail_idx);
			break;
		}
		vq__bit_set(q->inflight_bits, b[i].id);
	}
	for (unsigned j = 0; j < i; j++)
		vq__bit_clear(q->inflight_bits, b[j].id);
	return i;
}

int vq_dev_peek(struct vq_dev *q, struct vq_peeked *b, unsigned n, bool writable)
{
	if (q->broken)
		return -EIO;
	if (!b)
		return -EINVAL;
	return q->packed ? vq__packed_peek(q, b, n, writable) : vq__split_peek(q, b, n, writable);
}

int vq_dev_use_peeked(struct vq_dev *q, const struct vq_peeked *b, const uint32_t *len,
		      unsigned k)
{
	if (q->broken)
		return -EIO;
	if (!b || !len || k > q->peek_n || q->inflight || q->avail_idx != q->peek_slot)
		return -EINVAL;
	for (unsigned i = 0; i < k; i++)
		if (b[i].id >= q->size || len[i] > (q->peek_write ? b[i].len : 0))
			return -EINVAL;
	if (k == 0)
		return 0;
	if (q->packed)
		vq__packed_use_peeked(q, b, len, k);
	else
		vq__split_use_peeked(q, b, len, k);
	if (q->kicks_enabled && q->event_idx) {
		if (q->packed)
			vq__packed_avail_event(q);
		else
			vq__split_avail_event(q);
	}
	return 0;
}

int vq_dev_push_burst(struct vq_dev *q, const struct vq_elem *e, const uint32_t *len,
		      unsigned n)
{
	if (q->broken)
		return -EIO;
	if (!e || !len)
		return -EINVAL;
	return q->packed ? vq__packed_push_burst(q, e, len, n) : vq__split_push_burst(q, e, len, n);
}

/* A broken queue stops touching shared memory: flush and notify do nothing. */
void vq_dev_flush(struct vq_dev *q)
{
	if (q->broken)
		return;
	if (q->packed)
		vq__packed_flush(q);
	else
		vq__split_flush(q);
}

bool vq_dev_need_notify(struct vq_dev *q)
{
	uint16_t old = q->notify_old;
	uint32_t n = q->since_notify;
	bool valid = q->notify_valid;

	if (q->broken)
		return false;
	q->notify_old = q->pub_used;
	q->since_notify = 0;
	q->notify_valid = true;
	if (n == 0)
		return false;
	if (!valid)
		n = UINT32_MAX; /* position restored: old unknown, notify */
	return q->packed ? vq__packed_need_notify(q, old, n)
			 : vq__split_need_notify(q, old, n);
}

void vq_dev_disable_notify(struct vq_dev *q)
{
	if (q->broken)
		return;
	q->kicks_enabled = false;
	if (q->packed)
		vq__packed_set_notify(q, false);
	else
		vq__split_set_notify(q, false);
}

bool vq_dev_enable_notify(struct vq_dev *q)
{
	if (q->broken)
		return true; /* look again: the next pop reports -EIO */
	q->kicks_enabled = true;
	if (q->packed)
		vq__packed_set_notify(q, true);
	else
		vq__split_set_notify(q, true);
	/*
	 * Full barrier: our suppression update above must be visible before
	 * we re-read the ring.  Pairs with the driver's full barrier between
	 * publishing buffers (avail->idx / descriptor flags) and reading the
	 * suppression (used->flags, avail_event / device event).  Either the
	 * driver sees kicks enabled, or we see its buffers here.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vq_dev_has_avail(q);
}

bool vq_dev_enable_notify_after(struct vq_dev *q, unsigned n)
{
	uint16_t k;

	if (q->broken)
		return true; /* look again: the next pop reports -EIO */
	if (n <= 1 || !q->event_idx)
		return vq_dev_enable_notify(q);
	k = (uint16_t)(n < q->size ? n : q->size);
	q->kicks_enabled = true; /* a pop moves the event back to plain */
	if (q->packed)
		vq__packed_set_notify_after(q, k);
	else
		vq__split_set_notify_after(q, k);
	/*
	 * Full barrier: the event index k - 1 ahead is visible before we
	 * re-read the ring.  Pairs with the driver's full barrier between
	 * publishing buffers and reading avail_event / the device event
	 * (vq_drv_kick_prepare).  Either the driver sees the new event and
	 * kicks when it passes it, or we see that it already has.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return q->packed ? vq__packed_has_avail_n(q, k) : vq__split_has_avail_n(q, k);
}

bool vq_dev_has_avail(const struct vq_dev *q)
{
	if (q->broken)
		return false;
	return q->packed ? vq__packed_has_avail(q) : vq__split_has_avail(q);
}

unsigned vq_dev_inflight(const struct vq_dev *q)
{
	return q->inflight;
}

void vq_dev_get_state(const struct vq_dev *q, struct vq_state *s)
{
	s->avail_idx = q->avail_idx;
	s->used_idx = q->used_idx;
	s->avail_wrap = q->packed ? q->avail_wrap : false;
	s->used_wrap = q->packed ? q->used_wrap : false;
}

int vq_dev_set_state(struct vq_dev *q, const struct vq_state *s)
{
	if (!s)
		return -EINVAL;
	if (q->packed && (s->avail_idx >= q->size || s->used_idx >= q->size))
		return -EINVAL;
	q->avail_idx = q->shadow_avail = s->avail_idx;
	q->used_idx = q->pub_used = q->notify_old = s->used_idx;
	q->avail_wrap = q->packed ? s->avail_wrap : true;
	q->used_wrap = q->pub_wrap = q->packed ? s->used_wrap : true;
	q->batch_n = 0;
	q->batch_slots = 0;
	q->run_n = 0;
	q->peek_n = 0;
	q->since_notify = 0;
	q->notify_valid = false;
	return 0;
}
