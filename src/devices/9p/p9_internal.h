/* SPDX-License-Identifier: MIT */
/* 9P2000.L server internals: shared by p9.c, p9_fid.c, p9_io.c, p9_ops.c,
 * p9_meta.c.  Nothing here is part of the public API. */
#ifndef VQ_P9_INTERNAL_H
#define VQ_P9_INTERNAL_H

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

struct vq_9p {
	int rootfd;
	dev_t root_dev;
	ino_t root_ino;
	char *export_dir;  /* as given */
	char *export_real; /* realpath, for aname matching */
	char *tag;
	bool readonly;
	bool no_uring;
	uint32_t max_msize;
	uint32_t max_fids;
	void (*log)(void *opaque, const char *line);
	void *log_opaque;
};

struct p9_fid {
	uint32_t id;
	uint32_t uid;      /* from Tattach, owner of what this fid creates */
	char *path;        /* relative to the root; "" is the root */
	int fd;            /* opened (Tlopen/Tlcreate), else -1 */
	int oflags;        /* open flags when fd >= 0 */
	bool is_dir;       /* fd is a directory */
	struct p9_fid *next;
};

struct vq_9p_conn {
	struct vq_9p *s;
	uint32_t msize;
	bool versioned;
	bool broken;
	unsigned nlog;
	unsigned nfids;
	struct p9_fid *fids[P9_FID_BUCKETS];
	uint8_t *msg;         /* P9_LINEAR_MAX: linear copy of a request */
	uint8_t *out;         /* P9_OUT_CAP: linear response */
	uint8_t *dents;       /* getdents64 scratch */
	struct iovec *iov;    /* segment slices */
	unsigned iov_cap;
	int uring_state;      /* 0 untried, 1 ready, -1 unavailable */
#ifdef VQ_HAVE_LIBURING
	struct io_uring ring;
#endif
};

/* One request being served. */
struct p9_req {
	struct vq_9p_conn *c;
	struct vq_9p *s;
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
/* Slice [off, off + len) of v into c->iov; returns the count or -ENOMEM. */
int vq__p9_iov_slice(struct vq_9p_conn *c, const struct iovec *v, unsigned n,
		     uint64_t off, uint64_t len);

/* p9_fid.c */
struct p9_fid *vq__p9_fid_get(struct vq_9p_conn *c, uint32_t id);
int vq__p9_fid_add(struct vq_9p_conn *c, uint32_t id, uint32_t uid, char *path,
		   struct p9_fid **out);
void vq__p9_fid_del(struct vq_9p_conn *c, uint32_t id);
void vq__p9_fid_clear(struct vq_9p_conn *c);
void vq__p9_fid_rename(struct vq_9p_conn *c, const char *from, const char *to);
bool vq__p9_name_is_valid(struct p9_str n);
int vq__p9_path_join(const char *dir, struct p9_str name, char **out);
int vq__p9_path_parent(const char *path, char **out);
int vq__p9_resolve(struct vq_9p *s, const char *path, int flags, int *fd);
int vq__p9_resolve_parent(struct vq_9p *s, const char *path, int *dfd,
			  const char **base);
void vq__p9_qid(const struct vq_9p *s, const struct stat *st, struct p9_qid *q);

/* p9_io.c */
int64_t vq__p9_io(struct vq_9p_conn *c, int fd, bool write, const struct iovec *iov,
		  unsigned n, uint64_t off);
void vq__p9_io_fini(struct vq_9p_conn *c);

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
