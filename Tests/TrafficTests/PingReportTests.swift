/// iputils' statistics text and arithmetic, and the ping JSON.
import Engine
import Testing
import Wire
@testable import Traffic

@Suite struct PingReportTests {
    /// The statistics block in iputils' exact shape, from given numbers.
    @Test func summaryFormat() throws {
        var r = try PingTests.run().report
        r.transmitted = 3
        r.received = 3
        r.errors = 0
        r.duplicates = 0
        r.elapsed = .milliseconds(400)
        r.rtt = .init(min: 6, avg: 7, max: 8, mdev: 1)
        #expect(r.summary == """
            --- 10.244.0.3 ping statistics ---
            3 packets transmitted, 3 received, 0% packet loss, time 400ms
            rtt min/avg/max/mdev = 0.006/0.007/0.008/0.001 ms

            """)
        r.received = 2
        r.duplicates = 1
        r.errors = 1
        r.elapsed = .nanoseconds(1_234_500_000)
        r.rtt = .init(min: 1_234, avg: 12_345, max: 123_456, mdev: 5)
        #expect(r.summary == """
            --- 10.244.0.3 ping statistics ---
            3 packets transmitted, 2 received, +1 duplicates, +1 errors, 33.3333% packet loss, time 1235ms
            rtt min/avg/max/mdev = 1.234/12.345/123.456/0.005 ms

            """)
    }

    /// iputils' integer mdev: 6, 7, 8 µs → (149 − 441/3)/3 = 0; 100, 200, 300 → ⌊√6666⌋ = 81.
    @Test func iputilsMdevArithmetic() {
        let a = PingReport.iputilsRoundTrip(tsum: 21, tsum2: 149, tmin: 6, tmax: 8, total: 3)
        #expect(a == .init(min: 6, avg: 7, max: 8, mdev: 0))
        let b = PingReport.iputilsRoundTrip(tsum: 600, tsum2: 140_000, tmin: 100, tmax: 300, total: 3)
        #expect(b == .init(min: 100, avg: 200, max: 300, mdev: 81))
    }

    @Test func perReplyTimePrecision() {
        #expect(PingReport.replyTime(45) == "0.045")
        #expect(PingReport.replyTime(1_234) == "1.23")
        #expect(PingReport.replyTime(1_235) == "1.24")
        #expect(PingReport.replyTime(12_345) == "12.3")
        #expect(PingReport.replyTime(123_456) == "123")
        #expect(PingReport.replyTime(9_999) == "10.0")
    }

    /// The line after the statistics: the rtt figures, ", pipe N" after them when more than
    /// one request was out when one was answered (iputils 20221126: three pings 200 ms apart
    /// whose replies came ~1 s late printed "rtt min/avg/max/mdev = …, pipe 3"), "pipe N"
    /// alone without rtt, an empty line with neither.
    @Test func pipeFollowsTheRttFigures() throws {
        var r = try PingTests.run().report
        r.rtt = .init(min: 612_092, avg: 815_273, max: 1_017_653, mdev: 165_570)
        r.pipe = 3
        #expect(r.summary.hasSuffix("time 400ms\nrtt min/avg/max/mdev = 612.092/815.273/1017.653/165.570 ms, pipe 3\n"), "\(r.summary)")
        r.rtt = nil
        #expect(r.summary.hasSuffix("time 400ms\npipe 3\n"), "\(r.summary)")
        r.pipe = 1
        #expect(r.summary.hasSuffix("time 400ms\n\n"), "\(r.summary)")
        #expect(try PingTests.run().report.jsonText.contains("\"pipe\": null"))
    }

    @Test func jsonHasFixedKeysAndIsStable() throws {
        let a = try PingTests.run(seed: 9).report.jsonText
        let b = try PingTests.run(seed: 9).report.jsonText
        #expect(a == b)
        let keys = a.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { String($0.split(separator: "\"")[1]) }
        #expect(keys == ["destination", "count", "interval_ms", "size", "transmitted", "received", "duplicates", "errors",
                         "packet_loss_percent", "time_ms", "rtt_ms", "pipe", "icmp_errors", "send_errors", "replies",
                         "lines", "podwire"])
        print(a)
    }
}
