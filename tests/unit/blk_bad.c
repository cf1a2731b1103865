/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk device model: every malformed request gets its exact status and
 * leaves the file untouched; read-only devices; a broken ring.
 */
#include "blk_fx.h"

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
