/* SPDX-License-Identifier: MIT */
/*
 * vsock device model internals.  Files:
 *   parse.c  header parser and encoder (pure)
 *   vsock.c  the object, the ops table, the process loop, queues
 *   tx.c     packets from the driver: the connection state machine
 *   rx.c     packets to the driver: control replies and host data
 *   host.c   the host side: Unix sockets, the CONNECT handshake
 *   conn.c   the connection table
 */
#ifndef VQ_VSOCK_INTERNAL_H
#define VQ_VSOCK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <virtq/vsock.h>

#include "devices/device_host.h"
#include "devices/iov.h"
#include "credit.h"

#define VS_IOV_MAX     260u  /* segments of one chain we accept */
#define VS_RST_QUEUE   64u   /* RSTs for unknown connections awaiting rx */
#define VS_MSGS_MAX    64u   /* seqpacket messages waiting for the host peer */
#define VS_HASH        256u  /* connection hash buckets */
#define VS_BUDGET      256u  /* chains per queue per vq_vsock_process */
#define VS_LOG_LINES   64u   /* driver-fault log lines before counting only */
#define VS_FIRST_HPORT 1024u /* host ports for host -> guest connections */

/* Control packets a connection owes the driver (bits of vs_conn.pend). */
enum {
	VS_P_REQUEST = 1u << 0,
	VS_P_RESPONSE = 1u << 1,
	VS_P_CREDIT_UPDATE = 1u << 2,
	VS_P_CREDIT_REQUEST = 1u << 3,
	VS_P_SHUTDOWN = 1u << 4,
	VS_P_RST = 1u << 5,
};

enum vs_state {
	VS_HANDSHAKE,   /* host -> guest: reading "CONNECT <port>\n" */
	VS_CONNECTING,  /* host -> guest: REQUEST sent, awaiting RESPONSE */
	VS_ESTABLISHED,
	VS_CLOSING,     /* guest sent SHUTDOWN both ways: draining to the host */
	VS_DEAD,        /* owes the driver an RST, then goes */
};

struct vs_conn {
	struct vs_conn *hnext;          /* hash chain (guest port, host port) */
	struct vs_conn *rnext;          /* rx work list */
	struct vs_conn *anext;          /* list of all connections */
	struct vs_conn *znext;          /* reap list (dead, freed after process) */
	bool in_rx, hashed, reaped;
	uint8_t state;
	uint16_t type;                  /* VIRTIO_VSOCK_TYPE_* */
	uint32_t gport, hport;
	int fd;
	uint32_t pend;                  /* VS_P_* */
	uint32_t shut_flags;            /* for VS_P_SHUTDOWN */

	/* driver -> host */
	uint32_t buf_alloc;             /* what we advertise */
	uint32_t rx_cnt;                /* payload bytes taken from the driver */
	uint32_t fwd_cnt;               /* of which handed to the host socket */
	uint32_t fwd_told;              /* fwd_cnt last sent to the driver */
	uint8_t *buf;                   /* bytes the host socket refused */
	uint32_t buf_head, buf_used;    /* ring (stream) or linear (seqpacket) */
	uint32_t msg_len[VS_MSGS_MAX];  /* seqpacket: complete messages in buf */
	uint32_t msg_head, msg_n;
	uint32_t msg_open;              /* bytes of the unfinished message */
	uint32_t msg_flags;             /* EOR seen in the unfinished message */
	bool guest_shut_send, guest_shut_rcv;
	bool host_writable, host_shut_wr;

	/* host -> driver */
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	uint32_t tx_cnt;                /* payload bytes given to the driver */
	bool host_readable, host_eof;
	bool credit_asked;
	uint8_t *rec;                   /* seqpacket: one host record */
	uint32_t rec_len, rec_off;
	bool rec_eor;

	char line[24];                  /* VS_HANDSHAKE */
	uint8_t line_len;
};

struct vs_rst {
	struct vq_vsock_pkt pkt;        /* the offending packet */
};

struct vq_vsock {
	struct vq_device_host host;     /* first: vq__device_attach */
	struct vq_vsock_params p;
	char *uds;                      /* owned copy of p.uds_path */
	uint64_t features;
	bool seqpacket;
	struct vq_dev *q[VQ_VSOCK_NUM_QUEUES];
	bool enabled[VQ_VSOCK_NUM_QUEUES];
	bool dirty[VQ_VSOCK_NUM_QUEUES]; /* pushed since the last flush */
	bool tx_broken, rx_broken;
	bool session;                   /* a queue started since the last reset */
	bool evt_pending;               /* TRANSPORT_RESET owed */
	bool evt_wait_said;             /* logged that it waits for an event buffer */
	int epfd, lfd, lfd_seq;         /* listeners: "<uds>", "<uds>_seqpacket" */

	struct vs_conn *hash[VS_HASH];
	struct vs_conn *all;
	struct vs_conn *rx_head, *rx_tail;
	struct vs_conn *zombies;
	unsigned nconns;
	uint32_t next_hport;

	struct vs_rst rst[VS_RST_QUEUE];
	unsigned rst_head, rst_n;

	/* a tx chain held back while a connection cannot take it */
	bool parked;
	struct vq_elem park;
	struct iovec park_iov[VS_IOV_MAX];

	/* an rx buffer popped and not filled yet */
	bool rx_have;
	struct vq_elem rx_elem;
	struct iovec rx_iov[VS_IOV_MAX];

	struct iovec iov[VS_IOV_MAX];   /* scratch: payload slices */
	unsigned log_lines;
	struct vq_vsock_stats st;
};

/* vsock.c */
void vq__vs_log(struct vq_vsock *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vq__vs_fault(struct vq_vsock *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vq__vs_queue_broken(struct vq_vsock *v, unsigned idx);

/* conn.c */
struct vs_conn *vq__vs_find(struct vq_vsock *v, uint32_t gport, uint32_t hport);
struct vs_conn *vq__vs_conn_new(struct vq_vsock *v, uint32_t gport, uint32_t hport,
				uint16_t type, int fd, bool hashed);
void vq__vs_conn_free(struct vq_vsock *v, struct vs_conn *c);
void vq__vs_rehash(struct vq_vsock *v, struct vs_conn *c, uint32_t gport, uint32_t hport);
void vq__vs_kill(struct vq_vsock *v, struct vs_conn *c, bool rst);
void vq__vs_want_rx(struct vq_vsock *v, struct vs_conn *c);
void vq__vs_close_all(struct vq_vsock *v);
void vq__vs_reap(struct vq_vsock *v);
uint32_t vq__vs_peer_credit(const struct vs_conn *c);
int vq__vs_rst_queue(struct vq_vsock *v, const struct vq_vsock_pkt *pkt);

/* tx.c */
int vq__vs_tx(struct vq_vsock *v);
int vq__vs_tx_chain(struct vq_vsock *v, struct vq_elem *e);

/* rx.c */
int vq__vs_rx(struct vq_vsock *v);
int vq__vs_event(struct vq_vsock *v);
/* A TRANSPORT_RESET waits for an event buffer: rx and tx wait behind it. */
bool vq__vs_event_is_owed(const struct vq_vsock *v);

/* host.c */
int vq__vs_listen(struct vq_vsock *v);
void vq__vs_unlisten(struct vq_vsock *v); /* close both, unlink their files */
int vq__vs_host_connect(struct vq_vsock *v, uint32_t port, uint16_t type, int *fd);
int vq__vs_host_events(struct vq_vsock *v);
int vq__vs_host_watch(struct vq_vsock *v, struct vs_conn *c);
int vq__vs_flush_buf(struct vq_vsock *v, struct vs_conn *c);
int vq__vs_host_write(struct vq_vsock *v, struct vs_conn *c, const struct iovec *iov,
		      unsigned n, uint32_t len, bool eom);
void vq__vs_established(struct vq_vsock *v, struct vs_conn *c);

#endif /* VQ_VSOCK_INTERNAL_H */
