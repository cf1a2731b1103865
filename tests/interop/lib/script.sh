# shellcheck shell=bash source-path=SCRIPTDIR
# script.sh - the start every net/DPDK/svq interop script shares:
#
#   . "$(dirname "$0")/lib/script.sh" [dpdk]
#
# Sets -uo pipefail, changes to the repository root and defines
#   ROOT   the repository root (the working directory from now on)
#   LIB    tests/interop/lib
#   BIN    the built tools: $VIRTQ_BIN, else $ROOT/${O:-build}/bin
#   VQU, VIRTQ_NET, SVQ   virtq-user, virtq-net and virtq-svq in BIN
#   CPU1   the second CPU (0 on a single-CPU machine): the backend's, while
#          the driver (virtq-user or testpmd's virtio-user) runs on CPU 0
# and sources proc.sh and net.sh (net_begin, vn_start, ...).
#   dpdk   also sources dpdk.sh; DPDK_MAXSEC (the bound on each testpmd)
#          defaults to 90 s
#
#   sp_start LOG MAXSEC SOCKET BACKEND [ARG...]
#       virtq-svq --socket SOCKET --backend BACKEND ARG... under vq_spawn;
#       waits (10 s) until SOCKET listens.  Sets SP_PID.  1 if it died or
#       did not listen (log kept).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.." || exit 1
ROOT=$PWD
LIB=$ROOT/tests/interop/lib
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}
VQU=$BIN/virtq-user
VIRTQ_NET=$BIN/virtq-net
SVQ=$BIN/virtq-svq
CPU1=$(($(nproc) > 1 ? 1 : 0))
# shellcheck source=proc.sh
. "$LIB/proc.sh"
# shellcheck source=net.sh
. "$LIB/net.sh"

for _script_opt in "$@"; do
	case $_script_opt in
	dpdk)
		# shellcheck source=dpdk.sh
		. "$LIB/dpdk.sh"
		export DPDK_MAXSEC=${DPDK_MAXSEC:-90}
		;;
	*) echo "script.sh: unknown option $_script_opt" >&2; exit 2 ;;
	esac
done
unset _script_opt

sp_start() {
	local log=$1 max=$2 sock=$3 backend=$4 end=$((SECONDS + 10))
	shift 4
	rm -f "$sock"
	vq_spawn "$log" "$max" "$SVQ" --socket "$sock" --backend "$backend" "$@"
	SP_PID=$VQ_PID
	until _net_listening "$sock"; do
		vq_alive "$SP_PID" || { echo "virtq-svq died at start, see $log" >&2; return 1; }
		((SECONDS < end)) || { echo "virtq-svq: $sock not listening after 10 s" >&2; return 1; }
		sleep 0.05
	done
}
