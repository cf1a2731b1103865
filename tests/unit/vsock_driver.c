/* SPDX-License-Identifier: MIT */
/*
 * The vsock driver (vsock_drv.h) against the vsock device model (vsock.h)
 * in one process, no vhost-user socket: the driver's rings and buffers live
 * in one mapping the model reaches at driver address == virtual address
 * (vq_vsockdrv_params.local); the test runs the model whenever the driver
 * waits.  The host peers are real Unix sockets.  Stream and seqpacket
 * echo, credit both ways (the sender stops at the peer's credit and goes
 * on after a CREDIT_UPDATE), zero-copy receive (lending, release,
 * back-pressure while held), zero-copy send completions, message
 * boundaries, RST and SHUTDOWN, host -> driver connections, and a device
 * reset (TRANSPORT_RESET).  Split and packed rings.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <virtq/vsock.h>
#include <virtq/vsock_drv.h>

#include "../harness/test.h"

#define MEMSZ (48u << 20)
#define QSIZE 256u
#define CID 5u
#define DEV_BUF_ALLOC 65536u /* the model's credit to the driver */

static enum vq_layout g_layout = VQ_LAYOUT_SPLIT;

struct env {
	uint8_t *mem;
	size_t used;
	struct vq_mem *map;
	struct vq_vsock *v;
	struct vq_device d;
	struct vq_drv *drv[3];
	struct vq_dev *dev[3];
	struct vq_vsockdrv *vd;
	unsigned kicks[3], waits;
	char dir[64], uds[96];
	uint64_t feats;
};

static void on_notify(void *h, unsigned idx) { (void)h; (void)idx; }
static void on_broken(void *h, unsigned idx) { (void)h; FAIL("model broke queue %u", idx); }
static void on_log(void *ctx, const char *msg) { (void)ctx; (void)msg; }

static void *e_alloc(struct env *e, size_t size)
{
	size_t off = (e->used + 4095) & ~(size_t)4095;

	ASSERT_LE(off + size, MEMSZ);
	e->used = off + size;
	return e->mem + off;
}

static void e_kick(void *ctx, unsigned idx)
{
	struct env *e = ctx;

	if (idx < 3)
		e->kicks[idx]++;
}

/* Run the model until it is idle; when it had nothing to do, wait for a
 * host socket up to timeout_ms first. */
static int run_model(struct env *e, int timeout_ms)
{
	int n, total = 0;

	while ((n = vq_vsock_process(e->v)) > 0)
		total += n;
	ASSERT_GE(n, 0);
	if (!total && timeout_ms > 0) {
		struct pollfd p = { vq_vsock_fd(e->v), POLLIN, 0 };

		poll(&p, 1, timeout_ms > 20 ? 20 : timeout_ms);
		while ((n = vq_vsock_process(e->v)) > 0)
			total += n;
	}
	return total;
}

static void e_wait(void *ctx, int timeout_ms)
{
	struct env *e = ctx;

	e->waits++;
	run_model(e, timeout_ms);
}

static void ring(struct env *e, unsigned idx)
{
	struct vq_ring_layout l;
	uint8_t *r;

	ASSERT_EQ(vq_ring_layout(g_layout, QSIZE, &l), 0);
	r = e_alloc(e, l.total);
	struct vq_ring_params rc = { g_layout, QSIZE, e->feats & VQ_RING_FEATURES, 0,
				     r + l.desc_off, r + l.avail_off, r + l.used_off };
	struct vq_drv_params dc = { .ring = rc };

	ASSERT_EQ(vq_drv_new(&dc, &e->drv[idx]), 0);
	ASSERT_EQ(vq_dev_new(&rc, e->map, &e->dev[idx]), 0);
	ASSERT_EQ(e->d.ops->queue_start(e->d.dev, idx, e->dev[idx]), 0);
}

/* The driver over the model's three queues; p tunes the driver. */
static void env_init_p(struct env *e, uint32_t dev_buf_alloc, struct vq_vsockdrv_params *p)
{
	static const struct vq_device_host host = { .notify = on_notify,
						    .queue_broken = on_broken };
	struct vq_vsock_params vp = { .guest_cid = CID, .buf_alloc = dev_buf_alloc,
				      .log = on_log };
	struct vq_mem_region reg;
	struct vq_vsockdrv_local loc = { .cid = CID, .kick = e_kick, .wait = e_wait, .ctx = e };

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/vq-vsdrv-XXXXXX");
	ASSERT_TRUE(mkdtemp(e->dir) != NULL);
	snprintf(e->uds, sizeof(e->uds), "%s/v", e->dir);
	vp.uds_path = e->uds;
	ASSERT_EQ(vq_vsock_new(&vp, &e->v), 0);
	vq_vsock_device(e->v, &e->d);
	e->d.ops->attach(e->d.dev, &host);
	e->feats = VQ_F_VERSION_1 | VQ_VSOCK_F_SEQPACKET | VQ_F_EVENT_IDX |
		   (g_layout == VQ_LAYOUT_PACKED ? VQ_F_PACKED : 0);
	ASSERT_EQ(e->d.ops->set_features(e->d.dev, e->feats), 0);
	e->mem = mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(e->mem != MAP_FAILED);
	ASSERT_EQ(vq_mem_new(&e->map), 0);
	reg = (struct vq_mem_region){ (uint64_t)(uintptr_t)e->mem, MEMSZ, e->mem, 0, VQ_MEM_RW };
	ASSERT_EQ(vq_mem_add(e->map, &reg), 0);
	for (unsigned i = 0; i < 3; i++) {
		ring(e, i);
		loc.queues[i] = e->drv[i];
	}
	p->local = &loc;
	p->features = e->feats;
	p->queue_size = QSIZE;
	if (!p->zc_mem)
		p->zc_mem = 1u << 20;
	loc.mem_size = vq_vsockdrv_mem_size(p);
	loc.mem = e_alloc(e, loc.mem_size);
	ASSERT_EQ(vq_vsockdrv_new(p, &e->vd), 0);
	ASSERT_EQ(vq_vsockdrv_cid(e->vd), CID);
	ASSERT_EQ(vq_vsockdrv_fd(e->vd), -1);
}

static void env_init(struct env *e)
{
	struct vq_vsockdrv_params p = { .rx_bufs = 64, .tx_bufs = 16, .tx_pkt = 16384 };

	env_init_p(e, DEV_BUF_ALLOC, &p);
}

static void env_fini(struct env *e)
{
	vq_vsockdrv_free(e->vd);
	for (unsigned i = 0; i < 3; i++)
		e->d.ops->queue_stop(e->d.dev, i);
	vq_vsock_free(e->v);
	for (unsigned i = 0; i < 3; i++) {
		vq_dev_free(e->dev[i]);
		vq_drv_free(e->drv[i]);
	}
	vq_mem_free(e->map);
	munmap(e->mem, MEMSZ);
	rmdir(e->dir);
}

/* Driver and model run until idle. */
static void settle(struct env *e)
{
	for (int i = 0; i < 4; i++) {
		ASSERT_GE(vq_vsockdrv_wait(e->vd, 0), 0);
		run_model(e, 0);
	}
	ASSERT_GE(vq_vsockdrv_poll(e->vd), 0);
}

/* ---- host peers */

static int host_listen(struct env *e, uint32_t port, int type)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	ASSERT_GE(s, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s_%u", e->uds, port);
	ASSERT_EQ(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(listen(s, 8), 0);
	return s;
}

static int host_accept(int l)
{
	struct pollfd p = { l, POLLIN, 0 };

	ASSERT_EQ(poll(&p, 1, 2000), 1);
	int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	ASSERT_GE(fd, 0);
	return fd;
}

/* Read exactly n bytes from a non-blocking host fd, running both sides. */
static void host_read_all(struct env *e, int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;

	for (int spins = 0; got < n; spins++) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r > 0) {
			got += (size_t)r;
			spins = 0;
			continue;
		}
		ASSERT_TRUE(r < 0 && errno == EAGAIN);
		ASSERT_LT(spins, 500);
		settle(e);
	}
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 13 + seed + (i >> 9));
}

/* Connect the driver to a fresh host listener on port: the socket and
 * the host's fd. */
static struct vq_vsocksk *open_conn(struct env *e, uint32_t port, uint16_t type, int stype,
				    int *hfd)
{
	struct vq_vsocksk *s = NULL;
	int l = host_listen(e, port, stype);

	ASSERT_EQ(vq_vsocksk_connect(e->vd, port, type, 2000, &s), 0);
	ASSERT_TRUE(vq_vsocksk_is_connected(s));
	*hfd = host_accept(l);
	close(l);
	return s;
}

/* The host writes n bytes of out while the driver reads them into in. */
static void host_to_drv(struct env *e, int fd, struct vq_vsocksk *s, const uint8_t *out,
			uint8_t *in, size_t n)
{
	size_t done = 0, got = 0;

	for (int spins = 0; got < n; spins++) {
		ssize_t k = done < n ? write(fd, out + done, n - done) : 0;
		ssize_t r;

		if (k > 0)
			done += (size_t)k;
		settle(e);
		r = vq_vsocksk_recv(s, in + got, n - got, NULL);
		if (r > 0) {
			got += (size_t)r;
			spins = 0;
		} else {
			ASSERT_EQ(r, -EAGAIN);
		}
		ASSERT_LT(spins, 500);
	}
}

/* ---- tests */

#define BOTH(name)                                                         \
	static void name##_body(void);                                     \
	TEST(name##_split) { g_layout = VQ_LAYOUT_SPLIT; name##_body(); }   \
	TEST(name##_packed) { g_layout = VQ_LAYOUT_PACKED; name##_body(); } \
	static void name##_body(void)

BOTH(drv_stream_echo)
{
	static uint8_t out[200000], in[200000];
	struct env e;
	struct vq_vsocksk *s;
	struct vq_vsockdrv_stats st;
	int fd;

	env_init(&e);
	s = open_conn(&e, 1100, VIRTIO_VSOCK_TYPE_STREAM, SOCK_STREAM, &fd);
	fill(out, sizeof(out), 3);
	/* driver -> host: partial sends are normal; the host reads as we go */
	for (size_t done = 0, got = 0; got < sizeof(out);) {
		ssize_t r = done < sizeof(out) ? vq_vsocksk_send(s, out + done, sizeof(out) - done,
								 false) : -EAGAIN;

		if (r > 0)
			done += (size_t)r;
		else
			ASSERT_EQ(r, -EAGAIN);
		settle(&e);
		ssize_t k = read(fd, in + got, sizeof(in) - got);

		if (k > 0)
			got += (size_t)k;
	}
	ASSERT_MEM_EQ(in, out, sizeof(out));
	/* host -> driver */
	fill(out, sizeof(out), 77);
	memset(in, 0, sizeof(in));
	host_to_drv(&e, fd, s, out, in, sizeof(out));
	ASSERT_MEM_EQ(in, out, sizeof(out));
	vq_vsockdrv_get_stats(e.vd, &st);
	ASSERT_EQ(st.rx_bytes, sizeof(out));
	ASSERT_EQ(st.tx_bytes, sizeof(out));
	ASSERT_EQ(st.bad_pkts, 0);
	ASSERT_GT(st.rx_reposted, 0);
	ASSERT_GT(e.kicks[1], 0);
	vq_vsocksk_close(s);
	close(fd);
	settle(&e);
	env_fini(&e);
}

/* Send one whole message, waiting for credit. */
static void send_msg(struct env *e, struct vq_vsocksk *s, const uint8_t *b, size_t n)
{
	for (int spins = 0;; spins++) {
		ssize_t r = vq_vsocksk_send(s, b, n, true);

		if (r >= 0) {
			ASSERT_EQ(r, (ssize_t)n);
			return;
		}
		ASSERT_EQ(r, -EAGAIN);
		ASSERT_LT(spins, 500);
		settle(e);
	}
}

/* One host record (non-blocking fd), running both sides meanwhile. */
static ssize_t host_recv_rec(struct env *e, int fd, uint8_t *b, size_t cap)
{
	for (int spins = 0;; spins++) {
		ssize_t r = recv(fd, b, cap, MSG_TRUNC | MSG_DONTWAIT);

		if (r >= 0)
			return r;
		ASSERT_TRUE(errno == EAGAIN);
		ASSERT_LT(spins, 500);
		settle(e);
	}
}

/* One driver message (copy), running both sides meanwhile. */
static ssize_t drv_recv_msg(struct env *e, struct vq_vsocksk *s, uint8_t *b, size_t cap,
			    bool *eom)
{
	for (int spins = 0;; spins++) {
		ssize_t r = vq_vsocksk_recv(s, b, cap, eom);

		if (r != -EAGAIN)
			return r;
		ASSERT_LT(spins, 500);
		ASSERT_GE(vq_vsockdrv_wait(e->vd, 10), 0);
	}
}

BOTH(drv_seqpacket_boundaries)
{
	static const size_t sizes[] = { 1, 100, 4095, 4096, 4097, 20000, 60000, 7 };
	static uint8_t out[65536], in[65536];
	struct env e;
	struct vq_vsocksk *s;
	struct vq_vsock_zc zc;
	bool eom;
	int fd;

	env_init(&e);
	s = open_conn(&e, 1200, VIRTIO_VSOCK_TYPE_SEQPACKET, SOCK_SEQPACKET, &fd);
	/* driver -> host: each message is one host record, whole */
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill(out, sizes[i], i);
		send_msg(&e, s, out, sizes[i]);
		ASSERT_EQ(host_recv_rec(&e, fd, in, sizeof(in)), (ssize_t)sizes[i]);
		ASSERT_MEM_EQ(in, out, sizes[i]);
	}
	/* a message larger than the peer's buffer can never go */
	ASSERT_EQ(vq_vsocksk_send(s, out, DEV_BUF_ALLOC + 1, true), -EMSGSIZE);
	/* host -> driver: each record is one message with EOM at its end */
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill(out, sizes[i], 40 + i);
		ASSERT_EQ(send(fd, out, sizes[i], 0), (ssize_t)sizes[i]);
		memset(in, 0, sizes[i]);
		ASSERT_EQ(drv_recv_msg(&e, s, in, sizeof(in), &eom), (ssize_t)sizes[i]);
		ASSERT_TRUE(eom);
		ASSERT_MEM_EQ(in, out, sizes[i]);
	}
	/* a short read takes the head of a message and drops its tail, even
	 * when the message spans several rx buffers */
	fill(out, 20000, 5);
	ASSERT_EQ(send(fd, out, 20000, 0), 20000);
	ASSERT_EQ(send(fd, "tail", 4, 0), 4);
	settle(&e);
	ASSERT_EQ(drv_recv_msg(&e, s, in, 1000, &eom), 1000);
	ASSERT_TRUE(eom);
	ASSERT_MEM_EQ(in, out, 1000);
	ASSERT_EQ(drv_recv_msg(&e, s, in, sizeof(in), &eom), 4);
	ASSERT_TRUE(eom);
	ASSERT_MEM_EQ(in, "tail", 4);
	/* zero-copy: the header page marks the last buffer of each message */
	fill(out, 9000, 6);
	ASSERT_EQ(send(fd, out, 9000, 0), 9000);
	ASSERT_EQ(send(fd, out, 10, 0), 10);
	settle(&e);
	ASSERT_EQ(vq_vsocksk_recv_zc(s, 64, &zc), 4); /* 4096 + 4096 + 808, then 10 */
	ASSERT_EQ(zc.bytes, 9010);
	ASSERT_EQ(zc.hdr[0].length, 4096);
	ASSERT_EQ(zc.hdr[0].flags & VIRTIO_VSOCK_SEQ_EOM, 0);
	ASSERT_EQ(zc.hdr[1].flags & VIRTIO_VSOCK_SEQ_EOM, 0);
	ASSERT_EQ(zc.hdr[2].length, 808);
	ASSERT_EQ(zc.hdr[2].flags & VIRTIO_VSOCK_SEQ_EOM, VIRTIO_VSOCK_SEQ_EOM);
	ASSERT_EQ(zc.hdr[3].length, 10);
	ASSERT_EQ(zc.hdr[3].flags & VIRTIO_VSOCK_SEQ_EOM, VIRTIO_VSOCK_SEQ_EOM);
	ASSERT_EQ(zc.hdr[4].length, 0);
	ASSERT_MEM_EQ(zc.data[1], out + 4096, 4096);
	ASSERT_MEM_EQ(zc.data[3], out, 10);
	ASSERT_EQ(vq_vsocksk_release_zc(s, &zc), 0);
	vq_vsocksk_close(s);
	close(fd);
	settle(&e);
	env_fini(&e);
}

/* The model offers 16 KiB of credit and the host does not read: the
 * driver stops at the credit (no violation), and goes on once the host
 * reads and the model's CREDIT_UPDATE arrives. */
BOTH(drv_credit_send_blocks_and_resumes)
{
	static uint8_t out[1u << 20], in[1u << 20];
	struct vq_vsockdrv_params p = { .rx_bufs = 64, .tx_bufs = 16, .tx_pkt = 4096 };
	struct vq_vsock_stats vs;
	struct env e;
	struct vq_vsocksk *s;
	size_t done = 0, got = 0;
	int fd, rcv = 4096;

	env_init_p(&e, 16384, &p);
	s = open_conn(&e, 1300, VIRTIO_VSOCK_TYPE_STREAM, SOCK_STREAM, &fd);
	ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)), 0);
	ASSERT_EQ(vq_vsocksk_send_room(s), 16384);
	fill(out, sizeof(out), 9);
	for (int idle = 0; idle < 5 && done < sizeof(out);) {
		ssize_t r = vq_vsocksk_send(s, out + done, sizeof(out) - done, false);

		if (r > 0) {
			done += (size_t)r;
			idle = 0;
		} else {
			ASSERT_EQ(r, -EAGAIN);
			idle++;
		}
		settle(&e);
	}
	/* blocked: what went is the host socket's fill plus the model's buffer */
	ASSERT_EQ(vq_vsocksk_send_room(s), 0);
	ASSERT_GE(done, 16384);
	ASSERT_LT(done, sizeof(out));
	vq_vsock_get_stats(e.v, &vs);
	ASSERT_EQ(vs.credit_violations, 0);
	ASSERT_EQ(vs.tx_bytes, done);
	/* the host reads: credit comes back and the sender finishes */
	while (got < sizeof(out)) {
		ssize_t k = read(fd, in + got, sizeof(in) - got);

		if (k > 0)
			got += (size_t)k;
		if (done < sizeof(out)) {
			ssize_t r = vq_vsocksk_send(s, out + done, sizeof(out) - done, false);

			if (r > 0)
				done += (size_t)r;
		}
		settle(&e);
	}
	ASSERT_EQ(done, sizeof(out));
	ASSERT_MEM_EQ(in, out, sizeof(out));
	vq_vsock_get_stats(e.v, &vs);
	ASSERT_EQ(vs.credit_violations, 0);
	vq_vsocksk_close(s);
	close(fd);
	settle(&e);
	env_fini(&e);
}

/* Zero-copy receive: the driver lends its rx buffers; while the
 * application holds them the peer runs out of credit and waits (nothing
 * is lost); release returns them and the credit. */
BOTH(drv_zc_recv_backpressure)
{
	static uint8_t out[300000], in[300000];
	struct vq_vsockdrv_params p = { .rx_bufs = 64, .tx_bufs = 16, .buf_alloc = 32768 };
	struct vq_vsockdrv_stats st;
	struct vq_vsock_zc zc;
	struct env e;
	struct vq_vsocksk *s;
	size_t done = 0, got = 0;
	int fd, rounds = 0;

	env_init_p(&e, DEV_BUF_ALLOC, &p);
	s = open_conn(&e, 1400, VIRTIO_VSOCK_TYPE_STREAM, SOCK_STREAM, &fd);
	fill(out, sizeof(out), 21);
	while (got < sizeof(out)) {
		ssize_t k = done < sizeof(out) ? write(fd, out + done, sizeof(out) - done) : 0;
		int n;

		if (k > 0)
			done += (size_t)k;
		settle(&e);
		ASSERT_LE(vq_vsocksk_recv_avail(s), 32768); /* never beyond our credit */
		n = vq_vsocksk_recv_zc(s, 511, &zc);
		if (n == -EAGAIN)
			continue;
		ASSERT_GT(n, 0);
		ASSERT_LE(zc.bytes, 32768);
		size_t sum = 0;

		for (int i = 0; i < n; i++) {
			ASSERT_GT(zc.hdr[i].length, 0);
			ASSERT_EQ((uintptr_t)zc.data[i] % 4096, 0); /* the pages themselves */
			memcpy(in + got + sum, zc.data[i], zc.hdr[i].length);
			sum += zc.hdr[i].length;
		}
		ASSERT_EQ(zc.hdr[n].length, 0);
		ASSERT_EQ(sum, zc.bytes);
		if (rounds++ == 1) {
			/* hold the buffers: the device stops at the credit */
			ASSERT_EQ(vq_vsocksk_recv_zc(s, 511, &zc), -EBUSY);
			for (int i = 0; i < 5; i++) {
				if (done < sizeof(out) && (k = write(fd, out + done,
								     sizeof(out) - done)) > 0)
					done += (size_t)k;
				settle(&e);
			}
			ASSERT_LE(vq_vsocksk_recv_avail(s) + zc.bytes, 32768);
			ASSERT_LT(got + zc.bytes + vq_vsocksk_recv_avail(s), sizeof(out));
		}
		got += sum;
		ASSERT_EQ(vq_vsocksk_release_zc(s, &zc), 0);
	}
	ASSERT_MEM_EQ(in, out, sizeof(out));
	vq_vsockdrv_get_stats(e.vd, &st);
	ASSERT_GT(st.zc_handed, 0);
	ASSERT_EQ(st.zc_handed, st.zc_released);
	ASSERT_GT(st.credit_updates, 0);
	ASSERT_EQ(st.bad_pkts, 0);
	vq_vsocksk_close(s);
	close(fd);
	settle(&e);
	env_fini(&e);
}

/* Zero-copy send: the application's pages go in the descriptors; each
 * send's cookie comes back once the device is done with them. */
BOTH(drv_zc_send_completions)
{
	static uint8_t in[3 * 65536];
	struct env e;
	struct vq_vsocksk *s;
	uint64_t ck[8];
	unsigned ncookie = 0;
	size_t got = 0;
	uint8_t *pg;
	int fd;

	env_init(&e);
	s = open_conn(&e, 1500, VIRTIO_VSOCK_TYPE_STREAM, SOCK_STREAM, &fd);
	pg = vq_vsockdrv_alloc(e.vd, 3 * 65536);
	ASSERT_TRUE(pg != NULL);
	ASSERT_EQ((uintptr_t)pg % 4096, 0);
	fill(pg, 3 * 65536, 8);
	for (unsigned c = 0; c < 3; c++) {
		size_t off = 0;

		while (off < 65536) {
			struct iovec iov[2] = { { pg + c * 65536 + off, 1000 },
						{ pg + c * 65536 + off + 1000, 65536 - off - 1000 } };
			ssize_t r;

			if (65536 - off <= 1000)
				iov[0].iov_len = 65536 - off, iov[1].iov_len = 0;
			r = vq_vsocksk_send_zc(s, iov, 2, 65536 - off, 100 + c);
			if (r > 0)
				off += (size_t)r;
			else
				ASSERT_EQ(r, -EAGAIN);
			settle(&e);
			ssize_t k = read(fd, in + got, sizeof(in) - got); /* the host drains */

			if (k > 0)
				got += (size_t)k;
		}
	}
	host_read_all(&e, fd, in + got, sizeof(in) - got);
	ASSERT_MEM_EQ(in, pg, sizeof(in));
	settle(&e);
	ncookie = vq_vsockdrv_zc_done(e.vd, ck, 8);
	ASSERT_GE(ncookie, 3); /* one per call at least (partial calls have their own) */
	ASSERT_EQ(ck[ncookie - 1], 102);
	for (unsigned i = 1; i < ncookie; i++)
		ASSERT_LE(ck[i - 1], ck[i]);
	ASSERT_EQ(vq_vsockdrv_zc_done(e.vd, ck, 8), 0);
	vq_vsocksk_close(s);
	close(fd);
	settle(&e);
	env_fini(&e);
}

/* RST and SHUTDOWN both ways. */
BOTH(drv_rst_and_shutdown)
{
	struct env e;
	struct vq_vsocksk *s = NULL;
	struct vq_vsock_stats vs;
	uint8_t b[64];
	int fd;

	env_init(&e);
	/* nobody listens on the host port: RST, the connect is refused */
	ASSERT_EQ(vq_vsocksk_connect(e.vd, 1999, VIRTIO_VSOCK_TYPE_STREAM, 2000, &s),
		  -ECONNREFUSED);
	/* driver SHUTDOWN(SEND): the host sees EOF and may still write */
	s = open_conn(&e, 1600, VIRTIO_VSOCK_TYPE_STREAM, SOCK_STREAM, &fd);
	ASSERT_EQ(vq_vsocksk_send(s, "abc", 3, false), 3);
	ASSERT_EQ(vq_vsocksk_shutdown(s, VIRTIO_VSOCK_SHUTDOWN_SEND), 0);
	ASSERT_EQ(vq_vsocksk_send(s, "x", 1, false), -EPIPE);
	host_read_all(&e, fd, b, 3);
	ASSERT_MEM_EQ(b, "abc", 3);
	for (int i = 0; i < 50 && read(fd, b, sizeof(b)) != 0; i++)
		settle(&e);
	ASSERT_EQ(read(fd, b, sizeof(b)), 0); /* EOF */
	ASSERT_EQ(write(fd, "late", 4), 4);
	ASSERT_EQ(drv_recv_msg(&e, s, b, sizeof(b), NULL), 4);
	ASSERT_MEM_EQ(b, "late", 4);
	/* the host closes: EOF on the driver's side, then a send meets RST */
	close(fd);
	ASSERT_EQ(drv_recv_msg(&e, s, b, sizeof(b), NULL), 0);
	vq_vsocksk_close(s);
	settle(&e);
	vq_vsock_get_stats(e.v, &vs);
	ASSERT_EQ(vs.conns, 0);

	s = open_conn(&e, 1601, VIRTIO_VSOCK_TYPE_STREAM, SOCK_STREAM, &fd);
	close(fd);
	settle(&e);
	ASSERT_EQ(vq_vsocksk_recv(s, b, sizeof(b), NULL), 0); /* SHUTDOWN(SEND) from the host */
	for (int i = 0; i < 20 && vq_vsocksk_is_connected(s); i++) {
		ssize_t r = vq_vsocksk_send(s, "zz", 2, false);

		ASSERT_TRUE(r == 2 || r == -ECONNRESET || r == -EAGAIN);
		settle(&e);
	}
	ASSERT_FALSE(vq_vsocksk_is_connected(s)); /* the model reset it (EPIPE host side) */
	ASSERT_EQ(vq_vsocksk_send(s, "zz", 2, false), -ECONNRESET);
	ASSERT_EQ(vq_vsocksk_recv(s, b, sizeof(b), NULL), -ECONNRESET);
	vq_vsocksk_close(s);
	settle(&e);
	vq_vsock_get_stats(e.v, &vs);
	ASSERT_EQ(vs.conns, 0);
	ASSERT_GT(vs.rst_sent, 0);
	env_fini(&e);
}

/* A host program connects to the driver: CONNECT <port>, accept, OK. */
BOTH(drv_host_initiated)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct env e;
	struct vq_vsocksk *s = NULL;
	char line[32] = { 0 };
	uint8_t b[16];
	unsigned hp = 0;
	int fd;

	env_init(&e);
	ASSERT_EQ(vq_vsockdrv_listen(e.vd, 700), 0);
	ASSERT_EQ(vq_vsockdrv_listen(e.vd, 700), -EADDRINUSE);
	ASSERT_EQ(vq_vsockdrv_accept(e.vd, 700, &s), -EAGAIN);
	ASSERT_EQ(vq_vsockdrv_accept(e.vd, 701, &s), -ENOENT);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", e.uds);
	ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(write(fd, "CONNECT 700\n", 12), 12);
	for (int i = 0; i < 100 && vq_vsockdrv_accept(e.vd, 700, &s) == -EAGAIN; i++)
		settle(&e);
	ASSERT_TRUE(s != NULL);
	ASSERT_TRUE(vq_vsocksk_is_connected(s));
	ASSERT_EQ(vq_vsocksk_local_port(s), 700);
	settle(&e);
	ASSERT_GT(read(fd, line, sizeof(line) - 1), 0);
	ASSERT_EQ(sscanf(line, "OK %u\n", &hp), 1);
	ASSERT_GE(hp, 1024);
	ASSERT_EQ(write(fd, "ping", 4), 4);
	ASSERT_EQ(drv_recv_msg(&e, s, b, sizeof(b), NULL), 4);
	ASSERT_MEM_EQ(b, "ping", 4);
	ASSERT_EQ(vq_vsocksk_send(s, "pong", 4, false), 4);
	settle(&e);
	ASSERT_EQ(read(fd, b, sizeof(b)), 4);
	ASSERT_MEM_EQ(b, "pong", 4);
	/* a port nobody listens on: the host program is closed, no OK */
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(write(fd, "CONNECT 702\n", 12), 12);
	for (int i = 0; i < 5; i++)
		settle(&e);
	ASSERT_EQ(read(fd, line, sizeof(line)), 0);
	close(fd);
	vq_vsocksk_close(s);
	settle(&e);
	env_fini(&e);
}

/* Host -> driver SEQPACKET: "<uds>_seqpacket", CONNECT and OK as records,
 * then message boundaries both ways. */
BOTH(drv_host_initiated_seqpacket)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	static uint8_t out[30000], in[30000];
	struct env e;
	struct vq_vsocksk *s = NULL;
	char line[32] = { 0 };
	unsigned hp = 0;
	bool eom;
	int fd;

	env_init(&e);
	ASSERT_EQ(vq_vsockdrv_listen(e.vd, 800), 0);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s%s", e.uds, VQ_VSOCK_SEQ_SUFFIX);
	ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(send(fd, "CONNECT 800\n", 12, 0), 12);
	for (int i = 0; i < 100 && vq_vsockdrv_accept(e.vd, 800, &s) == -EAGAIN; i++)
		settle(&e);
	ASSERT_TRUE(s != NULL);
	settle(&e);
	ssize_t n = recv(fd, line, sizeof(line) - 1, MSG_DONTWAIT);

	ASSERT_GT(n, 0);
	ASSERT_EQ(line[n - 1], '\n'); /* the whole line, one record */
	ASSERT_EQ(sscanf(line, "OK %u", &hp), 1);
	for (size_t len = 1; len <= sizeof(out); len = len * 5 + 3) {
		fill(out, len, (unsigned)len);
		ASSERT_EQ(send(fd, out, len, 0), (ssize_t)len);
		ASSERT_EQ(drv_recv_msg(&e, s, in, sizeof(in), &eom), (ssize_t)len);
		ASSERT_TRUE(eom);
		ASSERT_MEM_EQ(in, out, len);
		send_msg(&e, s, out, len);
		ASSERT_EQ(host_recv_rec(&e, fd, in, sizeof(in)), (ssize_t)len);
		ASSERT_MEM_EQ(in, out, len);
	}
	/* a handshake record too long for a line: closed without an answer */
	int bad = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	ASSERT_EQ(connect(bad, (struct sockaddr *)&a, sizeof(a)), 0);
	memset(out, 'C', 100);
	ASSERT_EQ(send(bad, out, 100, 0), 100);
	for (int i = 0; i < 5; i++)
		settle(&e);
	ASSERT_EQ(recv(bad, line, sizeof(line), MSG_DONTWAIT), 0);
	close(bad);
	close(fd);
	vq_vsocksk_close(s);
	settle(&e);
	env_fini(&e);
}
