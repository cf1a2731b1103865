/* SPDX-License-Identifier: MIT */
/* virtq-svq internals: the proxy state shared by main.c and proxy.c. */
#ifndef VQT_SVQ_SP_H
#define VQT_SVQ_SP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <virtq/device.h>
#include <virtq/frontend.h>
#include <virtq/iova.h>
#include <virtq/svq.h>
#include <virtq/vhost_user.h>

#define SP_PAGE 4096u
#define SP_ARENA_PAGES 4096u /* 16 MiB of shadow rings and indirect tables */
#define SP_SIGNAL_MS 100u    /* longest a write to a guest eventfd may block */
#define SP_DRAIN_MS 100u     /* longest a ring stop waits for the backend's used */
#define SP_RETRY_MS 100u     /* between connects to a backend that went away */

#define SP_MAX_REGIONS 64u    /* regions of the backend's view (guest and arena) */

/* A region the backend was sent (ADD_MEM_REG), and what it is: the host
 * mapping and the file behind it. */
struct sp_sent {
	struct vq_fe_region r;
	const void *hva;
	uint64_t dev, ino;
};

struct sp_queue {
	struct vq_svq *svq;      /* NULL while not relaying */
	struct vq_vu_queue *vq;  /* the guest-facing queue, while the frontend runs it */
	struct vq_svq_events ev; /* owed by this poll round's relays (sp_flush) */
	bool again;              /* the last relay stopped at its budget */
	bool reported;           /* a broken side was logged */
	uint64_t due_ns;         /* --coalesce: relay again by then (0: no timer) */
};

/* What the data path cost, in system calls (sp_log_totals). */
struct sp_stats {
	uint64_t polls;   /* waits (epoll_wait) */
	uint64_t wakeups; /* of which returned with a kick or call to relay */
	uint64_t relays;  /* vq_svq_relay calls */
	uint64_t reads;   /* call eventfd reads (a ring stop's drain only) */
	uint64_t kicks;   /* eventfd writes to the backend */
	uint64_t calls;   /* eventfd writes to the guest */
	uint64_t timer;   /* relays the --coalesce timer made (no kick or call) */
};

/* The shadow rings' layout towards the backend. */
enum sp_layout { SP_LAYOUT_GUEST, SP_LAYOUT_SPLIT, SP_LAYOUT_PACKED };

struct sp {
	enum sp_layout backend_layout; /* set after sp_init, before sp_serve */
	uint8_t giveback_status;   /* vq_svq_params.giveback_status (--type blk) */
	uint32_t coalesce;         /* vq_svq_params.coalesce (--coalesce N; 0: off) */
	uint32_t coalesce_us;      /* --coalesce N:USEC: a moderated queue's latency bound */
	uint64_t now_ns;           /* CLOCK_MONOTONIC after the last wait (main.c) */
	struct vq_fe *fe;          /* towards the real backend (manual mode) */
	struct vq_vu_backend *b;   /* towards the frontend */
	uint64_t offered;          /* features offered to the frontend */
	uint64_t dev_features;     /* negotiated with the backend */
	unsigned nq;               /* rings we accept */
	uint64_t queue_num;        /* the backend's GET_QUEUE_NUM (0: no MQ) */
	struct vq_iova *iova;
	struct vq_mem *devmem;     /* scratch: the backend's view (IOVA space) */
	/* the shadow-ring arena: one sealed memfd the backend maps */
	int memfd;
	uint8_t *arena;
	uint8_t page_used[SP_ARENA_PAGES];
	/* the backend's memory table, with CONFIGURE_MEM_SLOTS (else nsent 0) */
	struct sp_sent sent[SP_MAX_REGIONS];
	unsigned nsent;
	bool backend_up;           /* connected to the backend */
	uint64_t backend_offer;    /* its features when first connected */
	uint64_t want_features;    /* asked of it on the frontend's behalf (0: none) */
	uint64_t next_retry_ns;    /* backend down: when to connect again */
	uint64_t returned; /* buffers back to the guest, all queues and connections */
	uint64_t given_back; /* of which given back unused (length 0) at a stop */
	struct sp_stats st;
	bool fds_changed;  /* an fd main.c waits on may have been closed or replaced */
	struct sp_queue q[VQ_VU_MAX_QUEUES];
};

/* main.c's SIGALRM handler: stops the timer once guests go unsignalled. */
void sp_on_alarm(void);

/* proxy.c */
int sp_init(struct sp *s, const char *backend);
void sp_fini(struct sp *s);
/* The backend went away: give back the buffers it held, keep the frontend
 * and its rings (relayed again after sp_backend_retry). */
void sp_backend_lost(struct sp *s);
/* Backend down: connect again when due.  1 reconnected (the frontend's
 * started rings are relayed again), 0 not yet, -ECONNRESET when it came
 * back offering other features (give up). */
int sp_backend_retry(struct sp *s);
/* One line: buffers relayed and the process's CPU time per buffer. */
void sp_log_totals(const struct sp *s);
int sp_serve(struct sp *s, const char *socket);
/* Relay queue idx both ways after its guest kick, its backend's call, or
 * neither (the last relay stopped at its budget, or its --coalesce timer
 * is due); main.c waits on those eventfds edge-triggered and never reads
 * them.  The kicks and interrupts it owes wait in the queue's ev for
 * sp_flush.  A relay that slept moderated sets the queue's due_ns. */
void sp_relay(struct sp *s, unsigned idx);
/* Send the kicks and interrupts the round's relays owe, one per queue.
 * True when a queue's relay stopped at its budget: relay it again before
 * sleeping. */
bool sp_flush(struct sp *s);

#endif
