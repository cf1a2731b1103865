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

	unsigned n = atomic_fetch_add(&c->nlog, 1);

	if (n > VQ_9P_LOG_BURST)
		return;
	if (n == VQ_9P_LOG_BURST) {
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

/* Call fn on each piece of [off, off + len) of the segments, in order. */
static void iov_walk(const struct iovec *v, unsigned n, uint64_t off, uint64_t len,
		     void (*fn)(void *arg, uint8_t *p, size_t take), void *arg)
{
	for (unsigned i = 0; i < n && len; i++) {
		if (off >= v[i].iov_len) {
			off -= v[i].iov_len;
			continue;
		}
		size_t take = v[i].iov_len - off;

		if (take > len)
			take = len;
		fn(arg, (uint8_t *)v[i].iov_base + off, take);
		len -= take;
		off = 0;
	}
}

static void slice_piece(void *arg, uint8_t *p, size_t take)
{
	struct p9_ctx *x = arg;

	x->iov[x->iov_n++] = (struct iovec){ p, take };
}

int vq__p9_iov_slice(struct p9_ctx *x, const struct iovec *v, unsigned n,
		     uint64_t off, uint64_t len)
{
	if (n > x->iov_cap) {
		struct iovec *nv = realloc(x->iov, n * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		x->iov = nv;
		x->iov_cap = n;
	}
	x->iov_n = 0;
	iov_walk(v, n, off, len, slice_piece, x);
	return (int)x->iov_n;
}

struct copy_arg {
	uint8_t *b;
	bool to_iov;
};

static void copy_piece(void *arg, uint8_t *p, size_t take)
{
	struct copy_arg *c = arg;

	if (c->to_iov)
		memcpy(p, c->b, take);
	else
		memcpy(c->b, p, take);
	c->b += take;
}

void vq__p9_iov_copy(const struct iovec *v, unsigned n, uint64_t off, void *buf,
		     size_t len, bool to_iov)
{
	iov_walk(v, n, off, len, copy_piece, &(struct copy_arg){ buf, to_iov });
}

/* ---- per-thread scratch */

int vq__p9_ctx_init(struct p9_ctx *x)
{
	*x = (struct p9_ctx){ 0 };
	x->msg = malloc(P9_LINEAR_MAX);
	x->out = malloc(P9_OUT_CAP);
	x->dents = malloc(P9_OUT_CAP);
	if (x->msg && x->out && x->dents)
		return 0;
	vq__p9_ctx_fini(x);
	return -ENOMEM;
}

void vq__p9_ctx_fini(struct p9_ctx *x)
{
	vq__p9_io_fini(x);
	free(x->iov);
	free(x->dents);
	free(x->out);
	free(x->msg);
	*x = (struct p9_ctx){ 0 };
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
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->conns_mx, NULL);
	s->readonly = p->readonly;
	s->no_uring = p->no_uring;
	s->creds = !p->no_creds && geteuid() == 0;
	s->max_msize = p->max_msize ? p->max_msize : VQ_9P_MAX_MSIZE;
	if (s->max_msize > VQ_9P_MAX_MSIZE)
		s->max_msize = VQ_9P_MAX_MSIZE;
	s->max_fids = p->max_fids ? p->max_fids : VQ_9P_MAX_FIDS;
	s->log = p->log;
	s->log_opaque = p->log_opaque;
	s->tag = strdup(tag);
	s->export_dir = strdup(p->export_dir);
	err = (s->tag && s->export_dir) ? server_open_root(s, p->export_dir) : -ENOMEM;
	if (!err)
		err = vq__p9_creds_init(s);
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
	vq__p9_creds_fini(s);
	free(s->export_real);
	free(s->export_dir);
	free(s->tag);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->conns_mx);
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
	if (vq__p9_ctx_init(&c->ictx)) {
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->conns_mx);
	c->next = s->conns;
	s->conns = c;
	pthread_mutex_unlock(&s->conns_mx);
	*out = c;
	return 0;
}

void vq_9p_conn_free(struct vq_9p_conn *c)
{
	struct vq_9p *s;

	if (!c)
		return;
	s = c->s;
	vq__p9_async_stop(c);
	pthread_mutex_lock(&s->conns_mx); /* no rename reaches these fids now */
	for (struct vq_9p_conn **pp = &s->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->conns_mx);
	vq__p9_fid_clear(c);
	vq__p9_ctx_fini(&c->ictx);
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
	uint32_t uid, gid;
	char *root;
	int err;

	P9_END(r);
	if (afid != P9_NOFID)
		return -EBADF; /* no authentication: no afid is valid */
	if (!aname_is_export(r->s, aname))
		return -ENOENT;
	if (fstat(r->s->rootfd, &st) < 0)
		return -errno;
	uid = attach_uid(uname, n_uname);
	err = vq__p9_user_attach(r->s, uid, &gid);
	if (err)
		return err;
	root = strdup("");
	if (!root)
		return -ENOMEM;
	err = vq__p9_fid_add(r->c, fid, uid, gid, root, &f);
	if (err)
		return err;
	vq__p9_qid(r->s, &st, &q);
	p9_wr_qid(&r->wr, &q);
	return 0;
}

/* The synchronous path: every request was answered before this one.  The
 * asynchronous path handles Tflush itself (p9_async.c). */
static int p9_flush(struct p9_req *r)
{
	(void)p9_rd_u16(&r->rd); /* oldtag */
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
	bool excl;    /* changes a fid table or a path: the lock exclusive */
};

static const struct p9_op p9_ops[256] = {
	[P9_TVERSION]     = { p9_version, false, true },
	[P9_TAUTH]        = { p9_unsupported, false, false },
	[P9_TATTACH]      = { p9_attach, false, true },
	[P9_TFLUSH]       = { p9_flush, false, false },
	[P9_TCLUNK]       = { p9_clunk, false, true },
	[P9_TWALK]        = { vq__p9_walk, false, true },
	[P9_TLOPEN]       = { vq__p9_lopen, false, true },
	[P9_TLCREATE]     = { vq__p9_lcreate, true, true },
	[P9_TREAD]        = { vq__p9_read, false, false },
	[P9_TWRITE]       = { vq__p9_write, true, false },
	[P9_TREADDIR]     = { vq__p9_readdir, false, false },
	[P9_TGETATTR]     = { vq__p9_getattr, false, false },
	[P9_TSETATTR]     = { vq__p9_setattr, true, false },
	[P9_TSTATFS]      = { vq__p9_statfs, false, false },
	[P9_TMKDIR]       = { vq__p9_mkdir, true, false },
	[P9_TMKNOD]       = { vq__p9_mknod, true, false },
	[P9_TSYMLINK]     = { vq__p9_symlink, true, false },
	[P9_TREADLINK]    = { vq__p9_readlink, false, false },
	[P9_TLINK]        = { vq__p9_link, true, false },
	[P9_TRENAME]      = { vq__p9_rename, true, true },
	[P9_TRENAMEAT]    = { vq__p9_renameat, true, true },
	[P9_TUNLINKAT]    = { vq__p9_unlinkat, true, false },
	[P9_TREMOVE]      = { vq__p9_remove, false, true }, /* clunks even when refused */
	[P9_TFSYNC]       = { vq__p9_fsync, false, false },
	[P9_TLOCK]        = { vq__p9_lock, false, false },
	[P9_TGETLOCK]     = { vq__p9_getlock, false, false },
	[P9_TXATTRWALK]   = { vq__p9_xattrwalk, false, false },
	[P9_TXATTRCREATE] = { vq__p9_xattrcreate, false, false },
};

static int p9_dispatch(struct p9_req *r)
{
	const struct p9_op *op = &p9_ops[r->type];
	int err;

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
	if (op->excl)
		pthread_rwlock_wrlock(&r->s->lock);
	else
		pthread_rwlock_rdlock(&r->s->lock);
	err = vq__p9_creds_enter(r);
	if (!err)
		err = op->fn(r);
	vq__p9_creds_leave(r); /* the thread is root again between requests */
	pthread_rwlock_unlock(&r->s->lock);
	return err;
}

int vq__p9_frame(struct vq_9p_conn *c, const struct iovec *req, unsigned req_n,
		 uint32_t *size, uint8_t *type, uint16_t *tag)
{
	uint64_t req_len = vq__p9_iov_len(req, req_n);
	uint8_t h[P9_HDR];
	struct p9_rd rd = { .p = h, .len = sizeof(h) };

	if (req_len < P9_HDR) {
		vq__p9_log(c, "9p: request of %llu bytes, shorter than a header",
			   (unsigned long long)req_len);
		return -EPROTO;
	}
	vq__p9_iov_copy(req, req_n, 0, h, sizeof(h), false);
	*size = p9_rd_u32(&rd);
	*type = p9_rd_u8(&rd);
	*tag = p9_rd_u16(&rd);
	if (*size < P9_HDR || *size > req_len || *size > c->msize) {
		vq__p9_log(c, "9p: size field %u (request %llu bytes, msize %u)", *size,
			   (unsigned long long)req_len, c->msize);
		return -EPROTO;
	}
	return 0;
}

/* Gather the body: Twrite's fixed part only (its data stays in place). */
static int p9_gather(struct p9_req *r)
{
	uint32_t n = r->size;

	if (r->type == P9_TWRITE)
		n = n < P9_IOHDR ? n : P9_IOHDR;
	else if (n > P9_LINEAR_MAX) {
		vq__p9_log(r->c, "9p: type %u message of %u bytes", r->type, n);
		return -EINVAL;
	}
	vq__p9_iov_copy(r->req, r->req_n, 0, r->x->msg, n, false);
	r->rd = (struct p9_rd){ .p = r->x->msg + P9_HDR, .len = n - P9_HDR };
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
	vq__p9_iov_copy(r->resp, r->resp_n, 0, r->wr.p, r->wr.off, true);
	return (int)total;
}

/* A request m (framed) with scratch x, its reply not yet built. */
static int p9_req_init(struct vq_9p_conn *c, struct p9_ctx *x, const struct p9_slot *m,
		       struct p9_req *r)
{
	uint64_t cap = vq__p9_iov_len(m->resp, m->resp_n);

	if (cap < P9_RLERROR_LEN)
		return -ENOBUFS;
	*r = (struct p9_req){ .c = c, .s = c->s, .x = x, .type = m->type, .tag = m->tag,
			      .size = m->size, .req = m->req, .req_n = m->req_n,
			      .resp = m->resp, .resp_n = m->resp_n };
	r->resp_cap = cap < c->msize ? cap : c->msize;
	r->wr = (struct p9_wr){ .p = x->out,
				.cap = r->resp_cap < P9_OUT_CAP ? r->resp_cap : P9_OUT_CAP };
	p9_wr_hdr(&r->wr, (uint8_t)(r->type + 1), r->tag);
	return 0;
}

int vq__p9_serve(struct vq_9p_conn *c, struct p9_ctx *x, const struct p9_slot *m)
{
	struct p9_req r;
	int err = p9_req_init(c, x, m, &r);

	if (err)
		return err;
	err = p9_gather(&r);
	if (!err)
		err = p9_dispatch(&r);
	return p9_reply(&r, err);
}

int vq__p9_error_reply(struct vq_9p_conn *c, struct p9_ctx *x, const struct p9_slot *m,
		       int err)
{
	struct p9_req r;
	int e = p9_req_init(c, x, m, &r);

	return e ? e : p9_reply(&r, err);
}

int vq_9p_conn_handle(struct vq_9p_conn *c, const struct iovec *req, unsigned req_n,
		      const struct iovec *resp, unsigned resp_n)
{
	struct p9_slot m = { .req = req, .req_n = req_n, .resp = resp, .resp_n = resp_n };

	if (c->broken)
		return -EPROTO;
	if (vq__p9_iov_len(resp, resp_n) < P9_RLERROR_LEN)
		return -ENOBUFS;
	if (vq__p9_frame(c, req, req_n, &m.size, &m.type, &m.tag)) {
		c->broken = true;
		return -EPROTO;
	}
	return vq__p9_serve(c, &c->ictx, &m);
}
