/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk device model: read, write, flush, GET_ID, discard, write zeroes;
 * multiqueue; config space, features and parameters; the pure parser.
 */
#include "blk_fx.h"

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
	ASSERT_EQ(c.blk.num_queues, NQ);
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
	ASSERT_EQ_U64(c.blk.capacity, NSEC);
	ASSERT_EQ(vq_blk_capacity(r.b), NSEC);
	ASSERT_EQ(c.blk.seg_max, 126);
	ASSERT_EQ(c.blk.blk_size, 512);
	ASSERT_EQ(c.blk.num_queues, 2);
	ASSERT_EQ(c.blk.max_discard_seg, 4);
	ASSERT_EQ(c.blk.max_discard_sectors, 1024);
	ASSERT_EQ(c.blk.write_zeroes_may_unmap, 1);
	ASSERT_EQ(vq_blk_get_config(r.b, 8, x, 4), 0);
	ASSERT_MEM_EQ(x, &c.blk.size_max, 4);
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
