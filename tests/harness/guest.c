/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <sys/mman.h>

#include "guest.h"
#include "test.h"

void vq_test_guest_init(struct vq_test_guest *g, enum vq_layout layout, uint32_t size,
			size_t extra)
{
	memset(g, 0, sizeof(*g));
	g->layout = layout;
	g->size = size;
	ASSERT_EQ(vq_ring_layout(layout, size, &g->lay), 0);
	g->free_off = (g->lay.total + 4095) & ~(size_t)4095;
	g->len = g->free_off + extra;
	g->mem = mmap(NULL, g->len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_TRUE(g->mem != MAP_FAILED);
	ASSERT_EQ(vq_mem_new(&g->map), 0);
	struct vq_mem_region reg = { .gpa = VQ_TEST_GPA, .size = g->len, .hva = g->mem,
				     .prot = VQ_MEM_RW };
	ASSERT_EQ(vq_mem_add(g->map, &reg), 0);
}

void vq_test_guest_fini(struct vq_test_guest *g)
{
	vq_mem_free(g->map);
	munmap(g->mem, g->len);
	g->map = NULL;
	g->mem = NULL;
}

struct vq_ring_params vq_test_guest_ring(const struct vq_test_guest *g, uint64_t features)
{
	return (struct vq_ring_params){
		.layout = g->layout, .size = g->size,
		.features = features | VQ_F_VERSION_1 |
			    (g->layout == VQ_LAYOUT_PACKED ? VQ_F_PACKED : 0),
		.desc = g->mem + g->lay.desc_off, .avail = g->mem + g->lay.avail_off,
		.used = g->mem + g->lay.used_off,
	};
}
