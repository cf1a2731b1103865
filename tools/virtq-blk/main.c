/* SPDX-License-Identifier: MIT */
/*
 * virtq-blk: serve a file or a block device to a vhost-user frontend (QEMU's
 * vhost-user-blk-pci) as a virtio-blk device.  See vb.h for the threads.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vb.h"

static volatile sig_atomic_t quit;

double vb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void vb_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "virtq-blk: %s\n", buf);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: virtq-blk --socket PATH --file PATH [OPTIONS]\n"
"  Serve PATH (a regular file or a block device) as a vhost-user-blk device,\n"
"  e.g. to QEMU: -chardev socket,id=c0,path=SOCK\n"
"                -device vhost-user-blk-pci,chardev=c0,num-queues=1\n"
"  (guest RAM must be shared: -object memory-backend-memfd,share=on,...).\n\n"
"  --socket PATH     vhost-user socket (we listen on it, unless --client)\n"
"  --client          connect to PATH instead (reconnecting after a disconnect)\n"
"  --file PATH       backing file or block device (capacity: its size / 512)\n"
"  --readonly        open read-only and offer VIRTIO_BLK_F_RO\n"
"  --direct          O_DIRECT (bounce buffers for unaligned guest memory)\n"
"  --queues N        request queues, 1..%u (default 1; MQ offered when > 1)\n"
"  --iothreads N     I/O threads, 0..%u (default 4; 0 = I/O on queue threads)\n"
"  --blk-size N      advertised block size, power of two 512..65536\n"
"                    (default 512, or the direct-I/O block with --direct)\n"
"  --serial S        GET_ID answer (at most 20 bytes; default \"virtq-blk\")\n"
"  --poll kick|busy  wait on kick eventfds (default) or spin on the rings\n"
"  --stats SECS      print throughput every SECS seconds (default: never)\n"
"  -v, --verbose     log every vhost-user message\n"
"  -h, --help        this text\n"
"  SIGINT / SIGTERM: stop cleanly (in-flight I/O completes) and print totals.\n",
		VQ_BLK_MAX_QUEUES, VQ_BLK_MAX_IOTHREADS);
}

static int parse_num(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_opt(struct vb_opts *o, int c, const char *arg)
{
	long v = 0;
	int r = 0;

	switch (c) {
	case 's': o->socket = arg; break;
	case 'c': o->client = true; break;
	case 'f': o->file = arg; break;
	case 'r': o->readonly = true; break;
	case 'd': o->direct = true; break;
	case 'q': r = parse_num(arg, 1, VQ_BLK_MAX_QUEUES, &v); o->queues = (unsigned)v; break;
	case 'i': r = parse_num(arg, 0, VQ_BLK_MAX_IOTHREADS, &v); o->iothreads = (unsigned)v;
		  break;
	case 'b': r = parse_num(arg, 512, 65536, &v); o->blk_size = (uint32_t)v;
		  r = r ? r : (v & (v - 1) ? -EINVAL : 0); break;
	case 'S': o->serial = arg; break;
	case 'p':
		o->poll = !strcmp(arg, "busy") ? VB_POLL_BUSY : VB_POLL_KICK;
		r = strcmp(arg, "busy") && strcmp(arg, "kick") ? -EINVAL : 0;
		break;
	case 't': r = parse_num(arg, 1, 86400, &v); o->stats_secs = (double)v; break;
	case 'v': o->verbose = true; break;
	default: r = -EINVAL;
	}
	return r;
}

/* Returns 0, 1 after --help, -EINVAL. */
static int parse_args(int argc, char **argv, struct vb_opts *o)
{
	static const struct option lo[] = {
		{ "socket", 1, 0, 's' }, { "client", 0, 0, 'c' }, { "file", 1, 0, 'f' },
		{ "readonly", 0, 0, 'r' }, { "direct", 0, 0, 'd' }, { "queues", 1, 0, 'q' },
		{ "iothreads", 1, 0, 'i' }, { "blk-size", 1, 0, 'b' }, { "serial", 1, 0, 'S' },
		{ "poll", 1, 0, 'p' }, { "stats", 1, 0, 't' }, { "verbose", 0, 0, 'v' },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 }
	};
	int c;

	*o = (struct vb_opts){ .queues = 1, .iothreads = 4, .serial = "virtq-blk" };
	while ((c = getopt_long(argc, argv, "hv", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (parse_opt(o, c, optarg) < 0) {
			fprintf(stderr, "virtq-blk: bad option %s%s%s\n", argv[optind - 1],
				optarg ? " " : "", optarg ? optarg : "");
			return -EINVAL;
		}
	}
	if (optind < argc || !o->socket || !o->file) {
		fprintf(stderr, "virtq-blk: --socket and --file are required (see --help)\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- statistics */

void vb_stats_sum(struct vb_daemon *d, struct vq_blk_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < d->o.queues; i++) {
		struct vq_blk_stats s;
		uint64_t *a = (uint64_t *)sum, *b = (uint64_t *)&s;

		vq_blk_get_stats(d->blk, i, &s);
		for (size_t k = 0; k < sizeof(s) / sizeof(uint64_t); k++)
			a[k] += b[k];
	}
}

static void stats_line(struct vb_daemon *d, bool total)
{
	struct vq_blk_stats s, *l = &d->last;
	double now = vb_now(), dt = now - (total ? d->t_start : d->t_last);

	vb_stats_sum(d, &s);
	if (total)
		memset(l, 0, sizeof(*l));
	if (dt <= 0)
		dt = 1e-9;
	printf("%s %.1fs: read %.0f/s %.1f MB/s, write %.0f/s %.1f MB/s, flush %.0f/s | "
	       "reads %" PRIu64 " writes %" PRIu64 " flushes %" PRIu64 " discards %" PRIu64
	       " write_zeroes %" PRIu64 " get_id %" PRIu64 " ioerr %" PRIu64 " (io_failed %"
	       PRIu64 ") unsupp %" PRIu64 " dropped %" PRIu64 "\n",
	       total ? "total" : "stats", dt, (double)(s.reads - l->reads) / dt,
	       (double)(s.read_bytes - l->read_bytes) / dt / 1e6,
	       (double)(s.writes - l->writes) / dt,
	       (double)(s.write_bytes - l->write_bytes) / dt / 1e6,
	       (double)(s.flushes - l->flushes) / dt, s.reads, s.writes, s.flushes,
	       s.discards, s.write_zeroes, s.get_ids, s.ioerr, s.io_failed, s.unsupp,
	       s.dropped);
	fflush(stdout);
	d->last = s;
	d->t_last = now;
}

/* ---- setup and main loop */

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static int open_device(struct vb_daemon *d)
{
	struct vq_blk_params p = {
		.path = d->o.file, .fd = -1, .readonly = d->o.readonly, .direct = d->o.direct,
		.num_queues = d->o.queues, .iothreads = d->o.iothreads,
		.blk_size = d->o.blk_size, .serial = d->o.serial,
		.notify = vb_notify, .opaque = d,
	};
	int r = vq_blk_new(&p, &d->blk);

	if (r < 0)
		vb_log("cannot serve %s: %s%s", d->o.file, strerror(-r),
		       r == -EINVAL ? " (empty, not a file or block device, or O_DIRECT "
				      "unsupported?)" : "");
	return r;
}

static int open_backend(struct vb_daemon *d)
{
	struct vq_vu_params c = {
		.name = "virtq-blk", .mode = d->o.client ? VQ_VU_CLIENT : VQ_VU_SERVER,
		.path = d->o.socket, .listen_fd = -1, .ops = vb_device_ops(), .dev = d,
		.features = vq_blk_host_features(d->blk),
		.protocol_features = VQ_VU_PROTOCOL_F_MQ | VQ_VU_PROTOCOL_F_REPLY_ACK |
				     VQ_VU_PROTOCOL_F_CONFIG | VQ_VU_PROTOCOL_F_RESET_DEVICE |
				     VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS |
				     VQ_VU_PROTOCOL_F_STATUS,
		.num_queues = d->o.queues, .queue_num = d->o.queues,
		.loop_ops = vq_vu_loop_ops(),
	};
	int r = vq_vu_loop_new(&d->loop);

	if (r < 0)
		return r;
	c.loop = d->loop;
	r = vq_vu_backend_new(&c, &d->vu);
	if (r < 0)
		vb_log("cannot %s %s: %s", d->o.client ? "connect to" : "listen on",
		       d->o.socket, strerror(-r));
	return r;
}

static void run(struct vb_daemon *d)
{
	double next = d->o.stats_secs ? vb_now() + d->o.stats_secs : 0;

	while (!quit) {
		int r = vq_vu_loop_run(d->loop, 200);

		if (r < 0 && r != -EINTR) {
			vb_log("event loop: %s", strerror(-r));
			break;
		}
		if (next && vb_now() >= next) {
			stats_line(d, false);
			next += d->o.stats_secs;
		}
	}
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART */

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	struct vb_daemon d = { 0 };
	int r = parse_args(argc, argv, &d.o);

	if (r)
		return r > 0 ? 0 : 2;
	vq_vu_set_log(NULL, NULL, d.o.verbose ? VQ_VU_LOG_DEBUG : VQ_VU_LOG_INFO);
	install_signals();
	if (open_device(&d) < 0)
		return 1;
	r = vb_qthreads_start(&d);
	if (r == 0)
		r = open_backend(&d);
	if (r == 0) {
		d.t_start = d.t_last = vb_now();
		vb_log("serving %s (%" PRIu64 " sectors, %u queue%s, %u I/O threads%s%s) on %s",
		       d.o.file, vq_blk_capacity(d.blk), d.o.queues, d.o.queues > 1 ? "s" : "",
		       d.o.iothreads, d.o.readonly ? ", read-only" : "",
		       d.o.direct ? ", O_DIRECT" : "", d.o.socket);
		run(&d);
		vb_log("shutting down");
	}
	vq_vu_backend_free(d.vu); /* stops the queues: in-flight I/O completes */
	vb_qthreads_stop(&d);
	if (r == 0)
		stats_line(&d, true);
	vq_vu_loop_free(d.loop);
	vq_blk_free(d.blk);
	return r == 0 ? 0 : 1;
}
