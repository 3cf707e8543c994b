#!/bin/bash
# three-node-host-gw.sh: the real kernel doing what NetfilterKernelTwinTests' three-node
# case replays in podwire: topologies/three-node-host-gw.yaml without its iperf3 step
# (three-node-host-gw/topology.yaml). Nodes pi-1, pi-2 and pi-3 on a LAN bridge with
# flannel's host-gw routes, client on pi-1, web-0 on pi-2, web-1 on pi-3, LAN host ext.
# Each node runs podwire's own rules, DIR/pi-N.rules (record.sh makes them from
# DIR/topology.yaml; `make kernel-twins` re-records every twin):
#   sudo bash three-node-host-gw.sh three-node-host-gw
# writes DIR/pi-N.iptables-save, DIR/pi-N.conntrack, DIR/ip-s-link.jsonl and DIR/pcaps/.
# Root; namespaces kx3-* only, deleted on exit. The sends run back to back, each waiting for
# its echoes, rather than on podwire's timeline.
set -u
OUT=${1:?usage: $0 DIR (with pi-1.rules, pi-2.rules and pi-3.rules)}
mkdir -p "$OUT" /tmp/kx
source "$(dirname "$0")/lib.sh"
P=kx3-
ALL="lan pi-1 pi-2 pi-3 ext client web0 web1"
NODES="1 2 3"
PODS="client pi-1 10.244.0.2 vethc
web0 pi-2 10.244.1.2 vethw0
web1 pi-3 10.244.2.2 vethw1"
ECHO="web0 8080
web1 9000"
lan_setup
cluster_setup host-gw
ip netns exec ${P}client python3 /tmp/kx/send.py 10.244.1.2 8080 3 0.05 64
ip netns exec ${P}client ping -q -c 3 -i 0.1 10.244.2.2 | tail -2
ip netns exec ${P}client python3 /tmp/kx/send.py 10.244.2.2 9000 1 0.01 1472
ip netns exec ${P}ext ping -q -c 2 -i 0.1 192.168.50.12 | tail -2
cluster_dump
