/* SPDX-License-Identifier: MIT */
/*
 * `virtq-vsock client`: the userspace vsock driver (<virtq/vsock_drv.h>)
 * against a vsock device, talking to a host program behind it:
 *   echo: send BYTES (copy or zero-copy) and read them back (copy or
 *         zero-copy) through a host echo peer; --verify compares
 *   recv: read BYTES from a host source, copy or zero-copy (--zc-rx), in
 *         units of --pages pages; --verify checks the source's stream
 *   send: write BYTES to a host sink, copy or zero-copy (--zc-tx)
 * It prints one result line: seconds, MB/s, and per-MB counts (rx buffers
 * re-posted, credit updates, kicks, calls).  The data stream with --verify
 * is the one tests/interop/guest/vsock_peer.c writes and checks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <virtq/vsock_drv.h>

#include "../common/tool.h"
#include "vv.h"

enum { M_ECHO, M_RECV, M_SEND };
enum { OPT_PORT = VQT_OPT_TOOL_BASE, OPT_TYPE, OPT_MODE, OPT_BYTES, OPT_PAGES, OPT_ZC_RX,
       OPT_ZC_TX, OPT_VERIFY, OPT_PACKED, OPT_RXBUF_PAGES, OPT_RX_BUFS, OPT_BUF_ALLOC,
       OPT_QSIZE };

struct cl {
	const char *socket;
	unsigned port, pages, rxbuf_pages, rx_bufs, qsize;
	uint64_t bytes, buf_alloc;
	uint16_t type;
	int mode;
	bool zc_rx, zc_tx, verify, packed;
	struct vq_vsockdrv *d;
	struct vq_vsocksk *s;
	uint64_t gen_s, gen_w;      /* --verify: the expected stream */
	unsigned gen_left;
	uint64_t ck, ck_done;        /* zero-copy sends: last issued, last finished */
};

static const char usage[] =
"usage: virtq-vsock client --socket-path PATH --port P [OPTIONS]\n"
"  The userspace vsock driver: connect to host port P through the device\n"
"  at PATH (e.g. virtq-vsock, whose --uds-path peer listens on UDS_P).\n"
"  -s, --socket-path PATH  the device's vhost-user socket\n"
"      --port P          host port to connect to\n"
"      --type T          stream (default) or seqpacket\n"
"      --mode M          echo (default), recv or send\n"
"      --bytes SIZE      bytes to move (default 64m)\n"
"      --pages N         pages per send / per receive, 1..4096 (default 32;\n"
"                        a zero-copy receive lends at most 511 buffers)\n"
"      --zc-rx           receive zero-copy (lent rx buffers)\n"
"      --zc-tx           send zero-copy (pages in shared memory)\n"
"      --verify          check every byte\n"
"      --packed          packed rings (default split)\n"
"      --rx-buf-pages N  pages per rx buffer (default 1)\n"
"      --queue-size N    entries per queue, a power of two (default 1024)\n"
"      --rx-bufs N       rx buffers posted (default and most: queue size / 2)\n"
"      --buf-alloc SIZE  receive credit per socket (default half the rx pool)\n"
VQT_COMMON_HELP;

static const struct option longopts[] = {
	VQT_COMMON_OPTIONS,
	{ "socket-path", required_argument, NULL, 's' },
	{ "socket", required_argument, NULL, 's' },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "bytes", required_argument, NULL, OPT_BYTES },
	{ "pages", required_argument, NULL, OPT_PAGES },
	{ "zc-rx", no_argument, NULL, OPT_ZC_RX },
	{ "zc-tx", no_argument, NULL, OPT_ZC_TX },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "packed", no_argument, NULL, OPT_PACKED },
	{ "rx-buf-pages", required_argument, NULL, OPT_RXBUF_PAGES },
	{ "rx-bufs", required_argument, NULL, OPT_RX_BUFS },
	{ "buf-alloc", required_argument, NULL, OPT_BUF_ALLOC },
	{ "queue-size", required_argument, NULL, OPT_QSIZE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int pick(const char *a, const char *const *names, int n, int *out)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(a, names[i])) {
			*out = i;
			return 0;
		}
	return vqt_parse_fail("unknown value");
}

static int parse_opt(void *ctx, int c, const char *a)
{
	static const char *const modes[] = { "echo", "recv", "send" };
	static const char *const types[] = { "stream", "seqpacket" };
	struct cl *o = ctx;
	int t;

	switch (c) {
	case 's': o->socket = a; return 0;
	case OPT_PORT: return vqt_parse_uint(a, 0, UINT32_MAX, &o->port);
	case OPT_TYPE:
		if (pick(a, types, 2, &t) < 0)
			return -EINVAL;
		o->type = t ? VIRTIO_VSOCK_TYPE_SEQPACKET : VIRTIO_VSOCK_TYPE_STREAM;
		return 0;
	case OPT_MODE: return pick(a, modes, 3, &o->mode);
	case OPT_BYTES: return vqt_parse_size(a, &o->bytes);
	case OPT_PAGES: return vqt_parse_uint(a, 1, 4096, &o->pages);
	case OPT_ZC_RX: o->zc_rx = true; return 0;
	case OPT_ZC_TX: o->zc_tx = true; return 0;
	case OPT_VERIFY: o->verify = true; return 0;
	case OPT_PACKED: o->packed = true; return 0;
	case OPT_RXBUF_PAGES: return vqt_parse_uint(a, 1, 16, &o->rxbuf_pages);
	case OPT_RX_BUFS: return vqt_parse_uint(a, 16, 16384, &o->rx_bufs);
	case OPT_BUF_ALLOC: return vqt_parse_size(a, &o->buf_alloc);
	case OPT_QSIZE:
		if (vqt_parse_uint(a, 64, 32768, &o->qsize) < 0)
			return -EINVAL;
		return o->qsize & (o->qsize - 1) ? vqt_parse_fail("not a power of two") : 0;
	default: return vqt_parse_fail("unknown option");
	}
}

/* ---- the verify stream (vsock_peer.c's generator) */

static uint8_t gen_byte(struct cl *o)
{
	if (!o->gen_left) {
		o->gen_s ^= o->gen_s << 13;
		o->gen_s ^= o->gen_s >> 7;
		o->gen_s ^= o->gen_s << 17;
		o->gen_w = o->gen_s;
		o->gen_left = 8;
	}
	o->gen_left--;
	return (uint8_t)(o->gen_w >> (8 * o->gen_left));
}

static void gen_fill(struct cl *o, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = gen_byte(o);
}

static int gen_check(struct cl *o, const uint8_t *b, size_t n, uint64_t at)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != gen_byte(o)) {
			fprintf(stderr, "virtq-vsock client: byte %" PRIu64 " differs\n", at + i);
			return -EBADMSG;
		}
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int wait_some(struct cl *o)
{
	int rc = vq_vsockdrv_wait(o->d, 100);

	return rc < 0 ? rc : 0;
}

/* Wait until the device is done with zero-copy send `cookie` (cookies
 * increase; the device completes tx chains in order). */
static int zc_wait(struct cl *o, uint64_t cookie)
{
	uint64_t c[64];
	int rc;

	while (o->ck_done < cookie) {
		unsigned n = vq_vsockdrv_zc_done(o->d, c, 64);

		for (unsigned i = 0; i < n; i++)
			if (c[i] > o->ck_done)
				o->ck_done = c[i];
		if (o->ck_done < cookie && (rc = wait_some(o)) < 0)
			return rc;
	}
	return 0;
}

/* Send len bytes; zero-copy: *cookie is the last send's cookie. */
static int send_all(struct cl *o, const uint8_t *buf, size_t len, uint64_t *cookie)
{
	size_t done = 0;
	int rc;

	while (done < len) {
		ssize_t k;

		if (o->zc_tx) {
			struct iovec v = { (uint8_t *)buf + done, len - done };

			k = vq_vsocksk_send_zc(o->s, &v, 1, len - done, o->ck + 1);
			if (k > 0)
				*cookie = ++o->ck;
		} else {
			k = vq_vsocksk_send(o->s, buf + done, len - done, true);
		}
		if (k == -EAGAIN) {
			if ((rc = wait_some(o)) < 0)
				return rc;
			continue;
		}
		if (k < 0)
			return (int)k;
		done += (size_t)k;
	}
	return 0;
}

/* Some received bytes: into buf (cap) when buf, else checked or dropped.
 * Returns bytes, 0 at EOF, -errno. */
static ssize_t recv_some(struct cl *o, uint8_t *buf, size_t cap, uint64_t at)
{
	for (;;) {
		struct vq_vsock_zc zc;
		ssize_t k;
		int rc;

		if (!o->zc_rx) {
			k = vq_vsocksk_recv(o->s, buf, cap, NULL);
			if (k > 0 && o->verify && o->mode == M_RECV && gen_check(o, buf, (size_t)k, at))
				return -EBADMSG;
		} else if ((rc = vq_vsocksk_recv_zc(o->s, o->pages, &zc)) > 0) {
			size_t off = 0;

			for (unsigned i = 0; i < zc.n; i++) {
				size_t l = zc.hdr[i].length;

				if (o->mode == M_ECHO && off + l <= cap)
					memcpy(buf + off, zc.data[i], l);
				else if (o->mode == M_ECHO)
					return -EMSGSIZE;
				else if (o->verify && gen_check(o, zc.data[i], l, at + off))
					return -EBADMSG;
				off += l;
			}
			vq_vsocksk_release_zc(o->s, &zc);
			return (ssize_t)off;
		} else {
			k = rc;
		}
		if (k != -EAGAIN)
			return k;
		if ((rc = wait_some(o)) < 0)
			return rc;
	}
}

static int run_echo(struct cl *o)
{
	size_t chunk = (size_t)o->pages * 4096;
	uint8_t *out = vq_vsockdrv_alloc(o->d, chunk), *in = malloc(2 * chunk);
	uint64_t done = 0, ck = 0;
	int rc = 0;

	if (!out || !in)
		return -ENOMEM;
	while (done < o->bytes && !rc) {
		size_t n = o->bytes - done < chunk ? (size_t)(o->bytes - done) : chunk, got = 0;

		gen_fill(o, out, n);
		rc = send_all(o, out, n, &ck);
		while (!rc && got < n) {
			ssize_t k = recv_some(o, in + got, 2 * chunk - got, done + got);

			if (k <= 0)
				rc = k ? (int)k : -ECONNRESET;
			else
				got += (size_t)k;
		}
		if (!rc && o->zc_tx)
			rc = zc_wait(o, ck); /* before out is written again */
		if (!rc && (got != n || memcmp(in, out, n))) {
			fprintf(stderr, "virtq-vsock client: echo of bytes %" PRIu64 "..+%zu differs\n",
				done, n);
			rc = -EBADMSG;
		}
		done += n;
	}
	free(in);
	return rc;
}

static int run_recv(struct cl *o)
{
	size_t cap = (size_t)o->pages * 4096;
	uint8_t *buf = malloc(cap);
	uint64_t done = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (done < o->bytes) {
		ssize_t k = recv_some(o, buf, cap, done);

		if (k <= 0) {
			rc = k ? (int)k : (done < o->bytes ? -ECONNRESET : 0);
			break;
		}
		done += (uint64_t)k;
	}
	free(buf);
	return rc;
}

#define SEND_BUFS_MAX 64u

/* Buffers taken in turn: up to 16 MiB of them, at least 2, at most 64. */
static int run_send(struct cl *o)
{
	size_t chunk = (size_t)o->pages * 4096;
	unsigned nb = (unsigned)((16u << 20) / chunk);
	uint8_t *b[SEND_BUFS_MAX];
	uint64_t done = 0, k = 0, ck[SEND_BUFS_MAX] = { 0 };
	int rc = 0;

	nb = nb < 2 ? 2 : nb > SEND_BUFS_MAX ? SEND_BUFS_MAX : nb;
	for (unsigned i = 0; i < nb; i++)
		if (!(b[i] = vq_vsockdrv_alloc(o->d, chunk)))
			return -ENOMEM;
	while (done < o->bytes && !rc) {
		size_t n = o->bytes - done < chunk ? (size_t)(o->bytes - done) : chunk;
		unsigned i = (unsigned)(k % nb);

		if (o->zc_tx)
			rc = zc_wait(o, ck[i]); /* this buffer's previous send */
		if (!rc && o->verify)
			gen_fill(o, b[i], n);
		if (!rc)
			rc = send_all(o, b[i], n, &ck[i]);
		done += n;
		k++;
	}
	return rc;
}

static void report(struct cl *o, double secs)
{
	static const char *const modes[] = { "echo", "recv", "send" };
	struct vq_vsockdrv_stats st;
	double mb = (double)o->bytes / 1e6;
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	vq_vsockdrv_get_stats(o->d, &st);
	printf("virtq-vsock client: %s %s rx=%s tx=%s pages=%u: %" PRIu64 " bytes in %.3f s, "
	       "%.1f MB/s, %.2f Gbit/s; per MB: %.1f rx buffers re-posted, %.2f credit updates, "
	       "%.2f kicks, %.2f calls, 0 page-table operations; cpu %.3f user %.3f sys%s\n",
	       modes[o->mode], o->type == VIRTIO_VSOCK_TYPE_SEQPACKET ? "seqpacket" : "stream",
	       o->zc_rx ? "zc" : "copy", o->zc_tx ? "zc" : "copy", o->pages, o->bytes, secs,
	       mb / secs, mb * 8e-3 / secs, st.rx_reposted / mb, st.credit_updates / mb,
	       st.kicks / mb, st.calls / mb,
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6,
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6,
	       o->verify ? ", verified" : "");
}

static int client(struct cl *o)
{
	struct vq_vsockdrv_params p = {
		.path = o->socket, .queue_size = o->qsize, .rx_bufs = o->rx_bufs, .rx_buf_pages = o->rxbuf_pages,
		.buf_alloc = (uint32_t)o->buf_alloc,
		.features = VQ_VSOCK_F_SEQPACKET | VQ_F_EVENT_IDX | VQ_F_INDIRECT |
			    (o->packed ? VQ_F_PACKED : 0),
	};
	double t0;
	int rc;

	rc = vq_vsockdrv_new(&p, &o->d);
	if (rc < 0) {
		fprintf(stderr, "virtq-vsock client: cannot start the driver on %s: %s\n",
			o->socket, strerror(-rc));
		return rc;
	}
	rc = vq_vsocksk_connect(o->d, o->port, o->type, 5000, &o->s);
	if (rc < 0) {
		fprintf(stderr, "virtq-vsock client: connect to host port %u: %s\n", o->port,
			strerror(-rc));
		vq_vsockdrv_free(o->d);
		return rc;
	}
	t0 = now();
	rc = o->mode == M_ECHO ? run_echo(o) : o->mode == M_RECV ? run_recv(o) : run_send(o);
	if (!rc)
		report(o, now() - t0);
	else
		fprintf(stderr, "virtq-vsock client: %s\n", strerror(-rc));
	vq_vsocksk_close(o->s);
	for (int i = 0; i < 10; i++)
		vq_vsockdrv_wait(o->d, 10); /* the SHUTDOWN goes out, the RST comes back */
	vq_vsockdrv_free(o->d);
	return rc;
}

int vv_client_main(int argc, char **argv)
{
	struct cl o = { .type = VIRTIO_VSOCK_TYPE_STREAM, .bytes = 64u << 20, .pages = 32,
			.gen_s = 0x1234567887654321ull };
	const struct vqt_cli cli = {
		.prog = "virtq-vsock client", .help = usage, .shortopts = "s:",
		.longopts = longopts, .one = parse_opt, .ctx = &o,
	};
	int r = vqt_getopt(&cli, argc, argv);

	if (r)
		return r > 0 ? 0 : 2;
	if (!o.socket || optind < argc)
		return vqt_usage_error(cli.prog, "--socket-path is required, and nothing else") ? 2 : 2;
	if (o.zc_tx && o.type == VIRTIO_VSOCK_TYPE_SEQPACKET)
		return vqt_usage_error(cli.prog, "--zc-tx sends streams only"), 2;
	if (o.mode == M_ECHO)
		o.gen_s = 0x9e3779b97f4a7c15ull;
	return client(&o) < 0 ? 1 : 0;
}
