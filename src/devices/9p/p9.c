/* SPDX-License-Identifier: MIT */
/*
 * 9P2000.L server: the export, connections, framing checks, the dispatch
 * table, and the session messages (version, attach, flush, clunk, auth).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p9_internal.h"

/* ---- logging */

void vq__p9_log(struct vq_9p_conn *c, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (c->nlog > VQ_9P_LOG_BURST)
		return;
	if (c->nlog++ == VQ_9P_LOG_BURST) {
		snprintf(line, sizeof(line), "9p: further errors on this connection not logged");
	} else {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
	}
	if (c->s->log)
		c->s->log(c->s->log_opaque, line);
	else
		fprintf(stderr, "virtq-9p: %s\n", line);
}

/* ---- segments */

uint64_t vq__p9_iov_len(const struct iovec *v, unsigned n)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < n; i++)
		t += v[i].iov_len; /* a transport's segments: each < 4 GiB */
	return t;
}

int vq__p9_iov_slice(struct vq_9p_conn *c, const struct iovec *v, unsigned n,
		     uint64_t off, uint64_t len)
{
	unsigned k = 0;

	if (n > c->iov_cap) {
		struct iovec *nv = realloc(c->iov, n * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		c->iov = nv;
		c->iov_cap = n;
	}
	for (unsigned i = 0; i < n && len; i++) {
		if (off >= v[i].iov_len) {
			off -= v[i].iov_len;
			continue;
		}
		size_t take = v[i].iov_len - off;

		if (take > len)
			take = len;
		c->iov[k].iov_base = (uint8_t *)v[i].iov_base + off;
		c->iov[k++].iov_len = take;
		len -= take;
		off = 0;
	}
	return (int)k;
}

/* Copy [off, off + len) of the segments to/from a linear buffer. */
static void iov_copy(const struct iovec *v, unsigned n, uint64_t off, void *buf,
		     size_t len, bool to_iov)
{
	uint8_t *b = buf;

	for (unsigned i = 0; i < n && len; i++) {
		if (off >= v[i].iov_len) {
			off -= v[i].iov_len;
			continue;
		}
		size_t take = v[i].iov_len - off;

		if (take > len)
			take = len;
		if (to_iov)
			memcpy((uint8_t *)v[i].iov_base + off, b, take);
		else
			memcpy(b, (uint8_t *)v[i].iov_base + off, take);
		b += take;
		len -= take;
		off = 0;
	}
}

/* ---- server */

static int server_open_root(struct vq_9p *s, const char *dir)
{
	struct stat st;

	s->rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0)
		return -errno;
	if (fstat(s->rootfd, &st) < 0)
		return -errno;
	s->root_dev = st.st_dev;
	s->root_ino = st.st_ino;
	s->export_real = realpath(dir, NULL);
	return s->export_real ? 0 : -errno;
}

int vq_9p_new(const struct vq_9p_params *p, struct vq_9p **out)
{
	const char *tag = p && p->tag ? p->tag : "virtq";
	struct vq_9p *s;
	int err;

	if (!p || !p->export_dir || !out || !*tag || strlen(tag) > VQ_9P_MAX_TAG ||
	    (p->max_msize && p->max_msize < P9_MIN_MSIZE))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->rootfd = -1;
	s->readonly = p->readonly;
	s->no_uring = p->no_uring;
	s->max_msize = p->max_msize ? p->max_msize : VQ_9P_MAX_MSIZE;
	if (s->max_msize > VQ_9P_MAX_MSIZE)
		s->max_msize = VQ_9P_MAX_MSIZE;
	s->max_fids = p->max_fids ? p->max_fids : VQ_9P_MAX_FIDS;
	s->log = p->log;
	s->log_opaque = p->log_opaque;
	s->tag = strdup(tag);
	s->export_dir = strdup(p->export_dir);
	err = (s->tag && s->export_dir) ? server_open_root(s, p->export_dir) : -ENOMEM;
	if (err) {
		vq_9p_free(s);
		return err;
	}
	*out = s;
	return 0;
}

void vq_9p_free(struct vq_9p *s)
{
	if (!s)
		return;
	if (s->rootfd >= 0)
		close(s->rootfd);
	free(s->export_real);
	free(s->export_dir);
	free(s->tag);
	free(s);
}

const char *vq_9p_tag(const struct vq_9p *s)
{
	return s->tag;
}

/* ---- connections */

int vq_9p_conn_new(struct vq_9p *s, struct vq_9p_conn **out)
{
	struct vq_9p_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->s = s;
	c->msize = P9_PREVERSION_MSIZE;
	c->msg = malloc(P9_LINEAR_MAX);
	c->out = malloc(P9_OUT_CAP);
	c->dents = malloc(P9_OUT_CAP);
	if (!c->msg || !c->out || !c->dents) {
		vq_9p_conn_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void vq_9p_conn_free(struct vq_9p_conn *c)
{
	if (!c)
		return;
	vq__p9_fid_clear(c);
	vq__p9_io_fini(c);
	free(c->iov);
	free(c->dents);
	free(c->out);
	free(c->msg);
	free(c);
}

uint32_t vq_9p_conn_msize(const struct vq_9p_conn *c)
{
	return c->msize;
}

bool vq_9p_conn_is_broken(const struct vq_9p_conn *c)
{
	return c->broken;
}

unsigned vq_9p_conn_nfids(const struct vq_9p_conn *c)
{
	return c->nfids;
}

/* ---- session messages */

static int p9_version(struct p9_req *r)
{
	struct vq_9p_conn *c = r->c;
	uint32_t msize = p9_rd_u32(&r->rd);
	struct p9_str v = p9_rd_str(&r->rd);
	bool ok;

	P9_END(r);
	if (msize < P9_MIN_MSIZE) {
		vq__p9_log(c, "9p: Tversion msize %u below %u", msize, P9_MIN_MSIZE);
		return -EINVAL;
	}
	ok = v.len >= strlen(P9_VERSION_L) && !memcmp(v.s, P9_VERSION_L, strlen(P9_VERSION_L));
	vq__p9_fid_clear(c); /* a new session: every fid is clunked */
	if (msize > c->s->max_msize)
		msize = c->s->max_msize;
	c->msize = msize;
	c->versioned = ok;
	p9_wr_u32(&r->wr, msize);
	p9_wr_str(&r->wr, ok ? P9_VERSION_L : "unknown");
	return 0;
}

/* uname "root" or "" is uid 0, a number is that uid, else nobody. */
static uint32_t attach_uid(struct p9_str uname, uint32_t n_uname)
{
	char buf[16];
	char *end;
	unsigned long v;

	if (n_uname != P9_NONUNAME)
		return n_uname;
	if (!uname.len || (uname.len == 4 && !memcmp(uname.s, "root", 4)))
		return 0;
	if (uname.len >= sizeof(buf))
		return 65534;
	memcpy(buf, uname.s, uname.len);
	buf[uname.len] = 0;
	v = strtoul(buf, &end, 10);
	return (*end || v > UINT32_MAX - 1) ? 65534 : (uint32_t)v;
}

/* aname: empty, "/", the export path as given or its realpath. */
static bool aname_is_export(const struct vq_9p *s, struct p9_str a)
{
	const char *ok[] = { "", "/", s->export_dir, s->export_real };

	for (unsigned i = 0; i < 4; i++) {
		size_t n = strlen(ok[i]);

		if (a.len == n && !memcmp(a.s, ok[i], n))
			return true;
		if (n > 1 && a.len == n + 1 && a.s[n] == '/' && !memcmp(a.s, ok[i], n))
			return true;
	}
	return false;
}

static int p9_attach(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd), afid = p9_rd_u32(&r->rd);
	struct p9_str uname = p9_rd_str(&r->rd), aname = p9_rd_str(&r->rd);
	uint32_t n_uname = p9_rd_u32(&r->rd);
	struct p9_fid *f;
	struct stat st;
	struct p9_qid q;
	char *root;
	int err;

	P9_END(r);
	if (afid != P9_NOFID)
		return -EBADF; /* no authentication: no afid is valid */
	if (!aname_is_export(r->s, aname))
		return -ENOENT;
	if (fstat(r->s->rootfd, &st) < 0)
		return -errno;
	root = strdup("");
	if (!root)
		return -ENOMEM;
	err = vq__p9_fid_add(r->c, fid, attach_uid(uname, n_uname), root, &f);
	if (err)
		return err;
	vq__p9_qid(r->s, &st, &q);
	p9_wr_qid(&r->wr, &q);
	return 0;
}

static int p9_flush(struct p9_req *r)
{
	(void)p9_rd_u16(&r->rd); /* oldtag: every request is answered before the next */
	P9_END(r);
	return 0;
}

static int p9_clunk(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd);

	P9_END(r);
	if (!vq__p9_fid_get(r->c, fid))
		return -EBADF;
	vq__p9_fid_del(r->c, fid);
	return 0;
}

static int p9_unsupported(struct p9_req *r)
{
	return -EOPNOTSUPP;
}

/* ---- dispatch */

struct p9_op {
	p9_handler fn;
	bool changes; /* refused with EROFS on a read-only export */
};

static const struct p9_op p9_ops[256] = {
	[P9_TVERSION]     = { p9_version, false },
	[P9_TAUTH]        = { p9_unsupported, false },
	[P9_TATTACH]      = { p9_attach, false },
	[P9_TFLUSH]       = { p9_flush, false },
	[P9_TCLUNK]       = { p9_clunk, false },
	[P9_TWALK]        = { vq__p9_walk, false },
	[P9_TLOPEN]       = { vq__p9_lopen, false },
	[P9_TLCREATE]     = { vq__p9_lcreate, true },
	[P9_TREAD]        = { vq__p9_read, false },
	[P9_TWRITE]       = { vq__p9_write, true },
	[P9_TREADDIR]     = { vq__p9_readdir, false },
	[P9_TGETATTR]     = { vq__p9_getattr, false },
	[P9_TSETATTR]     = { vq__p9_setattr, true },
	[P9_TSTATFS]      = { vq__p9_statfs, false },
	[P9_TMKDIR]       = { vq__p9_mkdir, true },
	[P9_TMKNOD]       = { vq__p9_mknod, true },
	[P9_TSYMLINK]     = { vq__p9_symlink, true },
	[P9_TREADLINK]    = { vq__p9_readlink, false },
	[P9_TLINK]        = { vq__p9_link, true },
	[P9_TRENAME]      = { vq__p9_rename, true },
	[P9_TRENAMEAT]    = { vq__p9_renameat, true },
	[P9_TUNLINKAT]    = { vq__p9_unlinkat, true },
	[P9_TREMOVE]      = { vq__p9_remove, false }, /* clunks even when refused */
	[P9_TFSYNC]       = { vq__p9_fsync, false },
	[P9_TLOCK]        = { vq__p9_lock, false },
	[P9_TGETLOCK]     = { vq__p9_getlock, false },
	[P9_TXATTRWALK]   = { vq__p9_xattrwalk, false },
	[P9_TXATTRCREATE] = { vq__p9_xattrcreate, false },
};

static int p9_dispatch(struct p9_req *r)
{
	const struct p9_op *op = &p9_ops[r->type];

	if (!op->fn || (r->type & 1))
		return -EOPNOTSUPP;
	if (r->type != P9_TVERSION) {
		if (!r->c->versioned) {
			vq__p9_log(r->c, "9p: type %u before a successful Tversion", r->type);
			return -EPROTO;
		}
		if (r->tag == P9_NOTAG) {
			vq__p9_log(r->c, "9p: type %u with NOTAG", r->type);
			return -EPROTO;
		}
	}
	if (op->changes && r->s->readonly)
		return -EROFS;
	return op->fn(r);
}

/* Framing checks; returns 0 with r->size/type/tag, or -EPROTO (broken). */
static int p9_frame(struct vq_9p_conn *c, struct p9_req *r, uint64_t req_len)
{
	uint8_t h[P9_HDR];
	struct p9_rd rd = { .p = h, .len = sizeof(h) };

	if (req_len < P9_HDR) {
		vq__p9_log(c, "9p: request of %llu bytes, shorter than a header",
			   (unsigned long long)req_len);
		return -EPROTO;
	}
	iov_copy(r->req, r->req_n, 0, h, sizeof(h), false);
	r->size = p9_rd_u32(&rd);
	r->type = p9_rd_u8(&rd);
	r->tag = p9_rd_u16(&rd);
	if (r->size < P9_HDR || r->size > req_len || r->size > c->msize) {
		vq__p9_log(c, "9p: size field %u (request %llu bytes, msize %u)", r->size,
			   (unsigned long long)req_len, c->msize);
		return -EPROTO;
	}
	return 0;
}

/* Gather the body: Twrite's fixed part only (its data stays in place). */
static int p9_gather(struct vq_9p_conn *c, struct p9_req *r)
{
	uint32_t n = r->size;

	if (r->type == P9_TWRITE)
		n = n < P9_IOHDR ? n : P9_IOHDR;
	else if (n > P9_LINEAR_MAX) {
		vq__p9_log(c, "9p: type %u message of %u bytes", r->type, n);
		return -EINVAL;
	}
	iov_copy(r->req, r->req_n, 0, c->msg, n, false);
	r->rd = (struct p9_rd){ .p = c->msg + P9_HDR, .len = n - P9_HDR };
	return 0;
}

static int p9_reply(struct p9_req *r, int err)
{
	if (err < 0) {
		r->wr.off = 0;
		r->wr.bad = false;
		r->data_len = 0;
		p9_wr_hdr(&r->wr, P9_RLERROR, r->tag);
		p9_wr_u32(&r->wr, (uint32_t)-err);
	}
	if (r->wr.bad) /* a handler's reply overflowed: cannot happen by design */
		return p9_reply(r, -ENOBUFS);
	uint32_t total = (uint32_t)r->wr.off + r->data_len;

	p9_wr_set_size(&r->wr, total);
	iov_copy(r->resp, r->resp_n, 0, r->wr.p, r->wr.off, true);
	return (int)total;
}

int vq_9p_conn_handle(struct vq_9p_conn *c, const struct iovec *req, unsigned req_n,
		      const struct iovec *resp, unsigned resp_n)
{
	struct p9_req r = { .c = c, .s = c->s, .req = req, .req_n = req_n,
			    .resp = resp, .resp_n = resp_n };
	uint64_t cap = vq__p9_iov_len(resp, resp_n);
	int err;

	if (c->broken)
		return -EPROTO;
	if (cap < P9_RLERROR_LEN)
		return -ENOBUFS;
	if (p9_frame(c, &r, vq__p9_iov_len(req, req_n))) {
		c->broken = true;
		return -EPROTO;
	}
	r.resp_cap = cap < c->msize ? cap : c->msize;
	r.wr = (struct p9_wr){ .p = c->out,
			       .cap = r.resp_cap < P9_OUT_CAP ? r.resp_cap : P9_OUT_CAP };
	err = p9_gather(c, &r);
	p9_wr_hdr(&r.wr, (uint8_t)(r.type + 1), r.tag);
	if (!err)
		err = p9_dispatch(&r);
	return p9_reply(&r, err);
}
