#!/usr/bin/env bash
# tools/demo.sh - the entry point of `make demo`: picks a demo and runs it.
#
#   tools/demo.sh [NAME] [ARGS...]     run demo NAME (default: the first one
#                                      below that can run here)
#   tools/demo.sh --list               list the demos
#   make demo DEMO=NAME DEMO_ARGS="..."
#
# Demos:
#   switch virtq-net with two vhost-user ports; one virtq-user sends 64 B
#          frames, the other receives them through the switch and checks every
#          byte (--verify); live rates from the receiver, then both sides'
#          totals; ~8 s.  Needs nothing but the build.  ARGS go to both
#          virtq-user (e.g. --size 1500 --packed --duration 5).
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
demos=(switch ring)

can_ring() { [ -x "$BIN/virtq-demo" ]; }
demo_ring() { "$BIN/virtq-demo" "$@"; }

can_switch() { [ -x "$BIN/virtq-net" ] && [ -x "$BIN/virtq-user" ]; }
demo_switch() {
	local dir net rx rc=0
	dir=$(mktemp -d "${TMPDIR:-/tmp}/virtq-demo.XXXXXX")
	# shellcheck disable=SC2064 # expand now: the paths are fixed
	trap "st=\$?; kill \$(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf '$dir'; exit \$st" EXIT
	echo "== virtq-net switching two vhost-user ports ($dir/a.sock -> $dir/b.sock)"
	"$BIN/virtq-net" --socket "$dir/a.sock" --socket "$dir/b.sock" --poll kick \
		--stats 0 >"$dir/net.log" 2>&1 &
	net=$!
	for _ in $(seq 50); do [ -S "$dir/b.sock" ] && break; sleep 0.1; done
	echo "== receiver (virtq-user net --mode rx --verify), live:"
	"$BIN/virtq-user" net --socket "$dir/b.sock" --mode rx --verify --duration 9 --cpu 0 "$@" &
	rx=$!
	sleep 1 # the switch floods only to ports that are up
	"$BIN/virtq-user" net --socket "$dir/a.sock" --mode tx --verify --duration 7 --cpu 1 "$@" \
		>"$dir/tx.log" 2>&1 || rc=$?
	wait "$rx" || rc=$?
	echo "== sender (virtq-user net --mode tx):"; tail -n 2 "$dir/tx.log"
	kill -INT "$net"; wait "$net" || true
	echo "== virtq-net totals:"; grep '^total' "$dir/net.log" || tail -n 4 "$dir/net.log"
	return "$rc"
}

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
