/* SPDX-License-Identifier: MIT */
/*
 * The daemon's epoll loop: vq_vu_loop_ops for the vhost-user backend (its
 * socket and kick fds) and one extra fd.  A watch carries a sequence
 * number in its epoll data, so an event for an fd unwatched earlier in the
 * same batch (and perhaps reused) is recognised and skipped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vv.h"

#define BATCH 32
#define EXTRA_SEQ 0u /* the extra fd's sequence number */

struct watch {
	struct vq_vu_backend *b; /* NULL: free */
	uint32_t tag, seq;
};

struct vv_loop {
	int epfd;
	uint32_t seq;
	struct watch *w; /* by fd */
	unsigned nw;
};

int vv_loop_new(int extra_fd, struct vv_loop **out)
{
	struct vv_loop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)EXTRA_SEQ << 32 };

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, extra_fd, &ev) < 0) {
		int rc = -errno;

		vv_loop_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void vv_loop_free(struct vv_loop *l)
{
	if (!l)
		return;
	if (l->epfd >= 0)
		close(l->epfd);
	free(l->w);
	free(l);
}

static int grow(struct vv_loop *l, unsigned fd)
{
	unsigned n = l->nw ? l->nw : 64;
	struct watch *w;

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
	struct vv_loop *l = loop;
	struct epoll_event ev = { .events = EPOLLIN };
	int rc;

	if (fd < 0 || grow(l, (unsigned)fd) < 0)
		return -ENOMEM;
	if (++l->seq == EXTRA_SEQ)
		l->seq++;
	l->w[fd] = (struct watch){ .b = b, .tag = tag, .seq = l->seq };
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
	struct vv_loop *l = loop;

	if (fd < 0 || (unsigned)fd >= l->nw || !l->w[fd].b)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->w[fd].b = NULL;
}

static const struct vq_vu_loop_ops ops = { .watch = loop_watch, .unwatch = loop_unwatch };

const struct vq_vu_loop_ops *vv_loop_ops(void)
{
	return &ops;
}

int vv_loop_run(struct vv_loop *l, int timeout_ms)
{
	struct epoll_event ev[BATCH];
	int n = epoll_wait(l->epfd, ev, BATCH, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint32_t seq = (uint32_t)(ev[i].data.u64 >> 32);
		unsigned fd = (uint32_t)ev[i].data.u64;
		struct watch *w;

		if (seq == EXTRA_SEQ)
			continue; /* the model's fd: the caller processes */
		if (fd >= l->nw || !l->w[fd].b || l->w[fd].seq != seq)
			continue; /* unwatched earlier in this batch */
		w = &l->w[fd];
		vq_vu_handle(w->b, w->tag);
	}
	return n;
}
