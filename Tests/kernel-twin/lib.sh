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
