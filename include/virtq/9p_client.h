/* SPDX-License-Identifier: MIT */
/*
 * virtq 9P2000.L client (the driver side): the same code above any
 * transport.  A transport is one function that sends a request and receives
 * its response (TCP in `virtq-9p`, a virtio-9p queue over vhost-user, or an
 * in-process struct vq_9p_conn); the client builds and checks messages.
 *
 * Every response is checked: its size against the buffer, its type and tag
 * against the request, every count and string against the message; a
 * malformed response is -EPROTO.  A server error (Rlerror) is returned as
 * its -errno.
 *
 * Zero copy: vq_9p_client_read/write hand the caller's buffer to the
 * transport as a segment of its own (after a small header segment), so the
 * data is never copied by the client.
 *
 * Threading: one request at a time per client (callers serialise).
 */
#ifndef VIRTQ_9P_CLIENT_H
#define VIRTQ_9P_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vq_9p_client;

struct vq_9p_client_transport {
	/*
	 * Send the request (req_n segments, a whole message) and receive its
	 * response into resp (resp_n segments).  Returns the response length,
	 * -EMSGSIZE when it does not fit resp (the transport is then unusable),
	 * or another -errno.
	 */
	int (*rpc)(void *ctx, const struct iovec *req, unsigned req_n,
		   const struct iovec *resp, unsigned resp_n);
	void *ctx;
	/* Segments one request may use, both directions together (a virtio
	 * queue without large chains: the queue size); 0 = no limit.  The
	 * client's own headers take two. */
	unsigned max_segs;
};

struct vq_9p_client_params {
	struct vq_9p_client_transport transport;
	uint32_t msize;       /* asked for; 0 = 512 KiB; the server may lower it */
	const char *uname;    /* NULL = "root" */
	const char *aname;    /* NULL = "" (the server's export) */
	uint32_t n_uname;     /* numeric uid; default 0 */
};

/* File attributes (Rgetattr's basic set). */
struct vq_9p_attr {
	uint8_t qid_type;
	uint64_t ino;          /* qid.path */
	uint32_t mode, uid, gid;
	uint64_t nlink, rdev, size, blksize, blocks;
	int64_t atime_sec, mtime_sec, ctime_sec;
	uint32_t atime_nsec, mtime_nsec, ctime_nsec;
};

/*
 * Negotiate the version and msize and attach the root (fid 0).  Returns 0
 * and *out; -EPROTO when the server does not speak 9P2000.L or answers
 * malformed; -EINVAL for bad params; -ENOMEM; the transport's -errno.
 */
int vq_9p_client_new(const struct vq_9p_client_params *p, struct vq_9p_client **out);
/* Clunk the root and destroy the client (the transport stays the caller's). */
void vq_9p_client_free(struct vq_9p_client *cl);
/* The negotiated msize. */
uint32_t vq_9p_client_msize(const struct vq_9p_client *cl);

/*
 * Walk from the root along path ('/'-separated, empty names skipped) to a
 * new fid.  0 and *fid, or -errno (-ENOENT when a name does not exist).
 */
int vq_9p_client_walk(struct vq_9p_client *cl, const char *path, uint32_t *fid);
/* Open fid (flags: O_RDONLY, O_WRONLY, O_RDWR, O_TRUNC, O_APPEND...). */
int vq_9p_client_open(struct vq_9p_client *cl, uint32_t fid, uint32_t flags);
/* Create name in directory fid dfid and open it; dfid then is the file. */
int vq_9p_client_create(struct vq_9p_client *cl, uint32_t dfid, const char *name,
			uint32_t flags, uint32_t mode);
/* One Tread / Twrite of at most msize - 24 bytes: the count, or -errno. */
int64_t vq_9p_client_read(struct vq_9p_client *cl, uint32_t fid, uint64_t off,
			  void *buf, uint32_t len);
int64_t vq_9p_client_write(struct vq_9p_client *cl, uint32_t fid, uint64_t off,
			   const void *buf, uint32_t len);
/*
 * One Tread into the segments iov[0..n): at most msize - 24 bytes and
 * max_segs - 2 segments (the rest is left for the next call).  The count,
 * or -errno.  The data goes straight into the segments (zero copy when the
 * transport can reach them, e.g. shared memory).
 */
int64_t vq_9p_client_readv(struct vq_9p_client *cl, uint32_t fid, uint64_t off,
			   const struct iovec *iov, unsigned n);
/* As many as it takes: stops at end of file (read) or on an error. */
int64_t vq_9p_client_pread(struct vq_9p_client *cl, uint32_t fid, uint64_t off,
			   void *buf, uint64_t len);
int64_t vq_9p_client_pwrite(struct vq_9p_client *cl, uint32_t fid, uint64_t off,
			    const void *buf, uint64_t len);
/*
 * List open directory fid: fn(ctx, name, qid type, ino) for every entry
 * (also "." and ".."); a non-zero return from fn stops and is returned.
 */
int vq_9p_client_readdir(struct vq_9p_client *cl, uint32_t fid,
			 int (*fn)(void *ctx, const char *name, uint8_t type, uint64_t ino),
			 void *ctx);
int vq_9p_client_getattr(struct vq_9p_client *cl, uint32_t fid, struct vq_9p_attr *a);
int vq_9p_client_mkdir(struct vq_9p_client *cl, uint32_t dfid, const char *name,
		       uint32_t mode);
/* Remove name in dfid (flags: AT_REMOVEDIR for a directory). */
int vq_9p_client_unlink(struct vq_9p_client *cl, uint32_t dfid, const char *name,
			uint32_t flags);
int vq_9p_client_clunk(struct vq_9p_client *cl, uint32_t fid);

#ifdef __cplusplus
}
#endif
#endif /* VIRTQ_9P_CLIENT_H */
