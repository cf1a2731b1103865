/* SPDX-License-Identifier: MIT */
/*
 * vhost-user frontend (frontend.h) against our own backend library in
 * process, over a real unix socket: the backend runs its epoll loop on a
 * thread with a trivial echo device (each chain's readable bytes are copied
 * into its writable part).  Covers negotiation, GET_CONFIG, split and packed
 * rings end to end (kick -> device -> call), multiqueue, GET_VRING_BASE,
 * backend restart (disconnect reported, reconnect, buffers re-posted, echo
 * resumes), server mode, a device writing bad used ids, and a hostile fake
 * backend that answers with wrong sizes, codes, flags, fds, refusals,
 * silence and unsolicited messages: the frontend reports, never crashes,
 * never leaks an fd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <virtq/frontend.h>

#include "../harness/echo.h"
#include "../harness/test.h"
#include "../harness/vu_client.h"

#define NQ 4
#define DEV_BIT (1ull << 5)
#define OFFER (VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_F_INDIRECT | VQ_F_PACKED | DEV_BIT)

/* ---- the echo device */
static atomic_int evil_queue = -1; /* queue whose device writes a bad used id */
static struct vq_ring_params evil_ring;
static atomic_int dev_starts;

static int d_start(void *dev, struct vq_vu_queue *q)
{
	atomic_fetch_add(&dev_starts, 1);
	return 0;
}

static void d_stop(void *dev, struct vq_vu_queue *q) {}


static void d_kick(void *dev, struct vq_vu_queue *q)
{
	struct vq_dev *vd = vq_vu_queue_dev(q);
	struct iovec iov[64];
	struct vq_elem e = { .iov = iov, .iov_cap = 64 };

	if (!vd)
		return;
	while (vq_dev_pop(vd, &e) == 1) {
		uint64_t n = e.out_len < e.in_len ? e.out_len : e.in_len;

		if ((int)vq_vu_queue_index(q) == atomic_load(&evil_queue)) {
			/* Split used ring: flags, idx, ring[] of {id, len}. */
			uint16_t *u = evil_ring.used;
			uint32_t *ent = (uint32_t *)(u + 2);

			ent[0] = 200; /* never in flight */
			ent[1] = 4;
			__atomic_store_n(&u[1], (uint16_t)(u[1] + 1), __ATOMIC_RELEASE);
			continue;
		}
		vq_test_echo(&e);
		vq_dev_push(vd, &e, (uint32_t)n);
	}
	vq_dev_flush(vd);
	vq_vu_queue_notify(q);
}

static int d_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	uint8_t cfg[16];

	for (unsigned i = 0; i < sizeof(cfg); i++)
		cfg[i] = (uint8_t)(0x40 + i);
	if (off > sizeof(cfg) || len > sizeof(cfg) - off)
		return -EINVAL;
	memcpy(buf, cfg + off, len);
	return 0;
}

static const struct vq_vu_device_ops dops = {
	.queue_start = d_start, .queue_stop = d_stop, .queue_kick = d_kick,
	.get_config = d_get_config,
};

/* ---- backend environment */
static struct {
	char dir[64], path[128];
	struct vq_vu_loop *loop;
	struct vq_vu_backend *b;
	pthread_t thr;
	atomic_bool stop;
	bool running;
} B;

static void *loop_thread(void *arg)
{
	while (!atomic_load(&B.stop))
		if (vq_vu_loop_run(B.loop, 10) < 0)
			break;
	return NULL;
}

static void quiet(void *ctx, int level, const char *msg) {}

static void backend_start(enum vq_vu_mode mode)
{
	struct vq_vu_params cfg = {
		.name = "t", .mode = mode, .path = B.path, .listen_fd = -1, .ops = &dops,
		.features = OFFER, .protocol_features = VQ_VU_PROTOCOL_F_ALL,
		.num_queues = NQ, .queue_num = 2, .loop_ops = vq_vu_loop_ops(),
	};

	vq_vu_set_log(quiet, NULL, 0);
	ASSERT_EQ(vq_vu_loop_new(&B.loop), 0);
	cfg.loop = B.loop;
	ASSERT_EQ(vq_vu_backend_new(&cfg, &B.b), 0);
	atomic_store(&B.stop, false);
	ASSERT_EQ(pthread_create(&B.thr, NULL, loop_thread, NULL), 0);
	B.running = true;
}

static void backend_stop(void)
{
	if (!B.running)
		return;
	atomic_store(&B.stop, true);
	pthread_join(B.thr, NULL);
	vq_vu_backend_free(B.b);
	vq_vu_loop_free(B.loop);
	B.running = false;
}

static void mkpath(void)
{
	strcpy(B.dir, "/tmp/vqfe.XXXXXX");
	ASSERT_TRUE(mkdtemp(B.dir) != NULL);
	snprintf(B.path, sizeof(B.path), "%s/sock", B.dir);
}

/* ---- the owner of the frontend: posts one echo buffer per queue */
static struct owner {
	int events_up, events_down, states[3];
	char why[256];
	unsigned reclaimed;
} O;

static void on_queue(void *opaque, unsigned i, struct vq_drv *q, struct vq_drv *old)
{
	if (q) {
		O.events_up++;
	} else {
		O.events_down++;
		while (vq_drv_detach(old))
			O.reclaimed++;
	}
}

static void on_state(void *opaque, enum vq_fe_state s, const char *why)
{
	O.states[s]++;
	snprintf(O.why, sizeof(O.why), "%s", why);
}

static struct vq_fe *fe_make(enum vq_fe_mode mode, uint64_t features, unsigned nq)
{
	struct vq_fe_params c = {
		.path = B.path, .mode = mode, .features = features, .num_queues = nq,
		.queue_size = 64, .indirect_tables = 8, .indirect_len = 8,
		.mem_size = 1 << 20, .timeout_ms = 1000,
		.queue_event = on_queue, .state_event = on_state,
	};
	struct vq_fe *fe;

	memset(&O, 0, sizeof(O));
	ASSERT_EQ(vq_fe_new(&c, &fe), 0);
	return fe;
}

/* Echo `count` messages through queue i and check them. */
static void echo_check(struct vq_fe *fe, unsigned i, unsigned count)
{
	struct vq_drv *q = vq_fe_queue(fe, i);
	uint8_t *out = vq_fe_alloc(fe, 64, 0), *in = vq_fe_alloc(fe, 64, 0);

	ASSERT_TRUE(q && out && in);
	for (unsigned k = 0; k < count; k++) {
		struct vq_seg sg[3] = { { vq_fe_addr(fe, out), 16 }, { vq_fe_addr(fe, out + 32), 8 },
					{ vq_fe_addr(fe, in), 64 } };
		void *tok = NULL;
		uint32_t len = 0;
		int r = 0;

		snprintf((char *)out, 16, "q%u msg %u", i, k);
		memcpy(out + 32, "TAIL-abc", 8);
		memset(in, 0, 64);
		ASSERT_EQ(vq_drv_add(q, sg, 2, 1, out), 0);
		if (vq_drv_kick_prepare(q))
			ASSERT_EQ(vq_fe_kick(fe, i), 0);
		for (int t = 0; t < 200 && (r = vq_drv_get(q, &tok, &len)) == 0; t++)
			vq_fe_wait(fe, i, 10);
		ASSERT_EQ(r, 1);
		ASSERT_TRUE(tok == out);
		ASSERT_EQ(len, 24);
		ASSERT_MEM_EQ(in, out, 16);
		ASSERT_MEM_EQ(in + 16, "TAIL-abc", 8);
	}
}

static void connect_retry(struct vq_fe *fe)
{
	int r = -1;

	for (int t = 0; t < 300 && (r = vq_fe_connect(fe)) != 0; t++)
		usleep(10000);
	if (r != 0)
		FAIL("connect: %d %s", r, vq_fe_error(fe));
}

TEST(negotiate_and_config)
{
	struct vq_fe *fe;
	uint8_t cfg[8];

	mkpath();
	backend_start(VQ_VU_SERVER);
	fe = fe_make(VQ_FE_CLIENT, VQ_FE_TRANSPORT_FEATURES | DEV_BIT | (1ull << 7), NQ);
	ASSERT_EQ(vq_fe_connect(fe), 0);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_READY);
	ASSERT_EQ_U64(vq_fe_features(fe) & ~VQ_VU_F_PROTOCOL_FEATURES,
		      VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_F_INDIRECT | VQ_F_PACKED | DEV_BIT);
	ASSERT_TRUE(vq_fe_features(fe) & VQ_VU_F_PROTOCOL_FEATURES);
	ASSERT_EQ_U64(vq_fe_protocol_features(fe), VQ_FE_PROTOCOL_F_DEFAULT);
	ASSERT_EQ_U64(vq_fe_backend_queue_num(fe), 2);
	ASSERT_EQ(vq_fe_get_config(fe, 4, cfg, 8), 0);
	ASSERT_EQ(cfg[0], 0x44);
	ASSERT_EQ(cfg[7], 0x4b);
	/* Out of the device's bounds: refused, connection kept. */
	ASSERT_EQ(vq_fe_get_config(fe, 12, cfg, 8), -EREMOTEIO);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_READY);
	ASSERT_EQ(vq_fe_connect(fe), -EISCONN);
	ASSERT_EQ(O.events_up, NQ);
	vq_fe_free(fe);
	ASSERT_EQ(O.events_down, NQ);
	backend_stop();
}

static void echo_layout(uint64_t features)
{
	struct vq_fe *fe;

	mkpath();
	backend_start(VQ_VU_SERVER);
	fe = fe_make(VQ_FE_CLIENT, features, NQ);
	ASSERT_EQ(vq_fe_connect(fe), 0);
	for (unsigned i = 0; i < NQ; i++)
		echo_check(fe, i, 100);
	vq_fe_free(fe);
	backend_stop();
}

TEST(echo_split) { echo_layout(VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_F_INDIRECT); }
TEST(echo_split_plain) { echo_layout(VQ_F_VERSION_1); }
TEST(echo_packed) { echo_layout(VQ_F_VERSION_1 | VQ_F_PACKED | VQ_F_EVENT_IDX | VQ_F_INDIRECT); }
TEST(echo_packed_plain) { echo_layout(VQ_F_VERSION_1 | VQ_F_PACKED); }

static void stop_base(uint64_t features, uint32_t want)
{
	struct vq_fe *fe;
	uint32_t base = 0;

	mkpath();
	backend_start(VQ_VU_SERVER);
	fe = fe_make(VQ_FE_CLIENT, features, 2);
	ASSERT_EQ(vq_fe_connect(fe), 0);
	echo_check(fe, 1, 10);
	ASSERT_EQ(vq_fe_queue_base(fe, 1, &base), -ENOENT);
	ASSERT_EQ(vq_fe_stop(fe), 0);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_STOPPED);
	ASSERT_TRUE(vq_fe_queue(fe, 1) == NULL);
	ASSERT_EQ(vq_fe_queue_base(fe, 1, &base), 0);
	ASSERT_EQ(base, want);
	ASSERT_EQ(vq_fe_queue_base(fe, 0, &base), 0);
	ASSERT_EQ(base, features & VQ_F_PACKED ? 0x80008000u : 0);
	vq_fe_disconnect(fe);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_DISCONNECTED);
	/* A stopped, disconnected frontend can start over. */
	connect_retry(fe);
	echo_check(fe, 1, 3);
	vq_fe_free(fe);
	backend_stop();
}

TEST(stop_get_vring_base_split) { stop_base(VQ_F_VERSION_1, 10); }
TEST(stop_get_vring_base_packed)
{
	/* 10 single-descriptor (indirect) chains: slot 10, wrap counters 1. */
	stop_base(VQ_F_VERSION_1 | VQ_F_PACKED | VQ_F_INDIRECT, 0x800a800au);
}

static void restart(enum vq_fe_mode fmode, enum vq_vu_mode bmode, uint64_t features)
{
	struct vq_fe *fe;
	int fds;

	mkpath();
	fe = fe_make(fmode, features, NQ);
	backend_start(bmode);
	connect_retry(fe);
	echo_check(fe, 0, 5);
	fds = vuc_count_fds();
	for (int round = 0; round < 3; round++) {
		/* Leave a buffer in flight that the device never sees. */
		struct vq_seg sg = { vq_fe_addr(fe, vq_fe_alloc(fe, 64, 0)), 64 };

		ASSERT_EQ(vq_drv_add(vq_fe_queue(fe, 2), &sg, 0, 1, &sg), 0);
		backend_stop(); /* the backend process "dies" */
		for (int t = 0; t < 200 && vq_fe_poll(fe) != VQ_FE_DISCONNECTED; t++)
			usleep(5000);
		ASSERT_EQ(vq_fe_state(fe), VQ_FE_DISCONNECTED);
		ASSERT_EQ(O.states[VQ_FE_DISCONNECTED], round + 1);
		ASSERT_TRUE(strstr(O.why, "hung up") != NULL);
		ASSERT_EQ(O.reclaimed, (unsigned)round + 1);
		ASSERT_TRUE(vq_fe_queue(fe, 0) == NULL);
		ASSERT_LT(vq_fe_connect(fe), 0); /* nobody there yet */
		backend_start(bmode);
		if (vq_fe_state(fe) != VQ_FE_READY)
			connect_retry(fe);
		ASSERT_EQ(vq_fe_generation(fe), (uint32_t)round + 2);
		ASSERT_EQ(O.events_up, NQ * (round + 2));
		for (unsigned i = 0; i < NQ; i++)
			echo_check(fe, i, 5);
	}
	backend_stop();
	vq_fe_poll(fe);
	vq_fe_free(fe);
	(void)fds;
}

TEST(backend_restart_client) { restart(VQ_FE_CLIENT, VQ_VU_SERVER, VQ_F_VERSION_1 | VQ_F_EVENT_IDX); }
TEST(backend_restart_packed) { restart(VQ_FE_CLIENT, VQ_VU_SERVER, VQ_F_VERSION_1 | VQ_F_PACKED); }
TEST(backend_restart_server_mode) { restart(VQ_FE_SERVER, VQ_VU_CLIENT, VQ_F_VERSION_1); }

TEST(no_fd_leak_over_reconnects)
{
	struct vq_fe *fe;
	int before;

	mkpath();
	backend_start(VQ_VU_SERVER);
	fe = fe_make(VQ_FE_CLIENT, VQ_F_VERSION_1, NQ);
	connect_retry(fe);
	before = vuc_count_fds();
	for (int i = 0; i < 20; i++) {
		vq_fe_disconnect(fe);
		connect_retry(fe);
	}
	echo_check(fe, 3, 2);
	ASSERT_LE(vuc_count_fds(), before + 1);
	vq_fe_free(fe);
	backend_stop();
}

/*
 * A worker preempted inside its write to a call eventfd that has room (a
 * busy host) is not a stuck worker: the backend's eventfd watchdog must not
 * drop the connection for it.  The "worker" signals in a tight loop; a
 * signal handler that sleeps 250 ms lands, most of the time, between the
 * write and the end of vq_vu_queue_signal, so the watchdog sees a write
 * "in progress" for longer than its limit (100 ms) on a writable fd.
 */
static atomic_bool sig_stop;
static atomic_uint sig_calls;

static void sleepy(int sig)
{
	struct timespec t0, t;

	(void)sig;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do /* the watchdog's wake signal may cut one nanosleep short */
		nanosleep(&(struct timespec){ 0, 250000000 }, NULL);
	while (clock_gettime(CLOCK_MONOTONIC, &t) == 0 &&
	       (t.tv_sec - t0.tv_sec) * 1000000000ll + (t.tv_nsec - t0.tv_nsec) < 250000000ll);
}

static void *signaller(void *arg)
{
	while (!atomic_load(&sig_stop)) {
		(void)vq_vu_queue_signal(arg);
		atomic_fetch_add(&sig_calls, 1);
	}
	return NULL;
}

TEST_T(preempted_call_writer_keeps_connection, 30)
{
	struct sigaction sa = { .sa_handler = sleepy };
	struct vq_fe *fe;
	pthread_t thr;
	uint64_t v;

	mkpath();
	backend_start(VQ_VU_SERVER);
	fe = fe_make(VQ_FE_CLIENT, VQ_F_VERSION_1, 2);
	ASSERT_EQ(vq_fe_connect(fe), 0);
	echo_check(fe, 1, 1);
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	atomic_store(&sig_stop, false);
	ASSERT_EQ(pthread_create(&thr, NULL, signaller, vq_vu_queue(B.b, 1)), 0);
	for (int i = 0; i < 3; i++) {
		usleep(100000);
		pthread_kill(thr, SIGUSR1); /* one handler at a time: 250 ms each */
		usleep(300000);
		while (read(vq_fe_call_fd(fe, 1), &v, sizeof(v)) > 0)
			; /* the counter never fills */
	}
	atomic_store(&sig_stop, true);
	pthread_join(thr, NULL);
	usleep(300000); /* the watchdog drops a stuck writer's connection once it is out */
	ASSERT_GT(atomic_load(&sig_calls), 100u);
	ASSERT_EQ(vq_fe_poll(fe), VQ_FE_READY);
	ASSERT_EQ(O.states[VQ_FE_DISCONNECTED], 0);
	echo_check(fe, 1, 2); /* and the queue still works */
	vq_fe_free(fe);
	backend_stop();
}

TEST(device_writes_bad_used_id)
{
	struct vq_fe *fe;
	struct vq_seg sg;
	void *tok;
	uint32_t len;
	int r = 0;

	mkpath();
	backend_start(VQ_VU_SERVER);
	fe = fe_make(VQ_FE_CLIENT, VQ_F_VERSION_1, NQ);
	ASSERT_EQ(vq_fe_connect(fe), 0);
	ASSERT_EQ(vq_fe_queue_ring(fe, 1, &evil_ring), 0);
	atomic_store(&evil_queue, 1);
	sg = (struct vq_seg){ vq_fe_addr(fe, vq_fe_alloc(fe, 64, 0)), 64 };
	ASSERT_EQ(vq_drv_add(vq_fe_queue(fe, 1), &sg, 0, 1, &sg), 0);
	vq_drv_kick_prepare(vq_fe_queue(fe, 1));
	ASSERT_EQ(vq_fe_kick(fe, 1), 0);
	for (int t = 0; t < 200 && (r = vq_drv_get(vq_fe_queue(fe, 1), &tok, &len)) == 0; t++)
		usleep(5000);
	ASSERT_EQ(r, -EBADR);
	ASSERT_EQ(vq_fe_broken_queue(fe), 1);
	ASSERT_TRUE(vq_fe_queue_is_broken(fe, 1));
	ASSERT_FALSE(vq_fe_queue_is_broken(fe, 2));
	ASSERT_TRUE(strstr(vq_drv_error(vq_fe_queue(fe, 1)), "200") != NULL);
	/* The other queues and the connection are fine. */
	echo_check(fe, 2, 3);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_READY);
	vq_fe_free(fe);
	backend_stop();
}

/* ======================================================================
 * A hostile backend: a minimal responder that sabotages one request.
 * ====================================================================== */

enum sabotage { S_NONE, S_SIZE, S_CODE, S_FLAGS, S_VERSION, S_FD, S_CLOSE, S_NACK,
		S_SILENT, S_VALUE, S_UNSOLICITED, S_EMPTY };

static struct {
	int lfd;
	uint32_t req;
	enum sabotage how;
	pthread_t thr;
} H;

struct whdr { uint32_t req, flags, size; };

static void h_send(int fd, uint32_t req, uint32_t flags, const void *p, uint32_t size, int xfd)
{
	vuc_send(fd, req, flags, p, size, &xfd, xfd >= 0 ? 1 : 0);
}

/* The honest answer to request m (payload in/out).  Returns payload size,
 * or -1 when the request has no reply. */
static int honest(uint32_t req, uint8_t *p, uint32_t size)
{
	uint64_t v;

	switch (req) {
	case 1: v = OFFER | VQ_VU_F_PROTOCOL_FEATURES; break;  /* GET_FEATURES */
	case 15: v = VQ_VU_PROTOCOL_F_ALL; break;              /* GET_PROTOCOL_FEATURES */
	case 17: v = 2; break;                                 /* GET_QUEUE_NUM */
	case 11: return 8;                                     /* GET_VRING_BASE: echo index, num 0 */
	case 24: memset(p + 12, 0x5a, size - 12); return (int)size; /* GET_CONFIG */
	default: return -1;
	}
	memcpy(p, &v, 8);
	return 8;
}

static void hostile_reply(int fd, struct whdr *h, uint8_t *p, int n)
{
	uint32_t flags = 0x5, sz = (uint32_t)n;
	int xfd = -1;

	if (h->req != H.req || H.how == S_NONE) {
		h_send(fd, h->req, flags, p, sz, -1);
		return;
	}
	switch (H.how) {
	case S_SIZE: sz = n == 8 ? 4 : sz + 4; break;
	case S_CODE: h->req = h->req == 1 ? 2 : 1; break;
	case S_FLAGS: flags = 0x1 | 0x40; break;
	case S_VERSION: flags = 0x6; break;
	case S_FD: xfd = open("/dev/null", O_RDONLY | O_CLOEXEC); break;
	case S_NACK: memset(p, 0, 8); p[0] = 22; break;
	case S_VALUE:
		if (h->req == 17)
			memset(p, 0, 8);             /* zero queues */
		else if (h->req == 11)
			p[0] ^= 1;                   /* wrong vring index */
		else if (h->req == 24)
			p[0] += 4;                   /* config offset moved */
		break;
	case S_EMPTY: sz = 0; break;
	default: break;
	}
	h_send(fd, h->req, flags, p, sz, xfd);
	if (xfd >= 0)
		close(xfd);
}

static void *hostile_thread(void *arg)
{
	int fd = accept(H.lfd, NULL, NULL);
	uint8_t p[4096 + 64];
	struct whdr h;

	while (fd >= 0 && recv(fd, &h, sizeof(h), MSG_WAITALL) == (ssize_t)sizeof(h)) {
		union { char buf[CMSG_SPACE(8 * sizeof(int))]; struct cmsghdr a; } ctl;
		int n;

		(void)ctl;
		if (h.size > 4096 || (h.size && recv(fd, p, h.size, MSG_WAITALL) != (ssize_t)h.size))
			break;
		bool unsol = h.req == 39 && H.how == S_UNSOLICITED && (p[0] & 4); /* DRIVER_OK */

		n = honest(h.req, p, h.size);
		if (h.req == H.req && H.how == S_CLOSE)
			break;
		if (h.req == H.req && H.how == S_SILENT) {
			usleep(1300000);
			break;
		}
		if (n < 0 && (h.flags & 0x8)) { /* need_reply: ack */
			memset(p, 0, 8);
			n = 8;
		}
		if (n >= 0)
			hostile_reply(fd, &h, p, n);
		if (unsol)
			h_send(fd, 1, 0x5, p, 8, -1);
	}
	usleep(100000);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Unix-socket fds received over SCM_RIGHTS: count them as "ours". */
static void hostile_start(uint32_t req, enum sabotage how)
{
	mkpath();
	H.req = req;
	H.how = how;
	H.lfd = vuc_listen(B.path);
	ASSERT_GE(H.lfd, 0);
	ASSERT_EQ(pthread_create(&H.thr, NULL, hostile_thread, NULL), 0);
}

static void hostile_stop(void)
{
	pthread_join(H.thr, NULL);
	close(H.lfd);
	unlink(B.path);
	rmdir(B.dir);
}

struct hcase {
	const char *name;
	uint32_t req;
	enum sabotage how;
	int err;
	const char *msg;
};

static const struct hcase hcases[] = {
	{ "features short", 1, S_SIZE, -EPROTO, "payload size 4, expected 8" },
	{ "features wrong code", 1, S_CODE, -EPROTO, "request code 2" },
	{ "features bad flags", 1, S_FLAGS, -EPROTO, "bad flags 0x41" },
	{ "features bad version", 1, S_VERSION, -EPROTO, "bad version" },
	{ "features with an fd", 1, S_FD, -EPROTO, "carries 1 fds" },
	{ "features closed", 1, S_CLOSE, -ECONNRESET, "closed the connection" },
	{ "features silent", 1, S_SILENT, -ETIMEDOUT, "no reply to GET_FEATURES" },
	{ "features empty", 1, S_EMPTY, -EREMOTEIO, "refused GET_FEATURES" },
	{ "pfeatures long", 15, S_SIZE, -EPROTO, "expected 8" },
	{ "queue num zero", 17, S_VALUE, -EPROTO, "GET_QUEUE_NUM answered 0" },
	{ "owner nack", 3, S_NACK, -EREMOTEIO, "refused SET_OWNER (ack 0x16)" },
	{ "mem table nack", 5, S_NACK, -EREMOTEIO, "refused SET_MEM_TABLE" },
	{ "vring addr ack short", 9, S_SIZE, -EPROTO, "payload size 4" },
	{ "kick ack wrong code", 12, S_CODE, -EPROTO, "request code" },
	{ "call ack with fd", 13, S_FD, -EPROTO, "fds" },
	{ "enable ack flags", 18, S_FLAGS, -EPROTO, "bad flags" },
};

TEST(hostile_backend_connect)
{
	for (unsigned i = 0; i < sizeof(hcases) / sizeof(hcases[0]); i++) {
		const struct hcase *c = &hcases[i];
		struct vq_fe *fe;
		int before = vuc_count_fds(), r;

		hostile_start(c->req, c->how);
		fe = fe_make(VQ_FE_CLIENT, VQ_F_VERSION_1 | DEV_BIT, 2);
		r = vq_fe_connect(fe);
		if (r != c->err || !strstr(vq_fe_error(fe), c->msg))
			FAIL("%s: got %d \"%s\", want %d \"%s\"", c->name, r, vq_fe_error(fe),
			     c->err, c->msg);
		ASSERT_EQ(vq_fe_state(fe), VQ_FE_DISCONNECTED);
		ASSERT_TRUE(vq_fe_queue(fe, 0) == NULL);
		vq_fe_free(fe);
		hostile_stop();
		if (vuc_count_fds() != before)
			FAIL("%s: %d fds before, %d after", c->name, before, vuc_count_fds());
	}
}

TEST(hostile_backend_after_setup)
{
	struct vq_fe *fe;
	uint8_t cfg[8];
	uint32_t base;

	/* GET_CONFIG answered for another offset: -EPROTO, connection dropped. */
	hostile_start(24, S_VALUE);
	fe = fe_make(VQ_FE_CLIENT, VQ_F_VERSION_1, 2);
	ASSERT_EQ(vq_fe_connect(fe), 0);
	ASSERT_EQ(vq_fe_get_config(fe, 0, cfg, 8), -EPROTO);
	ASSERT_TRUE(strstr(vq_fe_error(fe), "GET_CONFIG reply for offset 4") != NULL);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_DISCONNECTED);
	ASSERT_EQ(O.events_down, 2);
	vq_fe_free(fe);
	hostile_stop();

	/* GET_VRING_BASE for another vring. */
	hostile_start(11, S_VALUE);
	fe = fe_make(VQ_FE_CLIENT, VQ_F_VERSION_1, 2);
	ASSERT_EQ(vq_fe_connect(fe), 0);
	ASSERT_EQ(vq_fe_stop(fe), -EPROTO);
	ASSERT_TRUE(strstr(vq_fe_error(fe), "answered vring 1") != NULL);
	ASSERT_EQ(vq_fe_queue_base(fe, 0, &base), -ENOENT);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_DISCONNECTED);
	vq_fe_free(fe);
	hostile_stop();

	/* An unsolicited message once the rings run. */
	hostile_start(39, S_UNSOLICITED);
	fe = fe_make(VQ_FE_CLIENT, VQ_F_VERSION_1, 1);
	ASSERT_EQ(vq_fe_connect(fe), 0);
	for (int t = 0; t < 100 && vq_fe_poll(fe) == VQ_FE_READY; t++)
		usleep(5000);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_DISCONNECTED);
	ASSERT_TRUE(strstr(O.why, "unsolicited") != NULL);
	vq_fe_free(fe);
	hostile_stop();
}

TEST(config_validation)
{
	struct vq_fe_params c = { .path = "/tmp/x", .num_queues = 1 };
	uint16_t idx[2] = { 3, 3 };
	struct vq_fe *fe;

	c.queue_size = 100; /* not a power of two */
	ASSERT_EQ(vq_fe_new(&c, &fe), -EINVAL);
	c.queue_size = 0;
	c.num_queues = 0;
	ASSERT_EQ(vq_fe_new(&c, &fe), -EINVAL);
	c.num_queues = 2;
	c.queue_index = idx; /* duplicate vring */
	ASSERT_EQ(vq_fe_new(&c, &fe), -EINVAL);
	c.queue_index = NULL;
	c.path = NULL;
	ASSERT_EQ(vq_fe_new(&c, &fe), -EINVAL);
	/* Nobody listening. */
	c.path = "/nonexistent/virtq-sock";
	ASSERT_EQ(vq_fe_new(&c, &fe), 0);
	ASSERT_EQ(vq_fe_connect(fe), -ENOENT);
	ASSERT_EQ(vq_fe_stop(fe), -ENOTCONN);
	ASSERT_EQ(vq_fe_get_config(fe, 0, idx, 2), -ENOTCONN);
	ASSERT_TRUE(vq_fe_alloc(fe, 1, 3) == NULL); /* bad alignment */
	ASSERT_TRUE(vq_fe_alloc(fe, 1, 0) == NULL); /* no arena */
	vq_fe_free(fe);
}
