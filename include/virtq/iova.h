/* SPDX-License-Identifier: MIT */
/*
 * virtq IOVA space: an allocator and two translation trees, for a shadow
 * virtqueue that hands a device addresses of its own (IOVAs) instead of the
 * guest's.
 *
 *   allocator   free ranges of a bounded IOVA window in a balanced tree
 *               augmented with the largest free range per subtree: first fit
 *               with alignment in O(log n); reserved ranges are never handed
 *               out; freeing merges neighbours.
 *   host maps   IOVA -> HVA, for memory the host owns (shadow rings, bounce
 *               and control buffers).
 *   guest maps  GPA -> IOVA, for guest memory, one map per guest region;
 *               a sorted index of this tree, rebuilt on each guest map
 *               change (O(n)), serves translations by binary search.
 *
 * A guest buffer is translated by its guest address, never by its host
 * address: two guest regions may alias the same host memory (one of them
 * read-only, or smaller), and only the GPA says which map, and so which
 * permission, applies.  Every lookup is O(log n) and fails closed.
 *
 * Not internally locked: the owner serialises changes against lookups.
 */
#ifndef VIRTQ_IOVA_H
#define VIRTQ_IOVA_H

#include <stdbool.h>
#include <stdint.h>

#include <virtq/mem.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vq_iova;

struct vq_iova_params {
	uint64_t base;  /* first IOVA of the window */
	uint64_t size;  /* bytes in the window; > 0, base + size - 1 must not wrap */
	uint64_t align; /* alignment of maps; a power of two; 0 = 4096 */
};

/* One piece of a translated buffer, in IOVA space. */
struct vq_iova_seg {
	uint64_t iova;
	uint64_t len;
};

/* Create an IOVA space with the whole window free.  Returns 0 and *out;
 * -EINVAL for an empty or wrapping window or a bad alignment; -ENOMEM. */
int vq_iova_new(const struct vq_iova_params *p, struct vq_iova **out);

/* Free the space, its trees and maps (not the memory they point at).
 * NULL is a no-op. */
void vq_iova_free(struct vq_iova *t);

/* ---- allocator */

/*
 * Allocate size bytes at the lowest address that is a multiple of align (a
 * power of two; 0 = the space's alignment).  Returns 0 and *iova; -EINVAL
 * for size 0 or a bad align; -ENOSPC when no free range fits; -ENOMEM.
 */
int vq_iova_alloc(struct vq_iova *t, uint64_t size, uint64_t align, uint64_t *iova);

/*
 * Give [iova, iova + size) back to the free ranges, merged with its free
 * neighbours.  Any part of an allocated block may be released.  Returns 0;
 * -EINVAL for size 0, a wrap, a range outside the window or one that is
 * already (partly) free; -ENOMEM.
 */
int vq_iova_release(struct vq_iova *t, uint64_t iova, uint64_t size);

/*
 * Take [iova, iova + size) out of the free ranges for good (for example
 * where a device cannot address, or an MSI window).  Returns 0; -EINVAL for
 * size 0 or a wrap; -EBUSY when some of it is not free (outside the window,
 * allocated or already reserved); -ENOMEM.
 */
int vq_iova_reserve(struct vq_iova *t, uint64_t iova, uint64_t size);

/* Free bytes in the window, and the number of free ranges. */
uint64_t vq_iova_free_bytes(const struct vq_iova *t);
unsigned vq_iova_free_ranges(const struct vq_iova *t);

/* ---- host maps: IOVA -> HVA */

/*
 * Map host memory [hva, hva + size) with prot (VQ_MEM_READ / VQ_MEM_WRITE:
 * what the device may do) at a newly allocated IOVA.  Returns 0 and *iova;
 * -EINVAL for size 0, NULL hva or bad prot; -EOVERFLOW when hva + size
 * wraps; -ENOSPC; -ENOMEM.
 */
int vq_iova_map_host(struct vq_iova *t, void *hva, uint64_t size, uint32_t prot,
		     uint64_t *iova);

/* Unmap the host map that starts at iova and free its IOVA range.
 * Returns 0 or -ENOENT. */
int vq_iova_unmap_host(struct vq_iova *t, uint64_t iova);

/* Host pointer for [iova, iova + len) when it lies in one host map that
 * grants prot; NULL otherwise (also on wrap or len 0). */
void *vq_iova_host_ptr(const struct vq_iova *t, uint64_t iova, uint64_t len,
		       uint32_t prot);

/* ---- guest maps: GPA -> IOVA */

/*
 * Map guest region r (gpa, size, hva, prot; uaddr is ignored) at a newly
 * allocated IOVA.  Returns 0 and *iova; -EINVAL / -EOVERFLOW as
 * vq_mem_add; -EEXIST when it overlaps a guest map in GPA space (host
 * addresses may alias freely); -ENOSPC; -ENOMEM.
 */
int vq_iova_map_guest(struct vq_iova *t, const struct vq_mem_region *r, uint64_t *iova);

/* Unmap the guest map [gpa, gpa + size) (exactly as mapped) and free its
 * IOVA range.  Returns 0 or -ENOENT. */
int vq_iova_unmap_guest(struct vq_iova *t, uint64_t gpa, uint64_t size);

/*
 * Make the guest maps follow guest map m (after a vhost-user SET_MEM_TABLE,
 * ADD_MEM_REG or REM_MEM_REG): unmap every guest map that is not a region
 * of m with the same gpa, size, hva and prot, then map every region of m
 * not mapped yet.  Maps that stay keep their IOVAs.  The owner quiesces
 * whoever uses the maps first (vq_svq_set_paused, drain).  Returns the
 * number of maps added plus removed, or the first error of
 * vq_iova_map_guest (maps made before it stay).
 */
int vq_iova_sync_guest(struct vq_iova *t, const struct vq_mem *m);

/* IOVA of guest address gpa, when a guest map holds it: 0 and *iova, else
 * -EFAULT. */
int vq_iova_guest_iova(const struct vq_iova *t, uint64_t gpa, uint64_t *iova);

/*
 * Translate the guest buffer [gpa, gpa + len), which the device accesses
 * with prot, into IOVA segments: one per guest map it crosses (pieces that
 * are contiguous in IOVA space are merged).  A writable buffer needs
 * writable maps; a read-only buffer may lie in read-write maps.  len == 0
 * yields 0 segments.  Returns the number of segments written to seg, or
 *   -EOVERFLOW  gpa + len wraps;
 *   -EFAULT     some byte is in no guest map;
 *   -EACCES     some map lacks prot;
 *   -ENOBUFS    more than max segments are needed.
 */
int vq_iova_translate(const struct vq_iova *t, uint64_t gpa, uint64_t len, uint32_t prot,
		      struct vq_iova_seg *seg, unsigned max);

/* Number of host maps and of guest maps. */
unsigned vq_iova_host_count(const struct vq_iova *t);
unsigned vq_iova_guest_count(const struct vq_iova *t);

/*
 * The device's view: replace the contents of m with every map (host and
 * guest) as a region whose gpa is its IOVA, so that a vq_dev over m serves
 * the shadow ring.  Returns 0, or vq_mem_add's error (-ENOSPC beyond
 * VQ_MEM_MAX_REGIONS maps); m is then cleared.
 */
int vq_iova_to_mem(const struct vq_iova *t, struct vq_mem *m);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_IOVA_H */
