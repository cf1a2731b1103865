/* SPDX-License-Identifier: MIT */
/*
 * The 9P2000.L server in-process: an export directory, a server over it, and
 * helpers that build requests and read responses, checked against the host's
 * own view of the export (stat, pread, readlink).  Shared by the 9p* programs.
 */
#ifndef VQ_TEST_9P_FX_H
#define VQ_TEST_9P_FX_H

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

static inline void count_log(void *opaque, const char *line)
{
	struct t9 *t = opaque;

	t->loglines++;
	fprintf(stderr, "  log: %s\n", line);
}

static inline void hostf(struct t9 *t, const char *rel, const char *content)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", t->dir, rel);
	f = fopen(p, "w");
	ASSERT_TRUE(f != NULL);
	fputs(content, f);
	fclose(f);
}

static inline void hostdir(struct t9 *t, const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", t->dir, rel);
	ASSERT_EQ(mkdir(p, 0755), 0);
}

static inline const char *hp(struct t9 *t, const char *rel)
{
	static char p[4][256];
	static unsigned i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", t->dir, rel);
	return p[i];
}

static inline void t_open_server(struct t9 *t, bool readonly, uint32_t max_fids, bool no_uring)
{
	struct vq_9p_params p = { .export_dir = t->exp, .tag = "t9", .readonly = readonly,
				  .max_fids = max_fids, .no_uring = no_uring,
				  .log = count_log, .log_opaque = t };

	ASSERT_EQ(vq_9p_new(&p, &t->s), 0);
	ASSERT_EQ(vq_9p_conn_new(t->s, &t->c), 0);
}

static inline void t_init(struct t9 *t, bool readonly)
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

static inline void t_fini(struct t9 *t)
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

static inline void m_begin(struct t9 *t, uint8_t type)
{
	t->w = (struct p9_wr){ .p = t->req, .cap = t->req_cap };
	p9_wr_hdr(&t->w, type, type == P9_TVERSION ? P9_NOTAG : t->tag);
}

/* Send the built request through segs response segments of seglen bytes;
 * returns the response type, body in t->rd. */
static inline int m_send_segs(struct t9 *t, unsigned nseg, size_t seglen)
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

static inline int m_send(struct t9 *t)
{
	return m_send_segs(t, 1, t->resp_cap);
}

/* Send; 0 when the response is `ok`, -ecode for Rlerror. */
static inline int m_rpc(struct t9 *t, uint8_t ok)
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

static inline void m_end(struct t9 *t)
{
	ASSERT_TRUE(p9_rd_is_done(&t->rd));
}

static inline void t_version(struct t9 *t, uint32_t msize)
{
	m_begin(t, P9_TVERSION);
	p9_wr_u32(&t->w, msize);
	p9_wr_str(&t->w, P9_VERSION_L);
	ASSERT_EQ(m_rpc(t, P9_RVERSION), 0);
}

static inline int t_attach(struct t9 *t, uint32_t fid, const char *aname)
{
	m_begin(t, P9_TATTACH);
	p9_wr_u32(&t->w, fid);
	p9_wr_u32(&t->w, P9_NOFID);
	p9_wr_str(&t->w, "root");
	p9_wr_str(&t->w, aname);
	p9_wr_u32(&t->w, 0);
	return m_rpc(t, P9_RATTACH);
}

static inline void t_start(struct t9 *t)
{
	t_version(t, MSIZE);
	ASSERT_EQ(t_attach(t, ROOT, ""), 0);
}

/* Walk fid -> newfid through the '/'-separated names (NULL = clone).
 * Returns the number of qids or -errno; *last gets the last qid. */
static inline int t_walk(struct t9 *t, uint32_t fid, uint32_t newfid, const char *names,
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

static inline int t_lopen(struct t9 *t, uint32_t fid, uint32_t flags)
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

static inline int t_lcreate(struct t9 *t, uint32_t fid, const char *name, uint32_t flags,
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

static inline int t_write(struct t9 *t, uint32_t fid, uint64_t off, const void *d, uint32_t n)
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
static inline int t_read_segs(struct t9 *t, uint32_t fid, uint64_t off, uint32_t count,
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

static inline int t_read(struct t9 *t, uint32_t fid, uint64_t off, uint32_t count)
{
	return t_read_segs(t, fid, off, count, 1, t->resp_cap);
}

static inline int t_simple(struct t9 *t, uint8_t type, uint32_t fid)
{
	m_begin(t, type);
	p9_wr_u32(&t->w, fid);
	return m_rpc(t, (uint8_t)(type + 1));
}

static inline int t_clunk(struct t9 *t, uint32_t fid)
{
	return t_simple(t, P9_TCLUNK, fid);
}

static inline void host_read(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY);

	ASSERT_GE(fd, 0);
	ssize_t r = read(fd, buf, n - 1);

	ASSERT_GE(r, 0);
	buf[r] = 0;
	close(fd);
}

static inline void t_getattr(struct t9 *t, uint32_t fid, uint32_t *mode, uint64_t *size,
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

static inline int t_setattr(struct t9 *t, uint32_t fid, uint32_t valid, uint32_t mode,
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

static inline int t_dirop(struct t9 *t, uint8_t type, uint32_t dfid, const char *name,
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

static inline int t_unlinkat(struct t9 *t, uint32_t dfid, const char *name, uint32_t flags)
{
	m_begin(t, P9_TUNLINKAT);
	p9_wr_u32(&t->w, dfid);
	p9_wr_str(&t->w, name);
	p9_wr_u32(&t->w, flags);
	return m_rpc(t, P9_RUNLINKAT);
}

static inline int t_renameat(struct t9 *t, uint32_t ofid, const char *on, uint32_t nfid,
		      const char *nn)
{
	m_begin(t, P9_TRENAMEAT);
	p9_wr_u32(&t->w, ofid);
	p9_wr_str(&t->w, on);
	p9_wr_u32(&t->w, nfid);
	p9_wr_str(&t->w, nn);
	return m_rpc(t, P9_RRENAMEAT);
}

#endif
