/* SPDX-License-Identifier: MIT */
/*
 * EXPERIMENTAL virtio-net header/data split (issue 13, not in the VIRTIO
 * spec; virtio-spec issue #144 is open).  Off by default: nothing here runs
 * unless a caller asks for it.
 *
 * This header holds the split-point parser: given a received Ethernet frame
 * it finds where the protocol headers end and the payload begins, so that a
 * device can place the headers in one buffer and the payload, page-aligned,
 * in another.
 */
#ifndef VIRTQ_NET_SPLIT_H
#define VIRTQ_NET_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <virtq/net_defs.h> /* <linux/virtio_net.h>, safe for C++ */

/*
 * EXPERIMENTAL feature bits, not in the VIRTIO spec.  Bits 42..45 lie in the
 * range the spec reserves for future extensions (42..49, beside
 * VQ_F_LARGE_CHAIN at 47); they will move if a design is standardised.  Off
 * by default: a vq_net offers one only when vq_net_params.features names it,
 * and only the implemented ones (VQ_NET_F_SPLIT_IMPLEMENTED) can be offered.
 *
 * VQ_NET_F_SPLIT_A: descriptor-chain split.  A receive chain's first
 *   writable segment holds the virtio-net header and the protocol headers,
 *   the following segments (typically one page) the payload, from their
 *   first byte.  A split frame has VQ_NET_HDR_F_SPLIT in flags and the
 *   protocol header length in hdr_len; its used length is the full length
 *   of segment 0 plus the payload bytes (the gap after the headers counts,
 *   so byte offsets in the chain stay linear).  A frame that is not split
 *   (fragment, unknown protocol, headers longer than segment 0, a chain of
 *   one segment, no payload, payload longer than the chain) is placed as
 *   without the feature, flag clear.  num_buffers is 1 for a split frame.
 * VQ_NET_F_SPLIT_B: mergeable page buffers (needs VIRTIO_NET_F_MRG_RXBUF),
 *   headers at an offset so that the payload starts at offset 0 of the next
 *   buffer.  A split frame's first buffer holds the virtio-net header at 0
 *   and the protocol headers in its last hdr_len bytes, and is used in full
 *   (the gap between them is not written); the payload fills the buffers
 *   after it, all but the last in full; num_buffers counts them all (>= 2).
 *   Not split (placed as plain mergeable, flag clear): fragments, unknown
 *   protocols, no payload, a first buffer shorter than header + hdr_len.
 * VQ_NET_F_SPLIT_C: small header buffers and data (page) buffers, posted in
 *   a ratio the driver chooses (needs VIRTIO_NET_F_MRG_RXBUF).  A buffer
 *   shorter than VQ_NET_SPLIT_C_DATA_MIN is a header buffer.  A split frame
 *   takes a header buffer (virtio-net header and protocol headers back to
 *   back, used length header + hdr_len: the exception to "all but the last
 *   used in full" is the first buffer) and then data buffers, all but the
 *   last used in full; num_buffers counts them all.  Placed as plain
 *   mergeable instead (flag clear): a frame that fits whole in the header
 *   buffer, a data buffer where the header buffer should be, a header buffer
 *   where payload would go (the ratio did not suit the frame: the device
 *   never skips a buffer), headers longer than the header buffer,
 *   fragments, unknown protocols.
 * VQ_NET_F_SPLIT_HDR_RING: a per-rx-queue ring of count fixed-size header
 *   entries, configured once: across a transport with the control command
 *   VQ_NET_CTRL_SPLIT_HDR_RING_SET below, in-process with
 *   vq_net_split_set_hdr_ring.  The device
 *   writes a split frame's protocol headers into the next free entry and
 *   places the virtio-net header and only the payload in the data buffers
 *   (chained or mergeable, num_buffers and used lengths as without the
 *   feature); VQ_NET_HDR_F_SPLIT and hdr_len mark such a frame.  Entries
 *   are used strictly in order, so the driver knows which one a flagged
 *   frame took.  Free entries are [head, tail): head is the device's
 *   free-running 16-bit count of entries used, tail a little-endian u16 in
 *   guest memory the driver advances (release) as it recycles entries.
 *   Ring empty, header longer than an entry, or a frame not splittable:
 *   the frame is placed unsplit, flag clear.  A tail more than count ahead
 *   of head disables the ring (sticky, counted in errors); the queue goes on.
 * At most one split method may be negotiated.
 */
#define VQ_NET_F_SPLIT_A_BIT        42
#define VQ_NET_F_SPLIT_B_BIT        43
#define VQ_NET_F_SPLIT_C_BIT        44
#define VQ_NET_F_SPLIT_HDR_RING_BIT 45
#define VQ_NET_F_SPLIT_A        (1ull << VQ_NET_F_SPLIT_A_BIT)
#define VQ_NET_F_SPLIT_B        (1ull << VQ_NET_F_SPLIT_B_BIT)
#define VQ_NET_F_SPLIT_C        (1ull << VQ_NET_F_SPLIT_C_BIT)
#define VQ_NET_F_SPLIT_HDR_RING (1ull << VQ_NET_F_SPLIT_HDR_RING_BIT)
#define VQ_NET_F_SPLIT_ALL (VQ_NET_F_SPLIT_A | VQ_NET_F_SPLIT_B | VQ_NET_F_SPLIT_C | \
			    VQ_NET_F_SPLIT_HDR_RING)
/* The ones a vq_net can offer today. */
#define VQ_NET_F_SPLIT_IMPLEMENTED VQ_NET_F_SPLIT_ALL

/* Method C: a receive buffer shorter than this is a header buffer. */
#define VQ_NET_SPLIT_C_DATA_MIN 1024u

/* virtio_net_hdr.flags: this frame was split (EXPERIMENTAL, a bit that no
 * VIRTIO_NET_HDR_F_* uses). */
#define VQ_NET_HDR_F_SPLIT 0x80u
/* Longest protocol header the device splits off (longer: not split). */
#define VQ_NET_SPLIT_HDR_MAX 256u

/* At most this many VLAN tags (802.1Q / 802.1ad) are walked. */
#define VQ_NET_SPLIT_MAX_VLAN 2u
/* At most this many IPv6 extension headers are walked. */
#define VQ_NET_SPLIT_MAX_EXT 8u

/* Why a frame is not split (vq_net_split_info.why). */
enum vq_net_split_why {
	VQ_NET_SPLIT_OK = 0,      /* split at hdr_len */
	VQ_NET_SPLIT_UNKNOWN,     /* an ethertype, IP protocol or extension we do not walk */
	VQ_NET_SPLIT_FRAGMENT,    /* an IPv4 or IPv6 fragment: never split */
	VQ_NET_SPLIT_MALFORMED,   /* truncated, or a length field inconsistent with the frame */
	VQ_NET_SPLIT_TOO_DEEP,    /* more VLAN tags or IPv6 extensions than walked */
};

/* Where the headers of one frame lie.  Offsets are from the frame start. */
struct vq_net_split_info {
	uint32_t l3_off;    /* IPv4/IPv6 header */
	uint32_t l4_off;    /* TCP/UDP header */
	uint32_t hdr_len;   /* the split point: bytes of headers; payload follows */
	uint8_t l4_proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	uint8_t ip_version; /* 4 or 6 */
	uint8_t vlans;      /* VLAN tags walked */
	uint8_t why;        /* enum vq_net_split_why */
};

/*
 * Find the split point of the Ethernet frame frame[0..len) (no virtio-net
 * header in front).  Walks Ethernet, up to VQ_NET_SPLIT_MAX_VLAN VLAN tags,
 * IPv4 (IHL) or IPv6 with hop-by-hop, routing and destination-options
 * extension headers (up to VQ_NET_SPLIT_MAX_EXT), then TCP (data offset) or
 * UDP.  Every length is checked against len; the frame is only read.
 * Returns the header length (> 0, <= len) and fills *out with why ==
 * VQ_NET_SPLIT_OK; or -ENOENT when the frame must not be split (fragment,
 * unknown protocol, too deep: out->why says which), or -EINVAL when it is
 * malformed or truncated (why == VQ_NET_SPLIT_MALFORMED), or when frame or
 * out is NULL.
 */
int vq_net_split_parse(const void *frame, size_t len, struct vq_net_split_info *out);

/*
 * The same over the first buflen bytes of a frame of frame_len bytes (a
 * device copies a bounded prefix first): headers must lie inside
 * buf[0..buflen), IP length fields are checked against frame_len.  Returns
 * as vq_net_split_parse; -EINVAL also when buflen > frame_len.
 */
int vq_net_split_parse_prefix(const void *buf, size_t buflen, size_t frame_len,
			      struct vq_net_split_info *out);

struct vq_net;
struct vq_mem;

/* The header ring of one rx queue (VQ_NET_F_SPLIT_HDR_RING). */
struct vq_net_split_hdr_ring {
	const struct vq_mem *mem; /* translates gpa and tail_gpa; outlives the ring */
	uint64_t gpa;             /* count entries of entry_size bytes, contiguous,
				   * 64-byte aligned */
	uint64_t tail_gpa;        /* le16, 2-byte aligned, outside the entries: the
				   * driver's tail */
	uint32_t entry_size;      /* 64..4096, a multiple of 64 */
	uint16_t count;           /* a power of two, 1..32768: head % count then
				   * never jumps when the 16-bit head wraps */
};

/* Header ring limits (VQ_NET_F_SPLIT_HDR_RING). */
#define VQ_NET_SPLIT_ENTRY_MIN   64u
#define VQ_NET_SPLIT_ENTRY_MAX   4096u
#define VQ_NET_SPLIT_ENTRY_ALIGN 64u /* entry_size and the ring address */
#define VQ_NET_SPLIT_COUNT_MAX   32768u

/*
 * Configure (r != NULL) or remove (r == NULL) the header ring of pair qp,
 * in-process (a driver across a transport uses the control command below).
 * Needs VQ_NET_F_SPLIT_HDR_RING negotiated.  The fields must hold the
 * limits above and the whole ring and the tail must be device-writable /
 * readable guest memory in r->mem now.  The data path translates them once
 * at the first frame, and again after every vq_net_set_queue of the pair's
 * rx queue (r->mem must not change under a running queue: the rule of the
 * rings themselves); a translation that fails places frames unsplit and is
 * tried again at the next frame.  A ring is configured
 * once: while one is on, another is refused (-EBUSY); after it was removed
 * or disabled (a hostile tail), a new one may be set.  Configuring starts
 * the device's head at 0, so the driver's tail must say how many entries
 * are free from entry 0 on.  Returns 0, -EINVAL (bad qp or fields, feature
 * not negotiated), -EOVERFLOW (address + size wraps), -EFAULT (not mapped,
 * or without the permission), -EBUSY.  Device reset removes every ring.
 * Removing: from the thread that serves pair qp, or before traffic starts.
 * Configuring: from any thread (the data path picks the ring up whole).
 */
int vq_net_split_set_hdr_ring(struct vq_net *n, unsigned qp,
			      const struct vq_net_split_hdr_ring *r);

/*
 * EXPERIMENTAL control command (not in the VIRTIO spec): configure the
 * header ring of one receive queue over the control virtqueue, so that a
 * driver across vhost-user (or any transport) can use the header ring.
 * Class VQ_NET_CTRL_SPLIT (0x80): <linux/virtio_net.h> uses classes 0..6
 * (and 8 in newer kernels); 0x80 stays clear of the range the spec hands
 * out in order (checked at build time in src/devices/net/parse.c).
 * Command VQ_NET_CTRL_SPLIT_HDR_RING_SET (0): command-specific data is
 * struct vq_net_ctrl_split_hdr_ring, exactly 24 bytes, little-endian.
 * Needs VIRTIO_NET_F_CTRL_VQ and VQ_NET_F_SPLIT_HDR_RING negotiated.  The
 * device checks every field as vq_net_split_set_hdr_ring does, translating
 * through the driver's memory map (the rx queue's, at the first frame after
 * each start of the queue: over vhost-user every change of the memory table
 * restarts the queues), and
 * answers VIRTIO_NET_OK, or VIRTIO_NET_ERR and changes nothing: wrong
 * length, feature not negotiated, qp >= max_virtqueue_pairs, a field out of
 * its limits or misaligned, address + size wrapping, the tail inside the
 * entries, memory unmapped or not writable (ring) / readable (tail), or a
 * ring already on for that queue (configured once; device reset clears).
 * From the ack on, split frames of that queue put their headers there.
 */
#define VQ_NET_CTRL_SPLIT              0x80
#define VQ_NET_CTRL_SPLIT_HDR_RING_SET 0

struct vq_net_ctrl_split_hdr_ring {
	uint64_t ring_addr;  /* le64: entry 0 (guest address) */
	uint64_t tail_addr;  /* le64: the driver's le16 tail */
	uint32_t entry_size; /* le32 */
	uint16_t count;      /* le16 */
	uint16_t qp;         /* le16: receive queue pair (rx queue 2 * qp) */
};

/* ======================================================================
 * Driver side: zero-copy receive of split frames (EXPERIMENTAL)
 * ====================================================================== */

struct vq_drv;

/*
 * One receive queue driven by a split-aware driver over a vq_drv ring: it
 * posts the buffers its method wants, reassembles frames, and lends them to
 * the application without copying until it gives each back.
 *
 * features are the negotiated ones and name at most one split method:
 *   none   plain mergeable buffers of ratio contiguous pages (MRG_RXBUF),
 *          for comparison;
 *   A      chains of one header buffer (hdr_size) and ratio pages;
 *   B      pages (MRG_RXBUF);
 *   C      header buffers (hdr_size) and pages, ratio pages posted after
 *          each header buffer (MRG_RXBUF);
 *   HDR_RING  buffers of ratio contiguous pages (MRG_RXBUF), each posted
 *          12 bytes before a page boundary so that a split payload starts
 *          on the boundary (and, within a buffer, runs on contiguously); hdr_bufs ring entries (a power of two) of hdr_size
 *          bytes (a multiple of 64) and the tail, in the same memory
 *          (vq_splitdrv_hdr_ring says where).  Every attach starts the
 *          ring afresh (head 0, every entry free): configure the device
 *          again then.  A frame lent across an attach keeps its header
 *          view, but the entry may be reused by the new device.
 * Everything the device writes is untrusted: used lengths, num_buffers,
 * VQ_NET_HDR_F_SPLIT and hdr_len are checked against the method and the
 * buffers the device holds; a violation breaks the queue (-EIO from then
 * on, vq_splitdrv_error says why).  One thread per queue.
 */
struct vq_splitdrv_params {
	uint64_t features;   /* negotiated; at most one VQ_NET_F_SPLIT_* */
	uint32_t queue_size; /* ring entries */
	uint32_t pages;      /* data pages, posted or lent [queue_size] */
	uint32_t hdr_bufs;   /* A, C: header buffers; HDR_RING: entries [queue_size] */
	uint32_t hdr_size;   /* A, C: header buffer bytes (64..1023); HDR_RING:
			      * entry bytes (64..4096) [256; 128] */
	uint32_t ratio;      /* A: pages per chain; C: pages per header buffer;
			      * none, HDR_RING: pages per buffer (1..16) [1] */
	/* Device-visible memory: size bytes, 4096-aligned, *addr the driver
	 * (guest) address.  Called only from vq_splitdrv_new. */
	void *(*alloc)(void *ctx, size_t size, uint64_t *addr);
	void (*kick)(void *ctx); /* after a publish that wants a notification */
	void *ctx;
};

/* A received frame, lent to the application until vq_splitdrv_release. */
struct vq_splitdrv_pkt {
	struct virtio_net_hdr_v1 hdr; /* as the device wrote it */
	uint32_t len;                 /* frame bytes */
	const uint8_t *head;          /* split: the protocol headers; else NULL */
	uint32_t head_len;            /* split: hdr_len; else 0 */
	const struct iovec *iov;      /* split: the payload; else the whole frame */
	unsigned iovcnt;
	bool aligned;                 /* split, payload starting on a page boundary */
	uint32_t ref;                 /* the driver's; keep it */
};

struct vq_splitdrv_stats {
	uint64_t packets, bytes;
	uint64_t split;     /* frames received split */
	uint64_t aligned;   /* of them, payload page-aligned */
	uint64_t slots;     /* ring entries the received frames took */
	uint64_t drops;     /* frames dropped (size out of range, too many pieces) */
	uint64_t mem;       /* bytes of receive memory (buffers and header ring) */
};

struct vq_splitdrv;

/* Create a queue and its memory.  0 and *out; -EINVAL (features, sizes);
 * -ENOMEM. */
int vq_splitdrv_new(const struct vq_splitdrv_params *p, struct vq_splitdrv **out);
/* Free it (detach first; the memory is the allocator's). */
void vq_splitdrv_free(struct vq_splitdrv *s);
/*
 * Attach ring q (its free buffers are posted, one kick) or detach
 * (q == NULL: every posted buffer is taken back with vq_drv_detach; the
 * device must have stopped; lent frames stay lent).  Clears the broken
 * state.  Returns 0, -EIO (posting failed: the ring is broken).
 */
int vq_splitdrv_attach(struct vq_splitdrv *s, struct vq_drv *q);
/*
 * HDR_RING: the ring the device is to be configured with (mem left NULL:
 * the caller's memory map).  Returns 0 or -EINVAL (another method).
 */
int vq_splitdrv_hdr_ring(const struct vq_splitdrv *s, struct vq_net_split_hdr_ring *out);
/*
 * HDR_RING: the same as the data of a VQ_NET_CTRL_SPLIT_HDR_RING_SET
 * command for pair qp (the caller sends it on the control queue after
 * vq_splitdrv_attach, and again after every attach: a new device starts
 * at entry 0).  Returns 0 or -EINVAL (another method).
 */
int vq_splitdrv_hdr_ring_cmd(const struct vq_splitdrv *s, uint16_t qp,
			     struct vq_net_ctrl_split_hdr_ring *out);
/*
 * Receive up to max frames.  Each is lent (its buffers stay out of the
 * ring) until vq_splitdrv_release, in any order.  Frames released since the
 * last call are re-posted first (one publish, at most one kick), after
 * their header-ring entries were handed back (one tail store).  A frame
 * whose buffers are not all used yet stays pending.  Returns frames,
 * -ENOTCONN (no ring), -EIO (broken).
 */
int vq_splitdrv_recv(struct vq_splitdrv *s, struct vq_splitdrv_pkt *pkts, unsigned max);
/* Give a lent frame back.  0, or -EINVAL (not lent: nothing changes). */
int vq_splitdrv_release(struct vq_splitdrv *s, const struct vq_splitdrv_pkt *pkt);
/* Copy a received frame out whole (at most cap bytes); returns bytes. */
size_t vq_splitdrv_copy(const struct vq_splitdrv_pkt *pkt, void *buf, size_t cap);
void vq_splitdrv_get_stats(const struct vq_splitdrv *s, struct vq_splitdrv_stats *out);
bool vq_splitdrv_is_broken(const struct vq_splitdrv *s);
const char *vq_splitdrv_error(const struct vq_splitdrv *s); /* "" when not broken */

#endif
