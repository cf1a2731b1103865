/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock device model, guest-to-host streams: the connection protocol,
 * RST without a listener, credit both ways and its violation, SHUTDOWN and RST.
 */
#include "vsock_fx.h"

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
