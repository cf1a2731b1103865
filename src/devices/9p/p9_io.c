/* SPDX-License-Identifier: MIT */
/*
 * 9p file I/O straight between a file and a request's segments.
 *
 * io_uring (liburing): the segments are cut into batches of IOV_MAX and
 * submitted together, reads in parallel, writes linked in order (a short
 * write ends the chain), one submit and one wait per wave of
 * P9_URING_DEPTH batches.  A 128 MiB request of 4 KiB pages is 32 batches:
 * one wave.  Without liburing at build time, or when the kernel refuses a
 * ring (io_uring_disabled, seccomp), preadv/pwritev do the same batches one
 * after the other.  Either way the result counts the bytes done up to the
 * first short or failed batch.
 */
#include <errno.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>

#include "p9_internal.h"

#define P9_IOV_BATCH 1024u /* IOV_MAX on Linux */

static int64_t io_sync(int fd, bool write, const struct iovec *iov, unsigned n,
		       uint64_t off)
{
	int64_t total = 0;

	for (unsigned i = 0; i < n; i += P9_IOV_BATCH) {
		unsigned k = n - i < P9_IOV_BATCH ? n - i : P9_IOV_BATCH;
		uint64_t want = vq__p9_iov_len(iov + i, k);
		ssize_t r = write ? pwritev(fd, iov + i, (int)k, (off_t)(off + total))
				  : preadv(fd, iov + i, (int)k, (off_t)(off + total));

		if (r < 0)
			return total ? total : -errno;
		total += r;
		if ((uint64_t)r < want)
			break;
	}
	return total;
}

#ifdef VQ_HAVE_LIBURING
static bool uring_ready(struct vq_9p_conn *c)
{
	int err;

	if (c->uring_state)
		return c->uring_state > 0;
	if (c->s->no_uring) {
		c->uring_state = -1;
		return false;
	}
	err = io_uring_queue_init(P9_URING_DEPTH, &c->ring, 0);
	c->uring_state = err ? -1 : 1;
	if (err)
		vq__p9_log(c, "9p: io_uring unavailable (%d), using preadv/pwritev", err);
	return !err;
}

/* One wave: up to P9_URING_DEPTH batches starting at iov[0]. */
static int64_t uring_wave(struct vq_9p_conn *c, int fd, bool write, const struct iovec *iov,
			  unsigned n, uint64_t off, bool *more)
{
	uint64_t want[P9_URING_DEPTH], pos = off;
	int64_t got[P9_URING_DEPTH], total = 0;
	unsigned nb = 0, done = 0;
	struct io_uring_cqe *cqe;

	for (unsigned i = 0; i < n && nb < P9_URING_DEPTH; i += P9_IOV_BATCH, nb++) {
		unsigned k = n - i < P9_IOV_BATCH ? n - i : P9_IOV_BATCH;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

		want[nb] = vq__p9_iov_len(iov + i, k);
		if (write)
			io_uring_prep_writev(sqe, fd, iov + i, k, pos);
		else
			io_uring_prep_readv(sqe, fd, iov + i, k, pos);
		io_uring_sqe_set_data64(sqe, nb);
		if (write && i + P9_IOV_BATCH < n && nb + 1 < P9_URING_DEPTH)
			sqe->flags |= IOSQE_IO_LINK;
		pos += want[nb];
	}
	int err = io_uring_submit_and_wait(&c->ring, nb);

	for (unsigned i = 0; i < nb; i++)
		got[i] = -ECANCELED;
	while (done < nb && io_uring_wait_cqe(&c->ring, &cqe) == 0) {
		uint64_t b = io_uring_cqe_get_data64(cqe);

		if (b < nb)
			got[b] = cqe->res;
		io_uring_cqe_seen(&c->ring, cqe);
		done++;
	}
	if (err < 0 && !done)
		return err;
	*more = true;
	for (unsigned i = 0; i < nb; i++) {
		if (got[i] < 0) {
			*more = false;
			return total ? total : got[i];
		}
		total += got[i];
		if ((uint64_t)got[i] < want[i]) {
			*more = false;
			break;
		}
	}
	return total;
}
#endif

int64_t vq__p9_io(struct vq_9p_conn *c, int fd, bool write, const struct iovec *iov,
		  unsigned n, uint64_t off)
{
#ifdef VQ_HAVE_LIBURING
	if (uring_ready(c)) {
		int64_t total = 0;
		bool more = true;
		const unsigned wave = P9_URING_DEPTH * P9_IOV_BATCH;

		for (unsigned i = 0; i < n && more; i += wave) {
			unsigned k = n - i < wave ? n - i : wave;
			int64_t r = uring_wave(c, fd, write, iov + i, k, off + total, &more);

			if (r < 0)
				return total ? total : r;
			total += r;
		}
		return total;
	}
#endif
	return io_sync(fd, write, iov, n, off);
}

void vq__p9_io_fini(struct vq_9p_conn *c)
{
#ifdef VQ_HAVE_LIBURING
	if (c->uring_state > 0)
		io_uring_queue_exit(&c->ring);
#endif
	c->uring_state = 0;
}
