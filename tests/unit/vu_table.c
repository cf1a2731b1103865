/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user validation table (src/vhost-user/vu_msg.c) against the
 * protocol as QEMU's docs/interop/vhost-user.rst numbers it, transcribed
 * here independently: every request sits at its code under its name, sizes
 * and fd counts are the spec's, and each gating protocol feature is one bit.
 */
#include <string.h>

#include "../harness/test.h"
#include "vhost-user/vu_internal.h"

/* Request codes and names, from the spec. */
static const char *const spec_name[] = {
	[1] = "GET_FEATURES", [2] = "SET_FEATURES", [3] = "SET_OWNER", [4] = "RESET_OWNER",
	[5] = "SET_MEM_TABLE", [6] = "SET_LOG_BASE", [7] = "SET_LOG_FD", [8] = "SET_VRING_NUM",
	[9] = "SET_VRING_ADDR", [10] = "SET_VRING_BASE", [11] = "GET_VRING_BASE",
	[12] = "SET_VRING_KICK", [13] = "SET_VRING_CALL", [14] = "SET_VRING_ERR",
	[15] = "GET_PROTOCOL_FEATURES", [16] = "SET_PROTOCOL_FEATURES", [17] = "GET_QUEUE_NUM",
	[18] = "SET_VRING_ENABLE", [19] = "SEND_RARP", [20] = "NET_SET_MTU",
	[21] = "SET_BACKEND_REQ_FD", [22] = "IOTLB_MSG", [23] = "SET_VRING_ENDIAN",
	[24] = "GET_CONFIG", [25] = "SET_CONFIG", [26] = "CREATE_CRYPTO_SESSION",
	[27] = "CLOSE_CRYPTO_SESSION", [28] = "POSTCOPY_ADVISE", [29] = "POSTCOPY_LISTEN",
	[30] = "POSTCOPY_END", [31] = "GET_INFLIGHT_FD", [32] = "SET_INFLIGHT_FD",
	[33] = "GPU_SET_SOCKET", [34] = "RESET_DEVICE", [35] = "VRING_KICK",
	[36] = "GET_MAX_MEM_SLOTS", [37] = "ADD_MEM_REG", [38] = "REM_MEM_REG",
	[39] = "SET_STATUS", [40] = "GET_STATUS",
};
#define NSPEC (sizeof(spec_name) / sizeof(spec_name[0]))

TEST(vu_table_rows_at_their_codes)
{
	for (uint32_t c = 0; c < NSPEC + 8; c++) {
		const struct vq__vu_req *q = vq__vu_req_lookup(c);

		if (c >= NSPEC || !spec_name[c]) {
			if (q)
				FAIL("request %u has a row (%s), the spec has none", c, q->name);
			continue;
		}
		if (!q)
			FAIL("request %u (%s) has no row", c, spec_name[c]);
		ASSERT_EQ(q->req, c);
		ASSERT_STR_EQ(q->name, spec_name[c]);
	}
	ASSERT_TRUE(vq__vu_req_lookup(UINT32_MAX) == NULL);
}

TEST(vu_table_rows_are_consistent)
{
	for (uint32_t c = 1; c < NSPEC; c++) {
		const struct vq__vu_req *q = vq__vu_req_lookup(c);

		ASSERT_TRUE(q != NULL);
		ASSERT_LE(q->min_size, q->max_size);
		ASSERT_LE(q->max_size, VQ_VU_MAX_PAYLOAD);
		ASSERT_LE(q->min_fds, q->max_fds);
		ASSERT_LE(q->max_fds, VQ_VU_MAX_FDS);
		if (q->pfeat & (q->pfeat - 1))
			FAIL("%s is gated by several protocol features 0x%llx", q->name,
			     (unsigned long long)q->pfeat);
		ASSERT_LT(q->pfeat, 1ull << 17); /* bits 0..16 are defined */
	}
}

/* Payload sizes and fd counts as the spec gives them in bytes. */
TEST(vu_table_sizes_are_the_specs)
{
	static const struct {
		uint32_t req;
		uint16_t min, max;
		uint8_t min_fds, max_fds;
		int pf; /* protocol feature bit, -1: none */
	} spec[] = {
		{ 2, 8, 8, 0, 0, -1 },          /* SET_FEATURES: u64 */
		{ 5, 8, 8 + 8 * 32, 0, 8, -1 }, /* SET_MEM_TABLE: count, padding, 8 regions */
		{ 8, 8, 8, 0, 0, -1 },          /* SET_VRING_NUM: vring state */
		{ 9, 40, 40, 0, 0, -1 },        /* SET_VRING_ADDR: vring address */
		{ 11, 8, 8, 0, 0, -1 },         /* GET_VRING_BASE */
		{ 12, 8, 8, 0, 1, -1 },         /* SET_VRING_KICK: u64 and an fd */
		{ 19, 8, 8, 0, 0, 2 },          /* SEND_RARP: RARP */
		{ 20, 8, 8, 0, 0, 4 },          /* NET_SET_MTU: MTU */
		{ 24, 12, 12 + 256, 0, 0, 9 },  /* GET_CONFIG: offset, size, flags, data */
		{ 31, 20, 24, 0, 0, 12 },       /* GET_INFLIGHT_FD: INFLIGHT_SHMFD */
		{ 34, 0, 0, 0, 0, 13 },         /* RESET_DEVICE */
		{ 35, 8, 8, 0, 0, 14 },         /* VRING_KICK: INBAND_NOTIFICATIONS */
		{ 37, 40, 40, 1, 1, 15 },       /* ADD_MEM_REG: padding, region, an fd */
		{ 39, 8, 8, 0, 0, 16 },         /* SET_STATUS: STATUS */
	};

	for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
		const struct vq__vu_req *q = vq__vu_req_lookup(spec[i].req);

		ASSERT_TRUE(q != NULL);
		ASSERT_EQ(q->min_size, spec[i].min);
		ASSERT_EQ(q->max_size, spec[i].max);
		ASSERT_EQ(q->min_fds, spec[i].min_fds);
		ASSERT_EQ(q->max_fds, spec[i].max_fds);
		ASSERT_EQ_U64(q->pfeat, spec[i].pf < 0 ? 0 : 1ull << spec[i].pf);
	}
}

TEST(vu_kick_tags_round_trip)
{
	for (unsigned i = 0; i < VQ_VU_MAX_QUEUES; i++) {
		ASSERT_TRUE(VQ_VU_TAG_IS_KICK(VQ_VU_TAG_KICK(i)));
		ASSERT_EQ(VQ_VU_TAG_QUEUE(VQ_VU_TAG_KICK(i)), i);
	}
	ASSERT_FALSE(VQ_VU_TAG_IS_KICK(VQ_VU_TAG_SOCKET));
	ASSERT_FALSE(VQ_VU_TAG_IS_KICK(VQ_VU_TAG_TIMER));
}
