/* SPDX-License-Identifier: MIT */
/* Internals of the virtio-net device model.  Not installed. */
#ifndef VQ_NET_INTERNAL_H
#define VQ_NET_INTERNAL_H

#include <virtq/net.h>
#include <virtq/net_split.h>

#include "devices/device_host.h"
#include "devices/iov.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtq targets little-endian hosts (wire fields are used as-is)"
#endif

#define VQ__NET_HAS(f, bit) (((f) & VQ_NET_F(bit)) != 0)

/* Add n to a queue counter.  One writer (the thread serving the queue);
 * vq_net_get_stats may read from another thread: relaxed atomic stores
 * and loads, so a counter is never torn (the set is not one snapshot). */
#define VQ__NET_COUNT(field, n) \
	__atomic_store_n(&(field), (field) + (uint64_t)(n), __ATOMIC_RELAXED)
#define VQ__NET_IOV_MAX   (1u << 17) /* most iovecs one queue's pool grows to */
#define VQ__NET_ELEM_MAX  (1u << 16) /* most chains one rx queue holds */
#define VQ__NET_CTRL_MAX  2048u      /* longest control command we read */
#define VQ__NET_GSO_SEGS  1024u      /* most segments of one software GSO */
#define VQ__NET_L234_MAX  192u       /* longest Ethernet+IP+TCP header we segment */

/*
 * Popped chains and their iovecs.  Chains are appended in pop order; their
 * iovecs lie in iov[] in the same order, back to back, or in fixed slices
 * after a burst pop (vq__net_pool_pop_burst); ni is past the last one in
 * use.  Growing rebases the chains' pointers.
 */
struct vq__net_pool {
	struct vq_elem *elem;
	struct iovec *iov;
	unsigned ecap, icap; /* capacities */
	unsigned ne, ni;     /* chains held, iovecs they use */
	unsigned emax;       /* most chains ever (growth bound) */
};

struct vq__net_queue {
	struct vq_dev *vq;
	struct vq__net_pool pool;
	struct vq_net_queue_stats st;
	struct vq_net_pkt *pkt; /* tx: VQ_NET_BURST_MAX frames */
	struct vq_peeked *peek; /* tx: VQ_NET_BURST_MAX buffers read in place */
	unsigned npeek;         /* tx: how many the burst holds (then no pool) */
	bool busy;              /* tx: a burst awaits vq_net_tx_done */
	unsigned rx_fast_skip;  /* rx: bursts before rx_fast is tried again */
};

struct vq_net {
	/* first (vq__device_attach): the transport, else the params' notify */
	struct vq_device_host host;
	struct vq_net_params p;
	uint64_t host_features;
	uint64_t features;
	size_t hdr_size;
	uint16_t status;
	unsigned nq;            /* queues: 2*max_pairs (+1 control) */
	unsigned active_pairs;  /* relaxed atomic: read by any thread */
	/* The receive filter is read by other ports' threads (a switch asks
	 * vq_net_rx_accept) while this port's control path changes it: a
	 * sequence lock, every word stored and loaded atomically (ctrl.c). */
	uint32_t filter_seq;    /* odd while a change is being written */
	struct vq_net_rx_filter filter;
	struct vq__net_queue *q; /* nq entries */
	bool ctrl_reported;     /* the broken control queue was reported */
	struct vq__net_hdr_ring *hring; /* EXPERIMENTAL split: max_pairs when offered, or NULL */
};

/* Piece of a frame to copy: len bytes starting off bytes into iov[0..cnt). */
struct vq__net_src {
	const struct iovec *iov;
	unsigned cnt;
	size_t off;
	size_t len;
};

/* pool.c-like helpers (net.c) */
int vq__net_pool_init(struct vq__net_pool *p, unsigned ecap, unsigned icap, unsigned emax);
void vq__net_pool_fini(struct vq__net_pool *p);
int vq__net_pool_pop_slow(struct vq__net_pool *p, struct vq_dev *q, struct vq_elem **out);

/*
 * Pop one chain into the pool.  Returns 1 and *out, 0 when the ring is
 * empty, -ENOBUFS when the pool may not grow further, -ENOMEM, or -EIO when
 * the ring is broken (also the first time: the violation's own errno, e.g.
 * -EINVAL or -E2BIG, would read as a frame-level error to the callers).
 * Inline: the steady state, where the chain fits the pool as it is; the
 * pool grows (vq__net_pool_pop_slow) only when it does not.
 */
static inline __attribute__((always_inline))
int vq__net_pool_pop(struct vq__net_pool *p, struct vq_dev *q, struct vq_elem **out)
{
	struct vq_elem *e;
	int r;

	if (__builtin_expect(p->ne == p->ecap, 0))
		return vq__net_pool_pop_slow(p, q, out);
	e = &p->elem[p->ne];
	e->iov = p->iov + p->ni;
	e->iov_cap = p->icap - p->ni;
	r = vq_dev_pop(q, e);
	if (__builtin_expect(r == 1, 1)) {
		p->ne++;
		p->ni += e->out_num + e->in_num;
		*out = e;
		return 1;
	}
	if (r == 0)
		return 0;
	return vq__net_pool_pop_slow(p, q, out); /* grow, or map the error */
}
int vq__net_pool_pop_burst(struct vq__net_pool *p, struct vq_dev *q, unsigned max);
void vq__net_pool_consume(struct vq__net_pool *p, unsigned k);
void vq__net_notify(struct vq_net *n, unsigned vq_index);

/*
 * vq_net_hdr_parse of the common tx header, inline: no NEEDS_CSUM, GSO_NONE
 * and a frame length in range give the same result as vq_net_hdr_parse
 * (flags and csum fields zero, hdr_len and gso_size kept, num_buffers 0);
 * anything else goes to it.  h holds a copy of the guest's header: it is
 * read once, so the checks and the use see the same bytes.
 */
static inline __attribute__((always_inline))
int vq__net_hdr_parse_fast(uint64_t features, const struct virtio_net_hdr_v1 *h,
			   uint64_t frame_len, struct virtio_net_hdr_v1 *out)
{
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || h->gso_type != VIRTIO_NET_HDR_GSO_NONE ||
	    frame_len < VQ_NET_MIN_FRAME || frame_len > VQ_NET_MAX_FRAME)
		return vq_net_hdr_parse(features, h, sizeof(*h), frame_len, out);
	*out = (struct virtio_net_hdr_v1){ .hdr_len = h->hdr_len, .gso_size = h->gso_size };
	return 0;
}

/* checksums (offload.c) */
uint32_t vq__net_csum_add(uint32_t sum, const void *buf, size_t len, bool odd);
uint32_t vq__net_csum_iov(const struct iovec *iov, unsigned cnt, size_t off, size_t len,
			  uint32_t sum);
uint16_t vq__net_csum_fold(uint32_t sum);
int vq__net_csum_complete(const struct vq_net_pkt *pkt, size_t *pos, uint16_t *val);

/* Software TCP segmentation: calls emit() for each segment. */
struct vq__net_seg {
	struct virtio_net_hdr_v1 hdr;  /* plain (gso NONE, flags 0) */
	uint8_t hbuf[VQ__NET_L234_MAX]; /* headers of this segment */
	struct iovec hiov;             /* points at hbuf */
	struct vq__net_src src[2];     /* headers, payload slice */
	uint32_t len;
};
typedef int (*vq__net_emit_fn)(void *ctx, const struct vq__net_seg *seg, unsigned idx);
int vq__net_gso_tcp(const struct vq_net_pkt *pkt, vq__net_emit_fn emit, void *ctx,
		    unsigned *nseg);

/*
 * EXPERIMENTAL header/data split placement (split.c, net_split.h): 1 when
 * the frame was placed split, 0 when the ring is empty, -EAGAIN when it is
 * not split here (the caller places it as usual; a chain may be held in the
 * pool), or the ring's error.  *pushed counts chains pushed.
 */
int vq__net_rx_split(struct vq_net *n, struct vq__net_queue *q,
		     const struct virtio_net_hdr_v1 *h, const struct vq_net_pkt *pkt,
		     unsigned *pushed);
/* Methods B and C (split_mrg.c), as vq__net_rx_split. */
int vq__net_rx_split_mrg(struct vq_net *n, struct vq__net_queue *q,
			 const struct virtio_net_hdr_v1 *h, const struct vq_net_pkt *pkt,
			 unsigned *pushed);
/* Hand back the last chain popped into q's pool, which is readable (datapath.c). */
int vq__net_rx_bad_chain(struct vq_net *n, struct vq__net_queue *q, unsigned *pushed);
/* Header/data split applies to frames longer than split_thresh; shorter
 * ones are received as without it.  The one place that rule lives. */
static inline int vq__net_split_long(const struct vq_net *n, const struct vq_net_pkt *pkt)
{
	return pkt->len > n->p.split_thresh;
}
/*
 * Header ring (VQ_NET_F_SPLIT_HDR_RING): write the frame's protocol headers
 * into the next free entry of pair qp's ring.  Returns the header length
 * (the caller places only the payload, with VQ_NET_HDR_F_SPLIT and hdr_len
 * set in *h, then calls vq__net_hdr_ring_commit if it was delivered), or 0
 * when the frame goes unsplit (ring empty or unset, header too large, not
 * splittable).  The caller sends only frames vq__net_split_long accepts.
 */
uint32_t vq__net_hdr_ring_put(struct vq_net *n, unsigned qp, struct virtio_net_hdr_v1 *h,
			      const struct vq_net_pkt *pkt);

/*
 * One rx queue's header ring (split.c).  The control thread configures it
 * while the thread serving the pair may be placing frames: state hands it
 * over (see split.c).  base, tail and avail are the data path's cache:
 * host addresses of entry 0 and of the tail, translated at the first frame
 * after the ring was configured or its rx queue set (vq_net_set_queue:
 * over vhost-user every change of the memory table stops and restarts the
 * queues), and the entries the last tail read said free, used up before
 * the tail is read again.
 */
enum { VQ__NET_HR_OFF, VQ__NET_HR_ON, VQ__NET_HR_DISABLED };
struct vq__net_hdr_ring {
	struct vq_net_split_hdr_ring r; /* mem NULL: the rx queue's memory map */
	uint8_t *base;                  /* entry 0, or NULL: translate first */
	const uint16_t *tail;           /* the driver's tail (when base is set) */
	uint16_t head;                  /* entries used, free-running */
	uint16_t avail;                 /* entries free from head on, known */
	uint8_t state;                  /* VQ__NET_HR_*, atomic */
};

/* The frame vq__net_hdr_ring_put placed a header for was delivered: its
 * entry is used. */
static inline void vq__net_hdr_ring_commit(struct vq_net *n, unsigned qp)
{
	struct vq__net_hdr_ring *h = &n->hring[qp];

	h->head++;
	h->avail--; /* put saw avail > 0 */
}
/* Rx queue idx was set or cleared (vq_net_set_queue): its ring, if any,
 * is translated again at the next frame. */
void vq__net_split_queue_set(struct vq_net *n, unsigned idx);
/* VQ_NET_CTRL_SPLIT commands: 0 (ack) or -errno (nak). */
int vq__net_split_ctrl(struct vq_net *n, const struct vq_net_ctrl_cmd *c,
		       const struct vq_mem *mem);
/* Header rings: allocated with the device when it offers them (n->hring),
 * every ring off on reset, freed with the device. */
int vq__net_split_init(struct vq_net *n);
void vq__net_split_reset(struct vq_net *n);
void vq__net_split_fini(struct vq_net *n);
/* tx/rx/ctrl (tx.c, rx.c, ctrl.c) */
void vq__net_rx_release(struct vq_net *n, struct vq__net_queue *q);
void vq__net_tx_release(struct vq_net *n, struct vq__net_queue *q, unsigned qp);
/* mem: the driver's memory map (the control ring's), for commands that
 * carry guest addresses. */
int vq__net_ctrl_apply(struct vq_net *n, const struct vq_net_ctrl_cmd *c,
		       const struct vq_mem *mem);
void vq__net_filter_default(struct vq_net *n);

#endif
