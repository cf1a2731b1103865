#!/bin/bash
# svq_blk.sh - virtq-user blk --mode verify -> virtq-svq -> virtq-blk.
#
# The driver writes patterned blocks, flushes, reads them back and checks
# every byte, and checks WRITE_ZEROES; every request crosses the proxy's
# shadow ring, and virtq-blk sees only the proxy's IOVA memory layout.
# Then virtq-blk restarts on the same socket: the proxy must reconnect to it
# and a third verify through the same proxy must pass.
# PASS when every verify reports "verify: OK", both daemons exit 0 after
# SIGINT and the proxy logged no error but the one restart.
# Exit 0 pass, 1 fail, 77 skip.
. "$(dirname "$0")/lib/script.sh"

NAME=svq_blk
VBLK=$BIN/virtq-blk
net_begin "$NAME" svq-blk "$VQU" "$VBLK" "$SVQ"

errs=''
truncate -s 16M "$WORK/disk"
vq_spawn "$WORK/vb.log" 90 "$VBLK" --socket "$WORK/blk.sock" --file "$WORK/disk"
vb=$VQ_PID
end=$((SECONDS + 10))
until _net_listening "$WORK/blk.sock" || ((SECONDS > end)); do sleep 0.05; done
sp_start "$WORK/sp.log" 90 "$WORK/p.sock" "$WORK/blk.sock" --type blk || errs+=" virtq-svq did not start;"
sp=$SP_PID
for layout in split packed; do
	args=()
	[[ $layout == packed ]] && args+=(--packed)
	vq_spawn "$WORK/u.$layout.log" 60 "$VQU" blk --socket "$WORK/p.sock" --mode verify \
		--size 8M "${args[@]}"
	net_wait "$VQ_PID" 60 || errs+=" $layout: virtq-user exited $?;"
	grep -aq '^verify: OK' "$WORK/u.$layout.log" || errs+=" $layout: no 'verify: OK';"
done
# The backend restarts: the proxy reconnects to it, and the next driver
# verifies through the same proxy.
vq_kill "$vb" INT 10 || errs+=" virtq-blk exited $? after SIGINT;"
vq_spawn "$WORK/vb2.log" 90 "$VBLK" --socket "$WORK/blk.sock" --file "$WORK/disk"
vb=$VQ_PID
end=$((SECONDS + 15))
until grep -aqs 'backend reconnected' "$WORK/sp.log" || ((SECONDS > end)); do vq_sleep 0.1; done
grep -aq 'backend reconnected' "$WORK/sp.log" || errs+=" virtq-svq did not reconnect to the restarted virtq-blk;"
vq_spawn "$WORK/u.again.log" 60 "$VQU" blk --socket "$WORK/p.sock" --mode verify --size 4M
net_wait "$VQ_PID" 60 || errs+=" after the backend restart: virtq-user exited $?;"
grep -aq '^verify: OK' "$WORK/u.again.log" || errs+=" after the backend restart: no 'verify: OK';"
vq_kill "$sp" INT 10 || errs+=" virtq-svq exited $? after SIGINT;"
vq_kill "$vb" INT 10 || errs+=" virtq-blk exited $? after SIGINT;"
# "backend went away" is the restart's, once.
v=$(vq_log_fault "$WORK/sp.log" 'backend went away: backend hung up')
[[ -z $v ]] || errs+=" proxy: $v;"
(($(grep -ac 'backend went away' "$WORK/sp.log") == 1)) || errs+=" the backend went away $(grep -ac 'backend went away' "$WORK/sp.log") times, want 1;"
v=$(cat "$WORK/vb.log" "$WORK/vb2.log" | grep -a 'disconnect: ' | grep -av 'frontend closed the connection\|backend freed' | head -n 1)
[[ -z $v ]] || errs+=" virtq-blk: $v;"
for f in "$WORK"/*.log; do errs+=$(net_san_check "$f"); done
net_result "$NAME" "verify split+packed, backend restart" "$errs" \
	"8 MiB written, read back and compared through virtq-svq; virtq-blk restarted, the proxy reconnected, 4 MiB verified again" \
	"$WORK/sp.log" "$WORK/vb.log" "$WORK/u.split.log" "$WORK/u.packed.log" "$WORK/u.again.log" || exit 1
exit 0
