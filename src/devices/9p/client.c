/* SPDX-License-Identifier: MIT */
/* 9P2000.L client: builds requests, checks responses, over any transport. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/9p_client.h>

#include "p9_wire.h"

#define CL_BUF (64u << 10) /* metadata requests and responses */
#define CL_DEFAULT_MSIZE (512u << 10)

struct vq_9p_client {
	struct vq_9p_client_transport t;
	struct iovec *seg;  /* readv's response segments */
	unsigned seg_cap;
	uint32_t msize;
	uint32_t next_fid;
	uint16_t tag;
	uint8_t *req, *resp;
	struct p9_wr w;
	struct p9_rd rd;
};

static void cl_begin(struct vq_9p_client *cl, uint8_t type)
{
	cl->tag = (uint16_t)(cl->tag + 1 == P9_NOTAG ? 1 : cl->tag + 1);
	cl->w = (struct p9_wr){ .p = cl->req, .cap = CL_BUF };
	p9_wr_hdr(&cl->w, type, type == P9_TVERSION ? P9_NOTAG : cl->tag);
}

/* Check a response header in buf (n bytes): 0 with cl->rd at the body,
 * the server's -errno for Rlerror, -EPROTO when malformed. */
static int cl_check(struct vq_9p_client *cl, const uint8_t *buf, size_t n, uint8_t want,
		    size_t body_len)
{
	struct p9_rd rd = { .p = buf, .len = n };
	uint32_t size = p9_rd_u32(&rd);
	uint8_t type = p9_rd_u8(&rd);
	uint16_t tag = p9_rd_u16(&rd);
	uint16_t sent = (uint16_t)(cl->req[5] | cl->req[6] << 8);

	if (rd.bad || size < P9_HDR || tag != sent)
		return -EPROTO;
	cl->rd = (struct p9_rd){ .p = buf + P9_HDR, .len = body_len };
	if (type == P9_RLERROR) {
		uint32_t e = p9_rd_u32(&cl->rd);

		return (cl->rd.bad || !e || e > 4095) ? -EPROTO : -(int)e;
	}
	return type == want ? 0 : -EPROTO;
}

/* Send cl->w, receive into cl->resp; 0 with cl->rd over the body. */
static int cl_rpc(struct vq_9p_client *cl, uint8_t want)
{
	struct iovec req = { cl->req, cl->w.off }, resp = { cl->resp, CL_BUF };
	int n;

	if (cl->w.bad)
		return -EINVAL; /* a name or a path too long for a message */
	p9_wr_set_size(&cl->w, (uint32_t)cl->w.off);
	n = cl->t.rpc(cl->t.ctx, &req, 1, &resp, 1);
	if (n < 0)
		return n;
	if ((size_t)n < P9_HDR || (cl->resp[0] | cl->resp[1] << 8 | cl->resp[2] << 16 |
				   (uint32_t)cl->resp[3] << 24) != (uint32_t)n)
		return -EPROTO;
	return cl_check(cl, cl->resp, (size_t)n, want, (size_t)n - P9_HDR);
}

/* The body was read exactly. */
static int cl_done(struct vq_9p_client *cl)
{
	return p9_rd_is_done(&cl->rd) ? 0 : -EPROTO;
}

static int cl_version(struct vq_9p_client *cl, uint32_t msize)
{
	struct p9_str v;
	int err;

	cl_begin(cl, P9_TVERSION);
	p9_wr_u32(&cl->w, msize);
	p9_wr_str(&cl->w, P9_VERSION_L);
	err = cl_rpc(cl, P9_RVERSION);
	if (err)
		return err;
	cl->msize = p9_rd_u32(&cl->rd);
	v = p9_rd_str(&cl->rd);
	if (cl_done(cl) || cl->msize < P9_MIN_MSIZE || cl->msize > msize ||
	    v.len != strlen(P9_VERSION_L) || memcmp(v.s, P9_VERSION_L, v.len))
		return -EPROTO;
	return 0;
}

static int cl_attach(struct vq_9p_client *cl, const struct vq_9p_client_params *p)
{
	int err;

	cl_begin(cl, P9_TATTACH);
	p9_wr_u32(&cl->w, 0);
	p9_wr_u32(&cl->w, P9_NOFID);
	p9_wr_str(&cl->w, p->uname ? p->uname : "root");
	p9_wr_str(&cl->w, p->aname ? p->aname : "");
	p9_wr_u32(&cl->w, p->n_uname);
	err = cl_rpc(cl, P9_RATTACH);
	if (err)
		return err;
	(void)p9_rd_qid(&cl->rd);
	return cl_done(cl);
}

int vq_9p_client_new(const struct vq_9p_client_params *p, struct vq_9p_client **out)
{
	struct vq_9p_client *cl;
	int err;

	if (!p || !p->transport.rpc || !out || (p->msize && p->msize < P9_MIN_MSIZE))
		return -EINVAL;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	cl->t = p->transport;
	cl->next_fid = 1;
	cl->req = malloc(CL_BUF);
	cl->resp = malloc(CL_BUF);
	err = (cl->req && cl->resp) ? 0 : -ENOMEM;
	if (!err)
		err = cl_version(cl, p->msize ? p->msize : CL_DEFAULT_MSIZE);
	if (!err)
		err = cl_attach(cl, p);
	if (err) {
		free(cl->req);
		free(cl->resp);
		free(cl);
		return err;
	}
	*out = cl;
	return 0;
}

void vq_9p_client_free(struct vq_9p_client *cl)
{
	if (!cl)
		return;
	(void)vq_9p_client_clunk(cl, 0);
	free(cl->seg);
	free(cl->req);
	free(cl->resp);
	free(cl);
}

uint32_t vq_9p_client_msize(const struct vq_9p_client *cl)
{
	return cl->msize;
}

int vq_9p_client_clunk(struct vq_9p_client *cl, uint32_t fid)
{
	int err;

	cl_begin(cl, P9_TCLUNK);
	p9_wr_u32(&cl->w, fid);
	err = cl_rpc(cl, P9_RCLUNK);
	return err ? err : cl_done(cl);
}

/* One Twalk of up to 16 names from fid to newfid; 0 only when all walked. */
static int cl_walk_some(struct vq_9p_client *cl, uint32_t fid, uint32_t newfid,
			const char **names, const uint16_t *lens, unsigned n)
{
	uint16_t nq;
	int err;

	cl_begin(cl, P9_TWALK);
	p9_wr_u32(&cl->w, fid);
	p9_wr_u32(&cl->w, newfid);
	p9_wr_u16(&cl->w, (uint16_t)n);
	for (unsigned i = 0; i < n; i++)
		p9_wr_strn(&cl->w, names[i], lens[i]);
	err = cl_rpc(cl, P9_RWALK);
	if (err)
		return err;
	nq = p9_rd_u16(&cl->rd);
	for (unsigned i = 0; i < nq && i < P9_MAXWELEM; i++)
		(void)p9_rd_qid(&cl->rd);
	if (cl_done(cl) || nq > n)
		return -EPROTO;
	return nq == n ? 0 : -ENOENT;
}

int vq_9p_client_walk(struct vq_9p_client *cl, const char *path, uint32_t *fid)
{
	const char *names[P9_MAXWELEM];
	uint16_t lens[P9_MAXWELEM];
	uint32_t nf = cl->next_fid++, from = 0;
	unsigned n = 0;
	int err = 0;

	for (const char *p = path;; ) {
		while (*p == '/')
			p++;
		if (*p) {
			size_t l = strcspn(p, "/");

			if (l > 0xffff)
				return -ENAMETOOLONG;
			names[n] = p;
			lens[n++] = (uint16_t)l;
			p += l;
		}
		if (n == P9_MAXWELEM || (!*p && (n || from == 0))) {
			err = cl_walk_some(cl, from, nf, names, lens, n);
			if (err) {
				if (from != 0)
					(void)vq_9p_client_clunk(cl, nf);
				return err;
			}
			from = nf;
			n = 0;
		}
		if (!*p)
			break;
	}
	*fid = nf;
	return 0;
}

/* Rlopen / Rlcreate: qid and iounit. */
static int cl_open_reply(struct vq_9p_client *cl)
{
	(void)p9_rd_qid(&cl->rd);
	(void)p9_rd_u32(&cl->rd);
	return cl_done(cl);
}

int vq_9p_client_open(struct vq_9p_client *cl, uint32_t fid, uint32_t flags)
{
	int err;

	cl_begin(cl, P9_TLOPEN);
	p9_wr_u32(&cl->w, fid);
	p9_wr_u32(&cl->w, flags);
	err = cl_rpc(cl, P9_RLOPEN);
	return err ? err : cl_open_reply(cl);
}

int vq_9p_client_create(struct vq_9p_client *cl, uint32_t dfid, const char *name,
			uint32_t flags, uint32_t mode)
{
	int err;

	cl_begin(cl, P9_TLCREATE);
	p9_wr_u32(&cl->w, dfid);
	p9_wr_str(&cl->w, name);
	p9_wr_u32(&cl->w, flags);
	p9_wr_u32(&cl->w, mode);
	p9_wr_u32(&cl->w, 0);
	err = cl_rpc(cl, P9_RLCREATE);
	return err ? err : cl_open_reply(cl);
}

/* resp segments for a Tread: the header, then iov trimmed to the limits. */
static int read_segs(struct vq_9p_client *cl, uint8_t *hdr, const struct iovec *iov,
		     unsigned n, uint32_t *count)
{
	uint32_t room = cl->msize - P9_IOHDRSZ;
	unsigned k = 1, max = cl->t.max_segs ? cl->t.max_segs - 1 : UINT32_MAX;

	if (cl->t.max_segs && cl->t.max_segs < 3)
		return -EINVAL;
	if (n + 1 > cl->seg_cap) {
		struct iovec *v = realloc(cl->seg, (n + 1) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		cl->seg = v;
		cl->seg_cap = n + 1;
	}
	cl->seg[0] = (struct iovec){ hdr, P9_RREAD_HDR };
	*count = 0;
	for (unsigned i = 0; i < n && k < max && room; i++) {
		size_t l = iov[i].iov_len < room ? iov[i].iov_len : room;

		if (!l)
			continue;
		cl->seg[k++] = (struct iovec){ iov[i].iov_base, l };
		room -= (uint32_t)l;
		*count += (uint32_t)l;
	}
	return (int)k;
}

int64_t vq_9p_client_readv(struct vq_9p_client *cl, uint32_t fid, uint64_t off,
			   const struct iovec *iov, unsigned n)
{
	uint8_t hdr[P9_RREAD_HDR];
	struct iovec req;
	uint32_t len, count;
	int k, r, err;

	k = read_segs(cl, hdr, iov, n, &len);
	if (k < 0)
		return k;
	cl_begin(cl, P9_TREAD);
	p9_wr_u32(&cl->w, fid);
	p9_wr_u64(&cl->w, off);
	p9_wr_u32(&cl->w, len);
	p9_wr_set_size(&cl->w, (uint32_t)cl->w.off);
	req = (struct iovec){ cl->req, cl->w.off };
	r = cl->t.rpc(cl->t.ctx, &req, 1, cl->seg, (unsigned)k);
	if (r < 0)
		return r;
	if ((size_t)r < P9_RLERROR_LEN)
		return -EPROTO;
	err = cl_check(cl, hdr, sizeof(hdr), P9_RREAD, 4);
	if (err)
		return (err != -EPROTO && r != (int)P9_RLERROR_LEN) ? -EPROTO : err;
	count = p9_rd_u32(&cl->rd);
	if ((uint32_t)r != P9_RREAD_HDR + count || count > len ||
	    (hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24) != (uint32_t)r)
		return -EPROTO;
	return count;
}

int64_t vq_9p_client_read(struct vq_9p_client *cl, uint32_t fid, uint64_t off,
			  void *buf, uint32_t len)
{
	struct iovec v = { buf, len };

	return vq_9p_client_readv(cl, fid, off, &v, 1);
}

int64_t vq_9p_client_write(struct vq_9p_client *cl, uint32_t fid, uint64_t off,
			   const void *buf, uint32_t len)
{
	struct iovec req[2], resp = { cl->resp, CL_BUF };
	uint32_t count;
	int n, err;

	if (len > cl->msize - P9_IOHDRSZ)
		len = cl->msize - P9_IOHDRSZ;
	cl_begin(cl, P9_TWRITE);
	p9_wr_u32(&cl->w, fid);
	p9_wr_u64(&cl->w, off);
	p9_wr_u32(&cl->w, len);
	p9_wr_set_size(&cl->w, P9_IOHDR + len);
	req[0] = (struct iovec){ cl->req, P9_IOHDR };
	req[1] = (struct iovec){ (void *)buf, len };
	n = cl->t.rpc(cl->t.ctx, req, len ? 2 : 1, &resp, 1);
	if (n < 0)
		return n;
	err = cl_check(cl, cl->resp, (size_t)n, P9_RWRITE, (size_t)n - P9_HDR);
	if (err)
		return err;
	count = p9_rd_u32(&cl->rd);
	return (cl_done(cl) || count > len) ? -EPROTO : (int64_t)count;
}

int64_t vq_9p_client_pread(struct vq_9p_client *cl, uint32_t fid, uint64_t off,
			   void *buf, uint64_t len)
{
	uint64_t done = 0;

	while (done < len) {
		uint64_t want = len - done;
		int64_t n = vq_9p_client_read(cl, fid, off + done, (uint8_t *)buf + done,
					      want > UINT32_MAX ? UINT32_MAX : (uint32_t)want);

		if (n < 0)
			return done ? (int64_t)done : n;
		if (n == 0)
			break;
		done += (uint64_t)n;
	}
	return (int64_t)done;
}

int64_t vq_9p_client_pwrite(struct vq_9p_client *cl, uint32_t fid, uint64_t off,
			    const void *buf, uint64_t len)
{
	uint64_t done = 0;

	while (done < len) {
		uint64_t want = len - done;
		int64_t n = vq_9p_client_write(cl, fid, off + done, (const uint8_t *)buf + done,
					       want > UINT32_MAX ? UINT32_MAX : (uint32_t)want);

		if (n <= 0)
			return done ? (int64_t)done : (n ? n : -EIO);
		done += (uint64_t)n;
	}
	return (int64_t)done;
}

/* Walk one Rreaddir's entries; *off gets the last entry's offset. */
static int cl_dirents(struct p9_rd *e, uint64_t *off,
		      int (*fn)(void *, const char *, uint8_t, uint64_t), void *ctx)
{
	char name[256];

	while (!p9_rd_is_done(e)) {
		struct p9_qid q = p9_rd_qid(e);
		struct p9_str s;

		*off = p9_rd_u64(e);
		(void)p9_rd_u8(e);
		s = p9_rd_str(e);
		if (e->bad || s.len >= sizeof(name) || memchr(s.s, 0, s.len))
			return -EPROTO;
		memcpy(name, s.s, s.len);
		name[s.len] = 0;
		int r = fn(ctx, name, q.type, q.path);

		if (r)
			return r;
	}
	return 0;
}

int vq_9p_client_readdir(struct vq_9p_client *cl, uint32_t fid,
			 int (*fn)(void *ctx, const char *name, uint8_t type, uint64_t ino),
			 void *ctx)
{
	uint64_t off = 0;

	for (;;) {
		uint32_t count = CL_BUF - P9_IOHDRSZ;
		int err;

		if (count > cl->msize - P9_IOHDRSZ)
			count = cl->msize - P9_IOHDRSZ;
		cl_begin(cl, P9_TREADDIR);
		p9_wr_u32(&cl->w, fid);
		p9_wr_u64(&cl->w, off);
		p9_wr_u32(&cl->w, count);
		err = cl_rpc(cl, P9_RREADDIR);
		if (err)
			return err;
		uint32_t n = p9_rd_u32(&cl->rd);
		struct p9_rd e = { .p = p9_rd_take(&cl->rd, n), .len = n };

		if (cl_done(cl) || n > count)
			return -EPROTO;
		if (!n)
			return 0;
		err = cl_dirents(&e, &off, fn, ctx);
		if (err)
			return err;
	}
}

int vq_9p_client_getattr(struct vq_9p_client *cl, uint32_t fid, struct vq_9p_attr *a)
{
	struct p9_qid q;
	int err;

	cl_begin(cl, P9_TGETATTR);
	p9_wr_u32(&cl->w, fid);
	p9_wr_u64(&cl->w, P9_GETATTR_BASIC);
	err = cl_rpc(cl, P9_RGETATTR);
	if (err)
		return err;
	(void)p9_rd_u64(&cl->rd);
	q = p9_rd_qid(&cl->rd);
	a->qid_type = q.type;
	a->ino = q.path;
	a->mode = p9_rd_u32(&cl->rd);
	a->uid = p9_rd_u32(&cl->rd);
	a->gid = p9_rd_u32(&cl->rd);
	a->nlink = p9_rd_u64(&cl->rd);
	a->rdev = p9_rd_u64(&cl->rd);
	a->size = p9_rd_u64(&cl->rd);
	a->blksize = p9_rd_u64(&cl->rd);
	a->blocks = p9_rd_u64(&cl->rd);
	a->atime_sec = (int64_t)p9_rd_u64(&cl->rd);
	a->atime_nsec = (uint32_t)p9_rd_u64(&cl->rd);
	a->mtime_sec = (int64_t)p9_rd_u64(&cl->rd);
	a->mtime_nsec = (uint32_t)p9_rd_u64(&cl->rd);
	a->ctime_sec = (int64_t)p9_rd_u64(&cl->rd);
	a->ctime_nsec = (uint32_t)p9_rd_u64(&cl->rd);
	for (unsigned i = 0; i < 4; i++)
		(void)p9_rd_u64(&cl->rd);
	return cl_done(cl);
}

int vq_9p_client_mkdir(struct vq_9p_client *cl, uint32_t dfid, const char *name,
		       uint32_t mode)
{
	int err;

	cl_begin(cl, P9_TMKDIR);
	p9_wr_u32(&cl->w, dfid);
	p9_wr_str(&cl->w, name);
	p9_wr_u32(&cl->w, mode);
	p9_wr_u32(&cl->w, 0);
	err = cl_rpc(cl, P9_RMKDIR);
	if (err)
		return err;
	(void)p9_rd_qid(&cl->rd);
	return cl_done(cl);
}

int vq_9p_client_unlink(struct vq_9p_client *cl, uint32_t dfid, const char *name,
			uint32_t flags)
{
	int err;

	cl_begin(cl, P9_TUNLINKAT);
	p9_wr_u32(&cl->w, dfid);
	p9_wr_str(&cl->w, name);
	p9_wr_u32(&cl->w, flags & AT_REMOVEDIR ? P9_AT_REMOVEDIR : 0);
	err = cl_rpc(cl, P9_RUNLINKAT);
	return err ? err : cl_done(cl);
}
