/* SPDX-License-Identifier: MIT */
/*
 * Frontend queues: create the driver side of each ring over zeroed shared
 * memory, tell the backend about it (CALL, NUM, BASE, ADDR, KICK, ENABLE),
 * stop it (GET_VRING_BASE, checked), and tear it down, handing in-flight
 * buffers back to their owner first.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fe_internal.h"

static bool packed(const struct vq_fe *fe)
{
	return fe->features & VQ_F_PACKED;
}

static int new_drv(struct vq_fe *fe, struct vq__fe_queue *q, struct vq_ring_layout *lay)
{
	enum vq_layout l = packed(fe) ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
	struct vq_drv_params dc;
	int rc;

	if ((rc = vq_ring_layout(l, fe->cfg.queue_size, lay)) < 0)
		return rc;
	memset(q->ring, 0, q->ring_len);
	memset(&dc, 0, sizeof(dc));
	dc.ring = (struct vq_ring_params){
		.layout = l, .size = fe->cfg.queue_size,
		.features = fe->features & VQ_RING_FEATURES,
		.desc = q->ring + lay->desc_off, .avail = q->ring + lay->avail_off,
		.used = q->ring + lay->used_off,
		/* the backend's max_chain is not on the wire: the caller's */
		.max_chain = (fe->features & VQ_F_LARGE_CHAIN) ? fe->cfg.max_chain : 0,
	};
	if (q->ind) {
		dc.indirect = q->ind;
		dc.indirect_gpa = (uint64_t)(uintptr_t)q->ind;
		dc.indirect_tables = fe->cfg.indirect_tables;
		dc.indirect_len = fe->cfg.indirect_len;
	}
	return vq_drv_new(&dc, &q->drv);
}

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
}

/* Tell the backend about queue q: CALL, NUM, BASE, ADDR, KICK. */
static int announce(struct vq_fe *fe, struct vq__fe_queue *q, const struct vq_ring_layout *lay)
{
	uint64_t file = q->vring;
	struct vhost_vring_state st = { .index = q->vring, .num = fe->cfg.queue_size };
	uint64_t base = (uint64_t)(uintptr_t)q->ring;
	struct vhost_vring_addr a = {
		.index = q->vring, .desc_user_addr = base + lay->desc_off,
		.used_user_addr = base + lay->used_off, .avail_user_addr = base + lay->avail_off,
	};
	int rc;

	drain(q->call_fd);
	drain(q->kick_fd);
	if ((rc = vq__fe_request(fe, VQ__VU_SET_VRING_CALL, &file, sizeof(file), &q->call_fd, 1)) < 0 ||
	    (rc = vq__fe_request(fe, VQ__VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0)) < 0)
		return rc;
	/* Packed: avail and used at slot 0 with wrap counters 1 (bits 15, 31). */
	st.num = packed(fe) ? 0x80008000u : 0;
	if ((rc = vq__fe_request(fe, VQ__VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0)) < 0 ||
	    (rc = vq__fe_request(fe, VQ__VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0)) < 0)
		return rc;
	return vq__fe_request(fe, VQ__VU_SET_VRING_KICK, &file, sizeof(file), &q->kick_fd, 1);
}

static int enable(struct vq_fe *fe, struct vq__fe_queue *q, bool on)
{
	struct vhost_vring_state st = { .index = q->vring, .num = on };

	if (!(fe->features & VQ_VU_F_PROTOCOL_FEATURES))
		return 0; /* rings start enabled */
	return vq__fe_request(fe, VQ__VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0);
}

int vq__fe_queues_start(struct vq_fe *fe)
{
	struct vq_ring_layout lay;
	int rc;

	for (unsigned i = 0; i < fe->cfg.num_queues; i++) {
		struct vq__fe_queue *q = &fe->q[i];

		if ((rc = new_drv(fe, q, &lay)) < 0)
			return vq__fe_fail(fe, rc, "queue %u: cannot create the ring", i);
		if ((rc = announce(fe, q, &lay)) < 0)
			return rc;
	}
	for (unsigned i = 0; i < fe->cfg.num_queues; i++)
		if ((rc = enable(fe, &fe->q[i], true)) < 0)
			return rc;
	return 0;
}

/* Hand every queue's buffers back (callback) and free the rings. */
void vq__fe_queues_destroy(struct vq_fe *fe)
{
	for (unsigned i = 0; i < fe->cfg.num_queues; i++) {
		struct vq__fe_queue *q = &fe->q[i];

		if (!q->drv)
			continue;
		if (fe->cfg.queue_event)
			fe->cfg.queue_event(fe->cfg.opaque, i, NULL, q->drv);
		while (vq_drv_detach(q->drv))
			; /* the owner did not take them: dropped */
		vq_drv_free(q->drv);
		q->drv = NULL;
	}
}

/* GET_VRING_BASE: the answer must name our queue and be a valid position. */
static int get_base(struct vq_fe *fe, struct vq__fe_queue *q)
{
	struct vhost_vring_state st = { .index = q->vring }, r;
	int rc = vq__fe_query(fe, VQ__VU_GET_VRING_BASE, &st, sizeof(st), &r, sizeof(r));

	if (rc < 0)
		return rc;
	if (r.index != q->vring)
		return vq__fe_fail(fe, -EPROTO, "GET_VRING_BASE for vring %u answered vring %u",
				   q->vring, r.index);
	if (!packed(fe) && r.num > 0xffff)
		return vq__fe_fail(fe, -EPROTO, "GET_VRING_BASE: split base 0x%x > 0xffff", r.num);
	if (packed(fe) && ((r.num & 0x7fff) >= fe->cfg.queue_size ||
			   ((r.num >> 16) & 0x7fff) >= fe->cfg.queue_size))
		return vq__fe_fail(fe, -EPROTO, "GET_VRING_BASE: packed base 0x%x out of range",
				   r.num);
	q->base = r.num;
	q->has_base = true;
	return 0;
}

int vq__fe_queues_stop(struct vq_fe *fe)
{
	int rc;

	for (unsigned i = 0; i < fe->cfg.num_queues; i++) {
		struct vq__fe_queue *q = &fe->q[i];

		q->has_base = false;
		if ((rc = enable(fe, q, false)) < 0 || (rc = get_base(fe, q)) < 0)
			return rc;
	}
	vq__fe_queues_destroy(fe);
	return 0;
}

/* ---- public */

unsigned vq_fe_num_queues(const struct vq_fe *fe)
{
	return fe->cfg.num_queues;
}

struct vq_drv *vq_fe_queue(const struct vq_fe *fe, unsigned i)
{
	return i < fe->cfg.num_queues ? fe->q[i].drv : NULL;
}

int vq_fe_broken_queue(const struct vq_fe *fe)
{
	for (unsigned i = 0; i < fe->cfg.num_queues; i++)
		if (fe->q[i].drv && vq_drv_is_broken(fe->q[i].drv))
			return (int)i;
	return -ENOENT;
}

bool vq_fe_queue_is_broken(const struct vq_fe *fe, unsigned i)
{
	return i < fe->cfg.num_queues && fe->q[i].drv && vq_drv_is_broken(fe->q[i].drv);
}

unsigned vq_fe_queue_vring(const struct vq_fe *fe, unsigned i)
{
	return i < fe->cfg.num_queues ? fe->q[i].vring : 0;
}

int vq_fe_kick(struct vq_fe *fe, unsigned i)
{
	uint64_t one = 1;

	if (i >= fe->cfg.num_queues)
		return -EINVAL;
	if (write(fe->q[i].kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno; /* EAGAIN: the counter is saturated, a kick is pending */
	return 0;
}

int vq_fe_fd(const struct vq_fe *fe)
{
	return fe->sock;
}

int vq_fe_call_fd(const struct vq_fe *fe, unsigned i)
{
	return i < fe->cfg.num_queues ? fe->q[i].call_fd : -1;
}

int vq_fe_wait(struct vq_fe *fe, unsigned i, int timeout_ms)
{
	struct pollfd p;
	int rc;

	if (i >= fe->cfg.num_queues)
		return -EINVAL;
	p = (struct pollfd){ .fd = fe->q[i].call_fd, .events = POLLIN };
	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	if (rc > 0)
		drain(p.fd);
	return rc > 0;
}

int vq_fe_queue_ring(const struct vq_fe *fe, unsigned i, struct vq_ring_params *out)
{
	enum vq_layout l = packed(fe) ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
	struct vq_ring_layout lay;
	const struct vq__fe_queue *q;

	if (i >= fe->cfg.num_queues || vq_ring_layout(l, fe->cfg.queue_size, &lay) < 0)
		return -EINVAL;
	q = &fe->q[i];
	*out = (struct vq_ring_params){
		.layout = l, .size = fe->cfg.queue_size, .features = fe->features & VQ_RING_FEATURES,
		.desc = q->ring + lay.desc_off, .avail = q->ring + lay.avail_off,
		.used = q->ring + lay.used_off,
	};
	return 0;
}

int vq_fe_queue_base(const struct vq_fe *fe, unsigned i, uint32_t *base)
{
	if (i >= fe->cfg.num_queues || !fe->q[i].has_base)
		return -ENOENT;
	*base = fe->q[i].base;
	return 0;
}

/* Event fds live as long as the frontend; the backend gets copies. */
int vq__fe_queue_fds(struct vq__fe_queue *q)
{
	q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return q->kick_fd < 0 || q->call_fd < 0 ? -errno : 0;
}
