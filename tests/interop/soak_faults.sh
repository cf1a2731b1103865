#!/bin/bash
# soak_faults.sh - the machinery of bench/soak.sh --faults, run short.
#
# The 30-minute fault soak is a benchmark (bench/soak.sh --faults); make
# check runs the same script for SOAK_FAULT_SECONDS (default 25 s, rounds
# every 10 s): at least one round of every fault (kill -9 and restart of
# virtq-net with both frontends reconnecting, a memory-table storm during
# traffic, kill -9 of virtq-blk mid-write with every acknowledged write
# read back, a fill to a full disk failing with EIO only), and the final
# checks (no frame corrupted, every frame accounted for by sequence number,
# fds and RSS of the frontends flat, clean exits, no sanitizer report).
# PASS when the soak's own checks all hold and its report has every table.
#
# Prints PASS/FAIL lines and "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init soak_faults
hc_need virtq-net virtq-blk virtq-user virtq-hostile

secs=${SOAK_FAULT_SECONDS:-25}
SOAK_ROUND_S=10 timeout -k 10 600 bash "$ROOT/bench/soak.sh" --faults --seconds "$secs" \
	>report.md 2>progress.log
rc=$?
sed 's/^/  /' report.md
if ((rc == 0)) && grep -q '^| kill -9 of virtq-net' report.md && grep -q '^| 1 |' report.md &&
	! grep -q FAILED report.md; then
	hc_pass fault-soak "$(grep -o '[0-9]* rounds' report.md), every check ok"
else
	hc_fail fault-soak "soak.sh --faults exited $rc: $(grep FAILED report.md | head -n 3 | tr '\n' ' ')"
	tail -n 20 progress.log >&2
fi
hc_end
