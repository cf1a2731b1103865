/* SPDX-License-Identifier: MIT */
/* 9p: walk, lopen, lcreate, read, write, readdir. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "p9_internal.h"

/* ---- walk */

/* Next path after one walk element; ".." stops at the root. */
static int walk_next(const char *cur, struct p9_str name, char **out)
{
	if (name.len == 2 && name.s[0] == '.' && name.s[1] == '.')
		return vq__p9_path_parent(cur, out);
	return vq__p9_path_join(cur, name, out);
}

/* Stat path (not following a final symlink) for its qid. */
static int walk_stat(struct vq_9p *s, const char *path, struct stat *st)
{
	int fd, err = vq__p9_resolve(s, path, O_PATH, &fd);

	if (err)
		return err;
	err = fstat(fd, st) < 0 ? -errno : 0;
	close(fd);
	return err;
}

/* Install path as newfid (replacing fid's path when newfid == fid). */
static int walk_done(struct p9_req *r, struct p9_fid *f, uint32_t newfid, char *path)
{
	struct p9_fid *nf;

	if (newfid == f->id) {
		free(f->path);
		f->path = path;
		return 0;
	}
	return vq__p9_fid_add(r->c, newfid, f->uid, f->gid, path, &nf);
}

int vq__p9_walk(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd), newfid = p9_rd_u32(&r->rd);
	uint16_t n = p9_rd_u16(&r->rd);
	struct p9_str names[P9_MAXWELEM];
	struct p9_fid *f;
	char *path;
	unsigned i;
	int err = 0;

	for (i = 0; i < n && i < P9_MAXWELEM; i++)
		names[i] = p9_rd_str(&r->rd);
	P9_END(r);
	if (n > P9_MAXWELEM)
		return -EINVAL;
	f = vq__p9_fid_get(r->c, fid);
	if (!f)
		return -EBADF;
	if (f->fd >= 0 || (newfid != fid && vq__p9_fid_get(r->c, newfid)))
		return -EBADF; /* walking an open fid, or newfid in use */
	path = strdup(f->path);
	if (!path)
		return -ENOMEM;
	p9_wr_u16(&r->wr, 0); /* nwqid, set below */
	for (i = 0; i < n; i++) {
		struct stat st;
		struct p9_qid q;
		char *next;

		err = walk_next(path, names[i], &next);
		if (!err) {
			err = walk_stat(r->s, next, &st);
			if (err)
				free(next);
		}
		if (err)
			break;
		free(path);
		path = next;
		vq__p9_qid(r->s, &st, &q);
		p9_wr_qid(&r->wr, &q);
	}
	if (i == 0 && n > 0) {
		free(path);
		return err;
	}
	r->wr.p[P9_HDR] = (uint8_t)i; /* nwqid <= 16 */
	if (i < n) {
		free(path); /* a partial walk: newfid is not created */
		return 0;
	}
	return walk_done(r, f, newfid, path);
}

/* ---- open and create */

static int open_flags(uint32_t dotl, bool readonly, int *flags)
{
	uint32_t acc = dotl & P9_DOTL_ACCMODE;

	if (acc == 3)
		return -EINVAL;
	if (readonly && (acc != 0 || (dotl & P9_DOTL_TRUNC)))
		return -EROFS;
	*flags = (int)acc | O_NONBLOCK;
	if (dotl & P9_DOTL_TRUNC)
		*flags |= O_TRUNC;
	if (dotl & P9_DOTL_APPEND)
		*flags |= O_APPEND;
	if (dotl & P9_DOTL_DSYNC)
		*flags |= O_DSYNC;
	if (dotl & P9_DOTL_SYNC)
		*flags |= O_SYNC;
	if (dotl & P9_DOTL_DIRECTORY)
		*flags |= O_DIRECTORY;
	return 0;
}

/* fd was just opened: only regular files and directories are served
 * (opening a FIFO or a device node on the host is not the client's call). */
static int open_finish(struct p9_req *r, struct p9_fid *f, int fd, int flags)
{
	struct stat st;
	struct p9_qid q;

	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
		close(fd);
		return -EPERM;
	}
	fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	f->fd = fd;
	f->oflags = flags;
	f->is_dir = S_ISDIR(st.st_mode);
	vq__p9_qid(r->s, &st, &q);
	p9_wr_qid(&r->wr, &q);
	p9_wr_u32(&r->wr, 0); /* iounit: msize - P9_IOHDR */
	return 0;
}

int vq__p9_lopen(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd), dotl = p9_rd_u32(&r->rd);
	struct p9_fid *f;
	int flags, fd, err;

	P9_END(r);
	f = vq__p9_fid_get(r->c, fid);
	if (!f || f->fd >= 0)
		return -EBADF;
	err = open_flags(dotl, r->s->readonly, &flags);
	if (!err)
		err = vq__p9_resolve(r->s, f->path, flags, &fd);
	return err ? err : open_finish(r, f, fd, flags);
}

/* The server owns what it creates unless it runs as root. */
static void create_owner(int dfd, const char *name, uint32_t uid, uint32_t gid)
{
	if (geteuid() == 0 &&
	    fchownat(dfd, name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0)
		return; /* best effort, as with any file system that ignores owners */
}

int vq__p9_lcreate(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd);
	struct p9_str name = p9_rd_str(&r->rd);
	uint32_t dotl = p9_rd_u32(&r->rd), mode = p9_rd_u32(&r->rd), gid = p9_rd_u32(&r->rd);
	struct p9_fid *f;
	char *path;
	int flags, dfd, fd, err;

	P9_END(r);
	f = vq__p9_fid_get(r->c, fid);
	if (!f || f->fd >= 0)
		return -EBADF;
	err = open_flags(dotl, false, &flags);
	if (!err)
		err = vq__p9_path_join(f->path, name, &path);
	if (err)
		return err;
	err = vq__p9_resolve(r->s, f->path, O_PATH | O_DIRECTORY, &dfd);
	if (err) {
		free(path);
		return err;
	}
	flags |= O_CREAT | ((dotl & P9_DOTL_EXCL) ? O_EXCL : 0);
	vq__p9_creds_gid(r, gid);
	fd = openat(dfd, path + strlen(path) - name.len, flags | O_NOFOLLOW | O_CLOEXEC,
		    (mode_t)(mode & 07777));
	err = fd < 0 ? -errno : 0;
	if (!err)
		create_owner(dfd, path + strlen(path) - name.len, f->uid, gid);
	close(dfd);
	if (err) {
		free(path);
		return err;
	}
	free(f->path);
	f->path = path; /* the fid now names the new file */
	return open_finish(r, f, fd, flags & ~(O_CREAT | O_EXCL | O_TRUNC));
}

/* ---- read and write: straight between the file and the segments */

/* Tread and Twrite: fid[4] offset[8] count[4]; the fid open, not a
 * directory, not opened deny-only (O_WRONLY for reads, O_RDONLY for writes). */
static int io_prep(struct p9_req *r, int deny, struct p9_fid **f, uint64_t *off,
		   uint32_t *count)
{
	uint32_t fid = p9_rd_u32(&r->rd);

	*off = p9_rd_u64(&r->rd);
	*count = p9_rd_u32(&r->rd);
	P9_END(r);
	if (r->type == P9_TWRITE && *count != r->size - P9_IOHDR) {
		vq__p9_log(r->c, "9p: Twrite count %u, %u data bytes", *count,
			   r->size - P9_IOHDR);
		return -EINVAL;
	}
	*f = vq__p9_fid_get(r->c, fid);
	if (!*f || (*f)->fd < 0 || (*f)->is_dir || ((*f)->oflags & O_ACCMODE) == deny)
		return -EBADF;
	return *off > INT64_MAX ? -EINVAL : 0;
}

/* count bytes at off between f and the segments v from byte skip, with the
 * namespace lock dropped (f pinned): the bytes done or -errno. */
static int64_t io_run(struct p9_req *r, struct p9_fid *f, bool write, const struct iovec *v,
		      unsigned vn, uint64_t skip, uint32_t count, uint64_t off)
{
	int n = vq__p9_iov_slice(r->x, v, vn, skip, count);
	int64_t done;

	if (n < 0)
		return n;
	vq__p9_io_begin(r->s, f);
	done = vq__p9_io(r->c, r->x, f->fd, write, r->x->iov, (unsigned)n, off);
	vq__p9_io_end(r->s, f);
	return done;
}

int vq__p9_read(struct p9_req *r)
{
	struct p9_fid *f;
	uint64_t off;
	uint32_t count;
	int64_t got;
	int err = io_prep(r, O_WRONLY, &f, &off, &count);

	if (err)
		return err;
	if (count > r->resp_cap - P9_RREAD_HDR)
		count = (uint32_t)(r->resp_cap - P9_RREAD_HDR);
	got = count ? io_run(r, f, false, r->resp, r->resp_n, P9_RREAD_HDR, count, off) : 0;
	if (got < 0)
		return (int)got;
	r->data_len = (uint32_t)got;
	p9_wr_u32(&r->wr, (uint32_t)got);
	return 0;
}

int vq__p9_write(struct p9_req *r)
{
	struct p9_fid *f;
	uint64_t off;
	uint32_t count;
	int64_t put;
	int err = io_prep(r, O_RDONLY, &f, &off, &count);

	if (err)
		return err;
	put = count ? io_run(r, f, true, r->req, r->req_n, P9_IOHDR, count, off) : 0;
	if (put < 0)
		return (int)put;
	p9_wr_u32(&r->wr, (uint32_t)put);
	return 0;
}

/* ---- readdir: getdents64 from the requested offset (the last entry's d_off) */

struct dirent64_hdr {
	uint64_t d_ino;
	int64_t d_off;
	uint16_t d_reclen;
	uint8_t d_type;
	char d_name[];
};

static uint8_t dtype_qid(uint8_t t)
{
	return t == DT_DIR ? P9_QTDIR : t == DT_LNK ? P9_QTSYMLINK : P9_QTFILE;
}

/* Encode entries of one getdents64 buffer while they fit; 1 when full. */
static int readdir_fill(struct p9_req *r, struct p9_fid *f, const uint8_t *buf, long len,
			size_t limit)
{
	for (long pos = 0; pos < len;) {
		const struct dirent64_hdr *d = (const void *)(buf + pos);
		size_t nl = strnlen(d->d_name, d->d_reclen - offsetof(struct dirent64_hdr, d_name));
		struct p9_qid q = { dtype_qid(d->d_type), 0, d->d_ino };

		if (r->wr.off + P9_QID_SIZE + 8 + 1 + 2 + nl > limit)
			return 1;
		if (!*f->path && nl == 2 && !memcmp(d->d_name, "..", 2))
			q.path = (uint64_t)r->s->root_ino; /* the root has no parent here */
		p9_wr_qid(&r->wr, &q);
		p9_wr_u64(&r->wr, (uint64_t)d->d_off);
		p9_wr_u8(&r->wr, d->d_type);
		p9_wr_strn(&r->wr, d->d_name, nl);
		pos += d->d_reclen; /* the client asks from the last d_off next */
	}
	return 0;
}

int vq__p9_readdir(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd);
	uint64_t off = p9_rd_u64(&r->rd);
	uint32_t count = p9_rd_u32(&r->rd);
	struct p9_fid *f;
	size_t limit;
	int err = 0;

	P9_END(r);
	f = vq__p9_fid_get(r->c, fid);
	if (!f || f->fd < 0 || !f->is_dir)
		return -EBADF;
	if (off > INT64_MAX || lseek(f->fd, (off_t)off, SEEK_SET) < 0)
		return off > INT64_MAX ? -EINVAL : -errno;
	p9_wr_u32(&r->wr, 0); /* count, set below */
	limit = r->wr.off + (count < r->wr.cap - r->wr.off ? count : r->wr.cap - r->wr.off);
	while (!err) {
		/* a small read: what does not fit is read again next time */
		size_t want = limit - r->wr.off + 512;
		long got = syscall(SYS_getdents64, f->fd, r->x->dents,
				   want < P9_OUT_CAP ? want : P9_OUT_CAP);

		if (got <= 0) {
			err = got < 0 ? -errno : 0;
			break;
		}
		err = readdir_fill(r, f, r->x->dents, got, limit);
	}
	if (err < 0 && r->wr.off == P9_RREAD_HDR)
		return err;
	uint32_t n = (uint32_t)(r->wr.off - P9_RREAD_HDR);

	r->wr.off = P9_HDR;
	p9_wr_u32(&r->wr, n);
	r->wr.off = P9_RREAD_HDR + n;
	return 0;
}
