# shellcheck shell=bash source-path=SCRIPTDIR
# net-peers.sh - one measured run of a vhost-user net pair, whichever side is
# DPDK and whichever is virtq; shared by bench/net.sh and bench/frontend.sh.
#
#   np_run BACKEND FRONTEND DIR SIZE RING SEC
#       BACKEND   dpdk (testpmd net_vhost)  or  virtq (virtq-net --sink/--source)
#       FRONTEND  dpdk (testpmd net_virtio_user)  or  virtq (virtq-user net)
#       DIR       g2b: the frontend transmits, the backend receives
#                 b2g: the backend transmits, the frontend receives
#       SIZE      frame bytes (no FCS)   RING split|packed   SEC seconds
#     The backend's busy poller runs on CPU 1, the frontend's on CPU 0.
#     Sets, from the 1 s samples taken while both sides still run (median,
#     less the first and last non-zero sample):
#       NP_FE_PPS  the frontend's rate (g2b: its TX, b2g: its RX)
#       NP_BE_PPS  the backend's rate  (g2b: its RX, b2g: its TX)
#       NP_FE_FRAME / NP_BE_FRAME  bytes per packet a testpmd counted (0: n/a)
#       NP_BE_RSS  "VmRSS RssAnon RssShmem" of the backend process in KiB
#       NP_BE_CMD / NP_FE_CMD  the exact command lines (from /proc)
#       NP_BE_PID, NP_FE_PID  pids of the two processes themselves (for perf)
#     NP_HOOK, when set, is eval'd once both sides run (e.g. a profiler).
#     Returns 0 when both rates are non-zero.
#
#   np_table SIDE LABEL TARGET RUNS SEC "DIRS" "SIZES" "RINGS"
#       The comparison table both net benches print: for each dir, size and
#       ring, RUNS rounds of (DPDK, virtq) runs interleaved, virtq on SIDE
#       (be: virtq-net against testpmd's vhost PMD, measured by the DPDK
#       frontend's count; fe: virtq-user against testpmd's virtio-user,
#       measured by the DPDK backend's count).  LABEL prefixes progress
#       lines; TARGET is the 64 B ratio to pass.  Sets NP_ROWS (Markdown table
#       rows), NP_MIN_IDLE (lowest CPU idle % before a round), NP_CMDS
#       (assoc, PEER.DIR -> command lines of the 64 B split round 1: the
#       DPDK-measured side first), NP_RSS (assoc, PEER.DIR -> the backend's
#       "VmRSS,RssAnon,RssShmem" per run, space-separated).
#
#       Calibration: before its rounds, each cell first runs the DPDK<->DPDK
#       pair alone (np_calibrate) and compares it with DPDK's best on this
#       machine for that cell (NP_BEST_FILE).  A cell whose calibration or
#       DPDK median falls below NP_CAL_MIN (0.8) of that best is flagged: its
#       verdict reads "flagged" instead of pass/miss, and it is not a result.
#       Sets NP_CAL_ROWS (Markdown rows: dir, ring, size, calibration, best,
#       ratio, status) and NP_FLAGGED (the number of flagged cells).
#
#   np_calibrate DIR SIZE RING SEC
#       One DPDK vhost <-> DPDK virtio-user run of the cell.  Sets NP_CAL_PPS
#       and NP_CAL_BEST (pps: the best known for the cell, this run
#       included); prints "calibration: ..." on stderr.
#   np_best_update DIR SIZE RING PPS
#       Raise the cell's best in NP_BEST_FILE (not with BENCH_QUICK=1).
#
#   np_median N...      median (integers or decimals)
#   np_mpps PPS         "12.345"          np_gbps PPS SIZE   "1.234"
#   np_ratio A B        A / B, "1.234", or "n/a" when B is 0
#   np_load_header      bench_load_header (stats.sh)
#
# Every process runs under proc.sh (timeout-bounded, killed on exit); DPDK
# prefixes go from /var/run/dpdk on stop and on exit.

# shellcheck disable=SC2034 # NP_* are the results, read by the callers
if [[ -n ${_VIRTQ_NET_PEERS_SH:-} ]]; then return 0; fi
_VIRTQ_NET_PEERS_SH=1

_np_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/dpdk-pair.sh
. "$_np_lib/dpdk-pair.sh"
# shellcheck source=SCRIPTDIR/stats.sh
. "$_np_lib/stats.sh"
NP_BIN=${VIRTQ_BIN:-$_np_lib/../../build/bin}
# DPDK's best Mpps per cell on this machine: "dir size ring pps date" lines
NP_BEST_FILE=${NP_BEST_FILE:-$_np_lib/../../docs/perf/dpdk-best.tsv}
NP_CAL_MIN=${NP_CAL_MIN:-0.8}
NP_TMP=$(mktemp -d /tmp/vq-bench-net.XXXXXX)
# shellcheck disable=SC2016 # expanded at exit
vq_on_exit 'rm -rf "$NP_TMP"'
_np_seq=0

# _np_child PID: the process timeout(1) PID runs (stdbuf execs its command).
_np_child() {
	local c
	c=$(cat "/proc/$1/task/$1/children" 2>/dev/null)
	[[ -n $c ]] || c=$(pgrep -P "$1" | head -1)
	echo "${c%% *}"
}

_np_cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | sed 's/ $//'; }

_np_rss() { # PID -> "VmRSS RssAnon RssShmem" (KiB)
	awk '/^VmRSS:/ { a = $2 } /^RssAnon:/ { b = $2 } /^RssShmem:/ { c = $2 }
		END { print a + 0, b + 0, c + 0 }' "/proc/$1/status" 2>/dev/null
}

np_median() { bench_median "$@"; }
np_mpps() { awk -v p="$1" 'BEGIN { printf "%.3f", p / 1e6 }'; }
np_gbps() { awk -v p="$1" -v s="$2" 'BEGIN { printf "%.3f", p * s * 8 / 1e9 }'; }
np_ratio() { bench_ratio "$@"; }

np_load_header() { bench_load_header; }

# _np_testpmd_frame LOG rx|tx: bytes per packet in testpmd's last periodic
# block (packets and bytes from the same block).
_np_testpmd_frame() {
	tr -d '\r' <"$1" | awk -v d="$2" '
		d == "rx" && /^  RX-packets:/ && $5 == "RX-bytes:" { p = $2; b = $6 }
		d == "tx" && /^  TX-packets:/ && $5 == "TX-bytes:" { p = $2; b = $6 }
		END { printf "%.0f\n", (p > 0) ? b / p : 0 }'
}

# _np_vn_samples LOG rx|tx: virtq-net's per-second JSON rates.
_np_vn_samples() {
	grep -a '^{' "$1" | grep -av '"total"' |
		sed -n "s/.*\"$2_pps\":\([0-9.]*\).*/\1/p" | tr '\n' ' '
}

# _np_vu_samples LOG tx|rx: virtq-user's per-second Mpps, as pps.
_np_vu_samples() {
	grep -a '^\[' "$1" | awk -v d="$2" '{
		for (i = 1; i < NF; i++) if ($i == d) { printf "%.0f ", $(i + 1) * 1e6; break } }'
}

_np_start_backend() { # KIND DIR SIZE SOCK TAG SEC -> _np_be_pid _np_be_log
	local kind=$1 dir=$2 size=$3 sock=$4 tag=$5 sec=$6 mode=() fwd=rxonly
	if [[ $kind == dpdk ]]; then
		[[ $dir == b2g ]] && fwd=txonly
		DPDK_MAXSEC=$((sec + 90)) dpdk_vhost_start "$sock" "vqnb$tag" "$fwd" \
			--size "$size" --cpu 1 || return 1
		_np_be_pid=$DPDK_PID _np_be_log=$DPDK_LOG
		return 0
	fi
	mode=(--sink)
	[[ $dir == b2g ]] && mode=(--source "$size")
	_np_be_log=$NP_TMP/virtq-net-$tag.log
	rm -f "$sock"
	vq_spawn "$_np_be_log" $((sec + 90)) "$NP_BIN/virtq-net" --socket "$sock" \
		--cpus 1 --workers 1 --poll busy --stats 1 --stats-json "${mode[@]}"
	_np_be_pid=$VQ_PID
	local end=$((SECONDS + 20))
	while ((SECONDS < end)); do
		_dpdk_sock_listening "$sock" && return 0
		vq_alive "$_np_be_pid" || break
		sleep 0.1
	done
	echo "net-peers: virtq-net did not listen on $sock, see $_np_be_log" >&2
	vq_kill "$_np_be_pid" TERM 5
	return 1
}

_np_start_frontend() { # KIND DIR SIZE RING SOCK TAG SEC -> _np_fe_pid _np_fe_log
	local kind=$1 dir=$2 size=$3 ring=$4 sock=$5 tag=$6 sec=$7 fwd=txonly umode=tx opt=()
	if [[ $kind == dpdk ]]; then
		[[ $dir == b2g ]] && fwd=rxonly
		[[ $ring == packed ]] && opt+=(--packed)
		DPDK_MAXSEC=$((sec + 90)) dpdk_virtio_user_start "$sock" "vqnf$tag" "$fwd" \
			--size "$size" --cpu 0 "${opt[@]}" || return 1
		_np_fe_pid=$DPDK_PID _np_fe_log=$DPDK_LOG
		return 0
	fi
	[[ $dir == b2g ]] && umode=rx
	[[ $ring == packed ]] && opt+=(--packed)
	_np_fe_log=$NP_TMP/virtq-user-$tag.log
	# it runs 3 s longer than we sample, so that samples are taken while it runs
	vq_spawn "$_np_fe_log" $((sec + 60)) stdbuf -oL "$NP_BIN/virtq-user" net \
		--socket "$sock" --mode "$umode" --size "$size" --duration $((sec + 3)) \
		--cpu 0 "${opt[@]}"
	_np_fe_pid=$VQ_PID
	if ! dpdk_wait_log "$_np_fe_log" '^virtq-user net: ' 20 "$_np_fe_pid"; then
		echo "net-peers: virtq-user did not start, see $_np_fe_log" >&2
		vq_kill "$_np_fe_pid" TERM 5
		return 1
	fi
}

_np_stop() { # KIND PID
	if [[ $1 == dpdk ]]; then dpdk_stop "$2" || true
	else vq_kill "$2" INT 10 || true; fi
}

np_run() {
	local be=$1 fe=$2 dir=$3 size=$4 ring=$5 sec=$6 sock tag bec fec
	local be_d=rx fe_d=tx
	[[ $dir == b2g ]] && { be_d=tx; fe_d=rx; }
	_np_seq=$((_np_seq + 1))
	tag=$$x$_np_seq
	sock=$NP_TMP/s$_np_seq.sock
	NP_FE_PPS=0 NP_BE_PPS=0 NP_FE_FRAME=0 NP_BE_FRAME=0 NP_BE_RSS="0 0 0"
	NP_BE_CMD='' NP_FE_CMD='' NP_BE_PID='' NP_FE_PID=''
	_np_start_backend "$be" "$dir" "$size" "$sock" "$tag" "$sec" || return 1
	if ! _np_start_frontend "$fe" "$dir" "$size" "$ring" "$sock" "$tag" "$sec"; then
		_np_stop "$be" "$_np_be_pid"
		return 1
	fi
	bec=$(_np_child "$_np_be_pid") fec=$(_np_child "$_np_fe_pid")
	NP_BE_PID=$bec NP_FE_PID=$fec
	NP_BE_CMD=$(_np_cmdline "$bec") NP_FE_CMD=$(_np_cmdline "$fec")
	[[ -n ${NP_HOOK:-} ]] && eval "$NP_HOOK"
	vq_sleep "$sec"
	NP_BE_RSS=$(_np_rss "$bec")
	# read the rates now, while both still run: a stopping peer's last
	# seconds are not representative
	if [[ $be == dpdk ]]; then
		NP_BE_PPS=$(dpdk_median_pps "$_np_be_log" "$be_d" 1)
	else
		NP_BE_PPS=$(bench_median_samples "$(_np_vn_samples "$_np_be_log" "$be_d")")
	fi
	if [[ $fe == dpdk ]]; then
		NP_FE_PPS=$(dpdk_median_pps "$_np_fe_log" "$fe_d" 1)
	else
		NP_FE_PPS=$(bench_median_samples "$(_np_vu_samples "$_np_fe_log" "$fe_d")")
	fi
	_np_stop "$fe" "$_np_fe_pid"
	_np_stop "$be" "$_np_be_pid"
	[[ $be == dpdk ]] && NP_BE_FRAME=$(_np_testpmd_frame "$_np_be_log" "$be_d")
	[[ $fe == dpdk ]] && NP_FE_FRAME=$(_np_testpmd_frame "$_np_fe_log" "$fe_d")
	if [[ ${BENCH_KEEP_LOGS:-0} == 1 ]]; then
		mkdir -p /tmp/vq-bench-logs
		cp "$_np_be_log" "/tmp/vq-bench-logs/$tag-be-$be-$dir-$size-$ring.log"
		cp "$_np_fe_log" "/tmp/vq-bench-logs/$tag-fe-$fe-$dir-$size-$ring.log"
	fi
	rm -f "$sock" "$_np_be_log" "$_np_fe_log"
	[[ $NP_FE_PPS -gt 0 && $NP_BE_PPS -gt 0 ]]
}

# _np_pause_share DATA SYM: percent of all samples that SYM spent on the
# instruction after its `pause` (virtq-net's idle spin); empty if none.
_np_pause_share() {
	local tot
	tot=$(perf report -i "$1" --stdio --no-children --sort sym 2>/dev/null |
		awk -v s="$2" '$NF == s { sub(/%/, "", $1); print $1; exit }')
	[[ -n $tot ]] || return 0
	perf annotate -i "$1" --stdio -s "$2" 2>/dev/null | awk -v t="$tot" '
		/:[[:space:]]+[0-9a-f]+:[[:space:]]+pause/ { p = 1; next }
		p && /^[[:space:]]+[0-9.]+ :[[:space:]]+[0-9a-f]+:/ { printf "%.1f", $1 * t / 100; exit }'
}

# np_profile SIDE BE FE DIR SIZE RING SEC: np_run with `perf record -e
# cpu-clock` attached to SIDE's process (be|fe) for SEC-3 s; sets NP_PROF
# to the top symbols (perf report --no-children --sort sym, above 1%).
# NP_PROF_IDLE: the percent of samples virtq-net's worker spent idle (the
# instruction after the pause of its empty-poll loop), when it applies.
# Call it in the current shell, not in $(...), like np_run.  Returns 1
# when perf is missing or recorded nothing.
np_profile() {
	local side=$1 data psec=$(($7 > 6 ? $7 - 3 : 3))
	shift
	NP_PROF=
	command -v perf >/dev/null || return 1
	data=$NP_TMP/perf.data
	rm -f "$data"
	_np_perf_pid=
	# shellcheck disable=SC2016 # expanded by eval inside np_run
	NP_HOOK='_np_perf_target=$NP_BE_PID; [[ '"$side"' == fe ]] && _np_perf_target=$NP_FE_PID
		vq_spawn "$NP_TMP/perf.log" $((psec + 30)) perf record -q -e cpu-clock -F 999 \
			-o "$data" -p "$_np_perf_target" -- sleep "$psec"; _np_perf_pid=$VQ_PID'
	np_run "$@" || true
	NP_HOOK=
	[[ -n $_np_perf_pid ]] && vq_kill "$_np_perf_pid" INT 20
	[[ -s $data ]] || return 1
	NP_PROF=$(perf report -i "$data" --stdio --no-children --sort sym --percent-limit 1 \
		2>/dev/null | grep -v '^#' | grep -v '^[[:space:]]*$' | head -25)
	NP_PROF_IDLE=$(_np_pause_share "$data" worker_main)
	[[ -n $NP_PROF ]]
}

# np_cal_table: the calibration rows of the last np_table, as Markdown.
np_cal_table() {
	cat <<MD
#### Calibration: DPDK vhost <-> DPDK virtio-user, each cell first

Before a cell's interleaved rounds, the DPDK pair runs alone once (the
receiver's count).  *best* is DPDK's best for the cell on this machine
(\`${NP_BEST_FILE#"$_np_lib"/../../}\`, raised by every run of the pair,
calibration or round); a cell whose calibration or DPDK median is below
${NP_CAL_MIN} of it is **flagged**: its ratio is not a result.  Flagged cells: ${NP_FLAGGED}.

*probe* is the cross-CPU probe taken just before the calibration: the
SPSC pointer-ring pair of \`virtq-bench ring --layout spsc --batch 1\`
between CPU 0 and CPU 1, in Mops/s (no virtio, no DPDK: how fast the two
vCPUs pass a cache line at that moment).

| dir | ring | frame B | calibration Mpps | DPDK best Mpps | calibration / best | probe Mops/s | status |
|-----|------|------:|------:|------:|------:|------:|------|
MD
	printf '%s\n' "${NP_CAL_ROWS[@]}"
}

_np_best() { # DIR SIZE RING -> best pps known, 0 when none
	awk -v d="$1" -v s="$2" -v r="$3" '$1 == d && $2 == s && $3 == r && $4 > b { b = $4 }
		END { print b + 0 }' "$NP_BEST_FILE" 2>/dev/null || echo 0
}

np_best_update() {
	local old
	[[ ${BENCH_QUICK:-0} == 1 ]] && return 0
	old=$(_np_best "$1" "$2" "$3")
	(($4 > old)) || return 0
	mkdir -p "$(dirname "$NP_BEST_FILE")"
	{ grep -v "^$1 $2 $3 " "$NP_BEST_FILE" 2>/dev/null
	  echo "$1 $2 $3 $4 $(date -u +%Y-%m-%dT%H:%MZ)"; } | sort >"$NP_BEST_FILE.tmp" &&
		mv "$NP_BEST_FILE.tmp" "$NP_BEST_FILE"
}

# np_probe: NP_PROBE = Mops/s of virtq-bench's SPSC pointer-ring pair at
# batch 1 between CPU 0 and CPU 1 (under a second): how fast this VM's two
# vCPUs hand a cache line to each other right now.  It involves no virtio
# and no DPDK, so when it moves with the calibration, the machine moved.
np_probe() {
	NP_PROBE=$("$NP_BIN/virtq-bench" ring --layout spsc --batch 1 --count 1M --reps 3 \
		--warmup 100k --cpus 0,1 2>/dev/null | awk '$1 == "spsc" && $2 == 1 { print $3; exit }')
	NP_PROBE=${NP_PROBE:-n/a}
}

np_calibrate() {
	local dir=$1 size=$2 ring=$3 sec=$4 m
	NP_CAL_PPS=0
	np_probe
	np_run dpdk dpdk "$dir" "$size" "$ring" "$sec" || true
	# the receiver's count: vhost's RX (g2b), virtio-user's RX (b2g)
	if [[ $dir == g2b ]]; then m=$NP_BE_PPS; else m=$NP_FE_PPS; fi
	NP_CAL_PPS=${m:-0}
	NP_CAL_BEST=$(_np_best "$dir" "$size" "$ring")
	((NP_CAL_PPS > NP_CAL_BEST)) && NP_CAL_BEST=$NP_CAL_PPS
	echo "calibration: DPDK<->DPDK $dir $size B $ring: $(np_mpps "$NP_CAL_PPS") Mpps" \
		"(best on this machine $(np_mpps "$NP_CAL_BEST"); cross-CPU probe $NP_PROBE Mops/s)" >&2
}

# _np_flag CAL MEDIAN BEST: "" when both are within NP_CAL_MIN of BEST, else why
_np_flag() {
	awk -v c="$1" -v m="$2" -v b="$3" -v k="$NP_CAL_MIN" 'BEGIN {
		if (b <= 0) exit
		if (c < k * b) printf "calibration %.2f of DPDK'"'"'s best", c / b
		else if (m < k * b) printf "DPDK median %.2f of its best", m / b }'
}

np_table() {
	local side=$1 label=$2 target=$3 runs=$4 sec=$5 dirs=$6 sizes=$7 rings=$8
	local dir size ring peer i idle fr be fe m x c dm vm ratio paired verdict runsd runsv bad
	local -a d v dc vc pr
	local cal best flag
	NP_ROWS=() NP_CAL_ROWS=() NP_MIN_IDLE=100 NP_FLAGGED=0
	declare -gA NP_CMDS=() NP_RSS=()
	for dir in $dirs; do
		for size in $sizes; do
			for ring in $rings; do
				d=() v=() dc=() vc=() pr=() bad=
				np_calibrate "$dir" "$size" "$ring" "$sec"
				cal=$NP_CAL_PPS
				for ((i = 1; i <= runs; i++)); do
					idle=$(bench_idle_pct)
					((idle < NP_MIN_IDLE)) && NP_MIN_IDLE=$idle
					for peer in dpdk virtq; do # interleaved: A B A B
						echo "$label: $dir $size B $ring run $i/$runs: $peer (idle $idle%)" >&2
						if [[ $side == be ]]; then be=$peer fe=dpdk; else be=dpdk fe=$peer; fi
						np_run "$be" "$fe" "$dir" "$size" "$ring" "$sec" ||
							echo "$label: run failed ($peer $dir $size $ring): fe=$NP_FE_PPS be=$NP_BE_PPS" >&2
						# m: what the DPDK side measured, c: the other's own count
						if [[ $side == be ]]; then
							m=$NP_FE_PPS c=$NP_BE_PPS fr=$NP_FE_FRAME
							x="$NP_BE_CMD"$'\n'"$NP_FE_CMD"
						else
							m=$NP_BE_PPS c=$NP_FE_PPS fr=$NP_BE_FRAME
							x="$NP_FE_CMD"$'\n'"$NP_BE_CMD"
						fi
						[[ $fr != 0 ]] && ((fr != size)) && bad="testpmd counted $fr-byte frames"
						if [[ $peer == dpdk ]]; then d+=("$m") dc+=("$c"); else v+=("$m") vc+=("$c"); fi
						[[ $size == 64 && $ring == split && $i == 1 ]] && NP_CMDS[$peer.$dir]=$x
						NP_RSS[$peer.$dir]+="${NP_BE_RSS// /,} "
					done
					pr+=("$(np_ratio "${v[-1]}" "${d[-1]}")")
				done
				dm=$(np_median "${d[@]}") vm=$(np_median "${v[@]}")
				ratio=$(np_ratio "$vm" "$dm")
				paired=$(np_median "${pr[@]/n\/a/0}")
				best=$NP_CAL_BEST
				for x in "${d[@]}"; do ((x > best)) && best=$x; done
				np_best_update "$dir" "$size" "$ring" "$best"
				flag=$(_np_flag "$cal" "$dm" "$best")
				NP_CAL_ROWS+=("| $dir | $ring | $size | $(np_mpps "$cal") | $(np_mpps "$best") | $(np_ratio "$cal" "$best") | $NP_PROBE | ${flag:+**flagged**: }${flag:-ok} |")
				verdict=
				[[ $size == 64 ]] && verdict=$(awk -v r="$ratio" -v t="$target" \
					'BEGIN { print (r != "n/a" && r + 0 >= t) ? "**pass**" : "**miss**" }')
				if [[ -n $flag ]]; then
					verdict="**flagged** ($flag)" NP_FLAGGED=$((NP_FLAGGED + 1))
				fi
				runsd="" runsv=""
				for x in "${d[@]}"; do runsd+=" $(np_mpps "$x")"; done
				for x in "${v[@]}"; do runsv+=" $(np_mpps "$x")"; done
				NP_ROWS+=("| $dir | $ring | $size | $(np_mpps "$dm") | $(np_mpps "$vm") | $(np_gbps "$dm" "$size") | $(np_gbps "$vm" "$size") | **$ratio** | $paired | $(np_mpps "$(np_median "${dc[@]}")") / $(np_mpps "$(np_median "${vc[@]}")") |${runsd} /${runsv} | $verdict${bad:+ ($bad)} |")
			done
		done
	done
}
