#!/bin/bash
# shellcheck source-path=SCRIPTDIR/../../tests/interop/lib
# dpdk-pair.sh - DPDK vhost <-> DPDK virtio-user throughput, the baseline
# that virtq's own numbers are compared with.
#
# Usage: dpdk-pair.sh [-d g2b|b2g] [-s SIZE] [-r split|packed] [-m 0|1]
#                     [-t SECONDS] [-n RUNS] [-w SECONDS]
#   -d  g2b: guest->backend, virtio-user txonly -> vhost rxonly (default)
#       b2g: backend->guest, vhost txonly -> virtio-user rxonly
#   -s  packet size in bytes (64)        -r  ring layout (split)
#   -m  virtio-user mrg_rxbuf (DPDK's default, 1)
#   -t  seconds of traffic per run (10)  -n  runs (3)
#   -w  wait up to this many seconds before each run for the CPUs to be
#       85% idle (0: do not wait, only warn)
#
# Prints one line per run and a summary:
#   run 1: 2.345 Mpps (rx samples: 0 1234567 2345678 ...)
#   dpdk g2b split 64B mrg=-: median 2.345 Mpps over 3 runs ( 2.300 2.345 2.400 )
# The figure is the receiver's Rx-pps: the median of its 1 s samples, less
# the first and last non-zero ones, read while both sides still run.
# A warning goes to stderr when the CPUs were less than 85% idle before a run.
# Exit: 0, 1 on failure, 77 when DPDK cannot be installed.
#
# Sourcing it instead defines bench_dpdk_pair DIR SIZE RING MRG SECONDS,
# which runs once and sets BENCH_PPS (median pps, an integer) and
# BENCH_SAMPLES (the receiver's raw Rx-pps samples). MRG is 0, 1 or -.
# It runs in the calling shell (not in $(...)) so that the EXIT trap of
# proc.sh knows both testpmd processes.

_bench_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../../tests/interop/lib/dpdk.sh
. "$_bench_lib/../../tests/interop/lib/dpdk.sh"
# shellcheck source=SCRIPTDIR/stats.sh
. "$_bench_lib/stats.sh"

# bench_dpdk_pair DIR SIZE RING MRG SECONDS
bench_dpdk_pair() {
	local dir=$1 size=$2 ring=$3 mrg=$4 sec=$5
	local sock vopt=(--size "$size") hfwd=rxonly ufwd=txonly rxlog a al b bl
	# shellcheck disable=SC2034 # read by dpdk.sh
	local DPDK_MAXSEC=$((sec + 60))
	BENCH_PPS=0 BENCH_SAMPLES=
	sock=${DPDK_LOGDIR:-/tmp}/vq-bench-$$.sock
	[[ $ring == packed ]] && vopt+=(--packed)
	[[ $mrg == 0 || $mrg == 1 ]] && vopt+=(--mrg "$mrg")
	[[ $dir == b2g ]] && { hfwd=txonly; ufwd=rxonly; }
	dpdk_vhost_start "$sock" "vqbh$$" "$hfwd" --size "$size" || return 1
	a=$DPDK_PID al=$DPDK_LOG
	if ! dpdk_virtio_user_start "$sock" "vqbu$$" "$ufwd" "${vopt[@]}"; then
		dpdk_stop "$a" "$al"
		return 1
	fi
	b=$DPDK_PID bl=$DPDK_LOG
	vq_sleep "$sec"
	if [[ $dir == g2b ]]; then rxlog=$al; else rxlog=$bl; fi
	BENCH_PPS=$(dpdk_median_pps "$rxlog" rx 1)
	BENCH_SAMPLES=$(dpdk_parse_stats "$rxlog" | sed -n 's/^rx_pps=//p')
	dpdk_stop "$b" "$bl"
	dpdk_stop "$a" "$al"
	rm -f "$sock"
	[[ ${BENCH_KEEP_LOGS:-} == 1 ]] || rm -f "$al" "$bl"
	[[ $BENCH_PPS -gt 0 ]]
}

# _bench_wait_quiet SEC: wait up to SEC s for 85% idle CPUs; warn if not.
_bench_wait_quiet() {
	local end=$((SECONDS + $1)) idle
	while :; do
		idle=$(bench_idle_pct)
		((idle >= 85)) && return 0
		((SECONDS < end)) || break
		sleep 4
	done
	echo "WARNING: only $idle% of the CPUs idle before the run: other processes will skew these numbers" >&2
}

_bench_mpps() { awk -v p="$1" 'BEGIN { printf "%.3f", p / 1e6 }'; }

_bench_main() {
	local dir=g2b size=64 ring=split mrg=- sec=10 runs=3 wait=0 opt i pps all=() med
	while getopts 'd:s:r:m:t:n:w:h' opt; do
		case $opt in
		d) dir=$OPTARG ;;
		s) size=$OPTARG ;;
		r) ring=$OPTARG ;;
		m) mrg=$OPTARG ;;
		t) sec=$OPTARG ;;
		n) runs=$OPTARG ;;
		w) wait=$OPTARG ;;
		*) sed -n '/^# Usage:/,/^#$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
		esac
	done
	[[ $dir == g2b || $dir == b2g ]] || { echo "bad -d $dir" >&2; exit 2; }
	[[ $ring == split || $ring == packed ]] || { echo "bad -r $ring" >&2; exit 2; }
	((sec >= 4)) || { echo "-t must be >= 4 (first/last samples are dropped)" >&2; exit 2; }
	need_dpdk || exit 77
	for ((i = 1; i <= runs; i++)); do
		_bench_wait_quiet "$wait"
		bench_dpdk_pair "$dir" "$size" "$ring" "$mrg" "$sec" || { echo "run $i failed" >&2; exit 1; }
		all+=("$BENCH_PPS")
		echo "run $i: $(_bench_mpps "$BENCH_PPS") Mpps (rx samples: $BENCH_SAMPLES)"
	done
	med=$(printf '%s\n' "${all[@]}" | sort -n | awk '{ v[NR] = $1 } END {
		print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }')
	printf 'dpdk %s %s %sB mrg=%s: median %s Mpps over %d runs (' "$dir" "$ring" "$size" "$mrg" \
		"$(_bench_mpps "$med")" "$runs"
	for pps in "${all[@]}"; do printf ' %s' "$(_bench_mpps "$pps")"; done
	echo ' )'
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -u
	_bench_main "$@"
fi
