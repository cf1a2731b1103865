# shellcheck shell=bash source-path=SCRIPTDIR
# dpdk.sh - DPDK testpmd as a vhost-user peer, without hugepages.
#
#   dpdk_vhost_start SOCK PREFIX FWDMODE [OPT...] [-- TESTPMD-ARG...]
#       testpmd with the vhost PMD (net_vhost0, iface=SOCK) as the device
#       side. Default: vhost-user server; waits (bounded) until SOCK listens.
#       OPT: --client            connect to SOCK instead (vdev client=1)
#            --vdev-arg K=V      add K=V to the vdev string (repeatable)
#   dpdk_virtio_user_start SOCK PREFIX FWDMODE [OPT...] [-- TESTPMD-ARG...]
#       testpmd with virtio-user (net_virtio_user0, path=SOCK) as the driver
#       side. Default: client, SOCK must already listen.
#       OPT: --server            listen on SOCK (vdev server=1); waits until
#                                SOCK listens, the peer connects later
#            --packed            packed ring (packed_vq=1); default split
#            --mrg 0|1           mrg_rxbuf (default: DPDK's, which is 1)
#            --queue-size N      ring size (default 256)
#            --vdev-arg K=V      add K=V to the vdev string (repeatable)
#   Both also take:
#            --size N            packet length: --txpkts=N, plus mbuf size
#                                and max-pkt-len when N > 1518
#            --cpu N             CPU of the forwarding lcore (default: vhost
#                                on CPU 1, virtio-user on CPU 0, so the two
#                                busy pollers never share a CPU)
#            --eal ARG           extra EAL argument (repeatable)
#       FWDMODE: rxonly, txonly, io, macswap, ... (testpmd --forward-mode).
#       Sets DPDK_PID and DPDK_LOG (= $DPDK_LOGDIR/testpmd-PREFIX.log).
#       Returns 0 when started and the port is up, 1 otherwise (log kept).
#   dpdk_stop PID [LOG]
#       SIGINT (testpmd prints its final totals and exits), SIGKILL after
#       15 s. Removes /var/run/dpdk/PREFIX. Returns testpmd's exit status
#       (0; 141 = SIGPIPE when its vhost-user peer had died; 124 = hit
#       DPDK_MAXSEC). LOG is accepted and ignored.
#   dpdk_parse_stats LOG
#       Prints three lines:
#         rx_packets=N tx_packets=N tx_dropped=N rx_bytes=N tx_bytes=N
#         rx_pps=N N N ...   (one sample per stats period, zeros included)
#         tx_pps=N N N ...
#       Packet totals come from the "Accumulated forward statistics" block
#       that testpmd prints on a clean exit, else from the last periodic
#       block (e.g. while it runs, or after SIGPIPE). Bytes always come from
#       the last periodic block: bytes/packets there gives the frame size.
#   dpdk_median_pps LOG rx|tx [SKIP]
#       Median of the non-zero per-period pps samples, less the first SKIP
#       (default 1) and the last one (ramp-up, ramp-down). Prints an
#       integer, 0 when fewer than SKIP+2 non-zero samples exist.
#   dpdk_wait_log LOG REGEX SEC [PID]   0 seen, 1 timeout, 2 PID died.
#   dpdk_wait_port LOG [SEC] [PID]      the port probed ("Port 0: <mac>");
#       for virtio-user --server, call it after starting the peer.
#
# Environment: DPDK_MEM (256, MB of --no-huge memory), DPDK_MBUFS (16384),
# DPDK_MAXSEC (600, absolute bound per testpmd), DPDK_LOGDIR (/tmp),
# DPDK_STATS_PERIOD (1), DPDK_START_SEC (30, bound on startup).
#
# Each testpmd needs its own PREFIX (--file-prefix): a second primary with
# the same prefix fails on the lock in /var/run/dpdk/PREFIX/config.

if [[ -n ${_VIRTQ_DPDK_SH:-} ]]; then return 0; fi
_VIRTQ_DPDK_SH=1

declare -gA _DPDK_PREFIX=()
# On exit (after proc.sh killed the processes) drop their /var/run/dpdk dirs.
_dpdk_cleanup_all() {
	local p
	for p in "${_DPDK_PREFIX[@]}"; do rm -rf "/var/run/dpdk/$p"; done
}

_dpdk_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$_dpdk_lib/deps.sh"
. "$_dpdk_lib/proc.sh"
vq_on_exit _dpdk_cleanup_all

# _dpdk_sock_listening SOCK: a listening AF_UNIX socket at SOCK.
_dpdk_sock_listening() {
	[[ -S $1 ]] || return 1
	command -v ss >/dev/null || return 0
	ss -xlH 2>/dev/null | awk -v p="$1" '$5 == p { f = 1 } END { exit !f }'
}

dpdk_wait_log() {
	local log=$1 re=$2 end=$((SECONDS + $3)) pid=${4:-}
	while ((SECONDS < end)); do
		grep -Eqa -- "$re" "$log" 2>/dev/null && return 0
		[[ -n $pid ]] && ! vq_alive "$pid" && return 2
		sleep 0.1
	done
	return 1
}

# _dpdk_lcores CPU: testpmd lcore 1 forwards; lcore 0 (main, mostly asleep:
# stats, control threads) goes on the other CPU.
_dpdk_lcores() {
	local fwd=$1 ncpu other
	ncpu=$(nproc)
	((ncpu < 2)) && { echo "0@0,1@0"; return; }
	other=$(((fwd + 1) % ncpu))
	echo "0@$other,1@$fwd"
}

# _dpdk_start KIND SOCK PREFIX FWDMODE OPT...: shared by both starters.
_dpdk_start() {
	local kind=$1 sock=$2 prefix=$3 fwd=$4
	shift 4
	local vdev cpu listen=0 size=64 mrg='' qsz='' packed=0 eal=() app=() vargs=() sz=()
	if [[ $kind == vhost ]]; then cpu=1 listen=1; else cpu=0; fi
	while [[ $# -gt 0 ]]; do
		case $1 in
		--client) listen=0; vargs+=(client=1); shift ;;
		--server) listen=1; vargs+=(server=1); shift ;;
		--packed) packed=1; shift ;;
		--mrg) mrg=${2:?}; shift 2 ;;
		--queue-size) qsz=${2:?}; shift 2 ;;
		--vdev-arg) vargs+=("${2:?}"); shift 2 ;;
		--size) size=${2:?}; shift 2 ;;
		--cpu) cpu=${2:?}; shift 2 ;;
		--eal) eal+=("${2:?}"); shift 2 ;;
		--) shift; app+=("$@"); break ;;
		*) app+=("$1"); shift ;;
		esac
	done
	if [[ $kind == vhost ]]; then
		vdev="net_vhost0,iface=$sock,queues=1"
	else
		vdev="net_virtio_user0,path=$sock,queues=1"
		((packed)) && vargs+=(packed_vq=1)
		[[ -n $mrg ]] && vargs+=("mrg_rxbuf=$mrg")
		[[ -n $qsz ]] && vargs+=("queue_size=$qsz")
	fi
	local v
	for v in "${vargs[@]}"; do vdev+=",$v"; done
	read -ra sz <<<"$(_dpdk_size_args "$size" | tr "\n" " ")"
	app=(--total-num-mbufs="${DPDK_MBUFS:-16384}" --forward-mode="$fwd"
		--stats-period "${DPDK_STATS_PERIOD:-1}" "${sz[@]}" "${app[@]}")
	need_dpdk || return 1
	((listen)) && rm -f "$sock"
	rm -rf "/var/run/dpdk/$prefix"
	DPDK_LOG=${DPDK_LOGDIR:-/tmp}/testpmd-$prefix.log
	: >"$DPDK_LOG"
	vq_spawn "$DPDK_LOG" "${DPDK_MAXSEC:-600}" stdbuf -oL \
		dpdk-testpmd --lcores "$(_dpdk_lcores "$cpu")" --no-huge -m "${DPDK_MEM:-256}" \
		--no-pci --single-file-segments --file-prefix="$prefix" --vdev "$vdev" \
		"${eal[@]}" -- "${app[@]}"
	DPDK_PID=$VQ_PID
	_DPDK_PREFIX[$DPDK_PID]=$prefix
	_dpdk_wait_started "$kind" "$sock" "$listen"
}

# _dpdk_size_args N: testpmd arguments for N-byte packets. The mbuf data
# room must hold the packet in one segment for txonly; DPDK's default max
# packet length is 1518, so anything bigger also needs --max-pkt-len.
_dpdk_size_args() {
	local n=$1
	# Order matters: testpmd checks --txpkts against the mbuf size given so far.
	((n > 1518)) && echo "--max-pkt-len=$((n + 18)) --mbuf-size=$((n + 256))"
	echo "--txpkts=$n"
}

# _dpdk_wait_started KIND SOCK LISTEN: bounded wait for the socket (listen)
# or for the port to come up; testpmd prints "Port 0: <mac>" once the
# vdev probed, and exits or reports "No probed ethernet devices" if not.
_dpdk_wait_started() {
	local kind=$1 sock=$2 listen=$3 sec=${DPDK_START_SEC:-30}
	local end=$((SECONDS + sec))
	while ((SECONDS < end)); do
		if ! vq_alive "$DPDK_PID"; then
			echo "dpdk: testpmd ($kind) exited during startup, see $DPDK_LOG" >&2
			dpdk_stop "$DPDK_PID"
			return 1
		fi
		if grep -qa 'No probed ethernet devices' "$DPDK_LOG" 2>/dev/null; then
			echo "dpdk: $kind vdev failed to probe, see $DPDK_LOG" >&2
			dpdk_stop "$DPDK_PID"
			return 1
		fi
		# virtio-user server=1 blocks its probe in accept() until the peer
		# connects, so for it a listening socket is all there is to see.
		if [[ $kind == virtio_user ]] && ((listen)); then
			_dpdk_sock_listening "$sock" && return 0
		elif grep -Eqa '^Port 0: ' "$DPDK_LOG" 2>/dev/null; then
			((listen == 0)) || _dpdk_sock_listening "$sock" && return 0
		fi
		sleep 0.1
	done
	echo "dpdk: testpmd ($kind) not up within ${sec} s, see $DPDK_LOG" >&2
	dpdk_stop "$DPDK_PID"
	return 1
}

dpdk_vhost_start() { _dpdk_start vhost "$@"; }
dpdk_virtio_user_start() { _dpdk_start virtio_user "$@"; }

dpdk_stop() {
	local pid=$1 rc=0 prefix
	vq_kill "$pid" INT 15 || rc=$?
	prefix=${_DPDK_PREFIX[$pid]:-}
	[[ -n $prefix ]] && rm -rf "/var/run/dpdk/$prefix"
	unset "_DPDK_PREFIX[$pid]"
	return "$rc"
}

dpdk_parse_stats() {
	local log=$1
	tr -d '\r' <"$log" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | awk '
		/Accumulated forward statistics for all ports/ { acc = 1; next }
		acc && /RX-packets:/ { arx = $2 }
		acc && /TX-packets:/ { atx = $2; adrop = $4; acc = 0; have = 1 }
		/^  RX-packets:/ && !acc { lrx = $2; if ($5 == "RX-bytes:") rxb = $6 }
		/^  TX-packets:/ && !acc { ltx = $2; if ($5 == "TX-bytes:") txb = $6 }
		/Rx-pps:/ { rxs = rxs " " $2 }
		/Tx-pps:/ { txs = txs " " $2 }
		END {
			if (!have) { arx = lrx; atx = ltx; adrop = 0 }
			printf "rx_packets=%.0f tx_packets=%.0f tx_dropped=%.0f rx_bytes=%.0f tx_bytes=%.0f\n", arx, atx, adrop, rxb, txb
			printf "rx_pps=%s\n", substr(rxs, 2)
			printf "tx_pps=%s\n", substr(txs, 2)
		}'
}

dpdk_median_pps() {
	local log=$1 dir=$2 skip=${3:-1}
	dpdk_parse_stats "$log" | awk -F= -v k="${dir}_pps" -v skip="$skip" '
		$1 == k {
			n = split($2, a, " ")
			for (i = 1; i <= n; i++) if (a[i] > 0) nz[c++] = a[i]
			for (i = skip; i < c - 1; i++) v[m++] = nz[i]
		}
		END {
			if (!m) { print 0; exit }
			for (i = 0; i < m; i++) for (j = i + 1; j < m; j++)
				if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			print (m % 2) ? v[int(m / 2)] : int((v[m / 2 - 1] + v[m / 2]) / 2)
		}'
}

# dpdk_wait_port LOG [SEC] [PID]: wait for testpmd's "Port 0: <mac>" line,
# i.e. the vdev probed (for virtio-user --server: the peer connected).
dpdk_wait_port() { dpdk_wait_log "$1" '^Port 0: ' "${2:-30}" "${3:-}"; }
