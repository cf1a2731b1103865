/* SPDX-License-Identifier: MIT */
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VQ_TEST_MAX 512
#define SKIP_EXIT 77

struct test_entry {
	const char *name;
	vq_test_fn fn;
	unsigned timeout_s;
};

static struct test_entry tests[VQ_TEST_MAX];
static unsigned ntests;
static int msg_fd = -1; /* child -> parent: the reason for a failure or skip */

void vq_test_register(const char *name, vq_test_fn fn, unsigned timeout_s)
{
	if (ntests == VQ_TEST_MAX) {
		fprintf(stderr, "harness: too many tests (max %d)\n", VQ_TEST_MAX);
		exit(2);
	}
	tests[ntests++] = (struct test_entry){ name, fn, timeout_s };
}

static void vsend(const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s", prefix);

	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if (msg_fd >= 0 && write(msg_fd, buf, strlen(buf)) < 0)
		perror("harness: write");
}

void vq_test_fail(const char *file, int line, const char *fmt, ...)
{
	char where[256];
	va_list ap;

	snprintf(where, sizeof(where), "%s:%d: ", file, line);
	va_start(ap, fmt);
	vsend(where, fmt, ap);
	va_end(ap);
	_exit(1);
}

void vq_test_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsend("", fmt, ap);
	va_end(ap);
	_exit(SKIP_EXIT);
}

uint64_t vq_test_seed(void)
{
	const char *s = getenv("VQ_TEST_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : 0x5eed5eed2026ull;

	printf("  seed 0x%" PRIx64 " (set VQ_TEST_SEED to change)\n", seed);
	fflush(stdout);
	return seed ? seed : 1;
}

uint64_t vq_test_rand(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1Dull;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned timeout_for(const struct test_entry *t)
{
	const char *env = getenv("VQ_TEST_TIMEOUT");
	unsigned base = t->timeout_s ? t->timeout_s : 120;

	if (env && atoi(env) > 0)
		base = (unsigned)atoi(env);
	return base;
}

/* Run one test in a child; returns 0 pass, 1 fail, 2 skip. */
static int run_one(const struct test_entry *t)
{
	int pfd[2];
	char msg[1024] = "";
	int status = 0;
	double t0 = now_s();

	if (pipe(pfd) < 0) {
		perror("pipe");
		return 1;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		close(pfd[0]);
		msg_fd = pfd[1];
		setpgid(0, 0);
		alarm(timeout_for(t));
		t->fn();
		fflush(NULL);
		_exit(0);
	}
	close(pfd[1]);
	ssize_t n, off = 0;
	while (off < (ssize_t)sizeof(msg) - 1 &&
	       (n = read(pfd[0], msg + off, sizeof(msg) - 1 - (size_t)off)) > 0)
		off += n;
	msg[off] = 0;
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	kill(-pid, SIGKILL); /* anything the test left behind */
	double dt = now_s() - t0;

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("PASS %s (%.2fs)\n", t->name, dt);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_EXIT) {
		printf("SKIP %s: %s\n", t->name, msg[0] ? msg : "(no reason given)");
		return 2;
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		printf("FAIL %s: timed out after %us\n", t->name, timeout_for(t));
	else if (WIFSIGNALED(status))
		printf("FAIL %s: killed by signal %d (%s)%s%s\n", t->name, WTERMSIG(status),
		       strsignal(WTERMSIG(status)), msg[0] ? ": " : "", msg);
	else
		printf("FAIL %s: %s\n", t->name, msg[0] ? msg : "exit status non-zero");
	return 1;
}

int main(int argc, char **argv)
{
	unsigned counts[3] = { 0, 0, 0 };

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned i = 0; i < ntests; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		counts[run_one(&tests[i])]++;
	}
	printf("%u passed, %u failed, %u skipped\n", counts[0], counts[1], counts[2]);
	return counts[1] ? 1 : 0;
}
