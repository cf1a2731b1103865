/* SPDX-License-Identifier: MIT */
/*
 * virtq-hostile blk-fill / blk-check: a well-behaved blk frontend that keeps
 * an exact record of what the device acknowledged (for fault_blkfull.sh).
 *
 *   blk-fill: write the disk block by block (one request in flight), each
 *     block holding the pattern of --seed (the 64-bit LE word at byte offset
 *     x is x ^ (seed * 0x9e3779b97f4a7c15), as virtq-user blk uses), and
 *     print "ACK <offset>" or "ERR <offset> <errno name>" per block; stop
 *     after 16 errors in a row or at the end of the disk; then FLUSH
 *     ("FLUSH ok" / "FLUSH <error>").  Exit 0 when every request completed
 *     (ok or with an error status), 1 when the device stopped answering.
 *   blk-check: read back every offset listed as "ACK" in --acked FILE and
 *     compare with the pattern.  Exit 0 when all match.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <virtq/blk_drv.h>
#include <virtq/frontend.h>

#include "hostile.h"

#define BS 4096u
#define K 0x9e3779b97f4a7c15ull

struct bf {
	struct vq_fe *fe;
	struct vq_blkdrv *bd;
	uint8_t *buf;
	uint64_t seed, capacity;
};

static void *bf_alloc(void *ctx, size_t size, uint64_t *addr)
{
	struct bf *b = ctx;
	void *p = vq_fe_alloc(b->fe, size, 64);

	if (p)
		*addr = vq_fe_addr(b->fe, p);
	return p;
}

static void bf_kick(void *ctx, unsigned q)
{
	vq_fe_kick(((struct bf *)ctx)->fe, q);
}

static void bf_queue(void *opaque, unsigned i, struct vq_drv *q, struct vq_drv *old)
{
	struct bf *b = opaque;

	if (b->bd)
		vq_blkdrv_set_queue(b->bd, i, q);
}

static int bf_open(struct bf *b, const char *path)
{
	uint64_t want = VQ_F_VERSION_1 | 1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_SEG_MAX;
	struct vq_fe_params c = { .path = path, .features = want, .required_features = VQ_F_VERSION_1,
				  .num_queues = 1, .queue_size = 64, .mem_size = 1u << 20,
				  .timeout_ms = 5000, .queue_event = bf_queue, .opaque = b };
	uint8_t cfg[VQ_BLKDRV_CONFIG_BYTES];
	struct vq_blkdrv_info info;
	int r;

	if ((r = vq_fe_new(&c, &b->fe)) < 0 || (r = vq_fe_connect(b->fe)) < 0 ||
	    (r = vq_fe_get_config(b->fe, 0, cfg, sizeof(cfg))) < 0 ||
	    (r = vq_blkdrv_parse_config(cfg, sizeof(cfg), vq_fe_features(b->fe), &info)) < 0) {
		HLOG("blk: cannot set up %s: %s %s", path, strerror(-r), b->fe ? vq_fe_error(b->fe) : "");
		return r;
	}
	struct vq_blkdrv_params p = { .features = vq_fe_features(b->fe), .num_queues = 1,
				      .queue_size = 64, .seg_max = info.seg_max, .alloc = bf_alloc,
				      .kick = bf_kick, .ctx = b };

	if ((r = vq_blkdrv_new(&p, &b->bd)) < 0)
		return r;
	vq_blkdrv_set_queue(b->bd, 0, vq_fe_queue(b->fe, 0));
	b->capacity = info.capacity * VQ_BLK_SECTOR;
	b->buf = vq_fe_alloc(b->fe, BS, 4096);
	return b->buf ? 0 : -ENOMEM;
}

static void bf_close(struct bf *b)
{
	vq_fe_free(b->fe);
	vq_blkdrv_free(b->bd);
}

/* One request, waited for (10 s): its status, or -ETIMEDOUT / -ECONNRESET. */
static int bf_io(struct bf *b, uint32_t type, uint64_t off)
{
	struct vq_seg seg = { vq_fe_addr(b->fe, b->buf), BS };
	struct vq_blkdrv_req r = { .type = type, .sector = off / 512, .data = &seg,
				   .nseg = type == VIRTIO_BLK_T_FLUSH ? 0 : 1 };
	struct vq_blkdrv_done d;
	uint64_t end = vqt_now_ms() + 10000;
	int n;

	if ((n = vq_blkdrv_submit(b->bd, 0, &r, b)) < 0)
		return n;
	vq_blkdrv_kick(b->bd, 0);
	while ((n = vq_blkdrv_poll(b->bd, 0, &d, 1)) == 0 && vqt_now_ms() < end)
		if (vq_fe_poll(b->fe) != VQ_FE_READY)
			return -ECONNRESET;
	return n == 1 ? d.status : n < 0 ? n : -ETIMEDOUT;
}

static void pattern(const struct bf *b, uint8_t *p, uint64_t off)
{
	for (uint64_t i = 0; i < BS; i += 8) {
		uint64_t v = (off + i) ^ (b->seed * K);

		memcpy(p + i, &v, 8);
	}
}

int hostile_blk_fill(const struct hopts *o)
{
	struct bf b = { .seed = o->seed };
	unsigned bad = 0, acked = 0, errs = 0;
	int r, rc = 0;

	if (bf_open(&b, o->path) < 0)
		return 3;
	setvbuf(stdout, NULL, _IOLBF, 0); /* a watcher sees each ACK as it comes */
	for (uint64_t off = 0; off + BS <= b.capacity && bad < 16; off += BS) {
		pattern(&b, b.buf, off);
		r = bf_io(&b, VIRTIO_BLK_T_OUT, off);
		if (r == -ETIMEDOUT || r == -ECONNRESET || r == -ECANCELED) {
			HLOG("blk-fill: write at %" PRIu64 ": %s: the device stopped answering", off,
			     strerror(-r));
			rc = 1;
			break;
		}
		if (r == 0) {
			printf("ACK %" PRIu64 "\n", off);
			acked++, bad = 0;
			if (o->pace_us)
				usleep(o->pace_us);
		} else {
			printf("ERR %" PRIu64 " %s\n", off, strerror(-r));
			errs++, bad++;
		}
	}
	r = rc ? -EIO : bf_io(&b, VIRTIO_BLK_T_FLUSH, 0);
	printf("FLUSH %s\n", r ? strerror(-r) : "ok");
	printf("acked %u errors %u\n", acked, errs);
	bf_close(&b);
	return rc;
}

int hostile_blk_check(const struct hopts *o)
{
	struct bf b = { .seed = o->seed };
	static uint8_t want[BS];
	FILE *f = fopen(o->acked, "r");
	unsigned checked = 0, bad = 0;
	char line[128];
	int rc = 0;

	if (!f || bf_open(&b, o->path) < 0)
		return 3;
	while (fgets(line, sizeof(line), f)) {
		uint64_t off;
		int r;

		if (sscanf(line, "ACK %" SCNu64, &off) != 1)
			continue;
		memset(b.buf, 0, BS);
		r = bf_io(&b, VIRTIO_BLK_T_IN, off);
		pattern(&b, want, off);
		checked++;
		if (r || memcmp(want, b.buf, BS)) {
			if (bad++ < 5)
				printf("LOST %" PRIu64 ": %s\n", off, r ? strerror(-r) : "different data");
			rc = 1;
		}
	}
	fclose(f);
	printf("checked %u acknowledged blocks: %u lost\n", checked, bad);
	bf_close(&b);
	return rc;
}
