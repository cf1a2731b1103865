/* SPDX-License-Identifier: MIT */
/*
 * virtq-svq proxy: a vhost-user device model (struct vq_device_ops) whose
 * queues are relayed through shadow virtqueues to a real vhost-user
 * backend, which sees a memory layout of IOVAs: the guest's regions (its
 * own fds, at IOVAs of struct vq_iova) and one memfd arena holding the
 * shadow rings and indirect tables.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include "../common/tool.h"
#include "sp.h"

/* The device status the backend is told once a ring runs. */
#define SP_STATUS_RUNNING                                                       \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | \
	 VIRTIO_CONFIG_S_DRIVER_OK)

/* Ring features the shadow virtqueues handle on either side. */
#define SP_RING_OK (VQ_F_INDIRECT | VQ_F_EVENT_IDX | VQ_F_VERSION_1 | VQ_F_PACKED)
/* Transport bits (24..40): only SP_RING_OK passes; device bits pass as offered. */
#define SP_TRANSPORT_BITS (((1ull << 41) - 1) & ~((1ull << 24) - 1))

/* ---- the arena: page-granular first fit (a few blocks per queue) */

static void *arena_alloc(void *ctx, size_t bytes, size_t align)
{
	struct sp *s = ctx;
	size_t n = (bytes + SP_PAGE - 1) / SP_PAGE, step = align > SP_PAGE ? align / SP_PAGE : 1;

	for (size_t i = 0; n && i + n <= SP_ARENA_PAGES; i += step) {
		size_t j = 0;

		while (j < n && !s->page_used[i + j])
			j++;
		if (j < n)
			continue;
		memset(&s->page_used[i], 1, n);
		return s->arena + i * SP_PAGE;
	}
	return NULL;
}

static void arena_release(void *ctx, void *p, size_t bytes)
{
	struct sp *s = ctx;
	size_t i = (size_t)((uint8_t *)p - s->arena) / SP_PAGE;

	memset(&s->page_used[i], 0, (bytes + SP_PAGE - 1) / SP_PAGE);
}

static int arena_init(struct sp *s)
{
	size_t len = (size_t)SP_ARENA_PAGES * SP_PAGE;

	s->memfd = memfd_create("virtq-svq", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->memfd < 0)
		return -errno;
	if (ftruncate(s->memfd, (off_t)len) < 0 ||
	    fcntl(s->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	s->arena = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (s->arena == MAP_FAILED) {
		s->arena = NULL;
		return -errno;
	}
	return 0;
}

/* ---- the backend's memory table */

/* fd and offset of host memory [hva, hva + len): the arena or a guest region. */
static int region_fd(struct sp *s, const void *hva, uint64_t len, uint64_t *off)
{
	const uint8_t *p = hva;
	size_t alen = (size_t)SP_ARENA_PAGES * SP_PAGE;

	if (p >= s->arena && len <= alen && (size_t)(p - s->arena) <= alen - len) {
		*off = (uint64_t)(p - s->arena);
		return s->memfd;
	}
	return vq_vu_mem_fd(s->b, hva, len, off);
}

/* Same region, same mapping, same file. */
static bool sent_is(const struct sp_sent *a, const struct sp_sent *b)
{
	return a->r.addr == b->r.addr && a->r.size == b->r.size && a->r.offset == b->r.offset &&
	       a->hva == b->hva && a->dev == b->dev && a->ino == b->ino;
}

/* ADD_MEM_REG / REM_MEM_REG what changed since the last table (removals
 * first: their slots may be needed).  The backend's rings are stopped
 * while a region goes away: the frontend's memory changes pause them. */
static int mem_sync(struct sp *s, const struct sp_sent *want, unsigned n)
{
	unsigned k = 0;
	int rc;

	if (n > vq_fe_max_mem_slots(s->fe))
		return -ENOSPC;
	for (unsigned j = 0; j < s->nsent; j++) {
		bool keep = false;

		for (unsigned i = 0; i < n && !keep; i++)
			keep = sent_is(&s->sent[j], &want[i]);
		if (!keep && (rc = vq_fe_rem_mem_reg(s->fe, &s->sent[j].r)) < 0)
			return rc;
		if (keep)
			s->sent[k++] = s->sent[j];
	}
	s->nsent = k;
	for (unsigned i = 0; i < n; i++) {
		bool have = false;

		for (unsigned j = 0; j < s->nsent && !have; j++)
			have = sent_is(&s->sent[j], &want[i]);
		if (have)
			continue;
		if ((rc = vq_fe_add_mem_reg(s->fe, &want[i].r)) < 0)
			return rc;
		s->sent[s->nsent++] = want[i];
	}
	return 0;
}

/* Region i of the backend's view, extending the last of out[] when merge
 * and it continues it (the same file, contiguous in IOVAs, host and offset:
 * the arena's blocks, allocated in order, mostly do).  Only a whole table
 * is merged: one region per block when they come and go one by one, so
 * that a queue's new block never replaces a region another queue runs in.
 * Returns the count. */
static int view_add(struct sp *s, const struct vq_mem_region *m, struct sp_sent *out, int n,
		    bool merge)
{
	struct sp_sent e = { .r = { .addr = m->gpa, .size = m->size }, .hva = m->hva };
	struct sp_sent *l = n ? &out[n - 1] : NULL;
	struct stat st;

	e.r.fd = region_fd(s, m->hva, m->size, &e.r.offset);
	if (e.r.fd < 0)
		return e.r.fd;
	if (fstat(e.r.fd, &st) < 0)
		return -errno;
	e.dev = st.st_dev;
	e.ino = st.st_ino;
	if (merge && l && l->dev == e.dev && l->ino == e.ino && l->r.addr + l->r.size == e.r.addr &&
	    l->r.offset + l->r.size == e.r.offset &&
	    (const uint8_t *)l->hva + l->r.size == (const uint8_t *)e.hva) {
		l->r.size += e.r.size;
		return n;
	}
	if (n == (int)SP_MAX_REGIONS)
		return -ENOSPC;
	out[n] = e;
	return n + 1;
}

/* Make the IOVA maps follow the guest's map, and send the backend its view:
 * ADD/REM_MEM_REG when it has memory slots, else one SET_MEM_TABLE. */
static int send_mem_table(struct sp *s)
{
	const struct vq_mem *gm = vq_vu_mem(s->b);
	struct sp_sent v[SP_MAX_REGIONS];
	struct vq_fe_region r[VQ_VU_MEM_TABLE_REGIONS];
	struct vq_mem_region m;
	bool slots = vq_fe_max_mem_slots(s->fe) > 0;
	int n = 0, rc;

	if (!gm)
		return -EFAULT;
	if ((rc = vq_iova_sync_guest(s->iova, gm)) < 0 ||
	    (rc = vq_iova_to_mem(s->iova, s->devmem)) < 0)
		return rc;
	for (unsigned i = 0; i < vq_mem_count(s->devmem); i++)
		if ((rc = vq_mem_region_at(s->devmem, i, &m)) < 0 ||
		    (n = view_add(s, &m, v, n, !slots)) < 0)
			return rc < 0 ? rc : n;
	if (slots)
		return mem_sync(s, v, (unsigned)n);
	if (n > (int)VQ_VU_MEM_TABLE_REGIONS)
		return -ENOSPC;
	for (int i = 0; i < n; i++)
		r[i] = v[i].r;
	return vq_fe_set_mem_table(s->fe, r, (unsigned)n);
}

/* ---- queues */

/* Relay queue idx (the frontend started it): a shadow ring, the backend's
 * memory table, the backend's ring. */
static int shadow_open(struct sp *s, unsigned idx)
{
	struct vq_dev *gd = vq_vu_queue_dev(s->q[idx].vq);
	struct vq_svq_params p = {
		.guest = { .size = gd ? vq_dev_size(gd) : 0 },
		.guest_dev = gd, .guest_mem = vq_vu_mem(s->b), .iova = s->iova,
		.dev_layout = (s->dev_features & VQ_F_PACKED) ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT,
		.dev_features = s->dev_features & VQ_RING_FEATURES,
		.alloc = arena_alloc, .release = arena_release, .alloc_ctx = s,
		.giveback_status = s->giveback_status, .coalesce = s->coalesce,
	};
	struct vq_svq_ring ring;
	struct vq_fe_ring fr;
	int rc;

	if (!gd || !p.guest_mem)
		return -EINVAL;
	/* Guest maps first: the shadow ring's IOVAs come after them. */
	if ((rc = vq_iova_sync_guest(s->iova, p.guest_mem)) < 0 ||
	    (rc = vq_svq_new(&p, &s->q[idx].svq)) < 0)
		return rc;
	vq_svq_device_ring(s->q[idx].svq, &ring);
	fr = (struct vq_fe_ring){
		.layout = ring.layout, .size = ring.size,
		.base = ring.layout == VQ_LAYOUT_PACKED ? 0x80008000u : 0,
		.desc = ring.desc, .avail = ring.avail, .used = ring.used,
	};
	if ((rc = send_mem_table(s)) < 0 || (rc = vq_fe_ring_start(s->fe, idx, &fr)) < 0) {
		vq_svq_free(s->q[idx].svq);
		s->q[idx].svq = NULL;
		return rc;
	}
	s->q[idx].ev = (struct vq_svq_events){ 0 };
	s->fds_changed = true; /* the backend's call fd */
	/* A backend with the STATUS protocol feature (DPDK's vhost) serves no
	 * ring before DRIVER_OK; sent with each ring (a backend re-checks its
	 * rings then).  A refusal leaves the ring started: said, not fatal. */
	if (vq_fe_set_status(s->fe, SP_STATUS_RUNNING) < 0)
		vqt_log(VQT_LOG_WARN, "queue %u: backend refused DRIVER_OK: %s", idx,
			vq_fe_error(s->fe));
	return 0;
}

static int queue_open(struct sp *s, unsigned idx, struct vq_vu_queue *vq)
{
	s->q[idx].vq = vq;
	s->q[idx].reported = false;
	if (!s->backend_up)
		return 0; /* relayed once the backend is back (sp_backend_retry) */
	return shadow_open(s, idx);
}

/*
 * Signal the guest's call (or err) eventfd.  The proxy is one thread, so no
 * watchdog can wake it from a write that blocks because the frontend filled
 * the counter (and cleared O_NONBLOCK on the shared file): SIGALRM (main.c's
 * handler, no SA_RESTART) cuts such a write short with EINTR.  A write to
 * an eventfd with room never sleeps, so only a full counter (which a
 * frontend that reads its eventfd never reaches) is cut, and the timer need
 * not be exact: it ticks every SP_SIGNAL_MS while guests are signalled and
 * stops itself after ten ticks without one (sp_on_alarm).  So a signal
 * costs its write, not two setitimer calls more; a tick that finds no such
 * write makes at most a poll return early (the library's system calls
 * retry on EINTR).  Returns vq_vu_queue_signal's value, -EINTR when cut.
 */
static volatile sig_atomic_t signals; /* guest signals so far, modulo 2^14 */
static volatile sig_atomic_t alarm_armed; /* the timer ticks */

void sp_on_alarm(void)
{
	static sig_atomic_t seen, idle;
	struct itimerval off = { 0 };
	int saved = errno;

	if (signals != seen) {
		seen = signals;
		idle = 0;
	} else if (++idle >= 10) {
		/* Not between a signal's count and its check of armed:
		 * that count would differ from seen. */
		(void)setitimer(ITIMER_REAL, &off, NULL);
		alarm_armed = 0;
		idle = 0;
	}
	errno = saved;
}

static int signal_bounded(struct vq_vu_queue *vq, bool err)
{
	/* Counted first: a tick that comes now sees the count change and
	 * keeps the timer; one that came before cleared armed already. */
	signals = (signals + 1) & 0x3fff;
	if (!alarm_armed) {
		struct itimerval t = {
			.it_interval = { .tv_usec = SP_SIGNAL_MS * 1000 },
			.it_value = { .tv_usec = SP_SIGNAL_MS * 1000 },
		};

		alarm_armed = 1;
		(void)setitimer(ITIMER_REAL, &t, NULL);
	}
	return err ? vq_vu_queue_signal_error(vq) : vq_vu_queue_signal(vq);
}

/* Signal queue idx's guest; a frontend that blocks it is dropped. */
static void notify_guest(struct sp *s, unsigned idx, bool err)
{
	if (signal_bounded(s->q[idx].vq, err) != -EINTR)
		return;
	vqt_log(VQT_LOG_ERR, "queue %u: writing the %s eventfd blocked (the frontend filled "
		"its counter): disconnecting it", idx, err ? "err" : "call");
	vq_vu_disconnect(s->b);
	s->fds_changed = true;
}

/* Once per queue: say which side broke it, and tell a broken guest. */
static void report(struct sp *s, unsigned idx)
{
	struct sp_queue *q = &s->q[idx];
	bool guest = vq_svq_guest_is_broken(q->svq);

	if (q->reported || (!guest && !vq_svq_device_is_broken(q->svq)))
		return;
	q->reported = true;
	vqt_log(VQT_LOG_ERR, "queue %u: %s", idx, vq_svq_error(q->svq));
	if (guest)
		notify_guest(s, idx, true);
}

/* Take the backend's call: one read empties the eventfd's counter. */
static void call_drain(struct sp *s, unsigned idx)
{
	uint64_t v;

	s->st.reads++;
	(void)!read(vq_fe_call_fd(s->fe, idx), &v, sizeof(v));
}

void sp_relay(struct sp *s, unsigned idx)
{
	struct sp_queue *q = &s->q[idx];
	int rc;

	if (!q->svq)
		return;
	s->st.relays++;
	rc = vq_svq_relay(q->svq, &q->ev);
	s->returned += rc > 0 ? (unsigned)rc : 0;
	/* Moderated: buffers may wait unsignalled; come back by then.  (now_ns
	 * is the last wait's end, a little early: the bound only tightens.) */
	q->due_ns = q->ev.moderated ? s->now_ns + (uint64_t)s->coalesce_us * 1000u : 0;
	report(s, idx);
}

bool sp_flush(struct sp *s)
{
	bool again = false;

	for (unsigned i = 0; i < s->nq; i++) {
		struct sp_queue *q = &s->q[i];
		struct vq_svq_events ev = q->ev;

		q->ev = (struct vq_svq_events){ 0 };
		q->again = false;
		if (!q->svq) /* a report or a blocked signal dropped the frontend */
			continue;
		if (ev.kick_device) {
			s->st.kicks++;
			(void)vq_fe_kick(s->fe, i);
		}
		if (ev.notify_guest) {
			s->st.calls++;
			notify_guest(s, i, false);
		}
		q->again = ev.more && q->svq;
		again |= q->again;
	}
	return again;
}

/* Before the backend's ring stops: let it finish what it holds while it
 * makes progress, for at most SP_DRAIN_MS (a receive queue's buffers wait
 * for frames that may not come: 10 ms without a call ends the wait). */
static void drain(struct sp *s, unsigned idx, struct vq_svq_events *ev)
{
	struct sp_queue *q = &s->q[idx];
	struct pollfd p = { .fd = vq_fe_call_fd(s->fe, idx), .events = POLLIN };
	int rc = vq_svq_relay_used(q->svq, ev);

	s->returned += rc > 0 ? (unsigned)rc : 0;
	for (unsigned ms = 0; rc >= 0 && vq_svq_inflight(q->svq) && ms < SP_DRAIN_MS; ms += 10) {
		if (ev->kick_device) {
			ev->kick_device = false;
			(void)vq_fe_kick(s->fe, idx);
		}
		rc = poll(&p, 1, 10);
		if (rc < 0 && errno == EINTR)
			continue; /* a tick of the guest-signal timer */
		if (rc <= 0)
			break;
		call_drain(s, idx);
		rc = vq_svq_relay_used(q->svq, ev);
		s->returned += rc > 0 ? (unsigned)rc : 0;
	}
}

/*
 * Stop relaying queue idx.  With stop_backend, the backend finishes what it
 * can (drain) and stops its ring (GET_VRING_BASE); then, or when it is gone,
 * every buffer it still held goes back to the guest used with length 0, so
 * that the frontend loses no descriptor.  The shadow ring is dropped.
 */
static void shadow_close(struct sp *s, unsigned idx, bool stop_backend)
{
	struct sp_queue *q = &s->q[idx];
	struct vq_svq_events ev = { 0 };
	uint32_t base;
	int n;

	vq_svq_set_paused(q->svq, true);
	if (stop_backend) {
		drain(s, idx, &ev);
		if (vq_fe_ring_stop(s->fe, idx, &base) < 0)
			vqt_log(VQT_LOG_WARN, "queue %u: backend stop failed: %s", idx,
				vq_fe_error(s->fe));
		else if ((n = vq_svq_relay_used(q->svq, &ev)) > 0)
			s->returned += (unsigned)n;
	}
	n = vq_svq_cancel(q->svq, &ev);
	if (n > 0) {
		s->given_back += (unsigned)n;
		vqt_log(VQT_LOG_INFO, "queue %u: %d buffers the backend held went back to the "
			"guest unused (length 0)", idx, n);
	}
	if (ev.notify_guest)
		(void)signal_bounded(q->vq, false); /* a blocked one is cut short */
	if (vq_svq_dropped(q->svq))
		vqt_log(VQT_LOG_WARN, "queue %u: %llu buffers went back to the guest unforwarded",
			idx, (unsigned long long)vq_svq_dropped(q->svq));
	vq_svq_free(q->svq);
	q->svq = NULL;
	q->ev = (struct vq_svq_events){ 0 };
	q->due_ns = 0;
	s->fds_changed = true;
}

/* The frontend stops queue idx (GET_VRING_BASE, reset, its disconnect). */
static void queue_close(struct sp *s, unsigned idx)
{
	if (s->q[idx].svq)
		shadow_close(s, idx, s->backend_up);
	s->q[idx].vq = NULL;
}

/* ---- the device model the frontend sees */

static uint64_t op_get_features(void *dev)
{
	return ((struct sp *)dev)->offered;
}

/* The guest's device bits, and its ring bits for the shadow ring too
 * (but the ring layout --backend-layout asks for, when the backend has it). */
static int op_set_features(void *dev, uint64_t f)
{
	struct sp *s = dev;
	uint64_t offer = s->backend_offer; /* also while the backend is away */
	uint64_t want = f & offer & ~VQ_VU_F_PROTOCOL_FEATURES;
	int rc;

	if (s->backend_layout == SP_LAYOUT_SPLIT)
		want &= ~VQ_F_PACKED;
	else if (s->backend_layout == SP_LAYOUT_PACKED)
		want |= offer & VQ_F_PACKED;

	s->want_features = want;
	if (want == s->dev_features)
		return 0;
	rc = vq_fe_set_features(s->fe, want);
	if (rc < 0) {
		vqt_log(VQT_LOG_ERR, "backend refused features 0x%llx: %s",
			(unsigned long long)want, vq_fe_error(s->fe));
		return rc;
	}
	s->dev_features = want;
	return 0;
}

static int op_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	return vq_fe_get_config(((struct sp *)dev)->fe, off, buf, len);
}

static unsigned op_num_queues(void *dev)
{
	return ((struct sp *)dev)->nq;
}

static int op_queue_start(void *dev, unsigned idx, struct vq_dev *q)
{
	return 0; /* the shadow ring is made in hook_started, with the vu queue */
}

static void op_queue_stop(void *dev, unsigned idx)
{
	queue_close(dev, idx);
}

static int hook_started(void *hook, unsigned idx, struct vq_vu_queue *q)
{
	struct sp *s = hook;
	int rc = queue_open(s, idx, q);

	if (rc < 0) {
		vqt_log(VQT_LOG_ERR, "queue %u: cannot relay: %s%s%s", idx, strerror(-rc),
			vq_fe_error(s->fe)[0] ? ": " : "", vq_fe_error(s->fe));
		return rc;
	}
	return 1; /* main.c polls the kick fd */
}

static const struct vq_device_ops sp_ops = {
	.name = "svq",
	.get_features = op_get_features,
	.set_features = op_set_features,
	.get_config = op_get_config,
	.num_queues = op_num_queues,
	.queue_start = op_queue_start,
	.queue_stop = op_queue_stop,
};

static const struct vq_vu_serve_hooks sp_hooks = {
	.queue_started = hook_started,
};

/* ---- setup */

/* Connect to the backend and learn what the frontend will be offered. */
int sp_init(struct sp *s, const char *backend)
{
	struct vq_fe_params fp = {
		.path = backend, .mode = VQ_FE_CLIENT, .num_queues = VQ_FE_MAX_QUEUES,
		.manual = true,
		/* Until the guest's own SET_FEATURES: a modern device (a legacy
		 * ack makes libvhost-user's backends give up). */
		.features = VQ_F_VERSION_1,
		/* With it, the backend's view may hold more than one
		 * SET_MEM_TABLE's 8 regions (ADD_MEM_REG). */
		.protocol_features = VQ_FE_PROTOCOL_F_DEFAULT | VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS,
	};
	struct vq_iova_params ip = { .base = 1ull << 20, .size = 1ull << 46 };
	uint64_t offered;
	int rc;

	memset(s, 0, sizeof(*s));
	s->memfd = -1;
	if ((rc = arena_init(s)) < 0 || (rc = vq_iova_new(&ip, &s->iova)) < 0 ||
	    (rc = vq_mem_new(&s->devmem)) < 0 || (rc = vq_fe_new(&fp, &s->fe)) < 0)
		return rc;
	if ((rc = vq_fe_connect(s->fe)) < 0) {
		vqt_log(VQT_LOG_ERR, "backend %s: %s", backend, vq_fe_error(s->fe));
		return rc;
	}
	offered = vq_fe_backend_features(s->fe);
	s->backend_up = true;
	s->backend_offer = offered;
	s->dev_features = vq_fe_features(s->fe) & ~VQ_VU_F_PROTOCOL_FEATURES;
	s->offered = offered & ~SP_TRANSPORT_BITS & ~VQ_F_LARGE_CHAIN;
	s->offered |= offered & SP_RING_OK;
	/* GET_QUEUE_NUM counts queue pairs for net and queues for blk, and
	 * the device type is not on the wire: accept rings up to a net
	 * device's (pairs and a control queue), answer the backend's number. */
	s->queue_num = vq_fe_backend_queue_num(s->fe);
	s->nq = s->queue_num > (VQ_VU_MAX_QUEUES - 1) / 2 ? VQ_VU_MAX_QUEUES
							 : 2 * (unsigned)s->queue_num + 1;
	if (s->queue_num == 0)
		s->nq = 3;
	vqt_log(VQT_LOG_INFO, "backend %s: features 0x%llx, %u queues", backend,
		(unsigned long long)offered, s->nq);
	return 0;
}

int sp_serve(struct sp *s, const char *socket)
{
	struct vq_vu_serve_params p = {
		.name = "svq", .mode = VQ_VU_SERVER, .path = socket, .listen_fd = -1,
		.device = { .ops = &sp_ops, .dev = s },
		.protocol_features = VQ_VU_PROTOCOL_F_MQ | VQ_VU_PROTOCOL_F_REPLY_ACK |
				     VQ_VU_PROTOCOL_F_CONFIG | VQ_VU_PROTOCOL_F_RESET_DEVICE |
				     VQ_VU_PROTOCOL_F_STATUS |
				     VQ_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS,
		.queue_num = s->queue_num, .hooks = &sp_hooks, .hook = s,
	};
	unsigned slots = vq_fe_max_mem_slots(s->fe);

	/* The frontend's regions, and room for the shadow rings (a ring
	 * and an indirect pool per queue; without memory slots, merged into
	 * a few regions when the arena's blocks line up). */
	slots = slots > SP_MAX_REGIONS ? SP_MAX_REGIONS : slots;
	p.max_mem_slots = slots > 2 * s->nq + VQ_VU_MEM_TABLE_REGIONS ? slots - 2 * s->nq
								     : VQ_VU_MEM_TABLE_REGIONS - 2;

	if (!(vq_fe_protocol_features(s->fe) & VQ_VU_PROTOCOL_F_CONFIG))
		p.protocol_features &= ~VQ_VU_PROTOCOL_F_CONFIG;
	return vq_vu_serve(&p, &s->b);
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

void sp_backend_lost(struct sp *s)
{
	unsigned kept = 0;

	s->backend_up = false;
	s->fds_changed = true;
	for (unsigned i = 0; i < s->nq; i++) {
		if (s->q[i].svq)
			shadow_close(s, i, false);
		kept += s->q[i].vq != NULL;
	}
	s->next_retry_ns = now_ns();
	vqt_log(VQT_LOG_INFO, "the frontend stays (%u started queues); connecting to the "
		"backend again every %u ms", kept, SP_RETRY_MS);
}

/* The backend is back: its features as the frontend asked, then every ring
 * the frontend runs relayed again from where the guest ring stands (a
 * frontend that cannot be relayed any more is dropped). */
static void backend_resume(struct sp *s)
{
	unsigned n = 0;
	int rc;

	if (s->want_features && s->want_features != s->dev_features) {
		if (vq_fe_set_features(s->fe, s->want_features) < 0) {
			vqt_log(VQT_LOG_ERR, "backend refused features 0x%llx after reconnecting: "
				"%s; dropping the frontend",
				(unsigned long long)s->want_features, vq_fe_error(s->fe));
			vq_vu_disconnect(s->b);
			s->fds_changed = true;
			return;
		}
		s->dev_features = s->want_features;
	}
	for (unsigned i = 0; i < s->nq; i++) {
		if (!s->q[i].vq || s->q[i].svq)
			continue;
		if ((rc = shadow_open(s, i)) < 0) {
			vqt_log(VQT_LOG_ERR, "queue %u: cannot relay after reconnecting: %s; "
				"dropping the frontend", i, strerror(-rc));
			vq_vu_disconnect(s->b);
			s->fds_changed = true;
			return;
		}
		sp_relay(s, i); /* what the guest queued meanwhile */
		n++;
	}
	sp_flush(s);
	vqt_log(VQT_LOG_INFO, "backend reconnected: relaying %u queues of the same frontend", n);
}

int sp_backend_retry(struct sp *s)
{
	uint64_t now = now_ns();

	if (now < s->next_retry_ns)
		return 0;
	s->next_retry_ns = now + SP_RETRY_MS * 1000000ull;
	s->fds_changed = true;
	if (vq_fe_connect(s->fe) < 0)
		return 0;
	if (vq_fe_backend_features(s->fe) != s->backend_offer) {
		vqt_log(VQT_LOG_ERR, "backend came back offering 0x%llx, not 0x%llx",
			(unsigned long long)vq_fe_backend_features(s->fe),
			(unsigned long long)s->backend_offer);
		return -ECONNRESET;
	}
	s->dev_features = vq_fe_features(s->fe) & ~VQ_VU_F_PROTOCOL_FEATURES;
	s->backend_up = true;
	s->nsent = 0; /* a new backend has no memory yet */
	backend_resume(s);
	return 1;
}

/* x per buffer returned (0 before any). */
static double per_buffer(const struct sp *s, double x)
{
	return s->returned ? x / (double)s->returned : 0.0;
}

void sp_log_totals(const struct sp *s)
{
	const struct sp_stats *st = &s->st;
	uint64_t sys = st->polls + st->reads + st->kicks + st->calls;
	struct rusage ru;
	double user, kern;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return;
	user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	kern = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	vqt_log(VQT_LOG_INFO, "totals: returned %llu buffers to the guest (and %llu unused "
		"at stops); cpu %.3f s (user %.3f sys %.3f), %.0f ns per buffer",
		(unsigned long long)s->returned, (unsigned long long)s->given_back, user + kern,
		user, kern, per_buffer(s, (user + kern) * 1e9));
	/* The data path's system calls: poll, eventfd reads and writes. */
	vqt_log(VQT_LOG_INFO, "per buffer: %.3f wakeups, %.3f system calls (polls %llu, "
		"wakeups %llu, relays %llu, reads %llu, kicks %llu, calls %llu, timer relays %llu)",
		per_buffer(s, (double)st->wakeups), per_buffer(s, (double)sys),
		(unsigned long long)st->polls, (unsigned long long)st->wakeups,
		(unsigned long long)st->relays, (unsigned long long)st->reads,
		(unsigned long long)st->kicks, (unsigned long long)st->calls,
		(unsigned long long)st->timer);
}

void sp_fini(struct sp *s)
{
	vq_vu_backend_free(s->b);
	vq_fe_free(s->fe);
	vq_mem_free(s->devmem);
	vq_iova_free(s->iova);
	if (s->arena)
		munmap(s->arena, (size_t)SP_ARENA_PAGES * SP_PAGE);
	if (s->memfd >= 0)
		close(s->memfd);
}
