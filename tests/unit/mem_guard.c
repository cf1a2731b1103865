/* SPDX-License-Identifier: MIT */
/* The SIGBUS guard: a shrunk file under a guarded mapping reads zeros and
 * wakes the owner; outside a guarded range SIGBUS still kills. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <virtq/mem.h>

#include "../harness/test.h"

#define LEN 0x10000u

static char *shared_file(int *fd)
{
	char *p;

	*fd = memfd_create("guard-test", MFD_CLOEXEC);
	ASSERT_TRUE(*fd >= 0);
	ASSERT_EQ(ftruncate(*fd, LEN), 0);
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	memset(p, 0xab, LEN);
	return p;
}

TEST(shrunk_file_reads_zeros_and_shuts_the_socket)
{
	int fd, sv[2], id;
	char *p = shared_file(&fd), c;
	uintptr_t at = 0;

	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ASSERT_EQ(vq_mem_guard_install(), 0);
	ASSERT_TRUE(vq_mem_guard_is_installed());
	id = vq_mem_guard_add(p, LEN, (size_t)sysconf(_SC_PAGESIZE), sv[0]);
	ASSERT_GE(id, 0);
	ASSERT_EQ(vq_mem_guard_faults(id, NULL), 0);
	ASSERT_EQ(ftruncate(fd, 0x1000), 0);
	ASSERT_EQ((unsigned char)p[0x10], 0xab);   /* still inside the file */
	ASSERT_EQ(((volatile char *)p)[0x8010], 0); /* past the end: a zero page */
	ASSERT_EQ(vq_mem_guard_faults(id, &at), 1);
	ASSERT_EQ_U64(at, (uintptr_t)p + 0x8010);
	((volatile char *)p)[0x9000] = 7; /* a write completes too */
	ASSERT_EQ(p[0x9000], 7);
	ASSERT_EQ(vq_mem_guard_faults(id, NULL), 2);
	ASSERT_EQ(recv(sv[1], &c, 1, MSG_DONTWAIT), 0); /* the owner sees the end */
	vq_mem_guard_remove(id);
	ASSERT_EQ(vq_mem_guard_faults(id, NULL), 2); /* kept until the slot is reused */
	munmap(p, LEN);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

/* Touch a page past the end of a shrunk file in a child; its wait status. */
static int touch_in_child(bool guarded, bool removed)
{
	pid_t pid = fork();
	int st = 0;

	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		int fd, id = -1, nul = open("/dev/null", O_WRONLY);
		char *p = shared_file(&fd);

		/* An expected death: no sanitizer report on the test's output. */
		if (nul >= 0)
			dup2(nul, 2);
		vq_mem_guard_install();
		if (guarded)
			id = vq_mem_guard_add(p, LEN, (size_t)sysconf(_SC_PAGESIZE), -1);
		if (removed)
			vq_mem_guard_remove(id);
		if (ftruncate(fd, 0x1000))
			_exit(3);
		_exit(((volatile char *)p)[0x4000] == 0 ? 0 : 4);
	}
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	return st;
}

/* Killed by SIGBUS, or (a sanitizer build: ASan's handler is chained to)
 * ended with a failure status: anything but surviving the access. */
static bool died_of_the_fault(int st)
{
	return WIFSIGNALED(st) ? WTERMSIG(st) == SIGBUS
			       : WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 4;
}

TEST(sigbus_outside_guarded_ranges_still_kills)
{
	int st = touch_in_child(false, false);

	ASSERT_TRUE(died_of_the_fault(st));
	st = touch_in_child(true, true);
	ASSERT_TRUE(died_of_the_fault(st));
	st = touch_in_child(true, false);
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_EQ(WEXITSTATUS(st), 0);
}

TEST(add_refuses_bad_ranges)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 2 * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	ASSERT_EQ(vq_mem_guard_add(NULL, pg, pg, -1), -EINVAL);
	ASSERT_EQ(vq_mem_guard_add(p, 0, pg, -1), -EINVAL);
	ASSERT_EQ(vq_mem_guard_add(p + 1, pg, pg, -1), -EINVAL);
	ASSERT_EQ(vq_mem_guard_add(p, pg + 1, pg, -1), -EINVAL);
	ASSERT_EQ(vq_mem_guard_add(p, pg, 3, -1), -EINVAL);
	ASSERT_EQ(vq_mem_guard_add((void *)(UINTPTR_MAX & ~(pg - 1)), 2 * pg, pg, -1), -EINVAL);
	munmap(p, 2 * pg);
}
