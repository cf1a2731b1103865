#!/bin/bash
# 9p_diod.sh - our 9P2000.L client (virtq-9p ls/stat/cat/cp/bench) against
# diod, another implementation's server, over TCP on loopback; then the same
# commands against our own server, so both answer the same operations.
# Every result is checked against the host's view of the export.
#
# Prints PASS/FAIL/SKIP lines; exit 0 passed, 77 skipped, 1 failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
LIB=$ROOT/tests/interop/lib
. "$LIB/deps.sh"
. "$LIB/proc.sh"

NAME=9p_diod
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}/virtq-9p

skip() { echo "SKIP $NAME: $*"; exit 77; }
fail() { echo "FAIL $NAME: $*"; [[ -n ${SLOG:-} ]] && tail -n 20 "$SLOG" >&2; exit 1; }

[[ -x $BIN ]] || skip "$BIN not built"
need_diod || skip "diod not installable"
DIOD=$(command -v diod || echo /usr/sbin/diod)
((EUID == 0)) || skip "diod serves other users' files only as root"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/virtq-9p-diod.XXXXXX")
vq_on_exit "rm -rf '$WORK'"
EXP=$WORK/export
mkdir -p "$EXP/sub/deeper"
head -c 3000001 /dev/urandom >"$EXP/big"
echo "hello 9p" >"$EXP/sub/a.txt"
: >"$EXP/sub/empty"
ln -s a.txt "$EXP/sub/link"

# start SERVER-NAME CMD...: on a free loopback port; sets PORT, SPID, SLOG
start() {
	local what=$1
	shift
	SLOG=$WORK/$what.log
	for _ in 1 2 3 4 5; do
		PORT=$((20000 + RANDOM % 30000))
		vq_spawn "$SLOG" 120 "${@//@PORT@/$PORT}"
		SPID=$VQ_PID
		for _ in $(seq 50); do
			"$BIN" stat --tcp "127.0.0.1:$PORT" ${ANAME:+--aname "$ANAME"} sub >/dev/null 2>&1 && return 0
			vq_alive "$SPID" || break
			sleep 0.1
		done
		vq_kill "$SPID" TERM 5
	done
	fail "$what did not start"
}

# check SERVER-NAME: the same operations, checked on the host
check() {
	local what=$1 c=("$BIN" --tcp "127.0.0.1:$PORT" ${ANAME:+--aname "$ANAME"}) out
	out=$("$BIN" ls "${c[@]:1}" sub 2>&1) || fail "$what: ls: $out"
	for n in a.txt empty link deeper; do
		grep -q " $n\$" <<<"$out" || fail "$what: ls does not list $n: $out"
	done
	grep -q '^d .* deeper$' <<<"$out" || fail "$what: deeper is not a directory"
	grep -q '^l .* link$' <<<"$out" || fail "$what: link is not a symlink"
	out=$("$BIN" stat "${c[@]:1}" big 2>&1) || fail "$what: stat: $out"
	grep -qx 'size 3000001' <<<"$out" || fail "$what: stat size: $out"
	grep -qx "ino $(stat -c %i "$EXP/big")" <<<"$out" || fail "$what: stat ino: $out"
	out=$("$BIN" cat "${c[@]:1}" sub/a.txt 2>&1) || fail "$what: cat: $out"
	[[ $out == "hello 9p" ]] || fail "$what: cat gave '$out'"
	"$BIN" cp "${c[@]:1}" :big "$WORK/out.$what" || fail "$what: cp out"
	cmp -s "$WORK/out.$what" "$EXP/big" || fail "$what: cp out: content differs"
	"$BIN" cp "${c[@]:1}" "$WORK/out.$what" ":sub/in.$what" || fail "$what: cp in"
	cmp -s "$EXP/sub/in.$what" "$EXP/big" || fail "$what: cp in: content differs on the host"
	"$BIN" cat "${c[@]:1}" nope >/dev/null 2>&1 && fail "$what: cat of a missing file succeeded"
	out=$("$BIN" bench "${c[@]:1}" -m 64K big 2>&1) || fail "$what: bench: $out"
	want=$("$BIN" bench "${c[@]:1}" -m 8K big 2>&1 | sed 's/.*csum //')
	[[ ${out##*csum } == "$want" && -n $want ]] || fail "$what: checksums differ across msize"
	echo "  $what: ${out%% csum*}"
}

ANAME=$EXP start diod "$DIOD" -f -n -N -l 127.0.0.1:@PORT@ -e "$EXP" -L stderr -c /dev/null
ANAME=$EXP check diod
vq_kill "$SPID" TERM 5

ANAME= start virtq "$BIN" serve --export "$EXP" --tcp 127.0.0.1:@PORT@
ANAME= check virtq
vq_kill "$SPID" TERM 5
echo "PASS $NAME"
exit 0
