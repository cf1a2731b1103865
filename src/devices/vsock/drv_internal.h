/* SPDX-License-Identifier: MIT */
/*
 * vsock driver internals (include/virtq/vsock_drv.h).  Files:
 *   drv.c     the object, the frontend, queues, poll, listeners
 *   drv_rx.c  used rx buffers: packet dispatch, recv, zero-copy lending
 *   drv_tx.c  sends (copy and zero-copy), control packets, tx completions
 */
#ifndef VQ_VSOCK_DRV_INTERNAL_H
#define VQ_VSOCK_DRV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <virtq/frontend.h>
#include <virtq/vsock_drv.h>

#include "devices/iov.h"
#include "credit.h"

#define DRV_PAGE        4096u
#define DRV_ZC_MAX      511u  /* header-page entries, the last one ends it */
#define DRV_FIRST_PORT  49152u
#define DRV_MAX_LISTEN  64u

enum { DQ_RX = 0, DQ_TX = 1, DQ_EVT = 2 };

/* Control packets a socket owes the device (bits of dsk.pend). */
enum {
	DP_REQUEST = 1u << 0, DP_RESPONSE = 1u << 1, DP_CREDIT_UPDATE = 1u << 2,
	DP_SHUTDOWN = 1u << 3, DP_RST = 1u << 4, DP_CREDIT_REQUEST = 1u << 5,
};

enum dsk_state { DS_CONNECTING, DS_ESTABLISHED, DS_CLOSED };

struct drx {                       /* one rx buffer */
	struct virtio_vsock_hdr *hdr;  /* its header slot (shared memory) */
	uint8_t *data;                 /* page-aligned payload area */
	uint32_t len, off, flags;      /* payload bytes, read offset, RW flags */
	struct drx *next;
};

struct dzc {                       /* one zero-copy send */
	uint64_t cookie;
	unsigned left;                 /* packets not yet used by the device */
	struct dzc *next;
};

struct dtx {                       /* one tx slot: a header, maybe data */
	struct virtio_vsock_hdr *hdr;
	uint8_t *data;                 /* copy slots: tx_pkt bytes after hdr */
	struct dzc *zc;
	struct dtx *next;
};

struct vq_vsocksk {
	struct vq_vsockdrv *d;
	struct vq_vsocksk *next;       /* all sockets */
	struct vq_vsocksk *anext;      /* accept queue */
	uint32_t lport, pport;
	uint16_t type;
	uint8_t state;
	bool accepted, freed;
	int err;                       /* -ECONNRESET / -ECONNREFUSED once closed */
	uint32_t pend, shut_flags;

	/* receive */
	struct drx *rxq, *rxq_tail;    /* queued buffers */
	size_t rx_avail;
	uint32_t buf_alloc, rx_cnt, fwd_cnt, fwd_told;
	bool peer_shut_send, peer_shut_rcv;
	bool skip_msg;                 /* SEQPACKET: drop up to the next EOM */
	struct drx *lent[DRV_ZC_MAX];
	void *lent_data[DRV_ZC_MAX];
	unsigned nlent;
	struct vq_vsock_zc_hdr *zc_page; /* shared memory: the header page */

	/* send */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	bool shut_send;
	bool credit_asked;             /* CREDIT_REQUEST sent, no answer yet */
};

struct vq_vsockdrv {
	struct vq_vsockdrv_params p;
	struct vq_fe *fe;              /* NULL with a local transport */
	struct vq_vsockdrv_local local;
	size_t local_used;             /* bytes of local.mem handed out */
	struct vq_drv *q[3];
	int epfd;
	uint64_t cid, features;
	bool broken;
	char err[160];

	struct drx *rx;                /* rx_bufs of them */
	struct drx *rx_idle;           /* off the ring while the device is away */
	bool down;                     /* the device went away (reconnect_ms) */
	uint64_t next_try_ns;          /* the next reconnect attempt */
	struct dtx *txc, *txh;         /* copy slots, header-only slots */
	struct dtx *free_c, *free_h;
	struct virtio_vsock_event *evt;
	bool kick[3];

	struct vq_vsocksk *socks;
	struct { uint32_t port; struct vq_vsocksk *q, *tail; bool used; } listen[DRV_MAX_LISTEN];
	struct vq_vsock_pkt rst[64];   /* RSTs owed for unknown sockets */
	unsigned nrst;
	struct dzc *zc_done, *zc_done_tail;
	struct dzc *zc_free;           /* reported sends, for the next ones */
	uint32_t next_port;
	void **zc_pages;               /* header pages of freed sockets, for reuse */
	unsigned nzc_pages, zc_pages_cap;
	struct vq_vsockdrv_stats st;
};

/* Driver addresses are virtual addresses with either transport. */
static inline uint64_t vq__drv_addr(const void *p) { return (uint64_t)(uintptr_t)p; }

/* drv.c */
void *vq__drv_alloc(struct vq_vsockdrv *d, size_t size, size_t align);
struct vq_vsocksk *vq__dsk_find(struct vq_vsockdrv *d, uint32_t lport, uint32_t pport);
struct vq_vsocksk *vq__dsk_new(struct vq_vsockdrv *d, uint32_t lport, uint32_t pport,
			       uint16_t type);
void vq__dsk_reset(struct vq_vsocksk *s, int err, bool send_rst);
void vq__dsk_free(struct vq_vsockdrv *d, struct vq_vsocksk *s);
int vq__dsk_listener(struct vq_vsockdrv *d, uint32_t port);
void vq__drv_kick_all(struct vq_vsockdrv *d);
int vq__drv_read_cid(struct vq_vsockdrv *d);
void vq__drv_fail(struct vq_vsockdrv *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* drv_rx.c */
int vq__drv_rx_post(struct vq_vsockdrv *d, struct drx *b);
int vq__drv_rx_used(struct vq_vsockdrv *d);
void vq__dsk_drop_rx(struct vq_vsocksk *s);
int vq__drv_evt_used(struct vq_vsockdrv *d);

/* drv_tx.c */
int vq__drv_tx_used(struct vq_vsockdrv *d);
void vq__drv_tx_release(struct vq_vsockdrv *d, struct dtx *t);
int vq__drv_flush_ctrl(struct vq_vsockdrv *d);
void vq__dsk_credit_check(struct vq_vsocksk *s);
void vq__dsk_credit_ask(struct vq_vsocksk *s);
void vq__drv_hdr(const struct vq_vsocksk *s, uint16_t op, struct vq_vsock_pkt *p);

#endif
