/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the 9P2000.L message decoder and server
 * (vq_9p_conn_handle), on a scratch export in /tmp.
 *
 * Each input is a session: Tversion (msize 64 KiB) and Tattach (fid 1) are
 * sent first so that the fuzzer reaches every handler, then messages:
 *   u8 flags  bit0: keep the fuzzer's size field (else it is set to the
 *             message length, so framing passes); bits1-2: response
 *             segments (1..3)
 *   u16 resp  response capacity (% 8192)
 *   u16 n     message bytes (% 4096), then the bytes
 * Every request and response segment is its own exact-size heap block, so
 * ASan sees any access outside it.  Invariants: a response fits its
 * segments and msize, carries the request's tag, is R(type) or Rlerror
 * with a non-zero errno, and its size field is the returned length;
 * -EPROTO leaves the connection broken, -ENOBUFS only when fewer than 11
 * bytes were given.
 */
#include <errno.h>
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

/* Send one message (copied into an exact-size block); check the answer. */
static void msg_send(struct vq_9p_conn *c, const uint8_t *m, size_t n, uint32_t cap, unsigned nseg)
{
	uint8_t *req = malloc(n ? n : 1), *seg[3] = { NULL, NULL, NULL };
	struct iovec rv = { req, n }, sv[3];
	uint32_t left = cap;
	int r;

	memcpy(req, m, n);
	for (unsigned i = 0; i < nseg; i++) {
		uint32_t l = i + 1 < nseg ? left / (nseg - i) : left;

		seg[i] = malloc(l ? l : 1);
		sv[i] = (struct iovec){ seg[i], l };
		left -= l;
	}
	r = vq_9p_conn_handle(c, &rv, 1, sv, nseg);
	if (r == -EPROTO) {
		FZ_CHECK(vq_9p_conn_is_broken(c), "EPROTO without breaking the connection");
	} else if (r == -ENOBUFS) {
		FZ_CHECK(cap < P9_RLERROR_LEN, "ENOBUFS with %u bytes of room", cap);
	} else {
		uint8_t h[P9_RLERROR_LEN] = { 0 };
		size_t k = 0;

		FZ_CHECK(r >= (int)P9_HDR && (uint32_t)r <= cap && (uint32_t)r <= vq_9p_conn_msize(c),
			 "response %d, room %u, msize %u", r, cap, vq_9p_conn_msize(c));
		for (unsigned i = 0; i < nseg && k < sizeof(h); i++)
			for (size_t j = 0; j < sv[i].iov_len && k < sizeof(h); j++)
				h[k++] = seg[i][j];
		struct p9_rd rd = { .p = h, .len = k };
		uint32_t size = p9_rd_u32(&rd);
		uint8_t type = p9_rd_u8(&rd);
		uint16_t tag = p9_rd_u16(&rd);

		FZ_CHECK(size == (uint32_t)r, "size field %u, returned %d", size, r);
		FZ_CHECK(n >= P9_HDR && tag == (m[5] | m[6] << 8), "tag %u", tag);
		FZ_CHECK(type == (uint8_t)(m[4] + 1) || (type == P9_RLERROR && p9_rd_u32(&rd)),
			 "type %u for %u", type, m[4]);
	}
	for (unsigned i = 0; i < nseg; i++)
		free(seg[i]);
	free(req);
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

	if (!server)
		setup();
	if (vq_9p_conn_new(server, &c))
		abort();
	start(c);
	while (fz_left(&f) && !vq_9p_conn_is_broken(c)) {
		uint8_t flags = fz_u8(&f);
		uint32_t cap = fz_u16(&f) % 8192u;
		size_t n = fz_u16(&f) % sizeof(m), got;
		const uint8_t *b = fz_take(&f, n, &got);

		memcpy(m, b, got);
		if (!(flags & 1) && got >= 4) {
			m[0] = (uint8_t)got, m[1] = (uint8_t)(got >> 8), m[2] = 0, m[3] = 0;
		}
		msg_send(c, m, got, cap, 1 + ((flags >> 1) % 3));
	}
	vq_9p_conn_free(c);
	return 0;
}
