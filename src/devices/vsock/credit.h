/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock credit arithmetic (VIRTIO 1.2 5.10.6.3), the same on both
 * ends of a stream: the device model (vsock_internal.h) and the driver
 * (drv_internal.h).  Counters are free-running u32 and wrap by design.
 * Not installed.
 */
#ifndef VQ_VSOCK_CREDIT_H
#define VQ_VSOCK_CREDIT_H

#include <stdbool.h>
#include <stdint.h>

/* Bytes the peer can still take: its buf_alloc less what is in flight
 * (tx_cnt - peer_fwd_cnt); 0 when the peer over-reported fwd_cnt. */
static inline uint32_t vq__vs_credit_room(uint32_t peer_buf_alloc, uint32_t peer_fwd_cnt,
					  uint32_t tx_cnt)
{
	uint32_t inflight = tx_cnt - peer_fwd_cnt;

	return inflight > peer_buf_alloc ? 0 : peer_buf_alloc - inflight;
}

/* A CREDIT_UPDATE is due: bytes were freed (fwd_cnt) that the peer was not
 * told of (fwd_told), and the room the peer believes it has is below half
 * of buf_alloc. */
static inline bool vq__vs_credit_update_due(uint32_t buf_alloc, uint32_t rx_cnt,
					    uint32_t fwd_cnt, uint32_t fwd_told)
{
	uint32_t used = rx_cnt - fwd_told;

	if (used > buf_alloc)
		used = buf_alloc;
	return fwd_cnt != fwd_told && buf_alloc - used < buf_alloc / 2;
}

#endif
