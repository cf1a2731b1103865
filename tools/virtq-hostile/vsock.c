/* SPDX-License-Identifier: MIT */
/*
 * virtq-hostile fe --dev vsock: a guest that breaks the virtio-vsock rules
 * against virtq-vsock, one case per run, through a raw vhost-user frontend
 * (vq_fe: valid rings, no vsock driver logic).  Host ports the caller
 * serves (--port overrides a case's): 7 a stream echo, 8 a stream peer
 * that never reads, 9 a seqpacket echo, 10 a peer that accepts many
 * connections and reads nothing; 4999 and 4998 nobody.  Each case prints
 * "HOSTILE-OK CASE: what was seen" when the device reacted as it must, then
 * "HOSTILE-ACTIVE CASE" and holds the connection --hold-ms.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/frontend.h>
#include <virtq/vsock.h>

#include "hostile.h"

#define QS 256u
#define BUF 4096u
#define GPORT 7777u

struct h {
	struct vq_fe *fe;
	uint64_t cid;
	uint8_t *mem;   /* 2 * QS buffers of BUF bytes: rx, then tx */
	unsigned next_rx, next_tx;
	uint32_t port;
	const char *name;
};

struct vcase {
	const char *name;
	uint32_t port; /* default host port */
	const char *log; /* the daemon's log line contains it; "-": none */
	int (*run)(struct h *h);
};

/* A ring holds at most QS buffers: a pool of QS per ring never overlaps. */
static uint8_t *buf(struct h *h, bool rx)
{
	unsigned i = rx ? h->next_rx++ % QS : QS + h->next_tx++ % QS;

	return h->mem + (size_t)i * BUF;
}

static struct vq_drv *q(struct h *h, unsigned i) { return vq_fe_queue(h->fe, i); }

static void post_rx(struct h *h, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t *b = buf(h, true);
		struct vq_seg s = { vq_fe_addr(h->fe, b), BUF };

		vq_drv_add(q(h, VQ_VSOCK_RX), &s, 0, 1, b);
	}
	if (vq_drv_kick_prepare(q(h, VQ_VSOCK_RX)))
		vq_fe_kick(h->fe, VQ_VSOCK_RX);
}

/* One packet: its header, then payload bytes up to a chain of chain_len. */
static int send_raw(struct h *h, const struct vq_vsock_pkt *p, uint32_t chain_len)
{
	uint8_t *b = buf(h, false);
	struct vq_seg s = { vq_fe_addr(h->fe, b), chain_len };

	vq_vsock_hdr_encode(p, (struct virtio_vsock_hdr *)b);
	if (vq_drv_add(q(h, VQ_VSOCK_TX), &s, 1, 0, b) < 0)
		return -ENOSPC;
	if (vq_drv_kick_prepare(q(h, VQ_VSOCK_TX)))
		vq_fe_kick(h->fe, VQ_VSOCK_TX);
	return 0;
}

/* Drain tx completions: the count of chains the device consumed. */
static unsigned tx_done(struct h *h)
{
	void *tok;
	uint32_t len;
	unsigned n = 0;

	while (vq_drv_get(q(h, VQ_VSOCK_TX), &tok, &len) == 1)
		n++;
	return n;
}

/* Send, waiting for tx ring room (up to 3 s). */
static int send_wait(struct h *h, const struct vq_vsock_pkt *p, uint32_t chain_len)
{
	for (int t = 0; t < 3000; t += 10) {
		if (send_raw(h, p, chain_len) == 0)
			return 0;
		tx_done(h);
		vq_fe_wait(h->fe, VQ_VSOCK_TX, 10);
	}
	HLOG("%s: the device stopped taking tx chains", h->name);
	return -ETIMEDOUT;
}

static struct vq_vsock_pkt pkt(struct h *h, uint16_t op, uint32_t len)
{
	return (struct vq_vsock_pkt){ .src_cid = h->cid, .dst_cid = VQ_VSOCK_HOST_CID,
				      .src_port = GPORT, .dst_port = h->port, .len = len,
				      .type = VIRTIO_VSOCK_TYPE_STREAM, .op = op,
				      .buf_alloc = 1u << 20 };
}

/* Wait up to ms for an rx packet; 1 and *p, 0 none. */
static int recv_pkt(struct h *h, struct vq_vsock_pkt *p, int ms)
{
	for (int t = 0; t <= ms; t += 10) {
		void *tok;
		uint32_t len;

		if (vq_drv_get(q(h, VQ_VSOCK_RX), &tok, &len) == 1) {
			vq_vsock_hdr_decode(tok, p);
			return 1;
		}
		vq_fe_wait(h->fe, VQ_VSOCK_RX, 10);
	}
	return 0;
}

static int expect_rst(struct h *h)
{
	struct vq_vsock_pkt p;

	while (recv_pkt(h, &p, 3000))
		if (p.op == VIRTIO_VSOCK_OP_RST) {
			printf("HOSTILE-OK %s: RST %u -> %u\n", h->name, p.src_port, p.dst_port);
			return 0;
		}
	HLOG("%s: no RST within 3 s", h->name);
	return 1;
}

/* REQUEST from GPORT (type), expect RESPONSE: 0 and *r. */
static int open_conn(struct h *h, uint16_t type, struct vq_vsock_pkt *r)
{
	struct vq_vsock_pkt p = pkt(h, VIRTIO_VSOCK_OP_REQUEST, 0);

	p.type = type;
	send_raw(h, &p, VQ_VSOCK_HDR_LEN);
	if (!recv_pkt(h, r, 3000) || r->op != VIRTIO_VSOCK_OP_RESPONSE) {
		HLOG("%s: no RESPONSE (is a host peer on port %u?)", h->name, h->port);
		return -ECONNREFUSED;
	}
	return 0;
}

/* ---- cases */

/* More data than the credit given, with no rx buffer to hear credit
 * updates (seqpacket: one message that never ends). */
static int credit_overrun(struct h *h, uint16_t type)
{
	struct vq_vsock_pkt p, r;
	uint32_t sent = 0, limit;

	post_rx(h, 1); /* room for the RESPONSE only: no credit update can come */
	if (open_conn(h, type, &r) < 0)
		return 3;
	limit = r.buf_alloc + 65536;
	p = pkt(h, VIRTIO_VSOCK_OP_RW, BUF - VQ_VSOCK_HDR_LEN);
	p.type = type;
	while (sent < limit) {
		if (send_wait(h, &p, BUF) < 0)
			return 1;
		sent += p.len;
	}
	post_rx(h, 8);
	return expect_rst(h);
}

static int c_credit(struct h *h) { return credit_overrun(h, VIRTIO_VSOCK_TYPE_STREAM); }
static int c_seq_oversized(struct h *h) { return credit_overrun(h, VIRTIO_VSOCK_TYPE_SEQPACKET); }

/* One bad packet, answered by RST (or nothing, for a short chain). */
static int one_bad(struct h *h, struct vq_vsock_pkt p, uint32_t chain, bool rst)
{
	post_rx(h, 8);
	send_raw(h, &p, chain);
	if (rst)
		return expect_rst(h);
	if (recv_pkt(h, &p, 1000)) {
		HLOG("%s: the device answered op %u", h->name, p.op);
		return 1;
	}
	printf("HOSTILE-OK %s: no answer, chain consumed: %u\n", h->name, tx_done(h));
	return 0;
}

static int c_badcid(struct h *h)
{
	struct vq_vsock_pkt p = pkt(h, VIRTIO_VSOCK_OP_REQUEST, 0);

	p.src_cid = h->cid + 1;
	return one_bad(h, p, VQ_VSOCK_HDR_LEN, true);
}

static int c_badop(struct h *h)
{
	struct vq_vsock_pkt p = pkt(h, VIRTIO_VSOCK_OP_REQUEST, 0);

	p.op = 42;
	return one_bad(h, p, VQ_VSOCK_HDR_LEN, true);
}

static int c_badlen(struct h *h)
{
	return one_bad(h, pkt(h, VIRTIO_VSOCK_OP_RW, 100000), VQ_VSOCK_HDR_LEN, true);
}

static int c_len_overflow(struct h *h) /* header + len wraps 32 bits */
{
	return one_bad(h, pkt(h, VIRTIO_VSOCK_OP_RW, UINT32_MAX - 20), VQ_VSOCK_HDR_LEN + 8, true);
}

static int c_short(struct h *h)
{
	return one_bad(h, pkt(h, VIRTIO_VSOCK_OP_REQUEST, 0), 20, false);
}

static int c_nolisten(struct h *h)
{
	return one_bad(h, pkt(h, VIRTIO_VSOCK_OP_REQUEST, 0), VQ_VSOCK_HDR_LEN, true);
}

static int c_unknown_conn(struct h *h) /* data for a connection never opened */
{
	return one_bad(h, pkt(h, VIRTIO_VSOCK_OP_RW, 100), VQ_VSOCK_HDR_LEN + 100, true);
}

/* Lies about our own credit: a fwd_cnt far ahead of what we were sent and
 * a 4 GiB buffer, then a buffer of 0: the device must send nothing more,
 * and go on when real credit comes. */
static int c_credit_lie(struct h *h)
{
	struct vq_vsock_pkt p = pkt(h, VIRTIO_VSOCK_OP_REQUEST, 0), r;

	post_rx(h, 64);
	p.buf_alloc = UINT32_MAX;
	p.fwd_cnt = 0x7fffffffu;
	send_raw(h, &p, VQ_VSOCK_HDR_LEN);
	if (!recv_pkt(h, &r, 3000) || r.op != VIRTIO_VSOCK_OP_RESPONSE)
		return 3;
	p = pkt(h, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
	p.buf_alloc = 0;
	send_raw(h, &p, VQ_VSOCK_HDR_LEN);
	p = pkt(h, VIRTIO_VSOCK_OP_RW, 1000);
	p.buf_alloc = 0;
	send_raw(h, &p, VQ_VSOCK_HDR_LEN + 1000); /* the echo peer answers it */
	while (recv_pkt(h, &r, 1000))
		if (r.op == VIRTIO_VSOCK_OP_RW) {
			HLOG("%s: %u bytes sent to a guest that offered no buffer", h->name, r.len);
			return 1;
		}
	p = pkt(h, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0); /* honest now */
	send_raw(h, &p, VQ_VSOCK_HDR_LEN);
	while (recv_pkt(h, &r, 3000))
		if (r.op == VIRTIO_VSOCK_OP_RW && r.len == 1000) {
			printf("HOSTILE-OK %s: nothing sent without credit, the echo after it\n",
			       h->name);
			return 0;
		}
	HLOG("%s: no echo once the credit was real", h->name);
	return 1;
}

/* Packets for unknown connections with no rx buffer posted: the device
 * must stop taking tx chains (at most its RST queue), then deliver the
 * RSTs once rx buffers come. */
static int c_flood(struct h *h)
{
	struct vq_vsock_pkt p = pkt(h, VIRTIO_VSOCK_OP_RW, 1), r;
	unsigned queued = 0, done, rsts = 0;

	for (unsigned i = 0; i < QS - 8; i++) {
		p.src_port = 20000 + i;
		queued += send_raw(h, &p, VQ_VSOCK_HDR_LEN + 1) == 0;
	}
	vq_fe_wait(h->fe, VQ_VSOCK_TX, 1000);
	done = tx_done(h);
	if (done > 64 + 1) {
		HLOG("%s: %u chains taken with no rx buffer for the RSTs", h->name, done);
		return 1;
	}
	post_rx(h, 128);
	while (rsts < queued && recv_pkt(h, &r, 2000)) {
		rsts += r.op == VIRTIO_VSOCK_OP_RST;
		if (vq_drv_nfree(q(h, VQ_VSOCK_RX)) > 64)
			post_rx(h, 32);
	}
	printf("HOSTILE-OK %s: %u of %u chains taken before rx buffers came, then %u RSTs\n",
	       h->name, done, queued, rsts);
	return rsts == queued ? 0 : 1;
}

/* 3000 CREDIT_REQUESTs on one connection, one rx buffer posted: the
 * device keeps taking them (one answer owed, not 3000) and answers a few. */
static int c_ops_flood(struct h *h)
{
	struct vq_vsock_pkt p, r;
	unsigned updates = 0;

	post_rx(h, 1);
	if (open_conn(h, VIRTIO_VSOCK_TYPE_STREAM, &r) < 0)
		return 3;
	p = pkt(h, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0);
	for (unsigned i = 0; i < 3000; i++) {
		if (send_wait(h, &p, VQ_VSOCK_HDR_LEN) < 0)
			return 1; /* the device stopped taking them */
		tx_done(h);
	}
	post_rx(h, 128);
	while (recv_pkt(h, &r, 1000))
		updates += r.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE;
	if (updates == 0 || updates > 200) {
		HLOG("%s: %u CREDIT_UPDATEs for 3000 requests", h->name, updates);
		return 1;
	}
	printf("HOSTILE-OK %s: 3000 CREDIT_REQUESTs taken, %u CREDIT_UPDATEs\n", h->name,
	       updates);
	return 0;
}

/* Count replies to the REQUEST flood, re-posting each rx buffer. */
static void flood_replies(struct h *h, bool *open, unsigned *resp, unsigned *rsts, int ms)
{
	struct vq_vsock_pkt r;

	while (recv_pkt(h, &r, ms)) {
		if (r.op == VIRTIO_VSOCK_OP_RESPONSE && r.dst_port - 30000 < 300) {
			open[r.dst_port - 30000] = true;
			++*resp;
		}
		*rsts += r.op == VIRTIO_VSOCK_OP_RST;
		post_rx(h, 1);
	}
}

/* REQUESTs from 300 ports: the device opens at most its --max-conns and
 * refuses the rest with RST; then we reset ours. */
static int c_request_flood(struct h *h)
{
	struct vq_vsock_pkt p = pkt(h, VIRTIO_VSOCK_OP_REQUEST, 0);
	unsigned resp = 0, rsts = 0;
	bool open[300] = { false };

	post_rx(h, 64);
	for (unsigned i = 0; i < 300; i++) {
		p.src_port = 30000 + i;
		if (send_wait(h, &p, VQ_VSOCK_HDR_LEN) < 0)
			return 1;
		tx_done(h);
		flood_replies(h, open, &resp, &rsts, 0);
	}
	for (int t = 0; t < 50 && resp + rsts < 300; t++)
		flood_replies(h, open, &resp, &rsts, 100);
	p = pkt(h, VIRTIO_VSOCK_OP_RST, 0);
	for (unsigned i = 0; i < 300; i++) /* hang up: the device frees them */
		if (open[i]) {
			p.src_port = 30000 + i;
			if (send_wait(h, &p, VQ_VSOCK_HDR_LEN) < 0)
				return 1;
		}
	vq_fe_wait(h->fe, VQ_VSOCK_TX, 500);
	tx_done(h);
	if (resp + rsts != 300 || !resp || !rsts) {
		HLOG("%s: 300 REQUESTs got %u RESPONSEs and %u RSTs", h->name, resp, rsts);
		return 1;
	}
	printf("HOSTILE-OK %s: 300 REQUESTs, %u opened, %u refused with RST\n", h->name, resp,
	       rsts);
	return 0;
}

/*
 * No event buffer ever: the daemon owes this session the previous case's
 * TRANSPORT_RESET, so it must hold tx and rx (no packet of a new session
 * before the reset) and say why once; this guest stalls, nobody else.
 */
static int c_no_event(struct h *h)
{
	struct vq_vsock_pkt p = pkt(h, VIRTIO_VSOCK_OP_REQUEST, 0), r;

	post_rx(h, 8);
	if (send_raw(h, &p, sizeof(struct virtio_vsock_hdr)) < 0)
		return 1;
	if (recv_pkt(h, &r, 500) == 1) {
		HLOG("no-event: op %u before the TRANSPORT_RESET went out", r.op);
		return 1;
	}
	printf("HOSTILE-OK no-event: held for 500 ms, no packet before the reset\n");
	return 0;
}

static const struct vcase cases[] = {
	{ "credit", 8, "beyond the credit", c_credit },
	{ "seq-oversized", 9, "beyond the credit", c_seq_oversized },
	{ "credit-lie", 7, "-", c_credit_lie },
	{ "badcid", 7, "source cid is not the guest's", c_badcid },
	{ "badop", 7, "unknown op", c_badop },
	{ "badlen", 7, "payload length beyond the chain", c_badlen },
	{ "len-overflow", 7, "payload length beyond the chain", c_len_overflow },
	{ "short", 7, "shorter than a packet header", c_short },
	{ "nolisten", 4999, "-", c_nolisten },
	{ "unknown-conn", 7, "-", c_unknown_conn },
	{ "flood", 4998, "-", c_flood },
	{ "ops-flood", 7, "-", c_ops_flood },
	{ "request-flood", 10, "connections open, refused", c_request_flood },
	{ "no-event", 7, "event queue has no buffer", c_no_event },
};

/* An event buffer, as every vsock driver posts at start: the daemon owes
 * the previous case's session a TRANSPORT_RESET, and holds rx and tx until
 * it went out. */
static int post_event(struct h *h)
{
	struct virtio_vsock_event *e = vq_fe_alloc(h->fe, sizeof(*e), 64);
	struct vq_seg s;

	if (!e)
		return -ENOMEM;
	s = (struct vq_seg){ vq_fe_addr(h->fe, e), sizeof(*e) };
	if (vq_drv_add(q(h, VQ_VSOCK_EVENT), &s, 0, 1, e) < 0)
		return -ENOSPC;
	if (vq_drv_kick_prepare(q(h, VQ_VSOCK_EVENT)))
		vq_fe_kick(h->fe, VQ_VSOCK_EVENT);
	return 0;
}

void hostile_vsock_list(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		printf("vsock %s\t%s\t%u\n", cases[i].name, cases[i].log, cases[i].port);
}

int hostile_vsock(const struct hopts *o)
{
	struct vq_fe_params fp = { .path = o->path, .features = VQ_F_VERSION_1 |
				   VQ_VSOCK_F_SEQPACKET, .num_queues = 3, .queue_size = QS,
				   .mem_size = (size_t)2 * QS * BUF + (1u << 20) };
	const struct vcase *c = NULL;
	struct h h = { .name = o->name };
	uint64_t cid = 0;
	int rc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(o->name, cases[i].name))
			c = &cases[i];
	if (!c) {
		HLOG("unknown vsock case '%s' (see: virtq-hostile fe --dev vsock --list)", o->name);
		return 2;
	}
	h.port = o->port ? o->port : c->port;
	if (vq_fe_new(&fp, &h.fe) < 0 || vq_fe_connect(h.fe) < 0 ||
	    vq_fe_get_config(h.fe, 0, &cid, 8) < 0 ||
	    !(h.mem = vq_fe_alloc(h.fe, (size_t)2 * QS * BUF, 4096))) {
		HLOG("cannot set up on %s: %s", o->path, h.fe ? vq_fe_error(h.fe) : "");
		vq_fe_free(h.fe);
		return 3;
	}
	h.cid = le64toh(cid);
	if (c->run != c_no_event && post_event(&h) < 0) {
		HLOG("cannot post an event buffer on %s", o->path);
		vq_fe_free(h.fe);
		return 3;
	}
	rc = c->run(&h);
	if (rc == 0) {
		printf("HOSTILE-ACTIVE %s\n", c->name);
		hostile_sleep_ms(o->hold_ms);
	}
	vq_fe_free(h.fe);
	return rc;
}
