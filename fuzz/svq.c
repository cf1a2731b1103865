/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: IOVA translation and the shadow-virtqueue relay.
 *
 * A guest driver (vq_drv) posts buffers at fuzzed guest addresses over a
 * fuzzed guest memory map (regions may alias host memory, be read-only, be
 * removed and re-added); the SVQ relays them to a shadow ring in IOVA
 * space; a device (vq_dev over the IOVA view) serves them honestly, or
 * fuzzed bytes are written into the shadow ring (a hostile device) or into
 * the guest ring (a hostile guest).
 *
 * Input (fuzz/gen_corpus.c writes valid ones):
 *   u8 cfg      bit0 guest packed, bit1 shadow packed, bit2 guest INDIRECT,
 *               bit3 shadow INDIRECT, bit4 guest EVENT_IDX, bit5 shadow EVENT_IDX,
 *               bit6 notification moderation (coalesce 3; with bit7, 64)
 *   u8 sizes    guest size 1 << (1 + low nibble % 4), shadow 1 << (high nibble % 5)
 *   u8 nregions 1 + n % 4, then per region: u32 gpa, u16 host offset, u16 size, u8 prot
 *   ops         until the input ends, one u8 opcode each (see run_op;
 *               opcode 11 then 0xc5: vq_svq_cancel)
 *               (regions change one by one or through vq_iova_sync_guest)
 * Invariants:
 *   - a translation covers exactly the bytes the guest map gives, through
 *     the IOVA view (same host bytes, same order), or both fail;
 *   - an honest device never breaks the shadow ring;
 *   - the guest's driver never sees a bad used entry from the SVQ (unless
 *     the guest ring itself was scribbled on);
 *   - buffers in flight never exceed the guest ring's size.
 */
#include <errno.h>
#include <stdbool.h>

#include <virtq/iova.h>
#include <virtq/mem.h>
#include <virtq/ring.h>
#include <virtq/svq.h>

#include "fuzz.h"

#define GBUF    16384u
#define POOL    4096u  /* region 0: GPA 0, the guest's indirect tables */
#define MAX_REG 5u
#define MAX_OPS 400u

struct ctx {
	struct vq_mem *gmem, *dmem;
	struct vq_iova *iova;
	struct vq_drv *gdrv;
	struct vq_svq *svq;
	struct vq_dev *dev;
	struct vq_ring_layout glay, dlay;
	uint8_t *dring;                 /* shadow ring, host */
	struct vq_mem_region reg[MAX_REG];
	bool mapped[MAX_REG];
	unsigned nreg;
	uint32_t gsize;
	bool guest_hostile, dev_hostile, paused;
	uint8_t tokens[64];
	struct iovec iov[64];
};

static uint8_t guest[GBUF] __attribute__((aligned(4096)));
static uint8_t gring[65536] __attribute__((aligned(4096)));

static bool region_map(struct ctx *c, unsigned k)
{
	uint64_t iova;

	if (vq_mem_add(c->gmem, &c->reg[k]))
		return false;
	if (vq_iova_map_guest(c->iova, &c->reg[k], &iova)) {
		(void)vq_mem_remove(c->gmem, c->reg[k].gpa, c->reg[k].size);
		return false;
	}
	c->mapped[k] = true;
	return true;
}

static void region_unmap(struct ctx *c, unsigned k)
{
	FZ_CHECK(vq_iova_unmap_guest(c->iova, c->reg[k].gpa, c->reg[k].size) == 0, "unmap %u", k);
	FZ_CHECK(vq_mem_remove(c->gmem, c->reg[k].gpa, c->reg[k].size) == 0, "remove %u", k);
	c->mapped[k] = false;
}

/* The device's side of the shadow ring, over the IOVA view. */
static void device_new(struct ctx *c)
{
	struct vq_svq_ring r;
	struct vq_ring_params p;

	FZ_CHECK(vq_iova_to_mem(c->iova, c->dmem) == 0, "IOVA view");
	vq_svq_device_ring(c->svq, &r);
	FZ_CHECK(vq_ring_layout(r.layout, r.size, &c->dlay) == 0, "layout");
	p = (struct vq_ring_params){
		.layout = r.layout, .size = r.size, .features = r.features,
		.desc = vq_iova_host_ptr(c->iova, r.desc, c->dlay.desc_size, VQ_MEM_RW),
		.avail = vq_iova_host_ptr(c->iova, r.avail, c->dlay.avail_size, VQ_MEM_RW),
		.used = vq_iova_host_ptr(c->iova, r.used, c->dlay.used_size, VQ_MEM_RW),
	};
	FZ_CHECK(p.desc && p.avail && p.used, "shadow ring not in the host maps");
	c->dring = p.desc;
	if (vq_dev_new(&p, c->dmem, &c->dev))
		c->dev = NULL;
}

/* Translation through the IOVA maps lands on the same host bytes as the
 * guest map's, in the same order; or both refuse. */
static void check_translate(struct ctx *c, uint64_t gpa, uint32_t len, uint32_t prot)
{
	struct iovec g[16];
	struct vq_iova_seg s[16];
	int ng = vq_mem_translate(c->gmem, gpa, len, prot, g, 16);
	int ns = vq_iova_translate(c->iova, gpa, len, prot, s, 16);
	unsigned gi = 0;
	uint64_t goff = 0;

	if (ng == -ENOBUFS || ns == -ENOBUFS)
		return;
	FZ_CHECK((ng < 0) == (ns < 0), "gpa 0x%llx len %u: mem %d, iova %d",
		 (unsigned long long)gpa, len, ng, ns);
	if (ng < 0) {
		FZ_CHECK(ng == ns, "errors differ: %d vs %d", ng, ns);
		return;
	}
	for (int i = 0; i < ns; i++) {
		for (uint64_t off = 0; off < s[i].len;) {
			struct iovec d[4];
			int nd = vq_mem_translate(c->dmem, s[i].iova + off, s[i].len - off, prot,
						  d, 4);
			uint64_t n;

			if (nd == -ENOBUFS)  /* several maps: go one byte at a time */
				nd = vq_mem_translate(c->dmem, s[i].iova + off, 1, prot, d, 4);
			FZ_CHECK(nd >= 1, "iova 0x%llx not in the device view (%d)",
				 (unsigned long long)(s[i].iova + off), nd);
			n = d[0].iov_len;
			if (n > g[gi].iov_len - goff)
				n = g[gi].iov_len - goff;
			FZ_CHECK((uint8_t *)d[0].iov_base == (uint8_t *)g[gi].iov_base + goff,
				 "segment %d at +0x%llx: another host byte", i,
				 (unsigned long long)off);
			off += n;
			goff += n;
			if (goff == g[gi].iov_len)
				gi++, goff = 0;
		}
	}
	FZ_CHECK(gi == (unsigned)ng && goff == 0, "translation is short");
}

/* Guest driver: post a buffer at fuzzed addresses. */
static void op_add(struct ctx *c, struct fz *f)
{
	struct vq_seg sg[4];
	unsigned n = 1 + fz_u8(f) % 4, out = fz_u8(f) % (n + 1), t;

	for (unsigned i = 0; i < n; i++) {
		sg[i].addr = fz_u32(f) & 0xfffff;
		sg[i].len = 1 + fz_u16(f) % 4096;
	}
	for (t = 0; t < 64 && c->tokens[t]; t++)
		;
	if (t == 64 || (out == 0 && n == 0))
		return;
	if (vq_drv_add(c->gdrv, sg, out, n - out, &c->tokens[t]) == 0)
		c->tokens[t] = 1;
	(void)vq_drv_kick_prepare(c->gdrv);
}

/* Honest device: serve everything available with fuzzed lengths. */
static void op_device(struct ctx *c, struct fz *f)
{
	struct vq_elem e = { .iov = c->iov, .iov_cap = 64 };
	struct vq_svq_events ev = { 0 };

	if (!c->dev || vq_dev_is_broken(c->dev))
		return;
	while (vq_dev_pop(c->dev, &e) == 1) {
		uint32_t len = (uint32_t)(fz_u32(f) % (e.in_len + 1));

		for (uint32_t i = e.out_num; i < e.out_num + e.in_num; i++)
			memset(e.iov[i].iov_base, 0xd5, e.iov[i].iov_len);
		FZ_CHECK(vq_dev_push(c->dev, &e, len) == 0, "push");
		e = (struct vq_elem){ .iov = c->iov, .iov_cap = 64 };
	}
	vq_dev_flush(c->dev);
	if (vq_dev_need_notify(c->dev))
		(void)vq_svq_relay_used(c->svq, &ev);
}

static void op_collect(struct ctx *c)
{
	void *tok;
	uint32_t len;

	while (vq_drv_get(c->gdrv, &tok, &len) == 1)
		*(uint8_t *)tok = 0;
}

static void op_state(struct ctx *c)
{
	struct vq_state st;

	if (vq_svq_get_state(c->svq, &st) == 0)
		FZ_CHECK(vq_svq_set_state(c->svq, &st) == 0, "state round trip");
	else
		FZ_CHECK(vq_svq_inflight(c->svq) > 0, "get_state refused while drained");
}

static void op_region(struct ctx *c, struct fz *f)
{
	unsigned k = 1 + fz_u8(f) % (c->nreg - 1 ? c->nreg - 1 : 1);

	if (k >= c->nreg)
		return;
	if (fz_u8(f) & 1) {             /* through the guest map and a sync */
		if (c->mapped[k])
			c->mapped[k] = vq_mem_remove(c->gmem, c->reg[k].gpa, c->reg[k].size) != 0;
		else
			c->mapped[k] = vq_mem_add(c->gmem, &c->reg[k]) == 0;
		FZ_CHECK(vq_iova_sync_guest(c->iova, c->gmem) >= 0, "sync");
		FZ_CHECK(vq_iova_guest_count(c->iova) == vq_mem_count(c->gmem),
			 "%u guest maps for %u regions", vq_iova_guest_count(c->iova),
			 vq_mem_count(c->gmem));
	} else if (c->mapped[k]) {
		region_unmap(c, k);
	} else {
		(void)region_map(c, k);
	}
	FZ_CHECK(vq_iova_to_mem(c->iova, c->dmem) == 0, "IOVA view");
}

static void run_op(struct ctx *c, struct fz *f)
{
	struct vq_svq_events ev = { 0 };
	unsigned op = fz_u8(f) % 13;

	switch (op) {
	case 0: op_add(c, f); break;
	case 1: (void)vq_svq_relay_avail(c->svq, &ev); break;
	case 2: op_device(c, f); break;
	case 3: (void)vq_svq_relay_used(c->svq, &ev); break;
	case 4: { /* hostile guest: scribble on the guest ring */
		uint16_t off = fz_u16(f) % c->glay.total;
		gring[off] = fz_u8(f);
		c->guest_hostile = true;
		break;
	}
	case 5: { /* hostile device: scribble on the shadow ring */
		uint16_t off = fz_u16(f) % c->dlay.total;
		c->dring[off] = fz_u8(f);
		c->dev_hostile = true;
		break;
	}
	case 6: {
		uint64_t gpa = fz_u32(f) & 0xfffff;
		uint32_t len = fz_u16(f);
		check_translate(c, gpa, len, 1 + fz_u8(f) % 3);
		break;
	}
	case 7: c->paused = !c->paused; vq_svq_set_paused(c->svq, c->paused); break;
	case 8: op_state(c); break;
	case 9: op_region(c, f); break;
	case 10: op_collect(c); break;
	case 11: (void)vq_svq_relay(c->svq, &ev); break;
	default:
		if (fz_u8(f) == 0xc5) { /* the device stops: every buffer goes back */
			(void)vq_svq_cancel(c->svq, &ev);
			FZ_CHECK(vq_svq_inflight(c->svq) == 0, "in flight after cancel");
			FZ_CHECK(vq_svq_relay_avail(c->svq, &ev) == -EIO, "relay after cancel");
		} else if (c->dev) {
			vq_dev_enable_notify(c->dev);
		}
		break;
	}
}

static bool setup(struct ctx *c, struct fz *f)
{
	struct vq_iova_params ip = { .base = 0x10000, .size = 1ull << 36 };
	uint8_t cfg = fz_u8(f), sizes = fz_u8(f);
	enum vq_layout gl = cfg & 1 ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
	uint64_t gf = VQ_F_VERSION_1 | (cfg & 4 ? VQ_F_INDIRECT : 0) | (cfg & 16 ? VQ_F_EVENT_IDX : 0);
	struct vq_drv_params dp = { 0 };
	struct vq_svq_params sp = { 0 };

	c->gsize = 1u << (1 + (sizes & 15) % 4);
	if (vq_mem_new(&c->gmem) || vq_mem_new(&c->dmem) || vq_iova_new(&ip, &c->iova))
		return false;
	c->reg[0] = (struct vq_mem_region){ .gpa = 0, .size = POOL, .hva = guest,
					    .prot = VQ_MEM_RW };
	c->nreg = 1 + 1 + fz_u8(f) % 4;
	for (unsigned k = 1; k < c->nreg; k++) {
		uint32_t gpa = fz_u32(f) & 0xfffff, off = POOL + fz_u16(f) % (GBUF - POOL);
		uint32_t size = 1 + fz_u16(f) % (GBUF - off);

		c->reg[k] = (struct vq_mem_region){ .gpa = gpa, .size = size, .hva = guest + off,
						    .prot = 1 + fz_u8(f) % 3 };
	}
	for (unsigned k = 0; k < c->nreg; k++)
		(void)region_map(c, k);
	FZ_CHECK(vq_ring_layout(gl, c->gsize, &c->glay) == 0, "guest layout");
	memset(gring, 0, c->glay.total);
	dp.ring = (struct vq_ring_params){ .layout = gl, .size = c->gsize, .features = gf,
		.desc = gring + c->glay.desc_off, .avail = gring + c->glay.avail_off,
		.used = gring + c->glay.used_off };
	if (gf & VQ_F_INDIRECT) {
		dp.indirect = guest;
		dp.indirect_gpa = 0;
		dp.indirect_tables = 8;
		dp.indirect_len = 8;
	}
	if (vq_drv_new(&dp, &c->gdrv))
		return false;
	sp.guest = dp.ring;
	sp.guest_mem = c->gmem;
	sp.iova = c->iova;
	sp.dev_layout = cfg & 2 ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT;
	sp.dev_size = 1u << ((sizes >> 4) % 5);
	sp.dev_features = VQ_F_VERSION_1 | (cfg & 8 ? VQ_F_INDIRECT : 0) |
			  (cfg & 32 ? VQ_F_EVENT_IDX : 0);
	/* Notification moderation: the event indexes ahead, against either
	 * side's hostile rings (vq_svq_relay, op 11). */
	sp.coalesce = cfg & 64 ? (cfg & 128 ? 64 : 3) : 0;
	if (vq_svq_new(&sp, &c->svq))
		return false;
	device_new(c);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctx c;
	struct fz f = { data, size };

	memset(&c, 0, sizeof(c));
	memset(guest, 0, sizeof(guest));
	if (setup(&c, &f)) {
		for (unsigned i = 0; i < MAX_OPS && fz_left(&f); i++) {
			run_op(&c, &f);
			FZ_CHECK(vq_svq_inflight(c.svq) <= c.gsize, "%u in flight on a ring of %u",
				 vq_svq_inflight(c.svq), c.gsize);
			FZ_CHECK(c.dev_hostile || !vq_svq_device_is_broken(c.svq),
				 "an honest device broke the shadow ring: %s", vq_svq_error(c.svq));
			FZ_CHECK(c.guest_hostile || !vq_drv_is_broken(c.gdrv),
				 "the SVQ gave the guest a bad used entry: %s", vq_drv_error(c.gdrv));
		}
	}
	vq_dev_free(c.dev);
	vq_svq_free(c.svq);
	vq_drv_free(c.gdrv);
	vq_iova_free(c.iova);
	vq_mem_free(c.gmem);
	vq_mem_free(c.dmem);
	return 0;
}
