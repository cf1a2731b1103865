/* SPDX-License-Identifier: MIT */
/*
 * 9p credentials: a server run as root serves each request as the uid its
 * fid was attached with, on the serving thread only: fsuid and fsgid
 * (setfsuid/setfsgid) and the supplementary groups.  glibc's setgroups()
 * changes every thread of the process (it signals them all), so the groups
 * go through the raw system call, which changes the calling thread alone.
 * After the request the thread is root with the server's groups again.
 *
 * A uid's groups come from the user database (getpwuid_r, getgrouplist)
 * at each Tattach and are kept per server, under the namespace lock (an
 * attach holds it exclusive, requests hold it at least shared): the latest
 * attach of a uid decides for all of that uid's fids.  A uid the database
 * does not know has its primary group (the same number) only, never the
 * server's groups.  At most P9_MAX_USERS uids are kept (clients choose
 * uids): the one attached least recently is forgotten first, and its fids
 * then have their primary group only until it attaches again.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "p9_internal.h"

#define P9_MAX_GROUPS 65536 /* NGROUPS_MAX of Linux */
#define P9_MAX_USERS  256u  /* uids remembered; the least recent is forgotten */

int (*vq__p9_groups_hook)(uint32_t uid, gid_t *groups, int max);

struct p9_user {
	uint32_t uid;
	int ngroups;
	gid_t *groups;
	struct p9_user *next;
};

/* The calling thread's supplementary groups, this thread only. */
static int thread_setgroups(int n, const gid_t *g)
{
	return syscall(SYS_setgroups, (size_t)n, g) < 0 ? -errno : 0;
}

int vq__p9_creds_init(struct vq_9p *s)
{
	int n;

	if (!s->creds)
		return 0;
	n = getgroups(0, NULL);
	if (n < 0)
		return -errno;
	s->groups0 = calloc((size_t)n + 1, sizeof(gid_t));
	if (!s->groups0)
		return -ENOMEM;
	s->ngroups0 = getgroups(n, s->groups0);
	return s->ngroups0 < 0 ? -errno : 0;
}

void vq__p9_creds_fini(struct vq_9p *s)
{
	while (s->users) {
		struct p9_user *u = s->users;

		s->users = u->next;
		free(u->groups);
		free(u);
	}
	free(s->groups0);
}

/* uid's groups from the database into *out (malloc'd): the count, or
 * -ENOMEM.  *gid: its primary group, else uid. */
static int db_groups(uint32_t uid, uint32_t *gid, gid_t **out)
{
	struct passwd pw, *res = NULL;
	char buf[1024];
	int n = 32, want;
	gid_t *g = NULL, *ng;

	*gid = uid;
	if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) || !res)
		n = 1;
	else
		*gid = (uint32_t)pw.pw_gid;
	for (;;) {
		if (!(ng = realloc(g, (size_t)n * sizeof(*g)))) {
			free(g);
			return -ENOMEM;
		}
		g = ng;
		want = n;
		if (!res) {
			g[0] = (gid_t)*gid;
			break;
		}
		if (getgrouplist(pw.pw_name, (gid_t)*gid, g, &want) >= 0)
			break;
		if (want <= n || n == P9_MAX_GROUPS) { /* cut at the kernel's limit */
			want = n;
			break;
		}
		n = want < P9_MAX_GROUPS ? want : P9_MAX_GROUPS;
	}
	*out = g;
	return want;
}

/* uid's primary group from the database, else the same number. */
static uint32_t primary_gid(uint32_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) || !res)
		return uid;
	return (uint32_t)pw.pw_gid;
}

static int user_groups(uint32_t uid, uint32_t *gid, gid_t **out)
{
	int n;

	if (!vq__p9_groups_hook)
		return db_groups(uid, gid, out);
	*gid = primary_gid(uid);
	*out = calloc(64, sizeof(gid_t));
	if (!*out)
		return -ENOMEM;
	n = vq__p9_groups_hook(uid, *out, 64);
	return n < 0 ? 0 : n > 64 ? 64 : n;
}

static struct p9_user *user_find(const struct vq_9p *s, uint32_t uid)
{
	for (struct p9_user *u = s->users; u; u = u->next)
		if (u->uid == uid)
			return u;
	return NULL;
}

/* uid's entry at the head of the list (most recent): the one it had, a
 * new one, or the least recent one's, reused.  NULL: out of memory. */
static struct p9_user *user_take(struct vq_9p *s, uint32_t uid)
{
	struct p9_user **pp = &s->users, *u;
	unsigned n = 0;

	for (; *pp; pp = &(*pp)->next, n++)
		if ((*pp)->uid == uid || (n + 1 == P9_MAX_USERS && !(*pp)->next))
			break;
	u = *pp;
	if (u) {
		*pp = u->next; /* unlinked: it goes to the head */
	} else if (!(u = calloc(1, sizeof(*u)))) {
		return NULL;
	}
	u->uid = uid;
	u->next = s->users;
	s->users = u;
	return u;
}

int vq__p9_user_attach(struct vq_9p *s, uint32_t uid, uint32_t *gid)
{
	struct p9_user *u;
	gid_t *g;
	int n;

	if (!s->creds) {
		*gid = primary_gid(uid);
		return 0;
	}
	n = user_groups(uid, gid, &g);
	if (n < 0)
		return n;
	u = user_take(s, uid);
	if (!u) {
		free(g);
		return -ENOMEM;
	}
	free(u->groups);
	u->groups = g;
	u->ngroups = n;
	return 0;
}

static void creds_set(struct p9_ctx *x, uint32_t uid, uint32_t gid)
{
	if (x->fsgid != gid) {
		setfsgid((gid_t)gid);
		x->fsgid = gid;
	}
	if (x->fsuid != uid) {
		setfsuid((uid_t)uid);
		x->fsuid = uid;
	}
}

/* Every T-message but version, attach, auth and flush starts with the fid
 * it acts on (the directory fid for the ones that create).  -EPERM when
 * the groups cannot be switched: the request is refused, never served
 * with the server's groups. */
int vq__p9_creds_enter(struct p9_req *r)
{
	struct p9_rd peek = r->rd;
	const struct p9_user *u;
	struct p9_fid *f;
	gid_t only;
	int err;

	if (!r->s->creds || r->type == P9_TVERSION || r->type == P9_TATTACH ||
	    r->type == P9_TAUTH || r->type == P9_TFLUSH || r->rd.len < 4)
		return 0;
	f = vq__p9_fid_get(r->c, p9_rd_u32(&peek));
	if (!f)
		return 0; /* the handler answers EBADF */
	if (f->uid) {
		u = user_find(r->s, f->uid);
		only = (gid_t)f->gid;
		err = u ? thread_setgroups(u->ngroups, u->groups) : thread_setgroups(1, &only);
		if (err) {
			vq__p9_log(r->c, "9p: cannot switch to the groups of uid %u: %s", f->uid,
				   strerror(-err));
			return -EPERM;
		}
		r->x->groups_switched = true;
	}
	creds_set(r->x, f->uid, f->gid);
	return 0;
}

void vq__p9_creds_leave(struct p9_req *r)
{
	struct p9_ctx *x = r->x;

	creds_set(x, 0, 0);
	if (x->groups_switched && thread_setgroups(r->s->ngroups0, r->s->groups0) == 0)
		x->groups_switched = false;
}

void vq__p9_creds_gid(struct p9_req *r, uint32_t gid)
{
	if (r->s->creds && r->x->fsuid)
		creds_set(r->x, r->x->fsuid, gid);
}
