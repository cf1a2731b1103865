#!/bin/bash
# svq_restart.sh - virtq-net dies (SIGKILL) behind virtq-svq in the middle of
# traffic and comes back: the frontend in front of the proxy keeps its
# connection and its rings, gets back every buffer the dead backend held,
# and its traffic resumes through the same rings, every payload verified.
#
#   sender: virtq-user net --mode tx -> virtq-svq -> virtq-net port A
#   receiver: virtq-user net --mode rx --verify on virtq-net port B (direct;
#             it reconnects by itself when virtq-net restarts)
#
# At ~1/3 of the run virtq-net is SIGKILLed, and restarted on the same
# sockets 0.3 s later.  PASS when:
#   the sender never saw its connection drop (no reconnect) and ends with no
#   frame in flight (the transmit buffers the dead backend held came back);
#   virtq-svq logged the backend going away once, gave the buffers it held
#   back unused, and reconnected relaying both queues of the same frontend;
#   the restarted virtq-net took frames from port A (the sender's traffic
#   resumed through the same rings) and delivered frames to port B;
#   the receiver verified every frame it got (bad 0, foreign 0, reorder 0);
#   no queue broke anywhere, and everyone exits 0 on SIGINT.
# Split and packed rings.  One PASS/FAIL line per case; exit 0 all passed,
# 1 a case failed, 77 skip.  VIRTQ_KEEP=1 keeps the work directory.
. "$(dirname "$0")/lib/script.sh"

NAME=svq_restart
SEC=${SVQ_RESTART_SEC:-4}

net_begin "$NAME" svq-restart "$VQU" "$VIRTQ_NET" "$SVQ"

# restart VNLOG2: SIGKILL virtq-net, start it again on the same sockets.
restart() {
	vq_kill "$VN_PID" KILL 5
	vq_sleep 0.3
	vn_start "$1" $((SEC + 60)) --socket "$sa" --socket "$sb" --cpus "$CPU1"
}

one_case() {
	local layout=$1 tag="$1 rings, virtq-net killed and restarted"
	local sa=$WORK/c$N.a.sock sb=$WORK/c$N.b.sock pa=$WORK/c$N.p.sock
	local vlog=$WORK/c$N.vn1.log vlog2=$WORK/c$N.vn2.log plog=$WORK/c$N.svq.log
	local tlog=$WORK/c$N.tx.log rlog=$WORK/c$N.rx.log errs='' rc ppid rpid tpid end v
	local utx left urx bad foreign reorder arx btx gone
	local common=(--size 256)
	[[ $layout == packed ]] && common+=(--packed)
	vn_start "$vlog" $((SEC + 60)) --socket "$sa" --socket "$sb" --cpus "$CPU1" &&
		sp_start "$plog" $((SEC + 60)) "$pa" "$sa" || {
		net_result "$NAME" "$tag" " virtq-net or virtq-svq did not start" "-" "$vlog" "$plog"
		FAILS=$((FAILS + 1))
		return
	}
	ppid=$SP_PID
	vq_spawn "$rlog" $((SEC + 60)) "$VQU" net --socket "$sb" --mode rx --verify \
		--duration $((SEC + 30)) --cpu "$CPU1" "${common[@]}"
	rpid=$VQ_PID
	end=$((SECONDS + 10))
	until grep -aqs 'rings of' "$rlog" || ((SECONDS > end)); do vq_sleep 0.05; done
	vq_spawn "$tlog" $((SEC + 40)) "$VQU" net --socket "$pa" --mode tx --verify --duration "$SEC" \
		--cpu 0 "${common[@]}"
	tpid=$VQ_PID
	vq_sleep "$(awk -v s="$SEC" 'BEGIN { print s / 3 }')"
	restart "$vlog2" || errs+=" virtq-net did not restart;"
	end=$((SECONDS + 10))
	until grep -aqs 'backend reconnected' "$plog" || ((SECONDS > end)); do vq_sleep 0.1; done
	net_wait "$tpid" $((SEC + 30))
	rc=$?
	((rc == 0)) || errs+=" sender exited $rc;"
	vq_sleep 0.5
	vq_kill "$rpid" INT 10
	rc=$?
	((rc == 0)) || errs+=" receiver exited $rc after SIGINT;"
	vq_kill "$ppid" INT 10
	rc=$?
	((rc == 0)) || errs+=" virtq-svq exited $rc after SIGINT;"
	vn_stop "$VN_PID"
	rc=$?
	((rc == 0)) || errs+=" virtq-net (restarted) exited $rc after SIGINT;"
	for v in "$vlog" "$vlog2" "$plog" "$tlog" "$rlog"; do errs+=$(net_san_check "$v"); done
	grep -aq 'broken' "$vlog2" && errs+=" virtq-net: $(grep -a -m1 broken "$vlog2");"
	for v in "$tlog" "$rlog" "$plog"; do
		grep -aq 'broken\|unforwarded' "$v" &&
			errs+=" $(basename "$v"): $(grep -a -m1 'broken\|unforwarded' "$v");"
	done
	# The sender: never dropped, nothing left in flight.
	grep -aq '^reconnects: ' "$tlog" && errs+=" the sender was disconnected ($(grep -a '^reconnects: ' "$tlog"));"
	utx=$(vqu_count "$tlog" tx_pkts) left=$(vqu_count "$tlog" tx_inflight)
	[[ $left == 0 ]] || errs+=" ${left:-?} frames still in flight when the sender stopped;"
	# The proxy: one loss, buffers given back, both queues relayed again.
	gone=$(grep -ac 'backend went away' "$plog")
	((gone == 1)) || errs+=" the backend went away $gone times, want 1;"
	sed -n '/backend went away/,/backend reconnected/p' "$plog" |
		grep -aq 'went back to the guest unused' ||
		errs+=" virtq-svq gave no buffer back when the backend died;"
	grep -aq 'backend reconnected: relaying 2 queues of the same frontend' "$plog" ||
		errs+=" virtq-svq did not relay the frontend's 2 queues again;"
	# Traffic resumed through the restarted backend, and verified.
	arx=$(vn_total "$vlog2" c$N.a.sock rx_packets) btx=$(vn_total "$vlog2" c$N.b.sock tx_packets)
	((${arx:-0} > 0)) || errs+=" the restarted virtq-net took nothing from the sender;"
	((${btx:-0} > 0)) || errs+=" the restarted virtq-net delivered nothing to the receiver;"
	((${arx:-0} <= ${utx:-0})) || errs+=" virtq-net took $arx > the $utx the sender sent;"
	urx=$(vqu_count "$rlog" rx_pkts) bad=$(vqu_count "$rlog" bad)
	foreign=$(vqu_count "$rlog" foreign) reorder=$(vqu_count "$rlog" reorder)
	[[ "$bad $foreign $reorder" == "0 0 0" ]] ||
		errs+=" receiver: bad ${bad:-?} foreign ${foreign:-?} reorder ${reorder:-?};"
	((${urx:-0} > 0)) || errs+=" the receiver got nothing;"
	net_result "$NAME" "$tag" "$errs" \
		"sent ${utx:-?} through the proxy, ${arx:-?} of them after the restart; receiver verified ${urx:-?}; given back at the kill: $(sed -n '/backend went away/,/backend reconnected/p' "$plog" | grep -ao 'queue [0-9]*: [0-9]* buffers the backend held' | paste -sd, -)" \
		"$plog" "$vlog2" "$tlog" "$rlog" || FAILS=$((FAILS + 1))
}

t0=$SECONDS
for layout in split packed; do
	N=$((N + 1))
	one_case "$layout"
done
echo "  $N cases in $((SECONDS - t0)) s"
((FAILS == 0)) || exit 1
exit 0
