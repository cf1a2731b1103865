# shellcheck shell=bash
# bench/plot/blk.sh - docs/img/blk.svg: virtq-blk / qemu-storage-daemon per
# workload and pair of backends (the ratio column of docs/perf/blk.md).
# Sourced by bench_plot_section (bench/lib/plot.sh).
md=${VIRTQ_ROOT:-$PWD}/docs/perf/blk.md
dat=$(mktemp)
bench_md_rows "$md" "| workload | backend" |
	awk -F '\t' '$4 ~ /\(vs / { split($4, r, " "); printf "%s\t%s\t%s\n", $1, $2, r[1] }' >"$dat"
[[ -s $dat ]] && bench_plot_bars blk "vhost-user-blk: virtq-blk / qemu-storage-daemon (median)" \
	"ratio (1 = qemu-storage-daemon)" "$dat" 1 "qemu-storage-daemon"
rm -f "$dat"
