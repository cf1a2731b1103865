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
 *
 * A flushed request's I/O is cut short: Tflush sets the request's cancel
 * flag and signals its thread, so a blocking preadv/pwritev or the wait for
 * the ring's completions returns EINTR; the ring's outstanding batches are
 * then cancelled and reaped before the segments are given back.
 *
 * Why not virtq-blk's io_uring engine (src/devices/blk/blk_uring.c): both
 * use liburing from the same build switch (VQ_HAVE_LIBURING), but that
 * engine is the blk queue's: one ring per virtqueue owned by its queue
 * thread, requests of struct vq__blk_io on the two registered backing
 * fds, completions reaped through the queue's eventfd in the device's poll
 * hook, and the leftovers sent to blk's thread pool.  A 9p request runs on
 * a worker that waits for its own I/O, on whatever fd its fid holds, and a
 * short read at end of file is an answer here where blk calls it -EIO.
 * Sharing would mean a generic fd/iovec/callback layer under both devices,
 * not a call into blk; each worker here owns a small ring instead.
 */
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "p9_internal.h"

#define P9_IOV_BATCH 1024u /* IOV_MAX on Linux */
#define P9_HALVES_MIN (8u << 20) /* a read this large is copied by two threads */

int (*vq__p9_io_hook)(struct p9_ctx *x);

static int64_t io_sync(struct p9_ctx *x, int fd, bool write, const struct iovec *iov,
		       unsigned n, uint64_t off)
{
	int64_t total = 0;

	for (unsigned i = 0; i < n;) {
		unsigned k = n - i < P9_IOV_BATCH ? n - i : P9_IOV_BATCH;
		uint64_t want = vq__p9_iov_len(iov + i, k);
		ssize_t r = write ? pwritev(fd, iov + i, (int)k, (off_t)(off + total))
				  : preadv(fd, iov + i, (int)k, (off_t)(off + total));

		if (r < 0 && errno == EINTR && !vq__p9_is_cancelled(x))
			continue; /* a stray signal: this batch again */
		i += k;
		if (r < 0)
			return total ? total : -errno;
		total += r;
		if ((uint64_t)r < want)
			break;
	}
	return total;
}

#ifdef VQ_HAVE_LIBURING
static bool uring_ready(struct vq_9p_conn *c, struct p9_ctx *x)
{
	int err;

	if (x->uring_state)
		return x->uring_state > 0;
	if (c->s->no_uring) {
		x->uring_state = -1;
		return false;
	}
	err = io_uring_queue_init(P9_URING_DEPTH + 1, &x->ring, 0);
	x->uring_state = err ? -1 : 1;
	if (err)
		vq__p9_log(c, "9p: io_uring unavailable (%d), using preadv/pwritev", err);
	return !err;
}

#define P9_CANCEL_DATA UINT64_MAX

/* Reap the wave's nb completions into got[]; a flush cancels the rest. */
static unsigned uring_reap(struct p9_ctx *x, unsigned nb, int64_t *got)
{
	struct io_uring_cqe *cqe;
	unsigned done = 0;
	bool cancelled = false;
	int err;

	while (done < nb) {
		/* a flush that came before the wait (during a read on this
		 * thread) cancels as one that interrupts it */
		err = vq__p9_is_cancelled(x) && !cancelled ? -EINTR
							      : io_uring_wait_cqe(&x->ring, &cqe);
		if (err == -EINTR && vq__p9_is_cancelled(x) && !cancelled) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&x->ring);

			cancelled = true; /* the ring has one spare entry for this */
			io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
			io_uring_sqe_set_data64(sqe, P9_CANCEL_DATA);
			io_uring_submit(&x->ring);
		}
		if (err == -EINTR)
			continue;
		if (err < 0)
			break; /* the ring itself failed: nothing more comes */
		uint64_t b = io_uring_cqe_get_data64(cqe);

		if (b < nb) {
			got[b] = cqe->res;
			done++;
		}
		io_uring_cqe_seen(&x->ring, cqe);
	}
	return done;
}

/* A wave in flight: its batches' sizes and results. */
struct p9_wave {
	uint64_t want[P9_URING_DEPTH];
	int64_t got[P9_URING_DEPTH];
	unsigned nb;
	int err; /* io_uring_submit's, when it failed */
};

/* Submit one wave: up to P9_URING_DEPTH batches starting at iov[0]. */
static void wave_submit(struct p9_ctx *x, int fd, bool write, const struct iovec *iov,
			unsigned n, uint64_t off, struct p9_wave *w)
{
	uint64_t pos = off;

	w->nb = 0;
	for (unsigned i = 0; i < n && w->nb < P9_URING_DEPTH; i += P9_IOV_BATCH, w->nb++) {
		unsigned k = n - i < P9_IOV_BATCH ? n - i : P9_IOV_BATCH;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&x->ring);

		w->want[w->nb] = vq__p9_iov_len(iov + i, k);
		if (write)
			io_uring_prep_writev(sqe, fd, iov + i, k, pos);
		else
			io_uring_prep_readv(sqe, fd, iov + i, k, pos);
		io_uring_sqe_set_data64(sqe, w->nb);
		if (write && i + P9_IOV_BATCH < n && w->nb + 1 < P9_URING_DEPTH)
			sqe->flags |= IOSQE_IO_LINK;
		pos += w->want[w->nb];
	}
	w->err = io_uring_submit(&x->ring);
	w->err = w->err < 0 ? w->err : 0;
}

/* Wait for the wave's completions; the bytes done up to the first short or
 * failed batch (*more: none was). */
static int64_t wave_finish(struct p9_ctx *x, struct p9_wave *w, bool *more)
{
	int64_t total = 0;
	unsigned done;

	for (unsigned i = 0; i < w->nb; i++)
		w->got[i] = -ECANCELED;
	done = w->err ? 0 : uring_reap(x, w->nb, w->got);
	*more = false;
	if (w->err && !done)
		return w->err;
	for (unsigned i = 0; i < w->nb; i++) {
		if (w->got[i] < 0)
			return total ? total : w->got[i];
		total += w->got[i];
		if ((uint64_t)w->got[i] < w->want[i])
			return total;
	}
	*more = true;
	return total;
}

static int64_t uring_wave(struct p9_ctx *x, int fd, bool write, const struct iovec *iov,
			  unsigned n, uint64_t off, bool *more)
{
	struct p9_wave w;

	wave_submit(x, fd, write, iov, n, off, &w);
	return wave_finish(x, &w, more);
}

/* Only a regular file gives the same bytes to two reads at two offsets
 * whatever their order (a FIFO or a device would not). */
static bool is_regular(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * A large read copied by two threads at once: the second half of the bytes
 * goes on the ring (an io-wq worker copies it), the first half is read here
 * with preadv meanwhile.  The kernel copies a page-cache read on the thread
 * that asks for it, and io-wq adds a worker only when one blocks, so one
 * wave of a cached file is one copy on one CPU.  The result is as for one
 * stream: the bytes up to the first short or failed part.
 */
static int64_t uring_read_halves(struct p9_ctx *x, int fd, const struct iovec *iov,
				 unsigned n, uint64_t off, uint64_t len)
{
	struct iovec pair[2];
	const struct iovec *a = iov, *b;
	unsigned na = 0, nb;
	uint64_t alen = 0;
	struct p9_wave w;
	bool more;

	if (n == 1) { /* one segment: cut it in two at a page boundary */
		alen = (len / 2) & ~(uint64_t)4095;
		pair[0] = (struct iovec){ iov[0].iov_base, alen };
		pair[1] = (struct iovec){ (uint8_t *)iov[0].iov_base + alen, len - alen };
		a = &pair[0], na = 1, b = &pair[1], nb = 1;
	} else { /* at the segment boundary nearest the middle */
		while (na < n - 1 && alen + iov[na].iov_len <= len / 2)
			alen += iov[na++].iov_len;
		b = iov + na;
		nb = n - na;
	}
	wave_submit(x, fd, false, b, nb, off + alen, &w);
	int64_t ra = na ? io_sync(x, fd, false, a, na, off) : 0;
	int64_t rb = wave_finish(x, &w, &more); /* always reaped: b's pages are the guest's */

	if (ra < 0 || (uint64_t)ra < alen)
		return ra;
	return rb < 0 ? ra : ra + rb;
}
#endif

int64_t vq__p9_io(struct vq_9p_conn *c, struct p9_ctx *x, int fd, bool write,
		  const struct iovec *iov, unsigned n, uint64_t off)
{
	if (vq__p9_io_hook) {
		int err = vq__p9_io_hook(x);

		if (err < 0)
			return err;
	}
#ifdef VQ_HAVE_LIBURING
	if (uring_ready(c, x)) {
		int64_t total = 0;
		bool more = true;
		const unsigned wave = P9_URING_DEPTH * P9_IOV_BATCH;
		uint64_t len = write ? 0 : vq__p9_iov_len(iov, n);

		if (len >= P9_HALVES_MIN && n <= wave + 1 && is_regular(fd))
			return uring_read_halves(x, fd, iov, n, off, len);

		for (unsigned i = 0; i < n && more; i += wave) {
			unsigned k = n - i < wave ? n - i : wave;
			int64_t r = uring_wave(x, fd, write, iov + i, k, off + total, &more);

			if (r < 0)
				return total ? total : r;
			total += r;
		}
		return total;
	}
#endif
	return io_sync(x, fd, write, iov, n, off);
}

void vq__p9_io_fini(struct p9_ctx *x)
{
#ifdef VQ_HAVE_LIBURING
	if (x->uring_state > 0)
		io_uring_queue_exit(&x->ring);
#endif
	x->uring_state = 0;
}
