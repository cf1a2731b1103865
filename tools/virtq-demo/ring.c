/* SPDX-License-Identifier: MIT */
/* One queue of the demo: its memory, its driver thread, its device thread. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

#define POOL_GPA     0x100000ull
#define INDIRECT_GPA (1ull << 40)
#define ALIGN64(x)   (((x) + 63u) & ~(uint64_t)63u)

static int load(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store(int *p)
{
	__atomic_store_n(p, 1, __ATOMIC_RELEASE);
}

void demo_fail(struct demo *d, const char *who, const char *what)
{
	int was = __atomic_exchange_n(&d->failed, 1, __ATOMIC_ACQ_REL);

	if (!was)
		snprintf(d->why, sizeof(d->why), "%s: %s", who, what);
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set); /* best effort */
}

static int setup_ring(struct demo *d, struct vq_drv_params *dc)
{
	struct vq_ring_layout l;
	int ret = vq_ring_layout(d->layout, d->o->size, &l);

	if (ret)
		return ret;
	d->ring = aligned_alloc(64, ALIGN64(l.total));
	if (!d->ring)
		return -ENOMEM;
	memset(d->ring, 0, l.total);
	dc->ring.layout = d->layout;
	dc->ring.size = d->o->size;
	dc->ring.features = VQ_F_VERSION_1 | VQ_F_EVENT_IDX |
			    (d->o->indirect ? VQ_F_INDIRECT : 0) |
			    (d->layout == VQ_LAYOUT_PACKED ? VQ_F_PACKED : 0);
	dc->ring.desc = (char *)d->ring + l.desc_off;
	dc->ring.avail = (char *)d->ring + l.avail_off;
	dc->ring.used = (char *)d->ring + l.used_off;
	return 0;
}

static int setup_mem(struct demo *d, struct vq_drv_params *dc)
{
	uint64_t bytes = d->stride * d->o->size, ibytes = 32ull * d->o->size;
	struct vq_mem_region r = { .gpa = POOL_GPA, .size = bytes, .prot = VQ_MEM_RW };
	int ret = vq_mem_new(&d->mem);

	if (ret)
		return ret;
	d->pool = r.hva = aligned_alloc(4096, (bytes + 4095) & ~4095ull);
	if (!d->pool)
		return -ENOMEM;
	memset(d->pool, 0, bytes);
	d->pool_gpa = POOL_GPA;
	ret = vq_mem_add(d->mem, &r);
	if (ret || !d->o->indirect)
		return ret;
	d->indirect = aligned_alloc(64, ALIGN64(ibytes));
	if (!d->indirect)
		return -ENOMEM;
	r = (struct vq_mem_region){ .gpa = INDIRECT_GPA, .size = ibytes,
				    .hva = d->indirect, .prot = VQ_MEM_READ };
	dc->indirect = d->indirect;
	dc->indirect_gpa = INDIRECT_GPA;
	dc->indirect_tables = d->o->size;
	dc->indirect_len = 2;
	return vq_mem_add(d->mem, &r);
}

int demo_setup(struct demo *d, const struct demo_opts *o, enum vq_layout layout)
{
	struct vq_drv_params dc;
	int ret;

	memset(d, 0, sizeof(*d));
	memset(&dc, 0, sizeof(dc));
	d->o = o;
	d->layout = layout;
	d->stride = ALIGN64(sizeof(struct demo_hdr) + o->bytes) + 64;
	ret = setup_ring(d, &dc);
	if (!ret)
		ret = setup_mem(d, &dc);
	if (!ret)
		ret = vq_drv_new(&dc, &d->drv);
	if (!ret)
		ret = vq_dev_new(&dc.ring, d->mem, &d->dev);
	if (ret)
		demo_teardown(d);
	return ret;
}

void demo_teardown(struct demo *d)
{
	vq_drv_free(d->drv);
	vq_dev_free(d->dev);
	vq_mem_free(d->mem);
	free(d->indirect);
	free(d->pool);
	free(d->ring);
	d->drv = NULL;
	d->dev = NULL;
	d->mem = NULL;
	d->ring = d->pool = d->indirect = NULL;
}

/* ---- driver thread */

struct drv_state {
	uint32_t *free;  /* free slots */
	uint32_t nfree;
	uint64_t *seq;   /* sequence number in flight, per slot */
	uint64_t next_seq;
};

static char *slot_req(struct demo *d, uint32_t slot)
{
	return (char *)d->pool + slot * d->stride;
}

static struct demo_resp *slot_resp(struct demo *d, uint32_t slot)
{
	return (void *)(slot_req(d, slot) + d->stride - 64);
}

static uint64_t expected_csum(uint64_t seq, uint32_t bytes)
{
	return (uint64_t)(bytes / 8) * ((seq & 0xff) * 0x0101010101010101ull);
}

/* Fill one free slot and add it.  Returns 0, -ENOSPC or another -errno. */
static int drv_add_one(struct demo *d, struct drv_state *s)
{
	uint32_t slot = s->free[s->nfree - 1];
	struct demo_hdr *h = (void *)slot_req(d, slot);
	uint64_t gpa = d->pool_gpa + slot * d->stride;
	struct vq_seg sg[2] = {
		{ gpa, (uint32_t)(sizeof(*h) + d->o->bytes) },
		{ gpa + d->stride - 64, sizeof(struct demo_resp) },
	};
	int ret;

	h->seq = s->next_seq;
	h->bytes = d->o->bytes;
	memset(h + 1, (int)(s->next_seq & 0xff), d->o->bytes);
	memset(slot_resp(d, slot), 0, sizeof(struct demo_resp));
	ret = vq_drv_add(d->drv, sg, 1, 1, (void *)(uintptr_t)(slot + 1));
	if (ret)
		return ret;
	s->seq[slot] = s->next_seq++;
	s->nfree--;
	return 0;
}

static int drv_refill(struct demo *d, struct drv_state *s)
{
	uint32_t n = 0;
	int ret = 0;

	while (n < d->o->batch && s->nfree && !(ret = drv_add_one(d, s)))
		n++;
	if (n)
		vq_drv_kick_prepare(d->drv); /* busy-polling device: no kick */
	return ret == -ENOSPC ? 0 : ret;
}

static int drv_reclaim(struct demo *d, struct drv_state *s)
{
	void *tok;
	uint32_t len;
	int ret;

	while ((ret = vq_drv_get(d->drv, &tok, &len)) == 1) {
		uint32_t slot = (uint32_t)((uintptr_t)tok - 1);
		struct demo_resp *r = slot_resp(d, slot);

		if (len != sizeof(*r) || r->seq != s->seq[slot] ||
		    r->csum != expected_csum(s->seq[slot], d->o->bytes))
			__atomic_store_n(&d->bad, d->bad + 1, __ATOMIC_RELAXED);
		s->free[s->nfree++] = slot;
		__atomic_store_n(&d->done, d->done + 1, __ATOMIC_RELAXED);
	}
	return ret;
}

void *demo_drv_thread(void *arg)
{
	struct demo *d = arg;
	struct drv_state s = { .nfree = d->o->size, .next_seq = 1 };
	int ret = 0;

	s.free = malloc(d->o->size * sizeof(*s.free));
	s.seq = calloc(d->o->size, sizeof(*s.seq));
	if (!s.free || !s.seq)
		demo_fail(d, "driver", "out of memory");
	for (uint32_t i = 0; s.free && i < d->o->size; i++)
		s.free[i] = d->o->size - 1 - i;
	pin(d->o->cpu_drv);
	while (s.free && s.seq && !load(&d->failed)) {
		ret = drv_reclaim(d, &s);
		if (ret >= 0 && !load(&d->stop))
			ret = drv_refill(d, &s);
		else if (ret >= 0 && s.nfree == d->o->size)
			break; /* stopped and everything came back */
		if (ret < 0) {
			demo_fail(d, "driver", *vq_drv_error(d->drv) ? vq_drv_error(d->drv)
								   : strerror(-ret));
			break;
		}
	}
	store(&d->drv_done);
	free(s.free);
	free(s.seq);
	return NULL;
}

/* ---- device thread */

static size_t iov_copy(const struct iovec *iov, unsigned n, void *buf, size_t len,
		       bool to_iov)
{
	size_t off = 0;

	for (unsigned i = 0; i < n && off < len; i++) {
		size_t k = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;

		if (to_iov)
			memcpy(iov[i].iov_base, (char *)buf + off, k);
		else
			memcpy((char *)buf + off, iov[i].iov_base, k);
		off += k;
	}
	return off;
}

/* Handle one request like a device would: copy it in, checksum, respond.
 * Returns the bytes written into the writable part. */
static uint32_t dev_handle(struct demo *d, struct vq_elem *e, uint64_t *buf)
{
	size_t want = sizeof(struct demo_hdr) + d->o->bytes;
	struct demo_resp r = { 0, 0 };
	struct demo_hdr h;

	if (e->out_len == want && e->in_len >= sizeof(r) &&
	    iov_copy(e->iov, e->out_num, buf, want, false) == want) {
		memcpy(&h, buf, sizeof(h));
		r.seq = h.seq;
		for (size_t i = 0; i < d->o->bytes / 8; i++)
			r.csum += buf[2 + i];
	}
	if (e->in_len < sizeof(r))
		return 0;
	return (uint32_t)iov_copy(e->iov + e->out_num, e->in_num, &r, sizeof(r), true);
}

void *demo_dev_thread(void *arg)
{
	struct demo *d = arg;
	struct iovec iov[8];
	struct vq_elem e = { .iov = iov, .iov_cap = 8 };
	uint64_t *buf = malloc(sizeof(struct demo_hdr) + d->o->bytes);
	int ret = buf ? 0 : -ENOMEM;

	pin(d->o->cpu_dev);
	while (!ret && !load(&d->drv_done) && !load(&d->failed)) {
		uint32_t n = 0;

		while (n < d->o->batch && (ret = vq_dev_pop(d->dev, &e)) == 1) {
			ret = vq_dev_push(d->dev, &e, dev_handle(d, &e, buf));
			if (ret)
				break;
			n++;
		}
		if (n) {
			vq_dev_flush(d->dev);
			vq_dev_need_notify(d->dev); /* busy-polling driver: no interrupt */
		}
		ret = ret < 0 ? ret : 0;
	}
	if (ret)
		demo_fail(d, "device", *vq_dev_error(d->dev) ? vq_dev_error(d->dev)
							     : strerror(-ret));
	free(buf);
	return NULL;
}
