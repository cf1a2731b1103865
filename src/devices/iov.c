/* SPDX-License-Identifier: MIT */
/* Byte windows of an iovec array (see iov.h). */
#include <string.h>

#include "devices/iov.h"

unsigned vq__iov_slice(const struct iovec *iov, unsigned cnt, size_t off, size_t len,
		       struct iovec *dst, unsigned cap)
{
	struct vq__iov_iter it;
	unsigned k = 0;
	uint8_t *p;
	size_t n;

	vq__iov_iter_init(&it, iov, cnt, off, len);
	while (k < cap && (n = vq__iov_next(&it, &p)) > 0)
		dst[k++] = (struct iovec){ p, n };
	return k;
}

size_t vq__iov_to_buf(const struct iovec *iov, unsigned cnt, size_t off, void *buf, size_t len)
{
	struct vq__iov_iter it;
	uint8_t *d = buf, *p;
	size_t n;

	vq__iov_iter_init(&it, iov, cnt, off, len);
	while ((n = vq__iov_next(&it, &p)) > 0) {
		memcpy(d, p, n);
		d += n;
	}
	return (size_t)(d - (uint8_t *)buf);
}

size_t vq__iov_from_buf(const struct iovec *iov, unsigned cnt, size_t off, const void *buf,
			size_t len)
{
	struct vq__iov_iter it;
	const uint8_t *s = buf;
	uint8_t *p;
	size_t n;

	vq__iov_iter_init(&it, iov, cnt, off, len);
	while ((n = vq__iov_next(&it, &p)) > 0) {
		memcpy(p, s, n);
		s += n;
	}
	return (size_t)(s - (const uint8_t *)buf);
}
