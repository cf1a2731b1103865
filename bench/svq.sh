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
in process.
MD

# ---- through the virtq-svq proxy, with real peers
[ "${BENCH_SVQ_PROXY:-1}" = 1 ] || exit 0
. tests/interop/lib/proc.sh
psec=${BENCH_SVQ_SEC:-3}
[ "${BENCH_QUICK:-0}" = 1 ] && psec=1
pw=$(mktemp -d "${TMPDIR:-/tmp}/virtq-bench-svq.XXXXXX")
vq_on_exit "rm -rf '$pw'"

# wait_sock PATH: until PATH exists (10 s).
wait_sock() { local n=200; while ((n-- > 0)) && [[ ! -S $1 ]]; do sleep 0.05; done; [[ -S $1 ]]; }

# proxy_cell KIND SIZE VIA [QSIZE [COALESCE]]: one run (QSIZE: the driver's
# ring size, virtq-user's default 256 when empty; COALESCE: virtq-svq
# --coalesce's argument, none when empty); prints "RATE CPU_NS WAKE SYS"
# (RATE: Mpps or IOPS of the driver; CPU_NS: the proxy's CPU per buffer;
# WAKE and SYS: its wake-ups and data-path system calls per buffer; "-"
# direct).
proxy_cell() {
	local kind=$1 size=$2 via=$3 qs=${4:+--qsize $4} co=${5:+--coalesce $5}
	local bpid ppid upid sock=$pw/b.sock rate cpu
	rm -f "$pw"/*.sock "$pw"/*.log
	if [[ $kind == net ]]; then
		vq_spawn "$pw/b.log" 60 taskset -c 1 "$bin/virtq-net" -s "$sock" --sink --poll kick
	else
		truncate -s 64M "$pw/disk"
		vq_spawn "$pw/b.log" 60 "$bin/virtq-blk" -s "$sock" --file "$pw/disk"
	fi
	bpid=$VQ_PID
	wait_sock "$sock" || { echo "- - - -"; vq_kill "$bpid" INT; return; }
	if [[ $via == svq ]]; then
		vq_spawn "$pw/p.log" 60 taskset -c 1 "$bin/virtq-svq" --socket "$pw/p.sock" --backend "$sock" $co
		ppid=$VQ_PID
		wait_sock "$pw/p.sock" || { echo "- - - -"; vq_kill "$ppid" INT; vq_kill "$bpid" INT; return; }
		sock=$pw/p.sock
	fi
	if [[ $kind == net ]]; then
		vq_spawn "$pw/u.log" 60 "$bin/virtq-user" net -s "$sock" -m tx -d "$psec" --size "$size" --cpu 0 $qs
	else
		vq_spawn "$pw/u.log" 60 "$bin/virtq-user" blk -s "$sock" --mode fio --rw randread \
			--bs "$size" --qd 32 -d "$psec" --cpu 0
	fi
	upid=$VQ_PID
	while vq_alive "$upid"; do sleep 0.1; done
	vq_kill "$upid" INT 5
	[[ -n ${ppid:-} ]] && vq_kill "$ppid" INT 10
	vq_kill "$bpid" INT 10
	if [[ $kind == net ]]; then
		rate=$(awk '/^total/ && $2 == "tx" { print $3 }' "$pw/u.log")
	else
		rate=$(awk '/^total/ { print $2 }' "$pw/u.log")
	fi
	cpu=- wake=- sys=-
	if [[ $via == svq ]]; then
		cpu=$(sed -n 's/.*totals: .* \([0-9]*\) ns per buffer.*/\1/p' "$pw/p.log")
		read -r wake sys < <(sed -n 's/.*per buffer: \([0-9.]*\) wakeups, \([0-9.]*\) system calls.*/\1 \2/p' "$pw/p.log")
	fi
	echo "${rate:--} ${cpu:--} ${wake:--} ${sys:--}"
}

# median of the words on stdin ("-" when none)
median() { tr ' ' '\n' | grep -v '^-*$' | sort -g | awk '{ a[NR] = $1 } END { print NR ? a[int((NR + 1) / 2)] : "-" }'; }

prows=''
# The --coalesce rows: notification moderation at half the ring, the
# default latency bound (50 us).
co256=128 co1k=512
for cell in "net 64" "net 64 1024" "net 64 256 $co256" "net 64 1024 $co1k" "net 1500" "blk 4096"; do
	set -- $cell
	d=() v=() c=() w=() y=()
	for _ in 1 2 3; do
		read -r r _ <<<"$(proxy_cell "$1" "$2" direct "${3:-}")"; d+=("$r")
		read -r r x a b <<<"$(proxy_cell "$1" "$2" svq "${3:-}" "${4:-}")"; v+=("$r"); c+=("$x"); w+=("$a"); y+=("$b")
	done
	dm=$(echo "${d[*]}" | median) vm=$(echo "${v[*]}" | median) cm=$(echo "${c[*]}" | median)
	wm=$(echo "${w[*]}" | median) ym=$(echo "${y[*]}" | median)
	unit=Mpps; [[ $1 == blk ]] && unit=IOPS
	ratio=$(awk -v a="$vm" -v b="$dm" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
	label="net $2 B"; [[ -n ${3:-} ]] && label+=", $3-entry rings"
	[[ -n ${4:-} ]] && label+=", --coalesce $4"
	[[ $1 == blk ]] && label="blk 4 KiB randread QD32"
	# the proxy's CPU per wake-up (us): CPU per buffer over wake-ups per buffer
	pw_us=$(awk -v c="$cm" -v w="$wm" 'BEGIN { if (c + 0 > 0 && w + 0 > 0) printf "%.1f", c / w / 1000; else print "-" }')
	prows+="| $label | $dm $unit | $vm $unit | $ratio | $cm | $wm | $ym | $pw_us |"$'\n'
	[[ $cell == "net 64" ]] && pnet=$cm
	[[ $cell == "net 64 1024" ]] && pnet1k=$cm
	[[ $cell == "net 64 256 $co256" ]] && pnetc=$cm
	[[ $cell == "net 64 1024 $co1k" ]] && pnet1kc=$cm
	[[ $1 == blk ]] && pblk=$cm
	echo "proxy $cell: direct ${d[*]} via svq ${v[*]} cpu ${c[*]} wakeups ${w[*]} syscalls ${y[*]}" >&2
done

cat <<MD

### Through the \`virtq-svq\` proxy

The same relay as a vhost-user proxy between real peers: virtq-user (the
driver, CPU 0) -> \`virtq-svq\` -> virtq-net \`--sink --poll kick\` or
virtq-blk (a 64 MiB file), beside the direct path (virtq-user straight to
the backend).  The proxy and the backend share CPU 1, so on this 2-CPU
machine the proxy's work competes with the backend's: the *via* column is
the end-to-end cost of a third busy process, not the relay alone.  *proxy
CPU/buffer* is the proxy's whole process CPU time (getrusage at exit:
relay, vhost-user, its wait loop and every system call) over the buffers it
returned to the guest.  The proxy also counts its own data-path system
calls (waits, kicks to the backend, interrupts to the guest) and its
wake-ups (waits that returned work); *CPU/wake-up* is the
first over the second.  Medians of 3 runs of ${psec} s per cell, direct and
via interleaved.  These are short runs on a machine other jobs were using
at the same time: ratios within a run are meaningful, absolute rates are
not.

\`\`\`
BENCH_SVQ_SEC=${psec} bench/svq.sh   # the proxy rows: BENCH_SVQ_PROXY=1 (default)
build/bin/virtq-svq --socket P --backend B --coalesce ${co256}   # a --coalesce row's proxy
\`\`\`

| load | direct | via virtq-svq | via/direct | proxy CPU/buffer (ns) | wake-ups/buffer | system calls/buffer | CPU/wake-up (us) |
|---|---|---|---|---|---|---|---|
${prows}
Targets (issue): relay CPU at most 100 ns per 64-byte packet and 2 us per
4 KiB blk request.  The in-process figures above are the relay's own cost;
the whole proxy process costs **${pnet:-n/a} ns** per 64-byte packet
($(awk -v r="${pnet:-1e9}" 'BEGIN { print (r <= 100) ? "met" : "not met" }'); **${pnet1k:-n/a} ns** with 1024-entry rings:
$(awk -v r="${pnet1k:-1e9}" 'BEGIN { print (r <= 100) ? "met" : "not met" }')) and **${pblk:-n/a} ns** per blk request
($(awk -v r="${pblk:-1e9}" 'BEGIN { print (r <= 2000) ? "met" : "not met" }')).  A wake-up relays whole batches: each queue
with a kick or a call is relayed once, both ways (\`vq_svq_relay\`), with
guest kicks and backend calls suppressed while the proxy is awake (EVENT_IDX
or the flags, re-enabled and re-checked before it sleeps), at most one kick
and one interrupt per queue per wake-up.  The proxy waits in one epoll set
registered once, with the kick and call eventfds edge-triggered and never
read.  So a wake-up costs one epoll_wait and the eventfd writes the peers
asked for (strace: nothing else on the data path), and what is left is the
wake-up itself: on this virtual machine any system call costs about 2.5 us
and a sleep and wake-up of the proxy 10 to 30 us of its CPU time (the last
column; perf: most of it in the context switch), so the CPU per buffer is
the CPU per wake-up over the batch a wake-up finds (the blk queue depth of 32 gives two
wake-ups per 32 requests: one to forward, one to return).  Rings of 1024
entries (QEMU's \`tx_queue_size=1024\`, DPDK virtio-user's \`queue_size\`)
let a wake-up find up to four times the batch, and that is what brings the
net figure down: the same wake-up cost spread over more packets.

The *--coalesce N* rows turn on the proxy's notification moderation (off by
default): after a relay that moved buffers, the proxy sleeps with each side
that negotiated EVENT_IDX asked to signal only after N more buffers
(\`vq_dev_enable_notify_after\`: the guest's avail_event N - 1 ahead, or the
packed device event N - 1 slots ahead; \`vq_drv_enable_notify_after\`: the
backend's used_event ahead by N - 1, or by what it holds when that is
fewer), instead of waking at the first kick after it re-armed.  Fewer than N
buffers never wait for more: whenever a queue sleeps moderated, the proxy's
wait has a timeout (epoll_pwait2) of USEC microseconds, 50 by default
(\`--coalesce N:USEC\`), after which it relays whatever is there; a timer
relay that finds nothing puts the queue back on plain signals, so an idle
proxy does not tick.  The price is latency: a buffer may wait for N - 1
others or for USEC, whichever comes first, before the proxy relays it; the
gain is the batch a wake-up finds (wake-ups/buffer).  Here N is half the
ring (${co256} and ${co1k}), so the guest can post the next half while the first
is relayed.  With moderation the whole proxy costs **${pnetc:-n/a} ns** per
64-byte packet with 256-entry rings
($(awk -v r="${pnetc:-1e9}" 'BEGIN { print (r <= 100) ? "met" : "not met" }')) and **${pnet1kc:-n/a} ns** with 1024-entry rings
($(awk -v r="${pnet1kc:-1e9}" 'BEGIN { print (r <= 100) ? "met" : "not met" }')).  What moderation cannot
remove: a batch still takes about two wake-ups (the guest's kick, then the
backend's call for the used buffers), so a wake-up finds at most about half
a ring, and the relay's own work per buffer in the proxy (which reads and
writes cache lines of the guest's ring that the other CPU holds: perf puts
most of the proxy's user time in the guest ring's pop and push) is the same
with or without it.  Compare *wake-ups/buffer*, which is what moderation
changes, with *proxy CPU/buffer*, which is what the target counts: on this
virtual machine *CPU/wake-up* grows with the batch a wake-up finds (in our
short runs by more than the extra buffers' relay work), so halving the
wake-ups saves much less than half of the CPU per buffer.
MD
