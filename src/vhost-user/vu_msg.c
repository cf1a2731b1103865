/* SPDX-License-Identifier: MIT */
/*
 * vhost-user message table, validation before dispatch, reply policy, and
 * the handlers for the device-wide messages.  Ring messages are in
 * vu_queue.c, memory messages in vu_mem.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "vu_internal.h"

#define PRE VQ__VU_PRE_OWNER
#define REP VQ__VU_HAS_REPLY
#define QS VQ__VU_QIDX_STATE
#define QF VQ__VU_QIDX_FILE

static int h_get_features(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_set_features(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_set_owner(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_reset(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_get_pfeatures(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_set_pfeatures(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_get_queue_num(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_send_rarp(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_set_mtu(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_get_config(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_set_config(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_get_max_slots(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_set_status(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);
static int h_get_status(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r);

/*
 * One row per request, at its request code: handler (none: rejected),
 * payload size range, fd count range, flags, and the protocol feature that
 * must be negotiated first.  Rejected requests still list the payload and
 * fds they may carry, so the error is the precise one.  A request listed
 * twice does not build (-Woverride-init); vq__vu_req_lookup checks that the
 * row found is the one asked for, and tests/unit/vu_table.c checks every
 * row against the protocol's numbering and sizes.
 */
#define ROW(id, ...) [VQ__VU_##id] = { .req = VQ__VU_##id, .name = #id, __VA_ARGS__ }
#define SIZE(lo, hi) .min_size = (lo), .max_size = (hi)
#define SIZEOF(t) SIZE(sizeof(t), sizeof(t))
#define FDS(lo, hi) .min_fds = (lo), .max_fds = (hi)
#define U64 uint64_t
#define STATE struct vhost_vring_state
#define INFLIGHT SIZE(offsetof(struct vq__vu_inflight, pad), sizeof(struct vq__vu_inflight))
#define CONFIG SIZE(VQ__VU_CONFIG_HDR, VQ__VU_CONFIG_HDR + VQ_VU_MAX_CONFIG)
#define MEM_SLOTS VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS
static const struct vq__vu_req reqs[VQ__VU_REQUEST_MAX] = {
	ROW(GET_FEATURES, .fn = h_get_features, .flags = PRE | REP),
	ROW(SET_FEATURES, .fn = h_set_features, SIZEOF(U64)),
	ROW(SET_OWNER, .fn = h_set_owner, .flags = PRE),
	ROW(RESET_OWNER, .fn = h_reset, .flags = PRE),
	ROW(SET_MEM_TABLE, .fn = vq__vu_h_set_mem_table,
	    SIZE(offsetof(struct vq__vu_mem_table, regions), sizeof(struct vq__vu_mem_table)),
	    FDS(0, VQ_VU_MAX_FDS)),
	ROW(SET_LOG_BASE, SIZE(sizeof(U64), sizeof(struct vq__vu_log)), FDS(0, 1),
	    .pfeat = VQ__VU_PF_LOG_SHMFD),
	ROW(SET_LOG_FD, SIZE(0, sizeof(U64)), FDS(0, 1)),
	ROW(SET_VRING_NUM, .fn = vq__vu_h_vring_num, SIZEOF(STATE), .flags = QS),
	ROW(SET_VRING_ADDR, .fn = vq__vu_h_vring_addr, SIZEOF(struct vhost_vring_addr), .flags = QS),
	ROW(SET_VRING_BASE, .fn = vq__vu_h_vring_base, SIZEOF(STATE), .flags = QS),
	ROW(GET_VRING_BASE, .fn = vq__vu_h_get_vring_base, SIZEOF(STATE), .flags = QS | REP),
	ROW(SET_VRING_KICK, .fn = vq__vu_h_vring_kick, SIZEOF(U64), FDS(0, 1), .flags = QF),
	ROW(SET_VRING_CALL, .fn = vq__vu_h_vring_call, SIZEOF(U64), FDS(0, 1), .flags = QF),
	ROW(SET_VRING_ERR, .fn = vq__vu_h_vring_err, SIZEOF(U64), FDS(0, 1), .flags = QF),
	ROW(GET_PROTOCOL_FEATURES, .fn = h_get_pfeatures, .flags = PRE | REP),
	ROW(SET_PROTOCOL_FEATURES, .fn = h_set_pfeatures, SIZEOF(U64), .flags = PRE),
	ROW(GET_QUEUE_NUM, .fn = h_get_queue_num, .flags = PRE | REP),
	ROW(SET_VRING_ENABLE, .fn = vq__vu_h_vring_enable, SIZEOF(STATE), .flags = QS),
	ROW(SEND_RARP, .fn = h_send_rarp, SIZEOF(U64), .pfeat = VQ_VU_PROTOCOL_F_RARP),
	ROW(NET_SET_MTU, .fn = h_set_mtu, SIZEOF(U64), .pfeat = VQ_VU_PROTOCOL_F_MTU),
	ROW(SET_BACKEND_REQ_FD, SIZE(0, sizeof(U64)), FDS(0, 1), .flags = PRE,
	    .pfeat = VQ__VU_PF_BACKEND_REQ),
	ROW(IOTLB_MSG, SIZE(0, VQ_VU_MAX_PAYLOAD), .flags = REP),
	ROW(SET_VRING_ENDIAN, SIZEOF(STATE), .pfeat = VQ__VU_PF_CROSS_ENDIAN),
	ROW(GET_CONFIG, .fn = h_get_config, CONFIG, .flags = PRE | REP,
	    .pfeat = VQ_VU_PROTOCOL_F_CONFIG),
	ROW(SET_CONFIG, .fn = h_set_config, CONFIG, .flags = PRE, .pfeat = VQ_VU_PROTOCOL_F_CONFIG),
	ROW(CREATE_CRYPTO_SESSION, SIZE(0, VQ_VU_MAX_PAYLOAD), .flags = REP,
	    .pfeat = VQ__VU_PF_CRYPTO_SESSION),
	ROW(CLOSE_CRYPTO_SESSION, SIZE(0, sizeof(U64)), .pfeat = VQ__VU_PF_CRYPTO_SESSION),
	ROW(POSTCOPY_ADVISE, SIZE(0, sizeof(U64)), .flags = REP, .pfeat = VQ__VU_PF_PAGEFAULT),
	ROW(POSTCOPY_LISTEN, SIZE(0, sizeof(U64)), .pfeat = VQ__VU_PF_PAGEFAULT),
	ROW(POSTCOPY_END, SIZE(0, sizeof(U64)), .flags = REP, .pfeat = VQ__VU_PF_PAGEFAULT),
	ROW(GET_INFLIGHT_FD, INFLIGHT, .flags = REP, .pfeat = VQ__VU_PF_INFLIGHT_SHMFD),
	ROW(SET_INFLIGHT_FD, INFLIGHT, FDS(0, 1), .pfeat = VQ__VU_PF_INFLIGHT_SHMFD),
	ROW(GPU_SET_SOCKET, SIZE(0, sizeof(U64)), FDS(0, 1)),
	ROW(RESET_DEVICE, .fn = h_reset, .pfeat = VQ_VU_PROTOCOL_F_RESET_DEVICE),
	ROW(VRING_KICK, SIZEOF(STATE), .pfeat = VQ__VU_PF_INBAND_NOTIFICATIONS),
	ROW(GET_MAX_MEM_SLOTS, .fn = h_get_max_slots, .flags = PRE | REP, .pfeat = MEM_SLOTS),
	ROW(ADD_MEM_REG, .fn = vq__vu_h_add_mem_reg, SIZEOF(struct vq__vu_mem_single), FDS(1, 1),
	    .pfeat = MEM_SLOTS),
	ROW(REM_MEM_REG, .fn = vq__vu_h_rem_mem_reg, SIZEOF(struct vq__vu_mem_single), FDS(0, 1),
	    .pfeat = MEM_SLOTS),
	ROW(SET_STATUS, .fn = h_set_status, SIZEOF(U64), .pfeat = VQ_VU_PROTOCOL_F_STATUS),
	ROW(GET_STATUS, .fn = h_get_status, .flags = PRE | REP, .pfeat = VQ_VU_PROTOCOL_F_STATUS),
};
#undef ROW
#undef SIZE
#undef SIZEOF
#undef FDS
#undef U64
#undef STATE
#undef INFLIGHT
#undef CONFIG
#undef MEM_SLOTS

const struct vq__vu_req *vq__vu_req_lookup(uint32_t request)
{
	if (request >= VQ__VU_REQUEST_MAX || !reqs[request].name || reqs[request].req != request)
		return NULL;
	return &reqs[request];
}

static int check_qidx(struct vq_vu_backend *b, const struct vq__vu_req *q,
		      const struct vq__vu_msg *m)
{
	uint64_t v = m->p.u64;
	uint32_t idx;

	if (q->flags & VQ__VU_QIDX_STATE) {
		idx = m->p.state.index;
	} else {
		if (v & ~(VQ__VU_VRING_IDX_MASK | VQ__VU_VRING_NOFD_MASK))
			return vq__vu_fail(b, -EINVAL, "unknown bits 0x%" PRIx64 " in payload", v);
		if ((v & VQ__VU_VRING_NOFD_MASK) && m->nfds)
			return vq__vu_fail(b, -EINVAL, "NOFD flag set but an fd was passed");
		if (!(v & VQ__VU_VRING_NOFD_MASK) && !m->nfds)
			return vq__vu_fail(b, -EINVAL, "no fd passed and NOFD flag clear");
		idx = (uint32_t)(v & VQ__VU_VRING_IDX_MASK);
	}
	if (idx >= b->nq)
		return vq__vu_fail(b, -ERANGE, "queue index %u out of range (%u queues)",
				   idx, b->nq);
	return 0;
}

static int validate(struct vq_vu_backend *b, const struct vq__vu_req *q,
		    const struct vq__vu_msg *m)
{
	uint32_t size = m->hdr.size;

	if (!q)
		return vq__vu_fail(b, -EOPNOTSUPP, "unknown request");
	if (size < q->min_size || size > q->max_size)
		return vq__vu_fail(b, -EBADMSG, "payload size %u, expected %u..%u", size,
				   q->min_size, q->max_size);
	if (m->nfds < q->min_fds || m->nfds > q->max_fds)
		return vq__vu_fail(b, -EBADF, "%u fds passed, expected %u..%u", m->nfds,
				   q->min_fds, q->max_fds);
	if (!b->owner && !(q->flags & VQ__VU_PRE_OWNER))
		return vq__vu_fail(b, -EPERM, "sent before SET_OWNER");
	if (q->pfeat && !(b->pfeatures & q->pfeat))
		return vq__vu_fail(b, -EOPNOTSUPP, "protocol feature %d not negotiated",
				   __builtin_ctzll(q->pfeat));
	if (!q->fn)
		return vq__vu_fail(b, -EOPNOTSUPP, "not supported by this backend");
	if (q->flags & (VQ__VU_QIDX_STATE | VQ__VU_QIDX_FILE))
		return check_qidx(b, q, m);
	return 0;
}

/*
 * Reply policy (see vhost_user.h): success -> the reply, or a zero ack when
 * need_reply; failure -> a zero-size reply for requests with a reply, a
 * non-zero ack when need_reply, else the connection is closed.
 */
static void finish(struct vq_vu_backend *b, const struct vq__vu_req *q,
		   const struct vq__vu_msg *m, struct vq__vu_reply *r, int rc)
{
	bool has_reply = q && (q->flags & VQ__VU_HAS_REPLY);
	bool need = m->hdr.flags & VQ__VU_FLAG_NEED_REPLY;
	const char *name = q ? q->name : "UNKNOWN";
	int src = 0;

	if (rc < 0) {
		vq__vu_log(b, VQ_VU_LOG_ERR, "%s (request %u) rejected: %s (%s)", name,
			   m->hdr.request, b->err[0] ? b->err : "failed", strerror(-rc));
		if (has_reply) {
			src = vq__vu_send(b, m->hdr.request, NULL, 0);
		} else if (need) {
			r->p.u64 = (uint64_t)-rc;
			src = vq__vu_send(b, m->hdr.request, &r->p, sizeof(r->p.u64));
		} else {
			b->broken = true;
			return;
		}
	} else if (has_reply) {
		src = vq__vu_send(b, m->hdr.request, &r->p, r->size);
	} else if (need) {
		r->p.u64 = 0;
		src = vq__vu_send(b, m->hdr.request, &r->p, sizeof(r->p.u64));
	}
	if (src < 0) {
		vq__vu_log(b, VQ_VU_LOG_ERR, "%s: reply not sent: %s", name, b->err);
		b->broken = true;
	}
}

/* Read and handle one message; violations end the connection here. */
int vq__vu_handle_msg(struct vq_vu_backend *b)
{
	struct vq__vu_msg m;
	struct vq__vu_reply r;
	const struct vq__vu_req *q;
	int rc;

	b->err[0] = '\0';
	rc = vq__vu_recv(b, &m);
	if (rc == -EAGAIN)
		return 0;
	if (rc <= 0) {
		if (rc < 0)
			vq__vu_log(b, VQ_VU_LOG_ERR, "bad message: %s", b->err);
		vq__vu_drop(b, rc == 0 ? "frontend closed the connection" : "protocol violation");
		return 0;
	}
	q = vq__vu_req_lookup(m.hdr.request);
	vq__vu_log(b, VQ_VU_LOG_DEBUG, "%s (request %u) size %u fds %u flags 0x%x",
		   q ? q->name : "UNKNOWN", m.hdr.request, m.hdr.size, m.nfds, m.hdr.flags);
	r.size = 0;
	r.p.u64 = 0;
	rc = validate(b, q, &m);
	if (rc == 0)
		rc = q->fn(b, &m, &r);
	vq__vu_close_fds(&m);
	finish(b, q, &m, &r, rc);
	if (b->broken)
		vq__vu_drop(b, "protocol violation");
	return 0;
}

/* ---- device-wide handlers */

static int reply_u64(struct vq__vu_reply *r, uint64_t v)
{
	r->p.u64 = v;
	r->size = sizeof(r->p.u64);
	return 0;
}

static int h_get_features(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	return reply_u64(r, b->offer_features);
}

static int h_set_features(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	uint64_t v = m->p.u64;
	int rc;

	if (v & ~b->offer_features)
		return vq__vu_fail(b, -EINVAL, "features 0x%" PRIx64 " not offered (offered 0x%"
				   PRIx64 ")", v & ~b->offer_features, b->offer_features);
	for (unsigned i = 0; i < b->nq && v != b->features; i++)
		if (b->queues[i].started)
			return vq__vu_fail(b, -EBUSY, "features changed while queue %u runs", i);
	if (b->cfg.ops->set_features) {
		rc = b->cfg.ops->set_features(b->cfg.dev, v);
		if (rc < 0)
			return vq__vu_fail(b, rc, "device refused features 0x%" PRIx64, v);
	}
	b->features = v;
	return 0;
}

static int h_set_owner(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	/* QEMU sends one SET_OWNER per vhost_dev: once per net queue pair. */
	b->owner = true;
	return 0;
}

void vq__vu_reset_device(struct vq_vu_backend *b)
{
	for (unsigned i = 0; i < b->nq; i++)
		vq__vu_queue_reset(b, &b->queues[i]);
	b->status = 0;
	if (b->cfg.ops->reset)
		b->cfg.ops->reset(b->cfg.dev);
}

/* RESET_OWNER (deprecated: we just disable the rings) and RESET_DEVICE. */
static int h_reset(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	vq__vu_reset_device(b);
	return 0;
}

static int h_get_pfeatures(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	return reply_u64(r, b->offer_pfeatures);
}

static int h_set_pfeatures(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	uint64_t v = m->p.u64;

	if (v & ~b->offer_pfeatures)
		return vq__vu_fail(b, -EINVAL, "protocol features 0x%" PRIx64 " not offered",
				   v & ~b->offer_pfeatures);
	b->pfeatures = v;
	return 0;
}

static int h_get_queue_num(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	return reply_u64(r, b->cfg.queue_num ? b->cfg.queue_num : b->nq);
}

static int h_send_rarp(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	uint8_t mac[6];
	int rc;

	memcpy(mac, m->p.raw, sizeof(mac));
	rc = b->cfg.ops->send_rarp(b->cfg.dev, mac);
	return rc < 0 ? vq__vu_fail(b, rc, "device failed to send the RARP") : 0;
}

static int h_set_mtu(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	uint64_t mtu = m->p.u64;
	int rc;

	if (mtu < 68 || mtu > 65535)
		return vq__vu_fail(b, -EINVAL, "MTU %" PRIu64 " outside 68..65535", mtu);
	rc = b->cfg.ops->set_mtu(b->cfg.dev, (uint16_t)mtu);
	return rc < 0 ? vq__vu_fail(b, rc, "device refused MTU %" PRIu64, mtu) : 0;
}

static int check_config(struct vq_vu_backend *b, const struct vq__vu_msg *m)
{
	const struct vq__vu_config *c = &m->p.config;
	uint32_t end;

	if (c->size > VQ_VU_MAX_CONFIG)
		return vq__vu_fail(b, -EINVAL, "config size %u > %u", c->size, VQ_VU_MAX_CONFIG);
	if (m->hdr.size != VQ__VU_CONFIG_HDR + c->size)
		return vq__vu_fail(b, -EBADMSG, "config size %u but payload %u", c->size,
				   m->hdr.size);
	if (__builtin_add_overflow(c->offset, c->size, &end))
		return vq__vu_fail(b, -EOVERFLOW, "config offset %u + size %u overflows",
				   c->offset, c->size);
	return 0;
}

static int h_get_config(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	const struct vq__vu_config *c = &m->p.config;
	int rc = check_config(b, m);

	if (rc < 0)
		return rc;
	r->p.config = *c;
	rc = b->cfg.ops->get_config(b->cfg.dev, c->offset, r->p.config.data, c->size);
	if (rc < 0)
		return vq__vu_fail(b, rc, "device refused config read %u+%u", c->offset,
				   c->size);
	r->size = VQ__VU_CONFIG_HDR + c->size;
	return 0;
}

static int h_set_config(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	const struct vq__vu_config *c = &m->p.config;
	int rc = check_config(b, m);

	if (rc < 0)
		return rc;
	if (c->flags > 1)
		return vq__vu_fail(b, -EINVAL, "config flags 0x%x", c->flags);
	if (!b->cfg.ops->set_config)
		return vq__vu_fail(b, -EOPNOTSUPP, "config space is read-only");
	rc = b->cfg.ops->set_config(b->cfg.dev, c->offset, c->data, c->size, c->flags);
	if (rc < 0)
		return vq__vu_fail(b, rc, "device refused config write %u+%u", c->offset,
				   c->size);
	return 0;
}

static int h_get_max_slots(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	return reply_u64(r, b->max_slots);
}

static int h_set_status(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	uint64_t v = m->p.u64;
	int rc;

	if (v > 0xff)
		return vq__vu_fail(b, -EINVAL, "status 0x%" PRIx64 " > 0xff", v);
	if (b->cfg.ops->set_status) {
		rc = b->cfg.ops->set_status(b->cfg.dev, (uint8_t)v);
		if (rc < 0)
			return vq__vu_fail(b, rc, "device refused status 0x%" PRIx64, v);
	}
	b->status = (uint8_t)v;
	return 0;
}

static int h_get_status(struct vq_vu_backend *b, struct vq__vu_msg *m, struct vq__vu_reply *r)
{
	return reply_u64(r, b->status);
}
