/* SPDX-License-Identifier: MIT */
/*
 * 9p fids and paths.  A fid is a path relative to the export root; every
 * use resolves it again from the root descriptor with openat2 and
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, so neither
 * "..", nor a symlink, nor a directory renamed out of the export (racing or
 * not) leads outside: the kernel refuses the walk, atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "p9_internal.h"

/* ---- the fid table: a hash of singly linked buckets, bounded by max_fids */

static unsigned bucket(uint32_t id)
{
	return (id * 2654435761u) >> 24; /* top 8 bits: P9_FID_BUCKETS == 256 */
}

struct p9_fid *vq__p9_fid_get(struct vq_9p_conn *c, uint32_t id)
{
	for (struct p9_fid *f = c->fids[bucket(id)]; f; f = f->next)
		if (f->id == id)
			return f;
	return NULL;
}

/* Takes path (malloc'ed) in every case. */
int vq__p9_fid_add(struct vq_9p_conn *c, uint32_t id, uint32_t uid, uint32_t gid,
		   char *path, struct p9_fid **out)
{
	struct p9_fid *f;

	if (id == P9_NOFID || vq__p9_fid_get(c, id)) {
		free(path);
		return -EBADF;
	}
	if (c->nfids >= c->s->max_fids) {
		free(path);
		vq__p9_log(c, "9p: fid limit %u reached", c->s->max_fids);
		return -EMFILE;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		free(path);
		return -ENOMEM;
	}
	f->id = id;
	f->uid = uid;
	f->gid = gid;
	f->path = path;
	f->fd = -1;
	f->next = c->fids[bucket(id)];
	c->fids[bucket(id)] = f;
	c->nfids++;
	*out = f;
	return 0;
}

static void fid_destroy(struct p9_fid *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f);
}

/* Under the namespace lock, exclusive: no io_end runs meanwhile. */
void vq__p9_fid_del(struct vq_9p_conn *c, uint32_t id)
{
	for (struct p9_fid **pp = &c->fids[bucket(id)]; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct p9_fid *f = *pp;

			*pp = f->next;
			c->nfids--;
			if (atomic_load(&f->ioref))
				f->dead = true; /* the last io_end frees it */
			else
				fid_destroy(f);
			return;
		}
	}
}

void vq__p9_io_begin(struct vq_9p *s, struct p9_fid *f)
{
	atomic_fetch_add(&f->ioref, 1);
	pthread_rwlock_unlock(&s->lock);
}

/* Takes the lock shared again: dead is only set under it exclusive, so
 * exactly one io_end sees the last reference of a dead fid. */
void vq__p9_io_end(struct vq_9p *s, struct p9_fid *f)
{
	pthread_rwlock_rdlock(&s->lock);
	if (atomic_fetch_sub(&f->ioref, 1) == 1 && f->dead)
		fid_destroy(f);
}

void vq__p9_fid_clear(struct vq_9p_conn *c)
{
	for (unsigned b = 0; b < P9_FID_BUCKETS; b++) {
		while (c->fids[b]) {
			struct p9_fid *f = c->fids[b];

			c->fids[b] = f->next;
			fid_destroy(f);
		}
	}
	c->nfids = 0;
}

/* After a rename of from -> to, fids at or below from follow it. */
static void conn_fid_rename(struct vq_9p_conn *c, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to);

	for (unsigned b = 0; b < P9_FID_BUCKETS; b++) {
		for (struct p9_fid *f = c->fids[b]; f; f = f->next) {
			if (strncmp(f->path, from, fl) || (f->path[fl] && f->path[fl] != '/'))
				continue;
			size_t rest = strlen(f->path + fl);
			char *np = malloc(tl + rest + 1);

			if (!np)
				continue; /* the fid keeps its old path: it then fails */
			memcpy(np, to, tl);
			memcpy(np + tl, f->path + fl, rest + 1);
			free(f->path);
			f->path = np;
		}
	}
}

/* Under the namespace lock, exclusive: no handler reads a path meanwhile. */
void vq__p9_fid_rename(struct vq_9p *s, const char *from, const char *to)
{
	pthread_mutex_lock(&s->conns_mx);
	for (struct vq_9p_conn *c = s->conns; c; c = c->next)
		conn_fid_rename(c, from, to);
	pthread_mutex_unlock(&s->conns_mx);
}

/* ---- names and paths */

bool vq__p9_name_is_valid(struct p9_str n)
{
	if (!n.len || n.len > P9_NAME_MAX)
		return false;
	if ((n.len == 1 && n.s[0] == '.') || (n.len == 2 && n.s[0] == '.' && n.s[1] == '.'))
		return false;
	return !memchr(n.s, '/', n.len) && !memchr(n.s, 0, n.len);
}

int vq__p9_path_join(const char *dir, struct p9_str name, char **out)
{
	size_t dl = strlen(dir);
	char *p;

	if (!vq__p9_name_is_valid(name))
		return -EINVAL;
	if (dl + 1 + name.len >= PATH_MAX)
		return -ENAMETOOLONG;
	p = malloc(dl + 1 + name.len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, dir, dl);
	if (dl)
		p[dl++] = '/';
	memcpy(p + dl, name.s, name.len);
	p[dl + name.len] = 0;
	*out = p;
	return 0;
}

/* The parent of path by name; the root's parent is the root. */
int vq__p9_path_parent(const char *path, char **out)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	*out = strndup(path, n);
	return *out ? 0 : -ENOMEM;
}

int vq__p9_resolve(struct vq_9p *s, const char *path, int flags, int *fd)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long r;

	for (unsigned tries = 0; tries < 16; tries++) {
		r = syscall(SYS_openat2, s->rootfd, *path ? path : ".", &how, sizeof(how));
		if (r >= 0) {
			*fd = (int)r;
			return 0;
		}
		if (errno != EAGAIN) /* EAGAIN: a rename raced the walk; retry */
			break;
	}
	return -errno;
}

/* The directory holding path, opened O_PATH, and path's last component. */
int vq__p9_resolve_parent(struct vq_9p *s, const char *path, int *dfd,
			  const char **base)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int err;

	if (!*path)
		return -EBUSY; /* the root itself */
	err = vq__p9_path_parent(path, &dir);
	if (err)
		return err;
	err = vq__p9_resolve(s, dir, O_PATH | O_DIRECTORY, dfd);
	free(dir);
	*base = slash ? slash + 1 : path;
	return err;
}

void vq__p9_qid(const struct vq_9p *s, const struct stat *st, struct p9_qid *q)
{
	q->type = S_ISDIR(st->st_mode) ? P9_QTDIR :
		  S_ISLNK(st->st_mode) ? P9_QTSYMLINK : P9_QTFILE;
	q->version = 0;
	q->path = (uint64_t)st->st_ino;
	if (st->st_dev != s->root_dev) /* another file system below the export */
		q->path ^= (uint64_t)st->st_dev << 48;
}
