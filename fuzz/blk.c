/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: virtio-blk request parsing (vq_blk_parse, pure).
 *
 * Input (fuzz/gen_corpus.c writes valid ones):
 *   u64 capacity (sectors, < 2^54 as for a real file), u64 features, u8 flags
 *   (bit0 readonly), u32 max_discard_sectors, u8 max_discard_seg,
 *   u32 max_write_zeroes_sectors, u8 max_write_zeroes_seg, u8 max_ranges,
 *   u8 nsegs (1 + n % 16), u8 out_num (% (nsegs + 1)),
 *   per segment u16 length (% 4097), then the segments' bytes in order.
 * Every segment is its own exact-size heap block, so ASan sees any read
 * outside it.  Invariants: the return value is one of the documented
 * ones; the status byte is the last byte of the last non-empty writable
 * segment; data (index, offset, length) lies inside the chain's data part;
 * IN/OUT stay inside the capacity; ranges are within bounds.
 */
#include <errno.h>
#include <stdbool.h>

#include <virtq/blk.h>

#include "fuzz.h"

#define MAX_SEGS 16u

static uint64_t sum_len(const struct iovec *v, unsigned n)
{
	uint64_t s = 0;

	for (unsigned i = 0; i < n; i++)
		s += v[i].iov_len;
	return s;
}

static void check_status(const struct iovec *iov, unsigned out_num, unsigned in_num,
			 const struct vq_blk_req *r)
{
	for (unsigned i = out_num + in_num; i-- > out_num;) {
		if (!iov[i].iov_len)
			continue;
		FZ_CHECK(r->status_ptr == (uint8_t *)iov[i].iov_base + iov[i].iov_len - 1,
			 "status byte is not the last writable byte");
		return;
	}
	FZ_CHECK(0, "status without a writable byte");
}

static void check_ok(const struct vq_blk_limits *lim, const struct iovec *iov,
		     unsigned out_num, unsigned in_num, const struct vq_blk_range *rg,
		     unsigned max_ranges, const struct vq_blk_req *r)
{
	uint64_t out = sum_len(iov, out_num), in = sum_len(iov + out_num, in_num);
	uint64_t cap = lim->capacity * VQ_BLK_SECTOR;

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		FZ_CHECK(r->len == in - 1 && r->data_idx == out_num && r->data_off == 0, "IN data");
		FZ_CHECK(r->offset <= cap && r->len <= cap - r->offset, "IN beyond capacity");
		break;
	case VIRTIO_BLK_T_OUT:
		FZ_CHECK(r->len == out - 16, "OUT len %llu, out %llu",
			 (unsigned long long)r->len, (unsigned long long)out);
		FZ_CHECK(r->offset <= cap && r->len <= cap - r->offset, "OUT beyond capacity");
		if (r->len)
			FZ_CHECK(r->data_idx < out_num && r->data_off < iov[r->data_idx].iov_len,
				 "OUT data at %u+%zu", r->data_idx, r->data_off);
		FZ_CHECK(!lim->readonly, "write accepted on a read-only device");
		break;
	case VIRTIO_BLK_T_GET_ID:
		FZ_CHECK(r->len >= 1 && r->len <= VQ_BLK_ID_BYTES && r->len < in, "GET_ID len");
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		FZ_CHECK(r->nranges >= 1 && r->nranges <= max_ranges, "%u ranges", r->nranges);
		for (unsigned i = 0; i < r->nranges; i++)
			FZ_CHECK(rg[i].sector + rg[i].num_sectors <= lim->capacity &&
				 rg[i].sector <= lim->capacity, "range %u beyond capacity", i);
		break;
	case VIRTIO_BLK_T_FLUSH:
		break;
	default:
		FZ_CHECK(0, "type %u accepted", r->type);
	}
}

static void parse_and_check(const struct vq_blk_limits *lim, struct iovec *iov,
			    unsigned out_num, unsigned in_num, unsigned max_ranges)
{
	struct vq_blk_range rg[VQ_BLK_MAX_SEGS];
	struct vq_blk_req r;
	int rc = vq_blk_parse(lim, iov, out_num, in_num, rg, max_ranges, &r);

	FZ_CHECK(rc == 0 || rc == 1 || rc == -EBADMSG, "parse returned %d", rc);
	if (rc == -EBADMSG) {
		FZ_CHECK(!r.status_ptr, "EBADMSG with a status byte");
		FZ_CHECK(sum_len(iov + out_num, in_num) == 0, "EBADMSG with writable bytes");
		return;
	}
	check_status(iov, out_num, in_num, &r);
	FZ_CHECK(r.used_len == sum_len(iov + out_num, in_num), "used_len %u", r.used_len);
	if (rc == 1) {
		FZ_CHECK(r.status == VIRTIO_BLK_S_IOERR || r.status == VIRTIO_BLK_S_UNSUPP,
			 "failure status %u", r.status);
		FZ_CHECK(r.why && r.why[0], "failure without a reason");
		return;
	}
	FZ_CHECK(r.status == VIRTIO_BLK_S_OK, "status %u with rc 0", r.status);
	check_ok(lim, iov, out_num, in_num, rg, max_ranges, &r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct vq_blk_limits lim = { 0 };
	struct iovec iov[MAX_SEGS];
	unsigned nseg, out_num, max_ranges;

	lim.capacity = fz_u64(&f) & ((1ull << 54) - 1);
	lim.features = fz_u64(&f);
	lim.readonly = fz_u8(&f) & 1;
	lim.max_discard_sectors = fz_u32(&f);
	lim.max_discard_seg = fz_u8(&f);
	lim.max_write_zeroes_sectors = fz_u32(&f);
	lim.max_write_zeroes_seg = fz_u8(&f);
	max_ranges = fz_u8(&f) % (VQ_BLK_MAX_SEGS + 1);
	nseg = 1 + fz_u8(&f) % MAX_SEGS;
	out_num = fz_u8(&f) % (nseg + 1);
	for (unsigned i = 0; i < nseg; i++)
		iov[i].iov_len = fz_u16(&f) % 4097;
	for (unsigned i = 0; i < nseg; i++) {
		iov[i].iov_base = malloc(iov[i].iov_len ? iov[i].iov_len : 1);
		fz_bytes(&f, iov[i].iov_base, iov[i].iov_len);
	}
	parse_and_check(&lim, iov, out_num, nseg - out_num, max_ranges);
	for (unsigned i = 0; i < nseg; i++)
		free(iov[i].iov_base);
	return 0;
}
