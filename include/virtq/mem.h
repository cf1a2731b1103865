/* SPDX-License-Identifier: MIT */
/*
 * virtq guest-memory map: translates driver ("guest") addresses into host
 * segments, region by region, with permissions checked.  Every lookup fails
 * closed: an address that is not wholly inside mapped regions with the
 * requested permission is refused.
 *
 * A map is not internally locked.  Lookups may run concurrently from many
 * threads; changes (add/remove) must be serialised by the owner and must not
 * run while a queue that uses the map is being processed.
 */
#ifndef VIRTQ_MEM_H
#define VIRTQ_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VQ_MEM_READ  0x1u /* the device may read the region */
#define VQ_MEM_WRITE 0x2u /* the device may write the region */
#define VQ_MEM_RW    (VQ_MEM_READ | VQ_MEM_WRITE)

/* Most regions one map holds (vhost-user's GET_MAX_MEM_SLOTS answer). */
#define VQ_MEM_MAX_REGIONS 509

struct vq_mem_region {
	uint64_t gpa;   /* driver ("guest physical") address of the first byte */
	uint64_t size;  /* bytes; > 0 */
	void *hva;      /* host address of the first byte */
	uint64_t uaddr; /* frontend's own virtual address (vhost-user); 0 if unused */
	uint32_t prot;  /* VQ_MEM_READ and/or VQ_MEM_WRITE */
};

struct vq_mem;

/* Create an empty map.  Returns 0 and *out, or -ENOMEM. */
int vq_mem_new(struct vq_mem **out);

/* Free a map.  Does not unmap the host memory it points at.  NULL is a no-op. */
void vq_mem_free(struct vq_mem *m);

/*
 * Add a region.  The region is copied.  Returns 0; -EINVAL for a zero size,
 * bad prot or NULL hva; -EOVERFLOW when gpa+size, uaddr+size or hva+size wrap;
 * -EEXIST when it overlaps a region already in the map (in gpa space);
 * -ENOSPC when the map already holds VQ_MEM_MAX_REGIONS regions.
 */
int vq_mem_add(struct vq_mem *m, const struct vq_mem_region *r);

/*
 * Remove the region that starts at gpa and has exactly this size.
 * Returns 0, or -ENOENT if there is no such region.
 */
int vq_mem_remove(struct vq_mem *m, uint64_t gpa, uint64_t size);

/* Remove every region. */
void vq_mem_clear(struct vq_mem *m);

/* Number of regions, and a copy of region i (0 <= i < count, sorted by gpa). */
unsigned vq_mem_count(const struct vq_mem *m);
int vq_mem_region_at(const struct vq_mem *m, unsigned i, struct vq_mem_region *out);

/*
 * Translate [addr, addr+len) into host segments, appending at most max_iov
 * entries to iov.  prot is the access the device needs (VQ_MEM_READ when it
 * reads the buffer, VQ_MEM_WRITE when it writes it).  A buffer contiguous in
 * gpa space may span adjacent regions: it then yields several segments.
 * len == 0 yields 0 segments.
 *
 * Returns the number of segments written, or
 *   -EOVERFLOW  addr + len wraps around 2^64;
 *   -EFAULT     some byte is outside every region;
 *   -EACCES     some region lacks the requested permission;
 *   -ENOBUFS    more than max_iov segments would be needed.
 * On error nothing useful is in iov.
 */
int vq_mem_translate(const struct vq_mem *m, uint64_t addr, uint64_t len,
		     uint32_t prot, struct iovec *iov, unsigned max_iov);

/*
 * Host pointer for [addr, addr+len) when it lies inside one region with the
 * requested permission; NULL otherwise (including overflow).  For rings and
 * other structures that must be contiguous in host memory.
 */
void *vq_mem_ptr(const struct vq_mem *m, uint64_t addr, uint64_t len, uint32_t prot);

/*
 * Same, but addr is a frontend virtual address (the uaddr of the regions),
 * as vhost-user's SET_VRING_ADDR gives them.
 */
void *vq_mem_uaddr_ptr(const struct vq_mem *m, uint64_t uaddr, uint64_t len, uint32_t prot);

/*
 * The SIGBUS guard: memory a peer can shrink under us.  A frontend that
 * shares guest memory through a file (memfd, tmpfs, hugetlbfs) may
 * ftruncate() it below our mapping; touching a page past the new end then
 * raises SIGBUS, which would kill the whole process.  Guarded ranges turn
 * that into a disconnect: the process-wide handler maps a private zero page
 * over the faulting page (the access completes, reading zeros), counts the
 * fault on the range and shuts down the range's notify socket, so that the
 * owner's event loop sees the connection end and tears it down.  A SIGBUS
 * outside every guarded range goes to the handler installed before ours, or
 * kills the process as usual.  The vhost-user backend uses this for every
 * region whose file is not sealed against shrinking (F_SEAL_SHRINK).
 * Threads that touch guest memory must not block SIGBUS: the kernel kills
 * the process on a synchronous SIGBUS that is blocked.
 */

/*
 * Install the SIGBUS handler (once per process; later calls are no-ops).
 * Returns 0, or -EINVAL when sigaction() refused.  A SIGBUS handler the
 * application installs afterwards replaces ours (calling this again does not
 * restore ours).
 */
int vq_mem_guard_install(void);

/* True once vq_mem_guard_install() succeeded. */
bool vq_mem_guard_is_installed(void);

/*
 * Guard [base, base+len), a MAP_SHARED file mapping whose page size is align
 * (a power of two; the huge page size on hugetlbfs); base and len are
 * multiples of align.  notify_fd: a socket to shut down on the first fault
 * (or -1).  Returns a guard id >= 0, -EINVAL, or -ENOSPC (table full).
 * The owner must call vq_mem_guard_remove() before munmap().
 */
int vq_mem_guard_add(void *base, size_t len, size_t align, int notify_fd);

/* Stop guarding id (waits for a handler that may be running). -1 is a no-op. */
void vq_mem_guard_remove(int id);

/* Faults seen on guard id so far; *addr (if not NULL): the last address. */
unsigned vq_mem_guard_faults(int id, uintptr_t *addr);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_MEM_H */
