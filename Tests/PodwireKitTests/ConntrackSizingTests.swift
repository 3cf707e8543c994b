import Datapath
import Engine
import Kube
import Testing
import Traffic
import Wire

/// Issue 5, must show 2: a node without kube-proxy keeps the kernel's conntrack size for its
/// memory. A 1 GB Pi 4 (920 MiB managed, pi-profiles.md §6): 920 MiB / 16384 / 8-byte
/// pointers = 7,360 buckets = `nf_conntrack_max`. The table fills at exactly that many
/// flows, and the next new flow is dropped ("nf_conntrack: table full").
@Suite struct ConntrackSizingTests {
    final class Replies: NetworkApplication {
        var count = 0
        func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) { count += 1 }
    }

    @Test func kernelDefaultsByMemory() {
        // pi-profiles.md §6's table, kernel ≥ 5.15, 64-bit.
        let expected = ["raspberry-pi-zero-2w": 3440, "raspberry-pi-3b": 7360, "raspberry-pi-3b-plus": 7360,
                        "raspberry-pi-4b-1gb": 7360, "raspberry-pi-4b-2gb": 65536, "raspberry-pi-4b-4gb": 65536,
                        "raspberry-pi-4b-8gb": 262_144, "raspberry-pi-5-4gb": 65536, "raspberry-pi-5-8gb": 262_144]
        for (name, max) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(NodeProfile.named(name)?.kernelConntrackMax == max, "\(name)")
            // Every listed board has 4 cores: kube-proxy sets 131072.
            #expect(NodeProfile.named(name)?.kubeProxyConntrackMax == 131_072, "\(name)")
        }
        var thirtyTwoBit = NodeProfile.named("raspberry-pi-4b-1gb")!
        thirtyTwoBit.is64Bit = false
        #expect(thirtyTwoBit.kernelConntrackMax == 14_720)
    }

    @Test func onePi4With1GBFillsAt7360Flows() throws {
        let profile = try #require(NodeProfile.named("raspberry-pi-4b-1gb"))
        let max = profile.kernelConntrackMax
        #expect(max == 7360)
        var configuration = ClusterConfiguration(network: .flannelHostGW)
        configuration.kubeProxy = false
        let cluster = Cluster(configuration, nodes: (0..<2).map { i in
            NodeDefinition(name: "pi-\(i + 1)", profile: profile, address: IPv4Interface("192.168.50.\(11 + i)/24")!,
                           podCIDR: IPv4Network("10.244.\(i).0/24")!)
        })
        let client = cluster.addPod(PodDefinition(name: "client", nodeName: "pi-1"))
        let server = cluster.addPod(PodDefinition(name: "server", nodeName: "pi-1"))
        try cluster.programNodeNetfilter()
        let world = cluster.world
        let pi1 = try #require(world.namespace(cluster.nodes[0].netns).netfilter)
        #expect(pi1.conntrack.maximum == max)
        // Without kube-proxy the node has flanneld's rules only.
        #expect(!pi1.rules.save().contains("KUBE-"))
        _ = try UDPEchoServer(name: "echo", world: world, namespace: server.netns!, port: 8080)
        let replies = Replies()
        let app = world.register(replies)
        var sockets: [SocketID] = []
        for _ in 0...max { sockets.append(try world.openUDP(in: client.netns!, port: nil, app: app)) }
        func send(_ s: SocketID) throws {
            try world.sendUDP(s, to: server.ip!, port: 8080, payloadLength: 16) { $0.initializeMemory(as: UInt8.self, repeating: 1) }
        }
        // One flow per socket, each answered (so the entries are not early-drop victims once
        // assured, which needs a reply and a packet 2 s after the first): a datagram now and
        // one 2.5 s later.
        // 20 µs apart: one burst of 7,360 sends would overflow the sending core's backlog.
        for round in 0..<2 {
            for (k, s) in sockets.dropLast().enumerated() {
                let offset = SimDuration.microseconds(Int64(10_000 + 2_500_000 * round + 20 * k))
                world.run(until: SimTime.zero + offset)
                try send(s)
            }
        }
        world.run(until: .zero + .seconds(3))
        #expect(pi1.conntrack.count == max)
        #expect(replies.count == 2 * max)
        #expect(world.accounting.dropped(.conntrackTableFull) == 0)
        #expect(pi1.conntrack.list(now: world.now).allSatisfy { $0.contains("[ASSURED]") })
        // Flow 7,361: dropped at PREROUTING, and the table stays full.
        try send(sockets[max])
        world.run(until: .zero + .seconds(4))
        #expect(world.accounting.dropped(.conntrackTableFull) == 1)
        #expect(replies.count == 2 * max)
        #expect(pi1.conntrack.count == max)
        #expect(world.conservationHolds())
    }
}
