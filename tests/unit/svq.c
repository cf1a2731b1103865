/* SPDX-License-Identifier: MIT */
/*
 * Shadow virtqueue, in process, with every payload verified at both ends
 * (fixture: svq_fx.h): every layout and feature combination on both sides,
 * the device seeing IOVAs only, hot add and remove of regions during
 * traffic, state save and restore onto a new shadow ring, and buffers given
 * back when the device stops holding them (vq_svq_cancel), with a status
 * byte for a blk-like device.
 */
#include <linux/virtio_blk.h>

#include "svq_fx.h"
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
		.both = bits & 32,
	};
	struct fx f;

	fx_init(&f, &c);
	traffic(&f, 600);
	fx_fini(&f);
}

#define COMBO(name, gl, dl)                                                      \
	TEST(name)                                                               \
	{                                                                        \
		for (unsigned bits = 0; bits < 64; bits++)                       \
			run_combo(gl, dl, bits);                                 \
	}
COMBO(svq_split_to_split, VQ_LAYOUT_SPLIT, VQ_LAYOUT_SPLIT)
COMBO(svq_split_to_packed, VQ_LAYOUT_SPLIT, VQ_LAYOUT_PACKED)
COMBO(svq_packed_to_split, VQ_LAYOUT_PACKED, VQ_LAYOUT_SPLIT)
COMBO(svq_packed_to_packed, VQ_LAYOUT_PACKED, VQ_LAYOUT_PACKED)


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


/* ---- the SVQ over a caller's guest-side vq_dev, shadow ring in a
 * caller's arena (as a vhost-user proxy needs: the adapter makes the vq_dev,
 * the backend must be able to map the shadow ring) */

static uint8_t arena[1u << 21] __attribute__((aligned(4096)));
static size_t arena_used;

static void *arena_alloc(void *ctx, size_t bytes, size_t align)
{
	struct fx *f = ctx;
	size_t at = (arena_used + align - 1) & ~(align - 1);

	if (at + bytes > sizeof(arena))
		return NULL;
	arena_used = at + bytes;
	f->allocs++;
	return arena + at;
}

static void arena_release(void *ctx, void *p, size_t bytes)
{
	struct fx *f = ctx;

	ASSERT_TRUE((uint8_t *)p >= arena && (uint8_t *)p + bytes <= arena + sizeof(arena));
	f->releases++;
}

static void own_guest_dev(struct fx *f, struct vq_svq_params *p)
{
	if (!f->gdev)
		ASSERT_EQ(vq_dev_new(&p->guest, p->guest_mem, &f->gdev), 0);
	p->guest_dev = f->gdev;
	p->alloc = arena_alloc;
	p->release = arena_release;
	p->alloc_ctx = f;
}

TEST(svq_over_callers_vq_dev_and_arena)
{
	struct combo c = std_combo;
	struct vq_svq_params bad;
	struct vq_svq *s = NULL;
	struct fx f;

	fx_init(&f, &c);
	vq_dev_free(f.dev);
	vq_svq_free(f.svq);
	arena_used = 0;
	f.tweak = own_guest_dev;
	svq_new(&f);
	ASSERT_EQ(f.allocs, 2);                  /* ring and indirect tables */
	ASSERT_TRUE(vq_iova_host_ptr(f.iova, f.ring.desc, 16, VQ_MEM_READ) ==
		    (void *)arena);
	traffic(&f, 300);
	/* The caller's vq_dev is the guest ring: its state moved. */
	struct vq_state st;
	vq_dev_get_state(f.gdev, &st);
	ASSERT_NE(st.avail_idx, 0);
	/* A vq_dev of another size than the ring's is refused. */
	bad = (struct vq_svq_params){ .guest = { .size = f.c.gsize / 2 }, .guest_dev = f.gdev,
				      .guest_mem = f.gmem, .iova = f.iova };
	ASSERT_EQ(vq_svq_new(&bad, &s), -EINVAL);
	ASSERT_TRUE(s == NULL);
	vq_dev_free(f.dev);
	f.dev = NULL;
	vq_svq_free(f.svq);
	f.svq = NULL;
	ASSERT_EQ(f.releases, 2);
	ASSERT_FALSE(vq_dev_is_broken(f.gdev)); /* not freed by the SVQ */
	fx_fini(&f);
}

/* ---- a relay both ways stops at its budget */

static void small_budget(struct fx *f, struct vq_svq_params *p)
{
	(void)f;
	p->relay_budget = 3;
}

/* One vq_svq_relay call: its return value, and the events into f. */
static int relay_once(struct fx *f, bool *more)
{
	struct vq_svq_events ev = { 0 };
	int rc = vq_svq_relay(f->svq, &ev);

	*more = ev.more;
	ev.more = false; /* this test calls again itself */
	svq_events(f, &ev);
	return rc;
}

/* A relay moves at most its budget of buffers, says so, and the rest
 * follows when it is called again; traffic through relays that stop at
 * the budget loses nothing. */
TEST(svq_relay_stops_at_its_budget)
{
	struct combo c = std_combo; /* a 16-entry shadow ring */
	struct fx f;
	bool more;

	c.both = true;
	fx_init(&f, &c);
	vq_dev_free(f.dev);
	vq_svq_free(f.svq);
	f.tweak = small_budget;
	svq_new(&f);
	for (unsigned i = 0; i < 8; i++)
		ASSERT_TRUE(post(&f));
	vq_drv_kick_prepare(f.gdrv);
	ASSERT_EQ(relay_once(&f, &more), 0); /* forwarded 3, returned none */
	ASSERT_TRUE(more);
	ASSERT_EQ(vq_svq_inflight(f.svq), 3);
	ASSERT_TRUE(f.kick_device);
	ASSERT_EQ(relay_once(&f, &more), 0);
	ASSERT_TRUE(more);
	ASSERT_EQ(vq_svq_inflight(f.svq), 6);
	ASSERT_EQ(relay_once(&f, &more), 0); /* the last 2: under budget */
	ASSERT_FALSE(more);
	ASSERT_EQ(vq_svq_inflight(f.svq), 8);
	/* The device uses all 8: the next relay returns 3 of them. */
	f.kick_device = false;
	ASSERT_EQ(device_run(&f), 8);
	ASSERT_EQ(relay_once(&f, &more), 3);
	ASSERT_TRUE(more);
	traffic(&f, 300); /* the fixture calls again on more */
	settle(&f);
	ASSERT_EQ(vq_svq_inflight(f.svq), 0);
	fx_fini(&f);
}

/* ---- notification moderation (vq_svq_params.coalesce) */

/* Every layout pair and feature combination with moderation on (4, and
 * more than the rings hold): traffic with a timer that relays whenever the
 * SVQ slept moderated and nothing else woke it loses nothing. */
TEST(svq_coalesce_every_combo)
{
	static const enum vq_layout l[2] = { VQ_LAYOUT_SPLIT, VQ_LAYOUT_PACKED };

	for (unsigned k = 0; k < 4; k++) {
		for (unsigned bits = 0; bits < 32; bits++) {
			struct combo c = {
				.gl = l[k & 1], .dl = l[k >> 1],
				.gf = VQ_F_VERSION_1 | (bits & 1 ? VQ_F_INDIRECT : 0) |
				      (bits & 2 ? VQ_F_EVENT_IDX : 0),
				.df = VQ_F_VERSION_1 | (bits & 4 ? VQ_F_INDIRECT : 0) |
				      (bits & 8 ? VQ_F_EVENT_IDX : 0),
				.gsize = 32, .dsize = bits & 16 ? 8 : 32,
				.both = true, .coalesce = bits & 16 ? 64 : 4,
			};
			struct fx f;

			fx_init(&f, &c);
			traffic(&f, 300);
			settle(&f);
			if ((bits & 10) == 0)
				ASSERT_EQ(f.timer_runs, 0); /* no EVENT_IDX: no moderation */
			fx_fini(&f);
		}
	}
}

/* One vq_svq_relay with the guest's kick pending or not; the events into f. */
static void relay_mod(struct fx *f)
{
	struct vq_svq_events ev = { 0 };

	ASSERT_GE(vq_svq_relay(f->svq, &ev), 0);
	svq_events(f, &ev);
}

/* A burst below N posted after the SVQ slept moderated gets no kick and
 * is relayed by the owner's timer; an idle relay goes back to plain kicks;
 * N buffers kick with the N-th. */
TEST(svq_coalesce_short_burst_by_timer)
{
	struct combo c = std_combo;
	struct fx f;

	c.both = true;
	c.coalesce = 8;
	c.gsize = c.dsize = 32;
	fx_init(&f, &c);
	ASSERT_TRUE(post(&f));
	ASSERT_TRUE(vq_drv_kick_prepare(f.gdrv)); /* armed plain at start */
	relay_mod(&f);
	ASSERT_EQ(vq_svq_inflight(f.svq), 1);
	ASSERT_TRUE(f.moderated); /* it moved a buffer: moderated sleep */
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_TRUE(post(&f));
		ASSERT_FALSE(vq_drv_kick_prepare(f.gdrv)); /* 3 < 8: no kick */
	}
	ASSERT_EQ(vq_svq_inflight(f.svq), 1);       /* waiting in the guest ring */
	relay_mod(&f);                              /* the timer */
	ASSERT_EQ(vq_svq_inflight(f.svq), 4);
	ASSERT_TRUE(f.kick_device);
	f.kick_device = false;
	ASSERT_EQ(device_run(&f), 4); /* the device's call: 4 held, min(8, 4) */
	ASSERT_FALSE(f.kick_device);
	ASSERT_TRUE(f.notify_guest); /* the used buffers went back at once */
	f.notify_guest = false;
	ASSERT_EQ(guest_collect(&f), 4);
	relay_mod(&f); /* a timer run that finds nothing */
	ASSERT_FALSE(f.moderated);
	ASSERT_TRUE(post(&f));
	ASSERT_TRUE(vq_drv_kick_prepare(f.gdrv)); /* plain again */
	relay_mod(&f);
	ASSERT_TRUE(f.moderated);
	for (unsigned i = 1; i <= 8; i++) {
		ASSERT_TRUE(post(&f));
		ASSERT_EQ(vq_drv_kick_prepare(f.gdrv), i == 8);
	}
	relay_mod(&f);
	ASSERT_EQ(vq_svq_inflight(f.svq), 9);
	f.kick_device = true;
	settle(&f);
	ASSERT_EQ(vq_svq_inflight(f.svq), 0);
	fx_fini(&f);
}

/* ---- the device stops holding buffers: every one goes back to the guest */

/* Driver: collect what the SVQ gave back; each must be used with length 0. */
static unsigned collect_cancelled(struct fx *f)
{
	unsigned n = 0;
	void *tok;
	uint32_t len;
	int rc;

	while ((rc = vq_drv_get(f->gdrv, &tok, &len)) == 1) {
		struct slot *s = tok;

		ASSERT_TRUE(s >= f->slot && s < f->slot + NSLOT && s->busy);
		ASSERT_EQ(len, 0);
		s->busy = false;
		n++;
	}
	ASSERT_EQ(rc, 0);
	return n;
}

/* Posted buffers: some used by the device, some on the shadow ring, one
 * taken and waiting for room, some still on the guest ring.  Cancel gives
 * back exactly the taken ones with length 0; a new SVQ resumes from the
 * guest ring's position and serves the rest. */
TEST(svq_cancel_gives_back_every_buffer)
{
	for (int packed = 0; packed < 2; packed++) {
		struct combo c = std_combo; /* a 16-entry shadow ring under 32 */
		struct vq_svq_events ev = { 0 };
		struct vq_elem e[4];
		struct vq_state st;
		unsigned posted = 0, inflight, before;
		struct fx f;

		c.gl = packed ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
		fx_init(&f, &c);
		traffic(&f, 40);
		settle(&f);
		before = f.done;
		while (posted < 24 && post(&f))
			posted++;
		ASSERT_EQ(posted, 24);
		ASSERT_GE(guest_kick(&f), 1);
		/* The device takes 4 and completes 2 of them. */
		for (unsigned i = 0; i < 4; i++) {
			e[i] = (struct vq_elem){ .iov = f.diov + 16 * i, .iov_cap = 16 };
			ASSERT_EQ(vq_dev_pop(f.dev, &e[i]), 1);
		}
		for (unsigned i = 0; i < 2; i++)
			ASSERT_EQ(vq_dev_push_id(f.dev, e[i].id, e[i].ndesc, serve(&f, &e[i])), 0);
		vq_dev_flush(f.dev);
		ASSERT_EQ(vq_svq_relay_used(f.svq, &ev), 2);
		ASSERT_EQ(guest_collect(&f), 2);
		inflight = vq_svq_inflight(f.svq);
		ASSERT_GT(inflight, 2);
		ASSERT_LT(inflight, posted - 2); /* some are still on the guest ring */
		ev = (struct vq_svq_events){ 0 };
		ASSERT_EQ(vq_svq_cancel(f.svq, &ev), (int)inflight);
		ASSERT_EQ(vq_svq_inflight(f.svq), 0);
		ASSERT_TRUE(ev.notify_guest);
		ASSERT_EQ(vq_svq_relay_avail(f.svq, &ev), -EIO);
		ASSERT_EQ(vq_svq_relay_used(f.svq, &ev), -EIO);
		ASSERT_EQ(collect_cancelled(&f), inflight);
		/* A new shadow ring and device from the guest ring's position. */
		ASSERT_EQ(vq_svq_get_state(f.svq, &st), 0);
		vq_dev_free(f.dev);
		vq_svq_free(f.svq);
		svq_new(&f);
		ASSERT_EQ(vq_svq_set_state(f.svq, &st), 0);
		resume(&f);
		settle(&f);
		ASSERT_EQ(f.done - before + inflight, posted);
		traffic(&f, 50);
		fx_fini(&f);
	}
}

/* ---- a give-back status (virtio-blk's requests end in a status byte) */

static void blk_status(struct fx *f, struct vq_svq_params *p)
{
	(void)f;
	p->giveback_status = VIRTIO_BLK_S_IOERR;
}

/* With giveback_status, every buffer the device held comes back with the
 * status in its last writable byte and used length 1, the rest of its
 * writable bytes untouched: a driver that reads the status byte without
 * the used length (Linux virtio-blk) sees an error, not a stale success. */
TEST(svq_cancel_writes_the_giveback_status)
{
	for (int packed = 0; packed < 2; packed++) {
		struct combo c = std_combo;
		struct vq_svq_events ev = { 0 };
		unsigned posted = 0, n = 0, inflight;
		uint8_t b[IN_MAX];
		struct fx f;
		uint32_t len;
		void *tok;
		int rc;

		c.gl = packed ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
		fx_init(&f, &c);
		vq_dev_free(f.dev);
		vq_svq_free(f.svq);
		f.tweak = blk_status;
		svq_new(&f);
		while (posted < 8 && post(&f))
			posted++;
		ASSERT_EQ(posted, 8);
		memset(b, 0x5a, sizeof(b));
		for (unsigned k = 0; k < NSLOT; k++)
			if (f.slot[k].busy)
				gcopy(&f, f.slot[k].in_gpa, b, f.slot[k].in_len, true);
		ASSERT_GE(guest_kick(&f), 1);
		inflight = vq_svq_inflight(f.svq);
		ASSERT_EQ(inflight, posted);
		ASSERT_EQ(vq_svq_cancel(f.svq, &ev), (int)inflight);
		while ((rc = vq_drv_get(f.gdrv, &tok, &len)) == 1) {
			struct slot *s = tok;

			ASSERT_TRUE(s >= f.slot && s < f.slot + NSLOT && s->busy);
			ASSERT_EQ(len, 1);
			gcopy(&f, s->in_gpa, b, s->in_len, false);
			ASSERT_EQ(b[s->in_len - 1], VIRTIO_BLK_S_IOERR);
			for (uint32_t i = 0; i + 1 < s->in_len; i++)
				ASSERT_EQ(b[i], 0x5a);
			s->busy = false;
			n++;
		}
		ASSERT_EQ(rc, 0);
		ASSERT_EQ(n, posted);
		fx_fini(&f);
	}
}
