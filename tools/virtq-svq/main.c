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
#include <time.h>
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
	"      --coalesce N[:USEC]\n"
	"                        notification moderation, off by default: after a\n"
	"                        relay that moved buffers, the proxy asks each side\n"
	"                        that negotiated EVENT_IDX to kick or call only after\n"
	"                        N more buffers (the backend: at most those it holds),\n"
	"                        and relays on its own after USEC microseconds\n"
	"                        (default 50) when fewer came: fewer wake-ups per\n"
	"                        buffer for up to USEC of added latency.  A side\n"
	"                        without EVENT_IDX is signalled as without the option\n"
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

/* epoll_wait with a timeout in nanoseconds: epoll_pwait2 (Linux 5.11),
 * else epoll_wait rounded up to a millisecond. */
static int wait_ns(int epfd, struct epoll_event *ev, int max, uint64_t ns)
{
	static bool no_pwait2;
	struct timespec t = { .tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u) };
	int n;

	if (!no_pwait2) {
		n = epoll_pwait2(epfd, ev, max, &t, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		no_pwait2 = true;
	}
	return epoll_wait(epfd, ev, max, (int)((ns + 999999u) / 1000000u));
}

/* Wait up to timeout_ns; ready[] says which slots have an event.  Returns
 * the number of slots, 0 on timeout, -errno. */
static int wait_round(struct sp *s, struct sp_wait *w, uint64_t timeout_ns)
{
	struct epoll_event ev[SP_SLOTS];
	int want[SP_SLOTS], n, rc;

	wait_want(s, want);
	if (s->fds_changed || memcmp(want, w->fd, sizeof(want)))
		if ((rc = wait_build(s, w, want)) < 0)
			return rc;
	memset(w->ready, 0, sizeof(w->ready));
	s->st.polls++;
	n = wait_ns(w->epfd, ev, SP_SLOTS, timeout_ns);
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
 * both ways, those whose last relay stopped at its budget, and those whose
 * --coalesce timer is due (buffers below the moderation threshold). */
static void relay_ready(struct sp *s, const struct sp_wait *w)
{
	bool any = false;

	for (unsigned i = 0; i < s->nq; i++) {
		bool due = s->q[i].due_ns && s->q[i].due_ns <= s->now_ns;
		bool signalled = w->ready[2 + 2 * i] || w->ready[3 + 2 * i];

		if ((!signalled && !s->q[i].again && !due) || !s->q[i].svq)
			continue;
		s->st.timer += !signalled && !s->q[i].again;
		sp_relay(s, i);
		any = true;
	}
	s->st.wakeups += any;
}

/* The earliest --coalesce timer of the relayed queues (0: none). */
static uint64_t next_due(const struct sp *s)
{
	uint64_t due = 0;

	for (unsigned i = 0; i < s->nq; i++)
		if (s->q[i].svq && s->q[i].due_ns && (!due || s->q[i].due_ns < due))
			due = s->q[i].due_ns;
	return due;
}

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
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

/* --coalesce N[:USEC]: N 1..32768 (1: off), USEC 1..1000000. */
static int parse_coalesce(const char *arg, unsigned *n, unsigned *us)
{
	char buf[32];
	char *colon;

	if (strlen(arg) >= sizeof(buf))
		return vqt_parse_fail("'%s': N or N:USEC", arg);
	strcpy(buf, arg);
	colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		if (vqt_parse_uint(colon + 1, 1, 1000000, us) < 0)
			return -EINVAL;
	}
	if (vqt_parse_uint(buf, 1, VQ_MAX_QUEUE_SIZE, n) < 0)
		return -EINVAL;
	if (*n == 1)
		*n = 0; /* a signal per buffer: off */
	return 0;
}

static int loop(struct sp *s)
{
	struct sp_wait w = { .epfd = -1 };
	bool again = false;
	int n, rc = 0, t, max;
	uint64_t tns, due;

	while (!stop) {
		t = vq_vu_timeout_ms(s->b);
		max = again ? 0 : s->backend_up ? 200 : (int)SP_RETRY_MS;
		tns = (uint64_t)(t < 0 || t > max ? max : t) * 1000000u;
		/* A moderated queue's timer (--coalesce): a clock read per
		 * round only while one runs. */
		if ((due = next_due(s)) != 0) {
			s->now_ns = mono_ns();
			tns = due <= s->now_ns ? 0 : due - s->now_ns < tns ? due - s->now_ns : tns;
		}
		n = wait_round(s, &w, tns);
		if (n < 0) {
			rc = n;
			break;
		}
		if (s->coalesce)
			s->now_ns = mono_ns();
		if (n == 0 && !again && !due)
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

/* What the options ask for, applied to struct sp after sp_init. */
struct sp_opts {
	const char *sock, *backend;
	enum sp_layout layout;
	uint8_t giveback_status;
	unsigned coalesce, coalesce_us;
	bool verbose;
};

/* One option of --backend-layout, --type or --coalesce: 0, or 2 (said why). */
static int opt_value(struct sp_opts *o, int c, const char *arg)
{
	if (c == 'L' && !strcmp(arg, "split"))
		o->layout = SP_LAYOUT_SPLIT;
	else if (c == 'L' && !strcmp(arg, "packed"))
		o->layout = SP_LAYOUT_PACKED;
	else if (c == 'L' && strcmp(arg, "guest"))
		return fputs("--backend-layout: guest, split or packed\n", stderr), 2;
	else if (c == 'T' && !strcmp(arg, "blk"))
		o->giveback_status = VIRTIO_BLK_S_IOERR;
	else if (c == 'T' && strcmp(arg, "other"))
		return fputs("--type: blk or other\n", stderr), 2;
	else if (c == 'C' && parse_coalesce(arg, &o->coalesce, &o->coalesce_us) < 0)
		return fprintf(stderr, "--coalesce: %s\n", vqt_parse_error()), 2;
	return 0;
}

/* Parse argv into o: -1 to run, else the exit status. */
static int parse_args(int argc, char **argv, struct sp_opts *o)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "backend", required_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "backend-layout", required_argument, NULL, 'L' },
		{ "type", required_argument, NULL, 'T' },
		{ "coalesce", required_argument, NULL, 'C' },
		{ "version", no_argument, NULL, VQT_OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct sp_opts){ .layout = SP_LAYOUT_GUEST, .coalesce_us = 50 };
	while ((c = getopt_long(argc, argv, "s:b:vh", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->sock = optarg; break;
		case 'b': o->backend = optarg; break;
		case 'v': o->verbose = true; break;
		case 'L': case 'T': case 'C':
			if (opt_value(o, c, optarg))
				return 2;
			break;
		case 'h': fputs(usage, stdout); return 0;
		case VQT_OPT_VERSION: vqt_print_version("virtq-svq"); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!o->sock || !o->backend || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct sp_opts o;
	struct sp *s;
	int rc;

	vqt_log_init("virtq-svq");
	if ((rc = parse_args(argc, argv, &o)) >= 0)
		return rc;
	vqt_log_library(o.verbose);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	/* No SA_RESTART: cuts a blocked eventfd write short (proxy.c). */
	sigaction(SIGALRM, &(struct sigaction){ .sa_handler = on_alarm }, NULL);
	s = malloc(sizeof(*s));
	if (!s)
		return 1;
	rc = sp_init(s, o.backend);
	s->backend_layout = o.layout;
	s->giveback_status = o.giveback_status;
	s->coalesce = o.coalesce;
	s->coalesce_us = o.coalesce_us;
	if (o.coalesce)
		vqt_log(VQT_LOG_INFO, "notification moderation: %u buffers, %u us latency bound",
			o.coalesce, o.coalesce_us);
	if (rc == 0 && (rc = sp_serve(s, o.sock)) < 0)
		vqt_log(VQT_LOG_ERR, "cannot serve %s: %s", o.sock, strerror(-rc));
	if (rc == 0) {
		vqt_log(VQT_LOG_INFO, "listening on %s", o.sock);
		rc = loop(s);
		sp_log_totals(s);
	}
	sp_fini(s);
	free(s);
	return rc < 0 ? 1 : 0;
}
