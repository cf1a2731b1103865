/* SPDX-License-Identifier: MIT */
/*
 * A stalled frontend does not stall the control plane: two backends on one
 * built-in loop; a frontend that sends part of a message and stops keeps
 * its half-message in its connection's buffer while the other backend
 * answers at once, and is dropped when the message misses its deadline.
 * Likewise a frontend that stops reading its replies: they wait in its
 * connection's out-buffer (bounded in bytes and time), never in the loop.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <virtq/vhost_user.h>

#include "../harness/test.h"
#include "../harness/vu_client.c"

static struct env {
	char dir[64], path[2][128];
	struct vq_vu_loop *loop;
	struct vq_vu_backend *b[2];
	pthread_t thr;
	atomic_bool stop;
} E;

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char logbuf[1 << 20]; /* every debug line of a 4,000-request flood */

static void log_hook(void *ctx, int level, const char *msg)
{
	pthread_mutex_lock(&log_mu);
	size_t n = strlen(logbuf);

	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", msg);
	pthread_mutex_unlock(&log_mu);
}

static bool log_has(const char *s)
{
	pthread_mutex_lock(&log_mu);
	bool r = strstr(logbuf, s) != NULL;

	pthread_mutex_unlock(&log_mu);
	return r;
}

static int d_start(void *dev, struct vq_vu_queue *q) { return 0; }
static void d_stop(void *dev, struct vq_vu_queue *q) { }

static const struct vq_vu_device_ops dops = { .queue_start = d_start, .queue_stop = d_stop };

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *loop_thread(void *arg)
{
	while (!atomic_load(&E.stop))
		if (vq_vu_loop_run(E.loop, 20) < 0)
			break;
	return NULL;
}

static void env_start(void)
{
	vq_vu_set_log(log_hook, NULL, VQ_VU_LOG_DEBUG);
	strcpy(E.dir, "/tmp/vqstall.XXXXXX");
	ASSERT_TRUE(mkdtemp(E.dir) != NULL);
	ASSERT_EQ(vq_vu_loop_new(&E.loop), 0);
	for (int i = 0; i < 2; i++) {
		struct vq_vu_params cfg = {
			.name = i ? "b" : "a", .mode = VQ_VU_SERVER, .path = E.path[i],
			.listen_fd = -1, .ops = &dops, .features = 1ull << 32,
			.protocol_features = VQ_VU_PROTOCOL_F_ALL, .num_queues = 1,
			.loop_ops = vq_vu_loop_ops(), .loop = E.loop,
		};

		snprintf(E.path[i], sizeof(E.path[i]), "%s/%c.sock", E.dir, i ? 'b' : 'a');
		ASSERT_EQ(vq_vu_backend_new(&cfg, &E.b[i]), 0);
	}
	ASSERT_EQ(pthread_create(&E.thr, NULL, loop_thread, NULL), 0);
}

static void env_stop(void)
{
	atomic_store(&E.stop, true);
	pthread_join(E.thr, NULL);
	for (int i = 0; i < 2; i++)
		vq_vu_backend_free(E.b[i]);
	vq_vu_loop_free(E.loop);
	rmdir(E.dir);
}

/* GET_FEATURES on fd: the milliseconds until the answer came. */
static uint64_t timed_get_features(int fd)
{
	uint64_t t0 = ms_now(), v = 0;

	ASSERT_EQ(vuc_get_u64(fd, VUC_GET_FEATURES, &v), 0);
	ASSERT_TRUE(v & (1ull << 32));
	return ms_now() - t0;
}

/* The median of five GET_FEATURES round trips on fd (a shared machine
 * may preempt one; a blocked control thread delays all five by ~1 s). */
static uint64_t median5(int fd)
{
	uint64_t t[5];

	for (int i = 0; i < 5; i++) {
		t[i] = timed_get_features(fd);
		for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
			uint64_t x = t[j];

			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	}
	return t[2];
}

/* Send the first n bytes of msg, then stop; the other port must answer at
 * once, and the stalled one be dropped about 1 s after its first byte. */
static void stall_then_probe(const void *msg, size_t n, const char *log_text)
{
	int a, b;
	uint64_t t0, waited, closed_ms;

	env_start();
	a = vuc_connect(E.path[0], 2000);
	b = vuc_connect(E.path[1], 2000);
	ASSERT_GE(a, 0);
	ASSERT_GE(b, 0);
	timed_get_features(b); /* both connected and served */
	t0 = ms_now();
	ASSERT_EQ(vuc_send_raw(a, msg, n, NULL, 0), 0);
	usleep(20 * 1000); /* the loop has seen the partial message */
	waited = median5(b);
	ASSERT_LT(waited, 50);
	ASSERT_TRUE(vuc_closed(a, 3000));
	closed_ms = ms_now() - t0;
	ASSERT_GE(closed_ms, 900);
	ASSERT_LT(closed_ms, 2500);
	ASSERT_TRUE(log_has(log_text));
	ASSERT_LT(median5(b), 50); /* the other port still served */
	close(a);
	close(b);
	env_stop();
}

TEST(stall_mid_header_other_port_answers)
{
	struct vuc_hdr h = { VUC_GET_FEATURES, VUC_V1, 0 };

	stall_then_probe(&h, 8, "message stalled: 8 of 12 bytes");
}

TEST(stall_mid_payload_other_port_answers)
{
	uint8_t m[12 + 8] = { 0 };
	struct vuc_hdr h = { VUC_SET_FEATURES, VUC_V1, 8 };

	memcpy(m, &h, sizeof(h));
	stall_then_probe(m, 16, "message stalled: 16 of 20 bytes");
}

/* A message trickling in byte by byte, within its deadline, is served. */
TEST(trickled_message_is_served)
{
	struct vuc_hdr h = { VUC_GET_FEATURES, VUC_V1, 0 };
	struct vuc_msg m;
	int a;

	env_start();
	a = vuc_connect(E.path[0], 2000);
	ASSERT_GE(a, 0);
	for (size_t i = 0; i < sizeof(h); i++) {
		ASSERT_EQ(vuc_send_raw(a, (char *)&h + i, 1, NULL, 0), 0);
		usleep(10 * 1000);
	}
	ASSERT_EQ(vuc_reply(a, VUC_GET_FEATURES, &m, 2000), 0);
	ASSERT_EQ(m.h.size, 8);
	ASSERT_TRUE(m.u64 & (1ull << 32));
	close(a);
	env_stop();
}

/* ---- a frontend that stops reading its replies */

/* n GET_FEATURES requests in one write on fd, no reply read. */
static void send_unread(int fd, unsigned n)
{
	struct vuc_hdr *h = calloc(n, sizeof(*h));

	ASSERT_TRUE(h != NULL);
	for (unsigned i = 0; i < n; i++)
		h[i] = (struct vuc_hdr){ VUC_GET_FEATURES, VUC_V1, 0 };
	ASSERT_EQ(vuc_send_raw(fd, h, n * sizeof(*h), NULL, 0), 0);
	free(h);
}

/* Milliseconds until the peer closed fd, seen without reading (reading
 * would let the backend flush); -1 when not within ms. */
static int64_t closed_unread_ms(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };
	uint64_t t0 = ms_now();

	while (ms_now() - t0 < (uint64_t)ms)
		if (poll(&p, 1, 10) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			return (int64_t)(ms_now() - t0);
	return -1;
}

/* 700 replies (14,000 bytes): more than the socket takes, less than the
 * out-buffer's bound.  The other port answers at once while they wait; the
 * connection is dropped when they are still unread 1 s later. */
TEST(unread_replies_other_port_answers)
{
	int a, b;
	int64_t closed;

	env_start();
	a = vuc_connect(E.path[0], 2000);
	b = vuc_connect(E.path[1], 2000);
	ASSERT_GE(a, 0);
	ASSERT_GE(b, 0);
	timed_get_features(b);
	send_unread(a, 700);
	usleep(20 * 1000);
	ASSERT_LT(median5(b), 50);
	closed = closed_unread_ms(a, 3000);
	ASSERT_GE(closed, 0);
	ASSERT_TRUE(log_has("reply bytes pending for 1000 ms"));
	ASSERT_LT(median5(b), 50);
	close(a);
	close(b);
	env_stop();
}

/* 4,000 replies (80,000 bytes) overflow the bound: dropped at once. */
TEST(reply_flood_over_bound_dropped)
{
	int a;
	int64_t closed;

	env_start();
	a = vuc_connect(E.path[0], 2000);
	ASSERT_GE(a, 0);
	send_unread(a, 4000);
	closed = closed_unread_ms(a, 3000);
	ASSERT_GE(closed, 0);
	ASSERT_LT(closed, 900); /* the bytes bound, not the 1 s deadline */
	ASSERT_TRUE(log_has("pending > max"));
	close(a);
	env_stop();
}

/* A frontend that reads late (within the deadline) gets every reply, in
 * order, intact: the out-buffer loses nothing. */
TEST(late_reader_gets_every_reply)
{
	struct vuc_msg m;
	int a;

	env_start();
	a = vuc_connect(E.path[0], 2000);
	ASSERT_GE(a, 0);
	send_unread(a, 700);
	usleep(300 * 1000);
	for (unsigned i = 0; i < 700; i++) {
		ASSERT_EQ(vuc_reply(a, VUC_GET_FEATURES, &m, 2000), 0);
		ASSERT_EQ(m.h.size, 8);
		ASSERT_TRUE(m.u64 & (1ull << 32));
	}
	ASSERT_FALSE(log_has("stopped reading"));
	timed_get_features(a); /* still connected */
	close(a);
	env_stop();
}
