#!/bin/bash
# blk_engine.sh - virtq-blk with each I/O engine (--engine uring, threads),
# driven by virtq-user blk over vhost-user.
#
# Per engine, one daemon on a 32 MiB file (2 queues, 2 I/O threads):
#   - the start line names the engine that runs;
#   - verify: 16 MiB written with a seeded pattern, flushed, read back and
#     compared, WRITE_ZEROES of block 0 read back as zeroes ("verify: OK");
#   - fio randread 4k QD32 and seq read 1M, 1 s each: no I/O errors;
#   - the host reads the file on its own: the pattern at a few offsets;
#   - SIGTERM: the daemon exits 0 (in-flight I/O completed).
# Then `--engine bogus` must be refused (non-zero exit, the message quotes it).
# uring cases SKIP when this build has no liburing (LIBURING=0) or the
# kernel refuses io_uring (the daemon says so).
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init blk_engine
hc_need virtq-blk virtq-user
SEED=77

check_pattern() { # FILE: the verify pattern at 3 offsets, zeroes at 0
	local key
	key=$(printf '%x' $((SEED * 0x9e3779b97f4a7c15)))
	perl -e '
		no warnings "portable";
		open(my $f, "<:raw", $ARGV[0]) or die; my $k = hex($ARGV[1]);
		for my $x (4096, 1 << 20, (16 << 20) - 8) {
			seek($f, $x, 0); read($f, my $b, 8) == 8 or exit 1;
			exit 1 if unpack("Q<", $b) != ($x ^ $k);
		}
		seek($f, 0, 0); read($f, my $z, 512); exit 1 if $z ne "\0" x 512;
		exit 0;' "$1" "$key"
}

one_engine() { # ENGINE
	local e=$1 sock=$WORK/$1.sock img=$WORK/$1.img log=$WORK/$1.log pid out
	truncate -s 32M "$img"
	"$BIN/virtq-blk" --socket "$sock" --file "$img" --engine "$e" --queues 2 \
		--iothreads 2 >"$log" 2>&1 &
	pid=$!
	if ! hc_wait_sock "$sock" 10; then
		if [[ $e == uring ]] && grep -q "with --engine uring" "$log"; then
			echo "SKIP blk_engine/$e: $(head -n 1 "$log")"
			HC_S=$((HC_S + 1))
			return
		fi
		hc_fail "$e/start" "no socket: $(head -n 3 "$log")"
		kill "$pid" 2>/dev/null
		return
	fi
	local name=$e
	[[ $e == uring ]] && name=io_uring
	if grep -q "$name engine" "$log"; then hc_pass "$e/named" "$(grep -o "[a-z_]* engine" "$log")"
	else hc_fail "$e/named" "start line: $(grep serving "$log")"; fi
	out=$(timeout 60 "$BIN/virtq-user" blk --socket "$sock" --mode verify --size 16M \
		--seed "$SEED" 2>&1)
	if grep -q "verify: OK" <<<"$out"; then hc_pass "$e/verify"
	else hc_fail "$e/verify" "$(tail -n 3 <<<"$out")"; fi
	for load in "randread --bs 4k --qd 32" "read --bs 1M --qd 4"; do
		# shellcheck disable=SC2086
		out=$(timeout 30 "$BIN/virtq-user" blk --socket "$sock" --mode fio --rw $load \
			--duration 1 2>&1)
		if [[ $? == 0 ]] && grep -qiE "MB/s" <<<"$out" && ! grep -qiE "error[s]?[ :=]+[1-9]" <<<"$out"; then
			hc_pass "$e/fio ${load%% *}" "$(grep -m1 -oE '[0-9.]+ MB/s' <<<"$out")"
		else
			hc_fail "$e/fio ${load%% *}" "$(tail -n 3 <<<"$out")"
		fi
	done
	kill -TERM "$pid"
	wait "$pid"
	local rc=$?
	if ((rc == 0)) && hc_san "$log"; then hc_pass "$e/sigterm"
	else hc_fail "$e/sigterm" "exit $rc: $(tail -n 3 "$log")"; fi
	if check_pattern "$img"; then hc_pass "$e/file" "pattern on disk, block 0 zeroed"
	else hc_fail "$e/file" "the file does not hold what verify wrote"; fi
}

one_engine uring
one_engine threads

out=$("$BIN/virtq-blk" --socket "$WORK/x.sock" --file "$WORK/threads.img" --engine bogus 2>&1)
rc=$?
if ((rc != 0)) && grep -q -- "bogus" <<<"$out" && [[ ! -S $WORK/x.sock ]]; then
	hc_pass "bad-engine" "exit $rc: $(head -n 1 <<<"$out")"
else
	hc_fail "bad-engine" "exit $rc: $out"
fi
hc_end
