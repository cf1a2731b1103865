/* SPDX-License-Identifier: MIT */
/*
 * virtio-net device model: lifecycle, features, config space, queues,
 * statistics.  The data path is in datapath.c, the control queue in ctrl.c,
 * checksum and segmentation in offload.c, the pure parsers in parse.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/net_split.h>

#include "net_internal.h"

/* ---- chain pool */

int vq__net_pool_init(struct vq__net_pool *p, unsigned ecap, unsigned icap, unsigned emax)
{
	memset(p, 0, sizeof(*p));
	p->elem = calloc(ecap, sizeof(*p->elem));
	p->iov = calloc(icap, sizeof(*p->iov));
	if (!p->elem || !p->iov) {
		vq__net_pool_fini(p);
		return -ENOMEM;
	}
	p->ecap = ecap;
	p->icap = icap;
	p->emax = emax;
	return 0;
}

void vq__net_pool_fini(struct vq__net_pool *p)
{
	free(p->elem);
	free(p->iov);
	memset(p, 0, sizeof(*p));
}

static int pool_grow_iov(struct vq__net_pool *p)
{
	unsigned cap = p->icap * 2;
	struct iovec *iov;

	if (p->icap >= VQ__NET_IOV_MAX)
		return -ENOBUFS;
	iov = realloc(p->iov, cap * sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	for (unsigned i = 0; i < p->ne; i++) /* rebase the held chains */
		p->elem[i].iov = iov + (p->elem[i].iov - p->iov);
	p->iov = iov;
	p->icap = cap;
	return 0;
}

static int pool_grow_elem(struct vq__net_pool *p)
{
	unsigned cap = p->ecap * 2;
	struct vq_elem *e;

	if (p->ecap >= p->emax)
		return -ENOBUFS;
	if (cap > p->emax)
		cap = p->emax;
	e = realloc(p->elem, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	p->elem = e;
	p->ecap = cap;
	return 0;
}

/*
 * vq__net_pool_pop (net_internal.h) when the inline attempt did not pop a
 * chain: grow the pool as needed and pop again (nothing was consumed by a
 * -ENOBUFS attempt), or map a ring error.  Same contract.
 */
int vq__net_pool_pop_slow(struct vq__net_pool *p, struct vq_dev *q, struct vq_elem **out)
{
	struct vq_elem *e;
	int r;

	if (p->ne == p->ecap && (r = pool_grow_elem(p)) < 0)
		return r;
	for (;;) {
		e = &p->elem[p->ne];
		e->iov = p->iov + p->ni;
		e->iov_cap = p->icap - p->ni;
		r = vq_dev_pop(q, e);
		if (r != -ENOBUFS)
			break;
		if ((r = pool_grow_iov(p)) < 0)
			return r;
	}
	if (r < 0 && vq_dev_is_broken(q))
		return -EIO;
	if (r == 1) {
		p->ne++;
		p->ni += e->out_num + e->in_num;
		*out = e;
	}
	return r;
}

/*
 * Pop chains into the pool until it holds max: when it is empty, the first
 * one as vq__net_pool_pop does (so an empty ring costs one look, and a
 * chain that needs a bigger pool grows it), the rest with one ring call
 * that validates and translates them as a batch.  Those get equal slices of
 * the free iovecs: the chains' iovecs are in order but not back to back,
 * and ni covers the slices.  Returns the chains held, 0 when the ring is
 * empty, or vq__net_pool_pop's error.  Fewer than max: the ring ran dry,
 * or a chain needed more iovecs than its slice (it is still in the ring:
 * the caller pops on one at a time).
 */
int vq__net_pool_pop_burst(struct vq__net_pool *p, struct vq_dev *q, unsigned max)
{
	struct vq_elem *e;
	unsigned s, n;
	int r;

	if (p->ne == 0 && max && (r = vq__net_pool_pop(p, q, &e)) <= 0)
		return r;
	n = max > p->ecap ? p->ecap - p->ne : max > p->ne ? max - p->ne : 0;
	if (n == 0 || (s = (p->icap - p->ni) / n) == 0)
		return (int)p->ne;
	for (unsigned k = 0; k < n; k++) {
		p->elem[p->ne + k].iov = p->iov + p->ni + k * s;
		p->elem[p->ne + k].iov_cap = s;
	}
	if ((r = vq_dev_pop_burst(q, p->elem + p->ne, n)) > 0) {
		p->ne += (unsigned)r;
		p->ni += (unsigned)r * s;
	}
	return (int)p->ne; /* an error here: the next pop reports it */
}

/* Forget the first k chains (used), keeping the rest in order. */
void vq__net_pool_consume(struct vq__net_pool *p, unsigned k)
{
	size_t shift;

	if (k >= p->ne) {
		p->ne = p->ni = 0;
		return;
	}
	/* Rare: chains held across frames (backpressure, a dropped frame). */
	shift = (size_t)(p->elem[k].iov - p->iov);
	memmove(p->iov, p->iov + shift, (p->ni - shift) * sizeof(*p->iov));
	memmove(p->elem, p->elem + k, (p->ne - k) * sizeof(*p->elem));
	p->ne -= k;
	p->ni -= (unsigned)shift;
	for (unsigned i = 0; i < p->ne; i++)
		p->elem[i].iov -= shift;
}

void vq__net_notify(struct vq_net *n, unsigned vq_index)
{
	vq__host_flush(&n->host, n->q[vq_index].vq, vq_index);
}

/* ---- lifecycle */

static int check_params(const struct vq_net_params *p)
{
	if (!p || p->max_pairs < 1 || p->max_pairs > VQ_NET_MAX_PAIRS)
		return -EINVAL;
	if (p->mtu && p->mtu < 68)
		return -EINVAL;
	return 0;
}

static uint64_t offered(const struct vq_net_params *p)
{
	uint64_t f = p->features ? p->features : VQ_NET_FEATURES_DEFAULT;

	f &= VQ_NET_FEATURES_ALL | VQ_NET_F_SPLIT_IMPLEMENTED; /* split: opt in only */
	if (!p->mtu)
		f &= ~VQ_NET_F(VIRTIO_NET_F_MTU);
	if (p->max_pairs == 1)
		f &= ~VQ_NET_F(VIRTIO_NET_F_MQ);
	if (!VQ__NET_HAS(f, VIRTIO_NET_F_CTRL_VQ))
		f &= ~(VQ_NET_F(VIRTIO_NET_F_CTRL_RX) | VQ_NET_F(VIRTIO_NET_F_MQ) |
		       VQ_NET_F(VIRTIO_NET_F_CTRL_MAC_ADDR));
	return f;
}

int vq_net_new(const struct vq_net_params *p, struct vq_net **out)
{
	struct vq_net *n;
	int r = check_params(p);

	if (r < 0 || !out)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->p = *p;
	n->host = (struct vq_device_host){ .notify = p->notify, .host = p->opaque };
	n->host_features = offered(p);
	n->nq = 2u * p->max_pairs +
		(VQ__NET_HAS(n->host_features, VIRTIO_NET_F_CTRL_VQ) ? 1 : 0);
	n->q = calloc(n->nq, sizeof(*n->q));
	if (!n->q || vq__net_split_init(n) < 0) {
		free(n->q);
		free(n);
		return -ENOMEM;
	}
	n->status = VIRTIO_NET_S_LINK_UP;
	vq_net_reset(n);
	*out = n;
	return 0;
}

static void queue_fini(struct vq__net_queue *q)
{
	vq__net_pool_fini(&q->pool);
	free(q->pkt);
	free(q->peek);
	memset(q, 0, sizeof(*q));
}

void vq_net_free(struct vq_net *n)
{
	if (!n)
		return;
	for (unsigned i = 0; i < n->nq; i++)
		queue_fini(&n->q[i]);
	vq__net_split_fini(n);
	free(n->q);
	free(n);
}

void vq_net_reset(struct vq_net *n)
{
	for (unsigned i = 0; i < n->nq; i++)
		queue_fini(&n->q[i]);
	vq__net_split_reset(n);
	n->features = 0;
	n->hdr_size = vq_net_hdr_size(0);
	__atomic_store_n(&n->active_pairs, 1u, __ATOMIC_RELAXED);
	vq__net_filter_default(n);
}

/* ---- features */

uint64_t vq_net_host_features(const struct vq_net *n)
{
	return n->host_features;
}

uint64_t vq_net_features(const struct vq_net *n)
{
	return n->features;
}

size_t vq_net_hdr_size(uint64_t features)
{
	if ((features & VQ_F_VERSION_1) || VQ__NET_HAS(features, VIRTIO_NET_F_MRG_RXBUF))
		return sizeof(struct virtio_net_hdr_v1);
	return sizeof(struct virtio_net_hdr);
}

/* Spec 5.1.3.1: feature -> features it requires (any one of them). */
static const struct {
	uint8_t bit;
	uint64_t needs;
} feature_deps[] = {
	{ VIRTIO_NET_F_GUEST_TSO4, VQ_NET_F(VIRTIO_NET_F_GUEST_CSUM) },
	{ VIRTIO_NET_F_GUEST_TSO6, VQ_NET_F(VIRTIO_NET_F_GUEST_CSUM) },
	{ VIRTIO_NET_F_GUEST_ECN,
	  VQ_NET_F(VIRTIO_NET_F_GUEST_TSO4) | VQ_NET_F(VIRTIO_NET_F_GUEST_TSO6) },
	{ VIRTIO_NET_F_HOST_TSO4, VQ_NET_F(VIRTIO_NET_F_CSUM) },
	{ VIRTIO_NET_F_HOST_TSO6, VQ_NET_F(VIRTIO_NET_F_CSUM) },
	{ VIRTIO_NET_F_HOST_ECN,
	  VQ_NET_F(VIRTIO_NET_F_HOST_TSO4) | VQ_NET_F(VIRTIO_NET_F_HOST_TSO6) },
	{ VIRTIO_NET_F_CTRL_RX, VQ_NET_F(VIRTIO_NET_F_CTRL_VQ) },
	{ VQ_NET_F_SPLIT_B_BIT, VQ_NET_F(VIRTIO_NET_F_MRG_RXBUF) }, /* EXPERIMENTAL */
	{ VQ_NET_F_SPLIT_C_BIT, VQ_NET_F(VIRTIO_NET_F_MRG_RXBUF) },
	{ VIRTIO_NET_F_MQ, VQ_NET_F(VIRTIO_NET_F_CTRL_VQ) },
	{ VIRTIO_NET_F_CTRL_MAC_ADDR, VQ_NET_F(VIRTIO_NET_F_CTRL_VQ) },
};

int vq_net_set_features(struct vq_net *n, uint64_t f)
{
	if ((f & ~n->host_features) || __builtin_popcountll(f & VQ_NET_F_SPLIT_ALL) > 1)
		return -EINVAL; /* at most one experimental split method */
	for (size_t i = 0; i < sizeof(feature_deps) / sizeof(feature_deps[0]); i++)
		if (VQ__NET_HAS(f, feature_deps[i].bit) && !(f & feature_deps[i].needs))
			return -EINVAL;
	n->features = f;
	n->hdr_size = vq_net_hdr_size(f);
	return 0;
}

/* ---- config space */

static void config_fill(const struct vq_net *n, struct virtio_net_config *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->mac, n->p.mac, sizeof(c->mac));
	c->status = n->status;
	c->max_virtqueue_pairs = n->p.max_pairs;
	c->mtu = n->p.mtu;
	c->speed = 0xffffffffu; /* unknown; SPEED_DUPLEX is not offered */
	c->duplex = 0xff;
}

static int config_range(uint32_t off, uint32_t len)
{
	uint32_t end;

	if (__builtin_add_overflow(off, len, &end) || end > sizeof(struct virtio_net_config))
		return -EINVAL;
	return 0;
}

int vq_net_get_config(const struct vq_net *n, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_net_config c;

	if (config_range(off, len) < 0 || (!buf && len))
		return -EINVAL;
	config_fill(n, &c);
	memcpy(buf, (const uint8_t *)&c + off, len);
	return 0;
}

int vq_net_set_config(struct vq_net *n, uint32_t off, const void *buf, uint32_t len)
{
	if (config_range(off, len) < 0 || (!buf && len))
		return -EINVAL;
	return -EPERM;
}

bool vq_net_set_link(struct vq_net *n, bool up)
{
	uint16_t s = up ? VIRTIO_NET_S_LINK_UP : 0;
	bool changed = s != n->status;

	n->status = s;
	return changed && VQ__NET_HAS(n->features, VIRTIO_NET_F_STATUS);
}

/* ---- queues */

unsigned vq_net_num_queues(const struct vq_net *n)
{
	return n->nq;
}

static bool is_ctrl(const struct vq_net *n, unsigned idx)
{
	return idx == 2u * n->p.max_pairs;
}

static int queue_init(struct vq_net *n, unsigned idx, struct vq__net_queue *q)
{
	if (is_ctrl(n, idx))
		return vq__net_pool_init(&q->pool, 1, 8, 1);
	if (idx & 1) { /* tx */
		q->pkt = calloc(VQ_NET_BURST_MAX, sizeof(*q->pkt));
		q->peek = calloc(VQ_NET_BURST_MAX, sizeof(*q->peek));
		if (!q->pkt || !q->peek)
			return -ENOMEM;
		return vq__net_pool_init(&q->pool, VQ_NET_BURST_MAX, 4 * VQ_NET_BURST_MAX,
					 VQ_NET_BURST_MAX);
	}
	return vq__net_pool_init(&q->pool, 64, 256, VQ__NET_ELEM_MAX);
}

int vq_net_set_queue(struct vq_net *n, unsigned idx, struct vq_dev *vq)
{
	struct vq__net_queue *q;
	int r;

	if (idx >= n->nq)
		return -EINVAL;
	q = &n->q[idx];
	if (q->vq && !is_ctrl(n, idx)) { /* give back what we hold */
		if (idx & 1)
			vq__net_tx_release(n, q, idx / 2);
		else
			vq__net_rx_release(n, q);
	}
	vq__net_split_queue_set(n, idx);
	if (!vq) {
		q->vq = NULL;
		return 0;
	}
	if (!q->pool.elem && (r = queue_init(n, idx, q)) < 0) {
		queue_fini(q);
		return r;
	}
	q->pool.ne = q->pool.ni = 0;
	q->npeek = 0;
	q->busy = false;
	q->vq = vq;
	return 0;
}

unsigned vq_net_active_pairs(const struct vq_net *n)
{
	return __atomic_load_n(&n->active_pairs, __ATOMIC_RELAXED);
}

_Static_assert(sizeof(struct vq_net_queue_stats) % sizeof(uint64_t) == 0, "counters are u64");

static void load_stats(const struct vq__net_queue *q, struct vq_net_queue_stats *out)
{
	const uint64_t *src = (const uint64_t *)&q->st;
	uint64_t *dst = (uint64_t *)out;

	for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++) /* see VQ__NET_COUNT */
		dst[k] = __atomic_load_n(&src[k], __ATOMIC_RELAXED);
}

int vq_net_get_stats(const struct vq_net *n, unsigned qp, struct vq_net_stats *out)
{
	if (qp >= n->p.max_pairs || !out)
		return -EINVAL;
	load_stats(&n->q[2u * qp], &out->rx);
	load_stats(&n->q[2u * qp + 1], &out->tx);
	return 0;
}

int vq_net_get_ctrl_stats(const struct vq_net *n, struct vq_net_queue_stats *out)
{
	unsigned idx = 2u * n->p.max_pairs;

	if (!out)
		return -EINVAL;
	if (idx >= n->nq)
		return -ENOENT;
	load_stats(&n->q[idx], out);
	return 0;
}
