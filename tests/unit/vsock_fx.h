/* SPDX-License-Identifier: MIT */
/*
 * The virtio-vsock device model driven in-process: the test is the driver
 * (driver side of the rx, tx and event rings over its own "guest" memory) and
 * the host peer (real Unix sockets in a temporary directory).  BOTH(name) runs
 * a protocol test on split and packed rings.  Shared by the vsock* programs.
 */
#ifndef VQ_TEST_VSOCK_FX_H
#define VQ_TEST_VSOCK_FX_H

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

static inline void on_notify(void *h, unsigned idx) { (void)h; if (idx < 3) notified[idx]++; }
static inline void on_broken(void *h, unsigned idx) { (void)h; if (idx < 3) broken_q[idx]++; }
static inline void on_log(void *ctx, const char *msg)
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

static inline uint64_t galloc(struct guest *t, size_t len)
{
	uint64_t a = t->next;

	t->next = (a + len + 64 + 63) & ~63ull;
	ASSERT_LE(t->next, GBASE + GSIZE);
	return a;
}

static inline uint8_t *hva(struct guest *t, uint64_t gpa) { return t->g + (gpa - GBASE); }

static inline void ring_setup(struct guest *t, unsigned idx)
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

static inline void start_queues(struct guest *t, unsigned nq)
{
	for (unsigned i = 0; i < nq; i++)
		ring_setup(t, i);
}

static inline void guest_init_opts(struct guest *t, uint64_t feats, unsigned nq, uint32_t buf_alloc)
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

static inline void guest_init(struct guest *t, uint64_t feats)
{
	guest_init_opts(t, feats, 3, BUF_ALLOC);
}

static inline int process(struct guest *t)
{
	int total = 0, rc;

	while ((rc = vq_vsock_process(t->v)) > 0)
		total += rc;
	ASSERT_GE(rc, 0);
	return total;
}

/* ---- the driver's side */

static inline void post_rx(struct guest *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct vq_seg s = { galloc(t, VQ_VSOCK_HDR_LEN + RXBUF), VQ_VSOCK_HDR_LEN + RXBUF };

		ASSERT_EQ(vq_drv_add(t->drv[0], &s, 0, 1, (void *)(uintptr_t)s.addr), 0);
	}
	vq_drv_kick_prepare(t->drv[0]);
}

static inline struct vq_vsock_pkt mk(uint16_t op, uint32_t sport, uint32_t dport, uint16_t type)
{
	return (struct vq_vsock_pkt){ .src_cid = CID, .dst_cid = VQ_VSOCK_HOST_CID,
				      .src_port = sport, .dst_port = dport, .type = type,
				      .op = op, .buf_alloc = 1u << 20 };
}

/* Put one packet (header + payload, in nseg segments) on the tx ring. */
static inline void send_raw(struct guest *t, const void *hdr, size_t hlen, const void *data,
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

static inline void send_pkt(struct guest *t, struct vq_vsock_pkt p, const void *data, uint32_t len)
{
	struct virtio_vsock_hdr h;

	p.len = len;
	p.fwd_cnt = t->fwd_cnt;
	vq_vsock_hdr_encode(&p, &h);
	send_raw(t, &h, sizeof(h), data, len, 1);
}

static inline unsigned reap_tx(struct guest *t)
{
	void *tok;
	uint32_t len;
	unsigned n = 0;

	while (vq_drv_get(t->drv[1], &tok, &len) == 1)
		n++;
	return n;
}

/* The next rx packet: 1 with *p and data (up to cap bytes), 0 when none. */
static inline int recv_pkt(struct guest *t, struct vq_vsock_pkt *p, void *data, size_t cap)
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

static inline void expect_pkt(struct guest *t, uint16_t op, struct vq_vsock_pkt *out)
{
	struct vq_vsock_pkt p;

	ASSERT_EQ(recv_pkt(t, &p, NULL, RXBUF), 1);
	ASSERT_EQ(p.op, op);
	ASSERT_EQ(p.src_cid, VQ_VSOCK_HOST_CID);
	ASSERT_EQ(p.dst_cid, CID);
	if (out)
		*out = p;
}

static inline void expect_no_pkt(struct guest *t)
{
	struct vq_vsock_pkt p;

	ASSERT_EQ(recv_pkt(t, &p, NULL, RXBUF), 0);
}

/* ---- the host peer */

static inline int host_listen(struct guest *t, uint32_t port, int type)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	ASSERT_GE(s, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s_%u", t->uds, port);
	ASSERT_EQ(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(listen(s, 8), 0);
	return s;
}

static inline int host_accept(int l)
{
	int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);

	ASSERT_GE(fd, 0);
	return fd;
}

static inline bool readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) == 1;
}

/* Open a guest -> host stream connection gport -> hport; returns the host fd. */
static inline int open_g2h(struct guest *t, int l, uint32_t gport, uint32_t hport, uint16_t type)
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

static inline void fill(uint8_t *b, size_t n, unsigned seed)
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

#endif
