/* SPDX-License-Identifier: MIT */
/*
 * virtq-net: vhost-user-net L2 switch (see vn.h).  Options, setup, signals
 * and the control loop (vhost-user backends, control queues, statistics).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <virtq/net_split.h>

#include "vn.h"

static volatile sig_atomic_t g_signalled;

static const char usage[] =
"Usage: virtq-net [OPTIONS] (--socket-path PATH | --fd FD | --tap NAME)...\n"
"vhost-user-net switch: serves vhost-user-net ports and switches L2 frames\n"
"between them (MAC learning with aging; flooding of broadcast, multicast and\n"
"unknown unicast; each guest's receive filter honoured).\n"
"\n"
"Ports (port i is the i-th --socket-path, then the --fd, then the --tap):\n"
"  -s, --socket-path PATH  a vhost-user-net port on unix socket PATH\n"
"                        (repeatable; --socket is the same option)\n"
"      --fd FD           a vhost-user-net port on the listening unix socket FD\n"
"                        inherited from the parent (e.g. libvirt)\n"
"  -c, --client          connect to the sockets (frontend listens), retrying\n"
"                        after " VQT_STR(VQ_VU_RETRY_MIN_MS) " ms, doubling up to "
VQT_STR(VQ_VU_RETRY_MAX_MS) " ms, for ever;\n"
"                        default: listen and accept, re-accepting after a disconnect\n"
"  -t, --tap NAME        a TAP port (host interface NAME, brought up) (repeatable)\n"
"  -q, --queues N        queue pairs per vhost-user port (max_virtqueue_pairs), 1-127\n"
"                        (default 1)\n"
"      --mac-base MAC    MAC in the config space of port 0; port i gets the last\n"
"                        byte + i (default 52:54:00:00:10:00)\n"
"      --mtu N           offer VIRTIO_NET_F_MTU with this MTU (68-65535)\n"
"      --aging SECS      MAC table aging time (default 300)\n"
"      --no-in-order     do not offer VIRTIO_F_IN_ORDER (offered by default: the\n"
"                        device uses buffers in order, and DPDK virtio-user then\n"
"                        uses its faster in-order paths; --in-order is accepted)\n"
"      --print-capabilities  print the backend's capabilities as JSON (the\n"
"                        vhost-user backend program conventions) and exit\n"
"\n"
"Data path:\n"
"  -w, --workers N       worker threads (default 1)\n"
"      --cpus LIST       pin worker i to the i-th CPU of LIST, e.g. 1,3 or 2-5\n"
"                        (each CPU must exist on this machine)\n"
"  -p, --poll MODE       busy: poll rings continuously (default);\n"
"                        kick: sleep on the kick eventfds when idle\n"
"\n"
"Benchmark modes (no switching):\n"
"      --sink[=HOW]      take every frame the guests transmit and drop it; HOW:\n"
"                        copy (default) reads each frame into a local buffer,\n"
"                        as a switch copies into its destination and as DPDK's\n"
"                        rxonly copies into an mbuf (equal work for benchmarks);\n"
"                        discard drops it unread (profiling the ring alone)\n"
"      --source SIZE     send SIZE-byte Ethernet/IPv4/UDP frames (no FCS, 42-65549)\n"
"                        to every guest as fast as it posts receive buffers;\n"
"                        what the guests transmit is dropped\n"
"      --source-dst MAC  destination MAC of those frames (default broadcast)\n"
"      --source-proto P  udp4 (default), tcp4 or tcp6: what those frames carry\n"
"                        (TCP-like: a 20-byte TCP header, ACK set, no options)\n"
"      --split METHOD    EXPERIMENTAL header/data split (docs/SPLIT.md): offer\n"
"                        a, b, c (VQ_NET_F_SPLIT_A/B/C) or hring (the header ring,\n"
"                        VQ_NET_F_SPLIT_HDR_RING: the driver configures it with a\n"
"                        control-queue command, VQ_NET_CTRL_SPLIT)\n"
"      --split-thresh N  frames of at most N bytes go unsplit, as a NIC's\n"
"                        hds-thresh (default 0: split every frame that parses)\n"
"\n"
"Statistics (rx = frames from the port, tx = frames to the port; bit/s over\n"
"frame bytes without virtio header, preamble or FCS; errors counts protocol\n"
"violations, a broken queue among them):\n"
"      --stats SECS      print one line per port every SECS seconds (default 1;\n"
"                        0 disables); totals per port at exit (SIGINT/SIGTERM)\n"
"      --stats-json      print those lines as JSON objects, one per line, with\n"
"                        the port's index and full socket path\n"
"  -v, --verbose         log every vhost-user message\n"
VQT_COMMON_HELP;

static int parse_cpus(const char *s, struct vn_opts *o)
{
	int n = vqt_parse_cpus(s, o->cpus, VN_MAX_WORKERS);

	if (n < 0)
		return n;
	o->ncpus = (unsigned)n;
	return 0;
}

enum {
	OPT_CPUS = VQT_OPT_TOOL_BASE, OPT_SINK, OPT_SOURCE, OPT_SOURCE_DST, OPT_STATS,
	OPT_MAC_BASE, OPT_MTU, OPT_AGING, OPT_IN_ORDER, OPT_NO_IN_ORDER, OPT_SPLIT, OPT_SPLIT_THRESH, OPT_SOURCE_PROTO,
};

static const struct option longopts[] = {
	VQT_COMMON_OPTIONS,
	VQT_BACKEND_OPTIONS,
	{ "client", no_argument, NULL, 'c' },
	{ "tap", required_argument, NULL, 't' },
	{ "queues", required_argument, NULL, 'q' },
	{ "workers", required_argument, NULL, 'w' },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "poll", required_argument, NULL, 'p' },
	{ "sink", optional_argument, NULL, OPT_SINK },
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ "source-dst", required_argument, NULL, OPT_SOURCE_DST },
	{ "source-proto", required_argument, NULL, OPT_SOURCE_PROTO },
	{ "split", required_argument, NULL, OPT_SPLIT },
	{ "split-thresh", required_argument, NULL, OPT_SPLIT_THRESH },
	{ "stats", required_argument, NULL, OPT_STATS },
	{ "stats-json", no_argument, NULL, VQT_OPT_STATS_JSON },
	{ "mac-base", required_argument, NULL, OPT_MAC_BASE },
	{ "mtu", required_argument, NULL, OPT_MTU },
	{ "aging", required_argument, NULL, OPT_AGING },
	{ "in-order", no_argument, NULL, OPT_IN_ORDER },
	{ "no-in-order", no_argument, NULL, OPT_NO_IN_ORDER },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int add_name(const char **v, unsigned *n, unsigned other, const char *s)
{
	if (*n + other >= VN_MAX_PORTS)
		return vqt_parse_fail("more than %u ports", VN_MAX_PORTS);
	v[(*n)++] = s;
	return 0;
}

static int parse_listen_fd(struct vn_opts *o, const char *a)
{
	if (o->listen_fd >= 0)
		return vqt_parse_fail("given twice");
	if (o->nsockets + o->ntaps + 1 >= VN_MAX_PORTS)
		return vqt_parse_fail("more than %u ports", VN_MAX_PORTS);
	return vqt_parse_listen_fd(a, &o->listen_fd);
}

/* One option; 0, or -EINVAL with a reason (vqt_parse_error). */
static int parse_opt(void *ctx, int c, const char *a)
{
	struct vn_opts *o = ctx;
	unsigned v;

	switch (c) {
	case 's': return add_name(o->sockets, &o->nsockets, o->ntaps + (o->listen_fd >= 0), a);
	case 't': return add_name(o->taps, &o->ntaps, o->nsockets + (o->listen_fd >= 0), a);
	case VQT_OPT_FD: return parse_listen_fd(o, a);
	case VQT_OPT_PRINT_CAPS: o->print_caps = true; return 0;
	case 'c': o->client = true; return 0;
	case 'q': return vqt_parse_uint(a, 1, (VQ_VU_MAX_QUEUES - 1) / 2, &o->queues);
	case 'w': return vqt_parse_uint(a, 1, VN_MAX_WORKERS, &o->workers);
	case OPT_CPUS: return parse_cpus(a, o);
	case 'p':
		if (strcmp(a, "busy") && strcmp(a, "kick"))
			return vqt_parse_fail("busy or kick");
		o->poll = strcmp(a, "kick") ? VN_POLL_BUSY : VN_POLL_KICK;
		return 0;
	case OPT_SINK:
		o->mode = VN_SINK;
		if (a && strcmp(a, "copy") && strcmp(a, "discard"))
			return vqt_parse_fail("copy or discard");
		o->sink_discard = a && !strcmp(a, "discard");
		return 0;
	case OPT_SOURCE: o->mode = VN_SOURCE; return vqt_parse_uint(a, 42, 65549, &o->source_size);
	case OPT_SOURCE_DST: return vqt_parse_mac(a, o->source_dst);
	case OPT_SOURCE_PROTO:
		if (strcmp(a, "udp4") && strcmp(a, "tcp4") && strcmp(a, "tcp6"))
			return vqt_parse_fail("udp4, tcp4 or tcp6");
		o->source_proto = a[0] == 'u' ? VN_SRC_UDP4 : a[3] == '4' ? VN_SRC_TCP4 : VN_SRC_TCP6;
		return 0;
	case OPT_SPLIT:
		if (!strcmp(a, "hring")) {
			o->split = VQ_NET_F_SPLIT_HDR_RING;
			return 0;
		}
		if (strlen(a) != 1 || a[0] < 'a' || a[0] > 'c')
			return vqt_parse_fail("a, b, c or hring");
		o->split = VQ_NET_F(VQ_NET_F_SPLIT_A_BIT + (unsigned)(a[0] - 'a'));
		return 0;
	case OPT_SPLIT_THRESH: return vqt_parse_uint(a, 0, 65535, &o->split_thresh);
	case OPT_STATS: return vqt_parse_secs(a, 0, 86400, &o->stats_secs);
	case VQT_OPT_STATS_JSON: o->stats_json = true; return 0;
	case OPT_MAC_BASE: return vqt_parse_mac(a, o->mac_base);
	case OPT_MTU:
		if (vqt_parse_uint(a, 68, 65535, &v) < 0)
			return -EINVAL;
		o->mtu = (uint16_t)v;
		return 0;
	case OPT_AGING: return vqt_parse_uint(a, 1, 1u << 30, &o->aging);
	case OPT_IN_ORDER: o->in_order = true; return 0;
	case OPT_NO_IN_ORDER: o->in_order = false; return 0;
	case 'v': o->verbose = true; return 0;
	default: return vqt_parse_fail("unknown option");
	}
}

static void opts_default(struct vn_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->queues = o->workers = 1;
	o->in_order = true;
	o->stats_secs = 1;
	o->aging = 300;
	o->listen_fd = -1;
	memset(o->source_dst, 0xff, 6);
	memcpy(o->mac_base, (const uint8_t[]){ 0x52, 0x54, 0x00, 0x00, 0x10, 0x00 }, 6);
}

/* Returns 0 to run, 1 to exit 0 (--help, --version, --print-capabilities),
 * -1 to exit 2 (usage error). */
static int parse_args(struct vn_opts *o, int argc, char **argv)
{
	static const char *const no_features[] = { NULL };
	const struct vqt_cli cli = {
		.prog = "virtq-net", .help = usage, .shortopts = "s:ct:q:w:p:v",
		.longopts = longopts, .one = parse_opt, .ctx = o,
	};
	int r;

	opts_default(o);
	if ((r = vqt_getopt(&cli, argc, argv)) != 0)
		return r;
	if (o->print_caps) {
		vqt_print_capabilities("net", no_features);
		return 1;
	}
	if (optind < argc)
		return vqt_usage_error(cli.prog, "unexpected argument '%s'", argv[optind]);
	if (o->nsockets + o->ntaps + (o->listen_fd >= 0) == 0)
		return vqt_usage_error(cli.prog, "no port (--socket-path, --fd or --tap)");
	if (o->listen_fd >= 0)
		vqt_socket_name(o->listen_fd, o->fd_path, sizeof(o->fd_path));
	if (o->client && o->listen_fd >= 0)
		return vqt_usage_error(cli.prog, "--fd serves a listening socket: not with --client");
	if (o->mode != VN_SWITCH && o->ntaps)
		return vqt_usage_error(cli.prog, "--sink and --source serve vhost-user ports only");
	return 0;
}

/* ---- setup and the control loop */

static void on_signal(int sig)
{
	g_signalled = sig;
}

static void signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: EINTR */

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int ports_open(struct vn_daemon *d)
{
	for (unsigned i = 0; i < d->o.nsockets; i++) {
		int r = vn_port_new(d, d->o.sockets[i], &d->ports[d->nports]);

		if (r < 0) {
			vqt_log(VQT_LOG_ERR, "%s: %s", d->o.sockets[i], strerror(-r));
			return r;
		}
		d->nports++;
	}
	if (d->o.listen_fd >= 0) {
		int r = vn_port_new(d, d->o.fd_path, &d->ports[d->nports]);

		if (r < 0) {
			vqt_log(VQT_LOG_ERR, "--fd %d: %s", d->o.listen_fd, strerror(-r));
			return r;
		}
		d->nports++;
	}
	for (unsigned i = 0; i < d->o.ntaps; i++) {
		int r = vn_tap_new(d, d->o.taps[i], &d->ports[d->nports]);

		if (r < 0) {
			vqt_log(VQT_LOG_ERR, "tap %s: %s", d->o.taps[i], strerror(-r));
			return r;
		}
		d->nports++;
	}
	return 0;
}

static void control_loop(struct vn_daemon *d)
{
	double period = d->o.stats_secs, last = d->t_start, next = last + period;
	double next_ctrl = last;

	while (!g_signalled) {
		double now = vn_now();
		int to = 100;

		if (period > 0 && (next - now) * 1000 < to)
			to = next > now ? (int)((next - now) * 1000) + 1 : 0;
		if (vq_vu_loop_run(d->loop, to) < 0) {
			vqt_log(VQT_LOG_ERR, "control loop: %s", strerror(errno));
			nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
		}
		now = vn_now();
		atomic_store_explicit(&d->now_s, (unsigned)now, memory_order_relaxed);
		if (now >= next_ctrl) { /* control queues without a kick fd */
			for (unsigned i = 0; i < d->nports; i++)
				vn_port_poll_ctrl(d->ports[i]);
			next_ctrl = now + 0.1;
		}
		if (period > 0 && now >= next) {
			vn_stats_print(d, now, now - last, false);
			last = now;
			next = next + period > now ? next + period : now + period;
		}
	}
}

static void shutdown_all(struct vn_daemon *d)
{
	for (unsigned i = 0; i < d->nports; i++) { /* stops queues: workers still run */
		struct vn_port *p = d->ports[i];

		if (p && !p->tap) {
			vq_vu_backend_free(p->vu);
			p->vu = NULL;
		}
	}
	vn_workers_stop(d);
}

static void free_all(struct vn_daemon *d)
{
	vn_workers_free(d);
	for (unsigned i = 0; i < d->nports; i++) {
		if (d->ports[i]->tap)
			vn_tap_free(d->ports[i]);
		else
			vn_port_free(d->ports[i]);
	}
	if (d->loop)
		vq_vu_loop_free(d->loop);
	vn_mac_free(d->mac);
	vn_source_free(d);
	free(d);
}

static int setup(struct vn_daemon *d)
{
	int r;

	vqt_log_library(d->o.verbose);
	d->t_start = vn_now();
	atomic_store(&d->now_s, (unsigned)d->t_start);
	if ((r = vn_mac_new(d->o.aging, &d->mac)) < 0 || (r = vq_vu_loop_new(&d->loop)) < 0)
		return r;
	if (d->o.mode == VN_SOURCE && (r = vn_source_init(d)) < 0)
		return r;
	if ((r = ports_open(d)) < 0)
		return r;
	if ((r = vn_workers_start(d)) < 0)
		vqt_log(VQT_LOG_ERR, "cannot start workers: %s", strerror(-r));
	return r;
}

int main(int argc, char **argv)
{
	struct vn_daemon *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return 1;
	vqt_log_init("virtq-net");
	if ((r = parse_args(&d->o, argc, argv)) != 0) {
		free(d);
		return r > 0 ? 0 : 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signals();
	if ((r = setup(d)) < 0) {
		shutdown_all(d);
		free_all(d);
		return 1;
	}
	vn_log("%u port(s), %u worker(s), %s polling, %s", d->nports, d->nworkers,
	       d->o.poll == VN_POLL_KICK ? "kick" : "busy",
	       d->o.mode == VN_SINK ? (d->o.sink_discard ? "sink (discard)" : "sink (copy)") : d->o.mode == VN_SOURCE ? "source" : "switching");
	control_loop(d);
	vn_log("signal %d: shutting down", (int)g_signalled);
	shutdown_all(d);
	vn_stats_print(d, vn_now(), 0, true);
	free_all(d);
	return 0;
}
