/* SPDX-License-Identifier: MIT */
/*
 * The SIGBUS guard (see <virtq/mem.h>).  A peer that shares memory through
 * a file (a memfd, a hugetlbfs or tmpfs file) can ftruncate() it below our
 * mapping; the next access to a page past the new end raises SIGBUS in
 * whichever thread touched it.  Instead of dying, the handler maps a
 * private zero page over the faulting page (the access completes and reads
 * zeros), counts the fault on the guarded range and shuts down the range's
 * notify socket, so that its owner's control thread sees the connection end
 * and tears it down.  Faults outside every guarded range go to the handler
 * that was installed before ours, or kill the process as usual.
 *
 * The table is fixed (no allocation in the handler).  A slot is published
 * by its base (release) and retired by clearing the base and then waiting
 * until no handler is inside the table (g_busy), so a handler never maps
 * over memory that its owner has already unmapped.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <virtq/mem.h>

#define GUARD_SLOTS 4096

struct guard_slot {
	_Atomic uintptr_t base; /* 0: free */
	size_t len, align;      /* written before base is published */
	int notify_fd;
	atomic_uint faults;
	_Atomic uintptr_t fault_addr;
};

static struct guard_slot g_slot[GUARD_SLOTS];
static atomic_int g_busy; /* handlers inside the table */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction g_old;
static atomic_bool g_installed;

/* Hand a SIGBUS that is not ours to whoever had it before us. */
static void chain(int sig, siginfo_t *si, void *ctx)
{
	if ((g_old.sa_flags & SA_SIGINFO) && g_old.sa_sigaction) {
		g_old.sa_sigaction(sig, si, ctx);
		return;
	}
	if (!(g_old.sa_flags & SA_SIGINFO) && g_old.sa_handler != SIG_DFL &&
	    g_old.sa_handler != SIG_IGN) {
		g_old.sa_handler(sig);
		return;
	}
	/* Default action: delivered (and fatal) as soon as we return. */
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Map zeros over the guarded page holding addr; true when done. */
static bool patch(struct guard_slot *s, uintptr_t base, uintptr_t addr)
{
	uintptr_t page = base + ((addr - base) & ~(uintptr_t)(s->align - 1));
	long p = syscall(SYS_mmap, page, s->align, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	if (p == -1 || (uintptr_t)p != page)
		return false;
	atomic_store_explicit(&s->fault_addr, addr, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->faults, 1, memory_order_release);
	if (s->notify_fd >= 0)
		shutdown(s->notify_fd, SHUT_RDWR);
	return true;
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	uintptr_t addr = (uintptr_t)si->si_addr;
	int saved = errno;
	bool done = false;

	/* Seq_cst: pairs with the seq_cst base clear and g_busy load in
	 * vq_mem_guard_remove (either it sees us busy, or we see base 0). */
	atomic_fetch_add(&g_busy, 1);
	for (unsigned i = 0; si->si_code > 0 && i < GUARD_SLOTS && !done; i++) {
		uintptr_t base = atomic_load(&g_slot[i].base);

		if (base && addr - base < g_slot[i].len)
			done = patch(&g_slot[i], base, addr);
	}
	atomic_fetch_sub(&g_busy, 1);
	errno = saved;
	if (!done)
		chain(sig, si, ctx);
}

static void install_once(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &g_old) == 0)
		atomic_store(&g_installed, true);
}

int vq_mem_guard_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, install_once);
	return atomic_load(&g_installed) ? 0 : -EINVAL;
}

bool vq_mem_guard_is_installed(void)
{
	return atomic_load(&g_installed);
}

int vq_mem_guard_add(void *base, size_t len, size_t align, int notify_fd)
{
	uintptr_t b = (uintptr_t)base, end;
	int id = -ENOSPC;

	if (!base || !len || !align || (align & (align - 1)) || (b & (align - 1)) ||
	    (len & (align - 1)) || __builtin_add_overflow(b, len, &end))
		return -EINVAL;
	pthread_mutex_lock(&g_lock);
	for (unsigned i = 0; i < GUARD_SLOTS; i++) {
		struct guard_slot *s = &g_slot[i];

		if (atomic_load_explicit(&s->base, memory_order_relaxed))
			continue;
		s->len = len;
		s->align = align;
		s->notify_fd = notify_fd;
		atomic_store_explicit(&s->faults, 0, memory_order_relaxed);
		atomic_store_explicit(&s->fault_addr, 0, memory_order_relaxed);
		/* Release: pairs with the handler's load of base (the fields
		 * above are visible to a handler that sees this base). */
		atomic_store_explicit(&s->base, b, memory_order_release);
		id = (int)i;
		break;
	}
	pthread_mutex_unlock(&g_lock);
	return id;
}

void vq_mem_guard_remove(int id)
{
	if (id < 0 || id >= GUARD_SLOTS)
		return;
	/* Seq_cst: pairs with the handler's seq_cst g_busy increment. */
	atomic_store(&g_slot[id].base, 0);
	while (atomic_load(&g_busy))
		sched_yield();
}

unsigned vq_mem_guard_faults(int id, uintptr_t *addr)
{
	unsigned n;

	if (id < 0 || id >= GUARD_SLOTS)
		return 0;
	/* Acquire: pairs with the release increment in patch(). */
	n = atomic_load_explicit(&g_slot[id].faults, memory_order_acquire);
	if (addr)
		*addr = atomic_load_explicit(&g_slot[id].fault_addr, memory_order_relaxed);
	return n;
}
