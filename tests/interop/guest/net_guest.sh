# net_guest.sh (guest side) - run as /test.sh by the initramfs /init under
# busybox sh; driven by tests/interop/net_guest.sh on the host.
#
# eth0 = virtio-net on virtq-net, whose other port is a TAP in the host's
# network namespace (10.99.0.1, busybox httpd on :8080).  HTTP, not nc:
# busybox nc moves 1 KiB per syscall, which under TCG is slow and gives TCP
# no chance to build TSO frames; httpd sends with sendfile(), wget reads
# 64 KiB at a time.  Steps, each announced on the console:
#   VIRTQ-NET-FEATURES <64 bits>   negotiated virtio features (bit i = char i)
#   VIRTQ-NET-PING n/3 n/3         the guest pings the host (IPv4, IPv6)
#   VIRTQ-NET-G2H-MD5 md5          md5 of the guest's random data
#   VIRTQ-NET-STATS0 rxp rxb txp txb   eth0 counters before host -> guest
#   VIRTQ-NET-READY h2g            the host connects to :5004 to say "go"
#   VIRTQ-NET-H2G-MD5 md5          the guest wgot h2g.bin from the host
#   VIRTQ-NET-STATS1 ...           eth0 counters after it
#   VIRTQ-NET-READY g2h            httpd serves /g2h on :8080; the host fetches
#                                  it, then connects to :5003 to say "done"
#   VIRTQ-NET-STATS2 ...           eth0 counters at the end
#   VIRTQ-NET-TCP-CSUMERR n        TCP InCsumErrors (/proc/net/snmp)
#   VIRTQ-NET-TCP-RETRANS n        TCP RetransSegs
# Environment (kernel command line): VIRTQ_NET_MB (64); VIRTQ_NET_FAM (4):
# host -> guest runs over IPv4 (4) or IPv6 (6), guest -> host over the other.
# shellcheck disable=SC1091 # in the initramfs
. /etc/virtq.sh
MB=${VIRTQ_NET_MB:-64}
HOST=10.99.0.1
HOST6=fd99::1
if [ "${VIRTQ_NET_FAM:-4}" = 6 ]; then URL=http://[$HOST6]:8080; else URL=http://$HOST:8080; fi

# wait_listen PORT: bounded wait until a TCP socket listens on PORT.
wait_listen() {
	n=100
	while ! netstat -ltn 2>/dev/null | grep -q ":$1 " && [ $n -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	[ $n -gt 0 ]
}

vq_wait_path /sys/class/net/eth0 20 || { echo "no eth0"; exit 1; }
echo "VIRTQ-NET-FEATURES $(cat /sys/class/net/eth0/device/features)"
echo 0 >/proc/sys/net/ipv6/conf/eth0/accept_dad
ip link set eth0 up || exit 1
ip addr add 10.99.0.2/24 dev eth0 || exit 1
ip addr add fd99::2/64 dev eth0 || exit 1
n=100
while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $n -gt 0 ]; do
	sleep 0.1
	n=$((n - 1))
done
# pings HOST: replies out of 3
pings() { ping -c 3 -i 0.2 -W 2 -w 10 "$1" 2>&1 | sed -n 's/.* \([0-9]*\) packets received.*/\1/p'; }
got=$(pings $HOST)
got6=$(pings $HOST6)
echo "VIRTQ-NET-PING ${got:-0}/3 ${got6:-0}/3"
[ "${got:-0}" -gt 0 ] && [ "${got6:-0}" -gt 0 ] || exit 2

mkdir -p /tmp/www || exit 3
dd if=/dev/urandom of=/tmp/www/g2h bs=1M count="$MB" 2>/dev/null || exit 3
echo "VIRTQ-NET-G2H-MD5 $(md5sum </tmp/www/g2h | cut -d' ' -f1)"

s=/sys/class/net/eth0/statistics
stats() { echo "VIRTQ-NET-STATS$1 $(cat $s/rx_packets) $(cat $s/rx_bytes) $(cat $s/tx_packets) $(cat $s/tx_bytes)"; }

# Host to guest: the host says "go" by connecting to :5004 and times the
# transfer itself (the guest's clock under TCG can run fast or slow).
nc -l -p 5004 </dev/null >/dev/null &
go=$!
wait_listen 5004 || { echo "nc did not listen on 5004"; exit 4; }
stats 0
echo "VIRTQ-NET-READY h2g"
wait $go
m=$(wget -q -O - "$URL/h2g.bin" | md5sum | cut -d' ' -f1)
echo "VIRTQ-NET-H2G-MD5 $m"
stats 1

# Guest to host: the host fetches /g2h, then connects to :5003 when done.
httpd -f -p 8080 -h /tmp/www &
web=$!
nc -l -p 5003 </dev/null >/dev/null &
syncp=$!
if ! wait_listen 8080 || ! wait_listen 5003; then
	echo "httpd/nc did not listen"
	exit 5
fi
echo "VIRTQ-NET-READY g2h"
wait $syncp
kill $web
stats 2
# tcp FIELD: a counter from the Tcp: lines of /proc/net/snmp
tcp() {
	awk -v f="$1" '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == f) c = i; h = 1 } else print $c }' /proc/net/snmp
}
echo "VIRTQ-NET-TCP-CSUMERR $(tcp InCsumErrors)"
echo "VIRTQ-NET-TCP-RETRANS $(tcp RetransSegs)"
exit 0
