#!/bin/bash
# hostile_backend.sh - a hostile backend against our frontend, virtq-user.
#
# For each case of `virtq-hostile be --list`, virtq-hostile listens on a
# socket as a vhost-user backend and virtq-user (net tx/rx or blk verify, as
# the case says) connects to it.  The backend answers correctly except for
# one thing: a bad reply (wrong request code, flags, version, size, fds,
# truncated, garbage, missing VERSION_1, GET_QUEUE_NUM 0, a refused
# SET_MEM_TABLE, a wrong GET_CONFIG offset), a hang-up (during the handshake,
# during traffic, during blk I/O), an unsolicited message, or bad used
# entries written into the ring (used id not in flight, split and packed;
# used length larger than the buffer; used idx ahead of avail).  Every
# connection gets the same treatment, so a retrying frontend meets the same
# violation again.  Per case:
#   - virtq-user reports it: its output contains the text the case names;
#   - virtq-user does not crash or hang: it exits by itself or on SIGINT,
#     with a status below 128, within bounded time;
#   - virtq-hostile delivered the violation (exit 0);
#   - no sanitizer report (SAN=1 build) in either program's output.
#
# Prints PASS/FAIL/SKIP lines and "N passed, N failed, N skipped".
# VIRTQ_KEEP=1 keeps the work directory.  HOSTILE_CASES="a b" runs a subset.
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init hostile_backend
hc_need virtq-user virtq-hostile

one() { # CASE ARGS EXPECT
	local c=$1 args=$2 text=$3 be=be-$1.out fe=fe-$1.out bpid upid brc urc why='' dev=net
	[[ $args == blk* ]] && dev=blk
	: >"$be"; : >"$fe"
	vq_spawn "$be" 60 "${HOSTILE[@]}" be -s hb.sock --dev $dev --case "$c" --hold-ms 30000
	bpid=$VQ_PID
	hc_wait_grep "$be" HOSTILE-LISTENING 10 || { hc_fail "$c" "virtq-hostile did not listen"; vq_kill "$bpid"; return; }
	# shellcheck disable=SC2086 # ARGS are words
	vq_spawn "$fe" 60 "$BIN/virtq-user" $args -s hb.sock --cpu 0
	upid=$VQ_PID
	local end=$((SECONDS + 20))
	while vq_alive "$upid" && ((SECONDS < end)) && ! grep -aqF -- "$text" "$fe"; do
		sleep 0.05
	done
	vq_kill "$upid" INT 10
	urc=$?
	vq_kill "$bpid" TERM 10
	brc=$?
	if ! grep -aqF -- "$text" "$fe"; then
		why="virtq-user did not report \"$text\": $(grep -av '^\[' "$fe" | tail -n 2 | tr '\n' ' ')"
	elif ((urc >= 124)); then
		why="virtq-user exited with $urc (crash, hang or timeout)"
	elif ((brc != 0)); then
		why="virtq-hostile exited $brc: $(tail -n 1 "$be")"
	elif ! hc_san "$fe" "$be"; then
		why="sanitizer report"
	fi
	if [[ -n $why ]]; then
		hc_fail "$c" "$why"
	else
		hc_pass "$c" "virtq-user exit $urc: $(grep -aF -m1 -- "$text" "$fe" | cut -c1-120)"
	fi
}

t0=$SECONDS
while IFS=$'\t' read -r c args text; do
	if [[ -n ${HOSTILE_CASES:-} && " $HOSTILE_CASES " != *" $c "* ]]; then continue; fi
	one "$c" "$args" "$text"
done < <("${HOSTILE[@]}" be --list)
echo "  cases took $((SECONDS - t0)) s"
hc_end
