/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock device model, driven in-process: the test is the driver
 * (driver side of the rx, tx and event rings over its own "guest" memory)
 * and the host peer (real Unix sockets in a temporary directory).  The
 * connection protocol both ways, stream and seqpacket, credit and
 * back-pressure, RST and SHUTDOWN, hostile headers, TRANSPORT_RESET.
 * Each protocol test runs on split and packed rings.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <virtq/vsock.h>

#include "../harness/test.h"

#define GBASE 0x100000ull
#define GSIZE (16u << 20)
#define QSIZE 128u
#define CID 7u
#define RXBUF 4096u /* payload bytes per rx buffer, after the header */
#define BUF_ALLOC 65536u

static enum vq_layout g_layout = VQ_LAYOUT_SPLIT; /* tests run forked */
static unsigned notified[3];
static unsigned broken_q[3];
static char logbuf[4096];

static void on_notify(void *h, unsigned idx) { (void)h; if (idx < 3) notified[idx]++; }
static void on_broken(void *h, unsigned idx) { (void)h; if (idx < 3) broken_q[idx]++; }
static void on_log(void *ctx, const char *msg)
{
	(void)ctx;
	strncat(logbuf, msg, sizeof(logbuf) - strlen(logbuf) - 2);
	strcat(logbuf, "\n");
}

struct guest {
	struct vq_vsock *v;
	struct vq_device d;
	struct vq_mem *mem;
	uint8_t *g;
	uint64_t next;
	struct vq_drv *drv[3];
	struct vq_dev *dev[3];
	uint8_t *ring[3];
	char dir[64], uds[96];
	uint64_t feats;
	uint32_t fwd_cnt;    /* guest's receive accounting (what it tells us) */
};

static uint64_t galloc(struct guest *t, size_t len)
{
	uint64_t a = t->next;

	t->next = (a + len + 64 + 63) & ~63ull;
	ASSERT_LE(t->next, GBASE + GSIZE);
	return a;
}

static uint8_t *hva(struct guest *t, uint64_t gpa) { return t->g + (gpa - GBASE); }

static void ring_setup(struct guest *t, unsigned idx)
{
	struct vq_ring_layout l;

	ASSERT_EQ(vq_ring_layout(g_layout, QSIZE, &l), 0);
	t->ring[idx] = aligned_alloc(64, (l.total + 63) & ~(size_t)63);
	ASSERT_TRUE(t->ring[idx] != NULL);
	memset(t->ring[idx], 0, l.total);
	struct vq_ring_params rc = { g_layout, QSIZE, t->feats, 0, t->ring[idx] + l.desc_off,
				     t->ring[idx] + l.avail_off, t->ring[idx] + l.used_off };
	struct vq_drv_params dc = { .ring = rc };

	ASSERT_EQ(vq_drv_new(&dc, &t->drv[idx]), 0);
	ASSERT_EQ(vq_dev_new(&rc, t->mem, &t->dev[idx]), 0);
	ASSERT_EQ(t->d.ops->queue_start(t->d.dev, idx, t->dev[idx]), 0);
}

static void start_queues(struct guest *t, unsigned nq)
{
	for (unsigned i = 0; i < nq; i++)
		ring_setup(t, i);
}

static void guest_init_opts(struct guest *t, uint64_t feats, unsigned nq, uint32_t buf_alloc)
{
	static const struct vq_device_host host = { .notify = on_notify,
						    .queue_broken = on_broken };
	struct vq_vsock_params p = { .guest_cid = CID, .buf_alloc = buf_alloc,
				     .log = on_log };
	struct vq_mem_region reg;

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/vq-vsock-XXXXXX");
	ASSERT_TRUE(mkdtemp(t->dir) != NULL);
	snprintf(t->uds, sizeof(t->uds), "%s/v", t->dir);
	p.uds_path = t->uds;
	ASSERT_EQ(vq_vsock_new(&p, &t->v), 0);
	vq_vsock_device(t->v, &t->d);
	t->d.ops->attach(t->d.dev, &host);
	t->feats = feats | VQ_F_VERSION_1 | (g_layout == VQ_LAYOUT_PACKED ? VQ_F_PACKED : 0);
	ASSERT_EQ(t->d.ops->set_features(t->d.dev, t->feats), 0);
	t->g = aligned_alloc(4096, GSIZE);
	ASSERT_TRUE(t->g != NULL);
	memset(t->g, 0, GSIZE);
	ASSERT_EQ(vq_mem_new(&t->mem), 0);
	reg = (struct vq_mem_region){ GBASE, GSIZE, t->g, 0, VQ_MEM_RW };
	ASSERT_EQ(vq_mem_add(t->mem, &reg), 0);
	t->next = GBASE;
	start_queues(t, nq);
}

static void guest_init(struct guest *t, uint64_t feats)
{
	guest_init_opts(t, feats, 3, BUF_ALLOC);
}

static int process(struct guest *t)
{
	int total = 0, rc;

	while ((rc = vq_vsock_process(t->v)) > 0)
		total += rc;
	ASSERT_GE(rc, 0);
	return total;
}

/* ---- the driver's side */

static void post_rx(struct guest *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct vq_seg s = { galloc(t, VQ_VSOCK_HDR_LEN + RXBUF), VQ_VSOCK_HDR_LEN + RXBUF };

		ASSERT_EQ(vq_drv_add(t->drv[0], &s, 0, 1, (void *)(uintptr_t)s.addr), 0);
	}
	vq_drv_kick_prepare(t->drv[0]);
}

static struct vq_vsock_pkt mk(uint16_t op, uint32_t sport, uint32_t dport, uint16_t type)
{
	return (struct vq_vsock_pkt){ .src_cid = CID, .dst_cid = VQ_VSOCK_HOST_CID,
				      .src_port = sport, .dst_port = dport, .type = type,
				      .op = op, .buf_alloc = 1u << 20 };
}

/* Put one packet (header + payload, in nseg segments) on the tx ring. */
static void send_raw(struct guest *t, const void *hdr, size_t hlen, const void *data,
		     uint32_t dlen, unsigned nseg)
{
	uint64_t a = galloc(t, hlen + dlen);
	struct vq_seg sg[4];
	size_t total = hlen + dlen, per, off = 0;

	memcpy(hva(t, a), hdr, hlen);
	if (dlen)
		memcpy(hva(t, a + hlen), data, dlen);
	if (nseg < 1)
		nseg = 1;
	per = total / nseg;
	for (unsigned i = 0; i < nseg; i++) {
		size_t l = i + 1 == nseg ? total - off : per;

		sg[i] = (struct vq_seg){ a + off, (uint32_t)l };
		off += l;
		/* keep segments apart so the driver does not coalesce them */
	}
	ASSERT_EQ(vq_drv_add(t->drv[1], sg, nseg, 0, (void *)(uintptr_t)a), 0);
	vq_drv_kick_prepare(t->drv[1]);
}

static void send_pkt(struct guest *t, struct vq_vsock_pkt p, const void *data, uint32_t len)
{
	struct virtio_vsock_hdr h;

	p.len = len;
	p.fwd_cnt = t->fwd_cnt;
	vq_vsock_hdr_encode(&p, &h);
	send_raw(t, &h, sizeof(h), data, len, 1);
}

static unsigned reap_tx(struct guest *t)
{
	void *tok;
	uint32_t len;
	unsigned n = 0;

	while (vq_drv_get(t->drv[1], &tok, &len) == 1)
		n++;
	return n;
}

/* The next rx packet: 1 with *p and data (up to cap bytes), 0 when none. */
static int recv_pkt(struct guest *t, struct vq_vsock_pkt *p, void *data, size_t cap)
{
	void *tok;
	uint32_t len;
	int rc = vq_drv_get(t->drv[0], &tok, &len);

	if (rc != 1)
		return rc;
	ASSERT_GE(len, VQ_VSOCK_HDR_LEN);
	vq_vsock_hdr_decode((const void *)hva(t, (uintptr_t)tok), p);
	ASSERT_EQ(len, VQ_VSOCK_HDR_LEN + p->len);
	ASSERT_LE(p->len, cap);
	if (data)
		memcpy(data, hva(t, (uintptr_t)tok + VQ_VSOCK_HDR_LEN), p->len);
	return 1;
}

static void expect_pkt(struct guest *t, uint16_t op, struct vq_vsock_pkt *out)
{
	struct vq_vsock_pkt p;

	ASSERT_EQ(recv_pkt(t, &p, NULL, RXBUF), 1);
	ASSERT_EQ(p.op, op);
	ASSERT_EQ(p.src_cid, VQ_VSOCK_HOST_CID);
	ASSERT_EQ(p.dst_cid, CID);
	if (out)
		*out = p;
}

static void expect_no_pkt(struct guest *t)
{
	struct vq_vsock_pkt p;

	ASSERT_EQ(recv_pkt(t, &p, NULL, RXBUF), 0);
}

/* ---- the host peer */

static int host_listen(struct guest *t, uint32_t port, int type)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	ASSERT_GE(s, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s_%u", t->uds, port);
	ASSERT_EQ(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(listen(s, 8), 0);
	return s;
}

static int host_accept(int l)
{
	int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);

	ASSERT_GE(fd, 0);
	return fd;
}

static bool readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) == 1;
}

/* Open a guest -> host stream connection gport -> hport; returns the host fd. */
static int open_g2h(struct guest *t, int l, uint32_t gport, uint32_t hport, uint16_t type)
{
	struct vq_vsock_pkt p;
	int fd;

	send_pkt(t, mk(VIRTIO_VSOCK_OP_REQUEST, gport, hport, type), NULL, 0);
	process(t);
	expect_pkt(t, VIRTIO_VSOCK_OP_RESPONSE, &p);
	ASSERT_EQ(p.src_port, hport);
	ASSERT_EQ(p.dst_port, gport);
	ASSERT_EQ(p.type, type);
	ASSERT_EQ(p.buf_alloc, BUF_ALLOC);
	fd = host_accept(l);
	return fd;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

#define BOTH(name)                                                     \
	static void name##_body(void);                                 \
	TEST(name##_split) { g_layout = VQ_LAYOUT_SPLIT; name##_body(); } \
	TEST(name##_packed) { g_layout = VQ_LAYOUT_PACKED; name##_body(); } \
	static void name##_body(void)

/* ---- tests */

TEST(vsock_config_and_features)
{
	struct guest t;
	uint64_t cid = 0;
	uint8_t b4[4];

	guest_init(&t, 0);
	ASSERT_EQ(t.d.ops->device_id, 19);
	ASSERT_EQ(t.d.ops->num_queues(t.d.dev), 3);
	ASSERT_EQ(t.d.ops->get_config(t.d.dev, 0, &cid, 8), 0);
	ASSERT_EQ(cid, CID);
	ASSERT_EQ(t.d.ops->get_config(t.d.dev, 4, b4, 4), 0);
	ASSERT_EQ(t.d.ops->get_config(t.d.dev, 4, b4, 8), -EINVAL);
	ASSERT_EQ(t.d.ops->get_config(t.d.dev, UINT32_MAX, b4, 2), -EINVAL);
	ASSERT_EQ(t.d.ops->set_config(t.d.dev, 0, &cid, 8), -EPERM);
	ASSERT_TRUE(t.d.ops->get_features(t.d.dev) & VQ_VSOCK_F_SEQPACKET);
	/* a different feature set while queues run is refused */
	ASSERT_EQ(t.d.ops->set_features(t.d.dev, t.feats | VQ_VSOCK_F_SEQPACKET), -EBUSY);
	ASSERT_EQ(t.d.ops->set_features(t.d.dev, 1ull << 60), -EINVAL);
}

TEST(vsock_params_checked)
{
	struct vq_vsock *v;
	struct vq_vsock_params p = { .guest_cid = 2 };

	ASSERT_EQ(vq_vsock_new(&p, &v), -EINVAL);
	p.guest_cid = 3;
	p.buf_alloc = VQ_VSOCK_MAX_BUF_ALLOC + 1;
	ASSERT_EQ(vq_vsock_new(&p, &v), -EINVAL);
	p.buf_alloc = 0;
	p.uds_path = "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	ASSERT_EQ(vq_vsock_new(&p, &v), -EINVAL);
	p.uds_path = NULL;
	ASSERT_EQ(vq_vsock_new(&p, &v), 0);
	vq_vsock_free(v);
}

BOTH(vsock_stream_guest_to_host)
{
	struct guest t;
	uint8_t out[3000], in[5000], back[5000];
	struct vq_vsock_pkt p;
	int l, fd;
	size_t got = 0;

	guest_init(&t, 0);
	post_rx(&t, 16);
	l = host_listen(&t, 1234, SOCK_STREAM);
	fd = open_g2h(&t, l, 40000, 1234, VIRTIO_VSOCK_TYPE_STREAM);
	ASSERT_GT(notified[0], 0);

	/* driver -> host, in a packet split over three segments */
	fill(out, sizeof(out), 1);
	struct vq_vsock_pkt w = mk(VIRTIO_VSOCK_OP_RW, 40000, 1234, VIRTIO_VSOCK_TYPE_STREAM);
	struct virtio_vsock_hdr h;

	w.len = sizeof(out);
	vq_vsock_hdr_encode(&w, &h);
	send_raw(&t, &h, sizeof(h), out, sizeof(out), 3);
	process(&t);
	ASSERT_EQ(reap_tx(&t), 2);
	ASSERT_EQ(read(fd, in, sizeof(in)), (ssize_t)sizeof(out));
	ASSERT_MEM_EQ(in, out, sizeof(out));

	/* host -> driver: 5000 bytes come as packets of at most RXBUF */
	fill(back, sizeof(back), 9);
	ASSERT_EQ(write(fd, back, sizeof(back)), (ssize_t)sizeof(back));
	process(&t);
	while (got < sizeof(back)) {
		ASSERT_EQ(recv_pkt(&t, &p, back + got, RXBUF), 1);
		if (p.op != VIRTIO_VSOCK_OP_RW)
			FAIL("op %u len %u", p.op, p.len);
		ASSERT_EQ(p.src_port, 1234);
		ASSERT_EQ(p.dst_port, 40000);
		ASSERT_EQ(p.fwd_cnt, sizeof(out)); /* what the host took */
		got += p.len;
	}
	fill(in, sizeof(back), 9);
	ASSERT_MEM_EQ(back, in, sizeof(back));
	struct vq_vsock_stats st;

	vq_vsock_get_stats(t.v, &st);
	ASSERT_EQ(st.tx_bytes, sizeof(out));
	ASSERT_EQ(st.rx_bytes, sizeof(back));
	ASSERT_EQ(st.conns, 1);
}

BOTH(vsock_no_listener_gets_rst)
{
	struct guest t;
	struct vq_vsock_pkt p;

	guest_init(&t, 0);
	post_rx(&t, 4);
	send_pkt(&t, mk(VIRTIO_VSOCK_OP_REQUEST, 5, 999, VIRTIO_VSOCK_TYPE_STREAM), NULL, 0);
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_RST, &p);
	ASSERT_EQ(p.src_port, 999);
	ASSERT_EQ(p.dst_port, 5);
	/* data on a connection that does not exist: RST too */
	send_pkt(&t, mk(VIRTIO_VSOCK_OP_RW, 5, 999, VIRTIO_VSOCK_TYPE_STREAM), "x", 1);
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_RST, NULL);
	/* an RST is never answered */
	send_pkt(&t, mk(VIRTIO_VSOCK_OP_RST, 5, 999, VIRTIO_VSOCK_TYPE_STREAM), NULL, 0);
	process(&t);
	expect_no_pkt(&t);
	ASSERT_EQ(vq_vsock_process(t.v), 0);
}

BOTH(vsock_credit_respected_then_violation_resets)
{
	struct guest t;
	static uint8_t chunk[16384], sink[BUF_ALLOC * 8];
	struct vq_vsock_pkt p;
	int l, fd;
	ssize_t n, total = 0;
	uint32_t sent = 0, told = 0, room;

	guest_init(&t, 0);
	post_rx(&t, 64);
	l = host_listen(&t, 77, SOCK_STREAM);
	fd = open_g2h(&t, l, 1000, 77, VIRTIO_VSOCK_TYPE_STREAM);
	/* the host peer does not read: send exactly the credit the device
	 * gives (fwd_cnt from its updates + buf_alloc), until it gives none */
	while ((room = BUF_ALLOC - (sent - told)) > 0) {
		uint32_t k = room < sizeof(chunk) ? room : sizeof(chunk);

		send_pkt(&t, mk(VIRTIO_VSOCK_OP_RW, 1000, 77, VIRTIO_VSOCK_TYPE_STREAM), chunk, k);
		sent += k;
		process(&t);
		while (recv_pkt(&t, &p, NULL, RXBUF) == 1) { /* no RST so far */
			ASSERT_EQ(p.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
			told = p.fwd_cnt;
		}
		ASSERT_LT(sent, sizeof(sink));
	}
	/* one byte beyond: RST, and the host socket is closed */
	send_pkt(&t, mk(VIRTIO_VSOCK_OP_RW, 1000, 77, VIRTIO_VSOCK_TYPE_STREAM), chunk, 1);
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_RST, &p);
	ASSERT_EQ(p.dst_port, 1000);
	while ((n = read(fd, sink + total, sizeof(sink) - total)) > 0)
		total += n;
	ASSERT_EQ(n, 0);       /* EOF */
	ASSERT_GE(total, told); /* what it said it forwarded, it did */
	ASSERT_LE(sent - total, BUF_ALLOC); /* it never held more than the credit */
	struct vq_vsock_stats st;

	vq_vsock_get_stats(t.v, &st);
	ASSERT_EQ(st.credit_violations, 1);
	ASSERT_EQ(st.conns, 0);
	ASSERT_TRUE(strstr(logbuf, "beyond the credit") != NULL);
}

BOTH(vsock_credit_update_when_host_drains)
{
	struct guest t;
	static uint8_t chunk[16384], sink[BUF_ALLOC];
	struct vq_vsock_pkt p;
	int l, fd, sz = 4096;
	ssize_t total = 0, n;
	bool updated = false;

	guest_init(&t, 0);
	post_rx(&t, 16);
	l = host_listen(&t, 77, SOCK_STREAM);
	fd = open_g2h(&t, l, 1000, 77, VIRTIO_VSOCK_TYPE_STREAM);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	for (unsigned i = 0; i < BUF_ALLOC / sizeof(chunk); i++)
		send_pkt(&t, mk(VIRTIO_VSOCK_OP_RW, 1000, 77, VIRTIO_VSOCK_TYPE_STREAM), chunk,
			 sizeof(chunk));
	process(&t);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (total < (ssize_t)BUF_ALLOC) {
		n = read(fd, sink, sizeof(sink));
		if (n > 0)
			total += n;
		process(&t);
		while (recv_pkt(&t, &p, NULL, RXBUF) == 1) {
			ASSERT_EQ(p.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
			updated = true;
		}
	}
	ASSERT_TRUE(updated);
	ASSERT_EQ(p.fwd_cnt, BUF_ALLOC); /* the last update: everything forwarded */
	/* a CREDIT_REQUEST is answered */
	send_pkt(&t, mk(VIRTIO_VSOCK_OP_CREDIT_REQUEST, 1000, 77, VIRTIO_VSOCK_TYPE_STREAM), NULL, 0);
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_CREDIT_UPDATE, &p);
	ASSERT_EQ(p.buf_alloc, BUF_ALLOC);
}

BOTH(vsock_host_respects_driver_credit)
{
	struct guest t;
	static uint8_t big[20000];
	struct vq_vsock_pkt p, r = mk(VIRTIO_VSOCK_OP_REQUEST, 3000, 88, VIRTIO_VSOCK_TYPE_STREAM);
	int l, fd;
	uint32_t got = 0;

	guest_init(&t, 0);
	post_rx(&t, 16);
	l = host_listen(&t, 88, SOCK_STREAM);
	r.buf_alloc = 6000; /* the driver can hold 6000 bytes */
	send_pkt(&t, r, NULL, 0);
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_RESPONSE, NULL);
	fd = host_accept(l);
	ASSERT_EQ(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	process(&t);
	while (recv_pkt(&t, &p, NULL, RXBUF) == 1)
		if (p.op == VIRTIO_VSOCK_OP_RW)
			got += p.len;
		else
			ASSERT_EQ(p.op, VIRTIO_VSOCK_OP_CREDIT_REQUEST);
	ASSERT_EQ(got, 6000);
	/* the driver consumed it all: the rest flows */
	t.fwd_cnt = 6000;
	r.op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;
	r.buf_alloc = 1u << 20;
	send_pkt(&t, r, NULL, 0);
	process(&t);
	while (recv_pkt(&t, &p, NULL, RXBUF) == 1)
		if (p.op == VIRTIO_VSOCK_OP_RW)
			got += p.len;
	ASSERT_EQ(got, sizeof(big));
}

BOTH(vsock_shutdown_and_rst)
{
	struct guest t;
	struct vq_vsock_pkt p, s = mk(VIRTIO_VSOCK_OP_SHUTDOWN, 1, 50, VIRTIO_VSOCK_TYPE_STREAM);
	char c;
	int l, fd, fd2;

	guest_init(&t, 0);
	post_rx(&t, 16);
	l = host_listen(&t, 50, SOCK_STREAM);
	fd = open_g2h(&t, l, 1, 50, VIRTIO_VSOCK_TYPE_STREAM);
	/* SHUTDOWN SEND: the host reads EOF, and can still write */
	s.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
	send_pkt(&t, s, NULL, 0);
	process(&t);
	ASSERT_EQ(read(fd, &c, 1), 0);
	ASSERT_EQ(write(fd, "z", 1), 1);
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_RW, &p);
	/* data after SHUTDOWN SEND is a violation */
	send_pkt(&t, mk(VIRTIO_VSOCK_OP_RW, 1, 50, VIRTIO_VSOCK_TYPE_STREAM), "x", 1);
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_RST, NULL);

	/* SHUTDOWN both ways: the device answers RST and closes the host side */
	fd2 = open_g2h(&t, l, 2, 50, VIRTIO_VSOCK_TYPE_STREAM);
	s.src_port = 2;
	s.flags = VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV;
	send_pkt(&t, s, NULL, 0);
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_RST, &p);
	ASSERT_EQ(p.dst_port, 2);
	ASSERT_EQ(read(fd2, &c, 1), 0);

	/* the host closes: SHUTDOWN(SEND) to the driver; the driver's RST ends it */
	fd2 = open_g2h(&t, l, 3, 50, VIRTIO_VSOCK_TYPE_STREAM);
	close(fd2);
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_SHUTDOWN, &p);
	ASSERT_EQ(p.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
	send_pkt(&t, mk(VIRTIO_VSOCK_OP_RST, 3, 50, VIRTIO_VSOCK_TYPE_STREAM), NULL, 0);
	process(&t);
	expect_no_pkt(&t);
	struct vq_vsock_stats st;

	vq_vsock_get_stats(t.v, &st);
	ASSERT_EQ(st.conns, 0);
}

/* Host -> guest: "CONNECT <port>\n", REQUEST, RESPONSE, "OK <port>\n". */
static int host_connect_line(struct guest *t, const char *line)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", t->uds);
	ASSERT_EQ(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(write(s, line, strlen(line)), (ssize_t)strlen(line));
	return s;
}

BOTH(vsock_host_to_guest)
{
	struct guest t;
	struct vq_vsock_pkt p, r;
	char line[32] = { 0 }, data[16] = { 0 };
	int s, s2;

	guest_init(&t, 0);
	post_rx(&t, 16);
	s = host_connect_line(&t, "CONNECT 5000\nhello");
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_REQUEST, &p);
	ASSERT_EQ(p.dst_port, 5000);
	ASSERT_GE(p.src_port, 1024);
	ASSERT_FALSE(readable(s)); /* no OK before the guest accepts */
	r = mk(VIRTIO_VSOCK_OP_RESPONSE, 5000, p.src_port, VIRTIO_VSOCK_TYPE_STREAM);
	send_pkt(&t, r, NULL, 0);
	process(&t);
	ASSERT_GT(read(s, line, sizeof(line) - 1), 0);
	snprintf(data, sizeof(data), "OK %u\n", p.src_port);
	ASSERT_STR_EQ(line, data);
	/* the bytes written after the line are the first data */
	expect_pkt(&t, VIRTIO_VSOCK_OP_RW, &p);
	ASSERT_EQ(p.len, 5);
	/* a guest that refuses: RST, the host socket closes without OK */
	s2 = host_connect_line(&t, "CONNECT 6000\n");
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_REQUEST, &p);
	send_pkt(&t, mk(VIRTIO_VSOCK_OP_RST, 6000, p.src_port, VIRTIO_VSOCK_TYPE_STREAM), NULL, 0);
	process(&t);
	ASSERT_EQ(read(s2, line, sizeof(line)), 0);
	/* a bad handshake line is closed */
	s2 = host_connect_line(&t, "CONNECT x\n");
	process(&t);
	ASSERT_EQ(read(s2, line, sizeof(line)), 0);
	s2 = host_connect_line(&t, "CONNECT 123456789012345678901234567890\n");
	process(&t);
	ASSERT_LE(read(s2, line, sizeof(line)), 0); /* EOF, or ECONNRESET: unread bytes */
	expect_no_pkt(&t);
}

BOTH(vsock_seqpacket_boundaries)
{
	struct guest t;
	static uint8_t m1[9000], m2[10000], in[20000];
	struct vq_vsock_pkt p, w = mk(VIRTIO_VSOCK_OP_RW, 7, 60, VIRTIO_VSOCK_TYPE_SEQPACKET);
	int l, fd;
	uint32_t got = 0, msgs = 0;

	guest_init(&t, VQ_VSOCK_F_SEQPACKET);
	post_rx(&t, 16);
	l = host_listen(&t, 60, SOCK_SEQPACKET);
	fd = open_g2h(&t, l, 7, 60, VIRTIO_VSOCK_TYPE_SEQPACKET);
	/* one message in three packets, then a one-packet message */
	fill(m1, sizeof(m1), 3);
	send_pkt(&t, w, m1, 3000);
	send_pkt(&t, w, m1 + 3000, 3000);
	w.flags = VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR;
	send_pkt(&t, w, m1 + 6000, 3000);
	send_pkt(&t, w, "tail", 4);
	process(&t);
	ASSERT_EQ(recv(fd, in, sizeof(in), 0), (ssize_t)sizeof(m1));
	ASSERT_MEM_EQ(in, m1, sizeof(m1));
	ASSERT_EQ(recv(fd, in, sizeof(in), 0), 4);
	/* host record of 10000 bytes: 3 packets, EOM only on the last */
	fill(m2, sizeof(m2), 5);
	ASSERT_EQ(send(fd, m2, sizeof(m2), 0), (ssize_t)sizeof(m2));
	ASSERT_EQ(send(fd, "ab", 2, 0), 2);
	process(&t);
	while (recv_pkt(&t, &p, in + got, RXBUF) == 1) {
		if (p.op != VIRTIO_VSOCK_OP_RW)
			continue;
		got += p.len;
		if (p.flags & VIRTIO_VSOCK_SEQ_EOM) {
			ASSERT_EQ(got, msgs == 0 ? sizeof(m2) : sizeof(m2) + 2);
			msgs++;
		}
	}
	ASSERT_EQ(msgs, 2);
	ASSERT_MEM_EQ(in, m2, sizeof(m2));
	/* message flags on a stream, or seqpacket without the feature: RST */
	w = mk(VIRTIO_VSOCK_OP_REQUEST, 8, 60, VIRTIO_VSOCK_TYPE_STREAM);
	w.flags = 0;
	(void)w;
}

TEST(vsock_seqpacket_needs_feature)
{
	struct guest t;
	struct vq_vsock_pkt p;
	int l;

	guest_init(&t, 0);
	post_rx(&t, 4);
	l = host_listen(&t, 61, SOCK_SEQPACKET);
	send_pkt(&t, mk(VIRTIO_VSOCK_OP_REQUEST, 8, 61, VIRTIO_VSOCK_TYPE_SEQPACKET), NULL, 0);
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_RST, &p);
	ASSERT_FALSE(readable(l)); /* nothing connected */
	ASSERT_TRUE(strstr(logbuf, "unnegotiated socket type") != NULL);
}

BOTH(vsock_hostile_headers)
{
	struct guest t;
	struct vq_vsock_pkt p;
	struct vq_vsock_stats st;
	struct virtio_vsock_hdr h;
	int l, fd;

	guest_init(&t, 0);
	post_rx(&t, 32);
	l = host_listen(&t, 70, SOCK_STREAM);
	fd = open_g2h(&t, l, 9, 70, VIRTIO_VSOCK_TYPE_STREAM);
	/* a chain shorter than a header: dropped, logged */
	send_raw(&t, "short", 5, NULL, 0, 1);
	/* len beyond the chain, on the open connection: RST of that connection */
	p = mk(VIRTIO_VSOCK_OP_RW, 9, 70, VIRTIO_VSOCK_TYPE_STREAM);
	p.len = 100000;
	vq_vsock_hdr_encode(&p, &h);
	send_raw(&t, &h, sizeof(h), "abc", 3, 1);
	process(&t);
	expect_pkt(&t, VIRTIO_VSOCK_OP_RST, &p);
	ASSERT_EQ(p.dst_port, 9);
	char c;

	ASSERT_EQ(read(fd, &c, 1), 0); /* host side closed */
	/* wrong source cid, wrong destination, unknown op, unknown type, flags */
	struct vq_vsock_pkt bad[6];

	for (int i = 0; i < 6; i++)
		bad[i] = mk(VIRTIO_VSOCK_OP_REQUEST, 20 + i, 70, VIRTIO_VSOCK_TYPE_STREAM);
	bad[0].src_cid = 99;
	bad[1].dst_cid = 5;
	bad[2].op = 42;
	bad[3].type = 9;
	bad[4].op = VIRTIO_VSOCK_OP_SHUTDOWN;
	bad[4].flags = 0x80;
	bad[5].len = 10; /* payload on a REQUEST */
	for (int i = 0; i < 6; i++)
		send_pkt(&t, bad[i], "0123456789", bad[i].len);
	process(&t);
	for (int i = 0; i < 6; i++)
		expect_pkt(&t, VIRTIO_VSOCK_OP_RST, NULL);
	expect_no_pkt(&t);
	ASSERT_FALSE(readable(l)); /* none of them connected */
	vq_vsock_get_stats(t.v, &st);
	ASSERT_EQ(st.bad_hdr, 8);
	ASSERT_TRUE(strstr(logbuf, "shorter than a packet header") != NULL);
	ASSERT_TRUE(strstr(logbuf, "unknown op") != NULL);
	ASSERT_EQ(broken_q[1], 0); /* header faults do not break the queue */
}

BOTH(vsock_rst_backlog_is_bounded)
{
	struct guest t;
	struct vq_vsock_pkt p;
	unsigned rsts = 0;

	guest_init(&t, 0);
	/* no rx buffers: the device may queue only so many RSTs, then stops
	 * taking tx chains (they stay on the ring) */
	for (unsigned i = 0; i < 100; i++)
		send_pkt(&t, mk(VIRTIO_VSOCK_OP_RW, i, 4242, VIRTIO_VSOCK_TYPE_STREAM), "x", 1);
	process(&t);
	ASSERT_EQ(reap_tx(&t), 64);
	post_rx(&t, 100);
	process(&t);
	while (recv_pkt(&t, &p, NULL, RXBUF) == 1) {
		ASSERT_EQ(p.op, VIRTIO_VSOCK_OP_RST);
		ASSERT_EQ(p.dst_port, rsts);
		rsts++;
	}
	ASSERT_EQ(rsts, 100);
	ASSERT_EQ(reap_tx(&t), 36);
}

BOTH(vsock_transport_reset_event)
{
	struct guest t;
	void *tok;
	uint32_t len;
	uint64_t ev;
	int l;

	guest_init(&t, 0);
	post_rx(&t, 4);
	l = host_listen(&t, 50, SOCK_STREAM);
	(void)open_g2h(&t, l, 1, 50, VIRTIO_VSOCK_TYPE_STREAM);
	/* the driver goes away: queues stop, reset drops the connections */
	for (unsigned i = 0; i < 3; i++)
		t.d.ops->queue_stop(t.d.dev, i);
	t.d.ops->reset(t.d.dev);
	struct vq_vsock_stats st;

	vq_vsock_get_stats(t.v, &st);
	ASSERT_EQ(st.conns, 0);
	/* a new driver: TRANSPORT_RESET on its event queue */
	ASSERT_EQ(t.d.ops->set_features(t.d.dev, t.feats), 0);
	for (unsigned i = 0; i < 3; i++) {
		vq_drv_free(t.drv[i]);
		vq_dev_free(t.dev[i]);
	}
	start_queues(&t, 3);
	ev = galloc(&t, 8);
	memset(hva(&t, ev), 0xff, 8);
	ASSERT_EQ(vq_drv_add(t.drv[2], &(struct vq_seg){ ev, 8 }, 0, 1, (void *)1), 0);
	vq_drv_kick_prepare(t.drv[2]);
	process(&t);
	ASSERT_EQ(vq_drv_get(t.drv[2], &tok, &len), 1);
	ASSERT_EQ(len, 4);
	ASSERT_EQ(*(uint32_t *)hva(&t, ev), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	vq_vsock_get_stats(t.v, &st);
	ASSERT_EQ(st.events, 1);
	/* only once */
	ASSERT_EQ(vq_drv_add(t.drv[2], &(struct vq_seg){ ev, 8 }, 0, 1, (void *)1), 0);
	vq_drv_kick_prepare(t.drv[2]);
	process(&t);
	ASSERT_EQ(vq_drv_get(t.drv[2], &tok, &len), 0);
}

TEST(vsock_works_without_event_queue)
{
	struct guest t;
	int l;

	guest_init_opts(&t, 0, 2, BUF_ALLOC); /* QEMU keeps the event queue */
	post_rx(&t, 4);
	l = host_listen(&t, 50, SOCK_STREAM);
	(void)open_g2h(&t, l, 1, 50, VIRTIO_VSOCK_TYPE_STREAM);
}

BOTH(vsock_random_headers_never_crash)
{
	struct guest t;
	uint64_t rs = vq_test_seed();
	struct vq_vsock_pkt p;
	int l;

	guest_init(&t, VQ_VSOCK_F_SEQPACKET);
	l = host_listen(&t, 1, SOCK_STREAM);
	(void)l;
	for (unsigned round = 0; round < 40; round++) {
		post_rx(&t, 8);
		for (unsigned i = 0; i < 16; i++) {
			struct virtio_vsock_hdr h;
			uint8_t body[64];
			uint64_t r = vq_test_rand(&rs);

			p = mk((uint16_t)(r % 9), (uint32_t)(r >> 8) % 4, (uint32_t)(r >> 16) % 3,
			       (uint16_t)((r >> 24) % 3));
			p.flags = (uint32_t)(r >> 32) % 5;
			p.len = (uint32_t)(r >> 40) % 80;
			p.buf_alloc = (uint32_t)vq_test_rand(&rs);
			p.fwd_cnt = (uint32_t)vq_test_rand(&rs);
			if (r & (1ull << 60))
				p.src_cid = vq_test_rand(&rs);
			vq_vsock_hdr_encode(&p, &h);
			if (vq_drv_nfree(t.drv[1]) < 4)
				break; /* the device holds back (parked chain) */
			send_raw(&t, &h, (r >> 61) ? sizeof(h) : (r >> 50) % sizeof(h), body,
				 (uint32_t)((r >> 52) % 64), 1 + (unsigned)(r >> 62));
		}
		process(&t);
		reap_tx(&t);
		while (recv_pkt(&t, &p, NULL, RXBUF) == 1)
			;
	}
	ASSERT_FALSE(vq_dev_is_broken(t.dev[1]));
	ASSERT_FALSE(vq_dev_is_broken(t.dev[0]));
}

TEST(vsock_parse_pure)
{
	struct vq_vsock_pkt p = mk(VIRTIO_VSOCK_OP_RW, 1, 2, VIRTIO_VSOCK_TYPE_STREAM), q;
	struct virtio_vsock_hdr h;
	uint8_t buf[64];
	struct iovec iov[2] = { { buf, 10 }, { buf + 10, 54 } };
	const char *why;

	p.len = 20;
	vq_vsock_hdr_encode(&p, &h);
	memcpy(buf, &h, sizeof(h));
	ASSERT_EQ(vq_vsock_parse(iov, 2, 64, CID, false, &q, &why), 0);
	ASSERT_EQ(q.len, 20);
	ASSERT_EQ(q.src_port, 1);
	ASSERT_EQ(vq_vsock_parse(iov, 2, 63, CID, false, &q, &why), -EBADMSG);
	ASSERT_STR_EQ(why, "payload length beyond the chain");
	ASSERT_EQ(vq_vsock_parse(iov, 1, 10, CID, false, &q, &why), -EMSGSIZE);
	ASSERT_EQ(vq_vsock_parse(iov, 1, 64, CID, false, &q, &why), -EMSGSIZE); /* lying out_len */
	p.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
	p.flags = VIRTIO_VSOCK_SEQ_EOM;
	vq_vsock_hdr_encode(&p, &h);
	memcpy(buf, &h, sizeof(h));
	ASSERT_EQ(vq_vsock_parse(iov, 2, 64, CID, false, &q, &why), -EBADMSG);
	ASSERT_EQ(vq_vsock_parse(iov, 2, 64, CID, true, &q, &why), 0);
}
