/* SPDX-License-Identifier: MIT */
/* virtq-9p: a 9P2000.L server (serve) and client (ls, cat, cp, stat, bench). */
#ifndef V9_H
#define V9_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <virtq/9p.h>
#include <virtq/9p_client.h>

#include "../common/tool.h"

struct v9_opts {
	const char *cmd;       /* serve, ls, cat, cp, stat, bench */
	const char *tcp;       /* ADDR:PORT */
	const char *socket;    /* vhost-user socket (serve) */
	const char *export_dir;
	const char *tag;
	const char *aname;
	const char *uname;
	bool readonly;
	bool no_uring;
	uint32_t msize;        /* client: asked; server: the largest agreed */
	unsigned max_conns;
	uint64_t bench_size;   /* bench: bytes to read (0 = whole file) */
	double bench_secs;     /* bench --random: seconds */
	bool random;           /* bench: random 4 KiB reads */
	unsigned qd;           /* bench --random: requests in flight (vhost-user) */
	bool packed;           /* client over vhost-user: packed ring */
	bool no_large_chain;   /* vhost-user: neither offer nor use large chains */
	bool scatter;          /* bench: page-sized buffers, none adjacent */
	bool pages;            /* bench: page-sized segments of one buffer, in order */
	bool memcpy_only;      /* bench: memcpy of a local file, no 9p */
	char **args;           /* operands */
	int nargs;
};

/* tcp.c */
/* Parse ADDR:PORT ("[v6]:port" too) and listen (server) or connect. */
int v9_tcp_listen(const char *addrport, int *fd);
int v9_tcp_connect(const char *addrport, int *fd);
/* Exactly n bytes from/to fd into/from the segments, from offset off. */
int v9_read_iov(int fd, const struct iovec *v, unsigned n, uint64_t off, uint64_t len);
int v9_write_iov(int fd, const struct iovec *v, unsigned n);
/* A client transport over a connected TCP socket (ctx: int fd, cast). */
int v9_tcp_rpc(void *ctx, const struct iovec *req, unsigned req_n,
	       const struct iovec *resp, unsigned resp_n);

/* serve.c */
int v9_serve(const struct v9_opts *o);

/* vu.c */
struct v9_vu;
int v9_serve_vu(const struct v9_opts *o);
/* Connect to o->socket; extra: shared bytes the caller will v9_vu_alloc. */
int v9_vu_open(const struct v9_opts *o, size_t extra, struct v9_vu **out,
	       struct vq_9p_client_transport *t);
void v9_vu_close(struct v9_vu *v);
void *v9_vu_alloc(struct v9_vu *v, size_t size);
bool v9_vu_has_large_chain(const struct v9_vu *v);
/* Descriptors a chain may hold: the large-chain limit or the queue size. */
unsigned v9_vu_max_segs(const struct v9_vu *v);
/* Random 4 KiB Treads of fid (size bytes) with qd (<= 64) in flight for
 * secs; *ops answered ones.  0 or -errno (-EPROTO: a bad answer). */
int v9_vu_bench_qd(struct v9_vu *v, uint32_t fid, uint64_t size, unsigned qd, double secs,
		   uint64_t *ops);
/* Sequential Treads of fid from offset 0 for size bytes (fewer at end of
 * file) with qd requests in flight, request k in slot k % qd: buf[slot]
 * holds nseg[slot] segments in v9_vu_alloc memory, one descriptor each.
 * consume() gets each answer in file order before its slot is reused.
 * 0 or -errno (-EPROTO: a bad answer; -ENOBUFS: the queue had no room). */
#define V9_STREAM_MAX 4u
struct v9_stream {
	uint32_t fid;
	uint64_t size;
	unsigned qd;
	struct iovec *buf[V9_STREAM_MAX];
	unsigned nseg[V9_STREAM_MAX];
	void (*consume)(void *ctx, const struct iovec *v, unsigned n, uint64_t len);
	void *ctx;
	uint64_t bytes; /* out: bytes consumed */
	unsigned reqs;  /* out: answers consumed */
};
int v9_vu_bench_stream(struct v9_vu *v, struct v9_stream *s);
int v9_vu_rpc(void *ctx, const struct iovec *req, unsigned rn, const struct iovec *resp,
	      unsigned sn);

/* cmds.c */
int v9_client_cmd(const struct v9_opts *o);
int v9_bench_memcpy(const struct v9_opts *o);

#endif
