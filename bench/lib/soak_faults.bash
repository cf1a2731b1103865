# shellcheck shell=bash
# soak_faults.bash - the fault mode of bench/soak.sh (`--faults`); sourced by
# it after hostile_common.bash's hc_init, with SECS set.  Not run by itself.
#
# Traffic runs for SECS seconds while faults are injected in rounds (one
# every ROUND_S seconds, default 15):
#   net   virtq-net (a.sock, b.sock, h.sock) with virtq-user tx --verify on
#         a.sock and rx --verify on b.sock for the whole run.  Every second
#         round: kill -9 of virtq-net and a new one on the same sockets; both
#         frontends reconnect by themselves and forwarding must resume (b.sock
#         delivered frames again within 15 s).  Every round: a memory-table
#         storm on h.sock during traffic (virtq-hostile fe --case
#         mem-table-storm: 200 SET_MEM_TABLEs, each acknowledged, while its
#         own chains are used; exit 0).
#   blk   virtq-blk on a 4 MiB image whose writes are capped at 2 MiB
#         (RLIMIT_FSIZE, SIGXFSZ ignored: a write past 2 MiB fails as on a
#         full disk).  Every round: virtq-hostile blk-fill (one 4 KiB write
#         in flight, each acknowledged write recorded) is cut by kill -9 of
#         virtq-blk after a varying number of acknowledged writes; a new
#         virtq-blk reads back every acknowledged block (blk-check).  Then a
#         fill to the end: the writes past 2 MiB must fail with EIO (disk
#         full), every acknowledged one must read back.
# After every round the VmRSS and fd count of the long-lived frontends (tx,
# rx) and of the daemons are sampled (printed as series).  At the end:
#   - no frame corrupted: the receiver's bad 0 and reorder 0;
#   - every frame accounted for by sequence number: receiver rx_pkts + lost
#     + (sender tx_next_seq - receiver rx_next_seq) == sender tx_next_seq
#     (frames lost to a kill are gaps or tail, never silently missing);
#   - no acknowledged block write lost (every blk-check passed), disk full
#     seen as EIO and nothing else;
#   - fds flat: tx's and rx's fd counts in the last round equal the first;
#     RSS flat: their VmRSS grew by less than 8 MiB (SAN=1: 64 MiB);
#   - every process still running exits 0 on SIGINT; no sanitizer report.
# Output: Markdown on stdout ("## Soak with faults"), progress on stderr.

ROUND_S=${SOAK_ROUND_S:-15}
LIMIT_KB=2048 # RLIMIT_FSIZE of virtq-blk: writes past 2 MiB fail
SLACK_KB=8192
[[ ${SAN:-0} == 1 ]] && SLACK_KB=65536
log() { echo "soak: $*" >&2; }
NET_GEN=0 BLK_GEN=0

start_net() {
	NET_GEN=$((NET_GEN + 1))
	vq_spawn "net-$NET_GEN.log" $((SECS + 300)) "$BIN/virtq-net" -s a.sock -s b.sock -s h.sock \
		--poll kick --workers 1 --cpus 1 --stats 0.5
	NPID=$VQ_PID
	hc_wait_sock a.sock 10 && hc_wait_sock b.sock 10 && hc_wait_sock h.sock 10
}

start_blk() {
	BLK_GEN=$((BLK_GEN + 1))
	rm -f k.sock
	vq_spawn "blk-$BLK_GEN.log" $((SECS + 300)) bash -c \
		"trap '' XFSZ; ulimit -f $LIMIT_KB && exec '$BIN/virtq-blk' --socket k.sock --file disk.img"
	BPID=$VQ_PID
	hc_wait_sock k.sock 10
}

# kill9 PID: SIGKILL the daemon timeout(1) PID runs, reap timeout.
kill9() {
	local c
	c=$(hc_child "$1")
	[[ -n $c ]] && kill -KILL "$c" 2>/dev/null
	wait "$1" 2>/dev/null
}

# delivered LOG: the switch's count of frames sent to b.sock (last stats line)
delivered() {
	awk '$2 == "b.sock" { for (i = 3; i < NF; i++) if ($i == "tx") v = $(i + 1) } END { print v + 0 }' "$1"
}

FAULTS=() # one line per failed round check
fault() { FAULTS+=("round $R: $*"); log "round $R: FAILED: $*"; }

net_restart() {
	local end
	kill9 "$NPID"
	vq_sleep 0.3
	start_net || { fault "virtq-net did not come back"; return; }
	end=$((SECONDS + 15))
	while (($(delivered "net-$NET_GEN.log") == 0)); do
		((SECONDS >= end)) && { fault "no frame reached b.sock within 15 s of the restart"; return; }
		vq_sleep 0.2
	done
	NET_RESTARTS=$((NET_RESTARTS + 1))
}

mem_storm() {
	timeout -k 5 60 "${HOSTILE[@]}" fe --dev net -s h.sock --case mem-table-storm --hold-ms 0 \
		>"storm-$R.out" 2>&1 || fault "mem-table-storm: $(tail -n 1 "storm-$R.out")"
	STORMS=$((STORMS + 1))
}

# blk_check FILL-OUT SEED: every ACKed block reads back (a fresh daemon).
blk_check() {
	local n
	n=$(grep -c '^ACK ' "$1")
	if timeout -k 5 60 "${HOSTILE[@]}" blk-check -s k.sock --seed "$2" --acked "$1" >"$1.check" 2>&1; then
		ACKED_CHECKED=$((ACKED_CHECKED + n))
	else
		fault "blk-check of $1 ($n acknowledged): $(tail -n 1 "$1.check")"
	fi
}

blk_round() {
	local want=$((32 * (R % 8 + 1))) hp end out=fill-$R.out
	# 2 ms between writes: the kill lands mid-fill, not after it
	timeout -k 5 60 "${HOSTILE[@]}" blk-fill -s k.sock --seed "$R" --pace-us 2000 >"$out" 2>/dev/null &
	hp=$!
	end=$((SECONDS + 20))
	while vq_alive "$hp" && (($(grep -c '^ACK ' "$out") < want && SECONDS < end)); do sleep 0.01; done
	vq_alive "$hp" || fault "blk-fill ended before the kill: $(tail -n 1 "$out")"
	kill9 "$BPID" # mid-fill: the write in flight is not acknowledged
	wait "$hp" 2>/dev/null
	start_blk || { fault "virtq-blk did not come back"; return; }
	blk_check "$out" "$R"
	KILLED_ACKS+=" $(grep -c '^ACK ' "$out")"
	out=full-$R.out
	timeout -k 5 120 "${HOSTILE[@]}" blk-fill -s k.sock --seed $((R + 1000)) >"$out" 2>/dev/null ||
		fault "blk-fill to the end failed"
	if ! grep -q '^ERR ' "$out" || grep '^ERR ' "$out" | grep -vq 'Input/output error'; then
		fault "disk full: expected EIO errors only, got: $(grep -c '^ERR ' "$out") errors ($(grep -m1 '^ERR ' "$out"))"
	fi
	FULL_ERRS=$((FULL_ERRS + $(grep -c '^ERR ' "$out")))
	blk_check "$out" $((R + 1000))
}

# sample: one line of the series (fds and VmRSS of tx, rx, net, blk).
sample() {
	local p line="| $R | $((SECONDS - T0)) s"
	for p in "$TX" "$RX" "$NPID" "$BPID"; do
		p=$(hc_child "$p")
		line+=" | $(hc_fds "$p") / $(hc_rss_kb "$p")"
	done
	SERIES+=("$line |")
	TXF+=("$(hc_fds "$(hc_child "$TX")")") RXF+=("$(hc_fds "$(hc_child "$RX")")")
	TXR+=("$(hc_rss_kb "$(hc_child "$TX")")") RXR+=("$(hc_rss_kb "$(hc_child "$RX")")")
}

truncate -s 4M disk.img
start_net || { log "virtq-net did not start"; exit 1; }
start_blk || { log "virtq-blk did not start"; exit 1; }
vq_spawn rx.log $((SECS + 600)) "$BIN/virtq-user" net -s b.sock -m rx --verify -d $((SECS + 500)) --cpu 1
RX=$VQ_PID
hc_wait_grep rx.log connected 10
vq_spawn tx.log $((SECS + 600)) "$BIN/virtq-user" net -s a.sock -m tx --verify -d $((SECS + 500)) --cpu 0
TX=$VQ_PID
hc_wait_grep tx.log connected 10
T0=$SECONDS END=$((SECONDS + SECS))
R=0 NET_RESTARTS=0 STORMS=0 ACKED_CHECKED=0 FULL_ERRS=0 KILLED_ACKS=''
SERIES=() TXF=() RXF=() TXR=() RXR=()
vq_sleep 2
sample
log "faults for $SECS s, a round every $ROUND_S s; work dir $WORK"
while ((SECONDS + 5 < END)) && vq_alive "$TX" && vq_alive "$RX"; do
	R=$((R + 1))
	rs=$SECONDS
	((R % 2 == 1)) && net_restart
	mem_storm
	blk_round
	hc_settle "$(hc_child "$TX")" >/dev/null
	sample
	log "round $R done in $((SECONDS - rs)) s"
	while ((SECONDS < rs + ROUND_S && SECONDS + 5 < END)); do vq_sleep 0.5; done
done
vq_kill "$TX" INT 30; txrc=$?
vq_sleep 2
vq_kill "$RX" INT 30; rxrc=$?
vq_kill "$NPID" INT 30; nrc=$?
vq_kill "$BPID" INT 30; brc=$?

txf() { grep -a '^counts:' tx.log | tail -n 1 | awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }'; }
rxf() { grep -a '^counts:' rx.log | tail -n 1 | awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }'; }
tx_next=$(txf tx_next_seq) tx_pkts=$(txf tx_pkts)
rx_pkts=$(rxf rx_pkts) lost=$(rxf lost) bad=$(rxf bad) reorder=$(rxf reorder) rx_next=$(rxf rx_next_seq)
tail=$((${tx_next:-0} - ${rx_next:-0}))
rxrec=$(grep -ao 'reconnects: [0-9]*' rx.log | cut -d' ' -f2) txrec=$(grep -ao 'reconnects: [0-9]*' tx.log | cut -d' ' -f2)

fails=0
echo "## Soak with faults"
echo
echo "$(date -u +%F), ${SECS} s, $R rounds (at most one every $ROUND_S s), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| fault | count |"
echo "|---|---|"
echo "| kill -9 of virtq-net, new daemon on the same sockets (frontends reconnected: tx ${txrec:-0}, rx ${rxrec:-0}) | $NET_RESTARTS |"
echo "| memory-table storms (200 tables each) on h.sock during traffic | $STORMS |"
echo "| kill -9 of virtq-blk mid-fill, acknowledged writes at the kill | $R ($KILLED_ACKS ) |"
echo "| fills to a full disk: writes failed with EIO | $R ($FULL_ERRS) |"
echo "| acknowledged block writes read back by a new daemon | $ACKED_CHECKED |"
echo
echo "| counter | value |"
echo "|---|---|"
echo "| sender tx_pkts / tx_next_seq (frames numbered) | $tx_pkts / $tx_next |"
echo "| receiver rx_pkts / lost (gaps) / bad / reorder | $rx_pkts / $lost / $bad / $reorder |"
echo "| receiver rx_next_seq / tail (numbered after the last frame seen) | $rx_next / $tail |"
echo
echo "Series (fds / VmRSS kB after each round; virtq-net and virtq-blk are new processes after a kill):"
echo
echo "| round | time | tx | rx | virtq-net | virtq-blk |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${SERIES[@]}"
echo
echo "| check | result |"
echo "|---|---|"
soak_check "every round's checks held${FAULTS:+ (${FAULTS[*]})}" test ${#FAULTS[@]} -eq 0
soak_check "at least one round ran" test "$R" -ge 1
soak_check "every process exited 0 on SIGINT (tx $txrc, rx $rxrc, net $nrc, blk $brc)" \
	test $((txrc | rxrc | nrc | brc)) -eq 0
soak_check "no frame corrupted: bad 0, reorder 0" test "${bad:-x}${reorder:-x}" = 00
soak_check "rx_pkts + lost + tail == sender tx_next_seq" test -n "$tx_next" -a -n "$rx_next" -a \
	$((${rx_pkts:-0} + ${lost:-0} + tail)) = "${tx_next:-x}"
soak_check "the frontends reconnected after each kill of virtq-net (rx ${rxrec:-0} >= $NET_RESTARTS)" \
	test "${rxrec:-0}" -ge "$NET_RESTARTS"
soak_check "fds flat: tx ${TXF[0]} -> ${TXF[-1]}, rx ${RXF[0]} -> ${RXF[-1]}" \
	test "${TXF[0]}" = "${TXF[-1]}" -a "${RXF[0]}" = "${RXF[-1]}"
soak_check "RSS flat (< $SLACK_KB kB growth): tx ${TXR[0]} -> ${TXR[-1]} kB, rx ${RXR[0]} -> ${RXR[-1]} kB" \
	test $((${TXR[-1]:-999999} - ${TXR[0]:-0})) -lt "$SLACK_KB" -a $((${RXR[-1]:-999999} - ${RXR[0]:-0})) -lt "$SLACK_KB"
soak_check "no sanitizer report" hc_san net-*.log blk-*.log tx.log rx.log storm-*.out
((fails == 0))
