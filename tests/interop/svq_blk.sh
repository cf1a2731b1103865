#!/bin/bash
# svq_blk.sh - virtq-user blk --mode verify -> virtq-svq -> virtq-blk.
#
# The driver writes patterned blocks, flushes, reads them back and checks
# every byte, and checks WRITE_ZEROES; every request crosses the proxy's
# shadow ring, and virtq-blk sees only the proxy's IOVA memory layout.
# PASS when the verify reports "verify: OK", both daemons exit 0 after
# SIGINT and the proxy logged no error.  Exit 0 pass, 1 fail, 77 skip.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. "$ROOT/tests/interop/lib/net.sh"

NAME=svq_blk
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}
VQU=$BIN/virtq-user
VBLK=$BIN/virtq-blk
SVQ=$BIN/virtq-svq
net_begin "$NAME" svq-blk "$VQU" "$VBLK" "$SVQ"

errs=''
truncate -s 16M "$WORK/disk"
vq_spawn "$WORK/vb.log" 90 "$VBLK" --socket "$WORK/blk.sock" --file "$WORK/disk"
vb=$VQ_PID
end=$((SECONDS + 10))
until _net_listening "$WORK/blk.sock" || ((SECONDS > end)); do sleep 0.05; done
vq_spawn "$WORK/sp.log" 90 "$SVQ" --socket "$WORK/p.sock" --backend "$WORK/blk.sock"
sp=$VQ_PID
end=$((SECONDS + 10))
until _net_listening "$WORK/p.sock" || ((SECONDS > end)); do sleep 0.05; done
for layout in split packed; do
	args=()
	[[ $layout == packed ]] && args+=(--packed)
	vq_spawn "$WORK/u.$layout.log" 60 "$VQU" blk --socket "$WORK/p.sock" --mode verify \
		--size 8M "${args[@]}"
	net_wait "$VQ_PID" 60 || errs+=" $layout: virtq-user exited $?;"
	grep -aq '^verify: OK' "$WORK/u.$layout.log" || errs+=" $layout: no 'verify: OK';"
done
vq_kill "$sp" INT 10 || errs+=" virtq-svq exited $? after SIGINT;"
vq_kill "$vb" INT 10 || errs+=" virtq-blk exited $? after SIGINT;"
grep -aq ' error \|broken\|unforwarded' "$WORK/sp.log" &&
	errs+=" proxy: $(grep -a -m1 ' error \|broken\|unforwarded' "$WORK/sp.log");"
v=$(grep -a 'disconnect: ' "$WORK/vb.log" | grep -av 'frontend closed the connection' | head -n 1)
[[ -z $v ]] || errs+=" virtq-blk: $v;"
for f in "$WORK"/*.log; do errs+=$(net_san_check "$f"); done
net_result "$NAME" "verify split+packed" "$errs" "8 MiB written, read back and compared through virtq-svq" \
	"$WORK/sp.log" "$WORK/vb.log" "$WORK/u.split.log" "$WORK/u.packed.log" || exit 1
exit 0
