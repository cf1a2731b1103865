/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the virtio-net parsers (vq_net_hdr_parse, vq_net_ctrl_parse)
 * with fuzzed features, and vq_net_tx_burst over a fuzzed split tx ring.
 *
 * Input (fuzz/gen_corpus.c writes valid ones):
 *   u8 mode  0: header, 1: control command, 2: tx burst
 *   u64 features
 *   mode 0:  u8 buflen, u32 frame_len, header bytes
 *   mode 1:  the command bytes (class, command, data), to the end
 *   mode 2:  split ring of 8 entries (layout.total bytes), then guest memory
 * Invariants: an accepted header is consistent with the features and the
 * frame; an accepted MAC table lies inside the command; tx frames lie
 * inside guest memory and carry a header the parser accepts.
 */
#include <errno.h>
#include <stdbool.h>

#include <virtq/mem.h>
#include <virtq/net.h>
#include <virtq/ring.h>

#include "fuzz.h"

#define GPA_BASE 0x40000ull
#define GBUF 8192u
#define QSIZE 8u

static uint8_t guest[GBUF] __attribute__((aligned(64)));
static uint8_t ringmem[4096] __attribute__((aligned(64)));

static void fuzz_hdr(uint64_t feat, struct fz *f)
{
	size_t buflen = fz_u8(f) % 24, hs = vq_net_hdr_size(feat);
	uint64_t frame_len = fz_u32(f);
	uint8_t *buf = malloc(buflen ? buflen : 1);
	struct virtio_net_hdr_v1 h;
	uint8_t type;
	int rc;

	fz_bytes(f, buf, buflen);
	rc = vq_net_hdr_parse(feat, buf, buflen, frame_len, &h);
	free(buf);
	if (rc) {
		FZ_CHECK(rc == -EINVAL, "hdr_parse returned %d", rc);
		return;
	}
	type = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	FZ_CHECK(buflen >= hs, "accepted a %zu-byte header, needs %zu", buflen, hs);
	FZ_CHECK(frame_len >= VQ_NET_MIN_FRAME && frame_len <= VQ_NET_MAX_FRAME, "frame_len");
	FZ_CHECK(h.num_buffers == 0, "num_buffers %u", h.num_buffers);
	FZ_CHECK(!(h.flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM), "flags 0x%x", h.flags);
	if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		FZ_CHECK(feat & VQ_NET_F(VIRTIO_NET_F_CSUM), "NEEDS_CSUM without CSUM");
		FZ_CHECK((uint64_t)h.csum_start + h.csum_offset + 2 <= frame_len,
			 "checksum at %u+%u outside a %llu-byte frame", h.csum_start,
			 h.csum_offset, (unsigned long long)frame_len);
	} else {
		FZ_CHECK(h.csum_start == 0 && h.csum_offset == 0, "csum fields kept");
	}
	if (type == VIRTIO_NET_HDR_GSO_NONE) {
		FZ_CHECK(h.gso_type == VIRTIO_NET_HDR_GSO_NONE, "ECN without GSO");
		return;
	}
	FZ_CHECK((type == VIRTIO_NET_HDR_GSO_TCPV4 && (feat & VQ_NET_F(VIRTIO_NET_F_HOST_TSO4))) ||
		 (type == VIRTIO_NET_HDR_GSO_TCPV6 && (feat & VQ_NET_F(VIRTIO_NET_F_HOST_TSO6))),
		 "gso_type 0x%x with features 0x%llx", h.gso_type, (unsigned long long)feat);
	FZ_CHECK(h.gso_size > 0 && (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM), "GSO fields");
}

static void check_list(const uint8_t *buf, size_t len, const uint8_t *p, uint32_t n)
{
	FZ_CHECK(p >= buf + 2 && p <= buf + len, "MAC list outside the command");
	FZ_CHECK((uint64_t)n * 6 <= (uint64_t)(buf + len - p), "%u MACs overrun the command", n);
}

static void fuzz_ctrl(struct fz *f)
{
	size_t len;
	const uint8_t *src = fz_take(f, fz_left(f), &len);
	uint8_t *buf = malloc(len ? len : 1); /* exact size: ASan sees overreads */
	struct vq_net_ctrl_cmd c;
	int rc;

	memcpy(buf, src, len);
	rc = vq_net_ctrl_parse(buf, len, &c);
	FZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EOPNOTSUPP, "ctrl_parse returned %d", rc);
	if (rc == 0 && c.cls == VIRTIO_NET_CTRL_MAC && c.cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET) {
		check_list(buf, len, c.u.table.uni, c.u.table.n_uni);
		check_list(buf, len, c.u.table.multi, c.u.table.n_multi);
		FZ_CHECK(2 + 8 + 6ull * c.u.table.n_uni + 6ull * c.u.table.n_multi == len,
			 "table of %u+%u MACs in %zu bytes", c.u.table.n_uni, c.u.table.n_multi, len);
	}
	free(buf);
}

static bool in_guest(const struct iovec *v)
{
	uintptr_t p = (uintptr_t)v->iov_base, g = (uintptr_t)guest;

	return p >= g && v->iov_len <= GBUF && p - g <= GBUF - v->iov_len;
}

static void check_pkt(uint64_t feat, const struct vq_net_pkt *p)
{
	struct virtio_net_hdr_v1 h;
	uint64_t sum = 0;

	FZ_CHECK(p->len >= VQ_NET_MIN_FRAME && p->len <= VQ_NET_MAX_FRAME, "frame len %u", p->len);
	for (unsigned i = 0; i < p->iovcnt; i++) {
		FZ_CHECK(in_guest(&p->iov[i]), "frame iovec %u outside guest memory", i);
		sum += p->iov[i].iov_len;
	}
	FZ_CHECK(sum >= p->len, "iovecs hold %llu bytes, frame %u", (unsigned long long)sum,
		 p->len);
	FZ_CHECK(vq_net_hdr_parse(feat, &p->hdr, sizeof(p->hdr), p->len, &h) == 0,
		 "tx returned a header the parser refuses");
}

static void tx_round(struct vq_net *n, struct vq_dev *q)
{
	struct vq_net_pkt *pkts[VQ_NET_BURST_MAX];
	int got;

	for (int round = 0; round < 4; round++) {
		got = vq_net_tx_burst(n, 0, pkts, VQ_NET_BURST_MAX);
		if (got < 0) {
			FZ_CHECK(got == -EIO && vq_dev_is_broken(q), "tx_burst returned %d", got);
			return;
		}
		for (int i = 0; i < got; i++)
			check_pkt(vq_net_features(n), pkts[i]);
		FZ_CHECK(vq_net_tx_done(n, 0) == 0 || vq_dev_is_broken(q), "tx_done failed");
		if (got == 0)
			return;
	}
}

static void fuzz_tx(uint64_t feat, struct fz *f)
{
	static struct vq_net *n;
	static struct vq_mem *mem;
	struct vq_net_params p = { .max_pairs = 1 };
	struct vq_ring_layout lay;
	struct vq_ring_params rc = { .layout = VQ_LAYOUT_SPLIT, .size = QSIZE };
	struct vq_mem_region r = { .gpa = GPA_BASE, .size = GBUF, .hva = guest, .prot = VQ_MEM_RW };
	struct vq_dev *q;

	if (!n && (vq_net_new(&p, &n) || vq_mem_new(&mem) || vq_mem_add(mem, &r)))
		abort();
	vq_net_reset(n);
	feat &= vq_net_host_features(n) & ~VQ_F_PACKED;
	if (vq_net_set_features(n, feat))
		FZ_CHECK(vq_net_set_features(n, VQ_F_VERSION_1) == 0, "plain features refused");
	rc.features = vq_net_features(n);
	vq_ring_layout(rc.layout, rc.size, &lay);
	memset(ringmem, 0, lay.total);
	fz_bytes(f, ringmem, lay.total);
	memset(guest, 0, GBUF);
	fz_bytes(f, guest, GBUF);
	rc.desc = ringmem + lay.desc_off;
	rc.avail = ringmem + lay.avail_off;
	rc.used = ringmem + lay.used_off;
	if (vq_dev_new(&rc, mem, &q))
		return;
	FZ_CHECK(vq_net_set_queue(n, 1, q) == 0, "set_queue");
	tx_round(n, q);
	vq_net_set_queue(n, 1, NULL);
	vq_dev_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t mode = fz_u8(&f);
	uint64_t feat = fz_u64(&f);

	switch (mode % 3) {
	case 0:
		fuzz_hdr(feat, &f);
		break;
	case 1:
		fuzz_ctrl(&f);
		break;
	default:
		fuzz_tx(feat, &f);
		break;
	}
	return 0;
}
