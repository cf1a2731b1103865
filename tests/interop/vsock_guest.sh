#!/bin/bash
# vsock_guest.sh - virtq-vsock serving QEMU 7.2's vhost-user-vsock-pci to a
# Linux guest (TCG), with host peers on Unix sockets (the hybrid protocol of
# vhost-device-vsock).  One boot; the guest runs vsock_peer (built here with
# gcc -static from tests/interop/guest/vsock_peer.c):
#   - stream echo, guest -> host port 5000 (1 MiB through an echo peer);
#   - seqpacket echo, guest -> host port 5001: 8 messages of 1 B..64 KiB,
#     each must come back as one message of the same size (boundaries kept
#     on both sides: the host peer is an AF_UNIX SOCK_SEQPACKET socket);
#   - bulk guest -> host (port 5002) and host -> guest (port 5003) of
#     $VSOCK_MIB MiB each, every byte checked on the receiving side and the
#     FNV-1a hashes of both sides compared;
#   - a connection to a port nobody listens on must fail (RST);
#   - host -> guest: a host program writes "CONNECT 6000\n" to the daemon's
#     socket, reads "OK <port>\n", and echoes 256 KiB through the guest;
#   - host -> guest SEQPACKET: the same on the daemon's "_seqpacket" socket
#     (SOCK_SEQPACKET, one record per line) to a guest seqpacket listener
#     on port 6001, then the 8 messages of the seqpacket echo, each echoed
#     whole by the guest.
# The daemon is stopped with SIGINT and must print its totals.
#
# VSOCK_MIB (default 256): bulk size each way.  Prints PASS/FAIL/SKIP;
# exit 0 passed, 77 skipped, 1 failed.  VIRTQ_KEEP=1 keeps the work dir.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
LIB=$ROOT/tests/interop/lib
. "$LIB/guest.sh"

NAME=vsock_guest
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}/virtq-vsock
MIB=${VSOCK_MIB:-256}
CID=42

skip() { echo "SKIP $NAME: $*"; exit 77; }
fail() { echo "FAIL $NAME: $*"; [[ -n ${LOG:-} ]] && guest_dump "$LOG"; \
	[[ -n ${DLOG:-} ]] && { echo "---- daemon log ----" >&2; tail -n 20 "$DLOG" >&2; }
	for f in "$WORK"/peer*.log; do echo "---- $f ----" >&2; tail -n 5 "$f" >&2; done; exit 1; }

[[ -x $BIN ]] || skip "$BIN not built"
need_qemu || skip "qemu-system-x86 not installable"
need_guest_kernel || skip "no guest kernel"
need_busybox || skip "busybox-static not installable"
need_cpio || skip "cpio not installable"
need_pkgs gcc libc6-dev || skip "gcc / libc6-dev (static libc) not installable"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/virtq-vsock-guest.XXXXXX")
if [[ -n ${VIRTQ_KEEP:-} ]]; then echo "  work dir kept: $WORK"; else vq_on_exit "rm -rf '$WORK'"; fi
SOCK=$WORK/vu.sock
UDS=$WORK/vsock
PEER_SRC=$ROOT/tests/interop/guest/vsock_peer.c

gcc -O2 -Wall -Werror -static -o "$WORK/vsock_peer.static" "$PEER_SRC" 2>"$WORK/gcc.log" ||
	{ cat "$WORK/gcc.log" >&2; fail "gcc -static vsock_peer.c failed"; }
gcc -O2 -Wall -Werror -o "$WORK/vsock_peer" "$PEER_SRC" || fail "gcc vsock_peer.c failed"
PEER=$WORK/vsock_peer

cat >"$WORK/test.sh" <<EOF
P=/bin/vsock_peer
\$P listen 6000 &
L1=\$!
\$P seq-listen 6001 &
L2=\$!
\$P stream-echo 5000 1048576 || exit 1
\$P seq-echo 5001 || exit 2
\$P send 5002 $MIB || exit 3
\$P recv 5003 $MIB || exit 4
\$P refused 5999 || exit 5
for l in \$L1 \$L2; do
	i=0; while kill -0 \$l 2>/dev/null && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done
	wait \$l || exit 6
done
exit 0
EOF
bash "$VIRTQ_MKINITRAMFS" "$WORK/initrd.gz" --init "$WORK/test.sh" \
	--add "$WORK/vsock_peer.static" /bin/vsock_peer \
	--module vmw_vsock_virtio_transport >"$WORK/mkinitramfs.log" 2>&1
rc=$?
((rc == 77)) && skip "initramfs: $(grep SKIP "$WORK/mkinitramfs.log" | head -n 1)"
((rc == 0)) || { cat "$WORK/mkinitramfs.log" >&2; fail "mkinitramfs failed"; }

# ---- host peers, one connection each, then the daemon
vq_spawn "$WORK/peer-echo.log" 300 "$PEER" uds-echo "${UDS}_5000" stream
vq_spawn "$WORK/peer-seq.log" 300 "$PEER" uds-echo "${UDS}_5001" seqpacket
vq_spawn "$WORK/peer-sink.log" 300 "$PEER" uds-sink "${UDS}_5002" "$MIB"
vq_spawn "$WORK/peer-source.log" 300 "$PEER" uds-source "${UDS}_5003" "$MIB"
DLOG=$WORK/daemon.log
vq_spawn "$DLOG" 600 "$BIN" --socket-path "$SOCK" --guest-cid $CID --uds-path "$UDS"
DPID=$VQ_PID
for _ in $(seq 100); do [[ -S $SOCK && -S $UDS ]] && break; sleep 0.1; done
[[ -S $SOCK ]] || fail "daemon did not create $SOCK"

LOG=$WORK/guest.log
t0=$SECONDS
guest_start "$LOG" "$WORK/initrd.gz" \
	-chardev socket,id=c0,path="$SOCK" \
	-device vhost-user-vsock-pci,chardev=c0,vectors=0 || fail "QEMU did not start"
# host -> guest, once the guest listens
guest_wait_marker "$LOG" '^VSOCK-LISTENING 6000' 120 || fail "the guest never listened on port 6000"
"$PEER" uds-connect "$UDS" 6000 262144 >"$WORK/peer-connect.log" 2>&1 ||
	fail "host -> guest connection: $(tail -n 2 "$WORK/peer-connect.log")"
guest_wait_marker "$LOG" '^VSOCK-SEQ-LISTENING 6001' 60 || fail "the guest never listened on seqpacket port 6001"
"$PEER" uds-connect-seq "$UDS" 6001 >"$WORK/peer-connect-seq.log" 2>&1 ||
	fail "host -> guest seqpacket connection: $(tail -n 2 "$WORK/peer-connect-seq.log")"
guest_wait_done "$LOG" 240
rc=$?
guest_stop "$GUEST_PID"
secs=$((SECONDS - t0))
((rc == 0)) || fail "guest test failed (rc=$rc)"

line() { grep -ah "^$1 " "${@:2}" | tail -n 1 | tr -d '\r'; }
[[ $(line VSOCK-STREAM-ECHO "$LOG") == "VSOCK-STREAM-ECHO ok 1048576 bytes" ]] || fail "stream echo"
[[ $(line VSOCK-SEQ-ECHO "$LOG") == "VSOCK-SEQ-ECHO ok 8 messages" ]] || fail "seqpacket echo"
# the seqpacket peer must have seen 8 records, not a byte stream
grep -q '^UDS-ECHO seqpacket 8 reads ' "$WORK/peer-seq.log" ||
	fail "host seqpacket peer: $(cat "$WORK/peer-seq.log")"
g_send=$(line VSOCK-SEND-HASH "$LOG" | cut -d' ' -f2)
h_sink=$(line UDS-SINK-HASH "$WORK/peer-sink.log" | cut -d' ' -f2)
[[ -n $g_send && $g_send == "$h_sink" ]] || fail "guest -> host: guest hash '$g_send', host '$h_sink'"
h_src=$(line UDS-SOURCE-HASH "$WORK/peer-source.log" | cut -d' ' -f2)
g_recv=$(line VSOCK-RECV-HASH "$LOG" | cut -d' ' -f2)
[[ -n $h_src && $h_src == "$g_recv" ]] || fail "host -> guest: host hash '$h_src', guest '$g_recv'"
[[ -n $(line VSOCK-REFUSED "$LOG") ]] || fail "connection to an unused port did not fail"
[[ -n $(line VSOCK-LISTEN-ECHO "$LOG") ]] || fail "guest listener did not finish"
grep -q '^UDS-CONNECT ok OK ' "$WORK/peer-connect.log" || fail "host -> guest handshake"
grep -q '^UDS-CONNECT-SEQ ok 8 messages OK ' "$WORK/peer-connect-seq.log" ||
	fail "host -> guest seqpacket: $(cat "$WORK/peer-connect-seq.log")"
[[ $(line VSOCK-SEQ-LISTEN-ECHO "$LOG") == "VSOCK-SEQ-LISTEN-ECHO ok 8 messages" ]] ||
	fail "guest seqpacket listener: $(line VSOCK-SEQ-LISTEN-ECHO "$LOG")"

vq_kill "$DPID" INT 10 || fail "daemon exited badly after SIGINT"
grep -q '^virtq-vsock: tx ' "$DLOG" || fail "no totals line from the daemon"
echo "  guest -> host $(line VSOCK-SEND-HASH "$LOG" | cut -d' ' -f3-), host -> guest $(line VSOCK-RECV-HASH "$LOG" | cut -d' ' -f3-) (TCG guest)"
echo "  $(grep '^virtq-vsock: tx ' "$DLOG")"
echo "  boot and test: ${secs}s"
echo "PASS $NAME"
exit 0
