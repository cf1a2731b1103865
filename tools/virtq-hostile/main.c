/* SPDX-License-Identifier: MIT */
/* virtq-hostile: option parsing and dispatch (see hostile.h). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hostile.h"

static const char usage[] =
"Usage: virtq-hostile fe --socket PATH --case NAME [--dev net|blk|vsock] [--hold-ms N]\n"
"       virtq-hostile be --socket PATH --case NAME [--dev net|blk] [--hold-ms N]\n"
"       virtq-hostile (fe|be) [--dev vsock] --list\n"
"       virtq-hostile blk-fill --socket PATH --seed N [--pace-us N]\n"
"       virtq-hostile blk-check --socket PATH --seed N --acked FILE\n"
"A vhost-user peer that breaks the rules, one case per run, for tests.\n"
"  fe: connect to a backend (virtq-net: vrings 0-1, attacks tx = 1;\n"
"      virtq-blk: vring 0) and commit the violation NAME.\n"
"  fe --dev vsock: a guest of virtq-vsock breaking the vsock rules; --list\n"
"      gives each case's log text (\"-\": none) and host port (--port N\n"
"      overrides it).\n"
"  be: listen on PATH as a backend; a frontend (virtq-user) connects and\n"
"      gets bad replies or bad used entries.\n"
"  --probe PATH  stall-mid-header: time GET_FEATURES on this other port of\n"
"                the daemon while our half-message is pending\n"
"  --hold-ms N   keep the connection N ms after the violation took effect\n"
"                (default 1000); \"HOSTILE-ACTIVE NAME\" on stdout marks it.\n"
"                SIGTERM or SIGINT ends the hold early (exit status unchanged).\n"
"  --list        every case, tab, the text the peer's log line must contain.\n"
"  blk-fill: write a blk device block by block with the pattern of N, print\n"
"      ACK/ERR per 4 KiB block, then FLUSH; blk-check: read back the ACKed\n"
"      blocks of FILE (blk-fill's output) and compare (LOST lines).\n"
"  --pace-us N   blk-fill: wait N microseconds after each write (a slow\n"
"                writer, so that a fault can land in the middle of a fill)\n"
"  --version     print the version and exit\n"
"Exit: 0 expected reaction, 1 unexpected, 2 usage, 3 setup failed, 77 skip.\n";

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
	(void)sig;
	g_stop = 1;
}

bool hostile_stopped(void)
{
	return g_stop;
}

/* Sleep ms, or until SIGTERM / SIGINT: how the caller ends a hold early. */
void hostile_sleep_ms(int ms)
{
	for (int t = 0; t < ms && !g_stop; t += 10)
		nanosleep(&(struct timespec){ 0, 10 * 1000000 }, NULL);
}

static int parse_opt(void *ctx, int c, const char *arg)
{
	struct hopts *o = ctx;
	unsigned v;

	switch (c) {
	case 's': o->path = arg; return 0;
	case 'c': o->name = arg; return 0;
	case 'd':
		if (!strcmp(arg, "vsock")) {
			o->dev = HDEV_VSOCK;
			return 0;
		}
		if (strcmp(arg, "net") && strcmp(arg, "blk"))
			return vqt_parse_fail("net, blk or vsock");
		o->dev = strcmp(arg, "net") ? HDEV_BLK : HDEV_NET;
		return 0;
	case 'p':
		if (vqt_parse_uint(arg, 1, UINT32_MAX, &v) < 0)
			return -EINVAL;
		o->port = v;
		return 0;
	case 'H':
		if (vqt_parse_uint(arg, 0, 1u << 30, &v) < 0)
			return -EINVAL;
		o->hold_ms = (int)v;
		return 0;
	case 'W':
		if (vqt_parse_uint(arg, 0, 1000000, &v) < 0)
			return -EINVAL;
		o->pace_us = v;
		return 0;
	case 'l': o->list = true; return 0;
	case 'S': return vqt_parse_u64(arg, 0, UINT64_MAX, &o->seed);
	case 'a': o->acked = arg; return 0;
	case 'P': o->probe = arg; return 0;
	default: return vqt_parse_fail("unknown option");
	}
}

/* What a command lacks: a usage error naming it, or NULL. */
static const char *missing(const char *cmd, const struct hopts *o)
{
	bool blk = !strcmp(cmd, "blk-fill") || !strcmp(cmd, "blk-check");

	if (o->list)
		return blk ? "--list is for fe and be" : NULL;
	if (!o->path)
		return "--socket is required";
	if (!strcmp(cmd, "blk-check") && !o->acked)
		return "blk-check needs --acked FILE";
	if (!blk && !o->name)
		return "--case is required (see --list)";
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		VQT_COMMON_OPTIONS,
		{ "socket", 1, NULL, 's' }, { "socket-path", 1, NULL, 's' },
		{ "case", 1, NULL, 'c' }, { "dev", 1, NULL, 'd' }, { "hold-ms", 1, NULL, 'H' },
		{ "seed", 1, NULL, 'S' }, { "acked", 1, NULL, 'a' }, { "probe", 1, NULL, 'P' }, { "port", 1, NULL, 'p' },
		{ "pace-us", 1, NULL, 'W' }, { "list", 0, NULL, 'l' },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static const char *const cmds[] = { "fe", "be", "blk-fill", "blk-check", NULL };
	struct hopts o = { .dev = HDEV_NET, .hold_ms = 1000 };
	const struct vqt_cli cli = {
		.prog = "virtq-hostile", .help = usage, .shortopts = "s:c:d:H:S:a:P:p:W:l",
		.longopts = lo, .one = parse_opt, .ctx = &o,
	};
	const char *cmd = argc >= 2 ? argv[1] : "", *why;
	int r;

	if (argc >= 2 && (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") ||
			  !strcmp(cmd, "--version"))) {
		optind = 1;
		return vqt_getopt(&cli, 2, argv) == 1 ? 0 : 2;
	}
	for (r = 0; cmds[r] && strcmp(cmds[r], cmd); r++)
		;
	if (!cmds[r]) {
		vqt_usage_error(cli.prog, argc < 2 ? "no command (fe, be, blk-fill, blk-check)" :
				"unknown command '%s'", cmd);
		return 2;
	}
	optind = 2;
	if ((r = vqt_getopt(&cli, argc, argv)) != 0)
		return r > 0 ? 0 : 2;
	if (optind < argc) {
		vqt_usage_error(cli.prog, "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if ((why = missing(cmd, &o))) {
		vqt_usage_error(cli.prog, "%s", why);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	if (o.list) {
		if (!strcmp(cmd, "fe") && o.dev == HDEV_VSOCK)
			hostile_vsock_list();
		else if (strcmp(cmd, "fe"))
			hostile_be_list();
		else
			hostile_fe_list();
		return 0;
	}
	if (!strcmp(cmd, "blk-fill"))
		return hostile_blk_fill(&o);
	if (!strcmp(cmd, "blk-check"))
		return hostile_blk_check(&o);
	if (!strcmp(cmd, "fe") && o.dev == HDEV_VSOCK)
		return hostile_vsock(&o);
	return strcmp(cmd, "fe") ? hostile_be(&o) : hostile_fe(&o);
}
