/* SPDX-License-Identifier: MIT */
/*
 * virtq-9p over vhost-user.
 *
 * Server: the 9p device model (vq_9p_dev) served by vq_vu_serve on the
 * library's epoll loop; a kick pops chains on that thread and the
 * session's V9_VU_WORKERS workers answer them, many at once.
 *
 * Client: a transport for the 9p client over a vq_fe (our frontend): one
 * queue; a request is one chain, its readable part the request segments,
 * its writable part the response segments.  Segments already in the
 * frontend's shared memory (v9_vu_alloc) go on the ring as they are (zero
 * copy); others are copied through a bounce area in shared memory.  With
 * VQ_F_LARGE_CHAIN negotiated a chain may hold V9_MAX_CHAIN descriptors
 * (a 128 MiB request of 4 KiB pages); without it the client keeps to the
 * spec's limit, the queue size (max_segs), and splits reads.
 */
#include <errno.h>
#include <linux/virtio_9p.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/frontend.h>
#include <virtq/vhost_user.h>

#include "devices/9p/p9_wire.h"
#include "v9.h"

#define V9_QSIZE     128u
#define V9_MAX_CHAIN 33000u /* 32768 pages + headers + an unaligned page */
#define V9_VU_WORKERS 4u     /* serve: chains answered at once by the session */

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

int v9_serve_vu(const struct v9_opts *o)
{
	struct vq_9p_params p = { .export_dir = o->export_dir, .tag = o->tag,
				  .readonly = o->readonly, .max_msize = o->msize,
				  .no_uring = o->no_uring };
	struct sigaction sa = { .sa_handler = on_signal };
	struct vq_vu_backend *b = NULL;
	struct vq_vu_loop *loop = NULL;
	struct vq_9p_dev *d = NULL;
	struct vq_9p *s = NULL;
	int err;

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	vqt_log_library(false);
	err = vq_9p_new(&p, &s);
	if (!err)
		err = vq_9p_dev_new(&(struct vq_9p_dev_params){ .server = s,
								.large_chain = !o->no_large_chain,
								.workers = V9_VU_WORKERS },
				    &d);
	if (!err)
		err = vq_vu_loop_new(&loop);
	if (!err) {
		struct vq_vu_serve_params sp = {
			.name = "9p", .mode = VQ_VU_SERVER, .path = o->socket, .listen_fd = -1,
			.device = vq_9p_dev_device(d), .loop_ops = vq_vu_loop_ops(), .loop = loop,
		};
		err = vq_vu_serve(&sp, &b);
	}
	if (err) {
		vqt_log(VQT_LOG_ERR, "cannot serve %s on %s: %s", o->export_dir, o->socket,
			strerror(-err));
	} else {
		vqt_log(VQT_LOG_INFO, "serving %s%s (tag %s, large chains %s) on vhost-user %s",
			o->export_dir, o->readonly ? " read-only" : "", vq_9p_tag(s),
			o->no_large_chain ? "off" : "on", o->socket);
		while (!quit && (err = vq_vu_loop_run(loop, 500)) >= 0)
			;
		uint64_t served, dropped;

		vq_9p_dev_stats(d, &served, &dropped);
		vqt_log(VQT_LOG_INFO, "stopping: %llu requests served, %llu dropped",
			(unsigned long long)served, (unsigned long long)dropped);
		err = 0;
	}
	vq_vu_backend_free(b);
	vq_vu_loop_free(loop);
	vq_9p_dev_free(d);
	vq_9p_free(s);
	return err ? 1 : 0;
}

/* ---- client transport */

struct v9_vu {
	struct vq_fe *fe;
	uint8_t *bounce;
	size_t bounce_cap;
	struct vq_seg *segs;
	unsigned segs_cap;
	uint8_t *lo, *hi; /* what v9_vu_alloc handed out */
	bool large;
};

void *v9_vu_alloc(struct v9_vu *v, size_t size)
{
	uint8_t *p = vq_fe_alloc(v->fe, size, 4096);

	if (p) {
		if (!v->lo || p < v->lo)
			v->lo = p;
		if (p + size > v->hi)
			v->hi = p + size;
	}
	return p;
}

static bool is_shared(const struct v9_vu *v, const struct iovec *s)
{
	const uint8_t *p = s->iov_base;

	return v->lo && p >= v->lo && p < v->hi && s->iov_len <= (size_t)(v->hi - p);
}

/* Room for n segments in v->segs: 0 or -ENOMEM. */
static int segs_reserve(struct v9_vu *v, unsigned n)
{
	struct vq_seg *ns;

	if (n <= v->segs_cap)
		return 0;
	if (!(ns = realloc(v->segs, n * sizeof(*ns))))
		return -ENOMEM;
	v->segs = ns;
	v->segs_cap = n;
	return 0;
}

/* Segments for the chain; non-shared ones through the bounce area. */
static int v9_vu_segs(struct v9_vu *v, const struct iovec *req, unsigned rn,
		      const struct iovec *resp, unsigned sn)
{
	size_t off = 0;

	if (segs_reserve(v, rn + sn) < 0)
		return -ENOMEM;
	for (unsigned i = 0; i < rn + sn; i++) {
		const struct iovec *s = i < rn ? &req[i] : &resp[i - rn];
		uint8_t *p = s->iov_base;

		if (s->iov_len > UINT32_MAX)
			return -EMSGSIZE;
		if (!is_shared(v, s)) {
			if (s->iov_len > v->bounce_cap - off)
				return -EMSGSIZE;
			p = v->bounce + off;
			if (i < rn)
				memcpy(p, s->iov_base, s->iov_len);
			off = (off + s->iov_len + 63) & ~(size_t)63;
		}
		v->segs[i] = (struct vq_seg){ vq_fe_addr(v->fe, p), (uint32_t)s->iov_len };
	}
	return 0;
}

/* Copy len answered bytes back into the non-shared response segments. */
static void v9_vu_copy_back(struct v9_vu *v, unsigned rn, const struct iovec *resp,
			    unsigned sn, uint32_t len)
{
	for (unsigned i = 0; i < sn && len; i++) {
		size_t k = resp[i].iov_len < len ? resp[i].iov_len : len;

		if (!is_shared(v, &resp[i]))
			memcpy(resp[i].iov_base, (void *)(uintptr_t)v->segs[rn + i].addr, k);
		len -= (uint32_t)k;
	}
}

int v9_vu_rpc(void *ctx, const struct iovec *req, unsigned rn, const struct iovec *resp,
	      unsigned sn)
{
	struct v9_vu *v = ctx;
	struct vq_drv *q = vq_fe_queue(v->fe, 0);
	void *tok;
	uint32_t len;
	int r;

	if (!q)
		return -ENOTCONN;
	r = v9_vu_segs(v, req, rn, resp, sn);
	if (!r)
		r = vq_drv_add(q, v->segs, rn, sn, v);
	if (r)
		return r;
	if (vq_drv_kick_prepare(q))
		vq_fe_kick(v->fe, 0);
	for (unsigned waits = 0; (r = vq_drv_get(q, &tok, &len)) == 0; waits++) {
		if (waits > 30 || vq_fe_poll(v->fe) != VQ_FE_READY)
			return waits > 30 ? -ETIMEDOUT : -ENOTCONN;
		vq_fe_wait(v->fe, 0, 1000);
	}
	if (r < 0 || tok != v)
		return r < 0 ? r : -EPROTO;
	v9_vu_copy_back(v, rn, resp, sn, len);
	return (int)len;
}

int v9_vu_open(const struct v9_opts *o, size_t extra, struct v9_vu **out,
	       struct vq_9p_client_transport *t)
{
	uint32_t msize = o->msize ? o->msize : (512u << 10);
	struct v9_vu *v = calloc(1, sizeof(*v));
	struct vq_fe_params fp = {
		.path = o->socket, .mode = VQ_FE_CLIENT,
		.features = VQ_F_VERSION_1 | VQ_F_INDIRECT | VQ_F_EVENT_IDX |
			    (1ull << VIRTIO_9P_MOUNT_TAG) | (o->packed ? VQ_F_PACKED : 0) |
			    (o->no_large_chain ? 0 : VQ_F_LARGE_CHAIN),
		.required_features = VQ_F_VERSION_1 | (o->packed ? VQ_F_PACKED : 0),
		.num_queues = 1, .queue_size = V9_QSIZE,
		.indirect_tables = V9_STREAM_MAX,
		.indirect_len = o->no_large_chain ? V9_QSIZE : V9_MAX_CHAIN,
		.max_chain = V9_MAX_CHAIN, .timeout_ms = 5000,
	};
	int err;

	if (!v)
		return -ENOMEM;
	v->bounce_cap = (size_t)msize + 2 * 65536 + 8192; /* data + the client's 64 KiB buffers */
	fp.mem_size = v->bounce_cap + extra + (1u << 20);
	err = vq_fe_new(&fp, &v->fe);
	if (!err)
		err = vq_fe_connect(v->fe);
	if (!err && !(v->bounce = vq_fe_alloc(v->fe, v->bounce_cap, 4096)))
		err = -ENOMEM;
	if (err) {
		if (v->fe && *vq_fe_error(v->fe))
			vqt_log(VQT_LOG_ERR, "vhost-user %s: %s", o->socket, vq_fe_error(v->fe));
		v9_vu_close(v);
		return err;
	}
	v->large = vq_fe_features(v->fe) & VQ_F_LARGE_CHAIN;
	*t = (struct vq_9p_client_transport){ v9_vu_rpc, v, v->large ? V9_MAX_CHAIN : V9_QSIZE };
	*out = v;
	return 0;
}

bool v9_vu_has_large_chain(const struct v9_vu *v)
{
	return v->large;
}

unsigned v9_vu_max_segs(const struct v9_vu *v)
{
	return v->large ? V9_MAX_CHAIN : V9_QSIZE;
}

void v9_vu_close(struct v9_vu *v)
{
	if (!v)
		return;
	vq_fe_free(v->fe);
	free(v->segs);
	free(v);
}

/* ---- random 4 KiB reads with qd requests in flight (raw Tread chains) */

struct qd_slot {
	uint8_t *req, *hdr, *page;
};

static int qd_submit(struct v9_vu *v, struct vq_drv *q, struct qd_slot *sl, unsigned i,
		     uint32_t fid, uint64_t off)
{
	struct p9_wr w = { .p = sl->req, .cap = P9_IOHDR };
	struct vq_seg segs[3] = {
		{ vq_fe_addr(v->fe, sl->req), 23 },
		{ vq_fe_addr(v->fe, sl->hdr), P9_RREAD_HDR },
		{ vq_fe_addr(v->fe, sl->page), 4096 },
	};

	p9_wr_hdr(&w, P9_TREAD, (uint16_t)(i + 1));
	p9_wr_u32(&w, fid);
	p9_wr_u64(&w, off);
	p9_wr_u32(&w, 4096);
	p9_wr_set_size(&w, 23);
	return vq_drv_add(q, segs, 1, 2, sl);
}

static bool qd_reply_is_ok(const struct qd_slot *sl, uint32_t len)
{
	struct p9_rd rd = { .p = sl->hdr, .len = P9_RREAD_HDR };

	return len == P9_RREAD_HDR + 4096 && p9_rd_u32(&rd) == len &&
	       p9_rd_u8(&rd) == P9_RREAD && p9_rd_u16(&rd) == sl->req[5] &&
	       p9_rd_u32(&rd) == 4096;
}

int v9_vu_bench_qd(struct v9_vu *v, uint32_t fid, uint64_t size, unsigned qd, double secs,
		   uint64_t *ops)
{
	struct vq_drv *q = vq_fe_queue(v->fe, 0);
	struct qd_slot sl[64];
	uint64_t rng = 88172645463325252ull, pages = size / 4096, end;
	void *tok;
	uint32_t len;
	int r = 0;

	if (!q || qd > 64 || !pages)
		return -EINVAL;
	for (unsigned i = 0; i < qd; i++) {
		sl[i].req = v9_vu_alloc(v, 64);
		sl[i].hdr = v9_vu_alloc(v, 64);
		sl[i].page = v9_vu_alloc(v, 4096);
		if (!sl[i].req || !sl[i].hdr || !sl[i].page)
			return -ENOMEM;
	}
	end = vqt_now_ns() + (uint64_t)(secs * 1e9);
	*ops = 0;
	for (unsigned i = 0; i < qd && !r; i++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		r = qd_submit(v, q, &sl[i], i, fid, (rng % pages) * 4096);
	}
	for (unsigned inflight = qd; !r && inflight;) {
		unsigned got = 0;

		if (vq_drv_kick_prepare(q)) /* publishes what was (re)submitted */
			vq_fe_kick(v->fe, 0);
		while (!r && (r = vq_drv_get(q, &tok, &len)) == 1) {
			struct qd_slot *s = tok;

			r = qd_reply_is_ok(s, len) ? 0 : -EPROTO;
			(*ops)++;
			got++;
			inflight--;
			if (!r && vqt_now_ns() < end) {
				rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
				r = qd_submit(v, q, s, (unsigned)(s - sl), fid, (rng % pages) * 4096);
				inflight++;
			}
		}
		if (!r && inflight && !got && !vq_drv_enable_notify(q) &&
		    !vq_fe_wait(v->fe, 0, 5000))
			r = -ETIMEDOUT;
	}
	return r < 0 ? r : 0;
}

/* ---- sequential reads with several Treads in flight (raw chains) */

struct seq_slot {
	uint8_t *req, *hdr;
	uint32_t count; /* bytes asked for */
	bool answered;
	uint32_t len; /* bytes the device says it wrote */
};

static int seq_submit(struct v9_vu *v, struct vq_drv *q, struct v9_stream *s,
		      struct seq_slot *sl, unsigned i, uint64_t off)
{
	unsigned n = s->nseg[i];
	struct p9_wr w = { .p = sl->req, .cap = P9_IOHDR };
	int r;

	if (segs_reserve(v, n + 2) < 0)
		return -ENOMEM;
	v->segs[0] = (struct vq_seg){ vq_fe_addr(v->fe, sl->req), P9_IOHDR };
	v->segs[1] = (struct vq_seg){ vq_fe_addr(v->fe, sl->hdr), P9_RREAD_HDR };
	sl->count = 0;
	for (unsigned k = 0; k < n; k++) {
		v->segs[2 + k] = (struct vq_seg){ vq_fe_addr(v->fe, s->buf[i][k].iov_base),
						  (uint32_t)s->buf[i][k].iov_len };
		sl->count += (uint32_t)s->buf[i][k].iov_len;
	}
	if (sl->count > s->size - off)
		sl->count = (uint32_t)(s->size - off); /* the device writes no more */
	p9_wr_hdr(&w, P9_TREAD, (uint16_t)(i + 1));
	p9_wr_u32(&w, s->fid);
	p9_wr_u64(&w, off);
	p9_wr_u32(&w, sl->count);
	p9_wr_set_size(&w, P9_IOHDR);
	sl->answered = false;
	r = vq_drv_add(q, v->segs, 1, n + 1, sl);
	return r == -ENOSPC ? -ENOBUFS : r; /* the queue was sized for qd chains */
}

/* The answer's count, or -EPROTO when the Rread does not match the Tread. */
static int64_t seq_reply(const struct seq_slot *sl)
{
	struct p9_rd rd = { .p = sl->hdr, .len = P9_RREAD_HDR };
	uint32_t size = p9_rd_u32(&rd), count;
	uint8_t type = p9_rd_u8(&rd);
	uint16_t tag = p9_rd_u16(&rd);

	count = p9_rd_u32(&rd);
	if (sl->len < P9_RREAD_HDR || size != sl->len || type != P9_RREAD ||
	    tag != (sl->req[5] | sl->req[6] << 8) || count != sl->len - P9_RREAD_HDR ||
	    count > sl->count)
		return -EPROTO;
	return count;
}

/* Reap every answer there is; false when none came. */
static int seq_reap(struct vq_drv *q, bool *got)
{
	void *tok;
	uint32_t len;
	int r;

	*got = false;
	while ((r = vq_drv_get(q, &tok, &len)) == 1) {
		struct seq_slot *sl = tok;

		sl->answered = true;
		sl->len = len;
		*got = true;
	}
	return r;
}

int v9_vu_bench_stream(struct v9_vu *v, struct v9_stream *s)
{
	struct vq_drv *q = vq_fe_queue(v->fe, 0);
	struct seq_slot sl[V9_STREAM_MAX];
	uint64_t sub = 0, done = 0, off = 0; /* requests submitted, consumed; next offset */
	bool end = false, got;
	int r = 0;

	if (!q || !s->qd || s->qd > V9_STREAM_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < s->qd; i++) {
		sl[i].req = v9_vu_alloc(v, 64);
		sl[i].hdr = v9_vu_alloc(v, 64);
		if (!sl[i].req || !sl[i].hdr || !s->nseg[i])
			return -ENOMEM;
	}
	s->bytes = 0;
	s->reqs = 0;
	while (!r && (done < sub || (!end && off < s->size))) {
		/* refill: request k always lives in slot k % qd, consumed in order */
		while (!r && !end && off < s->size && sub - done < s->qd) {
			struct seq_slot *x = &sl[sub % s->qd];

			r = seq_submit(v, q, s, x, (unsigned)(sub % s->qd), off);
			off += x->count;
			sub++;
		}
		if (!r && vq_drv_kick_prepare(q))
			vq_fe_kick(v->fe, 0);
		if (!r)
			r = seq_reap(q, &got);
		while (!r && done < sub && sl[done % s->qd].answered) {
			struct seq_slot *x = &sl[done % s->qd];
			int64_t n = seq_reply(x);

			done++;
			if (n < 0) {
				r = (int)n;
			} else if (!end) {
				s->consume(s->ctx, s->buf[(done - 1) % s->qd], s->nseg[(done - 1) % s->qd],
					   (uint64_t)n);
				s->bytes += (uint64_t)n;
				s->reqs++;
				end = (uint64_t)n < x->count; /* end of file: drain the rest */
			}
			got = true;
		}
		/* sleep only with notifications on and nothing pending (a used
		 * buffer published before they were on would not be signalled) */
		if (!r && done < sub && !got && !vq_drv_enable_notify(q) &&
		    !vq_fe_wait(v->fe, 0, 5000))
			r = -ETIMEDOUT;
	}
	return r < 0 ? r : 0;
}
