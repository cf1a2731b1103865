/* SPDX-License-Identifier: MIT */
/*
 * Shadow virtqueue against hostile peers and awkward buffers (fixture:
 * svq_fx.h): a bad guest breaks only the guest ring, a bad device only the
 * shadow ring; buffers too fragmented for the device come back empty;
 * fragmented chains use the SVQ's indirect tables.
 */
#include "svq_fx.h"
#include "ring/ring_wire.h"

/* ---- hostile peers: each breaks only its own side */



static void hostile_guest(uint64_t gpa, bool write, int want)
{
	for (int lay = 0; lay < 8; lay++) {
		struct combo c = std_combo;
		struct fx f;
		unsigned done;

		c.gl = lay & 1 ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
		c.dl = lay & 2 ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
		c.both = lay & 4; /* the drain below through vq_svq_relay */
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

/* A split guest ring whose avail idx runs more than its size ahead: the
 * ring's error is -ENOSPC, which must not pass for a full shadow ring. */
TEST(svq_hostile_guest_avail_idx_jump)
{
	struct combo c = std_combo;
	struct vq_ring_layout l;
	uint16_t *avail;
	struct fx f;

	c.gl = VQ_LAYOUT_SPLIT;
	fx_init(&f, &c);
	traffic(&f, 20);
	settle(&f);
	ASSERT_EQ(vq_ring_layout(c.gl, c.gsize, &l), 0);
	avail = (uint16_t *)(f.host + regions[0].host + l.avail_off);
	__atomic_store_n(&avail[1], (uint16_t)(avail[1] + c.gsize + 1), __ATOMIC_RELEASE);
	ASSERT_EQ(guest_kick(&f), -ENOSPC);
	ASSERT_TRUE(vq_svq_guest_is_broken(f.svq));
	ASSERT_FALSE(vq_svq_device_is_broken(f.svq));
	ASSERT_TRUE(strstr(vq_svq_error(f.svq), "avail idx") != NULL);
	ASSERT_EQ(guest_kick(&f), -EIO);
	fx_fini(&f);
}

/* Write a used entry on the shadow ring as a hostile device would. */
static void raw_used(struct fx *f, uint32_t id, uint32_t len)
{
	struct vq_ring_layout l;

	ASSERT_EQ(vq_ring_layout(f->c.dl, f->c.dsize, &l), 0);
	if (f->c.dl == VQ_LAYOUT_SPLIT) {
		struct vring_used *used =
			vq_iova_host_ptr(f->iova, f->ring.used, l.used_size, VQ_MEM_RW);
		uint16_t idx = used->idx;

		used->ring[idx % f->c.dsize] = (struct vring_used_elem){ .id = id, .len = len };
		__atomic_store_n(&used->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
	} else {
		/* First used slot (0), wrap counter 1: AVAIL and USED set. */
		struct vring_packed_desc *d =
			vq_iova_host_ptr(f->iova, f->ring.desc, l.desc_size, VQ_MEM_RW);
		/* WRITE: the device says it wrote len bytes. */
		uint16_t flags = VQ__DESC_F_AVAIL | VQ__DESC_F_USED | (len ? VRING_DESC_F_WRITE : 0);

		d->len = len;
		d->id = (uint16_t)id;
		__atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
	}
}

static void hostile_device(bool bad_len)
{
	for (int lay = 0; lay < 8; lay++) {
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
		if (lay & 4) /* the relay both ways finds it */
			ASSERT_LT(vq_svq_relay(f.svq, &ev), 0);
		else
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

