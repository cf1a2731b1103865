/* SPDX-License-Identifier: MIT */
/*
 * L2 switching: a MAC table (source address -> port, with aging) shared by
 * all workers, and per-burst forwarding into the destination ports.
 *
 * The table is a 4-way set-associative hash of 64-byte buckets.  An entry
 * is one 64-bit word (MAC in bits 0-47, port+1 in bits 48-63, 0 = empty)
 * plus a last-seen second, both accessed with relaxed atomics: a race
 * between two learners loses one entry, which the next frame relearns.
 * Learning writes only when the port or the second changed, so steady
 * traffic reads the table without bouncing cache lines.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vn.h"

#define MAC_BITS 12u
#define MAC_WAYS 4u
#define MAC_MASK 0xffffffffffffull

struct mac_ent {
	uint64_t key;
	uint32_t ts;
	uint32_t pad;
};

struct mac_bucket {
	_Alignas(VN_CACHELINE) struct mac_ent e[MAC_WAYS];
};

struct vn_mactable {
	unsigned aging;
	struct mac_bucket *b;
};

int vn_mac_new(unsigned aging, struct vn_mactable **out)
{
	struct vn_mactable *t = calloc(1, sizeof(*t));
	size_t sz = sizeof(struct mac_bucket) << MAC_BITS;

	if (!t || !(t->b = aligned_alloc(VN_CACHELINE, sz))) {
		free(t);
		return -ENOMEM;
	}
	memset(t->b, 0, sz);
	t->aging = aging;
	*out = t;
	return 0;
}

void vn_mac_free(struct vn_mactable *t)
{
	if (t)
		free(t->b);
	free(t);
}

static uint64_t mac48(const uint8_t *m)
{
	uint64_t v = 0;

	memcpy(&v, m, 6);
	return v;
}

static struct mac_bucket *bucket(struct vn_mactable *t, uint64_t mac)
{
	return &t->b[(mac * 0x9e3779b97f4a7c15ull) >> (64 - MAC_BITS)];
}

static int mac_lookup(struct vn_mactable *t, uint64_t mac, uint32_t now)
{
	struct mac_bucket *b = bucket(t, mac);

	for (unsigned i = 0; i < MAC_WAYS; i++) {
		uint64_t k = __atomic_load_n(&b->e[i].key, __ATOMIC_RELAXED);

		if ((k & MAC_MASK) != mac || !(k >> 48))
			continue;
		if (now - __atomic_load_n(&b->e[i].ts, __ATOMIC_RELAXED) > t->aging)
			return -1;
		return (int)(k >> 48) - 1;
	}
	return -1;
}

static void mac_learn(struct vn_mactable *t, uint64_t mac, unsigned port, uint32_t now)
{
	struct mac_bucket *b = bucket(t, mac);
	uint64_t key = mac | (uint64_t)(port + 1) << 48;
	struct mac_ent *victim = NULL;
	uint32_t oldest = 0;

	for (unsigned i = 0; i < MAC_WAYS; i++) {
		struct mac_ent *e = &b->e[i];
		uint64_t k = __atomic_load_n(&e->key, __ATOMIC_RELAXED);
		uint32_t age;

		if (k >> 48 && (k & MAC_MASK) == mac) {
			if (k != key)
				__atomic_store_n(&e->key, key, __ATOMIC_RELAXED); /* moved */
			if (__atomic_load_n(&e->ts, __ATOMIC_RELAXED) != now)
				__atomic_store_n(&e->ts, now, __ATOMIC_RELAXED);
			return;
		}
		age = k >> 48 ? now - __atomic_load_n(&e->ts, __ATOMIC_RELAXED) : UINT32_MAX;
		if (!victim || age > oldest) {
			victim = e;
			oldest = age;
		}
	}
	__atomic_store_n(&victim->ts, now, __ATOMIC_RELAXED);
	__atomic_store_n(&victim->key, key, __ATOMIC_RELAXED);
}

void vn_mac_flush_port(struct vn_mactable *t, unsigned port)
{
	for (size_t i = 0; i < (size_t)1 << MAC_BITS; i++)
		for (unsigned j = 0; j < MAC_WAYS; j++) {
			struct mac_ent *e = &t->b[i].e[j];

			if (__atomic_load_n(&e->key, __ATOMIC_RELAXED) >> 48 == port + 1)
				__atomic_store_n(&e->key, 0, __ATOMIC_RELAXED);
		}
}

/* ---- forwarding */

/* Destination and source MAC (12 bytes) of a frame of >= 14 bytes. */
static void eth_addrs(const struct vq_net_pkt *pkt, uint8_t a[12])
{
	size_t got = 0;

	if (pkt->iov[0].iov_len >= 12) {
		memcpy(a, pkt->iov[0].iov_base, 12);
		return;
	}
	for (unsigned i = 0; i < pkt->iovcnt && got < 12; i++) {
		size_t n = pkt->iov[i].iov_len < 12 - got ? pkt->iov[i].iov_len : 12 - got;

		memcpy(a + got, pkt->iov[i].iov_base, n);
		got += n;
	}
	memset(a + got, 0, 12 - got);
}

static bool port_accepts(const struct vn_port *p, const uint8_t dst[6])
{
	if (p->tap)
		return true;
	if (!atomic_load_explicit(&p->rx_live, memory_order_relaxed) ||
	    atomic_load_explicit(&p->broken, memory_order_relaxed))
		return false;
	return vq_net_rx_accept(p->net, dst);
}

/* Puts port p at w->fan[n] if it takes frames for dst; the new count. */
static unsigned fan_add(struct vn_worker *w, unsigned n, const struct vn_port *p,
			const uint8_t dst[6])
{
	if (port_accepts(p, dst))
		w->fan[n++] = (uint8_t)p->idx;
	return n;
}

/*
 * The ports a frame with addresses a (from port src) goes to, into w->fan;
 * returns how many.  Learns the source and looks the destination up, unless the previous
 * such call did (*learned, *looked, *dst; a learn forgets the lookup: the
 * destination may have moved).
 */
static unsigned fan_out(struct vn_worker *w, const struct vn_port *src, const uint8_t a[12],
			uint32_t now, uint64_t *learned, uint64_t *looked, int *dst)
{
	struct vn_daemon *d = w->d;
	unsigned n = 0;

	if (!(a[6] & 1) && mac48(a + 6) != *learned) {
		*learned = mac48(a + 6);
		mac_learn(d->mac, *learned, src->idx, now);
		*looked = UINT64_MAX;
	}
	if (!(a[0] & 1) && mac48(a) != *looked) {
		*looked = mac48(a);
		*dst = mac_lookup(d->mac, *looked, now);
	}
	if (a[0] & 1 || *dst < 0) {
		for (unsigned i = 0; i < d->nports; i++)
			if (i != src->idx)
				n = fan_add(w, n, d->ports[i], a);
	} else if ((unsigned)*dst != src->idx) { /* never back where it came from */
		n = fan_add(w, n, d->ports[*dst], a);
	}
	return n;
}

/*
 * Frames of a burst mostly share their addresses: a frame with the same
 * two addresses as the one before goes where that one went, without a
 * learn, a lookup or a port check (ports that break meanwhile are caught
 * at delivery).
 */
void vn_switch_burst(struct vn_worker *w, struct vn_port *src, unsigned hint,
		     struct vq_net_pkt **pkts, unsigned n)
{
	struct vn_daemon *d = w->d;
	uint32_t now = atomic_load_explicit(&d->now_s, memory_order_relaxed);
	uint64_t learned = UINT64_MAX, looked = UINT64_MAX; /* no MAC: 48 bits */
	uint8_t a[12]; /* the previous frame's addresses */
	unsigned nfan = 0;
	int dst = -1;

	w->ntouched = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct iovec *v = &pkts[i]->iov[0];

		if (i + 1 < n)
			__builtin_prefetch(pkts[i + 1]->iov[0].iov_base);
		if (!i || v->iov_len < sizeof(a) || memcmp(v->iov_base, a, sizeof(a))) {
			eth_addrs(pkts[i], a);
			nfan = fan_out(w, src, a, now, &learned, &looked, &dst);
		}
		for (unsigned k = 0; k < nfan; k++) {
			unsigned p = w->fan[k];

			if (!w->nout[p])
				w->touched[w->ntouched++] = (uint8_t)p;
			w->out[p][w->nout[p]++] = pkts[i];
		}
	}
	for (unsigned t = 0; t < w->ntouched; t++) {
		unsigned p = w->touched[t];

		vn_deliver(w, d->ports[p], hint, w->out[p], w->nout[p]);
		w->nout[p] = 0;
	}
}

/* An rx lane of p to deliver to: the hint's pair if live, else the next live one. */
static struct vn_lane *pick_lane(struct vn_port *p, unsigned hint)
{
	for (unsigned k = 0; k < p->npairs; k++) {
		struct vn_lane *l = &p->lanes[(hint + k) % p->npairs];

		/* Seq_cst: pairs with op_queue_stop's store and vn_quiesce. */
		if (atomic_load_explicit(&l->rx_on, memory_order_seq_cst) &&
		    vq_vu_queue_is_enabled(l->rxq))
			return l;
	}
	return NULL;
}

void vn_deliver(struct vn_worker *w, struct vn_port *p, unsigned hint,
		struct vq_net_pkt *const *pkts, unsigned n)
{
	struct vn_lane *l;
	int r;

	if (p->tap) {
		vn_tap_send(w, p, pkts, n);
		return;
	}
	if (atomic_load_explicit(&p->broken, memory_order_relaxed) || !(l = pick_lane(p, hint))) {
		vn_add(&w->pc[p->idx].drops, n);
		return;
	}
	vn_lock(&l->rx_lock);
	r = vq_net_rx_burst(p->net, l->pair, pkts, n);
	vn_unlock(&l->rx_lock);
	if (r >= 0 && (unsigned)r == n)
		return;
	vn_add(&w->pc[p->idx].drops, r < 0 ? n : n - (unsigned)r);
	vn_port_broken(p, l->rxq); /* only if the ring really broke */
}
