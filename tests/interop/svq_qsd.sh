#!/bin/bash
# svq_qsd.sh - virtq-user blk --mode verify -> virtq-svq -> qemu-storage-daemon
# (vhost-user-blk export of a raw file), split rings (it offers no packed).
#
# blk_qsd.sh's cases with virtq-svq in between (BLK_QSD_SVQ=1): every request
# crosses a shadow ring and qemu-storage-daemon (libvhost-user) maps only the
# proxy's IOVA memory layout.  Besides blk_qsd's checks (verify OK, every
# block read back clean, WRITE_ZEROES, the file on the host holds the
# pattern, bytes past the region untouched), the proxy must exit 0 on
# SIGINT and log no error, broken queue or unforwarded buffer.
# Exit 0 pass, 1 fail, 77 skip.
BLK_QSD_SVQ=1 BLK_QSD_LAYOUTS=${BLK_QSD_LAYOUTS:-split} exec bash "$(dirname "$0")/blk_qsd.sh" "$@"
