/* SPDX-License-Identifier: MIT */
/*
 * EXPERIMENTAL header/data split, driver side (net_split.h): one receive
 * queue that posts the buffers of its method, reassembles frames, checks
 * what the device says against the method, and lends frames to the
 * application without copying until it releases them, in any order.
 *
 * A unit is what one ring entry posts: a page (B), ratio contiguous pages
 * (none, HDR_RING), a header buffer or a page (C), a header buffer and
 * ratio pages (A).  A frame is a
 * list of units (next[]); its first unit names it (ref) and holds its views.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/net.h>
#include <virtq/net_split.h>
#include <virtq/ring.h>

#define PAGE 4096u
#define MAXSEG 17u /* segments of one unit: A's header buffer and 16 pages */
#define MAXV 80u   /* views of one frame (a 64 KiB frame in 256 B + page buffers: 34) */
#define HS 12u     /* B, C, HDR_RING need MRG_RXBUF: a 12-byte header */
#define BURST 32u  /* buffers posted or taken from the ring at a time */
#define NONE UINT32_MAX

enum { U_FREE, U_POSTED, U_HELD, U_LENT, U_LENT_MORE }; /* U_LENT: a frame's first unit */

struct vq_splitdrv {
	struct vq_splitdrv_params p;
	uint64_t method;     /* one VQ_NET_F_SPLIT_* bit, or 0 */
	uint32_t hs;         /* virtio-net header bytes */
	bool mrg;
	struct vq_drv *vq;
	uint8_t *mem;        /* host view of the memory */
	uint64_t addr;       /* its driver address */
	uint64_t hdr_off;    /* header buffers / ring entries, from mem */
	uint64_t tail_off;   /* HDR_RING tail */
	uint32_t units, nhdr, upp; /* units; C header units; pages per unit (A, none, HDR_RING) */
	uint8_t *state;
	uint32_t *next, *ulen, *entry, *nv;
	struct iovec *views; /* MAXV per unit (first units only) */
	uint32_t *freeh, *freep; /* free stacks: C header units; the others */
	uint32_t nfreeh, nfreep;
	uint32_t posted, phase; /* units the device holds; C posting pattern */
	/* used buffers got from the ring in a burst, not taken yet: [gi, gn) */
	void *gtok[BURST];
	uint32_t glen[BURST];
	unsigned gi, gn;
	/* the frame being reassembled */
	bool active;
	uint32_t first, last, need, nunits;
	struct virtio_net_hdr_v1 hdr;
	/* HDR_RING: entries used by the device (head), released in order (rel),
	 * entries released out of order (hr_done set, hr_ooo of them), the tail
	 * last stored (rel + entries: stored again before the next posting) */
	uint16_t hr_head, hr_rel, hr_ooo, hr_tail;
	uint8_t *hr_done;
	struct vq_splitdrv_stats st;
	bool broken;
	char err[160];
};

static int fail(struct vq_splitdrv *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(struct vq_splitdrv *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->broken) {
		va_start(ap, fmt);
		vsnprintf(s->err, sizeof(s->err), fmt, ap);
		va_end(ap);
	}
	s->broken = true;
	return -EIO;
}

static bool is_hdr_unit(const struct vq_splitdrv *s, uint32_t u)
{
	return s->method == VQ_NET_F_SPLIT_C && u < s->nhdr;
}

/* Segments of unit u (driver addresses and host pointers).  Returns count. */
static unsigned unit_segs(const struct vq_splitdrv *s, uint32_t u, struct vq_seg *sg,
			  uint8_t **host)
{
	uint64_t off[MAXSEG];
	uint32_t len[MAXSEG];
	unsigned n = 0;

	if (s->method == VQ_NET_F_SPLIT_A) {
		off[n] = s->hdr_off + (uint64_t)u * s->p.hdr_size;
		len[n++] = s->p.hdr_size;
		for (uint32_t i = 0; i < s->upp; i++, n++) {
			off[n] = (uint64_t)(u * s->upp + i) * PAGE;
			len[n] = PAGE;
		}
	} else if (is_hdr_unit(s, u)) {
		off[n] = s->hdr_off + (uint64_t)u * s->p.hdr_size;
		len[n++] = s->p.hdr_size;
	} else { /* upp contiguous pages: 1 but for none and HDR_RING */
		uint32_t pg = (u - (s->method == VQ_NET_F_SPLIT_C ? s->nhdr : 0)) * s->upp;

		off[n] = (uint64_t)pg * PAGE;
		if (s->method == VQ_NET_F_SPLIT_HDR_RING)
			off[n] += PAGE - HS; /* page pg+1 starts after the header */
		len[n++] = s->upp * PAGE;
	}
	for (unsigned i = 0; i < n; i++) {
		if (sg)
			sg[i] = (struct vq_seg){ s->addr + off[i], len[i] };
		if (host)
			host[i] = s->mem + off[i];
	}
	return n;
}

static uint32_t unit_bytes(const struct vq_splitdrv *s, uint32_t u)
{
	if (s->method == VQ_NET_F_SPLIT_A)
		return s->p.hdr_size + s->upp * PAGE;
	return is_hdr_unit(s, u) ? s->p.hdr_size : s->upp * PAGE;
}

static void put_free(struct vq_splitdrv *s, uint32_t u)
{
	s->state[u] = U_FREE;
	if (is_hdr_unit(s, u))
		s->freeh[s->nfreeh++] = u;
	else
		s->freep[s->nfreep++] = u;
}

/* ---- creation */

static int check(const struct vq_splitdrv_params *p, uint64_t *method)
{
	uint64_t m = p->features & VQ_NET_F_SPLIT_ALL;
	bool mrg = p->features & VQ_NET_F(VIRTIO_NET_F_MRG_RXBUF);

	if (__builtin_popcountll(m) > 1 || !p->alloc || !p->queue_size ||
	    p->queue_size > VQ_MAX_QUEUE_SIZE || p->pages > (1u << 20) ||
	    p->hdr_bufs > (1u << 16) || p->ratio > 16)
		return -EINVAL;
	if (m != VQ_NET_F_SPLIT_A && !mrg)
		return -EINVAL; /* mergeable pages, or A's chains */
	if (m == VQ_NET_F_SPLIT_HDR_RING && p->hdr_size &&
	    (p->hdr_size < 64 || p->hdr_size > 4096 || p->hdr_bufs > 32768))
		return -EINVAL;
	if ((m == VQ_NET_F_SPLIT_A || m == VQ_NET_F_SPLIT_C) && p->hdr_size &&
	    (p->hdr_size < 64 || p->hdr_size >= VQ_NET_SPLIT_C_DATA_MIN))
		return -EINVAL;
	*method = m;
	return 0;
}

/* Geometry: units, header units, bytes of memory. */
static int plan(struct vq_splitdrv *s, uint64_t *bytes)
{
	struct vq_splitdrv_params *p = &s->p;
	uint64_t pg_bytes;

	if (!p->pages)
		p->pages = p->queue_size;
	if (!p->hdr_bufs)
		p->hdr_bufs = p->queue_size;
	if (!p->hdr_size)
		p->hdr_size = s->method == VQ_NET_F_SPLIT_HDR_RING ? 128 : 256;
	if (!p->ratio)
		p->ratio = 1;
	/* pages a unit holds: A's chains, and the buffers of none and HDR_RING */
	s->upp = s->method == VQ_NET_F_SPLIT_B || s->method == VQ_NET_F_SPLIT_C ? 1 : p->ratio;
	if (s->method == VQ_NET_F_SPLIT_A)
		s->units = p->pages / s->upp < p->hdr_bufs ? p->pages / s->upp : p->hdr_bufs;
	else if (s->method == VQ_NET_F_SPLIT_C)
		s->units = (s->nhdr = p->hdr_bufs) + p->pages;
	else
		s->units = p->pages / s->upp;
	if (!s->units)
		return -EINVAL;
	if (s->method == VQ_NET_F_SPLIT_HDR_RING &&
	    ((p->hdr_bufs & (p->hdr_bufs - 1)) || p->hdr_size % VQ_NET_SPLIT_ENTRY_ALIGN))
		return -EINVAL; /* the device's limits (net_split.h) */
	pg_bytes = (uint64_t)(p->pages + 1) * PAGE; /* + 1: HDR_RING's offset */
	s->hdr_off = pg_bytes;
	*bytes = pg_bytes;
	if (s->method == VQ_NET_F_SPLIT_A || s->method == VQ_NET_F_SPLIT_C ||
	    s->method == VQ_NET_F_SPLIT_HDR_RING)
		*bytes += (uint64_t)p->hdr_bufs * p->hdr_size;
	s->tail_off = (*bytes + 63) & ~63ull;
	*bytes = (s->tail_off + 64 + PAGE - 1) & ~(uint64_t)(PAGE - 1);
	return 0;
}

static int alloc_state(struct vq_splitdrv *s)
{
	uint32_t n = s->units;

	s->state = calloc(n, 1);
	s->next = calloc(n, sizeof(*s->next));
	s->ulen = calloc(n, sizeof(*s->ulen));
	s->entry = calloc(n, sizeof(*s->entry));
	s->nv = calloc(n, sizeof(*s->nv));
	s->views = calloc((size_t)n * MAXV, sizeof(*s->views));
	s->freeh = calloc(n, sizeof(*s->freeh));
	s->freep = calloc(n, sizeof(*s->freep));
	s->hr_done = calloc(s->p.hdr_bufs, 1);
	if (!s->state || !s->next || !s->ulen || !s->entry || !s->nv || !s->views ||
	    !s->freeh || !s->freep || !s->hr_done)
		return -ENOMEM;
	for (uint32_t u = n; u-- > 0;)
		put_free(s, u);
	return 0;
}

int vq_splitdrv_new(const struct vq_splitdrv_params *p, struct vq_splitdrv **out)
{
	struct vq_splitdrv *s;
	uint64_t bytes;
	int r;

	if (!p || !out)
		return -EINVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->p = *p;
	s->mrg = p->features & VQ_NET_F(VIRTIO_NET_F_MRG_RXBUF);
	s->hs = (uint32_t)vq_net_hdr_size(p->features);
	if ((r = check(p, &s->method)) < 0 || (r = plan(s, &bytes)) < 0 ||
	    (r = alloc_state(s)) < 0)
		goto err;
	if (!(s->mem = p->alloc(p->ctx, bytes, &s->addr))) {
		r = -ENOMEM;
		goto err;
	}
	s->st.mem = bytes;
	if (s->method == VQ_NET_F_SPLIT_HDR_RING) /* every entry free */
		*(uint16_t *)(s->mem + s->tail_off) = (uint16_t)s->p.hdr_bufs;
	for (uint32_t u = 0; u < s->units; u++)
		s->entry[u] = NONE;
	*out = s;
	return 0;
err:
	vq_splitdrv_free(s);
	return r;
}

void vq_splitdrv_free(struct vq_splitdrv *s)
{
	if (!s)
		return;
	free(s->state);
	free(s->next);
	free(s->ulen);
	free(s->entry);
	free(s->nv);
	free(s->views);
	free(s->freeh);
	free(s->freep);
	free(s->hr_done);
	free(s);
}

int vq_splitdrv_hdr_ring(const struct vq_splitdrv *s, struct vq_net_split_hdr_ring *out)
{
	if (!s || !out || s->method != VQ_NET_F_SPLIT_HDR_RING)
		return -EINVAL;
	*out = (struct vq_net_split_hdr_ring){ .gpa = s->addr + s->hdr_off,
					       .tail_gpa = s->addr + s->tail_off,
					       .entry_size = s->p.hdr_size,
					       .count = (uint16_t)s->p.hdr_bufs };
	return 0;
}

int vq_splitdrv_hdr_ring_cmd(const struct vq_splitdrv *s, uint16_t qp,
			     struct vq_net_ctrl_split_hdr_ring *out)
{
	struct vq_net_split_hdr_ring r;

	if (!out || vq_splitdrv_hdr_ring(s, &r) < 0)
		return -EINVAL;
	*out = (struct vq_net_ctrl_split_hdr_ring){ .ring_addr = r.gpa, .tail_addr = r.tail_gpa,
						    .entry_size = r.entry_size,
						    .count = r.count, .qp = qp };
	return 0; /* little-endian host: the wire layout as is */
}

/* HDR_RING: a new device starts at entry 0 with every entry free.  Frames
 * still lent keep their header view but no longer hold an entry. */
static void hr_restart(struct vq_splitdrv *s)
{
	if (s->method != VQ_NET_F_SPLIT_HDR_RING)
		return;
	for (uint32_t u = 0; u < s->units; u++)
		if (s->state[u] == U_LENT)
			s->entry[u] = NONE;
	memset(s->hr_done, 0, s->p.hdr_bufs);
	s->hr_head = s->hr_rel = s->hr_ooo = 0;
	s->hr_tail = (uint16_t)s->p.hdr_bufs;
	/* Release: pairs with the device's acquire load of the tail; no
	 * device runs now (attach), this only orders our own stores. */
	__atomic_store_n((uint16_t *)(s->mem + s->tail_off), (uint16_t)s->p.hdr_bufs,
			 __ATOMIC_RELEASE);
}

/* ---- posting */

/* The next unit to post, or NONE.  C keeps its pattern: a header buffer,
 * then ratio pages. */
static uint32_t next_free(struct vq_splitdrv *s)
{
	if (s->method == VQ_NET_F_SPLIT_C && s->phase == 0)
		return s->nfreeh ? s->freeh[s->nfreeh - 1] : NONE;
	return s->nfreep ? s->freep[s->nfreep - 1] : NONE;
}

/* HDR_RING: hand the entries released since the last call back to the
 * device, one tail store for all of them; before the buffers that came
 * back with them are posted again (hr_refill in split.c relies on it). */
static void hr_publish(struct vq_splitdrv *s)
{
	uint16_t tail = (uint16_t)(s->hr_rel + s->p.hdr_bufs);

	if (tail == s->hr_tail)
		return;
	s->hr_tail = tail;
	/* Release: pairs with the device's acquire load of the tail
	 * (hr_refill in split.c); our reads of the entries come before it. */
	__atomic_store_n((uint16_t *)(s->mem + s->tail_off), tail, __ATOMIC_RELEASE);
}

/* Unit u (next_free's) leaves its free stack for the ring, or comes back
 * (the last one taken, first: the stacks and C's pattern are restored). */
static void take_free(struct vq_splitdrv *s, uint32_t u)
{
	if (is_hdr_unit(s, u))
		s->nfreeh--;
	else
		s->nfreep--;
	if (s->method == VQ_NET_F_SPLIT_C)
		s->phase = (s->phase + 1) % (s->p.ratio + 1);
	s->state[u] = U_POSTED;
	s->posted++;
}

static void untake_free(struct vq_splitdrv *s, uint32_t u)
{
	s->posted--;
	if (s->method == VQ_NET_F_SPLIT_C)
		s->phase = (s->phase + s->p.ratio) % (s->p.ratio + 1);
	put_free(s, u);
}

/* One-segment units (all but A): up to BURST in one vq_drv_add_burst.
 * Returns how many were posted (0: none free or the ring full), or -errno. */
static int post_burst(struct vq_splitdrv *s)
{
	struct vq_seg sg[BURST];
	void *tok[BURST];
	uint32_t us[BURST], u;
	unsigned m = 0;
	int r;

	while (m < BURST && (u = next_free(s)) != NONE) {
		unit_segs(s, u, &sg[m], NULL);
		tok[m] = (void *)(uintptr_t)(u + 1u);
		us[m++] = u;
		take_free(s, u);
	}
	if (!m)
		return 0;
	r = vq_drv_add_burst(s->vq, sg, m, true, tok);
	for (unsigned i = m; i-- > (r > 0 ? (unsigned)r : 0);)
		untake_free(s, us[i]);
	return r;
}

static int post(struct vq_splitdrv *s)
{
	struct vq_seg sg[MAXSEG];
	unsigned added = 0;
	uint32_t u;
	int r = 0;

	if (s->method == VQ_NET_F_SPLIT_HDR_RING)
		hr_publish(s);
	while (s->vq && s->method != VQ_NET_F_SPLIT_A && (r = post_burst(s)) > 0)
		added += (unsigned)r;
	while (s->vq && s->method == VQ_NET_F_SPLIT_A && (u = next_free(s)) != NONE) {
		unsigned n = unit_segs(s, u, sg, NULL);

		if ((r = vq_drv_add(s->vq, sg, 0, n, (void *)(uintptr_t)(u + 1u))) < 0)
			break;
		take_free(s, u);
		added++;
	}
	if (r < 0 && r != -ENOSPC)
		return fail(s, "posting a receive buffer: %s",
			    vq_drv_is_broken(s->vq) ? vq_drv_error(s->vq) : strerror(-r));
	if (added && vq_drv_kick_prepare(s->vq) && s->p.kick)
		s->p.kick(s->p.ctx);
	return 0;
}

int vq_splitdrv_attach(struct vq_splitdrv *s, struct vq_drv *q)
{
	void *t;

	if (!s)
		return -EINVAL;
	for (; s->gi < s->gn; s->gi++) { /* used, not taken yet */
		uint32_t u = (uint32_t)((uintptr_t)s->gtok[s->gi] - 1u);

		if (u < s->units && s->state[u] == U_POSTED)
			put_free(s, u);
	}
	s->gi = s->gn = 0;
	while (s->vq && (t = vq_drv_detach(s->vq)) != NULL) {
		uint32_t u = (uint32_t)((uintptr_t)t - 1u);

		if (u < s->units && s->state[u] == U_POSTED)
			put_free(s, u);
	}
	for (uint32_t u = 0; u < s->units; u++) /* a half-reassembled frame */
		if (s->state[u] == U_HELD)
			put_free(s, u);
	s->active = false;
	s->posted = s->phase = 0;
	hr_restart(s);
	s->broken = false;
	s->err[0] = 0;
	s->vq = q;
	return q ? post(s) : 0;
}

/* ---- receiving */

/* Views of bytes [skip, skip+len) of unit u into frame f's views. */
static bool add_views(struct vq_splitdrv *s, uint32_t f, uint32_t u, uint32_t skip,
		      uint32_t len)
{
	struct iovec *v = &s->views[(size_t)f * MAXV];
	struct vq_seg sg[MAXSEG];
	uint8_t *host[MAXSEG];
	unsigned n = unit_segs(s, u, sg, host);

	for (unsigned i = 0; i < n && len; i++) {
		uint32_t k;

		if (skip >= sg[i].len) {
			skip -= sg[i].len;
			continue;
		}
		if (s->nv[f] == MAXV)
			return false;
		k = sg[i].len - skip < len ? sg[i].len - skip : len;
		v[s->nv[f]++] = (struct iovec){ host[i] + skip, k };
		len -= k;
		skip = 0;
	}
	return true;
}

/* The views of the units of frame f from unit u on (u's first skip bytes
 * left out); the bytes in *len. */
static bool views_from(struct vq_splitdrv *s, uint32_t f, uint32_t u, uint32_t skip,
		       uint64_t *len)
{
	for (; u != NONE; u = s->next[u], skip = 0) {
		if (!add_views(s, f, u, skip, s->ulen[u] - skip))
			return false;
		*len += s->ulen[u] - skip;
	}
	return true;
}

/* HDR_RING entry for the frame being finished; NULL when the device used
 * one the driver had not handed back (the tail it stored). */
static const uint8_t *hr_take(struct vq_splitdrv *s, uint32_t f)
{
	if (s->hr_head == s->hr_tail)
		return NULL; /* every entry it was handed is in use */
	s->entry[f] = s->hr_head & (s->p.hdr_bufs - 1u); /* a power of two (plan) */
	s->hr_head++;
	return s->mem + s->hdr_off + (uint64_t)s->entry[f] * s->p.hdr_size;
}

/*
 * Lay out a split frame by the method; the protocol headers in *head.
 * Returns 1, 0 (too many pieces: drop), or -EIO (the device broke the
 * method's rules).
 */
static int split_views(struct vq_splitdrv *s, struct vq_splitdrv_pkt *pk, uint64_t *plen)
{
	uint32_t f = s->first, hl = s->hdr.hdr_len, l0 = s->ulen[f], u1 = s->next[f];
	uint8_t *host[MAXSEG], *h0 = NULL;

	if (s->method != VQ_NET_F_SPLIT_HDR_RING) { /* the ring's entry holds its headers */
		unit_segs(s, f, NULL, host);
		h0 = host[0];
	}
	if (!s->method || hl == 0 || hl > VQ_NET_SPLIT_HDR_MAX)
		return fail(s, "split flag with hdr_len %u (method %#llx)", hl,
			    (unsigned long long)s->method);
	switch (s->method) {
	case VQ_NET_F_SPLIT_A:
		if (s->hs + hl > s->p.hdr_size || l0 < s->p.hdr_size || u1 != NONE)
			return fail(s, "method A frame: hdr_len %u, used %u, %u buffers", hl, l0,
				    s->nunits);
		pk->head = h0 + s->hs;
		return views_from(s, f, f, s->p.hdr_size, plen);
	case VQ_NET_F_SPLIT_B:
		if (u1 == NONE || l0 != unit_bytes(s, f) || s->hs + hl > l0)
			return fail(s, "method B frame: hdr_len %u, first buffer used %u of %u, "
				    "%u buffers", hl, l0, unit_bytes(s, f), s->nunits);
		pk->head = h0 + l0 - hl;
		return views_from(s, f, u1, 0, plen);
	case VQ_NET_F_SPLIT_C:
		if (u1 == NONE || !is_hdr_unit(s, f) || l0 != s->hs + hl)
			return fail(s, "method C frame: hdr_len %u, first buffer used %u, %u buffers",
				    hl, l0, s->nunits);
		for (uint32_t u = u1; u != NONE; u = s->next[u])
			if (is_hdr_unit(s, u))
				return fail(s, "method C frame: payload in a header buffer");
		pk->head = h0 + s->hs;
		return views_from(s, f, u1, 0, plen);
	default: /* HDR_RING */
		if (hl > s->p.hdr_size || !(pk->head = hr_take(s, f)))
			return fail(s, "header ring: hdr_len %u, entry size %u, %u entries in use",
				    hl, s->p.hdr_size, (uint16_t)(s->hr_head - s->hr_rel));
		return views_from(s, f, f, s->hs, plen);
	}
}

/* Give frame f's units back to the free lists (and its header-ring entry:
 * the tail moves over the entries released in order). */
static void release_units(struct vq_splitdrv *s, uint32_t f)
{
	uint32_t e = s->entry[f];

	for (uint32_t u = f, nx; u != NONE; u = nx) {
		nx = s->next[u];
		put_free(s, u);
	}
	if (e == NONE)
		return;
	if (e == (s->hr_rel & (s->p.hdr_bufs - 1u)) && !s->hr_ooo) { /* in order */
		s->hr_rel++;
		return; /* the tail moves at the next posting (hr_publish) */
	}
	s->hr_done[e] = 1;
	s->hr_ooo++;
	while (s->hr_done[s->hr_rel & (s->p.hdr_bufs - 1u)]) {
		s->hr_done[s->hr_rel & (s->p.hdr_bufs - 1u)] = 0;
		s->hr_ooo--;
		s->hr_rel++;
	}
}

/* The frame just completed.  1 handed out in *pk, 0 dropped, -EIO. */
static int finish(struct vq_splitdrv *s, struct vq_splitdrv_pkt *pk)
{
	uint32_t f = s->first;
	uint64_t len = 0;
	int r;

	s->active = false;
	memset(pk, 0, sizeof(*pk));
	pk->hdr = s->hdr;
	s->entry[f] = NONE;
	s->nv[f] = 0;
	if (s->hdr.flags & VQ_NET_HDR_F_SPLIT) {
		if ((r = split_views(s, pk, &len)) < 0)
			return r;
		pk->head_len = s->hdr.hdr_len;
		len += pk->head_len;
	} else {
		r = views_from(s, f, f, s->hs, &len);
	}
	if (!r || len < VQ_NET_MIN_FRAME || len > VQ_NET_MAX_FRAME) {
		s->st.drops++;
		release_units(s, f);
		return 0;
	}
	pk->len = (uint32_t)len;
	pk->iov = &s->views[(size_t)f * MAXV];
	pk->iovcnt = s->nv[f];
	pk->aligned = pk->head && pk->iovcnt && !((uintptr_t)pk->iov[0].iov_base & (PAGE - 1));
	pk->ref = f;
	for (uint32_t u = f; u != NONE; u = s->next[u])
		s->state[u] = u == f ? U_LENT : U_LENT_MORE;
	s->st.packets++;
	s->st.bytes += len;
	s->st.split += pk->head != NULL;
	s->st.aligned += pk->aligned;
	return 1;
}

/* One used buffer.  1 a frame is complete, 2 more to come, 0 none, -EIO. */
static int take(struct vq_splitdrv *s)
{
	uint8_t *host[MAXSEG];
	void *t;
	uint32_t len, u, nb = 1;

	if (s->gi == s->gn) { /* a burst of used buffers */
		int r = vq_drv_get_burst(s->vq, s->gtok, s->glen, BURST);

		if (r <= 0)
			return r == 0 ? 0 : fail(s, "%s", vq_drv_error(s->vq));
		s->gi = 0;
		s->gn = (unsigned)r;
	}
	t = s->gtok[s->gi];
	len = s->glen[s->gi++];
	u = (uint32_t)((uintptr_t)t - 1u);
	if (u >= s->units || s->state[u] != U_POSTED)
		return fail(s, "used buffer %u was not posted", u);
	s->posted--;
	s->state[u] = U_HELD;
	s->ulen[u] = len;
	s->next[u] = NONE;
	/* Ring entries: an A chain is its header buffer and its pages, which
	 * are adjacent, so vq_drv_add coalesced them into one descriptor. */
	s->st.slots += s->method == VQ_NET_F_SPLIT_A ? 2 : 1;
	if (len > unit_bytes(s, u))
		return fail(s, "used length %u > buffer length %u", len, unit_bytes(s, u));
	if (s->active) {
		s->next[s->last] = u;
		s->last = u;
		s->nunits++;
		return --s->need ? 2 : 1;
	}
	if (len < s->hs)
		return fail(s, "used length %u < header size %u", len, s->hs);
	unit_segs(s, u, NULL, host);
	memset(&s->hdr, 0, sizeof(s->hdr));
	memcpy(&s->hdr, host[0], s->hs); /* the header lies in the first segment */
	if (s->mrg && ((nb = s->hdr.num_buffers) == 0 || nb - 1 > s->posted))
		return fail(s, "num_buffers %u but the device holds %u more buffers", nb,
			    s->posted);
	s->active = true;
	s->first = s->last = u;
	s->need = nb - 1;
	s->nunits = 1;
	return s->need ? 2 : 1;
}

int vq_splitdrv_recv(struct vq_splitdrv *s, struct vq_splitdrv_pkt *pkts, unsigned max)
{
	unsigned n = 0;
	int r = 0;

	if (!s || !s->vq)
		return -ENOTCONN;
	if (s->broken || post(s) < 0)
		return -EIO;
	while (n < max && (r = take(s)) > 0) {
		if (r == 1 && (r = finish(s, &pkts[n])) < 0)
			break;
		n += r == 1;
	}
	return r < 0 && n == 0 ? r : (int)n;
}

int vq_splitdrv_release(struct vq_splitdrv *s, const struct vq_splitdrv_pkt *pkt)
{
	if (!s || !pkt || pkt->ref >= s->units || s->state[pkt->ref] != U_LENT)
		return -EINVAL;
	release_units(s, pkt->ref);
	return 0;
}

size_t vq_splitdrv_copy(const struct vq_splitdrv_pkt *pkt, void *buf, size_t cap)
{
	size_t done = pkt->head_len < cap ? pkt->head_len : cap;

	if (done)
		memcpy(buf, pkt->head, done);
	for (unsigned i = 0; i < pkt->iovcnt && done < cap; i++) {
		size_t n = pkt->iov[i].iov_len < cap - done ? pkt->iov[i].iov_len : cap - done;

		memcpy((uint8_t *)buf + done, pkt->iov[i].iov_base, n);
		done += n;
	}
	return done;
}

void vq_splitdrv_get_stats(const struct vq_splitdrv *s, struct vq_splitdrv_stats *out)
{
	*out = s->st;
}

bool vq_splitdrv_is_broken(const struct vq_splitdrv *s)
{
	return s->broken;
}

const char *vq_splitdrv_error(const struct vq_splitdrv *s)
{
	return s->err;
}
