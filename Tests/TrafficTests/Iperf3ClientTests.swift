/// The iperf3 client in a one-node bridged world: count, pacing, payload, errors.
import Datapath
import DatapathTestSupport
import Engine
import Testing
import Wire
@testable import Traffic

@Suite struct Iperf3ClientTests {
    static let server = IPv4Address(10, 244, 0, 3)

    /// 100 Mbit/s × 100 ms / (1400 B × 8) = 892.857…: every datagram whose send time is
    /// strictly before the end is sent, so the count is the ceiling, 893.
    @Test func datagramCountIsTheCeiling() {
        var c = Iperf3ClientConfiguration(server: Self.server, bitrate: 100_000_000, length: 1400, time: .milliseconds(100))
        #expect(c.datagramCount == 893)
        // Exact quotient: 8 Mbit/s, 1000 B, 1 s → 1000 (the one at t = 1 s is not sent).
        c = Iperf3ClientConfiguration(server: Self.server, bitrate: 8_000_000, length: 1000, time: .seconds(1))
        #expect(c.datagramCount == 1000)
        c.time = .nanoseconds(1_000_000_001)
        #expect(c.datagramCount == 1001)
        c.time = .nanoseconds(999_999_999)
        #expect(c.datagramCount == 1000)
    }

    /// Offsets come from n each time (no accumulated rounding): 1000 B at 3 Mbit/s is
    /// 2 666 666.67 ns apart, and datagram 3 leaves at exactly 8 ms.
    @Test func pacingIsExactWithoutDrift() {
        let c = Iperf3ClientConfiguration(server: Self.server, bitrate: 100_000_000, length: 1400, time: .seconds(1))
        #expect(c.sendOffset(1) == .microseconds(112))
        #expect(c.sendOffset(892) == .nanoseconds(892 * 112_000))
        let d = Iperf3ClientConfiguration(server: Self.server, bitrate: 3_000_000, length: 1000, time: .seconds(1))
        #expect(d.sendOffset(1) == .nanoseconds(2_666_666))
        #expect(d.sendOffset(2) == .nanoseconds(5_333_333))
        #expect(d.sendOffset(3) == .milliseconds(8))
        #expect(d.sendOffset(3_000_000) == .seconds(8_000))
    }

    @Test func rejectsWhatIperf3Rejects() {
        var c = Iperf3ClientConfiguration(server: Self.server)
        c.length = 11
        #expect(throws: Iperf3ConfigurationError.lengthTooSmall(11)) { try c.validate() }
        c.length = 1400
        c.bitrate = 0
        #expect(throws: Never.self) { try c.validate() }   // -b 0: unlimited
        #expect(c.isUnlimited && c.datagramCount == .max && c.sendOffset(1_000) == .zero)
        c.bitrate = 1_000_000
        c.time = .zero
        #expect(throws: Iperf3ConfigurationError.nonPositiveTime(.zero)) { try c.validate() }
    }

    /// `-b 0` is held back only by the sender's core: without a CPU model nothing would.
    @Test func unlimitedNeedsASenderOnACPU() {
        let n = BridgedNode.twoPods(seed: 1)
        #expect(throws: Iperf3ConfigurationError.unlimitedBitrate(.pod)) {
            try Iperf3Client(name: "c", world: n.world, namespace: n.client.ns,
                             configuration: Iperf3ClientConfiguration(server: n.server.ip, bitrate: 0))
        }
    }

    struct Run {
        var node: BridgedNode
        var server: Iperf3Server
        var client: Iperf3Client
        var tx: TxRecorder
        var report: Iperf3Report
    }

    /// Client pod → server pod over the bridge; runs to `until`.
    static func run(seed: UInt64 = 1, serverPort: UInt16 = 5201, clientPort: UInt16 = 5201, bitrate: UInt64 = 100_000_000,
                    length: Int = 1400, time: SimDuration = .milliseconds(100), start: SimTime = .ms(1),
                    until: SimTime = .ms(500)) throws -> Run {
        let n = BridgedNode.twoPods(seed: seed)
        let tx = TxRecorder(device: n.client.eth0)
        n.world.addObserver(tx)
        let server = try Iperf3Server(name: "server", world: n.world, namespace: n.server.ns, port: serverPort)
        let config = Iperf3ClientConfiguration(server: n.server.ip, port: clientPort, bitrate: bitrate, length: length,
                                               time: time, start: start)
        let client = try Iperf3Client(name: "client", world: n.world, namespace: n.client.ns, configuration: config)
        n.world.run(until: until)
        return Run(node: n, server: server, client: client, tx: tx,
                   report: Iperf3Report(client: client, server: server, world: n.world))
    }

    @Test func sendsExactCountAndServerSeesEverythingInOrder() throws {
        let r = try Self.run()
        #expect(r.client.datagrams == 893)
        #expect(r.client.datagramsSent == 893)
        #expect(r.client.bytesSent == 893 * 1400)
        #expect(r.client.sendErrors.total == 0)
        #expect(r.server.streams.count == 1)
        let s = try #require(r.server.stream(from: r.node.client.ip, port: r.client.localPort))
        #expect(s.packets == 893)
        #expect(s.bytes == 893 * 1400)
        #expect(s.lost == 0)
        #expect(s.outOfOrder == 0)
        #expect(s.highestSequence == 893)
        #expect(r.report.packetsReceived == 893)
        #expect(r.report.unreceivedPackets == 0)
        #expect(r.report.lostPercent == 0)
        let l = try #require(r.report.latency)
        #expect(l.count == 893)
        #expect(l.min > 0)
        #expect(r.node.world.conservationHolds())
    }

    /// Every datagram on the client's eth0: sequence n, timestamp start + (n−1) × 112 µs, and
    /// the frames leave 112 µs apart once ARP has resolved (the first waits for the reply).
    @Test func payloadHeadersAndPacingOnTheWire() throws {
        let r = try Self.run()
        let frames = r.tx.ipv4(.udp)
        try #require(frames.count == 893)
        var previousTx: SimTime?
        for (i, f) in frames.enumerated() {
            let payload = Array(f.bytes[FrameOffset.udpPayload...])
            #expect(payload.count == 1400)
            let h = try #require(payload.withUnsafeBytes { Iperf3DatagramHeader(parsing: $0) })
            #expect(h.sequence == UInt32(i + 1))
            #expect(h.sendTime == .ms(1) + .microseconds(112) * Int64(i))
            if i >= 2, let p = previousTx { #expect(f.time - p == .microseconds(112)) }
            previousTx = f.time
        }
        // The filler is the same seeded buffer behind every header.
        let filler0 = Array(frames[0].bytes[(FrameOffset.udpPayload + 12)...])
        let filler1 = Array(frames[892].bytes[(FrameOffset.udpPayload + 12)...])
        #expect(filler0 == filler1)
        #expect(Set(filler0).count > 200)   // random bytes, not a constant pattern
    }

    @Test func fillerDependsOnSeedOnly() throws {
        let a = try Self.run(seed: 7, time: .milliseconds(1))
        let b = try Self.run(seed: 7, time: .milliseconds(1))
        let c = try Self.run(seed: 8, time: .milliseconds(1))
        func filler(_ r: Run) -> [UInt8] { Array(r.tx.ipv4(.udp)[0].bytes[(FrameOffset.udpPayload + 12)...]) }
        #expect(filler(a) == filler(b))
        #expect(filler(a) != filler(c))
    }

    /// Server on 5201, client sends to 5202: every datagram is dropped with `.noSocket` and the
    /// report receives nothing. Each drop asks for an ICMP port unreachable, but Linux's
    /// per-destination limiter lets a burst of 6 through and then one a second, so in these
    /// 100 ms the client gets 6 and the server's namespace holds back 887.
    @Test func wrongServerPortDropsEverything() throws {
        let r = try Self.run(serverPort: 5201, clientPort: 5202)
        let w = r.node.world
        #expect(r.client.datagramsSent == 893)
        #expect(w.accounting.dropped(.noSocket) == 893)
        #expect(r.server.streams.isEmpty)
        #expect(r.report.packetsReceived == 0)
        #expect(r.report.bytesReceived == 0)
        #expect(r.report.unreceivedPackets == 893)
        // iperf3's "lost" counts gaps only; the line says what never arrived.
        #expect(r.report.summary.hasSuffix("received 0/893 datagrams, lost 0 (0%), out-of-order 0, jitter 0 ms, never received 893"),
                "\(r.report.summary)")
        #expect(try Self.run().report.summary.contains("never received") == false)
        #expect(r.report.latency == nil)
        #expect(r.client.icmpErrors.count(type: .destinationUnreachable, code: ICMPv4UnreachableCode.port) == 6)
        #expect(w.namespace(r.node.server.ns).icmpOutRateLimitHost == 887)
        #expect(r.report.jsonText.contains("\"sum_received\": {\n      \"start\": 0,\n      \"end\": 0.1,\n      \"seconds\": 0.1,\n      \"bytes\": 0,"))
        #expect(w.conservationHolds())
    }

    /// Local send failures are counted by kind and still use a sequence number.
    @Test func sendErrorsAreCountedNotThrown() throws {
        // No route: a namespace with only lo.
        let n = BridgedNode.twoPods()
        let lonely = n.world.addNamespace(name: "lonely", kind: .pod, node: "pi-1")
        let config = Iperf3ClientConfiguration(server: Self.server, bitrate: 1_000_000, length: 1000, time: .milliseconds(80))
        let c = try Iperf3Client(name: "c", world: n.world, namespace: lonely, configuration: config)
        // Too long for the 1500-byte MTU (1473 + 28 > 1500): Linux's default socket
        // (IP_PMTUDISC_WANT, iperf3 without --dont-fragment) fragments it rather than failing.
        var big = config
        big.length = 1473
        let d = try Iperf3Client(name: "d", world: n.world, namespace: n.client.ns, configuration: big)
        n.world.run(until: .ms(200))
        #expect(c.datagrams == 10)
        #expect(c.datagramsSent == 0)
        #expect(c.sendErrors.networkUnreachable == 10)
        #expect(big.datagramCount == 7)   // ⌈0.08 × 1e6 / (1473 × 8)⌉ = ⌈6.79⌉
        #expect(d.datagrams == 7)
        #expect(d.sendErrors.messageTooLong == 0)
        #expect(d.datagramsSent == 7)
        #expect(d.bytesSent == 7 * 1473)
        #expect(n.world.conservationHolds())
    }

    /// A client started later than now waits; one scheduled in the past starts at once.
    @Test func startTimeIsHonoured() throws {
        let r = try Self.run(bitrate: 8_000_000, length: 1000, time: .milliseconds(3), start: .ms(50))
        let frames = r.tx.ipv4(.udp)
        try #require(frames.count == 3)
        #expect(r.client.firstSend == .ms(50))
        #expect(r.client.lastSend == .ms(52))
    }
}
