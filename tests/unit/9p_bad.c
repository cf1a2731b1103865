/* SPDX-License-Identifier: MIT */
/*
 * 9P2000.L server against hostile messages: bad fids, overlong strings,
 * counts past msize, broken framing, msize abuse, tags.
 */
#include "9p_fx.h"

/* ---- hostile messages */

TEST(hostile_bad_fids)
{
	struct t9 t;

	t_init(&t, false);
	vq_9p_conn_free(t.c);
	vq_9p_free(t.s);
	t_open_server(&t, false, 8, false);
	t_start(&t);
	ASSERT_EQ(t_read(&t, 77, 0, 10), -EBADF);
	ASSERT_EQ(t_write(&t, 77, 0, "x", 1), -EBADF);
	ASSERT_EQ(t_clunk(&t, 77), -EBADF);
	ASSERT_EQ(t_lopen(&t, 77, 0), -EBADF);
	ASSERT_EQ(t_simple(&t, P9_TREADLINK, 77), -EBADF);
	ASSERT_EQ(t_dirop(&t, P9_TMKDIR, 77, "x", 0755, NULL), -EBADF);
	ASSERT_EQ(t_renameat(&t, 77, "a", ROOT, "b"), -EBADF);
	ASSERT_EQ(t_read(&t, ROOT, 0, 10), -EBADF); /* not open */
	/* the fid limit: 8 per connection */
	for (uint32_t f = 2; f <= 8; f++)
		ASSERT_EQ(t_walk(&t, ROOT, f, NULL, NULL), 0);
	ASSERT_EQ(t_walk(&t, ROOT, 9, NULL, NULL), -EMFILE);
	ASSERT_EQ(vq_9p_conn_nfids(t.c), 8);
	ASSERT_EQ(t_clunk(&t, 8), 0);
	ASSERT_EQ(t_walk(&t, ROOT, 9, NULL, NULL), 0);
	t_fini(&t);
}

TEST(hostile_lengths)
{
	struct t9 t;
	char name[300];
	static char target[PATH_MAX + 10];

	t_init(&t, false);
	t_start(&t);
	/* a string whose length runs past the message */
	m_begin(&t, P9_TWALK);
	p9_wr_u32(&t.w, ROOT);
	p9_wr_u32(&t.w, 2);
	p9_wr_u16(&t.w, 1);
	p9_wr_u16(&t.w, 1000);
	p9_wr_bytes(&t.w, "abc", 3);
	int before = t.loglines;

	ASSERT_EQ(m_rpc(&t, P9_RWALK), -EINVAL);
	ASSERT_EQ(t.loglines, before + 1); /* one log line */
	/* trailing bytes after the last field */
	m_begin(&t, P9_TCLUNK);
	p9_wr_u32(&t.w, ROOT);
	p9_wr_u8(&t.w, 0);
	ASSERT_EQ(m_rpc(&t, P9_RCLUNK), -EINVAL);
	/* a 256-byte name, a NUL in a name, an empty name */
	memset(name, 'n', sizeof(name));
	name[256] = 0;
	ASSERT_EQ(t_lcreate(&t, ROOT, name, 2, 0644), -EINVAL);
	m_begin(&t, P9_TMKDIR);
	p9_wr_u32(&t.w, ROOT);
	p9_wr_strn(&t.w, "a\0b", 3);
	p9_wr_u32(&t.w, 0755);
	p9_wr_u32(&t.w, 0);
	ASSERT_EQ(m_rpc(&t, P9_RMKDIR), -EINVAL);
	ASSERT_EQ(t_dirop(&t, P9_TMKDIR, ROOT, "", 0755, NULL), -EINVAL);
	/* a symlink target of PATH_MAX bytes */
	memset(target, 't', PATH_MAX);
	target[PATH_MAX] = 0;
	ASSERT_EQ(t_dirop(&t, P9_TSYMLINK, ROOT, "l", 0, target), -ENAMETOOLONG);
	/* Twrite count beyond (or short of) the data it carries */
	ASSERT_EQ(t_walk(&t, ROOT, 2, NULL, NULL), 0);
	ASSERT_EQ(t_lcreate(&t, 2, "f", 2, 0644), 0);
	m_begin(&t, P9_TWRITE);
	p9_wr_u32(&t.w, 2);
	p9_wr_u64(&t.w, 0);
	p9_wr_u32(&t.w, 100);
	p9_wr_bytes(&t.w, "short", 5);
	ASSERT_EQ(m_rpc(&t, P9_RWRITE), -EINVAL);
	m_begin(&t, P9_TWRITE); /* a Twrite cut inside its fixed part */
	p9_wr_u32(&t.w, 2);
	ASSERT_EQ(m_rpc(&t, P9_RWRITE), -EINVAL);
	/* offsets past off_t */
	ASSERT_EQ(t_read(&t, 2, 1ull << 63, 10), -EINVAL);
	ASSERT_EQ(t_write(&t, 2, 1ull << 63, "x", 1), -EINVAL);
	t_fini(&t);
}

TEST(hostile_counts_past_msize)
{
	struct t9 t;
	static uint8_t data[8192];
	int n;

	t_init(&t, false);
	t_version(&t, 8192);
	ASSERT_EQ(t_attach(&t, ROOT, ""), 0);
	ASSERT_EQ(t_walk(&t, ROOT, 2, NULL, NULL), 0);
	ASSERT_EQ(t_lcreate(&t, 2, "f", 2, 0644), 0);
	memset(data, 'x', sizeof(data));
	ASSERT_EQ(t_write(&t, 2, 0, data, 8192 - P9_IOHDR), 8192 - P9_IOHDR);
	ASSERT_EQ(t_write(&t, 2, 8192 - P9_IOHDR, data, 8192 - P9_IOHDR), 8192 - P9_IOHDR);
	/* count 4 GiB - 1: the answer fits msize */
	n = t_read(&t, 2, 0, 0xffffffffu);
	ASSERT_EQ(n, 8192 - P9_RREAD_HDR);
	/* and the response segments: 100 bytes of room */
	n = t_read_segs(&t, 2, 0, 5000, 1, 100);
	ASSERT_EQ(n, 100 - P9_RREAD_HDR);
	/* readdir count past msize */
	ASSERT_EQ(t_walk(&t, ROOT, 3, NULL, NULL), 0);
	ASSERT_EQ(t_lopen(&t, 3, 0), 0);
	m_begin(&t, P9_TREADDIR);
	p9_wr_u32(&t.w, 3);
	p9_wr_u64(&t.w, 0);
	p9_wr_u32(&t.w, 0xffffffffu);
	ASSERT_EQ(m_rpc(&t, P9_RREADDIR), 0);
	/* a message larger than msize breaks the connection */
	m_begin(&t, P9_TWRITE);
	p9_wr_u32(&t.w, 2);
	p9_wr_u64(&t.w, 0);
	p9_wr_u32(&t.w, 8192);
	p9_wr_bytes(&t.w, data, 8192);
	p9_wr_set_size(&t.w, (uint32_t)t.w.off);
	struct iovec req = { t.req, t.w.off }, resp = { t.resp, 8192 };

	ASSERT_EQ(vq_9p_conn_handle(t.c, &req, 1, &resp, 1), -EPROTO);
	ASSERT_TRUE(vq_9p_conn_is_broken(t.c));
	t_fini(&t);
}

TEST(hostile_framing)
{
	struct t9 t;
	uint8_t m[32];
	struct iovec resp, req;

	t_init(&t, false);
	t_start(&t);
	resp = (struct iovec){ t.resp, 10 };
	m_begin(&t, P9_TCLUNK);
	p9_wr_u32(&t.w, ROOT);
	p9_wr_set_size(&t.w, (uint32_t)t.w.off);
	req = (struct iovec){ t.req, t.w.off };
	ASSERT_EQ(vq_9p_conn_handle(t.c, &req, 1, &resp, 1), -ENOBUFS);
	ASSERT_FALSE(vq_9p_conn_is_broken(t.c));
	resp.iov_len = 4096;
	/* a size field larger than the bytes, and smaller than a header */
	const uint32_t sizes[] = { 12, 6, 0 };

	for (unsigned i = 0; i < 3; i++) {
		struct vq_9p_conn *c;

		ASSERT_EQ(vq_9p_conn_new(t.s, &c), 0);
		memset(m, 0, sizeof(m));
		m[0] = (uint8_t)sizes[i];
		m[4] = P9_TVERSION;
		req = (struct iovec){ m, 11 };
		ASSERT_EQ(vq_9p_conn_handle(c, &req, 1, &resp, 1), -EPROTO);
		ASSERT_TRUE(vq_9p_conn_is_broken(c));
		/* sticky */
		m[0] = 11;
		ASSERT_EQ(vq_9p_conn_handle(c, &req, 1, &resp, 1), -EPROTO);
		vq_9p_conn_free(c);
	}
	/* fewer bytes than a header at all */
	req = (struct iovec){ m, 3 };
	ASSERT_EQ(vq_9p_conn_handle(t.c, &req, 1, &resp, 1), -EPROTO);
	t_fini(&t);
}

TEST(hostile_tags)
{
	struct t9 t;

	t_init(&t, false);
	t_start(&t);
	/* NOTAG is only for Tversion */
	m_begin(&t, P9_TCLUNK);
	p9_wr_u32(&t.w, ROOT);
	t.w.p[5] = 0xff, t.w.p[6] = 0xff;
	ASSERT_EQ(m_rpc(&t, P9_RCLUNK), -EPROTO);
	/* a tag reused after its answer is fine; each answer carries it */
	t.tag = 0x1234;
	ASSERT_EQ(t_walk(&t, ROOT, 2, NULL, NULL), 0);
	ASSERT_EQ(t_walk(&t, ROOT, 3, NULL, NULL), 0);
	ASSERT_EQ(t.resp[5] | t.resp[6] << 8, 0x1234);
	/* flush of a tag never seen, of the tag itself */
	m_begin(&t, P9_TFLUSH);
	p9_wr_u16(&t.w, 0x1234);
	ASSERT_EQ(m_rpc(&t, P9_RFLUSH), 0);
	ASSERT_EQ(vq_9p_conn_nfids(t.c), 3);
	t_fini(&t);
}
