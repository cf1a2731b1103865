#!/bin/bash
# net_split.sh - EXPERIMENTAL header/data split (docs/SPLIT.md) over real
# vhost-user: virtq-net --source --split METHOD sends TCP-like frames,
# virtq-user net --mode rx --split METHOD receives them through the
# split-aware zero-copy driver (vq_splitdrv), the application reading every
# byte.  Per case:
#   virtq-user exits 0 and received frames, every one of them split (none:
#   none split) with the payload page-aligned, no drops, rx bytes = frames x
#   size, every reassembled frame's bytes what the source sent (--verify:
#   headers, split point, payload pattern); the ring layout asked for;
#   virtq-net logged no broken queue; no sanitizer report.
# Matrix (short): B, A, C, the header ring (configured by virtq-user with
# the VQ_NET_CTRL_SPLIT control command over the vhost-user control queue),
# plain mergeable, over split and packed rings, IPv4 and IPv6, 1500 B and
# 64 KiB; and a driver asking for a method the backend does not offer: a
# clear error, exit 1.
#
# One PASS/FAIL line per case; exit 0 all passed, 1 a case failed, 77 skip.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. "$ROOT/tests/interop/lib/net.sh"

NAME=net_split
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}
VQU=$BIN/virtq-user
VIRTQ_NET=$BIN/virtq-net
SEC=${NET_SPLIT_SEC:-1}

net_begin "$NAME" net-split "$VQU" "$VIRTQ_NET"

split_field() { grep -a '^split: ' "$1" | tail -n 1 | awk -v k="$2" '{ for (i = 2; i < NF; i += 2) if ($i == k) print $(i + 1) }'; }

one_case() {
	local layout=$1 method=$2 proto=$3 size=$4 ratio=$5 tag="$1 $2 $3 ${4}B"
	local sock=$WORK/c$N.sock vlog=$WORK/c$N.vn.log rlog=$WORK/c$N.rx.log errs='' rc
	local pk sp al dr by
	local vsplit=() uopt=(--split "$method" --ratio "$ratio" --verify) bad
	[[ $method == none ]] || vsplit=(--split "$method")
	[[ $layout == packed ]] && uopt+=(--packed)
	vn_start "$vlog" $((SEC + 60)) --socket "$sock" --source "$size" --source-proto "$proto" \
		"${vsplit[@]}" || {
		net_result "$NAME" "$tag" " virtq-net did not start" "-" "$vlog"
		FAILS=$((FAILS + 1))
		return
	}
	vq_spawn "$rlog" $((SEC + 40)) "$VQU" net --socket "$sock" --mode rx --duration "$SEC" \
		"${uopt[@]}"
	net_wait "$VQ_PID" $((SEC + 30))
	rc=$?
	((rc == 0)) || errs+=" virtq-user exited $rc;"
	vn_stop "$VN_PID" || errs+=" virtq-net exited $? after SIGINT;"
	for f in "$vlog" "$rlog"; do errs+=$(net_san_check "$f"); done
	grep -aq 'broken' "$vlog" "$rlog" && errs+=" $(grep -ah -m1 broken "$vlog" "$rlog");"
	grep -aq "$layout rings of" "$rlog" || errs+=" not $layout rings;"
	pk=$(split_field "$rlog" packets) sp=$(split_field "$rlog" split)
	al=$(split_field "$rlog" aligned) dr=$(split_field "$rlog" drops)
	by=$(vqu_count "$rlog" rx_bytes) bad=$(vqu_count "$rlog" bad)
	((${pk:-0} > 0)) || errs+=" nothing received;"
	if [[ $method == none ]]; then
		[[ ${sp:-x} == 0 ]] || errs+=" $sp frames split without a method;"
	else
		[[ ${sp:-x} == "${pk:-y}" ]] || errs+=" $sp of $pk frames split;"
	fi
	[[ ${al:-x} == "${sp:-y}" ]] || errs+=" $al of $sp split payloads page-aligned;"
	[[ ${dr:-x} == 0 ]] || errs+=" $dr drops;"
	[[ ${bad:-x} == 0 ]] || errs+=" $bad frames reassembled wrong;"
	[[ ${by:-x} == $((${pk:-0} * size)) ]] || errs+=" $by bytes in $pk frames of $size;"
	net_result "$NAME" "$tag" "$errs" "received ${pk:-?}, split ${sp:-?}, aligned ${al:-?}" \
		"$vlog" "$rlog" || FAILS=$((FAILS + 1))
}

# A method the backend does not offer: the driver says so and exits 1.
not_offered() {
	local sock=$WORK/no.sock vlog=$WORK/no.vn.log rlog=$WORK/no.rx.log errs='' rc
	vn_start "$vlog" 60 --socket "$sock" --source 1500 --source-proto tcp4 || {
		net_result "$NAME" "not offered" " virtq-net did not start" "-" "$vlog"
		FAILS=$((FAILS + 1))
		return
	}
	vq_spawn "$rlog" 30 "$VQU" net --socket "$sock" --mode rx --duration 1 --split b
	net_wait "$VQ_PID" 20
	rc=$?
	((rc == 1)) || errs+=" virtq-user exited $rc, want 1;"
	grep -aq 'does not offer split method' "$rlog" || errs+=" no clear error;"
	vn_stop "$VN_PID" || errs+=" virtq-net exited $? after SIGINT;"
	errs+=$(net_san_check "$rlog")
	net_result "$NAME" "method not offered" "$errs" "refused: $(grep -a -m1 -o 'does not offer.*' "$rlog")" \
		"$vlog" "$rlog" || FAILS=$((FAILS + 1))
}

t0=$SECONDS
while read -r layout method proto size ratio; do
	N=$((N + 1))
	one_case "$layout" "$method" "$proto" "$size" "$ratio"
done <<'CASES'
split b tcp4 1500 1
packed b tcp6 65536 1
split a tcp6 1500 1
packed a tcp4 65536 16
packed c tcp4 1500 1
split c tcp6 65536 16
split hring tcp4 1500 1
packed hring tcp6 65536 1
split hring tcp4 65536 16
packed hring tcp4 64 1
split none tcp4 1500 1
CASES
not_offered
echo "  $((N + 1)) cases in $((SECONDS - t0)) s"
((FAILS == 0)) || exit 1
exit 0
