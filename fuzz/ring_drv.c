/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: driver-side used-ring processing (vq_drv_get, and
 * vq_drv_get_burst with its IN_ORDER run fast path) against a
 * fuzzed device.  The driver posts buffers; a well-behaved device (vq_dev
 * on the same ring) pops and pushes some of them; and the input may
 * overwrite any byte of the shared ring and indirect tables at any time, as
 * a hostile device could.
 *
 * Input (fuzz/gen_corpus.c writes valid ones):
 *   u8 cfg        bit0 packed, bit1 INDIRECT, bit2 EVENT_IDX, bit3 IN_ORDER,
 *                 bit4 LARGE_CHAIN
 *   u8 size       split: 1 << (size % 6); packed: 1 + size % 32
 *   u16 max_chain
 *   u8 tables, u8 table_len   indirect pool: tables % 9, 1 + table_len % 16
 *   ops           until the input ends, one u8 opcode each (see run_op)
 * Invariants: every token returned (get or detach) was posted and is
 * returned once; len <= the buffer's writable bytes; a broken queue returns
 * -EIO forever; at teardown detach returns every buffer still in flight.
 */
#include <errno.h>
#include <stdbool.h>

#include <virtq/mem.h>
#include <virtq/ring.h>

#include "fuzz.h"

#define GBUF 4096u
#define GPA_BASE 0x10000ull
#define IND_GPA 0x100000ull
#define RBUF 4096u
#define MAX_OPS 512u
#define MAX_SEGS 8u

struct tok {
	bool posted, done;
	uint32_t in_len;
};

struct popped {
	uint16_t id, ndesc;
	uint64_t in_len;
};

struct ctx {
	struct vq_drv *d;
	struct vq_dev *dev;
	struct vq_mem *mem;
	struct vq_ring_layout lay;
	uint32_t size;
	bool broken;
	unsigned ntok, outstanding;
	struct tok tok[MAX_OPS];
	struct popped pop[32768];
	unsigned npop;
};

static uint8_t ringmem[RBUF] __attribute__((aligned(64)));
static uint8_t pool[8 * 16 * 16] __attribute__((aligned(64)));
static uint8_t guest[GBUF] __attribute__((aligned(64)));

static struct tok *tok_of(struct ctx *c, void *t)
{
	uintptr_t p = (uintptr_t)t, b = (uintptr_t)c->tok;

	FZ_CHECK(p >= b && p < b + sizeof(c->tok) && (p - b) % sizeof(struct tok) == 0,
		 "token %p was never posted", t);
	return t;
}

static void returned(struct ctx *c, void *t, uint32_t len, bool detach)
{
	struct tok *k = tok_of(c, t);

	FZ_CHECK(k->posted, "token %ld not posted", (long)(k - c->tok));
	FZ_CHECK(!k->done, "token %ld returned twice", (long)(k - c->tok));
	if (!detach)
		FZ_CHECK(len <= k->in_len, "len %u > %u writable bytes", len, k->in_len);
	k->done = true;
	c->outstanding--;
}

static void check_broken(struct ctx *c)
{
	void *t = NULL;
	uint32_t len = 0;

	FZ_CHECK(vq_drv_is_broken(c->d), "not broken");
	FZ_CHECK(vq_drv_violation(c->d) != VQ_OK, "no violation");
	FZ_CHECK(vq_drv_error(c->d)[0] != '\0', "no error message");
	FZ_CHECK(vq_drv_get(c->d, &t, &len) == -EIO, "get on a broken queue");
	FZ_CHECK(!vq_drv_kick_prepare(c->d), "kick_prepare on a broken queue");
}

static void op_get(struct ctx *c)
{
	void *t = NULL;
	uint32_t len = 0;
	int rc = vq_drv_get(c->d, &t, &len);

	if (c->broken) {
		FZ_CHECK(rc == -EIO, "get on a broken queue returned %d", rc);
		return;
	}
	if (rc == 1) {
		returned(c, t, len, false);
	} else if (rc < 0) {
		FZ_CHECK(rc == vq_violation_errno(vq_drv_violation(c->d)), "get returned %d", rc);
		c->broken = true;
		check_broken(c);
	} else {
		FZ_CHECK(rc == 0, "get returned %d", rc);
	}
}

/* Up to 32 at once: IN_ORDER runs and batches take the fast path. */
static void op_get_burst(struct ctx *c)
{
	void *t[32];
	uint32_t len[32];
	int rc = vq_drv_get_burst(c->d, t, len, 32);

	if (c->broken) {
		FZ_CHECK(rc == -EIO, "get_burst on a broken queue returned %d", rc);
		return;
	}
	FZ_CHECK(rc <= 32, "get_burst returned %d", rc);
	for (int i = 0; i < rc; i++)
		returned(c, t[i], len[i], false);
	if (rc < 0)
		FZ_CHECK(rc == vq_violation_errno(vq_drv_violation(c->d)), "get_burst returned %d",
			 rc);
	/* A burst may take some buffers and then meet a violation. */
	if (vq_drv_is_broken(c->d)) {
		c->broken = true;
		check_broken(c);
	}
}

static void op_add(struct ctx *c, struct fz *f)
{
	struct vq_seg sg[MAX_SEGS];
	unsigned n = 1 + fz_u8(f) % MAX_SEGS, out = fz_u8(f) % (n + 1);
	uint64_t in_len = 0;
	struct tok *k;
	int rc;

	if (c->ntok >= MAX_OPS)
		return;
	for (unsigned i = 0; i < n; i++) {
		unsigned off = fz_u16(f) % GBUF, len = fz_u16(f);

		if ((len & 0x8000) && i > 0) /* adjacent to the previous one */
			off = (unsigned)(sg[i - 1].addr + sg[i - 1].len - GPA_BASE) % GBUF;
		sg[i].addr = GPA_BASE + off;
		sg[i].len = 1 + len % (GBUF - off);
		if (i >= out)
			in_len += sg[i].len;
	}
	k = &c->tok[c->ntok];
	rc = vq_drv_add(c->d, sg, out, n - out, k);
	if (c->broken) {
		FZ_CHECK(rc == -EIO, "add on a broken queue returned %d", rc);
		return;
	}
	FZ_CHECK(rc == 0 || rc == -ENOSPC || rc == -E2BIG, "add returned %d", rc);
	if (rc == 0) {
		*k = (struct tok){ true, false, (uint32_t)in_len };
		c->ntok++;
		c->outstanding++;
	}
}

/* The well-behaved device: pop one chain, or push one back. */
static void op_dev(struct ctx *c, struct fz *f, bool pop)
{
	struct iovec iov[64];
	struct vq_elem e = { .iov = iov, .iov_cap = 64 };
	unsigned i;

	if (pop) {
		if (c->npop < c->size && vq_dev_pop(c->dev, &e) == 1)
			c->pop[c->npop++] = (struct popped){ e.id, e.ndesc, e.in_len };
		return;
	}
	if (!c->npop)
		return;
	i = fz_u8(f) % c->npop;
	(void)vq_dev_push_id(c->dev, c->pop[i].id, c->pop[i].ndesc,
			     (uint32_t)(fz_u32(f) % (c->pop[i].in_len + 1)));
	c->pop[i] = c->pop[--c->npop];
	if (fz_u8(f) & 1) {
		vq_dev_flush(c->dev);
		(void)vq_dev_need_notify(c->dev);
	}
}

static void op_write(uint8_t *base, size_t total, struct fz *f)
{
	size_t off = fz_u16(f) % total;

	fz_scribble(f, base, total, off, fz_u8(f) % 32);
}

static void run_op(struct ctx *c, struct fz *f)
{
	switch (fz_u8(f) % 12) {
	case 0: case 1:
		op_add(c, f);
		break;
	case 2:
		(void)vq_drv_kick_prepare(c->d);
		break;
	case 3: case 4:
		op_dev(c, f, true);
		break;
	case 5:
		op_dev(c, f, false);
		break;
	case 6:
		op_write(ringmem, c->lay.total, f);
		break;
	case 7: case 8:
		op_get(c);
		break;
	case 9:
		op_get_burst(c);
		break;
	case 10:
		op_write(pool, sizeof(pool), f);
		break;
	default:
		if (fz_u8(f) & 1)
			vq_drv_disable_notify(c->d);
		else
			(void)vq_drv_enable_notify(c->d);
		break;
	}
	FZ_CHECK(vq_drv_nfree(c->d) <= c->size, "nfree %u > size %u", vq_drv_nfree(c->d),
		 c->size);
	if (c->broken)
		check_broken(c);
}

static int setup(struct ctx *c, struct fz *f)
{
	uint8_t cf = fz_u8(f), sz = fz_u8(f);
	struct vq_drv_params dc = {
		.ring = {
			.layout = (cf & 1) ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT,
			.features = VQ_F_VERSION_1 | ((cf & 2) ? VQ_F_INDIRECT : 0) |
				    ((cf & 4) ? VQ_F_EVENT_IDX : 0) | ((cf & 8) ? VQ_F_IN_ORDER : 0) |
				    ((cf & 16) ? VQ_F_LARGE_CHAIN : 0),
			.max_chain = fz_u16(f),
		},
		.indirect = pool, .indirect_gpa = IND_GPA,
	};
	struct vq_mem_region g = { .gpa = GPA_BASE, .size = GBUF, .hva = guest, .prot = VQ_MEM_RW };
	struct vq_mem_region p = { .gpa = IND_GPA, .size = sizeof(pool), .hva = pool,
				   .prot = VQ_MEM_READ };

	dc.indirect_tables = fz_u8(f) % 9;
	dc.indirect_len = 1 + fz_u8(f) % 16;
	dc.ring.size = (cf & 1) ? 1u + sz % 32u : 1u << (sz % 6u);
	c->size = dc.ring.size;
	if (vq_ring_layout(dc.ring.layout, dc.ring.size, &c->lay) || c->lay.total > RBUF)
		return -1;
	memset(ringmem, 0, c->lay.total);
	memset(pool, 0, sizeof(pool));
	dc.ring.desc = ringmem + c->lay.desc_off;
	dc.ring.avail = ringmem + c->lay.avail_off;
	dc.ring.used = ringmem + c->lay.used_off;
	if (vq_mem_add(c->mem, &g) || vq_mem_add(c->mem, &p))
		return -1;
	if (vq_drv_new(&dc, &c->d))
		return -1;
	return vq_dev_new(&dc.ring, c->mem, &c->dev) ? -1 : 0;
}

static void teardown(struct ctx *c)
{
	void *t;

	for (unsigned n = 0; n < c->size + 1u; n++)
		op_get(c);
	while ((t = vq_drv_detach(c->d)) != NULL)
		returned(c, t, 0, true);
	FZ_CHECK(c->outstanding == 0, "%u buffers never returned nor detached", c->outstanding);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctx c;
	struct fz f = { data, size };

	c.d = NULL;
	c.dev = NULL;
	c.broken = false;
	c.ntok = c.outstanding = c.npop = 0;
	memset(c.tok, 0, sizeof(c.tok));
	if (vq_mem_new(&c.mem))
		return 0;
	if (setup(&c, &f) == 0) {
		for (unsigned n = 0; n < MAX_OPS && fz_left(&f); n++)
			run_op(&c, &f);
		teardown(&c);
	}
	vq_dev_free(c.dev);
	vq_drv_free(c.d);
	vq_mem_free(c.mem);
	return 0;
}
