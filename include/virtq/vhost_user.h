/* SPDX-License-Identifier: MIT */
/*
 * virtq vhost-user backend (device side), as QEMU >= 7.2 and DPDK virtio-user
 * drive it.  Spec: QEMU docs/interop/vhost-user.rst.
 *
 * One struct vq_vu_backend is one vhost-user "port": a unix socket (server
 * mode: we listen and accept one frontend at a time, re-accepting after a
 * disconnect; client mode: we connect, retrying with backoff) plus the state
 * of the current connection: negotiated features, the memory map (struct
 * vq_mem), and one struct vq_vu_queue per vring.  The device model sees
 * neither sockets nor messages: it implements struct vq_vu_device_ops and is
 * handed queues (struct vq_dev from <virtq/ring.h>) to process.  A model
 * written as a struct vq_device (<virtq/device.h>, the shape every model in
 * src/devices/ has) is served with vq_vu_serve() instead: the library's
 * device adapter (see "the device adapter" below).
 *
 * ---- Event loop ---------------------------------------------------------
 * The library owns no threads.  Either
 *   (a) use the built-in epoll loop: vq_vu_loop_new(), pass vq_vu_loop_ops()
 *       and the loop in the config, then call vq_vu_loop_run() repeatedly; or
 *   (b) supply your own struct vq_vu_loop_ops (libvhost-user style watch
 *       callbacks) and call vq_vu_handle(b, tag) when a watched fd is
 *       readable or the timer (vq_vu_timeout_ms) expires; or
 *   (c) pass no loop ops: poll vq_vu_fd(b) yourself (it changes on
 *       accept/disconnect: re-read it after every vq_vu_dispatch) and call
 *       vq_vu_dispatch(b) when it is readable or vq_vu_timeout_ms expired.
 * All of these run on one "control thread" per backend; every device_ops
 * callback is called on it, from inside vq_vu_handle / vq_vu_dispatch /
 * vq_vu_backend_free.
 *
 * ---- Threading contract with data-path workers -------------------------
 * Workers (the daemon's threads) process started queues.  The control
 * thread tells the device with queue_start(q) / queue_stop(q):
 *   - queue_start: q's vq_dev, memory and fds are valid; the device may hand
 *     q to a worker.  vq_vu_queue_dev(q) returns the vq_dev (acquire load).
 *   - queue_stop: the device MUST NOT return until no worker touches q's
 *     vq_dev, its ring memory or its buffers any more (RCU-like quiesce:
 *     e.g. remove q from the worker's list and wait for the worker to pass a
 *     quiescent point).  After return the library frees the vq_dev and may
 *     unmap guest memory or close the kick fd.
 * Any change that affects a running queue (a new memory table, ADD/REM_MEM_REG,
 * a new kick fd, new ring addresses) is done as stop -> change -> start, so
 * workers never see memory or a kick fd change under them.  The ring
 * position carries over (vq_dev_get_state / vq_dev_set_state); chains a
 * worker popped and did not push before queue_stop are lost to the driver,
 * so devices should complete or drop them in queue_stop.
 * Call/err fd changes do NOT stop the queue: the new eventfd is dup2()ed onto
 * the queue's existing fd number, so a worker signalling concurrently writes
 * either the old or the new eventfd, never a closed or reused number.
 * SET_VRING_ENABLE only flips an atomic flag (vq_vu_queue_is_enabled) and calls
 * queue_enable; a started-but-disabled queue must be processed without side
 * effects (net: drop TX, supply no RX), as the spec says.
 * vq_vu_generation(b) increments (release) at every start and stop, so
 * workers that poll queues by index can notice changes cheaply.
 *
 * ---- Protocol behaviour (summary; details in src/vhost-user/) ----------
 * Every message is validated once before dispatch against a table holding
 * its payload size (exact or range), fd count, whether it may come before
 * SET_OWNER and which protocol feature gates it.  On a violation:
 *   - header-level (short read, version != 1, size > VQ_VU_MAX_PAYLOAD,
 *     truncated payload, too many fds, a message not complete 1 s after its
 *     first byte): the connection is closed.  Messages are read without
 *     waiting: a partial one is kept per connection (at most one header,
 *     VQ_VU_MAX_PAYLOAD bytes and VQ_VU_MAX_FDS fds) while the control
 *     thread serves other connections.  Replies are written without
 *     waiting too: what the socket refuses waits in a per-connection
 *     buffer (at most 4 full replies, retried every 5 ms by the timer);
 *     a frontend that leaves them unread past that bound or for 1 s is
 *     disconnected;
 *   - the message has a reply by definition (GET_*): the reply carries a
 *     zero-size payload, which QEMU and DPDK treat as failure;
 *   - need_reply (REPLY_ACK) is set: the ack carries a non-zero u64 (errno);
 *   - otherwise the frontend expects no answer and could not learn of the
 *     failure, so the connection is closed.
 * Unknown requests follow the same rule (error ack with need_reply, else the
 * connection is closed: we cannot know whether the frontend waits for a
 * reply, and a hang is worse than a disconnect).  Each violation logs one
 * line naming the request and the violation.  Every received fd is closed
 * on every error path.  A disconnect stops all queues (queue_stop), calls
 * reset, unmaps memory, closes fds and forgets the connection's state.
 *
 * need_reply is honoured even when REPLY_ACK was not negotiated.
 *
 * Ordering and QEMU / DPDK specifics:
 *   - Before SET_OWNER only the queries and negotiation are accepted
 *     (GET/SET_PROTOCOL_FEATURES, GET_FEATURES, GET_QUEUE_NUM,
 *     GET_MAX_MEM_SLOTS, GET_CONFIG/SET_CONFIG, GET_STATUS): QEMU's
 *     vhost_backend_init sends those first.  SET_OWNER is idempotent (QEMU
 *     sends one per vhost_dev, i.e. per net queue pair, on one socket).
 *   - SET_VRING_CALL / SET_VRING_ERR / SET_VRING_ENABLE are accepted at any
 *     time (QEMU sets the call fd at init, DPDK before the kick).
 *   - SET_VRING_ADDR needs SET_VRING_NUM and a memory table; the addresses
 *     are frontend VAs translated with vq_mem_uaddr_ptr (sizes include the
 *     event-idx words when EVENT_IDX is negotiated; the log address is
 *     ignored).  SET_VRING_KICK needs NUM and ADDR and starts the ring.
 *   - SET_VRING_BASE, packed: bits 0-14 avail idx, 15 avail wrap, 16-30 used
 *     idx, 31 used wrap; a zero high half (DPDK virtio-user) means
 *     used = avail.  Split: the used index is read from the used ring.
 *     GET_VRING_BASE returns the same encoding, stops the ring and closes
 *     its kick and call fds (QEMU and DPDK send new ones before restarting).
 *   - SET_FEATURES may be repeated while rings run (QEMU: once per
 *     vhost_dev) only with the same value.  Without PROTOCOL_FEATURES acked,
 *     rings start enabled; with it they start disabled.
 *   - SET_MEM_TABLE / ADD_MEM_REG / REM_MEM_REG while rings run: the rings
 *     are stopped and restarted on the new map (a ring whose memory went
 *     away stays stopped, with a log line).
 *   - RESET_OWNER and RESET_DEVICE stop and forget every ring and call reset.
 *
 * Guest memory a frontend can shrink: a region's fd must be a regular file
 * (memfd, tmpfs, hugetlbfs) at least mmap_offset + size long.  A file sealed
 * with F_SEAL_SHRINK (QEMU's memory-backend-memfd, seal=on by default;
 * virtq-user) cannot shrink.  Any other region (an unsealed memfd such as
 * DPDK virtio-user's --no-huge memory, a tmpfs or hugetlbfs file) is
 * registered with the SIGBUS guard of <virtq/mem.h>, which
 * vq_vu_backend_new() installs (process-wide, chaining to the previous
 * handler): if the frontend truncates the file, a worker touching a page
 * past the new end reads zeros instead of dying, the connection's socket is
 * shut down, and the control thread drops the connection with a log line
 * ("guest memory shrank under the mapping").  Without the guard (sigaction
 * failed) unsealed regions are refused.
 *
 * Not offered, hence rejected: VHOST_F_LOG_ALL / LOG_SHMFD (SET_LOG_BASE,
 * SET_LOG_FD; QEMU then blocks migration), IOMMU_PLATFORM (IOTLB_MSG),
 * PAGEFAULT (POSTCOPY_*), SLAVE_REQ (SET_BACKEND_REQ_FD), INFLIGHT_SHMFD
 * (GET/SET_INFLIGHT_FD; QEMU's vhost-user-blk works without it),
 * CROSS_ENDIAN (SET_VRING_ENDIAN), INBAND_NOTIFICATIONS, crypto, GPU.
 */
#ifndef VIRTQ_VHOST_USER_H
#define VIRTQ_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include <virtq/device.h>
#include <virtq/mem.h>
#include <virtq/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits */
#define VQ_VU_MAX_QUEUES   256u  /* vrings per backend (kick/call index is 8 bits) */
#define VQ_VU_MAX_PAYLOAD  4096u /* largest message payload accepted */
#define VQ_VU_MAX_CONFIG   256u  /* largest GET/SET_CONFIG access (QEMU's limit) */
#define VQ_VU_MAX_FDS      8u    /* fds in one message (SET_MEM_TABLE) */
#define VQ_VU_MEM_TABLE_REGIONS 8u /* regions in one SET_MEM_TABLE */
#define VQ_VU_DEFAULT_MEM_SLOTS 32u /* GET_MAX_MEM_SLOTS answer by default */

/* ---- transport feature bits (virtio feature word) */
#define VQ_VU_F_PROTOCOL_FEATURES (1ull << 30) /* always offered by the library */

/* ---- protocol feature bits (GET/SET_PROTOCOL_FEATURES) */
#define VQ_VU_PROTOCOL_F_MQ                  (1ull << 0)
#define VQ_VU_PROTOCOL_F_RARP                (1ull << 2)  /* needs ops->send_rarp */
#define VQ_VU_PROTOCOL_F_REPLY_ACK           (1ull << 3)
#define VQ_VU_PROTOCOL_F_MTU                 (1ull << 4)  /* needs ops->set_mtu */
#define VQ_VU_PROTOCOL_F_CONFIG              (1ull << 9)  /* needs ops->get_config */
#define VQ_VU_PROTOCOL_F_RESET_DEVICE        (1ull << 13)
#define VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS (1ull << 15)
#define VQ_VU_PROTOCOL_F_STATUS              (1ull << 16)
/* Everything the library implements; the config's mask is ANDed with it. */
#define VQ_VU_PROTOCOL_F_ALL                                                   \
	(VQ_VU_PROTOCOL_F_MQ | VQ_VU_PROTOCOL_F_RARP | VQ_VU_PROTOCOL_F_REPLY_ACK | \
	 VQ_VU_PROTOCOL_F_MTU | VQ_VU_PROTOCOL_F_CONFIG |                        \
	 VQ_VU_PROTOCOL_F_RESET_DEVICE | VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS |  \
	 VQ_VU_PROTOCOL_F_STATUS)

struct vq_vu_backend;
struct vq_vu_queue;

/*
 * The device model.  `dev` is the config's opaque device pointer.  Every
 * callback runs on the control thread.  Optional callbacks may be NULL.
 * Callbacks returning int return 0 or -errno; a failure is reported to the
 * frontend (error reply, or a closed connection when no reply is possible).
 */
struct vq_vu_device_ops {
	/* Optional.  SET_FEATURES: the frontend acked these (a subset of the
	 * offered features, checked by the library). */
	int (*set_features)(void *dev, uint64_t features);
	/* Optional (no CONFIG protocol feature without it).  offset+len is
	 * overflow-checked, len <= VQ_VU_MAX_CONFIG; the device checks bounds. */
	int (*get_config)(void *dev, uint32_t offset, void *buf, uint32_t len);
	/* Optional (-EOPNOTSUPP without).  flags: 0 = driver write, 1 = migration. */
	int (*set_config)(void *dev, uint32_t offset, const void *buf, uint32_t len,
			  uint32_t flags);
	/* Required.  Queue q is started (see the threading contract above).
	 * Returning -errno leaves the queue stopped. */
	int (*queue_start)(void *dev, struct vq_vu_queue *q);
	/* Required.  Quiesce: return only when no worker uses q any more. */
	void (*queue_stop)(void *dev, struct vq_vu_queue *q);
	/* Optional.  SET_VRING_ENABLE (or implicit enable); called for started
	 * and stopped queues alike. */
	void (*queue_enable)(void *dev, struct vq_vu_queue *q, bool enabled);
	/* Optional.  The kick fd of a started queue became readable; only with
	 * loop ops that watch kick fds (the built-in loop does when this is
	 * set).  The library has already drained the eventfd. */
	void (*queue_kick)(void *dev, struct vq_vu_queue *q);
	/* Optional.  SET_STATUS (virtio device status byte). */
	int (*set_status)(void *dev, uint8_t status);
	/* Optional.  The connection went away, or RESET_OWNER / RESET_DEVICE:
	 * every queue is already stopped; forget per-connection state. */
	void (*reset)(void *dev);
	/* Optional (no RARP protocol feature without it).  SEND_RARP. */
	int (*send_rarp)(void *dev, const uint8_t mac[6]);
	/* Optional (no MTU protocol feature without it).  NET_SET_MTU. */
	int (*set_mtu)(void *dev, uint16_t mtu);
};

/*
 * Host event loop, libvhost-user style.  watch: call vq_vu_handle(b, tag)
 * whenever fd is readable (level-triggered) until unwatch(fd).  attach /
 * detach (optional) bracket the backend's life so the loop can poll
 * vq_vu_timeout_ms(b) and call vq_vu_handle(b, VQ_VU_TAG_TIMER) when due.
 */
#define VQ_VU_TAG_SOCKET 0u          /* the listening or connected socket */
#define VQ_VU_TAG_TIMER  0xffffffffu /* reconnect or stalled-message timer */
#define VQ_VU_TAG_KICK(i) (1u + (unsigned)(i)) /* kick fd of queue i */
/* The queue a kick tag names (the inverse of VQ_VU_TAG_KICK); only for a
 * tag that is neither VQ_VU_TAG_SOCKET nor VQ_VU_TAG_TIMER. */
#define VQ_VU_TAG_QUEUE(tag) ((unsigned)(tag) - 1u)
/* Is tag a kick tag? */
#define VQ_VU_TAG_IS_KICK(tag) ((tag) != VQ_VU_TAG_SOCKET && (tag) != VQ_VU_TAG_TIMER)

struct vq_vu_loop_ops {
	int (*watch)(void *loop, int fd, struct vq_vu_backend *b, uint32_t tag);
	void (*unwatch)(void *loop, int fd);
	void (*attach)(void *loop, struct vq_vu_backend *b);
	void (*detach)(void *loop, struct vq_vu_backend *b);
};

enum vq_vu_mode {
	VQ_VU_SERVER = 0, /* listen on path (or on listen_fd) and accept */
	VQ_VU_CLIENT = 1, /* connect to path, retry with backoff */
};

/* Client mode retries a failed connect after VQ_VU_RETRY_MIN_MS, doubling the
 * wait up to VQ_VU_RETRY_MAX_MS, for as long as the backend lives (also
 * after a disconnect). */
#define VQ_VU_RETRY_MIN_MS 50
#define VQ_VU_RETRY_MAX_MS 2000

struct vq_vu_params {
	const char *name;      /* for log lines; NULL = the path */
	enum vq_vu_mode mode;
	const char *path;      /* unix socket path */
	int listen_fd;         /* server: an already listening socket (owned
				* by the backend from then on), or -1 */
	const struct vq_vu_device_ops *ops;
	void *dev;             /* passed to every ops callback */
	uint64_t features;     /* device + transport feature bits offered
				* (IOMMU_PLATFORM and LOG_ALL are masked off,
				* PROTOCOL_FEATURES is added) */
	uint64_t protocol_features; /* mask, e.g. VQ_VU_PROTOCOL_F_ALL */
	unsigned num_queues;   /* vrings, 1..VQ_VU_MAX_QUEUES */
	uint64_t queue_num;    /* GET_QUEUE_NUM answer; 0 = num_queues
				* (net devices answer queue pairs) */
	unsigned max_mem_slots; /* GET_MAX_MEM_SLOTS answer; 0 = default */
	unsigned max_chain;    /* vq_ring_params.max_chain; 0 = queue size */
	const struct vq_vu_loop_ops *loop_ops; /* NULL: mode (c) above */
	void *loop;
};

/* ---- backend lifetime */

/*
 * Create a backend.  Server mode binds and listens now (an existing socket
 * file at path is replaced); client mode tries one connect now and retries
 * later on failure.  Returns 0 and *out; -EINVAL for a bad config; -errno
 * from socket/bind/listen.
 */
int vq_vu_backend_new(const struct vq_vu_params *cfg, struct vq_vu_backend **out);

/* Drop any connection (stopping queues), close everything, unlink the
 * socket file we created.  NULL is a no-op. */
void vq_vu_backend_free(struct vq_vu_backend *b);

/* ---- driving the control plane */

/*
 * Handle one event: tag VQ_VU_TAG_SOCKET (accept a frontend, or read and
 * handle one message), VQ_VU_TAG_TIMER (client-mode reconnect attempt) or
 * VQ_VU_TAG_KICK(i).  Frontend misbehaviour is handled inside (reply or
 * disconnect) and returns 0; returns -errno only for local failures
 * (e.g. the listening socket failed).
 */
int vq_vu_handle(struct vq_vu_backend *b, uint32_t tag);

/* Mode (c): the fd to poll now (listening or connected socket; -1 while a
 * client waits to reconnect), and vq_vu_handle for whatever is due. */
int vq_vu_fd(const struct vq_vu_backend *b);
int vq_vu_dispatch(struct vq_vu_backend *b);

/* Milliseconds until the backend's timer is due (0 = now), -1 = none: a
 * client-mode reconnect attempt, the deadline of a message that has begun
 * to arrive but is not complete (a stalled frontend is dropped), the next
 * retry of replies the socket did not take (every 5 ms while any wait), or,
 * while queues run, the next tick of the eventfd watchdog (every 100 ms). */
int vq_vu_timeout_ms(const struct vq_vu_backend *b);

/*
 * The signal (a real-time one) the eventfd watchdog sends to a worker that
 * has been blocked for 100 ms writing a call or err eventfd: a frontend can
 * fill the counter of an eventfd it shares with us and clear O_NONBLOCK on
 * it, and the write then waits until it reads.  The backend installs a
 * no-op handler (without SA_RESTART, when the signal had none), so the
 * write fails with EINTR; the connection is then dropped.  Threads that
 * call vq_vu_queue_signal / _notify / _signal_error must not block it.
 */
int vq_vu_wake_signal(void);

/* The getters below and vq_vu_disconnect belong to the control thread
 * (workers use the vq_vu_queue_* accessors instead). */

/* Drop the current connection as if the frontend had closed it. */
void vq_vu_disconnect(struct vq_vu_backend *b);

bool vq_vu_is_connected(const struct vq_vu_backend *b);
uint64_t vq_vu_features(const struct vq_vu_backend *b);          /* negotiated */
uint64_t vq_vu_protocol_features(const struct vq_vu_backend *b); /* negotiated */
uint8_t vq_vu_status(const struct vq_vu_backend *b);
/* Current memory map, or NULL while none; valid until the next memory
 * message (control thread) - workers use their vq_dev instead. */
const struct vq_mem *vq_vu_mem(const struct vq_vu_backend *b);
void *vq_vu_device(const struct vq_vu_backend *b); /* the config's dev */
/*
 * The file behind guest memory [hva, hva + len) of the current map (a
 * proxy hands it on to another backend): returns the backend's own fd
 * (borrowed: valid until the next memory message; dup it to keep it) and
 * its file offset in *offset; -ENOENT when no one region's mapping covers
 * the range; -EINVAL for len 0 or a wrap.  Control thread.
 */
int vq_vu_mem_fd(const struct vq_vu_backend *b, const void *hva, uint64_t len,
		 uint64_t *offset);

/* ---- queues (index 0..num_queues-1; the objects live as long as b) */

unsigned vq_vu_num_queues(const struct vq_vu_backend *b);
struct vq_vu_queue *vq_vu_queue(struct vq_vu_backend *b, unsigned index);
uint32_t vq_vu_generation(const struct vq_vu_backend *b); /* acquire */

unsigned vq_vu_queue_index(const struct vq_vu_queue *q);
struct vq_vu_backend *vq_vu_queue_backend(const struct vq_vu_queue *q);
/* The started queue's ring (acquire load), NULL while stopped. */
struct vq_dev *vq_vu_queue_dev(const struct vq_vu_queue *q);
bool vq_vu_queue_is_started(const struct vq_vu_queue *q);
bool vq_vu_queue_is_enabled(const struct vq_vu_queue *q); /* acquire */
/* Kick eventfd (-1: none, the device must poll the ring). */
int vq_vu_queue_kick_fd(const struct vq_vu_queue *q);
/* Read the kick eventfd without blocking: 1 kicked, 0 not, -errno. */
int vq_vu_queue_drain_kick(const struct vq_vu_queue *q);
/* After vq_dev_flush: signal the call eventfd if vq_dev_need_notify says
 * so.  1 signalled, 0 not needed (or no call fd), -errno. */
int vq_vu_queue_notify(struct vq_vu_queue *q);
/* Signal the call eventfd unconditionally.  1, 0 (no call fd), -errno. */
int vq_vu_queue_signal(struct vq_vu_queue *q);
/* Signal the error eventfd (e.g. the ring went broken).  Same returns. */
int vq_vu_queue_signal_error(struct vq_vu_queue *q);
/* Per-queue pointer for the device, kept across start/stop. */
void vq_vu_queue_set_priv(struct vq_vu_queue *q, void *priv);
void *vq_vu_queue_priv(const struct vq_vu_queue *q);

/* ---- the device adapter: serve a struct vq_device (<virtq/device.h>)
 *
 * vq_vu_serve() creates a backend whose device callbacks are the model's
 * ops, by queue index:
 *   GET_FEATURES      ops->get_features (read once, at vq_vu_serve), plus
 *                     VQ_VU_F_PROTOCOL_FEATURES;
 *   SET_FEATURES      ops->set_features without the PROTOCOL_FEATURES bit;
 *                     a repeat of the value the model already took (QEMU
 *                     sends one per vhost_dev) does not reach it;
 *   GET/SET_CONFIG    ops->get_config / set_config; with ops->config_size,
 *                     reads past it but within VQ_VU_MAX_CONFIG are zeros;
 *   queue count       ops->num_queues (read once); max_chain is asked per
 *                     queue at vq_vu_serve and after each SET_FEATURES;
 *   ring starts       ops->queue_start(idx, vq_dev), then hooks->queue_started;
 *   ring stops        hooks->queue_stopping, then ops->queue_stop;
 *   SET_VRING_ENABLE  ops->queue_enable, then hooks->queue_enabled;
 *   kicks             ops->queue_kick, for every started queue whose kick fd
 *                     the daemon did not take (queue_started returned 1);
 *   reset/disconnect  hooks->reset, then ops->reset.
 * Before it returns, vq_vu_serve calls ops->attach with a vq_device_host
 * whose notify signals the queue's call eventfd (the model has already
 * asked vq_dev_need_notify) and whose queue_broken signals the queue's
 * error eventfd, then calls hooks->queue_broken.  config_changed only logs
 * (no backend request channel).  vq_vu_backend_free detaches (attach NULL)
 * after the connection was dropped.  vq_vu_device(b) returns device.dev.
 *
 * Every op and hook runs on the control thread, except queue_broken, which
 * runs on the thread that calls the host's queue_broken.
 */
struct vq_vu_serve_hooks {
	/* Optional.  Queue idx was started by the model: hand q to a thread.
	 * Return 1 when that thread reads the kick fd from now on (the
	 * control loop then leaves it alone), 0 to leave kicks to the loop
	 * (ops->queue_kick), -errno to refuse (the model's queue_stop is
	 * called and the queue stays stopped). */
	int (*queue_started)(void *hook, unsigned idx, struct vq_vu_queue *q);
	/* Optional.  Queue idx stops: return only when no daemon thread
	 * touches q, its vq_dev or its kick fd any more.  The model's
	 * queue_stop follows. */
	void (*queue_stopping)(void *hook, unsigned idx, struct vq_vu_queue *q);
	/* Optional.  After the model's queue_enable (e.g. wake a thread). */
	void (*queue_enabled)(void *hook, unsigned idx, struct vq_vu_queue *q, bool on);
	/* Optional.  The model reported queue idx broken; the error eventfd
	 * was signalled already. */
	void (*queue_broken)(void *hook, unsigned idx, struct vq_vu_queue *q);
	/* Optional.  Before the model's reset (every queue is stopped). */
	void (*reset)(void *hook);
	/* Optional: the RARP and MTU protocol features are offered only with
	 * them (vhost-user-net messages, SEND_RARP and NET_SET_MTU). */
	int (*send_rarp)(void *hook, const uint8_t mac[6]);
	int (*set_mtu)(void *hook, uint16_t mtu);
};

struct vq_vu_serve_params {
	const char *name;      /* for log lines; NULL = the path */
	enum vq_vu_mode mode;
	const char *path;      /* unix socket path */
	int listen_fd;         /* server: an already listening socket, or -1 */
	struct vq_device device; /* the model: ops (kept) and its object */
	uint64_t protocol_features; /* mask; 0 = VQ_VU_PROTOCOL_F_ALL */
	uint64_t queue_num;    /* GET_QUEUE_NUM answer; 0 = num_queues */
	unsigned max_mem_slots; /* GET_MAX_MEM_SLOTS answer; 0 = default */
	const struct vq_vu_loop_ops *loop_ops; /* NULL: mode (c) above */
	void *loop;
	const struct vq_vu_serve_hooks *hooks; /* NULL: none (copied) */
	void *hook;            /* passed to every hook */
};

/*
 * Serve p->device over vhost-user (see above).  Returns 0 and *out, a
 * backend driven like any other (vq_vu_handle, the loop) and freed with
 * vq_vu_backend_free; -EINVAL when a required op is missing or the
 * backend's config is bad; -errno from vq_vu_backend_new.
 */
int vq_vu_serve(const struct vq_vu_serve_params *p, struct vq_vu_backend **out);

/* ---- built-in epoll loop (optional convenience) */

struct vq_vu_loop;
int vq_vu_loop_new(struct vq_vu_loop **out);
/* Free the loop; free its backends first. */
void vq_vu_loop_free(struct vq_vu_loop *l);
/* Ops to put in vq_vu_params.loop_ops together with .loop = l. */
const struct vq_vu_loop_ops *vq_vu_loop_ops(void);
/* Wait up to timeout_ms (-1 forever) and handle what is ready, including
 * due reconnect timers.  Returns events handled (readable fds of
 * vq_vu_loop_add_fd counted), or -errno. */
int vq_vu_loop_run(struct vq_vu_loop *l, int timeout_ms);
/* Also wake vq_vu_loop_run when fd (the caller's, e.g. a device model's
 * epoll fd) is readable; the caller handles it after the run.  The loop
 * does not close fd; it must stay open while the loop runs.  0, -EBADF,
 * -errno from epoll_ctl. */
int vq_vu_loop_add_fd(struct vq_vu_loop *l, int fd);

/* ---- logging */

enum vq_vu_log_level {
	VQ_VU_LOG_ERR = 3,   /* protocol violations, local failures */
	VQ_VU_LOG_WARN = 4,
	VQ_VU_LOG_INFO = 6,  /* connect / disconnect */
	VQ_VU_LOG_DEBUG = 7, /* every message */
};
typedef void (*vq_vu_log_fn)(void *ctx, int level, const char *msg);
/* Process-wide hook; fn NULL restores the default (stderr, "virtq: "
 * prefix, levels <= max_level; default max_level is INFO). */
void vq_vu_set_log(vq_vu_log_fn fn, void *ctx, int max_level);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_VHOST_USER_H */
