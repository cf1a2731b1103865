#!/usr/bin/env bash
# order: 1
# bench/summary.sh - section "summary" of docs/PERFORMANCE.md: the table of
# virtq against DPDK 22.11 (issue 14's table), read from the results the
# net, frontend, switch and ring sections stored in docs/perf/, and the
# record of the speed levers tried (bench/levers.md).  It measures nothing
# itself; bench/run.sh runs it after the other sections it runs.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
perf=docs/perf

# cell FILE DIR RING SIZE: "**ratio** (virtq vs dpdk)" from a net-peers row
# (| dir | ring | size | dpdk | virtq | ... | **ratio** | ... | verdict |),
# with the verdict when it is "flagged"
cell() {
	[[ -f $1 ]] || { echo "not measured"; return; }
	awk -F'|' -v d="$2" -v r="$3" -v s="$4" '
		$2 ~ "^ *" d " *$" && $3 ~ "^ *" r " *$" && $4 + 0 == s {
			gsub(/ /, "", $5); gsub(/ /, "", $6); gsub(/ /, "", $9)
			v = $NF == "" ? $(NF - 1) : $NF
			f = (v ~ /flagged/) ? " flagged" : ""
			printf "%s (%.1f vs %.1f)%s\n", $9, $6, $5, f; found = 1; exit }
		END { if (!found) print "not measured" }' "$1"
}

# swcell RING: the switching row's cell
swcell() {
	[[ -f $perf/switch.md ]] || { echo "not measured"; return; }
	awk -F'|' -v r="$1" '
		$2 ~ "^ *" r " *$" && $3 + 0 == 64 {
			gsub(/ /, "", $4); gsub(/ /, "", $5); gsub(/ /, "", $6)
			f = ($NF ~ /flagged/ || $(NF - 1) ~ /flagged/) ? " flagged" : ""
			printf "%s (%.1f vs %.1f)%s\n", $6, $5, $4, f; found = 1; exit }
		END { if (!found) print "not measured" }' "$perf/switch.md"
}

# ringcell LAYOUT: ratio to the SPSC bound at batch 32, one call a buffer
# (the main table), then with the burst calls (the variants table)
ringcell() {
	[[ -f $perf/ring.md ]] || { echo "not measured"; return; }
	awk -F'|' -v l="$1" '
		$2 ~ "^ *" l " *$" && $3 + 0 == 32 && !one {
			gsub(/ /, "", $4); gsub(/ /, "", $7); one = sprintf("**%s** (%s Mops/s) one call a buffer", $7, $4) }
		$2 ~ /`--features event-idx --burst-api`/ {
			i = (l == "split") ? 4 : 6; gsub(/ /, "", $i); gsub(/ /, "", $(i - 1))
			burst = sprintf("; **%s** (%s Mops/s) with the burst calls", $i, $(i - 1)) }
		END { print one burst }' "$perf/ring.md"
}

date_of() { sed -n 's/^- Date: //p' "$1" 2>/dev/null | tail -1; }

cat <<MD
## Summary: virtq against DPDK 22.11

Read from the sections below (each gives its commands, machine and date).
Cells: **ratio** = virtq median / DPDK median over interleaved rounds
(A B A B), then (virtq Mpps vs DPDK Mpps).  A cell marked *flagged* had a
DPDK<->DPDK calibration (or DPDK median) below 0.8 of DPDK's best on this
machine: it is shown, not claimed.  Targets (issue 14): every 64 B cell
>= 1.1, 1500 B >= 1.0, ring core split >= 0.55 and packed >= 0.7 of the
SPSC bound.

| role (virtq against DPDK) | dir | 64 B split | 64 B packed | 1500 B split |
|---|---|---|---|---|
| backend: virtq-net vs DPDK vhost, peer DPDK virtio-user | guest->backend | $(cell $perf/net.md g2b split 64) | $(cell $perf/net.md g2b packed 64) | $(cell $perf/net.md g2b split 1500) |
| backend | backend->guest | $(cell $perf/net.md b2g split 64) | $(cell $perf/net.md b2g packed 64) | $(cell $perf/net.md b2g split 1500) |
| driver: virtq-user vs DPDK virtio-user, peer DPDK vhost | transmit | $(cell $perf/frontend.md g2b split 64) | $(cell $perf/frontend.md g2b packed 64) | $(cell $perf/frontend.md g2b split 1500) |
| driver | receive | $(cell $perf/frontend.md b2g split 64) | $(cell $perf/frontend.md b2g packed 64) | $(cell $perf/frontend.md b2g split 1500) |
| switching: virtq-net vs testpmd io, two ports, one DPDK peer | frames delivered | $(swcell split) | $(swcell packed) | |
| ring core: \`virtq-bench ring\`, ratio to SPSC at batch 32 | | $(ringcell split) | $(ringcell packed) | |

Measured: backend $(date_of $perf/net.md); driver $(date_of $perf/frontend.md);
switching $(date_of $perf/switch.md); ring $(date_of $perf/ring.md).

MD
if [[ -f bench/levers.md ]]; then cat bench/levers.md; fi
exit 0
