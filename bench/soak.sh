#!/usr/bin/env bash
# bench/soak.sh - sustained load for a bounded time; counters must add up.
# order: 90
#
#   bash bench/soak.sh [SECONDS]     default 600 (10 minutes)
#   bash bench/soak.sh --faults [--minutes N | --seconds N]
#                                    fault mode (default 30 minutes): kill -9
#                                    and restart of the daemons, frontend
#                                    reconnects, memory-table storms and a
#                                    full disk under traffic; see
#                                    bench/lib/soak_faults.bash
#   SOAK=1 make bench                include it in `make bench` (skipped there
#                                    otherwise: it is long); never in make check
#                                    (tests/interop/soak_faults.sh runs a
#                                    25-second fault mode there)
#
# Net: virtq-net (ports a.sock, b.sock; one worker pinned to CPU 1, kick
# mode) with virtq-user tx --verify on a (CPU 0) and rx --verify on b
# (CPU 1), 64-byte frames, for SECONDS.  Then the sender stops, the receiver
# drains for 2 s and stops, the daemon prints its totals (SIGINT).  Checks:
#   sender tx_pkts (all completed: tx_inflight 0) == switch rx from a.sock
#   switch rx from a.sock == switch tx to b.sock + switch drops for b.sock
#   receiver rx_pkts == switch tx to b.sock       (nothing vanished in the ring)
#   receiver lost + tail == switch drops for b.sock (every frame the receiver
#     missed was a drop the switch counted: "lost" counts the gaps between
#     frames it saw, "tail" = sender tx_next_seq (its last sequence number
#     + 1, reported by the sender) - receiver rx_next_seq: the frames after
#     the last one it saw; nothing is left unread after the drain)
#   receiver bad == 0, reorder == 0, errors 0 on both ports
# Blk, at the same time: virtq-blk on a 256 MiB file, virtq-user blk fio
# randwrite (qd 32) for SECONDS, then a verify pass (write, flush, read back,
# compare 64 MiB): verify OK, and the daemon's totals show ioerr 0.
# Each daemon's VmRSS and fd count at the start of the load and at the end
# are printed (growth is reported, not asserted).
#
# Output: Markdown on stdout ("## Soak"), progress on stderr.  Exit 0 when
# every check holds, 1 when one does not, 77 when skipped.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n ${VIRTQ_ROOT:-} && -z ${SOAK:-} && $# -eq 0 ]]; then
	echo "soak: skipped under bench/run.sh (10 minutes); SOAK=1 make bench, or bash bench/soak.sh" >&2
	exit 77
fi
MODE=plain
if [[ ${1:-} == --faults ]]; then
	MODE=faults SECS=1800
	shift
	while (($#)); do
		case $1 in
		--minutes) SECS=$((${2:?--minutes N} * 60)); shift 2 ;;
		--seconds) SECS=${2:?--seconds N}; shift 2 ;;
		*) echo "usage: soak.sh --faults [--minutes N | --seconds N]" >&2; exit 2 ;;
		esac
	done
else
	SECS=${1:-${SOAK_SECONDS:-600}}
fi
. "$ROOT/tests/interop/hostile_common.bash"
hc_init soak >&2
hc_need virtq-net virtq-blk virtq-user >&2
# soak_check DESCRIPTION CONDITION...: one row of the checks table; a
# condition that fails is counted in fails (both modes' exit status)
soak_check() {
	local d=$1; shift
	if "$@"; then echo "| $d | ok |"; else echo "| $d | **FAILED** |"; fails=$((fails + 1)); fi
}
if [[ $MODE == faults ]]; then
	hc_need virtq-hostile >&2
	# shellcheck source=lib/soak_faults.bash
	. "$ROOT/bench/lib/soak_faults.bash"
	exit $?
fi
log() { echo "soak: $*" >&2; }
field() { # LINE-PREFIX-REGEX FIELD LOG: number after FIELD on the last matching line
	grep -aE "$1" "$3" | tail -n 1 | awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) { print $(i + 1); exit } }'
}
# total PORT rx|tx|drops|errors: from the daemon's "total" line of PORT
total() {
	awk -v p="$1" -v f="$2" '$1 == "total" && $3 == p {
		for (i = 4; i < NF; i++) if ($i == f) { v = $(i + 1); if (f != "drops" && f != "errors") break }
	} END { print v + 0 }' net.log
}

vq_spawn net.log $((SECS + 120)) "$BIN/virtq-net" -s a.sock -s b.sock --poll kick --workers 1 \
	--cpus 1 --stats 10
NPID=$VQ_PID
truncate -s 256M disk.img
vq_spawn blk.log $((SECS + 300)) "$BIN/virtq-blk" --socket k.sock --file disk.img --iothreads 2
BPID=$VQ_PID
hc_wait_sock a.sock 10 && hc_wait_sock b.sock 10 && hc_wait_sock k.sock 10 || { log "daemons did not start"; exit 1; }
vq_spawn rx.log $((SECS + 120)) "$BIN/virtq-user" net -s b.sock -m rx --verify -d $((SECS + 60)) --cpu 1
RX=$VQ_PID
hc_wait_grep rx.log connected 10
vq_spawn tx.log $((SECS + 120)) "$BIN/virtq-user" net -s a.sock -m tx --verify -d "$SECS" --cpu 0
TX=$VQ_PID
vq_spawn fio.log $((SECS + 120)) "$BIN/virtq-user" blk -s k.sock -m fio --rw randwrite --qd 32 \
	-d "$SECS" --cpu 0
FIO=$VQ_PID
vq_sleep 5
ND=$(hc_child "$NPID") BD=$(hc_child "$BPID")
n_rss0=$(hc_rss_kb "$ND") n_fd0=$(hc_fds "$ND") b_rss0=$(hc_rss_kb "$BD") b_fd0=$(hc_fds "$BD")
log "running for $SECS s (net and blk); progress in $WORK if VIRTQ_KEEP=1"
while vq_alive "$TX" && vq_alive "$FIO"; do vq_sleep 5; done
n_rss1=$(hc_rss_kb "$ND") n_fd1=$(hc_fds "$ND") b_rss1=$(hc_rss_kb "$BD") b_fd1=$(hc_fds "$BD")
vq_kill "$TX" INT 30; txrc=$?
vq_kill "$FIO" INT 30; fiorc=$?
vq_sleep 2
vq_kill "$RX" INT 30; rxrc=$?
timeout -k 5 300 "$BIN/virtq-user" blk -s k.sock --size 64M --cpu 0 >verify.log 2>&1
vq_kill "$NPID" INT 30; nrc=$?
vq_kill "$BPID" INT 30; brc=$?

tx_pkts=$(field '^counts:' tx_pkts tx.log) tx_infl=$(field '^counts:' tx_inflight tx.log)
rx_pkts=$(field '^counts:' rx_pkts rx.log) lost=$(field '^counts:' lost rx.log)
bad=$(field '^counts:' bad rx.log) reorder=$(field '^counts:' reorder rx.log)
next_seq=$(field '^counts:' rx_next_seq rx.log)
tx_next=$(field '^counts:' tx_next_seq tx.log) # the sender's last sequence number + 1
tail=$((${tx_next:-0} - ${next_seq:-0}))
a_rx=$(total a.sock rx) b_tx=$(total b.sock tx) b_drops=$(total b.sock drops)
errs=$(($(total a.sock errors) + $(total b.sock errors)))
ioerr=$(grep -ao 'ioerr [0-9]*' blk.log | tail -n 1 | cut -d' ' -f2)

fails=0
echo "## Soak"
echo
echo "$(date -u +%F), ${SECS} s, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| counter | value |"
echo "|---|---|"
echo "| sender tx_pkts (in flight at the end) | $tx_pkts ($tx_infl) |"
echo "| switch rx from a.sock | $a_rx |"
echo "| switch tx to b.sock / drops for b.sock | $b_tx / $b_drops |"
echo "| receiver rx_pkts / lost (gaps) / bad / reorder | $rx_pkts / $lost / $bad / $reorder |"
echo "| sender next sequence number (its last + 1) | $tx_next |"
echo "| receiver next sequence number / tail (sender's next - receiver's next) | $next_seq / $tail |"
echo "| virtq-net VmRSS kB, fds: start -> end | $n_rss0 -> $n_rss1, $n_fd0 -> $n_fd1 |"
echo "| virtq-blk VmRSS kB, fds: start -> end | $b_rss0 -> $b_rss1, $b_fd0 -> $b_fd1 |"
echo "| blk fio | $(grep -a '^total' fio.log | head -n 1) |"
echo
echo "| check | result |"
echo "|---|---|"
soak_check "every process exited 0 (tx $txrc, rx $rxrc, fio $fiorc, net $nrc, blk $brc)" \
	test $((txrc | rxrc | fiorc | nrc | brc)) -eq 0
soak_check "sender tx_pkts == switch rx from a.sock, none in flight" test "${tx_pkts:-x}" = "$a_rx" -a "${tx_infl:-x}" = 0
soak_check "switch rx from a == tx to b + drops for b" test "$a_rx" -eq $((b_tx + b_drops))
soak_check "receiver rx_pkts == switch tx to b.sock" test "${rx_pkts:-x}" = "$b_tx"
soak_check "sender tx_next_seq == tx_pkts (every numbered frame was queued)" test "${tx_next:-x}" = "${tx_pkts:-y}"
soak_check "receiver rx_pkts + lost + tail == sender tx_pkts" test $((${rx_pkts:-0} + ${lost:-0} + tail)) = "${tx_pkts:-x}"
soak_check "receiver lost + tail == switch drops for b.sock" test -n "$next_seq" -a $((${lost:-0} + tail)) = "$b_drops"
soak_check "receiver bad 0, reorder 0, switch errors 0" test "${bad:-x}${reorder:-x}$errs" = 000
soak_check "blk verify OK after the load, ioerr 0" \
	bash -c "grep -q '^verify: OK' verify.log && [ '${ioerr:-x}' = 0 ]"
soak_check "no sanitizer report" hc_san net.log blk.log tx.log rx.log fio.log verify.log
((fails == 0))
