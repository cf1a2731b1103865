/* SPDX-License-Identifier: MIT */
/* Number parsers of the tools (see tool.h). */
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

static __thread char why[128];

const char *vqt_parse_error(void)
{
	return why;
}

int vqt_parse_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The number at the start of s: decimal, or hex after 0x.  *end past it. */
static int leading_u64(const char *s, uint64_t *v, char **end)
{
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');

	why[0] = 0;
	if (!isdigit((unsigned char)*s) || (hex && !isxdigit((unsigned char)s[2])))
		return vqt_parse_fail("not a number");
	errno = 0;
	*v = strtoull(s, end, hex ? 16 : 10);
	if (errno)
		return vqt_parse_fail("too large");
	return 0;
}

static int in_range(uint64_t v, uint64_t min, uint64_t max)
{
	if (v < min || v > max)
		return vqt_parse_fail("must be %llu..%llu", (unsigned long long)min,
				      (unsigned long long)max);
	return 0;
}

int vqt_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	uint64_t v;
	int r = leading_u64(s, &v, &end);

	if (r < 0)
		return r;
	if (*end)
		return vqt_parse_fail("not a number");
	if ((r = in_range(v, min, max)) < 0)
		return r;
	*out = v;
	return 0;
}

int vqt_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	uint64_t v;
	int r = vqt_parse_u64(s, min, max, &v);

	if (r == 0)
		*out = (unsigned)v;
	return r;
}

/* A binary suffix (k, m, g, t; then b or ib): its shift, or -1. */
static int size_shift(const char *e)
{
	static const char units[] = "kmgt";
	const char *u = *e ? strchr(units, tolower((unsigned char)*e)) : NULL;
	int shift = u ? 10 * (int)(u - units + 1) : -1;

	if (!*e)
		return 0;
	if (!u || !*++e)
		return shift;
	if (tolower((unsigned char)*e) == 'i')
		e++;
	return tolower((unsigned char)*e) == 'b' && !e[1] ? shift : -1;
}

int vqt_parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t v;
	int r = leading_u64(s, &v, &end), shift;

	if (r < 0)
		return r;
	shift = size_shift(end);
	if (shift < 0)
		return vqt_parse_fail("not a size (bytes, or with k, m, g, t)");
	if (shift && v > (UINT64_MAX >> shift))
		return vqt_parse_fail("too large");
	*out = v << shift;
	return 0;
}

int vqt_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	uint64_t v, mul = 1;
	int r = leading_u64(s, &v, &end);

	if (r < 0)
		return r;
	if (*end == 'k' || *end == 'K')
		mul = 1000, end++;
	else if (*end == 'M')
		mul = 1000000, end++;
	else if (*end == 'G')
		mul = 1000000000, end++;
	if (*end)
		return vqt_parse_fail("not a count (a number, or with k, M, G)");
	if (__builtin_mul_overflow(v, mul, &v))
		return vqt_parse_fail("too large");
	if ((r = in_range(v, min, max)) < 0)
		return r;
	*out = v;
	return 0;
}

/* A decimal number (fractions allowed) in [min, max]; unit names it. */
static int parse_real(const char *s, double min, double max, const char *unit, double *out)
{
	char *end;
	double v;

	why[0] = 0;
	if (!isdigit((unsigned char)*s) && *s != '.')
		return vqt_parse_fail("not a number");
	v = strtod(s, &end);
	if (end == s || *end || v != v)
		return vqt_parse_fail("not a number");
	if (v < min || v > max)
		return vqt_parse_fail("must be %g..%g%s", min, max, unit);
	*out = v;
	return 0;
}

int vqt_parse_double(const char *s, double min, double max, double *out)
{
	return parse_real(s, min, max, "", out);
}

int vqt_parse_secs(const char *s, double min, double max, double *out)
{
	return parse_real(s, min, max, " seconds", out);
}

/* CPU c exists (is configured) on this machine. */
static bool cpu_exists(unsigned c)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u", c);
	if (access(path, F_OK) == 0)
		return true;
	long n = sysconf(_SC_NPROCESSORS_CONF);

	return access("/sys/devices/system/cpu", F_OK) != 0 && n > 0 && c < (unsigned long)n;
}

static int cpu_range(char *tok, unsigned *a, unsigned *b)
{
	char *dash = strchr(tok, '-');
	int r;

	if (dash)
		*dash = 0;
	r = vqt_parse_uint(tok, 0, CPU_SETSIZE - 1, a);
	*b = *a;
	if (!r && dash)
		r = vqt_parse_uint(dash + 1, *a, CPU_SETSIZE - 1, b);
	if (r < 0 && !strcmp(why, "not a number"))
		return vqt_parse_fail("not a CPU list (e.g. 1,3 or 2-5)");
	return r;
}

int vqt_parse_cpus(const char *s, int *cpus, unsigned cap)
{
	char *copy = strdup(s), *save = NULL;
	unsigned n = 0, a, b;
	int r = copy ? 0 : -ENOMEM;

	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && !r;
	     t = strtok_r(NULL, ",", &save)) {
		r = cpu_range(t, &a, &b);
		for (unsigned c = a; !r && c <= b; c++) {
			if (!cpu_exists(c))
				r = vqt_parse_fail("CPU %u does not exist on this machine", c);
			else if (n == cap)
				r = vqt_parse_fail("more than %u CPUs", cap);
			else
				cpus[n++] = (int)c;
		}
	}
	free(copy);
	if (!r && !n)
		r = vqt_parse_fail("no CPU");
	return r < 0 ? r : (int)n;
}

int vqt_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char end;

	why[0] = 0;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &end) != 6)
		return vqt_parse_fail("not a MAC address (aa:bb:cc:dd:ee:ff)");
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}
