/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk I/O engines: which one AUTO picks, and the same requests on
 * io_uring and on the thread pool (reads, writes, flush, discard, a batch of
 * 32 requests started by one poll).
 */
#include "blk_fx.h"

/* Write, read back, the last sector, flush, discard: on engine e. */
static void write_read(unsigned iothreads, enum vq_layout layout, enum vq_blk_engine e)
{
	struct rig r;
	uint8_t w[8192], rd[8192], f[8192];
	struct vq_blk_range rg = { .sector = 10, .num_sectors = 16 };

	rig_init(&r, &(struct rig_opts){ .iothreads = iothreads, .layout = layout, .engine = e });
	ASSERT_EQ(vq_blk_get_engine(r.b), e);
	fill(w, sizeof(w), 1);
	ASSERT_EQ(do_write(&r, 0, 10, w, sizeof(w)), VIRTIO_BLK_S_OK);
	file_read(&r, 10 * 512, f, sizeof(f));
	ASSERT_MEM_EQ(f, w, sizeof(w));
	ASSERT_EQ(do_read(&r, 0, 10, rd, sizeof(rd)), VIRTIO_BLK_S_OK);
	ASSERT_MEM_EQ(rd, w, sizeof(w));
	fill(w, 512, 2);
	ASSERT_EQ(pwrite(r.fd, w, 512, DISK - 512), 512);
	ASSERT_EQ(do_read(&r, 0, NSEC - 1, rd, 512), VIRTIO_BLK_S_OK);
	ASSERT_MEM_EQ(rd, w, 512);
	ASSERT_EQ(do_simple(&r, VIRTIO_BLK_T_FLUSH), VIRTIO_BLK_S_OK);
	/* write zeroes goes to the pool (or inline) on io_uring too */
	ASSERT_EQ(do_ranges(&r, VIRTIO_BLK_T_WRITE_ZEROES, &rg, 1), VIRTIO_BLK_S_OK);
	file_read(&r, 10 * 512, f, sizeof(f));
	ASSERT_TRUE(all_zero(f, sizeof(f)));
	struct vq_blk_stats s = stats(&r, 0);
	ASSERT_EQ(s.writes, 1);
	ASSERT_EQ(s.reads, 2);
	ASSERT_EQ(s.flushes, 1);
	ASSERT_EQ(s.write_zeroes, 1);
	ASSERT_EQ(s.read_bytes, 8192 + 512);
	rig_fini(&r);
}

TEST(blk_engine_threads) { write_read(4, VQ_LAYOUT_SPLIT, VQ_BLK_ENGINE_THREADS); }
TEST(blk_engine_threads_sync) { write_read(0, VQ_LAYOUT_PACKED, VQ_BLK_ENGINE_THREADS); }
#ifdef VQ_HAVE_LIBURING
TEST(blk_engine_uring) { write_read(2, VQ_LAYOUT_SPLIT, VQ_BLK_ENGINE_URING); }
TEST(blk_engine_uring_no_pool) { write_read(0, VQ_LAYOUT_PACKED, VQ_BLK_ENGINE_URING); }
#endif

/* AUTO takes io_uring when built with it and there are I/O threads, the
 * pool otherwise; a bad engine is refused. */
TEST(blk_engine_choice)
{
	struct rig r;
	struct vq_blk *b;
	enum vq_blk_engine want;

#ifdef VQ_HAVE_LIBURING
	want = VQ_BLK_ENGINE_URING;
#else
	want = VQ_BLK_ENGINE_THREADS;
	printf("  built without liburing: AUTO must pick threads\n");
#endif
	rig_init(&r, &(struct rig_opts){ .iothreads = 2 });
	ASSERT_EQ(vq_blk_get_engine(r.b), want);
	ASSERT_EQ(strcmp(vq_blk_engine_name(vq_blk_get_engine(r.b)),
			 want == VQ_BLK_ENGINE_URING ? "io_uring" : "threads"), 0);
	ASSERT_EQ(vq_blk_new(&(struct vq_blk_params){ .path = r.path, .iothreads = 0 }, &b), 0);
	ASSERT_EQ(vq_blk_get_engine(b), VQ_BLK_ENGINE_THREADS);
	vq_blk_free(b);
	ASSERT_EQ(vq_blk_new(&(struct vq_blk_params){ .path = r.path, .iothreads = 1,
						      .engine = (enum vq_blk_engine)7 }, &b),
		  -EINVAL);
#ifndef VQ_HAVE_LIBURING
	ASSERT_EQ(vq_blk_new(&(struct vq_blk_params){ .path = r.path,
						      .engine = VQ_BLK_ENGINE_URING }, &b),
		  -EOPNOTSUPP);
#endif
	rig_fini(&r);
}

/* A batch: 32 reads posted at once, started by one poll (one submission on
 * io_uring), each completed with its own data. */
static void batch(enum vq_blk_engine e)
{
	enum { N = 32, LEN = 4096 };
	struct rig r;
	struct rq q[N];
	uint8_t w[LEN];
	uint8_t *rd[N];
	uintptr_t tok;
	uint32_t len;

	rig_init(&r, &(struct rig_opts){ .iothreads = 2, .engine = e });
	for (unsigned i = 0; i < N; i++) {
		fill(w, LEN, 100 + i);
		ASSERT_EQ(pwrite(r.fd, w, LEN, (off_t)i * LEN), LEN);
	}
	for (unsigned i = 0; i < N; i++) {
		rq_hdr(&r, &q[i], VIRTIO_BLK_T_IN, i * (LEN / 512));
		rd[i] = rq_data(&r, &q[i], LEN, true);
		rq_status(&r, &q[i]);
		rq_post(&r, 0, &q[i], i + 1); /* tokens are not NULL */
	}
	ASSERT_EQ(vq_blk_queue_poll(r.b, 0, 64), N);
	ASSERT_EQ(vq_blk_queue_drain(r.b, 0), 0);
	ASSERT_EQ(vq_blk_queue_inflight(r.b, 0), 0);
	for (unsigned i = 0; i < N; i++) {
		wait_used(&r, 0, &tok, &len);
		ASSERT_TRUE(tok >= 1 && tok <= N);
		tok--;
		ASSERT_EQ(*host(&r, q[tok].st), VIRTIO_BLK_S_OK);
		fill(w, LEN, 100 + (unsigned)tok);
		ASSERT_MEM_EQ(rd[tok], w, LEN);
	}
	ASSERT_EQ(stats(&r, 0).reads, N);
	rig_fini(&r);
}

TEST(blk_engine_batch_threads) { batch(VQ_BLK_ENGINE_THREADS); }
#ifdef VQ_HAVE_LIBURING
TEST(blk_engine_batch_uring) { batch(VQ_BLK_ENGINE_URING); }
#endif
