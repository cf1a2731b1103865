/* SPDX-License-Identifier: MIT */
/* virtq-user: subcommand dispatch and small helpers. */
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

uint64_t vqu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int vqu_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int vqu_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (tolower((unsigned char)*end)) {
	case '\0': break;
	case 'k': shift = 10; break;
	case 'm': shift = 20; break;
	case 'g': shift = 30; break;
	case 't': shift = 40; break;
	default: return -EINVAL;
	}
	if (*end && end[1] && !(tolower((unsigned char)end[1]) == 'b' && !end[2]) &&
	    !(tolower((unsigned char)end[1]) == 'i' && (end[2] == 'b' || end[2] == 'B') && !end[3]))
		return -EINVAL;
	if (shift && v > (~0ull >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

void vqu_report_retry(const char *who, const char *why)
{
	static char last[256];

	if (!why[0] || !strncmp(last, why, sizeof(last) - 1))
		return;
	snprintf(last, sizeof(last), "%s", why);
	fprintf(stderr, "%s: connect failed: %s; retrying\n", who, why);
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
