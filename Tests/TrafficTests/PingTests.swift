/// Ping in a one-node bridged world: replies, payload, unreachable, linger, determinism.
import Datapath
import DatapathTestSupport
import Engine
import Testing
import Wire
@testable import Traffic

@Suite struct PingTests {
    struct Run {
        var node: BridgedNode
        var ping: Ping
        var tx: TxRecorder
        var report: PingReport
    }

    static func run(seed: UInt64 = 1, destination: IPv4Address = IPv4Address(10, 244, 0, 3), count: Int = 3,
                    interval: SimDuration = .milliseconds(200), size: Int = 56, until: SimTime = .ms(20_000)) throws -> Run {
        let n = BridgedNode.twoPods(seed: seed)
        let tx = TxRecorder(device: n.client.eth0)
        n.world.addObserver(tx)
        let p = try Ping(name: "ping", world: n.world, namespace: n.client.ns,
                         configuration: PingConfiguration(destination: destination, count: count, interval: interval,
                                                          size: size, start: .ms(10)))
        n.world.run(until: until)
        return Run(node: n, ping: p, tx: tx, report: PingReport(p))
    }

    @Test func threeEchoesThreeReplies() throws {
        let r = try Self.run()
        let p = r.report
        #expect(p.transmitted == 3)
        #expect(p.received == 3)
        #expect(p.duplicates == 0 && p.errors == 0)
        #expect(p.finished)
        var sequences: [UInt16] = []
        for case .reply(let reply) in p.events {
            sequences.append(reply.sequence)
            #expect(reply.ttl == 64)
            #expect(reply.bytes == 64)
            #expect(reply.from == IPv4Address(10, 244, 0, 3))
            #expect(reply.rtt > .zero)
            #expect(reply.rttMicroseconds != nil)
        }
        #expect(sequences == [1, 2, 3])
        let rtt = try #require(p.rtt)
        #expect(rtt.min <= rtt.avg && rtt.avg <= rtt.max)
        #expect(p.latency?.count == 3)
        // iputils' "time" runs from the first send to the last (its `cur_time` is set only
        // when sending), not to the reply that ends ping.
        let last = try #require(p.events.last)
        guard case .reply(let lastReply) = last else { Issue.record("last event is not a reply"); return }
        #expect(lastReply.time > .ms(410))
        #expect(p.elapsed == .milliseconds(400))
        #expect(p.elapsedMilliseconds == 400)
        #expect(p.pipe == 1)   // one request out at a time: no "pipe" line
        #expect(r.node.world.conservationHolds())
        print(p.transcript)
    }

    @Test func identicalAcrossRunsWithTheSameSeed() throws {
        let a = try Self.run(seed: 3)
        let b = try Self.run(seed: 3)
        #expect(a.report == b.report)
        #expect(a.report.transcript == b.report.transcript)
        #expect(a.report.jsonText == b.report.jsonText)
        #expect(a.node.world.conservationHolds() && b.node.world.conservationHolds())
    }

    /// On the wire: data byte i = i & 0xff after a little-endian timeval of the send time.
    @Test func requestPayloadIsIputilsPattern() throws {
        let r = try Self.run(size: 300)
        let requests = r.tx.ipv4(.icmp).filter { $0.bytes[FrameOffset.l4] == ICMPv4Type.echoRequest.rawValue }
        try #require(requests.count == 3)
        for (i, f) in requests.enumerated() {
            let data = Array(f.bytes[FrameOffset.icmpData...])
            #expect(data.count == 300)
            let sentUs = data.withUnsafeBytes { Ping.parseTimeval($0) }
            #expect(sentUs == 10_000 + Int64(i) * 200_000)
            #expect(data[0..<8] == [0, 0, 0, 0, 0, 0, 0, 0])              // seconds = 0
            #expect(data[8..<16] == [0x10, 0x27, 0, 0, 0, 0, 0, 0][...] || i > 0)   // 10000 µs LE for the first
            for k in 16..<300 where data[k] != UInt8(k & 0xff) {
                Issue.record("byte \(k) is \(data[k])")
                break
            }
            #expect(UInt16(f.bytes[FrameOffset.l4 + 6]) << 8 | UInt16(f.bytes[FrameOffset.l4 + 7]) == UInt16(i + 1))
        }
    }

    /// 10.244.0.99 is on the subnet but nobody has it: ARP is retried at 0, 1, 2 s and the
    /// neighbour fails at 3 s; each queued request comes back as ICMP host unreachable.
    /// iputils 20221126 in namespaces, the same three pings: "3 packets transmitted, 0
    /// received, +3 errors, 100% packet loss, time 2048ms" (its last send, 48 ms of process
    /// time late) and "pipe 3" (all three were out when the first error came back). podwire
    /// said "time 3000ms" (the errors' arrival) and left the pipe line out.
    @Test func missingAddressGivesHostUnreachable() throws {
        let r = try Self.run(destination: IPv4Address(10, 244, 0, 99), interval: .seconds(1))
        let p = r.report
        #expect(p.transmitted == 3)
        #expect(p.received == 0)
        #expect(p.errors == 3)
        #expect(p.icmpErrors.count(type: .destinationUnreachable, code: ICMPv4UnreachableCode.host) == 3)
        #expect(p.rtt == nil)
        var seqs: [UInt16] = []
        for case .error(let e) in p.events {
            seqs.append(e.sequence)
            #expect(e.from == IPv4Address(10, 244, 0, 2))
            #expect(e.time >= .ms(3_010) && e.time < .ms(3_011))
        }
        #expect(seqs == [1, 2, 3])
        #expect(r.node.world.accounting.dropped(.neighbourFailed) == 3)
        #expect(p.summary == """
            --- 10.244.0.99 ping statistics ---
            3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2000ms
            pipe 3

            """)
        #expect(p.transcript.contains("From 10.244.0.2 icmp_seq=1 Destination Host Unreachable\n"))
        #expect(r.node.world.conservationHolds())
    }

    /// Nothing comes back and no error either (echo to the subnet broadcast is ignored,
    /// icmp_echo_ignore_broadcasts): ping waits the linger time (10 s) after the last send,
    /// but its "time" stops at that send, and the line after the statistics is empty.
    /// iputils 20221126, two pings 1 s apart that nobody answered: "time 1026ms", exit 10 s
    /// later, then an empty line. podwire said "time 11000ms" and printed no empty line.
    @Test func lingersWhenNothingComesBack() throws {
        let r = try Self.run(destination: IPv4Address(10, 244, 0, 255), count: 2, interval: .seconds(1))
        let p = r.report
        #expect(p.transmitted == 2)
        #expect(p.received == 0 && p.errors == 0)
        #expect(p.finished)
        #expect(p.elapsedMilliseconds == 1_000)
        #expect(p.summary == """
            --- 10.244.0.255 ping statistics ---
            2 packets transmitted, 0 received, 100% packet loss, time 1000ms


            """)
        #expect(r.node.world.conservationHolds())
    }

    /// With fewer than 16 data bytes there is no timeval: no times and no rtt line (iputils).
    /// A ping to the pod's own address goes out and back in on `lo`, which counts the IP
    /// packet and not its (zero) Ethernet header, as `loopback_xmit` does: Linux 6.18, one
    /// 56-byte ping to 127.0.0.1 in a namespace, `ip -s link show lo` gave 2 packets and
    /// 168 bytes each way. podwire counted 196 (the 14-byte header of each frame).
    @Test func pingingYourselfCountsIPBytesOnLoopback() throws {
        let r = try Self.run(destination: IPv4Address(10, 244, 0, 2), count: 1)
        #expect(r.report.received == 1)
        let lo = r.node.world.device(r.node.world.namespace(r.node.client.ns).loopback).counters
        #expect([lo.rxPackets, lo.rxBytes, lo.txPackets, lo.txBytes] == [2, 168, 2, 168])
        #expect(r.node.world.device(r.node.client.eth0).counters == DeviceCounters())
    }

    @Test func smallSizeHasNoTiming() throws {
        let r = try Self.run(count: 2, size: 8).report
        #expect(r.received == 2)
        #expect(r.rtt == nil)
        #expect(r.latency?.count == 2)   // the simulated RTT is still known
        #expect(!r.summary.contains("rtt"))
        #expect(r.transcript.contains("16 bytes from 10.244.0.3: icmp_seq=1 ttl=64\n"))
    }
}
