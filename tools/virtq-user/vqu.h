/* SPDX-License-Identifier: MIT */
/*
 * virtq-user: a userspace virtio driver over vhost-user (net and blk), as a
 * traffic generator, sink, echo, block verifier and fio-like benchmark.
 */
#ifndef VQU_H
#define VQU_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

extern volatile sig_atomic_t vqu_stop;

uint64_t vqu_now_ns(void);
/* "4k", "64", "1M", "2g": bytes.  0 and *out, or -EINVAL. */
int vqu_parse_size(const char *s, uint64_t *out);
int vqu_parse_uint(const char *s, uint64_t max, uint64_t *out);
void vqu_pin_cpu(int cpu);
/* A connect attempt failed with why: print it once per distinct reason (a
 * retry loop would otherwise report only the last one, e.g. ENOENT after
 * the backend that sent a bad reply went away). */
void vqu_report_retry(const char *who, const char *why);

int vqu_net_main(int argc, char **argv);
int vqu_blk_main(int argc, char **argv);

#endif
