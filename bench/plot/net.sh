# shellcheck shell=bash
# bench/plot/net.sh - docs/img/net.svg: Mpps of virtq-net and DPDK's vhost
# PMD per direction, ring and frame size (docs/perf/net.md).
# Sourced by bench_plot_section (bench/lib/plot.sh).
md=${VIRTQ_ROOT:-$PWD}/docs/perf/net.md
dat=$(mktemp)
bench_md_rows "$md" "| dir | ring | frame B" |
	awk -F '\t' '{ g = $1 " " $2 " " $3 "B"; printf "%s\tDPDK vhost\t%s\n%s\tvirtq-net\t%s\n", g, $4, g, $5 }' >"$dat"
[[ -s $dat ]] && bench_plot_bars net "vhost-user net: virtq-net against DPDK vhost (median Mpps)" \
	"Mpps" "$dat"
rm -f "$dat"
