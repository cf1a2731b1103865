/* SPDX-License-Identifier: MIT */
/*
 * virtq shadow virtqueue (SVQ): relays one guest-facing ring to one
 * device-facing ring whose descriptors carry IOVAs.
 *
 *   guest ring   the device side (struct vq_dev) of the guest's queue, over
 *                the guest's memory map (GPA -> HVA);
 *   shadow ring  the driver side (struct vq_drv) of a ring the SVQ owns,
 *                mapped with its indirect tables into the IOVA space as host
 *                memory; the device reads it and the guest's buffers at
 *                IOVAs (struct vq_iova holds the GPA -> IOVA maps).
 *
 * Each guest buffer is re-translated by its guest addresses (never by host
 * address, which may alias) into as many IOVA segments as the maps need,
 * chained on the shadow ring (in an indirect table when the device accepts
 * them and the chain needs more than one descriptor).  Split or packed,
 * EVENT_IDX and INDIRECT are chosen per side.  Used ids and lengths go back
 * to the guest exactly.
 *
 * Faults stay on their side: a guest that breaks the spec breaks the guest
 * ring (vq_svq_guest_is_broken) and the shadow ring still drains; a device
 * that breaks it (a bad used id or length) breaks the shadow ring
 * (vq_svq_device_is_broken) and nothing is written to the guest's ring for
 * it.
 *
 * Memory changes: pause the SVQ, drain it (vq_svq_relay_used until
 * vq_svq_inflight is 0), change the guest map and the IOVA maps, resume.  A
 * buffer popped from the guest but not yet on the shadow ring keeps its
 * guest addresses and is re-translated when it is forwarded.
 *
 * Threading: one thread drives an SVQ.  Several SVQs may share one
 * struct vq_iova when their owner serialises changes to it.
 */
#ifndef VIRTQ_SVQ_H
#define VIRTQ_SVQ_H

#include <stdbool.h>
#include <stdint.h>

#include <virtq/iova.h>
#include <virtq/mem.h>
#include <virtq/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vq_svq;

struct vq_svq_params {
	/* The guest's ring: host pointers to it, its layout, size and the
	 * features negotiated with the guest. */
	struct vq_ring_params guest;
	/* Optional: the device side of the guest's ring, already made (as a
	 * vhost-user adapter hands one to queue_start).  The SVQ uses it
	 * instead of making one from `guest` (of which only size is read)
	 * and does not free it. */
	struct vq_dev *guest_dev;
	const struct vq_mem *guest_mem; /* GPA -> HVA; outlives the SVQ */
	struct vq_iova *iova;           /* guest maps already in; outlives it */
	/* The shadow ring: layout, size (0 = the guest's), the features
	 * negotiated with the device (of VQ_RING_FEATURES) and its largest
	 * chain (0 = its size). */
	enum vq_layout dev_layout;
	uint32_t dev_size;
	uint64_t dev_features;
	uint32_t dev_max_chain;
	/* Optional: where the shadow ring and its indirect tables live (for
	 * example a memfd arena a vhost-user backend can map).  alloc returns
	 * bytes at align (a power of two) or NULL; release gives them back.
	 * NULL: aligned_alloc and free.  The SVQ zeroes what it gets. */
	void *(*alloc)(void *ctx, size_t bytes, size_t align);
	void (*release)(void *ctx, void *p, size_t bytes);
	void *alloc_ctx;
	/* Optional, for devices whose requests end in a status byte the
	 * device writes (virtio-blk: VIRTIO_BLK_S_IOERR).  A guest buffer
	 * given back unused (vq_svq_cancel, or one that cannot be forwarded)
	 * gets this byte written to its last device-writable byte and used
	 * length 1, so a driver that reads the status without looking at the
	 * used length sees a failure, not a stale success.  0: used length 0
	 * and nothing written (net, vsock: the length says it all). */
	uint8_t giveback_status;
	/* Optional: buffers one vq_svq_relay moves at most (0: 1024). */
	uint32_t relay_budget;
	/* Optional, off by default (0 or 1): notification moderation.  After
	 * a vq_svq_relay that moved buffers, it sleeps with each side that
	 * negotiated EVENT_IDX asked to signal only after this many more
	 * buffers (vq_dev_enable_notify_after, vq_drv_enable_notify_after;
	 * the device side at most the buffers it holds), and says so in
	 * vq_svq_events.moderated: the owner must then call vq_svq_relay
	 * again within its latency bound even without a signal (a timer).
	 * Fewer wake-ups per buffer for up to that bound of latency. */
	uint32_t coalesce;
};

/* Where the device finds the shadow ring, in IOVA space. */
struct vq_svq_ring {
	enum vq_layout layout;
	uint32_t size;
	uint64_t features;
	uint32_t max_chain;
	uint64_t desc, avail, used; /* IOVAs of the three parts */
};

/* What the owner must do after a relay step. */
struct vq_svq_events {
	bool kick_device;  /* notify the device (the shadow ring's kick) */
	bool notify_guest; /* interrupt the guest (the guest ring's call) */
	bool more;         /* vq_svq_relay stopped at its budget, or at a re-check
			    * that kept saying "more" with nothing to move:
			    * call it again */
	bool moderated;    /* vq_svq_relay slept moderated (coalesce): buffers may
			    * wait without a signal; call it again within the
			    * owner's latency bound.  Set by each call. */
};

/*
 * Create an SVQ: the guest ring's device side, and the shadow ring with
 * its indirect tables allocated and mapped into p->iova.  Returns 0 and
 * *out; -EINVAL for bad ring parameters; -ENOSPC when the IOVA space is
 * full; -ENOMEM.
 */
int vq_svq_new(const struct vq_svq_params *p, struct vq_svq **out);

/* Unmap and free the shadow ring.  In-flight guest buffers are left in
 * flight (the guest ring's state says where to resume).  NULL is a no-op. */
void vq_svq_free(struct vq_svq *s);

/* The shadow ring's IOVAs, for the device. */
void vq_svq_device_ring(const struct vq_svq *s, struct vq_svq_ring *out);

/*
 * Guest kick: forward the guest's available buffers to the shadow ring
 * until either is empty or full.  Sets ev->kick_device when the device
 * wants a kick (EVENT_IDX honoured).  Returns the number forwarded; -EIO
 * when either ring is broken (nothing forwarded then); a guest violation's
 * errno (the guest ring is then broken).
 */
int vq_svq_relay_avail(struct vq_svq *s, struct vq_svq_events *ev);

/*
 * Device call: return the device's used buffers to the guest (same id,
 * same length), then forward more available buffers if room was made.
 * Sets ev->notify_guest when the guest wants an interrupt and
 * ev->kick_device as vq_svq_relay_avail.  Returns the number returned;
 * -EIO when the shadow ring is broken; a device violation's errno (the
 * shadow ring is then broken; the guest ring is untouched).
 */
int vq_svq_relay_used(struct vq_svq *s, struct vq_svq_events *ev);

/*
 * Either notification: relay both ways until neither ring moves, with guest
 * kicks and device calls off meanwhile (a peer need not signal an SVQ that
 * is awake), then back on and re-checked before returning, so the caller
 * may sleep until the next kick or call.  Guest kicks stay off while the
 * shadow ring is full (the device's call resumes the relay) or the SVQ is
 * paused.  Kicks and interrupts owed are one each in ev, for the whole
 * call.  At most vq_svq_params.relay_budget buffers (forwarded plus
 * returned) move per call; then ev->more is set (the caller should call
 * again without waiting; sleeping is safe too).  So it is when a re-arm says
 * "more" twice with nothing moved in between (a ring the re-check and the
 * pop disagree about): the relay returns rather than spin.
 * With the guest ring broken, it only drains the shadow ring, as
 * vq_svq_relay_used.  Returns the number of buffers returned to the guest;
 * -EIO when the shadow ring is broken; a violation's errno (that side's
 * ring is then broken).
 */
int vq_svq_relay(struct vq_svq *s, struct vq_svq_events *ev);

/*
 * The device stopped, or went away, holding buffers: give every guest
 * buffer taken and not yet returned back to the guest ring, used with
 * length 0 (nothing written; with giveback_status, the status in its last
 * writable byte and length 1), so that the guest loses no descriptor.  The
 * device must no longer touch the shadow ring (after its stop, or its end).
 * The SVQ is then done: relay calls return -EIO; vq_svq_get_state gives the
 * guest ring's position (these buffers counted) for a new SVQ, and
 * vq_svq_free frees it.  Sets ev->notify_guest when the guest wants an
 * interrupt.  Returns the number of buffers given back.
 */
int vq_svq_cancel(struct vq_svq *s, struct vq_svq_events *ev);

/* Stop (true) or resume (false) taking new buffers from the guest; a
 * buffer already taken is still forwarded. */
void vq_svq_set_paused(struct vq_svq *s, bool paused);

/* Guest buffers taken and not yet returned (on the shadow ring or about
 * to be). */
unsigned vq_svq_inflight(const struct vq_svq *s);

/*
 * The guest ring's position, for a later vq_svq_set_state (live migration:
 * pause and drain first).  Returns 0, or -EBUSY while buffers are in flight.
 */
int vq_svq_get_state(const struct vq_svq *s, struct vq_state *st);

/* Resume the guest ring at st (before any traffic, or drained).  Returns
 * 0; -EBUSY while buffers are in flight; -EINVAL as vq_dev_set_state. */
int vq_svq_set_state(struct vq_svq *s, const struct vq_state *st);

bool vq_svq_guest_is_broken(const struct vq_svq *s);
bool vq_svq_device_is_broken(const struct vq_svq *s);
/* What broke, in one line ("" when neither side is broken). */
const char *vq_svq_error(const struct vq_svq *s);

/* Buffers returned to the guest unused (length 0, or the give-back status)
 * because they could not be forwarded (more IOVA segments than the device takes, or guest memory
 * unmapped under a waiting buffer). */
uint64_t vq_svq_dropped(const struct vq_svq *s);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_SVQ_H */
