/* SPDX-License-Identifier: MIT */
/*
 * 9P2000.L server: every message the server implements, checked against the
 * host's own view of the export; zero-copy reads into many segments across
 * io_uring's batch boundary, with io_uring and with preadv; a read-only export.
 */
#include "9p_fx.h"

/* ================================================================ tests */

TEST(version_negotiation)
{
	struct t9 t;

	t_init(&t, false);
	/* before Tversion nothing else is served */
	ASSERT_EQ(t_attach(&t, ROOT, ""), -EPROTO);
	m_begin(&t, P9_TVERSION);
	p9_wr_u32(&t.w, 0xffffffffu);
	p9_wr_str(&t.w, P9_VERSION_L);
	ASSERT_EQ(m_rpc(&t, P9_RVERSION), 0);
	ASSERT_EQ(p9_rd_u32(&t.rd), VQ_9P_MAX_MSIZE);
	struct p9_str v = p9_rd_str(&t.rd);

	ASSERT_EQ(v.len, 8);
	ASSERT_TRUE(!memcmp(v.s, P9_VERSION_L, 8));
	ASSERT_EQ(vq_9p_conn_msize(t.c), VQ_9P_MAX_MSIZE);
	/* an unknown dialect: "unknown", and the session is not usable */
	m_begin(&t, P9_TVERSION);
	p9_wr_u32(&t.w, MSIZE);
	p9_wr_str(&t.w, "9P2000.u");
	ASSERT_EQ(m_rpc(&t, P9_RVERSION), 0);
	ASSERT_EQ(p9_rd_u32(&t.rd), MSIZE);
	v = p9_rd_str(&t.rd);
	ASSERT_EQ(v.len, 7);
	ASSERT_TRUE(!memcmp(v.s, "unknown", 7));
	ASSERT_EQ(t_attach(&t, ROOT, ""), -EPROTO);
	/* msize abuse: below the minimum */
	for (uint32_t bad = 0; bad < 4096; bad += 4095) {
		m_begin(&t, P9_TVERSION);
		p9_wr_u32(&t.w, bad);
		p9_wr_str(&t.w, P9_VERSION_L);
		ASSERT_EQ(m_rpc(&t, P9_RVERSION), -EINVAL);
	}
	t_start(&t);
	ASSERT_EQ(vq_9p_conn_msize(t.c), MSIZE);
	ASSERT_EQ(vq_9p_conn_nfids(t.c), 1);
	/* a new Tversion clunks every fid */
	t_version(&t, MSIZE);
	ASSERT_EQ(vq_9p_conn_nfids(t.c), 0);
	t_fini(&t);
}

TEST(attach_aname_uname)
{
	struct t9 t;
	char real[PATH_MAX];

	t_init(&t, false);
	t_version(&t, MSIZE);
	ASSERT_TRUE(realpath(t.exp, real) != NULL);
	ASSERT_EQ(t_attach(&t, 1, ""), 0);
	ASSERT_EQ(t_attach(&t, 2, t.exp), 0);
	ASSERT_EQ(t_attach(&t, 3, real), 0);
	ASSERT_EQ(t_attach(&t, 4, "/"), 0);
	ASSERT_EQ(t_attach(&t, 5, "/etc"), -ENOENT);
	ASSERT_EQ(t_attach(&t, 5, t.out), -ENOENT);
	ASSERT_EQ(t_attach(&t, 1, ""), -EBADF);         /* fid in use */
	ASSERT_EQ(t_attach(&t, P9_NOFID, ""), -EBADF);  /* NOFID is no fid */
	/* an afid: no authentication here */
	m_begin(&t, P9_TATTACH);
	p9_wr_u32(&t.w, 6);
	p9_wr_u32(&t.w, 7);
	p9_wr_str(&t.w, "1000");
	p9_wr_str(&t.w, "");
	p9_wr_u32(&t.w, P9_NONUNAME);
	ASSERT_EQ(m_rpc(&t, P9_RATTACH), -EBADF);
	/* a numeric uname without n_uname */
	t.w.p[11] = 0xff, t.w.p[12] = 0xff, t.w.p[13] = 0xff, t.w.p[14] = 0xff;
	ASSERT_EQ(m_rpc(&t, P9_RATTACH), 0);
	ASSERT_EQ(vq_9p_conn_nfids(t.c), 5);
	t_fini(&t);
}

TEST(walk_clone_partial)
{
	struct t9 t;
	struct p9_qid q;
	struct stat st;

	t_init(&t, false);
	hostdir(&t, "export/a");
	hostf(&t, "export/a/f", "x");
	t_start(&t);
	ASSERT_EQ(t_walk(&t, ROOT, 2, "a/f", &q), 2);
	ASSERT_EQ(stat(hp(&t, "export/a/f"), &st), 0);
	ASSERT_EQ(q.type, P9_QTFILE);
	ASSERT_EQ_U64(q.path, st.st_ino);
	ASSERT_EQ(t_walk(&t, ROOT, 3, "a", &q), 1);
	ASSERT_EQ(q.type, P9_QTDIR);
	/* partial: a exists, nope does not; newfid 4 is not created */
	ASSERT_EQ(t_walk(&t, ROOT, 4, "a/nope", NULL), 1);
	ASSERT_EQ(t_clunk(&t, 4), -EBADF);
	/* the first name fails: Rlerror */
	ASSERT_EQ(t_walk(&t, ROOT, 4, "nope", NULL), -ENOENT);
	/* through a file */
	ASSERT_EQ(t_walk(&t, 2, 4, "x", NULL), -ENOTDIR);
	/* clone, and walk in place */
	ASSERT_EQ(t_walk(&t, 3, 5, NULL, NULL), 0);
	ASSERT_EQ(t_walk(&t, 5, 5, "f", &q), 1);
	ASSERT_EQ_U64(q.path, st.st_ino);
	/* newfid in use, unknown fid */
	ASSERT_EQ(t_walk(&t, ROOT, 2, "a", NULL), -EBADF);
	ASSERT_EQ(t_walk(&t, 99, 100, "a", NULL), -EBADF);
	/* 17 names */
	ASSERT_EQ(t_walk(&t, ROOT, 6, "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a", NULL), -EINVAL);
	ASSERT_EQ(vq_9p_conn_nfids(t.c), 4);
	t_fini(&t);
}

TEST(create_write_read)
{
	struct t9 t;
	char buf[64];
	static uint8_t big[300000];

	t_init(&t, false);
	t_start(&t);
	ASSERT_EQ(t_walk(&t, ROOT, 2, NULL, NULL), 0);
	ASSERT_EQ(t_lcreate(&t, 2, "f", 2 /* RDWR */, 0640), 0);
	ASSERT_EQ(t_write(&t, 2, 0, "hello, 9p", 9), 9);
	ASSERT_EQ(t_write(&t, 2, 5, "!", 1), 1);
	host_read(hp(&t, "export/f"), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "hello! 9p");
	struct stat st;

	ASSERT_EQ(stat(hp(&t, "export/f"), &st), 0);
	ASSERT_EQ(st.st_mode & 0777, 0640);
	/* lcreate of an existing name with EXCL */
	ASSERT_EQ(t_walk(&t, ROOT, 3, NULL, NULL), 0);
	ASSERT_EQ(t_lcreate(&t, 3, "f", 2 | P9_DOTL_EXCL, 0640), -EEXIST);
	/* read it back through a fresh fid */
	ASSERT_EQ(t_walk(&t, ROOT, 4, "f", NULL), 1);
	ASSERT_EQ(t_lopen(&t, 4, 0), 0);
	ASSERT_EQ(t_lopen(&t, 4, 0), -EBADF); /* already open */
	ASSERT_EQ(t_read(&t, 4, 0, 100), 9);
	ASSERT_TRUE(!memcmp(t.resp + P9_RREAD_HDR, "hello! 9p", 9));
	ASSERT_EQ(t_read(&t, 4, 7, 2), 2);
	ASSERT_TRUE(!memcmp(t.resp + P9_RREAD_HDR, "9p", 2));
	ASSERT_EQ(t_read(&t, 4, 100, 10), 0);
	/* writing a read-only fid, reading a directory fid */
	ASSERT_EQ(t_write(&t, 4, 0, "x", 1), -EBADF);
	/* a large write and a read scattered over 1000-byte segments */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + (i >> 10));
	ASSERT_EQ(t_write(&t, 2, 0, big, sizeof(big)), (int)sizeof(big));
	ASSERT_EQ(t_read_segs(&t, 4, 0, sizeof(big), 1000, 1000), (int)sizeof(big));
	ASSERT_MEM_EQ(t.resp + P9_RREAD_HDR, big, sizeof(big));
	t_fini(&t);
}

/* Zero copy across io_uring's 1024-iovec batches: 16 MiB in 4 KiB segments
 * (4097 of them, the first holding the header), with io_uring and preadv.
 * With io_uring a read this large is copied by two threads (half on the
 * ring, half by preadv), so the ends of file fall in each half. */
static void big_read(bool no_uring)
{
	struct t9 t;
	const uint32_t len = 16u << 20;
	uint32_t v0;
	int fd;

	t_init(&t, false);
	vq_9p_conn_free(t.c);
	vq_9p_free(t.s);
	t_open_server(&t, false, 0, no_uring);
	free(t.resp);
	t.resp_cap = len + 4096;
	t.resp = malloc(t.resp_cap);
	ASSERT_TRUE(t.resp != NULL);
	fd = open(hp(&t, "export/big"), O_CREAT | O_RDWR, 0644);
	ASSERT_GE(fd, 0);
	for (uint32_t off = 0; off < len; off += 4096) {
		uint32_t v[1024];

		for (unsigned i = 0; i < 1024; i++)
			v[i] = off + i * 4;
		ASSERT_EQ(pwrite(fd, v, sizeof(v), off), (ssize_t)sizeof(v));
	}
	close(fd);
	t_version(&t, len + 4096);
	ASSERT_EQ(t_attach(&t, ROOT, ""), 0);
	ASSERT_EQ(t_walk(&t, ROOT, 2, "big", NULL), 1);
	ASSERT_EQ(t_lopen(&t, 2, 0), 0);
	ASSERT_EQ(t_read_segs(&t, 2, 0, len, 4097, 4096), (int)len);
	for (uint32_t i = 0; i < len / 4; i++) {
		uint32_t v;

		memcpy(&v, t.resp + P9_RREAD_HDR + i * 4, 4);
		if (v != i * 4)
			FAIL("word %u: %u", i, v);
	}
	/* from an odd offset to the end of the file: a short read, its end
	 * in the second half of a read that two threads copy at once */
	ASSERT_EQ(t_read_segs(&t, 2, 4, len, 4097, 4096), (int)len - 4);
	/* the end of the file in the first half: only what is there */
	ASSERT_EQ(t_read_segs(&t, 2, len - (3u << 20), len, 4097, 4096), 3 << 20);
	memcpy(&v0, t.resp + P9_RREAD_HDR, 4);
	ASSERT_EQ(v0, len - (3u << 20));
	/* one segment for the whole read: cut in two at a page boundary */
	memset(t.resp, 0, t.resp_cap);
	ASSERT_EQ(t_read_segs(&t, 2, 8, len, 1, len + 4096), (int)len - 8);
	for (uint32_t i = 0; i < len / 4 - 2; i++) {
		memcpy(&v0, t.resp + P9_RREAD_HDR + i * 4, 4);
		if (v0 != i * 4 + 8)
			FAIL("one segment, word %u: %u", i, v0);
	}
	t_fini(&t);
}

TEST(read_16m_uring)
{
	big_read(false);
}

TEST(read_16m_preadv)
{
	big_read(true);
}

TEST(readdir_all_entries)
{
	struct t9 t;
	bool seen[300] = { 0 };
	uint64_t off = 0;
	unsigned calls = 0, total = 0;

	t_init(&t, false);
	for (unsigned i = 0; i < 300; i++) {
		char n[32];

		snprintf(n, sizeof(n), "export/file-%03u", i);
		hostf(&t, n, "");
	}
	t_start(&t);
	ASSERT_EQ(t_walk(&t, ROOT, 2, NULL, NULL), 0);
	ASSERT_EQ(t_lopen(&t, 2, 0), 0);
	ASSERT_EQ(t_read(&t, 2, 0, 10), -EBADF); /* a directory is not read */
	for (;;) {
		m_begin(&t, P9_TREADDIR);
		p9_wr_u32(&t.w, 2);
		p9_wr_u64(&t.w, off);
		p9_wr_u32(&t.w, 700); /* a few entries per call */
		ASSERT_EQ(m_rpc(&t, P9_RREADDIR), 0);
		uint32_t n = p9_rd_u32(&t.rd);

		ASSERT_LE(n, 700);
		calls++;
		if (!n)
			break;
		struct p9_rd e = { .p = p9_rd_take(&t.rd, n), .len = n };

		m_end(&t);
		while (!p9_rd_is_done(&e)) {
			(void)p9_rd_qid(&e);
			off = p9_rd_u64(&e);
			(void)p9_rd_u8(&e);
			struct p9_str s = p9_rd_str(&e);
			unsigned k;

			ASSERT_FALSE(e.bad);
			total++;
			if (s.len == 8 && sscanf(s.s, "file-%03u", &k) == 1) {
				ASSERT_LT(k, 300);
				ASSERT_FALSE(seen[k]);
				seen[k] = true;
			}
		}
	}
	ASSERT_EQ(total, 302); /* with . and .. */
	ASSERT_GT(calls, 10);
	for (unsigned i = 0; i < 300; i++)
		ASSERT_TRUE(seen[i]);
	t_fini(&t);
}

TEST(getattr_setattr_statfs)
{
	struct t9 t;
	uint32_t mode;
	uint64_t size, mtime;
	struct stat st;

	t_init(&t, false);
	hostf(&t, "export/f", "0123456789");
	t_start(&t);
	ASSERT_EQ(t_walk(&t, ROOT, 2, "f", NULL), 1);
	t_getattr(&t, 2, &mode, &size, &mtime);
	ASSERT_TRUE(S_ISREG(mode));
	ASSERT_EQ_U64(size, 10);
	ASSERT_EQ(t_setattr(&t, 2, P9_SETATTR_MODE | P9_SETATTR_SIZE | P9_SETATTR_MTIME |
					   P9_SETATTR_MTIME_SET, 0600, 4, 1000000000, 0), 0);
	ASSERT_EQ(stat(hp(&t, "export/f"), &st), 0);
	ASSERT_EQ(st.st_mode & 0777, 0600);
	ASSERT_EQ(st.st_size, 4);
	ASSERT_EQ(st.st_mtime, 1000000000);
	t_getattr(&t, 2, &mode, &size, &mtime);
	ASSERT_EQ(mode & 0777, 0600);
	ASSERT_EQ_U64(size, 4);
	ASSERT_EQ_U64(mtime, 1000000000);
	/* nanoseconds out of range */
	ASSERT_EQ(t_setattr(&t, 2, P9_SETATTR_MTIME | P9_SETATTR_MTIME_SET, 0, 0, 5,
			    2000000000), -EINVAL);
	ASSERT_EQ(t_setattr(&t, 2, P9_SETATTR_SIZE, 0, 1ull << 63, 0, 0), -EINVAL);
	ASSERT_EQ(t_setattr(&t, 77, P9_SETATTR_SIZE, 0, 1, 0, 0), -EBADF);
	ASSERT_EQ(t_simple(&t, P9_TSTATFS, 2), 0);
	(void)p9_rd_u32(&t.rd);
	ASSERT_GT(p9_rd_u32(&t.rd), 0); /* bsize */
	for (unsigned i = 0; i < 6; i++)
		(void)p9_rd_u64(&t.rd);
	ASSERT_GE(p9_rd_u32(&t.rd), 255);
	m_end(&t);
	ASSERT_EQ(t_simple(&t, P9_TSTATFS, 77), -EBADF);
	t_fini(&t);
}

TEST(namespace_ops)
{
	struct t9 t;
	struct stat st;
	char buf[64];

	t_init(&t, false);
	hostf(&t, "export/f", "data");
	t_start(&t);
	ASSERT_EQ(t_dirop(&t, P9_TMKDIR, ROOT, "d", 0750, NULL), 0);
	ASSERT_EQ(stat(hp(&t, "export/d"), &st), 0);
	ASSERT_TRUE(S_ISDIR(st.st_mode));
	ASSERT_EQ(st.st_mode & 0777, 0750);
	ASSERT_EQ(t_dirop(&t, P9_TMKDIR, ROOT, "d", 0750, NULL), -EEXIST);
	ASSERT_EQ(t_dirop(&t, P9_TMKNOD, ROOT, "fifo", S_IFIFO | 0600, NULL), 0);
	ASSERT_EQ(lstat(hp(&t, "export/fifo"), &st), 0);
	ASSERT_TRUE(S_ISFIFO(st.st_mode));
	/* no device nodes; a FIFO is never opened by the server */
	ASSERT_EQ(t_dirop(&t, P9_TMKNOD, ROOT, "mem", S_IFCHR | 0600, NULL), -EPERM);
	ASSERT_EQ(t_walk(&t, ROOT, 9, "fifo", NULL), 1);
	ASSERT_EQ(t_lopen(&t, 9, 0), -EPERM);
	ASSERT_EQ(t_dirop(&t, P9_TSYMLINK, ROOT, "ln", 0, "d/../f"), 0);
	ASSERT_EQ(readlink(hp(&t, "export/ln"), buf, sizeof(buf)), 6);
	ASSERT_EQ(t_walk(&t, ROOT, 2, "ln", NULL), 1);
	ASSERT_EQ(t_simple(&t, P9_TREADLINK, 2), 0);
	struct p9_str s = p9_rd_str(&t.rd);

	m_end(&t);
	ASSERT_EQ(s.len, 6);
	ASSERT_TRUE(!memcmp(s.s, "d/../f", 6));
	/* link f into d */
	ASSERT_EQ(t_walk(&t, ROOT, 3, "f", NULL), 1);
	ASSERT_EQ(t_walk(&t, ROOT, 4, "d", NULL), 1);
	m_begin(&t, P9_TLINK);
	p9_wr_u32(&t.w, 4);
	p9_wr_u32(&t.w, 3);
	p9_wr_str(&t.w, "hard");
	ASSERT_EQ(m_rpc(&t, P9_RLINK), 0);
	ASSERT_EQ(stat(hp(&t, "export/d/hard"), &st), 0);
	ASSERT_EQ(st.st_nlink, 2);
	/* renameat; the fid of d/hard follows a rename of d */
	ASSERT_EQ(t_walk(&t, ROOT, 5, "d/hard", NULL), 2);
	ASSERT_EQ(t_renameat(&t, ROOT, "d", ROOT, "e"), 0);
	ASSERT_EQ(access(hp(&t, "export/e/hard"), F_OK), 0);
	ASSERT_EQ(t_lopen(&t, 5, 0), 0);
	ASSERT_EQ(t_read(&t, 5, 0, 10), 4);
	/* legacy Trename: f -> e/g */
	m_begin(&t, P9_TRENAME);
	p9_wr_u32(&t.w, 3);
	p9_wr_u32(&t.w, 4);
	p9_wr_str(&t.w, "g");
	ASSERT_EQ(m_rpc(&t, P9_RRENAME), 0);
	ASSERT_EQ(access(hp(&t, "export/e/g"), F_OK), 0);
	ASSERT_EQ(access(hp(&t, "export/f"), F_OK), -1);
	/* unlinkat: a file, a directory (flag), not-empty */
	ASSERT_EQ(t_unlinkat(&t, 4, "hard", 0), 0);
	ASSERT_EQ(t_unlinkat(&t, ROOT, "e", P9_AT_REMOVEDIR), -ENOTEMPTY);
	ASSERT_EQ(t_unlinkat(&t, ROOT, "e", 0x1), -EINVAL);
	ASSERT_EQ(t_unlinkat(&t, ROOT, "nope", 0), -ENOENT);
	/* the open fid still reads after its file is gone */
	ASSERT_EQ(t_read(&t, 5, 0, 10), 4);
	/* Tremove: the file goes, and the fid with it */
	ASSERT_EQ(t_simple(&t, P9_TREMOVE, 3), 0);
	ASSERT_EQ(access(hp(&t, "export/e/g"), F_OK), -1);
	ASSERT_EQ(t_clunk(&t, 3), -EBADF);
	ASSERT_EQ(t_simple(&t, P9_TREMOVE, 4), 0); /* e, now empty */
	ASSERT_EQ(access(hp(&t, "export/e"), F_OK), -1);
	ASSERT_EQ(t_simple(&t, P9_TREMOVE, ROOT), -EBUSY);
	ASSERT_EQ(t_clunk(&t, ROOT), -EBADF); /* clunked even so */
	t_fini(&t);
}

static int t_lock(struct t9 *t, uint8_t type, uint32_t fid, uint8_t lt, uint64_t start,
		  uint64_t len)
{
	m_begin(t, type);
	p9_wr_u32(&t->w, fid);
	p9_wr_u8(&t->w, lt);
	if (type == P9_TLOCK)
		p9_wr_u32(&t->w, 0);
	p9_wr_u64(&t->w, start);
	p9_wr_u64(&t->w, len);
	p9_wr_u32(&t->w, 42);
	p9_wr_str(&t->w, "client");
	int err = m_rpc(t, (uint8_t)(type + 1));

	if (err)
		return err;
	uint8_t r = p9_rd_u8(&t->rd);

	if (type == P9_TLOCK)
		m_end(t);
	return r;
}

TEST(fsync_lock_getlock)
{
	struct t9 t;
	struct vq_9p_conn *c1, *c2;

	t_init(&t, false);
	hostf(&t, "export/f", "data");
	c1 = t.c;
	t_start(&t);
	ASSERT_EQ(t_walk(&t, ROOT, 2, "f", NULL), 1);
	ASSERT_EQ(t_lopen(&t, 2, 2), 0);
	m_begin(&t, P9_TFSYNC);
	p9_wr_u32(&t.w, 2);
	p9_wr_u32(&t.w, 1);
	ASSERT_EQ(m_rpc(&t, P9_RFSYNC), 0);
	ASSERT_EQ(t_lock(&t, P9_TLOCK, 2, P9_LOCK_TYPE_WRLCK, 0, 0), P9_LOCK_SUCCESS);
	/* a second connection sees the lock */
	ASSERT_EQ(vq_9p_conn_new(t.s, &c2), 0);
	t.c = c2;
	t_start(&t);
	ASSERT_EQ(t_walk(&t, ROOT, 2, "f", NULL), 1);
	ASSERT_EQ(t_lopen(&t, 2, 2), 0);
	ASSERT_EQ(t_lock(&t, P9_TLOCK, 2, P9_LOCK_TYPE_WRLCK, 0, 10), P9_LOCK_BLOCKED);
	ASSERT_EQ(t_lock(&t, P9_TGETLOCK, 2, P9_LOCK_TYPE_WRLCK, 0, 10), P9_LOCK_TYPE_WRLCK);
	ASSERT_EQ(t_lock(&t, P9_TLOCK, 2, 7, 0, 10), -EINVAL);
	t.c = c1;
	ASSERT_EQ(t_lock(&t, P9_TLOCK, 2, P9_LOCK_TYPE_UNLCK, 0, 0), P9_LOCK_SUCCESS);
	t.c = c2;
	ASSERT_EQ(t_lock(&t, P9_TGETLOCK, 2, P9_LOCK_TYPE_WRLCK, 0, 10), P9_LOCK_TYPE_UNLCK);
	ASSERT_EQ(t_lock(&t, P9_TLOCK, 2, P9_LOCK_TYPE_WRLCK, 0, 10), P9_LOCK_SUCCESS);
	/* not open: EBADF */
	ASSERT_EQ(t_lock(&t, P9_TLOCK, ROOT, P9_LOCK_TYPE_WRLCK, 0, 10), -EBADF);
	vq_9p_conn_free(c2);
	t.c = c1;
	t_fini(&t);
}

TEST(flush_xattr_unsupported)
{
	struct t9 t;

	t_init(&t, false);
	t_start(&t);
	m_begin(&t, P9_TFLUSH);
	p9_wr_u16(&t.w, 5);
	ASSERT_EQ(m_rpc(&t, P9_RFLUSH), 0);
	m_end(&t);
	m_begin(&t, P9_TXATTRWALK);
	p9_wr_u32(&t.w, ROOT);
	p9_wr_u32(&t.w, 2);
	p9_wr_str(&t.w, "user.x");
	ASSERT_EQ(m_rpc(&t, 0), -ENODATA);
	m_begin(&t, P9_TXATTRWALK);
	p9_wr_u32(&t.w, ROOT);
	p9_wr_u32(&t.w, 2);
	p9_wr_str(&t.w, "");
	ASSERT_EQ(m_rpc(&t, 0), -EOPNOTSUPP);
	m_begin(&t, P9_TXATTRCREATE);
	p9_wr_u32(&t.w, ROOT);
	p9_wr_str(&t.w, "user.x");
	p9_wr_u64(&t.w, 3);
	p9_wr_u32(&t.w, 0);
	ASSERT_EQ(m_rpc(&t, 0), -EOPNOTSUPP);
	ASSERT_EQ(vq_9p_conn_nfids(t.c), 1);
	/* legacy 9P2000 Topen (112), an R-message, an unknown type, Tauth */
	const uint8_t types[] = { 112, P9_RREAD, 200, 0, P9_TAUTH };

	for (unsigned i = 0; i < sizeof(types); i++) {
		m_begin(&t, types[i]);
		p9_wr_u32(&t.w, ROOT);
		ASSERT_EQ(m_rpc(&t, 0), -EOPNOTSUPP);
	}
	t_fini(&t);
}

TEST(readonly_export)
{
	struct t9 t;

	t_init(&t, true);
	hostf(&t, "export/f", "ro");
	t_start(&t);
	ASSERT_EQ(t_walk(&t, ROOT, 2, "f", NULL), 1);
	ASSERT_EQ(t_lopen(&t, 2, 1), -EROFS);
	ASSERT_EQ(t_lopen(&t, 2, P9_DOTL_TRUNC), -EROFS);
	ASSERT_EQ(t_lopen(&t, 2, 0), 0);
	ASSERT_EQ(t_read(&t, 2, 0, 10), 2);
	ASSERT_EQ(t_write(&t, 2, 0, "x", 1), -EROFS);
	ASSERT_EQ(t_lcreate(&t, ROOT, "g", 2, 0644), -EROFS);
	ASSERT_EQ(t_dirop(&t, P9_TMKDIR, ROOT, "d", 0755, NULL), -EROFS);
	ASSERT_EQ(t_unlinkat(&t, ROOT, "f", 0), -EROFS);
	ASSERT_EQ(t_renameat(&t, ROOT, "f", ROOT, "g"), -EROFS);
	ASSERT_EQ(t_walk(&t, ROOT, 3, "f", NULL), 1);
	ASSERT_EQ(t_simple(&t, P9_TREMOVE, 3), -EROFS);
	ASSERT_EQ(access(hp(&t, "export/f"), F_OK), 0);
	t_fini(&t);
}
