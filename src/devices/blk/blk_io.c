/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk backing store: opening and sizing a file or block device, and
 * executing parsed requests with blocking system calls (on an I/O thread,
 * or inline when the device runs synchronously).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blk_internal.h"

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif

/* ---- opening */

/* Direct-I/O alignment of fd: statx STATX_DIOALIGN, else the logical block
 * size of a block device, else 4096 for both. */
static void dio_align(struct vq_blk *b)
{
	struct statx sx;
	int ssz = 0;

	b->dio_mem = b->dio_off = VQ__BLK_DIO_ALIGN;
	if (statx(b->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align) {
		b->dio_mem = sx.stx_dio_mem_align ? sx.stx_dio_mem_align : 1;
		b->dio_off = sx.stx_dio_offset_align;
		return;
	}
	if (b->is_bdev && ioctl(b->fd, BLKSSZGET, &ssz) == 0 && ssz > 0)
		b->dio_mem = b->dio_off = (uint32_t)ssz;
}

static int open_fds(struct vq_blk *b)
{
	int fl = (b->p.readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	char path[64];

	if (b->p.path) {
		b->fd = open(b->p.path, fl | (b->p.direct ? O_DIRECT : 0));
		if (b->fd < 0)
			return -errno;
		b->own_fd = true;
	} else {
		b->fd = b->p.fd;
		int cur = fcntl(b->fd, F_GETFL);

		if (cur < 0)
			return -errno;
		if (b->p.direct != !!(cur & O_DIRECT) &&
		    fcntl(b->fd, F_SETFL, b->p.direct ? cur | O_DIRECT : cur & ~O_DIRECT) < 0)
			return -errno;
	}
	if (!b->p.direct)
		return 0;
	/* A buffered twin for requests direct I/O cannot take. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b->fd);
	b->bfd = open(b->p.path ? b->p.path : path, fl);
	return b->bfd < 0 ? -errno : 0;
}

int vq__blk_open(struct vq_blk *b)
{
	struct stat st;
	uint64_t size = 0;
	int r = open_fds(b);

	if (r < 0)
		return r;
	if (fstat(b->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		b->is_bdev = true;
		if (ioctl(b->fd, BLKGETSIZE64, &size) < 0)
			return -errno;
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		return -EINVAL;
	}
	b->size = size & ~(uint64_t)(VQ_BLK_SECTOR - 1); /* a partial sector is hidden */
	if (b->size == 0)
		return -EINVAL;
	b->dio_mem = b->dio_off = 1;
	if (!b->p.direct)
		return 0;
	dio_align(b);
	if (b->p.direct_align > b->dio_mem)
		b->dio_mem = b->p.direct_align;
	if (b->p.direct_align > b->dio_off)
		b->dio_off = b->p.direct_align;
	return 0;
}

/* ---- reading and writing */

/* Advance iov[0..*cnt) by n bytes (n <= their total). */
struct iovec *vq__blk_iov_advance(struct iovec *iov, unsigned *cnt, size_t n)
{
	while (*cnt && n >= iov->iov_len) {
		n -= iov->iov_len;
		iov++;
		(*cnt)--;
	}
	if (*cnt) {
		iov->iov_base = (uint8_t *)iov->iov_base + n;
		iov->iov_len -= n;
	}
	return iov;
}

/*
 * Transfer all of iov[0..cnt) (modified) at off, IOV_MAX segments per call,
 * resuming after short transfers.  0, or -errno (-EIO on an unexpected end
 * of file).
 */
int vq__blk_rw_all(int fd, struct iovec *iov, unsigned cnt, uint64_t off, bool write,
		   int flags)
{
	for (;;) {
		iov = vq__blk_iov_advance(iov, &cnt, 0); /* skips empty segments */
		if (!cnt)
			return 0;
		int n = cnt > IOV_MAX ? IOV_MAX : (int)cnt;
		ssize_t k = write ? pwritev2(fd, iov, n, (off_t)off, flags)
				  : preadv2(fd, iov, n, (off_t)off, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return write ? -ENOSPC : -EIO;
		off += (uint64_t)k;
		iov = vq__blk_iov_advance(iov, &cnt, (size_t)k);
	}
}

/* O_DIRECT with unaligned guest memory: aligned chunks, copied. */
static int rw_bounce(struct vq_blk *b, struct vq__blk_io *io, bool write, int flags)
{
	size_t cap = VQ__BLK_BOUNCE, done = 0;
	uint8_t *buf;
	int r = 0;

	if (cap > io->r.len)
		cap = (size_t)io->r.len; /* a multiple of dio_off: checked by caller */
	if (posix_memalign((void **)&buf, b->dio_mem > VQ__BLK_DIO_ALIGN ? b->dio_mem : VQ__BLK_DIO_ALIGN, cap))
		return -ENOMEM;
	while (done < io->r.len && r == 0) {
		size_t k = io->r.len - done < cap ? io->r.len - done : cap;
		struct iovec v = { buf, k };

		if (write)
			vq__iov_to_buf(io->data, io->ndata, done, buf, k);
		r = vq__blk_rw_all(b->fd, &v, 1, io->r.offset + done, write, flags);
		if (r == 0 && !write)
			vq__iov_from_buf(io->data, io->ndata, done, buf, k);
		done += k;
	}
	free(buf);
	return r;
}

static bool mem_aligned(const struct vq_blk *b, const struct vq__blk_io *io)
{
	for (unsigned i = 0; i < io->ndata; i++)
		if ((uintptr_t)io->data[i].iov_base % b->dio_mem ||
		    io->data[i].iov_len % b->dio_off)
			return false;
	return true;
}

int vq__blk_write_flags(const struct vq_blk *b)
{
	/* Driver did not take FLUSH although offered: writes are stable at
	 * completion (spec 5.2.6.3, first case). */
	return VQ__BLK_HAS(b->features, VIRTIO_BLK_F_FLUSH) ? 0 : RWF_DSYNC;
}

int vq__blk_rw_fd(const struct vq_blk *b, const struct vq__blk_io *io)
{
	if (!b->p.direct)
		return b->fd;
	if (io->r.offset % b->dio_off || io->r.len % b->dio_off)
		return b->bfd;
	return mem_aligned(b, io) ? b->fd : -1;
}

static int do_rw(struct vq_blk *b, struct vq__blk_io *io, bool write)
{
	int flags = write ? vq__blk_write_flags(b) : 0;
	int fd = vq__blk_rw_fd(b, io);

	if (fd < 0)
		return rw_bounce(b, io, write, flags);
	return vq__blk_rw_all(fd, io->data, io->ndata, io->r.offset, write, flags);
}

/* ---- discard and write zeroes */

static int write_zeros(struct vq_blk *b, uint64_t off, uint64_t len)
{
	bool aligned = off % b->dio_off == 0 && len % b->dio_off == 0;
	int fd = !b->p.direct || aligned ? b->fd : b->bfd;
	int flags = VQ__BLK_HAS(b->features, VIRTIO_BLK_F_FLUSH) ? 0 : RWF_DSYNC;

	while (len) {
		size_t k = len < VQ__BLK_ZERO_BUF ? (size_t)len : VQ__BLK_ZERO_BUF;
		struct iovec v = { b->zeros, k };
		int r = vq__blk_rw_all(fd, &v, 1, off, true, flags);

		if (r < 0)
			return r;
		off += k;
		len -= k;
	}
	return 0;
}

static bool fallocate_unsupported(int err)
{
	return err == EOPNOTSUPP || err == ENOSYS || err == EINVAL || err == ENODEV;
}

static int zero_range(struct vq_blk *b, uint64_t off, uint64_t len, bool unmap)
{
	if (unmap && fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       (off_t)off, (off_t)len) == 0)
		return 0;
	if (fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)len) == 0)
		return 0;
	if (!fallocate_unsupported(errno))
		return -errno;
	return write_zeros(b, off, len);
}

static int do_ranges(struct vq_blk *b, struct vq__blk_io *io)
{
	bool discard = io->r.type == VIRTIO_BLK_T_DISCARD;

	for (unsigned i = 0; i < io->r.nranges; i++) {
		const struct vq_blk_range *rg = &io->ranges[i];
		uint64_t off = rg->sector << VQ_BLK_SECTOR_SHIFT; /* in range: parsed */
		uint64_t len = (uint64_t)rg->num_sectors << VQ_BLK_SECTOR_SHIFT;
		int r;

		if (!len)
			continue;
		if (!discard) {
			r = zero_range(b, off, len,
				       rg->flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
			if (r < 0)
				return r;
			continue;
		}
		/* Discard is a hint: a store that cannot punch holes ignores it. */
		if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)len) < 0 && !fallocate_unsupported(errno))
			return -errno;
	}
	return 0;
}

static int do_flush(struct vq_blk *b)
{
	while (fdatasync(b->fd) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

void vq__blk_execute(struct vq_blk *b, struct vq__blk_io *io)
{
	const struct vq_blk_req *r = &io->r;

	if (b->p.io_hook)
		b->p.io_hook(b->p.opaque, io->q->idx, r->type, r->offset, r->len, false);
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		io->err = do_rw(b, io, false);
		break;
	case VIRTIO_BLK_T_OUT:
		io->err = do_rw(b, io, true);
		break;
	case VIRTIO_BLK_T_FLUSH:
		io->err = do_flush(b);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		io->err = do_ranges(b, io);
		break;
	default:
		io->err = -EOPNOTSUPP; /* not reached: the parser refused it */
		break;
	}
	if (b->p.io_hook)
		b->p.io_hook(b->p.opaque, io->q->idx, r->type, r->offset, r->len, true);
}
