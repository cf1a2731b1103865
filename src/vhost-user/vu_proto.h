/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user protocol's wire format (QEMU docs/interop/vhost-user.rst),
 * native byte order: request codes, header flags, payload structures.  The
 * kernel's vhost UAPI (<linux/vhost_types.h>) supplies the structures it
 * shares with vhost-user; this is the one place for the rest.  Used by the
 * backend (vu_*.c) and the frontend (fe_*.c).  Not installed.
 */
#ifndef VQ_VU_PROTO_H
#define VQ_VU_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <linux/vhost_types.h>
#include <linux/virtio_config.h>
#include <virtq/vhost_user.h>

enum vq__vu_request {
	VQ__VU_GET_FEATURES = 1,
	VQ__VU_SET_FEATURES = 2,
	VQ__VU_SET_OWNER = 3,
	VQ__VU_RESET_OWNER = 4,
	VQ__VU_SET_MEM_TABLE = 5,
	VQ__VU_SET_LOG_BASE = 6,
	VQ__VU_SET_LOG_FD = 7,
	VQ__VU_SET_VRING_NUM = 8,
	VQ__VU_SET_VRING_ADDR = 9,
	VQ__VU_SET_VRING_BASE = 10,
	VQ__VU_GET_VRING_BASE = 11,
	VQ__VU_SET_VRING_KICK = 12,
	VQ__VU_SET_VRING_CALL = 13,
	VQ__VU_SET_VRING_ERR = 14,
	VQ__VU_GET_PROTOCOL_FEATURES = 15,
	VQ__VU_SET_PROTOCOL_FEATURES = 16,
	VQ__VU_GET_QUEUE_NUM = 17,
	VQ__VU_SET_VRING_ENABLE = 18,
	VQ__VU_SEND_RARP = 19,
	VQ__VU_NET_SET_MTU = 20,
	VQ__VU_SET_BACKEND_REQ_FD = 21, /* a.k.a. SET_SLAVE_REQ_FD */
	VQ__VU_IOTLB_MSG = 22,
	VQ__VU_SET_VRING_ENDIAN = 23,
	VQ__VU_GET_CONFIG = 24,
	VQ__VU_SET_CONFIG = 25,
	VQ__VU_CREATE_CRYPTO_SESSION = 26,
	VQ__VU_CLOSE_CRYPTO_SESSION = 27,
	VQ__VU_POSTCOPY_ADVISE = 28,
	VQ__VU_POSTCOPY_LISTEN = 29,
	VQ__VU_POSTCOPY_END = 30,
	VQ__VU_GET_INFLIGHT_FD = 31,
	VQ__VU_SET_INFLIGHT_FD = 32,
	VQ__VU_GPU_SET_SOCKET = 33,
	VQ__VU_RESET_DEVICE = 34,
	VQ__VU_VRING_KICK = 35,
	VQ__VU_GET_MAX_MEM_SLOTS = 36,
	VQ__VU_ADD_MEM_REG = 37,
	VQ__VU_REM_MEM_REG = 38,
	VQ__VU_SET_STATUS = 39,
	VQ__VU_GET_STATUS = 40,
	VQ__VU_REQUEST_MAX = 41,
};

#define VQ__VU_VERSION_MASK 0x3u
#define VQ__VU_VERSION 0x1u
#define VQ__VU_FLAG_REPLY (1u << 2)
#define VQ__VU_FLAG_NEED_REPLY (1u << 3)

#define VQ__VU_VRING_IDX_MASK 0xffull
#define VQ__VU_VRING_NOFD_MASK (1ull << 8)

/* Virtio feature bits the library never offers. */
#define VQ__VU_F_LOG_ALL (1ull << VHOST_F_LOG_ALL)
#define VQ__VU_F_IOMMU_PLATFORM (1ull << VIRTIO_F_ACCESS_PLATFORM)

/* SET_VRING_ADDR flags: only the log bit is defined. */
#define VQ__VU_VRING_F_LOG (1u << VHOST_VRING_F_LOG)

/*
 * Protocol features the library does not implement (the ones it does are
 * VQ_VU_PROTOCOL_F_* in <virtq/vhost_user.h>): they gate the requests the
 * table rejects, so that the error names the right cause.
 */
#define VQ__VU_PF_LOG_SHMFD            (1ull << 1)
#define VQ__VU_PF_BACKEND_REQ          (1ull << 5)
#define VQ__VU_PF_CROSS_ENDIAN         (1ull << 6)
#define VQ__VU_PF_CRYPTO_SESSION       (1ull << 7)
#define VQ__VU_PF_PAGEFAULT            (1ull << 8)
#define VQ__VU_PF_INFLIGHT_SHMFD       (1ull << 12)
#define VQ__VU_PF_INBAND_NOTIFICATIONS (1ull << 14)

struct vq__vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

/* Ring state and ring addresses: struct vhost_vring_state and struct
 * vhost_vring_addr of <linux/vhost_types.h>, as on the kernel's vhost. */

struct vq__vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};

struct vq__vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vq__vu_region regions[VQ_VU_MEM_TABLE_REGIONS];
};

struct vq__vu_mem_single {
	uint64_t padding;
	struct vq__vu_region region;
};

struct vq__vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t data[];
};
#define VQ__VU_CONFIG_HDR offsetof(struct vq__vu_config, data)

/* SET_LOG_BASE payload (the log itself is never used: LOG_ALL is not offered). */
struct vq__vu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

/* GET/SET_INFLIGHT_FD payload; 20 bytes on the wire, 24 with QEMU's padding. */
struct vq__vu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint8_t pad[4];
};

_Static_assert(sizeof(struct vq__vu_hdr) == 12, "header is 12 bytes");
_Static_assert(sizeof(struct vhost_vring_state) == 8, "vring state is 8 bytes");
_Static_assert(sizeof(struct vhost_vring_addr) == 40, "vring addr is 40 bytes");
_Static_assert(VQ__VU_CONFIG_HDR == 12, "config header is 12 bytes");
_Static_assert(offsetof(struct vq__vu_inflight, pad) == 20, "inflight is 20 bytes");
_Static_assert(sizeof(struct vq__vu_mem_table) == 8 + 8 * 32, "mem table");
_Static_assert(sizeof(struct vq__vu_mem_single) == 40, "single region");

#endif
