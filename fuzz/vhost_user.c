/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: vhost-user message handling, both ends.
 *
 * Backend (first byte even): a sequence of messages, each sent with its
 * own sendmsg (memfds or eventfds attached when the input asks) to a
 * vq_vu_backend driven in mode (c) over a real unix socket, one
 * vq_vu_dispatch per message.  Replies are checked (version 1, REPLY flag,
 * the request's code, size <= VQ_VU_MAX_PAYLOAD).  At the end the
 * connection is closed and no fd may have leaked.
 *   per message: u8 request (% 42), u8 ctl, [u32 raw flags if ctl bit7],
 *   u8 fds (count % 4 in bits 0-1, bit k+2: fd k is an eventfd, not a memfd),
 *   u16 payload length (% 512), [u32 raw size if ctl bit6, then last message],
 *   payload bytes.  ctl bit3: NEED_REPLY; bits 0-1 != 0: bad version.
 *
 * Frontend (first byte odd): vq_fe_connect, get_config, stop against a fake
 * backend thread that answers each request as the input says: u8 action
 * (0-1: correct reply with u64 value from the input, 2: raw bytes, 3: hang
 * up), so an all-zero input is a successful connect.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <virtq/frontend.h>
#include <virtq/vhost_user.h>

#include "fuzz.h"

#define MAX_MSGS 64u
#define MEMFD_SIZE (64u * 1024u)
#define HDR 12u

/* ---- backend side */

static int d_start(void *dev, struct vq_vu_queue *q)
{
	struct vq_dev *d = vq_vu_queue_dev(q);
	struct iovec iov[16];
	struct vq_elem e = { .iov = iov, .iov_cap = 16 };

	/* Walk whatever the frontend put in the ring (memfd contents). */
	for (int i = 0; d && i < 16 && vq_dev_pop(d, &e) == 1; i++)
		vq_dev_push(d, &e, 0);
	if (d)
		vq_dev_flush(d);
	return 0;
}

static void d_stop(void *dev, struct vq_vu_queue *q) { }

static int d_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	if (off > 64 || len > 64 - off)
		return -EINVAL;
	memset(buf, 0xab, len);
	return 0;
}

static int d_set_config(void *dev, uint32_t off, const void *buf, uint32_t len, uint32_t fl)
{
	return off > 64 || len > 64 - off ? -EINVAL : 0;
}

static int d_rarp(void *dev, const uint8_t mac[6]) { return 0; }
static int d_mtu(void *dev, uint16_t mtu) { return mtu < 68 ? -EINVAL : 0; }
static int d_status(void *dev, uint8_t s) { return 0; }
static void quiet(void *ctx, int level, const char *msg) { }

static const struct vq_vu_device_ops dops = {
	.queue_start = d_start, .queue_stop = d_stop, .get_config = d_get_config,
	.set_config = d_set_config, .send_rarp = d_rarp, .set_mtu = d_mtu,
	.set_status = d_status,
};

static struct sockaddr_un be_addr;
static socklen_t be_len;

static struct vq_vu_backend *backend(void)
{
	static struct vq_vu_backend *b;
	struct vq_vu_params c = {
		.name = "fuzz", .mode = VQ_VU_SERVER, .ops = &dops,
		.features = VQ_F_VERSION_1 | VQ_F_INDIRECT | VQ_F_EVENT_IDX | VQ_F_PACKED |
			    VQ_F_IN_ORDER,
		.protocol_features = VQ_VU_PROTOCOL_F_ALL, .num_queues = 4,
	};
	int fd;

	if (b)
		return b;
	/* VQ_FUZZ_LOG=1: the library's log lines on stderr, to debug an input. */
	if (getenv("VQ_FUZZ_LOG"))
		vq_vu_set_log(NULL, NULL, VQ_VU_LOG_DEBUG);
	else
		vq_vu_set_log(quiet, NULL, 0);
	be_addr.sun_family = AF_UNIX;
	snprintf(be_addr.sun_path + 1, sizeof(be_addr.sun_path) - 1, "virtq-fuzz-be-%d", getpid());
	be_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			     strlen(be_addr.sun_path + 1));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&be_addr, be_len) || listen(fd, 4))
		abort();
	c.listen_fd = fd;
	if (vq_vu_backend_new(&c, &b))
		abort();
	return b;
}

static int make_fd(bool event, struct fz *f)
{
	int fd;
	size_t got;
	const uint8_t *p;

	if (event)
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, MEMFD_SIZE))
		abort();
	p = fz_take(f, fz_u8(f), &got); /* initial contents: rings, tables */
	if (got && pwrite(fd, p, got, 0) != (ssize_t)got)
		abort();
	return fd;
}

static void send_msg(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (nfds) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	(void)sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Check every complete reply waiting on the frontend end of the socket. */
static void check_replies(int sock, uint32_t req)
{
	static uint8_t buf[64 * 1024];
	ssize_t n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
	size_t off = 0;

	while (n > 0 && off + HDR <= (size_t)n) {
		uint32_t h[3];

		memcpy(h, buf + off, HDR);
		FZ_CHECK((h[1] & 3) == 1 && (h[1] & 4), "reply flags 0x%x", h[1]);
		FZ_CHECK(h[0] == req, "reply to request %u for request %u", h[0], req);
		FZ_CHECK(h[2] <= VQ_VU_MAX_PAYLOAD, "reply of %u bytes", h[2]);
		off += HDR + h[2];
	}
}

/* One message from the input; returns false after the last one. */
static bool one_msg(struct vq_vu_backend *b, int sock, struct fz *f)
{
	static uint8_t msg[HDR + 4096];
	uint32_t req = fz_u8(f) % 42, flags = 1;
	uint8_t ctl = fz_u8(f), fsel;
	int fds[4];
	unsigned nfds, len;
	bool last = false;

	if (ctl & 0x80)
		flags = fz_u32(f);
	else
		flags = (ctl & 3 ? ctl & 3 : 1) | (ctl & 8);
	fsel = fz_u8(f);
	nfds = fsel & 3;
	len = fz_u16(f) % 512;
	memcpy(msg, &req, 4);
	memcpy(msg + 4, &flags, 4);
	memcpy(msg + 8, &len, 4);
	if (ctl & 0x40) {
		uint32_t raw = fz_u32(f);

		memcpy(msg + 8, &raw, 4);
		last = true; /* the stream may be out of sync from here on */
	}
	fz_bytes(f, msg + HDR, len);
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = make_fd(fsel & (4u << i), f);
	send_msg(sock, msg, HDR + len, fds, nfds);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	if (last)
		shutdown(sock, SHUT_WR);
	(void)vq_vu_dispatch(b);
	check_replies(sock, req);
	return !last && vq_vu_is_connected(b);
}

static int lowest_free_fd(void)
{
	int fd = dup(0);

	close(fd);
	return fd;
}

static void fuzz_backend(struct fz *f)
{
	struct vq_vu_backend *b = backend();
	int base = lowest_free_fd();
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (sock < 0 || connect(sock, (struct sockaddr *)&be_addr, be_len))
		abort();
	(void)vq_vu_dispatch(b); /* accept */
	FZ_CHECK(vq_vu_is_connected(b), "backend did not accept");
	for (unsigned n = 0; n < MAX_MSGS && fz_left(f) && one_msg(b, sock, f); n++)
		;
	close(sock);
	if (vq_vu_is_connected(b))
		(void)vq_vu_dispatch(b); /* reads EOF */
	FZ_CHECK(!vq_vu_is_connected(b), "backend missed the hang-up");
	FZ_CHECK(vq_vu_mem(b) == NULL, "memory map kept after disconnect");
	FZ_CHECK(lowest_free_fd() == base, "fd leak: lowest free fd %d, was %d",
		 lowest_free_fd(), base);
}

/* ---- frontend side: a fake backend thread answers as the input says */

struct fake {
	int sock;
	struct fz *f;
};

static bool read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);

		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/* Read one request (closing any fds it carries); false at EOF. */
static bool fake_recv(int sock, uint32_t h[3], uint8_t *payload)
{
	char cbuf[CMSG_SPACE(8 * sizeof(int))];
	struct iovec iov = { h, HDR };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

	for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	if (n <= 0 || (n < (ssize_t)HDR && !read_full(sock, (uint8_t *)h + n, HDR - (size_t)n)))
		return false;
	return h[2] <= 4096 && read_full(sock, payload, h[2]);
}

static uint64_t sane_value(uint32_t req)
{
	switch (req) {
	case 1: return VQ_F_VERSION_1 | VQ_F_INDIRECT | VQ_F_EVENT_IDX | VQ_F_PACKED | (1ull << 30);
	case 15: return VQ_FE_PROTOCOL_F_DEFAULT;
	case 17: return 2;
	default: return 0;
	}
}

/* The reply to h (a GET_* or a NEED_REPLY ack) into out; its payload size, or -1. */
static int fake_reply(const uint32_t h[3], const uint8_t *pl, bool sane, struct fz *f,
		      uint8_t *out)
{
	uint64_t v = sane ? sane_value(h[0]) : fz_u64(f);
	uint32_t size = 8;

	switch (h[0]) {
	case 11: /* GET_VRING_BASE: the index, then the base */
		memcpy(out, pl, 4);
		memcpy(out + 4, &v, 4);
		break;
	case 24: /* GET_CONFIG: echo offset, size, flags; then the data */
		size = h[2];
		memcpy(out, pl, size);
		if (size > 12 && !sane)
			fz_bytes(f, out + 12, size - 12);
		break;
	case 1: case 15: case 17: case 36: case 40:
		memcpy(out, &v, 8);
		break;
	default:
		if (!(h[1] & 8))
			return -1;
		memcpy(out, &v, 8);
	}
	return (int)size;
}

static void *fake_backend(void *arg)
{
	struct fake *k = arg;
	static uint8_t pl[4096], out[HDR + 4096];
	uint32_t h[3];

	while (fake_recv(k->sock, h, pl)) {
		uint8_t act = fz_u8(k->f) % 4;
		int size;

		if (act == 3)
			break;
		if (act == 2) {
			size_t got;
			const uint8_t *raw = fz_take(k->f, fz_u8(k->f), &got);

			(void)!send(k->sock, raw, got, MSG_NOSIGNAL);
			shutdown(k->sock, SHUT_WR);
			continue;
		}
		size = fake_reply(h, pl, act == 0, k->f, out + HDR);
		if (size < 0)
			continue;
		memcpy(out, (uint32_t[3]){ h[0], 1 | 4, (uint32_t)size }, HDR);
		(void)!send(k->sock, out, HDR + (size_t)size, MSG_NOSIGNAL);
	}
	shutdown(k->sock, SHUT_RDWR);
	return NULL;
}

static struct vq_fe *frontend(struct sockaddr_un *sa)
{
	static struct vq_fe *fe;
	static char path[64];
	struct vq_fe_params c = {
		.path = path, .mode = VQ_FE_SERVER,
		.features = VQ_F_VERSION_1 | VQ_F_INDIRECT | VQ_F_EVENT_IDX | VQ_F_PACKED,
		.num_queues = 2, .queue_size = 8, .indirect_tables = 2, .mem_size = 4096,
		.timeout_ms = 50,
	};

	snprintf(path, sizeof(path), "/tmp/virtq-fuzz-fe-%d.sock", getpid());
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
	if (!fe && vq_fe_new(&c, &fe))
		abort();
	return fe;
}

static void fuzz_frontend(uint8_t mode, struct fz *f)
{
	struct sockaddr_un sa;
	struct vq_fe *fe = frontend(&sa);
	int base = lowest_free_fd(), rc;
	struct fake k = { socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), f };
	pthread_t t;

	if (k.sock < 0 || connect(k.sock, (struct sockaddr *)&sa, sizeof(sa)) ||
	    pthread_create(&t, NULL, fake_backend, &k))
		abort();
	rc = vq_fe_connect(fe);
	if (getenv("VQ_FUZZ_LOG"))
		fprintf(stderr, "fuzz: vq_fe_connect: %d %s\n", rc, vq_fe_error(fe));
	FZ_CHECK((rc == 0) == (vq_fe_state(fe) == VQ_FE_READY), "connect %d, state %d", rc,
		 vq_fe_state(fe));
	if (rc)
		FZ_CHECK(vq_fe_error(fe)[0] != '\0', "connect failed (%d) without a reason", rc);
	if (rc == 0 && (mode & 2)) {
		uint8_t cfg[16];

		(void)vq_fe_get_config(fe, 0, cfg, sizeof(cfg));
	}
	if (vq_fe_state(fe) == VQ_FE_READY && (mode & 4))
		(void)vq_fe_stop(fe);
	(void)vq_fe_poll(fe);
	vq_fe_disconnect(fe);
	FZ_CHECK(vq_fe_state(fe) == VQ_FE_DISCONNECTED, "state %d after disconnect",
		 vq_fe_state(fe));
	pthread_join(t, NULL);
	close(k.sock);
	FZ_CHECK(lowest_free_fd() == base, "fd leak: lowest free fd %d, was %d",
		 lowest_free_fd(), base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t mode = fz_u8(&f);

	if (mode & 1)
		fuzz_frontend(mode, &f);
	else
		fuzz_backend(&f);
	return 0;
}
