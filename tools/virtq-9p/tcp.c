/* SPDX-License-Identifier: MIT */
/* virtq-9p: TCP addresses, exact reads and writes, the client's transport. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "v9.h"

/* "host:port" or "[v6]:port" into getaddrinfo results. */
static int resolve(const char *addrport, bool passive, struct addrinfo **res)
{
	char host[256];
	const char *colon = strrchr(addrport, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = passive ? AI_PASSIVE : 0 };
	size_t hl;

	if (!colon || !colon[1])
		return -EINVAL;
	hl = (size_t)(colon - addrport);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, addrport, hl);
	host[hl] = 0;
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	if (getaddrinfo(*host ? host : NULL, colon + 1, &hints, res))
		return -EINVAL;
	return 0;
}

static void tune(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int v9_tcp_listen(const char *addrport, int *out)
{
	struct addrinfo *res;
	int fd, one = 1, err = resolve(addrport, true, &res);

	if (err)
		return err;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		err = -errno;
		close(fd);
		freeaddrinfo(res);
		return err;
	}
	freeaddrinfo(res);
	*out = fd;
	return 0;
}

int v9_tcp_connect(const char *addrport, int *out)
{
	struct addrinfo *res;
	int fd, err = resolve(addrport, false, &res);

	if (err)
		return err;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return err;
	}
	freeaddrinfo(res);
	tune(fd);
	*out = fd;
	return 0;
}

int v9_read_iov(int fd, const struct iovec *v, unsigned n, uint64_t off, uint64_t len)
{
	for (unsigned i = 0; i < n && len; i++) {
		if (off >= v[i].iov_len) {
			off -= v[i].iov_len;
			continue;
		}
		uint8_t *p = (uint8_t *)v[i].iov_base + off;
		size_t take = v[i].iov_len - off < len ? v[i].iov_len - off : len;

		off = 0;
		len -= take;
		while (take) {
			ssize_t r = read(fd, p, take);

			if (r <= 0)
				return r < 0 ? (errno == EINTR ? -EINTR : -errno) : -ECONNRESET;
			p += r;
			take -= (size_t)r;
		}
	}
	return len ? -EMSGSIZE : 0;
}

int v9_write_iov(int fd, const struct iovec *v, unsigned n)
{
	struct iovec local[64];
	unsigned k = n < 64 ? n : 64;

	memcpy(local, v, k * sizeof(*v));
	for (unsigned i = 0; i < k;) {
		ssize_t w = writev(fd, local + i, (int)(k - i));

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (i < k && (size_t)w >= local[i].iov_len)
			w -= (ssize_t)local[i++].iov_len;
		if (i < k) {
			local[i].iov_base = (uint8_t *)local[i].iov_base + w;
			local[i].iov_len -= (size_t)w;
		}
	}
	return n > 64 ? v9_write_iov(fd, v + 64, n - 64) : 0;
}

int v9_tcp_rpc(void *ctx, const struct iovec *req, unsigned req_n,
	       const struct iovec *resp, unsigned resp_n)
{
	int fd = (int)(intptr_t)ctx, err;
	uint8_t h[4];
	uint32_t size;
	uint64_t cap = 0;

	for (unsigned i = 0; i < resp_n; i++)
		cap += resp[i].iov_len;
	err = v9_write_iov(fd, req, req_n);
	if (!err)
		err = v9_read_iov(fd, &(struct iovec){ h, 4 }, 1, 0, 4);
	if (err)
		return err;
	size = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
	if (size < 7 || size > cap || size > INT32_MAX)
		return -EMSGSIZE;
	/* the size field into the segments, then the rest after it */
	for (unsigned i = 0, o = 0; i < resp_n && o < 4; i++)
		for (size_t j = 0; j < resp[i].iov_len && o < 4; j++)
			((uint8_t *)resp[i].iov_base)[j] = h[o++];
	err = v9_read_iov(fd, resp, resp_n, 4, size - 4);
	return err ? err : (int)size;
}
