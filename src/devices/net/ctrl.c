/* SPDX-License-Identifier: MIT */
/*
 * Control queue (spec 5.1.6.5): receive filter (CTRL_RX), MAC table and
 * address (CTRL_MAC), queue pairs (CTRL_MQ), and the EXPERIMENTAL header
 * ring of header/data split (VQ_NET_CTRL_SPLIT, net_split.h).  A malformed
 * or unsupported command is answered VIRTIO_NET_ERR and counted; nothing a
 * guest sends can do more than that.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <virtq/net_split.h>

#include "net_internal.h"

/* ---- the receive filter: one writer (the control path), readers anywhere
 *
 * A sequence lock.  The writer makes the new filter in a local copy, then
 * stores it word by word between two increments of filter_seq; a reader
 * loads the words and retries when the sequence was odd or changed.  Every
 * access to the shared words is atomic, so there is no data race, and a
 * reader never acts on a half-written table. */

#define FILTER_WORDS (sizeof(struct vq_net_rx_filter) / sizeof(uint32_t))
_Static_assert(sizeof(struct vq_net_rx_filter) % sizeof(uint32_t) == 0, "filter words");
_Static_assert(offsetof(struct vq_net_rx_filter, multi_overflow) < sizeof(uint32_t),
	       "the four flags are word 0");

static void filter_publish(struct vq_net *n, const struct vq_net_rx_filter *f)
{
	const uint32_t *src = (const uint32_t *)f;
	uint32_t *dst = (uint32_t *)&n->filter, s = n->filter_seq; /* the only writer */

	__atomic_store_n(&n->filter_seq, s + 1, __ATOMIC_RELAXED);
	/* Release: the odd value before any word.  Pairs with filter_load's
	 * acquire fence: a reader that saw a new word sees the odd sequence
	 * (or a later one) on its re-check. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (size_t k = 0; k < FILTER_WORDS; k++)
		__atomic_store_n(&dst[k], src[k], __ATOMIC_RELAXED);
	/* Release: every word before the even value.  Pairs with
	 * filter_load's acquire load of the sequence. */
	__atomic_store_n(&n->filter_seq, s + 2, __ATOMIC_RELEASE);
}

/* Load words [0, nw) of the filter into out, consistently. */
static void filter_load(const struct vq_net *n, struct vq_net_rx_filter *out, size_t nw)
{
	const uint32_t *src = (const uint32_t *)&n->filter;
	uint32_t *dst = (uint32_t *)out, s1, s2;

	do {
		/* Acquire: pairs with filter_publish's release store of the
		 * even value: the words of that change are visible. */
		while ((s1 = __atomic_load_n(&n->filter_seq, __ATOMIC_ACQUIRE)) & 1)
			vq_cpu_relax();
		for (size_t k = 0; k < nw; k++)
			dst[k] = __atomic_load_n(&src[k], __ATOMIC_RELAXED);
		/* Acquire: the words before the re-check.  Pairs with
		 * filter_publish's release fence after the odd value. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&n->filter_seq, __ATOMIC_RELAXED);
	} while (s1 != s2);
}

void vq__net_filter_default(struct vq_net *n)
{
	struct vq_net_rx_filter f;

	memset(&f, 0, sizeof(f));
	/* Like QEMU: promiscuous until a CTRL_RX driver says otherwise, so a
	 * driver without CTRL_RX receives what it expects. */
	f.promisc = true;
	memcpy(f.mac, n->p.mac, 6);
	filter_publish(n, &f);
}

static int apply_rx(struct vq_net *n, const struct vq_net_ctrl_cmd *c)
{
	struct vq_net_rx_filter f = n->filter; /* the writer's own reads */

	if (!VQ__NET_HAS(n->features, VIRTIO_NET_F_CTRL_RX) || c->u.on > 1)
		return -EINVAL;
	switch (c->cmd) {
	case VIRTIO_NET_CTRL_RX_PROMISC:
		f.promisc = c->u.on;
		break;
	case VIRTIO_NET_CTRL_RX_ALLMULTI:
		f.allmulti = c->u.on;
		break;
	default: /* ALLUNI..NOBCAST need CTRL_RX_EXTRA, not offered */
		return -EOPNOTSUPP;
	}
	filter_publish(n, &f);
	return 0;
}

static void table_set(uint8_t (*dst)[6], uint32_t *n, bool *overflow, const uint8_t *src,
		      uint32_t cnt)
{
	*overflow = cnt > VQ_NET_MAC_TABLE;
	*n = *overflow ? 0 : cnt;
	memcpy(dst, src, (size_t)*n * 6);
}

static int apply_mac(struct vq_net *n, const struct vq_net_ctrl_cmd *c)
{
	struct vq_net_rx_filter f = n->filter; /* the writer's own reads */

	if (c->cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
		if (!VQ__NET_HAS(n->features, VIRTIO_NET_F_CTRL_MAC_ADDR))
			return -EINVAL;
		memcpy(f.mac, c->u.mac, 6);
		memcpy(n->p.mac, c->u.mac, 6); /* reflected in config space */
	} else {
		if (!VQ__NET_HAS(n->features, VIRTIO_NET_F_CTRL_RX))
			return -EINVAL;
		table_set(f.uni, &f.n_uni, &f.uni_overflow, c->u.table.uni, c->u.table.n_uni);
		table_set(f.multi, &f.n_multi, &f.multi_overflow, c->u.table.multi,
			  c->u.table.n_multi);
	}
	filter_publish(n, &f);
	return 0;
}

static int apply_mq(struct vq_net *n, const struct vq_net_ctrl_cmd *c)
{
	if (!VQ__NET_HAS(n->features, VIRTIO_NET_F_MQ) || c->u.pairs < 1 ||
	    c->u.pairs > n->p.max_pairs)
		return -EINVAL;
	__atomic_store_n(&n->active_pairs, (unsigned)c->u.pairs, __ATOMIC_RELAXED);
	return 0;
}

int vq__net_ctrl_apply(struct vq_net *n, const struct vq_net_ctrl_cmd *c,
		       const struct vq_mem *mem)
{
	switch (c->cls) {
	case VIRTIO_NET_CTRL_RX:
		return apply_rx(n, c);
	case VIRTIO_NET_CTRL_MAC:
		return apply_mac(n, c);
	case VIRTIO_NET_CTRL_MQ:
		return apply_mq(n, c);
	case VQ_NET_CTRL_SPLIT: /* EXPERIMENTAL (split.c) */
		return vq__net_split_ctrl(n, c, mem);
	default:
		return -EOPNOTSUPP;
	}
}

/* Execute one command chain; returns the ack byte. */
static uint8_t ctrl_exec(struct vq_net *n, const struct vq_dev *vq, const struct vq_elem *e)
{
	uint8_t buf[VQ__NET_CTRL_MAX];
	struct vq_net_ctrl_cmd c;

	if (e->out_len > sizeof(buf))
		return VIRTIO_NET_ERR;
	vq__iov_to_buf(e->iov, e->out_num, 0, buf, (size_t)e->out_len);
	if (vq_net_ctrl_parse(buf, (size_t)e->out_len, &c) < 0 ||
	    vq__net_ctrl_apply(n, &c, vq_dev_mem(vq)) < 0)
		return VIRTIO_NET_ERR;
	return VIRTIO_NET_OK;
}

int vq_net_ctrl_poll(struct vq_net *n)
{
	unsigned idx = 2u * n->p.max_pairs;
	struct vq__net_queue *q = idx < n->nq ? &n->q[idx] : NULL;
	struct vq_elem *e;
	int r, cnt = 0;

	if (!q || !q->vq)
		return -ENOTCONN;
	for (;;) {
		q->pool.ne = q->pool.ni = 0;
		r = vq__net_pool_pop(&q->pool, q->vq, &e);
		if (r <= 0)
			break;
		uint8_t ack = ctrl_exec(n, q->vq, e);
		uint32_t len = 0;

		if (e->in_num && e->iov[e->out_num].iov_len) {
			*(uint8_t *)e->iov[e->out_num].iov_base = ack;
			len = 1;
		}
		if (ack != VIRTIO_NET_OK || !len)
			VQ__NET_COUNT(q->st.errors, 1);
		else
			VQ__NET_COUNT(q->st.packets, 1);
		if ((r = vq_dev_push(q->vq, e, len)) < 0)
			break;
		cnt++;
	}
	if (cnt)
		vq__net_notify(n, idx);
	return r < 0 && !cnt ? r : cnt;
}

void vq_net_get_rx_filter(const struct vq_net *n, struct vq_net_rx_filter *out)
{
	filter_load(n, out, FILTER_WORDS);
}

static bool in_table(const uint8_t (*t)[6], uint32_t cnt, const uint8_t *mac)
{
	for (uint32_t i = 0; i < cnt; i++)
		if (!memcmp(t[i], mac, 6))
			return true;
	return false;
}

bool vq_net_rx_accept(const struct vq_net *n, const uint8_t dst[6])
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct vq_net_rx_filter f;

	filter_load(n, &f, 1); /* the flags: all a promiscuous port needs */
	if (f.promisc)
		return true;
	if ((dst[0] & 1) && (!memcmp(dst, bcast, 6) || f.allmulti || f.multi_overflow))
		return true;
	filter_load(n, &f, FILTER_WORDS);
	if (f.promisc)
		return true; /* changed meanwhile */
	if (dst[0] & 1) /* group address */
		return f.allmulti || f.multi_overflow || in_table(f.multi, f.n_multi, dst);
	if (!memcmp(dst, f.mac, 6) || f.uni_overflow)
		return true;
	return in_table(f.uni, f.n_uni, dst);
}
