/* SPDX-License-Identifier: MIT */
/*
 * Device side of the ring: the queue object and the helpers shared by
 * dev.c (common), dev_split.c and dev_packed.c.  Not installed.
 */
#ifndef VQ_DEV_INTERNAL_H
#define VQ_DEV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ring/ring_internal.h"

/* Descriptor flags (VIRTIO 1.2 2.7.5 / 2.8), both layouts. */
#define DEV_DESC_F_NEXT     0x1u
#define DEV_DESC_F_WRITE    0x2u
#define DEV_DESC_F_INDIRECT 0x4u
#define DEV_DESC_F_AVAIL    (1u << 7)
#define DEV_DESC_F_USED     (1u << 15)

/* Split ring flags. */
#define DEV_AVAIL_F_NO_INTERRUPT 0x1u
#define DEV_USED_F_NO_NOTIFY     0x1u

/* Packed event suppression flags. */
#define DEV_EVENT_ENABLE  0x0u
#define DEV_EVENT_DISABLE 0x1u
#define DEV_EVENT_DESC    0x2u
#define DEV_EVENT_MASK    0x3u

/* Split rings (the trailing used_event / avail_event sit at ring[size]). */
struct dev_split_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct dev_split_used_elem {
	uint32_t id;
	uint32_t len;
};

struct dev_split_used {
	uint16_t flags;
	uint16_t idx;
	struct dev_split_used_elem ring[];
};

/* Packed event suppression structure. */
struct dev_event {
	uint16_t off_wrap; /* desc_event_off:15, desc_event_wrap:1 */
	uint16_t flags;
};

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
	const struct vq_mem *mem;
	void *desc;                    /* split or packed descriptors */
	struct dev_split_avail *avail; /* split */
	struct dev_split_used *used;   /* split */
	struct dev_event *drv_event;   /* packed: driver area, we read */
	struct dev_event *dev_event;   /* packed: device area, we write */

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

	/* ---- notification state */
	uint16_t notify_old;   /* published used position at the last need_notify */
	bool notify_valid;     /* notify_old is meaningful (false after set_state) */
	bool kicks_enabled;
	uint32_t since_notify; /* entries (split) / slots (packed) published since */

	/* ---- in flight */
	unsigned inflight;
	uint64_t *inflight_bits; /* size bits, by head / buffer id */
	uint16_t *ndesc_of;      /* packed: slots each in-flight id took */
	void *scratch;           /* max_chain * 16 bytes, for copied indirect tables */

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

/* dev.c */
int vq__dev_fail(struct vq_dev *q, enum vq_violation v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vq__walk_init(struct vq__walk *w, struct vq_elem *e);
int vq__walk_seg(struct vq_dev *q, struct vq__walk *w, uint64_t addr, uint32_t len,
		 bool write);
int vq__walk_finish(struct vq__walk *w, uint16_t ndesc);
int vq__dev_indirect(struct vq_dev *q, uint64_t addr, uint32_t len,
		     const void **table, uint32_t *entries);

/* dev_split.c */
int vq__split_pop(struct vq_dev *q, struct vq_elem *e);
void vq__split_push(struct vq_dev *q, uint16_t id, uint32_t len);
void vq__split_flush(struct vq_dev *q);
bool vq__split_need_notify(struct vq_dev *q, uint16_t old, uint32_t n);
void vq__split_set_kicks(struct vq_dev *q, bool enable);
bool vq__split_has_avail(const struct vq_dev *q);

/* dev_packed.c */
int vq__packed_pop(struct vq_dev *q, struct vq_elem *e);
void vq__packed_push(struct vq_dev *q, uint16_t id, uint16_t ndesc, uint32_t len);
void vq__packed_flush(struct vq_dev *q);
bool vq__packed_need_notify(struct vq_dev *q, uint16_t old, uint32_t n);
void vq__packed_set_kicks(struct vq_dev *q, bool enable);
bool vq__packed_has_avail(const struct vq_dev *q);

#endif
