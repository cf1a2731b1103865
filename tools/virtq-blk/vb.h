/* SPDX-License-Identifier: MIT */
/*
 * virtq-blk: a vhost-user-blk daemon over a file or a block device.
 * Internal header.
 *
 * Threads.  The control thread (main) serves the device model (vq_blk's
 * ops table) with vq_vu_serve on the built-in epoll loop and prints
 * statistics.  One queue thread per request queue owns that queue's ring:
 * it waits (epoll) on the queue's kick fd, the device model's completion fd
 * and its own wake fd, pops and starts requests, and pushes completions
 * (vq_blk_queue_poll).  The device model's I/O threads (--iothreads) do the
 * system calls.
 *
 * Start / stop.  The control thread touches a ring only in the model's
 * queue_start (attach) and queue_stop (detach, after the drain).  The
 * queue_started hook sets the thread's `want` to the queue and waits until
 * the thread adopted it (`have`); queue_stopping sets `want` to NULL and
 * waits until the thread drained every in-flight request of the queue
 * (pushed, flushed, notified) and let go of it.  The handshake is a mutex
 * and a condition variable, so the ring, the memory map and the kick fd
 * the library frees after queue_stop are never touched again.
 */
#ifndef VB_H
#define VB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <virtq/blk.h>
#include <virtq/vhost_user.h>

#include "../common/tool.h"

#define VB_BUDGET 64u /* requests popped per poll before re-checking */

enum vb_poll { VB_POLL_KICK, VB_POLL_BUSY };

struct vb_opts {
	const char *socket;        /* --socket-path, or the --fd socket's name */
	int listen_fd;             /* --fd, or -1 */
	char socket_name[108];     /* the --fd socket's name */
	bool client;
	const char *file;
	bool readonly, direct;
	unsigned queues, iothreads;
	enum vq_blk_engine engine;
	uint32_t blk_size;
	const char *serial;
	enum vb_poll poll;
	double stats_secs;
	bool stats_json;
	bool verbose;
};

struct vb_daemon;

struct vb_qthread {
	struct vb_daemon *d;
	unsigned idx;
	pthread_t th;
	bool running;
	int epfd, wakefd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct vq_vu_queue *want;  /* set by the control thread, under lock */
	struct vq_vu_queue *have;  /* set by the queue thread, under lock */
	bool stop;                 /* under lock */
	/* queue thread only */
	struct vq_dev *dev;        /* the ring attached; valid until detach (the
				    * library clears vq_vu_queue_dev() before
				    * queue_stop waits for us, so never re-read it) */
	int kick_fd;
	bool broken;
};

struct vb_daemon {
	struct vb_opts o;
	struct vq_blk *blk;
	struct vq_vu_loop *loop;
	struct vq_vu_backend *vu;
	struct vb_qthread *qt;     /* o.queues entries */
	struct vq_blk_stats last;  /* at the previous statistics line */
	atomic_uint_fast64_t broken; /* queues broken by a protocol violation */
	double t_start, t_last;
};

/* main.c */
/* The clock and the log are the tools' (tools/common). */
#define vb_now vqt_now
#define vb_log(...) vqt_log(VQT_LOG_INFO, __VA_ARGS__)
void vb_stats_sum(struct vb_daemon *d, struct vq_blk_stats *sum);

/* queue.c */
int vb_qthreads_start(struct vb_daemon *d);
void vb_qthreads_stop(struct vb_daemon *d);
const struct vq_vu_serve_hooks *vb_serve_hooks(void);

#endif
