/* SPDX-License-Identifier: MIT */
/*
 * virtq virtio-vsock device model (VIRTIO 1.2, "Socket Device"), with the
 * host side of vhost-device-vsock and Firecracker: the hybrid Unix-socket
 * protocol.
 *
 * Queues: 0 rx (device -> driver packets), 1 tx (driver -> device packets),
 * 2 event (TRANSPORT_RESET).  QEMU's vhost-user-vsock keeps the event queue
 * to itself and hands the backend only queues 0 and 1; the model works
 * without queue 2.
 *
 * Host side, for a daemon given uds_path U:
 *   - guest -> host: a REQUEST to host port P connects to the Unix socket
 *     "U_P" (SOCK_STREAM for a STREAM connection, SOCK_SEQPACKET for a
 *     SEQPACKET one, so that message boundaries survive).  Nobody there:
 *     the guest gets RST.
 *   - host -> guest: a host program connects to U (SOCK_STREAM), writes
 *     "CONNECT <port>\n" and, once the guest accepted, reads
 *     "OK <host-port>\n"; then the stream carries the connection.  A guest
 *     that refuses (RST) closes the host socket without an answer.
 *   - host -> guest SEQPACKET: the same on "U_seqpacket" (SOCK_SEQPACKET;
 *     VQ_VSOCK_SEQ_SUFFIX), the CONNECT line and the OK line one record
 *     each, then one record per message.  Closed without an answer when the
 *     driver did not negotiate VIRTIO_VSOCK_F_SEQPACKET.
 *
 * The guest is untrusted:
 *   - Credit (buf_alloc, fwd_cnt, spec 5.10.6.3): the model advertises
 *     buf_alloc bytes per connection and buffers at most that many bytes
 *     the host peer has not taken yet.  A packet beyond the credit it was
 *     given resets the connection (RST to the guest, the host socket
 *     closed) with one log line.  Guest -> host data goes straight from the
 *     guest's buffer to the host socket; only what the socket refuses is
 *     copied (at most buf_alloc bytes per connection).
 *   - Control replies (RESPONSE, RST, CREDIT_UPDATE...) are per-connection
 *     flags plus a bounded queue of RSTs for unknown connections; when that
 *     queue is full the model stops reading the tx queue until the guest
 *     gives rx buffers (back-pressure, as vhost-vsock does).
 *   - A header that cannot be parsed (chain shorter than a header, a
 *     payload longer than the chain, a wrong cid, type or op) gets RST
 *     when it names a connection, or is dropped, with one log line
 *     (later lines are counted, not printed).  A ring violation breaks
 *     the queue (struct vq_device_host.queue_broken).  Nothing crashes.
 *   - At most max_conns connections; a REQUEST beyond gets RST.
 *
 * SEQPACKET: a message is a run of RW packets ending with EOM (EOR has no
 * equivalent inside an AF_UNIX record and is not carried).  Guest ->
 * host, the model gathers the message and sends it as one record; host ->
 * guest, one record becomes packets, the last with EOM.  A message is at
 * most buf_alloc bytes (the guest's own limit: Linux refuses larger ones).
 *
 * SHUTDOWN: guest SEND -> shutdown(SHUT_WR) on the host socket once the
 * buffered data went out; guest SEND|RCV -> the host socket is closed and
 * the guest gets RST (Linux waits for it).  Host EOF -> SHUTDOWN(SEND) to
 * the guest; a host socket error -> RST.
 *
 * Reconnect: reset() (a frontend that disconnects, RESET_DEVICE) closes
 * every connection and its host socket; when queues start again after a
 * reset, a TRANSPORT_RESET event goes out on the event queue (when the
 * transport has one), telling the driver its connections are gone.  It
 * goes before anything else of the new session: rx and tx wait until the
 * driver posted an event buffer and the event is published, so a driver
 * that reads its event queue before acting on an rx packet never takes
 * the event for a reset of a connection it opened after it.
 *
 * Threading: single-threaded.  Every op and vq_vsock_process run on the
 * transport's control thread; the model polls its host sockets through
 * one epoll fd (vq_vsock_fd) the owner adds to its loop.
 */
#ifndef VIRTQ_VSOCK_H
#define VIRTQ_VSOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_vsock.h>
#include <virtq/device.h>
#include <virtq/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VQ_VSOCK_RX    0u
#define VQ_VSOCK_TX    1u
#define VQ_VSOCK_EVENT 2u
#define VQ_VSOCK_NUM_QUEUES 3u

#define VQ_VSOCK_HOST_CID 2u               /* VMADDR_CID_HOST */
#define VQ_VSOCK_HDR_LEN  44u              /* sizeof(struct virtio_vsock_hdr) */
#define VQ_VSOCK_DEFAULT_BUF_ALLOC (256u << 10)
#define VQ_VSOCK_MAX_BUF_ALLOC (64u << 20)
#define VQ_VSOCK_DEFAULT_MAX_CONNS 1024u
#define VQ_VSOCK_F_SEQPACKET (1ull << VIRTIO_VSOCK_F_SEQPACKET)
#define VQ_VSOCK_SEQ_SUFFIX "_seqpacket" /* host -> guest SEQPACKET listener */

/* Device features the model offers. */
#define VQ_VSOCK_FEATURES_ALL (VQ_VSOCK_F_SEQPACKET | VQ_F_VERSION_1 | \
			       VQ_F_INDIRECT | VQ_F_EVENT_IDX | VQ_F_PACKED)

/* A packet header in host byte order. */
struct vq_vsock_pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

/*
 * Parse the header at the start of a tx chain's readable part (iov, niov
 * segments, out_len bytes in all) and check it against the device's
 * rules: guest_cid as source, the host as destination, a known type (with
 * SEQPACKET only when seqpacket is true) and op, RW flags only on RW
 * packets, and a payload that fits the chain (len <= out_len - header).
 * Pure: no state, no allocation.
 * Returns 0 and *pkt; -EMSGSIZE when the chain is shorter than a header
 * (*pkt untouched); -EBADMSG for a header that breaks a rule (*pkt holds
 * it, so the caller can answer with RST).  *why (optional) names the rule.
 */
int vq_vsock_parse(const struct iovec *iov, unsigned niov, uint64_t out_len,
		   uint64_t guest_cid, bool seqpacket, struct vq_vsock_pkt *pkt,
		   const char **why);

/* Encode pkt into the 44 wire bytes of struct virtio_vsock_hdr. */
void vq_vsock_hdr_encode(const struct vq_vsock_pkt *pkt, struct virtio_vsock_hdr *out);
/* Decode 44 wire bytes into pkt (no checks). */
void vq_vsock_hdr_decode(const struct virtio_vsock_hdr *in, struct vq_vsock_pkt *pkt);

struct vq_vsock_params {
	uint64_t guest_cid;   /* the guest's cid, >= 3 */
	const char *uds_path; /* host side (see above); NULL: no host side,
			       * every guest REQUEST gets RST */
	uint32_t buf_alloc;   /* per-connection credit offered to the guest;
			       * 0 = VQ_VSOCK_DEFAULT_BUF_ALLOC */
	unsigned max_conns;   /* 0 = VQ_VSOCK_DEFAULT_MAX_CONNS */
	/* One line per driver fault or local failure, without newline;
	 * NULL = stderr with a "virtq-vsock: " prefix. */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
};

struct vq_vsock_stats {
	uint64_t tx_pkts, rx_pkts;       /* packets from / to the driver */
	uint64_t tx_bytes, rx_bytes;     /* payload bytes from / to the driver */
	uint64_t conns_opened, conns_closed;
	uint64_t rst_sent, bad_hdr, credit_violations;
	uint64_t events;                 /* TRANSPORT_RESET events delivered */
	unsigned conns;                  /* open now */
};

struct vq_vsock;

/*
 * Create a device: the host listeners at uds_path and uds_path
 * VQ_VSOCK_SEQ_SUFFIX are bound and listening on return (existing socket
 * files there are replaced).  Returns 0 and
 * *out; -EINVAL (cid < 3, buf_alloc > VQ_VSOCK_MAX_BUF_ALLOC, a path that
 * does not fit sockaddr_un with "_<port>" added); -errno from the socket
 * calls; -ENOMEM.
 */
int vq_vsock_new(const struct vq_vsock_params *p, struct vq_vsock **out);
/* Close every connection and the listener (unlinking its file).  NULL ok. */
void vq_vsock_free(struct vq_vsock *v);

/* The ops table (device_id VIRTIO_ID_VSOCK) and a device to serve. */
extern const struct vq_device_ops vq_vsock_ops;
void vq_vsock_device(struct vq_vsock *v, struct vq_device *out);

/* An epoll fd, readable when a host socket needs attention: call
 * vq_vsock_process. */
int vq_vsock_fd(const struct vq_vsock *v);

/*
 * Do the work that is due: host socket events, the tx queue, then rx and
 * event buffers; flush and notify.  Returns the units of work done (call
 * again while > 0 for fairness with other fds), or -errno for a local
 * failure.  Driver violations are handled inside.
 */
int vq_vsock_process(struct vq_vsock *v);

void vq_vsock_get_stats(const struct vq_vsock *v, struct vq_vsock_stats *s);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_VSOCK_H */
