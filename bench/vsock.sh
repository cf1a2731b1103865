#!/usr/bin/env bash
# order: 60
# bench/vsock.sh - section "vsock" of docs/PERFORMANCE.md: seed 004's
# table (the 2022 virtio-vsock zero-copy receive RFC) reproduced with our
# driver against our device, and send / receive throughput at three message
# sizes, copy against zero-copy, beside a QEMU guest's sends (one TCG boot).
#
#   host source (AF_UNIX, writes of N pages) -> virtq-vsock -> virtq-vsock
#   client --mode recv (our driver: copy recv into an N-page buffer, or
#   zero-copy recv_zc of up to N pages, released at once)
#
# Prints Markdown; run it through bench/run.sh.  Also writes
# docs/img/vsock.svg and docs/img/vsock-gbits.svg (gnuplot).  Environment:
# VSOCK_MB (MB per run, 1000; quick: 200), VSOCK_RUNS (runs per cell,
# median; 3, quick: 1), VSOCK_SEND_MB (MB per Gbit/s cell, 1000; quick:
# 200), VSOCK_GUEST_MB (MB per size from the QEMU guest, 64; quick: 16).
# Seconds are scaled to the seed's 4000 MB.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=SCRIPTDIR/../tests/interop/lib/proc.sh
. tests/interop/lib/proc.sh
# shellcheck source=SCRIPTDIR/lib/stats.sh
. bench/lib/stats.sh

bin=${VIRTQ_BIN:-$PWD/build/bin}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then mb=200 runs=1 smb=200 gmb=16; else mb=1000 runs=3 smb=1000 gmb=64; fi
mb=${VSOCK_MB:-$mb} runs=${VSOCK_RUNS:-$runs} smb=${VSOCK_SEND_MB:-$smb} gmb=${VSOCK_GUEST_MB:-$gmb}
[[ -x $bin/virtq-vsock ]] || { echo "no virtq-vsock in $bin: build first" >&2; exit 1; }
command -v gcc >/dev/null || { echo "no gcc for the host peer" >&2; exit 77; }

tmp=$(mktemp -d /tmp/vq-bench-vsock.XXXXXX)
# shellcheck disable=SC2016 # expanded at exit
vq_on_exit 'rm -rf "$tmp"'
gcc -O2 -o "$tmp/peer" tests/interop/guest/vsock_peer.c || exit 1
uds=$tmp/v
vq_spawn "$tmp/daemon.log" 3600 "$bin/virtq-vsock" --socket-path "$tmp/vu.sock" \
	--guest-cid 3 --uds-path "$uds"
dpid=$VQ_PID
for _ in $(seq 50); do [[ -S $tmp/vu.sock ]] && break; sleep 0.1; done
port=1000

# run PEER-ARGS -- CLIENT-ARGS: prints the client's result line
run() {
	local pargs=() pid out
	while [[ $1 != -- ]]; do pargs+=("$1"); shift; done
	shift
	port=$(($(cat "$tmp/port" 2>/dev/null || echo 1000) + 1)) # run() is in a $( ) subshell
	echo "$port" >"$tmp/port"
	rm -f "${uds}_$port"
	vq_spawn "$tmp/peer.log" 600 "$tmp/peer" "${pargs[0]}" "${uds}_$port" "${pargs[@]:1}"
	pid=$VQ_PID
	for _ in $(seq 50); do [[ -S ${uds}_$port ]] && break; sleep 0.1; done
	out=$("$bin/virtq-vsock" client -s "$tmp/vu.sock" --port $port --queue-size 4096 "$@" 2>&1)
	vq_kill "$pid" TERM 20 >/dev/null 2>&1
	echo "$out"
}
field() { sed -n "s|.*$1.*|\\1|p"; } # field REGEX-with-one-group

pages=(8 32 64 256 512)
seed_zc=(24 10.6 12.2 23.6 21)
seed_copy=(13 16.4 24.7 27.2 23.9)
echo "vsock: $mb MB per cell" >&2

echo "## vsock: seed 004's zero-copy receive table, with our driver against our device"
echo
bench_load_header
echo
echo "$mb MB from a host program (AF_UNIX, writes of N pages: the seed's tx buffer) through"
echo "\`virtq-vsock\` to our driver (\`virtq-vsock client --mode recv --pages N\`): *copy* reads"
echo "into an N-page buffer, *zero-copy* borrows up to N pages of rx buffers per call"
echo "(\`vq_vsocksk_recv_zc\`, at most 511: the seed's mapping of 512 pages also held one"
echo "header page) and gives them back at once.  4 KiB rx buffers (the Linux driver's size),"
echo "2048 posted (queues of 4096), credit 4 MiB, so that a lending of 511 pages leaves the"
echo "device room to go on.  Each cell: the median of $runs runs of $mb MB (zero-copy and copy"
echo "interleaved), scaled to the seed's 4000 MB; the seed's seconds are for 4000 MB on its own"
echo "machine (a Linux guest under KVM).  Wall-clock time here is set by the device process and"
echo "the host writer sharing 2 CPUs with everything else; the driver's own CPU time (user +"
echo "sys of the client process) is the cost the receive mode controls."
echo "Reproduce: \`bench/run.sh vsock\` (or \`VSOCK_MB=400 bash bench/vsock.sh\`)."
echo
echo "| pages | seed zero-copy s | seed copy s | ours zero-copy s | ours copy s | ours copy/zero-copy (time) | zero-copy MB/s | copy MB/s | driver CPU s per 4000 MB, zero-copy / copy | copy/zero-copy (CPU) | per MB (zero-copy): rx re-posts, credit updates, kicks, calls |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
: >"$tmp/plot.dat"
cpu() { awk '{ for (i = 1; i < NF; i++) if ($(i+1) == "user") u = $i; else if ($(i+1) == "sys") s = $i } END { printf "%.3f", u + s }'; }
for i in "${!pages[@]}"; do
	n=${pages[$i]}
	zsv=() csv=() zcv=() ccv=()
	for ((r = 0; r < runs; r++)); do # interleaved, so that load changes hit both
		zc=$(run uds-blast "$mb" "$n" -- --mode recv --bytes "${mb}000000" --pages "$n" --zc-rx)
		cp=$(run uds-blast "$mb" "$n" -- --mode recv --bytes "${mb}000000" --pages "$n")
		echo "  $n pages: zc: $zc" >&2
		echo "  $n pages: copy: $cp" >&2
		zsv+=("$(echo "$zc" | field ' in \([0-9.]*\) s,')")
		csv+=("$(echo "$cp" | field ' in \([0-9.]*\) s,')")
		[[ -n ${zsv[-1]} && -n ${csv[-1]} ]] || { echo "a run failed: $zc / $cp" >&2; exit 1; }
		zcv+=("$(echo "$zc" | cpu)") ccv+=("$(echo "$cp" | cpu)")
	done
	zs4=$(awk -v s="$(bench_median "${zsv[@]}")" -v m="$mb" 'BEGIN { printf "%.2f", s * 4000 / m }')
	cs4=$(awk -v s="$(bench_median "${csv[@]}")" -v m="$mb" 'BEGIN { printf "%.2f", s * 4000 / m }')
	zmbs=$(awk -v s="$zs4" 'BEGIN { printf "%.0f", 4000 / s }')
	cmbs=$(awk -v s="$cs4" 'BEGIN { printf "%.0f", 4000 / s }')
	zcpu=$(awk -v c="$(bench_median "${zcv[@]}")" -v m="$mb" 'BEGIN { printf "%.2f", c * 4000 / m }')
	ccpu=$(awk -v c="$(bench_median "${ccv[@]}")" -v m="$mb" 'BEGIN { printf "%.2f", c * 4000 / m }')
	per=$(echo "$zc" | sed -n 's/.*per MB: \([0-9.]*\) rx buffers re-posted, \([0-9.]*\) credit updates, \([0-9.]*\) kicks, \([0-9.]*\) calls.*/\1, \2, \3, \4/p')
	echo "| $n | ${seed_zc[$i]} | ${seed_copy[$i]} | $zs4 | $cs4 | $(bench_ratio "$cs4" "$zs4") | $zmbs | $cmbs | $zcpu / $ccpu | $(bench_ratio "$ccpu" "$zcpu") | $per |"
	echo "$n ${seed_zc[$i]} ${seed_copy[$i]} $zs4 $cs4 $zcpu $ccpu" >>"$tmp/plot.dat"
done
echo
awk '{ t += ($4 < $5); c += ($6 < $7); n++ }
	END { printf "Zero-copy took less wall-clock time than copy in %d of %d cells, and less driver CPU in %d of %d.\n", t, n, c, n }' "$tmp/plot.dat"
echo
# ---- the inversion, in operations per MB
echo "### Why the seed's zero-copy lost at 8 pages, and ours does not"
echo
echo "Per MB received (256 data pages), counted from the designs; ours also measured above:"
echo
echo "| pages per call | seed zero-copy: calls (getsockopt + madvise) | seed: PTEs installed + zapped | seed: TLB flushes | seed copy: read() calls | ours zero-copy: calls (no syscall) | ours: page-table operations |"
echo "|---|---|---|---|---|---|---|"
for n in "${pages[@]}"; do
	awk -v n="$n" 'BEGIN {
		d = n - 1                 # the seed mapping: 1 header page + n-1 data pages
		calls = 256 / d
		printf "| %d | %.1f + %.1f | %.0f + %.0f | %.1f | %.1f | %.1f | 0 |\n",
			n, calls, calls, calls * n, calls * n, calls, 256 / n, 256 / (n < 512 ? n : 511) }'
done
echo
echo "The seed's zero-copy receive maps the rx pages into the application: every call"
echo "is a getsockopt that installs one PTE per page (plus the header page) and a madvise"
echo "that zaps them again and flushes the TLB.  The PTE work per MB is the same at every"
echo "size (~2 x 256), but the per-call part (two syscalls, a TLB flush, the vma lookup under"
echo "mmap_lock) is paid 36.6 times per MB at 8 pages against 0.5 times at 512, while copy"
echo "mode pays 32 read() calls per MB and a 1 MB memcpy that stays in cache at 32 KiB.  So"
echo "at 8 pages the fixed cost per call of the mapping dance exceeds the memcpy it saves:"
echo "24 s against 13 s.  Here the rx pages live in memory mapped once, at start, in both the"
echo "device and the driver (the vhost-user shared arena): lending a page is a pointer and a"
echo "(length, flags) entry in the header page, giving it back is a ring write.  No call of"
echo "the zero-copy path enters the kernel or touches a page table, so its cost per call is"
echo "a few hundred nanoseconds, at 8 pages as at 512.  What remains per MB is the same in"
echo "both modes (256 rx buffers re-posted, a credit update or two, the notifications);"
echo "copy mode adds one memcpy of every byte.  That is the driver-CPU column: the cost the"
echo "receive mode controls.  The wall-clock columns measure this whole 2-CPU machine: the"
echo "device process, the host writer and the driver share it with other jobs, and on a"
echo "busy machine (see the warning above) one cell varies by up to 3x from run to run, so"
echo "read the seconds as that, not as a ranking of the receive modes."
echo

# ---- the QEMU guest's sends (one boot, before the table that shows them)
# guest_send: sets gq[4096], gq[262144], gq[8388608] (Gbit/s) or gwhy.
declare -A gq=()
gwhy=''
guest_send() {
	# shellcheck source=SCRIPTDIR/../tests/interop/lib/guest.sh
	. tests/interop/lib/guest.sh
	need_qemu && need_guest_kernel && need_busybox && need_cpio && need_pkgs gcc libc6-dev ||
		{ gwhy="QEMU, a guest kernel, busybox or static libc missing"; return; }
	gcc -O2 -static -o "$tmp/peer.static" tests/interop/guest/vsock_peer.c ||
		{ gwhy="gcc -static failed"; return; }
	local sz p=7000 size line log=$tmp/guest.log
	: >"$tmp/gtest.sh"
	for size in 4096 262144 8388608; do
		p=$((p + 1))
		echo "/bin/vsock_peer send-size $p $gmb $size || exit 1" >>"$tmp/gtest.sh"
		rm -f "${uds}_$p"
		vq_spawn "$tmp/gdrain-$p.log" 900 "$tmp/peer" uds-drain "${uds}_$p"
	done
	bash "$VIRTQ_MKINITRAMFS" "$tmp/initrd.gz" --init "$tmp/gtest.sh" \
		--add "$tmp/peer.static" /bin/vsock_peer --module vmw_vsock_virtio_transport \
		>"$tmp/mkinitramfs.log" 2>&1 || { gwhy="mkinitramfs failed"; return; }
	guest_start "$log" "$tmp/initrd.gz" -chardev socket,id=c9,path="$tmp/vu.sock" \
		-device vhost-user-vsock-pci,chardev=c9,vectors=0 || { gwhy="QEMU did not start"; return; }
	guest_wait_done "$log" 600 || gwhy="the guest test failed (rc $?)"
	guest_stop "$GUEST_PID"
	while read -r _ sz line; do # VSOCK-SEND-SIZE SIZE BYTES SECONDS
		gq[$sz]=$(echo "$line" | awk '{ printf "%.3f", $1 * 8 / $2 / 1e9 }')
		echo "  guest send $sz: $line" >&2
	done < <(grep -a '^VSOCK-SEND-SIZE ' "$log" | tr -d '\r')
	[[ ${#gq[@]} == 3 ]] || gwhy=${gwhy:-"the guest printed ${#gq[@]} of 3 results"}
}
guest_send

# ---- send and receive throughput at three message sizes
labels=("4 KiB" "256 KiB" "8 MiB")
sizes=(4096 262144 8388608)
npages=(1 64 2048)
rfc=("3 -> 10" "33 -> 244" "22 -> 475")
rfcr=("3.33" "7.39" "21.59")
echo "### Gbit/s at 4 KiB, 256 KiB and 8 MiB: copy against zero-copy, and a QEMU guest"
echo
echo "Short runs on a busy machine (2 CPUs shared with other jobs; see the warning above):"
echo "$smb MB per run, one run per cell, so read each figure as +-50%.  *Driver send*:"
echo "\`virtq-vsock client --mode send --pages N\` (one send call per message) to a host reader"
echo "that discards (AF_UNIX); zero-copy sends the application's pages from shared memory"
echo "(\`vq_vsocksk_send_zc\`) and waits for a buffer's completion before writing it again"
echo "(buffers in turn: 64 of 4 KiB, 32 of 256 KiB, 2 of 8 MiB).  *Driver receive*: a host"
echo "program writes messages of that size, the driver reads with a buffer of that size"
echo "(copy) or borrows up to that many pages per call (zero-copy; at most 511 pages, so"
echo "8 MiB is lent in pieces of 2 MiB).  *QEMU guest send*: a Linux 6.1 guest under QEMU 7.2"
echo "(TCG: no KVM on this machine) writes $gmb MB in writes of that size to a host reader"
echo "through the same daemon, timed in the guest; Linux 6.1 has no MSG_ZEROCOPY for vsock"
echo "(it came in 6.7), so the guest has no zero-copy column, and under TCG the guest's own"
echo "instructions set its pace.  The MSG_ZEROCOPY RFC's figures (TCP, its own hardware)"
echo "are beside ours as ratios only."
echo
echo "| message | driver send copy | driver send zero-copy | send zero-copy/copy | driver recv copy | driver recv zero-copy | recv zero-copy/copy | QEMU guest send (TCG) | MSG_ZEROCOPY RFC (copy -> zero-copy) | RFC ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
: >"$tmp/gbit.dat"
for i in 0 1 2; do
	n=${npages[$i]}
	c=$(run uds-drain -- --mode send --bytes "${smb}000000" --pages "$n")
	z=$(run uds-drain -- --mode send --bytes "${smb}000000" --pages "$n" --zc-tx)
	rc=$(run uds-blast "$smb" "$n" -- --mode recv --bytes "${smb}000000" --pages "$n")
	rz=$(run uds-blast "$smb" "$n" -- --mode recv --bytes "${smb}000000" --pages "$n" --zc-rx)
	for x in "send copy: $c" "send zc: $z" "recv copy: $rc" "recv zc: $rz"; do
		echo "  ${labels[$i]} $x" >&2
	done
	cg=$(echo "$c" | field ', \([0-9.]*\) Gbit/s')
	zg=$(echo "$z" | field ', \([0-9.]*\) Gbit/s')
	rcg=$(echo "$rc" | field ', \([0-9.]*\) Gbit/s')
	rzg=$(echo "$rz" | field ', \([0-9.]*\) Gbit/s')
	g=${gq[${sizes[$i]}]:-}
	echo "| ${labels[$i]} | $cg | $zg | $(bench_ratio "$zg" "$cg") | $rcg | $rzg | $(bench_ratio "$rzg" "$rcg") | ${g:-not measured} | ${rfc[$i]} | ${rfcr[$i]} |"
	echo "$i \"${labels[$i]}\" ${cg:-0} ${zg:-0} ${rcg:-0} ${rzg:-0} ${g:-0}" >>"$tmp/gbit.dat"
done
echo
echo "All figures in Gbit/s.  QEMU guest send: ${gwhy:-measured in the same run, $gmb MB per size}."
echo

# ---- the plot
mkdir -p docs/img
if command -v gnuplot >/dev/null; then
	gnuplot <<EOF 2>/dev/null || echo "gnuplot failed" >&2
set terminal svg size 760,420 font "sans,11"
set output "docs/img/vsock.svg"
set title "4000 MB over virtio-vsock: seconds (lower is better)"
set xlabel "rx/tx buffer, pages"
set ylabel "seconds for 4000 MB"
set logscale x 2
set xtics ("8" 8, "32" 32, "64" 64, "256" 256, "512" 512)
set key top left
set grid ytics
plot "$tmp/plot.dat" using 1:2 with linespoints lw 2 pt 7 title "seed zero-copy (Linux RFC)", \
     "" using 1:3 with linespoints lw 2 pt 5 title "seed copy", \
     "" using 1:4 with linespoints lw 2 pt 7 dt 2 title "virtq zero-copy", \
     "" using 1:5 with linespoints lw 2 pt 5 dt 2 title "virtq copy"
EOF
	gnuplot <<EOF 2>/dev/null || echo "gnuplot failed" >&2
set terminal svg size 760,420 font "sans,11"
set output "docs/img/vsock-gbits.svg"
set title "virtio-vsock Gbit/s, short runs on a busy 2-CPU machine (higher is better)"
set ylabel "Gbit/s (log scale)"
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set grid ytics
plot "$tmp/gbit.dat" using 3:xtic(2) title "driver send, copy", \
     "" using 4 title "driver send, zero-copy", \
     "" using 5 title "driver recv, copy", \
     "" using 6 title "driver recv, zero-copy", \
     "" using 7 title "QEMU guest send (TCG)"
EOF
	echo "![seconds per 4000 MB, seed against virtq](img/vsock.svg)"
	echo
fi # bench/run.sh shows docs/img/vsock-gbits.svg below the section

vq_kill "$dpid" INT 10 >/dev/null 2>&1
echo "Daemon totals: \`$(grep '^virtq-vsock: tx ' "$tmp/daemon.log" | tail -n 1)\`"
