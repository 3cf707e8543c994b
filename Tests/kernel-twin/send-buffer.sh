#!/bin/bash
# send-buffer.sh: the evidence behind World+SendBuffer.swift (not a recorded twin: it prints
# what it sees). Root; needs iperf3, ss and tc; builds namespaces kb-* only and deletes them
# on exit:   sudo bash send-buffer.sh
# 1. skb->truesize a UDP datagram is charged to its socket's send buffer: one datagram sent to
#    a neighbour that never answers ARP waits in the ARP queue, and `ss -m` shows the charge
#    (t). Linux 6.18 x86-64 (2026-11-25): 64 B → 832, 1400 B → 2304, 1472 B → 2304.
# 2. Who is held back by a slow NIC queue: `iperf3 -u -b 1G -l 1400 -t 2` to dst through a
#    100 Mbit/s tbf on the router's egress. From pod (a namespace behind the router): 1000
#    Mbit/s sent, 90 % lost, the tbf dropped 161146 (the router's IPv4 stack orphans the pod's
#    datagrams, so they stop counting against its socket). From the router itself: 96.9–97.2
#    Mbit/s sent (two runs), 0 lost, the tbf dropped 0 (the socket blocks on its full send
#    buffer).
set -u
source "$(dirname "$0")/lib.sh"
P=kb-
ALL="a b pod router dst"
ns_setup

echo "== 1. truesize (ss -m t) per UDP payload"
ip link add d0 netns ${P}a type veth peer name e0 netns ${P}b
ip -n ${P}a addr add 10.9.0.1/24 dev d0; ip -n ${P}a link set d0 up
ip -n ${P}b link set e0 arp off; ip -n ${P}b link set e0 up
for len in 64 1400 1472; do
  ip netns exec ${P}a python3 - $len <<'PY'
import socket, subprocess, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.9.0.1", 0))
s.sendto(b"x" * n, ("10.9.0.2", 9))
time.sleep(0.05)
out = subprocess.run(["ss", "-uanm", "src", "10.9.0.1"], capture_output=True, text=True).stdout
print(n, "B:", " ".join(l.strip() for l in out.splitlines() if "skmem" in l))
PY
done

echo "== 2. iperf3 -u -b 1G -l 1400 through a 100 Mbit/s tbf"
ip link add eth0 netns ${P}pod type veth peer name vp netns ${P}router
ip link add eth1 netns ${P}router type veth peer name eth0 netns ${P}dst
ip -n ${P}pod addr add 10.0.1.2/24 dev eth0; ip -n ${P}pod link set eth0 up; ip -n ${P}pod route add default via 10.0.1.1
ip -n ${P}router addr add 10.0.1.1/24 dev vp; ip -n ${P}router link set vp up
ip -n ${P}router addr add 10.0.2.1/24 dev eth1; ip -n ${P}router link set eth1 up
ip -n ${P}dst addr add 10.0.2.2/24 dev eth0; ip -n ${P}dst link set eth0 up; ip -n ${P}dst route add default via 10.0.2.1
ip netns exec ${P}router sysctl -qw net.ipv4.ip_forward=1
for from in pod router; do
  ip netns exec ${P}router tc qdisc replace dev eth1 root tbf rate 100mbit burst 32kbit limit 100000
  ip netns exec ${P}dst iperf3 -s -1 -D; sleep 0.5
  echo "-- from $from"
  ip netns exec $P$from iperf3 -c 10.0.2.2 -u -b 1G -l 1400 -t 2 | grep -E "sender|receiver"
  ip netns exec ${P}router tc -s qdisc show dev eth1 | grep dropped
  ip netns exec ${P}router tc qdisc del dev eth1 root
  sleep 0.5
done
