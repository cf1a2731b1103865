/* SPDX-License-Identifier: MIT */
/*
 * Statistics, read on the control thread.  A port's counters are the sum of
 * its vq_net queue counters (written by the workers; read racily), what was
 * folded from them at each reset, and the per-worker counters (switch drops,
 * TAP traffic).  Directions are the switch's: rx = frames the port sent into
 * the switch (guest TX), tx = frames the switch delivered to the port.
 */
#include <stdio.h>

#include "vn.h"

static void add(struct vn_counters *c, const struct vn_counters *a)
{
	c->rx_pkts += a->rx_pkts;
	c->rx_bytes += a->rx_bytes;
	c->tx_pkts += a->tx_pkts;
	c->tx_bytes += a->tx_bytes;
	c->drops += a->drops;
	c->errors += a->errors;
}

static void net_counters(const struct vn_port *p, struct vn_counters *c)
{
	struct vq_net_queue_stats cs;
	struct vq_net_stats s;

	if (!p->net)
		return;
	/* The port receives what the guest transmits, and the reverse. */
	for (unsigned qp = 0; vq_net_get_stats(p->net, qp, &s) == 0; qp++) {
		c->errors += s.rx.errors + s.tx.errors;
		c->rx_pkts += s.tx.packets;
		c->rx_bytes += s.tx.bytes;
		c->tx_pkts += s.rx.packets;
		c->tx_bytes += s.rx.bytes;
		c->drops += s.rx.drops;
	}
	if (vq_net_get_ctrl_stats(p->net, &cs) == 0)
		c->errors += cs.errors;
}

/* Before vq_net_reset: keep what the device counted so far. */
void vn_port_fold(struct vn_port *p)
{
	net_counters(p, &p->base);
}

void vn_port_counters(struct vn_daemon *d, struct vn_port *p, struct vn_counters *c)
{
	*c = p->base;
	net_counters(p, c);
	c->errors += atomic_load(&p->nbroken);
	for (unsigned i = 0; i < d->nworkers; i++) {
		if (!d->workers[i] || !d->workers[i]->pc)
			continue;
		const struct vn_counters *w = &d->workers[i]->pc[p->idx];
		struct vn_counters v = {
			vn_get(&w->rx_pkts), vn_get(&w->rx_bytes), vn_get(&w->tx_pkts),
			vn_get(&w->tx_bytes), vn_get(&w->drops), vn_get(&w->errors),
		};

		add(c, &v);
	}
}

/* The port's full socket path (the TAP's interface name). */
static const char *port_path(const struct vn_port *p)
{
	return p->path ? p->path : p->name;
}

static void print_json(const struct vn_port *p, double t, const struct vn_counters *c,
		       const double r[4], bool total)
{
	printf("{\"time\":%.3f,\"port\":\"%s\",\"index\":%u,\"%s\":", t, p->name, p->idx,
	       p->path ? "socket" : "tap");
	vqt_json_str(port_path(p));
	printf(",%s"
	       "\"rx_packets\":%llu,\"rx_bytes\":%llu,\"rx_pps\":%.0f,\"rx_bps\":%.0f,"
	       "\"tx_packets\":%llu,\"tx_bytes\":%llu,\"tx_pps\":%.0f,\"tx_bps\":%.0f,"
	       "\"drops\":%llu,\"errors\":%llu}\n",
	       total ? "\"total\":true," : "",
	       (unsigned long long)c->rx_pkts, (unsigned long long)c->rx_bytes, r[0], r[1],
	       (unsigned long long)c->tx_pkts, (unsigned long long)c->tx_bytes, r[2], r[3],
	       (unsigned long long)c->drops, (unsigned long long)c->errors);
}

static void print_text(const struct vn_port *p, double t, const struct vn_counters *c,
		       const double r[4], bool total)
{
	char when[32];

	if (total)
		snprintf(when, sizeof(when), "total %.1fs", t);
	else
		snprintf(when, sizeof(when), "%.1fs", t);
	printf("%-12s %-16s rx %12llu pkts %8.3f Mpps %8.3f Gbit/s | "
	       "tx %12llu pkts %8.3f Mpps %8.3f Gbit/s | drops %llu errors %llu | port %u %s\n",
	       when, p->name, (unsigned long long)c->rx_pkts, r[0] / 1e6, r[1] / 1e9,
	       (unsigned long long)c->tx_pkts, r[2] / 1e6, r[3] / 1e9,
	       (unsigned long long)c->drops, (unsigned long long)c->errors, p->idx,
	       port_path(p));
}

/*
 * One line per port: rates over dt since the last line (total: since the
 * start, cumulative counters).  bit/s counts frame bytes (no virtio header,
 * no Ethernet preamble or FCS).
 */
void vn_stats_print(struct vn_daemon *d, double now, double dt, bool total)
{
	double t = now - d->t_start;

	for (unsigned i = 0; i < d->nports; i++) {
		struct vn_port *p = d->ports[i];
		const struct vn_counters *o = &p->last;
		struct vn_counters c, zero = { 0 };
		double r[4];

		vn_port_counters(d, p, &c);
		if (total) {
			o = &zero;
			dt = t;
		}
		dt = dt > 1e-9 ? dt : 1e-9;
		r[0] = (double)(c.rx_pkts - o->rx_pkts) / dt;
		r[1] = (double)(c.rx_bytes - o->rx_bytes) * 8 / dt;
		r[2] = (double)(c.tx_pkts - o->tx_pkts) / dt;
		r[3] = (double)(c.tx_bytes - o->tx_bytes) * 8 / dt;
		if (d->o.stats_json)
			print_json(p, t, &c, r, total);
		else
			print_text(p, t, &c, r, total);
		p->last = c;
	}
	fflush(stdout);
}
