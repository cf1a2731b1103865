#!/bin/bash
# vsock_drv.sh - our vsock driver (virtq-vsock client, <virtq/vsock_drv.h>)
# against our device (virtq-vsock), with host peers on Unix sockets.
# For split and packed rings:
#   - stream echo, 16 MiB, every combination of copy / zero-copy receive and
#     copy / zero-copy send, every byte compared;
#   - seqpacket echo, 4 MiB in 128 KiB messages (copy and zero-copy receive);
#     the host peer must see one record per message;
#   - host -> driver bulk (64 MiB, zero-copy receive, checked against the
#     host source's stream) and driver -> host bulk (64 MiB, zero-copy send,
#     checked by the host sink, hashes compared).
# Prints PASS/FAIL/SKIP; exit 0 passed, 77 skipped, 1 failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. "$ROOT/tests/interop/lib/proc.sh"

NAME=vsock_drv
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}/virtq-vsock

skip() { echo "SKIP $NAME: $*"; exit 77; }
fail() { echo "FAIL $NAME: $*"; for f in "$WORK"/*.log; do echo "---- $f" >&2; tail -n 5 "$f" >&2; done; exit 1; }

[[ -x $BIN ]] || skip "$BIN not built"
command -v gcc >/dev/null || skip "no gcc for the host peer"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/virtq-vsock-drv.XXXXXX")
vq_on_exit "rm -rf '$WORK'"
gcc -O2 -Wall -Werror -o "$WORK/peer" "$ROOT/tests/interop/guest/vsock_peer.c" || fail "gcc vsock_peer.c"
PEER=$WORK/peer
UDS=$WORK/v
port=100

# client LABEL PEER-ARGS -- CLIENT-ARGS: one host peer, one client run
client() {
	local label=$1 out
	shift
	local pargs=() cargs=()
	while [[ $1 != -- ]]; do pargs+=("$1"); shift; done
	shift
	cargs=("$@")
	port=$((port + 1))
	vq_spawn "$WORK/peer-$port.log" 120 "$PEER" "${pargs[0]}" "${UDS}_$port" "${pargs[@]:1}"
	PPID_=$VQ_PID
	for _ in $(seq 50); do [[ -S ${UDS}_$port ]] && break; sleep 0.1; done
	out=$(timeout 120 "$BIN" client -s "$WORK/vu.sock" --port $port "${cargs[@]}" 2>&1) ||
		fail "$label: client: $out"
	{ _vq_wait_exit "$PPID_" 20 && wait "$PPID_"; } || fail "$label: host peer: $(cat "$WORK/peer-$port.log")"
	echo "  $label: ${out#virtq-vsock client: }"
	LAST_PEER=$WORK/peer-$port.log
}

for layout in split packed; do
	rm -f "$WORK/vu.sock"
	vq_spawn "$WORK/daemon-$layout.log" 600 "$BIN" --socket-path "$WORK/vu.sock" \
		--guest-cid 9 --uds-path "$UDS"
	DPID=$VQ_PID
	for _ in $(seq 50); do [[ -S $WORK/vu.sock ]] && break; sleep 0.1; done
	pk=()
	[[ $layout == packed ]] && pk=(--packed)
	for rx in copy zc; do
		for tx in copy zc; do
			fl=("${pk[@]}")
			[[ $rx == zc ]] && fl+=(--zc-rx)
			[[ $tx == zc ]] && fl+=(--zc-tx)
			client "$layout stream echo rx=$rx tx=$tx" uds-echo stream -- \
				--bytes 16m --verify "${fl[@]}"
		done
		fl=("${pk[@]}")
		[[ $rx == zc ]] && fl+=(--zc-rx)
		client "$layout seqpacket echo rx=$rx" uds-echo seqpacket -- --type seqpacket \
			--bytes 4m --verify "${fl[@]}"
		grep -q '^UDS-ECHO seqpacket 32 reads ' "$LAST_PEER" ||
			fail "$layout seqpacket: host saw $(cat "$LAST_PEER")"
	done
	client "$layout host->driver 64 MiB zc" uds-source 64 -- --mode recv --bytes 64m \
		--zc-rx --verify "${pk[@]}"
	client "$layout driver->host 64 MiB zc" uds-sink 64 -- --mode send --bytes 64m \
		--zc-tx --verify "${pk[@]}"
	grep -q '^UDS-SINK-HASH ' "$LAST_PEER" || fail "$layout: host sink: $(cat "$LAST_PEER")"
	vq_kill "$DPID" INT 10 || fail "$layout: daemon exited badly"
	grep -q 'credit violations 0' "$WORK/daemon-$layout.log" || fail "$layout: $(tail -n 1 "$WORK/daemon-$layout.log")"
	! grep -aqE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK/daemon-$layout.log" ||
		fail "$layout: a sanitizer report in the daemon's log"
done
echo "PASS $NAME"
