/* SPDX-License-Identifier: MIT */
/*
 * vu_client: the vhost-user wire format written from the spec (QEMU
 * docs/interop/vhost-user.rst), independent of src/vhost-user/, for tests
 * and tools that play a peer - well-behaved or hostile - over a real unix
 * socket: tools/virtq-hostile (frontend and backend roles) builds on it.
 *
 * Every function returns >= 0 on success and -errno on failure; nothing here
 * asserts, so a caller decides what a failure means.  Messages go out in
 * one sendmsg (header + payload + SCM_RIGHTS fds); received fds are handed
 * to the caller, who closes them.
 */
#ifndef VQ_VU_CLIENT_H
#define VQ_VU_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Requests (frontend -> backend). */
enum {
	VUC_GET_FEATURES = 1, VUC_SET_FEATURES = 2, VUC_SET_OWNER = 3, VUC_RESET_OWNER = 4,
	VUC_SET_MEM_TABLE = 5, VUC_SET_LOG_BASE = 6, VUC_SET_LOG_FD = 7,
	VUC_SET_VRING_NUM = 8, VUC_SET_VRING_ADDR = 9, VUC_SET_VRING_BASE = 10,
	VUC_GET_VRING_BASE = 11, VUC_SET_VRING_KICK = 12, VUC_SET_VRING_CALL = 13,
	VUC_SET_VRING_ERR = 14, VUC_GET_PROTOCOL_FEATURES = 15,
	VUC_SET_PROTOCOL_FEATURES = 16, VUC_GET_QUEUE_NUM = 17, VUC_SET_VRING_ENABLE = 18,
	VUC_SEND_RARP = 19, VUC_NET_SET_MTU = 20, VUC_GET_CONFIG = 24, VUC_SET_CONFIG = 25,
	VUC_RESET_DEVICE = 34, VUC_GET_MAX_MEM_SLOTS = 36, VUC_ADD_MEM_REG = 37,
	VUC_REM_MEM_REG = 38, VUC_SET_STATUS = 39, VUC_GET_STATUS = 40,
};

#define VUC_V1         0x1u
#define VUC_REPLY      0x4u
#define VUC_NEED_REPLY 0x8u
#define VUC_NOFD       (1ull << 8)
#define VUC_F_PROTOCOL_FEATURES (1ull << 30)
#define VUC_PF_MQ        (1ull << 0)
#define VUC_PF_REPLY_ACK (1ull << 3)
#define VUC_PF_CONFIG    (1ull << 9)
#define VUC_PF_STATUS    (1ull << 16)
#define VUC_MAX_PAYLOAD  4096u
#define VUC_MAX_FDS      16u

struct vuc_hdr { uint32_t req, flags, size; };
struct vuc_state { uint32_t index, num; };
struct vuc_addr { uint32_t index, flags; uint64_t desc, used, avail, log; };
struct vuc_region { uint64_t gpa, size, uaddr, off; };
struct vuc_memtab { uint32_t n, pad; struct vuc_region r[8]; };
struct vuc_config { uint32_t off, size, flags; uint8_t data[256]; };

/* A received message: payload in p (up to VUC_MAX_PAYLOAD), fds owned by
 * the caller (vuc_msg_close_fds). */
struct vuc_msg {
	struct vuc_hdr h;
	union {
		uint8_t p[VUC_MAX_PAYLOAD];
		uint64_t u64;
		struct vuc_state st;
		struct vuc_addr addr;
		struct vuc_memtab mt;
		struct vuc_config cfg;
	};
	int fds[VUC_MAX_FDS];
	unsigned nfds;
};

/* Connect to a listening unix socket, retrying ENOENT/ECONNREFUSED for up
 * to timeout_ms.  The fd, or -errno. */
int vuc_connect(const char *path, int timeout_ms);
/* Listen on path (replacing a stale socket file).  The fd, or -errno. */
int vuc_listen(const char *path);
/* accept(2) with a bound.  The fd, -ETIMEDOUT, or -errno. */
int vuc_accept(int lfd, int timeout_ms);

/* One message: header {req, flags, size}, size payload bytes, nfds fds. */
int vuc_send(int fd, uint32_t req, uint32_t flags, const void *p, uint32_t size,
	     const int *fds, unsigned nfds);
/* Raw bytes (for short/garbled messages); optional fds attached. */
int vuc_send_raw(int fd, const void *p, size_t n, const int *fds, unsigned nfds);

/* Receive one message within timeout_ms.  0 on success; -ECONNRESET when
 * the peer closed (EOF), -ETIMEDOUT, -EPROTO (payload > max), -errno. */
int vuc_recv(int fd, struct vuc_msg *m, int timeout_ms);
void vuc_msg_close_fds(struct vuc_msg *m);

/* Reply (frontend side): wait for the reply to req; 0 with m filled, or
 * -EPROTO when it is not a v1 REPLY to req, -ECONNRESET, -ETIMEDOUT. */
int vuc_reply(int fd, uint32_t req, struct vuc_msg *m, int timeout_ms);
/* GET_* returning a u64. */
int vuc_get_u64(int fd, uint32_t req, uint64_t *v);
/* Send with NEED_REPLY and wait for the ack: 0 and *ack (0 = success). */
int vuc_ack(int fd, uint32_t req, const void *p, uint32_t size, const int *fds,
	    unsigned nfds, uint64_t *ack);
/* True when the peer closed the connection within timeout_ms. */
bool vuc_closed(int fd, int timeout_ms);

/* Open fds of this process (for leak checks). */
int vuc_count_fds(void);

#endif /* VQ_VU_CLIENT_H */
