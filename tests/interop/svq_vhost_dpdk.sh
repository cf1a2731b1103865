#!/bin/bash
# svq_vhost_dpdk.sh - virtq-svq in front of DPDK 22.11's vhost backend, with
# every payload verified:
#
#   virtq-user net (the driver: --mode tx --window --verify, its shared
#   memory announced as 4 regions)
#     -> virtq-svq (a backend to virtq-user; a frontend of DPDK, which sees
#        only the proxy's IOVA memory layout)
#     -> testpmd net_vhost0 (forward-mode io: each frame goes back out of
#        the port it came in), and back through the proxy's receive shadow
#        ring to virtq-user, which checks every echo.
#
# Per case:
#   every frame virtq-user sent came back verified: rx == tx > 0, and bad,
#   lost, reorder, foreign all 0; testpmd received exactly what it sent;
#   DPDK declared the device ready (it waits for DRIVER_OK when the STATUS
#   protocol feature is negotiated: the proxy must send it);
#   the memory table went the way the protocol features say: with
#   CONFIGURE_MEM_SLOTS negotiated (bit 15) as ADD_MEM_REG, without it (DPDK
#   22.11 does not offer it) as SET_MEM_TABLE and no ADD_MEM_REG;
#   virtq-svq exits 0 on SIGINT and logs no error, broken queue or buffer
#   given back unforwarded.
# Matrix: split 64 B and packed 1500 B (SAN=1/TSAN=1: split only).
# One PASS/FAIL line per case; exit 0 all passed, 1 a case failed, 77 skip.
# VIRTQ_KEEP=1 keeps the work directory (all logs).
. "$(dirname "$0")/lib/script.sh" dpdk

NAME=svq_vhost_dpdk
SEC=${SVQ_VHOST_DPDK_SEC:-2}

net_begin "$NAME" svq-vhost-dpdk dpdk "$VQU" "$SVQ"

# The vhost-user protocol features DPDK negotiated (hex, no 0x), or "".
dpdk_pfeatures() {
	grep -a 'negotiated Vhost-user protocol features' "$1" | tail -n 1 | sed -n 's/.*: 0x\([0-9a-fA-F]*\).*/\1/p'
}

one_case() {
	local layout=$1 size=$2 tag="$1 ${2}B"
	local sb=$WORK/c$N.b.sock pb=$WORK/c$N.p.sock plog=$WORK/c$N.svq.log ulog=$WORK/c$N.vqu.log
	local errs="" rc ppid upid pf how v
	local targs=(--cpu "$CPU1" --size "$size") uargs=(--size "$size" --mem-regions 4)
	[[ $layout == packed ]] && uargs+=(--packed)
	dpdk_vhost_start "$sb" "svqv$$-$N" io "${targs[@]}" || {
		net_result "$NAME" "$tag" " testpmd did not start" "-" "$DPDK_LOG"
		FAILS=$((FAILS + 1))
		return
	}
	sp_start "$plog" 90 "$pb" "$sb" || errs+=" virtq-svq did not start;"
	ppid=$SP_PID
	vq_spawn "$ulog" $((SEC + 40)) "$VQU" net --socket "$pb" --mode tx --window 64 --verify \
		--duration "$SEC" --cpu 0 "${uargs[@]}"
	upid=$VQ_PID
	net_wait "$upid" $((SEC + 30))
	rc=$?
	((rc == 0)) || errs+=" virtq-user exited $rc;"
	vq_kill "$ppid" INT 10
	rc=$?
	((rc == 0)) || errs+=" virtq-svq exited $rc after SIGINT;"
	dpdk_stop "$DPDK_PID"
	rc=$?
	((rc == 0)) || errs+=" testpmd exited $rc;"
	for v in "$plog" "$ulog"; do errs+=$(net_san_check "$v"); done
	v=$(vq_log_fault "$plog")
	[[ -z $v ]] || errs+=" virtq-svq: $v;"
	grep -aq 'virtio is now ready for processing' "$DPDK_LOG" ||
		errs+=" DPDK never declared the device ready (no DRIVER_OK?);"
	pf=$(dpdk_pfeatures "$DPDK_LOG")
	if [[ -z $pf ]]; then
		errs+=" DPDK logged no protocol features;"
	elif (((0x$pf >> 15) & 1)); then
		how="CONFIGURE_MEM_SLOTS negotiated: ADD_MEM_REG"
		grep -aq 'read message VHOST_USER_ADD_MEM_REG' "$DPDK_LOG" ||
			errs+=" CONFIGURE_MEM_SLOTS negotiated but no ADD_MEM_REG;"
	else
		how="no CONFIGURE_MEM_SLOTS in DPDK's 0x$pf: SET_MEM_TABLE"
		grep -aq 'read message VHOST_USER_SET_MEM_TABLE' "$DPDK_LOG" ||
			errs+=" no SET_MEM_TABLE;"
		grep -aq 'ADD_MEM_REG' "$DPDK_LOG" && errs+=" ADD_MEM_REG without the feature;"
	fi
	vqu_echo_check "$ulog" "$DPDK_LOG"
	errs+=$ECHO_ERRS
	net_result "$NAME" "$tag" "$errs" \
		"sent $UTX, $URX echoed by DPDK vhost through virtq-svq and verified; ${how:-?}" \
		"$plog" "$ulog" "$DPDK_LOG" || FAILS=$((FAILS + 1))
}

t0=$SECONDS
cases=("split 64" "packed 1500")
net_sanitized && cases=("split 64")
for c in "${cases[@]}"; do
	N=$((N + 1))
	# shellcheck disable=SC2086
	one_case $c
done
echo "  $N cases in $((SECONDS - t0)) s"
((FAILS == 0)) || exit 1
exit 0
