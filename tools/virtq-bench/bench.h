/* SPDX-License-Identifier: MIT */
/*
 * virtq-bench internals.  main.c holds a table of subcommands; each lives in
 * its own file (ring.c today; net.c, blk.c later) and exports one
 * struct bench_cmd.
 *
 * The ring subcommand runs every ring under the same driver and device loops
 * (rb_loop.c) through a ring-neutral table of operations, struct rb_ops, in
 * the style of Linux tools/virtio/ringtest: rb_spsc.c is the lock-free SPSC
 * bound, rb_virtq.c drives split and packed virtqueues through the public
 * vq_drv_* / vq_dev_* API.
 */
#ifndef VIRTQ_BENCH_H
#define VIRTQ_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include <virtq/ring.h>

#include "../common/tool.h"

/* ---- subcommands */

struct bench_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	void (*usage)(FILE *f);
};

extern const struct bench_cmd bench_cmd_ring;
extern const struct bench_cmd bench_cmd_net;
extern const struct bench_cmd bench_cmd_svq;
extern const struct bench_cmd bench_cmd_split;

/* ---- helpers (util.c) */

/* Pin the calling thread to one CPU.  Returns 0 or -errno. */
int bench_pin(int cpu);
/* Median of n values (n > 0); v is sorted in place. */
double bench_median(double *v, unsigned n);
/* Parse a comma-separated list of numbers into v[0..cap).  Returns the count
 * or -EINVAL / -ERANGE / -E2BIG. */
int bench_parse_list(const char *s, uint64_t min, uint64_t max, uint32_t *v,
		     unsigned cap);

/* ---- ring-neutral interface (rb_*.c) */

#define RB_MAX_SEGS  16u
#define RB_SEG_BYTES 64u   /* bytes of one segment */
#define RB_SEG_STRIDE 128u /* gap between segments: no coalescing */

/* One preallocated buffer; the driver's token. */
struct rb_buf {
	uint64_t gpa; /* driver address of the first segment */
	void *hva;
};

/* What the device popped: one slot of its batch. */
struct rb_item {
	void *ptr;           /* SPSC: the buffer pointer */
	struct vq_elem elem; /* virtq */
	struct iovec iov[RB_MAX_SEGS];
};

/* Memory the buffers live in (the "guest memory" of the run). */
struct rb_pool {
	void *hva;
	uint64_t gpa;
	uint64_t bytes;
};

struct rb_params {
	enum vq_layout layout; /* virtq only */
	uint32_t size;         /* queue entries; buffers in the pool */
	uint32_t segs;         /* segments per buffer, 1..RB_MAX_SEGS */
	uint64_t features;     /* VQ_F_* (virtq only) */
	bool suppress;         /* virtq: both sides turn notifications off, as
				* poll-mode peers do (vq_drv_disable_notify,
				* vq_dev_disable_notify) */
	bool burst_api;        /* use the ring's burst operations, if it has them
				* (one segment per buffer) */
};

/* Counters a ring may keep; the loops never read them. */
struct rb_counts {
	uint64_t kicks;    /* driver: publishes that asked for a kick */
	uint64_t notifies; /* device: flushes that asked for an interrupt */
};

struct rb; /* one ring instance, opaque */

struct rb_ops {
	const char *name;
	int (*create)(const struct rb_params *p, const struct rb_pool *pool,
		      struct rb **out);
	void (*destroy)(struct rb *r);
	/* driver side: 0, -ENOSPC when full, other -errno on failure */
	int (*add)(struct rb *r, struct rb_buf *b, uint32_t segs);
	void (*publish)(struct rb *r);
	/* driver side: 1 and *b, 0 when none, -errno */
	int (*get_used)(struct rb *r, struct rb_buf **b);
	/* device side: 1 when it filled *it, 0 when empty, -errno */
	int (*pop)(struct rb *r, struct rb_item *it);
	int (*push)(struct rb *r, struct rb_item *it); /* 0 or -errno */
	void (*flush)(struct rb *r);
	/* Optional burst forms (NULL: not offered), used with burst_api:
	 * add b[n-1], b[n-2], ... (a stack's top first; count added or
	 * -errno), get up to n used (count or
	 * -errno), pop up to n into the ring's own items (count or -errno),
	 * push back the n popped last (0 or -errno). */
	int (*add_burst)(struct rb *r, struct rb_buf **b, uint32_t n);
	int (*get_burst)(struct rb *r, struct rb_buf **b, uint32_t n);
	int (*pop_burst)(struct rb *r, uint32_t n);
	int (*push_burst)(struct rb *r, uint32_t n);
	/* Why the last call failed ("" if nothing to say). */
	const char *(*error)(struct rb *r);
	void (*counts)(struct rb *r, struct rb_counts *c);
};

extern const struct rb_ops rb_spsc_ops;
extern const struct rb_ops rb_virtq_ops;

/* One timed run of `count` round trips (rb_loop.c). */
struct rb_run {
	const struct rb_ops *ops;
	struct rb_params params;
	uint32_t batch;     /* adds per publish, pops per flush */
	uint64_t count;     /* buffers to move */
	int cpu_drv, cpu_dev;
	unsigned timeout_s; /* per run */
	bool inline_mode;   /* both sides in one thread, on cpu_drv */
	/* results */
	double ops_per_s;
	bool unpinned;      /* a thread could not be pinned */
	struct rb_counts counts;
	/* Buffers per publish and per flush: a side that always finds a full
	 * batch (== batch) is the bottleneck; the other side waits on it. */
	double per_publish, per_flush;
	char err[256];
};

/* Returns 0, or -errno with run->err set. */
int rb_run_once(struct rb_run *run);

#endif
