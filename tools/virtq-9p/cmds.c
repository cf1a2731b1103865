/* SPDX-License-Identifier: MIT */
/* virtq-9p ls | cat | cp | stat | bench: the client library over TCP. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "v9.h"

#define CHUNK (4u << 20)

static int fail(const char *what, const char *path, int err)
{
	vqt_log(VQT_LOG_ERR, "%s %s: %s", what, path, strerror(-err));
	return 1;
}

/* Walk to path and open it; 0 and *fid or -errno. */
static int open_path(struct vq_9p_client *cl, const char *path, uint32_t flags, uint32_t *fid)
{
	int err = vq_9p_client_walk(cl, path, fid);

	if (err)
		return err;
	err = vq_9p_client_open(cl, *fid, flags);
	if (err)
		vq_9p_client_clunk(cl, *fid);
	return err;
}

static int ls_one(void *ctx, const char *name, uint8_t type, uint64_t ino)
{
	(void)ctx;
	printf("%c %10" PRIu64 " %s\n", type & 0x80 ? 'd' : type & 0x02 ? 'l' : '-', ino, name);
	return 0;
}

static int cmd_ls(struct vq_9p_client *cl, const char *path)
{
	uint32_t fid;
	int err = open_path(cl, path, O_RDONLY, &fid);

	if (err)
		return fail("ls", path, err);
	err = vq_9p_client_readdir(cl, fid, ls_one, NULL);
	vq_9p_client_clunk(cl, fid);
	return err ? fail("ls", path, err) : 0;
}

static int cmd_stat(struct vq_9p_client *cl, const char *path)
{
	struct vq_9p_attr a;
	uint32_t fid;
	int err = vq_9p_client_walk(cl, path, &fid);

	if (!err) {
		err = vq_9p_client_getattr(cl, fid, &a);
		vq_9p_client_clunk(cl, fid);
	}
	if (err)
		return fail("stat", path, err);
	printf("path %s\nino %" PRIu64 "\nmode 0%o\nuid %u\ngid %u\nnlink %" PRIu64
	       "\nsize %" PRIu64 "\nblocks %" PRIu64 "\nmtime %" PRId64 ".%09u\n",
	       path, a.ino, a.mode, a.uid, a.gid, a.nlink, a.size, a.blocks, a.mtime_sec,
	       a.mtime_nsec);
	return 0;
}

/* Remote file -> local fd. */
static int copy_out(struct vq_9p_client *cl, const char *path, int out)
{
	uint8_t *buf = malloc(CHUNK);
	uint64_t off = 0;
	uint32_t fid;
	int err = buf ? open_path(cl, path, O_RDONLY, &fid) : -ENOMEM;

	while (!err) {
		int64_t n = vq_9p_client_pread(cl, fid, off, buf, CHUNK);

		if (n < 0)
			err = (int)n;
		if (n <= 0)
			break;
		for (int64_t w = 0; w < n && !err;) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));

			if (k < 0)
				err = -errno;
			else
				w += k;
		}
		off += (uint64_t)n;
	}
	if (buf && !err)
		vq_9p_client_clunk(cl, fid);
	free(buf);
	return err;
}

/* Local fd -> new remote file at path (its directory must exist). */
static int copy_in(struct vq_9p_client *cl, int in, const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	uint8_t *buf = malloc(CHUNK);
	uint64_t off = 0;
	uint32_t fid;
	int err;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 0, path);
	err = buf ? vq_9p_client_walk(cl, dir, &fid) : -ENOMEM;
	if (!err) {
		err = vq_9p_client_create(cl, fid, slash ? slash + 1 : path,
					  O_WRONLY | O_TRUNC, 0644);
		if (err)
			vq_9p_client_clunk(cl, fid);
	}
	while (!err) {
		ssize_t n = read(in, buf, CHUNK);
		int64_t w;

		if (n <= 0) {
			err = n < 0 ? -errno : 0;
			break;
		}
		w = vq_9p_client_pwrite(cl, fid, off, buf, (uint64_t)n);
		if (w != n)
			err = w < 0 ? (int)w : -EIO;
		off += (uint64_t)n;
	}
	if (buf && !err)
		vq_9p_client_clunk(cl, fid);
	free(buf);
	return err;
}

/* cp :REMOTE LOCAL or cp LOCAL :REMOTE */
static int cmd_cp(struct vq_9p_client *cl, const char *src, const char *dst)
{
	int fd, err;

	if (src[0] == ':' && dst[0] != ':') {
		fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return fail("cp: open", dst, -errno);
		err = copy_out(cl, src + 1, fd);
		close(fd);
		return err ? fail("cp", src, err) : 0;
	}
	if (dst[0] == ':' && src[0] != ':') {
		fd = open(src, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail("cp: open", src, -errno);
		err = copy_in(cl, fd, dst + 1);
		close(fd);
		return err ? fail("cp", dst, err) : 0;
	}
	vqt_log(VQT_LOG_ERR, "cp: one side must be remote (:PATH), the other local");
	return 2;
}

/* Fletcher-style checksum over every byte, 8 at a time (the tail bytewise). */
static void csum(uint64_t *a, uint64_t *b, const uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		*a += w;
		*b += *a;
	}
	for (; i < n; i++) {
		*a += p[i];
		*b += *a;
	}
}

/* The read buffer (shared memory over vhost-user): one block, or
 * page-sized segments, each its own descriptor: with --pages in order, with
 * --scatter in reverse page order, so that no two are adjacent. */
static struct iovec *bench_buf(const struct v9_opts *o, struct v9_vu *vu, uint32_t len,
			       unsigned *n, void **heap)
{
	unsigned pages = (len + 4095) / 4096;
	uint8_t *blk = vu ? v9_vu_alloc(vu, (size_t)pages * 4096) : malloc((size_t)pages * 4096);
	struct iovec *v = calloc(pages, sizeof(*v));

	*heap = vu ? NULL : blk; /* shared memory is the transport's */
	if (!blk || !v) {
		free(*heap);
		*heap = NULL;
		free(v);
		return NULL;
	}
	if (!o->scatter && !o->pages) {
		v[0] = (struct iovec){ blk, len };
		*n = 1;
		return v;
	}
	for (unsigned i = 0; i < pages; i++)
		v[i] = (struct iovec){ blk + (size_t)(o->scatter ? pages - 1 - i : i) * 4096,
				       i + 1 < pages ? 4096 : len - i * 4096u };
	*n = pages;
	return v;
}

static void csum_iov(uint64_t *a, uint64_t *b, const struct iovec *v, unsigned n, uint64_t len)
{
	for (unsigned i = 0; i < n && len; i++) {
		size_t k = v[i].iov_len < len ? v[i].iov_len : len;

		csum(a, b, v[i].iov_base, k);
		len -= k;
	}
}

struct csum_state {
	uint64_t a, b;
};

static void csum_consume(void *ctx, const struct iovec *v, unsigned n, uint64_t len)
{
	struct csum_state *c = ctx;

	csum_iov(&c->a, &c->b, v, n, len);
}

static void no_consume(void *ctx, const struct iovec *v, unsigned n, uint64_t len)
{
	(void)ctx, (void)v, (void)n, (void)len;
}

/* bench_seq with o->qd requests in flight over vhost-user, each slot its
 * own buffer; each answer is checksummed while the next ones are read. */
static int bench_stream(struct vq_9p_client *cl, const struct v9_opts *o, struct v9_vu *vu,
			const char *path)
{
	uint32_t chunk = vq_9p_client_msize(cl) - 24; /* as bench_seq: msize less the I/O header */
	unsigned max = v9_vu_max_segs(vu) - 2; /* a chain: the Tread, the Rread header, data */
	struct v9_stream s = { .qd = o->qd, .consume = no_consume };
	struct csum_state c = { 0, 0 };
	struct vq_9p_attr at;
	uint64_t t0;
	uint32_t fid;
	void *heap;
	int err = o->qd > V9_STREAM_MAX ? -EINVAL : open_path(cl, path, O_RDONLY, &fid);

	if (err)
		return fail("bench", path, err);
	s.fid = fid;
	err = vq_9p_client_getattr(cl, fid, &at);

	for (unsigned i = 0; !err && i < s.qd; i++) {
		s.buf[i] = bench_buf(o, vu, chunk, &s.nseg[i], &heap);
		if (!s.buf[i])
			err = -ENOMEM;
		else if (s.nseg[i] > max)
			s.nseg[i] = max; /* the spec limit: a shorter request */
		for (unsigned k = 0; !err && k < s.nseg[i]; k++)
			memset(s.buf[i][k].iov_base, 0, s.buf[i][k].iov_len);
	}
	/* warm-up, untimed: one request per slot faults in both sides' pages */
	s.size = (uint64_t)s.qd * chunk < at.size ? (uint64_t)s.qd * chunk : at.size;
	if (!err)
		err = v9_vu_bench_stream(vu, &s);
	s.size = o->bench_size && o->bench_size < at.size ? o->bench_size : at.size;
	s.consume = csum_consume;
	s.ctx = &c;
	t0 = vqt_now_ns();
	if (!err)
		err = v9_vu_bench_stream(vu, &s);
	double secs = (double)(vqt_now_ns() - t0) / 1e9;

	for (unsigned i = 0; i < s.qd; i++)
		free(s.buf[i]);
	if (err)
		return fail("bench: read", path, err);
	printf("seq msize %u segs %u qd %u reqs %u bytes %" PRIu64 " secs %.3f MB/s %.1f csum %016"
	       PRIx64 "%016" PRIx64 "\n", vq_9p_client_msize(cl), s.nseg[0], s.qd, s.reqs,
	       s.bytes, secs, (double)s.bytes / secs / 1e6, c.a, c.b);
	vq_9p_client_clunk(cl, fid);
	return 0;
}

static int bench_seq(struct vq_9p_client *cl, const struct v9_opts *o, struct v9_vu *vu,
		     const char *path)
{
	uint32_t chunk = vq_9p_client_msize(cl) - 24, fid;
	unsigned n, reqs = 0;
	void *heap;
	struct iovec *v = bench_buf(o, vu, chunk, &n, &heap);
	uint64_t off = 0, a = 0, b = 0, t0;
	int err = v ? open_path(cl, path, O_RDONLY, &fid) : -ENOMEM;

	if (err) {
		free(heap);
		free(v);
		return fail("bench", path, err);
	}
	/* warm-up: one untimed request faults in every page of the buffer on
	 * both sides (a first touch costs more than the copy on some hosts) */
	for (unsigned i = 0; i < n; i++)
		memset(v[i].iov_base, 0, v[i].iov_len);
	if (vq_9p_client_readv(cl, fid, 0, v, n) < 0) {
		free(heap);
		free(v);
		return fail("bench: read", path, -EIO);
	}
	t0 = vqt_now_ns();
	while (!o->bench_size || off < o->bench_size) {
		unsigned k = n;
		size_t whole = 0;
		int64_t got;

		if (o->bench_size && o->bench_size - off < chunk) {
			/* the last request: only the bytes --size still asks for */
			uint64_t rem = o->bench_size - off;

			for (k = 0; rem > v[k].iov_len; k++)
				rem -= v[k].iov_len;
			whole = v[k].iov_len;
			v[k++].iov_len = (size_t)rem;
		}
		got = vq_9p_client_readv(cl, fid, off, v, k);
		if (whole)
			v[k - 1].iov_len = whole;
		if (got < 0) {
			free(heap);
			free(v);
			return fail("bench: read", path, (int)got);
		}
		if (got == 0)
			break;
		reqs++;
		/* a short read (spec-limited chain): the rest of the buffer next */
		csum_iov(&a, &b, v, n, (uint64_t)got);
		off += (uint64_t)got;
	}
	double s = (double)(vqt_now_ns() - t0) / 1e9;

	printf("seq msize %u segs %u reqs %u bytes %" PRIu64 " secs %.3f MB/s %.1f csum %016"
	       PRIx64 "%016" PRIx64 "\n", vq_9p_client_msize(cl), n, reqs, off, s,
	       (double)off / s / 1e6, a, b);
	vq_9p_client_clunk(cl, fid);
	free(heap);
	free(v);
	return 0;
}

static int bench_rand(struct vq_9p_client *cl, const struct v9_opts *o, struct v9_vu *vu,
		      const char *path)
{
	struct vq_9p_attr at;
	uint8_t local[4096], *buf = vu ? v9_vu_alloc(vu, 4096) : local;
	uint64_t ops = 0, rng = 88172645463325252ull, t0, end;
	uint32_t fid;
	int err = buf ? open_path(cl, path, O_RDONLY, &fid) : -ENOMEM;

	if (!err)
		err = vq_9p_client_getattr(cl, fid, &at);
	if (!err && at.size < 4096)
		err = -EINVAL;
	if (err)
		return fail("bench", path, err);
	if (vu && o->qd > 1) {
		t0 = vqt_now_ns();
		err = v9_vu_bench_qd(vu, fid, at.size, o->qd, o->bench_secs, &ops);
		if (err)
			return fail("bench: read", path, err);
		double s = (double)(vqt_now_ns() - t0) / 1e9;

		printf("rand4k qd %u ops %" PRIu64 " secs %.3f IOPS %.0f\n", o->qd, ops, s,
		       (double)ops / s);
		vq_9p_client_clunk(cl, fid);
		return 0;
	}
	t0 = vqt_now_ns();
	end = t0 + (uint64_t)(o->bench_secs * 1e9);
	while (vqt_now_ns() < end) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		int64_t n = vq_9p_client_read(cl, fid, (rng % (at.size / 4096)) * 4096, buf, 4096);

		if (n != 4096)
			return fail("bench: read", path, n < 0 ? (int)n : -EIO);
		ops++;
	}
	double s = (double)(vqt_now_ns() - t0) / 1e9;

	printf("rand4k qd 1 ops %" PRIu64 " secs %.3f IOPS %.0f\n", ops, s, (double)ops / s);
	vq_9p_client_clunk(cl, fid);
	return 0;
}

static int run_cmd(struct vq_9p_client *cl, const struct v9_opts *o, struct v9_vu *vu)
{
	const char *c = o->cmd;

	if (!strcmp(c, "ls") || !strcmp(c, "cat") || !strcmp(c, "stat")) {
		for (int i = 0; i < (o->nargs ? o->nargs : 1); i++) {
			const char *p = o->nargs ? o->args[i] : "";
			int r, e;

			if (!strcmp(c, "ls"))
				r = cmd_ls(cl, p);
			else if (!strcmp(c, "stat"))
				r = cmd_stat(cl, p);
			else
				r = (e = copy_out(cl, p, 1)) ? fail("cat", p, e) : 0;

			if (r)
				return r;
		}
		return 0;
	}
	if (!strcmp(c, "cp"))
		return cmd_cp(cl, o->args[0], o->args[1]);
	if (o->random)
		return bench_rand(cl, o, vu, o->args[0]);
	return vu && o->qd > 1 ? bench_stream(cl, o, vu, o->args[0]) : bench_seq(cl, o, vu, o->args[0]);
}

/* preadv of the file's first len bytes, in chunks, into one buffer cut into
 * 4 KiB segments, 1024 a call, as the device's io_uring readv writes a
 * chain's pages.  0 or -errno. */
static int kcopy_pass(int fd, uint8_t *dst, uint32_t chunk, uint64_t len)
{
	static struct iovec v[1024];

	for (uint64_t off = 0; off < len;) {
		uint64_t want = len - off < chunk ? len - off : chunk;

		for (uint64_t done = 0; done < want;) {
			unsigned n = 0;

			for (uint64_t at = done; n < 1024 && at < want; n++, at += 4096)
				v[n] = (struct iovec){ dst + at, want - at < 4096 ? want - at : 4096 };
			ssize_t r = preadv(fd, v, (int)n, (off_t)(off + done));

			if (r <= 0)
				return r < 0 ? -errno : -EIO;
			done += (uint64_t)r;
		}
		off += want;
	}
	return 0;
}

/* The server's copy without 9p, in MB/s (or a negative -errno).  A first
 * chunk untimed: on a virtual machine the kernel's first write to each page
 * of a buffer can cost more than the copy (the 9p bench's untimed first
 * request does the same for the server). */
static double kcopy_rate(int fd, uint8_t *dst, uint32_t chunk, uint64_t len)
{
	int err = kcopy_pass(fd, dst, chunk, len < chunk ? len : chunk);
	uint64_t t0 = vqt_now_ns();

	if (!err)
		err = kcopy_pass(fd, dst, chunk, len);
	return err ? err : (double)len / ((double)(vqt_now_ns() - t0) / 1e9) / 1e6;
}

/* The physical bounds, from a local file held in memory (mapped,
 * pre-faulted; 1 GiB is far larger than any CPU cache, so every pass is
 * cold), in chunks of msize - 24: memcpy into one pre-faulted buffer; the
 * checksum the client runs; and the kernel's copy (kcopy_rate). */
int v9_bench_memcpy(const struct v9_opts *o)
{
	uint32_t chunk = (o->msize ? o->msize : (512u << 10)) - 24;
	int fd = open(o->args[0], O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *src, *dst;
	uint64_t t0, len, a = 0, b = 0;
	double mc, cs, kc;

	if (fd < 0 || fstat(fd, &st) < 0)
		return fail("bench --memcpy", o->args[0], -errno);
	len = o->bench_size && o->bench_size < (uint64_t)st.st_size ? o->bench_size
								    : (uint64_t)st.st_size;
	src = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = malloc(chunk);
	if (src == MAP_FAILED || !dst) {
		close(fd);
		return fail("bench --memcpy", o->args[0], -ENOMEM);
	}
	memset(src, 0xa5, len);
	for (uint64_t off = 0; off < len;) {
		ssize_t n = pread(fd, src + off, len - off, (off_t)off);

		if (n <= 0) {
			close(fd);
			return fail("bench --memcpy: read", o->args[0], n < 0 ? -errno : -EIO);
		}
		off += (uint64_t)n;
	}
	memset(dst, 1, chunk);
	t0 = vqt_now_ns();
	for (uint64_t off = 0; off < len; off += chunk)
	{
		memcpy(dst, src + off, len - off < chunk ? len - off : chunk);
		__asm__ volatile("" : : "r"(dst) : "memory"); /* the copy is used */
	}
	mc = (double)len / ((double)(vqt_now_ns() - t0) / 1e9) / 1e6;
	t0 = vqt_now_ns();
	csum(&a, &b, src, len);
	cs = (double)len / ((double)(vqt_now_ns() - t0) / 1e9) / 1e6;
	kc = kcopy_rate(fd, dst, chunk, len);
	close(fd);
	munmap(src, len);
	free(dst);
	if (kc < 0)
		return fail("bench --memcpy: preadv", o->args[0], (int)kc);
	printf("memcpy chunk %u bytes %" PRIu64 " MB/s %.1f kcopy MB/s %.1f csum MB/s %.1f "
	       "(%016" PRIx64 ")\n", chunk, len, mc, kc, cs, b);
	return 0;
}

int v9_client_cmd(const struct v9_opts *o)
{
	struct vq_9p_client_params p = { .msize = o->msize, .uname = o->uname,
					 .aname = o->aname };
	uint32_t msize = o->msize ? o->msize : (512u << 10);
	struct vq_9p_client *cl;
	struct v9_vu *vu = NULL;
	int fd = -1, err, r;

	if (o->socket) {
		err = v9_vu_open(o, !strcmp(o->cmd, "bench") ? (size_t)o->qd * (msize + 4096) + (1u << 20) : 0, &vu,
				 &p.transport);
		if (err)
			return fail("cannot use vhost-user", o->socket, err);
	} else {
		err = v9_tcp_connect(o->tcp, &fd);
		if (err)
			return fail("cannot connect to", o->tcp, err);
		p.transport = (struct vq_9p_client_transport){ v9_tcp_rpc, (void *)(intptr_t)fd, 0 };
	}
	err = vq_9p_client_new(&p, &cl);
	if (err) {
		r = fail("9p session with", o->socket ? o->socket : o->tcp, err);
	} else {
		r = run_cmd(cl, o, vu);
		vq_9p_client_free(cl);
	}
	if (fd >= 0)
		close(fd);
	v9_vu_close(vu);
	return r;
}
