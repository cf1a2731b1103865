#!/bin/bash
# net_dpdk.sh - DPDK 22.11 testpmd (virtio-user PMD, the driver side) against
# virtq-net (the vhost-user backend), counting frames on both sides.
#
#   sink    testpmd txonly -> virtq-net --sink: every frame testpmd counts as
#           sent (TX-packets: enqueued on the ring) is one virtq-net
#           received, exactly; and each is SIZE bytes. testpmd runs
#           interactively (commands through a FIFO) so that it stops sending
#           before it stops its port (see case_sink).
#   source  virtq-net --source SIZE -> testpmd rxonly (--no-flush-rx: the
#           frames that arrive before forwarding starts are counted too):
#           testpmd received > 0 and <= what virtq-net delivered, short by
#           at most twice the ring size: the virtio PMD's dev_start drops
#           what arrived between posting its receive buffers and the start
#           (virtqueue_rxvq_flush, uncounted), and the buffers still on the
#           ring when testpmd stops; each frame is SIZE bytes on both sides.
#   switch  one testpmd, two virtio-user ports on two switch ports, io
#           forwarding with --tx-first: the frames circulate port 0 ->
#           switch -> port 1 -> testpmd -> port 1 -> switch -> port 0 ...
#           Per direction: received > 0, received <= sent, sent - received
#           within the ring size (the frames in flight when stopped) or 1 %;
#           virtq-net took from each port exactly what testpmd sent there,
#           and delivered to the other port no more than that.
#
# Each mode runs split and packed (virtio_user packed_vq=0/1), mrg_rxbuf=1
# and 0, and 64, 1500 and 9000-byte frames, ~NET_DPDK_SEC (2) seconds each;
# the ring layout virtq-net actually started is checked too.
# SAN=1 (the sanitizer build of make check) runs a reduced matrix.
# NET_DPDK_CASES=REGEX runs the cases whose "MODE LAYOUT MRG SIZE" matches.
# testpmd's forwarding lcore runs on CPU 0, virtq-net's worker on CPU 1.
#
# One PASS/FAIL line per case; exit 0 all passed, 1 a case failed, 77 skip.
# VIRTQ_KEEP=1 keeps the work directory (all logs).
. "$(dirname "$0")/lib/script.sh" dpdk

NAME=net_dpdk
SEC=${NET_DPDK_SEC:-2}
QSIZE=256
TP_CPU=0
VN_CPU=$CPU1

net_begin "$NAME" net-dpdk dpdk "$VIRTQ_NET"

# result CASE ERRORS DETAIL: one PASS/FAIL line, the case's logs on failure.
result() {
	net_result "$NAME" "$1" "$2" "$3" "$WORK/c$N.vn.log" "$WORK/testpmd-vqnd$$-$N.log" ||
		FAILS=$((FAILS + 1))
}

# vu_args LAYOUT MRG SIZE: testpmd virtio-user options for the case.
vu_args() {
	local a=(--cpu "$TP_CPU" --mrg "$2" --size "$3")
	[[ $1 == packed ]] && a+=(--packed)
	echo "${a[@]}"
}

# check_layout LOG QUEUE... : the layout virtq-net started each QUEUE with.
check_layout() {
	local log=$1 want=$2 q got
	shift 2
	for q in "$@"; do
		got=$(vn_layout "$log" "$q")
		[[ $got == "$want" ]] || echo -n " queue $q started ${got:-never}, want $want;"
	done
}

# stop_both VNLOG: stop testpmd, then virtq-net; appends to errs (not in a
# subshell: vq_kill must wait for its own children).
stop_both() {
	local rc
	dpdk_stop "$DPDK_PID"
	rc=$?
	((rc == 0)) || errs+=" testpmd exited $rc;"
	vn_stop "$VN_PID"
	rc=$?
	((rc == 0)) || errs+=" virtq-net exited $rc after SIGINT;"
	errs+=$(net_san_check "$1")
	grep -aq 'broken' "$1" && errs+=" $(grep -a -m1 broken "$1");"
	return 0
}

# tp_interactive SOCK PREFIX FWD LAYOUT MRG SIZE: testpmd -i (virtio-user,
# client) reading commands from a FIFO on fd TP_FD; forwarding not started.
# Sets DPDK_PID, DPDK_LOG. 1 if it did not come up (prompt within 30 s).
tp_interactive() {
	local sock=$1 prefix=$2 fwd=$3 layout=$4 mrg=$5 size=$6 fifo=$WORK/c$N.fifo sz pk=0
	[[ $layout == packed ]] && pk=1
	read -ra sz <<<"$(_dpdk_size_args "$size" | tr '\n' ' ')"
	rm -f "$fifo" && mkfifo "$fifo" || return 1
	exec {TP_FD}<>"$fifo" # read-write: never blocks, keeps the FIFO open
	DPDK_LOG=$WORK/testpmd-$prefix.log
	rm -rf "/var/run/dpdk/$prefix"
	vq_spawn "$DPDK_LOG" "$DPDK_MAXSEC" bash -c 'f=$1; shift; exec stdbuf -oL "$@" <"$f"' _ \
		"$fifo" dpdk-testpmd --lcores "$(_dpdk_lcores "$TP_CPU")" --no-huge -m "${DPDK_MEM:-256}" \
		--no-pci --single-file-segments --file-prefix="$prefix" \
		--vdev "net_virtio_user0,path=$sock,queues=1,packed_vq=$pk,mrg_rxbuf=$mrg" -- -i \
		--total-num-mbufs="${DPDK_MBUFS:-16384}" --forward-mode="$fwd" "${sz[@]}"
	DPDK_PID=$VQ_PID
	_DPDK_PREFIX[$DPDK_PID]=$prefix
	dpdk_wait_log "$DPDK_LOG" '^testpmd> ' 30 "$DPDK_PID" && grep -aq '^Port 0: ' "$DPDK_LOG"
}

# tp_cmd CMD REGEX SEC: send a command to the interactive testpmd, wait for REGEX.
tp_cmd() {
	echo "$1" >&"$TP_FD"
	dpdk_wait_log "$DPDK_LOG" "$2" "$3" "$DPDK_PID"
}

# vn_wait_count LOG PORT KEY VALUE SEC: until virtq-net's periodic line for
# PORT shows KEY == VALUE (true), or SEC seconds (false).
vn_wait_count() {
	local end=$((SECONDS + $5)) v
	while ((SECONDS < end)); do
		v=$(grep -a "\"port\":\"$2\"" "$1" | tail -n 1 | sed -n "s/.*\"$3\":\([0-9]*\).*/\1/p")
		[[ $v == "$4" ]] && return 0
		vq_sleep 0.2
	done
	return 1
}

# Sink: testpmd runs interactively, so that it can stop sending ("stop")
# before it stops its port. GET_VRING_BASE does not drain a ring (the
# frames left on it would be resumed from the returned base), so a port
# stopped while frames are queued would leave them uncounted; after "stop"
# virtq-net has time to take every frame testpmd enqueued.
case_sink() {
	local layout=$1 mrg=$2 size=$3 tag="sink $1 mrg=$2 ${3}B"
	local sock=$WORK/c$N.sock vlog=$WORK/c$N.vn.log errs='' rx tx drop vrx vrxb rc
	vn_start "$vlog" 60 --socket "$sock" --sink --cpus "$VN_CPU" || {
		result "$tag" " virtq-net did not start" "-"; return; }
	tp_interactive "$sock" "vqnd$$-$N" txonly "$layout" "$mrg" "$size" || {
		dpdk_stop "$DPDK_PID"; vn_stop "$VN_PID"
		result "$tag" " testpmd did not start" "-"; return; }
	tp_cmd start 'packet forwarding - ports=' 10 || errs+=" testpmd did not start forwarding;"
	vq_sleep "$SEC"
	tp_cmd stop 'Accumulated forward statistics' 20 || errs+=" testpmd did not stop forwarding;"
	dpdk_wait_log "$DPDK_LOG" '^Done\.' 10 "$DPDK_PID"
	read -r rx tx drop <<<"$(tp_port "$DPDK_LOG" 0)"
	tp_cmd "show port stats 0" 'Tx-pps:' 10 || errs+=" no port statistics from testpmd;"
	errs+=$(net_size_check "testpmd tx" $(tp_bytes "$DPDK_LOG" 0 tx) "$size")
	vn_wait_count "$vlog" c$N.sock rx_packets "${tx:-x}" 10
	echo quit >&"$TP_FD"
	net_wait "$DPDK_PID" 20
	rc=$?
	((rc == 0)) || errs+=" testpmd exited $rc after quit;"
	dpdk_stop "$DPDK_PID"
	exec {TP_FD}>&-
	vn_stop "$VN_PID"
	rc=$?
	((rc == 0)) || errs+=" virtq-net exited $rc after SIGINT;"
	errs+=$(net_san_check "$vlog")
	grep -aq 'broken' "$vlog" && errs+=" $(grep -a -m1 broken "$vlog");"
	errs+=$(check_layout "$vlog" "$layout" 1)
	vrx=$(vn_total "$vlog" c$N.sock rx_packets)
	vrxb=$(vn_total "$vlog" c$N.sock rx_bytes)
	[[ -n $tx && -n $vrx ]] || errs+=" missing totals (testpmd '${tx:-}', virtq-net '${vrx:-}');"
	((${tx:-0} > 0)) || errs+=" testpmd sent nothing;"
	[[ ${tx:-x} == "${vrx:-y}" ]] || errs+=" sent $tx != received $vrx;"
	errs+=$(net_size_check "virtq-net rx" "$vrx" "$vrxb" "$size")
	result "$tag" "$errs" "sent ${tx:-?} recv ${vrx:-?} (testpmd ring-full retries ${drop:-?})"
}

case_source() {
	local layout=$1 mrg=$2 size=$3 tag="source $1 mrg=$2 ${3}B"
	local sock=$WORK/c$N.sock vlog=$WORK/c$N.vn.log errs='' rx tx drop vtx vtxb
	vn_start "$vlog" 60 --socket "$sock" --source "$size" --cpus "$VN_CPU" || {
		result "$tag" " virtq-net did not start" "-"; return; }
	# shellcheck disable=SC2046
	dpdk_virtio_user_start "$sock" "vqnd$$-$N" rxonly $(vu_args "$layout" "$mrg" "$size") \
		-- --no-flush-rx || {
		vn_stop "$VN_PID"; result "$tag" " testpmd did not start" "-"; return; }
	vq_sleep "$SEC"
	stop_both "$vlog"
	errs+=$(check_layout "$vlog" "$layout" 0)
	read -r rx tx drop <<<"$(tp_port "$DPDK_LOG" 0)"
	vtx=$(vn_total "$vlog" c$N.sock tx_packets)
	vtxb=$(vn_total "$vlog" c$N.sock tx_bytes)
	[[ -n $rx && -n $vtx ]] || errs+=" missing totals (testpmd '${rx:-}', virtq-net '${vtx:-}');"
	((${rx:-0} > 0)) || errs+=" testpmd received nothing;"
	((${rx:-0} <= ${vtx:-0})) || errs+=" received $rx > sent $vtx;"
	((${vtx:-0} - ${rx:-0} <= 2 * QSIZE)) || errs+=" sent $vtx - received $rx > 2 x $QSIZE (ring size);"
	errs+=$(net_size_check "virtq-net tx" "$vtx" "$vtxb" "$size")
	errs+=$(tp_size_check "testpmd rx" "$DPDK_LOG" 0 rx "$size")
	result "$tag" "$errs" "sent ${vtx:-?} recv ${rx:-?} (not received $((${vtx:-0} - ${rx:-0})))"
}

# dir_check WHAT SENT RECV: one direction of the switch loop.
dir_check() {
	local what=$1 s=${2:-0} r=${3:-0}
	((r > 0)) || { echo -n " $what: nothing received;"; return; }
	((r <= s)) || { echo -n " $what: received $r > sent $s;"; return; }
	((s - r <= QSIZE || (s - r) * 100 <= s)) || echo -n " $what: lost $((s - r)) of $s;"
}

case_switch() {
	local layout=$1 mrg=$2 size=$3 tag="switch $1 mrg=$2 ${3}B"
	local sa=$WORK/c$N.a.sock sb=$WORK/c$N.b.sock vlog=$WORK/c$N.vn.log errs=''
	local rx0 tx0 rx1 tx1 arx atx brx btx adrop bdrop drops pk=0
	[[ $layout == packed ]] && pk=1
	vn_start "$vlog" 60 --socket "$sa" --socket "$sb" --cpus "$VN_CPU" || {
		result "$tag" " virtq-net did not start" "-"; return; }
	# shellcheck disable=SC2046
	dpdk_virtio_user_start "$sa" "vqnd$$-$N" io $(vu_args "$layout" "$mrg" "$size") \
		--eal --vdev --eal "net_virtio_user1,path=$sb,queues=1,packed_vq=$pk,mrg_rxbuf=$mrg" \
		-- --tx-first --no-flush-rx || {
		vn_stop "$VN_PID"; result "$tag" " testpmd did not start" "-"; return; }
	dpdk_wait_log "$DPDK_LOG" '^Port 1: ' 10 "$DPDK_PID" || errs+=" port 1 did not probe;"
	vq_sleep "$SEC"
	stop_both "$vlog"
	errs+=$(check_layout "$vlog" "$layout" 0 1)
	read -r rx0 tx0 _ <<<"$(tp_port "$DPDK_LOG" 0)"
	read -r rx1 tx1 _ <<<"$(tp_port "$DPDK_LOG" 1)"
	arx=$(vn_total "$vlog" c$N.a.sock rx_packets)
	atx=$(vn_total "$vlog" c$N.a.sock tx_packets)
	brx=$(vn_total "$vlog" c$N.b.sock rx_packets)
	btx=$(vn_total "$vlog" c$N.b.sock tx_packets)
	adrop=$(vn_total "$vlog" c$N.a.sock drops)
	bdrop=$(vn_total "$vlog" c$N.b.sock drops)
	drops=$((${adrop:-0} + ${bdrop:-0}))
	[[ -n $tx0 && -n $tx1 && -n $arx && -n $brx ]] || errs+=" missing totals;"
	errs+=$(dir_check "port 0 -> port 1" "${tx0:-0}" "${rx1:-0}")
	errs+=$(dir_check "port 1 -> port 0" "${tx1:-0}" "${rx0:-0}")
	# virtq-net's view: what it took from each port is what testpmd sent there;
	# what it delivered covers what testpmd received, within the ring.
	[[ ${arx:-x} == "${tx0:-y}" ]] || errs+=" virtq-net took $arx from port 0, testpmd sent $tx0;"
	[[ ${brx:-x} == "${tx1:-y}" ]] || errs+=" virtq-net took $brx from port 1, testpmd sent $tx1;"
	errs+=$(dir_check "virtq-net -> port 1" "${btx:-0}" "${rx1:-0}")
	errs+=$(dir_check "virtq-net -> port 0" "${atx:-0}" "${rx0:-0}")
	# Flooding with two ports: what virtq-net delivered to one port came
	# from the other. (Its per-port drops mix frames not deliverable to the
	# port and frames taken from the port's disabled tx ring at stop.)
	errs+=$(dir_check "virtq-net A -> B" "${arx:-0}" "${btx:-0}")
	errs+=$(dir_check "virtq-net B -> A" "${brx:-0}" "${atx:-0}")
	errs+=$(tp_size_check "testpmd rx port 1" "$DPDK_LOG" 1 rx "$size")
	result "$tag" "$errs" "0->1 sent ${tx0:-?} recv ${rx1:-?}, 1->0 sent ${tx1:-?} recv ${rx0:-?}, switch drops $drops"
}

# The matrix: MODE LAYOUT MRG SIZE per line.
matrix() {
	local m l g s
	if net_sanitized; then
		for m in sink source switch; do
			echo "$m split 1 64"
			echo "$m packed 0 9000"
		done
		return
	fi
	for m in sink source switch; do
		for l in split packed; do
			for g in 1 0; do
				for s in 64 1500 9000; do echo "$m $l $g $s"; done
			done
		done
	done
}

t0=$SECONDS
net_sanitized && echo "  sanitizer build: reduced matrix (split mrg=1 64B and packed mrg=0 9000B per mode)"
while read -r mode layout mrg size; do
	N=$((N + 1))
	"case_$mode" "$layout" "$mrg" "$size"
done < <(matrix | grep -E -- "${NET_DPDK_CASES:-.}")
echo "  $N cases in $((SECONDS - t0)) s"
((FAILS == 0)) || exit 1
exit 0
