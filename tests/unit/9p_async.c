/* SPDX-License-Identifier: MIT */
/*
 * 9p requests in flight (vq_9p_conn_start/submit): many tags served at once
 * by the workers, Tflush of a running read (its answer precedes Rflush) and
 * of a queued one, a tag reused while in flight (the connection breaks),
 * Tversion flushing everything; then per-request credentials (setfsuid,
 * and the supplementary groups on the serving thread only) and a rename on
 * one connection seen by the fids of another.
 *
 * A test hook (vq__p9_io_hook) stands in for slow storage: it runs before
 * each file I/O on the serving thread and either waits for N requests to be
 * inside at once (a serial server never gets there) or blocks until its
 * request is flushed (a signal cuts the sleep short).
 */
#include <pwd.h>
#include <signal.h>
#include <time.h>

#include "9p_fx.h"
#include "devices/9p/p9_internal.h"

#define NREQ 32u
#define RBUF 8192u

struct areq {
	uint8_t req[64];
	uint8_t resp[RBUF];
	struct iovec rq, rs;
	int len;
};

static struct {
	pthread_mutex_t mx;
	pthread_cond_t cv;
	struct areq r[NREQ + 8];
	unsigned order[NREQ + 8]; /* cookies in done order */
	unsigned ndone;
	unsigned dup; /* done called twice for one request */
} A = { .mx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static atomic_uint entered, inside_max, inside;
static atomic_int hook_mode; /* 1: rendezvous of 4, 2: block until flushed */
static atomic_bool met;      /* the rendezvous happened before its deadline */
static atomic_bool linger;   /* done stays busy a while after the answer */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int hook(struct p9_ctx *x)
{
	unsigned in = atomic_fetch_add(&inside, 1) + 1;

	atomic_fetch_add(&entered, 1);
	if (in > atomic_load(&inside_max))
		atomic_store(&inside_max, in);
	if (atomic_load(&hook_mode) == 1) {
		double end = now_s() + 5;

		while (atomic_load(&inside) < 4 && !atomic_load(&met) && now_s() < end)
			usleep(1000);
		if (atomic_load(&inside) >= 4)
			atomic_store(&met, true);
	} else if (atomic_load(&hook_mode) == 2) {
		struct timespec ts = { 10, 0 };

		while (nanosleep(&ts, &ts) < 0 && !vq__p9_is_cancelled(x))
			;
		atomic_fetch_sub(&inside, 1);
		return vq__p9_is_cancelled(x) ? -EINTR : 0;
	}
	atomic_fetch_sub(&inside, 1);
	return 0;
}

static void on_done(void *opaque, void *cookie, int len)
{
	unsigned i = (unsigned)(uintptr_t)cookie;

	(void)opaque;
	pthread_mutex_lock(&A.mx);
	if (A.r[i].len)
		A.dup++;
	A.r[i].len = len;
	A.order[A.ndone++] = i;
	pthread_cond_broadcast(&A.cv);
	pthread_mutex_unlock(&A.mx);
	if (atomic_load(&linger))
		usleep(50000); /* e.g. still writing the socket: the client has it */
}

static void a_reset(void)
{
	memset(A.r, 0, sizeof(A.r));
	A.ndone = 0;
	A.dup = 0;
	atomic_store(&entered, 0);
	atomic_store(&inside, 0);
	atomic_store(&inside_max, 0);
	atomic_store(&met, false);
}

/* Build request i: type with tag, the body written by the caller into *w. */
static struct p9_wr a_begin(unsigned i, uint8_t type, uint16_t tag)
{
	struct p9_wr w = { .p = A.r[i].req, .cap = sizeof(A.r[i].req) };

	p9_wr_hdr(&w, type, tag);
	return w;
}

static int a_submit(struct vq_9p_conn *c, unsigned i, struct p9_wr *w)
{
	struct areq *r = &A.r[i];

	p9_wr_set_size(w, (uint32_t)w->off);
	r->rq = (struct iovec){ r->req, w->off };
	r->rs = (struct iovec){ r->resp, sizeof(r->resp) };
	return vq_9p_conn_submit(c, &r->rq, 1, &r->rs, 1, (void *)(uintptr_t)i);
}

static int a_read(struct vq_9p_conn *c, unsigned i, uint16_t tag, uint32_t fid, uint64_t off,
		  uint32_t count)
{
	struct p9_wr w = a_begin(i, P9_TREAD, tag);

	p9_wr_u32(&w, fid);
	p9_wr_u64(&w, off);
	p9_wr_u32(&w, count);
	return a_submit(c, i, &w);
}

static int a_flush(struct vq_9p_conn *c, unsigned i, uint16_t tag, uint16_t oldtag)
{
	struct p9_wr w = a_begin(i, P9_TFLUSH, tag);

	p9_wr_u16(&w, oldtag);
	return a_submit(c, i, &w);
}

/* Wait until n requests are done (5 s at most); returns how many are. */
static unsigned a_wait(unsigned n)
{
	double end = now_s() + 5;
	unsigned got;

	pthread_mutex_lock(&A.mx);
	while (A.ndone < n && now_s() < end) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&A.cv, &A.mx, &ts);
	}
	got = A.ndone;
	pthread_mutex_unlock(&A.mx);
	return got;
}

/* The answer to request i: its type (tag checked), body in *rd. */
static uint8_t a_answer(unsigned i, uint16_t tag, struct p9_rd *rd)
{
	*rd = (struct p9_rd){ .p = A.r[i].resp, .len = (size_t)A.r[i].len };
	ASSERT_GE(A.r[i].len, (int)P9_HDR);
	ASSERT_EQ(p9_rd_u32(rd), (uint32_t)A.r[i].len);
	uint8_t type = p9_rd_u8(rd);

	ASSERT_EQ(p9_rd_u16(rd), tag);
	return type;
}

/* A started connection with fid 2 open on "data" (NREQ * 100 bytes). */
static void a_setup(struct t9 *t, unsigned workers, unsigned tags)
{
	char content[NREQ * 100 + 1];
	struct vq_9p_async_params ap = { .workers = workers, .max_tags = tags, .done = on_done };

	for (unsigned i = 0; i < NREQ * 100; i++)
		content[i] = (char)('a' + i % 26);
	content[NREQ * 100] = 0;
	t_init(t, false);
	hostf(t, "export/data", content);
	t_start(t);
	ASSERT_EQ(t_walk(t, ROOT, 2, "data", NULL), 1);
	ASSERT_EQ(t_lopen(t, 2, 0), 0);
	a_reset();
	ASSERT_EQ(vq_9p_conn_start(t->c, &ap), 0);
	ASSERT_EQ(vq_9p_conn_start(t->c, &ap), -EINVAL); /* once */
}

/* a_setup, then request 0 (Tread of count bytes with tag) blocks in the
 * I/O hook until it is flushed. */
static void a_setup_blocked(struct t9 *t, unsigned workers, uint16_t tag, uint32_t count)
{
	a_setup(t, workers, 8);
	vq__p9_io_hook = hook;
	atomic_store(&hook_mode, 2);
	ASSERT_EQ(a_read(t->c, 0, tag, 2, 0, count), 0);
	while (atomic_load(&entered) < 1)
		usleep(1000);
}

static void a_fini(struct t9 *t)
{
	atomic_store(&hook_mode, 0);
	vq__p9_io_hook = NULL;
	t_fini(t);
}

TEST(many_tags_in_flight)
{
	struct t9 t;
	struct p9_rd rd;

	a_setup(&t, 4, 64);
	vq__p9_io_hook = hook;
	atomic_store(&hook_mode, 1);
	for (unsigned i = 0; i < NREQ; i++)
		ASSERT_EQ(a_read(t.c, i, (uint16_t)(100 + i), 2, i * 100, 100), 0);
	ASSERT_EQ(a_wait(NREQ), NREQ);
	ASSERT_TRUE(atomic_load(&met)); /* 4 requests were in the file I/O at once */
	ASSERT_GE(atomic_load(&inside_max), 4);
	ASSERT_EQ(A.dup, 0);
	for (unsigned i = 0; i < NREQ; i++) {
		ASSERT_EQ(a_answer(i, (uint16_t)(100 + i), &rd), P9_RREAD);
		ASSERT_EQ(p9_rd_u32(&rd), 100);
		for (unsigned k = 0; k < 100; k++)
			ASSERT_EQ(rd.p[rd.off + k], 'a' + (i * 100 + k) % 26);
	}
	for (unsigned ms = 0; vq_9p_conn_inflight(t.c) && ms < 2000; ms++)
		usleep(1000); /* a slot is freed just after its done returns */
	ASSERT_EQ(vq_9p_conn_inflight(t.c), 0);
	a_fini(&t);
}

TEST(flush_of_a_pending_read)
{
	struct t9 t;
	struct p9_rd rd;
	struct p9_wr w;
	double t0;

	a_setup_blocked(&t, 2, 5, 100);
	/* a slow read does not hold up the others */
	w = a_begin(1, P9_TGETATTR, 6);
	p9_wr_u32(&w, 2);
	p9_wr_u64(&w, P9_GETATTR_BASIC);
	ASSERT_EQ(a_submit(t.c, 1, &w), 0);
	ASSERT_EQ(a_wait(1), 1);
	ASSERT_EQ(A.order[0], 1);
	ASSERT_EQ(a_answer(1, 6, &rd), P9_RGETATTR);
	t0 = now_s();
	ASSERT_EQ(a_flush(t.c, 2, 7, 5), 0);
	ASSERT_LT((now_s() - t0) * 1000, 3000); /* cut short, not the hook's 10 s */
	ASSERT_EQ(a_wait(3), 3);
	ASSERT_EQ(A.order[1], 0); /* the read's answer first, then Rflush */
	ASSERT_EQ(A.order[2], 2);
	ASSERT_EQ(a_answer(0, 5, &rd), P9_RLERROR);
	ASSERT_EQ(p9_rd_u32(&rd), EINTR);
	ASSERT_EQ(a_answer(2, 7, &rd), P9_RFLUSH);
	ASSERT_TRUE(p9_rd_is_done(&rd));
	/* a flush of a tag not in flight is answered at once */
	ASSERT_EQ(a_flush(t.c, 3, 8, 5), 0);
	ASSERT_EQ(A.ndone, 4);
	ASSERT_EQ(a_answer(3, 8, &rd), P9_RFLUSH);
	ASSERT_EQ(A.dup, 0);
	a_fini(&t);
}

TEST(flush_of_a_queued_read)
{
	struct t9 t;
	struct p9_rd rd;

	a_setup_blocked(&t, 1, 1, 10); /* runs, blocks */
	ASSERT_EQ(a_read(t.c, 1, 2, 2, 0, 10), 0); /* queued behind it */
	ASSERT_EQ(vq_9p_conn_inflight(t.c), 2);
	ASSERT_EQ(a_flush(t.c, 2, 3, 2), 0);
	ASSERT_EQ(A.ndone, 2);
	ASSERT_EQ(A.order[0], 1);
	ASSERT_EQ(A.order[1], 2);
	ASSERT_EQ(a_answer(1, 2, &rd), P9_RLERROR);
	ASSERT_EQ(a_answer(2, 3, &rd), P9_RFLUSH);
	ASSERT_EQ(vq_9p_conn_inflight(t.c), 1);  /* the first still runs */
	ASSERT_EQ(atomic_load(&entered), 1);     /* the queued one never did I/O */
	/* Tversion: a new session flushes what is left */
	struct p9_wr w = a_begin(3, P9_TVERSION, P9_NOTAG);

	p9_wr_u32(&w, MSIZE);
	p9_wr_str(&w, P9_VERSION_L);
	ASSERT_EQ(a_submit(t.c, 3, &w), 0);
	ASSERT_EQ(A.ndone, 4);
	ASSERT_EQ(A.order[2], 0);
	ASSERT_EQ(A.order[3], 3);
	ASSERT_EQ(a_answer(3, P9_NOTAG, &rd), P9_RVERSION);
	ASSERT_EQ(vq_9p_conn_nfids(t.c), 0);
	a_fini(&t);
}

TEST(duplicate_tag_breaks_the_connection)
{
	struct t9 t;
	struct p9_rd rd;
	int logs;

	a_setup_blocked(&t, 2, 9, 10);
	logs = t.loglines;
	ASSERT_EQ(a_read(t.c, 1, 9, 2, 0, 10), -EPROTO);
	ASSERT_EQ(t.loglines, logs + 1);
	ASSERT_TRUE(vq_9p_conn_is_broken(t.c));
	ASSERT_EQ(a_read(t.c, 2, 10, 2, 0, 10), -EPROTO); /* sticky */
	ASSERT_EQ(A.ndone, 0);
	/* freeing the connection flushes the blocked read: done once, EINTR */
	vq_9p_conn_free(t.c);
	t.c = NULL;
	ASSERT_EQ(A.ndone, 1);
	ASSERT_EQ(a_answer(0, 9, &rd), P9_RLERROR);
	ASSERT_EQ(p9_rd_u32(&rd), EINTR);
	ASSERT_EQ(vq_9p_conn_new(t.s, &t.c), 0);
	a_fini(&t);
}

/* A client may reuse a tag as soon as it has the answer, even while the
 * transport's done is still running: that is no duplicate. */
TEST(tag_reused_once_answered)
{
	struct t9 t;
	struct p9_rd rd;

	a_setup(&t, 2, 8);
	atomic_store(&linger, true);
	ASSERT_EQ(a_read(t.c, 0, 4, 2, 0, 10), 0);
	ASSERT_EQ(a_wait(1), 1);
	ASSERT_EQ(a_read(t.c, 1, 4, 2, 10, 10), 0);
	ASSERT_EQ(a_wait(2), 2);
	ASSERT_FALSE(vq_9p_conn_is_broken(t.c));
	ASSERT_EQ(a_answer(1, 4, &rd), P9_RREAD);
	ASSERT_EQ(p9_rd_u32(&rd), 10);
	/* a flush of it waits for the lingering done, then Rflush */
	ASSERT_EQ(a_flush(t.c, 2, 5, 4), 0);
	ASSERT_EQ(A.ndone, 3);
	ASSERT_EQ(a_answer(2, 5, &rd), P9_RFLUSH);
	atomic_store(&linger, false);
	a_fini(&t);
}

/* Attach fid as uid (n_uname). */
static int attach_as(struct t9 *t, uint32_t fid, uint32_t uid)
{
	m_begin(t, P9_TATTACH);
	p9_wr_u32(&t->w, fid);
	p9_wr_u32(&t->w, P9_NOFID);
	p9_wr_str(&t->w, "");
	p9_wr_str(&t->w, "");
	p9_wr_u32(&t->w, uid);
	return m_rpc(t, P9_RATTACH);
}

static int mkdir_gid(struct t9 *t, uint32_t dfid, const char *name, uint32_t gid)
{
	m_begin(t, P9_TMKDIR);
	p9_wr_u32(&t->w, dfid);
	p9_wr_str(&t->w, name);
	p9_wr_u32(&t->w, 0755);
	p9_wr_u32(&t->w, gid);
	return m_rpc(t, P9_RMKDIR);
}

/* export/secret (root's, mode 0600) on a started connection: fid 50
 * attached as uid, fid 51 walked from it to the secret. */
static void secret_as(struct t9 *t, uint32_t uid)
{
	hostf(t, "export/secret", "root only");
	ASSERT_EQ(chmod(hp(t, "export/secret"), 0600), 0);
	ASSERT_EQ(chmod(t->exp, 0777), 0);
	t_start(t);
	ASSERT_EQ(attach_as(t, 50, uid), 0);
	ASSERT_EQ(t_walk(t, 50, 51, "secret", NULL), 1);
}

TEST(credentials_per_request)
{
	struct t9 t;
	struct stat st;
	uint32_t uid = 23456; /* in no passwd database: its group is 23456 */

	if (geteuid() != 0)
		SKIP("credentials need root (setfsuid)");
	ASSERT_TRUE(getpwuid(uid) == NULL);
	t_init(&t, false);
	secret_as(&t, uid);
	ASSERT_EQ(t_lopen(&t, 51, 0), -EACCES); /* the kernel checked uid 23456 */
	ASSERT_EQ(t_walk(&t, ROOT, 52, "secret", NULL), 1);
	ASSERT_EQ(t_lopen(&t, 52, 0), 0);       /* root's fid may */
	/* what uid creates is its own, with the gid it asks for */
	ASSERT_EQ(mkdir_gid(&t, 50, "mine", 777), 0);
	ASSERT_EQ(stat(hp(&t, "export/mine"), &st), 0);
	ASSERT_EQ(st.st_uid, uid);
	ASSERT_EQ(st.st_gid, 777);
	ASSERT_EQ(t_walk(&t, 50, 53, "mine", NULL), 1);
	ASSERT_EQ(t_lcreate(&t, 53, "f", 2, 0600), 0);
	ASSERT_EQ(stat(hp(&t, "export/mine/f"), &st), 0);
	ASSERT_EQ(st.st_uid, uid);
	/* the serving thread is root again afterwards: the host can look */
	ASSERT_EQ(access(hp(&t, "export/secret"), R_OK), 0);
	t_fini(&t);
	/* with no_creds, everything is served as root */
	t_init(&t, false);
	vq_9p_conn_free(t.c);
	vq_9p_free(t.s);
	struct vq_9p_params p = { .export_dir = t.exp, .no_creds = true, .log = count_log,
				  .log_opaque = &t };

	ASSERT_EQ(vq_9p_new(&p, &t.s), 0);
	ASSERT_EQ(vq_9p_conn_new(t.s, &t.c), 0);
	secret_as(&t, uid);
	ASSERT_EQ(t_lopen(&t, 51, 0), 0);
	t_fini(&t);
}

/* ---- supplementary groups, per serving thread */

#define G_UID 23456u /* in no passwd database */
#define G_GID 34567u /* its one supplementary group, while g_member */

static atomic_bool g_member;
static gid_t g_seen[8];
static atomic_int g_nseen;

static int groups_hook(uint32_t uid, gid_t *groups, int max)
{
	if (uid != G_UID || !atomic_load(&g_member) || max < 1)
		return 0;
	groups[0] = G_GID;
	return 1;
}

/* The I/O hook: the serving thread's groups in the middle of a request. */
static int groups_seen(struct p9_ctx *x)
{
	(void)x;
	atomic_store(&g_nseen, getgroups(8, g_seen));
	return 0;
}

/* The calling thread's groups are still mine[0..n). */
static void groups_unchanged(const gid_t *mine, int n)
{
	gid_t now[64];

	ASSERT_EQ(getgroups(64, now), n);
	ASSERT_MEM_EQ(now, mine, (size_t)n * sizeof(gid_t));
}

/*
 * export/grp is readable through group G_GID only (root:G_GID, 0040).  uid
 * G_UID reads it while G_GID is among its groups, inline and on a worker
 * (which has G_UID's groups during the I/O while this thread keeps its
 * own: glibc's process-wide setgroups would fail that), and no longer once
 * the group is removed and the uid attaches again.
 */
TEST(supplementary_groups_per_request)
{
	struct vq_9p_async_params ap = { .workers = 2, .max_tags = 8, .done = on_done };
	gid_t mine[64];
	struct p9_rd rd;
	struct t9 t;
	int n;

	if (geteuid() != 0)
		SKIP("supplementary groups need root (setgroups)");
	ASSERT_TRUE(getpwuid(G_UID) == NULL);
	n = getgroups(64, mine);
	ASSERT_GE(n, 0);
	t_init(&t, false);
	hostf(&t, "export/grp", "group only");
	ASSERT_EQ(chown(hp(&t, "export/grp"), 0, G_GID), 0);
	ASSERT_EQ(chmod(hp(&t, "export/grp"), 0040), 0);
	ASSERT_EQ(chmod(t.exp, 0755), 0);
	vq__p9_groups_hook = groups_hook;
	atomic_store(&g_member, true);
	t_start(&t);
	ASSERT_EQ(attach_as(&t, 50, G_UID), 0);
	ASSERT_EQ(t_walk(&t, 50, 51, "grp", NULL), 1);
	ASSERT_EQ(t_lopen(&t, 51, 0), 0);
	ASSERT_EQ(t_read(&t, 51, 0, 100), 10);
	ASSERT_EQ(memcmp(t.resp + 11, "group only", 10), 0);
	groups_unchanged(mine, n); /* the inline path gave them back */

	a_reset();
	vq__p9_io_hook = groups_seen;
	atomic_store(&g_nseen, -1);
	ASSERT_EQ(vq_9p_conn_start(t.c, &ap), 0);
	ASSERT_EQ(a_read(t.c, 0, 3, 51, 0, 100), 0);
	ASSERT_EQ(a_wait(1), 1);
	ASSERT_EQ(a_answer(0, 3, &rd), P9_RREAD);
	ASSERT_EQ(p9_rd_u32(&rd), 10);
	ASSERT_EQ(atomic_load(&g_nseen), 1);
	ASSERT_EQ(g_seen[0], G_GID);
	groups_unchanged(mine, n);
	vq_9p_conn_free(t.c);

	/* the group removed: the uid's next attach has it no more */
	atomic_store(&g_member, false);
	ASSERT_EQ(vq_9p_conn_new(t.s, &t.c), 0);
	t_start(&t);
	ASSERT_EQ(attach_as(&t, 50, G_UID), 0);
	ASSERT_EQ(t_walk(&t, 50, 51, "grp", NULL), 1);
	ASSERT_EQ(t_lopen(&t, 51, 0), -EACCES);
	groups_unchanged(mine, n);
	vq__p9_groups_hook = NULL;
	a_fini(&t);
}

static int renameat_names(struct t9 *t, uint32_t dfid, const char *from, const char *to)
{
	m_begin(t, P9_TRENAMEAT);
	p9_wr_u32(&t->w, dfid);
	p9_wr_str(&t->w, from);
	p9_wr_u32(&t->w, dfid);
	p9_wr_str(&t->w, to);
	return m_rpc(t, P9_RRENAMEAT);
}

TEST(rename_on_another_connection)
{
	struct t9 t;
	struct vq_9p_conn *c1, *c2;

	t_init(&t, false);
	hostdir(&t, "export/d");
	hostdir(&t, "export/d/sub");
	hostf(&t, "export/d/f", "moved along");
	c1 = t.c;
	t_start(&t);
	ASSERT_EQ(t_walk(&t, ROOT, 10, "d/f", NULL), 2);
	ASSERT_EQ(t_walk(&t, ROOT, 11, "d", NULL), 1);
	ASSERT_EQ(t_walk(&t, ROOT, 12, "d/sub", NULL), 2);
	/* connection 2 renames the directory */
	ASSERT_EQ(vq_9p_conn_new(t.s, &c2), 0);
	t.c = c2;
	t_start(&t);
	ASSERT_EQ(renameat_names(&t, ROOT, "d", "e"), 0);
	ASSERT_EQ(access(hp(&t, "export/e/f"), F_OK), 0);
	/* connection 1's fids follow it */
	t.c = c1;
	ASSERT_EQ(t_lopen(&t, 10, 0), 0);
	ASSERT_EQ(t_read(&t, 10, 0, 100), 11);
	ASSERT_EQ(memcmp(t.resp + 11, "moved along", 11), 0);
	ASSERT_EQ(t_walk(&t, 11, 13, "f", NULL), 1);
	ASSERT_EQ(t_walk(&t, 12, 14, "..", NULL), 1);
	ASSERT_EQ(t_walk(&t, 14, 15, "f", NULL), 1);
	/* the old name is gone for everyone */
	ASSERT_EQ(t_walk(&t, ROOT, 16, "d", NULL), -ENOENT);
	vq_9p_conn_free(c2);
	t_fini(&t);
}
