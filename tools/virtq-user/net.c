/* SPDX-License-Identifier: MIT */
/*
 * virtq-user net: a virtio-net driver over vhost-user (frontend.h +
 * net_drv.h).  tx generates frames, rx counts (and with --verify checks)
 * them, echo sends every received frame back with the MACs swapped.  One
 * thread drives every queue pair and the control channel; a backend that
 * goes away is waited for and the run resumes when it comes back.
 *
 * Frame layout (after the 14-byte Ethernet header, EtherType 0x88b5):
 *   "VQU1" magic, u16 queue pair, u16 0, u64 sequence, u32 frame length,
 *   then pattern bytes (uint8_t)(seq + offset).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <virtq/frontend.h>
#include <virtq/net.h>
#include <virtq/net_drv.h>
#include <virtq/net_split.h>

#include "vqu.h"

#define MODE_TX 0
#define MODE_RX 1
#define MODE_ECHO 2
#define PL_OFF 14u
#define PL_HDR 22u /* magic 4, qp 2, pad 2, seq 8, len 4 */
#define MAX_BURST 256u
#define NS 1000000000ull

struct netopt {
	const char *path;
	int mode;
	uint32_t size, qsize, burst;
	double duration;
	double rate; /* tx: frames per second, 0 = as fast as the rings allow */
	uint32_t window; /* tx: frames sent and not yet echoed back, at most; 0 = open loop */
	bool packed, verify, server, indirect, tx_copy, json;
	int mrg; /* 1 on, 0 off */
	int in_order; /* 1: ask for VIRTIO_F_IN_ORDER, 0: do not */
	unsigned queues;
	enum vq_netdrv_rxmode rxbuf;
	int cpu;
	bool split;      /* --split: rx through vq_splitdrv */
	uint64_t split_f; /* its VQ_NET_F_SPLIT_* bit, 0 for plain mergeable */
	uint32_t ratio;
	bool deliver_copy;
	unsigned mem_regions; /* --mem-regions: the shared memory cut into this many */
};

struct counters {
	uint64_t tx_pkts, tx_bytes, rx_pkts, rx_bytes;
	uint64_t bad, lost, foreign, reorder, echo_drop;
	uint64_t idle; /* bursts that moved nothing (ring empty, or full) */
};

struct net {
	struct netopt o;
	struct vq_fe *fe;
	struct vq_netdrv *nd;
	uint64_t features;
	uint8_t *frames;
	uint8_t *scratch;
	struct vq_netdrv_txpkt txp[MAX_BURST];
	struct vq_netdrv_txbuf txb[MAX_BURST];
	bool zc; /* tx builds frames in the driver's buffers */
	struct vq_netdrv_rxpkt rxp[MAX_BURST];
	struct vq_splitdrv *sd; /* --split: receive queue 0 */
	struct vq_drv *hring_rx; /* --split hring: rx ring waiting for the ring's ack */
	struct vq_splitdrv_pkt sp[MAX_BURST];
	uint64_t sink;          /* what the application read, so that it is read */
	uint64_t *tx_seq, *rx_next;
	struct counters c, last;
	unsigned reconnects;
	bool exiting;
};

static const char usage[] =
"Usage: virtq-user net --socket-path PATH [OPTIONS]\n"
"  -s, --socket-path PATH  vhost-user socket of the backend (or --socket)\n"
"      --server            listen on PATH; the backend connects (default: connect)\n"
"  -m, --mode MODE         tx (generate), rx (count), echo (send back) [tx]\n"
"  -n, --size N            frame bytes without FCS, 14-65535 [64]\n"
"  -d, --duration S        seconds to run [10]\n"
"  -q, --queues Q          queue pairs (MQ) [1]\n"
"      --packed            packed rings (VIRTIO_F_RING_PACKED)\n"
"      --mrg on|off        VIRTIO_NET_F_MRG_RXBUF [on]\n"
"      --in-order on|off   VIRTIO_F_IN_ORDER when the backend offers it: the device\n"
"                          uses buffers in ring order and may return a batch with\n"
"                          one used entry [on; off with --split]\n"
"      --rxbuf KIND        mergeable|big|small receive buffers [from features]\n"
"      --indirect          VIRTIO_F_INDIRECT_DESC (big chains take 1 ring entry)\n"
"      --qsize N           ring entries [256]\n"
"  -b, --burst N           frames per burst, 1-256 [32]\n"
"      --rate PPS          tx: send at most PPS frames per second, sleeping in\n"
"                          between (a paced sender) [0: as fast as possible]\n"
"      --window N          tx: closed loop; the peer runs --mode echo, this side\n"
"                          receives (and with --verify checks) the echoes and keeps\n"
"                          at most N frames, 1-4096, sent and not yet back: with N\n"
"                          no larger than the rings no switch has cause to drop\n"
"                          [0: open loop]\n"
"      --verify            check sequence numbers and every payload byte on rx\n"
"      --tx-copy           tx copies each frame into a driver buffer (vq_netdrv_tx_burst)\n"
"                          [default: frames up to one buffer are built in place]\n"
"      --split METHOD      EXPERIMENTAL (docs/SPLIT.md), rx of one queue pair: receive\n"
"                          through the split-aware zero-copy driver (vq_splitdrv) with\n"
"                          header/data split method a, b, c or hring (the header\n"
"                          ring, configured over the control queue), or none\n"
"                          (plain mergeable pages through the same driver); the\n"
"                          backend must offer the method (virtq-net --split);\n"
"                          --verify checks every reassembled frame's bytes\n"
"      --ratio N           --split a: pages per chain; c: pages per header buffer;\n"
"                          none, hring: pages per buffer [1]\n"
"      --deliver HOW       --split: the application reads every byte of every frame,\n"
"                          from the receive buffers (zc, default) or after copying the\n"
"                          frame out (copy)\n"
"      --mem-regions N     announce the shared memory as N regions, 1-512 (more\n"
"                          than 8 one by one: ADD_MEM_REG) [1]\n"
"      --cpu N             pin the thread to CPU N\n"
"      --stats-json        the per-second and total rate lines as JSON objects\n"
VQT_COMMON_HELP
"Rates count Ethernet frame bytes (no FCS, preamble or gap): Gbit/s = bytes*8/s.\n"
VQU_WAIT_HELP
"After a disconnect it reconnects, trying every 50 ms, until the run ends\n"
"(--duration) or SIGINT/SIGTERM.\n";

/* ---- options */

static int parse_mode(const char *s, int *out)
{
	if (!strcmp(s, "tx"))
		*out = MODE_TX;
	else if (!strcmp(s, "rx"))
		*out = MODE_RX;
	else if (!strcmp(s, "echo"))
		*out = MODE_ECHO;
	else
		return vqt_parse_fail("tx, rx or echo");
	return 0;
}

static int parse_rxbuf(const char *s, enum vq_netdrv_rxmode *out)
{
	if (!strcmp(s, "mergeable"))
		*out = VQ_NETDRV_RX_MERGEABLE;
	else if (!strcmp(s, "big"))
		*out = VQ_NETDRV_RX_BIG;
	else if (!strcmp(s, "small"))
		*out = VQ_NETDRV_RX_SMALL;
	else
		return vqt_parse_fail("mergeable, big or small");
	return 0;
}

static int parse_one(void *opt, int c, const char *arg)
{
	struct netopt *o = opt;
	uint64_t v;

	switch (c) {
	case 's': o->path = arg; return 0;
	case VQU_OPT_SERVER: o->server = true; return 0;
	case VQT_OPT_STATS_JSON: o->json = true; return 0;
	case 'm': return parse_mode(arg, &o->mode);
	case 'n': return vqt_parse_uint(arg, 14, 65535, &o->size);
	case 'd': return vqt_parse_secs(arg, 0.001, 1e9, &o->duration);
	case 'q': return vqt_parse_uint(arg, 1, 127, &o->queues);
	case 'P': o->packed = true; return 0;
	case 'M':
	case 'O':
		if (strcmp(arg, "on") && strcmp(arg, "off"))
			return vqt_parse_fail("on or off");
		*(c == 'M' ? &o->mrg : &o->in_order) = !strcmp(arg, "on");
		return 0;
	case 'R': return parse_rxbuf(arg, &o->rxbuf);
	case 'I': o->indirect = true; return 0;
	case 'Q':
		if (vqt_parse_u64(arg, 64, 32768, &v) < 0)
			return -EINVAL;
		if (v & (v - 1))
			return vqt_parse_fail("not a power of two");
		o->qsize = (uint32_t)v;
		return 0;
	case 'b': return vqt_parse_uint(arg, 1, MAX_BURST, &o->burst);
	case 'V': o->verify = true; return 0;
	case 'X': o->tx_copy = true; return 0;
	case 'W': return vqt_parse_uint(arg, 0, 4096, &o->window);
	case 'r': return vqt_parse_double(arg, 0, 1e9, &o->rate);
	case 'C': return vqt_parse_cpus(arg, &o->cpu, 1) < 0 ? -EINVAL : 0;
	case 'Y':
		o->split = true;
		if (!strcmp(arg, "none"))
			o->split_f = 0;
		else if (strlen(arg) == 1 && arg[0] >= 'a' && arg[0] <= 'c')
			o->split_f = VQ_NET_F(VQ_NET_F_SPLIT_A_BIT + (unsigned)(arg[0] - 'a'));
		else if (!strcmp(arg, "hring"))
			o->split_f = VQ_NET_F_SPLIT_HDR_RING;
		else
			return vqt_parse_fail("none, a, b, c or hring");
		return 0;
	case 'T': return vqt_parse_uint(arg, 1, 16, &o->ratio);
	case 'G': return vqt_parse_uint(arg, 1, VQ_FE_MAX_MEM_SLOTS, &o->mem_regions);
	case 'D':
		if (strcmp(arg, "copy") && strcmp(arg, "zc"))
			return vqt_parse_fail("copy or zc");
		o->deliver_copy = !strcmp(arg, "copy");
		return 0;
	}
	return vqt_parse_fail("unknown option");
}

/* 0 run, 1 exit 0, -1 exit 2. */
static int parse(struct netopt *o, int argc, char **argv)
{
	static const struct option lo[] = {
		VQU_COMMON_OPTIONS, { "mode", 1, NULL, 'm' },
		{ "size", 1, NULL, 'n' }, { "duration", 1, NULL, 'd' }, { "queues", 1, NULL, 'q' },
		{ "packed", 0, NULL, 'P' }, { "mrg", 1, NULL, 'M' }, { "rxbuf", 1, NULL, 'R' },
		{ "indirect", 0, NULL, 'I' }, { "qsize", 1, NULL, 'Q' }, { "burst", 1, NULL, 'b' },
		{ "verify", 0, NULL, 'V' }, { "cpu", 1, NULL, 'C' }, { "tx-copy", 0, NULL, 'X' },
		{ "rate", 1, NULL, 'r' }, { "window", 1, NULL, 'W' },
		{ "split", 1, NULL, 'Y' }, { "ratio", 1, NULL, 'T' }, { "deliver", 1, NULL, 'D' },
		{ "in-order", 1, NULL, 'O' }, { "mem-regions", 1, NULL, 'G' },
		{ NULL, 0, NULL, 0 } };

	*o = (struct netopt){ .mode = MODE_TX, .size = 64, .qsize = 256, .burst = 32,
			      .duration = 10, .mrg = 1, .in_order = 1, .queues = 1, .cpu = -1,
			      .ratio = 1 };
	const struct vqt_cli cli = {
		.prog = "virtq-user net", .help = usage, .shortopts = "s:m:n:d:q:b:",
		.longopts = lo, .one = parse_one, .ctx = o,
	};

	int r = vqu_getopt(&cli, argc, argv, &o->path);

	if (r == 0 && o->split && (o->mode != MODE_RX || o->queues != 1 || !o->mrg))
		return vqt_usage_error(cli.prog, "--split needs --mode rx, one queue pair, --mrg on");
	return r;
}

/* ---- features and memory */

static uint64_t wanted_features(const struct netopt *o)
{
	uint64_t f = VQ_F_VERSION_1 | VQ_F_EVENT_IDX | VQ_NET_F(VIRTIO_NET_F_MAC);

	if (o->packed)
		f |= VQ_F_PACKED;
	if (o->indirect)
		f |= VQ_F_INDIRECT;
	if (o->in_order && !o->split) /* split buffers are not used in ring order */
		f |= VQ_F_IN_ORDER;
	if (o->mrg)
		f |= VQ_NET_F(VIRTIO_NET_F_MRG_RXBUF);
	if (o->queues > 1)
		f |= VQ_NET_F(VIRTIO_NET_F_MQ); /* pairs enabled with SET_VRING_ENABLE */
	f |= o->split_f;
	if (o->split_f == VQ_NET_F_SPLIT_HDR_RING) /* configured over the control queue */
		f |= VQ_NET_F(VIRTIO_NET_F_CTRL_VQ);
	if (o->rxbuf == VQ_NETDRV_RX_BIG || (!o->mrg && o->size > 1514))
		f |= VQ_NET_F(VIRTIO_NET_F_GUEST_CSUM) | VQ_NET_F(VIRTIO_NET_F_GUEST_TSO4) |
		     VQ_NET_F(VIRTIO_NET_F_GUEST_TSO6);
	return f;
}

static struct vq_netdrv_params nd_params(struct net *n, uint64_t features);

/* Arena: the largest of the strategies the negotiation may end with. */
static size_t arena_size(struct net *n)
{
	static const enum vq_netdrv_rxmode modes[] = { VQ_NETDRV_RX_AUTO, VQ_NETDRV_RX_BIG,
						       VQ_NETDRV_RX_SMALL };
	uint64_t f = wanted_features(&n->o);
	size_t best = 0, sz;

	for (unsigned i = 0; i < 3; i++) {
		struct vq_netdrv_params p = nd_params(n, f);

		p.rxmode = n->o.rxbuf ? n->o.rxbuf : modes[i];
		if (vq_netdrv_mem_needed(&p, &sz) == 0 && sz > best)
			best = sz;
	}
	if (n->o.split) /* vq_splitdrv: pages, header buffers, a spare page, the tail */
		best += (size_t)(n->o.qsize + 3) * 4096 + (size_t)n->o.qsize * 256;
	return best + (64u << 10);
}

static void print_rx_mem(const struct net *n)
{
	static const enum vq_netdrv_rxmode modes[] = { VQ_NETDRV_RX_MERGEABLE, VQ_NETDRV_RX_BIG,
						       VQ_NETDRV_RX_SMALL };
	uint64_t f = n->features | VQ_NET_F(VIRTIO_NET_F_MRG_RXBUF);

	printf("receive memory per queue, %u-entry ring (vq_netdrv_rx_mem):\n", n->o.qsize);
	printf("  %-9s %6s %6s %8s %6s %8s %8s %10s\n", "strategy", "buf", "descs", "entries",
	       "bufs", "mtu-pkts", "gso-pkts", "pinned");
	for (unsigned i = 0; i < 3; i++) {
		struct vq_netdrv_rxmem m;
		uint64_t ff = modes[i] == VQ_NETDRV_RX_MERGEABLE ? f :
			      f & ~VQ_NET_F(VIRTIO_NET_F_MRG_RXBUF);

		if (vq_netdrv_rx_mem(modes[i], ff, n->o.qsize, n->o.indirect, &m) < 0)
			continue;
		printf("  %-9s %6u %6u %8u %6u %8u %8u %10llu%s\n", vq_netdrv_rxmode_str(m.mode),
		       m.buf_bytes, m.descs_per_buf, m.entries_per_buf, m.bufs, m.pkts_mtu,
		       m.pkts_max, (unsigned long long)m.pinned,
		       modes[i] == vq_netdrv_rxmode(n->nd) ? "  <- in use" : "");
	}
}

/* ---- glue */

static bool has_hring(const struct net *n)
{
	return n->o.split_f == VQ_NET_F_SPLIT_HDR_RING;
}

static struct vq_netdrv_params nd_params(struct net *n, uint64_t features)
{
	return (struct vq_netdrv_params){
		.features = features, .pairs = n->o.queues, .queue_size = n->o.qsize,
		.ctrl = has_hring(n),
		.rxmode = n->o.rxbuf, .indirect = n->o.indirect && (features & VQ_F_INDIRECT),
		.tx_buf_size = 2048, .alloc = vqu_fe_alloc, .kick = vqu_fe_kick, .ctx = n->fe,
	};
}

static void on_queue(void *opaque, unsigned i, struct vq_drv *q, struct vq_drv *old)
{
	struct net *n = opaque;

	/* virtq-user polls every queue and never sleeps on a call eventfd (the
	 * control queue too: ctrl_wait polls), so the device need not signal:
	 * as a poll-mode driver (DPDK's virtio-user) does, saying so spares
	 * the device an eventfd write each time we catch up. */
	if (q)
		vq_drv_disable_notify(q);
	if (n->sd && i == 0 && has_hring(n)) {
		vq_splitdrv_attach(n->sd, NULL); /* the ring afresh: head 0, all free */
		n->hring_rx = q;                 /* attached once the device acked it */
	} else if (n->sd && i == 0) {
		vq_splitdrv_attach(n->sd, q);
	} else if (n->nd)
		vq_netdrv_set_queue(n->nd, i, q);
}

static void on_state(void *opaque, enum vq_fe_state s, const char *why)
{
	const struct net *n = opaque;

	if (n->exiting)
		return;
	if (s == VQ_FE_DISCONNECTED)
		vqt_log(VQT_LOG_INFO, "backend disconnected: %s; waiting for it", why);
	else if (s == VQ_FE_READY)
		vqt_log(VQT_LOG_INFO, "connected");
}

static int setup_fe(struct net *n)
{
	struct vq_fe_params c = {
		.path = n->o.path, .mode = n->o.server ? VQ_FE_SERVER : VQ_FE_CLIENT,
		.features = wanted_features(&n->o), .required_features = VQ_F_VERSION_1,
		.num_queues = 2 * n->o.queues + (has_hring(n) ? 1 : 0), .queue_size = n->o.qsize,
		.indirect_tables = n->o.indirect ? n->o.qsize : 0, .indirect_len = 32,
		.mem_size = arena_size(n), .mem_regions = n->o.mem_regions, .timeout_ms = 5000,
		.queue_event = on_queue, .state_event = on_state, .opaque = n,
	};
	int r = vqu_fe_new(&c, &n->fe);

	if (r < 0)
		return r;
	return vqu_connect_wait(n->fe, n->o.path,
				n->o.server ? 60000 : 10000, n->o.server);
}

static void fe_kick0(void *ctx)
{
	vqu_fe_kick(ctx, 0);
}

/* --split: receive queue 0 through vq_splitdrv. */
static int setup_split(struct net *n)
{
	struct vq_splitdrv_params p = {
		.features = n->features, .queue_size = n->o.qsize, .ratio = n->o.ratio,
		.alloc = vqu_fe_alloc, .kick = fe_kick0, .ctx = n->fe,
	};
	int r;

	if ((n->features & n->o.split_f) != n->o.split_f) {
		vqt_log(VQT_LOG_ERR, "the backend does not offer split method %#llx",
			(unsigned long long)n->o.split_f);
		return -EOPNOTSUPP;
	}
	if ((r = vq_splitdrv_new(&p, &n->sd)) < 0)
		vqt_log(VQT_LOG_ERR, "split driver: %s", strerror(-r));
	else if (has_hring(n))
		n->hring_rx = vq_fe_queue(n->fe, 0); /* hring_start attaches it */
	else if ((r = vq_splitdrv_attach(n->sd, vq_fe_queue(n->fe, 0))) < 0)
		vqt_log(VQT_LOG_ERR, "split driver: %s", vq_splitdrv_error(n->sd));
	return r;
}

/*
 * --split hring: tell the device where the header ring is (control command
 * VQ_NET_CTRL_SPLIT_HDR_RING_SET), then post the receive buffers, so that
 * every frame finds the ring configured.  After each (re)connection.
 * 0, or -1 (the device refused it: logged).
 */
static int hring_start(struct net *n)
{
	struct vq_net_ctrl_split_hdr_ring c = { 0 };
	int r;

	if (!n->hring_rx)
		return 0;
	r = vq_splitdrv_hdr_ring_cmd(n->sd, 0, &c);
	if (r == 0)
		r = vq_netdrv_ctrl(n->nd, VQ_NET_CTRL_SPLIT, VQ_NET_CTRL_SPLIT_HDR_RING_SET, &c,
				   sizeof(c), 2000);
	if (r == -ENOTCONN)
		return 0; /* the control queue is not attached yet: next time */
	if (r < 0) {
		vqt_log(VQT_LOG_ERR, "the backend refused the header ring (%u entries of %u "
			"bytes at %#llx): %s", c.count, c.entry_size,
			(unsigned long long)c.ring_addr, strerror(-r));
		return -1;
	}
	r = vq_splitdrv_attach(n->sd, n->hring_rx);
	n->hring_rx = NULL;
	if (r < 0)
		vqt_log(VQT_LOG_ERR, "split driver: %s", vq_splitdrv_error(n->sd));
	return r < 0 ? -1 : 0;
}

static int setup_nd(struct net *n)
{
	struct vq_netdrv_params p;
	int r;

	n->features = vq_fe_features(n->fe);
	if (n->o.queues > 1 && vq_fe_backend_queue_num(n->fe) < n->o.queues) {
		vqt_log(VQT_LOG_ERR, "backend has %llu queue pairs, %u asked",
			(unsigned long long)vq_fe_backend_queue_num(n->fe), n->o.queues);
		return -EINVAL;
	}
	p = nd_params(n, n->features);
	if ((r = vq_netdrv_new(&p, &n->nd)) < 0) {
		vqt_log(VQT_LOG_ERR, "net driver: %s (rx buffers %s need %s)", strerror(-r),
			vq_netdrv_rxmode_str(n->o.rxbuf), "MRG_RXBUF for mergeable");
		return r;
	}
	if (n->o.split && (r = setup_split(n)) < 0)
		return r;
	for (unsigned i = n->sd ? 1 : 0; i < 2 * n->o.queues + (has_hring(n) ? 1 : 0); i++)
		if ((r = vq_netdrv_set_queue(n->nd, i, vq_fe_queue(n->fe, i))) < 0)
			return r;
	return hring_start(n) < 0 ? -EPROTO : 0;
}

/* ---- frames */

static void frame_init(uint8_t *f, uint32_t len, uint16_t qp)
{
	static const uint8_t eth[14] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0xb5 };

	memcpy(f, eth, 14);
	if (len < PL_OFF + PL_HDR)
		return;
	memcpy(f + PL_OFF, "VQU1", 4);
	memcpy(f + PL_OFF + 4, &qp, 2);
	memset(f + PL_OFF + 6, 0, 2);
	memcpy(f + PL_OFF + 16, &len, 4);
}

static void frame_seq(uint8_t *f, uint32_t len, uint64_t seq, bool pattern)
{
	if (len < PL_OFF + PL_HDR)
		return;
	memcpy(f + PL_OFF + 8, &seq, 8);
	for (uint32_t i = PL_OFF + PL_HDR; pattern && i < len; i++)
		f[i] = (uint8_t)(seq + i);
}

static bool pattern_ok(const struct vq_netdrv_rxpkt *p, uint64_t seq)
{
	uint32_t off = 0;

	for (unsigned k = 0; k < p->iovcnt; k++) {
		const uint8_t *b = p->iov[k].iov_base;

		for (size_t i = 0; i < p->iov[k].iov_len && off < p->len; i++, off++)
			if (off >= PL_OFF + PL_HDR && b[i] != (uint8_t)(seq + off))
				return false;
	}
	return true;
}

static void rx_check(struct net *n, const struct vq_netdrv_rxpkt *p)
{
	uint8_t h[PL_OFF + PL_HDR];
	uint64_t seq;
	uint32_t len;
	uint16_t qp;

	if (p->len < sizeof(h) || vq_netdrv_rx_copy(p, h, sizeof(h)) != sizeof(h) ||
	    memcmp(h + PL_OFF, "VQU1", 4)) {
		n->c.foreign++;
		return;
	}
	memcpy(&qp, h + PL_OFF + 4, 2);
	memcpy(&seq, h + PL_OFF + 8, 8);
	memcpy(&len, h + PL_OFF + 16, 4);
	if (len != p->len || qp >= n->o.queues || !pattern_ok(p, seq)) {
		n->c.bad++;
		return;
	}
	if (seq > n->rx_next[qp])
		n->c.lost += seq - n->rx_next[qp];
	else if (seq < n->rx_next[qp])
		n->c.reorder++;
	n->rx_next[qp] = seq + 1;
}

/* ---- data path */

/* Does tx buffer f hold our frame tpl but for the sequence number? */
static bool same_frame(const uint8_t *f, const uint8_t *tpl, uint32_t sz)
{
	if (sz < PL_OFF + PL_HDR)
		return false;
	return !memcmp(f, tpl, PL_OFF + 8) && !memcmp(f + PL_OFF + 16, tpl + PL_OFF + 16, 4);
}

/*
 * Frames that fit one tx buffer are built in place (vq_netdrv_tx_get/put):
 * a recycled buffer that still holds this queue's frame gets only its new
 * sequence number (and, with --verify, its pattern), as testpmd's txonly
 * writes only headers into its mbufs.  Larger frames are copied.
 */
static void do_tx(struct net *n, unsigned qp, uint32_t b)
{
	uint32_t sz = n->o.size;
	uint8_t *base = n->frames + (size_t)qp * MAX_BURST * sz;
	int r, k;

	if (n->zc) {
		k = vq_netdrv_tx_get(n->nd, qp, n->txb, b);
		if (k > 0 && n->txb[0].room < sz) {
			vq_netdrv_tx_put(n->nd, qp, n->txb, (unsigned)k, 0);
			n->zc = false; /* from now on, copies */
			k = 0;
		}
		for (int i = 0; i < k; i++) {
			uint8_t *f = n->txb[i].data;

			if (!same_frame(f, base, sz))
				memcpy(f, base, sz);
			frame_seq(f, sz, n->tx_seq[qp] + (unsigned)i, n->o.verify);
			n->txb[i].len = sz;
			n->txb[i].hdr = NULL;
		}
		r = k > 0 ? vq_netdrv_tx_put(n->nd, qp, n->txb, (unsigned)k, (unsigned)k) : k;
	} else {
		for (uint32_t i = 0; i < b; i++) {
			frame_seq(base + (size_t)i * sz, sz, n->tx_seq[qp] + i, n->o.verify);
			n->txp[i] = (struct vq_netdrv_txpkt){ base + (size_t)i * sz, sz, NULL };
		}
		r = vq_netdrv_tx_burst(n->nd, qp, n->txp, b);
	}
	if (r <= 0)
		n->c.idle++;
	if (r > 0) {
		n->tx_seq[qp] += (uint64_t)r;
		n->c.tx_pkts += (uint64_t)r;
		n->c.tx_bytes += (uint64_t)r * sz;
	}
}

static void echo_back(struct net *n, unsigned qp, int cnt)
{
	size_t off = 0;
	int r;

	for (int i = 0; i < cnt; i++) {
		const struct vq_netdrv_rxpkt *p = &n->rxp[i];
		uint8_t *f = n->scratch + off;

		vq_netdrv_rx_copy(p, f, p->len);
		uint8_t mac[6];

		memcpy(mac, f, 6);
		memcpy(f, f + 6, 6);
		memcpy(f + 6, mac, 6);
		n->txp[i] = (struct vq_netdrv_txpkt){ f, p->len, NULL };
		off += p->len;
	}
	r = vq_netdrv_tx_burst(n->nd, qp, n->txp, (unsigned)cnt);
	if (r < 0)
		r = 0;
	n->c.echo_drop += (uint64_t)(cnt - r);
	for (int i = 0; i < r; i++) {
		n->c.tx_pkts++;
		n->c.tx_bytes += n->txp[i].len;
	}
}

/*
 * --split --verify: the frame reassembled (headers and payload views copied
 * out) must be what virtq-net --source --source-proto sends: IPv4 or IPv6,
 * a 20-byte TCP header, byte i of the payload = i mod 256; a split frame
 * split exactly at the end of the TCP header.  A mismatch counts as bad.
 */
static void split_check(struct net *n, const struct vq_splitdrv_pkt *p)
{
	const uint8_t *f = n->scratch;
	uint32_t hl = 0;

	if (vq_splitdrv_copy(p, n->scratch, 65536 + 128) != p->len || p->len < 54)
		goto bad;
	if (f[12] == 0x08 && f[13] == 0x00)
		hl = 14 + 20 + 20;
	else if (f[12] == 0x86 && f[13] == 0xdd)
		hl = 14 + 40 + 20;
	if (!hl || p->len < hl || (p->head && p->head_len != hl))
		goto bad;
	for (uint32_t i = hl; i < p->len; i++)
		if (f[i] != (uint8_t)i)
			goto bad;
	return;
bad:
	n->c.bad++;
}

/* --split: every frame read by the application, zero-copy or copied out,
 * then released. */
static void do_rx_split(struct net *n)
{
	int r = vq_splitdrv_recv(n->sd, n->sp, n->o.burst);

	for (int i = 0; i < r; i++) {
		const struct vq_splitdrv_pkt *p = &n->sp[i];

		if (n->o.verify)
			split_check(n, p);
		if (n->o.deliver_copy) {
			vq_splitdrv_copy(p, n->scratch, 65536 + 128);
			n->sink += vqt_read_sum(n->scratch, p->len);
		} else {
			n->sink += vqt_read_sum(p->head, p->head_len);
			for (unsigned k = 0; k < p->iovcnt; k++)
				n->sink += vqt_read_sum(p->iov[k].iov_base, p->iov[k].iov_len);
		}
		n->c.rx_bytes += p->len;
		vq_splitdrv_release(n->sd, p);
	}
	if (r > 0)
		n->c.rx_pkts += (uint64_t)r;
}

static void do_rx(struct net *n, unsigned qp)
{
	if (n->sd) {
		do_rx_split(n);
		return;
	}

	int r = vq_netdrv_rx_burst(n->nd, qp, n->rxp, n->o.burst);

	if (r <= 0) {
		n->c.idle++;
		return;
	}
	for (int i = 0; i < r; i++) {
		n->c.rx_bytes += n->rxp[i].len;
		if (n->o.verify)
			rx_check(n, &n->rxp[i]);
	}
	n->c.rx_pkts += (uint64_t)r;
	if (n->o.mode == MODE_ECHO)
		echo_back(n, qp, r);
	vq_netdrv_rx_done(n->nd, qp);
}

/* ---- reporting */

/* --stats-json: one object; t = seconds since the start. */
static void print_json(const struct net *n, double t, const double r[4],
		       const struct counters *a, bool total)
{
	printf("{\"time\":%.3f,\"socket\":", t);
	vqt_json_str(n->o.path);
	printf(",%s\"tx_packets\":%llu,\"tx_bytes\":%llu,\"tx_pps\":%.0f,\"tx_bps\":%.0f,"
	       "\"rx_packets\":%llu,\"rx_bytes\":%llu,\"rx_pps\":%.0f,\"rx_bps\":%.0f,"
	       "\"bad\":%llu,\"lost\":%llu,\"reorder\":%llu,\"foreign\":%llu,"
	       "\"echo_drop\":%llu}\n", total ? "\"total\":true," : "",
	       (unsigned long long)a->tx_pkts, (unsigned long long)a->tx_bytes, r[0], r[1],
	       (unsigned long long)a->rx_pkts, (unsigned long long)a->rx_bytes, r[2], r[3],
	       (unsigned long long)a->bad, (unsigned long long)a->lost,
	       (unsigned long long)a->reorder, (unsigned long long)a->foreign,
	       (unsigned long long)a->echo_drop);
}

/* One rate line over secs: a - b (text), or an object (--stats-json). */
static void print_rate(const struct net *n, const char *tag, double t, double secs,
		       const struct counters *a, const struct counters *b)
{
	double tp = (double)(a->tx_pkts - b->tx_pkts), tb = (double)(a->tx_bytes - b->tx_bytes);
	double rp = (double)(a->rx_pkts - b->rx_pkts), rb = (double)(a->rx_bytes - b->rx_bytes);

	if (n->o.json) {
		print_json(n, t, (const double[4]){ tp / secs, tb * 8 / secs, rp / secs,
						    rb * 8 / secs }, a, !strncmp(tag, "total", 5));
		fflush(stdout);
		return;
	}
	printf("%s tx %8.3f Mpps %7.3f Gbit/s | rx %8.3f Mpps %7.3f Gbit/s", tag,
	       tp / secs / 1e6, tb * 8 / secs / 1e9, rp / secs / 1e6, rb * 8 / secs / 1e9);
	if (a->bad || a->lost || a->foreign || a->reorder || a->echo_drop)
		printf(" | bad %llu lost %llu reorder %llu foreign %llu echo-drop %llu",
		       (unsigned long long)a->bad, (unsigned long long)a->lost,
		       (unsigned long long)a->reorder, (unsigned long long)a->foreign,
		       (unsigned long long)a->echo_drop);
	printf("\n");
	fflush(stdout);
}

static bool broken_report(struct net *n)
{
	if (n->sd && vq_splitdrv_is_broken(n->sd)) {
		vqt_log(VQT_LOG_ERR, "queue 0 broken: %s", vq_splitdrv_error(n->sd));
		return true;
	}
	for (unsigned i = 0; i < 2 * n->o.queues; i++)
		if (vq_netdrv_is_broken(n->nd, i) || (vq_fe_queue(n->fe, i) &&
						   vq_drv_is_broken(vq_fe_queue(n->fe, i)))) {
			vqt_log(VQT_LOG_ERR, "queue %u broken: %s %s", i,
				vq_netdrv_error(n->nd),
				vq_fe_queue(n->fe, i) ? vq_drv_error(vq_fe_queue(n->fe, i)) : "");
			return true;
		}
	return false;
}

/* Once every few ms: connection check, reconnect, once a second: a line. */
static int housekeeping(struct net *n, uint64_t now, uint64_t t0, uint64_t *next_print)
{
	if (vq_fe_poll(n->fe) == VQ_FE_DISCONNECTED) {
		if (vq_fe_connect(n->fe) == 0) {
			if (vq_fe_features(n->fe) != n->features) {
				vqt_log(VQT_LOG_ERR, "features changed on reconnect");
				return -1;
			}
			n->reconnects++;
		} else {
			usleep(50000);
		}
	}
	if (vq_fe_state(n->fe) == VQ_FE_READY && (broken_report(n) || hring_start(n) < 0))
		return -1;
	if (now >= *next_print) {
		char tag[32];

		snprintf(tag, sizeof(tag), "[%6.1fs]", (double)(now - t0) / NS);
		print_rate(n, tag, (double)(now - t0) / NS, 1.0 + (double)(now - *next_print) / NS,
			   &n->c, &n->last);
		n->last = n->c;
		*next_print = now + NS;
	}
	return 0;
}

/* Tx: wait (at most 1 s) for the device to complete every queued frame, so
 * that the totals count what it consumed.  Returns the frames still queued. */
static unsigned tx_drain(struct net *n)
{
	uint64_t end = vqt_now_ns() + NS;
	unsigned left;

	do {
		left = 0;
		for (unsigned qp = 0; qp < n->o.queues; qp++) {
			vq_netdrv_tx_reclaim(n->nd, qp);
			left += vq_netdrv_tx_inflight(n->nd, qp);
		}
	} while (left && vq_fe_state(n->fe) == VQ_FE_READY && vqt_now_ns() < end);
	return left;
}

/* --window: wait (at most 1 s) for the echoes of every frame sent. */
static void echo_drain(struct net *n)
{
	uint64_t end = vqt_now_ns() + NS;

	while (n->c.rx_pkts < n->c.tx_pkts && vq_fe_state(n->fe) == VQ_FE_READY &&
	       vqt_now_ns() < end)
		for (unsigned qp = 0; qp < n->o.queues; qp++)
			do_rx(n, qp);
}

/* The exact totals, one line, for scripts. */
static void print_counts(const struct net *n, unsigned inflight)
{
	const struct counters *c = &n->c;
	uint64_t next = 0;

	/* rx_next_seq: the sum over queue pairs of the next sequence number
	 * expected.  A sender's frames are numbered from 0, so the frames it
	 * sent after the last one seen here (dropped at the tail, or still
	 * unread) number its tx_pkts minus this; "lost" counts only gaps. */
	uint64_t tx_next = 0;

	/* tx_next_seq: the sender's side of it, the sum over queue pairs of
	 * the next sequence number it would give a frame (its last one + 1;
	 * 0 for an echo).  Every number below it was given to exactly one
	 * frame, so a receiver's rx_pkts + lost + (tx_next_seq - rx_next_seq)
	 * must equal it, frames lost in a reconnect included.
	 * idle_polls: bursts that moved nothing (bench/ir-frontend.sh
	 * takes their cost out of its instructions per frame). */
	for (unsigned qp = 0; qp < n->o.queues; qp++) {
		next += n->rx_next[qp];
		tx_next += n->tx_seq[qp];
	}
	printf("counts: tx_pkts %llu tx_bytes %llu tx_inflight %u rx_pkts %llu rx_bytes %llu "
	       "bad %llu lost %llu reorder %llu foreign %llu echo_drop %llu rx_next_seq %llu "
	       "tx_next_seq %llu idle_polls %llu\n",
	       (unsigned long long)c->tx_pkts, (unsigned long long)c->tx_bytes, inflight,
	       (unsigned long long)c->rx_pkts, (unsigned long long)c->rx_bytes,
	       (unsigned long long)c->bad, (unsigned long long)c->lost,
	       (unsigned long long)c->reorder, (unsigned long long)c->foreign,
	       (unsigned long long)c->echo_drop, (unsigned long long)next,
	       (unsigned long long)tx_next, (unsigned long long)c->idle);
}

/* --split: the split driver's view, one line, for scripts. */
static void print_split(const struct net *n)
{
	struct vq_splitdrv_stats st;

	vq_splitdrv_get_stats(n->sd, &st);
	printf("split: method %s deliver %s packets %llu split %llu aligned %llu slots %llu "
	       "drops %llu mem %llu sum %llx\n",
	       !n->o.split_f ? "none" : n->o.split_f == VQ_NET_F_SPLIT_A ? "a" :
	       n->o.split_f == VQ_NET_F_SPLIT_B ? "b" : n->o.split_f == VQ_NET_F_SPLIT_C ? "c" :
	       "hring",
	       n->o.deliver_copy ? "copy" : "zc", (unsigned long long)st.packets,
	       (unsigned long long)st.split, (unsigned long long)st.aligned,
	       (unsigned long long)st.slots, (unsigned long long)st.drops,
	       (unsigned long long)st.mem, (unsigned long long)n->sink);
}

/* Tx, one pass: with --window, take the echoes in first and send no more
 * than the window allows (the sum over queue pairs, as counted). */
static void tx_step(struct net *n, unsigned qp)
{
	uint32_t b = n->o.burst;

	if (n->o.window) {
		uint64_t out;

		do_rx(n, qp);
		out = n->c.tx_pkts - n->c.rx_pkts;
		if (out >= n->o.window)
			return;
		if (b > n->o.window - out)
			b = (uint32_t)(n->o.window - out);
	}
	do_tx(n, qp, b);
}

/* --rate: true when the sender is ahead of PPS * elapsed; it then sleeps
 * for about one burst's worth of time. */
static bool tx_ahead(const struct net *n, uint64_t t0)
{
	uint64_t now = vqt_now_ns();
	double due = (double)(now - t0) / NS * n->o.rate;

	if ((double)n->c.tx_pkts < due)
		return false;
	uint64_t ns = (uint64_t)(((double)n->c.tx_pkts - due + 1) / n->o.rate * NS);
	struct timespec ts = { (time_t)(ns / NS), (long)(ns % NS) };

	nanosleep(&ts, NULL);
	return true;
}

static int run(struct net *n)
{
	uint64_t t0 = vqt_now_ns(), end = t0 + (uint64_t)(n->o.duration * NS);
	uint64_t next_print = t0 + NS, next_hk = t0, now = t0;
	unsigned iter = 0, left;
	/* Only vq_fe_poll and vq_fe_connect (housekeeping, this thread)
	 * change the state; a lost connection also detaches the queues, so
	 * a burst in between fails cleanly (-ENOTCONN). */
	bool ready = vq_fe_state(n->fe) == VQ_FE_READY;

	while (!vqu_stop && now < end) {
		if (n->o.rate > 0 && n->o.mode == MODE_TX && tx_ahead(n, t0))
			iter |= 31; /* slept: look at the clock */
		else if (ready)
			for (unsigned qp = 0; qp < n->o.queues; qp++) {
				if (n->o.mode == MODE_TX)
					tx_step(n, qp);
				else
					do_rx(n, qp);
			}
		if ((++iter & 31) && ready)
			continue;
		now = vqt_now_ns();
		if (now >= next_hk) {
			if (housekeeping(n, now, t0, &next_print) < 0)
				return 1;
			next_hk = now + 10000000ull;
		}
		ready = vq_fe_state(n->fe) == VQ_FE_READY;
	}
	left = n->o.mode == MODE_RX ? 0 : tx_drain(n);
	if (n->o.window)
		echo_drain(n);
	now = vqt_now_ns();
	print_rate(n, "total   ", (double)(now - t0) / NS, (double)(now - t0) / NS, &n->c,
		   &(struct counters){ 0 });
	print_counts(n, left);
	if (n->sd)
		print_split(n);
	if (n->reconnects)
		printf("reconnects: %u\n", n->reconnects);
	return n->o.verify && n->c.bad ? 1 : 0;
}

static int alloc_bufs(struct net *n)
{
	size_t fb = (size_t)n->o.queues * MAX_BURST * n->o.size;

	n->frames = calloc(1, fb);
	n->scratch = malloc((size_t)MAX_BURST * 65536);
	n->tx_seq = calloc(n->o.queues, sizeof(*n->tx_seq));
	n->rx_next = calloc(n->o.queues, sizeof(*n->rx_next));
	if (!n->frames || !n->scratch || !n->tx_seq || !n->rx_next)
		return -ENOMEM;
	for (unsigned q = 0; q < n->o.queues; q++)
		for (unsigned i = 0; i < MAX_BURST; i++) {
			uint8_t *f = n->frames + ((size_t)q * MAX_BURST + i) * n->o.size;

			frame_init(f, n->o.size, (uint16_t)q);
			frame_seq(f, n->o.size, 0, true);
		}
	return 0;
}

static void print_setup(const struct net *n)
{
	printf("virtq-user net: %s, mode %s, %u-byte frames, %u queue pair(s), %s rings of %u, "
	       "rx buffers %s, features 0x%llx\n", n->o.path,
	       n->o.mode == MODE_TX ? "tx" : n->o.mode == MODE_RX ? "rx" : "echo", n->o.size,
	       n->o.queues, n->features & VQ_F_PACKED ? "packed" : "split", n->o.qsize,
	       vq_netdrv_rxmode_str(vq_netdrv_rxmode(n->nd)), (unsigned long long)n->features);
	print_rx_mem(n);
}

int vqu_net_main(int argc, char **argv)
{
	struct net *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return 1;
	if ((r = parse(&n->o, argc, argv)) != 0) {
		free(n);
		return r > 0 ? 0 : 2;
	}
	vqu_pin_cpu(n->o.cpu);
	n->zc = !n->o.tx_copy;
	/* Failures go through the cleanup too (no leak reports under SAN=1). */
	if (alloc_bufs(n) < 0 || setup_fe(n) < 0 || setup_nd(n) < 0) {
		r = 1;
	} else {
		print_setup(n);
		r = run(n);
	}
	n->exiting = true;
	vq_fe_free(n->fe); /* detaches the rings from the drivers first */
	vq_netdrv_free(n->nd);
	vq_splitdrv_free(n->sd);
	free(n->frames);
	free(n->scratch);
	free(n->tx_seq);
	free(n->rx_next);
	free(n);
	return r;
}
