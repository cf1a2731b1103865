/* SPDX-License-Identifier: MIT */
/*
 * 9P2000.L server confinement: escape attempts through .., symlinks, a
 * directory renamed out of the export, and a racing symlink swap.
 */
#include "9p_fx.h"

/* ---- confinement */

static uint64_t root_ino(struct t9 *t)
{
	struct stat st;

	ASSERT_EQ(stat(t->exp, &st), 0);
	return st.st_ino;
}

TEST(escape_dotdot)
{
	struct t9 t;
	struct p9_qid q;

	t_init(&t, false);
	hostdir(&t, "export/a");
	t_start(&t);
	ASSERT_EQ(t_walk(&t, ROOT, 2, "..", &q), 1);
	ASSERT_EQ_U64(q.path, root_ino(&t));
	ASSERT_EQ(t_walk(&t, ROOT, 3, "../../..", &q), 3);
	ASSERT_EQ_U64(q.path, root_ino(&t));
	ASSERT_EQ(t_walk(&t, ROOT, 4, "a/../../..", &q), 4);
	ASSERT_EQ_U64(q.path, root_ino(&t));
	/* from the root's parent-that-is-the-root, outside is not reachable */
	ASSERT_EQ(t_walk(&t, ROOT, 5, "../outside/secret", NULL), 1);
	ASSERT_EQ(t_clunk(&t, 5), -EBADF);
	/* a name is one component */
	m_begin(&t, P9_TWALK);
	p9_wr_u32(&t.w, ROOT);
	p9_wr_u32(&t.w, 6);
	p9_wr_u16(&t.w, 1);
	p9_wr_str(&t.w, "../outside");
	ASSERT_EQ(m_rpc(&t, P9_RWALK), -EINVAL);
	ASSERT_EQ(t_lcreate(&t, 4, "..", 2, 0644), -EINVAL);
	ASSERT_EQ(t_lcreate(&t, 4, "a/../../x", 2, 0644), -EINVAL);
	ASSERT_EQ(t_dirop(&t, P9_TMKDIR, ROOT, "..", 0755, NULL), -EINVAL);
	ASSERT_EQ(t_renameat(&t, ROOT, "a", ROOT, "../moved"), -EINVAL);
	ASSERT_EQ(access(hp(&t, "moved"), F_OK), -1);
	ASSERT_EQ(access(hp(&t, "export/a"), F_OK), 0);
	t_fini(&t);
}

TEST(escape_symlink)
{
	struct t9 t;
	struct p9_qid q;
	char tgt[200];

	t_init(&t, false);
	snprintf(tgt, sizeof(tgt), "%s", t.out);
	ASSERT_EQ(symlink(tgt, hp(&t, "export/abs")), 0);
	ASSERT_EQ(symlink("../outside", hp(&t, "export/rel")), 0);
	ASSERT_EQ(symlink("../outside/secret", hp(&t, "export/file")), 0);
	t_start(&t);
	/* the link itself can be walked to (its qid says symlink) */
	ASSERT_EQ(t_walk(&t, ROOT, 2, "abs", &q), 1);
	ASSERT_EQ(q.type, P9_QTSYMLINK);
	/* but nothing goes through it */
	ASSERT_EQ(t_walk(&t, ROOT, 3, "abs/secret", NULL), 1);
	ASSERT_EQ(t_walk(&t, ROOT, 3, "rel/secret", NULL), 1);
	ASSERT_EQ(t_clunk(&t, 3), -EBADF);
	ASSERT_EQ(t_lopen(&t, 2, 0), -ELOOP);
	ASSERT_EQ(t_walk(&t, ROOT, 4, "file", NULL), 1);
	ASSERT_EQ(t_lopen(&t, 4, 0), -ELOOP);
	ASSERT_NE(t_lopen(&t, 4, 1 | P9_DOTL_TRUNC), 0);
	/* a symlink as the directory of a create */
	ASSERT_EQ(t_walk(&t, ROOT, 5, "rel", NULL), 1);
	ASSERT_NE(t_dirop(&t, P9_TMKDIR, 5, "x", 0755, NULL), 0);
	ASSERT_NE(t_lcreate(&t, 5, "y", 2, 0644), 0);
	ASSERT_EQ(access(hp(&t, "outside/x"), F_OK), -1);
	ASSERT_EQ(access(hp(&t, "outside/y"), F_OK), -1);
	/* setattr on the link does not reach its target */
	ASSERT_EQ(t_setattr(&t, 4, P9_SETATTR_SIZE, 0, 0, 0, 0), -EOPNOTSUPP);
	ASSERT_EQ(t_setattr(&t, 4, P9_SETATTR_MODE, 0777, 0, 0, 0), -EOPNOTSUPP);
	char buf[32];

	host_read(hp(&t, "outside/secret"), buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "OUTSIDE");
	/* a hard link of the link, not of its target */
	ASSERT_EQ(t_walk(&t, ROOT, 6, NULL, NULL), 0);
	m_begin(&t, P9_TLINK);
	p9_wr_u32(&t.w, 6);
	p9_wr_u32(&t.w, 4);
	p9_wr_str(&t.w, "hard");
	ASSERT_EQ(m_rpc(&t, P9_RLINK), 0);
	struct stat st;

	ASSERT_EQ(lstat(hp(&t, "export/hard"), &st), 0);
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	t_fini(&t);
}

TEST(escape_renamed_out)
{
	struct t9 t;
	struct p9_qid q;

	t_init(&t, false);
	hostdir(&t, "export/a");
	hostdir(&t, "export/a/d");
	hostf(&t, "export/a/d/inner", "in");
	t_start(&t);
	ASSERT_EQ(t_walk(&t, ROOT, 2, "a/d", NULL), 2);
	ASSERT_EQ(t_walk(&t, ROOT, 3, "a", &q), 1);
	/* the host moves d out of the export; the fid does not follow it */
	ASSERT_EQ(rename(hp(&t, "export/a/d"), hp(&t, "outside/d")), 0);
	ASSERT_EQ(t_walk(&t, 2, 4, "inner", NULL), -ENOENT);
	ASSERT_EQ(t_lopen(&t, 2, 0), -ENOENT);
	ASSERT_EQ(t_dirop(&t, P9_TMKDIR, 2, "new", 0755, NULL), -ENOENT);
	ASSERT_EQ(access(hp(&t, "outside/d/new"), F_OK), -1);
	/* ".." is resolved by name: a, inside */
	struct p9_qid up;

	ASSERT_EQ(t_walk(&t, 2, 5, "..", &up), 1);
	ASSERT_EQ_U64(up.path, q.path);
	t_fini(&t);
}

struct racer {
	char d[128], e[128]; /* the two names swapped (hp() is not thread-safe) */
	atomic_bool stop;
	unsigned swaps;
};

/* Swap export/d between a real directory and a symlink to outside. */
static void *race_swap(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(&r->stop)) {
		if (renameat2(AT_FDCWD, r->d, AT_FDCWD, r->e, RENAME_EXCHANGE) == 0)
			r->swaps++;
	}
	return NULL;
}

TEST(escape_racing_swap)
{
	struct t9 t;
	struct racer r = { .swaps = 0 };
	pthread_t th;
	unsigned inside = 0, refused = 0;
	struct timespec t0, now;

	t_init(&t, false);
	hostdir(&t, "export/d");
	hostf(&t, "export/d/secret", "INSIDE");
	ASSERT_EQ(symlink(t.out, hp(&t, "export/e")), 0);
	snprintf(r.d, sizeof(r.d), "%s", hp(&t, "export/d"));
	snprintf(r.e, sizeof(r.e), "%s", hp(&t, "export/e"));
	t_start(&t);
	ASSERT_EQ(pthread_create(&th, NULL, race_swap, &r), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		int n = t_walk(&t, ROOT, 2, "d/secret", NULL);

		if (n == 2 && t_lopen(&t, 2, 0) == 0) {
			int got = t_read(&t, 2, 0, 16);

			ASSERT_EQ(got, 6);
			if (memcmp(t.resp + P9_RREAD_HDR, "INSIDE", 6))
				FAIL("read outside the export: %.7s", t.resp + P9_RREAD_HDR);
			inside++;
		} else {
			refused++;
		}
		if (n == 2)
			ASSERT_EQ(t_clunk(&t, 2), 0);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 < 400);
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	fprintf(stderr, "  %u swaps, %u reads inside, %u refused\n", r.swaps, inside, refused);
	ASSERT_GT(r.swaps, 10);
	ASSERT_GT(inside + refused, 10);
	t_fini(&t);
}
