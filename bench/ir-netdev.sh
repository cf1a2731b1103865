#!/usr/bin/env bash
# ir-netdev.sh - instructions per frame of the virtio-net device model's
# 64 B data path (what virtq-net's worker does per frame), in process and
# deterministic: `virtq-bench net --inline` (a vq_drv driver playing DPDK
# virtio-user, in the same thread) under callgrind, collecting only inside
# the device's calls (--toggle-collect='nb_dev_*').
#
#   bench/ir-netdev.sh DIR RING [VIRTQ-BENCH-NET-ARG...]
#       DIR   g2b (vq_net_tx_burst + vq_net_tx_done, as --sink) |
#             b2g (vq_net_rx_burst, as --source)
#       RING  split | packed;  extra args e.g. --in-order --event-idx
#
# Ir/frame = (Ir(200k frames) - Ir(100k frames)) / 100k: setup cancels out.
# No worker loop, no sink copy, no idle polls (the driver always has a full
# burst ready): the device model's own cost.  VIRTQ_BIN picks the build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${VIRTQ_BIN:-$here/../build/bin}
dir=${1:?DIR g2b|b2g}
ring=${2:?RING split|packed}
shift 2
opt=("$@")
[[ $dir == b2g ]] && opt+=(--rx)
[[ $ring == packed ]] && opt+=(--packed)
command -v valgrind >/dev/null || { echo "ir-netdev: valgrind missing" >&2; exit 77; }
tmp=$(mktemp -d /tmp/vq-irn.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ir() { # COUNT: collected Ir of a run of COUNT frames
	valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" --toggle-collect='nb_dev_*' \
		"$bin/virtq-bench" net --inline --count "$1" "${opt[@]}" >/dev/null 2>&1
	awk '/^summary:/ { print $2 }' "$tmp/cg"
}
a=$(ir 100000)
b=$(ir 200000)
awk -v d="$dir" -v r="$ring" -v a="$a" -v b="$b" -v o="${opt[*]}" \
	'BEGIN { printf "%s %s 64 Ir/frame %.1f (%s)\n", d, r, (b - a) / 100000, o }'
if [[ -n ${IR_TOP:-} ]]; then
	callgrind_annotate "$tmp/cg" 2>/dev/null |
		grep -E '^ *[0-9,]+ \([ 0-9.]+%\)  [^ ]+:[A-Za-z_]' | sed -n "1,$((IR_TOP + 1))p"
fi
