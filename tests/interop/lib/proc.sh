# shellcheck shell=bash
# proc.sh - bounded child processes that never outlive the test.
#
#   vq_spawn LOG MAXSEC CMD...   start CMD in the background under
#                                `timeout -k 5 MAXSEC`, stdout+stderr to LOG,
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
#
# MAXSEC is an absolute bound: even a SIGKILLed test leaves nothing running
# past it, because timeout(1) is the parent of every child.

if [[ -n ${_VIRTQ_PROC_SH:-} ]]; then return 0; fi
_VIRTQ_PROC_SH=1

VQ_PIDS=()
VQ_EXIT_CMDS=()

vq_spawn() {
	local log=$1 max=$2
	shift 2
	timeout -k 5 "$max" "$@" </dev/null >"$log" 2>&1 &
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

vq_kill() {
	local pid=$1 sig=${2:-TERM} sec=${3:-10} rc=0
	[[ -n $pid ]] || return 0
	if vq_alive "$pid"; then
		kill -s "$sig" "$pid" 2>/dev/null
		if ! _vq_wait_exit "$pid" "$sec"; then
			echo "vq_kill: pid $pid ignored SIG$sig for ${sec}s, sending KILL" >&2
			kill -s KILL "$pid" 2>/dev/null
			pkill -KILL -P "$pid" 2>/dev/null
		fi
	fi
	wait "$pid" 2>/dev/null || rc=$?
	VQ_PIDS=("${VQ_PIDS[@]/#$pid/}")
	return "$rc"
}

vq_on_exit() { VQ_EXIT_CMDS+=("$1"); }

vq_cleanup() {
	local p i
	for p in "${VQ_PIDS[@]}"; do
		[[ -n $p ]] && vq_alive "$p" && kill -s TERM "$p" 2>/dev/null
	done
	for p in "${VQ_PIDS[@]}"; do
		[[ -n $p ]] && { _vq_wait_exit "$p" 5 || kill -s KILL "$p" 2>/dev/null; }
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
