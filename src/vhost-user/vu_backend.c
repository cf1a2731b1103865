/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend lifetime: the socket (server: listen/accept one
 * frontend at a time; client: connect with backoff), the connection, and
 * the teardown when the frontend goes away.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "unix_sock.h"
#include "vu_internal.h"

#define BACKOFF_MIN_MS ((unsigned)VQ_VU_RETRY_MIN_MS)
#define BACKOFF_MAX_MS ((unsigned)VQ_VU_RETRY_MAX_MS)

void vq__vu_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vq__vu_watch(struct vq_vu_backend *b, int fd, uint32_t tag)
{
	if (b->cfg.loop_ops && b->cfg.loop_ops->watch &&
	    b->cfg.loop_ops->watch(b->cfg.loop, fd, b, tag) < 0)
		vq__vu_log(b, VQ_VU_LOG_ERR, "event loop refused to watch fd %d", fd);
}

void vq__vu_unwatch(struct vq_vu_backend *b, int fd)
{
	if (b->cfg.loop_ops && b->cfg.loop_ops->unwatch)
		b->cfg.loop_ops->unwatch(b->cfg.loop, fd);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void conn_reset_state(struct vq_vu_backend *b)
{
	b->owner = b->broken = false;
	b->features = b->pfeatures = 0;
	b->status = 0;
}

static void conn_up(struct vq_vu_backend *b, int fd)
{
	conn_reset_state(b);
	b->conn_fd = fd;
	b->backoff_ms = BACKOFF_MIN_MS;
	vq__vu_watch(b, fd, VQ_VU_TAG_SOCKET);
	vq__vu_log(b, VQ_VU_LOG_INFO, "frontend connected");
}

/* Tear the connection down: queues, device, memory, fds, state. */
void vq__vu_drop(struct vq_vu_backend *b, const char *why)
{
	if (b->conn_fd < 0)
		return;
	b->broken = true;
	vq__vu_log(b, VQ_VU_LOG_INFO, "disconnect: %s", why);
	vq__vu_reset_device(b);
	vq__vu_mem_reset(b);
	vq__vu_unwatch(b, b->conn_fd);
	vq__vu_close(&b->conn_fd);
	vq__vu_rx_reset(b);
	vq__vu_tx_reset(b);
	conn_reset_state(b);
	if (b->cfg.mode == VQ_VU_SERVER) {
		vq__vu_watch(b, b->listen_fd, VQ_VU_TAG_SOCKET);
	} else {
		b->backoff_ms = BACKOFF_MIN_MS;
		b->retry_at_ns = now_ns() + BACKOFF_MIN_MS * 1000000ull;
	}
}

static int do_listen(struct vq_vu_backend *b)
{
	int fd = vq__unix_listen(b->path, SOCK_NONBLOCK, 1);

	if (fd < 0)
		return fd;
	b->created_path = true;
	b->listen_fd = fd;
	return 0;
}

static int do_accept(struct vq_vu_backend *b)
{
	int fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ECONNABORTED)
			return 0;
		return -errno;
	}
	vq__vu_unwatch(b, b->listen_fd);
	conn_up(b, fd);
	return 0;
}

/* Client mode: one connect attempt; on failure schedule the next one. */
static int do_connect(struct vq_vu_backend *b)
{
	int fd = vq__unix_connect(b->path, SOCK_NONBLOCK);

	if (fd >= 0) {
		conn_up(b, fd);
		return 0;
	}
	if (fd == -ENAMETOOLONG || fd == -EINVAL)
		return fd;
	vq__vu_log(b, VQ_VU_LOG_DEBUG, "connect failed (%s), retry in %u ms", strerror(-fd),
		   b->backoff_ms);
	b->retry_at_ns = now_ns() + b->backoff_ms * 1000000ull;
	b->backoff_ms = b->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b->backoff_ms * 2;
	return 0;
}

static uint64_t offered_features(const struct vq_vu_params *cfg)
{
	return (cfg->features & ~(VQ__VU_F_LOG_ALL | VQ__VU_F_IOMMU_PLATFORM)) |
	       VQ_VU_F_PROTOCOL_FEATURES;
}

static uint64_t offered_pfeatures(const struct vq_vu_params *cfg)
{
	uint64_t pf = cfg->protocol_features & VQ_VU_PROTOCOL_F_ALL;

	if (!cfg->ops->send_rarp)
		pf &= ~VQ_VU_PROTOCOL_F_RARP;
	if (!cfg->ops->set_mtu)
		pf &= ~VQ_VU_PROTOCOL_F_MTU;
	if (!cfg->ops->get_config)
		pf &= ~VQ_VU_PROTOCOL_F_CONFIG;
	return pf;
}

static int check_config(const struct vq_vu_params *cfg)
{
	if (!cfg || !cfg->ops || !cfg->ops->queue_start || !cfg->ops->queue_stop)
		return -EINVAL;
	if (cfg->num_queues == 0 || cfg->num_queues > VQ_VU_MAX_QUEUES)
		return -EINVAL;
	if (cfg->mode == VQ_VU_CLIENT ? !cfg->path : (!cfg->path && cfg->listen_fd < 0))
		return -EINVAL;
	if (cfg->max_mem_slots > VQ_MEM_MAX_REGIONS)
		return -EINVAL;
	return 0;
}

static int backend_alloc(const struct vq_vu_params *cfg, struct vq_vu_backend **out)
{
	struct vq_vu_backend *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->cfg = *cfg;
	b->listen_fd = b->conn_fd = -1;
	b->nq = cfg->num_queues;
	b->max_slots = cfg->max_mem_slots ? cfg->max_mem_slots : VQ_VU_DEFAULT_MEM_SLOTS;
	if (b->max_slots < VQ_VU_MEM_TABLE_REGIONS)
		b->max_slots = VQ_VU_MEM_TABLE_REGIONS;
	b->path = cfg->path ? strdup(cfg->path) : NULL;
	b->name = strdup(cfg->name ? cfg->name : cfg->path ? cfg->path : "fd");
	b->queues = calloc(b->nq, sizeof(*b->queues));
	b->maps = calloc(b->max_slots, sizeof(*b->maps));
	*out = b;
	if ((cfg->path && !b->path) || !b->name || !b->queues || !b->maps)
		return -ENOMEM;
	for (unsigned i = 0; i < b->nq; i++) {
		struct vq_vu_queue *q = &b->queues[i];

		q->b = b;
		q->index = i;
		q->kick_fd = -1;
		q->max_chain = cfg->max_chain;
		atomic_init(&q->call.fd, -1);
		atomic_init(&q->err.fd, -1);
	}
	b->offer_features = offered_features(cfg);
	b->offer_pfeatures = offered_pfeatures(cfg);
	b->backoff_ms = BACKOFF_MIN_MS;
	return 0;
}

int vq_vu_backend_new(const struct vq_vu_params *cfg, struct vq_vu_backend **out)
{
	struct vq_vu_backend *b = NULL;
	int rc = check_config(cfg);

	if (rc < 0)
		return rc;
	vq__vu_wake_install();
	/* Unsealed guest memory is refused without it (vu_mem.c). */
	if (vq_mem_guard_install() < 0)
		vq__vu_log(NULL, VQ_VU_LOG_ERR, "SIGBUS guard not installed: unsealed "
			   "guest memory will be refused");
	rc = backend_alloc(cfg, &b);
	if (rc == 0 && cfg->mode == VQ_VU_SERVER) {
		if (cfg->listen_fd >= 0)
			b->listen_fd = cfg->listen_fd;
		else
			rc = do_listen(b);
	}
	if (rc < 0) {
		vq_vu_backend_free(b);
		return rc;
	}
	b->cfg.listen_fd = -1;
	if (cfg->loop_ops && cfg->loop_ops->attach) {
		cfg->loop_ops->attach(cfg->loop, b);
		b->attached = true;
	}
	if (cfg->mode == VQ_VU_SERVER)
		vq__vu_watch(b, b->listen_fd, VQ_VU_TAG_SOCKET);
	else
		do_connect(b);
	*out = b;
	return 0;
}

void vq_vu_backend_free(struct vq_vu_backend *b)
{
	if (!b)
		return;
	if (b->queues)
		vq__vu_drop(b, "backend freed");
	if (b->listen_fd >= 0) {
		vq__vu_unwatch(b, b->listen_fd);
		vq__vu_close(&b->listen_fd);
	}
	if (b->attached)
		b->cfg.loop_ops->detach(b->cfg.loop, b);
	vq__vu_serve_free(b->serve);
	if (b->created_path)
		unlink(b->path);
	free(b->maps);
	free(b->queues);
	free(b->name);
	free(b->path);
	free(b);
}

/* Milliseconds to the watchdog's next tick while any queue runs, else -1. */
static int watchdog_ms(const struct vq_vu_backend *b)
{
	uint64_t now;
	bool running = b->stuck;

	for (unsigned i = 0; i < b->nq && !running; i++)
		running = b->queues[i].started;
	if (!running)
		return -1;
	now = now_ns();
	return now >= b->wd_next_ns ? 0 : (int)((b->wd_next_ns - now + 999999) / 1000000);
}

/* Pending replies go out first, on any event; a frontend that stopped
 * reading them (past the bytes or time bound) is dropped.  False: dropped. */
static bool tx_flush(struct vq_vu_backend *b)
{
	if (b->conn_fd < 0 || !b->tx.len)
		return true;
	b->err[0] = '\0';
	if (vq__vu_tx_flush(b) == 0)
		return true;
	vq__vu_log(b, VQ_VU_LOG_ERR, "bad connection: %s", b->err);
	vq__vu_drop(b, "replies not read");
	return false;
}

int vq_vu_handle(struct vq_vu_backend *b, uint32_t tag)
{
	if (!tx_flush(b))
		return 0;
	if (tag == VQ_VU_TAG_TIMER) {
		if (b->cfg.mode == VQ_VU_CLIENT && b->conn_fd < 0 && vq_vu_timeout_ms(b) == 0)
			return do_connect(b);
		if (b->conn_fd >= 0 && vq__vu_rx_is_stalled(b)) {
			vq__vu_log(b, VQ_VU_LOG_ERR, "bad message: %s", b->err);
			vq__vu_drop(b, "protocol violation");
		}
		if (b->conn_fd >= 0 && watchdog_ms(b) == 0) {
			b->wd_next_ns = now_ns() + VQ__VU_STUCK_MS * 1000000ull;
			vq__vu_watchdog(b);
		}
		return 0;
	}
	if (VQ_VU_TAG_IS_KICK(tag)) {
		if (VQ_VU_TAG_QUEUE(tag) < b->nq && b->conn_fd >= 0)
			vq__vu_queue_kicked(b, &b->queues[VQ_VU_TAG_QUEUE(tag)]);
		return 0;
	}
	if (b->conn_fd >= 0)
		return vq__vu_handle_msg(b);
	if (b->listen_fd >= 0)
		return do_accept(b);
	return 0;
}

int vq_vu_fd(const struct vq_vu_backend *b)
{
	return b->conn_fd >= 0 ? b->conn_fd : b->listen_fd;
}

/* Whatever is due: the timer when vq_vu_timeout_ms ran out (else it stays
 * at 0 and the caller's poll spins), then the socket if readable. */
int vq_vu_dispatch(struct vq_vu_backend *b)
{
	bool due = vq_vu_timeout_ms(b) == 0;
	struct pollfd p;
	int rc = 0;

	if (due && (rc = vq_vu_handle(b, VQ_VU_TAG_TIMER)) < 0)
		return rc;
	p = (struct pollfd){ .fd = vq_vu_fd(b), .events = POLLIN };
	if (p.fd < 0 || (due && poll(&p, 1, 0) <= 0))
		return rc;
	return vq_vu_handle(b, VQ_VU_TAG_SOCKET);
}

int vq_vu_timeout_ms(const struct vq_vu_backend *b)
{
	uint64_t now;

	if (b->conn_fd >= 0) {
		int rx = vq__vu_rx_timeout_ms(b), wd = watchdog_ms(b), tx = vq__vu_tx_timeout_ms(b);

		rx = rx < 0 || (wd >= 0 && wd < rx) ? wd : rx;
		return rx < 0 || (tx >= 0 && tx < rx) ? tx : rx;
	}
	if (b->cfg.mode != VQ_VU_CLIENT)
		return -1;
	now = now_ns();
	if (now >= b->retry_at_ns)
		return 0;
	return (int)((b->retry_at_ns - now + 999999) / 1000000);
}

void vq_vu_disconnect(struct vq_vu_backend *b)
{
	vq__vu_drop(b, "disconnect requested");
}

bool vq_vu_is_connected(const struct vq_vu_backend *b)
{
	return b->conn_fd >= 0;
}

uint64_t vq_vu_features(const struct vq_vu_backend *b)
{
	return b->features;
}

uint64_t vq_vu_protocol_features(const struct vq_vu_backend *b)
{
	return b->pfeatures;
}

uint8_t vq_vu_status(const struct vq_vu_backend *b)
{
	return b->status;
}

const struct vq_mem *vq_vu_mem(const struct vq_vu_backend *b)
{
	return b->mem;
}

void *vq_vu_device(const struct vq_vu_backend *b)
{
	return b->serve ? vq__vu_serve_device(b->serve) : b->cfg.dev;
}

unsigned vq_vu_num_queues(const struct vq_vu_backend *b)
{
	return b->nq;
}

struct vq_vu_queue *vq_vu_queue(struct vq_vu_backend *b, unsigned index)
{
	return index < b->nq ? &b->queues[index] : NULL;
}

uint32_t vq_vu_generation(const struct vq_vu_backend *b)
{
	/* Acquire: pairs with the release increments at start and stop. */
	return atomic_load_explicit(&((struct vq_vu_backend *)b)->generation,
				    memory_order_acquire);
}
