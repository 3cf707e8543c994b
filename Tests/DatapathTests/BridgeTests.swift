import Testing
@testable import Datapath
import Engine
import Wire

@Suite struct BridgeTests {
    /// Kernel case (a): client → web-0 on the same node is bridged: ARP first (broadcast
    /// reflected back to the sender by hairpin), then the datagram port to port, never on cni0.
    @Test func sameNodeDatagramIsBridgedAfterARP() throws {
        var n = BridgedNode()
        n.addPod("client", host: 2)
        n.addPod("web-0", host: 3)
        let w = n.world
        let rec = HopRecorder(w)
        w.addObserver(rec)
        let server = UDPApp()
        let sid = w.register(server)
        _ = try w.openUDP(in: n.pods["web-0"]!.ns, port: 8080, app: sid)
        let client = UDPApp()
        let cid = w.register(client)
        let cs = try w.openUDP(in: n.pods["client"]!.ns, port: nil, app: cid)
        try w.sendUDP(cs, to: IPv4Address(10, 244, 0, 3), port: 8080, payloadLength: 64) { $0.initializeMemory(as: UInt8.self, repeating: 0x41) }
        w.run(until: SimTime.zero + .milliseconds(10))

        #expect(server.received.count == 1)
        #expect(server.received.first?.0.ttl == 64)
        #expect(server.received.first?.0.source == IPv4Address(10, 244, 0, 2))
        // Only the broadcast ARP request reaches cni0 (pass-up); the unicast datagram never does.
        let cni0Frames = rec.records.filter { $0.device == "pi-1/cni0" && $0.hop.stage == .deviceRx }
        #expect(cni0Frames.count == 1)
        #expect(cni0Frames.first.map { $0.frame[12] == 0x08 && $0.frame[13] == 0x06 } == true)
        // The client sees its own ARP request twice (tx, then reflected rx: hairpin).
        let clientARP = rec.records.filter { $0.device == "client/eth0" && $0.frame.count == 42 && $0.frame[21] == 1 && ($0.hop.stage == .deviceTx || $0.hop.stage == .deviceRx) }
        #expect(clientARP.map { $0.hop.stage } == [.deviceTx, .deviceRx])
        // The datagram crosses client/eth0 → host veth → other host veth → web-0/eth0, unchanged.
        let udpTrail = rec.records.filter { $0.frame.count == 14 + 20 + 8 + 64 && ($0.hop.stage == .deviceRx || $0.hop.stage == .deviceTx) }
        #expect(udpTrail.map { "\($0.device):\($0.hop.stage)" } == [
            "client/eth0:deviceTx", "pi-1/veth00000002:deviceRx", "pi-1/veth00000003:deviceTx", "web-0/eth0:deviceRx",
        ])
        #expect(Set(udpTrail.map { $0.frame }).count == 1)
        #expect(w.conservationHolds())
        #expect(w.pool.live == 0)
    }

    /// `br_flood` walks `br->port_list`, newest port first. Linux 6.18 (checked 2026-11-25: a
    /// bridge in a namespace with veth ports p1–p4 added in that order, an ARP request from
    /// p1's peer, tcpdump with ns timestamps on each port) sent it out of p4, then p3, then
    /// p2 (6.0 and 3.6 µs apart). The hairpin copy back out of the ingress port comes last here,
    /// as p1 is the oldest port.
    @Test func floodsGoOutNewestPortFirst() throws {
        var n = BridgedNode()
        for host: UInt8 in 2...5 { n.addPod("p\(host)", host: host) }
        let w = n.world
        let rec = HopRecorder(w)
        w.addObserver(rec)
        let cs = try w.openUDP(in: n.pods["p2"]!.ns, port: nil, app: w.register(UDPApp()))
        try w.sendUDP(cs, to: IPv4Address(10, 244, 0, 99), port: 9, payloadLength: 1) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        w.run(until: SimTime.zero + .milliseconds(1))
        let out = rec.records.filter { $0.hop.stage == .deviceTx && $0.device.hasPrefix("pi-1/veth") && $0.frame.count == 42 }
        #expect(out.prefix(4).map(\.device) == ["pi-1/veth00000005", "pi-1/veth00000004", "pi-1/veth00000003", "pi-1/veth00000002"],
                "\(out.map(\.device))")
    }

    @Test func echoRetracesThePathAndNoARPIsNeededBack() throws {
        var n = BridgedNode()
        n.addPod("client", host: 2)
        n.addPod("web-0", host: 3)
        let w = n.world
        let rec = HopRecorder(w)
        w.addObserver(rec)
        let server = UDPApp()
        server.echo = true
        _ = try w.openUDP(in: n.pods["web-0"]!.ns, port: 8080, app: w.register(server))
        let client = UDPApp()
        let cs = try w.openUDP(in: n.pods["client"]!.ns, port: nil, app: w.register(client))
        for _ in 0..<3 {
            try w.sendUDP(cs, to: IPv4Address(10, 244, 0, 3), port: 8080, payloadLength: 64) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        }
        w.run(until: SimTime.zero + .milliseconds(10))
        #expect(server.received.count == 3)
        #expect(client.received.count == 3)
        #expect(client.received.allSatisfy { $0.0.ttl == 64 && $0.0.sourcePort == 8080 })
        // One ARP request and one reply in total: the replier learnt the requester.
        let arpRequests = rec.records.filter { $0.hop.stage == .deviceTx && $0.frame.count == 42 && $0.frame[21] == 1 && $0.device.hasSuffix("eth0") }
        #expect(arpRequests.count == 1)
        #expect(w.conservationHolds())
    }

    @Test func unknownPortGetsPortUnreachableFromTheDestination() throws {
        var n = BridgedNode()
        n.addPod("client", host: 2)
        n.addPod("web-0", host: 3)
        let w = n.world
        let client = UDPApp()
        let cs = try w.openUDP(in: n.pods["client"]!.ns, port: nil, app: w.register(client))
        try w.sendUDP(cs, to: IPv4Address(10, 244, 0, 3), port: 9999, payloadLength: 64) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        w.run(until: SimTime.zero + .milliseconds(10))
        #expect(client.errors.count == 1)
        #expect(client.errors.first?.type == .destinationUnreachable)
        #expect(client.errors.first?.code == 3)
        #expect(client.errors.first?.source == IPv4Address(10, 244, 0, 3))
        #expect(w.accounting.dropped(.noSocket) == 1)
        #expect(w.conservationHolds())
    }

    @Test func unresolvableNeighbourFailsAfterThreeRequestsWithHostUnreachable() throws {
        var n = BridgedNode()
        n.addPod("client", host: 2)
        let w = n.world
        let rec = HopRecorder(w)
        w.addObserver(rec)
        let client = UDPApp()
        let cs = try w.openUDP(in: n.pods["client"]!.ns, port: nil, app: w.register(client))
        try w.sendUDP(cs, to: IPv4Address(10, 244, 0, 9), port: 8080, payloadLength: 10) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        w.run(until: SimTime.zero + .seconds(5))
        let requests = rec.records.filter { $0.device == "client/eth0" && $0.hop.stage == .deviceTx && $0.frame.count == 42 }
        #expect(requests.count == 3)
        if requests.count == 3 {
            #expect(requests[1].hop.time - requests[0].hop.time == .seconds(1))
        }
        #expect(w.accounting.dropped(.neighbourFailed) == 1)
        #expect(client.errors.count == 1)
        #expect(client.errors.first?.code == 1)
        // The local error travels over lo.
        #expect(rec.records.contains { $0.device == "client/lo" && $0.hop.stage == .deviceTx })
        #expect(w.conservationHolds())
    }

    @Test func fdbLearnsAndAges() {
        var n = BridgedNode()
        n.addPod("a", host: 2)
        n.addPod("b", host: 3)
        let w = n.world
        let mac = MACAddress(0x02, 0x44, 0, 0, 0, 3)
        #expect(w.bridgeDecide(n.bridge, ingress: n.pods["a"]!.hostVeth, destination: mac) == .flood(passUp: false))
        w.bridges[0].fdb.learn(mac, port: n.pods["b"]!.hostVeth, now: .zero)
        #expect(w.bridgeDecide(n.bridge, ingress: n.pods["a"]!.hostVeth, destination: mac) == .forward(n.pods["b"]!.hostVeth))
        w.run(until: SimTime.zero + .seconds(301))
        #expect(w.bridgeDecide(n.bridge, ingress: n.pods["a"]!.hostVeth, destination: mac) == .flood(passUp: false))
        #expect(w.bridgeDecide(n.bridge, ingress: n.pods["a"]!.hostVeth, destination: .broadcast) == .flood(passUp: true))
        #expect(w.bridgeDecide(n.bridge, ingress: n.pods["a"]!.hostVeth, destination: MACAddress(0x02, 0x44, 0, 0, 0, 1)) == .passUp)
    }
}
