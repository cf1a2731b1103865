#!/bin/bash
# svq_net.sh - virtq-user net -> virtq-svq -> virtq-net -> virtq-svq ->
# virtq-user net, with every payload byte checked end to end.
#
# Both drivers reach virtq-net through a shadow-virtqueue proxy each, so
# the transmit path (guest tx ring -> shadow ring -> virtq-net) and the
# receive path (virtq-net -> shadow rx ring -> guest rx ring) are relayed;
# virtq-net sees only the proxies' IOVA memory layouts.  virtq-user --mode
# tx sends sequence-numbered pattern frames on port A, virtq-user --mode rx
# --verify on port B checks each one (length, sequence, every byte).
# Per case:
#   bad == 0, foreign == 0, reorder == 0 and received > 0;
#   the sender's frames all completed (tx_inflight 0) and virtq-net took
#   exactly that many from port A (no frame lost or duplicated by the relay);
#   received + lost + tail == sent (lost: gaps B saw; tail: sent after the
#   last frame B saw), and received <= what virtq-net delivered to B;
#   the ring layout both drivers and virtq-net negotiated (the proxy's
#   shadow rings follow the guest's layout unless --backend-layout says);
#   no proxy logged an error or a broken queue.
# Matrix: split and packed x 64 and 1514-byte frames (mergeable rx buffers),
# and split drivers over packed shadow rings (virtq-svq --backend-layout
# packed: virtq-net runs packed rings, the drivers split), and drivers whose
# memory is 12 regions (virtq-user --mem-regions 12: more than one
# SET_MEM_TABLE holds, added one by one with ADD_MEM_REG to the proxies, which
# add their views to virtq-net the same way), and both proxies with
# notification moderation (virtq-svq --coalesce: each must have relayed on
# its timer, and every frame still arrives).
#
# One PASS/FAIL line per case; exit 0 all passed, 1 a case failed, 77 skip.
# VIRTQ_KEEP=1 keeps the work directory (all logs).
. "$(dirname "$0")/lib/script.sh"

NAME=svq_net
SEC=${SVQ_NET_SEC:-2}

net_begin "$NAME" svq-net "$VQU" "$VIRTQ_NET" "$SVQ"

one_case() {
	local layout=$1 size=$2 blayout=${3:-$1} regions=${4:-} co=${5:-} tag="$1 ${2}B" bargs=()
	[[ -n ${3:-} ]] && tag+=" over $3 shadow rings" && bargs=(--backend-layout "$3")
	[[ -n $regions ]] && tag+=", $regions guest memory regions" && bargs+=(-v)
	[[ -n $co ]] && tag+=", --coalesce $co" && bargs+=(--coalesce "$co")
	local sa=$WORK/c$N.a.sock sb=$WORK/c$N.b.sock pa=$WORK/c$N.pa.sock pb=$WORK/c$N.pb.sock
	local vlog=$WORK/c$N.vn.log palog=$WORK/c$N.pa.log pblog=$WORK/c$N.pb.log
	local tlog=$WORK/c$N.tx.log rlog=$WORK/c$N.rx.log errs='' rc papid pbpid
	local utx left urx bad lost foreign reorder arx btx next tail v q fault
	local common=(--size "$size") adds
	[[ $layout == packed ]] && common+=(--packed)
	[[ -n $regions ]] && common+=(--mem-regions "$regions")
	vn_start "$vlog" $((SEC + 90)) --socket "$sa" --socket "$sb" --cpus "$CPU1" || {
		net_result "$NAME" "$tag" " virtq-net did not start" "-" "$vlog"
		FAILS=$((FAILS + 1))
		return
	}
	sp_start "$palog" $((SEC + 80)) "$pa" "$sa" "${bargs[@]}" && papid=$SP_PID &&
		sp_start "$pblog" $((SEC + 80)) "$pb" "$sb" "${bargs[@]}" && pbpid=$SP_PID || {
		net_result "$NAME" "$tag" " virtq-svq did not start" "-" "$palog" "$pblog"
		vn_stop "$VN_PID"
		FAILS=$((FAILS + 1))
		return
	}
	vqu_pair "$SEC" "$pb" "$rlog" "$pa" "$tlog" \
		--mrg on --rxbuf mergeable --cpu "$CPU1" -- "${common[@]}"
	errs+=$VQU_ERRS
	for v in "$papid" "$pbpid"; do
		vq_kill "$v" INT 10
		rc=$?
		((rc == 0)) || errs+=" virtq-svq exited $rc after SIGINT;"
	done
	vn_stop "$VN_PID"
	rc=$?
	((rc == 0)) || errs+=" virtq-net exited $rc after SIGINT;"
	for v in "$vlog" "$tlog" "$rlog" "$palog" "$pblog"; do errs+=$(net_san_check "$v"); done
	grep -aq 'broken' "$vlog" && errs+=" $(grep -a -m1 broken "$vlog");"
	# virtq-net drops a proxy's connection only for a reason worth failing on.
	v=$(grep -a 'disconnect: ' "$vlog" | grep -av 'frontend closed the connection' | head -n 1)
	[[ -z $v ]] || errs+=" virtq-net: $v;"
	for v in "$palog" "$pblog"; do
		fault=$(vq_log_fault "$v")
		[[ -z $fault ]] || errs+=" $(basename "$v"): $fault;"
	done
	errs+=$(vqu_layout_check "$layout" "$tlog" "$rlog")
	# Moderated: the timer relayed what stayed below the threshold.
	if [[ -n $co ]]; then
		for v in "$palog" "$pblog"; do
			adds=$(sed -n 's/.*timer relays \([0-9]*\)).*/\1/p' "$v")
			((${adds:-0} > 0)) || errs+=" $(basename "$v"): no timer relay with --coalesce $co;"
		done
	fi
	# More regions than one SET_MEM_TABLE holds: each driver added them one
	# by one to its proxy, and each proxy to virtq-net.
	if [[ -n $regions ]]; then
		for v in "$palog" "$pblog"; do
			adds=$(grep -ac 'ADD_MEM_REG' "$v")
			((adds >= regions)) || errs+=" $(basename "$v"): $adds ADD_MEM_REG, want >= $regions;"
		done
		adds=$(grep -ac 'ADD_MEM_REG' "$vlog")
		((adds >= 2 * regions)) || errs+=" virtq-net saw $adds ADD_MEM_REG, want >= $((2 * regions));"
	fi
	for q in 0 1; do
		[[ $(vn_layout "$vlog" "$q") == "$blayout" ]] ||
			errs+=" virtq-net queue $q runs '$(vn_layout "$vlog" "$q")' shadow rings, want $blayout;"
	done
	utx=$(vqu_count "$tlog" tx_pkts) left=$(vqu_count "$tlog" tx_inflight)
	urx=$(vqu_count "$rlog" rx_pkts) bad=$(vqu_count "$rlog" bad) lost=$(vqu_count "$rlog" lost)
	foreign=$(vqu_count "$rlog" foreign) reorder=$(vqu_count "$rlog" reorder)
	next=$(vqu_count "$rlog" rx_next_seq)
	tail=$((${utx:-0} - ${next:-0}))
	arx=$(vn_total "$vlog" c$N.a.sock rx_packets)
	btx=$(vn_total "$vlog" c$N.b.sock tx_packets)
	[[ -n $utx && -n $urx && -n $arx && -n $btx && -n $next ]] || errs+=" missing totals;"
	[[ $bad == 0 ]] || errs+=" $bad bad frames;"
	[[ $foreign == 0 ]] || errs+=" $foreign foreign frames;"
	[[ $reorder == 0 ]] || errs+=" $reorder frames out of order;"
	((${urx:-0} > 0)) || errs+=" nothing received;"
	[[ $left == 0 ]] || errs+=" $left frames still queued when the sender stopped;"
	[[ ${arx:-x} == "${utx:-y}" ]] || errs+=" virtq-net took $arx from A, the sender sent $utx;"
	((${urx:-0} + ${lost:-0} + tail == ${utx:-0})) ||
		errs+=" received $urx + lost $lost + tail $tail != sent $utx;"
	((${urx:-0} <= ${btx:-0})) || errs+=" received $urx > virtq-net delivered $btx;"
	net_result "$NAME" "$tag" "$errs" \
		"sent ${utx:-?} switched ${btx:-?} recv ${urx:-?} verified through two proxies, lost ${lost:-?} + tail $tail" \
		"$vlog" "$palog" "$pblog" "$tlog" "$rlog" || FAILS=$((FAILS + 1))
}

t0=$SECONDS
for layout in ${SVQ_NET_LAYOUTS:-split packed}; do
	for size in ${SVQ_NET_SIZES:-64 1514}; do
		N=$((N + 1))
		one_case "$layout" "$size"
	done
done
# The shadow rings in the other layout than the guest's (the SVQ converts),
# and drivers whose memory is 12 regions (ADD_MEM_REG on both sides).
if [[ -z ${SVQ_NET_LAYOUTS:-}${SVQ_NET_SIZES:-} ]]; then
	N=$((N + 1))
	one_case split 1514 packed
	N=$((N + 1))
	one_case packed 1514 packed 12
	# Notification moderation: at half the ring, and above the ring's size
	# (clamped to it: the guest can never post that many more while the
	# proxy holds buffers, so the proxy's timer relays everything).
	N=$((N + 1))
	one_case split 64 "" "" 128
	N=$((N + 1))
	one_case packed 1514 "" "" 32768:50
fi
echo "  $N cases in $((SECONDS - t0)) s"
((FAILS == 0)) || exit 1
exit 0
