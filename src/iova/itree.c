/* SPDX-License-Identifier: MIT */
/* AVL tree of disjoint ranges with a per-subtree maximum size (itree.h). */
#include <stdlib.h>

#include "iova/itree.h"

static int height(const struct vq__inode *n)
{
	return n ? n->h : 0;
}

static uint64_t max_of(const struct vq__inode *n)
{
	return n ? n->max : 0;
}

/* Recompute n's height and maximum from its children. */
static void update(struct vq__inode *n)
{
	int hl = height(n->l), hr = height(n->r);
	uint64_t m = n->size;

	n->h = 1 + (hl > hr ? hl : hr);
	if (max_of(n->l) > m)
		m = max_of(n->l);
	if (max_of(n->r) > m)
		m = max_of(n->r);
	n->max = m;
}

/* The child of n on side s: 0 the left, 1 the right. */
static struct vq__inode **child(struct vq__inode *n, int s)
{
	return s ? &n->r : &n->l;
}

/* Rotate n down to side s: its child on the other side takes its place and
 * is returned (s = 1 is a right rotation). */
static struct vq__inode *rotate(struct vq__inode *n, int s)
{
	struct vq__inode *c = *child(n, !s);

	*child(n, !s) = *child(c, s);
	*child(c, s) = n;
	update(n);
	update(c);
	return c;
}

/* Restore the AVL balance at n after one of its subtrees changed by one. */
static struct vq__inode *balance(struct vq__inode *n)
{
	int bf, tall;
	struct vq__inode **t;

	update(n);
	bf = height(n->l) - height(n->r);
	if (bf >= -1 && bf <= 1)
		return n;
	tall = bf < 0; /* the side two higher than the other */
	t = child(n, tall);
	/* An inner-heavy child turns first (the double rotation). */
	if (height(*child(*t, tall)) < height(*child(*t, !tall)))
		*t = rotate(*t, tall);
	return rotate(n, !tall);
}

struct vq__inode *vq__itree_insert(struct vq__inode *root, struct vq__inode *n)
{
	if (!root) {
		n->l = n->r = NULL;
		n->h = 1;
		n->max = n->size;
		return n;
	}
	if (n->start < root->start)
		root->l = vq__itree_insert(root->l, n);
	else
		root->r = vq__itree_insert(root->r, n);
	return balance(root);
}

/* Unlink the leftmost node of root into *min; returns the new root. */
static struct vq__inode *remove_min(struct vq__inode *root, struct vq__inode **min)
{
	if (!root->l) {
		*min = root;
		return root->r;
	}
	root->l = remove_min(root->l, min);
	return balance(root);
}

struct vq__inode *vq__itree_remove(struct vq__inode *root, uint64_t key,
				   struct vq__inode **out)
{
	struct vq__inode *succ;

	if (!root) {
		*out = NULL;
		return NULL;
	}
	if (key < root->start) {
		root->l = vq__itree_remove(root->l, key, out);
	} else if (key > root->start) {
		root->r = vq__itree_remove(root->r, key, out);
	} else {
		*out = root;
		if (!root->l || !root->r)
			return root->l ? root->l : root->r;
		root->r = remove_min(root->r, &succ);
		succ->l = root->l;
		succ->r = root->r;
		return balance(succ);
	}
	return balance(root);
}

/* The node nearest to key on side s of it (s = 0: the largest start <= key,
 * s = 1: the smallest start >= key), or NULL. */
static struct vq__inode *nearest(struct vq__inode *root, uint64_t key, int s)
{
	struct vq__inode *best = NULL;

	while (root) {
		int hit = s ? root->start >= key : root->start <= key;

		if (hit)
			best = root;
		/* past a hit look closer to key, else further towards side s */
		root = *child(root, hit ^ s);
	}
	return best;
}

struct vq__inode *vq__itree_le(struct vq__inode *root, uint64_t key)
{
	return nearest(root, key, 0);
}

struct vq__inode *vq__itree_ge(struct vq__inode *root, uint64_t key)
{
	return nearest(root, key, 1);
}

struct vq__inode *vq__itree_find(struct vq__inode *root, uint64_t key)
{
	struct vq__inode *n = vq__itree_le(root, key);

	return n && key - n->start < n->size ? n : NULL;
}

bool vq__itree_overlaps(struct vq__inode *root, uint64_t start, uint64_t size)
{
	struct vq__inode *n = vq__itree_le(root, start);

	if (n && start - n->start < n->size)
		return true;
	n = vq__itree_ge(root, start);
	return n && n->start - start < size;
}

/* Does n hold size bytes at a multiple of align?  Sets *at. */
static bool fits(const struct vq__inode *n, uint64_t size, uint64_t align, uint64_t *at)
{
	uint64_t a;

	if (n->size < size)
		return false;
	if (__builtin_add_overflow(n->start, align - 1, &a))
		return false;
	a &= ~(align - 1);
	if (a - n->start > n->size - size)
		return false;
	*at = a;
	return true;
}

struct vq__inode *vq__itree_first_fit(struct vq__inode *root, uint64_t size,
				      uint64_t align, uint64_t *at)
{
	struct vq__inode *n;

	/* No range in this subtree is large enough: prune it. */
	if (!root || root->max < size)
		return NULL;
	n = vq__itree_first_fit(root->l, size, align, at);
	if (n)
		return n;
	if (fits(root, size, align, at))
		return root;
	return vq__itree_first_fit(root->r, size, align, at);
}

int vq__itree_walk(struct vq__inode *root, int (*fn)(struct vq__inode *n, void *arg),
		   void *arg)
{
	int rc;

	if (!root)
		return 0;
	rc = vq__itree_walk(root->l, fn, arg);
	if (rc)
		return rc;
	/* fn may free root: read the right child first. */
	struct vq__inode *r = root->r;

	rc = fn(root, arg);
	if (rc)
		return rc;
	return vq__itree_walk(r, fn, arg);
}

void vq__itree_destroy(struct vq__inode *root)
{
	if (!root)
		return;
	vq__itree_destroy(root->l);
	vq__itree_destroy(root->r);
	free(root);
}
