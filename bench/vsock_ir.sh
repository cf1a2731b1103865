#!/usr/bin/env bash
# order: 61
# bench/vsock_ir.sh - instructions per MB (valgrind callgrind) of the vsock
# driver (virtq-vsock client) and of the device (virtq-vsock), copy against
# zero-copy, send and receive, at 4 KiB and 256 KiB messages: the work each
# path does per byte.  Instruction counts do not depend on the load of the
# machine, unlike the wall-clock figures of bench/vsock.sh.  Each cell runs
# twice: once with the client under callgrind, once with the daemon.
#   bash bench/vsock_ir.sh            (VSOCK_IR_MB per cell, default 32,
#                                      quick 16; VSOCK_IR_KEEP=DIR keeps
#                                      the callgrind profiles)
# Prints Markdown; run it through bench/run.sh (section vsock_ir, ~1 min).
# The device's count includes its idle loop and how many bytes the host
# socket refused (buffered by a copy), which depends on timing: compare its
# columns across runs with care; the driver's are steady.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=SCRIPTDIR/../tests/interop/lib/proc.sh
. tests/interop/lib/proc.sh

bin=${VIRTQ_BIN:-$PWD/build/bin}
mb=32
[[ ${BENCH_QUICK:-0} == 1 ]] && mb=16
mb=${VSOCK_IR_MB:-$mb}
[[ -x $bin/virtq-vsock ]] || { echo "no virtq-vsock in $bin: build first" >&2; exit 1; }
# shellcheck source=SCRIPTDIR/../tests/interop/lib/deps.sh
. tests/interop/lib/deps.sh
need_pkgs valgrind || { echo "valgrind cannot be installed" >&2; exit 77; }
tmp=$(mktemp -d /tmp/vq-bench-vsock-ir.XXXXXX)
# shellcheck disable=SC2016 # expanded at exit
vq_on_exit 'rm -rf "$tmp"'
gcc -O2 -o "$tmp/peer" tests/interop/guest/vsock_peer.c || exit 1
port=2000

# irs FILE: the instruction total of a callgrind output file
irs() { sed -n 's/^\(summary\|totals\): \([0-9]*\).*/\2/p' "$1" | head -1; }

# cell WHO DIR PAGES ZC: instructions per MB of WHO (client|daemon)
cell() {
	local who=$1 dir=$2 n=$3 zc=$4 cg=(valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out")
	local d=() c=() peer dpid ppid out
	port=$((port + 1))
	rm -f "$tmp/cg.out"
	[[ $who == daemon ]] && d=("${cg[@]}")
	[[ $who == client ]] && c=("${cg[@]}")
	vq_spawn "$tmp/daemon.log" 900 "${d[@]}" "$bin/virtq-vsock" --socket-path "$tmp/vu$port.sock" \
		--guest-cid 3 --uds-path "$tmp/v$port"
	dpid=$VQ_PID
	if [[ $dir == send ]]; then peer=(uds-drain "$tmp/v${port}_$port"); else
		peer=(uds-blast "$tmp/v${port}_$port" "$mb" "$n"); fi
	vq_spawn "$tmp/peer.log" 900 "$tmp/peer" "${peer[@]}"
	ppid=$VQ_PID
	for _ in $(seq 300); do [[ -S $tmp/vu$port.sock && -S $tmp/v${port}_$port ]] && break; sleep 0.1; done
	out=$("${c[@]}" "$bin/virtq-vsock" client -s "$tmp/vu$port.sock" --port "$port" \
		--queue-size 4096 --mode "$dir" --bytes "${mb}000000" --pages "$n" ${zc:+"$zc"} 2>&1)
	echo "  $who $dir $n pages ${zc:-copy}: $(echo "$out" | grep 'virtq-vsock client:')" >&2
	vq_kill "$ppid" TERM 20 >/dev/null 2>&1
	vq_kill "$dpid" INT 60 >/dev/null 2>&1
	[[ -s $tmp/cg.out ]] || { echo "-"; return; }
	[[ -n ${VSOCK_IR_KEEP:-} ]] && cp "$tmp/cg.out" "$VSOCK_IR_KEEP/$who-$dir-$n${zc:+-zc}.out"
	awk -v i="$(irs "$tmp/cg.out")" -v m="$mb" 'BEGIN { printf "%.0f", i / m }'
}

echo "## vsock: instructions per MB, copy against zero-copy (callgrind)"
echo
echo "$mb MB per cell, \`virtq-vsock client --queue-size 4096 --mode send|recv --pages N\`"
echo "against \`virtq-vsock\` and a host AF_UNIX peer; the driver's count is the whole client"
echo "process (connect and teardown included), the device's the whole daemon, whose count"
echo "also holds its idle loop and the copy of whatever the host socket refused (timing:"
echo "it moves between runs).  Counts of instructions do not depend on the machine's load."
echo "Reproduce: \`bench/run.sh vsock_ir\` (or \`bash bench/vsock_ir.sh\`)."
echo
echo "| direction | message | driver copy | driver zero-copy | zc/copy | device copy | device zero-copy | zc/copy |"
echo "|---|---|---|---|---|---|---|---|"
for dir in send recv; do
	flag=--zc-tx
	[[ $dir == recv ]] && flag=--zc-rx
	for n in 1 64; do
		cc=$(cell client "$dir" "$n" "") cz=$(cell client "$dir" "$n" "$flag")
		dc=$(cell daemon "$dir" "$n" "") dz=$(cell daemon "$dir" "$n" "$flag")
		r1=$(awk -v a="$cz" -v b="$cc" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
		r2=$(awk -v a="$dz" -v b="$dc" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
		echo "| $dir | $((n * 4)) KiB | $cc | $cz | $r1 | $dc | $dz | $r2 |"
	done
done
