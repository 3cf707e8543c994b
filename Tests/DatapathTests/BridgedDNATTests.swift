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
