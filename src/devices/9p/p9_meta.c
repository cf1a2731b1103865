/* SPDX-License-Identifier: MIT */
/*
 * 9p: attributes, directory changes, links, sync, locks, xattrs.
 *
 * Operations on a fid use an O_PATH descriptor resolved beneath the root
 * (or the fid's open descriptor, which still works after an unlink).
 * Operations on a name in a directory fid use the directory's O_PATH
 * descriptor and one validated component, so the kernel never follows
 * anything outside.  Where a syscall needs a path for an O_PATH descriptor
 * (chmod, truncate, utimensat), the server uses /proc/self/fd/N of its own
 * descriptor: the inode the descriptor already holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "p9_internal.h"

/* A descriptor for fid: its open one, or a new O_PATH one (*own = true). */
static int fid_fd(struct p9_req *r, uint32_t id, int *fd, bool *own)
{
	struct p9_fid *f = vq__p9_fid_get(r->c, id);

	if (!f)
		return -EBADF;
	*own = f->fd < 0;
	if (!*own) {
		*fd = f->fd;
		return 0;
	}
	return vq__p9_resolve(r->s, f->path, O_PATH, fd);
}

static void fd_release(int fd, bool own)
{
	if (own)
		close(fd);
}

/* A directory fid's O_PATH descriptor. */
static int dir_fd(struct p9_req *r, uint32_t id, struct p9_fid **fp, int *dfd)
{
	struct p9_fid *f = vq__p9_fid_get(r->c, id);

	if (!f)
		return -EBADF;
	if (fp)
		*fp = f;
	return vq__p9_resolve(r->s, f->path, O_PATH | O_DIRECTORY, dfd);
}

static void proc_path(int fd, char *buf, size_t n)
{
	snprintf(buf, n, "/proc/self/fd/%d", fd);
}

/* ---- getattr, setattr, statfs */

int vq__p9_getattr(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd);
	struct stat st;
	struct p9_qid q;
	bool own;
	int fd, err;

	(void)p9_rd_u64(&r->rd); /* request_mask: we answer the basic set */
	P9_END(r);
	err = fid_fd(r, fid, &fd, &own);
	if (err)
		return err;
	err = fstat(fd, &st) < 0 ? -errno : 0;
	fd_release(fd, own);
	if (err)
		return err;
	vq__p9_qid(r->s, &st, &q);
	p9_wr_u64(&r->wr, P9_GETATTR_BASIC);
	p9_wr_qid(&r->wr, &q);
	p9_wr_u32(&r->wr, st.st_mode);
	p9_wr_u32(&r->wr, st.st_uid);
	p9_wr_u32(&r->wr, st.st_gid);
	p9_wr_u64(&r->wr, st.st_nlink);
	p9_wr_u64(&r->wr, st.st_rdev);
	p9_wr_u64(&r->wr, (uint64_t)st.st_size);
	p9_wr_u64(&r->wr, (uint64_t)st.st_blksize);
	p9_wr_u64(&r->wr, (uint64_t)st.st_blocks);
	p9_wr_u64(&r->wr, (uint64_t)st.st_atim.tv_sec);
	p9_wr_u64(&r->wr, (uint64_t)st.st_atim.tv_nsec);
	p9_wr_u64(&r->wr, (uint64_t)st.st_mtim.tv_sec);
	p9_wr_u64(&r->wr, (uint64_t)st.st_mtim.tv_nsec);
	p9_wr_u64(&r->wr, (uint64_t)st.st_ctim.tv_sec);
	p9_wr_u64(&r->wr, (uint64_t)st.st_ctim.tv_nsec);
	for (unsigned i = 0; i < 4; i++)
		p9_wr_u64(&r->wr, 0); /* btime sec/nsec, gen, data_version */
	return 0;
}

struct setattr {
	uint32_t valid, mode, uid, gid;
	uint64_t size, atime_sec, atime_nsec, mtime_sec, mtime_nsec;
};

static struct timespec set_time(uint32_t valid, uint32_t is, uint32_t set, uint64_t sec,
				uint64_t nsec)
{
	if (!(valid & is))
		return (struct timespec){ .tv_nsec = UTIME_OMIT };
	if (!(valid & set))
		return (struct timespec){ .tv_nsec = UTIME_NOW };
	return (struct timespec){ .tv_sec = (time_t)sec, .tv_nsec = (long)nsec };
}

static int setattr_apply(int fd, const struct setattr *a)
{
	struct stat st;
	char pp[40];

	if (fstat(fd, &st) < 0)
		return -errno;
	/* a symlink: only its owner changes (mode, size, times are its target's) */
	if (S_ISLNK(st.st_mode) && (a->valid & ~(P9_SETATTR_UID | P9_SETATTR_GID | P9_SETATTR_CTIME)))
		return -EOPNOTSUPP;
	proc_path(fd, pp, sizeof(pp));
	if ((a->valid & P9_SETATTR_MODE) && chmod(pp, (mode_t)(a->mode & 07777)) < 0)
		return -errno;
	if ((a->valid & (P9_SETATTR_UID | P9_SETATTR_GID)) &&
	    fchownat(fd, "", (a->valid & P9_SETATTR_UID) ? (uid_t)a->uid : (uid_t)-1,
		     (a->valid & P9_SETATTR_GID) ? (gid_t)a->gid : (gid_t)-1,
		     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (a->valid & P9_SETATTR_SIZE) {
		if (a->size > INT64_MAX)
			return -EINVAL;
		if (truncate(pp, (off_t)a->size) < 0)
			return -errno;
	}
	if (a->valid & (P9_SETATTR_ATIME | P9_SETATTR_MTIME)) {
		struct timespec ts[2] = {
			set_time(a->valid, P9_SETATTR_ATIME, P9_SETATTR_ATIME_SET,
				 a->atime_sec, a->atime_nsec),
			set_time(a->valid, P9_SETATTR_MTIME, P9_SETATTR_MTIME_SET,
				 a->mtime_sec, a->mtime_nsec),
		};
		if ((ts[0].tv_nsec >= 1000000000 && ts[0].tv_nsec != UTIME_OMIT &&
		     ts[0].tv_nsec != UTIME_NOW) ||
		    (ts[1].tv_nsec >= 1000000000 && ts[1].tv_nsec != UTIME_OMIT &&
		     ts[1].tv_nsec != UTIME_NOW))
			return -EINVAL;
		if (utimensat(AT_FDCWD, pp, ts, 0) < 0)
			return -errno;
	}
	return 0;
}

int vq__p9_setattr(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd);
	struct setattr a;
	bool own;
	int fd, err;

	a.valid = p9_rd_u32(&r->rd);
	a.mode = p9_rd_u32(&r->rd);
	a.uid = p9_rd_u32(&r->rd);
	a.gid = p9_rd_u32(&r->rd);
	a.size = p9_rd_u64(&r->rd);
	a.atime_sec = p9_rd_u64(&r->rd);
	a.atime_nsec = p9_rd_u64(&r->rd);
	a.mtime_sec = p9_rd_u64(&r->rd);
	a.mtime_nsec = p9_rd_u64(&r->rd);
	P9_END(r);
	err = fid_fd(r, fid, &fd, &own);
	if (err)
		return err;
	err = setattr_apply(fd, &a);
	fd_release(fd, own);
	return err;
}

int vq__p9_statfs(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd);
	struct statfs sf;
	bool own;
	int fd, err;

	P9_END(r);
	err = fid_fd(r, fid, &fd, &own);
	if (err)
		return err;
	err = fstatfs(fd, &sf) < 0 ? -errno : 0;
	fd_release(fd, own);
	if (err)
		return err;
	p9_wr_u32(&r->wr, (uint32_t)sf.f_type);
	p9_wr_u32(&r->wr, (uint32_t)sf.f_bsize);
	p9_wr_u64(&r->wr, sf.f_blocks);
	p9_wr_u64(&r->wr, sf.f_bfree);
	p9_wr_u64(&r->wr, sf.f_bavail);
	p9_wr_u64(&r->wr, sf.f_files);
	p9_wr_u64(&r->wr, sf.f_ffree);
	uint64_t fsid;

	memcpy(&fsid, &sf.f_fsid, sizeof(fsid));
	p9_wr_u64(&r->wr, fsid);
	p9_wr_u32(&r->wr, (uint32_t)sf.f_namelen);
	return 0;
}

/* ---- creating names: mkdir, mknod, symlink */

/* Answer the qid of name in dfd, after giving it to uid:gid. */
static int created_qid(struct p9_req *r, int dfd, const char *name, uint32_t uid,
		       uint32_t gid)
{
	struct stat st;
	struct p9_qid q;

	if (geteuid() == 0)
		(void)!fchownat(dfd, name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	vq__p9_qid(r->s, &st, &q);
	p9_wr_qid(&r->wr, &q);
	return 0;
}

/* Copy a validated name to a C string. */
static int name_cstr(struct p9_str n, char *buf)
{
	if (!vq__p9_name_is_valid(n))
		return -EINVAL;
	memcpy(buf, n.s, n.len);
	buf[n.len] = 0;
	return 0;
}

/* What Tmkdir, Tmknod and Tsymlink make. */
struct p9_make {
	uint8_t type;
	uint32_t mode, major, minor;
	const char *target;
};

/* Make name in the directory dfid as the fid's owner with gid; Rqid. */
static int make_name(struct p9_req *r, uint32_t dfid, struct p9_str name, uint32_t gid,
		     const struct p9_make *m)
{
	char nm[P9_NAME_MAX + 1];
	struct p9_fid *d;
	int dfd, err = name_cstr(name, nm);

	if (!err)
		err = dir_fd(r, dfid, &d, &dfd);
	if (err)
		return err;
	vq__p9_creds_gid(r, gid);
	if (m->type == P9_TMKDIR)
		err = mkdirat(dfd, nm, (mode_t)(m->mode & 07777));
	else if (m->type == P9_TMKNOD)
		err = mknodat(dfd, nm, (mode_t)(m->mode & (S_IFMT | 07777)),
			      makedev(m->major, m->minor));
	else /* the target is text: the server never follows it */
		err = symlinkat(m->target, dfd, nm);
	err = err < 0 ? -errno : created_qid(r, dfd, nm, d->uid, gid);
	close(dfd);
	return err;
}

int vq__p9_mkdir(struct p9_req *r)
{
	uint32_t dfid = p9_rd_u32(&r->rd);
	struct p9_str name = p9_rd_str(&r->rd);
	struct p9_make m = { .type = P9_TMKDIR, .mode = p9_rd_u32(&r->rd) };
	uint32_t gid = p9_rd_u32(&r->rd);

	P9_END(r);
	return make_name(r, dfid, name, gid, &m);
}

int vq__p9_mknod(struct p9_req *r)
{
	uint32_t dfid = p9_rd_u32(&r->rd);
	struct p9_str name = p9_rd_str(&r->rd);
	struct p9_make m = { .type = P9_TMKNOD };
	uint32_t gid;

	m.mode = p9_rd_u32(&r->rd);
	m.major = p9_rd_u32(&r->rd);
	m.minor = p9_rd_u32(&r->rd);
	gid = p9_rd_u32(&r->rd);
	P9_END(r);
	if (!S_ISREG(m.mode) && !S_ISFIFO(m.mode) && !S_ISSOCK(m.mode))
		return -EPERM; /* no device nodes on the host from a client */
	return make_name(r, dfid, name, gid, &m);
}

int vq__p9_symlink(struct p9_req *r)
{
	uint32_t dfid = p9_rd_u32(&r->rd);
	struct p9_str name = p9_rd_str(&r->rd), target = p9_rd_str(&r->rd);
	uint32_t gid = p9_rd_u32(&r->rd);
	char tg[PATH_MAX];

	P9_END(r);
	if (!target.len || target.len >= PATH_MAX || memchr(target.s, 0, target.len))
		return target.len >= PATH_MAX ? -ENAMETOOLONG : -EINVAL;
	memcpy(tg, target.s, target.len);
	tg[target.len] = 0;
	return make_name(r, dfid, name, gid, &(struct p9_make){ .type = P9_TSYMLINK,
								 .target = tg });
}

int vq__p9_readlink(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd);
	char buf[PATH_MAX];
	bool own;
	int fd, err;
	ssize_t n;

	P9_END(r);
	err = fid_fd(r, fid, &fd, &own);
	if (err)
		return err;
	n = readlinkat(fd, "", buf, sizeof(buf));
	err = n < 0 ? -errno : 0;
	fd_release(fd, own);
	if (err)
		return err;
	p9_wr_strn(&r->wr, buf, (size_t)n);
	return 0;
}

/* ---- links, renames, unlinks */

int vq__p9_link(struct p9_req *r)
{
	uint32_t dfid = p9_rd_u32(&r->rd), fid = p9_rd_u32(&r->rd);
	struct p9_str name = p9_rd_str(&r->rd);
	char nm[P9_NAME_MAX + 1];
	struct p9_fid *f = NULL;
	const char *base;
	int dfd, sfd, err;

	P9_END(r);
	err = name_cstr(name, nm);
	if (!err && !(f = vq__p9_fid_get(r->c, fid)))
		err = -EBADF;
	if (!err)
		err = dir_fd(r, dfid, NULL, &dfd);
	if (err)
		return err;
	err = vq__p9_resolve_parent(r->s, f->path, &sfd, &base);
	if (!err) {
		err = linkat(sfd, base, dfd, nm, 0) < 0 ? -errno : 0;
		close(sfd);
	}
	close(dfd);
	return err;
}

/* Rename dir_from/name_from to dir_to/name_to; fids follow. */
static int rename_names(struct p9_req *r, const char *dfrom, struct p9_str nfrom,
			const char *dto, struct p9_str nto)
{
	char *from = NULL, *to = NULL;
	int fd1 = -1, fd2 = -1, err;

	err = vq__p9_path_join(dfrom, nfrom, &from);
	if (!err)
		err = vq__p9_path_join(dto, nto, &to);
	if (!err)
		err = vq__p9_resolve(r->s, dfrom, O_PATH | O_DIRECTORY, &fd1);
	if (!err)
		err = vq__p9_resolve(r->s, dto, O_PATH | O_DIRECTORY, &fd2);
	if (!err && renameat(fd1, from + strlen(from) - nfrom.len, fd2,
			     to + strlen(to) - nto.len) < 0)
		err = -errno;
	if (!err)
		vq__p9_fid_rename(r->s, from, to);
	if (fd1 >= 0)
		close(fd1);
	if (fd2 >= 0)
		close(fd2);
	free(from);
	free(to);
	return err;
}

int vq__p9_rename(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd), dfid = p9_rd_u32(&r->rd);
	struct p9_str name = p9_rd_str(&r->rd);
	struct p9_fid *f, *d;
	struct p9_str old;
	char *dir;
	int err;

	P9_END(r);
	f = vq__p9_fid_get(r->c, fid);
	d = vq__p9_fid_get(r->c, dfid);
	if (!f || !d)
		return -EBADF;
	if (!*f->path)
		return -EBUSY;
	err = vq__p9_path_parent(f->path, &dir);
	if (err)
		return err;
	old.s = f->path + (*dir ? strlen(dir) + 1 : 0);
	old.len = (uint16_t)strlen(old.s);
	err = rename_names(r, dir, old, d->path, name);
	free(dir);
	return err;
}

int vq__p9_renameat(struct p9_req *r)
{
	uint32_t ofid = p9_rd_u32(&r->rd);
	struct p9_str oname = p9_rd_str(&r->rd);
	uint32_t nfid = p9_rd_u32(&r->rd);
	struct p9_str nname = p9_rd_str(&r->rd);
	struct p9_fid *o, *n;

	P9_END(r);
	o = vq__p9_fid_get(r->c, ofid);
	n = vq__p9_fid_get(r->c, nfid);
	if (!o || !n)
		return -EBADF;
	return rename_names(r, o->path, oname, n->path, nname);
}

int vq__p9_unlinkat(struct p9_req *r)
{
	uint32_t dfid = p9_rd_u32(&r->rd);
	struct p9_str name = p9_rd_str(&r->rd);
	uint32_t flags = p9_rd_u32(&r->rd);
	char nm[P9_NAME_MAX + 1];
	int dfd, err;

	P9_END(r);
	if (flags & ~P9_AT_REMOVEDIR)
		return -EINVAL;
	err = name_cstr(name, nm);
	if (!err)
		err = dir_fd(r, dfid, NULL, &dfd);
	if (err)
		return err;
	err = unlinkat(dfd, nm, (flags & P9_AT_REMOVEDIR) ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
	close(dfd);
	return err;
}

/* Tremove: unlink the fid's file and clunk the fid, even on failure. */
int vq__p9_remove(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd);
	struct p9_fid *f;
	const char *base;
	struct stat st;
	int dfd, err;

	P9_END(r);
	f = vq__p9_fid_get(r->c, fid);
	if (!f)
		return -EBADF;
	err = r->s->readonly ? -EROFS : vq__p9_resolve_parent(r->s, f->path, &dfd, &base);
	if (!err) {
		err = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
		if (!err && unlinkat(dfd, base, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
			err = -errno;
		close(dfd);
	}
	vq__p9_fid_del(r->c, fid);
	return err;
}

/* ---- fsync, locks, xattrs */

int vq__p9_fsync(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd), datasync = p9_rd_u32(&r->rd);
	struct p9_fid *f;

	P9_END(r);
	f = vq__p9_fid_get(r->c, fid);
	if (!f || f->fd < 0)
		return -EBADF;
	return (datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0 ? -errno : 0;
}

struct p9_lockreq {
	uint8_t type;
	uint64_t start, length;
	uint32_t proc_id;
	struct p9_str client_id;
};

/* Parse Tlock (with flags) or Tgetlock after the fid; an open locking fid
 * and a struct flock for the request. */
static int lock_prep(struct p9_req *r, bool flags, struct p9_lockreq *l, struct flock *fl,
		     int *fd)
{
	static const short types[] = { F_RDLCK, F_WRLCK, F_UNLCK };
	struct p9_rd *rd = &r->rd;
	uint32_t fid = p9_rd_u32(rd);
	struct p9_fid *f;

	l->type = p9_rd_u8(rd);
	if (flags)
		(void)p9_rd_u32(rd); /* BLOCK is the client's to retry */
	l->start = p9_rd_u64(rd);
	l->length = p9_rd_u64(rd);
	l->proc_id = p9_rd_u32(rd);
	l->client_id = p9_rd_str(rd);
	P9_END(r);
	f = vq__p9_fid_get(r->c, fid);
	if (!f || f->fd < 0)
		return -EBADF;
	if (l->type > P9_LOCK_TYPE_UNLCK || l->start > INT64_MAX || l->length > INT64_MAX)
		return -EINVAL;
	*fl = (struct flock){ .l_type = types[l->type], .l_whence = SEEK_SET,
			      .l_start = (off_t)l->start, .l_len = (off_t)l->length };
	*fd = f->fd;
	return 0;
}

/* Tlock sets a lock (Rlock status); Tgetlock tests one (Rgetlock: the
 * conflicting lock, or the request with type UNLCK). */
static int lock_op(struct p9_req *r, bool get)
{
	struct p9_lockreq l;
	struct flock fl;
	int fd, err = lock_prep(r, !get, &l, &fl, &fd);

	if (err)
		return err;
	if (!get) {
		err = fcntl(fd, F_OFD_SETLK, &fl) == 0 ? P9_LOCK_SUCCESS
		      : (errno == EAGAIN || errno == EACCES) ? P9_LOCK_BLOCKED : P9_LOCK_ERROR;
		p9_wr_u8(&r->wr, (uint8_t)err);
		return 0;
	}
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	p9_wr_u8(&r->wr, fl.l_type == F_RDLCK ? P9_LOCK_TYPE_RDLCK :
			 fl.l_type == F_WRLCK ? P9_LOCK_TYPE_WRLCK : P9_LOCK_TYPE_UNLCK);
	p9_wr_u64(&r->wr, fl.l_type == F_UNLCK ? l.start : (uint64_t)fl.l_start);
	p9_wr_u64(&r->wr, fl.l_type == F_UNLCK ? l.length : (uint64_t)fl.l_len);
	p9_wr_u32(&r->wr, fl.l_type == F_UNLCK ? l.proc_id : (uint32_t)fl.l_pid);
	p9_wr_strn(&r->wr, l.client_id.s, l.client_id.len);
	return 0;
}

int vq__p9_lock(struct p9_req *r)
{
	return lock_op(r, false);
}

int vq__p9_getlock(struct p9_req *r)
{
	return lock_op(r, true);
}

/* No extended attributes: a named one does not exist, listing is refused. */
int vq__p9_xattrwalk(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd);
	struct p9_str name;

	(void)p9_rd_u32(&r->rd); /* newfid: never created */
	name = p9_rd_str(&r->rd);
	P9_END(r);
	if (!vq__p9_fid_get(r->c, fid))
		return -EBADF;
	return name.len ? -ENODATA : -EOPNOTSUPP;
}

int vq__p9_xattrcreate(struct p9_req *r)
{
	uint32_t fid = p9_rd_u32(&r->rd);

	(void)p9_rd_str(&r->rd);
	(void)p9_rd_u64(&r->rd); /* attr_size */
	(void)p9_rd_u32(&r->rd); /* flags */
	P9_END(r);
	if (!vq__p9_fid_get(r->c, fid))
		return -EBADF;
	return -EOPNOTSUPP;
}
