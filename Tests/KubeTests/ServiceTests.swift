import Testing
@testable import Kube
import Datapath
import Engine
import Traffic
import Wire

/// Services through the datapath: kube-proxy's rules in each node's netfilter, conntrack's
/// DNAT/SNAT and their reversal, as in kernel-ref's cases (c), (d), (h), (i).
@Suite struct ServiceTests {
    static let pi4 = NodeProfile.named("raspberry-pi-4b")!

    /// The kernel reference's layout: client and web-0 on pi-1, web-1 on pi-2, ext on the
    /// LAN; Service web 10.96.0.20:80 → http (8080), NodePort 30080; Service empty 10.96.0.21.
    static func reference(seed: UInt64 = 1, conntrackMax: Int? = nil) throws -> Cluster {
        var config = ClusterConfiguration(seed: seed, network: .flannelVXLAN)
        config.conntrackMax = conntrackMax
        let c = Cluster(config, nodes: (0..<2).map { k in
            NodeDefinition(name: "pi-\(k + 1)", profile: pi4, address: IPv4Interface("192.168.50.\(11 + k)/24")!,
                           podCIDR: IPv4Network("10.244.\(k).0/24")!)
        }, hosts: [HostDefinition(name: "ext", address: IPv4Interface("192.168.50.100/24")!)])
        let web = [Container(name: "web", image: "nginx", ports: [ContainerPort(name: "http", containerPort: 8080, protocol: "UDP")])]
        c.addPod(PodDefinition(name: "client", labels: [Label("app", "client")], nodeName: "pi-1"))
        c.addPod(PodDefinition(name: "web-0", labels: [Label("app", "web")], nodeName: "pi-1", containers: web))
        c.addPod(PodDefinition(name: "web-1", labels: [Label("app", "web")], nodeName: "pi-2", containers: web))
        c.addService(ServiceDefinition(name: "web", type: .nodePort, clusterIP: IPv4Address(10, 96, 0, 20),
                                       selector: [Label("app", "web")],
                                       ports: [ServicePort(name: "http", port: 80, targetPort: .name("http"), nodePort: 30080)]))
        c.addService(ServiceDefinition(name: "empty", clusterIP: IPv4Address(10, 96, 0, 21), selector: [Label("app", "none")],
                                       ports: [ServicePort(name: "http", port: 80, targetPort: .number(8080))]))
        try c.programNodeNetfilter()
        return c
    }

    final class Echo: NetworkApplication {
        var got: [(from: IPv4Address, port: UInt16, to: IPv4Address)] = []
        func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {
            got.append((datagram.source, datagram.sourcePort, datagram.destination))
            try? world.sendUDP(socket, to: datagram.source, port: datagram.sourcePort,
                               payloadLength: datagram.payload.count) { $0.copyMemory(from: datagram.payload) }
        }
    }
    final class Client: NetworkApplication {
        var replies: [(from: IPv4Address, port: UInt16)] = []
        var errors: [ReceivedICMP] = []
        func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {
            replies.append((datagram.source, datagram.sourcePort))
        }
        func icmpReceived(_ world: World, socket: SocketID, message: ReceivedICMP) { errors.append(message) }
    }

    static func servers(_ c: Cluster) throws -> [String: Echo] {
        var out: [String: Echo] = [:]
        for name in ["web-0", "web-1"] {
            let e = Echo()
            _ = try c.world.openUDP(in: try #require(c.pod(named: name)?.netns), port: 8080, app: c.world.register(e))
            out[name] = e
        }
        return out
    }

    /// Case (c): new sockets to the ClusterIP reach both endpoints; each reply comes back
    /// from the VIP:80; the endpoint sees the client's own address (no SNAT).
    @Test func clusterIPReachesBothEndpointsAndRepliesComeFromTheVIP() throws {
        let c = try Self.reference()
        let w = c.world
        let servers = try Self.servers(c)
        let clientNS = try #require(c.pod(named: "client")?.netns)
        var clients: [Client] = []
        for k in 0..<12 {
            let app = Client()
            clients.append(app)
            let s = try w.openUDP(in: clientNS, port: nil, app: w.register(app))
            w.run(until: SimTime.zero + .milliseconds(Int64(50 * k)))
            try w.sendUDP(s, to: IPv4Address(10, 96, 0, 20), port: 80, payloadLength: 64) { $0.initializeMemory(as: UInt8.self, repeating: 7) }
        }
        w.run(until: SimTime.zero + .seconds(2))
        let hits0 = servers["web-0"]!.got.count, hits1 = servers["web-1"]!.got.count
        #expect(hits0 + hits1 == 12)
        #expect(hits0 > 0 && hits1 > 0)
        #expect((servers["web-0"]!.got + servers["web-1"]!.got).allSatisfy { $0.from == IPv4Address(10, 244, 0, 2) })
        #expect(clients.allSatisfy { $0.replies.count == 1 && $0.replies[0].from == IPv4Address(10, 96, 0, 20) && $0.replies[0].port == 80 })
        #expect(w.conservationHolds())
    }

    /// Conntrack's defrag: a 2000-byte datagram (two fragments at MTU 1450, or 1500 from the
    /// LAN) to the ClusterIP or the NodePort is gathered before conntrack, so every fragment
    /// is translated like the datagram — the endpoint reassembles it at its own address, the
    /// reply's fragments come back from the VIP (or the node port) and reassemble at the
    /// client. One conntrack entry per datagram's flow, none per fragment.
    @Test func fragmentedDatagramsAreTranslatedWhole() throws {
        let c = try Self.reference()
        let w = c.world
        let servers = try Self.servers(c)
        final class Sizes: NetworkApplication {
            var replies: [(from: IPv4Address, port: UInt16, bytes: [UInt8])] = []
            func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {
                replies.append((datagram.source, datagram.sourcePort, Array(datagram.payload)))
            }
        }
        let payload = (0..<2000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        var clients: [Sizes] = []
        let clientNS = try #require(c.pod(named: "client")?.netns), extNS = try #require(c.host(named: "ext")?.netns)
        for k in 0..<16 {
            let app = Sizes()
            clients.append(app)
            let fromExt = k >= 8
            let s = try w.openUDP(in: fromExt ? extNS : clientNS, port: nil, app: w.register(app))
            w.run(until: SimTime.zero + .milliseconds(Int64(50 * k)))
            try w.sendUDP(s, to: fromExt ? IPv4Address(192, 168, 50, 12) : IPv4Address(10, 96, 0, 20), port: fromExt ? 30080 : 80,
                          payloadLength: payload.count) { $0.copyBytes(from: payload) }
        }
        w.run(until: SimTime.zero + .seconds(2))
        let got = servers["web-0"]!.got + servers["web-1"]!.got
        #expect(got.count == 16)
        #expect(servers["web-0"]!.got.count > 0 && servers["web-1"]!.got.count > 0)
        #expect(servers["web-0"]!.got.allSatisfy { $0.to == IPv4Address(10, 244, 0, 3) })
        #expect(servers["web-1"]!.got.allSatisfy { $0.to == IPv4Address(10, 244, 1, 2) })
        for (k, app) in clients.enumerated() {
            let (vip, port): (IPv4Address, UInt16) = k >= 8 ? (IPv4Address(192, 168, 50, 12), 30080) : (IPv4Address(10, 96, 0, 20), 80)
            #expect(app.replies.count == 1 && app.replies.first?.from == vip && app.replies.first?.port == port, "client \(k)")
            #expect(app.replies.first.map { $0.bytes == payload } == true, "client \(k): reply payload")
        }
        // One entry per flow on pi-1 (8 ClusterIP flows + the VXLAN outer flows), not one per fragment.
        let pi1 = try #require(c.node(named: "pi-1")?.netns), pi2 = try #require(c.node(named: "pi-2")?.netns)
        let entries1 = try #require(w.namespaces[pi1.index].netfilter).conntrack.entries(now: w.now)
        #expect(entries1.filter { $0.original.destination == IPv4Address(10, 96, 0, 20) }.count == 8)
        let entries2 = try #require(w.namespaces[pi2.index].netfilter).conntrack.entries(now: w.now)
        #expect(entries2.filter { $0.original.destinationPort == 30080 }.count == 8)
        #expect(w.namespaces[pi1.index].reassemblyMemory == 0 && w.namespaces[pi2.index].reassemblyMemory == 0)
        #expect(w.conservationHolds())
    }

    /// Case (i1): a Service without endpoints: kube-proxy's REJECT answers with ICMP port
    /// unreachable from the cni0 gateway address.
    @Test func serviceWithoutEndpointsIsRejected() throws {
        let c = try Self.reference()
        let w = c.world
        let app = Client()
        let s = try w.openUDP(in: try #require(c.pod(named: "client")?.netns), port: nil, app: w.register(app))
        try w.sendUDP(s, to: IPv4Address(10, 96, 0, 21), port: 80, payloadLength: 64) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        w.run(until: SimTime.zero + .seconds(1))
        #expect(app.errors.count == 1)
        #expect(app.errors.first.map { [$0.type.rawValue, $0.code] } == [3, 3])
        #expect(app.errors.first?.source == IPv4Address(10, 244, 0, 1))
        #expect(w.accounting.dropped(.netfilterDrop) == 1)
        #expect(w.conservationHolds())
    }

    /// A 2000-byte datagram to the Service without endpoints leaves the client as two
    /// fragments (pod MTU 1450). pi-1's defrag gathers them and the datagram meets the REJECT
    /// once, as the kernel's one skb does: one port unreachable, the rule counts 1 packet of
    /// 2028 bytes (not 2 of 2048), and the second fragment dies with the first without
    /// walking a rule.
    @Test func aRejectedDatagramTakesAllItsFragments() throws {
        let c = try Self.reference()
        let w = c.world
        let app = Client()
        let s = try w.openUDP(in: try #require(c.pod(named: "client")?.netns), port: nil, app: w.register(app))
        try w.sendUDP(s, to: IPv4Address(10, 96, 0, 21), port: 80, payloadLength: 2000) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        w.run(until: SimTime.zero + .seconds(1))
        #expect(app.errors.count == 1)
        #expect(w.accounting.dropped(.netfilterDrop) == 2)
        let pi1 = try #require(c.node(named: "pi-1")?.netns)
        let save = try #require(w.namespaces[pi1.index].netfilter).rules.save(counters: true)
        let reject = try #require(save.split(separator: "\n").first { $0.contains("has no endpoints") && $0.contains("-j REJECT") })
        #expect(reject.hasPrefix("[1:2028] "), "\(reject)")
        #expect(w.conservationHolds())
    }

    /// Case (d): ext → NodePort 192.168.50.12:30080. Every reply comes back from the node's
    /// address and port 30080; endpoints see a masqueraded source (cni0's or flannel.1's
    /// address), never ext's.
    @Test func nodePortFromTheLANIsMasqueradedBothWays() throws {
        let c = try Self.reference()
        let w = c.world
        let servers = try Self.servers(c)
        let extNS = try #require(c.host(named: "ext")).netns
        var clients: [Client] = []
        for k in 0..<8 {
            let app = Client()
            clients.append(app)
            let s = try w.openUDP(in: extNS, port: nil, app: w.register(app))
            w.run(until: SimTime.zero + .milliseconds(Int64(50 * k)))
            try w.sendUDP(s, to: IPv4Address(192, 168, 50, 12), port: 30080, payloadLength: 64) { $0.initializeMemory(as: UInt8.self, repeating: 1) }
        }
        w.run(until: SimTime.zero + .seconds(2))
        let seen = servers["web-0"]!.got + servers["web-1"]!.got
        #expect(seen.count == 8)
        #expect(servers["web-0"]!.got.allSatisfy { $0.from == IPv4Address(10, 244, 1, 0) })  // pi-2's flannel.1
        #expect(servers["web-1"]!.got.allSatisfy { $0.from == IPv4Address(10, 244, 1, 1) })  // pi-2's cni0
        #expect(clients.allSatisfy { $0.replies.count == 1 && $0.replies[0].from == IPv4Address(192, 168, 50, 12) && $0.replies[0].port == 30080 })
        #expect(w.conservationHolds())
    }

    /// Case (h): web-0 reaching its own Service may land on itself: the bridge hairpins the
    /// frame, SNATed to cni0's 10.244.0.1, and the reply returns from the VIP.
    @Test func podReachingItselfThroughItsServiceIsHairpinnedAndMasqueraded() throws {
        let c = try Self.reference()
        let w = c.world
        let servers = try Self.servers(c)
        let webNS = try #require(c.pod(named: "web-0")?.netns)
        var clients: [Client] = []
        for k in 0..<12 {
            let app = Client()
            clients.append(app)
            let s = try w.openUDP(in: webNS, port: nil, app: w.register(app))
            w.run(until: SimTime.zero + .milliseconds(Int64(50 * k)))
            try w.sendUDP(s, to: IPv4Address(10, 96, 0, 20), port: 80, payloadLength: 32) { $0.initializeMemory(as: UInt8.self, repeating: 2) }
        }
        w.run(until: SimTime.zero + .seconds(2))
        let own = servers["web-0"]!.got
        #expect(!own.isEmpty)
        #expect(own.allSatisfy { $0.from == IPv4Address(10, 244, 0, 1) })
        #expect(servers["web-1"]!.got.allSatisfy { $0.from == IPv4Address(10, 244, 0, 3) })
        #expect(clients.allSatisfy { $0.replies.count == 1 && $0.replies[0].from == IPv4Address(10, 96, 0, 20) })
        #expect(w.conservationHolds())
    }

    /// Pod egress to an address outside the cluster is masqueraded to the node's LAN address
    /// (FLANNEL-POSTRTG), and the reply is translated back (case g).
    @Test func egressIsMasqueradedToTheNodeAddress() throws {
        let c = try Self.reference()
        let w = c.world
        let ext = Echo()
        _ = try w.openUDP(in: try #require(c.host(named: "ext")).netns, port: 9000, app: w.register(ext))
        let app = Client()
        let s = try w.openUDP(in: try #require(c.pod(named: "client")?.netns), port: nil, app: w.register(app))
        try w.sendUDP(s, to: IPv4Address(192, 168, 50, 100), port: 9000, payloadLength: 16) { $0.initializeMemory(as: UInt8.self, repeating: 3) }
        w.run(until: SimTime.zero + .seconds(1))
        #expect(ext.got.count == 1)
        #expect(ext.got.first?.from == IPv4Address(192, 168, 50, 11))
        #expect(app.replies.count == 1 && app.replies.first?.from == IPv4Address(192, 168, 50, 100))
        #expect(w.conservationHolds())
    }

    /// A conntrack table of 3 entries: three same-node flows that saw replies for more than
    /// 2 s are ASSURED, so early drop finds nothing to evict and a fourth flow is dropped with
    /// "nf_conntrack: table full, dropping packet" while the established ones keep working;
    /// once they time out (120 s for assured UDP) a new flow gets through.
    @Test func fullConntrackTableDropsNewFlowsOnly() throws {
        let c = try Self.reference(conntrackMax: 3)
        let w = c.world
        _ = try Self.servers(c)
        let clientNS = try #require(c.pod(named: "client")?.netns)
        var sockets: [(SocketID, Client)] = []
        for _ in 0..<4 {
            let app = Client()
            sockets.append((try w.openUDP(in: clientNS, port: nil, app: w.register(app)), app))
        }
        func send(_ k: Int, at t: SimDuration) throws {
            w.run(until: SimTime.zero + t)
            try w.sendUDP(sockets[k].0, to: IPv4Address(10, 244, 0, 3), port: 8080, payloadLength: 16) {
                $0.initializeMemory(as: UInt8.self, repeating: 4)
            }
        }
        for k in 0..<3 { try send(k, at: .milliseconds(10)) }
        for k in 0..<3 { try send(k, at: .milliseconds(2500)) }
        w.run(until: SimTime.zero + .seconds(3))
        let pi1 = try #require(w.namespace(c.nodes[0].netns).netfilter)
        #expect(pi1.conntrack.count == 3)
        #expect(w.accounting.dropped(.conntrackTableFull) == 0)
        try send(3, at: .seconds(3))
        try send(0, at: .seconds(3))
        w.run(until: SimTime.zero + .seconds(4))
        #expect(w.accounting.dropped(.conntrackTableFull) == 1)
        #expect(sockets[3].1.replies.isEmpty)
        #expect(sockets[0].1.replies.count == 3)
        #expect(pi1.conntrack.list(now: w.now).allSatisfy { $0.contains("[ASSURED]") })
        // Assured UDP lives 120 s after its last packet; then the table has room again.
        try send(3, at: .seconds(125))
        w.run(until: SimTime.zero + .seconds(126))
        #expect(sockets[3].1.replies.count == 1)
        #expect(w.conservationHolds())
    }
}
