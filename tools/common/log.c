/* SPDX-License-Identifier: MIT */
/* The log of the tools: level, monotonic time, text or JSON (see tool.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <virtq/vhost_user.h>

#include "tool.h"

static const char *g_prog = "virtq";
static bool g_json;
static enum vqt_level g_max = VQT_LOG_INFO;

void vqt_log_init(const char *prog)
{
	g_prog = prog;
}

const char *vqt_prog(void)
{
	return g_prog;
}

int vqt_log_set_format(const char *name)
{
	if (strcmp(name, "text") && strcmp(name, "json"))
		return vqt_parse_fail("must be text or json");
	g_json = !strcmp(name, "json");
	return 0;
}

bool vqt_log_is_json(void)
{
	return g_json;
}

void vqt_log_set_level(enum vqt_level max_level)
{
	g_max = max_level;
}

static const char *level_name(int level)
{
	return level <= VQT_LOG_ERR ? "error" : level == VQT_LOG_WARN ? "warning" :
	       level <= VQT_LOG_INFO ? "info" : "debug";
}

/* s as the body of a JSON string into out (always terminated). */
static void json_escape(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	for (; *s && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			n += (size_t)snprintf(out + n, cap - n, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		else
			out[n++] = (char)c;
	}
	out[n] = 0;
}

void vqt_json_str(const char *s)
{
	char buf[1024];

	json_escape(s, buf, sizeof(buf));
	printf("\"%s\"", buf);
}

static void emit(int level, const char *msg)
{
	double t = vqt_now();

	if (g_json) {
		char esc[1600];

		json_escape(msg, esc, sizeof(esc));
		fprintf(stderr, "{\"time\":%.6f,\"level\":\"%s\",\"prog\":\"%s\",\"msg\":\"%s\"}\n",
			t, level_name(level), g_prog, esc);
	} else {
		fprintf(stderr, "%.6f %s %s: %s\n", t, level_name(level), g_prog, msg);
	}
}

void vqt_log(enum vqt_level level, const char *fmt, ...)
{
	char msg[512];
	int saved = errno;
	va_list ap;

	if ((int)level > (int)g_max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(level, msg);
	errno = saved;
}

void vqt_log_hook(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level <= (int)g_max)
		emit(level, msg);
}

void vqt_log_library(bool verbose)
{
	if (verbose)
		g_max = VQT_LOG_DEBUG;
	vq_vu_set_log(vqt_log_hook, NULL, verbose ? VQ_VU_LOG_DEBUG : VQ_VU_LOG_INFO);
}
