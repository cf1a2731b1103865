/* SPDX-License-Identifier: MIT */
/*
 * virtio-net constants shared by the device model (<virtq/net.h>) and the
 * driver (<virtq/net_drv.h>).  Wire structures, feature bits and control
 * commands come from <linux/virtio_net.h>; Ethernet sizes from
 * <linux/if_ether.h>.  What those lack is defined here, once.
 */
#ifndef VIRTQ_NET_DEFS_H
#define VIRTQ_NET_DEFS_H

#include <linux/if_ether.h>
/* The UAPI header names a field `class` (struct virtio_net_ctrl_hdr), a
 * C++ keyword: C++ sees it as virtio_net_ctrl_class. */
#ifdef __cplusplus
#define class virtio_net_ctrl_class
#endif
#include <linux/virtio_net.h>
#ifdef __cplusplus
#undef class
#endif

/* A feature bit (VIRTIO_NET_F_*, VIRTIO_F_*) as a mask. */
#define VQ_NET_F(bit) (1ull << (bit))

/* Queue pairs a device may have (max_virtqueue_pairs). */
#define VQ_NET_MAX_PAIRS   ((unsigned)VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX)
/* Shortest frame either side accepts (no virtio header): an Ethernet header. */
#define VQ_NET_MIN_FRAME   ((unsigned)ETH_HLEN)
/* Longest frame (no virtio header): Ethernet header, IPv6 header (40
 * bytes) and the largest IPv6 payload (65535 bytes). */
#define VQ_NET_MAX_FRAME   ((unsigned)ETH_HLEN + 40u + 65535u)

#endif /* VIRTQ_NET_DEFS_H */
