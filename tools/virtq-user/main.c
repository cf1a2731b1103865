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
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <virtq/frontend.h>

#include "vqu.h"

volatile sig_atomic_t vqu_stop;

static const char usage[] =
"Usage: virtq-user net --socket PATH [OPTIONS]   virtio-net driver: tx / rx / echo\n"
"       virtq-user blk --socket PATH [OPTIONS]   virtio-blk driver: verify / fio\n"
"       virtq-user (net|blk) --help              options of a subcommand\n"
"       virtq-user --version\n"
"\n"
"A userspace virtio driver: connects to a vhost-user backend (virtq-net,\n"
"DPDK's vhost PMD, qemu-storage-daemon, ...), shares its memory (memfd),\n"
"drives split or packed rings and prints live and final rates.\n";

void vqu_report_retry(const char *why)
{
	static char last[256];

	if (!why[0] || !strncmp(last, why, sizeof(last) - 1))
		return;
	snprintf(last, sizeof(last), "%s", why);
	vqt_log(VQT_LOG_WARN, "connect failed: %s; retrying", why);
}

/* Why the connection could not be made, naming the path and the cause. */
static void connect_failed(struct vq_fe *fe, const char *path, int r,
			   uint64_t ms, bool server)
{
	char why[400];

	if (server && r == -ETIMEDOUT)
		vqt_log(VQT_LOG_ERR, "no backend connected to %s within %.0f s", path,
			(double)ms / 1000);
	else if (r == -ENOENT || r == -ECONNREFUSED || r == -EACCES || r == -ENOTSOCK ||
		 r == -ENAMETOOLONG)
		vqt_log(VQT_LOG_ERR, "cannot connect to %s (gave up after %.0f s)",
			vqt_socket_why(path, r, why, sizeof(why)), (double)ms / 1000);
	else
		vqt_log(VQT_LOG_ERR, "cannot connect to %s: %s", path,
			vq_fe_error(fe)[0] ? vq_fe_error(fe) : strerror(-r));
}

int vqu_connect_wait(struct vq_fe *fe, const char *path, uint64_t ms,
		     bool server)
{
	uint64_t end = vqt_now_ns() + ms * 1000000ull;
	int r;

	while ((r = vq_fe_connect(fe)) < 0 && !vqu_stop && vqt_now_ns() < end) {
		vqu_report_retry(vq_fe_error(fe));
		usleep(100000);
	}
	if (r < 0)
		connect_failed(fe, path, r, ms, server);
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

int vqu_getopt(const struct vqt_cli *cli, int argc, char **argv, const char *const *path)
{
	int r = vqt_getopt(cli, argc, argv);

	if (r != 0)
		return r;
	if (optind < argc)
		return vqt_usage_error(cli->prog, "unexpected argument '%s'", argv[optind]);
	if (!*path)
		return vqt_usage_error(cli->prog, "--socket-path is required");
	return 0;
}

int vqu_fe_new(const struct vq_fe_params *p, struct vq_fe **out)
{
	char why[400];
	int r = vq_fe_new(p, out);

	if (r == 0)
		return 0;
	if (r == -EINVAL && p->path && strlen(p->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		r = -ENAMETOOLONG;
	if (r == -EINVAL)
		vqt_log(VQT_LOG_ERR, "frontend parameters refused (queues, ring size): %s",
			strerror(-r));
	else
		vqt_log(VQT_LOG_ERR, "cannot %s %s", p->mode == VQ_FE_SERVER ? "listen on" : "use",
			vqt_socket_why(p->path, r, why, sizeof(why)));
	return r;
}

void vqu_pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		vqt_log(VQT_LOG_WARN, "cannot pin to CPU %d", cpu);
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
	vqt_log_init("virtq-user");
	if (argc >= 2 && strcmp(argv[1], "net") == 0) {
		vqt_log_init("virtq-user net");
		return vqu_net_main(argc - 1, argv + 1);
	}
	if (argc >= 2 && strcmp(argv[1], "blk") == 0) {
		vqt_log_init("virtq-user blk");
		return vqu_blk_main(argc - 1, argv + 1);
	}
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		vqt_print_version("virtq-user");
		return 0;
	}
	if (argc >= 2) {
		vqt_usage_error("virtq-user", "unknown subcommand '%s' (net or blk)", argv[1]);
		return 2;
	}
	fputs(usage, stderr);
	return 2;
}
