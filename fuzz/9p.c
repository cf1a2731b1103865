/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the 9P2000.L message decoder and server, on a scratch
 * export in /tmp, through both paths: vq_9p_conn_handle (synchronous) and
 * vq_9p_conn_submit to a pool of workers (vq_9p_conn_start; tags in flight
 * at once, Tflush of queued and running requests, vq_9p_conn_drain).
 *
 * Each input is a session: Tversion (msize 64 KiB) and Tattach (fid 1) are
 * sent first so that the fuzzer reaches every handler, then messages:
 *   u8 flags  bit0: keep the fuzzer's size field (else it is set to the
 *             message length, so framing passes); bits1-2: response
 *             segments (1..3); bit3: submit it to the workers (started at
 *             the first such message: 2 workers, 8 tags); bit4 (with bit3):
 *             leave it in flight, else drain before the next message
 *   u16 resp  response capacity (% 8192)
 *   u16 n     message bytes (% 4096), then the bytes
 * A synchronous message first drains what is in flight, so handle never
 * runs beside the workers, and only bit4 runs requests concurrently: an
 * input without it replays the same way every time (with it, whether a
 * Tflush finds its target still queued, running or done depends on the
 * workers; every outcome is checked the same way).
 *
 * Every request and response segment is its own exact-size heap block, so
 * ASan sees any access outside it.  Invariants, for either path: a response
 * fits its segments and msize, carries the request's tag, is R(type) or
 * Rlerror with a non-zero errno (a flushed request: Rlerror EINTR), and its
 * size field is the returned length; -EPROTO leaves the connection broken,
 * -ENOBUFS only when fewer than 11 bytes were given; every submitted
 * request is answered exactly once (done), unless submit refused it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <virtq/9p.h>

#include "devices/9p/p9_wire.h"
#include "fuzz.h"

static struct vq_9p *server;
static char export_root[64];

static void quiet(void *opaque, const char *line)
{
	(void)opaque;
	(void)line;
}

static void cleanup(void)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", export_root);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz 9p: could not remove %s\n", export_root);
}

static void setup(void)
{
	struct vq_9p_params p = { .log = quiet, .max_fids = 64 };
	char path[128];
	FILE *f;

	snprintf(export_root, sizeof(export_root), "/tmp/virtq-fuzz-9p.XXXXXX");
	if (!mkdtemp(export_root))
		abort();
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/sub", export_root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/sub/file", export_root);
	f = fopen(path, "w");
	if (f) {
		fputs("0123456789", f);
		fclose(f);
	}
	p.export_dir = export_root;
	if (vq_9p_new(&p, &server))
		abort();
}

/* One message in flight: the request and response blocks, and what the
 * answer is checked against.  Freed once answered. */
struct msg {
	uint8_t *req, *seg[3];
	struct iovec rv, sv[3];
	unsigned nseg;
	uint32_t cap, msize; /* msize when sent: only Tversion changes it, and
			      * it waits for everything in flight first */
	atomic_bool answered;
};

static atomic_uint answers; /* done calls of the current session */

static struct msg *msg_new(struct vq_9p_conn *c, const uint8_t *m, size_t n, uint32_t cap,
			   unsigned nseg)
{
	struct msg *g = calloc(1, sizeof(*g));
	uint32_t left = cap;

	if (!g || !(g->req = malloc(n ? n : 1)))
		abort();
	memcpy(g->req, m, n);
	g->rv = (struct iovec){ g->req, n };
	g->nseg = nseg;
	g->cap = cap;
	g->msize = vq_9p_conn_msize(c);
	for (unsigned i = 0; i < nseg; i++) {
		uint32_t l = i + 1 < nseg ? left / (nseg - i) : left;

		if (!(g->seg[i] = malloc(l ? l : 1)))
			abort();
		g->sv[i] = (struct iovec){ g->seg[i], l };
		left -= l;
	}
	return g;
}

static void msg_free(struct msg *g)
{
	for (unsigned i = 0; i < g->nseg; i++)
		free(g->seg[i]);
	free(g->req);
	free(g);
}

/* A response of r bytes to g: the invariants above. */
static void msg_check(const struct msg *g, int r)
{
	const uint8_t *m = g->req;
	uint8_t h[P9_RLERROR_LEN] = { 0 };
	size_t k = 0, n = g->rv.iov_len;

	FZ_CHECK(r >= (int)P9_HDR && (uint32_t)r <= g->cap && (uint32_t)r <= g->msize,
		 "response %d, room %u, msize %u", r, g->cap, g->msize);
	for (unsigned i = 0; i < g->nseg && k < sizeof(h); i++)
		for (size_t j = 0; j < g->sv[i].iov_len && k < sizeof(h); j++)
			h[k++] = g->seg[i][j];
	struct p9_rd rd = { .p = h, .len = k };
	uint32_t size = p9_rd_u32(&rd);
	uint8_t type = p9_rd_u8(&rd);
	uint16_t tag = p9_rd_u16(&rd);

	FZ_CHECK(size == (uint32_t)r, "size field %u, returned %d", size, r);
	FZ_CHECK(n >= P9_HDR && tag == (m[5] | m[6] << 8), "tag %u", tag);
	FZ_CHECK(type == (uint8_t)(m[4] + 1) || (type == P9_RLERROR && p9_rd_u32(&rd)),
		 "type %u for %u", type, m[4]);
}

/* A refused message: -EPROTO breaks the connection, -ENOBUFS only when
 * the response cannot hold an Rlerror.  Returns false for anything else. */
static bool msg_refused(struct vq_9p_conn *c, const struct msg *g, int r)
{
	if (r == -EPROTO) {
		FZ_CHECK(vq_9p_conn_is_broken(c), "EPROTO without breaking the connection");
		return true;
	}
	if (r == -ENOBUFS) {
		FZ_CHECK(g->cap < P9_RLERROR_LEN, "ENOBUFS with %u bytes of room", g->cap);
		return true;
	}
	return false;
}

/* Send one message synchronously (copied into exact-size blocks); check
 * the answer. */
static void msg_send(struct vq_9p_conn *c, const uint8_t *m, size_t n, uint32_t cap, unsigned nseg)
{
	struct msg *g = msg_new(c, m, n, cap, nseg);
	int r = vq_9p_conn_handle(c, &g->rv, 1, g->sv, nseg);

	if (!msg_refused(c, g, r))
		msg_check(g, r);
	msg_free(g);
}

/* The workers' answer to a submitted message (any thread). */
static void on_done(void *opaque, void *cookie, int len)
{
	struct msg *g = cookie;

	(void)opaque;
	FZ_CHECK(!atomic_exchange(&g->answered, true), "a request answered twice");
	msg_check(g, len);
	msg_free(g);
	atomic_fetch_add(&answers, 1);
}

/* Submit one message to the workers; its check runs in on_done. */
static void msg_submit(struct vq_9p_conn *c, const uint8_t *m, size_t n, uint32_t cap,
		       unsigned nseg, unsigned *submitted)
{
	struct msg *g = msg_new(c, m, n, cap, nseg);
	int r = vq_9p_conn_submit(c, &g->rv, 1, g->sv, nseg, g);

	if (r == 0) {
		(*submitted)++;
		return;
	}
	FZ_CHECK(msg_refused(c, g, r), "submit returned %d", r);
	msg_free(g);
}

static void start_workers(struct vq_9p_conn *c)
{
	struct vq_9p_async_params ap = { .workers = 2, .max_tags = 8, .done = on_done };

	if (vq_9p_conn_start(c, &ap))
		abort();
}

static void start(struct vq_9p_conn *c)
{
	uint8_t m[64];
	struct p9_wr w = { .p = m, .cap = sizeof(m) };

	p9_wr_hdr(&w, P9_TVERSION, P9_NOTAG);
	p9_wr_u32(&w, 65536);
	p9_wr_str(&w, P9_VERSION_L);
	p9_wr_set_size(&w, (uint32_t)w.off);
	msg_send(c, m, w.off, 256, 1);
	w = (struct p9_wr){ .p = m, .cap = sizeof(m) };
	p9_wr_hdr(&w, P9_TATTACH, 1);
	p9_wr_u32(&w, 1);
	p9_wr_u32(&w, P9_NOFID);
	p9_wr_str(&w, "root");
	p9_wr_str(&w, "");
	p9_wr_u32(&w, 0);
	p9_wr_set_size(&w, (uint32_t)w.off);
	msg_send(c, m, w.off, 256, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct vq_9p_conn *c;
	uint8_t m[4096];
	unsigned submitted = 0;
	bool workers = false;

	if (!server)
		setup();
	if (vq_9p_conn_new(server, &c))
		abort();
	atomic_store(&answers, 0);
	start(c);
	while (fz_left(&f) && !vq_9p_conn_is_broken(c)) {
		uint8_t flags = fz_u8(&f);
		uint32_t cap = fz_u16(&f) % 8192u;
		size_t n = fz_u16(&f) % sizeof(m), got;
		const uint8_t *b = fz_take(&f, n, &got);
		unsigned nseg = 1 + ((flags >> 1) % 3);

		memcpy(m, b, got);
		if (!(flags & 1) && got >= 4) {
			m[0] = (uint8_t)got, m[1] = (uint8_t)(got >> 8), m[2] = 0, m[3] = 0;
		}
		if (!(flags & 8)) {
			if (workers)
				vq_9p_conn_drain(c);
			msg_send(c, m, got, cap, nseg);
			continue;
		}
		if (!workers) {
			start_workers(c);
			workers = true;
		}
		msg_submit(c, m, got, cap, nseg, &submitted);
		if (!(flags & 16))
			vq_9p_conn_drain(c);
	}
	if (workers)
		vq_9p_conn_drain(c);
	vq_9p_conn_free(c); /* flushes whatever a broken connection left */
	FZ_CHECK(atomic_load(&answers) == submitted, "%u submitted, %u answered", submitted,
		 atomic_load(&answers));
	return 0;
}
