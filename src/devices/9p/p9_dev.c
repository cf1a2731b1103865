/* SPDX-License-Identifier: MIT */
/*
 * virtio-9p device model (VIRTIO 1.2 "9P Transport"): one request queue; a
 * chain's readable part is a 9p request, its writable part the response
 * (the driver's buffers, handed to the server as they are: zero copy).
 * Config space: struct virtio_9p_config (tag_len, then the mount tag).
 */
#include <errno.h>
#include <linux/virtio_9p.h>
#include <pthread.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p9_internal.h"

#define P9_DEV_BUDGET   64u
#define P9_DEV_INFLIGHT 64u  /* chains being served at once (workers > 0) */
#define P9_DEV_SMALL_IOV 64u /* grown to VQ_MAX_CHAIN for a long chain */

/* A chain in flight on a worker. */
struct p9_delem {
	struct vq_9p_dev *d;
	struct vq_elem e;
	struct iovec *iov;
	uint32_t cap;
	bool busy;
};

struct vq_9p_dev {
	struct vq_9p *s;
	struct vq_9p_conn *conn;
	struct vq_dev *q;
	struct vq_device_host host;
	bool large_chain;
	uint32_t max_chain;
	uint64_t features;
	struct iovec *iov;
	uint32_t iov_cap;
	uint8_t config[sizeof(struct virtio_9p_config) + VQ_9P_MAX_TAG];
	uint32_t config_len;
	uint64_t served, dropped;
	unsigned workers;
	/* The ring is driven by the kick thread (pop) and the workers (push):
	 * every ring call is made under mx. */
	pthread_mutex_t mx;
	pthread_cond_t freed; /* a p9_delem was given back */
	struct p9_delem el[P9_DEV_INFLIGHT];
};

static uint64_t dev_get_features(void *dev)
{
	struct vq_9p_dev *d = dev;

	return (1ull << VIRTIO_9P_MOUNT_TAG) | VQ_F_VERSION_1 | VQ_F_INDIRECT | VQ_F_EVENT_IDX |
	       VQ_F_PACKED | (d->large_chain ? VQ_F_LARGE_CHAIN : 0);
}

static int dev_set_features(void *dev, uint64_t f)
{
	struct vq_9p_dev *d = dev;

	if (f & ~dev_get_features(dev))
		return -EINVAL;
	if (d->q && f != d->features)
		return -EBUSY;
	d->features = f;
	return 0;
}

static int dev_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct vq_9p_dev *d = dev;

	if (off > d->config_len || len > d->config_len - off)
		return -EINVAL;
	memcpy(buf, d->config + off, len);
	return 0;
}

static unsigned dev_num_queues(void *dev)
{
	return 1;
}

static unsigned dev_max_chain(void *dev, unsigned idx)
{
	struct vq_9p_dev *d = dev;

	return (d->large_chain && (d->features & VQ_F_LARGE_CHAIN)) ? d->max_chain : 0;
}

/* Answer a chain (n bytes; 0 = returned unanswered), mx held. */
static int dev_answer(struct vq_9p_dev *d, const struct vq_elem *e, int n)
{
	if (n < 0) { /* a broken session, or no room for an answer: used len 0 */
		d->dropped++;
		n = 0;
	} else {
		d->served++;
	}
	return d->q && vq_dev_push(d->q, e, (uint32_t)n) < 0 ? -EIO : 0;
}

/* The connection's done (a worker, or the kick thread for Tflush). */
static void dev_done(void *opaque, void *cookie, int len)
{
	struct vq_9p_dev *d = opaque;
	struct p9_delem *x = cookie;

	pthread_mutex_lock(&d->mx);
	if (dev_answer(d, &x->e, len) == 0 && d->q) {
		vq_dev_flush(d->q);
		if (vq_dev_need_notify(d->q) && d->host.notify)
			d->host.notify(d->host.host, 0);
	} else if (d->q) {
		vq__p9_log(d->conn, "9p: request queue broken: %s", vq_dev_error(d->q));
	}
	x->busy = false;
	pthread_cond_signal(&d->freed);
	pthread_mutex_unlock(&d->mx);
}

static int dev_queue_start(void *dev, unsigned idx, struct vq_dev *q)
{
	struct vq_9p_dev *d = dev;
	struct vq_9p_async_params ap = { .workers = d->workers, .max_tags = P9_DEV_INFLIGHT,
					 .done = dev_done, .opaque = d };
	int err;

	if (idx != 0)
		return -EINVAL;
	if (!d->conn) {
		err = vq_9p_conn_new(d->s, &d->conn);
		if (!err && d->workers)
			err = vq_9p_conn_start(d->conn, &ap);
		if (err) {
			vq_9p_conn_free(d->conn);
			d->conn = NULL;
			return err;
		}
	}
	pthread_mutex_lock(&d->mx);
	d->q = q;
	pthread_mutex_unlock(&d->mx);
	return 0;
}

/* Returns when no worker touches the queue or its buffers any more. */
static void dev_queue_stop(void *dev, unsigned idx)
{
	struct vq_9p_dev *d = dev;

	if (idx != 0)
		return;
	if (d->conn)
		vq_9p_conn_drain(d->conn);
	pthread_mutex_lock(&d->mx);
	d->q = NULL;
	pthread_mutex_unlock(&d->mx);
}

/* Pop one chain and answer it here: 1, 0 (empty), -errno (queue broken). */
static int serve_inline(struct vq_9p_dev *d)
{
	struct vq_elem e = { .iov = d->iov, .iov_cap = d->iov_cap };
	int r, n;

	pthread_mutex_lock(&d->mx);
	r = vq_dev_pop(d->q, &e);
	pthread_mutex_unlock(&d->mx);
	if (r <= 0)
		return r;
	n = vq_9p_conn_handle(d->conn, e.iov, e.out_num, e.iov + e.out_num, e.in_num);
	pthread_mutex_lock(&d->mx);
	r = dev_answer(d, &e, n);
	pthread_mutex_unlock(&d->mx);
	return r < 0 ? r : 1;
}

/* A free p9_delem, waiting for a worker to give one back; mx held. */
static struct p9_delem *delem_take(struct vq_9p_dev *d)
{
	for (;;) {
		for (unsigned i = 0; i < P9_DEV_INFLIGHT; i++) {
			if (!d->el[i].busy) {
				d->el[i].busy = true;
				return &d->el[i];
			}
		}
		pthread_cond_wait(&d->freed, &d->mx);
	}
}

/* Pop a chain into x (mx held), growing x's segments for a long chain. */
static int delem_pop(struct vq_9p_dev *d, struct p9_delem *x)
{
	for (;;) {
		x->e = (struct vq_elem){ .iov = x->iov, .iov_cap = x->cap };
		int r = vq_dev_pop(d->q, &x->e);

		if (r != -ENOBUFS || x->cap >= VQ_MAX_CHAIN)
			return r;
		struct iovec *nv = realloc(x->iov, VQ_MAX_CHAIN * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		x->iov = nv;
		x->cap = VQ_MAX_CHAIN;
	}
}

/* Pop one chain and hand it to the workers: 1, 0 (empty), -errno. */
static int serve_async(struct vq_9p_dev *d)
{
	struct p9_delem *x;
	int r;

	pthread_mutex_lock(&d->mx);
	x = delem_take(d);
	r = d->q ? delem_pop(d, x) : 0;
	if (r <= 0) {
		x->busy = false;
		pthread_mutex_unlock(&d->mx);
		return r;
	}
	pthread_mutex_unlock(&d->mx);
	if (vq_9p_conn_submit(d->conn, x->e.iov, x->e.out_num, x->e.iov + x->e.out_num,
			      x->e.in_num, x) < 0)
		dev_done(d, x, -EPROTO); /* returned unanswered */
	return 1;
}

static int serve_one(struct vq_9p_dev *d)
{
	return d->workers ? serve_async(d) : serve_inline(d);
}

static int dev_queue_poll(void *dev, unsigned idx, unsigned budget)
{
	struct vq_9p_dev *d = dev;
	unsigned done = 0;
	int r = 0;

	if (idx != 0 || !d->q)
		return -EINVAL;
	pthread_mutex_lock(&d->mx);
	r = vq_dev_is_broken(d->q);
	pthread_mutex_unlock(&d->mx);
	if (r)
		return -EIO; /* reported once, when it broke */
	while (done < budget && (r = serve_one(d)) > 0)
		done++;
	pthread_mutex_lock(&d->mx);
	vq_dev_flush(d->q);
	if (done && vq_dev_need_notify(d->q) && d->host.notify)
		d->host.notify(d->host.host, 0);
	pthread_mutex_unlock(&d->mx);
	if (r < 0) {
		vq__p9_log(d->conn, "9p: request queue broken: %s", vq_dev_error(d->q));
		if (d->host.queue_broken)
			d->host.queue_broken(d->host.host, 0);
		return r;
	}
	return (int)done;
}

/* A kick: serve until empty, then re-arm notifications and check again. */
static void dev_queue_kick(void *dev, unsigned idx)
{
	struct vq_9p_dev *d = dev;

	while (d->q) {
		bool more;
		int n;

		pthread_mutex_lock(&d->mx);
		vq_dev_disable_notify(d->q);
		pthread_mutex_unlock(&d->mx);
		do
			n = dev_queue_poll(d, idx, P9_DEV_BUDGET);
		while (n == (int)P9_DEV_BUDGET);
		if (n < 0)
			break;
		pthread_mutex_lock(&d->mx);
		more = vq_dev_enable_notify(d->q);
		pthread_mutex_unlock(&d->mx);
		if (!more)
			break;
	}
}

static void dev_reset(void *dev)
{
	struct vq_9p_dev *d = dev;

	vq_9p_conn_free(d->conn); /* a new session: every fid goes */
	d->conn = NULL;
	d->features = 0;
}

static void dev_attach(void *dev, const struct vq_device_host *host)
{
	struct vq_9p_dev *d = dev;

	d->host = host ? *host : (struct vq_device_host){ 0 };
}

const struct vq_device_ops vq_9p_device_ops = {
	.name = "9p",
	.device_id = VIRTIO_ID_9P,
	.get_features = dev_get_features,
	.set_features = dev_set_features,
	.get_config = dev_get_config,
	.num_queues = dev_num_queues,
	.max_chain = dev_max_chain,
	.queue_start = dev_queue_start,
	.queue_stop = dev_queue_stop,
	.queue_kick = dev_queue_kick,
	.queue_poll = dev_queue_poll,
	.reset = dev_reset,
	.attach = dev_attach,
};

int vq_9p_dev_new(const struct vq_9p_dev_params *p, struct vq_9p_dev **out)
{
	struct vq_9p_dev *d;
	size_t tl;

	if (!p || !p->server || !out || p->max_chain > VQ_MAX_CHAIN)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->s = p->server;
	d->workers = p->workers;
	d->large_chain = p->large_chain;
	d->max_chain = p->max_chain ? p->max_chain : VQ_MAX_CHAIN;
	d->iov_cap = VQ_MAX_CHAIN; /* any chain the ring accepts fits */
	d->iov = calloc(d->iov_cap, sizeof(*d->iov));
	for (unsigned i = 0; i < P9_DEV_INFLIGHT && d->workers; i++) {
		d->el[i].cap = P9_DEV_SMALL_IOV;
		d->el[i].iov = calloc(P9_DEV_SMALL_IOV, sizeof(struct iovec));
		if (!d->el[i].iov)
			d->iov_cap = 0;
	}
	pthread_mutex_init(&d->mx, NULL);
	pthread_cond_init(&d->freed, NULL);
	if (!d->iov || !d->iov_cap) {
		vq_9p_dev_free(d);
		return -ENOMEM;
	}
	tl = strlen(vq_9p_tag(d->s));
	d->config[0] = (uint8_t)tl; /* tag_len, little-endian (virtio 1.x) */
	d->config[1] = (uint8_t)(tl >> 8);
	memcpy(d->config + 2, vq_9p_tag(d->s), tl);
	d->config_len = (uint32_t)(2 + tl);
	*out = d;
	return 0;
}

void vq_9p_dev_free(struct vq_9p_dev *d)
{
	if (!d)
		return;
	vq_9p_conn_free(d->conn);
	for (unsigned i = 0; i < P9_DEV_INFLIGHT; i++)
		free(d->el[i].iov);
	pthread_mutex_destroy(&d->mx);
	pthread_cond_destroy(&d->freed);
	free(d->iov);
	free(d);
}

struct vq_device vq_9p_dev_device(struct vq_9p_dev *d)
{
	return (struct vq_device){ .ops = &vq_9p_device_ops, .dev = d };
}

void vq_9p_dev_stats(const struct vq_9p_dev *d, uint64_t *served, uint64_t *dropped)
{
	*served = d->served;
	*dropped = d->dropped;
}
