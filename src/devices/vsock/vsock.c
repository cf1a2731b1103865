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
	if (v->has_host && v->host.queue_broken)
		v->host.queue_broken(v->host.host, idx);
}

unsigned vq__vs_slice(const struct iovec *src, unsigned n, size_t skip, size_t max,
		      struct iovec *dst, unsigned cap)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && max && k < cap; i++) {
		size_t len = src[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		len -= skip;
		if (len > max)
			len = max;
		dst[k++] = (struct iovec){ (uint8_t *)src[i].iov_base + skip, len };
		max -= len;
		skip = 0;
	}
	return k;
}

void vq__vs_scatter(const struct iovec *iov, unsigned n, size_t off, const void *src,
		    size_t len)
{
	const uint8_t *s = src;

	for (unsigned i = 0; i < n && len; i++) {
		size_t seg = iov[i].iov_len, k;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		k = seg - off < len ? seg - off : len;
		memcpy((uint8_t *)iov[i].iov_base + off, s, k);
		s += k;
		len -= k;
		off = 0;
	}
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
	v->lfd = -1;
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
	if (v->lfd >= 0) {
		close(v->lfd);
		unlink(v->uds);
	}
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
		vq_dev_flush(v->q[i]);
		if (vq_dev_need_notify(v->q[i]) && v->has_host && v->host.notify)
			v->host.notify(v->host.host, i);
	}
}

int vq_vsock_process(struct vq_vsock *v)
{
	int work = 0, rc;

	rc = vq__vs_host_events(v);
	if (rc < 0)
		return rc;
	work += rc;
	work += vq__vs_tx(v);
	work += vq__vs_rx(v);
	work += vq__vs_event(v);
	flush_queues(v);
	vq__vs_reap(v);
	return work;
}
