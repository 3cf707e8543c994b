#!/bin/bash
# single-node-service.sh: the real kernel doing what NetfilterKernelTwinTests replays in
# podwire (its topology: one Pi node, pods client and web on cni0, a NodePort Service web
# with web as its only endpoint, a LAN host ext). Run as root on a machine with iptables
# (nf_tables), conntrack and br_netfilter; it builds network namespaces named kx-* only and
# deletes them on exit. The node runs podwire's own rules, DIR/node.rules (record.sh makes
# them from DIR/topology.yaml's pi-1; `make kernel-twins` re-records every twin):
#   sudo bash single-node-service.sh single-node-service
# writes DIR/node.iptables-save, DIR/node.conntrack, DIR/ip-s-link.jsonl and DIR/pcaps/, which
# NetfilterKernelTwinTests holds as its expectations. Differences from podwire's run that do not matter
# to iptables: the node's eth0 is joined to ext's directly (podwire has a LAN switch), and
# the sends are back to back rather than on podwire's timeline (each waits for its echoes).
set -u
source "$(dirname "$0")/lib.sh"
OUT=${1:?usage: $0 DIR (with node.rules)}
P=kx-
ALL="node client web ext"
ns_setup
N="ip netns exec ${P}node"
node_cni0
node_pod client 10.244.0.2 vethc
node_pod web 10.244.0.3 vethw
ip link add eth0 netns ${P}node type veth peer name eth0 netns ${P}ext
ip -n ${P}node addr add 192.168.50.11/24 dev eth0; ip -n ${P}node link set eth0 multicast off up
ip -n ${P}ext addr add 192.168.50.100/24 dev eth0; ip -n ${P}ext link set eth0 multicast off up
$N sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
$N iptables-restore < "$OUT/node.rules" || { echo restore failed; exit 1; }
ip netns exec ${P}web python3 /tmp/kx/echo.py 0.0.0.0 8080 & E1=$!
ip netns exec ${P}ext python3 /tmp/kx/echo.py 0.0.0.0 9000 & E2=$!
twin_capture_start
$N iptables -Z; $N iptables -t nat -Z
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.20 80 3 0.02
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.20 80 1 0.02
ip netns exec ${P}client python3 /tmp/kx/send.py 10.244.0.3 8080 2 0.02
ip netns exec ${P}ext python3 /tmp/kx/send.py 192.168.50.11 30080 2 0.02
ip netns exec ${P}client python3 /tmp/kx/send.py 192.168.50.100 9000 2 0.02
ip netns exec ${P}web python3 /tmp/kx/send.py 10.96.0.20 80 1 0.02
sleep 0.3
kill -INT $CAPTURES; sleep 0.5
$N iptables-save -c | grep -v '^#' > "$OUT/node.iptables-save"
$N conntrack -L > "$OUT/node.conntrack" 2>/dev/null
for n in $ALL; do echo "## $n"; ip -n $P$n -s -j link show; done > "$OUT/ip-s-link.jsonl"
kill $E1 $E2; wait 2>/dev/null
