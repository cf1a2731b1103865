#!/usr/bin/env bash
# order: 20
# bench/net.sh - section "net" of docs/PERFORMANCE.md: virtq-net (the
# vhost-user backend) against DPDK's vhost PMD, both driven by the same DPDK
# virtio-user generator (testpmd net_virtio_user).  Prints Markdown; run it
# through bench/run.sh.  With perf available it adds a profile of virtq-net's
# worker at 64 B in both directions.
#
# Environment (defaults; BENCH_QUICK=1 shortens them): NET_SIZES ("64 1500
# 9000"), NET_RINGS ("split packed"), NET_DIRS ("g2b b2g"), NET_RUNS (3),
# NET_SEC (8, seconds per run), NET_PROFILE (1).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=SCRIPTDIR/lib/net-peers.sh
. bench/lib/net-peers.sh

if [[ ${BENCH_QUICK:-0} == 1 ]]; then runs=1 sec=6; else runs=3 sec=8; fi
runs=${NET_RUNS:-$runs} sec=${NET_SEC:-$sec}
sizes=${NET_SIZES:-64 1500 9000} rings=${NET_RINGS:-split packed} dirs=${NET_DIRS:-g2b b2g}
target=1.1

[[ -x $NP_BIN/virtq-net ]] || { echo "no $NP_BIN/virtq-net: build first" >&2; exit 1; }
need_dpdk >&2 || { echo "DPDK testpmd cannot be installed" >&2; exit 77; }

strip() { sed -e "s#${VIRTQ_ROOT:-$PWD}/##g" -e "s#$NP_TMP#/tmp/vq-bench-net.XXXXXX#g"; }
header=$(np_load_header)

np_table be net "$target" "$runs" "$sec" "$dirs" "$sizes" "$rings"
min_idle=$NP_MIN_IDLE

# rss_row PEER DIR: median VmRSS, RssAnon, RssShmem in MiB over its runs
rss_row() {
	local s=${NP_RSS[$1.$2]:-} a b c x
	a=() b=() c=()
	for x in $s; do
		IFS=, read -r p q r <<<"$x"
		a+=("$p") b+=("$q") c+=("$r")
	done
	printf '%s | %s | %s' \
		"$(awk -v k="$(np_median "${a[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')" \
		"$(awk -v k="$(np_median "${b[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')" \
		"$(awk -v k="$(np_median "${c[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')"
}

cat <<MD
## vhost-user net backend: virtq-net against DPDK's vhost PMD

$header

One DPDK virtio-user port (\`dpdk-testpmd\` with \`net_virtio_user0\`, the
"guest") drives one vhost-user backend port, either DPDK's vhost PMD
(\`dpdk-testpmd\` with \`net_vhost0\`) or \`virtq-net\` with one port.
Both are busy pollers: the backend's (vhost lcore or virtq-net worker) on
CPU 1, virtio-user's forwarding lcore on CPU 0; testpmd's main lcores, mostly
asleep, on the other CPU.  Two cores in all.

- **g2b** (guest to backend): virtio-user \`txonly\` into vhost \`rxonly\` or
  into \`virtq-net --sink\`.  Equal work: rxonly copies each frame into an
  mbuf and \`--sink\` copies each frame into a local buffer
  (\`--sink=discard\`, which drops frames unread, is for profiling only).  The figure is virtio-user's **TX** rate: txonly
  counts only the packets the ring accepted, so it is what the backend
  absorbs.
- **b2g** (backend to guest): vhost \`txonly\` or \`virtq-net --source SIZE\`
  into virtio-user \`rxonly\`.  The figure is virtio-user's **RX** rate.

The same testpmd counter measures both backends.  Each figure is the median
of one run's 1 s samples (less the first and last), taken while both sides
run; a row gives the median over $runs runs of $sec s, DPDK and virtq runs
interleaved (DPDK, virtq, DPDK, virtq, ...; a fresh pair of processes each).
*ratio* = virtq median / DPDK median; *paired* = median of the per-round
ratios.  *backend's count* is what each backend itself counted (testpmd
vhost Rx-/Tx-pps, virtq-net's \`--stats-json\` rx_pps/tx_pps): a cross-check.
Gbit/s counts frame bytes (no FCS).  Split and packed rings, virtio-user's
default features (mergeable rx buffers on), 256-entry queues.
Minimum CPU idle seen before a round: $min_idle%.

Target: at 64 B, virtq-net >= ${target}x DPDK vhost in both directions.

| dir | ring | frame B | DPDK vhost Mpps | virtq-net Mpps | DPDK Gbit/s | virtq-net Gbit/s | ratio | paired | backend's count Mpps (DPDK / virtq) | runs Mpps (DPDK / virtq) | 64 B target |
|-----|------|------:|------:|------:|------:|------:|------:|------:|------:|------|------|
$(printf '%s\n' "${NP_ROWS[@]}")

$(np_cal_table)

Command lines (64 B, split; the other rows change \`--txpkts\` and, above
1518 B, add \`--max-pkt-len=SIZE+18 --mbuf-size=SIZE+256\` before it;
packed adds \`packed_vq=1\` to the virtio-user vdev; b2g uses \`txonly\`/\`rxonly\`
the other way round and \`virtq-net --source SIZE\`):

\`\`\`
MD
for k in dpdk.g2b virtq.g2b dpdk.b2g virtq.b2g; do
	[[ -n ${NP_CMDS[$k]:-} ]] || continue
	echo "# ${k%.*} backend, ${k#*.}: backend, then generator"
	strip <<<"${NP_CMDS[$k]}"
done
cat <<MD
\`\`\`

### Resident memory of the backend, one port

Read from \`/proc/PID/status\` at the end of each run (medians, MiB).  RssShmem
is the guest memory the backend mapped (virtio-user's hugepage-less memory,
shared) and touched; RssAnon is the process's own.  testpmd's RssAnon includes
its \`-m 256\` EAL heap as far as touched.

| backend | dir | VmRSS MiB | RssAnon MiB | RssShmem MiB |
|---------|-----|------:|------:|------:|
MD
for dir in $dirs; do
	echo "| DPDK vhost (testpmd) | $dir | $(rss_row dpdk "$dir") |"
	echo "| virtq-net | $dir | $(rss_row virtq "$dir") |"
done

# ---- profile of virtq-net's worker at 64 B
[[ ${NET_PROFILE:-1} == 1 ]] || exit 0
command -v perf >/dev/null || { echo "perf not installed: no profile" >&2; exit 0; }
cat <<MD

### Profile: virtq-net at 64 B

\`perf record -e cpu-clock -F 999 -p PID -- sleep $((sec > 6 ? sec - 3 : 3))\` on
virtq-net while it runs as above (64 B; software clock: no PMU in this VM),
then \`perf report --no-children --sort sym\`; symbols above 1%.  The worker
is the only busy thread.  The rate is virtio-user's in that run, with perf
attached.  \`worker_main\`'s own samples are mostly its empty-poll loop
(\`pause\`): the *idle* share is counted from \`perf annotate\` at the
instruction after the \`pause\`; a worker that is idle a good part of the
time is not the bottleneck, its peer is.
MD
for dir in $dirs; do
	for ring in $rings; do
		echo "net: profile $dir $ring" >&2
		np_profile be virtq dpdk "$dir" 64 "$ring" "$sec" || continue
		# shellcheck disable=SC2016 # backquotes are Markdown
		printf '\n#### %s, %s (%s Mpps; worker idle, in its pause loop: %s%% of samples)\n\n```\n%s\n```\n' \
			"$dir" "$ring" "$(np_mpps "$NP_FE_PPS")" "${NP_PROF_IDLE:-?}" "$NP_PROF"
	done
done
exit 0
