/* SPDX-License-Identifier: MIT */
/* Internals of the guest-memory map shared with the ring code.  Not installed. */
#ifndef VQ_MEM_INTERNAL_H
#define VQ_MEM_INTERNAL_H

#include <stdbool.h>
#include <virtq/mem.h>

/* Defined here so that the ring's hot path can inline vq__mem_hint_ptr. */
struct vq_mem {
	unsigned n;    /* regions in r[], sorted by gpa */
	unsigned hint; /* index of the last region hit; a guess, may be stale */
	struct vq_mem_region r[VQ_MEM_MAX_REGIONS];
};

/*
 * The last-hit region copied once for a run of buffers (the ring's pop
 * bursts): vq__mem_hint_at makes the checks of vq_mem_translate against
 * the copy.  vq__mem_hint_get is false when there is no such region.
 */
struct vq__mem_hint {
	uint64_t gpa, size;
	uint8_t *hva;
	uint32_t prot;
};

/* always_inline, these three: with them the ring's pop stays one function
 * (GCC otherwise outlines the split ring's per-chain step). */
#define VQ__MEM_INLINE static inline __attribute__((always_inline))

VQ__MEM_INLINE bool vq__mem_hint_get(const struct vq_mem *m, struct vq__mem_hint *out)
{
	/* A guess only (see mem.c): each buffer is checked against it. */
	unsigned h = __atomic_load_n(&m->hint, __ATOMIC_RELAXED);

	if (h >= m->n)
		return false;
	*out = (struct vq__mem_hint){ m->r[h].gpa, m->r[h].size, m->r[h].hva, m->r[h].prot };
	return true;
}

/* [addr, addr+len) in the region of r with access prot: its host address,
 * or NULL.  len > 0. */
VQ__MEM_INLINE void *vq__mem_hint_at(const struct vq__mem_hint *r, uint64_t addr, uint64_t len,
				     uint32_t prot)
{
	uint64_t off = addr - r->gpa;

	if (off >= r->size || len > r->size - off || (r->prot & prot) != prot)
		return NULL;
	return r->hva + off;
}

/*
 * Fast path of vq_mem_translate for a buffer that lies wholly in the
 * last-hit region: its host address, or NULL when it does not (then
 * vq_mem_translate decides, and reports the precise error).  The same
 * checks as the slow path: inside the region (no sum can wrap: gpa + size
 * never does) and with access prot.  len > 0.
 */
VQ__MEM_INLINE void *vq__mem_hint_ptr(const struct vq_mem *m, uint64_t addr, uint64_t len,
				      uint32_t prot)
{
	struct vq__mem_hint r;

	return vq__mem_hint_get(m, &r) ? vq__mem_hint_at(&r, addr, len, prot) : NULL;
}

/*
 * Copy [addr, addr+len) of driver memory into dst, region by region, with
 * VQ_MEM_READ checked.  For structures (indirect tables) that may span
 * regions.  Each source byte is read once.  Returns 0, -EOVERFLOW, -EFAULT
 * or -EACCES (as vq_mem_translate).
 */
int vq__mem_read(const struct vq_mem *m, uint64_t addr, void *dst, uint64_t len);

#endif
