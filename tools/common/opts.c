/* SPDX-License-Identifier: MIT */
/* The command-line layer of the tools (see tool.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

const char *vqt_opt_name(const struct option *lo, int c)
{
	for (; lo && lo->name; lo++)
		if (lo->val == c)
			return lo->name;
	return "?";
}

int vqt_usage_error(const char *prog, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s (see --help)\n", prog, msg);
	return -1;
}

void vqt_print_version(const char *prog)
{
	printf("%s %s\n", prog, VQ_VERSION);
}

void vqt_print_capabilities(const char *type, const char *const *features)
{
	printf("{\n  \"type\": ");
	vqt_json_str(type);
	printf(",\n  \"features\": [");
	for (unsigned i = 0; features && features[i]; i++) {
		printf("%s\n    ", i ? "," : "");
		vqt_json_str(features[i]);
	}
	printf("%s]\n}\n", features && features[0] ? "\n  " : "");
}

/* The option getopt stopped at, as the user typed it. */
static const char *typed(char **argv, int c)
{
	static char shortname[3] = "-?";
	const char *a = optind > 0 ? argv[optind - 1] : "?";

	if (!c || !strncmp(a, "--", 2))
		return a;
	shortname[1] = (char)c;
	return shortname;
}

enum { COMMON_EXIT = 1, COMMON_DONE = 0, COMMON_ERROR = -1, COMMON_NOT_MINE = 2 };

/* The options every tool answers. */
static int common(const struct vqt_cli *cli, int c, const char *arg)
{
	switch (c) {
	case 'h':
		if (cli->help)
			fputs(cli->help, stdout);
		else
			cli->usage(stdout);
		return COMMON_EXIT;
	case VQT_OPT_VERSION:
		vqt_print_version(cli->prog);
		return COMMON_EXIT;
	case VQT_OPT_LOG_FORMAT:
		if (vqt_log_set_format(arg) < 0) {
			vqt_usage_error(cli->prog, "bad value for --log-format: '%s': %s", arg,
					vqt_parse_error());
			return COMMON_ERROR;
		}
		return COMMON_DONE;
	}
	return COMMON_NOT_MINE;
}

int vqt_getopt(const struct vqt_cli *cli, int argc, char **argv)
{
	char shortopts[64];
	int c;

	snprintf(shortopts, sizeof(shortopts), ":h%s", cli->shortopts);
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, cli->longopts, NULL)) != -1) {
		int r;

		if (c == '?')
			return vqt_usage_error(cli->prog, "unknown option '%s'", typed(argv, optopt));
		if (c == ':')
			return vqt_usage_error(cli->prog, "option '%s' needs a value",
					       typed(argv, optopt));
		r = common(cli, c, optarg);
		if (r == COMMON_EXIT || r == COMMON_ERROR)
			return r;
		if (r == COMMON_DONE)
			continue;
		if (cli->one(cli->ctx, c, optarg) < 0) {
			const char *why = vqt_parse_error();

			if (!optarg)
				return vqt_usage_error(cli->prog, "--%s: %s",
						       vqt_opt_name(cli->longopts, c), why);
			return vqt_usage_error(cli->prog, "bad value for --%s: '%s'%s%s",
					       vqt_opt_name(cli->longopts, c), optarg,
					       *why ? ": " : "", why);
		}
	}
	return 0;
}
