/* SPDX-License-Identifier: MIT */
/*
 * The ring's wire format: what the device side, the driver side, the tests
 * and the tools read and write in ring memory.  The structures and flags
 * come from the kernel UAPI header <linux/virtio_ring.h> (struct vring_desc,
 * vring_avail, vring_used, vring_packed_desc, vring_packed_desc_event,
 * VRING_DESC_F_*, VRING_AVAIL_F_*, VRING_USED_F_*, VRING_PACKED_EVENT_*);
 * this header adds only what it lacks:
 *   - masks for the packed AVAIL/USED descriptor bits and the event flags
 *     (the UAPI header gives bit numbers);
 *   - the packed-ring definitions for headers older than Linux 5.0.
 * Split rings: used_event sits at avail->ring[size] and avail_event at
 * used->ring[size] (VIRTIO 1.2 2.7.10).
 * Fields are little-endian in memory; virtq targets little-endian hosts.
 * Not installed.
 */
#ifndef VQ_RING_WIRE_H
#define VQ_RING_WIRE_H

#include <stdint.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <virtq/ring.h>

#ifndef VRING_PACKED_EVENT_FLAG_ENABLE /* UAPI headers before Linux 5.0 */
#define VRING_PACKED_DESC_F_AVAIL	7
#define VRING_PACKED_DESC_F_USED	15
#define VRING_PACKED_EVENT_FLAG_ENABLE	0x0
#define VRING_PACKED_EVENT_FLAG_DISABLE	0x1
#define VRING_PACKED_EVENT_FLAG_DESC	0x2
#define VRING_PACKED_EVENT_F_WRAP_CTR	15
struct vring_packed_desc_event {
	__le16 off_wrap;
	__le16 flags;
};
struct vring_packed_desc {
	__le64 addr;
	__le32 len;
	__le16 id;
	__le16 flags;
};
#endif

/* Packed descriptor flags as masks (VIRTIO 1.2 2.8.1). */
#define VQ__DESC_F_AVAIL  (1u << VRING_PACKED_DESC_F_AVAIL)
#define VQ__DESC_F_USED   (1u << VRING_PACKED_DESC_F_USED)
/* The flags field of a packed event suppression structure (2 bits used). */
#define VQ__EVENT_F_MASK  0x3u
/* The wrap counter bit of a packed off_wrap field. */
#define VQ__EVENT_F_WRAP  (1u << VRING_PACKED_EVENT_F_WRAP_CTR)

_Static_assert(VQ_F_INDIRECT == 1ull << VIRTIO_RING_F_INDIRECT_DESC, "ring.h matches the UAPI");
_Static_assert(VQ_F_EVENT_IDX == 1ull << VIRTIO_RING_F_EVENT_IDX, "ring.h matches the UAPI");
_Static_assert(sizeof(struct vring_desc) == 16, "split descriptor is 16 bytes");
_Static_assert(sizeof(struct vring_packed_desc) == 16, "packed descriptor is 16 bytes");
_Static_assert(sizeof(struct vring_used_elem) == 8, "used element is 8 bytes");
_Static_assert(sizeof(struct vring_packed_desc_event) == 4, "event suppression is 4 bytes");

#endif
