/* SPDX-License-Identifier: MIT */
/*
 * virtq-hostile fe: a frontend that breaks the rules, one case per run.
 *
 * Ring cases: a valid setup (negotiation, one memfd region shared with
 * gpa == uaddr == our address, every vring with kick/call/err eventfds,
 * enabled), then a bad chain in the device-read queue (net: tx = vring 1;
 * blk: vring 0) and a kick.  Expected: the error eventfd is signalled and
 * the used ring is untouched (the bad chain was not consumed as valid).
 *
 * Protocol cases: a bad message at some stage of the handshake.  Expected:
 * the connection closed (no reply possible), an error ack (need_reply), or
 * an empty GET_* reply; after an ack the connection must still answer.
 *
 * Either way, "HOSTILE-ACTIVE" on stdout marks the moment the violation is
 * in effect; the connection then stays open --hold-ms before we close it, so
 * the caller can measure the other ports meanwhile.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <virtq/ring.h>

#include "hostile.h"
#include "ring/ring_wire.h"

#define MEM_SIZE  (4u << 20)
#define QSIZE     256u
#define QOFF(i)   (0x10000u * (i))
#define TABLE_OFF 0x80000u
#define TABLE2_OFF 0x90000u
#define BUF_OFF   0x100000u

struct fe {
	const struct hopts *o;
	int fd, memfd;
	uint8_t *mem;
	bool packed;
	unsigned nq, target;
	int kick[2], call[2], err[2];
	uint64_t features, pfeatures;
};

static uint64_t gpa(const struct fe *f, uint32_t off)
{
	return (uint64_t)(uintptr_t)(f->mem + off);
}

/* ---- a valid setup */

static int fe_mem(struct fe *f)
{
	f->memfd = memfd_create("virtq-hostile", MFD_CLOEXEC);
	if (f->memfd < 0 || ftruncate(f->memfd, MEM_SIZE))
		return -errno;
	f->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	return f->mem == MAP_FAILED ? -errno : 0;
}

static int ack_ok(struct fe *f, uint32_t req, const void *p, uint32_t size, const int *fds,
		  unsigned nfds)
{
	uint64_t a = ~0ull;
	int r = vuc_ack(f->fd, req, p, size, fds, nfds, &a);

	if (r)
		return r;
	return a ? -EREMOTEIO : 0;
}

static int fe_hello(struct fe *f, uint64_t want)
{
	uint64_t feat, pf, mypf;
	int r;

	if ((r = vuc_send(f->fd, VUC_SET_OWNER, VUC_V1, NULL, 0, NULL, 0)) ||
	    (r = vuc_get_u64(f->fd, VUC_GET_FEATURES, &feat)) ||
	    (r = vuc_get_u64(f->fd, VUC_GET_PROTOCOL_FEATURES, &pf)))
		return r;
	if (!(feat & VUC_F_PROTOCOL_FEATURES) || !(pf & VUC_PF_REPLY_ACK))
		return -EOPNOTSUPP;
	mypf = pf & (VUC_PF_REPLY_ACK | VUC_PF_MQ | VUC_PF_CONFIG | VUC_PF_STATUS);
	if ((r = vuc_send(f->fd, VUC_SET_PROTOCOL_FEATURES, VUC_V1, &mypf, 8, NULL, 0)))
		return r;
	f->pfeatures = mypf;
	if ((want & feat) != want)
		return -EOPNOTSUPP;
	f->features = want | VUC_F_PROTOCOL_FEATURES;
	return ack_ok(f, VUC_SET_FEATURES, &f->features, 8, NULL, 0);
}

static int fe_memtable(struct fe *f)
{
	struct vuc_memtab t = { .n = 1, .r[0] = { gpa(f, 0), MEM_SIZE, gpa(f, 0), 0 } };

	return ack_ok(f, VUC_SET_MEM_TABLE, &t, 8 + 32, &f->memfd, 1);
}

static int fe_vring(struct fe *f, unsigned i)
{
	struct vuc_state s = { i, QSIZE };
	struct vuc_addr a = { i, 0, gpa(f, QOFF(i)), gpa(f, QOFF(i) + 0x2000),
			      gpa(f, QOFF(i) + 0x1000), 0 };
	uint64_t u = i;
	int r;

	f->kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->err[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->kick[i] < 0 || f->call[i] < 0 || f->err[i] < 0)
		return -errno;
	if ((r = ack_ok(f, VUC_SET_VRING_NUM, &s, sizeof(s), NULL, 0)))
		return r;
	s.num = f->packed ? 0x80008000u : 0; /* packed: both wrap counters 1 */
	if ((r = ack_ok(f, VUC_SET_VRING_BASE, &s, sizeof(s), NULL, 0)) ||
	    (r = ack_ok(f, VUC_SET_VRING_ADDR, &a, sizeof(a), NULL, 0)) ||
	    (r = ack_ok(f, VUC_SET_VRING_CALL, &u, 8, &f->call[i], 1)) ||
	    (r = ack_ok(f, VUC_SET_VRING_ERR, &u, 8, &f->err[i], 1)) ||
	    (r = ack_ok(f, VUC_SET_VRING_KICK, &u, 8, &f->kick[i], 1)))
		return r;
	s = (struct vuc_state){ i, 1 };
	return ack_ok(f, VUC_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0);
}

static int fe_setup(struct fe *f, uint64_t want)
{
	uint64_t status = 0xf; /* ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK */
	int r;

	if ((r = fe_hello(f, want)) || (r = fe_memtable(f)))
		return r;
	for (unsigned i = 0; i < f->nq; i++)
		if ((r = fe_vring(f, i)))
			return r;
	/* As QEMU does; DPDK's vhost starts the device only on DRIVER_OK. */
	if (f->pfeatures & VUC_PF_STATUS)
		r = ack_ok(f, VUC_SET_STATUS, &status, 8, NULL, 0);
	return r;
}

/* ---- ring cases: write a bad chain into the target queue */

static struct vring_desc *sd(struct fe *f)
{
	return (struct vring_desc *)(f->mem + QOFF(f->target));
}

static uint16_t *savail(struct fe *f)
{
	return (uint16_t *)(f->mem + QOFF(f->target) + 0x1000);
}

static uint16_t *sused(struct fe *f)
{
	return (uint16_t *)(f->mem + QOFF(f->target) + 0x2000);
}

static struct vring_packed_desc *pd(struct fe *f)
{
	return (struct vring_packed_desc *)(f->mem + QOFF(f->target));
}

static struct vring_desc *table(struct fe *f, uint32_t off)
{
	return (struct vring_desc *)(f->mem + off);
}

/* Publish head at avail slot 0 and set avail idx (release: pairs with the
 * device's acquire load of avail idx). */
static void split_publish(struct fe *f, uint16_t head, uint16_t idx)
{
	savail(f)[2] = head;
	__atomic_store_n(&savail(f)[1], idx, __ATOMIC_RELEASE);
}

/* Store the head's flags last (release: pairs with the device's acquire
 * load of the head flags). */
static void packed_publish(struct fe *f, uint16_t flags)
{
	__atomic_store_n(&pd(f)[0].flags, flags, __ATOMIC_RELEASE);
}

static void r_loop(struct fe *f)
{
	sd(f)[0] = (struct vring_desc){ gpa(f, BUF_OFF), 64, VRING_DESC_F_NEXT, 1 };
	sd(f)[1] = (struct vring_desc){ gpa(f, BUF_OFF), 64, VRING_DESC_F_NEXT, 0 };
	split_publish(f, 0, 1);
}

static void r_head_range(struct fe *f)
{
	split_publish(f, 300, 1);
}

static void r_next_range(struct fe *f)
{
	sd(f)[0] = (struct vring_desc){ gpa(f, BUF_OFF), 64, VRING_DESC_F_NEXT, 999 };
	split_publish(f, 0, 1);
}

/* An indirect table of 300 chained descriptors: more than the queue size. */
static void r_chain_long(struct fe *f)
{
	for (uint16_t i = 0; i < 300; i++)
		table(f, TABLE_OFF)[i] = (struct vring_desc){ gpa(f, BUF_OFF), 16,
							 i < 299 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1) };
	sd(f)[0] = (struct vring_desc){ gpa(f, TABLE_OFF), 300 * 16, VRING_DESC_F_INDIRECT, 0 };
	split_publish(f, 0, 1);
}

static void r_nested(struct fe *f)
{
	table(f, TABLE2_OFF)[0] = (struct vring_desc){ gpa(f, BUF_OFF), 64, 0, 0 };
	table(f, TABLE_OFF)[0] = (struct vring_desc){ gpa(f, TABLE2_OFF), 16, VRING_DESC_F_INDIRECT, 0 };
	sd(f)[0] = (struct vring_desc){ gpa(f, TABLE_OFF), 16, VRING_DESC_F_INDIRECT, 0 };
	split_publish(f, 0, 1);
}

static void r_indirect_len(struct fe *f)
{
	sd(f)[0] = (struct vring_desc){ gpa(f, TABLE_OFF), 17, VRING_DESC_F_INDIRECT, 0 };
	split_publish(f, 0, 1);
}

static void r_unmapped(struct fe *f)
{
	sd(f)[0] = (struct vring_desc){ 0x1000, 64, 0, 0 }; /* far below our mapping */
	split_publish(f, 0, 1);
}

static void r_beyond_end(struct fe *f)
{
	/* Starts inside the region, ends 4 KiB past it. */
	sd(f)[0] = (struct vring_desc){ gpa(f, MEM_SIZE - 0x1000), 0x2000, 0, 0 };
	split_publish(f, 0, 1);
}

static void r_overflow(struct fe *f)
{
	sd(f)[0] = (struct vring_desc){ UINT64_MAX - 15, 64, 0, 0 };
	split_publish(f, 0, 1);
}

static void r_read_after_write(struct fe *f)
{
	sd(f)[0] = (struct vring_desc){ gpa(f, BUF_OFF), 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1 };
	sd(f)[1] = (struct vring_desc){ gpa(f, BUF_OFF + 64), 64, 0, 0 };
	split_publish(f, 0, 1);
}

static void r_avail_jump(struct fe *f)
{
	split_publish(f, 0, 1000);
}

static void p_wrap_head(struct fe *f)
{
	pd(f)[0] = (struct vring_packed_desc){ gpa(f, BUF_OFF), 64, 0, 0 };
	packed_publish(f, VQ__DESC_F_AVAIL | VQ__DESC_F_USED);
}

static void p_wrap_chain(struct fe *f)
{
	pd(f)[1] = (struct vring_packed_desc){ gpa(f, BUF_OFF), 64, 0, 0 }; /* not available */
	pd(f)[0] = (struct vring_packed_desc){ gpa(f, BUF_OFF), 64, 0, 0 };
	packed_publish(f, VQ__DESC_F_AVAIL | VRING_DESC_F_NEXT);
}

static void p_id_range(struct fe *f)
{
	pd(f)[0] = (struct vring_packed_desc){ gpa(f, BUF_OFF), 64, 999, 0 };
	packed_publish(f, VQ__DESC_F_AVAIL);
}

static void p_chain_long(struct fe *f)
{
	struct vring_packed_desc *t = (struct vring_packed_desc *)(f->mem + TABLE_OFF);

	for (unsigned i = 0; i < 300; i++)
		t[i] = (struct vring_packed_desc){ gpa(f, BUF_OFF), 16, 0, 0 };
	pd(f)[0] = (struct vring_packed_desc){ gpa(f, TABLE_OFF), 300 * 16, 0, 0 };
	packed_publish(f, VQ__DESC_F_AVAIL | VRING_DESC_F_INDIRECT);
}

static void p_nested(struct fe *f)
{
	struct vring_packed_desc *t = (struct vring_packed_desc *)(f->mem + TABLE_OFF);

	t[0] = (struct vring_packed_desc){ gpa(f, TABLE2_OFF), 16, 0, VRING_DESC_F_INDIRECT };
	pd(f)[0] = (struct vring_packed_desc){ gpa(f, TABLE_OFF), 16, 0, 0 };
	packed_publish(f, VQ__DESC_F_AVAIL | VRING_DESC_F_INDIRECT);
}

struct ring_case {
	const char *name;
	const char *log; /* vq_violation_str() of the expected violation */
	bool packed;
	void (*write)(struct fe *f);
};

static const struct ring_case ring_cases[] = {
	{ "desc-loop", "descriptor loop", false, r_loop },
	{ "head-range", "head index out of range", false, r_head_range },
	{ "next-range", "next index out of range", false, r_next_range },
	{ "chain-too-long", "chain longer than its limit", false, r_chain_long },
	{ "nested-indirect", "nested indirect descriptor", false, r_nested },
	{ "indirect-len", "indirect table length zero or not a multiple of 16", false, r_indirect_len },
	{ "addr-unmapped", "address outside guest memory", false, r_unmapped },
	{ "addr-beyond-region", "address outside guest memory", false, r_beyond_end },
	{ "addr-overflow", "address + length overflows", false, r_overflow },
	{ "read-after-write", "readable descriptor after a writable one", false, r_read_after_write },
	{ "avail-idx-jump", "avail idx more than queue size ahead", false, r_avail_jump },
	{ "packed-wrap-head", "packed descriptor flags inconsistent with wrap counter", true, p_wrap_head },
	{ "packed-wrap-chain", "packed descriptor flags inconsistent with wrap counter", true, p_wrap_chain },
	{ "packed-id-range", "packed buffer id out of range", true, p_id_range },
	{ "packed-chain-too-long", "chain longer than its limit", true, p_chain_long },
	{ "packed-nested-indirect", "nested indirect descriptor", true, p_nested },
};

static void active(const struct fe *f, const char *what)
{
	HLOG("%s: %s", f->o->name, what);
	printf("HOSTILE-ACTIVE %s\n", f->o->name);
	fflush(stdout);
}

static int wait_err(struct fe *f, int ms)
{
	struct pollfd pf = { .fd = f->err[f->target], .events = POLLIN };
	uint64_t v;

	if (poll(&pf, 1, ms) != 1 || read(f->err[f->target], &v, 8) != 8)
		return -ETIMEDOUT;
	return 0;
}

static int run_ring(struct fe *f, const struct ring_case *c)
{
	uint64_t one = 1, want = VQ_F_VERSION_1 | VQ_F_INDIRECT | (c->packed ? VQ_F_PACKED : 0);
	struct vring_packed_desc before;
	int r;

	f->packed = c->packed;
	if ((r = fe_setup(f, want))) {
		HLOG("%s: setup failed: %s", c->name, strerror(-r));
		return 3;
	}
	c->write(f);
	before = pd(f)[0];
	if (write(f->kick[f->target], &one, 8) != 8)
		return 3;
	if (wait_err(f, 5000)) {
		HLOG("%s: the error eventfd of vring %u was not signalled within 5 s", c->name,
		     f->target);
		return 1;
	}
	if (!c->packed && __atomic_load_n(&sused(f)[1], __ATOMIC_ACQUIRE) != 0) {
		HLOG("%s: the device consumed the bad chain (used idx %u)", c->name, sused(f)[1]);
		return 1;
	}
	if (c->packed && memcmp(&before, &pd(f)[0], sizeof(before))) {
		HLOG("%s: the device wrote the bad descriptor back as used", c->name);
		return 1;
	}
	active(f, "error eventfd signalled, used ring untouched");
	hostile_sleep_ms(f->o->hold_ms);
	return 0;
}

/* ---- the race case: descriptors rewritten while the device reads them */

#define RACE_CHAINS 64u
#define RACE_BAD_ADDR 0x1000ull     /* below our mapping: unmapped */
#define RACE_BAD_LEN 0x10000000u    /* from a valid address: past the region */
#define RACE_MS 2000

struct race {
	struct fe *f;
	unsigned per;          /* descriptors per chain */
	unsigned victim;       /* which of them the racer rewrites */
	_Atomic bool stop;
	uint64_t flips;
};

/* Chain i: net, one descriptor (a 12-byte header and a 64-byte frame to
 * and from our own MAC, which the switch drops as a hairpin); blk, three
 * (an IN header for sector 0, 512 writable bytes, the status byte), the
 * data descriptor being the victim. */
static uint64_t race_good_addr(const struct race *x, unsigned i)
{
	return gpa(x->f, BUF_OFF + i * 1024u + (x->per == 1 ? 0 : 64));
}

static uint32_t race_good_len(const struct race *x)
{
	return x->per == 1 ? 12 + 64 : 512;
}

static void race_build(struct race *x)
{
	static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x68 };
	struct vring_desc *d = sd(x->f);

	for (unsigned i = 0; i < RACE_CHAINS; i++) {
		uint8_t *b = x->f->mem + BUF_OFF + i * 1024u;
		uint16_t h = (uint16_t)(i * x->per);

		memset(b, 0, 1024);
		if (x->per == 1) {
			memcpy(b + 12, mac, 6);
			memcpy(b + 18, mac, 6);
			b[24] = 0x88;
			b[25] = 0xb5;
			d[h] = (struct vring_desc){ race_good_addr(x, i), race_good_len(x), 0, 0 };
			continue;
		}
		d[h] = (struct vring_desc){ gpa(x->f, BUF_OFF + i * 1024u), 16, VRING_DESC_F_NEXT, (uint16_t)(h + 1) };
		d[h + 1] = (struct vring_desc){ race_good_addr(x, i), 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, (uint16_t)(h + 2) };
		d[h + 2] = (struct vring_desc){ gpa(x->f, BUF_OFF + i * 1024u + 600), 1, VRING_DESC_F_WRITE, 0 };
	}
}

static void race_spin(int n)
{
	for (int k = 0; k < n; k++)
		vq_cpu_relax();
	/* Pairs with nothing: it only drains our store buffer, so that the
	 * state just stored is what the device can see while we spin. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* The racer: every chain's victim descriptor goes bad for a moment (address
 * unmapped, then a length past the region) and back, over and over; most
 * of the time it is valid, so that many chains are read while it moves. */
static void *racer(void *arg)
{
	struct race *x = arg;
	struct vring_desc *d = sd(x->f);

	while (!atomic_load_explicit(&x->stop, memory_order_relaxed)) {
		/* How long each intermediate state is held grows from nothing:
		 * back-to-back stores to one cache line are almost never seen in
		 * between, so first the device reads many chains while they
		 * move, and later it is sure to catch a bad moment. */
		int hold = (int)(x->flips / 512);

		for (unsigned i = 0; i < RACE_CHAINS; i++) {
			struct vring_desc *v = &d[i * x->per + x->victim];

			__atomic_store_n(&v->addr, RACE_BAD_ADDR, __ATOMIC_RELAXED);
			race_spin(hold);
			__atomic_store_n(&v->len, RACE_BAD_LEN, __ATOMIC_RELAXED);
			race_spin(hold);
			__atomic_store_n(&v->addr, race_good_addr(x, i), __ATOMIC_RELAXED);
			race_spin(hold);
			__atomic_store_n(&v->len, race_good_len(x), __ATOMIC_RELAXED);
			race_spin(64);
		}
		x->flips++;
	}
	return NULL;
}

static bool err_signalled(struct fe *f)
{
	uint64_t v;

	return read(f->err[f->target], &v, 8) == 8;
}

/*
 * Keep every chain available (republished as soon as the device uses it,
 * one kick per pass) while the racer rewrites them, until the device
 * reports a violation on the error eventfd or RACE_MS pass.  A used entry
 * must name a chain in flight.  When the device never caught a bad moment,
 * the racer stops and one chain is left bad for good: the device must
 * still refuse it.  Either way the log names an address outside memory.
 */
static int run_race(struct fe *f)
{
	struct race x = { .f = f, .per = f->o->dev == HDEV_NET ? 1 : 3 };
	uint64_t one = 1, end;
	uint16_t aidx = 0, uidx = 0, *avail = savail(f);
	uint32_t *used = (uint32_t *)(sused(f) + 2);
	bool infl[RACE_CHAINS] = { false }, caught = false;
	unsigned consumed = 0;
	pthread_t t;
	int r;

	x.victim = x.per == 1 ? 0 : 1;
	if ((r = fe_setup(f, VQ_F_VERSION_1))) {
		HLOG("desc-race: setup failed: %s", strerror(-r));
		return 3;
	}
	race_build(&x);
	if (pthread_create(&t, NULL, racer, &x))
		return 3;
	end = vqt_now_ms() + RACE_MS;
	while (!caught && vqt_now_ms() < end) {
		uint16_t u = __atomic_load_n(&sused(f)[1], __ATOMIC_ACQUIRE);

		for (; uidx != u; uidx++) {
			uint32_t id = used[2 * (uidx % QSIZE)];

			if (id % x.per || id / x.per >= RACE_CHAINS || !infl[id / x.per]) {
				atomic_store(&x.stop, true);
				pthread_join(t, NULL);
				HLOG("desc-race: used id %u is not a chain in flight", id);
				return 1;
			}
			infl[id / x.per] = false;
			consumed++;
		}
		for (unsigned i = 0; i < RACE_CHAINS; i++)
			if (!infl[i]) {
				avail[2 + aidx % QSIZE] = (uint16_t)(i * x.per);
				aidx++;
				infl[i] = true;
			}
		__atomic_store_n(&avail[1], aidx, __ATOMIC_RELEASE);
		if (write(f->kick[f->target], &one, 8) != 8)
			break;
		caught = err_signalled(f);
	}
	atomic_store(&x.stop, true);
	pthread_join(t, NULL);
	HLOG("desc-race: %u chains used while the racer rewrote them (%llu passes); %s", consumed,
	     (unsigned long long)x.flips,
	     caught ? "the device caught a bad moment" : "no bad moment caught: one chain left bad");
	if (!caught) {
		/* Take back what the device used, then publish one used chain
		 * again with its victim bad for good. */
		hostile_sleep_ms(100);
		for (uint16_t u = __atomic_load_n(&sused(f)[1], __ATOMIC_ACQUIRE); uidx != u; uidx++)
			infl[used[2 * (uidx % QSIZE)] / x.per % RACE_CHAINS] = false;
		unsigned i = 0;

		while (i < RACE_CHAINS && infl[i])
			i++;
		if (i == RACE_CHAINS) {
			HLOG("desc-race: the device used none of the %u chains", RACE_CHAINS);
			return 1;
		}
		sd(f)[i * x.per + x.victim].addr = RACE_BAD_ADDR;
		avail[2 + aidx % QSIZE] = (uint16_t)(i * x.per);
		__atomic_store_n(&avail[1], (uint16_t)(aidx + 1), __ATOMIC_RELEASE);
		if (write(f->kick[f->target], &one, 8) != 8 || wait_err(f, 5000)) {
			HLOG("desc-race: the error eventfd of vring %u was not signalled", f->target);
			return 1;
		}
	}
	active(f, caught ? "a bad moment was caught" : "the bad chain was refused");
	hostile_sleep_ms(f->o->hold_ms);
	return 0;
}

/* ---- the shrink case: the memory file truncated under traffic */

/* Packed: the race's chains (net: one descriptor; blk: three), in ring
 * order, buffer id = chain index, heads stored last. */
static void shrink_build_packed(struct race *x)
{
	struct vring_desc *s = sd(x->f);
	struct vring_desc tmp[RACE_CHAINS * 3];
	struct vring_packed_desc *d = pd(x->f);
	unsigned n = RACE_CHAINS * x->per;

	race_build(x); /* the split form, in the same memory: then converted */
	memcpy(tmp, s, n * sizeof(*s));
	for (unsigned k = 0; k < n; k++) {
		uint16_t fl = VQ__DESC_F_AVAIL | (tmp[k].flags & (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE));

		d[k] = (struct vring_packed_desc){ tmp[k].addr, tmp[k].len, (uint16_t)(k / x->per),
				       k % x->per ? fl : 0 };
	}
	for (unsigned i = 0; i < RACE_CHAINS; i++) {
		unsigned h = i * x->per;

		__atomic_store_n(&d[h].flags, VQ__DESC_F_AVAIL | (tmp[h].flags & (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE)),
				 __ATOMIC_RELEASE); /* pairs with the device's acquire */
	}
}

static bool shrink_some_used(struct fe *f, bool packed)
{
	if (packed)
		return __atomic_load_n(&pd(f)[0].flags, __ATOMIC_ACQUIRE) & VQ__DESC_F_USED;
	return __atomic_load_n(&sused(f)[1], __ATOMIC_ACQUIRE) != 0;
}

/*
 * Chains in flight on the target queue (the device consumes them), then the
 * memfd is cut to 4 KiB, below every ring, and kicked again.  Unguarded,
 * the daemon dies of SIGBUS; expected: the connection is closed.  After the
 * truncation we touch none of our mapping (it would fault here too).
 */
static int run_shrink(struct fe *f, bool packed)
{
	struct race x = { .f = f, .per = f->o->dev == HDEV_NET ? 1 : 3 };
	uint64_t one = 1, end;
	uint16_t *avail = savail(f);

	x.victim = x.per == 1 ? 0 : 1;
	f->packed = packed;
	if (fe_setup(f, VQ_F_VERSION_1 | (packed ? VQ_F_PACKED : 0))) {
		HLOG("%s: setup failed", f->o->name);
		return 3;
	}
	if (packed) {
		shrink_build_packed(&x);
	} else {
		race_build(&x);
		for (unsigned i = 0; i < RACE_CHAINS; i++)
			avail[2 + i] = (uint16_t)(i * x.per);
		__atomic_store_n(&avail[1], (uint16_t)RACE_CHAINS, __ATOMIC_RELEASE);
	}
	if (write(f->kick[f->target], &one, 8) != 8)
		return 3;
	for (end = vqt_now_ms() + 5000; !shrink_some_used(f, packed) && vqt_now_ms() < end;)
		hostile_sleep_ms(1);
	if (!shrink_some_used(f, packed)) {
		HLOG("%s: the device used no chain before the truncation", f->o->name);
		return 3;
	}
	if (ftruncate(f->memfd, 4096) < 0)
		return 3;
	for (int k = 0; k < 10 && write(f->kick[f->target], &one, 8) == 8; k++)
		hostile_sleep_ms(1);
	if (!vuc_closed(f->fd, 5000)) {
		HLOG("%s: the connection was not closed within 5 s", f->o->name);
		return 1;
	}
	active(f, "memory file cut to 4 KiB under traffic: connection closed");
	hostile_sleep_ms(f->o->hold_ms);
	return 0;
}

/* ---- resource cases: fds, memory and connections, under traffic */

/* Split chains kept available on the target queue (republished as the
 * device uses them, one kick per pass) by a thread, until stop. */
struct flow {
	struct race x;
	pthread_t t;
	_Atomic bool stop;
	bool running;
	atomic_uint consumed;
	uint16_t aidx, uidx;
	bool infl[RACE_CHAINS];
};

static void flow_pass(struct flow *w)
{
	struct fe *f = w->x.f;
	uint16_t *avail = savail(f), u = __atomic_load_n(&sused(f)[1], __ATOMIC_ACQUIRE);
	uint32_t *used = (uint32_t *)(sused(f) + 2);
	uint64_t one = 1;

	for (; w->uidx != u; w->uidx++) {
		uint32_t id = used[2 * (w->uidx % QSIZE)] / w->x.per;

		if (id < RACE_CHAINS && w->infl[id]) {
			w->infl[id] = false;
			atomic_fetch_add(&w->consumed, 1);
		}
	}
	for (unsigned i = 0; i < RACE_CHAINS; i++)
		if (!w->infl[i]) {
			avail[2 + w->aidx % QSIZE] = (uint16_t)(i * w->x.per);
			w->aidx++;
			w->infl[i] = true;
		}
	/* Release: pairs with the device's acquire load of avail idx. */
	__atomic_store_n(&avail[1], w->aidx, __ATOMIC_RELEASE);
	if (write(f->kick[f->target], &one, 8) < 0 && errno != EAGAIN)
		return;
}

static void *flow_main(void *arg)
{
	struct flow *w = arg;

	while (!atomic_load(&w->stop)) {
		flow_pass(w);
		hostile_sleep_ms(1);
	}
	return NULL;
}

static int flow_start(struct fe *f, struct flow *w)
{
	memset(w, 0, sizeof(*w));
	w->x = (struct race){ .f = f, .per = f->o->dev == HDEV_NET ? 1 : 3 };
	w->x.victim = w->x.per == 1 ? 0 : 1;
	race_build(&w->x);
	if (pthread_create(&w->t, NULL, flow_main, w))
		return -EAGAIN;
	w->running = true;
	return 0;
}

static void flow_stop(struct flow *w)
{
	atomic_store(&w->stop, true);
	if (w->running)
		pthread_join(w->t, NULL);
	w->running = false;
}

/* Chains the device used within ms of flowing. */
static unsigned flow_for(struct flow *w, int ms)
{
	unsigned c0 = atomic_load(&w->consumed);

	hostile_sleep_ms(ms);
	return atomic_load(&w->consumed) - c0;
}

static int res_answers(struct fe *f, const char *what)
{
	uint64_t v;
	int r = vuc_get_u64(f->fd, VUC_GET_FEATURES, &v);

	if (r)
		HLOG("%s: %s, then GET_FEATURES failed: %s", f->o->name, what, strerror(-r));
	return r ? 1 : 0;
}

/* 64 more connections to the port while ours runs traffic. */
static int res_many_conns(struct fe *f, struct flow *w)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fds[64], refused = 0;
	unsigned used;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->o->path);
	for (int i = 0; i < 64; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fds[i] >= 0 && connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
			refused++;
	}
	used = flow_for(w, 500);
	HLOG("%s: 64 more connections (%d refused at once); %u chains used meanwhile",
	     f->o->name, refused, used);
	for (int i = 0; i < 64; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return used ? res_answers(f, "many connections") : 1;
}

/* 200 SET_MEM_TABLE (the same memory) while the device uses chains. */
static int res_mem_storm(struct fe *f, struct flow *w)
{
	unsigned c0 = atomic_load(&w->consumed), used;
	int r = 0, n;

	for (n = 0; n < 200 && !r; n++)
		r = fe_memtable(f);
	used = atomic_load(&w->consumed) - c0 + flow_for(w, 300);
	HLOG("%s: %d memory tables acked (%s); %u chains used during and after", f->o->name,
	     n - (r != 0), r ? strerror(-r) : "all", used);
	return r || !used ? 1 : res_answers(f, "memory-table storm");
}

/* The queue's call fd: blocking, its counter one short of the maximum: the
 * device's next write to it blocks.  Expected: the watchdog wakes the
 * worker and the connection is closed. */
static int res_call_full(struct fe *f, struct flow *w)
{
	uint64_t u = f->target, big = 0xfffffffffffffffeull;
	int fd = eventfd(0, EFD_CLOEXEC), r;
	unsigned used;

	if (fd < 0 || write(fd, &big, 8) != 8)
		return 3;
	r = ack_ok(f, VUC_SET_VRING_CALL, &u, 8, &fd, 1);
	/* Blocking again on our side: the daemon's write must not wait. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	used = flow_for(w, 100);
	if (r || !vuc_closed(f->fd, 5000)) {
		HLOG("%s: call eventfd full (ack %d); connection not closed within 5 s", f->o->name,
		     r);
		close(fd);
		return 1;
	}
	HLOG("%s: call eventfd full: %u chains used, then the connection was closed",
	     f->o->name, used);
	close(fd);
	return 0;
}

/* We close our copies of the target's kick, call and err eventfds; the
 * daemon keeps its own.  Then a new kick fd restarts the flow. */
static int res_evfd_closed(struct fe *f, struct flow *w)
{
	uint64_t u = f->target;
	unsigned used;
	int r;

	flow_stop(w);
	close(f->kick[f->target]);
	close(f->call[f->target]);
	close(f->err[f->target]);
	hostile_sleep_ms(200);
	if (res_answers(f, "eventfds closed"))
		return 1;
	f->kick[f->target] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = ack_ok(f, VUC_SET_VRING_KICK, &u, 8, &f->kick[f->target], 1);
	atomic_store(&w->stop, false);
	if (r || pthread_create(&w->t, NULL, flow_main, w))
		return 1;
	w->running = true;
	used = flow_for(w, 500);
	HLOG("%s: eventfds closed under the daemon; new kick fd acked; %u chains used after",
	     f->o->name, used);
	return used ? 0 : 1;
}

/* Eight regions, every one the whole memfd (the first where the rings are). */
static int res_same_memfd(struct fe *f, struct flow *w)
{
	struct vuc_memtab t = { .n = 8 };
	int fds[8], r;
	unsigned used;

	for (unsigned i = 0; i < 8; i++) {
		uint64_t a = i ? (1ull << 46) + i * (uint64_t)MEM_SIZE : gpa(f, 0);

		t.r[i] = (struct vuc_region){ a, MEM_SIZE, a, 0 };
		fds[i] = f->memfd;
	}
	r = ack_ok(f, VUC_SET_MEM_TABLE, &t, 8 + 8 * 32, fds, 8);
	used = flow_for(w, 500);
	HLOG("%s: one memfd mapped 8 times: ack %d; %u chains used after", f->o->name, r, used);
	return r || !used ? 1 : res_answers(f, "same memfd 8 times");
}

struct res_case {
	const char *name;
	const char *log;
	int (*run)(struct fe *f, struct flow *w);
};

static const struct res_case res_cases[] = {
	{ "many-connections", "frontend connected", res_many_conns },
	{ "mem-table-storm", "frontend connected", res_mem_storm },
	{ "same-memfd-8x", "frontend connected", res_same_memfd },
	{ "call-fd-full", "writing the call eventfd", res_call_full },
	{ "eventfd-closed", "frontend connected", res_evfd_closed },
};

static int run_res(struct fe *f, const struct res_case *c)
{
	struct flow w;
	int r;

	if (fe_setup(f, VQ_F_VERSION_1) || flow_start(f, &w)) {
		HLOG("%s: setup failed", c->name);
		return 3;
	}
	if (!flow_for(&w, 300)) {
		flow_stop(&w);
		HLOG("%s: the device used no chain before the attack", c->name);
		return 3;
	}
	r = c->run(f, &w);
	flow_stop(&w);
	if (r == 0) {
		active(f, "the connection kept working");
		hostile_sleep_ms(f->o->hold_ms);
	}
	return r;
}

/* ---- the stall case: 8 of the 12 header bytes, then nothing */

/* Median and max of five GET_FEATURES round trips on a new connection to
 * path, in microseconds.  0 or -errno. */
static int probe_port(const char *path, uint64_t *median, uint64_t *max)
{
	uint64_t t[5], v;
	int fd = vuc_connect(path, 2000), r = 0;

	if (fd < 0)
		return fd;
	for (int i = 0; i < 5 && !r; i++) {
		uint64_t t0 = (vqt_now_ns() / 1000);

		r = vuc_get_u64(fd, VUC_GET_FEATURES, &v);
		t[i] = (vqt_now_ns() / 1000) - t0;
		for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
			uint64_t x = t[j];

			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	}
	close(fd);
	*median = t[2];
	*max = t[4];
	return r;
}

/* Expected: another port answers within 50 ms (median of five) while our
 * half-message waits, and our connection is closed within 3 s. */
static int run_stall(struct fe *f)
{
	struct vuc_hdr h = { VUC_GET_FEATURES, VUC_V1, 0 };
	uint64_t med = 0, max = 0;
	int r;

	if ((r = vuc_send(f->fd, VUC_SET_OWNER, VUC_V1, NULL, 0, NULL, 0)) ||
	    (r = vuc_send_raw(f->fd, &h, 8, NULL, 0)))
		return 3;
	hostile_sleep_ms(20);
	if (f->o->probe) {
		if ((r = probe_port(f->o->probe, &med, &max))) {
			HLOG("stall-mid-header: probe of %s failed: %s", f->o->probe, strerror(-r));
			return 1;
		}
		HLOG("stall-mid-header: %s answered GET_FEATURES in %llu us (median of 5; max %llu us)",
		     f->o->probe, (unsigned long long)med, (unsigned long long)max);
		if (med >= 50000)
			return 1;
	}
	if (!vuc_closed(f->fd, 3000)) {
		HLOG("stall-mid-header: the stalled connection was not closed within 3 s");
		return 1;
	}
	active(f, "other port answered; stalled connection closed");
	hostile_sleep_ms(f->o->hold_ms);
	return 0;
}

/* ---- a frontend that stops reading its replies */

#define UNREAD_REQS 700 /* 14,000 reply bytes: more than the socket takes,
			 * less than the backend's out-buffer bound */

/*
 * 700 GET_FEATURES in one write, none of the replies read.  Expected: the
 * replies the socket cannot take wait in the backend, another port answers
 * GET_FEATURES meanwhile (median of five under 50 ms, none over 500 ms: a
 * backend blocked writing a reply holds its control thread up to 1 s), and
 * our connection is closed within 3 s.
 */
/* True when the peer closed fd within ms, seen without reading from it
 * (reading would let a backend flush its pending replies). */
static bool closed_unread(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	while (ms > 0) {
		int r = poll(&p, 1, 50);

		if (r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			return true;
		ms -= 50;
	}
	return false;
}

static int run_stop_reading(struct fe *f)
{
	static struct vuc_hdr h[UNREAD_REQS];
	uint64_t med = 0, max = 0;
	int r;

	for (unsigned i = 0; i < UNREAD_REQS; i++)
		h[i] = (struct vuc_hdr){ VUC_GET_FEATURES, VUC_V1, 0 };
	if ((r = vuc_send(f->fd, VUC_SET_OWNER, VUC_V1, NULL, 0, NULL, 0)) ||
	    (r = vuc_send_raw(f->fd, h, sizeof(h), NULL, 0)))
		return 3;
	hostile_sleep_ms(20);
	if (f->o->probe) {
		if ((r = probe_port(f->o->probe, &med, &max))) {
			HLOG("stop-reading: probe of %s failed: %s", f->o->probe, strerror(-r));
			return 1;
		}
		HLOG("stop-reading: %s answered GET_FEATURES in %llu us (median of 5; max %llu us)",
		     f->o->probe, (unsigned long long)med, (unsigned long long)max);
		if (med >= 50000 || max >= 500000)
			return 1;
	}
	if (!closed_unread(f->fd, 3000)) {
		HLOG("stop-reading: the connection was not closed within 3 s");
		return 1;
	}
	active(f, "other port answered; the connection that stopped reading was closed");
	hostile_sleep_ms(f->o->hold_ms);
	return 0;
}

/* ---- protocol cases */

enum stage { ST_RAW, ST_OWNER, ST_HELLO, ST_MEM };
enum expect { EX_CLOSED, EX_NACK, EX_EMPTY };

struct proto_case {
	const char *name;
	const char *log; /* the daemon's log line must contain this */
	enum stage stage;
	enum expect exp;
	uint32_t req;    /* whose reply we expect (EX_NACK, EX_EMPTY) */
	int (*send)(struct fe *f);
};

static int p_short_header(struct fe *f)
{
	struct vuc_hdr h = { VUC_GET_FEATURES, VUC_V1, 0 };
	int r = vuc_send_raw(f->fd, &h, 6, NULL, 0);

	shutdown(f->fd, SHUT_WR);
	return r;
}

static int p_truncated(struct fe *f)
{
	uint8_t buf[sizeof(struct vuc_hdr) + 4] = { 0 };
	struct vuc_hdr h = { VUC_SET_FEATURES, VUC_V1, 8 };
	int r;

	memcpy(buf, &h, sizeof(h));
	r = vuc_send_raw(f->fd, buf, sizeof(buf), NULL, 0);
	shutdown(f->fd, SHUT_WR);
	return r;
}

static int p_size_max(struct fe *f)
{
	struct vuc_hdr h = { VUC_SET_FEATURES, VUC_V1, VUC_MAX_PAYLOAD + 1 };

	return vuc_send_raw(f->fd, &h, sizeof(h), NULL, 0);
}

static int p_short_payload(struct fe *f)
{
	uint32_t v = 1;

	return vuc_send(f->fd, VUC_SET_FEATURES, VUC_V1 | VUC_NEED_REPLY, &v, 4, NULL, 0);
}

static int p_long_payload(struct fe *f)
{
	uint64_t v[8] = { VQ_F_VERSION_1 };

	return vuc_send(f->fd, VUC_SET_VRING_NUM, VUC_V1 | VUC_NEED_REPLY, v, sizeof(v), NULL, 0);
}

static int p_bad_version(struct fe *f)
{
	return vuc_send(f->fd, VUC_GET_FEATURES, 0x2, NULL, 0, NULL, 0);
}

static int p_unknown(struct fe *f)
{
	return vuc_send(f->fd, 99, VUC_V1 | VUC_NEED_REPLY, NULL, 0, NULL, 0);
}

static int p_call_two_fds(struct fe *f)
{
	uint64_t u = 0;
	int fds[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	int r = vuc_send(f->fd, VUC_SET_VRING_CALL, VUC_V1 | VUC_NEED_REPLY, &u, 8, fds, 2);

	close(fds[0]), close(fds[1]);
	return r;
}

static int p_kick_no_fd(struct fe *f)
{
	uint64_t u = 0; /* NOFD clear, but no fd */

	return vuc_send(f->fd, VUC_SET_VRING_KICK, VUC_V1 | VUC_NEED_REPLY, &u, 8, NULL, 0);
}

static int p_fd_on_features(struct fe *f)
{
	uint64_t v = VQ_F_VERSION_1;
	int fd = eventfd(0, EFD_CLOEXEC);
	int r = vuc_send(f->fd, VUC_SET_FEATURES, VUC_V1 | VUC_NEED_REPLY, &v, 8, &fd, 1);

	close(fd);
	return r;
}

static int p_too_many_fds(struct fe *f)
{
	struct vuc_memtab t = { .n = 1, .r[0] = { gpa(f, 0), MEM_SIZE, gpa(f, 0), 0 } };
	int fds[12], r;

	for (int i = 0; i < 12; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	r = vuc_send(f->fd, VUC_SET_MEM_TABLE, VUC_V1 | VUC_NEED_REPLY, &t, 8 + 32, fds, 12);
	for (int i = 0; i < 12; i++)
		close(fds[i]);
	return r;
}

static int send_table(struct fe *f, const struct vuc_region *rg, uint32_t n, unsigned nfds)
{
	struct vuc_memtab t = { .n = n };
	int fds[8];

	for (unsigned i = 0; i < 8; i++)
		fds[i] = f->memfd;
	memcpy(t.r, rg, (n > 8 ? 8 : n) * sizeof(*rg));
	return vuc_send(f->fd, VUC_SET_MEM_TABLE, VUC_V1 | VUC_NEED_REPLY, &t,
			8 + 32 * (n > 8 ? 8 : n), fds, nfds);
}

static int p_regions_fds(struct fe *f)
{
	struct vuc_region rg[2] = { { 0, 0x1000, gpa(f, 0), 0 },
				    { 0x100000, 0x1000, gpa(f, 0x1000), 0x1000 } };

	return send_table(f, rg, 2, 1);
}

static int p_regions_overlap(struct fe *f)
{
	struct vuc_region rg[2] = { { 0, 0x10000, gpa(f, 0), 0 },
				    { 0x8000, 0x10000, gpa(f, 0x20000), 0x20000 } };

	return send_table(f, rg, 2, 2);
}

static int p_region_gpa_overflow(struct fe *f)
{
	struct vuc_region rg = { UINT64_MAX - 0x100, 0x1000, gpa(f, 0), 0 };

	return send_table(f, &rg, 1, 1);
}

static int p_region_uaddr_overflow(struct fe *f)
{
	struct vuc_region rg = { 0, 0x1000, UINT64_MAX - 0x10, 0 };

	return send_table(f, &rg, 1, 1);
}

static int p_region_beyond_file(struct fe *f)
{
	struct vuc_region rg = { 0, 0x2000, gpa(f, 0), MEM_SIZE - 0x1000 };

	return send_table(f, &rg, 1, 1);
}

static int p_regions_too_many(struct fe *f)
{
	struct vuc_region rg[8];

	for (unsigned i = 0; i < 8; i++)
		rg[i] = (struct vuc_region){ 0x10000ull * i, 0x1000, gpa(f, 0x10000 * i), 0x10000ull * i };
	return send_table(f, rg, 9, 8);
}

/* SET_VRING_NUM for vring 0 (acked), then the vring addresses a. */
static int send_ring_addr(struct fe *f, const struct vuc_addr *a)
{
	struct vuc_state s = { 0, QSIZE };
	uint64_t ack;
	int r = vuc_ack(f->fd, VUC_SET_VRING_NUM, &s, sizeof(s), NULL, 0, &ack);

	return r ? r : ack ? -EREMOTEIO
		  : vuc_send(f->fd, VUC_SET_VRING_ADDR, VUC_V1 | VUC_NEED_REPLY, a, sizeof(*a), NULL, 0);
}

static int p_ring_outside(struct fe *f)
{
	struct vuc_addr a = { 0, 0, gpa(f, MEM_SIZE - 0x100), gpa(f, 0x2000), gpa(f, 0x1000), 0 };

	return send_ring_addr(f, &a);
}

static int p_ring_unmapped(struct fe *f)
{
	struct vuc_addr a = { 0, 0, 0x1000, 0x3000, 0x2000, 0 };

	return send_ring_addr(f, &a);
}

static int p_qidx_num(struct fe *f)
{
	struct vuc_state s = { 200, QSIZE };

	return vuc_send(f->fd, VUC_SET_VRING_NUM, VUC_V1 | VUC_NEED_REPLY, &s, sizeof(s), NULL, 0);
}

static int p_qidx_kick(struct fe *f)
{
	uint64_t u = 255 | VUC_NOFD;

	return vuc_send(f->fd, VUC_SET_VRING_KICK, VUC_V1 | VUC_NEED_REPLY, &u, 8, NULL, 0);
}

static int p_qidx_get_base(struct fe *f)
{
	struct vuc_state s = { 77, 0 };

	return vuc_send(f->fd, VUC_GET_VRING_BASE, VUC_V1, &s, sizeof(s), NULL, 0);
}

static int p_num_bad(struct fe *f)
{
	struct vuc_state s = { 0, 1000 };

	return vuc_send(f->fd, VUC_SET_VRING_NUM, VUC_V1 | VUC_NEED_REPLY, &s, sizeof(s), NULL, 0);
}

static int p_addr_before_mem(struct fe *f)
{
	struct vuc_state s = { 0, QSIZE };
	struct vuc_addr a = { 0, 0, gpa(f, 0), gpa(f, 0x2000), gpa(f, 0x1000), 0 };
	uint64_t ack;
	int r = vuc_ack(f->fd, VUC_SET_VRING_NUM, &s, sizeof(s), NULL, 0, &ack);

	return r ? r : ack ? -EREMOTEIO
		  : vuc_send(f->fd, VUC_SET_VRING_ADDR, VUC_V1 | VUC_NEED_REPLY, &a, sizeof(a), NULL, 0);
}

static int p_kick_before_num(struct fe *f)
{
	uint64_t u = 0 | VUC_NOFD;

	return vuc_send(f->fd, VUC_SET_VRING_KICK, VUC_V1 | VUC_NEED_REPLY, &u, 8, NULL, 0);
}

static int p_mem_before_owner(struct fe *f)
{
	struct vuc_memtab t = { .n = 1, .r[0] = { gpa(f, 0), MEM_SIZE, gpa(f, 0), 0 } };

	return vuc_send(f->fd, VUC_SET_MEM_TABLE, VUC_V1 | VUC_NEED_REPLY, &t, 8 + 32, &f->memfd, 1);
}

static int p_features_not_offered(struct fe *f)
{
	uint64_t v = VQ_F_VERSION_1 | (1ull << 63);

	return vuc_send(f->fd, VUC_SET_FEATURES, VUC_V1 | VUC_NEED_REPLY, &v, 8, NULL, 0);
}

static int p_bad_no_reply(struct fe *f)
{
	struct vuc_state s = { 0, 0 }; /* bad, and no way to say so: close */

	return vuc_send(f->fd, VUC_SET_VRING_NUM, VUC_V1, &s, sizeof(s), NULL, 0);
}

static int p_garbage(struct fe *f)
{
	uint8_t junk[64];

	for (unsigned i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	return vuc_send_raw(f->fd, junk, sizeof(junk), NULL, 0);
}

/* A pipe or a socket where a memfd or an eventfd belongs. */
static int wrong_fd(bool sock, int p[2])
{
	return sock ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) : pipe2(p, O_CLOEXEC);
}

static int p_region_fd(struct fe *f, bool sock)
{
	struct vuc_memtab t = { .n = 1, .r[0] = { gpa(f, 0), MEM_SIZE, gpa(f, 0), 0 } };
	int p[2], r;

	if (wrong_fd(sock, p))
		return -errno;
	r = vuc_send(f->fd, VUC_SET_MEM_TABLE, VUC_V1 | VUC_NEED_REPLY, &t, 8 + 32, &p[0], 1);
	close(p[0]), close(p[1]);
	return r;
}

static int p_region_pipe(struct fe *f) { return p_region_fd(f, false); }
static int p_region_socket(struct fe *f) { return p_region_fd(f, true); }

static int p_vring_fd(struct fe *f, uint32_t req, bool sock)
{
	struct vuc_state s = { 0, QSIZE };
	struct vuc_addr a = { 0, 0, gpa(f, QOFF(0)), gpa(f, QOFF(0) + 0x2000),
			      gpa(f, QOFF(0) + 0x1000), 0 };
	uint64_t u = 0;
	int p[2], r;

	if ((r = ack_ok(f, VUC_SET_VRING_NUM, &s, sizeof(s), NULL, 0)) ||
	    (r = ack_ok(f, VUC_SET_VRING_ADDR, &a, sizeof(a), NULL, 0)))
		return r;
	if (wrong_fd(sock, p))
		return -errno;
	r = vuc_send(f->fd, req, VUC_V1 | VUC_NEED_REPLY, &u, 8, &p[0], 1);
	close(p[0]), close(p[1]);
	return r;
}

static int p_kick_pipe(struct fe *f) { return p_vring_fd(f, VUC_SET_VRING_KICK, false); }
static int p_call_socket(struct fe *f) { return p_vring_fd(f, VUC_SET_VRING_CALL, true); }

static const struct proto_case proto_cases[] = {
	{ "short-header", "short header", ST_RAW, EX_CLOSED, 0, p_short_header },
	{ "truncated-payload", "truncated payload", ST_OWNER, EX_CLOSED, 0, p_truncated },
	{ "size-over-max", "> max 4096", ST_OWNER, EX_CLOSED, 0, p_size_max },
	{ "garbage-bytes", "bad version", ST_OWNER, EX_CLOSED, 0, p_garbage },
	{ "payload-too-short", "payload size 4, expected 8..8", ST_HELLO, EX_NACK, VUC_SET_FEATURES, p_short_payload },
	{ "payload-too-long", "payload size 64, expected 8..8", ST_HELLO, EX_NACK, VUC_SET_VRING_NUM, p_long_payload },
	{ "bad-version", "bad version", ST_OWNER, EX_CLOSED, 0, p_bad_version },
	{ "unknown-request", "request 99", ST_OWNER, EX_NACK, 99, p_unknown },
	{ "two-fds-on-call", "2 fds passed, expected 0..1", ST_HELLO, EX_NACK, VUC_SET_VRING_CALL, p_call_two_fds },
	{ "no-fd-on-kick", "no fd passed and NOFD flag clear", ST_HELLO, EX_NACK, VUC_SET_VRING_KICK, p_kick_no_fd },
	{ "fd-on-features", "1 fds passed, expected 0..0", ST_OWNER, EX_NACK, VUC_SET_FEATURES, p_fd_on_features },
	{ "twelve-fds", "more than 8 fds", ST_HELLO, EX_CLOSED, 0, p_too_many_fds },
	{ "fds-not-regions", "1 fds for 2 regions", ST_HELLO, EX_NACK, VUC_SET_MEM_TABLE, p_regions_fds },
	{ "regions-overlap", "overlaps another region", ST_HELLO, EX_NACK, VUC_SET_MEM_TABLE, p_regions_overlap },
	{ "region-gpa-overflow", "overflows", ST_HELLO, EX_NACK, VUC_SET_MEM_TABLE, p_region_gpa_overflow },
	{ "region-uaddr-overflow", "uaddr", ST_HELLO, EX_NACK, VUC_SET_MEM_TABLE, p_region_uaddr_overflow },
	{ "region-beyond-file", "beyond the file size", ST_HELLO, EX_NACK, VUC_SET_MEM_TABLE, p_region_beyond_file },
	{ "nine-regions", "9 regions > 8", ST_HELLO, EX_NACK, VUC_SET_MEM_TABLE, p_regions_too_many },
	{ "ring-outside-memory", "outside the memory map", ST_MEM, EX_NACK, VUC_SET_VRING_ADDR, p_ring_outside },
	{ "ring-unmapped", "outside the memory map", ST_MEM, EX_NACK, VUC_SET_VRING_ADDR, p_ring_unmapped },
	{ "queue-index-num", "queue index 200 out of range", ST_HELLO, EX_NACK, VUC_SET_VRING_NUM, p_qidx_num },
	{ "queue-index-kick", "queue index 255 out of range", ST_HELLO, EX_NACK, VUC_SET_VRING_KICK, p_qidx_kick },
	{ "queue-index-get-base", "queue index 77 out of range", ST_HELLO, EX_EMPTY, VUC_GET_VRING_BASE, p_qidx_get_base },
	{ "queue-size-bad", "not a power of two", ST_HELLO, EX_NACK, VUC_SET_VRING_NUM, p_num_bad },
	{ "order-addr-before-mem", "before SET_MEM_TABLE", ST_HELLO, EX_NACK, VUC_SET_VRING_ADDR, p_addr_before_mem },
	{ "order-kick-before-num", "SET_VRING_KICK before SET_VRING_NUM", ST_MEM, EX_NACK, VUC_SET_VRING_KICK, p_kick_before_num },
	{ "order-mem-before-owner", "sent before SET_OWNER", ST_RAW, EX_NACK, VUC_SET_MEM_TABLE, p_mem_before_owner },
	{ "features-not-offered", "not offered", ST_OWNER, EX_NACK, VUC_SET_FEATURES, p_features_not_offered },
	{ "bad-request-no-reply", "queue size 0 outside", ST_HELLO, EX_CLOSED, 0, p_bad_no_reply },
	{ "region-fd-pipe", "not a regular file", ST_HELLO, EX_NACK, VUC_SET_MEM_TABLE, p_region_pipe },
	{ "region-fd-socket", "not a regular file", ST_HELLO, EX_NACK, VUC_SET_MEM_TABLE, p_region_socket },
	{ "kick-fd-pipe", "the kick fd is not an eventfd", ST_MEM, EX_NACK, VUC_SET_VRING_KICK, p_kick_pipe },
	{ "call-fd-socket", "the call fd is not an eventfd", ST_MEM, EX_NACK, VUC_SET_VRING_CALL, p_call_socket },
};

static int reach(struct fe *f, enum stage st)
{
	int r = 0;

	if (st >= ST_OWNER)
		r = vuc_send(f->fd, VUC_SET_OWNER, VUC_V1, NULL, 0, NULL, 0);
	if (!r && st >= ST_HELLO) {
		/* fe_hello sends SET_OWNER again: idempotent, as with QEMU. */
		r = fe_hello(f, VQ_F_VERSION_1);
	}
	if (!r && st >= ST_MEM)
		r = fe_memtable(f);
	return r;
}

static int check_reaction(struct fe *f, const struct proto_case *c)
{
	static struct vuc_msg m;
	uint64_t v;
	int r;

	switch (c->exp) {
	case EX_CLOSED:
		if (!vuc_closed(f->fd, 5000)) {
			HLOG("%s: the connection was not closed within 5 s", c->name);
			return 1;
		}
		active(f, "connection closed by the peer");
		return 0;
	case EX_NACK:
	case EX_EMPTY:
		r = vuc_reply(f->fd, c->req, &m, 5000);
		if (r) {
			HLOG("%s: no reply to request %u: %s", c->name, c->req, strerror(-r));
			return 1;
		}
		if (c->exp == EX_NACK && (m.h.size != 8 || m.u64 == 0)) {
			HLOG("%s: expected an error ack, got size %u value %llu", c->name, m.h.size,
			     (unsigned long long)m.u64);
			return 1;
		}
		if (c->exp == EX_EMPTY && m.h.size != 0) {
			HLOG("%s: expected an empty reply, got %u bytes", c->name, m.h.size);
			return 1;
		}
		if ((r = vuc_get_u64(f->fd, VUC_GET_FEATURES, &v))) {
			HLOG("%s: connection unusable after the error reply: %s", c->name, strerror(-r));
			return 1;
		}
		active(f, c->exp == EX_NACK ? "error ack, connection still answers"
					    : "empty reply, connection still answers");
		return 0;
	}
	return 1;
}

static int run_proto(struct fe *f, const struct proto_case *c)
{
	int r = reach(f, c->stage);

	if (r) {
		HLOG("%s: setup failed: %s", c->name, strerror(-r));
		return 3;
	}
	if ((r = c->send(f))) {
		HLOG("%s: sending the violation failed: %s", c->name, strerror(-r));
		return 1;
	}
	r = check_reaction(f, c);
	if (!r)
		hostile_sleep_ms(f->o->hold_ms);
	return r;
}

void hostile_fe_list(void)
{
	for (size_t i = 0; i < sizeof(ring_cases) / sizeof(ring_cases[0]); i++)
		printf("ring %s\t%s\n", ring_cases[i].name, ring_cases[i].log);
	printf("ring desc-race\taddress outside guest memory\n");
	printf("proto stall-mid-header\tmessage stalled: 8 of 12 bytes\n");
	printf("proto stop-reading\tfrontend stopped reading\n");
	printf("tool probe\t(not a case: times GET_FEATURES on --socket)\n");
	printf("ring mem-shrink\tguest memory shrank under the mapping\n");
	printf("ring packed-mem-shrink\tguest memory shrank under the mapping\n");
	for (size_t i = 0; i < sizeof(res_cases) / sizeof(res_cases[0]); i++)
		printf("res %s\t%s\n", res_cases[i].name, res_cases[i].log);
	for (size_t i = 0; i < sizeof(proto_cases) / sizeof(proto_cases[0]); i++)
		printf("proto %s\t%s\n", proto_cases[i].name, proto_cases[i].log);
	printf("skip write-read-only\tvhost-user maps every region read-write: not expressible\n");
}

int hostile_fe(const struct hopts *o)
{
	struct fe f = { .o = o, .fd = -1, .memfd = -1, .nq = o->dev == HDEV_NET ? 2 : 1,
			.target = o->dev == HDEV_NET ? 1 : 0 };
	int rc = 2;

	if (!strcmp(o->name, "write-read-only")) {
		printf("SKIP write-read-only: vhost-user maps every region read-write "
		       "(SET_MEM_TABLE has no permission bits), so no read-only memory to write\n");
		return 77;
	}
	if (fe_mem(&f) < 0)
		return 3;
	if ((f.fd = vuc_connect(o->path, 5000)) < 0) {
		HLOG("cannot connect to %s: %s", o->path, strerror(-f.fd));
		return 3;
	}
	for (size_t i = 0; i < sizeof(ring_cases) / sizeof(ring_cases[0]); i++)
		if (!strcmp(o->name, ring_cases[i].name))
			rc = run_ring(&f, &ring_cases[i]);
	if (!strcmp(o->name, "desc-race"))
		rc = run_race(&f);
	if (!strcmp(o->name, "stall-mid-header"))
		rc = run_stall(&f);
	if (!strcmp(o->name, "stop-reading"))
		rc = run_stop_reading(&f);
	if (!strcmp(o->name, "probe")) {
		uint64_t med = 0, max = 0;
		int r = probe_port(o->path, &med, &max);

		printf("probe %s: %s, median %llu us, max %llu us\n", o->path,
		       r ? strerror(-r) : "GET_FEATURES answered", (unsigned long long)med,
		       (unsigned long long)max);
		rc = r ? 1 : 0;
	}
	for (size_t i = 0; i < sizeof(res_cases) / sizeof(res_cases[0]); i++)
		if (!strcmp(o->name, res_cases[i].name))
			rc = run_res(&f, &res_cases[i]);
	if (!strcmp(o->name, "mem-shrink") || !strcmp(o->name, "packed-mem-shrink"))
		rc = run_shrink(&f, o->name[0] == 'p');
	for (size_t i = 0; i < sizeof(proto_cases) / sizeof(proto_cases[0]); i++)
		if (!strcmp(o->name, proto_cases[i].name))
			rc = run_proto(&f, &proto_cases[i]);
	if (rc == 2)
		HLOG("unknown frontend case '%s' (see: virtq-hostile fe --list)", o->name);
	close(f.fd);
	return rc;
}
