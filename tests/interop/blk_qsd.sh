#!/bin/bash
# blk_qsd.sh - our virtio-blk driver (virtq-user blk) against QEMU's
# qemu-storage-daemon exporting a raw file as vhost-user-blk.
#
# Per ring layout (split, packed):
#   - a 32 MiB file of random bytes; qemu-storage-daemon exports it
#     (--export type=vhost-user-blk,writable=on);
#   - virtq-user blk --mode verify --size 16M --seed S writes the first
#     16 MiB with its pattern (the 64-bit little-endian word at byte offset
#     x is x ^ (S * 0x9e3779b97f4a7c15)), flushes, reads it back and
#     compares, then WRITE_ZEROES block 0 and reads zeroes back; it must
#     end "verify: OK" with 0 mismatches and 0 errors;
#   - the daemon stops cleanly (SIGTERM), and the host checks the file on
#     its own: the pattern regenerated from S (perl) over the first 16 MiB,
#     block 0 all zeroes, the last 16 MiB unchanged (md5).
# qemu-storage-daemon 7.2 (libvhost-user) does not offer
# VIRTIO_F_RING_PACKED: the packed case then checks that virtq-user falls
# back to split rings and still verifies (a daemon that offers packed rings
# gets the packed check).
#
# CPUs: virtq-user on CPU 0, the daemon on CPU 1.
# One PASS/FAIL/SKIP line per case; exit 0 no failure, 1 a failure, 77 skip.
# VIRTQ_KEEP=1 keeps the work directory (image and logs).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
LIB=$ROOT/tests/interop/lib
. "$LIB/deps.sh"
. "$LIB/net.sh"

NAME=blk_qsd
VQU=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}/virtq-user
# BLK_QSD_SVQ=1 (svq_qsd.sh): virtq-user reaches qemu-storage-daemon through
# virtq-svq, which relays every request through a shadow ring; the daemon
# sees only the proxy's IOVA memory layout.
SVQ=
if [[ -n ${BLK_QSD_SVQ:-} ]]; then
	NAME=svq_qsd
	SVQ=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}/virtq-svq
	[[ -x $SVQ ]] || { echo "SKIP $NAME: $SVQ not built"; exit 77; }
fi
FILE_MB=32
REGION_MB=16
BS=4096
CPU1=$(($(nproc) > 1 ? 1 : 0))

skip() { echo "SKIP $NAME: $*"; exit 77; }

[[ -x $VQU ]] || skip "$VQU not built"
if ! command -v qemu-storage-daemon >/dev/null; then
	need_pkgs qemu-system-common || skip "qemu-system-common (qemu-storage-daemon) not installable"
	command -v qemu-storage-daemon >/dev/null ||
		skip "qemu-system-common installed but no qemu-storage-daemon on PATH"
fi
need_pkgs perl-base || skip "perl-base not installable"
QSD_VERSION=$(qemu-storage-daemon --version | head -n 1 | awk '{ print $3 }')

WORK=$(mktemp -d "${TMPDIR:-/tmp}/virtq-blk-qsd.XXXXXX")
if [[ -n ${VIRTQ_KEEP:-} ]]; then echo "  work dir kept: $WORK"; else vq_on_exit "rm -rf '$WORK'"; fi

FAILS=0

md5_range() { # FILE SKIP_MB COUNT_MB
	dd if="$1" bs=1M skip="$2" count="$3" status=none | md5sum | cut -d' ' -f1
}

# host_check FILE KEY_HEX REGION_BYTES ZERO_BYTES: the pattern over the
# region, the first ZERO_BYTES zero. Prints the first difference, if any.
host_check() {
	perl -e '
		no warnings "portable";
		my ($file, $k, $len, $zero) = ($ARGV[0], hex($ARGV[1]), $ARGV[2], $ARGV[3]);
		open(my $f, "<:raw", $file) or die "open $file: $!\n";
		my $chunk = 1 << 20;
		for (my $base = 0; $base < $len; $base += $chunk) {
			my $got;
			read($f, $got, $chunk) == $chunk or die "short read at $base\n";
			my $want = pack("Q<*", map { my $x = $base + 8 * $_; $x < $zero ? 0 : $x ^ $k } 0 .. $chunk / 8 - 1);
			next if $got eq $want;
			for (my $i = 0; $i < $chunk; $i += 8) {
				next if substr($got, $i, 8) eq substr($want, $i, 8);
				printf "byte offset %d: file has %s, want %s\n", $base + $i,
					unpack("H16", substr($got, $i, 8)), unpack("H16", substr($want, $i, 8));
				exit 1;
			}
		}' "$@"
}

one_case() {
	local layout=$1 tag=$1 img=$WORK/$1.img sock=$WORK/$1.sock
	local qlog=$WORK/$1.qsd.log ulog=$WORK/$1.vqu.log errs='' rc qpid seed key want got tail_md5
	local vargs=(--mode verify --size "${REGION_MB}M" --bs "$BS" --cpu 0)
	[[ $layout == packed ]] && vargs+=(--packed)
	seed=$((RANDOM * 32768 + RANDOM + 1))
	head -c $((FILE_MB << 20)) /dev/urandom >"$img"
	tail_md5=$(md5_range "$img" "$REGION_MB" $((FILE_MB - REGION_MB)))
	rm -f "$sock"
	vq_spawn "$qlog" 120 taskset -c "$CPU1" qemu-storage-daemon \
		--blockdev "driver=file,node-name=f0,filename=$img" \
		--export "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=$sock,writable=on"
	qpid=$VQ_PID
	local end=$((SECONDS + 10))
	until _net_listening "$sock" || ((SECONDS > end)) || ! vq_alive "$qpid"; do vq_sleep 0.05; done
	_net_listening "$sock" || {
		net_result "$NAME" "$tag" " qemu-storage-daemon did not listen on $sock" "-" "$qlog"
		FAILS=$((FAILS + 1))
		return
	}
	local usock=$sock plog=$WORK/$1.svq.log ppid= v
	if [[ -n $SVQ ]]; then
		usock=$WORK/$1.svq.sock
		vq_spawn "$plog" 120 "$SVQ" --socket "$usock" --backend "$sock" --type blk
		ppid=$VQ_PID
		end=$((SECONDS + 10))
		until _net_listening "$usock" || ((SECONDS > end)) || ! vq_alive "$ppid"; do
			vq_sleep 0.05
		done
	fi
	vq_spawn "$ulog" 120 "$VQU" blk --socket "$usock" --seed "$seed" "${vargs[@]}"
	net_wait "$VQ_PID" 110
	rc=$?
	((rc == 0)) || errs+=" virtq-user exited $rc;"
	if [[ -n $ppid ]]; then
		vq_kill "$ppid" INT 10 || errs+=" virtq-svq exited $? after SIGINT;"
		v=$(vq_log_fault "$plog")
		[[ -z $v ]] || errs+=" virtq-svq: $v;"
		grep -aq 'frontend connected' "$plog" || errs+=" virtq-user never reached virtq-svq;"
		errs+=$(net_san_check "$plog")
	fi
	vq_kill "$qpid" TERM 10
	rc=$?
	((rc == 0)) || errs+=" qemu-storage-daemon exited $rc after SIGTERM;"
	errs+=$(net_san_check "$ulog")
	grep -aq '^verify: OK$' "$ulog" || errs+=" virtq-user did not report 'verify: OK';"
	want=$((REGION_MB * 1024 * 1024 / BS))
	grep -aq "^read back $want blocks: 0 mismatches, 0 errors" "$ulog" ||
		errs+=" read back: '$(grep -a '^read back' "$ulog")', want $want blocks clean;"
	grep -aq '^WRITE_ZEROES: block 0 reads back as zeroes' "$ulog" ||
		errs+=" no WRITE_ZEROES check: '$(grep -a '^WRITE_ZEROES' "$ulog")';"
	# The pattern key, computed here from the seed (bash wraps at 64 bits).
	key=$(printf '%016x' $((seed * 0x9e3779b97f4a7c15)))
	grep -aq "^pattern seed $seed: word at byte offset x = x ^ 0x$key" "$ulog" ||
		errs+=" virtq-user's pattern line differs from seed $seed -> 0x$key;"
	got=$(host_check "$img" "$key" $((REGION_MB << 20)) "$BS" 2>&1) ||
		errs+=" host check of the file: ${got:-perl failed};"
	[[ $(md5_range "$img" "$REGION_MB" $((FILE_MB - REGION_MB))) == "$tail_md5" ]] ||
		errs+=" bytes past the ${REGION_MB} MiB region changed;"
	got=$(grep -ao '\(split\|packed\) rings' "$ulog" | cut -d' ' -f1)
	local detail="$REGION_MB MiB in $BS-byte blocks, seed $seed, $(grep -a '^read back' "$ulog" | cut -d: -f2 | sed 's/^ //'); host: pattern, zeroed block 0 and untouched tail ok"
	# qemu-storage-daemon (libvhost-user) offers no VIRTIO_F_RING_PACKED:
	# asked for packed rings, virtq-user must fall back to split and verify.
	local want=$layout
	local offered
	offered=$(grep -ao 'backend offers 0x[0-9a-f]*' "$ulog" | head -n1 | cut -d' ' -f3)
	if [[ $layout == packed && -n $offered ]] && (( !((offered >> 34) & 1) )); then
		want=split
		detail="packed not offered by qemu-storage-daemon $QSD_VERSION, fell back to split; $detail"
	fi
	[[ $got == "$want" ]] || errs+=" virtq-user runs ${got:-no} rings, want $want;"
	[[ -n $SVQ ]] && detail="through virtq-svq: $detail"
	net_result "$NAME" "$tag" "$errs" "$detail" "$ulog" "$qlog" ${ppid:+"$plog"} || FAILS=$((FAILS + 1))
}

t0=$SECONDS
for layout in ${BLK_QSD_LAYOUTS:-split packed}; do one_case "$layout"; done
echo "  qemu-storage-daemon $QSD_VERSION; $((SECONDS - t0)) s"
((FAILS == 0)) || exit 1
exit 0
