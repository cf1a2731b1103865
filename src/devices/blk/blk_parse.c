/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk request parser (pure): a chain's segments in, a validated
 * struct vq_blk_req out.  No I/O, no allocation, no write outside *out and
 * the caller's range array: a fuzz target can call it directly.
 */
#include <errno.h>
#include <string.h>

#include "blk_internal.h"

/* Sum of iov[0..n) lengths; -EOVERFLOW when it does not fit 64 bits. */
static int iov_total(const struct iovec *iov, unsigned n, uint64_t *sum)
{
	uint64_t s = 0;

	for (unsigned i = 0; i < n; i++)
		if (__builtin_add_overflow(s, (uint64_t)iov[i].iov_len, &s))
			return -EOVERFLOW;
	*sum = s;
	return 0;
}

/* Segment index and offset of byte off of iov[0..n); false past the end. */
static bool iov_locate(const struct iovec *iov, unsigned n, uint64_t off, unsigned *idx,
		       size_t *segoff)
{
	for (unsigned i = 0; i < n; i++) {
		if (off < iov[i].iov_len) {
			*idx = i;
			*segoff = (size_t)off;
			return true;
		}
		off -= iov[i].iov_len;
	}
	return false;
}

/* The last byte of the last non-empty writable segment. */
static uint8_t *find_status(const struct iovec *in, unsigned in_num)
{
	for (unsigned i = in_num; i-- > 0;)
		if (in[i].iov_len)
			return (uint8_t *)in[i].iov_base + in[i].iov_len - 1;
	return NULL;
}

static int fail(struct vq_blk_req *r, uint8_t status, const char *why)
{
	r->status = status;
	r->why = why;
	return 1;
}

/* [sector, sector + nsec) inside the capacity? */
static bool in_range(const struct vq_blk_limits *lim, uint64_t sector, uint64_t nsec)
{
	uint64_t end;

	if (__builtin_add_overflow(sector, nsec, &end))
		return false;
	return end <= lim->capacity;
}

struct lens {
	uint64_t out, in; /* readable, writable bytes */
};

static int parse_read(const struct vq_blk_limits *lim, const struct lens *l,
		      unsigned out_num, struct vq_blk_req *r)
{
	if (l->out != VQ__BLK_HDR)
		return fail(r, VIRTIO_BLK_S_IOERR, "read with readable data");
	r->len = l->in - 1;
	r->data_idx = out_num;
	r->data_off = 0;
	if (r->len % VQ_BLK_SECTOR)
		return fail(r, VIRTIO_BLK_S_IOERR, "data length not a multiple of 512");
	if (!in_range(lim, r->sector, r->len >> VQ_BLK_SECTOR_SHIFT))
		return fail(r, VIRTIO_BLK_S_IOERR, "sector out of range");
	r->offset = r->sector << VQ_BLK_SECTOR_SHIFT; /* < capacity * 512: checked */
	return 0;
}

static int parse_write(const struct vq_blk_limits *lim, const struct lens *l,
		       const struct iovec *iov, unsigned out_num, struct vq_blk_req *r)
{
	if (l->in != 1)
		return fail(r, VIRTIO_BLK_S_IOERR, "write with writable data");
	if (lim->readonly)
		return fail(r, VIRTIO_BLK_S_IOERR, "write to a read-only device");
	r->len = l->out - VQ__BLK_HDR;
	if (r->len && !iov_locate(iov, out_num, VQ__BLK_HDR, &r->data_idx, &r->data_off))
		return fail(r, VIRTIO_BLK_S_IOERR, "data not found"); /* not reached */
	if (r->len % VQ_BLK_SECTOR)
		return fail(r, VIRTIO_BLK_S_IOERR, "data length not a multiple of 512");
	if (!in_range(lim, r->sector, r->len >> VQ_BLK_SECTOR_SHIFT))
		return fail(r, VIRTIO_BLK_S_IOERR, "sector out of range");
	r->offset = r->sector << VQ_BLK_SECTOR_SHIFT;
	return 0;
}

static int parse_get_id(const struct lens *l, unsigned out_num, struct vq_blk_req *r)
{
	if (l->out != VQ__BLK_HDR)
		return fail(r, VIRTIO_BLK_S_IOERR, "GET_ID with readable data");
	if (l->in < 2)
		return fail(r, VIRTIO_BLK_S_IOERR, "GET_ID without a buffer");
	r->len = l->in - 1 < VQ_BLK_ID_BYTES ? l->in - 1 : VQ_BLK_ID_BYTES;
	r->data_idx = out_num;
	r->data_off = 0;
	return 0;
}

/* Flags first (UNSUPP wins, spec 5.2.6.2), then bounds. */
static int check_ranges(const struct vq_blk_limits *lim, const struct vq_blk_range *rg,
			unsigned n, bool discard, struct vq_blk_req *r)
{
	uint32_t bad = discard ? ~0u : ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	uint32_t max = discard ? lim->max_discard_sectors : lim->max_write_zeroes_sectors;

	for (unsigned i = 0; i < n; i++)
		if (rg[i].flags & bad)
			return fail(r, VIRTIO_BLK_S_UNSUPP, "unsupported range flags");
	for (unsigned i = 0; i < n; i++) {
		if (rg[i].num_sectors > max)
			return fail(r, VIRTIO_BLK_S_IOERR, "range longer than the maximum");
		if (!in_range(lim, rg[i].sector, rg[i].num_sectors))
			return fail(r, VIRTIO_BLK_S_IOERR, "range out of capacity");
	}
	return 0;
}

static int parse_ranges(const struct vq_blk_limits *lim, const struct lens *l,
			const struct iovec *iov, unsigned out_num, struct vq_blk_range *rg,
			unsigned max_ranges, struct vq_blk_req *r)
{
	bool discard = r->type == VIRTIO_BLK_T_DISCARD;
	unsigned bit = discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;
	uint32_t max_seg = discard ? lim->max_discard_seg : lim->max_write_zeroes_seg;
	uint64_t dlen = l->out - VQ__BLK_HDR, n = dlen / VQ__BLK_RANGE;

	if (!VQ__BLK_HAS(lim->features, bit))
		return fail(r, VIRTIO_BLK_S_UNSUPP, "feature not negotiated");
	if (l->in != 1)
		return fail(r, VIRTIO_BLK_S_IOERR, "range request with writable data");
	if (lim->readonly)
		return fail(r, VIRTIO_BLK_S_IOERR, "discard on a read-only device");
	if (dlen == 0 || dlen % VQ__BLK_RANGE)
		return fail(r, VIRTIO_BLK_S_IOERR, "range data not a multiple of 16");
	if (n > max_seg || n > max_ranges)
		return fail(r, VIRTIO_BLK_S_IOERR, "too many ranges");
	for (unsigned i = 0; i < n; i++) {
		struct virtio_blk_discard_write_zeroes w;

		vq__iov_to_buf(iov, out_num, VQ__BLK_HDR + (size_t)i * VQ__BLK_RANGE, &w, sizeof(w));
		rg[i] = (struct vq_blk_range){ w.sector, w.num_sectors, w.flags };
	}
	r->nranges = (unsigned)n;
	return check_ranges(lim, rg, (unsigned)n, discard, r);
}

static int dispatch(const struct vq_blk_limits *lim, const struct lens *l,
		    const struct iovec *iov, unsigned out_num, struct vq_blk_range *ranges,
		    unsigned max_ranges, struct vq_blk_req *r)
{
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		return parse_read(lim, l, out_num, r);
	case VIRTIO_BLK_T_OUT:
		return parse_write(lim, l, iov, out_num, r);
	case VIRTIO_BLK_T_FLUSH:
		return 0; /* sector and stray data are ignored */
	case VIRTIO_BLK_T_GET_ID:
		return parse_get_id(l, out_num, r);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_ranges(lim, l, iov, out_num, ranges, max_ranges, r);
	default:
		return fail(r, VIRTIO_BLK_S_UNSUPP, "unsupported request type");
	}
}

int vq_blk_parse(const struct vq_blk_limits *lim, const struct iovec *iov,
		 unsigned out_num, unsigned in_num, struct vq_blk_range *ranges,
		 unsigned max_ranges, struct vq_blk_req *out)
{
	struct virtio_blk_outhdr h;
	struct lens l;

	if (!lim || !out || (!iov && out_num + in_num) || (!ranges && max_ranges))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->status_ptr = find_status(iov + out_num, in_num);
	if (!out->status_ptr) {
		out->status = VIRTIO_BLK_S_IOERR;
		out->why = "no writable status byte";
		return -EBADMSG;
	}
	if (iov_total(iov, out_num, &l.out) < 0 || iov_total(iov + out_num, in_num, &l.in) < 0)
		return fail(out, VIRTIO_BLK_S_IOERR, "chain length overflows");
	out->used_len = l.in > UINT32_MAX ? UINT32_MAX : (uint32_t)l.in;
	if (l.out < VQ__BLK_HDR)
		return fail(out, VIRTIO_BLK_S_IOERR, "short header");
	vq__iov_to_buf(iov, out_num, 0, &h, sizeof(h));
	out->type = h.type;
	out->sector = h.sector;
	return dispatch(lim, &l, iov, out_num, ranges, max_ranges, out);
}
