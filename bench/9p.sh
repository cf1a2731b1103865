#!/usr/bin/env bash
# order: 45
# bench/9p.sh - section "9p" of docs/PERFORMANCE.md: sequential read of a
# 1 GiB file on tmpfs through virtq-9p over vhost-user (server: the virtio-9p
# device model under vq_vu_serve; client: virtq-9p bench on our frontend,
# checksumming every byte), at msize 8K .. 128M, in one run:
#   1. large chains on (VQ_F_LARGE_CHAIN: one request = one chain, up to
#      32770 descriptors through a 128-entry queue), 2 requests in flight;
#   2. the spec limit (chain <= queue size 128: requests of at most 126
#      pages), 2 requests in flight;
#   3. large chains, one request at a time, pages in reverse order (the
#      series of the first runs of this benchmark);
#   4. the bounds on this machine, from the same file in memory: memcpy,
#      the kernel's page-cache copy (preadv, what the server's readv does)
#      and the client's checksum; and the most two CPUs could give when one
#      copies while the other checksums.
# Each page of the client's buffer is its own descriptor (--pages: in order,
# as Linux's 9p transport builds one scatterlist entry per page; --scatter:
# reversed, so that no two are adjacent).  Then random 4 KiB reads at QD 1
# and QD 32.  Prints Markdown; run it through bench/run.sh.
#
# Environment (defaults; BENCH_QUICK=1 shortens them): P9_RUNS (3),
# P9_FILE_MB (1024), P9_RAND_SEC (5).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=SCRIPTDIR/../tests/interop/lib/proc.sh
. tests/interop/lib/proc.sh
# shellcheck source=SCRIPTDIR/lib/stats.sh
. bench/lib/stats.sh

bin=${VIRTQ_BIN:-$PWD/build/bin}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then runs=1 mb=256 rsec=2; else runs=3 mb=1024 rsec=5; fi
runs=${P9_RUNS:-$runs} mb=${P9_FILE_MB:-$mb} rsec=${P9_RAND_SEC:-$rsec}
sizes=(8K 128K 512K 1M 4M 16M 64M 128M)
declare -A seed=([8K]=52 [128K]=625 [512K]=1961 [1M]=2551 [4M]=2628)

[[ -x $bin/virtq-9p ]] || { echo "no virtq-9p in $bin: build first" >&2; exit 1; }
[[ -d /dev/shm && -w /dev/shm ]] || { echo "no writable /dev/shm" >&2; exit 77; }
work=$(mktemp -d /dev/shm/virtq-bench-9p.XXXXXX)
vq_on_exit "rm -rf '$work'"
mkdir "$work/export"
echo "9p: writing a ${mb} MiB file on tmpfs" >&2
head -c "$((mb << 20))" /dev/urandom >"$work/export/f"
sock=$work/9p.sock
vq_spawn "$work/server.log" 3600 "$bin/virtq-9p" serve --export "$work/export" --socket "$sock"
for _ in $(seq 50); do [[ -S $sock ]] && break; sleep 0.1; done
[[ -S $sock ]] || { echo "virtq-9p serve did not start" >&2; exit 1; }

# bytes to read at msize M: the small ones read less (8K: 1/16, 128K: 1/4)
bytes_for() {
	case $1 in
	8K) echo $(((mb << 20) / 16)) ;;
	128K) echo $(((mb << 20) / 4)) ;;
	*) echo $((mb << 20)) ;;
	esac
}

field() { sed -n "s|.* $1 \([0-9.a-f]*\).*|\1|p" <<<"$2"; }

load=$(bench_load_header)
rows=() csum_bad=0 target=''
for m in "${sizes[@]}"; do
	n=$(bytes_for "$m")
	lc=() sp=() rv=() mc=() kc=() cs=() lreq='' sreq='' sums=()
	for ((r = 0; r < runs; r++)); do
		echo "9p: msize $m run $((r + 1))/$runs" >&2
		out=$("$bin/virtq-9p" bench --socket "$sock" -m "$m" --pages --qd 2 --size "$n" f) ||
			{ echo "bench failed: $out" >&2; exit 1; }
		lc+=("$(field MB/s "$out")") lreq=$(field reqs "$out") sums+=("$(field csum "$out")")
		out=$("$bin/virtq-9p" bench --socket "$sock" -m "$m" --pages --qd 2 --size "$n" \
			--no-large-chain f) || { echo "bench failed: $out" >&2; exit 1; }
		sp+=("$(field MB/s "$out")") sreq=$(field reqs "$out") sums+=("$(field csum "$out")")
		out=$("$bin/virtq-9p" bench --socket "$sock" -m "$m" --scatter --size "$n" f) ||
			{ echo "bench failed: $out" >&2; exit 1; }
		rv+=("$(field MB/s "$out")") sums+=("$(field csum "$out")")
		out=$("$bin/virtq-9p" bench --memcpy -m "$m" --size "$n" "$work/export/f") ||
			{ echo "memcpy failed: $out" >&2; exit 1; }
		mc+=("$(sed -n 's/.* bytes [0-9]* MB\/s \([0-9.]*\) .*/\1/p' <<<"$out")")
		kc+=("$(field 'kcopy MB/s' "$out")") cs+=("$(field 'csum MB/s' "$out")")
	done
	for s in "${sums[@]}"; do [[ $s == "${sums[0]}" ]] || csum_bad=1; done
	l=$(bench_median "${lc[@]}") s=$(bench_median "${sp[@]}") v=$(bench_median "${rv[@]}")
	c=$(bench_median "${mc[@]}") k=$(bench_median "${kc[@]}") x=$(bench_median "${cs[@]}")
	# two CPUs, one copying while the other checksums: 2 / (1/copy + 1/csum)
	b=$(awk -v k="$k" -v x="$x" 'BEGIN { if (k > 0 && x > 0) printf "%.0f", 2 / (1 / k + 1 / x) }')
	rows+=("| $m | $((n >> 20)) MiB | **$(printf '%.0f' "$l")** ($lreq req) | $(printf '%.0f' "$s") ($sreq req) | $(printf '%.0f' "$v") | $(printf '%.0f' "$c") | $(printf '%.0f' "$k") | $(printf '%.0f' "$x") | $b | $(bench_ratio "$l" "$c") | $(bench_ratio "$b" "$c") | ${seed[$m]:--} |")
	[[ $m == 128M ]] && target=$(awk -v l="$l" -v c="$c" -v b="$b" -v s="${seed[4M]}" 'BEGIN {
		printf "**At 128M:** %.0f MB/s with large chains: %.2f of memcpy (target 0.80: %s) and %.2fx seed 000 at 4 MB (target 3x: %s).  ", l, l / c, (l >= 0.8 * c ? "met" : "missed"), l / s, (l >= 3 * s ? "met" : "missed")
		printf "The 2-CPU bound is %.2f of memcpy, so 0.80 is %s in this run (the kernel copy moves with the host: 5 to 13 GB/s between runs at 4M).", b / c, (b < 0.8 * c ? "out of reach whatever the transport does" : "within that bound") }')
done
rand=()
for qd in 1 32; do
	iops=()
	for ((r = 0; r < runs; r++)); do
		out=$("$bin/virtq-9p" bench --socket "$sock" --random --qd "$qd" --secs "$rsec" f) ||
			{ echo "random bench failed: $out" >&2; exit 1; }
		iops+=("$(field IOPS "$out")")
	done
	rand+=("| $qd | $(bench_median "${iops[@]}") | ${iops[*]} |")
done
vq_kill "$VQ_PID" INT 10 >/dev/null 2>&1

# The server's file I/O: io_uring when the binary links liburing (`make
# bench` installs it first), else preadv/pwritev; said in the text, loudly.
if ldd "$bin/virtq-9p" 2>/dev/null | grep -q liburing; then
	io="file I/O with io_uring
readv"
else
	io="file I/O with **preadv**: this
build has no liburing (Debian liburing-dev; \`make bench\` installs it), so
not the io_uring path,"
fi

cat <<EOF
## 9p: 128 MiB per request over vhost-user (seed 000)

Sequential read of a $mb MiB file on tmpfs through \`virtq-9p serve --socket\`
(the virtio-9p device model under \`vq_vu_serve\`, $io straight into the client's shared pages) by \`virtq-9p bench\` on the
frontend, which checksums every byte it reads (Fletcher-style, 8 bytes at a
time; all runs of one size, in every series, must agree: $( ((csum_bad)) && echo "**they did not**" || echo "they did")).
Every page of the client's buffer is its own descriptor, so a 128 MiB
request is one chain of 32770 descriptors with large chains on; with the
spec limit the client asks for at most 126 pages a request (a chain holds
the queue size, 128 descriptors, two of them headers).

- **large, QD 2**: large chains, two requests in flight, each into its own
  buffer; the client checksums one answer while the server reads the next
  (\`--pages --qd 2\`: pages in order, as Linux's 9p transport builds one
  scatterlist entry per page).
- **spec, QD 2**: the same with the spec limit.
- **large, QD 1 rev**: large chains, one request at a time, pages in
  reverse order so that no two are adjacent (\`--scatter\`; the series of
  the first runs of this benchmark).  The checksum then walks pages
  backwards, which the CPU's prefetchers do not follow: on this machine a
  cold checksum runs at about a quarter of its forward speed.
- **memcpy**: the same file, held in memory, copied in chunks of msize - 24
  into one buffer (glibc: non-temporal stores at large sizes).
- **kernel copy**: preadv of the file into a pre-faulted buffer of 4 KiB
  segments, one thread: the copy the server's readv does, without 9p.
- **checksum**: the client's checksum over the file in memory, one thread.
- **2-CPU bound**: 2 / (1/kernel copy + 1/checksum): every byte is copied
  once by the kernel and read once by the checksum, and there are two CPUs.
- The server copies a read of 8 MiB or more with two threads at once (half
  on the io_uring, half by preadv on its worker), because the kernel copies
  a cached read on the thread that asks for it, and io_uring's worker pool
  adds a thread only when one blocks.

Medians of $runs runs; MB/s = 10^6 bytes/s; "req" = requests per pass.
The seed column is seed 000's QEMU 9p figures (2021, another machine).

$load

| msize | read | large, QD 2 MB/s | spec, QD 2 MB/s | large, QD 1 rev | memcpy | kernel copy | checksum | 2-CPU bound | large / memcpy | bound / memcpy | seed 000 MB/s |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
$(printf '%s\n' "${rows[@]}")

$target

Random 4 KiB reads of the same file (large chains on; QD 32 keeps 32 Tread
chains in flight on the ring; the control thread pops them and the
session's 4 workers answer them concurrently, each as it finishes):

| QD | IOPS (median) | runs |
| --- | --- | --- |
$(printf '%s\n' "${rand[@]}")

What limits each point: below 512K the cost per request dominates (a kick,
the server's control thread handing the chain to a worker, an io_uring
submission, an interrupt; with two in flight two of these overlap).  From
1M up the bytes dominate: every byte is written once by the kernel's copy
from the page cache (no non-temporal stores, so past the caches it runs
well below memcpy) and read once by the checksum, and the client cannot
checksum a request before all of it is answered: at 128M a 1 GiB file is
8 requests, and the first copy and the last checksum overlap with nothing.
The spec-limit series reuses 504 KiB of buffer per request, which stays in
the CPU caches.

Reproduce: \`bench/run.sh 9p\` (or \`bash bench/9p.sh\`; P9_FILE_MB, P9_RUNS).
EOF
