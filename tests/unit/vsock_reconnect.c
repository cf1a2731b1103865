/* SPDX-License-Identifier: MIT */
/*
 * The vsock driver over vhost-user when its backend restarts: a vsock
 * model served by vq_vu_serve in a thread of this process (the daemon's
 * loop), the driver (reconnect_ms) in the test's thread.  The backend goes
 * away mid-connection: the driver resets its sockets (-ECONNRESET), keeps
 * its listeners, reconnects to the new backend on the same path, and new
 * connections both ways carry data again.  Without reconnect_ms the driver
 * stays broken (-EIO).  A driver that reconnects to the same backend
 * gets TRANSPORT_RESET.  Split and packed.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <virtq/vhost_user.h>
#include <virtq/vsock.h>
#include <virtq/vsock_drv.h>

#include "../harness/test.h"

#define CID 9u

static bool g_packed;

struct be {
	char dir[64], sock[96], uds[96];
	struct vq_vsock *v;
	struct vq_vu_loop *l;
	struct vq_vu_backend *b;
	pthread_t th;
	atomic_bool stop;
};

static void quiet(void *ctx, int level, const char *msg) { (void)ctx; (void)level; (void)msg; }
static void model_log(void *ctx, const char *msg) { (void)ctx; (void)msg; }

static void *be_main(void *arg)
{
	struct be *b = arg;

	while (!atomic_load(&b->stop)) {
		vq_vu_loop_run(b->l, 5);
		while (vq_vsock_process(b->v) > 0)
			;
	}
	return NULL;
}

static void be_start(struct be *b)
{
	struct vq_vsock_params vp = { .guest_cid = CID, .uds_path = b->uds, .log = model_log };
	struct vq_vu_serve_params sp = { .mode = VQ_VU_SERVER, .path = b->sock, .listen_fd = -1 };

	ASSERT_EQ(vq_vsock_new(&vp, &b->v), 0);
	ASSERT_EQ(vq_vu_loop_new(&b->l), 0);
	ASSERT_EQ(vq_vu_loop_add_fd(b->l, vq_vsock_fd(b->v)), 0);
	vq_vsock_device(b->v, &sp.device);
	sp.loop_ops = vq_vu_loop_ops();
	sp.loop = b->l;
	unlink(b->sock);
	ASSERT_EQ(vq_vu_serve(&sp, &b->b), 0);
	atomic_store(&b->stop, false);
	ASSERT_EQ(pthread_create(&b->th, NULL, be_main, b), 0);
}

static void be_stop(struct be *b)
{
	atomic_store(&b->stop, true);
	pthread_join(b->th, NULL);
	vq_vu_backend_free(b->b);
	vq_vsock_free(b->v);
	vq_vu_loop_free(b->l);
	b->b = NULL;
	b->v = NULL;
	b->l = NULL;
}

/* The end of every test: the driver, the daemon and its files go. */
static void be_done(struct be *b, struct vq_vsockdrv *d)
{
	vq_vsockdrv_free(d);
	be_stop(b);
	unlink(b->sock);
	rmdir(b->dir);
}

static void be_init(struct be *b)
{
	memset(b, 0, sizeof(*b));
	vq_vu_set_log(quiet, NULL, 0);
	snprintf(b->dir, sizeof(b->dir), "/tmp/vq-vsrc-XXXXXX");
	ASSERT_TRUE(mkdtemp(b->dir) != NULL);
	snprintf(b->sock, sizeof(b->sock), "%s/vu.sock", b->dir);
	snprintf(b->uds, sizeof(b->uds), "%s/v", b->dir);
	be_start(b);
}

static int host_listen(struct be *b, uint32_t port)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT_GE(s, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s_%u", b->uds, port);
	unlink(a.sun_path);
	ASSERT_EQ(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(listen(s, 8), 0);
	return s;
}

/* Driver -> host -> driver through a fresh host peer on port. */
static void echo(struct be *b, struct vq_vsockdrv *d, uint32_t port, struct vq_vsocksk **out,
		 int *hfd)
{
	int l = host_listen(b, port), fd;
	struct vq_vsocksk *s;
	char buf[16];
	ssize_t r = -EAGAIN;

	ASSERT_EQ(vq_vsocksk_connect(d, port, VIRTIO_VSOCK_TYPE_STREAM, 3000, &s), 0);
	fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ASSERT_GE(fd, 0);
	close(l);
	ASSERT_EQ(vq_vsocksk_send(s, "hello", 5, false), 5);
	ASSERT_EQ(read(fd, buf, sizeof(buf)), 5);
	ASSERT_EQ(write(fd, "world", 5), 5);
	for (int i = 0; i < 300 && r == -EAGAIN; i++) {
		ASSERT_GE(vq_vsockdrv_wait(d, 10), 0);
		r = vq_vsocksk_recv(s, buf, sizeof(buf), NULL);
	}
	ASSERT_EQ(r, 5);
	ASSERT_MEM_EQ(buf, "world", 5);
	*out = s;
	*hfd = fd;
}

static struct vq_vsockdrv *drv_new(struct be *b, int reconnect_ms)
{
	struct vq_vsockdrv_params p = {
		.path = b->sock, .queue_size = 256, .tx_bufs = 8, .tx_pkt = 16384,
		.zc_mem = 1u << 20, .reconnect_ms = reconnect_ms,
		.features = VQ_VSOCK_F_SEQPACKET | VQ_F_EVENT_IDX | (g_packed ? VQ_F_PACKED : 0),
	};
	struct vq_vsockdrv *d = NULL;

	ASSERT_EQ(vq_vsockdrv_new(&p, &d), 0);
	ASSERT_EQ(vq_vsockdrv_cid(d), CID);
	return d;
}

static void reconnect_body(void)
{
	struct vq_vsockdrv_stats st;
	struct vq_vsocksk *s, *s2, *acc = NULL;
	struct vq_vsockdrv *d;
	struct be b;
	char buf[16];
	int fd, fd2, i;

	be_init(&b);
	d = drv_new(&b, 20);
	ASSERT_EQ(vq_vsockdrv_listen(d, 900), 0);
	echo(&b, d, 1000, &s, &fd);
	ASSERT_TRUE(vq_vsockdrv_is_up(d));

	be_stop(&b); /* the backend exits */
	for (i = 0; i < 200 && vq_vsockdrv_is_up(d); i++)
		ASSERT_EQ(vq_vsockdrv_wait(d, 10), 0); /* 0 while it is away, not -EIO */
	ASSERT_FALSE(vq_vsockdrv_is_up(d));
	ASSERT_FALSE(vq_vsocksk_is_connected(s));
	ASSERT_EQ(vq_vsocksk_recv(s, buf, sizeof(buf), NULL), -ECONNRESET);
	ASSERT_EQ(vq_vsocksk_send(s, "x", 1, false), -ECONNRESET);
	ASSERT_EQ(vq_vsocksk_connect(d, 1001, VIRTIO_VSOCK_TYPE_STREAM, 50, &s2), -ETIMEDOUT);
	vq_vsocksk_close(s);
	close(fd);

	be_start(&b); /* a new backend on the same path */
	/* Up to 10 s: a reconnection is a vhost-user handshake, and one
	 * message that waits out the frontend's 2 s reply timeout (a loaded
	 * machine, a sanitizer build) costs a second try. */
	for (i = 0; i < 1000 && !vq_vsockdrv_is_up(d); i++)
		ASSERT_GE(vq_vsockdrv_wait(d, 10), 0);
	ASSERT_TRUE(vq_vsockdrv_is_up(d));
	vq_vsockdrv_get_stats(d, &st);
	ASSERT_EQ(st.reconnects, 1);
	echo(&b, d, 1002, &s2, &fd2);

	/* the listener survived: a host program reaches it */
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int h = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", b.uds);
	ASSERT_EQ(connect(h, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(write(h, "CONNECT 900\n", 12), 12);
	for (i = 0; i < 300 && vq_vsockdrv_accept(d, 900, &acc) == -EAGAIN; i++)
		ASSERT_GE(vq_vsockdrv_wait(d, 10), 0);
	ASSERT_TRUE(acc != NULL);
	ASSERT_TRUE(vq_vsocksk_is_connected(acc));
	vq_vsocksk_close(acc);
	vq_vsocksk_close(s2);
	close(h);
	close(fd2);
	be_done(&b, d);
}

TEST(vsock_reconnect_split) { g_packed = false; reconnect_body(); }
TEST(vsock_reconnect_packed) { g_packed = true; reconnect_body(); }

/*
 * The same daemon, a driver that reconnects (vq_vsockdrv_reconnect, as a
 * guest resets its device): the device drops its connections (the host
 * peer sees them close) and sends TRANSPORT_RESET once; the driver's old
 * socket is reset, and a connection opened at once, before the event was
 * read, survives the event and carries data.
 */
static void transport_reset_body(void)
{
	struct vq_vsockdrv_stats st;
	struct vq_vsocksk *s, *s2;
	struct vq_vsockdrv *d;
	struct be b;
	char buf[16];
	int fd, fd2, i;

	be_init(&b);
	d = drv_new(&b, 20);
	echo(&b, d, 1000, &s, &fd);
	vq_vsockdrv_get_stats(d, &st);
	ASSERT_EQ(st.transport_resets, 0); /* a first session: nothing to reset */

	ASSERT_EQ(vq_vsockdrv_reconnect(d), 0);
	ASSERT_TRUE(vq_vsockdrv_is_up(d));
	ASSERT_FALSE(vq_vsocksk_is_connected(s));
	ASSERT_EQ(vq_vsocksk_recv(s, buf, sizeof(buf), NULL), -ECONNRESET);
	ASSERT_EQ(vq_vsocksk_send(s, "x", 1, false), -ECONNRESET);
	vq_vsocksk_close(s);
	struct pollfd pf = { fd, POLLIN, 0 };

	ASSERT_EQ(poll(&pf, 1, 3000), 1);
	ASSERT_LE(read(fd, buf, sizeof(buf)), 0); /* the daemon closed the host side */
	close(fd);

	echo(&b, d, 1001, &s2, &fd2);
	for (i = 0; i < 300; i++) {
		vq_vsockdrv_get_stats(d, &st);
		if (st.transport_resets)
			break;
		ASSERT_GE(vq_vsockdrv_wait(d, 10), 0);
	}
	ASSERT_EQ(st.transport_resets, 1);
	ASSERT_EQ(st.reconnects, 1);
	ASSERT_EQ(vq_vsockdrv_cid(d), CID);
	ASSERT_TRUE(vq_vsocksk_is_connected(s2));
	ASSERT_EQ(vq_vsocksk_send(s2, "again", 5, false), 5);
	ASSERT_EQ(read(fd2, buf, sizeof(buf)), 5);
	ASSERT_MEM_EQ(buf, "again", 5);
	for (i = 0; i < 20; i++)
		ASSERT_GE(vq_vsockdrv_wait(d, 5), 0);
	vq_vsockdrv_get_stats(d, &st);
	ASSERT_EQ(st.transport_resets, 1); /* once */
	ASSERT_TRUE(vq_vsocksk_is_connected(s2));
	vq_vsocksk_close(s2);
	close(fd2);
	be_done(&b, d);
}

TEST(vsock_transport_reset_split) { g_packed = false; transport_reset_body(); }
TEST(vsock_transport_reset_packed) { g_packed = true; transport_reset_body(); }

/* Without reconnect_ms a vanished backend leaves the driver broken. */
TEST(vsock_no_reconnect_stays_broken)
{
	struct vq_vsockdrv *d;
	struct vq_vsocksk *s;
	struct be b;
	int fd, rc = 0;

	be_init(&b);
	d = drv_new(&b, 0);
	echo(&b, d, 1000, &s, &fd);
	be_stop(&b);
	for (int i = 0; i < 200 && rc == 0; i++)
		rc = vq_vsockdrv_wait(d, 10);
	ASSERT_EQ(rc, -EIO);
	be_start(&b);
	ASSERT_EQ(vq_vsockdrv_wait(d, 50), -EIO); /* sticky */
	ASSERT_FALSE(vq_vsockdrv_is_up(d));
	close(fd);
	be_done(&b, d);
}
