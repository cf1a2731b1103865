/* SPDX-License-Identifier: MIT */
/*
 * virtio-net driver (net_drv.h) against the virtio-net device model
 * (net.h), in process: vq_drv <-> vq_dev over shared memory, driver
 * addresses equal to virtual addresses.  Frames go driver tx -> device tx
 * burst -> device rx burst (loopback) -> driver rx, and every byte is
 * checked: all three receive strategies, split and packed, sizes from 60
 * bytes to 64 KiB GSO-sized frames; what each receive strategy pins (vq_netdrv_rx_mem); a
 * device lying about num_buffers, short frames, frames split across
 * bursts, backpressure, detach/re-attach, the control queue.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <virtq/net.h>
#include <virtq/net_drv.h>

#include "../harness/test.h"

#define QSIZE 256u
#define MEMSZ (64u << 20)
#define F(b) VQ_NET_F(b)
#define F_MRG F(VIRTIO_NET_F_MRG_RXBUF)
#define F_GTSO (F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) | \
		F(VIRTIO_NET_F_GUEST_TSO6))

static enum vq_layout g_layout = VQ_LAYOUT_SPLIT;

struct env {
	uint8_t *mem;
	size_t used;
	struct vq_mem *map;
	struct vq_net *n;
	struct vq_netdrv *nd;
	struct vq_drv *drv[3];
	struct vq_dev *dev[3];
	unsigned kicks[3];
	uint64_t features;
};

static void *e_alloc(void *ctx, size_t size, uint64_t *addr)
{
	struct env *e = ctx;
	size_t off = (e->used + 4095) & ~(size_t)4095;

	if (off + size > MEMSZ)
		return NULL;
	e->used = off + size;
	*addr = (uint64_t)(uintptr_t)(e->mem + off);
	return e->mem + off;
}

static void e_kick(void *ctx, unsigned idx)
{
	struct env *e = ctx;

	if (idx < 3)
		e->kicks[idx]++;
}

static void ring(struct env *e, unsigned slot)
{
	struct vq_ring_layout l;
	uint64_t a;
	uint8_t *r;

	ASSERT_EQ(vq_ring_layout(g_layout, QSIZE, &l), 0);
	r = e_alloc(e, l.total, &a);
	ASSERT_TRUE(r != NULL);
	struct vq_ring_params rc = { g_layout, QSIZE, e->features & VQ_RING_FEATURES, 0,
				     r + l.desc_off, r + l.avail_off, r + l.used_off };
	struct vq_drv_params dc = { .ring = rc };

	if (e->features & VQ_F_INDIRECT) {
		dc.indirect_tables = QSIZE;
		dc.indirect_len = 32;
		dc.indirect = e_alloc(e, QSIZE * 32 * 16, &dc.indirect_gpa);
	}
	ASSERT_EQ(vq_drv_new(&dc, &e->drv[slot]), 0);
	ASSERT_EQ(vq_dev_new(&rc, e->map, &e->dev[slot]), 0);
	ASSERT_EQ(vq_net_set_queue(e->n, slot, e->dev[slot]), 0);
}

static void env_init(struct env *e, uint64_t features, enum vq_netdrv_rxmode mode, bool ctrl)
{
	struct vq_net_params np = { .mac = { 2, 0, 0, 0, 0, 1 }, .max_pairs = 1 };
	struct vq_mem_region reg;

	memset(e, 0, sizeof(*e));
	e->features = features | VQ_F_VERSION_1;
	e->mem = mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(e->mem != MAP_FAILED);
	ASSERT_EQ(vq_mem_new(&e->map), 0);
	reg = (struct vq_mem_region){ (uint64_t)(uintptr_t)e->mem, MEMSZ, e->mem, 0, VQ_MEM_RW };
	ASSERT_EQ(vq_mem_add(e->map, &reg), 0);
	ASSERT_EQ(vq_net_new(&np, &e->n), 0);
	ASSERT_EQ(vq_net_set_features(e->n, e->features), 0);
	for (unsigned s = 0; s < (ctrl ? 3u : 2u); s++)
		ring(e, s);
	struct vq_netdrv_params p = {
		.features = e->features, .pairs = 1, .ctrl = ctrl, .queue_size = QSIZE,
		.rxmode = mode, .indirect = false, .alloc = e_alloc, .kick = e_kick, .ctx = e,
	};
	ASSERT_EQ(vq_netdrv_new(&p, &e->nd), 0);
	for (unsigned s = 0; s < (ctrl ? 3u : 2u); s++)
		ASSERT_EQ(vq_netdrv_set_queue(e->nd, s, e->drv[s]), 0);
}

/* ---- frames with a checkable payload */

static void make_frame(uint8_t *f, uint32_t len, uint32_t seq)
{
	static const uint8_t hdr[14] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5 };

	memcpy(f, hdr, 14);
	for (uint32_t i = 14; i < len; i++)
		f[i] = (uint8_t)(seq * 31 + i * 7);
	if (len >= 22) {
		memcpy(f + 14, &seq, 4);
		memcpy(f + 18, &len, 4);
	}
}

static void check_frame(const struct vq_netdrv_rxpkt *pk, uint32_t len, uint32_t seq)
{
	static uint8_t want[VQ_NET_MAX_FRAME], got[VQ_NET_MAX_FRAME];

	ASSERT_EQ(pk->len, len);
	make_frame(want, len, seq);
	ASSERT_EQ(vq_netdrv_rx_copy(pk, got, sizeof(got)), len);
	ASSERT_MEM_EQ(got, want, len);
}

/* Device: move every tx frame to rx.  Returns frames moved. */
static int device_loop(struct env *e)
{
	struct vq_net_pkt *pk[VQ_NET_BURST_MAX];
	int n, total = 0;

	while ((n = vq_net_tx_burst(e->n, 0, pk, VQ_NET_BURST_MAX)) > 0) {
		ASSERT_EQ(vq_net_rx_burst(e->n, 0, pk, (unsigned)n), n);
		ASSERT_EQ(vq_net_tx_done(e->n, 0), 0);
		total += n;
	}
	ASSERT_GE(n, 0);
	return total;
}

/* Send frames of these sizes, loop them, receive and check every byte. */
static void roundtrip(struct env *e, const uint32_t *sizes, unsigned cnt, unsigned rounds)
{
	static uint8_t buf[VQ_NET_MAX_FRAME];
	struct vq_netdrv_rxpkt rx[64];
	uint32_t seq = 0, rseq = 0;

	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned i = 0; i < cnt; i++) {
			struct vq_netdrv_txpkt t = { buf, sizes[i], NULL };
			int got = 0, n;

			make_frame(buf, sizes[i], seq++);
			ASSERT_EQ(vq_netdrv_tx_burst(e->nd, 0, &t, 1), 1);
			ASSERT_EQ(device_loop(e), 1);
			while ((n = vq_netdrv_rx_burst(e->nd, 0, rx, 64)) > 0) {
				for (int k = 0; k < n; k++)
					check_frame(&rx[k], sizes[i], rseq++);
				got += n;
				ASSERT_EQ(vq_netdrv_rx_done(e->nd, 0), 0);
			}
			ASSERT_EQ(n, 0);
			ASSERT_EQ(got, 1);
		}
	}
}

static const uint32_t sizes_all[] = { 60, 64, 128, 1514, 4000, 4096, 9000, 32768, 65535, 65550 };
static const uint32_t sizes_mtu[] = { 60, 64, 1000, 1514 };

static void run_mode(uint64_t feats, enum vq_netdrv_rxmode mode, enum vq_netdrv_rxmode want,
		     const uint32_t *sizes, unsigned cnt)
{
	struct env e;
	struct vq_netdrv_stats st;
	uint64_t bytes = 0;

	for (unsigned i = 0; i < cnt; i++)
		bytes += sizes[i];
	env_init(&e, feats, mode, false);
	ASSERT_EQ(vq_netdrv_rxmode(e.nd), want);
	roundtrip(&e, sizes, cnt, 30);
	ASSERT_EQ(vq_netdrv_get_stats(e.nd, 0, &st), 0);
	ASSERT_EQ(st.rx_packets, 30ull * cnt);
	ASSERT_EQ(st.rx_bytes, 30 * bytes);
	/* a buffer a frame at least; mergeable frames past a page take more */
	ASSERT_TRUE(st.rx_bufs >= st.rx_packets);
	ASSERT_TRUE(want != VQ_NETDRV_RX_MERGEABLE || sizes[cnt - 1] <= 4096 - 12 ||
		    st.rx_bufs > st.rx_packets);
	ASSERT_EQ(st.tx_packets, 30ull * cnt);
	ASSERT_EQ(st.rx_errors, 0);
	ASSERT_GT(e.kicks[0], 0);
}

TEST(rx_mergeable_split) { run_mode(F_MRG, VQ_NETDRV_RX_AUTO, VQ_NETDRV_RX_MERGEABLE, sizes_all, 10); }
TEST(rx_big_split) { run_mode(F_GTSO, VQ_NETDRV_RX_AUTO, VQ_NETDRV_RX_BIG, sizes_all, 10); }
TEST(rx_small_split) { run_mode(0, VQ_NETDRV_RX_AUTO, VQ_NETDRV_RX_SMALL, sizes_mtu, 4); }
TEST(rx_small_merged_split)
{
	/* Small buffers with MRG_RXBUF: the device merges them for 9000 / 64 KiB. */
	run_mode(F_MRG, VQ_NETDRV_RX_SMALL, VQ_NETDRV_RX_SMALL, sizes_all, 10);
}
TEST(rx_big_with_mrg_split) { run_mode(F_MRG, VQ_NETDRV_RX_BIG, VQ_NETDRV_RX_BIG, sizes_all, 10); }

TEST(rx_mergeable_packed)
{
	g_layout = VQ_LAYOUT_PACKED;
	run_mode(F_MRG | VQ_F_PACKED, VQ_NETDRV_RX_AUTO, VQ_NETDRV_RX_MERGEABLE, sizes_all, 10);
}
TEST(rx_big_packed)
{
	g_layout = VQ_LAYOUT_PACKED;
	run_mode(F_GTSO | VQ_F_PACKED, VQ_NETDRV_RX_AUTO, VQ_NETDRV_RX_BIG, sizes_all, 10);
}
TEST(rx_small_packed)
{
	g_layout = VQ_LAYOUT_PACKED;
	run_mode(VQ_F_PACKED, VQ_NETDRV_RX_AUTO, VQ_NETDRV_RX_SMALL, sizes_mtu, 4);
}
TEST(rx_mergeable_indirect_event_idx)
{
	run_mode(F_MRG | VQ_F_INDIRECT | VQ_F_EVENT_IDX, VQ_NETDRV_RX_AUTO,
		 VQ_NETDRV_RX_MERGEABLE, sizes_all, 10);
}

TEST(rx_small_drops_jumbo)
{
	/* No MRG_RXBUF, small buffers: a 9000-byte frame cannot fit; the device
	 * drops it and the buffers stay usable for the next frame. */
	static uint8_t buf[9000];
	struct env e;
	struct vq_netdrv_rxpkt rx[4];
	struct vq_net_stats ds;
	struct vq_netdrv_txpkt t = { buf, 9000, NULL };

	env_init(&e, 0, VQ_NETDRV_RX_AUTO, false);
	make_frame(buf, 9000, 0);
	ASSERT_EQ(vq_netdrv_tx_burst(e.nd, 0, &t, 1), 1);
	ASSERT_EQ(device_loop(&e), 1);
	ASSERT_EQ(vq_netdrv_rx_burst(e.nd, 0, rx, 4), 0);
	ASSERT_EQ(vq_net_get_stats(e.n, 0, &ds), 0);
	ASSERT_EQ(ds.rx.drops, 1);
	roundtrip(&e, sizes_mtu, 4, 2);
}

TEST(many_frames_recycle)
{
	/* 20000 frames through a 256-entry ring: buffers must be recycled. */
	static uint8_t buf[64 * 1514];
	struct vq_netdrv_txpkt t[64];
	struct vq_netdrv_rxpkt rx[64];
	struct env e;
	uint32_t seq = 0, rseq = 0;

	env_init(&e, F_MRG, VQ_NETDRV_RX_AUTO, false);
	while (rseq < 20000) {
		for (unsigned i = 0; i < 64; i++) {
			uint32_t len = 60 + (seq + i) % 1455;

			make_frame(buf + i * 1514, len, seq + i);
			t[i] = (struct vq_netdrv_txpkt){ buf + i * 1514, len, NULL };
		}
		int sent = vq_netdrv_tx_burst(e.nd, 0, t, 64);

		ASSERT_GT(sent, 0);
		seq += (uint32_t)sent;
		device_loop(&e);
		int n = vq_netdrv_rx_burst(e.nd, 0, rx, 64);

		ASSERT_EQ(n, sent);
		for (int k = 0; k < n; k++, rseq++)
			check_frame(&rx[k], 60 + rseq % 1455, rseq);
		ASSERT_EQ(vq_netdrv_rx_done(e.nd, 0), 0);
	}
}

/* ---- receive memory per strategy (vq_netdrv_rx_mem) */

TEST(rx_mem_arithmetic)
{
	enum vq_netdrv_rxmode mode;
	struct vq_netdrv_rxmem m;
	uint64_t f = VQ_F_VERSION_1 | F_MRG;

	ASSERT_EQ(vq_netdrv_rx_mem(VQ_NETDRV_RX_MERGEABLE, f, 256, false, &m), 0);
	ASSERT_EQ(m.hdr_size, 12);
	ASSERT_EQ(m.buf_bytes, 4096);
	ASSERT_EQ(m.bufs, 256);
	ASSERT_EQ_U64(m.pinned, 1048576);
	ASSERT_EQ(m.pkts_mtu, 256);
	ASSERT_EQ(m.pkts_max, 15);

	ASSERT_EQ(vq_netdrv_rx_mem(VQ_NETDRV_RX_BIG, VQ_F_VERSION_1, 256, false, &m), 0);
	ASSERT_EQ(m.descs_per_buf, 17);
	ASSERT_EQ(m.entries_per_buf, 17);
	ASSERT_EQ(m.bufs, 15);
	ASSERT_EQ_U64(m.pinned, 15ull * 17 * 4096); /* 1044480: ~1 MiB */
	ASSERT_EQ(m.pkts_mtu, 15);
	ASSERT_EQ(m.pkts_max, 15);
	ASSERT_GE(m.max_frame, VQ_NETDRV_BIG_BYTES - 12);

	ASSERT_EQ(vq_netdrv_rx_mem(VQ_NETDRV_RX_BIG, VQ_F_VERSION_1, 256, true, &m), 0);
	ASSERT_EQ(m.entries_per_buf, 1);
	ASSERT_EQ(m.bufs, 256);
	ASSERT_EQ_U64(m.pinned, 256ull * 17 * 4096); /* 17 MiB: the big-buffer cost Linux virtio_net's mergeable buffers avoid */

	ASSERT_EQ(vq_netdrv_rx_mem(VQ_NETDRV_RX_SMALL, VQ_F_VERSION_1, 256, false, &m), 0);
	ASSERT_EQ(m.buf_bytes, 1526);
	ASSERT_EQ_U64(m.pinned, 256ull * 1526);
	ASSERT_EQ(m.pkts_mtu, 256);
	ASSERT_EQ(m.pkts_max, 0);
	ASSERT_EQ(m.max_frame, 1514);

	/* Legacy 10-byte header. */
	ASSERT_EQ(vq_netdrv_rx_mem(VQ_NETDRV_RX_SMALL, 0, 256, false, &m), 0);
	ASSERT_EQ(m.buf_bytes, 1524);

	/* AUTO follows the features; MERGEABLE needs MRG_RXBUF; a big chain
	 * cannot go into a 16-entry ring without indirect descriptors. */
	ASSERT_EQ(vq_netdrv_rxmode_for(f, VQ_NETDRV_RX_AUTO, &mode), 0);
	ASSERT_EQ(mode, VQ_NETDRV_RX_MERGEABLE);
	ASSERT_EQ(vq_netdrv_rxmode_for(F_GTSO, VQ_NETDRV_RX_AUTO, &mode), 0);
	ASSERT_EQ(mode, VQ_NETDRV_RX_BIG);
	ASSERT_EQ(vq_netdrv_rxmode_for(0, VQ_NETDRV_RX_AUTO, &mode), 0);
	ASSERT_EQ(mode, VQ_NETDRV_RX_SMALL);
	ASSERT_EQ(vq_netdrv_rxmode_for(0, VQ_NETDRV_RX_MERGEABLE, &mode), -EINVAL);
	ASSERT_EQ(vq_netdrv_rx_mem(VQ_NETDRV_RX_BIG, 0, 16, false, &m), -EINVAL);
}

TEST(big_chains_use_17_descriptors)
{
	/* Without indirect, 15 chains of 17 descriptors fill a 256-entry ring. */
	struct env e;

	env_init(&e, F_GTSO, VQ_NETDRV_RX_AUTO, false);
	ASSERT_EQ(vq_drv_nfree(e.drv[0]), 256 - 15 * 17);
}

/* ---- a device that lies */

/* Pop one rx chain on the device side and return it with a forged header. */
static void forge_rx(struct env *e, uint16_t num_buffers, uint32_t used)
{
	struct iovec iov[32];
	struct vq_elem el = { .iov = iov, .iov_cap = 32 };
	struct virtio_net_hdr_v1 h = { .num_buffers = num_buffers };

	ASSERT_EQ(vq_dev_pop(e->dev[0], &el), 1);
	memcpy(iov[0].iov_base, &h, sizeof(h));
	ASSERT_EQ(vq_dev_push(e->dev[0], &el, used), 0);
	vq_dev_flush(e->dev[0]);
}

TEST(num_buffers_more_than_posted)
{
	struct env e;
	struct vq_netdrv_rxpkt rx[4];

	env_init(&e, F_MRG, VQ_NETDRV_RX_AUTO, false);
	vq_net_set_queue(e.n, 0, NULL); /* the test plays the device */
	forge_rx(&e, 300, 100);         /* 300 buffers, 256 posted */
	ASSERT_EQ(vq_netdrv_rx_burst(e.nd, 0, rx, 4), -EIO);
	ASSERT_TRUE(vq_netdrv_is_broken(e.nd, 0));
	ASSERT_TRUE(strstr(vq_netdrv_error(e.nd), "num_buffers 300") != NULL);
	ASSERT_EQ(vq_netdrv_rx_burst(e.nd, 0, rx, 4), -EIO); /* sticky */
	/* Re-attaching clears it and re-posts every buffer. */
	ASSERT_EQ(vq_netdrv_set_queue(e.nd, 0, NULL), 0);
	ASSERT_FALSE(vq_netdrv_is_broken(e.nd, 0));
}

TEST(num_buffers_zero)
{
	struct env e;
	struct vq_netdrv_rxpkt rx[4];

	env_init(&e, F_MRG, VQ_NETDRV_RX_AUTO, false);
	vq_net_set_queue(e.n, 0, NULL);
	forge_rx(&e, 0, 100);
	ASSERT_EQ(vq_netdrv_rx_burst(e.nd, 0, rx, 4), -EIO);
	ASSERT_TRUE(strstr(vq_netdrv_error(e.nd), "num_buffers 0") != NULL);
}

TEST(used_len_shorter_than_header)
{
	struct env e;
	struct vq_netdrv_rxpkt rx[4];

	env_init(&e, F_MRG, VQ_NETDRV_RX_AUTO, false);
	vq_net_set_queue(e.n, 0, NULL);
	forge_rx(&e, 1, 5);
	ASSERT_EQ(vq_netdrv_rx_burst(e.nd, 0, rx, 4), -EIO);
	ASSERT_TRUE(strstr(vq_netdrv_error(e.nd), "header") != NULL);
}

/* Mergeable buffers: a buffer used with length 0 was given back unused (a
 * device, or a proxy, that stopped holding it); it is dropped, the frames
 * around it arrive, and the queue stays up. */
TEST(used_len_zero_given_back_mrg)
{
	struct env e;
	struct vq_netdrv_rxpkt rx[4];
	struct vq_netdrv_stats st;

	env_init(&e, F_MRG, VQ_NETDRV_RX_AUTO, false);
	vq_net_set_queue(e.n, 0, NULL);
	forge_rx(&e, 1, 12 + 60);
	forge_rx(&e, 1, 0);
	forge_rx(&e, 1, 12 + 61);
	ASSERT_EQ(vq_netdrv_rx_burst(e.nd, 0, rx, 4), 2);
	ASSERT_EQ(rx[0].len, 60);
	ASSERT_EQ(rx[1].len, 61);
	ASSERT_FALSE(vq_netdrv_is_broken(e.nd, 0));
	ASSERT_EQ(vq_netdrv_get_stats(e.nd, 0, &st), 0);
	ASSERT_EQ(st.rx_errors, 1);
}

TEST(short_frame_dropped_small)
{
	struct env e;
	struct vq_netdrv_rxpkt rx[4];
	struct vq_netdrv_stats st;

	env_init(&e, 0, VQ_NETDRV_RX_AUTO, false);
	vq_net_set_queue(e.n, 0, NULL);
	forge_rx(&e, 1, 12 + 10); /* 10-byte frame */
	forge_rx(&e, 1, 4);       /* shorter than the header */
	ASSERT_EQ(vq_netdrv_rx_burst(e.nd, 0, rx, 4), 0);
	ASSERT_EQ(vq_netdrv_get_stats(e.nd, 0, &st), 0);
	ASSERT_EQ(st.rx_errors, 2);
	ASSERT_FALSE(vq_netdrv_is_broken(e.nd, 0));
	ASSERT_EQ(vq_netdrv_rx_done(e.nd, 0), 0);
}

TEST(frame_split_across_bursts)
{
	/* num_buffers 3, but the device publishes the buffers one at a time. */
	struct env e;
	struct vq_netdrv_rxpkt rx[4];
	struct iovec iov[4];
	struct vq_elem el[3];
	struct virtio_net_hdr_v1 h = { .num_buffers = 3 };
	uint8_t got[3 * 4096];

	env_init(&e, F_MRG, VQ_NETDRV_RX_AUTO, false);
	vq_net_set_queue(e.n, 0, NULL);
	for (int i = 0; i < 3; i++) {
		el[i] = (struct vq_elem){ .iov = &iov[i], .iov_cap = 1 };
		ASSERT_EQ(vq_dev_pop(e.dev[0], &el[i]), 1);
		memset(iov[i].iov_base, 'a' + i, 4096);
	}
	memcpy(iov[0].iov_base, &h, sizeof(h));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(vq_dev_push(e.dev[0], &el[i], i == 2 ? 100 : 4096), 0);
		vq_dev_flush(e.dev[0]);
		ASSERT_EQ(vq_netdrv_rx_burst(e.nd, 0, rx, 4), i == 2 ? 1 : 0);
		if (i < 2)
			ASSERT_EQ(vq_netdrv_rx_done(e.nd, 0), 0);
	}
	ASSERT_EQ(rx[0].len, 4096 - 12 + 4096 + 100);
	ASSERT_EQ(vq_netdrv_rx_copy(&rx[0], got, sizeof(got)), rx[0].len);
	ASSERT_EQ(got[0], 'a');
	ASSERT_EQ(got[4096 - 12], 'b');
	ASSERT_EQ(got[rx[0].len - 1], 'c');
	ASSERT_EQ(vq_netdrv_rx_done(e.nd, 0), 0);
}

/* ---- tx */

TEST(tx_backpressure_and_reclaim)
{
	static uint8_t buf[64];
	struct vq_netdrv_txpkt t[64];
	struct vq_netdrv_stats st;
	struct env e;
	int total = 0, n;

	env_init(&e, F_MRG, VQ_NETDRV_RX_AUTO, false);
	make_frame(buf, 64, 0);
	for (int i = 0; i < 64; i++)
		t[i] = (struct vq_netdrv_txpkt){ buf, 64, NULL };
	while ((n = vq_netdrv_tx_burst(e.nd, 0, t, 64)) > 0)
		total += n;
	ASSERT_EQ(n, 0);
	ASSERT_EQ(total, QSIZE);
	ASSERT_EQ(vq_netdrv_tx_inflight(e.nd, 0), QSIZE);
	ASSERT_EQ(vq_netdrv_get_stats(e.nd, 0, &st), 0);
	ASSERT_GE(st.tx_full, 1);
	/* The device drains tx; reclaim returns the buffers. */
	vq_net_set_queue(e.n, 0, NULL);
	struct vq_net_pkt *pk[64];
	while ((n = vq_net_tx_burst(e.n, 0, pk, 64)) > 0)
		ASSERT_EQ(vq_net_tx_done(e.n, 0), 0);
	ASSERT_EQ(vq_netdrv_tx_reclaim(e.nd, 0), QSIZE);
	ASSERT_EQ(vq_netdrv_tx_inflight(e.nd, 0), 0);
	ASSERT_EQ(vq_netdrv_tx_burst(e.nd, 0, t, 64), 64);
}

TEST(tx_rejects_bad_frames)
{
	static uint8_t buf[64];
	struct env e;
	struct vq_netdrv_txpkt t = { buf, 13, NULL };

	env_init(&e, F_MRG, VQ_NETDRV_RX_AUTO, false);
	ASSERT_EQ(vq_netdrv_tx_burst(e.nd, 0, &t, 1), -EINVAL);
	t.len = VQ_NET_MAX_FRAME + 1;
	ASSERT_EQ(vq_netdrv_tx_burst(e.nd, 0, &t, 1), -EINVAL);
	ASSERT_EQ(vq_netdrv_tx_burst(e.nd, 1, &t, 1), -EINVAL); /* no pair 1 */
}

/* ---- zero-copy tx (tx_get / tx_put) */

/* Frames built in place: sent ones arrive byte for byte, returned ones are
 * not sent, and the LIFO free list lends the same buffers again. */
static void zc_roundtrip(void)
{
	struct vq_netdrv_txbuf b[8];
	struct vq_netdrv_rxpkt rx[64];
	struct vq_netdrv_stats st;
	uint32_t seq = 0, rseq = 0, sizes[8], ids0[8];
	struct env e;

	env_init(&e, F_MRG, VQ_NETDRV_RX_AUTO, false);
	for (unsigned round = 0; round < 20; round++) {
		int n = vq_netdrv_tx_get(e.nd, 0, b, 8), got = 0, r;

		ASSERT_EQ(n, 8);
		for (int i = 0; i < 8; i++) { /* the same 8 recycle, cache-warm */
			bool seen = false;

			if (round == 0)
				ids0[i] = b[i].id;
			for (int j = 0; j < 8; j++)
				seen |= ids0[j] == b[i].id;
			ASSERT_TRUE(seen);
		}
		for (int i = 0; i < 8; i++) {
			ASSERT_GE(b[i].room, 1514);
			sizes[i] = i == 7 ? b[i].room : 60 + (uint32_t)(i * 211 + round * 13) % 1455;
			b[i].len = sizes[i];
			make_frame(b[i].data, b[i].len, seq + (uint32_t)i);
		}
		ASSERT_EQ(vq_netdrv_tx_put(e.nd, 0, b, 8, 5), 5); /* 3 go back unsent */
		seq += 5;
		ASSERT_EQ(vq_netdrv_tx_inflight(e.nd, 0), 5);
		ASSERT_EQ(device_loop(&e), 5);
		while ((r = vq_netdrv_rx_burst(e.nd, 0, rx, 64)) > 0) {
			for (int k = 0; k < r; k++, rseq++)
				check_frame(&rx[k], sizes[rseq % 5], rseq);
			got += r;
			ASSERT_EQ(vq_netdrv_rx_done(e.nd, 0), 0);
		}
		ASSERT_EQ(got, 5);
	}
	ASSERT_EQ(vq_netdrv_get_stats(e.nd, 0, &st), 0);
	ASSERT_EQ(st.tx_packets, 100);
	ASSERT_EQ(st.rx_packets, 100);
}
TEST(tx_zerocopy_split) { g_layout = VQ_LAYOUT_SPLIT; zc_roundtrip(); }
TEST(tx_zerocopy_packed) { g_layout = VQ_LAYOUT_PACKED; zc_roundtrip(); g_layout = VQ_LAYOUT_SPLIT; }

TEST(tx_zerocopy_backpressure)
{
	static struct vq_netdrv_txbuf b[QSIZE + 8];
	struct env e;
	int n;

	env_init(&e, F_MRG, VQ_NETDRV_RX_AUTO, false);
	n = vq_netdrv_tx_get(e.nd, 0, b, QSIZE + 8);
	ASSERT_GE(n, QSIZE); /* every buffer lent */
	ASSERT_EQ(vq_netdrv_tx_get(e.nd, 0, b + n, 1), 0);
	for (int i = 0; i < n; i++) {
		b[i].len = 64;
		make_frame(b[i].data, 64, (uint32_t)i);
	}
	ASSERT_EQ(vq_netdrv_tx_put(e.nd, 0, b, (unsigned)n, (unsigned)n), QSIZE); /* the ring is full */
	ASSERT_EQ(vq_netdrv_tx_inflight(e.nd, 0), QSIZE);
	ASSERT_EQ(vq_netdrv_tx_get(e.nd, 0, b, 8), n - (int)QSIZE); /* the unqueued came back */
	ASSERT_EQ(vq_netdrv_tx_put(e.nd, 0, b, (unsigned)(n - (int)QSIZE), 0), 0);
	ASSERT_EQ(device_loop(&e), QSIZE);
	ASSERT_EQ(vq_netdrv_tx_get(e.nd, 0, b, QSIZE + 8), n); /* reclaimed */
	ASSERT_EQ(vq_netdrv_tx_put(e.nd, 0, b, (unsigned)n, 0), 0);
}

TEST(tx_zerocopy_rejects)
{
	struct vq_netdrv_txbuf b[4], x[2];
	struct env e;

	env_init(&e, F_MRG, VQ_NETDRV_RX_AUTO, false);
	ASSERT_EQ(vq_netdrv_tx_get(e.nd, 1, b, 4), -EINVAL); /* no pair 1 */
	ASSERT_EQ(vq_netdrv_tx_get(e.nd, 0, b, 4), 4);
	for (int i = 0; i < 4; i++) {
		b[i].len = 64;
		make_frame(b[i].data, 64, (uint32_t)i);
	}
	/* Not lent, out of range, twice: -EINVAL and nothing taken back. */
	x[0] = b[0];
	x[1] = b[0];
	ASSERT_EQ(vq_netdrv_tx_put(e.nd, 0, x, 2, 2), -EINVAL);
	x[1].id = 1u << 30;
	ASSERT_EQ(vq_netdrv_tx_put(e.nd, 0, x, 2, 2), -EINVAL);
	ASSERT_EQ(vq_netdrv_tx_put(e.nd, 1, b, 4, 4), -EINVAL);
	ASSERT_EQ(vq_netdrv_tx_inflight(e.nd, 0), 0);
	/* A bad length: the frames before it go, it and the rest come back. */
	b[2].len = 13;
	ASSERT_EQ(vq_netdrv_tx_put(e.nd, 0, b, 4, 4), 2);
	ASSERT_EQ(vq_netdrv_tx_put(e.nd, 0, b + 2, 2, 2), -EINVAL); /* no longer lent */
	ASSERT_EQ(device_loop(&e), 2);
	ASSERT_EQ(vq_netdrv_tx_get(e.nd, 0, b, 4), 4);
	b[0].len = b[0].room + 1;
	ASSERT_EQ(vq_netdrv_tx_put(e.nd, 0, b, 4, 4), -EINVAL);
	ASSERT_EQ(vq_netdrv_tx_inflight(e.nd, 0), 0);
	/* Lent across a detach: given back with -ENOTCONN, nothing queued. */
	ASSERT_EQ(vq_netdrv_tx_get(e.nd, 0, b, 4), 4);
	vq_net_set_queue(e.n, 1, NULL);
	ASSERT_EQ(vq_netdrv_set_queue(e.nd, 1, NULL), 0);
	ASSERT_EQ(vq_netdrv_tx_get(e.nd, 0, x, 1), -ENOTCONN);
	ASSERT_EQ(vq_netdrv_tx_put(e.nd, 0, b, 4, 4), -ENOTCONN);
	ASSERT_EQ(vq_netdrv_tx_put(e.nd, 0, b, 4, 4), -EINVAL); /* already back */
}

TEST(detach_reattach_reposts)
{
	struct env e;

	env_init(&e, F_MRG, VQ_NETDRV_RX_AUTO, false);
	ASSERT_EQ(vq_drv_nfree(e.drv[0]), 0);
	roundtrip(&e, sizes_mtu, 4, 1);
	/* Device side "goes away": detach reclaims every buffer, a fresh ring
	 * gets every buffer again. */
	vq_net_set_queue(e.n, 0, NULL);
	vq_net_set_queue(e.n, 1, NULL);
	ASSERT_EQ(vq_netdrv_set_queue(e.nd, 0, NULL), 0);
	ASSERT_EQ(vq_netdrv_set_queue(e.nd, 1, NULL), 0);
	vq_drv_free(e.drv[0]);
	vq_drv_free(e.drv[1]);
	vq_dev_free(e.dev[0]);
	vq_dev_free(e.dev[1]);
	ring(&e, 0);
	ring(&e, 1);
	ASSERT_EQ(vq_netdrv_set_queue(e.nd, 0, e.drv[0]), 0);
	ASSERT_EQ(vq_netdrv_set_queue(e.nd, 1, e.drv[1]), 0);
	ASSERT_EQ(vq_drv_nfree(e.drv[0]), 0);
	roundtrip(&e, sizes_all, 10, 2);
}

/* ---- control queue */

static atomic_bool ctrl_stop;

static void *ctrl_thread(void *arg)
{
	struct env *e = arg;

	while (!atomic_load(&ctrl_stop))
		vq_net_ctrl_poll(e->n);
	return NULL;
}

TEST(ctrl_set_pairs)
{
	struct env e;
	pthread_t t;

	env_init(&e, F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX), VQ_NETDRV_RX_AUTO, true);
	ASSERT_EQ(pthread_create(&t, NULL, ctrl_thread, &e), 0);
	/* CTRL_RX_PROMISC on: accepted.  MQ without MQ negotiated: refused. */
	uint8_t on = 1;

	ASSERT_EQ(vq_netdrv_ctrl(&*e.nd, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1,
				 2000), 0);
	ASSERT_EQ(vq_netdrv_set_pairs(e.nd, 1, 2000), -EREMOTEIO);
	atomic_store(&ctrl_stop, true);
	pthread_join(t, NULL);
	struct vq_net_rx_filter fl;

	vq_net_get_rx_filter(e.n, &fl);
	ASSERT_TRUE(fl.promisc);
}
