/* SPDX-License-Identifier: MIT */
/*
 * virtq-svq: a vhost-user proxy that relays every queue through shadow
 * virtqueues.  Towards the frontend (--socket) it is a vhost-user backend;
 * towards the real backend (--backend) a vhost-user frontend presenting
 * a memory layout of its own, in IOVA space.  Device features, config and
 * queue count follow the backend.  One thread: the control socket, the
 * guest kicks and the backend calls are polled together.  When the backend
 * goes away, the buffers it held go back to the guest (used, length 0; with
 * --type blk, VIRTIO_BLK_S_IOERR in their status byte), the frontend stays,
 * and once the backend is back its rings are relayed again.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* What to poll: the frontend's control socket, the backend's, then kick
 * and call fds of each queue. */
struct sp_poll {
	struct pollfd pfd[2 + 2 * VQ_VU_MAX_QUEUES];
	unsigned idx[2 + 2 * VQ_VU_MAX_QUEUES];
	unsigned n;
};

static void poll_build(struct sp *s, struct sp_poll *p)
{
	p->n = 0;
	p->pfd[p->n++] = (struct pollfd){ .fd = vq_vu_fd(s->b), .events = POLLIN };
	/* -1 while the backend is away: poll skips it. */
	p->pfd[p->n++] = (struct pollfd){ .fd = s->backend_up ? vq_fe_fd(s->fe) : -1,
					  .events = POLLIN | POLLRDHUP };
	for (unsigned i = 0; i < s->nq; i++) {
		if (!s->q[i].svq)
			continue;
		p->idx[p->n] = i;
		p->pfd[p->n++] = (struct pollfd){ .fd = vq_vu_queue_kick_fd(s->q[i].vq),
						  .events = POLLIN };
		p->idx[p->n] = i;
		p->pfd[p->n++] = (struct pollfd){ .fd = vq_fe_call_fd(s->fe, i), .events = POLLIN };
	}
}

/* The backend's side of a round: notice it went away (a failed request
 * on the way, its socket's event, or a check on every idle round), or
 * reconnect it.  Returns 0, or -ECONNRESET to give up. */
static int backend_check(struct sp *s, int n, const struct sp_poll *p)
{
	if (s->backend_up && (vq_fe_state(s->fe) != VQ_FE_READY ||
			      ((n <= 0 || p->pfd[1].revents) && vq_fe_poll(s->fe) != VQ_FE_READY))) {
		vqt_log(VQT_LOG_ERR, "backend went away: %s", vq_fe_error(s->fe));
		sp_backend_lost(s);
	}
	if (!s->backend_up && sp_backend_retry(s) < 0)
		return -ECONNRESET;
	return 0;
}

/* Relay every queue with a kick or a call in this round, each once and
 * both ways, and those whose last relay stopped at its budget. */
static void relay_ready(struct sp *s, const struct sp_poll *p, int n)
{
	uint8_t ready[VQ_VU_MAX_QUEUES] = { 0 }; /* 1: kick, 2: call */
	bool any = false;

	for (unsigned i = 2; n > 0 && i < p->n; i++)
		if (p->pfd[i].revents)
			ready[p->idx[i]] |= (i & 1) ? 2 : 1;
	for (unsigned i = 0; i < s->nq; i++) {
		if ((!ready[i] && !s->q[i].again) || !s->q[i].svq)
			continue;
		sp_relay(s, i, ready[i] & 1, ready[i] & 2);
		any = true;
	}
	s->st.wakeups += any;
}

static int loop(struct sp *s)
{
	struct sp_poll p;
	bool again = false;
	int n, rc, t, max;

	while (!stop) {
		poll_build(s, &p);
		t = vq_vu_timeout_ms(s->b);
		max = again ? 0 : s->backend_up ? 200 : (int)SP_RETRY_MS;
		s->st.polls++;
		n = poll(p.pfd, p.n, t < 0 || t > max ? max : t);
		if (n < 0 && errno != EINTR)
			return -errno;
		relay_ready(s, &p, n);
		again = sp_flush(s);
		if ((n > 0 && p.pfd[0].revents) || vq_vu_timeout_ms(s->b) == 0)
			if ((rc = vq_vu_dispatch(s->b)) < 0)
				return rc;
		/* The backend's socket: on an event, and on every idle round. */
		if ((rc = backend_check(s, n, &p)) < 0)
			return stop ? 0 : rc;
	}
	return 0;
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
