/* SPDX-License-Identifier: MIT */
/*
 * virtq-user blk: a virtio-blk driver over vhost-user (frontend.h +
 * blk_drv.h).  verify: write a pattern that names each block's offset and
 * the run, flush, read it back and compare, then WRITE_ZEROES/DISCARD when
 * offered.  fio: keep --qd requests in flight for --duration seconds and
 * print IOPS and MB/s once a second and at the end.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <virtq/blk_drv.h>
#include <virtq/frontend.h>

#include "vqu.h"

#define NS 1000000000ull
#define MAX_QD 1024u

enum rw { RW_RANDREAD, RW_READ, RW_RANDWRITE, RW_WRITE };

struct blkopt {
	const char *path;
	bool verify, packed, server, seeded, json;
	enum rw rw;
	uint64_t bs, size, seed;
	unsigned qd;
	double duration;
	int cpu;
};

struct blk {
	struct blkopt o;
	struct vq_fe *fe;
	struct vq_blkdrv *bd;
	struct vq_blkdrv_info info;
	uint64_t features;
	uint8_t *buf;           /* qd buffers of bs bytes */
	uint64_t *off;          /* offset of the request in slot i */
	uint32_t *freeslot, nfree;
	uint64_t nonce, rng, seq_off, nblocks;
	uint64_t ios, bytes, errors, mismatches, last_ios, last_bytes;
};

static const char usage[] =
"Usage: virtq-user blk --socket-path PATH [OPTIONS]\n"
"  -s, --socket-path PATH  vhost-user-blk socket of the backend (or --socket)\n"
"      --server          listen on PATH; the backend connects\n"
"  -m, --mode MODE       verify (write, read back, compare) or fio [verify]\n"
"      --rw KIND         fio: randread|read|randwrite|write [randread]\n"
"      --bs N            block size, a multiple of 512 up to 1M [4k]\n"
"      --qd N            requests in flight, 1-1024 [32]\n"
"  -d, --duration S      fio: seconds to run [10]\n"
"      --size BYTES      bytes of the disk to use [the whole disk, verify: <= 64M]\n"
"      --packed          packed rings\n"
"      --seed N          pattern seed [time]: the 64-bit LE word at byte offset x\n"
"                        of the disk is x ^ (N * 0x9e3779b97f4a7c15)\n"
"      --cpu N           pin the thread to CPU N\n"
"      --stats-json      fio: the per-second and total lines as JSON objects\n"
VQT_COMMON_HELP
"MB/s is 10^6 bytes per second.\n"
VQU_WAIT_HELP
"A disconnect ends the run (exit 1).\n";

static int parse_rw(const char *s, enum rw *out)
{
	static const char *names[] = { "randread", "read", "randwrite", "write" };

	for (unsigned i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*out = (enum rw)i;
			return 0;
		}
	return vqt_parse_fail("randread, read, randwrite or write");
}

static int parse_one(void *opt, int c, const char *arg)
{
	struct blkopt *o = opt;
	uint64_t v;

	switch (c) {
	case 's': o->path = arg; return 0;
	case VQU_OPT_SERVER: o->server = true; return 0;
	case VQT_OPT_STATS_JSON: o->json = true; return 0;
	case 'm':
		if (strcmp(arg, "verify") && strcmp(arg, "fio"))
			return vqt_parse_fail("verify or fio");
		o->verify = !strcmp(arg, "verify");
		return 0;
	case 'r': return parse_rw(arg, &o->rw);
	case 'b':
		if (vqt_parse_size(arg, &v) < 0)
			return -EINVAL;
		if (!v || v % 512 || v > (1u << 20))
			return vqt_parse_fail("a multiple of 512 up to 1M");
		o->bs = v;
		return 0;
	case 'q': return vqt_parse_uint(arg, 1, MAX_QD, &o->qd);
	case 'd': return vqt_parse_secs(arg, 0.001, 1e9, &o->duration);
	case 'z':
		if (vqt_parse_size(arg, &o->size) < 0)
			return -EINVAL;
		return o->size ? 0 : vqt_parse_fail("must not be 0");
	case 'P': o->packed = true; return 0;
	case 'e':
		o->seeded = true;
		return vqt_parse_u64(arg, 0, UINT64_MAX, &o->seed);
	case 'C': return vqt_parse_cpus(arg, &o->cpu, 1) < 0 ? -EINVAL : 0;
	}
	return vqt_parse_fail("unknown option");
}

static int parse(struct blkopt *o, int argc, char **argv)
{
	static const struct option lo[] = {
		VQU_COMMON_OPTIONS, { "mode", 1, NULL, 'm' },
		{ "rw", 1, NULL, 'r' }, { "bs", 1, NULL, 'b' }, { "qd", 1, NULL, 'q' },
		{ "duration", 1, NULL, 'd' }, { "size", 1, NULL, 'z' }, { "packed", 0, NULL, 'P' },
		{ "cpu", 1, NULL, 'C' }, { "seed", 1, NULL, 'e' },
		{ NULL, 0, NULL, 0 } };

	*o = (struct blkopt){ .verify = true, .bs = 4096, .qd = 32, .duration = 10, .cpu = -1 };
	const struct vqt_cli cli = {
		.prog = "virtq-user blk", .help = usage, .shortopts = "s:m:d:",
		.longopts = lo, .one = parse_one, .ctx = o,
	};

	return vqu_getopt(&cli, argc, argv, &o->path);
}

/* ---- setup */

static void on_queue(void *opaque, unsigned i, struct vq_drv *q, struct vq_drv *old)
{
	struct blk *b = opaque;

	if (b->bd)
		vq_blkdrv_set_queue(b->bd, i, q);
}

static uint64_t wanted(const struct blkopt *o)
{
	uint64_t f = VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_F_INDIRECT;

	f |= 1ull << VIRTIO_BLK_F_SIZE_MAX | 1ull << VIRTIO_BLK_F_SEG_MAX |
	     1ull << VIRTIO_BLK_F_BLK_SIZE | 1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_RO |
	     1ull << VIRTIO_BLK_F_TOPOLOGY | 1ull << VIRTIO_BLK_F_DISCARD |
	     1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	return o->packed ? f | VQ_F_PACKED : f;
}

static int connect_fe(struct blk *b)
{
	struct vq_fe_params c = {
		.path = b->o.path, .mode = b->o.server ? VQ_FE_SERVER : VQ_FE_CLIENT,
		.features = wanted(&b->o), .required_features = VQ_F_VERSION_1,
		.num_queues = 1, .queue_size = 256, .indirect_tables = 256, .indirect_len = 8,
		.mem_size = (size_t)b->o.qd * b->o.bs + (1u << 20), .timeout_ms = 5000,
		.queue_event = on_queue, .opaque = b,
	};
	int r;

	if ((r = vqu_fe_new(&c, &b->fe)) < 0)
		return r;
	return vqu_connect_wait(b->fe, b->o.path,
				b->o.server ? 60000 : 10000, b->o.server);
}

static int read_config(struct blk *b)
{
	uint8_t cfg[VQ_BLKDRV_CONFIG_BYTES];
	int r;

	b->features = vq_fe_features(b->fe);
	if ((r = vq_fe_get_config(b->fe, 0, cfg, sizeof(cfg))) < 0) {
		vqt_log(VQT_LOG_ERR, "GET_CONFIG: %s %s", strerror(-r),
			vq_fe_error(b->fe));
		return r;
	}
	if ((r = vq_blkdrv_parse_config(cfg, sizeof(cfg), b->features, &b->info)) < 0) {
		vqt_log(VQT_LOG_ERR, "bad config from the device");
		return r;
	}
	printf("virtq-user blk: %s: capacity %llu sectors (%.1f MiB), blk_size %u, seg_max %u, "
	       "size_max %u, num_queues %u%s%s, features 0x%llx (backend offers 0x%llx), %s rings\n",
	       b->o.path,
	       (unsigned long long)b->info.capacity, (double)b->info.capacity / 2048,
	       b->info.blk_size, b->info.seg_max, b->info.size_max, b->info.num_queues,
	       b->info.read_only ? ", read-only" : "", b->info.flush ? ", flush" : "",
	       (unsigned long long)b->features, (unsigned long long)vq_fe_backend_features(b->fe),
	       b->features & VQ_F_PACKED ? "packed" : "split");
	return 0;
}

static int setup(struct blk *b)
{
	struct vq_blkdrv_params p = {
		.features = b->features, .num_queues = 1, .queue_size = 256,
		.seg_max = b->info.seg_max, .alloc = vqu_fe_alloc, .kick = vqu_fe_kick, .ctx = b->fe,
	};
	uint64_t cap = b->info.capacity * VQ_BLK_SECTOR;
	int r;

	if (!b->o.size)
		b->o.size = b->o.verify && cap > (64u << 20) ? (64u << 20) : cap;
	if (b->o.size > cap)
		b->o.size = cap;
	b->nblocks = b->o.size / b->o.bs;
	if (!b->nblocks || b->o.bs % b->info.blk_size) {
		vqt_log(VQT_LOG_ERR, "--size/--bs do not fit the disk");
		return -EINVAL;
	}
	if ((r = vq_blkdrv_new(&p, &b->bd)) < 0)
		return r;
	vq_blkdrv_set_queue(b->bd, 0, vq_fe_queue(b->fe, 0));
	b->buf = vq_fe_alloc(b->fe, (size_t)b->o.qd * b->o.bs, 4096);
	b->off = calloc(b->o.qd, sizeof(*b->off));
	b->freeslot = calloc(b->o.qd, sizeof(*b->freeslot));
	if (!b->buf || !b->off || !b->freeslot)
		return -ENOMEM;
	for (unsigned i = 0; i < b->o.qd; i++)
		b->freeslot[b->nfree++] = i;
	b->nonce = b->o.seeded ? b->o.seed : vqt_now_ns();
	b->rng = b->nonce | 1;
	return 0;
}

/* ---- requests */

static void fill(const struct blk *b, uint8_t *p, uint64_t off)
{
	for (uint64_t i = 0; i < b->o.bs; i += 8) {
		uint64_t v = (off + i) ^ (b->nonce * 0x9e3779b97f4a7c15ull);

		memcpy(p + i, &v, 8);
	}
}

static int submit(struct blk *b, uint32_t type, uint64_t off)
{
	uint32_t s = b->freeslot[--b->nfree];
	uint8_t *p = b->buf + (size_t)s * b->o.bs;
	struct vq_seg seg = { vq_fe_addr(b->fe, p), (uint32_t)b->o.bs };
	struct vq_blkdrv_req r = { .type = type, .sector = off / 512, .data = &seg, .nseg = 1 };
	int rc;

	if (type == VIRTIO_BLK_T_OUT && (b->o.verify || b->o.rw == RW_WRITE || b->o.rw == RW_RANDWRITE))
		fill(b, p, off);
	b->off[s] = off;
	rc = vq_blkdrv_submit(b->bd, 0, &r, (void *)(uintptr_t)(s + 1));
	if (rc < 0)
		b->freeslot[b->nfree++] = s;
	return rc;
}

/* Why the device failed: the connection's error, else the ring's violation. */
static const char *fail_reason(const struct blk *b)
{
	struct vq_drv *q = vq_fe_queue(b->fe, 0);

	if (vq_fe_error(b->fe)[0])
		return vq_fe_error(b->fe);
	return q && vq_drv_is_broken(q) ? vq_drv_error(q) : "unknown";
}

/* Completions: check (verify reads), count, free slots.  -errno on a dead ring. */
static int reap(struct blk *b, bool check)
{
	struct vq_blkdrv_done d[64];
	static uint8_t want[1 << 20];
	int n = vq_blkdrv_poll(b->bd, 0, d, 64);

	for (int i = 0; i < n; i++) {
		uint32_t s = (uint32_t)((uintptr_t)d[i].token - 1);

		/* A single() request (token b) that single() gave up on (timeout,
		 * hang-up) completes or is failed here: it owns no slot. */
		if (d[i].token == (void *)b)
			continue;
		if (d[i].status) {
			if (b->errors++ < 5)
				vqt_log(VQT_LOG_ERR, "request at %llu: %s",
					(unsigned long long)b->off[s], strerror(-d[i].status));
		} else if (check) {
			fill(b, want, b->off[s]);
			if (memcmp(want, b->buf + (size_t)s * b->o.bs, b->o.bs) && b->mismatches++ < 5)
				vqt_log(VQT_LOG_ERR, "mismatch at offset %llu",
					(unsigned long long)b->off[s]);
		}
		b->ios++;
		b->bytes += b->o.bs;
		b->freeslot[b->nfree++] = s;
	}
	return n;
}

/* Keep qd in flight until every block of the region went through once. */
static int pass(struct blk *b, uint32_t type, bool check)
{
	uint64_t next = 0;

	while (!vqu_stop && (next < b->nblocks || b->nfree < b->o.qd)) {
		while (b->nfree && next < b->nblocks && submit(b, type, next * b->o.bs) == 0)
			next++;
		vq_blkdrv_kick(b->bd, 0);
		if (reap(b, check) < 0 || vq_fe_poll(b->fe) != VQ_FE_READY) {
			vqt_log(VQT_LOG_ERR, "device failed: %s", fail_reason(b));
			return -EIO;
		}
	}
	return 0;
}

/* One request on its own, waited for: its status. */
static int single(struct blk *b, const struct vq_blkdrv_req *r)
{
	struct vq_blkdrv_done d;
	uint64_t end = vqt_now_ns() + 5 * NS;
	int n = 0;

	if (vq_blkdrv_submit(b->bd, 0, r, b) < 0)
		return -EINVAL;
	vq_blkdrv_kick(b->bd, 0);
	while ((n = vq_blkdrv_poll(b->bd, 0, &d, 1)) == 0 && vqt_now_ns() < end &&
	       vq_fe_poll(b->fe) == VQ_FE_READY)
		;
	if (n == 1)
		return d.status;
	return n < 0 ? n : vq_fe_state(b->fe) != VQ_FE_READY ? -ECONNRESET : -ETIMEDOUT;
}

static void print_id(struct blk *b)
{
	char id[VQ_BLK_ID_BYTES + 1] = { 0 };
	uint8_t *p = b->buf;
	struct vq_seg seg = { vq_fe_addr(b->fe, p), VQ_BLK_ID_BYTES };
	struct vq_blkdrv_req r = { .type = VIRTIO_BLK_T_GET_ID, .data = &seg, .nseg = 1 };
	int st = single(b, &r);

	memcpy(id, p, VQ_BLK_ID_BYTES);
	printf("GET_ID: %s%s%s\n", st ? "" : "\"", st ? strerror(-st) : id, st ? "" : "\"");
}

static int zeroes_check(struct blk *b)
{
	struct vq_blkdrv_req r = { .type = VIRTIO_BLK_T_WRITE_ZEROES, .sector = 0,
				   .num_sectors = (uint32_t)(b->o.bs / 512) };
	struct vq_seg seg = { vq_fe_addr(b->fe, b->buf), (uint32_t)b->o.bs };
	struct vq_blkdrv_req rd = { .type = VIRTIO_BLK_T_IN, .data = &seg, .nseg = 1 };
	int st;

	if (!b->info.max_write_zeroes_sectors || b->info.read_only)
		return 0;
	if ((st = single(b, &r)) != 0) {
		printf("WRITE_ZEROES: %s\n", strerror(-st));
		return st == -EOPNOTSUPP ? 0 : 1;
	}
	memset(b->buf, 0xaa, b->o.bs);
	if ((st = single(b, &rd)) != 0)
		return 1;
	for (uint64_t i = 0; i < b->o.bs; i++)
		if (b->buf[i]) {
			printf("WRITE_ZEROES: block 0 not zero at byte %llu\n", (unsigned long long)i);
			return 1;
		}
	printf("WRITE_ZEROES: block 0 reads back as zeroes\n");
	return 0;
}

static int do_verify(struct blk *b)
{
	struct vq_blkdrv_req fl = { .type = VIRTIO_BLK_T_FLUSH };
	uint64_t t0 = vqt_now_ns();
	int st;

	print_id(b);
	printf("pattern seed %llu: word at byte offset x = x ^ 0x%016llx\n",
	       (unsigned long long)b->nonce,
	       (unsigned long long)(b->nonce * 0x9e3779b97f4a7c15ull));
	if (b->info.read_only) {
		vqt_log(VQT_LOG_ERR, "the device is read-only: cannot verify");
		return 1;
	}
	if (pass(b, VIRTIO_BLK_T_OUT, false) < 0)
		return 1;
	st = b->info.flush ? single(b, &fl) : 0;
	printf("wrote %llu blocks of %llu bytes%s%s\n", (unsigned long long)b->nblocks,
	       (unsigned long long)b->o.bs, b->info.flush ? ", flush: " : "",
	       b->info.flush ? (st ? strerror(-st) : "ok") : "");
	b->ios = 0;
	if (pass(b, VIRTIO_BLK_T_IN, true) < 0)
		return 1;
	printf("read back %llu blocks: %llu mismatches, %llu errors (%.2f s)\n",
	       (unsigned long long)b->ios, (unsigned long long)b->mismatches,
	       (unsigned long long)b->errors, (double)(vqt_now_ns() - t0) / NS);
	if (zeroes_check(b))
		return 1;
	printf("verify: %s\n", b->mismatches || b->errors || st ? "FAILED" : "OK");
	return b->mismatches || b->errors || st ? 1 : 0;
}

/* ---- fio-like */

static uint64_t next_off(struct blk *b)
{
	if (b->o.rw == RW_READ || b->o.rw == RW_WRITE) {
		uint64_t o = b->seq_off;

		b->seq_off = (b->seq_off + 1) % b->nblocks;
		return o * b->o.bs;
	}
	b->rng ^= b->rng << 13;
	b->rng ^= b->rng >> 7;
	b->rng ^= b->rng << 17;
	return (b->rng % b->nblocks) * b->o.bs;
}

/* One fio rate line over secs (text, or an object with --stats-json; t is
 * the time since the start). */
static void fio_line(struct blk *b, const char *tag, double t, double secs, uint64_t ios,
		     uint64_t bytes)
{
	if (b->o.json) {
		printf("{\"time\":%.3f,\"socket\":", t);
		vqt_json_str(b->o.path);
		printf(",%s\"ios\":%llu,\"bytes\":%llu,\"iops\":%.0f,\"Bps\":%.0f,"
		       "\"errors\":%llu,\"mismatches\":%llu}\n",
		       !strncmp(tag, "total", 5) ? "\"total\":true," : "",
		       (unsigned long long)ios, (unsigned long long)bytes, (double)ios / secs,
		       (double)bytes / secs, (unsigned long long)b->errors,
		       (unsigned long long)b->mismatches);
		fflush(stdout);
		return;
	}
	printf("%s %10.0f IOPS %9.1f MB/s %9.1f MiB/s%s\n", tag, (double)ios / secs,
	       (double)bytes / secs / 1e6, (double)bytes / secs / 1048576.0,
	       b->errors ? " (errors)" : "");
	fflush(stdout);
}

static int do_fio(struct blk *b)
{
	static const char *names[] = { "randread", "read", "randwrite", "write" };
	uint32_t type = b->o.rw >= RW_RANDWRITE ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	uint64_t t0 = vqt_now_ns(), end = t0 + (uint64_t)(b->o.duration * NS), next = t0 + NS, now;

	if (type == VIRTIO_BLK_T_OUT && b->info.read_only) {
		vqt_log(VQT_LOG_ERR, "the device is read-only");
		return 1;
	}
	printf("fio: %s, bs %llu, qd %u, %llu MiB region\n", names[b->o.rw],
	       (unsigned long long)b->o.bs, b->o.qd, (unsigned long long)(b->o.size >> 20));
	while (!vqu_stop && (now = vqt_now_ns()) < end) {
		while (b->nfree && submit(b, type, next_off(b)) == 0)
			;
		vq_blkdrv_kick(b->bd, 0);
		if (reap(b, false) < 0 || vq_fe_poll(b->fe) != VQ_FE_READY) {
			vqt_log(VQT_LOG_ERR, "device failed: %s", fail_reason(b));
			return 1;
		}
		if (now >= next) {
			char tag[24];

			snprintf(tag, sizeof(tag), "[%5.1fs]", (double)(now - t0) / NS);
			fio_line(b, tag, (double)(now - t0) / NS, 1.0, b->ios - b->last_ios,
				 b->bytes - b->last_bytes);
			b->last_ios = b->ios;
			b->last_bytes = b->bytes;
			next += NS;
		}
	}
	now = vqt_now_ns();
	fio_line(b, "total   ", (double)(now - t0) / NS, (double)(now - t0) / NS, b->ios, b->bytes);
	return b->errors ? 1 : 0;
}

int vqu_blk_main(int argc, char **argv)
{
	struct blk *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return 1;
	if ((r = parse(&b->o, argc, argv)) != 0) {
		free(b);
		return r > 0 ? 0 : 2;
	}
	vqu_pin_cpu(b->o.cpu);
	/* Failures go through the cleanup too (no leak reports under SAN=1). */
	if (connect_fe(b) < 0 || read_config(b) < 0 || setup(b) < 0)
		r = 1;
	else
		r = b->o.verify ? do_verify(b) : do_fio(b);
	vq_fe_free(b->fe);
	vq_blkdrv_free(b->bd);
	free(b->off);
	free(b->freeslot);
	free(b);
	return r;
}
