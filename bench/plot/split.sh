# shellcheck shell=bash
# bench/plot/split.sh - docs/img/split.svg: Gbit/s of one core at 64 KiB
# frames, zero copy against copy, per header/data split method and IP
# version; docs/img/split-small.svg: the cost at the smallest frames,
# Mpps zero copy per method (docs/perf/split.md, in-process table).
# Sourced by bench_plot_section (bench/lib/plot.sh).
md=${VIRTQ_ROOT:-$PWD}/docs/perf/split.md
dat=$(mktemp)
bench_md_rows "$md" "| method | proto | frame B | Mpps zc" |
	awk -F '\t' '$3 == 65536 { g = $1 " " $2; printf "%s\tzero copy\t%s\n%s\tcopy\t%s\n", g, $5, g, $6 }' >"$dat"
[[ -s $dat ]] && bench_plot_bars split \
	"Header/data split, 64 KiB TCP-like frames, one core: app reads every byte (Gbit/s)" \
	"Gbit/s" "$dat"
bench_md_rows "$md" "| method | proto | frame B | Mpps zc" |
	awk -F '\t' '$3 == 64 || $3 == 86 { printf "%s %sB\t%s\t%s\n", $2, $3, $1, $4 }' >"$dat"
[[ -s $dat ]] && bench_plot_bars split-small \
	"Header/data split, smallest TCP frames, one core (Mpps, zero copy)" "Mpps" "$dat"
rm -f "$dat"
