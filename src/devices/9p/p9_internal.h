/* SPDX-License-Identifier: MIT */
/* 9P2000.L server internals: shared by p9.c, p9_fid.c, p9_io.c, p9_ops.c,
 * p9_meta.c.  Nothing here is part of the public API. */
#ifndef VQ_P9_INTERNAL_H
#define VQ_P9_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <virtq/9p.h>

#include "p9_wire.h"

#ifdef VQ_HAVE_LIBURING
#include <liburing.h>
#endif

#define P9_FID_BUCKETS   256u
#define P9_LINEAR_MAX    (64u << 10)  /* largest non-Twrite request */
#define P9_OUT_CAP       (64u << 10)  /* response scratch: everything but Rread data */
#define P9_PREVERSION_MSIZE 8192u
#define P9_NAME_MAX      255u
#define P9_URING_DEPTH   32u
#define P9_DEF_WORKERS   4u           /* vq_9p_async_params.workers = 0 */
#define P9_DEF_TAGS      64u          /* vq_9p_async_params.max_tags = 0 */
#define P9_MAX_TAGS      1024u
#define P9_MAX_WORKERS   64u

struct vq_9p {
	int rootfd;
	dev_t root_dev;
	ino_t root_ino;
	char *export_dir;  /* as given */
	char *export_real; /* realpath, for aname matching */
	char *tag;
	bool readonly;
	bool no_uring;
	bool creds;        /* run each request as its fid's uid (server is root) */
	uint32_t max_msize;
	uint32_t max_fids;
	void (*log)(void *opaque, const char *line);
	void *log_opaque;
	/*
	 * The namespace lock: every handler holds it, shared, while it reads fids
	 * and paths; handlers that change a fid table or a path (attach, walk,
	 * open, create, clunk, remove, renames, version) hold it exclusive, so a
	 * rename on one connection updates the fids of every connection.  Reads
	 * and writes drop it for the file I/O (the fid is pinned by ioref).
	 */
	pthread_rwlock_t lock;
	pthread_mutex_t conns_mx; /* the list below; taken after lock */
	struct vq_9p_conn *conns;
	struct p9_user *users;    /* uids' groups (p9_creds.c), under lock */
	gid_t *groups0;           /* the server's own groups, restored after */
	int ngroups0;             /* each request */
};

struct p9_fid {
	uint32_t id;
	uint32_t uid;      /* from Tattach, owner of what this fid creates */
	uint32_t gid;      /* uid's primary group (passwd), else uid */
	char *path;        /* relative to the root; "" is the root */
	int fd;            /* opened (Tlopen/Tlcreate), else -1 */
	int oflags;        /* open flags when fd >= 0 */
	bool is_dir;       /* fd is a directory */
	bool dead;         /* clunked while I/O ran: the last io_end frees it */
	atomic_uint ioref; /* file I/O running on fd without the lock */
	struct p9_fid *next;
};

/* Scratch for serving one request: one per worker, one for the inline path. */
struct p9_ctx {
	uint8_t *msg;         /* P9_LINEAR_MAX: linear copy of a request */
	uint8_t *out;         /* P9_OUT_CAP: linear response */
	uint8_t *dents;       /* getdents64 scratch */
	struct iovec *iov;    /* segment slices */
	unsigned iov_cap, iov_n;
	int uring_state;      /* 0 untried, 1 ready, -1 unavailable */
	uint32_t fsuid, fsgid; /* this thread's file-system identity */
	bool groups_switched;  /* this thread has a uid's groups */
	atomic_bool *cancel;  /* the running request was flushed */
#ifdef VQ_HAVE_LIBURING
	struct io_uring ring;
#endif
};

/* An in-flight request of the asynchronous path (p9_async.c). */
enum {
	P9_SLOT_FREE,
	P9_SLOT_QUEUED,
	P9_SLOT_RUNNING,
	P9_SLOT_ANSWERING, /* in done: the client may already reuse the tag */
};

struct p9_slot {
	uint8_t state;
	uint8_t type;
	uint16_t tag;
	uint32_t size;
	atomic_bool cancel;
	pthread_t worker;     /* when RUNNING */
	const struct iovec *req, *resp;
	unsigned req_n, resp_n;
	void *cookie;
	struct p9_slot *next; /* the queue */
};

struct p9_async {
	pthread_mutex_t mx;
	pthread_cond_t work;  /* a slot was queued, or stop */
	pthread_cond_t idle;  /* a slot became free */
	struct p9_slot *slots;
	unsigned nslots, busy;
	struct p9_slot *head, *tail;
	pthread_t *threads;
	struct p9_ctx *ctx;
	unsigned nthreads;
	bool stop;
	void (*done)(void *opaque, void *cookie, int len);
	void *opaque;
};

struct vq_9p_conn {
	struct vq_9p *s;
	uint32_t msize;
	bool versioned;
	bool broken;
	atomic_uint nlog;
	unsigned nfids;
	struct p9_fid *fids[P9_FID_BUCKETS];
	struct p9_ctx ictx;     /* the inline path: handle, version, flush */
	struct p9_async *async; /* after vq_9p_conn_start */
	struct vq_9p_conn *next; /* the server's list */
};

/* One request being served. */
struct p9_req {
	struct vq_9p_conn *c;
	struct vq_9p *s;
	struct p9_ctx *x;            /* scratch of the thread serving it */
	uint8_t type;
	uint16_t tag;
	uint32_t size;
	struct p9_rd rd;             /* the body, after the header */
	const struct iovec *req;     /* the request's segments (Twrite data) */
	unsigned req_n;
	const struct iovec *resp;    /* the response's segments (Rread data) */
	unsigned resp_n;
	uint64_t resp_cap;           /* min(resp bytes, msize) */
	struct p9_wr wr;             /* the linear part of the response */
	uint32_t data_len;           /* bytes already in resp after wr's part */
};

typedef int (*p9_handler)(struct p9_req *r);

/* p9.c */
void vq__p9_log(struct vq_9p_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
uint64_t vq__p9_iov_len(const struct iovec *v, unsigned n);
/* Copy [off, off + len) of the segments to (to_iov) or from a buffer. */
void vq__p9_iov_copy(const struct iovec *v, unsigned n, uint64_t off, void *buf,
		     size_t len, bool to_iov);
/* Slice [off, off + len) of v into x->iov; returns the count or -ENOMEM. */
int vq__p9_iov_slice(struct p9_ctx *x, const struct iovec *v, unsigned n,
		     uint64_t off, uint64_t len);
int vq__p9_ctx_init(struct p9_ctx *x);
void vq__p9_ctx_fini(struct p9_ctx *x);
/* Check a request's header: 0 and size/type/tag, or -EPROTO (logged). */
int vq__p9_frame(struct vq_9p_conn *c, const struct iovec *req, unsigned req_n,
		 uint32_t *size, uint8_t *type, uint16_t *tag);
/* Serve one framed request with scratch x: the response length or -ENOBUFS. */
int vq__p9_serve(struct vq_9p_conn *c, struct p9_ctx *x, const struct p9_slot *m);
/* Answer Rlerror(err) for m into its response segments: the length. */
int vq__p9_error_reply(struct vq_9p_conn *c, struct p9_ctx *x, const struct p9_slot *m,
		       int err);

/* p9_creds.c: a request runs as its fid's owner (server run as root) */
int vq__p9_creds_init(struct vq_9p *s);  /* the server's groups: 0, -errno */
void vq__p9_creds_fini(struct vq_9p *s);
/* Tattach as uid: *gid its primary group; its groups looked up again.
 * 0, -ENOMEM (exclusive namespace lock held). */
int vq__p9_user_attach(struct vq_9p *s, uint32_t uid, uint32_t *gid);
/* Switch the serving thread to the fid's uid, gid and groups: 0, -EPERM. */
int vq__p9_creds_enter(struct p9_req *r);
/* Root and the server's groups again. */
void vq__p9_creds_leave(struct p9_req *r);
/* A create with the client's gid: the thread's fsgid becomes gid. */
void vq__p9_creds_gid(struct p9_req *r, uint32_t gid);
/* For tests only: when set, a uid's supplementary groups (up to max; the
 * count) instead of the user database's. */
extern int (*vq__p9_groups_hook)(uint32_t uid, gid_t *groups, int max);

/* p9_async.c */
/* Flush every in-flight request and stop the workers (conn_free). */
void vq__p9_async_stop(struct vq_9p_conn *c);
/* Interruptible waits: the signal that cuts a flushed request's I/O. */
bool vq__p9_is_cancelled(const struct p9_ctx *x);

/* For tests only: when set, runs before each file I/O (read, write) of a
 * request, on the serving thread; a negative return fails the I/O. */
extern int (*vq__p9_io_hook)(struct p9_ctx *x);

/* p9_fid.c */
struct p9_fid *vq__p9_fid_get(struct vq_9p_conn *c, uint32_t id);
int vq__p9_fid_add(struct vq_9p_conn *c, uint32_t id, uint32_t uid, uint32_t gid,
		   char *path, struct p9_fid **out);
/* Pin f for file I/O and drop the namespace lock; io_end unpins (and frees
 * a fid clunked meanwhile). */
void vq__p9_io_begin(struct vq_9p *s, struct p9_fid *f);
void vq__p9_io_end(struct vq_9p *s, struct p9_fid *f);
void vq__p9_fid_del(struct vq_9p_conn *c, uint32_t id);
void vq__p9_fid_clear(struct vq_9p_conn *c);
/* Every connection's fids at or below from follow a rename to to. */
void vq__p9_fid_rename(struct vq_9p *s, const char *from, const char *to);
bool vq__p9_name_is_valid(struct p9_str n);
int vq__p9_path_join(const char *dir, struct p9_str name, char **out);
int vq__p9_path_parent(const char *path, char **out);
int vq__p9_resolve(struct vq_9p *s, const char *path, int flags, int *fd);
int vq__p9_resolve_parent(struct vq_9p *s, const char *path, int *dfd,
			  const char **base);
void vq__p9_qid(const struct vq_9p *s, const struct stat *st, struct p9_qid *q);

/* p9_io.c */
int64_t vq__p9_io(struct vq_9p_conn *c, struct p9_ctx *x, int fd, bool write,
		  const struct iovec *iov, unsigned n, uint64_t off);
void vq__p9_io_fini(struct p9_ctx *x);

/* p9_ops.c: walk, open, create, read, write, readdir */
int vq__p9_walk(struct p9_req *r);
int vq__p9_lopen(struct p9_req *r);
int vq__p9_lcreate(struct p9_req *r);
int vq__p9_read(struct p9_req *r);
int vq__p9_write(struct p9_req *r);
int vq__p9_readdir(struct p9_req *r);

/* p9_meta.c: everything else on files */
int vq__p9_getattr(struct p9_req *r);
int vq__p9_setattr(struct p9_req *r);
int vq__p9_statfs(struct p9_req *r);
int vq__p9_mkdir(struct p9_req *r);
int vq__p9_mknod(struct p9_req *r);
int vq__p9_symlink(struct p9_req *r);
int vq__p9_readlink(struct p9_req *r);
int vq__p9_link(struct p9_req *r);
int vq__p9_rename(struct p9_req *r);
int vq__p9_renameat(struct p9_req *r);
int vq__p9_unlinkat(struct p9_req *r);
int vq__p9_remove(struct p9_req *r);
int vq__p9_fsync(struct p9_req *r);
int vq__p9_lock(struct p9_req *r);
int vq__p9_getlock(struct p9_req *r);
int vq__p9_xattrwalk(struct p9_req *r);
int vq__p9_xattrcreate(struct p9_req *r);

/* The body was read to its end, exactly; else the message is malformed. */
#define P9_END(r)                                                              \
	do {                                                                   \
		if (!p9_rd_is_done(&(r)->rd)) {                                \
			vq__p9_log((r)->c, "9p: malformed type %u message (%u bytes)", \
				   (r)->type, (r)->size);                      \
			return -EINVAL;                                        \
		}                                                              \
	} while (0)

#endif /* VQ_P9_INTERNAL_H */
