/* SPDX-License-Identifier: MIT */
/* IOVA allocator and the IOVA->HVA and GPA->IOVA trees (include/virtq/iova.h). */
#include <errno.h>
#include <stdlib.h>

#include <virtq/iova.h>

#include "iova/itree.h"

/* A guest map as the lookup index holds it. */
struct gmap {
	uint64_t size;
	uint64_t to;    /* IOVA of the first byte */
	uint32_t prot;
};

struct vq_iova {
	uint64_t base, last;       /* window [base, last] */
	uint64_t align;            /* of maps */
	struct vq__inode *free;    /* free ranges, by IOVA */
	struct vq__inode *host;    /* host maps, by IOVA */
	struct vq__inode *guest;   /* guest maps, by GPA */
	uint64_t free_bytes;
	unsigned nfree, nhost, nguest;
	/*
	 * The guest tree flattened for translation: starts sorted (gkey) and
	 * the maps beside them (gmap), rebuilt on every guest map change
	 * (O(n), rare) so that a lookup is a branch-free binary search over
	 * one dense array (O(log n), few cache lines) instead of a pointer
	 * walk.  gcap entries are allocated.
	 */
	uint64_t *gkey;
	struct gmap *gmap;
	unsigned gcap;
};

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static struct vq__inode *node_new(uint64_t start, uint64_t size)
{
	struct vq__inode *n = calloc(1, sizeof(*n));

	if (n) {
		n->start = start;
		n->size = size;
	}
	return n;
}

int vq_iova_new(const struct vq_iova_params *p, struct vq_iova **out)
{
	uint64_t align = p->align ? p->align : 4096;
	struct vq_iova *t;
	struct vq__inode *n;

	*out = NULL;
	if (p->size == 0 || p->base + (p->size - 1) < p->base || !is_pow2(align))
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	n = node_new(p->base, p->size);
	if (!t || !n) {
		free(t);
		free(n);
		return -ENOMEM;
	}
	t->base = p->base;
	t->last = p->base + (p->size - 1);
	t->align = align;
	t->free = vq__itree_insert(NULL, n);
	t->free_bytes = p->size;
	t->nfree = 1;
	*out = t;
	return 0;
}

void vq_iova_free(struct vq_iova *t)
{
	if (!t)
		return;
	vq__itree_destroy(t->free);
	vq__itree_destroy(t->host);
	vq__itree_destroy(t->guest);
	free(t->gkey);
	free(t->gmap);
	free(t);
}

/*
 * Carve [at, at + size) out of free range n, leaving the pieces before and
 * after it free.  Allocates the after-piece first so that -ENOMEM changes
 * nothing.
 */
static int carve(struct vq_iova *t, struct vq__inode *n, uint64_t at, uint64_t size)
{
	uint64_t head = at - n->start, tail = n->size - head - size;
	struct vq__inode *rest = NULL, *gone;

	if (tail && head) {
		rest = node_new(at + size, tail);
		if (!rest)
			return -ENOMEM;
	}
	t->free = vq__itree_remove(t->free, n->start, &gone);
	t->nfree--;
	if (head) {
		n->size = head;
		t->free = vq__itree_insert(t->free, n);
		t->nfree++;
	} else if (tail) {
		rest = n;
		rest->start = at + size;
		rest->size = tail;
	} else {
		free(n);
	}
	if (rest) {
		t->free = vq__itree_insert(t->free, rest);
		t->nfree++;
	}
	t->free_bytes -= size;
	return 0;
}

int vq_iova_alloc(struct vq_iova *t, uint64_t size, uint64_t align, uint64_t *iova)
{
	struct vq__inode *n;
	uint64_t at;
	int rc;

	if (!align)
		align = t->align;
	if (size == 0 || !is_pow2(align))
		return -EINVAL;
	n = vq__itree_first_fit(t->free, size, align, &at);
	if (!n)
		return -ENOSPC;
	rc = carve(t, n, at, size);
	if (rc == 0)
		*iova = at;
	return rc;
}

int vq_iova_reserve(struct vq_iova *t, uint64_t iova, uint64_t size)
{
	struct vq__inode *n;

	if (size == 0 || iova + (size - 1) < iova)
		return -EINVAL;
	n = vq__itree_find(t->free, iova);
	if (!n || n->size - (iova - n->start) < size)
		return -EBUSY;
	return carve(t, n, iova, size);
}

int vq_iova_release(struct vq_iova *t, uint64_t iova, uint64_t size)
{
	struct vq__inode *prev, *next, *gone, *n;
	uint64_t end; /* last byte */

	if (size == 0 || __builtin_add_overflow(iova, size - 1, &end) ||
	    iova < t->base || end > t->last || vq__itree_overlaps(t->free, iova, size))
		return -EINVAL;
	prev = vq__itree_le(t->free, iova);
	if (prev && prev->start + prev->size != iova)
		prev = NULL;
	next = end < t->last ? vq__itree_find(t->free, end + 1) : NULL;
	if (prev) {                     /* grow prev over the range, and next */
		prev->size += size;
		if (next) {
			t->free = vq__itree_remove(t->free, next->start, &gone);
			prev->size += gone->size;
			free(gone);
			t->nfree--;
		}
		/* prev's key is unchanged; refresh the maxima on its path. */
		t->free = vq__itree_remove(t->free, prev->start, &gone);
		t->free = vq__itree_insert(t->free, gone);
	} else if (next) {              /* move next's start down */
		t->free = vq__itree_remove(t->free, next->start, &gone);
		gone->start = iova;
		gone->size += size;
		t->free = vq__itree_insert(t->free, gone);
	} else {
		n = node_new(iova, size);
		if (!n)
			return -ENOMEM;
		t->free = vq__itree_insert(t->free, n);
		t->nfree++;
	}
	t->free_bytes += size;
	return 0;
}

uint64_t vq_iova_free_bytes(const struct vq_iova *t)
{
	return t->free_bytes;
}

unsigned vq_iova_free_ranges(const struct vq_iova *t)
{
	return t->nfree;
}

/* ---- maps */

static int map_args_ok(const void *hva, uint64_t size, uint32_t prot)
{
	uintptr_t end;

	if (size == 0 || !hva || !prot || (prot & ~VQ_MEM_RW))
		return -EINVAL;
	if (__builtin_add_overflow((uintptr_t)hva, (uintptr_t)(size - 1), &end) ||
	    size - 1 > UINTPTR_MAX)
		return -EOVERFLOW;
	return 0;
}

int vq_iova_map_host(struct vq_iova *t, void *hva, uint64_t size, uint32_t prot,
		     uint64_t *iova)
{
	struct vq__inode *n;
	int rc = map_args_ok(hva, size, prot);

	if (rc)
		return rc;
	n = node_new(0, size);
	if (!n)
		return -ENOMEM;
	rc = vq_iova_alloc(t, size, 0, &n->start);
	if (rc) {
		free(n);
		return rc;
	}
	n->hva = hva;
	n->prot = prot;
	t->host = vq__itree_insert(t->host, n);
	t->nhost++;
	*iova = n->start;
	return 0;
}

int vq_iova_unmap_host(struct vq_iova *t, uint64_t iova)
{
	struct vq__inode *n;

	t->host = vq__itree_remove(t->host, iova, &n);
	if (!n)
		return -ENOENT;
	t->nhost--;
	/* The range was allocated by map_host: release cannot fail but for
	 * -ENOMEM, which loses IOVA space and nothing else. */
	(void)vq_iova_release(t, n->start, n->size);
	free(n);
	return 0;
}

void *vq_iova_host_ptr(const struct vq_iova *t, uint64_t iova, uint64_t len, uint32_t prot)
{
	const struct vq__inode *n = vq__itree_find(t->host, iova);
	uint64_t off;

	if (!n || len == 0 || (n->prot & prot) != prot)
		return NULL;
	off = iova - n->start;
	if (len > n->size - off)
		return NULL;
	return (char *)n->hva + off;
}

/* Room in the index for n maps.  0 or -ENOMEM (nothing changed). */
static int gidx_reserve(struct vq_iova *t, unsigned n)
{
	unsigned cap = t->gcap ? t->gcap : 16;
	uint64_t *k;
	struct gmap *m;

	if (n <= t->gcap)
		return 0;
	while (cap < n)
		cap *= 2;
	k = realloc(t->gkey, cap * sizeof(*k));
	if (!k)
		return -ENOMEM;
	t->gkey = k;
	m = realloc(t->gmap, cap * sizeof(*m));
	if (!m)
		return -ENOMEM;
	t->gmap = m;
	t->gcap = cap;
	return 0;
}

struct gidx_fill {
	struct vq_iova *t;
	unsigned i;
};

static int gidx_put(struct vq__inode *n, void *arg)
{
	struct gidx_fill *f = arg;

	f->t->gkey[f->i] = n->start;
	f->t->gmap[f->i] = (struct gmap){ .size = n->size, .to = n->to, .prot = n->prot };
	f->i++;
	return 0;
}

/* Rebuild the index from the tree (room was reserved). */
static void gidx_rebuild(struct vq_iova *t)
{
	struct gidx_fill f = { t, 0 };

	(void)vq__itree_walk(t->guest, gidx_put, &f);
}

/* Index of the map holding gpa, or -1. */
static long gidx_find(const struct vq_iova *t, uint64_t gpa)
{
	const uint64_t *k = t->gkey;
	unsigned n = t->nguest, at = 0;

	if (n == 0 || gpa < k[0])
		return -1;
	/* Largest start <= gpa; the comparison feeds an add, not a branch. */
	while (n > 1) {
		unsigned half = n / 2;

		at += (k[at + half] <= gpa) ? half : 0;
		n -= half;
	}
	return gpa - k[at] < t->gmap[at].size ? (long)at : -1;
}

int vq_iova_map_guest(struct vq_iova *t, const struct vq_mem_region *r, uint64_t *iova)
{
	struct vq__inode *n;
	int rc = map_args_ok(r->hva, r->size, r->prot);

	if (rc)
		return rc;
	if (r->gpa + (r->size - 1) < r->gpa)
		return -EOVERFLOW;
	if (vq__itree_overlaps(t->guest, r->gpa, r->size))
		return -EEXIST;
	if (gidx_reserve(t, t->nguest + 1))
		return -ENOMEM;
	n = node_new(r->gpa, r->size);
	if (!n)
		return -ENOMEM;
	rc = vq_iova_alloc(t, r->size, 0, &n->to);
	if (rc) {
		free(n);
		return rc;
	}
	n->hva = r->hva;
	n->prot = r->prot;
	t->guest = vq__itree_insert(t->guest, n);
	t->nguest++;
	gidx_rebuild(t);
	*iova = n->to;
	return 0;
}

int vq_iova_unmap_guest(struct vq_iova *t, uint64_t gpa, uint64_t size)
{
	struct vq__inode *n = vq__itree_find(t->guest, gpa);

	if (!n || n->start != gpa || n->size != size)
		return -ENOENT;
	t->guest = vq__itree_remove(t->guest, gpa, &n);
	t->nguest--;
	gidx_rebuild(t);
	(void)vq_iova_release(t, n->to, n->size);
	free(n);
	return 0;
}

int vq_iova_guest_iova(const struct vq_iova *t, uint64_t gpa, uint64_t *iova)
{
	long i = gidx_find(t, gpa);

	if (i < 0)
		return -EFAULT;
	*iova = t->gmap[i].to + (gpa - t->gkey[i]);
	return 0;
}

int vq_iova_translate(const struct vq_iova *t, uint64_t gpa, uint64_t len, uint32_t prot,
		      struct vq_iova_seg *seg, unsigned max)
{
	unsigned nseg = 0;
	uint64_t end;

	if (len == 0)
		return 0;
	if (__builtin_add_overflow(gpa, len - 1, &end))
		return -EOVERFLOW;
	for (;;) {
		long i = gidx_find(t, gpa);
		const struct gmap *m;
		uint64_t off, piece, iova;

		if (i < 0)
			return -EFAULT;
		m = &t->gmap[i];
		if ((m->prot & prot) != prot)
			return -EACCES;
		off = gpa - t->gkey[i];
		piece = m->size - off;
		if (piece > end - gpa + 1)
			piece = end - gpa + 1;
		iova = m->to + off;
		if (nseg && seg[nseg - 1].iova + seg[nseg - 1].len == iova) {
			seg[nseg - 1].len += piece;
		} else {
			if (nseg == max)
				return -ENOBUFS;
			seg[nseg].iova = iova;
			seg[nseg].len = piece;
			nseg++;
		}
		if (end - gpa + 1 == piece)
			return (int)nseg;
		gpa += piece;
	}
}

/* Is guest map n region r, exactly? */
static bool same_region(const struct vq__inode *n, const struct vq_mem_region *r)
{
	return n->start == r->gpa && n->size == r->size && n->hva == r->hva &&
	       n->prot == r->prot;
}

/* Does m hold a region exactly like guest map n? */
static bool in_mem(const struct vq__inode *n, const struct vq_mem *m)
{
	unsigned cnt = vq_mem_count(m);

	/* m is sorted by gpa: binary search for the region at n->start. */
	for (unsigned lo = 0, hi = cnt; lo < hi;) {
		unsigned mid = lo + (hi - lo) / 2;
		struct vq_mem_region r;

		if (vq_mem_region_at(m, mid, &r))
			return false;
		if (r.gpa == n->start)
			return same_region(n, &r);
		if (r.gpa < n->start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int vq_iova_sync_guest(struct vq_iova *t, const struct vq_mem *m)
{
	struct vq__inode *n = vq__itree_ge(t->guest, 0);
	int changes = 0, rc;

	while (n) {                     /* unmap what m no longer holds */
		uint64_t next_key = n->start + (n->size - 1);
		bool last = next_key == UINT64_MAX;

		if (!in_mem(n, m)) {
			(void)vq_iova_unmap_guest(t, n->start, n->size);
			changes++;
		}
		n = last ? NULL : vq__itree_ge(t->guest, next_key + 1);
	}
	for (unsigned i = 0; i < vq_mem_count(m); i++) {
		struct vq_mem_region r;
		const struct vq__inode *g;
		uint64_t iova;

		if (vq_mem_region_at(m, i, &r))
			break;
		g = vq__itree_find(t->guest, r.gpa);
		if (g && same_region(g, &r))
			continue;
		rc = vq_iova_map_guest(t, &r, &iova);
		if (rc)
			return rc;
		changes++;
	}
	return changes;
}

unsigned vq_iova_host_count(const struct vq_iova *t)
{
	return t->nhost;
}

unsigned vq_iova_guest_count(const struct vq_iova *t)
{
	return t->nguest;
}

static int add_host(struct vq__inode *n, void *m)
{
	struct vq_mem_region r = { .gpa = n->start, .size = n->size, .hva = n->hva,
				   .prot = n->prot };

	return vq_mem_add(m, &r);
}

static int add_guest(struct vq__inode *n, void *m)
{
	struct vq_mem_region r = { .gpa = n->to, .size = n->size, .hva = n->hva,
				   .prot = n->prot };

	return vq_mem_add(m, &r);
}

int vq_iova_to_mem(const struct vq_iova *t, struct vq_mem *m)
{
	int rc;

	vq_mem_clear(m);
	rc = vq__itree_walk(t->host, add_host, m);
	if (!rc)
		rc = vq__itree_walk(t->guest, add_guest, m);
	if (rc)
		vq_mem_clear(m);
	return rc;
}
