/* SPDX-License-Identifier: MIT */
/*
 * virtio-9p device model (VIRTIO 1.2 "9P Transport"): one request queue; a
 * chain's readable part is a 9p request, its writable part the response
 * (the driver's buffers, handed to the server as they are: zero copy).
 * Config space: struct virtio_9p_config (tag_len, then the mount tag).
 */
#include <errno.h>
#include <linux/virtio_9p.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p9_internal.h"

#define P9_DEV_BUDGET 64u

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

static int dev_queue_start(void *dev, unsigned idx, struct vq_dev *q)
{
	struct vq_9p_dev *d = dev;
	int err;

	if (idx != 0)
		return -EINVAL;
	if (!d->conn && (err = vq_9p_conn_new(d->s, &d->conn)) < 0)
		return err;
	d->q = q;
	return 0;
}

static void dev_queue_stop(void *dev, unsigned idx)
{
	struct vq_9p_dev *d = dev;

	if (idx == 0)
		d->q = NULL;
}

/* Pop one chain and answer it: 1, 0 (empty), -errno (queue broken). */
static int serve_one(struct vq_9p_dev *d)
{
	struct vq_elem e = { .iov = d->iov, .iov_cap = d->iov_cap };
	int r = vq_dev_pop(d->q, &e), n;

	if (r <= 0)
		return r;
	n = vq_9p_conn_handle(d->conn, e.iov, e.out_num, e.iov + e.out_num, e.in_num);
	if (n < 0) { /* a broken session, or no room for an answer: used len 0 */
		d->dropped++;
		n = 0;
	} else {
		d->served++;
	}
	return vq_dev_push(d->q, &e, (uint32_t)n) < 0 ? -EIO : 1;
}

static int dev_queue_poll(void *dev, unsigned idx, unsigned budget)
{
	struct vq_9p_dev *d = dev;
	unsigned done = 0;
	int r = 0;

	if (idx != 0 || !d->q)
		return -EINVAL;
	if (vq_dev_is_broken(d->q))
		return -EIO; /* reported once, when it broke */
	while (done < budget && (r = serve_one(d)) > 0)
		done++;
	vq_dev_flush(d->q);
	if (done && vq_dev_need_notify(d->q) && d->host.notify)
		d->host.notify(d->host.host, 0);
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
		int n;

		vq_dev_disable_notify(d->q);
		do
			n = dev_queue_poll(d, idx, P9_DEV_BUDGET);
		while (n == (int)P9_DEV_BUDGET);
		if (n < 0 || !vq_dev_enable_notify(d->q))
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
	d->large_chain = p->large_chain;
	d->max_chain = p->max_chain ? p->max_chain : VQ_MAX_CHAIN;
	d->iov_cap = VQ_MAX_CHAIN; /* any chain the ring accepts fits */
	d->iov = calloc(d->iov_cap, sizeof(*d->iov));
	if (!d->iov) {
		free(d);
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
