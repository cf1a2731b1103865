/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the virtio-vsock packet header parser (vq_vsock_parse) over
 * fuzzed segmentation, and the vsock device model serving fuzzed split rx
 * and tx rings over fuzzed guest memory (no host side: every REQUEST is
 * refused with RST, every other packet meets an unknown connection).
 *
 * Input (fuzz/gen_corpus.c writes valid ones):
 *   u8 mode  0: parser, 1: device
 *   mode 0:  u8 cut, u8 seqpacket, u32 out_len slack, header and payload bytes
 *   mode 1:  u64 features, rx ring then tx ring (split, 8 entries), guest memory
 * Invariants: an accepted header names the guest as source and the host as
 * destination, a known type and op, and a payload inside the chain; the
 * device never fails process() and never touches memory outside the map.
 */
#include <errno.h>
#include <stdbool.h>

#include <virtq/mem.h>
#include <virtq/ring.h>
#include <virtq/vsock.h>

#include "fuzz.h"

#define CID 3u
#define GPA_BASE 0x40000ull
#define GBUF 8192u
#define QSIZE 8u

static uint8_t guest[GBUF] __attribute__((aligned(64)));
static uint8_t rings[2][4096] __attribute__((aligned(64)));

static void quiet(void *ctx, const char *msg)
{
	(void)ctx, (void)msg;
}

static void fuzz_parse(struct fz *f)
{
	size_t cut = fz_u8(f), len, slack;
	bool seq = fz_u8(f) & 1;
	struct vq_vsock_pkt p;
	const uint8_t *src;
	uint8_t *buf;
	const char *why;
	int rc;

	slack = fz_u32(f) % 64;
	src = fz_take(f, fz_left(f), &len);
	buf = malloc(len ? len : 1); /* exact size: ASan sees overreads */
	memcpy(buf, src, len);
	if (cut > len)
		cut = len;
	struct iovec iov[2] = { { buf, cut }, { buf + cut, len - cut } };

	/* out_len may claim fewer bytes than the segments hold, never more */
	rc = vq_vsock_parse(iov, 2, len >= slack ? len - slack : 0, CID, seq, &p, &why);
	FZ_CHECK(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG, "parse returned %d", rc);
	if (rc == 0) {
		FZ_CHECK(p.src_cid == CID && p.dst_cid == VQ_VSOCK_HOST_CID, "cids");
		FZ_CHECK(p.type == VIRTIO_VSOCK_TYPE_STREAM ||
			 (seq && p.type == VIRTIO_VSOCK_TYPE_SEQPACKET), "type %u", p.type);
		FZ_CHECK(p.op >= VIRTIO_VSOCK_OP_REQUEST && p.op <= VIRTIO_VSOCK_OP_CREDIT_REQUEST,
			 "op %u", p.op);
		FZ_CHECK((uint64_t)p.len + VQ_VSOCK_HDR_LEN <= len - slack, "payload %u of %zu",
			 p.len, len);
	}
	free(buf);
}

static int start(struct vq_vsock *v, unsigned idx, const struct vq_ring_params *rc,
		 const struct vq_mem *mem, struct vq_dev **q)
{
	if (vq_dev_new(rc, mem, q))
		return -1;
	return vq_vsock_ops.queue_start(v, idx, *q);
}

static void fuzz_device(struct fz *f)
{
	static struct vq_vsock *v;
	static struct vq_mem *mem;
	struct vq_vsock_params p = { .guest_cid = CID, .log = quiet };
	struct vq_mem_region r = { .gpa = GPA_BASE, .size = GBUF, .hva = guest, .prot = VQ_MEM_RW };
	struct vq_ring_layout lay;
	struct vq_ring_params rc = { .layout = VQ_LAYOUT_SPLIT, .size = QSIZE };
	struct vq_dev *q[2] = { NULL, NULL };
	uint64_t feat = fz_u64(f) & VQ_VSOCK_FEATURES_ALL & ~VQ_F_PACKED;

	if (!v && (vq_vsock_new(&p, &v) || vq_mem_new(&mem) || vq_mem_add(mem, &r)))
		abort();
	FZ_CHECK(vq_vsock_ops.set_features(v, feat) == 0, "features refused");
	rc.features = feat;
	vq_ring_layout(rc.layout, rc.size, &lay);
	for (int i = 0; i < 2; i++) {
		memset(rings[i], 0, lay.total);
		fz_bytes(f, rings[i], lay.total);
	}
	fz_bytes(f, guest, GBUF);
	for (unsigned i = 0; i < 2; i++) {
		rc.desc = rings[i] + lay.desc_off;
		rc.avail = rings[i] + lay.avail_off;
		rc.used = rings[i] + lay.used_off;
		if (start(v, i, &rc, mem, &q[i]))
			goto out;
	}
	for (int round = 0; round < 4; round++)
		FZ_CHECK(vq_vsock_process(v) >= 0, "process failed");
out:
	for (unsigned i = 0; i < 2; i++) {
		vq_vsock_ops.queue_stop(v, i);
		vq_dev_free(q[i]);
	}
	vq_vsock_ops.reset(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };

	if (fz_u8(&f) % 2 == 0)
		fuzz_parse(&f);
	else
		fuzz_device(&f);
	return 0;
}
