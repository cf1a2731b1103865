/* SPDX-License-Identifier: MIT */
/*
 * virtq-9p: serve a directory over 9P2000.L (TCP), or use one (ls, cat, cp,
 * stat, bench) through the client library.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "v9.h"

static const char usage[] =
"Usage: virtq-9p serve --export DIR (--tcp ADDR:PORT | --socket PATH) [--tag NAME]\n"
"                [--readonly]\n"
"       virtq-9p ls|stat|cat (--tcp ADDR:PORT | --socket PATH) [PATH...]\n"
"       virtq-9p cp (--tcp ADDR:PORT | --socket PATH) (:REMOTE LOCAL | LOCAL :REMOTE)\n"
"       virtq-9p bench (--tcp ADDR:PORT | --socket PATH) [--size N] [--scatter|--pages]\n"
"                [--random --secs S] PATH\n"
"A 9P2000.L file server and client.  serve exports DIR over TCP, or as a\n"
"vhost-user virtio-9p device (device ID 9, the tag in its config space).\n"
"The Linux kernel mounts the TCP server with:\n"
"  mount -t 9p -o trans=tcp,port=PORT,version=9p2000.L ADDR /mnt\n"
"Paths on the client side are relative to the export's root.\n\n"
"  -e, --export DIR      the directory served (serve)\n"
"  -t, --tcp ADDR:PORT   listen on (serve) or connect to (clients) this address\n"
"  -s, --socket PATH     vhost-user: listen on (serve) or connect to (clients)\n"
"      --no-large-chain  vhost-user: do not offer (serve) or use (clients) the\n"
"                        experimental VQ_F_LARGE_CHAIN; chains then stay within\n"
"                        the queue size (128) and clients split reads\n"
"      --packed          vhost-user clients: the packed ring layout\n"
"      --tag NAME        mount tag (serve; default \"virtq\")\n"
"      --readonly        refuse every change with EROFS (serve)\n"
"  -m, --msize N         serve: the largest msize agreed (default and most\n"
"                        128M); clients: the msize asked for (default 512K)\n"
"      --max-conns N     serve: connections at once (default 64)\n"
"      --no-uring        serve: preadv/pwritev instead of io_uring\n"
"      --aname A         clients: the attach name (default \"\")\n"
"      --uname U         clients: the user name (default root)\n"
"      --size N          bench: read only N bytes (default: the whole file)\n"
"      --scatter         bench: page-sized buffers, none adjacent (each page a\n"
"                        descriptor, as a guest's page cache would be), in\n"
"                        reverse order\n"
"      --pages           bench: page-sized segments of one buffer, in order\n"
"                        (each page a descriptor, as Linux's 9p transport\n"
"                        builds one scatterlist entry per page)\n"
"      --random          bench: random 4 KiB reads (QD 1) instead of sequential\n"
"      --secs S          bench --random: run time (default 5)\n"
"      --qd N            bench over vhost-user: requests in flight, 1..64 with\n"
"                        --random, 1..4 sequential (each its own buffer; each\n"
"                        answer is checksummed while the next are read)\n"
"      --memcpy          bench: no 9p; copy the local file PATH in chunks of\n"
"                        msize - 24 into one buffer (the physical bound)\n"
VQT_COMMON_HELP
"bench prints one line: MB/s (sequential, every byte checksummed) or IOPS.\n";

enum { OPT_TAG = VQT_OPT_TOOL_BASE, OPT_RO, OPT_CONNS, OPT_NO_URING, OPT_ANAME, OPT_UNAME,
       OPT_SIZE, OPT_RANDOM, OPT_SECS, OPT_NO_LARGE, OPT_PACKED, OPT_SCATTER, OPT_PAGES, OPT_QD,
       OPT_MEMCPY };

static const struct option longopts[] = {
	VQT_COMMON_OPTIONS,
	{ "export", required_argument, NULL, 'e' },
	{ "tcp", required_argument, NULL, 't' },
	{ "socket", required_argument, NULL, 's' },
	{ "no-large-chain", no_argument, NULL, OPT_NO_LARGE },
	{ "packed", no_argument, NULL, OPT_PACKED },
	{ "scatter", no_argument, NULL, OPT_SCATTER },
	{ "pages", no_argument, NULL, OPT_PAGES },
	{ "qd", required_argument, NULL, OPT_QD },
	{ "memcpy", no_argument, NULL, OPT_MEMCPY },
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "readonly", no_argument, NULL, OPT_RO },
	{ "msize", required_argument, NULL, 'm' },
	{ "max-conns", required_argument, NULL, OPT_CONNS },
	{ "no-uring", no_argument, NULL, OPT_NO_URING },
	{ "aname", required_argument, NULL, OPT_ANAME },
	{ "uname", required_argument, NULL, OPT_UNAME },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "random", no_argument, NULL, OPT_RANDOM },
	{ "secs", required_argument, NULL, OPT_SECS },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_msize(const char *a, uint32_t *out)
{
	uint64_t v;

	if (vqt_parse_size(a, &v) < 0)
		return -EINVAL;
	if (v < 4096 || v > VQ_9P_MAX_MSIZE)
		return vqt_parse_fail("must be 4K..128M");
	*out = (uint32_t)v;
	return 0;
}

static int parse_opt(void *ctx, int c, const char *a)
{
	struct v9_opts *o = ctx;

	switch (c) {
	case 'e': o->export_dir = a; return 0;
	case 't': o->tcp = a; return 0;
	case 's': o->socket = a; return 0;
	case OPT_NO_LARGE: o->no_large_chain = true; return 0;
	case OPT_PACKED: o->packed = true; return 0;
	case OPT_SCATTER: o->scatter = true; return 0;
	case OPT_PAGES: o->pages = true; return 0;
	case OPT_QD: return vqt_parse_uint(a, 1, 64, &o->qd);
	case OPT_MEMCPY: o->memcpy_only = true; return 0;
	case OPT_TAG:
		if (!*a || strlen(a) > VQ_9P_MAX_TAG)
			return vqt_parse_fail("1..%u bytes", VQ_9P_MAX_TAG);
		o->tag = a;
		return 0;
	case OPT_RO: o->readonly = true; return 0;
	case 'm': return parse_msize(a, &o->msize);
	case OPT_CONNS: return vqt_parse_uint(a, 1, 4096, &o->max_conns);
	case OPT_NO_URING: o->no_uring = true; return 0;
	case OPT_ANAME: o->aname = a; return 0;
	case OPT_UNAME: o->uname = a; return 0;
	case OPT_SIZE: return vqt_parse_size(a, &o->bench_size);
	case OPT_RANDOM: o->random = true; return 0;
	case OPT_SECS: return vqt_parse_secs(a, 0.1, 3600, &o->bench_secs);
	default: return vqt_parse_fail("unknown option");
	}
}

static const char *check(const struct v9_opts *o)
{
	static const char *const cmds[] = { "serve", "ls", "cat", "cp", "stat", "bench" };
	bool known = false;

	for (unsigned i = 0; i < 6; i++)
		known |= !strcmp(o->cmd, cmds[i]);
	if (!known)
		return "the command is one of serve, ls, cat, cp, stat, bench";
	if (!strcmp(o->cmd, "bench") && o->memcpy_only)
		return o->nargs == 1 ? NULL : "bench --memcpy takes one local PATH";
	if (!o->tcp == !o->socket)
		return "one of --tcp ADDR:PORT and --socket PATH is required";
	if (!strcmp(o->cmd, "serve"))
		return o->export_dir ? (o->nargs ? "serve takes no operands" : NULL)
				     : "--export DIR is required";
	if (!strcmp(o->cmd, "cp") && o->nargs != 2)
		return "cp takes two operands";
	if (!strcmp(o->cmd, "bench") && o->nargs != 1)
		return "bench takes one PATH";
	return NULL;
}

int main(int argc, char **argv)
{
	struct v9_opts o = { .max_conns = 64, .bench_secs = 5, .qd = 1 };
	const struct vqt_cli cli = { .prog = "virtq-9p", .help = usage, .shortopts = "e:t:m:s:",
				     .longopts = longopts, .one = parse_opt, .ctx = &o };
	const char *why;
	int r;

	vqt_log_init("virtq-9p");
	if (argc < 2 || argv[1][0] == '-') {
		r = vqt_getopt(&cli, argc, argv);
		if (r)
			return r > 0 ? 0 : 2;
		return vqt_usage_error(cli.prog, "no command"), 2;
	}
	o.cmd = argv[1];
	r = vqt_getopt(&cli, argc - 1, argv + 1);
	if (r)
		return r > 0 ? 0 : 2;
	o.args = argv + 1 + optind;
	o.nargs = argc - 1 - optind;
	if ((why = check(&o)))
		return vqt_usage_error(cli.prog, "%s", why), 2;
	if (o.memcpy_only)
		return v9_bench_memcpy(&o);
	return !strcmp(o.cmd, "serve") ? v9_serve(&o) : v9_client_cmd(&o);
}
