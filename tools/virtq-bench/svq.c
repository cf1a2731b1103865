/* SPDX-License-Identifier: MIT */
/*
 * virtq-bench svq: the cost of the shadow virtqueue.
 *
 *   translations: guest buffers (GPA, len) turned into IOVA segments by
 *     vq_iova_translate (an AVL tree keyed by GPA) against a linear scan of
 *     the same maps in IOVA order, the way QEMU's vhost IOVA tree searches
 *     by address today (iova_tree_find_iova walks every mapping), at several
 *     region counts.  Each figure is the median of --reps timed runs.
 *   relay: one thread drives a driver, the SVQ and a device in turn (64-byte
 *     buffers, batch 32) and the same driver and device directly; the
 *     difference in thread CPU time per buffer is what the relay costs.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <virtq/iova.h>
#include <virtq/mem.h>
#include <virtq/ring.h>
#include <virtq/svq.h>

#include "bench.h"

#define SB_REGION  (1ull << 20)   /* bytes per region */
#define SB_GAP     (64ull << 10)  /* between regions in GPA space */
#define SB_QUERIES 4096u          /* precomputed queries, cycled */
#define SB_MAX_REG 8192u

struct sb_opts {
	uint32_t regions[16];
	unsigned nregions;
	uint32_t len, reps;
	double secs;     /* per timed run */
	bool markdown, relay_only, trans_only;
};

/* The reference: every map in IOVA order, searched front to back. */
struct sb_lin {
	uint64_t gpa, size, iova;
	uint32_t prot;
};

static int lin_translate(const struct sb_lin *m, unsigned n, uint64_t gpa, uint64_t len,
			 uint32_t prot, struct vq_iova_seg *seg, unsigned max)
{
	unsigned ns = 0;

	while (len) {
		const struct sb_lin *hit = NULL;
		uint64_t piece;

		for (unsigned i = 0; i < n && !hit; i++)
			if (gpa - m[i].gpa < m[i].size)
				hit = &m[i];
		if (!hit)
			return -EFAULT;
		if ((hit->prot & prot) != prot)
			return -EACCES;
		if (ns == max)
			return -ENOBUFS;
		piece = hit->size - (gpa - hit->gpa);
		if (piece > len)
			piece = len;
		seg[ns++] = (struct vq_iova_seg){ hit->iova + (gpa - hit->gpa), piece };
		gpa += piece;
		len -= piece;
	}
	return (int)ns;
}

/*
 * The same search the way QEMU's vhost IOVA tree does it today: a GTree
 * foreach, i.e. an in-order walk over heap nodes calling an iterator per
 * node until it says "found".  The iterator is called through a pointer, as
 * glib does.
 */
struct sb_node {
	struct sb_node *next;
	struct sb_lin map;
};

struct sb_needle {
	uint64_t gpa;
	const struct sb_lin *hit;
};

static bool walk_iter(const struct sb_lin *m, struct sb_needle *n)
{
	if (n->gpa - m->gpa >= m->size)
		return false;
	n->hit = m;
	return true;
}

static bool (*volatile walk_fn)(const struct sb_lin *, struct sb_needle *) = walk_iter;

static int walk_translate(const struct sb_node *head, uint64_t gpa, uint64_t len,
			  uint32_t prot, struct vq_iova_seg *seg, unsigned max)
{
	bool (*fn)(const struct sb_lin *, struct sb_needle *) = walk_fn;
	unsigned ns = 0;

	while (len) {
		struct sb_needle nd = { .gpa = gpa };
		uint64_t piece;

		for (const struct sb_node *x = head; x && !fn(&x->map, &nd); x = x->next)
			;
		if (!nd.hit)
			return -EFAULT;
		if ((nd.hit->prot & prot) != prot)
			return -EACCES;
		if (ns == max)
			return -ENOBUFS;
		piece = nd.hit->size - (gpa - nd.hit->gpa);
		if (piece > len)
			piece = len;
		seg[ns++] = (struct vq_iova_seg){ nd.hit->iova + (gpa - nd.hit->gpa), piece };
		gpa += piece;
		len -= piece;
	}
	return (int)ns;
}

static double thread_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t sb_rand(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1Dull;
}

struct sb_space {
	struct vq_iova *t;
	struct sb_lin *lin;
	struct sb_node *walk;    /* the same maps as heap nodes, IOVA order */
	unsigned n;
	uint64_t q[SB_QUERIES];
};

/* n regions of 1 MiB with gaps, mapped in a shuffled order (so IOVA order
 * is not GPA order), and SB_QUERIES random buffers inside them. */
static int space_new(struct sb_space *s, unsigned n, uint32_t len, uint64_t seed)
{
	struct vq_iova_params p = { .base = 1ull << 32, .size = 1ull << 46 };
	uint32_t *order = malloc(n * sizeof(*order));
	int rc;

	s->n = n;
	s->lin = calloc(n, sizeof(*s->lin));
	if (!order || !s->lin || (rc = vq_iova_new(&p, &s->t)) != 0) {
		free(order);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++)
		order[i] = i;
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)(sb_rand(&seed) % i);
		uint32_t tmp = order[i - 1];

		order[i - 1] = order[j];
		order[j] = tmp;
	}
	for (unsigned i = 0; i < n; i++) {
		struct vq_mem_region r = {
			.gpa = order[i] * (SB_REGION + SB_GAP), .size = SB_REGION,
			.hva = (void *)(uintptr_t)(0x7f0000000000ull + order[i] * SB_REGION),
			.prot = VQ_MEM_RW,
		};
		uint64_t iova;

		rc = vq_iova_map_guest(s->t, &r, &iova);
		if (rc)
			break;
		s->lin[i] = (struct sb_lin){ r.gpa, r.size, iova, r.prot };
	}
	for (unsigned i = n; rc == 0 && i-- > 0;) {
		struct sb_node *x = malloc(sizeof(*x));

		if (!x) {
			rc = -ENOMEM;
			break;
		}
		x->map = s->lin[i];
		x->next = s->walk;
		s->walk = x;
	}
	for (unsigned i = 0; i < SB_QUERIES; i++)
		s->q[i] = (sb_rand(&seed) % n) * (SB_REGION + SB_GAP) +
			  sb_rand(&seed) % (SB_REGION - len);
	free(order);
	return rc;
}

static void space_free(struct sb_space *s)
{
	while (s->walk) {
		struct sb_node *x = s->walk;

		s->walk = x->next;
		free(x);
	}
	vq_iova_free(s->t);
	free(s->lin);
}

/* Translations per second for secs seconds of one method. */
/* Results land here so that the compiler cannot drop the lookups. */
volatile uint64_t vq__bench_svq_sink;

enum sb_method { SB_TREE, SB_ARRAY, SB_WALK };

static int method_translate(const struct sb_space *s, enum sb_method m, uint64_t gpa,
			    uint32_t len, struct vq_iova_seg *seg)
{
	switch (m) {
	case SB_TREE: return vq_iova_translate(s->t, gpa, len, VQ_MEM_READ, seg, 4);
	case SB_ARRAY: return lin_translate(s->lin, s->n, gpa, len, VQ_MEM_READ, seg, 4);
	default: return walk_translate(s->walk, gpa, len, VQ_MEM_READ, seg, 4);
	}
}

static double trans_rate(const struct sb_space *s, enum sb_method m, uint32_t len, double secs)
{
	struct vq_iova_seg seg[4];
	uint64_t done = 0, acc = 0;
	double t0 = thread_secs(), t;

	do {
		for (unsigned i = 0; i < 256; i++) {
			uint64_t gpa = s->q[(done + i) % SB_QUERIES];
			int n = method_translate(s, m, gpa, len, seg);

			acc += (uint64_t)n + seg[0].iova;
		}
		done += 256;
		t = thread_secs() - t0;
	} while (t < secs);
	vq__bench_svq_sink = acc;
	return (double)done / t;
}

/* Every method agrees on every query (a benchmark of wrong answers is void). */
static int trans_check(const struct sb_space *s, uint32_t len)
{
	for (unsigned i = 0; i < SB_QUERIES; i++) {
		struct vq_iova_seg a[4], b[4], c[4];
		int na = method_translate(s, SB_TREE, s->q[i], len, a);
		int nb = method_translate(s, SB_ARRAY, s->q[i], len, b);
		int nc = method_translate(s, SB_WALK, s->q[i], len, c);

		if (na != nb || na != nc || na < 1 || a[0].iova != b[0].iova ||
		    a[0].iova != c[0].iova || a[0].len != b[0].len || a[0].len != c[0].len)
			return -EPROTO;
	}
	return 0;
}

/* ---- relay cost */

#define RB_GPA   0x100000ull
#define RB_QSZ   256u
#define RB_BATCH 32u
#define RB_BYTES (4u << 20)
#define RB_SLOT  8192u       /* one buffer's bytes (blk: header, 4 KiB, status) */
#define RB_DATA  65536u      /* buffers start here, after the ring */

struct sb_relay {
	uint8_t *guest;           /* RB_BYTES at RB_GPA: ring, then buffers */
	struct vq_mem *gmem, *dmem;
	struct vq_iova *iova;
	struct vq_drv *drv;
	struct vq_svq *svq;       /* NULL: direct */
	struct vq_dev *dev;
	struct iovec iov[8];
	bool blk;                 /* 4 KiB write requests instead of 64 B packets */
	uint8_t scratch[4096];
	uint64_t sink;
};

static int relay_new(struct sb_relay *r, bool via_svq, enum vq_layout lay, bool blk)
{
	struct vq_mem_region reg;
	struct vq_ring_layout l;
	struct vq_drv_params dp = { 0 };
	struct vq_iova_params ip = { .base = 1ull << 32, .size = 1ull << 32 };
	uint64_t iova;
	int rc;

	memset(r, 0, sizeof(*r));
	r->blk = blk;
	r->guest = aligned_alloc(4096, RB_BYTES);
	if (!r->guest || vq_mem_new(&r->gmem) || vq_mem_new(&r->dmem) ||
	    vq_iova_new(&ip, &r->iova))
		return -ENOMEM;
	memset(r->guest, 0x11, RB_BYTES);
	reg = (struct vq_mem_region){ .gpa = RB_GPA, .size = RB_BYTES, .hva = r->guest,
				      .prot = VQ_MEM_RW };
	if ((rc = vq_mem_add(r->gmem, &reg)) || (rc = vq_iova_map_guest(r->iova, &reg, &iova)) ||
	    (rc = vq_ring_layout(lay, RB_QSZ, &l)))
		return rc;
	memset(r->guest, 0, l.total);
	dp.ring = (struct vq_ring_params){ .layout = lay, .size = RB_QSZ,
		.features = VQ_F_VERSION_1 | VQ_F_EVENT_IDX, .desc = r->guest + l.desc_off,
		.avail = r->guest + l.avail_off, .used = r->guest + l.used_off };
	if ((rc = vq_drv_new(&dp, &r->drv)))
		return rc;
	if (!via_svq)
		return vq_dev_new(&dp.ring, r->gmem, &r->dev);
	struct vq_svq_params sp = { .guest = dp.ring, .guest_mem = r->gmem, .iova = r->iova,
				    .dev_layout = lay, .dev_features = dp.ring.features };
	struct vq_svq_ring sr;
	if ((rc = vq_svq_new(&sp, &r->svq)))
		return rc;
	vq_svq_device_ring(r->svq, &sr);
	if ((rc = vq_iova_to_mem(r->iova, r->dmem)))
		return rc;
	dp.ring.desc = vq_iova_host_ptr(r->iova, sr.desc, l.desc_size, VQ_MEM_RW);
	dp.ring.avail = vq_iova_host_ptr(r->iova, sr.avail, l.avail_size, VQ_MEM_RW);
	dp.ring.used = vq_iova_host_ptr(r->iova, sr.used, l.used_size, VQ_MEM_RW);
	return vq_dev_new(&dp.ring, r->dmem, &r->dev);
}

static void relay_free(struct sb_relay *r)
{
	vq_dev_free(r->dev);
	vq_svq_free(r->svq);
	vq_drv_free(r->drv);
	vq_iova_free(r->iova);
	vq_mem_free(r->gmem);
	vq_mem_free(r->dmem);
	free(r->guest);
}

/* One batch: the driver posts 32 64-byte buffers, the device reads them,
 * the driver takes them back.  Returns the buffers completed, or -errno. */
static int relay_batch(struct sb_relay *r, uint64_t k)
{
	struct vq_svq_events ev = { 0 };
	struct vq_elem e = { .iov = r->iov, .iov_cap = 8 };
	uint32_t len;
	void *tok;
	int n = 0;

	for (unsigned i = 0; i < RB_BATCH; i++) {
		uint64_t at = RB_GPA + RB_DATA + ((k + i) % RB_QSZ) * RB_SLOT;
		/* blk: a virtio-blk write, QD = batch: header, data, status. */
		struct vq_seg sg[3] = { { at, r->blk ? 16 : 64 }, { at + 512, 4096 },
					{ at + 512 + 4096, 1 } };
		int rc = r->blk ? vq_drv_add(r->drv, sg, 2, 1, (void *)(uintptr_t)(i + 1))
				: vq_drv_add(r->drv, sg, 1, 0, (void *)(uintptr_t)(i + 1));

		if (rc)
			return -EIO;
	}
	vq_drv_kick_prepare(r->drv);
	if (r->svq && vq_svq_relay_avail(r->svq, &ev) < 0)
		return -EIO;
	while (vq_dev_pop(r->dev, &e) == 1) {
		r->sink += *(const uint8_t *)e.iov[0].iov_base;
		if (r->blk && e.out_num == 2 && e.in_num == 1) {
			memcpy(r->scratch, e.iov[1].iov_base, sizeof(r->scratch));
			*(uint8_t *)e.iov[2].iov_base = 0; /* VIRTIO_BLK_S_OK */
		}
		vq_dev_push(r->dev, &e, r->blk ? 1 : 0);
	}
	vq_dev_flush(r->dev);
	(void)vq_dev_need_notify(r->dev);
	if (r->svq && vq_svq_relay_used(r->svq, &ev) < 0)
		return -EIO;
	while (vq_drv_get(r->drv, &tok, &len) == 1)
		n++;
	return n;
}

/* Thread CPU nanoseconds per buffer over secs seconds. */
static double relay_ns(struct sb_relay *r, double secs)
{
	uint64_t done = 0;
	double t0 = thread_secs(), t;

	do {
		for (unsigned i = 0; i < 64; i++) {
			int n = relay_batch(r, done);

			if (n != (int)RB_BATCH)
				return -1;
			done += (uint64_t)n;
		}
		t = thread_secs() - t0;
	} while (t < secs);
	return t * 1e9 / (double)done;
}

/* ---- command */

static int run_translations(const struct sb_opts *o)
{
	if (o->markdown)
		printf("| regions | tree Mtrans/s | QEMU-style walk Mtrans/s | array scan Mtrans/s "
		       "| tree / walk | tree / array |\n"
		       "|--------:|------:|------:|------:|------:|------:|\n");
	for (unsigned k = 0; k < o->nregions; k++) {
		struct sb_space s = { 0 };
		double tr[32], li[32], wk[32], rt, rl, rw;

		if (space_new(&s, o->regions[k], o->len, 0x5eed + k) || trans_check(&s, o->len)) {
			fprintf(stderr, "virtq-bench svq: setup or cross-check failed at %u regions\n",
				o->regions[k]);
			space_free(&s);
			return 1;
		}
		for (unsigned r = 0; r < o->reps; r++) {   /* interleaved */
			tr[r] = trans_rate(&s, SB_TREE, o->len, o->secs);
			wk[r] = trans_rate(&s, SB_WALK, o->len, o->secs);
			li[r] = trans_rate(&s, SB_ARRAY, o->len, o->secs);
		}
		rt = bench_median(tr, o->reps);
		rw = bench_median(wk, o->reps);
		rl = bench_median(li, o->reps);
		if (o->markdown)
			printf("| %u | %.2f | %.3f | %.3f | %.1f | %.1f |\n", o->regions[k],
			       rt / 1e6, rw / 1e6, rl / 1e6, rt / rw, rt / rl);
		else
			printf("svq translate regions %u len %u: tree %.2f, walk %.3f, array %.3f "
			       "Mtrans/s; tree/walk %.1f, tree/array %.1f\n", o->regions[k], o->len,
			       rt / 1e6, rw / 1e6, rl / 1e6, rt / rw, rt / rl);
		fflush(stdout);
		space_free(&s);
	}
	return 0;
}

static int run_relay(const struct sb_opts *o)
{
	if (o->markdown)
		printf("\n| buffer | layout | direct ns/buffer | via SVQ ns/buffer | relay ns/buffer |\n"
		       "|--------|--------|------:|------:|------:|\n");
	for (int row = 0; row < 4; row++) {
		int lay = row & 1;
		bool blk = row >= 2;
		double d[32], v[32], md, mv;

		for (unsigned r = 0; r < o->reps; r++) {
			struct sb_relay *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

			if (!a || !b || relay_new(a, false, (enum vq_layout)lay, blk) ||
			    relay_new(b, true, (enum vq_layout)lay, blk)) {
				fprintf(stderr, "virtq-bench svq: relay setup failed\n");
				return 1;
			}
			d[r] = relay_ns(a, o->secs);
			v[r] = relay_ns(b, o->secs);
			relay_free(a);
			relay_free(b);
			free(a);
			free(b);
			if (d[r] < 0 || v[r] < 0) {
				fprintf(stderr, "virtq-bench svq: a relay run lost buffers\n");
				return 1;
			}
		}
		md = bench_median(d, o->reps);
		mv = bench_median(v, o->reps);
		if (o->markdown)
			printf("| %s | %s | %.1f | %.1f | %.1f |\n", blk ? "blk 4 KiB write" :
			       "net 64 B", lay ? "packed" : "split", md, mv, mv - md);
		else
			printf("svq relay %s %s: direct %.1f ns, via svq %.1f ns, relay %.1f ns "
			       "per buffer\n", blk ? "blk4k" : "net64", lay ? "packed" : "split",
			       md, mv, mv - md);
	}
	return 0;
}

static void svq_usage(FILE *f)
{
	fprintf(f,
"virtq-bench svq [OPTIONS]\n"
"  IOVA translations/s, AVL tree (vq_iova_translate) against a linear scan\n"
"  of the same maps, then the relay's CPU cost per 64-byte buffer (one\n"
"  thread: driver, SVQ, device in turn; against driver and device direct).\n"
"  --regions LIST   region counts (default 8,64,512,4096)\n"
"  --len BYTES      buffer length (default 1500)\n"
"  --reps N         timed runs per figure, median (default 5)\n"
"  --secs S         seconds per timed run (default 0.2)\n"
"  --translate      translations only      --relay   relay only\n"
"  --markdown       Markdown tables\n");
}

static const struct option svq_long[] = {
	{ "regions", required_argument, NULL, 'r' },
	{ "len", required_argument, NULL, 'l' },
	{ "reps", required_argument, NULL, 'n' },
	{ "secs", required_argument, NULL, 's' },
	{ "translate", no_argument, NULL, 't' },
	{ "relay", no_argument, NULL, 'R' },
	{ "markdown", no_argument, NULL, 'm' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int svq_opt(struct sb_opts *o, int c, const char *arg)
{
	uint64_t v;
	int n;

	switch (c) {
	case 'r':
		n = bench_parse_list(arg, 1, SB_MAX_REG, o->regions, 16);
		if (n < 1)
			return -EINVAL;
		o->nregions = (unsigned)n;
		return 0;
	case 'l': if (vqt_parse_count(arg, 1, SB_REGION / 2, &v)) return -EINVAL;
		o->len = (uint32_t)v; return 0;
	case 'n': if (vqt_parse_count(arg, 1, 32, &v)) return -EINVAL;
		o->reps = (uint32_t)v; return 0;
	case 's': return vqt_parse_secs(arg, 0.001, 60, &o->secs);
	case 't': o->trans_only = true; return 0;
	case 'R': o->relay_only = true; return 0;
	case 'm': o->markdown = true; return 0;
	default: return -EINVAL;
	}
}

static int svq_run(int argc, char **argv)
{
	struct sb_opts o = { .regions = { 8, 64, 512, 4096 }, .nregions = 4, .len = 1500,
			     .reps = 5, .secs = 0.2 };
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "h", svq_long, NULL)) != -1) {
		if (c == 'h') {
			svq_usage(stdout);
			return 0;
		}
		if (svq_opt(&o, c, optarg)) {
			svq_usage(stderr);
			return 2;
		}
	}
	if (!o.relay_only)
		rc = run_translations(&o);
	if (!rc && !o.trans_only)
		rc = run_relay(&o);
	return rc;
}

const struct bench_cmd bench_cmd_svq = {
	.name = "svq",
	.summary = "shadow virtqueue: IOVA translations/s (tree vs linear), relay cost",
	.run = svq_run,
	.usage = svq_usage,
};
