#!/bin/bash
# two-node-service-features.sh: the real kernel doing what NetfilterKernelTwinTests'
# Service-features case replays in podwire: the host-gw twin's nodes, pods and LAN host,
# with Services that use kube-proxy's other rules: sessionAffinity ClientIP (-m recent),
# a NodePort with externalTrafficPolicy Local (dropped on the node without an endpoint, not
# masqueraded on the one with it) and a Service without endpoints (REJECT). Each
# node runs podwire's own rules for that node, DIR/pi-N.rules: the test topology's
#   podwire run <topology> --out /tmp/out --dump-rules, each node's iptables-save -c with
#   the counters cut ([n:m] -> nothing before rules, [0:0] after chains).
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
two_node_lan
for i in 1 2; do
  N="ip -n ${P}pi-$i"; j=$((i-1))
  $N link add cni0 type bridge; $N addr add 10.244.$j.1/24 dev cni0; $N link set cni0 up
  ip netns exec ${P}pi-$i sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
done
ip -n ${P}pi-1 route add 10.244.1.0/24 via 192.168.50.12 dev eth0
ip -n ${P}pi-2 route add 10.244.0.0/24 via 192.168.50.11 dev eth0
pod() { # name node ip hostveth gw
  ip link add eth0 netns $P$1 type veth peer name $4 netns ${P}$2
  ip -n $P$1 addr add $3/24 dev eth0; ip -n $P$1 link set eth0 up
  ip -n $P$1 route add default via $5
  ip -n ${P}$2 link set $4 master cni0 up
  ip -n ${P}$2 link set $4 type bridge_slave hairpin on
}
pod client pi-1 10.244.0.2 vethc 10.244.0.1
pod web1 pi-2 10.244.1.2 vethw 10.244.1.1
ip netns exec ${P}pi-1 iptables-restore < "$OUT/pi-1.rules" || exit 1
ip netns exec ${P}pi-2 iptables-restore < "$OUT/pi-2.rules" || exit 1
ip netns exec ${P}web1 python3 /tmp/kx/echo.py 0.0.0.0 8080 & E1=$!
sleep 0.5
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.30 80 2 0.02
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.30 80 1 0.02
ip netns exec ${P}ext python3 /tmp/kx/send.py 192.168.50.11 30090 2 0.02
ip netns exec ${P}ext python3 /tmp/kx/send.py 192.168.50.12 30090 2 0.02
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.21 80 2 0.02
sleep 0.3
for i in 1 2; do ip netns exec ${P}pi-$i iptables-save -c | grep -v "^#" > "$OUT/pi-$i.iptables-save"; ip netns exec ${P}pi-$i conntrack -L > "$OUT/pi-$i.conntrack" 2>/dev/null; done
for n in $ALL; do echo "## $n"; ip -n $P$n -s -j link show; done > "$OUT/ip-s-link.jsonl"
kill $E1; wait 2>/dev/null
