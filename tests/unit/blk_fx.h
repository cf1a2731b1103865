/* SPDX-License-Identifier: MIT */
/*
 * The virtio-blk device model driven in-process by the driver side of the
 * ring over shared memory, on a temporary file whose content is checked
 * independently with pread: the rig (guest memory, rings, file, vq_blk) and
 * request helpers.  Shared by the blk_* test programs.
 */
#ifndef VQ_TEST_BLK_FX_H
#define VQ_TEST_BLK_FX_H

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
	enum vq_blk_engine engine; /* 0 = AUTO */
};

static unsigned notified[4];

static inline void on_notify(void *opaque, unsigned q)
{
	(void)opaque;
	if (q < 4)
		notified[q]++;
}

static inline uint64_t galloc(struct rig *r, size_t len)
{
	uint64_t a = r->next;

	/* a gap: the driver coalesces adjacent segments */
	r->next = (a + len + 64 + 63) & ~63ull;
	ASSERT_LE(r->next, GBASE + GSIZE);
	return a;
}

static inline uint8_t *host(struct rig *r, uint64_t gpa)
{
	return r->g + (gpa - GBASE);
}

static inline void ring_setup(struct rig *r, unsigned i, enum vq_layout layout, uint64_t feats)
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

static inline void make_file(struct rig *r, const char *dir, uint32_t size)
{
	snprintf(r->path, sizeof(r->path), "%s/virtq-blk-XXXXXX", dir ? dir : "/tmp");
	r->fd = mkstemp(r->path);
	ASSERT_TRUE(r->fd >= 0);
	unlink(r->path); /* the device reopens it through /proc/self/fd */
	ASSERT_EQ(ftruncate(r->fd, size), 0);
	snprintf(r->path, sizeof(r->path), "/proc/self/fd/%d", r->fd);
}

static inline int rig_try(struct rig *r, const struct rig_opts *o)
{
	struct vq_blk_params p = { .path = r->path, .num_queues = o->nq ? o->nq : 1,
				   .iothreads = o->iothreads, .readonly = o->readonly,
				   .direct = o->direct, .direct_align = o->direct_align,
				   .serial = SERIAL,
				   .max_discard_seg = 4, .max_write_zeroes_seg = 4,
				   .max_discard_sectors = 1024, .notify = on_notify,
				   .io_hook = o->io_hook, .engine = o->engine };

	return vq_blk_new(&p, &r->b);
}

static inline void rig_init(struct rig *r, const struct rig_opts *o)
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

static inline void rig_fini(struct rig *r)
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

static inline void rq_hdr(struct rig *r, struct rq *q, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };

	memset(q, 0, sizeof(*q));
	q->hdr = galloc(r, sizeof(h));
	memcpy(host(r, q->hdr), &h, sizeof(h));
	q->sg[0] = (struct vq_seg){ q->hdr, sizeof(h) };
	q->out = 1;
}

/* Append a data segment; returns its host pointer. */
static inline uint8_t *rq_data(struct rig *r, struct rq *q, uint32_t len, bool writable)
{
	uint64_t a = galloc(r, len);

	q->sg[q->out + q->in] = (struct vq_seg){ a, len };
	if (writable)
		q->in++;
	else
		q->out++;
	return host(r, a);
}

static inline uint8_t *rq_status(struct rig *r, struct rq *q)
{
	q->st = galloc(r, 1);
	*host(r, q->st) = 0xee;
	q->sg[q->out + q->in] = (struct vq_seg){ q->st, 1 };
	q->in++;
	return host(r, q->st);
}

static inline void rq_post(struct rig *r, unsigned qi, struct rq *q, uintptr_t token)
{
	ASSERT_EQ(vq_drv_add(r->drv[qi], q->sg, q->out, q->in, (void *)token), 0);
	vq_drv_kick_prepare(r->drv[qi]);
}

/* Poll the device until queue qi returns a used buffer (5 s at most). */
static inline void wait_used(struct rig *r, unsigned qi, uintptr_t *token, uint32_t *len)
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
static inline uint8_t rq_run(struct rig *r, unsigned qi, struct rq *q, uint32_t *used)
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

static inline uint8_t do_write(struct rig *r, unsigned qi, uint64_t sector, const void *buf,
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

static inline uint8_t do_read(struct rig *r, unsigned qi, uint64_t sector, void *buf, uint32_t len)
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

static inline uint8_t do_simple(struct rig *r, uint32_t type)
{
	struct rq q;

	rq_hdr(r, &q, type, 0);
	rq_status(r, &q);
	return rq_run(r, 0, &q, NULL);
}

static inline uint8_t do_ranges(struct rig *r, uint32_t type, const struct vq_blk_range *rg,
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

static inline void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static inline void file_read(struct rig *r, uint64_t off, void *buf, size_t len)
{
	ASSERT_EQ(pread(r->fd, buf, len, (off_t)off), (ssize_t)len);
}

static inline bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static inline struct vq_blk_stats stats(struct rig *r, unsigned qi)
{
	struct vq_blk_stats s;

	ASSERT_EQ(vq_blk_get_stats(r->b, qi, &s), 0);
	return s;
}

#endif
