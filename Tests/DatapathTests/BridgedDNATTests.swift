@testable import Datapath
import DatapathTestSupport
import Engine
import Testing
import Wire

/// Bridged DNAT (br_netfilter, REFERENCE.md §5.3) when the new destination's neighbour is
/// not known yet: the packet waits for ARP on cni0, unconfirmed, as in Linux
/// (`br_nf_pre_routing_finish_bridge` → `neigh->output`). NetfilterKernelTwinTests checks the
/// resolved case end to end; these check what waiting may lead to.
@Suite struct BridgedDNATTests {
    /// Records what a UDP socket hears.
    final class Listener: NetworkApplication {
        var errors: [(time: SimTime, source: IPv4Address, type: UInt8, code: UInt8, quotedDestination: IPv4Address)] = []
        var datagrams = 0
        func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) { datagrams += 1 }
        func icmpReceived(_ world: World, socket: SocketID, message: ReceivedICMP) {
            let quoted = message.payload.count >= 20
                ? IPv4Address(rawValue: UInt32(bigEndian: message.payload.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))
                : IPv4Address(rawValue: 0)
            errors.append((world.now, message.source, message.type.rawValue, message.code, quoted))
        }
    }

    /// A node that DNATs 10.96.0.30:80 to `to`, and pod a that sends there.
    static func node(dnatTo to: String) throws -> (BridgedNode, a: NamespaceID, sender: Listener, socket: SocketID) {
        var n = BridgedNode()
        n.addPod("a", host: 2)
        n.addPod("b", host: 3)
        try n.world.enableNetfilter(n.node, ruleset: try IptablesSave.parse("""
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A PREROUTING -d 10.96.0.30/32 -p udp -m udp --dport 80 -j DNAT --to-destination \(to)
            COMMIT

            """), conntrackMax: 1000)
        let a = try #require(n.pods["a"]).ns
        let sender = Listener()
        let app = n.world.register(sender)
        let socket = try n.world.openUDP(in: a, port: 40000, app: app)
        return (n, a, sender, socket)
    }

    /// The endpoint never answers ARP. Linux 6.18 (namespaces, checked 2026-11-25): the node
    /// asks for 10.244.0.99 at 0, +1.02 and +2.05 s; at +3.07 s the client gets ICMP host
    /// unreachable, translated back through the flow's entry so it comes from 10.96.0.30 and
    /// quotes 10.96.0.30; `conntrack -L` is empty afterwards. The entry never confirmed, and
    /// it is freed with its packet (podwire used to confirm it before the packet waited).
    @Test func anEndpointThatNeverAnswersLeavesNoEntry() throws {
        let (n, _, sender, socket) = try Self.node(dnatTo: "10.244.0.99:8080")
        let w = n.world
        try w.sendUDP(socket, to: IPv4Address(10, 96, 0, 30), port: 80, payloadLength: 10) { _ in }
        w.run(until: SimTime(nanoseconds: 5_000_000_000))
        let ct = try #require(w.namespace(n.node).netfilter).conntrack
        #expect(ct.count == 0 && ct.unconfirmedCount == 0)
        #expect(w.accounting.dropped(.neighbourFailed) == 1)
        #expect(sender.errors.count == 1)
        let e = try #require(sender.errors.first)
        #expect(e.type == 3 && e.code == ICMPv4UnreachableCode.host)
        #expect(e.source == IPv4Address(10, 96, 0, 30) && e.quotedDestination == IPv4Address(10, 96, 0, 30))
        #expect(e.time >= SimTime(nanoseconds: 3_000_000_000) && e.time < SimTime(nanoseconds: 3_100_000_000))
        #expect(w.conservationHolds())
    }

    /// Sends each datagram back to where it came from, from its own socket.
    final class Echo: NetworkApplication {
        var socket = SocketID(rawValue: -1)
        var datagrams = 0
        func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {
            datagrams += 1
            let payload = datagram.payload
            try? world.sendUDP(self.socket, to: datagram.source, port: datagram.sourcePort, payloadLength: payload.count) {
                $0.copyMemory(from: payload)
            }
        }
    }

    /// Records the source of each datagram a socket hears.
    final class Sources: NetworkApplication {
        var heard: [String] = []
        func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {
            heard.append("\(datagram.source):\(datagram.sourcePort)")
        }
    }

    /// Three datagrams from one socket to a Service with two endpoints (kube-proxy's
    /// `statistic --mode random --probability 0.5`), all waiting for ARP. The first to
    /// confirm wins and those for its endpoint merge into it; when the seed split them, the
    /// first for the other endpoint cannot merge, and (current kernels,
    /// `nf_ct_resolve_clash_harder`) goes in by its reply tuple alone, hidden, for a second,
    /// and any later one for that endpoint merges into it. Either way all three are delivered
    /// and every echo comes back from the Service's address. Seeds 1 and 3 send all three one
    /// way, 2 and 4 split them 2–1 and 1–2.
    /// Linux 6.18 in namespaces (2026-11-25; `--mode nth --every 2` there to force the split,
    /// b and c answering ARP 1 s apart): b echoed 2 and c 1, the client heard three replies
    /// from 10.96.0.30:80, `conntrack -S` said clash_resolve=2 insert_failed=0 drop=0,
    /// `conntrack -L` listed one entry while `conntrack -C` counted 2, and 1 once the second
    /// was up and a dump had reaped the hidden entry (Tests/kernel-twin/conntrack-clash.sh).
    @Test(arguments: 1...4) func aLoserWithOtherNATIsLetInByItsReplyForASecond(seed: UInt64) throws {
        var n = BridgedNode(seed: seed)
        n.addPod("a", host: 2)
        n.addPod("b", host: 3)
        n.addPod("c", host: 4)
        let w = n.world
        try w.enableNetfilter(n.node, ruleset: try IptablesSave.parse("""
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A PREROUTING -d 10.96.0.30/32 -p udp -m udp --dport 80 -m statistic --mode random --probability 0.50000000000 -j DNAT --to-destination 10.244.0.3:8080
            -A PREROUTING -d 10.96.0.30/32 -p udp -m udp --dport 80 -j DNAT --to-destination 10.244.0.4:8080
            COMMIT

            """), conntrackMax: 1000)
        var echoes: [Echo] = []
        for pod in ["b", "c"] {
            let echo = Echo()
            echo.socket = try w.openUDP(in: try #require(n.pods[pod]).ns, port: 8080, app: w.register(echo))
            echoes.append(echo)
        }
        let client = Sources()
        let socket = try w.openUDP(in: try #require(n.pods["a"]).ns, port: 40000, app: w.register(client))
        for _ in 0..<3 { try w.sendUDP(socket, to: IPv4Address(10, 96, 0, 30), port: 80, payloadLength: 2) { _ in } }
        w.run(until: SimTime(nanoseconds: 100_000_000))
        let ct = try #require(w.namespace(n.node).netfilter).conntrack
        let split = echoes.allSatisfy { $0.datagrams > 0 }
        #expect(echoes.map(\.datagrams) == [[0, 3], [2, 1], [3, 0], [1, 2]][Int(seed) - 1])
        #expect(client.heard == Array(repeating: "10.96.0.30:80", count: 3))
        #expect(ct.statistics.clashResolve == 2 && ct.statistics.insertFailed == 0 && ct.statistics.drop == 0)
        #expect(ct.statistics.insert == 0)
        let listed = ct.entries(now: w.now)
        #expect(listed.count == 1 && ct.count == (split ? 2 : 1) && ct.unconfirmedCount == 0)
        // Nothing is lost but the flooded ARP requests the other pods consume.
        #expect(w.accounting.dropped == w.accounting.dropped(.arpNotForUs))
        // The hidden entry is gone a second after it went in.
        w.run(until: SimTime(nanoseconds: 1_100_000_000))
        #expect(ct.expire(now: w.now) == (split ? 1 : 0))
        #expect(ct.count == 1 && ct.entries(now: w.now).map(\.reply) == listed.map(\.reply))
        #expect(ct.checkInvariants())
        #expect(w.conservationHolds())
    }

    /// Datagrams that waited together for ARP each made an entry; the first to confirm keeps
    /// its, the others merge into it (`nf_ct_resolve_clash`), and all are delivered: Linux
    /// 6.18 gave clash_resolve=2 and one entry for three (ConnectionTrackerTests).
    @Test func datagramsThatWaitedTogetherAllArriveAndShareOneEntry() throws {
        let (n, _, sender, socket) = try Self.node(dnatTo: "10.244.0.3:8080")
        let w = n.world
        let b = try #require(n.pods["b"]).ns
        let server = Listener()
        _ = try w.openUDP(in: b, port: 8080, app: w.register(server))
        // Pod a first resolves its gateway, so the node does not know b yet when the three
        // arrive back to back.
        for _ in 0..<3 { try w.sendUDP(socket, to: IPv4Address(10, 96, 0, 30), port: 80, payloadLength: 10) { _ in } }
        w.run(until: SimTime(nanoseconds: 100_000_000))
        let ct = try #require(w.namespace(n.node).netfilter).conntrack
        #expect(server.datagrams == 3)
        #expect(sender.errors.isEmpty)
        #expect(ct.count == 1 && ct.unconfirmedCount == 0)
        #expect(ct.statistics.clashResolve == 2 && ct.statistics.insertFailed == 0)
        #expect(w.conservationHolds())
    }
}
