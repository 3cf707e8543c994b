#!/bin/bash
# two-node-vxlan-service.sh: the real kernel doing what NetfilterKernelTwinTests'
# two-node case replays in podwire: nodes pi-1 and pi-2 on a LAN bridge with flannel's VXLAN
# backend (flannel.1 with its static neighbour, FDB entry and onlink route; cni0; MTU 1450),
# pod client on pi-1, pod web-1 on pi-2 behind NodePort Service web, LAN host ext. Each
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
cluster_setup vxlan
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.20 80 3 0.02
ip netns exec ${P}client python3 /tmp/kx/send.py 10.244.1.2 8080 2 0.02
ip netns exec ${P}ext python3 /tmp/kx/send.py 192.168.50.11 30080 2 0.02
ip netns exec ${P}ext python3 /tmp/kx/send.py 192.168.50.12 30080 2 0.02
ip netns exec ${P}client python3 /tmp/kx/send.py 192.168.50.100 9000 2 0.02
ip netns exec ${P}client ping -q -c 2 -i 0.02 10.244.1.2 | tail -2
# Nodes to pods (a remote one over flannel.1, from its address; a local one over cni0) and
# a pod to a remote node's own socket.
ip netns exec ${P}pi-2 python3 /tmp/kx/echo.py 0.0.0.0 9000 & SERVERS="$SERVERS $!"
sleep 0.2
ip netns exec ${P}pi-1 python3 /tmp/kx/send.py 10.244.1.2 8080 2 0.02
ip netns exec ${P}pi-2 python3 /tmp/kx/send.py 10.244.1.2 8080 2 0.02
ip netns exec ${P}client python3 /tmp/kx/send.py 192.168.50.12 9000 2 0.02
# ext to pi-2's node port, 1472 bytes with DF (IP_PMTUDISC_DO) twice, 1 s apart: pi-2 answers
# "fragmentation needed" (the pod MTU is 1450); ext learns the path MTU, and its second try
# fails with EMSGSIZE before anything is sent (kernel reference case f3).
ip netns exec ${P}ext python3 -c "
import socket,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.setsockopt(socket.IPPROTO_IP, 10, 2)
for i in range(2):
    try: s.sendto(b'x'*1472,('192.168.50.12',30080)); print('sent 1472 with DF')
    except OSError as e: print('second send:', e)
    time.sleep(1)
"
cluster_dump
