#!/usr/bin/env bash
# order: 25
# bench/switch.sh - section "switch" of docs/PERFORMANCE.md: frames switched
# between two vhost-user ports.  The switch is either DPDK testpmd with two
# vhost ports in io mode or virtq-net with two ports (MAC learning, flooding
# of unknown destinations); the same DPDK peer drives both: one testpmd with
# two virtio-user ports in io mode, which starts with one burst per port
# (--tx-first) and sends back every frame it receives, so the frames go round
# through the switch.  The figure is frames delivered per second: the frames
# the peer received on both ports, per second.  Prints Markdown; run it
# through bench/run.sh.
#
# Environment (defaults; BENCH_QUICK=1 shortens them): SW_SIZES (64),
# SW_RINGS ("split packed"), SW_RUNS (2), SW_SEC (6, seconds per run),
# SW_BURST (64: frames per burst of the peer, and so 2 x SW_BURST frames
# going round).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=SCRIPTDIR/lib/net-peers.sh
. bench/lib/net-peers.sh

if [[ ${BENCH_QUICK:-0} == 1 ]]; then runs=1 sec=5; else runs=2 sec=6; fi
runs=${SW_RUNS:-$runs} sec=${SW_SEC:-$sec} burst=${SW_BURST:-64}
sizes=${SW_SIZES:-64} rings=${SW_RINGS:-split packed}
target=1.1

[[ -x $NP_BIN/virtq-net ]] || { echo "no $NP_BIN/virtq-net: build first" >&2; exit 1; }
need_dpdk >&2 || { echo "DPDK testpmd cannot be installed" >&2; exit 77; }

strip() { sed -e "s#${VIRTQ_ROOT:-$PWD}/##g" -e "s#$NP_TMP#/tmp/vq-bench-net.XXXXXX#g"; }
header=$(np_load_header)
seq=0
declare -A CMDS=()

# _sw_peer_samples LOG: per stats period, the Rx-pps summed over the ports
_sw_peer_samples() {
	tr -d '\r' <"$1" | awk '
		/Port statistics ====/ { if (n) printf "%d ", s; s = 0; n++ }
		/Rx-pps:/ { s += $2 }
		END { if (n) printf "%d\n", s }'
}

# _sw_testpmd_samples LOG: the same for a switch testpmd, Tx-pps (delivered)
_sw_testpmd_samples() {
	tr -d '\r' <"$1" | awk '
		/Port statistics ====/ { if (n) printf "%d ", s; s = 0; n++ }
		/Tx-pps:/ { s += $2 }
		END { if (n) printf "%d\n", s }'
}

# _sw_vn_samples LOG: virtq-net's tx_pps (frames to a port) summed per line time
_sw_vn_samples() {
	grep -a '^{' "$1" | grep -av '"total"' | awk '{
		t = $0; sub(/.*"time":/, "", t); sub(/,.*/, "", t)
		p = $0; sub(/.*"tx_pps":/, "", p); sub(/,.*/, "", p)
		k = sprintf("%.0f", t); if (!(k in s)) o[n++] = k; s[k] += p }
		END { for (i = 0; i < n; i++) printf "%d ", s[o[i]]; print "" }'
}

# sw_run KIND SIZE RING: one run; sets SW_PPS (delivered, the peer's count),
# SW_OWN (the switch's own count), SW_CMD (switch, then peer).
sw_run() {
	local kind=$1 size=$2 ring=$3 a b tag swpid swlog pepid pelog opt=() uarg end
	seq=$((seq + 1)) tag=$$s$seq
	a=$NP_TMP/sw$seq-a.sock b=$NP_TMP/sw$seq-b.sock
	SW_PPS=0 SW_OWN=0 SW_CMD=
	if [[ $kind == dpdk ]]; then
		DPDK_MAXSEC=$((sec + 90)) dpdk_vhost_start "$a" "vqsw$tag" io --size "$size" --cpu 1 \
			--eal --vdev --eal "net_vhost1,iface=$b,queues=1" || return 1
		swpid=$DPDK_PID swlog=$DPDK_LOG
	else
		swlog=$NP_TMP/virtq-net-sw$seq.log
		vq_spawn "$swlog" $((sec + 90)) "$NP_BIN/virtq-net" --socket "$a" --socket "$b" \
			--cpus 1 --workers 1 --poll busy --stats 1 --stats-json
		swpid=$VQ_PID
	fi
	end=$((SECONDS + 20))
	until _dpdk_sock_listening "$a" && _dpdk_sock_listening "$b"; do
		if ((SECONDS > end)) || ! vq_alive "$swpid"; then
			echo "switch: $kind switch did not listen on both sockets, see $swlog" >&2
			_np_stop "$kind" "$swpid"
			return 1
		fi
		sleep 0.1
	done
	uarg="net_virtio_user1,path=$b,queues=1"
	[[ $ring == packed ]] && { opt+=(--packed); uarg+=",packed_vq=1"; }
	if ! DPDK_MAXSEC=$((sec + 90)) dpdk_virtio_user_start "$a" "vqsp$tag" io --size "$size" \
		--cpu 0 "${opt[@]}" --eal --vdev --eal "$uarg" -- --tx-first --burst="$burst"; then
		_np_stop "$kind" "$swpid"
		return 1
	fi
	pepid=$DPDK_PID pelog=$DPDK_LOG
	SW_CMD="$(_np_cmdline "$(_np_child "$swpid")")"$'\n'"$(_np_cmdline "$(_np_child "$pepid")")"
	vq_sleep "$sec"
	SW_PPS=$(bench_median_samples "$(_sw_peer_samples "$pelog")")
	if [[ $kind == dpdk ]]; then
		SW_OWN=$(bench_median_samples "$(_sw_testpmd_samples "$swlog")")
	else
		SW_OWN=$(bench_median_samples "$(_sw_vn_samples "$swlog")")
	fi
	dpdk_stop "$pepid"
	_np_stop "$kind" "$swpid"
	[[ ${BENCH_KEEP_LOGS:-0} == 1 ]] && mkdir -p /tmp/vq-bench-logs &&
		cp "$swlog" "$pelog" /tmp/vq-bench-logs/
	rm -f "$a" "$b" "$pelog"
	[[ $kind == dpdk ]] || rm -f "$swlog"
	[[ $SW_PPS -gt 0 ]]
}

rows=() calrows=() flagged=0
for size in $sizes; do
	for ring in $rings; do
		d=() v=() dc=() vc=() pr=()
		echo "switch: calibration $size B $ring: DPDK switch" >&2
		sw_run dpdk "$size" "$ring" || echo "switch: calibration run failed" >&2
		cal=$SW_PPS best=$(_np_best switch "$size" "$ring")
		((cal > best)) && best=$cal
		echo "calibration: DPDK switch $size B $ring: $(np_mpps "$cal") Mpps (best $(np_mpps "$best"))" >&2
		for ((i = 1; i <= runs; i++)); do
			for peer in dpdk virtq; do # interleaved: A B A B
				echo "switch: $size B $ring run $i/$runs: $peer" >&2
				sw_run "$peer" "$size" "$ring" || echo "switch: run failed ($peer)" >&2
				[[ $i == 1 && $size == "${sizes%% *}" && $ring == "${rings%% *}" ]] &&
					CMDS[$peer]=$SW_CMD
				if [[ $peer == dpdk ]]; then d+=("$SW_PPS") dc+=("$SW_OWN")
				else v+=("$SW_PPS") vc+=("$SW_OWN"); fi
			done
			pr+=("$(np_ratio "${v[-1]}" "${d[-1]}")")
		done
		dm=$(np_median "${d[@]}") vm=$(np_median "${v[@]}")
		for x in "${d[@]}"; do ((x > best)) && best=$x; done
		np_best_update switch "$size" "$ring" "$best"
		ratio=$(np_ratio "$vm" "$dm")
		flag=$(_np_flag "$cal" "$dm" "$best")
		verdict=$(awk -v r="$ratio" -v t="$target" \
			'BEGIN { print (r != "n/a" && r + 0 >= t) ? "**pass**" : "**miss**" }')
		[[ -n $flag ]] && { verdict="**flagged** ($flag)"; flagged=$((flagged + 1)); }
		runsd="" runsv=""
		for x in "${d[@]}"; do runsd+=" $(np_mpps "$x")"; done
		for x in "${v[@]}"; do runsv+=" $(np_mpps "$x")"; done
		rows+=("| $ring | $size | $(np_mpps "$dm") | $(np_mpps "$vm") | **$ratio** | $(np_median "${pr[@]/n\/a/0}") | $(np_mpps "$(np_median "${dc[@]}")") / $(np_mpps "$(np_median "${vc[@]}")") |${runsd} /${runsv} | $verdict |")
		calrows+=("| $ring | $size | $(np_mpps "$cal") | $(np_mpps "$best") | $(np_ratio "$cal" "$best") | ${flag:+**flagged**: }${flag:-ok} |")
	done
done

cat <<MD
## Switching: virtq-net against DPDK testpmd, two ports

$header

A switch with two vhost-user ports, its busy poller on CPU 1: either
\`dpdk-testpmd\` with two vhost ports (\`net_vhost0\`, \`net_vhost1\`) in
\`io\` mode (port 0 to port 1 and back, no lookup), or \`virtq-net\` with two
ports (one worker; MAC learning, unknown destinations flooded to the other
port).  One peer drives both: \`dpdk-testpmd\` with two virtio-user ports
(\`net_virtio_user0\`, \`net_virtio_user1\`), its forwarding lcore on CPU 0, in
\`io\` mode with \`--tx-first\`: it sends one burst of $burst frames on each port,
then sends every frame it receives out of the other port.  So
$((2 * burst)) frames go round through the switch; a frame the switch
drops is gone for the rest of the run.  The figure is **frames delivered per
second**: the frames the peer received, both ports together (the median of
its 1 s samples, less the first and last).  *switch's count* is what the
switch itself counted as sent to its ports (testpmd Tx-pps, virtq-net
tx_pps), a cross-check.  Each row: $runs rounds of $sec s, DPDK and virtq
interleaved (a fresh pair of processes each), after one calibration run of
the DPDK switch.

Target: virtq-net >= ${target}x testpmd.

| ring | frame B | testpmd Mpps | virtq-net Mpps | ratio | paired | switch's count Mpps (testpmd / virtq-net) | runs Mpps (testpmd / virtq-net) | target |
|------|------:|------:|------:|------:|------:|------:|------|------|
$(printf '%s\n' "${rows[@]}")

#### Calibration: the DPDK switch first

| ring | frame B | calibration Mpps | DPDK best Mpps | calibration / best | status |
|------|------:|------:|------:|------:|------|
$(printf '%s\n' "${calrows[@]}")

Flagged cells (calibration or DPDK median below ${NP_CAL_MIN} of DPDK's best): $flagged.

Command lines (first row; switch, then peer):

\`\`\`
MD
for k in dpdk virtq; do
	[[ -n ${CMDS[$k]:-} ]] || continue
	echo "# $k switch"
	strip <<<"${CMDS[$k]}"
done
echo '```'
exit 0
