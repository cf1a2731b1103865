/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net model as a table of operations (<virtq/device.h>), for a
 * transport such as vq_vu_serve().  The data queues are the owner's: it
 * moves frames with the burst functions of <virtq/net.h> on its own
 * threads, so a kick on a data queue does nothing here.  The control
 * queue is the model's: it is served on start, on every kick and on
 * queue_poll, and a control ring that breaks is reported once per start.
 */
#include <errno.h>

#include <linux/virtio_ids.h>

#include "net_internal.h"

/*
 * DPDK virtio-user emulates the control queue in the frontend: it acks MQ,
 * CTRL_RX and CTRL_MAC_ADDR without CTRL_VQ.  Without a control queue those
 * mean nothing to the device, so drop them rather than refuse the set.
 */
#define CVQ_DEPENDENT                                                          \
	(VQ_NET_F(VIRTIO_NET_F_CTRL_RX) | VQ_NET_F(VIRTIO_NET_F_MQ) |         \
	 VQ_NET_F(VIRTIO_NET_F_CTRL_MAC_ADDR) | VQ_NET_F(VIRTIO_NET_F_CTRL_VLAN) | \
	 VQ_NET_F(VIRTIO_NET_F_GUEST_ANNOUNCE) | VQ_NET_F(VIRTIO_NET_F_CTRL_RX_EXTRA))

static bool is_ctrl_queue(const struct vq_net *n, unsigned idx)
{
	return n->nq > 2u * n->p.max_pairs && idx == 2u * n->p.max_pairs;
}

static uint64_t net_get_features(void *dev)
{
	return vq_net_host_features(dev);
}

static int net_set_features(void *dev, uint64_t f)
{
	if (!(f & VQ_NET_F(VIRTIO_NET_F_CTRL_VQ)))
		f &= ~CVQ_DEPENDENT;
	return vq_net_set_features(dev, f);
}

static int net_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	return vq_net_get_config(dev, off, buf, len);
}

static int net_set_config(void *dev, uint32_t off, const void *buf, uint32_t len)
{
	return vq_net_set_config(dev, off, buf, len);
}

static unsigned net_num_queues(void *dev)
{
	return vq_net_num_queues(dev);
}

/* Execute pending control commands; a broken ring is reported once. */
static int ctrl_serve(struct vq_net *n, unsigned idx)
{
	int r = vq_net_ctrl_poll(n);

	if (r < 0 && r != -ENOTCONN)
		vq__host_broken(&n->host, idx, &n->ctrl_reported);
	return r;
}

static int net_queue_start(void *dev, unsigned idx, struct vq_dev *q)
{
	struct vq_net *n = dev;
	int r = vq_net_set_queue(n, idx, q);

	if (r < 0 || !is_ctrl_queue(n, idx))
		return r;
	n->ctrl_reported = false;
	ctrl_serve(n, idx); /* commands posted before the ring started */
	return 0;
}

static void net_queue_stop(void *dev, unsigned idx)
{
	vq_net_set_queue(dev, idx, NULL); /* completes what the device held */
}

static void net_queue_kick(void *dev, unsigned idx)
{
	if (is_ctrl_queue(dev, idx))
		ctrl_serve(dev, idx);
}

/* Only the control queue is the model's to poll. */
static int net_queue_poll(void *dev, unsigned idx, unsigned budget)
{
	if (!is_ctrl_queue(dev, idx))
		return -EOPNOTSUPP;
	return ctrl_serve(dev, idx);
}

static void net_reset(void *dev)
{
	vq_net_reset(dev);
}

VQ__HOST_FIRST(struct vq_net);

static const struct vq_device_ops net_ops = {
	.name = "net",
	.device_id = VIRTIO_ID_NET,
	.get_features = net_get_features,
	.set_features = net_set_features,
	.get_config = net_get_config,
	.set_config = net_set_config,
	.config_size = sizeof(struct virtio_net_config),
	.num_queues = net_num_queues,
	.queue_start = net_queue_start,
	.queue_stop = net_queue_stop,
	.queue_kick = net_queue_kick,
	.queue_poll = net_queue_poll,
	.reset = net_reset,
	.attach = vq__device_attach,
};

const struct vq_device_ops *vq_net_device_ops(void)
{
	return &net_ops;
}

struct vq_device vq_net_device(struct vq_net *n)
{
	return (struct vq_device){ .ops = &net_ops, .dev = n };
}
