#!/bin/bash
# svq_blk_guest.sh - a Linux guest under QEMU 7.2 (TCG, vhost-user-blk-pci,
# vectors=0, memfd share=on) -> virtq-svq -> virtq-blk.
#
# blk_guest.sh's first boot with virtq-svq between QEMU and virtq-blk
# (BLK_GUEST_SVQ=1): the guest sees /dev/vda with the file's size and the
# serial, writes 4 MiB with dd, reads it back after dropping its caches (md5),
# the host finds the same bytes in the file, blkdiscard zeroes its range; and
# virtq-svq saw QEMU connect, exits 0 on SIGINT and logs no error, broken
# queue or buffer given back unforwarded.  Exit 0 pass, 1 fail, 77 skip.
BLK_GUEST_SVQ=1 exec bash "$(dirname "$0")/blk_guest.sh" "$@"
