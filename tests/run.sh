#!/usr/bin/env bash
# Runs every test: the unit programs in $O/tests, then tests/interop/*.sh.
# Each prints PASS/FAIL/SKIP lines; this totals them and ends with
# "N passed, N failed, N skipped".  Exit status is non-zero on any failure.
#   bash tests/run.sh [pattern]     only programs/scripts whose name matches
set -u
cd "$(dirname "$0")/.."
O=${O:-build}
export O VIRTQ_ROOT=$PWD VIRTQ_BIN=$PWD/$O/bin
pattern=${1:-}
log=$(mktemp -d)/check.log
trap 'rm -rf "$(dirname "$log")"' EXIT
: >"$log"

run() { # name command...
	local name=$1; shift
	[ -n "$pattern" ] && [[ $name != *$pattern* ]] && return 0
	echo "== $name"
	local out rc
	out=$(mktemp)
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	grep -E '^(PASS|FAIL|SKIP) ' "$out" | sed "s|^\([A-Z]*\) |\1 $name: |" >>"$log"
	# A program that died without reporting a failure still fails.
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
		echo "FAIL $name: exited with status $rc" | tee -a "$log"
	fi
	rm -f "$out"
}

# TSAN=1 (ThreadSanitizer build): every unit program, and the interop
# suites whose daemons run several threads (virtq-net's workers and control
# thread, virtq-blk's queue and I/O threads) under traffic, attacks and
# kills.  A report aborts the process (halt_on_error), so its test fails.
# The other suites drive single-threaded tools or external peers only.
TSAN_SUITES="netdrv_switch hostile_net hostile_blk fault_kill fault_blkfull blk_engine 9p_vhost"
if [ "${TSAN:-0}" = 1 ]; then
	export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 report_signal_unsafe=0 second_deadlock_stack=1}
	echo "TSAN=1: unit programs and the threaded suites ($TSAN_SUITES)"
fi

for t in "$O"/tests/*; do
	[ -x "$t" ] || continue
	run "$(basename "$t")" "$t"
done
for s in tests/interop/*.sh; do
	[ -f "$s" ] || continue
	n=$(basename "$s" .sh)
	[ "${TSAN:-0}" = 1 ] && [[ " $TSAN_SUITES " != *" $n "* ]] && continue
	run "$n" bash "$s"
done

p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
if [ "$s" -gt 0 ]; then
	echo; echo "Skipped:"; grep '^SKIP ' "$log" | sed 's/^/  /'
fi
if [ "$f" -gt 0 ]; then
	echo; echo "Failed:"; grep '^FAIL ' "$log" | sed 's/^/  /'
fi
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ] && [ "$p" -gt 0 ]
