/* SPDX-License-Identifier: MIT */
/*
 * Byte windows of an iovec array (a chain's segments), for the device
 * models: walk [off, off + len) piece by piece, or copy it to or from a flat
 * buffer.  Segments past the array's end are not there: a window that runs
 * past it is cut short.  Not installed.
 */
#ifndef VQ_DEVICES_IOV_H
#define VQ_DEVICES_IOV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct vq__iov_iter {
	const struct iovec *iov; /* the current segment */
	unsigned cnt;            /* segments left, the current one included */
	size_t off;              /* bytes to skip from the current one's start */
	size_t left;             /* bytes of the window not returned yet */
};

/* it walks [off, off + len) of iov[0..cnt). */
static inline void vq__iov_iter_init(struct vq__iov_iter *it, const struct iovec *iov,
				     unsigned cnt, size_t off, size_t len)
{
	*it = (struct vq__iov_iter){ .iov = iov, .cnt = cnt, .off = off, .left = len };
}

/* The next piece of the window: its length (> 0) and *p, which lies in one
 * segment; 0 once the window or the array ends. */
static inline size_t vq__iov_next(struct vq__iov_iter *it, uint8_t **p)
{
	while (it->cnt && it->left) {
		size_t sl = it->iov->iov_len, n;

		if (it->off < sl) {
			n = sl - it->off < it->left ? sl - it->off : it->left;
			*p = (uint8_t *)it->iov->iov_base + it->off;
			it->off += n;
			it->left -= n;
			return n;
		}
		it->off -= sl; /* skip the segment: the window starts later */
		it->iov++;
		it->cnt--;
	}
	return 0;
}

/* dst[0..cap) = the segments of [off, off + len) of iov[0..cnt) (pointers
 * into them, no copy); returns how many, cut short at cap. */
unsigned vq__iov_slice(const struct iovec *iov, unsigned cnt, size_t off, size_t len,
		       struct iovec *dst, unsigned cap);

/* Copy [off, off + len) of iov[0..cnt) into buf; the bytes copied. */
size_t vq__iov_to_buf(const struct iovec *iov, unsigned cnt, size_t off, void *buf, size_t len);

/* Copy buf into [off, off + len) of iov[0..cnt); the bytes copied. */
size_t vq__iov_from_buf(const struct iovec *iov, unsigned cnt, size_t off, const void *buf,
			size_t len);

#endif
