#!/bin/bash
# hostile_net.sh - a hostile frontend against virtq-net, over real sockets,
# while two healthy ports forward traffic through the same switch.
#
# virtq-net serves four ports: h.sock (the attacker), a.sock, b.sock and
# p.sock (idle: stall-mid-header times GET_FEATURES on it while h.sock holds
# 8 of a header's 12 bytes; the median of 5 must be under 50 ms).
# virtq-user tx --verify sends on a.sock (CPU 0), virtq-user rx --verify
# counts on b.sock (CPU 1); the switch runs one worker in kick mode.  Then,
# one connection per case, build/bin/virtq-hostile fe commits each ring and
# protocol violation it knows (virtq-hostile fe --list) on h.sock.  Per case:
#   - virtq-hostile saw the expected reaction (ring: the error eventfd of the
#     tx vring signalled and the bad chain not consumed; protocol: the
#     connection closed, or an error ack after which it still answers);
#   - the daemon logged a line naming the violation (after the case began);
#   - the daemon, the sender and the receiver are still running;
#   - once the attacker hung up, the daemon holds as many fds as before the
#     case, and its RSS is at most 4 MiB above (resource cases: many
#     connections, memory-table storms, one memfd mapped 8 times, a full or
#     closed eventfd; kind "res" in virtq-hostile fe --list);
#   - frames kept reaching the receiver DURING the attack: while the attacking
#     connection is held open after the violation took effect, the switch's
#     count of frames delivered into b.sock's rx ring (its stats line, every
#     0.2 s) must grow between two lines printed after that moment (bounded
#     wait: HOSTILE_MEASURE_S, default 10 s); only then is the connection
#     closed.
# At the end a well-behaved frontend on h.sock must be served again, the
# daemon must exit 0 on SIGINT, the receiver must have verified every frame
# (bad 0), and no sanitizer report may appear (SAN=1 build: ASan + UBSan +
# LeakSanitizer at exit) in any log.
#
# Prints PASS/FAIL/SKIP lines and "N passed, N failed, N skipped".
# VIRTQ_KEEP=1 keeps the work directory.  HOSTILE_CASES="a b" runs a subset.
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init hostile_net
hc_need virtq-net virtq-user virtq-hostile

MEASURE_S=${HOSTILE_MEASURE_S:-10} # bound on waiting for forwarding progress

vq_spawn net.log 600 "$BIN/virtq-net" -s h.sock -s a.sock -s b.sock -s p.sock --poll kick \
	--workers 1 --cpus 1 --stats 0.2
NPID=$VQ_PID
for s in h a b p; do
	hc_wait_sock $s.sock 10 || { hc_fail setup "virtq-net did not create $s.sock"; cat net.log >&2; hc_end; }
done
NCHILD=$(hc_child "$NPID")
vq_spawn rx.log 600 "$BIN/virtq-user" net -s b.sock -m rx --verify -d 500 --cpu 1
RXPID=$VQ_PID
hc_wait_grep rx.log "connected" 10 || { hc_fail setup "receiver did not connect"; cat rx.log >&2; hc_end; }
vq_spawn tx.log 600 "$BIN/virtq-user" net -s a.sock -m tx --verify -d 500 --cpu 0
TXPID=$VQ_PID
hc_wait_grep tx.log "connected" 10 || { hc_fail setup "sender did not connect"; cat tx.log >&2; hc_end; }

# delivered PORT [OFF]: the switch's cumulative count of frames sent to PORT
# (the "tx N pkts" field of PORT's latest stats line after byte OFF; empty
# when there is none yet).
delivered() {
	tail -c +$((${2:-0} + 1)) net.log | awk -v p="$1" \
		'$2 == p { for (i = 3; i < NF; i++) if ($i == "tx") v = $(i + 1) } END { print v }'
}

# Wait for traffic to flow before the first attack.
for _ in $(seq 100); do (($(delivered b.sock) + 0 > 0)) && break; vq_sleep 0.1; done
(($(delivered b.sock) + 0 > 0)) || { hc_fail setup "no frames reach b.sock"; tail -n 5 net.log rx.log tx.log >&2; hc_end; }

# during_attack HP: once the violation is in effect (HOSTILE-ACTIVE), take
# the first stats line printed after it (c1), then wait up to MEASURE_S for
# a later line with a larger count (c2), all while virtq-hostile HP holds
# the attacking connection open.  Sets C1 and C2.
during_attack() {
	local hp=$1 off end=$((SECONDS + MEASURE_S))
	C1='' C2=''
	off=$(hc_size net.log)
	while vq_alive "$hp" && ((SECONDS < end)); do
		C1=$(delivered b.sock "$off")
		[[ -n $C1 ]] && break
		sleep 0.05
	done
	off=$(hc_size net.log)
	while vq_alive "$hp" && ((SECONDS < end)); do
		C2=$(delivered b.sock "$off")
		[[ -n $C2 ]] && ((C2 > C1)) && return 0
		sleep 0.05
	done
	return 1
}

# attack CASE LOGTEXT: one connection, one violation; the checks above.
attack() {
	local c=$1 text=$2 off out=case-$1.out hp rc why='' measured=0 fd0 rss0 base list0
	off=$(hc_size net.log)
	fd0=$(hc_settle "$NCHILD") rss0=$(hc_rss_kb "$NCHILD") list0=$(hc_fdlist "$NCHILD")
	: >"$out"
	timeout -k 5 60 "${HOSTILE[@]}" fe --dev net -s h.sock --probe p.sock --case "$c" \
		--hold-ms $((MEASURE_S * 1000 + 5000)) >"$out" 2>&1 &
	hp=$!
	while vq_alive "$hp" && ! grep -q '^HOSTILE-ACTIVE' "$out"; do sleep 0.02; done
	grep -q '^HOSTILE-ACTIVE' "$out" && during_attack "$hp" && measured=1
	kill -TERM "$hp" 2>/dev/null # end the hold: close the attacking connection
	wait "$hp"
	rc=$?
	if ((rc != 0)); then
		why="virtq-hostile exited $rc: $(grep -v '^HOSTILE' "$out" | tail -n 2 | tr '\n' ' ')"
	elif ! hc_wait_grep net.log "$text" 3 "$off"; then
		why="no daemon log line containing \"$text\""
	elif ! vq_alive "$NPID"; then
		why="virtq-net died"
	elif ! vq_alive "$TXPID" || ! vq_alive "$RXPID"; then
		why="a healthy virtq-user died"
	elif ((!measured)); then
		why="b.sock received nothing during the attack (${C1:-no stats line} -> ${C2:-no stats line} within ${MEASURE_S} s)"
	elif ! base=$(hc_baseline "$NCHILD" "$fd0" "$rss0" "$list0"); then
		why="the daemon did not return to its fds and memory before the case: $base"
	fi
	if [[ -n $why ]]; then
		hc_fail "$c" "$why"
		tail -c +$((off + 1)) net.log | grep -v 'pkts' | tail -n 5 >&2
	else
		hc_pass "$c" "$(tail -c +$((off + 1)) net.log | grep -aF -m1 -- "$text" |
			sed -E 's/^([0-9.]+ [a-z]+ )?virtq[-a-z]*: //' | cut -c1-110); b.sock +$((C2 - C1)) frames meanwhile"
	fi
}

t0=$SECONDS
while IFS=$'\t' read -r kc text; do
	kind=${kc%% *} c=${kc#* }
	if [[ -n ${HOSTILE_CASES:-} && " $HOSTILE_CASES " != *" $c "* ]]; then continue; fi
	if [[ $kind == skip ]]; then hc_skip "$c" "$text"; continue; fi
	[[ $kind == tool ]] && continue
	vq_alive "$NPID" || { hc_fail "$c" "virtq-net is not running"; continue; }
	attack "$c" "$text"
done < <("${HOSTILE[@]}" fe --list)
echo "  attacks took $((SECONDS - t0)) s"

# A well-behaved frontend on the attacked port is served again.
before=$(awk '$2 == "h.sock" { for (i = 3; i < NF; i++) if ($i == "rx") v = $(i + 1) } END { print v + 0 }' net.log)
# --verify: its frames reach b.sock too, and must pass the receiver's check.
timeout -k 5 20 "$BIN/virtq-user" net -s h.sock -m tx --verify -d 2 --cpu 0 >h-tx.log 2>&1
rc=$?
vq_sleep 0.5
after=$(awk '$2 == "h.sock" { for (i = 3; i < NF; i++) if ($i == "rx") v = $(i + 1) } END { print v + 0 }' net.log)
if ((rc == 0 && after > before)); then
	hc_pass recovery "a healthy frontend on h.sock sent $((after - before)) frames after the attacks"
else
	hc_fail recovery "virtq-user on h.sock: rc $rc, switch rx $before -> $after"
fi

# Shut down: the receiver verified every frame, the daemon exits cleanly.
vq_kill "$TXPID" INT 10; txrc=$?
vq_kill "$RXPID" INT 10; rxrc=$?
vq_kill "$NPID" INT 15; nrc=$?
counts=$(grep '^counts:' rx.log | tail -n 1)
rxp=$(sed -n 's/.*rx_pkts \([0-9]*\).*/\1/p' <<<"$counts")
bad=$(sed -n 's/.* bad \([0-9]*\).*/\1/p' <<<"$counts")
# The healthy ports were never dropped (virtq-user reconnects silently and
# prints "reconnects: N" at exit): an attack on h.sock must not cost them
# their connection.
recon=$(cat tx.log rx.log | grep -a '^reconnects:' | tr '\n' ' ')
if [[ -n $recon ]]; then
	hc_fail healthy-ports-kept "the daemon dropped a healthy port: $recon"
	grep -a 'disconnect' net.log | grep -avF h.sock | head -n 5 >&2
else
	hc_pass healthy-ports-kept "a.sock and b.sock never reconnected"
fi
if ((nrc == 0 && txrc == 0 && rxrc == 0)) && [[ -n $rxp && $rxp -gt 0 && $bad == 0 ]]; then
	hc_pass clean-exit "receiver verified $rxp frames, 0 bad; daemon exit 0"
else
	hc_fail clean-exit "daemon rc $nrc, tx rc $txrc, rx rc $rxrc, receiver: ${counts:-no counts line}"
fi
if hc_san net.log rx.log tx.log h-tx.log case-*.out; then
	hc_pass no-sanitizer-report "${SAN:-0}"
else
	hc_fail no-sanitizer-report "see above"
fi
hc_end
