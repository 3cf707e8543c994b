# lib.sh: sourced by the kernel-twin scripts. Writes the two traffic helpers they run in
# the namespaces: /tmp/kx/echo.py ADDRESS PORT (a UDP echo server, like a udp step's) and
# /tmp/kx/send.py DESTINATION PORT COUNT GAP (COUNT 10-byte datagrams from one socket, GAP
# seconds apart, then waits up to 0.5 s for each echo and says how many came back).
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
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(0.5)
got=0
for i in range(count):
    s.sendto(b"x"*10,(dst,port)); time.sleep(gap)
for i in range(count):
    try: s.recvfrom(100); got+=1
    except socket.timeout: break
print(f"{dst}:{port} sent {count} echoed {got}")
PY

# two_node_lan: namespaces $P$n for each n in $ALL (IPv6 and link-local IGMP reports off,
# lo up; all deleted on exit), and a LAN bridge br-lan in ${P}lan with pi-1, pi-2 and ext
# on it at 192.168.50.11, .12 and .100. The nodes get a default route via 192.168.50.1, a
# router that does not exist, as the kernel reference's nodes do (and podwire's: a packet
# to a ClusterIP nothing translates is forwarded, so FORWARD's REJECT sees it).
two_node_lan() {
  cleanup() { for n in $ALL; do ip netns del $P$n 2>/dev/null; done; }
  trap cleanup EXIT
  cleanup
  for n in $ALL; do
    ip netns add $P$n
    ip netns exec $P$n sysctl -qw net.ipv4.igmp_link_local_mcast_reports=0 net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n $P$n link set lo up
  done
  ip -n ${P}lan link add br-lan type bridge; ip -n ${P}lan link set br-lan up
  lanport() { # ns ifname-in-ns lan-port-name addr
    ip link add $2 netns $P$1 type veth peer name $3 netns ${P}lan
    ip -n ${P}lan link set $3 master br-lan up
    ip -n $P$1 addr add $4 dev $2; ip -n $P$1 link set $2 up
  }
  lanport pi-1 eth0 lan-pi-1 192.168.50.11/24
  lanport pi-2 eth0 lan-pi-2 192.168.50.12/24
  lanport ext eth0 lan-ext 192.168.50.100/24
  for n in pi-1 pi-2; do ip -n $P$n route add default via 192.168.50.1 dev eth0 onlink; done
}
