/* SPDX-License-Identifier: MIT */
/*
 * An AVL tree of disjoint ranges keyed by their start, augmented with the
 * largest range size in each subtree.  The IOVA allocator keeps its free
 * ranges in one (first fit descends by that maximum); the IOVA->HVA and
 * GPA->IOVA maps are two more.  Every operation is O(log n), except
 * vq__itree_first_fit, which is O(log n) plus the number of ranges that are
 * large enough but cannot hold the block at the requested alignment.
 * Not installed.
 */
#ifndef VQ_IOVA_ITREE_H
#define VQ_IOVA_ITREE_H

#include <stdbool.h>
#include <stdint.h>

struct vq__inode {
	struct vq__inode *l, *r;
	uint64_t start;  /* key */
	uint64_t size;   /* bytes, > 0; start + size - 1 never wraps */
	uint64_t max;    /* largest size in this subtree */
	int h;           /* height; a leaf is 1 */
	/* payload, unused by the tree itself */
	uint64_t to;     /* GPA map: IOVA of start */
	void *hva;       /* host address of start (maps) */
	uint32_t prot;   /* VQ_MEM_READ / VQ_MEM_WRITE (maps) */
};

/* Insert n (its l, r, h, max are set here).  The caller checked that it
 * overlaps nothing.  Returns the new root. */
struct vq__inode *vq__itree_insert(struct vq__inode *root, struct vq__inode *n);

/* Unlink the node whose start is key and return the new root; *out gets
 * the unlinked node (NULL when no node starts at key).  The caller frees it. */
struct vq__inode *vq__itree_remove(struct vq__inode *root, uint64_t key,
				   struct vq__inode **out);

/* The node with the largest start <= key, or NULL. */
struct vq__inode *vq__itree_le(struct vq__inode *root, uint64_t key);

/* The node with the smallest start >= key, or NULL. */
struct vq__inode *vq__itree_ge(struct vq__inode *root, uint64_t key);

/* The node holding key (start <= key <= start + size - 1), or NULL. */
struct vq__inode *vq__itree_find(struct vq__inode *root, uint64_t key);

/* Does any node overlap [start, start + size)?  size > 0, no wrap. */
bool vq__itree_overlaps(struct vq__inode *root, uint64_t start, uint64_t size);

/*
 * First fit: the lowest-addressed node with room for size bytes at an
 * address that is a multiple of align (a power of two).  Returns the node
 * and *at, or NULL.
 */
struct vq__inode *vq__itree_first_fit(struct vq__inode *root, uint64_t size,
				      uint64_t align, uint64_t *at);

/* Call fn on every node in key order; stops at and returns the first
 * non-zero return of fn. */
int vq__itree_walk(struct vq__inode *root, int (*fn)(struct vq__inode *n, void *arg),
		   void *arg);

/* Free every node. */
void vq__itree_destroy(struct vq__inode *root);

#endif
