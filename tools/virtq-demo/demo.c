/* SPDX-License-Identifier: MIT */
/*
 * virtq-demo: a driver thread and a device thread exchange buffers over a
 * packed and then a split virtqueue, with a live progress line.
 *
 * Each buffer is a request (16-byte header holding a sequence number, then
 * BYTES of payload the driver fills) followed by a 16-byte response the
 * device writes: the sequence number and a checksum of the payload.  The
 * driver checks every response.  Both threads busy-poll; a two-descriptor
 * chain goes into an indirect table when indirect descriptors are on.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"

static const char usage[] =
"usage: virtq-demo [OPTIONS]\n"
"  A driver thread and a device thread exchange buffers over a virtqueue,\n"
"  packed then split, for SECONDS in all.  Every buffer carries a payload the\n"
"  device checksums and a response the driver verifies.  Prints a progress\n"
"  line every 0.5 s and one result line per layout.\n\n"
"  --seconds S      total run time (default 5), shared by the layouts\n"
"  --layout L       packed | split | both (default both)\n"
"  --size QSZ       queue size (default 256)\n"
"  --bytes N        payload bytes per buffer, multiple of 8 (default 1024)\n"
"  --batch B        buffers added per publish (default 32)\n"
"  --no-indirect    do not negotiate indirect descriptors\n"
"  --cpus D,V       CPUs of the driver and device threads (default 0,1)\n"
"  Exit status: 0 when every response checked out and no ring broke.\n"
VQT_COMMON_HELP;

/* A CPU pair D,V. */
static int parse_cpu_pair(const char *a, struct demo_opts *o)
{
	int cpus[2], n = vqt_parse_cpus(a, cpus, 2);

	if (n < 0)
		return n;
	if (n != 2)
		return vqt_parse_fail("two CPUs: driver,device");
	o->cpu_drv = cpus[0];
	o->cpu_dev = cpus[1];
	return 0;
}

static int parse_opt(void *ctx, int c, const char *arg)
{
	struct demo_opts *o = ctx;
	double secs;

	switch (c) {
	case 't':
		if (vqt_parse_secs(arg, 0.1, 86400, &secs) < 0)
			return -EINVAL;
		o->seconds = secs;
		return 0;
	case 's': return vqt_parse_uint(arg, 1, VQ_MAX_QUEUE_SIZE, &o->size);
	case 'b':
		if (vqt_parse_uint(arg, 8, 1 << 20, &o->bytes) < 0)
			return -EINVAL;
		return o->bytes % 8 ? vqt_parse_fail("not a multiple of 8") : 0;
	case 'B': return vqt_parse_uint(arg, 1, VQ_MAX_QUEUE_SIZE, &o->batch);
	case 'i': o->indirect = false; return 0;
	case 'c': return parse_cpu_pair(arg, o);
	case 'l':
		o->layouts = !strcmp(arg, "packed") ? 1 : !strcmp(arg, "split") ? 2 :
			     !strcmp(arg, "both") ? 3 : 0;
		return o->layouts ? 0 : vqt_parse_fail("packed, split or both");
	default: return vqt_parse_fail("unknown option");
	}
}

/* Returns 0 to run, 1 to exit 0 (--help, --version), -1 after a usage error. */
static int parse_args(int argc, char **argv, struct demo_opts *o)
{
	static const struct option lo[] = {
		VQT_COMMON_OPTIONS,
		{ "seconds", required_argument, NULL, 't' },
		{ "layout", required_argument, NULL, 'l' },
		{ "size", required_argument, NULL, 's' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "batch", required_argument, NULL, 'B' },
		{ "no-indirect", no_argument, NULL, 'i' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct vqt_cli cli = {
		.prog = "virtq-demo", .help = usage, .shortopts = "", .longopts = lo,
		.one = parse_opt, .ctx = o,
	};
	int r;

	*o = (struct demo_opts){ .seconds = 5, .layouts = 3, .size = 256, .bytes = 1024,
				 .batch = 32, .indirect = true, .cpu_drv = 0, .cpu_dev = 1 };
	if ((r = vqt_getopt(&cli, argc, argv)) != 0)
		return r;
	if (optind < argc)
		return vqt_usage_error(cli.prog, "unexpected argument '%s'", argv[optind]);
	return 0;
}

static const char *layout_name(enum vq_layout l)
{
	return l == VQ_LAYOUT_PACKED ? "packed" : "split";
}

static const char *status(struct demo *d)
{
	if (__atomic_load_n(&d->failed, __ATOMIC_ACQUIRE))
		return "BROKEN";
	return __atomic_load_n(&d->bad, __ATOMIC_RELAXED) ? "BAD DATA" : "ok";
}

/* Print the progress line every 0.5 s until the time is up or a side fails. */
static double watch(struct demo *d, double seconds)
{
	bool tty = isatty(STDOUT_FILENO);
	double t0 = vqt_now(), last = t0, t = t0;
	uint64_t last_done = 0;

	while (t - t0 < seconds && !__atomic_load_n(&d->failed, __ATOMIC_ACQUIRE)) {
		struct timespec half = { 0, 500000000 };
		uint64_t done;
		double rate;

		nanosleep(&half, NULL);
		t = vqt_now();
		done = __atomic_load_n(&d->done, __ATOMIC_RELAXED);
		rate = (double)(done - last_done) / (t - last);
		printf("%s%-6s %5.1f s  %8.3f M buf/s  %9.1f MB/s  ring %s%s",
		       tty ? "\r" : "", layout_name(d->layout), t - t0, rate / 1e6,
		       rate * d->o->bytes / 1e6, status(d), tty ? "   " : "\n");
		fflush(stdout);
		last = t;
		last_done = done;
	}
	if (tty)
		printf("\n");
	__atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
	return t - t0;
}

/* Wait for the driver to drain; a ring that never gives buffers back fails. */
static void join_all(struct demo *d, pthread_t drv, pthread_t dev)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	if (pthread_timedjoin_np(drv, NULL, &ts)) {
		demo_fail(d, "driver", "buffers in flight never came back");
		pthread_join(drv, NULL);
	}
	pthread_join(dev, NULL);
}

static int run_layout(const struct demo_opts *o, enum vq_layout layout, double seconds)
{
	struct demo *d = aligned_alloc(64, sizeof(*d));
	pthread_t drv, dev;
	double secs, rate;
	int ret = d ? demo_setup(d, o, layout) : -ENOMEM;

	if (ret) {
		fprintf(stderr, "virtq-demo: %s: setup failed: %s\n", layout_name(layout),
			strerror(-ret));
		free(d);
		return 1;
	}
	if (pthread_create(&dev, NULL, demo_dev_thread, d) ||
	    pthread_create(&drv, NULL, demo_drv_thread, d)) {
		fprintf(stderr, "virtq-demo: cannot start threads\n");
		exit(1);
	}
	secs = watch(d, seconds);
	join_all(d, drv, dev);
	rate = (double)d->done / secs;
	printf("%s: %llu buffers in %.2f s: %.3f M buf/s, %.1f MB/s payload, "
	       "%llu bad responses, ring %s%s%s\n", layout_name(layout),
	       (unsigned long long)d->done, secs, rate / 1e6, rate * o->bytes / 1e6,
	       (unsigned long long)d->bad, status(d), d->failed ? ": " : "", d->why);
	ret = d->failed || d->bad || !d->done;
	demo_teardown(d);
	free(d);
	return ret;
}

int main(int argc, char **argv)
{
	struct demo_opts o;
	int ret = parse_args(argc, argv, &o), fails = 0;
	unsigned n;

	if (ret)
		return ret > 0 ? 0 : 2;
	n = (unsigned)__builtin_popcount(o.layouts);
	printf("virtq-demo: driver thread on CPU %d, device thread on CPU %d, queue size %u, "
	       "%u-byte payloads, batch %u, indirect %s\n", o.cpu_drv, o.cpu_dev, o.size,
	       o.bytes, o.batch, o.indirect ? "on" : "off");
	if (o.layouts & 1)
		fails += run_layout(&o, VQ_LAYOUT_PACKED, o.seconds / n);
	if (o.layouts & 2)
		fails += run_layout(&o, VQ_LAYOUT_SPLIT, o.seconds / n);
	printf("%s\n", fails ? "FAIL: a ring reported bad responses or broke (see above)"
			     : "PASS: every buffer verified on every ring");
	return fails ? 1 : 0;
}
