#!/usr/bin/env bash
# order: 40
# bench/svq.sh - section "svq" of docs/PERFORMANCE.md: the shadow
# virtqueue's IOVA translations/s at 8..4096 guest regions (our tree's index
# against the linear search QEMU's vhost IOVA tree does today), and the
# relay's CPU cost per buffer (virtq-bench svq).  Prints Markdown; run it
# through bench/run.sh (bench/plot/svq.sh draws docs/img/svq.svg).
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
bin=${VIRTQ_BIN:-build/bin}
if [ "${BENCH_QUICK:-0}" = 1 ]; then reps=3 secs=0.05; else reps=7 secs=0.3; fi
args=(svq --regions 8,64,512,4096 --len 1500 --reps "$reps" --secs "$secs" --markdown)
[[ -x $bin/virtq-bench ]] || { echo "no $bin/virtq-bench: build first" >&2; exit 1; }

echo "virtq-bench ${args[*]}" >&2
out=$(taskset -c 0 "$bin/virtq-bench" "${args[@]}")
trans=$(sed -n '1,/^$/p' <<<"$out" | sed '/^$/d')
relay=$(sed -n '/^$/,$p' <<<"$out" | sed '/^$/d')
# column of the 512-region row: | regions | tree | walk | array | tree/walk | tree/array |
r512=$(awk -F'|' '$2+0 == 512 { gsub(/ /, "", $6); print $6 }' <<<"$trans")
a512=$(awk -F'|' '$2+0 == 512 { gsub(/ /, "", $7); print $7 }' <<<"$trans")
# largest relay cost of the rows whose buffer column matches $1
relay_max() { awk -F'|' -v k="$1" 'NR > 2 && $2 ~ k { gsub(/ /, "", $6); if ($6 + 0 > m) m = $6 + 0 } END { print m }' <<<"$relay"; }
net_max=$(relay_max net) blk_max=$(relay_max blk)

cat <<MD
## Shadow virtqueue: IOVA translation and relay cost

A shadow virtqueue translates every guest buffer (GPA, length, direction)
into IOVA segments before the device sees it.  virtq keeps guest maps in an
AVL tree keyed by GPA and translates through a sorted index of it (a
branch-free binary search over one dense array, rebuilt when a map changes).
QEMU's vhost IOVA tree finds a mapping by address with \`g_tree_foreach\` and
an iterator: a walk over every node in IOVA order until one matches.  The
*QEMU-style walk* column is that walk over heap nodes with the iterator
called through a pointer; *array scan* is the best case of any linear
search (a front-to-back scan of a dense array).  Regions are 1 MiB with
64 KiB holes, mapped in a shuffled order; each query is a 1500-byte buffer
at a random place in a random region.  All three answer every query the
same (checked before timing).  Each figure is the median of $reps runs of
${secs} s of thread CPU time, the three methods interleaved, pinned to CPU 0.

\`\`\`
taskset -c 0 build/bin/virtq-bench ${args[*]}
\`\`\`

$trans
MD
verdict=$(awk -v r="${r512:-0}" 'BEGIN { print (r >= 10) ? "met" : "not met" }')
cat <<MD

Target (issue): at least 10x a linear scan at 512 regions.  Measured at 512
regions: **${r512:-n/a}x** the QEMU-style walk ($verdict), ${a512:-n/a}x the
array scan.
MD
cat <<MD

### Relay cost per buffer

One thread runs a driver (\`vq_drv\`), the SVQ and a device (\`vq_dev\`) in
turn, 32 buffers at a time (for blk: queue depth 32): *net 64 B* is one
device-readable 64-byte packet; *blk 4 KiB write* is a virtio-blk write
request (16-byte header and 4 KiB of data readable, a 1-byte status
writable; the device copies the data out and writes the status).  The SVQ
forwards each (\`vq_svq_relay_avail\`: pop with guest addresses, translate,
add to the shadow ring) and returns it (\`vq_svq_relay_used\`).  *direct* is
the same driver and device on one ring with no SVQ.  The difference is the
relay's own CPU time per buffer (thread CPU time; notifications are
computed, not sent: no eventfd system calls in either column).

$relay

Targets (issue): at most 100 ns of relay CPU per 64-byte packet, at most
2 us per 4 KiB blk request.  Measured: at most **${net_max:-n/a} ns** per
packet ($(awk -v r="${net_max:-1e9}" 'BEGIN { print (r <= 100) ? "met" : "not met" }')), at most
**${blk_max:-n/a} ns** per blk request ($(awk -v r="${blk_max:-1e9}" 'BEGIN { print (r <= 2000) ? "met" : "not met" }')),
in process.  Not measured yet: throughput through a \`virtq-svq\` vhost-user
proxy beside the direct path with real peers (the proxy is not built yet).
MD
