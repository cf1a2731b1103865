/* SPDX-License-Identifier: MIT */
/* Internals shared by the ring files.  Not installed. */
#ifndef VQ_RING_INTERNAL_H
#define VQ_RING_INTERNAL_H

#include <virtq/ring.h>

/* Descriptor formats, little-endian in memory (virtq targets little-endian hosts). */
struct vq__split_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vq__packed_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

_Static_assert(sizeof(struct vq__split_desc) == 16, "split descriptor is 16 bytes");
_Static_assert(sizeof(struct vq__packed_desc) == 16, "packed descriptor is 16 bytes");

#endif
