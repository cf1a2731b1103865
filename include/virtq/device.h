/* SPDX-License-Identifier: MIT */
/*
 * virtq device adapter: a device model is a table of operations.
 *
 * A device model (net, blk, 9p, vsock, the shadow-virtqueue proxy, ...)
 * fills in one const struct vq_device_ops and knows nothing of sockets or of
 * vhost-user.  A transport drives it:
 *   - in-process: a test or a tool calls the ops itself, handing each queue a
 *     struct vq_dev it created over memory it owns (the driver side of the
 *     same ring lives in the same process);
 *   - vhost-user: vq_vu_serve() (<virtq/vhost_user.h>) turns the protocol's
 *     messages into these calls: GET_FEATURES answers get_features (asked
 *     once, when serving starts), SET_FEATURES calls set_features, GET_CONFIG
 *     calls get_config, a ring becoming ready calls queue_start with its
 *     vq_dev, GET_VRING_BASE, a ring change or a disconnect calls
 *     queue_stop, a kick calls queue_kick (unless the daemon's own thread
 *     took the queue's kick fd), RESET_* and disconnects call reset.  A
 *     daemon adds threads through vq_vu_serve's hooks, not through the ops.
 *
 * The net and blk models export their tables: vq_net_device_ops() /
 * vq_net_device(n) (<virtq/net.h>), vq_blk_device_ops() / vq_blk_device(b)
 * (<virtq/blk.h>).
 *
 * The model tells the transport about used buffers and broken queues
 * through struct vq_device_host, which the transport hands to the model with
 * ops->attach before the first queue starts (for example the call eventfd of
 * a vhost-user queue, or a direct call into an in-process driver).
 *
 * Threading: every op runs on the transport's control thread.  queue_start
 * may hand the queue to another thread; queue_stop must return only when no
 * thread touches that queue's vq_dev or its buffers any more (it completes or
 * drops what it holds first).  The host callbacks may be called from any
 * thread that owns a started queue.
 *
 * Errors: ops returning int return 0 (or a count) or -errno.
 */
#ifndef VIRTQ_DEVICE_H
#define VIRTQ_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <virtq/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a device model may call on its transport.  Any member may be NULL. */
struct vq_device_host {
	/* Used buffers were flushed on queue idx and the driver wants to
	 * know (vq_dev_need_notify() said so): interrupt the driver. */
	void (*notify)(void *host, unsigned idx);
	/* Queue idx went broken (a spec violation, see vq_dev_error()); the
	 * transport reports it (vhost-user: the error eventfd). */
	void (*queue_broken)(void *host, unsigned idx);
	/* The config space changed (e.g. net link status). */
	void (*config_changed)(void *host);
	void *host;
};

struct vq_device_ops {
	const char *name;    /* "net", "blk", "9p", ...: for log lines */
	uint32_t device_id;  /* VIRTIO_ID_* from <linux/virtio_ids.h> */

	/* Required.  Feature bits offered: device bits plus the transport
	 * bits of VQ_RING_FEATURES the model supports. */
	uint64_t (*get_features)(void *dev);
	/* Required.  The driver accepted features (a subset of the offered
	 * ones, checked by the transport).  May be called again with the same
	 * value while queues run; a different value then is -EBUSY. */
	int (*set_features)(void *dev, uint64_t features);
	/* Optional.  Config space: read/write len bytes at off.  The model
	 * checks bounds; -EINVAL outside, -EPERM for read-only fields.  A
	 * read past the model's structure but within the transport's limit
	 * is answered with zeros by the transport. */
	int (*get_config)(void *dev, uint32_t off, void *buf, uint32_t len);
	int (*set_config)(void *dev, uint32_t off, const void *buf, uint32_t len);
	/* Bytes of the model's config structure (e.g. sizeof(struct
	 * virtio_net_config)): the transport answers reads past it with
	 * zeros itself.  0: every access goes to get_config. */
	uint32_t config_size;
	/* Required.  Queues the device has (the transport's queue count). */
	unsigned (*num_queues)(void *dev);
	/* Optional.  Largest chain the model accepts on queue idx; 0 = the
	 * queue size (the spec rule).  More than the queue size is honoured
	 * only with VQ_F_LARGE_CHAIN negotiated. */
	unsigned (*max_chain)(void *dev, unsigned idx);

	/* Required.  Queue idx runs over ring q (owned by the transport,
	 * valid until queue_stop returns).  -errno leaves it stopped. */
	int (*queue_start)(void *dev, unsigned idx, struct vq_dev *q);
	/* Required.  Quiesce queue idx: on return nothing uses it. */
	void (*queue_stop)(void *dev, unsigned idx);
	/* Optional.  The driver enabled or disabled queue idx (a started
	 * but disabled queue is processed without side effects). */
	void (*queue_enable)(void *dev, unsigned idx, bool enabled);
	/* Optional.  The driver kicked queue idx (only for queues the model
	 * does not poll itself; see the transport's docs).  Serve it now. */
	void (*queue_kick)(void *dev, unsigned idx);
	/* Optional.  Do up to budget units of work on started queue idx;
	 * returns the count done, or -errno (the queue is then broken).  For
	 * transports and tools that own the threads and poll the model. */
	int (*queue_poll)(void *dev, unsigned idx, unsigned budget);
	/* Optional.  Device reset: every queue is stopped already; forget
	 * negotiated state. */
	void (*reset)(void *dev);
	/* Optional.  The transport attaches (host != NULL) or detaches
	 * (host == NULL) itself.  The model keeps *host. */
	void (*attach)(void *dev, const struct vq_device_host *host);
};

/* A model instance: its ops and its object. */
struct vq_device {
	const struct vq_device_ops *ops;
	void *dev;
};

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_DEVICE_H */
