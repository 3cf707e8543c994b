/// The neighbour state machine past INCOMPLETE and FAILED: STALE, DELAY and the unicast
/// PROBE, which nothing tested. The expectations are what Linux 6.18 did in the same
/// exchange (checked 2026-11-25, two namespaces joined by a veth, tcpdump on A's side and
/// `ip neigh` sampled; times from the first send):
///
///     0 s     A broadcasts who-has B, B replies; A's datagram; B's port unreachable.
///             A: REACHABLE. B: DELAY (its entry for A came STALE from A's request, and
///             the ICMP error used it).
///     5.17 s  B → A unicast who-has (PROBE after delay_first_probe_time), A replies.
///             B: REACHABLE.
///     50 s    both STALE (reachable time is 15–45 s); A sends again, both go DELAY.
///     55.35 s A → B and B → A unicast who-has, both replied; both REACHABLE.
import Datapath
import DatapathTestSupport
import Engine
import Testing
import Traffic
import Wire

@Suite struct NeighbourStateTests {
    /// ARP frames a device sent: (time, opcode, target IP's last byte, broadcast?).
    static func arps(_ r: TxRecorder) -> [(time: SimTime, op: UInt8, target: UInt8, broadcast: Bool)] {
        r.frames.filter { $0.bytes.count >= 42 && $0.bytes[12] == 0x08 && $0.bytes[13] == 0x06 }
            .map { ($0.time, $0.bytes[21], $0.bytes[41], $0.bytes[0..<6].allSatisfy { $0 == 0xFF }) }
    }

    @Test func staleThenDelayThenUnicastProbeAsLinuxDoes() throws {
        var n = BridgedNode()
        n.addPod("a", host: 2)
        n.addPod("b", host: 3)
        let w = n.world
        let a = try #require(n.pods["a"]), b = try #require(n.pods["b"])
        let txA = TxRecorder(device: a.eth0), txB = TxRecorder(device: b.eth0)
        w.addObserver(txA)
        w.addObserver(txB)
        for start in [SimTime.ms(1), .ms(50_001)] {
            _ = try UDPEchoClient(name: "probe", world: w, namespace: a.ns,
                                  configuration: UDPEchoConfiguration(server: b.ip, port: 9999, count: 1, length: 64, start: start))
        }
        func state(_ ns: NamespaceID, of ip: IPv4Address, device: DeviceID) -> NeighbourState? {
            let t = w.namespace(ns).neighbours
            return t.find(ip, device: device).map { t.entries[Int($0)].state }
        }
        w.run(until: .ms(101))
        #expect(state(a.ns, of: b.ip, device: a.eth0) == .reachable)
        #expect(state(b.ns, of: a.ip, device: b.eth0) == .delay)
        w.run(until: .ms(6_001))
        #expect(state(b.ns, of: a.ip, device: b.eth0) == .reachable)
        w.run(until: .ms(56_001))
        #expect(state(a.ns, of: b.ip, device: a.eth0) == .reachable)
        #expect(state(b.ns, of: a.ip, device: b.eth0) == .reachable)

        let fromA = Self.arps(txA), fromB = Self.arps(txB)
        // A: the broadcast request at the start, its reply to B's probe at ~5 s, its own
        // unicast probe at ~55 s, and its reply to B's probe then.
        #expect(fromA.map(\.op) == [1, 2, 1, 2], "\(fromA)")
        #expect(fromA.first?.broadcast == true)
        #expect(fromA.filter { $0.op == 1 }.dropFirst().allSatisfy { !$0.broadcast && $0.target == 3 })
        // B: its reply at the start, its unicast probe 5 s after the port unreachable, and at
        // ~55 s a probe and a reply.
        #expect(fromB.map(\.op) == [2, 1, 1, 2], "\(fromB)")
        let probesB = fromB.filter { $0.op == 1 }
        #expect(probesB.count == 2 && probesB.allSatisfy { !$0.broadcast && $0.target == 2 }, "\(fromB)")
        #expect(probesB.first.map { $0.time >= .ms(5_001) && $0.time < .ms(6_001) } == true, "\(fromB)")
        let probeA = try #require(fromA.filter { $0.op == 1 }.last)
        #expect(probeA.time >= .ms(55_001) && probeA.time < .ms(56_001), "\(fromA)")
        #expect(w.conservationHolds())
    }
}
