/* SPDX-License-Identifier: MIT */
/*
 * The vsock device object: creation, the vq_device_ops table, logging, and
 * vq_vsock_process, which runs host events, tx, rx and the event queue in
 * that order and then flushes and notifies each queue once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_ids.h>

#include "vsock_internal.h"

__attribute__((format(printf, 2, 0)))
static void vlog(struct vq_vsock *v, const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (v->p.log)
		v->p.log(v->p.log_ctx, msg);
	else
		fprintf(stderr, "virtq-vsock: %s\n", msg);
}

void vq__vs_log(struct vq_vsock *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(v, fmt, ap);
	va_end(ap);
}

/* A driver fault: one line each, up to VS_LOG_LINES, then counted only. */
void vq__vs_fault(struct vq_vsock *v, const char *fmt, ...)
{
	va_list ap;

	if (v->log_lines > VS_LOG_LINES)
		return;
	if (v->log_lines++ == VS_LOG_LINES) {
		vq__vs_log(v, "further driver faults are counted, not logged");
		return;
	}
	va_start(ap, fmt);
	vlog(v, fmt, ap);
	va_end(ap);
}

void vq__vs_queue_broken(struct vq_vsock *v, unsigned idx)
{
	vq__host_broken(&v->host, idx, NULL);
}

int vq_vsock_new(const struct vq_vsock_params *p, struct vq_vsock **out)
{
	struct vq_vsock *v;
	int rc;

	if (!p || p->guest_cid < 3 || p->guest_cid > UINT32_MAX - 1 ||
	    p->buf_alloc > VQ_VSOCK_MAX_BUF_ALLOC ||
	    (p->uds_path && strlen(p->uds_path) + 12 > sizeof(((struct sockaddr_un *)0)->sun_path)))
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->p = *p;
	if (!v->p.buf_alloc)
		v->p.buf_alloc = VQ_VSOCK_DEFAULT_BUF_ALLOC;
	if (!v->p.max_conns)
		v->p.max_conns = VQ_VSOCK_DEFAULT_MAX_CONNS;
	v->next_hport = VS_FIRST_HPORT;
	v->lfd = v->lfd_seq = -1;
	v->epfd = epoll_create1(EPOLL_CLOEXEC);
	rc = v->epfd < 0 ? -errno : 0;
	if (!rc && p->uds_path && !(v->uds = strdup(p->uds_path)))
		rc = -ENOMEM;
	if (!rc && v->uds)
		rc = vq__vs_listen(v);
	if (rc) {
		vq_vsock_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

void vq_vsock_free(struct vq_vsock *v)
{
	if (!v)
		return;
	vq__vs_close_all(v);
	if (v->uds)
		vq__vs_unlisten(v);
	if (v->epfd >= 0)
		close(v->epfd);
	free(v->uds);
	free(v);
}

int vq_vsock_fd(const struct vq_vsock *v)
{
	return v->epfd;
}

void vq_vsock_get_stats(const struct vq_vsock *v, struct vq_vsock_stats *s)
{
	*s = v->st;
	s->conns = v->nconns;
}

static void flush_queues(struct vq_vsock *v)
{
	for (unsigned i = 0; i < VQ_VSOCK_NUM_QUEUES; i++) {
		if (!v->dirty[i] || !v->q[i])
			continue;
		v->dirty[i] = false;
		vq__host_flush(&v->host, v->q[i], i);
	}
}

int vq_vsock_process(struct vq_vsock *v)
{
	int work = 0, rc;

	rc = vq__vs_host_events(v);
	if (rc < 0)
		return rc;
	work += rc;
	/* The TRANSPORT_RESET goes first: the driver must learn that its old
	 * connections are gone before it sees a packet of a new one. */
	work += vq__vs_event(v);
	if (!vq__vs_event_is_owed(v)) {
		work += vq__vs_tx(v);
		work += vq__vs_rx(v);
	}
	flush_queues(v);
	vq__vs_reap(v);
	return work;
}
