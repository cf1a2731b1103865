#!/usr/bin/env bash
# ir-dpdk.sh - instructions per frame of DPDK's vhost PMD (testpmd with
# --vdev net_vhost0), the mirror image of ir-backend.sh: the vhost side runs
# under callgrind, its peer is a native testpmd virtio-user (split or
# packed, DPDK's default in_order=1 and mrg_rxbuf=1, as ir-backend.sh's peer).
#
#   bench/ir-dpdk.sh MODE RING [SEC]
#       MODE  b2g  vhost txonly --txpkts=64 into virtio-user rxonly
#             g2b  virtio-user txonly 64 B into vhost rxonly
#       RING  split | packed        SEC seconds of the long run [6]
#   bench/ir-dpdk.sh --scope CG NAME...
#       calls and inclusive Ir of the functions NAME in a callgrind output
#       (e.g. virtq-net's, kept by ir-backend.sh IR_CG=FILE)
#
# The vhost testpmd (valgrind --tool=callgrind --fair-sched=yes; without
# fair scheduling its vhost-user message thread starves behind the busy
# lcore and the peer's handshake times out) runs interactively, its stdin a
# FIFO: once the peer is connected ("virtio is now ready") it gets `start`,
# SEC seconds later `stop` (forward totals) and `quit`.  Forwarding lcore on
# CPU 1, the peer's on CPU 0.  Four runs, as ir-backend.sh:
#   busy, 2 s and SEC s: the peer moves frames as above;
#   idle, 2 s and SEC s: the peer is testpmd in interactive mode, its port
#     started and no forwarding: every vhost poll is idle (b2g: once the
#     receive buffers posted at start are filled).
# Idle polls, in full-burst equivalents (under callgrind a busy poll moves
# a full burst of 32; checked: 31.97 frames per non-empty dequeue): g2b
# calls of rte_vhost_dequeue_burst - frames/32; b2g TX-dropped/32 (txonly
# builds 32 frames per poll before it tries to send them and frees what was
# not sent).  c_idle and Ir/frame as
# in bench/lib/ir.sh (ir_per_frame).  Frames: testpmd's forward totals
# (b2g TX-packets, g2b RX-packets of the vhost port).
#
# Printed per scope (each idle-corrected with its own c_idle):
#   whole  the whole process (all threads, setup cancels in the difference)
#   lib    inclusive Ir of rte_vhost_enqueue_burst (b2g) or
#          rte_vhost_dequeue_burst (g2b): the vhost library's data path
#          (descriptors, copy, used ring, notify; g2b: mbuf allocation)
#   pmd    inclusive Ir of the net_vhost function that calls lib (eth_vhost_tx
#          / eth_vhost_rx; stripped, found by its call): lib + PMD stats, and
#          b2g: freeing the sent mbufs
#   (g2b: rxonly frees the mbufs inline in testpmd, in whole only)
# IR_CG=FILE keeps the long busy run's callgrind output, IR_TOP=N prints its
# N functions with the most exclusive Ir (ir_extras).
#
#   bench/ir-dpdk.sh --frontend MODE RING [SEC]
#       the mirror image: DPDK's virtio-user PMD (testpmd --vdev
#       net_virtio_user0,path=SOCK,queue_size=Q[,packed_vq=1]; DPDK's default
#       in_order=1, mrg_rxbuf=1) under callgrind, set beside ir-frontend.sh's
#       virtq-user; its peer a native testpmd vhost (started first,
#       listening; forwarding lcore on CPU 1, the measured one's on CPU 0, as
#       ir-frontend.sh).  MODE b2g: vhost txonly 64 B into virtio-user rxonly;
#       g2b: virtio-user txonly 64 B into vhost rxonly.  Q = IR_QSIZE [256,
#       virtq-user's --qsize default, which ir-frontend.sh keeps].  Same four
#       runs (idle: the vhost peer interactive, its port started, no
#       forwarding), the same idle polls by forward mode (txonly:
#       TX-dropped/32; rxonly: calls of lib - frames/32), frames from the
#       virtio-user port (b2g RX-packets, g2b TX-packets).  Scopes:
#   whole  the whole virtio-user process
#   lib    the virtio PMD burst function testpmd calls (rte_eth_rx_burst /
#          tx_burst are inline; the .so is stripped, so: the function of
#          librte_net_virtio called most from dpdk-testpmd), its Ir summed
#          over the call arcs into it (call to return: everything it runs and
#          calls; a stripped function is split into per-block pseudo
#          functions, so its own fn= lines would miss most of it).  b2g
#          virtio_recv_pkts_inorder (split) / virtio_recv_mergeable_pkts_packed
#          (packed): used ring, mbuf init, refill (mbuf allocation, avail
#          ring, notify check); g2b virtio_xmit_pkts_inorder / _packed:
#          cleanup of used descriptors (freeing the sent mbufs), header,
#          descriptors, notify check.  The variant is printed from the PMD's
#          init log (pmd.net.virtio.init:info).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../tests/interop/lib/dpdk.sh
. "$here/../tests/interop/lib/dpdk.sh"
# shellcheck source=SCRIPTDIR/lib/ir.sh
. "$here/lib/ir.sh"

# _cg_table CG: one line per function: id calls incl name object inarc
# (calls and inclusive Ir over the whole file, self-recursive calls left out;
# inarc: the inclusive Ir of the call arcs into it), then one
# line per call arc: "arc" caller-id callee-id.
_cg_table() {
	awk '
	function nm(s, t,   id, r) {
		if (match(s, /^\([0-9]+\)/)) {
			id = substr(s, 2, RLENGTH - 2); r = substr(s, RLENGTH + 1); sub(/^ /, "", r)
			if (r != "") name[t, id] = r
			return id
		}
		return s
	}
	/^ob=/ { ob = nm(substr($0, 4), "o"); next }
	/^cob=/ { cob = nm(substr($0, 5), "o"); next }
	/^fn=/ { fn = nm(substr($0, 4), "f"); if (!(fn in fob)) fob[fn] = ob; cob = ""; next }
	/^cfn=/ { cfn = nm(substr($0, 5), "f"); if (!(cfn in fob)) fob[cfn] = (cob != "" ? cob : ob); next }
	/^calls=/ { split(substr($0, 7), a, " "); ncall = a[1]; incall = 1; next }
	/^[0-9+*-]/ {
		if (incall) {
			incall = 0
			if (cfn != fn) { calls[cfn] += ncall; incl[fn] += $2; arc[fn SUBSEP cfn] = 1; inarc[cfn] += $2 }
			cob = ""
		} else incl[fn] += $2
		seen[fn] = 1
		next
	}
	END {
		for (f in fob) {
			o = name["o", fob[f]]; sub(/.*\//, "", o)
			printf "%s %.0f %.0f %s %s %.0f\n", f, calls[f], incl[f], (("f", f) in name) ? name["f", f] : f, o, inarc[f]
		}
		for (k in arc) { split(k, p, SUBSEP); printf "arc %s %s\n", p[1], p[2] }
	}' "$1"
}

# _scope TABLE NAME...: "calls incl" summed over the functions named NAME;
# a NAME "callers-of:X@OBJ" stands for the functions of object OBJ that
# call X; "top-callee:OBJ1@OBJ2" for the function of OBJ2 called from OBJ1
# with the most calls, its Ir counted over the call arcs into it (inarc).
_scope() {
	local t=$1
	shift
	awk -v want="$*" '
	BEGIN { n = split(want, w, " ") }
	$1 == "arc" { arcs[++na] = $2 " " $3; next }
	{ nm[$1] = $4; ob[$1] = $5; c[$1] = $2; inc[$1] = $3; ina[$1] = $6 }
	END {
		for (i = 1; i <= n; i++) {
			if (w[i] ~ /^callers-of:/) {
				split(substr(w[i], 12), p, "@")
				for (j = 1; j <= na; j++) {
					split(arcs[j], e, " ")
					if (nm[e[2]] == p[1] && index(ob[e[1]], p[2]) == 1) pick[e[1]] = 1
				}
			} else if (w[i] ~ /^top-callee:/) {
				split(substr(w[i], 12), p, "@"); best = ""
				for (j = 1; j <= na; j++) {
					split(arcs[j], e, " ")
					if (index(ob[e[1]], p[1]) == 1 && index(ob[e[2]], p[2]) == 1 &&
					    (best == "" || c[e[2]] > c[best])) best = e[2]
				}
				if (best != "") { pick[best] = 1; inc[best] = ina[best] }
			} else for (f in nm) if (nm[f] == w[i]) pick[f] = 1
		}
		for (f in pick) { sc += c[f]; si += inc[f] }
		printf "%.0f %.0f\n", sc, si
	}' "$t"
}

if [[ ${1:-} == --scope ]]; then
	cg=${2:?CG}
	shift 2
	tab=$(mktemp /tmp/vq-ird-tab.XXXXXX)
	_cg_table "$cg" >"$tab"
	for n in "$@"; do printf '%s calls/incl %s\n' "$n" "$(_scope "$tab" "$n")"; done
	rm -f "$tab"
	exit 0
fi

side=backend
[[ ${1:-} == --frontend ]] && { side=frontend; shift; }
mode=${1:?MODE b2g|g2b}
ring=${2:?RING split|packed}
sec=${3:-6}
case $mode in b2g | g2b) ;; *) echo "ir-dpdk: mode $mode?" >&2; exit 2 ;; esac
case $ring in split | packed) ;; *) echo "ir-dpdk: ring $ring?" >&2; exit 2 ;; esac
qsize=${IR_QSIZE:-256}
FIFO_EAL=()
[[ $side == frontend ]] && FIFO_EAL=(--log-level=pmd.net.virtio.init:info)
need_pkgs valgrind || { echo "ir-dpdk: valgrind missing" >&2; exit 77; }
need_dpdk || { echo "ir-dpdk: dpdk missing" >&2; exit 77; }
tmp=$(mktemp -d /tmp/vq-ird.XXXXXX)
# shellcheck disable=SC2016 # expanded at exit
[[ -n ${IR_KEEP:-} ]] || vq_on_exit 'rm -rf "$tmp"'

# _fifo_testpmd LOG PREFIX LCORES VDEV [TESTPMD-APP-ARG...]: testpmd in
# interactive mode, its stdin a FIFO held open (fd FIFO_FD) so that it waits
# at its prompt for what we write there; run under the command in the array
# WRAP (may be empty), with the extra EAL arguments in the array FIFO_EAL.
# Sets FIFO_PID, FIFO_FD.
_fifo_testpmd() {
	local log=$1 prefix=$2 lcores=$3 vdev=$4 fifo
	shift 4
	fifo=$tmp/$prefix.in
	mkfifo "$fifo"
	exec {FIFO_FD}<>"$fifo"
	rm -rf "/var/run/dpdk/$prefix"
	timeout --foreground -k 5 $((sec + 600)) stdbuf -oL "${WRAP[@]}" dpdk-testpmd \
		--lcores "$lcores" --no-huge -m "${DPDK_MEM:-256}" --no-pci --single-file-segments \
		--file-prefix="$prefix" --vdev "$vdev" "${FIFO_EAL[@]}" -- -i --total-num-mbufs="${DPDK_MBUFS:-16384}" \
		--txpkts=64 "$@" <"$fifo" >"$log" 2>&1 &
	FIFO_PID=$!
	VQ_PIDS+=("$FIFO_PID")
	_DPDK_PREFIX[$FIFO_PID]=$prefix
}

# _die MSG LOG: MSG and LOG's tail on stderr, exit 1
_die() {
	echo "ir-dpdk: $1, see:" >&2
	tail -n 30 "$2" >&2
	exit 1
}

# _wait_listen SOCK PID LOG: bounded wait until the vhost testpmd PID listens
_wait_listen() {
	local end=$((SECONDS + 120))
	until _dpdk_sock_listening "$1"; do
		if ((SECONDS >= end)) || ! vq_alive "$2"; then
			_die "vhost testpmd did not listen" "$3"
		fi
		sleep 0.2
	done
}

# _measured LCORE-CPU VDEV: the measured testpmd (fwd), under callgrind;
# sets vfd vpid (one_run's locals)
_measured() {
	WRAP=(valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$CG")
	_fifo_testpmd "$log" "$pfx" "$(_dpdk_lcores "$1")" "$2" --forward-mode="$fwd"
	vfd=$FIFO_FD vpid=$FIFO_PID
}

# _peer KIND STARTER VDEV CPU [OPT...]: the native peer; idle: testpmd in
# interactive mode, port started, no forwarding; busy: STARTER (dpdk.sh)
# forwarding pfwd.  Sets pe pfd plog (one_run's locals)
_peer() {
	local k=$1 starter=$2 vdev=$3 cpu=$4
	shift 4
	if [[ $k == idle ]]; then
		WRAP=()
		_fifo_testpmd "$plog" "${pfx}p" "$(_dpdk_lcores "$cpu")" "$vdev"
		pe=$FIFO_PID pfd=$FIFO_FD
	else
		DPDK_MAXSEC=$((s + 600)) DPDK_LOGDIR=$tmp DPDK_START_SEC=120 \
			"$starter" "$sock" "${pfx}p" "$pfwd" --size 64 --cpu "$cpu" "$@" \
			>/dev/null || _die "peer testpmd did not start" "$DPDK_LOG"
		pe=$DPDK_PID plog=$DPDK_LOG
	fi
}

# one_run busy|idle SEC TAG: sets IR FRAMES DROPPED CG TAB
one_run() {
	local kind=$1 s=$2 tag=$3 sock pfx log plog fwd pfwd q="" vfd vpid pe pfd='' vlog
	CG=$tmp/$tag.cg TAB=$tmp/$tag.tab
	sock=$tmp/$tag.sock pfx=vqird$$$tag log=$tmp/$tag.log plog=$tmp/$tag-peer.log
	if [[ $mode == b2g ]]; then fwd=txonly pfwd=rxonly; else fwd=rxonly pfwd=txonly; fi
	[[ $ring == packed ]] && q=",packed_vq=1"
	if [[ $side == backend ]]; then
		# vhost measured: main lcore on CPU 0, forwarding lcore 1 on CPU 1
		_measured 1 "net_vhost0,iface=$sock,queues=1"
		_wait_listen "$sock" "$vpid" "$log"
		local popt=()
		[[ $ring == packed ]] && popt+=(--packed)
		_peer "$kind" dpdk_virtio_user_start "net_virtio_user0,path=$sock,queues=1$q" 0 \
			"${popt[@]}"
		vlog=$log
	else
		# the roles swap: virtio-user (measured) txonly for g2b
		local t=$fwd
		fwd=$pfwd pfwd=$t
		_peer "$kind" dpdk_vhost_start "net_vhost0,iface=$sock,queues=1" 1
		[[ $kind == idle ]] && _wait_listen "$sock" "$pe" "$plog"
		_measured 0 "net_virtio_user0,path=$sock,queues=1,queue_size=$qsize$q"
		vlog=$plog
	fi
	dpdk_wait_log "$vlog" 'virtio is now ready for processing' 180 "$vpid" ||
		_die "vhost device not ready (logs $log $plog)" "$vlog"
	echo start >&"$vfd"
	vq_sleep "$s"
	echo stop >&"$vfd"
	dpdk_wait_log "$log" 'Accumulated forward statistics' 120 "$vpid" ||
		_die "measured testpmd did not stop" "$log"
	echo quit >&"$vfd"
	vq_kill "$vpid" CONT 180 || true # waits (180 s) for the exit, callgrind's dump
	dpdk_stop "$pe" || true
	exec {vfd}>&-
	[[ -n $pfd ]] && exec {pfd}>&-
	[[ -s $CG ]] || _die "no callgrind output" "$log"
	IR=$(awk '/^summary:/ { print $2 }' "$CG")
	local st
	st=$(dpdk_parse_stats "$log" | head -n 1)
	# shellcheck disable=SC2001 # one pattern a field, as written
	if [[ $fwd == txonly ]]; then FRAMES=$(sed 's/.*tx_packets=\([0-9]*\).*/\1/' <<<"$st")
	else FRAMES=$(sed 's/.*rx_packets=\([0-9]*\).*/\1/' <<<"$st"); fi
	# shellcheck disable=SC2001
	DROPPED=$(sed 's/.*tx_dropped=\([0-9]*\).*/\1/' <<<"$st")
	_cg_table "$CG" >"$TAB"
	[[ $side == frontend ]] && grep -aoE 'virtio: using [^,]* (Rx|Tx) path' "$log" |
		sort -u | sed "s/^/ir-dpdk: $tag: /" >&2
	return 0
}

# scopes: name and the functions in it ("" = whole process); mfwd: the
# measured testpmd's forward mode
if [[ $side == frontend ]]; then
	lib=top-callee:dpdk-testpmd@librte_net_virtio
	scopes=(whole lib)
	if [[ $mode == b2g ]]; then mfwd=rxonly; else mfwd=txonly; fi
elif [[ $mode == b2g ]]; then
	lib=rte_vhost_enqueue_burst
	scopes=(whole lib pmd)
	mfwd=txonly
else
	lib=rte_vhost_dequeue_burst
	scopes=(whole lib pmd)
	mfwd=rxonly
fi
_fns() {
	case $1 in
	lib) echo "$lib" ;;
	pmd) echo "callers-of:$lib@librte_net_vhost" ;;
	esac
}
# _idle_polls TAB: idle polls of a run (see the header)
_idle_polls() {
	local polls
	if [[ $mfwd == txonly ]]; then
		echo $(((DROPPED + 16) / 32))
	else
		polls=$(_scope "$1" "$lib" | cut -d' ' -f1)
		echo $((polls - (FRAMES + 16) / 32))
	fi
}
declare -A ir
run4() {
	local k sc t
	for k in i1:idle:2 i2:idle:$sec b1:busy:2 b2:busy:$sec; do
		IFS=: read -r t kind s <<<"$k"
		one_run "$kind" "$s" "$t"
		ir[$t:f]=$FRAMES ir[$t:p]=$(_idle_polls "$TAB")
		echo "ir-dpdk: $t: frames $FRAMES dropped $DROPPED lib calls/Ir" \
			"$(_scope "$TAB" "$lib") idle polls ${ir[$t:p]}" >&2
		for sc in "${scopes[@]}"; do
			# shellcheck disable=SC2046 # _fns: several names
			if [[ $sc == whole ]]; then ir[$t:$sc]=$IR
			else ir[$t:$sc]=$(_scope "$TAB" $(_fns "$sc") | cut -d' ' -f2); fi
		done
	done
}
run4
for sc in "${scopes[@]}"; do
	ir_per_frame ir-dpdk "$mode $ring 64 $sc" "${ir[i1:$sc]}" "${ir[i1:p]}" "${ir[i2:$sc]}" \
		"${ir[i2:p]}" "${ir[b1:$sc]}" "${ir[b1:f]}" "${ir[b1:p]}" "${ir[b2:$sc]}" \
		"${ir[b2:f]}" "${ir[b2:p]}"
done
ir_extras "$CG"
