#!/bin/bash
# 9p_guest.sh - a Linux guest (QEMU 7.2, TCG) mounts `virtq-9p serve --tcp`
# with the kernel's own 9p client (9pnet_fd: trans=tcp, version=9p2000.L),
# over QEMU user networking: the guest reaches the host's loopback at
# 10.0.2.2, so the server listens on 127.0.0.1 only.
#
# The guest: copies a tree the host made out of the mount (md5 of every file
# against the host's), copies a tree it made into the mount (the host checks
# the md5s of what landed in the export), reads it back after dropping its
# caches, runs ls -lR, renames a file and a directory, unlinks, rmdirs,
# makes a symlink and a hard link; the host checks each on its side.
#
# Prints PASS/FAIL/SKIP lines; exit 0 passed, 77 skipped, 1 failed.
# VIRTQ_KEEP=1 keeps the work directory (console and server logs).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
LIB=$ROOT/tests/interop/lib
. "$LIB/guest.sh"

NAME=9p_guest
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}/virtq-9p

skip() { echo "SKIP $NAME: $*"; exit 77; }
fail() { echo "FAIL $NAME: $*"; [[ -n ${LOG:-} ]] && guest_dump "$LOG"; \
	[[ -n ${SLOG:-} ]] && { echo "---- server log ----" >&2; tail -n 20 "$SLOG" >&2; }; exit 1; }

[[ -x $BIN ]] || skip "$BIN not built"
need_qemu || skip "qemu-system-x86 not installable"
need_guest_kernel || skip "no guest kernel"
need_busybox || skip "busybox-static not installable"
need_cpio || skip "cpio not installable"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/virtq-9p-guest.XXXXXX")
if [[ -n ${VIRTQ_KEEP:-} ]]; then echo "  work dir kept: $WORK"; else vq_on_exit "rm -rf '$WORK'"; fi
EXP=$WORK/export
mkdir -p "$EXP/fromhost/deep/er"
for s in 0 1 4095 4096 65537 1048579 3145728; do
	head -c "$s" /dev/urandom >"$EXP/fromhost/f$s"
done
head -c 200000 /dev/urandom >"$EXP/fromhost/deep/er/nested"
echo "text" >"$EXP/fromhost/deep/t.txt"
ln -s deep/t.txt "$EXP/fromhost/link"

# md5 listing of the regular files under a directory, as the guest computes it
listing() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs md5sum | md5sum | cut -d' ' -f1); }

# ---- the server, on a free loopback port
SLOG=$WORK/server.log
for _ in 1 2 3 4 5; do
	PORT=$((20000 + RANDOM % 30000))
	vq_spawn "$SLOG" 300 "$BIN" serve --export "$EXP" --tcp "127.0.0.1:$PORT"
	SPID=$VQ_PID
	for _ in $(seq 50); do grep -q 'serving' "$SLOG" && break; vq_alive "$SPID" || break; sleep 0.1; done
	grep -q 'serving' "$SLOG" && break
	vq_kill "$SPID" TERM 5
	SPID=
done
[[ -n ${SPID:-} ]] || fail "server did not start"

cat >"$WORK/guest.sh" <<EOF
. /etc/virtq.sh
vq_wait_path /sys/class/net/eth0 20 || { echo "no eth0"; exit 1; }
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 || exit 1
mkdir -p /mnt
mount -t 9p -o trans=tcp,port=$PORT,version=9p2000.L,msize=262144 10.0.2.2 /mnt ||
	{ echo "mount failed"; exit 1; }
grep ' /mnt ' /proc/mounts
l() { (cd "\$1" && find . -type f | LC_ALL=C sort | xargs md5sum | md5sum | cut -d' ' -f1); }
echo "VIRTQ-9P-FROMHOST \$(l /mnt/fromhost)"
cp -a /mnt/fromhost /tmp/copy || exit 1
echo "VIRTQ-9P-COPY \$(l /tmp/copy)"
echo "VIRTQ-9P-LINK \$(readlink /mnt/fromhost/link) \$(cat /mnt/fromhost/link)"
mkdir -p /tmp/gen/sub/subsub
for s in 0 7 4096 100000 1048577 2000000; do
	dd if=/dev/urandom of=/tmp/gen/g\$s bs=\$s count=1 2>/dev/null || : >/tmp/gen/g\$s
done
dd if=/dev/urandom of=/tmp/gen/sub/subsub/x bs=1000 count=33 2>/dev/null
echo "VIRTQ-9P-GEN \$(l /tmp/gen)"
for g in g1048577 g2000000 sub/subsub/x; do
	echo "VIRTQ-9P-MD5-\${g##*/} \$(md5sum </tmp/gen/\$g | cut -d' ' -f1)"
done
cp -a /tmp/gen /mnt/fromguest || exit 1
sync
echo 3 >/proc/sys/vm/drop_caches
echo "VIRTQ-9P-BACK \$(l /mnt/fromguest)"
ls -lR /mnt >/tmp/ls || exit 1
echo "VIRTQ-9P-LSLR \$(grep -c . /tmp/ls) \$(grep -c nested /tmp/ls)"
mv /mnt/fromguest/g7 /mnt/fromguest/sub/g7-renamed || exit 1
mv /mnt/fromguest/sub /mnt/fromguest/sub2 || exit 1
rm /mnt/fromguest/g0 || exit 1
mkdir /mnt/fromguest/empty && rmdir /mnt/fromguest/empty || exit 1
ln -s g4096 /mnt/fromguest/sym || exit 1
ln /mnt/fromguest/g4096 /mnt/fromguest/hard || exit 1
echo appended >>/mnt/fromguest/sub2/g7-renamed || exit 1
echo "VIRTQ-9P-RENAMED \$(md5sum </mnt/fromguest/sub2/g7-renamed | cut -d' ' -f1)"
ls /mnt/fromguest >/dev/null
umount /mnt || exit 1
echo "VIRTQ-9P-OK"
exit 0
EOF

bash "$VIRTQ_MKINITRAMFS" "$WORK/initrd.gz" --init "$WORK/guest.sh" --module 9p \
	--module 9pnet_fd >"$WORK/mkinitramfs.log" 2>&1
rc=$?
((rc == 77)) && skip "initramfs: $(grep SKIP "$WORK/mkinitramfs.log" | head -n 1)"
((rc == 0)) || { cat "$WORK/mkinitramfs.log" >&2; fail "mkinitramfs failed"; }

LOG=$WORK/guest.log
guest_run "$LOG" "$WORK/initrd.gz" 300 \
	-netdev user,id=n0,restrict=off -device virtio-net-pci,netdev=n0,vectors=0,romfile=
rc=$?
grep -q 'VIRTQ-GUEST-INSMOD-FAIL' "$LOG" && fail "a module did not load: $(grep -a INSMOD-FAIL "$LOG" | head -n 3 | tr '\n' ' ')"
((rc == 0)) || fail "guest test failed (rc=$rc)"

value() { grep -a "^$1 " "$LOG" | tail -n 1 | cut -d' ' -f2- | tr -d '\r'; }
want=$(listing "$EXP/fromhost")
[[ $(value VIRTQ-9P-FROMHOST) == "$want" ]] || fail "guest read the host's tree as $(value VIRTQ-9P-FROMHOST), host $want"
[[ $(value VIRTQ-9P-COPY) == "$want" ]] || fail "guest's copy of the tree differs"
[[ $(value VIRTQ-9P-LINK) == "deep/t.txt text" ]] || fail "symlink seen as '$(value VIRTQ-9P-LINK)'"
gen=$(value VIRTQ-9P-GEN)
[[ -n $gen && $(value VIRTQ-9P-BACK) == "$gen" ]] || fail "guest read back $(value VIRTQ-9P-BACK), wrote $gen"
read -r lines nested <<<"$(value VIRTQ-9P-LSLR)"
((lines > 20 && nested == 1)) || fail "ls -lR: $lines lines, $nested 'nested'"
F=$EXP/fromguest
[[ -f $F/sub2/g7-renamed && ! -e $F/g7 && ! -e $F/sub ]] || fail "renames not seen on the host"
[[ ! -e $F/g0 && ! -e $F/empty ]] || fail "unlink/rmdir not seen on the host"
[[ $(readlink "$F/sym") == g4096 ]] || fail "symlink not made on the host"
[[ $(stat -c %h "$F/g4096") == 2 ]] || fail "hard link not made on the host"
[[ $(md5sum <"$F/sub2/g7-renamed" | cut -d' ' -f1) == "$(value VIRTQ-9P-RENAMED)" ]] ||
	fail "appended file differs on the host"
# the host's view of files the guest wrote
for g in g1048577 g2000000 sub2/subsub/x; do
	[[ $(md5sum <"$F/$g" | cut -d' ' -f1) == "$(value "VIRTQ-9P-MD5-${g##*/}")" ]] ||
		fail "$g: host md5 differs from the guest's"
done
vq_kill "$SPID" TERM 10 || true
echo "  guest: $(value VIRTQ-9P-LSLR | cut -d' ' -f1) lines of ls -lR; md5 $want (host tree), $gen (guest tree)"
echo "PASS $NAME"
exit 0
