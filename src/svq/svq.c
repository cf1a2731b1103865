/* SPDX-License-Identifier: MIT */
/* Shadow virtqueue: guest ring -> IOVA shadow ring and back (include/virtq/svq.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/svq.h>

#include "ring/dev_internal.h" /* the queue size of a caller's vq_dev */

#define SVQ_IOV_MAX     (1u << 20) /* most guest segments one buffer may need */
#define SVQ_IND_TABLES  256u       /* indirect tables in the shadow ring's pool */
#define SVQ_BUDGET      1024u      /* vq_svq_params.relay_budget's default */

/* A guest buffer on the shadow ring, by guest id: the token given to vq_drv. */
struct svq_slot {
	uint16_t ndesc;      /* guest ring slots the chain took (packed) */
	bool busy;
	bool has_status;     /* status_gpa is the chain's last writable byte */
	uint64_t status_gpa;
};

/* A block of host memory mapped into IOVA space. */
struct svq_block {
	void *p;
	size_t bytes;
	uint64_t iova;
};

struct vq_svq {
	struct vq_dev *guest;
	bool own_guest;             /* made (and freed) by the SVQ */
	void *(*alloc)(void *ctx, size_t bytes, size_t align);
	void (*release)(void *ctx, void *p, size_t bytes);
	void *alloc_ctx;
	struct vq_drv *dev;
	struct vq_iova *iova;
	struct svq_block ring, pool;
	struct vq_ring_layout lay;
	struct vq_svq_ring dring;
	struct svq_slot *slot;      /* guest size entries */

	/* the buffer being forwarded: popped from the guest when pending */
	struct vq_elem e;
	uint64_t *gpa;              /* e.iov_cap entries: guest address of each iov */
	bool pending;
	struct vq_iova_seg *iseg;   /* seg_cap entries each */
	struct vq_seg *seg;
	uint32_t seg_cap;           /* the device's max_chain */

	const struct vq_mem *gmem;  /* the guest's map (GPA -> HVA) */
	uint8_t giveback_status;    /* vq_svq_params.giveback_status */
	uint32_t budget;            /* vq_svq_params.relay_budget, or SVQ_BUDGET */
	uint32_t coalesce;          /* vq_svq_params.coalesce; 0: off (no side has
				     * EVENT_IDX, or not asked for) */
	bool paused;
	bool cancelled;             /* vq_svq_cancel: the shadow ring is dead */
	unsigned inflight;          /* guest buffers on the shadow ring */
	uint64_t dropped;
};

static int grow_iov(struct vq_svq *s, uint32_t cap)
{
	struct iovec *iov = realloc(s->e.iov, cap * sizeof(*iov));
	uint64_t *gpa;

	if (!iov)
		return -ENOMEM;
	s->e.iov = iov;
	gpa = realloc(s->gpa, cap * sizeof(*gpa));
	if (!gpa)
		return -ENOMEM;
	s->gpa = gpa;
	s->e.iov_cap = cap;
	return 0;
}

static void block_release(struct vq_svq *s, struct svq_block *b)
{
	if (s->release)
		s->release(s->alloc_ctx, b->p, b->bytes);
	else if (!s->alloc)
		free(b->p);
	b->p = NULL;
}

/* Allocate bytes of zeroed, page-aligned host memory and map it at an IOVA. */
static int block_map(struct vq_svq *s, struct svq_block *b, size_t bytes, uint32_t prot)
{
	int rc;

	b->bytes = (bytes + 4095) & ~(size_t)4095;
	b->p = s->alloc ? s->alloc(s->alloc_ctx, b->bytes, 4096) : aligned_alloc(4096, b->bytes);
	if (!b->p)
		return -ENOMEM;
	memset(b->p, 0, b->bytes);
	rc = vq_iova_map_host(s->iova, b->p, b->bytes, prot, &b->iova);
	if (rc)
		block_release(s, b);
	return rc;
}

static void block_unmap(struct vq_svq *s, struct svq_block *b)
{
	if (!b->p)
		return;
	(void)vq_iova_unmap_host(s->iova, b->iova);
	block_release(s, b);
}

/* The shadow ring and its indirect pool, mapped; then its driver side. */
static int shadow_new(struct vq_svq *s, const struct vq_svq_params *p)
{
	struct vq_svq_ring *r = &s->dring;
	struct vq_drv_params dp = { 0 };
	int rc;

	r->layout = p->dev_layout;
	r->size = p->dev_size ? p->dev_size : p->guest.size;
	r->features = p->dev_features & VQ_RING_FEATURES;
	r->max_chain = p->dev_max_chain ? p->dev_max_chain : r->size;
	rc = vq_ring_layout(r->layout, r->size, &s->lay);
	if (rc == 0)
		rc = block_map(s, &s->ring, s->lay.total, VQ_MEM_RW);
	if (rc)
		return rc;
	r->desc = s->ring.iova + s->lay.desc_off;
	r->avail = s->ring.iova + s->lay.avail_off;
	r->used = s->ring.iova + s->lay.used_off;
	dp.ring = (struct vq_ring_params){
		.layout = r->layout, .size = r->size, .features = r->features,
		.max_chain = p->dev_max_chain,
		.desc = (char *)s->ring.p + s->lay.desc_off,
		.avail = (char *)s->ring.p + s->lay.avail_off,
		.used = (char *)s->ring.p + s->lay.used_off,
	};
	if ((r->features & VQ_F_INDIRECT) && r->max_chain > 1) {
		uint32_t tables = r->size < SVQ_IND_TABLES ? r->size : SVQ_IND_TABLES;

		rc = block_map(s, &s->pool, (size_t)tables * r->max_chain * 16, VQ_MEM_READ);
		if (rc)
			return rc;
		dp.indirect = s->pool.p;
		dp.indirect_gpa = s->pool.iova;
		dp.indirect_tables = tables;
		dp.indirect_len = r->max_chain;
	}
	return vq_drv_new(&dp, &s->dev);
}

int vq_svq_new(const struct vq_svq_params *p, struct vq_svq **out)
{
	struct vq_svq *s;
	uint32_t gmax;
	int rc;

	*out = NULL;
	if (!p || !p->guest_mem || !p->iova || p->guest.size == 0 ||
	    p->guest.size > VQ_MAX_QUEUE_SIZE)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->iova = p->iova;
	s->gmem = p->guest_mem;
	s->giveback_status = p->giveback_status;
	s->budget = p->relay_budget ? p->relay_budget : SVQ_BUDGET;
	s->coalesce = p->coalesce > 1 ? p->coalesce : 0;
	s->alloc = p->alloc;
	s->release = p->release;
	s->alloc_ctx = p->alloc_ctx;
	s->guest = p->guest_dev;
	rc = 0;
	if (s->guest && s->guest->size != p->guest.size)
		rc = -EINVAL;   /* the slots are indexed by its ids */
	if (!s->guest) {
		rc = vq_dev_new(&p->guest, p->guest_mem, &s->guest);
		s->own_guest = rc == 0;
	}
	if (rc == 0)
		rc = shadow_new(s, p);
	/* Moderation needs EVENT_IDX on a side; without it, today's signals. */
	if (rc == 0 && !s->guest->event_idx && !(s->dring.features & VQ_F_EVENT_IDX))
		s->coalesce = 0;
	gmax = p->guest.max_chain ? p->guest.max_chain : p->guest.size;
	if (rc == 0)
		rc = grow_iov(s, gmax + 64);
	if (rc == 0) {
		s->seg_cap = s->dring.max_chain;
		s->slot = calloc(p->guest.size, sizeof(*s->slot));
		s->iseg = calloc(s->seg_cap, sizeof(*s->iseg));
		s->seg = calloc(s->seg_cap, sizeof(*s->seg));
		if (!s->slot || !s->iseg || !s->seg)
			rc = -ENOMEM;
	}
	if (rc) {
		vq_svq_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void vq_svq_free(struct vq_svq *s)
{
	if (!s)
		return;
	if (s->own_guest)
		vq_dev_free(s->guest);
	vq_drv_free(s->dev);
	block_unmap(s, &s->ring);
	block_unmap(s, &s->pool);
	free(s->e.iov);
	free(s->gpa);
	free(s->slot);
	free(s->iseg);
	free(s->seg);
	free(s);
}

void vq_svq_device_ring(const struct vq_svq *s, struct vq_svq_ring *out)
{
	*out = s->dring;
}

/* ---- guest -> device */

/* Pop the next guest buffer with its guest addresses: 1, 0 (none) or -errno. */
static int take(struct vq_svq *s)
{
	int rc;

	for (;;) {
		rc = vq_dev_pop_gpa(s->guest, &s->e, s->gpa);
		if (rc != -ENOBUFS)
			return rc;
		/* More guest segments than iov entries: nothing was consumed. */
		if (s->e.iov_cap >= SVQ_IOV_MAX)
			return -ENOBUFS;
		rc = grow_iov(s, s->e.iov_cap * 2);
		if (rc)
			return rc;
	}
}

/* Where a give-back status would go: the guest address of the pending
 * buffer's last writable byte.  false when it has none, or when there is
 * no give-back status (then the forwarding path does not walk the iovs). */
static bool last_in_byte(const struct vq_svq *s, uint64_t *gpa)
{
	if (!s->giveback_status)
		return false;
	for (uint32_t i = s->e.out_num + s->e.in_num; i-- > s->e.out_num;) {
		if (s->e.iov[i].iov_len) {
			*gpa = s->gpa[i] + s->e.iov[i].iov_len - 1;
			return true;
		}
	}
	return false;
}

/*
 * Give guest buffer id back unused: used length 0, or, with a give-back
 * status and a writable last byte (looked up afresh in the guest's map,
 * which may have changed since the buffer was taken), that byte set to the
 * status and used length 1.
 */
static void give_back_id(struct vq_svq *s, uint16_t id, uint16_t ndesc, bool has_status,
			 uint64_t status_gpa)
{
	uint32_t len = 0;

	if (s->giveback_status && has_status) {
		uint8_t *b = vq_mem_ptr(s->gmem, status_gpa, 1, VQ_MEM_WRITE);

		if (b) {
			*b = s->giveback_status;
			len = 1;
		}
	}
	(void)vq_dev_push_id(s->guest, id, ndesc, len);
}

/* Give the pending buffer back to the guest unused (give_back_id). */
static void give_back(struct vq_svq *s, bool count)
{
	uint64_t gpa = 0;
	bool has = last_in_byte(s, &gpa);

	give_back_id(s, s->e.id, s->e.ndesc, has, gpa);
	s->pending = false;
	s->dropped += count;
}

/*
 * Translate guest segments [from, to) of the pending buffer with prot and
 * append them to s->seg at *nseg.  Returns 0 or vq_iova_translate's error.
 */
static int translate(struct vq_svq *s, uint32_t from, uint32_t to, uint32_t prot,
		     unsigned *nseg)
{
	for (uint32_t i = from; i < to; i++) {
		int rc = vq_iova_translate(s->iova, s->gpa[i], s->e.iov[i].iov_len, prot,
					   s->iseg + *nseg, s->seg_cap - *nseg);

		if (rc < 0)
			return rc;
		for (int k = 0; k < rc; k++) {
			/* A piece of one descriptor: len < 2^32. */
			s->seg[*nseg].addr = s->iseg[*nseg].iova;
			s->seg[*nseg].len = (uint32_t)s->iseg[*nseg].len;
			(*nseg)++;
		}
	}
	return 0;
}

/*
 * Put the pending buffer on the shadow ring, translated afresh by its guest
 * addresses.  Returns 0 when it left the pending slot (forwarded, or given
 * back when it can never be forwarded), -ENOSPC when the shadow ring is
 * full, -EIO when the shadow ring is broken.
 */
static int forward(struct vq_svq *s)
{
	struct vq_elem *e = &s->e;
	unsigned nseg = 0, nout;
	int rc;

	rc = translate(s, 0, e->out_num, VQ_MEM_READ, &nseg);
	nout = nseg;
	if (rc == 0)
		rc = translate(s, e->out_num, e->out_num + e->in_num, VQ_MEM_WRITE, &nseg);
	if (rc < 0) {
		give_back(s, true); /* unmapped, read-only or too fragmented */
		return 0;
	}
	if (nseg == 0) {
		give_back(s, false); /* only empty descriptors: nothing to do */
		return 0;
	}
	rc = vq_drv_add(s->dev, s->seg, nout, nseg - nout, &s->slot[e->id]);
	if (rc == -ENOSPC || rc == -EIO)
		return rc;
	if (rc < 0) {
		give_back(s, true); /* -E2BIG: more than the device takes */
		return 0;
	}
	s->slot[e->id] = (struct svq_slot){ .ndesc = e->ndesc, .busy = true };
	s->slot[e->id].has_status = last_in_byte(s, &s->slot[e->id].status_gpa);
	s->inflight++;
	s->pending = false;
	return 0;
}

/*
 * Forward guest buffers with guest kicks as the caller set them, until the
 * guest ring is empty (*why 0), the shadow ring is full (-ENOSPC), the SVQ
 * is paused (1), a ring is broken (its errno), or budget buffers moved.
 * Returns how many left the guest ring (forwarded or given back).
 */
static unsigned forward_pass(struct vq_svq *s, unsigned budget, int *why)
{
	unsigned n = 0;
	int rc = 0;

	while (n < budget) {
		if (!s->pending) {
			if (s->paused) {
				rc = 1;
				break;
			}
			rc = take(s);
			if (rc <= 0)
				break;
			s->pending = true;
		}
		rc = forward(s);
		if (rc < 0)
			break; /* full (used buffers will call us again) or broken */
		n++;
	}
	*why = rc;
	return n;
}

/* A forward_pass's stop that is a broken ring, not a full shadow ring: a
 * guest's avail idx too far ahead fails with -ENOSPC too. */
static bool pass_is_broken(const struct vq_svq *s, int why)
{
	return why < 0 && (why != -ENOSPC || vq_dev_is_broken(s->guest));
}

/* Publish what a pass did: the shadow ring's new buffers (and whether the
 * device wants a kick), the guest ring's used ones (and whether the guest
 * wants an interrupt). */
static void publish(struct vq_svq *s, struct vq_svq_events *ev)
{
	if (vq_drv_kick_prepare(s->dev))
		ev->kick_device = true;
	vq_dev_flush(s->guest);
	if (vq_dev_need_notify(s->guest))
		ev->notify_guest = true;
}

int vq_svq_relay_avail(struct vq_svq *s, struct vq_svq_events *ev)
{
	unsigned n = 0;
	int why;

	if (s->cancelled || vq_dev_is_broken(s->guest) || vq_drv_is_broken(s->dev))
		return -EIO;
	vq_dev_disable_notify(s->guest);
	for (;;) {
		n += forward_pass(s, UINT32_MAX, &why);
		/* Empty: sleep unless buffers came meanwhile (the full
		 * barrier inside pairs with the driver's). */
		if (why != 0 || !vq_dev_enable_notify(s->guest))
			break;
		vq_dev_disable_notify(s->guest);
	}
	publish(s, ev);
	return pass_is_broken(s, why) ? why : (int)n;
}

/* ---- device -> guest */

/* Return up to budget of the device's used buffers to the guest (same id,
 * same length, staged until publish).  Returns how many, or the device's
 * violation (the shadow ring is then broken; the guest ring untouched). */
static int used_pass(struct vq_svq *s, unsigned budget)
{
	int n = 0;

	while ((unsigned)n < budget) {
		struct svq_slot *slot;
		uint32_t len;
		void *tok;
		int rc = vq_drv_get(s->dev, &tok, &len);

		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		/* vq_drv checked the id (in flight: our token) and that len is
		 * at most the writable bytes we posted, the guest's in_len. */
		slot = tok;
		slot->busy = false;
		s->inflight--;
		(void)vq_dev_push_id(s->guest, (uint16_t)(slot - s->slot), slot->ndesc, len);
		n++;
	}
	return n;
}

int vq_svq_relay_used(struct vq_svq *s, struct vq_svq_events *ev)
{
	int n = 0, rc;

	if (s->cancelled || vq_drv_is_broken(s->dev))
		return -EIO;
	vq_drv_disable_notify(s->dev);
	for (;;) {
		rc = used_pass(s, UINT32_MAX);
		if (rc < 0) {
			publish(s, ev); /* what was returned before the violation */
			return rc;
		}
		n += rc;
		/* Caught up: sleep unless more came meanwhile (the full
		 * barrier inside pairs with the device's). */
		if (!vq_drv_enable_notify(s->dev))
			break;
		vq_drv_disable_notify(s->dev);
	}
	if (n) {
		publish(s, ev);
		if (!vq_dev_is_broken(s->guest))
			(void)vq_svq_relay_avail(s, ev);
	}
	return n;
}

/* ---- both directions */

/* Guest kicks and device calls back on before sleeping, each then
 * re-checked (the full barriers inside vq_dev_enable_notify and
 * vq_drv_enable_notify pair with the driver's and the device's between
 * publishing and reading the event index or flags).  Guest kicks stay off
 * while the shadow ring is full (the device's call resumes us) or the SVQ
 * is paused.  True: work came meanwhile. */
static bool rearm(struct vq_svq *s, int why)
{
	bool more = vq_drv_enable_notify(s->dev);

	if (why == 0)
		more |= vq_dev_enable_notify(s->guest);
	return more;
}

/* rearm, moderated (vq_svq_params.coalesce): each side with EVENT_IDX
 * signals only after n more buffers (the shadow ring: at most the buffers
 * the device holds); fewer than n may wait unsignalled, which the owner's
 * timer bounds.  The same fence pairings, inside the _after calls.  True:
 * n buffers came meanwhile on a side. */
static bool rearm_moderated(struct vq_svq *s, int why)
{
	bool more = vq_drv_enable_notify_after(s->dev, s->coalesce);

	if (why == 0)
		more |= vq_dev_enable_notify_after(s->guest, s->coalesce);
	return more;
}

int vq_svq_relay(struct vq_svq *s, struct vq_svq_events *ev)
{
	unsigned budget = s->budget, f;
	int returned = 0, u, why = 0;
	bool mod = false, told_more = false;

	ev->moderated = false;
	if (s->cancelled || vq_drv_is_broken(s->dev))
		return -EIO;
	if (vq_dev_is_broken(s->guest))
		return vq_svq_relay_used(s, ev); /* the shadow ring still drains */
	/* Awake and working: neither peer need signal us until we sleep. */
	vq_dev_disable_notify(s->guest);
	vq_drv_disable_notify(s->dev);
	for (;;) {
		u = used_pass(s, budget);
		if (u < 0)
			break;
		f = forward_pass(s, budget - (unsigned)u, &why);
		publish(s, ev);
		returned += u;
		budget -= (unsigned)u + f;
		if (pass_is_broken(s, why))
			break;
		if (u || f)
			told_more = false;
		if ((u || f) && budget)
			continue;
		/* Moderated only after a call that moved buffers: an idle
		 * queue sleeps on plain signals, and its owner's timer stops. */
		mod = s->coalesce && budget < s->budget;
		if (!budget) {
			/* Sleep-safe (signals back on), and asked to come again
			 * soon: the other queues and the socket get their turn. */
			(void)(mod ? rearm_moderated(s, why) : rearm(s, why));
			ev->more = true;
			break;
		}
		if (!(mod ? rearm_moderated(s, why) : rearm(s, why)))
			break;
		/* A re-arm says "more" only after a pass that moved nothing.
		 * Once is the peer racing us; a second time with nothing moved
		 * in between means the re-check and the pop disagree about a
		 * ring (how bug 2 of docs/RELIABILITY.md hung the relay).  Then
		 * return as after a budget, signals on and asked back: the
		 * owner polls this queue, and its other queues and its socket
		 * keep their turns, instead of a loop here for ever. */
		if (told_more) {
			ev->more = true;
			break;
		}
		told_more = true;
		vq_dev_disable_notify(s->guest);
		vq_drv_disable_notify(s->dev);
	}
	if (u < 0) {
		publish(s, ev); /* what was returned before the violation */
		return u;
	}
	ev->moderated = mod && !pass_is_broken(s, why);
	return pass_is_broken(s, why) ? why : returned;
}

/* ---- control */

int vq_svq_cancel(struct vq_svq *s, struct vq_svq_events *ev)
{
	uint32_t size = vq_dev_size(s->guest);
	int n = 0;

	s->cancelled = true;
	for (uint32_t id = 0; id < size && s->inflight; id++) {
		if (!s->slot[id].busy)
			continue;
		/* Nothing written to it, but the give-back status if any. */
		give_back_id(s, (uint16_t)id, s->slot[id].ndesc, s->slot[id].has_status,
			     s->slot[id].status_gpa);
		s->slot[id].busy = false;
		s->inflight--;
		n++;
	}
	if (s->pending) {
		give_back(s, false);
		n++;
	}
	if (n) {
		vq_dev_flush(s->guest);
		if (vq_dev_need_notify(s->guest))
			ev->notify_guest = true;
	}
	return n;
}

void vq_svq_set_paused(struct vq_svq *s, bool paused)
{
	s->paused = paused;
}

unsigned vq_svq_inflight(const struct vq_svq *s)
{
	return s->inflight + s->pending;
}

int vq_svq_get_state(const struct vq_svq *s, struct vq_state *st)
{
	if (vq_svq_inflight(s))
		return -EBUSY;
	vq_dev_get_state(s->guest, st);
	return 0;
}

int vq_svq_set_state(struct vq_svq *s, const struct vq_state *st)
{
	if (vq_svq_inflight(s))
		return -EBUSY;
	return vq_dev_set_state(s->guest, st);
}

bool vq_svq_guest_is_broken(const struct vq_svq *s)
{
	return vq_dev_is_broken(s->guest);
}

bool vq_svq_device_is_broken(const struct vq_svq *s)
{
	return vq_drv_is_broken(s->dev);
}

const char *vq_svq_error(const struct vq_svq *s)
{
	if (vq_dev_is_broken(s->guest))
		return vq_dev_error(s->guest);
	if (vq_drv_is_broken(s->dev))
		return vq_drv_error(s->dev);
	return "";
}

uint64_t vq_svq_dropped(const struct vq_svq *s)
{
	return s->dropped;
}
