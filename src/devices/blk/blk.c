/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk device model: lifecycle, features, config space, statistics.
 * The parser is in blk_parse.c, the request queues in blk_queue.c, the
 * backing store in blk_io.c, the I/O engines in blk_pool.c (threads) and
 * blk_uring.c (io_uring).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk_internal.h"

#define DEF_SEG_MAX   126u        /* QEMU's: a 128-entry queue minus header and status */
#define DEF_SIZE_MAX  (1u << 20)
#define DEF_RANGE_MAX 0x3fffffu   /* sectors per discard / write-zeroes range */
#define DEF_RANGE_SEG 32u

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int check_params(const struct vq_blk_params *p)
{
	if (!p || (!p->path && p->fd < 0))
		return -EINVAL;
	if (p->num_queues > VQ_BLK_MAX_QUEUES || p->iothreads > VQ_BLK_MAX_IOTHREADS)
		return -EINVAL;
	if ((unsigned)p->engine > VQ_BLK_ENGINE_URING)
		return -EINVAL;
	if (p->blk_size && (!pow2(p->blk_size) || p->blk_size < VQ_BLK_MIN_BLOCK ||
			    p->blk_size > VQ_BLK_MAX_BLOCK))
		return -EINVAL;
	if (p->direct_align &&
	    (!pow2(p->direct_align) || p->direct_align < VQ_BLK_MIN_BLOCK ||
	     p->direct_align > VQ_BLK_MAX_BLOCK))
		return -EINVAL;
	if (p->max_discard_seg > VQ_BLK_MAX_SEGS || p->max_write_zeroes_seg > VQ_BLK_MAX_SEGS)
		return -EINVAL;
	return 0;
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
	return v ? v : def;
}

/* Fill in the defaults that do not depend on the backing store. */
static void defaults(struct vq_blk_params *p)
{
	p->num_queues = or_default(p->num_queues, 1);
	p->seg_max = or_default(p->seg_max, DEF_SEG_MAX);
	p->size_max = or_default(p->size_max, DEF_SIZE_MAX);
	p->max_discard_sectors = or_default(p->max_discard_sectors, DEF_RANGE_MAX);
	p->max_discard_seg = or_default(p->max_discard_seg, DEF_RANGE_SEG);
	p->max_write_zeroes_sectors = or_default(p->max_write_zeroes_sectors, DEF_RANGE_MAX);
	p->max_write_zeroes_seg = or_default(p->max_write_zeroes_seg, DEF_RANGE_SEG);
}

static uint64_t offered(const struct vq_blk_params *p)
{
	uint64_t f = (p->features ? p->features : VQ_BLK_FEATURES_ALL) & VQ_BLK_FEATURES_ALL;

	if (p->readonly)
		f = (f | VQ_BLK_F(VIRTIO_BLK_F_RO)) &
		    ~(VQ_BLK_F(VIRTIO_BLK_F_DISCARD) | VQ_BLK_F(VIRTIO_BLK_F_WRITE_ZEROES));
	else
		f &= ~VQ_BLK_F(VIRTIO_BLK_F_RO);
	if (p->num_queues == 1)
		f &= ~VQ_BLK_F(VIRTIO_BLK_F_MQ);
	return f | VQ_F_VERSION_1;
}

static void fill_config(struct vq_blk *b)
{
	const struct vq_blk_params *p = &b->p;
	struct virtio_blk_config *c = &b->cfg.blk;

	memset(&b->cfg, 0, sizeof(b->cfg));
	c->capacity = b->size >> VQ_BLK_SECTOR_SHIFT;
	c->size_max = p->size_max;
	c->seg_max = p->seg_max;
	c->blk_size = p->blk_size;
	c->num_queues = (uint16_t)b->nq;
	c->max_discard_sectors = p->max_discard_sectors;
	c->max_discard_seg = p->max_discard_seg;
	c->discard_sector_alignment = or_default(p->discard_sector_alignment,
						 p->blk_size / VQ_BLK_SECTOR);
	c->max_write_zeroes_sectors = p->max_write_zeroes_sectors;
	c->max_write_zeroes_seg = p->max_write_zeroes_seg;
	c->write_zeroes_may_unmap = 1;
}

/* io_uring by default when it works and there are I/O threads to spare
 * (iothreads 0 keeps everything synchronous); a test hook wants threads. */
static int start_engine(struct vq_blk *b)
{
	enum vq_blk_engine e = b->p.engine;
	int r;

	if (e == VQ_BLK_ENGINE_AUTO)
		e = b->p.iothreads && !b->p.io_hook ? VQ_BLK_ENGINE_URING : VQ_BLK_ENGINE_THREADS;
	b->eng = e == VQ_BLK_ENGINE_URING ? &vq__blk_engine_uring : &vq__blk_engine_threads;
	r = b->eng->start(b);
	if (r < 0 && b->p.engine == VQ_BLK_ENGINE_AUTO && e == VQ_BLK_ENGINE_URING) {
		b->eng = &vq__blk_engine_threads; /* no io_uring here: the pool */
		r = b->eng->start(b);
	}
	if (r < 0)
		b->eng = NULL; /* start cleaned up after itself */
	return r;
}

static int setup(struct vq_blk *b)
{
	size_t zalign;
	int r = vq__blk_open(b);

	if (r < 0)
		return r;
	if (!b->p.blk_size)
		b->p.blk_size = b->dio_off > VQ_BLK_MIN_BLOCK && b->dio_off <= VQ_BLK_MAX_BLOCK ?
				 b->dio_off : VQ_BLK_MIN_BLOCK;
	zalign = b->dio_mem > VQ__BLK_DIO_ALIGN ? b->dio_mem : VQ__BLK_DIO_ALIGN;
	if (posix_memalign((void **)&b->zeros, zalign, VQ__BLK_ZERO_BUF))
		return -ENOMEM;
	memset(b->zeros, 0, VQ__BLK_ZERO_BUF);
	b->host_features = offered(&b->p);
	fill_config(b);
	b->q = calloc(b->nq, sizeof(*b->q));
	if (!b->q)
		return -ENOMEM;
	for (unsigned i = 0; i < b->nq; i++)
		b->q[i].efd = -1;
	for (unsigned i = 0; i < b->nq; i++)
		if ((r = vq__blk_queue_init(b, &b->q[i], i)) < 0)
			return r;
	return start_engine(b);
}

int vq_blk_new(const struct vq_blk_params *p, struct vq_blk **out)
{
	struct vq_blk *b;
	int r = check_params(p);

	if (r < 0 || !out)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->p = *p;
	b->host = (struct vq_device_host){ .notify = p->notify, .host = p->opaque };
	defaults(&b->p);
	b->nq = b->p.num_queues;
	b->fd = b->bfd = -1;
	if (p->serial)
		memcpy(b->serial, p->serial, strnlen(p->serial, sizeof(b->serial))); /* no NUL */
	r = setup(b);
	if (r < 0) {
		vq_blk_free(b);
		return r;
	}
	vq_blk_set_features(b, 0);
	*out = b;
	return 0;
}

void vq_blk_free(struct vq_blk *b)
{
	if (!b)
		return;
	if (b->eng)
		b->eng->stop(b); /* every submitted request executes first */
	for (unsigned i = 0; b->q && i < b->nq; i++) {
		vq__blk_queue_forget(&b->q[i]);
		vq__blk_queue_fini(&b->q[i]);
	}
	free(b->q);
	if (b->own_fd && b->fd >= 0)
		close(b->fd);
	if (b->bfd >= 0)
		close(b->bfd);
	free(b->zeros);
	free(b);
}

/* ---- features and config */

uint64_t vq_blk_host_features(const struct vq_blk *b)
{
	return b->host_features;
}

int vq_blk_set_features(struct vq_blk *b, uint64_t features)
{
	if (features & ~b->host_features)
		return -EINVAL;
	b->features = features;
	b->lim = (struct vq_blk_limits){
		.capacity = b->cfg.blk.capacity,
		.features = features,
		.readonly = b->p.readonly,
		.max_discard_sectors = b->cfg.blk.max_discard_sectors,
		.max_discard_seg = b->cfg.blk.max_discard_seg,
		.max_write_zeroes_sectors = b->cfg.blk.max_write_zeroes_sectors,
		.max_write_zeroes_seg = b->cfg.blk.max_write_zeroes_seg,
	};
	return 0;
}

uint64_t vq_blk_features(const struct vq_blk *b)
{
	return b->features;
}

int vq_blk_get_config(const struct vq_blk *b, uint32_t off, void *buf, uint32_t len)
{
	uint64_t end = (uint64_t)off + len;

	if (!buf || end > sizeof(b->cfg))
		return -EINVAL;
	memcpy(buf, (const uint8_t *)&b->cfg + off, len);
	return 0;
}

uint64_t vq_blk_capacity(const struct vq_blk *b)
{
	return b->cfg.blk.capacity;
}

unsigned vq_blk_num_queues(const struct vq_blk *b)
{
	return b->nq;
}

void vq_blk_reset(struct vq_blk *b)
{
	for (unsigned i = 0; i < b->nq; i++)
		vq_blk_set_queue(b, i, NULL);
	vq_blk_set_features(b, 0);
}

enum vq_blk_engine vq_blk_get_engine(const struct vq_blk *b)
{
	return b->eng->id;
}

const char *vq_blk_engine_name(enum vq_blk_engine e)
{
	switch (e) {
	case VQ_BLK_ENGINE_AUTO:
		return "auto";
	case VQ_BLK_ENGINE_THREADS:
		return "threads";
	case VQ_BLK_ENGINE_URING:
		return "io_uring";
	}
	return "?";
}

int vq_blk_get_stats(const struct vq_blk *b, unsigned i, struct vq_blk_stats *out)
{
	uint64_t *dst = (uint64_t *)out;

	if (!b || !out || i >= b->nq)
		return -EINVAL;
	for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
		dst[k] = atomic_load_explicit(&b->q[i].st.v[k], memory_order_relaxed);
	return 0;
}
