# shellcheck shell=bash
# bench/plot/9p.sh - docs/img/9p.svg: MB/s against msize (log scale) for
# large chains (QD 2 and QD 1), the spec limit, memcpy, the 2-CPU bound and
# seed 000's QEMU figures, from the table in docs/perf/9p.md.  Sourced by bench_plot_section (bench/lib/plot.sh).
md=${VIRTQ_ROOT:-$PWD}/docs/perf/9p.md
dat=$(mktemp)
bench_md_rows "$md" "| msize | read" | awk -F '\t' '
	function kib(s) { n = s + 0; return s ~ /M$/ ? n * 1024 : n }
	{ split($3, l, " "); split($4, s, " ");
	  printf "%d %s %s %s %s %s %s\n", kib($1), l[1], s[1], $5, $6, $9, ($12 == "-" ? "NaN" : $12) }' >"$dat"
if [[ -s $dat ]] && _bench_gnuplot; then
	mkdir -p "$BENCH_IMG_DIR"
	gnuplot <<EOF
set terminal svg size 800,480 dynamic font "sans,11"
set output "$BENCH_IMG_DIR/9p.svg"
set title "9p sequential read over vhost-user, every byte checksummed (median)"
set xlabel "msize (KiB)"
set ylabel "MB/s"
set logscale x 2
set key left top
set grid
set datafile missing "NaN"
plot "$dat" using 1:2 with linespoints lw 2 title "large chains, 2 in flight", \
     "$dat" using 1:3 with linespoints lw 2 title "spec limit (chain <= 128), 2 in flight", \
     "$dat" using 1:4 with linespoints title "large chains, 1 at a time, pages reversed", \
     "$dat" using 1:5 with linespoints dt 2 title "memcpy", \
     "$dat" using 1:6 with linespoints dt 2 title "2-CPU bound (kernel copy + checksum)", \
     "$dat" using 1:7 with linespoints dt 3 title "seed 000 (QEMU 9p, 2021)"
EOF
fi
rm -f "$dat"
