/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk device model against the file: a write is acknowledged only
 * after the data reached the file, draining, a full file system (ENOSPC),
 * O_DIRECT with unaligned guest buffers.
 */
#include "blk_fx.h"

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
	ASSERT_EQ(c.blk.blk_size, 4096);         /* defaults to the direct-I/O block */
	direct_case(&r, 8, 8192, 0, 11);      /* aligned: straight O_DIRECT */
	direct_case(&r, 64, 8192, 1, 12);     /* guest memory unaligned: bounce */
	direct_case(&r, 128, 3u << 20, 8, 15); /* bounce, several chunks */
	direct_case(&r, 1, 512, 0, 13);       /* offset below the block: buffered twin */
	direct_case(&r, 3, 1536, 3, 14);      /* both */
	ASSERT_EQ(do_simple(&r, VIRTIO_BLK_T_FLUSH), VIRTIO_BLK_S_OK);
	rig_fini(&r);
}
