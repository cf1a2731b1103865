/* SPDX-License-Identifier: MIT */
/*
 * virtq-hostile: a hostile vhost-user peer for tests (tests/interop/hostile_*.sh).
 *
 *   fe: a frontend that connects to a backend (virtq-net, virtq-blk), and per
 *       run commits one violation (a "case"): ring violations after a valid
 *       setup on a shared memfd, or protocol violations on the socket.
 *   be: a backend listening on a socket that a frontend (virtq-user) connects
 *       to, answering with bad replies or writing bad used entries.
 *   fe --dev vsock: a guest breaking the virtio-vsock rules against
 *       virtq-vsock (vsock.c): bad lengths, credit overruns and lies,
 *       unknown connections, floods of packets, ops and connections.
 *
 * A case checks the peer's reaction it can see (error eventfd signalled,
 * connection closed, error ack, ring untouched) and exits 0 when it was the
 * expected one, 1 when not, 2 on a usage error, 3 when the setup before the
 * violation failed.  The peer's log line is the caller's to check: `list`
 * prints every case with the text that line must contain.
 */
#ifndef VQ_HOSTILE_H
#define VQ_HOSTILE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../tests/harness/vu_client.h"
#include "../common/tool.h"

enum hdev { HDEV_NET, HDEV_BLK, HDEV_VSOCK };

struct hopts {
	const char *path;
	const char *name;  /* case */
	enum hdev dev;
	int hold_ms;       /* keep the connection this long after the reaction */
	uint64_t seed;     /* blk-fill / blk-check pattern */
	const char *acked; /* blk-check: the blk-fill output */
	bool list;         /* --list */
	const char *probe; /* stall-mid-header: another port of the same daemon */
	unsigned pace_us;  /* blk-fill: pause after each write */
	uint32_t port;     /* vsock: the host port a case uses; 0 = the case's */
};

#define HLOG(...) do { fprintf(stderr, "virtq-hostile: " __VA_ARGS__); fputc('\n', stderr); } while (0)

int hostile_fe(const struct hopts *o);
void hostile_fe_list(void);
int hostile_be(const struct hopts *o);
int hostile_blk_fill(const struct hopts *o);
int hostile_blk_check(const struct hopts *o);
void hostile_be_list(void);
int hostile_vsock(const struct hopts *o);
void hostile_vsock_list(void);
void hostile_sleep_ms(int ms);
bool hostile_stopped(void); /* SIGTERM or SIGINT seen */

#endif
