/* SPDX-License-Identifier: MIT */
/*
 * Frontend, manual mode: the caller (a proxy) owns memory and rings and
 * tells the backend where they are: SET_FEATURES, SET_MEM_TABLE with its
 * own fds and addresses, and ring start/stop at its own addresses.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fe_internal.h"

/* A violation or a dead socket drops the connection; a refusal keeps it. */
static int failed(struct vq_fe *fe, int rc)
{
	if (rc < 0 && rc != -EREMOTEIO && rc != -EOPNOTSUPP && rc != -EINVAL)
		vq__fe_drop(fe, fe->err);
	return rc;
}

static bool usable(const struct vq_fe *fe)
{
	return fe->cfg.manual && fe->state == VQ_FE_READY && fe->sock >= 0;
}

int vq_fe_set_features(struct vq_fe *fe, uint64_t features)
{
	uint64_t want = features & ~VQ_VU_F_PROTOCOL_FEATURES;
	int rc;

	if (!usable(fe))
		return -ENOTCONN;
	if (want & ~fe->offered)
		return -EINVAL;
	if (fe->offered & VQ_VU_F_PROTOCOL_FEATURES)
		want |= VQ_VU_F_PROTOCOL_FEATURES;
	rc = vq__fe_request(fe, VQ__VU_SET_FEATURES, &want, sizeof(want), NULL, 0);
	if (rc < 0)
		return failed(fe, rc);
	fe->features = want;
	return 0;
}

int vq_fe_set_status(struct vq_fe *fe, uint8_t status)
{
	uint64_t v = status;
	int rc;

	if (!usable(fe))
		return -ENOTCONN;
	if (!(fe->pfeatures & VQ_VU_PROTOCOL_F_STATUS))
		return 0;
	rc = vq__fe_request(fe, VQ__VU_SET_STATUS, &v, sizeof(v), NULL, 0);
	return rc < 0 ? failed(fe, rc) : 1;
}

/* A caller's region on the wire (guest and user address both r->addr). */
static int wire_region(const struct vq_fe_region *r, struct vq__vu_region *out)
{
	uint64_t end;

	if (r->fd < 0 || r->size == 0 || __builtin_add_overflow(r->addr, r->size - 1, &end) ||
	    __builtin_add_overflow(r->offset, r->size, &end))
		return -EINVAL;
	*out = (struct vq__vu_region){ .gpa = r->addr, .size = r->size, .uaddr = r->addr,
				       .mmap_offset = r->offset };
	return 0;
}

int vq_fe_set_mem_table(struct vq_fe *fe, const struct vq_fe_region *r, unsigned n)
{
	struct vq__vu_mem_table t;
	int fds[VQ_VU_MEM_TABLE_REGIONS];

	if (!usable(fe))
		return -ENOTCONN;
	if (n == 0 || n > VQ_VU_MEM_TABLE_REGIONS)
		return -EINVAL;
	memset(&t, 0, sizeof(t));
	t.nregions = n;
	for (unsigned i = 0; i < n; i++) {
		if (wire_region(&r[i], &t.regions[i]) < 0)
			return -EINVAL;
		fds[i] = r[i].fd;
	}
	return failed(fe, vq__fe_request(fe, VQ__VU_SET_MEM_TABLE, &t,
					 (uint32_t)(offsetof(struct vq__vu_mem_table, regions) +
						    n * sizeof(t.regions[0])), fds, n));
}

static int mem_reg(struct vq_fe *fe, uint32_t req, const struct vq_fe_region *r)
{
	struct vq__vu_mem_single m = { 0 };

	if (!usable(fe))
		return -ENOTCONN;
	if (!(fe->pfeatures & VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
		return -EOPNOTSUPP;
	if (wire_region(r, &m.region) < 0)
		return -EINVAL;
	return failed(fe, vq__fe_request(fe, req, &m, sizeof(m), &r->fd,
					 req == VQ__VU_ADD_MEM_REG ? 1 : 0));
}

int vq_fe_add_mem_reg(struct vq_fe *fe, const struct vq_fe_region *r)
{
	return mem_reg(fe, VQ__VU_ADD_MEM_REG, r);
}

int vq_fe_rem_mem_reg(struct vq_fe *fe, const struct vq_fe_region *r)
{
	return mem_reg(fe, VQ__VU_REM_MEM_REG, r);
}

static int enable(struct vq_fe *fe, uint16_t vring, bool on)
{
	struct vhost_vring_state st = { .index = vring, .num = on };

	if (!(fe->features & VQ_VU_F_PROTOCOL_FEATURES))
		return 0; /* rings start enabled */
	return vq__fe_request(fe, VQ__VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0);
}

static int announce(struct vq_fe *fe, struct vq__fe_queue *q, const struct vq_fe_ring *r)
{
	uint64_t file = q->vring;
	struct vhost_vring_state st = { .index = q->vring, .num = r->size };
	struct vhost_vring_addr a = {
		.index = q->vring, .desc_user_addr = r->desc, .used_user_addr = r->used,
		.avail_user_addr = r->avail,
	};
	int rc;

	if ((rc = vq__fe_request(fe, VQ__VU_SET_VRING_CALL, &file, sizeof(file), &q->call_fd, 1)) < 0 ||
	    (rc = vq__fe_request(fe, VQ__VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0)) < 0)
		return rc;
	st.num = r->base;
	if ((rc = vq__fe_request(fe, VQ__VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0)) < 0 ||
	    (rc = vq__fe_request(fe, VQ__VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0)) < 0 ||
	    (rc = vq__fe_request(fe, VQ__VU_SET_VRING_KICK, &file, sizeof(file), &q->kick_fd, 1)) < 0)
		return rc;
	return enable(fe, q->vring, true);
}

int vq_fe_ring_start(struct vq_fe *fe, unsigned i, const struct vq_fe_ring *r)
{
	struct vq__fe_queue *q;
	int rc;

	if (!usable(fe))
		return -ENOTCONN;
	if (i >= fe->cfg.num_queues || r->size == 0 || r->size > VQ_MAX_QUEUE_SIZE)
		return -EINVAL;
	q = &fe->q[i];
	if (q->kick_fd < 0 && (rc = vq__fe_queue_fds(q)) < 0)
		return rc;
	q->has_base = false;
	return failed(fe, announce(fe, q, r));
}

int vq_fe_ring_stop(struct vq_fe *fe, unsigned i, uint32_t *base)
{
	struct vhost_vring_state st, reply;
	int rc;

	if (!usable(fe))
		return -ENOTCONN;
	if (i >= fe->cfg.num_queues)
		return -EINVAL;
	st = (struct vhost_vring_state){ .index = fe->q[i].vring };
	if ((rc = enable(fe, fe->q[i].vring, false)) < 0 ||
	    (rc = vq__fe_query(fe, VQ__VU_GET_VRING_BASE, &st, sizeof(st), &reply,
			       sizeof(reply))) < 0)
		return failed(fe, rc);
	if (reply.index != fe->q[i].vring)
		return failed(fe, vq__fe_fail(fe, -EPROTO, "GET_VRING_BASE for vring %u "
					      "answered vring %u", fe->q[i].vring, reply.index));
	*base = reply.num;
	return 0;
}
