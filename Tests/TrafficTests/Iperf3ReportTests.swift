/// The iperf3 report's JSON: keys, exact numbers, determinism.
import Datapath
import Engine
import Testing
import Wire
@testable import Traffic

@Suite struct Iperf3ReportTests {
    @Test func sumHasIperf3KeysInOrderAndExactNumbers() throws {
        let r = try Iperf3ClientTests.run()
        let json = r.report.jsonText
        // The whole end.sum object, byte for byte (jitter 0: after the first datagram, which
        // waited for ARP, the transit is constant and the smoothing decays to < 1 ns).
        #expect(json.contains("""
                "sum": {
                  "start": 0,
                  "end": 0.1,
                  "seconds": 0.1,
                  "bytes": 1250200,
                  "bits_per_second": 100016000,
                  "jitter_ms": 0,
                  "lost_packets": 0,
                  "packets": 893,
                  "lost_percent": 0,
                  "out_of_order": 0,
                  "sender": true
                },
            """))
        #expect(json.contains("\"sum_received\": {\n      \"start\": 0,\n      \"end\": 0.1,\n      \"seconds\": 0.1,\n      \"bytes\": 1250200,\n      \"bits_per_second\": 100016000,"))
        let topKeys = json.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { String($0.split(separator: ":")[0]) }
        #expect(topKeys == ["  \"start\"", "  \"intervals\"", "  \"end\"", "  \"podwire\""])
        #expect(json.contains("\"one_way_delay_us\": {\n      \"count\": 893,"))
        print(json)
    }

    /// `intervals[]`, as iperf3 -J's client writes it (`-i 1`): one per second of `-t`, the
    /// last shorter, each with the stream (socket first) and the sum, sender side; the
    /// intervals add up to `end.sum`. Plotting scripts read `intervals[].sum.bits_per_second`;
    /// the report had no `intervals` at all.
    @Test func intervalsArePerSecondAndAddUpToTheSum() throws {
        let r = try Iperf3ClientTests.run(bitrate: 8_000_000, length: 1000, time: .milliseconds(2_500), until: .ms(3_000))
        let report = r.report
        #expect(report.intervals.map(\.packets) == [1000, 1000, 500])
        #expect(report.intervals.map(\.bytes).reduce(0, +) == report.bytesSent)
        #expect(report.intervals.map(\.packets).reduce(0, +) == report.packets)
        let json = report.jsonText
        #expect(json.contains("""
              "intervals": [
                {
                  "streams": [
                    {
                      "socket": \(report.socket),
                      "start": 0,
                      "end": 1,
                      "seconds": 1,
                      "bytes": 1000000,
                      "bits_per_second": 8000000,
                      "packets": 1000,
                      "omitted": false,
                      "sender": true
                    }
                  ],
                  "sum": {
                    "start": 0,
                    "end": 1,
            """), "\(json)")
        #expect(json.contains("""
                  "sum": {
                    "start": 2,
                    "end": 2.5,
                    "seconds": 0.5,
                    "bytes": 500000,
                    "bits_per_second": 8000000,
                    "packets": 500,
                    "omitted": false,
                    "sender": true
                  }
            """), "\(json)")
    }

    @Test func jsonIsByteIdenticalAcrossRuns() throws {
        let a = try Iperf3ClientTests.run(seed: 42)
        let b = try Iperf3ClientTests.run(seed: 42)
        #expect(a.report.jsonText == b.report.jsonText)
        #expect(a.report == b.report)
        #expect(a.node.world.conservationHolds() && b.node.world.conservationHolds())
    }

    /// Loss is reported with iperf3's rule and percentage, on a lossy synthetic server view.
    @Test func lostPercentIsLostOverSenderPackets() throws {
        let r = try Iperf3ClientTests.run(time: .milliseconds(1))   // 9 datagrams
        var report = r.report
        report.lostPackets = 3
        #expect(report.packets == 9)
        #expect(report.lostPercent == 100.0 * 3 / 9)
        #expect(report.jsonText.contains("\"lost_percent\": 33.333333,"))
    }
}
