/* SPDX-License-Identifier: MIT */
/* Internals of the virtio-blk device model.  Not installed. */
#ifndef VQ_BLK_INTERNAL_H
#define VQ_BLK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <virtq/blk.h>

#include "devices/device_host.h"
#include "devices/iov.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtq targets little-endian hosts (wire fields are used as-is)"
#endif

#define VQ__BLK_HDR       16u           /* struct virtio_blk_outhdr */
#define VQ__BLK_RANGE     16u           /* struct virtio_blk_discard_write_zeroes */
#define VQ__BLK_IOV0      64u           /* initial iovecs per request */
#define VQ__BLK_IOV_MAX   (VQ_MAX_CHAIN + 1u) /* most iovecs one request grows to */
/* Direct-I/O alignment (memory and offset) when statx cannot tell. */
#define VQ__BLK_DIO_ALIGN 4096u
#define VQ__BLK_BOUNCE    (1u << 20)    /* O_DIRECT bounce chunk */
#define VQ__BLK_ZERO_BUF  (1u << 20)    /* zero-writing chunk */
#define VQ__BLK_HAS(f, bit) (((f) & VQ_BLK_F(bit)) != 0)

struct vq__blk_queue;

/* One request in flight: popped, maybe executing on an I/O thread. */
struct vq__blk_io {
	struct vq__blk_io *next;      /* free list / submission / completion */
	struct vq__blk_queue *q;
	struct vq_elem elem;          /* elem.iov: iov_cap entries, owned */
	struct iovec *data;           /* data segments (iov_cap entries), owned */
	unsigned ndata;
	struct vq_blk_req r;
	struct vq_blk_range *ranges;  /* VQ_BLK_MAX_SEGS entries, owned */
	int err;                      /* 0 or -errno of the system call */
	/* io_uring engine: what is left of a read or write after a short
	 * transfer (the unsent tail of data[], and its file offset). */
	struct iovec *cur;
	unsigned ncur;
	uint64_t cur_off;
	int cur_fd;                   /* registered file index */
};

/* Single-writer counters; readers load them relaxed. */
struct vq__blk_counters {
	_Atomic uint64_t v[sizeof(struct vq_blk_stats) / sizeof(uint64_t)];
};

struct vq__blk_queue {
	struct vq_blk *b;
	unsigned idx;
	struct vq_dev *vq;
	int efd;                                  /* completion eventfd */
	_Alignas(64) _Atomic(struct vq__blk_io *) done; /* MPSC stack (I/O threads) */
	_Alignas(64) struct vq__blk_io *free;     /* queue thread only */
	unsigned inflight;                        /* popped, not pushed */
	unsigned unflushed;                       /* pushed since the last flush */
	unsigned nio;                             /* allocated vq__blk_io */
	struct vq__blk_uring *ur;                 /* io_uring engine state, or NULL */
	bool reported;                            /* ops.c: broken ring reported */
	struct vq__blk_counters st;
};

/* The I/O thread pool (blk_pool.c). */
struct vq__blk_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct vq__blk_io *head, **tail;
	bool stop;
	unsigned nthreads;
	pthread_t *th;
};

/*
 * The I/O engine (private; chosen by vq_blk_params.engine).  Every hook but
 * start/stop runs on the queue's own thread.
 *   threads (blk_pool.c): a pool of blocking threads, or inline when the
 *           pool has none;
 *   uring   (blk_uring.c): one io_uring per queue for reads, writes and
 *           flushes, batched per poll; the pool for the rest.
 */
struct vq__blk_engine {
	enum vq_blk_engine id;
	int (*start)(struct vq_blk *b);   /* after the queues exist; -errno */
	void (*stop)(struct vq_blk *b);   /* every request in flight finishes first */
	void (*submit)(struct vq__blk_queue *q, struct vq__blk_io *io);
	void (*kick)(struct vq__blk_queue *q); /* end of a poll: start the batch */
	/* Finished requests, oldest first (linked by next), err set.  With
	 * clear, the completion eventfd is read first (a signal that lands
	 * after it is kept); without, it is left as it is. */
	struct vq__blk_io *(*reap)(struct vq__blk_queue *q, bool clear);
};
extern const struct vq__blk_engine vq__blk_engine_threads;
extern const struct vq__blk_engine vq__blk_engine_uring;

struct vq_blk {
	struct vq_device_host host; /* first (vq__device_attach); else the params' notify */
	struct vq_blk_params p;
	const struct vq__blk_engine *eng;
	int fd;                 /* main descriptor (O_DIRECT when direct) */
	int bfd;                /* buffered descriptor for unaligned direct I/O, or -1 */
	bool own_fd;
	bool is_bdev;
	uint64_t size;          /* bytes exposed: capacity * 512 */
	uint32_t dio_mem;       /* direct I/O memory alignment (1 when buffered) */
	uint32_t dio_off;       /* direct I/O offset/length alignment (1 when buffered) */
	uint64_t host_features;
	uint64_t features;
	struct vq_blk_config cfg;
	struct vq_blk_limits lim; /* for the parser, from the negotiated features */
	char serial[VQ_BLK_ID_BYTES];
	unsigned nq;
	struct vq__blk_queue *q;
	struct vq__blk_pool pool;
	uint8_t *zeros;         /* VQ__BLK_ZERO_BUF zero bytes, aligned */
};

/* Counter indexes into vq__blk_counters (order of struct vq_blk_stats). */
enum {
	VQ__BLK_C_READS, VQ__BLK_C_WRITES, VQ__BLK_C_FLUSHES, VQ__BLK_C_DISCARDS,
	VQ__BLK_C_WZ, VQ__BLK_C_GETID, VQ__BLK_C_RBYTES, VQ__BLK_C_WBYTES,
	VQ__BLK_C_IOERR, VQ__BLK_C_UNSUPP, VQ__BLK_C_DROPPED, VQ__BLK_C_IOFAILED,
};

static inline void vq__blk_count(struct vq__blk_queue *q, unsigned c, uint64_t v)
{
	/* Single writer (the queue thread): a relaxed load + store suffices. */
	uint64_t cur = atomic_load_explicit(&q->st.v[c], memory_order_relaxed);

	atomic_store_explicit(&q->st.v[c], cur + v, memory_order_relaxed);
}

/* blk_io.c: execute a parsed request on the backing store; sets io->err. */
void vq__blk_execute(struct vq_blk *b, struct vq__blk_io *io);
int vq__blk_open(struct vq_blk *b);
/* The descriptor a read or write goes to (b->fd or b->bfd), or -1 when it
 * needs the O_DIRECT bounce buffers. */
int vq__blk_rw_fd(const struct vq_blk *b, const struct vq__blk_io *io);
/* Advance iov[0..*cnt) by n bytes (n <= their total); empty segments at
 * the front are skipped.  Returns the new first segment. */
struct iovec *vq__blk_iov_advance(struct iovec *iov, unsigned *cnt, size_t n);
/* Transfer all of iov[0..cnt) (modified) at off with blocking calls,
 * resuming after short ones: 0, or -errno (-EIO/-ENOSPC at end of file). */
int vq__blk_rw_all(int fd, struct iovec *iov, unsigned cnt, uint64_t off, bool write,
		   int flags);
/* RWF_DSYNC when writes must be stable at completion (no FLUSH), else 0. */
int vq__blk_write_flags(const struct vq_blk *b);

/* blk_pool.c: the thread pool, also the uring engine's helper for what
 * io_uring does not take (discard, write zeroes, bounce buffers). */
int vq__blk_pool_start(struct vq_blk *b);
void vq__blk_pool_stop(struct vq_blk *b);
void vq__blk_pool_run(struct vq__blk_queue *q, struct vq__blk_io *io);
void vq__blk_post_done(struct vq__blk_queue *q, struct vq__blk_io *io);
struct vq__blk_io *vq__blk_take_done(struct vq__blk_queue *q, bool clear);

/* blk_queue.c */
int vq__blk_queue_init(struct vq_blk *b, struct vq__blk_queue *q, unsigned idx);
void vq__blk_queue_fini(struct vq__blk_queue *q);
void vq__blk_queue_forget(struct vq__blk_queue *q);

#endif
