/* SPDX-License-Identifier: MIT */
/*
 * virtq ring core: split and packed virtqueues (VIRTIO 1.2, "Basic
 * Facilities of a Virtio Device"), device side and driver side, over shared
 * memory.  The queue knows nothing of sockets or devices.
 *
 * Device side (struct vq_dev): what a backend or device model calls.  Every
 * value the driver controls is untrusted.  A spec violation returns a
 * negative errno, records a precise enum vq_violation plus a message, and
 * makes the queue sticky-broken: every later call fails with -EIO.
 *
 * Driver side (struct vq_drv): what a userspace driver calls.  Every value
 * the device writes (used ids, lengths, indexes) is checked the same way.
 *
 * Threading: one thread drives one side of one queue.  The two sides may run
 * on different threads or processes; the ring memory is the only thing they
 * share.
 */
#ifndef VIRTQ_RING_H
#define VIRTQ_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_config.h>
#include <virtq/mem.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * ---- features the ring core understands (as masks of 64-bit feature words;
 * the bit numbers are the kernel UAPI's).  INDIRECT_DESC and EVENT_IDX are
 * VIRTIO_RING_F_* of <linux/virtio_ring.h>, which a C++ program cannot
 * include (its vring_init converts void *): their numbers are written here
 * and checked against it at build time (src/ring/ring_wire.h).
 */
#define VQ_F_INDIRECT   (1ull << 28) /* VIRTIO_RING_F_INDIRECT_DESC */
#define VQ_F_EVENT_IDX  (1ull << 29) /* VIRTIO_RING_F_EVENT_IDX */
#define VQ_F_VERSION_1  (1ull << VIRTIO_F_VERSION_1)
#define VQ_F_PACKED     (1ull << VIRTIO_F_RING_PACKED)
#define VQ_F_IN_ORDER   (1ull << VIRTIO_F_IN_ORDER)

/*
 * EXPERIMENTAL, not in the VIRTIO spec: VQ_F_LARGE_CHAIN.  When negotiated,
 * a descriptor chain and an indirect table may hold more descriptors than
 * the queue size, up to the queue's max_chain (which the device advertises,
 * at most VQ_MAX_CHAIN).  The chain's total length is still bounded by
 * VQ_MAX_CHAIN_BYTES.  Bit 47 lies in the range the spec reserves for future
 * extensions (42..49); it will move if the feature is standardised.  Off by
 * default: nothing in virtq offers it unless asked to.
 */
#define VQ_F_LARGE_CHAIN_BIT 47
#define VQ_F_LARGE_CHAIN (1ull << VQ_F_LARGE_CHAIN_BIT)

#define VQ_RING_FEATURES (VQ_F_INDIRECT | VQ_F_EVENT_IDX | VQ_F_VERSION_1 | \
			  VQ_F_PACKED | VQ_F_IN_ORDER | VQ_F_LARGE_CHAIN)

#define VQ_MAX_QUEUE_SIZE  32768u
#define VQ_MAX_CHAIN       65535u          /* descriptors, with VQ_F_LARGE_CHAIN */
#define VQ_MAX_CHAIN_BYTES (1ull << 32)    /* total bytes of one chain */

/*
 * A hint for busy-wait loops (polling a ring, spinning on a sequence lock):
 * lets the sibling hyperthread run and saves power.  x86: pause;
 * aarch64: yield; elsewhere a compiler barrier only.
 */
static inline void vq_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

enum vq_layout {
	VQ_LAYOUT_SPLIT = 0,
	VQ_LAYOUT_PACKED = 1,
};

/*
 * The spec violations a peer can commit.  Each maps to one errno
 * (vq_violation_errno) and a stable name (vq_violation_str).
 */
enum vq_violation {
	VQ_OK = 0,
	VQ_ERR_HEAD_RANGE,       /* -ERANGE     head index >= queue size */
	VQ_ERR_NEXT_RANGE,       /* -ERANGE     next index >= queue size / table entries */
	VQ_ERR_LOOP,             /* -ELOOP      descriptor loop */
	VQ_ERR_CHAIN_LEN,        /* -E2BIG      chain longer than max_chain */
	VQ_ERR_CHAIN_BYTES,      /* -EFBIG      chain longer than VQ_MAX_CHAIN_BYTES */
	VQ_ERR_INDIRECT_NESTED,  /* -EMLINK     indirect descriptor inside an indirect table */
	VQ_ERR_INDIRECT_NEXT,    /* -ENOTUNIQ   INDIRECT with NEXT, or indirect not at chain head */
	VQ_ERR_INDIRECT_LEN,     /* -EINVAL     indirect length 0 or not a multiple of 16 */
	VQ_ERR_INDIRECT_FEATURE, /* -EOPNOTSUPP INDIRECT flag without VIRTIO_F_INDIRECT_DESC */
	VQ_ERR_ADDR_OVERFLOW,    /* -EOVERFLOW  address + length wraps */
	VQ_ERR_ADDR_UNMAPPED,    /* -EFAULT     address outside the memory map */
	VQ_ERR_WRITE_RO,         /* -EACCES     writable descriptor in read-only memory */
	VQ_ERR_READ_AFTER_WRITE, /* -EBADMSG    readable descriptor after a writable one */
	VQ_ERR_AVAIL_IDX,        /* -ENOSPC     avail idx more than queue size ahead */
	VQ_ERR_PACKED_WRAP,      /* -EILSEQ     packed AVAIL/USED bits inconsistent with wrap */
	VQ_ERR_PACKED_ID,        /* -EBADSLT    packed buffer id >= queue size */
	VQ_ERR_ID_IN_USE,        /* -EBUSY      head/id already in flight */
	VQ_ERR_USED_ID,          /* -EBADR      driver side: used id not in flight */
	VQ_ERR_USED_LEN,         /* -EMSGSIZE   driver side: used len > writable bytes */
	VQ_ERR_USED_IDX,         /* -EOVERFLOW  driver side: used idx ran ahead of avail */
	VQ_ERR__COUNT
};

const char *vq_violation_str(enum vq_violation v);
int vq_violation_errno(enum vq_violation v); /* negative errno */

/* ---- ring memory layout */

struct vq_ring_layout {
	size_t desc_off, desc_size;   /* split: descriptor table;  packed: descriptor ring */
	size_t avail_off, avail_size; /* split: available ring;    packed: driver event suppression */
	size_t used_off, used_size;   /* split: used ring;         packed: device event suppression */
	size_t total;                 /* bytes of one block holding all three */
};

/*
 * Where the three parts of a ring go in one block of memory (each part
 * aligned to 64 bytes; the block needs 64-byte alignment).  Returns 0, or
 * -EINVAL for a size the layout does not allow (split: a power of two in
 * 1..32768; packed: 1..32768).
 */
int vq_ring_layout(enum vq_layout layout, uint32_t size, struct vq_ring_layout *out);

/* What both sides need to know about a queue. */
struct vq_ring_params {
	enum vq_layout layout;
	uint32_t size;      /* entries */
	uint64_t features;  /* negotiated feature bits; only VQ_RING_FEATURES matter */
	uint32_t max_chain; /* max descriptors in one chain; 0 = queue size.
			     * Above the queue size only with VQ_F_LARGE_CHAIN;
			     * at most VQ_MAX_CHAIN. */
	void *desc;         /* split: descriptor table; packed: descriptor ring */
	void *avail;        /* split: available ring;   packed: driver event suppression */
	void *used;         /* split: used ring;        packed: device event suppression */
};

/* Position of a queue, to stop and resume it (vhost-user GET/SET_VRING_BASE). */
struct vq_state {
	uint16_t avail_idx; /* split: last_avail_idx; packed: next avail slot */
	uint16_t used_idx;  /* split: next used idx;  packed: next used slot */
	bool avail_wrap;    /* packed only */
	bool used_wrap;     /* packed only */
};

/* ======================================================================
 * Device side
 * ====================================================================== */

struct vq_dev;

/*
 * An available buffer, popped from the ring.  The caller owns iov (iov_cap
 * entries); pop fills the first out_num entries with segments the device
 * reads, then in_num entries with segments the device writes.
 */
struct vq_elem {
	uint16_t id;        /* split: head index; packed: buffer id */
	uint16_t ndesc;     /* ring slots the chain used (packed: to advance) */
	uint32_t out_num;   /* readable segments in iov */
	uint32_t in_num;    /* writable segments in iov, after the readable ones */
	uint32_t iov_cap;   /* capacity of iov, set by the caller */
	uint64_t out_len;   /* readable bytes */
	uint64_t in_len;    /* writable bytes */
	struct iovec *iov;  /* caller-owned */
};

/*
 * Create the device side of a queue.  cfg's ring pointers are host pointers
 * the caller has already translated; mem translates buffer addresses and
 * must outlive the queue.  The position starts at zero (packed wrap counters
 * at 1).  Returns 0 and *out; -EINVAL for a bad size, max_chain or NULL
 * pointer; -ENOMEM.
 */
int vq_dev_new(const struct vq_ring_params *cfg, const struct vq_mem *mem,
	       struct vq_dev **out);
void vq_dev_free(struct vq_dev *q);

/*
 * Pop the next available chain into e (the caller sets e->iov and
 * e->iov_cap).  Returns 1 when e holds a chain, 0 when the ring is empty,
 * -ENOBUFS when e->iov is too small (nothing consumed, queue not broken),
 * -EIO when the queue is already broken, or the violation's errno (the
 * queue is then broken).
 */
int vq_dev_pop(struct vq_dev *q, struct vq_elem *e);

/*
 * vq_dev_pop, and also the driver address of each iov entry: gpa[i] is
 * where e->iov[i] starts in driver ("guest") address space (gpa has
 * e->iov_cap entries).  For a relay that must re-translate the buffer by
 * its guest address (host addresses may alias).  -EINVAL for a NULL gpa.
 */
int vq_dev_pop_gpa(struct vq_dev *q, struct vq_elem *e, uint64_t *gpa);

/*
 * Return a popped chain with the number of bytes written into its writable
 * part.  Staged: the driver sees it after vq_dev_flush.  Returns 0, -EIO
 * when broken, -EINVAL when id is not in flight or len > e->in_len.
 */
int vq_dev_push(struct vq_dev *q, const struct vq_elem *e, uint32_t len);

/* Same, by id and ndesc, for devices that keep only those. */
int vq_dev_push_id(struct vq_dev *q, uint16_t id, uint16_t ndesc, uint32_t len);

/*
 * Pop up to n chains into e[0..n-1] (the caller sets each e[i].iov and
 * iov_cap), with every check vq_dev_pop makes; with EVENT_IDX the device's
 * event index is written once, after the burst.  Returns how many were
 * popped (0: the ring is empty).  A chain that cannot be popped ends the
 * burst: the ones before it are returned, and the next call reports it
 * (-ENOBUFS, or -EIO once the queue broke).  -EIO when broken, -EINVAL for
 * a NULL e; the first chain's error otherwise.
 */
int vq_dev_pop_burst(struct vq_dev *q, struct vq_elem *e, unsigned n);

/*
 * vq_dev_push for e[0..n-1] with len[i] bytes written into each.  Returns
 * how many were pushed; a bad entry ends the burst (the ones before it are
 * pushed) and is -EINVAL when it is the first.  -EIO when broken.
 */
int vq_dev_push_burst(struct vq_dev *q, const struct vq_elem *e, const uint32_t *len,
		      unsigned n);

/*
 * Buffers served in place, for a device that is done with each buffer of a
 * burst before it looks at the next burst (a receive queue filling
 * buffers, a transmit queue reading frames out): a look at the next
 * available buffers that are each one descriptor, and then their return,
 * without the pop and push bookkeeping in between (nothing in flight).
 *
 * vq_dev_peek: up to n such buffers, all writable (writable) or all
 * readable, in ring order, with the checks vq_dev_pop makes (id in range,
 * not empty, guest memory with that access): b[i] gets buffer i's memory,
 * length and id.  The queue is unchanged.  Both layouts.  Returns how
 * many; 0 when the next buffer is not that case (the other direction, a
 * chain, an indirect table, one vq_dev_pop would refuse: pop it) and while
 * chains are in flight; -EAGAIN when no buffer is available (a pop would
 * find none either).  An id seen twice in one peek breaks the queue there
 * (VQ_ERR_ID_IN_USE, as a pop of an id in flight): the buffers before it
 * are returned.  -EIO when broken, -EINVAL for a NULL b.
 *
 * vq_dev_use_peeked: the first k of the buffers the last peek returned
 * (k may be fewer) are done, len[i] bytes written into b[i] (0 for
 * readable ones): they go back as pops and pushes would return them
 * (staged: vq_dev_flush publishes them; packed with IN_ORDER: readable
 * buffers share one used descriptor; split: a used entry each).  No pop or push may come between the
 * peek and this call.  Returns 0; -EINVAL (nothing returned) for k beyond
 * the peek, a len beyond what the buffer takes, an id out of range, or a
 * pop since; -EIO when broken.
 */
struct vq_peeked {
	void *base;
	uint32_t len; /* bytes */
	uint16_t id;
};

int vq_dev_peek(struct vq_dev *q, struct vq_peeked *b, unsigned n, bool writable);
int vq_dev_use_peeked(struct vq_dev *q, const struct vq_peeked *b, const uint32_t *len,
		      unsigned k);

/* Publish everything pushed since the last flush. */
void vq_dev_flush(struct vq_dev *q);

/*
 * After a flush: does the driver want an interrupt for what was published
 * since the last call?  Honours EVENT_IDX (used_event / packed descriptor
 * event) or the NO_INTERRUPT / DISABLE flags.
 */
bool vq_dev_need_notify(struct vq_dev *q);

/*
 * Driver -> device notification (kick) suppression.  enable returns true
 * when buffers became available meanwhile or the queue is broken: pop again
 * before sleeping (a broken queue's pop says -EIO).  false: safe to sleep.
 * The same pair as vq_drv_disable_notify / vq_drv_enable_notify.
 */
void vq_dev_disable_notify(struct vq_dev *q);
bool vq_dev_enable_notify(struct vq_dev *q);

/*
 * Moderated kicks (notification coalescing): as vq_dev_enable_notify, but
 * with EVENT_IDX the event index goes n - 1 entries ahead (split:
 * avail_event = next avail + n - 1; packed: the device event's offset and
 * wrap counter n - 1 slots ahead), so the driver kicks only once it has
 * made n more buffers available (packed counts ring slots: a chain of k
 * descriptors counts k).  n is clamped to the queue size.  Returns true
 * when n buffers are already there or the queue is broken (pop again);
 * false: safe to sleep, but fewer than n buffers may be waiting without a
 * kick, so the caller must come back on its own (a timer) to bound their
 * latency.  n <= 1, or no EVENT_IDX: exactly vq_dev_enable_notify.  A pop
 * afterwards moves the event index back to plain.  Same full-fence pairing
 * as vq_dev_enable_notify.
 */
bool vq_dev_enable_notify_after(struct vq_dev *q, unsigned n);

/* Does the ring hold a chain to pop?  (Reads the ring; does not validate.) */
bool vq_dev_has_avail(const struct vq_dev *q);

/* Number of chains popped and not yet pushed. */
unsigned vq_dev_inflight(const struct vq_dev *q);

void vq_dev_get_state(const struct vq_dev *q, struct vq_state *s);
/* Returns 0, or -EINVAL for indexes >= size (packed). Clears nothing else. */
int vq_dev_set_state(struct vq_dev *q, const struct vq_state *s);

bool vq_dev_is_broken(const struct vq_dev *q);
/* Entries of the ring (as created). */
uint32_t vq_dev_size(const struct vq_dev *q);
/* The memory map the ring translates buffer addresses through (as created):
 * a device model translates other guest addresses of the same driver
 * through it.  Valid as long as the ring. */
const struct vq_mem *vq_dev_mem(const struct vq_dev *q);
enum vq_violation vq_dev_violation(const struct vq_dev *q);
/* Human-readable description of the violation ("" when not broken). */
const char *vq_dev_error(const struct vq_dev *q);

/* ======================================================================
 * Driver side
 * ====================================================================== */

struct vq_drv;

/* One buffer segment, in driver ("guest") addresses. */
struct vq_seg {
	uint64_t addr;
	uint32_t len;
};

struct vq_drv_params {
	struct vq_ring_params ring; /* the ring memory must be zeroed */
	/*
	 * Optional pool of indirect tables, preallocated by the caller in
	 * memory the device can read: `indirect_tables` tables of
	 * `indirect_len` 16-byte descriptors each, contiguous, at host
	 * address `indirect` and driver address `indirect_gpa`.  Used only
	 * when VQ_F_INDIRECT is negotiated.
	 */
	void *indirect;
	uint64_t indirect_gpa;
	uint32_t indirect_tables;
	uint32_t indirect_len;
};

int vq_drv_new(const struct vq_drv_params *cfg, struct vq_drv **out);
void vq_drv_free(struct vq_drv *q);

/*
 * Add a buffer: out_num device-readable segments then in_num device-writable
 * ones, and an opaque non-NULL token returned by vq_drv_get.  Segments that
 * are adjacent in driver addresses are coalesced.  A chain of more than one
 * descriptor goes into an indirect table when the pool has one free and
 * large enough; otherwise direct descriptors are used if they fit.
 * Returns 0; -EINVAL (no segment, a zero length, NULL token, more than
 * VQ_MAX_CHAIN_BYTES); -E2BIG (more than max_chain descriptors);
 * -ENOSPC (no room now); -EIO (broken).
 * Visible to the device only after vq_drv_kick_prepare.
 */
int vq_drv_add(struct vq_drv *q, const struct vq_seg *sg, unsigned out_num,
	       unsigned in_num, void *token);

/*
 * Add up to n one-segment buffers: seg[i] with token tokens[i], all
 * device-writable (write) or all device-readable.  The checks of vq_drv_add.
 * Returns how many were added (fewer when the ring fills; 0 when it is
 * full).  A bad entry (zero length, wrapping address, NULL token) ends the
 * burst and is -EINVAL when it is the first.  -EIO when broken.
 */
int vq_drv_add_burst(struct vq_drv *q, const struct vq_seg *seg, unsigned n, bool write,
		     void *const *tokens);

/* Publish added buffers; returns true when the device wants a kick. */
bool vq_drv_kick_prepare(struct vq_drv *q);

/*
 * Get a used buffer: 1 with *token and *len (bytes the device wrote),
 * 0 when none, -EIO / the violation's errno when the device misbehaved.
 */
int vq_drv_get(struct vq_drv *q, void **token, uint32_t *len);

/*
 * Up to n used buffers: tokens[i] and lens[i], with every check of
 * vq_drv_get.  Returns how many (0: none).  A violation after some buffers
 * returns those; the next call says -EIO.  The first one's error otherwise.
 *
 * With VQ_F_IN_ORDER, while every buffer in flight is one descriptor (one
 * ring slot, an indirect table counting as one), used buffers are taken in
 * runs, one loop a run: an IN_ORDER batch (one used entry for several
 * buffers) whole; split: k >= 2 entries under used idx are checked once, at
 * the run's last entry (the id expected there, its len); a device-readable
 * buffer's len is 0 whatever its entry says, so the entries before the last
 * are read only for device-writable buffers (id and len checked, each);
 * packed: each used descriptor's flags, id and len, in a tight loop (a used
 * slot says nothing of the slots before it).  Any entry a run does not
 * match (a device that batched, or lies) is walked as vq_drv_get does, and
 * reports the same violations.
 */
int vq_drv_get_burst(struct vq_drv *q, void **tokens, uint32_t *lens, unsigned n);

/* At teardown (device stopped): reclaim one buffer never used; NULL when none. */
void *vq_drv_detach(struct vq_drv *q);

unsigned vq_drv_nfree(const struct vq_drv *q); /* free descriptors */

/*
 * Device -> driver notification (interrupt) suppression; enable returns true
 * when used buffers are already pending or the queue is broken: get again
 * before sleeping (a broken queue's get says -EIO).  false: safe to sleep.
 */
void vq_drv_disable_notify(struct vq_drv *q);
bool vq_drv_enable_notify(struct vq_drv *q);

/*
 * Moderated interrupts (notification coalescing): as vq_drv_enable_notify,
 * but with EVENT_IDX the event index goes n - 1 entries ahead (split:
 * used_event = next used + n - 1; packed: the driver event's offset and
 * wrap counter n - 1 slots ahead), so the device signals only once it has
 * used n more buffers (packed counts ring slots).  n is clamped to the
 * buffers the device has been shown and not returned, so that their
 * completion always signals.  Returns true when the device already passed
 * the event or the queue is broken (get again); false: safe to sleep, but
 * up to n - 1 used buffers may wait without a signal (the caller must come
 * back on its own to bound their latency).  n <= 1, no EVENT_IDX, or
 * IN_ORDER: exactly vq_drv_enable_notify.  A get afterwards moves the
 * event back to plain.  Same full-fence pairing as vq_drv_enable_notify.
 */
bool vq_drv_enable_notify_after(struct vq_drv *q, unsigned n);

bool vq_drv_is_broken(const struct vq_drv *q);
enum vq_violation vq_drv_violation(const struct vq_drv *q);
const char *vq_drv_error(const struct vq_drv *q);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_RING_H */
