/* SPDX-License-Identifier: MIT */
/*
 * The virtio-blk model as a table of operations (<virtq/device.h>), for a
 * transport such as vq_vu_serve().  A kick serves the queue on the calling
 * thread until the ring is empty (requests run synchronously with
 * iothreads == 0; with I/O threads the owner also calls queue_poll when
 * vq_blk_queue_fd is readable, or hands the queue to a thread of its own).
 * A ring that breaks is reported once per start.
 */
#include <errno.h>
#include <linux/virtio_ids.h>

#include "blk_internal.h"

#define KICK_BUDGET 64u /* requests popped per poll before re-checking */

static uint64_t blk_get_features(void *dev)
{
	return vq_blk_host_features(dev);
}

static int blk_set_features(void *dev, uint64_t f)
{
	return vq_blk_set_features(dev, f);
}

static int blk_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	return vq_blk_get_config(dev, off, buf, len);
}

static unsigned blk_num_queues(void *dev)
{
	return vq_blk_num_queues(dev);
}

static int blk_queue_start(void *dev, unsigned idx, struct vq_dev *q)
{
	struct vq_blk *b = dev;
	int r = vq_blk_set_queue(b, idx, q);

	if (r == 0)
		b->q[idx].reported = false;
	return r;
}

/* Drains: every started request finishes and is pushed first. */
static void blk_queue_stop(void *dev, unsigned idx)
{
	vq_blk_set_queue(dev, idx, NULL);
}

static int blk_queue_poll(void *dev, unsigned idx, unsigned budget)
{
	struct vq_blk *b = dev;
	int r = vq_blk_queue_poll(b, idx, budget);

	if (r == -EIO && idx < b->nq)
		vq__host_broken(&b->host, idx, &b->q[idx].reported);
	return r;
}

/* Serve until the ring is empty with notifications on (the full barrier in
 * vq_dev_enable_notify pairs with the driver's: true means a buffer slipped
 * in before it, look again). */
static void blk_queue_kick(void *dev, unsigned idx)
{
	struct vq_blk *b = dev;
	int r;

	do {
		r = blk_queue_poll(b, idx, KICK_BUDGET);
	} while (r == (int)KICK_BUDGET ||
		 (r >= 0 && idx < b->nq && b->q[idx].vq && vq_dev_enable_notify(b->q[idx].vq)));
}

static void blk_reset(void *dev)
{
	vq_blk_reset(dev);
}

VQ__HOST_FIRST(struct vq_blk);

static const struct vq_device_ops blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.get_features = blk_get_features,
	.set_features = blk_set_features,
	.get_config = blk_get_config,
	.config_size = sizeof(struct vq_blk_config),
	.num_queues = blk_num_queues,
	.queue_start = blk_queue_start,
	.queue_stop = blk_queue_stop,
	.queue_kick = blk_queue_kick,
	.queue_poll = blk_queue_poll,
	.reset = blk_reset,
	.attach = vq__device_attach,
};

const struct vq_device_ops *vq_blk_device_ops(void)
{
	return &blk_ops;
}

struct vq_device vq_blk_device(struct vq_blk *b)
{
	return (struct vq_device){ .ops = &blk_ops, .dev = b };
}
