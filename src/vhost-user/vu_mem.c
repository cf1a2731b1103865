/* SPDX-License-Identifier: MIT */
/*
 * vhost-user memory: SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG.  Each region
 * is an fd mapped MAP_SHARED from file offset 0 to mmap_offset + size; a
 * dup of the fd is kept with the mapping (vq_vu_mem_fd: a proxy hands the
 * same memory on to another backend) and closed when it is unmapped.  Running queues are stopped around every
 * change of the map and restarted on the new one.
 *
 * A frontend can shrink a region's file under the mapping (ftruncate), and
 * the next access past the new end raises SIGBUS.  A file sealed with
 * F_SEAL_SHRINK (QEMU's memory-backend-memfd, virtq-user) cannot shrink;
 * every other region (an unsealed memfd as DPDK virtio-user's --no-huge
 * memory, tmpfs and hugetlbfs files) is registered with the SIGBUS guard
 * (<virtq/mem.h>), which turns such an access into zeros and a disconnect.
 * Only regular files are mapped: a pipe, socket or device is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vu_internal.h"

static void unmap(struct vq__vu_map *mp)
{
	if (mp->base) {
		vq_mem_guard_remove(mp->guard);
		munmap(mp->base, mp->len);
	}
	if (mp->base && mp->fd >= 0)
		close(mp->fd);
	mp->fd = -1;
	mp->base = NULL;
	mp->guard = -1;
}

static uint64_t map_align(const struct stat *st)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t blk = (uint64_t)st->st_blksize;

	/* hugetlbfs reports the huge page size: mappings must be multiples. */
	if (S_ISREG(st->st_mode) && blk > page && !(blk & (blk - 1)) && blk <= (1ull << 30))
		return blk;
	return page;
}

static int check_region(struct vq_vu_backend *b, const struct vq__vu_region *r, uint64_t *end)
{
	uint64_t tmp;

	if (r->size == 0)
		return vq__vu_fail(b, -EINVAL, "region at gpa 0x%" PRIx64 " has size 0", r->gpa);
	if (__builtin_add_overflow(r->gpa, r->size - 1, &tmp))
		return vq__vu_fail(b, -EOVERFLOW, "region gpa 0x%" PRIx64 " + size 0x%" PRIx64
				   " overflows", r->gpa, r->size);
	if (__builtin_add_overflow(r->uaddr, r->size - 1, &tmp))
		return vq__vu_fail(b, -EOVERFLOW, "region uaddr 0x%" PRIx64 " + size 0x%"
				   PRIx64 " overflows", r->uaddr, r->size);
	if (__builtin_add_overflow(r->mmap_offset, r->size, end))
		return vq__vu_fail(b, -EOVERFLOW, "region mmap_offset 0x%" PRIx64 " + size 0x%"
				   PRIx64 " overflows", r->mmap_offset, r->size);
	return 0;
}

/* The file behind a region: a regular file that covers it.  0 or -errno. */
static int check_file(struct vq_vu_backend *b, const struct vq__vu_region *r, int fd,
		      uint64_t end, struct stat *st)
{
	if (fstat(fd, st) < 0)
		return vq__vu_fail(b, -errno, "fstat on the region fd: %s", strerror(errno));
	if (!S_ISREG(st->st_mode))
		return vq__vu_fail(b, -EBADF, "region fd is not a regular file (mode 0%o): "
				   "a memfd, tmpfs or hugetlbfs file is expected",
				   (unsigned)(st->st_mode & S_IFMT));
	if (end > (uint64_t)st->st_size)
		return vq__vu_fail(b, -EINVAL, "region mmap_offset 0x%" PRIx64 " + size 0x%"
				   PRIx64 " beyond the file size 0x%" PRIx64, r->mmap_offset,
				   r->size, (uint64_t)st->st_size);
	return 0;
}

/* Guard the mapping unless its file is sealed against shrinking. */
static int guard(struct vq_vu_backend *b, struct vq__vu_map *mp, int fd, uint64_t align)
{
	int seals = fcntl(fd, F_GET_SEALS);

	mp->guard = -1;
	if (seals >= 0 && (seals & F_SEAL_SHRINK))
		return 0;
	if (!vq_mem_guard_is_installed())
		return vq__vu_fail(b, -EPERM, "region file not sealed against shrinking "
				   "(F_SEAL_SHRINK) and no SIGBUS guard installed");
	/* Zero pages go in at the file's page size (hugetlbfs) when the
	 * mapping is aligned to it, else at the base page size. */
	if ((uintptr_t)mp->base & (align - 1))
		align = (uint64_t)sysconf(_SC_PAGESIZE);
	mp->guard = vq_mem_guard_add(mp->base, mp->len, (size_t)align, b->conn_fd);
	if (mp->guard < 0)
		return vq__vu_fail(b, mp->guard, "cannot guard the region against "
				   "shrinking: %s", strerror(-mp->guard));
	vq__vu_log(b, VQ_VU_LOG_DEBUG, "region gpa 0x%" PRIx64 ": file not sealed, "
		   "guarded against SIGBUS", mp->gpa);
	return 0;
}

/* Validate one region against its fd and map it.  0 or -errno. */
static int map_region(struct vq_vu_backend *b, const struct vq__vu_region *r, int fd,
		      struct vq__vu_map *out)
{
	struct stat st;
	uint64_t end = 0, len, align;
	void *p;
	int rc = check_region(b, r, &end);

	if (rc == 0)
		rc = check_file(b, r, fd, end, &st);
	if (rc < 0)
		return rc;
	align = map_align(&st);
	if (__builtin_add_overflow(end, align - 1, &len) || len > SIZE_MAX)
		return vq__vu_fail(b, -EOVERFLOW, "region too large to map");
	len &= ~(align - 1);
	p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return vq__vu_fail(b, -errno, "mmap of %" PRIu64 " bytes: %s", len, strerror(errno));
	*out = (struct vq__vu_map){ .gpa = r->gpa, .size = r->size, .uaddr = r->uaddr,
				    .mmap_offset = r->mmap_offset, .base = p, .len = (size_t)len,
				    .guard = -1, .fd = fcntl(fd, F_DUPFD_CLOEXEC, 3) };
	if (out->fd < 0)
		rc = vq__vu_fail(b, -errno, "dup of the region fd: %s", strerror(errno));
	else
		rc = guard(b, out, fd, align);
	if (rc < 0)
		unmap(out);
	return rc;
}

bool vq__vu_mem_faulted(struct vq_vu_backend *b)
{
	for (unsigned i = 0; i < b->nmaps; i++) {
		const struct vq__vu_map *mp = &b->maps[i];
		uintptr_t at = 0;
		unsigned n = vq_mem_guard_faults(mp->guard, &at);

		if (n == 0)
			continue;
		vq__vu_fail(b, -EFAULT, "guest memory shrank under the mapping: SIGBUS at file "
			    "offset 0x%zx of region gpa 0x%" PRIx64 " (%u faults; the frontend "
			    "truncated its memory file)", (size_t)(at - (uintptr_t)mp->base),
			    mp->gpa, n);
		return true;
	}
	return false;
}

static int add_to_map(struct vq_vu_backend *b, struct vq_mem *mem, const struct vq__vu_map *mp)
{
	struct vq_mem_region mr = {
		.gpa = mp->gpa, .size = mp->size, .uaddr = mp->uaddr, .prot = VQ_MEM_RW,
		.hva = (char *)mp->base + mp->mmap_offset,
	};
	int rc = vq_mem_add(mem, &mr);

	if (rc == -EEXIST)
		return vq__vu_fail(b, rc, "region gpa 0x%" PRIx64 "+0x%" PRIx64
				   " overlaps another region", mp->gpa, mp->size);
	if (rc < 0)
		return vq__vu_fail(b, rc, "region gpa 0x%" PRIx64 "+0x%" PRIx64
				   " refused by the memory map", mp->gpa, mp->size);
	return 0;
}

/* Only with every queue stopped. */
void vq__vu_mem_reset(struct vq_vu_backend *b)
{
	for (unsigned i = 0; i < b->nmaps; i++)
		unmap(&b->maps[i]);
	b->nmaps = 0;
	vq_mem_free(b->mem);
	b->mem = NULL;
}

static int build_table(struct vq_vu_backend *b, const struct vq__vu_msg *m,
		       struct vq_mem *mem, struct vq__vu_map *maps)
{
	const struct vq__vu_mem_table *t = &m->p.mem;
	int rc = 0;

	for (uint32_t i = 0; i < t->nregions && rc == 0; i++) {
		rc = map_region(b, &t->regions[i], m->fds[i], &maps[i]);
		if (rc == 0)
			rc = add_to_map(b, mem, &maps[i]);
	}
	return rc;
}

int vq__vu_h_set_mem_table(struct vq_vu_backend *b, struct vq__vu_msg *m,
			   struct vq__vu_reply *r)
{
	const struct vq__vu_mem_table *t = &m->p.mem;
	struct vq__vu_map maps[VQ_VU_MEM_TABLE_REGIONS];
	struct vq_mem *mem;
	int rc;

	if (t->nregions > VQ_VU_MEM_TABLE_REGIONS)
		return vq__vu_fail(b, -E2BIG, "%u regions > %u", t->nregions,
				   VQ_VU_MEM_TABLE_REGIONS);
	if (m->hdr.size < offsetof(struct vq__vu_mem_table, regions) + t->nregions * sizeof(t->regions[0]))
		return vq__vu_fail(b, -EBADMSG, "payload %u too short for %u regions",
				   m->hdr.size, t->nregions);
	if (m->nfds != t->nregions)
		return vq__vu_fail(b, -EBADF, "%u fds for %u regions", m->nfds, t->nregions);
	rc = vq_mem_new(&mem);
	if (rc < 0)
		return vq__vu_fail(b, rc, "out of memory");
	memset(maps, 0, sizeof(maps));
	rc = build_table(b, m, mem, maps);
	if (rc < 0) {
		for (unsigned i = 0; i < VQ_VU_MEM_TABLE_REGIONS; i++)
			unmap(&maps[i]);
		vq_mem_free(mem);
		return rc;
	}
	vq__vu_queues_pause(b);
	vq__vu_mem_reset(b);
	b->mem = mem;
	memcpy(b->maps, maps, t->nregions * sizeof(maps[0]));
	b->nmaps = t->nregions;
	vq__vu_queues_resume(b);
	return 0;
}

int vq__vu_h_add_mem_reg(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	struct vq__vu_map mp;
	int rc;

	if (b->nmaps >= b->max_slots)
		return vq__vu_fail(b, -ENOSPC, "already %u regions (max %u)", b->nmaps,
				   b->max_slots);
	if (!b->mem && (rc = vq_mem_new(&b->mem)) < 0)
		return vq__vu_fail(b, rc, "out of memory");
	rc = map_region(b, &m->p.single.region, m->fds[0], &mp);
	if (rc < 0)
		return rc;
	vq__vu_queues_pause(b);
	rc = add_to_map(b, b->mem, &mp);
	if (rc < 0)
		unmap(&mp);
	else
		b->maps[b->nmaps++] = mp;
	vq__vu_queues_resume(b);
	return rc;
}

int vq__vu_h_rem_mem_reg(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	const struct vq__vu_region *rg = &m->p.single.region;
	unsigned i;

	/* An fd, if any (tolerated by the spec), is closed unused. */
	for (i = 0; i < b->nmaps; i++)
		if (b->maps[i].gpa == rg->gpa && b->maps[i].size == rg->size &&
		    b->maps[i].uaddr == rg->uaddr)
			break;
	if (i == b->nmaps)
		return vq__vu_fail(b, -ENOENT, "no region gpa 0x%" PRIx64 "+0x%" PRIx64
				   " uaddr 0x%" PRIx64, rg->gpa, rg->size, rg->uaddr);
	vq__vu_queues_pause(b);
	vq_mem_remove(b->mem, rg->gpa, rg->size);
	unmap(&b->maps[i]);
	memmove(&b->maps[i], &b->maps[i + 1], (b->nmaps - i - 1) * sizeof(b->maps[0]));
	b->nmaps--;
	vq__vu_queues_resume(b);
	return 0;
}

int vq_vu_mem_fd(const struct vq_vu_backend *b, const void *hva, uint64_t len,
		 uint64_t *offset)
{
	uintptr_t p = (uintptr_t)hva, end;

	if (len == 0 || __builtin_add_overflow(p, (uintptr_t)len, &end))
		return -EINVAL;
	for (unsigned i = 0; i < b->nmaps; i++) {
		const struct vq__vu_map *mp = &b->maps[i];
		uintptr_t base = (uintptr_t)mp->base;

		if (!mp->base || mp->fd < 0 || p < base || end > base + mp->len)
			continue;
		*offset = (uint64_t)(p - base);
		return mp->fd;
	}
	return -ENOENT;
}
