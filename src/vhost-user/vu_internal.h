/* SPDX-License-Identifier: MIT */
/* Internals of the vhost-user backend.  Not installed. */
#ifndef VQ_VU_INTERNAL_H
#define VQ_VU_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <virtq/vhost_user.h>

#include "vu_proto.h"

union vq__vu_payload {
	uint64_t u64;
	struct vhost_vring_state state;
	struct vhost_vring_addr addr;
	struct vq__vu_mem_table mem;
	struct vq__vu_mem_single single;
	struct vq__vu_config config;
	uint8_t raw[VQ_VU_MAX_PAYLOAD];
};

struct vq__vu_msg {
	struct vq__vu_hdr hdr;
	union vq__vu_payload p;
	int fds[VQ_VU_MAX_FDS]; /* a handler that keeps an fd sets it to -1 */
	unsigned nfds;
};

/* A message being received: what has arrived so far (vu_wire.c). */
struct vq__vu_rx {
	struct vq__vu_msg m;
	uint32_t got;         /* header and payload bytes received */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 while no message has begun */
};
#define VQ__VU_MSG_TIMEOUT_MS 1000u /* a begun message must complete in this */

/*
 * Replies the socket did not take yet (vu_wire.c): a frontend that stops
 * reading holds them here, not the control thread.  Bounded in bytes
 * (VQ__VU_TX_MAX) and in time (VQ__VU_TX_TIMEOUT_MS after the first byte
 * the socket refused); either bound drops the connection.
 */
#define VQ__VU_TX_MAX (4u * (12u + VQ_VU_MAX_PAYLOAD))
#define VQ__VU_TX_TIMEOUT_MS 1000u
#define VQ__VU_TX_RETRY_MS 5u /* the timer retries a pending flush this often */
struct vq__vu_tx {
	uint32_t len;         /* bytes pending in buf */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 while nothing is pending */
	char buf[VQ__VU_TX_MAX];
};

struct vq__vu_reply {
	uint32_t size; /* payload bytes to send */
	union vq__vu_payload p;
};

/* ---- validation table */

#define VQ__VU_PRE_OWNER 0x01u  /* allowed before SET_OWNER */
#define VQ__VU_HAS_REPLY 0x02u  /* the request has a reply by definition */
#define VQ__VU_QIDX_STATE 0x04u /* payload starts with a u32 queue index */
#define VQ__VU_QIDX_FILE 0x08u  /* u64 payload: index in bits 0-7, NOFD bit 8 */

struct vq_vu_backend;
typedef int (*vq__vu_handler)(struct vq_vu_backend *b, struct vq__vu_msg *m,
			      struct vq__vu_reply *r);

struct vq__vu_req {
	uint32_t req;      /* its request code (the row's index) */
	const char *name;
	vq__vu_handler fn; /* NULL: always rejected */
	uint16_t min_size, max_size;
	uint8_t min_fds, max_fds;
	uint8_t flags;
	uint64_t pfeat;    /* protocol feature that must be negotiated, or 0 */
};

const struct vq__vu_req *vq__vu_req_lookup(uint32_t request);

/* ---- backend state */

struct vq__vu_map {
	uint64_t gpa, size, uaddr, mmap_offset;
	void *base; /* mmap()ed from file offset 0 */
	size_t len;
	int guard;  /* vq_mem_guard id; -1: none (the file is sealed against shrinking) */
	int fd;     /* our dup of the region's fd (vq_vu_mem_fd); -1: none */
};

/*
 * An eventfd that workers may signal while the control thread replaces it:
 * a new eventfd is dup3()ed onto the existing number, NOFD only clears `on`;
 * the number is closed only while the queue is stopped (quiesced).
 */
struct vq__vu_evfd {
	_Atomic int fd;
	atomic_bool on;
	/* The watchdog's view of a write in progress (vq__vu_watchdog). */
	_Atomic uint64_t since_ns;  /* CLOCK_MONOTONIC | 1; 0: no write */
	_Atomic(pthread_t) writer;  /* the writing thread, while since_ns */
};
#define VQ__VU_STUCK_MS 100u /* a write to a call/err eventfd may take this */

struct vq_vu_queue {
	struct vq_vu_backend *b;
	unsigned index;
	_Atomic(struct vq_dev *) live; /* published while started */
	struct vq_dev *dev;
	bool started;
	bool resume;     /* restart after a memory change */
	atomic_bool enabled;
	bool has_num, has_addr;
	uint32_t num;
	struct vhost_vring_addr addr;
	struct vq_state base;
	int kick_fd;     /* -1: none (or polling) */
	bool kick_set;   /* SET_VRING_KICK seen since the last stop */
	bool kick_owned; /* the device's threads read kick_fd: the loop must not */
	unsigned max_chain; /* vq_ring_config.max_chain of the next start */
	struct vq__vu_evfd call, err;
	void *priv;
};

struct vq_vu_backend {
	struct vq_vu_params cfg;
	char *path, *name;
	int listen_fd, conn_fd;
	bool created_path;
	bool attached;      /* loop_ops->attach called */
	/* client mode */
	uint64_t retry_at_ns;
	unsigned backoff_ms;
	/* offered */
	uint64_t offer_features, offer_pfeatures;
	unsigned max_slots;
	/* connection state */
	bool owner, broken;
	uint64_t features, pfeatures;
	uint8_t status;
	struct vq_mem *mem;
	struct vq__vu_map *maps;
	unsigned nmaps;
	struct vq_vu_queue *queues;
	unsigned nq;
	atomic_uint generation;
	struct vq__vu_serve *serve; /* vq_vu_serve(): the adapter, else NULL */
	struct vq__vu_rx rx;
	struct vq__vu_tx tx;
	bool stuck;         /* the watchdog woke a worker out of an eventfd write */
	uint64_t wd_next_ns; /* the watchdog's next tick */
	char err[200];
};

/* ---- vu_log.c */
void vq__vu_log(const struct vq_vu_backend *b, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Record why the current message fails; returns err (a negative errno). */
int vq__vu_fail(struct vq_vu_backend *b, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- vu_wire.c */
int vq__vu_recv(struct vq_vu_backend *b, struct vq__vu_msg *m);
int vq__vu_send(struct vq_vu_backend *b, uint32_t request, const void *payload,
		uint32_t size);
void vq__vu_close_fds(struct vq__vu_msg *m);
/* Forget a partly received message (its fds closed). */
void vq__vu_rx_reset(struct vq_vu_backend *b);
/* Milliseconds until a begun message times out (0: now), -1: none begun. */
int vq__vu_rx_timeout_ms(const struct vq_vu_backend *b);
/* True (b->err set) when a begun message is past its deadline. */
bool vq__vu_rx_is_stalled(struct vq_vu_backend *b);
/* Hand pending replies to the socket without waiting.  0 (all sent, or
 * the rest still within its bounds) or -errno with b->err set: the
 * connection must be dropped (the frontend stopped reading, or the socket
 * failed). */
int vq__vu_tx_flush(struct vq_vu_backend *b);
/* Milliseconds until the next flush retry (0: now), -1: nothing pending. */
int vq__vu_tx_timeout_ms(const struct vq_vu_backend *b);
/* Forget pending replies (the connection is gone). */
void vq__vu_tx_reset(struct vq_vu_backend *b);
/* Shared with the frontend (fe_*.c): read exactly len bytes of a message
 * that has begun (bounded wait); send a whole msghdr (bounded wait; the
 * backend's replies go through vq__vu_send instead, which never waits). */
struct msghdr;
int vq__vu_read_full(int fd, void *buf, size_t len);
int vq__vu_write_msg(int fd, struct msghdr *mh);
/* Walk the SCM_RIGHTS fds of a received mh: append them to fds[*nfds]
 * while *nfds < max, close the rest.  Returns how many fds came. */
unsigned vq__vu_take_fds(struct msghdr *mh, int *fds, unsigned *nfds, unsigned max);

/* ---- vu_msg.c */
int vq__vu_handle_msg(struct vq_vu_backend *b);

/* ---- vu_queue.c */
int vq__vu_queue_start(struct vq_vu_backend *b, struct vq_vu_queue *q);
void vq__vu_queue_stop(struct vq_vu_backend *b, struct vq_vu_queue *q);
void vq__vu_queue_reset(struct vq_vu_backend *b, struct vq_vu_queue *q);
void vq__vu_queues_pause(struct vq_vu_backend *b);
void vq__vu_queues_resume(struct vq_vu_backend *b);
void vq__vu_reset_device(struct vq_vu_backend *b);
void vq__vu_queue_kicked(struct vq_vu_backend *b, struct vq_vu_queue *q);
/* The control thread's tick: wake workers blocked writing a call or err
 * eventfd (the frontend filled its counter and cleared O_NONBLOCK) and,
 * once they are out, drop the connection. */
void vq__vu_watchdog(struct vq_vu_backend *b);
/* Install the no-op handler of vq_vu_wake_signal() (once). */
void vq__vu_wake_install(void);
int vq__vu_h_vring_num(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
int vq__vu_h_vring_addr(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
int vq__vu_h_vring_base(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
int vq__vu_h_get_vring_base(struct vq_vu_backend *b, struct vq__vu_msg *m,
			    struct vq__vu_reply *r);
int vq__vu_h_vring_kick(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
int vq__vu_h_vring_call(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
int vq__vu_h_vring_err(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
int vq__vu_h_vring_enable(struct vq_vu_backend *b, struct vq__vu_msg *m,
			  struct vq__vu_reply *r);

/* ---- vu_mem.c */
void vq__vu_mem_reset(struct vq_vu_backend *b);
/* True (b->err says where) when the frontend shrank a region's file under
 * the mapping: the SIGBUS guard caught an access past its end. */
bool vq__vu_mem_faulted(struct vq_vu_backend *b);
int vq__vu_h_set_mem_table(struct vq_vu_backend *b, struct vq__vu_msg *m,
			   struct vq__vu_reply *r);
int vq__vu_h_add_mem_reg(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
int vq__vu_h_rem_mem_reg(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);

/* ---- vu_serve.c */
struct vq__vu_serve;
void vq__vu_serve_free(struct vq__vu_serve *s);
void *vq__vu_serve_device(const struct vq__vu_serve *s);

/* ---- vu_backend.c */
void vq__vu_watch(struct vq_vu_backend *b, int fd, uint32_t tag);
void vq__vu_unwatch(struct vq_vu_backend *b, int fd);
void vq__vu_drop(struct vq_vu_backend *b, const char *why);
void vq__vu_close(int *fd);

#endif
