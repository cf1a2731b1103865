#!/usr/bin/env bash
# order: 30
# bench/frontend.sh - section "frontend" of docs/PERFORMANCE.md: virtq's
# userspace virtio-net driver (virtq-user net) against DPDK's virtio-user
# PMD, both driving the same DPDK vhost PMD (testpmd net_vhost).  Prints
# Markdown; run it through bench/run.sh.  With perf available it adds a
# profile of virtq-user at 64 B in both directions.
#
# Environment (defaults; BENCH_QUICK=1 shortens them): FE_SIZES ("64 1500"),
# FE_RINGS ("split packed"), FE_DIRS ("g2b b2g"), FE_RUNS (3), FE_SEC (8),
# FE_PROFILE (1).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=SCRIPTDIR/lib/net-peers.sh
. bench/lib/net-peers.sh

if [[ ${BENCH_QUICK:-0} == 1 ]]; then runs=1 sec=6; else runs=3 sec=8; fi
runs=${FE_RUNS:-$runs} sec=${FE_SEC:-$sec}
sizes=${FE_SIZES:-64 1500} rings=${FE_RINGS:-split packed} dirs=${FE_DIRS:-g2b b2g}
target=1.0

[[ -x $NP_BIN/virtq-user ]] || { echo "no $NP_BIN/virtq-user: build first" >&2; exit 1; }
need_dpdk >&2 || { echo "DPDK testpmd cannot be installed" >&2; exit 77; }

strip() { sed -e "s#${VIRTQ_ROOT:-$PWD}/##g" -e "s#$NP_TMP#/tmp/vq-bench-net.XXXXXX#g"; }
header=$(np_load_header)

np_table fe frontend "$target" "$runs" "$sec" "$dirs" "$sizes" "$rings"
min_idle=$NP_MIN_IDLE

cat <<MD
## Userspace virtio-net driver: virtq-user against DPDK virtio-user

$header

One DPDK vhost port (\`dpdk-testpmd\` with \`net_vhost0\`, the backend) is
driven either by DPDK's virtio-user PMD (\`dpdk-testpmd\` with
\`net_virtio_user0\`) or by virtq's driver (\`virtq-user net\`).  Both are
busy pollers: the vhost lcore on CPU 1, the frontend (virtio-user's
forwarding lcore, or virtq-user's one thread) on CPU 0.  Two cores in all.

- **g2b** (frontend transmits): virtio-user \`txonly\` or \`virtq-user net
  --mode tx\` into vhost \`rxonly\`.  The figure is vhost's **RX** rate.
- **b2g** (frontend receives): vhost \`txonly\` into virtio-user \`rxonly\` or
  \`virtq-user net --mode rx\`.  The figure is vhost's **TX** rate (txonly
  counts the packets the guest's ring accepted).

The same testpmd counter (the common vhost peer's) measures both frontends.
Each figure is the median of one run's 1 s samples (less the first and
last), taken while both sides run; a row gives the median over $runs runs of
$sec s, DPDK and virtq runs interleaved (a fresh pair of processes each).
*ratio* = virtq median / DPDK median; *paired* = median of the per-round
ratios; *frontend's count* is what each frontend counted itself (testpmd
Tx-/Rx-pps, virtq-user's per-second lines), a cross-check.  Gbit/s counts
frame bytes (no FCS).  Both frontends: 256-entry queues, mergeable rx
buffers on (the default of both), bursts of 32.
Minimum CPU idle seen before a round: $min_idle%.

Target: at 64 B, virtq-user >= ${target}x DPDK virtio-user.

| dir | ring | frame B | DPDK virtio-user Mpps | virtq-user Mpps | DPDK Gbit/s | virtq-user Gbit/s | ratio | paired | frontend's count Mpps (DPDK / virtq) | runs Mpps (DPDK / virtq) | 64 B target |
|-----|------|------:|------:|------:|------:|------:|------:|------:|------:|------|------|
$(printf '%s\n' "${NP_ROWS[@]}")

$(np_cal_table)

Command lines (64 B, split; other rows change \`--txpkts\`/\`--size\`, packed
adds \`packed_vq=1\` to the virtio-user vdev or \`--packed\` to virtq-user):

\`\`\`
MD
for k in dpdk.g2b virtq.g2b dpdk.b2g virtq.b2g; do
	[[ -n ${NP_CMDS[$k]:-} ]] || continue
	echo "# ${k%.*} frontend, ${k#*.}: frontend, then vhost"
	strip <<<"${NP_CMDS[$k]}"
done
echo '```'

[[ ${FE_PROFILE:-1} == 1 ]] || exit 0
command -v perf >/dev/null || { echo "perf not installed: no profile" >&2; exit 0; }
cat <<MD

### Profile: virtq-user at 64 B

\`perf record -e cpu-clock -F 999 -p PID -- sleep $((sec > 6 ? sec - 3 : 3))\` on
virtq-user while it runs as above (64 B; software clock: no PMU in this VM),
then \`perf report --no-children --sort sym\`; symbols above 1%.  The rate is
vhost's in that run, with perf attached.
MD
for dir in $dirs; do
	for ring in $rings; do
		echo "frontend: profile $dir $ring" >&2
		np_profile fe dpdk virtq "$dir" 64 "$ring" "$sec" || continue
		# shellcheck disable=SC2016 # backquotes are Markdown
		printf '\n#### %s, %s (%s Mpps)\n\n```\n%s\n```\n' "$dir" "$ring" \
			"$(np_mpps "$NP_BE_PPS")" "$NP_PROF"
	done
done
exit 0
