/* SPDX-License-Identifier: MIT */
/*
 * A vhost-user-net port: the library serves one vq_net device model (its
 * ops table) with vq_vu_serve on the control thread; the hooks below give
 * its queue pairs (lanes) to the workers, which poll them.  The control
 * queue stays with the model.
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

/* Mark the port broken (the first time) and say why.  True the first time. */
static bool port_mark_broken(struct vn_port *p, struct vq_vu_queue *q, struct vq_dev *vd)
{
	if (atomic_exchange(&p->broken, 1))
		return false; /* already reported */
	atomic_fetch_add(&p->nbroken, 1); /* the statistics' errors */
	vn_log("%s: queue %u broken: %s; port stopped until the frontend resets it", p->name,
	       vq_vu_queue_index(q),
	       *vq_dev_error(vd) ? vq_dev_error(vd) : vq_violation_str(vq_dev_violation(vd)));
	return true;
}

/* A worker saw a data ring fail: if it really broke, stop the port and
 * signal the queue's error eventfd. */
void vn_port_broken(struct vn_port *p, struct vq_vu_queue *q)
{
	struct vq_dev *vd = q ? vq_vu_queue_dev(q) : NULL;

	if (vd && vq_dev_is_broken(vd) && port_mark_broken(p, q, vd))
		vq_vu_queue_signal_error(q);
}

/* Control queues without a kick fd: the model serves its control queue. */
void vn_port_poll_ctrl(struct vn_port *p)
{
	if (!p->ctrl_on || atomic_load(&p->broken))
		return;
	vq_net_device_ops()->queue_poll(p->net, p->ctrl_idx, 0);
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

/* ---- vq_vu_serve hooks (control thread): the library serves the port's
 * vq_net model; the hooks give its data queues (lanes) to the workers. */

/* The model attached queue idx.  A data queue goes to its lane's worker,
 * which owns its kick fd (returns 1); the control queue stays with the
 * model, kicked through the loop (returns 0). */
static int hook_queue_started(void *hook, unsigned idx, struct vq_vu_queue *q)
{
	struct vn_port *p = hook;
	struct vn_lane *l;
	bool tx;

	maybe_unbreak(p, idx);
	if (idx == p->ctrl_idx) {
		p->ctrl_on = true;
		return 0;
	}
	if (!(l = lane_of(p, idx, &tx)))
		return -EINVAL;
	vq_dev_disable_notify(vq_vu_queue_dev(q)); /* workers poll; kick mode re-enables when idle */
	if (kick_watched(p->d, tx))
		lane_watch(p, l, q, true);
	/* Release: the attached queue is visible before the flag (acquire in workers). */
	if (!tx)
		atomic_fetch_add(&p->rx_live, 1);
	atomic_store_explicit(tx ? &l->tx_on : &l->rx_on, true, memory_order_release);
	vn_worker_wake(p->d->workers[l->worker]);
	return 1;
}

/* Take a data queue back from the workers; the model's queue_stop follows. */
static void hook_queue_stopping(void *hook, unsigned idx, struct vq_vu_queue *q)
{
	struct vn_port *p = hook;
	struct vn_lane *l;
	bool tx;

	if (idx == p->ctrl_idx || !(l = lane_of(p, idx, &tx))) {
		p->ctrl_on = false;
		return;
	}
	/* Seq_cst: ordered before vn_quiesce's epoch loads; pairs with the
	 * workers' seq_cst epoch increment and flag loads. */
	atomic_store_explicit(tx ? &l->tx_on : &l->rx_on, false, memory_order_seq_cst);
	if (!tx)
		atomic_fetch_sub(&p->rx_live, 1);
	if (kick_watched(p->d, tx))
		lane_watch(p, l, q, false);
	vn_quiesce(p->d);
}

/* The model's control queue broke (its error eventfd is signalled). */
static void hook_queue_broken(void *hook, unsigned idx, struct vq_vu_queue *q)
{
	struct vn_port *p = hook;
	struct vq_dev *vd = vq_vu_queue_dev(q);

	if (vd)
		port_mark_broken(p, q, vd);
}

/* Before the model's reset: keep its counters, forget the port's MACs. */
static void hook_reset(void *hook)
{
	struct vn_port *p = hook;

	vn_port_fold(p);
	vn_mac_flush_port(p->d->mac, p->idx);
	p->ctrl_on = false;
	if (atomic_exchange(&p->broken, 0))
		vn_log("%s: reset, serving again", p->name);
}

static int hook_send_rarp(void *hook, const uint8_t mac[6])
{
	return 0;
}

static int hook_set_mtu(void *hook, uint16_t mtu)
{
	struct vn_port *p = hook;

	if (mtu < 68)
		return -EINVAL;
	if (p->d->o.verbose)
		vn_log("%s: frontend MTU %u", p->name, mtu);
	return 0;
}

static const struct vq_vu_serve_hooks port_hooks = {
	.queue_started = hook_queue_started,
	.queue_stopping = hook_queue_stopping,
	.queue_broken = hook_queue_broken,
	.reset = hook_reset,
	.send_rarp = hook_send_rarp,
	.set_mtu = hook_set_mtu,
};

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
		.features = (d->o.in_order ? VQ_NET_FEATURES_DEFAULT | VQ_F_IN_ORDER : 0) |
			    (d->o.split ? VQ_NET_FEATURES_DEFAULT | d->o.split : 0),
		.split_thresh = (uint16_t)d->o.split_thresh,
	};

	memcpy(np.mac, d->o.mac_base, 6);
	np.mac[5] = (uint8_t)(np.mac[5] + p->idx);
	return vq_net_new(&np, &p->net);
}

/* Serve the port's model over vhost-user (vq_net_device's ops table). */
static int port_backend(struct vn_port *p)
{
	struct vn_daemon *d = p->d;
	unsigned nq = vq_net_num_queues(p->net);
	struct vq_vu_serve_params sp = {
		.name = p->name,
		.mode = d->o.client ? VQ_VU_CLIENT : VQ_VU_SERVER,
		.path = p->path,
		.listen_fd = p->path == d->o.fd_path ? d->o.listen_fd : -1, /* --fd */
		.device = vq_net_device(p->net),
		.protocol_features = VQ_VU_PROTOCOL_F_ALL,
		.queue_num = p->npairs,
		.loop_ops = vq_vu_loop_ops(),
		.loop = d->loop,
		.hooks = &port_hooks,
		.hook = p,
	};

	p->ctrl_idx = nq > 2 * p->npairs ? 2 * p->npairs : UINT32_MAX;
	return vq_vu_serve(&sp, &p->vu);
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
