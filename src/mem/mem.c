/* SPDX-License-Identifier: MIT */
/*
 * Guest-memory map: a gpa-sorted array of non-overlapping regions, looked up
 * by binary search behind a one-entry last-hit hint.  The hint is a relaxed
 * atomic, so concurrent readers only race on a harmless guess: every use of
 * it is re-validated against the region it names.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem_internal.h"

int vq_mem_new(struct vq_mem **out)
{
	struct vq_mem *m;

	if (!out)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	*out = m;
	return 0;
}

void vq_mem_free(struct vq_mem *m)
{
	free(m);
}

static bool in_region(const struct vq_mem_region *r, uint64_t addr)
{
	/* Unsigned wrap makes addr < gpa fail too; gpa + size never wraps. */
	return addr - r->gpa < r->size;
}

/* Index of the region holding addr, or -1. */
static int find(const struct vq_mem *m, uint64_t addr)
{
	unsigned n = m->n;
	unsigned h = __atomic_load_n(&m->hint, __ATOMIC_RELAXED);
	unsigned lo = 0, hi = n;

	if (h < n && in_region(&m->r[h], addr))
		return (int)h;
	while (lo < hi) {
		unsigned mid = lo + ((hi - lo) >> 1);

		if (addr < m->r[mid].gpa) {
			hi = mid;
		} else if (!in_region(&m->r[mid], addr)) {
			lo = mid + 1;
		} else {
			/* A guess only (see the file comment): no ordering needed. */
			__atomic_store_n((unsigned *)&m->hint, mid, __ATOMIC_RELAXED);
			return (int)mid;
		}
	}
	return -1;
}

/* First index whose gpa is >= gpa. */
static unsigned lower_bound(const struct vq_mem *m, uint64_t gpa)
{
	unsigned lo = 0, hi = m->n;

	while (lo < hi) {
		unsigned mid = lo + ((hi - lo) >> 1);

		if (m->r[mid].gpa < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int check_region(const struct vq_mem_region *r)
{
	uint64_t end;

	if (r->size == 0 || !r->hva || r->prot == 0 || (r->prot & ~VQ_MEM_RW))
		return -EINVAL;
	if (__builtin_add_overflow(r->gpa, r->size, &end) ||
	    __builtin_add_overflow(r->uaddr, r->size, &end) ||
	    __builtin_add_overflow((uint64_t)(uintptr_t)r->hva, r->size, &end) ||
	    r->size > SIZE_MAX)
		return -EOVERFLOW;
	return 0;
}

int vq_mem_add(struct vq_mem *m, const struct vq_mem_region *r)
{
	unsigned pos;
	int rc;

	if (!m || !r)
		return -EINVAL;
	rc = check_region(r);
	if (rc)
		return rc;
	if (m->n >= VQ_MEM_MAX_REGIONS)
		return -ENOSPC;
	pos = lower_bound(m, r->gpa);
	/* Neither neighbour may reach into [gpa, gpa+size); no sum wraps. */
	if (pos < m->n && m->r[pos].gpa - r->gpa < r->size)
		return -EEXIST;
	if (pos > 0 && r->gpa - m->r[pos - 1].gpa < m->r[pos - 1].size)
		return -EEXIST;
	memmove(&m->r[pos + 1], &m->r[pos], (m->n - pos) * sizeof(m->r[0]));
	m->r[pos] = *r;
	m->n++;
	m->hint = 0;
	return 0;
}

int vq_mem_remove(struct vq_mem *m, uint64_t gpa, uint64_t size)
{
	unsigned pos;

	if (!m)
		return -EINVAL;
	pos = lower_bound(m, gpa);
	if (pos >= m->n || m->r[pos].gpa != gpa || m->r[pos].size != size)
		return -ENOENT;
	memmove(&m->r[pos], &m->r[pos + 1], (m->n - pos - 1) * sizeof(m->r[0]));
	m->n--;
	m->hint = 0;
	return 0;
}

void vq_mem_clear(struct vq_mem *m)
{
	if (!m)
		return;
	m->n = 0;
	m->hint = 0;
}

unsigned vq_mem_count(const struct vq_mem *m)
{
	return m ? m->n : 0;
}

int vq_mem_region_at(const struct vq_mem *m, unsigned i, struct vq_mem_region *out)
{
	if (!m || !out || i >= m->n)
		return -EINVAL;
	*out = m->r[i];
	return 0;
}

/*
 * The region holding addr with access prot; *avail gets the bytes from addr
 * to the region's end.  Returns the region, or NULL with *err set.
 */
static const struct vq_mem_region *lookup(const struct vq_mem *m, uint64_t addr,
					  uint32_t prot, uint64_t *avail, int *err)
{
	int i = find(m, addr);
	const struct vq_mem_region *r;

	if (i < 0) {
		*err = -EFAULT;
		return NULL;
	}
	r = &m->r[i];
	if ((r->prot & prot) != prot) {
		*err = -EACCES;
		return NULL;
	}
	*avail = r->size - (addr - r->gpa);
	return r;
}

/*
 * One step of a walk over [*addr, *addr + *len): *hva and *chunk get the
 * next piece, which lies in one region with access prot; *addr and *len
 * move past it.  0, or -errno from lookup().
 */
static int next_chunk(const struct vq_mem *m, uint64_t *addr, uint64_t *len,
		      uint32_t prot, void **hva, uint64_t *chunk)
{
	int err = 0;
	const struct vq_mem_region *r = lookup(m, *addr, prot, chunk, &err);

	if (!r)
		return err;
	if (*chunk > *len)
		*chunk = *len;
	*hva = (char *)r->hva + (*addr - r->gpa);
	*addr += *chunk;
	*len -= *chunk;
	return 0;
}

/*
 * Walk [addr, addr + len) in pieces that each lie in one region with access
 * prot.  Piece i goes to iov[i] while i < max_iov (the rest are only checked,
 * so that a fault anywhere is reported ahead of a short array), and its bytes
 * are copied to copy, when not NULL.  Returns the number of pieces or -errno.
 */
static inline int walk(const struct vq_mem *m, uint64_t addr, uint64_t len, uint32_t prot,
		       struct iovec *iov, unsigned max_iov, unsigned char *copy)
{
	unsigned n = 0;
	uint64_t end;

	if (__builtin_add_overflow(addr, len, &end))
		return -EOVERFLOW;
	while (len) {
		void *p;
		uint64_t chunk;
		int err = next_chunk(m, &addr, &len, prot, &p, &chunk);

		if (err)
			return err;
		if (n < max_iov)
			iov[n] = (struct iovec){ p, (size_t)chunk };
		if (copy) {
			memcpy(copy, p, (size_t)chunk);
			copy += chunk;
		}
		n++;
	}
	return (int)n;
}

int vq_mem_translate(const struct vq_mem *m, uint64_t addr, uint64_t len,
		     uint32_t prot, struct iovec *iov, unsigned max_iov)
{
	int n = walk(m, addr, len, prot, iov, max_iov, NULL);

	return n >= 0 && (unsigned)n > max_iov ? -ENOBUFS : n;
}

void *vq_mem_ptr(const struct vq_mem *m, uint64_t addr, uint64_t len, uint32_t prot)
{
	uint64_t avail;
	int err;
	const struct vq_mem_region *r;

	if (!m)
		return NULL;
	r = lookup(m, addr, prot, &avail, &err);
	if (!r || len > avail)
		return NULL;
	return (char *)r->hva + (addr - r->gpa);
}

void *vq_mem_uaddr_ptr(const struct vq_mem *m, uint64_t uaddr, uint64_t len, uint32_t prot)
{
	if (!m)
		return NULL;
	for (unsigned i = 0; i < m->n; i++) {
		const struct vq_mem_region *r = &m->r[i];
		uint64_t off = uaddr - r->uaddr;

		if (r->uaddr == 0 || off >= r->size)
			continue; /* uaddr 0: region has no frontend address */
		if ((r->prot & prot) != prot || len > r->size - off)
			return NULL;
		return (char *)r->hva + off;
	}
	return NULL;
}

int vq__mem_read(const struct vq_mem *m, uint64_t addr, void *dst, uint64_t len)
{
	int n = walk(m, addr, len, VQ_MEM_READ, NULL, 0, dst);

	return n < 0 ? n : 0;
}
