/* SPDX-License-Identifier: MIT */
/*
 * virtq vhost-user frontend: the driver side of a vhost-user connection, as
 * DPDK's virtio-user does it, without a VM.  Spec: QEMU
 * docs/interop/vhost-user.rst.
 *
 * One struct vq_fe is one virtio device reached over a unix socket:
 *   - memory: one memfd-backed MAP_SHARED block, created by vq_fe_new and
 *     shared with every backend that connects (SET_MEM_TABLE, one region,
 *     guest_phys_addr == userspace_addr == our virtual address).  So a
 *     driver address is simply a pointer: vq_fe_addr(fe, p) == (uintptr_t)p.
 *     The block holds the rings, the indirect-table pools, and an arena that
 *     vq_fe_alloc hands out for buffers (bump allocation, never freed: drivers
 *     allocate their buffer pools once and recycle them);
 *   - queues: struct vq_drv (<virtq/ring.h>) over split or packed rings,
 *     whichever was negotiated, with kick and call eventfds;
 *   - the control channel: feature and protocol-feature negotiation
 *     (REPLY_ACK, MQ, CONFIG, STATUS), GET_CONFIG, GET_VRING_BASE.
 *
 * Everything the backend sends is untrusted.  Every reply is checked before
 * use: version and REPLY flag, request code, exact payload size, no fds,
 * echoed queue index, config offset/size.  A violation drops the connection
 * (a byte stream that carried one bad reply cannot be trusted to be in sync),
 * returns -EPROTO and vq_fe_error() says what was wrong.  Ring-level
 * violations (bad used ids, lengths) are caught by vq_drv, which marks that
 * queue broken; vq_fe_broken_queue() reports it.
 *
 * Disconnect and reconnect: vq_fe_poll notices that the backend went away
 * (or sent something unsolicited), tears the queues down and reports
 * VQ_FE_DISCONNECTED through the state callback.  vq_fe_connect then
 * reconnects (client mode) or accepts again (server mode) and sets
 * everything up from scratch: negotiation, memory table, fresh zeroed rings.
 * Buffers that were in flight are handed back to their owner first: the
 * queue callback is called with q == NULL while the old vq_drv is still
 * valid, so the owner drains it with vq_drv_detach; after the new setup it is
 * called with the new vq_drv, and the owner re-posts (e.g. rx buffers).
 *
 * Threading: a vq_fe and its queues belong to one thread (the owner's).
 * Callbacks run on it, from inside vq_fe_connect, vq_fe_poll, vq_fe_stop,
 * vq_fe_disconnect and vq_fe_free.
 *
 * Errors are negative errnos.
 */
#ifndef VIRTQ_FRONTEND_H
#define VIRTQ_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <virtq/ring.h>
#include <virtq/vhost_user.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VQ_FE_MAX_QUEUES VQ_VU_MAX_QUEUES
#define VQ_FE_MAX_MEM_SLOTS 512u /* the most regions vq_fe_max_mem_slots reports */

/* Protocol features asked for by default (each only if offered). */
#define VQ_FE_PROTOCOL_F_DEFAULT                                               \
	(VQ_VU_PROTOCOL_F_MQ | VQ_VU_PROTOCOL_F_REPLY_ACK | VQ_VU_PROTOCOL_F_CONFIG | \
	 VQ_VU_PROTOCOL_F_STATUS)

/* Transport features the frontend can drive (ring features; no IOMMU, no
 * dirty log).  Device features are the caller's business. */
#define VQ_FE_TRANSPORT_FEATURES                                               \
	(VQ_F_INDIRECT | VQ_F_EVENT_IDX | VQ_F_VERSION_1 | VQ_F_PACKED | VQ_F_IN_ORDER)

enum vq_fe_mode {
	VQ_FE_CLIENT = 0, /* connect to a backend listening on path */
	VQ_FE_SERVER = 1, /* listen on path; a backend connects to us */
};

enum vq_fe_state {
	VQ_FE_DISCONNECTED = 0, /* no backend: never connected, or it went away */
	VQ_FE_READY = 1,        /* negotiated, memory shared, queues running */
	VQ_FE_STOPPED = 2,      /* vq_fe_stop: queues stopped (GET_VRING_BASE) */
};

struct vq_fe;

struct vq_fe_params {
	const char *path;           /* unix socket */
	enum vq_fe_mode mode;
	uint64_t features;          /* device + transport bits the driver can use;
				     * negotiated = features & offered */
	uint64_t required_features; /* connect fails (-EOPNOTSUPP) without these */
	uint64_t protocol_features; /* wanted; 0 = VQ_FE_PROTOCOL_F_DEFAULT */
	unsigned num_queues;        /* vrings to set up, 1..VQ_FE_MAX_QUEUES */
	const uint16_t *queue_index; /* vring index of queue i (copied); NULL = i */
	uint32_t queue_size;        /* entries; 0 = 256 (split: a power of two) */
	uint32_t indirect_tables;   /* per queue, used with VQ_F_INDIRECT; 0 = none */
	uint32_t indirect_len;      /* descriptors per table (0 = 16) */
	uint32_t max_chain;         /* with VQ_F_LARGE_CHAIN negotiated: the
				     * ring's max_chain (the backend's, which
				     * vhost-user does not carry); else unused */
	size_t mem_size;            /* arena bytes for vq_fe_alloc */
	/* Regions the shared memory is announced as (0 = 1, at most
	 * VQ_FE_MAX_MEM_SLOTS and one per page), contiguous in address and
	 * file: more than VQ_VU_MEM_TABLE_REGIONS go one by one (ADD_MEM_REG;
	 * CONFIGURE_MEM_SLOTS is then asked for, and connect fails with
	 * -ENOSPC when the backend lacks it or the slots).  For tests of
	 * backends and proxies with many regions. */
	unsigned mem_regions;
	int timeout_ms;             /* wait for one reply / one accept; 0 = 2000 */
	/*
	 * Optional.  q != NULL: queue i was set up and started (after every
	 * connect).  q == NULL: queue i is about to be destroyed (stop,
	 * disconnect, free); the backend no longer touches it: take buffers
	 * back with vq_drv_detach(old) now.  `old` is the ring going away
	 * (NULL when q != NULL).
	 */
	void (*queue_event)(void *opaque, unsigned i, struct vq_drv *q, struct vq_drv *old);
	/* Optional.  The state changed; why: a reason ("" when none). */
	void (*state_event)(void *opaque, enum vq_fe_state s, const char *why);
	void *opaque;
	/*
	 * Manual mode (a proxy): vq_fe_new makes no shared memory and no
	 * rings, vq_fe_connect only negotiates (protocol features, SET_OWNER,
	 * SET_FEATURES with `features & offered`), and the caller drives the
	 * rest with vq_fe_set_features, vq_fe_set_mem_table, vq_fe_ring_start
	 * and vq_fe_ring_stop.  vq_fe_queue() is then always NULL and
	 * vq_fe_stop is not used.  queue_size, indirect_* and mem_size are
	 * ignored.
	 */
	bool manual;
};

/*
 * Create a frontend: the shared memory block (rings, tables, arena) and, in
 * server mode, the listening socket.  Does not connect.  Returns 0 and *out;
 * -EINVAL (bad config), -ENOMEM, -errno of memfd/mmap/bind/listen.
 */
int vq_fe_new(const struct vq_fe_params *cfg, struct vq_fe **out);

/* Disconnect (queue callbacks run), unmap, close, unlink our socket. */
void vq_fe_free(struct vq_fe *fe);

/*
 * Connect (client: one attempt; server: accept, waiting up to timeout_ms),
 * negotiate, share memory, set up and start every queue.  Also the way to
 * reconnect after a disconnect.  Returns 0 (state READY); -EISCONN when
 * already connected; -ECONNREFUSED / -ENOENT when nobody listens;
 * -ETIMEDOUT; -EOPNOTSUPP when required features are missing; -EPROTO when
 * the backend violated the protocol; -EREMOTEIO when it refused a request
 * (error ack or error reply); vq_fe_error() has details.  On failure the
 * connection is closed again.
 */
int vq_fe_connect(struct vq_fe *fe);

/* The control socket while connected, else -1: poll it for POLLIN and
 * POLLRDHUP (a hang-up or an unsolicited message), then call vq_fe_poll. */
int vq_fe_fd(const struct vq_fe *fe);

/*
 * Check the connection without blocking: a hang-up or an unsolicited
 * message tears the queues down (state DISCONNECTED, callbacks).  Returns
 * the state after the check.  Cheap (one poll(2)); call it periodically.
 */
enum vq_fe_state vq_fe_poll(struct vq_fe *fe);

/*
 * Stop every queue cleanly: SET_VRING_ENABLE 0 (with PROTOCOL_FEATURES),
 * then GET_VRING_BASE, whose answer is checked and kept (vq_fe_queue_base).
 * The queues are then destroyed (callback with q == NULL); the connection
 * stays open (state STOPPED) until vq_fe_disconnect.  Returns 0, -ENOTCONN,
 * -EPROTO (connection dropped).
 */
int vq_fe_stop(struct vq_fe *fe);

/* Drop the connection (queues torn down first).  No-op when disconnected. */
void vq_fe_disconnect(struct vq_fe *fe);

enum vq_fe_state vq_fe_state(const struct vq_fe *fe);
const char *vq_fe_error(const struct vq_fe *fe); /* last error, "" if none */
uint32_t vq_fe_generation(const struct vq_fe *fe); /* successful connects */

uint64_t vq_fe_features(const struct vq_fe *fe);          /* negotiated */
uint64_t vq_fe_backend_features(const struct vq_fe *fe);  /* offered */
uint64_t vq_fe_protocol_features(const struct vq_fe *fe); /* negotiated */
/* The backend's GET_MAX_MEM_SLOTS answer (at most VQ_FE_MAX_MEM_SLOTS)
 * when CONFIGURE_MEM_SLOTS was negotiated (ask for it in
 * vq_fe_params.protocol_features), else 0. */
unsigned vq_fe_max_mem_slots(const struct vq_fe *fe);
/* GET_QUEUE_NUM answer (MQ negotiated), else 0. */
uint64_t vq_fe_backend_queue_num(const struct vq_fe *fe);

/*
 * GET_CONFIG: read len (<= VQ_VU_MAX_CONFIG) bytes of the device config at
 * off.  Needs the CONFIG protocol feature (-EOPNOTSUPP).  Returns 0,
 * -ENOTCONN, -EINVAL, -EREMOTEIO (backend refused), -EPROTO.
 */
int vq_fe_get_config(struct vq_fe *fe, uint32_t off, void *buf, uint32_t len);

/* ---- queues (i: 0..num_queues-1 in config order) */

unsigned vq_fe_num_queues(const struct vq_fe *fe);
/* The running ring, or NULL when not READY. */
struct vq_drv *vq_fe_queue(const struct vq_fe *fe, unsigned i);
/* Index of the first ring that broke (vq_drv_is_broken), or -ENOENT. */
int vq_fe_broken_queue(const struct vq_fe *fe);
/* Is queue i running and broken? */
bool vq_fe_queue_is_broken(const struct vq_fe *fe, unsigned i);
/* Its vring index on the wire. */
unsigned vq_fe_queue_vring(const struct vq_fe *fe, unsigned i);
/* Notify the backend (write the kick eventfd).  0, -EINVAL, -errno. */
int vq_fe_kick(struct vq_fe *fe, unsigned i);
/* Call eventfd of queue i (non-blocking; the backend signals used buffers). */
int vq_fe_call_fd(const struct vq_fe *fe, unsigned i);
/* Wait up to timeout_ms for a call on queue i and drain it: 1, 0 (timeout). */
int vq_fe_wait(struct vq_fe *fe, unsigned i, int timeout_ms);
/* Ring memory of queue i (for tools and tests).  0, -EINVAL. */
int vq_fe_queue_ring(const struct vq_fe *fe, unsigned i, struct vq_ring_params *out);
/* Last GET_VRING_BASE answer of queue i (vq_fe_stop).  0, -ENOENT. */
int vq_fe_queue_base(const struct vq_fe *fe, unsigned i, uint32_t *base);

/* ---- manual mode (see vq_fe_params.manual) */
/* One region of a memory table: the backend maps fd from offset for size
 * bytes and finds it at addr (its guest address and its user address). */
struct vq_fe_region {
	uint64_t addr;
	uint64_t size;
	int fd;
	uint64_t offset;
};
/* A ring the caller made, at the addresses of its memory table. */
struct vq_fe_ring {
	enum vq_layout layout;
	uint32_t size;
	uint32_t base;  /* SET_VRING_BASE (0 = a fresh ring) */
	uint64_t desc, avail, used;
};
/*
 * SET_FEATURES again with features (a subset of the backend's offer; the
 * PROTOCOL_FEATURES bit is added when offered), before any ring starts.
 * Returns 0; -ENOTCONN; -EINVAL (not offered); -EPROTO / -EREMOTEIO.
 */
int vq_fe_set_features(struct vq_fe *fe, uint64_t features);
/*
 * SET_MEM_TABLE with n (1..VQ_VU_MEM_TABLE_REGIONS) caller regions; the
 * fds are only sent (the caller keeps them).  Returns 0; -ENOTCONN;
 * -EINVAL; -EPROTO / -EREMOTEIO.
 */
int vq_fe_set_mem_table(struct vq_fe *fe, const struct vq_fe_region *r, unsigned n);
/*
 * ADD_MEM_REG: one region more (CONFIGURE_MEM_SLOTS negotiated; the backend
 * takes up to vq_fe_max_mem_slots).  REM_MEM_REG: the region r added
 * before (addr and size; no fd is sent).  The fd is only sent (the caller
 * keeps it).  Returns 0; -ENOTCONN; -EOPNOTSUPP (not negotiated); -EINVAL;
 * -EPROTO / -EREMOTEIO (refused: the connection stays).
 */
int vq_fe_add_mem_reg(struct vq_fe *fe, const struct vq_fe_region *r);
int vq_fe_rem_mem_reg(struct vq_fe *fe, const struct vq_fe_region *r);
/*
 * SET_STATUS: the virtio device status byte (VIRTIO_CONFIG_S_* of
 * <linux/virtio_config.h>), when the backend negotiated
 * VHOST_USER_PROTOCOL_F_STATUS; such a backend (DPDK's vhost) may wait for
 * DRIVER_OK before it serves any ring.  Returns 1 sent; 0 not negotiated
 * (nothing sent); -ENOTCONN; -EPROTO / -EREMOTEIO.
 */
int vq_fe_set_status(struct vq_fe *fe, uint8_t status);
/*
 * Start queue i on ring r: CALL, NUM, BASE, ADDR, KICK, then ENABLE (with
 * PROTOCOL_FEATURES).  The kick and call eventfds (vq_fe_kick,
 * vq_fe_call_fd) are made on first use and kept.  Returns 0; -ENOTCONN;
 * -EINVAL; -EPROTO / -EREMOTEIO.
 */
int vq_fe_ring_start(struct vq_fe *fe, unsigned i, const struct vq_fe_ring *r);
/*
 * Stop queue i: ENABLE 0 (with PROTOCOL_FEATURES) and GET_VRING_BASE; the
 * answer goes to *base (the caller checks it against its ring).  Returns
 * 0; -ENOTCONN; -EINVAL; -EPROTO.
 */
int vq_fe_ring_stop(struct vq_fe *fe, unsigned i, uint32_t *base);

/* ---- shared memory */

/*
 * Allocate size bytes (align: a power of two, 0 = 64) from the arena, in
 * memory the backend can read and write.  NULL when the arena is exhausted.
 * Lives as long as fe; survives reconnects.
 */
void *vq_fe_alloc(struct vq_fe *fe, size_t size, size_t align);
/* Driver ("guest") address of p (== its virtual address). */
static inline uint64_t vq_fe_addr(const struct vq_fe *fe, const void *p)
{
	(void)fe;
	return (uint64_t)(uintptr_t)p;
}
size_t vq_fe_mem_avail(const struct vq_fe *fe); /* arena bytes left */

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_FRONTEND_H */
