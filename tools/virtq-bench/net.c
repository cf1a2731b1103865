/* SPDX-License-Identifier: MIT */
/*
 * virtq-bench net: the virtio-net device model's 64 B data path, in
 * process.  A driver (vq_drv_*) plays DPDK's virtio-user; the device side is
 * what virtq-net's workers do, through the public vq_net_* API:
 *
 *   tx (guest->backend, virtq-net --sink): the driver posts frames as
 *     virtio-user does with "can_push" (VERSION_1): ONE device-readable
 *     descriptor holding the 12-byte header then the frame.  The device runs
 *     vq_net_tx_burst + vq_net_tx_done.
 *   rx (backend->guest, virtq-net --source): the driver posts one writable
 *     descriptor per buffer (2048 B + header, as virtio-user's mbufs with
 *     MRG_RXBUF); the device copies a prebuilt frame into them with
 *     vq_net_rx_burst.
 *
 * --inline runs both sides in one thread, alternating; the device's work is
 * in nb_dev_tx / nb_dev_rx, so that
 *   valgrind --tool=callgrind --toggle-collect='nb_dev_*' virtq-bench net --inline
 * counts the device side only (divide Ir by the packets printed).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/mem.h>
#include <virtq/net.h>

#include "bench.h"

#define NB_GPA    0x100000ull
#define NB_STRIDE 2304u /* one mbuf-like buffer per slot */
#define NB_RXBUF  2060u /* virtio-user: 2176 - 128 headroom + 12 header */
#define NB_HDR    12u

struct nb_opts {
	uint64_t count;
	uint32_t qsz, batch, size;
	enum vq_layout layout;
	bool rx, in_order, event_idx, inline_mode;
	int cpu_drv, cpu_dev;
};

struct nb {
	struct nb_opts o;
	struct vq_net *net;
	struct vq_mem *mem;
	uint8_t *guest;       /* qsz buffers of NB_STRIDE bytes, at NB_GPA */
	void *ring;           /* the one ring in use */
	struct vq_dev *dev;
	struct vq_drv *drv;
	uint32_t *free;       /* driver's free slots */
	uint32_t nfree;
	uint64_t done;        /* driver: buffers back */
	uint64_t bad;         /* driver: used lengths that were wrong */
	/* device side */
	uint8_t frame[2048];
	struct iovec fiov;
	struct vq_net_pkt fpkt;
	struct vq_net_pkt *fpkts[VQ_NET_BURST_MAX];
	uint64_t dev_pkts;
	_Alignas(64) int stop;
	int err;
};

static int nb_ring(struct nb *b, struct vq_ring_params *rc)
{
	struct vq_ring_layout l;
	int r = vq_ring_layout(b->o.layout, b->o.qsz, &l);

	if (r)
		return r;
	b->ring = aligned_alloc(64, (l.total + 63) & ~(size_t)63);
	if (!b->ring)
		return -ENOMEM;
	memset(b->ring, 0, l.total);
	memset(rc, 0, sizeof(*rc));
	rc->layout = b->o.layout;
	rc->size = b->o.qsz;
	rc->features = vq_net_features(b->net) & VQ_RING_FEATURES;
	rc->desc = (char *)b->ring + l.desc_off;
	rc->avail = (char *)b->ring + l.avail_off;
	rc->used = (char *)b->ring + l.used_off;
	return 0;
}

static uint64_t nb_features(const struct nb_opts *o)
{
	uint64_t f = VQ_F_VERSION_1 | VQ_NET_F(VIRTIO_NET_F_MRG_RXBUF) |
		     VQ_NET_F(VIRTIO_NET_F_MAC) | VQ_NET_F(VIRTIO_NET_F_STATUS);

	if (o->layout == VQ_LAYOUT_PACKED)
		f |= VQ_F_PACKED;
	if (o->in_order)
		f |= VQ_F_IN_ORDER;
	if (o->event_idx)
		f |= VQ_F_EVENT_IDX;
	return f;
}

static void nb_frame(struct nb *b)
{
	static const uint8_t hdr[34] = {
		0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, /* Ethernet */
		0x45, 0, 0, 50, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
	};

	memcpy(b->frame, hdr, sizeof(hdr));
	for (unsigned i = sizeof(hdr); i < b->o.size; i++)
		b->frame[i] = (uint8_t)i;
	b->fiov = (struct iovec){ b->frame, b->o.size };
	b->fpkt = (struct vq_net_pkt){ .len = b->o.size, .iovcnt = 1, .iov = &b->fiov };
	for (unsigned i = 0; i < VQ_NET_BURST_MAX; i++)
		b->fpkts[i] = &b->fpkt;
}

static int nb_setup(struct nb *b)
{
	struct vq_net_params p = { .mac = { 2, 0, 0, 0, 0, 2 }, .max_pairs = 1,
				   .features = VQ_NET_FEATURES_ALL };
	struct vq_drv_params dc = { 0 };
	struct vq_mem_region reg;
	size_t bytes = (size_t)b->o.qsz * NB_STRIDE;
	int r;

	if ((r = vq_net_new(&p, &b->net)) || (r = vq_net_set_features(b->net, nb_features(&b->o))))
		return r;
	b->guest = aligned_alloc(64, bytes);
	b->free = calloc(b->o.qsz, sizeof(*b->free));
	if (!b->guest || !b->free)
		return -ENOMEM;
	memset(b->guest, 0, bytes);
	reg = (struct vq_mem_region){ .gpa = NB_GPA, .size = bytes, .hva = b->guest,
				      .prot = VQ_MEM_RW };
	if ((r = vq_mem_new(&b->mem)) || (r = vq_mem_add(b->mem, &reg)))
		return r;
	if ((r = nb_ring(b, &dc.ring)) || (r = vq_drv_new(&dc, &b->drv)) ||
	    (r = vq_dev_new(&dc.ring, b->mem, &b->dev)))
		return r;
	vq_drv_disable_notify(b->drv); /* a poll-mode driver */
	vq_dev_disable_notify(b->dev);
	if ((r = vq_net_set_queue(b->net, b->o.rx ? 0 : 1, b->dev)))
		return r;
	for (uint32_t i = 0; i < b->o.qsz; i++) {
		uint8_t *buf = b->guest + (size_t)i * NB_STRIDE;

		b->free[b->nfree++] = b->o.qsz - 1 - i; /* popped from the end: 0 first */
		if (!b->o.rx) { /* header (all zero: no offload) then the frame */
			memset(buf, 0, NB_HDR);
			memcpy(buf + NB_HDR, b->frame, b->o.size);
		}
	}
	return 0;
}

static void nb_free(struct nb *b)
{
	if (b->net)
		vq_net_free(b->net);
	vq_dev_free(b->dev);
	vq_drv_free(b->drv);
	vq_mem_free(b->mem);
	free(b->ring);
	free(b->guest);
	free(b->free);
}

/* ---- driver side (virtio-user) */

static int nb_drv_step(struct nb *b)
{
	uint32_t want = b->o.batch, n = 0;
	uint32_t exp = NB_HDR + b->o.size;
	void *tok;
	uint32_t len;
	int r;

	while ((r = vq_drv_get(b->drv, &tok, &len)) == 1) {
		if (b->o.rx && len != exp)
			b->bad++;
		b->free[b->nfree++] = (uint32_t)((uintptr_t)tok - 1);
		b->done++;
	}
	if (r < 0)
		return r;
	while (n < want && b->nfree) {
		uint32_t slot = b->free[b->nfree - 1];
		struct vq_seg sg = { NB_GPA + (uint64_t)slot * NB_STRIDE,
				     b->o.rx ? NB_RXBUF : exp };

		r = vq_drv_add(b->drv, &sg, b->o.rx ? 0 : 1, b->o.rx ? 1 : 0,
			       (void *)(uintptr_t)(slot + 1));
		if (r == -ENOSPC)
			break;
		if (r < 0)
			return r;
		b->nfree--;
		n++;
	}
	if (n)
		vq_drv_kick_prepare(b->drv);
	return (int)n;
}

/* ---- device side (virtq-net --sink / --source) */

__attribute__((noinline)) int nb_dev_tx(struct nb *b);
__attribute__((noinline)) int nb_dev_rx(struct nb *b);

int nb_dev_tx(struct nb *b)
{
	struct vq_net_pkt *pkts[VQ_NET_BURST_MAX];
	int n = vq_net_tx_burst(b->net, 0, pkts, b->o.batch), r;

	if (n <= 0)
		return n;
	if ((r = vq_net_tx_done(b->net, 0)) < 0)
		return r;
	b->dev_pkts += (unsigned)n;
	return n;
}

int nb_dev_rx(struct nb *b)
{
	int n = vq_net_rx_burst(b->net, 0, b->fpkts, b->o.batch);

	if (n > 0)
		b->dev_pkts += (unsigned)n;
	return n;
}

static int nb_dev_step(struct nb *b)
{
	return b->o.rx ? nb_dev_rx(b) : nb_dev_tx(b);
}

/* ---- loops */

static void nb_fail(struct nb *b, int err)
{
	if (!b->err)
		b->err = err;
	__atomic_store_n(&b->stop, 1, __ATOMIC_RELAXED);
}

static void *nb_dev_thread(void *arg)
{
	struct nb *b = arg;
	int r;

	if (b->o.cpu_dev >= 0)
		bench_pin(b->o.cpu_dev);
	while (!__atomic_load_n(&b->stop, __ATOMIC_RELAXED))
		if ((r = nb_dev_step(b)) < 0)
			nb_fail(b, r);
	return NULL;
}

static int nb_loop(struct nb *b)
{
	pthread_t th;
	int r = 0;

	if (!b->o.inline_mode && pthread_create(&th, NULL, nb_dev_thread, b))
		return -EAGAIN;
	if (!b->o.inline_mode && b->o.cpu_drv >= 0)
		bench_pin(b->o.cpu_drv);
	while (b->done < b->o.count && !__atomic_load_n(&b->stop, __ATOMIC_RELAXED)) {
		if ((r = nb_drv_step(b)) < 0) {
			nb_fail(b, r);
			break;
		}
		if (b->o.inline_mode && (r = nb_dev_step(b)) < 0)
			nb_fail(b, r);
	}
	__atomic_store_n(&b->stop, 1, __ATOMIC_RELAXED);
	if (!b->o.inline_mode)
		pthread_join(th, NULL);
	return b->err;
}

static void net_usage(FILE *f)
{
	fprintf(f,
"usage: virtq-bench net [OPTIONS]\n"
"  The virtio-net device model's data path, in process: a driver posting\n"
"  frames as DPDK virtio-user does, the device doing what virtq-net --sink\n"
"  (tx) or --source (rx) does.  Prints packets, seconds and Mpps.\n"
"  --rx             backend->guest (default: tx, guest->backend)\n"
"  --count N        packets (default 10M)\n"
"  --size N         frame bytes, 60..2048 (default 64)\n"
"  --qsz N          queue size (default 256)\n"
"  --batch N        frames per burst, 1..64 (default 32)\n"
"  --packed         packed ring (default split)\n"
"  --in-order       negotiate VIRTIO_F_IN_ORDER\n"
"  --event-idx      negotiate VIRTIO_F_EVENT_IDX\n"
"  --inline         driver and device in one thread (for callgrind:\n"
"                   --toggle-collect='nb_dev_*' counts the device only)\n"
"  --cpus D,V       CPUs of the driver and device threads (default 0,1)\n");
}

static const struct option net_long[] = {
	VQT_COMMON_OPTIONS,
	{ "rx", no_argument, NULL, 'r' },
	{ "count", required_argument, NULL, 'n' },
	{ "size", required_argument, NULL, 's' },
	{ "qsz", required_argument, NULL, 'q' },
	{ "batch", required_argument, NULL, 'b' },
	{ "packed", no_argument, NULL, 'p' },
	{ "in-order", no_argument, NULL, 'o' },
	{ "event-idx", no_argument, NULL, 'e' },
	{ "inline", no_argument, NULL, 'i' },
	{ "cpus", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int net_opt(void *ctx, int c, const char *arg)
{
	struct nb_opts *o = ctx;
	uint64_t v;
	uint32_t cpus[2];

	switch (c) {
	case 'r': o->rx = true; return 0;
	case 'p': o->layout = VQ_LAYOUT_PACKED; return 0;
	case 'o': o->in_order = true; return 0;
	case 'e': o->event_idx = true; return 0;
	case 'i': o->inline_mode = true; return 0;
	case 'n': return vqt_parse_count(arg, 1, UINT64_MAX, &o->count);
	case 's': if (vqt_parse_count(arg, 60, 2048, &v)) return -EINVAL;
		o->size = (uint32_t)v; return 0;
	case 'q': if (vqt_parse_count(arg, 2, 32768, &v)) return -EINVAL;
		o->qsz = (uint32_t)v; return 0;
	case 'b': if (vqt_parse_count(arg, 1, VQ_NET_BURST_MAX, &v)) return -EINVAL;
		o->batch = (uint32_t)v; return 0;
	case 'c': if (bench_parse_list(arg, 0, 1023, cpus, 2) != 2)
			return vqt_parse_fail("two CPUs: driver,device");
		o->cpu_drv = (int)cpus[0]; o->cpu_dev = (int)cpus[1]; return 0;
	default: return vqt_parse_fail("unknown option");
	}
}

static int net_run(int argc, char **argv)
{
	struct nb *b = aligned_alloc(64, sizeof(*b));
	uint64_t t0, t1;
	double s;
	int c, r;

	if (!b)
		return 1;
	memset(b, 0, sizeof(*b));
	b->o = (struct nb_opts){ .count = 10000000, .qsz = 256, .batch = 32, .size = 64,
				 .cpu_drv = 0, .cpu_dev = 1 };
	if ((c = vqt_getopt(&(const struct vqt_cli){ .prog = "virtq-bench net",
						     .usage = net_usage, .shortopts = "",
						     .longopts = net_long, .one = net_opt,
						     .ctx = &b->o }, argc, argv)) != 0 ||
	    (optind < argc && vqt_usage_error("virtq-bench net", "unexpected argument '%s'",
					      argv[optind]))) {
		free(b);
		return c > 0 ? 0 : 2;
	}
	nb_frame(b);
	r = nb_setup(b);
	t0 = vqt_now_ns();
	if (!r)
		r = nb_loop(b);
	t1 = vqt_now_ns();
	if (r)
		fprintf(stderr, "virtq-bench net: %s (%s)\n", strerror(-r),
			b->dev ? vq_dev_error(b->dev) : "");
	s = (double)(t1 - t0) / 1e9;
	printf("net %s %s%s%s size %u batch %u qsz %u: packets %llu (device %llu), "
	       "%.3f s, %.3f Mpps%s\n", b->o.rx ? "rx" : "tx",
	       b->o.layout == VQ_LAYOUT_PACKED ? "packed" : "split",
	       b->o.in_order ? " in-order" : "", b->o.inline_mode ? " inline" : "",
	       b->o.size, b->o.batch, b->o.qsz, (unsigned long long)b->done,
	       (unsigned long long)b->dev_pkts, s, (double)b->done / s / 1e6,
	       b->bad ? " BAD LENGTHS" : "");
	nb_free(b);
	r = r || b->bad;
	free(b);
	return r ? 1 : 0;
}

const struct bench_cmd bench_cmd_net = {
	.name = "net",
	.summary = "the virtio-net device model's data path (sink / source)",
	.run = net_run,
	.usage = net_usage,
};
