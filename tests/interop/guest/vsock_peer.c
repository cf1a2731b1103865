/* SPDX-License-Identifier: MIT */
/*
 * vsock_peer: both ends of the vsock interop test (tests/interop/vsock_guest.sh).
 * Built twice by the script: `gcc -static` for the guest's initramfs (the
 * AF_VSOCK modes) and natively for the host (the AF_UNIX modes, which speak
 * the hybrid protocol virtq-vsock serves).  Every mode exits 0 on success
 * and prints one result line; failures say what differed.
 *
 * Data: a deterministic stream (xorshift64 from a seed), so either side can
 * check what it got byte for byte; bulk modes also print an FNV-1a hash of
 * every byte so the script can compare the two sides.
 *
 * Guest (AF_VSOCK, peer cid 2 = the host):
 *   stream-echo PORT BYTES   send BYTES, read them back, compare
 *   seq-echo PORT            SOCK_SEQPACKET: messages of several sizes, each
 *                            echoed as one message of the same size
 *   send PORT MIB            stream MIB MiB to the host, print the hash
 *   send-size PORT MB SIZE   MB * 10^6 bytes to the host in writes of SIZE
 *                            bytes (a fixed pattern: for benchmarks), print
 *                            "VSOCK-SEND-SIZE SIZE BYTES SECONDS"
 *   recv PORT MIB            read MIB MiB from the host, check, print the hash
 *   listen PORT              accept one connection, echo until EOF
 *   seq-listen PORT          the same with SOCK_SEQPACKET, message by message
 *   refused PORT             connecting must fail (nobody listens there)
 * Host (AF_UNIX):
 *   uds-echo PATH stream|seqpacket   serve one connection: echo until EOF
 *   uds-sink PATH MIB        accept, read MIB MiB, check, print the hash
 *   uds-source PATH MIB      accept, write MIB MiB
 *   uds-connect UDS PORT BYTES  host -> guest: CONNECT, OK, echo BYTES
 *   uds-connect-seq UDS PORT host -> guest SEQPACKET on UDS_seqpacket: CONNECT
 *                            and OK as records, then seq-echo's messages
 *   uds-blast PATH MB PAGES  accept, write MB * 10^6 bytes in writes of
 *                            PAGES pages (a fixed pattern: for benchmarks)
 *   uds-drain PATH           accept, read and discard until EOF
 *   uds-hold PATH SEC        accept, read nothing for SEC seconds, close
 *   uds-hold-many PATH SEC   accept every connection for SEC seconds, read
 *                            nothing, then close them all
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define CHUNK (64u << 10)

static void die(const char *what)
{
	fprintf(stderr, "vsock_peer: %s: %s\n", what, strerror(errno));
	exit(1);
}

struct gen { uint64_t s; uint64_t word; unsigned left; };

static uint8_t gen_byte(struct gen *g)
{
	if (!g->left) {
		g->s ^= g->s << 13;
		g->s ^= g->s >> 7;
		g->s ^= g->s << 17;
		g->word = g->s;
		g->left = 8;
	}
	g->left--;
	return (uint8_t)(g->word >> (8 * g->left));
}

static void gen_fill(struct gen *g, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = gen_byte(g);
}

static uint64_t fnv(uint64_t h, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void write_all(int fd, const uint8_t *b, size_t n)
{
	while (n) {
		ssize_t k = write(fd, b, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("write");
		b += k;
		n -= (size_t)k;
	}
}

static void read_all(int fd, uint8_t *b, size_t n)
{
	while (n) {
		ssize_t k = read(fd, b, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die("read");
		if (k == 0) {
			fprintf(stderr, "vsock_peer: EOF with %zu bytes missing\n", n);
			exit(1);
		}
		b += k;
		n -= (size_t)k;
	}
}

static int vsock_connect(unsigned port, int type)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST,
				 .svm_port = port };
	int s = socket(AF_VSOCK, type, 0);

	if (s < 0)
		die("socket(AF_VSOCK)");
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	return s;
}

/* Send BYTES of the stream and read them back, in CHUNK steps. */
static int stream_echo(int s, size_t bytes)
{
	static uint8_t out[CHUNK], in[CHUNK];
	struct gen g = { .s = 0x9e3779b97f4a7c15ull };

	for (size_t done = 0; done < bytes;) {
		size_t n = bytes - done < CHUNK ? bytes - done : CHUNK;

		gen_fill(&g, out, n);
		write_all(s, out, n);
		read_all(s, in, n);
		if (memcmp(in, out, n)) {
			fprintf(stderr, "echo differs in bytes %zu..%zu\n", done, done + n);
			return 1;
		}
		done += n;
	}
	return 0;
}

/* Messages of several sizes on seqpacket socket s, each echoed whole. */
static int seq_exchange(int s)
{
	static const size_t sizes[] = { 1, 100, 4096, 4097, 30000, 60000, 7, 65536 };
	static uint8_t out[65536], in[65536 + 1];
	struct gen g = { .s = 12345 };

	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ssize_t k;

		gen_fill(&g, out, sizes[i]);
		if (send(s, out, sizes[i], 0) != (ssize_t)sizes[i])
			die("send");
		k = recv(s, in, sizeof(in), 0);
		if (k != (ssize_t)sizes[i] || memcmp(in, out, sizes[i])) {
			fprintf(stderr, "message %u: sent %zu bytes, got %zd back%s\n", i, sizes[i], k,
				k == (ssize_t)sizes[i] ? " (different bytes)" : "");
			return 1;
		}
	}
	return (int)(sizeof(sizes) / sizeof(sizes[0]));
}

static int seq_echo(unsigned port)
{
	int s = vsock_connect(port, SOCK_SEQPACKET), n = seq_exchange(s);

	if (n <= 1)
		return 1;
	printf("VSOCK-SEQ-ECHO ok %d messages\n", n);
	close(s);
	return 0;
}

static int uds_connect_seq(const char *uds, unsigned port)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char line[64];
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0), n;
	ssize_t k;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s_seqpacket", uds);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect uds seqpacket");
	n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (send(s, line, (size_t)n, 0) != n)
		die("send CONNECT");
	k = recv(s, line, sizeof(line) - 1, 0);
	if (k <= 3 || strncmp(line, "OK ", 3) || line[k - 1] != '\n') {
		fprintf(stderr, "handshake answer: %zd bytes\n", k);
		return 1;
	}
	line[k] = '\0';
	n = seq_exchange(s);
	if (n <= 1)
		return 1;
	printf("UDS-CONNECT-SEQ ok %d messages %s", n, line);
	close(s);
	return 0;
}

static int send_size(unsigned port, unsigned long mb, size_t size)
{
	size_t total = mb * 1000000ul;
	uint8_t *b = malloc(size);
	int s = vsock_connect(port, SOCK_STREAM);
	double t0 = now();

	if (!b || !size)
		return 2;
	memset(b, 0x5a, size);
	for (size_t done = 0; done < total;) {
		size_t n = total - done < size ? total - done : size;

		write_all(s, b, n);
		done += n;
	}
	printf("VSOCK-SEND-SIZE %zu %zu %.3f\n", size, total, now() - t0);
	close(s);
	free(b);
	return 0;
}

/* Write MIB MiB of the stream; print its hash. */
static int source(int s, unsigned mib, const char *tag)
{
	static uint8_t b[CHUNK];
	struct gen g = { .s = 0x1234567887654321ull };
	uint64_t h = 0xcbf29ce484222325ull, total = (uint64_t)mib << 20;
	double t0 = now();

	for (uint64_t done = 0; done < total; done += CHUNK) {
		gen_fill(&g, b, CHUNK);
		h = fnv(h, b, CHUNK);
		write_all(s, b, CHUNK);
	}
	shutdown(s, SHUT_WR);
	printf("%s %016" PRIx64 " %u MiB %.1f MB/s\n", tag, h, mib, total / 1e6 / (now() - t0));
	return 0;
}

/* Read MIB MiB, check it against the stream; print the hash. */
static int sink(int s, unsigned mib, const char *tag)
{
	static uint8_t b[CHUNK], want[CHUNK];
	struct gen g = { .s = 0x1234567887654321ull };
	uint64_t h = 0xcbf29ce484222325ull, total = (uint64_t)mib << 20;
	double t0 = now();

	for (uint64_t done = 0; done < total; done += CHUNK) {
		read_all(s, b, CHUNK);
		gen_fill(&g, want, CHUNK);
		if (memcmp(b, want, CHUNK)) {
			fprintf(stderr, "%s: data differs in chunk at %" PRIu64 "\n", tag, done);
			return 1;
		}
		h = fnv(h, b, CHUNK);
	}
	printf("%s %016" PRIx64 " %u MiB %.1f MB/s\n", tag, h, mib, total / 1e6 / (now() - t0));
	return 0;
}

static int vsock_listen_echo(unsigned port, int type)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				 .svm_port = port };
	static uint8_t b[CHUNK];
	int l = socket(AF_VSOCK, type, 0), s;
	unsigned msgs = 0;
	ssize_t k;

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0)
		die("listen");
	printf("VSOCK-%sLISTENING %u\n", type == SOCK_SEQPACKET ? "SEQ-" : "", port);
	fflush(stdout);
	s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept");
	while ((k = recv(s, b, sizeof(b), 0)) > 0) { /* seqpacket: one message */
		if (type == SOCK_SEQPACKET) {
			if (send(s, b, (size_t)k, 0) != k)
				die("send");
			msgs++;
		} else {
			write_all(s, b, (size_t)k);
		}
	}
	if (type == SOCK_SEQPACKET)
		printf("VSOCK-SEQ-LISTEN-ECHO ok %u messages\n", msgs);
	else
		printf("VSOCK-LISTEN-ECHO ok\n");
	return 0;
}

static int refused(unsigned port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST,
				 .svm_port = port };
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) {
		fprintf(stderr, "connect to port %u succeeded\n", port);
		return 1;
	}
	printf("VSOCK-REFUSED ok (%s)\n", strerror(errno));
	return 0;
}

/* ---- host side */

static int uds_accept(const char *path, int type)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, type, 0), s;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0)
		die("uds listen");
	s = accept(l, NULL, NULL);
	if (s < 0)
		die("uds accept");
	close(l);
	return s;
}

static int uds_echo(const char *path, const char *type)
{
	int seq = !strcmp(type, "seqpacket");
	int s = uds_accept(path, seq ? SOCK_SEQPACKET : SOCK_STREAM);
	static uint8_t b[1 << 20];
	uint64_t msgs = 0, bytes = 0;
	ssize_t k;

	while ((k = recv(s, b, sizeof(b), 0)) > 0) {
		if (send(s, b, (size_t)k, MSG_NOSIGNAL) != k)
			die("uds send");
		msgs++;
		bytes += (uint64_t)k;
	}
	printf("UDS-ECHO %s %" PRIu64 " reads %" PRIu64 " bytes\n", type, msgs, bytes);
	return 0;
}

static int uds_connect(const char *uds, unsigned port, size_t bytes)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char line[64], want[32];
	int s = socket(AF_UNIX, SOCK_STREAM, 0), rc;
	size_t n = 0;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", uds);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect uds");
	n = (size_t)snprintf(line, sizeof(line), "CONNECT %u\n", port);
	write_all(s, (uint8_t *)line, n);
	for (n = 0; n < sizeof(line) - 1; n++) { /* the OK line, byte by byte */
		if (read(s, line + n, 1) != 1)
			die("read OK line");
		if (line[n] == '\n')
			break;
	}
	line[n + 1] = '\0';
	snprintf(want, sizeof(want), "OK ");
	if (strncmp(line, want, 3)) {
		fprintf(stderr, "handshake answer '%s'\n", line);
		return 1;
	}
	rc = stream_echo(s, bytes);
	if (!rc)
		printf("UDS-CONNECT ok %s", line);
	close(s);
	return rc;
}

static int uds_blast(const char *path, unsigned long mb, unsigned long pages)
{
	size_t chunk = pages * 4096, total = mb * 1000000ul;
	uint8_t *b = malloc(chunk);
	int s;

	if (!b || !chunk)
		return 2;
	memset(b, 0x5a, chunk);
	s = uds_accept(path, SOCK_STREAM);
	for (size_t done = 0; done < total;) {
		size_t n = total - done < chunk ? total - done : chunk;

		write_all(s, b, n);
		done += n;
	}
	close(s);
	return 0;
}

static int uds_hold_many(const char *path, unsigned sec)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	time_t end = time(NULL) + sec;
	unsigned n = 0;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 512) < 0)
		die("uds listen");
	while (time(NULL) < end) {
		struct pollfd p = { l, POLLIN, 0 };

		if (poll(&p, 1, 100) == 1 && accept(l, NULL, NULL) >= 0)
			n++; /* kept open until exit */
	}
	printf("UDS-HOLD-MANY %u connections\n", n);
	return 0;
}

static int uds_drain(const char *path)
{
	static uint8_t b[1 << 20];
	int s = uds_accept(path, SOCK_STREAM);
	uint64_t total = 0;
	ssize_t k;

	while ((k = read(s, b, sizeof(b))) > 0)
		total += (uint64_t)k;
	printf("UDS-DRAIN %" PRIu64 " bytes\n", total);
	return k < 0;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";
	unsigned port = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 0;
	unsigned long n = argc > 3 ? strtoul(argv[3], NULL, 0) : 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(m, "stream-echo") && argc == 4) {
		int s = vsock_connect(port, SOCK_STREAM), rc = stream_echo(s, n);

		if (!rc)
			printf("VSOCK-STREAM-ECHO ok %lu bytes\n", n);
		return rc;
	}
	if (!strcmp(m, "seq-echo") && argc == 3)
		return seq_echo(port);
	if (!strcmp(m, "send-size") && argc == 5)
		return send_size(port, n, strtoul(argv[4], NULL, 0));
	if (!strcmp(m, "send") && argc == 4)
		return source(vsock_connect(port, SOCK_STREAM), (unsigned)n, "VSOCK-SEND-HASH");
	if (!strcmp(m, "recv") && argc == 4)
		return sink(vsock_connect(port, SOCK_STREAM), (unsigned)n, "VSOCK-RECV-HASH");
	if (!strcmp(m, "listen") && argc == 3)
		return vsock_listen_echo(port, SOCK_STREAM);
	if (!strcmp(m, "seq-listen") && argc == 3)
		return vsock_listen_echo(port, SOCK_SEQPACKET);
	if (!strcmp(m, "uds-connect-seq") && argc == 4)
		return uds_connect_seq(argv[2], (unsigned)strtoul(argv[3], NULL, 0));
	if (!strcmp(m, "refused") && argc == 3)
		return refused(port);
	if (!strcmp(m, "uds-echo") && argc == 4)
		return uds_echo(argv[2], argv[3]);
	if (!strcmp(m, "uds-sink") && argc == 4)
		return sink(uds_accept(argv[2], SOCK_STREAM), (unsigned)n, "UDS-SINK-HASH");
	if (!strcmp(m, "uds-source") && argc == 4)
		return source(uds_accept(argv[2], SOCK_STREAM), (unsigned)n, "UDS-SOURCE-HASH");
	if (!strcmp(m, "uds-connect") && argc == 5)
		return uds_connect(argv[2], (unsigned)strtoul(argv[3], NULL, 0),
				   strtoul(argv[4], NULL, 0));
	if (!strcmp(m, "uds-hold") && argc == 4) {
		int s = uds_accept(argv[2], SOCK_STREAM);

		sleep((unsigned)n);
		close(s);
		return 0;
	}
	if (!strcmp(m, "uds-hold-many") && argc == 4)
		return uds_hold_many(argv[2], (unsigned)n);
	if (!strcmp(m, "uds-drain") && argc == 3)
		return uds_drain(argv[2]);
	if (!strcmp(m, "uds-blast") && argc == 5)
		return uds_blast(argv[2], n, strtoul(argv[4], NULL, 0));
	fprintf(stderr, "usage: see the comment at the top of vsock_peer.c\n");
	return 2;
}
