import Engine

/// The socket send buffer (`SO_SNDBUF`): what keeps a sender on a node from outrunning its
/// NIC. Every packet a socket sends is charged to it by its `skb->truesize` until the packet
/// is orphaned (`skb_orphan`) or freed (`sock_wfree`): when it enters another IPv4 stack
/// (`ip_rcv_core` orphans every packet it receives), when the NIC has sent it, or when it is
/// delivered or dropped. A sender whose buffer is full blocks in `sendmsg` until it is back
/// under half (`sock_writeable`, woken by `sock_def_write_space`).
///
/// So a pod's datagrams stop counting as soon as the node's IPv4 stack takes them from the
/// pod's veth: a pod that sends faster than the node's NIC loses datagrams at the NIC's
/// queue. A node's own socket keeps its datagrams charged while they wait in that queue, so
/// it is held to the wire's rate instead. Linux 6.18 in namespaces (2026-11-25,
/// Tests/kernel-twin/send-buffer.sh): `iperf3 -u -b 1G -l 1400` through a 100 Mbit/s tbf sent
/// 1000 Mbit/s from a namespace behind a router (90 % lost at the tbf), and 97 Mbit/s with
/// nothing lost from the router itself.
///
/// Not modelled: `SO_SNDBUF` set by an application (podwire's keep the default); the UDP
/// echo and ping steps do not wait for room (they send a few datagrams; only iperf3 floods).
extension World {
    /// `net.core.wmem_default`: a socket's send buffer unless it sets its own.
    public static let defaultSendBuffer = 212_992

    /// `skb->truesize` of a datagram of `ipLength` bytes (IPv4 header included) that
    /// `ip_make_skb` allocates: the head is `ipLength` plus link-layer reserve (16) plus 15,
    /// cache-aligned, plus `skb_shared_info` (320); heads up to 576 bytes come from the small
    /// head cache (576), larger ones from kmalloc's power-of-two sizes; `struct sk_buff` adds
    /// 256. Linux 6.18 (x86-64, 64-bit structures as on a 64-bit Pi OS) charged 832 bytes for a
    /// 64-byte UDP payload and 2304 for 1400 and 1472 (`ss -m`, the datagram held in an ARP
    /// queue; Tests/kernel-twin/send-buffer.sh).
    @inline(__always) static func sendTruesize(ipLength: Int) -> Int {
        let head = ((ipLength + 16 + 15 + 63) & ~63) + 320
        let allocated = head <= 576 ? 576 : 1 << (Int.bitWidth - (head - 1).leadingZeroBitCount)
        return allocated + 256
    }

    /// `skb_set_owner_w`: charge packet `p`, just built by socket `s`, to its send buffer.
    @inline(__always) func chargeSendBuffer(_ p: PacketHandle, to s: SocketID) {
        let i = Int(p.rawValue)
        let size = World.sendTruesize(ipLength: pool.length(p))
        pool.owner[i] = s.rawValue
        pool.charge[i] = Int32(truncatingIfNeeded: size)
        sockets[Int(s.rawValue)].sendBufferUsed += size
    }

    /// `skb_orphan`: `p` no longer counts against the socket that sent it (if any).
    @inline(__always) func orphan(_ p: PacketHandle) {
        let i = Int(p.rawValue)
        let s = Int(pool.owner[i])
        if s < 0 { return }
        pool.owner[i] = -1
        // `sock_wfree`: the charge goes back, and a blocked sender may go on.
        sockets[s].sendBufferUsed -= Int(pool.charge[i])
        if sockets[s].writeSpaceWaiter >= 0 { wakeWriter(s) }
    }

    /// `sock_def_write_space`: wake socket `s`'s blocked sender once its buffer is less than
    /// half full (`sock_writeable`).
    @inline(never) private func wakeWriter(_ s: Int) {
        guard sockets[s].sendBufferUsed * 2 < sockets[s].sendBuffer else { return }
        let tag = UInt64(sockets[s].writeSpaceWaiter)
        sockets[s].writeSpaceWaiter = -1
        scheduleTimer(sockets[s].app, tag: tag, after: .zero)
    }

    /// True when a send on `s` would not block: the buffer is not full yet
    /// (`sock_alloc_send_pskb` admits a datagram while `sk_wmem_alloc < sk_sndbuf`).
    public func hasSendBufferRoom(_ s: SocketID) -> Bool {
        sockets[Int(s.rawValue)].sendBufferUsed < sockets[Int(s.rawValue)].sendBuffer
    }

    /// Blocks the application of `s` in `sendmsg`: its timer `tag` fires once the buffer is
    /// less than half full.
    public func waitForSendBufferRoom(_ s: SocketID, tag: UInt64) {
        sockets[Int(s.rawValue)].writeSpaceWaiter = Int64(tag)
    }

    /// What the packets `s` sent still hold of its send buffer (`ss -m`'s `t`).
    public func sendBufferUsed(_ s: SocketID) -> Int { sockets[Int(s.rawValue)].sendBufferUsed }
}
