/* SPDX-License-Identifier: MIT */
/*
 * The vsock model as a struct vq_device_ops table (<virtq/device.h>).
 * Everything runs on the transport's control thread, so queue_stop only
 * has to hand back the chains the model holds.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <linux/virtio_ids.h>

#include "vsock_internal.h"

static uint64_t vs_get_features(void *dev)
{
	(void)dev;
	return VQ_VSOCK_FEATURES_ALL;
}

static bool any_queue(const struct vq_vsock *v)
{
	for (unsigned i = 0; i < VQ_VSOCK_NUM_QUEUES; i++)
		if (v->q[i])
			return true;
	return false;
}

static int vs_set_features(void *dev, uint64_t f)
{
	struct vq_vsock *v = dev;

	if (f & ~VQ_VSOCK_FEATURES_ALL)
		return -EINVAL;
	if (any_queue(v) && f != v->features)
		return -EBUSY;
	v->features = f;
	v->seqpacket = f & VQ_VSOCK_F_SEQPACKET;
	return 0;
}

static int vs_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct vq_vsock *v = dev;
	struct virtio_vsock_config cfg = { .guest_cid = htole64(v->p.guest_cid) };
	uint32_t end;

	if (__builtin_add_overflow(off, len, &end) || end > sizeof(cfg))
		return -EINVAL;
	memcpy(buf, (uint8_t *)&cfg + off, len);
	return 0;
}

static int vs_set_config(void *dev, uint32_t off, const void *buf, uint32_t len)
{
	(void)dev, (void)off, (void)buf, (void)len;
	return -EPERM; /* guest_cid is read-only */
}

static unsigned vs_num_queues(void *dev)
{
	(void)dev;
	return VQ_VSOCK_NUM_QUEUES;
}

static int vs_queue_start(void *dev, unsigned idx, struct vq_dev *q)
{
	struct vq_vsock *v = dev;

	if (idx >= VQ_VSOCK_NUM_QUEUES || !q)
		return -EINVAL;
	v->q[idx] = q;
	v->enabled[idx] = true;
	v->session = true;
	if (idx == VQ_VSOCK_TX)
		v->tx_broken = false;
	if (idx == VQ_VSOCK_RX)
		v->rx_broken = false;
	return 0;
}

/* Give back what the model holds on queue idx (used length 0). */
static void vs_queue_stop(void *dev, unsigned idx)
{
	struct vq_vsock *v = dev;

	if (idx >= VQ_VSOCK_NUM_QUEUES || !v->q[idx])
		return;
	if (idx == VQ_VSOCK_TX && v->parked) {
		vq_dev_push(v->q[idx], &v->park, 0);
		v->parked = false;
		v->dirty[idx] = true;
	}
	if (idx == VQ_VSOCK_RX && v->rx_have) {
		vq_dev_push(v->q[idx], &v->rx_elem, 0);
		v->rx_have = false;
		v->dirty[idx] = true;
	}
	if (v->dirty[idx])
		vq_dev_flush(v->q[idx]);
	v->dirty[idx] = false;
	v->q[idx] = NULL;
}

static void vs_queue_enable(void *dev, unsigned idx, bool enabled)
{
	struct vq_vsock *v = dev;

	if (idx < VQ_VSOCK_NUM_QUEUES)
		v->enabled[idx] = enabled;
}

static void vs_queue_kick(void *dev, unsigned idx)
{
	(void)idx;
	vq_vsock_process(dev);
}

static int vs_queue_poll(void *dev, unsigned idx, unsigned budget)
{
	(void)idx, (void)budget;
	return vq_vsock_process(dev);
}

/* Every queue is stopped: drop every connection; a TRANSPORT_RESET is owed
 * to the next driver if this one had started queues. */
static void vs_reset(void *dev)
{
	struct vq_vsock *v = dev;

	vq__vs_close_all(v);
	v->features = 0;
	v->seqpacket = false;
	if (v->session)
		v->evt_pending = true;
	v->evt_wait_said = false;
	v->session = false;
	v->parked = v->rx_have = false;
}

VQ__HOST_FIRST(struct vq_vsock);

const struct vq_device_ops vq_vsock_ops = {
	.name = "vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.get_features = vs_get_features,
	.set_features = vs_set_features,
	.get_config = vs_get_config,
	.set_config = vs_set_config,
	.config_size = sizeof(struct virtio_vsock_config),
	.num_queues = vs_num_queues,
	.queue_start = vs_queue_start,
	.queue_stop = vs_queue_stop,
	.queue_enable = vs_queue_enable,
	.queue_kick = vs_queue_kick,
	.queue_poll = vs_queue_poll,
	.reset = vs_reset,
	.attach = vq__device_attach,
};

void vq_vsock_device(struct vq_vsock *v, struct vq_device *out)
{
	out->ops = &vq_vsock_ops;
	out->dev = v;
}
