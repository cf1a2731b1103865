/* SPDX-License-Identifier: MIT */
/* Internals of the virtio-net driver (net_drv.h).  Not installed. */
#ifndef VQ_NETDRV_INTERNAL_H
#define VQ_NETDRV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <virtq/net.h>
#include <virtq/net_drv.h>

#include "devices/iov.h"

#define VQ__NETDRV_TXBUF_DEFAULT 2048u
#define VQ__NETDRV_CTRL_MAX 64u
#define VQ__NETDRV_TOKEN(i) ((void *)(uintptr_t)((i) + 1u))
#define VQ__NETDRV_INDEX(t) ((uint32_t)((uintptr_t)(t) - 1u))

/* A frame being reassembled (may span rx bursts). */
struct vq__netdrv_frame {
	bool active;
	uint32_t need;      /* buffers still to come */
	uint32_t held0;     /* its first entry in held[] */
	uint32_t iov0;      /* its first entry in iov[] */
	uint64_t bytes;     /* header + frame bytes so far */
	struct virtio_net_hdr_v1 hdr;
};

struct vq__netdrv_rxq {
	struct vq_drv *vq;
	uint8_t *mem;
	uint64_t addr;
	uint32_t nbufs, nsegs, seg_bytes, buf_bytes;
	uint32_t *free;
	uint32_t nfree;
	uint32_t posted;    /* buffers the device holds */
	uint32_t *held;     /* buffers taken from the ring, not yet recycled */
	uint32_t nheld;
	struct iovec *iov;  /* views of held buffers */
	uint32_t niov, iov_cap;
	uint32_t out;       /* frames handed out by the last burst */
	struct vq__netdrv_frame fr;
	struct vq_seg *segs; /* [nsegs] scratch for posting */
};

struct vq__netdrv_txq {
	struct vq_drv *vq;
	uint8_t *mem;
	uint64_t addr;
	uint32_t nbufs, buf_bytes;
	uint32_t *free;
	uint32_t nfree;
	uint32_t *next;     /* next buffer of the same frame, or UINT32_MAX */
	uint32_t inflight;  /* frames */
	struct vq_seg *segs;
	uint32_t max_segs;
};

struct vq__netdrv_ctrlq {
	struct vq_drv *vq;
	uint8_t *mem;       /* command, then the ack byte */
	uint64_t addr;
};

struct vq_netdrv {
	struct vq_netdrv_params p;
	enum vq_netdrv_rxmode mode;
	uint32_t hdr_size;
	bool mrg;
	struct vq__netdrv_rxq *rx;
	struct vq__netdrv_txq *tx;
	struct vq__netdrv_ctrlq ctrl;
	struct vq_netdrv_stats *st;
	bool *broken;       /* [2*pairs+1] */
	char err[200];
};

int vq__netdrv_fail(struct vq_netdrv *nd, unsigned vq_index, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* drv_rx.c */
int vq__netdrv_rx_post(struct vq_netdrv *nd, unsigned qp);
void vq__netdrv_rx_detach(struct vq_netdrv *nd, unsigned qp);
/* drv_tx.c */
void vq__netdrv_tx_detach(struct vq_netdrv *nd, unsigned qp);

#endif
