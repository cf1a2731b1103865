/* SPDX-License-Identifier: MIT */
/*
 * The model's side of struct vq_device_host (<virtq/device.h>), shared by
 * the device models: keep what ops->attach hands over, flush a queue and
 * interrupt the driver when it asked, report a broken queue once.  Not
 * installed.
 */
#ifndef VQ_DEVICES_DEVICE_HOST_H
#define VQ_DEVICES_DEVICE_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include <virtq/device.h>

/* ops->attach: keep *host in *h; NULL (detach) clears every callback. */
void vq__host_attach(struct vq_device_host *h, const struct vq_device_host *host);

/* ops->attach itself, for a model whose object begins with its struct
 * vq_device_host: VQ__HOST_FIRST(type) checks that at build time. */
void vq__device_attach(void *dev, const struct vq_device_host *host);
#define VQ__HOST_FIRST(type)                                                   \
	_Static_assert(offsetof(type, host) == 0, #type ": host must come first")

/* Flush q's used entries; then, if the driver wants to know, h->notify
 * (when set) for queue idx. */
void vq__host_flush(const struct vq_device_host *h, struct vq_dev *q, unsigned idx);

/* Queue idx is broken: h->queue_broken (when set), unless *reported says
 * it was told already; sets *reported (the owner clears it when the queue
 * starts again).  reported may be NULL: report every time. */
void vq__host_broken(const struct vq_device_host *h, unsigned idx, bool *reported);

#endif
