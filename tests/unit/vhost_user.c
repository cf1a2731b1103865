/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend over real AF_UNIX sockets, in process: the backend runs
 * the built-in loop on a thread; the test plays the frontend (its own wire
 * structs, written from the spec) and the driver (vq_drv on shared memfd
 * memory).  Covers feature negotiation, REPLY_ACK, GET_CONFIG, split and
 * packed rings end to end (kick -> device -> call), GET_VRING_BASE,
 * multiqueue, ADD/REM_MEM_REG, disconnect + reconnect without leaking fds or
 * mappings, client mode with reconnect, and a table of hostile messages.
 */
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

/* ---- wire format, from docs/interop/vhost-user.rst */
enum {
	GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, SET_MEM_TABLE = 5,
	SET_LOG_BASE = 6, SET_VRING_NUM = 8, SET_VRING_ADDR = 9, SET_VRING_BASE = 10,
	GET_VRING_BASE = 11, SET_VRING_KICK = 12, SET_VRING_CALL = 13, SET_VRING_ERR = 14,
	GET_PROTOCOL_FEATURES = 15, SET_PROTOCOL_FEATURES = 16, GET_QUEUE_NUM = 17,
	SET_VRING_ENABLE = 18, GET_CONFIG = 24, GET_MAX_MEM_SLOTS = 36, ADD_MEM_REG = 37,
	REM_MEM_REG = 38, SET_STATUS = 39, GET_STATUS = 40,
};
#define V1 0x1u
#define NEED_REPLY 0x8u
#define NOFD (1ull << 8)

struct hdr { uint32_t req, flags, size; };
struct state { uint32_t index, num; };
struct vaddr { uint32_t index, flags; uint64_t desc, used, avail, log; };
struct region { uint64_t gpa, size, uaddr, off; };
struct memtab { uint32_t n, pad; struct region r[8]; };
struct single { uint64_t pad; struct region r; };
struct cfgmsg { uint32_t off, size, flags; uint8_t data[32]; };

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

static int d_start(void *dev, struct vq_vu_queue *q)
{
	pthread_mutex_lock(&D.mu);
	D.starts++;
	D.last_start = (int)vq_vu_queue_index(q);
	D.started[vq_vu_queue_index(q)] = vq_vu_queue_dev(q) != NULL;
	pthread_mutex_unlock(&D.mu);
	return 0;
}

static void d_stop(void *dev, struct vq_vu_queue *q)
{
	pthread_mutex_lock(&D.mu);
	D.stops++;
	D.started[vq_vu_queue_index(q)] = false;
	pthread_mutex_unlock(&D.mu);
}

static void d_kick(void *dev, struct vq_vu_queue *q)
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

static void d_reset(void *dev)
{
	pthread_mutex_lock(&D.mu);
	D.resets++;
	pthread_mutex_unlock(&D.mu);
}

static int d_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
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

static int dget(int *field)
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

static void log_hook(void *ctx, int level, const char *msg)
{
	pthread_mutex_lock(&log_mu);
	size_t n = strlen(logbuf);

	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", msg);
	pthread_mutex_unlock(&log_mu);
}

static bool log_has(const char *s)
{
	bool r;

	pthread_mutex_lock(&log_mu);
	r = strstr(logbuf, s) != NULL;
	pthread_mutex_unlock(&log_mu);
	return r;
}

static void log_clear(void)
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

static void *loop_thread(void *arg)
{
	while (!atomic_load(&E.stop))
		if (vq_vu_loop_run(E.loop, 20) < 0)
			break;
	return NULL;
}

static void env_start(enum vq_vu_mode mode)
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

static void env_stop(void)
{
	atomic_store(&E.stop, true);
	pthread_join(E.thr, NULL);
	vq_vu_backend_free(E.b);
	vq_vu_loop_free(E.loop);
	unlink(E.path);
	rmdir(E.dir);
}

static int count_guest_maps(void)
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
static int fe_connect(void)
{
	int fd = vuc_connect(E.path, 0);

	ASSERT_GE(fd, 0);
	return fd;
}

static void fe_send(int fd, uint32_t req, uint32_t flags, const void *p, uint32_t size,
		    const int *fds, unsigned nfds)
{
	ASSERT_EQ(vuc_send(fd, req, flags, p, size, fds, nfds), 0);
}

/* A reply's payload size, or -1 when the backend closed the connection. */
static int fe_recv(int fd, uint32_t req, void *p, size_t max)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	struct hdr h;
	ssize_t n;

	ASSERT_EQ(poll(&pf, 1, 5000), 1);
	n = recv(fd, &h, sizeof(h), MSG_WAITALL);
	if (n <= 0)
		return -1;
	ASSERT_EQ(n, (ssize_t)sizeof(h));
	ASSERT_EQ(h.req, req);
	ASSERT_EQ(h.flags, V1 | 0x4u);
	ASSERT_LE(h.size, max);
	if (h.size)
		ASSERT_EQ(recv(fd, p, h.size, MSG_WAITALL), (ssize_t)h.size);
	return (int)h.size;
}

static uint64_t fe_get_u64(int fd, uint32_t req)
{
	uint64_t v = 0;

	fe_send(fd, req, V1, NULL, 0, NULL, 0);
	ASSERT_EQ(fe_recv(fd, req, &v, sizeof(v)), 8);
	return v;
}

/* Send with need_reply; the ack's u64, or -1 when the connection closed. */
static int64_t fe_ack(int fd, uint32_t req, const void *p, uint32_t size, const int *fds,
		      unsigned nfds)
{
	uint64_t v = 0;
	int n;

	fe_send(fd, req, V1 | NEED_REPLY, p, size, fds, nfds);
	n = fe_recv(fd, req, &v, sizeof(v));
	if (n < 0)
		return -1;
	ASSERT_EQ(n, 8);
	return (int64_t)v;
}

static bool fe_closed(int fd)
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

static void fe_hello(int fd, uint64_t features, uint64_t pf)
{
	uint64_t f;

	fe_send(fd, SET_OWNER, V1, NULL, 0, NULL, 0);
	f = fe_get_u64(fd, GET_FEATURES);
	ASSERT_TRUE(f & VQ_VU_F_PROTOCOL_FEATURES);
	ASSERT_EQ_U64(fe_get_u64(fd, GET_PROTOCOL_FEATURES) & pf, pf);
	fe_send(fd, SET_PROTOCOL_FEATURES, V1, &pf, 8, NULL, 0);
	features |= VQ_VU_F_PROTOCOL_FEATURES;
	ASSERT_EQ(fe_ack(fd, SET_FEATURES, &features, 8, NULL, 0), 0);
}

static void fe_mem_table(int fd)
{
	struct memtab t = { .n = 1, .r[0] = { GPA_BASE, MEM_SIZE, (uintptr_t)E.mem, 0 } };

	ASSERT_EQ(fe_ack(fd, SET_MEM_TABLE, &t, 8 + 32, &E.memfd, 1), 0);
}

static uint64_t q_off(unsigned idx)
{
	return 0x10000ull * idx;
}

/* NUM, BASE, ADDR, CALL, KICK for queue idx; returns kick and call fds. */
static void fe_vring(int fd, unsigned idx, uint32_t base, int *kick, int *call)
{
	struct state s = { idx, QSIZE };
	uint64_t ua = (uintptr_t)E.mem + q_off(idx);
	struct vaddr a = { idx, 0, ua, ua + 0x2000, ua + 0x1000, 0 };
	uint64_t u = idx;

	ASSERT_EQ(fe_ack(fd, SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);
	s.num = base;
	ASSERT_EQ(fe_ack(fd, SET_VRING_BASE, &s, sizeof(s), NULL, 0), 0);
	ASSERT_EQ(fe_ack(fd, SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	*call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	*kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_EQ(fe_ack(fd, SET_VRING_CALL, &u, 8, call, 1), 0);
	ASSERT_EQ(fe_ack(fd, SET_VRING_KICK, &u, 8, kick, 1), 0);
}

static struct vq_drv *drv_for(unsigned idx, bool packed)
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
static void roundtrip(struct vq_drv *d, int kick, int call)
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

static void ring_test(bool packed)
{
	int fd, kick, call, kick1, call1;
	struct vq_drv *d;
	struct state s = { 0, 1 };
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
	ASSERT_EQ(fe_ack(fd, SET_VRING_ENABLE, &s, sizeof(s), NULL, 0), 0);
	ASSERT_TRUE(vq_vu_queue_is_enabled(q));
	fe_vring(fd, 3, packed ? 0x80008000u : 0, &kick1, &call1); /* multiqueue */
	ASSERT_EQ(dget(&D.starts), 2);
	ASSERT_EQ(dget(&D.last_start), 3);
	d = drv_for(0, packed);
	roundtrip(d, kick, call);
	s = (struct state){ 0, 0 };
	fe_send(fd, GET_VRING_BASE, V1, &s, sizeof(s), NULL, 0);
	ASSERT_EQ(fe_recv(fd, GET_VRING_BASE, &s, sizeof(s)), 8);
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

TEST(split_ring_start_kick_call_base)
{
	ring_test(false);
}

TEST(packed_ring_start_kick_call_base)
{
	ring_test(true);
}

TEST(split_base_resumes_position)
{
	int fd, kick, call, starts;
	uint64_t u = 0;
	struct vq_drv *d;
	struct state s = { 0, 0 };

	env_start(VQ_VU_SERVER);
	fd = fe_connect();
	fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
	fe_mem_table(fd);
	fe_vring(fd, 0, 0, &kick, &call);
	d = drv_for(0, false);
	roundtrip(d, kick, call);
	roundtrip(d, kick, call);
	/* A new memory table while the queue runs: stop, remap, restart. */
	starts = dget(&D.starts);
	fe_mem_table(fd);
	ASSERT_EQ(dget(&D.starts), starts + 1);
	ASSERT_TRUE(vq_vu_queue_is_started(vq_vu_queue(E.b, 0)));
	roundtrip(d, kick, call);
	/* A new call eventfd while the queue runs (dup3 onto the old number). */
	close(call);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_EQ(fe_ack(fd, SET_VRING_CALL, &u, 8, &call, 1), 0);
	ASSERT_EQ(dget(&D.starts), starts + 1);
	roundtrip(d, kick, call);
	fe_send(fd, GET_VRING_BASE, V1, &s, sizeof(s), NULL, 0);
	ASSERT_EQ(fe_recv(fd, GET_VRING_BASE, &s, sizeof(s)), 8);
	ASSERT_EQ(s.num, 4);
	close(kick), close(call);
	/* Restart from that position, as QEMU does after a stop/start. */
	fe_vring(fd, 0, 4, &kick, &call);
	roundtrip(d, kick, call);
	fe_send(fd, GET_VRING_BASE, V1, &s, sizeof(s), NULL, 0);
	ASSERT_EQ(fe_recv(fd, GET_VRING_BASE, &s, sizeof(s)), 8);
	ASSERT_EQ(s.num, 5);
	vq_drv_free(d);
	close(fd), close(kick), close(call);
	env_stop();
}

TEST(feature_negotiation_and_reply_ack)
{
	uint64_t want = (DEV_FEATURES & ~((1ull << 26) | (1ull << 33))) | (1ull << 30);
	uint64_t v;
	int fd;

	env_start(VQ_VU_SERVER);
	fd = fe_connect();
	ASSERT_EQ_U64(fe_get_u64(fd, GET_FEATURES), want); /* allowed before SET_OWNER */
	v = fe_get_u64(fd, GET_PROTOCOL_FEATURES);
	/* No RARP/MTU callbacks: those bits are not offered. */
	ASSERT_EQ_U64(v, VQ_VU_PROTOCOL_F_ALL & ~(VQ_VU_PROTOCOL_F_RARP | VQ_VU_PROTOCOL_F_MTU));
	fe_send(fd, SET_OWNER, V1, NULL, 0, NULL, 0);
	v = VQ_VU_PROTOCOL_F_REPLY_ACK | (1ull << 1); /* LOG_SHMFD: not offered */
	ASSERT_GT(fe_ack(fd, SET_PROTOCOL_FEATURES, &v, 8, NULL, 0), 0);
	v = PF_WANT;
	ASSERT_EQ(fe_ack(fd, SET_PROTOCOL_FEATURES, &v, 8, NULL, 0), 0);
	v = VQ_F_VERSION_1 | (1ull << 26); /* LOG_ALL is never offered */
	ASSERT_GT(fe_ack(fd, SET_FEATURES, &v, 8, NULL, 0), 0);
	ASSERT_TRUE(log_has("not offered"));
	v = VQ_F_VERSION_1 | VQ_F_PACKED | (1ull << 30);
	ASSERT_EQ(fe_ack(fd, SET_FEATURES, &v, 8, NULL, 0), 0);
	ASSERT_EQ_U64(vq_vu_features(E.b), v);
	ASSERT_EQ_U64(vq_vu_protocol_features(E.b), PF_WANT);
	ASSERT_EQ_U64(fe_get_u64(fd, GET_QUEUE_NUM), NQ);
	ASSERT_EQ_U64(fe_get_u64(fd, GET_MAX_MEM_SLOTS), VQ_VU_DEFAULT_MEM_SLOTS);
	v = 0x7;
	ASSERT_EQ(fe_ack(fd, SET_STATUS, &v, 8, NULL, 0), 0);
	ASSERT_EQ_U64(fe_get_u64(fd, GET_STATUS), 0x7);
	close(fd);
	env_stop();
}

TEST(get_config)
{
	struct cfgmsg c = { 4, 8, 0, { 0 } };
	int fd;

	env_start(VQ_VU_SERVER);
	fd = fe_connect();
	fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
	fe_send(fd, GET_CONFIG, V1, &c, 12 + 8, NULL, 0);
	ASSERT_EQ(fe_recv(fd, GET_CONFIG, &c, sizeof(c)), 20);
	ASSERT_EQ(c.off, 4);
	ASSERT_EQ(c.size, 8);
	ASSERT_MEM_EQ(c.data, D.config + 4, 8);
	/* Out of the device's range: a zero-size reply means failure. */
	c = (struct cfgmsg){ 28, 8, 0, { 0 } };
	fe_send(fd, GET_CONFIG, V1, &c, 12 + 8, NULL, 0);
	ASSERT_EQ(fe_recv(fd, GET_CONFIG, &c, sizeof(c)), 0);
	/* Size field disagreeing with the payload. */
	c = (struct cfgmsg){ 0, 16, 0, { 0 } };
	fe_send(fd, GET_CONFIG, V1, &c, 12 + 8, NULL, 0);
	ASSERT_EQ(fe_recv(fd, GET_CONFIG, &c, sizeof(c)), 0);
	ASSERT_EQ_U64(fe_get_u64(fd, GET_QUEUE_NUM), NQ); /* still serving */
	close(fd);
	env_stop();
}

TEST(add_rem_mem_reg)
{
	struct single r = { 0, { GPA_BASE, MEM_SIZE, 0, 0 } };
	int fd, kick, call;

	env_start(VQ_VU_SERVER);
	r.r.uaddr = (uintptr_t)E.mem;
	fd = fe_connect();
	fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
	ASSERT_EQ(fe_ack(fd, ADD_MEM_REG, &r, sizeof(r), &E.memfd, 1), 0);
	ASSERT_EQ(count_guest_maps(), 2);
	/* The same region again overlaps. */
	ASSERT_GT(fe_ack(fd, ADD_MEM_REG, &r, sizeof(r), &E.memfd, 1), 0);
	ASSERT_TRUE(log_has("overlaps"));
	fe_vring(fd, 0, 0, &kick, &call);
	ASSERT_TRUE(vq_vu_queue_is_started(vq_vu_queue(E.b, 0)));
	/* Removing the ring's memory stops the queue for good. */
	ASSERT_EQ(fe_ack(fd, REM_MEM_REG, &r, sizeof(r), NULL, 0), 0);
	ASSERT_FALSE(vq_vu_queue_is_started(vq_vu_queue(E.b, 0)));
	ASSERT_TRUE(log_has("not restarted"));
	ASSERT_EQ(count_guest_maps(), 1);
	ASSERT_GT(fe_ack(fd, REM_MEM_REG, &r, sizeof(r), NULL, 0), 0); /* gone */
	close(fd), close(kick), close(call);
	env_stop();
}

TEST(disconnect_reconnect_releases_everything)
{
	int before, fd, kick, call, err;
	uint64_t u = 0;

	env_start(VQ_VU_SERVER);
	before = vuc_count_fds();
	for (int round = 0; round < 3; round++) {
		int resets = dget(&D.resets);

		fd = fe_connect();
		fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
		fe_mem_table(fd);
		ASSERT_EQ(count_guest_maps(), 2);
		fe_vring(fd, 1, 0, &kick, &call);
		err = eventfd(0, EFD_CLOEXEC);
		u = 1;
		ASSERT_EQ(fe_ack(fd, SET_VRING_ERR, &u, 8, &err, 1), 0);
		ASSERT_GT(vuc_count_fds(), before + 3);
		close(fd), close(kick), close(call), close(err);
		for (int i = 0; i < 500 && dget(&D.resets) == resets; i++)
			usleep(10000);
		ASSERT_EQ(dget(&D.resets), resets + 1);
		ASSERT_FALSE(vq_vu_queue_is_started(vq_vu_queue(E.b, 1)));
		ASSERT_EQ(vuc_count_fds(), before);
		ASSERT_EQ(count_guest_maps(), 1);
		ASSERT_TRUE(log_has("frontend closed the connection"));
	}
	ASSERT_EQ(dget(&D.stops), 3);
	env_stop();
}

TEST(client_mode_connects_and_reconnects)
{
	int lfd, fd;

	env_start(VQ_VU_CLIENT);
	usleep(150000); /* a few failed attempts first */
	lfd = vuc_listen(E.path);
	ASSERT_GE(lfd, 0);
	for (int round = 0; round < 2; round++) {
		fd = vuc_accept(lfd, 5000);
		ASSERT_GE(fd, 0);
		fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
		fe_mem_table(fd);
		close(fd); /* the backend must come back */
	}
	close(lfd);
	env_stop();
}

/* ---- hostile frontends */

enum expect { EXP_NACK, EXP_EMPTY, EXP_CLOSED };

struct hostile {
	const char *name;
	void (*run)(int fd, int *extra_fds);
	bool raw;      /* only SET_OWNER first, no negotiation */
	uint32_t req;  /* the request whose reply is expected */
	enum expect exp;
	const char *log;
};

static void h_short_header(int fd, int *x)
{
	struct hdr h = { GET_FEATURES, V1, 0 };

	x[0] = eventfd(0, EFD_CLOEXEC); /* must be closed by the backend too */
	ASSERT_EQ(vuc_send_raw(fd, &h, 6, &x[0], 1), 0);
	shutdown(fd, SHUT_WR);
}

static void h_truncated_payload(int fd, int *x)
{
	struct hdr h = { SET_FEATURES, V1, 8 };
	char buf[sizeof(h) + 4] = { 0 };

	memcpy(buf, &h, sizeof(h));
	ASSERT_EQ(send(fd, buf, sizeof(buf), MSG_NOSIGNAL), (ssize_t)sizeof(buf));
	shutdown(fd, SHUT_WR);
}

static void h_size_too_big(int fd, int *x)
{
	struct hdr h = { SET_FEATURES, V1, VQ_VU_MAX_PAYLOAD + 1 };

	ASSERT_EQ(send(fd, &h, sizeof(h), MSG_NOSIGNAL), (ssize_t)sizeof(h));
}

static void h_bad_version(int fd, int *x)
{
	fe_send(fd, GET_FEATURES, 0x2, NULL, 0, NULL, 0);
}

static void h_reply_flag(int fd, int *x)
{
	fe_send(fd, GET_FEATURES, V1 | 0x4, NULL, 0, NULL, 0);
}

static void h_call_two_fds(int fd, int *x)
{
	uint64_t u = 0;

	x[0] = eventfd(0, EFD_CLOEXEC);
	x[1] = eventfd(0, EFD_CLOEXEC);
	fe_send(fd, SET_VRING_CALL, V1 | NEED_REPLY, &u, 8, x, 2);
}

static void h_too_many_fds(int fd, int *x)
{
	struct memtab t = { .n = 1, .r[0] = { GPA_BASE, MEM_SIZE, (uintptr_t)E.mem, 0 } };

	for (int i = 0; i < 10; i++)
		x[i] = eventfd(0, EFD_CLOEXEC);
	fe_send(fd, SET_MEM_TABLE, V1 | NEED_REPLY, &t, 8 + 32, x, 10);
}

static void h_kick_nofd_with_fd(int fd, int *x)
{
	uint64_t u = NOFD;

	x[0] = eventfd(0, EFD_CLOEXEC);
	fe_send(fd, SET_VRING_KICK, V1 | NEED_REPLY, &u, 8, x, 1);
}

static void h_fds_on_features(int fd, int *x)
{
	uint64_t v = VQ_F_VERSION_1;

	x[0] = eventfd(0, EFD_CLOEXEC);
	fe_send(fd, SET_FEATURES, V1 | NEED_REPLY, &v, 8, x, 1);
}

static void send_table(int fd, const struct region *r, uint32_t n, uint32_t nfds)
{
	struct memtab t = { .n = n };
	int fds[8];

	for (uint32_t i = 0; i < 8; i++)
		fds[i] = E.memfd;
	memcpy(t.r, r, (n > 8 ? 8 : n) * sizeof(*r));
	fe_send(fd, SET_MEM_TABLE, V1 | NEED_REPLY, &t, sizeof(t), fds, nfds);
}

static void h_region_gpa_overflow(int fd, int *x)
{
	struct region r = { UINT64_MAX - 0x100, 0x1000, (uintptr_t)E.mem, 0 };

	send_table(fd, &r, 1, 1);
}

static void h_region_uaddr_overflow(int fd, int *x)
{
	struct region r = { 0, 0x1000, UINT64_MAX - 0x10, 0 };

	send_table(fd, &r, 1, 1);
}

static void h_region_offset_overflow(int fd, int *x)
{
	struct region r = { 0, 0x1000, 0x1000, UINT64_MAX - 0x10 };

	send_table(fd, &r, 1, 1);
}

static void h_region_beyond_file(int fd, int *x)
{
	struct region r = { 0, 0x1000, 0x10000, MEM_SIZE };

	send_table(fd, &r, 1, 1);
}

static void h_region_zero(int fd, int *x)
{
	struct region r = { 0, 0, 0x10000, 0 };

	send_table(fd, &r, 1, 1);
}

static void h_regions_overlap(int fd, int *x)
{
	struct region r[2] = { { 0, 0x10000, 0x10000000, 0 }, { 0x8000, 0x10000, 0x20000000, 0 } };

	send_table(fd, r, 2, 2);
}

static void h_regions_too_many(int fd, int *x)
{
	struct region r[8] = { { 0, 0x1000, 0x10000, 0 } };

	send_table(fd, r, 9, 8);
}

static void h_regions_fd_mismatch(int fd, int *x)
{
	struct region r[2] = { { 0, 0x1000, 0x10000, 0 }, { 0x1000, 0x1000, 0x20000, 0 } };

	send_table(fd, r, 2, 1);
}

static void ack_msg(int fd, uint32_t req, const void *p, uint32_t size)
{
	fe_send(fd, req, V1 | NEED_REPLY, p, size, NULL, 0);
}

static void h_addr_outside(int fd, int *x)
{
	struct state s = { 0, QSIZE };
	struct vaddr a = { 0, 0, (uintptr_t)E.mem + MEM_SIZE - 0x100,
			   (uintptr_t)E.mem + 0x2000, (uintptr_t)E.mem + 0x1000, 0 };

	fe_mem_table(fd);
	ASSERT_EQ(fe_ack(fd, SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);
	ack_msg(fd, SET_VRING_ADDR, &a, sizeof(a));
}

static void h_addr_before_mem(int fd, int *x)
{
	struct state s = { 0, QSIZE };
	struct vaddr a = { 0, 0, (uintptr_t)E.mem, (uintptr_t)E.mem + 0x2000,
			   (uintptr_t)E.mem + 0x1000, 0 };

	ASSERT_EQ(fe_ack(fd, SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);
	ack_msg(fd, SET_VRING_ADDR, &a, sizeof(a));
}

static void h_kick_before_num(int fd, int *x)
{
	uint64_t u = 1 | NOFD;

	fe_mem_table(fd);
	ack_msg(fd, SET_VRING_KICK, &u, 8);
}

static void h_qidx_range(int fd, int *x)
{
	struct state s = { NQ, QSIZE };

	ack_msg(fd, SET_VRING_NUM, &s, sizeof(s));
}

static void h_qidx_range_file(int fd, int *x)
{
	uint64_t u = 200 | NOFD;

	ack_msg(fd, SET_VRING_CALL, &u, 8);
}

static void h_get_base_range(int fd, int *x)
{
	struct state s = { 77, 0 };

	fe_send(fd, GET_VRING_BASE, V1, &s, sizeof(s), NULL, 0);
}

static void h_num_zero(int fd, int *x)
{
	struct state s = { 0, 0 };

	ack_msg(fd, SET_VRING_NUM, &s, sizeof(s));
}

static void h_num_not_pow2(int fd, int *x)
{
	struct state s = { 0, 1000 };

	ack_msg(fd, SET_VRING_NUM, &s, sizeof(s));
}

static void h_num_too_big(int fd, int *x)
{
	struct state s = { 0, 65536 };

	ack_msg(fd, SET_VRING_NUM, &s, sizeof(s));
}

static void h_num_no_reply(int fd, int *x)
{
	struct state s = { 0, 0 };

	fe_send(fd, SET_VRING_NUM, V1, &s, sizeof(s), NULL, 0);
}

static void h_unknown_ack(int fd, int *x)
{
	ack_msg(fd, 99, NULL, 0);
}

static void h_unknown_noack(int fd, int *x)
{
	fe_send(fd, 99, V1, NULL, 0, NULL, 0);
}

static void h_bad_size(int fd, int *x)
{
	uint32_t v = 1;

	ack_msg(fd, SET_FEATURES, &v, 4);
}

static void h_log_base(int fd, int *x)
{
	uint64_t v[2] = { 0x1000, 0 };

	x[0] = E.memfd >= 0 ? eventfd(0, EFD_CLOEXEC) : -1;
	fe_send(fd, SET_LOG_BASE, V1 | NEED_REPLY, v, 16, x, 1);
}

static const struct hostile hostile[] = {
	{ "short header", h_short_header, true, 0, EXP_CLOSED, "short header" },
	{ "truncated payload", h_truncated_payload, true, 0, EXP_CLOSED, "truncated payload" },
	{ "size > max", h_size_too_big, true, 0, EXP_CLOSED, "> max 4096" },
	{ "bad version", h_bad_version, true, 0, EXP_CLOSED, "bad version" },
	{ "reply flag in request", h_reply_flag, true, 0, EXP_CLOSED, "reply flag" },
	{ "2 fds on SET_VRING_CALL", h_call_two_fds, false, SET_VRING_CALL, EXP_NACK, "2 fds passed, expected 0..1" },
	{ "10 fds", h_too_many_fds, true, 0, EXP_CLOSED, "more than 8 fds" },
	{ "NOFD with an fd", h_kick_nofd_with_fd, false, SET_VRING_KICK, EXP_NACK, "NOFD flag set but an fd" },
	{ "fd on SET_FEATURES", h_fds_on_features, false, SET_FEATURES, EXP_NACK, "1 fds passed, expected 0..0" },
	{ "region gpa overflow", h_region_gpa_overflow, false, SET_MEM_TABLE, EXP_NACK, "overflows" },
	{ "region uaddr overflow", h_region_uaddr_overflow, false, SET_MEM_TABLE, EXP_NACK, "uaddr" },
	{ "region offset overflow", h_region_offset_overflow, false, SET_MEM_TABLE, EXP_NACK, "mmap_offset" },
	{ "region beyond file", h_region_beyond_file, false, SET_MEM_TABLE, EXP_NACK, "beyond the file size" },
	{ "region size 0", h_region_zero, false, SET_MEM_TABLE, EXP_NACK, "has size 0" },
	{ "regions overlap", h_regions_overlap, false, SET_MEM_TABLE, EXP_NACK, "overlaps another region" },
	{ "9 regions", h_regions_too_many, false, SET_MEM_TABLE, EXP_NACK, "9 regions > 8" },
	{ "fds != regions", h_regions_fd_mismatch, false, SET_MEM_TABLE, EXP_NACK, "1 fds for 2 regions" },
	{ "ring outside memory", h_addr_outside, false, SET_VRING_ADDR, EXP_NACK, "outside the memory map" },
	{ "ADDR before MEM_TABLE", h_addr_before_mem, false, SET_VRING_ADDR, EXP_NACK, "before SET_MEM_TABLE" },
	{ "KICK before NUM", h_kick_before_num, false, SET_VRING_KICK, EXP_NACK, "SET_VRING_KICK before SET_VRING_NUM" },
	{ "queue index", h_qidx_range, false, SET_VRING_NUM, EXP_NACK, "queue index 4 out of range" },
	{ "queue index (file)", h_qidx_range_file, false, SET_VRING_CALL, EXP_NACK, "queue index 200 out of range" },
	{ "GET_VRING_BASE index", h_get_base_range, false, GET_VRING_BASE, EXP_EMPTY, "queue index 77 out of range" },
	{ "num 0", h_num_zero, false, SET_VRING_NUM, EXP_NACK, "queue size 0 outside" },
	{ "num not pow2", h_num_not_pow2, false, SET_VRING_NUM, EXP_NACK, "not a power of two" },
	{ "num > 32768", h_num_too_big, false, SET_VRING_NUM, EXP_NACK, "queue size 65536 outside" },
	{ "bad num without reply", h_num_no_reply, false, 0, EXP_CLOSED, "queue size 0 outside" },
	{ "unknown request, ack", h_unknown_ack, true, 99, EXP_NACK, "UNKNOWN (request 99)" },
	{ "unknown request, no ack", h_unknown_noack, true, 0, EXP_CLOSED, "UNKNOWN (request 99)" },
	{ "payload size", h_bad_size, false, SET_FEATURES, EXP_NACK, "payload size 4, expected 8..8" },
	{ "SET_LOG_BASE", h_log_base, false, SET_LOG_BASE, EXP_NACK, "protocol feature 1 not negotiated" },
};

static void check_outcome(int fd, const struct hostile *h)
{
	uint64_t v = 0;
	int n;

	switch (h->exp) {
	case EXP_CLOSED:
		if (!fe_closed(fd))
			FAIL("%s: connection not closed; log:\n%s", h->name, logbuf);
		break;
	case EXP_NACK:
		n = fe_recv(fd, h->req, &v, sizeof(v));
		if (n != 8 || v == 0)
			FAIL("%s: expected a non-zero ack, got size %d value %" PRIu64, h->name, n, v);
		break;
	case EXP_EMPTY:
		n = fe_recv(fd, h->req, &v, sizeof(v));
		if (n != 0)
			FAIL("%s: expected an empty reply, got %d", h->name, n);
		break;
	}
}

TEST(hostile_messages)
{
	env_start(VQ_VU_SERVER);
	int base = vuc_count_fds();

	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		const struct hostile *h = &hostile[i];
		int x[16], fd, resets = dget(&D.resets);

		for (int j = 0; j < 16; j++)
			x[j] = -1;
		log_clear();
		fd = fe_connect();
		if (!h->raw)
			fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
		else
			fe_send(fd, SET_OWNER, V1, NULL, 0, NULL, 0);
		h->run(fd, x);
		check_outcome(fd, h);
		if (!log_has(h->log))
			FAIL("%s: no log line with \"%s\"; log:\n%s", h->name, h->log, logbuf);
		if (h->exp != EXP_CLOSED)
			ASSERT_EQ_U64(fe_get_u64(fd, GET_QUEUE_NUM), NQ); /* still open */
		close(fd);
		for (int j = 0; j < 16; j++)
			if (x[j] >= 0)
				close(x[j]);
		/* The backend drops the connection (EOF) and releases its fds. */
		for (int t = 0; t < 500 && (dget(&D.resets) == resets || vuc_count_fds() != base); t++)
			usleep(10000);
		if (vuc_count_fds() != base)
			FAIL("%s: %d fds open, %d before", h->name, vuc_count_fds(), base);
	}
	/* And a well-behaved frontend is still served. */
	int fd = fe_connect();

	fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
	fe_mem_table(fd);
	close(fd);
	env_stop();
}
