# shellcheck shell=bash
# stats.sh - the arithmetic every bench script shares.
#
#   bench_median_samples "N N N ..." [DECIMALS]
#       median of the non-zero samples less the first and the last one
#       (ramp-up, ramp-down), printed with DECIMALS places (default 0);
#       0 when fewer than 3 are non-zero.
#   bench_median N...     median (integers or decimals), 0 for none
#   bench_ratio A B       A / B, "1.234", or "n/a" when B is 0
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
