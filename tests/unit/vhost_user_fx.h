/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user backend over real AF_UNIX sockets, in process: the backend
 * runs the built-in loop on a thread; the test plays the frontend (its own wire
 * structs, written from the spec) and the driver (vq_drv on shared memfd
 * memory).  The recording device model, log capture, the environment and the
 * test frontend, shared by the vhost_user* programs.
 */
#ifndef VQ_TEST_VHOST_USER_FX_H
#define VQ_TEST_VHOST_USER_FX_H

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <virtq/vhost_user.h>

#include "../harness/test.h"
#include "../harness/vu_client.h"
#include "vhost-user/vu_proto.h"

/* ---- wire format: the library's (vhost-user/vu_proto.h) */
/* A GET_CONFIG payload with room for 32 bytes of config space. */
struct cfgmsg {
	struct vq__vu_config h;
	uint8_t data[32];
};

#define NQ 4
#define MEM_SIZE (1u << 20)
#define GPA_BASE 0x100000ull
#define QSIZE 256u
#define BUF_OUT 0x80000u
#define BUF_IN 0x81000u
#define DEV_FEATURES (VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_F_INDIRECT | VQ_F_PACKED | \
		      (1ull << 5) | (1ull << 26) | (1ull << 33))
#define PF_WANT (VQ_VU_PROTOCOL_F_MQ | VQ_VU_PROTOCOL_F_REPLY_ACK | VQ_VU_PROTOCOL_F_CONFIG | \
		 VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS | VQ_VU_PROTOCOL_F_STATUS)

/* ---- the device model: records what the backend made it see */
static struct tdev {
	pthread_mutex_t mu;
	int starts, stops, resets, kicks;
	int last_start;
	bool started[NQ];
	char seen[16];
	void *seen_ptr;
	uint64_t seen_gpa;
	bool ptr_ok;
	uint8_t config[32];
} D = { .mu = PTHREAD_MUTEX_INITIALIZER };

static inline int d_start(void *dev, struct vq_vu_queue *q)
{
	pthread_mutex_lock(&D.mu);
	D.starts++;
	D.last_start = (int)vq_vu_queue_index(q);
	D.started[vq_vu_queue_index(q)] = vq_vu_queue_dev(q) != NULL;
	pthread_mutex_unlock(&D.mu);
	return 0;
}

static inline void d_stop(void *dev, struct vq_vu_queue *q)
{
	pthread_mutex_lock(&D.mu);
	D.stops++;
	D.started[vq_vu_queue_index(q)] = false;
	pthread_mutex_unlock(&D.mu);
}

static inline void d_kick(void *dev, struct vq_vu_queue *q)
{
	struct vq_dev *vd = vq_vu_queue_dev(q);
	struct vq_vu_backend *b = vq_vu_queue_backend(q);
	struct iovec iov[4];
	struct vq_elem e = { .iov = iov, .iov_cap = 4 };

	pthread_mutex_lock(&D.mu);
	D.kicks++;
	while (vd && vq_dev_pop(vd, &e) == 1) {
		if (e.out_num >= 1) {
			memcpy(D.seen, iov[0].iov_base, sizeof(D.seen));
			D.seen_ptr = iov[0].iov_base;
			D.ptr_ok = iov[0].iov_base == vq_mem_ptr(vq_vu_mem(b), D.seen_gpa, 16,
								 VQ_MEM_READ);
		}
		if (e.in_num >= 1)
			memcpy(iov[e.out_num].iov_base, "pong", 4);
		vq_dev_push(vd, &e, e.in_num ? 4 : 0);
	}
	if (vd) {
		vq_dev_flush(vd);
		vq_vu_queue_notify(q);
	}
	pthread_mutex_unlock(&D.mu);
}

static inline void d_reset(void *dev)
{
	pthread_mutex_lock(&D.mu);
	D.resets++;
	pthread_mutex_unlock(&D.mu);
}

static inline int d_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	if (off > sizeof(D.config) || len > sizeof(D.config) - off)
		return -EINVAL;
	memcpy(buf, D.config + off, len);
	return 0;
}

static const struct vq_vu_device_ops dops = {
	.queue_start = d_start,
	.queue_stop = d_stop,
	.queue_kick = d_kick,
	.reset = d_reset,
	.get_config = d_get_config,
};

static inline int dget(int *field)
{
	int v;

	pthread_mutex_lock(&D.mu);
	v = *field;
	pthread_mutex_unlock(&D.mu);
	return v;
}

/* ---- log capture */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char logbuf[32768];

static inline void log_hook(void *ctx, int level, const char *msg)
{
	pthread_mutex_lock(&log_mu);
	size_t n = strlen(logbuf);

	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", msg);
	pthread_mutex_unlock(&log_mu);
}

static inline bool log_has(const char *s)
{
	bool r;

	pthread_mutex_lock(&log_mu);
	r = strstr(logbuf, s) != NULL;
	pthread_mutex_unlock(&log_mu);
	return r;
}

static inline void log_clear(void)
{
	pthread_mutex_lock(&log_mu);
	logbuf[0] = '\0';
	pthread_mutex_unlock(&log_mu);
}

/* ---- environment: backend + loop thread + guest memory */
static struct env {
	char dir[64], path[128];
	struct vq_vu_loop *loop;
	struct vq_vu_backend *b;
	pthread_t thr;
	atomic_bool stop;
	int memfd;
	uint8_t *mem;
} E;

static inline void *loop_thread(void *arg)
{
	while (!atomic_load(&E.stop))
		if (vq_vu_loop_run(E.loop, 20) < 0)
			break;
	return NULL;
}

static inline void env_start(enum vq_vu_mode mode)
{
	struct vq_vu_params cfg = {
		.name = "test", .mode = mode, .path = E.path, .listen_fd = -1,
		.ops = &dops, .features = DEV_FEATURES, .protocol_features = VQ_VU_PROTOCOL_F_ALL,
		.num_queues = NQ, .loop_ops = vq_vu_loop_ops(),
	};

	vq_vu_set_log(log_hook, NULL, VQ_VU_LOG_DEBUG);
	for (unsigned i = 0; i < sizeof(D.config); i++)
		D.config[i] = (uint8_t)(0xa0 + i);
	strcpy(E.dir, "/tmp/vqvu.XXXXXX");
	ASSERT_TRUE(mkdtemp(E.dir) != NULL);
	snprintf(E.path, sizeof(E.path), "%s/sock", E.dir);
	E.memfd = memfd_create("vqvu-guest", MFD_CLOEXEC);
	ASSERT_GE(E.memfd, 0);
	ASSERT_EQ(ftruncate(E.memfd, MEM_SIZE), 0);
	E.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, E.memfd, 0);
	ASSERT_TRUE(E.mem != MAP_FAILED);
	ASSERT_EQ(vq_vu_loop_new(&E.loop), 0);
	cfg.loop = E.loop;
	/* Client mode: nobody listens yet, the backend keeps retrying. */
	ASSERT_EQ(vq_vu_backend_new(&cfg, &E.b), 0);
	ASSERT_FALSE(vq_vu_is_connected(E.b));
	if (mode == VQ_VU_CLIENT)
		ASSERT_GE(vq_vu_timeout_ms(E.b), 0);
	ASSERT_EQ(pthread_create(&E.thr, NULL, loop_thread, NULL), 0);
}

static inline void env_stop(void)
{
	atomic_store(&E.stop, true);
	pthread_join(E.thr, NULL);
	vq_vu_backend_free(E.b);
	vq_vu_loop_free(E.loop);
	unlink(E.path);
	rmdir(E.dir);
}

static inline int count_guest_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, "vqvu-guest") != NULL;
	if (f)
		fclose(f);
	return n;
}

/* ---- the test frontend */
static inline int fe_connect(void)
{
	int fd = vuc_connect(E.path, 0);

	ASSERT_GE(fd, 0);
	return fd;
}

static inline void fe_send(int fd, uint32_t req, uint32_t flags, const void *p, uint32_t size,
		    const int *fds, unsigned nfds)
{
	ASSERT_EQ(vuc_send(fd, req, flags, p, size, fds, nfds), 0);
}

/* A reply's payload size, or -1 when the backend closed the connection. */
static inline int fe_recv(int fd, uint32_t req, void *p, size_t max)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	struct vq__vu_hdr h;
	ssize_t n;

	ASSERT_EQ(poll(&pf, 1, 5000), 1);
	n = recv(fd, &h, sizeof(h), MSG_WAITALL);
	if (n <= 0)
		return -1;
	ASSERT_EQ(n, (ssize_t)sizeof(h));
	ASSERT_EQ(h.request, req);
	ASSERT_EQ(h.flags, VQ__VU_VERSION | VQ__VU_FLAG_REPLY);
	ASSERT_LE(h.size, max);
	if (h.size)
		ASSERT_EQ(recv(fd, p, h.size, MSG_WAITALL), (ssize_t)h.size);
	return (int)h.size;
}

static inline uint64_t fe_get_u64(int fd, uint32_t req)
{
	uint64_t v = 0;

	fe_send(fd, req, VQ__VU_VERSION, NULL, 0, NULL, 0);
	ASSERT_EQ(fe_recv(fd, req, &v, sizeof(v)), 8);
	return v;
}

/* Send with need_reply; the ack's u64, or -1 when the connection closed. */
static inline int64_t fe_ack(int fd, uint32_t req, const void *p, uint32_t size, const int *fds,
		      unsigned nfds)
{
	uint64_t v = 0;
	int n;

	fe_send(fd, req, VQ__VU_VERSION | VQ__VU_FLAG_NEED_REPLY, p, size, fds, nfds);
	n = fe_recv(fd, req, &v, sizeof(v));
	if (n < 0)
		return -1;
	ASSERT_EQ(n, 8);
	return (int64_t)v;
}

static inline bool fe_closed(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	char c;

	ssize_t n;

	if (poll(&pf, 1, 5000) != 1)
		return false;
	n = recv(fd, &c, 1, 0);
	/* ECONNRESET: the backend closed with our bytes still unread. */
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static inline void fe_hello(int fd, uint64_t features, uint64_t pf)
{
	uint64_t f;

	fe_send(fd, VQ__VU_SET_OWNER, VQ__VU_VERSION, NULL, 0, NULL, 0);
	f = fe_get_u64(fd, VQ__VU_GET_FEATURES);
	ASSERT_TRUE(f & VQ_VU_F_PROTOCOL_FEATURES);
	ASSERT_EQ_U64(fe_get_u64(fd, VQ__VU_GET_PROTOCOL_FEATURES) & pf, pf);
	fe_send(fd, VQ__VU_SET_PROTOCOL_FEATURES, VQ__VU_VERSION, &pf, 8, NULL, 0);
	features |= VQ_VU_F_PROTOCOL_FEATURES;
	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_FEATURES, &features, 8, NULL, 0), 0);
}

static inline void fe_mem_table(int fd)
{
	struct vq__vu_mem_table t = { .nregions = 1, .regions[0] = { GPA_BASE, MEM_SIZE, (uintptr_t)E.mem, 0 } };

	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_MEM_TABLE, &t, offsetof(struct vq__vu_mem_table, regions[1]), &E.memfd, 1), 0);
}

static inline uint64_t q_off(unsigned idx)
{
	return 0x10000ull * idx;
}

/* NUM, BASE, ADDR, CALL, KICK for queue idx; returns kick and call fds. */
static inline void fe_vring(int fd, unsigned idx, uint32_t base, int *kick, int *call)
{
	struct vhost_vring_state s = { idx, QSIZE };
	uint64_t ua = (uintptr_t)E.mem + q_off(idx);
	struct vhost_vring_addr a = { idx, 0, ua, ua + 0x2000, ua + 0x1000, 0 };
	uint64_t u = idx;

	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);
	s.num = base;
	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_VRING_BASE, &s, sizeof(s), NULL, 0), 0);
	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	*call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	*kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_VRING_CALL, &u, 8, call, 1), 0);
	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_VRING_KICK, &u, 8, kick, 1), 0);
}

static inline struct vq_drv *drv_for(unsigned idx, bool packed)
{
	struct vq_drv_params c = { .ring = {
		.layout = packed ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT, .size = QSIZE,
		.features = VQ_F_VERSION_1 | (packed ? VQ_F_PACKED : 0),
		.desc = E.mem + q_off(idx), .avail = E.mem + q_off(idx) + 0x1000,
		.used = E.mem + q_off(idx) + 0x2000 } };
	struct vq_drv *d;

	ASSERT_EQ(vq_drv_new(&c, &d), 0);
	return d;
}

/* One request through the ring: driver adds, kicks, waits for the call. */
static inline void roundtrip(struct vq_drv *d, int kick, int call)
{
	struct vq_seg sg[2] = { { GPA_BASE + BUF_OUT, 16 }, { GPA_BASE + BUF_IN, 64 } };
	struct pollfd pf = { .fd = call, .events = POLLIN };
	uint64_t one = 1;
	void *tok;
	uint32_t len;

	memcpy(E.mem + BUF_OUT, "hello, backend!", 16);
	memset(E.mem + BUF_IN, 0, 64);
	pthread_mutex_lock(&D.mu);
	D.seen_gpa = GPA_BASE + BUF_OUT;
	pthread_mutex_unlock(&D.mu);
	while (read(call, &one, 8) == 8) /* drain: wait for this request's call */
		;
	one = 1;
	ASSERT_EQ(vq_drv_add(d, sg, 1, 1, (void *)0x1234), 0);
	vq_drv_kick_prepare(d);
	ASSERT_EQ(write(kick, &one, 8), 8);
	ASSERT_EQ(poll(&pf, 1, 5000), 1);
	ASSERT_EQ(vq_drv_get(d, &tok, &len), 1);
	ASSERT_TRUE(tok == (void *)0x1234);
	ASSERT_EQ(len, 4);
	ASSERT_MEM_EQ(E.mem + BUF_IN, "pong", 4);
	pthread_mutex_lock(&D.mu);
	ASSERT_MEM_EQ(D.seen, "hello, backend!", 16);
	ASSERT_TRUE(D.ptr_ok);
	ASSERT_TRUE(D.seen_ptr != E.mem + BUF_OUT); /* the backend's own mapping */
	pthread_mutex_unlock(&D.mu);
}

static inline void ring_test(bool packed)
{
	int fd, kick, call, kick1, call1;
	struct vq_drv *d;
	struct vhost_vring_state s = { 0, 1 };
	struct vq_vu_queue *q;

	env_start(VQ_VU_SERVER);
	fd = fe_connect();
	fe_hello(fd, VQ_F_VERSION_1 | (packed ? VQ_F_PACKED : 0), PF_WANT);
	fe_mem_table(fd);
	fe_vring(fd, 0, packed ? 0x80008000u : 0, &kick, &call);
	ASSERT_EQ(dget(&D.starts), 1);
	ASSERT_EQ(dget(&D.last_start), 0);
	q = vq_vu_queue(E.b, 0);
	ASSERT_TRUE(vq_vu_queue_is_started(q));
	ASSERT_FALSE(vq_vu_queue_is_enabled(q)); /* PROTOCOL_FEATURES: starts disabled */
	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0), 0);
	ASSERT_TRUE(vq_vu_queue_is_enabled(q));
	fe_vring(fd, 3, packed ? 0x80008000u : 0, &kick1, &call1); /* multiqueue */
	ASSERT_EQ(dget(&D.starts), 2);
	ASSERT_EQ(dget(&D.last_start), 3);
	d = drv_for(0, packed);
	roundtrip(d, kick, call);
	s = (struct vhost_vring_state){ 0, 0 };
	fe_send(fd, VQ__VU_GET_VRING_BASE, VQ__VU_VERSION, &s, sizeof(s), NULL, 0);
	ASSERT_EQ(fe_recv(fd, VQ__VU_GET_VRING_BASE, &s, sizeof(s)), 8);
	ASSERT_EQ(s.index, 0);
	/* split: last avail idx; packed: avail | wrap<<15, used | wrap<<15 << 16 */
	ASSERT_EQ_U64(s.num, packed ? 0x80028002u : 1u); /* packed: 2 slots */
	ASSERT_EQ(dget(&D.stops), 1);
	ASSERT_FALSE(vq_vu_queue_is_started(q));
	ASSERT_TRUE(vq_vu_queue_is_started(vq_vu_queue(E.b, 3)));
	vq_drv_free(d);
	close(fd);
	close(kick), close(call), close(kick1), close(call1);
	env_stop();
}

#endif
