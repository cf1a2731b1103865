#!/bin/bash
# fault_kill.sh - kill -9 of the frontend (virtq-user) in the middle of
# traffic, against virtq-net and virtq-blk.
#
# virtq-net (ports a.sock, b.sock; one worker, kick mode): one clean
# warm-up round (tx on a, rx on b), then the baseline: open fds and VmRSS of
# the daemon.  Then FAULT_ROUNDS (3) times: tx on a and rx --verify on b,
# and after 1.5 s of traffic SIGKILL both.  After each round the daemon must
# log both disconnects, stay up, and be back at exactly the baseline fd
# count.  Then a new pair of frontends must forward traffic (rx verified,
# bad 0), and at the end VmRSS must be within FAULT_RSS_KB (8192) of the
# baseline and the fds exactly at it.
#
# virtq-blk: the same with virtq-user blk fio randwrite (qd 32) killed after
# 1 s, then a full verify pass (write, flush, read back, compare).
#
# Prints PASS/FAIL/SKIP lines and "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init fault_kill
hc_need virtq-net virtq-blk virtq-user
ROUNDS=${FAULT_ROUNDS:-3}
RSS_TOL=${FAULT_RSS_KB:-8192}

ndisc() { grep -ac 'disconnect' "$1"; }

# wait_disc LOG N SEC: wait until LOG has at least N disconnect lines.
wait_disc() {
	local end=$((SECONDS + $3))
	while (($(ndisc "$1") < $2)); do ((SECONDS >= end)) && return 1; sleep 0.05; done
}

# settle PID BASEFDS SEC: wait until PID has exactly BASEFDS fds.
settle() {
	local end=$((SECONDS + $3))
	while (($(hc_fds "$1") != $2)); do ((SECONDS >= end)) && return 1; sleep 0.05; done
}

# ---- virtq-net
vq_spawn net.log 300 "$BIN/virtq-net" -s a.sock -s b.sock --poll kick --workers 1 --cpus 1 --stats 0
NPID=$VQ_PID
hc_wait_sock a.sock 10 && hc_wait_sock b.sock 10 || { hc_fail net-setup "no sockets"; cat net.log >&2; hc_end; }
D=$(hc_child "$NPID")

pair() { # ROUND SECONDS: rx on b, tx on a; sets RX TX
	vq_spawn rx-$1.log 60 "$BIN/virtq-user" net -s b.sock -m rx --verify -d "$2" --cpu 1
	RX=$VQ_PID
	hc_wait_grep rx-$1.log connected 10
	vq_spawn tx-$1.log 60 "$BIN/virtq-user" net -s a.sock -m tx --verify -d "$2" --cpu 0
	TX=$VQ_PID
	hc_wait_grep tx-$1.log connected 10
}

pair warm 2
vq_kill "$TX" INT 10; vq_kill "$RX" INT 10
wait_disc net.log 2 10
vq_sleep 0.5
base_fds=$(hc_fds "$D") base_rss=$(hc_rss_kb "$D")
echo "  virtq-net baseline: $base_fds fds, VmRSS $base_rss kB"

for r in $(seq "$ROUNDS"); do
	n0=$(ndisc net.log)
	pair "$r" 30
	vq_sleep 1.5
	during=$(hc_fds "$D")
	vq_kill "$TX" KILL 5; vq_kill "$RX" KILL 5
	if ! wait_disc net.log $((n0 + 2)) 10; then
		hc_fail "net-kill-$r" "the daemon did not notice both disconnects"
	elif ! vq_alive "$NPID"; then
		hc_fail "net-kill-$r" "virtq-net died"
	elif ! settle "$D" "$base_fds" 10; then
		hc_fail "net-kill-$r" "$(hc_fds "$D") fds after the kill, baseline $base_fds"
	else
		hc_pass "net-kill-$r" "$during fds with 2 frontends, $base_fds after SIGKILL; VmRSS $(hc_rss_kb "$D") kB"
	fi
done

pair after 3
vq_kill "$TX" INT 10; txrc=$?
vq_kill "$RX" INT 10; rxrc=$?
counts=$(grep '^counts:' rx-after.log | tail -n 1)
rxp=$(sed -n 's/.*rx_pkts \([0-9]*\).*/\1/p' <<<"$counts")
bad=$(sed -n 's/.* bad \([0-9]*\).*/\1/p' <<<"$counts")
if ((txrc == 0 && rxrc == 0)) && [[ ${rxp:-0} -gt 0 && $bad == 0 ]]; then
	hc_pass net-new-frontend "received and verified $rxp frames"
else
	hc_fail net-new-frontend "tx rc $txrc rx rc $rxrc: ${counts:-no counts}"
fi
wait_disc net.log $((ROUNDS * 2 + 4)) 10
settle "$D" "$base_fds" 10
fds=$(hc_fds "$D") rss=$(hc_rss_kb "$D")
if ((fds == base_fds && rss <= base_rss + RSS_TOL)); then
	hc_pass net-baseline "fds $fds (baseline $base_fds), VmRSS $rss kB (baseline $base_rss, +${RSS_TOL} allowed)"
else
	hc_fail net-baseline "fds $fds (baseline $base_fds), VmRSS $rss kB (baseline $base_rss, +${RSS_TOL} allowed)"
fi
vq_kill "$NPID" INT 15
nrc=$?
((nrc == 0)) && hc_pass net-exit || hc_fail net-exit "virtq-net exited $nrc on SIGINT"

# ---- virtq-blk
truncate -s 64M disk.img
vq_spawn blk.log 300 "$BIN/virtq-blk" --socket k.sock --file disk.img
BPID=$VQ_PID
hc_wait_sock k.sock 10 || { hc_fail blk-setup "no socket"; cat blk.log >&2; hc_end; }
D=$(hc_child "$BPID")
verify() { timeout -k 5 60 "$BIN/virtq-user" blk -s k.sock --size 8M --cpu 0 >"$1" 2>&1 && grep -q '^verify: OK' "$1"; }
verify verify-warm.log || { hc_fail blk-setup "warm-up verify failed"; cat verify-warm.log >&2; }
wait_disc blk.log 1 10
vq_sleep 0.5
base_fds=$(hc_fds "$D") base_rss=$(hc_rss_kb "$D")
echo "  virtq-blk baseline: $base_fds fds, VmRSS $base_rss kB"
for r in $(seq "$ROUNDS"); do
	n0=$(ndisc blk.log)
	vq_spawn fio-$r.log 60 "$BIN/virtq-user" blk -s k.sock -m fio --rw randwrite --qd 32 -d 30 --cpu 0
	F=$VQ_PID
	hc_wait_grep fio-$r.log "fio:" 10
	vq_sleep 1
	during=$(hc_fds "$D")
	vq_kill "$F" KILL 5
	if ! wait_disc blk.log $((n0 + 1)) 10; then
		hc_fail "blk-kill-$r" "the daemon did not notice the disconnect"
	elif ! vq_alive "$BPID"; then
		hc_fail "blk-kill-$r" "virtq-blk died"
	elif ! settle "$D" "$base_fds" 10; then
		hc_fail "blk-kill-$r" "$(hc_fds "$D") fds after the kill, baseline $base_fds"
	else
		hc_pass "blk-kill-$r" "$during fds with a frontend, $base_fds after SIGKILL; VmRSS $(hc_rss_kb "$D") kB"
	fi
done
if verify verify-after.log; then
	hc_pass blk-new-frontend "verify OK after the kills"
else
	hc_fail blk-new-frontend "$(tail -n 3 verify-after.log | tr '\n' ' ')"
fi
wait_disc blk.log $((ROUNDS + 2)) 10
settle "$D" "$base_fds" 10
fds=$(hc_fds "$D") rss=$(hc_rss_kb "$D")
if ((fds == base_fds && rss <= base_rss + RSS_TOL)); then
	hc_pass blk-baseline "fds $fds (baseline $base_fds), VmRSS $rss kB (baseline $base_rss, +${RSS_TOL} allowed)"
else
	hc_fail blk-baseline "fds $fds (baseline $base_fds), VmRSS $rss kB (baseline $base_rss, +${RSS_TOL} allowed)"
fi
vq_kill "$BPID" INT 15
brc=$?
((brc == 0)) && hc_pass blk-exit || hc_fail blk-exit "virtq-blk exited $brc on SIGINT"

if hc_san net.log blk.log ./*.log; then hc_pass no-sanitizer-report "${SAN:-0}"; else hc_fail no-sanitizer-report "see above"; fi
hc_end
