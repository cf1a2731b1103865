/* SPDX-License-Identifier: MIT */
/* virtq-hostile: option parsing and dispatch (see hostile.h). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hostile.h"

static const char usage[] =
"Usage: virtq-hostile fe --socket PATH --case NAME [--dev net|blk] [--hold-ms N]\n"
"       virtq-hostile be --socket PATH --case NAME [--dev net|blk] [--hold-ms N]\n"
"       virtq-hostile (fe|be) --list\n"
"       virtq-hostile blk-fill --socket PATH --seed N\n"
"       virtq-hostile blk-check --socket PATH --seed N --acked FILE\n"
"A vhost-user peer that breaks the rules, one case per run, for tests.\n"
"  fe: connect to a backend (virtq-net: vrings 0-1, attacks tx = 1;\n"
"      virtq-blk: vring 0) and commit the violation NAME.\n"
"  be: listen on PATH as a backend; a frontend (virtq-user) connects and\n"
"      gets bad replies or bad used entries.\n"
"  --hold-ms N   keep the connection N ms after the violation took effect\n"
"                (default 1000); \"HOSTILE-ACTIVE NAME\" on stdout marks it.\n"
"                SIGTERM or SIGINT ends the hold early (exit status unchanged).\n"
"  --list        every case, tab, the text the peer's log line must contain.\n"
"  blk-fill: write a blk device block by block with the pattern of N, print\n"
"      ACK/ERR per 4 KiB block, then FLUSH; blk-check: read back the ACKed\n"
"      blocks of FILE (blk-fill's output) and compare (LOST lines).\n"
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

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", 1, NULL, 's' }, { "case", 1, NULL, 'c' }, { "dev", 1, NULL, 'd' },
		{ "hold-ms", 1, NULL, 'H' }, { "seed", 1, NULL, 'S' }, { "acked", 1, NULL, 'a' }, { "list", 0, NULL, 'l' }, { "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hopts o = { .dev = HDEV_NET, .hold_ms = 1000 };
	bool list = false;
	int c;

	bool blk = argc >= 2 && (!strcmp(argv[1], "blk-fill") || !strcmp(argv[1], "blk-check"));

	if (argc < 2 || (strcmp(argv[1], "fe") && strcmp(argv[1], "be") && !blk)) {
		fputs(usage, argc < 2 ? stderr : strcmp(argv[1], "-h") && strcmp(argv[1], "--help")
							 ? stderr : stdout);
		return argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? 0 : 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "s:c:d:H:S:a:lh", lo, NULL)) != -1) {
		switch (c) {
		case 's': o.path = optarg; break;
		case 'c': o.name = optarg; break;
		case 'd':
			if (strcmp(optarg, "net") && strcmp(optarg, "blk"))
				goto bad;
			o.dev = strcmp(optarg, "net") ? HDEV_BLK : HDEV_NET;
			break;
		case 'H': o.hold_ms = atoi(optarg); break;
		case 'l': list = true; break;
		case 'S': o.seed = strtoull(optarg, NULL, 0); break;
		case 'a': o.acked = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: goto bad;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	if (list) {
		if (strcmp(argv[1], "fe"))
			hostile_be_list();
		else
			hostile_fe_list();
		return 0;
	}
	if (blk && o.path && optind == argc && (!strcmp(argv[1], "blk-fill") || o.acked))
		return strcmp(argv[1], "blk-fill") ? hostile_blk_check(&o) : hostile_blk_fill(&o);
	if (blk || !o.path || !o.name || optind < argc || o.hold_ms < 0)
		goto bad;
	return strcmp(argv[1], "fe") ? hostile_be(&o) : hostile_fe(&o);
bad:
	fputs(usage, stderr);
	return 2;
}
