#!/usr/bin/env bash
# tools/demo.sh - the entry point of `make demo`: picks a demo and runs it.
#
#   tools/demo.sh [NAME] [ARGS...]     run demo NAME (default: the first one
#                                      below that can run here)
#   tools/demo.sh --list               list the demos
#   make demo DEMO=NAME DEMO_ARGS="..."
#
# Demos:
#   ring   virtq-demo: a driver thread and a device thread exchange verified
#          buffers over a packed then a split virtqueue in one process, with a
#          live progress line; ~5 s.  Needs nothing but the build.
#          ARGS go to virtq-demo (try --help), e.g. --seconds 10.
#
# A new demo (the vhost-user one) adds a demo_NAME function, a line in
# `demos` and, if it needs more than the build, a can_NAME check; put it first
# in `demos` to make it the default where it can run.
set -euo pipefail
cd "$(dirname "$0")/.."
O=${O:-build}
BIN=$PWD/$O/bin
demos=(ring)

can_ring() { [ -x "$BIN/virtq-demo" ]; }
demo_ring() { "$BIN/virtq-demo" "$@"; }

can() { if declare -F "can_$1" >/dev/null; then "can_$1"; else true; fi; }

main() {
	local name=${DEMO:-} d
	case "${1:-}" in
	--list) printf '%s\n' "${demos[@]}"; return 0 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; return 0 ;;
	esac
	for d in "${demos[@]}"; do
		[ "${1:-}" = "$d" ] && { name=$d; shift; break; }
	done
	if [ -z "$name" ]; then
		for d in "${demos[@]}"; do can "$d" && { name=$d; break; }; done
	fi
	if [ -z "$name" ] || ! declare -F "demo_$name" >/dev/null; then
		echo "tools/demo.sh: no demo '${name:-}' can run here (try: make all; tools/demo.sh --list)" >&2
		return 2
	fi
	if ! can "$name"; then
		echo "tools/demo.sh: demo '$name' cannot run here: build first (make all)" >&2
		return 2
	fi
	# shellcheck disable=SC2086 # DEMO_ARGS is a word list on purpose
	"demo_$name" ${DEMO_ARGS:-} "$@"
}

main "$@"
