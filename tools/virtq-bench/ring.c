/* SPDX-License-Identifier: MIT */
/*
 * virtq-bench ring: round trips through split and packed virtqueues against
 * the SPSC bound, at several batch sizes, interleaved and repeated.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_BATCHES 8
#define MAX_REPS    101
#define NRINGS      3 /* spsc, split, packed */

struct ring_opts {
	uint64_t count, warmup;
	uint32_t reps, size, segs, timeout_s;
	uint32_t batch[MAX_BATCHES];
	unsigned nbatch;
	bool ring_on[NRINGS];
	uint64_t features;
	int cpu_drv, cpu_dev;
	enum { OUT_TEXT, OUT_JSON, OUT_MARKDOWN } out;
	bool verbose;
	bool inline_mode;
	bool suppress;
	bool burst_api;
};

struct ring_cfg {
	const char *name;
	const struct rb_ops *ops;
	enum vq_layout layout;
};

static const struct ring_cfg rings[NRINGS] = {
	{ "spsc", &rb_spsc_ops, VQ_LAYOUT_SPLIT },
	{ "split", &rb_virtq_ops, VQ_LAYOUT_SPLIT },
	{ "packed", &rb_virtq_ops, VQ_LAYOUT_PACKED },
};

static const struct {
	const char *name;
	uint64_t bit;
} feature_names[] = {
	{ "event-idx", VQ_F_EVENT_IDX },
	{ "in-order", VQ_F_IN_ORDER },
	{ "indirect", VQ_F_INDIRECT },
};

#define NFEATURES (sizeof(feature_names) / sizeof(feature_names[0]))

/* Results: ops/s of every run, [ring][batch][rep]. */
struct ring_results {
	double ops[NRINGS][MAX_BATCHES][MAX_REPS];
	double median[NRINGS][MAX_BATCHES];
	double paired[NRINGS][MAX_BATCHES]; /* median of per-rep ratios to spsc */
	struct rb_counts counts[NRINGS][MAX_BATCHES];
	bool unpinned;
};

static void ring_usage(FILE *f)
{
	fprintf(f,
"usage: virtq-bench ring [OPTIONS]\n"
"  Moves buffers between a driver thread and a device thread, each pinned to\n"
"  its own CPU, both busy-polling.  The driver adds up to BATCH buffers and\n"
"  publishes them once (vq_drv_add, vq_drv_kick_prepare) and reclaims used\n"
"  ones (vq_drv_get); the device pops up to BATCH (vq_dev_pop), pushes them\n"
"  back (vq_dev_push) and flushes once (vq_dev_flush, vq_dev_need_notify).\n"
"  Each buffer is SEGS device-readable segments of 64 bytes in one vq_mem\n"
"  region; at most QSZ buffers are in flight.  The same loops also drive a\n"
"  minimal lock-free SPSC pointer ring pair (the upper bound for any ring);\n"
"  each virtq figure is also given as a ratio to it at the same batch.\n"
"  Runs are interleaved (spsc split packed spsc split packed ...) and each\n"
"  figure is the median of REPS runs of COUNT round trips.\n"
"\n"
"  --count N        round trips per run (default 2M; k/M/G suffixes)\n"
"  --reps R         runs per figure, median reported (default 7, >= 1)\n"
"  --warmup N       round trips of an untimed warm-up run per ring (default count/10)\n"
"  --size QSZ       queue size (default 256; split needs a power of two)\n"
"  --batch LIST     comma-separated batch sizes (default 1,32)\n"
"  --layout L       split | packed | all | spsc (default all); the SPSC\n"
"                   bound always runs, alone with 'spsc'\n"
"  --features LIST  comma-separated virtio features: event-idx, in-order,\n"
"                   indirect; '-name' removes one, 'none' clears\n"
"                   (default event-idx)\n"
"  --segs N         segments per buffer, 1..%u (default 1; >1 with\n"
"                   indirect uses indirect tables)\n"
"  --cpus D,V       CPUs of the driver and device threads (default 0,1;\n"
"                   -1 leaves a thread unpinned)\n"
"  --timeout S      seconds before a stuck run fails (default 60)\n"
"  --suppress       both sides turn notifications off first, as poll-mode\n"
"                   peers do (vq_drv_disable_notify, vq_dev_disable_notify); by\n"
"                   default they stay on and are computed, never sent\n"
"  --burst-api      virtq: move buffers with the burst calls (vq_drv_add_burst,\n"
"                   vq_drv_get_burst, vq_dev_pop_burst, vq_dev_push_burst;\n"
"                   one segment per buffer) instead of one call per buffer\n"
"  --inline         one thread (on the driver CPU) takes driver and device\n"
"                   turns in alternation: nothing crosses CPUs, so this\n"
"                   measures the instructions of a round trip alone\n"
"  --no-spsc        skip the SPSC bound (ratios are then 0), e.g. to profile\n"
"  --json           one JSON object on stdout\n"
"  --markdown       a Markdown table on stdout\n"
"  -v, --verbose    one line per run on stderr, with the mean buffers per\n"
"                   publish (driver) and per flush (device): how full the\n"
"                   batches really were\n"
"  -h, --help       this text\n"
"  Exit status: 0, 1 when a run failed (the ring broke or stalled), 2 on\n"
"  bad options.\n", RB_MAX_SEGS);
}

static int parse_features(const char *s, uint64_t *f)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf))
		return -E2BIG;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool del = *tok == '-';
		size_t i;

		tok += (*tok == '-' || *tok == '+');
		if (!strcmp(tok, "none")) {
			*f = 0;
			continue;
		}
		for (i = 0; i < NFEATURES; i++)
			if (!strcmp(tok, feature_names[i].name))
				break;
		if (i == NFEATURES)
			return -EINVAL;
		*f = del ? *f & ~feature_names[i].bit : *f | feature_names[i].bit;
	}
	return 0;
}

static int parse_cpus(const char *s, int *drv, int *dev)
{
	char *end;
	long a = strtol(s, &end, 10), b;

	if (end == s || *end != ',')
		return -EINVAL;
	s = end + 1;
	b = strtol(s, &end, 10);
	if (end == s || *end || a < -1 || b < -1 || a >= CPU_SETSIZE || b >= CPU_SETSIZE)
		return -EINVAL;
	*drv = (int)a;
	*dev = (int)b;
	return 0;
}

static int parse_layout(const char *s, struct ring_opts *o)
{
	bool all = !strcmp(s, "all");

	o->ring_on[1] = all || !strcmp(s, "split");
	o->ring_on[2] = all || !strcmp(s, "packed");
	return o->ring_on[1] || o->ring_on[2] || !strcmp(s, "spsc") ? 0 : -EINVAL;
}

static int apply_opt(struct ring_opts *o, int c, const char *arg)
{
	uint64_t v;
	int ret;

	switch (c) {
	case 'n': return vqt_parse_count(arg, 1, UINT64_MAX / 2, &o->count);
	case 'w': return vqt_parse_count(arg, 0, UINT64_MAX / 2, &o->warmup);
	case 'r': ret = vqt_parse_count(arg, 1, MAX_REPS, &v); o->reps = (uint32_t)v; return ret;
	case 's': ret = vqt_parse_count(arg, 1, VQ_MAX_QUEUE_SIZE, &v); o->size = (uint32_t)v; return ret;
	case 'g': ret = vqt_parse_count(arg, 1, RB_MAX_SEGS, &v); o->segs = (uint32_t)v; return ret;
	case 't': ret = vqt_parse_count(arg, 1, 86400, &v); o->timeout_s = (uint32_t)v; return ret;
	case 'b':
		ret = bench_parse_list(arg, 1, VQ_MAX_QUEUE_SIZE, o->batch, MAX_BATCHES);
		o->nbatch = ret > 0 ? (unsigned)ret : 0;
		return ret < 0 ? ret : 0;
	case 'l': return parse_layout(arg, o);
	case 'f': return parse_features(arg, &o->features);
	case 'c': return parse_cpus(arg, &o->cpu_drv, &o->cpu_dev);
	case 'j': o->out = OUT_JSON; return 0;
	case 'm': o->out = OUT_MARKDOWN; return 0;
	case 'v': o->verbose = true; return 0;
	case 'N': o->ring_on[0] = false; return 0;
	case 'I': o->inline_mode = true; return 0;
	case 'S': o->suppress = true; return 0;
	case 'B': o->burst_api = true; return 0;
	default: return vqt_parse_fail("unknown option");
	}
}

static const struct option long_opts[] = {
	VQT_COMMON_OPTIONS,
	{ "count", required_argument, NULL, 'n' },
	{ "reps", required_argument, NULL, 'r' },
	{ "warmup", required_argument, NULL, 'w' },
	{ "size", required_argument, NULL, 's' },
	{ "batch", required_argument, NULL, 'b' },
	{ "layout", required_argument, NULL, 'l' },
	{ "features", required_argument, NULL, 'f' },
	{ "segs", required_argument, NULL, 'g' },
	{ "cpus", required_argument, NULL, 'c' },
	{ "timeout", required_argument, NULL, 't' },
	{ "json", no_argument, NULL, 'j' },
	{ "markdown", no_argument, NULL, 'm' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "no-spsc", no_argument, NULL, 'N' },
	{ "inline", no_argument, NULL, 'I' },
	{ "suppress", no_argument, NULL, 'S' },
	{ "burst-api", no_argument, NULL, 'B' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct ring_cli {
	struct ring_opts *o;
	bool warmup_set;
};

static int ring_opt(void *ctx, int c, const char *arg)
{
	struct ring_cli *rc = ctx;

	rc->warmup_set |= c == 'w';
	return apply_opt(rc->o, c, arg);
}

/* Returns 0, 1 after --help or --version, or -EINVAL after printing why. */
static int parse_opts(int argc, char **argv, struct ring_opts *o)
{
	struct ring_cli rc = { .o = o };
	const struct vqt_cli cli = {
		.prog = "virtq-bench ring", .usage = ring_usage, .shortopts = "v",
		.longopts = long_opts, .one = ring_opt, .ctx = &rc,
	};
	int r;

	*o = (struct ring_opts){ .count = 2000000, .reps = 7, .size = 256,
				 .segs = 1, .timeout_s = 60, .batch = { 1, 32 },
				 .nbatch = 2, .ring_on = { true, true, true },
				 .features = VQ_F_EVENT_IDX, .cpu_drv = 0, .cpu_dev = 1 };
	optind = 1;
	if ((r = vqt_getopt(&cli, argc, argv)) != 0)
		return r > 0 ? 1 : -EINVAL;
	if (optind < argc) {
		vqt_usage_error(cli.prog, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!rc.warmup_set)
		o->warmup = o->count / 10;
	return 0;
}

static void features_str(uint64_t f, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < NFEATURES; i++)
		if (f & feature_names[i].bit)
			off += (size_t)snprintf(buf + off, len - off, "%s%s",
						off ? "," : "", feature_names[i].name);
	if (!off)
		snprintf(buf, len, "none");
}

static void run_init(struct rb_run *run, const struct ring_opts *o,
		     unsigned ring, uint32_t batch, uint64_t count)
{
	memset(run, 0, sizeof(*run));
	run->ops = rings[ring].ops;
	run->params.layout = rings[ring].layout;
	run->params.size = o->size;
	run->params.segs = o->segs;
	run->params.features = o->features;
	run->params.suppress = o->suppress;
	run->params.burst_api = o->burst_api;
	run->batch = batch;
	run->count = count;
	run->cpu_drv = o->cpu_drv;
	run->cpu_dev = o->cpu_dev;
	run->timeout_s = o->timeout_s;
	run->inline_mode = o->inline_mode;
}

/* One run; prints why on failure.  Returns 0 or -errno. */
static int run_one(const struct ring_opts *o, unsigned ring, unsigned b,
		   uint64_t count, int rep, struct ring_results *res)
{
	struct rb_run run;
	int ret;

	run_init(&run, o, ring, o->batch[b], count);
	ret = rb_run_once(&run);
	res->unpinned |= run.unpinned;
	if (ret) {
		fprintf(stderr, "virtq-bench ring: %s batch %u%s: %s\n", rings[ring].name,
			o->batch[b], rep < 0 ? " (warm-up)" : "", run.err);
		return ret;
	}
	if (o->verbose)
		fprintf(stderr, "  %-6s batch %-3u rep %-2d %8.3f Mops/s  buffers per "
			"publish %5.1f, per flush %5.1f\n", rings[ring].name, o->batch[b], rep,
			run.ops_per_s / 1e6, run.per_publish, run.per_flush);
	if (rep >= 0) {
		res->ops[ring][b][rep] = run.ops_per_s;
		res->counts[ring][b] = run.counts;
	}
	return 0;
}

/* Warm-up, then REPS rounds, each round running every ring and batch once. */
static int run_matrix(const struct ring_opts *o, struct ring_results *res)
{
	int ret = 0;

	for (int rep = o->warmup ? -1 : 0; rep < (int)o->reps; rep++)
		for (unsigned b = 0; b < o->nbatch; b++)
			for (unsigned ring = 0; ring < NRINGS; ring++) {
				if (!o->ring_on[ring])
					continue;
				ret = run_one(o, ring, b, rep < 0 ? o->warmup : o->count,
					      rep, res);
				if (ret)
					return ret;
			}
	return 0;
}

static void compute_stats(const struct ring_opts *o, struct ring_results *res)
{
	double tmp[MAX_REPS];

	for (unsigned ring = 0; ring < NRINGS; ring++)
		for (unsigned b = 0; b < o->nbatch && o->ring_on[ring]; b++) {
			memcpy(tmp, res->ops[ring][b], o->reps * sizeof(double));
			res->median[ring][b] = bench_median(tmp, o->reps);
			for (unsigned r = 0; r < o->reps && o->ring_on[0]; r++)
				tmp[r] = res->ops[ring][b][r] / res->ops[0][b][r];
			res->paired[ring][b] = o->ring_on[0] ? bench_median(tmp, o->reps) : 0;
		}
}

static void minmax(const double *v, unsigned n, double *lo, double *hi)
{
	*lo = *hi = v[0];
	for (unsigned i = 1; i < n; i++) {
		*lo = v[i] < *lo ? v[i] : *lo;
		*hi = v[i] > *hi ? v[i] : *hi;
	}
}

static double ratio(const struct ring_results *res, unsigned ring, unsigned b)
{
	return res->median[0][b] > 0 ? res->median[ring][b] / res->median[0][b] : 0;
}

static void print_table(const struct ring_opts *o, const struct ring_results *res,
			bool md)
{
	if (md)
		printf("| ring | batch | median Mops/s | min | max | ratio to SPSC | paired ratio |\n"
		       "|------|------:|------:|------:|------:|------:|------:|\n");
	else
		printf("%-6s  %5s  %8s  %8s  %8s  %6s  %6s\n", "ring", "batch",
		       "Mops/s", "min", "max", "ratio", "paired");
	for (unsigned b = 0; b < o->nbatch; b++)
		for (unsigned ring = 0; ring < NRINGS; ring++) {
			double lo, hi;

			if (!o->ring_on[ring])
				continue;
			minmax(res->ops[ring][b], o->reps, &lo, &hi);
			printf(md ? "| %s | %u | %.2f | %.2f | %.2f | %.3f | %.3f |\n"
				  : "%-6s  %5u  %8.2f  %8.2f  %8.2f  %6.3f  %6.3f\n",
			       rings[ring].name, o->batch[b], res->median[ring][b] / 1e6,
			       lo / 1e6, hi / 1e6, ratio(res, ring, b),
			       res->paired[ring][b]);
		}
}

static void print_json_results(const struct ring_opts *o, const struct ring_results *res)
{
	bool first = true;

	for (unsigned b = 0; b < o->nbatch; b++)
		for (unsigned ring = 0; ring < NRINGS; ring++) {
			const struct rb_counts *c = &res->counts[ring][b];

			if (!o->ring_on[ring])
				continue;
			printf("%s\n    {\"ring\": \"%s\", \"batch\": %u, \"median_ops_per_s\": %.0f, "
			       "\"ratio_to_spsc\": %.4f, \"paired_ratio_to_spsc\": %.4f, "
			       "\"kicks_per_op\": %.4f, \"notifies_per_op\": %.4f, \"runs\": [",
			       first ? "" : ",", rings[ring].name, o->batch[b],
			       res->median[ring][b], ratio(res, ring, b),
			       res->paired[ring][b], (double)c->kicks / (double)o->count,
			       (double)c->notifies / (double)o->count);
			for (unsigned r = 0; r < o->reps; r++)
				printf("%s%.0f", r ? ", " : "", res->ops[ring][b][r]);
			printf("]}");
			first = false;
		}
}

static void print_json(const struct ring_opts *o, const struct ring_results *res,
		       const char *feat)
{
	printf("{\n  \"bench\": \"ring\", \"count\": %llu, \"reps\": %u, \"size\": %u, "
	       "\"segs\": %u, \"features\": \"%s\", \"cpus\": [%d, %d], \"pinned\": %s, \"inline\": %s, \"suppress\": %s,\n"
	       "  \"results\": [", (unsigned long long)o->count, o->reps, o->size, o->segs,
	       feat, o->cpu_drv, o->cpu_dev, res->unpinned ? "false" : "true",
	       o->inline_mode ? "true" : "false", o->suppress ? "true" : "false");
	print_json_results(o, res);
	printf("\n  ]\n}\n");
}

static int ring_run(int argc, char **argv)
{
	struct ring_opts o;
	struct ring_results *res;
	char feat[64];
	int ret = parse_opts(argc, argv, &o);

	if (ret)
		return ret > 0 ? 0 : 2;
	res = calloc(1, sizeof(*res));
	if (!res)
		return 1;
	features_str(o.features, feat, sizeof(feat));
	ret = run_matrix(&o, res);
	if (!ret) {
		compute_stats(&o, res);
		if (res->unpinned)
			fprintf(stderr, "virtq-bench ring: warning: could not pin to CPUs %d,%d\n",
				o.cpu_drv, o.cpu_dev);
		if (o.out == OUT_JSON)
			print_json(&o, res, feat);
		else if (o.out == OUT_MARKDOWN)
			print_table(&o, res, true);
		else {
			printf("ring: count %llu, reps %u (median), size %u, segs %u, features %s, "
			       "cpus %d,%d%s%s\n", (unsigned long long)o.count, o.reps, o.size,
			       o.segs, feat, o.cpu_drv, o.cpu_dev,
			       o.inline_mode ? ", inline (one thread)" : "",
			       o.suppress ? ", notifications suppressed" : "");
			print_table(&o, res, false);
		}
	}
	free(res);
	return ret ? 1 : 0;
}

const struct bench_cmd bench_cmd_ring = {
	.name = "ring",
	.summary = "split and packed virtqueues against the SPSC bound",
	.run = ring_run,
	.usage = ring_usage,
};
