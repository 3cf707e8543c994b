/// iperf3's receive-side accounting (loss, out-of-order, jitter) on synthetic datagrams.
import Engine
import Testing
import Wire
@testable import Traffic

/// iperf3's receive-side rules on synthetic datagrams (no world).
@Suite struct Iperf3ServerTests {
    func header(_ seq: UInt32, sentAt ns: Int64) -> Iperf3DatagramHeader {
        Iperf3DatagramHeader(sendTime: SimTime(nanoseconds: ns), sequence: seq)
    }

    /// 1,2,4,3,6: 4 opens a gap (3 lost), 3 arrives late (out-of-order, loss back to 0),
    /// 6 opens a gap (5 lost). Result: lost 1 (seq 5), out-of-order 1, highest 6.
    @Test func lossAndOutOfOrderFollowIperf3() {
        var s = Iperf3StreamStatistics(source: IPv4Address(10, 244, 0, 2), sourcePort: 40000)
        var lostAfter: [UInt64] = []
        for (i, seq) in [1, 2, 4, 3, 6].enumerated() {
            s.record(header(UInt32(seq), sentAt: Int64(i) * 1000), bytes: 100, arrival: SimTime(nanoseconds: Int64(i) * 1000 + 500))
            lostAfter.append(s.lost)
        }
        #expect(lostAfter == [0, 0, 1, 0, 1])
        #expect(s.lost == 1)
        #expect(s.outOfOrder == 1)
        #expect(s.highestSequence == 6)
        #expect(s.packets == 5)
        #expect(s.bytes == 500)
        #expect(s.firstArrival == SimTime(nanoseconds: 500))
        #expect(s.lastArrival == SimTime(nanoseconds: 4500))
    }

    /// A duplicate counts as out-of-order; tail loss (3 of 3 sent, only 1 and 2 arrive) is
    /// invisible to the rule; a late datagram with no loss pending leaves lost at 0.
    @Test func duplicatesAndTailLoss() {
        var s = Iperf3StreamStatistics(source: IPv4Address(10, 244, 0, 2), sourcePort: 1)
        for seq: UInt32 in [1, 2, 2] { s.record(header(seq, sentAt: 0), bytes: 12, arrival: .zero) }
        #expect(s.outOfOrder == 1)
        #expect(s.lost == 0)
        #expect(s.highestSequence == 2)
        // Sequence 0 is never "forward" (iperf3 starts at 1).
        var z = Iperf3StreamStatistics(source: .any, sourcePort: 2)
        z.record(header(0, sentAt: 0), bytes: 12, arrival: .zero)
        #expect(z.outOfOrder == 1 && z.highestSequence == 0)
    }

    /// Transit 100, 110, 90, 130 µs: jitter = 0 → 10/16 → +(20 − 0.625)/16 → +(40 − 1.8359375)/16
    /// = 4.22119140625 µs (the first datagram only primes previousTransit).
    @Test func jitterIsRFC1889Smoothing() {
        var s = Iperf3StreamStatistics(source: .any, sourcePort: 1)
        let transits: [Int64] = [100_000, 110_000, 90_000, 130_000]
        var jitters: [Double] = []
        for (i, t) in transits.enumerated() {
            let sent = Int64(i) * 1_000_000
            s.record(header(UInt32(i + 1), sentAt: sent), bytes: 12, arrival: SimTime(nanoseconds: sent + t))
            jitters.append(s.jitterNanoseconds)
        }
        #expect(jitters == [0, 625, 1835.9375, 4221.19140625])
        let p = s.latency.percentiles!
        #expect(p.count == 4)
        #expect(p.min == 90_000)
        #expect(p.max == 130_000)
        // HdrHistogram (3 digits): p50 is the 2nd smallest value's highest equivalent.
        #expect(p.p50 >= 100_000 && p.p50 < 100_100)
    }

    @Test func constantTransitHasZeroJitter() {
        var s = Iperf3StreamStatistics(source: .any, sourcePort: 1)
        for i in 0..<100 {
            let sent = Int64(i) * 112_000
            s.record(header(UInt32(i + 1), sentAt: sent), bytes: 12, arrival: SimTime(nanoseconds: sent + 7_000))
        }
        #expect(s.jitterNanoseconds == 0)
        #expect(s.latency.percentiles == LatencyPercentiles(count: 100, min: 7_000, p50: 7_000, p90: 7_000,
                                                            p99: 7_000, max: 7_000))
    }
}
