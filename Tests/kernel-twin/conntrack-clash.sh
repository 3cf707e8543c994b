#!/bin/bash
# conntrack-clash.sh: what Linux does when first packets of one flow race to confirm, the
# evidence behind ConnectionTrackerTests' and BridgedDNATTests' clash cases (not a recorded
# twin: it prints what it sees). One node, pods client (10.244.0.2), web1 (.3) and web2 (.4)
# on cni0 with br_netfilter; a DNAT for 10.96.0.30:80 that alternates between web1:8080 and
# web2:8080 (`statistic --mode nth`, to force the split kube-proxy's random rules make by
# chance), and one for ICMP to 10.96.0.31 → web1. The endpoints do not answer ARP at first
# (arp off: web1 for 0.5 s, web2 for 1.5 s), so datagrams wait in cni0's ARP queue
# unconfirmed. Root; builds namespaces kc-* only and deletes them on exit:
#   sudo bash conntrack-clash.sh
# Linux 6.18 (2026-11-25):
# - UDP, three datagrams from one socket (x0, x2 → web1; x1 → web2): all three delivered and
#   echoed, every echo from 10.96.0.30:80; `conntrack -S` clash_resolve=2 insert=0
#   insert_failed=0 drop=0; `conntrack -L` one entry (to web1) while `conntrack -C` says 2
#   (x1's entry is in by its reply tuple only). A second later the hidden entry has timed
#   out; `conntrack -C` still says 2 until something reaps it (the gc worker, or a dump:
#   `conntrack -L` evicts expired entries), then 1.
# - ICMP, three echo requests with one id: one reply; insert_failed=2 drop=2 (no clash
#   resolution for ICMP); one entry.
# Captures use tcpdump -p: with cni0 promiscuous, Linux 6.18 also forwards a second copy of
# each datagram that waited for ARP behind the bridged DNAT (with cni0's MAC as source).
set -u
source "$(dirname "$0")/lib.sh"
P=kc-
ALL="node client web1 web2"
ns_setup
N="ip netns exec ${P}node"
node_cni0
node_pod client 10.244.0.2 vethc
node_pod web1 10.244.0.3 vethw1
node_pod web2 10.244.0.4 vethw2
$N sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
$N iptables-restore <<'RULES'
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.30/32 -p udp -m udp --dport 80 -m statistic --mode nth --every 2 --packet 0 -j DNAT --to-destination 10.244.0.3:8080
-A PREROUTING -d 10.96.0.30/32 -p udp -m udp --dport 80 -j DNAT --to-destination 10.244.0.4:8080
-A PREROUTING -d 10.96.0.31/32 -p icmp -j DNAT --to-destination 10.244.0.3
COMMIT
RULES
mkdir -p /tmp/kc
cat > /tmp/kc/echo.py <<'PY'
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind((sys.argv[1],int(sys.argv[2])))
while True:
    d,a=s.recvfrom(65535); print("web", sys.argv[1], "echoes", d, "to", a, flush=True); s.sendto(d,a)
PY
cat > /tmp/kc/send.py <<'PY'
import socket,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(4); s.bind(("0.0.0.0",40000))
for i in range(3): s.sendto(b"x%d"%i,("10.96.0.30",80))
t0=time.time()
for i in range(3):
    try: d,a=s.recvfrom(100); print("client hears", d, "from", a, "at %.2f s" % (time.time()-t0), flush=True)
    except socket.timeout: print("client: timeout"); break
PY
ip netns exec ${P}web1 python3 /tmp/kc/echo.py 10.244.0.3 8080 & E1=$!
ip netns exec ${P}web2 python3 /tmp/kc/echo.py 10.244.0.4 8080 & E2=$!
sleep 0.3
echo "== UDP"
ip -n ${P}web1 link set eth0 arp off; ip -n ${P}web2 link set eth0 arp off
(sleep 0.5; ip -n ${P}web1 link set eth0 arp on; sleep 1.0; ip -n ${P}web2 link set eth0 arp on) &
ip netns exec ${P}client python3 /tmp/kc/send.py & C=$!
sleep 1.3; echo "-- at 1.3 s: conntrack -L, -C"; $N conntrack -L 2>/dev/null; $N conntrack -C
wait $C
echo "-- after the echoes: conntrack -L, -S, -C"; $N conntrack -L 2>/dev/null; $N conntrack -S; $N conntrack -C
sleep 1.2; echo "-- 1.2 s later: conntrack -C, -L, -C"; $N conntrack -C; $N conntrack -L 2>/dev/null; $N conntrack -C
$N iptables -t nat -L PREROUTING -v -n -x
echo "== ICMP"
$N conntrack -F 2>/dev/null
$N ip neigh flush all
ip -n ${P}web1 link set eth0 arp off
(sleep 0.5; ip -n ${P}web1 link set eth0 arp on) &
ip netns exec ${P}client ping -n -c 3 -i 0.2 -W 3 10.96.0.31 | grep -v "^$"
$N conntrack -L 2>/dev/null; $N conntrack -S
kill $E1 $E2; wait 2>/dev/null
rm -rf /tmp/kc
