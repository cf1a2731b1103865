/* SPDX-License-Identifier: MIT */
/*
 * Frontend connection: create/free, connect or accept, negotiate (features,
 * protocol features, queue number), share memory, start queues; notice a
 * backend that went away; stop queues; GET_CONFIG.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fe_internal.h"
#include "unix_sock.h"

/* Never asked for: the frontend does no IOMMU translation and no dirty log. */
#define FE_NEVER (VQ__VU_F_IOMMU_PLATFORM | VQ__VU_F_LOG_ALL)

void vq__fe_set_state(struct vq_fe *fe, enum vq_fe_state s, const char *why)
{
	if (fe->state == s)
		return;
	fe->state = s;
	if (fe->cfg.state_event)
		fe->cfg.state_event(fe->cfg.opaque, s, why ? why : "");
}

/* Tear the queues down, close the connection, report DISCONNECTED. */
void vq__fe_drop(struct vq_fe *fe, const char *why)
{
	vq__fe_queues_destroy(fe);
	if (fe->sock >= 0)
		close(fe->sock);
	fe->sock = -1;
	fe->features = fe->pfeatures = fe->queue_num = fe->mem_slots = 0;
	vq__fe_set_state(fe, VQ_FE_DISCONNECTED, why);
}

/* ---- creation */

static int check_config(const struct vq_fe_params *c)
{
	struct sockaddr_un sa;

	if (!c->path || strlen(c->path) >= sizeof(sa.sun_path))
		return -EINVAL;
	if (c->num_queues == 0 || c->num_queues > VQ_FE_MAX_QUEUES)
		return -EINVAL;
	if (c->mode != VQ_FE_CLIENT && c->mode != VQ_FE_SERVER)
		return -EINVAL;
	if (c->queue_size > VQ_MAX_QUEUE_SIZE || (c->queue_size & (c->queue_size - 1)))
		return -EINVAL;
	for (unsigned i = 0; c->queue_index && i < c->num_queues; i++) {
		if (c->queue_index[i] > VQ__VU_VRING_IDX_MASK)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (c->queue_index[j] == c->queue_index[i])
				return -EINVAL;
	}
	return 0;
}

static int listen_on(struct vq_fe *fe)
{
	fe->listen_fd = vq__unix_listen(fe->path, 0, 1);
	if (fe->listen_fd < 0)
		return fe->listen_fd;
	fe->created_path = true;
	return 0;
}

static int fe_init(struct vq_fe *fe, const struct vq_fe_params *cfg)
{
	int rc;

	fe->cfg = *cfg;
	fe->cfg.queue_index = NULL;
	if (!fe->cfg.queue_size)
		fe->cfg.queue_size = VQ__FE_DEFAULT_QSIZE;
	if (fe->cfg.indirect_tables && !fe->cfg.indirect_len)
		fe->cfg.indirect_len = 16;
	if (fe->cfg.max_chain > VQ_MAX_CHAIN)
		return -EINVAL;
	if (fe->cfg.timeout_ms <= 0)
		fe->cfg.timeout_ms = VQ__FE_DEFAULT_TIMEOUT_MS;
	if (!fe->cfg.protocol_features)
		fe->cfg.protocol_features = VQ_FE_PROTOCOL_F_DEFAULT;
	if (fe->cfg.mem_regions > VQ_FE_MAX_MEM_SLOTS)
		return -EINVAL;
	if (fe->cfg.mem_regions > VQ_VU_MEM_TABLE_REGIONS)
		fe->cfg.protocol_features |= VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS;
	fe->path = strdup(cfg->path);
	fe->q = calloc(cfg->num_queues, sizeof(*fe->q));
	if (!fe->path || !fe->q)
		return -ENOMEM;
	fe->cfg.path = fe->path;
	for (unsigned i = 0; i < cfg->num_queues; i++) {
		fe->q[i].kick_fd = fe->q[i].call_fd = -1;
		fe->q[i].vring = (uint16_t)(cfg->queue_index ? cfg->queue_index[i] : i);
	}
	for (unsigned i = 0; !cfg->manual && i < cfg->num_queues; i++)
		if ((rc = vq__fe_queue_fds(&fe->q[i])) < 0)
			return rc;
	if (!cfg->manual && (rc = vq__fe_mem_init(fe)) < 0)
		return rc;
	return cfg->mode == VQ_FE_SERVER ? listen_on(fe) : 0;
}

int vq_fe_new(const struct vq_fe_params *cfg, struct vq_fe **out)
{
	struct vq_fe *fe;
	int rc;

	if (!cfg || !out || check_config(cfg) < 0)
		return -EINVAL;
	fe = calloc(1, sizeof(*fe));
	if (!fe)
		return -ENOMEM;
	fe->sock = fe->listen_fd = fe->memfd = -1;
	if ((rc = fe_init(fe, cfg)) < 0) {
		vq_fe_free(fe);
		return rc;
	}
	*out = fe;
	return 0;
}

void vq_fe_free(struct vq_fe *fe)
{
	if (!fe)
		return;
	vq__fe_drop(fe, "frontend freed");
	for (unsigned i = 0; fe->q && i < fe->cfg.num_queues; i++) {
		if (fe->q[i].kick_fd >= 0)
			close(fe->q[i].kick_fd);
		if (fe->q[i].call_fd >= 0)
			close(fe->q[i].call_fd);
	}
	vq__fe_mem_fini(fe);
	if (fe->listen_fd >= 0)
		close(fe->listen_fd);
	if (fe->created_path)
		unlink(fe->path);
	free(fe->q);
	free(fe->path);
	free(fe);
}

/* ---- connecting */

static int open_conn(struct vq_fe *fe)
{
	struct pollfd p;
	int rc;

	if (fe->cfg.mode == VQ_FE_SERVER) {
		p = (struct pollfd){ .fd = fe->listen_fd, .events = POLLIN };
		rc = poll(&p, 1, fe->cfg.timeout_ms);
		if (rc <= 0)
			return vq__fe_fail(fe, rc < 0 ? -errno : -ETIMEDOUT,
					   "no backend connected to %s", fe->path);
		fe->sock = accept4(fe->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		return fe->sock < 0 ? vq__fe_fail(fe, -errno, "accept: %s", strerror(errno)) : 0;
	}
	fe->sock = vq__unix_connect(fe->path, 0);
	if (fe->sock < 0)
		return vq__fe_fail(fe, fe->sock, "connect %s: %s", fe->path, strerror(-fe->sock));
	return 0;
}

static int negotiate_protocol(struct vq_fe *fe)
{
	uint64_t pf;
	int rc;

	if ((rc = vq__fe_get_u64(fe, VQ__VU_GET_PROTOCOL_FEATURES, &pf)) < 0)
		return rc;
	pf &= fe->cfg.protocol_features;
	/* Sent before pfeatures is set: this message never asks for an ack. */
	if ((rc = vq__fe_request(fe, VQ__VU_SET_PROTOCOL_FEATURES, &pf, sizeof(pf), NULL, 0)) < 0)
		return rc;
	fe->pfeatures = pf;
	if ((pf & VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS) &&
	    (rc = vq__fe_get_u64(fe, VQ__VU_GET_MAX_MEM_SLOTS, &fe->mem_slots)) < 0)
		return rc;
	if ((pf & VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS) && fe->mem_slots == 0)
		return vq__fe_fail(fe, -EPROTO, "GET_MAX_MEM_SLOTS answered 0");
	if (!(pf & VQ_VU_PROTOCOL_F_MQ))
		return 0;
	if ((rc = vq__fe_get_u64(fe, VQ__VU_GET_QUEUE_NUM, &fe->queue_num)) < 0)
		return rc;
	if (fe->queue_num == 0 || fe->queue_num > 0x10000)
		return vq__fe_fail(fe, -EPROTO, "GET_QUEUE_NUM answered %llu",
				   (unsigned long long)fe->queue_num);
	return 0;
}

static int set_status(struct vq_fe *fe, uint64_t s)
{
	if (!(fe->pfeatures & VQ_VU_PROTOCOL_F_STATUS))
		return 0;
	return vq__fe_request(fe, VQ__VU_SET_STATUS, &s, sizeof(s), NULL, 0);
}

static int negotiate(struct vq_fe *fe)
{
	uint64_t want;
	int rc;

	if ((rc = vq__fe_get_u64(fe, VQ__VU_GET_FEATURES, &fe->offered)) < 0)
		return rc;
	want = fe->cfg.features & fe->offered & ~(FE_NEVER | VQ_VU_F_PROTOCOL_FEATURES);
	if (fe->cfg.required_features & ~want)
		return vq__fe_fail(fe, -EOPNOTSUPP, "backend lacks features 0x%llx",
				   (unsigned long long)(fe->cfg.required_features & ~want));
	if (fe->offered & VQ_VU_F_PROTOCOL_FEATURES) {
		want |= VQ_VU_F_PROTOCOL_FEATURES;
		if ((rc = negotiate_protocol(fe)) < 0)
			return rc;
	}
	if ((rc = vq__fe_request(fe, VQ__VU_SET_OWNER, NULL, 0, NULL, 0)) < 0 ||
	    (rc = vq__fe_request(fe, VQ__VU_SET_FEATURES, &want, sizeof(want), NULL, 0)) < 0)
		return rc;
	fe->features = want;
	return set_status(fe, VQ__FE_S_ACK | VQ__FE_S_DRIVER | VQ__FE_S_FEATURES_OK);
}

/* Open and negotiate; then, unless manual, the memory table, the queues and
 * DRIVER_OK.  >= 0 or -errno (the caller undoes what was done). */
static int bring_up(struct vq_fe *fe)
{
	int rc;

	if ((rc = open_conn(fe)) < 0 || (rc = negotiate(fe)) < 0 || fe->cfg.manual)
		return rc;
	if ((rc = vq__fe_send_mem_table(fe)) < 0 || (rc = vq__fe_queues_start(fe)) < 0)
		return rc;
	return set_status(fe, VQ__FE_S_ACK | VQ__FE_S_DRIVER | VQ__FE_S_FEATURES_OK |
				      VQ__FE_S_DRIVER_OK);
}

int vq_fe_connect(struct vq_fe *fe)
{
	bool manual = fe->cfg.manual;
	int rc;

	if (fe->state != VQ_FE_DISCONNECTED)
		return -EISCONN;
	fe->err[0] = '\0';
	rc = bring_up(fe);
	if (rc < 0) {
		if (!manual)
			vq__fe_queues_destroy(fe);
		if (fe->sock >= 0)
			close(fe->sock);
		fe->sock = -1;
		fe->features = fe->pfeatures = fe->queue_num = fe->mem_slots = 0;
		return rc;
	}
	fe->generation++;
	vq__fe_set_state(fe, VQ_FE_READY, "");
	for (unsigned i = 0; !manual && fe->cfg.queue_event && i < fe->cfg.num_queues; i++)
		fe->cfg.queue_event(fe->cfg.opaque, i, fe->q[i].drv, NULL);
	return 0;
}

enum vq_fe_state vq_fe_poll(struct vq_fe *fe)
{
	struct pollfd p = { .fd = fe->sock, .events = POLLIN | POLLRDHUP };
	char c;
	ssize_t n;

	if (fe->sock < 0 || poll(&p, 1, 0) <= 0)
		return fe->state;
	if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) {
		vq__fe_fail(fe, -ECONNRESET, "backend hung up");
		vq__fe_drop(fe, fe->err);
		return fe->state;
	}
	n = recv(fe->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return fe->state;
	if (n > 0)
		vq__fe_fail(fe, -EPROTO, "unsolicited message from the backend");
	else
		vq__fe_fail(fe, -ECONNRESET, "backend hung up");
	vq__fe_drop(fe, fe->err);
	return fe->state;
}

/* A failed exchange: a violation or a dead socket drops the connection. */
static int exchange_failed(struct vq_fe *fe, int rc)
{
	if (rc != -EREMOTEIO && rc != -EOPNOTSUPP && rc != -EINVAL)
		vq__fe_drop(fe, fe->err);
	return rc;
}

int vq_fe_stop(struct vq_fe *fe)
{
	int rc;

	if (fe->state != VQ_FE_READY)
		return -ENOTCONN;
	rc = vq__fe_queues_stop(fe);
	if (rc < 0)
		return exchange_failed(fe, rc);
	vq__fe_set_state(fe, VQ_FE_STOPPED, "stopped");
	return 0;
}

void vq_fe_disconnect(struct vq_fe *fe)
{
	vq__fe_drop(fe, "disconnect requested");
}

int vq_fe_get_config(struct vq_fe *fe, uint32_t off, void *buf, uint32_t len)
{
	struct {
		struct vq__vu_config h;
		uint8_t data[VQ_VU_MAX_CONFIG];
	} req, rep;
	uint32_t size = VQ__VU_CONFIG_HDR + len;
	int rc;

	if (fe->state == VQ_FE_DISCONNECTED)
		return -ENOTCONN;
	if (!(fe->pfeatures & VQ_VU_PROTOCOL_F_CONFIG))
		return -EOPNOTSUPP;
	if (len == 0 || len > VQ_VU_MAX_CONFIG || !buf)
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.h.offset = off;
	req.h.size = len;
	rc = vq__fe_query(fe, VQ__VU_GET_CONFIG, &req, size, &rep, size);
	if (rc == 0 && (rep.h.offset != off || rep.h.size != len))
		rc = vq__fe_fail(fe, -EPROTO, "GET_CONFIG reply for offset %u size %u, asked %u/%u",
				 rep.h.offset, rep.h.size, off, len);
	if (rc < 0)
		return exchange_failed(fe, rc);
	memcpy(buf, rep.data, len);
	return 0;
}

/* ---- getters */

enum vq_fe_state vq_fe_state(const struct vq_fe *fe) { return fe->state; }
const char *vq_fe_error(const struct vq_fe *fe) { return fe->err; }
uint32_t vq_fe_generation(const struct vq_fe *fe) { return fe->generation; }
uint64_t vq_fe_features(const struct vq_fe *fe) { return fe->features; }
uint64_t vq_fe_backend_features(const struct vq_fe *fe) { return fe->offered; }
uint64_t vq_fe_protocol_features(const struct vq_fe *fe) { return fe->pfeatures; }
unsigned vq_fe_max_mem_slots(const struct vq_fe *fe)
{
	return fe->mem_slots > VQ_FE_MAX_MEM_SLOTS ? VQ_FE_MAX_MEM_SLOTS : (unsigned)fe->mem_slots;
}
uint64_t vq_fe_backend_queue_num(const struct vq_fe *fe) { return fe->queue_num; }
