/* SPDX-License-Identifier: MIT */
/* Internals of the vhost-user frontend.  Not installed. */
#ifndef VQ_FE_INTERNAL_H
#define VQ_FE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <virtq/frontend.h>

#include "vu_internal.h"

#define VQ__FE_DEFAULT_QSIZE 256u
#define VQ__FE_DEFAULT_TIMEOUT_MS 2000
#define VQ__FE_PAGE 4096u

/* virtio device status bits (SET_STATUS) */
#define VQ__FE_S_ACK 1u
#define VQ__FE_S_DRIVER 2u
#define VQ__FE_S_DRIVER_OK 4u
#define VQ__FE_S_FEATURES_OK 8u

struct vq__fe_queue {
	uint16_t vring;          /* index on the wire */
	struct vq_drv *drv;      /* NULL unless READY */
	uint8_t *ring;           /* ring block in shared memory */
	size_t ring_len;
	uint8_t *ind;            /* indirect pool in shared memory, or NULL */
	int kick_fd, call_fd;    /* ours; the backend gets copies */
	bool has_base;
	uint32_t base;           /* last GET_VRING_BASE answer */
};

struct vq_fe {
	struct vq_fe_params cfg;
	char *path;
	int sock, listen_fd;
	bool created_path;
	/* shared memory */
	int memfd;
	uint8_t *mem;
	size_t mem_len;
	size_t arena_off, arena_end, arena_pos;
	/* connection */
	enum vq_fe_state state;
	uint64_t offered, features, pfeatures, queue_num;
	uint64_t mem_slots; /* GET_MAX_MEM_SLOTS (CONFIGURE_MEM_SLOTS), else 0 */
	uint32_t generation;
	struct vq__fe_queue *q;
	char err[256];
};

/* fe_wire.c */
int vq__fe_fail(struct vq_fe *fe, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vq__fe_send(struct vq_fe *fe, uint32_t req, uint32_t flags, const void *payload,
		uint32_t size, const int *fds, unsigned nfds);
int vq__fe_recv(struct vq_fe *fe, uint32_t req, void *payload, uint32_t size);
int vq__fe_request(struct vq_fe *fe, uint32_t req, const void *payload, uint32_t size,
		   const int *fds, unsigned nfds);
int vq__fe_query(struct vq_fe *fe, uint32_t req, const void *payload, uint32_t size,
		 void *reply, uint32_t reply_size);
int vq__fe_get_u64(struct vq_fe *fe, uint32_t req, uint64_t *val);

/* fe_mem.c */
int vq__fe_mem_init(struct vq_fe *fe);
void vq__fe_mem_fini(struct vq_fe *fe);
int vq__fe_send_mem_table(struct vq_fe *fe);

/* fe_queue.c */
int vq__fe_queues_start(struct vq_fe *fe);
void vq__fe_queues_destroy(struct vq_fe *fe);
int vq__fe_queues_stop(struct vq_fe *fe);
int vq__fe_queue_fds(struct vq__fe_queue *q);

/* fe_conn.c */
void vq__fe_set_state(struct vq_fe *fe, enum vq_fe_state s, const char *why);
void vq__fe_drop(struct vq_fe *fe, const char *why);

#endif
