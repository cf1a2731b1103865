# shellcheck shell=bash source-path=SCRIPTDIR
# net.sh - drive virtq-net and virtq-user net in interop tests, read their
# exact totals, and testpmd's per-port totals.
#
#   net_begin NAME TAG [dpdk] BIN...
#                                the start every net script shares: defines
#                                skip() ("SKIP NAME: why", exit 77), skips
#                                unless each BIN is executable (and, with
#                                "dpdk", unless DPDK installs: needs dpdk.sh),
#                                makes WORK (kept with VIRTQ_KEEP=1, else
#                                removed at exit), exports DPDK_LOGDIR=WORK,
#                                sets FAILS=0 and N=0.
#   vn_start LOG MAXSEC ARG...   virtq-net ARG... --stats-json -v under
#                                vq_spawn; waits (10 s) until every --socket
#                                listens. Sets VN_PID. 1 if it died or did not
#                                listen (log kept).
#   vn_stop PID                  SIGINT (virtq-net prints its totals), KILL
#                                after 10 s; returns its exit status.
#   vn_total LOG PORT KEY        KEY (rx_packets, rx_bytes, tx_packets,
#                                tx_bytes, drops, errors) of PORT (the
#                                socket's file name) in the "total" line.
#   vn_layout LOG QUEUE          packed|split: how QUEUE was started (-v log).
#   vqu_count LOG KEY            KEY (tx_pkts, tx_bytes, tx_inflight, rx_pkts,
#                                rx_bytes, bad, lost, reorder, foreign,
#                                echo_drop) from virtq-user net's "counts:" line.
#   vqu_layout LOG               split|packed: the rings virtq-user reported.
#   vqu_layout_check LAYOUT LOG...
#                                prints " LOG runs X rings, want LAYOUT;" for
#                                each LOG whose virtq-user ran other rings.
#   vqu_pair SEC RXSOCK RXLOG TXSOCK TXLOG RXARG... -- ARG...
#                                the verified closed loop of two $VQU net
#                                ports: the receiver (--mode rx --verify,
#                                RXARG... ARG...) starts first and gets 10 s
#                                to start its rings, so that it owns its port
#                                before frames flow; then the sender (--mode tx
#                                --verify --cpu 0 ARG...) runs SEC s. The
#                                receiver outlives the sender (SIGINT once the
#                                frames on its ring were read), so that every
#                                frame has a live destination. Sets VQU_ERRS
#                                to " ...;" per problem ('' if none).
#   tp_port LOG PORT             testpmd's final per-port forward totals:
#                                "RX TX TX_DROPPED" (empty if none printed).
#   tp_bytes LOG PORT rx|tx      "PACKETS BYTES" from the last periodic NIC
#                                statistics block of PORT (to check sizes).
#   vqu_echo_check ULOG TPLOG    an echo run: virtq-user net --mode tx
#                                --verify (ULOG) against a testpmd in io
#                                forwarding (TPLOG) whose port 0 sends every
#                                frame back.  Sets UTX URX (virtq-user's
#                                totals), TRX TTX (testpmd port 0's) and
#                                ECHO_ERRS (" ...;" per problem, '' if none).
#   net_wait PID SEC             wait for PID (vq_spawn) to exit by itself, at
#                                most SEC s (then TERM); returns its status.
#   net_sanitized                true when SAN=1 or TSAN=1 (sanitizer builds: reduced matrices).
#   net_size_check WHAT PKTS BYTES SIZE [SLACK]
#                                prints " WHAT: ...;" unless BYTES is PKTS
#                                frames of SIZE bytes, give or take SLACK
#                                frames (testpmd's periodic statistics read
#                                the packet and byte counters of a running
#                                lcore one after the other: use 32).
#   tp_size_check WHAT LOG PORT rx|tx SIZE
#                                the same on testpmd's last periodic sample
#                                (silent if it counted no frame yet).
#   net_san_check LOG            prints " sanitizer report in LOG;" if any.
#   net_result NAME CASE ERRS DETAIL [LOG...]
#                                "PASS NAME CASE: DETAIL", or "FAIL NAME
#                                CASE: ERRS (DETAIL)" and the tails of the
#                                LOGs on stderr; returns 1 on FAIL.
#
# virtq-net counts rx = frames the port sent into the switch, tx = frames
# the switch delivered to the port. Every reader prints nothing when the
# value is missing, so compare with ${x:-missing} in messages.

if [[ -n ${_VIRTQ_NET_SH:-} ]]; then return 0; fi
_VIRTQ_NET_SH=1

_net_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$_net_lib/proc.sh"

net_sanitized() { [[ ${SAN:-} == 1 || ${TSAN:-} == 1 ]]; }

# shellcheck disable=SC2034 # FAILS, N, DPDK_LOGDIR: for the caller
net_begin() {
	local tag=$2 dpdk= b
	_NET_NAME=$1
	shift 2
	skip() { echo "SKIP $_NET_NAME: $*"; exit 77; }
	[[ ${1:-} == dpdk ]] && dpdk=1 && shift
	for b in "$@"; do [[ -x $b ]] || skip "$b not built"; done
	[[ -z $dpdk ]] || need_dpdk ||
		skip "DPDK (dpdk-dev, librte-net-vhost23, librte-net-virtio23) not installable"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/virtq-$tag.XXXXXX")
	if [[ -n ${VIRTQ_KEEP:-} ]]; then echo "  work dir kept: $WORK"; else vq_on_exit "rm -rf '$WORK'"; fi
	export DPDK_LOGDIR=$WORK
	FAILS=0
	N=0
}

_net_listening() {
	[[ -S $1 ]] || return 1
	command -v ss >/dev/null || return 0
	ss -xlH 2>/dev/null | awk -v p="$1" '$5 == p { f = 1 } END { exit !f }'
}

vn_start() {
	local log=$1 max=$2 a socks=() prev='' end
	shift 2
	for a in "$@"; do
		[[ $prev == --socket || $prev == -s ]] && socks+=("$a")
		prev=$a
	done
	for a in "${socks[@]}"; do rm -f "$a"; done
	vq_spawn "$log" "$max" "${VIRTQ_NET:?}" "$@" --stats-json -v
	VN_PID=$VQ_PID
	end=$((SECONDS + 10))
	for a in "${socks[@]}"; do
		until _net_listening "$a"; do
			vq_alive "$VN_PID" || { echo "virtq-net died at start, see $log" >&2; return 1; }
			((SECONDS < end)) || { echo "virtq-net: $a not listening after 10 s" >&2; return 1; }
			sleep 0.05
		done
	done
}

vn_stop() { vq_kill "$1" INT 10; }

vn_total() {
	grep -a '"total":true' "$1" | grep -a "\"port\":\"$2\"" | tail -n 1 |
		sed -n "s/.*\"$3\":\([0-9]*\).*/\1/p"
}

vn_layout() {
	grep -a "queue $2 started (" "$1" | tail -n 1 | sed -n 's/.*started (\([a-z]*\),.*/\1/p'
}

vqu_count() {
	grep -a '^counts: ' "$1" | tail -n 1 | awk -v k="$2" '{ for (i = 2; i < NF; i += 2) if ($i == k) print $(i + 1) }'
}

vqu_layout() { grep -ao '\(split\|packed\) rings of' "$1" | cut -d' ' -f1; }

vqu_layout_check() {
	local want=$1 v
	shift
	for v in "$@"; do
		[[ $(vqu_layout "$v") == "$want" ]] ||
			echo -n " $(basename "$v") runs $(vqu_layout "$v") rings, want $want;"
	done
}

vqu_pair() {
	local sec=$1 rsock=$2 rlog=$3 tsock=$4 tlog=$5 rargs=() rpid tpid rc end
	shift 5
	while (($#)) && [[ $1 != -- ]]; do rargs+=("$1"); shift; done
	shift
	VQU_ERRS=''
	vq_spawn "$rlog" $((sec + 70)) "$VQU" net --socket "$rsock" --mode rx --verify \
		--duration $((sec + 60)) "${rargs[@]}" "$@"
	rpid=$VQ_PID
	end=$((SECONDS + 10))
	until grep -aqs 'rings of' "$rlog" || ((SECONDS > end)) || ! vq_alive "$rpid"; do
		vq_sleep 0.05
	done
	vq_spawn "$tlog" $((sec + 40)) "$VQU" net --socket "$tsock" --mode tx --verify \
		--duration "$sec" --cpu 0 "$@"
	tpid=$VQ_PID
	net_wait "$tpid" $((sec + 30))
	rc=$?
	((rc == 0)) || VQU_ERRS+=" sender exited $rc;"
	vq_sleep 0.5
	vq_alive "$rpid" || VQU_ERRS+=" receiver exited early;"
	vq_kill "$rpid" INT 10
	rc=$?
	((rc == 0)) || VQU_ERRS+=" receiver exited $rc after SIGINT;"
}

_tp_clean() { tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g'; }

tp_port() {
	_tp_clean "$1" | awk -v p="$2" '
		/Forward statistics for port/ { cur = ($(NF - 1) == p) ; next }
		cur && /RX-packets:/ { rx = $2 }
		cur && /TX-packets:/ { tx = $2; drop = $4; cur = 0; have = 1 }
		END { if (have) print rx, tx, drop }'
}

tp_bytes() {
	_tp_clean "$1" | awk -v p="$2" -v d="$3" '
		/NIC statistics for port/ { cur = ($(NF - 1) == p); next }
		cur && d == "rx" && /RX-packets:/ { n = $2; b = $6 }
		cur && d == "tx" && /TX-packets:/ { n = $2; b = $6 }
		/TX-packets:/ { cur = 0 }
		END { if (n != "") print n, b }'
}

vqu_echo_check() {
	local bad lost reorder foreign
	ECHO_ERRS=''
	UTX=$(vqu_count "$1" tx_pkts) URX=$(vqu_count "$1" rx_pkts)
	bad=$(vqu_count "$1" bad) lost=$(vqu_count "$1" lost)
	reorder=$(vqu_count "$1" reorder) foreign=$(vqu_count "$1" foreign)
	read -r TRX TTX _ <<<"$(tp_port "$2" 0)"
	[[ -n $UTX && -n $URX && -n $TRX && -n $TTX ]] ||
		ECHO_ERRS+=" missing totals (virtq-user '$UTX/$URX', testpmd '$TRX/$TTX');"
	((${UTX:-0} > 0)) || ECHO_ERRS+=" nothing sent;"
	[[ ${URX:-x} == "${UTX:-y}" ]] || ECHO_ERRS+=" $URX of $UTX frames came back;"
	[[ "$bad $lost $reorder $foreign" == "0 0 0 0" ]] ||
		ECHO_ERRS+=" bad $bad lost $lost reorder $reorder foreign $foreign;"
	[[ ${TRX:-x} == "${TTX:-y}" ]] || ECHO_ERRS+=" testpmd received $TRX, sent $TTX;"
}

# net_wait PID SEC: wait up to SEC seconds for PID (from vq_spawn) to exit by
# itself, then collect it (vq_kill: TERM if still running). Its exit status.
net_wait() {
	local pid=$1 end=$((SECONDS + $2))
	while vq_alive "$pid" && ((SECONDS < end)); do vq_sleep 0.1; done
	vq_kill "$pid" TERM 5
}

net_size_check() {
	local slack=${5:-0} d
	[[ -n $2 && -n $3 ]] || { echo -n " $1: no byte count;"; return; }
	d=$(($3 - $2 * $4))
	(($2 > 0 && d == 0)) && return 0
	(($2 > slack && d <= slack * $4 && -d <= slack * $4)) ||
		echo -n " $1: $3 bytes in $2 frames, want $4 each;"
}

# tp_size_check WHAT LOG PORT rx|tx SIZE: net_size_check on testpmd's last
# periodic sample (slack 32); silent when no sample counted a frame yet
# (all the traffic came after the last one; the totals are checked anyway).
tp_size_check() {
	local n b
	read -r n b <<<"$(tp_bytes "$2" "$3" "$4")"
	((${n:-0} > 0)) || return 0
	net_size_check "$1" "$n" "$b" "$5" 32
}

net_san_check() {
	grep -aq 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|WARNING: ThreadSanitizer\|runtime error:' "$1" &&
		echo -n " sanitizer report in $(basename "$1");"
	return 0
}

net_result() {
	local name=$1 tag=$2 errs=$3 detail=$4 f
	shift 4
	if [[ -z $errs ]]; then
		echo "PASS $name $tag: $detail"
		return 0
	fi
	echo "FAIL $name $tag:$errs ($detail)"
	for f in "$@"; do
		[[ -f $f ]] || continue
		echo "---- tail of $(basename "$f") ----" >&2
		_tp_clean "$f" | grep -av '"time":' | tail -n 15 >&2
	done
	return 1
}
