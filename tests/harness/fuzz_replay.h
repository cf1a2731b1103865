/* SPDX-License-Identifier: MIT */
/*
 * Replay a fuzz target's committed corpus as a unit test: a file
 * tests/unit/fuzz_NAME.c includes fuzz/NAME.c (its LLVMFuzzerTestOneInput)
 * and then this header with FUZZ_TARGET "NAME".  Every input of
 * fuzz/corpus/NAME/ is run once, in order, built by gcc with the normal
 * flags (and SAN=1 / TSAN=1), like libFuzzer's -runs=0: a crash, an
 * invariant failure (abort) or a sanitizer report fails the test.
 */
#ifndef VQ_FUZZ_REPLAY_H
#define VQ_FUZZ_REPLAY_H

#include <dirent.h>
#include <limits.h>
#include <unistd.h>

#include "test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz/corpus/NAME from the repository root (the cwd of make check), or
 * relative to the program (build/tests/NAME). */
static DIR *fr_open(char *dir, size_t n)
{
	char exe[PATH_MAX];
	ssize_t k;
	DIR *d;

	snprintf(dir, n, "fuzz/corpus/%s", FUZZ_TARGET);
	if ((d = opendir(dir)))
		return d;
	k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (k <= 0)
		return NULL;
	exe[k] = '\0';
	snprintf(dir, n, "%.*s/../../fuzz/corpus/%s", (int)(strrchr(exe, '/') - exe), exe,
		 FUZZ_TARGET);
	return opendir(dir);
}

static int fr_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fr_run_one(const char *dir, const char *name)
{
	char path[PATH_MAX + 300];
	FILE *f;
	uint8_t *buf;
	long len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	ASSERT_TRUE(f != NULL);
	ASSERT_EQ(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	ASSERT_GE(len, 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	ASSERT_TRUE(buf != NULL);
	ASSERT_EQ(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
}

TEST_T(corpus_replays_cleanly, 300)
{
	char dir[PATH_MAX], **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d = fr_open(dir, sizeof(dir));

	if (!d)
		SKIP("no fuzz/corpus/%s directory (run from the repository root)", FUZZ_TARGET);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = realloc(names, cap * sizeof(*names));
			ASSERT_TRUE(names != NULL);
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	ASSERT_GT(n, 0);
	qsort(names, n, sizeof(*names), fr_name_cmp);
	for (size_t i = 0; i < n; i++) {
		fr_run_one(dir, names[i]);
		free(names[i]);
	}
	free(names);
#ifdef FUZZ_REPLAY_DONE
	FUZZ_REPLAY_DONE(); /* a target's own teardown (the test runs in a child that skips atexit) */
#endif
	printf("  %zu inputs of fuzz/corpus/%s replayed\n", n, FUZZ_TARGET);
}

#endif
