#!/bin/bash
# fault_leaks.sh - virtq-net and virtq-blk through connect / traffic /
# disconnect cycles under a leak checker; no leak and no fd growth.
#
# Checker: valgrind memcheck (--leak-check=full
# --errors-for-leak-kinds=definite --error-exitcode=99) on the plain build;
# with SAN=1 (ASan daemons in $VIRTQ_BIN) LeakSanitizer at exit instead.
# valgrind is installed on demand (lib/deps.sh); SKIP when it cannot be.
#
# virtq-net (ports a.sock, b.sock, one worker, kick mode): LEAK_CYCLES (3)
# cycles of virtq-user tx on a + rx --verify on b; odd cycles end with
# SIGINT (clean disconnect), even ones with SIGKILL of both frontends.  The
# daemon's open fds after the first cycle are the baseline; after the last
# they must be equal.  Then SIGINT: the daemon must exit 0 with no definite
# leak and no memory error.
# virtq-blk: the same with virtq-user blk verify (2 MiB) cycles, every other
# one killed mid-run (fio randwrite).
#
# Prints PASS/FAIL/SKIP lines and "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init fault_leaks
hc_need virtq-net virtq-blk virtq-user
CYCLES=${LEAK_CYCLES:-3}

if [[ ${SAN:-0} == 1 ]]; then
	CHECK=() CHECKER="LeakSanitizer (SAN=1 build)"
	export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
elif command -v valgrind >/dev/null || { . "$ROOT/tests/interop/lib/deps.sh" && need_pkgs valgrind; }; then
	CHECK=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
	       --track-fds=no --trace-children=no)
	CHECKER="valgrind memcheck"
else
	echo "SKIP fault_leaks: no valgrind (apt-get install valgrind) and not a SAN=1 build"
	exit 77
fi
echo "  checker: $CHECKER"

ndisc() { grep -ac 'disconnect' "$1"; }
wait_disc() {
	local end=$((SECONDS + $3))
	while (($(ndisc "$1") < $2)); do ((SECONDS >= end)) && return 1; sleep 0.1; done
}
settle() { # PID FDS SEC
	local end=$((SECONDS + $3))
	while (($(hc_fds "$1") != $2)); do ((SECONDS >= end)) && return 1; sleep 0.1; done
}

# check_exit NAME LOG RC: the daemon exited 0 and the checker found nothing.
check_exit() {
	local name=$1 log=$2 rc=$3
	if ((rc == 0)) && hc_san "$log" && ! grep -aqE '== *(definitely lost: [1-9]|Invalid (read|write)|uninitialised)' "$log"; then
		hc_pass "$name" "exit 0, $CHECKER: no definite leak, no memory error"
	else
		hc_fail "$name" "exit $rc (99 = valgrind errors); $(grep -aE 'definitely lost|ERROR|Invalid' "$log" | head -n 3 | tr '\n' ' ')"
	fi
}

# ---- virtq-net
vq_spawn net.log 900 "${CHECK[@]}" "$BIN/virtq-net" -s a.sock -s b.sock --poll kick --workers 1 \
	--cpus 1 --stats 0
NPID=$VQ_PID
hc_wait_sock a.sock 60 && hc_wait_sock b.sock 10 || { hc_fail net-setup "no sockets"; cat net.log >&2; hc_end; }
D=$(hc_child "$NPID")
base=
for c in $(seq "$CYCLES"); do
	n0=$(ndisc net.log)
	vq_spawn rx-$c.log 120 "$BIN/virtq-user" net -s b.sock -m rx --verify -d 60 --cpu 1
	RX=$VQ_PID
	hc_wait_grep rx-$c.log connected 60
	vq_spawn tx-$c.log 120 "$BIN/virtq-user" net -s a.sock -m tx --verify -d 60 --cpu 0
	TX=$VQ_PID
	hc_wait_grep tx-$c.log connected 60
	vq_sleep 2
	sig=INT
	((c % 2 == 0)) && sig=KILL
	vq_kill "$TX" $sig 20; vq_kill "$RX" $sig 20
	if ! wait_disc net.log $((n0 + 2)) 60; then
		hc_fail "net-cycle-$c" "no disconnect seen"
		continue
	fi
	[[ -z $base ]] && { vq_sleep 1; base=$(hc_fds "$D"); }
	if settle "$D" "$base" 20; then
		hc_pass "net-cycle-$c" "frontends ended by SIG$sig; daemon fds $base"
	else
		hc_fail "net-cycle-$c" "daemon has $(hc_fds "$D") fds, $base after cycle 1"
	fi
done
vq_kill "$NPID" INT 120
check_exit net-no-leak net.log $?

# ---- virtq-blk
truncate -s 16M disk.img
vq_spawn blk.log 900 "${CHECK[@]}" "$BIN/virtq-blk" --socket k.sock --file disk.img
BPID=$VQ_PID
hc_wait_sock k.sock 60 || { hc_fail blk-setup "no socket"; cat blk.log >&2; hc_end; }
D=$(hc_child "$BPID")
base=
for c in $(seq "$CYCLES"); do
	n0=$(ndisc blk.log)
	if ((c % 2 == 0)); then
		vq_spawn u-$c.log 120 "$BIN/virtq-user" blk -s k.sock -m fio --rw randwrite --qd 16 \
			--size 2M -d 60 --cpu 0
		U=$VQ_PID
		hc_wait_grep u-$c.log "fio:" 60
		vq_sleep 2
		vq_kill "$U" KILL 10
		what="killed mid-I/O"
	else
		timeout -k 5 120 "$BIN/virtq-user" blk -s k.sock --size 2M --cpu 0 >u-$c.log 2>&1
		grep -q '^verify: OK' u-$c.log || { hc_fail "blk-cycle-$c" "verify failed: $(tail -n 2 u-$c.log)"; continue; }
		what="verify OK"
	fi
	if ! wait_disc blk.log $((n0 + 1)) 60; then
		hc_fail "blk-cycle-$c" "no disconnect seen"
		continue
	fi
	[[ -z $base ]] && { vq_sleep 1; base=$(hc_fds "$D"); }
	if settle "$D" "$base" 20; then
		hc_pass "blk-cycle-$c" "$what; daemon fds $base"
	else
		hc_fail "blk-cycle-$c" "daemon has $(hc_fds "$D") fds, $base after cycle 1"
	fi
done
vq_kill "$BPID" INT 120
check_exit blk-no-leak blk.log $?
hc_end
