/* SPDX-License-Identifier: MIT */
/*
 * virtq-svq: a vhost-user proxy that relays every queue through shadow
 * virtqueues.  Towards the frontend (--socket) it is a vhost-user backend;
 * towards the real backend (--backend) a vhost-user frontend presenting
 * a memory layout of its own, in IOVA space.  Device features, config and
 * queue count follow the backend.  One thread: the control sockets, the
 * guest kicks and the backend calls wait in one epoll set.  When the backend
 * goes away, the buffers it held go back to the guest (used, length 0; with
 * --type blk, VIRTIO_BLK_S_IOERR in their status byte), the frontend stays,
 * and once the backend is back its rings are relayed again.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include "../common/tool.h"
#include "sp.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_alarm(int sig)
{
	(void)sig;
	sp_on_alarm();
}

static const char usage[] =
	"usage: virtq-svq --socket PATH --backend PATH [-v]\n"
	"Relay a vhost-user device through shadow virtqueues.\n"
	"  -s, --socket PATH     listen here for the frontend (QEMU, DPDK, virtq-user)\n"
	"  -b, --backend PATH    the real vhost-user backend's socket (connected first)\n"
	"      --backend-layout guest|split|packed\n"
	"                        the shadow rings' layout (default guest: the guest's;\n"
	"                        packed needs the backend to offer RING_PACKED)\n"
	"      --type blk|other  the device behind the backend (default other).  blk:\n"
	"                        a request given back unused (the backend stopped or\n"
	"                        went away holding it) gets VIRTIO_BLK_S_IOERR in its\n"
	"                        status byte; otherwise it comes back with length 0\n"
	"                        and nothing written (right for net and vsock; a\n"
	"                        blk driver that reads the status without the\n"
	"                        length, as Linux does, could take a stale success)\n"
	"  -v, --verbose         log every vhost-user message\n"
	"      --version         print the version and exit\n"
	"  -h, --help            this text\n";

/*
 * What to wait for, in one epoll set: slot 0 the frontend's control socket,
 * 1 the backend's, 2 + 2i queue i's kick fd, 3 + 2i its backend call fd.
 * The set is registered once and made again only when an fd number changed
 * or after anything that may have closed or replaced an fd (a number can
 * come back as another file): then a fresh epoll instance, so that no stale
 * registration survives.  A round where nothing changed makes no epoll_ctl.
 *
 * The kick and call eventfds are edge-triggered and never read: every
 * write to an eventfd wakes its waiters, so each kick or call reports an
 * event (one that comes while the proxy relays is reported by the next
 * wait), and the relay looks at the rings, not at the counter.  That saves
 * a read per eventfd and wake-up: a system call costs microseconds on a
 * virtual machine.  (The counter cannot fill: it would take 2^64 signals.)
 * A registration reports an fd already readable once, so a set made afresh
 * loses nothing.
 */
#define SP_SLOTS (2 + 2 * VQ_VU_MAX_QUEUES)

struct sp_wait {
	int epfd;
	int fd[SP_SLOTS];   /* registered per slot, -1: none */
	bool ready[SP_SLOTS];
};

/* The fds each slot should have now. */
static void wait_want(struct sp *s, int *want)
{
	for (unsigned k = 0; k < SP_SLOTS; k++)
		want[k] = -1;
	want[0] = vq_vu_fd(s->b);
	want[1] = s->backend_up ? vq_fe_fd(s->fe) : -1;
	for (unsigned i = 0; i < s->nq; i++) {
		if (!s->q[i].svq)
			continue;
		want[2 + 2 * i] = vq_vu_queue_kick_fd(s->q[i].vq);
		want[3 + 2 * i] = vq_fe_call_fd(s->fe, i);
	}
}

static int wait_build(struct sp *s, struct sp_wait *w, const int *want)
{
	if (w->epfd >= 0)
		close(w->epfd);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -errno;
	s->fds_changed = false;
	for (unsigned k = 0; k < SP_SLOTS; k++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = k };

		if (k == 1)
			ev.events |= EPOLLRDHUP;
		else if (k >= 2)
			ev.events |= EPOLLET;

		w->fd[k] = want[k];
		if (want[k] >= 0 && epoll_ctl(w->epfd, EPOLL_CTL_ADD, want[k], &ev) < 0)
			return -errno;
	}
	return 0;
}

/* Wait up to timeout_ms; ready[] says which slots have an event.  Returns
 * the number of slots, 0 on timeout, -errno. */
static int wait_round(struct sp *s, struct sp_wait *w, int timeout_ms)
{
	struct epoll_event ev[SP_SLOTS];
	int want[SP_SLOTS], n, rc;

	wait_want(s, want);
	if (s->fds_changed || memcmp(want, w->fd, sizeof(want)))
		if ((rc = wait_build(s, w, want)) < 0)
			return rc;
	memset(w->ready, 0, sizeof(w->ready));
	s->st.polls++;
	n = epoll_wait(w->epfd, ev, SP_SLOTS, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++)
		if (ev[i].data.u32 < SP_SLOTS)
			w->ready[ev[i].data.u32] = true;
	return n;
}

/* The backend's side of a round: notice it went away (a failed request
 * on the way, its socket's event, or a check on every idle round), or
 * reconnect it.  Returns 0, or -ECONNRESET to give up. */
static int backend_check(struct sp *s, int n, const struct sp_wait *w)
{
	if (s->backend_up && (vq_fe_state(s->fe) != VQ_FE_READY ||
			      ((n <= 0 || w->ready[1]) && vq_fe_poll(s->fe) != VQ_FE_READY))) {
		vqt_log(VQT_LOG_ERR, "backend went away: %s", vq_fe_error(s->fe));
		sp_backend_lost(s);
	}
	if (!s->backend_up && sp_backend_retry(s) < 0)
		return -ECONNRESET;
	return 0;
}

/* Relay every queue with a kick or a call in this round, each once and
 * both ways, and those whose last relay stopped at its budget. */
static void relay_ready(struct sp *s, const struct sp_wait *w)
{
	bool any = false;

	for (unsigned i = 0; i < s->nq; i++) {
		if ((!w->ready[2 + 2 * i] && !w->ready[3 + 2 * i] && !s->q[i].again) ||
		    !s->q[i].svq)
			continue;
		sp_relay(s, i);
		any = true;
	}
	s->st.wakeups += any;
}

/* The frontend's socket, or its timer when due.  Either may close or
 * replace fds (a new kick fd, a connection dropped). */
static int control(struct sp *s, bool readable)
{
	bool was;
	int rc;

	if (!readable && vq_vu_timeout_ms(s->b) != 0)
		return 0;
	was = vq_vu_is_connected(s->b);
	rc = vq_vu_dispatch(s->b);
	if (readable || was != vq_vu_is_connected(s->b))
		s->fds_changed = true;
	return rc;
}

static int loop(struct sp *s)
{
	struct sp_wait w = { .epfd = -1 };
	bool again = false;
	int n, rc = 0, t, max;

	while (!stop) {
		t = vq_vu_timeout_ms(s->b);
		max = again ? 0 : s->backend_up ? 200 : (int)SP_RETRY_MS;
		n = wait_round(s, &w, t < 0 || t > max ? max : t);
		if (n < 0) {
			rc = n;
			break;
		}
		if (n == 0 && !again)
			s->fds_changed = true; /* idle: registered afresh, a cheap safety net */
		relay_ready(s, &w);
		again = sp_flush(s);
		if ((rc = control(s, w.ready[0])) < 0)
			break;
		/* The backend's socket: on an event, and on every idle round. */
		if ((rc = backend_check(s, n, &w)) < 0) {
			rc = stop ? 0 : rc;
			break;
		}
	}
	if (w.epfd >= 0)
		close(w.epfd);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "backend", required_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "backend-layout", required_argument, NULL, 'L' },
		{ "type", required_argument, NULL, 'T' },
		{ "version", no_argument, NULL, VQT_OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *backend = NULL;
	enum sp_layout layout = SP_LAYOUT_GUEST;
	uint8_t giveback_status = 0;
	bool verbose = false;
	struct sp *s;
	int c, rc;

	vqt_log_init("virtq-svq");
	while ((c = getopt_long(argc, argv, "s:b:vh", lo, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'b': backend = optarg; break;
		case 'v': verbose = true; break;
		case 'L':
			if (!strcmp(optarg, "split"))
				layout = SP_LAYOUT_SPLIT;
			else if (!strcmp(optarg, "packed"))
				layout = SP_LAYOUT_PACKED;
			else if (strcmp(optarg, "guest")) {
				fputs("--backend-layout: guest, split or packed\n", stderr);
				return 2;
			}
			break;
		case 'T':
			if (!strcmp(optarg, "blk"))
				giveback_status = VIRTIO_BLK_S_IOERR;
			else if (strcmp(optarg, "other")) {
				fputs("--type: blk or other\n", stderr);
				return 2;
			}
			break;
		case 'h': fputs(usage, stdout); return 0;
		case VQT_OPT_VERSION: vqt_print_version("virtq-svq"); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!sock || !backend || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	vqt_log_library(verbose);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	/* No SA_RESTART: cuts a blocked eventfd write short (proxy.c). */
	sigaction(SIGALRM, &(struct sigaction){ .sa_handler = on_alarm }, NULL);
	s = malloc(sizeof(*s));
	if (!s)
		return 1;
	rc = sp_init(s, backend);
	s->backend_layout = layout;
	s->giveback_status = giveback_status;
	if (rc == 0 && (rc = sp_serve(s, sock)) < 0)
		vqt_log(VQT_LOG_ERR, "cannot serve %s: %s", sock, strerror(-rc));
	if (rc == 0) {
		vqt_log(VQT_LOG_INFO, "listening on %s", sock);
		rc = loop(s);
		sp_log_totals(s);
	}
	sp_fini(s);
	free(s);
	return rc < 0 ? 1 : 0;
}
