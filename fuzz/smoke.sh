#!/usr/bin/env bash
# Run every fuzz target for a bounded time over its seed corpus (the
# committed corpus is only read; new inputs go to a scratch directory).
# Fails (non-zero) on any crash and prints the reproducer path.  Last line:
# "N passed, N failed, N skipped".
#   bash fuzz/smoke.sh [seconds-per-target]     (default 25; FUZZ_SECONDS too)
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-build-fuzz}
secs=${1:-${FUZZ_SECONDS:-25}}
targets=$(cat fuzz/targets)
pass=0 fail=0 skip=0

bash fuzz/build.sh
rc=$?
if [ "$rc" -ne 0 ]; then
	n=$(echo "$targets" | wc -w)
	if [ "$rc" -eq 77 ]; then
		echo "SKIP: fuzz-smoke: no libFuzzer-capable clang (see above)"
		echo "0 passed, 0 failed, $n skipped"
		exit 0
	fi
	echo "FAIL: fuzz-smoke: the fuzz build failed"
	echo "0 passed, $n failed, 0 skipped"
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT/artifacts"
for t in $targets; do
	mkdir -p "$work/$t"
	log="$OUT/artifacts/$t.smoke.log"
	echo "== $t (${secs}s)"
	"$OUT/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$OUT/artifacts/$t-" "$work/$t" "fuzz/corpus/$t" >"$log" 2>&1
	r=$?
	stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
	if [ "$r" -eq 0 ]; then
		echo "PASS $t: $stats"
		pass=$((pass + 1))
	else
		repro=$(grep -oE "Test unit written to [^ ]+" "$log" | sed 's/Test unit written to //' | tail -1)
		grep -E 'FUZZ INVARIANT|ERROR: |SUMMARY: ' "$log" | head -5 | sed 's/^/  /'
		echo "FAIL $t: exit $r; reproducer: ${repro:-none written}; log: $log"
		[ -n "$repro" ] && echo "  reproduce: $OUT/$t $repro"
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
