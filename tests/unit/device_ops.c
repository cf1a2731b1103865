/* SPDX-License-Identifier: MIT */
/*
 * The net and blk models as ops tables (<virtq/device.h>), driven in
 * process with no transport: the test is the host (vq_device_host) and the
 * driver side of each ring (vq_drv over one memory region).  Checks what
 * the tables add to the models: the CVQ-dependent feature bits dropped
 * without CTRL_VQ, the config size, control commands served on start and
 * on a kick, a broken control ring reported once per start, data queues
 * left to the owner, a blk kick serving requests synchronously, and
 * notifications reaching the host.
 */
#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <virtq/blk.h>
#include <virtq/net.h>

#include "../harness/test.h"

#define GBASE 0x100000ull
#define GSIZE (1u << 20)
#define QSIZE 16u

/* ---- the host */
static struct {
	unsigned notified[8];
	unsigned broken[8];
} H;

static void h_notify(void *host, unsigned idx)
{
	ASSERT_TRUE(host == &H);
	if (idx < 8)
		H.notified[idx]++;
}

static void h_broken(void *host, unsigned idx)
{
	if (idx < 8)
		H.broken[idx]++;
}

static const struct vq_device_host host = {
	.notify = h_notify, .queue_broken = h_broken, .host = &H,
};

/* ---- guest memory and rings */
static struct {
	struct vq_mem *mem;
	uint8_t *g;
	uint64_t next;
	void *ring[2];
	struct vq_drv *drv[2];
	struct vq_dev *dev[2];
} G;

static void mem_init(void)
{
	struct vq_mem_region reg;

	memset(&G, 0, sizeof(G));
	memset(&H, 0, sizeof(H));
	G.g = aligned_alloc(4096, GSIZE);
	ASSERT_TRUE(G.g != NULL);
	memset(G.g, 0, GSIZE);
	ASSERT_EQ(vq_mem_new(&G.mem), 0);
	reg = (struct vq_mem_region){ GBASE, GSIZE, G.g, 0, VQ_MEM_RW };
	ASSERT_EQ(vq_mem_add(G.mem, &reg), 0);
	G.next = GBASE;
}

static uint64_t galloc(size_t len, const void *init)
{
	uint64_t a = G.next;

	G.next = (a + len + 63) & ~63ull;
	ASSERT_LE(G.next, GBASE + GSIZE);
	if (init)
		memcpy(G.g + (a - GBASE), init, len);
	return a;
}

static uint8_t *gptr(uint64_t a)
{
	return G.g + (a - GBASE);
}

/* Ring slot s (0 or 1): a fresh split ring, driver and device side. */
static void ring_new(unsigned s)
{
	struct vq_ring_layout l;
	uint8_t *m;

	ASSERT_EQ(vq_ring_layout(VQ_LAYOUT_SPLIT, QSIZE, &l), 0);
	m = aligned_alloc(64, (l.total + 63) & ~(size_t)63);
	ASSERT_TRUE(m != NULL);
	memset(m, 0, l.total);
	struct vq_ring_params rp = { VQ_LAYOUT_SPLIT, QSIZE, VQ_F_VERSION_1, 0,
				     m + l.desc_off, m + l.avail_off, m + l.used_off };
	struct vq_drv_params dp = { .ring = rp };

	G.ring[s] = m;
	ASSERT_EQ(vq_drv_new(&dp, &G.drv[s]), 0);
	ASSERT_EQ(vq_dev_new(&rp, G.mem, &G.dev[s]), 0);
}

static void ring_free(unsigned s)
{
	vq_dev_free(G.dev[s]);
	vq_drv_free(G.drv[s]);
	free(G.ring[s]);
	G.dev[s] = NULL;
	G.drv[s] = NULL;
}

static void mem_fini(void)
{
	vq_mem_free(G.mem);
	free(G.g);
}

/* ---- net */

static struct vq_net *net_new(void)
{
	struct vq_net_params p = { .mac = { 2, 0, 0, 0, 0, 1 }, .max_pairs = 2 };
	struct vq_net *n;

	ASSERT_EQ(vq_net_new(&p, &n), 0);
	return n;
}

/* Post VIRTIO_NET_CTRL_RX_PROMISC(on) on ring s; returns the ack address. */
static uint64_t post_promisc(unsigned s, uint8_t on)
{
	uint8_t hdr[2] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC }, ack = 0xee;
	uint64_t a = galloc(2, hdr), d = galloc(1, &on), k = galloc(1, &ack);
	struct vq_seg sg[3] = { { a, 2 }, { d, 1 }, { k, 1 } };

	ASSERT_EQ(vq_drv_add(G.drv[s], sg, 2, 1, gptr(k)), 0);
	vq_drv_kick_prepare(G.drv[s]);
	return k;
}

TEST(net_ops_features_and_config)
{
	const struct vq_device_ops *o = vq_net_device_ops();
	struct vq_net *n = net_new();
	struct vq_device d = vq_net_device(n);
	uint64_t f = VQ_F_VERSION_1 | VQ_NET_F(VIRTIO_NET_F_MQ) | VQ_NET_F(VIRTIO_NET_F_CTRL_RX) |
		     VQ_NET_F(VIRTIO_NET_F_MAC);
	uint8_t mac[6];

	ASSERT_TRUE(d.ops == o && d.dev == n);
	ASSERT_EQ(o->device_id, VIRTIO_ID_NET);
	ASSERT_EQ(o->num_queues(n), 5); /* 2 pairs + control */
	ASSERT_EQ_U64(o->get_features(n), vq_net_host_features(n));
	/* Without CTRL_VQ, MQ and CTRL_RX are dropped, not refused
	 * (vq_net_set_features itself refuses them). */
	ASSERT_NE(vq_net_set_features(n, f), 0);
	ASSERT_EQ(o->set_features(n, f), 0);
	ASSERT_EQ_U64(vq_net_features(n), VQ_F_VERSION_1 | VQ_NET_F(VIRTIO_NET_F_MAC));
	ASSERT_EQ(o->set_features(n, f | VQ_NET_F(VIRTIO_NET_F_CTRL_VQ)), 0);
	ASSERT_EQ_U64(vq_net_features(n), f | VQ_NET_F(VIRTIO_NET_F_CTRL_VQ));
	ASSERT_EQ(o->config_size, sizeof(struct virtio_net_config));
	ASSERT_EQ(o->get_config(n, 0, mac, 6), 0);
	ASSERT_EQ(mac[5], 1);
	ASSERT_EQ(o->get_config(n, o->config_size - 2, mac, 4), -EINVAL);
	ASSERT_EQ(o->set_config(n, 0, mac, 6), -EPERM);
	ASSERT_EQ(o->queue_poll(n, 0, 8), -EOPNOTSUPP); /* data queues: the owner's */
	vq_net_free(n);
}

TEST(net_ops_control_queue)
{
	const struct vq_device_ops *o = vq_net_device_ops();
	struct vq_net *n = net_new();
	uint64_t ack;
	void *tok;
	uint32_t len;

	mem_init();
	o->attach(n, &host);
	ASSERT_EQ(o->set_features(n, VQ_F_VERSION_1 | VQ_NET_F(VIRTIO_NET_F_CTRL_VQ) |
					  VQ_NET_F(VIRTIO_NET_F_CTRL_RX)), 0);
	ring_new(0);
	/* A command posted before the start is served by the start. */
	ack = post_promisc(0, 1);
	ASSERT_EQ(o->queue_start(n, 4, G.dev[0]), 0);
	ASSERT_EQ(*gptr(ack), VIRTIO_NET_OK);
	ASSERT_EQ(H.notified[4], 1);
	ASSERT_EQ(vq_drv_get(G.drv[0], &tok, &len), 1);
	/* One posted afterwards waits for a kick. */
	ack = post_promisc(0, 0);
	ASSERT_EQ(*gptr(ack), 0xee);
	o->queue_kick(n, 4);
	ASSERT_EQ(*gptr(ack), VIRTIO_NET_OK);
	ASSERT_EQ(H.notified[4], 2);
	/* A kick on a data queue is not the model's business. */
	o->queue_kick(n, 1);
	ASSERT_EQ(H.broken[1], 0);
	/* A chain outside guest memory breaks the ring: reported once. */
	struct vq_seg bad[2] = { { 0x10, 2 }, { GBASE, 1 } };

	ASSERT_EQ(vq_drv_add(G.drv[0], bad, 1, 1, G.g), 0);
	vq_drv_kick_prepare(G.drv[0]);
	o->queue_kick(n, 4);
	o->queue_kick(n, 4);
	ASSERT_LT(o->queue_poll(n, 4, 0), 0);
	ASSERT_EQ(H.broken[4], 1);
	o->queue_stop(n, 4);
	ring_free(0);
	/* A new start may report again. */
	ring_new(0);
	ASSERT_EQ(vq_drv_add(G.drv[0], bad, 1, 1, G.g), 0);
	vq_drv_kick_prepare(G.drv[0]);
	ASSERT_EQ(o->queue_start(n, 4, G.dev[0]), 0);
	ASSERT_EQ(H.broken[4], 2);
	o->queue_stop(n, 4);
	o->reset(n);
	ASSERT_EQ_U64(vq_net_features(n), 0);
	o->attach(n, NULL);
	ring_free(0);
	vq_net_free(n);
	mem_fini();
}

/* ---- blk */

TEST(blk_ops_kick_serves_synchronously)
{
	const struct vq_device_ops *o = vq_blk_device_ops();
	char path[64] = "/tmp/virtq-devops-XXXXXX";
	int fd = mkstemp(path);
	struct vq_blk_params p = { .fd = fd, .num_queues = 1, .serial = "devops-serial" };
	struct vq_blk *b;
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_GET_ID };
	uint64_t ha, id, st;
	uint8_t stv = 0xee, zero[VQ_BLK_ID_BYTES] = { 0 };
	void *tok;
	uint32_t len;

	ASSERT_GE(fd, 0);
	unlink(path);
	ASSERT_EQ(ftruncate(fd, 1 << 20), 0);
	ASSERT_EQ(vq_blk_new(&p, &b), 0);
	mem_init();
	ASSERT_TRUE(vq_blk_device(b).dev == b);
	ASSERT_EQ(o->device_id, VIRTIO_ID_BLOCK);
	ASSERT_EQ(o->num_queues(b), 1);
	ASSERT_EQ(o->config_size, sizeof(struct vq_blk_config));
	o->attach(b, &host);
	ASSERT_EQ(o->set_features(b, VQ_F_VERSION_1), 0);
	ring_new(0);
	ASSERT_EQ(o->queue_start(b, 0, G.dev[0]), 0);
	ha = galloc(sizeof(h), &h);
	id = galloc(VQ_BLK_ID_BYTES, zero);
	st = galloc(1, &stv);
	struct vq_seg sg[3] = { { ha, sizeof(h) }, { id, VQ_BLK_ID_BYTES }, { st, 1 } };

	ASSERT_EQ(vq_drv_add(G.drv[0], sg, 1, 2, gptr(st)), 0);
	vq_drv_kick_prepare(G.drv[0]);
	o->queue_kick(b, 0);
	ASSERT_EQ(*gptr(st), VIRTIO_BLK_S_OK);
	ASSERT_MEM_EQ(gptr(id), "devops-serial", 13);
	ASSERT_EQ(H.notified[0], 1);
	ASSERT_EQ(vq_drv_get(G.drv[0], &tok, &len), 1);
	ASSERT_EQ(len, VQ_BLK_ID_BYTES + 1);
	ASSERT_EQ(o->queue_poll(b, 0, 8), 0); /* nothing left */
	o->queue_stop(b, 0);
	ASSERT_EQ(o->queue_poll(b, 0, 8), -ENOTCONN);
	o->reset(b);
	ASSERT_EQ_U64(vq_blk_features(b), 0);
	o->attach(b, NULL);
	ring_free(0);
	vq_blk_free(b);
	close(fd);
	mem_fini();
}
