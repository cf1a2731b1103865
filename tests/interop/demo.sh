#!/bin/bash
# demo.sh - `make demo` ends in PASS, with exit status 0, in short runs:
#   switch: phase 1 (closed loop) delivers and verifies every frame with 0
#           switch drops, phase 2 (full speed) accounts for every frame
#           (tools/demo.sh checks both and prints PASS or FAIL last);
#   ring:   virtq-demo verifies every buffer on both ring layouts.
# The script's last line and its exit status must agree on PASS.
set -uo pipefail
ROOT=${VIRTQ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT" || exit 1
O=${O:-build}
fails=0
for d in switch ring; do
	args=()
	[[ $d == ring ]] && args=(--seconds 1)
	out=$(DEMO_SECONDS=2 DEMO_FULL_SECONDS=1 O=$O timeout 120 bash tools/demo.sh "$d" "${args[@]}" 2>&1)
	rc=$?
	last=$(tail -n 1 <<<"$out")
	if ((rc == 0)) && [[ $last == PASS:* ]]; then
		echo "PASS demo: $d: $last"
	else
		echo "FAIL demo: $d: exit $rc, last line '$last'"
		sed 's/^/    /' <<<"$out" | tail -n 15
		fails=$((fails + 1))
	fi
done
exit $((fails > 0))
