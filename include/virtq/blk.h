/* SPDX-License-Identifier: MIT */
/*
 * virtq virtio-blk device model (VIRTIO 1.2, "Block Device"), backed by a
 * file or a block device.
 *
 * The device knows nothing of vhost-user or sockets.  Its owner (the
 * `virtq-blk` daemon, a test, a fuzz target) creates the struct vq_dev of
 * each request queue, attaches it with vq_blk_set_queue, and calls
 * vq_blk_queue_poll from the thread that owns that queue whenever the queue
 * was kicked or its completion fd (vq_blk_queue_fd) became readable.
 *
 * Requests: IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES (with the UNMAP
 * flag).  Every request is parsed by vq_blk_parse (pure: header and chain
 * layout in, a validated request out).  A malformed request completes with
 * VIRTIO_BLK_S_IOERR (or VIRTIO_BLK_S_UNSUPP for a type or flag the device
 * does not implement or the driver did not negotiate) when it has a
 * writable status byte; without one the chain is returned with used length
 * 0 and counted in vq_blk_stats.dropped.  Data never moves outside the
 * request's own buffers or the exposed sectors of the backing store.
 *
 * ---- I/O engines: io_uring, or a thread pool ----------------------------
 * `engine` picks how requests reach the backing store:
 *   VQ_BLK_ENGINE_URING: one io_uring per queue (liburing).  Reads and
 *     writes are readv/writev, FLUSH is fsync(DATASYNC); the queue thread
 *     prepares one entry per request and submits the whole batch once per
 *     vq_blk_queue_poll; short transfers are resubmitted for the rest.  The
 *     file descriptors are registered with the ring.  Guest buffers are not
 *     registered: they belong to the driver's memory map, which the driver
 *     may replace at any time, and a fixed read takes one buffer where a
 *     request has several.  DISCARD, WRITE_ZEROES and O_DIRECT requests that
 *     need bounce buffers go to the `iothreads` pool (inline when 0).
 *     Completions signal the queue's eventfd (vq_blk_queue_fd) as well.
 *   VQ_BLK_ENGINE_THREADS: preadv/pwritev, fdatasync, and fallocate
 *     (PUNCH_HOLE|KEEP_SIZE for DISCARD, ZERO_RANGE or PUNCH_HOLE with UNMAP
 *     for WRITE_ZEROES, falling back to writing zeros) on a pool of
 *     `iothreads` threads shared by all queues.  It works on any kernel
 *     (io_uring is often disabled in containers: the io_uring_disabled
 *     sysctl, seccomp).
 *   VQ_BLK_ENGINE_AUTO (0): io_uring when virtq was built with liburing,
 *     the kernel lets us create a ring, iothreads > 0 and io_hook is NULL;
 *     the thread pool otherwise.  vq_blk_get_engine says which one runs.
 * With iothreads == 0 and the threads engine, requests execute
 * synchronously inside vq_blk_queue_poll (handy for fuzzing and simple
 * tests).
 *
 * ---- Completions and threading -----------------------------------------
 * The ring stays single-threaded on the device side: only the thread that
 * calls vq_blk_queue_poll for queue i touches queue i's vq_dev.  I/O threads
 * post finished requests to queue i's lock-free completion list and signal
 * its eventfd (vq_blk_queue_fd); the queue thread then pushes them (used
 * ring), flushes once and notifies once per poll.  A request is completed
 * (status written, used entry pushed) only after its system call returned:
 * a write is acknowledged only once pwritev wrote all of it to the file,
 * and a FLUSH only once fdatasync made every previously completed write
 * durable.  If the driver did not negotiate FLUSH although it was offered,
 * writes are done with RWF_DSYNC (spec: writes are then stable on
 * completion).
 *
 * Used length: the number of writable bytes of the chain (in_len) when the
 * status byte was written (QEMU's convention; the status is the last byte),
 * 0 when the request was dropped.
 *
 * Features, config and queue attachment belong to the owner's control
 * thread and may change only while no queue thread runs.
 *
 * ---- O_DIRECT ----------------------------------------------------------
 * With `direct`, the file is opened O_DIRECT.  Guest buffers whose address
 * or length is not a multiple of the memory alignment the file system
 * requires (statx STATX_DIOALIGN; 4096 when unknown) go through aligned
 * bounce buffers.  Requests whose offset or length is not a multiple of the
 * file's direct-I/O block go through a second, buffered descriptor (the
 * kernel keeps the page cache coherent with direct I/O).  blk_size defaults
 * to that block, so a well-behaved guest never needs the fallback.
 *
 * Byte order: config and request fields are little-endian (modern virtio);
 * virtq targets little-endian hosts.
 */
#ifndef VIRTQ_BLK_H
#define VIRTQ_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <virtq/blk_defs.h>
#include <virtq/device.h>
#include <virtq/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VQ_BLK_MAX_SEGS     256u    /* most discard / write-zeroes ranges per request */
#define VQ_BLK_MAX_IOTHREADS 256u

/* Device features the model implements. */
#define VQ_BLK_FEATURES_ALL                                                    \
	(VQ_BLK_F(VIRTIO_BLK_F_SIZE_MAX) | VQ_BLK_F(VIRTIO_BLK_F_SEG_MAX) |   \
	 VQ_BLK_F(VIRTIO_BLK_F_RO) | VQ_BLK_F(VIRTIO_BLK_F_BLK_SIZE) |        \
	 VQ_BLK_F(VIRTIO_BLK_F_FLUSH) | VQ_BLK_F(VIRTIO_BLK_F_MQ) |           \
	 VQ_BLK_F(VIRTIO_BLK_F_DISCARD) | VQ_BLK_F(VIRTIO_BLK_F_WRITE_ZEROES) | \
	 VQ_F_VERSION_1 | VQ_F_INDIRECT | VQ_F_EVENT_IDX | VQ_F_PACKED)
/* Not VQ_F_IN_ORDER: requests complete out of order. */


/*
 * Where the data lives and how it is exposed.  Zero values take defaults.
 */
enum vq_blk_engine {
	VQ_BLK_ENGINE_AUTO = 0, /* io_uring when available, else threads */
	VQ_BLK_ENGINE_THREADS,  /* the thread pool (or synchronous) */
	VQ_BLK_ENGINE_URING,    /* io_uring; vq_blk_new fails when unavailable */
};

struct vq_blk_params {
	const char *path;        /* file or block device; opened by vq_blk_new */
	int fd;                  /* or an open descriptor (path NULL, fd >= 0):
				  * not owned, must stay open; its O_DIRECT flag
				  * is set or cleared to match `direct` */
	bool readonly;           /* open O_RDONLY, offer VIRTIO_BLK_F_RO */
	bool direct;             /* O_DIRECT (see above) */
	uint32_t direct_align;   /* with direct: force this memory and offset
				  * alignment (power of two 512..65536) when
				  * larger than what the file system reports;
				  * 0 = as reported */
	unsigned num_queues;     /* 1..VQ_BLK_MAX_QUEUES; 0 = 1; MQ offered when > 1 */
	unsigned iothreads;      /* 0..VQ_BLK_MAX_IOTHREADS; 0 = synchronous */
	enum vq_blk_engine engine; /* see "I/O engines" above; 0 = AUTO */
	uint32_t blk_size;       /* power of two 512..65536; 0 = 512 (buffered)
				  * or the direct-I/O block (direct) */
	uint32_t seg_max;        /* 0 = 126 */
	uint32_t size_max;       /* 0 = 1 MiB */
	uint32_t max_discard_sectors;      /* 0 = 0x3fffff (2 GiB - 512) */
	uint32_t max_discard_seg;          /* 1..VQ_BLK_MAX_SEGS; 0 = 32 */
	uint32_t discard_sector_alignment; /* 0 = blk_size / 512 */
	uint32_t max_write_zeroes_sectors; /* 0 = 0x3fffff */
	uint32_t max_write_zeroes_seg;     /* 1..VQ_BLK_MAX_SEGS; 0 = 32 */
	const char *serial;      /* GET_ID answer, at most 20 bytes used; NULL = "" */
	uint64_t features;       /* to offer; 0 = VQ_BLK_FEATURES_ALL (RO only with
				  * readonly, MQ only with num_queues > 1) */
	/* Called on the queue thread after a flush when the driver wants a
	 * used-buffer notification for queue q.  NULL: nobody is told. */
	void (*notify)(void *opaque, unsigned q);
	void *opaque;
	/* Test/trace hook, NULL normally: called on the I/O thread right
	 * before (after == false) and after (after == true) the system call
	 * of every request that reaches the backing store (with the io_uring
	 * engine: only of those the pool executes). */
	void (*io_hook)(void *opaque, unsigned q, uint32_t type, uint64_t offset,
			uint64_t len, bool after);
};

struct vq_blk;

/*
 * Open the backing store, size it, start the I/O threads.  Returns 0 and
 * *out; -EINVAL for bad params, a store smaller than one sector or one that
 * is neither a regular file nor a block device (and from open when the file
 * system refuses O_DIRECT); -errno from open/stat; -ENOMEM; with engine
 * VQ_BLK_ENGINE_URING, -EOPNOTSUPP when virtq was built without liburing
 * and -errno from io_uring_queue_init when the kernel refuses a ring.
 */
int vq_blk_new(const struct vq_blk_params *p, struct vq_blk **out);

/* The engine that runs (never VQ_BLK_ENGINE_AUTO). */
enum vq_blk_engine vq_blk_get_engine(const struct vq_blk *b);
/* "auto", "threads", "io_uring".  Static storage. */
const char *vq_blk_engine_name(enum vq_blk_engine e);
/* Stop the I/O threads (waiting for in-flight I/O), close what we opened.
 * Queues are detached, not freed: the owner owns its vq_devs.  NULL ok. */
void vq_blk_free(struct vq_blk *b);

/* ---- features and config */

uint64_t vq_blk_host_features(const struct vq_blk *b); /* offered */
/* Accept the driver's features; -EINVAL when not a subset of the offer. */
int vq_blk_set_features(struct vq_blk *b, uint64_t features);
uint64_t vq_blk_features(const struct vq_blk *b);      /* negotiated */
/* Read len bytes of struct vq_blk_config at off; -EINVAL out of bounds. */
int vq_blk_get_config(const struct vq_blk *b, uint32_t off, void *buf, uint32_t len);
uint64_t vq_blk_capacity(const struct vq_blk *b);       /* sectors */
unsigned vq_blk_num_queues(const struct vq_blk *b);

/* ---- queues */

/*
 * Attach (q != NULL) or detach (q == NULL) the ring of request queue i.
 * Detaching first drains the queue (vq_blk_queue_drain), so call it from
 * the thread that owns the queue, or after that thread stopped.  Returns
 * 0, -EINVAL (bad index).
 */
int vq_blk_set_queue(struct vq_blk *b, unsigned i, struct vq_dev *q);

/* Completion eventfd of queue i: readable when finished I/O waits to be
 * pushed by vq_blk_queue_poll.  -EINVAL for a bad index.  Owned by b. */
int vq_blk_queue_fd(const struct vq_blk *b, unsigned i);

/*
 * Work queue i: push finished requests, then pop and start up to budget
 * new ones (0 = only push), then one flush and one notify decision.
 * Returns the number of requests popped (so budget means "maybe more
 * available"), or -ENOTCONN (no ring attached), -EIO (the ring is broken:
 * see vq_dev_violation; in-flight requests still finish and are recycled).
 */
int vq_blk_queue_poll(struct vq_blk *b, unsigned i, unsigned budget);

/*
 * Wait until every request of queue i that was started has finished and
 * was pushed (then flush and notify).  Pops nothing new.  The quiesce step
 * of a vhost-user queue_stop.  Returns 0, -EINVAL.
 */
int vq_blk_queue_drain(struct vq_blk *b, unsigned i);

/* Requests of queue i popped and not yet pushed. */
unsigned vq_blk_queue_inflight(const struct vq_blk *b, unsigned i);

/* Back to features 0, queues detached (they must be drained already). */
void vq_blk_reset(struct vq_blk *b);

/* ---- pure request parsing */

/* What vq_blk_parse checks a request against. */
struct vq_blk_limits {
	uint64_t capacity;       /* sectors */
	uint64_t features;       /* negotiated */
	bool readonly;           /* RO offered: writes, discards fail (IOERR) */
	uint32_t max_discard_sectors, max_discard_seg;
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
};

/* One DISCARD / WRITE_ZEROES range, copied out of guest memory. */
struct vq_blk_range {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

struct vq_blk_req {
	uint32_t type;           /* VIRTIO_BLK_T_* as the driver sent it */
	uint8_t status;          /* VIRTIO_BLK_S_OK, _IOERR or _UNSUPP */
	uint8_t *status_ptr;     /* host address of the status byte; NULL: none */
	uint32_t used_len;       /* to push when the status is written (in_len) */
	uint64_t sector;
	uint64_t offset;         /* sector * 512, IN/OUT */
	uint64_t len;            /* data bytes: IN, OUT, GET_ID */
	unsigned data_idx;       /* first data segment in iov */
	size_t data_off;         /* offset of the data in that segment */
	unsigned nranges;        /* DISCARD / WRITE_ZEROES ranges copied */
	const char *why;         /* reason of a failure, for logs and tests */
};

/*
 * Parse a request: iov holds out_num device-readable segments (the header
 * and, for OUT / DISCARD / WRITE_ZEROES, the data) then in_num writable ones
 * (data of IN / GET_ID, then the status byte, the chain's last byte).  The
 * header and the ranges are copied (the guest may change them meanwhile);
 * ranges are validated and stored in ranges[0..max_ranges).
 *
 * Returns 0 (out->status OK: execute), 1 (out->status IOERR / UNSUPP and
 * out->why: complete with that status), -EBADMSG (no writable status byte:
 * return the chain with length 0), -EINVAL (NULL arguments).  Total bytes
 * are overflow-checked; nothing is written anywhere but *out and ranges.
 */
int vq_blk_parse(const struct vq_blk_limits *lim, const struct iovec *iov,
		 unsigned out_num, unsigned in_num, struct vq_blk_range *ranges,
		 unsigned max_ranges, struct vq_blk_req *out);

/* ---- statistics */

struct vq_blk_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
	uint64_t read_bytes, write_bytes;
	uint64_t ioerr;    /* completed with IOERR (bad request or failed I/O) */
	uint64_t unsupp;   /* completed with UNSUPP */
	uint64_t dropped;  /* no status byte: returned with length 0 */
	uint64_t io_failed; /* of ioerr: the system call failed (e.g. ENOSPC) */
};

/* Counters of queue i (written by its queue thread; any thread may read
 * them, each counter is atomic).  Returns 0, -EINVAL. */
int vq_blk_get_stats(const struct vq_blk *b, unsigned i, struct vq_blk_stats *out);

/* ---- the model as an ops table (<virtq/device.h>)
 *
 * For a transport such as vq_vu_serve() (<virtq/vhost_user.h>): features,
 * config space (struct vq_blk_config, read-only), queue start
 * (vq_blk_set_queue) and stop (vq_blk_set_queue NULL, which drains: call
 * it only once no thread of the owner touches the queue), reset, and
 * serving: queue_poll is vq_blk_queue_poll; a kick polls until the ring
 * is empty with notifications on, on the calling thread (enough with
 * iothreads == 0; with I/O threads, completions also need a poll when
 * vq_blk_queue_fd is readable, so daemons give each queue a thread).  A
 * ring that breaks is reported to the host's queue_broken once per start.
 * attach replaces the params' notify with the host's (io_hook keeps opaque).
 */
const struct vq_device_ops *vq_blk_device_ops(void);
/* b as a struct vq_device: { vq_blk_device_ops(), b }. */
struct vq_device vq_blk_device(struct vq_blk *b);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_BLK_H */
