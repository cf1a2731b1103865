#!/bin/bash
# bench_plot.sh - bench/lib/plot.sh, the pictures of docs/PERFORMANCE.md:
#   - bench_md_rows reads the right Markdown table (the first whose header
#     matches; ** and ` stripped, cells tab-separated);
#   - bench_plot_bars draws an SVG with one bar per value, the series in the
#     legend, the groups on the axis and each value printed;
#   - every recipe in bench/plot/ draws from the stored docs/perf/ tables.
# Into a temporary directory: docs/img is not touched.  SKIP without gnuplot
# (gnuplot-nox) when it cannot be installed.
set -uo pipefail
ROOT=${VIRTQ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export BENCH_IMG_DIR=$tmp/img VIRTQ_ROOT=$ROOT
# shellcheck source=../../bench/lib/plot.sh
. bench/lib/plot.sh
command -v gnuplot >/dev/null || _bench_gnuplot 2>/dev/null ||
	{ echo "SKIP bench_plot: no gnuplot (apt-get install gnuplot-nox)"; exit 77; }
fails=0
check() { # NAME CONDITION-RESULT DETAIL
	if [[ $2 == 0 ]]; then echo "PASS bench_plot: $1"; else echo "FAIL bench_plot: $1: $3"; fails=$((fails + 1)); fi
}

cat >"$tmp/t.md" <<'MD'
| a | b | c |
|---|---|---|
| x | 1 | 2 |

| ring | batch | median |
|------|------:|------:|
| **split** | 1 | `0.648` |
| packed | 32 | 0.604 |

| ring | batch | median |
|------|------:|------:|
| other | 9 | 9 |
MD
rows=$(bench_md_rows "$tmp/t.md" "| ring | batch")
[[ $rows == $'split\t1\t0.648\npacked\t32\t0.604' ]]
check "bench_md_rows: the first matching table, cleaned" $? "got '$rows'"

printf 'batch 1\tsplit\t0.648\nbatch 1\tpacked\t0.882\nbatch 32\tsplit\t0.45\nbatch 32\tpacked\t0.604\n' >"$tmp/d"
bench_plot_bars t "Title here" "ratio" "$tmp/d" 1 "SPSC" 2>/dev/null
f=$BENCH_IMG_DIR/t.svg
ok=0
for want in "Title here" ">split<" ">packed<" ">batch 1<" ">batch 32<" ">0.648<" ">0.882<" ">0.45<" ">0.604<" ">SPSC<"; do
	grep -q -- "$want" "$f" 2>/dev/null || { ok=1; miss=$want; }
done
check "bench_plot_bars: SVG with title, legend, groups, values, reference" $ok "no '${miss:-?}' in $f"

ok=0 drawn=()
for r in bench/plot/*.sh; do
	n=$(basename "$r" .sh)
	[[ -f docs/perf/$n.md ]] || continue
	bench_plot_section "$n" 2>/dev/null
	if [[ -s $BENCH_IMG_DIR/$n.svg ]] && grep -q '<svg' "$BENCH_IMG_DIR/$n.svg"; then drawn+=("$n"); else ok=1; miss=$n; fi
done
check "bench/plot recipes draw from docs/perf: ${drawn[*]}" $ok "no picture for ${miss:-?}"
exit $((fails > 0))
