/* SPDX-License-Identifier: MIT */
/*
 * virtq virtio-net device model (VIRTIO 1.2, "Network Device").
 *
 * The device knows nothing of vhost-user or sockets.  Its owner (the
 * `virtq-net` daemon, or a test) creates the struct vq_dev of each queue,
 * attaches them with vq_net_set_queue, and moves frames:
 *
 *   guest TX:  vq_net_tx_burst -> frames (zero-copy views of guest memory)
 *              ... hand them to a switch, another port's vq_net_rx_burst ...
 *              vq_net_tx_done  -> chains returned to the guest, one flush
 *   guest RX:  vq_net_rx_burst copies frames into the guest's receive
 *              buffers (mergeable, big-chain or small), converting offloads
 *              the receiving guest did not negotiate (software checksum,
 *              software TCP segmentation).
 *   control:   vq_net_ctrl_poll executes control-queue commands.
 *
 * Queue numbering (spec 5.1.2): rx of pair i is 2*i, tx of pair i is 2*i+1,
 * the control queue is 2*max_pairs.  Burst functions take the pair index.
 *
 * Errors are negative errnos.  Everything the guest controls (headers,
 * chain layouts, control commands) is validated; a malformed frame or
 * command is counted and dropped, never trusted.  Ring-level violations
 * are the ring core's business (it marks the queue broken).
 *
 * Threading: one thread drives one queue pair (its rx and tx).  Control
 * queue, features and config belong to the owner's control thread; the data
 * path reads the rx filter and features without locking, so change them only
 * while the data path is quiescent or accept a benign race on filter bits.
 *
 * Byte order: header and config fields are little-endian as on the wire
 * (modern virtio).  virtq targets little-endian hosts, so legacy
 * (guest-endian) headers from little-endian guests are handled too.
 */
#ifndef VIRTQ_NET_H
#define VIRTQ_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <virtq/net_defs.h>
#include <virtq/device.h>
#include <virtq/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Features the model implements (VIRTIO_NET_F_* bit numbers from linux). */
#define VQ_NET_FEATURES_ALL                                                    \
	(VQ_NET_F(VIRTIO_NET_F_CSUM) | VQ_NET_F(VIRTIO_NET_F_GUEST_CSUM) |    \
	 VQ_NET_F(VIRTIO_NET_F_MTU) | VQ_NET_F(VIRTIO_NET_F_MAC) |            \
	 VQ_NET_F(VIRTIO_NET_F_GUEST_TSO4) | VQ_NET_F(VIRTIO_NET_F_GUEST_TSO6) | \
	 VQ_NET_F(VIRTIO_NET_F_GUEST_ECN) | VQ_NET_F(VIRTIO_NET_F_HOST_TSO4) | \
	 VQ_NET_F(VIRTIO_NET_F_HOST_TSO6) | VQ_NET_F(VIRTIO_NET_F_HOST_ECN) |  \
	 VQ_NET_F(VIRTIO_NET_F_MRG_RXBUF) | VQ_NET_F(VIRTIO_NET_F_STATUS) |    \
	 VQ_NET_F(VIRTIO_NET_F_CTRL_VQ) | VQ_NET_F(VIRTIO_NET_F_CTRL_RX) |     \
	 VQ_NET_F(VIRTIO_NET_F_MQ) | VQ_NET_F(VIRTIO_NET_F_CTRL_MAC_ADDR) |    \
	 VQ_NET_F(VIRTIO_F_ANY_LAYOUT) /* legacy */ |                          \
	 VQ_F_VERSION_1 | VQ_F_INDIRECT | VQ_F_EVENT_IDX | VQ_F_PACKED |       \
	 VQ_F_IN_ORDER)

/* Offered by default: everything but IN_ORDER (opt in through params). */
#define VQ_NET_FEATURES_DEFAULT (VQ_NET_FEATURES_ALL & ~VQ_F_IN_ORDER)

#define VQ_NET_BURST_MAX   64u     /* most frames one tx burst returns */
#define VQ_NET_MAC_TABLE   64u     /* unicast and multicast filter entries each */

/*
 * One frame.  From vq_net_tx_burst: hdr is a validated copy of the guest's
 * header (num_buffers 0), iov/iovcnt/len describe the frame after the
 * header, in guest memory (zero-copy: valid until vq_net_tx_done on that
 * queue; the guest may scribble on it meanwhile, so treat the bytes as
 * untrusted data).  Frames built by the owner (from a tap, a socket, a
 * test) fill the same four fields; vq_net_rx_burst only reads them.
 */
struct vq_net_pkt {
	struct virtio_net_hdr_v1 hdr; /* offload fields, little-endian */
	uint32_t len;                 /* frame bytes, without virtio header */
	unsigned iovcnt;
	struct iovec *iov;            /* frame bytes; sum of lengths >= len */
};

struct vq_net_params {
	uint8_t mac[6];
	uint16_t max_pairs;  /* 1..VQ_NET_MAX_PAIRS; MQ is offered when > 1 */
	uint16_t mtu;        /* 0: do not offer MTU; else 68..65535 */
	uint64_t features;   /* to offer; 0 = VQ_NET_FEATURES_DEFAULT.  Masked by
			      * VQ_NET_FEATURES_ALL; MTU dropped if mtu == 0,
			      * MQ dropped if max_pairs == 1. */
	/* Called after a flush when the driver wants an interrupt (used
	 * buffer notification) for queue vq_index.  NULL: nobody is told. */
	void (*notify)(void *opaque, unsigned vq_index);
	void *opaque;
	/* EXPERIMENTAL header/data split: a frame of at most split_thresh
	 * bytes is delivered unsplit, like a NIC's hds-thresh (a short frame's
	 * payload gains nothing from a page of its own).  0: every frame that
	 * parses is split. */
	uint16_t split_thresh;
};

struct vq_net;

/* Create a device.  Returns 0 and *out; -EINVAL for bad params; -ENOMEM. */
int vq_net_new(const struct vq_net_params *p, struct vq_net **out);
/* Free it (queues are detached, not freed: the owner owns its vq_devs). */
void vq_net_free(struct vq_net *n);

/* ---- features and config */

uint64_t vq_net_host_features(const struct vq_net *n); /* offered */
/*
 * Accept the driver's features.  Returns 0, or -EINVAL when they are not a
 * subset of the offered ones or break a dependency of spec 5.1.3.1 (e.g.
 * GUEST_TSO4 without GUEST_CSUM).  Sets the header size.
 */
int vq_net_set_features(struct vq_net *n, uint64_t features);
uint64_t vq_net_features(const struct vq_net *n);      /* negotiated */
/* Virtio header bytes: 12 with VERSION_1 or MRG_RXBUF, else 10. */
size_t vq_net_hdr_size(uint64_t features);

/*
 * Read len bytes of struct virtio_net_config at off.  Returns 0, -EINVAL
 * when [off, off+len) is not inside the structure.
 */
int vq_net_get_config(const struct vq_net *n, uint32_t off, void *buf, uint32_t len);
/* Config is read-only for a modern driver: -EINVAL out of bounds, else -EPERM. */
int vq_net_set_config(struct vq_net *n, uint32_t off, const void *buf, uint32_t len);
/* Set the link state; returns true when status changed and STATUS was
 * negotiated (the owner then sends a configuration change notification). */
bool vq_net_set_link(struct vq_net *n, bool up);

/* ---- queues */

/* Number of queues: 2*max_pairs, plus 1 with a control queue offered. */
unsigned vq_net_num_queues(const struct vq_net *n);
/*
 * Attach (q != NULL) or detach (q == NULL) the ring of queue vq_index.  On
 * detach, receive chains the device holds (popped, not yet used) are
 * returned with length 0 and flushed; a tx burst not yet done is completed.
 * Returns 0, -EINVAL (bad index), -ENOMEM.
 */
int vq_net_set_queue(struct vq_net *n, unsigned vq_index, struct vq_dev *q);

/* Back to the initial state: features 0, filter default, 1 pair, stats and
 * held chains dropped (the rings are gone), queues detached. */
void vq_net_reset(struct vq_net *n);

/* ---- data path */

/*
 * Pop up to max (<= VQ_NET_BURST_MAX) frames from the tx queue of pair qp.
 * Fills pkts[] with pointers to device-owned frames, valid until
 * vq_net_tx_done(n, qp).  Malformed chains (writable segments, shorter than
 * the header, bad header, frame under 14 or over VQ_NET_MAX_FRAME bytes) are
 * counted in errors and completed with length 0 by tx_done; they are not
 * returned.  Returns the number of frames (0 when the ring is empty), or
 * -ENOTCONN (queue not attached), -EBUSY (previous burst not done), -EIO
 * (ring broken).
 */
int vq_net_tx_burst(struct vq_net *n, unsigned qp, struct vq_net_pkt **pkts, unsigned max);

/*
 * Complete the last tx burst of pair qp: every chain it popped is used with
 * length 0, in pop order, one flush, one notify decision.  The frames'
 * memory must no longer be accessed.  Returns 0, -ENOTCONN, -EIO.
 */
int vq_net_tx_done(struct vq_net *n, unsigned qp);

/*
 * Copy frames into the rx queue of pair qp, in order.  Offloads are fitted
 * to what the driver negotiated: NEEDS_CSUM without GUEST_CSUM is
 * checksummed in software; TCPv4/TCPv6 GSO without GUEST_TSO4/6 (or with the
 * ECN bit and no GUEST_ECN) is segmented in software (each segment fully
 * checksummed); other GSO the driver cannot take is dropped (counted).
 * A frame that does not fit the posted buffers at all (small buffers, a big
 * frame) is dropped and counted; the buffers are kept for the next frame.
 * When the ring runs out of buffers the burst stops (backpressure): the
 * frames not consumed remain the caller's, to retry or drop.  Popped but
 * unused chains stay with the device for the next call, so no partial frame
 * is ever visible.  One flush and one notify decision per call.
 *
 * Returns the number of frames consumed (delivered or dropped), 0..cnt, or
 * -ENOTCONN, -EIO.
 */
int vq_net_rx_burst(struct vq_net *n, unsigned qp, struct vq_net_pkt *const *pkts,
		    unsigned cnt);

/* ---- control queue */

/* Execute every available control command, ack each, flush, notify.
 * Returns the number of commands processed, -ENOTCONN, -EIO. */
int vq_net_ctrl_poll(struct vq_net *n);

/* A parsed command (pure parsing: vq_net_ctrl_parse). */
struct vq_net_ctrl_cmd {
	uint8_t cls;
	uint8_t cmd;
	union {
		uint8_t on;           /* VIRTIO_NET_CTRL_RX_* */
		uint8_t mac[6];       /* VIRTIO_NET_CTRL_MAC_ADDR_SET */
		uint16_t pairs;       /* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET */
		struct {              /* VIRTIO_NET_CTRL_MAC_TABLE_SET */
			uint32_t n_uni, n_multi;
			const uint8_t *uni, *multi; /* 6 bytes each, into buf */
		} table;
		struct {              /* EXPERIMENTAL VQ_NET_CTRL_SPLIT_HDR_RING_SET */
			uint64_t ring_addr, tail_addr; /* <virtq/net_split.h> */
			uint32_t entry_size;
			uint16_t count, qp;
		} hdr_ring;
	} u;
};

/*
 * Parse the device-readable bytes of a control command (class, command,
 * command data).  Structure only: lengths must match exactly.  Features and
 * ranges are checked when the command is applied.  Returns 0, -EINVAL
 * (malformed), -EOPNOTSUPP (class/command the model does not implement).
 */
int vq_net_ctrl_parse(const void *buf, size_t len, struct vq_net_ctrl_cmd *out);

/*
 * Parse and validate a tx virtio header (pure).  buf holds at least
 * vq_net_hdr_size(features) bytes; frame_len is the frame after it.
 * Checks flags and gso_type against the negotiated features (CSUM,
 * HOST_TSO4/6, HOST_ECN), csum_start/offset inside the frame, gso_size.
 * Returns 0 and *out (num_buffers 0, unknown flag bits cleared), -EINVAL.
 */
int vq_net_hdr_parse(uint64_t features, const void *buf, size_t buflen,
		     uint64_t frame_len, struct virtio_net_hdr_v1 *out);

/* ---- state the switch honours */

struct vq_net_rx_filter {
	bool promisc, allmulti;       /* VIRTIO_NET_CTRL_RX */
	bool uni_overflow, multi_overflow; /* table larger than VQ_NET_MAC_TABLE */
	uint8_t mac[6];               /* current address (config / MAC_ADDR_SET) */
	uint32_t n_uni, n_multi;
	uint8_t uni[VQ_NET_MAC_TABLE][6];
	uint8_t multi[VQ_NET_MAC_TABLE][6];
};

/* Copy of the receive filter. */
void vq_net_get_rx_filter(const struct vq_net *n, struct vq_net_rx_filter *out);
/* Would the guest accept a frame with this destination MAC? */
bool vq_net_rx_accept(const struct vq_net *n, const uint8_t dst[6]);
/* Queue pairs the driver enabled (VQ_PAIRS_SET; 1 by default). */
unsigned vq_net_active_pairs(const struct vq_net *n);

/* ---- statistics */

/* Counters of one queue. */
struct vq_net_queue_stats {
	uint64_t packets; /* frames delivered (rx) / accepted (tx) / commands (ctrl) */
	uint64_t bytes;   /* their bytes, without virtio header */
	uint64_t drops;   /* rx: dropped (too big for buffers, GSO not possible) */
	uint64_t errors;  /* malformed chains, headers, frames, commands */
	uint64_t nobuf;   /* rx: bursts stopped for lack of buffers */
	uint64_t csum_sw; /* rx: checksums completed in software */
	uint64_t gso_sw;  /* rx: frames segmented in software */
};

/* Counters of one queue pair, as vq_netdrv_get_stats counts them. */
struct vq_net_stats {
	struct vq_net_queue_stats rx; /* queue 2*qp: frames into the guest */
	struct vq_net_queue_stats tx; /* queue 2*qp+1: frames from the guest */
};

/*
 * Counters of queue pair qp (0..max_pairs-1).  Returns 0, -EINVAL.  Any
 * thread may call it while another serves the queues: each counter is read
 * whole, but the set is not one snapshot.
 */
int vq_net_get_stats(const struct vq_net *n, unsigned qp, struct vq_net_stats *out);
/* Counters of the control queue (packets: commands executed; errors:
 * malformed ones), read the same way.  Returns 0, -ENOENT (none offered). */
int vq_net_get_ctrl_stats(const struct vq_net *n, struct vq_net_queue_stats *out);

/* ---- the model as an ops table (<virtq/device.h>)
 *
 * For a transport such as vq_vu_serve() (<virtq/vhost_user.h>):
 * features (a driver set without CTRL_VQ loses the bits that need a
 * control queue: DPDK virtio-user acks MQ, CTRL_RX and CTRL_MAC_ADDR
 * without one), config space (struct virtio_net_config, read-only),
 * queue start/stop (vq_net_set_queue), reset, and the control queue:
 * served on start, on each kick and on queue_poll; when its ring breaks
 * the host's queue_broken is called once per start.  The data queues stay
 * the owner's: it moves frames with the burst functions above and no kick
 * of a data queue does anything here (queue_poll says -EOPNOTSUPP).
 * attach replaces the params' notify/opaque with the host's notify and host.
 */
const struct vq_device_ops *vq_net_device_ops(void);
/* n as a struct vq_device: { vq_net_device_ops(), n }. */
struct vq_device vq_net_device(struct vq_net *n);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_NET_H */
