#!/bin/bash
# netdrv_dpdk.sh - our virtio-net driver (virtq-user net) against DPDK 22.11's
# vhost PMD (testpmd net_vhost, the device side, no hugepages), counting
# frames on both sides.
#
#   tx  virtq-user --mode tx -> testpmd rxonly. virtq-user waits at the end
#       until the device completed every frame it queued (tx_inflight 0),
#       so testpmd must have received exactly what virtq-user sent.
#   rx  testpmd txonly -> virtq-user --mode rx. testpmd counts the frames it
#       put into virtq-user's receive buffers; virtq-user received > 0 and
#       at most that, short by at most the buffers it had posted when it
#       stopped reading (the ring size).
# Both check the frame sizes (64 and 9000 bytes) on both sides, and the ring
# layout virtq-user negotiated. Split and packed, --mrg on and off.
# SAN=1: 64-byte frames only. testpmd forwards on CPU 1, virtq-user on CPU 0.
#
# One PASS/FAIL line per case; exit 0 all passed, 1 a case failed, 77 skip.
# VIRTQ_KEEP=1 keeps the work directory (all logs).
. "$(dirname "$0")/lib/script.sh" dpdk

NAME=netdrv_dpdk
SEC=${NETDRV_DPDK_SEC:-2}
QSIZE=256
TP_CPU=$CPU1
VU_CPU=0

net_begin "$NAME" netdrv-dpdk dpdk "$VQU"

one_case() {
	local dir=$1 layout=$2 mrg=$3 size=$4 tag="$1 $2 mrg=$3 ${4}B"
	local sock=$WORK/c$N.sock ulog=$WORK/c$N.vqu.log errs='' rc fwd mode
	local rx tx drop utx utxb urx urxb left got
	local vargs=(--cpu "$VU_CPU" --mrg "$mrg" --size "$size" --duration "$SEC")
	[[ $layout == packed ]] && vargs+=(--packed)
	if [[ $dir == tx ]]; then fwd=rxonly mode=tx; else fwd=txonly mode=rx; fi
	dpdk_vhost_start "$sock" "vqnv$$-$N" "$fwd" --cpu "$TP_CPU" --size "$size" -- --no-flush-rx || {
		net_result "$NAME" "$tag" " testpmd did not start" "-" "$DPDK_LOG"
		FAILS=$((FAILS + 1))
		return
	}
	vq_spawn "$ulog" $((SEC + 30)) "$VQU" net --socket "$sock" --mode "$mode" "${vargs[@]}"
	net_wait "$VQ_PID" $((SEC + 25))
	rc=$?
	((rc == 0)) || errs+=" virtq-user exited $rc;"
	dpdk_stop "$DPDK_PID"
	rc=$?
	((rc == 0)) || errs+=" testpmd exited $rc;"
	errs+=$(net_san_check "$ulog")
	got=$(vqu_layout "$ulog")
	[[ $got == "$layout" ]] || errs+=" virtq-user runs ${got:-no} rings, want $layout;"
	read -r rx tx drop <<<"$(tp_port "$DPDK_LOG" 0)"
	utx=$(vqu_count "$ulog" tx_pkts) utxb=$(vqu_count "$ulog" tx_bytes)
	urx=$(vqu_count "$ulog" rx_pkts) urxb=$(vqu_count "$ulog" rx_bytes)
	left=$(vqu_count "$ulog" tx_inflight)
	[[ -n $rx && -n $utx ]] || errs+=" missing totals (testpmd '${rx:-}', virtq-user '${utx:-}');"
	if [[ $dir == tx ]]; then
		((${utx:-0} > 0)) || errs+=" virtq-user sent nothing;"
		[[ $left == 0 ]] || errs+=" $left frames still queued when virtq-user stopped;"
		[[ ${rx:-x} == "${utx:-y}" ]] || errs+=" sent $utx != received $rx;"
		errs+=$(net_size_check "virtq-user tx" "$utx" "$utxb" "$size")
		errs+=$(tp_size_check "testpmd rx" "$DPDK_LOG" 0 rx "$size")
		net_result "$NAME" "$tag" "$errs" "sent ${utx:-?} recv ${rx:-?}" "$ulog" "$DPDK_LOG" ||
			FAILS=$((FAILS + 1))
	else
		((${urx:-0} > 0)) || errs+=" virtq-user received nothing;"
		((${urx:-0} <= ${tx:-0})) || errs+=" received $urx > sent $tx;"
		((${tx:-0} - ${urx:-0} <= QSIZE)) || errs+=" sent $tx - received $urx > $QSIZE (ring size);"
		errs+=$(net_size_check "virtq-user rx" "$urx" "$urxb" "$size")
		errs+=$(tp_size_check "testpmd tx" "$DPDK_LOG" 0 tx "$size")
		net_result "$NAME" "$tag" "$errs" \
			"sent ${tx:-?} recv ${urx:-?} (not read when stopped $((${tx:-0} - ${urx:-0})))" \
			"$ulog" "$DPDK_LOG" || FAILS=$((FAILS + 1))
	fi
}

matrix() {
	local d l g s sizes=(64 9000)
	if net_sanitized; then sizes=(64); fi
	for d in tx rx; do
		for l in split packed; do
			for g in on off; do
				for s in "${sizes[@]}"; do echo "$d $l $g $s"; done
			done
		done
	done
}

t0=$SECONDS
net_sanitized && echo "  sanitizer build: reduced matrix (64-byte frames only)"
while read -r dir layout mrg size; do
	N=$((N + 1))
	one_case "$dir" "$layout" "$mrg" "$size"
done < <(matrix)
echo "  $N cases in $((SECONDS - t0)) s"
((FAILS == 0)) || exit 1
exit 0
