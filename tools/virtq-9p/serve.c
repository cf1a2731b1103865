/* SPDX-License-Identifier: MIT */
/*
 * virtq-9p serve --tcp: one thread per connection (at most --max-conns),
 * each a struct vq_9p_conn.  A connection reads one message (size[4] first,
 * checked against the negotiated msize before anything else is read),
 * serves it, writes the answer, and so on; the Linux client's pipelined
 * requests are answered in order.  The request and response buffers are
 * reserved at msize and filled only as far as messages reach.
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

struct v9_server {
	struct vq_9p *s;
	uint32_t max_msize;
	unsigned max_conns;
	atomic_uint conns;
};

struct v9_conn {
	struct v9_server *srv;
	int fd;
	unsigned id;
};

static void lib_log(void *opaque, const char *line)
{
	(void)opaque;
	vqt_log(VQT_LOG_WARN, "%s", line);
}

/* Serve messages until the peer leaves or breaks the framing. */
static void conn_loop(struct v9_conn *vc, struct vq_9p_conn *c, uint8_t *req, uint8_t *resp)
{
	for (;;) {
		uint32_t size, limit = vq_9p_conn_msize(c);
		int n;

		if (v9_read_iov(vc->fd, &(struct iovec){ req, 4 }, 1, 0, 4))
			return;
		size = (uint32_t)req[0] | (uint32_t)req[1] << 8 | (uint32_t)req[2] << 16 |
		       (uint32_t)req[3] << 24;
		if (size < 7 || size > limit) {
			vqt_log(VQT_LOG_WARN, "conn %u: message of %u bytes (msize %u): closing",
				vc->id, size, limit);
			return;
		}
		if (v9_read_iov(vc->fd, &(struct iovec){ req, size }, 1, 4, size - 4))
			return;
		n = vq_9p_conn_handle(c, &(struct iovec){ req, size }, 1,
				      &(struct iovec){ resp, vc->srv->max_msize }, 1);
		if (n < 0) {
			vqt_log(VQT_LOG_WARN, "conn %u: %s: closing", vc->id, strerror(-n));
			return;
		}
		if (v9_write_iov(vc->fd, &(struct iovec){ resp, (size_t)n }, 1))
			return;
	}
}

static void *conn_thread(void *arg)
{
	struct v9_conn *vc = arg;
	size_t len = vc->srv->max_msize;
	struct vq_9p_conn *c = NULL;
	uint8_t *req = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *resp = mmap(NULL, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (req != MAP_FAILED && resp != MAP_FAILED && vq_9p_conn_new(vc->srv->s, &c) == 0) {
		conn_loop(vc, c, req, resp);
		vq_9p_conn_free(c);
	} else {
		vqt_log(VQT_LOG_ERR, "conn %u: out of memory", vc->id);
	}
	if (req != MAP_FAILED)
		munmap(req, len);
	if (resp != MAP_FAILED)
		munmap(resp, len);
	close(vc->fd);
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
