/* SPDX-License-Identifier: MIT */
/*
 * The device side of the ring against hand-built rings: guest memory in
 * regions between canary pages and PROT_NONE guards, a read-only region, and
 * the driver's view of split and packed rings written by hand.  Shared by
 * ring_dev and ring_dev_bad.
 */
#ifndef VQ_TEST_RING_DEV_FX_H
#define VQ_TEST_RING_DEV_FX_H

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <virtq/mem.h>
#include <virtq/ring.h>

#include "../harness/test.h"
#include "ring/ring_wire.h"

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

static inline uint8_t *hp(struct fx *f, uint64_t gpa)
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
static inline void gwrite(struct fx *f, uint64_t gpa, const void *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		*hp(f, gpa + i) = ((const uint8_t *)src)[i];
}

static inline bool is_packed(const struct fx *f)
{
	return f->cfg.layout == VQ_LAYOUT_PACKED;
}

/* One 16-byte descriptor in either layout's format. */
static inline void enc_desc(const struct fx *f, uint8_t out[16], uint64_t addr, uint32_t len,
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
static inline void put_table(struct fx *f, uint64_t gpa, const struct td *d, unsigned n, bool chain)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t b[16];
		uint16_t flags = d[i].flags;

		if (!is_packed(f) && chain && i + 1 < n)
			flags |= VRING_DESC_F_NEXT;
		enc_desc(f, b, d[i].addr, d[i].len, flags, is_packed(f) ? 0 : (uint16_t)(i + 1));
		gwrite(f, gpa + 16ull * i, b, 16);
	}
}

static inline void fx_init(struct fx *f, enum vq_layout layout, uint16_t size)
{
	struct vq_ring_layout lay;
	const struct td ro_table[2] = { { BUF + 0x100, 16, 0 }, { BUF + 0x200, 32, VRING_DESC_F_WRITE } };

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

static inline void fx_dev(struct fx *f)
{
	ASSERT_EQ(vq_dev_new(&f->cfg, f->mem, &f->q), 0);
}

static inline void fx_fini(struct fx *f)
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

static inline uint16_t *s_avail(struct fx *f) { return f->cfg.avail; }   /* flags, idx, ring[], used_event */
static inline uint8_t *s_used(struct fx *f) { return f->cfg.used; }

static inline void s_desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		   uint16_t next)
{
	enc_desc(f, (uint8_t *)f->cfg.desc + 16u * i, addr, len, flags, next);
}

static inline void s_publish(struct fx *f, uint16_t head)
{
	s_avail(f)[2 + (f->aidx & (f->size - 1))] = head;
	f->aidx++;
	__atomic_store_n(&s_avail(f)[1], f->aidx, __ATOMIC_RELEASE);
}

static inline uint16_t s_used_idx(struct fx *f)
{
	uint16_t v;

	memcpy(&v, s_used(f) + 2, 2);
	return v;
}

static inline void s_used_elem(struct fx *f, uint16_t i, uint32_t *id, uint32_t *len)
{
	uint8_t *p = s_used(f) + 4 + 8u * (i & (f->size - 1));

	memcpy(id, p, 4);
	memcpy(len, p + 4, 4);
}

static inline uint16_t s_avail_event(struct fx *f)
{
	uint16_t v;

	memcpy(&v, s_used(f) + 4 + 8u * f->size, 2);
	return v;
}

/* ---- packed ring access */

static inline uint8_t *p_slot(struct fx *f, uint16_t slot)
{
	return (uint8_t *)f->cfg.desc + 16u * slot;
}

static inline uint16_t p_avail_bits(bool wrap)
{
	return wrap ? VQ__DESC_F_AVAIL : VQ__DESC_F_USED;
}

static inline void p_desc(struct fx *f, uint16_t slot, uint64_t addr, uint32_t len, uint16_t id,
		   uint16_t flags)
{
	enc_desc(f, p_slot(f, slot), addr, len, flags, id);
}

static inline uint16_t p_get16(struct fx *f, uint16_t slot, unsigned off)
{
	uint16_t v;

	memcpy(&v, p_slot(f, slot) + off, 2);
	return v;
}

static inline uint16_t *p_drv_event(struct fx *f) { return f->cfg.avail; } /* off_wrap, flags */
static inline uint16_t *p_dev_event(struct fx *f) { return f->cfg.used; }

/*
 * Make a chain available.  Split: descriptors at consecutive indexes from
 * snext, NEXT-linked.  Packed: consecutive slots, the buffer id only in the
 * last descriptor (0xeeee in the others), the head's flags stored last.
 */
static inline void put_chain(struct fx *f, const struct td *d, unsigned n, uint16_t id)
{
	if (!is_packed(f)) {
		uint16_t mask = f->size - 1, head = f->snext & mask;

		for (unsigned k = 0; k < n; k++) {
			uint16_t i = (f->snext + k) & mask, nx = (f->snext + k + 1) & mask;

			s_desc(f, i, d[k].addr, d[k].len,
			       d[k].flags | (k + 1 < n ? VRING_DESC_F_NEXT : 0), nx);
		}
		f->snext += n;
		s_publish(f, head);
		return;
	}
	uint16_t head = f->aidx, head_flags = 0;

	for (unsigned k = 0; k < n; k++) {
		uint16_t flags = d[k].flags | (k + 1 < n ? VRING_DESC_F_NEXT : 0) | p_avail_bits(f->awrap);

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

static inline void put1(struct fx *f, uint64_t addr, uint32_t len, uint16_t flags, uint16_t id)
{
	struct td d = { addr, len, flags };

	put_chain(f, &d, 1, id);
}

static inline int pop_cap(struct fx *f, uint32_t cap)
{
	memset(&f->e, 0, sizeof(f->e));
	f->e.iov = cap ? f->iov : NULL;
	f->e.iov_cap = cap;
	return vq_dev_pop(f->q, &f->e);
}

static inline int pop(struct fx *f)
{
	return pop_cap(f, 64);
}

#endif
