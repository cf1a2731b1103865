/* SPDX-License-Identifier: MIT */
/*
 * virtq-bench: benchmarks of the virtq data plane.  `virtq-bench CMD ...`
 * dispatches to one subcommand; each lives in its own file and adds one
 * line to the table below.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const struct bench_cmd *const cmds[] = {
	&bench_cmd_ring,
	&bench_cmd_net,
	&bench_cmd_svq,
	&bench_cmd_split,
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: virtq-bench COMMAND [OPTIONS]\n"
		   "       virtq-bench COMMAND --help\n"
		   "       virtq-bench --version\n\n"
		   "Benchmarks of the virtq data plane.  Numbers go to stdout,\n"
		   "progress and errors to stderr.  Exit status 0 on success.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(f, "  %-8s %s\n", cmds[i]->name, cmds[i]->summary);
	for (size_t i = 0; i < NCMDS; i++) {
		fprintf(f, "\n");
		cmds[i]->usage(f);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		vqt_print_version("virtq-bench");
		return 0;
	}
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(argv[1], cmds[i]->name))
			return cmds[i]->run(argc - 1, argv + 1);
	vqt_usage_error("virtq-bench", "unknown command '%s'", argv[1]);
	return 2;
}
