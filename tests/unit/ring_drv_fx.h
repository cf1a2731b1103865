/* SPDX-License-Identifier: MIT */
/*
 * The driver side of the ring, alone: the test plays the device by reading
 * and writing the ring memory directly, following the spec layouts (it does
 * not use the library's device side).  The fixture and the fake device,
 * shared by ring_drv and ring_drv_bad.
 */
#ifndef VQ_TEST_RING_DRV_FX_H
#define VQ_TEST_RING_DRV_FX_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/ring.h>

#include "../harness/test.h"
#include "ring/ring_wire.h"

#define IND_GPA    0x40000000ull

struct fx {
	struct vq_drv *q;
	struct vq_drv_params cfg;
	struct vq_ring_layout lay;
	unsigned char *ring, *ind;
	uint32_t size;
	/* The fake device's position. */
	uint16_t dev_avail, dev_used;
	bool dev_avail_wrap, dev_used_wrap;
};

static inline void fx_init(struct fx *f, enum vq_layout layout, uint32_t size, uint64_t features,
		    uint32_t tables, uint32_t ind_len, uint32_t max_chain)
{
	memset(f, 0, sizeof(*f));
	ASSERT_EQ(vq_ring_layout(layout, size, &f->lay), 0);
	f->ring = aligned_alloc(64, f->lay.total);
	ASSERT_TRUE(f->ring);
	memset(f->ring, 0, f->lay.total);
	f->size = size;
	f->dev_avail_wrap = f->dev_used_wrap = true;
	f->cfg.ring = (struct vq_ring_params){
		.layout = layout, .size = size, .features = features, .max_chain = max_chain,
		.desc = f->ring + f->lay.desc_off, .avail = f->ring + f->lay.avail_off,
		.used = f->ring + f->lay.used_off,
	};
	if (tables) {
		size_t bytes = (size_t)tables * ind_len * 16;

		f->ind = calloc(1, bytes);
		ASSERT_TRUE(f->ind);
		f->cfg.indirect = f->ind;
		f->cfg.indirect_gpa = IND_GPA;
		f->cfg.indirect_tables = tables;
		f->cfg.indirect_len = ind_len;
	}
	ASSERT_EQ(vq_drv_new(&f->cfg, &f->q), 0);
}

static inline void fx_fini(struct fx *f)
{
	vq_drv_free(f->q);
	free(f->ring);
	free(f->ind);
}

static inline struct vring_desc *sd(struct fx *f)
{
	return (struct vring_desc *)(f->ring + f->lay.desc_off);
}

static inline struct vring_packed_desc *pd(struct fx *f)
{
	return (struct vring_packed_desc *)(f->ring + f->lay.desc_off);
}

static inline uint16_t *avail16(struct fx *f)
{
	return (uint16_t *)(f->ring + f->lay.avail_off);
}

static inline uint16_t *used16(struct fx *f)
{
	return (uint16_t *)(f->ring + f->lay.used_off);
}

static inline void *ind_host(struct fx *f, uint64_t gpa)
{
	ASSERT_TRUE(gpa >= IND_GPA);
	return f->ind + (gpa - IND_GPA);
}

/* ---- the fake device */

/* Split: pop the next head from the avail ring (-1 when empty). */
static inline int dev_split_pop(struct fx *f)
{
	uint16_t idx = __atomic_load_n(&avail16(f)[1], __ATOMIC_ACQUIRE);

	if (idx == f->dev_avail)
		return -1;
	return avail16(f)[2 + (f->dev_avail++ & (f->size - 1))];
}

/* Write one used entry for a batch of n buffers (n = 1 outside IN_ORDER):
 * at the batch's first slot, then used idx advances by n (2.7.9). */
static inline void dev_split_use_n(struct fx *f, uint32_t id, uint32_t len, uint16_t n)
{
	uint32_t *e = (uint32_t *)(f->ring + f->lay.used_off + 4 + 8 * (f->dev_used & (f->size - 1)));

	e[0] = id;
	e[1] = len;
	f->dev_used = (uint16_t)(f->dev_used + n);
	__atomic_store_n(&used16(f)[1], f->dev_used, __ATOMIC_RELEASE);
}

static inline void dev_split_use(struct fx *f, uint32_t id, uint32_t len)
{
	dev_split_use_n(f, id, len, 1);
}

/* Packed: is the next slot available?  Returns its slot or -1. */
static inline int dev_packed_peek(struct fx *f)
{
	uint16_t fl = __atomic_load_n(&pd(f)[f->dev_avail].flags, __ATOMIC_ACQUIRE);

	if (!(fl & VQ__DESC_F_AVAIL) != !f->dev_avail_wrap || !(fl & VQ__DESC_F_USED) == !f->dev_avail_wrap)
		return -1;
	return f->dev_avail;
}

/* Packed: consume the chain at the next avail slot; returns its id and slots. */
static inline int dev_packed_pop(struct fx *f, unsigned *nslots)
{
	int s = dev_packed_peek(f);
	unsigned n = 0;
	uint16_t id = 0, fl;

	*nslots = 0;
	if (s < 0)
		return -1;
	do {
		fl = pd(f)[f->dev_avail].flags;
		id = pd(f)[f->dev_avail].id;
		n++;
		if (++f->dev_avail == f->size) {
			f->dev_avail = 0;
			f->dev_avail_wrap = !f->dev_avail_wrap;
		}
	} while (fl & VRING_DESC_F_NEXT);
	*nslots = n;
	return id;
}

static inline void dev_packed_use(struct fx *f, uint16_t id, uint32_t len, unsigned nslots)
{
	struct vring_packed_desc *d = &pd(f)[f->dev_used];
	uint16_t fl = (uint16_t)((f->dev_used_wrap ? VQ__DESC_F_AVAIL | VQ__DESC_F_USED : 0) | (len ? VRING_DESC_F_WRITE : 0));

	d->id = id;
	d->len = len;
	__atomic_store_n(&d->flags, fl, __ATOMIC_RELEASE);
	f->dev_used = (uint16_t)(f->dev_used + nslots);
	if (f->dev_used >= f->size) {
		f->dev_used = (uint16_t)(f->dev_used - f->size);
		f->dev_used_wrap = !f->dev_used_wrap;
	}
}

static inline void expect_get(struct fx *f, void *token, uint32_t len)
{
	void *t = NULL;
	uint32_t l = 0;

	ASSERT_EQ(vq_drv_get(f->q, &t, &l), 1);
	ASSERT_TRUE(t == token);
	ASSERT_EQ(l, len);
}

static inline void expect_none(struct fx *f)
{
	void *t;
	uint32_t l;

	ASSERT_EQ(vq_drv_get(f->q, &t, &l), 0);
}

static int tok[4096]; /* tokens: &tok[i] */

#endif
