/* SPDX-License-Identifier: MIT */
/*
 * virtio-net device model, control queue: commands, malformed commands, the
 * feature gate, and the receive filter read by other threads.
 */
#include "net_fx.h"

/* ======================================================================
 * Control queue
 * ====================================================================== */

/* Send one command (readable bytes cmd[0..len)), return the ack byte. */
static int ctrl(struct port *p, const void *cmd, uint32_t len)
{
	uint64_t a = galloc(p, len), ack = galloc(p, 1);
	void *t;
	uint32_t l;

	memcpy(host(p, a), cmd, len);
	host(p, ack)[0] = 0xaa;
	post(p, 2, (struct vq_seg[]){ { a, len }, { ack, 1 } }, 1, 1, 77);
	ASSERT_EQ(vq_net_ctrl_poll(p->n), 1);
	ASSERT_EQ(vq_drv_get(p->drv[2], &t, &l), 1);
	ASSERT_EQ(l, 1);
	return host(p, ack)[0];
}

TEST(net_ctrl_commands)
{
	struct port p;
	struct vq_net_rx_filter f;
	struct virtio_net_config c;
	uint8_t other[6] = { 0x52, 0x54, 0, 0, 0, 9 }, mc[6] = { 0x01, 0, 0x5e, 0, 0, 1 };
	uint8_t mc2[6] = { 0x01, 0, 0x5e, 0, 0, 2 };

	port_init_pairs(&p, VQ_F_VERSION_1 | F_CTRL | F(VIRTIO_NET_F_MQ), 4, 0);
	ASSERT_TRUE(vq_net_rx_accept(p.n, other)); /* promiscuous by default */
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 }, 3),
		  VIRTIO_NET_OK);
	ASSERT_FALSE(vq_net_rx_accept(p.n, other));
	ASSERT_TRUE(vq_net_rx_accept(p.n, (uint8_t[])MAC0));
	ASSERT_FALSE(vq_net_rx_accept(p.n, mc));
	ASSERT_TRUE(vq_net_rx_accept(p.n, (uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }));
	/* table: 1 unicast, 1 multicast */
	uint8_t t[2 + 4 + 6 + 4 + 6] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1 };
	memcpy(t + 6, other, 6);
	t[12] = 1;
	memcpy(t + 16, mc, 6);
	ASSERT_EQ(ctrl(&p, t, sizeof(t)), VIRTIO_NET_OK);
	ASSERT_TRUE(vq_net_rx_accept(p.n, other));
	ASSERT_TRUE(vq_net_rx_accept(p.n, mc));
	ASSERT_FALSE(vq_net_rx_accept(p.n, mc2));
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 1 }, 3),
		  VIRTIO_NET_OK);
	ASSERT_TRUE(vq_net_rx_accept(p.n, mc2));
	/* address */
	uint8_t as[8] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 2, 0, 0, 0, 0, 7 };
	ASSERT_EQ(ctrl(&p, as, 8), VIRTIO_NET_OK);
	ASSERT_EQ(vq_net_get_config(p.n, 0, &c, sizeof(c)), 0);
	ASSERT_MEM_EQ(c.mac, as + 2, 6);
	/* pairs */
	ASSERT_EQ(vq_net_active_pairs(p.n), 1);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 3, 0 },
		       4), VIRTIO_NET_OK);
	ASSERT_EQ(vq_net_active_pairs(p.n), 3);
	vq_net_get_rx_filter(p.n, &f);
	ASSERT_FALSE(f.promisc);
	ASSERT_TRUE(f.allmulti);
	ASSERT_EQ(f.n_uni, 1);
	ASSERT_EQ(f.n_multi, 1);
	ASSERT_MEM_EQ(f.mac, as + 2, 6);
	ASSERT_EQ(stats(&p, 8).packets, 5);
	ASSERT_EQ(stats(&p, 8).errors, 0);
	/* a table larger than ours: overflow means accept all unicast */
	static uint8_t big[2 + 4 + 65 * 6 + 4];
	big[0] = VIRTIO_NET_CTRL_MAC;
	big[1] = VIRTIO_NET_CTRL_MAC_TABLE_SET;
	big[2] = 65;
	ASSERT_EQ(ctrl(&p, big, sizeof(big)), VIRTIO_NET_OK);
	vq_net_get_rx_filter(p.n, &f);
	ASSERT_TRUE(f.uni_overflow);
	ASSERT_TRUE(vq_net_rx_accept(p.n, (uint8_t[]){ 2, 3, 4, 5, 6, 7 }));
}

/* The filter is read by other threads (a switch asks any port whether it
 * takes a frame) while the port's control path changes it.  The table
 * alternates between {X} and {Y}; Z is X's first four bytes and Y's last
 * two: a reader that saw the entry half-written would take Z.  It must
 * never, and X must be taken in some reads and refused in others. */
struct filter_race {
	struct vq_net *n;
	atomic_bool stop;
	_Atomic uint64_t z_taken, x_taken, x_refused;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *filter_reader(void *arg)
{
	static const uint8_t x[6] = { 0x52, 0x54, 0, 0, 0, 0x11 }, z[6] = { 0x52, 0x54, 0, 0, 0, 0x22 };
	struct filter_race *r = arg;

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		if (vq_net_rx_accept(r->n, z))
			atomic_fetch_add_explicit(&r->z_taken, 1, memory_order_relaxed);
		if (vq_net_rx_accept(r->n, x))
			atomic_fetch_add_explicit(&r->x_taken, 1, memory_order_relaxed);
		else
			atomic_fetch_add_explicit(&r->x_refused, 1, memory_order_relaxed);
	}
	return NULL;
}

TEST(net_filter_concurrent_reader)
{
	struct port p;
	struct filter_race r = { 0 };
	pthread_t t;
	uint64_t mark;
	double t0;
	/* X = 52:54:0:0:0:11 and Y = ff:ff:ff:ff:0:22 differ in both words */
	uint8_t tx[2 + 4 + 6 + 4] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1, 0, 0, 0,
				      0x52, 0x54, 0, 0, 0, 0x11 };
	uint8_t ty[sizeof(tx)] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1, 0, 0, 0,
				   0xfe, 0xff, 0xff, 0xff, 0, 0x22 };

	port_init_pairs(&p, VQ_F_VERSION_1 | F_CTRL, 1, 0);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 }, 3),
		  VIRTIO_NET_OK);
	r.n = p.n;
	ASSERT_EQ(pthread_create(&t, NULL, filter_reader, &r), 0);
	t0 = now_s();
	mark = p.next;
	/* At least 20000 changes, and until the reader saw both states often
	 * (it may start late, or share a CPU), at most 10 s. */
	for (int i = 0; i < 20000 || atomic_load(&r.x_taken) < 1000 || atomic_load(&r.x_refused) < 1000;
	     i++) {
		ASSERT_EQ(ctrl(&p, i & 1 ? ty : tx, sizeof(tx)), VIRTIO_NET_OK);
		p.next = mark; /* the command is done: reuse its buffers */
		if ((i & 1023) == 0 && now_s() > t0 + 10)
			break;
	}
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	printf("  reads: X taken %llu, refused %llu; Z taken %llu\n",
	       (unsigned long long)atomic_load(&r.x_taken), (unsigned long long)atomic_load(&r.x_refused),
	       (unsigned long long)atomic_load(&r.z_taken));
	ASSERT_EQ(atomic_load(&r.z_taken), 0);
	ASSERT_GT(atomic_load(&r.x_taken), 0);
	ASSERT_GT(atomic_load(&r.x_refused), 0);
}

TEST(net_ctrl_malformed)
{
	struct port p;
	uint8_t huge[3000] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 };

	port_init_pairs(&p, VQ_F_VERSION_1 | F_CTRL | F(VIRTIO_NET_F_MQ), 4, 0);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX }, 1), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, 0, 0, 0 }, 4), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, 0, 2 }, 3), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, 1 }, 3),
		  VIRTIO_NET_ERR); /* needs CTRL_RX_EXTRA */
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ 99, 0, 0 }, 3), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MQ, 0, 0, 0 }, 4), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MQ, 0, 5, 0 }, 4), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MQ, 0, 2 }, 3), VIRTIO_NET_ERR);
	/* table claiming 2^32-1 entries */
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MAC, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 },
		       10), VIRTIO_NET_ERR);
	/* table with trailing garbage */
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MAC, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9 }, 11),
		  VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MAC, 1, 1, 2, 3 }, 5), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, huge, sizeof(huge)), VIRTIO_NET_ERR);
	ASSERT_EQ(stats(&p, 8).errors, 12);
	ASSERT_EQ(vq_net_active_pairs(p.n), 1);
	ASSERT_TRUE(vq_net_rx_accept(p.n, (uint8_t[]){ 2, 3, 4, 5, 6, 7 })); /* still promisc */
	/* no room for the ack: used with length 0 */
	uint64_t a = galloc(&p, 3);
	void *t;
	uint32_t l = 99;
	memcpy(host(&p, a), (uint8_t[]){ VIRTIO_NET_CTRL_RX, 0, 0 }, 3);
	post(&p, 2, (struct vq_seg[]){ { a, 3 } }, 1, 0, 5);
	ASSERT_EQ(vq_net_ctrl_poll(p.n), 1);
	ASSERT_EQ(vq_drv_get(p.drv[2], &t, &l), 1);
	ASSERT_EQ(l, 0);
	ASSERT_EQ(stats(&p, 8).errors, 13);
}

TEST(net_ctrl_features_gate)
{
	struct port p;

	/* CTRL_VQ alone: RX, MAC and MQ commands are refused */
	port_init(&p, VQ_F_VERSION_1 | F(VIRTIO_NET_F_CTRL_VQ));
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_RX, 0, 0 }, 3), VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MAC, 1, 1, 2, 3, 4, 5, 6 }, 8),
		  VIRTIO_NET_ERR);
	ASSERT_EQ(ctrl(&p, (uint8_t[]){ VIRTIO_NET_CTRL_MQ, 0, 1, 0 }, 4), VIRTIO_NET_ERR);
}
