#!/bin/bash
# 9p_vhost.sh - our 9p client against our server over vhost-user: the
# server is the virtio-9p device model served by vq_vu_serve, the client
# drives it through the frontend (vq_fe).  Split and packed rings, with the
# experimental large chains on and off:
#   - ls, cat, cp out of a 20 MB file (cmp against the host's);
#   - bench --scatter at msize 16M: every page its own descriptor, and
#     bench --pages --qd 2: two requests in flight, the same checksum.  With
#     large chains a read is one chain of ~4098 descriptors through a
#     128-entry queue (2 requests for 20 MB); without, the client keeps to
#     the spec limit (chain <= queue size) and needs >= 39 requests.  The
#     checksum of every byte must be the same in all four runs.
#   - bench --size N reads exactly N bytes, N not a whole number of
#     requests: the checksum is that of a file of the first N bytes, both
#     one request at a time and two in flight.
#   - a server without large chains and a client asking for them: the
#     feature is not negotiated and the spec limit holds.
# Prints PASS/FAIL/SKIP lines; exit 0 passed, 77 skipped, 1 failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. "$ROOT/tests/interop/lib/proc.sh"

NAME=9p_vhost
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}/virtq-9p

skip() { echo "SKIP $NAME: $*"; exit 77; }
fail() { echo "FAIL $NAME: $*"; [[ -n ${SLOG:-} ]] && tail -n 20 "$SLOG" >&2; exit 1; }

[[ -x $BIN ]] || skip "$BIN not built"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/virtq-9p-vhost.XXXXXX")
vq_on_exit "rm -rf '$WORK'"
EXP=$WORK/export
mkdir -p "$EXP/sub"
head -c 20000000 /dev/urandom >"$EXP/big"
echo "over vhost-user" >"$EXP/sub/a.txt"
CUT=3158073 # 3 MiB and a bit: not a whole number of 1M requests
head -c "$CUT" "$EXP/big" >"$EXP/cut"

# serve NAME ARGS...: start a server on $WORK/NAME.sock
serve() {
	SOCK=$WORK/$1.sock
	SLOG=$WORK/$1.log
	shift
	vq_spawn "$SLOG" 300 "$BIN" serve --export "$EXP" --socket "$SOCK" "$@"
	SPID=$VQ_PID
	for _ in $(seq 50); do [[ -S $SOCK ]] && return 0; sleep 0.1; done
	fail "server did not create $SOCK"
}

serve large
sums=()
for ring in split packed; do
	for lc in on off; do
		args=(--socket "$SOCK")
		[[ $ring == packed ]] && args+=(--packed)
		[[ $lc == off ]] && args+=(--no-large-chain)
		what="$ring, large chains $lc"
		out=$("$BIN" ls "${args[@]}" sub 2>&1) || fail "$what: ls: $out"
		grep -q ' a.txt$' <<<"$out" || fail "$what: ls: $out"
		out=$("$BIN" cat "${args[@]}" sub/a.txt 2>&1) || fail "$what: cat: $out"
		[[ $out == "over vhost-user" ]] || fail "$what: cat: '$out'"
		"$BIN" cp "${args[@]}" :big "$WORK/out" || fail "$what: cp"
		cmp -s "$WORK/out" "$EXP/big" || fail "$what: cp: content differs"
		out=$("$BIN" bench "${args[@]}" -m 16M --scatter big 2>&1) || fail "$what: bench: $out"
		reqs=$(sed -n 's/.* reqs \([0-9]*\) .*/\1/p' <<<"$out")
		if [[ $lc == on ]]; then
			((reqs <= 2)) || fail "$what: $reqs requests for 20 MB at msize 16M"
		else
			((reqs >= 39)) || fail "$what: $reqs requests: the spec limit was not kept"
		fi
		sums+=("${out##*csum }")
		echo "  $what: ${out%% csum*}"
		# two requests in flight, pages in order: the same bytes
		out=$("$BIN" bench "${args[@]}" -m 16M --pages --qd 2 big 2>&1) ||
			fail "$what: bench --qd 2: $out"
		[[ $out == *" qd 2 "* ]] || fail "$what: bench --qd 2 did not stream: $out"
		sums+=("${out##*csum }")
	done
done
for s in "${sums[@]}"; do [[ $s == "${sums[0]}" ]] || fail "checksums differ: ${sums[*]}"; done
# --size: the last request asks only for the bytes left
out=$("$BIN" bench --socket "$SOCK" -m 1M --scatter cut 2>&1) || fail "bench cut: $out"
want=${out##*csum }
for mode in --scatter "--pages --qd 2"; do
	# shellcheck disable=SC2086 # the mode: one or three words
	out=$("$BIN" bench --socket "$SOCK" -m 1M $mode --size "$CUT" big 2>&1) ||
		fail "bench $mode --size: $out"
	[[ $out == *" bytes $CUT "* ]] || fail "bench $mode --size $CUT read another count: $out"
	[[ ${out##*csum } == "$want" ]] || fail "bench $mode --size $CUT: checksum ${out##*csum }, the first $CUT bytes' is $want"
done
grep -q 'dropped' "$SLOG" || true
vq_kill "$SPID" INT 10 || fail "server exit status $? after SIGINT"
grep -q 'requests served, 0 dropped' "$SLOG" || fail "server dropped requests: $(tail -n 1 "$SLOG")"

serve nolarge --no-large-chain
out=$("$BIN" bench --socket "$SOCK" -m 16M --scatter big 2>&1) || fail "no large chains offered: $out"
reqs=$(sed -n 's/.* reqs \([0-9]*\) .*/\1/p' <<<"$out")
((reqs >= 39)) || fail "large chains used although not offered ($reqs requests)"
[[ ${out##*csum } == "${sums[0]}" ]] || fail "checksum differs without large chains offered"
vq_kill "$SPID" INT 10 || true
echo "PASS $NAME"
exit 0
