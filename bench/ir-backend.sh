#!/usr/bin/env bash
# ir-backend.sh - instructions per frame of virtq-net's data path (the
# vhost-user backend), against a DPDK testpmd virtio-user peer, under
# callgrind (the count does not depend on the machine's load, unlike Mpps).
#
#   bench/ir-backend.sh MODE RING [SEC] [-- VIRTQ-NET-ARG...]
#       MODE  g2b  virtio-user txonly into `virtq-net --sink` (copy)
#             b2g  `virtq-net --source 64` into virtio-user rxonly
#             sw   two virtio-user ports in io mode (--tx-first, 64 frames
#                  a port) through `virtq-net` with two ports (switching)
#       RING  split | packed        SEC seconds of the long run [6]
#
# virtq-net runs under `valgrind --tool=callgrind` (worker on CPU 1;
# testpmd natively, its forwarding lcore on CPU 0) four times, stopped with
# SIGINT (virtq-net prints its totals) while its peer still runs:
#   busy, 2 s and SEC s: the peer moves frames as above;
#   idle, 2 s and SEC s: the peer is the same testpmd in interactive mode,
#     its ports started and no forwarding: nothing moves (b2g: after the
#     receive buffers posted at start are filled), every poll is idle.
# A loaded machine deschedules the peer, and virtq-net then polls empty
# rings: a poll that moved nothing is an idle poll.  Counted from callgrind's
# call counts: lane polls = calls of lane_tx (b2g: vn_source_lane), busy
# ones = calls of vq_net_tx_done (b2g: vq__host_flush, the rx notify).
# c_idle = dIr / d(lane polls) of the idle pair; Ir/frame = (dIr -
# d(idle polls) * c_idle) / d(frames) of the busy pair: setup, teardown
# and the wait for the peer cancel out, and so do the idle polls.  Frames:
# g2b the frames virtq-net took from the guest, b2g the frames it
# delivered, sw the frames it delivered to both ports.  Under callgrind
# virtq-net is ~50x slower than its peer, so a busy poll moves a full burst
# (32): this is the cost of the data path when the backend is the
# bottleneck.  64-byte frames.  Prints: mode ring Ir/frame, raw (idle
# polls included), c_idle, frames, idle polls per frame; with IR_TOP=N the
# N functions with the most exclusive Ir in the long busy run; IR_CG=FILE
# keeps that run's callgrind output.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../tests/interop/lib/dpdk.sh
. "$here/../tests/interop/lib/dpdk.sh"
# shellcheck source=SCRIPTDIR/lib/ir.sh
. "$here/lib/ir.sh"

mode=${1:?MODE g2b|b2g|sw}
ring=${2:?RING split|packed}
shift 2
sec=6
[[ $# -gt 0 && $1 != -- ]] && { sec=$1; shift; }
[[ $# -gt 0 && $1 == -- ]] && shift
extra=("$@")
bin=${VIRTQ_BIN:-$here/../build/bin}
need_pkgs valgrind || { echo "ir-backend: valgrind missing" >&2; exit 77; }
tmp=$(mktemp -d /tmp/vq-irb.XXXXXX)
# shellcheck disable=SC2016 # expanded at exit
vq_on_exit 'rm -rf "$tmp"'

# _calls CG NAME: calls of function NAME in a callgrind output
_calls() {
	awk -v want="$2" '
	function nm(s,   id) {
		if (match(s, /^\([0-9]+\) /)) {
			id = substr(s, 1, RLENGTH - 1); names[id] = substr(s, RLENGTH + 1)
			return names[id]
		}
		return (s in names) ? names[s] : s
	}
	/^fn=/ { nm(substr($0, 4)); next }
	/^cfn=/ { cur = nm(substr($0, 5)); next }
	/^calls=/ { if (cur == want) { split(substr($0, 7), a, " "); n += a[1] } }
	END { printf "%.0f\n", n }' "$1"
}

# _total LOG KEY: KEY summed over virtq-net's per-port total lines
_total() {
	awk -v k="\"$2\":" '/"total":true/ {
		i = index($0, k); if (!i) next
		s += substr($0, i + length(k)) + 0 } END { printf "%.0f\n", s }' "$1"
}

# _listening SOCK...: all listen
_listening() {
	local s
	for s in "$@"; do _dpdk_sock_listening "$s" || return 1; done
}

# _idle_peer SOCK PREFIX LOG VDEV...: testpmd with the virtio-user vdevs in
# interactive mode (ports started, no forwarding), its stdin a FIFO held
# open so that it waits at its prompt.  Sets DPDK_PID.
_idle_peer() {
	local sock=$1 prefix=$2 log=$3 fifo
	shift 3
	local vd=() v
	for v in "$@"; do vd+=(--vdev "$v"); done
	fifo=$tmp/$prefix.in
	mkfifo "$fifo"
	exec {_fifo_fd}<>"$fifo"
	rm -rf "/var/run/dpdk/$prefix"
	timeout --foreground -k 5 300 stdbuf -oL dpdk-testpmd --lcores 0@1,1@0 --no-huge \
		-m "${DPDK_MEM:-256}" --no-pci --single-file-segments --file-prefix="$prefix" \
		"${vd[@]}" -- -i --total-num-mbufs=16384 --txpkts=64 <"$fifo" >"$log" 2>&1 &
	DPDK_PID=$!
	VQ_PIDS+=("$DPDK_PID")
	_DPDK_PREFIX[$DPDK_PID]=$prefix
	dpdk_wait_log "$log" '^Port 0: ' 30 "$DPDK_PID" ||
		{ echo "ir-backend: idle testpmd did not start, see:" >&2; cat "$log" >&2; exit 1; }
}

# one_run busy|idle SEC TAG: sets IR FRAMES POLLS BUSY CG
one_run() {
	local kind=$1 s=$2 tag=$3 vn=() socks=() peer=() fwd key pid end pollfn busyfn
	CG=$tmp/$tag.cg
	local log=$tmp/$tag.log
	socks=("$tmp/$tag-a.sock")
	pollfn=lane_tx busyfn=vq_net_tx_done
	case $mode in
	g2b) vn=(--sink) fwd=txonly key=rx_packets ;;
	b2g) vn=(--source 64) fwd=rxonly key=tx_packets pollfn=vn_source_lane busyfn=vq__host_flush ;;
	sw) socks+=("$tmp/$tag-b.sock") fwd=io key=tx_packets ;;
	*) echo "ir-backend: mode $mode?" >&2; exit 2 ;;
	esac
	local sa=() k
	for k in "${socks[@]}"; do sa+=(--socket "$k"); done
	vq_spawn "$log" $((s + 300)) valgrind --tool=callgrind --callgrind-out-file="$CG" \
		"$bin/virtq-net" "${sa[@]}" --cpus 1 --workers 1 --poll busy --stats 0 \
		--stats-json "${vn[@]}" "${extra[@]}"
	pid=$VQ_PID
	end=$((SECONDS + 60))
	until _listening "${socks[@]}"; do
		((SECONDS < end)) && vq_alive "$pid" ||
			{ echo "ir-backend: virtq-net did not listen, see:" >&2; cat "$log" >&2; exit 1; }
		sleep 0.2
	done
	local pv=() q=""
	[[ $ring == packed ]] && q=",packed_vq=1"
	for k in "${!socks[@]}"; do pv+=("net_virtio_user$k,path=${socks[$k]},queues=1$q"); done
	if [[ $kind == idle ]]; then
		_idle_peer "${socks[0]}" "vqirb$$$tag" "$tmp/$tag-peer.log" "${pv[@]}"
	else
		local popt=()
		[[ $ring == packed ]] && popt+=(--packed)
		[[ $mode == sw ]] && peer=(--eal --vdev --eal "${pv[1]}" -- --tx-first --burst=64)
		DPDK_MAXSEC=$((s + 300)) dpdk_virtio_user_start "${socks[0]}" "vqirb$$$tag" "$fwd" \
			--size 64 --cpu 0 "${popt[@]}" "${peer[@]}" >/dev/null
	fi
	local pe=$DPDK_PID
	vq_sleep "$s"
	vq_kill "$pid" INT 120 || true
	dpdk_stop "$pe" || true
	IR=$(awk '/^summary:/ { print $2 }' "$CG")
	FRAMES=$(_total "$log" "$key")
	POLLS=$(_calls "$CG" "$pollfn")
	BUSY=$(_calls "$CG" "$busyfn")
}

one_run idle 2 i1; ii1=$IR pi1=$POLLS
one_run idle "$sec" i2; ii2=$IR pi2=$POLLS
one_run busy 2 b1; ib1=$IR fb1=$FRAMES pb1=$((POLLS - BUSY))
one_run busy "$sec" b2; pb2=$((POLLS - BUSY))
ir_per_frame ir-backend "$mode $ring 64" "$ii1" "$pi1" "$ii2" "$pi2" "$ib1" "$fb1" "$pb1" "$IR" "$FRAMES" "$pb2"
ir_extras "$CG"
