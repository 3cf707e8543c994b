import Engine
import Wire

/// VXLAN (drivers/net/vxlan/vxlan_core.c as flannel configures it): `vxlan_xmit` pushes
/// VXLAN, UDP and IPv4 headers into the frame's headroom — the inner frame is not copied — and
/// sends the result like any local UDP datagram; the UDP socket on the VXLAN port strips them
/// and hands the inner frame to the VXLAN device.
extension World {
    /// After the VXLAN device's transmit: FDB lookup of the inner destination MAC, then
    /// outer IPv4 (TTL 64, DF clear, fresh ID) / UDP (source port from the inner flow's hash in
    /// 32768–60999, destination the VXLAN port) / VXLAN (VNI), then IP output to the remote.
    func vxlanEncapsulate(_ index: Int, _ p: PacketHandle) {
        // Field reads, not a copy of the VXLANDevice (its FDB would be retained per packet).
        let device = vxlans[index].device
        let local = vxlans[index].local
        let ns = devices[device.index].namespace
        let inner = UnsafeRawBufferPointer(pool.bytes(p))
        let dst = MACAddress(loading: inner.baseAddress!)
        guard let remote = vxlans[index].fdb[dst.rawValue] else {
            devices[device.index].counters.txDropped += 1
            drop(p, .vxlanNoRemote, ns: ns, device: device)
            return
        }
        let sport = VXLANHeader.sourcePort(flowHash: innerFlowHash(inner, key: vxlans[index].hashKey))
        let innerLength = inner.count
        let innerChecksums = pool.validChecksums(p)
        VXLANHeader(vni: vxlans[index].vni).emit(into: UnsafeMutableRawBufferPointer(start: pool.push(p, VXLANHeader.length),
                                                                         count: VXLANHeader.length))
        let udpLength = UDPHeader.length + VXLANHeader.length + innerLength
        let udp = UnsafeMutableRawBufferPointer(start: pool.push(p, UDPHeader.length), count: udpLength)
        UDPHeader(sourcePort: sport, destinationPort: vxlans[index].port, length: UInt16(udpLength), checksum: 0).emit(into: udp)
        if vxlans[index].udpChecksum {
            let c = vxlanOuterChecksum(UnsafeRawBufferPointer(udp), local: local, remote: remote,
                                       innerValid: innerChecksums > 0 && shortcuts.contains(.knownChecksums))
            udp.storeBytes(of: c.bigEndian, toByteOffset: 6, as: UInt16.self)
        }
        // The outer checksum is ours (or 0, none), the inner ones are as they were.
        pool.setValidChecksums(p, innerChecksums + 1)
        let n = namespaces[ns.index]
        let total = IPv4Header.minimumLength + udpLength
        IPv4Header(tos: 0, totalLength: UInt16(total), identification: n.ipID, dontFragment: false, moreFragments: false,
                   fragmentOffset: 0, ttl: World.defaultTTL, protocol: .udp, source: local, destination: remote)
            .emit(into: UnsafeMutableRawBufferPointer(start: pool.push(p, IPv4Header.minimumLength),
                                                      count: IPv4Header.minimumLength))
        n.ipID &+= 1
        guard let route = n.routes.lookup(remote) else {
            drop(p, .noRoute, ns: ns, device: device)
            return
        }
        // `iptunnel_xmit` scrubs the inner packet's conntrack; the outer datagram is a new
        // local packet of the node (conntrack tracks the 8472 flows, REFERENCE.md §6).
        pool.meta[Int(p.rawValue)] = .none
        ipOutputLocal(ns, route: route, p, delay: n.costs.vxlanEncap)
    }

    /// The outer UDP checksum over `udp` (outer UDP header, VXLAN header, inner frame). When
    /// the inner frame is one whole IPv4/UDP datagram whose checksum is known valid and not
    /// 0, the inner datagram's bytes are not summed: like `vxlan_xmit` → `udp_set_csum` with
    /// local checksum offload, the result comes from the inner pseudo-header. The value is the
    /// same as summing every byte (checked in debug builds).
    @inline(__always)
    func vxlanOuterChecksum(_ udp: UnsafeRawBufferPointer, local: IPv4Address, remote: IPv4Address,
                            innerValid: Bool) -> UInt16 {
        let eth = UDPHeader.length + VXLANHeader.length
        let ipStart = eth + EthernetHeader.length
        if innerValid, udp.count >= ipStart + IPv4Header.minimumLength,
           udp[eth + 12] == 0x08, udp[eth + 13] == 0x00, udp[ipStart + 9] == 17 {
            let ip = udp.baseAddress! + ipStart
            let hl = Int(udp[ipStart] & 0x0F) * 4
            let total = Int(UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            let fragment = UInt16(bigEndian: ip.loadUnaligned(fromByteOffset: 6, as: UInt16.self)) & 0x3FFF != 0
            if !fragment, hl >= IPv4Header.minimumLength, total == udp.count - ipStart, total >= hl + UDPHeader.length,
               ip.loadUnaligned(fromByteOffset: hl + UDPHeader.checksumOffset, as: UInt16.self) != 0 {
                let c = UDPHeader.checksum(source: local, destination: remote, datagram: udp,
                                           validInnerDatagramAt: ipStart + hl,
                                           innerSource: IPv4Address(loading: ip + IPv4Header.sourceOffset),
                                           innerDestination: IPv4Address(loading: ip + IPv4Header.destinationOffset))
                assert(c == UDPHeader.checksum(source: local, destination: remote, datagram: udp),
                       "inner checksum marked valid does not verify")
                return c
            }
        }
        return UDPHeader.checksum(source: local, destination: remote, datagram: udp)
    }

    /// The inner flow's hash (Linux: `skb_get_hash`, keyed per boot): addresses, protocol and,
    /// unless the packet is a fragment, the ports — so one flow keeps one outer port.
    func innerFlowHash(_ frame: UnsafeRawBufferPointer, key: UInt64) -> UInt32 {
        var h = key ^ 0xCBF2_9CE4_8422_2325
        @inline(__always) func mix(_ v: UInt64) {
            h = (h ^ v) &* 0x0000_0100_0000_01B3
            h ^= h >> 29
        }
        guard frame.count >= EthernetHeader.length + IPv4Header.minimumLength,
              frame[12] == 0x08, frame[13] == 0x00 else {
            // Not IPv4: Linux falls back to a hash of the MAC pair.
            for i in 0..<min(12, frame.count) { mix(UInt64(frame[i])) }
            return UInt32(truncatingIfNeeded: h ^ (h >> 32))
        }
        let ip = frame.baseAddress! + EthernetHeader.length
        mix(UInt64(ip.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
        mix(UInt64(ip.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))
        let proto = frame[EthernetHeader.length + 9]
        mix(UInt64(proto))
        let ihl = Int(frame[EthernetHeader.length] & 0x0F) * 4
        // Any fragment (MF set or an offset) is hashed without ports, so all pieces of a
        // datagram share one outer port (REFERENCE.md §4.3, case f2).
        let isFragment = frame[EthernetHeader.length + 6] & 0x3F != 0 || frame[EthernetHeader.length + 7] != 0
        if (proto == 17 || proto == 6), !isFragment, frame.count >= EthernetHeader.length + ihl + 4 {
            mix(UInt64(ip.loadUnaligned(fromByteOffset: ihl, as: UInt32.self)))
        }
        return UInt32(truncatingIfNeeded: h ^ (h >> 32))
    }

    /// The VXLAN port's UDP handler (`vxlan_rcv`): check the I flag and VNI, strip the outer
    /// IPv4/UDP/VXLAN headers and receive the inner frame on the VXLAN device — at the same
    /// instant, as the kernel reference shows (REFERENCE.md §3).
    func vxlanDecapsulate(_ index: Int, _ p: PacketHandle, _ ip: IPv4Header, _ l4: UnsafeRawBufferPointer) {
        let device = vxlans[index].device
        let ns = devices[device.index].namespace
        guard l4.count >= UDPHeader.length + VXLANHeader.length + EthernetHeader.length,
              let h = try? VXLANHeader(parsing: UnsafeRawBufferPointer(rebasing: l4[UDPHeader.length...])),
              h.flags & VXLANHeader.validVNIFlag != 0, h.vni == vxlans[index].vni else {
            drop(p, .vxlanBadHeader, ns: ns, device: device)
            return
        }
        pool.pull(p, ip.headerLength + UDPHeader.length + VXLANHeader.length)
        pool.setValidChecksums(p, max(pool.validChecksums(p) - 1, 0))
        pool.meta[Int(p.rawValue)] = .none  // `vxlan_rcv` scrubs the outer packet's conntrack
        devices[device.index].counters.received(pool.length(p) - devices[device.index].uncountedHeader)
        hop(.deviceRx, ns, device, p)
        charge(ns, p, namespaces[ns.index].costs.vxlanDecap)
        netifReceive(device, p)
    }
}
