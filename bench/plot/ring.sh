# shellcheck shell=bash
# bench/plot/ring.sh - docs/img/ring.svg: split and packed round trips as a
# ratio to the SPSC bound, per batch (the first table of docs/perf/ring.md).
# Sourced by bench_plot_section (bench/lib/plot.sh).
md=${VIRTQ_ROOT:-$PWD}/docs/perf/ring.md
dat=$(mktemp)
bench_md_rows "$md" "| ring | batch | median Mops/s" |
	awk -F '\t' '$1 != "spsc" { printf "batch %s\t%s\t%s\n", $2, $1, $6 }' >"$dat"
[[ -s $dat ]] && bench_plot_bars ring "Ring round trips: virtq rings / SPSC bound (median)" \
	"ratio to SPSC (1 = the bound)" "$dat" 1 "SPSC"
rm -f "$dat"
