/* SPDX-License-Identifier: MIT */
/*
 * The tools' support library (tools/common): the number, size, CPU-list
 * and MAC parsers with the reason each failure leaves, the --fd check, and
 * vqt_getopt's outcomes (run, exit 0, usage error) on real argument vectors.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../tools/common/tool.h"
#include "../harness/test.h"

struct u64_case {
	const char *s;
	uint64_t min, max;
	int ret;
	uint64_t want;
	const char *why; /* a substring of vqt_parse_error() on failure */
};

TEST(parse_u64_table)
{
	static const struct u64_case c[] = {
		{ "10", 0, 100, 0, 10, NULL },
		{ "0x10", 0, 100, 0, 16, NULL },
		{ "0", 0, 0, 0, 0, NULL },
		{ "18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX, NULL },
		{ "18446744073709551616", 0, UINT64_MAX, -EINVAL, 0, "too large" },
		{ "-1", 0, 100, -EINVAL, 0, "not a number" },
		{ " 1", 0, 100, -EINVAL, 0, "not a number" },
		{ "", 0, 100, -EINVAL, 0, "not a number" },
		{ "1x", 0, 100, -EINVAL, 0, "not a number" },
		{ "0x", 0, 100, -EINVAL, 0, "not a number" },
		{ "0", 1, 16, -EINVAL, 0, "must be 1..16" },
		{ "17", 1, 16, -EINVAL, 0, "must be 1..16" },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint64_t v = 12345;
		int r = vqt_parse_u64(c[i].s, c[i].min, c[i].max, &v);

		if (r != c[i].ret)
			FAIL("'%s': returned %d, want %d", c[i].s, r, c[i].ret);
		if (r == 0 && v != c[i].want)
			FAIL("'%s': %llu, want %llu", c[i].s, (unsigned long long)v,
			     (unsigned long long)c[i].want);
		if (r == 0 && v == 12345)
			FAIL("'%s': no value stored", c[i].s);
		if (r < 0 && (v != 12345 || !strstr(vqt_parse_error(), c[i].why)))
			FAIL("'%s': value %llu, reason '%s', want '%s'", c[i].s,
			     (unsigned long long)v, vqt_parse_error(), c[i].why);
	}
}

TEST(parse_size_and_count)
{
	static const struct { const char *s; int ret; uint64_t want; } sz[] = {
		{ "4096", 0, 4096 }, { "4k", 0, 4096 }, { "4K", 0, 4096 }, { "4kb", 0, 4096 },
		{ "4KiB", 0, 4096 }, { "1M", 0, 1u << 20 }, { "2g", 0, 2ull << 30 },
		{ "1t", 0, 1ull << 40 }, { "4x", -EINVAL, 0 }, { "4ki", -EINVAL, 0 },
		{ "4kbb", -EINVAL, 0 }, { "k", -EINVAL, 0 }, { "16777216t", -EINVAL, 0 },
	};
	static const struct { const char *s; int ret; uint64_t want; } cnt[] = {
		{ "7", 0, 7 }, { "1k", 0, 1000 }, { "2K", 0, 2000 }, { "3M", 0, 3000000 },
		{ "4G", 0, 4000000000ull }, { "1m", -EINVAL, 0 }, { "5", -EINVAL, 0 },
		{ "99999999999G", -EINVAL, 0 },
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
		v = 0;
		ASSERT_EQ(vqt_parse_size(sz[i].s, &v), sz[i].ret);
		if (sz[i].ret == 0 && v != sz[i].want)
			FAIL("size '%s': %llu, want %llu", sz[i].s, (unsigned long long)v,
			     (unsigned long long)sz[i].want);
	}
	for (size_t i = 0; i < sizeof(cnt) / sizeof(cnt[0]); i++) {
		v = 0;
		/* "5" is below the minimum of 6 */
		ASSERT_EQ(vqt_parse_count(cnt[i].s, 6, UINT64_MAX, &v), cnt[i].ret);
		if (cnt[i].ret == 0 && v != cnt[i].want)
			FAIL("count '%s': %llu, want %llu", cnt[i].s, (unsigned long long)v,
			     (unsigned long long)cnt[i].want);
	}
}

TEST(parse_secs_and_double)
{
	double d = -1;

	ASSERT_EQ(vqt_parse_secs("0.5", 0, 10, &d), 0);
	ASSERT_TRUE(d == 0.5);
	ASSERT_EQ(vqt_parse_secs(".25", 0, 10, &d), 0);
	ASSERT_TRUE(d == 0.25);
	ASSERT_EQ(vqt_parse_secs("11", 0, 10, &d), -EINVAL);
	ASSERT_TRUE(strstr(vqt_parse_error(), "seconds") != NULL);
	ASSERT_EQ(vqt_parse_secs("-1", 0, 10, &d), -EINVAL);
	ASSERT_EQ(vqt_parse_secs("nan", 0, 10, &d), -EINVAL);
	ASSERT_EQ(vqt_parse_secs("1s", 0, 10, &d), -EINVAL);
	ASSERT_EQ(vqt_parse_double("2e5", 0, 1e9, &d), 0);
	ASSERT_TRUE(d == 2e5);
	ASSERT_TRUE(d == 2e5 && strstr(vqt_parse_error(), "seconds") == NULL);
}

TEST(parse_cpus_exist)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);
	int cpus[4] = { -1, -1, -1, -1 };
	char s[32];

	ASSERT_GT(n, 0);
	ASSERT_EQ(vqt_parse_cpus("0", cpus, 4), 1);
	ASSERT_EQ(cpus[0], 0);
	if (n >= 2) {
		ASSERT_EQ(vqt_parse_cpus("1,0", cpus, 4), 2);
		ASSERT_EQ(cpus[0], 1);
		ASSERT_EQ(cpus[1], 0);
		ASSERT_EQ(vqt_parse_cpus("0-1", cpus, 4), 2);
		ASSERT_EQ(cpus[1], 1);
	}
	snprintf(s, sizeof(s), "%ld", n);  /* one past the last CPU */
	ASSERT_EQ(vqt_parse_cpus(s, cpus, 4), -EINVAL);
	ASSERT_TRUE(strstr(vqt_parse_error(), "does not exist") != NULL);
	ASSERT_EQ(vqt_parse_cpus("0,0,0,0,0", cpus, 4), -EINVAL);  /* more than cap */
	ASSERT_EQ(vqt_parse_cpus("1-0", cpus, 4), -EINVAL);
	ASSERT_EQ(vqt_parse_cpus("a", cpus, 4), -EINVAL);
	ASSERT_TRUE(strstr(vqt_parse_error(), "CPU list") != NULL);
	ASSERT_EQ(vqt_parse_cpus(",", cpus, 4), -EINVAL);
}

TEST(parse_mac)
{
	uint8_t m[6] = { 0 };

	ASSERT_EQ(vqt_parse_mac("52:54:00:ab:CD:ef", m), 0);
	ASSERT_MEM_EQ(m, ((const uint8_t[]){ 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef }), 6);
	ASSERT_EQ(vqt_parse_mac("52:54:00:ab:cd", m), -EINVAL);
	ASSERT_EQ(vqt_parse_mac("52:54:00:ab:cd:ef:01", m), -EINVAL);
	ASSERT_EQ(vqt_parse_mac("152:54:00:ab:cd:ef", m), -EINVAL);
	ASSERT_EQ(vqt_parse_mac("zz:54:00:ab:cd:ef", m), -EINVAL);
}

TEST(parse_listen_fd)
{
	int sp[2], l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), fd = -1;
	char s[16];

	ASSERT_GE(l, 0);
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	/* an address length of just the family: the kernel picks an abstract name */
	ASSERT_EQ(bind(l, (struct sockaddr *)&(struct sockaddr_un){ .sun_family = AF_UNIX },
		       sizeof(sa_family_t)), 0);
	ASSERT_EQ(listen(l, 1), 0);
	snprintf(s, sizeof(s), "%d", l);
	ASSERT_EQ(vqt_parse_listen_fd(s, &fd), 0);
	ASSERT_EQ(fd, l);
	snprintf(s, sizeof(s), "%d", sp[0]);
	ASSERT_EQ(vqt_parse_listen_fd(s, &fd), -EINVAL);
	ASSERT_TRUE(strstr(vqt_parse_error(), "not a listening unix socket") != NULL);
	close(sp[1]);
	snprintf(s, sizeof(s), "%d", sp[1]);
	ASSERT_EQ(vqt_parse_listen_fd(s, &fd), -EINVAL);
	ASSERT_TRUE(strstr(vqt_parse_error(), "not open") != NULL);
	ASSERT_EQ(vqt_parse_listen_fd("x", &fd), -EINVAL);
	ASSERT_EQ(fd, l);
}

struct cli_seen {
	unsigned n;
	int last;
};

static int one(void *ctx, int c, const char *arg)
{
	struct cli_seen *s = ctx;
	unsigned v;

	s->n++;
	s->last = c;
	return c == 'q' ? vqt_parse_uint(arg, 1, 8, &v) : 0;
}

/* vqt_getopt over argv (NULL-terminated); the return, *seen filled. */
static int run_cli(char **argv, struct cli_seen *seen)
{
	static const struct option lo[] = {
		VQT_COMMON_OPTIONS,
		{ "queues", required_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct vqt_cli cli = {
		.prog = "tool_parse", .help = "help text\n", .shortopts = "q:v",
		.longopts = lo, .one = one, .ctx = seen,
	};
	int argc = 0;

	while (argv[argc])
		argc++;
	*seen = (struct cli_seen){ 0 };
	optind = 1;
	return vqt_getopt(&cli, argc, argv);
}

TEST(getopt_outcomes)
{
	struct cli_seen s;

	ASSERT_EQ(run_cli((char *[]){ "t", "-q", "2", "--verbose", "operand", NULL }, &s), 0);
	ASSERT_EQ(s.n, 2);
	ASSERT_EQ(optind, 4); /* the operand is left for the caller */
	ASSERT_EQ(run_cli((char *[]){ "t", "--version", NULL }, &s), 1);
	ASSERT_EQ(run_cli((char *[]){ "t", "--help", NULL }, &s), 1);
	ASSERT_EQ(s.n, 0);
	ASSERT_EQ(run_cli((char *[]){ "t", "--queues", "9", NULL }, &s), -1);
	ASSERT_EQ(s.last, 'q');
	ASSERT_EQ(run_cli((char *[]){ "t", "--queues", NULL }, &s), -1);
	ASSERT_EQ(s.n, 0);
	ASSERT_EQ(run_cli((char *[]){ "t", "--bogus", NULL }, &s), -1);
	ASSERT_EQ(run_cli((char *[]){ "t", "-x", NULL }, &s), -1);
	ASSERT_EQ(run_cli((char *[]){ "t", "--log-format", "xml", NULL }, &s), -1);
	ASSERT_EQ(run_cli((char *[]){ "t", "--log-format", "json", NULL }, &s), 0);
	ASSERT_TRUE(vqt_log_is_json());
}
