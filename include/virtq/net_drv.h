/* SPDX-License-Identifier: MIT */
/*
 * virtq virtio-net DRIVER (VIRTIO 1.2, "Network Device", driver side): what
 * a guest's virtio-net driver does, in user space, over any set of vq_drv
 * rings: the vhost-user frontend (<virtq/frontend.h>), or in process against
 * the device model (<virtq/net.h>).
 *
 * Queue numbering as in the spec: rx of pair i is 2*i, tx of pair i is
 * 2*i+1, the control queue (optional) is 2*pairs.  The owner attaches each
 * ring with vq_netdrv_set_queue and detaches it before the ring goes away
 * (the frontend's queue callback is the natural place: see
 * vq_netdrv_fe_queue_event).  Attaching an rx ring posts receive buffers.
 *
 * Receive buffers, one strategy per driver (the three schemes of Linux's
 * virtio_net driver):
 *   - MERGEABLE (needs VIRTIO_NET_F_MRG_RXBUF): one page per buffer; a frame
 *     larger than a page spans several, the first header says how many
 *     (num_buffers).  num_buffers is checked against the buffers the device
 *     actually holds: more is a violation (queue broken), never a read past
 *     our buffers.  Pages are recycled as soon as the frame is done.
 *   - BIG: each buffer a chain of pages able to hold a 64 KiB GSO frame
 *     (VQ_NETDRV_BIG_BYTES = 65562 bytes of header + frame, 17 pages).
 *     Without indirect descriptors a chain eats 17 ring entries.
 *   - SMALL: one buffer per MTU-sized frame (header + 1514 bytes, e.g. 1526).
 * AUTO follows the features: MRG_RXBUF -> mergeable; else GUEST_TSO4/6,
 * GUEST_UFO -> big; else small.  When MRG_RXBUF is negotiated, frames are
 * reassembled by num_buffers whatever the buffer kind.
 * vq_netdrv_rx_mem computes what each strategy pins and holds.
 *
 * Data path: no allocation per packet.  tx copies frames into preallocated
 * tx buffers (a frame larger than one spans several), adds the whole burst,
 * publishes once and kicks at most once.  rx returns zero-copy views of the
 * receive buffers, valid until vq_netdrv_rx_done, which recycles and
 * re-posts them (one publish, at most one kick).
 *
 * Everything the device writes is untrusted: ring-level checks are vq_drv's
 * (ids, lengths); this layer checks header lengths, num_buffers, frame
 * sizes.  A violation marks the queue broken (-EIO from then on,
 * vq_netdrv_error says why) until it is re-attached.
 *
 * Threading: one thread per queue pair for the data path; set_queue and the
 * control queue belong to the owner's thread, with the data path quiescent.
 */
#ifndef VIRTQ_NET_DRV_H
#define VIRTQ_NET_DRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <virtq/net_defs.h>
#include <virtq/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VQ_NETDRV_PAGE        4096u  /* one receive buffer page */
#define VQ_NETDRV_SMALL_FRAME ((unsigned)ETH_FRAME_LEN) /* Ethernet header + 1500 */
/* One big buffer: a 12-byte header and the largest GSO frame Linux builds
 * (an Ethernet header and 64 KiB). */
#define VQ_NETDRV_BIG_BYTES   \
	((unsigned)sizeof(struct virtio_net_hdr_mrg_rxbuf) + (unsigned)ETH_HLEN + 65536u)

enum vq_netdrv_rxmode {
	VQ_NETDRV_RX_AUTO = 0,
	VQ_NETDRV_RX_MERGEABLE = 1,
	VQ_NETDRV_RX_BIG = 2,
	VQ_NETDRV_RX_SMALL = 3,
};

const char *vq_netdrv_rxmode_str(enum vq_netdrv_rxmode m);

/*
 * The strategy AUTO resolves to, or the requested one if the features allow
 * it, in *out.  Returns 0, or -EINVAL (MERGEABLE without MRG_RXBUF, or not
 * a mode).
 */
int vq_netdrv_rxmode_for(uint64_t features, enum vq_netdrv_rxmode want,
			 enum vq_netdrv_rxmode *out);

/* What one receive queue of a strategy costs and holds. */
struct vq_netdrv_rxmem {
	enum vq_netdrv_rxmode mode;
	uint32_t hdr_size;        /* virtio-net header bytes */
	uint32_t buf_bytes;       /* one posted buffer */
	uint32_t descs_per_buf;   /* descriptors of one buffer */
	uint32_t entries_per_buf; /* ring entries one buffer takes (1 when indirect) */
	uint32_t bufs;            /* buffers posted when the ring is full */
	uint32_t max_frame;       /* largest frame (no header) one frame can have */
	uint32_t pkts_mtu;        /* 1514-byte frames the posted buffers hold */
	uint32_t pkts_max;        /* 64 KiB GSO frames they hold (0: none fit) */
	uint64_t pinned;          /* bytes of receive memory */
};

/*
 * What a strategy pins and holds for a queue of queue_size entries.  indirect:
 * multi-descriptor buffers go into indirect tables (1 ring entry each).
 * E.g. 256 entries, 12-byte header: mergeable 256 pages = 1 MiB, 256 MTU
 * frames (15 GSO frames); big 256/17 = 15 chains, 1044480 bytes, 15 frames
 * of any size; small 256 x 1526 = 390656 bytes, 256 MTU frames, no GSO.
 * Returns 0, -EINVAL (bad size or mode; AUTO is resolved with features).
 */
int vq_netdrv_rx_mem(enum vq_netdrv_rxmode mode, uint64_t features, uint32_t queue_size,
		     bool indirect, struct vq_netdrv_rxmem *out);

/* Bytes of device-visible memory vq_netdrv_new will ask alloc for. */
struct vq_netdrv_params;
int vq_netdrv_mem_needed(const struct vq_netdrv_params *p, size_t *bytes);

struct vq_netdrv_params {
	uint64_t features;      /* negotiated (the header size follows from them) */
	unsigned pairs;         /* queue pairs, 1..VQ_NET_MAX_PAIRS */
	bool ctrl;              /* a control queue at index 2*pairs */
	uint32_t queue_size;    /* entries of every ring */
	enum vq_netdrv_rxmode rxmode;
	bool indirect;          /* the rings have indirect pools (big: 1 entry/chain) */
	uint32_t tx_buf_size;   /* bytes per tx buffer, header included; 0 = 2048 */
	/*
	 * Device-visible memory: size bytes, 4096-aligned; *addr the driver
	 * address.  Called only from vq_netdrv_new; never freed by the driver.
	 */
	void *(*alloc)(void *ctx, size_t size, uint64_t *addr);
	/* Notify the device about queue vq_index (after a publish that wants it). */
	void (*kick)(void *ctx, unsigned vq_index);
	void *ctx;
};

struct vq_netdrv;

/* Create a driver and its buffers.  0 and *out; -EINVAL; -ENOMEM. */
int vq_netdrv_new(const struct vq_netdrv_params *p, struct vq_netdrv **out);
/* Free it (detach the rings first; buffer memory is the allocator's). */
void vq_netdrv_free(struct vq_netdrv *nd);

enum vq_netdrv_rxmode vq_netdrv_rxmode(const struct vq_netdrv *nd); /* resolved */
size_t vq_netdrv_hdr_size(const struct vq_netdrv *nd);

/*
 * Attach ring q as queue vq_index (an rx ring gets its free buffers posted
 * and a kick), or detach (q == NULL): every buffer the current ring holds
 * is taken back (vq_drv_detach; the device must have stopped) and frames
 * handed out but not done are released.  Clears the broken state.
 * Returns 0, -EINVAL, -EIO (posting failed: the ring is broken).
 */
int vq_netdrv_set_queue(struct vq_netdrv *nd, unsigned vq_index, struct vq_drv *q);

/* Adapter for vq_fe_params.queue_event when the frontend's queues are in
 * driver order (rx0, tx0, rx1, tx1, ..., ctrl); opaque is the vq_netdrv. */
void vq_netdrv_fe_queue_event(void *nd, unsigned i, struct vq_drv *q, struct vq_drv *old);

/* ---- data path */

struct vq_netdrv_txpkt {
	const void *data;                    /* the frame */
	uint32_t len;                        /* 14..VQ_NET_MAX_FRAME */
	const struct virtio_net_hdr_v1 *hdr; /* offloads, or NULL for none */
};

/*
 * Send up to n frames on pair qp: completed tx buffers are reclaimed first,
 * then each frame is copied (header + frame) into free tx buffers and
 * added; one publish and at most one kick for the burst.  Returns the
 * number of frames queued (less than n when out of buffers or ring space:
 * backpressure), -EINVAL (bad frame: nothing after it is queued; earlier
 * frames are), -ENOTCONN (no ring), -EIO (ring broken).
 */
int vq_netdrv_tx_burst(struct vq_netdrv *nd, unsigned qp, const struct vq_netdrv_txpkt *pkts,
		       unsigned n);
/*
 * Zero-copy transmit: build frames in place in the driver's tx buffers.
 * vq_netdrv_tx_get lends up to n free buffers of pair qp (completed ones
 * are reclaimed first) and returns how many (0: none free, backpressure),
 * -EINVAL, -ENOTCONN or -EIO.  The caller writes a frame at each data
 * (up to room bytes; one buffer each, so a frame larger than room goes
 * through vq_netdrv_tx_burst), sets len and hdr, and gives every lent
 * buffer back with vq_netdrv_tx_put: the first k are queued in order,
 * one publish and at most one kick, and the rest return to the free list.
 * A buffer keeps what was last written to it, and the free list is LIFO,
 * so the same few buffers recycle: a caller sending the same kind of frame
 * need rewrite only what changes (it writes every byte once first: the
 * buffers hold whatever the allocator gave).
 * tx_put returns the number queued (less than k when the ring is full: the
 * unqueued buffers are back in the free list; their frames were not sent),
 * -EINVAL (an entry is not a buffer lent on qp, or appears twice: nothing
 * is taken back; or a bad len: nothing from that frame on is queued),
 * -ENOTCONN or -EIO (every buffer taken back, nothing queued).  Buffers
 * lent before a detach are still given back with tx_put; if the features
 * (so the header size, so data) changed meanwhile, give them back unsent.
 */
struct vq_netdrv_txbuf {
	uint8_t *data;                       /* the frame goes here */
	uint32_t room;                       /* bytes at data */
	uint32_t len;                        /* caller: 14..room */
	const struct virtio_net_hdr_v1 *hdr; /* caller: offloads, or NULL for none */
	uint32_t id;                         /* the driver's; keep it */
};
int vq_netdrv_tx_get(struct vq_netdrv *nd, unsigned qp, struct vq_netdrv_txbuf *b, unsigned n);
int vq_netdrv_tx_put(struct vq_netdrv *nd, unsigned qp, const struct vq_netdrv_txbuf *b,
		     unsigned n, unsigned k);

/* Reclaim completed tx buffers only.  Returns frames completed or -errno. */
int vq_netdrv_tx_reclaim(struct vq_netdrv *nd, unsigned qp);
/* Frames queued on pair qp's tx ring and not yet completed. */
unsigned vq_netdrv_tx_inflight(const struct vq_netdrv *nd, unsigned qp);

struct vq_netdrv_rxpkt {
	struct virtio_net_hdr_v1 hdr; /* the device's header (10-byte headers zero-extended) */
	uint32_t len;                 /* frame bytes, header excluded */
	unsigned iovcnt;
	const struct iovec *iov;      /* the frame, in receive buffers */
};

/*
 * Receive up to max frames from pair qp.  The views stay valid until
 * vq_netdrv_rx_done(nd, qp), which must come before the next rx_burst when
 * this one returned > 0.  A frame whose buffers are not all used yet stays
 * pending for the next call.  Short or oversized frames are dropped and
 * counted.  Returns frames, -EBUSY (rx_done missing), -ENOTCONN, -EIO.
 */
int vq_netdrv_rx_burst(struct vq_netdrv *nd, unsigned qp, struct vq_netdrv_rxpkt *pkts,
		       unsigned max);
/* Recycle the buffers of the last burst and re-post every free buffer. */
int vq_netdrv_rx_done(struct vq_netdrv *nd, unsigned qp);

/* Copy a received frame out (at most cap bytes); returns bytes copied. */
size_t vq_netdrv_rx_copy(const struct vq_netdrv_rxpkt *pkt, void *buf, size_t cap);

/* ---- control queue (needs p.ctrl and VIRTIO_NET_F_CTRL_VQ) */

/*
 * Execute one command and wait (polling, up to timeout_ms) for the device's
 * ack.  Returns 0 (VIRTIO_NET_OK), -EREMOTEIO (VIRTIO_NET_ERR or garbage),
 * -ETIMEDOUT, -ENOTCONN, -EINVAL (data longer than 64 bytes).
 */
int vq_netdrv_ctrl(struct vq_netdrv *nd, uint8_t cls, uint8_t cmd, const void *data,
		   uint32_t len, int timeout_ms);
/* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET. */
int vq_netdrv_set_pairs(struct vq_netdrv *nd, uint16_t pairs, int timeout_ms);

/* ---- state */

struct vq_netdrv_stats {
	uint64_t rx_packets, rx_bytes;
	uint64_t rx_errors;  /* short/oversized frames dropped */
	uint64_t rx_bufs;    /* receive buffers consumed */
	uint64_t tx_packets, tx_bytes;
	uint64_t tx_full;    /* bursts cut short for lack of buffers or ring space */
};
int vq_netdrv_get_stats(const struct vq_netdrv *nd, unsigned qp, struct vq_netdrv_stats *out);

/* Is queue vq_index broken, and why ("" when not)? */
bool vq_netdrv_is_broken(const struct vq_netdrv *nd, unsigned vq_index);
const char *vq_netdrv_error(const struct vq_netdrv *nd);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_NET_DRV_H */
