/* SPDX-License-Identifier: MIT */
/*
 * The support library of the tools (build/libvq-tools.a, linked into every
 * tool): the monotonic clock, number parsers, the log, the command-line
 * layer shared by the daemons, and socket checks.  Not installed; names are
 * vqt_*.
 *
 * Logging.  Every line carries the CLOCK_MONOTONIC time in seconds (as the
 * kernel's log does), a level and the program name:
 *     1234.567890 info virtq-blk: serving disk.img ...
 * or, after --log-format json, one object per line:
 *     {"time":1234.567890,"level":"info","prog":"virtq-blk","msg":"serving ..."}
 * Lines go to stderr; statistics go to stdout.
 *
 * Options.  vqt_getopt() runs getopt_long with the options every tool
 * answers (--help, --version, --log-format) and reports every usage error
 * in one line that names the option:
 *     virtq-blk: bad value for --queues: '0' (must be 1..16)
 */
#ifndef VQT_TOOL_H
#define VQT_TOOL_H

#include <getopt.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__has_include)
#if __has_include(<virtq/version.h>)
#include <virtq/version.h>
#endif
#endif
#ifndef VQ_VERSION
#define VQ_VERSION "0.0.0-dev" /* until include/virtq/version.h exists */
#endif

#define VQT_STR_(x) #x
#define VQT_STR(x) VQT_STR_(x) /* a macro's value as a string literal */

/* ---- clock (CLOCK_MONOTONIC) */

uint64_t vqt_now_ns(void);
uint64_t vqt_now_ms(void);
double vqt_now(void); /* seconds */

/* ---- the application's work on received bytes
 * Reads every byte of p[0..n) and returns their sum, so that a benchmark's
 * receiver does the work an application would (the caller keeps the sum). */

uint64_t vqt_read_sum(const void *p, size_t n);

/* ---- number parsers
 * Each returns 0, or -EINVAL and leaves a reason ("must be 1..16") for
 * vqt_parse_error().  Numbers are decimal, or hexadecimal after 0x; no sign,
 * no blanks, nothing after the number unless a suffix is allowed. */

int vqt_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int vqt_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);
/* Bytes with an optional binary suffix: k, m, g, t (KiB ... TiB), then an
 * optional b or ib (4k, 4KiB, 1M). */
int vqt_parse_size(const char *s, uint64_t *out);
/* A count with an optional decimal suffix: k, K (1e3), M (1e6), G (1e9). */
int vqt_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A number, fractions allowed (2.5). */
int vqt_parse_double(const char *s, double min, double max, double *out);
/* Seconds, fractions allowed (0.5). */
int vqt_parse_secs(const char *s, double min, double max, double *out);
/* A CPU list such as 1,3 or 2-5 into cpus[0..cap); every CPU must exist on
 * this machine.  The number of CPUs, or -EINVAL (syntax, a CPU that does not
 * exist, more than cap). */
int vqt_parse_cpus(const char *s, int *cpus, unsigned cap);
/* A MAC address aa:bb:cc:dd:ee:ff. */
int vqt_parse_mac(const char *s, uint8_t mac[6]);
/* Why the last parser failed (this thread); "" if none did. */
const char *vqt_parse_error(void);
/* Set that reason (for checks a tool makes itself); returns -EINVAL. */
int vqt_parse_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- log */

enum vqt_level { /* syslog's numbers, as vq_vu_set_log uses them */
	VQT_LOG_ERR = 3, VQT_LOG_WARN = 4, VQT_LOG_INFO = 6, VQT_LOG_DEBUG = 7,
};

/* Program name for log lines and option errors (e.g. "virtq-blk"). */
void vqt_log_init(const char *prog);
const char *vqt_prog(void);
/* "text" (default) or "json"; -EINVAL for anything else. */
int vqt_log_set_format(const char *name);
bool vqt_log_is_json(void);
/* Lines above max_level are dropped (default VQT_LOG_INFO). */
void vqt_log_set_level(enum vqt_level max_level);
void vqt_log(enum vqt_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A vq_vu_log_fn that writes the library's lines through vqt_log; ctx unused. */
void vqt_log_hook(void *ctx, int level, const char *msg);
/* Route the vhost-user library's log through vqt_log (verbose: DEBUG). */
void vqt_log_library(bool verbose);
/* Write s to stdout as a JSON string, quotes included. */
void vqt_json_str(const char *s);

/* ---- options */

/* Long-option values shared by the tools (beyond any single character). */
enum {
	VQT_OPT_VERSION = 0x1000, VQT_OPT_LOG_FORMAT, VQT_OPT_PRINT_CAPS, VQT_OPT_FD,
	VQT_OPT_SOCKET_PATH, VQT_OPT_STATS_JSON, VQT_OPT_TOOL_BASE = 0x1100,
};
/* --version and --log-format; put first in every tool's table. */
#define VQT_COMMON_OPTIONS                                                       \
	{ "version", no_argument, NULL, VQT_OPT_VERSION },                      \
	{ "log-format", required_argument, NULL, VQT_OPT_LOG_FORMAT }
/* The vhost-user backend program conventions (QEMU docs/interop/
 * vhost-user.rst): --socket-path (and our older --socket), --fd, and
 * --print-capabilities. */
#define VQT_BACKEND_OPTIONS                                                      \
	{ "socket-path", required_argument, NULL, 's' },                        \
	{ "socket", required_argument, NULL, 's' },                             \
	{ "fd", required_argument, NULL, VQT_OPT_FD },                          \
	{ "print-capabilities", no_argument, NULL, VQT_OPT_PRINT_CAPS }
/* Help lines for those, for a tool's usage text. */
#define VQT_COMMON_HELP                                                          \
	"      --log-format F    text (default) or json: log lines on stderr as\n" \
	"                        JSON objects; each line has a level and the\n"    \
	"                        monotonic time in seconds\n"                      \
	"      --version         print the version and exit\n"                     \
	"  -h, --help            this text\n"
#define VQT_BACKEND_HELP                                                         \
	"  -s, --socket-path PATH  the vhost-user unix socket (--socket is the\n"   \
	"                        same option)\n"                                     \
	"      --fd FD           serve the listening unix socket FD inherited from\n" \
	"                        the parent (instead of --socket-path)\n"           \
	"      --print-capabilities  print the backend's capabilities as JSON\n"   \
	"                        (for libvirt) and exit\n"

/*
 * The socket options of a daemon that serves one vhost-user socket
 * (virtq-blk, virtq-vsock, ...): VQT_BACKEND_OPTIONS plus, if the tool
 * offers it, { "client", no_argument, NULL, 'c' }.
 */
struct vqt_backend_opts {
	const char *socket_path;   /* --socket-path; after vqt_backend_check, the
				    * --fd socket's name when --fd was given */
	int listen_fd;             /* --fd, or -1 */
	bool client;               /* --client: connect instead of listening */
	bool print_caps;           /* --print-capabilities */
	char fd_name[108];
};
#define VQT_BACKEND_OPTS_INIT { .listen_fd = -1 }
/* Option c if it is one of those: 0 taken, -EINVAL a bad value (reason for
 * vqt_parse_error), 1 not one of them. */
int vqt_backend_opt(struct vqt_backend_opts *b, int c, const char *arg);
/* Once every option is read: NULL when the socket options are complete and
 * consistent, else the usage error to report. */
const char *vqt_backend_check(struct vqt_backend_opts *b);

struct vqt_cli {
	const char *prog;            /* "virtq-blk" or "virtq-user net" */
	const char *help;            /* the --help text, or NULL: */
	void (*usage)(FILE *f);      /* writes it */
	const char *shortopts;       /* without 'h' (added) */
	const struct option *longopts;
	/* One option (not h, --version, --log-format): 0, or -EINVAL with a
	 * reason left by a vqt_parse_* function or vqt_parse_fail(). */
	int (*one)(void *ctx, int c, const char *arg);
	void *ctx;
};

/*
 * Parse argv from optind.  Returns 0 to run; 1 after --help or --version
 * (exit 0); -1 after a usage error, reported in one line on stderr that
 * names the option (exit 2).  Operands are left at argv[optind..].
 */
int vqt_getopt(const struct vqt_cli *cli, int argc, char **argv);
/* Report a usage error in vqt_getopt's format: "PROG: MSG (see --help)";
 * returns -1. */
int vqt_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The long name of option c in longopts ("?" if none). */
const char *vqt_opt_name(const struct option *longopts, int c);
/* --version: "PROG VERSION" on stdout. */
void vqt_print_version(const char *prog);
/*
 * --print-capabilities: {"type": TYPE, "features": [...]} on stdout, as the
 * vhost-user spec's backend program conventions define it.  features is
 * NULL-terminated.
 */
void vqt_print_capabilities(const char *type, const char *const *features);

/* ---- sockets */

/*
 * --fd FD: parse FD and check that it is a listening unix stream socket
 * this process holds.  0 and *fd, or -EINVAL with a reason for
 * vqt_parse_error().
 */
int vqt_parse_listen_fd(const char *s, int *fd);
/*
 * Why connecting to the unix socket at path fails, for an error message:
 * "no such file", "not a socket", "nobody is listening (connection refused)"
 * ...  err is the -errno connect returned (0 = probe it now).
 */
const char *vqt_socket_why(const char *path, int err, char *buf, size_t len);

/* The path a unix socket fd is bound to, or "fd N" (unnamed/abstract). */
const char *vqt_socket_name(int fd, char *buf, size_t len);

#endif
