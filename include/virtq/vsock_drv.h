/* SPDX-License-Identifier: MIT */
/*
 * virtq virtio-vsock driver over a vhost-user frontend (<virtq/frontend.h>):
 * a socket-like API for a userspace process that is the "guest" of a
 * vsock device (virtq-vsock, vhost-device-vsock, ...).  Peer cid 2 (the
 * host) only, as for any guest.
 *
 * Memory: everything lives in the frontend's shared arena: the rx pool
 * (rx_bufs buffers of rx_buf_pages pages each, page-aligned, with their
 * 44-byte packet headers in a separate array, so the payload of a buffer
 * starts on a page boundary), the tx copy pool, and the pages an
 * application allocates for zero-copy transmit (vq_vsockdrv_alloc).
 *
 * Receive, two ways on the same socket:
 *   - copy: vq_vsocksk_recv copies out of the rx buffers; a buffer goes
 *     back to the ring (and its bytes to fwd_cnt, the credit the peer sees)
 *     as soon as it is consumed;
 *   - zero-copy (the design of the 2022 virtio-vsock zerocopy RFC, in user
 *     space): vq_vsocksk_recv_zc hands out the rx buffers themselves plus
 *     a header page of (length, flags) entries, ended by a zero length.
 *     The application reads the payload in place and calls
 *     vq_vsocksk_release_zc; only then do the buffers return to the ring
 *     and their bytes to fwd_cnt.  An application that holds pages stops
 *     its own flow: the peer runs out of credit and waits (back-pressure);
 *     nothing is dropped.  No page-table work is involved: the pages are
 *     mapped once, at start, in both processes.  Held buffers are also
 *     missing from the shared rx ring, so keep buf_alloc well under the rx
 *     pool (the default is half of it): a peer that sends tiny packets
 *     makes each one cost a whole buffer, as the RFC noted.
 * Transmit, two ways:
 *   - copy: vq_vsocksk_send copies into the tx pool, in packets of at most
 *     tx_pkt bytes;
 *   - zero-copy: vq_vsocksk_send_zc puts the application's own pages
 *     (from vq_vsockdrv_alloc) into the descriptors after a header slot,
 *     in packets of at most tx_pkt bytes as copy sends;
 *     vq_vsockdrv_zc_done reports the cookie of each send whose pages the
 *     device has finished with (then they may be reused).
 * Both respect the peer's credit: they queue what the credit allows and
 * return the byte count (partial sends are normal), or -EAGAIN.
 *
 * TRANSPORT_RESET (the device lost its state: it was reset, or a driver
 * reconnected to it): every socket is reset as the spec says (recv and
 * send return -ECONNRESET, vq_vsocksk_is_connected is false), the guest
 * cid is read again from the config space, listeners stay, and a connect
 * in progress goes on (the device sends the event before any packet of its
 * new state, and the driver reads the event queue before acting on an rx
 * packet, so that REQUEST reached the new state).
 *
 * Events: vq_vsockdrv_fd is an epoll fd, readable when the device used
 * buffers (the queues' call eventfds); then call vq_vsockdrv_poll.
 * vq_vsockdrv_wait does both with a timeout.
 *
 * The device is untrusted: a packet for a socket that does not exist gets
 * RST, a packet that breaks the rules (wrong cid, payload longer than the
 * buffer, data beyond the credit this side gave) resets its socket, and
 * ring violations break the queue (every call then fails with -EIO).
 *
 * Threading: one thread owns a driver and its sockets.  Errors: -errno.
 */
#ifndef VIRTQ_VSOCK_DRV_H
#define VIRTQ_VSOCK_DRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <virtq/vsock.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vq_vsockdrv;
struct vq_vsocksk;

/*
 * An in-process transport, instead of vhost-user (tests, a device model in
 * the same process): the caller built the rings, runs the device and
 * passes its notifications on.  Driver addresses are virtual addresses.
 */
struct vq_vsockdrv_local {
	void *mem;               /* the driver's buffers are carved from it; the */
	size_t mem_size;         /* device must reach all of it (vq_vsockdrv_mem_size) */
	struct vq_drv *queues[3];/* rx, tx, event rings, started, negotiated with
				  * vq_vsockdrv_params.features */
	uint64_t cid;            /* the device's guest_cid (its config) */
	void (*kick)(void *ctx, unsigned idx); /* notify queue idx */
	/* Called where the driver would sleep in poll(2) on the call fds
	 * (connect, vq_vsockdrv_wait): let the device run. */
	void (*wait)(void *ctx, int timeout_ms);
	void *ctx;
};

struct vq_vsockdrv_params {
	const char *path;        /* vhost-user socket of the device */
	const struct vq_vsockdrv_local *local; /* instead of path (copied) */
	uint64_t features;       /* wanted: VQ_VSOCK_F_SEQPACKET, VQ_F_PACKED,
				  * VQ_F_EVENT_IDX, VQ_F_INDIRECT (VERSION_1 is
				  * added); 0 = all but PACKED.  Over vhost-user
				  * the driver posts direct descriptors only */
	uint32_t queue_size;     /* entries per queue; 0 = 1024 */
	unsigned rx_bufs;        /* rx buffers posted (2 descriptors each);
				  * 0 or more than queue_size / 2 = queue_size / 2 */
	unsigned rx_buf_pages;   /* 4 KiB pages per rx buffer; 0 = 1 */
	unsigned tx_bufs;        /* copy-send buffers; 0 = 64 */
	uint32_t tx_pkt;         /* payload bytes per copy-send packet; 0 = 64 KiB */
	uint32_t buf_alloc;      /* receive credit per socket; 0 = half the rx pool */
	size_t zc_mem;           /* arena bytes for vq_vsockdrv_alloc; 0 = 16 MiB */
	/* > 0: when the device goes away (the backend exits or restarts),
	 * every socket is reset (-ECONNRESET; the device forgot them) and
	 * vq_vsockdrv_poll reconnects, trying every reconnect_ms; listeners
	 * stay.  0: the driver stays broken (-EIO). */
	int reconnect_ms;
};

struct vq_vsockdrv_stats {
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
	uint64_t rx_reposted;        /* rx buffers given back to the ring */
	uint64_t credit_updates;     /* CREDIT_UPDATE packets sent */
	uint64_t kicks, calls;       /* notifications sent / received */
	uint64_t zc_handed, zc_released; /* rx buffers lent / returned */
	uint64_t bad_pkts, resets;
	uint64_t reconnects;         /* the device came back (reconnect_ms,
				      * vq_vsockdrv_reconnect) */
	uint64_t transport_resets;   /* TRANSPORT_RESET events from the device */
};

/* Connect to the device and start its queues (or take p->local's); rx
 * buffers are posted.  Returns 0 and *out; -errno from vq_fe_new /
 * vq_fe_connect; -EINVAL (local: a missing queue or callback, a bad cid);
 * -ENOMEM (local: mem too small). */
int vq_vsockdrv_new(const struct vq_vsockdrv_params *p, struct vq_vsockdrv **out);
/* Bytes of shared memory the driver needs with these params (defaults
 * applied): a local transport's mem_size at least. */
size_t vq_vsockdrv_mem_size(const struct vq_vsockdrv_params *p);
/* Close every socket (RST), disconnect, free.  NULL is a no-op. */
void vq_vsockdrv_free(struct vq_vsockdrv *d);

uint64_t vq_vsockdrv_cid(const struct vq_vsockdrv *d); /* from the config */
uint64_t vq_vsockdrv_features(const struct vq_vsockdrv *d); /* negotiated */
const char *vq_vsockdrv_error(const struct vq_vsockdrv *d); /* last failure */
void vq_vsockdrv_get_stats(const struct vq_vsockdrv *d, struct vq_vsockdrv_stats *s);

/* Poll fd (epoll over the call eventfds), readable when there is work;
 * -1 with a local transport. */
int vq_vsockdrv_fd(const struct vq_vsockdrv *d);
/* Process used buffers, deliver packets to sockets, send owed control
 * packets; with reconnect_ms, notice a device gone and reconnect.  Returns
 * the units of work done (0 while the device is away), or -EIO (a queue
 * broke, or the device went away without reconnect_ms). */
int vq_vsockdrv_poll(struct vq_vsockdrv *d);
/* poll(2) on the fd up to timeout_ms, then vq_vsockdrv_poll. */
int vq_vsockdrv_wait(struct vq_vsockdrv *d, int timeout_ms);
/*
 * Drop the connection to the device and connect again now, as a guest
 * resets its device: every socket is reset (-ECONNRESET), listeners stay.
 * A device that kept its state across (the same daemon) then sends
 * TRANSPORT_RESET (stats.transport_resets).  Returns 0; -EAGAIN (the device
 * is not back yet: vq_vsockdrv_poll keeps trying every reconnect_ms); -EIO
 * (it did not come back and reconnect_ms is 0: broken); -EOPNOTSUPP (local
 * transport).
 */
int vq_vsockdrv_reconnect(struct vq_vsockdrv *d);

/* Shared memory for zero-copy sends (page-aligned when size is a multiple
 * of 4096).  NULL when the arena is exhausted.  Lives as long as d. */
void *vq_vsockdrv_alloc(struct vq_vsockdrv *d, size_t size);

/* ---- sockets (peer: the host, cid 2) */

/* Connect to host port; waits up to timeout_ms for RESPONSE.  type:
 * VIRTIO_VSOCK_TYPE_STREAM or _SEQPACKET (needs the feature).  Returns 0 and
 * *out; -ECONNREFUSED (RST), -ETIMEDOUT, -EOPNOTSUPP, -ENOMEM, -EIO. */
int vq_vsocksk_connect(struct vq_vsockdrv *d, uint32_t port, uint16_t type,
		       int timeout_ms, struct vq_vsocksk **out);
/* Accept connections to port (both types).  0, -EADDRINUSE, -ENOMEM. */
int vq_vsockdrv_listen(struct vq_vsockdrv *d, uint32_t port);
/* An accepted connection on a listened port: 0 and *out, -EAGAIN (none yet),
 * -ENOENT (not listening). */
int vq_vsockdrv_accept(struct vq_vsockdrv *d, uint32_t port, struct vq_vsocksk **out);

/* Queue up to len bytes (copy); eom ends a SEQPACKET message (the whole
 * message must then fit the credit: -EAGAIN otherwise, -EMSGSIZE when it
 * exceeds the peer's buffer).  Returns bytes queued, -EAGAIN (no credit or
 * no tx buffer), -EPIPE (shut down for sending), -ECONNRESET. */
ssize_t vq_vsocksk_send(struct vq_vsocksk *s, const void *buf, size_t len, bool eom);
/*
 * Zero-copy send of len bytes in iov (memory from vq_vsockdrv_alloc).
 * Queues what the credit allows (a prefix; packets of at most the credit)
 * and returns its length; the cookie is reported by vq_vsockdrv_zc_done
 * once the device is done with every packet of this call.  -EAGAIN, -EPIPE,
 * -ECONNRESET.  The memory must come from vq_vsockdrv_alloc: the device
 * cannot reach anything else and would break the queue.
 */
ssize_t vq_vsocksk_send_zc(struct vq_vsocksk *s, const struct iovec *iov, unsigned n,
			   size_t len, uint64_t cookie);
/* Cookies of finished zero-copy sends, up to max: the count (0 = none). */
unsigned vq_vsockdrv_zc_done(struct vq_vsockdrv *d, uint64_t *cookies, unsigned max);

/* Copy up to len received bytes.  SEQPACKET: up to the end of one
 * message, *eom set when it ended; a message longer than len is truncated
 * (its rest is dropped, also the part still to come) and *eom is set;
 * *eom false: only part of the message has arrived, the next recv goes on.
 * Returns bytes, 0 at EOF (peer shut down sending), -EAGAIN, -ECONNRESET. */
ssize_t vq_vsocksk_recv(struct vq_vsocksk *s, void *buf, size_t len, bool *eom);

/* The header page of a zero-copy receive: one entry per rx buffer lent. */
struct vq_vsock_zc_hdr {
	uint32_t length; /* payload bytes in this buffer; 0 ends the page */
	uint32_t flags;  /* VIRTIO_VSOCK_SEQ_EOM / _EOR (SEQPACKET) */
};

struct vq_vsock_zc {
	const struct vq_vsock_zc_hdr *hdr; /* the header page (4096 bytes) */
	void *const *data;                 /* data[i]: payload of buffer i */
	unsigned n;                        /* buffers lent */
	size_t bytes;                      /* their payload, in all */
};

/*
 * Lend received buffers: as many as fit in max_pages pages (at least one
 * when any is queued; at most 511).  The previous lending must have been
 * released (-EBUSY).  Returns n (> 0), 0 at EOF, -EAGAIN, -ECONNRESET.
 */
int vq_vsocksk_recv_zc(struct vq_vsocksk *s, unsigned max_pages, struct vq_vsock_zc *zc);
/* Give the lent buffers back: they return to the ring and their bytes to
 * fwd_cnt; as after recv, the next vq_vsockdrv_poll (or wait) notifies the
 * device and sends a CREDIT_UPDATE when the peer's view ran low. */
int vq_vsocksk_release_zc(struct vq_vsocksk *s, struct vq_vsock_zc *zc);

/* Bytes the socket can take now (the peer's credit). */
uint32_t vq_vsocksk_send_room(const struct vq_vsocksk *s);
/* Bytes received and not yet read. */
size_t vq_vsocksk_recv_avail(const struct vq_vsocksk *s);
bool vq_vsocksk_is_connected(const struct vq_vsocksk *s);
/* The device is there (false while a reconnect_ms driver waits for it). */
bool vq_vsockdrv_is_up(const struct vq_vsockdrv *d);
uint32_t vq_vsocksk_local_port(const struct vq_vsocksk *s);

/* SHUTDOWN: how = VIRTIO_VSOCK_SHUTDOWN_RCV and/or _SEND.  0, -ENOTCONN. */
int vq_vsocksk_shutdown(struct vq_vsocksk *s, uint32_t how);
/* Close: SHUTDOWN both ways (the peer answers RST) and free the socket;
 * lent zero-copy buffers return to the ring. */
void vq_vsocksk_close(struct vq_vsocksk *s);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_VSOCK_DRV_H */
