/* SPDX-License-Identifier: MIT */
/*
 * virtq-hostile be: a backend that breaks the rules, for one frontend
 * connection (virtq-user connects as a client).
 *
 * It answers the handshake correctly (net or blk features, config space,
 * memory table mapped, vrings recorded) except where the case lies: a bad
 * reply to one request, a refused request, a hang-up, an unsolicited
 * message, or - once the driver posted buffers - bad used entries written
 * into a ring (followed by a call).  Every connection gets the same
 * treatment, so a frontend that retries meets the same violation again; the
 * backend serves until --hold-ms after the first delivery (or SIGTERM).
 * Exit 0 when the case was delivered, 3 when the frontend never got there.
 *
 * The frontend's reaction (an error naming the violation, no crash) is the
 * caller's to check: `be --list` prints case, virtq-user arguments, text.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_net.h>
#include <virtq/ring.h>

#include "hostile.h"
#include "ring/ring_wire.h"

#define NQ 4
#define NET_F_MAC (1ull << VIRTIO_NET_F_MAC)
#define NET_F_STATUS (1ull << VIRTIO_NET_F_STATUS)
#define BLK_F_SEG_MAX (1ull << VIRTIO_BLK_F_SEG_MAX)
#define BLK_F_FLUSH (1ull << VIRTIO_BLK_F_FLUSH)

struct breg { uint64_t gpa, size, uaddr; uint8_t *host; size_t maplen; };
struct bq {
	uint32_t num;
	uint64_t desc, avail, used;
	int call;
	bool kicked;
};

struct be {
	const struct hopts *o;
	const struct be_case *c;
	int fd;
	uint64_t features;
	struct breg reg[8];
	unsigned nreg;
	struct bq q[NQ];
	bool conn_done;       /* the case was delivered on this connection */
	unsigned delivered;   /* connections it was delivered on */
	uint64_t t_delivered; /* vqt_now_ms() of the first delivery */
};

enum when { W_REPLY, W_RING };

struct be_case {
	const char *name;
	const char *args;   /* virtq-user arguments (before --socket) */
	const char *expect; /* text virtq-user's output must contain */
	enum when when;
	uint32_t req;       /* W_REPLY: the request whose reply we spoil */
	/* W_REPLY: answer m badly (1 = done, close when <0).  W_RING: attack
	 * queue q once it has buffers (1 = done, 0 = not yet). */
	int (*act)(struct be *b, struct vuc_msg *m);
	unsigned queue;
};

/* ---- memory */

static void *uaddr_ptr(struct be *b, uint64_t ua, uint64_t len)
{
	for (unsigned i = 0; i < b->nreg; i++) {
		struct breg *r = &b->reg[i];

		if (ua >= r->uaddr && len <= r->size && ua - r->uaddr <= r->size - len)
			return b->reg[i].host + (ua - r->uaddr);
	}
	return NULL;
}

static void unmap_all(struct be *b)
{
	for (unsigned i = 0; i < b->nreg; i++)
		munmap(b->reg[i].host - 0, b->reg[i].maplen);
	b->nreg = 0;
}

static int set_mem_table(struct be *b, struct vuc_msg *m)
{
	unmap_all(b);
	if (m->mt.n > 8 || m->mt.n != m->nfds)
		return -EINVAL;
	for (unsigned i = 0; i < m->mt.n; i++) {
		const struct vuc_region *r = &m->mt.r[i];
		size_t len = r->size + r->off;
		uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[i], 0);

		if (p == MAP_FAILED)
			return -errno;
		b->reg[b->nreg++] = (struct breg){ r->gpa, r->size, r->uaddr, p + r->off, len };
	}
	return 0;
}

/* ---- replies */

static int reply(struct be *b, uint32_t req, const void *p, uint32_t size)
{
	return vuc_send(b->fd, req, VUC_V1 | VUC_REPLY, p, size, NULL, 0);
}

static int reply_u64(struct be *b, uint32_t req, uint64_t v)
{
	return reply(b, req, &v, 8);
}

static uint64_t dev_features(const struct be *b)
{
	uint64_t f = VQ_F_VERSION_1 | VQ_F_PACKED | VUC_F_PROTOCOL_FEATURES;

	return f | (b->o->dev == HDEV_NET ? NET_F_MAC | NET_F_STATUS : BLK_F_SEG_MAX | BLK_F_FLUSH);
}

static int get_config(struct be *b, struct vuc_msg *m)
{
	struct vuc_config c = { m->cfg.off, m->cfg.size, 0, { 0 } };
	uint8_t space[256] = { 0 };

	if (c.size > 256 || c.off > 256 - c.size)
		return reply(b, m->h.req, NULL, 0);
	if (b->o->dev == HDEV_NET) {
		memcpy(space, (uint8_t[]){ 0x02, 0, 0, 0, 0x66, 0x01, 1, 0 }, 8); /* mac, status up */
	} else {
		uint64_t cap = 2048;       /* 1 MiB */
		uint32_t seg_max = 16;

		memcpy(space, &cap, 8);
		memcpy(space + 12, &seg_max, 4);
	}
	memcpy(c.data, space + c.off, c.size);
	return reply(b, m->h.req, &c, 12 + c.size);
}

static int vring_msg(struct be *b, struct vuc_msg *m)
{
	uint32_t i = m->h.req == VUC_SET_VRING_ADDR ? m->addr.index
		     : m->h.req == VUC_SET_VRING_NUM || m->h.req == VUC_SET_VRING_BASE ||
				       m->h.req == VUC_GET_VRING_BASE
			     ? m->st.index : (uint32_t)(m->u64 & 0xff);
	struct bq *q;

	if (i >= NQ)
		return 0;
	q = &b->q[i];
	switch (m->h.req) {
	case VUC_SET_VRING_NUM: q->num = m->st.num; break;
	case VUC_SET_VRING_ADDR:
		q->desc = m->addr.desc, q->avail = m->addr.avail, q->used = m->addr.used;
		break;
	case VUC_SET_VRING_CALL:
		if (q->call >= 0)
			close(q->call);
		q->call = m->nfds ? dup(m->fds[0]) : -1;
		break;
	case VUC_SET_VRING_KICK: q->kicked = true; break;
	case VUC_GET_VRING_BASE:
		q->kicked = false;
		return reply(b, m->h.req, &m->st, sizeof(m->st));
	}
	return 0;
}

/* The correct answer to m. */
static int serve(struct be *b, struct vuc_msg *m)
{
	int r = 0;

	switch (m->h.req) {
	case VUC_GET_FEATURES: return reply_u64(b, m->h.req, dev_features(b));
	case VUC_GET_PROTOCOL_FEATURES:
		return reply_u64(b, m->h.req, VUC_PF_REPLY_ACK | VUC_PF_CONFIG | VUC_PF_MQ);
	case VUC_GET_QUEUE_NUM: return reply_u64(b, m->h.req, 1);
	case VUC_GET_MAX_MEM_SLOTS: return reply_u64(b, m->h.req, 8);
	case VUC_GET_STATUS: return reply_u64(b, m->h.req, 0);
	case VUC_GET_CONFIG: return get_config(b, m);
	case VUC_SET_FEATURES: b->features = m->u64; break;
	case VUC_SET_MEM_TABLE: r = set_mem_table(b, m); break;
	case VUC_GET_VRING_BASE: return vring_msg(b, m);
	case VUC_SET_VRING_NUM: case VUC_SET_VRING_ADDR: case VUC_SET_VRING_CALL:
	case VUC_SET_VRING_KICK:
		r = vring_msg(b, m);
		break;
	}
	if (m->h.flags & VUC_NEED_REPLY)
		return reply_u64(b, m->h.req, r < 0 ? (uint64_t)-r : 0);
	return 0;
}

/* ---- bad replies */

static int b_wrong_code(struct be *b, struct vuc_msg *m)
{
	return reply_u64(b, VUC_GET_PROTOCOL_FEATURES, dev_features(b));
}

static int b_no_reply_flag(struct be *b, struct vuc_msg *m)
{
	uint64_t v = dev_features(b);

	return vuc_send(b->fd, m->h.req, VUC_V1, &v, 8, NULL, 0);
}

static int b_bad_version(struct be *b, struct vuc_msg *m)
{
	uint64_t v = dev_features(b);

	return vuc_send(b->fd, m->h.req, 0x2 | VUC_REPLY, &v, 8, NULL, 0);
}

static int b_short(struct be *b, struct vuc_msg *m)
{
	uint32_t v = 1;

	return reply(b, m->h.req, &v, 4);
}

static int b_huge(struct be *b, struct vuc_msg *m)
{
	struct vuc_hdr h = { m->h.req, VUC_V1 | VUC_REPLY, 1u << 30 };

	vuc_send_raw(b->fd, &h, sizeof(h), NULL, 0);
	return -1; /* and hang up */
}

static int b_with_fd(struct be *b, struct vuc_msg *m)
{
	uint64_t v = dev_features(b);
	int fd = eventfd(0, EFD_CLOEXEC), r;

	r = vuc_send(b->fd, m->h.req, VUC_V1 | VUC_REPLY, &v, 8, &fd, 1);
	close(fd);
	return r;
}

static int b_truncated(struct be *b, struct vuc_msg *m)
{
	struct vuc_hdr h = { m->h.req, VUC_V1 | VUC_REPLY, 8 };
	uint8_t buf[sizeof(h) + 4] = { 0 };

	memcpy(buf, &h, sizeof(h));
	vuc_send_raw(b->fd, buf, sizeof(buf), NULL, 0);
	return -1;
}

static int b_garbage(struct be *b, struct vuc_msg *m)
{
	uint8_t junk[64];

	for (unsigned i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 53 + 7);
	vuc_send_raw(b->fd, junk, sizeof(junk), NULL, 0);
	return -1;
}

static int b_no_version1(struct be *b, struct vuc_msg *m)
{
	return reply_u64(b, m->h.req, dev_features(b) & ~VQ_F_VERSION_1);
}

static int b_queue_num_zero(struct be *b, struct vuc_msg *m)
{
	return reply_u64(b, m->h.req, 0);
}

static int b_nack(struct be *b, struct vuc_msg *m)
{
	if (m->h.req == VUC_SET_MEM_TABLE)
		vuc_msg_close_fds(m);
	return reply_u64(b, m->h.req, EINVAL);
}

static int b_hangup(struct be *b, struct vuc_msg *m)
{
	return -1;
}

static int b_config_wrong(struct be *b, struct vuc_msg *m)
{
	struct vuc_config c = { m->cfg.off + 4, m->cfg.size, 0, { 0 } };

	return reply(b, m->h.req, &c, 12 + (c.size <= 256 ? c.size : 0));
}

/* ---- ring attacks: the driver posted buffers on queue q */


static struct vring_avail *avail_of(struct be *b, struct bq *q)
{
	return uaddr_ptr(b, q->avail, 4 + 2ull * q->num);
}

static struct vring_used *used_of(struct be *b, struct bq *q)
{
	return uaddr_ptr(b, q->used, 4 + 8ull * q->num);
}

static bool packed(const struct be *b)
{
	return b->features & VQ_F_PACKED;
}

/* Publish used idx (release: pairs with the driver's acquire load), call. */
static void publish_used(struct bq *q, struct vring_used *u, uint16_t idx)
{
	uint64_t one = 1;

	__atomic_store_n(&u->idx, idx, __ATOMIC_RELEASE);
	if (q->call >= 0 && write(q->call, &one, 8) != 8)
		HLOG("call eventfd write failed");
}

static int ready_split(struct be *b, struct bq *q, struct vring_avail **a, struct vring_used **u)
{
	*a = avail_of(b, q);
	*u = used_of(b, q);
	return *a && *u && __atomic_load_n(&(*a)->idx, __ATOMIC_ACQUIRE) != 0;
}

static int a_used_bad_id(struct be *b, struct vuc_msg *m)
{
	struct bq *q = &b->q[b->c->queue];
	struct vring_avail *a;
	struct vring_used *u;

	if (packed(b)) {
		struct vring_packed_desc *d = uaddr_ptr(b, q->desc, 16ull * q->num);
		uint64_t one = 1;

		if (!d || !(__atomic_load_n(&d[0].flags, __ATOMIC_ACQUIRE) & VQ__DESC_F_AVAIL))
			return 0;
		d[0].id = 999;
		d[0].len = 0;
		/* Release: the driver acquires the flags before reading id. */
		__atomic_store_n(&d[0].flags, (uint16_t)(VQ__DESC_F_AVAIL | VQ__DESC_F_USED), __ATOMIC_RELEASE);
		if (q->call >= 0 && write(q->call, &one, 8) != 8)
			HLOG("call eventfd write failed");
		return 1;
	}
	if (!ready_split(b, q, &a, &u))
		return 0;
	u->ring[0] = (struct vring_used_elem){ 999, 0 };
	publish_used(q, u, 1);
	return 1;
}

static int a_used_bad_len(struct be *b, struct vuc_msg *m)
{
	struct bq *q = &b->q[b->c->queue];
	struct vring_avail *a;
	struct vring_used *u;

	if (!ready_split(b, q, &a, &u))
		return 0;
	u->ring[0] = (struct vring_used_elem){ a->ring[0], 1u << 30 };
	publish_used(q, u, 1);
	return 1;
}

static int a_used_idx_ahead(struct be *b, struct vuc_msg *m)
{
	struct bq *q = &b->q[b->c->queue];
	struct vring_avail *a;
	struct vring_used *u;

	if (!ready_split(b, q, &a, &u))
		return 0;
	publish_used(q, u, (uint16_t)(a->idx + 10));
	return 1;
}

static int a_hangup(struct be *b, struct vuc_msg *m)
{
	struct bq *q = &b->q[b->c->queue];
	struct vring_avail *a;
	struct vring_used *u;

	return ready_split(b, q, &a, &u) ? -1 : 0;
}

static int a_unsolicited(struct be *b, struct vuc_msg *m)
{
	struct bq *q = &b->q[b->c->queue];
	struct vring_avail *a;
	struct vring_used *u;
	uint64_t v = 0;

	if (!ready_split(b, q, &a, &u))
		return 0;
	vuc_send(b->fd, VUC_GET_FEATURES, VUC_V1 | VUC_REPLY, &v, 8, NULL, 0);
	return 1;
}

#define NET_TX "net -m tx -d 4"
#define NET_RX "net -m rx -d 4"
#define BLK "blk --size 256k --qd 4"

static const struct be_case cases[] = {
	{ "reply-wrong-request", NET_TX, "has request code", W_REPLY, VUC_GET_FEATURES, b_wrong_code, 0 },
	{ "reply-no-reply-flag", NET_TX, "bad flags", W_REPLY, VUC_GET_FEATURES, b_no_reply_flag, 0 },
	{ "reply-bad-version", NET_TX, "bad version", W_REPLY, VUC_GET_PROTOCOL_FEATURES, b_bad_version, 0 },
	{ "reply-short-payload", NET_TX, "payload size 4, expected 8", W_REPLY, VUC_GET_FEATURES, b_short, 0 },
	{ "reply-huge-size", NET_TX, "GET_FEATURES", W_REPLY, VUC_GET_FEATURES, b_huge, 0 },
	{ "reply-with-fd", NET_TX, "carries 1 fds", W_REPLY, VUC_GET_FEATURES, b_with_fd, 0 },
	{ "reply-truncated", NET_TX, "GET_PROTOCOL_FEATURES", W_REPLY, VUC_GET_PROTOCOL_FEATURES, b_truncated, 0 },
	{ "reply-garbage", NET_TX, "GET_FEATURES", W_REPLY, VUC_GET_FEATURES, b_garbage, 0 },
	{ "features-no-version-1", NET_TX, "backend lacks features", W_REPLY, VUC_GET_FEATURES, b_no_version1, 0 },
	{ "queue-num-zero", NET_TX, "GET_QUEUE_NUM answered 0", W_REPLY, VUC_GET_QUEUE_NUM, b_queue_num_zero, 0 },
	{ "nack-mem-table", NET_TX, "backend refused SET_MEM_TABLE", W_REPLY, VUC_SET_MEM_TABLE, b_nack, 0 },
	{ "hangup-handshake", NET_TX, "backend closed the connection", W_REPLY, VUC_SET_MEM_TABLE, b_hangup, 0 },
	{ "config-wrong-offset", BLK, "GET_CONFIG reply for offset", W_REPLY, VUC_GET_CONFIG, b_config_wrong, 0 },
	{ "used-bad-id", NET_TX, "used id not in flight", W_RING, 0, a_used_bad_id, 1 },
	{ "used-bad-id-packed", NET_TX " --packed", "used id not in flight", W_RING, 0, a_used_bad_id, 1 },
	{ "used-bad-len", NET_RX, "used length larger than the writable buffer", W_RING, 0, a_used_bad_len, 0 },
	{ "used-idx-ahead", NET_RX, "used idx ran ahead of avail", W_RING, 0, a_used_idx_ahead, 0 },
	{ "blk-used-bad-len", BLK, "used length larger than the writable buffer", W_RING, 0, a_used_bad_len, 0 },
	{ "blk-used-bad-id", BLK, "used id not in flight", W_RING, 0, a_used_bad_id, 0 },
	{ "unsolicited-message", NET_TX, "unsolicited message", W_RING, 0, a_unsolicited, 1 },
	{ "hangup-traffic", NET_TX, "backend hung up", W_RING, 0, a_hangup, 1 },
	{ "blk-hangup-io", BLK, "device failed", W_RING, 0, a_hangup, 0 },
};

void hostile_be_list(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		printf("%s\t%s\t%s\n", cases[i].name, cases[i].args, cases[i].expect);
}

static void delivered(struct be *b)
{
	b->conn_done = true;
	if (b->delivered++)
		return;
	b->t_delivered = vqt_now_ms();
	HLOG("%s: delivered", b->c->name);
	printf("HOSTILE-ACTIVE %s\n", b->c->name);
	fflush(stdout);
}

/* One message: the case's bad answer or the right one.  <0: hang up. */
static int handle(struct be *b, struct vuc_msg *m)
{
	int r;

	if (b->c->when == W_REPLY && m->h.req == b->c->req && !b->conn_done) {
		delivered(b);
		r = b->c->act(b, m);
		return r < 0 ? -1 : 0;
	}
	return serve(b, m) < 0 ? -1 : 0;
}

static bool hold_over(const struct be *b)
{
	return hostile_stopped() ||
	       (b->delivered && vqt_now_ms() - b->t_delivered >= (uint64_t)b->o->hold_ms);
}

/* Serve one connection until either side hangs up or the hold is over. */
static void session(struct be *b)
{
	static struct vuc_msg m;

	b->conn_done = false;
	while (!hold_over(b)) {
		int r = vuc_recv(b->fd, &m, 10);

		if (r && r != -ETIMEDOUT)
			return; /* the frontend hung up */
		if (!r) {
			r = handle(b, &m);
			vuc_msg_close_fds(&m);
			if (r < 0)
				return;
		}
		if (b->c->when == W_RING && !b->conn_done && (r = b->c->act(b, &m))) {
			delivered(b);
			if (r < 0)
				return;
		}
	}
}

static void conn_reset(struct be *b)
{
	close(b->fd);
	b->fd = -1;
	unmap_all(b);
	for (unsigned i = 0; i < NQ; i++) {
		if (b->q[i].call >= 0)
			close(b->q[i].call);
		b->q[i] = (struct bq){ .call = -1 };
	}
	b->features = 0;
}

int hostile_be(const struct hopts *o)
{
	struct be b = { .o = o, .fd = -1 };
	int lfd, rc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(o->name, cases[i].name))
			b.c = &cases[i];
	if (!b.c) {
		HLOG("unknown backend case '%s' (see: virtq-hostile be --list)", o->name);
		return 2;
	}
	for (unsigned i = 0; i < NQ; i++)
		b.q[i].call = -1;
	if ((lfd = vuc_listen(o->path)) < 0) {
		HLOG("cannot listen on %s: %s", o->path, strerror(-lfd));
		return 3;
	}
	printf("HOSTILE-LISTENING %s\n", o->path);
	fflush(stdout);
	/* Every connection gets the same treatment (a frontend that retries
	 * meets the same violation), until the hold after the first delivery
	 * is over.  30 s without a connection: give up. */
	for (uint64_t t0 = vqt_now_ms(); !hold_over(&b);) {
		b.fd = vuc_accept(lfd, 50);
		if (b.fd == -ETIMEDOUT) {
			if (!b.delivered && vqt_now_ms() - t0 > 30000)
				break;
			continue;
		}
		if (b.fd < 0)
			break;
		session(&b);
		conn_reset(&b);
	}
	close(lfd);
	unlink(o->path);
	rc = b.delivered ? 0 : 3;
	if (!b.delivered)
		HLOG("%s: the frontend never got far enough", o->name);
	return rc;
}
