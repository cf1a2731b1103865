# shellcheck shell=bash
# bench/lib/plot.sh - the pictures of docs/PERFORMANCE.md, drawn with gnuplot
# (Debian gnuplot-nox, installed on demand) as SVG into docs/img/.
#
# Source it, then:
#   bench_plot_bars OUT TITLE YLABEL DATA [REF [REFLABEL]]
#       clustered bars into docs/img/OUT.svg.  DATA: a file of lines
#       "GROUP<TAB>SERIES<TAB>VALUE" (one bar each; groups along x in order
#       of appearance, one colour per series).  REF: a horizontal line at
#       that value (a baseline or a target), labelled REFLABEL.
#   bench_md_rows FILE HEADER
#       the rows of the first Markdown table in FILE whose header line starts
#       with HEADER (e.g. "| ring | batch"), one line per row, cells
#       separated by tabs, trimmed, with ** and ` removed.
#   bench_plot_section NAME
#       run bench/plot/NAME.sh when there is one: a recipe that reads the
#       section's stored results (docs/perf/NAME.md) and calls
#       bench_plot_bars.  bench/run.sh calls it after each section, and
#       `bench/run.sh --plots` redraws every picture from the stored tables.
#       docs/PERFORMANCE.md links docs/img/NAME.svg and docs/img/NAME-*.svg
#       below the section.
# BENCH_PLOT_PNG=1 draws PNG instead (a preview; docs link the SVGs).
# A section adds a picture by adding bench/plot/NAME.sh; nothing else.
# Returns 0, or 77 (and a line on stderr) when gnuplot cannot be installed.

BENCH_IMG_DIR=${BENCH_IMG_DIR:-${VIRTQ_ROOT:-$PWD}/docs/img}

_bench_gnuplot() {
	command -v gnuplot >/dev/null && return 0
	# shellcheck source=SCRIPTDIR/../../tests/interop/lib/deps.sh
	. "${VIRTQ_ROOT:-$PWD}/tests/interop/lib/deps.sh"
	need_pkgs gnuplot-nox >&2 && command -v gnuplot >/dev/null && return 0
	echo "no gnuplot (apt-get install gnuplot-nox): pictures not drawn" >&2
	return 77
}

bench_md_rows() {
	awk -v h="$2" '
		!found && index($0, h) == 1 { found = 1; getline; next } # header, rule
		found && /^\|/ { print; next }
		found { exit }' "$1" |
		sed -e 's/\*\*//g' -e 's/`//g' -e 's/^| *//' -e 's/ *|$//' -e 's/ *| */\t/g'
}

bench_plot_bars() {
	local out=$1 title=$2 ylabel=$3 data=$4 ref=${5:-} reflabel=${6:-} wide n
	_bench_gnuplot || return 77
	mkdir -p "$BENCH_IMG_DIR"
	wide=$(mktemp)
	# long -> wide: one row per group, one column per series ("-" = missing)
	awk -F '\t' '
		!($1 in g) { g[$1] = ++ng; gn[ng] = $1 }
		!($2 in s) { s[$2] = ++ns; sn[ns] = $2 }
		{ v[g[$1], s[$2]] = $3 }
		END {
			printf "\"group\""; for (j = 1; j <= ns; j++) printf " \"%s\"", sn[j]; print ""
			for (i = 1; i <= ng; i++) {
				printf "\"%s\"", gn[i]
				for (j = 1; j <= ns; j++) printf " %s", ((i, j) in v) ? v[i, j] : "-"
				print ""
			}
		}' "$data" >"$wide"
	n=$(($(head -1 "$wide" | awk -F '" "' '{ print NF }') - 1))
	local ymax
	ymax=$(awk -F '\t' -v r="${ref:-0}" '$3 + 0 > m { m = $3 + 0 }
		END { if (r + 0 > m) m = r + 0; print (m > 0 ? m : 1) * 1.15 }' "$data")
	# bar j (0-based) of group g sits at g + (j - (n-1)/2) * w
	gnuplot <<GP
$( if [[ ${BENCH_PLOT_PNG:-0} == 1 ]]; then echo 'set terminal pngcairo size 860,440 font "sans,10"'; ext=png
   else echo 'set terminal svg size 860,440 dynamic font "sans,11" background "white"'; fi )
set output "$BENCH_IMG_DIR/$out.$( [[ ${BENCH_PLOT_PNG:-0} == 1 ]] && echo png || echo svg )"
set title "$title"
set ylabel "$ylabel"
set datafile missing "-"
set style fill solid 0.85 border -1
set grid ytics
set yrange [0:$ymax]
set xrange [-0.6:$(($(wc -l <"$wide") - 2)).6]
set key outside top center horizontal autotitle columnheader
set xtics rotate by 30 right nomirror
set bmargin 6
w = 0.8 / $n
$( [[ -n $ref ]] && printf 'set arrow from graph 0, first %s to graph 1, first %s nohead dt 2 lw 1.5 lc rgb "#cc0000" front\n' "$ref" "$ref" )
$( [[ -n $reflabel ]] && printf 'set label "%s" at graph 0.99, first %s right offset 0,0.7 tc rgb "#cc0000" front\n' "$reflabel" "$ref" )
plot "$wide" using 0:(NaN):xtic(1) notitle, \
     for [j=0:$((n - 1))] "$wide" using (\$0 + (j - ($n - 1) / 2.0) * w):(column(j + 2)):(w * 0.92) \
         with boxes title columnheader(j + 2), \
     for [j=0:$((n - 1))] "$wide" using (\$0 + (j - ($n - 1) / 2.0) * w):(column(j + 2)):(sprintf("%.3g", column(j + 2))) \
         with labels offset 0,0.6 font ",8" notitle
GP
	local rc=$?
	rm -f "$wide"
	((rc == 0)) && echo "drew $out in $BENCH_IMG_DIR" >&2
	return $rc
}

bench_plot_section() {
	local recipe=${VIRTQ_ROOT:-$PWD}/bench/plot/$1.sh
	[[ -f $recipe ]] || return 0
	# shellcheck disable=SC1090
	(. "$recipe")
}
