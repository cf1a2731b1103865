/* SPDX-License-Identifier: MIT */
/*
 * Frontend shared memory: one memfd, MAP_SHARED, holding per queue a ring
 * block (room for either layout) and an indirect-table pool, then the arena
 * vq_fe_alloc hands out.  Shared as one region (or cut into
 * vq_fe_params.mem_regions) whose guest address and user address are both
 * our virtual address (as DPDK virtio-user does).  The
 * memfd is sealed against shrinking and growing (as QEMU's
 * memory-backend-memfd does): a backend can then map it without fearing
 * SIGBUS, and need not guard it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fe_internal.h"

static int round_up(size_t v, size_t a, size_t *out)
{
	if (__builtin_add_overflow(v, a - 1, out))
		return -EOVERFLOW;
	*out &= ~(a - 1);
	return 0;
}

/* Bytes of one queue's ring block: the larger of the two layouts. */
static int ring_block(uint32_t size, size_t *out)
{
	struct vq_ring_layout s, p;

	if (vq_ring_layout(VQ_LAYOUT_SPLIT, size, &s) < 0 ||
	    vq_ring_layout(VQ_LAYOUT_PACKED, size, &p) < 0)
		return -EINVAL;
	return round_up(s.total > p.total ? s.total : p.total, VQ__FE_PAGE, out);
}

static int plan(struct vq_fe *fe, size_t *ring_len, size_t *ind_len, size_t *total)
{
	const struct vq_fe_params *c = &fe->cfg;
	uint64_t ind;
	size_t per, all, arena;

	if (ring_block(c->queue_size, ring_len) < 0)
		return -EINVAL;
	if (__builtin_mul_overflow((uint64_t)c->indirect_tables, c->indirect_len, &ind) ||
	    __builtin_mul_overflow(ind, 16u, &ind) || ind > SIZE_MAX ||
	    round_up((size_t)ind, VQ__FE_PAGE, ind_len) < 0)
		return -EINVAL;
	if (__builtin_add_overflow(*ring_len, *ind_len, &per) ||
	    __builtin_mul_overflow(per, (size_t)c->num_queues, &all) ||
	    round_up(c->mem_size, VQ__FE_PAGE, &arena) < 0 ||
	    __builtin_add_overflow(all, arena, total))
		return -EINVAL;
	fe->arena_off = all;
	fe->arena_end = *total;
	fe->arena_pos = all;
	return 0;
}

int vq__fe_mem_init(struct vq_fe *fe)
{
	size_t ring_len, ind_len, total, off = 0;
	int rc = plan(fe, &ring_len, &ind_len, &total);

	if (rc < 0)
		return rc;
	fe->memfd = memfd_create("virtq-fe", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fe->memfd < 0)
		return -errno;
	if (ftruncate(fe->memfd, (off_t)total) < 0 ||
	    fcntl(fe->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	fe->mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fe->memfd, 0);
	if (fe->mem == MAP_FAILED) {
		fe->mem = NULL;
		return -errno;
	}
	fe->mem_len = total;
	for (unsigned i = 0; i < fe->cfg.num_queues; i++) {
		struct vq__fe_queue *q = &fe->q[i];

		q->ring = fe->mem + off;
		q->ring_len = ring_len;
		off += ring_len;
		q->ind = ind_len ? fe->mem + off : NULL;
		off += ind_len;
	}
	return 0;
}

void vq__fe_mem_fini(struct vq_fe *fe)
{
	if (fe->mem)
		munmap(fe->mem, fe->mem_len);
	fe->mem = NULL;
	if (fe->memfd >= 0)
		close(fe->memfd);
	fe->memfd = -1;
}

/* Region i of n: the memfd cut in page-aligned parts, the last taking the
 * rest; guest and user address are our virtual address. */
static void mem_region(const struct vq_fe *fe, unsigned i, unsigned n, struct vq__vu_region *r)
{
	size_t part = fe->mem_len / n / VQ__FE_PAGE * VQ__FE_PAGE, off = part * i;
	uint64_t va = (uint64_t)(uintptr_t)fe->mem + off;

	*r = (struct vq__vu_region){ .gpa = va, .size = i + 1 < n ? part : fe->mem_len - off,
				     .uaddr = va, .mmap_offset = off };
}

int vq__fe_send_mem_table(struct vq_fe *fe)
{
	unsigned n = fe->cfg.mem_regions ? fe->cfg.mem_regions : 1;
	struct vq__vu_mem_table t;
	struct vq__vu_mem_single one = { 0 };
	int fds[VQ_VU_MEM_TABLE_REGIONS], rc;

	if (n > fe->mem_len / VQ__FE_PAGE)
		return vq__fe_fail(fe, -EINVAL, "%u regions of %zu bytes", n, fe->mem_len);
	if (n > VQ_VU_MEM_TABLE_REGIONS) {
		if (fe->mem_slots < n)
			return vq__fe_fail(fe, -ENOSPC, "%u regions, but the backend takes %llu "
					   "one by one (CONFIGURE_MEM_SLOTS)", n,
					   (unsigned long long)fe->mem_slots);
		for (unsigned i = 0; i < n; i++) {
			mem_region(fe, i, n, &one.region);
			if ((rc = vq__fe_request(fe, VQ__VU_ADD_MEM_REG, &one, sizeof(one),
						 &fe->memfd, 1)) < 0)
				return rc;
		}
		return 0;
	}
	memset(&t, 0, sizeof(t));
	t.nregions = n;
	for (unsigned i = 0; i < n; i++) {
		mem_region(fe, i, n, &t.regions[i]);
		fds[i] = fe->memfd;
	}
	/* Payload: the header and the regions actually used. */
	return vq__fe_request(fe, VQ__VU_SET_MEM_TABLE, &t,
			      (uint32_t)(offsetof(struct vq__vu_mem_table, regions) +
					 n * sizeof(t.regions[0])), fds, n);
}

void *vq_fe_alloc(struct vq_fe *fe, size_t size, size_t align)
{
	size_t pos, end;

	if (align == 0)
		align = 64;
	if (size == 0 || (align & (align - 1)))
		return NULL;
	if (round_up(fe->arena_pos, align, &pos) < 0 ||
	    __builtin_add_overflow(pos, size, &end) || end > fe->arena_end)
		return NULL;
	fe->arena_pos = end;
	return fe->mem + pos;
}

size_t vq_fe_mem_avail(const struct vq_fe *fe)
{
	return fe->arena_end - fe->arena_pos;
}
