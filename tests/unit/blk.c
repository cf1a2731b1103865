/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk device model, driven in-process by the driver side of the ring
 * over shared memory, on a temporary file whose content is checked
 * independently with pread: read, write, flush, GET_ID, discard, write
 * zeroes; every malformed request with its exact status; acknowledgement
 * only after the data reached the file; multiqueue; a full file system;
 * O_DIRECT with unaligned buffers; the pure parser.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <virtq/blk.h>

#include "../harness/test.h"

#define GBASE 0x100000ull
#define GSIZE (16u << 20)
#define QSIZE 128u
#define DISK  (4u << 20)          /* bytes */
#define NSEC  (DISK / 512u)
#define SERIAL "virtq-serial-0123456789" /* longer than 20 bytes */

#define F_BLK(b) VQ_BLK_F(VIRTIO_BLK_F_##b)

struct rig {
	struct vq_blk *b;
	struct vq_mem *mem;
	uint8_t *g;
	uint64_t next;
	unsigned nq;
	struct vq_drv *drv[4];
	struct vq_dev *dev[4];
	char path[256];
	int fd; /* the test's own descriptor, for independent checks */
};

struct rig_opts {
	unsigned nq, iothreads;
	bool readonly, direct;
	uint32_t direct_align;
	uint64_t drop_features; /* not negotiated */
	enum vq_layout layout;
	const char *dir;        /* for the backing file; NULL = /tmp */
	uint32_t disk;          /* bytes; 0 = DISK */
	void (*io_hook)(void *, unsigned, uint32_t, uint64_t, uint64_t, bool);
};

static unsigned notified[4];

static void on_notify(void *opaque, unsigned q)
{
	(void)opaque;
	if (q < 4)
		notified[q]++;
}

static uint64_t galloc(struct rig *r, size_t len)
{
	uint64_t a = r->next;

	/* a gap: the driver coalesces adjacent segments */
	r->next = (a + len + 64 + 63) & ~63ull;
	ASSERT_LE(r->next, GBASE + GSIZE);
	return a;
}

static uint8_t *host(struct rig *r, uint64_t gpa)
{
	return r->g + (gpa - GBASE);
}

static void ring_setup(struct rig *r, unsigned i, enum vq_layout layout, uint64_t feats)
{
	struct vq_ring_layout l;
	uint8_t *m;

	ASSERT_EQ(vq_ring_layout(layout, QSIZE, &l), 0);
	m = aligned_alloc(64, (l.total + 63) & ~(size_t)63);
	ASSERT_TRUE(m != NULL);
	memset(m, 0, l.total);
	struct vq_ring_params rc = { layout, QSIZE, feats & VQ_RING_FEATURES, 0,
				     m + l.desc_off, m + l.avail_off, m + l.used_off };
	struct vq_drv_params dc = { .ring = rc };

	ASSERT_EQ(vq_drv_new(&dc, &r->drv[i]), 0);
	ASSERT_EQ(vq_dev_new(&rc, r->mem, &r->dev[i]), 0);
	ASSERT_EQ(vq_blk_set_queue(r->b, i, r->dev[i]), 0);
}

static void make_file(struct rig *r, const char *dir, uint32_t size)
{
	snprintf(r->path, sizeof(r->path), "%s/virtq-blk-XXXXXX", dir ? dir : "/tmp");
	r->fd = mkstemp(r->path);
	ASSERT_TRUE(r->fd >= 0);
	unlink(r->path); /* the device reopens it through /proc/self/fd */
	ASSERT_EQ(ftruncate(r->fd, size), 0);
	snprintf(r->path, sizeof(r->path), "/proc/self/fd/%d", r->fd);
}

static int rig_try(struct rig *r, const struct rig_opts *o)
{
	struct vq_blk_params p = { .path = r->path, .num_queues = o->nq ? o->nq : 1,
				   .iothreads = o->iothreads, .readonly = o->readonly,
				   .direct = o->direct, .direct_align = o->direct_align,
				   .serial = SERIAL,
				   .max_discard_seg = 4, .max_write_zeroes_seg = 4,
				   .max_discard_sectors = 1024, .notify = on_notify,
				   .io_hook = o->io_hook };

	return vq_blk_new(&p, &r->b);
}

static void rig_init(struct rig *r, const struct rig_opts *o)
{
	struct vq_mem_region reg;
	uint64_t feats;

	memset(r, 0, sizeof(*r));
	memset(notified, 0, sizeof(notified));
	make_file(r, o->dir, o->disk ? o->disk : DISK);
	ASSERT_EQ(rig_try(r, o), 0);
	r->nq = o->nq ? o->nq : 1;
	feats = vq_blk_host_features(r->b) & ~o->drop_features;
	if (o->layout != VQ_LAYOUT_PACKED)
		feats &= ~VQ_F_PACKED;
	ASSERT_EQ(vq_blk_set_features(r->b, feats), 0);
	r->g = aligned_alloc(4096, GSIZE);
	ASSERT_TRUE(r->g != NULL);
	memset(r->g, 0, GSIZE);
	ASSERT_EQ(vq_mem_new(&r->mem), 0);
	reg = (struct vq_mem_region){ GBASE, GSIZE, r->g, 0, VQ_MEM_RW };
	ASSERT_EQ(vq_mem_add(r->mem, &reg), 0);
	r->next = GBASE;
	for (unsigned i = 0; i < r->nq; i++)
		ring_setup(r, i, o->layout, feats);
}

static void rig_fini(struct rig *r)
{
	for (unsigned i = 0; i < r->nq; i++)
		ASSERT_EQ(vq_blk_set_queue(r->b, i, NULL), 0);
	vq_blk_free(r->b);
	for (unsigned i = 0; i < r->nq; i++) {
		vq_dev_free(r->dev[i]);
		vq_drv_free(r->drv[i]);
	}
	vq_mem_free(r->mem);
	free(r->g);
	close(r->fd);
}

/* ---- requests */

/* A request being built: header, data segments, status. */
struct rq {
	uint64_t hdr, st;
	struct vq_seg sg[8];
	unsigned out, in;
};

static void rq_hdr(struct rig *r, struct rq *q, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };

	memset(q, 0, sizeof(*q));
	q->hdr = galloc(r, sizeof(h));
	memcpy(host(r, q->hdr), &h, sizeof(h));
	q->sg[0] = (struct vq_seg){ q->hdr, sizeof(h) };
	q->out = 1;
}

/* Append a data segment; returns its host pointer. */
static uint8_t *rq_data(struct rig *r, struct rq *q, uint32_t len, bool writable)
{
	uint64_t a = galloc(r, len);

	q->sg[q->out + q->in] = (struct vq_seg){ a, len };
	if (writable)
		q->in++;
	else
		q->out++;
	return host(r, a);
}

static uint8_t *rq_status(struct rig *r, struct rq *q)
{
	q->st = galloc(r, 1);
	*host(r, q->st) = 0xee;
	q->sg[q->out + q->in] = (struct vq_seg){ q->st, 1 };
	q->in++;
	return host(r, q->st);
}

static void rq_post(struct rig *r, unsigned qi, struct rq *q, uintptr_t token)
{
	ASSERT_EQ(vq_drv_add(r->drv[qi], q->sg, q->out, q->in, (void *)token), 0);
	vq_drv_kick_prepare(r->drv[qi]);
}

/* Poll the device until queue qi returns a used buffer (5 s at most). */
static void wait_used(struct rig *r, unsigned qi, uintptr_t *token, uint32_t *len)
{
	for (int i = 0; i < 5000; i++) {
		void *t = NULL;
		int rc;

		rc = vq_drv_get(r->drv[qi], &t, len);
		ASSERT_GE(rc, 0);
		if (rc == 1) {
			*token = (uintptr_t)t;
			return;
		}
		ASSERT_GE(vq_blk_queue_poll(r->b, qi, 64), 0);
		rc = vq_drv_get(r->drv[qi], &t, len);
		if (rc == 1) {
			*token = (uintptr_t)t;
			return;
		}
		struct pollfd pfd = { vq_blk_queue_fd(r->b, qi), POLLIN, 0 };

		poll(&pfd, 1, 1);
	}
	FAIL("no used buffer on queue %u", qi);
}

/* Post, run, expect token back with len; returns the status byte. */
static uint8_t rq_run(struct rig *r, unsigned qi, struct rq *q, uint32_t *used)
{
	uintptr_t tok = 0;
	uint32_t len = 0;
	static uintptr_t next_tok = 1;
	uintptr_t mine = next_tok++;

	rq_post(r, qi, q, mine);
	wait_used(r, qi, &tok, &len);
	ASSERT_EQ(tok, mine);
	if (used)
		*used = len;
	return q->st ? *host(r, q->st) : 0xff;
}

static uint8_t do_write(struct rig *r, unsigned qi, uint64_t sector, const void *buf,
			uint32_t len)
{
	struct rq q;
	uint32_t used;
	uint8_t st;

	rq_hdr(r, &q, VIRTIO_BLK_T_OUT, sector);
	memcpy(rq_data(r, &q, len, false), buf, len);
	rq_status(r, &q);
	st = rq_run(r, qi, &q, &used);
	ASSERT_EQ(used, 1);
	return st;
}

static uint8_t do_read(struct rig *r, unsigned qi, uint64_t sector, void *buf, uint32_t len)
{
	struct rq q;
	uint32_t used;
	uint8_t *d, st;

	rq_hdr(r, &q, VIRTIO_BLK_T_IN, sector);
	d = rq_data(r, &q, len, true);
	rq_status(r, &q);
	st = rq_run(r, qi, &q, &used);
	ASSERT_EQ(used, len + 1);
	memcpy(buf, d, len);
	return st;
}

static uint8_t do_simple(struct rig *r, uint32_t type)
{
	struct rq q;

	rq_hdr(r, &q, type, 0);
	rq_status(r, &q);
	return rq_run(r, 0, &q, NULL);
}

static uint8_t do_ranges(struct rig *r, uint32_t type, const struct vq_blk_range *rg,
			 unsigned n)
{
	struct rq q;
	uint8_t *d;

	rq_hdr(r, &q, type, 0);
	d = rq_data(r, &q, n * 16, false);
	for (unsigned i = 0; i < n; i++) {
		struct virtio_blk_discard_write_zeroes w = { rg[i].sector, rg[i].num_sectors,
							     rg[i].flags };
		memcpy(d + 16 * i, &w, 16);
	}
	rq_status(r, &q);
	return rq_run(r, 0, &q, NULL);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static void file_read(struct rig *r, uint64_t off, void *buf, size_t len)
{
	ASSERT_EQ(pread(r->fd, buf, len, (off_t)off), (ssize_t)len);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static struct vq_blk_stats stats(struct rig *r, unsigned qi)
{
	struct vq_blk_stats s;

	ASSERT_EQ(vq_blk_get_stats(r->b, qi, &s), 0);
	return s;
}

/* ---- read / write / flush / get_id */

static void write_read(unsigned iothreads, enum vq_layout layout)
{
	struct rig r;
	uint8_t w[8192], rd[8192], f[8192];

	rig_init(&r, &(struct rig_opts){ .iothreads = iothreads, .layout = layout });
	fill(w, sizeof(w), 1);
	ASSERT_EQ(do_write(&r, 0, 10, w, sizeof(w)), VIRTIO_BLK_S_OK);
	file_read(&r, 10 * 512, f, sizeof(f));
	ASSERT_MEM_EQ(f, w, sizeof(w));
	ASSERT_EQ(do_read(&r, 0, 10, rd, sizeof(rd)), VIRTIO_BLK_S_OK);
	ASSERT_MEM_EQ(rd, w, sizeof(w));
	/* the last sector, and a read of what the test wrote behind its back */
	fill(w, 512, 2);
	ASSERT_EQ(pwrite(r.fd, w, 512, DISK - 512), 512);
	ASSERT_EQ(do_read(&r, 0, NSEC - 1, rd, 512), VIRTIO_BLK_S_OK);
	ASSERT_MEM_EQ(rd, w, 512);
	ASSERT_EQ(do_simple(&r, VIRTIO_BLK_T_FLUSH), VIRTIO_BLK_S_OK);
	struct vq_blk_stats s = stats(&r, 0);
	ASSERT_EQ(s.writes, 1);
	ASSERT_EQ(s.reads, 2);
	ASSERT_EQ(s.flushes, 1);
	ASSERT_EQ(s.write_bytes, 8192);
	ASSERT_EQ(s.read_bytes, 8192 + 512);
	ASSERT_GT(notified[0], 0);
	rig_fini(&r);
}

TEST(blk_write_read_sync) { write_read(0, VQ_LAYOUT_SPLIT); }
TEST(blk_write_read_threads) { write_read(4, VQ_LAYOUT_SPLIT); }
TEST(blk_write_read_packed) { write_read(2, VQ_LAYOUT_PACKED); }

TEST(blk_get_id)
{
	struct rig r;
	struct rq q;
	uint32_t used;
	uint8_t *d;

	rig_init(&r, &(struct rig_opts){ .iothreads = 1 });
	rq_hdr(&r, &q, VIRTIO_BLK_T_GET_ID, 0);
	d = rq_data(&r, &q, 20, true);
	memset(d, 0xaa, 20);
	rq_status(&r, &q);
	ASSERT_EQ(rq_run(&r, 0, &q, &used), VIRTIO_BLK_S_OK);
	ASSERT_EQ(used, 21);
	ASSERT_MEM_EQ(d, SERIAL, 20); /* truncated to 20 bytes, no NUL */
	/* no buffer for the id */
	rq_hdr(&r, &q, VIRTIO_BLK_T_GET_ID, 0);
	rq_status(&r, &q);
	ASSERT_EQ(rq_run(&r, 0, &q, NULL), VIRTIO_BLK_S_IOERR);
	ASSERT_EQ(stats(&r, 0).get_ids, 1);
	rig_fini(&r);
}

/* A header and data split at odd places across segments still works. */
TEST(blk_split_segments)
{
	struct rig r;
	struct rq q;
	uint8_t w[1024], f[1024], *a, *b, *c;
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_OUT, .sector = 3 };

	rig_init(&r, &(struct rig_opts){ .iothreads = 2 });
	fill(w, sizeof(w), 3);
	memset(&q, 0, sizeof(q));
	a = rq_data(&r, &q, 7, false);
	b = rq_data(&r, &q, 9 + 100, false);
	c = rq_data(&r, &q, 1024 - 100, false);
	memcpy(a, &h, 7);
	memcpy(b, (uint8_t *)&h + 7, 9);
	memcpy(b + 9, w, 100);
	memcpy(c, w + 100, 1024 - 100);
	rq_status(&r, &q);
	ASSERT_EQ(rq_run(&r, 0, &q, NULL), VIRTIO_BLK_S_OK);
	file_read(&r, 3 * 512, f, sizeof(f));
	ASSERT_MEM_EQ(f, w, sizeof(w));
	/* a read into three segments, the status sharing the last one */
	rq_hdr(&r, &q, VIRTIO_BLK_T_IN, 3);
	a = rq_data(&r, &q, 1, true);
	b = rq_data(&r, &q, 600, true);
	c = rq_data(&r, &q, 1024 - 601 + 1, true);
	q.st = q.sg[q.out + q.in - 1].addr + q.sg[q.out + q.in - 1].len - 1;
	ASSERT_EQ(rq_run(&r, 0, &q, NULL), VIRTIO_BLK_S_OK);
	ASSERT_EQ(a[0], w[0]);
	ASSERT_MEM_EQ(b, w + 1, 600);
	ASSERT_MEM_EQ(c, w + 601, 1024 - 601);
	rig_fini(&r);
}

/* ---- discard and write zeroes */

TEST(blk_discard)
{
	struct rig r;
	uint8_t w[16384], f[16384];
	struct vq_blk_range rg[2] = { { 8, 8, 0 }, { 24, 4, 0 } };

	rig_init(&r, &(struct rig_opts){ .iothreads = 2 });
	fill(w, sizeof(w), 4);
	ASSERT_EQ(do_write(&r, 0, 0, w, sizeof(w)), VIRTIO_BLK_S_OK);
	ASSERT_EQ(do_ranges(&r, VIRTIO_BLK_T_DISCARD, rg, 2), VIRTIO_BLK_S_OK);
	file_read(&r, 0, f, sizeof(f));
	ASSERT_MEM_EQ(f, w, 8 * 512);                 /* before: intact */
	ASSERT_TRUE(all_zero(f + 8 * 512, 8 * 512));  /* punched (ext4, tmpfs) */
	ASSERT_MEM_EQ(f + 16 * 512, w + 16 * 512, 8 * 512);
	ASSERT_TRUE(all_zero(f + 24 * 512, 4 * 512));
	ASSERT_MEM_EQ(f + 28 * 512, w + 28 * 512, 4 * 512);
	/* UNMAP (or any flag) is not allowed on discard */
	rg[0].flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	ASSERT_EQ(do_ranges(&r, VIRTIO_BLK_T_DISCARD, rg, 1), VIRTIO_BLK_S_UNSUPP);
	ASSERT_EQ(stats(&r, 0).discards, 1);
	ASSERT_EQ(stats(&r, 0).unsupp, 1);
	rig_fini(&r);
}

TEST(blk_write_zeroes)
{
	struct rig r;
	uint8_t w[16384], f[16384];
	struct vq_blk_range rg[3] = { { 1, 2, 0 }, { 10, 3, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP },
				      { 20, 1, 0 } };

	rig_init(&r, &(struct rig_opts){ .iothreads = 2 });
	fill(w, sizeof(w), 5);
	ASSERT_EQ(do_write(&r, 0, 0, w, sizeof(w)), VIRTIO_BLK_S_OK);
	ASSERT_EQ(do_ranges(&r, VIRTIO_BLK_T_WRITE_ZEROES, rg, 3), VIRTIO_BLK_S_OK);
	file_read(&r, 0, f, sizeof(f));
	for (unsigned s = 0; s < 32; s++) {
		bool z = (s >= 1 && s < 3) || (s >= 10 && s < 13) || s == 20;

		if (z)
			ASSERT_TRUE(all_zero(f + s * 512, 512));
		else
			ASSERT_MEM_EQ(f + s * 512, w + s * 512, 512);
	}
	rg[0].flags = 2; /* unknown flag */
	ASSERT_EQ(do_ranges(&r, VIRTIO_BLK_T_WRITE_ZEROES, rg, 1), VIRTIO_BLK_S_UNSUPP);
	ASSERT_EQ(stats(&r, 0).write_zeroes, 1);
	rig_fini(&r);
}

TEST(blk_features_not_negotiated)
{
	struct rig r;
	struct vq_blk_range rg = { 0, 1, 0 };

	rig_init(&r, &(struct rig_opts){ .drop_features = F_BLK(DISCARD) | F_BLK(WRITE_ZEROES) });
	ASSERT_EQ(do_ranges(&r, VIRTIO_BLK_T_DISCARD, &rg, 1), VIRTIO_BLK_S_UNSUPP);
	ASSERT_EQ(do_ranges(&r, VIRTIO_BLK_T_WRITE_ZEROES, &rg, 1), VIRTIO_BLK_S_UNSUPP);
	rig_fini(&r);
}

/* ---- malformed requests: exact status, file untouched */

static void expect_untouched(struct rig *r)
{
	static uint8_t f[DISK];

	file_read(r, 0, f, sizeof(f));
	ASSERT_TRUE(all_zero(f, sizeof(f)));
}

TEST(blk_bad_header_and_ranges)
{
	struct rig r;
	struct rq q;
	uint8_t buf[1024];

	rig_init(&r, &(struct rig_opts){ .iothreads = 2 });
	memset(buf, 0x5a, sizeof(buf));
	/* a short header */
	memset(&q, 0, sizeof(q));
	rq_data(&r, &q, 8, false);
	rq_status(&r, &q);
	ASSERT_EQ(rq_run(&r, 0, &q, NULL), VIRTIO_BLK_S_IOERR);
	/* out of range: starting at, running past, wrapping around the end */
	ASSERT_EQ(do_write(&r, 0, NSEC, buf, 512), VIRTIO_BLK_S_IOERR);
	ASSERT_EQ(do_write(&r, 0, NSEC - 1, buf, 1024), VIRTIO_BLK_S_IOERR);
	ASSERT_EQ(do_write(&r, 0, UINT64_MAX - 1, buf, 1024), VIRTIO_BLK_S_IOERR);
	ASSERT_EQ(do_write(&r, 0, 1ull << 55, buf, 512), VIRTIO_BLK_S_IOERR);
	ASSERT_EQ(do_read(&r, 0, UINT64_MAX, buf, 512), VIRTIO_BLK_S_IOERR);
	/* data not a multiple of 512 */
	ASSERT_EQ(do_write(&r, 0, 0, buf, 100), VIRTIO_BLK_S_IOERR);
	ASSERT_EQ(do_read(&r, 0, 0, buf, 513), VIRTIO_BLK_S_IOERR);
	/* unknown types */
	ASSERT_EQ(do_simple(&r, 99), VIRTIO_BLK_S_UNSUPP);
	ASSERT_EQ(do_simple(&r, 0x80000000u | VIRTIO_BLK_T_OUT), VIRTIO_BLK_S_UNSUPP);
	ASSERT_EQ(do_simple(&r, 14 /* SECURE_ERASE */), VIRTIO_BLK_S_UNSUPP);
	expect_untouched(&r);
	struct vq_blk_stats s = stats(&r, 0);
	ASSERT_EQ(s.ioerr, 8);
	ASSERT_EQ(s.unsupp, 3);
	ASSERT_EQ(s.writes + s.reads, 0);
	rig_fini(&r);
}

TEST(blk_bad_layouts)
{
	struct rig r;
	struct rq q;
	uint32_t used;
	uint8_t *d;

	rig_init(&r, &(struct rig_opts){ .iothreads = 2 });
	/* a write whose data is writable */
	rq_hdr(&r, &q, VIRTIO_BLK_T_OUT, 0);
	memset(rq_data(&r, &q, 512, true), 0x11, 512);
	rq_status(&r, &q);
	ASSERT_EQ(rq_run(&r, 0, &q, NULL), VIRTIO_BLK_S_IOERR);
	/* a read whose data is readable: nothing may be written into it */
	rq_hdr(&r, &q, VIRTIO_BLK_T_IN, 0);
	d = rq_data(&r, &q, 512, false);
	memset(d, 0x22, 512);
	rq_status(&r, &q);
	ASSERT_EQ(rq_run(&r, 0, &q, NULL), VIRTIO_BLK_S_IOERR);
	ASSERT_EQ(d[0], 0x22);
	/* no writable status byte: returned with length 0, counted */
	rq_hdr(&r, &q, VIRTIO_BLK_T_OUT, 0);
	memset(rq_data(&r, &q, 512, false), 0x33, 512);
	ASSERT_EQ(rq_run(&r, 0, &q, &used), 0xff);
	ASSERT_EQ(used, 0);
	/* a header alone */
	rq_hdr(&r, &q, VIRTIO_BLK_T_IN, 0);
	ASSERT_EQ(rq_run(&r, 0, &q, &used), 0xff);
	ASSERT_EQ(used, 0);
	expect_untouched(&r);
	ASSERT_EQ(stats(&r, 0).dropped, 2);
	ASSERT_EQ(stats(&r, 0).ioerr, 2);
	rig_fini(&r);
}

TEST(blk_bad_discard)
{
	struct rig r;
	struct rq q;
	struct vq_blk_range rg[5] = { { 0, 1, 0 }, { 1, 1, 0 }, { 2, 1, 0 }, { 3, 1, 0 },
				      { 4, 1, 0 } };
	uint8_t w[4096];

	rig_init(&r, &(struct rig_opts){ .iothreads = 2 });
	fill(w, sizeof(w), 6);
	ASSERT_EQ(do_write(&r, 0, 0, w, sizeof(w)), VIRTIO_BLK_S_OK);
	/* more ranges than max_discard_seg (4) */
	ASSERT_EQ(do_ranges(&r, VIRTIO_BLK_T_DISCARD, rg, 5), VIRTIO_BLK_S_IOERR);
	ASSERT_EQ(do_ranges(&r, VIRTIO_BLK_T_WRITE_ZEROES, rg, 5), VIRTIO_BLK_S_IOERR);
	/* past the end, wrapping, longer than max_discard_sectors (1024) */
	rg[0] = (struct vq_blk_range){ NSEC - 1, 2, 0 };
	ASSERT_EQ(do_ranges(&r, VIRTIO_BLK_T_DISCARD, rg, 1), VIRTIO_BLK_S_IOERR);
	rg[0] = (struct vq_blk_range){ UINT64_MAX, 2, 0 };
	ASSERT_EQ(do_ranges(&r, VIRTIO_BLK_T_WRITE_ZEROES, rg, 1), VIRTIO_BLK_S_IOERR);
	rg[0] = (struct vq_blk_range){ 0, 1025, 0 };
	ASSERT_EQ(do_ranges(&r, VIRTIO_BLK_T_DISCARD, rg, 1), VIRTIO_BLK_S_IOERR);
	/* no ranges; a length not a multiple of 16 */
	rq_hdr(&r, &q, VIRTIO_BLK_T_DISCARD, 0);
	rq_status(&r, &q);
	ASSERT_EQ(rq_run(&r, 0, &q, NULL), VIRTIO_BLK_S_IOERR);
	rq_hdr(&r, &q, VIRTIO_BLK_T_DISCARD, 0);
	rq_data(&r, &q, 10, false);
	rq_status(&r, &q);
	ASSERT_EQ(rq_run(&r, 0, &q, NULL), VIRTIO_BLK_S_IOERR);
	/* writable range data */
	rq_hdr(&r, &q, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	rq_data(&r, &q, 16, true);
	rq_status(&r, &q);
	ASSERT_EQ(rq_run(&r, 0, &q, NULL), VIRTIO_BLK_S_IOERR);
	/* nothing was discarded or zeroed */
	uint8_t f[4096];
	file_read(&r, 0, f, sizeof(f));
	ASSERT_MEM_EQ(f, w, sizeof(w));
	rig_fini(&r);
}

TEST(blk_readonly)
{
	struct rig r;
	uint8_t w[512], rd[512];

	rig_init(&r, &(struct rig_opts){ .iothreads = 1, .readonly = true });
	ASSERT_TRUE(vq_blk_host_features(r.b) & F_BLK(RO));
	ASSERT_FALSE(vq_blk_host_features(r.b) & F_BLK(DISCARD));
	fill(w, sizeof(w), 7);
	ASSERT_EQ(pwrite(r.fd, w, 512, 512), 512);
	ASSERT_EQ(do_write(&r, 0, 0, w, 512), VIRTIO_BLK_S_IOERR);
	ASSERT_EQ(do_read(&r, 0, 1, rd, 512), VIRTIO_BLK_S_OK);
	ASSERT_MEM_EQ(rd, w, 512);
	ASSERT_EQ(do_simple(&r, VIRTIO_BLK_T_FLUSH), VIRTIO_BLK_S_OK);
	file_read(&r, 0, rd, 512);
	ASSERT_TRUE(all_zero(rd, 512));
	rig_fini(&r);
}

/* A descriptor outside guest memory breaks the ring: poll says so. */
TEST(blk_broken_ring)
{
	struct rig r;
	struct vq_seg sg[2] = { { GBASE + GSIZE + 4096, 16 }, { GBASE, 1 } };

	rig_init(&r, &(struct rig_opts){ .iothreads = 1 });
	ASSERT_EQ(vq_drv_add(r.drv[0], sg, 1, 1, (void *)1), 0);
	vq_drv_kick_prepare(r.drv[0]);
	ASSERT_EQ(vq_blk_queue_poll(r.b, 0, 64), -EIO);
	ASSERT_TRUE(vq_dev_is_broken(r.dev[0]));
	rig_fini(&r);
}

/* ---- acknowledged only after the data reached the file */

static sem_t *hook_gate;
static atomic_int hook_after;

static void gate_hook(void *o, unsigned q, uint32_t type, uint64_t off, uint64_t len,
		      bool after)
{
	if (type != VIRTIO_BLK_T_OUT)
		return;
	if (!after)
		sem_wait(hook_gate);
	else
		atomic_fetch_add(&hook_after, 1);
}

TEST(blk_write_acked_after_file)
{
	struct rig r;
	struct rq q;
	sem_t gate;
	uint8_t w[4096], f[4096];
	uintptr_t tok;
	uint32_t len;
	void *t;

	sem_init(&gate, 0, 0);
	hook_gate = &gate;
	rig_init(&r, &(struct rig_opts){ .iothreads = 2, .io_hook = gate_hook });
	fill(w, sizeof(w), 8);
	rq_hdr(&r, &q, VIRTIO_BLK_T_OUT, 100);
	memcpy(rq_data(&r, &q, sizeof(w), false), w, sizeof(w));
	rq_status(&r, &q);
	rq_post(&r, 0, &q, 7);
	for (int i = 0; i < 20; i++) { /* the write is held before pwritev */
		ASSERT_GE(vq_blk_queue_poll(r.b, 0, 64), 0);
		ASSERT_EQ(vq_drv_get(r.drv[0], &t, &len), 0);
		usleep(5000);
	}
	ASSERT_EQ(vq_blk_queue_inflight(r.b, 0), 1);
	file_read(&r, 100 * 512, f, sizeof(f));
	ASSERT_TRUE(all_zero(f, sizeof(f)));
	sem_post(&gate);
	wait_used(&r, 0, &tok, &len);
	ASSERT_EQ(tok, 7);
	ASSERT_EQ(atomic_load(&hook_after), 1); /* pwritev returned before the ack */
	file_read(&r, 100 * 512, f, sizeof(f));
	ASSERT_MEM_EQ(f, w, sizeof(w));
	ASSERT_EQ(*host(&r, q.st), VIRTIO_BLK_S_OK);
	rig_fini(&r);
}

static void *release_later(void *arg)
{
	usleep(50000);
	for (int i = 0; i < 3; i++)
		sem_post(arg);
	return NULL;
}

/* queue_stop's quiesce: drain waits for in-flight I/O and pushes it. */
TEST(blk_drain)
{
	struct rig r;
	struct rq q[3];
	sem_t gate;
	pthread_t th;
	uint8_t w[512];
	void *t;
	uint32_t len;

	sem_init(&gate, 0, 0);
	hook_gate = &gate;
	rig_init(&r, &(struct rig_opts){ .iothreads = 2, .io_hook = gate_hook });
	fill(w, sizeof(w), 9);
	for (unsigned i = 0; i < 3; i++) {
		rq_hdr(&r, &q[i], VIRTIO_BLK_T_OUT, i);
		memcpy(rq_data(&r, &q[i], 512, false), w, 512);
		rq_status(&r, &q[i]);
		rq_post(&r, 0, &q[i], 10 + i);
	}
	ASSERT_EQ(vq_blk_queue_poll(r.b, 0, 64), 3);
	ASSERT_EQ(vq_blk_queue_inflight(r.b, 0), 3);
	ASSERT_EQ(pthread_create(&th, NULL, release_later, &gate), 0);
	ASSERT_EQ(vq_blk_queue_drain(r.b, 0), 0);
	ASSERT_EQ(vq_blk_queue_inflight(r.b, 0), 0);
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_EQ(vq_drv_get(r.drv[0], &t, &len), 1);
		ASSERT_EQ(*host(&r, q[i].st), VIRTIO_BLK_S_OK);
	}
	pthread_join(th, NULL);
	rig_fini(&r);
}

/* ---- multiqueue */

TEST(blk_multiqueue)
{
	struct rig r;
	struct vq_blk_config c;
	enum { NQ = 4, ROUNDS = 8, LEN = 4096 };
	uint8_t w[LEN], f[LEN];

	rig_init(&r, &(struct rig_opts){ .nq = NQ, .iothreads = 4 });
	ASSERT_TRUE(vq_blk_host_features(r.b) & F_BLK(MQ));
	ASSERT_EQ(vq_blk_get_config(r.b, 0, &c, sizeof(c)), 0);
	ASSERT_EQ(c.num_queues, NQ);
	for (unsigned k = 0; k < ROUNDS; k++) {
		for (unsigned i = 0; i < NQ; i++) {
			struct rq q;

			rq_hdr(&r, &q, VIRTIO_BLK_T_OUT, i * 1024 + k * 8);
			fill(rq_data(&r, &q, LEN, false), LEN, i * 16 + k);
			rq_status(&r, &q);
			rq_post(&r, i, &q, 1000 + k);
		}
	}
	for (unsigned i = 0; i < NQ; i++) /* start every queue before waiting */
		ASSERT_EQ(vq_blk_queue_poll(r.b, i, 64), ROUNDS);
	for (unsigned i = 0; i < NQ; i++) {
		for (unsigned k = 0; k < ROUNDS; k++) {
			uintptr_t tok;
			uint32_t len;

			wait_used(&r, i, &tok, &len);
			ASSERT_GE(tok, 1000);
			ASSERT_LT(tok, 1000 + ROUNDS);
		}
		ASSERT_EQ(stats(&r, i).writes, ROUNDS);
		ASSERT_GT(notified[i], 0);
	}
	for (unsigned i = 0; i < NQ; i++)
		for (unsigned k = 0; k < ROUNDS; k++) {
			fill(w, LEN, i * 16 + k);
			file_read(&r, (i * 1024 + k * 8) * 512ull, f, LEN);
			ASSERT_MEM_EQ(f, w, LEN);
		}
	/* a read on another queue sees queue 0's data */
	ASSERT_EQ(do_read(&r, 3, 8, f, LEN), VIRTIO_BLK_S_OK);
	fill(w, LEN, 1);
	ASSERT_MEM_EQ(f, w, LEN);
	rig_fini(&r);
}

/* ---- a full file system */

TEST(blk_enospc)
{
	char dir[] = "/tmp/virtq-blk-mnt-XXXXXX";
	struct rig r;
	struct rq q;
	uint8_t w[4096];
	const uint32_t big = 2u << 20;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=1m") < 0) {
		int e = errno;

		rmdir(dir);
		SKIP("cannot mount a 1 MiB tmpfs (needs CAP_SYS_ADMIN): %s", strerror(e));
	}
	rig_init(&r, &(struct rig_opts){ .iothreads = 2, .dir = dir });
	rq_hdr(&r, &q, VIRTIO_BLK_T_OUT, 0);
	memset(rq_data(&r, &q, big, false), 0x77, big);
	rq_status(&r, &q);
	ASSERT_EQ(rq_run(&r, 0, &q, NULL), VIRTIO_BLK_S_IOERR);
	ASSERT_EQ(stats(&r, 0).io_failed, 1);
	/* the device keeps serving: space that exists can be rewritten */
	fill(w, sizeof(w), 10);
	ASSERT_EQ(do_write(&r, 0, 0, w, sizeof(w)), VIRTIO_BLK_S_OK);
	rig_fini(&r);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
}

/* ---- O_DIRECT */

static uint8_t *rq_data_at(struct rig *r, struct rq *q, uint64_t gpa, uint32_t len,
			   bool writable)
{
	q->sg[q->out + q->in] = (struct vq_seg){ gpa, len };
	if (writable)
		q->in++;
	else
		q->out++;
	return host(r, gpa);
}

/* Guest memory at a 4 KiB boundary plus shift bytes. */
static uint64_t galloc_at(struct rig *r, uint32_t len, unsigned shift)
{
	return ((galloc(r, len + 4096 + shift) + 4095) & ~4095ull) + shift;
}

static void direct_case(struct rig *r, uint64_t sector, uint32_t len, unsigned shift,
			unsigned seed)
{
	struct rq q;
	uint8_t *w = malloc(len), *f = malloc(len), *d;

	ASSERT_TRUE(w && f);
	fill(w, len, seed);
	rq_hdr(r, &q, VIRTIO_BLK_T_OUT, sector);
	memcpy(rq_data_at(r, &q, galloc_at(r, len, shift), len, false), w, len);
	rq_status(r, &q);
	ASSERT_EQ(rq_run(r, 0, &q, NULL), VIRTIO_BLK_S_OK);
	file_read(r, sector * 512, f, len);
	ASSERT_MEM_EQ(f, w, len);
	rq_hdr(r, &q, VIRTIO_BLK_T_IN, sector);
	d = rq_data_at(r, &q, galloc_at(r, len, shift), len, true);
	rq_status(r, &q);
	ASSERT_EQ(rq_run(r, 0, &q, NULL), VIRTIO_BLK_S_OK);
	ASSERT_MEM_EQ(d, w, len);
	free(w);
	free(f);
}

TEST(blk_direct)
{
	struct rig r;
	struct vq_blk_config c;
	struct rig_opts o = { .iothreads = 2, .direct = true, .direct_align = 4096 };

	memset(&r, 0, sizeof(r));
	make_file(&r, NULL, DISK);
	int rc = rig_try(&r, &o);

	if (rc < 0)
		SKIP("O_DIRECT not supported for files in /tmp: %s", strerror(-rc));
	vq_blk_free(r.b);
	close(r.fd);
	rig_init(&r, &o);
	ASSERT_EQ(vq_blk_get_config(r.b, 0, &c, sizeof(c)), 0);
	ASSERT_EQ(c.blk_size, 4096);         /* defaults to the direct-I/O block */
	direct_case(&r, 8, 8192, 0, 11);      /* aligned: straight O_DIRECT */
	direct_case(&r, 64, 8192, 1, 12);     /* guest memory unaligned: bounce */
	direct_case(&r, 128, 3u << 20, 8, 15); /* bounce, several chunks */
	direct_case(&r, 1, 512, 0, 13);       /* offset below the block: buffered twin */
	direct_case(&r, 3, 1536, 3, 14);      /* both */
	ASSERT_EQ(do_simple(&r, VIRTIO_BLK_T_FLUSH), VIRTIO_BLK_S_OK);
	rig_fini(&r);
}

/* ---- config, features, params */

TEST(blk_config_features)
{
	struct rig r;
	struct vq_blk_config c;
	struct vq_blk_params p = { .fd = -1 };
	struct vq_blk *b;
	uint8_t x[8];

	rig_init(&r, &(struct rig_opts){ .nq = 2 });
	ASSERT_EQ(sizeof(c), 96);
	ASSERT_EQ(vq_blk_get_config(r.b, 0, &c, sizeof(c)), 0);
	ASSERT_EQ_U64(c.capacity, NSEC);
	ASSERT_EQ(vq_blk_capacity(r.b), NSEC);
	ASSERT_EQ(c.seg_max, 126);
	ASSERT_EQ(c.blk_size, 512);
	ASSERT_EQ(c.num_queues, 2);
	ASSERT_EQ(c.max_discard_seg, 4);
	ASSERT_EQ(c.max_discard_sectors, 1024);
	ASSERT_EQ(c.write_zeroes_may_unmap, 1);
	ASSERT_EQ(vq_blk_get_config(r.b, 8, x, 4), 0);
	ASSERT_MEM_EQ(x, &c.size_max, 4);
	ASSERT_EQ(vq_blk_get_config(r.b, sizeof(c) - 4, x, 8), -EINVAL);
	ASSERT_EQ(vq_blk_get_config(r.b, UINT32_MAX, x, 2), -EINVAL);
	uint64_t hf = vq_blk_host_features(r.b);
	ASSERT_TRUE(hf & F_BLK(FLUSH));
	ASSERT_TRUE(hf & F_BLK(MQ));
	ASSERT_FALSE(hf & F_BLK(RO));
	ASSERT_FALSE(hf & VQ_F_IN_ORDER);
	ASSERT_EQ(vq_blk_set_features(r.b, hf | VQ_F_IN_ORDER), -EINVAL);
	ASSERT_EQ(vq_blk_num_queues(r.b), 2);
	ASSERT_EQ(vq_blk_queue_poll(r.b, 2, 1), -EINVAL);
	rig_fini(&r);
	/* bad params */
	ASSERT_EQ(vq_blk_new(&p, &b), -EINVAL);
	p.path = "/nonexistent/virtq-blk";
	ASSERT_EQ(vq_blk_new(&p, &b), -ENOENT);
	p.num_queues = VQ_BLK_MAX_QUEUES + 1;
	ASSERT_EQ(vq_blk_new(&p, &b), -EINVAL);
	p.num_queues = 1;
	p.blk_size = 1000;
	ASSERT_EQ(vq_blk_new(&p, &b), -EINVAL);
	make_file(&r, NULL, 100); /* smaller than a sector */
	p = (struct vq_blk_params){ .path = r.path };
	ASSERT_EQ(vq_blk_new(&p, &b), -EINVAL);
	close(r.fd);
	/* a single queue does not offer MQ; a file of 1000 bytes has 1 sector */
	make_file(&r, NULL, 1000);
	p = (struct vq_blk_params){ .path = r.path };
	ASSERT_EQ(vq_blk_new(&p, &b), 0);
	ASSERT_FALSE(vq_blk_host_features(b) & F_BLK(MQ));
	ASSERT_EQ(vq_blk_capacity(b), 1);
	vq_blk_free(b);
	close(r.fd);
}

/* ---- the pure parser */

TEST(blk_parse_pure)
{
	struct vq_blk_limits lim = { .capacity = 100, .features = F_BLK(DISCARD),
				     .max_discard_sectors = 8, .max_discard_seg = 2 };
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_IN, .sector = 99 };
	uint8_t data[512], st = 0xee;
	struct iovec iov[3] = { { &h, 16 }, { data, 512 }, { &st, 1 } };
	struct vq_blk_range rg[2];
	struct vq_blk_req q;

	ASSERT_EQ(vq_blk_parse(NULL, iov, 1, 2, rg, 2, &q), -EINVAL);
	ASSERT_EQ(vq_blk_parse(&lim, iov, 1, 2, rg, 2, NULL), -EINVAL);
	ASSERT_EQ(vq_blk_parse(&lim, iov, 1, 2, rg, 2, &q), 0);
	ASSERT_EQ(q.status, VIRTIO_BLK_S_OK);
	ASSERT_TRUE(q.status_ptr == &st);
	ASSERT_EQ(q.offset, 99 * 512);
	ASSERT_EQ(q.len, 512);
	ASSERT_EQ(q.data_idx, 1);
	ASSERT_EQ(q.used_len, 513);
	h.sector = 100;
	ASSERT_EQ(vq_blk_parse(&lim, iov, 1, 2, rg, 2, &q), 1);
	ASSERT_EQ(q.status, VIRTIO_BLK_S_IOERR);
	ASSERT_STR_EQ(q.why, "sector out of range");
	ASSERT_EQ(vq_blk_parse(&lim, iov, 3, 0, rg, 2, &q), -EBADMSG);
	/* random layouts over random bytes: only the three outcomes, and a
	 * valid IN/OUT always lies inside the capacity */
	uint64_t s = vq_test_seed();
	static uint8_t pool[4096];
	for (size_t i = 0; i < sizeof(pool); i++)
		pool[i] = (uint8_t)vq_test_rand(&s);
	for (int it = 0; it < 200000; it++) {
		struct iovec v[6];
		unsigned n = 1 + vq_test_rand(&s) % 6, out = vq_test_rand(&s) % (n + 1);

		for (unsigned k = 0; k < n; k++) {
			size_t len = vq_test_rand(&s) % 5 == 0 ? 512 : vq_test_rand(&s) % 40;
			size_t off = vq_test_rand(&s) % (sizeof(pool) - len);

			v[k] = (struct iovec){ pool + off, len };
		}
		if (vq_test_rand(&s) % 2) { /* a plausible header */
			uint32_t types[] = { 0, 1, 4, 8, 11, 13, 99 };
			struct virtio_blk_outhdr hh = { types[vq_test_rand(&s) % 7], 0,
							vq_test_rand(&s) % 128 };
			static uint8_t hb[6][16];

			memcpy(hb[0], &hh, 16);
			v[0] = (struct iovec){ hb[0], 16 };
		}
		int rc = vq_blk_parse(&lim, v, out, n - out, rg, 2, &q);

		ASSERT_TRUE(rc == 0 || rc == 1 || rc == -EBADMSG);
		if (rc == 0 && (q.type == 0 || q.type == 1)) {
			ASSERT_EQ(q.len % 512, 0);
			ASSERT_LE(q.offset + q.len, lim.capacity * 512);
		}
		if (rc == 0 && q.type == VIRTIO_BLK_T_DISCARD)
			for (unsigned k = 0; k < q.nranges; k++)
				ASSERT_LE(rg[k].sector + rg[k].num_sectors, lim.capacity);
	}
}
