/* SPDX-License-Identifier: MIT */
/*
 * virtq-user: a userspace virtio driver over vhost-user (net and blk), as a
 * traffic generator, sink, echo, block verifier and fio-like benchmark.
 */
#ifndef VQU_H
#define VQU_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/tool.h"

struct vq_fe;
struct vq_fe_params;

extern volatile sig_atomic_t vqu_stop;

void vqu_pin_cpu(int cpu);
/* A connect attempt failed with why: print it once per distinct reason (a
 * retry loop would otherwise report only the last one, e.g. ENOENT after
 * the backend that sent a bad reply went away). */
void vqu_report_retry(const char *why);
/* Connect fe, retrying for up to ms (the backend may be starting) unless
 * vqu_stop.  0, or the last -errno (logged, naming the path and the cause). */
int vqu_connect_wait(struct vq_fe *fe, const char *path, uint64_t ms, bool server);
/* Driver glue with the frontend as ctx: arena memory and queue kicks. */
void *vqu_fe_alloc(void *fe, size_t size, uint64_t *addr);
void vqu_fe_kick(void *fe, unsigned q);
/* The options of a subcommand (vqt_getopt with cli->prog "virtq-user CMD");
 * *path must be set by then.  0 run, 1 exit 0, -1 usage error reported. */
int vqu_getopt(const struct vqt_cli *cli, int argc, char **argv, const char *const *path);
/* vq_fe_new; a failure is reported naming the socket path and the cause. */
int vqu_fe_new(const struct vq_fe_params *p, struct vq_fe **out);
/* Help text: how long virtq-user waits for a backend, and when it retries. */
#define VQU_WAIT_HELP \
"Waits: virtq-user connects to PATH, retrying every 100 ms for up to 10 s while\n" \
"the backend starts; with --server it waits up to 60 s for the backend to\n" \
"connect.  Each vhost-user reply is waited for up to 5 s.\n"
/* Shared options of the subcommands. */
#define VQU_OPT_SERVER 'S'
#define VQU_COMMON_OPTIONS \
	VQT_COMMON_OPTIONS, \
	{ "socket-path", required_argument, NULL, 's' }, \
	{ "socket", required_argument, NULL, 's' }, \
	{ "server", no_argument, NULL, VQU_OPT_SERVER }, \
	{ "stats-json", no_argument, NULL, VQT_OPT_STATS_JSON }, \
	{ "help", no_argument, NULL, 'h' }

int vqu_net_main(int argc, char **argv);
int vqu_blk_main(int argc, char **argv);

#endif
