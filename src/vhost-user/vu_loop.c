/* SPDX-License-Identifier: MIT */
/*
 * A small built-in epoll loop for vhost-user backends.  Watches are kept in
 * a table indexed by fd; each carries a sequence number that is also in the
 * epoll event, so an event for an fd that was unwatched (or closed and
 * reused) earlier in the same batch is recognised and skipped.  Sequence
 * number 0 is never a watch's: it marks the caller's wake-only fds
 * (vq_vu_loop_add_fd).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vu_internal.h"

#define LOOP_BATCH 32
#define WAKE_SEQ 0u /* the caller's fds (vq_vu_loop_add_fd) */

struct loop_watch {
	struct vq_vu_backend *b; /* NULL: slot free */
	uint32_t tag;
	uint32_t seq;
};

struct vq_vu_loop {
	int epfd;
	uint32_t seq;
	struct loop_watch *w; /* indexed by fd */
	unsigned nw;
	struct vq_vu_backend **bs;
	unsigned nb, capb;
};

int vq_vu_loop_new(struct vq_vu_loop **out)
{
	struct vq_vu_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int rc = -errno;

		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void vq_vu_loop_free(struct vq_vu_loop *l)
{
	if (!l)
		return;
	close(l->epfd);
	free(l->w);
	free(l->bs);
	free(l);
}

static int grow(struct vq_vu_loop *l, unsigned fd)
{
	unsigned n = l->nw ? l->nw : 64;
	struct loop_watch *w;

	while (n <= fd)
		n *= 2;
	if (n == l->nw)
		return 0;
	w = realloc(l->w, n * sizeof(*w));
	if (!w)
		return -ENOMEM;
	memset(w + l->nw, 0, (n - l->nw) * sizeof(*w));
	l->w = w;
	l->nw = n;
	return 0;
}

static int loop_watch(void *loop, int fd, struct vq_vu_backend *b, uint32_t tag)
{
	struct vq_vu_loop *l = loop;
	struct epoll_event ev = { .events = EPOLLIN };
	int rc;

	if (fd < 0 || grow(l, (unsigned)fd) < 0)
		return -ENOMEM;
	if (++l->seq == WAKE_SEQ)
		l->seq++;
	l->w[fd] = (struct loop_watch){ .b = b, .tag = tag, .seq = l->seq };
	ev.data.u64 = (uint64_t)l->seq << 32 | (uint32_t)fd;
	rc = epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
	if (rc < 0 && errno == EEXIST)
		rc = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
	if (rc < 0) {
		l->w[fd].b = NULL;
		return -errno;
	}
	return 0;
}

static void loop_unwatch(void *loop, int fd)
{
	struct vq_vu_loop *l = loop;

	if (fd < 0 || (unsigned)fd >= l->nw || !l->w[fd].b)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->w[fd].b = NULL;
}

static void loop_attach(void *loop, struct vq_vu_backend *b)
{
	struct vq_vu_loop *l = loop;

	if (l->nb == l->capb) {
		unsigned n = l->capb ? l->capb * 2 : 8;
		struct vq_vu_backend **bs = realloc(l->bs, n * sizeof(*bs));

		if (!bs) {
			vq__vu_log(b, VQ_VU_LOG_ERR, "loop: out of memory, no reconnect timer");
			return;
		}
		l->bs = bs;
		l->capb = n;
	}
	l->bs[l->nb++] = b;
}

static void loop_detach(void *loop, struct vq_vu_backend *b)
{
	struct vq_vu_loop *l = loop;

	for (unsigned i = 0; i < l->nb; i++)
		if (l->bs[i] == b) {
			l->bs[i] = l->bs[--l->nb];
			return;
		}
}

static const struct vq_vu_loop_ops builtin_ops = {
	.watch = loop_watch,
	.unwatch = loop_unwatch,
	.attach = loop_attach,
	.detach = loop_detach,
};

const struct vq_vu_loop_ops *vq_vu_loop_ops(void)
{
	return &builtin_ops;
}

int vq_vu_loop_add_fd(struct vq_vu_loop *l, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)WAKE_SEQ << 32 };

	if (fd < 0)
		return -EBADF;
	ev.data.u64 |= (uint32_t)fd;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int next_timeout(const struct vq_vu_loop *l, int timeout_ms)
{
	for (unsigned i = 0; i < l->nb; i++) {
		int t = vq_vu_timeout_ms(l->bs[i]);

		if (t >= 0 && (timeout_ms < 0 || t < timeout_ms))
			timeout_ms = t;
	}
	return timeout_ms;
}

static int run_timers(struct vq_vu_loop *l)
{
	int n = 0;

	for (unsigned i = 0; i < l->nb; i++)
		if (vq_vu_timeout_ms(l->bs[i]) == 0) {
			vq_vu_handle(l->bs[i], VQ_VU_TAG_TIMER);
			n++;
		}
	return n;
}

int vq_vu_loop_run(struct vq_vu_loop *l, int timeout_ms)
{
	struct epoll_event ev[LOOP_BATCH];
	int n, handled = 0;

	n = epoll_wait(l->epfd, ev, LOOP_BATCH, next_timeout(l, timeout_ms));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		unsigned fd = (uint32_t)ev[i].data.u64;
		uint32_t seq = (uint32_t)(ev[i].data.u64 >> 32);
		struct loop_watch w;
		int rc;

		if (seq == WAKE_SEQ) {
			handled++; /* the caller's fd: the caller handles it */
			continue;
		}
		if (fd >= l->nw || !l->w[fd].b || l->w[fd].seq != seq)
			continue; /* unwatched earlier in this batch */
		w = l->w[fd];
		rc = vq_vu_handle(w.b, w.tag);
		if (rc < 0)
			return rc;
		handled++;
	}
	return handled + run_timers(l);
}
