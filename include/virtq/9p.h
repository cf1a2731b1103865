/* SPDX-License-Identifier: MIT */
/*
 * virtq 9P2000.L file server: a device model for virtio-9p (device ID 9) and
 * the server behind `virtq-9p serve`, usable in-process with no socket.
 *
 * A struct vq_9p exports one directory.  Each client connection (a TCP
 * stream, a virtio-9p device, a test) gets a struct vq_9p_conn: its fids,
 * its negotiated msize and its I/O ring.  A transport hands each request to
 * vq_9p_conn_handle as the request's bytes (segments it reads) and the
 * response's segments (it writes), and gets back the response length.
 *
 * Zero copy: Twrite data goes from the request segments to the file, and
 * Rread data from the file into the response segments, with io_uring
 * (liburing) readv/writev on those segments, or preadv/pwritev when
 * io_uring is unavailable (built without liburing, or disabled by the
 * kernel).  Over virtio the segments are the driver's buffers.
 *
 * Confinement: every path is resolved from the export's root descriptor
 * with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
 * a fid is a path relative to the root, ".." is resolved by name and stops
 * at the root, a name with '/' or NUL is refused, and symlinks are never
 * followed by the server (a client reads them with Treadlink).  A directory
 * moved out of the export is no longer reachable through old fids.
 *
 * Untrusted input: every length is checked against the message, the
 * negotiated msize and the response segments.  A message whose framing is
 * wrong (size field not matching the bytes given, shorter than a header,
 * larger than msize) makes the connection broken (sticky): handle returns
 * -EPROTO and the transport closes it.  A well-framed but malformed
 * message gets Rlerror(EINVAL) (EPROTO for a NOTAG tag), an unknown fid
 * Rlerror(EBADF), an unsupported type Rlerror(EOPNOTSUPP).  Either case
 * logs one line (at most VQ_9P_LOG_BURST per connection, then a note that
 * further lines are suppressed).  Fids per connection are bounded
 * (max_fids; Rlerror(EMFILE) past it).
 *
 * Concurrency: vq_9p_conn_handle serves one request on the calling thread.
 * After vq_9p_conn_start, vq_9p_conn_submit hands requests to the
 * connection's workers instead, many tags in flight at once (bounded by
 * max_tags), each answered through a done callback; Tflush cuts its target
 * short (see vq_9p_conn_submit).  A connection is fed by one thread at a
 * time (handle or submit, not both); connections of one server run on any
 * threads.  Requests of all connections share a namespace lock: a rename on
 * one connection moves the fids of every connection below the old name.
 *
 * Credentials: a server running as root (and not told no_creds) serves each
 * request with its thread's fsuid/fsgid set (setfsuid/setfsgid) to the
 * uid its fid was attached with and that uid's primary group (a create uses
 * the gid in the message), and the thread's supplementary groups set to
 * that uid's groups (from the user database at its latest Tattach; a uid
 * the database does not know has its primary group only), so the kernel
 * checks permissions and sets owners.  Only the serving thread changes (the
 * setgroups system call, not glibc's process-wide setgroups()); it is root
 * with the server's groups again after each request.
 */
#ifndef VIRTQ_9P_H
#define VIRTQ_9P_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <virtq/device.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VQ_9P_MAX_MSIZE  (128u << 20) /* largest msize the server agrees to */
#define VQ_9P_MAX_FIDS   4096u        /* default fids per connection */
#define VQ_9P_MAX_TAG    255u         /* bytes of a mount tag */
#define VQ_9P_LOG_BURST  16u          /* log lines per connection */

struct vq_9p;
struct vq_9p_conn;

struct vq_9p_params {
	const char *export_dir; /* required: the directory served */
	const char *tag;        /* mount tag (virtio config); NULL = "virtq" */
	bool readonly;          /* every change is refused with EROFS */
	uint32_t max_msize;     /* 0 = VQ_9P_MAX_MSIZE; at least 4096 */
	uint32_t max_fids;      /* per connection; 0 = VQ_9P_MAX_FIDS */
	bool no_uring;          /* use preadv/pwritev even with io_uring */
	bool no_creds;          /* as root: serve everything as root */
	/* One line per event (no newline); NULL = stderr with a prefix. */
	void (*log)(void *opaque, const char *line);
	void *log_opaque;
};

/*
 * Open the export and create the server.  Returns 0 and *out; -EINVAL for
 * bad params (no export_dir, tag too long, max_msize < 4096), -ENOTDIR or
 * another -errno from opening export_dir, -ENOMEM.
 */
int vq_9p_new(const struct vq_9p_params *p, struct vq_9p **out);
/* Destroy the server; every connection must be freed first.  NULL is ok. */
void vq_9p_free(struct vq_9p *s);

/* A new connection (no fids, msize not negotiated).  0 or -ENOMEM. */
int vq_9p_conn_new(struct vq_9p *s, struct vq_9p_conn **out);
/* Close every fid and destroy the connection.  NULL is ok. */
void vq_9p_conn_free(struct vq_9p_conn *c);

/*
 * Serve one request.  req/req_n: the request's bytes (the whole message,
 * starting at its size field); resp/resp_n: where the response goes.
 * Returns the response length (> 0) written into resp, or:
 *   -EPROTO  the framing is broken (or the connection already was):
 *            nothing was answered; close the connection;
 *   -ENOBUFS resp cannot hold even an Rlerror (11 bytes).
 * A response never exceeds the negotiated msize or the resp segments: an
 * Rread or Rreaddir is cut to fit.
 */
int vq_9p_conn_handle(struct vq_9p_conn *c, const struct iovec *req, unsigned req_n,
		      const struct iovec *resp, unsigned resp_n);

/* ---- serving concurrently */

struct vq_9p_async_params {
	unsigned workers;  /* serving threads; 0 = 4, at most 64 */
	unsigned max_tags; /* requests in flight; 0 = 64, at most 1024 */
	/* A request's answer is in its resp segments: len bytes (> 0).  Called
	 * once per submitted request, from a worker or the submitting thread. */
	void (*done)(void *opaque, void *cookie, int len);
	void *opaque;
};

/*
 * Start workers for c.  0; -EINVAL (no done, limits, started twice),
 * -ENOMEM, or a pthread error.  vq_9p_conn_free flushes what is in flight
 * (done is still called for it) and stops them.
 */
int vq_9p_conn_start(struct vq_9p_conn *c, const struct vq_9p_async_params *p);

/*
 * Queue one request (as for vq_9p_conn_handle); req, resp and the memory
 * they describe stay the caller's until done(cookie) is called.  Waits
 * while max_tags requests are in flight.  Returns 0, or:
 *   -EPROTO  broken framing, or the tag is already in flight: the
 *            connection is broken (done is not called for this request);
 *   -ENOBUFS resp cannot hold an Rlerror;  -EINVAL not started.
 * Tversion and Tflush are answered before submit returns.  Tflush(oldtag)
 * cancels oldtag: a queued request is answered Rlerror(EINTR) at once, a
 * running one is signalled (SIGURG, given a handler unless the host has
 * one) so blocking I/O stops; its done returns before Rflush's done.
 */
int vq_9p_conn_submit(struct vq_9p_conn *c, const struct iovec *req, unsigned req_n,
		      const struct iovec *resp, unsigned resp_n, void *cookie);

/* Wait until every submitted request is done (nothing is cancelled). */
void vq_9p_conn_drain(struct vq_9p_conn *c);

/* Requests submitted and not yet done. */
unsigned vq_9p_conn_inflight(struct vq_9p_conn *c);

/* Largest message either side may send now: the negotiated msize, or
 * 8192 before Tversion. */
uint32_t vq_9p_conn_msize(const struct vq_9p_conn *c);

/* Did a framing error break the connection? */
bool vq_9p_conn_is_broken(const struct vq_9p_conn *c);

/* Fids open on the connection (for tests and statistics). */
unsigned vq_9p_conn_nfids(const struct vq_9p_conn *c);

/* The mount tag (never NULL). */
const char *vq_9p_tag(const struct vq_9p *s);

/* ---- the virtio-9p device model (device ID 9)
 *
 * A struct vq_device (<virtq/device.h>) for vq_vu_serve or an in-process
 * transport: one request queue, the mount tag in struct virtio_9p_config
 * (<linux/virtio_9p.h>), features VIRTIO_9P_MOUNT_TAG, VERSION_1,
 * INDIRECT_DESC, EVENT_IDX, RING_PACKED and, with large_chain, the
 * experimental VQ_F_LARGE_CHAIN with max_chain descriptors per chain (so a
 * 128 MiB request of 4 KiB pages, 32768 of them plus headers, fits one
 * chain).  Without it the ring enforces the spec's rule: a chain is at most
 * the queue size.  Each chain's readable part is one request and its
 * writable part the response, handed to vq_9p_conn_handle as they are.  A
 * request the session cannot answer (broken framing) is returned with used
 * length 0.  Kicks are served on the calling thread (queue_kick), or with
 * queue_poll by a thread of the owner's, or handed to workers (below).  A
 * device reset ends the session.
 */
struct vq_9p_dev;

struct vq_9p_dev_params {
	struct vq_9p *server; /* the export; outlives the device */
	bool large_chain;     /* offer VQ_F_LARGE_CHAIN */
	uint32_t max_chain;   /* with it; 0 = VQ_MAX_CHAIN */
	/* 0: a kick serves each chain on the kicking thread, in order.  N: the
	 * session's N workers serve up to 64 chains at once (vq_9p_conn_start),
	 * answering them as they finish (out of order); queue_stop waits for
	 * them. */
	unsigned workers;
};

extern const struct vq_device_ops vq_9p_device_ops;

/* 0 and *out; -EINVAL, -ENOMEM. */
int vq_9p_dev_new(const struct vq_9p_dev_params *p, struct vq_9p_dev **out);
/* Every queue must be stopped.  NULL is ok. */
void vq_9p_dev_free(struct vq_9p_dev *d);
/* The model as a struct vq_device (ops and object). */
struct vq_device vq_9p_dev_device(struct vq_9p_dev *d);
/* Requests answered, and returned unanswered (used length 0). */
void vq_9p_dev_stats(const struct vq_9p_dev *d, uint64_t *served, uint64_t *dropped);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_9P_H */
