/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the EXPERIMENTAL header/data split-point parser
 * (vq_net_split_parse).  Input: one Ethernet frame, the whole input, copied
 * into an exact-size buffer so that ASan sees any overread.
 * Invariants: the result is a split point inside the frame, after a TCP or
 * UDP header of an IPv4/IPv6 packet that is not a fragment, or a refusal
 * with a reason; parsing is deterministic.
 */
#include <errno.h>

#include <linux/in.h>

#include <virtq/net_split.h>

#include "fuzz.h"

static void check_split(const uint8_t *b, size_t n, int r, const struct vq_net_split_info *o)
{
	FZ_CHECK((size_t)r <= n && o->hdr_len == (uint32_t)r, "split %d in %zu bytes", r, n);
	FZ_CHECK(o->why == VQ_NET_SPLIT_OK, "split with why %u", o->why);
	FZ_CHECK(o->l3_off >= 14 && o->l3_off < o->l4_off && o->l4_off < o->hdr_len,
		 "offsets %u %u %u", o->l3_off, o->l4_off, o->hdr_len);
	FZ_CHECK(o->l4_proto == IPPROTO_TCP || o->l4_proto == IPPROTO_UDP, "proto %u",
		 o->l4_proto);
	FZ_CHECK(o->ip_version == (b[o->l3_off] >> 4), "ip version %u", o->ip_version);
	if (o->ip_version == 4)
		FZ_CHECK(!(b[o->l3_off + 6] & 0x3f) && !b[o->l3_off + 7], "split a fragment");
	if (o->l4_proto == IPPROTO_TCP)
		FZ_CHECK(o->hdr_len - o->l4_off == (uint32_t)(b[o->l4_off + 12] >> 4) * 4u,
			 "TCP header length");
	else
		FZ_CHECK(o->hdr_len - o->l4_off == 8, "UDP header length");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *b = calloc(1, size ? size : 1);
	struct vq_net_split_info o, o2;
	int r;

	if (size)
		memcpy(b, data, size);
	r = vq_net_split_parse(b, size, &o);
	if (r > 0)
		check_split(b, size, r, &o);
	else
		FZ_CHECK((r == -EINVAL && o.why == VQ_NET_SPLIT_MALFORMED) ||
			 (r == -ENOENT && o.why != VQ_NET_SPLIT_OK &&
			  o.why != VQ_NET_SPLIT_MALFORMED), "refusal %d why %u", r, o.why);
	FZ_CHECK(vq_net_split_parse(b, size, &o2) == r && !memcmp(&o, &o2, sizeof(o)),
		 "not deterministic");
	/* A prefix: a split point inside it, or one the whole frame agrees with */
	r = vq_net_split_parse_prefix(b, size / 2, size, &o2);
	FZ_CHECK(r <= (int)(size / 2), "prefix split %d past %zu bytes", r, size / 2);
	if (r > 0)
		FZ_CHECK(!memcmp(&o, &o2, sizeof(o)), "prefix and frame disagree");
	free(b);
	return 0;
}
