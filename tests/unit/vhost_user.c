/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend: feature negotiation, REPLY_ACK, GET_CONFIG, split and
 * packed rings end to end (kick -> device -> call), GET_VRING_BASE, multiqueue,
 * ADD/REM_MEM_REG, disconnect + reconnect without leaking fds or mappings,
 * client mode with reconnect.
 */
#include "vhost_user_fx.h"

TEST(split_ring_start_kick_call_base)
{
	ring_test(false);
}

TEST(packed_ring_start_kick_call_base)
{
	ring_test(true);
}

TEST(split_base_resumes_position)
{
	int fd, kick, call, starts;
	uint64_t u = 0;
	struct vq_drv *d;
	struct vhost_vring_state s = { 0, 0 };

	env_start(VQ_VU_SERVER);
	fd = fe_connect();
	fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
	fe_mem_table(fd);
	fe_vring(fd, 0, 0, &kick, &call);
	d = drv_for(0, false);
	roundtrip(d, kick, call);
	roundtrip(d, kick, call);
	/* A new memory table while the queue runs: stop, remap, restart. */
	starts = dget(&D.starts);
	fe_mem_table(fd);
	ASSERT_EQ(dget(&D.starts), starts + 1);
	ASSERT_TRUE(vq_vu_queue_is_started(vq_vu_queue(E.b, 0)));
	roundtrip(d, kick, call);
	/* A new call eventfd while the queue runs (dup3 onto the old number). */
	close(call);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_VRING_CALL, &u, 8, &call, 1), 0);
	ASSERT_EQ(dget(&D.starts), starts + 1);
	roundtrip(d, kick, call);
	fe_send(fd, VQ__VU_GET_VRING_BASE, VQ__VU_VERSION, &s, sizeof(s), NULL, 0);
	ASSERT_EQ(fe_recv(fd, VQ__VU_GET_VRING_BASE, &s, sizeof(s)), 8);
	ASSERT_EQ(s.num, 4);
	close(kick), close(call);
	/* Restart from that position, as QEMU does after a stop/start. */
	fe_vring(fd, 0, 4, &kick, &call);
	roundtrip(d, kick, call);
	fe_send(fd, VQ__VU_GET_VRING_BASE, VQ__VU_VERSION, &s, sizeof(s), NULL, 0);
	ASSERT_EQ(fe_recv(fd, VQ__VU_GET_VRING_BASE, &s, sizeof(s)), 8);
	ASSERT_EQ(s.num, 5);
	vq_drv_free(d);
	close(fd), close(kick), close(call);
	env_stop();
}

TEST(feature_negotiation_and_reply_ack)
{
	uint64_t want = (DEV_FEATURES & ~((1ull << 26) | (1ull << 33))) | (1ull << 30);
	uint64_t v;
	int fd;

	env_start(VQ_VU_SERVER);
	fd = fe_connect();
	ASSERT_EQ_U64(fe_get_u64(fd, VQ__VU_GET_FEATURES), want); /* allowed before SET_OWNER */
	v = fe_get_u64(fd, VQ__VU_GET_PROTOCOL_FEATURES);
	/* No RARP/MTU callbacks: those bits are not offered. */
	ASSERT_EQ_U64(v, VQ_VU_PROTOCOL_F_ALL & ~(VQ_VU_PROTOCOL_F_RARP | VQ_VU_PROTOCOL_F_MTU));
	fe_send(fd, VQ__VU_SET_OWNER, VQ__VU_VERSION, NULL, 0, NULL, 0);
	v = VQ_VU_PROTOCOL_F_REPLY_ACK | (1ull << 1); /* LOG_SHMFD: not offered */
	ASSERT_GT(fe_ack(fd, VQ__VU_SET_PROTOCOL_FEATURES, &v, 8, NULL, 0), 0);
	v = PF_WANT;
	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_PROTOCOL_FEATURES, &v, 8, NULL, 0), 0);
	v = VQ_F_VERSION_1 | (1ull << 26); /* LOG_ALL is never offered */
	ASSERT_GT(fe_ack(fd, VQ__VU_SET_FEATURES, &v, 8, NULL, 0), 0);
	ASSERT_TRUE(log_has("not offered"));
	v = VQ_F_VERSION_1 | VQ_F_PACKED | (1ull << 30);
	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_FEATURES, &v, 8, NULL, 0), 0);
	ASSERT_EQ_U64(vq_vu_features(E.b), v);
	ASSERT_EQ_U64(vq_vu_protocol_features(E.b), PF_WANT);
	ASSERT_EQ_U64(fe_get_u64(fd, VQ__VU_GET_QUEUE_NUM), NQ);
	ASSERT_EQ_U64(fe_get_u64(fd, VQ__VU_GET_MAX_MEM_SLOTS), VQ_VU_DEFAULT_MEM_SLOTS);
	v = 0x7;
	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_STATUS, &v, 8, NULL, 0), 0);
	ASSERT_EQ_U64(fe_get_u64(fd, VQ__VU_GET_STATUS), 0x7);
	close(fd);
	env_stop();
}

TEST(get_config)
{
	struct cfgmsg c = { { 4, 8, 0 }, { 0 } };
	int fd;

	env_start(VQ_VU_SERVER);
	fd = fe_connect();
	fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
	fe_send(fd, VQ__VU_GET_CONFIG, VQ__VU_VERSION, &c, VQ__VU_CONFIG_HDR + 8, NULL, 0);
	ASSERT_EQ(fe_recv(fd, VQ__VU_GET_CONFIG, &c, sizeof(c)), 20);
	ASSERT_EQ(c.h.offset, 4);
	ASSERT_EQ(c.h.size, 8);
	ASSERT_MEM_EQ(c.data, D.config + 4, 8);
	/* Out of the device's range: a zero-size reply means failure. */
	c = (struct cfgmsg){ { 28, 8, 0 }, { 0 } };
	fe_send(fd, VQ__VU_GET_CONFIG, VQ__VU_VERSION, &c, VQ__VU_CONFIG_HDR + 8, NULL, 0);
	ASSERT_EQ(fe_recv(fd, VQ__VU_GET_CONFIG, &c, sizeof(c)), 0);
	/* Size field disagreeing with the payload. */
	c = (struct cfgmsg){ { 0, 16, 0 }, { 0 } };
	fe_send(fd, VQ__VU_GET_CONFIG, VQ__VU_VERSION, &c, VQ__VU_CONFIG_HDR + 8, NULL, 0);
	ASSERT_EQ(fe_recv(fd, VQ__VU_GET_CONFIG, &c, sizeof(c)), 0);
	ASSERT_EQ_U64(fe_get_u64(fd, VQ__VU_GET_QUEUE_NUM), NQ); /* still serving */
	close(fd);
	env_stop();
}

TEST(add_rem_mem_reg)
{
	struct vq__vu_mem_single r = { 0, { GPA_BASE, MEM_SIZE, 0, 0 } };
	int fd, kick, call;

	env_start(VQ_VU_SERVER);
	r.region.uaddr = (uintptr_t)E.mem;
	fd = fe_connect();
	fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
	ASSERT_EQ(fe_ack(fd, VQ__VU_ADD_MEM_REG, &r, sizeof(r), &E.memfd, 1), 0);
	ASSERT_EQ(count_guest_maps(), 2);
	/* The same region again overlaps. */
	ASSERT_GT(fe_ack(fd, VQ__VU_ADD_MEM_REG, &r, sizeof(r), &E.memfd, 1), 0);
	ASSERT_TRUE(log_has("overlaps"));
	fe_vring(fd, 0, 0, &kick, &call);
	ASSERT_TRUE(vq_vu_queue_is_started(vq_vu_queue(E.b, 0)));
	/* Removing the ring's memory stops the queue for good. */
	ASSERT_EQ(fe_ack(fd, VQ__VU_REM_MEM_REG, &r, sizeof(r), NULL, 0), 0);
	ASSERT_FALSE(vq_vu_queue_is_started(vq_vu_queue(E.b, 0)));
	ASSERT_TRUE(log_has("not restarted"));
	ASSERT_EQ(count_guest_maps(), 1);
	ASSERT_GT(fe_ack(fd, VQ__VU_REM_MEM_REG, &r, sizeof(r), NULL, 0), 0); /* gone */
	close(fd), close(kick), close(call);
	env_stop();
}

TEST(disconnect_reconnect_releases_everything)
{
	int before, fd, kick, call, err;
	uint64_t u = 0;

	env_start(VQ_VU_SERVER);
	before = vuc_count_fds();
	for (int round = 0; round < 3; round++) {
		int resets = dget(&D.resets);

		fd = fe_connect();
		fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
		fe_mem_table(fd);
		ASSERT_EQ(count_guest_maps(), 2);
		fe_vring(fd, 1, 0, &kick, &call);
		err = eventfd(0, EFD_CLOEXEC);
		u = 1;
		ASSERT_EQ(fe_ack(fd, VQ__VU_SET_VRING_ERR, &u, 8, &err, 1), 0);
		ASSERT_GT(vuc_count_fds(), before + 3);
		close(fd), close(kick), close(call), close(err);
		for (int i = 0; i < 500 && dget(&D.resets) == resets; i++)
			usleep(10000);
		ASSERT_EQ(dget(&D.resets), resets + 1);
		ASSERT_FALSE(vq_vu_queue_is_started(vq_vu_queue(E.b, 1)));
		ASSERT_EQ(vuc_count_fds(), before);
		ASSERT_EQ(count_guest_maps(), 1);
		ASSERT_TRUE(log_has("frontend closed the connection"));
	}
	ASSERT_EQ(dget(&D.stops), 3);
	env_stop();
}

TEST(client_mode_connects_and_reconnects)
{
	int lfd, fd;

	env_start(VQ_VU_CLIENT);
	usleep(150000); /* a few failed attempts first */
	lfd = vuc_listen(E.path);
	ASSERT_GE(lfd, 0);
	for (int round = 0; round < 2; round++) {
		fd = vuc_accept(lfd, 5000);
		ASSERT_GE(fd, 0);
		fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
		fe_mem_table(fd);
		close(fd); /* the backend must come back */
	}
	close(lfd);
	env_stop();
}
