#!/bin/bash
# net_guest.sh - virtq-net between a Linux guest (QEMU 7.2, TCG, vhost-user
# virtio-net-pci) and a TAP in a network namespace of this machine.
#
#   guest eth0 10.99.0.2 --vhost-user-- virtq-net --TAP-- 10.99.0.1 netns
#
# virtq-net runs inside a namespace this script creates (ip netns exec), so
# its TAP is born there and no traffic leaves the machine.  Per case (one
# boot each, a fresh daemon each):
#   - the guest pings the host and the host pings the guest, over IPv4
#     (10.99.0.0/24) and IPv6 (fd99::/64), 3/3 each;
#   - MB (64) MiB host -> guest: the guest wgets a random file from busybox
#     httpd in the namespace and md5sums it; the md5 must match.  The host
#     times it, from its "go" to the md5 on the console (the guest's clock
#     under TCG is not to be trusted: it once ran 2x fast);
#   - MB MiB guest -> host: random data the guest made and md5summed, served
#     by httpd in the guest; the host wgets it (timed) and md5sums it.
#     HTTP rather than nc: busybox nc moves 1 KiB per syscall, too slow under
#     TCG and too small for TCP to build TSO frames; httpd uses sendfile();
#     one direction runs over IPv4, the other over IPv6 (per case);
#   - features: VERSION_1, MRG_RXBUF and RING_PACKED as the case says;
#     CSUM, GUEST_CSUM, HOST_TSO4/6 and GUEST_TSO4/6 negotiated (or, in the
#     offloads=off case, none of them);
#   - GSO: the TAP handed virtq-net frames > 1514 B on average (host GSO);
#     with offloads, GSO frames reached the guest (its rx frames average
#     > 1514 B while it receives) and the guest's TSO frames reached the TAP
#     (TAP rx average > 1514 B while it sends); without, virtq-net segmented
#     the host's GSO frames and filled in their checksums in software (guest
#     rx average <= 1514 B);
#   - neither TCP stack counted a checksum error (InCsumErrors);
#   - virtq-net stops on SIGINT with status 0 and prints its totals.
# The PASS line also gives TCP retransmits (spurious ones are normal: the TCG
# guest acks late) and virtq-net's drops (a guest rx ring was full).
# The first case runs virtq-net with busy polling, the others --poll kick.
#
# Cases RING:MRG:OFFLOADS:FAMILY (FAMILY = IP version of host -> guest):
#   split:on:on:4 split:off:on:6 packed:on:on:6 packed:off:on:4 split:off:off:6
# With SAN=1 (ASan binaries in $VIRTQ_BIN) a reduced matrix:
#   split:on:on:4 packed:off:on:6 split:off:off:4
#
# Prints one PASS/FAIL line per case, SKIP when the environment cannot run
# it (no root, no /dev/net/tun, no netns); exit 0 passed, 77 skipped, 1
# failed.  VIRTQ_KEEP=1 keeps the work directory; VIRTQ_NET_MB sets the
# transfer size; VIRTQ_NET_CASES="split:on:on:4 ..." picks cases.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
LIB=$ROOT/tests/interop/lib
# shellcheck source=tests/interop/lib/guest.sh
. "$LIB/guest.sh"

NAME=net_guest
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}/virtq-net
MB=${VIRTQ_NET_MB:-64}
# NET_GUEST_SVQ=1 (svq_guest.sh): QEMU reaches virtq-net through virtq-svq,
# which relays both rings through shadow rings; virtq-net sees only the
# proxy's IOVA memory layout.  8 MiB, one case by default (a boot costs
# ~100 s on a busy 2-CPU machine).
SVQ=
if [[ -n ${NET_GUEST_SVQ:-} ]]; then
	NAME=svq_guest
	SVQ=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}/virtq-svq
	MB=${VIRTQ_NET_MB:-8}
	VIRTQ_NET_CASES=${VIRTQ_NET_CASES:-split:on:on:4}
	[[ -x $SVQ ]] || { echo "SKIP $NAME: $SVQ not built"; exit 77; }
fi
NS=virtq-net-$$
TAP=vqtap0
HOST_IP=10.99.0.1
GUEST_IP=10.99.0.2
HOST_IP6=fd99::1
GUEST_IP6=fd99::2
BB=/bin/busybox
if [[ ${SAN:-} == 1 ]]; then
	CASES=${VIRTQ_NET_CASES:-split:on:on:4 packed:off:on:6 split:off:off:4}
else
	CASES=${VIRTQ_NET_CASES:-split:on:on:4 split:off:on:6 packed:on:on:6 packed:off:on:4 split:off:off:6}
fi

skip() {
	echo "################################################################" >&2
	echo "SKIP $NAME: $*"
	echo "################################################################" >&2
	exit 77
}

[[ -x $BIN ]] || skip "$BIN not built"
((EUID == 0)) || skip "needs root for a network namespace and a TAP"
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"
command -v ip >/dev/null || skip "no ip(8) (iproute2)"
need_qemu || skip "qemu-system-x86 not installable"
need_guest_kernel || skip "no guest kernel"
need_busybox || skip "busybox-static not installable"
need_cpio || skip "cpio not installable"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/virtq-net-guest.XXXXXX")
if [[ -n ${VIRTQ_KEEP:-} ]]; then echo "  work dir kept: $WORK"; else vq_on_exit "rm -rf '$WORK'"; fi
SOCK=$WORK/net.sock
QSOCK=$SOCK # what QEMU connects to
[[ -z $SVQ ]] || QSOCK=$WORK/svq.sock

ip netns add "$NS" 2>"$WORK/netns.err" || skip "ip netns add failed: $(cat "$WORK/netns.err")"
vq_on_exit "ip netns del '$NS' 2>/dev/null"
ip -n "$NS" link set lo up

bash "$VIRTQ_MKINITRAMFS" "$WORK/initrd.gz" --init "$ROOT/tests/interop/guest/net_guest.sh" \
	>"$WORK/mkinitramfs.log" 2>&1
rc=$?
((rc == 77)) && skip "initramfs: $(grep SKIP "$WORK/mkinitramfs.log" | head -n 1)"
((rc == 0)) || { cat "$WORK/mkinitramfs.log" >&2; echo "FAIL $NAME: mkinitramfs failed"; exit 1; }
mkdir "$WORK/www"
head -c "${MB}M" /dev/urandom >"$WORK/www/h2g.bin"
H2G_MD5=$(md5sum <"$WORK/www/h2g.bin" | cut -d' ' -f1)
# The host side of host -> guest: httpd in the namespace, for every case.
vq_spawn "$WORK/httpd.log" 1800 ip netns exec "$NS" $BB httpd -f -p 8080 -h "$WORK/www"

nsx() { ip netns exec "$NS" "$@"; }
now() { date +%s.%N; }
# mbps SECONDS: the transfer rate in MB/s (10^6 bytes)
mbps() { awk -v b=$((MB << 20)) -v t="$1" 'BEGIN { printf "%.1f", (t > 0 ? b / t / 1e6 : 0) }'; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# tapstats: rx_packets rx_bytes tx_packets tx_bytes of the TAP (kernel's view:
# rx = written by virtq-net, tx = read by it); one GSO frame counts once.
tapstats() {
	local s=/sys/class/net/$TAP/statistics
	nsx cat $s/rx_packets $s/rx_bytes $s/tx_packets $s/tx_bytes 2>/dev/null | tr '\n' ' '
}
# avg PKTS0 BYTES0 PKTS1 BYTES1: bytes per frame between two snapshots
avg() { awk -v p=$(($3 - $1)) -v b=$(($4 - $2)) 'BEGIN { printf "%d", p ? b / p : 0 }'; }
# value KEY: the rest of the last console line starting with "KEY "
value() { grep -a "^$1 " "$LOG" | tail -n 1 | cut -d' ' -f2- | tr -d '\r'; }
# bit N: char N of the guest's feature string
bit() { local f; f=$(value VIRTQ-NET-FEATURES); echo "${f:$1:1}"; }

CASE_ERR=
# cfail MSG: the case failed; returns 1 so callers can `|| return 1`
cfail() { CASE_ERR=$*; return 1; }

# wait_marker KEY SEC: wait for a console line starting with KEY (polled
# every 50 ms: the host times transfers by it); fails the case on timeout or
# when QEMU or virtq-net died first.
wait_marker() {
	local end=$((SECONDS + $2))
	until grep -Eqa "^$1" "$LOG" 2>/dev/null; do
		if ! vq_alive "$GUEST_PID"; then
			grep -Eqa "^$1" "$LOG" 2>/dev/null && return 0
			cfail "QEMU exited before '$1'"
			return 1
		fi
		vq_alive "$DPID" || { cfail "virtq-net died (waiting for '$1')"; return 1; }
		((SECONDS < end)) || { cfail "no '$1' on the guest console within $2 s"; return 1; }
		sleep 0.05
	done
}

start_daemon() {
	rm -f "$SOCK"
	vq_spawn "$DLOG" 600 ip netns exec "$NS" "$BIN" --socket "$SOCK" --tap "$TAP" \
		--poll "$POLL" --stats 5
	DPID=$VQ_PID
	local _
	for _ in $(seq 100); do
		[[ -S $SOCK ]] && nsx test -e "/sys/class/net/$TAP" && break
		vq_alive "$DPID" || break
		sleep 0.1
	done
	[[ -S $SOCK ]] || cfail "daemon did not create $SOCK" || return 1
	nsx test -e "/sys/class/net/$TAP" || cfail "daemon did not create TAP $TAP" || return 1
	if [[ -n $SVQ ]]; then
		rm -f "$QSOCK"
		vq_spawn "$PLOG" 600 "$SVQ" --socket "$QSOCK" --backend "$SOCK"
		PPID_=$VQ_PID
		for _ in $(seq 100); do
			[[ -S $QSOCK ]] && break
			vq_alive "$PPID_" || break
			sleep 0.1
		done
		[[ -S $QSOCK ]] || cfail "virtq-svq did not create $QSOCK" || return 1
	fi
	if ! ip -n "$NS" addr add "$HOST_IP/24" dev "$TAP" ||
		! ip -n "$NS" addr add "$HOST_IP6/64" dev "$TAP" nodad ||
		! ip -n "$NS" link set "$TAP" up; then
		cfail "cannot configure $TAP in $NS"
	fi
}

# h2g: the host tells the guest to wget h2g.bin from the namespace's httpd
# and times it until the guest prints the md5; sets H2G (figures) and
# H2G_AVG (guest rx bytes per frame meanwhile)
h2g() {
	local t0 dt got st0 st1
	wait_marker VIRTQ-NET-READY.h2g 300 || return 1
	t0=$(now)
	timeout -k 5 30 ip netns exec "$NS" $BB nc "$GUEST_IP" 5004 </dev/null >/dev/null || cfail "host->guest: cannot tell the guest to start" || return 1
	wait_marker VIRTQ-NET-H2G-MD5 300 || return 1
	dt=$(since "$t0")
	got=$(value VIRTQ-NET-H2G-MD5)
	[[ $got == "$H2G_MD5" ]] || cfail "host->guest: guest md5 $got != sent $H2G_MD5" || return 1
	wait_marker VIRTQ-NET-STATS1 30 || return 1
	read -ra st0 <<<"$(value VIRTQ-NET-STATS0)"
	read -ra st1 <<<"$(value VIRTQ-NET-STATS1)"
	((${#st0[@]} == 4 && ${#st1[@]} == 4)) || cfail "no eth0 statistics from the guest" || return 1
	H2G_AVG=$(avg "${st0[0]}" "${st0[1]}" "${st1[0]}" "${st1[1]}")
	H2G="host->guest IPv$FAM $(mbps "$dt") MB/s (${dt} s, guest rx avg frame ${H2G_AVG} B) md5 ok"
}

# g2h: the host fetches /g2h from the guest's httpd; sets G2H and G2H_AVG
# (bytes per frame the TAP got from virtq-net meanwhile)
g2h() {
	local t0 dt s0 s1 got want
	wait_marker VIRTQ-NET-READY.g2h 60 || return 1
	ping_host || return 1
	want=$(value VIRTQ-NET-G2H-MD5)
	read -ra s0 <<<"$(tapstats)"
	t0=$(now)
	local url=http://$GUEST_IP:8080/g2h
	((FAM == 6)) || url=http://[$GUEST_IP6]:8080/g2h
	got=$(timeout -k 5 300 ip netns exec "$NS" $BB wget -q -O - "$url" | md5sum | cut -d' ' -f1)
	dt=$(since "$t0")
	read -ra s1 <<<"$(tapstats)"
	TAP_TOT=("${s1[@]}")
	timeout -k 5 30 ip netns exec "$NS" $BB nc "$GUEST_IP" 5003 </dev/null >/dev/null || cfail "guest->host: cannot tell the guest we are done" || return 1
	[[ -n $want && $got == "$want" ]] || cfail "guest->host: host md5 $got != guest's '$want'" || return 1
	G2H_AVG=$(avg "${s0[0]}" "${s0[1]}" "${s1[0]}" "${s1[1]}")
	G2H="guest->host IPv$((FAM == 6 ? 4 : 6)) $(mbps "$dt") MB/s (${dt} s, TAP rx avg frame ${G2H_AVG} B) md5 ok"
}

# pings ADDR: replies out of 3, from the namespace
pings() {
	local got
	got=$(nsx $BB ping -c 3 -i 0.2 -W 2 -w 10 "$1" 2>&1 |
		sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
	echo "${got:-0}/3"
}

ping_host() { # sets PING_H
	PING_H="$(pings "$GUEST_IP") $(pings "$GUEST_IP6")"
	[[ $PING_H == "3/3 3/3" ]] || cfail "host pinged the guest (IPv4 IPv6): $PING_H replies"
}

# ns_tcp FIELD: a counter from the Tcp: lines of the namespace's /proc/net/snmp
ns_tcp() {
	# shellcheck disable=SC2016 # awk's own $ fields
	nsx awk -v f="$1" '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == f) c = i; h = 1 } else print $c }' /proc/net/snmp
}

# want_bit N 0|1 NAME: the guest negotiated feature N, or not
want_bit() {
	[[ $(bit "$1") == "$2" ]] || cfail "feature $3 is $(bit "$1"), want $2 ($(value VIRTQ-NET-FEATURES))"
}

# checks RING MRG OFFL: features, GSO and checksum counters after the run
checks() {
	local ring=$1 mrg=$2 offl=$3 b f st st2 on=1 tapavg
	[[ $offl == on ]] || on=0
	want_bit 32 1 VERSION_1 || return 1
	want_bit 15 "$([[ $mrg == on ]] && echo 1 || echo 0)" MRG_RXBUF || return 1
	want_bit 34 "$([[ $ring == packed ]] && echo 1 || echo 0)" RING_PACKED || return 1
	for b in 0:CSUM 1:GUEST_CSUM 7:GUEST_TSO4 8:GUEST_TSO6 11:HOST_TSO4 12:HOST_TSO6; do
		want_bit "${b%%:*}" $on "${b#*:}" || return 1
	done
	# Ethernet frames are <= 1514 B: a larger average means GSO frames.
	tapavg=$(avg 0 0 "${TAP_TOT[2]}" "${TAP_TOT[3]}")
	((tapavg > 1514)) || cfail "the TAP gave virtq-net frames of $tapavg B on average: no GSO from the host" || return 1
	if ((on)); then
		((H2G_AVG > 1514)) || cfail "guest rx frames average $H2G_AVG B during host->guest: no GSO frames reached the guest" || return 1
		((G2H_AVG > 1514)) || cfail "TAP rx frames average $G2H_AVG B during guest->host: guest TSO frames did not cross" || return 1
	else
		# virtq-net had to segment the host's GSO frames and fill in their
		# checksums; the guest's own frames are plain.
		((H2G_AVG <= 1514)) || cfail "guest without GUEST_TSO4 got frames of $H2G_AVG B on average" || return 1
		((G2H_AVG <= 1514)) || cfail "guest without HOST_TSO4 sent frames of $G2H_AVG B on average" || return 1
	fi
	read -ra st <<<"$(value VIRTQ-NET-STATS1)"
	read -ra st2 <<<"$(value VIRTQ-NET-STATS2)"
	((${#st2[@]} == 4)) || cfail "no final eth0 statistics from the guest" || return 1
	GSTATS="TAP tx avg frame $tapavg B, guest tx avg frame $(avg "${st[2]}" "${st[3]}" "${st2[2]}" "${st2[3]}") B while sending"
	[[ $(value VIRTQ-NET-TCP-CSUMERR) == 0 ]] || cfail "guest TCP InCsumErrors $(value VIRTQ-NET-TCP-CSUMERR)" || return 1
	f=$(ns_tcp InCsumErrors)
	[[ $f == 0 ]] || cfail "host namespace TCP InCsumErrors $f"
}

# QEMU properties that turn every checksum and segmentation offload off
NO_OFFLOADS=csum=off,guest_csum=off,gso=off,host_tso4=off,host_tso6=off,host_ecn=off,host_ufo=off,guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off

# run_case RING MRG OFFLOADS FAMILY: one boot; prints PASS or FAIL
run_case() {
	local ring=$1 mrg=$2 offl=$3 t=$SECONDS rc pk=off dev retr0 drops bad
	local label="$ring mrg=$mrg" tag=$ring-$mrg-$offl-$4
	FAM=$4
	[[ $offl == on ]] || label+=" offloads=off"
	[[ $ring == packed ]] && pk=on
	dev=virtio-net-pci,netdev=n0,vectors=0,romfile=,packed=$pk,mrg_rxbuf=$mrg
	[[ $offl == on ]] || dev+=,$NO_OFFLOADS
	LOG=$WORK/guest-$tag.log DLOG=$WORK/daemon-$tag.log CASE_ERR='' PLOG=$WORK/svq-$tag.log PPID_=''
	H2G='' G2H='' PING_H='' GSTATS='' H2G_AVG=0 G2H_AVG=0 GUEST_PID='' DPID='' TAP_TOT=(0 0 0 0)
	retr0=$(ns_tcp RetransSegs)
	if start_daemon; then
		VIRTQ_GUEST_APPEND="VIRTQ_NET_MB=$MB VIRTQ_NET_FAM=$FAM" guest_start "$LOG" "$WORK/initrd.gz" \
			-chardev socket,id=c0,path="$QSOCK" \
			-netdev vhost-user,id=n0,chardev=c0 -device "$dev"
		wait_marker VIRTQ-NET-PING 120 &&
			{ [[ $(value VIRTQ-NET-PING) == "3/3 3/3" ]] || cfail "guest pinged the host (IPv4 IPv6): $(value VIRTQ-NET-PING) replies"; } &&
			h2g && g2h
		if [[ -z $CASE_ERR ]]; then
			guest_wait_done "$LOG" 60
			rc=$?
			((rc == 0)) || cfail "guest test exited with $rc"
		fi
		[[ -z $CASE_ERR ]] && checks "$ring" "$mrg" "$offl"
	fi
	guest_stop "$GUEST_PID"
	if [[ -n $PPID_ ]]; then
		vq_kill "$PPID_" INT 10
		rc=$?
		[[ -z $CASE_ERR ]] && { ((rc == 0)) || cfail "virtq-svq exited with $rc after SIGINT"; }
		bad=$(vq_log_fault "$PLOG")
		[[ -z $CASE_ERR && -n $bad ]] && cfail "virtq-svq: $bad"
		[[ -z $CASE_ERR ]] && { grep -aq 'frontend connected' "$PLOG" || cfail "QEMU never reached virtq-svq"; }
	fi
	if [[ -n $DPID ]]; then
		vq_kill "$DPID" INT 10
		rc=$?
		[[ -z $CASE_ERR ]] && { ((rc == 0)) || cfail "virtq-net exited with $rc after SIGINT"; }
		[[ -z $CASE_ERR ]] && { grep -q '^total ' "$DLOG" || cfail "no totals from virtq-net"; }
		if grep -Eqa 'Sanitizer|runtime error:' "$DLOG"; then
			cfail "sanitizer report in the virtq-net log: $(grep -Ea -m 1 'Sanitizer|runtime error:' "$DLOG")"
		fi
	fi
	if [[ -z $CASE_ERR ]]; then
		drops=$(awk '/^total / { n += $(NF - 2) } END { print n + 0 }' "$DLOG")
		[[ -n $SVQ ]] && label+=" through virtq-svq"
		echo "PASS $NAME $label: ping 3/3 both ways (IPv4 and IPv6), $MB MiB $H2G, $G2H; $GSTATS;" \
			"TCP retransmits host $(($(ns_tcp RetransSegs) - retr0)) guest $(value VIRTQ-NET-TCP-RETRANS)," \
			"virtq-net drops $drops; poll $POLL; $((SECONDS - t)) s"
		grep -a '^total ' "$DLOG" | sed 's/^/  virtq-net: /'
		return 0
	fi
	echo "FAIL $NAME $label: $CASE_ERR"
	guest_dump "$LOG"
	echo "---- virtq-net log ($DLOG) ----" >&2
	tail -n 30 "$DLOG" >&2
	[[ -z $SVQ ]] || { echo "---- virtq-svq log ($PLOG) ----" >&2; tail -n 20 "$PLOG" >&2; }
	return 1
}

echo "  $NAME: $MB MiB each way, cases: $CASES${SAN:+ (SAN=1: reduced matrix)}"
fails=0
i=0
for c in $CASES; do
	IFS=: read -r ring mrg offl fam <<<"$c"
	# Busy polling for the first case, kick (eventfd) mode for the others.
	# (Through virtq-svq always kick mode: a busy poller beside QEMU's TCG
	# thread and the proxy starves the boot on 2 CPUs.)
	if ((i++ == 0)) && [[ -z $SVQ ]]; then POLL=busy; else POLL=kick; fi
	run_case "$ring" "$mrg" "${offl:-on}" "${fam:-4}" || fails=$((fails + 1))
done
((fails == 0)) || exit 1
exit 0
