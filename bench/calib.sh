#!/usr/bin/env bash
# order: 15
# bench/calib.sh - section "calib" of docs/PERFORMANCE.md: why DPDK's own
# baseline moves between runs on this machine (issue 14).  Alternates, N
# times, the cross-CPU probe (virtq-bench's SPSC pointer-ring pair at batch
# 1 between CPU 0 and CPU 1: no virtio, no DPDK) and one DPDK vhost <->
# DPDK virtio-user run at 64 B, split, guest->backend, and reports both
# series and their correlation.  If DPDK's rate follows a probe that
# involves neither DPDK nor virtq, the machine moved, not the program.
# Prints Markdown; run it through bench/run.sh.
#
# Environment (defaults; BENCH_QUICK=1 shortens them): CAL_ROUNDS (10),
# CAL_SEC (5, seconds per DPDK run).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=SCRIPTDIR/lib/net-peers.sh
. bench/lib/net-peers.sh

# 8 s a run as in the net section: the rate is the median of the 1 s
# samples less the first and last, and a 5 s run sometimes left none.
if [[ ${BENCH_QUICK:-0} == 1 ]]; then rounds=3 sec=6; else rounds=10 sec=8; fi
rounds=${CAL_ROUNDS:-$rounds} sec=${CAL_SEC:-$sec}

[[ -x $NP_BIN/virtq-bench ]] || { echo "no $NP_BIN/virtq-bench: build first" >&2; exit 1; }
need_dpdk >&2 || { echo "DPDK testpmd cannot be installed" >&2; exit 77; }
header=$(np_load_header)

probes=() rates=() rows=()
for ((i = 1; i <= rounds; i++)); do
	np_probe
	np_run dpdk dpdk g2b 64 split "$sec" || true
	r=$(np_mpps "$NP_BE_PPS")
	((NP_BE_PPS > 0)) || r="no samples (the pair did not run)"
	echo "calib: round $i/$rounds: probe $NP_PROBE Mops/s, DPDK $r" >&2
	probes+=("$NP_PROBE") rates+=("$NP_BE_PPS")
	rows+=("| $i | $NP_PROBE | $r |")
done

# the Pearson correlation of the probe and the DPDK series (rounds with both)
corr=$(paste -d' ' <(printf '%s\n' "${probes[@]}") <(printf '%s\n' "${rates[@]}") | awk '
	$1 != "n/a" && $2 > 0 { n++; x += $1; y += $2; xx += $1 * $1; yy += $2 * $2; xy += $1 * $2 }
	END {
		if (n < 3) { print "n/a"; exit }
		d = sqrt((n * xx - x * x) * (n * yy - y * y))
		if (d == 0) print "n/a"; else printf "%.2f", (n * xy - x * y) / d }')
minmax() { # N...: "min max max/min" over the positive values, or nothing
	printf '%s\n' "$@" | grep -v n/a | awk '$1 > 0' | sort -g | awk '
		NR == 1 { lo = $1 } { hi = $1 } END { if (lo > 0) print lo, hi, hi / lo }'
}
spread() { # N...: "min to max (max/min x)"
	minmax "$@" | awk '{ printf "%g to %g (%.2fx)", $1, $2, $3 }'
}
mp=()
for r in "${rates[@]}"; do ((r > 0)) && mp+=("$(np_mpps "$r")"); done
# What this run shows: a collapse (DPDK's slowest round under 0.8 of its
# fastest) with or without the probe moving too, or no collapse at all.
pspread=$(minmax "${probes[@]}" | awk '{ print $3 }')
verdict=$(printf '%s\n' "${mp[@]}" | sort -g | awk -v r="$corr" -v ps="${pspread:-0}" '
	NR == 1 { lo = $1 } { hi = $1 }
	END {
		if (NR < 3 || lo <= 0) { print "Too few rounds ran to tell."; exit }
		if (lo >= 0.8 * hi) {
			printf "No collapse in this run: DPDK'"'"'s slowest round was %.2f of its fastest, so there is nothing for the probe to follow (the correlation is noise).", lo / hi
			exit
		}
		if (r != "n/a" && r + 0 >= 0.7)
			print "DPDK'"'"'s rate collapsed in this run and the probe moved with it: the machine changed, not DPDK."
		else if (ps > 0 && ps <= 1.25)
			print "DPDK'"'"'s rate collapsed in this run while the probe stayed put: this run does not tie the collapse to the vCPUs'"'"' placement."
		else
			printf "Both moved in this run (the probe by %.1fx), but not together: the probe runs for about a second before each DPDK run of several, and the host changed within rounds, so one probe does not predict the run after it.  The machine moved; this run cannot say more.\n", ps
	}')

cat <<MD
## Calibration: what moves DPDK's own baseline

$header

DPDK's vhost <-> virtio-user pair at 64 B (split, guest->backend, the
vhost side's RX count, $sec s a run) swings run to run on this machine
with identical command lines.  Each round here first runs a probe that
involves neither DPDK nor virtq: \`virtq-bench ring --layout spsc --batch 1\`,
a pair of lock-free pointer rings between a thread on CPU 0 and one on
CPU 1 (Mops/s: how fast the two vCPUs hand a cache line to each other at
that moment), then the DPDK pair.  $rounds rounds.

| round | probe Mops/s | DPDK<->DPDK Mpps |
|------:|------:|------:|
$(printf '%s\n' "${rows[@]}")

- Probe: $(spread "${probes[@]}"); DPDK: $(spread "${mp[@]}").
- Correlation (Pearson r) between the probe and DPDK's rate: **$corr**.
- $verdict

How to read it: a probe that moves with DPDK's rate, while it runs no
DPDK code, says the machine changed between rounds (where the host puts this VM's two vCPUs:
the same core, the same cache or not), not DPDK or its start-up.  That is
why every net cell is calibrated first and a cell is flagged when its
calibration is far below DPDK's best here: a ratio against a collapsed
baseline is not a result.  The net and frontend sections print the probe
beside each cell's calibration.

Command lines: the DPDK pair is the \`dpdk | dpdk\` pair of the net section;
the probe is \`build/bin/virtq-bench ring --layout spsc --batch 1 --count 1M
--reps 3 --warmup 100k --cpus 0,1\`.
MD
