/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk driver: config decoding, request slots (header, discard range
 * and status byte of each request in device-visible memory), submit, poll.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/blk_drv.h>

#define SLOT 64u          /* outhdr 0..15, range 16..31, status 32 */
#define SLOT_RANGE 16u
#define SLOT_STATUS 32u
#define HAS(f, bit) (((f) >> (bit)) & 1u)
#define CFG(field) offsetof(struct virtio_blk_config, field)
#define TOKEN(i) ((void *)(uintptr_t)((i) + 1u))
#define INDEX(t) ((uint32_t)((uintptr_t)(t) - 1u))

struct vq__blkdrv_q {
	struct vq_drv *vq;
	uint8_t *mem;
	uint64_t addr;
	void **tok;         /* [slots] caller tokens */
	uint32_t *free, nfree;
	uint32_t *cancel, ncancel;
	uint32_t inflight;
	struct vq_seg *segs;
};

struct vq_blkdrv {
	struct vq_blkdrv_params p;
	uint32_t slots, seg_cap;
	struct vq__blkdrv_q *q;
};

/* ---- config */

static uint32_t rd32(const uint8_t *c, size_t off)
{
	uint32_t v;

	memcpy(&v, c + off, 4);
	return v;
}

int vq_blkdrv_parse_config(const void *cfg, size_t len, uint64_t features,
			   struct vq_blkdrv_info *out)
{
	const uint8_t *c = cfg;
	struct vq_blkdrv_info i = { .blk_size = VQ_BLK_SECTOR, .num_queues = 1 };
	uint16_t nq;

	if (!cfg || !out || len < VQ_BLKDRV_CONFIG_BYTES)
		return -EINVAL;
	memcpy(&i.capacity, c + CFG(capacity), 8);
	if (HAS(features, VIRTIO_BLK_F_SIZE_MAX))
		i.size_max = rd32(c, CFG(size_max));
	if (HAS(features, VIRTIO_BLK_F_SEG_MAX))
		i.seg_max = rd32(c, CFG(seg_max));
	if (HAS(features, VIRTIO_BLK_F_BLK_SIZE))
		i.blk_size = rd32(c, CFG(blk_size));
	memcpy(&nq, c + CFG(num_queues), 2);
	if (HAS(features, VIRTIO_BLK_F_MQ))
		i.num_queues = nq;
	i.read_only = HAS(features, VIRTIO_BLK_F_RO);
	i.flush = HAS(features, VIRTIO_BLK_F_FLUSH);
	if (HAS(features, VIRTIO_BLK_F_DISCARD)) {
		i.max_discard_sectors = rd32(c, CFG(max_discard_sectors));
		i.max_discard_seg = rd32(c, CFG(max_discard_seg));
	}
	if (HAS(features, VIRTIO_BLK_F_WRITE_ZEROES)) {
		i.max_write_zeroes_sectors = rd32(c, CFG(max_write_zeroes_sectors));
		i.max_write_zeroes_seg = rd32(c, CFG(max_write_zeroes_seg));
	}
	if (i.blk_size < VQ_BLK_MIN_BLOCK || i.blk_size > VQ_BLK_MAX_BLOCK || (i.blk_size & (i.blk_size - 1)) ||
	    i.num_queues == 0 || (HAS(features, VIRTIO_BLK_F_SEG_MAX) && i.seg_max == 0))
		return -EPROTO;
	*out = i;
	return 0;
}

/* ---- creation */

static int q_init(struct vq_blkdrv *bd, struct vq__blkdrv_q *q)
{
	q->mem = bd->p.alloc(bd->p.ctx, (size_t)bd->slots * SLOT, &q->addr);
	q->tok = calloc(bd->slots, sizeof(*q->tok));
	q->free = calloc(bd->slots, sizeof(*q->free));
	q->cancel = calloc(bd->slots, sizeof(*q->cancel));
	q->segs = calloc(bd->seg_cap + 3, sizeof(*q->segs));
	if (!q->mem || !q->tok || !q->free || !q->cancel || !q->segs)
		return -ENOMEM;
	for (uint32_t i = 0; i < bd->slots; i++)
		q->free[i] = bd->slots - 1 - i;
	q->nfree = bd->slots;
	return 0;
}

int vq_blkdrv_new(const struct vq_blkdrv_params *p, struct vq_blkdrv **out)
{
	struct vq_blkdrv *bd;
	int rc = 0;

	if (!p || !out || !p->alloc || p->num_queues == 0 || p->num_queues > VQ_BLK_MAX_QUEUES ||
	    p->queue_size == 0 || p->queue_size > VQ_MAX_QUEUE_SIZE)
		return -EINVAL;
	bd = calloc(1, sizeof(*bd));
	if (!bd)
		return -ENOMEM;
	bd->p = *p;
	bd->slots = p->queue_size;
	bd->seg_cap = p->seg_max ? p->seg_max : 1024;
	bd->q = calloc(p->num_queues, sizeof(*bd->q));
	for (unsigned i = 0; bd->q && rc == 0 && i < p->num_queues; i++)
		rc = q_init(bd, &bd->q[i]);
	if (!bd->q || rc < 0) {
		vq_blkdrv_free(bd);
		return rc < 0 ? rc : -ENOMEM;
	}
	*out = bd;
	return 0;
}

void vq_blkdrv_free(struct vq_blkdrv *bd)
{
	if (!bd)
		return;
	for (unsigned i = 0; bd->q && i < bd->p.num_queues; i++) {
		free(bd->q[i].tok);
		free(bd->q[i].free);
		free(bd->q[i].cancel);
		free(bd->q[i].segs);
	}
	free(bd->q);
	free(bd);
}

int vq_blkdrv_set_queue(struct vq_blkdrv *bd, unsigned i, struct vq_drv *vq)
{
	struct vq__blkdrv_q *q;
	void *t;

	if (i >= bd->p.num_queues)
		return -EINVAL;
	q = &bd->q[i];
	while (q->vq && (t = vq_drv_detach(q->vq)) != NULL)
		q->cancel[q->ncancel++] = INDEX(t);
	q->vq = vq;
	return 0;
}

void vq_blkdrv_fe_queue_event(void *bd, unsigned i, struct vq_drv *q, struct vq_drv *old)
{
	vq_blkdrv_set_queue(bd, i, q);
}

/* ---- requests */

/* Data checks of a request; the total byte count in *bytes. */
static int check_req(const struct vq_blkdrv *bd, const struct vq_blkdrv_req *r, uint64_t *bytes)
{
	uint64_t b = 0, end;

	if (r->nseg > bd->seg_cap || (r->nseg && !r->data))
		return -EINVAL;
	for (unsigned i = 0; i < r->nseg; i++)
		b += r->data[i].len;
	*bytes = b;
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (!b || b % VQ_BLK_SECTOR ||
		    __builtin_add_overflow(r->sector, b / VQ_BLK_SECTOR, &end))
			return -EINVAL;
		return 0;
	case VIRTIO_BLK_T_GET_ID:
		return b >= VQ_BLK_ID_BYTES ? 0 : -EINVAL;
	case VIRTIO_BLK_T_FLUSH:
		return r->nseg ? -EINVAL : 0;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (r->nseg || !r->num_sectors ||
		    __builtin_add_overflow(r->sector, (uint64_t)r->num_sectors, &end))
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

/* Lay out slot s's segments for r: returns the readable count, *in writable. */
static unsigned build(struct vq__blkdrv_q *q, uint32_t s, const struct vq_blkdrv_req *r,
		      unsigned *in)
{
	uint8_t *m = q->mem + (size_t)s * SLOT;
	uint64_t a = q->addr + (uint64_t)s * SLOT;
	struct virtio_blk_outhdr h = { .type = r->type, .sector = r->sector };
	unsigned n = 0, out;

	if (r->type != VIRTIO_BLK_T_IN && r->type != VIRTIO_BLK_T_OUT)
		h.sector = 0;
	memcpy(m, &h, sizeof(h));
	m[SLOT_STATUS] = 0xff; /* not a valid status: the device must write it */
	q->segs[n++] = (struct vq_seg){ a, sizeof(h) };
	if (r->type == VIRTIO_BLK_T_DISCARD || r->type == VIRTIO_BLK_T_WRITE_ZEROES) {
		struct virtio_blk_discard_write_zeroes d = {
			.sector = r->sector, .num_sectors = r->num_sectors,
			.flags = r->unmap ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0,
		};

		memcpy(m + SLOT_RANGE, &d, sizeof(d));
		q->segs[n++] = (struct vq_seg){ a + SLOT_RANGE, sizeof(d) };
	}
	if (r->type == VIRTIO_BLK_T_OUT)
		for (unsigned i = 0; i < r->nseg; i++)
			q->segs[n++] = r->data[i];
	out = n;
	if (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_GET_ID)
		for (unsigned i = 0; i < r->nseg; i++)
			q->segs[n++] = r->data[i];
	q->segs[n++] = (struct vq_seg){ a + SLOT_STATUS, 1 };
	*in = n - out;
	return out;
}

int vq_blkdrv_submit(struct vq_blkdrv *bd, unsigned qi, const struct vq_blkdrv_req *r,
		     void *token)
{
	struct vq__blkdrv_q *q;
	unsigned out, in;
	uint64_t bytes;
	uint32_t s;
	int rc;

	if (qi >= bd->p.num_queues || !r || !token)
		return -EINVAL;
	q = &bd->q[qi];
	if (!q->vq)
		return -ENOTCONN;
	if ((rc = check_req(bd, r, &bytes)) < 0)
		return rc;
	if (!q->nfree)
		return -ENOSPC;
	s = q->free[--q->nfree];
	out = build(q, s, r, &in);
	rc = vq_drv_add(q->vq, q->segs, out, in, TOKEN(s));
	if (rc < 0) {
		q->free[q->nfree++] = s;
		return rc == -E2BIG ? -EINVAL : rc;
	}
	q->tok[s] = token;
	q->inflight++;
	return 0;
}

void vq_blkdrv_kick(struct vq_blkdrv *bd, unsigned qi)
{
	if (qi < bd->p.num_queues && bd->q[qi].vq && vq_drv_kick_prepare(bd->q[qi].vq) &&
	    bd->p.kick)
		bd->p.kick(bd->p.ctx, qi);
}

static int status_of(uint8_t st)
{
	switch (st) {
	case VIRTIO_BLK_S_OK: return 0;
	case VIRTIO_BLK_S_IOERR: return -EIO;
	case VIRTIO_BLK_S_UNSUPP: return -EOPNOTSUPP;
	}
	return -EPROTO;
}

static void complete(struct vq__blkdrv_q *q, uint32_t s, int st, uint32_t len,
		     struct vq_blkdrv_done *d)
{
	*d = (struct vq_blkdrv_done){ q->tok[s], st, len };
	q->tok[s] = NULL;
	q->free[q->nfree++] = s;
	q->inflight--;
}

int vq_blkdrv_poll(struct vq_blkdrv *bd, unsigned qi, struct vq_blkdrv_done *done,
		   unsigned max)
{
	struct vq__blkdrv_q *q;
	unsigned n = 0;
	void *t;
	uint32_t len;
	int rc = 0;

	if (qi >= bd->p.num_queues)
		return -EINVAL;
	q = &bd->q[qi];
	while (n < max && q->ncancel)
		complete(q, q->cancel[--q->ncancel], -ECANCELED, 0, &done[n++]);
	while (q->vq && n < max && (rc = vq_drv_get(q->vq, &t, &len)) == 1) {
		uint32_t s = INDEX(t);

		complete(q, s, status_of(q->mem[(size_t)s * SLOT + SLOT_STATUS]), len, &done[n++]);
	}
	return rc < 0 && n == 0 ? -EIO : (int)n;
}

unsigned vq_blkdrv_inflight(const struct vq_blkdrv *bd, unsigned qi)
{
	return qi < bd->p.num_queues ? bd->q[qi].inflight : 0;
}
