/* SPDX-License-Identifier: MIT */
/*
 * Fixture of the svq and svq_bad tests: a driver (vq_drv) over "guest"
 * memory -> svq -> a device (vq_dev) over the IOVA-space memory map.
 * Guest memory is laid out like the seed's cases: GPA-contiguous regions
 * backed by scattered host memory, and a read-only alias of a RW region.
 * No party runs unless notified, so a lost notification stalls a test.
 */
#ifndef VQ_TEST_SVQ_FX_H
#define VQ_TEST_SVQ_FX_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <virtq/iova.h>
#include <virtq/mem.h>
#include <virtq/ring.h>
#include <virtq/svq.h>

#include "../harness/test.h"

#define HOST_BYTES 0x60000u
#define NSLOT      32u
#define OUT_MAX    0x600u
#define IN_MAX     0x600u
#define POOL_GPA   0x4000u
#define GIND_LEN   8u

/* GPA -> host offset.  R1, R2, R3 are contiguous in GPA space and not in
 * host space; ALIAS is a read-only view of R1's host memory. */
static const struct {
	uint64_t gpa, host, size;
	uint32_t prot;
} regions[] = {
	{ 0x00000, 0x30000, 0x10000, VQ_MEM_RW },   /* R0: rings, indirect pool */
	{ 0x10000, 0x10000, 0x10000, VQ_MEM_RW },   /* R1 */
	{ 0x20000, 0x40000, 0x10000, VQ_MEM_RW },   /* R2 */
	{ 0x30000, 0x00000, 0x08000, VQ_MEM_RW },   /* R3 */
	{ 0x80000, 0x10000, 0x10000, VQ_MEM_READ }, /* ALIAS of R1, read-only */
};
#define NREG (sizeof(regions) / sizeof(regions[0]))
#define ALIAS_DELTA 0x70000u
/* Two regions added during traffic (hot add): GPA-contiguous, host apart. */
#define HOT_GPA   0x40000u
#define HOT_HOST0 0x20000u
#define HOT_HOST1 0x50000u
#define HOT_SIZE  0x10000u

struct combo {
	enum vq_layout gl, dl;  /* guest ring, shadow ring */
	uint64_t gf, df;        /* features of each side */
	uint32_t gsize, dsize;
	bool both;              /* every kick and call runs vq_svq_relay */
	uint32_t coalesce;      /* vq_svq_params.coalesce (0: off) */
};

struct slot {
	bool busy;
	uint32_t serial;
	struct vq_seg sg[4];
	unsigned out, in;
	uint32_t in_len;
	uint64_t in_gpa;        /* in area: contiguous GPA, split in sg */
};

struct fx {
	struct combo c;
	uint8_t *host;
	struct vq_mem *gmem, *dmem;
	struct vq_iova *iova;
	struct vq_drv *gdrv;
	struct vq_svq *svq;
	struct vq_dev *dev;
	struct vq_svq_ring ring;
	struct slot slot[NSLOT];
	uint64_t x;             /* random state */
	uint32_t serial, done;
	uint64_t base_gpa;      /* data area */
	bool use_hot;           /* put new buffers in the hot region */
	bool kick_device, notify_guest;
	bool again;             /* vq_svq_relay stopped at its budget */
	bool moderated;         /* vq_svq_relay slept moderated: the owner's timer runs */
	unsigned timer_runs;    /* relays the timer made */
	struct iovec diov[64];
	/* Optional: adjust the SVQ's parameters before vq_svq_new. */
	void (*tweak)(struct fx *f, struct vq_svq_params *p);
	struct vq_dev *gdev;    /* a guest-side vq_dev the test made (tweak) */
	unsigned allocs, releases;
};

/* ---- guest memory */

static inline void gcopy(struct fx *f, uint64_t gpa, void *buf, uint64_t len, bool to_guest)
{
	struct iovec iov[8];
	int n = vq_mem_translate(f->gmem, gpa, len, VQ_MEM_READ, iov, 8);

	ASSERT_GE(n, 0);
	for (int i = 0; i < n; i++) {
		if (to_guest)
			memcpy(iov[i].iov_base, buf, iov[i].iov_len);
		else
			memcpy(buf, iov[i].iov_base, iov[i].iov_len);
		buf = (uint8_t *)buf + iov[i].iov_len;
	}
}

static inline void map_region(struct fx *f, uint64_t gpa, uint64_t host, uint64_t size, uint32_t prot)
{
	struct vq_mem_region r = { .gpa = gpa, .size = size, .hva = f->host + host,
				   .prot = prot };
	uint64_t iova;

	ASSERT_EQ(vq_mem_add(f->gmem, &r), 0);
	ASSERT_EQ(vq_iova_map_guest(f->iova, &r, &iova), 0);
}

static inline void device_view(struct fx *f)
{
	ASSERT_EQ(vq_iova_to_mem(f->iova, f->dmem), 0);
}

/* ---- the three parties */

static inline void guest_new(struct fx *f)
{
	struct vq_ring_layout l;
	struct vq_drv_params p = { 0 };

	ASSERT_EQ(vq_ring_layout(f->c.gl, f->c.gsize, &l), 0);
	memset(f->host + regions[0].host, 0, 0x10000);
	p.ring = (struct vq_ring_params){
		.layout = f->c.gl, .size = f->c.gsize, .features = f->c.gf,
		.desc = f->host + regions[0].host + l.desc_off,
		.avail = f->host + regions[0].host + l.avail_off,
		.used = f->host + regions[0].host + l.used_off,
	};
	if (f->c.gf & VQ_F_INDIRECT) {
		p.indirect = f->host + regions[0].host + POOL_GPA;
		p.indirect_gpa = POOL_GPA;
		p.indirect_tables = NSLOT;
		p.indirect_len = GIND_LEN;
	}
	ASSERT_EQ(vq_drv_new(&p, &f->gdrv), 0);
}

static inline void svq_new(struct fx *f)
{
	struct vq_ring_layout l;
	struct vq_svq_params p = { 0 };
	struct vq_ring_params dp;

	ASSERT_EQ(vq_ring_layout(f->c.gl, f->c.gsize, &l), 0);
	p.guest = (struct vq_ring_params){
		.layout = f->c.gl, .size = f->c.gsize, .features = f->c.gf,
		.desc = f->host + regions[0].host + l.desc_off,
		.avail = f->host + regions[0].host + l.avail_off,
		.used = f->host + regions[0].host + l.used_off,
	};
	p.guest_mem = f->gmem;
	p.iova = f->iova;
	p.dev_layout = f->c.dl;
	p.dev_size = f->c.dsize;
	p.dev_features = f->c.df;
	p.coalesce = f->c.coalesce;
	if (f->tweak)
		f->tweak(f, &p);
	ASSERT_EQ(vq_svq_new(&p, &f->svq), 0);
	vq_svq_device_ring(f->svq, &f->ring);
	ASSERT_EQ(f->ring.size, f->c.dsize);
	device_view(f);
	ASSERT_EQ(vq_ring_layout(f->c.dl, f->c.dsize, &l), 0);
	dp = (struct vq_ring_params){
		.layout = f->ring.layout, .size = f->ring.size, .features = f->ring.features,
		.desc = vq_iova_host_ptr(f->iova, f->ring.desc, l.desc_size, VQ_MEM_RW),
		.avail = vq_iova_host_ptr(f->iova, f->ring.avail, l.avail_size, VQ_MEM_RW),
		.used = vq_iova_host_ptr(f->iova, f->ring.used, l.used_size, VQ_MEM_RW),
	};
	ASSERT_TRUE(dp.desc && dp.avail && dp.used);
	ASSERT_EQ(vq_dev_new(&dp, f->dmem, &f->dev), 0);
}

static inline void fx_init(struct fx *f, const struct combo *c)
{
	struct vq_iova_params ip = { .base = 0x100000000ull, .size = 1ull << 32 };

	memset(f, 0, sizeof(*f));
	f->c = *c;
	static uint64_t seed;

	if (!seed)
		seed = vq_test_seed();
	f->x = seed ^ (c->gl * 7 + c->dl * 3 + c->gf + c->df * 5);
	f->host = aligned_alloc(4096, HOST_BYTES);
	ASSERT_TRUE(f->host != NULL);
	memset(f->host, 0xee, HOST_BYTES);
	ASSERT_EQ(vq_mem_new(&f->gmem), 0);
	ASSERT_EQ(vq_mem_new(&f->dmem), 0);
	ASSERT_EQ(vq_iova_new(&ip, &f->iova), 0);
	/* Hand out IOVAs in an order unlike GPA order. */
	ASSERT_EQ(vq_iova_reserve(f->iova, ip.base, 0x30000), 0);
	for (unsigned i = 0; i < NREG; i++) {
		map_region(f, regions[i].gpa, regions[i].host, regions[i].size, regions[i].prot);
		if (i == 1)
			ASSERT_EQ(vq_iova_release(f->iova, ip.base, 0x30000), 0);
	}
	f->base_gpa = 0x1a000;
	guest_new(f);
	svq_new(f);
}

static inline void fx_fini(struct fx *f)
{
	vq_dev_free(f->dev);
	vq_svq_free(f->svq);
	vq_dev_free(f->gdev);
	vq_drv_free(f->gdrv);
	vq_iova_free(f->iova);
	vq_mem_free(f->gmem);
	vq_mem_free(f->dmem);
	free(f->host);
}

/* ---- payloads */

static inline uint8_t out_byte(uint32_t serial, uint32_t i)
{
	return (uint8_t)(serial * 31 + i * 7 + (i >> 8));
}

static inline uint8_t in_byte(uint32_t serial, uint32_t i)
{
	return (uint8_t)(serial * 13 + i * 5 + 1);
}

static inline uint32_t used_len_of(uint32_t serial, uint32_t in_len)
{
	return (serial * 2654435761u) % (in_len + 1);
}

static inline uint32_t rnd(struct fx *f, uint32_t n)
{
	return (uint32_t)(vq_test_rand(&f->x) % n);
}

/* Split [gpa, gpa + len) into 1 or 2 segments at sg. */
static inline unsigned split(struct fx *f, struct vq_seg *sg, uint64_t gpa, uint32_t len)
{
	uint32_t cut = len > 1 && rnd(f, 2) ? 1 + rnd(f, len - 1) : len;

	sg[0] = (struct vq_seg){ gpa, cut };
	if (cut == len)
		return 1;
	sg[1] = (struct vq_seg){ gpa + cut, len - cut };
	return 2;
}

/* Data area of slot k: out part then in part, crossing region borders. */
static inline uint64_t slot_gpa(struct fx *f, unsigned k)
{
	return (f->use_hot ? HOT_GPA : f->base_gpa) + (uint64_t)k * (OUT_MAX + IN_MAX);
}

/* Driver: post a buffer in a free slot.  false when the ring is full. */
static inline bool post(struct fx *f)
{
	unsigned k = rnd(f, NSLOT), tries = 0;
	struct slot *s;
	uint8_t buf[OUT_MAX];
	uint64_t gpa;
	uint32_t olen;
	int rc;

	while (f->slot[k].busy && tries++ < NSLOT)
		k = (k + 1) % NSLOT;
	if (f->slot[k].busy)
		return false;
	s = &f->slot[k];
	gpa = slot_gpa(f, k);
	olen = 8 + rnd(f, OUT_MAX - 8);
	s->serial = ++f->serial;
	for (uint32_t i = 0; i < olen; i++)
		buf[i] = out_byte(s->serial, i);
	memcpy(buf, &s->serial, 4);
	gcopy(f, gpa, buf, olen, true);
	/* A read-only buffer may be read through the read-only alias. */
	if (gpa + olen <= 0x20000 && rnd(f, 2))
		gpa += ALIAS_DELTA;
	s->out = split(f, s->sg, gpa, olen);
	s->in_len = 1 + rnd(f, IN_MAX - 1);
	s->in_gpa = slot_gpa(f, k) + OUT_MAX;
	s->in = split(f, s->sg + s->out, s->in_gpa, s->in_len);
	rc = vq_drv_add(f->gdrv, s->sg, s->out, s->in, s);
	if (rc == -ENOSPC)
		return false;
	ASSERT_EQ(rc, 0);
	s->busy = true;
	return true;
}

/* Driver: check one used buffer. */
static inline void check_used(struct fx *f, struct slot *s, uint32_t len)
{
	uint8_t buf[IN_MAX];

	ASSERT_TRUE(s >= f->slot && s < f->slot + NSLOT && s->busy);
	ASSERT_EQ(len, used_len_of(s->serial, s->in_len));
	gcopy(f, s->in_gpa, buf, len, false);
	for (uint32_t i = 0; i < len; i++)
		if (buf[i] != in_byte(s->serial, i))
			FAIL("serial %u: byte %u of %u is 0x%02x, want 0x%02x", s->serial, i,
			     len, buf[i], in_byte(s->serial, i));
	s->busy = false;
	f->done++;
}

/* Driver, on an interrupt: collect everything used. */
static inline unsigned guest_collect(struct fx *f)
{
	unsigned n = 0;
	void *tok;
	uint32_t len;

	for (;;) {
		int rc = vq_drv_get(f->gdrv, &tok, &len);

		ASSERT_GE(rc, 0);
		if (rc == 0) {
			if (!vq_drv_enable_notify(f->gdrv))
				return n;
			continue;
		}
		check_used(f, tok, len);
		n++;
	}
}

/* Device: read the readable part, check it, write the writable part. */
static inline uint32_t serve(struct fx *f, struct vq_elem *e)
{
	uint8_t buf[OUT_MAX];
	uint32_t serial, off = 0, len;

	ASSERT_LE(e->out_len, OUT_MAX);
	for (uint32_t i = 0; i < e->out_num; i++) {
		memcpy(buf + off, e->iov[i].iov_base, e->iov[i].iov_len);
		off += (uint32_t)e->iov[i].iov_len;
	}
	ASSERT_GE(off, 8);
	memcpy(&serial, buf, 4);
	for (uint32_t i = 4; i < off; i++)
		if (buf[i] != out_byte(serial, i))
			FAIL("device: serial %u byte %u is 0x%02x, want 0x%02x", serial, i,
			     buf[i], out_byte(serial, i));
	len = used_len_of(serial, (uint32_t)e->in_len);
	off = 0;
	for (uint32_t i = e->out_num; i < e->out_num + e->in_num && off < len; i++) {
		uint8_t *p = e->iov[i].iov_base;

		for (uint32_t j = 0; j < e->iov[i].iov_len && off < len; j++, off++)
			p[j] = in_byte(serial, off);
	}
	return len;
}

static inline void svq_events(struct fx *f, const struct vq_svq_events *ev)
{
	f->kick_device |= ev->kick_device;
	f->notify_guest |= ev->notify_guest;
	f->again |= ev->more;
	f->moderated = ev->moderated;
}

/* The SVQ on a device call (kick false) or a guest kick (kick true). */
static inline void svq_run(struct fx *f, bool kick)
{
	struct vq_svq_events ev = { 0 };

	if (f->c.both)
		ASSERT_GE(vq_svq_relay(f->svq, &ev), 0);
	else if (kick)
		ASSERT_GE(vq_svq_relay_avail(f->svq, &ev), 0);
	else
		ASSERT_GE(vq_svq_relay_used(f->svq, &ev), 0);
	svq_events(f, &ev);
}

/* Device, on a kick: serve everything available, completing in reverse. */
static inline unsigned device_run(struct fx *f)
{
	struct vq_elem e[64];
	uint32_t len[64];
	unsigned n = 0, total = 0;

	for (;;) {
		int rc;

		e[n] = (struct vq_elem){ .iov = f->diov, .iov_cap = 64 };
		rc = vq_dev_pop(f->dev, &e[n]);
		if (rc < 0)
			FAIL("device pop: %d (%s)", rc, vq_dev_error(f->dev));
		if (rc == 1) {
			len[n] = serve(f, &e[n]);
			n++;
			if (n < 64)
				continue;
		}
		while (n) {     /* out of order: last popped first */
			n--;
			ASSERT_EQ(vq_dev_push_id(f->dev, e[n].id, e[n].ndesc, len[n]), 0);
			total++;
		}
		if (rc == 1)
			continue;
		if (!vq_dev_enable_notify(f->dev))
			break;
	}
	vq_dev_flush(f->dev);
	if (vq_dev_need_notify(f->dev))
		svq_run(f, false);
	return total;
}

/* One round: post up to burst buffers, then let each party run only when
 * it was notified.  Returns the progress made. */
static inline unsigned round_trip(struct fx *f, unsigned burst)
{
	unsigned progress = 0;

	for (unsigned i = 0; i < burst && post(f); i++)
		progress++;
	if (vq_drv_kick_prepare(f->gdrv))
		svq_run(f, true);
	while (f->kick_device || f->notify_guest || f->again || f->moderated) {
		if (f->moderated && !f->kick_device && !f->notify_guest && !f->again) {
			/* The owner's timer: a relay with no signal. */
			f->moderated = false;
			f->timer_runs++;
			svq_run(f, true);
		}
		if (f->again) {
			f->again = false;
			svq_run(f, true);
		}
		if (f->kick_device) {
			f->kick_device = false;
			progress += device_run(f);
		}
		if (f->notify_guest) {
			f->notify_guest = false;
			progress += guest_collect(f);
		}
	}
	return progress;
}

/* Run until want buffers completed; a round without progress while
 * buffers are outstanding is a lost notification. */
static inline void traffic(struct fx *f, uint32_t want)
{
	unsigned idle = 0;

	want += f->done;
	while (f->done < want) {
		if (round_trip(f, 1 + rnd(f, 8)))
			idle = 0;
		else if (++idle > 3)
			FAIL("stalled at %u of %u done, svq inflight %u (%s)", f->done, want,
			     vq_svq_inflight(f->svq), vq_svq_error(f->svq));
	}
	ASSERT_FALSE(vq_svq_guest_is_broken(f->svq));
	ASSERT_FALSE(vq_svq_device_is_broken(f->svq));
	ASSERT_EQ(vq_svq_dropped(f->svq), 0);
}

/* Stop taking guest buffers and run until the shadow ring is empty. */
static inline void drain(struct fx *f)
{
	unsigned idle = 0;

	vq_svq_set_paused(f->svq, true);
	while (vq_svq_inflight(f->svq)) {
		if (round_trip(f, 0) == 0) {
			/* Nothing notified: the device polls once. */
			f->kick_device = true;
			if (round_trip(f, 0) == 0 && ++idle > 3)
				FAIL("drain stalled with %u in flight", vq_svq_inflight(f->svq));
		}
	}
}

static inline void resume(struct fx *f)
{
	struct vq_svq_events ev = { 0 };

	vq_svq_set_paused(f->svq, false);
	ASSERT_GE(vq_svq_relay_avail(f->svq, &ev), 0);
	svq_events(f, &ev);
}


static const struct combo std_combo = {
	.gl = VQ_LAYOUT_SPLIT, .dl = VQ_LAYOUT_PACKED,
	.gf = VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_F_INDIRECT,
	.df = VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_F_INDIRECT,
	.gsize = 32, .dsize = 16,
};

/* Let the driver's outstanding buffers complete (the device polls). */
static inline void settle(struct fx *f)
{
	for (unsigned i = 0; i < 1000; i++) {
		bool busy = false;

		for (unsigned k = 0; k < NSLOT; k++)
			busy |= f->slot[k].busy;
		if (!busy)
			return;
		f->kick_device = true;
		round_trip(f, 0);
	}
	FAIL("buffers never completed");
}

/* Post a raw buffer (addresses unchecked by the driver), token = slot k. */
static inline void post_raw(struct fx *f, unsigned k, uint64_t gpa, uint32_t len, bool write)
{
	struct vq_seg sg = { gpa, len };

	f->slot[k].busy = true;
	ASSERT_EQ(vq_drv_add(f->gdrv, &sg, !write, write, &f->slot[k]), 0);
}

/* Kick the SVQ; returns its return value. */
static inline int guest_kick(struct fx *f)
{
	struct vq_svq_events ev = { 0 };
	int rc;

	vq_drv_kick_prepare(f->gdrv);
	rc = vq_svq_relay_avail(f->svq, &ev);
	svq_events(f, &ev);
	return rc;
}

#endif
