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
}
