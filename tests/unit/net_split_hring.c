/* SPDX-License-Identifier: MIT */
/*
 * EXPERIMENTAL header/data split, header ring (VQ_NET_F_SPLIT_HDR_RING):
 * the device model in-process over split and packed rings with mergeable
 * page buffers.  Every frame type is received with its headers in the ring
 * and only the payload in the data buffers, and reassembled, with the ring
 * configured in-process and by the control command (VQ_NET_CTRL_SPLIT).
 * Fallbacks (ring empty, header larger than an entry, fragments), a hostile
 * tail, and hostile control commands.
 */
#include <virtq/net_split.h>

#include "net_fx.h"
#include "net_split_fx.h"

#define PAGE 4096u
#define NENT 8u
#define T0 0x100

static uint8_t fr[VQ_NET_MAX_FRAME];

struct hport {
	struct port p;
	struct vq_net_split_hdr_ring r;
	uint16_t *tail;
	uint64_t buf[64];
	unsigned used; /* buffers consumed; buffer i % 64 is token T0 + i % 64 */
};

#define F_HRING (VQ_F_VERSION_1 | F_MRG | VQ_NET_F_SPLIT_HDR_RING)
#define OFFER_SPLIT (VQ_NET_FEATURES_DEFAULT | VQ_NET_F_SPLIT_ALL)

/* Send one control command (class, command, data) on ring slot 2; returns
 * the ack byte. */
static int ctrl(struct port *p, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
	uint64_t a = galloc(p, 2 + len), ack = galloc(p, 1);
	void *t;
	uint32_t l;

	host(p, a)[0] = cls;
	host(p, a)[1] = cmd;
	memcpy(host(p, a) + 2, data, len);
	host(p, ack)[0] = 0xaa;
	post(p, 2, (struct vq_seg[]){ { a, 2 + len }, { ack, 1 } }, 1, 1, 77);
	ASSERT_EQ(vq_net_ctrl_poll(p->n), 1);
	ASSERT_EQ(vq_drv_get(p->drv[2], &t, &l), 1);
	ASSERT_EQ(l, 1);
	return host(p, ack)[0];
}

/* The control command's data for ring r of pair qp. */
static struct vq_net_ctrl_split_hdr_ring wire(const struct vq_net_split_hdr_ring *r, uint16_t qp)
{
	return (struct vq_net_ctrl_split_hdr_ring){ .ring_addr = r->gpa, .tail_addr = r->tail_gpa,
						    .entry_size = r->entry_size,
						    .count = r->count, .qp = qp };
}

static int ctrl_ring(struct port *p, const struct vq_net_split_hdr_ring *r, uint16_t qp)
{
	struct vq_net_ctrl_split_hdr_ring w = wire(r, qp);

	return ctrl(p, VQ_NET_CTRL_SPLIT, VQ_NET_CTRL_SPLIT_HDR_RING_SET, &w, sizeof(w));
}

/* A port (net_fx.h) with the header ring of NENT entries laid out, every
 * entry free, and 64 page buffers posted.  configure: set it in-process. */
static void hport_setup(struct hport *h, uint64_t feats, uint32_t entry_size, bool configure)
{
	struct port *p = &h->p;

	memset(h, 0, sizeof(*h));
	port_init_offer(p, OFFER_SPLIT, feats, 1, 0);
	h->r = (struct vq_net_split_hdr_ring){ .mem = p->mem, .gpa = galloc(p, NENT * entry_size),
					       .tail_gpa = galloc(p, 2), .entry_size = entry_size,
					       .count = NENT };
	h->tail = (uint16_t *)host(p, h->r.tail_gpa);
	*h->tail = NENT; /* every entry free */
	if (configure)
		ASSERT_EQ(vq_net_split_set_hdr_ring(p->n, 0, &h->r), 0);
	for (unsigned i = 0; i < 64; i++) { /* page buffers, posted once */
		struct vq_seg s = { galloc(p, PAGE), PAGE };

		h->buf[i] = s.addr;
		post(p, 0, &s, 0, 1, T0 + i);
	}
}

static void hport_init(struct hport *h, uint64_t feats, uint32_t entry_size)
{
	hport_setup(h, feats, entry_size, true);
}

static void rx_one(struct hport *h, uint32_t len)
{
	struct frame f;
	struct vq_net_pkt *pk = &f.pkt;

	frame_init(&f, fr, len, len > 3000 ? 3 : 1);
	ASSERT_EQ(vq_net_rx_burst(h->p.n, 0, &pk, 1), 1);
}

/* Read the next frame from the data buffers (mergeable): its header into
 * *vh, the bytes after it into out; returns their number. */
static size_t take(struct hport *h, struct virtio_net_hdr_v1 *vh, uint8_t *out)
{
	size_t n = 0, hs = sizeof(*vh);
	void *t;
	uint32_t l;

	for (unsigned k = 0, nb = 1; k < nb; k++) {
		ASSERT_EQ(vq_drv_get(h->p.drv[0], &t, &l), 1);
		unsigned slot = h->used % 64;
		struct vq_seg sg = { h->buf[slot], PAGE };

		ASSERT_EQ((uintptr_t)t, T0 + slot);
		if (k == 0) {
			ASSERT_GE(l, hs);
			memcpy(vh, host(&h->p, h->buf[slot]), hs);
			nb = vh->num_buffers;
			memcpy(out, host(&h->p, h->buf[slot]) + hs, l - hs);
			n = l - hs;
		} else {
			memcpy(out + n, host(&h->p, h->buf[slot]), l);
			n += l;
		}
		if (k + 1 < nb)
			ASSERT_EQ(l, PAGE); /* all but the last used in full */
		h->used++;
		post(&h->p, 0, &sg, 0, 1, T0 + slot); /* recycle, in order */
	}
	return n;
}

static void expect_split(struct hport *h, unsigned entry, uint32_t len, size_t hl)
{
	static uint8_t got[VQ_NET_MAX_FRAME + PAGE];
	struct virtio_net_hdr_v1 vh;
	size_t n = take(h, &vh, got);

	ASSERT_EQ(vh.flags & VQ_NET_HDR_F_SPLIT, VQ_NET_HDR_F_SPLIT);
	ASSERT_EQ(vh.hdr_len, hl);
	ASSERT_EQ(n, len - hl);
	ASSERT_MEM_EQ(got, fr + hl, len - hl);
	ASSERT_MEM_EQ(host(&h->p, h->r.gpa + (entry % NENT) * h->r.entry_size), fr, hl);
}

static void expect_unsplit(struct hport *h, uint32_t len)
{
	static uint8_t got[VQ_NET_MAX_FRAME + PAGE];
	struct virtio_net_hdr_v1 vh;
	size_t n = take(h, &vh, got);

	ASSERT_EQ(vh.flags & VQ_NET_HDR_F_SPLIT, 0);
	ASSERT_EQ(n, len);
	ASSERT_MEM_EQ(got, fr, len);
}

/* Every frame type split through the ring, configured in-process or by
 * the control command. */
static void every_frame(enum vq_layout lay, bool by_ctrl)
{
	static const uint32_t sizes[2][3] = { { 64, 1500, 65536 }, { 86, 1500, 65536 } };
	struct hport h;
	unsigned entry = 0;

	g_layout = lay;
	hport_setup(&h, F_HRING | (by_ctrl ? F(VIRTIO_NET_F_CTRL_VQ) : 0) |
			(lay ? VQ_F_PACKED : 0), 128, !by_ctrl);
	if (by_ctrl)
		ASSERT_EQ(ctrl_ring(&h.p, &h.r, 0), VIRTIO_NET_OK);
	for (int ip = 4; ip <= 6; ip += 2)
		for (int t = 0; t < 2; t++)
			for (unsigned s = 0; s < 3; s++) {
				uint32_t len = sizes[ip == 6][s];
				struct sf_spec sp = { .ip = ip, .frame_len = len,
						      .l4 = t ? IPPROTO_UDP : IPPROTO_TCP };
				size_t hl = sf_build(&sp, fr);

				ASSERT_GT(hl, 0);
				rx_one(&h, len);
				expect_split(&h, entry++, len, hl);
				(*h.tail)++; /* the driver recycles the entry */
			}
	ASSERT_EQ(stats(&h.p, 0).errors, 0);
}

TEST(hring_every_frame_split_ring) { every_frame(VQ_LAYOUT_SPLIT, false); }
TEST(hring_every_frame_packed_ring) { every_frame(VQ_LAYOUT_PACKED, false); }
TEST(hring_ctrl_every_frame_split_ring) { every_frame(VQ_LAYOUT_SPLIT, true); }
TEST(hring_ctrl_every_frame_packed_ring) { every_frame(VQ_LAYOUT_PACKED, true); }

/* hds-thresh: a frame of at most split_thresh bytes goes unsplit (no
 * entry used), a longer one is split; the threshold is inclusive. */
TEST(hring_split_thresh)
{
	struct sf_spec sp = { .ip = 4, .l4 = IPPROTO_TCP };
	struct hport h;
	size_t hl;

	g_layout = VQ_LAYOUT_SPLIT;
	g_split_thresh = 256;
	hport_init(&h, VQ_F_VERSION_1 | F_MRG | VQ_NET_F_SPLIT_HDR_RING, 128);
	for (uint32_t len = 64; len <= 256; len += 192) {
		sp.frame_len = len;
		ASSERT_GT(sf_build(&sp, fr), 0);
		rx_one(&h, len);
		expect_unsplit(&h, len);
	}
	sp.frame_len = 257;
	hl = sf_build(&sp, fr);
	rx_one(&h, 257);
	expect_split(&h, 0, 257, hl); /* entry 0: the short frames took none */
	sp.frame_len = 1500;
	hl = sf_build(&sp, fr);
	rx_one(&h, 1500);
	expect_split(&h, 1, 1500, hl);
	ASSERT_EQ(stats(&h.p, 0).errors, 0);
}

TEST(hring_fallbacks)
{
	struct sf_spec tcp = { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 1500 };
	struct sf_spec opts = { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 1500, .tcp_doff = 15 };
	struct sf_spec frag = { .ip = 6, .l4 = IPPROTO_UDP, .frame_len = 1500,
				.ext = (const uint8_t[]){ IPPROTO_FRAGMENT }, .ext_n = 1 };
	struct hport h;
	size_t hl;

	g_layout = VQ_LAYOUT_SPLIT;
	hport_init(&h, VQ_F_VERSION_1 | F_MRG | VQ_NET_F_SPLIT_HDR_RING, 64);
	*h.tail = 1;                 /* one entry free */
	hl = sf_build(&tcp, fr);
	rx_one(&h, 1500);
	expect_split(&h, 0, 1500, hl);
	fr[0] ^= 0xff;
	rx_one(&h, 1500);            /* ring empty: unsplit */
	expect_unsplit(&h, 1500);
	ASSERT_EQ(host(&h.p, h.r.gpa)[0], (uint8_t)~fr[0]); /* entry 0 untouched */
	*h.tail = 3;
	sf_build(&opts, fr);         /* 94 bytes of headers > 64-byte entries */
	rx_one(&h, 1500);
	expect_unsplit(&h, 1500);
	sf_build(&frag, fr);
	rx_one(&h, 1500);
	expect_unsplit(&h, 1500);
	hl = sf_build(&tcp, fr);     /* the next entry in order is 1 */
	rx_one(&h, 1500);
	expect_split(&h, 1, 1500, hl);
	ASSERT_EQ(stats(&h.p, 0).errors, 0);
}

/* A tail more than count ahead disables the ring for good (counted); the
 * queue goes on unsplit and is not broken.  Bad configurations refused. */
TEST(hring_hostile)
{
	struct sf_spec tcp = { .ip = 6, .l4 = IPPROTO_TCP, .frame_len = 3000 };
	struct vq_net_split_hdr_ring r;
	struct hport h;

	g_layout = VQ_LAYOUT_SPLIT;
	hport_init(&h, VQ_F_VERSION_1 | F_MRG | VQ_NET_F_SPLIT_HDR_RING, 128);
	sf_build(&tcp, fr);
	*h.tail = NENT + 1;
	rx_one(&h, 3000);
	expect_unsplit(&h, 3000);
	ASSERT_EQ(stats(&h.p, 0).errors, 1);
	*h.tail = NENT;              /* sane again: still off (sticky) */
	rx_one(&h, 3000);
	expect_unsplit(&h, 3000);
	ASSERT_FALSE(vq_dev_is_broken(h.p.dev[0]));
	r = h.r;
	r.entry_size = 32;
	ASSERT_EQ(vq_net_split_set_hdr_ring(h.p.n, 0, &r), -EINVAL);
	r = h.r;
	r.count = 0;
	ASSERT_EQ(vq_net_split_set_hdr_ring(h.p.n, 0, &r), -EINVAL);
	r = h.r;
	r.tail_gpa |= 1;
	ASSERT_EQ(vq_net_split_set_hdr_ring(h.p.n, 0, &r), -EINVAL);
	r = h.r;
	r.count = 6;                 /* not a power of two */
	ASSERT_EQ(vq_net_split_set_hdr_ring(h.p.n, 0, &r), -EINVAL);
	r = h.r;
	r.gpa = GBASE + GSIZE - 64;  /* runs past guest memory */
	ASSERT_EQ(vq_net_split_set_hdr_ring(h.p.n, 0, &r), -EFAULT);
	r = h.r;
	r.tail_gpa = 0x10;           /* not guest memory */
	ASSERT_EQ(vq_net_split_set_hdr_ring(h.p.n, 0, &r), -EFAULT);
	ASSERT_EQ(vq_net_split_set_hdr_ring(h.p.n, 1, &h.r), -EINVAL); /* no pair 1 */
	ASSERT_EQ(vq_net_split_set_hdr_ring(h.p.n, 0, &h.r), 0);       /* reconfigure: on */
	ASSERT_EQ(vq_net_split_set_hdr_ring(h.p.n, 0, &h.r), -EBUSY);  /* once while on */
	rx_one(&h, 3000);
	expect_split(&h, 0, 3000, 14 + 40 + 20);
	vq_net_reset(h.p.n);         /* reset removes the ring; feature gone */
	ASSERT_EQ(vq_net_split_set_hdr_ring(h.p.n, 0, &h.r), -EINVAL);
}

/* The device translates the ring and the tail once per start of the rx
 * queue: a map that lost them is seen at the next vq_net_set_queue (frames
 * then go unsplit, no error, no stale access); a failed translation is
 * tried again at the next frame, which splits once the map has them again,
 * at the next entry in order. */
TEST(hring_retranslated_at_queue_start)
{
	struct sf_spec tcp = { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 1500 };
	struct vq_mem_region reg = { GBASE, GSIZE, NULL, 0, VQ_MEM_RW };
	struct vq_mem *m2;
	struct hport h;
	size_t hl;

	g_layout = VQ_LAYOUT_SPLIT;
	hport_setup(&h, F_HRING, 128, false);
	reg.hva = h.p.g;
	ASSERT_EQ(vq_mem_new(&m2), 0); /* the ring's own map, given in-process */
	ASSERT_EQ(vq_mem_add(m2, &reg), 0);
	h.r.mem = m2;
	ASSERT_EQ(vq_net_split_set_hdr_ring(h.p.n, 0, &h.r), 0);
	hl = sf_build(&tcp, fr);
	rx_one(&h, 1500);
	expect_split(&h, 0, 1500, hl);
	ASSERT_EQ(vq_mem_remove(m2, GBASE, GSIZE), 0); /* the ring unmapped */
	ASSERT_EQ(vq_net_set_queue(h.p.n, 0, h.p.dev[0]), 0); /* the queue restarts */
	rx_one(&h, 1500);
	expect_unsplit(&h, 1500);
	ASSERT_EQ(vq_mem_add(m2, &reg), 0); /* a failed translation is retried */
	rx_one(&h, 1500);
	expect_split(&h, 1, 1500, hl);
	ASSERT_EQ(stats(&h.p, 0).errors, 0);
	ASSERT_FALSE(vq_dev_is_broken(h.p.dev[0]));
	vq_net_split_set_hdr_ring(h.p.n, 0, NULL);
	vq_mem_free(m2);
}

TEST(hring_one_method_at_a_time)
{
	struct vq_net_params np = { .mac = MAC0, .max_pairs = 1,
				    .features = VQ_NET_FEATURES_DEFAULT | VQ_NET_F_SPLIT_ALL };
	struct vq_net *n;

	ASSERT_EQ(vq_net_new(&np, &n), 0);
	ASSERT_EQ(vq_net_set_features(n, VQ_F_VERSION_1 | VQ_NET_F_SPLIT_A |
					     VQ_NET_F_SPLIT_HDR_RING), -EINVAL);
	ASSERT_EQ(vq_net_set_features(n, VQ_F_VERSION_1 | VQ_NET_F_SPLIT_A), 0);
	ASSERT_EQ(vq_net_split_set_hdr_ring(n, 0, NULL), -EINVAL); /* not negotiated */
	vq_net_free(n);
}

/* The control command refused (VIRTIO_NET_ERR, counted, nothing changes)
 * for every field out of its limits; then accepted once, refused while the
 * ring is on and traffic flows (which goes on split, in order). */
TEST(hring_ctrl_hostile)
{
	static uint8_t ro[8192] __attribute__((aligned(4096)));
	struct sf_spec tcp = { .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 1500 };
	struct vq_mem_region rreg = { GBASE + GSIZE, sizeof(ro), ro, 0, VQ_MEM_READ };
	struct vq_net_ctrl_split_hdr_ring w;
	struct vq_net_split_hdr_ring r;
	struct hport h;
	unsigned naks = 0;
	size_t hl;

	g_layout = VQ_LAYOUT_SPLIT;
	hport_setup(&h, F_HRING | F(VIRTIO_NET_F_CTRL_VQ), 128, false);
	ASSERT_EQ(vq_mem_add(h.p.mem, &rreg), 0);
#define NAK(field, value)                                                \
	do {                                                             \
		r = h.r;                                                 \
		r.field = value;                                         \
		ASSERT_EQ(ctrl_ring(&h.p, &r, 0), VIRTIO_NET_ERR);       \
		naks++;                                                  \
	} while (0)
	NAK(entry_size, 32);                    /* too small */
	NAK(entry_size, 8192);                  /* too large */
	NAK(entry_size, 100);                   /* not a multiple of 64 */
	NAK(count, 0);
	NAK(count, 3);                          /* not a power of two */
	NAK(count, 65535);
	NAK(gpa, h.r.gpa + 8);                  /* misaligned */
	NAK(tail_gpa, h.r.tail_gpa + 1);        /* misaligned */
	NAK(gpa, 0xffffffffffffffc0ull);        /* address + size wraps */
	NAK(tail_gpa, 0xfffffffffffffffeull);   /* tail + 2 wraps */
	NAK(gpa, 0x1000);                       /* not guest memory */
	NAK(gpa, GBASE + GSIZE - 512);          /* runs off the end of a region */
	NAK(gpa, GBASE + GSIZE);                /* read-only memory */
	NAK(tail_gpa, h.r.gpa + 130);           /* the tail inside the entries */
	NAK(tail_gpa, 0x2000);                  /* the tail not guest memory */
#undef NAK
	w = wire(&h.r, 1);                      /* no pair 1 */
	ASSERT_EQ(ctrl(&h.p, VQ_NET_CTRL_SPLIT, 0, &w, sizeof(w)), VIRTIO_NET_ERR);
	w = wire(&h.r, 0);
	ASSERT_EQ(ctrl(&h.p, VQ_NET_CTRL_SPLIT, 0, &w, sizeof(w) - 1), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&h.p, VQ_NET_CTRL_SPLIT, 1, &w, sizeof(w)), VIRTIO_NET_ERR); /* command */
	naks += 3;
	ASSERT_EQ(stats(&h.p, 2).errors, naks);
	hl = sf_build(&tcp, fr);                /* no ring yet: unsplit */
	rx_one(&h, 1500);
	expect_unsplit(&h, 1500);
	ASSERT_EQ(ctrl_ring(&h.p, &h.r, 0), VIRTIO_NET_OK);
	r = h.r;
	r.tail_gpa = GBASE + GSIZE;             /* valid (a tail may be read-only), */
	ASSERT_EQ(ctrl_ring(&h.p, &r, 0), VIRTIO_NET_ERR);  /* but configured once */
	rx_one(&h, 1500);
	expect_split(&h, 0, 1500, hl);
	ASSERT_EQ(ctrl_ring(&h.p, &h.r, 0), VIRTIO_NET_ERR); /* again, traffic flowing */
	rx_one(&h, 1500);
	expect_split(&h, 1, 1500, hl);          /* the ring goes on in order */
	ASSERT_EQ(stats(&h.p, 2).errors, naks + 2);
	ASSERT_EQ(stats(&h.p, 0).errors, 0);
	vq_net_reset(h.p.n);                    /* reset: ring gone, feature gone */
	ASSERT_EQ(vq_net_split_set_hdr_ring(h.p.n, 0, NULL), -EINVAL);
}

/* Without VQ_NET_F_SPLIT_HDR_RING negotiated the command is refused. */
TEST(hring_ctrl_not_negotiated)
{
	struct hport h;

	g_layout = VQ_LAYOUT_SPLIT;
	hport_setup(&h, VQ_F_VERSION_1 | F_MRG | F(VIRTIO_NET_F_CTRL_VQ), 128, false);
	ASSERT_EQ(ctrl_ring(&h.p, &h.r, 0), VIRTIO_NET_ERR);
	ASSERT_EQ(stats(&h.p, 2).errors, 1);
}

/* A ring over the driver's own data buffers: the device cannot know the
 * buffers when the ring is configured and does not look at every frame;
 * only the driver's frames suffer.  The device and the queue carry on. */
TEST(hring_ctrl_overlaps_data)
{
	struct sf_spec tcp = { .ip = 6, .l4 = IPPROTO_TCP, .frame_len = 3000 };
	struct virtio_net_hdr_v1 vh;
	static uint8_t got[2 * PAGE];
	struct vq_net_split_hdr_ring r;
	struct hport h;

	g_layout = VQ_LAYOUT_PACKED;
	hport_setup(&h, F_HRING | VQ_F_PACKED | F(VIRTIO_NET_F_CTRL_VQ), 128, false);
	r = h.r;
	r.gpa = h.buf[0]; /* entries over data page 0 */
	ASSERT_EQ(ctrl_ring(&h.p, &r, 0), VIRTIO_NET_OK);
	for (unsigned i = 0; i < 4; i++) {
		sf_build(&tcp, fr);
		rx_one(&h, 3000);
		ASSERT_EQ(take(&h, &vh, got), 3000u - (14 + 40 + 20));
		(*h.tail)++;
	}
	ASSERT_FALSE(vq_dev_is_broken(h.p.dev[0]));
	ASSERT_EQ(stats(&h.p, 0).packets, 4);
}
