/* SPDX-License-Identifier: MIT */
/*
 * Split and packed virtqueues under the ring-neutral interface, through the
 * public API only: the driver side adds, publishes and reclaims with
 * vq_drv_*, the device side pops, pushes and flushes with vq_dev_*.  Buffers
 * live in one region of a vq_mem, so every pop translates and checks them as
 * a real device would.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define CL 64
#define INDIRECT_GPA 0x40000000ull

struct rb {
	struct vq_drv *drv;
	struct vq_dev *dev;
	struct vq_mem *mem;
	void *ring;
	void *indirect;
	const char *drv_err; /* set by the driver thread */
	const char *dev_err; /* set by the device thread */
	/* burst forms: one slot per ring entry */
	struct vq_seg *segs;    /* driver */
	void **toks;
	uint32_t *lens;
	struct vq_elem *elems;  /* device */
	struct iovec *iovs;
	uint32_t *zero;
	_Alignas(CL) uint64_t kicks;    /* driver thread */
	_Alignas(CL) uint64_t notifies; /* device thread */
};

static int vqr_alloc(struct rb *r, const struct rb_params *p,
		     struct vq_ring_params *rc)
{
	struct vq_ring_layout l;
	int ret = vq_ring_layout(p->layout, p->size, &l);

	if (ret)
		return ret;
	r->ring = aligned_alloc(CL, (l.total + CL - 1) & ~(size_t)(CL - 1));
	if (!r->ring)
		return -ENOMEM;
	memset(r->ring, 0, l.total);
	memset(rc, 0, sizeof(*rc));
	rc->layout = p->layout;
	rc->size = p->size;
	rc->features = p->features | VQ_F_VERSION_1 |
		       (p->layout == VQ_LAYOUT_PACKED ? VQ_F_PACKED : 0);
	rc->desc = (char *)r->ring + l.desc_off;
	rc->avail = (char *)r->ring + l.avail_off;
	rc->used = (char *)r->ring + l.used_off;
	return 0;
}

static int vqr_map(struct rb *r, const struct rb_params *p,
		   const struct rb_pool *pool, struct vq_drv_params *dc)
{
	struct vq_mem_region reg = {
		.gpa = pool->gpa, .size = pool->bytes, .hva = pool->hva,
		.prot = VQ_MEM_RW,
	};
	size_t ibytes = (size_t)p->size * p->segs * 16u;
	int ret = vq_mem_new(&r->mem);

	if (!ret)
		ret = vq_mem_add(r->mem, &reg);
	if (ret || !(p->features & VQ_F_INDIRECT) || p->segs < 2)
		return ret;
	r->indirect = aligned_alloc(CL, (ibytes + CL - 1) & ~(size_t)(CL - 1));
	if (!r->indirect)
		return -ENOMEM;
	reg = (struct vq_mem_region){ .gpa = INDIRECT_GPA, .size = ibytes,
				      .hva = r->indirect, .prot = VQ_MEM_READ };
	dc->indirect = r->indirect;
	dc->indirect_gpa = INDIRECT_GPA;
	dc->indirect_tables = p->size;
	dc->indirect_len = p->segs;
	return vq_mem_add(r->mem, &reg);
}

static int vqr_burst_alloc(struct rb *r, uint32_t n)
{
	r->segs = calloc(n, sizeof(*r->segs));
	r->toks = calloc(n, sizeof(*r->toks));
	r->lens = calloc(n, sizeof(*r->lens));
	r->elems = calloc(n, sizeof(*r->elems));
	r->iovs = calloc(n, sizeof(*r->iovs));
	r->zero = calloc(n, sizeof(*r->zero));
	if (!r->segs || !r->toks || !r->lens || !r->elems || !r->iovs || !r->zero)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		r->elems[i].iov = &r->iovs[i];
		r->elems[i].iov_cap = 1;
	}
	return 0;
}

static void vqr_destroy(struct rb *r)
{
	if (!r)
		return;
	vq_drv_free(r->drv);
	vq_dev_free(r->dev);
	vq_mem_free(r->mem);
	free(r->segs);
	free(r->toks);
	free(r->lens);
	free(r->elems);
	free(r->iovs);
	free(r->zero);
	free(r->indirect);
	free(r->ring);
	free(r);
}

static int vqr_create(const struct rb_params *p, const struct rb_pool *pool,
		      struct rb **out)
{
	struct vq_drv_params dc;
	struct rb *r = aligned_alloc(CL, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	memset(&dc, 0, sizeof(dc));
	r->drv_err = r->dev_err = "";
	ret = vqr_alloc(r, p, &dc.ring);
	if (!ret)
		ret = vqr_map(r, p, pool, &dc);
	if (!ret)
		ret = vq_drv_new(&dc, &r->drv);
	if (!ret)
		ret = vq_dev_new(&dc.ring, r->mem, &r->dev);
	if (!ret && p->burst_api)
		ret = vqr_burst_alloc(r, p->size);
	if (ret) {
		vqr_destroy(r);
		return ret;
	}
	if (p->suppress) {
		vq_drv_disable_notify(r->drv);
		vq_dev_disable_notify(r->dev);
	}
	*out = r;
	return 0;
}

static int vqr_add(struct rb *r, struct rb_buf *b, uint32_t segs)
{
	struct vq_seg sg[RB_MAX_SEGS];
	int ret;

	for (uint32_t i = 0; i < segs; i++) {
		sg[i].addr = b->gpa + (uint64_t)i * RB_SEG_STRIDE;
		sg[i].len = RB_SEG_BYTES;
	}
	ret = vq_drv_add(r->drv, sg, segs, 0, b);
	if (ret && ret != -ENOSPC)
		r->drv_err = vq_drv_error(r->drv);
	return ret;
}

static void vqr_publish(struct rb *r)
{
	if (vq_drv_kick_prepare(r->drv))
		r->kicks++;
}

static int vqr_get_used(struct rb *r, struct rb_buf **b)
{
	void *tok;
	uint32_t len;
	int ret = vq_drv_get(r->drv, &tok, &len);

	if (ret == 1)
		*b = tok;
	else if (ret < 0)
		r->drv_err = vq_drv_error(r->drv);
	return ret;
}

static int vqr_pop(struct rb *r, struct rb_item *it)
{
	int ret;

	it->elem.iov = it->iov;
	it->elem.iov_cap = RB_MAX_SEGS;
	ret = vq_dev_pop(r->dev, &it->elem);
	if (ret < 0)
		r->dev_err = vq_dev_error(r->dev);
	return ret;
}

static int vqr_push(struct rb *r, struct rb_item *it)
{
	int ret = vq_dev_push(r->dev, &it->elem, 0);

	if (ret < 0)
		r->dev_err = vq_dev_error(r->dev);
	return ret;
}

/* ---- burst forms (vq_drv_add_burst / get_burst, vq_dev_pop_burst / push_burst) */

static int vqr_add_burst(struct rb *r, struct rb_buf **b, uint32_t n)
{
	int ret;

	for (uint32_t i = 0; i < n; i++) { /* the stack's top first */
		r->segs[i] = (struct vq_seg){ b[n - 1 - i]->gpa, RB_SEG_BYTES };
		r->toks[i] = b[n - 1 - i];
	}
	ret = vq_drv_add_burst(r->drv, r->segs, n, false, r->toks);
	if (ret < 0)
		r->drv_err = vq_drv_error(r->drv);
	return ret;
}

static int vqr_get_burst(struct rb *r, struct rb_buf **b, uint32_t n)
{
	int ret = vq_drv_get_burst(r->drv, (void **)b, r->lens, n);

	if (ret < 0)
		r->drv_err = vq_drv_error(r->drv);
	return ret;
}

static int vqr_pop_burst(struct rb *r, uint32_t n)
{
	int ret = vq_dev_pop_burst(r->dev, r->elems, n);

	if (ret < 0)
		r->dev_err = vq_dev_error(r->dev);
	return ret;
}

static int vqr_push_burst(struct rb *r, uint32_t n)
{
	int ret = vq_dev_push_burst(r->dev, r->elems, r->zero, n);

	if (ret < 0 || (uint32_t)ret != n) {
		r->dev_err = vq_dev_error(r->dev);
		return ret < 0 ? ret : -EIO;
	}
	return 0;
}

static void vqr_flush(struct rb *r)
{
	vq_dev_flush(r->dev);
	if (vq_dev_need_notify(r->dev))
		r->notifies++;
}

static const char *vqr_error(struct rb *r)
{
	return *r->dev_err ? r->dev_err : r->drv_err;
}

static void vqr_counts(struct rb *r, struct rb_counts *c)
{
	c->kicks = r->kicks;
	c->notifies = r->notifies;
}

const struct rb_ops rb_virtq_ops = {
	.name = "virtq",
	.create = vqr_create,
	.destroy = vqr_destroy,
	.add = vqr_add,
	.publish = vqr_publish,
	.add_burst = vqr_add_burst,
	.get_burst = vqr_get_burst,
	.pop_burst = vqr_pop_burst,
	.push_burst = vqr_push_burst,
	.get_used = vqr_get_used,
	.pop = vqr_pop,
	.push = vqr_push,
	.flush = vqr_flush,
	.error = vqr_error,
	.counts = vqr_counts,
};
