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
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
LIB=$ROOT/tests/interop/lib
. "$LIB/net.sh"

NAME=netdrv_switch
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}
VQU=$BIN/virtq-user
VIRTQ_NET=$BIN/virtq-net
SEC=${NETDRV_SWITCH_SEC:-2}
QSIZE=256
CPU1=$(($(nproc) > 1 ? 1 : 0))

net_begin "$NAME" netdrv-switch "$VQU" "$VIRTQ_NET"

# layout_of LOG: the ring layout virtq-user reported.
layout_of() { grep -ao '\(split\|packed\) rings of' "$1" | cut -d' ' -f1; }
rxbuf_of() { grep -ao 'rx buffers [a-z]*' "$1" | head -n 1 | cut -d' ' -f3; }

one_case() {
	local layout=$1 rxbuf=$2 size=$3 tag="$1 $2 ${3}B" mrg=off
	local sa=$WORK/c$N.a.sock sb=$WORK/c$N.b.sock vlog=$WORK/c$N.vn.log
	local tlog=$WORK/c$N.tx.log rlog=$WORK/c$N.rx.log errs='' rc tpid rpid
	local utx utxb left urx urxb bad lost foreign reorder arx btx bdrop v end next tail
	local common=(--size "$size")
	[[ $rxbuf == mergeable ]] && mrg=on
	[[ $layout == packed ]] && common+=(--packed)
	vn_start "$vlog" 60 --socket "$sa" --socket "$sb" --cpus "$CPU1" || {
		net_result "$NAME" "$tag" " virtq-net did not start" "-" "$vlog"
		FAILS=$((FAILS + 1))
		return
	}
	# The receiver first, so that it owns its port before frames flow.
	vq_spawn "$rlog" $((SEC + 70)) "$VQU" net --socket "$sb" --mode rx --verify \
		--duration $((SEC + 60)) --mrg "$mrg" --rxbuf "$rxbuf" --cpu "$CPU1" "${common[@]}"
	rpid=$VQ_PID
	end=$((SECONDS + 10))
	until grep -aqs 'rings of' "$rlog" || ((SECONDS > end)) || ! vq_alive "$rpid"; do
		vq_sleep 0.05
	done
	vq_spawn "$tlog" $((SEC + 40)) "$VQU" net --socket "$sa" --mode tx --verify \
		--duration "$SEC" --cpu 0 "${common[@]}"
	tpid=$VQ_PID
	net_wait "$tpid" $((SEC + 30))
	rc=$?
	((rc == 0)) || errs+=" sender exited $rc;"
	# The receiver outlives the sender (stopped by SIGINT once the frames
	# on its ring were read), so that every frame has a live destination.
	vq_sleep 0.5
	vq_alive "$rpid" || errs+=" receiver exited early;"
	vq_kill "$rpid" INT 10
	rc=$?
	((rc == 0)) || errs+=" receiver exited $rc after SIGINT;"
	vn_stop "$VN_PID"
	rc=$?
	((rc == 0)) || errs+=" virtq-net exited $rc after SIGINT;"
	for v in "$vlog" "$tlog" "$rlog"; do errs+=$(net_san_check "$v"); done
	grep -aq 'broken' "$vlog" && errs+=" $(grep -a -m1 broken "$vlog");"
	for v in "$tlog" "$rlog"; do
		[[ $(layout_of "$v") == "$layout" ]] ||
			errs+=" $(basename "$v") runs $(layout_of "$v") rings, want $layout;"
	done
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
