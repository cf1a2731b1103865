/* SPDX-License-Identifier: MIT */
/*
 * The device adapter: vq_vu_serve() serves one struct vq_device (a table of
 * operations, <virtq/device.h>) over a vhost-user socket.  It is a
 * vq_vu_backend whose vq_vu_device_ops are the trampolines below: each
 * turns a backend callback into the model's op, by queue index, and calls
 * the daemon's hooks around it (a daemon hands started queues to its own
 * threads there).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vu_internal.h"

struct vq__vu_serve {
	struct vq_device device;
	struct vq_vu_serve_hooks hooks;
	void *hook;
	struct vq_vu_backend *b;
	struct vq_device_host host;
	struct vq_vu_device_ops ops; /* the trampolines the backend calls */
	bool attached;      /* ops->attach(dev, &host) was called */
	bool has_features;  /* set_features reached the model since the reset */
	uint64_t features;  /* what it was told */
};

static const struct vq_device_ops *dops(const struct vq__vu_serve *s)
{
	return s->device.ops;
}

void *vq__vu_serve_device(const struct vq__vu_serve *s)
{
	return s->device.dev;
}

/* ---- what the model calls on us (vq_device_host), from any thread */

static struct vq_vu_queue *host_queue(void *host, unsigned idx)
{
	struct vq__vu_serve *s = host;

	return idx < s->b->nq ? &s->b->queues[idx] : NULL;
}

/* The model decided (vq_dev_need_notify): signal the call eventfd. */
static void host_notify(void *host, unsigned idx)
{
	struct vq_vu_queue *q = host_queue(host, idx);

	if (q)
		vq_vu_queue_signal(q);
}

static void host_queue_broken(void *host, unsigned idx)
{
	struct vq__vu_serve *s = host;
	struct vq_vu_queue *q = host_queue(host, idx);

	if (!q)
		return;
	vq_vu_queue_signal_error(q);
	if (s->hooks.queue_broken)
		s->hooks.queue_broken(s->hook, idx, q);
}

/* vhost-user tells a frontend of config changes over the backend request
 * channel (SLAVE_REQ), which the library does not offer: say so once. */
static void host_config_changed(void *host)
{
	struct vq__vu_serve *s = host;

	vq__vu_log(s->b, VQ_VU_LOG_DEBUG, "config changed: no backend channel to tell the "
		   "frontend; it sees the change on its next GET_CONFIG");
}

/* ---- vq_vu_device_ops trampolines (control thread) */

static void refresh_max_chain(struct vq__vu_serve *s)
{
	for (unsigned i = 0; i < s->b->nq; i++)
		s->b->queues[i].max_chain =
			dops(s)->max_chain ? dops(s)->max_chain(s->device.dev, i) : 0;
}

static int t_set_features(void *arg, uint64_t f)
{
	struct vq__vu_serve *s = arg;
	int rc;

	f &= ~VQ_VU_F_PROTOCOL_FEATURES; /* the transport's bit, not the model's */
	if (s->has_features && f == s->features)
		return 0; /* QEMU repeats it once per vhost_dev, while rings run */
	rc = dops(s)->set_features(s->device.dev, f);
	if (rc < 0)
		return rc;
	s->has_features = true;
	s->features = f;
	refresh_max_chain(s);
	return 0;
}

/* Reads past the model's structure, within VQ_VU_MAX_CONFIG, are zeros.
 * off + len does not overflow (the backend checked). */
static int t_get_config(void *arg, uint32_t off, void *buf, uint32_t len)
{
	struct vq__vu_serve *s = arg;
	uint32_t have = dops(s)->config_size, n;

	if (!have)
		return dops(s)->get_config(s->device.dev, off, buf, len);
	if (off + len > (have > VQ_VU_MAX_CONFIG ? have : VQ_VU_MAX_CONFIG))
		return -EINVAL;
	n = off >= have ? 0 : len < have - off ? len : have - off;
	memset((uint8_t *)buf + n, 0, len - n);
	return n ? dops(s)->get_config(s->device.dev, off, buf, n) : 0;
}

static int t_set_config(void *arg, uint32_t off, const void *buf, uint32_t len, uint32_t flags)
{
	struct vq__vu_serve *s = arg;

	return dops(s)->set_config(s->device.dev, off, buf, len);
}

static int t_queue_start(void *arg, struct vq_vu_queue *q)
{
	struct vq__vu_serve *s = arg;
	unsigned idx = q->index;
	int rc = dops(s)->queue_start(s->device.dev, idx, q->dev);

	if (rc < 0)
		return rc;
	if (!s->hooks.queue_started)
		return 0;
	rc = s->hooks.queue_started(s->hook, idx, q);
	if (rc < 0) {
		dops(s)->queue_stop(s->device.dev, idx);
		return rc;
	}
	q->kick_owned = rc > 0;
	return 0;
}

static void t_queue_stop(void *arg, struct vq_vu_queue *q)
{
	struct vq__vu_serve *s = arg;

	if (s->hooks.queue_stopping)
		s->hooks.queue_stopping(s->hook, q->index, q);
	dops(s)->queue_stop(s->device.dev, q->index);
	q->kick_owned = false;
}

static void t_queue_enable(void *arg, struct vq_vu_queue *q, bool on)
{
	struct vq__vu_serve *s = arg;

	if (dops(s)->queue_enable)
		dops(s)->queue_enable(s->device.dev, q->index, on);
	if (s->hooks.queue_enabled)
		s->hooks.queue_enabled(s->hook, q->index, q, on);
}

static void t_queue_kick(void *arg, struct vq_vu_queue *q)
{
	struct vq__vu_serve *s = arg;

	dops(s)->queue_kick(s->device.dev, q->index);
}

static void t_reset(void *arg)
{
	struct vq__vu_serve *s = arg;

	if (s->hooks.reset)
		s->hooks.reset(s->hook);
	if (dops(s)->reset)
		dops(s)->reset(s->device.dev);
	s->has_features = false;
	refresh_max_chain(s);
}

static int t_send_rarp(void *arg, const uint8_t mac[6])
{
	struct vq__vu_serve *s = arg;

	return s->hooks.send_rarp(s->hook, mac);
}

static int t_set_mtu(void *arg, uint16_t mtu)
{
	struct vq__vu_serve *s = arg;

	return s->hooks.set_mtu(s->hook, mtu);
}

/* The backend offers a protocol feature only when its callback is set:
 * these tables differ in the optional entries. */
static void fill_ops(const struct vq__vu_serve *s, struct vq_vu_device_ops *o)
{
	*o = (struct vq_vu_device_ops){
		.set_features = t_set_features,
		.get_config = dops(s)->get_config ? t_get_config : NULL,
		.set_config = dops(s)->set_config ? t_set_config : NULL,
		.queue_start = t_queue_start,
		.queue_stop = t_queue_stop,
		.queue_enable = t_queue_enable,
		.queue_kick = dops(s)->queue_kick ? t_queue_kick : NULL,
		.reset = t_reset,
		.send_rarp = s->hooks.send_rarp ? t_send_rarp : NULL,
		.set_mtu = s->hooks.set_mtu ? t_set_mtu : NULL,
	};
}

/* ---- lifetime */

static int check_params(const struct vq_vu_serve_params *p)
{
	const struct vq_device_ops *o = p ? p->device.ops : NULL;

	if (!o || !o->get_features || !o->set_features || !o->num_queues ||
	    !o->queue_start || !o->queue_stop)
		return -EINVAL;
	return 0;
}

static int serve_alloc(const struct vq_vu_serve_params *p, struct vq__vu_serve **out)
{
	struct vq__vu_serve *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->device = p->device;
	if (p->hooks)
		s->hooks = *p->hooks;
	s->hook = p->hook;
	s->host = (struct vq_device_host){
		.notify = host_notify,
		.queue_broken = host_queue_broken,
		.config_changed = host_config_changed,
		.host = s,
	};
	fill_ops(s, &s->ops);
	*out = s;
	return 0;
}

int vq_vu_serve(const struct vq_vu_serve_params *p, struct vq_vu_backend **out)
{
	struct vq__vu_serve *s;
	struct vq_vu_params c;
	int rc = check_params(p);

	if (rc < 0 || (rc = serve_alloc(p, &s)) < 0)
		return rc;
	c = (struct vq_vu_params){
		.name = p->name, .mode = p->mode, .path = p->path, .listen_fd = p->listen_fd,
		.ops = &s->ops, .dev = s,
		.features = dops(s)->get_features(s->device.dev),
		.protocol_features = p->protocol_features ? p->protocol_features
							  : VQ_VU_PROTOCOL_F_ALL,
		.num_queues = dops(s)->num_queues(s->device.dev),
		.queue_num = p->queue_num, .max_mem_slots = p->max_mem_slots,
		.loop_ops = p->loop_ops, .loop = p->loop,
	};
	rc = vq_vu_backend_new(&c, &s->b);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->b->serve = s;
	refresh_max_chain(s);
	if (dops(s)->attach) {
		dops(s)->attach(s->device.dev, &s->host);
		s->attached = true;
	}
	*out = s->b;
	return 0;
}

/* From vq_vu_backend_free, after the connection was dropped (the model's
 * queues are stopped and it was reset). */
void vq__vu_serve_free(struct vq__vu_serve *s)
{
	if (!s)
		return;
	if (s->attached)
		dops(s)->attach(s->device.dev, NULL);
	free(s);
}
