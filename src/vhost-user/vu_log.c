/* SPDX-License-Identifier: MIT */
/* Logging hook of the vhost-user backend. */
#include <stdarg.h>
#include <stdio.h>

#include "vu_internal.h"

static vq_vu_log_fn log_fn;
static void *log_ctx;
static int log_max = VQ_VU_LOG_INFO;

void vq_vu_set_log(vq_vu_log_fn fn, void *ctx, int max_level)
{
	log_fn = fn;
	log_ctx = ctx;
	log_max = max_level;
}

void vq__vu_log(const struct vq_vu_backend *b, int level, const char *fmt, ...)
{
	char msg[400];
	int n;
	va_list ap;

	if (level > log_max)
		return;
	n = snprintf(msg, sizeof(msg), "vhost-user %s: ", b && b->name ? b->name : "-");
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (log_fn)
		log_fn(log_ctx, level, msg);
	else
		fprintf(stderr, "virtq: %s\n", msg);
}

int vq__vu_fail(struct vq_vu_backend *b, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
	return err;
}
