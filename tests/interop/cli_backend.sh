#!/bin/bash
# cli_backend.sh - the vhost-user backend program conventions (QEMU
# docs/interop/vhost-user.rst) and --version, on the real binaries.
#
#   capabilities-NAME  NAME (virtq-net, virtq-blk, virtq-vsock)
#                      --print-capabilities prints JSON that parses, with
#                      the daemon's "type" and a "features" list, and exits 0;
#                      the descriptor share/qemu/vhost-user/50-NAME.json.in
#                      parses and names the same type and the binary
#   fd-net             virtq-net --fd serves a listening socket created by its
#                      parent (tests/interop/lib/listen_fd.py, as libvirt
#                      does): virtq-user net connects to it and receives the
#                      frames of --source; the stats row names the socket
#   fd-blk             the same for virtq-blk: virtq-user blk verify passes
#   version-TOOL       every tool in bin/ answers --version with its name and
#                      a version, exit 0
#
# Prints PASS/FAIL lines and "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init cli_backend
hc_need virtq-net virtq-blk virtq-user
. "$ROOT/tests/interop/lib/deps.sh"
need_pkgs python3 || { echo "SKIP cli_backend: python3 cannot be installed"; exit 77; }
LISTEN=$ROOT/tests/interop/lib/listen_fd.py

# capabilities NAME TYPE: --print-capabilities and the descriptor agree.
capabilities() {
	local name=$1 type=$2 out rc desc=$ROOT/share/qemu/vhost-user/50-$1.json.in why=
	out=$("$BIN/$name" --print-capabilities 2>&1); rc=$?
	((rc == 0)) || why+=" exit $rc;"
	python3 -m json.tool <<<"$out" >/dev/null 2>&1 || why+=" not JSON: $(head -c 200 <<<"$out");"
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["type"] == sys.argv[2], d
assert isinstance(d["features"], list) and all(isinstance(f, str) for f in d["features"]), d' \
		"$out" "$type" 2>/dev/null || why+=" type or features wrong: $(tr -d '\n' <<<"$out");"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["type"] == sys.argv[2], d
assert d["binary"] == "@BINDIR@/" + sys.argv[3], d' "$desc" "$type" "$name" 2>/dev/null ||
		why+=" descriptor $desc does not parse or names another type or binary;"
	if [[ -z $why ]]; then
		hc_pass "capabilities-$name" "$(tr -d '\n ' <<<"$out")"
	else
		hc_fail "capabilities-$name" "$why"
	fi
}
capabilities virtq-net net
capabilities virtq-blk block
[[ -x $BIN/virtq-vsock ]] && capabilities virtq-vsock vsock

# fd-net: virtq-net --fd, traffic from --source to virtq-user net rx.
vq_spawn net.log 60 python3 "$LISTEN" "$WORK/n.sock" "$BIN/virtq-net" --fd '{fd}' \
	--source 64 --stats 1 --stats-json --poll kick
NPID=$VQ_PID
hc_wait_sock n.sock 10
timeout -k 5 30 "$BIN/virtq-user" net -s n.sock --mode rx -d 2 --cpu 0 >urx.log 2>&1
urc=$?
rx=$(sed -n 's/^counts:.* rx_pkts \([0-9]*\).*/\1/p' urx.log | tail -n 1)
vq_kill "$NPID" INT; nrc=$?
row=$(grep -a '"total":true' net.log | tail -n 1)
if ((urc == 0 && ${rx:-0} > 0 && nrc == 0)) &&
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["index"] == 0 and d["socket"] == sys.argv[2] and d["tx_packets"] > 0, d' \
		"$row" "$WORK/n.sock" 2>/dev/null; then
	hc_pass fd-net "virtq-user received $rx frames over the inherited socket; $(cut -c1-100 <<<"$row")"
else
	hc_fail fd-net "virtq-user exit $urc, rx ${rx:-none}, virtq-net exit $nrc, row '$row': $(tail -n 3 urx.log net.log | tr '\n' ' ')"
fi

# fd-blk: virtq-blk --fd, virtq-user blk verify.
truncate -s 8M disk.img
vq_spawn blk.log 60 python3 "$LISTEN" "$WORK/b.sock" "$BIN/virtq-blk" --fd '{fd}' --file disk.img
BPID=$VQ_PID
hc_wait_sock b.sock 10
timeout -k 5 30 "$BIN/virtq-user" blk -s b.sock --size 1M --qd 8 --cpu 0 >ublk.log 2>&1
urc=$?
vq_kill "$BPID" INT; brc=$?
if ((urc == 0 && brc == 0)) && grep -q '^verify: OK' ublk.log && grep -q "^total .* errors 0" blk.log; then
	hc_pass fd-blk "verify: OK over the inherited socket; $(grep -o 'on .*' blk.log | head -n 1)"
else
	hc_fail fd-blk "virtq-user exit $urc, virtq-blk exit $brc: $(tail -n 3 ublk.log blk.log | tr '\n' ' ')"
fi

# version-TOOL: every tool built.
for t in "$BIN"/virtq-*; do
	n=$(basename "$t")
	out=$("$t" --version 2>&1); rc=$?
	if ((rc == 0)) && [[ $out =~ ^$n\ [0-9]+\.[0-9]+\.[0-9]+ ]]; then
		hc_pass "version-$n" "$out"
	else
		hc_fail "version-$n" "exit $rc, '$out'"
	fi
done
hc_end
