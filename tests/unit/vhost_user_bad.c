/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend: a table of hostile frontend messages (short, truncated,
 * oversized, wrong fds, bad regions, bad ring addresses and indexes), each
 * with the reaction expected: a NACK, no reply, or the connection closed.
 */
#include "vhost_user_fx.h"

/* ---- hostile frontends */

enum expect { EXP_NACK, EXP_EMPTY, EXP_CLOSED };

struct hostile {
	const char *name;
	void (*run)(int fd, int *extra_fds);
	bool raw;      /* only SET_OWNER first, no negotiation */
	uint32_t req;  /* the request whose reply is expected */
	enum expect exp;
	const char *log;
};

static void h_short_header(int fd, int *x)
{
	struct vq__vu_hdr h = { VQ__VU_GET_FEATURES, VQ__VU_VERSION, 0 };

	x[0] = eventfd(0, EFD_CLOEXEC); /* must be closed by the backend too */
	ASSERT_EQ(vuc_send_raw(fd, &h, 6, &x[0], 1), 0);
	shutdown(fd, SHUT_WR);
}

static void h_truncated_payload(int fd, int *x)
{
	struct vq__vu_hdr h = { VQ__VU_SET_FEATURES, VQ__VU_VERSION, 8 };
	char buf[sizeof(h) + 4] = { 0 };

	memcpy(buf, &h, sizeof(h));
	ASSERT_EQ(send(fd, buf, sizeof(buf), MSG_NOSIGNAL), (ssize_t)sizeof(buf));
	shutdown(fd, SHUT_WR);
}

static void h_size_too_big(int fd, int *x)
{
	struct vq__vu_hdr h = { VQ__VU_SET_FEATURES, VQ__VU_VERSION, VQ_VU_MAX_PAYLOAD + 1 };

	ASSERT_EQ(send(fd, &h, sizeof(h), MSG_NOSIGNAL), (ssize_t)sizeof(h));
}

static void h_bad_version(int fd, int *x)
{
	fe_send(fd, VQ__VU_GET_FEATURES, 0x2, NULL, 0, NULL, 0);
}

static void h_reply_flag(int fd, int *x)
{
	fe_send(fd, VQ__VU_GET_FEATURES, VQ__VU_VERSION | 0x4, NULL, 0, NULL, 0);
}

static void h_call_two_fds(int fd, int *x)
{
	uint64_t u = 0;

	x[0] = eventfd(0, EFD_CLOEXEC);
	x[1] = eventfd(0, EFD_CLOEXEC);
	fe_send(fd, VQ__VU_SET_VRING_CALL, VQ__VU_VERSION | VQ__VU_FLAG_NEED_REPLY, &u, 8, x, 2);
}

static void h_too_many_fds(int fd, int *x)
{
	struct vq__vu_mem_table t = { .nregions = 1, .regions[0] = { GPA_BASE, MEM_SIZE, (uintptr_t)E.mem, 0 } };

	for (int i = 0; i < 10; i++)
		x[i] = eventfd(0, EFD_CLOEXEC);
	fe_send(fd, VQ__VU_SET_MEM_TABLE, VQ__VU_VERSION | VQ__VU_FLAG_NEED_REPLY, &t, offsetof(struct vq__vu_mem_table, regions[1]), x, 10);
}

static void h_kick_nofd_with_fd(int fd, int *x)
{
	uint64_t u = VQ__VU_VRING_NOFD_MASK;

	x[0] = eventfd(0, EFD_CLOEXEC);
	fe_send(fd, VQ__VU_SET_VRING_KICK, VQ__VU_VERSION | VQ__VU_FLAG_NEED_REPLY, &u, 8, x, 1);
}

static void h_fds_on_features(int fd, int *x)
{
	uint64_t v = VQ_F_VERSION_1;

	x[0] = eventfd(0, EFD_CLOEXEC);
	fe_send(fd, VQ__VU_SET_FEATURES, VQ__VU_VERSION | VQ__VU_FLAG_NEED_REPLY, &v, 8, x, 1);
}

static void send_table(int fd, const struct vq__vu_region *r, uint32_t n, uint32_t nfds)
{
	struct vq__vu_mem_table t = { .nregions = n };
	int fds[8];

	for (uint32_t i = 0; i < 8; i++)
		fds[i] = E.memfd;
	memcpy(t.regions, r, (n > 8 ? 8 : n) * sizeof(*r));
	fe_send(fd, VQ__VU_SET_MEM_TABLE, VQ__VU_VERSION | VQ__VU_FLAG_NEED_REPLY, &t, sizeof(t), fds, nfds);
}

static void h_region_gpa_overflow(int fd, int *x)
{
	struct vq__vu_region r = { UINT64_MAX - 0x100, 0x1000, (uintptr_t)E.mem, 0 };

	send_table(fd, &r, 1, 1);
}

static void h_region_uaddr_overflow(int fd, int *x)
{
	struct vq__vu_region r = { 0, 0x1000, UINT64_MAX - 0x10, 0 };

	send_table(fd, &r, 1, 1);
}

static void h_region_offset_overflow(int fd, int *x)
{
	struct vq__vu_region r = { 0, 0x1000, 0x1000, UINT64_MAX - 0x10 };

	send_table(fd, &r, 1, 1);
}

static void h_region_beyond_file(int fd, int *x)
{
	struct vq__vu_region r = { 0, 0x1000, 0x10000, MEM_SIZE };

	send_table(fd, &r, 1, 1);
}

static void h_region_zero(int fd, int *x)
{
	struct vq__vu_region r = { 0, 0, 0x10000, 0 };

	send_table(fd, &r, 1, 1);
}

static void h_regions_overlap(int fd, int *x)
{
	struct vq__vu_region r[2] = { { 0, 0x10000, 0x10000000, 0 }, { 0x8000, 0x10000, 0x20000000, 0 } };

	send_table(fd, r, 2, 2);
}

static void h_regions_too_many(int fd, int *x)
{
	struct vq__vu_region r[8] = { { 0, 0x1000, 0x10000, 0 } };

	send_table(fd, r, 9, 8);
}

static void h_regions_fd_mismatch(int fd, int *x)
{
	struct vq__vu_region r[2] = { { 0, 0x1000, 0x10000, 0 }, { 0x1000, 0x1000, 0x20000, 0 } };

	send_table(fd, r, 2, 1);
}

static void ack_msg(int fd, uint32_t req, const void *p, uint32_t size)
{
	fe_send(fd, req, VQ__VU_VERSION | VQ__VU_FLAG_NEED_REPLY, p, size, NULL, 0);
}

static void h_addr_outside(int fd, int *x)
{
	struct vhost_vring_state s = { 0, QSIZE };
	struct vhost_vring_addr a = { 0, 0, (uintptr_t)E.mem + MEM_SIZE - 0x100,
			   (uintptr_t)E.mem + 0x2000, (uintptr_t)E.mem + 0x1000, 0 };

	fe_mem_table(fd);
	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);
	ack_msg(fd, VQ__VU_SET_VRING_ADDR, &a, sizeof(a));
}

static void h_addr_before_mem(int fd, int *x)
{
	struct vhost_vring_state s = { 0, QSIZE };
	struct vhost_vring_addr a = { 0, 0, (uintptr_t)E.mem, (uintptr_t)E.mem + 0x2000,
			   (uintptr_t)E.mem + 0x1000, 0 };

	ASSERT_EQ(fe_ack(fd, VQ__VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 0);
	ack_msg(fd, VQ__VU_SET_VRING_ADDR, &a, sizeof(a));
}

static void h_kick_before_num(int fd, int *x)
{
	uint64_t u = 1 | VQ__VU_VRING_NOFD_MASK;

	fe_mem_table(fd);
	ack_msg(fd, VQ__VU_SET_VRING_KICK, &u, 8);
}

static void h_qidx_range(int fd, int *x)
{
	struct vhost_vring_state s = { NQ, QSIZE };

	ack_msg(fd, VQ__VU_SET_VRING_NUM, &s, sizeof(s));
}

static void h_qidx_range_file(int fd, int *x)
{
	uint64_t u = 200 | VQ__VU_VRING_NOFD_MASK;

	ack_msg(fd, VQ__VU_SET_VRING_CALL, &u, 8);
}

static void h_get_base_range(int fd, int *x)
{
	struct vhost_vring_state s = { 77, 0 };

	fe_send(fd, VQ__VU_GET_VRING_BASE, VQ__VU_VERSION, &s, sizeof(s), NULL, 0);
}

static void h_num_zero(int fd, int *x)
{
	struct vhost_vring_state s = { 0, 0 };

	ack_msg(fd, VQ__VU_SET_VRING_NUM, &s, sizeof(s));
}

static void h_num_not_pow2(int fd, int *x)
{
	struct vhost_vring_state s = { 0, 1000 };

	ack_msg(fd, VQ__VU_SET_VRING_NUM, &s, sizeof(s));
}

static void h_num_too_big(int fd, int *x)
{
	struct vhost_vring_state s = { 0, 65536 };

	ack_msg(fd, VQ__VU_SET_VRING_NUM, &s, sizeof(s));
}

static void h_num_no_reply(int fd, int *x)
{
	struct vhost_vring_state s = { 0, 0 };

	fe_send(fd, VQ__VU_SET_VRING_NUM, VQ__VU_VERSION, &s, sizeof(s), NULL, 0);
}

static void h_unknown_ack(int fd, int *x)
{
	ack_msg(fd, 99, NULL, 0);
}

static void h_unknown_noack(int fd, int *x)
{
	fe_send(fd, 99, VQ__VU_VERSION, NULL, 0, NULL, 0);
}

static void h_bad_size(int fd, int *x)
{
	uint32_t v = 1;

	ack_msg(fd, VQ__VU_SET_FEATURES, &v, 4);
}

static void h_log_base(int fd, int *x)
{
	uint64_t v[2] = { 0x1000, 0 };

	x[0] = E.memfd >= 0 ? eventfd(0, EFD_CLOEXEC) : -1;
	fe_send(fd, VQ__VU_SET_LOG_BASE, VQ__VU_VERSION | VQ__VU_FLAG_NEED_REPLY, v, 16, x, 1);
}

static const struct hostile hostile[] = {
	{ "short header", h_short_header, true, 0, EXP_CLOSED, "short header" },
	{ "truncated payload", h_truncated_payload, true, 0, EXP_CLOSED, "truncated payload" },
	{ "size > max", h_size_too_big, true, 0, EXP_CLOSED, "> max 4096" },
	{ "bad version", h_bad_version, true, 0, EXP_CLOSED, "bad version" },
	{ "reply flag in request", h_reply_flag, true, 0, EXP_CLOSED, "reply flag" },
	{ "2 fds on SET_VRING_CALL", h_call_two_fds, false, VQ__VU_SET_VRING_CALL, EXP_NACK, "2 fds passed, expected 0..1" },
	{ "10 fds", h_too_many_fds, true, 0, EXP_CLOSED, "more than 8 fds" },
	{ "NOFD with an fd", h_kick_nofd_with_fd, false, VQ__VU_SET_VRING_KICK, EXP_NACK, "NOFD flag set but an fd" },
	{ "fd on SET_FEATURES", h_fds_on_features, false, VQ__VU_SET_FEATURES, EXP_NACK, "1 fds passed, expected 0..0" },
	{ "region gpa overflow", h_region_gpa_overflow, false, VQ__VU_SET_MEM_TABLE, EXP_NACK, "overflows" },
	{ "region uaddr overflow", h_region_uaddr_overflow, false, VQ__VU_SET_MEM_TABLE, EXP_NACK, "uaddr" },
	{ "region offset overflow", h_region_offset_overflow, false, VQ__VU_SET_MEM_TABLE, EXP_NACK, "mmap_offset" },
	{ "region beyond file", h_region_beyond_file, false, VQ__VU_SET_MEM_TABLE, EXP_NACK, "beyond the file size" },
	{ "region size 0", h_region_zero, false, VQ__VU_SET_MEM_TABLE, EXP_NACK, "has size 0" },
	{ "regions overlap", h_regions_overlap, false, VQ__VU_SET_MEM_TABLE, EXP_NACK, "overlaps another region" },
	{ "9 regions", h_regions_too_many, false, VQ__VU_SET_MEM_TABLE, EXP_NACK, "9 regions > 8" },
	{ "fds != regions", h_regions_fd_mismatch, false, VQ__VU_SET_MEM_TABLE, EXP_NACK, "1 fds for 2 regions" },
	{ "ring outside memory", h_addr_outside, false, VQ__VU_SET_VRING_ADDR, EXP_NACK, "outside the memory map" },
	{ "ADDR before MEM_TABLE", h_addr_before_mem, false, VQ__VU_SET_VRING_ADDR, EXP_NACK, "before SET_MEM_TABLE" },
	{ "KICK before NUM", h_kick_before_num, false, VQ__VU_SET_VRING_KICK, EXP_NACK, "SET_VRING_KICK before SET_VRING_NUM" },
	{ "queue index", h_qidx_range, false, VQ__VU_SET_VRING_NUM, EXP_NACK, "queue index 4 out of range" },
	{ "queue index (file)", h_qidx_range_file, false, VQ__VU_SET_VRING_CALL, EXP_NACK, "queue index 200 out of range" },
	{ "GET_VRING_BASE index", h_get_base_range, false, VQ__VU_GET_VRING_BASE, EXP_EMPTY, "queue index 77 out of range" },
	{ "num 0", h_num_zero, false, VQ__VU_SET_VRING_NUM, EXP_NACK, "queue size 0 outside" },
	{ "num not pow2", h_num_not_pow2, false, VQ__VU_SET_VRING_NUM, EXP_NACK, "not a power of two" },
	{ "num > 32768", h_num_too_big, false, VQ__VU_SET_VRING_NUM, EXP_NACK, "queue size 65536 outside" },
	{ "bad num without reply", h_num_no_reply, false, 0, EXP_CLOSED, "queue size 0 outside" },
	{ "unknown request, ack", h_unknown_ack, true, 99, EXP_NACK, "UNKNOWN (request 99)" },
	{ "unknown request, no ack", h_unknown_noack, true, 0, EXP_CLOSED, "UNKNOWN (request 99)" },
	{ "payload size", h_bad_size, false, VQ__VU_SET_FEATURES, EXP_NACK, "payload size 4, expected 8..8" },
	{ "SET_LOG_BASE", h_log_base, false, VQ__VU_SET_LOG_BASE, EXP_NACK, "protocol feature 1 not negotiated" },
};

static void check_outcome(int fd, const struct hostile *h)
{
	uint64_t v = 0;
	int n;

	switch (h->exp) {
	case EXP_CLOSED:
		if (!fe_closed(fd))
			FAIL("%s: connection not closed; log:\n%s", h->name, logbuf);
		break;
	case EXP_NACK:
		n = fe_recv(fd, h->req, &v, sizeof(v));
		if (n != 8 || v == 0)
			FAIL("%s: expected a non-zero ack, got size %d value %" PRIu64, h->name, n, v);
		break;
	case EXP_EMPTY:
		n = fe_recv(fd, h->req, &v, sizeof(v));
		if (n != 0)
			FAIL("%s: expected an empty reply, got %d", h->name, n);
		break;
	}
}

TEST(hostile_messages)
{
	env_start(VQ_VU_SERVER);
	int base = vuc_count_fds();

	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		const struct hostile *h = &hostile[i];
		int x[16], fd, resets = dget(&D.resets);

		for (int j = 0; j < 16; j++)
			x[j] = -1;
		log_clear();
		fd = fe_connect();
		if (!h->raw)
			fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
		else
			fe_send(fd, VQ__VU_SET_OWNER, VQ__VU_VERSION, NULL, 0, NULL, 0);
		h->run(fd, x);
		check_outcome(fd, h);
		if (!log_has(h->log))
			FAIL("%s: no log line with \"%s\"; log:\n%s", h->name, h->log, logbuf);
		if (h->exp != EXP_CLOSED)
			ASSERT_EQ_U64(fe_get_u64(fd, VQ__VU_GET_QUEUE_NUM), NQ); /* still open */
		close(fd);
		for (int j = 0; j < 16; j++)
			if (x[j] >= 0)
				close(x[j]);
		/* The backend drops the connection (EOF) and releases its fds. */
		for (int t = 0; t < 500 && (dget(&D.resets) == resets || vuc_count_fds() != base); t++)
			usleep(10000);
		if (vuc_count_fds() != base)
			FAIL("%s: %d fds open, %d before", h->name, vuc_count_fds(), base);
	}
	/* And a well-behaved frontend is still served. */
	int fd = fe_connect();

	fe_hello(fd, VQ_F_VERSION_1, PF_WANT);
	fe_mem_table(fd);
	close(fd);
	env_stop();
}
