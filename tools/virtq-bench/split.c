/* SPDX-License-Identifier: MIT */
/*
 * virtq-bench split: EXPERIMENTAL header/data split (docs/SPLIT.md) in one
 * thread, no socket: the net device model places bursts of one TCP-like
 * frame into a receive ring (vq_net_rx_burst), the split-aware driver
 * (vq_splitdrv) hands them to an application that reads every byte, from
 * the receive buffers (zc) or after copying each frame out (copy), and
 * releases them.  Each phase is timed in thread CPU time, so that other
 * processes on a busy machine do not count: ns per frame for the device,
 * for the driver and application, and in all.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <virtq/mem.h>
#include <virtq/net.h>
#include <virtq/net_split.h>

#include "bench.h"

#define GBASE 0x100000ull
#define GBYTES (16u << 20)
#define BURST 32u

struct sopt {
	uint64_t method;
	bool v6, packed, copy;
	unsigned size, ratio, qsize, thresh;
	uint64_t frames;
};

struct sbench {
	struct sopt o;
	uint8_t *g;
	uint64_t next;
	struct vq_mem *mem;
	struct vq_net *n;
	struct vq_drv *drv, *drvs[2];
	struct vq_dev *dev, *devs[2];
	void *rings[2];
	struct vq_splitdrv *sd;
	uint8_t *frame, *app;
	uint64_t sink;
};

static void usage(FILE *f)
{
	fprintf(f, "virtq-bench split [--method none|a|b|c|hring] [--proto tcp4|tcp6] [--size N]\n"
		   "                  [--deliver zc|copy] [--ratio N] [--frames N] [--packed]\n"
		   "                  [--thresh N]\n"
		   "  EXPERIMENTAL header/data split, device model and split-aware driver in one\n"
		   "  thread; the application reads every byte.  Prints one 'split:' line: ns of\n"
		   "  thread CPU time per frame (device, driver+application, both), frames split\n"
		   "  and page-aligned, ring slots, receive memory.  --thresh N: frames of at\n"
		   "  most N bytes go unsplit (the device's hds-thresh; default 0: split all).\n");
}

static void *galloc(void *ctx, size_t size, uint64_t *addr)
{
	struct sbench *b = ctx;
	uint64_t a = (b->next + 4095) & ~4095ull;

	if (a + size > GBASE + GBYTES)
		return NULL;
	b->next = a + size;
	*addr = a;
	return b->g + (a - GBASE);
}

static void build(uint8_t *f, unsigned size, bool v6)
{
	unsigned l3 = 14, l4 = v6 ? 54 : 34;

	memset(f, 0, l4 + 20);
	memset(f, 0xff, 6);
	f[6] = 0x02;
	f[12] = v6 ? 0x86 : 0x08;
	f[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		f[l3] = 0x60;
		f[l3 + 4] = (uint8_t)((size - 54) >> 8);
		f[l3 + 5] = (uint8_t)(size - 54);
		f[l3 + 6] = 6;
		f[l3 + 7] = 64;
	} else {
		f[l3] = 0x45;
		f[l3 + 2] = (uint8_t)((size - 14) >> 8);
		f[l3 + 3] = (uint8_t)(size - 14);
		f[l3 + 8] = 64;
		f[l3 + 9] = 6;
	}
	f[l4 + 12] = 5 << 4;
	f[l4 + 13] = 0x10;
	for (unsigned i = l4 + 20; i < size; i++)
		f[i] = (uint8_t)i;
}

static int ring(struct sbench *b, unsigned idx, uint64_t feats, bool keep)
{
	enum vq_layout lay = b->o.packed ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
	struct vq_ring_layout l;
	struct vq_drv *drv;
	struct vq_dev *dev;
	uint8_t *r;
	int e;

	if ((e = vq_ring_layout(lay, b->o.qsize, &l)) < 0)
		return e;
	if (!(r = aligned_alloc(4096, (l.total + 4095) & ~(size_t)4095)))
		return -ENOMEM;
	memset(r, 0, l.total);
	struct vq_ring_params rc = { lay, b->o.qsize, feats, 0, r + l.desc_off,
				     r + l.avail_off, r + l.used_off };
	struct vq_drv_params dc = { .ring = rc };

	b->rings[idx] = r;
	if ((e = vq_drv_new(&dc, &b->drvs[idx])) < 0)
		return e;
	drv = b->drvs[idx];
	if ((e = vq_dev_new(&rc, b->mem, &b->devs[idx])) < 0)
		return e;
	dev = b->devs[idx];
	if ((e = vq_net_set_queue(b->n, idx, dev)) < 0)
		return e;
	if (keep) {
		b->drv = drv;
		b->dev = dev;
	}
	return 0;
}

static int setup(struct sbench *b)
{
	uint64_t f = VQ_F_VERSION_1 | b->o.method | (b->o.packed ? VQ_F_PACKED : 0) |
		     (b->o.method == VQ_NET_F_SPLIT_A ? 0 : VQ_NET_F(VIRTIO_NET_F_MRG_RXBUF));
	struct vq_net_params np = { .max_pairs = 1,
				    .features = VQ_NET_FEATURES_DEFAULT | VQ_NET_F_SPLIT_ALL,
				    .split_thresh = (uint16_t)b->o.thresh };
	struct vq_splitdrv_params sp = { .features = f, .queue_size = b->o.qsize,
					 .ratio = b->o.ratio, .alloc = galloc, .ctx = b };
	struct vq_mem_region reg;
	int e;

	b->g = aligned_alloc(4096, GBYTES);
	b->frame = malloc(65536 + 128);
	b->app = malloc(65536 + 128);
	if (!b->g || !b->frame || !b->app)
		return -ENOMEM;
	memset(b->g, 0, GBYTES);
	build(b->frame, b->o.size, b->o.v6);
	b->next = GBASE;
	reg = (struct vq_mem_region){ GBASE, GBYTES, b->g, 0, VQ_MEM_RW };
	if ((e = vq_mem_new(&b->mem)) < 0 || (e = vq_mem_add(b->mem, &reg)) < 0 ||
	    (e = vq_net_new(&np, &b->n)) < 0 || (e = vq_net_set_features(b->n, f)) < 0 ||
	    (e = ring(b, 0, f, true)) < 0 || (e = ring(b, 1, f, false)) < 0 ||
	    (e = vq_splitdrv_new(&sp, &b->sd)) < 0)
		return e;
	if (b->o.method == VQ_NET_F_SPLIT_HDR_RING) {
		struct vq_net_split_hdr_ring r;

		vq_splitdrv_hdr_ring(b->sd, &r);
		r.mem = b->mem;
		if ((e = vq_net_split_set_hdr_ring(b->n, 0, &r)) < 0)
			return e;
	}
	return vq_splitdrv_attach(b->sd, b->drv);
}

static uint64_t cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static const char *method_name(uint64_t m)
{
	return m == 0 ? "none" : m == VQ_NET_F_SPLIT_A ? "a" : m == VQ_NET_F_SPLIT_B ? "b" :
	       m == VQ_NET_F_SPLIT_C ? "c" : "hring";
}

/* The driver's half: receive, read every byte, release.  Frames or -EIO. */
static int drain(struct sbench *b)
{
	struct vq_splitdrv_pkt pk[BURST];
	int r = vq_splitdrv_recv(b->sd, pk, BURST);

	for (int i = 0; i < r; i++) {
		if (b->o.copy) {
			vq_splitdrv_copy(&pk[i], b->app, 65536 + 128);
			b->sink += vqt_read_sum(b->app, pk[i].len);
		} else {
			b->sink += vqt_read_sum(pk[i].head, pk[i].head_len);
			for (unsigned k = 0; k < pk[i].iovcnt; k++)
				b->sink += vqt_read_sum(pk[i].iov[k].iov_base, pk[i].iov[k].iov_len);
		}
		vq_splitdrv_release(b->sd, &pk[i]);
	}
	return r;
}

static int run(struct sbench *b)
{
	struct vq_net_pkt pkt = { .iovcnt = 1, .len = b->o.size };
	struct iovec v = { b->frame, b->o.size };
	struct vq_net_pkt *pp[BURST];
	struct vq_splitdrv_stats st;
	uint64_t got = 0, tdev = 0, tdrv = 0, t;
	unsigned idle = 0;
	int r;

	pkt.iov = &v;
	for (unsigned i = 0; i < BURST; i++)
		pp[i] = &pkt;
	while (got < b->o.frames) {
		t = cpu_ns();
		r = vq_net_rx_burst(b->n, 0, pp, BURST);
		tdev += cpu_ns() - t;
		if (r < 0)
			return r;
		t = cpu_ns();
		r = drain(b);
		tdrv += cpu_ns() - t;
		if (r < 0) {
			fprintf(stderr, "virtq-bench split: %s\n", vq_splitdrv_error(b->sd));
			return r;
		}
		got += (unsigned)r;
		/* Nothing received for a while: the device drops every frame
		 * (one that does not fit these buffers, e.g. A without
		 * mergeable buffers and a chain shorter than the frame). */
		if ((idle = r ? 0 : idle + 1) == 1000) {
			struct vq_net_stats ns;

			vq_net_get_stats(b->n, 0, &ns);
			fprintf(stderr, "virtq-bench split: no frame received in 1000 bursts; the "
				"device dropped %llu frames of %u bytes (too long for method %s's "
				"buffers of --ratio %u pages?)\n",
				(unsigned long long)ns.rx.drops, b->o.size, method_name(b->o.method),
				b->o.ratio);
			return -EMSGSIZE;
		}
	}
	vq_splitdrv_get_stats(b->sd, &st);
	printf("split: method %s proto %s size %u deliver %s frames %llu split %llu aligned %llu "
	       "slots %llu mem %llu dev_ns %.1f drv_ns %.1f total_ns %.1f sum %llx\n",
	       method_name(b->o.method), b->o.v6 ? "tcp6" : "tcp4", b->o.size, b->o.copy ? "copy" : "zc",
	       (unsigned long long)st.packets, (unsigned long long)st.split,
	       (unsigned long long)st.aligned, (unsigned long long)st.slots,
	       (unsigned long long)st.mem, (double)tdev / (double)got, (double)tdrv / (double)got,
	       (double)(tdev + tdrv) / (double)got, (unsigned long long)b->sink);
	return 0;
}

static void teardown(struct sbench *b)
{
	if (b->sd)
		vq_splitdrv_attach(b->sd, NULL);
	vq_splitdrv_free(b->sd);
	for (unsigned i = 0; i < 2; i++)
		if (b->n && b->devs[i])
			vq_net_set_queue(b->n, i, NULL);
	vq_net_free(b->n);
	for (unsigned i = 0; i < 2; i++) {
		vq_dev_free(b->devs[i]);
		vq_drv_free(b->drvs[i]);
		free(b->rings[i]);
	}
	vq_mem_free(b->mem);
	free(b->g);
	free(b->frame);
	free(b->app);
	free(b);
}

static int parse_method(const char *a, uint64_t *m)
{
	static const char *const names[] = { "none", "a", "b", "c", "hring" };
	static const uint64_t bits[] = { 0, VQ_NET_F_SPLIT_A, VQ_NET_F_SPLIT_B, VQ_NET_F_SPLIT_C,
					 VQ_NET_F_SPLIT_HDR_RING };

	for (unsigned i = 0; i < 5; i++)
		if (!strcmp(a, names[i])) {
			*m = bits[i];
			return 0;
		}
	return vqt_parse_fail("none, a, b, c or hring");
}

static int one(void *ctx, int c, const char *a)
{
	struct sopt *o = ctx;

	switch (c) {
	case 'm': return parse_method(a, &o->method);
	case 'p':
		if (strcmp(a, "tcp4") && strcmp(a, "tcp6"))
			return vqt_parse_fail("tcp4 or tcp6");
		o->v6 = !strcmp(a, "tcp6");
		return 0;
	case 'n': return vqt_parse_uint(a, 64, 65536, &o->size);
	case 'd':
		if (strcmp(a, "zc") && strcmp(a, "copy"))
			return vqt_parse_fail("zc or copy");
		o->copy = !strcmp(a, "copy");
		return 0;
	case 'r': return vqt_parse_uint(a, 1, 16, &o->ratio);
	case 'f': return vqt_parse_count(a, 1, 1ull << 40, &o->frames);
	case 'P': o->packed = true; return 0;
	case 't': return vqt_parse_uint(a, 0, 65535, &o->thresh);
	}
	return vqt_parse_fail("unknown option");
}

static int cmd(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "method", 1, NULL, 'm' }, { "proto", 1, NULL, 'p' }, { "size", 1, NULL, 'n' },
		{ "deliver", 1, NULL, 'd' }, { "ratio", 1, NULL, 'r' }, { "frames", 1, NULL, 'f' },
		{ "packed", 0, NULL, 'P' }, { "thresh", 1, NULL, 't' }, { "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	struct sbench *b = calloc(1, sizeof(*b));
	const struct vqt_cli cli = { .prog = "virtq-bench split", .usage = usage,
				     .shortopts = "", .longopts = lo, .one = one, .ctx = b ? &b->o : NULL };
	int r;

	if (!b)
		return 1;
	b->o = (struct sopt){ .size = 1500, .ratio = 1, .qsize = 256, .frames = 200000 };
	if ((r = vqt_getopt(&cli, argc, argv)) != 0) {
		free(b);
		return r > 0 ? 0 : 2;
	}
	if (b->o.size < (b->o.v6 ? 75u : 55u)) {
		free(b);
		vqt_usage_error(cli.prog, "--size below the headers and one payload byte");
		return 2;
	}
	if ((r = setup(b)) < 0)
		fprintf(stderr, "virtq-bench split: setup: %s\n", strerror(-r));
	else if ((r = run(b)) < 0)
		fprintf(stderr, "virtq-bench split: %s\n", strerror(-r));
	teardown(b);
	return r < 0 ? 1 : 0;
}

const struct bench_cmd bench_cmd_split = {
	.name = "split",
	.summary = "EXPERIMENTAL header/data split: device model and split-aware driver in one thread",
	.run = cmd,
	.usage = usage,
};
