# shellcheck shell=bash
# hostile_common.bash - shared by tests/interop/hostile_*.sh and fault_*.sh
# (not a test itself: run.sh runs *.sh only).
#
#   hc_init NAME         set ROOT, BIN (VIRTQ_BIN or $ROOT/${O:-build}/bin),
#                        HOSTILE (the command that runs virtq-hostile),
#                        WORK (a fresh temp dir, removed at exit unless
#                        VIRTQ_KEEP=1), cd into WORK; sources lib/proc.sh
#   hc_need BIN...       SKIP (exit 77) unless every $BIN/<name> is built
#   hc_pass CASE [MSG] / hc_fail CASE MSG    one PASS/FAIL line, counted
#   hc_skip CASE MSG     one NOTE line (a case vhost-user cannot express), not counted
#   hc_end               "N passed, N failed, N skipped"; exit 1 on a failure,
#                        77 when everything skipped, else 0
#   hc_wait_sock PATH SEC        wait for a listening socket file
#   hc_wait_grep FILE TEXT SEC [OFF]   wait for fixed TEXT in FILE (after
#                                byte OFF); 0 found, 1 timed out
#   hc_size FILE         bytes in FILE (0 when missing)
#   hc_san FILE...       print sanitizer reports found in the files; true
#                        when there were none
#   hc_fds PID / hc_rss_kb PID   open fds / VmRSS of PID
#   hc_child PID         the command timeout(1) PID runs (vq_spawn's pid is
#                        timeout's); for /proc measurements
#   hc_settle PID        wait (at most 3 s) until PID's fd count has stayed the
#                        same for 0.2 s (a peer that just hung up may still be
#                        being torn down); prints the settled count
#   hc_fdlist PID        PID's open fds, one "N target" line each (sorted)
#   hc_baseline PID FDS RSS [LIST]   wait (3 s) until PID holds FDS fds again
#                        and its VmRSS is at most RSS + 4 MiB (SAN=1: + 64 MiB,
#                        as ASan's quarantine keeps freed memory); prints why
#                        not, with the fds that differ from LIST (hc_fdlist
#                        output taken before) when given
# Environment: SAN=1 marks a sanitizer build (only for messages: the check
# greps for reports either way).

hc_init() {
	HC_NAME=$1
	ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}
	# shellcheck source=lib/proc.sh
	. "$ROOT/tests/interop/lib/proc.sh"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/virtq-$HC_NAME.XXXXXX")
	if [[ -n ${VIRTQ_KEEP:-} ]]; then
		echo "  work dir kept: $WORK"
	else
		vq_on_exit "rm -rf '$WORK'"
	fi
	cd "$WORK" || exit 1
	HC_P=0 HC_F=0 HC_S=0
	# Sanitizer builds: report, do not hide leaks; halt on the first error.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	# The attacker is a test tool, not the product: LeakSanitizer's exit-time
	# scan (it stops the world with ptrace) once hung in it under load.  The
	# daemons and virtq-user keep leak detection; fault_leaks checks them.
	HOSTILE=(env "ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0" "$BIN/virtq-hostile")
}

hc_need() {
	local b
	for b in "$@"; do
		[[ -x $BIN/$b ]] || { echo "SKIP $HC_NAME: $BIN/$b not built"; exit 77; }
	done
}

hc_pass() { echo "PASS $HC_NAME/$1${2:+ ($2)}"; HC_P=$((HC_P + 1)); }
hc_fail() { echo "FAIL $HC_NAME/$1: $2"; HC_F=$((HC_F + 1)); }
# A case vhost-user cannot express is not a test here (and not a skip: skips
# are for packages that cannot be installed); say so and where it is covered.
hc_skip() { echo "NOTE $HC_NAME/$1: not expressible over vhost-user: $2 (the ring check is covered in-process by ring_dev_bad)"; }

hc_end() {
	echo "$HC_P passed, $HC_F failed, $HC_S skipped"
	((HC_F > 0)) && exit 1
	((HC_P == 0 && HC_S > 0)) && exit 77
	exit 0
}

hc_wait_sock() {
	local n=$(($2 * 20))
	while ((n-- > 0)); do
		[[ -S $1 ]] && return 0
		sleep 0.05
	done
	return 1
}

hc_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

hc_wait_grep() {
	local file=$1 text=$2 end=$((SECONDS + $3)) off=${4:-0}
	while :; do
		# Not grep -q: it would quit at the match, and tail, still writing,
		# would die of SIGPIPE, which pipefail turns into "not found".
		tail -c +$((off + 1)) "$file" 2>/dev/null | grep -aF -- "$text" >/dev/null && return 0
		((SECONDS >= end)) && return 1
		sleep 0.05
	done
}

hc_san() {
	local f bad=0
	for f in "$@"; do
		[[ -f $f ]] || continue
		if grep -aqE 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:|SUMMARY: (Address|Undefined|Leak|Thread)' "$f"; then
			echo "  sanitizer report in $f:" >&2
			grep -aE -A12 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' "$f" | head -n 40 >&2
			bad=1
		fi
	done
	return "$bad"
}

hc_child() { pgrep -P "$1" | head -n 1; }
hc_fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
hc_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

hc_settle() {
	local pid=$1 end=$((SECONDS + 3)) f g same=0
	f=$(hc_fds "$pid")
	while ((same < 2 && SECONDS < end)); do
		sleep 0.1
		g=$(hc_fds "$pid")
		if ((g == f)); then same=$((same + 1)); else same=0 f=$g; fi
	done
	echo "$f"
}

hc_fdlist() {
	local l
	for l in /proc/"$1"/fd/*; do
		[[ -e $l || -L $l ]] && echo "${l##*/} $(readlink "$l" 2>/dev/null)"
	done | sort -n
}

hc_baseline() {
	local pid=$1 fds=$2 rss=$3 list=${4:-} end=$((SECONDS + 3)) f r slack=4096
	[[ ${SAN:-0} == 1 ]] && slack=65536
	while :; do
		f=$(hc_fds "$pid") r=$(hc_rss_kb "$pid")
		((f == fds && r <= rss + slack)) && return 0
		((SECONDS >= end)) && break
		sleep 0.1
	done
	echo -n "fds $fds -> $f, RSS ${rss} kB -> ${r} kB"
	[[ -n $list ]] && echo -n "; fds changed: $(diff <(echo "$list") <(hc_fdlist "$pid") |
		sed -n 's/^\([<>]\) /\1/p' | tr '\n' ' ')"
	echo
	return 1
}
