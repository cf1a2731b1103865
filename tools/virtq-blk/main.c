/* SPDX-License-Identifier: MIT */
/*
 * virtq-blk: serve a file or a block device to a vhost-user frontend (QEMU's
 * vhost-user-blk-pci) as a virtio-blk device.  See vb.h for the threads.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vb.h"

static volatile sig_atomic_t quit;

static const char usage_fmt[] =
"Usage: virtq-blk (--socket-path PATH | --fd FD) --file PATH [OPTIONS]\n"
"Serve PATH (a regular file or a block device) as a vhost-user-blk device,\n"
"e.g. to QEMU: -chardev socket,id=c0,path=SOCK\n"
"              -device vhost-user-blk-pci,chardev=c0,num-queues=1\n"
"(guest RAM must be shared: -object memory-backend-memfd,share=on,...).\n\n"
VQT_BACKEND_HELP
"  -c, --client          connect to PATH instead, retrying after "
VQT_STR(VQ_VU_RETRY_MIN_MS) " ms,\n"
"                        doubling up to " VQT_STR(VQ_VU_RETRY_MAX_MS)
" ms, for ever (also after a\n"
"                        disconnect); default: listen and re-accept\n"
"  -f, --file PATH       backing file or block device (capacity: its size / 512;\n"
"                        --blk-file is the same option)\n"
"      --readonly        open read-only and offer VIRTIO_BLK_F_RO (or --read-only)\n"
"      --direct          O_DIRECT (bounce buffers for unaligned guest memory)\n"
"  -q, --queues N        request queues, 1..%u (default 1; MQ offered when > 1)\n"
"      --iothreads N     I/O threads, 0..%u (default 4; 0 = I/O on queue threads)\n"
"      --engine E        uring: one io_uring per queue (discard, write zeroes and\n"
"                        O_DIRECT bounces on the I/O threads); threads: the pool\n"
"                        does all I/O; auto (default): uring when the kernel\n"
"                        allows it and --iothreads > 0, else threads\n"
"      --blk-size N      advertised block size, power of two 512..65536\n"
"                        (default 512, or the direct-I/O block with --direct)\n"
"      --serial S        GET_ID answer (at most 20 bytes; default \"virtq-blk\")\n"
"  -p, --poll MODE       kick: wait on kick eventfds (default); busy: spin on\n"
"                        the rings\n"
"      --stats SECS      print throughput every SECS seconds (default 0: never);\n"
"                        totals at exit\n"
"      --stats-json      print those lines as JSON objects, one per line\n"
"  -v, --verbose         log every vhost-user message\n"
VQT_COMMON_HELP
"SIGINT / SIGTERM: stop cleanly (in-flight I/O completes) and print totals.\n"
"Statistics: ioerr counts requests completed with IOERR (io_failed: of those,\n"
"the system call failed), errors counts queues broken by a protocol violation.\n";

enum {
	OPT_READONLY = VQT_OPT_TOOL_BASE, OPT_DIRECT, OPT_IOTHREADS, OPT_BLK_SIZE, OPT_SERIAL,
	OPT_STATS, OPT_ENGINE,
};

static const struct option longopts[] = {
	VQT_COMMON_OPTIONS,
	VQT_BACKEND_OPTIONS,
	{ "client", no_argument, NULL, 'c' },
	{ "file", required_argument, NULL, 'f' },
	{ "blk-file", required_argument, NULL, 'f' },
	{ "readonly", no_argument, NULL, OPT_READONLY },
	{ "read-only", no_argument, NULL, OPT_READONLY },
	{ "direct", no_argument, NULL, OPT_DIRECT },
	{ "queues", required_argument, NULL, 'q' },
	{ "iothreads", required_argument, NULL, OPT_IOTHREADS },
	{ "engine", required_argument, NULL, OPT_ENGINE },
	{ "blk-size", required_argument, NULL, OPT_BLK_SIZE },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "poll", required_argument, NULL, 'p' },
	{ "stats", required_argument, NULL, OPT_STATS },
	{ "stats-json", no_argument, NULL, VQT_OPT_STATS_JSON },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_blk_size(const char *a, uint32_t *out)
{
	unsigned v;

	if (vqt_parse_uint(a, 512, 65536, &v) < 0)
		return -EINVAL;
	if (v & (v - 1))
		return vqt_parse_fail("not a power of two");
	*out = v;
	return 0;
}

static int parse_engine(const char *a, enum vq_blk_engine *out)
{
	if (!strcmp(a, "uring"))
		*out = VQ_BLK_ENGINE_URING;
	else if (!strcmp(a, "threads"))
		*out = VQ_BLK_ENGINE_THREADS;
	else if (!strcmp(a, "auto"))
		*out = VQ_BLK_ENGINE_AUTO;
	else
		return vqt_parse_fail("uring, threads or auto");
	return 0;
}

static int parse_serial(const char *a, const char **out)
{
	if (strlen(a) > VIRTIO_BLK_ID_BYTES)
		return vqt_parse_fail("%zu bytes, at most %u", strlen(a), (unsigned)VIRTIO_BLK_ID_BYTES);
	*out = a;
	return 0;
}

struct vb_cli {
	struct vb_opts *o;
	struct vqt_backend_opts be;
};

/* One option; 0, or -EINVAL with a reason (vqt_parse_error). */
static int parse_opt(void *ctx, int c, const char *a)
{
	struct vb_cli *cli = ctx;
	struct vb_opts *o = cli->o;
	int r = vqt_backend_opt(&cli->be, c, a);

	if (r <= 0)
		return r;
	switch (c) {
	case 'f': o->file = a; return 0;
	case OPT_READONLY: o->readonly = true; return 0;
	case OPT_DIRECT: o->direct = true; return 0;
	case 'q': return vqt_parse_uint(a, 1, VQ_BLK_MAX_QUEUES, &o->queues);
	case OPT_IOTHREADS: return vqt_parse_uint(a, 0, VQ_BLK_MAX_IOTHREADS, &o->iothreads);
	case OPT_ENGINE: return parse_engine(a, &o->engine);
	case OPT_BLK_SIZE: return parse_blk_size(a, &o->blk_size);
	case OPT_SERIAL: return parse_serial(a, &o->serial);
	case 'p':
		if (strcmp(a, "busy") && strcmp(a, "kick"))
			return vqt_parse_fail("kick or busy");
		o->poll = strcmp(a, "busy") ? VB_POLL_KICK : VB_POLL_BUSY;
		return 0;
	case OPT_STATS: return vqt_parse_secs(a, 0, 86400, &o->stats_secs);
	case VQT_OPT_STATS_JSON: o->stats_json = true; return 0;
	case 'v': o->verbose = true; return 0;
	default: return vqt_parse_fail("unknown option");
	}
}

/* Returns 0 to run, 1 to exit 0 (--help, --version, --print-capabilities),
 * -1 to exit 2 (usage error). */
static int parse_args(int argc, char **argv, struct vb_opts *o)
{
	static const char *const features[] = { "blk-file", "read-only", NULL };
	static char usage[sizeof(usage_fmt) + 16];
	struct vb_cli vc = { .o = o, .be = VQT_BACKEND_OPTS_INIT };
	const struct vqt_cli cli = {
		.prog = "virtq-blk", .help = usage, .shortopts = "s:cf:q:p:v",
		.longopts = longopts, .one = parse_opt, .ctx = &vc,
	};
	const char *why;
	int r;

	snprintf(usage, sizeof(usage), usage_fmt, VQ_BLK_MAX_QUEUES, VQ_BLK_MAX_IOTHREADS);
	*o = (struct vb_opts){ .queues = 1, .iothreads = 4, .serial = "virtq-blk" };
	if ((r = vqt_getopt(&cli, argc, argv)) != 0)
		return r;
	if (vc.be.print_caps) {
		vqt_print_capabilities("block", features);
		return 1;
	}
	if (optind < argc)
		return vqt_usage_error(cli.prog, "unexpected argument '%s'", argv[optind]);
	if (!o->file && !vc.be.socket_path && vc.be.listen_fd < 0)
		why = "--socket-path (or --fd) and --file are required";
	else if (!(why = vqt_backend_check(&vc.be)) && !o->file)
		why = "--file is required";
	if (why)
		return vqt_usage_error(cli.prog, "%s", why);
	memcpy(o->socket_name, vc.be.fd_name, sizeof(o->socket_name)); /* vc is ours */
	o->socket = vc.be.listen_fd >= 0 ? o->socket_name : vc.be.socket_path;
	o->listen_fd = vc.be.listen_fd;
	o->client = vc.be.client;
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

static void stats_text(const struct vq_blk_stats *s, const double r[5], double dt,
		       uint64_t errors, bool total)
{
	printf("%s %.1fs: read %.0f/s %.1f MB/s, write %.0f/s %.1f MB/s, flush %.0f/s | "
	       "reads %" PRIu64 " writes %" PRIu64 " flushes %" PRIu64 " discards %" PRIu64
	       " write_zeroes %" PRIu64 " get_id %" PRIu64 " ioerr %" PRIu64 " (io_failed %"
	       PRIu64 ") unsupp %" PRIu64 " dropped %" PRIu64 " errors %" PRIu64 "\n",
	       total ? "total" : "stats", dt, r[0], r[1] / 1e6, r[2], r[3] / 1e6, r[4],
	       s->reads, s->writes, s->flushes, s->discards, s->write_zeroes, s->get_ids,
	       s->ioerr, s->io_failed, s->unsupp, s->dropped, errors);
}

static void stats_json(const struct vb_daemon *d, const struct vq_blk_stats *s,
		       const double r[5], double t, uint64_t errors, bool total)
{
	printf("{\"time\":%.3f,\"socket\":", t);
	vqt_json_str(d->o.socket);
	printf(",%s\"reads\":%" PRIu64 ",\"read_bytes\":%" PRIu64 ",\"read_iops\":%.0f,"
	       "\"read_Bps\":%.0f,\"writes\":%" PRIu64 ",\"write_bytes\":%" PRIu64
	       ",\"write_iops\":%.0f,\"write_Bps\":%.0f,\"flushes\":%" PRIu64
	       ",\"flush_iops\":%.0f,\"discards\":%" PRIu64 ",\"write_zeroes\":%" PRIu64
	       ",\"get_id\":%" PRIu64 ",\"ioerr\":%" PRIu64 ",\"io_failed\":%" PRIu64
	       ",\"unsupp\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"errors\":%" PRIu64 "}\n",
	       total ? "\"total\":true," : "", s->reads, s->read_bytes, r[0], r[1], s->writes,
	       s->write_bytes, r[2], r[3], s->flushes, r[4], s->discards, s->write_zeroes,
	       s->get_ids, s->ioerr, s->io_failed, s->unsupp, s->dropped, errors);
}

/* One line: rates since the last line (total: since the start, and the
 * counters); errors = queues broken by a protocol violation. */
static void stats_line(struct vb_daemon *d, bool total)
{
	struct vq_blk_stats s, *l = &d->last;
	double now = vb_now(), dt = now - (total ? d->t_start : d->t_last), r[5];
	uint64_t errors = atomic_load(&d->broken);

	vb_stats_sum(d, &s);
	if (total)
		memset(l, 0, sizeof(*l));
	if (dt <= 0)
		dt = 1e-9;
	r[0] = (double)(s.reads - l->reads) / dt;
	r[1] = (double)(s.read_bytes - l->read_bytes) / dt;
	r[2] = (double)(s.writes - l->writes) / dt;
	r[3] = (double)(s.write_bytes - l->write_bytes) / dt;
	r[4] = (double)(s.flushes - l->flushes) / dt;
	if (d->o.stats_json)
		stats_json(d, &s, r, now - d->t_start, errors, total);
	else
		stats_text(&s, r, dt, errors, total);
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
		.num_queues = d->o.queues, .iothreads = d->o.iothreads, .engine = d->o.engine,
		.blk_size = d->o.blk_size, .serial = d->o.serial,
	};
	int r = vq_blk_new(&p, &d->blk);

	if (r < 0 && d->o.engine == VQ_BLK_ENGINE_URING && r != -EINVAL)
		vqt_log(VQT_LOG_ERR, "cannot serve %s with --engine uring: %s", d->o.file,
			strerror(-r));
	else if (r < 0)
		vqt_log(VQT_LOG_ERR, "cannot serve %s: %s%s", d->o.file, strerror(-r),
		       r == -EINVAL ? " (empty, not a file or block device, or O_DIRECT "
				      "unsupported?)" : "");
	return r;
}

/* Serve the model (its ops table) over vhost-user; the hooks hand started
 * queues to the queue threads. */
static int open_backend(struct vb_daemon *d)
{
	struct vq_vu_serve_params sp = {
		.name = "virtq-blk", .mode = d->o.client ? VQ_VU_CLIENT : VQ_VU_SERVER,
		.path = d->o.socket, .listen_fd = d->o.listen_fd, .device = vq_blk_device(d->blk),
		.protocol_features = VQ_VU_PROTOCOL_F_MQ | VQ_VU_PROTOCOL_F_REPLY_ACK |
				     VQ_VU_PROTOCOL_F_CONFIG | VQ_VU_PROTOCOL_F_RESET_DEVICE |
				     VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS |
				     VQ_VU_PROTOCOL_F_STATUS,
		.queue_num = d->o.queues, .loop_ops = vq_vu_loop_ops(),
		.hooks = vb_serve_hooks(), .hook = d,
	};
	int r = vq_vu_loop_new(&d->loop);

	if (r < 0)
		return r;
	sp.loop = d->loop;
	r = vq_vu_serve(&sp, &d->vu);
	if (r < 0)
		vqt_log(VQT_LOG_ERR, "cannot %s %s: %s", d->o.client ? "connect to" : "listen on",
		       d->o.socket, strerror(-r));
	return r;
}

static void run(struct vb_daemon *d)
{
	double next = d->o.stats_secs ? vb_now() + d->o.stats_secs : 0;

	while (!quit) {
		int r = vq_vu_loop_run(d->loop, 200);

		if (r < 0 && r != -EINTR) {
			vqt_log(VQT_LOG_ERR, "event loop: %s", strerror(-r));
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
	int r;

	vqt_log_init("virtq-blk");
	if ((r = parse_args(argc, argv, &d.o)) != 0)
		return r > 0 ? 0 : 2;
	vqt_log_library(d.o.verbose);
	install_signals();
	if (open_device(&d) < 0)
		return 1;
	r = vb_qthreads_start(&d);
	if (r == 0)
		r = open_backend(&d);
	if (r == 0) {
		d.t_start = d.t_last = vb_now();
		vb_log("serving %s (%" PRIu64 " sectors, %u queue%s, %s engine, %u I/O threads%s%s)"
		       " on %s", d.o.file, vq_blk_capacity(d.blk), d.o.queues,
		       d.o.queues > 1 ? "s" : "", vq_blk_engine_name(vq_blk_get_engine(d.blk)),
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
