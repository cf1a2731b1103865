/* SPDX-License-Identifier: MIT */
/*
 * virtq-vsock: a vhost-user-vsock backend for QEMU's vhost-user-vsock-pci,
 * with the host side of vhost-device-vsock (see <virtq/vsock.h>).
 * `virtq-vsock client ...` is the userspace driver instead (client.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <virtq/vsock.h>

#include "../common/tool.h"
#include "vv.h"

enum { OPT_CID = VQT_OPT_TOOL_BASE, OPT_UDS, OPT_BUF_ALLOC, OPT_MAX_CONNS };

struct vv_opts {
	const char *socket, *uds;
	int listen_fd;
	uint64_t cid, buf_alloc;
	unsigned max_conns;
	bool print_caps, verbose;
	char fd_path[108];
};

static const char usage[] =
"usage: virtq-vsock --socket-path PATH --guest-cid N --uds-path PATH [OPTIONS]\n"
"       virtq-vsock client --socket-path PATH ...   (the userspace driver; see\n"
"                                                    virtq-vsock client --help)\n"
"  Serve a virtio-vsock device over vhost-user, e.g. to QEMU:\n"
"    -chardev socket,id=c0,path=PATH -device vhost-user-vsock-pci,chardev=c0\n"
"  (guest RAM must be shared: -object memory-backend-memfd,share=on,...).\n"
"  Host side (the protocol of vhost-device-vsock and Firecracker):\n"
"    guest connects to host port P  ->  we connect to the unix socket UDS_P\n"
"                                       (SOCK_SEQPACKET for a seqpacket socket)\n"
"    host program connects to UDS, writes \"CONNECT <port>\\n\", reads\n"
"    \"OK <host-port>\\n\" once the guest accepted; then the stream is the\n"
"    connection; the same on UDS_seqpacket (SOCK_SEQPACKET, one record per\n"
"    line and per message) reaches a guest seqpacket listener.\n\n"
VQT_BACKEND_HELP
"      --guest-cid N     the guest's context id (3..4294967294)\n"
"      --uds-path PATH   the host side's unix socket (see above)\n"
"      --buf-alloc SIZE  per-connection receive buffer offered to the guest\n"
"                        (credit; default 256k, at most 64m)\n"
"      --max-conns N     connections at most (default 1024)\n"
"  -v, --verbose         log every vhost-user message\n"
VQT_COMMON_HELP
"  SIGINT / SIGTERM: stop and print the totals.\n";

static const struct option longopts[] = {
	VQT_COMMON_OPTIONS,
	VQT_BACKEND_OPTIONS,
	{ "guest-cid", required_argument, NULL, OPT_CID },
	{ "uds-path", required_argument, NULL, OPT_UDS },
	{ "buf-alloc", required_argument, NULL, OPT_BUF_ALLOC },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_opt(void *ctx, int c, const char *a)
{
	struct vv_opts *o = ctx;

	switch (c) {
	case 's': o->socket = a; return 0;
	case VQT_OPT_FD: return vqt_parse_listen_fd(a, &o->listen_fd);
	case VQT_OPT_PRINT_CAPS: o->print_caps = true; return 0;
	case OPT_CID: return vqt_parse_u64(a, 3, UINT32_MAX - 1, &o->cid);
	case OPT_UDS: o->uds = a; return 0;
	case OPT_BUF_ALLOC:
		if (vqt_parse_size(a, &o->buf_alloc) < 0)
			return -EINVAL;
		if (o->buf_alloc < 4096 || o->buf_alloc > VQ_VSOCK_MAX_BUF_ALLOC)
			return vqt_parse_fail("must be 4k..64m");
		return 0;
	case OPT_MAX_CONNS: return vqt_parse_uint(a, 1, 65536, &o->max_conns);
	case 'v': o->verbose = true; return 0;
	default: return vqt_parse_fail("unknown option");
	}
}

static int parse_args(int argc, char **argv, struct vv_opts *o)
{
	static const char *const features[] = { NULL };
	const struct vqt_cli cli = {
		.prog = "virtq-vsock", .help = usage, .shortopts = "s:v",
		.longopts = longopts, .one = parse_opt, .ctx = o,
	};
	int r;

	*o = (struct vv_opts){ .listen_fd = -1 };
	if ((r = vqt_getopt(&cli, argc, argv)) != 0)
		return r;
	if (o->print_caps) {
		vqt_print_capabilities("vsock", features);
		return 1;
	}
	if (optind < argc)
		return vqt_usage_error(cli.prog, "unexpected argument '%s'", argv[optind]);
	if (!o->socket && o->listen_fd < 0)
		return vqt_usage_error(cli.prog, "--socket-path (or --fd) is required");
	if (o->socket && o->listen_fd >= 0)
		return vqt_usage_error(cli.prog, "--socket-path and --fd exclude each other");
	if (!o->cid)
		return vqt_usage_error(cli.prog, "--guest-cid is required");
	if (!o->uds)
		return vqt_usage_error(cli.prog, "--uds-path is required");
	if (o->listen_fd >= 0)
		o->socket = vqt_socket_name(o->listen_fd, o->fd_path, sizeof(o->fd_path));
	return 0;
}

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void model_log(void *ctx, const char *msg)
{
	(void)ctx;
	vqt_log(VQT_LOG_WARN, "%s", msg);
}

static void print_totals(const struct vq_vsock *v)
{
	struct vq_vsock_stats s;

	vq_vsock_get_stats(v, &s);
	printf("virtq-vsock: tx %" PRIu64 " pkts %" PRIu64 " bytes, rx %" PRIu64 " pkts %" PRIu64
	       " bytes, connections %" PRIu64 " opened %" PRIu64 " closed, rst %" PRIu64
	       ", bad headers %" PRIu64 ", credit violations %" PRIu64 "\n",
	       s.tx_pkts, s.tx_bytes, s.rx_pkts, s.rx_bytes, s.conns_opened, s.conns_closed,
	       s.rst_sent, s.bad_hdr, s.credit_violations);
	fflush(stdout);
}

/* One thread: vhost-user messages, kicks and timers, then the model's work. */
static int serve(struct vq_vsock *v, struct vq_vu_loop *l)
{
	int more = 0, rc;

	while (!quit) {
		rc = vq_vu_loop_run(l, more > 0 ? 0 : 1000);
		if (rc < 0) { /* a local failure (accept, memory): keep serving */
			vqt_log(VQT_LOG_ERR, "control loop: %s", strerror(-rc));
			nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
		}
		more = vq_vsock_process(v);
		if (more < 0)
			return more;
	}
	return 0;
}

static int run(const struct vv_opts *o)
{
	struct vq_vsock_params vp = { .guest_cid = o->cid, .uds_path = o->uds,
				      .buf_alloc = (uint32_t)o->buf_alloc,
				      .max_conns = o->max_conns, .log = model_log };
	struct vq_vu_serve_params sp = { .mode = VQ_VU_SERVER, .path = o->socket,
					 .listen_fd = o->listen_fd };
	struct vq_vu_backend *b = NULL;
	struct vq_vsock *v = NULL;
	struct vq_vu_loop *l = NULL;
	int rc;

	rc = vq_vsock_new(&vp, &v);
	if (rc < 0) {
		vqt_log(VQT_LOG_ERR, "--uds-path %s: %s", o->uds, strerror(-rc));
		return 1;
	}
	rc = vq_vu_loop_new(&l);
	if (rc == 0)
		rc = vq_vu_loop_add_fd(l, vq_vsock_fd(v));
	if (rc == 0) {
		vq_vsock_device(v, &sp.device);
		sp.loop_ops = vq_vu_loop_ops();
		sp.loop = l;
		rc = vq_vu_serve(&sp, &b);
	}
	if (rc == 0) {
		vqt_log(VQT_LOG_INFO, "serving guest cid %" PRIu64 " on %s, host side %s",
			o->cid, o->socket, o->uds);
		rc = serve(v, l);
	} else {
		vqt_log(VQT_LOG_ERR, "%s: %s", o->socket, strerror(-rc));
	}
	vq_vu_backend_free(b);
	print_totals(v);
	vq_vsock_free(v);
	vq_vu_loop_free(l);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct vv_opts o;
	int r;

	vqt_log_init("virtq-vsock");
	if (argc > 1 && !strcmp(argv[1], "client"))
		return vv_client_main(argc - 1, argv + 1);
	r = parse_args(argc, argv, &o);
	if (r)
		return r > 0 ? 0 : 2;
	vqt_log_library(o.verbose);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	return run(&o);
}
