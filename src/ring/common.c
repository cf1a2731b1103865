/* SPDX-License-Identifier: MIT */
/* Ring layout arithmetic and the names of spec violations. */
#include <errno.h>

#include <virtq/ring.h>

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

static const struct {
	const char *name;
	int err;
} violations[VQ_ERR__COUNT] = {
	[VQ_OK]                   = { "ok", 0 },
	[VQ_ERR_HEAD_RANGE]       = { "head index out of range", -ERANGE },
	[VQ_ERR_NEXT_RANGE]       = { "next index out of range", -ERANGE },
	[VQ_ERR_LOOP]             = { "descriptor loop", -ELOOP },
	[VQ_ERR_CHAIN_LEN]        = { "chain longer than its limit", -E2BIG },
	[VQ_ERR_CHAIN_BYTES]      = { "chain longer than 4 GiB", -EFBIG },
	[VQ_ERR_INDIRECT_NESTED]  = { "nested indirect descriptor", -EMLINK },
	[VQ_ERR_INDIRECT_NEXT]    = { "indirect descriptor with NEXT or not at chain head", -ENOTUNIQ },
	[VQ_ERR_INDIRECT_LEN]     = { "indirect table length zero or not a multiple of 16", -EINVAL },
	[VQ_ERR_INDIRECT_FEATURE] = { "indirect descriptor without VIRTIO_F_INDIRECT_DESC", -EOPNOTSUPP },
	[VQ_ERR_ADDR_OVERFLOW]    = { "address + length overflows", -EOVERFLOW },
	[VQ_ERR_ADDR_UNMAPPED]    = { "address outside guest memory", -EFAULT },
	[VQ_ERR_WRITE_RO]         = { "writable descriptor in read-only memory", -EACCES },
	[VQ_ERR_READ_AFTER_WRITE] = { "readable descriptor after a writable one", -EBADMSG },
	[VQ_ERR_AVAIL_IDX]        = { "avail idx more than queue size ahead", -ENOSPC },
	[VQ_ERR_PACKED_WRAP]      = { "packed descriptor flags inconsistent with wrap counter", -EILSEQ },
	[VQ_ERR_PACKED_ID]        = { "packed buffer id out of range", -EBADSLT },
	[VQ_ERR_ID_IN_USE]        = { "buffer id already in flight", -EBUSY },
	[VQ_ERR_USED_ID]          = { "used id not in flight", -EBADR },
	[VQ_ERR_USED_LEN]         = { "used length larger than the writable buffer", -EMSGSIZE },
	[VQ_ERR_USED_IDX]         = { "used idx ran ahead of avail", -EOVERFLOW },
};

const char *vq_violation_str(enum vq_violation v)
{
	if ((unsigned)v >= VQ_ERR__COUNT)
		return "unknown violation";
	return violations[v].name;
}

int vq_violation_errno(enum vq_violation v)
{
	if ((unsigned)v >= VQ_ERR__COUNT)
		return -EPROTO;
	return violations[v].err;
}

int vq_ring_layout(enum vq_layout layout, uint32_t size, struct vq_ring_layout *out)
{
	if (size == 0 || size > VQ_MAX_QUEUE_SIZE)
		return -EINVAL;
	if (layout == VQ_LAYOUT_SPLIT) {
		if (size & (size - 1))
			return -EINVAL;
		out->desc_size = 16u * size;
		out->avail_size = 6u + 2u * size;  /* flags, idx, ring[], used_event */
		out->used_size = 6u + 8u * size;   /* flags, idx, ring[], avail_event */
	} else if (layout == VQ_LAYOUT_PACKED) {
		out->desc_size = 16u * size;
		out->avail_size = 4u;              /* driver event suppression */
		out->used_size = 4u;               /* device event suppression */
	} else {
		return -EINVAL;
	}
	out->desc_off = 0;
	out->avail_off = ALIGN64(out->desc_size);
	out->used_off = out->avail_off + ALIGN64(out->avail_size);
	out->total = out->used_off + ALIGN64(out->used_size);
	return 0;
}
