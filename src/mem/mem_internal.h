/* SPDX-License-Identifier: MIT */
/* Internals of the guest-memory map shared with the ring code.  Not installed. */
#ifndef VQ_MEM_INTERNAL_H
#define VQ_MEM_INTERNAL_H

#include <virtq/mem.h>

/*
 * Copy [addr, addr+len) of driver memory into dst, region by region, with
 * VQ_MEM_READ checked.  For structures (indirect tables) that may span
 * regions.  Each source byte is read once.  Returns 0, -EOVERFLOW, -EFAULT
 * or -EACCES (as vq_mem_translate).
 */
int vq__mem_read(const struct vq_mem *m, uint64_t addr, void *dst, uint64_t len);

#endif
