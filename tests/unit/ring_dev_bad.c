/* SPDX-License-Identifier: MIT */
/*
 * Device side of the ring against hand-built rings.
 *
 * First a table of malformed inputs, each run on the split and/or packed
 * layout: the pop must return the exact errno and enum vq_violation, leave
 * the queue sticky-broken, and touch nothing (guest memory is snapshotted
 * around the pop, sits between canary pages, and is fenced by PROT_NONE
 * guard pages; the read-only region is mapped read-only on the host too).
 * Then positive tests: chains, indirect tables, regions, notifications,
 * kick suppression, state save/restore.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <virtq/mem.h>
#include <virtq/ring.h>

#include "../harness/test.h"

#define PG 4096u
#define GA 0x100000ull            /* region A: 16 pages RW; the ring at its start */
#define GB (GA + 16 * PG)         /* region B: 4 pages RW, adjacent to A in gpa only */
#define GR 0x200000ull            /* region R: 1 page, read-only */
#define GHOLE 0x300000ull         /* nothing mapped */
#define GBIG (1ull << 40)         /* region BIG: 5 GiB of PROT_NONE host memory */
#define BIG_SIZE (5ull << 30)
#define T1 (GA + 0x800)           /* indirect tables */
#define T2 (GA + 0xc00)
#define BUF (GA + 0x1000)         /* data buffers */

/* Host pages: guard, canary, A x16, canary, B x4, canary, R, canary, guard. */
enum { P_A = 2, P_B = 19, P_R = 24, NPAGES = 27 };
static const unsigned canary_pages[] = { 1, 18, 23, 25 };

#define F_NEXT 1u
#define F_WRITE 2u
#define F_INDIRECT 4u
#define F_AVAIL (1u << 7)
#define F_USED (1u << 15)

#define BASE_FEATURES (VQ_F_VERSION_1 | VQ_F_INDIRECT)

struct td {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
};

struct fx {
	uint8_t *host;
	void *big;
	struct vq_mem *mem;
	struct vq_ring_params cfg;
	struct vq_dev *q;
	uint16_t size;
	uint16_t snext; /* split: next descriptor index the driver fills */
	uint16_t aidx;  /* split: driver's avail idx; packed: driver's next slot */
	bool awrap;     /* packed: driver wrap counter */
	struct iovec iov[64];
	struct vq_elem e;
};

static uint8_t *hp(struct fx *f, uint64_t gpa)
{
	if (gpa >= GA && gpa < GA + 16 * PG)
		return f->host + P_A * PG + (gpa - GA);
	if (gpa >= GB && gpa < GB + 4 * PG)
		return f->host + P_B * PG + (gpa - GB);
	if (gpa >= GR && gpa < GR + PG)
		return f->host + P_R * PG + (gpa - GR);
	FAIL("test bug: gpa 0x%llx not in a test region", (unsigned long long)gpa);
}

/* Byte-wise write into guest memory (may cross from A into B). */
static void gwrite(struct fx *f, uint64_t gpa, const void *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		*hp(f, gpa + i) = ((const uint8_t *)src)[i];
}

static bool is_packed(const struct fx *f)
{
	return f->cfg.layout == VQ_LAYOUT_PACKED;
}

/* One 16-byte descriptor in either layout's format. */
static void enc_desc(const struct fx *f, uint8_t out[16], uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next_or_id)
{
	memcpy(out, &addr, 8);
	memcpy(out + 8, &len, 4);
	if (is_packed(f)) {
		memcpy(out + 12, &next_or_id, 2);
		memcpy(out + 14, &flags, 2);
	} else {
		memcpy(out + 12, &flags, 2);
		memcpy(out + 14, &next_or_id, 2);
	}
}

/* An indirect table at gpa; split entries chain i -> i+1 when chain. */
static void put_table(struct fx *f, uint64_t gpa, const struct td *d, unsigned n, bool chain)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t b[16];
		uint16_t flags = d[i].flags;

		if (!is_packed(f) && chain && i + 1 < n)
			flags |= F_NEXT;
		enc_desc(f, b, d[i].addr, d[i].len, flags, is_packed(f) ? 0 : (uint16_t)(i + 1));
		gwrite(f, gpa + 16ull * i, b, 16);
	}
}

static void fx_init(struct fx *f, enum vq_layout layout, uint16_t size)
{
	struct vq_ring_layout lay;
	const struct td ro_table[2] = { { BUF + 0x100, 16, 0 }, { BUF + 0x200, 32, F_WRITE } };

	memset(f, 0, sizeof(*f));
	f->host = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(f->host != MAP_FAILED);
	f->big = mmap(NULL, BIG_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_TRUE(f->big != MAP_FAILED);
	for (unsigned i = 0; i < sizeof(canary_pages) / sizeof(canary_pages[0]); i++)
		memset(f->host + canary_pages[i] * PG, 0xa5, PG);
	ASSERT_EQ(mprotect(f->host, PG, PROT_NONE), 0);
	ASSERT_EQ(mprotect(f->host + (NPAGES - 1) * PG, PG, PROT_NONE), 0);
	ASSERT_EQ(vq_mem_new(&f->mem), 0);
	struct vq_mem_region regs[4] = {
		{ GA, 16 * PG, f->host + P_A * PG, 0, VQ_MEM_RW },
		{ GB, 4 * PG, f->host + P_B * PG, 0, VQ_MEM_RW },
		{ GR, PG, f->host + P_R * PG, 0, VQ_MEM_READ },
		{ GBIG, BIG_SIZE, f->big, 0, VQ_MEM_RW },
	};
	for (unsigned i = 0; i < 4; i++)
		ASSERT_EQ(vq_mem_add(f->mem, &regs[i]), 0);
	ASSERT_EQ(vq_ring_layout(layout, size, &lay), 0);
	ASSERT_LE(lay.total, 0x800);
	f->size = size;
	f->awrap = true;
	f->cfg = (struct vq_ring_params){
		.layout = layout, .size = size,
		.features = BASE_FEATURES | (layout == VQ_LAYOUT_PACKED ? VQ_F_PACKED : 0),
		.desc = hp(f, GA + lay.desc_off), .avail = hp(f, GA + lay.avail_off),
		.used = hp(f, GA + lay.used_off),
	};
	/* A fixed 2-entry table in the read-only region, then seal it. */
	put_table(f, GR, ro_table, 2, true);
	ASSERT_EQ(mprotect(f->host + P_R * PG, PG, PROT_READ), 0);
}

static void fx_dev(struct fx *f)
{
	ASSERT_EQ(vq_dev_new(&f->cfg, f->mem, &f->q), 0);
}

static void fx_fini(struct fx *f)
{
	for (unsigned i = 0; i < sizeof(canary_pages) / sizeof(canary_pages[0]); i++)
		for (unsigned k = 0; k < PG; k++)
			if (f->host[canary_pages[i] * PG + k] != 0xa5)
				FAIL("canary page %u byte %u changed", canary_pages[i], k);
	vq_dev_free(f->q);
	vq_mem_free(f->mem);
	munmap(f->host, NPAGES * PG);
	munmap(f->big, BIG_SIZE);
}

/* ---- split ring access (the driver's view) */

static uint16_t *s_avail(struct fx *f) { return f->cfg.avail; }   /* flags, idx, ring[], used_event */
static uint8_t *s_used(struct fx *f) { return f->cfg.used; }

static void s_desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		   uint16_t next)
{
	enc_desc(f, (uint8_t *)f->cfg.desc + 16u * i, addr, len, flags, next);
}

static void s_publish(struct fx *f, uint16_t head)
{
	s_avail(f)[2 + (f->aidx & (f->size - 1))] = head;
	f->aidx++;
	__atomic_store_n(&s_avail(f)[1], f->aidx, __ATOMIC_RELEASE);
}

static uint16_t s_used_idx(struct fx *f)
{
	uint16_t v;

	memcpy(&v, s_used(f) + 2, 2);
	return v;
}

static void s_used_elem(struct fx *f, uint16_t i, uint32_t *id, uint32_t *len)
{
	uint8_t *p = s_used(f) + 4 + 8u * (i & (f->size - 1));

	memcpy(id, p, 4);
	memcpy(len, p + 4, 4);
}

static uint16_t s_avail_event(struct fx *f)
{
	uint16_t v;

	memcpy(&v, s_used(f) + 4 + 8u * f->size, 2);
	return v;
}

/* ---- packed ring access */

static uint8_t *p_slot(struct fx *f, uint16_t slot)
{
	return (uint8_t *)f->cfg.desc + 16u * slot;
}

static uint16_t p_avail_bits(bool wrap)
{
	return wrap ? F_AVAIL : F_USED;
}

static void p_desc(struct fx *f, uint16_t slot, uint64_t addr, uint32_t len, uint16_t id,
		   uint16_t flags)
{
	enc_desc(f, p_slot(f, slot), addr, len, flags, id);
}

static uint16_t p_get16(struct fx *f, uint16_t slot, unsigned off)
{
	uint16_t v;

	memcpy(&v, p_slot(f, slot) + off, 2);
	return v;
}

static uint16_t *p_drv_event(struct fx *f) { return f->cfg.avail; } /* off_wrap, flags */
static uint16_t *p_dev_event(struct fx *f) { return f->cfg.used; }

/*
 * Make a chain available.  Split: descriptors at consecutive indexes from
 * snext, NEXT-linked.  Packed: consecutive slots, the buffer id only in the
 * last descriptor (0xeeee in the others), the head's flags stored last.
 */
static void put_chain(struct fx *f, const struct td *d, unsigned n, uint16_t id)
{
	if (!is_packed(f)) {
		uint16_t mask = f->size - 1, head = f->snext & mask;

		for (unsigned k = 0; k < n; k++) {
			uint16_t i = (f->snext + k) & mask, nx = (f->snext + k + 1) & mask;

			s_desc(f, i, d[k].addr, d[k].len,
			       d[k].flags | (k + 1 < n ? F_NEXT : 0), nx);
		}
		f->snext += n;
		s_publish(f, head);
		return;
	}
	uint16_t head = f->aidx, head_flags = 0;

	for (unsigned k = 0; k < n; k++) {
		uint16_t flags = d[k].flags | (k + 1 < n ? F_NEXT : 0) | p_avail_bits(f->awrap);

		if (k == 0) {
			head_flags = flags;
			flags = p_avail_bits(!f->awrap); /* not yet */
		}
		p_desc(f, f->aidx, d[k].addr, d[k].len, k + 1 == n ? id : 0xeeee, flags);
		if (++f->aidx == f->size) {
			f->aidx = 0;
			f->awrap = !f->awrap;
		}
	}
	__atomic_store_n((uint16_t *)(p_slot(f, head) + 14), head_flags, __ATOMIC_RELEASE);
}

static void put1(struct fx *f, uint64_t addr, uint32_t len, uint16_t flags, uint16_t id)
{
	struct td d = { addr, len, flags };

	put_chain(f, &d, 1, id);
}

static int pop_cap(struct fx *f, uint32_t cap)
{
	memset(&f->e, 0, sizeof(f->e));
	f->e.iov = cap ? f->iov : NULL;
	f->e.iov_cap = cap;
	return vq_dev_pop(f->q, &f->e);
}

static int pop(struct fx *f)
{
	return pop_cap(f, 64);
}

/* ======================================================================
 * Malformed input table
 * ====================================================================== */

enum { L_SPLIT = 1, L_PACKED = 2, L_BOTH = 3 };

struct bad_case {
	const char *name;
	unsigned layouts;
	void (*setup)(struct fx *f);
	int err;
	enum vq_violation v;
	const char *msg;      /* expected substring of vq_dev_error (split), or NULL */
	unsigned good_pops;   /* pops that succeed before the bad one */
	uint32_t max_chain;
	bool no_indirect;
};

static void c_addr_overflow(struct fx *f) { put1(f, UINT64_MAX - 0xfff, 0x2000, 0, 1); }
static void c_addr_overflow_end(struct fx *f) { put1(f, UINT64_MAX, 1, F_WRITE, 1); }
static void c_unmapped(struct fx *f) { put1(f, GHOLE, 16, 0, 1); }
static void c_unmapped_zero(struct fx *f) { put1(f, 0, 8, F_WRITE, 1); }
static void c_unmapped_tail(struct fx *f) { put1(f, GB + 4 * PG - 8, 16, 0, 1); }
static void c_unmapped_second(struct fx *f)
{
	const struct td d[2] = { { BUF, 16, 0 }, { GHOLE + 0x1000, 64, F_WRITE } };

	put_chain(f, d, 2, 1);
}
static void c_write_ro(struct fx *f) { put1(f, GR + 0x40, 16, F_WRITE, 1); }
static void c_read_after_write(struct fx *f)
{
	const struct td d[3] = { { BUF, 16, 0 }, { BUF + 0x100, 16, F_WRITE }, { BUF + 0x200, 16, 0 } };

	put_chain(f, d, 3, 1);
}
static void c_chain_len(struct fx *f)
{
	const struct td d[5] = { { BUF, 1, 0 }, { BUF, 1, 0 }, { BUF, 1, 0 }, { BUF, 1, 0 },
				 { BUF, 1, 0 } };

	put_chain(f, d, 5, 1);
}
static void c_chain_bytes(struct fx *f)
{
	const struct td d[3] = { { GBIG, 0x80000000u, 0 }, { GBIG + 0x80000000u, 0x80000000u, 0 },
				 { GBIG, 1, F_WRITE } };

	put_chain(f, d, 3, 1);
}
static void c_ind_nested(struct fx *f)
{
	const struct td t[2] = { { BUF, 16, 0 }, { T2, 32, F_INDIRECT } };

	put_table(f, T1, t, 2, true);
	put1(f, T1, 32, F_INDIRECT, 1);
}
static void c_ind_with_next(struct fx *f)
{
	const struct td t[1] = { { BUF, 16, 0 } };
	const struct td d[2] = { { T1, 16, F_INDIRECT }, { BUF, 16, F_WRITE } };

	put_table(f, T1, t, 1, true);
	put_chain(f, d, 2, 1);
}
static void c_ind_not_head(struct fx *f)
{
	const struct td t[1] = { { BUF, 16, F_WRITE } };
	const struct td d[2] = { { BUF, 16, 0 }, { T1, 16, F_INDIRECT } };

	put_table(f, T1, t, 1, true);
	put_chain(f, d, 2, 1);
}
static void c_ind_len0(struct fx *f) { put1(f, T1, 0, F_INDIRECT, 1); }
static void c_ind_len17(struct fx *f) { put1(f, T1, 17, F_INDIRECT, 1); }
static void c_ind_feature(struct fx *f)
{
	const struct td t[1] = { { BUF, 16, 0 } };

	put_table(f, T1, t, 1, true);
	put1(f, T1, 16, F_INDIRECT, 1);
}
static void c_ind_unmapped(struct fx *f) { put1(f, GHOLE, 32, F_INDIRECT, 1); }
static void c_ind_tail_unmapped(struct fx *f) { put1(f, GB + 4 * PG - 16, 32, F_INDIRECT, 1); }
static void c_ind_overflow(struct fx *f) { put1(f, UINT64_MAX - 15, 32, F_INDIRECT, 1); }
static void c_ind_too_long(struct fx *f)
{
	struct td t[9];

	for (unsigned i = 0; i < 9; i++)
		t[i] = (struct td){ BUF, 4, 0 };
	put_table(f, T1, t, 9, true);
	put1(f, T1, 9 * 16, F_INDIRECT, 1);
}
static void c_ind_bad_buffer(struct fx *f)
{
	const struct td t[2] = { { BUF, 16, 0 }, { GHOLE, 16, F_WRITE } };

	put_table(f, T1, t, 2, true);
	put1(f, T1, 32, F_INDIRECT, 1);
}
static void c_ind_write_ro(struct fx *f)
{
	const struct td t[2] = { { BUF, 16, 0 }, { GR, 16, F_WRITE } };

	put_table(f, T1, t, 2, true);
	put1(f, T1, 32, F_INDIRECT, 1);
}
static void c_ind_raw(struct fx *f)
{
	const struct td t[2] = { { BUF, 16, F_WRITE }, { BUF + 0x40, 16, 0 } };

	put_table(f, T1, t, 2, true);
	put1(f, T1, 32, F_INDIRECT, 1);
}

/* split only */
static void s_head_range(struct fx *f) { s_desc(f, 0, BUF, 16, 0, 0); s_publish(f, 8); }
static void s_head_range_max(struct fx *f) { s_publish(f, 0xffff); }
static void s_next_range(struct fx *f) { s_desc(f, 0, BUF, 16, F_NEXT, 8); s_publish(f, 0); }
static void s_loop_self(struct fx *f) { s_desc(f, 3, BUF, 16, F_NEXT, 3); s_publish(f, 3); }
static void s_loop2(struct fx *f)
{
	s_desc(f, 0, BUF, 16, F_NEXT, 1);
	s_desc(f, 1, BUF, 16, F_NEXT, 0);
	s_publish(f, 0);
}
static void s_loop_tail(struct fx *f)
{
	s_desc(f, 0, BUF, 16, F_NEXT, 1);
	s_desc(f, 1, BUF, 16, F_NEXT, 2);
	s_desc(f, 2, BUF, 16, F_NEXT, 1);
	s_publish(f, 0);
}
static void s_ind_loop(struct fx *f)
{
	uint8_t b[16];

	enc_desc(f, b, BUF, 16, F_NEXT, 1);
	gwrite(f, T1, b, 16);
	enc_desc(f, b, BUF, 16, F_NEXT, 0);
	gwrite(f, T1 + 16, b, 16);
	put1(f, T1, 32, F_INDIRECT, 1);
}
static void s_ind_next_range(struct fx *f)
{
	uint8_t b[16];

	enc_desc(f, b, BUF, 16, F_NEXT, 2);
	gwrite(f, T1, b, 16);
	enc_desc(f, b, BUF, 16, 0, 0);
	gwrite(f, T1 + 16, b, 16);
	put1(f, T1, 32, F_INDIRECT, 1);
}
static void s_avail_idx(struct fx *f) { __atomic_store_n(&s_avail(f)[1], 9, __ATOMIC_RELEASE); }
static void s_avail_back(struct fx *f) { __atomic_store_n(&s_avail(f)[1], 0xffff, __ATOMIC_RELEASE); }
static void s_id_in_use(struct fx *f)
{
	s_desc(f, 2, BUF, 16, 0, 0);
	s_publish(f, 2);
	s_publish(f, 2);
}

/* packed only */
static void p_wrap_head(struct fx *f) { p_desc(f, 0, BUF, 16, 1, F_AVAIL | F_USED); }
static void p_wrap_chain(struct fx *f)
{
	p_desc(f, 1, BUF, 16, 1, F_WRITE | F_USED); /* AVAIL/USED as for the other lap */
	p_desc(f, 0, BUF, 16, 0xeeee, F_NEXT | F_AVAIL);
}
static void p_wrap_chain_zero(struct fx *f)
{
	p_desc(f, 0, BUF, 16, 0xeeee, F_NEXT | F_AVAIL); /* slot 1 never written */
}
static void p_wrap_chain_used(struct fx *f)
{
	p_desc(f, 1, BUF, 16, 1, F_AVAIL | F_USED);
	p_desc(f, 0, BUF, 16, 0xeeee, F_NEXT | F_AVAIL);
}
static void p_id_range(struct fx *f) { put1(f, BUF, 16, 0, 8); }
static void p_id_range_max(struct fx *f)
{
	const struct td d[2] = { { BUF, 16, 0 }, { BUF, 16, F_WRITE } };

	put_chain(f, d, 2, 0xffff);
}
static void p_id_in_use(struct fx *f)
{
	put1(f, BUF, 16, 0, 3);
	put1(f, BUF, 16, 0, 3);
}
static void p_chain_ring(struct fx *f)
{
	for (uint16_t s = 1; s < 8; s++)
		p_desc(f, s, BUF, 16, 0xeeee, F_NEXT | F_AVAIL);
	p_desc(f, 0, BUF, 16, 0xeeee, F_NEXT | F_AVAIL);
}
static void p_ind_nested_direct_table(struct fx *f)
{
	const struct td t[1] = { { T2, 16, F_INDIRECT } };

	put_table(f, T1, t, 1, false);
	put1(f, T1, 16, F_INDIRECT, 1);
}

#define BAD(n, l, fn, e, viol, m, ...) \
	{ .name = n, .layouts = l, .setup = fn, .err = e, .v = viol, .msg = m, __VA_ARGS__ }
static const struct bad_case cases[] = {
	BAD("addr_overflow", L_BOTH, c_addr_overflow, -EOVERFLOW, VQ_ERR_ADDR_OVERFLOW, "wraps"),
	BAD("addr_overflow_end", L_BOTH, c_addr_overflow_end, -EOVERFLOW, VQ_ERR_ADDR_OVERFLOW, NULL),
	BAD("unmapped", L_BOTH, c_unmapped, -EFAULT, VQ_ERR_ADDR_UNMAPPED, "0x300000 len 16"),
	BAD("unmapped_zero_page", L_BOTH, c_unmapped_zero, -EFAULT, VQ_ERR_ADDR_UNMAPPED, NULL),
	BAD("unmapped_tail", L_BOTH, c_unmapped_tail, -EFAULT, VQ_ERR_ADDR_UNMAPPED, NULL),
	BAD("unmapped_second", L_BOTH, c_unmapped_second, -EFAULT, VQ_ERR_ADDR_UNMAPPED, NULL),
	BAD("write_ro", L_BOTH, c_write_ro, -EACCES, VQ_ERR_WRITE_RO, "read-only"),
	BAD("read_after_write", L_BOTH, c_read_after_write, -EBADMSG, VQ_ERR_READ_AFTER_WRITE, NULL),
	BAD("chain_len", L_BOTH, c_chain_len, -E2BIG, VQ_ERR_CHAIN_LEN, "max chain 4", .max_chain = 4),
	BAD("chain_bytes", L_BOTH, c_chain_bytes, -EFBIG, VQ_ERR_CHAIN_BYTES, "4294967297"),
	BAD("ind_nested", L_BOTH, c_ind_nested, -EMLINK, VQ_ERR_INDIRECT_NESTED, NULL),
	BAD("ind_nested_first", L_BOTH, p_ind_nested_direct_table, -EMLINK, VQ_ERR_INDIRECT_NESTED, NULL),
	BAD("ind_with_next", L_BOTH, c_ind_with_next, -ENOTUNIQ, VQ_ERR_INDIRECT_NEXT, NULL),
	BAD("ind_not_head", L_BOTH, c_ind_not_head, -ENOTUNIQ, VQ_ERR_INDIRECT_NEXT, NULL),
	BAD("ind_len0", L_BOTH, c_ind_len0, -EINVAL, VQ_ERR_INDIRECT_LEN, "length 0"),
	BAD("ind_len17", L_BOTH, c_ind_len17, -EINVAL, VQ_ERR_INDIRECT_LEN, "length 17"),
	BAD("ind_feature", L_BOTH, c_ind_feature, -EOPNOTSUPP, VQ_ERR_INDIRECT_FEATURE, NULL, .no_indirect = true),
	BAD("ind_unmapped", L_BOTH, c_ind_unmapped, -EFAULT, VQ_ERR_ADDR_UNMAPPED, NULL),
	BAD("ind_tail_unmapped", L_BOTH, c_ind_tail_unmapped, -EFAULT, VQ_ERR_ADDR_UNMAPPED, NULL),
	BAD("ind_overflow", L_BOTH, c_ind_overflow, -EOVERFLOW, VQ_ERR_ADDR_OVERFLOW, NULL),
	BAD("ind_too_long", L_BOTH, c_ind_too_long, -E2BIG, VQ_ERR_CHAIN_LEN, "9 descriptors > max chain 8"),
	BAD("ind_bad_buffer", L_BOTH, c_ind_bad_buffer, -EFAULT, VQ_ERR_ADDR_UNMAPPED, NULL),
	BAD("ind_write_ro", L_BOTH, c_ind_write_ro, -EACCES, VQ_ERR_WRITE_RO, NULL),
	BAD("ind_read_after_write", L_BOTH, c_ind_raw, -EBADMSG, VQ_ERR_READ_AFTER_WRITE, NULL),
	BAD("head_range", L_SPLIT, s_head_range, -ERANGE, VQ_ERR_HEAD_RANGE, "head 8 >= queue size 8"),
	BAD("head_range_max", L_SPLIT, s_head_range_max, -ERANGE, VQ_ERR_HEAD_RANGE, "head 65535 >= queue size 8"),
	BAD("next_range", L_SPLIT, s_next_range, -ERANGE, VQ_ERR_NEXT_RANGE, "next 8 >= queue size 8"),
	BAD("loop_self", L_SPLIT, s_loop_self, -ELOOP, VQ_ERR_LOOP, "head 3"),
	BAD("loop2", L_SPLIT, s_loop2, -ELOOP, VQ_ERR_LOOP, NULL),
	BAD("loop_tail", L_SPLIT, s_loop_tail, -ELOOP, VQ_ERR_LOOP, NULL),
	BAD("loop_short_max_chain", L_SPLIT, s_loop2, -E2BIG, VQ_ERR_CHAIN_LEN, NULL, .max_chain = 4),
	BAD("ind_loop", L_SPLIT, s_ind_loop, -ELOOP, VQ_ERR_LOOP, "indirect"),
	BAD("ind_next_range", L_SPLIT, s_ind_next_range, -ERANGE, VQ_ERR_NEXT_RANGE, "next 2 >= indirect table size 2"),
	BAD("avail_idx", L_SPLIT, s_avail_idx, -ENOSPC, VQ_ERR_AVAIL_IDX, "avail idx 9"),
	BAD("avail_idx_back", L_SPLIT, s_avail_back, -ENOSPC, VQ_ERR_AVAIL_IDX, NULL),
	BAD("id_in_use", L_SPLIT, s_id_in_use, -EBUSY, VQ_ERR_ID_IN_USE, "head 2", .good_pops = 1),
	BAD("wrap_head", L_PACKED, p_wrap_head, -EILSEQ, VQ_ERR_PACKED_WRAP, NULL),
	BAD("wrap_chain", L_PACKED, p_wrap_chain, -EILSEQ, VQ_ERR_PACKED_WRAP, NULL),
	BAD("wrap_chain_zero", L_PACKED, p_wrap_chain_zero, -EILSEQ, VQ_ERR_PACKED_WRAP, NULL),
	BAD("wrap_chain_used", L_PACKED, p_wrap_chain_used, -EILSEQ, VQ_ERR_PACKED_WRAP, NULL),
	BAD("packed_id", L_PACKED, p_id_range, -EBADSLT, VQ_ERR_PACKED_ID, "buffer id 8 >= queue size 8"),
	BAD("packed_id_max", L_PACKED, p_id_range_max, -EBADSLT, VQ_ERR_PACKED_ID, NULL),
	BAD("packed_id_in_use", L_PACKED, p_id_in_use, -EBUSY, VQ_ERR_ID_IN_USE, "buffer id 3", .good_pops = 1),
	BAD("packed_chain_ring", L_PACKED, p_chain_ring, -E2BIG, VQ_ERR_CHAIN_LEN, NULL),
};

/* Everything the test can see of the host mapping, guards excluded. */
static uint8_t *snapshot(struct fx *f)
{
	uint8_t *s = malloc((NPAGES - 2) * PG);

	ASSERT_TRUE(s != NULL);
	memcpy(s, f->host + PG, (NPAGES - 2) * PG);
	return s;
}

static void run_case(const struct bad_case *c, enum vq_layout layout, uint32_t cap)
{
	struct fx f;
	uint8_t *before;
	int rc;

	fx_init(&f, layout, 8);
	if (c->no_indirect)
		f.cfg.features &= ~VQ_F_INDIRECT;
	f.cfg.max_chain = c->max_chain;
	c->setup(&f);
	fx_dev(&f);
	for (unsigned i = 0; i < c->good_pops; i++)
		if ((rc = pop(&f)) != 1)
			FAIL("%s/%s: good pop %u returned %d (%s)", c->name,
			     layout ? "packed" : "split", i, rc, vq_dev_error(f.q));
	before = snapshot(&f);
	rc = pop_cap(&f, cap);
	if (rc != c->err || rc != vq_violation_errno(c->v) ||
	    vq_dev_violation(f.q) != c->v || !vq_dev_is_broken(f.q))
		FAIL("%s/%s cap %u: rc %d violation %s (%s), want %d %s", c->name,
		     layout ? "packed" : "split", cap, rc, vq_violation_str(vq_dev_violation(f.q)),
		     vq_dev_error(f.q), c->err, vq_violation_str(c->v));
	if (!vq_dev_error(f.q)[0] || (c->msg && !strstr(vq_dev_error(f.q), c->msg)))
		FAIL("%s: message \"%s\" lacks \"%s\"", c->name, vq_dev_error(f.q), c->msg);
	ASSERT_MEM_EQ(f.host + PG, before, (NPAGES - 2) * PG);
	free(before);
	/* Sticky: every later call fails or does nothing. */
	ASSERT_EQ(pop(&f), -EIO);
	ASSERT_EQ(vq_dev_push_id(f.q, 0, 1, 0), -EIO);
	ASSERT_TRUE(vq_dev_enable_notify(f.q)); /* look again, pop says -EIO */
	ASSERT_FALSE(vq_dev_has_avail(f.q));
	ASSERT_FALSE(vq_dev_need_notify(f.q));
	ASSERT_EQ(vq_dev_violation(f.q), c->v);
	fx_fini(&f);
}

static void run_table(enum vq_layout layout)
{
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!(cases[i].layouts & (layout == VQ_LAYOUT_PACKED ? L_PACKED : L_SPLIT)))
			continue;
		run_case(&cases[i], layout, 64);
		/* With no room for segments the violation still wins over -ENOBUFS. */
		run_case(&cases[i], layout, 0);
		n++;
	}
	printf("  %u malformed-input cases\n", n);
}

TEST(split_malformed_table)
{
	run_table(VQ_LAYOUT_SPLIT);
}

TEST(packed_malformed_table)
{
	run_table(VQ_LAYOUT_PACKED);
}

TEST(violation_errno_map)
{
	ASSERT_EQ(vq_violation_errno(VQ_ERR_HEAD_RANGE), -ERANGE);
	ASSERT_EQ(vq_violation_errno(VQ_ERR_ID_IN_USE), -EBUSY);
	ASSERT_EQ(vq_violation_errno(VQ_ERR_PACKED_ID), -EBADSLT);
}

/* ======================================================================
 * Hand-built rings that are correct
 * ====================================================================== */

static void expect_iov(struct fx *f, unsigned k, uint64_t gpa, size_t len)
{
	if (f->iov[k].iov_base != hp(f, gpa) || f->iov[k].iov_len != len)
		FAIL("iov[%u] = %p/%zu, want gpa 0x%llx (%p)/%zu", k, f->iov[k].iov_base,
		     f->iov[k].iov_len, (unsigned long long)gpa, (void *)hp(f, gpa), len);
}

/* Driver adds a one-descriptor chain; device pops, pushes len, flushes. */
static uint16_t cycle(struct fx *f, uint16_t id, uint32_t len)
{
	put1(f, BUF, 64, F_WRITE, id);
	ASSERT_EQ(pop(f), 1);
	ASSERT_EQ(vq_dev_push(f->q, &f->e, len), 0);
	vq_dev_flush(f->q);
	return f->e.id;
}

static void simple_chain(enum vq_layout layout)
{
	struct fx f;
	const struct td d[5] = {
		{ BUF, 100, 0 }, { GB - 0x10, 0x20, 0 }, /* spans A -> B */
		{ BUF + 0x400, 0, 0 },                   /* zero length: no segment */
		{ BUF + 0x800, 200, F_WRITE }, { BUF + 0x900, 0, F_WRITE },
	};
	struct vq_elem e;
	uint32_t id, len;

	fx_init(&f, layout, 8);
	fx_dev(&f);
	ASSERT_EQ(pop(&f), 0);
	ASSERT_FALSE(vq_dev_has_avail(f.q));
	put_chain(&f, d, 5, 5);
	ASSERT_TRUE(vq_dev_has_avail(f.q));
	ASSERT_EQ(pop(&f), 1);
	ASSERT_EQ(f.e.id, layout == VQ_LAYOUT_PACKED ? 5 : 0);
	ASSERT_EQ(f.e.ndesc, 5);
	ASSERT_EQ(f.e.out_num, 3);
	ASSERT_EQ(f.e.in_num, 1);
	ASSERT_EQ_U64(f.e.out_len, 132);
	ASSERT_EQ_U64(f.e.in_len, 200);
	expect_iov(&f, 0, BUF, 100);
	expect_iov(&f, 1, GB - 0x10, 0x10);
	expect_iov(&f, 2, GB, 0x10);
	expect_iov(&f, 3, BUF + 0x800, 200);
	e = f.e;
	ASSERT_EQ(pop(&f), 0);
	ASSERT_EQ(vq_dev_inflight(f.q), 1);
	ASSERT_EQ(vq_dev_push(f.q, &e, 150), 0);
	ASSERT_EQ(vq_dev_inflight(f.q), 0);
	if (layout == VQ_LAYOUT_SPLIT) {
		ASSERT_EQ(s_used_idx(&f), 0); /* staged until flush */
		vq_dev_flush(f.q);
		ASSERT_EQ(s_used_idx(&f), 1);
		s_used_elem(&f, 0, &id, &len);
		ASSERT_EQ(id, 0);
		ASSERT_EQ(len, 150);
		ASSERT_EQ(cycle(&f, 0, 0), 5);
		s_used_elem(&f, 1, &id, &len);
		ASSERT_EQ(id, 5);
		ASSERT_EQ(len, 0);
	} else {
		ASSERT_EQ(p_get16(&f, 0, 14), F_AVAIL | F_NEXT); /* staged until flush */
		vq_dev_flush(f.q);
		ASSERT_EQ(p_get16(&f, 0, 14), F_AVAIL | F_USED | F_WRITE);
		ASSERT_EQ(p_get16(&f, 0, 12), 5);
		memcpy(&len, p_slot(&f, 0) + 8, 4);
		ASSERT_EQ(len, 150);
		ASSERT_EQ(cycle(&f, 2, 0), 2); /* the next chain sits at slot 5 */
		ASSERT_EQ(p_get16(&f, 5, 14), F_AVAIL | F_USED);
		ASSERT_EQ(p_get16(&f, 5, 12), 2);
	}
	ASSERT_FALSE(vq_dev_is_broken(f.q));
	ASSERT_STR_EQ(vq_dev_error(f.q), "");
	fx_fini(&f);
}

TEST(split_simple_chain) { simple_chain(VQ_LAYOUT_SPLIT); }
TEST(packed_simple_chain) { simple_chain(VQ_LAYOUT_PACKED); }

/* Indirect tables: read-only region, spanning two regions, misaligned. */
static void indirect(enum vq_layout layout)
{
	struct fx f;
	const struct td t[2] = { { BUF + 0x100, 16, 0 }, { BUF + 0x200, 32, F_WRITE } };
	const uint64_t where[3] = { GR, GB - 16, T1 + 4 };

	fx_init(&f, layout, 8);
	fx_dev(&f);
	put_table(&f, GB - 16, t, 2, true);
	put_table(&f, T1 + 4, t, 2, true);
	for (unsigned i = 0; i < 3; i++) {
		put1(&f, where[i], 32, F_INDIRECT | (i == 2 ? F_WRITE : 0), 3);
		ASSERT_EQ(pop(&f), 1);
		ASSERT_EQ(f.e.ndesc, 1);
		ASSERT_EQ(f.e.out_num, 1);
		ASSERT_EQ(f.e.in_num, 1);
		expect_iov(&f, 0, BUF + 0x100, 16);
		expect_iov(&f, 1, BUF + 0x200, 32);
		ASSERT_EQ(vq_dev_push(f.q, &f.e, 32), 0);
		vq_dev_flush(f.q);
	}
	fx_fini(&f);
}

TEST(split_indirect) { indirect(VQ_LAYOUT_SPLIT); }
TEST(packed_indirect) { indirect(VQ_LAYOUT_PACKED); }

static void enobufs(enum vq_layout layout)
{
	struct fx f;
	const struct td d[2] = { { GB - 8, 16, 0 }, { BUF, 16, F_WRITE } };

	fx_init(&f, layout, 8);
	fx_dev(&f);
	put_chain(&f, d, 2, 1);
	ASSERT_EQ(pop_cap(&f, 2), -ENOBUFS);
	ASSERT_EQ(pop_cap(&f, 0), -ENOBUFS);
	ASSERT_FALSE(vq_dev_is_broken(f.q));
	ASSERT_EQ(vq_dev_inflight(f.q), 0);
	ASSERT_TRUE(vq_dev_has_avail(f.q));
	ASSERT_EQ(pop_cap(&f, 3), 1);
	ASSERT_EQ(f.e.out_num, 2);
	ASSERT_EQ(f.e.in_num, 1);
	fx_fini(&f);
}

TEST(split_enobufs) { enobufs(VQ_LAYOUT_SPLIT); }
TEST(packed_enobufs) { enobufs(VQ_LAYOUT_PACKED); }

static void chain_4gib(enum vq_layout layout)
{
	struct fx f;
	const struct td d[2] = { { GBIG, 0x80000000u, 0 }, { GBIG + 0x80000000u, 0x80000000u, F_WRITE } };

	fx_init(&f, layout, 8);
	fx_dev(&f);
	put_chain(&f, d, 2, 1);
	ASSERT_EQ(pop(&f), 1);
	ASSERT_EQ_U64(f.e.out_len + f.e.in_len, VQ_MAX_CHAIN_BYTES);
	fx_fini(&f);
}

TEST(split_chain_exactly_4gib) { chain_4gib(VQ_LAYOUT_SPLIT); }
TEST(packed_chain_exactly_4gib) { chain_4gib(VQ_LAYOUT_PACKED); }

TEST(split_event_idx_notify)
{
	struct fx f;
	uint16_t *used_event;

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	f.cfg.features |= VQ_F_EVENT_IDX;
	fx_dev(&f);
	used_event = &s_avail(&f)[2 + 8];
	ASSERT_FALSE(vq_dev_need_notify(f.q)); /* nothing published */
	*used_event = 0;
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q)); /* used 0 -> 1 passes 0 */
	ASSERT_FALSE(vq_dev_need_notify(f.q));
	*used_event = 5;
	cycle(&f, 0, 1);
	ASSERT_FALSE(vq_dev_need_notify(f.q)); /* 1 -> 2 */
	cycle(&f, 0, 1);
	cycle(&f, 0, 1);
	cycle(&f, 0, 1);
	ASSERT_FALSE(vq_dev_need_notify(f.q)); /* 2 -> 5 */
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));  /* 5 -> 6 passes 5 */
	*used_event = 6;
	s_avail(&f)[0] = 1; /* NO_INTERRUPT is ignored with EVENT_IDX */
	cycle(&f, 0, 1);
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));  /* 6 -> 8 in one batch */
	fx_fini(&f);
}

TEST(split_no_interrupt_flag)
{
	struct fx f;

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	fx_dev(&f);
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));
	s_avail(&f)[0] = 1; /* VRING_AVAIL_F_NO_INTERRUPT */
	cycle(&f, 0, 1);
	ASSERT_FALSE(vq_dev_need_notify(f.q));
	s_avail(&f)[0] = 0;
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));
	ASSERT_FALSE(vq_dev_need_notify(f.q));
	fx_fini(&f);
}

TEST(packed_event_suppression)
{
	struct fx f;
	uint16_t *ev;

	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	f.cfg.features |= VQ_F_EVENT_IDX;
	fx_dev(&f);
	ev = p_drv_event(&f);
	ev[1] = 0; /* ENABLE */
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));
	ev[1] = 1; /* DISABLE */
	cycle(&f, 0, 1);
	ASSERT_FALSE(vq_dev_need_notify(f.q));
	ev[1] = 2; /* DESC: slot 3, wrap 1 */
	ev[0] = 3 | 0x8000;
	cycle(&f, 0, 1);
	ASSERT_FALSE(vq_dev_need_notify(f.q)); /* used slot 2 -> 3 */
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));  /* 3 -> 4: slot 3 used */
	ev[0] = 2;                             /* slot 2 of the next lap */
	for (unsigned i = 0; i < 6; i++) {     /* 4 -> 8/0 -> 2 */
		cycle(&f, 0, 1);
		ASSERT_FALSE(vq_dev_need_notify(f.q));
	}
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));  /* slot 2, wrap 0 */
	fx_fini(&f);

	/* DESC without EVENT_IDX is not valid: notify as if enabled. */
	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	fx_dev(&f);
	p_drv_event(&f)[1] = 2;
	p_drv_event(&f)[0] = 7 | 0x8000;
	cycle(&f, 0, 1);
	ASSERT_TRUE(vq_dev_need_notify(f.q));
	fx_fini(&f);
}

TEST(split_kicks)
{
	struct fx f;

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	fx_dev(&f);
	vq_dev_disable_notify(f.q);
	ASSERT_EQ(*(uint16_t *)s_used(&f), 1); /* VRING_USED_F_NO_NOTIFY */
	ASSERT_FALSE(vq_dev_enable_notify(f.q));
	ASSERT_EQ(*(uint16_t *)s_used(&f), 0);
	vq_dev_disable_notify(f.q);
	put1(&f, BUF, 16, 0, 0); /* the driver races with re-enabling */
	ASSERT_TRUE(vq_dev_enable_notify(f.q));
	fx_fini(&f);

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	f.cfg.features |= VQ_F_EVENT_IDX;
	fx_dev(&f);
	ASSERT_FALSE(vq_dev_enable_notify(f.q));
	ASSERT_EQ(s_avail_event(&f), 0);
	put1(&f, BUF, 16, 0, 0);
	put1(&f, BUF, 16, 0, 0);
	ASSERT_EQ(pop(&f), 1);
	ASSERT_EQ(s_avail_event(&f), 1); /* follows pops while enabled */
	vq_dev_disable_notify(f.q);
	ASSERT_EQ(pop(&f), 1);
	ASSERT_EQ(s_avail_event(&f), 1); /* frozen while disabled */
	ASSERT_FALSE(vq_dev_enable_notify(f.q));
	ASSERT_EQ(s_avail_event(&f), 2);
	put1(&f, BUF, 16, 0, 0);
	ASSERT_TRUE(vq_dev_enable_notify(f.q));
	fx_fini(&f);
}

TEST(packed_kicks)
{
	struct fx f;

	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	fx_dev(&f);
	vq_dev_disable_notify(f.q);
	ASSERT_EQ(p_dev_event(&f)[1], 1);
	ASSERT_FALSE(vq_dev_enable_notify(f.q));
	ASSERT_EQ(p_dev_event(&f)[1], 0);
	vq_dev_disable_notify(f.q);
	put1(&f, BUF, 16, 0, 0);
	ASSERT_TRUE(vq_dev_enable_notify(f.q));
	fx_fini(&f);

	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	f.cfg.features |= VQ_F_EVENT_IDX;
	fx_dev(&f);
	ASSERT_FALSE(vq_dev_enable_notify(f.q));
	ASSERT_EQ(p_dev_event(&f)[1], 2);
	ASSERT_EQ(p_dev_event(&f)[0], 0x8000);
	const struct td d[3] = { { BUF, 1, 0 }, { BUF, 1, 0 }, { BUF, 1, 0 } };
	put_chain(&f, d, 3, 4);
	ASSERT_EQ(pop(&f), 1);
	ASSERT_EQ(p_dev_event(&f)[0], 0x8000 | 3);
	vq_dev_disable_notify(f.q);
	ASSERT_EQ(p_dev_event(&f)[1], 1);
	fx_fini(&f);
}

TEST(split_state_round_trip)
{
	struct fx f;
	struct vq_state s = { 65534, 65534, false, false }, g;
	struct vq_dev *q2;
	uint32_t id, len;

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	fx_dev(&f);
	ASSERT_EQ(vq_dev_set_state(f.q, &s), 0);
	vq_dev_get_state(f.q, &g);
	ASSERT_EQ(g.avail_idx, 65534);
	ASSERT_EQ(g.used_idx, 65534);
	f.aidx = 65534;
	for (unsigned i = 0; i < 3; i++)
		cycle(&f, 0, 10 + i); /* across the 16-bit wrap */
	ASSERT_EQ(s_used_idx(&f), 1);
	s_used_elem(&f, 65535, &id, &len);
	ASSERT_EQ(len, 11);
	s_used_elem(&f, 0, &id, &len);
	ASSERT_EQ(len, 12);
	vq_dev_get_state(f.q, &g);
	ASSERT_EQ(g.avail_idx, 1);
	ASSERT_EQ(g.used_idx, 1);
	/* A second queue object resumes where the first stopped. */
	ASSERT_EQ(vq_dev_new(&f.cfg, f.mem, &q2), 0);
	ASSERT_EQ(vq_dev_set_state(q2, &g), 0);
	vq_dev_free(f.q);
	f.q = q2;
	cycle(&f, 0, 13);
	ASSERT_EQ(s_used_idx(&f), 2);
	s_used_elem(&f, 1, &id, &len);
	ASSERT_EQ(len, 13);
	ASSERT_TRUE(vq_dev_need_notify(f.q)); /* position restored: notify */
	fx_fini(&f);
}

TEST(packed_state_round_trip_odd_size)
{
	struct fx f;
	struct vq_state g, bad;
	struct vq_dev *q2;
	uint16_t used = 0;
	bool wrap = true;
	const struct td d[2] = { { BUF, 16, 0 }, { BUF + 0x100, 16, F_WRITE } };

	fx_init(&f, VQ_LAYOUT_PACKED, 5);
	fx_dev(&f);
	for (unsigned i = 0; i < 10; i++) {
		if (i == 7) { /* stop and resume with a fresh queue object */
			vq_dev_get_state(f.q, &g);
			ASSERT_EQ(g.avail_idx, used);
			ASSERT_EQ(g.used_wrap, wrap);
			ASSERT_EQ(vq_dev_new(&f.cfg, f.mem, &q2), 0);
			bad = g;
			bad.avail_idx = 5;
			ASSERT_EQ(vq_dev_set_state(q2, &bad), -EINVAL);
			bad = g;
			bad.used_idx = 5;
			ASSERT_EQ(vq_dev_set_state(q2, &bad), -EINVAL);
			ASSERT_EQ(vq_dev_set_state(q2, &g), 0);
			vq_dev_free(f.q);
			f.q = q2;
		}
		put_chain(&f, d, 2, (uint16_t)(i % 5));
		ASSERT_EQ(pop(&f), 1);
		ASSERT_EQ(f.e.id, i % 5);
		ASSERT_EQ(vq_dev_push(f.q, &f.e, 16), 0);
		vq_dev_flush(f.q);
		ASSERT_EQ(p_get16(&f, used, 12), i % 5);
		ASSERT_EQ(p_get16(&f, used, 14),
			  F_WRITE | (wrap ? F_AVAIL | F_USED : 0));
		used += 2;
		if (used >= 5) {
			used -= 5;
			wrap = !wrap;
		}
	}
	fx_fini(&f);
}

TEST(large_chain_feature)
{
	struct fx f;
	struct vq_dev *q;
	struct td t[17];

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	f.cfg.max_chain = 9;
	ASSERT_EQ(vq_dev_new(&f.cfg, f.mem, &q), -EINVAL);
	f.cfg.features |= VQ_F_LARGE_CHAIN;
	f.cfg.max_chain = VQ_MAX_CHAIN + 1;
	ASSERT_EQ(vq_dev_new(&f.cfg, f.mem, &q), -EINVAL);
	f.cfg.max_chain = 16;
	fx_dev(&f);
	for (unsigned i = 0; i < 17; i++)
		t[i] = (struct td){ BUF + 0x40 * i, 0x40, 0 };
	put_table(&f, T1, t, 16, true);
	put1(&f, T1, 16 * 16, F_INDIRECT, 0);
	ASSERT_EQ(pop(&f), 1);
	ASSERT_EQ(f.e.out_num, 16);
	ASSERT_EQ(vq_dev_push(f.q, &f.e, 0), 0);
	put_table(&f, T1, t, 17, true);
	put1(&f, T1, 17 * 16, F_INDIRECT, 0);
	ASSERT_EQ(pop(&f), -E2BIG);
	ASSERT_EQ(vq_dev_violation(f.q), VQ_ERR_CHAIN_LEN);
	fx_fini(&f);
}

TEST(dev_new_bad_config)
{
	struct fx f;
	struct vq_dev *q;
	struct vq_ring_params c;

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	c = f.cfg;
	c.size = 6; /* split needs a power of two */
	ASSERT_EQ(vq_dev_new(&c, f.mem, &q), -EINVAL);
	c.size = 0;
	ASSERT_EQ(vq_dev_new(&c, f.mem, &q), -EINVAL);
	c = f.cfg;
	c.desc = (char *)c.desc + 8;
	ASSERT_EQ(vq_dev_new(&c, f.mem, &q), -EINVAL);
	c = f.cfg;
	c.used = NULL;
	ASSERT_EQ(vq_dev_new(&c, f.mem, &q), -EINVAL);
	ASSERT_EQ(vq_dev_new(&f.cfg, NULL, &q), -EINVAL);
	c = f.cfg;
	c.layout = VQ_LAYOUT_PACKED;
	c.size = 6; /* packed: any size */
	ASSERT_EQ(vq_dev_new(&c, f.mem, &q), 0);
	vq_dev_free(q);
	c.size = VQ_MAX_QUEUE_SIZE + 1;
	ASSERT_EQ(vq_dev_new(&c, f.mem, &q), -EINVAL);
	fx_fini(&f);
}

static void push_errors(enum vq_layout layout)
{
	struct fx f;
	const struct td d[2] = { { BUF, 16, 0 }, { BUF, 16, F_WRITE } };
	struct vq_elem e;

	fx_init(&f, layout, 8);
	fx_dev(&f);
	put_chain(&f, d, 2, 6);
	ASSERT_EQ(pop(&f), 1);
	e = f.e;
	ASSERT_EQ(vq_dev_push(f.q, &e, 17), -EINVAL); /* more than in_len */
	ASSERT_EQ(vq_dev_push_id(f.q, (uint16_t)(e.id ^ 1), e.ndesc, 0), -EINVAL);
	ASSERT_EQ(vq_dev_push_id(f.q, 8, 1, 0), -EINVAL);
	if (layout == VQ_LAYOUT_PACKED)
		ASSERT_EQ(vq_dev_push_id(f.q, e.id, 1, 0), -EINVAL); /* ndesc is 2 */
	ASSERT_FALSE(vq_dev_is_broken(f.q));
	ASSERT_EQ(vq_dev_push(f.q, &e, 16), 0);
	ASSERT_EQ(vq_dev_push(f.q, &e, 16), -EINVAL); /* no longer in flight */
	fx_fini(&f);
}

TEST(split_push_errors) { push_errors(VQ_LAYOUT_SPLIT); }
TEST(packed_push_errors) { push_errors(VQ_LAYOUT_PACKED); }

TEST(packed_out_of_order_batch)
{
	struct fx f;
	struct vq_elem e[3];
	const struct td two[2] = { { BUF, 16, 0 }, { BUF, 16, F_WRITE } };

	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	fx_dev(&f);
	put1(&f, BUF, 16, F_WRITE, 7);
	put_chain(&f, two, 2, 1);
	put1(&f, BUF, 16, F_WRITE, 4);
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_EQ(pop(&f), 1);
		e[i] = f.e;
	}
	ASSERT_EQ(e[0].id, 7);
	ASSERT_EQ(e[1].id, 1);
	ASSERT_EQ(e[2].id, 4);
	ASSERT_EQ(vq_dev_push(f.q, &e[1], 5), 0); /* slot 0, skips 2 */
	ASSERT_EQ(vq_dev_push(f.q, &e[0], 6), 0); /* slot 2 */
	ASSERT_EQ(vq_dev_push(f.q, &e[2], 0), 0); /* slot 3 */
	ASSERT_EQ(p_get16(&f, 0, 14), F_AVAIL | F_WRITE); /* first not yet used */
	vq_dev_flush(f.q);
	ASSERT_EQ(p_get16(&f, 0, 12), 1);
	ASSERT_EQ(p_get16(&f, 0, 14), F_AVAIL | F_USED | F_WRITE);
	ASSERT_EQ(p_get16(&f, 2, 12), 7);
	ASSERT_EQ(p_get16(&f, 2, 14), F_AVAIL | F_USED | F_WRITE);
	ASSERT_EQ(p_get16(&f, 3, 12), 4);
	ASSERT_EQ(p_get16(&f, 3, 14), F_AVAIL | F_USED);
	fx_fini(&f);
}

TEST(split_in_order_sparse_ids)
{
	struct fx f;
	const uint16_t heads[3] = { 5, 2, 7 };
	uint32_t id, len;

	fx_init(&f, VQ_LAYOUT_SPLIT, 8);
	f.cfg.features |= VQ_F_IN_ORDER;
	fx_dev(&f);
	for (unsigned i = 0; i < 3; i++) {
		s_desc(&f, heads[i], BUF, 16, F_WRITE, 0);
		s_publish(&f, heads[i]);
	}
	struct vq_elem e[3];
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_EQ(pop(&f), 1);
		e[i] = f.e;
		ASSERT_EQ(e[i].id, heads[i]);
	}
	for (unsigned i = 0; i < 3; i++)
		ASSERT_EQ(vq_dev_push(f.q, &e[i], i), 0);
	vq_dev_flush(f.q);
	ASSERT_EQ(s_used_idx(&f), 3);
	for (unsigned i = 0; i < 3; i++) {
		s_used_elem(&f, (uint16_t)i, &id, &len);
		ASSERT_EQ(id, heads[i]);
		ASSERT_EQ(len, i);
	}
	fx_fini(&f);
}

/*
 * Packed IN_ORDER: buffers pushed in pop order are returned as runs, one
 * used descriptor per run at its first slot with the id and len of its
 * last buffer (the driver takes the others as used completely).  A buffer
 * whose len is below its writable length ends a run.
 */
TEST(packed_in_order_runs)
{
	struct fx f;
	struct vq_elem e[7];
	const struct td two[2] = { { BUF, 16, 0 }, { BUF, 16, F_WRITE } };
	const uint32_t lens[7] = { 16, 16, 5, 0, 0, 3, 16 };

	fx_init(&f, VQ_LAYOUT_PACKED, 8);
	f.cfg.features |= VQ_F_IN_ORDER;
	fx_dev(&f);
	put1(&f, BUF, 16, F_WRITE, 0);  /* slot 0 */
	put_chain(&f, two, 2, 1);       /* slots 1-2 */
	put1(&f, BUF, 16, F_WRITE, 3);  /* slot 3 */
	put1(&f, BUF, 16, 0, 4);        /* slot 4, nothing writable */
	put1(&f, BUF, 16, 0, 5);        /* slot 5 */
	put1(&f, BUF, 16, F_WRITE, 6);  /* slot 6 */
	put1(&f, BUF, 16, F_WRITE, 7);  /* slot 7 */
	for (unsigned i = 0; i < 7; i++) {
		ASSERT_EQ(pop(&f), 1);
		e[i] = f.e;
		ASSERT_EQ(vq_dev_push(f.q, &e[i], lens[i]), 0);
	}
	ASSERT_EQ(p_get16(&f, 0, 14), F_AVAIL | F_WRITE); /* not before flush */
	vq_dev_flush(f.q);
	/* Run 0..3: full, full, then 5 of 16 ends it. */
	ASSERT_EQ(p_get16(&f, 0, 12), 3);
	ASSERT_EQ(p_get16(&f, 0, 8), 5);
	ASSERT_EQ(p_get16(&f, 0, 14), F_AVAIL | F_USED | F_WRITE);
	ASSERT_EQ(p_get16(&f, 3, 14), F_AVAIL | F_WRITE); /* skipped, untouched */
	/* Run 4..6: len 0 with nothing writable is full; 3 of 16 ends it. */
	ASSERT_EQ(p_get16(&f, 4, 12), 6);
	ASSERT_EQ(p_get16(&f, 4, 8), 3);
	ASSERT_EQ(p_get16(&f, 4, 14), F_AVAIL | F_USED | F_WRITE);
	ASSERT_EQ(p_get16(&f, 5, 14), F_AVAIL);
	/* Slot 7 on its own: the flush ends the run. */
	ASSERT_EQ(p_get16(&f, 7, 12), 7);
	ASSERT_EQ(p_get16(&f, 7, 8), 16);
	ASSERT_EQ(p_get16(&f, 7, 14), F_AVAIL | F_USED | F_WRITE);
	ASSERT_EQ(vq_dev_inflight(f.q), 0);
	fx_fini(&f);
}
