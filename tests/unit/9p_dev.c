/* SPDX-License-Identifier: MIT */
/*
 * The virtio-9p device model in-process: the 9p client library drives it
 * through the driver side of a ring over "guest" memory, no socket.  A
 * 128 MiB Tread of 32768 scattered 4 KiB pages is one chain through a
 * 128-entry queue with VQ_F_LARGE_CHAIN; without it the client keeps to
 * the queue size, and a driver that does not breaks the queue (spec rule).
 * Config space: the mount tag.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_9p.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <virtq/9p.h>
#include <virtq/9p_client.h>

#include "devices/9p/p9_wire.h"
#include "../harness/guest.h"
#include "../harness/test.h"

#define QSIZE   128u
#define CHAIN   33000u
#define BOUNCE  (256u << 10)
#define DATA    (128u << 20)
#define NPAGES  (DATA / 4096)

struct rig {
	char dir[64];
	struct vq_9p *s;
	struct vq_9p_dev *d;
	const struct vq_device_ops *ops;
	struct vq_test_guest g; /* the ring, the indirect table, bounce, data */
	uint8_t *bounce, *data;
	struct vq_drv *drv;
	struct vq_dev *dev;
	struct vq_seg *segs;
	unsigned broken;     /* host->queue_broken calls */
};

static void on_broken(void *host, unsigned idx)
{
	((struct rig *)host)->broken++;
}

static uint64_t gpa(const struct rig *r, const void *p)
{
	return VQ_TEST_GPA + (uint64_t)((const uint8_t *)p - r->g.mem);
}

static bool in_guest(const struct rig *r, const struct iovec *v)
{
	const uint8_t *p = v->iov_base, *end = r->g.mem + r->g.len;

	return p >= r->g.mem && p < end && v->iov_len <= (size_t)(end - p);
}

/* The transport: one chain per request; the device serves it on "kick". */
static int ring_rpc(void *ctx, const struct iovec *req, unsigned rn, const struct iovec *resp,
		    unsigned sn)
{
	struct rig *r = ctx;
	size_t off = 0;
	void *tok;
	uint32_t len;
	int err;

	for (unsigned i = 0; i < rn + sn; i++) {
		const struct iovec *v = i < rn ? &req[i] : &resp[i - rn];
		uint8_t *p = v->iov_base;

		if (!in_guest(r, v)) {
			ASSERT_LE(off + v->iov_len, BOUNCE);
			p = r->bounce + off;
			if (i < rn)
				memcpy(p, v->iov_base, v->iov_len);
			off += (v->iov_len + 63) & ~(size_t)63;
		}
		r->segs[i] = (struct vq_seg){ gpa(r, p), (uint32_t)v->iov_len };
	}
	err = vq_drv_add(r->drv, r->segs, rn, sn, r);
	if (err)
		return err;
	vq_drv_kick_prepare(r->drv);
	r->ops->queue_kick(r->d, 0);
	/* inline, the answer is there; with workers, it comes (10 s at most) */
	for (unsigned ms = 0; (err = vq_drv_get(r->drv, &tok, &len)) == 0 && ms < 10000 &&
			      !vq_dev_is_broken(r->dev); ms++)
		usleep(1000);
	if (err != 1)
		return -EIO;
	for (unsigned i = 0, left = len; i < sn && left; i++) {
		size_t k = resp[i].iov_len < left ? resp[i].iov_len : left;

		if (!in_guest(r, &resp[i]))
			memcpy(resp[i].iov_base, r->g.mem + (r->segs[rn + i].addr - VQ_TEST_GPA), k);
		left -= (unsigned)k;
	}
	return (int)len;
}

static unsigned rig_workers; /* vq_9p_dev_params.workers for the next rig */

/* dev_large: the device offers large chains; drv_large: the driver asks. */
static void rig_init(struct rig *r, bool dev_large, bool drv_large)
{
	struct vq_9p_params sp = { .export_dir = r->dir };
	struct vq_drv_params dp = { 0 };
	struct vq_ring_params rp;
	uint64_t want;
	uint8_t *ind;

	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "/tmp/vq9pd.XXXXXX");
	ASSERT_TRUE(mkdtemp(r->dir) != NULL);
	ASSERT_EQ(vq_9p_new(&sp, &r->s), 0);
	ASSERT_EQ(vq_9p_dev_new(&(struct vq_9p_dev_params){ .server = r->s,
							 .large_chain = dev_large,
							 .workers = rig_workers }, &r->d), 0);
	r->ops = vq_9p_dev_device(r->d).ops;
	r->ops->attach(r->d, &(struct vq_device_host){ .queue_broken = on_broken, .host = r });
	vq_test_guest_init(&r->g, VQ_LAYOUT_SPLIT, QSIZE, CHAIN * 16 + BOUNCE + DATA);
	ind = r->g.mem + r->g.free_off;
	r->bounce = ind + CHAIN * 16;
	r->data = r->bounce + BOUNCE;
	/* negotiate: the driver's wishes and the device's offer */
	want = VQ_F_VERSION_1 | VQ_F_INDIRECT | (1ull << VIRTIO_9P_MOUNT_TAG) |
	       (drv_large ? VQ_F_LARGE_CHAIN : 0);
	ASSERT_EQ(r->ops->set_features(r->d, want & r->ops->get_features(r->d)), 0);
	rp = vq_test_guest_ring(&r->g, want & r->ops->get_features(r->d));
	rp.max_chain = r->ops->max_chain(r->d, 0);
	ASSERT_EQ(vq_dev_new(&rp, r->g.map, &r->dev), 0);
	dp.ring = rp;
	dp.ring.features = want; /* a driver may believe more than was agreed */
	dp.ring.max_chain = drv_large ? CHAIN : 0;
	dp.indirect = ind;
	dp.indirect_gpa = gpa(r, ind);
	dp.indirect_tables = 1;
	dp.indirect_len = drv_large ? CHAIN : QSIZE;
	ASSERT_EQ(vq_drv_new(&dp, &r->drv), 0);
	ASSERT_EQ(r->ops->queue_start(r->d, 0, r->dev), 0);
	r->segs = calloc(CHAIN + 8, sizeof(*r->segs));
	ASSERT_TRUE(r->segs != NULL);
}

static void rig_fini(struct rig *r)
{
	char cmd[100];

	r->ops->queue_stop(r->d, 0);
	r->ops->reset(r->d);
	vq_drv_free(r->drv);
	vq_dev_free(r->dev);
	vq_9p_dev_free(r->d);
	vq_9p_free(r->s);
	vq_test_guest_fini(&r->g);
	free(r->segs);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
	ASSERT_EQ(system(cmd), 0);
}

/* A sparse file whose every page starts with its index. */
static void make_file(struct rig *r, uint32_t pages)
{
	char p[128];
	int fd;

	snprintf(p, sizeof(p), "%s/f", r->dir);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	ASSERT_GE(fd, 0);
	for (uint32_t i = 0; i < pages; i++)
		ASSERT_EQ(pwrite(fd, &i, 4, (off_t)i * 4096), 4);
	ASSERT_EQ(ftruncate(fd, (off_t)pages * 4096), 0);
	close(fd);
}

/* Read the file into NPAGES scattered pages (reverse order); the count. */
static int64_t read_scattered(struct rig *r, unsigned max_segs, uint32_t msize)
{
	struct vq_9p_client_params cp = { .msize = msize };
	struct vq_9p_client *cl;
	struct iovec *v = calloc(NPAGES, sizeof(*v));
	uint32_t fid;
	int64_t n;

	ASSERT_TRUE(v != NULL);
	for (unsigned i = 0; i < NPAGES; i++)
		v[i] = (struct iovec){ r->data + (size_t)(NPAGES - 1 - i) * 4096, 4096 };
	cp.transport = (struct vq_9p_client_transport){ ring_rpc, r, max_segs };
	ASSERT_EQ(vq_9p_client_new(&cp, &cl), 0);
	ASSERT_EQ(vq_9p_client_msize(cl), msize);
	ASSERT_EQ(vq_9p_client_walk(cl, "f", &fid), 0);
	ASSERT_EQ(vq_9p_client_open(cl, fid, O_RDONLY), 0);
	n = vq_9p_client_readv(cl, fid, 0, v, NPAGES);
	for (int64_t i = 0; i < n / 4096; i++) {
		uint32_t got;

		memcpy(&got, v[i].iov_base, 4);
		if (got != (uint32_t)i)
			FAIL("page %lld holds %u", (long long)i, got);
	}
	if (n >= 0)
		ASSERT_EQ(vq_9p_client_clunk(cl, fid), 0);
	vq_9p_client_free(cl);
	free(v);
	return n;
}

TEST_T(large_chain_128m_one_request, 120)
{
	struct rig r;
	uint64_t served, dropped;

	rig_init(&r, true, true);
	ASSERT_EQ(r.ops->max_chain(r.d, 0), VQ_MAX_CHAIN);
	make_file(&r, NPAGES);
	/* one Tread: 128 MiB - 24 bytes in 32768 page descriptors + 2 headers */
	ASSERT_EQ(read_scattered(&r, CHAIN, VQ_9P_MAX_MSIZE), (int64_t)VQ_9P_MAX_MSIZE - 24);
	vq_9p_dev_stats(r.d, &served, &dropped);
	ASSERT_EQ(dropped, 0);
	ASSERT_EQ(served, 7); /* version, attach, walk, lopen, read, 2 clunks */
	ASSERT_FALSE(vq_dev_is_broken(r.dev));
	ASSERT_EQ(r.broken, 0);
	rig_fini(&r);
}

/* The same through the session's workers: answers come from other threads. */
TEST_T(large_chain_128m_on_workers, 120)
{
	struct rig r;
	uint64_t served, dropped;

	rig_workers = 2;
	rig_init(&r, true, true);
	make_file(&r, NPAGES);
	ASSERT_EQ(read_scattered(&r, CHAIN, VQ_9P_MAX_MSIZE), (int64_t)VQ_9P_MAX_MSIZE - 24);
	r.ops->queue_stop(r.d, 0); /* waits for the workers */
	vq_9p_dev_stats(r.d, &served, &dropped);
	ASSERT_EQ(dropped, 0);
	ASSERT_EQ(served, 7);
	ASSERT_FALSE(vq_dev_is_broken(r.dev));
	rig_fini(&r);
	rig_workers = 0;
}

TEST_T(spec_limit_without_large_chain, 60)
{
	struct rig r;

	/* the device does not offer it: max_chain is the queue size */
	rig_init(&r, false, false);
	ASSERT_EQ(r.ops->max_chain(r.d, 0), 0);
	make_file(&r, 1024);
	/* the client keeps to 128 descriptors: 126 data pages per request */
	ASSERT_EQ(read_scattered(&r, QSIZE, 4u << 20), 126 * 4096);
	ASSERT_FALSE(vq_dev_is_broken(r.dev));
	rig_fini(&r);
}

TEST_T(spec_limit_enforced_on_a_driver, 60)
{
	struct rig r;
	int64_t n;

	/* the driver wants large chains, the device was built without */
	rig_init(&r, false, true);
	make_file(&r, 1024);
	n = read_scattered(&r, CHAIN, 4u << 20);
	ASSERT_LT(n, 0); /* the 1026-descriptor chain broke the queue */
	ASSERT_TRUE(vq_dev_is_broken(r.dev));
	ASSERT_EQ(vq_dev_violation(r.dev), VQ_ERR_CHAIN_LEN);
	ASSERT_EQ(r.broken, 1);
	rig_fini(&r);
}

TEST(config_space_and_features)
{
	struct vq_9p_params sp = { .tag = "share0" };
	struct vq_9p *s;
	struct vq_9p_dev *d;
	uint8_t cfg[16];
	char dir[] = "/tmp/vq9pc.XXXXXX";
	const struct vq_device_ops *ops = &vq_9p_device_ops;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	sp.export_dir = dir;
	ASSERT_EQ(vq_9p_new(&sp, &s), 0);
	ASSERT_EQ(vq_9p_dev_new(&(struct vq_9p_dev_params){ .server = s }, &d), 0);
	ASSERT_EQ(ops->device_id, VIRTIO_ID_9P);
	ASSERT_EQ(ops->num_queues(d), 1);
	ASSERT_TRUE(ops->get_features(d) & (1ull << VIRTIO_9P_MOUNT_TAG));
	ASSERT_FALSE(ops->get_features(d) & VQ_F_LARGE_CHAIN);
	ASSERT_EQ(ops->get_config(d, 0, cfg, 8), 0);
	ASSERT_EQ(cfg[0] | cfg[1] << 8, 6);
	ASSERT_TRUE(!memcmp(cfg + 2, "share0", 6));
	ASSERT_EQ(ops->get_config(d, 2, cfg, 6), 0);
	ASSERT_TRUE(!memcmp(cfg, "share0", 6));
	ASSERT_EQ(ops->get_config(d, 4, cfg, 5), -EINVAL);
	ASSERT_EQ(ops->get_config(d, 9, cfg, 1), -EINVAL);
	ASSERT_EQ(ops->set_features(d, VQ_F_LARGE_CHAIN), -EINVAL); /* not offered */
	vq_9p_dev_free(d);
	vq_9p_free(s);
	ASSERT_EQ(rmdir(dir), 0);
}
