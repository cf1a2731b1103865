#!/usr/bin/env bash
# ir-frontend.sh - instructions per frame of virtq-user's data path, against
# a DPDK testpmd vhost peer, under callgrind (the count does not depend on
# the machine's load, unlike Mpps).
#
#   bench/ir-frontend.sh DIR RING [SIZE] [SEC] [-- VIRTQ-USER-ARG...]
#       DIR   g2b (virtq-user --mode tx into vhost rxonly)
#             b2g (vhost txonly into virtq-user --mode rx)
#       RING  split | packed        SIZE frame bytes [64]   SEC [4]
#
# virtq-user runs under `valgrind --tool=callgrind` (testpmd natively, its
# lcore on CPU 1), four times:
#   busy, 1 s and SEC s: the peer moves frames;
#   idle, 1 s and SEC s: the peer moves none (vhost txonly for g2b, so the
#     tx ring fills and stays full; rxonly for b2g, so the rx ring stays
#     empty): every burst is an idle poll.
# c_idle = dIr / d(idle_polls) of the idle pair: the cost of a burst that
# moves nothing, loop and clock included.  Ir/frame = (dIr - d(idle_polls)
# * c_idle) / d(frames) of the busy pair: setup and teardown cancel out, and
# so do the polls that found the peer descheduled (a loaded machine starves
# it; under callgrind virtq-user is ~50x slower than the peer otherwise).
# Prints: dir ring size Ir/frame, raw (idle polls included), c_idle, frames
# and idle polls per frame; with IR_TOP=N the N functions with the most
# exclusive Ir in the long busy run; IR_CG=FILE keeps that run's callgrind
# output (for callgrind_annotate --auto=yes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../tests/interop/lib/dpdk.sh
. "$here/../tests/interop/lib/dpdk.sh"
# shellcheck source=SCRIPTDIR/lib/ir.sh
. "$here/lib/ir.sh"

dir=${1:?DIR g2b|b2g}
ring=${2:?RING split|packed}
shift 2
size=64 sec=4
[[ $# -gt 0 && $1 != -- ]] && { size=$1; shift; }
[[ $# -gt 0 && $1 != -- ]] && { sec=$1; shift; }
[[ $# -gt 0 && $1 == -- ]] && shift
extra=("$@")
bin=${VIRTQ_BIN:-$here/../build/bin}
need_pkgs valgrind || { echo "ir-frontend: valgrind missing" >&2; exit 77; }
tmp=$(mktemp -d /tmp/vq-ir.XXXXXX)
# shellcheck disable=SC2016 # expanded at exit
vq_on_exit 'rm -rf "$tmp"'

busy=rxonly idle=txonly umode=tx
[[ $dir == b2g ]] && { busy=txonly idle=rxonly umode=rx; }
opt=()
[[ $ring == packed ]] && opt+=(--packed)

_count() { # LOG KEY: the value after KEY on virtq-user's counts line
	awk -v k="$2" '/^counts:/ { for (i = 2; i < NF; i++) if ($i == k) print $(i + 1) }' "$1"
}

# one_run FWD SEC TAG: sets IR FRAMES IDLE CG
one_run() {
	local fwd=$1 s=$2 tag=$3 sock=$tmp/$3.sock
	CG=$tmp/$tag.cg
	local log=$tmp/$tag.log
	DPDK_MAXSEC=$((s + 120)) dpdk_vhost_start "$sock" "vqir$$$tag" "$fwd" \
		--size "$size" --cpu 1 >/dev/null
	local be=$DPDK_PID
	valgrind --tool=callgrind --callgrind-out-file="$CG" \
		"$bin/virtq-user" net --socket "$sock" --mode "$umode" --size "$size" \
		--duration "$s" --cpu 0 "${opt[@]}" "${extra[@]}" >"$log" 2>&1 || {
		echo "ir-frontend: virtq-user failed, see:" >&2; cat "$log" >&2; exit 1; }
	dpdk_stop "$be" || true
	IR=$(awk '/^summary:/ { print $2 }' "$CG")
	FRAMES=$(_count "$log" "${umode}_pkts")
	IDLE=$(_count "$log" idle_polls)
}

one_run "$idle" 1 i1; ii1=$IR pi1=$IDLE
one_run "$idle" "$sec" i2; ii2=$IR pi2=$IDLE
one_run "$busy" 1 b1; ib1=$IR fb1=$FRAMES pb1=$IDLE
one_run "$busy" "$sec" b2
ir_per_frame ir-frontend "$dir $ring $size" "$ii1" "$pi1" "$ii2" "$pi2" "$ib1" "$fb1" "$pb1" "$IR" "$FRAMES" "$IDLE"
ir_extras "$CG"
