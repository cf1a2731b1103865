/* SPDX-License-Identifier: MIT */
/*
 * virtq-net: a vhost-user-net L2 switch.  Internal header.
 *
 * Threads.  One control thread (main) runs every vhost-user backend on the
 * built-in epoll loop, the control queues and the statistics.  Worker
 * threads own a fixed set of lanes (a lane is one queue pair of one port)
 * and TAP ports; they poll the lanes' tx rings, switch the frames and copy
 * them into the destination lanes' rx rings under the lane's rx spinlock
 * (any worker may deliver to any lane).
 *
 * Quiescence.  A lane is visible to workers only while its tx_on / rx_on
 * flag is set.  queue_stop clears the flag, then waits until every worker's
 * epoch moved (vn_quiesce): a worker increments its epoch (a full barrier)
 * at the top of each loop iteration and never keeps a lane across it.
 */
#ifndef VN_H
#define VN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <virtq/net.h>
#include <virtq/vhost_user.h>

#include "../common/tool.h"

#define VN_MAX_PORTS   64u
#define VN_MAX_WORKERS 64u
#define VN_BURST       32u /* frames per tx burst (<= VQ_NET_BURST_MAX) */
#define VN_TAP_FRAME   (65536u + 64u) /* one TAP read: vnet header + frame */
#define VN_CACHELINE   64

enum vn_mode { VN_SWITCH, VN_SINK, VN_SOURCE };
enum vn_poll { VN_POLL_BUSY, VN_POLL_KICK };

/* Test-and-test-and-set spinlock; uncontended in the common case. */
struct vn_lock {
	atomic_int v;
};

static inline void vn_lock(struct vn_lock *l)
{
	for (;;) {
		if (!atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
			return;
		while (atomic_load_explicit(&l->v, memory_order_relaxed))
			vq_cpu_relax();
	}
}

static inline void vn_unlock(struct vn_lock *l)
{
	atomic_store_explicit(&l->v, 0, memory_order_release);
}

/* Single-writer counter; readers use relaxed loads (vn_get). */
static inline void vn_add(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, *c + v, __ATOMIC_RELAXED);
}

static inline uint64_t vn_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* Per-port counters, switch's view: rx = from the port, tx = to the port. */
struct vn_counters {
	uint64_t rx_pkts, rx_bytes;
	uint64_t tx_pkts, tx_bytes;
	uint64_t drops, errors;
};

struct vn_port;

/* One queue pair of a vhost-user port. */
struct vn_lane {
	_Alignas(VN_CACHELINE) struct vn_lock rx_lock; /* rx ring: any worker */
	atomic_bool rx_on, tx_on;       /* attached and visible to workers */
	struct vq_vu_queue *rxq, *txq;
	struct vn_port *port;
	unsigned pair;
	unsigned worker;                /* owner: polls tx (and rx in source mode) */
};

struct vn_tap;

struct vn_port {
	struct vn_daemon *d;
	unsigned idx;
	char name[64];
	const char *path;               /* vhost-user socket; NULL for a TAP;
					 * d->o.fd_path for the --fd port */
	atomic_int broken;              /* a ring broke: not served until reset */
	atomic_uint_fast64_t nbroken;   /* times a ring broke (counted in errors) */
	atomic_uint rx_live;            /* rx lanes attached: worth flooding to */
	unsigned npairs;
	struct vn_lane *lanes;          /* npairs */
	struct vq_net *net;
	struct vq_vu_backend *vu;
	unsigned ctrl_idx;              /* control queue index, or UINT32_MAX */
	bool ctrl_on;
	struct vn_tap *tap;             /* TAP port */
	unsigned tap_worker;
	struct vn_counters base;        /* vq_net counters folded at reset */
	struct vn_counters last;        /* at the previous statistics line */
};

struct vn_worker {
	_Alignas(VN_CACHELINE) atomic_uint_fast64_t epoch;
	_Alignas(VN_CACHELINE) struct vn_daemon *d;
	unsigned id;
	int cpu;                        /* -1: not pinned */
	pthread_t th;
	bool running;
	int epfd, wakefd;
	struct vn_lane **lanes;         /* owned lanes */
	unsigned nlanes;
	struct vn_port **taps;          /* owned TAP ports */
	unsigned ntaps;
	unsigned tap_skip;
	struct vn_counters *pc;         /* [VN_MAX_PORTS], written by this worker only */
	/* switch scratch */
	struct vq_net_pkt *out[VN_MAX_PORTS][VN_BURST];
	unsigned nout[VN_MAX_PORTS];
	uint8_t touched[VN_MAX_PORTS];
	unsigned ntouched;
	uint8_t fan[VN_MAX_PORTS];      /* where the current addresses go */
	/* TAP scratch; in sink mode, where frames are copied to */
	uint8_t *tapbuf;                /* VN_BURST * VN_TAP_FRAME */
	struct vq_net_pkt tappkt[VN_BURST];
	struct iovec tapiov[VN_BURST];
};

struct vn_mactable;

struct vn_opts {
	const char *sockets[VN_MAX_PORTS];
	unsigned nsockets;
	int listen_fd;                  /* --fd, or -1 */
	char fd_path[108];              /* its bound path (or "fd N") */
	bool print_caps;
	const char *taps[VN_MAX_PORTS];
	unsigned ntaps;
	bool client;
	unsigned queues, workers;
	int cpus[VN_MAX_WORKERS];
	unsigned ncpus;
	enum vn_poll poll;
	enum vn_mode mode;
	bool sink_discard;              /* --sink=discard: drop frames unread */
	unsigned source_size;
	uint8_t source_dst[6];
	enum { VN_SRC_UDP4, VN_SRC_TCP4, VN_SRC_TCP6 } source_proto;
	uint64_t split;      /* EXPERIMENTAL: one VQ_NET_F_SPLIT_* to offer, or 0 */
	unsigned split_thresh; /* frames of at most this many bytes go unsplit */
	double stats_secs;
	bool stats_json;
	uint8_t mac_base[6];
	uint16_t mtu;
	bool in_order;
	unsigned aging;
	bool verbose;
};

struct vn_daemon {
	struct vn_opts o;
	struct vn_port *ports[VN_MAX_PORTS];
	unsigned nports;
	struct vn_worker *workers[VN_MAX_WORKERS];
	unsigned nworkers;
	struct vn_mactable *mac;
	struct vq_vu_loop *loop;
	atomic_bool stop;
	atomic_uint now_s;              /* coarse clock for MAC aging */
	/* source mode: one frame, VN_BURST pointers to it */
	uint8_t *src_frame;
	struct iovec src_iov;
	struct vq_net_pkt src_pkt;
	struct vq_net_pkt *src_pkts[VN_BURST];
	double t_start;
};

/* main.c */
/* The clock and the log are the tools' (tools/common). */
#define vn_now vqt_now
#define vn_log(...) vqt_log(VQT_LOG_INFO, __VA_ARGS__)

/* port.c */
int vn_port_new(struct vn_daemon *d, const char *path, struct vn_port **out);
void vn_port_free(struct vn_port *p);
void vn_port_broken(struct vn_port *p, struct vq_vu_queue *q);
void vn_port_poll_ctrl(struct vn_port *p);

/* worker.c */
int vn_workers_start(struct vn_daemon *d);
void vn_workers_stop(struct vn_daemon *d);
void vn_workers_free(struct vn_daemon *d);
void vn_quiesce(struct vn_daemon *d);
void vn_worker_wake(struct vn_worker *w);
int vn_worker_watch(struct vn_worker *w, int fd, bool on);

/* switch.c */
int vn_mac_new(unsigned aging, struct vn_mactable **out);
void vn_mac_free(struct vn_mactable *t);
void vn_mac_flush_port(struct vn_mactable *t, unsigned port);
void vn_switch_burst(struct vn_worker *w, struct vn_port *src, unsigned hint,
		     struct vq_net_pkt **pkts, unsigned n);
void vn_deliver(struct vn_worker *w, struct vn_port *p, unsigned hint,
		struct vq_net_pkt *const *pkts, unsigned n);

/* tap.c */
int vn_tap_new(struct vn_daemon *d, const char *name, struct vn_port **out);
void vn_tap_free(struct vn_port *p);
int vn_tap_fd(const struct vn_port *p);
unsigned vn_tap_poll(struct vn_worker *w, struct vn_port *p);
void vn_tap_send(struct vn_worker *w, struct vn_port *p, struct vq_net_pkt *const *pkts,
		 unsigned n);

/* stats.c */
void vn_port_counters(struct vn_daemon *d, struct vn_port *p, struct vn_counters *c);
void vn_port_fold(struct vn_port *p);
void vn_stats_print(struct vn_daemon *d, double now, double dt, bool total);

/* source.c */
int vn_source_init(struct vn_daemon *d);
void vn_source_free(struct vn_daemon *d);
unsigned vn_source_lane(struct vn_worker *w, struct vn_lane *l);

#endif
