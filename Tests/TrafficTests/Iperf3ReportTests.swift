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
        #expect(topKeys == ["  \"start\"", "  \"end\"", "  \"podwire\""])
        #expect(json.contains("\"one_way_delay_us\": {\n      \"count\": 893,"))
        print(json)
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
