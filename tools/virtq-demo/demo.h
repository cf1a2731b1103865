/* SPDX-License-Identifier: MIT */
/* virtq-demo internals: options, one queue's state, its two threads. */
#ifndef VIRTQ_DEMO_H
#define VIRTQ_DEMO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <virtq/ring.h>

#include "../common/tool.h"

struct demo_opts {
	double seconds;
	unsigned layouts; /* bit 0 packed, bit 1 split */
	uint32_t size, bytes, batch;
	bool indirect;
	int cpu_drv, cpu_dev;
};

/* Request header and response, as they sit in the shared buffers. */
struct demo_hdr {
	uint64_t seq;
	uint32_t bytes;
	uint32_t pad;
};

struct demo_resp {
	uint64_t seq;
	uint64_t csum;
};

struct demo {
	const struct demo_opts *o;
	enum vq_layout layout;
	struct vq_drv *drv;
	struct vq_dev *dev;
	struct vq_mem *mem;
	void *ring, *pool, *indirect;
	uint64_t pool_gpa, stride;
	char why[256];             /* first failure, written once */
	_Alignas(64) uint64_t done;  /* buffers verified (driver, relaxed) */
	uint64_t bad;                /* responses that did not check out */
	_Alignas(64) int stop;       /* main: stop adding */
	int drv_done;                /* driver: everything reclaimed */
	int failed;                  /* either side: the ring broke */
};

int demo_setup(struct demo *d, const struct demo_opts *o, enum vq_layout layout);
void demo_teardown(struct demo *d);
void *demo_drv_thread(void *arg);
void *demo_dev_thread(void *arg);
/* Record the first failure and stop both threads. */
void demo_fail(struct demo *d, const char *who, const char *what);

#endif
