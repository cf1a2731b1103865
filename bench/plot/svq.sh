# shellcheck shell=bash
# bench/plot/svq.sh - docs/img/svq.svg: IOVA translations/s of virtq's GPA
# index as a multiple of the two linear searches, per region count (the
# first table of docs/perf/svq.md), with the 10x target.
# Sourced by bench_plot_section (bench/lib/plot.sh).
md=${VIRTQ_ROOT:-$PWD}/docs/perf/svq.md
dat=$(mktemp)
bench_md_rows "$md" "| regions | tree Mtrans/s" |
	awk -F '\t' '{ printf "%s\tover a QEMU-style walk\t%s\n", $1, $5
		       printf "%s\tover an array scan\t%s\n", $1, $6 }' >"$dat"
[[ -s $dat ]] && bench_plot_bars svq "IOVA translation: virtq's GPA index / linear search (median)" \
	"times faster (x: guest regions)" "$dat" 10 "10x target"
rm -f "$dat"
