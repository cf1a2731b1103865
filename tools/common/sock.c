/* SPDX-License-Identifier: MIT */
/* Socket checks of the tools (see tool.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost-user/unix_sock.h"
#include "tool.h"

int vqt_parse_listen_fd(const char *s, int *fd)
{
	unsigned v;

	if (vqt_parse_uint(s, 0, 1u << 30, &v) < 0)
		return -EINVAL;
	if (fcntl((int)v, F_GETFD) < 0)
		return vqt_parse_fail("fd %u is not open", v);
	if (!vq__unix_is_listening((int)v))
		return vqt_parse_fail("fd %u is not a listening unix socket", v);
	*fd = (int)v;
	return 0;
}

/* True when the directory that would hold path exists. */
static bool dir_exists(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!slash)
		return true;
	if (slash == path)
		return true; /* "/" */
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *vqt_socket_why(const char *path, int err, char *buf, size_t len)
{
	struct stat st;

	if (err == 0) {
		err = vq__unix_connect(path, 0);
		if (err >= 0) {
			close(err);
			err = 0;
		}
	}
	if ((err == -ENOENT || err == -ENOTDIR) && !dir_exists(path))
		snprintf(buf, len, "%s: its directory does not exist", path);
	else if (err == -ENOENT || (err == 0 && lstat(path, &st) < 0))
		snprintf(buf, len, "%s: no such file (is the backend running?)", path);
	else if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		snprintf(buf, len, "%s: not a unix socket", path);
	else if (err == -ECONNREFUSED)
		snprintf(buf, len, "%s: connection refused (nobody is listening)", path);
	else if (err == -ENAMETOOLONG)
		snprintf(buf, len, "%s: path too long for a unix socket (max %zu bytes)", path,
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	else if (err)
		snprintf(buf, len, "%s: %s", path, strerror(-err));
	else
		snprintf(buf, len, "%s: accepts connections", path);
	return buf;
}

const char *vqt_socket_name(int fd, char *buf, size_t len)
{
	struct sockaddr_un sa;
	socklen_t sl = sizeof(sa);

	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) == 0 && sa.sun_family == AF_UNIX &&
	    sl > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0])
		snprintf(buf, len, "%.*s", (int)(sl - offsetof(struct sockaddr_un, sun_path)),
			 sa.sun_path);
	else
		snprintf(buf, len, "fd %d", fd);
	return buf;
}

int vqt_backend_opt(struct vqt_backend_opts *b, int c, const char *arg)
{
	switch (c) {
	case 's': b->socket_path = arg; return 0;
	case 'c': b->client = true; return 0;
	case VQT_OPT_PRINT_CAPS: b->print_caps = true; return 0;
	case VQT_OPT_FD:
		if (b->listen_fd >= 0)
			return vqt_parse_fail("given twice");
		return vqt_parse_listen_fd(arg, &b->listen_fd);
	}
	return 1;
}

const char *vqt_backend_check(struct vqt_backend_opts *b)
{
	if (b->socket_path && b->listen_fd >= 0)
		return "--socket-path and --fd exclude each other";
	if (b->client && b->listen_fd >= 0)
		return "--fd serves a listening socket: not with --client";
	if (b->listen_fd >= 0)
		b->socket_path = vqt_socket_name(b->listen_fd, b->fd_name, sizeof(b->fd_name));
	if (!b->socket_path)
		return "--socket-path (or --fd) is required";
	return NULL;
}
