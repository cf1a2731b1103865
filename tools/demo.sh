#!/usr/bin/env bash
# tools/demo.sh - the entry point of `make demo`: picks a demo and runs it.
#
#   tools/demo.sh [NAME] [ARGS...]     run demo NAME (default: the first one
#                                      below that can run here)
#   tools/demo.sh --list               list the demos
#   make demo DEMO=NAME DEMO_ARGS="..."
#
# Demos:
#   switch virtq-net switching two vhost-user ports, in two phases.
#          1. Closed loop: one virtq-user sends 64 B frames through the switch,
#             the other checks every byte and echoes them back, and the
#             sender keeps at most DEMO_WINDOW (192) frames on the way
#             (--window), fewer than either receive ring holds: nothing can
#             be dropped, whatever the scheduler does.  Every frame must come
#             back verified, and the switch must count 0 drops.
#          2. Open loop at full speed: the sender sends as fast as its ring
#             allows, the receiver only checks.  Where the receiver cannot
#             keep up (three busy pollers on two CPUs) the switch drops, and
#             one line says why; the counts must add up (sent = received +
#             dropped) and no frame may arrive damaged or out of order.
#          The last line is PASS or FAIL, and so is the exit status.
#          DEMO_SECONDS (5) and DEMO_FULL_SECONDS (3) set the phases' length;
#          ARGS go to both virtq-user (e.g. --size 1500 --packed).
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

count() { # FILE KEY: the value after KEY on the file's "counts:" line
	sed -n "s/^counts:.* $2 \([0-9]*\).*/\1/p" "$1" | tail -n 1
}
drops() { # NETLOG PORT: virtq-net's drop count for the port at exit
	sed -n "s/^total .* $2 .* drops \([0-9]*\).*/\1/p" "$1" | tail -n 1
}
delivered() { # NETLOG PORT: frames virtq-net delivered to the port
	sed -n "s/^total .* $2 .* tx *\([0-9]*\) pkts.*/\1/p" "$1" | tail -n 1
}

# switch_phase DIR NAME RXMODE SECS TXARGS... -- ARGS: run one phase; the
# logs are DIR/NAME.{net,tx,rx}.log
switch_phase() {
	local dir=$1 name=$2 rxmode=$3 secs=$4 net rx rc=0 txargs=()
	shift 4
	while [ $# -gt 0 ] && [ "$1" != -- ]; do txargs+=("$1"); shift; done
	shift
	rm -f "$dir/a.sock" "$dir/b.sock"
	"$BIN/virtq-net" --socket "$dir/a.sock" --socket "$dir/b.sock" --poll kick \
		--stats 0 >"$dir/$name.net.log" 2>&1 &
	net=$!
	for _ in $(seq 50); do [ -S "$dir/b.sock" ] && break; sleep 0.1; done
	"$BIN/virtq-user" net --socket "$dir/b.sock" --mode "$rxmode" --verify \
		--duration "$(awk -v s="$secs" 'BEGIN { print s + 3 }')" --cpu 0 "$@" \
		>"$dir/$name.rx.log" 2>&1 &
	rx=$!
	sleep 1 # the switch floods only to ports that are up
	"$BIN/virtq-user" net --socket "$dir/a.sock" --mode tx --verify --duration "$secs" \
		--cpu "$CPU_TX" "${txargs[@]}" "$@" 2>&1 | tee "$dir/$name.tx.log" |
		grep --line-buffered '^\[' || true
	sleep 1 # the receiver reads what is still in its ring
	kill -INT "$rx" 2>/dev/null; wait "$rx" || rc=$?
	kill -INT "$net"; wait "$net" || true
	return "$rc"
}

demo_switch() {
	local dir ok=1 why=() sent got back d_a d_b to_b bad lost reorder win=${DEMO_WINDOW:-192}
	dir=$(mktemp -d "${TMPDIR:-/tmp}/virtq-demo.XXXXXX")
	# shellcheck disable=SC2064 # expand now: the paths are fixed
	trap "st=\$?; kill \$(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf '$dir'; exit \$st" EXIT
	CPU_TX=$(($(nproc) > 1 ? 1 : 0))
	echo "== virtq-net switching two vhost-user ports ($(nproc) CPUs)"
	echo "== phase 1: closed loop, at most $win frames on the way; the receiver checks"
	echo "   every byte and echoes each frame back (virtq-user --window $win / --mode echo)"
	switch_phase "$dir" p1 echo "${DEMO_SECONDS:-5}" --window "$win" -- "$@" || true
	sent=$(count "$dir/p1.tx.log" tx_pkts) back=$(count "$dir/p1.tx.log" rx_pkts)
	got=$(count "$dir/p1.rx.log" rx_pkts)
	d_a=$(drops "$dir/p1.net.log" a.sock) d_b=$(drops "$dir/p1.net.log" b.sock)
	bad=$(( $(count "$dir/p1.rx.log" bad) + $(count "$dir/p1.tx.log" bad) ))
	lost=$(( $(count "$dir/p1.rx.log" lost) + $(count "$dir/p1.tx.log" lost) ))
	echo "   sent ${sent:-?}, received and verified ${got:-?}, echoed back ${back:-?};" \
		"switch drops ${d_a:-?} + ${d_b:-?}; bad $bad, lost $lost"
	if [ -z "$sent" ] || [ "$sent" = 0 ] || [ "$got" != "$sent" ] || [ "$back" != "$sent" ] ||
		[ "$d_a" != 0 ] || [ "$d_b" != 0 ] || [ "$bad" != 0 ] || [ "$lost" != 0 ]; then
		ok=0 why+=("phase 1 lost or damaged frames")
		tail -n 3 "$dir/p1.tx.log" "$dir/p1.rx.log" "$dir/p1.net.log" | sed 's/^/   /'
	fi

	echo "== phase 2: open loop, full speed: the sender sends as fast as its ring allows"
	switch_phase "$dir" p2 rx "${DEMO_FULL_SECONDS:-3}" -- "$@" || true
	sent=$(count "$dir/p2.tx.log" tx_pkts) got=$(count "$dir/p2.rx.log" rx_pkts)
	d_b=$(drops "$dir/p2.net.log" b.sock) to_b=$(delivered "$dir/p2.net.log" b.sock)
	bad=$(count "$dir/p2.rx.log" bad) reorder=$(count "$dir/p2.rx.log" reorder)
	echo "   sent ${sent:-?}, received and verified ${got:-?}, dropped by the switch ${d_b:-?}" \
		"(bad ${bad:-?}, out of order ${reorder:-?})"
	if [ -z "$sent" ] || [ -z "$got" ] || [ -z "$d_b" ] || [ $((got + d_b)) != "$sent" ] ||
		[ "$to_b" != "$got" ] ||
		[ "$bad" != 0 ] || [ "$reorder" != 0 ]; then
		ok=0 why+=("phase 2 counts do not add up or frames were damaged")
		tail -n 3 "$dir/p2.tx.log" "$dir/p2.rx.log" "$dir/p2.net.log" | sed 's/^/   /'
	elif [ "$d_b" -gt 0 ]; then
		echo "   why dropped: $(awk -v d="$d_b" -v s="$sent" 'BEGIN { printf "%.1f%%", 100 * d / s }')" \
			"of the frames met a full receive ring: sender, switch and receiver all" \
			"busy-poll on $(nproc) CPU(s), the receiver falls behind, and the switch drops" \
			"what it cannot deliver, as any switch does (phase 1 loses nothing: its sender waits)"
	else
		echo "   nothing dropped: this machine keeps up with the sender"
	fi
	if [ "$ok" = 1 ]; then
		echo "PASS: every frame of phase 1 delivered and verified; phase 2 accounted for"
	else
		echo "FAIL: $(IFS=';'; echo "${why[*]}")"
	fi
	[ "$ok" = 1 ]
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
