/* SPDX-License-Identifier: MIT */
/*
 * The frontend's manual mode (a proxy's: vq_fe_set_features,
 * vq_fe_set_mem_table, vq_fe_ring_start/stop) against our own backend in
 * process over a real unix socket, and the backend's vq_vu_mem_fd (the file
 * behind a piece of guest memory, which a proxy hands on).  The test owns a
 * memfd, gives it to the backend at addresses of its choosing (IOVAs that
 * are not its own pointers), builds a ring in it and checks that an echo
 * device answers through it, that GET_VRING_BASE reports the ring's
 * position, that bad arguments are refused without dropping the
 * connection, and that vq_vu_mem_fd finds the same file at the right offset
 * and refuses ranges no one mapping covers.  And mode (c) of the backend
 * (the caller polls vq_vu_fd and calls vq_vu_dispatch, as virtq-svq does):
 * dispatch runs the watchdog's timer when it falls due, or the caller spins.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <virtq/frontend.h>

#include "../harness/echo.h"
#include "../harness/test.h"

#define NQ 2
#define DEV_BIT (1ull << 5)
#define OFFER (VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_F_INDIRECT | VQ_F_PACKED | DEV_BIT)
#define MEM_SIZE (1u << 20)
#define IOVA_A 0x40000000ull  /* the first half of the memfd */
#define IOVA_B 0x7f0000000ull /* the second half */

/* ---- the echo device (vq_test_echo: readable bytes into the writable part) */

static int d_start(void *dev, struct vq_vu_queue *q) { return 0; }
static void d_stop(void *dev, struct vq_vu_queue *q) {}

static void d_kick(void *dev, struct vq_vu_queue *q)
{
	struct vq_dev *vd = vq_vu_queue_dev(q);
	struct iovec iov[16];
	struct vq_elem e = { .iov = iov, .iov_cap = 16 };

	if (!vd)
		return;
	while (vq_dev_pop(vd, &e) == 1) {
		vq_test_echo(&e);
		vq_dev_push(vd, &e, (uint32_t)(e.out_len < e.in_len ? e.out_len : e.in_len));
	}
	vq_dev_flush(vd);
	vq_vu_queue_notify(q);
}

static const struct vq_vu_device_ops dops = {
	.queue_start = d_start, .queue_stop = d_stop, .queue_kick = d_kick,
};

/* ---- the backend on a thread; the test pauses it to call control-thread API */
static struct {
	char dir[64], path[128];
	struct vq_vu_loop *loop;
	struct vq_vu_backend *b;
	pthread_t thr;
	atomic_bool stop, pause, paused;
} B;

static void *loop_thread(void *arg)
{
	while (!atomic_load(&B.stop)) {
		if (atomic_load(&B.pause)) {
			atomic_store(&B.paused, true);
			while (atomic_load(&B.pause))
				usleep(1000);
			atomic_store(&B.paused, false);
		}
		if (vq_vu_loop_run(B.loop, 10) < 0)
			break;
	}
	return NULL;
}

static void quiet(void *ctx, int level, const char *msg) {}

static void backend_start(void)
{
	struct vq_vu_params cfg = {
		.name = "t", .mode = VQ_VU_SERVER, .path = B.path, .listen_fd = -1, .ops = &dops,
		.features = OFFER, .protocol_features = VQ_VU_PROTOCOL_F_ALL,
		.num_queues = NQ, .loop_ops = vq_vu_loop_ops(),
	};

	strcpy(B.dir, "/tmp/vqfm.XXXXXX");
	ASSERT_TRUE(mkdtemp(B.dir) != NULL);
	snprintf(B.path, sizeof(B.path), "%s/sock", B.dir);
	vq_vu_set_log(quiet, NULL, 0);
	ASSERT_EQ(vq_vu_loop_new(&B.loop), 0);
	cfg.loop = B.loop;
	ASSERT_EQ(vq_vu_backend_new(&cfg, &B.b), 0);
	ASSERT_EQ(pthread_create(&B.thr, NULL, loop_thread, NULL), 0);
}

static void backend_stop(void)
{
	atomic_store(&B.stop, true);
	pthread_join(B.thr, NULL);
	vq_vu_backend_free(B.b);
	vq_vu_loop_free(B.loop);
	rmdir(B.dir);
}

static void backend_pause(bool on)
{
	atomic_store(&B.pause, on);
	while (on && !atomic_load(&B.paused))
		usleep(1000);
}

/* ---- the proxy's side: a manual frontend and memory of its own */
static struct vq_fe *fe_manual(bool manual)
{
	struct vq_fe_params c = {
		.path = B.path, .mode = VQ_FE_CLIENT, .features = OFFER, .num_queues = NQ,
		.queue_size = 64, .mem_size = 1 << 20, .timeout_ms = 2000, .manual = manual,
	};
	struct vq_fe *fe;

	ASSERT_EQ(vq_fe_new(&c, &fe), 0);
	ASSERT_EQ(vq_fe_connect(fe), 0);
	return fe;
}

struct memfd {
	int fd;
	uint8_t *p;
};

static void memfd_make(struct memfd *m)
{
	m->fd = memfd_create("fe_manual", MFD_CLOEXEC);
	ASSERT_GE(m->fd, 0);
	ASSERT_EQ(ftruncate(m->fd, MEM_SIZE), 0);
	m->p = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	ASSERT_TRUE(m->p != MAP_FAILED);
}

/* The memfd as two regions at unrelated IOVAs: [0, half) and [half, end). */
static void two_regions(const struct memfd *m, struct vq_fe_region r[2])
{
	r[0] = (struct vq_fe_region){ .addr = IOVA_A, .size = MEM_SIZE / 2, .fd = m->fd };
	r[1] = (struct vq_fe_region){ .addr = IOVA_B, .size = MEM_SIZE / 2, .fd = m->fd,
				      .offset = MEM_SIZE / 2 };
}

/* IOVA of p inside the memfd (two_regions' layout). */
static uint64_t iova_of(const struct memfd *m, const void *p)
{
	size_t off = (size_t)((const uint8_t *)p - m->p);

	return off < MEM_SIZE / 2 ? IOVA_A + off : IOVA_B + (off - MEM_SIZE / 2);
}

TEST(negotiate_only)
{
	struct vq_fe *fe;

	backend_start();
	fe = fe_manual(true);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_READY);
	ASSERT_TRUE(vq_fe_queue(fe, 0) == NULL); /* no rings made */
	ASSERT_EQ_U64(vq_fe_backend_features(fe) & OFFER, OFFER);
	/* Not offered: refused, connection kept. */
	ASSERT_EQ(vq_fe_set_features(fe, VQ_F_VERSION_1 | (1ull << 9)), -EINVAL);
	ASSERT_EQ(vq_fe_set_features(fe, VQ_F_VERSION_1 | DEV_BIT), 0);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_READY);
	backend_pause(true);
	ASSERT_EQ_U64(vq_vu_features(B.b) & ~VQ_VU_F_PROTOCOL_FEATURES,
		      VQ_F_VERSION_1 | DEV_BIT);
	ASSERT_TRUE(vq_vu_mem(B.b) == NULL); /* no table sent yet */
	backend_pause(false);
	vq_fe_free(fe);
	backend_stop();
}

/* SET_STATUS reaches a backend that negotiated STATUS (DPDK's vhost serves
 * no ring before DRIVER_OK); without the feature nothing is sent. */
TEST(set_status_when_negotiated)
{
	struct vq_fe_params c = {
		.path = B.path, .mode = VQ_FE_CLIENT, .features = OFFER, .num_queues = NQ,
		.queue_size = 64, .mem_size = 1 << 20, .timeout_ms = 2000, .manual = true,
		.protocol_features = VQ_VU_PROTOCOL_F_MQ | VQ_VU_PROTOCOL_F_REPLY_ACK,
	};
	struct vq_fe *fe;

	backend_start();
	fe = fe_manual(true);
	ASSERT_EQ(vq_fe_set_status(fe, 0x0f), 1);
	backend_pause(true);
	ASSERT_EQ(vq_vu_status(B.b), 0x0f);
	backend_pause(false);
	vq_fe_free(fe);
	/* Not negotiated: 0, and the backend's status stays as it was. */
	ASSERT_EQ(vq_fe_new(&c, &fe), 0);
	ASSERT_EQ(vq_fe_connect(fe), 0);
	ASSERT_EQ(vq_fe_set_status(fe, 0x0f), 0);
	backend_pause(true);
	ASSERT_EQ(vq_vu_status(B.b), 0);
	backend_pause(false);
	vq_fe_free(fe);
	backend_stop();
}

TEST(refusals_keep_the_connection)
{
	struct vq_fe_region r[VQ_VU_MEM_TABLE_REGIONS + 1];
	struct vq_fe_ring ring = { .layout = VQ_LAYOUT_SPLIT, .size = 64 };
	struct vq_fe *fe, *auto_fe;
	struct memfd m;
	uint32_t base;

	backend_start();
	memfd_make(&m);
	fe = fe_manual(true);
	two_regions(&m, r);
	ASSERT_EQ(vq_fe_set_mem_table(fe, r, 0), -EINVAL);
	ASSERT_EQ(vq_fe_set_mem_table(fe, r, VQ_VU_MEM_TABLE_REGIONS + 1), -EINVAL);
	r[1].fd = -1;
	ASSERT_EQ(vq_fe_set_mem_table(fe, r, 2), -EINVAL);
	two_regions(&m, r);
	r[0].size = 0;
	ASSERT_EQ(vq_fe_set_mem_table(fe, r, 2), -EINVAL);
	two_regions(&m, r);
	r[1].addr = ~0ull - 100; /* addr + size wraps */
	ASSERT_EQ(vq_fe_set_mem_table(fe, r, 2), -EINVAL);
	two_regions(&m, r);
	r[1].offset = ~0ull - 10; /* offset + size wraps */
	ASSERT_EQ(vq_fe_set_mem_table(fe, r, 2), -EINVAL);
	ASSERT_EQ(vq_fe_ring_start(fe, NQ, &ring), -EINVAL);
	ring.size = 0;
	ASSERT_EQ(vq_fe_ring_start(fe, 0, &ring), -EINVAL);
	ASSERT_EQ(vq_fe_ring_stop(fe, NQ, &base), -EINVAL);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_READY);
	/* A disconnected frontend is refused. */
	vq_fe_disconnect(fe);
	two_regions(&m, r);
	ASSERT_EQ(vq_fe_set_mem_table(fe, r, 2), -ENOTCONN);
	ASSERT_EQ(vq_fe_ring_start(fe, 0, &ring), -ENOTCONN);
	vq_fe_free(fe);
	/* The calls are manual mode's: an ordinary frontend is refused. */
	auto_fe = fe_manual(false);
	ASSERT_EQ(vq_fe_set_mem_table(auto_fe, r, 2), -ENOTCONN);
	ASSERT_EQ(vq_fe_set_features(auto_fe, VQ_F_VERSION_1), -ENOTCONN);
	ASSERT_EQ(vq_fe_state(auto_fe), VQ_FE_READY);
	vq_fe_free(auto_fe);
	munmap(m.p, MEM_SIZE);
	close(m.fd);
	backend_stop();
}

/* The backend's view of our memory: vq_vu_mem_fd on its mapping. */
static void check_mem_fd(const struct memfd *m)
{
	const struct vq_mem *vm;
	struct stat a, b;
	uint8_t *ha, *hb;
	uint64_t off = 0;
	int fd;

	backend_pause(true);
	vm = vq_vu_mem(B.b);
	ASSERT_TRUE(vm != NULL);
	ASSERT_EQ(vq_mem_count(vm), 2u);
	ha = vq_mem_ptr(vm, IOVA_A + 100, 16, VQ_MEM_READ);
	hb = vq_mem_ptr(vm, IOVA_B + 4096, 64, VQ_MEM_READ);
	ASSERT_TRUE(ha && hb);
	fd = vq_vu_mem_fd(B.b, ha, 16, &off);
	ASSERT_GE(fd, 0);
	ASSERT_EQ_U64(off, 100);
	ASSERT_EQ(fstat(fd, &a), 0);
	ASSERT_EQ(fstat(m->fd, &b), 0);
	ASSERT_EQ_U64(a.st_ino, b.st_ino); /* the same file, not a copy */
	ASSERT_EQ_U64(a.st_dev, b.st_dev);
	fd = vq_vu_mem_fd(B.b, hb, 64, &off);
	ASSERT_GE(fd, 0);
	ASSERT_EQ_U64(off, MEM_SIZE / 2 + 4096); /* the file offset, not the region's */
	ASSERT_EQ(vq_vu_mem_fd(B.b, ha, 0, &off), -EINVAL);
	ASSERT_EQ(vq_vu_mem_fd(B.b, (void *)(uintptr_t)(UINTPTR_MAX - 8), 64, &off), -EINVAL);
	ASSERT_EQ(vq_vu_mem_fd(B.b, m->p, 16, &off), -ENOENT); /* our pointer, not its */
	ASSERT_EQ(vq_vu_mem_fd(B.b, ha - 100, MEM_SIZE, &off), -ENOENT); /* past a mapping */
	backend_pause(false);
}

/* Echo count messages through queue 1 on a ring the test laid out itself. */
static void echo_ring(enum vq_layout layout, uint64_t features, unsigned count)
{
	struct vq_fe_region r[2];
	struct vq_ring_layout lay;
	struct vq_drv *q;
	struct vq_fe *fe;
	struct memfd m;
	uint8_t *ring, *out, *in;
	uint32_t base = 0;

	backend_start();
	memfd_make(&m);
	fe = fe_manual(true);
	ASSERT_EQ(vq_fe_set_features(fe, features), 0);
	two_regions(&m, r);
	ASSERT_EQ(vq_fe_set_mem_table(fe, r, 2), 0);
	check_mem_fd(&m);
	ASSERT_EQ(vq_ring_layout(layout, 64, &lay), 0);
	ring = m.p + MEM_SIZE / 2 + 8192; /* in the second region */
	out = m.p + 4096;
	in = m.p + MEM_SIZE / 2 - 32; /* straddles both regions: two segments */
	struct vq_drv_params dp = { .ring = {
		.layout = layout, .size = 64, .features = features,
		.desc = ring + lay.desc_off, .avail = ring + lay.avail_off,
		.used = ring + lay.used_off } };
	struct vq_fe_ring fr = {
		.layout = layout, .size = 64, .base = layout == VQ_LAYOUT_PACKED ? 0x80008000u : 0,
		.desc = iova_of(&m, ring + lay.desc_off), .avail = iova_of(&m, ring + lay.avail_off),
		.used = iova_of(&m, ring + lay.used_off),
	};
	ASSERT_EQ(vq_drv_new(&dp, &q), 0);
	ASSERT_EQ(vq_fe_ring_start(fe, 1, &fr), 0);
	for (unsigned k = 0; k < count; k++) {
		struct vq_seg sg[3] = { { iova_of(&m, out), 40 }, { iova_of(&m, in), 32 },
					{ IOVA_B, 8 } };
		void *tok = NULL;
		uint32_t len = 0;
		int rc = 0;

		for (unsigned i = 0; i < 40; i++)
			out[i] = (uint8_t)(k * 7 + i);
		memset(in, 0, 32);
		memset(m.p + MEM_SIZE / 2, 0, 8);
		ASSERT_EQ(vq_drv_add(q, sg, 1, 2, out), 0);
		if (vq_drv_kick_prepare(q))
			ASSERT_EQ(vq_fe_kick(fe, 1), 0);
		for (int t = 0; t < 300 && (rc = vq_drv_get(q, &tok, &len)) == 0; t++)
			vq_fe_wait(fe, 1, 10);
		ASSERT_EQ(rc, 1);
		ASSERT_TRUE(tok == out);
		ASSERT_EQ(len, 40);
		ASSERT_MEM_EQ(in, out, 40); /* the 32 + 8 bytes are contiguous here */
	}
	ASSERT_EQ(vq_fe_ring_stop(fe, 1, &base), 0);
	if (layout == VQ_LAYOUT_SPLIT)
		ASSERT_EQ(base, count);
	else /* count chains of 3 descriptors, no wrap: slot 3 * count, wrap bits set */
		ASSERT_EQ(base, 0x80008000u | (3 * count) | ((3 * count) << 16));
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_READY);
	vq_drv_free(q);
	vq_fe_free(fe);
	munmap(m.p, MEM_SIZE);
	close(m.fd);
	backend_stop();
}

TEST(echo_split_at_iovas) { echo_ring(VQ_LAYOUT_SPLIT, VQ_F_VERSION_1 | VQ_F_EVENT_IDX, 10); }
TEST(echo_packed_at_iovas) { echo_ring(VQ_LAYOUT_PACKED, VQ_F_VERSION_1 | VQ_F_PACKED, 10); }

/* ---- mode (c): the caller polls vq_vu_fd and calls vq_vu_dispatch */
static atomic_uint rounds;

static void *dispatch_thread(void *arg)
{
	while (!atomic_load(&B.stop)) {
		struct pollfd p = { .fd = vq_vu_fd(B.b), .events = POLLIN };
		int t = vq_vu_timeout_ms(B.b);

		if (poll(&p, p.fd >= 0, t < 0 || t > 50 ? 50 : t) < 0 && errno != EINTR)
			break;
		if (p.revents || vq_vu_timeout_ms(B.b) == 0) {
			atomic_fetch_add(&rounds, 1);
			if (vq_vu_dispatch(B.b) < 0)
				break;
		}
	}
	return NULL;
}

/* While a queue runs, the watchdog's timer falls due every 100 ms: dispatch
 * must run it (and so push the deadline on), or the caller's poll spins. */
TEST(dispatch_runs_the_timer)
{
	struct vq_vu_params cfg = {
		.name = "t", .mode = VQ_VU_SERVER, .path = B.path, .listen_fd = -1, .ops = &dops,
		.features = OFFER, .protocol_features = VQ_VU_PROTOCOL_F_ALL, .num_queues = NQ,
	};
	struct vq_fe_params c = {
		.path = B.path, .mode = VQ_FE_CLIENT, .features = VQ_F_VERSION_1, .num_queues = NQ,
		.queue_size = 64, .mem_size = 1 << 20, .timeout_ms = 2000,
	};
	struct vq_fe *fe;
	unsigned n;

	strcpy(B.dir, "/tmp/vqfm.XXXXXX");
	ASSERT_TRUE(mkdtemp(B.dir) != NULL);
	snprintf(B.path, sizeof(B.path), "%s/sock", B.dir);
	vq_vu_set_log(quiet, NULL, 0);
	ASSERT_EQ(vq_vu_backend_new(&cfg, &B.b), 0);
	ASSERT_EQ(pthread_create(&B.thr, NULL, dispatch_thread, NULL), 0);
	ASSERT_EQ(vq_fe_new(&c, &fe), 0);
	ASSERT_EQ(vq_fe_connect(fe), 0); /* queues start */
	usleep(200000);
	n = atomic_load(&rounds);
	usleep(600000);
	n = atomic_load(&rounds) - n;
	ASSERT_LT(n, 60u); /* ~6 ticks; a spinning loop makes thousands */
	ASSERT_GT(n, 0u);  /* and the timer did fall due */
	ASSERT_EQ(vq_fe_poll(fe), VQ_FE_READY);
	vq_fe_free(fe);
	atomic_store(&B.stop, true);
	pthread_join(B.thr, NULL);
	vq_vu_backend_free(B.b);
	rmdir(B.dir);
}

/* ---- more regions than one SET_MEM_TABLE holds (CONFIGURE_MEM_SLOTS) */

/* Twelve pages of the memfd as twelve regions at scattered IOVAs, added one
 * by one: the backend maps each (it sees what we write); REM_MEM_REG drops
 * one; without the protocol feature the calls are refused. */
TEST(add_mem_reg_beyond_eight)
{
	struct vq_fe_params c = {
		.path = B.path, .mode = VQ_FE_CLIENT, .features = OFFER, .num_queues = NQ,
		.timeout_ms = 2000, .manual = true,
		.protocol_features = VQ_FE_PROTOCOL_F_DEFAULT | VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS,
	};
	struct vq_fe_region r[12];
	const struct vq_mem *vm;
	struct vq_fe *fe;
	struct memfd m;

	backend_start();
	memfd_make(&m);
	ASSERT_EQ(vq_fe_new(&c, &fe), 0);
	ASSERT_EQ(vq_fe_connect(fe), 0);
	ASSERT_EQ(vq_fe_max_mem_slots(fe), VQ_VU_DEFAULT_MEM_SLOTS);
	ASSERT_EQ(vq_fe_set_features(fe, VQ_F_VERSION_1), 0);
	for (unsigned k = 0; k < 12; k++) {
		r[k] = (struct vq_fe_region){ .addr = 0x100000000ull + (11 - k) * 0x10000000ull,
					      .size = 4096, .fd = m.fd, .offset = k * 4096ull };
		m.p[k * 4096 + 8] = (uint8_t)(0x40 + k);
		ASSERT_EQ(vq_fe_add_mem_reg(fe, &r[k]), 0);
	}
	backend_pause(true);
	vm = vq_vu_mem(B.b);
	ASSERT_TRUE(vm != NULL);
	ASSERT_EQ(vq_mem_count(vm), 12u);
	for (unsigned k = 0; k < 12; k++) {
		const uint8_t *p = vq_mem_ptr(vm, r[k].addr + 8, 1, VQ_MEM_READ);

		ASSERT_TRUE(p != NULL);
		ASSERT_EQ(*p, 0x40 + k);
	}
	backend_pause(false);
	ASSERT_EQ(vq_fe_rem_mem_reg(fe, &r[5]), 0);
	backend_pause(true);
	vm = vq_vu_mem(B.b);
	ASSERT_EQ(vq_mem_count(vm), 11u);
	ASSERT_TRUE(vq_mem_ptr(vm, r[5].addr, 1, VQ_MEM_READ) == NULL);
	ASSERT_TRUE(vq_mem_ptr(vm, r[6].addr, 1, VQ_MEM_READ) != NULL);
	backend_pause(false);
	r[0].fd = -1;
	ASSERT_EQ(vq_fe_add_mem_reg(fe, &r[0]), -EINVAL);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_READY);
	vq_fe_free(fe);
	/* Not negotiated (the default protocol features): refused. */
	fe = fe_manual(true);
	ASSERT_EQ(vq_fe_max_mem_slots(fe), 0u);
	ASSERT_EQ(vq_fe_add_mem_reg(fe, &r[1]), -EOPNOTSUPP);
	ASSERT_EQ(vq_fe_state(fe), VQ_FE_READY);
	vq_fe_free(fe);
	munmap(m.p, MEM_SIZE);
	close(m.fd);
	backend_stop();
}
