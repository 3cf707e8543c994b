import Testing
@testable import Datapath
import Engine
import Wire

/// IPv4 fragmentation on send (IP_PMTUDISC_WANT sockets) and reassembly on delivery.
@Suite struct FragmentTests {
    @Test func wantSocketFragmentsAndTheReceiverReassembles() throws {
        var n = BridgedNode(mtu: 1450)
        n.addPod("client", host: 2, mtu: 1450)
        n.addPod("web", host: 3, mtu: 1450)
        let w = n.world
        let rec = HopRecorder(w)
        w.addObserver(rec)
        let server = UDPApp()
        _ = try w.openUDP(in: n.pods["web"]!.ns, port: 8080, app: w.register(server))
        let cs = try w.openUDP(in: n.pods["client"]!.ns, port: nil, app: w.register(UDPApp()))
        try w.sendUDP(cs, to: IPv4Address(10, 244, 0, 3), port: 8080, payloadLength: 2000) { p in
            for i in 0..<p.count { p[i] = UInt8(truncatingIfNeeded: i * 7) }
        }
        w.run(until: SimTime.zero + .milliseconds(10))
        // REFERENCE.md §5.6 f2: frames of 1458 (IP 1444, offset 0, MF) and 618 (offset 1424), DF clear, one ID.
        let frags = rec.records.filter { $0.device == "client/eth0" && $0.hop.stage == .deviceTx && $0.frame[23] == 17 }
        #expect(frags.map(\.frame.count) == [1458, 618])
        if frags.count == 2 {
            let h0 = try frags[0].frame.withUnsafeBytes { try IPv4Header(parsing: UnsafeRawBufferPointer(rebasing: $0[14...])) }
            let h1 = try frags[1].frame.withUnsafeBytes { try IPv4Header(parsing: UnsafeRawBufferPointer(rebasing: $0[14...])) }
            #expect(h0.moreFragments && h0.fragmentOffset == 0 && !h0.dontFragment)
            #expect(!h1.moreFragments && h1.fragmentOffset == 1424 && !h1.dontFragment)
            #expect(h0.identification == h1.identification)
        }
        #expect(server.received.count == 1)
        #expect(server.received.first?.1 == (0..<2000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        #expect(w.conservationHolds())
    }

    @Test func doSocketRefusesOversizeAndSendsIPID0() throws {
        var n = BridgedNode(mtu: 1450)
        n.addPod("client", host: 2, mtu: 1450)
        n.addPod("web", host: 3, mtu: 1450)
        let w = n.world
        let rec = HopRecorder(w)
        w.addObserver(rec)
        _ = try w.openUDP(in: n.pods["web"]!.ns, port: 8080, app: w.register(UDPApp()))
        let cs = try w.openUDP(in: n.pods["client"]!.ns, port: nil, app: w.register(UDPApp()))
        w.setDontFragment(cs, true)
        #expect(throws: SendError.messageTooLong(mtu: 1450)) {
            try w.sendUDP(cs, to: IPv4Address(10, 244, 0, 3), port: 8080, payloadLength: 1423) { _ in }
        }
        try w.sendUDP(cs, to: IPv4Address(10, 244, 0, 3), port: 8080, payloadLength: 1422) { $0.initializeMemory(as: UInt8.self, repeating: 1) }
        w.run(until: SimTime.zero + .milliseconds(10))
        let sent = rec.records.filter { $0.device == "client/eth0" && $0.hop.stage == .deviceTx && $0.frame[23] == 17 }
        #expect(sent.map(\.frame.count) == [1464])
        #expect(sent.first.map { $0.frame[18] == 0 && $0.frame[19] == 0 && $0.frame[20] & 0x40 != 0 } == true)  // ID 0, DF
    }

    /// A fragment whose partner never comes: after 30 s it is dropped with a reason, and the
    /// sender gets ICMP time exceeded, code 1.
    @Test func incompleteDatagramsTimeOut() throws {
        var n = BridgedNode()
        n.addPod("client", host: 2)
        n.addPod("web", host: 3)
        let w = n.world
        let client = UDPApp()
        let cs = try w.openUDP(in: n.pods["client"]!.ns, port: nil, app: w.register(client))
        _ = try w.openUDP(in: n.pods["web"]!.ns, port: 8080, app: w.register(UDPApp()))
        // Resolve neighbours first with a small datagram.
        try w.sendUDP(cs, to: IPv4Address(10, 244, 0, 3), port: 8080, payloadLength: 8) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        w.run(until: SimTime.zero + .milliseconds(5))
        // Inject only the first fragment of a datagram straight into web's eth0.
        let p = w.newPacket()
        w.pool.setLength(p, 14 + 20 + 16)
        let b = w.pool.bytes(p)
        EthernetHeader(destination: MACAddress(0x02, 0x44, 0, 0, 0, 3), source: MACAddress(0x02, 0x44, 0, 0, 0, 2), etherType: .ipv4)
            .emit(into: b)
        UnsafeMutableRawBufferPointer(rebasing: b[34...]).initializeMemory(as: UInt8.self, repeating: 0)
        // The quoted UDP header names the client's socket, so the error can find it.
        UDPHeader(sourcePort: w.localPort(of: cs), destinationPort: 8080, length: 2000, checksum: 0)
            .emit(into: UnsafeMutableRawBufferPointer(rebasing: b[34...]))
        IPv4Header(tos: 0, totalLength: 36, identification: 77, dontFragment: false, moreFragments: true, fragmentOffset: 0,
                   ttl: 64, protocol: .udp, source: IPv4Address(10, 244, 0, 2), destination: IPv4Address(10, 244, 0, 3))
            .emit(into: UnsafeMutableRawBufferPointer(rebasing: b[14...]))
        w.schedule(.receive(n.pods["web"]!.eth0, p), after: .zero)
        w.run(until: SimTime.zero + .seconds(29))
        #expect(w.accounting.dropped(.reassemblyTimeout) == 0)
        w.run(until: SimTime.zero + .seconds(31))
        #expect(w.accounting.dropped(.reassemblyTimeout) == 1)
        #expect(client.errors.contains { $0.type == .timeExceeded && $0.code == 1 })
        #expect(w.conservationHolds())
    }

    /// ForwardingTests' node (pod client behind pi-1) with eth0's MTU cut to 1000, recorded.
    static func routerWithNarrowUplink() -> (BridgedNode, World, HopRecorder) {
        let (n, eth0) = ForwardingTests.node()
        n.world.setMTU(1000, of: eth0)
        let rec = HopRecorder(n.world)
        n.world.addObserver(rec)
        return (n, n.world, rec)
    }

    /// A router fragments a forwarded datagram without DF that is too big for the next hop
    /// (`ip_fragment` after `ip_forward`): pieces of (MTU − 20) & ~7 bytes with the
    /// decremented TTL, and a piece cut from a non-last fragment keeps MF.
    @Test func routerFragmentsForwardedDatagramsWithoutDF() throws {
        let (n, w, rec) = Self.routerWithNarrowUplink()
        let cs = try w.openUDP(in: n.pods["client"]!.ns, port: nil, app: w.register(UDPApp()))
        try w.sendUDP(cs, to: IPv4Address(1, 1, 1, 1), port: 9000, payloadLength: 2000) { p in
            for i in 0..<p.count { p[i] = UInt8(truncatingIfNeeded: i &* 13) }
        }
        w.run(until: SimTime.zero + .milliseconds(10))
        // The pod fragments to its MTU 1500: IP 1500 (offset 0, MF) + IP 548 (offset 1480).
        let sent = rec.records.filter { $0.device == "client/eth0" && $0.hop.stage == .deviceTx && $0.frame[23] == 17 }
        #expect(sent.map(\.frame.count) == [1514, 562])
        // pi-1 cuts the first into 976 + 504 payload bytes for eth0's MTU 1000.
        let out = rec.records.filter { $0.device == "pi-1/eth0" && $0.hop.stage == .deviceTx }
        let headers = try out.map { r in try r.frame.withUnsafeBytes { try IPv4Header(parsing: UnsafeRawBufferPointer(rebasing: $0[14...])) } }
        #expect(headers.map(\.totalLength) == [996, 524, 548])
        #expect(headers.map(\.fragmentOffset) == [0, 976, 1480])
        #expect(headers.map(\.moreFragments) == [true, true, false])
        #expect(headers.allSatisfy { $0.ttl == 63 && !$0.dontFragment && $0.identification == headers[0].identification })
        for r in out {
            #expect(IPv4Header.isChecksumValid(header: UnsafeRawBufferPointer(start: r.frame.withUnsafeBytes { $0.baseAddress! + 14 }, count: 20)))
        }
        // The pieces put back together are the original UDP datagram, checksum included.
        var datagram = [UInt8](repeating: 0, count: 2008)
        for (r, h) in zip(out, headers) {
            datagram.replaceSubrange(Int(h.fragmentOffset)..<(Int(h.fragmentOffset) + Int(h.totalLength) - 20), with: r.frame[34...])
        }
        let ok = datagram.withUnsafeBytes {
            UDPHeader.isChecksumValid(source: IPv4Address(10, 244, 0, 2), destination: IPv4Address(1, 1, 1, 1), datagram: $0)
        }
        #expect(ok)
        #expect(Array(datagram[8...]) == (0..<2000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        #expect(w.accounting.fragmented == 1 && w.accounting.fragmentsCreated == 2)
        #expect(w.conservationHolds())
    }

    /// Path MTU discovery on the sender (kernel case f3): "fragmentation needed" for a
    /// socket's datagram makes its namespace remember the next-hop MTU towards that
    /// destination (`__ip_rt_update_pmtu`). The next DF send that does not fit fails with
    /// EMSGSIZE and puts nothing on the wire, a non-DF socket fragments to the learnt MTU,
    /// and after `ip_rt_mtu_expires` (600 s) the route's own MTU applies again.
    @Test func fragmentationNeededTeachesTheSenderThePathMTU() throws {
        let (n, w, rec) = Self.routerWithNarrowUplink()
        let client = n.pods["client"]!.ns
        let app = UDPApp()
        let df = try w.openUDP(in: client, port: nil, app: w.register(app))
        w.setDontFragment(df, true)
        let far = IPv4Address(1, 1, 1, 1)
        func sentOnClient() -> [Int] {
            rec.records.filter { $0.device == "client/eth0" && $0.hop.stage == .deviceTx && $0.frame[23] == 17 }.map(\.frame.count)
        }
        try w.sendUDP(df, to: far, port: 9000, payloadLength: 1400) { _ in }
        w.run(until: w.now + .milliseconds(10))
        #expect(app.errors.map { "\($0.type.rawValue)/\($0.code)" } == ["3/4"])
        #expect(w.namespaces[client.index].pathMTUs[far]?.mtu == 1000)
        #expect(sentOnClient() == [1442])
        // Learnt: the same send now fails in the sender, and nothing more is sent.
        #expect(throws: SendError.messageTooLong(mtu: 1000)) {
            try w.sendUDP(df, to: far, port: 9000, payloadLength: 1400) { _ in }
        }
        try w.sendUDP(df, to: far, port: 9000, payloadLength: 972) { _ in }   // IP 1000 fits
        // Only that destination learnt it.
        try w.sendUDP(df, to: IPv4Address(1, 1, 1, 2), port: 9000, payloadLength: 1400) { _ in }
        w.run(until: w.now + .milliseconds(10))
        #expect(sentOnClient() == [1442, 1014, 1442])
        // A socket without DF fragments to the learnt MTU: IP 996 + 424 bytes (976 + 404 data).
        let want = try w.openUDP(in: client, port: nil, app: w.register(UDPApp()))
        try w.sendUDP(want, to: far, port: 9000, payloadLength: 1372) { _ in }
        w.run(until: w.now + .milliseconds(10))
        #expect(Array(sentOnClient().dropFirst(3)) == [1010, 438])
        // Ten minutes later the exception has lapsed: the DF send leaves again (and learns again).
        w.run(until: w.now + .seconds(600))
        try w.sendUDP(df, to: far, port: 9000, payloadLength: 1400) { _ in }
        w.run(until: w.now + .milliseconds(10))
        #expect(Array(sentOnClient().dropFirst(5)) == [1442])
        #expect(app.errors.count == 3)
        #expect(w.conservationHolds())
    }

    /// `ping -s 2000`: the request leaves in fragments (DF clear), the responder reassembles
    /// it and its reply comes back fragmented the same way, and ping gets its reply.
    @Test func largePingIsFragmentedBothWays() throws {
        var n = BridgedNode(mtu: 1450)
        n.addPod("client", host: 2, mtu: 1450)
        n.addPod("web", host: 3, mtu: 1450)
        let w = n.world
        let rec = HopRecorder(w)
        w.addObserver(rec)
        final class PingApp: NetworkApplication {
            var replies: [(ReceivedICMP, [UInt8])] = []
            func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {}
            func icmpReceived(_ world: World, socket: SocketID, message: ReceivedICMP) { replies.append((message, Array(message.payload))) }
        }
        let app = PingApp()
        let ps = w.openICMPEcho(in: n.pods["client"]!.ns, app: w.register(app))
        try w.sendEchoRequest(ps, to: IPv4Address(10, 244, 0, 3), sequence: 1, payloadLength: 2000) { p in
            for i in 0..<p.count { p[i] = UInt8(truncatingIfNeeded: i) }
        }
        w.run(until: SimTime.zero + .milliseconds(10))
        let icmpFrames = { (dev: String) in rec.records.filter { $0.device == dev && $0.hop.stage == .deviceTx && $0.frame[23] == 1 } }
        // 8 + 2000 ICMP bytes in pieces of 1424: IP 1444 + IP 604.
        #expect(icmpFrames("client/eth0").map(\.frame.count) == [1458, 618])
        #expect(icmpFrames("web/eth0").map(\.frame.count) == [1458, 618])
        #expect(icmpFrames("client/eth0").allSatisfy { $0.frame[20] & 0x40 == 0 })  // DF clear
        #expect(app.replies.count == 1)
        #expect(app.replies.first?.0.type == .echoReply)
        #expect(app.replies.first?.0.sequence == 1)
        #expect(app.replies.first?.1 == (0..<2000).map { UInt8(truncatingIfNeeded: $0) })
        #expect(w.conservationHolds())
    }

    /// `ipfrag_high_thresh`: once queued fragments hold more than 4 MiB (estimated truesize
    /// 2,240 bytes per 1500-byte fragment: 1,873 of them), further fragments are refused
    /// with a reason; the queued ones still time out after 30 s and free their memory.
    @Test func reassemblyMemoryIsBounded() throws {
        var n = BridgedNode()
        n.addPod("client", host: 2)
        n.addPod("web", host: 3)
        let w = n.world
        let web = n.pods["web"]!
        for id in 0..<2000 {
            let p = w.newPacket()
            w.pool.setLength(p, 14 + 1500)
            let b = w.pool.bytes(p)
            EthernetHeader(destination: MACAddress(0x02, 0x44, 0, 0, 0, 3), source: MACAddress(0x02, 0x44, 0, 0, 0, 2), etherType: .ipv4)
                .emit(into: b)
            IPv4Header(tos: 0, totalLength: 1500, identification: UInt16(id), dontFragment: false, moreFragments: true,
                       fragmentOffset: 0, ttl: 64, protocol: .udp, source: IPv4Address(10, 244, 0, 2),
                       destination: IPv4Address(10, 244, 0, 3)).emit(into: UnsafeMutableRawBufferPointer(rebasing: b[14...]))
            w.schedule(.receive(web.eth0, p), after: .zero)
        }
        #expect(World.fragmentTruesize(frameLength: 1500) == 2240)
        w.run(until: SimTime.zero + .seconds(1))
        #expect(w.accounting.dropped(.reassemblyMemoryLimit) == 127)
        #expect(w.namespace(web.ns).reassemblyMemory == 1873 * 2240)
        w.run(until: SimTime.zero + .seconds(31))
        #expect(w.accounting.dropped(.reassemblyTimeout) == 1873)
        #expect(w.namespace(web.ns).reassemblyMemory == 0)
        #expect(w.conservationHolds())
    }
}
