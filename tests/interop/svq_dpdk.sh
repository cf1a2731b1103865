#!/bin/bash
# svq_dpdk.sh - the issue's chain "DPDK testpmd virtio-user -> virtq-svq ->
# virtq-net -> virtq-user", with every payload verified end to end.
#
#   testpmd (net_virtio_user0, the driver: virtq-svq's frontend)
#     -> virtq-svq (--socket: a backend to testpmd; --backend: a frontend of
#        virtq-net port B, which sees only the proxy's IOVA memory layout)
#     -> virtq-net (a switch: B <-> A, broadcast frames flooded)
#     -> virtq-user net (the driver of port A)
#
# Traffic: virtq-user --mode tx --window --verify sends sequence-numbered,
# patterned frames into port A; virtq-net floods them to B, so they reach
# testpmd through the proxy's receive shadow ring; testpmd (forward-mode io)
# sends each back out of the port it came in, unchanged, through the
# proxy's transmit shadow ring into B, and virtq-net floods it back to A,
# where virtq-user checks every echo (sequence, length, every payload byte).
#
# The loop is closed (--window 64, below every ring size), so nothing may be
# dropped.  Per case:
#   every frame virtq-user sent came back verified: rx == tx, and bad, lost,
#   reorder, foreign all 0;
#   testpmd received exactly what it sent (io forwarding), and at least what
#   virtq-user got back;
#   virtq-net took from port B exactly what testpmd sent;
#   testpmd's ring layout is the one asked for (virtq-svq's shadow rings
#   follow it: virtq-net's queues on port B run the same layout);
#   virtq-svq exits 0 on SIGINT and logs no error, broken queue or buffer
#   given back unforwarded.
# Matrix: split 1500 B and packed 64 B (SAN=1/TSAN=1: split only).
# One PASS/FAIL line per case; exit 0 all passed, 1 a case failed, 77 skip.
# VIRTQ_KEEP=1 keeps the work directory (all logs).
. "$(dirname "$0")/lib/script.sh" dpdk

NAME=svq_dpdk
SEC=${SVQ_DPDK_SEC:-3}

net_begin "$NAME" svq-dpdk dpdk "$VQU" "$VIRTQ_NET" "$SVQ"

one_case() {
	local layout=$1 size=$2 tag="$1 ${2}B"
	local sa=$WORK/c$N.a.sock sb=$WORK/c$N.b.sock pb=$WORK/c$N.pb.sock
	local vlog=$WORK/c$N.vn.log plog=$WORK/c$N.svq.log ulog=$WORK/c$N.vqu.log
	local errs='' rc ppid upid btx brx v
	local targs=(--size "$size" --cpu 0) uargs=(--size "$size")
	[[ $layout == packed ]] && targs+=(--packed) && uargs+=(--packed)
	vn_start "$vlog" 90 --socket "$sa" --socket "$sb" --cpus "$CPU1" || {
		net_result "$NAME" "$tag" " virtq-net did not start" "-" "$vlog"
		FAILS=$((FAILS + 1))
		return
	}
	sp_start "$plog" 90 "$pb" "$sb" || errs+=" virtq-svq did not start;"
	ppid=$SP_PID
	dpdk_virtio_user_start "$pb" "svqd$$-$N" io "${targs[@]}" || errs+=" testpmd did not start;"
	vq_spawn "$ulog" $((SEC + 40)) "$VQU" net --socket "$sa" --mode tx --window 64 --verify \
		--duration "$SEC" --cpu "$CPU1" "${uargs[@]}"
	upid=$VQ_PID
	net_wait "$upid" $((SEC + 30))
	rc=$?
	((rc == 0)) || errs+=" virtq-user exited $rc;"
	dpdk_stop "$DPDK_PID"
	rc=$?
	((rc == 0)) || errs+=" testpmd exited $rc;"
	vq_kill "$ppid" INT 10
	rc=$?
	((rc == 0)) || errs+=" virtq-svq exited $rc after SIGINT;"
	vn_stop "$VN_PID"
	rc=$?
	((rc == 0)) || errs+=" virtq-net exited $rc after SIGINT;"
	for v in "$vlog" "$plog" "$ulog"; do errs+=$(net_san_check "$v"); done
	grep -aq 'broken' "$vlog" && errs+=" $(grep -a -m1 broken "$vlog");"
	v=$(grep -a 'disconnect: ' "$vlog" | grep -av 'frontend closed the connection' | head -n 1)
	[[ -z $v ]] || errs+=" virtq-net: $v;"
	v=$(vq_log_fault "$plog")
	[[ -z $v ]] || errs+=" virtq-svq: $v;"
	grep -aq 'frontend connected' "$plog" || errs+=" testpmd never reached virtq-svq;"
	for v in 0 1; do
		[[ $(vn_layout "$vlog" "$v") == "$layout" ]] ||
			errs+=" virtq-net queue $v runs '$(vn_layout "$vlog" "$v")' rings, want $layout;"
	done
	vqu_echo_check "$ulog" "$DPDK_LOG"
	errs+=$ECHO_ERRS
	brx=$(vn_total "$vlog" c$N.b.sock rx_packets) btx=$(vn_total "$vlog" c$N.b.sock tx_packets)
	[[ -n $brx ]] || errs+=" no virtq-net total for port B;"
	((${TTX:-0} >= ${URX:-1})) || errs+=" testpmd sent $TTX < $URX echoes received;"
	[[ ${brx:-x} == "${TTX:-y}" ]] || errs+=" virtq-net took $brx from B, testpmd sent $TTX;"
	net_result "$NAME" "$tag" "$errs" \
		"sent $UTX, $URX echoed by testpmd through virtq-svq and verified (testpmd rx $TRX tx $TTX; B delivered $btx)" \
		"$vlog" "$plog" "$ulog" "$DPDK_LOG" || FAILS=$((FAILS + 1))
}

t0=$SECONDS
cases=("split 1500" "packed 64")
net_sanitized && cases=("split 1500")
for c in "${cases[@]}"; do
	N=$((N + 1))
	# shellcheck disable=SC2086
	one_case $c
done
echo "  $N cases in $((SECONDS - t0)) s"
((FAILS == 0)) || exit 1
exit 0
