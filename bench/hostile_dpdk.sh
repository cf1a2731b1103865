#!/bin/bash
# hostile_dpdk.sh - virtq-hostile's frontend cases against DPDK 22.11
# testpmd's vhost PMD, for the side-by-side table in docs/RELIABILITY.md.
# Not part of make check (it records what DPDK does; nothing to assert).
#
# testpmd serves two vhost-user ports (net_vhost0 on h.sock, attacked;
# net_vhost1 on p.sock, idle) in io forwarding mode.  Per case:
# virtq-hostile fe --case CASE -s h.sock --probe p.sock --hold-ms 300, then
# whether testpmd is still alive, and a GET_FEATURES probe of p.sock (a new
# connection; median of 5).  A testpmd that died is restarted for the next
# case.  One line per case:
#   CASE  hostile=RC (its last line)  testpmd=alive|DIED  probe=...
#   bash bench/hostile_dpdk.sh [CASE...]     (default: the cases below)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LIB=$ROOT/tests/interop/lib
. "$LIB/dpdk.sh"
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}
WORK=$(mktemp -d /tmp/hostile-dpdk.XXXXXX)
vq_on_exit "rm -rf '$WORK'"
cd "$WORK" || exit 1
cases=${*:-"desc-loop addr-unmapped region-beyond-file short-header stall-mid-header
	mem-shrink packed-mem-shrink many-connections mem-table-storm same-memfd-8x
	region-fd-pipe region-fd-socket kick-fd-pipe call-fd-socket call-fd-full eventfd-closed"}

start() {
	rm -f "$WORK/p.sock"
	DPDK_MAXSEC=900 dpdk_vhost_start "$WORK/h.sock" "vqhd$$-$1" io \
		--eal --vdev --eal "net_vhost1,iface=$WORK/p.sock,queues=1" || return 1
	for _ in $(seq 100); do [[ -S $WORK/p.sock ]] && return 0; sleep 0.1; done
	return 1
}

n=0
start $n || { echo "SKIP: testpmd did not start (log: $DPDK_LOG)"; exit 77; }
for c in $cases; do
	out=$(timeout -k 5 60 "$BIN/virtq-hostile" fe --dev net -s h.sock --probe p.sock \
		--case "$c" --hold-ms 300 2>&1)
	rc=$?
	sleep 0.5
	if vq_alive "$DPDK_PID"; then alive=alive; else alive=DIED; fi
	probe=$(timeout 10 "$BIN/virtq-hostile" fe -s p.sock --case probe 2>&1 | tail -n 1)
	printf '%s\thostile=%s (%s)\ttestpmd=%s\t%s\n' "$c" "$rc" \
		"$(grep -v '^HOSTILE' <<<"$out" | tail -n 1 | cut -c1-150)" "$alive" "$probe"
	# the attacker's own probe of p.sock while the attack was on, if any
	grep -a 'answered GET_FEATURES in' <<<"$out" | sed 's/^/    during: /'
	if [[ $alive == DIED ]]; then
		tail -n 3 "$DPDK_LOG" | sed 's/^/    testpmd: /'
		n=$((n + 1))
		start $n || { echo "testpmd did not restart"; exit 1; }
	fi
done
dpdk_stop "$DPDK_PID" >/dev/null 2>&1
