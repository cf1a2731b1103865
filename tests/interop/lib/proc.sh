# shellcheck shell=bash source-path=SCRIPTDIR
# proc.sh - bounded child processes that never outlive the test.
#
#   vq_spawn LOG MAXSEC CMD...   start CMD in the background under
#                                `timeout --foreground -k 5 MAXSEC`,
#                                stdout+stderr to LOG,
#                                stdin from /dev/null. Sets VQ_PID (the pid to
#                                signal; timeout forwards INT/TERM/HUP to CMD).
#   vq_kill PID [SIG] [WAITSEC]  send SIG (TERM), wait up to WAITSEC (10) for
#                                exit, then SIGKILL. Returns CMD's exit status
#                                (124 = hit MAXSEC, 128+N = killed by N).
#   vq_alive PID                 true while PID runs.
#   vq_cleanup                   kill everything vq_spawn started; runs on
#                                EXIT/INT/TERM (the trap is installed on
#                                first source; chain your own via
#                                vq_on_exit 'command').
#   vq_on_exit CMD               run CMD (eval'd) at cleanup, last added first.
#   vq_sleep SEC                 sleep; use it instead of a foreground `sleep`
#                                in tests: bash runs a trap only after the
#                                foreground command ends, so SIGTERM during
#                                `sleep 100` would clean up 100 s late.
#   vq_log_fault LOG [EXPECTED]  the first line of a virtq tool's LOG that
#                                reports a fault (' error ', 'broken',
#                                'unforwarded') and does not match the
#                                regex EXPECTED; nothing if there is none.
#
# MAXSEC is an absolute bound: even a SIGKILLed test leaves nothing running
# past it, because timeout(1) is the parent of every child. The children
# stay in the caller's process group, so killing that group kills them too.
# proc.sh owns the EXIT, INT and TERM traps: do not set your own, use
# vq_on_exit.

if [[ -n ${_VIRTQ_PROC_SH:-} ]]; then return 0; fi
_VIRTQ_PROC_SH=1

VQ_PIDS=()
VQ_EXIT_CMDS=()

vq_spawn() {
	local log=$1 max=$2
	shift 2
	# --foreground: stay in our process group, so that a harness that kills
	# the test's group also reaches the children.
	timeout --foreground -k 5 "$max" "$@" </dev/null >"$log" 2>&1 &
	VQ_PID=$!
	VQ_PIDS+=("$VQ_PID")
}

vq_alive() { kill -0 "$1" 2>/dev/null; }

# _vq_wait_exit PID SEC: poll for exit in 0.1 s steps; true once gone.
_vq_wait_exit() {
	local pid=$1 n=$(($2 * 10))
	while ((n-- > 0)); do
		vq_alive "$pid" || return 0
		sleep 0.1
	done
	! vq_alive "$pid"
}

# _vq_kill9 PID: SIGKILL the command under timeout(1) PID, then PID.
_vq_kill9() {
	pkill -KILL -P "$1" 2>/dev/null
	kill -s KILL "$1" 2>/dev/null
}

# vq_sleep SEC: sleep that a trapped signal interrupts at once (bash runs
# traps only between foreground commands; `wait` is interruptible).
vq_sleep() {
	sleep "$1" &
	wait $! 2>/dev/null
}

vq_kill() {
	local pid=$1 sig=${2:-TERM} sec=${3:-10} rc=0
	[[ -n $pid ]] || return 0
	if vq_alive "$pid"; then
		# timeout(1) forwards INT/TERM/HUP to its child; KILL cannot be
		# forwarded, so it goes to the child first, then to timeout(1).
		if [[ $sig == KILL || $sig == 9 ]]; then
			_vq_kill9 "$pid"
		else
			kill -s "$sig" "$pid" 2>/dev/null
		fi
		if ! _vq_wait_exit "$pid" "$sec"; then
			echo "vq_kill: pid $pid ignored SIG$sig for ${sec}s, sending KILL" >&2
			_vq_kill9 "$pid"
		fi
	fi
	wait "$pid" 2>/dev/null || rc=$?
	_vq_forget "$pid"
	return "$rc"
}

_vq_forget() {
	local p keep=()
	for p in "${VQ_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	VQ_PIDS=("${keep[@]}")
}

vq_on_exit() { VQ_EXIT_CMDS+=("$1"); }

vq_cleanup() {
	local p i
	for p in "${VQ_PIDS[@]}"; do
		[[ -n $p ]] && vq_alive "$p" && kill -s TERM "$p" 2>/dev/null
	done
	for p in "${VQ_PIDS[@]}"; do
		[[ -n $p ]] && { _vq_wait_exit "$p" 5 || _vq_kill9 "$p"; wait "$p" 2>/dev/null; }
	done
	VQ_PIDS=()
	for ((i = ${#VQ_EXIT_CMDS[@]} - 1; i >= 0; i--)); do
		eval "${VQ_EXIT_CMDS[i]}" || true
	done
	VQ_EXIT_CMDS=()
}

trap 'vq_cleanup' EXIT
trap 'vq_cleanup; trap - INT; kill -s INT $$' INT
trap 'vq_cleanup; trap - TERM; kill -s TERM $$' TERM

vq_log_fault() {
	grep -a ' error \|broken\|unforwarded' "$1" |
		if (($# > 1)); then grep -av -- "$2"; else cat; fi | head -n 1
}
