/* SPDX-License-Identifier: MIT */
/*
 * Seed corpus generator: writes a handful of small valid inputs per target
 * into fuzz/corpus/TARGET/ (the input formats are described at the top of
 * each target).  Ring contents are laid out by the library's own driver
 * side, so the seeds reach deep paths (chains, indirect tables, pushes).
 *   build-fuzz/gen_corpus fuzz/corpus
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_blk.h>
#include <virtq/net.h>
#include <virtq/ring.h>
#include <virtq/vhost_user.h>
#include <virtq/vsock.h>

#include "../tests/unit/net_split_fx.h"

static uint8_t out[16384];
static size_t n;
static const char *dir;

static void put(const void *p, size_t len)
{
	if (len)
		memcpy(out + n, p, len);
	n += len;
}
static void u8(uint8_t v) { put(&v, 1); }
static void u16(uint16_t v) { put(&v, 2); }
static void u32(uint32_t v) { put(&v, 4); }
static void u64(uint64_t v) { put(&v, 8); }

static void save(const char *target, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(out, 1, n, f) != n || fclose(f)) {
		perror(path);
		exit(1);
	}
	n = 0;
}

/* ---- rings laid out by vq_drv: ring bytes and a pool of indirect tables */

static uint8_t ring[4096] __attribute__((aligned(64)));
static uint8_t pool[1024] __attribute__((aligned(64)));

static void drv_ring(bool packed, bool indirect, uint64_t buf_gpa, uint64_t pool_gpa,
		     struct vq_ring_layout *lay, unsigned nchains)
{
	struct vq_drv_params c = {
		.ring = { .layout = packed ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT, .size = 8,
			  .features = VQ_F_VERSION_1 | (indirect ? VQ_F_INDIRECT : 0) },
		.indirect = pool, .indirect_gpa = pool_gpa, .indirect_tables = 4, .indirect_len = 8,
	};
	struct vq_drv *d;

	memset(ring, 0, sizeof(ring));
	memset(pool, 0, sizeof(pool));
	vq_ring_layout(c.ring.layout, 8, lay);
	c.ring.desc = ring + lay->desc_off;
	c.ring.avail = ring + lay->avail_off;
	c.ring.used = ring + lay->used_off;
	if (vq_drv_new(&c, &d))
		exit(1);
	for (unsigned i = 0; i < nchains; i++) {
		struct vq_seg sg[3] = { { buf_gpa + i * 256, 12 }, { buf_gpa + i * 256 + 64, 60 },
					{ buf_gpa + i * 256 + 128, 100 } };

		if (vq_drv_add(d, sg, i == 0 ? 1 : 2, i == 0 ? 0 : 1, (void *)(uintptr_t)(i + 1)))
			exit(1);
	}
	vq_drv_kick_prepare(d);
	vq_drv_free(d);
}

static void gen_ring_dev(void)
{
	static const char *names[] = { "split", "split_indirect", "packed", "packed_indirect",
				       "split_large", "packed_large" };
	struct vq_ring_layout lay;

	for (unsigned k = 0; k < 6; k++) {
		bool packed = k == 2 || k == 3 || k == 5;
		bool ind = k == 1 || k == 3;

		drv_ring(packed, ind, 0x1400, 0x1000, &lay, 3);
		u8((uint8_t)((packed ? 1 : 0) | (ind ? 2 : 0) | (k >= 4 ? 4 : 0) | 8));
		u8(packed ? 7 : 3);          /* size 8 */
		u16(k >= 4 ? 64 : 0);        /* max_chain */
		u8(0);                       /* one region */
		u32(0x1000); u16(0); u16(8191); u8(3);
		put(ring, lay.total);
		u16(sizeof(pool));
		put(pool, sizeof(pool));
		for (unsigned i = 0; i < 4; i++) { u8(0); u8(255); }       /* pop */
		for (unsigned i = 0; i < 3; i++) { u8(3); u8(0); u32(7); } /* push */
		u8(5);                                                     /* flush */
		save("ring_dev", names[k]);
	}
}

static void add_op(unsigned nseg, unsigned out_num, uint16_t off)
{
	u8(0); u8((uint8_t)(nseg - 1)); u8((uint8_t)out_num);
	for (unsigned i = 0; i < nseg; i++) { u16((uint16_t)(off + i * 300)); u16(99); }
}

static void gen_ring_drv(void)
{
	for (unsigned k = 0; k < 8; k++) {
		u8((uint8_t)((k & 1) | ((k & 2) ? 2 : 0) | ((k & 4) ? 4 : 0) | (k == 7 ? 8 : 0)));
		u8((k & 1) ? 7 : 3); u16(0); u8(4); u8(7);
		for (unsigned i = 0; i < 3; i++)
			add_op(1 + i, i == 0 ? 1 : 1, (uint16_t)(i * 1000));
		u8(2);                                        /* kick */
		for (unsigned i = 0; i < 3; i++) u8(3);       /* device pops */
		for (unsigned i = 0; i < 3; i++) { u8(5); u8(0); u32(50); u8(1); }
		for (unsigned i = 0; i < 4; i++) u8(7);       /* get */
		add_op(2, 1, 100); u8(2); u8(3); u8(5); u8(0); u32(1); u8(1); u8(7);
		char name[32];
		snprintf(name, sizeof(name), "cfg%u", k);
		save("ring_drv", name);
	}
}

/* ---- vhost-user */

static void msg(uint32_t req, bool ack, uint8_t fsel, const void *pl, uint16_t len)
{
	u8((uint8_t)req); u8(ack ? 8 : 0); u8(fsel); u16(len);
	put(pl, len);
	for (unsigned i = 0; i < (fsel & 3u); i++)
		if (!(fsel & (4u << i)))
			u8(0); /* memfd without initial contents */
}

static void gen_vhost_user(void)
{
	const uint64_t ua = 0x7f0000000000ull;
	uint64_t feat = VQ_F_VERSION_1 | (1ull << 30), pf = VQ_VU_PROTOCOL_F_MQ |
		VQ_VU_PROTOCOL_F_REPLY_ACK | VQ_VU_PROTOCOL_F_CONFIG | VQ_VU_PROTOCOL_F_STATUS |
		VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS, zero = 0;
	struct { uint32_t n, pad; uint64_t gpa, size, uaddr, off; } mt = { 1, 0, 0, 65536, ua, 0 };
	struct { uint64_t pad, gpa, size, uaddr, off; } one = { 0, 0x100000, 65536, ua + 0x100000, 0 };
	uint32_t num[2] = { 0, 8 }, base[2] = { 0, 0 }, en[2] = { 0, 1 };
	struct { uint32_t i, f; uint64_t desc, used, avail, log; } a = { 0, 0, ua, ua + 0x200, ua + 0x100, 0 };
	uint32_t cfg[7] = { 0, 16, 0 };

	for (unsigned k = 0; k < 3; k++) {
		u8(0);
		msg(1, false, 0, NULL, 0); msg(15, false, 0, NULL, 0);
		msg(16, false, 0, &pf, 8); msg(3, k == 1, 0, NULL, 0);
		msg(2, true, 0, &feat, 8); msg(5, true, 1, &mt, sizeof(mt));
		msg(8, false, 0, num, 8); msg(9, true, 0, &a, sizeof(a));
		msg(10, false, 0, base, 8); msg(13, false, 1 | 4, &zero, 8);
		msg(12, true, 1 | 4, &zero, 8); msg(18, true, 0, en, 8);
		if (k >= 1) { msg(24, false, 0, cfg, sizeof(cfg)); msg(37, true, 1, &one, sizeof(one)); }
		if (k == 2) { msg(38, true, 0, &one, sizeof(one)); msg(34, true, 0, NULL, 0); }
		msg(11, false, 0, base, 8); msg(17, false, 0, NULL, 0); msg(36, false, 0, NULL, 0);
		char name[32];
		snprintf(name, sizeof(name), "backend%u", k);
		save("vhost_user", name);
	}
	for (unsigned m = 1; m < 8; m += 2) {
		char name[32];

		u8((uint8_t)m);
		for (unsigned i = 0; i < 40; i++) u8(0); /* correct replies */
		snprintf(name, sizeof(name), "frontend%u", m);
		save("vhost_user", name);
	}
}

/* ---- net */

static uint8_t guest[8192];

static void gen_net(void)
{
	uint64_t f = VQ_F_VERSION_1 | VQ_NET_F(VIRTIO_NET_F_CSUM) | VQ_NET_F(VIRTIO_NET_F_HOST_TSO4) |
		     VQ_NET_F(VIRTIO_NET_F_HOST_TSO6);
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				       .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .hdr_len = 54,
				       .gso_size = 1448, .csum_start = 34, .csum_offset = 16 };
	struct vq_ring_layout lay;

	u8(0); u64(f); u8(12); u32(1514); put(&h, sizeof(h)); save("net", "hdr_tso4");
	h.gso_type = 0; h.gso_size = 0;
	u8(0); u64(f); u8(12); u32(60); put(&h, sizeof(h)); save("net", "hdr_csum");
	u8(1); u64(0); put("\x00\x00\x01", 3); save("net", "ctrl_promisc");
	u8(1); u64(0); put("\x01\x01\xde\xad\xbe\xef\x00\x01", 8); save("net", "ctrl_mac_set");
	u8(1); u64(0); put("\x04\x00\x02\x00", 4); save("net", "ctrl_mq");
	u8(1); u64(0); put("\x01\x00", 2); u32(1); put("\x02\x00\x00\x00\x00\x01", 6);
	u32(2); put("\x01\x00\x5e\x00\x00\x01\x33\x33\x00\x00\x00\x01", 12); save("net", "ctrl_table");
	for (unsigned k = 0; k < 2; k++) {
		drv_ring(false, k == 1, 0x40000, 0x40000 + 4096, &lay, 3);
		memset(guest, 0, sizeof(guest));
		for (unsigned i = 0; i < 3; i++) {
			struct virtio_net_hdr_v1 t = { 0 };

			memcpy(guest + i * 256, &t, 12);
			memset(guest + i * 256 + 64, 0x11 * (i + 1), 60);
		}
		memcpy(guest + 4096, pool, sizeof(pool));
		u8(2); u64(f); put(ring, lay.total); put(guest, sizeof(guest));
		save("net", k ? "tx_indirect" : "tx");
	}
}

/* ---- blk */

static void blk_hdr(uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };

	put(&h, sizeof(h));
}

static void blk_lim(unsigned nseg, unsigned out_num)
{
	u64(2048);
	u64((1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES) |
	    (1ull << VIRTIO_BLK_F_FLUSH));
	u8(0); u32(0x3fffff); u8(32); u32(0x3fffff); u8(32); u8(16);
	u8((uint8_t)(nseg - 1)); u8((uint8_t)out_num);
}

static void gen_blk(void)
{
	static uint8_t zero[1024];
	struct virtio_blk_discard_write_zeroes r[2] = { { 0, 8, 0 }, { 64, 8, 1 } };

	blk_lim(3, 1); u16(16); u16(1024); u16(1);
	blk_hdr(VIRTIO_BLK_T_IN, 8); put(zero, 1024); u8(0); save("blk", "read");
	blk_lim(3, 2); u16(16); u16(1024); u16(1);
	blk_hdr(VIRTIO_BLK_T_OUT, 8); put(zero, 1024); u8(0); save("blk", "write");
	blk_lim(2, 1); u16(16); u16(1);
	blk_hdr(VIRTIO_BLK_T_FLUSH, 0); u8(0); save("blk", "flush");
	blk_lim(3, 1); u16(16); u16(20); u16(1);
	blk_hdr(VIRTIO_BLK_T_GET_ID, 0); put(zero, 20); u8(0); save("blk", "get_id");
	blk_lim(3, 2); u16(16); u16(32); u16(1);
	blk_hdr(VIRTIO_BLK_T_DISCARD, 0); r[1].flags = 0; put(r, 32); u8(0); save("blk", "discard");
	blk_lim(3, 2); u16(16); u16(32); u16(1);
	blk_hdr(VIRTIO_BLK_T_WRITE_ZEROES, 0); r[1].flags = 1; put(r, 32); u8(0);
	save("blk", "write_zeroes");
}

/* ---- vsock */

static uint8_t vs_ring[2][4096] __attribute__((aligned(64)));

/* A split ring of 8 at vs_ring[i]: chains of n segments each (out or in). */
static void vs_drv(unsigned i, const struct vq_seg *sg, unsigned nchains, bool in,
		   struct vq_ring_layout *lay)
{
	struct vq_drv_params c = { .ring = { .layout = VQ_LAYOUT_SPLIT, .size = 8,
					     .features = VQ_F_VERSION_1 } };
	struct vq_drv *d;

	memset(vs_ring[i], 0, sizeof(vs_ring[i]));
	vq_ring_layout(VQ_LAYOUT_SPLIT, 8, lay);
	c.ring.desc = vs_ring[i] + lay->desc_off;
	c.ring.avail = vs_ring[i] + lay->avail_off;
	c.ring.used = vs_ring[i] + lay->used_off;
	if (vq_drv_new(&c, &d))
		exit(1);
	for (unsigned k = 0; k < nchains; k++)
		if (vq_drv_add(d, &sg[k], in ? 0 : 1, in ? 1 : 0, (void *)(uintptr_t)(k + 1)))
			exit(1);
	vq_drv_kick_prepare(d);
	vq_drv_free(d);
}

static void vs_hdr(uint8_t *at, uint16_t op, uint16_t type, uint32_t len, uint32_t flags)
{
	struct vq_vsock_pkt p = { .src_cid = 3, .dst_cid = 2, .src_port = 1000 + op,
				  .dst_port = 80, .len = len, .type = type, .op = op,
				  .flags = flags, .buf_alloc = 65536 };

	vq_vsock_hdr_encode(&p, (struct virtio_vsock_hdr *)at);
}

static void gen_vsock(void)
{
	struct vq_seg tx[4], rx[4];
	struct vq_ring_layout lay;

	vs_hdr(guest, VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_TYPE_STREAM, 16, 0);
	u8(0); u8(10); u8(0); u32(0); put(guest, 44 + 16); save("vsock", "parse_rw");
	vs_hdr(guest, VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_TYPE_SEQPACKET, 4,
	       VIRTIO_VSOCK_SEQ_EOM);
	u8(0); u8(44); u8(1); u32(0); put(guest, 44 + 4); save("vsock", "parse_seq_eom");
	vs_hdr(guest, VIRTIO_VSOCK_OP_REQUEST, VIRTIO_VSOCK_TYPE_STREAM, 0, 0);
	u8(0); u8(20); u8(0); u32(0); put(guest, 44); save("vsock", "parse_request");

	memset(guest, 0, sizeof(guest));
	vs_hdr(guest, VIRTIO_VSOCK_OP_REQUEST, VIRTIO_VSOCK_TYPE_STREAM, 0, 0);
	vs_hdr(guest + 256, VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_TYPE_STREAM, 32, 0);
	vs_hdr(guest + 512, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_TYPE_STREAM, 0, 3);
	vs_hdr(guest + 768, VIRTIO_VSOCK_OP_CREDIT_REQUEST, VIRTIO_VSOCK_TYPE_STREAM, 0, 0);
	for (unsigned k = 0; k < 4; k++) {
		tx[k] = (struct vq_seg){ 0x40000 + k * 256, k == 1 ? 44 + 32 : 44 };
		rx[k] = (struct vq_seg){ 0x40000 + 4096 + k * 512, 512 };
	}
	vs_drv(0, rx, 4, true, &lay);  /* queue 0: rx */
	vs_drv(1, tx, 4, false, &lay); /* queue 1: tx */
	u8(1); u64(VQ_F_VERSION_1 | VQ_VSOCK_F_SEQPACKET);
	put(vs_ring[0], lay.total); put(vs_ring[1], lay.total); put(guest, sizeof(guest));
	save("vsock", "device");
}

/* ---- svq: two GPA-contiguous regions, a read-only alias; traffic */

static void svq_add(uint32_t gpa, uint16_t len, bool write)
{
	u8(0); u8(0); u8(write ? 0 : 1); u32(gpa); u16(len);
}

static void gen_svq(void)
{
	for (unsigned k = 0; k < 8; k++) {
		char name[32];

		u8((uint8_t)(((k & 1) ? 1 : 0) | ((k & 2) ? 2 : 0) | ((k & 4) ? 4 | 8 | 16 | 32 : 0)));
		u8(k & 1 ? 0x22 : 0x13);                 /* guest 8 or 16, shadow 4 or 2 */
		u8(2);                                   /* 3 fuzzed regions */
		u32(0x10000); u16(0); u16(0x2000); u8(2);         /* RW at host +0 */
		u32(0x12000); u16(0x4000); u16(0x2000); u8(2);    /* RW, host apart */
		u32(0x20000); u16(0); u16(0x2000); u8(0);         /* RO alias of the first */
		for (unsigned i = 0; i < 4; i++) {
			svq_add(0x11f00 + i * 0x10, 0x200, false);
			svq_add(0x10100 + i * 0x400, 0x100, true);
			svq_add(0x20100 + i * 0x10, 0x80, false);
		}
		u8(1); u8(2); u32(77); u32(5); u32(9); u32(1000); u8(10);
		u8(6); u32(0x11f00); u16(0x300); u8(0);  /* translate check */
		u8(7); u8(9); u8(1); u8(9); u8(1); u8(7); u8(1); u8(2); u8(10);
		snprintf(name, sizeof(name), "traffic%u", k);
		save("svq", name);
	}
}

/* ---- net_split: crafted frames (tests/unit/net_split_fx.h) */

static void gen_net_split(void)
{
	static const uint8_t ext[] = { IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS };
	static const uint8_t frag6[] = { IPPROTO_FRAGMENT };
	static const struct sf_spec specs[] = {
		{ .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 128 },
		{ .ip = 4, .l4 = IPPROTO_UDP, .frame_len = 64, .vlans = 1 },
		{ .ip = 4, .l4 = IPPROTO_TCP, .frame_len = 200, .ihl = 7, .tcp_doff = 8 },
		{ .ip = 4, .l4 = IPPROTO_UDP, .frame_len = 100, .frag = 0x2000 },
		{ .ip = 6, .l4 = IPPROTO_TCP, .frame_len = 160, .vlans = 2 },
		{ .ip = 6, .l4 = IPPROTO_UDP, .frame_len = 160, .ext = ext, .ext_n = 3 },
		{ .ip = 6, .l4 = IPPROTO_UDP, .frame_len = 120, .ext = frag6, .ext_n = 1 },
	};
	char name[32];

	for (unsigned i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		sf_build(&specs[i], out);
		n = specs[i].frame_len;
		snprintf(name, sizeof(name), "frame%u", i);
		save("net_split", name);
	}
}

/* ---- split_drv: a device script per method (fuzz/split_drv.c opcodes) */

static void sd_pop(void) { u8(3); }
static void sd_push(uint32_t len) { u8(5); u8(0); u32(len); u8(1); }
static void sd_hdr(uint8_t flags, uint16_t hdr_len, uint16_t nb)
{
	u8(7); u8(0); u8(flags); u16(hdr_len); u16(nb);
}
static void sd_recv_release(void) { u8(0); u8(7); u8(2); u8(0); }

static void gen_split_drv(void)
{
	char name[32];

	for (unsigned packed = 0; packed < 2; packed++) {
		for (unsigned m = 0; m < 5; m++) {
			u8((uint8_t)(m | packed << 3));
			u8(1);
			for (unsigned k = 0; k < 3; k++) {
				unsigned two = m == 2 || m == 3; /* B, C: two buffers */

				sd_pop();
				if (two)
					sd_pop();
				sd_hdr(m ? 0x80 : 0, m ? 54 : 0, (uint16_t)(1 + two));
				if (m == 2)
					sd_push(4096);
				else if (m == 3)
					sd_push(12 + 54);
				sd_push(m == 1 ? 128 + 200 : 300);
				sd_recv_release();
			}
			snprintf(name, sizeof(name), "m%u%s", m, packed ? "p" : "s");
			save("split_drv", name);
		}
	}
	u8(2); u8(0); /* B: num_buffers beyond what the device holds */
	sd_pop();
	sd_hdr(0x80, 54, 30);
	sd_push(4096);
	sd_recv_release();
	save("split_drv", "hostile_nb");
	u8(4); u8(1); /* header ring: a used length beyond the buffer */
	sd_pop();
	sd_hdr(0x80, 54, 1);
	sd_push(0x80001000u);
	sd_recv_release();
	save("split_drv", "hostile_len");
}

int main(int argc, char **argv)
{
	dir = argc > 1 ? argv[1] : "fuzz/corpus";
	gen_ring_dev();
	gen_ring_drv();
	gen_vhost_user();
	gen_net();
	gen_blk();
	gen_vsock();
	gen_svq();
	gen_net_split();
	gen_split_drv();
	return 0;
}
