import Testing
@testable import Datapath
import Engine
import Wire

/// Routed hops (`ip_forward`) and neighbour ageing, on one node: pod → cni0 → node → eth0.
@Suite struct ForwardingTests {
    /// A node with cni0 and an eth0 on 192.168.50.11/24 (no carrier yet) and a default route.
    static func node(mtu: Int = 1500) -> (BridgedNode, DeviceID) {
        var n = BridgedNode(mtu: mtu)
        n.addPod("client", host: 2, mtu: mtu)
        let eth0 = n.world.addPhysical(n.node, name: "eth0", mac: MACAddress(0x02, 0x50, 0, 0, 0, 0x11), mtu: 1500)
        n.world.addAddress(IPv4Interface("192.168.50.11/24")!, to: eth0)
        n.world.addRoute(Route(destination: IPv4Network("0.0.0.0/0")!, gateway: IPv4Address(192, 168, 50, 1),
                               device: eth0, onlink: true), in: n.node)
        // The node already knows its gateway (as if it had ARPed for it), so a forwarded
        // datagram reaches eth0's transmit.
        let ns = n.world.namespace(n.node)
        _ = ns.neighbours.insert(NeighbourEntry(address: IPv4Address(192, 168, 50, 1), device: eth0,
                                                mac: MACAddress(0x02, 0x50, 0, 0, 0, 1), state: .permanent,
                                                confirmed: .zero, used: .zero, reachableTime: .seconds(30)))
        return (n, eth0)
    }

    @Test func forwardingDecrementsTTLOnce() throws {
        let (n, eth0) = Self.node()
        let w = n.world
        let rec = HopRecorder(w)
        w.addObserver(rec)
        let cs = try w.openUDP(in: n.pods["client"]!.ns, port: nil, app: w.register(UDPApp()))
        try w.sendUDP(cs, to: IPv4Address(1, 1, 1, 1), port: 9000, payloadLength: 32) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        w.run(until: SimTime.zero + .milliseconds(10))
        // The datagram leaves the pod with TTL 64 and reaches eth0 with 63: one routed hop.
        let sent = try #require(rec.records.first { $0.device == "client/eth0" && $0.hop.stage == .deviceTx && $0.frame[23] == 17 })
        #expect(sent.frame[22] == 64)
        let out = try #require(rec.records.first { $0.device == "pi-1/eth0" && $0.hop.stage == .deviceTx })
        #expect(out.frame[22] == 63)
        #expect(IPv4Header.isChecksumValid(header: UnsafeRawBufferPointer(start: out.frame.withUnsafeBytes { $0.baseAddress! + 14 }, count: 20)))
        #expect(Array(out.frame[6..<12]) == [0x02, 0x50, 0, 0, 0, 0x11])
        #expect(w.accounting.dropped(.noCarrier) == 1)
        #expect(w.device(eth0).counters.txDropped == 1)
        #expect(w.conservationHolds())
    }

    @Test func ttlOneGetsTimeExceededFromTheGatewayAddress() throws {
        let (n, _) = Self.node()
        let w = n.world
        let app = UDPApp()
        let cs = try w.openUDP(in: n.pods["client"]!.ns, port: nil, app: w.register(app))
        w.sockets[Int(cs.rawValue)].ttl = 1
        try w.sendUDP(cs, to: IPv4Address(1, 1, 1, 1), port: 9000, payloadLength: 32) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        w.run(until: SimTime.zero + .milliseconds(10))
        #expect(w.accounting.dropped(.ttlExceeded) == 1)
        #expect(app.errors.count == 1)
        #expect(app.errors.first?.type == .timeExceeded)
        #expect(app.errors.first?.source == IPv4Address(10, 244, 0, 1))
        #expect(w.conservationHolds())
    }

    /// DF and too big for the next hop: frag-needed with the next-hop MTU, quoting the header
    /// before the TTL decrement (REFERENCE.md §4.1, §5.6 f3).
    @Test func dontFragmentTooBigGetsFragNeededWithTheNextHopMTU() throws {
        let (n, eth0) = Self.node(mtu: 1500)
        let w = n.world
        w.setMTU(1400, of: eth0)
        let rec = HopRecorder(w)
        w.addObserver(rec)
        let app = UDPApp()
        let cs = try w.openUDP(in: n.pods["client"]!.ns, port: nil, app: w.register(app))
        try w.sendUDP(cs, to: IPv4Address(1, 1, 1, 1), port: 9000, payloadLength: 1472) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        w.run(until: SimTime.zero + .milliseconds(10))
        #expect(w.accounting.dropped(.mtuExceeded) == 1)
        let icmp = try #require(rec.records.first { $0.device == "client/eth0" && $0.hop.stage == .deviceRx && $0.frame[23] == 1 })
        #expect(icmp.frame[34] == 3 && icmp.frame[35] == 4)
        #expect(UInt16(icmp.frame[40]) << 8 | UInt16(icmp.frame[41]) == 1400)
        #expect(icmp.frame[15] == 0xC0)                 // TOS 0xc0
        #expect(icmp.frame.count == 14 + 576)            // quote cut to fit 576 bytes
        #expect(icmp.frame[42 + 8] == 64)                // quoted TTL: before the decrement
        #expect(app.errors.first?.code == 4)
        #expect(w.conservationHolds())
    }

    /// A neighbour learnt from a request is STALE; using it starts DELAY, and with no
    /// confirmation 5 s later the kernel sends a *unicast* probe (REFERENCE.md §4.4).
    @Test func staleNeighbourIsProbedByUnicastAfterDelay() throws {
        var n = BridgedNode()
        n.addPod("client", host: 2)
        n.addPod("web-0", host: 3)
        let w = n.world
        let rec = HopRecorder(w)
        w.addObserver(rec)
        let server = UDPApp()
        server.echo = true
        _ = try w.openUDP(in: n.pods["web-0"]!.ns, port: 8080, app: w.register(server))
        let cs = try w.openUDP(in: n.pods["client"]!.ns, port: nil, app: w.register(UDPApp()))
        try w.sendUDP(cs, to: IPv4Address(10, 244, 0, 3), port: 8080, payloadLength: 8) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        w.run(until: SimTime.zero + .seconds(7))
        let webARP = rec.records.filter { $0.device == "web-0/eth0" && $0.hop.stage == .deviceTx && $0.frame[12] == 0x08 && $0.frame[13] == 0x06 }
        // web-0's first ARP frame is its reply; the next is a unicast request to the client's
        // MAC ~5 s after the echo used the STALE entry.
        #expect(webARP.count >= 2)
        if webARP.count >= 2 {
            let probe = webARP[1]
            #expect(probe.frame[21] == 1)
            #expect(Array(probe.frame[0..<6]) == [0x02, 0x44, 0, 0, 0, 2])
            #expect(probe.hop.time >= SimTime.zero + .seconds(5))
        }
        let entry = try #require(w.namespace(n.pods["web-0"]!.ns).neighbours.entries.first { $0.address == IPv4Address(10, 244, 0, 2) })
        #expect(entry.state == .reachable)
        #expect(w.conservationHolds())
    }
}
