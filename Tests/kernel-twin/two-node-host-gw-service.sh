#!/bin/bash
# two-node-host-gw-service.sh: the real kernel doing what NetfilterKernelTwinTests'
# host-gw case replays in podwire: nodes pi-1 and pi-2 on a LAN bridge with flannel's
# host-gw backend (a route to the other node's pod subnet via its address; MTU 1500), pod
# client on pi-1, pod web-1 on pi-2 behind NodePort Service web (port 80 to 8080, and port
# 81 to 9999, where nothing listens), LAN host ext. Each
# node runs podwire's own rules for that node, DIR/pi-N.rules (record.sh makes them from
# DIR/topology.yaml; `make kernel-twins` re-records every twin):
#   sudo bash SCRIPT DIR          (DIR: this script's folder of the same name)
# writes DIR/pi-N.iptables-save, DIR/pi-N.conntrack and DIR/ip-s-link.jsonl (one
# `ip -s -j link` per namespace, after a "## name" line). Root; iptables (nf_tables),
# conntrack, br_netfilter, python3. Namespaces kx2-* only, deleted on exit. IPv6 and
# link-local IGMP reports are off (podwire models neither). The sends run back to back,
# each waiting for its echoes, rather than on podwire's timeline.
set -u
OUT=${1:?usage: $0 DIR (with pi-1.rules and pi-2.rules)}
mkdir -p "$OUT" /tmp/kx
source "$(dirname "$0")/lib.sh"
P=kx2-
ALL="lan pi-1 pi-2 ext client web1"
lan_setup
cluster_setup host-gw
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.20 80 3 0.02
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.20 81 2 0.02
ip netns exec ${P}ext python3 /tmp/kx/send.py 192.168.50.11 30080 2 0.02
ip netns exec ${P}client python3 /tmp/kx/send.py 10.244.1.2 8080 2 0.02
ip netns exec ${P}client ping -q -c 2 -i 0.02 10.244.1.2 | tail -2
cluster_dump
