/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: device-side chain parsing (vq_dev_pop, and the buffers
 * served in place: vq_dev_peek / vq_dev_use_peeked) for split and packed
 * rings, with and without indirect descriptors and VQ_F_LARGE_CHAIN, over a
 * fuzzed ring and a fuzzed guest-memory map.
 *
 * Input (fuzz/gen_corpus.c writes valid ones):
 *   u8 cfg        bit0 packed, bit1 INDIRECT, bit2 LARGE_CHAIN, bit3 EVENT_IDX
 *   u8 size       split: 1 << (size % 6); packed: 1 + size % 32
 *   u16 max_chain vq_ring_params.max_chain (0 = queue size)
 *   u8 nregions   1 + n % 4, then per region:
 *                 u32 gpa, u16 host offset, u16 size, u8 prot (bit7: gpa near 2^64)
 *   ring bytes    layout.total bytes (descriptors, avail/driver area, used/device area)
 *   u16 glen      then glen bytes of guest memory (from host offset 0)
 *   ops           until the input ends, one u8 opcode each (see run_op)
 * Invariants: every iovec lies inside a registered region with the right
 * permission; out_len / in_len are the sums of the iovecs; ids are unique
 * among chains in flight; a peek returns buffers of one direction inside
 * the regions, with distinct ids, only while nothing is in flight, and
 * their use leaves nothing in flight; a broken queue returns -EIO forever.
 */
#include <errno.h>
#include <stdbool.h>

#include <virtq/mem.h>
#include <virtq/ring.h>

#include "fuzz.h"

#define GBUF 8192u
#define RBUF 4096u
#define MAX_REG 4u
#define MAX_IOV 256u
#define MAX_OPS 512u

struct inflight {
	uint16_t id, ndesc;
	uint64_t in_len;
};

struct ctx {
	struct vq_dev *q;
	struct vq_mem *mem;
	struct vq_ring_layout lay;
	uint32_t size;
	struct vq_mem_region reg[MAX_REG];
	unsigned nreg;
	struct inflight fl[32768];
	unsigned nfl;
	bool broken;
	struct iovec iov[MAX_IOV];
};

static uint8_t guest[GBUF] __attribute__((aligned(64)));
static uint8_t ringmem[RBUF] __attribute__((aligned(64)));

/* Is [p, p+len) inside a region that grants prot? */
static bool iov_ok(const struct ctx *c, const struct iovec *v, uint32_t prot)
{
	uintptr_t p = (uintptr_t)v->iov_base;

	for (unsigned i = 0; i < c->nreg; i++) {
		uintptr_t h = (uintptr_t)c->reg[i].hva;

		if ((c->reg[i].prot & prot) == prot && p >= h && v->iov_len <= c->reg[i].size &&
		    p - h <= c->reg[i].size - v->iov_len)
			return true;
	}
	return false;
}

static void check_elem(struct ctx *c, const struct vq_elem *e)
{
	uint64_t out = 0, in = 0;

	FZ_CHECK(e->out_num + e->in_num <= e->iov_cap, "%u+%u > %u", e->out_num, e->in_num,
		 e->iov_cap);
	for (uint32_t i = 0; i < e->out_num + e->in_num; i++) {
		bool w = i >= e->out_num;

		FZ_CHECK(e->iov[i].iov_len > 0, "empty iovec %u", i);
		FZ_CHECK(iov_ok(c, &e->iov[i], w ? VQ_MEM_WRITE : VQ_MEM_READ),
			 "iovec %u (%p+%zu, %s) outside the registered regions", i,
			 e->iov[i].iov_base, e->iov[i].iov_len, w ? "write" : "read");
		if (w)
			in += e->iov[i].iov_len;
		else
			out += e->iov[i].iov_len;
	}
	FZ_CHECK(out == e->out_len, "out_len %llu, iovecs %llu",
		 (unsigned long long)e->out_len, (unsigned long long)out);
	FZ_CHECK(in == e->in_len, "in_len %llu, iovecs %llu",
		 (unsigned long long)e->in_len, (unsigned long long)in);
	FZ_CHECK(e->out_len + e->in_len <= VQ_MAX_CHAIN_BYTES, "chain too long");
	FZ_CHECK(e->id < c->size, "id %u >= size %u", e->id, c->size);
	FZ_CHECK(e->ndesc >= 1 && e->ndesc <= c->size, "ndesc %u, size %u", e->ndesc, c->size);
	for (unsigned i = 0; i < c->nfl; i++)
		FZ_CHECK(c->fl[i].id != e->id, "id %u popped twice", e->id);
}

/* Once broken, every entry point fails or does nothing. */
static void check_broken(struct ctx *c)
{
	struct vq_elem e = { .iov = c->iov, .iov_cap = MAX_IOV };

	FZ_CHECK(vq_dev_is_broken(c->q), "not broken");
	FZ_CHECK(vq_dev_violation(c->q) != VQ_OK, "no violation recorded");
	FZ_CHECK(vq_dev_error(c->q)[0] != '\0', "no error message");
	FZ_CHECK(vq_dev_pop(c->q, &e) == -EIO, "pop on a broken queue");
	FZ_CHECK(vq_dev_enable_notify(c->q), "enable_notify on a broken queue");
	FZ_CHECK(!vq_dev_has_avail(c->q), "has_avail on a broken queue");
	FZ_CHECK(!vq_dev_need_notify(c->q), "need_notify on a broken queue");
	if (c->nfl)
		FZ_CHECK(vq_dev_push_id(c->q, c->fl[0].id, c->fl[0].ndesc, 0) == -EIO,
			 "push on a broken queue");
}

static void op_pop(struct ctx *c, struct fz *f)
{
	uint8_t capsel = fz_u8(f);
	struct vq_elem e = { .iov = c->iov, .iov_cap = capsel == 255 ? MAX_IOV : capsel % 65 };
	unsigned before = vq_dev_inflight(c->q);
	int rc = vq_dev_pop(c->q, &e);

	if (c->broken) {
		FZ_CHECK(rc == -EIO, "pop on a broken queue returned %d", rc);
		return;
	}
	if (rc == 1) {
		check_elem(c, &e);
		c->fl[c->nfl++] = (struct inflight){ e.id, e.ndesc, e.in_len };
		FZ_CHECK(vq_dev_inflight(c->q) == before + 1, "inflight count");
	} else if (rc == 0 || rc == -ENOBUFS || rc == -ENOMEM) {
		FZ_CHECK(!vq_dev_is_broken(c->q), "rc %d but broken", rc);
		FZ_CHECK(vq_dev_inflight(c->q) == before, "inflight changed");
	} else {
		FZ_CHECK(rc < 0, "pop returned %d", rc);
		FZ_CHECK(rc == vq_violation_errno(vq_dev_violation(c->q)),
			 "pop returned %d, violation %s", rc,
			 vq_violation_str(vq_dev_violation(c->q)));
		c->broken = true;
		check_broken(c);
	}
}

static void op_push(struct ctx *c, struct fz *f)
{
	unsigned i;
	uint32_t len;
	struct inflight x;
	int rc;

	if (!c->nfl)
		return;
	i = fz_u8(f) % c->nfl;
	x = c->fl[i];
	len = (uint32_t)(fz_u32(f) % (x.in_len + 1));
	rc = vq_dev_push_id(c->q, x.id, x.ndesc, len);
	FZ_CHECK(rc == (c->broken ? -EIO : 0), "push id %u returned %d", x.id, rc);
	if (c->broken)
		return;
	c->fl[i] = c->fl[--c->nfl];
	FZ_CHECK(vq_dev_inflight(c->q) == c->nfl, "inflight %u vs %u", vq_dev_inflight(c->q),
		 c->nfl);
}

/* Pushing something not in flight is refused and harmless. */
static void op_push_bogus(struct ctx *c, struct fz *f)
{
	uint16_t id = fz_u16(f), nd = fz_u16(f);
	int rc;

	for (unsigned i = 0; i < c->nfl; i++)
		if (c->fl[i].id == id)
			return;
	rc = vq_dev_push_id(c->q, id, nd, 0);
	FZ_CHECK(rc == (c->broken ? -EIO : -EINVAL), "bogus push id %u returned %d", id, rc);
}

static void op_write(uint8_t *base, size_t total, struct fz *f)
{
	size_t off = fz_u16(f) % total;

	fz_scribble(f, base, total, off, fz_u8(f));
}

/* A peek of up to 64 buffers, the ring maybe rewritten, then a use of some
 * of them. */
static void op_peek(struct ctx *c, struct fz *f)
{
	struct vq_peeked b[64];
	uint32_t len[64];
	uint8_t how = fz_u8(f);
	bool wr = how & 0x80;
	unsigned n = fz_u8(f) % 65u, use;
	int k = vq_dev_peek(c->q, b, n, wr), rc;

	if (c->broken) {
		FZ_CHECK(k == -EIO, "peek on a broken queue returned %d", k);
		return;
	}
	if (vq_dev_is_broken(c->q)) { /* an id twice in one peek */
		FZ_CHECK(vq_dev_violation(c->q) == VQ_ERR_ID_IN_USE, "peek broke the queue: %s",
			 vq_violation_str(vq_dev_violation(c->q)));
		FZ_CHECK(k >= 1, "peek broke the queue and returned %d", k);
		c->broken = true;
		FZ_CHECK(vq_dev_use_peeked(c->q, b, len, 0) == -EIO, "use on a broken queue");
		return;
	}
	FZ_CHECK(k == -EAGAIN || (k >= 0 && (unsigned)k <= n), "peek of %u returned %d", n, k);
	if (k <= 0)
		return;
	FZ_CHECK(c->nfl == 0, "peek returned %d with %u chains in flight", k, c->nfl);
	for (int i = 0; i < k; i++) {
		struct iovec v = { b[i].base, b[i].len };

		FZ_CHECK(b[i].len > 0 && b[i].id < c->size, "buffer %d: len %u id %u", i, b[i].len,
			 b[i].id);
		FZ_CHECK(iov_ok(c, &v, wr ? VQ_MEM_WRITE : VQ_MEM_READ),
			 "peeked buffer %d (%p+%u) outside the regions", i, b[i].base, b[i].len);
		for (int j = 0; j < i; j++)
			FZ_CHECK(b[j].id != b[i].id, "id %u peeked twice", b[i].id);
	}
	if (how & 0x40)
		op_write(ringmem, c->lay.total, f);
	use = fz_u8(f) % ((unsigned)k + 1);
	for (unsigned i = 0; i < use; i++)
		len[i] = wr ? fz_u32(f) % (b[i].len + 1u) : 0;
	rc = vq_dev_use_peeked(c->q, b, len, use);
	FZ_CHECK(rc == 0, "use of %u of %d peeked returned %d", use, k, rc);
	FZ_CHECK(vq_dev_inflight(c->q) == 0, "in flight after a use");
}

static void op_state(struct ctx *c, struct fz *f)
{
	struct vq_state s;
	uint8_t how = fz_u8(f);

	vq_dev_get_state(c->q, &s);
	if (how & 1) {
		s.avail_idx = fz_u16(f);
		s.used_idx = fz_u16(f);
		s.avail_wrap = how & 2;
		s.used_wrap = how & 4;
	}
	(void)vq_dev_set_state(c->q, &s);
}

static void run_op(struct ctx *c, struct fz *f)
{
	switch (fz_u8(f) % 10) {
	case 0: case 1: case 2:
		op_pop(c, f);
		break;
	case 3: case 4:
		op_push(c, f);
		break;
	case 5:
		vq_dev_flush(c->q);
		(void)vq_dev_need_notify(c->q);
		break;
	case 6:
		op_write(ringmem, c->lay.total, f);
		break;
	case 7:
		op_write(guest, GBUF, f);
		break;
	case 8:
		if (fz_u8(f) & 1)
			vq_dev_disable_notify(c->q);
		else
			(void)vq_dev_enable_notify(c->q);
		break;
	default: {
		uint8_t k = fz_u8(f);

		if (k & 1)
			op_state(c, f);
		else if (k & 2)
			op_peek(c, f);
		else
			op_push_bogus(c, f);
		break;
	}
	}
	if (c->broken)
		check_broken(c);
}

static void setup_regions(struct ctx *c, struct fz *f)
{
	unsigned n = 1 + fz_u8(f) % MAX_REG;

	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = fz_u32(f);
		unsigned hoff = fz_u16(f) % GBUF;
		unsigned size = 1 + fz_u16(f) % (GBUF - hoff);
		uint8_t prot = fz_u8(f);
		struct vq_mem_region r = {
			.gpa = (prot & 0x80) ? UINT64_MAX - gpa : gpa,
			.size = size, .hva = guest + hoff, .prot = prot & 3,
		};

		if (vq_mem_add(c->mem, &r) == 0)
			c->reg[c->nreg++] = r;
	}
}

static int setup(struct ctx *c, struct fz *f)
{
	uint8_t cf = fz_u8(f), sz = fz_u8(f);
	struct vq_ring_params rc = {
		.layout = (cf & 1) ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT,
		.features = VQ_F_VERSION_1 | ((cf & 2) ? VQ_F_INDIRECT : 0) |
			    ((cf & 4) ? VQ_F_LARGE_CHAIN : 0) | ((cf & 8) ? VQ_F_EVENT_IDX : 0),
		.max_chain = fz_u16(f),
	};
	size_t glen;

	rc.size = (cf & 1) ? 1u + sz % 32u : 1u << (sz % 6u);
	c->size = rc.size;
	if (vq_ring_layout(rc.layout, rc.size, &c->lay) || c->lay.total > RBUF)
		return -1;
	setup_regions(c, f);
	memset(ringmem, 0, c->lay.total);
	fz_bytes(f, ringmem, c->lay.total);
	glen = fz_u16(f);
	memset(guest, 0, GBUF);
	fz_bytes(f, guest, glen < GBUF ? glen : GBUF);
	rc.desc = ringmem + c->lay.desc_off;
	rc.avail = ringmem + c->lay.avail_off;
	rc.used = ringmem + c->lay.used_off;
	return vq_dev_new(&rc, c->mem, &c->q) ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctx c;
	struct fz f = { data, size };

	c.q = NULL;
	c.nreg = c.nfl = 0;
	c.broken = false;
	if (vq_mem_new(&c.mem))
		return 0;
	if (setup(&c, &f) == 0) {
		for (unsigned n = 0; n < MAX_OPS && fz_left(&f); n++)
			run_op(&c, &f);
		/* Drain: pop until empty or broken, push everything back. */
		for (unsigned n = 0; n < 2 * c.size + 2 && !c.broken; n++) {
			struct fz big = { (const uint8_t[]){ 255 }, 1 };

			op_pop(&c, &big);
		}
		while (c.nfl && !c.broken) {
			struct fz z = { (const uint8_t *)"", 0 };

			op_push(&c, &z);
		}
		vq_dev_flush(c.q);
	}
	vq_dev_free(c.q);
	vq_mem_free(c.mem);
	return 0;
}
