/* SPDX-License-Identifier: MIT */
/*
 * TAP port: /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (12-byte
 * virtio-net header), checksum and TSO offloads on, so big TCP frames from
 * the host reach guests that take them (vq_net segments for those that do
 * not).  One read or writev per frame.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vn.h"

#define TAP_HDR   ((int)sizeof(struct virtio_net_hdr_v1))
#define TAP_IOV   130u

struct vn_tap {
	int fd;
};

int vn_tap_fd(const struct vn_port *p)
{
	return p->tap->fd;
}

static void tap_up(const char *ifname)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			vn_log("%s: cannot bring the interface up: %s", ifname, strerror(errno));
	}
	close(s);
}

static int tap_open(const char *name, char ifname[IFNAMSIZ])
{
	struct ifreq ifr;
	int hs = TAP_HDR, fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hs) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0)
		vn_log("%s: no offloads: %s", ifr.ifr_name, strerror(errno));
	memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	return fd;
}

int vn_tap_new(struct vn_daemon *d, const char *name, struct vn_port **out)
{
	struct vn_port *p = calloc(1, sizeof(*p));
	char ifname[IFNAMSIZ];
	int fd;

	if (!p || !(p->tap = calloc(1, sizeof(*p->tap)))) {
		free(p);
		return -ENOMEM;
	}
	if ((fd = tap_open(name, ifname)) < 0) {
		free(p->tap);
		free(p);
		return fd;
	}
	p->tap->fd = fd;
	p->d = d;
	p->idx = d->nports;
	p->ctrl_idx = UINT32_MAX;
	snprintf(p->name, sizeof(p->name), "%s", ifname);
	tap_up(ifname);
	*out = p;
	return 0;
}

void vn_tap_free(struct vn_port *p)
{
	if (!p)
		return;
	close(p->tap->fd);
	free(p->tap);
	free(p);
}

/* Read up to a burst from the TAP and switch it.  Returns frames read. */
unsigned vn_tap_poll(struct vn_worker *w, struct vn_port *p)
{
	struct vn_counters *c = &w->pc[p->idx];
	struct vq_net_pkt *pkts[VN_BURST];
	unsigned n = 0;

	while (n < VN_BURST) {
		uint8_t *buf = w->tapbuf + (size_t)n * VN_TAP_FRAME;
		struct vq_net_pkt *pkt = &w->tappkt[n];
		ssize_t r = read(p->tap->fd, buf, VN_TAP_FRAME);

		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				vn_add(&c->errors, 1);
			break;
		}
		if (r < TAP_HDR + (ssize_t)VQ_NET_MIN_FRAME) {
			vn_add(&c->errors, 1);
			continue;
		}
		memcpy(&pkt->hdr, buf, TAP_HDR);
		pkt->hdr.num_buffers = 0;
		w->tapiov[n] = (struct iovec){ buf + TAP_HDR, (size_t)r - TAP_HDR };
		pkt->iov = &w->tapiov[n];
		pkt->iovcnt = 1;
		pkt->len = (uint32_t)(r - TAP_HDR);
		vn_add(&c->rx_pkts, 1);
		vn_add(&c->rx_bytes, pkt->len);
		pkts[n++] = pkt;
	}
	if (n)
		vn_switch_burst(w, p, 0, pkts, n);
	return n;
}

/* Header, then the frame's segments trimmed to its length.  Count or 0. */
static unsigned tap_iov(const struct vq_net_pkt *pkt, struct iovec *v)
{
	size_t left = pkt->len;
	unsigned k = 1;

	v[0] = (struct iovec){ (void *)&pkt->hdr, TAP_HDR };
	for (unsigned i = 0; i < pkt->iovcnt && left; i++, k++) {
		if (k == TAP_IOV)
			return 0;
		v[k] = pkt->iov[i];
		if (v[k].iov_len > left)
			v[k].iov_len = left;
		left -= v[k].iov_len;
	}
	return left ? 0 : k;
}

void vn_tap_send(struct vn_worker *w, struct vn_port *p, struct vq_net_pkt *const *pkts,
		 unsigned n)
{
	struct vn_counters *c = &w->pc[p->idx];
	struct iovec v[TAP_IOV];

	for (unsigned i = 0; i < n; i++) {
		unsigned cnt = tap_iov(pkts[i], v);

		if (!cnt) {
			vn_add(&c->errors, 1);
			continue;
		}
		if (writev(p->tap->fd, v, (int)cnt) < 0) {
			vn_add(errno == EAGAIN || errno == ENOBUFS ? &c->drops : &c->errors, 1);
			continue;
		}
		vn_add(&c->tx_pkts, 1);
		vn_add(&c->tx_bytes, pkts[i]->len);
	}
}
