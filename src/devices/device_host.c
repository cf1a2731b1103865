/* SPDX-License-Identifier: MIT */
/* The model's side of struct vq_device_host (see device_host.h). */
#include "devices/device_host.h"

void vq__host_attach(struct vq_device_host *h, const struct vq_device_host *host)
{
	*h = host ? *host : (struct vq_device_host){ 0 };
}

void vq__device_attach(void *dev, const struct vq_device_host *host)
{
	vq__host_attach(dev, host);
}

void vq__host_flush(const struct vq_device_host *h, struct vq_dev *q, unsigned idx)
{
	vq_dev_flush(q);
	if (vq_dev_need_notify(q) && h->notify)
		h->notify(h->host, idx);
}

void vq__host_broken(const struct vq_device_host *h, unsigned idx, bool *reported)
{
	if (reported) {
		if (*reported)
			return;
		*reported = true;
	}
	if (h->queue_broken)
		h->queue_broken(h->host, idx);
}
