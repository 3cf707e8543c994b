import Engine
import Wire

/// IPv4 fragmentation on local output (`ip_fragment`) and reassembly on local delivery
/// (`ip_defrag`, net/ipv4/ip_fragment.c). Fragments are ordinary packets: each one is sent,
/// captured and counted on its own; reassembly holds them until the datagram is complete,
/// then delivers them together. The datagram itself lives only in `World.scratch`.
extension World {
    /// `ipfrag_time`: how long a reassembly queue waits for its missing fragments.
    public static let reassemblyTimeout = SimDuration.seconds(30)
    /// `ipfrag_high_thresh`: above this much queued fragment memory, new fragments are refused.
    public static let reassemblyHighThreshold = 4 * 1024 * 1024

    /// What a queued fragment costs against `ipfrag_high_thresh`: the kernel charges
    /// `skb->truesize`, the data buffer (frame plus headroom, cache-aligned) plus
    /// `struct sk_buff` and `skb_shared_info` (≈ 576 bytes on 64-bit). An estimate: the real
    /// figure depends on the driver that allocated the skb.
    @inline(__always) static func fragmentTruesize(frameLength: Int) -> Int {
        ((frameLength + 14 + 128 + 63) & ~63) + 576
    }

    /// Sends `payload` (an L4 datagram, at most 65,515 bytes) as IPv4 fragments that fit the
    /// route's MTU: DF clear, one ID, payload pieces of (MTU − 20) & ~7 bytes.
    func ipFragmentLocal(_ ns: NamespaceID, route: Route, source: IPv4Address, destination: IPv4Address,
                         identification: UInt16, ttl: UInt8, protocol: IPProtocol, payload: UnsafeRawBufferPointer,
                         app: AppID?, socket: SocketID? = nil) {
        let mtu = pathMTU(ns, to: destination, deviceMTU: devices[route.device.index].mtu)
        let piece = (mtu - IPv4Header.minimumLength) & ~7
        var offset = 0
        while offset < payload.count {
            let n = min(piece, payload.count - offset)
            let p = newPacket()
            pool.setLength(p, IPv4Header.minimumLength + n)
            let b = pool.bytes(p)
            UnsafeMutableRawBufferPointer(rebasing: b[IPv4Header.minimumLength...])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + n)]))
            IPv4Header(tos: 0, totalLength: UInt16(IPv4Header.minimumLength + n), identification: identification,
                       dontFragment: false, moreFragments: offset + n < payload.count, fragmentOffset: UInt16(offset),
                       ttl: ttl, protocol: `protocol`, source: source, destination: destination).emit(into: b)
            socketOutput(ns, route: route, p, app: app, socket: socket)
            offset += n
        }
    }

    /// `ip_fragment` on the forward path (`ip_do_fragment`'s slow path): datagram `p` (its
    /// header as it is in the packet now: TTL decremented, addresses after NAT) is cut into pieces
    /// of (MTU − 20) & ~7 bytes that keep its ID, TOS and protocol; each piece has MF set
    /// unless it ends a datagram that was itself unfragmented or the last fragment. IP
    /// options are not carried over (podwire never sends any). The original ends as
    /// `fragmented`; the pieces count as `fragmentsCreated`.
    func ipFragmentForwarded(_ ns: NamespaceID, _ p: PacketHandle, mtu: Int, device: DeviceID, nextHop: IPv4Address) {
        let bytes = UnsafeRawBufferPointer(pool.bytes(p))
        let ip = try! IPv4Header(parsing: bytes)  // validated by ip_rcv; NAT kept it valid
        let payload = UnsafeRawBufferPointer(rebasing: bytes[ip.headerLength..<Int(ip.totalLength)])
        let piece = (mtu - IPv4Header.minimumLength) & ~7
        let delay = namespaces[ns.index].costs.ipForward
        var offset = 0
        while offset < payload.count {
            let n = min(piece, payload.count - offset)
            let f = pool.allocate()
            accounting.fragmentsCreated += 1
            copyCore(from: p, to: f)
            pool.setLength(f, IPv4Header.minimumLength + n)
            let b = pool.bytes(f)
            UnsafeMutableRawBufferPointer(rebasing: b[IPv4Header.minimumLength...])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + n)]))
            IPv4Header(tos: ip.tos, totalLength: UInt16(IPv4Header.minimumLength + n), identification: ip.identification,
                       dontFragment: false, moreFragments: offset + n < payload.count || ip.moreFragments,
                       fragmentOffset: ip.fragmentOffset + UInt16(offset), ttl: ip.ttl, protocol: ip.protocol,
                       source: ip.source, destination: ip.destination).emit(into: b)
            neighbourOutput(ns, device: device, nextHop: nextHop, f, after: delay)
            offset += n
        }
        accounting.fragmented += 1
        orphan(p)
        pool.free(p)
    }

    /// `ip_defrag`: queue a fragment; when the datagram is complete, rebuild it and deliver it.
    func ipDefragment(_ dev: DeviceID, _ p: PacketHandle, _ ip: IPv4Header) {
        let ns = devices[dev.index].namespace
        guard let slot = reassemblyEnqueue(ns, p, ip, device: dev, user: 0, resume: nil) else { return }
        reassembled(ns, Int(slot), dev)
    }

    /// Queues fragment `p` (header `ip`) of `user`'s reassembly; returns the queue's slot when
    /// this fragment completed the datagram. A fragment refused for memory, or inconsistent
    /// with the queue, is dropped here.
    func reassemblyEnqueue(_ ns: NamespaceID, _ p: PacketHandle, _ ip: IPv4Header, device dev: DeviceID, user: UInt8,
                           resume: FragmentResume?) -> Int32? {
        let n = namespaces[ns.index]
        if n.reassemblyMemory > World.reassemblyHighThreshold {
            drop(p, .reassemblyMemoryLimit, ns: ns, device: dev)
            return nil
        }
        let key = ReassemblyKey(source: ip.source.rawValue, destination: ip.destination.rawValue,
                                identification: ip.identification, proto: ip.protocol.rawValue, user: user)
        let offset = Int(ip.fragmentOffset), length = ip.payloadLength
        let slot: Int32
        if let s = n.reassemblyIndex[key] {
            slot = s
        } else {
            slot = Int32(n.reassemblies.firstIndex { $0 == nil } ?? n.reassemblies.count)
            if Int(slot) == n.reassemblies.count { n.reassemblies.append(nil) }
            n.reassemblyGeneration &+= 1
            n.reassemblies[Int(slot)] = Reassembly(key: key, generation: n.reassemblyGeneration, device: dev)
            n.reassemblyIndex[key] = slot
            scheduler.schedule(.reassemblyTimer(ns, slot, n.reassemblyGeneration), after: World.reassemblyTimeout)
        }
        var q = n.reassemblies[Int(slot)]!
        let end = offset + length
        // A fragment that overlaps a queued one, runs past the known end, or ends the datagram
        // before data already queued, is dropped (Linux drops overlaps since RFC 5722's time).
        let queuedEnd = q.fragments.map { $0.offset + $0.length }.max() ?? 0
        let overlaps = q.fragments.contains { offset < $0.offset + $0.length && $0.offset < end }
        let pastEnd = q.totalLength.map { end > $0 || (!ip.moreFragments && end != $0) } ?? false
        let endsTooEarly = !ip.moreFragments && queuedEnd > end
        if overlaps || pastEnd || endsTooEarly || (length == 0 && ip.moreFragments) {
            drop(p, .malformed, ns: ns, device: dev)
            return nil
        }
        q.fragments.append((offset, length, p))
        if let resume { q.resume.append(resume) }
        q.received += length
        let truesize = World.fragmentTruesize(frameLength: Int(ip.totalLength))
        q.memory += truesize
        n.reassemblyMemory += truesize
        if !ip.moreFragments { q.totalLength = end }
        n.reassemblies[Int(slot)] = q
        guard let total = q.totalLength, q.received == total else { return nil }
        return slot
    }

    /// All fragments are here: copy them into one datagram in `scratch` and deliver it.
    private func reassembled(_ ns: NamespaceID, _ slot: Int, _ dev: DeviceID) {
        let n = namespaces[ns.index]
        let q = n.reassemblies[slot]!
        n.reassemblies[slot] = nil
        n.reassemblyIndex[q.key] = nil
        n.reassemblyMemory -= q.memory
        let fragments = q.fragments.sorted { $0.offset < $1.offset }
        let first = fragments[0].packet
        let firstHeader = try! IPv4Header(parsing: UnsafeRawBufferPointer(pool.bytes(first)))
        let hl = firstHeader.headerLength
        let total = hl + q.totalLength!
        UnsafeMutableRawBufferPointer(rebasing: scratch[0..<hl]).copyMemory(from: UnsafeRawBufferPointer(rebasing: pool.bytes(first)[0..<hl]))
        for f in fragments {
            let b = pool.bytes(f.packet)
            let h = Int(b[0] & 0x0F) * 4
            UnsafeMutableRawBufferPointer(rebasing: scratch[(hl + f.offset)..<(hl + f.offset + f.length)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: b[h..<(h + f.length)]))
        }
        var header = firstHeader
        header.totalLength = UInt16(total)
        header.moreFragments = false
        header.fragmentOffset = 0
        let l4 = UnsafeRawBufferPointer(rebasing: scratch[hl..<total])
        let verdict: DropReason?
        switch header.protocol {
        case .udp: verdict = udpDeliverReassembled(ns, header, l4)
        case .icmp: verdict = icmpDeliverReassembled(ns, dev, header, UnsafeMutableRawBufferPointer(rebasing: scratch[hl..<total]))
        default: verdict = .unhandledProtocol
        }
        if verdict == .noSocket && !isBroadcast(header.destination, on: dev) {
            sendICMPError(ns, about: first, type: .destinationUnreachable, code: ICMPv4UnreachableCode.port)
        }
        for f in fragments {
            if let verdict { drop(f.packet, verdict, ns: ns, device: dev) } else { deliver(f.packet, ns: ns, device: dev) }
        }
    }

    /// A reassembled UDP datagram to its socket; returns the drop reason if it cannot go.
    private func udpDeliverReassembled(_ ns: NamespaceID, _ ip: IPv4Header, _ l4: UnsafeRawBufferPointer) -> DropReason? {
        guard let udp = try? UDPHeader(parsing: l4), Int(udp.length) == l4.count,
              UDPHeader.isChecksumValid(source: ip.source, destination: ip.destination, datagram: l4) else { return .malformed }
        guard let s = namespaces[ns.index].udpPorts[udp.destinationPort] else { return .noSocket }
        let sock = sockets[Int(s.rawValue)]
        let d = ReceivedDatagram(source: ip.source, sourcePort: udp.sourcePort, destination: ip.destination,
                                 destinationPort: udp.destinationPort, ttl: ip.ttl,
                                 payload: UnsafeRawBufferPointer(rebasing: l4[UDPHeader.length...]))
        applications[Int(sock.app.rawValue)].udpReceived(self, socket: s, datagram: d)
        return nil
    }

    /// A reassembled ICMP message (`ping -s 2000`): an echo request is answered — the reply
    /// built in place in `scratch` and fragmented like the request was (`icmp_reply` →
    /// `ip_push_pending_frames`) — and an echo reply goes to its ping socket.
    private func icmpDeliverReassembled(_ ns: NamespaceID, _ dev: DeviceID, _ ip: IPv4Header,
                                        _ msg: UnsafeMutableRawBufferPointer) -> DropReason? {
        guard let icmp = try? ICMPv4Header(parsing: UnsafeRawBufferPointer(msg)),
              ICMPv4Header.isChecksumValid(message: UnsafeRawBufferPointer(msg)) else { return .malformed }
        let body = UnsafeRawBufferPointer(rebasing: msg[ICMPv4Header.length...])
        switch icmp.type {
        case .echoRequest:
            if isBroadcast(ip.destination, on: dev) { return .notForUs }
            guard let route = outputRoute(ns, to: ip.source) else { return nil }
            if IPv4Header.minimumLength + msg.count <= devices[route.device.index].mtu {
                sendEchoReply(ns, request: ip, icmp: icmp, body: body)
                return nil
            }
            ICMPv4Header(type: .echoReply, code: 0, restOfHeader: icmp.restOfHeader).emit(intoMessage: msg)
            let n = namespaces[ns.index]
            ipFragmentLocal(ns, route: route, source: ip.destination, destination: ip.source, identification: n.ipID,
                            ttl: World.defaultTTL, protocol: .icmp, payload: UnsafeRawBufferPointer(msg), app: nil)
            n.ipID &+= 1
            return nil
        case .echoReply:
            guard let s = namespaces[ns.index].echoSockets[icmp.identifier] else { return .noSocket }
            applications[Int(sockets[Int(s.rawValue)].app.rawValue)].icmpReceived(
                self, socket: s, message: ReceivedICMP(source: ip.source, type: icmp.type, code: icmp.code,
                                                       identifier: icmp.identifier, sequence: icmp.sequence,
                                                       ttl: ip.ttl, payload: body))
            return nil
        default:
            return .unhandledProtocol
        }
    }

    /// `ip_expire`: the queue's time is up. Its fragments are dropped and, if the first one
    /// came, the sender gets ICMP time exceeded, code 1 (fragment reassembly time exceeded).
    func reassemblyExpired(_ ns: NamespaceID, _ slot: Int32, _ generation: UInt32) {
        let n = namespaces[ns.index]
        guard Int(slot) < n.reassemblies.count, let q = n.reassemblies[Int(slot)], q.generation == generation else { return }
        n.reassemblies[Int(slot)] = nil
        n.reassemblyIndex[q.key] = nil
        n.reassemblyMemory -= q.memory
        // Only an end host answers (RFC 792; `frag_expire_skip_icmp`): conntrack's queues
        // send nothing unless the datagram was for this host, and came in by IP.
        let local = q.key.user == 0
            || (n.isLocal(IPv4Address(rawValue: q.key.destination)) && q.resume.allSatisfy { $0.bridge < 0 })
        if local, let first = q.fragments.first(where: { $0.offset == 0 }) {
            sendICMPError(ns, about: first.packet, type: .timeExceeded, code: 1)
        }
        for f in q.fragments { drop(f.packet, .reassemblyTimeout, ns: ns, device: q.device) }
    }
}
