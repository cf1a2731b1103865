#!/bin/bash
# hostile_svq.sh - rule-breaking peers on both sides of virtq-svq.
#
# Backend side: virtq-hostile be (the case's violation: bad used ids, split
# and packed, a used length larger than the buffer, a used idx ahead, an
# unsolicited message, a hang-up during traffic) behind virtq-svq, and a
# healthy virtq-user net in front.  Per case:
#   - virtq-svq names the violation in its log (the shadow ring breaks, or
#     the backend connection is dropped);
#   - the guest side is not corrupted: virtq-user reports no violation of
#     its own ring (no "broken", no "used id", no "used length"), and exits
#     by itself or on SIGINT with a status below 128;
#   - virtq-svq exits on SIGINT with status 0 or 1, never by a signal (a
#     backend that goes away is reconnected, and hangs up again).
#   Two of them run again with the proxy's notification moderation
#   (virtq-svq --coalesce 16).
# Frontend side: virtq-hostile fe (descriptor loops, out-of-range heads and
# addresses, packed wrap errors, malformed messages, a full call eventfd)
# against virtq-svq in front of virtq-net.  Per case:
#   - virtq-hostile saw the reaction it expects (exit 0), and virtq-svq's log
#     names the violation;
#   - virtq-svq keeps running, and virtq-net never broke a queue of the
#     proxy's nor dropped its connection;
#   - afterwards a healthy virtq-user through the same proxy sends frames
#     that virtq-net takes (the proxy recovered).
# No sanitizer report anywhere.  PASS/FAIL lines, "N passed, N failed, N
# skipped".  VIRTQ_KEEP=1 keeps the work directory; HOSTILE_CASES="a b"
# runs a subset.
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init hostile_svq
hc_need virtq-user virtq-hostile virtq-net virtq-svq

BE_CASES="used-bad-id used-bad-id-packed used-bad-len used-idx-ahead unsolicited-message hangup-traffic"
BE_COALESCE_CASES="used-bad-id-packed used-idx-ahead"
FE_CASES="desc-loop head-range addr-unmapped addr-overflow packed-wrap-head avail-idx-jump
	short-header garbage-bytes ring-outside-memory kick-fd-pipe call-fd-full"

want() { [[ -z ${HOSTILE_CASES:-} || " $HOSTILE_CASES " == *" $1 "* ]]; }

# listening SOCK SEC: wait until SOCK exists (the proxy binds, then listens
# at once; a connecting virtq-user retries for 10 s anyway).
listening() { hc_wait_sock "$@"; }

be_case() { # CASE ARGS TEXT [PROXY-ARGS]
	local c=$1 args=$2 text=$3 pargs=${4:-} b=be-$1.out p=svq-be-$1.log u=vqu-be-$1.log
	local bpid ppid upid prc urc why='' dev=net end name=be/$1
	if [[ -n $pargs ]]; then
		name+=" ($pargs)" b=be-$1-x.out p=svq-be-$1-x.log u=vqu-be-$1-x.log
	fi
	: >"$b"
	vq_spawn "$b" 60 "${HOSTILE[@]}" be -s hb-$c.sock --dev $dev --case "$c" --hold-ms 30000
	bpid=$VQ_PID
	hc_wait_grep "$b" HOSTILE-LISTENING 10 || { hc_fail "$name" "virtq-hostile did not listen"; vq_kill "$bpid"; return; }
	# shellcheck disable=SC2086 # PROXY-ARGS are words
	vq_spawn "$p" 60 "$BIN/virtq-svq" --socket ps-$c.sock --backend hb-$c.sock $pargs
	ppid=$VQ_PID
	listening ps-$c.sock 10 || why="virtq-svq did not listen: $(tail -n 1 "$p")"
	# shellcheck disable=SC2086 # ARGS are words
	[[ -n $why ]] || vq_spawn "$u" 60 "$BIN/virtq-user" $args -s ps-$c.sock --cpu 0
	upid=$VQ_PID
	end=$((SECONDS + 20))
	while [[ -z $why ]] && vq_alive "$ppid" && ((SECONDS < end)) && ! grep -aqF -- "$text" "$p"; do
		sleep 0.05
	done
	vq_kill "$upid" INT 10
	urc=$?
	vq_kill "$ppid" INT 10
	prc=$?
	vq_kill "$bpid" TERM 10
	if [[ -n $why ]]; then
		:
	elif ! grep -aqF -- "$text" "$p"; then
		why="virtq-svq did not report \"$text\": $(tail -n 2 "$p" | tr '\n' ' ')"
	elif grep -aq 'broken\|used id\|used length\|used idx' "$u"; then
		why="the guest side saw a violation: $(grep -a -m1 'broken\|used id\|used length\|used idx' "$u")"
	elif ((urc >= 124)); then
		why="virtq-user exited with $urc (crash, hang or timeout)"
	elif ((prc > 1)); then
		why="virtq-svq exited with $prc"
	elif ! hc_san "$p" "$u" "$b"; then
		why="sanitizer report"
	fi
	if [[ -n $why ]]; then
		hc_fail "$name" "$why"
	else
		hc_pass "$name" "$(grep -aF -m1 -- "$text" "$p" | sed -E 's/^[0-9.]+ [a-z]+ //' | cut -c1-100); virtq-user exit $urc, its ring intact"
	fi
}

# taken LOG PORT: frames virtq-net took from PORT so far (its last stats line).
taken() {
	grep -a "\"port\":\"$2\"" "$1" | tail -n 1 | sed -n 's/.*"rx_packets":\([0-9]*\).*/\1/p'
}

fe_case() { # CASE TEXT
	local c=$1 text=$2 out=fe-$1.out off hp rc why='' before after end
	off=$(hc_size svq-fe.log)
	timeout -k 5 60 "${HOSTILE[@]}" fe --dev net -s ps.sock --case "$c" --hold-ms 500 >"$out" 2>&1
	rc=$?
	before=$(taken net.log vn.sock)
	vq_spawn "vqu-fe-$c.log" 30 "$BIN/virtq-user" net -s ps.sock -m tx -d 1 --cpu 0
	hp=$VQ_PID
	end=$((SECONDS + 20))
	while vq_alive "$hp" && ((SECONDS < end)); do vq_sleep 0.1; done
	vq_kill "$hp" INT 5
	vq_sleep 1.2 # a stats period of virtq-net
	after=$(taken net.log vn.sock)
	if ((rc != 0)); then
		why="virtq-hostile exited $rc: $(tail -n 2 "$out" | tr '\n' ' ')"
	elif ! hc_wait_grep svq-fe.log "$text" 3 "$off"; then
		why="no virtq-svq log line containing \"$text\""
	elif ! vq_alive "$PPID_FE"; then
		why="virtq-svq died"
	elif grep -aq 'broken' net.log; then
		why="virtq-net: $(grep -a -m1 broken net.log)"
	elif grep -a 'disconnect: ' net.log | grep -avq 'frontend closed the connection'; then
		why="virtq-net: $(grep -a 'disconnect: ' net.log | grep -av 'frontend closed' | head -n 1)"
	elif ! ((${after:-0} > ${before:-0})); then
		why="a healthy virtq-user through the proxy moved no frame afterwards (${before:-?} -> ${after:-?})"
	fi
	if [[ -n $why ]]; then
		hc_fail "fe/$c" "$why"
		tail -c +$((off + 1)) svq-fe.log | tail -n 4 >&2
	else
		hc_pass "fe/$c" "$(tail -c +$((off + 1)) svq-fe.log | grep -aF -m1 -- "$text" | sed -E 's/^[0-9.]+ [a-z]+ //' | cut -c1-90); then +$((after - before)) frames"
	fi
}

t0=$SECONDS
while IFS=$'\t' read -r c args text; do
	[[ " $BE_CASES " == *" $c "* ]] && want "$c" && be_case "$c" "$args" "$text"
	# Notification moderation asks the backend to call after N used
	# buffers (the re-check reads its used ring ahead): the same cases
	# still break only the shadow ring.
	[[ " $BE_COALESCE_CASES " == *" $c "* ]] && want "$c" && be_case "$c" "$args" "$text" "--coalesce 16"
done < <("${HOSTILE[@]}" be --list)

vq_spawn net.log 600 "$BIN/virtq-net" -s vn.sock --sink --stats-json --stats 1 -v --cpus 1
NPID=$VQ_PID
hc_wait_sock vn.sock 10 || { hc_fail setup "virtq-net did not listen"; hc_end; }
vq_spawn svq-fe.log 600 "$BIN/virtq-svq" --socket ps.sock --backend vn.sock
PPID_FE=$VQ_PID
listening ps.sock 10 || { hc_fail setup "virtq-svq did not listen"; hc_end; }
while IFS=$'\t' read -r kc text; do
	c=${kc#* } # "KIND NAME"
	[[ " ${FE_CASES//[$'\n\t']/ } " == *" $c "* ]] && want "$c" && fe_case "$c" "$text"
done < <("${HOSTILE[@]}" fe --list)
vq_kill "$PPID_FE" INT 10 || hc_fail clean-exit "virtq-svq exited $? after SIGINT"
vq_kill "$NPID" INT 10 || hc_fail clean-exit "virtq-net exited $? after SIGINT"
hc_san svq-fe.log net.log || hc_fail no-sanitizer-report "a sanitizer report in svq-fe.log or net.log"
echo "  cases took $((SECONDS - t0)) s"
hc_end
