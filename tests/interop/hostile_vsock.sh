#!/bin/bash
# hostile_vsock.sh - a rule-breaking guest against virtq-vsock.
#
# virtq-vsock serves on vu.sock (--max-conns 64).  For each case of
# `virtq-hostile fe --dev vsock --list` (name, the text the daemon's log line
# must contain or "-", the host port), a host peer is started on the case's
# port (7: stream echo, 8: accepts and never reads, 9: seqpacket echo, 10:
# accepts up to hundreds of connections and reads nothing; others: nobody),
# and virtq-hostile (a raw vhost-user frontend) commits the violation: more
# data than the credit given (stream, and a seqpacket message that never
# ends), lies about its own credit, a foreign source cid, an unknown op, a
# payload longer than the chain or wrapping 32 bits, a chain shorter than a
# header, a connection to a port nobody listens on, data for a connection
# never opened, a flood of packets for unknown connections with no rx
# buffers, 3000 CREDIT_REQUESTs on one connection, 300 REQUESTs against
# --max-conns, and a guest that never posts an event buffer although the
# daemon owes it a TRANSPORT_RESET (held: no packet before the reset).
# Per case:
#   - virtq-hostile saw the expected reaction (HOSTILE-OK; exit 0);
#   - the daemon logged one line naming the fault (when the list gives one);
#   - the daemon still runs and the next (healthy) driver echoes 1 MiB,
#     verified.
# At the end the daemon exits 0 on SIGINT and its totals count the two
# credit violations; no sanitizer report in its log.
# Prints PASS/FAIL lines and "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init hostile_vsock
hc_need virtq-vsock virtq-hostile
command -v gcc >/dev/null || { echo "SKIP hostile_vsock: no gcc for the host peer"; exit 77; }
gcc -O2 -o peer "$ROOT/tests/interop/guest/vsock_peer.c" || { hc_fail setup "gcc vsock_peer.c"; hc_end; }

UDS=$PWD/v
vq_spawn vs.log 600 "$BIN/virtq-vsock" --socket-path vu.sock --guest-cid 11 --uds-path "$UDS" \
	--buf-alloc 256k --max-conns 64
VPID=$VQ_PID
hc_wait_sock vu.sock 10 || { hc_fail setup "virtq-vsock did not create vu.sock"; hc_end; }

healthy() {
	rm -f "${UDS}_7"
	vq_spawn echo.log 60 ./peer uds-echo "${UDS}_7" stream
	local p=$VQ_PID
	hc_wait_sock "${UDS}_7" 10
	timeout -k 5 30 "$BIN/virtq-vsock" client -s vu.sock --port 7 --bytes 1m --verify \
		>healthy.log 2>&1 && grep -q verified healthy.log
	local rc=$?
	vq_kill "$p" TERM 5 >/dev/null 2>&1
	return $rc
}
healthy || { hc_fail setup "a healthy driver fails before any attack: $(cat healthy.log)"; hc_end; }

peer_for() { # PORT: start the host peer the port stands for; sets P (pid or '')
	local port=$1
	P=''
	rm -f "${UDS}_$port"
	case $port in
	7) vq_spawn peer-$port.log 60 ./peer uds-echo "${UDS}_7" stream ;;
	8) vq_spawn peer-$port.log 60 ./peer uds-hold "${UDS}_8" 30 ;;
	9) vq_spawn peer-$port.log 60 ./peer uds-echo "${UDS}_9" seqpacket ;;
	10) vq_spawn peer-$port.log 60 ./peer uds-hold-many "${UDS}_10" 20 ;;
	*) return 0 ;;
	esac
	P=$VQ_PID
	hc_wait_sock "${UDS}_$port" 10
}

attack() { # CASE LOGTEXT PORT
	local c=$1 text=$2 port=$3 off out=case-$1.out why=''
	off=$(hc_size vs.log)
	peer_for "$port"
	timeout -k 5 60 "$BIN/virtq-hostile" fe --dev vsock -s vu.sock --case "$c" --hold-ms 0 \
		>"$out" 2>&1 || why="virtq-hostile exited $?: $(tail -n 2 "$out" | tr '\n' ' ')"
	[[ -n $P ]] && vq_kill "$P" TERM 5 >/dev/null 2>&1
	if [[ -z $why && $text != - ]] && ! hc_wait_grep vs.log "$text" 3 "$off"; then
		why="no daemon log line containing \"$text\""
	elif [[ -z $why ]] && ! vq_alive "$VPID"; then
		why="virtq-vsock died"
	elif [[ -z $why ]] && ! healthy; then
		why="the next (healthy) driver failed: $(tail -n 2 healthy.log | tr '\n' ' ')"
	fi
	if [[ -n $why ]]; then hc_fail "$c" "$why"; else hc_pass "$c" "$(grep -a HOSTILE-OK "$out")"; fi
}

ncases=0
while IFS=$'\t' read -r name text port; do
	attack "${name#vsock }" "$text" "$port"
	ncases=$((ncases + 1))
done < <("$BIN/virtq-hostile" fe --dev vsock --list)
((ncases >= 14)) || hc_fail list "virtq-hostile fe --dev vsock --list gave $ncases cases"

vq_kill "$VPID" INT 10
rc=$?
((rc == 0)) || hc_fail exit "virtq-vsock exited $rc on SIGINT"
grep -q 'credit violations 2$' vs.log || hc_fail totals "$(grep '^virtq-vsock: tx' vs.log)"
hc_san vs.log || hc_fail sanitizer "a sanitizer report in the daemon's log"
hc_end
