#!/bin/bash
# two-node-vxlan-stale.sh: the real kernel doing what NetfilterKernelTwinTests' stale case
# replays in podwire (two-node-vxlan-stale/topology.yaml): the VXLAN twin's cluster, a
# datagram from the client to the ClusterIP and one from ext to pi-1's node port, then the
# same again 50 s later, when every neighbour entry is STALE; ten seconds more let the
# DELAY -> PROBE unicast ARP happen. Each node runs podwire's own rules, DIR/pi-N.rules
# (record.sh makes them from DIR/topology.yaml; `make kernel-twins` re-records every twin):
#   sudo bash two-node-vxlan-stale.sh two-node-vxlan-stale
# writes DIR/pi-N.iptables-save, DIR/pi-N.conntrack, DIR/ip-s-link.jsonl and DIR/pcaps/.
# Root; namespaces kx2-* only, deleted on exit. Takes a minute.
set -u
OUT=${1:?usage: $0 DIR (with pi-1.rules and pi-2.rules)}
mkdir -p "$OUT" /tmp/kx
source "$(dirname "$0")/lib.sh"
P=kx2-
ALL="lan pi-1 pi-2 ext client web1"
lan_setup
cluster_setup vxlan
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.20 80 1 0
ip netns exec ${P}ext python3 /tmp/kx/send.py 192.168.50.11 30080 1 0
sleep 50
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.20 80 1 0
ip netns exec ${P}ext python3 /tmp/kx/send.py 192.168.50.11 30080 1 0
sleep 9
cluster_dump
