/* SPDX-License-Identifier: MIT */
/*
 * --source SIZE: one Ethernet/IPv4/UDP frame of SIZE bytes (no FCS), or a
 * TCP-like IPv4 or IPv6 one (--source-proto), sent into every guest rx ring
 * as fast as the guest posts buffers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vn.h"

static uint16_t ip_csum(const uint8_t *h, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)h[i] << 8 | h[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void build_udp4(uint8_t *f, unsigned size)
{
	uint8_t *ip = f + 14, *udp = ip + 20;
	uint16_t v;

	f[12] = 0x08; /* IPv4 */
	ip[0] = 0x45;
	v = htons((uint16_t)(size - 14));
	memcpy(ip + 2, &v, 2);
	ip[6] = 0x40; /* DF */
	ip[8] = 64;   /* TTL */
	ip[9] = 17;   /* UDP */
	memcpy(ip + 12, (const uint8_t[]){ 198, 18, 0, 1 }, 4);  /* RFC 2544 range */
	memcpy(ip + 16, (const uint8_t[]){ 198, 18, 0, 2 }, 4);
	v = htons(ip_csum(ip, 20));
	memcpy(ip + 10, &v, 2);
	v = htons(9);  /* discard */
	memcpy(udp, &v, 2);
	memcpy(udp + 2, &v, 2);
	v = htons((uint16_t)(size - 34));
	memcpy(udp + 4, &v, 2); /* checksum 0: none */
}

/* TCP-like: IPv4 or IPv6, a 20-byte TCP header with ACK set (checksum not
 * computed: the receiver here counts and reads, it has no TCP stack).
 * Returns the header length. */
static unsigned build_tcp(uint8_t *f, unsigned size, bool v6)
{
	uint8_t *ip = f + 14, *tcp = ip + (v6 ? 40 : 20);
	uint16_t v;

	f[12] = v6 ? 0x86 : 0x08;
	f[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		ip[0] = 0x60;
		v = htons((uint16_t)(size - 54));
		memcpy(ip + 4, &v, 2);
		ip[6] = 6;    /* TCP */
		ip[7] = 64;
		memcpy(ip + 8, (const uint8_t[]){ 0x20, 0x01, 0x0d, 0xb8 }, 4);  /* 2001:db8::/32 */
		memcpy(ip + 24, (const uint8_t[]){ 0x20, 0x01, 0x0d, 0xb8 }, 4);
		ip[23] = 1;
		ip[39] = 2;
	} else {
		ip[0] = 0x45;
		v = htons((uint16_t)(size - 14));
		memcpy(ip + 2, &v, 2);
		ip[6] = 0x40;
		ip[8] = 64;
		ip[9] = 6;    /* TCP */
		memcpy(ip + 12, (const uint8_t[]){ 198, 18, 0, 1 }, 4);
		memcpy(ip + 16, (const uint8_t[]){ 198, 18, 0, 2 }, 4);
		v = htons(ip_csum(ip, 20));
		memcpy(ip + 10, &v, 2);
	}
	v = htons(5201);
	memcpy(tcp, &v, 2);
	memcpy(tcp + 2, &v, 2);
	tcp[12] = 5 << 4;  /* data offset */
	tcp[13] = 0x10;    /* ACK */
	v = htons(65535);
	memcpy(tcp + 14, &v, 2);
	return (unsigned)(tcp + 20 - f);
}

static void build(uint8_t *f, unsigned size, const uint8_t dst[6], int proto)
{
	static const uint8_t src[6] = { 0x02, 0x76, 0x71, 0x00, 0x00, 0x01 };
	unsigned hl = 42;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	if (proto == VN_SRC_UDP4)
		build_udp4(f, size);
	else
		hl = build_tcp(f, size, proto == VN_SRC_TCP6);
	for (unsigned i = hl; i < size; i++)
		f[i] = (uint8_t)i;
}

int vn_source_init(struct vn_daemon *d)
{
	unsigned size = d->o.source_size, min = d->o.source_proto == VN_SRC_TCP6 ? 74 :
					       d->o.source_proto == VN_SRC_TCP4 ? 54 : 42;

	if (size < min)
		return -EINVAL; /* the headers alone */

	d->src_frame = calloc(1, size);
	if (!d->src_frame)
		return -ENOMEM;
	build(d->src_frame, size, d->o.source_dst, (int)d->o.source_proto);
	d->src_iov = (struct iovec){ d->src_frame, size };
	memset(&d->src_pkt, 0, sizeof(d->src_pkt));
	d->src_pkt.iov = &d->src_iov;
	d->src_pkt.iovcnt = 1;
	d->src_pkt.len = size;
	for (unsigned i = 0; i < VN_BURST; i++)
		d->src_pkts[i] = &d->src_pkt;
	return 0;
}

void vn_source_free(struct vn_daemon *d)
{
	free(d->src_frame);
	d->src_frame = NULL;
}

/* Fill the rx ring of lane l (its owner is the only writer in source mode). */
unsigned vn_source_lane(struct vn_worker *w, struct vn_lane *l)
{
	struct vn_port *p = l->port;
	int r;

	/* Seq_cst: pairs with op_queue_stop's store and vn_quiesce. */
	if (!atomic_load_explicit(&l->rx_on, memory_order_seq_cst) ||
	    atomic_load_explicit(&p->broken, memory_order_relaxed) ||
	    !vq_vu_queue_is_enabled(l->rxq))
		return 0;
	r = vq_net_rx_burst(p->net, l->pair, w->d->src_pkts, VN_BURST);
	/* A ring that breaks after some frames of a burst fails the next
	 * burst before its first frame: that call reports it.  A full ring
	 * (the usual short burst) costs no check. */
	if (r < 0)
		vn_port_broken(p, l->rxq); /* only if the ring really broke */
	return r > 0 ? (unsigned)r : 0;
}
