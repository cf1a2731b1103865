/* SPDX-License-Identifier: MIT */
/*
 * virtq-9p serve --tcp: one reader thread per connection (at most
 * --max-conns), each a struct vq_9p_conn served concurrently by the
 * library's workers (vq_9p_conn_start): the reader reads a message (size[4]
 * first, checked against the negotiated msize before anything else is
 * read) into a free slot and submits it; a worker answers it and writes the
 * answer whole under the connection's write lock, in completion order, so a
 * slow read does not hold up the requests pipelined behind it.  A client
 * has at most V9_TCP_SLOTS requests in flight: the reader waits for a slot
 * before it reads on.  A slot's buffers are reserved at msize and filled
 * only as far as messages reach; pages of a large message are given back
 * after it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "v9.h"

#define V9_TCP_SLOTS   8u
#define V9_TCP_WORKERS 4u
#define V9_KEEP_BYTES  (4u << 20) /* larger messages give their pages back */

struct v9_server {
	struct vq_9p *s;
	uint32_t max_msize;
	unsigned max_conns;
	atomic_uint conns;
};

struct v9_slot {
	uint8_t *req, *resp; /* max_msize each, reserved */
	struct iovec rq, rs;
	bool busy;
};

struct v9_conn {
	struct v9_server *srv;
	int fd;
	unsigned id;
	pthread_mutex_t mx;  /* the socket's write side, and the slots */
	pthread_cond_t free; /* a slot was given back */
	bool write_failed;
	struct v9_slot slots[V9_TCP_SLOTS];
};

static void lib_log(void *opaque, const char *line)
{
	(void)opaque;
	vqt_log(VQT_LOG_WARN, "%s", line);
}

static void slot_trim(struct v9_slot *sl, size_t req_len, size_t resp_len, size_t cap)
{
	if (req_len > V9_KEEP_BYTES)
		madvise(sl->req, cap, MADV_DONTNEED);
	if (resp_len > V9_KEEP_BYTES)
		madvise(sl->resp, cap, MADV_DONTNEED);
}

/* The library's done: write the answer, give the slot back. */
static void on_done(void *opaque, void *cookie, int len)
{
	struct v9_conn *vc = opaque;
	struct v9_slot *sl = cookie;

	pthread_mutex_lock(&vc->mx);
	if (!vc->write_failed && v9_write_iov(vc->fd, &(struct iovec){ sl->resp, (size_t)len }, 1))
		vc->write_failed = true;
	slot_trim(sl, sl->rq.iov_len, (size_t)len, vc->srv->max_msize);
	sl->busy = false;
	pthread_cond_signal(&vc->free);
	pthread_mutex_unlock(&vc->mx);
}

static struct v9_slot *slot_wait(struct v9_conn *vc)
{
	struct v9_slot *sl = NULL;

	pthread_mutex_lock(&vc->mx);
	while (!sl) {
		for (unsigned i = 0; i < V9_TCP_SLOTS && !sl; i++)
			if (!vc->slots[i].busy)
				sl = &vc->slots[i];
		if (!sl)
			pthread_cond_wait(&vc->free, &vc->mx);
	}
	sl->busy = true;
	pthread_mutex_unlock(&vc->mx);
	return sl;
}

static void slot_release(struct v9_conn *vc, struct v9_slot *sl)
{
	pthread_mutex_lock(&vc->mx);
	sl->busy = false;
	pthread_mutex_unlock(&vc->mx);
}

/* Read one message into a free slot and submit it: 0, or -1 to close. */
static int conn_one(struct v9_conn *vc, struct vq_9p_conn *c)
{
	struct v9_slot *sl = slot_wait(vc);
	uint32_t size, limit = vq_9p_conn_msize(c);
	int err;

	if (v9_read_iov(vc->fd, &(struct iovec){ sl->req, 4 }, 1, 0, 4))
		goto out;
	size = (uint32_t)sl->req[0] | (uint32_t)sl->req[1] << 8 | (uint32_t)sl->req[2] << 16 |
	       (uint32_t)sl->req[3] << 24;
	if (size < 7 || size > limit) {
		vqt_log(VQT_LOG_WARN, "conn %u: message of %u bytes (msize %u): closing",
			vc->id, size, limit);
		goto out;
	}
	if (v9_read_iov(vc->fd, &(struct iovec){ sl->req, size }, 1, 4, size - 4))
		goto out;
	sl->rq = (struct iovec){ sl->req, size };
	sl->rs = (struct iovec){ sl->resp, vc->srv->max_msize };
	err = vq_9p_conn_submit(c, &sl->rq, 1, &sl->rs, 1, sl);
	if (!err)
		return 0;
	vqt_log(VQT_LOG_WARN, "conn %u: %s: closing", vc->id, strerror(-err));
out:
	slot_release(vc, sl);
	return -1;
}

static int conn_map(struct v9_conn *vc)
{
	size_t len = vc->srv->max_msize;

	for (unsigned i = 0; i < V9_TCP_SLOTS; i++) {
		struct v9_slot *sl = &vc->slots[i];

		sl->req = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		sl->resp = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (sl->req == MAP_FAILED || sl->resp == MAP_FAILED)
			return -ENOMEM;
	}
	return 0;
}

static void conn_unmap(struct v9_conn *vc)
{
	for (unsigned i = 0; i < V9_TCP_SLOTS; i++) {
		if (vc->slots[i].req && vc->slots[i].req != MAP_FAILED)
			munmap(vc->slots[i].req, vc->srv->max_msize);
		if (vc->slots[i].resp && vc->slots[i].resp != MAP_FAILED)
			munmap(vc->slots[i].resp, vc->srv->max_msize);
	}
}

static void *conn_thread(void *arg)
{
	struct v9_conn *vc = arg;
	struct vq_9p_conn *c = NULL;
	struct vq_9p_async_params ap = { .workers = V9_TCP_WORKERS, .max_tags = V9_TCP_SLOTS,
					 .done = on_done, .opaque = vc };

	pthread_mutex_init(&vc->mx, NULL);
	pthread_cond_init(&vc->free, NULL);
	if (conn_map(vc) == 0 && vq_9p_conn_new(vc->srv->s, &c) == 0 &&
	    vq_9p_conn_start(c, &ap) == 0) {
		while (conn_one(vc, c) == 0)
			;
	} else {
		vqt_log(VQT_LOG_ERR, "conn %u: out of memory", vc->id);
	}
	vq_9p_conn_free(c); /* flushes what is in flight: every done runs */
	conn_unmap(vc);
	close(vc->fd);
	pthread_mutex_destroy(&vc->mx);
	pthread_cond_destroy(&vc->free);
	vqt_log(VQT_LOG_INFO, "conn %u: closed", vc->id);
	atomic_fetch_sub(&vc->srv->conns, 1);
	free(vc);
	return NULL;
}

static void accept_one(struct v9_server *srv, int lfd, unsigned id)
{
	struct v9_conn *vc;
	pthread_attr_t attr;
	pthread_t th;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (atomic_fetch_add(&srv->conns, 1) >= srv->max_conns) {
		atomic_fetch_sub(&srv->conns, 1);
		vqt_log(VQT_LOG_WARN, "refusing a connection: %u already", srv->max_conns);
		close(fd);
		return;
	}
	vc = calloc(1, sizeof(*vc));
	if (!vc) {
		atomic_fetch_sub(&srv->conns, 1);
		close(fd);
		return;
	}
	*vc = (struct v9_conn){ .srv = srv, .fd = fd, .id = id };
	vqt_log(VQT_LOG_INFO, "conn %u: accepted", id);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, conn_thread, vc)) {
		atomic_fetch_sub(&srv->conns, 1);
		close(fd);
		free(vc);
	}
	pthread_attr_destroy(&attr);
}

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

int v9_serve(const struct v9_opts *o)
{
	struct v9_server srv = { .max_conns = o->max_conns };
	struct vq_9p_params p = { .export_dir = o->export_dir, .tag = o->tag,
				  .readonly = o->readonly, .max_msize = o->msize,
				  .no_uring = o->no_uring, .log = lib_log };
	struct sigaction sa = { .sa_handler = on_signal };
	int lfd, err;

	if (o->socket)
		return v9_serve_vu(o);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	err = vq_9p_new(&p, &srv.s);
	if (err) {
		vqt_log(VQT_LOG_ERR, "cannot export %s: %s", o->export_dir, strerror(-err));
		return 1;
	}
	srv.max_msize = o->msize ? o->msize : VQ_9P_MAX_MSIZE;
	err = v9_tcp_listen(o->tcp, &lfd);
	if (err) {
		vqt_log(VQT_LOG_ERR, "cannot listen on %s: %s", o->tcp, strerror(-err));
		vq_9p_free(srv.s);
		return 1;
	}
	vqt_log(VQT_LOG_INFO, "serving %s%s (tag %s, msize up to %u) on tcp %s", o->export_dir,
		o->readonly ? " read-only" : "", vq_9p_tag(srv.s), srv.max_msize, o->tcp);
	for (unsigned id = 1; !quit; id++)
		accept_one(&srv, lfd, id);
	close(lfd);
	vqt_log(VQT_LOG_INFO, "stopping (%u connections open)", atomic_load(&srv.conns));
	return 0; /* connection threads die with the process */
}
