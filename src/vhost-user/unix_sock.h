/* SPDX-License-Identifier: MIT */
/*
 * Unix stream sockets by path: the one place that fills a sockaddr_un,
 * binds, listens and connects.  Used by the vhost-user backend and
 * frontend, and (linked from libvirtq.a) by the test peers and the tools.
 * Not installed.
 */
#ifndef VQ_UNIX_SOCK_H
#define VQ_UNIX_SOCK_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Fill *sa for path: 0, -EINVAL (NULL or empty), -ENAMETOOLONG. */
int vq__unix_addr(const char *path, struct sockaddr_un *sa);

/*
 * A listening socket on path, created with SOCK_CLOEXEC plus flags (e.g.
 * SOCK_NONBLOCK).  A stale socket file at path is replaced; any other kind
 * of file is left alone (bind then fails with -EADDRINUSE).  The fd, or
 * -errno.
 */
int vq__unix_listen(const char *path, int flags, int backlog);

/* A socket connected to path (SOCK_CLOEXEC plus flags).  The fd, or -errno
 * (-ENOENT: no such file; -ECONNREFUSED: nobody listening). */
int vq__unix_connect(const char *path, int flags);

/* True when fd is a listening unix stream socket (for an inherited --fd). */
bool vq__unix_is_listening(int fd);

#endif
