/* SPDX-License-Identifier: MIT */
/*
 * 9P2000.L client library: against the in-process server (every call,
 * checked on the host's files), and against a fake server that answers
 * malformed responses (each must be -EPROTO, none may crash).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <virtq/9p.h>
#include <virtq/9p_client.h>

#include "devices/9p/p9_wire.h"
#include "../harness/test.h"

static int inproc_rpc(void *ctx, const struct iovec *req, unsigned req_n,
		      const struct iovec *resp, unsigned resp_n)
{
	return vq_9p_conn_handle(ctx, req, req_n, resp, resp_n);
}

struct rig {
	char dir[64];
	struct vq_9p *s;
	struct vq_9p_conn *c;
	struct vq_9p_client *cl;
};

static void rig_init(struct rig *r, uint32_t msize)
{
	struct vq_9p_params p = { .export_dir = r->dir };
	struct vq_9p_client_params cp = { .msize = msize };

	snprintf(r->dir, sizeof(r->dir), "/tmp/vq9pc.XXXXXX");
	ASSERT_TRUE(mkdtemp(r->dir) != NULL);
	ASSERT_EQ(vq_9p_new(&p, &r->s), 0);
	ASSERT_EQ(vq_9p_conn_new(r->s, &r->c), 0);
	cp.transport = (struct vq_9p_client_transport){ inproc_rpc, r->c, 0 };
	ASSERT_EQ(vq_9p_client_new(&cp, &r->cl), 0);
}

static void rig_fini(struct rig *r)
{
	char cmd[100];

	vq_9p_client_free(r->cl);
	ASSERT_EQ(vq_9p_conn_nfids(r->c), 0); /* the client clunked everything */
	vq_9p_conn_free(r->c);
	vq_9p_free(r->s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
	ASSERT_EQ(system(cmd), 0);
}

static int count_names(void *ctx, const char *name, uint8_t type, uint64_t ino)
{
	unsigned *n = ctx;

	(void)ino;
	if (!strncmp(name, "n-", 2))
		n[type == P9_QTDIR ? 1 : 0]++;
	return 0;
}

TEST(client_roundtrip)
{
	struct rig r;
	uint32_t d, f, g;
	static uint8_t data[100000], back[100000];
	struct vq_9p_attr a;
	unsigned n[2] = { 0, 0 };
	char p[128];
	struct stat st;

	rig_init(&r, 8192); /* many Tread/Twrite per call */
	ASSERT_EQ(vq_9p_client_msize(r.cl), 8192);
	ASSERT_EQ(vq_9p_client_walk(r.cl, "", &d), 0);
	ASSERT_EQ(vq_9p_client_mkdir(r.cl, d, "sub", 0755), 0);
	ASSERT_EQ(vq_9p_client_walk(r.cl, "/sub//", &f), 0);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 5);
	ASSERT_EQ(vq_9p_client_create(r.cl, f, "file", O_RDWR, 0600), 0);
	ASSERT_EQ(vq_9p_client_pwrite(r.cl, f, 0, data, sizeof(data)), (int64_t)sizeof(data));
	snprintf(p, sizeof(p), "%s/sub/file", r.dir);
	ASSERT_EQ(stat(p, &st), 0);
	ASSERT_EQ(st.st_size, (long)sizeof(data));
	ASSERT_EQ(vq_9p_client_walk(r.cl, "sub/file", &g), 0);
	ASSERT_EQ(vq_9p_client_open(r.cl, g, O_RDONLY), 0);
	ASSERT_EQ(vq_9p_client_pread(r.cl, g, 0, back, sizeof(back)), (int64_t)sizeof(back));
	ASSERT_MEM_EQ(back, data, sizeof(data));
	ASSERT_EQ(vq_9p_client_pread(r.cl, g, 99990, back, 100), 10);
	ASSERT_EQ(vq_9p_client_getattr(r.cl, g, &a), 0);
	ASSERT_EQ_U64(a.size, sizeof(data));
	ASSERT_EQ_U64(a.ino, st.st_ino);
	ASSERT_EQ(a.mode, st.st_mode);
	ASSERT_EQ(vq_9p_client_clunk(r.cl, g), 0);
	ASSERT_EQ(vq_9p_client_clunk(r.cl, f), 0);
	/* 40 files and 3 directories, listed through many Treaddir */
	for (unsigned i = 0; i < 40; i++) {
		snprintf(p, sizeof(p), "%s/n-%u", r.dir, i);
		close(open(p, O_CREAT | O_WRONLY, 0644));
	}
	for (unsigned i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "n-d%u", i);
		ASSERT_EQ(vq_9p_client_mkdir(r.cl, d, p, 0755), 0);
	}
	ASSERT_EQ(vq_9p_client_open(r.cl, d, O_RDONLY), 0);
	ASSERT_EQ(vq_9p_client_readdir(r.cl, d, count_names, n), 0);
	ASSERT_EQ(n[0], 40);
	ASSERT_EQ(n[1], 3);
	ASSERT_EQ(vq_9p_client_walk(r.cl, "nope/x", &g), -ENOENT);
	ASSERT_EQ(vq_9p_client_walk(r.cl, "sub/nope", &g), -ENOENT);
	ASSERT_EQ(vq_9p_client_clunk(r.cl, d), 0);
	ASSERT_EQ(vq_9p_client_walk(r.cl, "", &d), 0);
	ASSERT_EQ(vq_9p_client_unlink(r.cl, d, "sub", AT_REMOVEDIR), -ENOTEMPTY);
	ASSERT_EQ(vq_9p_client_unlink(r.cl, d, "n-0", 0), 0);
	ASSERT_EQ(vq_9p_client_clunk(r.cl, d), 0);
	snprintf(p, sizeof(p), "%s/n-0", r.dir);
	ASSERT_EQ(access(p, F_OK), -1);
	rig_fini(&r);
}

/* readv: straight into scattered segments, within max_segs and msize */
TEST(client_readv_limits)
{
	struct rig r;
	static uint8_t pages[10][4096], data[40960];
	struct iovec v[10];
	uint32_t f;
	char p[128];
	int fd;

	rig_init(&r, 16384);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 31 + 7);
	snprintf(p, sizeof(p), "%s/f", r.dir);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	ASSERT_EQ(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	close(fd);
	for (unsigned i = 0; i < 10; i++)
		v[i] = (struct iovec){ pages[9 - i], 4096 };
	ASSERT_EQ(vq_9p_client_walk(r.cl, "f", &f), 0);
	ASSERT_EQ(vq_9p_client_open(r.cl, f, O_RDONLY), 0);
	/* msize 16384: 16360 bytes, 4 segments (the last one cut) */
	ASSERT_EQ(vq_9p_client_readv(r.cl, f, 0, v, 10), 16384 - 24);
	for (unsigned i = 0; i < 4; i++)
		ASSERT_MEM_EQ(pages[9 - i], data + i * 4096, i < 3 ? 4096 : 4096 - 24);
	/* a transport that takes 4 segments per request: 2 data segments */
	vq_9p_client_free(r.cl);
	struct vq_9p_client_params cp = { .msize = 16384 };

	cp.transport = (struct vq_9p_client_transport){ inproc_rpc, r.c, 4 };
	ASSERT_EQ(vq_9p_client_new(&cp, &r.cl), 0);
	ASSERT_EQ(vq_9p_client_walk(r.cl, "f", &f), 0);
	ASSERT_EQ(vq_9p_client_open(r.cl, f, O_RDONLY), 0);
	memset(pages, 0, sizeof(pages));
	ASSERT_EQ(vq_9p_client_readv(r.cl, f, 4096, v, 10), 8192);
	ASSERT_MEM_EQ(pages[9], data + 4096, 4096);
	ASSERT_MEM_EQ(pages[8], data + 8192, 4096);
	ASSERT_EQ(pages[7][0], 0);
	ASSERT_EQ(vq_9p_client_clunk(r.cl, f), 0);
	rig_fini(&r);
}

TEST(client_deep_walk)
{
	struct rig r;
	char p[512];
	uint32_t f;
	int len;

	rig_init(&r, 0);
	len = snprintf(p, sizeof(p), "%s", r.dir);
	for (unsigned i = 0; i < 20; i++) { /* 20 levels: two Twalk */
		len += snprintf(p + len, sizeof(p) - (size_t)len, "/d%u", i);
		ASSERT_EQ(mkdir(p, 0755), 0);
	}
	ASSERT_EQ(vq_9p_client_walk(r.cl,
		"d0/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/d16/d17/d18/d19", &f), 0);
	ASSERT_EQ(vq_9p_client_clunk(r.cl, f), 0);
	ASSERT_EQ(vq_9p_client_walk(r.cl,
		"d0/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/d16/d17/nope", &f), -ENOENT);
	rig_fini(&r);
}

/* ---- a fake server: answers what the test scripted */

struct fake {
	uint8_t resp[64];
	size_t len;
	bool echo_tag;
};

static int fake_rpc(void *ctx, const struct iovec *req, unsigned req_n,
		    const struct iovec *resp, unsigned resp_n)
{
	struct fake *f = ctx;
	const uint8_t *q = req[0].iov_base;
	size_t off = 0;

	if (q[4] == P9_TVERSION) { /* a well-behaved Rversion, Rattach */
		struct p9_wr w = { .p = f->resp, .cap = sizeof(f->resp) };

		p9_wr_hdr(&w, P9_RVERSION, P9_NOTAG);
		p9_wr_u32(&w, 8192);
		p9_wr_str(&w, P9_VERSION_L);
		p9_wr_set_size(&w, (uint32_t)w.off);
		memcpy(resp[0].iov_base, f->resp, w.off);
		return (int)w.off;
	}
	if (q[4] == P9_TATTACH || (q[4] == P9_TCLUNK && !f->len)) {
		uint8_t m[20] = { 0 };
		size_t n = q[4] == P9_TATTACH ? 20 : 7;

		m[0] = (uint8_t)n;
		m[4] = (uint8_t)(q[4] + 1);
		m[5] = q[5], m[6] = q[6];
		memcpy(resp[0].iov_base, m, n);
		return (int)n;
	}
	if (f->echo_tag)
		f->resp[5] = q[5], f->resp[6] = q[6];
	for (unsigned i = 0; i < resp_n && off < f->len; i++) {
		size_t k = f->len - off < resp[i].iov_len ? f->len - off : resp[i].iov_len;

		memcpy(resp[i].iov_base, f->resp + off, k);
		off += k;
	}
	(void)req_n;
	return (int)f->len;
}

static void fake_set(struct fake *f, uint8_t type, const void *body, size_t n, bool echo)
{
	struct p9_wr w = { .p = f->resp, .cap = sizeof(f->resp) };

	p9_wr_hdr(&w, type, 0);
	p9_wr_bytes(&w, body, n);
	p9_wr_set_size(&w, (uint32_t)w.off);
	f->len = w.off;
	f->echo_tag = echo;
}

TEST(client_rejects_malformed)
{
	struct fake f = { 0 };
	struct vq_9p_client_params cp = { .transport = { fake_rpc, &f, 0 } };
	struct vq_9p_client *cl;
	uint8_t buf[100];
	struct vq_9p_attr a;

	ASSERT_EQ(vq_9p_client_new(&cp, &cl), 0);
	/* wrong tag */
	fake_set(&f, P9_RCLUNK, NULL, 0, false);
	f.resp[5] = 0x77;
	ASSERT_EQ(vq_9p_client_clunk(cl, 5), -EPROTO);
	/* wrong type */
	fake_set(&f, P9_RWALK, NULL, 0, true);
	ASSERT_EQ(vq_9p_client_clunk(cl, 5), -EPROTO);
	/* trailing bytes */
	fake_set(&f, P9_RCLUNK, "x", 1, true);
	ASSERT_EQ(vq_9p_client_clunk(cl, 5), -EPROTO);
	/* Rlerror with errno 0, with a real errno */
	fake_set(&f, P9_RLERROR, "\0\0\0\0", 4, true);
	ASSERT_EQ(vq_9p_client_clunk(cl, 5), -EPROTO);
	fake_set(&f, P9_RLERROR, "\x02\0\0\0", 4, true);
	ASSERT_EQ(vq_9p_client_clunk(cl, 5), -ENOENT);
	/* Rread claiming more than asked, or than it carries */
	fake_set(&f, P9_RREAD, "\x20\0\0\0" "0123456789abcdef0123456789abcdef", 36, true);
	ASSERT_EQ(vq_9p_client_read(cl, 5, 0, buf, 16), -EPROTO);
	fake_set(&f, P9_RREAD, "\x05\0\0\0" "0123", 8, true);
	ASSERT_EQ(vq_9p_client_read(cl, 5, 0, buf, 16), -EPROTO);
	fake_set(&f, P9_RREAD, "\x04\0\0\0" "0123", 8, true);
	ASSERT_EQ(vq_9p_client_read(cl, 5, 0, buf, 16), 4);
	ASSERT_TRUE(!memcmp(buf, "0123", 4));
	/* Rwrite claiming more than written */
	fake_set(&f, P9_RWRITE, "\x10\0\0\0", 4, true);
	ASSERT_EQ(vq_9p_client_write(cl, 5, 0, buf, 4), -EPROTO);
	/* a truncated Rgetattr; an Rwalk with more qids than names */
	fake_set(&f, P9_RGETATTR, "\xff\x07\0\0\0\0\0\0", 8, true);
	ASSERT_EQ(vq_9p_client_getattr(cl, 5, &a), -EPROTO);
	fake_set(&f, P9_RWALK, "\x02\0" "qqqqqqqqqqqqqQQQQQQQQQQQQQ", 28, true);
	uint32_t fid;

	ASSERT_EQ(vq_9p_client_walk(cl, "a", &fid), -EPROTO);
	/* a readdir entry whose name runs past the message */
	fake_set(&f, P9_RREADDIR, "\x18\0\0\0" "qqqqqqqqqqqqqoooooooot\xff\x00", 26, true);
	ASSERT_EQ(vq_9p_client_readdir(cl, 5, count_names, buf), -EPROTO);
	f.len = 0;
	vq_9p_client_free(cl);
}
