/* SPDX-License-Identifier: MIT */
/*
 * The device adapter (vq_vu_serve) against our own frontend (vq_fe) over a
 * real unix socket.  The device model is a small ops table in this file: an
 * echo device (each chain's readable bytes are copied into its writable
 * part) that logs every op it receives.  Checks that features, config
 * (zeros past the model's structure), queue start/stop/enable/kick, reset
 * and attach reach the model in the documented order, that the daemon
 * hooks run around them, that a queue whose kick fd a hook took is not
 * drained by the loop, that notify signals the call eventfd, and that a
 * refused start leaves the queue stopped.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <virtq/frontend.h>

#include "../harness/echo.h"
#include "../harness/test.h"

#define NQ 2
#define DEV_BIT (1ull << 5)
#define OFFER (VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_F_INDIRECT | VQ_F_PACKED | DEV_BIT)
#define CFG_SIZE 16u

/* ---- the model */
static struct {
	pthread_mutex_t lock;
	char log[2048];
	struct vq_device_host host;
	struct vq_dev *q[NQ];
	uint64_t features;
	int set_features_calls;
	atomic_int kicks[NQ];
	int refuse_queue;     /* hook refuses this queue's start; -1 none */
	int own_kick_queue;   /* hook takes this queue's kick fd; -1 none */
	atomic_int broken_idx;
} T = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Log a word: what, followed by the queue index unless idx < 0. */
static void note(const char *what, int idx)
{
	char w[32];

	if (idx < 0)
		snprintf(w, sizeof(w), "%s", what);
	else
		snprintf(w, sizeof(w), "%s%d", what, idx);
	pthread_mutex_lock(&T.lock);
	if (strlen(T.log) + strlen(w) + 2 < sizeof(T.log)) {
		strcat(T.log, w);
		strcat(T.log, " ");
	}
	pthread_mutex_unlock(&T.lock);
}

/* Does the log hold the words of `want` in this order (not adjacent)? */
static bool logged(const char *want)
{
	char buf[sizeof(T.log) + 1], w[256], key[72], *save = NULL;
	const char *at = buf;

	pthread_mutex_lock(&T.lock);
	buf[0] = ' ';
	memcpy(buf + 1, T.log, sizeof(T.log));
	pthread_mutex_unlock(&T.lock);
	snprintf(w, sizeof(w), "%s", want);
	for (char *tok = strtok_r(w, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		snprintf(key, sizeof(key), " %s ", tok);
		at = strstr(at, key);
		if (!at)
			return false;
		at += strlen(key) - 1;
	}
	return true;
}

static uint64_t m_get_features(void *dev)
{
	return OFFER;
}

static int m_set_features(void *dev, uint64_t f)
{
	T.features = f;
	T.set_features_calls++;
	note("features", -1);
	return 0;
}

static int m_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	uint8_t cfg[CFG_SIZE];

	for (unsigned i = 0; i < sizeof(cfg); i++)
		cfg[i] = (uint8_t)(0x40 + i);
	if (off > sizeof(cfg) || len > sizeof(cfg) - off)
		return -EINVAL;
	memcpy(buf, cfg + off, len);
	return 0;
}

static unsigned m_num_queues(void *dev)
{
	return NQ;
}

static int m_queue_start(void *dev, unsigned idx, struct vq_dev *q)
{
	T.q[idx] = q;
	note("start", (int)idx);
	return 0;
}

static void m_queue_stop(void *dev, unsigned idx)
{
	T.q[idx] = NULL;
	note("stop", (int)idx);
}

static void m_queue_enable(void *dev, unsigned idx, bool on)
{
	note(on ? "enable" : "disable", (int)idx);
}


static void m_queue_kick(void *dev, unsigned idx)
{
	struct vq_dev *vd = T.q[idx];
	struct iovec iov[16];
	struct vq_elem e = { .iov = iov, .iov_cap = 16 };

	atomic_fetch_add(&T.kicks[idx], 1);
	if (!vd)
		return;
	while (vq_dev_pop(vd, &e) == 1) {
		vq_test_echo(&e);
		vq_dev_push(vd, &e, (uint32_t)(e.out_len < e.in_len ? e.out_len : e.in_len));
	}
	vq_dev_flush(vd);
	if (vq_dev_need_notify(vd) && T.host.notify)
		T.host.notify(T.host.host, idx);
}

static void m_reset(void *dev)
{
	note("reset", -1);
}

static void m_attach(void *dev, const struct vq_device_host *host)
{
	if (host)
		T.host = *host;
	else
		memset(&T.host, 0, sizeof(T.host));
	note(host ? "attach" : "detach", -1);
}

static const struct vq_device_ops model_ops = {
	.name = "echo", .device_id = 0xffff,
	.get_features = m_get_features, .set_features = m_set_features,
	.get_config = m_get_config, .config_size = CFG_SIZE,
	.num_queues = m_num_queues,
	.queue_start = m_queue_start, .queue_stop = m_queue_stop,
	.queue_enable = m_queue_enable, .queue_kick = m_queue_kick,
	.reset = m_reset, .attach = m_attach,
};

/* ---- the daemon's hooks */
static int h_started(void *hook, unsigned idx, struct vq_vu_queue *q)
{
	ASSERT_EQ(vq_vu_queue_index(q), idx);
	ASSERT_TRUE(vq_vu_queue_dev(q) == T.q[idx]);
	note("started", (int)idx);
	if ((int)idx == T.refuse_queue)
		return -EIO;
	return (int)idx == T.own_kick_queue;
}

static void h_stopping(void *hook, unsigned idx, struct vq_vu_queue *q)
{
	ASSERT_TRUE(T.q[idx] != NULL); /* before the model's queue_stop */
	note("stopping", (int)idx);
}

static void h_enabled(void *hook, unsigned idx, struct vq_vu_queue *q, bool on)
{
	note(on ? "enabled" : "disabled", (int)idx);
}

static void h_broken(void *hook, unsigned idx, struct vq_vu_queue *q)
{
	atomic_store(&T.broken_idx, (int)idx);
}

static void h_reset(void *hook)
{
	note("reset-hook", -1);
}

static const struct vq_vu_serve_hooks hooks = {
	.queue_started = h_started, .queue_stopping = h_stopping,
	.queue_enabled = h_enabled, .queue_broken = h_broken, .reset = h_reset,
};

/* ---- backend on a loop thread */
static struct {
	char dir[64], path[128];
	struct vq_vu_loop *loop;
	struct vq_vu_backend *b;
	pthread_t thr;
	atomic_bool stop;
} B;

static void *loop_thread(void *arg)
{
	while (!atomic_load(&B.stop))
		if (vq_vu_loop_run(B.loop, 10) < 0)
			break;
	return NULL;
}

static void quiet(void *ctx, int level, const char *msg) {}

static void serve_start(const struct vq_vu_serve_hooks *h)
{
	struct vq_vu_serve_params p = {
		.name = "t", .mode = VQ_VU_SERVER, .listen_fd = -1,
		.device = { .ops = &model_ops, .dev = &T },
		.queue_num = 1, .loop_ops = vq_vu_loop_ops(), .hooks = h,
	};

	T.refuse_queue = T.own_kick_queue = -1;
	atomic_store(&T.broken_idx, -1);
	vq_vu_set_log(quiet, NULL, 0);
	strcpy(B.dir, "/tmp/vqserve.XXXXXX");
	ASSERT_TRUE(mkdtemp(B.dir) != NULL);
	snprintf(B.path, sizeof(B.path), "%s/sock", B.dir);
	p.path = B.path;
	ASSERT_EQ(vq_vu_loop_new(&B.loop), 0);
	p.loop = B.loop;
	ASSERT_EQ(vq_vu_serve(&p, &B.b), 0);
	ASSERT_TRUE(vq_vu_device(B.b) == &T);
	ASSERT_TRUE(logged("attach"));
	ASSERT_EQ(pthread_create(&B.thr, NULL, loop_thread, NULL), 0);
}

static void serve_stop(void)
{
	atomic_store(&B.stop, true);
	pthread_join(B.thr, NULL);
	vq_vu_backend_free(B.b);
	vq_vu_loop_free(B.loop);
	ASSERT_TRUE(logged("detach"));
	rmdir(B.dir);
}

static struct vq_fe *fe_connect(uint64_t features)
{
	struct vq_fe_params c = {
		.path = B.path, .mode = VQ_FE_CLIENT, .features = features, .num_queues = NQ,
		.queue_size = 64, .mem_size = 1 << 20, .timeout_ms = 2000,
	};
	struct vq_fe *fe;

	ASSERT_EQ(vq_fe_new(&c, &fe), 0);
	ASSERT_EQ(vq_fe_connect(fe), 0);
	return fe;
}

/* One chain out through queue i: the reply must come back with a call. */
static void round_trip(struct vq_fe *fe, unsigned i, const char *msg)
{
	struct vq_drv *q = vq_fe_queue(fe, i);
	uint8_t *out = vq_fe_alloc(fe, 64, 0), *in = vq_fe_alloc(fe, 64, 0);
	struct vq_seg sg[2] = { { vq_fe_addr(fe, out), 16 }, { vq_fe_addr(fe, in), 64 } };
	void *tok = NULL;
	uint32_t len = 0;

	ASSERT_TRUE(q && out && in);
	memset(in, 0, 64);
	snprintf((char *)out, 16, "%s", msg);
	ASSERT_EQ(vq_drv_add(q, sg, 1, 1, out), 0);
	if (vq_drv_kick_prepare(q))
		ASSERT_EQ(vq_fe_kick(fe, i), 0);
	ASSERT_EQ(vq_fe_wait(fe, i, 2000), 1); /* host notify -> call eventfd */
	ASSERT_EQ(vq_drv_get(q, &tok, &len), 1);
	ASSERT_TRUE(tok == out);
	ASSERT_EQ(len, 16);
	ASSERT_MEM_EQ(in, out, 16);
}

TEST(features_and_config)
{
	struct vq_fe *fe;
	uint8_t cfg[8], zero[8] = { 0 };

	serve_start(NULL);
	fe = fe_connect(VQ_FE_TRANSPORT_FEATURES | DEV_BIT | (1ull << 7));
	ASSERT_EQ_U64(vq_fe_backend_features(fe), OFFER | VQ_VU_F_PROTOCOL_FEATURES);
	/* The model never sees the transport's PROTOCOL_FEATURES bit. */
	ASSERT_EQ_U64(T.features, vq_fe_features(fe) & ~VQ_VU_F_PROTOCOL_FEATURES);
	ASSERT_TRUE(T.features & DEV_BIT);
	ASSERT_EQ(T.set_features_calls, 1);
	ASSERT_EQ_U64(vq_fe_backend_queue_num(fe), 1);
	/* Half inside the model's 16 bytes, half past them: zeros. */
	ASSERT_EQ(vq_fe_get_config(fe, 12, cfg, 8), 0);
	ASSERT_EQ(cfg[0], 0x4c);
	ASSERT_EQ(cfg[3], 0x4f);
	ASSERT_MEM_EQ(cfg + 4, zero, 4);
	ASSERT_EQ(vq_fe_get_config(fe, 100, cfg, 8), 0);
	ASSERT_MEM_EQ(cfg, zero, 8);
	/* Past the transport's limit: refused, the connection stays. */
	ASSERT_EQ(vq_fe_get_config(fe, VQ_VU_MAX_CONFIG - 4, cfg, 8), -EREMOTEIO);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_READY);
	ASSERT_TRUE(logged("attach features start0"));
	ASSERT_TRUE(logged("attach features start1"));
	vq_fe_free(fe);
	serve_stop();
	ASSERT_TRUE(logged("start0 stop0 reset detach"));
}

static void echo_layout(uint64_t features)
{
	struct vq_fe *fe;

	serve_start(NULL);
	fe = fe_connect(features);
	for (unsigned k = 0; k < 20; k++) {
		round_trip(fe, 0, "hello q0");
		round_trip(fe, 1, "hello q1");
	}
	ASSERT_GE(atomic_load(&T.kicks[0]), 1);
	ASSERT_GE(atomic_load(&T.kicks[1]), 1);
	vq_fe_free(fe);
	serve_stop();
}

TEST(echo_split) { echo_layout(VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_F_INDIRECT); }
TEST(echo_packed) { echo_layout(VQ_F_VERSION_1 | VQ_F_PACKED | VQ_F_EVENT_IDX); }

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

TEST(hooks_order_and_kick_ownership)
{
	struct vq_fe *fe;
	struct vq_drv *q1;
	uint8_t *buf;
	struct vq_seg sg;
	int kfd;

	serve_start(&hooks);
	T.own_kick_queue = 1;
	fe = fe_connect(VQ_F_VERSION_1 | VQ_F_EVENT_IDX);
	ASSERT_TRUE(logged("start0 started0 enable0 enabled0"));
	ASSERT_TRUE(logged("start1 started1 enable1 enabled1"));
	round_trip(fe, 0, "loop kicks q0");
	/* Queue 1's kick fd belongs to the daemon: the loop leaves it. */
	q1 = vq_fe_queue(fe, 1);
	buf = vq_fe_alloc(fe, 64, 0);
	sg = (struct vq_seg){ vq_fe_addr(fe, buf), 64 };
	ASSERT_EQ(vq_drv_add(q1, &sg, 0, 1, buf), 0);
	vq_drv_kick_prepare(q1);
	ASSERT_EQ(vq_fe_kick(fe, 1), 0);
	kfd = vq_vu_queue_kick_fd(vq_vu_queue(B.b, 1));
	ASSERT_GE(kfd, 0);
	ASSERT_TRUE(readable(kfd, 1000));
	usleep(50000);
	ASSERT_TRUE(readable(kfd, 0)); /* still unread */
	ASSERT_EQ(atomic_load(&T.kicks[1]), 0);
	/* A model's broken report signals and reaches the hook; a bad index
	 * is ignored. */
	T.host.queue_broken(T.host.host, 7);
	ASSERT_EQ(atomic_load(&T.broken_idx), -1);
	T.host.queue_broken(T.host.host, 1);
	ASSERT_EQ(atomic_load(&T.broken_idx), 1);
	ASSERT_EQ(vq_fe_stop(fe), 0);
	ASSERT_TRUE(logged("started1 stopping1 stop1"));
	ASSERT_TRUE(logged("started0 stopping0 stop0"));
	vq_fe_free(fe);
	serve_stop();
	ASSERT_TRUE(logged("stop1 reset-hook reset detach"));
}

TEST(refused_start_stays_stopped)
{
	struct vq_fe_params c = {
		.features = VQ_F_VERSION_1, .num_queues = NQ, .queue_size = 64,
		.mem_size = 1 << 20, .timeout_ms = 2000,
	};
	struct vq_fe *fe;

	serve_start(&hooks);
	T.refuse_queue = 1;
	c.path = B.path;
	ASSERT_EQ(vq_fe_new(&c, &fe), 0);
	ASSERT_NE(vq_fe_connect(fe), 0); /* SET_VRING_KICK of queue 1 refused */
	ASSERT_TRUE(logged("start1 started1 stop1"));
	ASSERT_FALSE(vq_vu_queue_is_started(vq_vu_queue(B.b, 1)));
	vq_fe_free(fe);
	serve_stop();
}

TEST(bad_params)
{
	struct vq_device_ops no_start = model_ops;
	struct vq_vu_serve_params p = {
		.mode = VQ_VU_SERVER, .path = "/nonexistent/x", .listen_fd = -1,
		.device = { .ops = &no_start },
	};
	struct vq_vu_backend *b = NULL;

	no_start.queue_start = NULL;
	ASSERT_EQ(vq_vu_serve(&p, &b), -EINVAL);
	ASSERT_EQ(vq_vu_serve(NULL, &b), -EINVAL);
	p.device.ops = &model_ops;
	ASSERT_LT(vq_vu_serve(&p, &b), 0); /* cannot bind */
	ASSERT_TRUE(b == NULL);
}
