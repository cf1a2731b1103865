#!/bin/bash
# svq_guest.sh - a Linux guest under QEMU 7.2 (TCG, vhost-user
# virtio-net-pci, vectors=0, memfd share=on) -> virtq-svq -> virtq-net -> TAP.
#
# net_guest.sh's cases with virtq-svq between QEMU and virtq-net
# (NET_GUEST_SVQ=1): pings both ways over IPv4 and IPv6, VIRTQ_NET_MB (8)
# MiB each way by HTTP with md5 checks, the negotiated features, GSO and TSO
# frames crossing, no checksum errors; and virtq-svq saw QEMU connect, exits
# 0 on SIGINT, and logs no error, broken queue or buffer given back
# unforwarded.  Case: split:on:on:4 (VIRTQ_NET_CASES="... packed:on:on:6"
# adds more; packed passed too).
# Exit 0 pass, 1 fail, 77 skip (no root, TAP, netns, QEMU or kernel).
NET_GUEST_SVQ=1 exec bash "$(dirname "$0")/net_guest.sh" "$@"
