#!/bin/bash
# two-node-service-features.sh: the real kernel doing what NetfilterKernelTwinTests'
# Service-features case replays in podwire: the host-gw twin's nodes, pods and LAN host,
# with Services that use kube-proxy's other rules: sessionAffinity ClientIP (-m recent),
# a NodePort with externalTrafficPolicy Local (dropped on the node without an endpoint, not
# masqueraded on the one with it) and a Service without endpoints (REJECT). Each
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
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.30 80 2 0.02
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.30 80 1 0.02
ip netns exec ${P}ext python3 /tmp/kx/send.py 192.168.50.11 30090 2 0.02
ip netns exec ${P}ext python3 /tmp/kx/send.py 192.168.50.12 30090 2 0.02
ip netns exec ${P}client python3 /tmp/kx/send.py 10.96.0.21 80 2 0.02
cluster_dump
