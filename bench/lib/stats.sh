# shellcheck shell=bash
# stats.sh - the arithmetic and machine checks every bench script shares.
#
#   bench_median_samples "N N N ..." [DECIMALS]
#       median of the non-zero samples less the first and the last one
#       (ramp-up, ramp-down), printed with DECIMALS places (default 0);
#       0 when fewer than 3 are non-zero.
#   bench_median N...     median (integers or decimals), 0 for none
#   bench_ratio A B       A / B, "1.234", or "n/a" when B is 0
#   bench_idle_pct        percent of CPU time idle over the next second
#   bench_load_header     Markdown: CPU idle over 1 s and the load average at
#                         the start, and a warning when the CPUs were busy
#                         (idle below 90%).  The idle figure decides: the
#                         1-minute load average still counts the previous
#                         section's busy pollers for a minute or two.
if [[ -n ${_VIRTQ_BENCH_STATS_SH:-} ]]; then return 0; fi
_VIRTQ_BENCH_STATS_SH=1

bench_median_samples() {
	awk -v s="$1" -v d="${2:-0}" 'BEGIN {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) if (a[i] > 0) nz[c++] = a[i]
		for (i = 1; i < c - 1; i++) v[m++] = nz[i]
		if (!m) { print 0; exit }
		for (i = 0; i < m; i++) for (j = i + 1; j < m; j++)
			if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		printf "%." d "f\n", (m % 2) ? v[int(m / 2)] : (v[m / 2 - 1] + v[m / 2]) / 2 }'
}

bench_median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (!NR) { print 0; exit }
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else printf "n/a" }'; }

bench_idle_pct() {
	local a b
	a=$(head -n 1 /proc/stat)
	sleep 1
	b=$(head -n 1 /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {
		n = split(a, x, " "); split(b, y, " ")
		for (i = 2; i <= n; i++) t += y[i] - x[i]
		idle = (y[5] - x[5]) + (y[6] - x[6])
		printf "%d", t ? 100 * idle / t : 100 }'
}

bench_load_header() {
	local idle
	idle=$(bench_idle_pct)
	echo "At start: CPU idle $idle% over 1 s; load average $(cut -d' ' -f1-3 /proc/loadavg)" \
		"($(nproc) CPUs; it still counts the previous section's pollers for a minute or two)."
	if ((idle < 90)); then
		echo
		echo "> **WARNING: the CPUs were only $idle% idle at start: other processes were running;"
		echo "> these figures are depressed and noisy. Re-run on an idle machine.**"
	fi
}
