/* SPDX-License-Identifier: MIT */
/*
 * `virtq-vsock hostile`: a guest that breaks the vsock rules, one case per
 * run, through a raw vhost-user frontend (vq_fe; no vsock driver logic):
 *   credit     connect, then send 64 KiB more than the credit the device
 *              gave, with no rx buffer to hear credit updates: expect RST
 *   badcid     a REQUEST from another cid: expect RST
 *   badop      a packet with op 42: expect RST
 *   badlen     a header claiming more payload than the chain: expect RST
 *   short      a 20-byte chain: expect nothing back (dropped, logged)
 *   nolisten   a REQUEST to --port where nobody listens: expect RST
 *   flood      1000 packets for unknown connections with no rx buffer
 *              posted: the device must stop taking tx chains (at most 64
 *              RSTs owed), then deliver the RSTs once rx buffers come
 * Prints "HOSTILE-OK CASE: what was seen" and exits 0 when the device
 * reacted so; 1 otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <virtq/frontend.h>
#include <virtq/vsock.h>

#include "../common/tool.h"
#include "vv.h"

#define QS 256u
#define BUF 4096u

struct h {
	struct vq_fe *fe;
	uint64_t cid;
	uint8_t *mem;   /* QS buffers of BUF bytes */
	unsigned next;
	uint32_t port;
};

static uint8_t *buf(struct h *h)
{
	return h->mem + (size_t)(h->next++ % QS) * BUF;
}

static void post_rx(struct h *h, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t *b = buf(h);
		struct vq_seg s = { vq_fe_addr(h->fe, b), BUF };

		vq_drv_add(vq_fe_queue(h->fe, VQ_VSOCK_RX), &s, 0, 1, b);
	}
	if (vq_drv_kick_prepare(vq_fe_queue(h->fe, VQ_VSOCK_RX)))
		vq_fe_kick(h->fe, VQ_VSOCK_RX);
}

static int send_raw(struct h *h, const struct vq_vsock_pkt *p, uint32_t chain_len)
{
	uint8_t *b = buf(h);
	struct vq_seg s = { vq_fe_addr(h->fe, b), chain_len };

	vq_vsock_hdr_encode(p, (struct virtio_vsock_hdr *)b);
	if (vq_drv_add(vq_fe_queue(h->fe, VQ_VSOCK_TX), &s, 1, 0, b) < 0)
		return -ENOSPC;
	if (vq_drv_kick_prepare(vq_fe_queue(h->fe, VQ_VSOCK_TX)))
		vq_fe_kick(h->fe, VQ_VSOCK_TX);
	return 0;
}

static struct vq_vsock_pkt pkt(struct h *h, uint16_t op, uint32_t len)
{
	return (struct vq_vsock_pkt){ .src_cid = h->cid, .dst_cid = VQ_VSOCK_HOST_CID,
				      .src_port = 7777, .dst_port = h->port, .len = len,
				      .type = VIRTIO_VSOCK_TYPE_STREAM, .op = op,
				      .buf_alloc = 1u << 20 };
}

/* Wait up to ms for an rx packet; 1 and *p, 0 none. */
static int recv_pkt(struct h *h, struct vq_vsock_pkt *p, int ms)
{
	for (int t = 0; t <= ms; t += 10) {
		void *tok;
		uint32_t len;

		if (vq_drv_get(vq_fe_queue(h->fe, VQ_VSOCK_RX), &tok, &len) == 1) {
			vq_vsock_hdr_decode(tok, p);
			return 1;
		}
		vq_fe_wait(h->fe, VQ_VSOCK_RX, 10);
	}
	return 0;
}

/* Drain tx completions: the count of chains the device consumed. */
static unsigned tx_done(struct h *h)
{
	void *tok;
	uint32_t len;
	unsigned n = 0;

	while (vq_drv_get(vq_fe_queue(h->fe, VQ_VSOCK_TX), &tok, &len) == 1)
		n++;
	return n;
}

static int expect_rst(struct h *h, const char *c)
{
	struct vq_vsock_pkt p;

	while (recv_pkt(h, &p, 3000))
		if (p.op == VIRTIO_VSOCK_OP_RST) {
			printf("HOSTILE-OK %s: RST %u -> %u\n", c, p.src_port, p.dst_port);
			return 0;
		}
	fprintf(stderr, "hostile %s: no RST within 3 s\n", c);
	return 1;
}

static int case_credit(struct h *h)
{
	struct vq_vsock_pkt p = pkt(h, VIRTIO_VSOCK_OP_REQUEST, 0), r;
	uint32_t sent = 0, limit;

	post_rx(h, 1); /* room for the RESPONSE only: no credit update can come */
	send_raw(h, &p, VQ_VSOCK_HDR_LEN);
	if (!recv_pkt(h, &r, 3000) || r.op != VIRTIO_VSOCK_OP_RESPONSE) {
		fprintf(stderr, "hostile credit: no RESPONSE (is a host peer on port %u?)\n", h->port);
		return 1;
	}
	limit = r.buf_alloc + 65536;
	p = pkt(h, VIRTIO_VSOCK_OP_RW, BUF - VQ_VSOCK_HDR_LEN);
	while (sent < limit) {
		if (send_raw(h, &p, BUF) < 0) {
			tx_done(h);
			vq_fe_wait(h->fe, VQ_VSOCK_TX, 10);
			continue;
		}
		sent += p.len;
	}
	post_rx(h, 8);
	return expect_rst(h, "credit");
}

static int case_simple(struct h *h, const char *c)
{
	struct vq_vsock_pkt p = pkt(h, VIRTIO_VSOCK_OP_REQUEST, 0);
	uint32_t chain = VQ_VSOCK_HDR_LEN;

	post_rx(h, 8);
	if (!strcmp(c, "badcid"))
		p.src_cid = h->cid + 1;
	else if (!strcmp(c, "badop"))
		p.op = 42;
	else if (!strcmp(c, "badlen"))
		p = pkt(h, VIRTIO_VSOCK_OP_RW, 100000);
	else if (!strcmp(c, "short"))
		chain = 20;
	send_raw(h, &p, chain);
	if (strcmp(c, "short"))
		return expect_rst(h, c);
	if (recv_pkt(h, &p, 1000)) {
		fprintf(stderr, "hostile short: the device answered op %u\n", p.op);
		return 1;
	}
	printf("HOSTILE-OK short: no answer, chain consumed: %u\n", tx_done(h));
	return 0;
}

static int case_flood(struct h *h)
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
		fprintf(stderr, "hostile flood: %u chains taken with no rx buffer for the RSTs\n", done);
		return 1;
	}
	post_rx(h, 128);
	while (rsts < queued && recv_pkt(h, &r, 2000)) {
		rsts += r.op == VIRTIO_VSOCK_OP_RST;
		if (vq_drv_nfree(vq_fe_queue(h->fe, VQ_VSOCK_RX)) > 64)
			post_rx(h, 32);
	}
	printf("HOSTILE-OK flood: %u of %u chains taken before rx buffers came, then %u RSTs\n",
	       done, queued, rsts);
	return rsts == queued ? 0 : 1;
}

int vv_hostile_main(int argc, char **argv)
{
	const char *sock = argc > 2 ? argv[1] : NULL, *c = argc > 2 ? argv[2] : "";
	struct vq_fe_params fp = { .path = sock, .features = VQ_F_VERSION_1, .num_queues = 3,
				   .queue_size = QS, .mem_size = (size_t)QS * BUF + (1u << 20) };
	struct h h = { .port = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 0) : 1 };
	uint64_t cid = 0;
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: virtq-vsock hostile SOCKET CASE [PORT]\n"
				"  CASE: credit badcid badop badlen short nolisten flood\n");
		return 2;
	}
	if (vq_fe_new(&fp, &h.fe) < 0 || vq_fe_connect(h.fe) < 0 ||
	    vq_fe_get_config(h.fe, 0, &cid, 8) < 0 ||
	    !(h.mem = vq_fe_alloc(h.fe, (size_t)QS * BUF, 4096))) {
		fprintf(stderr, "hostile: cannot set up on %s: %s\n", sock,
			h.fe ? vq_fe_error(h.fe) : "");
		vq_fe_free(h.fe);
		return 1;
	}
	h.cid = cid;
	if (!strcmp(c, "credit"))
		rc = case_credit(&h);
	else if (!strcmp(c, "flood"))
		rc = case_flood(&h);
	else
		rc = case_simple(&h, c);
	vq_fe_free(h.fe);
	return rc;
}
