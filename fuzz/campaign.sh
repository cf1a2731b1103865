#!/usr/bin/env bash
# A long fuzzing run: every target (or the ones named) for SECONDS each,
# JOBS targets at a time, over a corpus kept between runs in
# build-fuzz/long/TARGET (the committed seeds in fuzz/corpus/TARGET are only
# read).  Prints one Markdown table row per target, with the fuzzer
# process's CPU time, for docs/RELIABILITY.md; logs stay in build-fuzz/long.
#   bash fuzz/campaign.sh SECONDS [JOBS] [TARGET...]      (make fuzz-long)
# Exit 1 when a target crashed (its reproducer path is printed), else 0.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-build-fuzz}
secs=${1:?usage: campaign.sh SECONDS [JOBS] [TARGET...]}
jobs=${2:-1}
# libFuzzer's -timeout is wall-clock: a campaign at idle priority on a busy
# machine (chrt -i 0) can be descheduled for seconds, so it raises this.
tmo=${FUZZ_TIMEOUT:-10}
shift $(($# < 2 ? $# : 2))
targets=${*:-$(cat fuzz/targets)}

bash fuzz/build.sh || { echo "fuzz-long: the fuzz build failed or was skipped" >&2; exit 1; }
mkdir -p "$OUT/long" "$OUT/artifacts"

# run TARGET: fuzz it; writes $OUT/long/TARGET.run.log and .cpu ("user sys").
run() {
	local t=$1 log=$OUT/long/$1.run.log
	mkdir -p "$OUT/long/$t"
	TIMEFORMAT='%U %S'
	{ time "$OUT/$t" -max_total_time="$secs" -timeout="$tmo" -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t-" \
		"$OUT/long/$t" "fuzz/corpus/$t" >"$log" 2>&1; echo "rc $?" >"$OUT/long/$t.rc"; } \
		2>"$OUT/long/$t.cpu"
}

# stat LOG NAME: the value of a -print_final_stats line "stat::NAME: V"
stat() { sed -n "s/^stat::$2:[[:space:]]*//p" "$1" | tail -n 1; }

t0=$SECONDS
running=0
for t in $targets; do
	echo "fuzz-long: $t for ${secs}s" >&2
	run "$t" &
	running=$((running + 1))
	if ((running >= jobs)); then wait -n; running=$((running - 1)); fi
done
wait
echo "fuzz-long: $((SECONDS - t0)) s wall for $(echo $targets | wc -w) targets, $jobs at a time" >&2

echo "| target | wall | CPU (user + sys) | executions | exec/s | cov | ft | corpus | result |"
echo "|---|---|---|---|---|---|---|---|---|"
fails=0
for t in $targets; do
	log=$OUT/long/$t.run.log
	read -r u s <"$OUT/long/$t.cpu"
	rc=$(cut -d' ' -f2 "$OUT/long/$t.rc")
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
	cov=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(ls "$OUT/long/$t" | wc -l)
	if [ "$rc" = 0 ]; then
		res="no crash"
	else
		res="**exit $rc**: $(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1)"
		fails=$((fails + 1))
	fi
	printf '| `%s` | %s s | %.0f s | %s | %s | %s | %s | %s | %s |\n' "$t" "$secs" \
		"$(awk -v a="$u" -v b="$s" 'BEGIN { print a + b }')" \
		"$(stat "$log" number_of_executed_units)" "$(stat "$log" average_exec_per_sec)" \
		"${cov:-?}" "${ft:-?}" "$corp" "$res"
done
((fails == 0))
