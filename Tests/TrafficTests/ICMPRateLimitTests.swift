/// Linux limits the ICMP errors a namespace sends to one destination (`icmp_ratelimit` 1 s,
/// `XRLIM_BURST_FACTOR` 6, `icmp_ratemask` 0x1818; ../shared/reference/k8s-datapath.md §12).
/// podwire used to answer every datagram to a closed port with a port unreachable.
@testable import Datapath
import DatapathTestSupport
import Engine
import Testing
import Traffic
import Wire

@Suite struct ICMPRateLimitTests {
    /// 20 datagrams 1 ms apart to a port nobody listens on get 6 port unreachables (the burst);
    /// another sender is another destination with its own burst; 1.5 s later one more gets
    /// through, and the next, 1 ms after it, does not.
    ///
    /// The real kernel does the same (Linux 6.18, checked 2026-11-25): two namespaces joined
    /// by a veth (10.99.0.1/24, 10.99.0.2/24), a Python UDP socket in the first sending 20
    /// datagrams to 10.99.0.2:9999 1 ms apart, then 3 more 1.5 s later, and tcpdump on the
    /// first's veth: 6 "udp port 9999 unreachable" 1.1 ms apart, then 1 at +1.52 s.
    @Test func portUnreachableIsABurstOfSixThenOneASecondPerDestination() throws {
        var n = BridgedNode()
        n.addPod("a", host: 2)
        n.addPod("b", host: 3)
        n.addPod("c", host: 4)
        let w = n.world
        let a = try #require(n.pods["a"]), b = try #require(n.pods["b"]), c = try #require(n.pods["c"])
        func flood(_ from: NamespaceID, count: Int, at start: SimTime) throws -> UDPEchoClient {
            try UDPEchoClient(name: "flood", world: w, namespace: from,
                              configuration: UDPEchoConfiguration(server: b.ip, port: 9999, count: count, interval: .milliseconds(1),
                                                                  length: 64, start: start))
        }
        let first = try flood(a.ns, count: 20, at: .ms(1))
        let other = try flood(c.ns, count: 20, at: .ms(1))
        let late = try flood(a.ns, count: 2, at: .ms(1500))
        w.run(until: .ms(2000))
        #expect(first.sent == 20 && other.sent == 20 && late.sent == 2)
        #expect(first.icmpErrors.count == 6)
        #expect(other.icmpErrors.count == 6)
        #expect(late.icmpErrors.count == 1)
        #expect(first.icmpErrors.allSatisfy { $0.type == 3 && $0.code == ICMPv4UnreachableCode.port })
        #expect(w.namespace(b.ns).icmpOutRateLimitHost == 14 + 14 + 1)
        #expect(w.accounting.dropped(.noSocket) == 42)
        #expect(w.conservationHolds())
    }

    /// "Don't limit PMTU discovery": fragmentation needed is never limited, nor are types
    /// outside the mask (echo reply) or errors routed out through loopback; time exceeded is.
    /// Linux 6.18 through a router namespace (egress MTU 1000), checked 2026-11-25: 20 DF
    /// datagrams of 1400 bytes (IP_PMTUDISC_PROBE, so the sender keeps sending them) drew 20
    /// "need to frag (mtu 1000)"; 20 datagrams with TTL 1 then drew 6 "time exceeded".
    @Test func whatTheLimiterLeavesAlone() throws {
        var n = BridgedNode()
        n.addPod("a", host: 2)
        let w = n.world, to = IPv4Address(10, 244, 0, 2)
        func granted(_ type: ICMPv4Type, _ code: UInt8, via device: DeviceID, _ times: Int = 50) -> Int {
            (0..<times).filter { _ in w.icmpRateAllows(n.node, type: type, code: code, to: to, via: device) }.count
        }
        #expect(granted(.destinationUnreachable, ICMPv4UnreachableCode.fragmentationNeeded, via: n.cni0) == 50)
        #expect(granted(.echoReply, 0, via: n.cni0) == 50)
        #expect(granted(.timeExceeded, 0, via: w.namespace(n.node).loopback) == 50)
        #expect(granted(.timeExceeded, 0, via: n.cni0) == 6)
        #expect(granted(.destinationUnreachable, ICMPv4UnreachableCode.host, via: n.cni0) == 0)  // one bucket per destination
        #expect(w.namespace(n.node).icmpOutRateLimitHost == 44 + 50)
    }
}
