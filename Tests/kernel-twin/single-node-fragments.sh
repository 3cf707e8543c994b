#!/bin/bash
# single-node-fragments.sh: the real kernel doing what ClusterKernelTwinTests' fragments
# case replays in podwire: node pi-1 on a LAN bridge (flannel host-gw, MTU 1500), pods client
# and web on its cni0, NodePort Service web (port 80 to 8080) with web as its only endpoint,
# LAN host ext. Every datagram is 2000 bytes, so it leaves its sender as two fragments and
# pi-1's conntrack gathers it (nf_defrag_ipv4) before NAT and the rules see it: through the
# node port (DNAT and SNAT), the ClusterIP (bridged DNAT), pod to pod on the bridge, and out
# to ext (MASQUERADE); every echo comes back in two fragments too. The node runs podwire's
# own rules, DIR/pi-1.rules (record.sh makes them from DIR/topology.yaml; `make
# kernel-twins` re-records every twin):
#   sudo bash SCRIPT DIR          (DIR: this script's folder of the same name)
# writes DIR/pi-1.iptables-save, DIR/pi-1.conntrack, DIR/ip-s-link.jsonl (one `ip -s -j link`
# per namespace, after a "## name" line) and DIR/pcaps/. Root; iptables (nf_tables),
# conntrack, br_netfilter, tcpdump, python3. Namespaces kxf-* only, deleted on exit. IPv6
# and link-local IGMP reports are off (podwire models neither). The sends run back to back,
# each waiting for its echoes, rather than on podwire's timeline.
set -u
OUT=${1:?usage: $0 DIR (with pi-1.rules)}
mkdir -p "$OUT" /tmp/kx
source "$(dirname "$0")/lib.sh"
P=kxf-
NODES="1"
PODS="client pi-1 10.244.0.2 vethc
web pi-1 10.244.0.3 vethw"
ECHO="web 8080
ext 9000"
ALL="lan pi-1 ext client web"
lan_setup
cluster_setup host-gw
ip netns exec ${P}ext python3 /tmp/kx/send.py 192.168.50.11 30080 1 0.02 2000
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.20 80 2 0.02 2000
ip netns exec ${P}client python3 /tmp/kx/send.py 10.244.0.3 8080 1 0.02 2000
ip netns exec ${P}client python3 /tmp/kx/send.py 192.168.50.100 9000 1 0.02 2000
cluster_dump
