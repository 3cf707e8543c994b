#!/bin/bash
# record.sh PODWIRE [TWIN ...]: re-records the kernel twins (all seven by default), run by
# `make kernel-twins`. For each twin folder: podwire runs its topology.yaml with --dump-rules,
# each node's rules (counters cut) become the folder's *.rules, and the twin's script runs
# them in Linux and writes the recordings the tests compare with. Root; needs iptables
# (nf_tables), conntrack, tcpdump, python3 and br_netfilter. Commit what changed.
set -eu
podwire=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
twins=("$@")
[ ${#twins[@]} -gt 0 ] || twins=(single-node-service two-node-vxlan-service two-node-host-gw-service two-node-service-features three-node-host-gw
                                two-node-vxlan-stale single-node-fragments)
for twin in "${twins[@]}"; do
  dir="$here/$twin"
  out=$(mktemp -d)
  "$podwire" run "$dir/topology.yaml" --out "$out/pcaps" --dump-rules > "$out/summary.txt"
  for node in $(grep -o '^# [^ ]*: iptables-save -c$' "$out/summary.txt" | cut -d' ' -f2 | tr -d ':'); do
    # The single-node twin's one node is "node" in its script.
    name=$node; [ "$twin" = single-node-service ] && name=node
    sed -n "/^# $node: iptables-save -c\$/,/^\$/p" "$out/summary.txt" | sed 1d \
      | sed -E 's/^\[[0-9]+:[0-9]+\] //; s/ \[[0-9]+:[0-9]+\]$/ [0:0]/' | grep -v '^# ' | sed '/^$/d' > "$dir/$name.rules"
  done
  rm -rf "$out"
  echo "== $twin"
  bash "$here/$twin.sh" "$dir"
done
