/* SPDX-License-Identifier: MIT */
/* Unix stream sockets by path (see unix_sock.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unix_sock.h"

int vq__unix_addr(const char *path, struct sockaddr_un *sa)
{
	size_t n = path ? strlen(path) : 0;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

/* A new Unix stream socket, and the address of path in *sa: fd or -errno. */
static int open_sock(const char *path, int flags, struct sockaddr_un *sa)
{
	int fd, r = vq__unix_addr(path, sa);

	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	return fd < 0 ? -errno : fd;
}

/* A call on fd failed: close it and return that call's -errno. */
static int close_failed(int fd)
{
	int r = -errno;

	close(fd);
	return r;
}

int vq__unix_listen(const char *path, int flags, int backlog)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd = open_sock(path, flags, &sa);

	if (fd < 0)
		return fd;
	/* Replace a stale socket (a previous run), never another file. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0)
		return close_failed(fd);
	return fd;
}

int vq__unix_connect(const char *path, int flags)
{
	struct sockaddr_un sa;
	int fd = open_sock(path, flags, &sa);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return close_failed(fd);
	return fd;
}

bool vq__unix_is_listening(int fd)
{
	int v = 0, dom = 0, type = 0;
	socklen_t l = sizeof(v), ld = sizeof(dom), lt = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v &&
	       getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &ld) == 0 && dom == AF_UNIX &&
	       getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &lt) == 0 && type == SOCK_STREAM;
}
