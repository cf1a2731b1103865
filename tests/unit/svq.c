/* SPDX-License-Identifier: MIT */
/*
 * Shadow virtqueue, in process: a driver (vq_drv) over "guest" memory ->
 * svq -> a device (vq_dev) over the IOVA-space memory map, with every
 * payload verified at both ends.  Guest memory is laid out like the seed's
 * cases: GPA-contiguous regions backed by scattered host memory, and a
 * read-only alias of a RW region.  Covers every layout and feature
 * combination on both sides, notifications honoured (no side runs unless
 * notified, so a lost notification stalls the test), indirect tables, hot
 * add and remove of regions during traffic, state save and restore, and
 * hostile peers on either side.
 */
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
	struct iovec diov[64];
};

/* ---- guest memory */

static void gcopy(struct fx *f, uint64_t gpa, void *buf, uint64_t len, bool to_guest)
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

static void map_region(struct fx *f, uint64_t gpa, uint64_t host, uint64_t size, uint32_t prot)
{
	struct vq_mem_region r = { .gpa = gpa, .size = size, .hva = f->host + host,
				   .prot = prot };
	uint64_t iova;

	ASSERT_EQ(vq_mem_add(f->gmem, &r), 0);
	ASSERT_EQ(vq_iova_map_guest(f->iova, &r, &iova), 0);
}

static void device_view(struct fx *f)
{
	ASSERT_EQ(vq_iova_to_mem(f->iova, f->dmem), 0);
}

/* ---- the three parties */

static void guest_new(struct fx *f)
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

static void svq_new(struct fx *f)
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

static void fx_init(struct fx *f, const struct combo *c)
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

static void fx_fini(struct fx *f)
{
	vq_dev_free(f->dev);
	vq_svq_free(f->svq);
	vq_drv_free(f->gdrv);
	vq_iova_free(f->iova);
	vq_mem_free(f->gmem);
	vq_mem_free(f->dmem);
	free(f->host);
}

/* ---- payloads */

static uint8_t out_byte(uint32_t serial, uint32_t i)
{
	return (uint8_t)(serial * 31 + i * 7 + (i >> 8));
}

static uint8_t in_byte(uint32_t serial, uint32_t i)
{
	return (uint8_t)(serial * 13 + i * 5 + 1);
}

static uint32_t used_len_of(uint32_t serial, uint32_t in_len)
{
	return (serial * 2654435761u) % (in_len + 1);
}

static uint32_t rnd(struct fx *f, uint32_t n)
{
	return (uint32_t)(vq_test_rand(&f->x) % n);
}

/* Split [gpa, gpa + len) into 1 or 2 segments at sg. */
static unsigned split(struct fx *f, struct vq_seg *sg, uint64_t gpa, uint32_t len)
{
	uint32_t cut = len > 1 && rnd(f, 2) ? 1 + rnd(f, len - 1) : len;

	sg[0] = (struct vq_seg){ gpa, cut };
	if (cut == len)
		return 1;
	sg[1] = (struct vq_seg){ gpa + cut, len - cut };
	return 2;
}

/* Data area of slot k: out part then in part, crossing region borders. */
static uint64_t slot_gpa(struct fx *f, unsigned k)
{
	return (f->use_hot ? HOT_GPA : f->base_gpa) + (uint64_t)k * (OUT_MAX + IN_MAX);
}

/* Driver: post a buffer in a free slot.  false when the ring is full. */
static bool post(struct fx *f)
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
static void check_used(struct fx *f, struct slot *s, uint32_t len)
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
static unsigned guest_collect(struct fx *f)
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
static uint32_t serve(struct fx *f, struct vq_elem *e)
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

static void svq_events(struct fx *f, const struct vq_svq_events *ev)
{
	f->kick_device |= ev->kick_device;
	f->notify_guest |= ev->notify_guest;
}

/* Device, on a kick: serve everything available, completing in reverse. */
static unsigned device_run(struct fx *f)
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
	if (vq_dev_need_notify(f->dev)) {
		struct vq_svq_events ev = { 0 };

		ASSERT_GE(vq_svq_relay_used(f->svq, &ev), 0);
		svq_events(f, &ev);
	}
	return total;
}

/* One round: post up to burst buffers, then let each party run only when
 * it was notified.  Returns the progress made. */
static unsigned round_trip(struct fx *f, unsigned burst)
{
	unsigned progress = 0;

	for (unsigned i = 0; i < burst && post(f); i++)
		progress++;
	if (vq_drv_kick_prepare(f->gdrv)) {
		struct vq_svq_events ev = { 0 };

		ASSERT_GE(vq_svq_relay_avail(f->svq, &ev), 0);
		svq_events(f, &ev);
	}
	while (f->kick_device || f->notify_guest) {
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
static void traffic(struct fx *f, uint32_t want)
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
static void drain(struct fx *f)
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

static void resume(struct fx *f)
{
	struct vq_svq_events ev = { 0 };

	vq_svq_set_paused(f->svq, false);
	ASSERT_GE(vq_svq_relay_avail(f->svq, &ev), 0);
	svq_events(f, &ev);
}

/* ---- every layout and feature combination */

static void run_combo(enum vq_layout gl, enum vq_layout dl, unsigned bits)
{
	struct combo c = {
		.gl = gl, .dl = dl,
		.gf = VQ_F_VERSION_1 | (bits & 1 ? VQ_F_INDIRECT : 0) |
		      (bits & 2 ? VQ_F_EVENT_IDX : 0),
		.df = VQ_F_VERSION_1 | (bits & 4 ? VQ_F_INDIRECT : 0) |
		      (bits & 8 ? VQ_F_EVENT_IDX : 0),
		.gsize = 32,
		/* A shadow ring smaller than the guest's: full rings, waiting
		 * buffers, and indirect tables to fit fragmented chains. */
		.dsize = bits & 16 ? 8 : 32,
	};
	struct fx f;

	fx_init(&f, &c);
	traffic(&f, 600);
	fx_fini(&f);
}

#define COMBO(name, gl, dl)                                                      \
	TEST(name)                                                               \
	{                                                                        \
		for (unsigned bits = 0; bits < 32; bits++)                       \
			run_combo(gl, dl, bits);                                 \
	}
COMBO(svq_split_to_split, VQ_LAYOUT_SPLIT, VQ_LAYOUT_SPLIT)
COMBO(svq_split_to_packed, VQ_LAYOUT_SPLIT, VQ_LAYOUT_PACKED)
COMBO(svq_packed_to_split, VQ_LAYOUT_PACKED, VQ_LAYOUT_SPLIT)
COMBO(svq_packed_to_packed, VQ_LAYOUT_PACKED, VQ_LAYOUT_PACKED)

static const struct combo std_combo = {
	.gl = VQ_LAYOUT_SPLIT, .dl = VQ_LAYOUT_PACKED,
	.gf = VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_F_INDIRECT,
	.df = VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_F_INDIRECT,
	.gsize = 32, .dsize = 16,
};

/* The device sees IOVAs only: every address on the shadow ring is in a
 * map, and none is a guest address. */
TEST(svq_device_sees_iovas_only)
{
	struct fx f;
	struct vq_iova_seg seg[4];

	fx_init(&f, &std_combo);
	ASSERT_GE(f.ring.desc, 0x100000000ull);
	ASSERT_EQ(vq_iova_translate(f.iova, 0x1a000, 0x100, VQ_MEM_READ, seg, 4), 1);
	ASSERT_GE(seg[0].iova, 0x100000000ull);
	/* The device's map has no region at guest addresses. */
	ASSERT_TRUE(vq_mem_ptr(f.dmem, 0x1a000, 1, VQ_MEM_READ) == NULL);
	traffic(&f, 100);
	fx_fini(&f);
}

/* ---- memory regions added and removed while traffic flows */

/* Let the driver's outstanding buffers complete (the device polls). */
static void settle(struct fx *f)
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

static void hot_remove(struct fx *f, uint64_t gpa, uint64_t size)
{
	struct vq_iova_seg seg[1];

	drain(f);
	ASSERT_EQ(vq_svq_inflight(f->svq), 0);
	ASSERT_EQ(vq_iova_unmap_guest(f->iova, gpa, size), 0);
	ASSERT_EQ(vq_mem_remove(f->gmem, gpa, size), 0);
	device_view(f);
	ASSERT_EQ(vq_iova_translate(f->iova, gpa, 1, VQ_MEM_READ, seg, 1), -EFAULT);
	resume(f);
}

TEST(svq_hot_add_and_remove_during_traffic)
{
	struct combo c = std_combo;
	struct fx f;

	for (int packed = 0; packed < 2; packed++) {
		c.gl = packed ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
		c.dl = packed ? VQ_LAYOUT_SPLIT : VQ_LAYOUT_PACKED;
		fx_init(&f, &c);
		traffic(&f, 200);
		/* Buffers in flight on the shadow ring while regions arrive. */
		round_trip(&f, 8);
		map_region(&f, HOT_GPA, HOT_HOST0, HOT_SIZE, VQ_MEM_RW);
		map_region(&f, HOT_GPA + HOT_SIZE, HOT_HOST1, HOT_SIZE, VQ_MEM_RW);
		device_view(&f);
		f.use_hot = true;
		traffic(&f, 300);
		/* Stop using R3 and R2, then remove them with buffers in flight
		 * elsewhere. */
		settle(&f);
		for (unsigned i = 0; i < 6; i++)
			ASSERT_TRUE(post(&f));
		ASSERT_TRUE(vq_drv_kick_prepare(f.gdrv) || true);
		resume(&f);
		ASSERT_GT(vq_svq_inflight(f.svq), 0);
		hot_remove(&f, regions[3].gpa, regions[3].size);
		traffic(&f, 200);
		round_trip(&f, 8);
		hot_remove(&f, regions[2].gpa, regions[2].size);
		traffic(&f, 200);
		/* And back to the old area with R2 and R3 back at new IOVAs. */
		map_region(&f, regions[2].gpa, regions[2].host, regions[2].size, VQ_MEM_RW);
		map_region(&f, regions[3].gpa, regions[3].host, regions[3].size, VQ_MEM_RW);
		device_view(&f);
		f.use_hot = false;
		traffic(&f, 300);
		fx_fini(&f);
	}
}

/* ---- queue state: stop, save, restore on a new shadow ring, resume */

TEST(svq_state_save_restore)
{
	for (int packed = 0; packed < 2; packed++) {
		struct combo c = std_combo;
		struct vq_state st, st2;
		struct fx f;

		c.gl = packed ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
		fx_init(&f, &c);
		for (unsigned round = 0; round < 5; round++) {
			traffic(&f, 37 + round);
			round_trip(&f, 5);
			drain(&f);
			ASSERT_EQ(vq_svq_get_state(f.svq, &st), 0);
			vq_dev_free(f.dev);
			vq_svq_free(f.svq);
			svq_new(&f);              /* a new shadow ring and device */
			ASSERT_EQ(vq_svq_set_state(f.svq, &st), 0);
			ASSERT_EQ(vq_svq_get_state(f.svq, &st2), 0);
			ASSERT_EQ(st2.avail_idx, st.avail_idx);
			ASSERT_EQ(st2.used_idx, st.used_idx);
			resume(&f);
		}
		traffic(&f, 100);
		round_trip(&f, 4);
		if (vq_svq_inflight(f.svq))
			ASSERT_EQ(vq_svq_get_state(f.svq, &st), -EBUSY);
		fx_fini(&f);
	}
}

/* ---- hostile peers: each breaks only its own side */

/* Post a raw buffer (addresses unchecked by the driver), token = slot k. */
static void post_raw(struct fx *f, unsigned k, uint64_t gpa, uint32_t len, bool write)
{
	struct vq_seg sg = { gpa, len };

	f->slot[k].busy = true;
	ASSERT_EQ(vq_drv_add(f->gdrv, &sg, !write, write, &f->slot[k]), 0);
}

/* Kick the SVQ; returns its return value. */
static int guest_kick(struct fx *f)
{
	struct vq_svq_events ev = { 0 };
	int rc;

	vq_drv_kick_prepare(f->gdrv);
	rc = vq_svq_relay_avail(f->svq, &ev);
	svq_events(f, &ev);
	return rc;
}

static void hostile_guest(uint64_t gpa, bool write, int want)
{
	for (int lay = 0; lay < 4; lay++) {
		struct combo c = std_combo;
		struct fx f;
		unsigned done;

		c.gl = lay & 1 ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
		c.dl = lay & 2 ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
		fx_init(&f, &c);
		traffic(&f, 50);
		settle(&f);
		for (unsigned i = 0; i < 4; i++)
			ASSERT_TRUE(post(&f));
		ASSERT_EQ(guest_kick(&f), 4);         /* on the shadow ring */
		post_raw(&f, NSLOT - 1, gpa, 64, write);
		ASSERT_EQ(guest_kick(&f), want);
		ASSERT_TRUE(vq_svq_guest_is_broken(f.svq));
		ASSERT_FALSE(vq_svq_device_is_broken(f.svq));
		ASSERT_TRUE(strlen(vq_svq_error(f.svq)) > 0);
		ASSERT_EQ(guest_kick(&f), -EIO);      /* sticky */
		/* The shadow ring still drains cleanly. */
		ASSERT_EQ(vq_svq_inflight(f.svq), 4);
		done = f.done;
		f.kick_device = true;
		round_trip(&f, 0);
		ASSERT_EQ(vq_svq_inflight(f.svq), 0);
		ASSERT_FALSE(vq_svq_device_is_broken(f.svq));
		ASSERT_FALSE(vq_dev_is_broken(f.dev));
		ASSERT_EQ(f.done, done);              /* the broken guest ring got nothing */
		fx_fini(&f);
	}
}

TEST(svq_hostile_guest_unmapped_buffer)
{
	hostile_guest(0x70000, false, -EFAULT);
}

TEST(svq_hostile_guest_write_into_readonly_alias)
{
	hostile_guest(0x80100, true, -EACCES);
}

/* Write a used entry on the shadow ring as a hostile device would. */
static void raw_used(struct fx *f, uint32_t id, uint32_t len)
{
	struct vq_ring_layout l;

	ASSERT_EQ(vq_ring_layout(f->c.dl, f->c.dsize, &l), 0);
	if (f->c.dl == VQ_LAYOUT_SPLIT) {
		uint16_t *used = vq_iova_host_ptr(f->iova, f->ring.used, l.used_size, VQ_MEM_RW);
		uint16_t idx = used[1];
		uint32_t *e = (uint32_t *)(used + 2) + 2 * (idx % f->c.dsize);

		e[0] = id;
		e[1] = len;
		__atomic_store_n(&used[1], (uint16_t)(idx + 1), __ATOMIC_RELEASE);
	} else {
		/* First used slot (0), wrap counter 1: AVAIL and USED set. */
		uint8_t *d = vq_iova_host_ptr(f->iova, f->ring.desc, l.desc_size, VQ_MEM_RW);
		/* WRITE: the device says it wrote len bytes. */
		uint16_t id16 = (uint16_t)id, flags = (1u << 7) | (1u << 15) | (len ? 2u : 0);

		memcpy(d + 8, &len, 4);
		memcpy(d + 12, &id16, 2);
		__atomic_store_n((uint16_t *)(d + 14), flags, __ATOMIC_RELEASE);
	}
}

static void hostile_device(bool bad_len)
{
	for (int lay = 0; lay < 4; lay++) {
		struct combo c = std_combo;
		struct vq_state before, after;
		struct vq_svq_events ev = { 0 };
		struct vq_elem e = { .iov = NULL };
		struct fx f;
		unsigned done;

		c.gl = lay & 1 ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
		c.dl = lay & 2 ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
		fx_init(&f, &c);
		settle(&f);
		for (unsigned i = 0; i < 4; i++)
			ASSERT_TRUE(post(&f));
		ASSERT_EQ(guest_kick(&f), 4);
		e.iov = f.diov;
		e.iov_cap = 64;
		ASSERT_EQ(vq_dev_pop(f.dev, &e), 1);  /* a real in-flight id */
		vq_dev_get_state(f.dev, &before);
		done = f.done;
		raw_used(&f, bad_len ? e.id : 999, bad_len ? (uint32_t)e.in_len + 1 : 0);
		ASSERT_LT(vq_svq_relay_used(f.svq, &ev), 0);
		ASSERT_TRUE(vq_svq_device_is_broken(f.svq));
		ASSERT_FALSE(vq_svq_guest_is_broken(f.svq));
		ASSERT_FALSE(ev.notify_guest);
		ASSERT_EQ(vq_svq_relay_used(f.svq, &ev), -EIO);
		/* The guest ring is untouched: nothing used, nothing more taken. */
		ASSERT_EQ(guest_collect(&f), 0);
		ASSERT_EQ(f.done, done);
		ASSERT_TRUE(post(&f));
		ASSERT_EQ(guest_kick(&f), -EIO);
		ASSERT_EQ(vq_svq_inflight(f.svq), 4);
		vq_dev_get_state(f.dev, &after);
		ASSERT_EQ(after.used_idx, before.used_idx);
		fx_fini(&f);
	}
}

TEST(svq_hostile_device_bad_used_id)
{
	hostile_device(false);
}

TEST(svq_hostile_device_used_len_too_long)
{
	hostile_device(true);
}

/* A guest buffer that needs more IOVA segments than the device takes goes
 * back to the guest with length 0, and traffic goes on. */
TEST(svq_too_fragmented_buffer_given_back_empty)
{
	struct combo c = std_combo;
	struct fx f;
	struct vq_seg sg[4] = {
		{ 0x1ff00, 0x200 }, { 0x2ff00, 0x200 },   /* 2 pieces each */
		{ 0x1fe00, 0x100 }, { 0x2fe00, 0x100 },
	};
	void *tok;
	uint32_t len = 99;

	c.df = VQ_F_VERSION_1;       /* no indirect tables */
	c.dsize = 4;                 /* so at most 4 descriptors */
	fx_init(&f, &c);
	traffic(&f, 50);
	settle(&f);
	f.slot[0].busy = true;
	ASSERT_EQ(vq_drv_add(f.gdrv, sg, 2, 2, &f.slot[0]), 0);
	ASSERT_EQ(guest_kick(&f), 1);
	ASSERT_EQ(vq_svq_dropped(f.svq), 1);
	ASSERT_EQ(vq_drv_get(f.gdrv, &tok, &len), 1);
	ASSERT_TRUE(tok == &f.slot[0]);
	ASSERT_EQ(len, 0);
	f.slot[0].busy = false;
	ASSERT_FALSE(vq_svq_guest_is_broken(f.svq));
	ASSERT_FALSE(vq_svq_device_is_broken(f.svq));
	ASSERT_EQ(vq_svq_inflight(f.svq), 0);
	fx_fini(&f);
}

/* A chain of more pieces than the shadow ring has free descriptors goes
 * into one of the SVQ's indirect tables (and is served whole). */
TEST(svq_fragmented_chain_uses_indirect_table)
{
	struct combo c = std_combo;
	struct vq_seg sg[4] = {
		{ 0x1ff00, 0x200 }, { 0x2ff00, 0x200 },   /* 2 pieces each */
		{ 0x1fe00, 0x100 }, { 0x2fe00, 0x100 },
	};
	struct vq_elem e = { .iov = NULL };
	struct vq_ring_layout l;
	uint8_t *desc;
	uint16_t flags;
	unsigned head;

	c.dl = VQ_LAYOUT_SPLIT;
	c.dsize = 8;
	struct fx f;
	fx_init(&f, &c);
	settle(&f);
	for (unsigned i = 0; i < 5; i++)
		post_raw(&f, i, 0x1a000 + i * 0x100, 0x40, true);
	f.slot[5].busy = true;
	ASSERT_EQ(vq_drv_add(f.gdrv, sg, 2, 2, &f.slot[5]), 0);
	ASSERT_EQ(guest_kick(&f), 6);
	ASSERT_EQ(vq_svq_dropped(f.svq), 0);
	ASSERT_TRUE(f.kick_device);
	e.iov = f.diov;
	e.iov_cap = 64;
	for (unsigned i = 0; i < 6; i++)
		ASSERT_EQ(vq_dev_pop(f.dev, &e), 1);
	/* Each crossing of a region border is one more device segment. */
	ASSERT_EQ(e.out_num, 4);
	ASSERT_EQ(e.in_num, 2);
	ASSERT_EQ(e.out_len, 0x400);
	ASSERT_EQ(e.in_len, 0x200);
	ASSERT_EQ(vq_ring_layout(VQ_LAYOUT_SPLIT, 8, &l), 0);
	desc = vq_iova_host_ptr(f.iova, f.ring.desc, l.desc_size, VQ_MEM_READ);
	head = e.id;
	memcpy(&flags, desc + 16 * head + 12, 2);
	ASSERT_EQ(flags & 4, 4);                /* VRING_DESC_F_INDIRECT */
	/* The device's bytes land in guest memory through the pieces. */
	/* The device writes the guest's bytes, found through the GPA maps. */
	ASSERT_TRUE((uint8_t *)e.iov[0].iov_base == f.host + regions[1].host + 0xff00);
	ASSERT_TRUE((uint8_t *)e.iov[1].iov_base == f.host + regions[2].host);
	ASSERT_TRUE((uint8_t *)e.iov[3].iov_base == f.host + regions[3].host);
	ASSERT_TRUE((uint8_t *)e.iov[4].iov_base == f.host + regions[1].host + 0xfe00);
	ASSERT_TRUE((uint8_t *)e.iov[5].iov_base == f.host + regions[2].host + 0xfe00);
	fx_fini(&f);
}
