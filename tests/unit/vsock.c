/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock device model: config and features, parameters, host-to-guest
 * connections, seqpacket boundaries and its feature, TRANSPORT_RESET, no event
 * queue, the pure parser.
 */
#include "vsock_fx.h"

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

BOTH(vsock_transport_reset_event)
{
	struct guest t;
	void *tok;
	uint32_t len;
	uint64_t ev;
	int l, fd;

	guest_init(&t, 0);
	post_rx(&t, 4);
	l = host_listen(&t, 50, SOCK_STREAM);
	fd = open_g2h(&t, l, 1, 50, VIRTIO_VSOCK_TYPE_STREAM);
	/* the driver goes away: queues stop, reset drops the connections */
	for (unsigned i = 0; i < 3; i++)
		t.d.ops->queue_stop(t.d.dev, i);
	t.d.ops->reset(t.d.dev);
	struct vq_vsock_stats st;

	vq_vsock_get_stats(t.v, &st);
	ASSERT_EQ(st.conns, 0);
	ASSERT_TRUE(readable(fd));
	ASSERT_EQ(read(fd, &ev, sizeof(ev)), 0); /* the host peer saw it close */
	close(fd);
	/* a new driver: TRANSPORT_RESET on its event queue */
	ASSERT_EQ(t.d.ops->set_features(t.d.dev, t.feats), 0);
	for (unsigned i = 0; i < 3; i++) {
		vq_drv_free(t.drv[i]);
		vq_dev_free(t.dev[i]);
	}
	start_queues(&t, 3);
	/* its first connection waits behind the event (no event buffer yet),
	 * so that it cannot be taken for one the reset dropped */
	post_rx(&t, 4);
	send_pkt(&t, mk(VIRTIO_VSOCK_OP_REQUEST, 2, 50, VIRTIO_VSOCK_TYPE_STREAM), NULL, 0);
	process(&t);
	expect_no_pkt(&t);
	ASSERT_FALSE(readable(l));
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
	expect_pkt(&t, VIRTIO_VSOCK_OP_RESPONSE, NULL); /* then the new session */
	close(host_accept(l));
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
