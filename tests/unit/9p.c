/* SPDX-License-Identifier: MIT */
/*
 * 9P2000.L server, in-process: every message the server implements, checked
 * against the host's own view of the export (stat, pread, readlink); escape
 * attempts (.., symlinks, a directory renamed out, a racing symlink swap);
 * hostile messages (bad fids, overlong strings, counts past msize, broken
 * framing, msize abuse, tags); zero-copy reads into many segments across
 * io_uring's batch boundary, with io_uring and with preadv.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <virtq/9p.h>

#include "devices/9p/p9_wire.h"
#include "../harness/test.h"

#define MSIZE (1u << 20)
#define ROOT 1u

struct t9 {
	struct vq_9p *s;
	struct vq_9p_conn *c;
	char dir[64];      /* scratch: dir/export is served, dir/outside is not */
	char exp[96];
	char out[96];
	uint8_t *req, *resp;
	size_t req_cap, resp_cap;
	struct p9_wr w;    /* the request being built */
	struct p9_rd rd;   /* the last response's body */
	uint16_t tag;
	int loglines;
};

static void count_log(void *opaque, const char *line)
{
	struct t9 *t = opaque;

	t->loglines++;
	fprintf(stderr, "  log: %s\n", line);
}

static void hostf(struct t9 *t, const char *rel, const char *content)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", t->dir, rel);
	f = fopen(p, "w");
	ASSERT_TRUE(f != NULL);
	fputs(content, f);
	fclose(f);
}

static void hostdir(struct t9 *t, const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", t->dir, rel);
	ASSERT_EQ(mkdir(p, 0755), 0);
}

static const char *hp(struct t9 *t, const char *rel)
{
	static char p[4][256];
	static unsigned i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", t->dir, rel);
	return p[i];
}

static void t_open_server(struct t9 *t, bool readonly, uint32_t max_fids, bool no_uring)
{
	struct vq_9p_params p = { .export_dir = t->exp, .tag = "t9", .readonly = readonly,
				  .max_fids = max_fids, .no_uring = no_uring,
				  .log = count_log, .log_opaque = t };

	ASSERT_EQ(vq_9p_new(&p, &t->s), 0);
	ASSERT_EQ(vq_9p_conn_new(t->s, &t->c), 0);
}

static void t_init(struct t9 *t, bool readonly)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/vq9p.XXXXXX");
	ASSERT_TRUE(mkdtemp(t->dir) != NULL);
	snprintf(t->exp, sizeof(t->exp), "%s/export", t->dir);
	snprintf(t->out, sizeof(t->out), "%s/outside", t->dir);
	ASSERT_EQ(mkdir(t->exp, 0755), 0);
	ASSERT_EQ(mkdir(t->out, 0755), 0);
	hostf(t, "outside/secret", "OUTSIDE");
	t->req_cap = 2 * MSIZE;
	t->resp_cap = 2 * MSIZE;
	t->req = malloc(t->req_cap);
	t->resp = malloc(t->resp_cap);
	ASSERT_TRUE(t->req && t->resp);
	t->tag = 1;
	t_open_server(t, readonly, 0, false);
}

static void t_fini(struct t9 *t)
{
	char cmd[128];

	vq_9p_conn_free(t->c);
	vq_9p_free(t->s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	ASSERT_EQ(system(cmd), 0);
	free(t->req);
	free(t->resp);
}

/* ---- building requests and reading responses */

static void m_begin(struct t9 *t, uint8_t type)
{
	t->w = (struct p9_wr){ .p = t->req, .cap = t->req_cap };
	p9_wr_hdr(&t->w, type, type == P9_TVERSION ? P9_NOTAG : t->tag);
}

/* Send the built request through segs response segments of seglen bytes;
 * returns the response type, body in t->rd. */
static int m_send_segs(struct t9 *t, unsigned nseg, size_t seglen)
{
	struct iovec req = { t->req, t->w.off };
	struct iovec resp[8192];
	int n;

	ASSERT_FALSE(t->w.bad);
	ASSERT_LE(nseg, 8192);
	ASSERT_LE(nseg * seglen, t->resp_cap);
	p9_wr_set_size(&t->w, (uint32_t)t->w.off);
	for (unsigned i = 0; i < nseg; i++)
		resp[i] = (struct iovec){ t->resp + i * seglen, seglen };
	n = vq_9p_conn_handle(t->c, &req, 1, resp, nseg);
	ASSERT_GE(n, (int)P9_HDR);
	ASSERT_LE(n, (int)vq_9p_conn_msize(t->c));
	/* flatten the response to read it */
	t->rd = (struct p9_rd){ .p = t->resp, .len = (size_t)n };
	ASSERT_EQ(p9_rd_u32(&t->rd), n);
	uint8_t type = p9_rd_u8(&t->rd);
	uint16_t tag = p9_rd_u16(&t->rd);

	ASSERT_EQ(tag, t->w.p[5] | t->w.p[6] << 8);
	return type;
}

static int m_send(struct t9 *t)
{
	return m_send_segs(t, 1, t->resp_cap);
}

/* Send; 0 when the response is `ok`, -ecode for Rlerror. */
static int m_rpc(struct t9 *t, uint8_t ok)
{
	int type = m_send(t);

	if (type == P9_RLERROR) {
		int e = (int)p9_rd_u32(&t->rd);

		ASSERT_TRUE(p9_rd_is_done(&t->rd));
		ASSERT_GT(e, 0);
		return -e;
	}
	ASSERT_EQ(type, ok);
	return 0;
}

static void m_end(struct t9 *t)
{
	ASSERT_TRUE(p9_rd_is_done(&t->rd));
}

static void t_version(struct t9 *t, uint32_t msize)
{
	m_begin(t, P9_TVERSION);
	p9_wr_u32(&t->w, msize);
	p9_wr_str(&t->w, P9_VERSION_L);
	ASSERT_EQ(m_rpc(t, P9_RVERSION), 0);
}

static int t_attach(struct t9 *t, uint32_t fid, const char *aname)
{
	m_begin(t, P9_TATTACH);
	p9_wr_u32(&t->w, fid);
	p9_wr_u32(&t->w, P9_NOFID);
	p9_wr_str(&t->w, "root");
	p9_wr_str(&t->w, aname);
	p9_wr_u32(&t->w, 0);
	return m_rpc(t, P9_RATTACH);
}

static void t_start(struct t9 *t)
{
	t_version(t, MSIZE);
	ASSERT_EQ(t_attach(t, ROOT, ""), 0);
}

/* Walk fid -> newfid through the '/'-separated names (NULL = clone).
 * Returns the number of qids or -errno; *last gets the last qid. */
static int t_walk(struct t9 *t, uint32_t fid, uint32_t newfid, const char *names,
		  struct p9_qid *last)
{
	char buf[512], *save = NULL;
	const char *parts[32];
	unsigned n = 0;

	if (names) {
		snprintf(buf, sizeof(buf), "%s", names);
		for (char *p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save))
			parts[n++] = p;
	}
	m_begin(t, P9_TWALK);
	p9_wr_u32(&t->w, fid);
	p9_wr_u32(&t->w, newfid);
	p9_wr_u16(&t->w, (uint16_t)n);
	for (unsigned i = 0; i < n; i++)
		p9_wr_str(&t->w, parts[i]);
	int err = m_rpc(t, P9_RWALK);

	if (err)
		return err;
	uint16_t nq = p9_rd_u16(&t->rd);

	for (unsigned i = 0; i < nq; i++) {
		struct p9_qid q = p9_rd_qid(&t->rd);

		if (last)
			*last = q;
	}
	m_end(t);
	return nq;
}

static int t_lopen(struct t9 *t, uint32_t fid, uint32_t flags)
{
	m_begin(t, P9_TLOPEN);
	p9_wr_u32(&t->w, fid);
	p9_wr_u32(&t->w, flags);
	int err = m_rpc(t, P9_RLOPEN);

	if (!err) {
		(void)p9_rd_qid(&t->rd);
		(void)p9_rd_u32(&t->rd);
		m_end(t);
	}
	return err;
}

static int t_lcreate(struct t9 *t, uint32_t fid, const char *name, uint32_t flags,
		     uint32_t mode)
{
	m_begin(t, P9_TLCREATE);
	p9_wr_u32(&t->w, fid);
	p9_wr_str(&t->w, name);
	p9_wr_u32(&t->w, flags);
	p9_wr_u32(&t->w, mode);
	p9_wr_u32(&t->w, getgid());
	return m_rpc(t, P9_RLCREATE);
}

static int t_write(struct t9 *t, uint32_t fid, uint64_t off, const void *d, uint32_t n)
{
	m_begin(t, P9_TWRITE);
	p9_wr_u32(&t->w, fid);
	p9_wr_u64(&t->w, off);
	p9_wr_u32(&t->w, n);
	p9_wr_bytes(&t->w, d, n);
	int err = m_rpc(t, P9_RWRITE);

	if (err)
		return err;
	uint32_t got = p9_rd_u32(&t->rd);

	m_end(t);
	return (int)got;
}

/* Read: returns the count (data at t->resp + 11) or -errno. */
static int t_read_segs(struct t9 *t, uint32_t fid, uint64_t off, uint32_t count,
		       unsigned nseg, size_t seglen)
{
	m_begin(t, P9_TREAD);
	p9_wr_u32(&t->w, fid);
	p9_wr_u64(&t->w, off);
	p9_wr_u32(&t->w, count);
	int type = m_send_segs(t, nseg, seglen);

	if (type == P9_RLERROR)
		return -(int)p9_rd_u32(&t->rd);
	ASSERT_EQ(type, P9_RREAD);
	uint32_t n = p9_rd_u32(&t->rd);

	ASSERT_TRUE(p9_rd_take(&t->rd, n) != NULL);
	m_end(t);
	return (int)n;
}

static int t_read(struct t9 *t, uint32_t fid, uint64_t off, uint32_t count)
{
	return t_read_segs(t, fid, off, count, 1, t->resp_cap);
}

static int t_simple(struct t9 *t, uint8_t type, uint32_t fid)
{
	m_begin(t, type);
	p9_wr_u32(&t->w, fid);
	return m_rpc(t, (uint8_t)(type + 1));
}

static int t_clunk(struct t9 *t, uint32_t fid)
{
	return t_simple(t, P9_TCLUNK, fid);
}

static void host_read(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY);

	ASSERT_GE(fd, 0);
	ssize_t r = read(fd, buf, n - 1);

	ASSERT_GE(r, 0);
	buf[r] = 0;
	close(fd);
}

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
 * (4097 of them, the first holding the header), with io_uring and preadv. */
static void big_read(bool no_uring)
{
	struct t9 t;
	const uint32_t len = 16u << 20;
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
	/* from an odd offset to the end of the file: a short read */
	ASSERT_EQ(t_read_segs(&t, 2, 4, len, 4097, 4096), (int)len - 4);
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

static void t_getattr(struct t9 *t, uint32_t fid, uint32_t *mode, uint64_t *size,
		      uint64_t *mtime)
{
	m_begin(t, P9_TGETATTR);
	p9_wr_u32(&t->w, fid);
	p9_wr_u64(&t->w, 0x3fff);
	ASSERT_EQ(m_rpc(t, P9_RGETATTR), 0);
	ASSERT_EQ_U64(p9_rd_u64(&t->rd), P9_GETATTR_BASIC);
	(void)p9_rd_qid(&t->rd);
	*mode = p9_rd_u32(&t->rd);
	for (unsigned i = 0; i < 2; i++)
		(void)p9_rd_u32(&t->rd);
	for (unsigned i = 0; i < 2; i++)
		(void)p9_rd_u64(&t->rd);
	*size = p9_rd_u64(&t->rd);
	for (unsigned i = 0; i < 4; i++)
		(void)p9_rd_u64(&t->rd);
	*mtime = p9_rd_u64(&t->rd);
	for (unsigned i = 0; i < 7; i++)
		(void)p9_rd_u64(&t->rd);
	m_end(t);
}

static int t_setattr(struct t9 *t, uint32_t fid, uint32_t valid, uint32_t mode,
		     uint64_t size, uint64_t mtime, uint64_t mtime_nsec)
{
	m_begin(t, P9_TSETATTR);
	p9_wr_u32(&t->w, fid);
	p9_wr_u32(&t->w, valid);
	p9_wr_u32(&t->w, mode);
	p9_wr_u32(&t->w, 0);
	p9_wr_u32(&t->w, 0);
	p9_wr_u64(&t->w, size);
	p9_wr_u64(&t->w, 0);
	p9_wr_u64(&t->w, 0);
	p9_wr_u64(&t->w, mtime);
	p9_wr_u64(&t->w, mtime_nsec);
	return m_rpc(t, P9_RSETATTR);
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

static int t_dirop(struct t9 *t, uint8_t type, uint32_t dfid, const char *name,
		   uint32_t mode, const char *target)
{
	m_begin(t, type);
	p9_wr_u32(&t->w, dfid);
	p9_wr_str(&t->w, name);
	if (type == P9_TSYMLINK) {
		p9_wr_str(&t->w, target);
	} else {
		p9_wr_u32(&t->w, mode);
		if (type == P9_TMKNOD) {
			p9_wr_u32(&t->w, 1);
			p9_wr_u32(&t->w, 3);
		}
	}
	p9_wr_u32(&t->w, getgid());
	return m_rpc(t, (uint8_t)(type + 1));
}

static int t_unlinkat(struct t9 *t, uint32_t dfid, const char *name, uint32_t flags)
{
	m_begin(t, P9_TUNLINKAT);
	p9_wr_u32(&t->w, dfid);
	p9_wr_str(&t->w, name);
	p9_wr_u32(&t->w, flags);
	return m_rpc(t, P9_RUNLINKAT);
}

static int t_renameat(struct t9 *t, uint32_t ofid, const char *on, uint32_t nfid,
		      const char *nn)
{
	m_begin(t, P9_TRENAMEAT);
	p9_wr_u32(&t->w, ofid);
	p9_wr_str(&t->w, on);
	p9_wr_u32(&t->w, nfid);
	p9_wr_str(&t->w, nn);
	return m_rpc(t, P9_RRENAMEAT);
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

/* ---- confinement */

static uint64_t root_ino(struct t9 *t)
{
	struct stat st;

	ASSERT_EQ(stat(t->exp, &st), 0);
	return st.st_ino;
}

TEST(escape_dotdot)
{
	struct t9 t;
	struct p9_qid q;

	t_init(&t, false);
	hostdir(&t, "export/a");
	t_start(&t);
	ASSERT_EQ(t_walk(&t, ROOT, 2, "..", &q), 1);
	ASSERT_EQ_U64(q.path, root_ino(&t));
	ASSERT_EQ(t_walk(&t, ROOT, 3, "../../..", &q), 3);
	ASSERT_EQ_U64(q.path, root_ino(&t));
	ASSERT_EQ(t_walk(&t, ROOT, 4, "a/../../..", &q), 4);
	ASSERT_EQ_U64(q.path, root_ino(&t));
	/* from the root's parent-that-is-the-root, outside is not reachable */
	ASSERT_EQ(t_walk(&t, ROOT, 5, "../outside/secret", NULL), 1);
	ASSERT_EQ(t_clunk(&t, 5), -EBADF);
	/* a name is one component */
	m_begin(&t, P9_TWALK);
	p9_wr_u32(&t.w, ROOT);
	p9_wr_u32(&t.w, 6);
	p9_wr_u16(&t.w, 1);
	p9_wr_str(&t.w, "../outside");
	ASSERT_EQ(m_rpc(&t, P9_RWALK), -EINVAL);
	ASSERT_EQ(t_lcreate(&t, 4, "..", 2, 0644), -EINVAL);
	ASSERT_EQ(t_lcreate(&t, 4, "a/../../x", 2, 0644), -EINVAL);
	ASSERT_EQ(t_dirop(&t, P9_TMKDIR, ROOT, "..", 0755, NULL), -EINVAL);
	ASSERT_EQ(t_renameat(&t, ROOT, "a", ROOT, "../moved"), -EINVAL);
	ASSERT_EQ(access(hp(&t, "moved"), F_OK), -1);
	ASSERT_EQ(access(hp(&t, "export/a"), F_OK), 0);
	t_fini(&t);
}

TEST(escape_symlink)
{
	struct t9 t;
	struct p9_qid q;
	char tgt[200];

	t_init(&t, false);
	snprintf(tgt, sizeof(tgt), "%s", t.out);
	ASSERT_EQ(symlink(tgt, hp(&t, "export/abs")), 0);
	ASSERT_EQ(symlink("../outside", hp(&t, "export/rel")), 0);
	ASSERT_EQ(symlink("../outside/secret", hp(&t, "export/file")), 0);
	t_start(&t);
	/* the link itself can be walked to (its qid says symlink) */
	ASSERT_EQ(t_walk(&t, ROOT, 2, "abs", &q), 1);
	ASSERT_EQ(q.type, P9_QTSYMLINK);
	/* but nothing goes through it */
	ASSERT_EQ(t_walk(&t, ROOT, 3, "abs/secret", NULL), 1);
	ASSERT_EQ(t_walk(&t, ROOT, 3, "rel/secret", NULL), 1);
	ASSERT_EQ(t_clunk(&t, 3), -EBADF);
	ASSERT_EQ(t_lopen(&t, 2, 0), -ELOOP);
	ASSERT_EQ(t_walk(&t, ROOT, 4, "file", NULL), 1);
	ASSERT_EQ(t_lopen(&t, 4, 0), -ELOOP);
	ASSERT_NE(t_lopen(&t, 4, 1 | P9_DOTL_TRUNC), 0);
	/* a symlink as the directory of a create */
	ASSERT_EQ(t_walk(&t, ROOT, 5, "rel", NULL), 1);
	ASSERT_NE(t_dirop(&t, P9_TMKDIR, 5, "x", 0755, NULL), 0);
	ASSERT_NE(t_lcreate(&t, 5, "y", 2, 0644), 0);
	ASSERT_EQ(access(hp(&t, "outside/x"), F_OK), -1);
	ASSERT_EQ(access(hp(&t, "outside/y"), F_OK), -1);
	/* setattr on the link does not reach its target */
	ASSERT_EQ(t_setattr(&t, 4, P9_SETATTR_SIZE, 0, 0, 0, 0), -EOPNOTSUPP);
	ASSERT_EQ(t_setattr(&t, 4, P9_SETATTR_MODE, 0777, 0, 0, 0), -EOPNOTSUPP);
	char buf[32];

	host_read(hp(&t, "outside/secret"), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "OUTSIDE");
	/* a hard link of the link, not of its target */
	ASSERT_EQ(t_walk(&t, ROOT, 6, NULL, NULL), 0);
	m_begin(&t, P9_TLINK);
	p9_wr_u32(&t.w, 6);
	p9_wr_u32(&t.w, 4);
	p9_wr_str(&t.w, "hard");
	ASSERT_EQ(m_rpc(&t, P9_RLINK), 0);
	struct stat st;

	ASSERT_EQ(lstat(hp(&t, "export/hard"), &st), 0);
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	t_fini(&t);
}

TEST(escape_renamed_out)
{
	struct t9 t;
	struct p9_qid q;

	t_init(&t, false);
	hostdir(&t, "export/a");
	hostdir(&t, "export/a/d");
	hostf(&t, "export/a/d/inner", "in");
	t_start(&t);
	ASSERT_EQ(t_walk(&t, ROOT, 2, "a/d", NULL), 2);
	ASSERT_EQ(t_walk(&t, ROOT, 3, "a", &q), 1);
	/* the host moves d out of the export; the fid does not follow it */
	ASSERT_EQ(rename(hp(&t, "export/a/d"), hp(&t, "outside/d")), 0);
	ASSERT_EQ(t_walk(&t, 2, 4, "inner", NULL), -ENOENT);
	ASSERT_EQ(t_lopen(&t, 2, 0), -ENOENT);
	ASSERT_EQ(t_dirop(&t, P9_TMKDIR, 2, "new", 0755, NULL), -ENOENT);
	ASSERT_EQ(access(hp(&t, "outside/d/new"), F_OK), -1);
	/* ".." is resolved by name: a, inside */
	struct p9_qid up;

	ASSERT_EQ(t_walk(&t, 2, 5, "..", &up), 1);
	ASSERT_EQ_U64(up.path, q.path);
	t_fini(&t);
}

struct racer {
	struct t9 *t;
	atomic_bool stop;
	unsigned swaps;
};

/* Swap export/d between a real directory and a symlink to outside. */
static void *race_swap(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(&r->stop)) {
		if (renameat2(AT_FDCWD, hp(r->t, "export/d"), AT_FDCWD, hp(r->t, "export/e"),
			      RENAME_EXCHANGE) == 0)
			r->swaps++;
	}
	return NULL;
}

TEST(escape_racing_swap)
{
	struct t9 t;
	struct racer r = { .t = &t };
	pthread_t th;
	unsigned inside = 0, refused = 0;
	struct timespec t0, now;

	t_init(&t, false);
	hostdir(&t, "export/d");
	hostf(&t, "export/d/secret", "INSIDE");
	ASSERT_EQ(symlink(t.out, hp(&t, "export/e")), 0);
	t_start(&t);
	ASSERT_EQ(pthread_create(&th, NULL, race_swap, &r), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		int n = t_walk(&t, ROOT, 2, "d/secret", NULL);

		if (n == 2 && t_lopen(&t, 2, 0) == 0) {
			int got = t_read(&t, 2, 0, 16);

			ASSERT_EQ(got, 6);
			if (memcmp(t.resp + P9_RREAD_HDR, "INSIDE", 6))
				FAIL("read outside the export: %.7s", t.resp + P9_RREAD_HDR);
			inside++;
		} else {
			refused++;
		}
		if (n == 2)
			ASSERT_EQ(t_clunk(&t, 2), 0);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 < 400);
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	fprintf(stderr, "  %u swaps, %u reads inside, %u refused\n", r.swaps, inside, refused);
	ASSERT_GT(r.swaps, 10);
	ASSERT_GT(inside + refused, 10);
	t_fini(&t);
}

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
