/* SPDX-License-Identifier: MIT */
/*
 * Guest memory for the tests that run both sides of a ring in one process:
 * one anonymous mapping, registered read-write at VQ_TEST_GPA in a vq_mem of
 * its own, with the ring at offset 0 and the test's bytes after it.
 */
#ifndef VQ_TEST_GUEST_H
#define VQ_TEST_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include <virtq/mem.h>
#include <virtq/ring.h>

#define VQ_TEST_GPA 0x100000ull /* the guest address of offset 0 */

struct vq_test_guest {
	unsigned char *mem;
	size_t len;
	size_t free_off; /* the first page after the ring: the test's bytes */
	enum vq_layout layout;
	uint32_t size;
	struct vq_ring_layout lay;
	struct vq_mem *map;
};

/* The ring (layout, size), then extra bytes from free_off.  Fails the test
 * on error.  The mapping is MAP_NORESERVE: pages cost only when touched. */
void vq_test_guest_init(struct vq_test_guest *g, enum vq_layout layout, uint32_t size,
			size_t extra);
void vq_test_guest_fini(struct vq_test_guest *g);

/* The guest's ring with features, VERSION_1, and PACKED for that layout. */
struct vq_ring_params vq_test_guest_ring(const struct vq_test_guest *g, uint64_t features);

#endif
