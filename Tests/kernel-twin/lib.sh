# lib.sh: sourced by the kernel-twin scripts. Writes the two traffic helpers they run in
# the namespaces: /tmp/kx/echo.py ADDRESS PORT (a UDP echo server, like a udp step's) and
# /tmp/kx/send.py DESTINATION PORT COUNT GAP [LENGTH] (COUNT datagrams of LENGTH bytes,
# default 10, from one socket, GAP seconds apart, then waits up to 0.5 s for each echo and
# says how many came back).
mkdir -p /tmp/kx
cat > /tmp/kx/echo.py <<'PY'
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind((sys.argv[1],int(sys.argv[2])))
while True:
    d,a=s.recvfrom(65535); s.sendto(d,a)
PY
cat > /tmp/kx/send.py <<'PY'
import socket,sys,time
dst,port,count,gap=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),float(sys.argv[4])
length=int(sys.argv[5]) if len(sys.argv) > 5 else 10
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(0.5)
got=0
for i in range(count):
    s.sendto(b"x"*length,(dst,port)); time.sleep(gap)
for i in range(count):
    try: s.recvfrom(65535); got+=1
    except socket.timeout: break
print(f"{dst}:{port} sent {count} echoed {got}")
PY

# Node numbers in NODES (default "1 2"): node pi-N is 192.168.50.1N on the LAN with pod
# subnet 10.244.(N-1).0/24. PODS lists the pods, "NAME NODE ADDRESS HOSTVETH" each (default:
# client on pi-1 and web-1, namespace web1, on pi-2); ECHO lists "NAMESPACE PORT" UDP echo
# servers (default web1:8080 and ext:9000).
NODES=${NODES:-"1 2"}
PODS=${PODS:-"client pi-1 10.244.0.2 vethc
web1 pi-2 10.244.1.2 vethw"}
ECHO=${ECHO:-"web1 8080
ext 9000"}

# ns_setup: namespaces $P$n for each n in $ALL, lo up, IPv6 off and no link-local IGMP
# reports (podwire models neither: igmp_link_local_mcast_reports=0 keeps cni0's IGMP report
# out of OUTPUT); any left from an earlier run are deleted first, and all on exit.
ns_setup() {
  cleanup() { for n in $ALL; do ip netns del $P$n 2>/dev/null; done; }
  trap cleanup EXIT
  cleanup
  for n in $ALL; do
    ip netns add $P$n
    ip netns exec $P$n sysctl -qw net.ipv4.igmp_link_local_mcast_reports=0 net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n $P$n link set lo up
  done
}

# node_cni0: the one-node scripts' cni0 in ${P}node (10.244.0.1/24, multicast off), with a
# MAC of its own as podwire's bridges have (see lan_setup).
node_cni0() {
  ip -n ${P}node link add cni0 address 02:44:00:00:00:01 type bridge
  ip -n ${P}node addr add 10.244.0.1/24 dev cni0
  ip -n ${P}node link set cni0 multicast off up
}

# node_pod NAME ADDRESS HOSTVETH: pod namespace $P$NAME on ${P}node's cni0 (node_cni0): its
# eth0 at ADDRESS/24 with a default route via cni0, the host end HOSTVETH with hairpin on.
node_pod() {
  ip link add eth0 netns $P$1 type veth peer name $3 netns ${P}node
  ip -n $P$1 addr add $2/24 dev eth0; ip -n $P$1 link set eth0 multicast off up
  ip -n $P$1 route add default via 10.244.0.1
  ip -n ${P}node link set $3 master cni0 multicast off up
  ip -n ${P}node link set $3 type bridge_slave hairpin on
}

# lan_setup: ns_setup, and a LAN bridge br-lan in ${P}lan with the nodes and ext
# (192.168.50.100) on it. The nodes get a default route via 192.168.50.1, a router that
# does not exist, as the kernel reference's nodes do (and podwire's: a packet to a
# ClusterIP nothing translates is forwarded, so FORWARD's REJECT sees it).
lan_setup() {
  ns_setup
  # Bridges get their own MAC, as podwire's have and as the CNI bridge plugin pins cni0's
  # (ensureAddr): left alone, Linux gives a bridge its lowest port's MAC, which changes as
  # pods come and go (flannel-io/flannel#1381), and the captures could not tell them apart.
  ip -n ${P}lan link add br-lan address 02:50:ff:00:00:01 type bridge; ip -n ${P}lan link set br-lan up
  lanport() { # ns ifname-in-ns lan-port-name addr
    ip link add $2 netns $P$1 type veth peer name $3 netns ${P}lan
    ip -n ${P}lan link set $3 master br-lan up
    ip -n $P$1 addr add $4 dev $2; ip -n $P$1 link set $2 up
  }
  for i in $NODES; do lanport pi-$i eth0 lan-pi-$i 192.168.50.1$i/24; done
  lanport ext eth0 lan-ext 192.168.50.100/24
  for i in $NODES; do ip -n ${P}pi-$i route add default via 192.168.50.1 dev eth0 onlink; done
}

# cluster_setup BACKEND: after lan_setup, flannel's BACKEND on every node (vxlan: flannel.1
# with a static neighbour, FDB entry and onlink route per other node, MTU 1450 for cni0 and
# pods; host-gw: a route to each other node's pod subnet via its address, MTU 1500), the
# PODS on cni0 with hairpin on, each node's $OUT/pi-N.rules loaded, the ECHO servers, and
# a capture of every interface.
cluster_setup() {
  local backend=$1 mtu=1500
  [ "$backend" = vxlan ] && mtu=1450
  for i in $NODES; do
    local N="ip -n ${P}pi-$i" j=$((i-1))
    $N link add cni0 address 02:44:0$i:00:00:01 type bridge; $N link set cni0 mtu $mtu; $N addr add 10.244.$j.1/24 dev cni0; $N link set cni0 up
    if [ "$backend" = vxlan ]; then
      $N link add flannel.1 type vxlan id 1 local 192.168.50.1$i dev eth0 dstport 8472 nolearning
      $N link set flannel.1 address 0e:00:00:00:00:0$i mtu 1450
      $N addr add 10.244.$j.0/32 dev flannel.1; $N link set flannel.1 up
    fi
    ip netns exec ${P}pi-$i sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  done
  for i in $NODES; do
    for k in $NODES; do
      [ $k = $i ] && continue
      local m=$((k-1))
      if [ "$backend" = vxlan ]; then
        ip -n ${P}pi-$i route add 10.244.$m.0/24 via 10.244.$m.0 dev flannel.1 onlink
        ip -n ${P}pi-$i neigh add 10.244.$m.0 lladdr 0e:00:00:00:00:0$k dev flannel.1 nud permanent
        ip netns exec ${P}pi-$i bridge fdb add 0e:00:00:00:00:0$k dev flannel.1 dst 192.168.50.1$k
      else
        ip -n ${P}pi-$i route add 10.244.$m.0/24 via 192.168.50.1$k dev eth0
      fi
    done
  done
  pod() { # name node ip hostveth
    local gw=${3%.*}.1
    ip link add eth0 netns $P$1 type veth peer name $4 netns ${P}$2
    ip -n $P$1 link set eth0 mtu $mtu; ip -n $P$1 addr add $3/24 dev eth0; ip -n $P$1 link set eth0 up
    ip -n $P$1 route add default via $gw
    ip -n ${P}$2 link set $4 mtu $mtu master cni0 up
    ip -n ${P}$2 link set $4 type bridge_slave hairpin on
  }
  while read -r name node address veth; do pod $name $node $address $veth; done <<< "$PODS"
  for i in $NODES; do ip netns exec ${P}pi-$i iptables-restore < "$OUT/pi-$i.rules" || exit 1; done
  SERVERS=""
  while read -r ns port; do
    ip netns exec $P$ns python3 /tmp/kx/echo.py 0.0.0.0 $port & SERVERS="$SERVERS $!"
  done <<< "$ECHO"
  twin_capture_start
}

# twin_capture_start: tcpdump -p (not promiscuous, as the kernel reference) on every
# interface of every namespace in $ALL, into $OUT/pcaps/NS__IFACE.pcap; returns once all
# are listening. Not promiscuous matters: with cni0 promiscuous, Linux 6.18 forwards a
# second copy of a bridged-DNAT datagram that waited for ARP (conntrack-clash.sh).
twin_capture_start() {
  rm -rf "$OUT/pcaps"; mkdir -p "$OUT/pcaps"; CAPTURES=""
  for n in $ALL; do
    for i in $(ip -n $P$n -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
      ip netns exec $P$n tcpdump -p -n -U --immediate-mode -s 0 -i $i -w "$OUT/pcaps/${n}__$i.pcap" 2>"/tmp/kx/tcpdump.${n}__$i.log" &
      CAPTURES="$CAPTURES $!"
    done
  done
  # Each tcpdump says "listening on" once it captures; twenty starting at once take seconds.
  for _ in $(seq 100); do
    local all=1
    for f in /tmp/kx/tcpdump.*.log; do grep -q "listening on" "$f" || all=0; done
    [ $all = 1 ] && break
    sleep 0.1
  done
  rm -f /tmp/kx/tcpdump.*.log
}

# cluster_dump: each node's iptables-save -c and conntrack -L, and ip -s -j link of every
# namespace, into $OUT; then stops the captures and the echo servers.
cluster_dump() {
  sleep 0.3
  kill -INT $CAPTURES; sleep 0.5
  for i in $NODES; do
    ip netns exec ${P}pi-$i iptables-save -c | grep -v "^#" > "$OUT/pi-$i.iptables-save"
    ip netns exec ${P}pi-$i conntrack -L > "$OUT/pi-$i.conntrack" 2>/dev/null
  done
  for n in $ALL; do echo "## $n"; ip -n $P$n -s -j link show; done > "$OUT/ip-s-link.jsonl"
  kill $SERVERS; wait 2>/dev/null
}

# iperf3-3.12-udp-client.json (next to this file) is what iperf 3.12 printed as the client of
#   ip netns exec A iperf3 -c 10.244.0.3 -p 5201 -u -b 20M -l 1000 -t 2 -J
# and iperf3-3.12-udp-client.txt the same without -J (A 10.0.0.1, B 10.0.0.2 on a veth),
# between two namespaces joined by a veth (server: iperf3 -s -1 in B); iperf3-3.12-udp-client.keys
# lists its key paths in order (python3: json.load keeps the order; arrays as "[]", their
# first element). Iperf3ReportTests holds podwire's report to those keys and their order.
