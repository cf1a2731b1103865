#!/usr/bin/env bash
# bench/run.sh - the one script that runs the benchmarks and writes
# docs/PERFORMANCE.md.
#
#   bench/run.sh                 run every section, rewrite docs/PERFORMANCE.md
#   bench/run.sh ring [net ...]  run only these sections; the others keep
#                                their last results
#   bench/run.sh --assemble      only rebuild docs/PERFORMANCE.md
#   bench/run.sh --plots         redraw docs/img/*.svg from the stored results
#   bench/run.sh --list          list the sections
#
# A section is a script bench/NAME.sh (every bench/*.sh except this one; the
# helpers in bench/lib/ are not sections).  It prints Markdown on stdout,
# starting with a "## Title" line, and progress on stderr.  Exit status 0:
# done; 77: skipped (its last stderr line says why); anything else: failed.
# A line "# order: N" near its top places the section (default 50).
# Section "summary" (bench/summary.sh) reads the others' stored results: it
# runs after every run, whichever sections ran.
#
# Each section's output is stored in docs/perf/NAME.md together with the
# machine, date and commit it was measured on; docs/PERFORMANCE.md is then
# assembled from every docs/perf/*.md.  A section that fails or is skipped
# keeps its previous results.  After a section ran, bench/plot/NAME.sh (if
# any) draws its pictures from docs/perf/NAME.md into docs/img/ with gnuplot
# (bench/lib/plot.sh); docs/PERFORMANCE.md shows docs/img/NAME.svg and
# docs/img/NAME-*.svg below the section.
#
# Environment: O (build directory, default build), BENCH_QUICK=1 (sections
# use short runs: to try the scripts, not to publish numbers; such output
# says so), BENCH_NO_BUILD=1 (use the binaries in $O/bin as they are instead
# of running `make all` first).  Sections see VIRTQ_ROOT, VIRTQ_BIN and
# BENCH_QUICK.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
O=${O:-build}
case $O in /*) bin=$O/bin ;; *) bin=$PWD/$O/bin ;; esac
export O VIRTQ_ROOT=$PWD VIRTQ_BIN=$bin BENCH_QUICK=${BENCH_QUICK:-0}
# shellcheck source=SCRIPTDIR/lib/stats.sh
. bench/lib/stats.sh
# shellcheck source=SCRIPTDIR/lib/plot.sh
. bench/lib/plot.sh
PERF_DIR=docs/perf
OUT=docs/PERFORMANCE.md

section_order() { # script -> "N name"
	local n
	n=$(sed -n 's/^# order: *\([0-9][0-9]*\).*/\1/p' "$1" | head -1)
	printf '%s %s\n' "${n:-50}" "$(basename "$1" .sh)"
}

sections() { # every section name, in order
	local s
	for s in bench/*.sh; do
		[ "$s" = bench/run.sh ] || section_order "$s"
	done | sort -k1,1n -k2 | cut -d' ' -f2
}

machine() { # LOADAVG IDLE% -> Markdown list describing this machine and this build
	local cpu virt="" rev load=${1:-$(cut -d' ' -f1-3 /proc/loadavg)} idle=${2:-100}
	cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -1)
	grep -qw hypervisor /proc/cpuinfo 2>/dev/null && virt=", virtual machine"
	rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	[ -n "$(git status --porcelain -- src include tools bench 2>/dev/null)" ] &&
		rev="$rev + uncommitted changes"
	echo "- Machine: ${cpu:-unknown CPU}, $(nproc) online CPUs$virt;" \
		"$(uname -sr); before the run: CPU idle $idle% over 1 s, load average $load"
	((idle >= 90)) ||
		echo "- WARNING: the machine was busy (CPU idle below 90% before the run):" \
			"these figures are depressed and noisy; re-run on an idle machine"
	echo "- Build: $(${CC:-gcc} --version | head -1), CFLAGS -O2 -g; commit $rev"
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
}

run_section() { # name -> 0 ok, 77 skipped, 1 failed
	local name=$1 tmp err rc load idle
	load=$(cut -d' ' -f1-3 /proc/loadavg) # before the section adds its own
	idle=$(bench_idle_pct)
	tmp=$(mktemp) err=$(mktemp)
	echo "== bench section: $name" >&2
	{ echo "<!-- written by bench/run.sh from bench/$name.sh; do not edit -->"
	  echo; } >"$tmp"
	{ bash "bench/$name.sh" 2>&1 1>&3 3>&- | tee "$err" >&2; } 3>>"$tmp"
	rc=${PIPESTATUS[0]}
	if [ "$rc" -eq 0 ]; then
		{ echo; echo "Measured on:"; echo; machine "$load" "$idle"
		  [ "$BENCH_QUICK" = 1 ] && echo "- BENCH_QUICK=1: short smoke-test runs, not for publication"
		  echo; } >>"$tmp"
		mkdir -p "$PERF_DIR" && mv "$tmp" "$PERF_DIR/$name.md"
		bench_plot_section "$name" || true
	elif [ "$rc" -eq 77 ]; then
		echo "bench section $name skipped: $(tail -1 "$err")" >&2
		[ -f "$PERF_DIR/$name.md" ] || { echo "## $name"; echo
			echo "Not measured yet: $(tail -1 "$err")"; echo; } >"$PERF_DIR/$name.md"
	else
		echo "bench section $name FAILED (exit $rc); keeping its previous results" >&2
	fi
	rm -f "$tmp" "$err"
	[ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || return 1
	[ "$rc" -eq 0 ] || return 77
}

images() { # name -> Markdown links to its pictures
	local img
	for img in docs/img/"$1".svg docs/img/"$1"-*.svg; do
		[ -f "$img" ] && printf '![%s](%s)\n\n' "$(basename "$img" .svg)" "${img#docs/}"
	done
	return 0
}

plots() { # redraw every section's pictures from docs/perf/
	local name
	for name in $(sections); do bench_plot_section "$name" || true; done
}

assemble() {
	local tmp name f
	tmp=$(mktemp)
	{ echo "# virtq performance"
	  echo
	  echo "Written by \`bench/run.sh\` (\`make bench\`); do not edit by hand.  Each section"
	  echo "gives the command behind its figures and the machine it ran on.  Re-run"
	  echo "one section with \`bench/run.sh NAME\`; the others keep their results."
	  echo
	  for name in $(sections); do
		  f=$PERF_DIR/$name.md
		  [ -f "$f" ] && { cat "$f"; echo; images "$name"; }
	  done
	  for f in "$PERF_DIR"/*.md; do # results whose script is gone
		  [ -f "$f" ] && [ ! -f "bench/$(basename "$f" .md).sh" ] && { cat "$f"; echo; }
	  done; } >"$tmp"
	sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$tmp" >"$OUT" # no trailing blank lines
	rm -f "$tmp"
	echo "wrote $OUT" >&2
}

main() {
	local failed=0 name want=()
	case "${1:-}" in
	--list) sections; return 0 ;;
	--assemble) assemble; return 0 ;;
	--plots) plots; assemble; return 0 ;;
	-h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; return 0 ;;
	esac
	if [ $# -eq 0 ]; then mapfile -t want < <(sections); else want=("$@"); fi
	for name in "${want[@]}"; do
		if [ ! -f "bench/$name.sh" ] || [ "$name" = run ]; then
			echo "bench/run.sh: no section '$name' (see --list)" >&2; return 2
		fi
	done
	if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then make -s O="$O" all >&2 || return 1; fi
	for name in "${want[@]}"; do
		[ "$name" = summary ] && continue # read from the others: last
		run_section "$name"
		[ $? -eq 1 ] && failed=1
	done
	if [ -f bench/summary.sh ]; then run_section summary || failed=1; fi
	assemble
	return $failed
}

main "$@"
