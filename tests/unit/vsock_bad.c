/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock device model against a hostile driver: bad headers, a bounded
 * RST backlog, random headers that must never crash it.
 */
#include "vsock_fx.h"

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
