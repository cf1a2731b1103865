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

struct option;
struct vq_fe;

extern volatile sig_atomic_t vqu_stop;

/* "4k", "64", "1M", "2g": bytes.  0 and *out, or -EINVAL. */
void vqu_pin_cpu(int cpu);
/* A connect attempt failed with why: print it once per distinct reason (a
 * retry loop would otherwise report only the last one, e.g. ENOENT after
 * the backend that sent a bad reply went away). */
void vqu_report_retry(const char *who, const char *why);
/* Connect fe, retrying for up to ms (the backend may be starting) unless
 * vqu_stop; who prefixes the messages.  0, or the last -errno (reported). */
int vqu_connect_wait(struct vq_fe *fe, const char *who, const char *path, uint64_t ms);
/* Driver glue with the frontend as ctx: arena memory and queue kicks. */
void *vqu_fe_alloc(void *fe, size_t size, uint64_t *addr);
void vqu_fe_kick(void *fe, unsigned q);
/* getopt_long over argv for subcommand cmd: one(o, c, optarg) takes each
 * option (-errno for a bad value), -h prints help; *path must be set by
 * then.  0 run, 1 help printed (exit 0), -1 bad usage reported (exit 2). */
int vqu_getopt(int argc, char **argv, const char *cmd, const char *shortopts,
	       const struct option *lo, const char *help,
	       int (*one)(void *o, int c, const char *arg), void *o, const char *const *path);

int vqu_net_main(int argc, char **argv);
int vqu_blk_main(int argc, char **argv);

#endif
