#!/usr/bin/env bash
# order: 10
# bench/ring.sh - section "ring" of docs/PERFORMANCE.md: split and packed
# virtqueues against the SPSC bound (virtq-bench ring).  Prints Markdown;
# run it through bench/run.sh.  With perf available it adds a profile of
# packed at batch 32.
set -euo pipefail
bin=${VIRTQ_BIN:-build/bin}
if [ "${BENCH_QUICK:-0}" = 1 ]; then count=200k reps=3; else count=5M reps=9; fi
args=(ring --count "$count" --reps "$reps" --size 256 --batch "1,32" --layout all
      --features event-idx --cpus "0,1")
var_args=(ring --count "$count" --reps 5 --size 256 --batch 32 --layout all
	  --cpus "0,1")

# ratio ring batch < markdown table: the "ratio to SPSC" column of one row
ratio() { awk -F'|' -v r="$1" -v b="$2" '$2 ~ " "r" " && $3+0 == b { gsub(/ /, "", $7); print $7 }'; }

tmp_cg=$(mktemp -d)
trap 'rm -rf "$tmp_cg"' EXIT
echo "virtq-bench ${args[*]}" >&2
table=$("$bin/virtq-bench" "${args[@]}" --markdown)
packed32=$(ratio packed 32 <<<"$table")
split32=$(ratio split 32 <<<"$table")

cat <<MD
## Ring core: virtqueue round trips against the SPSC bound

A driver thread and a device thread, pinned to CPUs 0 and 1, move buffers
(one 64-byte device-readable segment each, in a region of a \`vq_mem\`)
through a queue of 256 entries and back, busy-polling.  The driver adds up to
*batch* buffers and publishes them once (\`vq_drv_add\`, \`vq_drv_kick_prepare\`),
and reclaims used ones (\`vq_drv_get\`); the device pops up to *batch*
(\`vq_dev_pop\`: validation and address translation included), pushes them
back and flushes once (\`vq_dev_push\`, \`vq_dev_flush\`, \`vq_dev_need_notify\`).
The same loops drive a pair of minimal lock-free SPSC pointer rings (cache-line
separated indexes, cached remote index, release/acquire, no validation): the
upper bound for any ring on this machine.  Runs are interleaved (spsc, split,
packed, spsc, ...); each figure is the median of $reps runs of $count round
trips.  *ratio* is median / SPSC median at the same batch; *paired* is the
median of the per-round ratios (robust to drift on a noisy machine).

\`\`\`
build/bin/virtq-bench ${args[*]}
\`\`\`

$table

Targets (issue 14), at batch 32: split at least 0.55 of the SPSC bound,
packed at least 0.7.  Measured (one call a buffer): split
**${split32:-n/a}** ($(awk -v r="${split32:-0}" 'BEGIN { print (r >= 0.55) ? "met" : "not met" }')),
packed **${packed32:-n/a}** ($(awk -v r="${packed32:-0}" 'BEGIN { print (r >= 0.7) ? "met" : "not met" }')); the burst calls are in
the variants below.
MD

# ---- variants at batch 32: features, notification suppression
cat <<MD

### Variants at batch 32

Each row is one run of
\`build/bin/virtq-bench ${var_args[*]} VARIANT\`
(ratios to the SPSC bound measured in the same run).  By default notifications
stay enabled and are computed (\`vq_drv_kick_prepare\`, \`vq_dev_need_notify\`)
but never sent; with \`--suppress\` both sides first turn them off, as
poll-mode peers do.

| VARIANT | split Mops/s | split ratio | packed Mops/s | packed ratio |
|---------|------:|------:|------:|------:|
MD
for v in "--features none" "--features event-idx" "--features in-order" \
	 "--features event-idx,in-order" "--features event-idx --suppress" \
	 "--features event-idx --burst-api" "--features event-idx,in-order --suppress --burst-api"; do
	echo "virtq-bench ${var_args[*]} $v" >&2
	# shellcheck disable=SC2086 # $v is a word list
	t=$("$bin/virtq-bench" "${var_args[@]}" $v --markdown)
	awk -F'|' -v v="\`$v\`" '
		$2 ~ / split / { sm = $4; sr = $7 }
		$2 ~ / packed / { pm = $4; pr = $7 }
		END { printf "| %s |%s|%s|%s|%s|\n", v, sm, sr, pm, pr }' <<<"$t"
done

# ---- instruction cost alone: one thread, no cross-CPU traffic
inl_args=(ring --inline --count "$count" --reps 5 --batch "1,32" --layout all --cpus "0,1")
echo "virtq-bench ${inl_args[*]}" >&2
inl=$("$bin/virtq-bench" "${inl_args[@]}" --markdown)
cat <<MD

### One thread: the instruction cost of a round trip

\`build/bin/virtq-bench ${inl_args[*]}\`: one thread takes driver and device
turns in alternation, so no cache line crosses CPUs; 1000 / (Mops/s) is the
nanoseconds of CPU work one buffer costs on both sides together.  Two threads
can at best halve it.

$inl
MD

# ---- instructions per round trip (callgrind: deterministic, load-proof)
if command -v valgrind >/dev/null; then
	cg_args=(ring --inline --reps 1 --warmup 0 --batch 32 --no-spsc --cpus 0,1)
	cat <<MD

### Instructions per round trip (callgrind)

\`valgrind --tool=callgrind build/bin/virtq-bench ${cg_args[*]} --layout L --count N VARIANT\`
at N = 50k and 100k; the figure is (Ir(100k) - Ir(50k)) / 50k, so set-up
cancels out.  *all* counts the benchmark's own loop too (its per-buffer
calls into the ring, as an application's); *library* counts only the
functions in src/ (callgrind_annotate, self cost).  Unlike Mops/s these do
not depend on the machine's load.

| layout | VARIANT | all Ir | library Ir |
|--------|---------|------:|------:|
MD
	for layout in split packed; do
		for v in "--features event-idx" "--features event-idx --burst-api" \
			 "--features event-idx,in-order --burst-api"; do
			declare -A all=() lib=()
			for n in 50000 100000; do
				# shellcheck disable=SC2086 # $v is a word list
				valgrind --tool=callgrind --callgrind-out-file="$tmp_cg/cg.$n" \
					"$bin/virtq-bench" "${cg_args[@]}" --layout "$layout" --count "$n" $v \
					>/dev/null 2>&1
				all[$n]=$(sed -n 's/^summary: //p' "$tmp_cg/cg.$n")
				lib[$n]=$(callgrind_annotate --auto=no --threshold=100 "$tmp_cg/cg.$n" 2>/dev/null |
					awk '/src\/(ring|mem)\// { gsub(/,/, "", $1); s += $1 } END { print s + 0 }')
			done
			echo "| $layout | \`$v\` | $(((${all[100000]:-0} - ${all[50000]:-0}) / 50000)) |" \
				"$(((${lib[100000]:-0} - ${lib[50000]:-0}) / 50000)) |"
		done
	done
fi

# ---- where the time goes (perf, software clock: works without PMU access)
prof_args=(ring --count 10M --reps 3 --warmup 0 --batch 32 --layout packed --no-spsc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$tmp_cg"' EXIT
if command -v perf >/dev/null &&
   perf record -q -e cpu-clock -F 4999 -o "$tmp/perf.data" -- \
	"$bin/virtq-bench" "${prof_args[@]}" >/dev/null 2>"$tmp/err"; then
	cat <<MD

### Profile: packed, batch 32

\`perf record -e cpu-clock -F 4999 -- build/bin/virtq-bench ${prof_args[*]}\`,
then \`perf report --no-children --sort comm,sym\` (symbols above 1%; the
thread names say which side):

\`\`\`
MD
	perf report -i "$tmp/perf.data" --stdio --no-children --sort comm,sym \
		--percent-limit 1 2>/dev/null | grep -v '^#' | grep -v '^[[:space:]]*$' | head -30
	echo '```'
else
	echo "perf unavailable or not permitted; no profile" >&2
fi
