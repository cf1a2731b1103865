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

struct sp_queue {
	struct vq_svq *svq;      /* NULL while stopped */
	struct vq_vu_queue *vq;  /* the guest-facing queue */
	bool reported;           /* a broken side was logged */
};

/* The shadow rings' layout towards the backend. */
enum sp_layout { SP_LAYOUT_GUEST, SP_LAYOUT_SPLIT, SP_LAYOUT_PACKED };

struct sp {
	enum sp_layout backend_layout; /* set after sp_init, before sp_serve */
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
	uint64_t returned; /* buffers back to the guest, all queues and connections */
	struct sp_queue q[VQ_VU_MAX_QUEUES];
};

/* proxy.c */
int sp_init(struct sp *s, const char *backend);
void sp_fini(struct sp *s);
/* The backend went away: drop the frontend, reconnect (0) or give up. */
int sp_reconnect(struct sp *s, volatile sig_atomic_t *stop);
/* One line: buffers relayed and the process's CPU time per buffer. */
void sp_log_totals(const struct sp *s);
int sp_serve(struct sp *s, const char *socket);
/* Relay queue idx: guest kick (kick) or backend call (!kick). */
void sp_relay(struct sp *s, unsigned idx, bool kick);

#endif
