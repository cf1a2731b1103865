/* SPDX-License-Identifier: MIT */
/*
 * A vhost-user-net port: one vq_vu_backend (control thread) driving one
 * vq_net device model, whose queue pairs (lanes) are polled by workers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vn.h"

static struct vn_lane *lane_of(struct vn_port *p, unsigned idx, bool *tx)
{
	if (idx / 2 >= p->npairs)
		return NULL;
	*tx = idx & 1;
	return &p->lanes[idx / 2];
}

/* Does the owning worker sleep on this ring's kick fd (kick mode)? */
static bool kick_watched(const struct vn_daemon *d, bool tx)
{
	return d->o.poll == VN_POLL_KICK && (tx || d->o.mode == VN_SOURCE);
}

static void net_notify(void *opaque, unsigned vq_index)
{
	struct vn_port *p = opaque;
	struct vq_vu_queue *q = vq_vu_queue(p->vu, vq_index);

	if (q)
		vq_vu_queue_signal(q);
}

void vn_port_broken(struct vn_port *p, struct vq_vu_queue *q)
{
	struct vq_dev *vd = q ? vq_vu_queue_dev(q) : NULL;

	if (!vd || !vq_dev_is_broken(vd))
		return;
	if (atomic_exchange(&p->broken, 1))
		return; /* already reported */
	atomic_fetch_add(&p->nbroken, 1); /* the statistics' errors */
	vn_log("%s: queue %u broken: %s; port stopped until the frontend resets it", p->name,
	       vq_vu_queue_index(q),
	       *vq_dev_error(vd) ? vq_dev_error(vd) : vq_violation_str(vq_dev_violation(vd)));
	vq_vu_queue_signal_error(q);
}

void vn_port_poll_ctrl(struct vn_port *p)
{
	int r;

	if (!p->ctrl_on || atomic_load(&p->broken))
		return;
	r = vq_net_ctrl_poll(p->net);
	if (r < 0 && r != -ENOTCONN)
		vn_port_broken(p, vq_vu_queue(p->vu, p->ctrl_idx));
}

/* A broken port is served again once the frontend restarted it from scratch. */
static void maybe_unbreak(struct vn_port *p, unsigned idx)
{
	if (!atomic_load(&p->broken))
		return;
	for (unsigned i = 0; i < vq_vu_num_queues(p->vu); i++)
		if (i != idx && vq_vu_queue_is_started(vq_vu_queue(p->vu, i)))
			return;
	atomic_store(&p->broken, 0);
	vn_log("%s: restarted by the frontend, serving again", p->name);
}

/*
 * DPDK virtio-user emulates the control queue in the frontend: it acks MQ,
 * CTRL_RX and CTRL_MAC_ADDR without CTRL_VQ.  Without a control queue those
 * mean nothing to the device, so drop them rather than refuse the set.
 */
#define CVQ_DEPENDENT                                                          \
	(VQ_NET_F(VIRTIO_NET_F_CTRL_RX) | VQ_NET_F(VIRTIO_NET_F_MQ) |         \
	 VQ_NET_F(VIRTIO_NET_F_CTRL_MAC_ADDR) | VQ_NET_F(VIRTIO_NET_F_CTRL_VLAN) | \
	 VQ_NET_F(VIRTIO_NET_F_GUEST_ANNOUNCE) | VQ_NET_F(VIRTIO_NET_F_CTRL_RX_EXTRA))

static int op_set_features(void *dev, uint64_t f)
{
	struct vn_port *p = dev;
	int r;

	f &= vq_net_host_features(p->net);
	if (!(f & VQ_NET_F(VIRTIO_NET_F_CTRL_VQ)))
		f &= ~CVQ_DEPENDENT;
	r = vq_net_set_features(p->net, f);

	if (r < 0)
		vn_log("%s: features 0x%llx refused", p->name, (unsigned long long)f);
	return r;
}

static int op_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct vn_port *p = dev;

	return vq_net_get_config(p->net, off, buf, len);
}

static void lane_watch(struct vn_port *p, struct vn_lane *l, struct vq_vu_queue *q, bool on)
{
	struct vn_worker *w = p->d->workers[l->worker];
	int fd = vq_vu_queue_kick_fd(q);

	if (fd < 0)
		return;
	if (on)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (vn_worker_watch(w, fd, on) < 0 && on)
		vn_log("%s: cannot watch the kick fd of queue %u", p->name, vq_vu_queue_index(q));
}

static int op_queue_start(void *dev, struct vq_vu_queue *q)
{
	struct vn_port *p = dev;
	unsigned idx = vq_vu_queue_index(q);
	struct vq_dev *vd = vq_vu_queue_dev(q);
	struct vn_lane *l;
	bool tx;
	int r;

	maybe_unbreak(p, idx);
	if ((r = vq_net_set_queue(p->net, idx, vd)) < 0)
		return r;
	if (idx == p->ctrl_idx) {
		p->ctrl_on = true;
		vn_port_poll_ctrl(p);
		return 0;
	}
	if (!(l = lane_of(p, idx, &tx)))
		return -EINVAL;
	vq_dev_disable_notify(vd); /* workers poll; kick mode re-enables when idle */
	if (kick_watched(p->d, tx))
		lane_watch(p, l, q, true);
	/* Release: the attached queue is visible before the flag (acquire in workers). */
	if (!tx)
		atomic_fetch_add(&p->rx_live, 1);
	atomic_store_explicit(tx ? &l->tx_on : &l->rx_on, true, memory_order_release);
	vn_worker_wake(p->d->workers[l->worker]);
	return 0;
}

static void op_queue_stop(void *dev, struct vq_vu_queue *q)
{
	struct vn_port *p = dev;
	unsigned idx = vq_vu_queue_index(q);
	struct vn_lane *l;
	bool tx;

	if (idx != p->ctrl_idx && (l = lane_of(p, idx, &tx))) {
		/* Seq_cst: ordered before vn_quiesce's epoch loads; pairs with
		 * the workers' seq_cst epoch increment and flag loads. */
		atomic_store_explicit(tx ? &l->tx_on : &l->rx_on, false, memory_order_seq_cst);
		if (!tx)
			atomic_fetch_sub(&p->rx_live, 1);
		if (kick_watched(p->d, tx))
			lane_watch(p, l, q, false);
		vn_quiesce(p->d);
	} else {
		p->ctrl_on = false;
	}
	vq_net_set_queue(p->net, idx, NULL); /* completes what the device held */
}

static void op_reset(void *dev)
{
	struct vn_port *p = dev;

	vn_port_fold(p);
	vq_net_reset(p->net);
	vn_mac_flush_port(p->d->mac, p->idx);
	p->ctrl_on = false;
	if (atomic_exchange(&p->broken, 0))
		vn_log("%s: reset, serving again", p->name);
}

static int op_send_rarp(void *dev, const uint8_t mac[6])
{
	return 0;
}

static int op_set_mtu(void *dev, uint16_t mtu)
{
	struct vn_port *p = dev;

	if (mtu < 68)
		return -EINVAL;
	if (p->d->o.verbose)
		vn_log("%s: frontend MTU %u", p->name, mtu);
	return 0;
}

static const struct vq_vu_device_ops port_ops = {
	.set_features = op_set_features,
	.get_config = op_get_config,
	.queue_start = op_queue_start,
	.queue_stop = op_queue_stop,
	.queue_kick = NULL, /* set in vn_port_new: control queue only */
	.reset = op_reset,
	.send_rarp = op_send_rarp,
	.set_mtu = op_set_mtu,
};

static void op_queue_kick(void *dev, struct vq_vu_queue *q)
{
	struct vn_port *p = dev;

	if (vq_vu_queue_index(q) == p->ctrl_idx)
		vn_port_poll_ctrl(p);
}

/*
 * The built-in loop, except that data-queue kick fds are not watched: they
 * belong to the workers (a second reader could steal a worker's wakeup).
 */
static int loop_watch(void *loop, int fd, struct vq_vu_backend *b, uint32_t tag)
{
	struct vn_port *p = vq_vu_device(b);

	if (tag != VQ_VU_TAG_SOCKET && tag != VQ_VU_TAG_TIMER && tag - 1 != p->ctrl_idx)
		return 0;
	return vq_vu_loop_ops()->watch(loop, fd, b, tag);
}

static struct vq_vu_loop_ops loop_ops;
static struct vq_vu_device_ops dev_ops;

static void port_name(struct vn_port *p, const char *path)
{
	const char *base = strrchr(path, '/');

	snprintf(p->name, sizeof(p->name), "%s", base && base[1] ? base + 1 : path);
	for (char *c = p->name; *c; c++)
		if (*c < 0x21 || *c > 0x7e || *c == '"' || *c == '\\')
			*c = '_';
}

static int port_net(struct vn_port *p)
{
	struct vn_daemon *d = p->d;
	struct vq_net_params np = {
		.max_pairs = (uint16_t)d->o.queues,
		.mtu = d->o.mtu,
		.features = d->o.in_order ? VQ_NET_FEATURES_DEFAULT | VQ_F_IN_ORDER : 0,
		.notify = net_notify,
		.opaque = p,
	};

	memcpy(np.mac, d->o.mac_base, 6);
	np.mac[5] = (uint8_t)(np.mac[5] + p->idx);
	return vq_net_new(&np, &p->net);
}

static int port_backend(struct vn_port *p)
{
	struct vn_daemon *d = p->d;
	unsigned nq = vq_net_num_queues(p->net);
	struct vq_vu_params c = {
		.name = p->name,
		.mode = d->o.client ? VQ_VU_CLIENT : VQ_VU_SERVER,
		.path = p->path,
		.listen_fd = p->path == d->o.fd_path ? d->o.listen_fd : -1, /* --fd */
		.ops = &dev_ops,
		.dev = p,
		.features = vq_net_host_features(p->net),
		.protocol_features = VQ_VU_PROTOCOL_F_ALL,
		.num_queues = nq,
		.queue_num = p->npairs,
		.loop_ops = &loop_ops,
		.loop = d->loop,
	};

	loop_ops = *vq_vu_loop_ops();
	loop_ops.watch = loop_watch;
	dev_ops = port_ops;
	dev_ops.queue_kick = op_queue_kick;
	p->ctrl_idx = nq > 2 * p->npairs ? 2 * p->npairs : UINT32_MAX;
	return vq_vu_backend_new(&c, &p->vu);
}

int vn_port_new(struct vn_daemon *d, const char *path, struct vn_port **out)
{
	struct vn_port *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->d = d;
	p->idx = d->nports;
	p->path = path;
	p->npairs = d->o.queues;
	port_name(p, path);
	p->lanes = aligned_alloc(VN_CACHELINE, p->npairs * sizeof(*p->lanes));
	if (!p->lanes) {
		free(p);
		return -ENOMEM;
	}
	memset(p->lanes, 0, p->npairs * sizeof(*p->lanes));
	if ((r = port_net(p)) < 0 || (r = port_backend(p)) < 0) {
		vn_port_free(p);
		return r;
	}
	for (unsigned i = 0; i < p->npairs; i++) {
		struct vn_lane *l = &p->lanes[i];

		l->port = p;
		l->pair = i;
		l->rxq = vq_vu_queue(p->vu, 2 * i);
		l->txq = vq_vu_queue(p->vu, 2 * i + 1);
	}
	*out = p;
	return 0;
}

void vn_port_free(struct vn_port *p)
{
	if (!p)
		return;
	vq_vu_backend_free(p->vu);
	vq_net_free(p->net);
	free(p->lanes);
	free(p);
}
