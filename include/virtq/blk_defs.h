/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk constants shared by the device model (<virtq/blk.h>) and the
 * driver (<virtq/blk_drv.h>).  Request types, status codes, feature bits
 * and struct virtio_blk_config come from <linux/virtio_blk.h>; what it
 * lacks is defined here, once.
 */
#ifndef VIRTQ_BLK_DEFS_H
#define VIRTQ_BLK_DEFS_H

#include <stdint.h>

#include <linux/virtio_blk.h>

/* A feature bit (VIRTIO_BLK_F_*, VIRTIO_F_*) as a mask. */
#define VQ_BLK_F(bit) (1ull << (bit))

/* The unit of capacity and request offsets (spec 5.2.6). */
#define VQ_BLK_SECTOR_SHIFT 9
#define VQ_BLK_SECTOR       (1u << VQ_BLK_SECTOR_SHIFT)
/* Bytes of a GET_ID answer. */
#define VQ_BLK_ID_BYTES     ((unsigned)VIRTIO_BLK_ID_BYTES)
/* Logical block sizes either side accepts (blk_size: a power of two). */
#define VQ_BLK_MIN_BLOCK    VQ_BLK_SECTOR
#define VQ_BLK_MAX_BLOCK    65536u
/* Request queues of one device (a vhost-user kick/call index is 8 bits). */
#define VQ_BLK_MAX_QUEUES   256u

/*
 * The config space (spec 5.2.4), little-endian, as the driver reads it:
 * struct virtio_blk_config, then the zoned block (24 bytes), which the
 * model leaves zero (ZONED is never offered).  UAPI headers from Linux 6.3
 * carry the zoned block themselves.
 */
struct vq_blk_config {
	struct virtio_blk_config blk;
#ifndef VIRTIO_BLK_F_ZONED
	uint8_t zoned[24];
#endif
} __attribute__((packed));

#ifdef __cplusplus
static_assert(sizeof(struct vq_blk_config) == 96, "virtio-blk config space is 96 bytes");
#else
_Static_assert(sizeof(struct vq_blk_config) == 96, "virtio-blk config space is 96 bytes");
#endif

#endif /* VIRTQ_BLK_DEFS_H */
