/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the EXPERIMENTAL split-aware receive driver (vq_splitdrv,
 * <virtq/net_split.h>) against a hostile device.  The driver posts the
 * buffers of its method on a ring; the device side of the same ring (vq_dev)
 * pops chains, writes virtio-net headers of its choosing (flags with or
 * without VQ_NET_HDR_F_SPLIT, hdr_len, num_buffers) and pushes them back
 * with any length, in any order, even longer than the buffer; and the input
 * may overwrite any byte of the driver's memory (headers, header-ring
 * entries, the tail) and of the ring (used entries, indexes) at any time.
 *
 * Input (fuzz/gen_corpus.c writes valid ones):
 *   u8 cfg    bits 0-2 method (0 none, 1 A, 2 B, 3 C, 4 header ring, 5-7
 *             none), bit 3 packed, bits 4-5 ratio - 1, bit 6 64-byte header
 *             buffers (else 128), bit 7 A without MRG_RXBUF
 *   u8 qsz    split: 1 << (2 + qsz % 4) entries; packed: 4 + qsz % 29
 *   ops       until the input ends, one u8 opcode each (see run_op)
 * Invariants: recv hands out frames of 14..VQ_NET_MAX_FRAME bytes whose
 * views and headers lie inside the driver's memory and add up to the
 * length, and vq_splitdrv_copy gives those bytes back; a lent frame is
 * released once (-EINVAL the second time); a broken queue says why and
 * answers -EIO until it is attached again.
 */
#include <errno.h>
#include <stdbool.h>

#include <virtq/mem.h>
#include <virtq/net_split.h>
#include <virtq/ring.h>

#include "fuzz.h"

#define GPA_BASE 0x100000ull
#define GMEM (256u << 10)
#define MAX_OPS 1024u
#define MAX_POP 64u
#define MAX_LENT 64u
#define HS 12u

struct popped {
	uint16_t id, ndesc;
	uint64_t in_len;
	struct iovec first; /* the first writable segment */
};

struct ctx {
	struct vq_mem *mem;
	struct vq_drv *d;
	struct vq_dev *dev;
	struct vq_splitdrv *s;
	struct vq_ring_layout lay;
	size_t used;          /* guest memory handed out */
	const uint8_t *lo, *hi; /* the split driver's memory */
	struct popped pop[MAX_POP];
	unsigned npop;
	struct vq_splitdrv_pkt lent[MAX_LENT];
	unsigned nlent;
	bool broken;
};

static uint8_t guest[GMEM] __attribute__((aligned(4096)));
static uint8_t ringmem[8192] __attribute__((aligned(64)));
static uint8_t copybuf[VQ_NET_MAX_FRAME + 64];

static void *fz_alloc(void *ctx, size_t size, uint64_t *addr)
{
	struct ctx *c = ctx;
	size_t off = (c->used + 4095u) & ~(size_t)4095u;

	if (size > GMEM - off)
		return NULL;
	c->used = off + size;
	c->lo = guest + off;
	c->hi = guest + off + size;
	*addr = GPA_BASE + off;
	return guest + off;
}

static bool in_mem(const struct ctx *c, const void *p, size_t len)
{
	const uint8_t *b = p;

	return b >= c->lo && b <= c->hi && len <= (size_t)(c->hi - b);
}

/* A frame handed out: inside the driver's memory, pieces adding up. */
static void check_pkt(struct ctx *c, const struct vq_splitdrv_pkt *p)
{
	uint64_t sum = p->head_len;
	volatile uint8_t sink = 0;

	FZ_CHECK(p->len >= 14 && p->len <= VQ_NET_MAX_FRAME, "frame of %u bytes", p->len);
	FZ_CHECK(p->head ? in_mem(c, p->head, p->head_len) : p->head_len == 0,
		 "headers %p + %u outside", (const void *)p->head, p->head_len);
	FZ_CHECK(p->iov != NULL || p->iovcnt == 0, "no views");
	for (unsigned i = 0; i < p->iovcnt; i++) {
		const struct iovec *v = &p->iov[i];

		FZ_CHECK(in_mem(c, v->iov_base, v->iov_len), "view %u outside", i);
		for (size_t k = 0; k < v->iov_len; k += 64) /* every line read */
			sink ^= ((const uint8_t *)v->iov_base)[k];
		sum += v->iov_len;
	}
	(void)sink;
	FZ_CHECK(sum == p->len, "pieces add up to %llu, len %u", (unsigned long long)sum, p->len);
	FZ_CHECK(vq_splitdrv_copy(p, copybuf, sizeof(copybuf)) == p->len, "copy short");
	FZ_CHECK(!p->head || !memcmp(copybuf, p->head, p->head_len), "copy differs");
}

static void check_broken(struct ctx *c)
{
	struct vq_splitdrv_pkt p;

	FZ_CHECK(vq_splitdrv_is_broken(c->s), "not broken");
	FZ_CHECK(vq_splitdrv_error(c->s)[0] != '\0', "broken without a reason");
	FZ_CHECK(vq_splitdrv_recv(c->s, &p, 1) == -EIO, "recv on a broken queue");
}

static void op_recv(struct ctx *c, struct fz *f)
{
	struct vq_splitdrv_pkt p[8];
	int r = vq_splitdrv_recv(c->s, p, 1u + fz_u8(f) % 8u);

	if (c->broken) {
		FZ_CHECK(r == -EIO, "recv on a broken queue returned %d", r);
		return;
	}
	FZ_CHECK(r == -EIO || (r >= 0 && r <= 8), "recv returned %d", r);
	for (int i = 0; i < r; i++) {
		check_pkt(c, &p[i]);
		if (c->nlent < MAX_LENT)
			c->lent[c->nlent++] = p[i];
		else
			FZ_CHECK(vq_splitdrv_release(c->s, &p[i]) == 0, "release failed");
	}
	if (vq_splitdrv_is_broken(c->s)) {
		c->broken = true;
		check_broken(c);
	}
}

static void op_release(struct ctx *c, struct fz *f)
{
	struct vq_splitdrv_pkt p;
	unsigned i;

	if (!c->nlent)
		return;
	i = fz_u8(f) % c->nlent;
	p = c->lent[i];
	c->lent[i] = c->lent[--c->nlent];
	FZ_CHECK(vq_splitdrv_release(c->s, &p) == 0, "release of a lent frame failed");
	FZ_CHECK(vq_splitdrv_release(c->s, &p) == -EINVAL, "released twice");
}

/* The device: pop a chain, or push a popped one back with any length. */
static void op_dev(struct ctx *c, struct fz *f, bool pop)
{
	struct iovec iov[64];
	struct vq_elem e = { .iov = iov, .iov_cap = 64 };
	uint32_t len;
	unsigned i;

	if (pop) {
		if (c->npop < MAX_POP && vq_dev_pop(c->dev, &e) == 1 && e.in_num)
			c->pop[c->npop++] = (struct popped){ e.id, e.ndesc, e.in_len,
							     iov[e.out_num] };
		return;
	}
	if (!c->npop)
		return;
	i = fz_u8(f) % c->npop;
	len = fz_u32(f);
	if (!(len & 0x80000000u)) /* mostly a length that fits */
		len %= (uint32_t)c->pop[i].in_len + 1u;
	(void)vq_dev_push_id(c->dev, c->pop[i].id, c->pop[i].ndesc, len);
	c->pop[i] = c->pop[--c->npop];
	if (fz_u8(f) & 1)
		vq_dev_flush(c->dev);
}

/* The device writes a virtio-net header into a popped chain. */
static void op_hdr(struct ctx *c, struct fz *f)
{
	struct virtio_net_hdr_v1 h = { 0 };
	const struct popped *p;

	if (!c->npop)
		return;
	p = &c->pop[fz_u8(f) % c->npop];
	h.flags = fz_u8(f);
	h.hdr_len = fz_u16(f) % 512u;
	h.num_buffers = fz_u16(f) % 40u;
	if (p->first.iov_len >= HS)
		memcpy(p->first.iov_base, &h, HS);
}

static void op_write(uint8_t *base, size_t total, struct fz *f)
{
	size_t off = fz_u32(f) % total;

	fz_scribble(f, base, total, off, fz_u8(f) % 32);
}

static void run_op(struct ctx *c, struct fz *f)
{
	switch (fz_u8(f) % 12) {
	case 0: case 1:
		op_recv(c, f);
		break;
	case 2:
		op_release(c, f);
		break;
	case 3: case 4:
		op_dev(c, f, true);
		break;
	case 5: case 6:
		op_dev(c, f, false);
		break;
	case 7: case 8:
		op_hdr(c, f);
		break;
	case 9:
		op_write((uint8_t *)c->lo, (size_t)(c->hi - c->lo), f);
		break;
	case 10:
		op_write(ringmem, c->lay.total, f);
		break;
	default:
		vq_dev_flush(c->dev);
		break;
	}
}

static const uint64_t methods[8] = { 0, VQ_NET_F_SPLIT_A, VQ_NET_F_SPLIT_B, VQ_NET_F_SPLIT_C,
				     VQ_NET_F_SPLIT_HDR_RING, 0, 0, 0 };

static int setup(struct ctx *c, struct fz *f)
{
	uint8_t cf = fz_u8(f), qs = fz_u8(f);
	bool packed = cf & 8;
	uint64_t m = methods[cf & 7];
	struct vq_ring_params rp = { .layout = packed ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT,
				     .size = packed ? 4u + qs % 29u : 1u << (2 + qs % 4),
				     .features = VQ_F_VERSION_1 };
	struct vq_splitdrv_params sp = {
		.features = VQ_F_VERSION_1 | m | (packed ? VQ_F_PACKED : 0) |
			    (m == VQ_NET_F_SPLIT_A && (cf & 128) ? 0 :
			     VQ_NET_F(VIRTIO_NET_F_MRG_RXBUF)),
		.queue_size = rp.size, .pages = rp.size, .hdr_bufs = 8,
		.hdr_size = (cf & 64) ? 64 : 128, .ratio = 1u + ((cf >> 4) & 3u),
		.alloc = fz_alloc, .ctx = c,
	};
	struct vq_drv_params dc;
	struct vq_mem_region g = { .gpa = GPA_BASE, .size = GMEM, .hva = guest,
				   .prot = VQ_MEM_RW };

	if (vq_ring_layout(rp.layout, rp.size, &c->lay) || c->lay.total > sizeof(ringmem))
		return -1;
	memset(ringmem, 0, c->lay.total);
	rp.desc = ringmem + c->lay.desc_off;
	rp.avail = ringmem + c->lay.avail_off;
	rp.used = ringmem + c->lay.used_off;
	dc = (struct vq_drv_params){ .ring = rp };
	if (vq_mem_add(c->mem, &g) || vq_drv_new(&dc, &c->d) || vq_dev_new(&rp, c->mem, &c->dev))
		return -1;
	if (vq_splitdrv_new(&sp, &c->s) < 0)
		return -1;
	FZ_CHECK(vq_splitdrv_attach(c->s, c->d) == 0, "attach failed: %s",
		 vq_splitdrv_error(c->s));
	return 0;
}

static void teardown(struct ctx *c)
{
	while (c->nlent) {
		c->nlent--;
		FZ_CHECK(vq_splitdrv_release(c->s, &c->lent[c->nlent]) == 0, "release failed");
	}
	FZ_CHECK(vq_splitdrv_attach(c->s, NULL) == 0, "detach failed");
	FZ_CHECK(!vq_splitdrv_is_broken(c->s), "broken after detach");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctx c;
	struct fz f = { data, size };

	memset(&c, 0, sizeof(c));
	memset(guest, 0, sizeof(guest));
	if (vq_mem_new(&c.mem))
		return 0;
	if (setup(&c, &f) == 0) {
		for (unsigned n = 0; n < MAX_OPS && fz_left(&f); n++)
			run_op(&c, &f);
		teardown(&c);
	}
	if (c.s)
		vq_splitdrv_free(c.s);
	vq_dev_free(c.dev);
	vq_drv_free(c.d);
	vq_mem_free(c.mem);
	return 0;
}
