/* SPDX-License-Identifier: MIT */
/* virtq-user: subcommand dispatch and small helpers. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <virtq/frontend.h>

#include "vqu.h"

volatile sig_atomic_t vqu_stop;

static const char usage[] =
"Usage: virtq-user net --socket PATH [OPTIONS]   virtio-net driver: tx / rx / echo\n"
"       virtq-user blk --socket PATH [OPTIONS]   virtio-blk driver: verify / fio\n"
"       virtq-user (net|blk) --help              options of a subcommand\n"
"\n"
"A userspace virtio driver: connects to a vhost-user backend (virtq-net,\n"
"DPDK's vhost PMD, qemu-storage-daemon, ...), shares its memory (memfd),\n"
"drives split or packed rings and prints live and final rates.\n";

void vqu_report_retry(const char *who, const char *why)
{
	static char last[256];

	if (!why[0] || !strncmp(last, why, sizeof(last) - 1))
		return;
	snprintf(last, sizeof(last), "%s", why);
	fprintf(stderr, "%s: connect failed: %s; retrying\n", who, why);
}

int vqu_connect_wait(struct vq_fe *fe, const char *who, const char *path, uint64_t ms)
{
	uint64_t end = vqt_now_ns() + ms * 1000000ull;
	int r;

	while ((r = vq_fe_connect(fe)) < 0 && !vqu_stop && vqt_now_ns() < end) {
		vqu_report_retry(who, vq_fe_error(fe));
		usleep(100000);
	}
	if (r < 0)
		fprintf(stderr, "%s: cannot connect to %s: %s\n", who, path,
			vq_fe_error(fe)[0] ? vq_fe_error(fe) : strerror(-r));
	return r;
}

void *vqu_fe_alloc(void *fe, size_t size, uint64_t *addr)
{
	void *p = vq_fe_alloc(fe, size, 4096);

	*addr = vq_fe_addr(fe, p);
	return p;
}

void vqu_fe_kick(void *fe, unsigned q)
{
	vq_fe_kick(fe, q);
}

static const char *long_name(const struct option *lo, int c)
{
	for (; lo->name; lo++)
		if (lo->val == c)
			return lo->name;
	return "?";
}

int vqu_getopt(int argc, char **argv, const char *cmd, const char *shortopts,
	       const struct option *lo, const char *help,
	       int (*one)(void *o, int c, const char *arg), void *o, const char *const *path)
{
	int c;

	while ((c = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			return 1;
		}
		if (c == '?' || one(o, c, optarg) < 0) {
			if (c != '?')
				fprintf(stderr, "virtq-user %s: bad value for --%s: %s\n", cmd,
					long_name(lo, c), optarg ? optarg : "");
			fprintf(stderr, "Try 'virtq-user %s --help'.\n", cmd);
			return -1;
		}
	}
	if (!*path || optind < argc) {
		fprintf(stderr, "virtq-user %s: %s\nTry 'virtq-user %s --help'.\n", cmd,
			*path ? "unexpected argument" : "--socket is required", cmd);
		return -1;
	}
	return 0;
}

void vqu_pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		fprintf(stderr, "virtq-user: cannot pin to CPU %d\n", cpu);
}

static void on_signal(int sig)
{
	(void)sig;
	vqu_stop = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "net") == 0)
		return vqu_net_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "blk") == 0)
		return vqu_blk_main(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
	fputs(usage, stderr);
	return 2;
}
