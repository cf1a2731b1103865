/* SPDX-License-Identifier: MIT */
/*
 * virtq virtio-blk DRIVER (VIRTIO 1.2, "Block Device", driver side) over
 * any set of vq_drv rings: the vhost-user frontend (<virtq/frontend.h>), or
 * in process against a device model.
 *
 * A request is the spec's three parts: a device-readable struct
 * virtio_blk_outhdr (type, sector), the data (readable for OUT, writable for
 * IN and GET_ID; a range descriptor for DISCARD / WRITE_ZEROES), and one
 * device-writable status byte.  The driver owns the headers and status
 * bytes (one slot per ring entry, in device-visible memory from alloc); the
 * caller owns the data, in device-visible memory, and a token per request.
 *
 *   vq_blkdrv_submit(...)   x N    add requests (not yet visible)
 *   vq_blkdrv_kick(bd, q)          publish, kick when the device wants it
 *   vq_blkdrv_poll(bd, q, done, max)  completions: token, status
 *
 * Everything the device writes is untrusted: ring-level checks are
 * vq_drv's; a status byte other than OK / IOERR / UNSUPP completes the
 * request with -EPROTO.  Threading: one thread per queue.
 */
#ifndef VIRTQ_BLK_DRV_H
#define VIRTQ_BLK_DRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <virtq/blk_defs.h>
#include <virtq/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The config bytes read: struct virtio_blk_config through
 * write_zeroes_may_unmap and the 3 bytes that pad it. */
#define VQ_BLKDRV_CONFIG_BYTES \
	((unsigned)offsetof(struct virtio_blk_config, write_zeroes_may_unmap) + 4u)

/* What the driver reads of struct virtio_blk_config (features decide which). */
struct vq_blkdrv_info {
	uint64_t capacity;       /* 512-byte sectors */
	uint32_t size_max;       /* SIZE_MAX: largest segment, else 0 */
	uint32_t seg_max;        /* SEG_MAX: most data segments, else 0 */
	uint32_t blk_size;       /* BLK_SIZE: logical block, else 512 */
	uint16_t num_queues;     /* MQ, else 1 */
	bool read_only;          /* RO */
	bool flush;              /* FLUSH */
	uint32_t max_discard_sectors, max_discard_seg;           /* DISCARD */
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg; /* WRITE_ZEROES */
};

/*
 * Decode config bytes (at least VQ_BLKDRV_CONFIG_BYTES, little-endian) for
 * the negotiated features.  Values are checked: blk_size a power of two in
 * 512..64 KiB; num_queues >= 1.  Returns 0, -EINVAL, -EPROTO (bad values).
 */
int vq_blkdrv_parse_config(const void *cfg, size_t len, uint64_t features,
			   struct vq_blkdrv_info *out);

struct vq_blkdrv_params {
	uint64_t features;    /* negotiated */
	unsigned num_queues;  /* request queues */
	uint32_t queue_size;  /* entries per ring: requests in flight per queue */
	uint32_t seg_max;     /* data segments per request (0 = no limit but the ring's) */
	void *(*alloc)(void *ctx, size_t size, uint64_t *addr); /* device-visible memory */
	void (*kick)(void *ctx, unsigned queue);
	void *ctx;
};

struct vq_blkdrv;

int vq_blkdrv_new(const struct vq_blkdrv_params *p, struct vq_blkdrv **out);
void vq_blkdrv_free(struct vq_blkdrv *bd);

/* Attach ring q as request queue i, or detach (NULL): requests still in
 * flight complete with -ECANCELED at the next poll.  0, -EINVAL. */
int vq_blkdrv_set_queue(struct vq_blkdrv *bd, unsigned i, struct vq_drv *q);
/* Adapter for vq_fe_params.queue_event (frontend queues = request queues). */
void vq_blkdrv_fe_queue_event(void *bd, unsigned i, struct vq_drv *q, struct vq_drv *old);

struct vq_blkdrv_req {
	uint32_t type;              /* VIRTIO_BLK_T_IN / OUT / FLUSH / GET_ID / DISCARD / WRITE_ZEROES */
	uint64_t sector;            /* IN, OUT; DISCARD / WRITE_ZEROES: first sector */
	uint32_t num_sectors;       /* DISCARD / WRITE_ZEROES */
	bool unmap;                 /* WRITE_ZEROES: the device may unmap */
	const struct vq_seg *data;  /* IN / OUT / GET_ID data, in device-visible memory */
	unsigned nseg;
};

/*
 * Add a request (published by vq_blkdrv_kick).  token: non-NULL, returned
 * by poll.  Returns 0; -EINVAL (bad type, no data for IN/OUT, data length
 * not a multiple of 512 for IN/OUT, GET_ID buffer < 20 bytes, more than
 * seg_max segments, sector range past 2^64); -ENOSPC (queue full: poll);
 * -ENOTCONN; -EIO (ring broken).
 */
int vq_blkdrv_submit(struct vq_blkdrv *bd, unsigned q, const struct vq_blkdrv_req *r,
		     void *token);
/* Publish submitted requests; kick the device when it wants it. */
void vq_blkdrv_kick(struct vq_blkdrv *bd, unsigned q);

struct vq_blkdrv_done {
	void *token;
	int status;   /* 0 OK; -EIO (IOERR); -EOPNOTSUPP (UNSUPP); -EPROTO (bad
		       * status byte); -ECANCELED (ring detached) */
	uint32_t len; /* bytes the device says it wrote (data + status) */
};

/* Collect up to max completions.  Returns how many, or -EIO (ring broken:
 * vq_drv_error on the ring says why), -EINVAL. */
int vq_blkdrv_poll(struct vq_blkdrv *bd, unsigned q, struct vq_blkdrv_done *done,
		   unsigned max);
/* Requests in flight on queue q. */
unsigned vq_blkdrv_inflight(const struct vq_blkdrv *bd, unsigned q);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_BLK_DRV_H */
