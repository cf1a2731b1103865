#!/bin/bash
# netdrv_switch.sh - our net driver <-> virtq-net <-> our net driver, with
# every payload byte checked end to end.
#
# virtq-user --mode tx on switch port A sends broadcast frames carrying a
# sequence number and a pattern; virtq-user --mode rx --verify on port B
# checks each one (length, sequence, every byte). Per case:
#   bad == 0, foreign == 0, reorder == 0 and received > 0;
#   the sender's frames all completed (tx_inflight 0) and virtq-net took
#   exactly that many from port A;
#   received <= what virtq-net delivered to B, and virtq-net delivered at
#   most the ring size more than B read;
#   exactly: received + lost + tail == sent, where lost counts the gaps
#   between sequence numbers B saw and tail the frames sent after the last
#   one B saw (sent - B's next expected sequence number); and lost + tail ==
#   B's drops + (delivered to B - received): every frame B missed was either
#   counted as a drop by virtq-net or delivered and not yet read;
#   every frame virtq-net took from A was delivered to B or counted as a
#   drop there (broadcast, two ports);
#   frame sizes on both sides; the ring layout both drivers negotiated.
# Matrix: split and packed x receive strategy mergeable (--mrg on; 64, 1514
# and 9000-byte frames), big (--mrg off; 64 and 9000) and small (--mrg off;
# 64 and 1514: small buffers hold one MTU frame). SAN=1: 64 and 1514 only.
# CPUs: virtq-net and the receiver on CPU 1, the sender on CPU 0 (there are
# three pollers for two CPUs; the test checks counts, not speed).
#
# One PASS/FAIL line per case; exit 0 all passed, 1 a case failed, 77 skip.
# VIRTQ_KEEP=1 keeps the work directory (all logs).
. "$(dirname "$0")/lib/script.sh"

NAME=netdrv_switch
SEC=${NETDRV_SWITCH_SEC:-2}
QSIZE=256

net_begin "$NAME" netdrv-switch "$VQU" "$VIRTQ_NET"

rxbuf_of() { grep -ao 'rx buffers [a-z]*' "$1" | head -n 1 | cut -d' ' -f3; }

one_case() {
	local layout=$1 rxbuf=$2 size=$3 tag="$1 $2 ${3}B" mrg=off
	local sa=$WORK/c$N.a.sock sb=$WORK/c$N.b.sock vlog=$WORK/c$N.vn.log
	local tlog=$WORK/c$N.tx.log rlog=$WORK/c$N.rx.log errs='' rc
	local utx utxb left urx urxb bad lost foreign reorder arx btx bdrop v next tail
	local common=(--size "$size")
	[[ $rxbuf == mergeable ]] && mrg=on
	[[ $layout == packed ]] && common+=(--packed)
	vn_start "$vlog" 60 --socket "$sa" --socket "$sb" --cpus "$CPU1" || {
		net_result "$NAME" "$tag" " virtq-net did not start" "-" "$vlog"
		FAILS=$((FAILS + 1))
		return
	}
	vqu_pair "$SEC" "$sb" "$rlog" "$sa" "$tlog" \
		--mrg "$mrg" --rxbuf "$rxbuf" --cpu "$CPU1" -- "${common[@]}"
	errs+=$VQU_ERRS
	vn_stop "$VN_PID"
	rc=$?
	((rc == 0)) || errs+=" virtq-net exited $rc after SIGINT;"
	for v in "$vlog" "$tlog" "$rlog"; do errs+=$(net_san_check "$v"); done
	grep -aq 'broken' "$vlog" && errs+=" $(grep -a -m1 broken "$vlog");"
	errs+=$(vqu_layout_check "$layout" "$tlog" "$rlog")
	[[ $(rxbuf_of "$rlog") == "$rxbuf" ]] || errs+=" receiver uses $(rxbuf_of "$rlog") buffers;"
	utx=$(vqu_count "$tlog" tx_pkts) utxb=$(vqu_count "$tlog" tx_bytes)
	left=$(vqu_count "$tlog" tx_inflight)
	urx=$(vqu_count "$rlog" rx_pkts) urxb=$(vqu_count "$rlog" rx_bytes)
	bad=$(vqu_count "$rlog" bad) lost=$(vqu_count "$rlog" lost) foreign=$(vqu_count "$rlog" foreign)
	reorder=$(vqu_count "$rlog" reorder) next=$(vqu_count "$rlog" rx_next_seq)
	tail=$((${utx:-0} - ${next:-0}))
	arx=$(vn_total "$vlog" c$N.a.sock rx_packets)
	btx=$(vn_total "$vlog" c$N.b.sock tx_packets)
	bdrop=$(vn_total "$vlog" c$N.b.sock drops)
	[[ -n $utx && -n $urx && -n $arx && -n $btx ]] || errs+=" missing totals;"
	[[ $bad == 0 ]] || errs+=" $bad bad frames;"
	[[ $foreign == 0 ]] || errs+=" $foreign foreign frames;"
	[[ $reorder == 0 ]] || errs+=" $reorder frames out of order;"
	((${urx:-0} > 0)) || errs+=" nothing received;"
	[[ $left == 0 ]] || errs+=" $left frames still queued when the sender stopped;"
	[[ ${arx:-x} == "${utx:-y}" ]] || errs+=" virtq-net took $arx from A, the sender sent $utx;"
	[[ -n $next ]] || errs+=" no rx_next_seq in the receiver's counts;"
	((${urx:-0} + ${lost:-0} + tail == ${utx:-0})) ||
		errs+=" received $urx + lost $lost + tail $tail != sent $utx;"
	((${lost:-0} + tail == ${bdrop:-0} + ${btx:-0} - ${urx:-0})) ||
		errs+=" lost $lost + tail $tail != dropped for B $bdrop + delivered-unread $((${btx:-0} - ${urx:-0}));"
	((${urx:-0} <= ${btx:-0})) || errs+=" received $urx > virtq-net delivered $btx;"
	((${btx:-0} - ${urx:-0} <= QSIZE)) || errs+=" virtq-net delivered $btx, B read only $urx;"
	# Broadcast with two ports: each frame from A goes to B or is a drop there
	# (B's drops would also count frames from B's own disabled tx ring, but
	# B never transmits).
	((${arx:-0} == ${btx:-0} + ${bdrop:-0})) ||
		errs+=" virtq-net took $arx from A but delivered $btx to B and dropped ${bdrop:-?};"
	errs+=$(net_size_check "sender" "$utx" "$utxb" "$size")
	errs+=$(net_size_check "receiver" "$urx" "$urxb" "$size")
	net_result "$NAME" "$tag" "$errs" \
		"sent ${utx:-?} switched ${btx:-?} dropped ${bdrop:-?} recv ${urx:-?} verified, lost ${lost:-?} + tail $tail" \
		"$vlog" "$tlog" "$rlog" || FAILS=$((FAILS + 1))
}

matrix() {
	local l
	for l in split packed; do
		if net_sanitized; then
			printf '%s\n' "$l mergeable 64" "$l big 1514" "$l small 1514"
			continue
		fi
		printf '%s\n' "$l mergeable 64" "$l mergeable 1514" "$l mergeable 9000" \
			"$l big 64" "$l big 9000" "$l small 64" "$l small 1514"
	done
}

t0=$SECONDS
net_sanitized && echo "  sanitizer build: reduced matrix (one size per receive strategy)"
while read -r layout rxbuf size; do
	N=$((N + 1))
	one_case "$layout" "$rxbuf" "$size"
done < <(matrix)
echo "  $N cases in $((SECONDS - t0)) s"
((FAILS == 0)) || exit 1
exit 0
